// Secure deployment: package → install → predict equals the unprotected model; every tampered,
// truncated, foreign, wrongly signed or older package is refused and changes nothing installed; the
// TA checks on its own; replayed sealed blobs are refused; a crash at any save step leaves a usable
// model; export → import round-trips; and no protected weight appears in any file the normal world
// writes or any frame it exchanges with the TA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchLoader } from '../src/data/batches.js';
import { loadData } from '../src/data/load.js';
import type { DataSource } from '../src/data/types.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { loadModel, saveModel } from '../src/nn/model.js';
import { Network } from '../src/nn/network.js';
import { predict, train } from '../src/nn/train.js';
import { loadWeightsFile } from '../src/nn/weights.js';
import {
  createPackage, DeployError, deviceStatus, exportModel, generateServerKeys, importExport, initDevice, installPackage, openInstalled,
  SimulatedCrash, type FaultPoint,
} from '../src/deploy/index.js';
import { initializeContext, TeecError, type TeecContext, type TranscriptEntry } from '../src/tee/client.js';
import { PartitionedNetwork } from '../src/tee/partitioned.js';
import {
  CMD_EXPORT_PARAMS_PLAINTEXT, CMD_INSTALL_ENCRYPTED, CMD_LOAD_PARAMS, CMD_UNSEAL_PROTECTED, paramTypes, TA_UUID, TEE_ERROR_ACCESS_DENIED,
  TEE_ERROR_SECURITY, TEEC_MEMREF_TEMP_INPUT as MIN, TEEC_MEMREF_TEMP_OUTPUT as MOUT, TEEC_VALUE_INPUT as VIN, TEEC_VALUE_OUTPUT as VOUT,
} from '../src/tee/shared/protocol.js';
import { sha256, splitContainer, weightsLayerBytes } from '../src/tee/shared/container.js';
import { deriveTsk, SealError, sealBytes, unsealBytes } from '../src/tee/ta/sealing.js';

const CFG = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const kernels = getKernels();
const taKernels = kernels.name === 'reference' ? 'reference' as const : 'auto' as const;
const TEE = { tee: { kernels: taKernels } };
/** VGG-7: 0-1 conv, 2 max, 3-4 conv, 5 max, 6-7 conv, 8 max, 9 FC-64, 10 dropout, 11 FC-10, 12 softmax, 13 cost. */
const LAST5: [number, number] = [9, 13];
const MIDDLE: [number, number] = [6, 9];
const N_PRED = 60;

let dir = '';
let W = '';
let cfgText = '';
let data: DataSource;
let srvA: { keyPath: string; pubPath: string };
let srvB: { keyPath: string; pubPath: string };
let D1 = '';
let D2 = '';
/** Top-1 classes and probabilities of the unprotected model on the first N_PRED test images. */
let reference: { top: number; probs: number[] }[] = [];

