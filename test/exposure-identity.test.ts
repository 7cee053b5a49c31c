// Run identity: jobs made under another identity are never reused. Each mismatch the issue names
// (code revision → engine fingerprint, instruction set, data content, the seed of a --base model)
// on a tiny network and a tiny IDX data set made here; and deleting options.json does not make
// old jobs valid again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Kernels } from '../src/kernels/types.js';
import { engineFingerprint } from '../src/exposure/fingerprint.js';
import { identityKey, identityMismatch, sameIdentity, type RunIdentity } from '../src/exposure/identity.js';
import { exposureStatus, runExposure, type ExposureRequest } from '../src/exposure/index.js';
import { encodeCheckpoint, OptionsMismatchError } from '../src/exposure/store.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { Network } from '../src/nn/network.js';
import type { JobResult } from '../src/exposure/worker.js';
import { idxImages, idxLabels, put, tempDir } from './data-fixtures.js';

const CFG = `
[net]
batch=10
height=8
width=8
channels=1
learning_rate=0.05
momentum=0.9
decay=0.0005

[convolutional]
filters=3
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output=10
activation=linear

[softmax]
`;

process.env['LAYERLOCK_THREADS'] = '1';

/** A 60-train / 20-test IDX set of 8×8 images whose class is the brightest third of the image. */
async function writeData(dir: string, tweak = 0): Promise<void> {
  const label = (n: number): number => (n * 7) % 3;
  const pixel = (n: number, i: number): number => (Math.floor(i / 22) === label(n) ? 200 : 30) + ((n * 13 + i * 5) % 40);
  const train = idxImages(60, 8, 8, pixel);
  train[16 + 5] = (train[16 + 5]! + tweak) & 0xff; // one pixel of the first image
  await put(join(dir, 'train-images-idx3-ubyte'), train);
  await put(join(dir, 'train-labels-idx1-ubyte'), idxLabels(Array.from({ length: 60 }, (_, n) => label(n))));
  await put(join(dir, 't10k-images-idx3-ubyte'), idxImages(20, 8, 8, (n, i) => pixel(n + 60, i)));
  await put(join(dir, 't10k-labels-idx1-ubyte'), idxLabels(Array.from({ length: 20 }, (_, n) => label(n + 60))));
}

async function setup(): Promise<{ root: string; data: string; cfg: string; cleanup: () => Promise<void>; req: (o: Partial<ExposureRequest>) => ExposureRequest }> {
  const { dir: root, cleanup } = await tempDir();
  const data = join(root, 'data');
  await writeData(data);
  const cfg = join(root, 'tiny.cfg');
  await writeFile(cfg, CFG);
  const req = (o: Partial<ExposureRequest>): ExposureRequest => ({
    cfg, data, split: 0.5, resize: false, epochs: 2, ftEpochs: 1, base: null, seeds: [1], metric: 'loss', jobs: 1, dir: join(root, 'run'), ...o,
  });
  return { root, data, cfg, cleanup, req };
}

async function readJob(dir: string, id: string): Promise<JobResult> {
  return JSON.parse(await readFile(join(dir, 'jobs', `${id}.json`), 'utf8')) as JobResult;
}

/** Rewrites a job file as if it had been made under another identity. */
async function forge(dir: string, id: string, change: Partial<RunIdentity>): Promise<void> {
  const j = await readJob(dir, id);
  await writeFile(join(dir, 'jobs', `${id}.json`), JSON.stringify({ ...j, identity: { ...j.identity, ...change }, scores: { ...j.scores, test: { ...j.scores.test, loss: 99 } } }));
}

function strip(doc: unknown): unknown {
  if (Array.isArray(doc)) return doc.map(strip);
  if (doc && typeof doc === 'object') {
    return Object.fromEntries(Object.entries(doc).filter(([k]) => !['seconds', 'wall_seconds', 'git_revision'].includes(k)).map(([k, v]) => [k, strip(v)]));
  }
  return doc;
}

