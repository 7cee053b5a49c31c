// Packaging on the server (layerlock package) and the device's normal-world verification of a
// package before anything reaches the TA. The container layout is in ../tee/shared/container.ts.
import { randomUUID, sign as edSign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { getKernels } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { Network } from '../nn/network.js';
import { encodeWeights, headerByteSize, loadWeightsFile, type WeightsHeader, type WeightsLayer } from '../nn/weights.js';
import { DEFAULT_TOPK, TA_UUID, type OutputPolicy } from '../tee/shared/protocol.js';
import { PartitionError, rangeRoles } from '../tee/shared/roles.js';
import {
  canonicalJson, checkLayout, checkPayloadHashes, ContainerError, encodeHeader, HPKE_INFO, HPKE_SUITE, layerAad, parseManifest, sha256hex,
  SIGNATURE_BYTES, signedMessage, splitContainer, verifyEd25519, type ContainerParts, type LayerEntry, type Manifest, type ProtectedEntry,
} from '../tee/shared/container.js';
import { hpkeSeal } from '../tee/shared/hpke.js';
import { atomicWrite } from '../util/fsutil.js';
import { loadDeviceCert, loadServerKey, loadServerPublic, type ServerPublic } from './keys.js';

export { ContainerError };

/** The layerlock version written into manifests. */
async function softwareVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

export interface PackageOptions {
  /** Path of the .cfg. */
  cfg: string;
  /** Path of the trained .weights (the whole network). */
  weights: string;
  /** cfg layers [start, end] to protect. */
  range: readonly [number, number];
  /** Path of the device's certificate (DEV/device.cert). */
  deviceCert: string;
  /** Path of the server's private key (server.key). */
  signingKey: string;
  out: string;
  /** What may leave the TEE on the device (default top1); the device can only be stricter. */
  policy?: OutputPolicy;
  topk?: number;
  /** Package version number (default: the current Unix time in seconds, so later packages are newer). */
  packageVersion?: number;
  /** Path of another server's server.pub: the device trusts that key from this package on (anchor rotation). */
  rotateTrust?: string;
}

export interface PackageSummary {
  path: string;
  package_id: string;
  version: number;
  device_id: string;
  server_key_id: string;
  partition: { start: number; end: number; policy: OutputPolicy; topk: number };
  clear_layers: number[];
  protected_layers: number[];
  bytes: number;
}

/** One layer's arrays in .weights order, without a header. */
function layerBytes(l: WeightsLayer, header: WeightsHeader): Uint8Array {
  return encodeWeights([l], header).subarray(headerByteSize(header));
}

export async function createPackage(opts: PackageOptions): Promise<PackageSummary> {
  const cfgText = await readFile(opts.cfg, 'utf8');
  const config = parseCfg(cfgText, opts.cfg);
  const [start, end] = opts.range;
  try {
    rangeRoles(config, start, end);
  } catch (e) {
    if (e instanceof PartitionError) throw new ContainerError(e.message);
    throw e;
  }
  const device = await loadDeviceCert(opts.deviceCert);
  const server = await loadServerKey(opts.signingKey);
  const next = opts.rotateTrust !== undefined ? await loadServerPublic(opts.rotateTrust) : null;
  const net = new Network(config, { kernels: getKernels(), seed: 1, maxBatch: 1 });
  const layers = net.weightsLayers();
  const header = await loadWeightsFile(opts.weights, layers);
  const version = opts.packageVersion ?? Math.floor(Date.now() / 1000);
  if (!(Number.isSafeInteger(version) && version >= 1)) throw new ContainerError(`package version ${version} must be a positive integer`);
  const policy = opts.policy ?? 'top1';
  const topk = opts.topk ?? DEFAULT_TOPK;
  const inside = (l: WeightsLayer): boolean => l.index! >= start && l.index! <= end;
  const clearLayers = layers.filter((l) => !inside(l));
  const protLayers = layers.filter(inside);
  const id = randomUUID();
  const m: Manifest = {
    format: 'layerlock-container/1', kind: 'package', id, package_id: id, version, created: new Date().toISOString(),
    device: { id: device.deviceId, ta_uuid: device.body.ta_uuid },
    server: { key_id: server.keyId, ed25519: server.ed25519.toString('base64'), x25519: server.x25519.toString('base64') },
    cfg: { sha256: sha256hex(Buffer.from(cfgText, 'utf8')), text: cfgText },
    partition: { start, end, policy, topk },
    weights: { ...header },
    hpke: { ...HPKE_SUITE, info: HPKE_INFO },
    clear: { offset: 0, bytes: 0, sha256: '', layers: [] },
    protected: { offset: 0, bytes: 0, sha256: '', layers: [] },
    ...(next ? { trust_next: { key_id: next.keyId, ed25519: next.ed25519.toString('base64') } } : {}),
    software: { layerlock: await softwareVersion() },
  };
  if (device.body.ta_uuid !== TA_UUID) throw new ContainerError(`${opts.deviceCert}: the device runs TA ${device.body.ta_uuid}, this layerlock packages for ${TA_UUID}`);
  // Clear section: a .weights file of the normal world's layers.
  const clear = encodeWeights(clearLayers, header);
  let off = headerByteSize(header);
  for (const l of clearLayers) {
    const n = layerBytes(l, header).length;
    const e: LayerEntry = { index: l.index!, type: l.type, offset: off, bytes: n, sha256: sha256hex(clear.subarray(off, off + n)) };
    m.clear.layers.push(e);
    off += n;
  }
  m.clear.bytes = clear.length;
  m.clear.sha256 = sha256hex(clear);
  // Protected section: each layer HPKE-sealed to the device's key, bound to this package and layer.
  const sealed: Buffer[] = [];
  let poff = 0;
  for (const l of protLayers) {
    const plain = layerBytes(l, header);
    const ct = await hpkeSeal(device.hpke, Buffer.from(HPKE_INFO), layerAad(m, l.index!), plain);
    const e: ProtectedEntry = { index: l.index!, type: l.type, offset: poff, bytes: ct.length, sha256: sha256hex(ct), plain_bytes: plain.length, plain_sha256: sha256hex(plain) };
    m.protected.layers.push(e);
    sealed.push(ct);
    poff += ct.length;
  }
  const prot = Buffer.concat(sealed);
  m.protected.offset = clear.length;
  m.protected.bytes = prot.length;
  m.protected.sha256 = sha256hex(prot);
  const manifest = canonicalJson(m);
  const head = encodeHeader({ format: 1, kind: 'package', manifestBytes: manifest.length, payloadBytes: clear.length + prot.length, signatureBytes: SIGNATURE_BYTES });
  const signed = Buffer.concat([head, manifest]);
  const signature = edSign(null, signedMessage('package', signed), server.signing);
  const file = Buffer.concat([signed, clear, prot, signature]);
  await atomicWrite(opts.out, file);
  for (const l of layers) for (const a of [l.weights, l.biases, l.scales, l.rollingMean, l.rollingVariance]) a?.fill(0);
  return {
    path: opts.out, package_id: id, version, device_id: device.deviceId, server_key_id: server.keyId, partition: m.partition,
    clear_layers: clearLayers.map((l) => l.index!), protected_layers: protLayers.map((l) => l.index!), bytes: file.length,
  };
}

export interface VerifiedPackage {
  manifest: Manifest;
  parts: ContainerParts;
  config: NetworkConfig;
  /** The clear section: a .weights file of the normal world's layers. */
  clear: Uint8Array;
  /** The protected section: HPKE ciphertexts only the device's TA can open. */
  protected: Uint8Array;
}

/**
 * Everything the normal world can check before the TA sees anything: structure and size, the
 * signature with the trusted server key, the manifest, the layout against the cfg, every hash.
 */
export function verifyPackage(bytes: Uint8Array, trust: ServerPublic, what: string): VerifiedPackage {
  const parts = splitContainer(bytes, what, 'package');
  if (!verifyEd25519('package', parts.signed, parts.signature, trust.ed25519)) {
    throw new ContainerError(`${what}: the signature does not verify with the trusted server key ${trust.keyId} — tampered with, or signed by another server`);
  }
  const m = parseManifest(parts.manifestBytes, parts.header.payloadBytes, 'package', what);
  if (m.server.ed25519 !== trust.ed25519.toString('base64') || m.server.x25519 !== trust.x25519.toString('base64')) {
    throw new ContainerError(`${what}: its manifest names server key ${m.server.key_id}, not the trusted ${trust.keyId}`);
  }
  let config: NetworkConfig;
  try {
    config = parseCfg(m.cfg.text, `${what} (cfg)`);
    rangeRoles(config, m.partition.start, m.partition.end);
  } catch (e) {
    throw new ContainerError(`${what}: ${(e as Error).message}`);
  }
  checkLayout(m, config, headerByteSize(m.weights), what);
  checkPayloadHashes(m, parts.payload, what);
  return {
    manifest: m, parts, config,
    clear: parts.payload.subarray(0, m.clear.bytes),
    protected: parts.payload.subarray(m.protected.offset, m.protected.offset + m.protected.bytes),
  };
}
