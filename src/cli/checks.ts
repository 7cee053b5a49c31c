// Checks every command makes before it starts any work: output paths that can be written (a file
// where a file is wanted, a folder where a folder is), input paths that exist and are of the right
// kind, and non-empty image sets. Failing here costs nothing; failing after an hour of training
// because --out names a folder, or printing "acc NaN %" for an empty set, is what they prevent.
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { SelectedData, SetName } from './common.js';
import { UsageError } from './common.js';

async function kindOf(path: string): Promise<'file' | 'dir' | 'other' | 'missing'> {
  try {
    const s = await stat(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') throw new UsageError(`${path}: a part of this path is a file, not a folder`);
    throw e;
  }
}

/** An output file: not a folder, and its folder exists (nothing is created on the way). */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  if (path.endsWith('/')) throw new UsageError(`${flag} ${path} names a folder; give a file name`);
  const k = await kindOf(path);
  if (k === 'dir') throw new UsageError(`${flag} ${path} is a folder; give a file name`);
  if (k === 'other') throw new UsageError(`${flag} ${path} is not a regular file`);
  const parent = dirname(resolve(path));
  const pk = await kindOf(parent);
  if (pk === 'missing') throw new UsageError(`${flag} ${path}: the folder ${dirname(path)} does not exist`);
  if (pk !== 'dir') throw new UsageError(`${flag} ${path}: ${dirname(path)} is not a folder`);
}

/** An output folder: missing (it will be created) or a folder, never a file. */
export async function checkOutputDir(path: string, flag: string): Promise<void> {
  const k = await kindOf(path);
  if (k === 'file' || k === 'other') throw new UsageError(`${flag} ${path} is a file; give a folder`);
}

/** An input file that must exist and be a file. */
export async function checkInputFile(path: string, flag: string): Promise<void> {
  const k = await kindOf(path);
  if (k === 'missing') throw new UsageError(`${flag} ${path}: no such file`);
  if (k === 'dir') throw new UsageError(`${flag} ${path} is a folder, not a file`);
  if (k === 'other') throw new UsageError(`${flag} ${path} is not a regular file`);
}

export async function exists(path: string): Promise<boolean> {
  return (await kindOf(path)) !== 'missing';
}

const SET_TEXT: Record<SetName, string> = {
  S: 'S (the part of the training set used for training)',
  T: 'T (the held-out part of the training set)',
  test: 'the test set',
};

/** Why a set is empty, in terms of the options that make it so. */
function emptyWhy(d: SelectedData, set: SetName): string {
  if (set === 'test') return `${d.source.location} has no test images, or --test-limit is 0`;
  if (d.train.count === 0) return `${d.source.location} has no training images, or --train-limit is 0`;
  return `the ${d.train.count} training image${d.train.count === 1 ? ' is' : 's are'} split into ${d.S.length} in S and ${d.T.length} in T (raise --train-limit or change --split)`;
}

/**
 * Fails, before any work, when a set the command needs has no images, or when the data has more
 * classes than the network outputs (a label the network cannot predict makes every number wrong).
 */
export function requireSets(d: SelectedData, sets: readonly SetName[], model?: { stepper: { outputs: number } }): void {
  for (const set of sets) {
    const n = set === 'S' ? d.S.length : set === 'T' ? d.T.length : d.test.count;
    if (n === 0) throw new UsageError(`${SET_TEXT[set]} is empty: ${emptyWhy(d, set)}`);
  }
  const classes = Math.max(d.train.classes, d.test.classes);
  if (model && classes > model.stepper.outputs) {
    throw new UsageError(`${d.source.location} has ${classes} classes (labels up to ${classes - 1}) but the network outputs ${model.stepper.outputs} values`);
  }
}

/** Images in a set. */
export function setSize(d: SelectedData, set: SetName): number {
  return set === 'S' ? d.S.length : set === 'T' ? d.T.length : d.test.count;
}