test('identityMismatch: option vs engine fields, informational fields ignored, older identities never equal', () => {
  const a: RunIdentity = {
    layerlock_version: '0.1.0', git_revision: 'a'.repeat(40), kernels: 'native', isa: 'avx512', engine_fingerprint: 'e'.repeat(64),
    cfg: 'x.cfg', cfg_sha256: 'c'.repeat(64), data: 'mnist', data_sha256: 'd'.repeat(64), train_limit: null, test_limit: null,
    train_count: 60000, test_count: 10000, split: 0.5, resize: false, epochs: 20, ft_epochs: 20, base_sha256: null, base_seed: null,
  };
  assert.deepEqual(identityMismatch(a, { ...a, git_revision: 'b'.repeat(40), layerlock_version: '0.2.0', cfg: 'y.cfg', data: 'other' }), []);
  assert.equal(identityKey(a), identityKey({ ...a, git_revision: null }));
  const isa = identityMismatch(a, { ...a, isa: 'avx2' });
  assert.deepEqual(isa.map((m) => [m.field, m.kind]), [['isa', 'engine']]);
  assert.match(isa[0]!.message, /instruction set differs: made with avx512, this run has avx2/);
  assert.deepEqual(identityMismatch(a, { ...a, data_sha256: 'f'.repeat(64), engine_fingerprint: '0'.repeat(64) }).map((m) => m.kind), ['option', 'engine']);
  assert.notEqual(identityKey(a), identityKey({ ...a, epochs: 21 }));
  const { data_sha256: _drop, ...older } = a;
  assert.equal(sameIdentity(older, a), false, 'an identity without a field (older layerlock) is never the same');
  assert.equal(sameIdentity(null, a), false);
});

test('engine fingerprint: deterministic, and changes when a kernel changes its numbers (a code change)', async () => {
  const f = await engineFingerprint(referenceKernels);
  assert.match(f, /^[0-9a-f]{64}$/);
  assert.equal(await engineFingerprint({ ...referenceKernels }), f, 'same kernels, same fingerprint');
  // A "kernel change": the GEMM rounds its output differently by one ulp-ish step.
  const changed: Kernels = {
    ...referenceKernels,
    name: 'reference-changed',
    gemm(...args: Parameters<Kernels['gemm']>) {
      referenceKernels.gemm(...args);
      const c = args[9] as Float32Array;
      c[0] = Math.fround(c[0]! * (1 + 1e-6));
    },
  };
  assert.notEqual(await engineFingerprint(changed), f);
});

test('jobs of another engine (code revision, instruction set) are recomputed, the result equals a clean run', async () => {
  const s = await setup();
  try {
    const first = await runExposure(s.req({}));
    const dir = s.req({}).dir;
    assert.equal(first.summary.ran, 5);
    assert.doesNotMatch(JSON.stringify(first.document.options), new RegExp(s.root), 'no machine path in the results');
    assert.equal(first.document.options.data, 'data');
    // The same run again reuses everything.
    const again = await runExposure(s.req({}));
    assert.equal(again.summary.ran, 0);
    // A job computed by another revision of the kernels (other fingerprint), one on AVX2.
    await forge(dir, 's1-l0-mr', { engine_fingerprint: '0'.repeat(64) });
    await forge(dir, 's1-l2-mp', { isa: 'avx2' });
    // The read-only status sees them as stale, and no finished seed.
    const st = await exposureStatus(dir, s.cfg);
    assert.deepEqual(st.seeds, [{ seed: 1, done: 3, total: 5 }]);
    assert.deepEqual(st.stale.sort(), ['s1-l0-mr', 's1-l2-mp']);
    assert.equal(st.document, null);
    const fixed = await runExposure(s.req({}));
    assert.deepEqual(fixed.summary.stale.sort(), ['s1-l0-mr', 's1-l2-mp']);
    assert.equal(fixed.summary.ran, 2);
    assert.deepEqual(strip(fixed.document), strip(first.document));
    assert.deepEqual(strip((await exposureStatus(dir, s.cfg)).document), strip({ ...first.document, wall_seconds: 0 }));
    // A base model of another engine invalidates the base and every job made from it.
    await forge(dir, 's1-base', { engine_fingerprint: '1'.repeat(64) });
    const rebased = await runExposure(s.req({}));
    assert.equal(rebased.summary.ran, 5);
    assert.deepEqual(strip(rebased.document), strip(first.document));
  } finally {
    await s.cleanup();
  }
});

