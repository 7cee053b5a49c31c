import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rename, stat, writeFile, unlink, mkdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { DataError, embeddedDir, loadData } from '../src/data/index.js';
import {
  CIFAR_RECORD, IDX_NAMES, cifarPix, cifarRecords, idxImages, idxLabels, pix, put, tempDir, writeIdxSet,
} from './data-fixtures.js';

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
    assert.ok(!e.message.includes('\n'), 'error is one line');
    return true;
  });
}

// ---------------------------------------------------------------- IDX

for (const gzip of [false, true]) {
  test(`IDX ${gzip ? 'gzip' : 'raw'}: header, pixels and labels`, async () => {
    const dir = await fresh();
    await writeIdxSet(dir, { gzip });
    const src = await loadData(dir);
    assert.equal(src.format, 'idx');
    assert.equal(src.location, dir);
    const { train, test: t } = src;
    assert.deepEqual([train.count, train.channels, train.height, train.width], [5, 1, 3, 4]);
    assert.deepEqual([t.count, t.channels, t.height, t.width], [3, 1, 3, 4]);
    assert.deepEqual([...train.labels], [5, 0, 4, 1, 9]);
    assert.deepEqual([...t.labels], [7, 2, 1]);
    assert.equal(train.images.length, 5 * 12);
    for (let n = 0; n < 5; n++) for (let i = 0; i < 12; i++) assert.equal(train.images[n * 12 + i], pix(n, i));
    for (let n = 0; n < 3; n++) for (let i = 0; i < 12; i++) assert.equal(t.images[n * 12 + i], pix(n + 100, i));
    assert.equal(train.classes, 10);
    assert.deepEqual(train.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
}

test('IDX: gzip is detected by magic bytes, not by the name', async () => {
  const dir = await fresh();
  await writeIdxSet(dir, { gzip: true, suffix: '' }); // gzip content under the plain names
  const a = await loadData(dir);
  const dir2 = await fresh();
  await writeIdxSet(dir2, { gzip: false, suffix: '.gz' }); // raw content under .gz names
  const b = await loadData(dir2);
  assert.deepEqual(a.train.images, b.train.images);
  assert.deepEqual([...a.train.labels], [5, 0, 4, 1, 9]);
});

test('IDX: dot-variant file names are accepted', async () => {
  const dir = await fresh();
  await writeIdxSet(dir);
  for (const n of IDX_NAMES) await rename(join(dir, n), join(dir, n.replace(/-(idx\d)/, '.$1')));
  const src = await loadData(dir);
  assert.equal(src.train.count, 5);
});

test('IDX: wrong magic number names the file and both magics', async () => {
  const dir = await fresh();
  await writeIdxSet(dir);
  const f = join(dir, 'train-images-idx3-ubyte');
  await put(f, idxLabels([1, 2, 3]));
  await rejectsData(loadData(dir), /train-images-idx3-ubyte: not an IDX image file \(magic 0x00000801, expected 0x00000803\)/);
  const g = join(dir, 't10k-labels-idx1-ubyte');
  await writeIdxSet(dir);
  await put(g, idxImages(3, 3, 4, pix));
  await rejectsData(loadData(dir), /t10k-labels-idx1-ubyte: not an IDX label file \(magic 0x00000803, expected 0x00000801\)/);
});

for (const gzip of [false, true]) {
  test(`IDX ${gzip ? 'gzip' : 'raw'}: truncated pixel data`, async () => {
    const dir = await fresh();
    await writeIdxSet(dir, { gzip });
    const full = idxImages(5, 3, 4, pix);
    const f = join(dir, `train-images-idx3-ubyte${gzip ? '.gz' : ''}`);
    await put(f, full.subarray(0, full.length - 7), gzip);
    await rejectsData(loadData(dir), /train-images-idx3-ubyte(\.gz)?: truncated/);
    // Even a limit that stays inside the data present is refused: the file is damaged.
    await rejectsData(loadData(dir, { trainLimit: 4 }), /train-images-idx3-ubyte(\.gz)?: truncated/);
    // And so is a file longer than its header says.
    await put(f, Buffer.concat([full, Buffer.alloc(12)]), gzip);
    await rejectsData(loadData(dir, { trainLimit: 2 }), /train-images-idx3-ubyte(\.gz)?: longer than its header says/);
  });
}

test('IDX: truncated header and truncated labels', async () => {
  const dir = await fresh();
  await writeIdxSet(dir);
  await put(join(dir, 't10k-images-idx3-ubyte'), idxImages(3, 3, 4, pix).subarray(0, 10));
  await rejectsData(loadData(dir), /t10k-images-idx3-ubyte: truncated/);
  await writeIdxSet(dir);
  await put(join(dir, 'train-labels-idx1-ubyte'), idxLabels([5, 0, 4, 1, 9]).subarray(0, 11));
  await rejectsData(loadData(dir), /train-labels-idx1-ubyte: truncated \(header declares 5 labels, found 3\)/);
});

test('IDX: corrupt gzip stream is a DataError', async () => {
  const dir = await fresh();
  await writeIdxSet(dir);
  const gz = gzipSync(idxImages(5, 3, 4, pix));
  await writeFile(join(dir, 'train-images-idx3-ubyte'), gz.subarray(0, gz.length - 12));
  await rejectsData(loadData(dir), /train-images-idx3-ubyte: (corrupt or truncated gzip|truncated)/);
});

test('IDX: image/label count mismatch', async () => {
  const dir = await fresh();
  await writeIdxSet(dir);
  await put(join(dir, 'train-labels-idx1-ubyte'), idxLabels([5, 0, 4, 1]));
  await rejectsData(loadData(dir), /train-images-idx3-ubyte: 5 images but .*train-labels-idx1-ubyte has 4 labels/);
  // The check uses the header counts, so a limit does not hide it.
  await rejectsData(loadData(dir, { trainLimit: 2 }), /5 images but .* 4 labels/);
});

test('IDX: missing test files', async () => {
  const dir = await fresh();
  await writeIdxSet(dir);
  await unlink(join(dir, 't10k-images-idx3-ubyte'));
  await rejectsData(loadData(dir), /missing t10k-images-idx3-ubyte\[\.gz\]/);
});

test('IDX: limits take the first N, before anything else', async () => {
  const dir = await fresh();
  await writeIdxSet(dir, { gzip: true });
  const src = await loadData(dir, { trainLimit: 2, testLimit: 0 });
  assert.equal(src.train.count, 2);
  assert.deepEqual([...src.train.labels], [5, 0]);
  assert.deepEqual(src.train.images, Uint8Array.from({ length: 24 }, (_, k) => pix(Math.floor(k / 12), k % 12)));
  assert.equal(src.test.count, 0);
  assert.equal(src.test.images.length, 0);
  const big = await loadData(dir, { trainLimit: 1000 });
  assert.equal(big.train.count, 5);
  await rejectsData(loadData(dir, { trainLimit: -1 }), /trainLimit must be a non-negative integer/);
  await rejectsData(loadData(dir, { testLimit: 1.5 }), /testLimit must be a non-negative integer/);
});

test('IDX: class names from classes.txt; more than 10 labels widens the class count', async () => {
  const dir = await fresh();
  await writeIdxSet(dir, { trainLabels: [0, 1, 2, 12, 3] });
  const src = await loadData(dir);
  assert.equal(src.train.classes, 13);
  assert.equal(src.train.classNames.length, 13);
  await writeFile(join(dir, 'classes.txt'), Array.from({ length: 13 }, (_, i) => `c${i}`).join('\n') + '\n');
  const named = await loadData(dir);
  assert.equal(named.test.classNames[12], 'c12');
  await writeFile(join(dir, 'classes.txt'), 'a\nb\n');
  await rejectsData(loadData(dir), /classes\.txt: lists 2 classes but the data has label 12/);
});

// ---------------------------------------------------------------- CIFAR-10

const CIFAR_BATCH_SIZES = [2, 1, 3, 0, 2];
const CIFAR_TRAIN_LABELS = [3, 9, 0, 1, 2, 8, 6, 5];

async function writeCifar(dir: string, gzip: (i: number) => boolean = () => false, meta?: string): Promise<void> {
  let g = 0;
  for (let b = 0; b < 5; b++) {
    const labels = CIFAR_TRAIN_LABELS.slice(g, g + CIFAR_BATCH_SIZES[b]!);
    await put(join(dir, `data_batch_${b + 1}.bin${gzip(b) ? '.gz' : ''}`), cifarRecords(labels, g), gzip(b));
    g += labels.length;
  }
  await put(join(dir, `test_batch.bin${gzip(5) ? '.gz' : ''}`), cifarRecords([4, 7, 9], 1000), gzip(5));
  if (meta !== undefined) await writeFile(join(dir, 'batches.meta.txt'), meta);
}

function checkCifarImages(images: Uint8Array, count: number, first: number): void {
  assert.equal(images.length, count * 3072);
  for (let r = 0; r < count; r++) {
    for (let k = 0; k < 3072; k++) {
      if (images[r * 3072 + k] !== cifarPix(first + r, k)) assert.fail(`record ${r} byte ${k}`);
    }
  }
}

for (const [name, gz] of [['bin', () => false], ['gz', () => true], ['mixed', (i: number) => i % 2 === 0]] as const) {
  test(`CIFAR-10 ${name}: records split into label + CHW pixels across all batches`, async () => {
    const dir = await fresh();
    await writeCifar(dir, gz);
    const src = await loadData(dir);
    assert.equal(src.format, 'cifar10');
    const { train, test: t } = src;
    assert.deepEqual([train.count, train.channels, train.height, train.width, train.classes], [8, 3, 32, 32, 10]);
    assert.deepEqual([...train.labels], CIFAR_TRAIN_LABELS);
    checkCifarImages(train.images, 8, 0);
    assert.deepEqual([...t.labels], [4, 7, 9]);
    checkCifarImages(t.images, 3, 1000);
    assert.equal(train.classNames[0], 'airplane');
    assert.equal(train.classNames[9], 'truck');
  });
}

test('CIFAR-10: class names from batches.meta.txt; bad meta is an error', async () => {
  const dir = await fresh();
  await writeCifar(dir, () => false, 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
  assert.deepEqual((await loadData(dir)).train.classNames, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  await writeFile(join(dir, 'batches.meta.txt'), 'cat\ndog\n');
  await rejectsData(loadData(dir), /batches\.meta\.txt: expected 10 class names, found 2/);
});

test('CIFAR-10: limits read the first N records across batch files', async () => {
  const dir = await fresh();
  await writeCifar(dir, () => true);
  const src = await loadData(dir, { trainLimit: 4, testLimit: 1 });
  assert.deepEqual([...src.train.labels], CIFAR_TRAIN_LABELS.slice(0, 4));
  checkCifarImages(src.train.images, 4, 0);
  assert.deepEqual([...src.test.labels], [4]);
  const none = await loadData(dir, { trainLimit: 0 });
  assert.equal(none.train.count, 0);
});

test('CIFAR-10: bad record length (raw and gzip)', async () => {
  const dir = await fresh();
  await writeCifar(dir);
  const bad = new Uint8Array(2 * CIFAR_RECORD + 5);
  await put(join(dir, 'data_batch_2.bin'), bad);
  await rejectsData(loadData(dir), /data_batch_2\.bin: length 6151 is not a multiple of the 3073-byte CIFAR-10 record/);
  await unlink(join(dir, 'data_batch_2.bin'));
  await put(join(dir, 'data_batch_2.bin.gz'), bad, true);
  await rejectsData(loadData(dir), /data_batch_2\.bin\.gz: length 6151 is not a multiple/);
});

test('CIFAR-10: missing batch file and out-of-range label', async () => {
  const dir = await fresh();
  await writeCifar(dir);
  await unlink(join(dir, 'data_batch_3.bin'));
  await rejectsData(loadData(dir), /missing data_batch_3\.bin\[\.gz\]/);
  await writeCifar(dir);
  await put(join(dir, 'test_batch.bin'), cifarRecords([1, 10, 2], 0));
  await rejectsData(loadData(dir), /test_batch\.bin: record 1 has label 10 \(CIFAR-10 labels are 0\.\.9\)/);
});

test('CIFAR-10: the cifar-10-batches-bin folder of the official tarball is found', async () => {
  const dir = await fresh();
  await writeCifar(join(dir, 'cifar-10-batches-bin'));
  const src = await loadData(dir);
  assert.equal(src.format, 'cifar10');
  assert.equal(src.location, dir);
  assert.equal(src.train.count, 8);
});

// ---------------------------------------------------------------- detection

test('loadData: missing or unrecognised directory', async () => {
  await rejectsData(loadData(join(tmp.dir, 'nope')), /nope: no such directory/);
  const dir = await fresh();
  await writeFile(join(dir, 'readme.txt'), 'hello');
  await rejectsData(loadData(dir), /no data set found/);
});

// ---------------------------------------------------------------- embedded

test('embedded: first 6000 / 1000 MNIST images, labels 0..9', async () => {
  const src = await loadData('embedded');
  assert.equal(src.format, 'idx');
  assert.equal(src.location, 'embedded');
  const { train, test: t } = src;
  assert.deepEqual([train.count, train.channels, train.height, train.width, train.classes], [6000, 1, 28, 28, 10]);
  assert.deepEqual([t.count, t.channels, t.height, t.width], [1000, 1, 28, 28]);
  // MNIST's well-known first labels: the slice is a prefix of the standard files.
  assert.deepEqual([...train.labels.subarray(0, 10)], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  assert.deepEqual([...t.labels.subarray(0, 10)], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  for (const ds of [train, t]) {
    const seen = new Set(ds.labels);
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }
  let max = 0;
  for (const p of train.images) if (p > max) max = p;
  assert.equal(max, 255);
  // MNIST digits sit on a black background: the corner pixel of every image is 0.
  for (let n = 0; n < train.count; n += 97) assert.equal(train.images[n * 784], 0);
  const def = await loadData();
  assert.equal(def.location, 'embedded');
});

test('embedded: limits apply, and the shipped files stay small', async () => {
  const src = await loadData('embedded', { trainLimit: 100, testLimit: 10 });
  assert.equal(src.train.count, 100);
  assert.equal(src.test.count, 10);
  assert.deepEqual([...src.train.labels.subarray(0, 3)], [5, 0, 4]);
  let bytes = 0;
  for (const n of IDX_NAMES) bytes += (await stat(join(embeddedDir(), `${n}.gz`))).size;
  assert.ok(bytes < 1.5e6, `embedded slice is ${bytes} bytes`);
});
