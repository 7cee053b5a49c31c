// The activation cache of the exposure protocol. In the Mr_l / Mp_l job only θ_l trains and every
// layer below l is frozen, so for each training image the output of those layers never changes
// during the job: compute it once at the start of the job and train from it, skipping the frozen
// layers' forward pass in every epoch (E_ft of them). Backward already stops at θ_l.
//
// The numbers are bit-identical to the uncached run: the cached values are computed by the same
// layers with the same kernels, the same batch positions and shuffling are used (positions into
// the job's index list, shuffled by the same rng), and the network above the cache point runs
// unchanged. The cached values must not depend on which other images shared the batch they were
// computed in, since training batches are shuffled: so the cache point is below the first layer
// that is not per-image exact — a random layer (dropout draws a new mask every step), and also a
// connected layer, whose GEMM over the batch picks its blocking (and so its order of summation)
// by the batch size: with the AVX-512 kernels an image's fc output differs in the last bits
// between a batch of 128 and the last, partial batch. Convolutions run one GEMM per image and
// pools are exact, so those are cached (measured: test/exposure-cache.test.ts). When the best point does not fit in the
// memory budget, a lower one with smaller outputs is tried (e.g. a max-pool's output instead of
// the conv above it), down to no cache at all.
import type { Dataset } from '../data/types.js';
import { BatchLoader, oneHot } from '../data/batches.js';
import type { NetworkConfig } from '../nn/config.js';
import type { Network } from '../nn/network.js';
import { layerShapes } from '../nn/network.js';
import type { Rng } from '../nn/rng.js';
import { scoreProbs, type BatchSource, type Stepper } from '../nn/train.js';

/** Layer types whose output for an image is the same bits whatever batch it is computed in. */
const PER_IMAGE_EXACT = new Set(['convolutional', 'maxpool', 'avgpool']);

export interface CachePlan {
  /** cfg index of the layer whose output is cached (the job trains from after it). */
  after: number;
  /** Bytes the cached activations take (float32). */
  bytes: number;
}

export interface CacheDecision {
  plan: CachePlan | null;
  /** Why no cache, or why a lower point than the best one. */
  note: string | null;
}

/**
 * Where to cache for a job fine-tuning cfg layer `layer` on `images` images within `budgetBytes`:
 * the highest layer below it whose output fits, with only per-image exact layers up to it.
 */
