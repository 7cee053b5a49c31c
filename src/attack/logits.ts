// Scores from the logits (the softmax's input) when the attacker computes the prediction itself.
// Float32 probabilities of a confident model saturate: for VGG-7 on MNIST most training and test
// images get p(true class) == 1.0f exactly, so loss and confidence tie and the attack sees nothing.
// From the logits, in float64, the loss log-sum-exp(z) − z_y and Carlini et al.'s logit-scaled
// confidence log(p_y / (1 − p_y)) = z_y − log-sum-exp_{c≠y} z_c keep every difference.
import type { NetworkConfig } from '../nn/config.js';
import { predictionLayer } from '../tee/roles.js';

/** Index of the layer whose output is the softmax's input, or null when the prediction is not a softmax. */
export function logitLayer(config: NetworkConfig): number | null {
  const o = predictionLayer(config);
  return config.layers[o]!.type === 'softmax' && o > 0 ? o - 1 : null;
}

function lse(z: ArrayLike<number>, off: number, C: number, skip = -1): number {
  let m = -Infinity;
  for (let c = 0; c < C; c++) if (c !== skip && z[off + c]! > m) m = z[off + c]!;
  let s = 0;
  for (let c = 0; c < C; c++) if (c !== skip) s += Math.exp(z[off + c]! - m);
  return m + Math.log(s);
}

/** Cross-entropy of class y from logits z[off .. off+C). */
export function logitLoss(z: ArrayLike<number>, off: number, C: number, y: number): number {
  return lse(z, off, C) - z[off + y]!;
}

/** log(p_y / (1 − p_y)) from logits. */
export function logitConfidence(z: ArrayLike<number>, off: number, C: number, y: number): number {
  return z[off + y]! - lse(z, off, C, y);
}

/** Softmax probabilities in float64 (for gradients that float32 would round to zero). */
export function softmax64(z: ArrayLike<number>, off: number, C: number): Float64Array {
  const l = lse(z, off, C);
  return Float64Array.from({ length: C }, (_, c) => Math.exp(z[off + c]! - l));
}
