// Batching without copying the data set per epoch: an epoch is a permutation of a reused index array,
// and each batch is converted from bytes to float32 straight into a buffer the caller owns (the
// network's input tensor), so training allocates nothing per batch.

import type { Rng } from '../nn/rng.js';
import type { Dataset } from './types.js';

/** byte → byte/255 as float32, the Darknet input scaling; a lookup beats a divide per pixel. */
const SCALE = new Float32Array(256);
for (let i = 0; i < 256; i++) SCALE[i] = i / 255;

export class BatchLoader {
  readonly dataset: Dataset;
  /** Number of batch positions (the length of the index list). */
  readonly size: number;
  /** Values per image: channels × height × width. */
  readonly sampleSize: number;
  private readonly base: Uint32Array;
  private readonly order: Uint32Array;

  /** indices: which images of the data set take part (e.g. S from splitST); default all of them. */
  constructor(dataset: Dataset, indices?: Uint32Array) {
    this.dataset = dataset;
    this.sampleSize = dataset.channels * dataset.height * dataset.width;
    if (indices) {
      for (let i = 0; i < indices.length; i++) {
        if (indices[i]! >= dataset.count) {
          throw new RangeError(`BatchLoader: index ${indices[i]} out of range for ${dataset.count} images`);
        }
      }
      this.base = Uint32Array.from(indices);
    } else {
      this.base = new Uint32Array(dataset.count);
      for (let i = 0; i < dataset.count; i++) this.base[i] = i;
    }
    this.size = this.base.length;
    this.order = this.base.slice();
  }

  /**
   * New epoch order. Starts from the given index order each time rather than from the previous
   * epoch's, so epoch k's order depends only on the rng state — a resumed run reproduces it.
   */
  shuffled(rng: Rng): this {
    this.order.set(this.base);
    rng.shuffle(this.order);
    return this;
  }

  /** Back to the given index order (for evaluation, where order must not depend on any rng). */
  ordered(): this {
    this.order.set(this.base);
    return this;
  }

  /** Data-set index of the image at a batch position in the current order. */
  indexAt(position: number): number {
    if (!(position >= 0 && position < this.size)) throw new RangeError(`BatchLoader: position ${position} out of range`);
    return this.order[position]!;
  }

  batchCount(batchSize: number, dropLast = false): number {
    return dropLast ? Math.floor(this.size / batchSize) : Math.ceil(this.size / batchSize);
  }

  /**
   * Writes images at positions start..start+n-1 as float32 pixel/255 (CHW) into out[0 .. n·sampleSize)
   * and their labels into labels[0 .. n).
   */
  fill(start: number, n: number, out: Float32Array, labels: Uint8Array | Int32Array): void {
    if (!(start >= 0 && n >= 0 && start + n <= this.size)) {
      throw new RangeError(`BatchLoader.fill: positions ${start}..${start + n - 1} outside 0..${this.size - 1}`);
    }
    const size = this.sampleSize;
    if (out.length < n * size) throw new RangeError(`BatchLoader.fill: output holds ${out.length} values, needs ${n * size}`);
    if (labels.length < n) throw new RangeError(`BatchLoader.fill: label buffer holds ${labels.length}, needs ${n}`);
    const images = this.dataset.images;
    const dsLabels = this.dataset.labels;
    const order = this.order;
    for (let b = 0; b < n; b++) {
      const idx = order[start + b]!;
      const src = idx * size;
      const dst = b * size;
      for (let j = 0; j < size; j++) out[dst + j] = SCALE[images[src + j]!]!;
      labels[b] = dsLabels[idx]!;
    }
  }
}

/** One-hot targets for the first n labels into out[0 .. n·classes). */
export function oneHot(labels: ArrayLike<number>, n: number, classes: number, out: Float32Array): void {
  if (out.length < n * classes) throw new RangeError(`oneHot: output holds ${out.length} values, needs ${n * classes}`);
  out.fill(0, 0, n * classes);
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (!(l >= 0 && l < classes)) throw new RangeError(`oneHot: label ${l} at ${i} is not in 0..${classes - 1}`);
    out[i * classes + l] = 1;
  }
}
