// Training, evaluation and prediction over a dataset: the loops every command shares.
//
// The loops drive a Stepper: one whole Network in this process (networkStepper), or a network
// partitioned between the normal world and the TEE (src/tee/partition.ts). The loops — batching,
// shuffling, subdivisions, when to update, how losses and accuracies are summed — exist once.
import type { Dataset } from '../data/types.js';
import { BatchLoader, oneHot } from '../data/batches.js';
import type { Shape } from './layer.js';
import type { Network } from './network.js';
import { Rng } from './rng.js';
import { LOG_FLOOR } from './layers/softmax.js';

export interface BatchProgress {
  epoch: number;
  /** Batches done in this epoch and per epoch. */
  batch: number;
  batches: number;
  /** Mean cross-entropy of the batches so far in this epoch (NaN when the loss is hidden in the TEE). */
  loss: number;
  imagesPerSecond: number;
}

export interface EpochResult {
  epoch: number;
  /** Mean cross-entropy over the epoch's batches (NaN when the TEE's output policy hides it). */
  loss: number;
  /** True when the loss is NaN because the TEE's output policy hides it (never because training diverged). */
  lossHidden?: boolean;
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
  /** The loss is NaN because the TEE's output policy hides it. */
  lossHidden?: boolean;
}

/** Summed cross-entropy (null when it is not visible to the caller) and correct top-1 count of a batch. */
export interface BatchScore {
  ce: number | null;
  correct: number;
}

/** Summed cross-entropy of images whose loss was computed where the caller cannot see it (the TEE). */
export interface HiddenLoss {
  sum: number;
  count: number;
}

/**
 * What the training and evaluation loops drive. Methods may return promises (a partitioned
 * network talks to the TEE) or plain values (a network in this process).
 */
export interface Stepper {
  /** Shape of one input image. */
  readonly inShape: Shape;
  /** Values of the prediction (classes). */
  readonly outputs: number;
  /** Images per SGD update (the cfg's batch). */
  readonly batch: number;
  /** Images per forward pass (batch / subdivisions): the size of every buffer. */
  readonly maxBatch: number;
  /**
   * Forward and backward on n images (n ≤ maxBatch), accumulating parameter updates. Returns the
   * summed cross-entropy of the n images, or null when it is computed out of the caller's sight.
   */
  trainBatch(input: Float32Array, labels: Uint8Array, n: number): number | null | Promise<number | null>;
  /** One SGD update with the updates accumulated over `images` images. */
  update(images: number): void | Promise<void>;
  /** Inference (dropout off) on n images. */
  scoreBatch(input: Float32Array, labels: Uint8Array, n: number): BatchScore | Promise<BatchScore>;
  /**
   * The summed loss of the images whose loss was hidden since the last call (and resets it), or
   * null when not even that aggregate may be seen. Only needed when trainBatch/scoreBatch return null.
   */
  takeHiddenLoss?(): Promise<HiddenLoss | null>;
  /** Class probabilities / ranking of one image, as much as the stepper may reveal. */
  predictImage(image: Float32Array, k: number): Prediction | Promise<Prediction>;
  /**
   * The first parameter that is not finite ("layer 3 (convolutional) weights[17] = NaN"), or null;
   * for the parameters the caller can see. The loops call it after every epoch.
   */
  nonFiniteParameter?(): string | null;
}

/**
 * A loss, an accuracy or a weight that is not a finite number: training diverged (or the model was
 * broken). One error type for every command, so none of them can print NaN as a result or save it.
 */
export class DivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DivergedError';
  }
}

const DIVERGED_HINT = 'lower learning_rate in the cfg, or check the input data and --weights';

/** The first non-finite value of a network's parameters, described, or null. */
export function firstNonFiniteParameter(net: Network): string | null {
  for (const l of net.layers) {
    for (const p of l.params()) {
      const a = p.data;
      for (let i = 0; i < a.length; i++) {
        if (!Number.isFinite(a[i]!)) return `layer ${l.index} (${l.type}) ${p.name}[${i}] = ${a[i]}`;
      }
    }
  }
  return null;
}

export function checkCompatible(net: { readonly inShape: Shape; readonly outputs: number }, ds: Dataset): void {
  const s = net.inShape;
  if (ds.channels !== s.c || ds.height !== s.h || ds.width !== s.w) {
    throw new Error(`images are ${ds.width}×${ds.height}×${ds.channels} but the network expects ${s.w}×${s.h}×${s.c}`);
  }
  if (ds.classes > net.outputs) {
    throw new Error(`the data has ${ds.classes} classes but the network outputs ${net.outputs} values`);
  }
}

/** Summed cross-entropy and number of correct top-1 predictions for n images. */
export function scoreProbs(probs: Float32Array, labels: Uint8Array, n: number, classes: number): { ce: number; correct: number } {
  let ce = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const base = i * classes;
    const y = labels[i]!;
    ce -= Math.log(Math.max(probs[base + y]!, LOG_FLOOR));
    if (argmaxAt(probs, base, classes) === y) correct++;
  }
  return { ce, correct };
}

