// The TA's deployment commands (layouts in ./deploy-protocol.ts): device keys made and kept inside,
// packages verified and decrypted inside, protected layers sealed to the device's secure storage with
// an anti-rollback counter, unsealed into the secure-memory arena, re-sealed after fine-tuning and
// re-encrypted to the server for export. Nothing here hands out a protected weight in plaintext.
//
// Storage objects (./sealing.ts): device-keys (private keys and the certificate), rpmb (the emulated
// replay-protected state: committed model version, installed package version, pinned server key),
// model-<v> (protected layers of model version v, as .weights bytes, with their metadata).
import { generateKeyPairSync, createPrivateKey, randomUUID, sign as edSign } from 'node:crypto';
import { parseCfg } from '../../nn/cfg.js';
import type { NetworkConfig } from '../../nn/config.js';
import { decodeWeights, encodeWeights, headerByteSize, WeightsError } from '../../nn/weights.js';
import {
  CMD_DEVICE_INIT, CMD_DEVICE_TRUST, CMD_EXPORT_ENCRYPTED, CMD_INSTALL_ENCRYPTED, CMD_LOAD_PARAMS, CMD_SEAL_PROTECTED,
  CMD_UNSEAL_PROTECTED, paramTypes, TA_UUID, TEE_ERROR_ACCESS_CONFLICT, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_FORMAT,
  TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_SECURITY, TEE_ERROR_SHORT_BUFFER,
  TEEC_MEMREF_TEMP_INPUT as MEMREF_IN, TEEC_MEMREF_TEMP_OUTPUT as MEMREF_OUT, TEEC_VALUE_INPUT as VALUE_IN, TEEC_VALUE_OUTPUT as VALUE_OUT,
} from '../shared/protocol.js';
import {
  ATTESTATION_LABEL, canonicalJson, checkLayout, checkProtectedHashes, ContainerError, declaredKey, deviceIdOf, encodeHeader, HPKE_INFO, HPKE_SUITE,
  keyId, layerAad, parseManifest, sha256hex, signedMessage, splitSignedRegion, verifyEd25519, weightsLayerBytes,
  type DeviceCert, type DeviceCertBody, type LayerEntry, type Manifest, type ProtectedEntry, SIGNATURE_BYTES, rawPublicKey,
} from '../shared/container.js';
import {
  DEVICE_CERT, DEVICE_CREATE, DEVICE_OUTPUT_BYTES, DEVICE_STATUS, SEAL_COMMIT, SEAL_DISCARD, SEAL_NEW, type DeviceStatus, type ModelInfo,
} from '../shared/deploy-protocol.js';
import { hpkeOpen, hpkeSeal } from '../shared/hpke.js';
import { rangeRoles, TaError, type ProtectedPartition } from './partition.js';
import { SealError, SecureStorage } from './sealing.js';
import { expectTypes, writeOut, type CommandHandler, type TaParam, type TaSession, type TrustedApp } from './ta.js';

interface DeviceKeys {
  deviceId: string;
  ed25519Pkcs8: Buffer;
  x25519Private: Buffer;
  cert: DeviceCert;
}

/** The emulated RPMB: the state an attacker with the storage folder must not be able to roll back. */
interface RpmbState {
  /** The committed model version. */
  counter: number;
  package_version: number;
  package_id: string | null;
  /** The trust anchor: the only server key whose packages install (provisioned, never first-use). */
  server_key_id: string | null;
  server_ed25519: string | null;
  /** The highest model version ever issued: the next is always above it, discarded or not. */
  issued: number;
  /** Versions sealed but neither committed nor discarded: the only ones besides `counter` that open. */
  pending: number[];
}

/** What is sealed with a model version, besides its protected layers (authenticated, not secret). */
interface ModelMeta {
  version: number;
  parent: number | null;
  package_id: string;
  package_version: number;
  device_id: string;
  start: number;
  end: number;
  policy: 'top1' | 'topk' | 'full';
  topk: number;
  cfg_sha256: string;
  cfg_text: string;
  clear_sha256: string;
  server: { key_id: string; ed25519: string; x25519: string };
  /** The package handed the trust anchor to this key (committing this version moves the anchor). */
  trust_next?: { key_id: string; ed25519: string };
  weights: { major: number; minor: number; revision: number };
  created: string;
}

