import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCfg } from '../src/nn/cfg.js';
import { Network, isTrainable } from '../src/nn/network.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { train, evaluate } from '../src/nn/train.js';
import { makeDataset } from '../src/data/types.js';
import { Rng } from '../src/nn/rng.js';
import type { Dataset } from '../src/data/types.js';
import { toyCfg } from './cfg-fixtures.js';

const CFG = toyCfg(8, '\n[cost]\ntype=sse\n');

/** A learnable toy problem: the class is which third of the image is brightest. */
function toyData(count: number, seed: number): Dataset {
  const rng = new Rng(seed, 'toy');
  const images = new Uint8Array(count * 36);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const y = rng.int(3);
    labels[i] = y;
    for (let p = 0; p < 36; p++) {
      const col = p % 6;
      const bright = Math.floor(col / 2) === y;
      images[i * 36 + p] = Math.floor((bright ? 150 : 30) + rng.uniform() * 100);
    }
  }
  return makeDataset(images, labels, { channels: 1, height: 6, width: 6 }, ['a', 'b', 'c']);
}

function makeNet(seed = 5, text = CFG): Network {
  return new Network(parseCfg(text, 'toy.cfg'), { kernels: referenceKernels, seed });
}

function snapshot(net: Network): Float32Array[] {
  return net.layers.flatMap((l) => l.params().map((p) => Float32Array.from(p.data)));
}

const all = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

test('shapes follow Darknet rules and the network trains on a toy problem', async () => {
  const net = makeNet();
  assert.deepEqual(net.layers.map((l) => [l.outShape.c, l.outShape.h, l.outShape.w]), [
    [3, 6, 6], [3, 3, 3], [4, 3, 3], [8, 1, 1], [8, 1, 1], [3, 1, 1], [3, 1, 1], [3, 1, 1],
  ]);
  const ds = toyData(96, 1);
  const before = evaluate(net, ds);
  const r = await train(net, ds, all(96), { epochs: 15, seed: 3 });
  const after = evaluate(net, ds);
  assert.ok(after.loss < before.loss * 0.5, `loss ${before.loss} → ${after.loss}`);
  assert.ok(after.acc > 0.9, `accuracy ${after.acc}`);
  assert.equal(r.epochs.length, 15);
  assert.equal(net.seen, 15 * 96);
});

test('same seed, same weights bit for bit; different seed differs', async () => {
  const ds = toyData(40, 2);
  const runs = [];
  for (const seed of [5, 5, 6]) {
    const net = makeNet(seed);
    await train(net, ds, all(40), { epochs: 2, seed });
    runs.push(snapshot(net));
  }
  assert.deepEqual(runs[0], runs[1]);
  assert.notDeepEqual(runs[0], runs[2]);
});

test('re-initialising a layer restores exactly its training-start parameters', async () => {
  const net = makeNet();
  const start = snapshot(net);
  await train(net, toyData(32, 3), all(32), { epochs: 1, seed: 1 });
  const trained = snapshot(net);
  net.reinitialiseLayer(2);
  const after = snapshot(net);
  // Layer 0 has biases, scales, rolling mean/var, weights (5 tensors); layer 2 has biases, weights.
  assert.deepEqual(after.slice(5, 7), start.slice(5, 7));
  assert.deepEqual(after.slice(0, 5), trained.slice(0, 5));
  assert.deepEqual(after.slice(7), trained.slice(7));
  const layer2 = net.layers[2]!;
  for (const p of layer2.params()) if (p.updates) assert.ok(p.updates.every((v) => v === 0), `${p.name} momentum cleared`);
});

test('training only one layer leaves every other number bit-identical, and only that layer moves', async () => {
  for (const only of [0, 2, 3, 5]) {
    const net = makeNet();
    await train(net, toyData(32, 4), all(32), { epochs: 1, seed: 1 });
    const before = snapshot(net);
    net.trainOnly([only]);
    await train(net, toyData(32, 5), all(32), { epochs: 2, seed: 2 });
    const after = snapshot(net);
    let k = 0;
    for (const l of net.layers) {
      for (const p of l.params()) {
        if (l.index === only && p.updates) assert.notDeepEqual(after[k], before[k], `layer ${only} ${p.name} should train`);
        if (l.index !== only) assert.deepEqual(after[k], before[k], `layer ${l.index} ${p.name} must not change`);
        k++;
      }
    }
  }
});

test('a frozen layer still passes gradient to the layers below it', async () => {
  const net = makeNet();
  const before = snapshot(net);
  net.trainOnly([0]);
  await train(net, toyData(16, 6), all(16), { epochs: 1, seed: 1 });
  const after = snapshot(net);
  assert.notDeepEqual(after[4], before[4], 'layer 0 weights moved through frozen layers 2,3,5');
});

test('subdivisions accumulate gradients: batch 8 in 4 subdivisions equals batch 8 at once (no batch norm, no dropout)', async () => {
  const text = CFG.replace('batch_normalize=1', 'batch_normalize=0').replace('probability=0.3', 'probability=0');
  const ds = toyData(24, 7);
  const whole = makeNet(9, text);
  const parts = makeNet(9, text.replace('batch=8', 'batch=8\nsubdivisions=4'));
  assert.equal(parts.maxBatch, 2);
  await train(whole, ds, all(24), { epochs: 2, seed: 4 });
  await train(parts, ds, all(24), { epochs: 2, seed: 4 });
  const a = snapshot(whole).flatMap((x) => Array.from(x));
  const b = snapshot(parts).flatMap((x) => Array.from(x));
  const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  assert.ok(worst < 1e-5, `max difference ${worst}`);
});

test('trainable layers are the conv and connected ones', () => {
  const net = makeNet();
  assert.deepEqual(net.layers.filter(isTrainable).map((l) => l.index), [0, 2, 3, 5]);
  assert.equal(net.outputLayer.type, 'softmax');
});

test('a network split into two ranges trains bit-identically to the whole network', async () => {
  const config = parseCfg(CFG, 'toy.cfg');
  const ds = toyData(16, 8);
  const { BatchLoader, oneHot } = await import('../src/data/batches.js');
  for (const k of [1, 3, 5, 7]) {
    const whole = new Network(config, { kernels: referenceKernels, seed: 11 });
    const low = new Network(config, { kernels: referenceKernels, seed: 11, range: [0, k - 1] });
    const high = new Network(config, { kernels: referenceKernels, seed: 11, range: [k, config.layers.length - 1] });
    high.setInputDeltaNeeded(true);
    const loader = new BatchLoader(ds);
    const x = new Float32Array(8 * 36);
    const labels = new Uint8Array(8);
    const truth = new Float32Array(8 * 3);
    const gradIn = new Float32Array(8 * high.inputs);
    for (let step = 0; step < 4; step++) {
      loader.fill((step % 2) * 8, 8, x, labels);
      oneHot(labels, 8, 3, truth);
      whole.forward(x, 8, true, truth);
      whole.backward(x, 8);
      whole.update(8);
      const mid = low.forward(x, 8, true, truth);
      high.forward(mid, 8, true, truth);
      gradIn.fill(0);
      high.backward(mid, 8, gradIn);
      low.backward(x, 8, null, gradIn);
      low.update(8);
      high.update(8);
    }
    const split = [...snapshot(low), ...snapshot(high)];
    assert.deepEqual(split, snapshot(whole), `split at ${k}`);
  }
});
