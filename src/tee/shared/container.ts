// The signed container of secure deployment, shared by both worlds (the server writes packages, the
// device's normal world and its TA read them; the TA writes exports, the server reads them). It lives
// under tee/ta because the TA may import only tee, nn, kernels and data — it must parse what it
// installs itself rather than trust the normal world's reading.
//
//   offset 0   header (32 bytes, little-endian):
//                8  magic "LLOCKPKG"
//                u16 format (1) · u16 kind (1 = package: server → device, 2 = export: device → server)
//                u32 manifest length M · u64 payload length P · u32 signature length S (64) · u32 0
//   32         manifest: M bytes of UTF-8 JSON (Manifest below)
//   32+M       payload: P bytes = clear section ‖ protected section
//                clear:     a Darknet .weights file of the layers that run in the normal world
//                protected: per protected layer, HPKE enc (32 bytes) ‖ ciphertext (plaintext + 16-byte tag);
//                           the plaintext is that layer's arrays in .weights order (no header)
//   32+M+P     signature: Ed25519 over "layerlock/<kind>/v1\0" ‖ header ‖ manifest
//
// The manifest holds the SHA-256 of both sections and of every layer in them, so the one signature
// covers every byte; the file size must be exactly 32+M+P+S. A package is signed by the server's key
// (named in manifest.server), an export by the device's identity key (named by manifest.device).
//
// HPKE (RFC 9180): mode base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, info HPKE_INFO,
// aad = layerAad(): kind, package id, package version, device id, layer index, cfg hash and range,
// so a ciphertext cannot be moved to another layer, package, version or device.
import { createHash, createPublicKey, verify as edVerify, type KeyObject } from 'node:crypto';
import type { NetworkConfig } from '../../nn/config.js';
import { layerShapes } from '../../nn/network.js';

export const CONTAINER_MAGIC = 'LLOCKPKG';
export const CONTAINER_FORMAT = 1;
export const HEADER_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const HPKE_ENC_BYTES = 32;
export const AEAD_TAG_BYTES = 16;
/** Manifests are small (the cfg text and a few hashes per layer); a bigger one is not ours. */
export const MAX_MANIFEST_BYTES = 4 << 20;

export type ContainerKind = 'package' | 'export';
export const KIND_IDS: Record<ContainerKind, number> = { package: 1, export: 2 };

export const HPKE_SUITE = { mode: 'base', kem: 'DHKEM(X25519, HKDF-SHA256)', kdf: 'HKDF-SHA256', aead: 'AES-256-GCM' } as const;
export const HPKE_INFO = 'layerlock/v1 protected layers';

/** A container that is malformed, tampered with, or not meant for us: one clear line. */
export class ContainerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerError';
  }
}

export interface ContainerHeader {
  format: number;
  kind: ContainerKind;
  manifestBytes: number;
  payloadBytes: number;
  signatureBytes: number;
}

export interface LayerEntry {
  /** cfg layer index. */
  index: number;
  type: 'convolutional' | 'connected';
  /** Offset inside its section. */
  offset: number;
  bytes: number;
  sha256: string;
}

export interface ProtectedEntry extends LayerEntry {
  /** Plaintext size (the layer's arrays) and its SHA-256, checked by the TA after decryption. */
  plain_bytes: number;
  plain_sha256: string;
}

