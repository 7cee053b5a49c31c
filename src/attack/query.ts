// Asking the victim (through the Oracle) or a model the attacker holds about a whole pool, and
// the per-example quantities the score attacks use.
import type { Network } from '../nn/network.js';
import { LOG_FLOOR } from '../nn/layers/softmax.js';
import { logitConfidence, logitLayer, logitLoss } from './logits.js';
import { topLabels, type Oracle } from './oracle.js';
import { forChunks, poolLabels, type Pool } from './pools.js';

export interface PoolAnswers {
  /** Top-1 class per example. */
  labels: Int32Array;
  /** n × classes probabilities, when the scores are visible. */
  probs: Float32Array | null;
  /** n × classes logits, when the attacker computes the prediction itself (see logits.ts). */
  logits: Float32Array | null;
  truth: Uint8Array;
  classes: number;
}

/** In-place change of n images (CHW floats) before they are asked (label-only perturbations). */
export type Perturb = (input: Float32Array, n: number) => void;

/** The victim's answers for every example of the pool, through the oracle. */
export async function askPool(oracle: Oracle, pool: Pool, perturb?: Perturb): Promise<PoolAnswers> {
  const N = pool.indices.length;
  const C = oracle.classes;
  const labels = new Int32Array(N);
  let probs: Float32Array | null = null;
  let logits: Float32Array | null = null;
  await forChunks(pool, oracle.maxBatch, async (input, _l, n, offset) => {
    if (perturb) perturb(input, n);
    const a = await oracle.query(input, n);
    labels.set(topLabels(a, n, C), offset);
    if (a.kind === 'scores') {
      probs ??= new Float32Array(N * C);
      probs.set(a.probs.subarray(0, n * C), offset * C);
      if (a.logits) {
        logits ??= new Float32Array(N * C);
        logits.set(a.logits.subarray(0, n * C), offset * C);
      }
    }
  });
  return { labels, probs, logits, truth: poolLabels(pool), classes: C };
}

/** The same for a network the attacker holds (a substitute or a surrogate): always with scores. */
export async function localAnswers(net: Network, pool: Pool): Promise<PoolAnswers> {
  const N = pool.indices.length;
  const C = net.outputs;
  const probs = new Float32Array(N * C);
  const li = logitLayer(net.config);
  const logits = li !== null ? new Float32Array(N * C) : null;
  await forChunks(pool, net.maxBatch, (input, _l, n, offset) => {
    probs.set(net.forward(input, n, false).subarray(0, n * C), offset * C);
    if (logits) logits.set(net.layer(li!)!.output.subarray(0, n * C), offset * C);
  });
  const labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c]! > probs[i * C + best]!) best = c;
    labels[i] = best;
  }
  return { labels, probs, logits, truth: poolLabels(pool), classes: C };
}

/** Cross-entropy of the true class, per example (from the logits when available). */
export function lossOf(a: PoolAnswers): Float64Array {
  const z = a.logits;
  if (z) return Float64Array.from(a.truth, (y, i) => logitLoss(z, i * a.classes, a.classes, y));
  const p = a.probs;
  if (!p) throw new Error('internal: no scores');
  const C = a.classes;
  return Float64Array.from(a.truth, (y, i) => -Math.log(Math.max(p[i * C + y]!, LOG_FLOOR)));
}

/**
 * Logit-scaled confidence of the true class, log(p_y / (1 − p_y)) (Carlini et al. 2022): from the
 * logits when available; from the released probabilities otherwise (monotone in p_y, saturating
 * where float32 rounds p_y to 1).
 */
export function confidenceOf(a: PoolAnswers): Float64Array {
  const C = a.classes;
  const z = a.logits;
  if (z) return Float64Array.from(a.truth, (y, i) => logitConfidence(z, i * C, C, y));
  const p = a.probs;
  if (!p) throw new Error('internal: no scores');
  return Float64Array.from(a.truth, (y, i) => {
    const q = Math.min(Math.max(p[i * C + y]!, 1e-30), 1);
    return Math.log(q) - Math.log(Math.max(1 - q, 1e-30));
  });
}

/** Entropy of the output distribution, per example. */
export function entropyOf(a: PoolAnswers): Float64Array {
  const p = a.probs;
  if (!p) throw new Error('internal: no scores');
  const C = a.classes;
  const out = new Float64Array(a.truth.length);
  for (let i = 0; i < out.length; i++) {
    let h = 0;
    for (let c = 0; c < C; c++) {
      const q = p[i * C + c]!;
      if (q > 0) h -= q * Math.log(q);
    }
    out[i] = h;
  }
  return out;
}

/** 1 where the top-1 label is the true class. */
export function correctOf(a: PoolAnswers): Float64Array {
  return Float64Array.from(a.truth, (y, i) => (a.labels[i] === y ? 1 : 0));
}

export function negate(a: Float64Array): Float64Array {
  return a.map((x) => -x);
}
