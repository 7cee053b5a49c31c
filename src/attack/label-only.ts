// The label-only attack (Choquette-Choo et al. 2021): with nothing but the top-1 label, a member is
// more often classified correctly, and its label survives small changes of the input more often
// (the model is more confident about what it trained on). Score = how many of the original and R
// perturbed copies (±1–2 pixel translations, then Gaussian noise) get the true label.
import { Rng } from '../nn/rng.js';
import type { Shape } from '../nn/layer.js';
import { calibrateThreshold } from './metrics.js';
import type { Oracle } from './oracle.js';
import type { Pool } from './pools.js';
import { askPool, type Perturb } from './query.js';
import type { AttackContext, AttackScores } from './types.js';

const SHIFTS: [number, number][] = [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1], [2, 0], [-2, 0], [0, 2], [0, -2]];
/** Standard deviation of the noise perturbations, in pixel units of [0, 1]. */
export const NOISE_SIGMA = 0.1;

/** Shifts every image by (dx, dy) pixels, filling with zeros. */
export function translate(shape: Shape, dx: number, dy: number): Perturb {
  const { c, h, w } = shape;
  const tmp = new Float32Array(c * h * w);
  return (input, n) => {
    for (let i = 0; i < n; i++) {
      const img = input.subarray(i * c * h * w, (i + 1) * c * h * w);
      tmp.fill(0);
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++) {
          const sy = y - dy;
          if (sy < 0 || sy >= h) continue;
          for (let x = 0; x < w; x++) {
            const sx = x - dx;
            if (sx < 0 || sx >= w) continue;
            tmp[(ch * h + y) * w + x] = img[(ch * h + sy) * w + sx]!;
          }
        }
      }
      img.set(tmp);
    }
  };
}

/** Adds N(0, sigma²) noise per pixel, clipped to [0, 1]; the draws depend only on (seed, j, chunk number). */
export function noise(shape: Shape, sigma: number, seed: number, j: number): Perturb {
  const size = shape.c * shape.h * shape.w;
  let call = 0;
  return (input, n) => {
    const rng = new Rng(seed, 'label-only', j, call++);
    for (let i = 0; i < n * size; i++) input[i] = Math.min(1, Math.max(0, input[i]! + sigma * rng.normal()));
  };
}

/** The R perturbations: translations first, then noise. */
export function perturbations(shape: Shape, R: number, seed: number): Perturb[] {
  const out: Perturb[] = [];
  const shifts = Math.min(SHIFTS.length, Math.ceil(R / 2));
  for (let j = 0; j < shifts; j++) out.push(translate(shape, SHIFTS[j]![0], SHIFTS[j]![1]));
  for (let j = out.length; j < R; j++) out.push(noise(shape, NOISE_SIGMA, seed, j));
  return out;
}

/** Per example: how many of the original and the R perturbed copies the victim labels correctly. */
export async function robustnessScores(oracle: Oracle, pool: Pool, R: number, seed: number): Promise<Float64Array> {
  const score = new Float64Array(pool.indices.length);
  const truth = pool.indices.map((i) => pool.ds.labels[i]!);
  for (const p of [undefined, ...perturbations(oracle.inShape, R, seed)]) {
    const a = await askPool(oracle, pool, p);
    for (let i = 0; i < score.length; i++) if (a.labels[i] === truth[i]) score[i]! += 1;
  }
  return score;
}

export async function labelOnlyAttack(ctx: AttackContext): Promise<AttackScores> {
  const { oracle, pools, perturbations: R, seed } = ctx;
  const members = await robustnessScores(oracle, pools.members, R, seed);
  const nonmembers = await robustnessScores(oracle, pools.nonmembers, R, seed);
  const known = await robustnessScores(oracle, pools.knownMembers, R, seed);
  const knownNon = await robustnessScores(oracle, pools.knownNonmembers, R, seed);
  return {
    name: 'label-only',
    sees: ['labels', 'known-members'],
    members,
    nonmembers,
    threshold: calibrateThreshold(known, knownNon),
    detail: { perturbations: R, translations: Math.min(SHIFTS.length, Math.ceil(R / 2)), noise_sigma: NOISE_SIGMA },
  };
}
