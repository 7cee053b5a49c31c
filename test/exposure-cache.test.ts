// The activation cache: Mr/Mp jobs trained from cached activations of the frozen layers give
// bit-identical weights and scores to the uncached jobs, for every trainable layer of VGG-7 (with
// the kernels this machine uses: native if built), including the fallback to a lower cache point
// and the dropout rule; and the plan picks the right points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { makeDataset } from '../src/data/types.js';
import { splitST } from '../src/data/split.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { Network } from '../src/nn/network.js';
import { Rng } from '../src/nn/rng.js';
import { train } from '../src/nn/train.js';
import { planCache } from '../src/exposure/cache.js';
import { jobShuffleSeed, trainableIndices } from '../src/exposure/jobs.js';
import { fineTune, type ExposureData } from '../src/exposure/protocol.js';

const VGG7 = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));

async function vgg7(batch: number): Promise<ReturnType<typeof parseCfg>> {
  // The paper's network; a smaller batch keeps the test to seconds (the last batch is partial).
  const text = (await readFile(VGG7, 'utf8')).replace(/^batch=128$/m, `batch=${batch}`);
  return parseCfg(text, 'vgg7-mnist.cfg');
}

function data(count: number, testCount: number): ExposureData {
  const rng = new Rng(99, 'cache-test');
  const size = 28 * 28;
  const all = count + testCount;
  const images = new Uint8Array(all * size);
  const labels = new Uint8Array(all);
  for (let i = 0; i < all; i++) {
    const y = rng.int(10);
    labels[i] = y;
    for (let p = 0; p < size; p++) images[i * size + p] = Math.min(255, rng.int(90) + ((p >> 6) % 10 === y ? 150 : 0));
  }
  const shape = { height: 28, width: 28, channels: 1 };
  const names = Array.from({ length: 10 }, (_, i) => String(i));
  const train = makeDataset(images.slice(0, count * size), labels.slice(0, count), shape, names);
  const test = makeDataset(images.slice(count * size), labels.slice(count), shape, names);
  return { train, test, ...splitST(count, 3, 0.5) };
}

function bits(net: Network): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const l of net.layers) for (const p of l.params()) out.push(new Uint8Array(p.data.slice().buffer), ...(p.updates ? [new Uint8Array(p.updates.slice().buffer)] : []));
  return out;
}

test('cache plan: highest deterministic point below the layer that fits; lower when not; never across dropout', async () => {
  const config = await vgg7(128);
  // VGG-7 MNIST: 0 conv 1 conv 2 maxpool 3 conv 4 conv 5 maxpool 6 conv 7 conv 8 maxpool 9 fc 10 dropout 11 fc
  const n = 30000;
  const big = 64 * 2 ** 30;
  assert.deepEqual(planCache(config, 0, n, big), { plan: null, note: null });
  assert.deepEqual(planCache(config, 1, n, big).plan, { after: 0, bytes: n * 16 * 28 * 28 * 4 });
  assert.equal(planCache(config, 9, n, big).plan!.after, 8);
  assert.equal(planCache(config, 11, n, big).plan!.after, 8, 'fc2: below fc1 (batch-size dependent GEMM) and the dropout');
  // conv4's best point (conv3: 32×14×14 floats) does not fit in 400 MiB; the max-pool's 16×14×14 does.
  const low = planCache(config, 4, n, 400 * 2 ** 20);
  assert.equal(low.plan!.after, 2);
  assert.match(low.note!, /does not fit in 400 MiB; cached after layer 2/);
  assert.equal(planCache(config, 1, n, 2 ** 20).plan, null);
  const dropoutLow = parseCfg('[net]\nbatch=2\nheight=4\nwidth=4\nchannels=1\n[convolutional]\nfilters=2\nsize=3\npad=1\n[dropout]\n[convolutional]\nfilters=2\nsize=3\npad=1\n[connected]\noutput=2\n[softmax]\n', 'd.cfg');
  assert.deepEqual(planCache(dropoutLow, 2, 10, big).plan, { after: 0, bytes: 10 * 2 * 16 * 4 });
  assert.equal(planCache(dropoutLow, 3, 10, big).plan!.after, 0, 'never from after the dropout');
  const fcFirst = parseCfg('[net]\nbatch=2\nheight=4\nwidth=4\nchannels=1\n[connected]\noutput=4\n[connected]\noutput=2\n[softmax]\n', 'f.cfg');
  assert.match(planCache(fcFirst, 1, 10, big).note!, /layer 0 \(connected\) is not per-image exact/);
});