export function planCache(config: NetworkConfig, layer: number, images: number, budgetBytes: number): CacheDecision {
  const shapes = layerShapes(config);
  let firstInexact = config.layers.findIndex((l) => !PER_IMAGE_EXACT.has(l.type));
  if (firstInexact < 0) firstInexact = config.layers.length;
  const best = Math.min(layer - 1, firstInexact - 1);
  if (best < 0) {
    return { plan: null, note: layer === 0 ? null : `layer ${firstInexact} (${config.layers[firstInexact]!.type}) is not per-image exact and lies below every cache point` };
  }
  for (let k = best; k >= 0; k--) {
    const s = shapes[k + 1]!;
    const bytes = images * s.c * s.h * s.w * 4;
    if (bytes <= budgetBytes) {
      return { plan: { after: k, bytes }, note: k === best ? null : `the output of layer ${best} does not fit in ${mib(budgetBytes)}; cached after layer ${k}` };
    }
  }
  return { plan: null, note: `no cache point below layer ${layer} fits in ${mib(budgetBytes)}` };
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Cached activations of the job's images, read by train() like a BatchLoader reads images. */
export class ActivationSource implements BatchSource {
  readonly size: number;
  readonly sampleSize: number;
  private readonly order: Uint32Array;

  constructor(readonly values: Float32Array, readonly labels: Uint8Array, sampleSize: number) {
    this.size = labels.length;
    this.sampleSize = sampleSize;
    this.order = new Uint32Array(this.size);
    this.shuffled(null);
  }

  /** The same permutation BatchLoader applies to its index list, applied to positions. */
  shuffled(rng: Rng | null): this {
    for (let i = 0; i < this.size; i++) this.order[i] = i;
    rng?.shuffle(this.order);
    return this;
  }

  fill(start: number, n: number, out: Float32Array, labels: Uint8Array): void {
    if (!(start >= 0 && n >= 0 && start + n <= this.size)) throw new RangeError(`ActivationSource.fill: positions ${start}..${start + n - 1} outside 0..${this.size - 1}`);
    const size = this.sampleSize;
    for (let b = 0; b < n; b++) {
      const p = this.order[start + b]!;
      out.set(this.values.subarray(p * size, (p + 1) * size), b * size);
      labels[b] = this.labels[p]!;
    }
  }
}

/**
 * Runs ds[indices] (in that order) through layers 0..after of net, in training mode as the
 * uncached job would, and keeps the outputs. net must already be prepared for the job (frozen).
 */
export function computeActivations(net: Network, ds: Dataset, indices: Uint32Array, after: number): ActivationSource {
  const loader = new BatchLoader(ds, indices);
  const sub = net.maxBatch;
  const input = new Float32Array(sub * loader.sampleSize);
  const batchLabels = new Uint8Array(sub);
  const s = net.layer(after)!.outShape;
  const size = s.c * s.h * s.w;
  const values = new Float32Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let start = 0; start < indices.length; start += sub) {
    const n = Math.min(sub, indices.length - start);
    loader.fill(start, n, input, batchLabels);
    const out = net.forwardPrefix(input, n, true, after);
    values.set(out.subarray(0, n * size), start * size);
    labels.set(batchLabels.subarray(0, n), start);
  }
  return new ActivationSource(values, labels, size);
}

/**
 * evaluate() (train.ts) of the cached images, in their given order and the same batches: the
 * frozen layers below the cache point compute the same in inference mode (no dropout there, frozen
 * batch norm uses its rolling statistics either way), so this is bit-identical to evaluating the
 * images, without their forward pass through the frozen layers.
 */
export function evaluateCached(net: Network, source: ActivationSource, after: number): { loss: number; acc: number; n: number } {
  const below = net.layer(after)!;
  const sub = net.maxBatch;
  const input = new Float32Array(sub * source.sampleSize);
  const labels = new Uint8Array(sub);
  source.shuffled(null);
  let ce = 0;
  let correct = 0;
  for (let start = 0; start < source.size; start += sub) {
    const n = Math.min(sub, source.size - start);
    source.fill(start, n, input, labels);
    below.output.set(input.subarray(0, n * source.sampleSize));
    const r = scoreProbs(net.forwardFrom(after + 1, n, false), labels, n, net.outputs);
    ce += r.ce;
    correct += r.correct;
  }
  const n = source.size;
  return { loss: n ? ce / n : NaN, acc: n ? correct / n : NaN, n };
}

/**
 * The network as a training Stepper whose batches are activations of layer `after`: the same
 * steps as networkStepper (train.ts), with the forward pass starting above the cache point.
 */
export function cachedStepper(net: Network, after: number): Stepper {
  const below = net.layer(after)!;
  const size = below.outShape.c * below.outShape.h * below.outShape.w;
  let truth: Float32Array | null = null;
  const unused = (): never => {
    throw new Error('internal: the activation cache is for training only');
  };
  return {
    inShape: below.outShape,
    outputs: net.outputs,
    batch: net.net.batch,
    maxBatch: net.maxBatch,
    trainBatch(input, labels, n) {
      const classes = net.outputs;
      if (!truth) truth = new Float32Array(net.maxBatch * classes);
      oneHot(labels, n, classes, truth);
      below.output.set(input.subarray(0, n * size));
      const probs = net.forwardFrom(after + 1, n, true, truth);
      const ce = scoreProbs(probs, labels, n, classes).ce;
      net.backward(input, n);
      return ce;
    },
    update(images) {
      net.update(images);
      net.seen += images;
    },
    scoreBatch: unused,
    predictImage: unused,
  };
}