function image(i: number): Float32Array {
  const ds = data.test;
  const img = new Float32Array(ds.channels * ds.height * ds.width);
  new BatchLoader(ds).fill(i, 1, img, new Uint8Array(1));
  return img;
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-deploy-'));
  cfgText = await readFile(CFG, 'utf8');
  data = await loadData('embedded', { trainLimit: 1000, testLimit: 100 });
  // A quickly trained VGG-7 (one epoch on 1000 images): its predictions differ from image to image.
  const net = new Network(parseCfg(cfgText, CFG), { kernels, seed: 3 });
  const all = Uint32Array.from({ length: data.train.count }, (_, i) => i);
  await train(net, data.train, all, { epochs: 1, seed: 3 });
  W = join(dir, 'vgg7.weights');
  await saveModel(net, W);
  const whole = await loadModel({ cfg: CFG, weights: W, batch: 1 });
  reference = Array.from({ length: N_PRED }, (_, i) => {
    const r = predict(whole, image(i), 1);
    return { top: r.top[0]!.class, probs: r.probs };
  });
  assert.ok(new Set(reference.map((r) => r.top)).size >= 3, 'the reference model predicts several classes');
  srvA = await generateServerKeys(join(dir, 'serverA'));
  srvB = await generateServerKeys(join(dir, 'serverB'));
  // Provisioned with server A as their trust anchor (no trust on first use: test/deploy-trust.test.ts).
  D1 = (await initDevice(join(dir, 'dev1'), { ...TEE, trust: srvA.pubPath })).dir;
  D2 = (await initDevice(join(dir, 'dev2'), { ...TEE, trust: srvA.pubPath })).dir;
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pkg(name: string, dev: string, opts: { range?: [number, number]; version: number; server?: { keyPath: string }; policy?: 'top1' | 'topk' | 'full' }): Promise<string> {
  const out = join(dir, name);
  await createPackage({
    cfg: CFG, weights: W, range: opts.range ?? LAST5, deviceCert: join(dev, 'device.cert'), signingKey: (opts.server ?? srvA).keyPath, out,
    packageVersion: opts.version, ...(opts.policy ? { policy: opts.policy } : {}),
  });
  return out;
}

/** Contents by hash of every file a snapshot has seen (restore() puts them back). */
const stash = new Map<string, Buffer>();

/** SHA-256 of every file under a folder (relative path → hex). */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const bytes = await readFile(p);
        const h = createHash('sha256').update(bytes).digest('hex');
        stash.set(h, bytes);
        out.set(relative(root, p), h);
      }
    }
  };
  await walk(root);
  return out;
}

async function files(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk(root);
  return out;
}

async function devicePredictions(dev: string, n = N_PRED): Promise<{ top: number; probs: number[] }[]> {
  const m = await openInstalled(dev, { ...TEE, mode: 'infer', batch: 1 });
  try {
    const out = [];
    for (let i = 0; i < n; i++) {
      const r = await m.net.predictImage(image(i), 1);
      out.push({ top: r.top[0]!.class, probs: r.probs });
    }
    return out;
  } finally {
    await m.close();
  }
}

