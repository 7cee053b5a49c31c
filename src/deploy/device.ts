// The device's normal world: provisioning (device init), installation of packages, opening the
// installed model for inference or fine-tuning, atomic saves after fine-tuning, export to the server.
// It never holds a protected weight in plaintext: it passes ciphertext to the TA, and the TA seals,
// unseals and re-encrypts inside.
//
//   DEV/device.cert          the device certificate (public keys, TA UUID; self-signed, emulated attestation)
//   DEV/tee/                 the TA's secure storage (the only folder the TA may write)
//     huk.bin                  emulated hardware-unique key (a real device fuses it)
//     device-keys.sealed       the device's private keys
//     rpmb.sealed              committed model version, package version, pinned server key (emulated RPMB)
//     model-<v>.sealed         protected layers of model version v
//   DEV/model/v<v>.cfg, v<v>.weights   the cfg and the normal world's layers (.weights) of version v
//   DEV/current.json         which version is current — replaced atomically: the commit point
//
// A save (install, or after fine-tuning) writes the new version's files beside the old ones (TA:
// model-<v>.sealed; normal world: v<v>.cfg, v<v>.weights), flips current.json with one rename, then
// tells the TA to commit (anti-rollback counter := v, older sealed versions deleted) and deletes the
// old files. A crash before the flip leaves the previous version current and usable; a crash after
// it leaves the new one, which the TA commits the next time it is unsealed.
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TeecContext, TeecError, type ContextOptions, type TeeContextApi, type TeecOperation, type TeeSessionApi } from '../tee/client.js';
import { openTeeContext, requestedTee } from '../tee/optee.js';
import { PartitionedNetwork } from '../tee/partitioned.js';
import {
  CMD_DEVICE_INIT, CMD_DEVICE_TRUST, CMD_EXPORT_ENCRYPTED, CMD_INSTALL_ENCRYPTED, CMD_SEAL_PROTECTED, CMD_UNSEAL_PROTECTED, paramTypes, TA_UUID,
  TEE_ERROR_SHORT_BUFFER, TEEC_MEMREF_TEMP_INPUT as MIN, TEEC_MEMREF_TEMP_OUTPUT as MOUT, TEEC_VALUE_INPUT as VIN, TEEC_VALUE_OUTPUT as VOUT,
  type OutputPolicy,
} from '../tee/shared/protocol.js';
import { ContainerError, sha256, sha256hex, splitContainer, verifyEd25519, verifyDeviceCert, type DeviceCert } from '../tee/shared/container.js';
import {
  DEVICE_CERT, DEVICE_CREATE, DEVICE_OUTPUT_BYTES, DEVICE_STATUS, SEAL_COMMIT, SEAL_DISCARD, SEAL_NEW, type DeviceStatus, type ModelInfo,
} from '../tee/shared/deploy-protocol.js';
import { decodeWeights, encodeWeights, type WeightsLayer } from '../nn/weights.js';
import { atomicCreate, atomicWrite, ensureDir, lockDevice, syncFolder } from '../util/fsutil.js';
import { KeyFileError, loadDeviceCert, loadServerPublic, type VerifiedDeviceCert } from './keys.js';
import { verifyPackage } from './package.js';

/** A deployment step that cannot go on: one clear line; nothing installed has changed. */
export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployError';
  }
}

/**
 * Thrown by a fault hook to simulate a crash at a save step: the library then skips every cleanup,
 * exactly as if the process had died there (tests; the CLI's hook kills the process instead).
 */
export class SimulatedCrash extends Error {
  constructor(readonly point: FaultPoint) {
    super(`simulated crash at ${point}`);
    this.name = 'SimulatedCrash';
  }
}

/** Steps of a save: after the TA sealed the new version; after the normal world wrote its files; after the pointer flip. */
export type FaultPoint = 'after-seal' | 'after-files' | 'after-flip';

export interface DeviceOptions {
  /** Options of the TA context (secure memory, kernels, transcript, …); the storage is always DEV/tee. */
  tee?: Omit<ContextOptions, 'storageDir'>;
  /** Called with each TA context started (tests read its transcript). */
  onContext?: (ctx: TeecContext) => void;
  /** Called at each save step (tests and the CLI's crash hook). */
  fault?: (point: FaultPoint) => void;
}

