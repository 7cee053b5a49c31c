// The OP-TEE TA's global average pool and dropout (optee/ta/avgpool.c, dropout.c; issue 17 milestone 2)
// against AvgpoolLayer and DropoutLayer: forward outputs, masks and the accumulated input gradients,
// bit for bit, at training and inference. Built with the host's cc; skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { AvgpoolLayer } from '../src/nn/layers/avgpool.js';
import { DropoutLayer } from '../src/nn/layers/dropout.js';
import { getKernels } from '../src/kernels/index.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-pool-dropout-'));
const exe = join(dir, 'pool_dropout_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-ffp-contract=off', '-fno-math-errno', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'rng.c'), join(TA, 'llmath.c'), join(TA, 'dropout.c'), join(TA, 'avgpool.c'), join(TA, 'test', 'pool_dropout_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-pool-dropout.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const hex = (a: Float32Array): string[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const src = { file: 'test', line: 1 };

function data(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 4;
  });
}

function run(stdin: string): string[] {
  const r = spawnSync(exe, [], { input: `${stdin}\n`, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n');
}

const nums = (s: string): number[] => s.trim().split(' ').map(Number);

test('the C pool and dropout compile', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C global average pool = AvgpoolLayer (forward, backward)', { skip }, () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.nat(),
    (n, c, h, w, seed) => {
      const layer = new AvgpoolLayer(5, { type: 'avgpool', source: src }, { c, h, w }, n);
      const input = data(n * c * h * w, seed);
      const delta = data(n * c, seed + 1);
      const inputDelta = data(n * c * h * w, seed + 2);
      const stdin = [`avgpool ${n * c} ${h * w}`, ...hex(input), ...hex(delta), ...hex(inputDelta)].join(' ');
      const ctx = { train: true, truth: null, kernels: getKernels(), seed: 1, iteration: 0 };
      layer.forward(input, n, ctx);
      layer.delta.set(delta);
      layer.backward(input, inputDelta, n);
      const [out = '', ind = ''] = run(stdin);
      assert.deepEqual(nums(out), bits(layer.output.subarray(0, n * c)));
      assert.deepEqual(nums(ind), bits(inputDelta));
    }), { numRuns: 60 });
});

test('C dropout = DropoutLayer at training and inference (outputs, mask, input gradient)', { skip }, () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.nat(), fc.integer({ min: 0, max: 30 }), fc.nat({ max: 100_000 }), fc.constantFrom(0.1, 0.25, 0.5, 0.8), fc.boolean(),
    (count, seed, index, iteration, p, train) => {
      const layer = new DropoutLayer(index, { type: 'dropout', probability: p, source: src }, { c: count, h: 1, w: 1 }, 1);
      const input = data(count, seed);
      const delta = data(count, seed + 1);
      const inputDelta = data(count, seed + 2);
      const stdin = [`dropout ${seed} ${index} ${iteration} ${p} ${count} ${train ? 1 : 0}`, ...hex(input), ...hex(delta), ...hex(inputDelta)].join(' ');
      layer.forward(input, 1, { train, truth: null, kernels: getKernels(), seed, iteration });
      layer.delta.set(delta);
      layer.backward(input, inputDelta, 1);
      const [out = '', keep = '', ind = ''] = run(stdin);
      assert.deepEqual(nums(out), bits(layer.output.subarray(0, count)));
      if (train) assert.deepEqual(nums(keep), Array.from(layer.keep.subarray(0, count)));
      assert.deepEqual(nums(ind), bits(inputDelta));
    }), { numRuns: 60 });
});
