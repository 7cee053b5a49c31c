// The S/T split of the exposure protocol: S trains the models, T is the held-out half they are compared on.

import { Rng } from '../nn/rng.js';

/**
 * Seeded permutation of 0..count-1; S = its first round(count·fraction) entries, T the rest. Both come
 * back sorted so that a split is a stable, comparable description independent of permutation order,
 * and the same seed gives the same split on any machine (the Rng is platform-independent).
 */
export function splitST(count: number, seed: number, fraction = 0.5): { S: Uint32Array; T: Uint32Array } {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`splitST: count must be a non-negative integer (got ${count})`);
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`splitST: fraction must be in [0, 1] (got ${fraction})`);
  const perm = new Uint32Array(count);
  for (let i = 0; i < count; i++) perm[i] = i;
  new Rng(seed, 'split').shuffle(perm);
  const nS = Math.round(count * fraction);
  const S = perm.slice(0, nS).sort();
  const T = perm.slice(nS).sort();
  return { S, T };
}