interface Deployed {
  meta: ModelMeta;
}

const storages = new WeakMap<TrustedApp, SecureStorage>();

function storage(ta: TrustedApp): SecureStorage {
  let s = storages.get(ta);
  if (!s) storages.set(ta, (s = new SecureStorage(ta.platform.storageDir)));
  return s;
}

function inBytes(p: TaParam | undefined): Uint8Array {
  return p?.memref?.buffer ?? new Uint8Array(0);
}

/** Storage and container failures become GP errors with their one-line message. */
function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw mapError(e);
  }
}

function mapError(e: unknown): unknown {
  if (e instanceof SealError) return new TaError(TEE_ERROR_SECURITY, e.message);
  if (e instanceof ContainerError) return new TaError(TEE_ERROR_SECURITY, e.message);
  if (e instanceof WeightsError) return new TaError(TEE_ERROR_BAD_FORMAT, e.message);
  return e;
}

function loadKeys(st: SecureStorage): DeviceKeys {
  const o = guard(() => st.get('device-keys'));
  if (!o) throw new TaError(TEE_ERROR_ITEM_NOT_FOUND, 'this device has no keys yet (run layerlock device init)');
  try {
    const j = JSON.parse(o.plaintext.toString('utf8')) as { device_id: string; ed25519_pkcs8: string; x25519_private: string; cert: DeviceCert };
    return { deviceId: j.device_id, ed25519Pkcs8: Buffer.from(j.ed25519_pkcs8, 'base64'), x25519Private: Buffer.from(j.x25519_private, 'base64'), cert: j.cert };
  } finally {
    o.plaintext.fill(0);
  }
}

const FRESH: RpmbState = { counter: 0, package_version: 0, package_id: null, server_key_id: null, server_ed25519: null, issued: 0, pending: [] };

function loadRpmb(st: SecureStorage): RpmbState {
  const o = guard(() => st.get('rpmb'));
  if (!o) {
    // Written before the keys (createDevice): a device with keys and no state had it deleted.
    if (st.exists('device-keys')) throw new TaError(TEE_ERROR_SECURITY, 'the anti-rollback state (rpmb.sealed) is missing from the secure storage: deleted? refusing to run without it');
    return { ...FRESH };
  }
  const r = JSON.parse(o.plaintext.toString('utf8')) as Partial<RpmbState> & Omit<RpmbState, 'issued' | 'pending'>;
  // State sealed before versions were tracked: everything sealed above the counter is pending.
  const sealed = sealedVersions(st);
  return { ...r, issued: r.issued ?? Math.max(r.counter, ...sealed), pending: r.pending ?? sealed.filter((v) => v > r.counter) };
}

function saveRpmb(st: SecureStorage, r: RpmbState): void {
  st.put('rpmb', {}, Buffer.from(JSON.stringify(r), 'utf8'));
}

function modelName(v: number): string {
  return `model-${v}`;
}

