// The documented job payloads on the queue and their validation. A worker acts only on these
// fields, checked field by field (no unknown keys, types, ranges, hash formats); paths and code
// never come from the queue: the data is the worker's own --data, the cfg and the base model are
// fetched by SHA-256 and verified. Results coming back are validated the same way before the
// coordinator stores them.
import { createHash } from 'node:crypto';
import type { AttackDocument } from '../attack/run.js';
import { partitionName, type PartitionChoice, type PartitionSettings } from '../attack/sweep.js';
import { ATTACK_NAMES, type AttackName } from '../attack/types.js';
import { identityMismatch, type RunIdentity } from '../exposure/identity.js';
import { jobShuffleSeed, layerJobId, type FineTuneKind, type Metric } from '../exposure/jobs.js';
import type { ModelScores, SetScore } from '../exposure/protocol.js';
import type { EpochRecord, LayerResult } from '../exposure/worker.js';
import { OUTPUT_POLICIES } from '../tee/shared/protocol.js';

/**
 * The one queue of every layerlock job (exposure layers, attack-sweep partitions, their flows'
 * parents): one worker serves both kinds. The name is the one first released, so that running
 * workers and dashboards keep finding it.
 */
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

type Check = (v: unknown, path: string) => unknown;

const sha: Check = (v, path) => hex(v, path, 64);

/** The fields an exposure run's identity and an attack sweep's share, each with its check. */
const SHARED_IDENTITY_FIELDS = {
  layerlock_version: shortText,
  git_revision: textOrNull,
  kernels: shortText,
  isa: textOrNull,
  engine_fingerprint: sha,
  cfg: shortText,
  cfg_sha256: sha,
  data: shortText,
  data_sha256: sha,
  train_limit: intOrNull,
  test_limit: intOrNull,
  train_count: (v: unknown, path: string) => int(v, path, 2, 2 ** 31),
  test_count: (v: unknown, path: string) => int(v, path, 1, 2 ** 31),
  split: (v: unknown, path: string) => {
    const x = num(v, path);
    if (!(x > 0 && x < 1)) fail(path, 'must be in (0, 1)');
    return x;
  },
  resize: bool,
} satisfies Partial<Record<keyof RunIdentity, Check>>;

/** Checks every field of `checks` (and no other) and returns them in the table's order. */
function fields<T>(v: unknown, path: string, checks: Record<string, Check>): T {
  const o = object(v, path, Object.keys(checks));
  return Object.fromEntries(Object.entries(checks).map(([k, check]) => [k, check(o[k], `${path}.${k}`)])) as T;
}

const RUN_IDENTITY_FIELDS: Record<keyof RunIdentity, Check> = {
  ...SHARED_IDENTITY_FIELDS,
  epochs: intOrNull,
  ft_epochs: (v, path) => int(v, path, 0, 100_000),
  base_sha256: hexOrNull,
  base_seed: intOrNull,
};

export function validateIdentity(v: unknown, path: string): RunIdentity {
  return fields<RunIdentity>(v, path, RUN_IDENTITY_FIELDS);
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

// ---- attack sweeps -----------------------------------------------------------------------------------

export const ATTACK_JOB = 'attack-partition';
export const SWEEP_JOB = 'attack-sweep';

/**
 * What an attack sweep's numbers depend on besides the partition settings: the engine, the cfg,
 * the attacked weights and the data selection. Names (cfg, weights, data) are informational; the
 * rest is compared (through the job ids) and the data and engine fields are checked by each worker
 * against its own machine before it computes (exposure/identity.ts localMismatch).
 */
export interface SweepIdentity extends Pick<RunIdentity, keyof typeof SHARED_IDENTITY_FIELDS> {
  weights: string;
  weights_sha256: string;
  /** --seed: the S/T split of the training set. */
  split_seed: number;
}

const SWEEP_IDENTITY_FIELDS: Record<keyof SweepIdentity, Check> = {
  ...SHARED_IDENTITY_FIELDS,
  weights: shortText,
  weights_sha256: sha,
  split_seed: (v, path) => int(v, path, 0, 2 ** 32 - 1),
};

/** Not part of a sweep's key: they name things for people and do not change a number. */
const INFORMATIONAL: readonly string[] = ['layerlock_version', 'git_revision', 'cfg', 'data', 'weights'];

/** One partition's attacks. The cfg and the weights are fetched by identity.cfg_sha256 and weights_sha256. */
export interface AttackJobPayload {
  v: 1;
  /** The sweep's key (sweepKey): the prefix of every job id of the sweep. */
  sweep: string;
  partition: PartitionChoice;
  identity: SweepIdentity;
  settings: PartitionSettings;
}

/** The flow's parent: a summary of its children's results for dashboards. */
export interface SweepAggregatePayload {
  v: 1;
  sweep: string;
}

/** A short hash of everything a sweep's results depend on: equal keys, equal numbers. */
export function sweepKey(identity: SweepIdentity, settings: PartitionSettings): string {
  // Sorted: the key must not depend on the order in which an identity's fields were written.
  const compared = Object.entries(identity).filter(([k]) => !INFORMATIONAL.includes(k)).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify([compared, settings])).digest('hex').slice(0, 16);
}

