import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { DataError, loadData, readImageFile } from '../src/data/index.js';
import { tempDir } from './data-fixtures.js';

const tmp = await tempDir();
after(tmp.cleanup);
let serial = 0;
const fresh = async (): Promise<string> => {
  const d = join(tmp.dir, `case${serial++}`);
  await mkdir(d, { recursive: true });
  return d;
};

async function rejectsData(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

/** Grey pattern: distinct per image seed and position. */
const greyPix = (seed: number, i: number): number => (seed * 53 + i * 7) & 0xff;

async function writeGrey(file: string, seed: number, h = 5, w = 6): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const data = Buffer.from(Array.from({ length: h * w }, (_, i) => greyPix(seed, i)));
  // Without toColourspace('b-w') sharp would write a 1-channel raw buffer as an RGB PNG.
  await sharp(data, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toFile(file);
}

/** RGB pattern, HWC on disk: channel c of pixel i. */
const rgbPix = (seed: number, i: number, c: number): number => (seed * 31 + i * 5 + c * 80) & 0xff;

async function writeRgb(file: string, seed: number, h = 5, w = 6, alpha = false): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const ch = alpha ? 4 : 3;
  const data = Buffer.alloc(h * w * ch);
  for (let i = 0; i < h * w; i++) {
    for (let c = 0; c < 3; c++) data[i * ch + c] = rgbPix(seed, i, c);
    if (alpha) data[i * ch + 3] = 200;
  }
  await sharp(data, { raw: { width: w, height: h, channels: ch } }).png().toFile(file);
}

async function writeSolidJpeg(file: string, rgb: [number, number, number], h = 8, w = 8): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .jpeg({ quality: 100 })
    .toFile(file);
}

test('folder (train/test): grey PNGs, sorted classes, class-interleaved order, exact pixels', async () => {
  const dir = await fresh();
  // Classes created out of order and with uneven counts; files named so sort order matters.
  await writeGrey(join(dir, 'train', 'dog', 'b.png'), 11);
  await writeGrey(join(dir, 'train', 'dog', 'a.png'), 10);
  await writeGrey(join(dir, 'train', 'cat', 'x1.png'), 20);
  await writeGrey(join(dir, 'train', 'cat', 'x2.png'), 21);
  await writeGrey(join(dir, 'train', 'cat', 'x3.png'), 22);
  await writeGrey(join(dir, 'test', 'dog', 'q.png'), 30);
  await writeFile(join(dir, 'train', 'cat', 'notes.txt'), 'not an image');
  const src = await loadData(dir);
  assert.equal(src.format, 'folder');
  const { train, test: t } = src;
  assert.deepEqual(train.classNames, ['cat', 'dog']);
  assert.equal(train.classes, 2);
  assert.deepEqual([train.count, train.channels, train.height, train.width], [5, 1, 5, 6]);
  // cat/x1, dog/a, cat/x2, dog/b, cat/x3
  const seeds = [20, 10, 21, 11, 22];
  assert.deepEqual([...train.labels], [0, 1, 0, 1, 0]);
  for (let n = 0; n < 5; n++) for (let i = 0; i < 30; i++) assert.equal(train.images[n * 30 + i], greyPix(seeds[n]!, i));
  assert.equal(t.count, 1);
  assert.deepEqual([...t.labels], [1]);
  assert.equal(t.images[7], greyPix(30, 7));
});

test('folder: RGB PNGs come out planar CHW; alpha is dropped', async () => {
  const dir = await fresh();
  await writeRgb(join(dir, 'train', 'a', '1.png'), 1);
  await writeRgb(join(dir, 'train', 'b', '1.png'), 2, 5, 6, true);
  const { train } = await loadData(dir);
  assert.deepEqual([train.count, train.channels, train.height, train.width], [2, 3, 5, 6]);
  const plane = 30;
  for (let n = 0; n < 2; n++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < plane; i++) assert.equal(train.images[n * 3 * plane + c * plane + i], rgbPix(n + 1, i, c));
    }
  }
});

test('folder: JPEG (.jpg and .jpeg), and the requested channel count overrides the first image', async () => {
  const dir = await fresh();
  await writeSolidJpeg(join(dir, 'train', 'red', 'r.jpg'), [250, 10, 10]);
  await writeSolidJpeg(join(dir, 'train', 'blue', 'b.JPEG'), [10, 10, 250]);
  const rgb = await loadData(dir);
  assert.deepEqual([rgb.train.count, rgb.train.channels, rgb.train.height, rgb.train.width], [2, 3, 8, 8]);
  // blue sorts first: label 0 is blue. JPEG is lossy, so compare within a few levels.
  const near = (a: number, b: number): void => assert.ok(Math.abs(a - b) <= 4, `${a} vs ${b}`);
  near(rgb.train.images[0]!, 10);
  near(rgb.train.images[2 * 64]!, 250);
  near(rgb.train.images[192]!, 250); // red image, R plane
  const grey = await loadData(dir, { channels: 1 });
  assert.equal(grey.train.channels, 1);
  assert.equal(grey.train.images.length, 2 * 64);
  const dir2 = await fresh();
  await writeGrey(join(dir2, 'k', '1.png'), 3);
  const asRgb = await loadData(dir2, { channels: 3 });
  assert.equal(asRgb.train.channels, 3);
  for (let c = 0; c < 3; c++) assert.equal(asRgb.train.images[c * 30 + 4], greyPix(3, 4));
});

