// Data of an exposure run: the same selection as every command (limits, shape check or resize),
// loaded once per process, and the S/T split of each seed.
import { loadSets as selectSets } from '../data/select.js';
import { splitST } from '../data/split.js';
import type { Dataset } from '../data/types.js';
import type { Shape } from '../nn/layer.js';
import type { RunIdentity } from './jobs.js';
import type { ExposureData } from './protocol.js';

let cached: { key: string; sets: { train: Dataset; test: Dataset } } | null = null;

export interface DataSelection {
  /** 'embedded' or a directory. */
  data: string;
  train_limit: number | null;
  test_limit: number | null;
  resize: boolean;
}

/**
 * The training and test sets as the network sees them (limits applied, shape checked or resized):
 * the library's data selection (data/select.ts), loaded once per process — a worker runs many jobs.
 */
export async function loadSets(sel: DataSelection, shape: Shape): Promise<{ train: Dataset; test: Dataset }> {
  const key = JSON.stringify([sel.data, sel.train_limit, sel.test_limit, sel.resize, shape.c, shape.h, shape.w]);
  if (cached?.key !== key) {
    const { train, test } = await selectSets(
      { data: sel.data, trainLimit: sel.train_limit ?? undefined, testLimit: sel.test_limit ?? undefined, resize: sel.resize },
      { inShape: shape },
    );
    cached = { key, sets: { train, test } };
  }
  return cached.sets;
}

/** The data of one seed of a run: its S/T split of the training set, and the test set V. */
export async function loadExposureData(identity: RunIdentity, seed: number, shape: Shape): Promise<ExposureData> {
  const { train, test } = await loadSets({ ...identity, data: identity.data_location }, shape);
  if (train.count !== identity.train_count || test.count !== identity.test_count) {
    throw new Error(`the data changed: ${train.count}/${test.count} training/test images, the run was made with ${identity.train_count}/${identity.test_count}`);
  }
  const { S, T } = splitST(train.count, seed, identity.split);
  return { train, test, S, T };
}
