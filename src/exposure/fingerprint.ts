// The engine fingerprint of an exposure run: what the numbers of a job depend on besides its
// options, measured rather than assumed. A tiny network with every layer type (conv with batch
// norm, max-pool, avg-pool, connected, dropout, softmax, cost) trains a few seeded SGD steps
// (momentum, decay) on fixed synthetic data through the kernels this process uses, then goes
// through the exposure protocol's own steps (an Mr and an Mp fine-tuning, scoring, the S/T split,
// the job shuffle seeds). The SHA-256 of every resulting number is the fingerprint.
//
// So a kernel change, an instruction-set switch (AVX2 vs AVX-512), a layer change or a change of
// the protocol's semantics changes the fingerprint and invalidates finished jobs, while a commit to
// the CLI, the README or a comment does not — which is what runs lasting several days need. It
// takes a few milliseconds.
import { createHash, type Hash } from 'node:crypto';
import { makeDataset } from '../data/types.js';
import { splitST } from '../data/split.js';
import { getKernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import { parseCfg } from '../nn/cfg.js';
import { Network } from '../nn/network.js';
import { Rng } from '../nn/rng.js';
import { train } from '../nn/train.js';
import { jobShuffleSeed } from './jobs.js';
import { fineTune, scoreModel, type ExposureData, type ModelScores } from './protocol.js';

/** Bump when the fingerprint's own recipe changes (so old and new fingerprints never collide). */
const RECIPE = 'layerlock-engine-fingerprint-v1';

// Two small networks: A has every layer type (batch norm, avg-pool included); B has VGG-7's GEMM
// sizes (reductions over 288 and 512 values, longer than a cache block of the AVX-512 and AVX2
// micro-kernels), so a change in how the kernels block or order their sums shows in the numbers.
const NET_A = `
[net]
batch=8
subdivisions=2
height=8
width=8
channels=2
learning_rate=0.05
momentum=0.9
decay=0.0005
policy=constant

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu
batch_normalize=1

[maxpool]
size=2
stride=2

[convolutional]
filters=6
size=3
stride=1
pad=1
activation=leaky

[avgpool]

[connected]
output=12
activation=relu

[dropout]
probability=0.25

[connected]
output=3
activation=linear

[softmax]

[cost]
type=sse
`;

const NET_B = `
[net]
batch=8
height=16
width=16
channels=3
learning_rate=0.02
momentum=0.9
decay=0.0005
policy=constant

[convolutional]
filters=16
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[convolutional]
filters=32
size=3
stride=1
pad=1
activation=relu

[convolutional]
filters=32
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output=64
activation=relu

[dropout]
probability=0.5

[connected]
output=3
activation=linear

[softmax]

[cost]
type=sse
`;

/** Fine-tunings of each net (cfg index, kind): a conv and a connected layer, as the jobs do. */
const NETS: { cfg: string; shape: { channels: number; height: number; width: number }; fineTunes: [number, 'mr' | 'mp'][] }[] = [
  { cfg: NET_A, shape: { channels: 2, height: 8, width: 8 }, fineTunes: [[2, 'mr'], [4, 'mp']] },
  { cfg: NET_B, shape: { channels: 3, height: 16, width: 16 }, fineTunes: [[3, 'mp'], [5, 'mr']] },
];

function syntheticData(shape: { channels: number; height: number; width: number }): ExposureData {
  const rng = new Rng(20190701, 'fingerprint-data', shape.height);
  const count = 40;
  const plane = shape.height * shape.width;
  const size = shape.channels * plane;
  const images = new Uint8Array(count * size);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const y = rng.int(3);
    labels[i] = y;
    // A learnable signal (one brighter band per class) plus noise.
    for (let p = 0; p < size; p++) images[i * size + p] = Math.min(255, rng.int(120) + (Math.floor(((p % plane) * 3) / plane) === y ? 120 : 0));
  }
  const names = ['a', 'b', 'c'];
  const train = makeDataset(images.slice(0, 32 * size), labels.slice(0, 32), shape, names);
  const test = makeDataset(images.slice(32 * size), labels.slice(32), shape, names);
  const { S, T } = splitST(train.count, 3, 0.5);
  return { train, test, S, T };
}

function hashFloats(h: Hash, a: Float32Array | Uint32Array): void {
  h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

function hashNet(h: Hash, net: Network): void {
  for (const l of net.layers) {
    for (const p of l.params()) {
      h.update(`${l.index}:${p.name}`);
      hashFloats(h, p.data);
      if (p.updates) hashFloats(h, p.updates);
    }
  }
  h.update(`${net.updates}/${net.seen}`);
}

function hashScores(h: Hash, s: ModelScores): void {
  h.update(new Uint8Array(new Float64Array([s.S.loss, s.S.acc, s.T.loss, s.T.acc, s.test.loss, s.test.acc]).buffer));
}

const cache = new Map<string, string>();

/**
 * The fingerprint of the exposure engine under the given kernels (default: this process's), with
 * the current thread setting. Cached per kernel name (which includes the thread count).
 */
export async function engineFingerprint(kernels: Kernels = getKernels()): Promise<string> {
  const known = cache.get(kernels.name);
  if (known) return known;
  const h = createHash('sha256');
  h.update(RECIPE);
  h.update(`${jobShuffleSeed(1, 0, 'mr')},${jobShuffleSeed(2, 5, 'mp')}`);
  for (const [n, spec] of NETS.entries()) {
    const data = syntheticData(spec.shape);
    hashFloats(h, data.S);
    hashFloats(h, data.T);
    const net = new Network(parseCfg(spec.cfg, `fingerprint-${n}.cfg`), { kernels, seed: 11 });
    await train(net, data.train, data.S, { epochs: 2, seed: 5 });
    hashNet(h, net);
    hashScores(h, scoreModel(net, data));
    const base = net.layers.map((l) => l.params().map((p) => p.data.slice()));
    for (const [layer, kind] of spec.fineTunes) {
      // Back to M before each fine-tuning, as every job starts from the base model.
      net.layers.forEach((l, i) => l.params().forEach((p, j) => p.data.set(base[i]![j]!)));
      const r = await fineTune(net, data, { layer, kind, shuffleSeed: jobShuffleSeed(7, layer, kind) }, 1);
      hashNet(h, net);
      hashScores(h, r.scores);
    }
  }
  const fp = h.digest('hex');
  cache.set(kernels.name, fp);
  return fp;
}
