// Entry point for --data: picks the reader from the standard file names present in the directory.

import { findCifar10Dir, loadCifar10 } from './cifar10.js';
import { isDirectory } from './bytes.js';
import { loadEmbedded } from './embedded.js';
import { isFolderDir, loadFolder } from './folder.js';
import { isIdxDir, loadIdx } from './idx.js';
import { DataError, type DataSource, type LoadOptions } from './types.js';

export const EMBEDDED = 'embedded';

/**
 * spec: a directory, or 'embedded' (the default). Detection order: IDX (train-images-idx3-ubyte[.gz]),
 * CIFAR-10 binary (data_batch_1.bin[.gz], also inside cifar-10-batches-bin/), then image folders.
 * A directory literally named "embedded" can still be loaded as "./embedded".
 */
export async function loadData(spec: string = EMBEDDED, opts: LoadOptions = {}): Promise<DataSource> {
  if (spec === EMBEDDED) return loadEmbedded(opts);
  if (!(await isDirectory(spec))) throw new DataError(`${spec}: no such directory (--data wants a directory or "embedded")`);
  if (await isIdxDir(spec)) return loadIdx(spec, opts);
  if ((await findCifar10Dir(spec)) !== null) return loadCifar10(spec, opts);
  if (await isFolderDir(spec)) return loadFolder(spec, opts);
  throw new DataError(
    `${spec}: no data set found (looked for IDX train-images-idx3-ubyte[.gz], CIFAR-10 data_batch_1.bin[.gz], ` +
      `or one sub-folder of .png/.jpg images per class)`,
  );
}
