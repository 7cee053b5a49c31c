// Trust anchored, not assumed: a device installs only packages signed by the server key sealed in
// its TA at provisioning (device init --trust / device trust), from the very first package; the
// anchor moves only with a package signed by the current one. Model versions come from the emulated
// RPMB counter and are never issued twice: a discarded version's sealed copy is refused for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { saveModel } from '../src/nn/model.js';
import { Network } from '../src/nn/network.js';
import {
  createPackage, DeployError, deviceStatus, generateServerKeys, initDevice, installPackage, trustServer,
} from '../src/deploy/index.js';
import { initializeContext, TeecError } from '../src/tee/client.js';
import { SEAL_COMMIT, SEAL_DISCARD } from '../src/tee/shared/deploy-protocol.js';
import {
  CMD_INSTALL_ENCRYPTED, CMD_SEAL_PROTECTED, paramTypes, TA_UUID, TEE_ERROR_SECURITY, TEEC_MEMREF_TEMP_INPUT as MIN, TEEC_VALUE_INPUT as VIN,
  TEEC_VALUE_OUTPUT as VOUT,
} from '../src/tee/shared/protocol.js';
import { splitContainer } from '../src/tee/shared/container.js';

const CFG = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const taKernels = getKernels().name === 'reference' ? 'reference' as const : 'auto' as const;
const TEE = { tee: { kernels: taKernels } };
let dir = '';
let W = '';
let srvA: { keyPath: string; pubPath: string; keyId: string };
let srvB: { keyPath: string; pubPath: string; keyId: string };

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-trust-'));
  // The seeded initialisation is a model like any other for what is checked here.
  const net = new Network(parseCfg(await readFile(CFG, 'utf8'), CFG), { kernels: getKernels(), seed: 5, maxBatch: 1 });
  W = join(dir, 'vgg7.weights');
  await saveModel(net, W);
  srvA = await generateServerKeys(join(dir, 'serverA'));
  srvB = await generateServerKeys(join(dir, 'serverB'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pkg(name: string, dev: string, version: number, server: { keyPath: string }, rotateTrust?: string): Promise<string> {
  const out = join(dir, name);
  await createPackage({
    cfg: CFG, weights: W, range: [9, 13], deviceCert: join(dev, 'device.cert'), signingKey: server.keyPath, out, packageVersion: version,
    ...(rotateTrust ? { rotateTrust } : {}),
  });
  return out;
}

/** SHA-256 of every file under a device folder. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!e.name.endsWith('.lock')) out[relative(root, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(root);
  return out;
}

async function refusedUnchanged(dev: string, op: () => Promise<unknown>, re: RegExp): Promise<void> {
  const before = await snapshot(dev);
  await assert.rejects(op(), (e: unknown) => {
    assert.ok(e instanceof DeployError, `expected a DeployError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
  assert.deepEqual(await snapshot(dev), before, 'a refused step changes nothing');
}

test('the trust anchor is provisioned, not taken from the first package: any other signer is refused from the first package on; it moves only by a package signed by it', async () => {
  const dev = (await initDevice(join(dir, 'devT'), TEE)).dir;
  const fromA = await pkg('a1.pkg', dev, 1, srvA);
  // No anchor: nothing installs, not even a perfectly signed package (no trust on first use).
  await refusedUnchanged(dev, () => installPackage(fromA, dev, srvA.pubPath, TEE), /trusts no server yet/);
  // Provisioned with B: A's package — which the normal world accepts, it was told to trust A — is refused by the TA.
  assert.equal((await trustServer(dev, srvB.pubPath, TEE)).server_key_id, srvB.keyId);
  await refusedUnchanged(dev, () => installPackage(fromA, dev, srvA.pubPath, TEE), new RegExp(`signed by server key ${srvA.keyId}, but this device trusts server key ${srvB.keyId} only`));
  // The anchor cannot be replaced by provisioning again (the same key is a no-op).
  await refusedUnchanged(dev, () => trustServer(dev, srvA.pubPath, TEE), /replacing the anchor takes a package signed by that key/);
  await trustServer(dev, srvB.pubPath, TEE);
  assert.equal((await deviceStatus(dev, TEE)).status.server_key_id, srvB.keyId);
  // B hands the anchor to A in a package B signs; once committed, B's packages are refused and A's install.
  const rotation = await installPackage(await pkg('b2-rotate.pkg', dev, 2, srvB, srvA.pubPath), dev, srvB.pubPath, TEE);
  assert.equal(rotation.package_version, 2);
  assert.equal((await deviceStatus(dev, TEE)).status.server_key_id, srvA.keyId);
  const b3 = await pkg('b3.pkg', dev, 3, srvB);
  await refusedUnchanged(dev, () => installPackage(b3, dev, srvB.pubPath, TEE), new RegExp(`this device trusts server key ${srvA.keyId} only`));
  const a3 = await installPackage(await pkg('a3.pkg', dev, 3, srvA), dev, srvA.pubPath, TEE);
  assert.equal(a3.server_key_id, srvA.keyId);
  // device init --trust provisions in the same step.
  const dev2 = (await initDevice(join(dir, 'devT2'), { ...TEE, trust: srvA.pubPath })).dir;
  assert.equal((await deviceStatus(dev2, TEE)).status.server_key_id, srvA.keyId);
});

test('model versions are never issued twice: after a discard the next install gets a new number, and the discarded version\'s saved copy is refused', async () => {
  const dev = (await initDevice(join(dir, 'devV'), { ...TEE, trust: srvA.pubPath })).dir;
  const first = await installPackage(await pkg('v10.pkg', dev, 10, srvA), dev, srvA.pubPath, TEE);
  assert.equal(first.version, 1);
  const p11 = await pkg('v11.pkg', dev, 11, srvA);
  // Straight to the TA: install package 11 (model version 2), keep a copy of its sealed blob, discard it.
  const keep = join(dir, 'model-2.sealed.copy');
  const ctx = await initializeContext({ storageDir: join(dev, 'tee'), kernels: taKernels });
  try {
    const s = await ctx.openSession(TA_UUID);
    const bytes = await readFile(p11);
    const parts = splitContainer(bytes, 'p11', 'package');
    const m = JSON.parse(Buffer.from(parts.manifestBytes).toString('utf8')) as { protected: { offset: number; bytes: number } };
    const prot = parts.payload.subarray(m.protected.offset, m.protected.offset + m.protected.bytes);
    const op = await s.invokeCommand(CMD_INSTALL_ENCRYPTED, {
      paramTypes: paramTypes(MIN, MIN, MIN, VOUT),
      params: [{ tmpref: { buffer: parts.signed, size: parts.signed.length } }, { tmpref: { buffer: parts.signature, size: 64 } }, { tmpref: { buffer: prot, size: prot.length } }, { value: { a: 0, b: 0 } }],
    });
    assert.equal(op.params![3]!.value!.a, 2, 'package 11 sealed as model version 2');
    await copyFile(join(dev, 'tee', 'model-2.sealed'), keep);
    await s.invokeCommand(CMD_SEAL_PROTECTED, { paramTypes: paramTypes(VIN), params: [{ value: { a: SEAL_DISCARD, b: 2 } }] });
    // The saved copy put back while the device is still at version 1: newer than the counter, yet refused.
    await copyFile(keep, join(dev, 'tee', 'model-2.sealed'));
    await assert.rejects(s.invokeCommand(CMD_SEAL_PROTECTED, { paramTypes: paramTypes(VIN), params: [{ value: { a: SEAL_COMMIT, b: 2 } }] }), (e: unknown) => {
      assert.ok(e instanceof TeecError);
      assert.equal(e.code >>> 0, TEE_ERROR_SECURITY >>> 0);
      assert.match(e.message, /model version 2 was discarded/);
      return true;
    });
    await s.closeSession();
  } finally {
    await ctx.finalizeContext();
  }
  // A later install: version 3, not 2 again.
  const later = await installPackage(await pkg('v12.pkg', dev, 12, srvA), dev, srvA.pubPath, TEE);
  assert.equal(later.version, 3, 'the discarded number is not reused');
  assert.equal((await deviceStatus(dev, TEE)).status.issued_version, 3);
  // The discarded version's package is refused (older than the installed one) …
  await refusedUnchanged(dev, () => installPackage(p11, dev, srvA.pubPath, TEE), /not newer than the installed version 12: rollback refused/);
  // … and its saved sealed copy, put back, does not open: the TA refuses to commit it.
  await copyFile(keep, join(dev, 'tee', 'model-2.sealed'));
  const ctx2 = await initializeContext({ storageDir: join(dev, 'tee'), kernels: taKernels });
  try {
    const s = await ctx2.openSession(TA_UUID);
    await assert.rejects(s.invokeCommand(CMD_SEAL_PROTECTED, { paramTypes: paramTypes(VIN), params: [{ value: { a: SEAL_COMMIT, b: 2 } }] }), (e: unknown) => {
      assert.ok(e instanceof TeecError);
      assert.equal(e.code >>> 0, TEE_ERROR_SECURITY >>> 0);
      assert.match(e.message, /older than the device's current version 3|was discarded/);
      return true;
    });
    await s.closeSession();
  } finally {
    await ctx2.finalizeContext();
  }
  assert.equal((await deviceStatus(dev, TEE)).status.model_version, 3);
});
