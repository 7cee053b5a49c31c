// A Mr/Mp fine-tuning stopped after any epoch and continued from its checkpoint (what a queue
// worker does with a job whose first worker was killed) ends bit-identical to an uninterrupted one:
// weights, momentum, update counter and scores. Batch norm and dropout make the state non-trivial.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDataset, type Dataset } from '../src/data/types.js';
import { splitST } from '../src/data/split.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { parseCfg } from '../src/nn/cfg.js';
import { Network } from '../src/nn/network.js';
import { Rng } from '../src/nn/rng.js';
import { train } from '../src/nn/train.js';
import { jobShuffleSeed, type FineTuneKind } from '../src/exposure/jobs.js';
import { fineTune, type ExposureData } from '../src/exposure/protocol.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/exposure/store.js';

const CFG = `
[net]
batch=10
height=6
width=6
channels=1
learning_rate=0.05
momentum=0.9
decay=0.0005

[convolutional]
filters=3
size=3
stride=1
pad=1
activation=leaky
batch_normalize=1

[maxpool]
size=2
stride=2

[connected]
output=8
activation=relu

[dropout]
probability=0.3

[connected]
output=3
activation=linear

[softmax]
`;
const config = parseCfg(CFG, 'tiny.cfg');
const SEED = 5;
const EPOCHS = 4;

function toyData(count: number, seed: number): Dataset {
  const rng = new Rng(seed, 'toy');
  const images = new Uint8Array(count * 36);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const y = rng.int(3);
    labels[i] = y;
    for (let p = 0; p < 36; p++) images[i * 36 + p] = Math.floor((Math.floor((p % 6) / 2) === y ? 150 : 30) + rng.uniform() * 100);
  }
  return makeDataset(images, labels, { channels: 1, height: 6, width: 6 }, ['a', 'b', 'c']);
}

const data: ExposureData = (() => {
  const { S, T } = splitST(100, SEED, 0.5);
  return { train: toyData(100, 1), test: toyData(40, 2), S, T };
})();

async function baseBytes(): Promise<Uint8Array> {
  const net = new Network(config, { kernels: referenceKernels, seed: SEED });
  await train(net, data.train, data.S, { epochs: 3, seed: SEED });
  return encodeCheckpoint(net, 0);
}

/** M with fresh optimiser state, as a worker loads it. */
function loadM(bytes: Uint8Array): Network {
  const net = new Network(config, { kernels: referenceKernels, seed: SEED });
  decodeCheckpoint(net, bytes, 'M');
  for (const l of net.layers) for (const p of l.params()) p.updates?.fill(0);
  net.updates = 0;
  net.seen = 0;
  return net;
}

class Killed extends Error {}

test('a fine-tuning continued from its epoch-k checkpoint is bit-identical to an uninterrupted one', async () => {
  const m = await baseBytes();
  // With and without the activation cache (cache.ts): the resumed job may run either way.
  for (const [layer, kind, cacheBytes] of [[0, 'mr', 0], [2, 'mp', 0], [4, 'mr', 0], [2, 'mr', 1 << 24], [4, 'mp', 1 << 24]] as [number, FineTuneKind, number][]) {
    const job = { layer, kind, shuffleSeed: jobShuffleSeed(SEED, layer, kind) };
    const whole = loadM(m);
    const ref = await fineTune(whole, data, job, EPOCHS);
    const refState = Buffer.from(encodeCheckpoint(whole, EPOCHS));
    for (const stopAfter of [1, 3]) {
      let saved: Uint8Array | null = null;
      const first = loadM(m);
      await assert.rejects(fineTune(first, data, job, EPOCHS, undefined, cacheBytes, {
        onEpoch: (e) => {
          saved = encodeCheckpoint(first, e.epoch + 1);
          if (e.epoch + 1 === stopAfter) throw new Killed();
        },
      }), Killed);
      const second = loadM(m);
      const rest = await fineTune(second, data, job, EPOCHS, undefined, cacheBytes, { restore: (n) => decodeCheckpoint(n, saved!, 'ckpt').epoch });
      if (cacheBytes > 0 && layer === 2) assert.notEqual(rest.cache, null, 'the cache was used');
      assert.equal(rest.epochs.length, EPOCHS - stopAfter, 'only the remaining epochs run');
      assert.ok(Buffer.from(encodeCheckpoint(second, EPOCHS)).equals(refState), `layer ${layer} ${kind} stopped after ${stopAfter}: state differs`);
      assert.deepEqual(rest.scores, ref.scores);
    }
  }
});
