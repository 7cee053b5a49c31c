// The label-only attack's perturbations: translations move pixels and fill with zeros; noise is
// seeded, clipped to [0, 1] and touches only the n images asked about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noise, perturbations, translate } from '../src/attack/label-only.js';

test('translate shifts each image by (dx, dy), filling with zeros', () => {
  const shape = { c: 1, h: 3, w: 3 };
  const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]); // two images
  translate(shape, 1, 0)(x, 2);
  assert.deepEqual(Array.from(x), [0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14, 0, 16, 17]);
  const y = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  translate(shape, 0, -1)(y, 1);
  assert.deepEqual(Array.from(y), [4, 5, 6, 7, 8, 9, 0, 0, 0]);
});

test('noise is reproducible, clipped to [0, 1] and leaves the unused part of the buffer alone', () => {
  const shape = { c: 1, h: 2, w: 2 };
  const a = new Float32Array(12).fill(0.5);
  const b = new Float32Array(12).fill(0.5);
  noise(shape, 0.5, 7, 3)(a, 2);
  noise(shape, 0.5, 7, 3)(b, 2);
  assert.deepEqual(a, b);
  assert.ok(a.subarray(0, 8).some((v) => v !== 0.5));
  assert.ok(a.every((v) => v >= 0 && v <= 1));
  assert.ok(a.subarray(0, 8).some((v) => v === 0 || v === 1), 'sigma 0.5 clips some pixels');
  assert.deepEqual(Array.from(a.subarray(8)), [0.5, 0.5, 0.5, 0.5]);
  const c = new Float32Array(12).fill(0.5);
  noise(shape, 0.5, 8, 3)(c, 2);
  assert.notDeepEqual(a, c);
});

test('R perturbations: about half translations, the rest noise', () => {
  const shape = { c: 1, h: 4, w: 4 };
  assert.equal(perturbations(shape, 8, 1).length, 8);
  assert.equal(perturbations(shape, 0, 1).length, 0);
  // The first is a one-pixel shift: a lone pixel moves one column right.
  const x = new Float32Array(16);
  x[5] = 1;
  perturbations(shape, 8, 1)[0]!(x, 1);
  assert.equal(x.indexOf(1), 6);
});