/** Index of the largest of values[base .. base+count), the first one on ties. */
export function argmaxAt(values: Float32Array, base: number, count: number): number {
  let best = 0;
  for (let k = 1; k < count; k++) if (values[base + k]! > values[base + best]!) best = k;
  return best;
}

/** Classes ordered by probability (highest first, lower class first on ties). */
export function rankClasses(probs: ArrayLike<number>): { class: number; p: number }[] {
  return Array.from(probs, (p, c) => ({ class: c, p })).sort((a, b) => b.p - a.p || a.class - b.class);
}

/** A whole network in this process as a Stepper: what train/evaluate/predict use. */
export function networkStepper(net: Network): Stepper {
  let truth: Float32Array | null = null;
  return {
    inShape: net.inShape,
    outputs: net.outputs,
    batch: net.net.batch,
    maxBatch: net.maxBatch,
    trainBatch(input, labels, n) {
      const classes = net.outputs;
      if (!truth) truth = new Float32Array(net.maxBatch * classes);
      oneHot(labels, n, classes, truth);
      const probs = net.forward(input, n, true, truth);
      const ce = scoreProbs(probs, labels, n, classes).ce;
      net.backward(input, n);
      return ce;
    },
    update(images) {
      net.update(images);
      net.seen += images;
    },
    scoreBatch(input, labels, n) {
      const probs = net.forward(input, n, false);
      return scoreProbs(probs, labels, n, net.outputs);
    },
    predictImage: (image, k) => predict(net, image, k),
    nonFiniteParameter: () => firstNonFiniteParameter(net),
  };
}

/**
 * Trains on ds[indices] for opts.epochs epochs of Darknet-style SGD. Each batch of net.net.batch
 * images is processed in subdivisions of net.maxBatch, gradients accumulated, then one update.
 */