export function attackJobId(sweep: string, p: PartitionChoice): string {
  return `${sweep}.${partitionName(p)}`;
}

export function sweepAggregateJobId(sweep: string, partitions: readonly PartitionChoice[]): string {
  return `${sweep}.sweep-${partitions.map(partitionName).join('_')}`;
}

const MAX_LAYERS = 10_000;

function partition(v: unknown, path: string): PartitionChoice {
  const kind = oneOf((v as Obj | null)?.['kind'], `${path}.kind`, ['last', 'range'] as const);
  if (kind === 'last') {
    const o = object(v, path, ['kind', 'k']);
    return { kind, k: int(o['k'], `${path}.k`, 0, MAX_LAYERS) };
  }
  const o = object(v, path, ['kind', 'start', 'end']);
  const start = int(o['start'], `${path}.start`, 0, MAX_LAYERS);
  const end = int(o['end'], `${path}.end`, start, MAX_LAYERS);
  return { kind, start, end };
}

function attackNames(v: unknown, path: string): AttackName[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > ATTACK_NAMES.length) fail(path, `must be a list of 1 to ${ATTACK_NAMES.length} attack names`);
  const names = (v as unknown[]).map((a, i) => oneOf(a, `${path}[${i}]`, ATTACK_NAMES));
  if (new Set(names).size !== names.length) fail(path, 'names an attack twice');
  return names;
}

const SETTINGS_FIELDS: Record<keyof PartitionSettings, Check> = {
  attacks: attackNames,
  members: (v, path) => int(v, path, 2, 2 ** 31),
  seed: (v, path) => int(v, path, 0, 2 ** 32 - 1),
  victim_seed: (v, path) => int(v, path, 0, 2 ** 32 - 1),
  substitute_epochs: (v, path) => int(v, path, 0, 100_000),
  substitute_limit: (v, path) => (v === null ? null : int(v, path, 1, 2 ** 31)),
  perturbations: (v, path) => int(v, path, 0, 10_000),
  bootstrap: (v, path) => int(v, path, 0, 1_000_000),
  steal: (v, path) => (v === null ? null : fields(v, path, { queries: (q, p) => int(q, p, 1, 2 ** 31), epochs: (e, p) => (e === null ? null : int(e, p, 1, 100_000)) })),
  output: (v, path) => oneOf(v, path, OUTPUT_POLICIES),
  topk: (v, path) => (v === null ? null : int(v, path, 1, 10_000)),
  secure_mem: (v, path) => (v === null ? null : int(v, path, 1, 2 ** 40)),
};

export function validateAttackPayload(v: unknown): AttackJobPayload {
  const o = object(v, 'payload', ['v', 'sweep', 'partition', 'identity', 'settings']);
  if (o['v'] !== PAYLOAD_VERSION) fail('payload.v', `must be ${PAYLOAD_VERSION} (a newer or older layerlock enqueued it)`);
  const p: AttackJobPayload = {
    v: PAYLOAD_VERSION,
    sweep: hex(o['sweep'], 'payload.sweep', 16),
    partition: partition(o['partition'], 'payload.partition'),
    identity: fields<SweepIdentity>(o['identity'], 'payload.identity', SWEEP_IDENTITY_FIELDS),
    settings: fields<PartitionSettings>(o['settings'], 'payload.settings', SETTINGS_FIELDS),
  };
  if (p.sweep !== sweepKey(p.identity, p.settings)) fail('payload.sweep', 'is not the key of the payload\'s identity and settings');
  return p;
}