/**
 * Under OP-TEE the TA keeps its objects in OP-TEE's own secure storage (tee-supplicant's REE FS,
 * encrypted with keys derived from the board's HUK), one per board and TA — not in DEV/tee. DEV then
 * holds only the normal world's files, and its device.cert is what says it was initialised.
 */
function onOptee(opts: DeviceOptions): boolean {
  return requestedTee(opts.tee ?? {}) === 'optee';
}

export const paths = {
  cert: (dev: string) => join(dev, 'device.cert'),
  tee: (dev: string) => join(dev, 'tee'),
  model: (dev: string) => join(dev, 'model'),
  pointer: (dev: string) => join(dev, 'current.json'),
};

/** DEV/current.json: the current model version and its normal-world files. */
export interface Pointer {
  format: 'layerlock-device-model/1';
  version: number;
  package_id: string;
  package_version: number;
  device_id: string;
  server_key_id: string;
  range: [number, number];
  policy: OutputPolicy;
  topk: number;
  /** Paths relative to DEV. */
  cfg: string;
  cfg_sha256: string;
  clear: string;
  clear_sha256: string;
  weights_header: { major: number; minor: number; revision: number };
  seen: number;
  updated: string;
}

function fail(e: unknown): never {
  if (e instanceof ContainerError || e instanceof KeyFileError) throw new DeployError(e.message);
  throw e;
}

async function startTa(dev: string, opts: DeviceOptions): Promise<TeeContextApi> {
  const ctx = await openTeeContext({ ...opts.tee, storageDir: paths.tee(dev) });
  if (ctx instanceof TeecContext) opts.onContext?.(ctx);
  return ctx;
}

/** After a command that wrote: the software TA's storage folder is synced here; OP-TEE's tee-supplicant syncs its own. */
async function syncTa(dev: string, opts: DeviceOptions): Promise<void> {
  if (!onOptee(opts)) await syncFolder(paths.tee(dev));
}

/** Whether DEV was initialised: its sealed keys (software TEE), or its certificate (OP-TEE keeps the keys itself). */
async function initialised(dev: string, opts: DeviceOptions): Promise<boolean> {
  return exists(onOptee(opts) ? paths.cert(dev) : join(paths.tee(dev), 'device-keys.sealed'));
}

async function withSession<T>(dev: string, opts: DeviceOptions, fn: (s: TeeSessionApi) => Promise<T>): Promise<T> {
  const ctx = await startTa(dev, opts);
  try {
    const s = await ctx.openSession(TA_UUID);
    try {
      return await fn(s);
    } finally {
      await s.closeSession();
    }
  } finally {
    await ctx.finalizeContext();
  }
}