test('folder: an image of a different size is an error naming it', async () => {
  const dir = await fresh();
  await writeGrey(join(dir, 'train', 'a', '1.png'), 1);
  await writeGrey(join(dir, 'train', 'b', '1.png'), 2);
  await writeGrey(join(dir, 'test', 'b', 'odd.png'), 3, 6, 6);
  await rejectsData(loadData(dir), /test\/b\/odd\.png: image is 6×6 but .*train\/a\/1\.png is 5×6/);
});

test('folder: undecodable file and test class unknown to train', async () => {
  const dir = await fresh();
  await writeGrey(join(dir, 'train', 'a', '1.png'), 1);
  await writeFile(join(dir, 'train', 'a', '2.png'), 'garbage, not a PNG');
  await rejectsData(loadData(dir), /train\/a\/2\.png: cannot decode image/);
  const dir2 = await fresh();
  await writeGrey(join(dir2, 'train', 'a', '1.png'), 1);
  await writeGrey(join(dir2, 'test', 'zebra', '1.png'), 1);
  await rejectsData(loadData(dir2), /test\/zebra: class "zebra" has no folder in/);
});

test('folder without train/test: everything is training data, test set empty', async () => {
  const dir = await fresh();
  for (const [cls, n] of [['x', 2], ['y', 1], ['z', 2]] as const) {
    for (let k = 0; k < n; k++) await writeGrey(join(dir, cls, `${k}.png`), k);
  }
  const src = await loadData(dir);
  assert.equal(src.train.count, 5);
  assert.deepEqual([...src.train.labels], [0, 1, 2, 0, 2]);
  assert.equal(src.test.count, 0);
  assert.deepEqual([src.test.channels, src.test.height, src.test.width, src.test.classes], [1, 5, 6, 3]);
});

test('folder: limits take the first N of the interleaved order', async () => {
  const dir = await fresh();
  for (const cls of ['a', 'b']) for (let k = 0; k < 4; k++) await writeGrey(join(dir, 'train', cls, `${k}.png`), k);
  for (let k = 0; k < 3; k++) await writeGrey(join(dir, 'test', 'a', `${k}.png`), k);
  // A broken file past the limit is never decoded.
  await writeFile(join(dir, 'train', 'b', '9.png'), 'garbage');
  const src = await loadData(dir, { trainLimit: 3, testLimit: 2 });
  assert.deepEqual([...src.train.labels], [0, 1, 0]);
  assert.equal(src.train.images[30 + 5], greyPix(0, 5));
  assert.equal(src.train.images[60 + 5], greyPix(1, 5));
  assert.equal(src.test.count, 2);
});

test('readImageFile: grey/RGB per the network, [0,1], CHW', async () => {
  const dir = await fresh();
  const g = join(dir, 'g.png');
  await writeGrey(g, 4);
  const x = await readImageFile(g, { height: 5, width: 6, channels: 1 }, false);
  assert.equal(x.length, 30);
  for (let i = 0; i < 30; i++) assert.equal(x[i], Math.fround(greyPix(4, i) / 255));
  const x3 = await readImageFile(g, { height: 5, width: 6, channels: 3 }, false);
  assert.equal(x3.length, 90);
  assert.equal(x3[60 + 9], Math.fround(greyPix(4, 9) / 255));
  const c = join(dir, 'c.png');
  await writeRgb(c, 7);
  const y = await readImageFile(c, { height: 5, width: 6, channels: 3 }, false);
  for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 30; i++) assert.equal(y[ch * 30 + i], Math.fround(rgbPix(7, i, ch) / 255));
  const y1 = await readImageFile(c, { height: 5, width: 6, channels: 1 }, false);
  assert.equal(y1.length, 30);
});

test('readImageFile: size mismatch is an error unless resize', async () => {
  const dir = await fresh();
  const f = join(dir, 'big.jpg');
  await writeSolidJpeg(f, [200, 200, 200], 32, 32);
  await rejectsData(
    readImageFile(f, { height: 28, width: 28, channels: 1 }, false),
    /big\.jpg: image is 32×32×1 but the network expects 28×28×1 \(pass --resize to resize it\)/,
  );
  const x = await readImageFile(f, { height: 28, width: 28, channels: 1 }, true);
  assert.equal(x.length, 784);
  for (const v of x) assert.ok(Math.abs(v - 200 / 255) < 0.03);
  await rejectsData(readImageFile(join(dir, 'missing.png'), { height: 1, width: 1, channels: 1 }, false), /missing\.png: no such file/);
});
