// The identity of an exposure run: everything its numbers depend on, so results of two different
// computations are never mixed. Every finished job file carries the identity it was computed under
// and is reused only by a run with an equal identity (see store.ts, runner.ts).
//
// Two kinds of fields are compared:
//  - options the user chose (cfg contents, data contents, limits, split, resize, epochs, E_ft, the
//    --base file and its seed): a run into a folder made with other options is refused, because
//    the user most likely named the wrong --out;
//  - the engine (the kernel backend, its instruction set, the engine fingerprint of fingerprint.ts):
//    when it changed, the run goes on but recomputes every job made under the old engine.
// The version and git revision are recorded for people, not compared: the fingerprint measures
// what a code change does to the numbers. No field holds a machine path, so identities can be
// committed and compared across machines.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dataset } from '../data/types.js';
import { getKernels, nativeAvailable, nativeInfo } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import { engineFingerprint } from './fingerprint.js';

export interface RunIdentity {
  /** Informational: package version and git revision of the code that made the run (null without git). */
  layerlock_version: string;
  git_revision: string | null;
  /** Compared (engine): 'native' or 'reference', the native instruction set (null for reference), the fingerprint. */
  kernels: string;
  isa: string | null;
  engine_fingerprint: string;
  /** Informational: the cfg file's name. Compared: the SHA-256 of its text. */
  cfg: string;
  cfg_sha256: string;
  /** Informational: 'embedded' or the data folder's name. Compared: SHA-256 of the loaded sets (after limits and resize). */
  data: string;
  data_sha256: string;
  train_limit: number | null;
  test_limit: number | null;
  train_count: number;
  test_count: number;
  split: number;
  resize: boolean;
  /** Base training epochs E (null with --base). */
  epochs: number | null;
  /** Fine-tuning epochs E_ft of every Mr/Mp job. */
  ft_epochs: number;
  /** SHA-256 of a given base model and the seed it was trained with (its S/T split), or both null. */
  base_sha256: string | null;
  base_seed: number | null;
}

export type IdentityField = keyof RunIdentity;

/** Fields the user chose: a mismatch means another experiment, refused at the folder level. */
export const OPTION_FIELDS: readonly IdentityField[] = [
  'cfg_sha256', 'data_sha256', 'train_count', 'test_count', 'train_limit', 'test_limit', 'split', 'resize',
  'epochs', 'ft_epochs', 'base_sha256', 'base_seed',
];

/** Fields of the computing engine: a mismatch means the jobs must be recomputed. */
export const ENGINE_FIELDS: readonly IdentityField[] = ['kernels', 'isa', 'engine_fingerprint'];

/** Command-line spelling (or cause) of each compared field, for messages. */
const WHAT: Partial<Record<IdentityField, string>> = {
  cfg_sha256: '--cfg (file contents)',
  data_sha256: '--data (contents of the loaded images and labels)',
  train_count: '--data (number of training images)',
  test_count: '--data (number of test images)',
  train_limit: '--train-limit',
  test_limit: '--test-limit',
  split: '--split',
  resize: '--resize',
  epochs: '--epochs',
  ft_epochs: '--ft-epochs',
  base_sha256: '--base (file contents)',
  base_seed: '--seed of the --base model',
  kernels: 'kernel backend',
  isa: 'kernel instruction set',
  engine_fingerprint: 'engine fingerprint (kernels, layers or protocol code changed)',
};

export interface IdentityMismatch<F extends string = IdentityField> {
  field: F;
  kind: 'option' | 'engine';
  recorded: unknown;
  wanted: unknown;
  /** One readable line. */
  message: string;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  const s = String(v);
  return s.length === 64 && /^[0-9a-f]+$/.test(s) ? s.slice(0, 12) : s;
}

/**
 * The compared fields in which `recorded` differs from `wanted` (empty: same identity). A field
 * missing from `recorded` (an identity from an older layerlock) counts as different.
 */
export function identityMismatch(recorded: Partial<RunIdentity> | null | undefined, wanted: RunIdentity): IdentityMismatch[] {
  return fieldsMismatch(recorded, wanted, OPTION_FIELDS, ENGINE_FIELDS);
}

/**
 * identityMismatch over chosen fields of any identity (an attack sweep's has some fields of its
 * own), so that every identity is compared and worded the same way. `what` names the fields that
 * WHAT does not.
 */
export function fieldsMismatch<T extends object>(
  recorded: Partial<T> | null | undefined,
  wanted: T,
  option: readonly (keyof T & string)[],
  engine: readonly (keyof T & string)[],
  what: Readonly<Record<string, string>> = {},
): IdentityMismatch<keyof T & string>[] {
  const out: IdentityMismatch<keyof T & string>[] = [];
  for (const [fields, kind] of [[option, 'option'], [engine, 'engine']] as const) {
    for (const field of fields) {
      const a = recorded?.[field];
      const b = wanted[field];
      if (a === undefined || JSON.stringify(a) !== JSON.stringify(b)) {
        const name = what[field] ?? (WHAT as Record<string, string | undefined>)[field] ?? field;
        out.push({
          field, kind, recorded: a ?? null, wanted: b,
          message: `${name} differs: made with ${a === undefined ? 'an older layerlock (not recorded)' : show(a)}, this run has ${show(b)}`,
        });
      }
    }
  }
  return out;
}

