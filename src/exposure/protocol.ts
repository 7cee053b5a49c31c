// The steps of DESIGN.md §3 on networks in memory, without files or processes: what a worker does
// for one job, and what the unit tests check bit for bit.
import type { Dataset } from '../data/types.js';
import type { Network } from '../nn/network.js';
import { evaluate, train, type BatchProgress, type EpochResult } from '../nn/train.js';
import type { FineTuneKind } from './jobs.js';
import { cachedStepper, computeActivations, evaluateCached, planCache, type CachePlan } from './cache.js';

export interface ExposureData {
  train: Dataset;
  test: Dataset;
  /** The private half S and the disjoint half T of the training set (indices into train). */
  S: Uint32Array;
  T: Uint32Array;
}

export interface SetScore {
  /** Mean cross-entropy, inference mode (dropout off). */
  loss: number;
  acc: number;
  n: number;
}

export interface ModelScores {
  S: SetScore;
  T: SetScore;
  test: SetScore;
}

export function scoreModel(net: Network, data: ExposureData): ModelScores {
  const s = (r: { loss: number; acc: number; n: number }): SetScore => ({ loss: r.loss, acc: r.acc, n: r.n });
  return {
    S: s(evaluate(net, data.train, data.S)),
    T: s(evaluate(net, data.train, data.T)),
    test: s(evaluate(net, data.test)),
  };
}

/** Trains the base model M on S: the same run as `layerlock train` with the same seed. */
export async function trainBase(
  net: Network,
  data: ExposureData,
  opts: { epochs: number; seed: number; startEpoch?: number; onBatch?: (p: BatchProgress) => void; onEpoch?: (r: EpochResult) => void | Promise<void> },
): Promise<EpochResult[]> {
  const r = await train(net, data.train, data.S, {
    epochs: opts.epochs,
    seed: opts.seed,
    startEpoch: opts.startEpoch ?? 0,
    onBatch: opts.onBatch,
    onEpoch: opts.onEpoch,
  });
  return r.epochs;
}

/**
 * Turns M (in net) into the starting point of Mr_l or Mp_l: θ_l re-initialised exactly as at the
 * start of training (Mr) or kept (Mp), every other layer frozen, no optimiser state carried over
 * (momentum of θ_l cleared, the learning-rate schedule restarted), so both fine-tunings run with
 * the training's optimiser settings from the same footing.
 */
export function prepareFineTune(net: Network, layer: number, kind: FineTuneKind): void {
  const l = net.layer(layer);
  if (!l || (l.type !== 'convolutional' && l.type !== 'connected')) {
    throw new RangeError(`layer ${layer} is not a trainable layer of this network`);
  }
  if (kind === 'mr') net.reinitialiseLayer(layer);
  for (const p of l.params()) p.updates?.fill(0);
  net.trainOnly([layer]);
  net.updates = 0;
}

export interface FineTuneResult {
  scores: ModelScores;
  epochs: EpochResult[];
  /** Seconds of training (evaluation excluded; the activation cache's computation included). */
  trainSeconds: number;
  /** The activation cache used (cache.ts), or null; with the reason when none or a lower point. */
  cache: (CachePlan & { seconds: number }) | null;
  cacheNote: string | null;
}

/**
 * Continuing a fine-tuning from a checkpoint (a killed worker's job taken over by another one).
 * restore() runs after prepareFineTune, puts the checkpointed state (every tensor, momentum, the
 * update counter) into net and returns the epochs it completed; the remaining epochs then see the
 * same shuffles and dropout masks as an uninterrupted run (both are keyed by epoch and update
 * count), so the result is bit-identical. onEpoch is awaited after every epoch, e.g. to save one.
 */
export interface FineTuneResume {
  restore?: (net: Network) => number;
  onEpoch?: (r: EpochResult) => void | Promise<void>;
}

/** Mr_l: trains the re-initialised θ_l on T. Mp_l: trains θ_l further on S. Then scores S, T, test. */
export async function fineTune(
  net: Network,
  data: ExposureData,
  job: { layer: number; kind: FineTuneKind; shuffleSeed: number },
  epochs: number,
  onBatch?: (p: BatchProgress) => void,
  /** Memory for the activation cache in bytes (cache.ts); 0 or absent: no cache. Results are the same. */
  cacheBytes = 0,
  resume: FineTuneResume = {},
): Promise<FineTuneResult> {
  prepareFineTune(net, job.layer, job.kind);
  const startEpoch = resume.restore ? resume.restore(net) : 0;
  const indices = job.kind === 'mr' ? data.T : data.S;
  const t0 = performance.now();
  const training = epochs > startEpoch;
  const decision = cacheBytes > 0 && training ? planCache(net.config, job.layer, indices.length, cacheBytes) : { plan: null, note: null };
  let cache: FineTuneResult['cache'] = null;
  let r: { epochs: EpochResult[] } = { epochs: [] };
  let scores: ModelScores;
  let trainSeconds: number;
  const schedule = { epochs, seed: job.shuffleSeed, startEpoch, onBatch, onEpoch: resume.onEpoch };
  if (decision.plan && training) {
    const { after } = decision.plan;
    const source = computeActivations(net, data.train, indices, after);
    cache = { ...decision.plan, seconds: (performance.now() - t0) / 1000 };
    r = await train(cachedStepper(net, after), data.train, indices, { ...schedule, source });
    trainSeconds = (performance.now() - t0) / 1000;
    // The job's own set is scored from the cache too (same batches, same order: the same numbers).
    const own = evaluateCached(net, source, after);
    const other = evaluate(net, data.train, job.kind === 'mr' ? data.S : data.T);
    const s = (x: { loss: number; acc: number; n: number }): SetScore => ({ loss: x.loss, acc: x.acc, n: x.n });
    scores = { S: s(job.kind === 'mr' ? other : own), T: s(job.kind === 'mr' ? own : other), test: s(evaluate(net, data.test)) };
  } else {
    if (training) r = await train(net, data.train, indices, schedule);
    trainSeconds = (performance.now() - t0) / 1000;
    scores = scoreModel(net, data);
  }
  return { scores, epochs: r.epochs, trainSeconds, cache, cacheNote: decision.note };
}