function sealedVersions(st: SecureStorage): number[] {
  return st.list().map((n) => /^model-(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
}

/**
 * Issues the next model version: above every version ever issued, recorded in the RPMB before the
 * model is sealed, so no number is handed out twice — not after a discard, not after a crash.
 */
function issueVersion(st: SecureStorage): number {
  const r = loadRpmb(st);
  const v = Math.max(r.issued, r.counter, ...sealedVersions(st)) + 1;
  saveRpmb(st, { ...r, issued: v, pending: [...r.pending, v] });
  return v;
}

/** Opens model-v with the anti-rollback check (and that it was sealed for this device identity). */
function openModel(st: SecureStorage, v: number): { meta: ModelMeta; weights: Buffer } {
  if (!(Number.isInteger(v) && v >= 1)) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `model version ${v} is not a version`);
  const r = loadRpmb(st);
  const keys = loadKeys(st);
  const deviceId = keys.deviceId;
  keys.x25519Private.fill(0);
  keys.ed25519Pkcs8.fill(0);
  const o = guard(() => st.get(modelName(v)));
  if (!o) throw new TaError(TEE_ERROR_ITEM_NOT_FOUND, `no sealed model version ${v} on this device (the device is at version ${r.counter})`);
  const meta = o.meta as unknown as ModelMeta;
  if (meta.version !== v) {
    o.plaintext.fill(0);
    throw new TaError(TEE_ERROR_SECURITY, `sealed object ${modelName(v)} holds model version ${meta.version}: replayed or swapped file refused`);
  }
  if (meta.device_id !== deviceId) {
    o.plaintext.fill(0);
    throw new TaError(TEE_ERROR_SECURITY, `sealed model version ${v} belongs to an earlier identity of this device (${meta.device_id}), not to ${deviceId}`);
  }
  if (v < r.counter) {
    o.plaintext.fill(0);
    throw new TaError(TEE_ERROR_SECURITY, `sealed model version ${v} is older than the device's current version ${r.counter}: rollback refused`);
  }
  if (v !== r.counter && !r.pending.includes(v)) {
    o.plaintext.fill(0);
    throw new TaError(TEE_ERROR_SECURITY, `model version ${v} was discarded (or superseded) on this device: a saved copy of it is refused`);
  }
  return { meta, weights: o.plaintext };
}

/** Makes version v current: the counter moves to it (never down); other sealed versions go. */
function commit(st: SecureStorage, v: number): void {
  const r = loadRpmb(st);
  const { meta, weights } = openModel(st, v);
  weights.fill(0);
  // The model's package was signed by the anchor — or, after that package rotated the anchor, the
  // anchor is the key it handed over (fine-tuned versions of that model keep its meta).
  const fromAnchor = r.server_ed25519 !== null && (r.server_ed25519 === meta.server.ed25519 || r.server_ed25519 === meta.trust_next?.ed25519);
  if (!fromAnchor) {
    throw new TaError(TEE_ERROR_SECURITY, `model version ${v} comes from server key ${meta.server.key_id}, but this device trusts ${r.server_key_id ?? 'no server key yet'}`);
  }
  if (meta.package_version < r.package_version) {
    throw new TaError(TEE_ERROR_SECURITY, `model version ${v} is of package version ${meta.package_version}, older than the installed ${r.package_version}: rollback refused`);
  }
  const anchor = meta.trust_next ?? { key_id: r.server_key_id!, ed25519: r.server_ed25519! };
  saveRpmb(st, {
    counter: v,
    package_version: meta.package_version,
    package_id: meta.package_id,
    server_key_id: anchor.key_id,
    server_ed25519: anchor.ed25519,
    issued: Math.max(r.issued, v),
    pending: [],
  });
  for (const old of sealedVersions(st)) if (old !== v) st.remove(modelName(old));
}

function info(meta: ModelMeta): ModelInfo {
  return {
    version: meta.version, parent: meta.parent, package_id: meta.package_id, package_version: meta.package_version, device_id: meta.device_id,
    range: [meta.start, meta.end], policy: meta.policy, topk: meta.topk, server_key_id: meta.server.key_id,
  };
}

// ---------------------------------------------------------------------------------------------
// DEVICE_INIT

function createDevice(st: SecureStorage): DeviceCert {
  if (st.exists('device-keys')) {
    const k = loadKeys(st);
    throw new TaError(TEE_ERROR_ACCESS_CONFLICT, `this device already has its keys (device ${k.deviceId}); re-initialising would orphan its installed models`);
  }
  // A new identity never resets the anti-rollback state of an earlier one (a real RPMB counter
  // cannot be reset either): only a storage with nothing installed may be (re-)initialised.
  const earlier = st.exists('rpmb') ? loadRpmb(st) : FRESH;
  if (earlier.counter !== 0 || earlier.server_ed25519 !== null || sealedVersions(st).length > 0) {
    throw new TaError(TEE_ERROR_ACCESS_CONFLICT, 'the secure storage holds the state and models of an earlier device identity: initialise a new device in an empty folder');
  }
  if (!st.hasHuk) st.createHuk();
  const id = generateKeyPairSync('ed25519');
  const kem = generateKeyPairSync('x25519');
  const idRaw = rawPublicKey(id.publicKey);
  const kemRaw = rawPublicKey(kem.publicKey);
  const deviceId = deviceIdOf(idRaw);
  const body: DeviceCertBody = {
    format: 'layerlock-device-cert/1',
    attestation: ATTESTATION_LABEL,
    device_id: deviceId,
    ta_uuid: TA_UUID,
    identity: { alg: 'Ed25519', public_key: idRaw.toString('base64') },
    hpke: { kem: HPKE_SUITE.kem, kdf: HPKE_SUITE.kdf, aead: HPKE_SUITE.aead, public_key: kemRaw.toString('base64') },
    sealing: 'AES-256-GCM under HKDF-SHA256(HKDF-SHA256(HUK), TA UUID); the HUK is emulated (a file in the TA storage, fused on a real device)',
    created: new Date().toISOString(),
  };
  const cert: DeviceCert = { certificate: body, signature: edSign(null, signedMessage('device-cert', canonicalJson(body)), id.privateKey).toString('base64') };
  const pkcs8 = id.privateKey.export({ format: 'der', type: 'pkcs8' });
  const xPriv = Buffer.from((kem.privateKey.export({ format: 'jwk' }) as { d: string }).d, 'base64url');
  const secret = Buffer.from(JSON.stringify({ device_id: deviceId, ed25519_pkcs8: pkcs8.toString('base64'), x25519_private: xPriv.toString('base64'), cert }), 'utf8');
  try {
    // The state first: a crash after it but before the keys leaves a device that can simply be initialised again.
    saveRpmb(st, { ...FRESH });
    st.put('device-keys', { device_id: deviceId }, secret);
  } finally {
    secret.fill(0);
    pkcs8.fill(0);
    xPriv.fill(0);
  }
  return cert;
}

export const deviceInitCommand: CommandHandler = (ta, _s, types, p) => {
  expectTypes(CMD_DEVICE_INIT, types, paramTypes(VALUE_IN, MEMREF_OUT));
  const st = storage(ta);
  const op = p[0]!.value!.a;
  const out = p[1]!.memref!;
  if (out.size < DEVICE_OUTPUT_BYTES) {
    // Asked before anything is created, so the retry with a larger buffer creates the keys once.
    out.size = DEVICE_OUTPUT_BYTES;
    throw new TaError(TEE_ERROR_SHORT_BUFFER, `DEVICE_INIT needs an output buffer of ${DEVICE_OUTPUT_BYTES} bytes`);
  }
  if (op === DEVICE_CREATE) writeOut(p[1], canonicalJson(createDevice(st)));
  else if (op === DEVICE_CERT) writeOut(p[1], canonicalJson(loadKeys(st).cert));
  else if (op === DEVICE_STATUS) {
    const k = loadKeys(st);
    const r = loadRpmb(st);
    const status: DeviceStatus = {
      device_id: k.deviceId, model_version: r.counter, package_version: r.package_version, package_id: r.package_id,
      server_key_id: r.server_key_id, sealed_versions: sealedVersions(st), issued_version: r.issued,
    };
    writeOut(p[1], canonicalJson(status));
  } else throw new TaError(TEE_ERROR_BAD_PARAMETERS, `unknown DEVICE_INIT operation ${op}`);
};

// ---------------------------------------------------------------------------------------------
// DEVICE_TRUST: the trust anchor, provisioned (never taken from the first package that comes along)

export const deviceTrustCommand: CommandHandler = (ta, _s, types, p) => {
  expectTypes(CMD_DEVICE_TRUST, types, paramTypes(MEMREF_IN));
  const st = storage(ta);
  const key = Buffer.from(inBytes(p[0]));
  if (key.length !== 32) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `DEVICE_TRUST takes a raw Ed25519 public key (32 bytes), got ${key.length}`);
  const k = loadKeys(st); // a provisioned device only: the anchor is sealed with its keys
  k.x25519Private.fill(0);
  k.ed25519Pkcs8.fill(0);
  const r = loadRpmb(st);
  const b64 = key.toString('base64');
  if (r.server_ed25519 === b64) return;
  if (r.server_ed25519 !== null) {
    throw new TaError(TEE_ERROR_ACCESS_CONFLICT,
      `this device already trusts server key ${r.server_key_id}; replacing the anchor takes a package signed by that key (layerlock package --rotate-trust NEW.pub)`);
  }
  saveRpmb(st, { ...r, server_key_id: keyId(key), server_ed25519: b64 });
};

