// The documented job payloads on the queue and their validation. A worker acts only on these
// fields, checked field by field (no unknown keys, types, ranges, hash formats); paths and code
// never come from the queue: the data is the worker's own --data, the cfg and the base model are
// fetched by SHA-256 and verified. Results coming back are validated the same way before the
// coordinator stores them.
import { jobShuffleSeed, layerJobId, type FineTuneKind, type Metric } from '../exposure/jobs.js';
import type { ModelScores, SetScore } from '../exposure/protocol.js';
import type { EpochRecord, LayerResult } from '../exposure/worker.js';
import type { DataFingerprint, EngineFingerprint } from './identity.js';

export const QUEUE_NAME = 'layerlock-exposure';
/** Prefix of layerlock's own Redis keys (blobs, checkpoints); BullMQ keeps its default "bull". */
export const KEY_PREFIX = 'layerlock';
export const PAYLOAD_VERSION = 1;
export const LAYER_JOB = 'exposure-layer';
export const AGGREGATE_JOB = 'exposure-aggregate';

/** One Mr_l or Mp_l fine-tuning. */
export interface LayerJobPayload {
  v: 1;
  /** The run's key (identity.ts runKey). */
  run: string;
  seed: number;
  layer: number;
  kind: FineTuneKind;
  /** The network definition and the base model M of this seed, fetched by hash (blobs.ts). */
  cfg_sha256: string;
  base_sha256: string;
  split: number;
  ft_epochs: number;
  data: DataFingerprint;
  engine: EngineFingerprint;
}

/** The flow's parent: gathers its children's results once they are all done. */
export interface AggregatePayload {
  v: 1;
  run: string;
  metric: Metric;
}

export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

export function queueJobId(run: string, seed: number, layer: number, kind: FineTuneKind): string {
  return `${run}.${layerJobId(seed, layer, kind)}`;
}

export function aggregateJobId(run: string, seeds: readonly number[]): string {
  return `${run}.aggregate-s${seeds.join('_')}`;
}

// ---- a small strict schema checker -----------------------------------------------------------------

type Obj = Record<string, unknown>;

function fail(path: string, why: string): never {
  throw new PayloadError(`${path}: ${why}`);
}

