// The exposure protocol on a tiny network: job list and seeds, Mr/Mp semantics checked bit for bit,
// the formula and aggregation, the run folder (atomic files, options check, lock, checkpoints), chart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDataset, type Dataset } from '../src/data/types.js';
import { splitST } from '../src/data/split.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { parseCfg } from '../src/nn/cfg.js';
import { Network } from '../src/nn/network.js';
import { Rng } from '../src/nn/rng.js';
import { train } from '../src/nn/train.js';
import { dependencyOf, jobCost, jobList, jobShuffleSeed, layerLabels, trainableIndices, type LayerJob } from '../src/exposure/jobs.js';
import type { RunIdentity } from '../src/exposure/identity.js';
import { fineTune, prepareFineTune, scoreModel, type ExposureData, type ModelScores } from '../src/exposure/protocol.js';
import { buildDocument, exposureOf, formatTable, generalizationError, sampleStd, toCsv, type JobResults } from '../src/exposure/results.js';
import { exposureStatistics, interval, pairedComparison } from '../src/exposure/intervals.js';
import {
  acquireLock, checkOrRecordIdentity, decodeCheckpoint, encodeCheckpoint, identityDifference, OptionsMismatchError, writeJsonAtomic,
} from '../src/exposure/store.js';
import type { BaseResult, LayerResult } from '../src/exposure/worker.js';
import { exposureChartSpec } from '../src/report/exposure-chart.js';
import { renderSvg, svgToPng } from '../src/report/charts.js';
import { toyCfg } from './cfg-fixtures.js';

// Batch norm on the first conv (its rolling statistics must stay frozen too) and dropout before the
// last layer, as in VGG-7.
const CFG = toyCfg(10);
const config = parseCfg(CFG, 'tiny.cfg');
const SEED = 7;

/** The class is which third of the image is brightest; labels of `permuted` images are shifted by one. */
function toyData(count: number, seed: number, permuted: (i: number) => boolean = () => false): Dataset {
  const rng = new Rng(seed, 'toy');
  const images = new Uint8Array(count * 36);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const y = rng.int(3);
    labels[i] = permuted(i) ? (y + 1) % 3 : y;
    for (let p = 0; p < 36; p++) {
      const bright = Math.floor((p % 6) / 2) === y;
      images[i * 36 + p] = Math.floor((bright ? 150 : 30) + rng.uniform() * 100);
    }
  }
  return makeDataset(images, labels, { channels: 1, height: 6, width: 6 }, ['a', 'b', 'c']);
}

function makeData(permuteT = false): ExposureData {
  const n = 120;
  const { S, T } = splitST(n, SEED, 0.5);
  const inT = new Set(T);
  return { train: toyData(n, 1, (i) => permuteT && inT.has(i)), test: toyData(60, 2), S, T };
}

function newNet(): Network {
  return new Network(config, { kernels: referenceKernels, seed: SEED });
}

function snapshot(net: Network): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const l of net.layers) for (const p of l.params()) m.set(`${l.index}/${p.name}`, Float32Array.from(p.data));
  return m;
}

