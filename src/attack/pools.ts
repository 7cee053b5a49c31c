// The examples of a membership-inference experiment. Evaluation: members drawn from S (the private
// training set) and an equal number of non-members the model never saw (the test set). The
// attacker's own labelled pool (known members and non-members, as in Nasr et al. 2019's supervised
// setting) is disjoint from both and is the only place thresholds are calibrated and attack models
// trained. Public data T (disjoint from S) trains substitutes and answers stealing queries.
import { BatchLoader } from '../data/batches.js';
import type { Dataset } from '../data/types.js';
import { Rng } from '../nn/rng.js';

/** Labelled examples: ds[indices]. */
export interface Pool {
  ds: Dataset;
  indices: Uint32Array;
}

export interface AttackPools {
  members: Pool;
  nonmembers: Pool;
  knownMembers: Pool;
  knownNonmembers: Pool;
  /** The attacker's public data (T). */
  publicData: Pool;
  /** Where stealing is scored (the test set). */
  test: Pool;
}

export interface AttackData {
  train: Dataset;
  test: Dataset;
  S: Uint32Array;
  T: Uint32Array;
}

function shuffled(indices: Uint32Array, seed: number, label: string): Uint32Array {
  const a = Uint32Array.from(indices);
  new Rng(seed, 'attack', label).shuffle(a);
  return a;
}

function allOf(ds: Dataset): Uint32Array {
  return Uint32Array.from({ length: ds.count }, (_, i) => i);
}

/**
 * n members from S and n non-members from the test set for evaluation, n more of each for the
 * attacker's labelled pool; all four disjoint. Fails with a clear message when the data is too small.
 */
export function selectPools(data: AttackData, n: number, seed: number): AttackPools {
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError(`--members must be an integer ≥ 2 (got ${n})`);
  if (data.S.length < 2 * n) throw new RangeError(`--members ${n} needs ${2 * n} images of S (evaluation + the attacker's known members); S has ${data.S.length}`);
  if (data.test.count < 2 * n) throw new RangeError(`--members ${n} needs ${2 * n} test images (evaluation + the attacker's known non-members); the test set has ${data.test.count}`);
  if (data.T.length === 0) throw new RangeError('the attacker needs public data T: use --split below 1');
  const s = shuffled(data.S, seed, 'members');
  const v = shuffled(allOf(data.test), seed, 'nonmembers');
  const sorted = (a: Uint32Array): Uint32Array => a.slice().sort();
  return {
    members: { ds: data.train, indices: sorted(s.subarray(0, n)) },
    knownMembers: { ds: data.train, indices: sorted(s.subarray(n, 2 * n)) },
    nonmembers: { ds: data.test, indices: sorted(v.subarray(0, n)) },
    knownNonmembers: { ds: data.test, indices: sorted(v.subarray(n, 2 * n)) },
    publicData: { ds: data.train, indices: data.T },
    test: { ds: data.test, indices: allOf(data.test) },
  };
}

/** The first n of a seeded shuffle of a pool (e.g. the stealing queries out of T). */
export function subsample(pool: Pool, n: number, seed: number, label: string): Pool {
  if (n >= pool.indices.length) return pool;
  return { ds: pool.ds, indices: shuffled(pool.indices, seed, label).subarray(0, n).slice().sort() };
}

/** Calls fn for consecutive chunks of ≤ chunk images of the pool, as floats (CHW, /255) and labels. */
export async function forChunks(pool: Pool, chunk: number, fn: (input: Float32Array, labels: Uint8Array, n: number, offset: number) => void | Promise<void>): Promise<void> {
  const loader = new BatchLoader(pool.ds, pool.indices);
  const input = new Float32Array(chunk * loader.sampleSize);
  const labels = new Uint8Array(chunk);
  for (let s = 0; s < loader.size; s += chunk) {
    const n = Math.min(chunk, loader.size - s);
    loader.fill(s, n, input, labels);
    await fn(input, labels, n, s);
  }
}

/** True labels of a pool, in pool order. */
export function poolLabels(pool: Pool): Uint8Array {
  const out = new Uint8Array(pool.indices.length);
  for (let i = 0; i < out.length; i++) out[i] = pool.ds.labels[pool.indices[i]!]!;
  return out;
}
