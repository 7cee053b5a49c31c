// The OP-TEE TA's max-pool (optee/ta/maxpool.c, issue 17 milestone 2) against MaxpoolLayer on the
// engine's kernels: output sizes (Darknet's floor rule and PyTorch's ceil mode), outputs, argmax
// indices and the accumulated input gradient, bit for bit, for VGG-7's and LeNet's pools and random
// geometries with many ties. Built with the host's cc; skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { MaxpoolLayer } from '../src/nn/layers/maxpool.js';
import { getKernels } from '../src/kernels/index.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-maxpool-'));
const exe = join(dir, 'maxpool_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'maxpool.c'), join(TA, 'test', 'maxpool_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-maxpool.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Case { batch: number; c: number; h: number; w: number; size: number; stride: number; padding: number; ceil: boolean }

const hexBits = (a: Float32Array): string[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));
const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function compare(k: Case, values: number[]): void {
  const layer = new MaxpoolLayer(3, { type: 'maxpool', size: k.size, stride: k.stride, padding: k.padding, ...(k.ceil ? { ceilMode: true } : {}), source: { file: 'test', line: 1 } },
    { c: k.c, h: k.h, w: k.w }, k.batch);
  const inN = k.batch * k.c * k.h * k.w;
  const input = Float32Array.from({ length: inN }, (_, i) => values[i % values.length]!);
  const outN = k.batch * k.c * layer.outShape.h * layer.outShape.w;
  const delta = Float32Array.from({ length: outN }, (_, i) => values[(i * 7 + 3) % values.length]! - 0.25);
  const ctx = { train: true, truth: null, kernels: getKernels(), seed: 1, iteration: 0 };
  layer.forward(input, k.batch, ctx);
  layer.delta.set(delta);
  const inputDelta = new Float32Array(inN);
  layer.backward(input, inputDelta, k.batch, ctx);

  const stdin = [[k.batch, k.c, k.h, k.w, k.size, k.stride, k.padding, k.ceil ? 1 : 0].join(' '), ...hexBits(input), ...hexBits(delta)].join(' ');
  const r = spawnSync(exe, [], { input: `${stdin}\n`, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  const [size = '', out = '', arg = '', idelta = ''] = r.stdout.split('\n');
  const nums = (s: string): number[] => s.trim().split(' ').map(Number);
  const what = JSON.stringify(k);
  assert.deepEqual(nums(size), [layer.outShape.h, layer.outShape.w], `output size ${what}`);
  assert.deepEqual(nums(out), bitsOf(layer.output.subarray(0, outN)), `output ${what}`);
  assert.deepEqual(nums(arg), Array.from(layer.argmax.subarray(0, outN)), `argmax ${what}`);
  assert.deepEqual(nums(idelta), bitsOf(inputDelta), `input delta ${what}`);
}

/** Ceil mode can leave no output (e.g. 2×2 input, size 3, padding 1): no layer to compare there. */
function hasOutput(k: Case): boolean {
  const layer = new MaxpoolLayer(3, { type: 'maxpool', size: k.size, stride: k.stride, padding: k.padding, ...(k.ceil ? { ceilMode: true } : {}), source: { file: 'test', line: 1 } },
    { c: k.c, h: k.h, w: k.w }, k.batch);
  return layer.outShape.h >= 1 && layer.outShape.w >= 1;
}

test('the C max-pool compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C max-pool = MaxpoolLayer on VGG-7\'s and LeNet\'s geometries', { skip }, () => {
  const values = Array.from({ length: 997 }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 43758.5453 % 1));
  compare({ batch: 2, c: 32, h: 28, w: 28, size: 2, stride: 2, padding: 1, ceil: false }, values); // VGG-7 28→14
  compare({ batch: 2, c: 64, h: 7, w: 7, size: 2, stride: 2, padding: 1, ceil: false }, values); // 7→4
  compare({ batch: 3, c: 6, h: 24, w: 24, size: 2, stride: 2, padding: 0, ceil: false }, values); // LeNet
  compare({ batch: 1, c: 3, h: 7, w: 7, size: 3, stride: 2, padding: 2, ceil: true }, values); // PyTorch ceil mode
});

test('C max-pool = MaxpoolLayer on random geometries with ties', { skip }, () => {
  fc.assert(fc.property(
    fc.record({
      batch: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }),
      size: fc.integer({ min: 1, max: 4 }), stride: fc.integer({ min: 1, max: 3 }), padding: fc.integer({ min: 0, max: 4 }), ceil: fc.boolean(),
    }).filter((k) => k.h + k.padding >= k.size && k.w + k.padding >= k.size && hasOutput(k)),
    fc.array(fc.constantFrom(-1, -0.5, 0, -0, 0.5, 1, 2), { minLength: 5, maxLength: 40 }),
    (k, values) => compare(k, values),
  ), { numRuns: 80 });
});