// ---------------------------------------------------------------------------------------------
// INSTALL_ENCRYPTED

function weightsHeaderBytes(m: Pick<Manifest, 'weights'>, seen = 0): Uint8Array {
  return encodeWeights([], { major: m.weights.major, minor: m.weights.minor, revision: m.weights.revision, seen });
}

export const installEncryptedCommand: CommandHandler = async (ta, _s, types, p) => {
  expectTypes(CMD_INSTALL_ENCRYPTED, types, paramTypes(MEMREF_IN, MEMREF_IN, MEMREF_IN, VALUE_OUT));
  const st = storage(ta);
  const keys = loadKeys(st);
  try {
    await install(st, keys, p);
  } finally {
    keys.x25519Private.fill(0);
    keys.ed25519Pkcs8.fill(0);
  }
};

async function install(st: SecureStorage, keys: DeviceKeys, p: TaParam[]): Promise<void> {
  const rpmb = loadRpmb(st);
  const what = 'package';
  const signed = inBytes(p[0]);
  const signature = inBytes(p[1]);
  const prot = inBytes(p[2]);
  // 1. Signature first, with the key the manifest declares; then that key must be the pinned one.
  const { header, manifestBytes } = guard(() => splitSignedRegion(signed, what, 'package'));
  const declared = declaredKey(manifestBytes, 'server');
  if (!declared || signature.length !== SIGNATURE_BYTES || !verifyEd25519('package', signed, signature, declared)) {
    throw new TaError(TEE_ERROR_SECURITY, `${what}: the signature does not verify — the package was tampered with or not signed by the server it names`);
  }
  const m = guard(() => parseManifest(manifestBytes, header.payloadBytes, 'package', what));
  if (rpmb.server_ed25519 === null) {
    throw new TaError(TEE_ERROR_SECURITY, `${what}: this device trusts no server yet — provision its trust anchor first (layerlock device trust --dir DEV --trust server.pub)`);
  }
  if (rpmb.server_ed25519 !== m.server.ed25519) {
    throw new TaError(TEE_ERROR_SECURITY, `${what} is signed by server key ${m.server.key_id}, but this device trusts server key ${rpmb.server_key_id} only (its provisioned trust anchor)`);
  }
  // 2. Meant for this device and TA, and newer than what is installed.
  if (m.device.id !== keys.deviceId) throw new TaError(TEE_ERROR_SECURITY, `${what} is for device ${m.device.id}, this is device ${keys.deviceId}`);
  if (m.device.ta_uuid !== TA_UUID) throw new TaError(TEE_ERROR_SECURITY, `${what} is for TA ${m.device.ta_uuid}, this is TA ${TA_UUID}`);
  if (m.version <= rpmb.package_version) {
    throw new TaError(TEE_ERROR_SECURITY, `${what} version ${m.version} is not newer than the installed package version ${rpmb.package_version}: rollback refused`);
  }
  // 3. Layout against the cfg, then every hash of what we were given.
  let config: NetworkConfig;
  try {
    config = parseCfg(m.cfg.text, 'the package cfg');
  } catch (e) {
    throw new TaError(TEE_ERROR_BAD_FORMAT, `${what}: its cfg does not parse: ${(e as Error).message}`);
  }
  rangeRoles(config, m.partition.start, m.partition.end);
  guard(() => checkLayout(m, config, headerByteSize(m.weights), what));
  guard(() => checkProtectedHashes(m, prot, what));
  // 4. Decrypt inside, check each plaintext, seal.
  const parts: Uint8Array[] = [weightsHeaderBytes(m)];
  try {
    for (const l of m.protected.layers) {
      let plain: Buffer;
      try {
        plain = await hpkeOpen(keys.x25519Private, Buffer.from(HPKE_INFO), layerAad(m, l.index), prot.subarray(l.offset, l.offset + l.bytes));
      } catch {
        throw new TaError(TEE_ERROR_SECURITY, `${what}: encrypted layer ${l.index} does not decrypt with this device's key (not encrypted to it, or altered)`);
      }
      parts.push(plain);
      if (plain.length !== l.plain_bytes || sha256hex(plain) !== l.plain_sha256) {
        throw new TaError(TEE_ERROR_SECURITY, `${what}: layer ${l.index} decrypts to data whose SHA-256 is not the manifest's`);
      }
    }
    const weights = Buffer.concat(parts);
    try {
      const v = issueVersion(st);
      const meta: ModelMeta = {
        version: v, parent: null, package_id: m.package_id, package_version: m.version, device_id: keys.deviceId,
        start: m.partition.start, end: m.partition.end, policy: m.partition.policy, topk: m.partition.topk,
        cfg_sha256: m.cfg.sha256, cfg_text: m.cfg.text, clear_sha256: m.clear.sha256, server: m.server, ...(m.trust_next ? { trust_next: m.trust_next } : {}),
        weights: { major: m.weights.major, minor: m.weights.minor, revision: m.weights.revision }, created: new Date().toISOString(),
      };
      st.put(modelName(v), meta as unknown as Record<string, unknown>, weights);
      p[3] = { value: { a: v, b: 0 } };
    } finally {
      weights.fill(0);
    }
  } finally {
    for (const x of parts) x.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// UNSEAL_PROTECTED / SEAL_PROTECTED

const POLICY_RANK = { top1: 0, topk: 1, full: 2 } as const;

/** The same network as sealed: input shape and every layer's settings (cfg line numbers aside). */
function architecture(c: NetworkConfig): string {
  return JSON.stringify({ input: [c.net.height, c.net.width, c.net.channels], layers: c.layers }, (k, v: unknown) => (k === 'source' ? undefined : v));
}

function deployed(s: TaSession): Deployed | undefined {
  return s.ext.get('deploy') as Deployed | undefined;
}

function configuredPartition(s: TaSession): ProtectedPartition {
  if (!s.partition) throw new TaError(TEE_ERROR_BAD_STATE, 'the session has no partition yet (CONFIGURE first)');
  return s.partition;
}

export const unsealProtectedCommand: CommandHandler = (ta, s, types, p) => {
  expectTypes(CMD_UNSEAL_PROTECTED, types, paramTypes(VALUE_IN, MEMREF_IN, MEMREF_OUT));
  const part = configuredPartition(s);
  if (deployed(s)) throw new TaError(TEE_ERROR_BAD_STATE, 'this session already holds an unsealed model');
  const st = storage(ta);
  const v = p[0]!.value!.a;
  const clearHash = inBytes(p[1]);
  const { meta, weights } = openModel(st, v);
  try {
    if (clearHash.length !== 32 || Buffer.from(clearHash).toString('hex') !== meta.clear_sha256) {
      throw new TaError(TEE_ERROR_SECURITY, `the normal world's layers are not the ones sealed with model version ${v} (SHA-256 ${meta.clear_sha256.slice(0, 16)}…)`);
    }
    if (part.spec.start !== meta.start || part.spec.end !== meta.end) {
      throw new TaError(TEE_ERROR_ACCESS_DENIED, `model version ${v} protects layers ${meta.start}:${meta.end}; the session configured ${part.spec.start}:${part.spec.end}`);
    }
    if (architecture(part.config) !== architecture(parseCfg(meta.cfg_text, 'the sealed cfg'))) {
      throw new TaError(TEE_ERROR_ACCESS_DENIED, `the session's cfg is not the network sealed with model version ${v}`);
    }
    const sp = part.spec;
    if (POLICY_RANK[sp.policy] > POLICY_RANK[meta.policy] || (sp.policy === 'topk' && meta.policy === 'topk' && sp.topk > meta.topk)) {
      throw new TaError(TEE_ERROR_ACCESS_DENIED, `the package allows output ${meta.policy === 'topk' ? `top${meta.topk}` : meta.policy} from the TEE; the session asked for ${sp.policy === 'topk' ? `top${sp.topk}` : sp.policy}`);
    }
    if (sp.allowExport) throw new TaError(TEE_ERROR_ACCESS_DENIED, 'a deployed model is never exported in plaintext: configure without the development export flag');
    part.loadParams(weights);
  } finally {
    weights.fill(0);
  }
  s.ext.set('deploy', { meta } satisfies Deployed);
  // A version newer than the committed one (a save whose commit was interrupted) becomes current.
  if (v > loadRpmb(st).counter) commit(st, v);
  writeOut(p[2], canonicalJson(info(meta)));
};

export const sealProtectedCommand: CommandHandler = (ta, s, types, p) => {
  expectTypes(CMD_SEAL_PROTECTED, types, paramTypes(VALUE_IN, MEMREF_IN, VALUE_OUT), paramTypes(VALUE_IN));
  const st = storage(ta);
  const op = p[0]!.value!.a;
  if (op === SEAL_NEW) {
    if (types !== paramTypes(VALUE_IN, MEMREF_IN, VALUE_OUT)) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'SEAL_NEW takes (VALUE_INPUT, MEMREF_TEMP_INPUT, VALUE_OUTPUT)');
    const d = deployed(s);
    if (!d) throw new TaError(TEE_ERROR_BAD_STATE, 'nothing to seal: this session did not unseal a model (UNSEAL_PROTECTED first)');
    const clearHash = inBytes(p[1]);
    if (clearHash.length !== 32) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'SEAL_NEW takes the SHA-256 (32 bytes) of the clear layers');
    const part = configuredPartition(s);
    const weights = encodeWeights(part.net.weightsLayers(), { ...d.meta.weights, seen: 0 });
    try {
      const v = issueVersion(st);
      const meta: ModelMeta = { ...d.meta, version: v, parent: d.meta.version, clear_sha256: Buffer.from(clearHash).toString('hex'), created: new Date().toISOString() };
      st.put(modelName(v), meta as unknown as Record<string, unknown>, weights);
      d.meta = meta;
      p[2] = { value: { a: v, b: 0 } };
    } finally {
      weights.fill(0);
    }
    return;
  }
  if (types !== paramTypes(VALUE_IN)) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'SEAL_COMMIT and SEAL_DISCARD take (VALUE_INPUT) only');
  const v = p[0]!.value!.b;
  if (op === SEAL_COMMIT) commit(st, v);
  else if (op === SEAL_DISCARD) {
    const r = loadRpmb(st);
    if (v <= r.counter) throw new TaError(TEE_ERROR_BAD_STATE, `model version ${v} is committed (the device is at ${r.counter}): only an uncommitted version can be discarded`);
    // Off the pending list first: from now on no copy of it opens, and its number is never reissued.
    saveRpmb(st, { ...r, pending: r.pending.filter((x) => x !== v) });
    st.remove(modelName(v));
  } else throw new TaError(TEE_ERROR_BAD_PARAMETERS, `unknown SEAL_PROTECTED operation ${op}`);
};

