// The embedded default data set: the first 6000 training and first 1000 test images of MNIST, shipped
// as IDX .gz under data/embedded/mnist/ (made by scripts/make-embedded.mjs), so every command works
// out of the box and tests have real data without network access or ../shared.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadIdx } from './idx.js';
import { DataError, type DataSource, type LoadOptions } from './types.js';

/**
 * Compiled code runs from dist/src/data/ (three levels below the package root, both in the repo and in
 * node_modules/layerlock/); the second candidate covers running the .ts sources directly (tsx, ts-node).
 */
const CANDIDATES = ['../../../data/embedded/mnist/', '../../data/embedded/mnist/'];

export function embeddedDir(): string {
  for (const rel of CANDIDATES) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new DataError(
    `embedded data set not found (looked for data/embedded/mnist/ relative to ${fileURLToPath(import.meta.url)}); ` +
      `the package is incomplete`,
  );
}

export function loadEmbedded(opts: LoadOptions = {}): Promise<DataSource> {
  return loadIdx(embeddedDir(), opts, 'embedded');
}