/** A rejection: a DeployError whose message is one line and matches. */
function refused(re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof DeployError, `expected a DeployError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message, re);
    return true;
  };
}

function teeCode(code: number): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof TeecError, `expected a TeecError, got ${String(e)}`);
    assert.equal(e.code >>> 0, code >>> 0, e.message);
    return true;
  };
}

// ---------------------------------------------------------------------------------------------

test('formats: layer sizes from the cfg match the network; sealed objects refuse every altered byte', async () => {
  for (const name of ['vgg7-mnist.cfg', 'vgg7-cifar10.cfg', 'lenet-mnist.cfg']) {
    const path = fileURLToPath(new URL(`../../cfg/${name}`, import.meta.url));
    const config = parseCfg(await readFile(path, 'utf8'), path);
    const sizes = weightsLayerBytes(config);
    const net = new Network(config, { kernels, seed: 1, maxBatch: 1 });
    const want = net.weightsLayers().map((l) => [l.index!, 4 * (l.biases.length + l.weights.length + (l.scales ? 3 * l.scales.length : 0))]);
    assert.deepEqual([...sizes.entries()].map(([i, s]) => [i, s.bytes]), want, name);
  }
  const key = deriveTsk(Buffer.alloc(32, 7));
  assert.notDeepEqual(key, deriveTsk(Buffer.alloc(32, 8)), 'another HUK, another key');
  assert.notDeepEqual(key, deriveTsk(Buffer.alloc(32, 7), '00000000-0000-0000-0000-000000000000'), 'another TA, another key');
  const secret = Buffer.from('protected layer bytes'.repeat(4));
  const blob = sealBytes(key, { object: 'model-1', version: 1 }, secret);
  assert.deepEqual(unsealBytes(key, blob, 'model-1').plaintext, secret);
  assert.ok(!blob.includes(secret.subarray(0, 16)), 'the plaintext is not in the sealed bytes');
  for (let i = 0; i < blob.length; i++) {
    const bad = Buffer.from(blob);
    bad[i]! ^= 0x01;
    assert.throws(() => unsealBytes(key, bad, 'model-1'), (e: unknown) => e instanceof SealError || e instanceof SyntaxError, `byte ${i}`);
  }
  assert.throws(() => unsealBytes(key, blob, 'model-2'), /holds model-1/);
  assert.throws(() => unsealBytes(deriveTsk(Buffer.alloc(32, 8)), blob, 'model-1'), /fails authentication/);
});

test('round trip: package → install → predict gives the unprotected model\'s predictions', async () => {
  const p = await pkg('last5.pkg', D1, { version: 10 });
  const r = await installPackage(p, D1, srvA.pubPath, TEE);
  assert.equal(r.version, 1);
  assert.equal(r.package_version, 10);
  assert.deepEqual([r.partition.start, r.partition.end], LAST5);
  const got = await devicePredictions(D1);
  assert.deepEqual(got.map((g) => g.top), reference.map((r) => r.top), 'top-1 classes');
  assert.ok(got.every((g) => g.probs.length === 0), 'policy top1: no scores leave the TEE');
  // A range in the middle (the suffix runs in the normal world): the whole probability vectors agree.
  const q = await pkg('middle.pkg', D2, { version: 10, range: MIDDLE });
  await installPackage(q, D2, srvA.pubPath, TEE);
  const mid = await devicePredictions(D2, 20);
  mid.forEach((g, i) => {
    assert.equal(g.top, reference[i]!.top, `image ${i}`);
    g.probs.forEach((x, c) => assert.ok(Math.abs(x - reference[i]!.probs[c]!) < 1e-6, `image ${i} class ${c}: ${x} vs ${reference[i]!.probs[c]}`));
  });
});

test('tampered, truncated, foreign, wrongly signed and older packages are refused; nothing installed changes', async () => {
  const good = await readFile(await pkg('tamper.pkg', D1, { version: 20 }));
  const parts = splitContainer(good, 'p', 'package');
  const M = parts.header.manifestBytes;
  const manifest = JSON.parse(Buffer.from(parts.manifestBytes).toString('utf8')) as { clear: { bytes: number; layers: { offset: number; bytes: number }[] }; protected: { bytes: number } };
  const clear0 = 32 + M;
  const prot0 = clear0 + manifest.clear.bytes;
  const sig0 = prot0 + manifest.protected.bytes;
  assert.equal(sig0 + 64, good.length);
  const positions: [string, number][] = [
    ...[0, 7, 8, 10, 12, 15, 16, 23, 24, 28, 31].map((o): [string, number] => ['header', o]),
    ...[0, 1, Math.floor(M / 3), Math.floor(M / 2), M - 2, M - 1].map((o): [string, number] => ['manifest', 32 + o]),
    ...[0, 12, 19, 20, manifest.clear.layers[1]!.offset + 3, Math.floor(manifest.clear.bytes / 2), manifest.clear.bytes - 1].map((o): [string, number] => ['clear layers', clear0 + o]),
    ...[0, 31, 32, 100, Math.floor(manifest.protected.bytes / 2), manifest.protected.bytes - 17, manifest.protected.bytes - 1].map((o): [string, number] => ['encrypted layers', prot0 + o]),
    ...[0, 1, 31, 32, 63].map((o): [string, number] => ['signature', sig0 + o]),
  ];
  const before = await snapshot(D1);
  const bad = join(dir, 'bad.pkg');
  const tries: [string, Buffer, RegExp, string?][] = [];
  for (const [section, o] of positions) {
    const b = Buffer.from(good);
    b[o]! ^= 0x10;
    tries.push([`${section} byte ${o}`, b, /bad magic|format|not a layerlock|corrupted header|truncated|unexpected bytes|signature does not verify|SHA-256 mismatch/]);
  }
  for (const cut of [0, 10, 31, 32 + Math.floor(M / 2), clear0 + 100, prot0 + 50, good.length - 1]) {
    tries.push([`truncated to ${cut} bytes`, good.subarray(0, cut), /truncated/]);
  }
  tries.push(['one byte appended', Buffer.concat([good, Buffer.of(0)]), /unexpected bytes after the signature/]);
  tries.push(['for another device', await readFile(await pkg('other.pkg', D2, { version: 21 })), /is for device [0-9a-f]{32}, this is device/]);
  tries.push(['wrong server key', good, /signature does not verify with the trusted server key/, srvB.pubPath]);
  tries.push(['signed by another server', await readFile(await pkg('serverB.pkg', D1, { version: 22, server: srvB })), /signature does not verify with the trusted server key/]);
  tries.push(['the private key as trust', good, /server PRIVATE key/, srvA.keyPath]);
  tries.push(['an older package version', await readFile(await pkg('older.pkg', D1, { version: 9 })), /package version 9, not newer than the installed version 10: rollback refused/]);
  tries.push(['the same package version', await readFile(await pkg('same.pkg', D1, { version: 10 })), /package version 10, not newer than the installed version 10/]);
  for (const [what, bytes, re, trust] of tries) {
    await writeFile(bad, bytes);
    await assert.rejects(installPackage(bad, D1, trust ?? srvA.pubPath, TEE), refused(re), what);
  }
  assert.deepEqual(await snapshot(D1), before, 'the device folder is unchanged, byte for byte');
  // The untampered package still installs.
  const r = await installPackage(await pkg('tamper-ok.pkg', D1, { version: 20 }), D1, srvA.pubPath, TEE);
  assert.equal(r.package_version, 20);
  assert.deepEqual((await devicePredictions(D1, 10)).map((g) => g.top), reference.slice(0, 10).map((r) => r.top));
});

test('the TA checks on its own: with the normal world\'s checks bypassed it still refuses, and writes nothing', async () => {
  const ctx = await initializeContext({ storageDir: join(D1, 'tee'), kernels: taKernels });
  const before = await snapshot(D1);
  try {
    const s = await ctx.openSession(TA_UUID);
    const install = async (bytes: Uint8Array, layout: Uint8Array = bytes): Promise<void> => {
      const parts = splitContainer(bytes, 'p', 'package');
      const m = JSON.parse(Buffer.from(splitContainer(layout, 'p', 'package').manifestBytes).toString('utf8')) as { protected: { offset: number; bytes: number } };
      const prot = parts.payload.subarray(m.protected.offset, m.protected.offset + m.protected.bytes);
      await s.invokeCommand(CMD_INSTALL_ENCRYPTED, {
        paramTypes: paramTypes(MIN, MIN, MIN, VOUT),
        params: [{ tmpref: { buffer: parts.signed, size: parts.signed.length } }, { tmpref: { buffer: parts.signature, size: 64 } }, { tmpref: { buffer: prot, size: prot.length } }, { value: { a: 0, b: 0 } }],
      });
    };
    const other = await readFile(await pkg('ta-other.pkg', D2, { version: 30 }));
    await assert.rejects(install(other), (e) => teeCode(TEE_ERROR_SECURITY)(e) && /is for device/.test((e as Error).message));
    const good = await readFile(await pkg('ta-good.pkg', D1, { version: 30 }));
    const flipped = Buffer.from(good);
    flipped[good.length - 64 - 40]! ^= 1; // inside the last encrypted layer
    await assert.rejects(install(flipped), (e) => teeCode(TEE_ERROR_SECURITY)(e) && /SHA-256 mismatch/.test((e as Error).message));
    const resigned = Buffer.from(good);
    resigned[40]! ^= 1; // the manifest, signature now wrong
    await assert.rejects(install(resigned, good), (e) => teeCode(TEE_ERROR_SECURITY)(e) && /signature does not verify/.test((e as Error).message));
    const older = await readFile(await pkg('ta-older.pkg', D1, { version: 19 }));
    await assert.rejects(install(older), (e) => teeCode(TEE_ERROR_SECURITY)(e) && /not newer than the installed package version 20/.test((e as Error).message));
    const foreign = await readFile(await pkg('ta-serverB.pkg', D1, { version: 31, server: srvB }));
    await assert.rejects(install(foreign), (e) => teeCode(TEE_ERROR_SECURITY)(e) && /this device trusts server key/.test((e as Error).message));
    await s.closeSession();
    assert.deepEqual(await snapshot(D1), before, 'the TA wrote nothing');

    // Unsealing into a session that would let more out than the package allows, or another network.
    const ptr = JSON.parse(await readFile(join(D1, 'current.json'), 'utf8')) as { version: number; clear: string };
    const clearHash = sha256(await readFile(join(D1, ptr.clear)));
    const unseal = async (opts: { policy?: 'top1' | 'full'; range?: [number, number]; plaintext?: boolean }): Promise<PartitionedNetwork> => {
      const pn = await PartitionedNetwork.open({ cfg: { text: cfgText, file: CFG }, range: opts.range ?? LAST5, mode: 'infer', policy: opts.policy ?? 'top1', allowPlaintextExport: opts.plaintext ?? false, context: ctx, batch: 1 });
      const out = Buffer.alloc(4096);
      try {
        await pn.invokeCommand(CMD_UNSEAL_PROTECTED, { paramTypes: paramTypes(VIN, MIN, MOUT), params: [{ value: { a: ptr.version, b: 0 } }, { tmpref: { buffer: clearHash, size: 32 } }, { tmpref: { buffer: out, size: out.length } }] });
      } catch (e) {
        await pn.close();
        throw e;
      }
      return pn;
    };
    await assert.rejects(unseal({ policy: 'full' }), (e) => teeCode(TEE_ERROR_ACCESS_DENIED)(e) && /package allows output top1/.test((e as Error).message));
    await assert.rejects(unseal({ plaintext: true }), (e) => teeCode(TEE_ERROR_ACCESS_DENIED)(e) && /never exported in plaintext/.test((e as Error).message));
    await assert.rejects(unseal({ range: [8, 13] }), (e) => teeCode(TEE_ERROR_ACCESS_DENIED)(e) && /protects layers 9:13/.test((e as Error).message));
    const pn = await unseal({});
    try {
      await assert.rejects(pn.invokeCommand(CMD_EXPORT_PARAMS_PLAINTEXT, { paramTypes: paramTypes(MOUT), params: [{ tmpref: { buffer: Buffer.alloc(1 << 20), size: 1 << 20 } }] }), teeCode(TEE_ERROR_ACCESS_DENIED));
      await assert.rejects(pn.invokeCommand(CMD_LOAD_PARAMS, { paramTypes: paramTypes(MIN), params: [{ tmpref: { buffer: Buffer.alloc(16), size: 16 } }] }), teeCode(TEE_ERROR_ACCESS_DENIED));
    } finally {
      await pn.close();
    }
  } finally {
    await ctx.finalizeContext();
  }
  // Exports go only to the server the package came from.
  await assert.rejects(exportModel(D1, srvB.pubPath, join(dir, 'toB.lle'), TEE), refused(/exports go only to that server/));
  assert.deepEqual(await snapshot(D1), before);
});

test('anti-rollback: a replayed older sealed blob or pointer is refused', async () => {
  // D1 is at some version v (package 20). Keep a copy of its current files, install package 40.
  const old = JSON.parse(await readFile(join(D1, 'current.json'), 'utf8')) as { version: number; cfg: string; clear: string };
  const keep = join(dir, 'replay');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(keep, { recursive: true });
  const saved = ['current.json', old.cfg, old.clear, `tee/model-${old.version}.sealed`];
  for (const f of saved) await copyFile(join(D1, f), join(keep, f.replace(/\//g, '_')));
  const r = await installPackage(await pkg('newer.pkg', D1, { version: 40 }), D1, srvA.pubPath, TEE);
  assert.ok(r.version > old.version);
  assert.deepEqual((await deviceStatus(D1, TEE)).status.sealed_versions, [r.version], 'older sealed versions are deleted at commit');
  const current = await snapshot(D1);
  // 1. The attacker puts the old sealed blob and the old normal-world files back, and the old pointer.
  for (const f of saved) await copyFile(join(keep, f.replace(/\//g, '_')), join(D1, f));
  await unchangedBy(() => assert.rejects(devicePredictions(D1, 1), refused(new RegExp(`sealed model version ${old.version} is older than the device's current version ${r.version}: rollback refused`))));
  // 2. The old blob copied over the current one's name (everything else current).
  await restore(D1, current, []);
  await copyFile(join(keep, `tee_model-${old.version}.sealed`), join(D1, `tee/model-${r.version}.sealed`));
  await unchangedBy(() => assert.rejects(devicePredictions(D1, 1), refused(/holds model-\d+ \(a sealed file was copied over another\)/)));
  // 3. The normal world's layers swapped for other ones.
  await restore(D1, current, []);
  const ptr = JSON.parse(await readFile(join(D1, 'current.json'), 'utf8')) as { clear: string; clear_sha256: string };
  const clearPath = join(D1, ptr.clear);
  const bytes = await readFile(clearPath);
  bytes[100]! ^= 1;
  await writeFile(clearPath, bytes);
  await unchangedBy(() => assert.rejects(devicePredictions(D1, 1), refused(/was altered/)));
  // 4. The anti-rollback state deleted; or the keys deleted to re-initialise (and reset that state).
  await restore(D1, current, []);
  await rm(join(D1, 'tee', 'rpmb.sealed'));
  await unchangedBy(() => assert.rejects(devicePredictions(D1, 1), refused(/anti-rollback state \(rpmb.sealed\) is missing/)));
  await restore(D1, current, []);
  await rm(join(D1, 'tee', 'device-keys.sealed'));
  await unchangedBy(() => assert.rejects(initDevice(D1, TEE), refused(/holds the state and models of an earlier device identity/)));
  // Repaired, the current version works again.
  await restore(D1, current, []);
  assert.deepEqual((await devicePredictions(D1, 5)).map((g) => g.top), reference.slice(0, 5).map((r) => r.top));
});

