// The documented job payloads on the queue and their validation. A worker acts only on these
// fields, checked field by field (no unknown keys, types, ranges, hash formats); paths and code
// never come from the queue: the data is the worker's own --data, the cfg and the base model are
// fetched by SHA-256 and verified. Results coming back are validated the same way before the
// coordinator stores them.
import { identityMismatch, type RunIdentity } from '../exposure/identity.js';
import { jobShuffleSeed, layerJobId, type FineTuneKind, type Metric } from '../exposure/jobs.js';
import type { ModelScores, SetScore } from '../exposure/protocol.js';
import type { EpochRecord, LayerResult } from '../exposure/worker.js';

export const QUEUE_NAME = 'layerlock-exposure';
/** Prefix of layerlock's own Redis keys (blobs, checkpoints); BullMQ keeps its default "bull". */
export const KEY_PREFIX = 'layerlock';
export const PAYLOAD_VERSION = 1;
export const LAYER_JOB = 'exposure-layer';
export const AGGREGATE_JOB = 'exposure-aggregate';

/** One Mr_l or Mp_l fine-tuning. */
export interface LayerJobPayload {
  v: 1;
  /** The run's key: identityKey(identity), the prefix of every job id of the run. */
  run: string;
  seed: number;
  layer: number;
  kind: FineTuneKind;
  /** The base model M of this seed, fetched by hash (blobs.ts); the cfg is fetched by identity.cfg_sha256. */
  base_sha256: string;
  /** The run's identity (exposure/identity.ts): data and engine hashes the worker checks its own against. */
  identity: RunIdentity;
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

/** Informational text (names, versions): short, printable, no control characters. */
function shortText(v: unknown, path: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof v !== 'string' || v.length > 200 || /[\u0000-\u001f\u007f]/.test(v)) fail(path, 'must be a short printable string');
  return v as string;
}

function textOrNull(v: unknown, path: string): string | null {
  return v === null ? null : shortText(v, path);
}

function hexOrNull(v: unknown, path: string): string | null {
  return v === null ? null : hex(v, path, 64);
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'must be true or false');
  return v as boolean;
}

// ---- payloads --------------------------------------------------------------------------------------

const IDENTITY_KEYS: readonly (keyof RunIdentity)[] = [
  'layerlock_version', 'git_revision', 'kernels', 'isa', 'engine_fingerprint', 'cfg', 'cfg_sha256', 'data', 'data_sha256',
  'train_limit', 'test_limit', 'train_count', 'test_count', 'split', 'resize', 'epochs', 'ft_epochs', 'base_sha256', 'base_seed',
];

export function validateIdentity(v: unknown, path: string): RunIdentity {
  const o = object(v, path, IDENTITY_KEYS);
  const split = num(o['split'], `${path}.split`);
  if (!(split > 0 && split < 1)) fail(`${path}.split`, 'must be in (0, 1)');
  return {
    layerlock_version: shortText(o['layerlock_version'], `${path}.layerlock_version`),
    git_revision: textOrNull(o['git_revision'], `${path}.git_revision`),
    kernels: shortText(o['kernels'], `${path}.kernels`),
    isa: textOrNull(o['isa'], `${path}.isa`),
    engine_fingerprint: hex(o['engine_fingerprint'], `${path}.engine_fingerprint`, 64),
    cfg: shortText(o['cfg'], `${path}.cfg`),
    cfg_sha256: hex(o['cfg_sha256'], `${path}.cfg_sha256`, 64),
    data: shortText(o['data'], `${path}.data`),
    data_sha256: hex(o['data_sha256'], `${path}.data_sha256`, 64),
    train_limit: intOrNull(o['train_limit'], `${path}.train_limit`),
    test_limit: intOrNull(o['test_limit'], `${path}.test_limit`),
    train_count: int(o['train_count'], `${path}.train_count`, 2, 2 ** 31),
    test_count: int(o['test_count'], `${path}.test_count`, 1, 2 ** 31),
    split,
    resize: bool(o['resize'], `${path}.resize`),
    epochs: intOrNull(o['epochs'], `${path}.epochs`),
    ft_epochs: int(o['ft_epochs'], `${path}.ft_epochs`, 0, 100_000),
    base_sha256: hexOrNull(o['base_sha256'], `${path}.base_sha256`),
    base_seed: intOrNull(o['base_seed'], `${path}.base_seed`),
  };
}

