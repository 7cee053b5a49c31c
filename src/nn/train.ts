// Training, evaluation and prediction over a dataset: the loops every command shares.
import type { Dataset } from '../data/types.js';
import { BatchLoader, oneHot } from '../data/batches.js';
import type { Network } from './network.js';
import { Rng } from './rng.js';
import { LOG_FLOOR } from './layers/softmax.js';

export interface BatchProgress {
  epoch: number;
  /** Batches done in this epoch and per epoch. */
  batch: number;
  batches: number;
  /** Mean cross-entropy of the batches so far in this epoch. */
  loss: number;
  imagesPerSecond: number;
}

export interface EpochResult {
  epoch: number;
  loss: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface TrainOptions {
  epochs: number;
  /** Shuffling seed; the epoch number is mixed in, so resuming at epoch k reproduces the same order. */
  seed: number;
  /** First epoch to run (0-based), for resuming from a checkpoint. */
  startEpoch?: number;
  onBatch?: (p: BatchProgress) => void;
  /** Called after every epoch, e.g. to write a checkpoint; awaited before the next epoch starts. */
  onEpoch?: (r: EpochResult) => void | Promise<void>;
}

export interface TrainResult {
  epochs: EpochResult[];
  seconds: number;
  imagesPerSecond: number;
  /** Mean cross-entropy over the last epoch's batches. */
  loss: number;
}

export function checkCompatible(net: Network, ds: Dataset): void {
  const s = net.inShape;
  if (ds.channels !== s.c || ds.height !== s.h || ds.width !== s.w) {
    throw new Error(`images are ${ds.width}×${ds.height}×${ds.channels} but the network expects ${s.w}×${s.h}×${s.c}`);
  }
  if (ds.classes > net.outputs) {
    throw new Error(`the data has ${ds.classes} classes but the network outputs ${net.outputs} values`);
  }
}

/** Summed cross-entropy and number of correct top-1 predictions for n images. */
function scoreBatch(probs: Float32Array, labels: Uint8Array, n: number, classes: number): { ce: number; correct: number } {
  let ce = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const base = i * classes;
    const y = labels[i]!;
    ce -= Math.log(Math.max(probs[base + y]!, LOG_FLOOR));
    let best = 0;
    for (let k = 1; k < classes; k++) if (probs[base + k]! > probs[base + best]!) best = k;
    if (best === y) correct++;
  }
  return { ce, correct };
}

/**
 * Trains on ds[indices] for opts.epochs epochs of Darknet-style SGD. Each batch of net.net.batch
 * images is processed in subdivisions of net.maxBatch, gradients accumulated, then one update.
 */
export async function train(net: Network, ds: Dataset, indices: Uint32Array, opts: TrainOptions): Promise<TrainResult> {
  checkCompatible(net, ds);
  const batchSize = net.net.batch;
  const sub = net.maxBatch;
  const classes = net.outputs;
  const loader = new BatchLoader(ds, indices);
  const input = new Float32Array(sub * net.inputs);
  const labels = new Uint8Array(sub);
  const truth = new Float32Array(sub * classes);
  const epochs: EpochResult[] = [];
  const batches = Math.ceil(indices.length / batchSize);
  const t0 = performance.now();
  let imagesTotal = 0;
  let lastLoss = NaN;
  for (let epoch = opts.startEpoch ?? 0; epoch < opts.epochs; epoch++) {
    loader.shuffled(new Rng(opts.seed, 'shuffle', epoch));
    const te = performance.now();
    let ceSum = 0;
    let seen = 0;
    for (let b = 0; b < batches; b++) {
      const start = b * batchSize;
      const end = Math.min(indices.length, start + batchSize);
      for (let s = start; s < end; s += sub) {
        const n = Math.min(sub, end - s);
        loader.fill(s, n, input, labels);
        oneHot(labels, n, classes, truth);
        const probs = net.forward(input, n, true, truth);
        ceSum += scoreBatch(probs, labels, n, classes).ce;
        net.backward(input, n);
      }
      net.update(end - start);
      net.seen += end - start;
      seen += end - start;
      if (opts.onBatch) {
        const secs = (performance.now() - te) / 1000;
        opts.onBatch({ epoch, batch: b + 1, batches, loss: ceSum / seen, imagesPerSecond: seen / Math.max(secs, 1e-9) });
      }
    }
    const seconds = (performance.now() - te) / 1000;
    imagesTotal += seen;
    lastLoss = ceSum / Math.max(seen, 1);
    const r: EpochResult = { epoch, loss: lastLoss, seconds, imagesPerSecond: seen / Math.max(seconds, 1e-9) };
    epochs.push(r);
    if (opts.onEpoch) await opts.onEpoch(r);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { epochs, seconds, imagesPerSecond: imagesTotal / Math.max(seconds, 1e-9), loss: lastLoss };
}

export interface EvalResult {
  /** Mean cross-entropy (inference mode, dropout off). */
  loss: number;
  acc: number;
  n: number;
}

/** Loss and accuracy of the network on ds[indices] (all images when indices is omitted). */
export function evaluate(net: Network, ds: Dataset, indices?: Uint32Array): EvalResult {
  checkCompatible(net, ds);
  const idx = indices ?? Uint32Array.from({ length: ds.count }, (_, i) => i);
  const sub = net.maxBatch;
  const classes = net.outputs;
  const loader = new BatchLoader(ds, idx);
  const input = new Float32Array(sub * net.inputs);
  const labels = new Uint8Array(sub);
  let ce = 0;
  let correct = 0;
  for (let s = 0; s < idx.length; s += sub) {
    const n = Math.min(sub, idx.length - s);
    loader.fill(s, n, input, labels);
    const probs = net.forward(input, n, false);
    const r = scoreBatch(probs, labels, n, classes);
    ce += r.ce;
    correct += r.correct;
  }
  const n = idx.length;
  return { loss: n ? ce / n : NaN, acc: n ? correct / n : NaN, n };
}

export interface Prediction {
  top: { class: number; p: number }[];
  probs: number[];
}

/** Class probabilities of one image (CHW floats in [0,1]) and the top-k classes. */
export function predict(net: Network, image: Float32Array, k = 5): Prediction {
  if (image.length !== net.inputs) throw new Error(`image has ${image.length} values, the network expects ${net.inputs}`);
  const out = net.forward(image, 1, false);
  const probs = Array.from(out.subarray(0, net.outputs));
  const order = probs.map((p, c) => ({ class: c, p })).sort((a, b) => b.p - a.p || a.class - b.class);
  return { top: order.slice(0, Math.min(k, order.length)), probs };
}