/** Runs a refused operation and checks it changed no file of D1. */
async function unchangedBy(fn: () => Promise<void>): Promise<void> {
  const before = await snapshot(D1);
  await fn();
  assert.deepEqual(await snapshot(D1), before, 'a refused operation changes nothing');
}

/** Puts back the files of an earlier snapshot (contents from the stash), except `skip`; removes newer files. */
async function restore(dev: string, snap: Map<string, string>, skip: string[]): Promise<void> {
  const now = await snapshot(dev);
  for (const [f] of now) if (!snap.has(f) && !skip.includes(f)) await rm(join(dev, f));
  for (const [f, h] of snap) {
    if (skip.includes(f) || now.get(f) === h) continue;
    const bytes = stash.get(h);
    assert.ok(bytes, `no copy of ${f}`);
    await writeFile(join(dev, f), bytes);
  }
}

async function fineTune(dev: string, fault?: FaultPoint, opts: { onContext?: (c: TeecContext) => void; transcript?: boolean } = {}): Promise<number> {
  const m = await openInstalled(dev, { tee: { kernels: taKernels, transcript: opts.transcript ?? false }, mode: 'train', seed: 5, ...(opts.onContext ? { onContext: opts.onContext } : {}), ...(fault ? { fault: (p: FaultPoint) => { if (p === fault) throw new SimulatedCrash(p); } } : {}) });
  try {
    const S = Uint32Array.from({ length: 256 }, (_, i) => i);
    await train(m.net, data.train, S, { epochs: 1, seed: 5 });
    return (await m.save()).version;
  } finally {
    await m.close();
  }
}

