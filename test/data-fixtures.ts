// Tiny on-disk data sets for the src/data tests, built in a temp dir so tests never touch ../shared.

import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-data-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function put(file: string, data: Uint8Array, gzip = false): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, gzip ? gzipSync(data) : data);
}

export function idxImages(count: number, height: number, width: number, pixel: (n: number, i: number) => number, magic = 0x803): Uint8Array {
  const buf = Buffer.alloc(16 + count * height * width);
  buf.writeUInt32BE(magic, 0);
  buf.writeUInt32BE(count, 4);
  buf.writeUInt32BE(height, 8);
  buf.writeUInt32BE(width, 12);
  for (let n = 0; n < count; n++) for (let i = 0; i < height * width; i++) buf[16 + n * height * width + i] = pixel(n, i) & 0xff;
  return buf;
}

export function idxLabels(labels: readonly number[], magic = 0x801): Uint8Array {
  const buf = Buffer.alloc(8 + labels.length);
  buf.writeUInt32BE(magic, 0);
  buf.writeUInt32BE(labels.length, 4);
  labels.forEach((l, i) => (buf[8 + i] = l));
  return buf;
}

/** Pixel pattern shared by writer and assertions: distinct per image and position. */
export const pix = (n: number, i: number): number => (n * 37 + i * 11) & 0xff;

export const IDX_NAMES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** A 5-train / 3-test IDX set of 3×4 images. */
export async function writeIdxSet(dir: string, opts: { gzip?: boolean; suffix?: string; trainLabels?: number[] } = {}): Promise<void> {
  const sfx = opts.suffix ?? (opts.gzip ? '.gz' : '');
  const trainLabels = opts.trainLabels ?? [5, 0, 4, 1, 9];
  await put(join(dir, `train-images-idx3-ubyte${sfx}`), idxImages(trainLabels.length, 3, 4, pix), opts.gzip);
  await put(join(dir, `train-labels-idx1-ubyte${sfx}`), idxLabels(trainLabels), opts.gzip);
  await put(join(dir, `t10k-images-idx3-ubyte${sfx}`), idxImages(3, 3, 4, (n, i) => pix(n + 100, i)), opts.gzip);
  await put(join(dir, `t10k-labels-idx1-ubyte${sfx}`), idxLabels([7, 2, 1]), opts.gzip);
}

export const CIFAR_RECORD = 3073;

/** Records whose pixels encode (global record number g, byte k), so order and layout are checkable. */
export function cifarRecords(labels: readonly number[], first: number): Uint8Array {
  const buf = new Uint8Array(labels.length * CIFAR_RECORD);
  labels.forEach((l, r) => {
    buf[r * CIFAR_RECORD] = l;
    for (let k = 0; k < 3072; k++) buf[r * CIFAR_RECORD + 1 + k] = cifarPix(first + r, k);
  });
  return buf;
}

export const cifarPix = (g: number, k: number): number => (g * 29 + k * 7 + (k >> 10) * 50) & 0xff;

/** A synthetic MNIST-shaped IDX set (28×28, labels 0..9 in turn): data that is not the embedded slice. */
export async function writeSyntheticMnist(dir: string, train: number, test: number): Promise<void> {
  const pixel = (n: number, i: number): number => (n * 31 + i * 7) & 0xff;
  await put(join(dir, 'train-images-idx3-ubyte'), idxImages(train, 28, 28, pixel));
  await put(join(dir, 'train-labels-idx1-ubyte'), idxLabels(Array.from({ length: train }, (_, i) => i % 10)));
  await put(join(dir, 't10k-images-idx3-ubyte'), idxImages(test, 28, 28, pixel));
  await put(join(dir, 't10k-labels-idx1-ubyte'), idxLabels(Array.from({ length: test }, (_, i) => i % 10)));
}