export function validateLayerPayload(v: unknown): LayerJobPayload {
  const o = object(v, 'payload', ['v', 'run', 'seed', 'layer', 'kind', 'base_sha256', 'identity']);
  if (o['v'] !== PAYLOAD_VERSION) fail('payload.v', `must be ${PAYLOAD_VERSION} (a newer or older layerlock enqueued it)`);
  return {
    v: PAYLOAD_VERSION,
    run: hex(o['run'], 'payload.run', 16),
    seed: int(o['seed'], 'payload.seed', 0, 2 ** 32 - 1),
    layer: int(o['layer'], 'payload.layer', 0, 10_000),
    kind: oneOf(o['kind'], 'payload.kind', ['mr', 'mp'] as const),
    base_sha256: hex(o['base_sha256'], 'payload.base_sha256', 64),
    identity: validateIdentity(o['identity'], 'payload.identity'),
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

/** Only the scores of a result (the aggregation needs nothing else). */
export function resultScores(v: unknown): ModelScores {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('result', 'must be an object');
  return scores((v as Obj)['scores'], 'result.scores');
}

/** Which activation cache a worker used (informational: results are the same either way). */
function activationCache(v: unknown, path: string): { after: number; bytes: number; seconds: number } | null {
  if (v === null) return null;
  const o = object(v, path, ['after', 'bytes', 'seconds']);
  return { after: int(o['after'], `${path}.after`, -1, 10_000), bytes: int(o['bytes'], `${path}.bytes`, 0, 2 ** 50), seconds: num(o['seconds'], `${path}.seconds`) };
}

/** A printable note (a sentence), at most 1000 characters. */
function longText(v: unknown, path: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof v !== 'string' || v.length > 1000 || /[\u0000-\u001f\u007f]/.test(v)) fail(path, 'must be a printable text of at most 1000 characters');
  return v as string;
}

function epochRecords(v: unknown, path: string): EpochRecord[] {
  if (!Array.isArray(v) || v.length > 100_000) fail(path, 'must be an array');
  return (v as unknown[]).map((e, i) => {
    const o = object(e, `${path}[${i}]`, ['epoch', 'loss', 'seconds', 'img_s']);
    return { epoch: int(o['epoch'], `${path}[${i}].epoch`, 1, 100_000), loss: numOrNaN(o['loss'], `${path}[${i}].loss`), seconds: num(o['seconds'], `${path}[${i}].seconds`), img_s: num(o['img_s'], `${path}[${i}].img_s`) };
  });
}

/**
 * A layer job's result as it comes back from the queue, checked against the job it answers: its
 * id, the run's identity and the base model it started from. The object is rebuilt field by field
 * in the order the local worker writes it, so the stored file is the same bytes a local run
 * writes (timings aside).
 */
export function validateLayerResult(
  v: unknown,
  job: { seed: number; layer: number; kind: FineTuneKind },
  expected: { identity: RunIdentity; base_sha256: string },
): LayerResult {
  const path = 'result';
  const o = object(v, path, ['id', 'kind', 'seed', 'identity', 'layer', 'type', 'base_weights_sha256', 'params', 'shuffle_seed', 'cache', 'cache_note', 'scores', 'epochs', 'seconds', 'kernels']);
  const id = layerJobId(job.seed, job.layer, job.kind);
  if (o['id'] !== id || o['kind'] !== job.kind || o['seed'] !== job.seed || o['layer'] !== job.layer) fail(path, `answers another job than ${id}`);
  if (o['shuffle_seed'] !== jobShuffleSeed(job.seed, job.layer, job.kind)) fail(`${path}.shuffle_seed`, 'does not match the job');
  const diff = identityMismatch(validateIdentity(o['identity'], `${path}.identity`), expected.identity);
  if (diff.length > 0) fail(`${path}.identity`, `computed under another identity: ${diff[0]!.message}`);
  if (o['base_weights_sha256'] !== expected.base_sha256) fail(`${path}.base_weights_sha256`, 'started from another base model');
  return {
    id, kind: job.kind, seed: job.seed, identity: expected.identity, layer: job.layer,
    type: oneOf(o['type'], `${path}.type`, ['convolutional', 'connected'] as const),
    base_weights_sha256: expected.base_sha256,
    params: int(o['params'], `${path}.params`, 0, 2 ** 40),
    shuffle_seed: jobShuffleSeed(job.seed, job.layer, job.kind),
    cache: activationCache(o['cache'], `${path}.cache`),
    cache_note: o['cache_note'] === null ? null : longText(o['cache_note'], `${path}.cache_note`),
    scores: scores(o['scores'], `${path}.scores`),
    epochs: epochRecords(o['epochs'], `${path}.epochs`),
    seconds: num(o['seconds'], `${path}.seconds`),
    kernels: shortText(o['kernels'], `${path}.kernels`),
  };
}
