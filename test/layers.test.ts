import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Activation, SourceRef } from '../src/nn/config.js';
import { ConvolutionalLayer } from '../src/nn/layers/convolutional.js';
import { ConnectedLayer } from '../src/nn/layers/connected.js';
import { MaxpoolLayer } from '../src/nn/layers/maxpool.js';
import { AvgpoolLayer } from '../src/nn/layers/avgpool.js';
import { DropoutLayer } from '../src/nn/layers/dropout.js';
import { SoftmaxLayer } from '../src/nn/layers/softmax.js';
import { CostLayer } from '../src/nn/layers/cost.js';
import { activationGradientReference, biasActivateReference } from '../src/kernels/reference.js';
import type { KernelActivation } from '../src/kernels/types.js';
import { Rng } from '../src/nn/rng.js';
import { ctx, gradCheck, linearReadout, randomArray } from './gradcheck.js';

const src: SourceRef = { file: 'test', line: 1 };
const TOL = 2e-2;

for (const bn of [false, true]) {
  for (const activation of ['linear', 'logistic'] as Activation[]) {
    test(`convolutional gradient (${activation}, batch_normalize=${bn})`, () => {
      const rng = new Rng(1, 'conv', activation, String(bn));
      const layer = new ConvolutionalLayer(0, { type: 'convolutional', filters: 3, size: 3, stride: 2, padding: 1, activation, batchNormalize: bn, source: src }, { c: 2, h: 5, w: 6 }, 3);
      layer.initialise(rng);
      if (layer.bn) layer.bn.scales.set(randomArray(3, rng));
      layer.biases.set(randomArray(3, rng, 0.3));
      const n = 3;
      const input = randomArray(n * 2 * 5 * 6, rng);
      const { loss, seed } = linearReadout(layer, input, n, rng);
      const r = gradCheck(layer, input, n, loss, seed);
      assert.ok(r.worst < TOL, r.where);
    });

    test(`connected gradient (${activation}, batch_normalize=${bn})`, () => {
      const rng = new Rng(2, 'conn', activation, String(bn));
      const layer = new ConnectedLayer(0, { type: 'connected', output: 4, activation, batchNormalize: bn, source: src }, { c: 2, h: 2, w: 2 }, 4);
      layer.initialise(rng);
      if (layer.bn) layer.bn.scales.set(randomArray(4, rng));
      layer.biases.set(randomArray(4, rng, 0.3));
      const n = 4;
      const input = randomArray(n * 8, rng);
      const { loss, seed } = linearReadout(layer, input, n, rng);
      const r = gradCheck(layer, input, n, loss, seed);
      assert.ok(r.worst < TOL, r.where);
    });
  }
}

test('frozen batch-norm layer uses rolling statistics, updates nothing, and still passes the right gradient', () => {
  const rng = new Rng(3);
  const layer = new ConvolutionalLayer(0, { type: 'convolutional', filters: 2, size: 3, stride: 1, padding: 1, activation: 'logistic', batchNormalize: true, source: src }, { c: 1, h: 4, w: 4 }, 2);
  layer.initialise(rng);
  layer.bn!.rollingMean.set([0.2, -0.1]);
  layer.bn!.rollingVariance.set([0.5, 2]);
  layer.frozen = true;
  const before = layer.params().map((p) => Float32Array.from(p.data));
  const input = randomArray(2 * 16, rng);
  const { loss, seed } = linearReadout(layer, input, 2, rng);
  const inputDelta = new Float32Array(input.length);
  loss();
  seed();
  layer.backward(input, inputDelta, 2, ctx(true));
  layer.update({ learningRate: 0.1, momentum: 0.9, decay: 0.01, batch: 2 });
  layer.params().forEach((p, i) => assert.deepEqual(p.data, before[i], `${p.name} changed`));
  // Gradient w.r.t. the input of the frozen layer by finite differences.
  const eps = 1e-2;
  for (let i = 0; i < input.length; i++) {
    const o = input[i]!;
    input[i] = o + eps; const fp = loss();
    input[i] = o - eps; const fm = loss();
    input[i] = o;
    const num = (fp - fm) / (2 * eps);
    assert.ok(Math.abs(-inputDelta[i]! - num) < 2e-2 * (1 + Math.abs(num)), `input[${i}] ${-inputDelta[i]!} vs ${num}`);
  }
});