function object(v: unknown, path: string, keys: readonly string[]): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
  const o = v as Obj;
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length > 0) fail(path, `unknown field ${extra[0]}`);
  const missing = keys.filter((k) => !(k in o));
  if (missing.length > 0) fail(path, `missing field ${missing[0]}`);
  return o;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be an integer in [${min}, ${max}]`);
  return v as number;
}

function intOrNull(v: unknown, path: string): number | null {
  return v === null ? null : int(v, path, 0, 2 ** 31);
}

function num(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a finite number');
  return v as number;
}

/** JSON carries NaN (a loss hidden in a TEE) as null. */
function numOrNaN(v: unknown, path: string): number {
  return v === null ? NaN : num(v, path);
}

function hex(v: unknown, path: string, length: number): string {
  if (typeof v !== 'string' || !new RegExp(`^[0-9a-f]{${length}}$`).test(v)) fail(path, `must be ${length} lowercase hex digits`);
  return v as string;
}

function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T)) fail(path, `must be one of ${values.join(', ')}`);
  return v as T;
}

function shortText(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length > 100 || !/^[\w .+()/-]*$/.test(v)) fail(path, 'must be a short plain string');
  return v as string;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'must be true or false');
  return v as boolean;
}

// ---- payloads --------------------------------------------------------------------------------------

function dataFingerprint(v: unknown, path: string): DataFingerprint {
  const o = object(v, path, ['sha256', 'train_limit', 'test_limit', 'train_count', 'test_count', 'resize']);
  return {
    sha256: hex(o['sha256'], `${path}.sha256`, 64),
    train_limit: intOrNull(o['train_limit'], `${path}.train_limit`),
    test_limit: intOrNull(o['test_limit'], `${path}.test_limit`),
    train_count: int(o['train_count'], `${path}.train_count`, 2, 2 ** 31),
    test_count: int(o['test_count'], `${path}.test_count`, 1, 2 ** 31),
    resize: bool(o['resize'], `${path}.resize`),
  };
}

function engine(v: unknown, path: string): EngineFingerprint {
  const o = object(v, path, ['layerlock', 'kernels']);
  return { layerlock: shortText(o['layerlock'], `${path}.layerlock`), kernels: shortText(o['kernels'], `${path}.kernels`) };
}

export function validateLayerPayload(v: unknown): LayerJobPayload {
  const o = object(v, 'payload', ['v', 'run', 'seed', 'layer', 'kind', 'cfg_sha256', 'base_sha256', 'split', 'ft_epochs', 'data', 'engine']);
  if (o['v'] !== PAYLOAD_VERSION) fail('payload.v', `must be ${PAYLOAD_VERSION} (a newer or older layerlock enqueued it)`);
  const split = num(o['split'], 'payload.split');
  if (!(split > 0 && split < 1)) fail('payload.split', 'must be in (0, 1)');
  return {
    v: PAYLOAD_VERSION,
    run: hex(o['run'], 'payload.run', 16),
    seed: int(o['seed'], 'payload.seed', 0, 2 ** 32 - 1),
    layer: int(o['layer'], 'payload.layer', 0, 10_000),
    kind: oneOf(o['kind'], 'payload.kind', ['mr', 'mp'] as const),
    cfg_sha256: hex(o['cfg_sha256'], 'payload.cfg_sha256', 64),
    base_sha256: hex(o['base_sha256'], 'payload.base_sha256', 64),
    split,
    ft_epochs: int(o['ft_epochs'], 'payload.ft_epochs', 0, 100_000),
    data: dataFingerprint(o['data'], 'payload.data'),
    engine: engine(o['engine'], 'payload.engine'),
  };
}

export function validateAggregatePayload(v: unknown): AggregatePayload {
  const o = object(v, 'payload', ['v', 'run', 'metric']);
  if (o['v'] !== PAYLOAD_VERSION) fail('payload.v', `must be ${PAYLOAD_VERSION}`);
  return { v: PAYLOAD_VERSION, run: hex(o['run'], 'payload.run', 16), metric: oneOf(o['metric'], 'payload.metric', ['loss', 'acc'] as const) };
}

// ---- results ---------------------------------------------------------------------------------------

function setScore(v: unknown, path: string): SetScore {
  const o = object(v, path, ['loss', 'acc', 'n']);
  return { loss: numOrNaN(o['loss'], `${path}.loss`), acc: numOrNaN(o['acc'], `${path}.acc`), n: int(o['n'], `${path}.n`, 0, 2 ** 31) };
}

function scores(v: unknown, path: string): ModelScores {
  const o = object(v, path, ['S', 'T', 'test']);
  return { S: setScore(o['S'], `${path}.S`), T: setScore(o['T'], `${path}.T`), test: setScore(o['test'], `${path}.test`) };
}

function epochRecords(v: unknown, path: string): EpochRecord[] {
  if (!Array.isArray(v) || v.length > 100_000) fail(path, 'must be an array');
  return (v as unknown[]).map((e, i) => {
    const o = object(e, `${path}[${i}]`, ['epoch', 'loss', 'seconds', 'img_s']);
    return { epoch: int(o['epoch'], `${path}[${i}].epoch`, 1, 100_000), loss: numOrNaN(o['loss'], `${path}[${i}].loss`), seconds: num(o['seconds'], `${path}[${i}].seconds`), img_s: num(o['img_s'], `${path}[${i}].img_s`) };
  });
}

/**
 * A layer job's result as it comes back from the queue, checked against the job it answers. The
 * object is rebuilt field by field in the order the local worker writes it, so the stored file is
 * the same bytes a local run writes (timings aside).
 */
export function validateLayerResult(v: unknown, job: { seed: number; layer: number; kind: FineTuneKind }): LayerResult {
  const path = 'result';
  const o = object(v, path, ['id', 'kind', 'seed', 'layer', 'type', 'params', 'shuffle_seed', 'scores', 'epochs', 'seconds', 'kernels']);
  const id = layerJobId(job.seed, job.layer, job.kind);
  if (o['id'] !== id || o['kind'] !== job.kind || o['seed'] !== job.seed || o['layer'] !== job.layer) fail(path, `answers another job than ${id}`);
  if (o['shuffle_seed'] !== jobShuffleSeed(job.seed, job.layer, job.kind)) fail(`${path}.shuffle_seed`, 'does not match the job');
  return {
    id, kind: job.kind, seed: job.seed, layer: job.layer,
    type: oneOf(o['type'], `${path}.type`, ['convolutional', 'connected'] as const),
    params: int(o['params'], `${path}.params`, 0, 2 ** 40),
    shuffle_seed: jobShuffleSeed(job.seed, job.layer, job.kind),
    scores: scores(o['scores'], `${path}.scores`),
    epochs: epochRecords(o['epochs'], `${path}.epochs`),
    seconds: num(o['seconds'], `${path}.seconds`),
    kernels: shortText(o['kernels'], `${path}.kernels`),
  };
}
