// The pipeline's run folder: pipeline.json (what was asked, where and with which code), one marker
// per finished stage under stages/, and the stages' own folders. A stage counts as done only when its
// marker exists, and the marker is written atomically after everything the stage produced: a run
// killed at any moment redoes at most the stage it was in (and the exposure and benchmark stages
// resume inside themselves).
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getKernels } from '../kernels/index.js';
import { atomicWrite } from '../util/fsutil.js';

export interface StageRecord<R = unknown> {
  name: string;
  seconds: number;
  finished_at: string;
  result: R;
}

/** What identifies a pipeline run: two invocations with equal settings may continue each other's work. */
export interface PipelineSettings {
  cfg: string;
  cfg_sha256: string;
  data: string;
  train_limit: number | null;
  test_limit: number | null;
  split: number;
  resize: boolean;
  seeds: number[];
  epochs: number;
  ft_epochs: number;
  secure_mem: number;
  bench_reps: number;
  bench_batches: number;
  device_epochs: number;
  predict_images: number;
  attack_members: number;
  /** SHA-256 of the trained weights the train stage starts from (`run --model`); absent otherwise. */
  base_weights_sha256?: string;
}

export interface Environment {
  layerlock_version: string;
  /** git revision of the code, when it runs from a git checkout. */
  revision: string | null;
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  /** The kernel backend and instruction set, e.g. "native-avx512 (2 threads)". */
  kernels: string;
}

export interface PipelineManifest {
  format: 'layerlock-pipeline/1';
  settings: PipelineSettings;
  environment: Environment;
  /** The command that started the run, when known (for "how to reproduce"). */
  command: string | null;
  started_at: string;
}

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function layerlockVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/src/pipeline or src/pipeline)
    }
  }
  return 'unknown';
}

/** The code's git revision (with "-dirty" when the work tree has changes), or null outside git. */
export function codeRevision(): string | null {
  try {
    const rev = execFileSync('git', ['-C', PACKAGE_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', PACKAGE_ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? rev : `${rev}-dirty`;
  } catch {
    return null;
  }
}

export function environment(): Environment {
  return {
    layerlock_version: layerlockVersion(),
    revision: codeRevision(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    kernels: getKernels().name,
  };
}

export const MANIFEST = 'pipeline.json';

export function stageFile(out: string, name: string): string {
  return join(out, 'stages', `${name}.json`);
}

export async function readStage<R>(out: string, name: string): Promise<StageRecord<R> | null> {
  try {
    return JSON.parse(await readFile(stageFile(out, name), 'utf8')) as StageRecord<R>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${stageFile(out, name)}: unreadable stage record (${(e as Error).message.split('\n')[0]}); delete it to redo the stage`);
  }
}

export async function writeStage<R>(out: string, record: StageRecord<R>): Promise<void> {
  await atomicWrite(stageFile(out, record.name), JSON.stringify(record, null, 2) + '\n');
}

/** The settings that differ between a recorded run and the one asked for (empty: same run). */
export function settingsDifference(recorded: PipelineSettings, wanted: PipelineSettings): string[] {
  // Both sides' keys: an optional setting (base_weights_sha256) recorded on one side only is a difference.
  const keys = [...new Set([...Object.keys(recorded), ...Object.keys(wanted)])] as (keyof PipelineSettings)[];
  return keys.filter((k) => JSON.stringify(recorded[k]) !== JSON.stringify(wanted[k]));
}

/**
 * Records the run's settings in a new folder, or checks that a folder with earlier work was made with
 * the same ones: finished stages of another configuration must never be mixed into this one.
 */
export async function checkOrRecordManifest(out: string, manifest: PipelineManifest): Promise<PipelineManifest> {
  const path = join(out, MANIFEST);
  let prev: PipelineManifest | null = null;
  try {
    prev = JSON.parse(await readFile(path, 'utf8')) as PipelineManifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: unreadable (${(e as Error).message.split('\n')[0]})`);
  }
  if (prev) {
    const differs = settingsDifference(prev.settings, manifest.settings);
    if (differs.length > 0) {
      throw new Error(`${out} holds a pipeline run with other settings (${differs.join(', ')} differ): use another --out, or delete ${out} to start over`);
    }
    return prev;
  }
  await atomicWrite(path, JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
