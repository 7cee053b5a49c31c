// What every sub-command shares: option parsing with clear errors, data selection (--data,
// limits, S/T split), and the output contract (--json: one document on stdout; logs on stderr).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkShape } from '../data/resize.js';
import { loadData } from '../data/load.js';
import { splitST } from '../data/split.js';
import type { Dataset, DataSource } from '../data/types.js';
import { DEFAULT_SEED } from '../nn/model.js';
import type { Network } from '../nn/network.js';

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

export function parse(argv: string[], options: OptionSpec, allowPositionals = false): Parsed {
  try {
    const r = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
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

export function int(p: Parsed, name: string, min = 0): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be an integer ≥ ${min} (got "${v}")`);
  return Number(v);
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

export type SetName = 'S' | 'T' | 'test';

export interface SelectedData {
  source: DataSource;
  train: Dataset;
  test: Dataset;
  S: Uint32Array;
  T: Uint32Array;
}

/** Loads --data with the limits, fits it to the network's input (or fails), splits S/T. */
export async function selectData(p: Parsed, net: Network): Promise<SelectedData> {
  const split = num(p, 'split') ?? 0.5;
  if (!(split > 0 && split <= 1)) throw new UsageError(`--split must be in (0, 1] (got ${split})`);
  const channels = net.inShape.c === 1 || net.inShape.c === 3 ? net.inShape.c : undefined;
  const source = await loadData(str(p, 'data') ?? 'embedded', {
    trainLimit: int(p, 'train-limit'),
    testLimit: int(p, 'test-limit'),
    channels,
  });
  const shape = { height: net.inShape.h, width: net.inShape.w, channels: net.inShape.c };
  const resize = flag(p, 'resize');
  const train = checkShape(source.train, shape, resize);
  const test = checkShape(source.test, shape, resize);
  const { S, T } = splitST(train.count, seedOf(p), split);
  return { source, train, test, S, T };
}

export function setOf(d: SelectedData, set: SetName): { ds: Dataset; indices: Uint32Array | undefined } {
  switch (set) {
    case 'S':
      return { ds: d.train, indices: d.S };
    case 'T':
      return { ds: d.train, indices: d.T };
    case 'test':
      return { ds: d.test, indices: undefined };
  }
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