test('maxpool gradient with Darknet geometry (28→14, 7→4)', () => {
  const rng = new Rng(4);
  const a = new MaxpoolLayer(0, { type: 'maxpool', size: 2, stride: 2, padding: 1, source: src }, { c: 1, h: 28, w: 28 }, 1);
  assert.deepEqual([a.outShape.h, a.outShape.w], [14, 14]);
  const layer = new MaxpoolLayer(0, { type: 'maxpool', size: 2, stride: 2, padding: 1, source: src }, { c: 2, h: 7, w: 7 }, 2);
  assert.deepEqual([layer.outShape.h, layer.outShape.w], [4, 4]);
  const n = 2;
  const count = n * 2 * 49;
  // Distinct, well-separated values so a finite-difference step never changes the winner.
  const perm = Array.from({ length: count }, (_, i) => i);
  rng.shuffle(perm);
  const input = Float32Array.from(perm, (v) => v * 0.1);
  const { loss, seed } = linearReadout(layer, input, n, rng);
  const r = gradCheck(layer, input, n, loss, seed);
  assert.ok(r.worst < TOL, r.where);
});

test('avgpool gradient', () => {
  const rng = new Rng(5);
  const layer = new AvgpoolLayer(0, { type: 'avgpool', source: src }, { c: 3, h: 3, w: 2 }, 2);
  const input = randomArray(2 * 18, rng);
  const { loss, seed } = linearReadout(layer, input, 2, rng);
  const r = gradCheck(layer, input, 2, loss, seed);
  assert.ok(r.worst < TOL, r.where);
});

test('dropout gradient, mask reproducible from (seed, layer, iteration), identity at inference', () => {
  const rng = new Rng(6);
  const layer = new DropoutLayer(2, { type: 'dropout', probability: 0.5, source: src }, { c: 4, h: 2, w: 2 }, 3);
  const input = randomArray(3 * 16, rng);
  const { loss, seed } = linearReadout(layer, input, 3, rng);
  const r = gradCheck(layer, input, 3, loss, seed);
  assert.ok(r.worst < TOL, r.where);
  layer.forward(input, 3, ctx(true));
  const first = Float32Array.from(layer.output);
  const dropped = first.filter((v) => v === 0).length;
  assert.ok(dropped > 10 && dropped < 38, `dropped ${dropped} of 48`);
  layer.forward(input, 3, ctx(true));
  assert.deepEqual(layer.output, first);
  layer.forward(input, 3, ctx(false));
  assert.deepEqual(layer.output.subarray(0, 48), input);
});

test('softmax sets delta to the negative cross-entropy gradient', () => {
  const rng = new Rng(7);
  const layer = new SoftmaxLayer(0, { type: 'softmax', source: src }, { c: 5, h: 1, w: 1 }, 2);
  const input = randomArray(10, rng, 3);
  const truth = new Float32Array(10);
  truth[2] = 1;
  truth[5 + 4] = 1;
  const loss = (): number => {
    layer.forward(input, 2, ctx(true, truth));
    return layer.cost;
  };
  loss();
  for (let b = 0; b < 2; b++) {
    let s = 0;
    for (let k = 0; k < 5; k++) s += layer.output[b * 5 + k]!;
    assert.ok(Math.abs(s - 1) < 1e-6);
  }
  const r = gradCheck(layer, input, 2, loss, () => {}, 1e-3);
  assert.ok(r.worst < TOL, r.where);
});

for (const costType of ['sse', 'L1', 'smooth'] as const) {
  test(`cost layer ${costType}: delta is the negative gradient of its cost`, () => {
    const rng = new Rng(8, costType);
    const layer = new CostLayer(0, { type: 'cost', costType, scale: 1, source: src }, { c: 6, h: 1, w: 1 }, 2);
    const input = randomArray(12, rng, 2);
    const truth = randomArray(12, rng, 2);
    const loss = (): number => {
      layer.forward(input, 2, ctx(true, truth));
      // Darknet reports the sse cost as the plain sum of squares; its delta is the gradient of half that.
      return costType === 'sse' ? layer.cost / 2 : layer.cost;
    };
    const r = gradCheck(layer, input, 2, loss, () => {}, 1e-3);
    assert.ok(r.worst < TOL, r.where);
  });
}

test('activation gradients match finite differences away from kinks', () => {
  for (const a of ['linear', 'relu', 'leaky', 'logistic'] as KernelActivation[]) {
    const xs = [-2.5, -0.7, -0.2, 0.3, 0.9, 3.1];
    for (const x0 of xs) {
      const f = (x: number): number => { const t = Float32Array.of(x); biasActivateReference(t, Float32Array.of(0), 1, 1, 1, a); return t[0]!; };
      const out = Float32Array.of(x0);
      biasActivateReference(out, Float32Array.of(0), 1, 1, 1, a);
      const d = Float32Array.of(1);
      activationGradientReference(a, out, d, 1);
      const num = (f(x0 + 1e-3) - f(x0 - 1e-3)) / 2e-3;
      assert.ok(Math.abs(d[0]! - num) < 1e-2, `${a} at ${x0}: ${d[0]} vs ${num}`);
    }
  }
});