export function validateSweepAggregatePayload(v: unknown): SweepAggregatePayload {
  const o = object(v, 'payload', ['v', 'sweep']);
  if (o['v'] !== PAYLOAD_VERSION) fail('payload.v', `must be ${PAYLOAD_VERSION}`);
  return { v: PAYLOAD_VERSION, sweep: hex(o['sweep'], 'payload.sweep', 16) };
}

// A partition's result: attack.json's document (attack/run.ts). Numbers may be null (JSON's
// spelling of NaN and ±Infinity, e.g. an extreme calibrated threshold): the stored file says null
// either way.

function numOrNull(v: unknown, path: string): number | null {
  return v === null ? null : num(v, path);
}

function pair(v: unknown, path: string): void {
  if (!Array.isArray(v) || v.length !== 2) fail(path, 'must be a pair of numbers');
  (v as unknown[]).forEach((x, i) => numOrNull(x, `${path}[${i}]`));
}

function list<T>(v: unknown, path: string, max: number, each: (x: unknown, path: string) => T): T[] {
  if (!Array.isArray(v) || v.length > max) fail(path, `must be a list of at most ${max} entries`);
  return (v as unknown[]).map((x, i) => each(x, `${path}[${i}]`));
}

/** Like object(), with keys that may be absent. */
function objectWith(v: unknown, path: string, keys: readonly string[], optional: readonly string[]): Obj {
  const o = v as Obj;
  return object(v, path, [...keys, ...optional.filter((k) => o !== null && typeof o === 'object' && k in o)]);
}

/** An attack's `detail`: at most 20 informational numbers, texts, booleans and number lists. */
function detail(v: unknown, path: string): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
  const entries = Object.entries(v as Obj);
  if (entries.length > 20) fail(path, 'has more than 20 fields');
  for (const [k, x] of entries) {
    shortText(k, `${path} key`);
    if (Array.isArray(x)) list(x, `${path}.${k}`, MAX_LAYERS, numOrNull);
    else if (typeof x === 'string') shortText(x, `${path}.${k}`);
    else if (typeof x !== 'boolean') numOrNull(x, `${path}.${k}`);
  }
}

function attackRecord(v: unknown, path: string, allowed: readonly AttackName[]): void {
  const o = objectWith(v, path, ['name', 'sees', 'auc', 'auc_ci95', 'tpr_at_fpr', 'tpr_at_fpr_ci95', 'advantage', 'calibrated', 'ci_method', 'seconds', 'roc'], ['detail']);
  oneOf(o['name'], `${path}.name`, allowed);
  list(o['sees'], `${path}.sees`, 20, shortText);
  numOrNull(o['auc'], `${path}.auc`);
  pair(o['auc_ci95'], `${path}.auc_ci95`);
  const t = object(o['tpr_at_fpr'], `${path}.tpr_at_fpr`, ['0.001', '0.01']);
  numOrNull(t['0.001'], `${path}.tpr_at_fpr.0.001`);
  numOrNull(t['0.01'], `${path}.tpr_at_fpr.0.01`);
  const tc = object(o['tpr_at_fpr_ci95'], `${path}.tpr_at_fpr_ci95`, ['0.001', '0.01']);
  pair(tc['0.001'], `${path}.tpr_at_fpr_ci95.0.001`);
  pair(tc['0.01'], `${path}.tpr_at_fpr_ci95.0.01`);
  numOrNull(o['advantage'], `${path}.advantage`);
  const c = object(o['calibrated'], `${path}.calibrated`, ['threshold', 'tpr', 'fpr', 'advantage', 'accuracy']);
  for (const k of Object.keys(c)) numOrNull(c[k], `${path}.calibrated.${k}`);
  longText(o['ci_method'], `${path}.ci_method`);
  num(o['seconds'], `${path}.seconds`);
  if ('detail' in o) detail(o['detail'], `${path}.detail`);
  list(o['roc'], `${path}.roc`, 100_000, pair);
}