test('fine-tuning re-seals atomically: a crash at any save step leaves a usable model', async () => {
  const start = JSON.parse(await readFile(join(D1, 'current.json'), 'utf8')) as { version: number };
  const before = await devicePredictions(D1, 20);
  for (const point of ['after-seal', 'after-files'] as const) {
    await assert.rejects(fineTune(D1, point), (e) => e instanceof SimulatedCrash);
    const now = JSON.parse(await readFile(join(D1, 'current.json'), 'utf8')) as { version: number };
    assert.equal(now.version, start.version, `crash ${point}: the previous version is still current`);
    assert.deepEqual(await devicePredictions(D1, 20), before, `crash ${point}: the previous model, unchanged`);
  }
  // A crash after the pointer flip: the new version is current and the TA commits it when it is next unsealed.
  await assert.rejects(fineTune(D1, 'after-flip'), (e) => e instanceof SimulatedCrash);
  const flipped = JSON.parse(await readFile(join(D1, 'current.json'), 'utf8')) as { version: number };
  assert.ok(flipped.version > start.version);
  assert.equal((await deviceStatus(D1, TEE)).status.model_version, start.version, 'not committed yet');
  const tuned = await devicePredictions(D1, 20);
  assert.equal((await deviceStatus(D1, TEE)).status.model_version, flipped.version, 'committed when unsealed');
  assert.notDeepEqual(tuned.map((t) => t.top), [], 'predicts');
  // A clean fine-tune afterwards: one sealed version, one set of normal-world files, none of the orphans.
  const v = await fineTune(D1);
  const st = (await deviceStatus(D1, TEE)).status;
  assert.equal(st.model_version, v);
  assert.deepEqual(st.sealed_versions, [v]);
  assert.deepEqual((await readdir(join(D1, 'model'))).sort(), [`v${v}.cfg`, `v${v}.weights`]);
});