function restore(net: Network, snap: Map<string, Float32Array>): void {
  for (const l of net.layers) for (const p of l.params()) p.data.set(snap.get(`${l.index}/${p.name}`)!);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The base model M: trained on S, as a parameter snapshot. */
let baseCache: Map<string, Float32Array> | null = null;
async function baseModel(data: ExposureData): Promise<Map<string, Float32Array>> {
  if (!baseCache) {
    const net = newNet();
    await train(net, data.train, data.S, { epochs: 6, seed: SEED });
    baseCache = snapshot(net);
  }
  return baseCache;
}

/** A network holding M's parameters with fresh optimiser state, as a worker loads it from .weights. */
async function loadM(data: ExposureData): Promise<Network> {
  const net = newNet();
  restore(net, await baseModel(data));
  return net;
}

test('job list: bases first, then per seed every trainable layer Mr and Mp, first layers first', () => {
  const jobs = jobList(config, [3, 1]);
  const layers = trainableIndices(config);
  assert.deepEqual(layers, [0, 2, 3, 5]);
  assert.deepEqual(jobs.slice(0, 2).map((j) => j.id), ['s3-base', 's1-base']);
  assert.equal(jobs.length, 2 + 2 * 2 * layers.length);
  assert.deepEqual(jobs.slice(2, 6).map((j) => j.id), ['s3-l0-mr', 's3-l0-mp', 's3-l2-mr', 's3-l2-mp']);
  assert.equal(dependencyOf(jobs[0]!), null);
  assert.equal(dependencyOf(jobs[2]!), 's3-base');
  assert.deepEqual([...layerLabels(config).values()], ['conv1', 'conv2', 'fc1', 'fc2']);
});

test('job seeds depend only on (seed, layer, Mr|Mp): not on the other seeds of the run or the job order', () => {
  const alone = jobList(config, [2]).filter((j): j is LayerJob => j.kind !== 'base');
  const together = jobList(config, [5, 2, 9]).filter((j): j is LayerJob => j.kind !== 'base' && j.seed === 2);
  assert.deepEqual(alone, together);
  const seeds = new Set(jobList(config, [1, 2]).filter((j): j is LayerJob => j.kind !== 'base').map((j) => j.shuffleSeed));
  assert.equal(seeds.size, 2 * 2 * 4, 'every job shuffles differently');
  assert.equal(jobShuffleSeed(1, 0, 'mr'), jobShuffleSeed(1, 0, 'mr'));
});

test('job cost: lower layers cost more (backward goes further down); the base costs most', () => {
  const c = { config, sCount: 60, tCount: 60, testCount: 60, epochs: 6, ftEpochs: 6, baseGiven: false };
  const jobs = jobList(config, [1]);
  const costs = jobs.map((j) => jobCost(j, c));
  const layerCosts = costs.slice(1).filter((_, i) => i % 2 === 0);
  for (let i = 1; i < layerCosts.length; i++) assert.ok(layerCosts[i]! <= layerCosts[i - 1]!);
  assert.ok(costs[0]! > costs[1]!);
  assert.ok(jobCost(jobs[0]!, { ...c, baseGiven: true }) < costs[0]!);
});

for (const kind of ['mr', 'mp'] as const) {
  test(`${kind === 'mr' ? 'Mr' : 'Mp'}: only θ_l changes, every other parameter (BN statistics included) stays bit-identical to M`, async () => {
    const data = makeData();
    const M = await baseModel(data);
    for (const layer of trainableIndices(config)) {
      const net = await loadM(data);
      await fineTune(net, data, { layer, kind, shuffleSeed: jobShuffleSeed(SEED, layer, kind) }, 2);
      const after = snapshot(net);
      for (const [key, before] of M) {
        const owner = Number(key.split('/')[0]);
        if (owner === layer) {
          if (!key.endsWith('rolling_mean') && !key.endsWith('rolling_variance')) assert.ok(!sameBits(before, after.get(key)!), `${key} was trained`);
        } else {
          assert.ok(sameBits(before, after.get(key)!), `${kind} l${layer}: ${key} must not change`);
        }
      }
    }
  });
}

test('Mr re-initialises θ_l to exactly its training-start values; Mp starts from M', async () => {
  const data = makeData();
  const initial = snapshot(newNet());
  const M = await baseModel(data);
  for (const layer of trainableIndices(config)) {
    for (const kind of ['mr', 'mp'] as const) {
      const net = await loadM(data);
      await fineTune(net, data, { layer, kind, shuffleSeed: 1 }, 0);
      const after = snapshot(net);
      const expected = kind === 'mr' ? initial : M;
      for (const l of net.layers) {
        for (const p of l.params()) {
          const key = `${l.index}/${p.name}`;
          const want = l.index === layer ? expected.get(key)! : M.get(key)!;
          assert.ok(sameBits(after.get(key)!, want), `${kind} l${layer}: ${key}`);
        }
      }
    }
  }
});

test('Mr trains θ_l on T and Mp on S: bit-identical to training only θ_l by hand on that set', async () => {
  const data = makeData();
  for (const layer of [0, 5]) {
    for (const kind of ['mr', 'mp'] as const) {
      const job = { layer, kind, shuffleSeed: jobShuffleSeed(SEED, layer, kind) };
      const viaJob = await loadM(data);
      await fineTune(viaJob, data, job, 2);
      const byHand = (set: Uint32Array): Promise<Network> => (async () => {
        const net = await loadM(data);
        if (kind === 'mr') net.reinitialiseLayer(layer);
        net.trainOnly([layer]);
        await train(net, data.train, set, { epochs: 2, seed: job.shuffleSeed });
        return net;
      })();
      const right = snapshot(await byHand(kind === 'mr' ? data.T : data.S));
      const wrong = snapshot(await byHand(kind === 'mr' ? data.S : data.T));
      const got = snapshot(viaJob);
      const key = [...got.keys()].find((k) => k.startsWith(`${layer}/weights`))!;
      assert.ok(sameBits(got.get(key)!, right.get(key)!), `${kind} l${layer} trains on ${kind === 'mr' ? 'T' : 'S'}`);
      assert.ok(!sameBits(got.get(key)!, wrong.get(key)!), 'and the check can tell the sets apart');
    }
  }
});

test('Mr fits T and Mp fits S (T labelled differently): the sets are used as the protocol says', async () => {
  const data = makeData(true);
  const net0 = newNet();
  await train(net0, data.train, data.S, { epochs: 8, seed: SEED });
  const M = snapshot(net0);
  const last = 5;
  const run = async (kind: 'mr' | 'mp'): Promise<ModelScores> => {
    const net = newNet();
    restore(net, M);
    return (await fineTune(net, data, { layer: last, kind, shuffleSeed: 3 }, 15)).scores;
  };
  const mr = await run('mr');
  const mp = await run('mp');
  assert.ok(mr.T.loss < mr.S.loss, `Mr: loss on T ${mr.T.loss} < on S ${mr.S.loss}`);
  assert.ok(mp.S.loss < mp.T.loss, `Mp: loss on S ${mp.S.loss} < on T ${mp.T.loss}`);
});

test('prepareFineTune clears θ_l momentum, restarts the schedule, freezes the rest; refuses non-trainable layers', async () => {
  const data = makeData();
  const net = newNet();
  await train(net, data.train, data.S, { epochs: 1, seed: 1 });
  assert.ok(net.updates > 0);
  prepareFineTune(net, 2, 'mp');
  assert.equal(net.updates, 0);
  for (const p of net.layer(2)!.params()) if (p.updates) assert.ok(p.updates.every((x) => x === 0));
  assert.deepEqual(net.layers.filter((l) => !l.frozen).map((l) => l.index), [2]);
  assert.throws(() => prepareFineTune(net, 1, 'mr'), /not a trainable layer/);
});

// ---- formula and aggregation ----------------------------------------------------------------------

const sc = (sLoss: number, testLoss: number, sAcc = 1, testAcc = 0.9): ModelScores => ({
  S: { loss: sLoss, acc: sAcc, n: 10 }, T: { loss: testLoss, acc: testAcc, n: 10 }, test: { loss: testLoss, acc: testAcc, n: 5 },
});

test('gen and exposure: (gen(Mp) − gen(Mr)) / gen(Mp), loss or accuracy', () => {
  assert.equal(generalizationError(sc(0.1, 0.5), 'loss'), 0.4);
  assert.ok(Math.abs(generalizationError(sc(0.1, 0.5, 0.99, 0.9), 'acc') - 0.09) < 1e-12);
  assert.equal(exposureOf(0.5, 0.125), 0.75);
  assert.equal(exposureOf(0.4, 0.4), 0);
  assert.equal(exposureOf(0.5, 0.625), -0.25);
  assert.equal(exposureOf(-0.5, -0.25), 0.5, 'the formula as defined, also for a negative gen(Mp)');
  assert.equal(exposureOf(0, 0.1), null);
  assert.equal(exposureOf(NaN, 0.1), null);
  assert.equal(sampleStd([1]), null);
  assert.ok(Math.abs(sampleStd([1, 2, 3])! - 1) < 1e-12);
});

const identity: RunIdentity = {
  layerlock_version: '0.1.0', git_revision: null, kernels: 'reference', isa: null, engine_fingerprint: 'f'.repeat(64),
  cfg: 'tiny.cfg', cfg_sha256: 'abc', data: 'embedded', data_sha256: 'd'.repeat(64), train_limit: 120, test_limit: 60,
  train_count: 120, test_count: 60, split: 0.5, resize: false, epochs: 6, ft_epochs: 2, base_sha256: null, base_seed: null,
};

function fakeResults(seeds: number[], exposures: Record<number, number[]>): JobResults {
  const r: JobResults = { base: new Map(), layers: new Map() };
  for (const [si, seed] of seeds.entries()) {
    r.base.set(seed, { id: `s${seed}-base`, kind: 'base', seed, identity, scores: sc(0.1, 0.6), epochs: [], seconds: 2, kernels: 'k', weights: 'w', weights_sha256: 'w', resumed_from_epoch: 0 } as BaseResult);
    for (const layer of trainableIndices(config)) {
      const e = exposures[layer]![si]!;
      // gen(Mp) = 0.4, gen(Mr) = 0.4 (1 − e)
      for (const [kind, gen] of [['mp', 0.4], ['mr', 0.4 * (1 - e)]] as const) {
        r.layers.set(`s${seed}-l${layer}-${kind}`, {
          id: `s${seed}-l${layer}-${kind}`, kind, seed, layer, type: layer === 5 ? 'connected' : 'convolutional', params: 10 + layer,
          shuffle_seed: 1, scores: sc(0.1, 0.1 + gen), epochs: [], seconds: 1, kernels: 'k', identity, base_weights_sha256: 'w', cache: null, cache_note: null,
        } as LayerResult);
      }
    }
  }
  return r;
}

test('document: per-layer mean ± std over seeds, per-seed details, network order, CSV and table', () => {
  const exps = { 0: [0.1, 0.3], 2: [0.2, 0.2], 3: [0.6, 0.7], 5: [0.4, 0.2] };
  const doc = buildDocument(config, { ...identity, seeds: [1, 2], metric: 'loss' }, fakeResults([1, 2], exps), 9);
  assert.deepEqual(doc.layers.map((l) => l.index), [0, 2, 3, 5]);
  assert.deepEqual(doc.layers.map((l) => l.label), ['conv1', 'conv2', 'fc1', 'fc2']);
  const l0 = doc.layers[0]!;
  assert.ok(Math.abs(l0.exposure! - 0.2) < 1e-9);
  assert.ok(Math.abs(l0.exposure_std! - Math.SQRT2 * 0.1) < 1e-9);
  assert.ok(Math.abs(l0.gen_mp - 0.4) < 1e-9);
  assert.equal(l0.per_seed.length, 2);
  assert.deepEqual(l0.per_seed.map((p) => p.seed), [1, 2]);
  assert.equal(l0.seconds, 4);
  assert.equal(doc.seconds, 2 * 2 + 4 * 4);
  assert.equal(doc.wall_seconds, 9);
  assert.equal(doc.layers[3]!.type, 'connected');
  assert.deepEqual(Object.keys(doc.base).slice(0, 3), ['S', 'T', 'test']);
  const csv = toCsv(doc).trim().split('\n');
  assert.equal(csv.length, 5);
  assert.ok(csv[0]!.startsWith('index,label,type,params,gen_mr,gen_mp,exposure,exposure_std,seeds,mr_S_loss'));
  assert.ok(csv[1]!.startsWith('0,conv1,convolutional,10,'));
  const table = formatTable(doc);
  assert.match(table, /fc2 \(5\)/);
  assert.match(table, /0\.200 ± 0\.141/);
  const one = buildDocument(config, { ...identity, seeds: [2], metric: 'loss' }, fakeResults([1, 2], exps), 1);
  assert.equal(one.layers[0]!.exposure_std, null, 'no std from one seed');
  assert.throws(() => buildDocument(config, { ...identity, seeds: [3], metric: 'loss' }, fakeResults([1], exps), 1), /s3-base has not finished/);
});

// ---- run folder -------------------------------------------------------------------------------------

test('options: a run with other options is refused, naming the option; seeds and metric may change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-exp-'));
  try {
    assert.equal((await checkOrRecordIdentity(dir, identity)).status, 'new');
    assert.equal((await checkOrRecordIdentity(dir, { ...identity, cfg: 'other.cfg', git_revision: 'abc' })).status, 'same');
    await assert.rejects(checkOrRecordIdentity(dir, { ...identity, ft_epochs: 3 }), (e: Error) => e instanceof OptionsMismatchError && /--ft-epochs differs: made with 2, this run has 3/.test(e.message));
    assert.match(identityDifference(identity, { ...identity, train_limit: null })!, /--train-limit .* 120, .* none/);
    assert.match(identityDifference(identity, { ...identity, cfg_sha256: 'x' })!, /--cfg \(file contents\)/);
    // Another engine is not refused: it becomes the folder's identity, the old one kept as history.
    const other = { ...identity, isa: 'avx2' };
    const c = await checkOrRecordIdentity(dir, other);
    assert.equal(c.status, 'engine-changed');
    assert.deepEqual(c.engine.map((m) => m.field), ['isa']);
    const file = JSON.parse(await readFile(join(dir, 'options.json'), 'utf8')) as { identity: RunIdentity; previous: RunIdentity[] };
    assert.equal(file.identity.isa, 'avx2');
    assert.equal(file.previous[0]!.isa, null);
    await writeJsonAtomic(join(dir, 'jobs', 'x.json'), { id: 'x' });
    assert.deepEqual(await readdir(join(dir, 'jobs')), ['x.json'], 'no temp file left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('lock: a live run holds the folder; a lock left by a killed run is taken over', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-exp-'));
  try {
    await writeFile(join(dir, '.lock'), `${process.ppid}\n`);
    await assert.rejects(acquireLock(dir), /in use by another layerlock exposure run/);
    await writeFile(join(dir, '.lock'), '999999999\n');
    await writeFile(join(dir, '.options.json.1.dead.tmp'), 'partial');
    const release = await acquireLock(dir);
    assert.equal((await readFile(join(dir, '.lock'), 'utf8')).trim(), String(process.pid));
    assert.deepEqual((await readdir(dir)).sort(), ['.lock'], 'stale temp files removed');
    await release();
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('base checkpoint: resuming from it continues bit-identically (momentum, schedule, dropout masks)', async () => {
  const data = makeData();
  const straight = newNet();
  await train(straight, data.train, data.S, { epochs: 4, seed: SEED });
  const first = newNet();
  let bytes: Uint8Array | null = null;
  await train(first, data.train, data.S, { epochs: 2, seed: SEED, onEpoch: (e) => { if (e.epoch === 1) bytes = encodeCheckpoint(first, 2, ['h']); } });
  // Through a Buffer at an odd offset, as readFile may hand it back.
  const buf = Buffer.alloc(bytes!.length + 1);
  buf.set(bytes!, 1);
  const resumed = newNet();
  const r = decodeCheckpoint(resumed, buf.subarray(1), 'ckpt');
  assert.deepEqual(r, { epoch: 2, history: ['h'] });
  assert.equal(resumed.updates, first.updates);
  await train(resumed, data.train, data.S, { epochs: 4, seed: SEED, startEpoch: 2 });
  const a = snapshot(straight);
  for (const [k, v] of snapshot(resumed)) assert.ok(sameBits(v, a.get(k)!), k);
  const other = new Network(parseCfg(CFG.replace('output=8', 'output=9'), 'x.cfg'), { kernels: referenceKernels, seed: SEED });
  assert.throws(() => decodeCheckpoint(other, bytes!, 'ckpt'), /not a usable checkpoint/);
});

test('scores: S, T and the test set with their sizes', async () => {
  const data = makeData();
  const s = scoreModel(await loadM(data), data);
  assert.deepEqual([s.S.n, s.T.n, s.test.n], [60, 60, 60]);
  assert.ok(s.S.acc > 0.5);
});

// ---- chart --------------------------------------------------------------------------------------------

test('chart: one line per series in layer order, error bars only with a std, SVG and PNG render headless', async () => {
  const a = { name: 'mnist', layers: [{ label: 'conv1', exposure: 0.1, std: null }, { label: 'fc1', exposure: 0.5, std: null }] };
  const b = { name: 'fashion', layers: [{ label: 'conv1', exposure: 0.2, std: 0.05 }, { label: 'fc1', exposure: null, std: null }] };
  const spec = exposureChartSpec([a]) as { layer: unknown[] };
  assert.equal(spec.layer.length, 1);
  const both = exposureChartSpec([a, b]) as { layer: unknown[]; data: { values: unknown[] } };
  assert.equal(both.layer.length, 2);
  assert.equal(both.data.values.length, 3, 'undefined exposures are left out');
  const svg = await renderSvg(exposureChartSpec([a, b]));
  assert.match(svg, /^<svg/);
  for (const t of ['conv1', 'fc1', 'mnist', 'fashion', 'exposure']) assert.ok(svg.includes(t), t);
  const png = await svgToPng(svg);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
});

// ---- intervals ------------------------------------------------------------------------------------

test('intervals: t-based 95 % CI and paired comparisons agree with a t table', () => {
  // Student t table: t(0.975, 2) = 4.303, t(0.975, 4) = 2.776.
  const i = interval([0.5, 0.6, 0.7]);
  assert.ok(Math.abs(i.mean - 0.6) < 1e-12 && Math.abs(i.sd! - 0.1) < 1e-12);
  const half = (4.303 * 0.1) / Math.sqrt(3);
  assert.ok(Math.abs(i.ci95![0] - (0.6 - half)) < 1e-4 && Math.abs(i.ci95![1] - (0.6 + half)) < 1e-4, String(i.ci95));
  assert.deepEqual(interval([0.4]), { n: 1, mean: 0.4, sd: null, ci95: null });
  // d = b − a = [1, 2, 0, 2, 2]: mean 1.4, sd √0.8, t = 3.5 on 4 df; table: 2.776 < 3.5 < 3.747
  // (two-sided 0.05 > p > 0.02); exactly p = 0.024896 (scipy.stats.t.sf(3.5, 4) · 2).
  const c = pairedComparison({ label: 'a', values: [1, 2, 3, 4, 5] }, { label: 'b', values: [2, 4, 3, 6, 7] });
  assert.ok(Math.abs(c.t! - 3.5) < 1e-12);
  assert.ok(Math.abs(c.p! - 0.024896) < 1e-5, String(c.p));
  const h = (2.776 * Math.sqrt(0.8)) / Math.sqrt(5);
  assert.ok(Math.abs(c.diff.ci95![0] - (1.4 - h)) < 1e-3 && Math.abs(c.diff.ci95![1] - (1.4 + h)) < 1e-3);
  assert.equal(c.supported, true);
  assert.equal(c.verdict, 'higher');
  // Differences of mixed sign: the interval covers 0, not supported.
  const u = pairedComparison({ label: 'a', values: [1, 2, 3] }, { label: 'b', values: [1.5, 1.5, 3.2] });
  assert.equal(u.supported, false);
  assert.equal(u.verdict, 'undecided');
  assert.equal(pairedComparison({ label: 'a', values: [1] }, { label: 'b', values: [2] }).p, null, 'one seed supports nothing');
});

test('exposure statistics: network-order and ranking comparisons, in the document and the table', () => {
  const s = exposureStatistics([1, 2, 3], [
    { label: 'conv1', values: [0.1, 0.2, 0.15] },
    { label: 'conv2', values: [0.5, 0.6, 0.55] },
    { label: 'fc1', values: [0.52, 0.58, 0.6] },
  ]);
  assert.deepEqual(s.ranking, ['fc1', 'conv2', 'conv1']);
  assert.deepEqual(s.network_order.map((c) => [c.a, c.b, c.verdict]), [['conv1', 'conv2', 'higher'], ['conv2', 'fc1', 'undecided']]);
  assert.deepEqual(s.ranking_pairs.map((c) => [c.a, c.b, c.verdict]), [['fc1', 'conv2', 'undecided'], ['conv2', 'conv1', 'lower']]);
  const exps = { 0: [0.1, 0.3, 0.2], 2: [0.2, 0.25, 0.2], 3: [0.6, 0.7, 0.65], 5: [0.4, 0.2, 0.3] };
  const doc = buildDocument(config, { ...identity, seeds: [1, 2, 3], metric: 'loss' }, fakeResults([1, 2, 3], exps), 9);
  assert.deepEqual(doc.statistics!.seeds, [1, 2, 3]);
  assert.deepEqual(doc.layers.map((l) => l.exposure_ci95 !== null), [true, true, true, true]);
  assert.match(formatTable(doc), /adjacent layers \(network order\), paired by seed:/);
  assert.match(toCsv(doc).split('\n')[0]!, /,seconds,exposure_ci95_low,exposure_ci95_high$/);
});
