// IDX reader (the MNIST / Fashion-MNIST distribution format): a big-endian header — magic, then one
// 32-bit size per dimension — followed by unsigned bytes. Images are n×rows×cols, which is already
// CHW with one channel, so pixels are copied straight into the Dataset.

import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isFile, withBytes } from './bytes.js';
import { DataError, checkLimit, makeDataset, type DataSource, type Dataset, type LoadOptions } from './types.js';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;
const MAX_BYTES = 2 ** 31;

/** Standard names first; the dot variant is how some mirrors (and Fashion-MNIST forks) spell them. */
const NAMES = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'],
} as const;

const FASHION_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

async function findFile(dir: string, names: readonly string[]): Promise<string | null> {
  for (const n of names) {
    for (const candidate of [n, `${n}.gz`]) {
      const p = join(dir, candidate);
      if (await isFile(p)) return p;
    }
  }
  return null;
}

/** True when dir holds an IDX training set (what format detection keys on). */
export async function isIdxDir(dir: string): Promise<boolean> {
  return (await findFile(dir, NAMES.trainImages)) !== null;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

function readHeader(file: string, header: Uint8Array, got: number, magic: number, what: string): number[] {
  if (got < 4) throw new DataError(`${file}: truncated (no IDX header)`);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const m = view.getUint32(0);
  if (m !== magic) throw new DataError(`${file}: not an IDX ${what} file (magic ${hex(m)}, expected ${hex(magic)})`);
  const ndims = m & 0xff;
  if (got < 4 + 4 * ndims) throw new DataError(`${file}: truncated (IDX header cut short)`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  return dims;
}

export interface IdxImages {
  /** Image count the header declares (before the limit). */
  readonly total: number;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly images: Uint8Array;
}

export async function readIdxImages(file: string, limit = Infinity): Promise<IdxImages> {
  return withBytes(file, async (src) => {
    const header = new Uint8Array(16);
    const [total, height, width] = readHeader(file, header, await src.read(header), IDX_IMAGES_MAGIC, 'image') as [
      number, number, number,
    ];
    if (height === 0 || width === 0) throw new DataError(`${file}: IDX header declares ${height}×${width} images (expected at least 1×1)`);
    const count = Math.min(total, limit);
    const need = count * height * width;
    // A corrupt gzip'd header would otherwise turn into a multi-gigabyte allocation before we notice.
    if (need > MAX_BYTES) {
      throw new DataError(`${file}: implausible IDX header (${total} images of ${height}×${width})`);
    }
    // The whole file must be as long as the header says, even when the limit stops reading early:
    // a truncated or overlong file is a damaged download, whatever part of it is used.
    const declared = total * height * width;
    if (src.size !== undefined && src.size - 16 !== declared) {
      throw new DataError(
        `${file}: ${src.size - 16 < declared ? 'truncated' : 'longer than its header says'} (header declares ${total} images of ${height}×${width}, ` +
          `${declared} bytes of pixels; the file has ${src.size - 16})`,
      );
    }
    const images = new Uint8Array(need);
    const got = await src.read(images);
    const found = got + (src.size === undefined && got === need ? await src.countRest() : 0);
    if (got < need || (src.size === undefined && found !== declared)) {
      throw new DataError(
        `${file}: ${found < declared ? 'truncated' : 'longer than its header says'} (header declares ${total} images of ${height}×${width}, ` +
          `${declared} bytes of pixels; found ${found})`,
      );
    }
    return { total, count, height, width, images };
  });
}

export interface IdxLabels {
  readonly total: number;
  readonly labels: Uint8Array;
}

export async function readIdxLabels(file: string, limit = Infinity): Promise<IdxLabels> {
  return withBytes(file, async (src) => {
    const header = new Uint8Array(8);
    const [total] = readHeader(file, header, await src.read(header), IDX_LABELS_MAGIC, 'label') as [number];
    const labels = new Uint8Array(Math.min(total, limit));
    const got = await src.read(labels);
    const found = got + (got === labels.length ? await src.countRest() : 0);
    if (found !== total) {
      throw new DataError(`${file}: ${found < total ? 'truncated' : 'longer than its header says'} (header declares ${total} labels, found ${found})`);
    }
    return { total, labels };
  });
}

async function readPair(imagesFile: string, labelsFile: string, limit: number) {
  const [img, lbl] = await Promise.all([readIdxImages(imagesFile, limit), readIdxLabels(labelsFile, limit)]);
  if (img.total !== lbl.total) {
    throw new DataError(`${imagesFile}: ${img.total} images but ${labelsFile} has ${lbl.total} labels`);
  }
  return { img, lbl };
}

function maxLabel(labels: Uint8Array): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > m) m = labels[i]!;
  return m;
}

/**
 * Class names: an optional classes.txt (one per line) next to the files wins; otherwise Fashion-MNIST's
 * names when the directory is called *fashion*, otherwise the digits. At least 10 classes, because a
 * --train-limit slice may simply not contain the highest label.
 */
async function classNamesFor(dir: string, highest: number): Promise<string[]> {
  const listFile = join(dir, 'classes.txt');
  if (await isFile(listFile)) {
    const names = (await readFile(listFile, 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
    if (highest >= names.length) {
      throw new DataError(`${listFile}: lists ${names.length} classes but the data has label ${highest}`);
    }
    return names;
  }
  const n = Math.max(10, highest + 1);
  if (n === 10 && /fashion/i.test(basename(dir))) return [...FASHION_NAMES];
  return Array.from({ length: n }, (_, i) => String(i));
}

/** Loads the four standard IDX files from dir. `location` lets the embedded sample report 'embedded'. */
export async function loadIdx(dir: string, opts: LoadOptions = {}, location = dir): Promise<DataSource> {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const testLimit = checkLimit('testLimit', opts.testLimit);
  const files = {} as Record<keyof typeof NAMES, string>;
  for (const key of Object.keys(NAMES) as (keyof typeof NAMES)[]) {
    const f = await findFile(dir, NAMES[key]);
    if (f === null) throw new DataError(`${dir}: missing ${NAMES[key][0]}[.gz] (IDX data set)`);
    files[key] = f;
  }
  const [train, test] = await Promise.all([
    readPair(files.trainImages, files.trainLabels, trainLimit),
    readPair(files.testImages, files.testLabels, testLimit),
  ]);
  if (train.img.height !== test.img.height || train.img.width !== test.img.width) {
    throw new DataError(
      `${files.testImages}: images are ${test.img.height}×${test.img.width} ` +
        `but the training images are ${train.img.height}×${train.img.width}`,
    );
  }
  const names = await classNamesFor(dir, Math.max(maxLabel(train.lbl.labels), maxLabel(test.lbl.labels)));
  const make = (p: typeof train): Dataset =>
    makeDataset(p.img.images, p.lbl.labels, { channels: 1, height: p.img.height, width: p.img.width }, names);
  return { format: 'idx', location, train: make(train), test: make(test) };
}