/** 16-byte windows (four consecutive float32) of protected weights, found at any byte alignment. */
class Needles {
  private readonly byFirst = new Map<number, Uint32Array[]>();
  count = 0;

  add(a: Float32Array): void {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    for (let i = 0; i + 3 < a.length; i++) {
      if (![0, 1, 2, 3].every((k) => distinctive(a[i + k]!))) continue;
      let l = this.byFirst.get(u[i]!);
      if (!l) this.byFirst.set(u[i]!, (l = []));
      l.push(u.slice(i + 1, i + 4));
      this.count++;
    }
  }

  find(buf: Uint8Array): number {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    let hits = 0;
    for (let o = 0; o + 16 <= b.length; o++) {
      const l = this.byFirst.get(b.readUInt32LE(o));
      if (l && l.some((r) => r[0] === b.readUInt32LE(o + 4) && r[1] === b.readUInt32LE(o + 8) && r[2] === b.readUInt32LE(o + 12))) hits++;
    }
    return hits;
  }
}

function distinctive(x: number): boolean {
  return Number.isFinite(x) && Math.abs(x) > 1e-30 && !(Number.isInteger(x) && Math.abs(x) <= 256);
}

async function protectedNeedles(weights: string, needles: Needles): Promise<void> {
  const net = new Network(parseCfg(cfgText, CFG), { kernels, seed: 1, maxBatch: 1 });
  await loadWeightsFile(weights, net.weightsLayers());
  for (const l of net.weightsLayers()) {
    if (l.index! < LAST5[0] || l.index! > LAST5[1]) continue;
    needles.add(l.weights);
    needles.add(l.biases);
  }
}