test('per-image exactness at the paper batch size: conv and pool outputs of an image do not depend on its batch', async () => {
  // The property the cache rests on, at batch 128 with the partial last batches of the protocol
  // (30 000 % 128 = 48, 25 000 % 128 = 40), with this machine's kernels.
  for (const cfg of ['vgg7-mnist.cfg', 'vgg7-cifar10.cfg']) {
    const config = parseCfg(await readFile(fileURLToPath(new URL(`../../cfg/${cfg}`, import.meta.url)), 'utf8'), cfg);
    const net = new Network(config, { kernels: getKernels(), seed: 3 });
    net.trainOnly([]);
    const inputs = net.inputs;
    const input = new Float32Array(128 * inputs);
    const rng = new Rng(4, 'exact');
    for (let i = 0; i < input.length; i++) input[i] = rng.int(256) / 255;
    const last = planCache(config, 9, 1, 1e12).plan!.after;
    for (let k = 0; k <= last; k++) {
      const size = shapeSizeOf(net, k);
      const full = net.forwardPrefix(input, 128, true, k).slice(0, 128 * size);
      for (const n of [48, 40, 1]) {
        const off = 128 - n;
        const part = net.forwardPrefix(input.slice(off * inputs, (off + n) * inputs), n, true, k).slice(0, n * size);
        assert.equal(Buffer.compare(Buffer.from(part.buffer), Buffer.from(full.slice(off * size, (off + n) * size).buffer)), 0, `${cfg} layer ${k}, batch of ${n}`);
      }
    }
  }
});

function shapeSizeOf(net: Network, k: number): number {
  const s = net.layer(k)!.outShape;
  return s.c * s.h * s.w;
}

test('cached and uncached Mr/Mp jobs are bit-identical on every VGG-7 layer (partial last batch, fallback point)', async () => {
  const config = await vgg7(16);
  const d = data(74, 20); // S = T = 37 images: two full batches of 16 and a partial one of 5
  const kernels = getKernels();
  const base = new Network(config, { kernels, seed: 5 });
  await train(base, d.train, d.S, { epochs: 1, seed: 5 });
  const m = bits(base);
  const fresh = (): Network => {
    const net = new Network(config, { kernels, seed: 5 });
    const src = base.layers.map((l) => l.params());
    net.layers.forEach((l, i) => l.params().forEach((p, j) => { p.data.set(src[i]![j]!.data); p.updates?.set(src[i]![j]!.updates!); }));
    net.updates = base.updates;
    net.seen = base.seen;
    return net;
  };
  assert.deepEqual(bits(fresh()), m);
  let cachedJobs = 0;
  for (const layer of trainableIndices(config)) {
    for (const kind of ['mr', 'mp'] as const) {
      const job = { layer, kind, shuffleSeed: jobShuffleSeed(5, layer, kind) };
      const plain = fresh();
      const a = await fineTune(plain, d, job, 2);
      assert.equal(a.cache, null);
      // Full budget, and a budget that only fits a lower point (one float less than the best one).
      const budgets = [1e9];
      const best = planCache(config, layer, 37, 1e9).plan;
      if (best) budgets.push(best.bytes - 4);
      for (const budget of budgets) {
        const cached = fresh();
        const b = await fineTune(cached, d, job, 2, undefined, budget);
        if (b.cache) cachedJobs++;
        assert.deepEqual(b.scores, a.scores, `scores of ${kind} layer ${layer}, budget ${budget}`);
        assert.deepEqual(b.epochs.map((e) => e.loss), a.epochs.map((e) => e.loss), `epoch losses of ${kind} layer ${layer}`);
        assert.ok(bits(cached).every((x, i) => Buffer.compare(x, bits(plain)[i]!) === 0), `weights of ${kind} layer ${layer}, budget ${budget}`);
        assert.equal(cached.updates, plain.updates);
      }
    }
  }
  assert.ok(cachedJobs >= 16, `the cache was used (${cachedJobs} cached jobs)`);
});
