// CIFAR-10 binary reader. Each record is 1 label byte + 3072 pixel bytes (R plane, G plane, B plane,
// 32×32 row-major each), i.e. already the CHW layout the network wants, so records are only split.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDirectory, isFile, withBytes } from './bytes.js';
import { DataError, checkLimit, makeDataset, type DataSource, type LoadOptions } from './types.js';

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
const CLASSES = 10;
const TRAIN_BATCHES = ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5'];
const TEST_BATCH = 'test_batch';
export const CIFAR10_CLASS_NAMES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

async function findBatch(dir: string, name: string): Promise<string | null> {
  for (const f of [`${name}.bin`, `${name}.bin.gz`]) {
    if (await isFile(join(dir, f))) return join(dir, f);
  }
  return null;
}

/**
 * The directory that holds the batches: dir itself, or the cifar-10-batches-bin folder the official
 * tarball unpacks to, so pointing --data at the download directory also works.
 */
export async function findCifar10Dir(dir: string): Promise<string | null> {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if ((await isDirectory(d)) && (await findBatch(d, TRAIN_BATCHES[0]!)) !== null) return d;
  }
  return null;
}

interface Part {
  images: Uint8Array;
  labels: Uint8Array;
}

function lengthError(file: string, length: number): DataError {
  return new DataError(
    `${file}: length ${length} is not a multiple of the ${RECORD}-byte CIFAR-10 record (1 label + ${PIXELS} pixels)`,
  );
}

/** Reads up to `limit` records from one batch file, validating record size and labels. */
async function readBatch(file: string, limit: number): Promise<Part> {
  const records = await withBytes(file, async (src) => {
    if (src.size !== undefined) {
      if (src.size % RECORD !== 0) throw lengthError(file, src.size);
      const buf = new Uint8Array(Math.min(src.size / RECORD, limit) * RECORD);
      await src.read(buf);
      return buf;
    }
    if (limit === Infinity) {
      const all = await src.readRest();
      if (all.length % RECORD !== 0) throw lengthError(file, all.length);
      return all;
    }
    const buf = new Uint8Array(limit * RECORD);
    const got = await src.read(buf);
    // Even when the limit stops reading early, the rest is counted: a cut-off file is refused.
    const total = got + (got === buf.length ? await src.countRest() : 0);
    if (total % RECORD !== 0) throw lengthError(file, total);
    return buf.subarray(0, got);
  });
  const n = records.length / RECORD;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = records[i * RECORD]!;
    if (label >= CLASSES) {
      throw new DataError(`${file}: record ${i} has label ${label} (CIFAR-10 labels are 0..${CLASSES - 1})`);
    }
    labels[i] = label;
    images.set(records.subarray(i * RECORD + 1, (i + 1) * RECORD), i * PIXELS);
  }
  return { images, labels };
}

async function readBatches(files: string[], limit: number): Promise<Part> {
  const parts: Part[] = [];
  let remaining = limit;
  for (const f of files) {
    if (remaining <= 0) break;
    const p = await readBatch(f, remaining);
    parts.push(p);
    remaining -= p.labels.length;
  }
  if (parts.length === 1) return parts[0]!;
  const count = parts.reduce((s, p) => s + p.labels.length, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return { images, labels };
}

async function classNames(dir: string): Promise<readonly string[]> {
  const meta = join(dir, 'batches.meta.txt');
  if (!(await isFile(meta))) return CIFAR10_CLASS_NAMES;
  const names = (await readFile(meta, 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  if (names.length !== CLASSES) {
    throw new DataError(`${meta}: expected ${CLASSES} class names, found ${names.length}`);
  }
  return names;
}

/** Loads the CIFAR-10 binary batches from dir (or dir/cifar-10-batches-bin). */
export async function loadCifar10(dir: string, opts: LoadOptions = {}): Promise<DataSource> {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const testLimit = checkLimit('testLimit', opts.testLimit);
  const root = (await findCifar10Dir(dir)) ?? dir;
  const files: string[] = [];
  // All batches must be present even when a limit would not reach them: a half-copied download
  // should fail loudly rather than silently train on fewer images.
  for (const name of [...TRAIN_BATCHES, TEST_BATCH]) {
    const f = await findBatch(root, name);
    if (f === null) throw new DataError(`${root}: missing ${name}.bin[.gz] (CIFAR-10 binary data set)`);
    files.push(f);
  }
  const testFile = files.pop()!;
  const [names, train, test] = await Promise.all([
    classNames(root),
    readBatches(files, trainLimit),
    readBatches([testFile], testLimit),
  ]);
  const shape = { channels: 3, height: 32, width: 32 };
  return {
    format: 'cifar10',
    location: dir,
    train: makeDataset(train.images, train.labels, shape, names),
    test: makeDataset(test.images, test.labels, shape, names),
  };
}
