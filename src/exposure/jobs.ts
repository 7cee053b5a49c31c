// The exposure protocol's unit of work (DESIGN.md §3): per seed one base job (train M on S, or
// evaluate a given --base) and, per trainable layer l, one Mr_l and one Mp_l job. Every job is
// named and seeded from (seed, layer, kind) alone, so its numbers do not depend on --jobs, on the
// order jobs finish in, or on whether the run was interrupted.
import type { NetworkConfig } from '../nn/config.js';
import { layerShapes } from '../nn/network.js';
import { Rng } from '../nn/rng.js';

export type Metric = 'loss' | 'acc';
export type FineTuneKind = 'mr' | 'mp';

// The identity of a run lives in identity.ts; re-exported here for the modules that used it from here.
export type { RunIdentity } from './identity.js';

export interface BaseJob {
  kind: 'base';
  id: string;
  seed: number;
}

export interface LayerJob {
  kind: FineTuneKind;
  id: string;
  seed: number;
  /** cfg index of the layer θ_l. */
  layer: number;
  /** Shuffling seed of the fine-tuning run. */
  shuffleSeed: number;
}

export type Job = BaseJob | LayerJob;

export function baseJobId(seed: number): string {
  return `s${seed}-base`;
}

export function layerJobId(seed: number, layer: number, kind: FineTuneKind): string {
  return `s${seed}-l${layer}-${kind}`;
}

/** The fine-tuning shuffle seed of job (seed, layer, kind): independent of everything else. */
export function jobShuffleSeed(seed: number, layer: number, kind: FineTuneKind): number {
  return new Rng(seed, 'exposure', layer, kind).nextU32();
}

/** cfg indices of the trainable layers (convolutional, connected), in network order. */
export function trainableIndices(config: NetworkConfig): number[] {
  const out: number[] = [];
  config.layers.forEach((l, i) => {
    if (l.type === 'convolutional' || l.type === 'connected') out.push(i);
  });
  return out;
}

/**
 * All jobs of a run in scheduling order: the bases first (everything else waits for them), then
 * per seed the layers from the first to the last. The first layers' jobs backpropagate through the
 * whole network and are the longest, so starting them first keeps the workers evenly busy at the end.
 */
export function jobList(config: NetworkConfig, seeds: readonly number[]): Job[] {
  const jobs: Job[] = seeds.map((seed) => ({ kind: 'base', id: baseJobId(seed), seed }));
  for (const seed of seeds) {
    for (const layer of trainableIndices(config)) {
      for (const kind of ['mr', 'mp'] as const) {
        jobs.push({ kind, id: layerJobId(seed, layer, kind), seed, layer, shuffleSeed: jobShuffleSeed(seed, layer, kind) });
      }
    }
  }
  return jobs;
}

/** The job a layer job waits for. */
export function dependencyOf(job: Job): string | null {
  return job.kind === 'base' ? null : baseJobId(job.seed);
}

/** Short labels as in the paper's figures: conv1 … convN, fc1 … fcM, in network order. */
export function layerLabels(config: NetworkConfig): Map<number, string> {
  const labels = new Map<number, string>();
  let conv = 0;
  let fc = 0;
  config.layers.forEach((l, i) => {
    if (l.type === 'convolutional') labels.set(i, `conv${++conv}`);
    else if (l.type === 'connected') labels.set(i, `fc${++fc}`);
  });
  return labels;
}

/** Multiply-accumulates of one image's forward pass through each layer (0 for cheap layers). */
export function layerMacs(config: NetworkConfig): number[] {
  const shapes = layerShapes(config);
  return config.layers.map((l, i) => {
    const inS = shapes[i]!;
    const out = shapes[i + 1]!;
    if (l.type === 'convolutional') return out.c * out.h * out.w * inS.c * l.size * l.size;
    if (l.type === 'connected') return out.c * inS.c * inS.h * inS.w;
    return 0;
  });
}

export interface CostInputs {
  config: NetworkConfig;
  sCount: number;
  tCount: number;
  testCount: number;
  epochs: number;
  ftEpochs: number;
  /** Base jobs only evaluate when the base model is given. */
  baseGiven: boolean;
}

/**
 * Relative cost of a job in multiply-accumulates, for the progress bar's ETA. A training image
 * costs a forward pass plus the backward work down to the lowest trained layer: input gradients
 * of every layer above it, weight gradients of trained layers only. Evaluation of S, T and the
 * test set is one forward pass per image.
 */
export function jobCost(job: Job, c: CostInputs): number {
  const macs = layerMacs(c.config);
  const forward = macs.reduce((a, b) => a + b, 0);
  const evalCost = (c.sCount + c.tCount + c.testCount) * forward;
  if (job.kind === 'base') {
    if (c.baseGiven) return evalCost;
    const first = trainableIndices(c.config)[0] ?? 0;
    const backward = macs.reduce((a, m, i) => a + (i > first ? 2 * m : i === first ? m : 0), 0);
    return c.epochs * c.sCount * (forward + backward) + evalCost;
  }
  const backward = macs.reduce((a, m, i) => a + (i > job.layer ? m : i === job.layer ? m : 0), 0);
  const n = job.kind === 'mr' ? c.tCount : c.sCount;
  return c.ftEpochs * n * (forward + backward) + evalCost;
}
