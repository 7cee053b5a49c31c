import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rng } from '../src/nn/rng.js';
import { BatchLoader, DataError, checkShape, oneHot, resizeDataset, splitST, type Dataset } from '../src/data/index.js';

function dataset(count: number, channels: number, height: number, width: number, pixel: (n: number, i: number) => number): Dataset {
  const size = channels * height * width;
  const images = new Uint8Array(count * size);
  for (let n = 0; n < count; n++) for (let i = 0; i < size; i++) images[n * size + i] = pixel(n, i);
  const labels = Uint8Array.from({ length: count }, (_, n) => n % 10);
  const classNames = Array.from({ length: 10 }, (_, i) => String(i));
  return { images, labels, count, channels, height, width, classes: 10, classNames };
}

// ---------------------------------------------------------------- S/T split

test('splitST: fixed output for seed 1 (catches any change in the RNG or the split)', () => {
  const { S, T } = splitST(100, 1);
  assert.deepEqual([...S.subarray(0, 10)], [0, 2, 3, 4, 7, 8, 11, 12, 13, 17]);
  assert.deepEqual([...T.subarray(0, 10)], [1, 5, 6, 9, 10, 14, 15, 16, 20, 24]);
  assert.equal(S.length, 50);
  assert.equal(T.length, 50);
});

test('splitST: same seed, same split; another seed, another split', () => {
  const a = splitST(1000, 42);
  const b = splitST(1000, 42);
  assert.deepEqual(a.S, b.S);
  assert.deepEqual(a.T, b.T);
  assert.notDeepEqual(splitST(1000, 43).S, a.S);
});

test('splitST: disjoint, covering, sorted, sized round(count·fraction)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 500 }), fc.integer(), fc.double({ min: 0, max: 1, noNaN: true }), (count, seed, fraction) => {
      const { S, T } = splitST(count, seed, fraction);
      assert.equal(S.length, Math.round(count * fraction));
      assert.equal(S.length + T.length, count);
      const seen = new Uint8Array(count);
      for (const part of [S, T]) {
        for (let i = 0; i < part.length; i++) {
          if (i > 0) assert.ok(part[i - 1]! < part[i]!, 'sorted ascending');
          assert.ok(part[i]! < count);
          assert.equal(seen[part[i]!], 0, 'disjoint');
          seen[part[i]!] = 1;
        }
      }
    }),
    { numRuns: 200 },
  );
  assert.equal(splitST(7, 3).S.length, 4);
  assert.equal(splitST(10, 3, 0.3).S.length, 3);
  assert.throws(() => splitST(10, 1, 1.5), RangeError);
  assert.throws(() => splitST(-1, 1), RangeError);
});

// ---------------------------------------------------------------- batches

test('BatchLoader.fill: float32 pixel/255 in CHW, labels, for any window of positions', () => {
  const ds = dataset(6, 3, 2, 2, (n, i) => (n * 40 + i * 13) & 0xff);
  const idx = Uint32Array.from([4, 1, 3, 5]);
  const loader = new BatchLoader(ds, idx);
  assert.equal(loader.size, 4);
  assert.equal(loader.sampleSize, 12);
  const out = new Float32Array(3 * 12).fill(-1);
  const labels = new Uint8Array(3);
  loader.fill(1, 3, out, labels);
  const expectIdx = [1, 3, 5];
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < 12; i++) assert.equal(out[b * 12 + i], Math.fround(ds.images[expectIdx[b]! * 12 + i]! / 255));
    assert.equal(labels[b], ds.labels[expectIdx[b]!]);
  }
  const ints = new Int32Array(1);
  loader.fill(0, 1, out, ints);
  assert.equal(ints[0], 4);
  assert.equal(out[0], Math.fround(ds.images[4 * 12]! / 255));
  // Extremes are exact.
  const ext = dataset(1, 1, 1, 2, (_, i) => (i === 0 ? 0 : 255));
  const o = new Float32Array(2);
  new BatchLoader(ext).fill(0, 1, o, new Uint8Array(1));
  assert.deepEqual([...o], [0, 1]);
});

test('BatchLoader: range checks', () => {
  const ds = dataset(3, 1, 2, 2, () => 0);
  assert.throws(() => new BatchLoader(ds, Uint32Array.from([0, 3])), RangeError);
  const l = new BatchLoader(ds);
  assert.throws(() => l.fill(2, 2, new Float32Array(8), new Uint8Array(2)), RangeError);
  assert.throws(() => l.fill(0, 2, new Float32Array(7), new Uint8Array(2)), RangeError);
  assert.throws(() => l.fill(0, 2, new Float32Array(8), new Uint8Array(1)), RangeError);
  assert.equal(l.batchCount(2), 2);
  assert.equal(l.batchCount(2, true), 1);
});