/** What a worker measures on its own machine before it computes a job: its data and its engine. */
export const LOCAL_FIELDS = ['data_sha256', 'train_count', 'test_count', 'kernels', 'isa', 'engine_fingerprint'] as const satisfies readonly IdentityField[];
export type LocalIdentity = Pick<RunIdentity, (typeof LOCAL_FIELDS)[number]>;

/** Where this machine's data or engine (`here`) differs from what a job was made for (`wanted`). */
export function localMismatch(wanted: LocalIdentity, here: LocalIdentity): IdentityMismatch<keyof LocalIdentity>[] {
  return fieldsMismatch<LocalIdentity>(wanted, here, LOCAL_FIELDS.filter((f) => !ENGINE_FIELDS.includes(f)), LOCAL_FIELDS.filter((f) => ENGINE_FIELDS.includes(f)));
}

/** True when jobs made under `recorded` may be reused by a run with identity `wanted`. */
export function sameIdentity(recorded: Partial<RunIdentity> | null | undefined, wanted: RunIdentity): boolean {
  return identityMismatch(recorded, wanted).length === 0;
}

/** A short hash of the compared fields: equal identities, equal keys. */
export function identityKey(id: RunIdentity): string {
  const compared = [...OPTION_FIELDS, ...ENGINE_FIELDS].map((f) => [f, id[f]]);
  return createHash('sha256').update(JSON.stringify(compared)).digest('hex').slice(0, 16);
}

/** SHA-256 of the sets as the network sees them: pixels, labels and shape of the train and test sets. */
export function datasetsSha256(train: Dataset, test: Dataset): string {
  const h = createHash('sha256');
  for (const d of [train, test]) {
    h.update(JSON.stringify([d.count, d.channels, d.height, d.width, d.classes]));
    h.update(d.images);
    h.update(d.labels);
  }
  return h.digest('hex');
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function gitRevision(): string | null {
  try {
    const rev = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    if (!/^[0-9a-f]{40}$/.test(rev)) return null;
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return null;
  }
}

/** Which code made a result: recorded for people (the engine fingerprint is what is compared). */
export function codeIdentity(): Pick<RunIdentity, 'layerlock_version' | 'git_revision'> {
  return { layerlock_version: packageVersion(), git_revision: gitRevision() };
}

/** Backend and instruction set of the kernels, without the thread count (which must not change results). */
export function kernelIdentity(kernels: Kernels = getKernels()): { kernels: string; isa: string | null } {
  if (kernels.name.startsWith('native') && nativeAvailable()) return { kernels: 'native', isa: nativeInfo().isa };
  return { kernels: kernels.name.split(' ')[0] ?? kernels.name, isa: null };
}

/** The engine part of an identity, measured in this process. */
export async function engineIdentity(kernels: Kernels = getKernels()): Promise<Pick<RunIdentity, 'kernels' | 'isa' | 'engine_fingerprint'>> {
  return { ...kernelIdentity(kernels), engine_fingerprint: await engineFingerprint(kernels) };
}

export interface IdentityInputs {
  cfgPath: string;
  cfgText: string;
  /** 'embedded' or the data directory (only its name is recorded). */
  data: string;
  train: Dataset;
  test: Dataset;
  trainLimit: number | null;
  testLimit: number | null;
  split: number;
  resize: boolean;
  epochs: number | null;
  ftEpochs: number;
  /** Contents of the --base file and the seed it was trained with, or null. */
  base: { bytes: Uint8Array; seed: number } | null;
  kernels?: Kernels;
}

/** The identity of a run with these inputs, on this machine's engine. */
export async function runIdentity(i: IdentityInputs): Promise<RunIdentity> {
  return {
    ...codeIdentity(),
    ...(await engineIdentity(i.kernels)),
    cfg: basename(i.cfgPath),
    cfg_sha256: createHash('sha256').update(i.cfgText).digest('hex'),
    data: i.data === 'embedded' ? 'embedded' : basename(i.data.replace(/[\\/]+$/, '')),
    data_sha256: datasetsSha256(i.train, i.test),
    train_limit: i.trainLimit,
    test_limit: i.testLimit,
    train_count: i.train.count,
    test_count: i.test.count,
    split: i.split,
    resize: i.resize,
    epochs: i.epochs,
    ft_epochs: i.ftEpochs,
    base_sha256: i.base === null ? null : createHash('sha256').update(i.base.bytes).digest('hex'),
    base_seed: i.base === null ? null : i.base.seed,
  };
}
