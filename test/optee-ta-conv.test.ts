// The OP-TEE TA's convolutional layer (optee/ta/conv.c, issue 17 milestone 2) against ConvolutionalLayer
// on the engine's reference kernels: outputs, activation gradient, weight and bias updates and input
// gradient, bit for bit, at VGG-7's and LeNet's shapes and random geometries. Built with the host's cc;
// skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ConvolutionalLayer } from '../src/nn/layers/convolutional.js';
import { referenceKernels } from '../src/kernels/reference.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-conv-'));
const exe = join(dir, 'conv_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-ffp-contract=off', '-fno-math-errno', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'conv.c'), join(TA, 'connected.c'), join(TA, 'llmath.c'), join(TA, 'test', 'conv_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-conv.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const ACTS = ['linear', 'relu', 'leaky', 'logistic'] as const;
const hex = (a: Float32Array): string[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function data(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % 100 < 5 ? 0 : (s / 2 ** 32 - 0.5) * 2;
  });
}

interface Case { n: number; c: number; h: number; w: number; filters: number; size: number; stride: number; padding: number; act: 0 | 1 | 2 | 3; frozen: boolean; wantInputDelta: boolean; seed: number }

function compare(k: Case): void {
  const layer = new ConvolutionalLayer(4, { type: 'convolutional', filters: k.filters, size: k.size, stride: k.stride, padding: k.padding, activation: ACTS[k.act], batchNormalize: false, source: { file: 'test', line: 1 } },
    { c: k.c, h: k.h, w: k.w }, k.n);
  const K = k.c * k.size * k.size;
  const inN = k.n * k.c * k.h * k.w;
  const outN = k.n * k.filters * layer.outShape.h * layer.outShape.w;
  const w = data(k.filters * K, k.seed), b = data(k.filters, k.seed + 1), wu = data(k.filters * K, k.seed + 2), bu = data(k.filters, k.seed + 3);
  const input = data(inN, k.seed + 4), delta = data(outN, k.seed + 5), inputDelta = data(inN, k.seed + 6);
  layer.weights.set(w); layer.biases.set(b); layer.weightUpdates.set(wu); layer.biasUpdates.set(bu);
  layer.frozen = k.frozen;
  const ctx = { train: true, truth: null, kernels: referenceKernels, seed: 1, iteration: 0 };
  layer.forward(input, k.n, ctx);
  layer.delta.set(delta);
  const tsInputDelta = Float32Array.from(inputDelta);
  layer.backward(input, k.wantInputDelta ? tsInputDelta : null, k.n, ctx);

  const head = [k.n, k.c, k.h, k.w, k.filters, k.size, k.stride, k.padding, k.act, k.frozen ? 1 : 0, k.wantInputDelta ? 1 : 0].join(' ');
  const r = spawnSync(exe, [], { input: [head, ...hex(w), ...hex(b), ...hex(wu), ...hex(bu), ...hex(input), ...hex(delta), ...hex(inputDelta)].join(' ') + '\n', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr);
  const [out = '', d = '', wuC = '', buC = '', idC = '', size = ''] = r.stdout.split('\n');
  const nums = (s: string): number[] => s.trim().split(' ').map(Number);
  const what = JSON.stringify(k);
  assert.deepEqual(nums(size), [layer.outShape.h, layer.outShape.w], `output size ${what}`);
  assert.deepEqual(nums(out), bits(layer.output.subarray(0, outN)), `output ${what}`);
  assert.deepEqual(nums(d), bits(layer.delta.subarray(0, outN)), `delta ${what}`);
  assert.deepEqual(nums(wuC), bits(layer.weightUpdates), `weight updates ${what}`);
  assert.deepEqual(nums(buC), bits(layer.biasUpdates), `bias updates ${what}`);
  assert.deepEqual(nums(idC), bits(tsInputDelta), `input delta ${what}`);
}

test('the C convolution compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C convolution = ConvolutionalLayer (reference kernels) at VGG-7\'s and LeNet\'s shapes', { skip }, () => {
  compare({ n: 2, c: 32, h: 7, w: 7, filters: 32, size: 3, stride: 1, padding: 1, act: 1, frozen: false, wantInputDelta: true, seed: 3 }); // VGG-7 C6
  compare({ n: 2, c: 1, h: 28, w: 28, filters: 16, size: 3, stride: 1, padding: 1, act: 1, frozen: false, wantInputDelta: false, seed: 4 }); // VGG-7 C1
  compare({ n: 2, c: 6, h: 12, w: 12, filters: 16, size: 5, stride: 1, padding: 0, act: 2, frozen: false, wantInputDelta: true, seed: 5 }); // LeNet C3
  compare({ n: 4, c: 32, h: 7, w: 7, filters: 32, size: 3, stride: 1, padding: 1, act: 3, frozen: false, wantInputDelta: true, seed: 6 }); // C6, logistic
});

test('C convolution = ConvolutionalLayer (reference kernels) for random geometries and modes', { skip }, () => {
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 1, max: 8 }), w: fc.integer({ min: 1, max: 8 }),
    filters: fc.integer({ min: 1, max: 4 }), size: fc.integer({ min: 1, max: 3 }), stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 2 }),
    act: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), frozen: fc.boolean(), wantInputDelta: fc.boolean(), seed: fc.nat(),
  }).filter((k) => k.h + 2 * k.padding >= k.size && k.w + 2 * k.padding >= k.size), (k) => compare(k)), { numRuns: 60 });
});