async function deviceCommand(s: TeeSessionApi, op: number): Promise<Buffer> {
  const buf = Buffer.alloc(DEVICE_OUTPUT_BYTES);
  const o: TeecOperation = { paramTypes: paramTypes(VIN, MOUT), params: [{ value: { a: op, b: 0 } }, { tmpref: { buffer: buf, size: buf.length } }] };
  await s.invokeCommand(CMD_DEVICE_INIT, o);
  return buf.subarray(0, o.params![1]!.tmpref!.size);
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Provisioning

export interface DeviceInitResult {
  dir: string;
  cert: string;
  device_id: string;
  ta_uuid: string;
  /** The server key sealed as the device's trust anchor (init --trust), or null. */
  trusted_server_key_id: string | null;
}

/** layerlock device init: the TA makes the device's keys inside and answers its certificate. */
export async function initDevice(dev: string, opts: DeviceOptions & { trust?: string } = {}): Promise<DeviceInitResult> {
  // The anchor is read before anything is created: a bad server.pub leaves no half-provisioned device.
  const anchor = opts.trust !== undefined ? await loadServerPublic(opts.trust).catch((e: unknown) => {
    throw e instanceof KeyFileError ? new DeployError(e.message) : e;
  }) : null;
  await ensureDir(dev);
  if (await initialised(dev, opts)) {
    throw new DeployError(onOptee(opts)
      ? `${dev} is already an initialised device (${paths.cert(dev)} exists; its keys are in OP-TEE's secure storage); use another folder for a new device`
      : `${dev} is already an initialised device (its keys are sealed in ${paths.tee(dev)}); use another folder for a new device`);
  }
  const release = await lockDevice(dev);
  try {
    const certBytes = await withSession(dev, opts, async (s) => {
      const cert = await deviceCommand(s, DEVICE_CREATE);
      if (anchor) await trustCommand(s, anchor.ed25519);
      return cert;
    }).catch((e: unknown) => {
      throw e instanceof TeecError ? new DeployError(`the TA refused to initialise ${dev}: ${e.message}`) : e;
    });
    await syncTa(dev, opts);
    const cert = JSON.parse(certBytes.toString('utf8')) as DeviceCert;
    const v = verifyDeviceCert(cert, 'the certificate the TA made');
    await atomicWrite(paths.cert(dev), JSON.stringify(cert, null, 2) + '\n');
    return { dir: dev, cert: paths.cert(dev), device_id: v.body.device_id, ta_uuid: v.body.ta_uuid, trusted_server_key_id: anchor?.keyId ?? null };
  } finally {
    await release();
  }
}

async function trustCommand(s: TeeSessionApi, ed25519: Buffer): Promise<void> {
  await s.invokeCommand(CMD_DEVICE_TRUST, { paramTypes: paramTypes(MIN), params: [{ tmpref: { buffer: ed25519, size: ed25519.length } }] });
}

/**
 * layerlock device trust: seals the server's signing key inside the TA as the device's trust anchor
 * (provisioning). Only packages signed by it install; the same key again changes nothing; another
 * key is refused (the anchor moves only with a package signed by the current one).
 */
export async function trustServer(dev: string, trustPath: string, opts: DeviceOptions = {}): Promise<{ dir: string; server_key_id: string }> {
  const anchor = await loadServerPublic(trustPath).catch((e: unknown) => {
    throw e instanceof KeyFileError ? new DeployError(e.message) : e;
  });
  await requireDevice(dev, opts);
  const release = await lockDevice(dev);
  try {
    await withSession(dev, opts, (s) => trustCommand(s, anchor.ed25519)).catch((e: unknown) => {
      throw e instanceof TeecError ? new DeployError(`the TA refused the trust anchor: ${e.message}`) : e;
    });
    await syncTa(dev, opts);
    return { dir: dev, server_key_id: anchor.keyId };
  } finally {
    await release();
  }
}

/** The TA's view of the device: committed version, package version, pinned server, sealed versions. */
export async function deviceStatus(dev: string, opts: DeviceOptions = {}): Promise<{ status: DeviceStatus; pointer: Pointer | null }> {
  await requireDevice(dev, opts);
  const status = JSON.parse((await withSession(dev, opts, (s) => deviceCommand(s, DEVICE_STATUS))).toString('utf8')) as DeviceStatus;
  return { status, pointer: await readPointer(dev) };
}

/** Re-exports DEV/device.cert from the TA (if the file was lost). */
export async function exportDeviceCert(dev: string, opts: DeviceOptions = {}): Promise<DeviceCert> {
  await requireDevice(dev, opts);
  const cert = JSON.parse((await withSession(dev, opts, (s) => deviceCommand(s, DEVICE_CERT))).toString('utf8')) as DeviceCert;
  verifyDeviceCert(cert, 'the certificate the TA made');
  return cert;
}

async function requireDevice(dev: string, opts: DeviceOptions): Promise<void> {
  if (!(await initialised(dev, opts))) {
    throw new DeployError(onOptee(opts)
      ? `${dev} is not an initialised device (no ${paths.cert(dev)}; run layerlock device init --dir ${dev} --tee optee)`
      : `${dev} is not an initialised device (no sealed keys in ${paths.tee(dev)}; run layerlock device init --dir ${dev})`);
  }
}

async function myCert(dev: string): Promise<VerifiedDeviceCert> {
  try {
    return await loadDeviceCert(paths.cert(dev));
  } catch (e) {
    return fail(e);
  }
}

// ---------------------------------------------------------------------------------------------
// The pointer

const REL = /^model\/v\d+\.(cfg|weights)$/;

export async function readPointer(dev: string): Promise<Pointer | null> {
  let text: string;
  try {
    text = await readFile(paths.pointer(dev), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let p: Pointer;
  try {
    p = JSON.parse(text) as Pointer;
  } catch {
    throw new DeployError(`${paths.pointer(dev)} is damaged (not JSON)`);
  }
  if (p.format !== 'layerlock-device-model/1' || !Number.isInteger(p.version) || !REL.test(p.cfg) || !REL.test(p.clear)) {
    throw new DeployError(`${paths.pointer(dev)} is damaged`);
  }
  return p;
}

function versionFiles(v: number): { cfg: string; clear: string } {
  return { cfg: `model/v${v}.cfg`, clear: `model/v${v}.weights` };
}

/**
 * Who publish() sends SEAL_PROTECTED through: a plain session (install), or the opened model itself
 * (save after fine-tuning), whose invokeCommand first flushes the last deferred update.
 */
type Commands = Pick<TeeSessionApi, 'invokeCommand'>;

/** Writes the new version's files, flips the pointer, commits in the TA, removes the old files. */
async function publish(dev: string, s: Commands, v: number, pointer: Omit<Pointer, 'version' | 'cfg' | 'clear' | 'updated'>, cfgText: string, clear: Uint8Array, opts: DeviceOptions): Promise<Pointer> {
  const files = versionFiles(v);
  const next: Pointer = { ...pointer, version: v, cfg: files.cfg, clear: files.clear, updated: new Date().toISOString() };
  let flipped = false;
  try {
    await syncTa(dev, opts);
    opts.fault?.('after-seal');
    await ensureDir(paths.model(dev));
    await atomicWrite(join(dev, files.cfg), cfgText);
    await atomicWrite(join(dev, files.clear), clear);
    opts.fault?.('after-files');
    await atomicWrite(paths.pointer(dev), JSON.stringify(next, null, 2) + '\n');
    flipped = true;
    opts.fault?.('after-flip');
  } catch (e) {
    if (e instanceof SimulatedCrash) throw e;
    if (!flipped) {
      // Undo: the previous version stays current; the TA forgets the uncommitted one.
      await s.invokeCommand(CMD_SEAL_PROTECTED, { paramTypes: paramTypes(VIN), params: [{ value: { a: SEAL_DISCARD, b: v } }] }).catch(() => undefined);
      for (const f of [files.cfg, files.clear]) await unlink(join(dev, f)).catch(() => undefined);
    }
    throw e;
  }
  await s.invokeCommand(CMD_SEAL_PROTECTED, { paramTypes: paramTypes(VIN), params: [{ value: { a: SEAL_COMMIT, b: v } }] });
  await syncTa(dev, opts);
  // The old versions' files are no longer referenced (the TA has already deleted their sealed halves).
  const keep = new Set([`v${v}.cfg`, `v${v}.weights`]);
  for (const f of await readdir(paths.model(dev)).catch(() => [] as string[])) {
    if (/^v\d+\.(cfg|weights)$/.test(f) && !keep.has(f)) await unlink(join(paths.model(dev), f)).catch(() => undefined);
  }
  return next;
}

// ---------------------------------------------------------------------------------------------
// Install

export interface InstallResult {
  device_id: string;
  version: number;
  package_id: string;
  package_version: number;
  server_key_id: string;
  partition: { start: number; end: number; policy: OutputPolicy; topk: number };
  replaced: { version: number; package_version: number } | null;
}

/**
 * layerlock install: verify the signature and every hash first (normal world), then the TA verifies
 * again, decrypts inside and seals; the new version becomes current atomically. Any failure leaves
 * what was installed unchanged.
 */
export async function installPackage(pkgPath: string, dev: string, trustPath: string, opts: DeviceOptions = {}): Promise<InstallResult> {
  await requireDevice(dev, opts);
  const cert = await myCert(dev);
  const trust = await loadServerPublic(trustPath).catch(fail);
  let bytes: Buffer;
  try {
    bytes = await readFile(pkgPath);
  } catch (e) {
    throw new DeployError(`${pkgPath}: cannot read the package: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let pkg;
  try {
    pkg = verifyPackage(bytes, trust, pkgPath);
  } catch (e) {
    return fail(e);
  }
  const m = pkg.manifest;
  if (m.device.id !== cert.deviceId) throw new DeployError(`${pkgPath} is for device ${m.device.id}, this is device ${cert.deviceId} (${dev})`);
  const release = await lockDevice(dev);
  try {
    const before = await readPointer(dev);
    if (before && m.version <= before.package_version) {
      throw new DeployError(`${pkgPath} has package version ${m.version}, not newer than the installed version ${before.package_version}: rollback refused`);
    }
    return await withSession(dev, opts, async (s) => {
      const op: TeecOperation = {
        paramTypes: paramTypes(MIN, MIN, MIN, VOUT),
        params: [
          { tmpref: { buffer: pkg.parts.signed, size: pkg.parts.signed.length } },
          { tmpref: { buffer: pkg.parts.signature, size: pkg.parts.signature.length } },
          { tmpref: { buffer: pkg.protected, size: pkg.protected.length } },
          { value: { a: 0, b: 0 } },
        ],
      };
      await s.invokeCommand(CMD_INSTALL_ENCRYPTED, op);
      const v = op.params![3]!.value!.a;
      await publish(dev, s, v, {
        format: 'layerlock-device-model/1', package_id: m.package_id, package_version: m.version, device_id: cert.deviceId,
        server_key_id: m.server.key_id, range: [m.partition.start, m.partition.end], policy: m.partition.policy, topk: m.partition.topk,
        cfg_sha256: m.cfg.sha256, clear_sha256: m.clear.sha256,
        weights_header: { major: m.weights.major, minor: m.weights.minor, revision: m.weights.revision }, seen: m.weights.seen,
      }, m.cfg.text, pkg.clear, opts);
      return {
        device_id: cert.deviceId, version: v, package_id: m.package_id, package_version: m.version, server_key_id: m.server.key_id,
        partition: m.partition, replaced: before ? { version: before.version, package_version: before.package_version } : null,
      };
    });
  } catch (e) {
    if (e instanceof TeecError) throw new DeployError(`the TA refused the package: ${e.message}`);
    throw e;
  } finally {
    await release();
  }
}

// ---------------------------------------------------------------------------------------------
// Use

export interface OpenInstalledOptions extends DeviceOptions {
  mode: 'train' | 'infer';
  /** Output policy on the device: the package's (default) or a stricter one. */
  policy?: OutputPolicy;
  topk?: number;
  seed?: number;
  batch?: number;
  subdivisions?: number;
}

export interface InstalledModel {
  net: PartitionedNetwork;
  pointer: Pointer;
  info: ModelInfo;
  /** Seals the protected layers (TA) and saves the normal world's (atomically, see the file comment). */
  save(): Promise<Pointer>;
  close(): Promise<void>;
}

function normalLayers(net: PartitionedNetwork): WeightsLayer[] {
  return [...(net.pre?.weightsLayers() ?? []), ...(net.post?.weightsLayers() ?? [])];
}

/** Opens the installed model: the normal world's layers here, the protected ones unsealed inside the TA. */
export async function openInstalled(dev: string, opts: OpenInstalledOptions): Promise<InstalledModel> {
  await requireDevice(dev, opts);
  const release = await lockDevice(dev);
  let net: PartitionedNetwork | null = null;
  try {
    const pointer = await readPointer(dev);
    if (!pointer) throw new DeployError(`no model is installed on ${dev} (layerlock install PKG --device ${dev} --trust server.pub)`);
    const cfgText = await readFile(join(dev, pointer.cfg), 'utf8').catch(() => {
      throw new DeployError(`${join(dev, pointer.cfg)} is missing: the device folder is damaged`);
    });
    if (sha256hex(Buffer.from(cfgText, 'utf8')) !== pointer.cfg_sha256) throw new DeployError(`${join(dev, pointer.cfg)} was altered (SHA-256 differs from the installed one)`);
    const clear = await readFile(join(dev, pointer.clear)).catch(() => {
      throw new DeployError(`${join(dev, pointer.clear)} is missing: the device folder is damaged`);
    });
    const clearHash = sha256(clear);
    if (clearHash.toString('hex') !== pointer.clear_sha256) throw new DeployError(`${join(dev, pointer.clear)} was altered (SHA-256 differs from the installed one)`);
    const ctx = await startTa(dev, opts);
    net = await PartitionedNetwork.open({
      cfg: { text: cfgText, file: join(dev, pointer.cfg) },
      range: pointer.range,
      mode: opts.mode,
      policy: opts.policy ?? pointer.policy,
      topk: opts.topk ?? pointer.topk,
      seed: opts.seed,
      batch: opts.batch,
      subdivisions: opts.subdivisions,
      context: ctx,
    }).catch(async (e: unknown) => {
      await ctx.finalizeContext();
      throw e;
    });
    const n = net;
    const header = decodeWeights(clear, normalLayers(n), join(dev, pointer.clear));
    n.seen = header.seen;
    const out = Buffer.alloc(16 * 1024);
    const op: TeecOperation = {
      paramTypes: paramTypes(VIN, MIN, MOUT),
      params: [{ value: { a: pointer.version, b: 0 } }, { tmpref: { buffer: clearHash, size: 32 } }, { tmpref: { buffer: out, size: out.length } }],
    };
    try {
      await n.invokeCommand(CMD_UNSEAL_PROTECTED, op);
    } catch (e) {
      if (e instanceof TeecError) throw new DeployError(`the TA refused to unseal model version ${pointer.version}: ${e.message}`);
      throw e;
    }
    const info = JSON.parse(out.subarray(0, op.params![2]!.tmpref!.size).toString('utf8')) as ModelInfo;
    let current = pointer;
    let closed = false;
    return {
      net: n,
      get pointer() {
        return current;
      },
      info,
      save: async () => {
        const clearNew = encodeWeights(normalLayers(n), { ...current.weights_header, seen: n.seen });
        const hash = sha256(clearNew);
        const sop: TeecOperation = { paramTypes: paramTypes(VIN, MIN, VOUT), params: [{ value: { a: SEAL_NEW, b: 0 } }, { tmpref: { buffer: hash, size: 32 } }, { value: { a: 0, b: 0 } }] };
        // Through the model, not a bare session: the seal must include the last batch's update.
        await n.invokeCommand(CMD_SEAL_PROTECTED, sop);
        const v = sop.params![2]!.value!.a;
        current = await publish(dev, n, v, { ...current, clear_sha256: hash.toString('hex'), seen: n.seen }, cfgText, clearNew, opts);
        return current;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await n.close();
          await ctx.finalizeContext();
        } finally {
          await release();
        }
      },
    };
  } catch (e) {
    if (net) {
      const ctx = net.context;
      await net.close().catch(() => undefined);
      await ctx.finalizeContext().catch(() => undefined);
    }
    await release();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Export

export interface ExportResult {
  path: string;
  device_id: string;
  server_key_id: string;
  model_version: number;
  package_id: string;
  bytes: number;
}

/** layerlock export: the TA re-encrypts the protected layers to the package's server (HPKE) and signs. */
export async function exportModel(dev: string, serverPubPath: string, out: string, opts: DeviceOptions = {}): Promise<ExportResult> {
  await requireDevice(dev, opts);
  const cert = await myCert(dev);
  const server = await loadServerPublic(serverPubPath).catch(fail);
  const release = await lockDevice(dev);
  try {
    const pointer = await readPointer(dev);
    if (!pointer) throw new DeployError(`no model is installed on ${dev}: nothing to export`);
    if (pointer.server_key_id !== server.keyId) {
      throw new DeployError(`the installed model came from server key ${pointer.server_key_id}; exports go only to that server, not to ${server.keyId}`);
    }
    const clear = await readFile(join(dev, pointer.clear));
    if (sha256hex(clear) !== pointer.clear_sha256) throw new DeployError(`${join(dev, pointer.clear)} was altered (SHA-256 differs from the installed one)`);
    const file = await withSession(dev, opts, async (s) => {
      let size = clear.length + 64 * 1024 + 1024 * 1024;
      for (;;) {
        const buf = Buffer.alloc(size);
        const op: TeecOperation = {
          paramTypes: paramTypes(VIN, MIN, MIN, MOUT),
          params: [{ value: { a: pointer.version, b: 0 } }, { tmpref: { buffer: server.x25519, size: 32 } }, { tmpref: { buffer: clear, size: clear.length } }, { tmpref: { buffer: buf, size } }],
        };
        try {
          await s.invokeCommand(CMD_EXPORT_ENCRYPTED, op);
          return buf.subarray(0, op.params![3]!.tmpref!.size);
        } catch (e) {
          if (e instanceof TeecError && e.code === TEE_ERROR_SHORT_BUFFER) {
            size = op.params![3]!.tmpref!.size;
            continue;
          }
          if (e instanceof TeecError) throw new DeployError(`the TA refused the export: ${e.message}`);
          throw e;
        }
      }
    });
    // Check what the TA made before writing it: structure and the device's signature.
    const parts = splitContainer(file, 'the export the TA made', 'export');
    if (!verifyEd25519('export', parts.signed, parts.signature, cert.identity)) throw new DeployError('the export the TA made does not verify with the device certificate');
    try {
      await atomicCreate(out, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new DeployError(`${out} already exists: refusing to overwrite it`);
      throw e;
    }
    return { path: out, device_id: cert.deviceId, server_key_id: server.keyId, model_version: pointer.version, package_id: pointer.package_id, bytes: file.length };
  } finally {
    await release();
  }
}
