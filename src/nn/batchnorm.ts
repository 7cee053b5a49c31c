// Batch normalisation shared by convolutional and connected layers (Darknet places it between the
// linear part and the bias; with it, the layer's biases play the role of the BN shift).
//
// Layout: n images × channels × spatial. Training normalises with the batch's mean and unbiased
// variance and moves the rolling statistics by 1 % per batch, as Darknet does; inference uses the
// rolling statistics, and so does a frozen layer during training: freezing must leave every one of
// its numbers (rolling statistics included) untouched, as the exposure protocol requires. Darknet's normaliser is (x - mean) / (sqrt(var) + 1e-6): we keep that form so
// Darknet-trained weights give the same outputs, and backpropagate its exact gradient.

import type { Allocator } from './layer.js';

export const BN_EPSILON = 0.000001;
const ROLLING = 0.01;

export interface BatchNormState {
  readonly scales: Float32Array;
  readonly scaleUpdates: Float32Array;
  readonly rollingMean: Float32Array;
  readonly rollingVariance: Float32Array;
  /** Batch statistics of the last training forward. */
  readonly mean: Float32Array;
  readonly variance: Float32Array;
  /** Normalised values (before scale), kept for the backward pass. */
  readonly xNorm: Float32Array;
}

export function makeBatchNorm(layer: number, channels: number, maxOutputs: number, alloc: Allocator): BatchNormState {
  return {
    scales: alloc.f32(layer, 'scales', channels).fill(1),
    scaleUpdates: alloc.f32(layer, 'scale_updates', channels),
    rollingMean: alloc.f32(layer, 'rolling_mean', channels),
    rollingVariance: alloc.f32(layer, 'rolling_variance', channels).fill(1),
    mean: alloc.f32(layer, 'bn_mean', channels),
    variance: alloc.f32(layer, 'bn_variance', channels),
    xNorm: alloc.f32(layer, 'x_norm', maxOutputs),
  };
}

/** In place on x: normalise, then multiply by scales. Biases are added by the caller. */
export function batchNormForward(bn: BatchNormState, x: Float32Array, n: number, channels: number, spatial: number, batchStats: boolean): void {
  const train = batchStats;
  const count = n * spatial;
  for (let c = 0; c < channels; c++) {
    let mean: number;
    let variance: number;
    if (train) {
      let sum = 0;
      for (let b = 0; b < n; b++) {
        const base = (b * channels + c) * spatial;
        for (let s = 0; s < spatial; s++) sum += x[base + s]!;
      }
      mean = sum / count;
      let sq = 0;
      for (let b = 0; b < n; b++) {
        const base = (b * channels + c) * spatial;
        for (let s = 0; s < spatial; s++) {
          const d = x[base + s]! - mean;
          sq += d * d;
        }
      }
      variance = count > 1 ? sq / (count - 1) : 0;
      bn.mean[c] = mean;
      bn.variance[c] = variance;
      bn.rollingMean[c] = (1 - ROLLING) * bn.rollingMean[c]! + ROLLING * mean;
      bn.rollingVariance[c] = (1 - ROLLING) * bn.rollingVariance[c]! + ROLLING * variance;
    } else {
      mean = bn.rollingMean[c]!;
      variance = bn.rollingVariance[c]!;
    }
    const inv = 1 / (Math.sqrt(variance) + BN_EPSILON);
    const scale = bn.scales[c]!;
    for (let b = 0; b < n; b++) {
      const base = (b * channels + c) * spatial;
      for (let s = 0; s < spatial; s++) {
        const v = (x[base + s]! - mean) * inv;
        if (train) bn.xNorm[base + s] = v;
        x[base + s] = v * scale;
      }
    }
  }
}

/**
 * delta (negative gradient w.r.t. the BN output) is turned in place into the negative gradient
 * w.r.t. the BN input; scale updates accumulate unless frozen. Requires a training forward before.
 */
export function batchNormBackward(bn: BatchNormState, delta: Float32Array, n: number, channels: number, spatial: number, frozen: boolean): void {
  if (frozen) {
    // The forward used the fixed rolling statistics, so BN is a per-channel affine map here.
    for (let c = 0; c < channels; c++) {
      const k = bn.scales[c]! / (Math.sqrt(bn.rollingVariance[c]!) + BN_EPSILON);
      for (let b = 0; b < n; b++) {
        const base = (b * channels + c) * spatial;
        for (let s = 0; s < spatial; s++) delta[base + s] = delta[base + s]! * k;
      }
    }
    return;
  }
  const count = n * spatial;
  for (let c = 0; c < channels; c++) {
    const scale = bn.scales[c]!;
    const sd = Math.sqrt(bn.variance[c]!);
    const s = sd + BN_EPSILON;
    let sumG = 0;
    let sumGX = 0;
    let sumScale = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * channels + c) * spatial;
      for (let k = 0; k < spatial; k++) {
        const d = delta[base + k]!;
        const xn = bn.xNorm[base + k]!;
        sumScale += d * xn;
        const g = d * scale;
        sumG += g;
        sumGX += g * xn;
      }
    }
    if (!frozen) bn.scaleUpdates[c] = bn.scaleUpdates[c]! + sumScale;
    const meanG = sumG / count;
    // d var / d x_i = 2 (x_i - mean) / (count - 1); chain through s = sqrt(var) + eps.
    const varTerm = count > 1 && sd > 0 ? sumGX / (sd * (count - 1)) : 0;
    for (let b = 0; b < n; b++) {
      const base = (b * channels + c) * spatial;
      for (let k = 0; k < spatial; k++) {
        const g = delta[base + k]! * scale;
        const xn = bn.xNorm[base + k]!;
        delta[base + k] = (g - meanG) / s - xn * varTerm;
      }
    }
  }
}