export async function train(net: Network | Stepper, ds: Dataset, indices: Uint32Array, opts: TrainOptions): Promise<TrainResult> {
  const stepper = isStepper(net) ? net : networkStepper(net);
  checkCompatible(stepper, ds);
  const batchSize = stepper.batch;
  const sub = stepper.maxBatch;
  const loader = new BatchLoader(ds, indices);
  const input = new Float32Array(sub * shapeValues(stepper.inShape));
  const labels = new Uint8Array(sub);
  const epochs: EpochResult[] = [];
  const batches = Math.ceil(indices.length / batchSize);
  const t0 = performance.now();
  let imagesTotal = 0;
  let lastLoss = NaN;
  for (let epoch = opts.startEpoch ?? 0; epoch < opts.epochs; epoch++) {
    loader.shuffled(new Rng(opts.seed, 'shuffle', epoch));
    const te = performance.now();
    let ceSum = 0;
    let hidden = false;
    let seen = 0;
    for (let b = 0; b < batches; b++) {
      const start = b * batchSize;
      const end = Math.min(indices.length, start + batchSize);
      for (let s = start; s < end; s += sub) {
        const n = Math.min(sub, end - s);
        loader.fill(s, n, input, labels);
        const ce = await stepper.trainBatch(input, labels, n);
        if (ce === null) hidden = true;
        else if (!Number.isFinite(ce)) {
          throw new DivergedError(`training diverged: the loss became ${ce} in epoch ${epoch + 1}, batch ${b + 1} of ${batches} (${DIVERGED_HINT})`);
        } else ceSum += ce;
      }
      await stepper.update(end - start);
      seen += end - start;
      if (opts.onBatch) {
        const secs = (performance.now() - te) / 1000;
        opts.onBatch({ epoch, batch: b + 1, batches, loss: hidden ? NaN : ceSum / seen, imagesPerSecond: seen / Math.max(secs, 1e-9) });
      }
    }
    let lossHidden = false;
    if (hidden) {
      // The loss was computed inside the TEE; at most its aggregate over the epoch comes out.
      const h = stepper.takeHiddenLoss ? await stepper.takeHiddenLoss() : null;
      lossHidden = h === null;
      ceSum = h ? h.sum : NaN;
      if (h && !Number.isFinite(h.sum)) {
        throw new DivergedError(`training diverged: the loss summed inside the TEE became ${h.sum} in epoch ${epoch + 1} (${DIVERGED_HINT})`);
      }
    }
    const bad = stepper.nonFiniteParameter?.() ?? null;
    if (bad !== null) throw new DivergedError(`training diverged: after epoch ${epoch + 1}, ${bad} (${DIVERGED_HINT})`);
    const seconds = (performance.now() - te) / 1000;
    imagesTotal += seen;
    lastLoss = ceSum / Math.max(seen, 1);
    const r: EpochResult = { epoch, loss: lastLoss, lossHidden, seconds, imagesPerSecond: seen / Math.max(seconds, 1e-9) };
    epochs.push(r);
    if (opts.onEpoch) await opts.onEpoch(r);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { epochs, seconds, imagesPerSecond: imagesTotal / Math.max(seconds, 1e-9), loss: lastLoss, lossHidden: epochs.at(-1)?.lossHidden ?? false };
}

export interface EvalResult {
  /** Mean cross-entropy (inference mode, dropout off); NaN when the TEE's output policy hides it. */
  loss: number;
  acc: number;
  n: number;
  /** The loss is NaN because the TEE's output policy hides it. */
  lossHidden?: boolean;
}

/** Evaluating no image has no loss or accuracy: an error, never a NaN result. */
function checkEvalSet(n: number): void {
  if (n === 0) throw new DivergedError('cannot evaluate on an empty set of images (check --train-limit, --test-limit, --split and the data)');
}

/** A summed loss that is not finite means the model's outputs are broken: an error, never a result. */
function checkEvalLoss(ce: number, n: number, where: string): void {
  if (!Number.isFinite(ce)) {
    throw new DivergedError(`the model's loss over ${n} images is ${ce}${where}: its outputs are not finite (the weights diverged or overflow)`);
  }
}

/** The evaluation batches of ds[idx] in order, converted into one reused buffer. */
function* evalBatches(ds: Dataset, idx: Uint32Array, sub: number, inputs: number): Generator<{ input: Float32Array; labels: Uint8Array; n: number }> {
  const loader = new BatchLoader(ds, idx);
  const input = new Float32Array(sub * inputs);
  const labels = new Uint8Array(sub);
  for (let s = 0; s < idx.length; s += sub) {
    const n = Math.min(sub, idx.length - s);
    loader.fill(s, n, input, labels);
    yield { input, labels, n };
  }
}

function allIndices(ds: Dataset): Uint32Array {
  return Uint32Array.from({ length: ds.count }, (_, i) => i);
}

/** Loss and accuracy of the network on ds[indices] (all images when indices is omitted). */
export function evaluate(net: Network, ds: Dataset, indices?: Uint32Array): EvalResult {
  checkCompatible(net, ds);
  const idx = indices ?? allIndices(ds);
  checkEvalSet(idx.length);
  let ce = 0;
  let correct = 0;
  for (const { input, labels, n } of evalBatches(ds, idx, net.maxBatch, net.inputs)) {
    const r = scoreProbs(net.forward(input, n, false), labels, n, net.outputs);
    ce += r.ce;
    correct += r.correct;
  }
  const n = idx.length;
  checkEvalLoss(ce, n, '');
  return { loss: ce / n, acc: correct / n, n, lossHidden: false };
}

/** evaluate() for any Stepper (e.g. a network partitioned with the TEE). */
export async function evaluateWith(stepper: Stepper, ds: Dataset, indices?: Uint32Array): Promise<EvalResult> {
  checkCompatible(stepper, ds);
  const idx = indices ?? allIndices(ds);
  checkEvalSet(idx.length);
  let ce = 0;
  let hidden = false;
  let correct = 0;
  for (const { input, labels, n } of evalBatches(ds, idx, stepper.maxBatch, shapeValues(stepper.inShape))) {
    const r = await stepper.scoreBatch(input, labels, n);
    if (r.ce === null) hidden = true;
    else ce += r.ce;
    correct += r.correct;
  }
  let lossHidden = false;
  if (hidden) {
    const h = stepper.takeHiddenLoss ? await stepper.takeHiddenLoss() : null;
    lossHidden = h === null;
    ce = h ? h.sum : NaN;
  }
  const n = idx.length;
  if (!lossHidden) checkEvalLoss(ce, n, hidden ? ' (summed inside the TEE)' : '');
  return { loss: ce / n, acc: correct / n, n, lossHidden };
}

export interface Prediction {
  /** Best classes first; p is absent when the TEE's output policy hides the scores. */
  top: { class: number; p?: number }[];
  /** The full output vector; empty when the output policy hides it. */
  probs: number[];
}

/** Class probabilities of one image (CHW floats in [0,1]) and the top-k classes. */
export function predict(net: Network, image: Float32Array, k = 5): Prediction {
  if (image.length !== net.inputs) throw new Error(`image has ${image.length} values, the network expects ${net.inputs}`);
  const out = net.forward(image, 1, false);
  const probs = Array.from(out.subarray(0, net.outputs));
  const order = rankClasses(probs);
  return { top: order.slice(0, Math.min(k, order.length)), probs };
}

function shapeValues(s: Shape): number {
  return s.c * s.h * s.w;
}

function isStepper(x: Network | Stepper): x is Stepper {
  return typeof (x as Stepper).trainBatch === 'function';
}