test('BatchLoader.shuffled: a permutation of the index list, reproducible per rng, independent of history', () => {
  const ds = dataset(50, 1, 1, 1, (n) => n);
  const idx = Uint32Array.from({ length: 20 }, (_, i) => 49 - 2 * i);
  const loader = new BatchLoader(ds, idx);
  const orderOf = (): number[] => Array.from({ length: loader.size }, (_, p) => loader.indexAt(p));
  loader.shuffled(new Rng(7, 'shuffle', 0));
  const first = orderOf();
  assert.deepEqual([...first].sort((a, b) => a - b), [...idx].sort((a, b) => a - b));
  assert.notDeepEqual(first, [...idx]);
  // fill follows the shuffled order.
  const out = new Float32Array(20);
  loader.fill(0, 20, out, new Uint8Array(20));
  assert.deepEqual([...out], first.map((n) => Math.fround(n / 255)));
  loader.shuffled(new Rng(7, 'shuffle', 1));
  assert.notDeepEqual(orderOf(), first);
  loader.shuffled(new Rng(7, 'shuffle', 0));
  assert.deepEqual(orderOf(), first);
  loader.ordered();
  assert.deepEqual(orderOf(), [...idx]);
});

test('oneHot', () => {
  const out = new Float32Array(9).fill(7);
  oneHot([2, 0], 2, 3, out);
  assert.deepEqual([...out], [0, 0, 1, 1, 0, 0, 7, 7, 7]);
  assert.throws(() => oneHot([3], 1, 3, out), RangeError);
});

// ---------------------------------------------------------------- resize

test('resizeDataset: bilinear up and down with half-pixel centres', () => {
  const ds = dataset(1, 1, 2, 2, (_, i) => [0, 100, 100, 200][i]!);
  const up = resizeDataset(ds, 4, 4);
  assert.deepEqual([...up.images], [0, 25, 75, 100, 25, 50, 100, 125, 75, 100, 150, 175, 100, 125, 175, 200]);
  assert.deepEqual([up.height, up.width, up.channels, up.count], [4, 4, 1, 1]);
  assert.equal(up.labels, ds.labels);
  // 4×4 → 2×2 samples the centre of each 2×2 block: its mean.
  const big = dataset(1, 1, 4, 4, (_, i) => i * 10);
  assert.deepEqual([...resizeDataset(big, 2, 2).images], [25, 45, 105, 125]);
  // A constant image stays constant at any size.
  const flat = resizeDataset(dataset(2, 3, 32, 32, () => 77), 28, 28);
  assert.ok(flat.images.every((v) => v === 77));
  assert.equal(flat.images.length, 2 * 3 * 28 * 28);
  assert.equal(resizeDataset(ds, 2, 2), ds);
});

test('resizeDataset: grey↔RGB', () => {
  const rgb = dataset(1, 3, 1, 3, (_, i) => [255, 0, 0, 0, 255, 0, 0, 0, 255][i]!);
  const grey = resizeDataset(rgb, 1, 3, 1);
  assert.deepEqual([...grey.images], [76, 150, 29]);
  const back = resizeDataset(grey, 1, 3, 3);
  assert.deepEqual([...back.images], [76, 150, 29, 76, 150, 29, 76, 150, 29]);
  // Converting and resizing together: every plane is the resized grey plane.
  const both = resizeDataset(grey, 2, 6, 3);
  const plane = [...resizeDataset(grey, 2, 6).images];
  for (let c = 0; c < 3; c++) assert.deepEqual([...both.images.subarray(c * 12, (c + 1) * 12)], plane);
  assert.throws(() => resizeDataset(rgb, 1, 3, 2), DataError);
});

test('checkShape: pass-through, error with the fix, or resize', () => {
  const cifarLike = dataset(2, 3, 32, 32, (n, i) => (n + i) & 0xff);
  assert.equal(checkShape(cifarLike, { height: 32, width: 32, channels: 3 }, false), cifarLike);
  assert.throws(
    () => checkShape(cifarLike, { height: 28, width: 28, channels: 1 }, false),
    (e: unknown) => e instanceof DataError &&
      e.message === 'images are 32×32×3 but the network expects 28×28×1 (pass --resize to resize them)',
  );
  const r = checkShape(cifarLike, { height: 28, width: 28, channels: 1 }, true);
  assert.deepEqual([r.count, r.channels, r.height, r.width], [2, 1, 28, 28]);
  assert.deepEqual([...r.labels], [...cifarLike.labels]);
  const empty = dataset(0, 3, 32, 32, () => 0);
  assert.equal(checkShape(empty, { height: 28, width: 28, channels: 1 }, true).count, 0);
});