export interface Manifest {
  format: 'layerlock-container/1';
  kind: ContainerKind;
  /** This container's id (random UUID). */
  id: string;
  /** The package the model came from (= id for a package). */
  package_id: string;
  /** Package version number, set by the server; a device only installs increasing versions. */
  version: number;
  /** Exports: the device's model version (install = first, each fine-tune + 1). */
  model_version?: number;
  created: string;
  /** The device: target of a package, author of an export. */
  device: { id: string; ta_uuid: string };
  /** The server: signer of a package, recipient of an export (raw public keys, base64). */
  server: { key_id: string; ed25519: string; x25519: string };
  cfg: { sha256: string; text: string };
  /** cfg layers [start, end] run in the TEE; what may leave it (the server's decision). */
  partition: { start: number; end: number; policy: 'top1' | 'topk' | 'full'; topk: number };
  /** Header of the model's .weights (version, images seen). */
  weights: { major: number; minor: number; revision: number; seen: number };
  hpke: { mode: string; kem: string; kdf: string; aead: string; info: string };
  clear: { offset: number; bytes: number; sha256: string; layers: LayerEntry[] };
  protected: { offset: number; bytes: number; sha256: string; layers: ProtectedEntry[] };
  software: { layerlock: string };
  /**
   * Package only, optional: the server key the device trusts from this package on (anchor
   * rotation). Honoured only because the package is signed by the current anchor.
   */
  trust_next?: { key_id: string; ed25519: string };
}

export function sha256hex(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Short stable id of an Ed25519 public key (raw 32 bytes): the first 16 bytes of its SHA-256, hex. */
export function keyId(ed25519Raw: Uint8Array): string {
  return sha256hex(Buffer.from('layerlock key id\0'), ed25519Raw).slice(0, 32);
}

/** An Ed25519 public KeyObject from its raw 32 bytes. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new ContainerError(`an Ed25519 public key has 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** Raw 32 bytes of an Ed25519 or X25519 public KeyObject. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new ContainerError('not an OKP public key');
  return Buffer.from(jwk.x, 'base64url');
}

/** What is signed: a purpose prefix (domain separation), then the bytes. */
export function signedMessage(purpose: 'package' | 'export' | 'device-cert', bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`layerlock/${purpose}/v1\0`, 'utf8'), bytes]);
}

export function verifyEd25519(purpose: 'package' | 'export' | 'device-cert', bytes: Uint8Array, signature: Uint8Array, publicRaw: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  return edVerify(null, signedMessage(purpose, bytes), ed25519PublicKey(publicRaw), signature);
}

export function encodeHeader(h: ContainerHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.write(CONTAINER_MAGIC, 0, 'latin1');
  b.writeUInt16LE(h.format, 8);
  b.writeUInt16LE(KIND_IDS[h.kind], 10);
  b.writeUInt32LE(h.manifestBytes, 12);
  b.writeBigUInt64LE(BigInt(h.payloadBytes), 16);
  b.writeUInt32LE(h.signatureBytes, 24);
  b.writeUInt32LE(0, 28);
  return b;
}

export interface ContainerParts {
  header: ContainerHeader;
  /** header ‖ manifest: what the signature covers. */
  signed: Uint8Array;
  manifestBytes: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
}

