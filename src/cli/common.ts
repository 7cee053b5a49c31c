// What every sub-command shares: option parsing with clear errors, data selection (--data,
// limits, S/T split), and the output contract (--json: one document on stdout; logs on stderr).
import { createHash } from 'node:crypto';
import { access, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { selectData as selectDataFrom, type DataSelection, type InputShape, type SelectedData, type SetName } from '../data/select.js';
import { loadCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { ONNX_IMPORT_VERSION, loadOnnxFile, writeImportedFiles } from '../onnx/model.js';
import { DEFAULT_SEED, withBatch } from '../nn/model.js';
import { TeecError, type TeeKind } from '../tee/client.js';
import { requestedTee } from '../tee/optee.js';
import { openModel as libraryOpenModel, type OpenedModel as LibraryOpenedModel } from '../tee/open.js';
import {
  parseByteSize as libraryParseByteSize, parseTeeOutput as libraryParseTeeOutput, secureMemory, teeRange,
} from '../tee/options.js';
import type { PartitionedNetwork } from '../tee/partitioned.js';
import { TEE_ERROR_TARGET_DEAD, type OutputPolicy } from '../tee/shared/protocol.js';
import { PartitionError } from '../tee/shared/roles.js';
import { partitionReport as libraryPartitionReport } from '../tee/report.js';

/** A mistake in how the command was called; main prints it with a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandHelp {
  usage: string;
  summary: string;
  options: [flag: string, text: string][];
}

export const DATA_OPTIONS: OptionSpec = {
  data: { type: 'string', default: 'embedded' },
  'train-limit': { type: 'string' },
  'test-limit': { type: 'string' },
  seed: { type: 'string' },
  split: { type: 'string', default: '0.5' },
  resize: { type: 'boolean', default: false },
};

export const DATA_HELP: [string, string][] = [
  ['--data <dir>|embedded', 'IDX, CIFAR-10 binary or image folders; default: the embedded MNIST slice'],
  ['--train-limit N', 'use only the first N training images (before the S/T split)'],
  ['--test-limit N', 'use only the first N test images'],
  ['--seed N', `seed for initialisation, S/T split, shuffling and dropout (default ${DEFAULT_SEED})`],
  ['--split F', 'fraction of the training set that forms S (default 0.5); the rest is T'],
  ['--resize', 'resize images whose size differs from the network input instead of failing'],
];

export const COMMON_OPTIONS: OptionSpec = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

export function formatHelp(name: string, h: CommandHelp): string {
  const all: [string, string][] = [...h.options, ['--json', 'print one JSON document on stdout'], ['-h, --help', 'show this help']];
  const width = Math.max(...all.map(([f]) => f.length));
  return [`usage: layerlock ${name} ${h.usage}`, '', h.summary, '', 'options:', ...all.map(([f, t]) => `  ${f.padEnd(width)}  ${t}`), ''].join('\n');
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * `--epochs -5` reads as an option followed by a value that looks like an option, which Node's
 * parser refuses as "ambiguous"; a number is never an option here, so it is joined to its flag
 * (`--epochs=-5`) and the flag's own check then says what range it wants.
 */
function joinNegativeNumbers(argv: string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d|inf|nan)/i.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

export function parse(argv: string[], options: OptionSpec, allowPositionals = false): Parsed {
  try {
    const all = { ...COMMON_OPTIONS, ...options };
    const r = parseArgs({ args: joinNegativeNumbers(argv, all), options: all, allowPositionals, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (err) {
    // Node's messages can span lines ("Did you forget …"); the first says what is wrong.
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '').split('\n')[0]!.trim());
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requireStr(p: Parsed, name: string): string {
  const v = str(p, name);
  if (v === undefined || v === '') throw new UsageError(`missing --${name}`);
  return v;
}

/** Upper bounds of integer flags: a value beyond them is a typo, or a run that would never end. */
export const INT_LIMITS: Readonly<Record<string, number>> = {
  epochs: 10_000,
  'ft-epochs': 10_000,
  reps: 1000,
  batches: 100_000,
  warmup: 10_000,
  jobs: 256,
  threads: 1024,
  seed: 0xffffffff,
  top: 1_000_000,
};

/** The bound of an integer flag: its INT_LIMITS entry, else the largest 32-bit signed integer. */
export function intLimit(name: string): number {
  return Object.hasOwn(INT_LIMITS, name) ? INT_LIMITS[name]! : 0x7fffffff;
}

export function int(p: Parsed, name: string, min = 0, max = intLimit(name)): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!/^-?\d+$/.test(v) || x < min || x > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got "${v}")`);
  }
  return x;
}

export function num(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} must be a number (got "${v}")`);
  return x;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function seedOf(p: Parsed): number {
  return int(p, 'seed') ?? DEFAULT_SEED;
}

export type { SetName, SelectedData } from '../data/select.js';
export { setOf } from '../data/select.js';

/** Library errors about an option's value (RangeError, PartitionError) are usage errors here. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError || e instanceof PartitionError) throw new UsageError(e.message);
    throw e;
  }
}

/** --data, --train-limit, --test-limit, --seed, --split, --resize → the library's data selection. */
/** The data options as the library's selection (data/select.ts). */
export function dataSelectionOf(p: Parsed): DataSelection {
  const split = num(p, 'split') ?? 0.5;
  if (!(split > 0 && split <= 1)) throw new UsageError(`--split must be in (0, 1] (got ${split})`);
  return { data: str(p, 'data') ?? 'embedded', trainLimit: int(p, 'train-limit'), testLimit: int(p, 'test-limit'), seed: seedOf(p), split, resize: flag(p, 'resize') };
}

export async function selectData(p: Parsed, net: InputShape): Promise<SelectedData> {
  return selectDataFrom(dataSelectionOf(p), net);
}

export function parseSet(v: string | undefined, fallback: SetName): SetName {
  const s = v ?? fallback;
  if (s !== 'S' && s !== 'T' && s !== 'test') throw new UsageError(`--set must be S, T or test (got "${s}")`);
  return s;
}

/** Prints the result: JSON on stdout for machines, or the human text. */
export function emit(p: Parsed, json: unknown, human: () => string): void {
  if (flag(p, 'json')) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  else process.stdout.write(human() + '\n');
}

/** Logs go to stderr so stdout stays one JSON document under --json. */
export function log(message: string): void {
  process.stderr.write(message + '\n');
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

// ---------------------------------------------------------------------------------------------
// Partition options (train, eval, predict): which layers run in the software TEE, its secure
// memory, and what may leave it. Without --tee-layers/--tee-last everything runs in this process.

export const TEE_OPTIONS: OptionSpec = {
  'tee-layers': { type: 'string' },
  'tee-last': { type: 'string' },
  'secure-mem': { type: 'string' },
  'tee-output': { type: 'string' },
  'tee-storage': { type: 'string' },
  'tee-export-plaintext': { type: 'boolean', default: false },
  tee: { type: 'string' },
  batch: { type: 'string' },
  subdivisions: { type: 'string' },
};

export const TEE_HELP: [string, string][] = [
  ['--tee-layers a:b', 'run cfg layers a..b (0-based, inclusive; "a:" = to the end) inside the software TEE'],
  ['--tee-last k', 'run the last k layers (counting every layer: cost, softmax, connected, dropout, …) in the TEE; 0 = none'],
  ['--secure-mem SIZE', 'the TEE\'s secure memory, e.g. 16MiB (default), 512KiB, 33554432'],
  ['--tee-output P', 'what leaves the TEE when it holds the softmax: top1 (default), topk (top5, top3, …: ranked classes and the summed loss), full'],
  ['--tee-storage DIR', 'the TA\'s secure-storage folder, the only one it may write (default ~/.layerlock/tee)'],
  ['--tee software|optee', 'which TEE runs the range: the software TEE (default; a TA process) or OP-TEE through libteec (needs /dev/tee0: docs/optee.md)'],
  ['--tee-export-plaintext', 'DEVELOPMENT ONLY: let the TA hand the protected layers out in plaintext so --out can hold the whole model'],
  ['--batch N', 'override the cfg\'s batch (subdivisions 1): e.g. the batch the TEE\'s out-of-memory message suggests'],
  ['--subdivisions N', 'override the cfg\'s subdivisions: batch/subdivisions images per forward, same SGD batch'],
];

/** Parses 16MiB, 512KiB, 1.5GiB, 16M (binary), 16MB (decimal) or a plain byte count (library: tee/options.ts). */
export function parseByteSize(text: string, what = '--secure-mem'): number {
  return asUsage(() => libraryParseByteSize(text, what));
}

/** --secure-mem, or the default 16 MiB. */
export function secureMemOf(p: Parsed): number {
  return asUsage(() => secureMemory(str(p, 'secure-mem')));
}

/** --tee-output: top1, topk (k = 5), top<k>, or full (library: tee/options.ts). */
export function parseTeeOutput(text: string | undefined): { policy: OutputPolicy; topk: number } {
  return asUsage(() => libraryParseTeeOutput(text));
}

export interface TeeChoice {
  /** The TEE range, or null when everything runs in the normal world (no option, or --tee-last 0). */
  range: [number, number] | null;
  secureMem: number;
  policy: OutputPolicy;
  topk: number;
  policyGiven: boolean;
  storageDir: string | undefined;
  exportPlaintext: boolean;
  /** --tee (undefined: LAYERLOCK_TEE or the software TEE). */
  tee: TeeKind | undefined;
}

/**
 * --tee, checked (without it: LAYERLOCK_TEE, else the software TEE). OP-TEE's secure memory is the TA's
 * arena, fixed when the TA is built, so --secure-mem is refused with it rather than silently ignored.
 */
export function teeKindOf(p: Parsed): TeeKind {
  const given = str(p, 'tee');
  const tee = asUsage(() => requestedTee(given !== undefined ? { tee: given as TeeKind } : {}));
  if (tee === 'optee' && str(p, 'secure-mem') !== undefined) {
    throw new UsageError('--secure-mem cannot change OP-TEE\'s secure memory: it is the TA\'s arena, fixed when the TA is built (LAYERLOCK_OPTEE_SECURE_MEM, docs/optee.md)');
  }
  return tee;
}

export function teeChoice(p: Parsed, layerCount: number): TeeChoice {
  const layers = str(p, 'tee-layers');
  const last = str(p, 'tee-last');
  const range = asUsage(() => teeRange({ layers, last: last !== undefined ? int(p, 'tee-last', 0) : undefined }, layerCount));
  if (layers === undefined && last === undefined) {
    for (const o of ['secure-mem', 'tee-output', 'tee-storage', 'tee']) {
      if (str(p, o) !== undefined) throw new UsageError(`--${o} needs --tee-layers a:b or --tee-last k`);
    }
    if (flag(p, 'tee-export-plaintext')) throw new UsageError('--tee-export-plaintext needs --tee-layers a:b or --tee-last k');
  }
  const kind = teeKindOf(p);
  return {
    range,
    secureMem: secureMemOf(p),
    ...parseTeeOutput(str(p, 'tee-output')),
    policyGiven: str(p, 'tee-output') !== undefined,
    storageDir: str(p, 'tee-storage'),
    exportPlaintext: flag(p, 'tee-export-plaintext'),
    tee: str(p, 'tee') !== undefined || kind === 'optee' ? kind : undefined,
  };
}

/** The cfg with --batch / --subdivisions applied (library: nn/model.ts withBatch). */
export function withBatchOverride(p: Parsed, config: NetworkConfig): NetworkConfig {
  return asUsage(() => withBatch(config, { batch: int(p, 'batch', 1), subdivisions: int(p, 'subdivisions', 1) }));
}

/** A model ready for the loops (library: tee/open.ts), with the partition options it was opened with. */
export interface OpenedModel extends LibraryOpenedModel {
  teeChoice: TeeChoice;
}

/**
 * Opens --cfg (with --weights, --seed, --batch) either as a whole network or, with the partition
 * options, as a normal-world/TEE pair (starting the TA). Mode infer keeps no training buffers in
 * the TEE. `batch` forces images per forward (predict uses 1).
 */
export async function openModel(p: Parsed, opts: { cfg: string; weights?: string | undefined; mode: 'train' | 'infer'; batch?: number }): Promise<OpenedModel> {
  const config = withBatchOverride(p, await loadCfg(opts.cfg));
  const choice = teeChoice(p, config.layers.length);
  const model = await asUsageAsync(() => libraryOpenModel({
    cfg: opts.cfg, weights: opts.weights, seed: seedOf(p), mode: opts.mode,
    batch: config.net.batch, subdivisions: config.net.subdivisions, forwardBatch: opts.batch,
    range: choice.range, secureMem: choice.secureMem, policy: choice.policy, topk: choice.topk, policyGiven: choice.policyGiven,
    storageDir: choice.storageDir, exportPlaintext: choice.exportPlaintext, tee: choice.tee, log,
  }));
  return { ...model, teeChoice: choice, save: model.save, teeReport: model.teeReport, close: model.close };
}

async function asUsageAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PartitionError) throw new UsageError(e.message);
    throw e;
  }
}

/** The `tee` object of --json output: the partition, its policy, the arena and the boundary traffic (library: tee/report.ts). */
export async function partitionReport(net: PartitionedNetwork): Promise<Record<string, unknown>> {
  return { ...(await libraryPartitionReport(net)) };
}

/** A TEE failure in one line, with what it means for the user's files. */
export function teeFailure(e: unknown, saved: string | null): Error {
  if (e instanceof TeecError && e.code === TEE_ERROR_TARGET_DEAD) {
    return new Error(`${e.message}. ${saved ?? 'No epoch had finished: nothing was written.'}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

// ---------------------------------------------------------------------------------------------
// --model file.onnx: the one place where an ONNX model becomes what every command takes, a Darknet
// .cfg + .weights pair. The pair is written once per model content into a cache folder, so commands
// that hand the cfg path to workers or to the TA, resumable runs and repeated calls all see the same
// files, and nothing else in the CLI needs to know that the model came from ONNX.

export const MODEL_OPTIONS: OptionSpec = { model: { type: 'string' } };
export const MODEL_HELP: [string, string] = ['--model F.onnx', 'an ONNX model (with its weights) instead of --cfg/--weights; see docs/onnx.md'];

export interface ModelFiles {
  cfg: string;
  weights: string | undefined;
  /** The ONNX file the pair was imported from, or null for --cfg/--weights. */
  onnx: string | null;
}

/** Where imported models are cached (LAYERLOCK_ONNX_CACHE, default <tmpdir>/layerlock-onnx). */
export function onnxCacheDir(): string {
  return process.env['LAYERLOCK_ONNX_CACHE'] ?? join(tmpdir(), 'layerlock-onnx');
}

/**
 * --cfg F [--weights W], or --model F.onnx imported into a cached .cfg + .weights. `weights`:
 * 'required' (eval, predict, package), 'optional' (train, bench tee: a starting point), or 'none'
 * (plan, which reads only the architecture).
 */
export async function modelFiles(p: Parsed, weights: 'required'): Promise<ModelFiles & { weights: string }>;
export async function modelFiles(p: Parsed, weights: 'optional' | 'none'): Promise<ModelFiles>;
export async function modelFiles(p: Parsed, weights: 'required' | 'optional' | 'none'): Promise<ModelFiles> {
  const model = str(p, 'model');
  if (model === undefined) {
    const cfg = requireStr(p, 'cfg');
    return { cfg, weights: weights === 'required' ? requireStr(p, 'weights') : weights === 'optional' ? str(p, 'weights') : undefined, onnx: null };
  }
  if (str(p, 'cfg') !== undefined) throw new UsageError('give --model or --cfg, not both');
  if (str(p, 'weights') !== undefined) throw new UsageError('--model carries its own weights: give --model or --cfg/--weights, not both');
  const bytes = await readFile(model).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`--model ${model}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  // The importer's version is part of the key, so a changed importer never reuses an older conversion.
  const key = createHash('sha256').update(`layerlock-onnx-import ${ONNX_IMPORT_VERSION}\n`).update(bytes).digest('hex').slice(0, 24);
  const dir = join(onnxCacheDir(), key);
  const cfg = join(dir, 'model.cfg');
  const w = join(dir, 'model.weights');
  try {
    await access(w);
    await access(cfg);
  } catch {
    const imported = await loadOnnxFile(model);
    await mkdir(dir, { recursive: true });
    // Weights last: their presence is what marks the pair complete.
    await writeImportedFiles(imported, model, cfg, w);
    for (const note of imported.notes) log(`layerlock: note: ${model}: ${note}`);
  }
  return { cfg, weights: weights === 'none' ? undefined : w, onnx: model };
}