// ---------------------------------------------------------------------------------------------
// EXPORT_ENCRYPTED

export const exportEncryptedCommand: CommandHandler = async (ta, _s, types, p) => {
  expectTypes(CMD_EXPORT_ENCRYPTED, types, paramTypes(VALUE_IN, MEMREF_IN, MEMREF_IN, MEMREF_OUT));
  const st = storage(ta);
  const v = p[0]!.value!.a;
  const serverKem = Buffer.from(inBytes(p[1]));
  const clear = inBytes(p[2]);
  const { meta, weights } = openModel(st, v);
  const keys = loadKeys(st);
  const sealedParts: Buffer[] = [];
  try {
    if (serverKem.toString('base64') !== meta.server.x25519) {
      throw new TaError(TEE_ERROR_ACCESS_DENIED, `exports go only to the server whose package this model came from (server key ${meta.server.key_id})`);
    }
    if (sha256hex(clear) !== meta.clear_sha256) throw new TaError(TEE_ERROR_SECURITY, `the clear layers given are not the ones of model version ${v}`);
    const config = parseCfg(meta.cfg_text, 'the sealed cfg');
    const sizes = weightsLayerBytes(config);
    const hb = headerByteSize(meta.weights);
    const seen = guard(() => decodeWeights(clear.subarray(0, hb), [], 'the clear layers')).seen;
    const m: Manifest = {
      format: 'layerlock-container/1', kind: 'export', id: randomUUID(), package_id: meta.package_id, version: meta.package_version, model_version: v,
      created: new Date().toISOString(), device: { id: keys.deviceId, ta_uuid: TA_UUID }, server: meta.server,
      cfg: { sha256: meta.cfg_sha256, text: meta.cfg_text }, partition: { start: meta.start, end: meta.end, policy: meta.policy, topk: meta.topk },
      weights: { ...meta.weights, seen }, hpke: { ...HPKE_SUITE, info: HPKE_INFO },
      clear: { offset: 0, bytes: clear.length, sha256: meta.clear_sha256, layers: [] },
      protected: { offset: clear.length, bytes: 0, sha256: '', layers: [] },
      software: { layerlock: 'ta' },
    };
    let co = hb;
    let po = 0;
    let wo = hb;
    for (const [index, l] of sizes) {
      if (index >= meta.start && index <= meta.end) {
        const plain = weights.subarray(wo, wo + l.bytes);
        wo += l.bytes;
        const ct = await hpkeSeal(serverKem, Buffer.from(HPKE_INFO), layerAad(m, index), plain);
        sealedParts.push(ct);
        const e: ProtectedEntry = { index, type: l.type, offset: po, bytes: ct.length, sha256: sha256hex(ct), plain_bytes: l.bytes, plain_sha256: sha256hex(plain) };
        m.protected.layers.push(e);
        po += ct.length;
      } else {
        const e: LayerEntry = { index, type: l.type, offset: co, bytes: l.bytes, sha256: sha256hex(clear.subarray(co, co + l.bytes)) };
        m.clear.layers.push(e);
        co += l.bytes;
      }
    }
    if (co !== clear.length || wo !== weights.length) throw new TaError(TEE_ERROR_BAD_STATE, `model version ${v}: stored layers do not match its cfg`);
    const protSection = Buffer.concat(sealedParts);
    m.protected.bytes = protSection.length;
    m.protected.sha256 = sha256hex(protSection);
    const manifest = canonicalJson(m);
    const header = encodeHeader({ format: 1, kind: 'export', manifestBytes: manifest.length, payloadBytes: clear.length + protSection.length, signatureBytes: SIGNATURE_BYTES });
    const signedRegion = Buffer.concat([header, manifest]);
    const key = createPrivateKey({ key: keys.ed25519Pkcs8, format: 'der', type: 'pkcs8' });
    const signature = edSign(null, signedMessage('export', signedRegion), key);
    writeOut(p[3], Buffer.concat([signedRegion, clear, protSection, signature]));
  } finally {
    weights.fill(0);
    keys.x25519Private.fill(0);
    keys.ed25519Pkcs8.fill(0);
  }
};

// ---------------------------------------------------------------------------------------------
// A session holding a deployed model takes no plaintext in or out, whatever its policy or flags:
// the table (./commands.ts) wraps LOAD_PARAMS and EXPORT_PARAMS_PLAINTEXT in this.
export function refusedWhenDeployed(cmd: number, inner: CommandHandler): CommandHandler {
  return (ta, s, types, p) => {
    if (deployed(s)) {
      throw new TaError(TEE_ERROR_ACCESS_DENIED, cmd === CMD_LOAD_PARAMS
        ? 'this session holds a deployed model: its protected layers come only from sealed storage'
        : 'this session holds a deployed model: its protected layers never leave the TEE in plaintext (export encrypts them to the server)');
    }
    return inner(ta, s, types, p);
  };
}
