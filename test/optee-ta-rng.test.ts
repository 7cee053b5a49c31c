// The OP-TEE TA's random streams (optee/ta/rng.c, issue 17 milestone 2) against the engine's: the C
// generator, Darknet's connected-layer initialiser and the dropout masks must give exactly the numbers
// of src/nn/rng.ts and the TypeScript layers, so a partitioned run in OP-TEE can be compared bit for bit
// with the all-in-REE run. The C code is built here with the host's C compiler (the same file the TA
// dev kit builds for aarch64); without a C compiler the test is skipped with a note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/nn/rng.js';
import { ConnectedLayer } from '../src/nn/layers/connected.js';
import { ConvolutionalLayer } from '../src/nn/layers/convolutional.js';
import { DropoutLayer } from '../src/nn/layers/dropout.js';
import { getKernels } from '../src/kernels/index.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-rng-'));
const exe = join(dir, 'rng_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-ffp-contract=off', '-fno-math-errno', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'rng.c'), join(TA, 'dropout.c'), join(TA, 'llmath.c'), join(TA, 'test', 'rng_dump.c'), '-lm', '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-rng.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function dump(...args: (string | number)[]): string[] {
  const r = spawnSync(exe, args.map(String), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

function f32bits(x: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x, true);
  return b.getUint32(0, true);
}

test('the C generator compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C nextU32 and uniform equal src/nn/rng.ts for several seeds and labels', { skip }, () => {
  for (const [seed, labels] of [[0, ['init', 0]], [42, ['init', 3]], [0xffffffff, ['dropout', 9, 120]], [7, ['shuffle', 2]]] as const) {
    const label = labels.join('/');
    const js = new Rng(seed, ...labels);
    const c = dump('u32', seed, label, 1000).map(Number);
    assert.deepEqual(c, Array.from({ length: 1000 }, () => js.nextU32()), `u32 seed ${seed} ${label}`);
    const js2 = new Rng(seed, ...labels);
    const cu = dump('uniform', seed, label, 1000).map(Number);
    assert.deepEqual(cu, Array.from({ length: 1000 }, () => js2.uniform()), `uniform seed ${seed} ${label}`);
  }
});

test('C connected-layer initialisation equals ConnectedLayer.initialise bit for bit', { skip }, () => {
  for (const [seed, index, inputs, outputs] of [[1, 9, 64, 10], [20190617, 10, 3136, 64], [5, 0, 7, 3]] as const) {
    const src = { file: 'test', line: 1 };
    const layer = new ConnectedLayer(index, { type: 'connected', output: outputs, activation: 'linear', batchNormalize: false, source: src }, { c: inputs, h: 1, w: 1 }, 1);
    layer.initialise(new Rng(seed, 'init', index));
    const c = dump('connected', seed, index, inputs, inputs * outputs).map(Number);
    assert.deepEqual(c, Array.from(layer.weights, f32bits), `seed ${seed} layer ${index} ${inputs}→${outputs}`);
  }
});

test('C dropout masks and scaled outputs equal DropoutLayer.forward (training) bit for bit', { skip }, () => {
  const n = 2000;
  for (const [seed, index, iteration, p] of [[7, 9, 120, 0.5], [1, 4, 0, 0.25], [99, 11, 3, 0.1]] as const) {
    const layer = new DropoutLayer(index, { type: 'dropout', probability: p, source: { file: 'test', line: 1 } }, { c: n, h: 1, w: 1 }, 1);
    const input = Float32Array.from({ length: n }, (_, i) => (i + 1) / 1000);
    layer.forward(input, 1, { train: true, truth: null, kernels: getKernels(), seed, iteration });
    const c = dump('dropout', seed, index, iteration, p, n).map((l) => l.split(' ').map(Number));
    assert.deepEqual(c.map((x) => x[0]), Array.from(layer.keep), `mask seed ${seed} layer ${index} it ${iteration}`);
    assert.deepEqual(c.map((x) => x[1]), Array.from(layer.output.subarray(0, n), f32bits), 'scaled outputs');
    // a mask that keeps everything or nothing would make the comparison weak
    const kept = c.filter((x) => x[0] === 1).length;
    assert.ok(kept > n * (1 - p) * 0.8 && kept < n * (1 - p) * 1.2, `kept ${kept} of ${n} at p=${p}`);
  }
});

/** Distance in float32 units in the last place between two bit patterns. */
function ulps(a: number, b: number): number {
  const key = (x: number): number => (x & 0x80000000 ? -(x & 0x7fffffff) : x);
  return Math.abs(key(a) - key(b));
}

test('C normal() follows rng.normal() to a double\'s last bits (own log/sin/cos, not V8\'s)', { skip }, () => {
  const js = new Rng(42, 'init', 3);
  const c = dump('normal', 42, 'init/3', 20000).map(Number);
  let worst = 0;
  for (const x of c) {
    const y = js.normal();
    worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.abs(y), 1e-300));
  }
  assert.ok(worst < 1e-12, `relative difference ${worst}`);
});

test('C convolutional initialisation equals ConvolutionalLayer.initialise (float32, all but rare 1-ulp cases)', { skip }, () => {
  let identical = 0, total = 0, worst = 0;
  for (const [seed, index, c, filters, size] of [[20190617, 0, 1, 16, 3], [20190617, 1, 16, 16, 3], [7, 6, 32, 32, 3], [3, 2, 6, 16, 5]] as const) {
    const layer = new ConvolutionalLayer(index, { type: 'convolutional', filters, size, stride: 1, padding: 1, activation: 'relu', batchNormalize: false, source: { file: 'test', line: 1 } }, { c, h: 8, w: 8 }, 1);
    layer.initialise(new Rng(seed, 'init', index));
    const out = dump('conv', seed, index, size * size * c, layer.weights.length).map(Number);
    const ts = Array.from(layer.weights, f32bits);
    for (let i = 0; i < ts.length; i++) {
      const u = ulps(out[i]!, ts[i]!);
      worst = Math.max(worst, u);
      if (u === 0) identical++;
      total++;
    }
  }
  assert.ok(worst <= 1, `a weight differs by ${worst} ulp`);
  assert.ok(identical >= total * 0.999, `${identical} of ${total} identical`);
  process.stderr.write(`optee-ta-rng: conv init ${identical} of ${total} weights bit-identical, worst ${worst} ulp\n`);
});
