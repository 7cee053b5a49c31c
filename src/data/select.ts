// Data selection, the one rule every command and the pipeline share (DESIGN.md §8): load --data with
// its limits, fit the images to the network's input (or fail), split the training set into S and T.
import { checkShape } from './resize.js';
import { loadData } from './load.js';
import { splitST } from './split.js';
import type { Dataset, DataSource } from './types.js';

export interface DataSelection {
  /** 'embedded' or a directory. */
  data: string;
  trainLimit?: number | undefined;
  testLimit?: number | undefined;
  /** Seed of the S/T split. */
  seed: number;
  /** Fraction of the training set that forms S. */
  split: number;
  /** Resize images whose shape differs from the network input instead of failing. */
  resize: boolean;
}

export interface SelectedData {
  source: DataSource;
  train: Dataset;
  test: Dataset;
  S: Uint32Array;
  T: Uint32Array;
}

/** What the selection needs to know of a network: its input shape. */
export interface InputShape {
  readonly inShape: { readonly c: number; readonly h: number; readonly w: number };
}

export type SetName = 'S' | 'T' | 'test';

/** Loads the data with the limits and fits it to the network's input (or fails); no split. */
export async function loadSets(sel: Omit<DataSelection, 'seed' | 'split'>, net: InputShape): Promise<{ source: DataSource; train: Dataset; test: Dataset }> {
  const c = net.inShape.c;
  const source = await loadData(sel.data, {
    trainLimit: sel.trainLimit,
    testLimit: sel.testLimit,
    channels: c === 1 || c === 3 ? c : undefined,
  });
  const shape = { height: net.inShape.h, width: net.inShape.w, channels: c };
  return { source, train: checkShape(source.train, shape, sel.resize), test: checkShape(source.test, shape, sel.resize) };
}

/** Loads the data with the limits, fits it to the network's input (or fails), splits S/T. */
export async function selectData(sel: DataSelection, net: InputShape): Promise<SelectedData> {
  if (!(sel.split > 0 && sel.split <= 1)) throw new RangeError(`--split must be in (0, 1] (got ${sel.split})`);
  const { source, train, test } = await loadSets(sel, net);
  const { S, T } = splitST(train.count, sel.seed, sel.split);
  return { source, train, test, S, T };
}

/** One of the three sets as a data set and the indices into it (all of it for the test set). */
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