/** Splits a container into its sections, checking the header and the exact file size (nothing is trusted yet). */
export function splitContainer(bytes: Uint8Array, what: string, kind: ContainerKind): ContainerParts {
  const article = kind === 'package' ? 'a layerlock package' : 'a layerlock export';
  if (bytes.length < HEADER_BYTES) throw new ContainerError(`${what}: truncated: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.toString('latin1', 0, 8) !== CONTAINER_MAGIC) throw new ContainerError(`${what}: not ${article} (bad magic)`);
  const format = b.readUInt16LE(8);
  if (format !== CONTAINER_FORMAT) throw new ContainerError(`${what}: container format ${format} is not supported (this layerlock reads format ${CONTAINER_FORMAT})`);
  const kindId = b.readUInt16LE(10);
  const found = (Object.keys(KIND_IDS) as ContainerKind[]).find((k) => KIND_IDS[k] === kindId);
  if (found !== kind) throw new ContainerError(`${what}: not ${article} (container kind ${found ?? kindId})`);
  const manifestBytes = b.readUInt32LE(12);
  const payloadBig = b.readBigUInt64LE(16);
  const signatureBytes = b.readUInt32LE(24);
  if (b.readUInt32LE(28) !== 0) throw new ContainerError(`${what}: corrupted header (reserved field is not zero)`);
  if (signatureBytes !== SIGNATURE_BYTES) throw new ContainerError(`${what}: corrupted header (signature length ${signatureBytes}, Ed25519 signatures have ${SIGNATURE_BYTES})`);
  if (manifestBytes < 2 || manifestBytes > MAX_MANIFEST_BYTES) throw new ContainerError(`${what}: corrupted header (manifest length ${manifestBytes})`);
  if (payloadBig > BigInt(Number.MAX_SAFE_INTEGER)) throw new ContainerError(`${what}: corrupted header (payload length ${payloadBig})`);
  const payloadBytes = Number(payloadBig);
  const total = HEADER_BYTES + manifestBytes + payloadBytes + signatureBytes;
  if (bytes.length < total) throw new ContainerError(`${what}: truncated: ${bytes.length} bytes, its header announces ${total}`);
  if (bytes.length > total) throw new ContainerError(`${what}: ${bytes.length - total} unexpected bytes after the signature (its header announces ${total})`);
  const mEnd = HEADER_BYTES + manifestBytes;
  const pEnd = mEnd + payloadBytes;
  return {
    header: { format, kind, manifestBytes, payloadBytes, signatureBytes },
    signed: bytes.subarray(0, mEnd),
    manifestBytes: bytes.subarray(HEADER_BYTES, mEnd),
    payload: bytes.subarray(mEnd, pEnd),
    signature: bytes.subarray(pEnd, total),
  };
}

// ---------------------------------------------------------------------------------------------
// Manifest validation: strict shapes, so a signed-but-malformed manifest still fails clearly.

const HEX64 = /^[0-9a-f]{64}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function fail(what: string, msg: string): never {
  throw new ContainerError(`${what}: invalid manifest: ${msg}`);
}

function obj(v: unknown, what: string, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(what, `${path} is not an object`);
  return v as Record<string, unknown>;
}

function int(v: unknown, what: string, path: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(what, `${path} is not an integer ≥ ${min}`);
  return v;
}

function str(v: unknown, what: string, path: string, re?: RegExp): string {
  if (typeof v !== 'string' || (re && !re.test(v))) fail(what, `${path} is not ${re ? 'well-formed' : 'a string'}`);
  return v;
}

function b64key(v: unknown, what: string, path: string): string {
  const s = str(v, what, path);
  if (Buffer.from(s, 'base64').length !== 32) fail(what, `${path} is not a 32-byte key`);
  return s;
}

function layerEntries(v: unknown, what: string, path: string, section: number, prot: boolean): LayerEntry[] {
  if (!Array.isArray(v)) fail(what, `${path} is not a list`);
  let at = prot ? 0 : -1;
  return v.map((e, i) => {
    const o = obj(e, what, `${path}[${i}]`);
    const type = str(o['type'], what, `${path}[${i}].type`);
    if (type !== 'convolutional' && type !== 'connected') fail(what, `${path}[${i}].type is ${type}`);
    const entry: LayerEntry = {
      index: int(o['index'], what, `${path}[${i}].index`),
      type,
      offset: int(o['offset'], what, `${path}[${i}].offset`),
      bytes: int(o['bytes'], what, `${path}[${i}].bytes`, 1),
      sha256: str(o['sha256'], what, `${path}[${i}].sha256`, HEX64),
    };
    if (entry.offset + entry.bytes > section) fail(what, `${path}[${i}] lies outside its section`);
    // Layers are contiguous and in order (the clear section starts with its .weights header).
    if (at >= 0 && entry.offset !== at) fail(what, `${path}[${i}] does not follow the previous layer`);
    at = entry.offset + entry.bytes;
    if (prot) {
      const p = entry as ProtectedEntry;
      p.plain_bytes = int(o['plain_bytes'], what, `${path}[${i}].plain_bytes`, 1);
      p.plain_sha256 = str(o['plain_sha256'], what, `${path}[${i}].plain_sha256`, HEX64);
      if (entry.bytes !== HPKE_ENC_BYTES + p.plain_bytes + AEAD_TAG_BYTES) fail(what, `${path}[${i}] ciphertext size does not match its plaintext size`);
    }
    return entry;
  });
}

/** Parses and validates a manifest (call only after the signature has been verified). */
export function parseManifest(bytes: Uint8Array, payloadBytes: number, kind: ContainerKind, what: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    fail(what, 'not JSON');
  }
  const m = obj(raw, what, 'manifest');
  if (m['format'] !== 'layerlock-container/1') fail(what, `format ${String(m['format'])}`);
  if (m['kind'] !== kind) fail(what, `kind ${String(m['kind'])} in a ${kind} container`);
  const device = obj(m['device'], what, 'device');
  const server = obj(m['server'], what, 'server');
  const cfg = obj(m['cfg'], what, 'cfg');
  const part = obj(m['partition'], what, 'partition');
  const weights = obj(m['weights'], what, 'weights');
  const hpke = obj(m['hpke'], what, 'hpke');
  const clear = obj(m['clear'], what, 'clear');
  const prot = obj(m['protected'], what, 'protected');
  const software = obj(m['software'], what, 'software');
  const policy = str(part['policy'], what, 'partition.policy');
  if (policy !== 'top1' && policy !== 'topk' && policy !== 'full') fail(what, `partition.policy ${policy}`);
  const cfgText = str(cfg['text'], what, 'cfg.text');
  const cfgSha = str(cfg['sha256'], what, 'cfg.sha256', HEX64);
  if (sha256hex(Buffer.from(cfgText, 'utf8')) !== cfgSha) fail(what, 'cfg.sha256 does not match cfg.text');
  for (const [k, v] of Object.entries(HPKE_SUITE)) if (hpke[k] !== v) fail(what, `hpke.${k} is ${String(hpke[k])}, expected ${v}`);
  if (hpke['info'] !== HPKE_INFO) fail(what, 'hpke.info');
  const clearBytes = int(clear['bytes'], what, 'clear.bytes');
  const protBytes = int(prot['bytes'], what, 'protected.bytes');
  if (int(clear['offset'], what, 'clear.offset') !== 0 || int(prot['offset'], what, 'protected.offset') !== clearBytes || clearBytes + protBytes !== payloadBytes) {
    fail(what, 'the sections do not tile the payload');
  }
  const out: Manifest = {
    format: 'layerlock-container/1',
    kind,
    id: str(m['id'], what, 'id', UUID),
    package_id: str(m['package_id'], what, 'package_id', UUID),
    version: int(m['version'], what, 'version', 1),
    created: str(m['created'], what, 'created'),
    device: { id: str(device['id'], what, 'device.id', HEX32), ta_uuid: str(device['ta_uuid'], what, 'device.ta_uuid', UUID) },
    server: { key_id: str(server['key_id'], what, 'server.key_id', HEX32), ed25519: b64key(server['ed25519'], what, 'server.ed25519'), x25519: b64key(server['x25519'], what, 'server.x25519') },
    cfg: { sha256: cfgSha, text: cfgText },
    partition: { start: int(part['start'], what, 'partition.start'), end: int(part['end'], what, 'partition.end'), policy, topk: int(part['topk'], what, 'partition.topk', 1) },
    weights: {
      major: int(weights['major'], what, 'weights.major'), minor: int(weights['minor'], what, 'weights.minor'),
      revision: int(weights['revision'], what, 'weights.revision'), seen: int(weights['seen'], what, 'weights.seen'),
    },
    hpke: { ...HPKE_SUITE, info: HPKE_INFO },
    clear: { offset: 0, bytes: clearBytes, sha256: str(clear['sha256'], what, 'clear.sha256', HEX64), layers: layerEntries(clear['layers'], what, 'clear.layers', clearBytes, false) },
    protected: {
      offset: clearBytes, bytes: protBytes, sha256: str(prot['sha256'], what, 'protected.sha256', HEX64),
      layers: layerEntries(prot['layers'], what, 'protected.layers', protBytes, true) as ProtectedEntry[],
    },
    software: { layerlock: str(software['layerlock'], what, 'software.layerlock') },
  };
  if (m['model_version'] !== undefined) out.model_version = int(m['model_version'], what, 'model_version', 1);
  if (m['trust_next'] !== undefined) {
    if (kind !== 'package') fail(what, 'only a package can hand over the trust anchor');
    const t = obj(m['trust_next'], what, 'trust_next');
    out.trust_next = { key_id: str(t['key_id'], what, 'trust_next.key_id', HEX32), ed25519: b64key(t['ed25519'], what, 'trust_next.ed25519') };
    if (keyId(Buffer.from(out.trust_next.ed25519, 'base64')) !== out.trust_next.key_id) fail(what, 'trust_next.key_id does not name trust_next.ed25519');
  }
  if (kind === 'export' && out.model_version === undefined) fail(what, 'an export names its model_version');
  if (keyId(Buffer.from(out.server.ed25519, 'base64')) !== out.server.key_id) fail(what, 'server.key_id does not name server.ed25519');
  if (out.partition.start > out.partition.end) fail(what, 'partition start is after its end');
  const last = out.protected.layers[out.protected.layers.length - 1];
  if (last && last.offset + last.bytes !== protBytes) fail(what, 'the protected layers do not fill their section');
  return out;
}

/** Per trainable cfg layer: its bytes in a .weights file (what Network.weightsLayers() holds). */
export function weightsLayerBytes(config: NetworkConfig): Map<number, { type: 'convolutional' | 'connected'; bytes: number }> {
  const shapes = layerShapes(config);
  const out = new Map<number, { type: 'convolutional' | 'connected'; bytes: number }>();
  config.layers.forEach((lc, i) => {
    const inS = shapes[i]!;
    if (lc.type === 'convolutional') {
      const n = lc.filters;
      out.set(i, { type: lc.type, bytes: 4 * (n + n * inS.c * lc.size * lc.size + (lc.batchNormalize ? 3 * n : 0)) });
    } else if (lc.type === 'connected') {
      const n = lc.output;
      out.set(i, { type: lc.type, bytes: 4 * (n + n * inS.c * inS.h * inS.w + (lc.batchNormalize ? 3 * n : 0)) });
    }
  });
  return out;
}

/**
 * Checks that the manifest's layer tables are exactly the cfg's trainable layers: inside [start, end]
 * in the protected section, the others in the clear section (after a .weights header of `headerBytes`).
 */
export function checkLayout(m: Manifest, config: NetworkConfig, headerBytes: number, what: string): void {
  const L = config.layers.length;
  if (m.partition.end >= L) fail(what, `partition ${m.partition.start}:${m.partition.end} is outside the cfg's layers 0:${L - 1}`);
  const sizes = weightsLayerBytes(config);
  const inside = (i: number): boolean => i >= m.partition.start && i <= m.partition.end;
  const wantClear = [...sizes.entries()].filter(([i]) => !inside(i));
  const wantProt = [...sizes.entries()].filter(([i]) => inside(i));
  const same = (got: LayerEntry[], want: [number, { type: string; bytes: number }][], section: string, sizeOf: (e: LayerEntry) => number): void => {
    if (got.length !== want.length) fail(what, `${section} lists ${got.length} layers, the cfg has ${want.length} there`);
    got.forEach((e, k) => {
      const [i, w] = want[k]!;
      if (e.index !== i || e.type !== w.type || sizeOf(e) !== w.bytes) fail(what, `${section} layer ${k} (cfg layer ${e.index}) does not match the cfg's layer ${i} (${w.type}, ${w.bytes} bytes)`);
    });
  };
  same(m.clear.layers, wantClear, 'clear section', (e) => e.bytes);
  same(m.protected.layers, wantProt, 'protected section', (e) => (e as ProtectedEntry).plain_bytes);
  const first = m.clear.layers[0];
  if (first && first.offset !== headerBytes) fail(what, 'the clear layers do not start after the .weights header');
  const clearEnd = m.clear.layers.length ? m.clear.layers[m.clear.layers.length - 1]!.offset + m.clear.layers[m.clear.layers.length - 1]!.bytes : headerBytes;
  if (clearEnd !== m.clear.bytes) fail(what, 'the clear section is not a .weights header followed by the clear layers');
}

const TAMPERED = 'the file was corrupted or tampered with';

/** Hashes of the clear section and each clear layer (the section's bytes, starting at its offset 0). */
export function checkClearHashes(m: Manifest, clear: Uint8Array, what: string): void {
  if (clear.length !== m.clear.bytes) throw new ContainerError(`${what}: clear section of ${clear.length} bytes, the manifest says ${m.clear.bytes}`);
  for (const l of m.clear.layers) {
    if (sha256hex(clear.subarray(l.offset, l.offset + l.bytes)) !== l.sha256) throw new ContainerError(`${what}: clear layer ${l.index} (${l.type}): SHA-256 mismatch — ${TAMPERED}`);
  }
  if (sha256hex(clear) !== m.clear.sha256) throw new ContainerError(`${what}: clear section (.weights header): SHA-256 mismatch — ${TAMPERED}`);
}

/** Hashes of the protected section and each encrypted layer. */
export function checkProtectedHashes(m: Manifest, prot: Uint8Array, what: string): void {
  if (prot.length !== m.protected.bytes) throw new ContainerError(`${what}: protected section of ${prot.length} bytes, the manifest says ${m.protected.bytes}`);
  for (const l of m.protected.layers) {
    if (sha256hex(prot.subarray(l.offset, l.offset + l.bytes)) !== l.sha256) throw new ContainerError(`${what}: encrypted layer ${l.index} (${l.type}): SHA-256 mismatch — ${TAMPERED}`);
  }
  if (sha256hex(prot) !== m.protected.sha256) throw new ContainerError(`${what}: protected section: SHA-256 mismatch — ${TAMPERED}`);
}

/** Every hash of the payload: sections and layers. The first mismatch is the error. */
export function checkPayloadHashes(m: Manifest, payload: Uint8Array, what: string): void {
  checkClearHashes(m, payload.subarray(0, m.clear.bytes), what);
  checkProtectedHashes(m, payload.subarray(m.protected.offset, m.protected.offset + m.protected.bytes), what);
}

/**
 * The signed region alone (header ‖ manifest), as the TA receives it: checks the header and that the
 * manifest fills the rest. Returns the header and the manifest bytes (not yet verified).
 */
export function splitSignedRegion(signed: Uint8Array, what: string, kind: ContainerKind): { header: ContainerHeader; manifestBytes: Uint8Array } {
  if (signed.length < HEADER_BYTES) throw new ContainerError(`${what}: truncated: ${signed.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const b = Buffer.from(signed.buffer, signed.byteOffset, signed.byteLength);
  const m = b.readUInt32LE(12);
  const big = b.readBigUInt64LE(16);
  const payload = big > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(big);
  if (payload < 0 || HEADER_BYTES + m !== signed.length) throw new ContainerError(`${what}: the header does not match the signed region (${signed.length} bytes)`);
  if (b.toString('latin1', 0, 8) !== CONTAINER_MAGIC) throw new ContainerError(`${what}: not a layerlock ${kind} (bad magic)`);
  const format = b.readUInt16LE(8);
  if (format !== CONTAINER_FORMAT) throw new ContainerError(`${what}: container format ${format} is not supported`);
  if (b.readUInt16LE(10) !== KIND_IDS[kind]) throw new ContainerError(`${what}: not a layerlock ${kind}`);
  if (b.readUInt32LE(24) !== SIGNATURE_BYTES || b.readUInt32LE(28) !== 0) throw new ContainerError(`${what}: corrupted header`);
  return { header: { format, kind, manifestBytes: m, payloadBytes: payload, signatureBytes: SIGNATURE_BYTES }, manifestBytes: signed.subarray(HEADER_BYTES) };
}

/** The signer key a manifest declares, read before verification (only to know which key to verify with). */
export function declaredKey(manifestBytes: Uint8Array, field: 'server'): Buffer | null {
  try {
    const m = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as Record<string, Record<string, unknown>>;
    const k = m[field]?.['ed25519'];
    const raw = typeof k === 'string' ? Buffer.from(k, 'base64') : null;
    return raw && raw.length === 32 ? raw : null;
  } catch {
    return null;
  }
}

/** The HPKE associated data of one protected layer. */
export function layerAad(m: Pick<Manifest, 'kind' | 'package_id' | 'version' | 'device' | 'cfg' | 'partition'> & { model_version?: number }, index: number): Uint8Array {
  return Buffer.from(JSON.stringify({
    aad: 'layerlock/v1',
    kind: m.kind,
    package_id: m.package_id,
    version: m.version,
    model_version: m.model_version ?? 0,
    device: m.device.id,
    cfg: m.cfg.sha256,
    range: [m.partition.start, m.partition.end],
    layer: index,
  }), 'utf8');
}

/** Canonical bytes of a JSON document we produce ourselves (JSON.stringify, no spaces). */
export function canonicalJson(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

/** The device certificate (DEV/device.cert): body signed by the device's identity key. */
export interface DeviceCertBody {
  format: 'layerlock-device-cert/1';
  attestation: string;
  device_id: string;
  ta_uuid: string;
  identity: { alg: 'Ed25519'; public_key: string };
  hpke: { kem: string; kdf: string; aead: string; public_key: string };
  sealing: string;
  created: string;
}

export interface DeviceCert {
  certificate: DeviceCertBody;
  /** Ed25519 over signedMessage('device-cert', canonicalJson(certificate)), base64. */
  signature: string;
}

export const ATTESTATION_LABEL =
  'EMULATED (software TEE): self-signed by the device identity key generated inside the TA; no hardware root of trust vouches for it';

/** Device id: the key id of its Ed25519 identity key. */
export const deviceIdOf = keyId;

/** Checks a device certificate's shape and self-signature; returns its raw public keys. */
export function verifyDeviceCert(cert: unknown, what: string): { body: DeviceCertBody; identity: Buffer; hpke: Buffer } {
  const bad = (m: string): never => {
    throw new ContainerError(`${what}: not a valid device certificate: ${m}`);
  };
  if (typeof cert !== 'object' || cert === null) bad('not a JSON object');
  const c = cert as Record<string, unknown>;
  const body = c['certificate'] as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') bad('no certificate body');
  if (body!['format'] !== 'layerlock-device-cert/1') bad(`format ${String(body!['format'])}`);
  const identity = (body!['identity'] ?? {}) as Record<string, unknown>;
  const hpke = (body!['hpke'] ?? {}) as Record<string, unknown>;
  if (identity['alg'] !== 'Ed25519' || typeof identity['public_key'] !== 'string') bad('no Ed25519 identity key');
  if (hpke['kem'] !== HPKE_SUITE.kem || hpke['kdf'] !== HPKE_SUITE.kdf || hpke['aead'] !== HPKE_SUITE.aead || typeof hpke['public_key'] !== 'string') bad('no HPKE key of the suite X25519/HKDF-SHA256/AES-256-GCM');
  const idRaw = Buffer.from(identity['public_key'] as string, 'base64');
  const hpkeRaw = Buffer.from(hpke['public_key'] as string, 'base64');
  if (idRaw.length !== 32 || hpkeRaw.length !== 32) bad('public keys must have 32 bytes');
  if (body!['device_id'] !== deviceIdOf(idRaw)) bad('device_id does not name its identity key');
  if (typeof body!['ta_uuid'] !== 'string' || !UUID.test(body!['ta_uuid'] as string)) bad('no TA UUID');
  if (typeof body!['attestation'] !== 'string' || !(body!['attestation'] as string).startsWith('EMULATED')) bad('missing the emulated-attestation label');
  if (typeof c['signature'] !== 'string') bad('no signature');
  if (!verifyEd25519('device-cert', canonicalJson(body), Buffer.from(c['signature'] as string, 'base64'), idRaw)) {
    bad('the signature does not verify (altered, or not made by this identity key)');
  }
  return { body: body as unknown as DeviceCertBody, identity: idRaw, hpke: hpkeRaw };
}
