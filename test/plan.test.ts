// The partition planner: every range it lists fits (checked against the measuring arena), the
// recommendation is the best by brute force, the no-exposure fallback is the longest fitting suffix,
// exposure results for another network are refused, the cost model's fit recovers known constants,
// and the CLI's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainingTraffic } from '../src/bench/boundary.js';
import { DEFAULT_COST, fitCostParams, predictOverhead } from '../src/bench/cost-model.js';
import { loadExposure, planPartitions } from '../src/bench/plan.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import type { NetworkConfig } from '../src/nn/config.js';
import { rangeRoles } from '../src/tee/shared/roles.js';
import { measureArena } from './measure-arena.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const CFG_PATH = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const MiB = 1 << 20;
// A made-up exposure profile shaped like the paper's (rising to the last conv, lower FC after it).
const EXPOSURE: Record<number, number> = { 0: 0.02, 1: 0.05, 3: 0.12, 4: 0.2, 6: 0.31, 7: 0.63, 9: 0.41, 11: -0.03 };
let config: NetworkConfig;
let dir = '';

test.before(async () => {
  config = parseCfg(await readFile(CFG_PATH, 'utf8'), CFG_PATH);
  dir = await mkdtemp(join(tmpdir(), 'layerlock-plan-'));
  const layers = Object.entries(EXPOSURE).map(([i, e]) => ({ index: Number(i), type: config.layers[Number(i)]!.type, label: `L${i}`, exposure: e, exposure_std: 0.01 }));
  await writeFile(join(dir, 'exposure.json'), JSON.stringify({ options: {}, layers }));
  await writeFile(join(dir, 'wrong.json'), JSON.stringify({ layers: layers.slice(1) }));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bytes by the TA's own measuring arena (not the planner's model). */
function arenaBytes(start: number, end: number, mode: 'train' | 'infer', threads: number, batch = config.net.batch): number {
  const roles = rangeRoles(config, start, end);
  return measureArena(config, { start, end, maxBatch: batch, seed: 1, mode, inputDelta: mode === 'train' && roles.trainableBelow, policy: 'top1', topk: 5, allowExport: false }, threads, getKernels()).total;
}

function validRanges(): [number, number][] {
  const out: [number, number][] = [];
  const L = config.layers.length;
  for (let a = 0; a < L; a++) for (let b = a; b < L; b++) {
    try {
      rangeRoles(config, a, b);
      out.push([a, b]);
    } catch {
      // not a partition the TEE accepts
    }
  }
  return out;
}

test('without exposure results: the ranges listed are exactly those that fit, and the longest fitting suffix is recommended', () => {
  for (const [budget, threads, mode] of [[16 * MiB, 2, 'train'], [4 * MiB, 1, 'train'], [16 * MiB, 1, 'infer']] as const) {
    const plan = planPartitions(config, 'vgg7', { secureMem: budget, mode, threads, exposure: null, cost: DEFAULT_COST });
    const fit = validRanges().filter(([a, b]) => arenaBytes(a, b, mode, threads) <= budget);
    assert.deepEqual(plan.ranges.map((r) => `${r.start}:${r.end}`).sort(), fit.map(([a, b]) => `${a}:${b}`).sort(), `${budget} ${mode}`);
    assert.equal(plan.tooBig, validRanges().length - fit.length);
    const L = config.layers.length;
    const longest = Math.min(...fit.filter(([, b]) => b === L - 1).map(([a]) => a));
    assert.deepEqual([plan.recommended?.start, plan.recommended?.end], [longest, L - 1]);
    assert.ok(arenaBytes(longest - 1, L - 1, mode, threads) > budget, 'one more layer does not fit');
    assert.match(plan.why, /longest suffix that fits/);
  }
  // VGG-7 MNIST, training at batch 128, 16 MiB: the last 9 layers (from the second max-pool), as the benchmark finds.
  const p16 = planPartitions(config, 'vgg7', { secureMem: 16 * MiB, mode: 'train', threads: 2, exposure: null, cost: DEFAULT_COST });
  assert.deepEqual([p16.recommended?.start, p16.recommended?.end], [5, 13]);
});

test('with exposure results: the recommendation protects the most exposure of all fitting ranges (brute force), ties to lower overhead', async () => {
  const exposure = await loadExposure(dir, config);
  for (const budget of [16 * MiB, 6 * MiB, 1 * MiB, 40 * MiB]) {
    const plan = planPartitions(config, 'vgg7', { secureMem: budget, mode: 'train', threads: 2, exposure, cost: DEFAULT_COST });
    const sum = (a: number, b: number): number => Object.entries(EXPOSURE).filter(([i]) => Number(i) >= a && Number(i) <= b).reduce((s, [, e]) => s + Math.max(0, e), 0);
    const fit = validRanges().filter(([a, b]) => arenaBytes(a, b, 'train', 2) <= budget);
    const best = Math.max(...fit.map(([a, b]) => sum(a, b)));
    const r = plan.recommended!;
    assert.ok(Math.abs(r.exposure! - best) < 1e-12, `${budget}: recommended ${r.start}:${r.end} protects ${r.exposure}, best is ${best}`);
    const tied = fit.filter(([a, b]) => Math.abs(sum(a, b) - best) < 1e-12).map(([a, b]) => predictOverhead(config, a, b, 'train', DEFAULT_COST).overheadPct);
    assert.ok(r.overheadPct <= Math.min(...tied) + 1e-9, 'lowest overhead among the ties');
    // Listed best first.
    for (let i = 1; i < plan.ranges.length; i++) assert.ok(plan.ranges[i - 1]!.exposure! >= plan.ranges[i]!.exposure! - 1e-12);
    assert.match(plan.why, /protects exposure/);
  }
  // At 16 MiB: the last two convolutions and the first FC (1.35); the last FC's negative exposure counts 0,
  // so the ranges up to the cost layer tie and win on overhead (one TRAIN_STEP per batch instead of
  // FORWARD + BACKWARD), which also keeps the prediction inside.
  const p16 = planPartitions(config, 'vgg7', { secureMem: 16 * MiB, mode: 'train', threads: 2, exposure, cost: DEFAULT_COST });
  assert.deepEqual([p16.recommended!.start, p16.recommended!.end], [6, 13]);
  assert.ok(Math.abs(p16.recommended!.exposure! - 1.35) < 1e-12);
  assert.ok(Math.abs(p16.recommended!.exposureRaw! - 1.32) < 1e-12);
  assert.ok(p16.recommended!.holdsOutput);
  assert.match(p16.why, /Negative exposures \(FC11 -0\.030\) count as 0/);
  assert.match(p16.why, /only top-1 labels leave the TEE/);
});

test('exposure results of another network are refused with what differs', async () => {
  await assert.rejects(loadExposure(join(dir, 'wrong.json'), config), /is for another network: it lists layers 1 convolutional, 3 convolutional/);
  await assert.rejects(loadExposure(join(dir, 'missing'), config), /no such file or folder/);
  await assert.rejects(loadExposure(join(dir, 'nope', 'exposure.json'), config), /no such file or folder/);
});

test('cost model: per-batch round trips and bytes; the fit recovers the constants that generated a benchmark', () => {
  const L = config.layers.length;
  const rt = 200e-6;
  const byte = 2e-9;
  const batches = 20;
  const base = 0.5;
  const configs = [{ k: 0, time: { mean: base * batches }, boundary: { per_batch: 0, round_trips_per_batch: 0 } }];
  for (let k = 1; k <= 9; k++) {
    const t = trainingTraffic(config, L - k, L - 1, 128, 128);
    const perBatch = t.wireToTee + t.wireFromTee;
    configs.push({ k, time: { mean: (base + t.roundTrips * rt + perBatch * byte) * batches }, boundary: { per_batch: perBatch, round_trips_per_batch: t.roundTrips } });
  }
  const fitted = fitCostParams(config, { options: { batches }, configs }, 'synthetic');
  assert.ok(Math.abs(fitted.roundTripSeconds - rt) / rt < 1e-6, `round trip ${fitted.roundTripSeconds}`);
  assert.ok(Math.abs(fitted.byteSeconds - byte) / byte < 1e-6, `byte ${fitted.byteSeconds}`);
  const p = predictOverhead(config, L - 9, L - 1, 'train', fitted);
  assert.ok(Math.abs(p.baselineSeconds - base) / base < 1e-9, `baseline ${p.baselineSeconds}`);
  const t9 = trainingTraffic(config, L - 9, L - 1, 128, 128);
  assert.ok(Math.abs(p.overheadSeconds - (t9.roundTrips * rt + (t9.wireToTee + t9.wireFromTee) * byte)) < 1e-12);
  // A slower secure world adds the range's own time.
  const slow = predictOverhead(config, L - 9, L - 1, 'train', { ...fitted, teeSlowdown: 3 });
  assert.ok(Math.abs(slow.overheadSeconds - p.overheadSeconds - 2 * slow.rangeSeconds) < 1e-12);
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('layerlock plan: table and reasons, --json, errors', async () => {
  const human = await cli(['plan', '--cfg', CFG_PATH, '--exposure', dir, '--secure-mem', '16MiB', '--threads', '2']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /ranges fit, \d+ do not, most protected exposure first/);
  assert.match(human.stdout, /^recommended: --tee-layers \d+:\d+$/m);
  assert.match(human.stdout, /^why: --tee-layers/m);
  assert.match(human.stdout, /overhead model: round trips/);
  const j = await cli(['plan', '--cfg', CFG_PATH, '--json', '--mode', 'infer', '--batch', '1', '--threads', '1']);
  assert.equal(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout) as { recommended: { tee_layers: number[] }; ranges: { memory_bytes: number; exposure: number | null }[]; exposure: unknown; per_forward: number };
  assert.equal(doc.per_forward, 1);
  assert.equal(doc.exposure, null);
  assert.deepEqual(doc.recommended.tee_layers, [0, 13], 'inference at one image: the whole network fits');
  assert.ok(doc.ranges.every((r) => r.memory_bytes <= 16 * MiB && r.exposure === null));
  const bad = await cli(['plan', '--cfg', CFG_PATH, '--mode', 'fast']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--mode must be train or infer/);
});
