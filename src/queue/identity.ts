// What a queued job's numbers depend on, as hashes a worker on another machine can check against
// its own copy: the data (content of the selected training and test sets), the engine (layerlock
// version, kernel backend and instruction set) and the run's options. Jobs of runs with different
// identities never share queue ids, so their results cannot mix.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Dataset } from '../data/types.js';
import { getKernels } from '../kernels/index.js';

export interface EngineFingerprint {
  /** layerlock's package version. */
  layerlock: string;
  /** Kernel backend and instruction set, e.g. native-avx512 (thread counts do not change results). */
  kernels: string;
}

export interface DataFingerprint {
  /** SHA-256 of the selected training and test sets (pixels, labels, shapes). */
  sha256: string;
  train_limit: number | null;
  test_limit: number | null;
  train_count: number;
  test_count: number;
  resize: boolean;
}

let version: string | null = null;

export function layerlockVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

export function engineFingerprint(): EngineFingerprint {
  return { layerlock: layerlockVersion(), kernels: getKernels().name.replace(/\s*\(.*\)$/, '') };
}

/** SHA-256 of a training and a test set as the network sees them (after limits and resizing). */
export function datasetsSha256(train: Dataset, test: Dataset): string {
  const h = createHash('sha256');
  for (const [name, ds] of [['train', train], ['test', test]] as const) {
    h.update(`${name}:${ds.count}:${ds.channels}x${ds.height}x${ds.width}:${ds.classes}\n`);
    h.update(ds.images.subarray(0, ds.count * ds.channels * ds.height * ds.width));
    h.update(ds.labels.subarray(0, ds.count));
  }
  return h.digest('hex');
}

/** The first difference between a job's fingerprints and this worker's, as one sentence; null if none. */
export function fingerprintDifference(
  job: { engine: EngineFingerprint; data: DataFingerprint },
  here: { engine: EngineFingerprint; data: DataFingerprint },
): string | null {
  if (job.engine.layerlock !== here.engine.layerlock) return `the run uses layerlock ${job.engine.layerlock}, this worker is ${here.engine.layerlock}`;
  if (job.engine.kernels !== here.engine.kernels) return `the run uses the ${job.engine.kernels} kernels, this worker has ${here.engine.kernels} (results would differ in the last bits)`;
  if (job.data.train_count !== here.data.train_count || job.data.test_count !== here.data.test_count) {
    return `the run has ${job.data.train_count}/${job.data.test_count} training/test images, this worker's data gives ${here.data.train_count}/${here.data.test_count}`;
  }
  if (job.data.sha256 !== here.data.sha256) return `this worker's data differs from the run's (content SHA-256 ${here.data.sha256.slice(0, 12)}… vs ${job.data.sha256.slice(0, 12)}…)`;
  return null;
}

/** Canonical JSON (sorted keys), so equal identities hash equally whatever the field order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Everything that decides the numbers of a run's jobs (seeds excepted: they are in each job id). */
export interface QueueRunIdentity {
  cfg_sha256: string;
  data: DataFingerprint;
  engine: EngineFingerprint;
  split: number;
  epochs: number | null;
  ft_epochs: number;
  /** The given --base model's SHA-256, or null when M is trained by the coordinator. */
  base_sha256: string | null;
}

/** 16 hex digits naming the run on the queue: the prefix of every job id. */
export function runKey(id: QueueRunIdentity): string {
  return createHash('sha256').update(`layerlock-queue-run-v1\n${canonical(id)}`).digest('hex').slice(0, 16);
}
