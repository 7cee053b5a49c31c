// Data of an exposure run: the same selection as every command (limits, shape check or resize),
// loaded once per process, and the S/T split of each seed.
import { loadSets as selectSets } from '../data/select.js';
import { splitST } from '../data/split.js';
import type { Dataset } from '../data/types.js';
import type { Shape } from '../nn/layer.js';
import { datasetsSha256, type RunIdentity } from './identity.js';
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
 * fresh: read the files again (the start of a run hashes what is on disk now, not what an earlier run
 * of this process loaded).
 */
export async function loadSets(sel: DataSelection, shape: Shape, fresh = false): Promise<{ train: Dataset; test: Dataset }> {
  const key = JSON.stringify([sel.data, sel.train_limit, sel.test_limit, sel.resize, shape.c, shape.h, shape.w]);
  if (fresh || cached?.key !== key) {
    const { train, test } = await selectSets(
      { data: sel.data, trainLimit: sel.train_limit ?? undefined, testLimit: sel.test_limit ?? undefined, resize: sel.resize },
      { inShape: shape },
    );
    cached = { key, sets: { train, test } };
  }
  return cached.sets;
}

let cachedHash: { train: Dataset; test: Dataset; sha256: string } | null = null;

/** datasetsSha256, computed once per loaded pair of sets in this process. */
function setsSha256(train: Dataset, test: Dataset): string {
  if (cachedHash?.train !== train || cachedHash.test !== test) cachedHash = { train, test, sha256: datasetsSha256(train, test) };
  return cachedHash.sha256;
}

/**
 * The data of one seed of a run: its S/T split of the training set, and the test set V. The loaded
 * sets must hash to the identity's data_sha256: data replaced under the same path is refused.
 */
export async function loadExposureData(identity: RunIdentity, location: string, seed: number, shape: Shape): Promise<ExposureData> {
  const { train, test } = await loadSets({ ...identity, data: location }, shape);
  if (train.count !== identity.train_count || test.count !== identity.test_count) {
    throw new Error(`the data changed: ${train.count}/${test.count} training/test images, the run was made with ${identity.train_count}/${identity.test_count}`);
  }
  if (setsSha256(train, test) !== identity.data_sha256) throw new Error(`the data in ${location} changed since the run started (its content hash differs)`);
  const { S, T } = splitST(train.count, seed, identity.split);
  return { train, test, S, T };
}
