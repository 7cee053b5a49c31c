// Image-folder reader: one sub-folder of PNG/JPEG images per class.
//
// Layouts, checked in this order:
//   <dir>/train/<class>/*  and optionally <dir>/test/<class>/*
//   <dir>/<class>/*        — all images are training images and the test set is EMPTY. We do not carve
//                            out a test set ourselves: which images count as "training data" is exactly
//                            what exposure measures, so that split must be the user's, visible on disk.
// Classes are the sub-folders of the training folder sorted by code unit (not locale, so the label
// numbering is identical on every machine); a test class folder must also exist under train.
// Image order interleaves the classes (class 0's first file, class 1's first file, ..., then each class's
// second file, ...), files sorted by name within a class, so --train-limit N gives a class-balanced
// prefix rather than N images of class 0. Only the images within the limit are decoded.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isDirectory } from './bytes.js';
import { decodeImage, imageChannels } from './image.js';
import { DataError, checkLimit, makeDataset, type DataSource, type Dataset, type LoadOptions } from './types.js';

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const MAX_CLASSES = 256; // labels are stored as bytes
const DECODE_CONCURRENCY = 8;

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byCodeUnit);
}

async function imageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXT.test(e.name))
    .map((e) => e.name)
    .sort(byCodeUnit)
    .map((n) => join(dir, n));
}

interface Layout {
  trainDir: string;
  testDir: string | null;
}

async function layoutOf(dir: string): Promise<Layout> {
  const trainDir = join(dir, 'train');
  if (await isDirectory(trainDir)) {
    const testDir = join(dir, 'test');
    return { trainDir, testDir: (await isDirectory(testDir)) ? testDir : null };
  }
  return { trainDir: dir, testDir: null };
}

/** True when dir looks like an image-folder data set (some class folder holds an image). */
export async function isFolderDir(dir: string): Promise<boolean> {
  if (!(await isDirectory(dir))) return false;
  const { trainDir } = await layoutOf(dir);
  for (const c of await subdirs(trainDir)) {
    if ((await imageFiles(join(trainDir, c))).length > 0) return true;
  }
  return false;
}

interface Item {
  file: string;
  label: number;
}

/** Class-interleaved order (see the header comment), cut to the limit. */
async function listItems(splitDir: string, classes: readonly string[], limit: number): Promise<Item[]> {
  const perClass: string[][] = [];
  for (const c of classes) {
    const d = join(splitDir, c);
    perClass.push((await isDirectory(d)) ? await imageFiles(d) : []);
  }
  const items: Item[] = [];
  const longest = Math.max(0, ...perClass.map((f) => f.length));
  for (let k = 0; k < longest && items.length < limit; k++) {
    for (let c = 0; c < perClass.length && items.length < limit; c++) {
      const f = perClass[c]![k];
      if (f !== undefined) items.push({ file: f, label: c });
    }
  }
  return items;
}

async function mapPool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    // After one failure the others stop taking work: the load is lost anyway, no point decoding on.
    while (next < items.length && !failed) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

interface Reference {
  file: string;
  channels: 1 | 3;
  height: number;
  width: number;
}

async function decodeSet(items: readonly Item[], ref: Reference, names: readonly string[]): Promise<Dataset> {
  const size = ref.channels * ref.height * ref.width;
  const images = new Uint8Array(items.length * size);
  const labels = new Uint8Array(items.length);
  await mapPool(items, DECODE_CONCURRENCY, async (item, i) => {
    const img = await decodeImage(item.file, ref.channels);
    if (img.height !== ref.height || img.width !== ref.width) {
      throw new DataError(
        `${item.file}: image is ${img.height}×${img.width} but ${ref.file} is ${ref.height}×${ref.width} ` +
          `(all images of a data set must have the same size)`,
      );
    }
    images.set(img.data, i * size);
    labels[i] = item.label;
  });
  return makeDataset(images, labels, ref, names);
}

export async function loadFolder(dir: string, opts: LoadOptions = {}): Promise<DataSource> {
  const trainLimit = checkLimit('trainLimit', opts.trainLimit);
  const testLimit = checkLimit('testLimit', opts.testLimit);
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new DataError(`channels must be 1 (grey) or 3 (RGB), got ${String(opts.channels)}`);
  }
  if (!(await isDirectory(dir))) throw new DataError(`${dir}: not a directory`);
  const { trainDir, testDir } = await layoutOf(dir);
  const classes = await subdirs(trainDir);
  if (classes.length === 0) throw new DataError(`${trainDir}: no class sub-folders`);
  if (classes.length > MAX_CLASSES) {
    throw new DataError(`${trainDir}: ${classes.length} class folders, at most ${MAX_CLASSES} are supported`);
  }
  // An empty class folder still numbers a class: the network would be told there is a class it can
  // never see, and every accuracy would silently be over fewer classes than the labels say.
  for (const c of classes) {
    if ((await imageFiles(join(trainDir, c))).length === 0) {
      throw new DataError(`${join(trainDir, c)}: class "${c}" has no .png/.jpg/.jpeg images (remove the empty folder or add its images)`);
    }
  }
  if (testDir !== null) {
    const known = new Set(classes);
    for (const c of await subdirs(testDir)) {
      if (!known.has(c)) throw new DataError(`${join(testDir, c)}: class "${c}" has no folder in ${trainDir}`);
    }
  }
  const trainItems = await listItems(trainDir, classes, trainLimit);
  const testItems = testDir === null ? [] : await listItems(testDir, classes, testLimit);
  const first = trainItems[0] ?? testItems[0];
  if (first === undefined) {
    throw new DataError(`${dir}: no .png/.jpg/.jpeg images in the class folders (or the limits are 0)`);
  }
  const channels = opts.channels ?? (await imageChannels(first.file));
  const probe = await decodeImage(first.file, channels);
  const ref: Reference = { file: first.file, channels, height: probe.height, width: probe.width };
  const train = await decodeSet(trainItems, ref, classes);
  const test = await decodeSet(testItems, ref, classes);
  return { format: 'folder', location: dir, train, test };
}