/**
 * A partition job's result as it comes back from the queue, checked field by field and against
 * the job it answers (its partition's range, output, pools and settings). The document is returned
 * as delivered: its keys are the worker's, in the order attack() made them, so the stored
 * attack.json is the same bytes a local sweep writes (timings aside).
 */
export function validateAttackResult(v: unknown, expected: { range: [number, number] | null; settings: PartitionSettings }): AttackDocument {
  const path = 'result';
  const s = expected.settings;
  const o = objectWith(v, path, ['partition', 'members', 'nonmembers', 'attacks', 'refused', 'stealing', 'victim', 'options', 'seconds'], ['needs']);
  const part = object(o['partition'], `${path}.partition`, ['tee_layers', 'output', 'sees']);
  if (JSON.stringify(part['tee_layers']) !== JSON.stringify(expected.range)) fail(`${path}.partition.tee_layers`, `answers another partition than ${JSON.stringify(expected.range)}`);
  if (expected.range !== null && part['output'] !== s.output) fail(`${path}.partition.output`, `must be ${s.output}`);
  oneOf(part['output'], `${path}.partition.output`, OUTPUT_POLICIES);
  list(part['sees'], `${path}.partition.sees`, 20, shortText);
  if ('needs' in o) {
    const needs = object(o['needs'], `${path}.needs`, s.attacks);
    for (const k of s.attacks) list(needs[k], `${path}.needs.${k}`, 20, shortText);
  }
  if (o['members'] !== s.members || o['nonmembers'] !== s.members) fail(`${path}.members`, `must be ${s.members} members and as many non-members`);
  list(o['attacks'], `${path}.attacks`, ATTACK_NAMES.length, (a, p) => attackRecord(a, p, s.attacks));
  list(o['refused'], `${path}.refused`, ATTACK_NAMES.length, (r, p) => {
    const x = object(r, p, ['name', 'reason']);
    oneOf(x['name'], `${p}.name`, s.attacks);
    longText(x['reason'], `${p}.reason`);
  });
  if (o['stealing'] !== null) {
    if (s.steal === null) fail(`${path}.stealing`, 'must be null: the job did not ask for stealing');
    const st = object(o['stealing'], `${path}.stealing`, ['queries', 'surrogate_acc', 'agreement', 'victim_acc', 'blackbox_acc', 'blackbox_agreement', 'epochs', 'rebuilt_layers']);
    int(st['queries'], `${path}.stealing.queries`, 1, 2 ** 31);
    for (const k of ['surrogate_acc', 'agreement', 'victim_acc', 'blackbox_acc', 'blackbox_agreement']) numOrNull(st[k], `${path}.stealing.${k}`);
    int(st['epochs'], `${path}.stealing.epochs`, 0, 100_000);
    list(st['rebuilt_layers'], `${path}.stealing.rebuilt_layers`, MAX_LAYERS, (x, p) => int(x, p, 0, MAX_LAYERS));
  } else if (s.steal !== null) {
    fail(`${path}.stealing`, 'is missing: the job asked for stealing');
  }
  const vic = object(o['victim'], `${path}.victim`, ['members_acc', 'nonmembers_acc']);
  numOrNull(vic['members_acc'], `${path}.victim.members_acc`);
  numOrNull(vic['nonmembers_acc'], `${path}.victim.nonmembers_acc`);
  const opt = object(o['options'], `${path}.options`, ['seed', 'substitute_epochs', 'substitute_limit', 'perturbations', 'bootstrap', 'known_members']);
  const asked = { seed: s.seed, substitute_epochs: s.substitute_epochs, substitute_limit: s.substitute_limit, perturbations: s.perturbations, bootstrap: s.bootstrap, known_members: s.members };
  for (const [k, want] of Object.entries(asked)) if (opt[k] !== want) fail(`${path}.options.${k}`, `must be ${JSON.stringify(want)} (the job's setting)`);
  num(o['seconds'], `${path}.seconds`);
  return v as AttackDocument;
}