test('no protected weight in any file the device writes or any frame it exchanges with the TA; export → import round-trips', async () => {
  const D3 = (await initDevice(join(dir, 'dev3'), { ...TEE, trust: srvA.pubPath })).dir;
  const frames: TranscriptEntry[][] = [];
  const watch = { tee: { kernels: taKernels, transcript: true }, onContext: (c: TeecContext) => frames.push(c.transcript) };
  const p = await pkg('scan.pkg', D3, { version: 50 });
  await installPackage(p, D3, srvA.pubPath, watch);
  // Right after install, the export carries exactly the packaged model.
  const e1 = join(dir, 'scan-1.lle');
  await exportModel(D3, srvA.pubPath, e1, TEE);
  const back1 = join(dir, 'back-1.weights');
  const imp = await importExport({ file: e1, key: srvA.keyPath, deviceCert: join(D3, 'device.cert'), out: back1 });
  assert.equal(imp.model_version, 1);
  assert.deepEqual(await readFile(back1), await readFile(W), 'export → import gives back the packaged .weights byte for byte');
  // Fine-tune and predict, recording every frame.
  const v = await fineTune(D3, undefined, { transcript: true, onContext: (c) => frames.push(c.transcript) });
  const m = await openInstalled(D3, { ...watch, mode: 'infer', batch: 1 });
  const tops: number[] = [];
  try {
    for (let i = 0; i < 20; i++) tops.push((await m.net.predictImage(image(i), 1)).top[0]!.class);
  } finally {
    await m.close();
  }
  // The fine-tuned model, recovered on the server, predicts what the device predicts.
  const e2 = join(dir, 'scan-2.lle');
  await exportModel(D3, srvA.pubPath, e2, TEE);
  const back2 = join(dir, 'back-2.weights');
  assert.equal((await importExport({ file: e2, key: srvA.keyPath, deviceCert: join(D3, 'device.cert'), out: back2 })).model_version, v);
  const tunedWhole = await loadModel({ cfg: CFG, weights: back2, batch: 1 });
  assert.deepEqual(tops, Array.from({ length: 20 }, (_, i) => predict(tunedWhole, image(i), 1).top[0]!.class));
  assert.notDeepEqual(await readFile(back2), await readFile(W), 'fine-tuning changed the model');
  // The seal after fine-tuning holds the last batch's update of the protected layers (deferred into a
  // TRAIN_STEP that never came, so flushed before SEAL_PROTECTED): what the server recovers is the
  // same fine-tune without a TEE, byte for byte.
  const twin = await loadModel({ cfg: CFG, weights: W, seed: 5, kernels });
  await train(twin, data.train, Uint32Array.from({ length: 256 }, (_, i) => i), { epochs: 1, seed: 5 });
  await saveModel(twin, join(dir, 'twin.weights'));
  assert.ok((await readFile(back2)).equals(await readFile(join(dir, 'twin.weights'))), 'the sealed fine-tune equals the one without the TEE');
  // Import refuses what is not for it.
  await assert.rejects(importExport({ file: e2, key: srvB.keyPath, deviceCert: join(D3, 'device.cert'), out: join(dir, 'x.weights') }), refused(/encrypted to server key/));
  await assert.rejects(importExport({ file: e2, key: srvA.keyPath, deviceCert: join(D1, 'device.cert'), out: join(dir, 'x.weights') }), refused(/signature does not verify with device/));
  const bad = Buffer.from(await readFile(e2));
  bad[bad.length - 100]! ^= 1;
  await writeFile(join(dir, 'bad.lle'), bad);
  await assert.rejects(importExport({ file: join(dir, 'bad.lle'), key: srvA.keyPath, deviceCert: join(D3, 'device.cert'), out: join(dir, 'x.weights') }), refused(/SHA-256 mismatch/));

  // The scan: the packaged protected layers and the fine-tuned ones.
  const needles = new Needles();
  await protectedNeedles(W, needles);
  await protectedNeedles(back2, needles);
  assert.ok(needles.count > 50_000, `${needles.count} windows`);
  assert.ok(needles.find(await readFile(W)) > 10_000, 'positive control: the plaintext .weights is found');
  assert.ok(needles.find(await readFile(back2)) > 10_000, 'positive control: the imported fine-tuned .weights is found');
  const scanned: string[] = [];
  for (const f of [...await files(D3), p, e1, e2]) {
    assert.equal(needles.find(await readFile(f)), 0, `protected weights in ${f}`);
    scanned.push(f);
  }
  // Positive control for frames: the development path (plain --weights) does send them to the TA.
  const dev = await initializeContext({ storageDir: join(dir, 'plain-store'), kernels: taKernels, transcript: true });
  try {
    const pn = await PartitionedNetwork.open({ cfg: { text: cfgText, file: CFG }, weights: W, range: LAST5, mode: 'infer', context: dev, batch: 1 });
    await pn.close();
    assert.ok(dev.transcript.some((fr) => needles.find(fr.bytes) > 1000), 'positive control: LOAD_PARAMS frames of plain weights are found');
  } finally {
    await dev.finalizeContext();
  }
  let frameCount = 0;
  let bytes = 0;
  for (const t of frames) {
    for (const fr of t) {
      assert.equal(needles.find(fr.bytes), 0, `protected weights in a ${fr.direction} frame (command ${fr.command})`);
      frameCount++;
      bytes += fr.bytes.length;
    }
  }
  assert.ok(frames.length >= 3 && frameCount > 20 && bytes > 100_000, `${frames.length} contexts, ${frameCount} frames, ${bytes} bytes`);
  assert.ok(scanned.some((f) => f.endsWith('.sealed')) && scanned.some((f) => f.endsWith('.weights')));
  assert.equal((await stat(join(dir, 'serverA', 'server.key'))).mode & 0o777, 0o600);
});