test('data content: other bytes under the same path are refused; without options.json the old jobs are not reused', async () => {
  const s = await setup();
  try {
    const dir = s.req({}).dir;
    const a = await runExposure(s.req({}));
    await writeData(s.data, 1); // one pixel of one training image
    await assert.rejects(runExposure(s.req({})), (e: Error) => e instanceof OptionsMismatchError && /--data \(contents/.test(e.message));
    await unlink(join(dir, 'options.json'));
    const b = await runExposure(s.req({}));
    assert.equal(b.summary.ran, 5, 'every job recomputed');
    assert.notEqual(b.document.options.data_sha256, a.document.options.data_sha256);
    // The same for other options once options.json is gone: --ft-epochs 2 recomputes the layer jobs.
    await unlink(join(dir, 'options.json'));
    const c = await runExposure(s.req({ ftEpochs: 2 }));
    assert.equal(c.summary.ran, 5);
    const clean = await runExposure(s.req({ ftEpochs: 2, dir: join(s.root, 'clean') }));
    assert.deepEqual(strip(c.document), strip(clean.document));
  } finally {
    await s.cleanup();
  }
});

test('--base: the seed it was trained with is part of the identity', async () => {
  const s = await setup();
  try {
    await runExposure(s.req({ dir: join(s.root, 'trained') }));
    const w = join(s.root, 'trained', 'base', 's1.weights');
    const dir = join(s.root, 'given');
    const one = await runExposure(s.req({ base: w, epochs: null, dir }));
    assert.equal(one.document.options.base_seed, 1);
    assert.equal(one.document.base.per_seed[0]!.weights, 'given (--base)');
    await assert.rejects(runExposure(s.req({ base: w, epochs: null, seeds: [2], dir })), /--seed of the --base model differs: made with 1, this run has 2/);
    // Another base file under the same name is refused too.
    const other = join(s.root, 'other.weights');
    const bytes = await readFile(w);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(other, bytes);
    await rm(w);
    await writeFile(w, bytes);
    await assert.rejects(runExposure(s.req({ base: w, epochs: null, dir })), /--base \(file contents\) differs/);
  } finally {
    await s.cleanup();
  }
});

test('--cache-mem: a run with the activation cache gives the same document as one without, and the jobs say what they cached', async () => {
  const s = await setup();
  try {
    const plain = await runExposure(s.req({ cacheBytes: 0, dir: join(s.root, 'plain') }));
    const cached = await runExposure(s.req({ cacheBytes: 2 ** 26, dir: join(s.root, 'cached') }));
    assert.deepEqual(strip(cached.document), strip(plain.document));
    const fc = await readJob(join(s.root, 'cached'), 's1-l2-mp');
    assert.ok(fc.kind === 'mp' && fc.cache !== null && fc.cache.after === 1, 'the fc job trained from the max-pool output');
    const none = await readJob(join(s.root, 'plain'), 's1-l2-mp');
    assert.ok(none.kind === 'mp' && none.cache === null);
  } finally {
    await s.cleanup();
  }
});

test('a base-training checkpoint of another identity is not resumed from', async () => {
  const s = await setup();
  try {
    const clean = await runExposure(s.req({ dir: join(s.root, 'clean') }));
    // A "finished" checkpoint (2 of 2 epochs) of a net trained differently, under another identity.
    const net = new Network(parseCfg(CFG, 'tiny.cfg'), { kernels: getKernels(), seed: 9 });
    const dir = join(s.root, 'forged');
    await mkdir(join(dir, 'base'), { recursive: true });
    await writeFile(join(dir, 'base', 's1.ckpt'), encodeCheckpoint(net, 2, { identity_key: 'another', epochs: [] }));
    const r = await runExposure(s.req({ dir }));
    assert.deepEqual(strip(r.document), strip(clean.document));
  } finally {
    await s.cleanup();
  }
});

test('a base model file that is not the one its job recorded is refused, not silently used', async () => {
  const s = await setup();
  try {
    const dir = s.req({}).dir;
    await runExposure(s.req({}));
    const w = join(dir, 'base', 's1.weights');
    const bytes = await readFile(w);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(w, bytes);
    await unlink(join(dir, 'jobs', 's1-l0-mr.json'));
    await assert.rejects(runExposure(s.req({})), /s1\.weights is not the base model its job s1-base recorded/);
  } finally {
    await s.cleanup();
  }
});
