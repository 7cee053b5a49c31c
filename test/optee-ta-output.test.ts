// The OP-TEE TA's output-policy selections (optee/ta/output.c, issue 17 milestone 2) against the
// software TA's: top1 = argmaxAt and topk = rankClasses (src/nn/train.ts) for random probability
// vectors with many ties, k above and below the class count. Built with the host's cc; skipped with
// a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { argmaxAt, rankClasses } from '../src/nn/train.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-output-'));
const exe = join(dir, 'output_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'output.c'), join(TA, 'test', 'output_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-output.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function runC(probs: Float32Array, n: number, classes: number, topk: number): { top1: number[]; topk: number[] } {
  const bits = Array.from(new Uint32Array(probs.buffer, probs.byteOffset, n * classes), (b) => b.toString(16));
  const r = spawnSync(exe, [], { input: `${n} ${classes} ${topk}\n${bits.join(' ')}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [a = '', b = ''] = r.stdout.split('\n');
  const nums = (s: string): number[] => (s.trim() === '' ? [] : s.trim().split(' ').map(Number));
  return { top1: nums(a), topk: nums(b) };
}

test('the C output selections compile', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C top1/topk = argmaxAt/rankClasses, ties to the lower class', { skip }, () => {
  // values from a small set, so ties are common; -0 and 0 tie too
  const value = fc.constantFrom(0, -0, 0.1, 0.25, 0.5, 1, 1e-30, 0.333333343267);
  let tied = 0;
  fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 15 }), fc.array(value, { minLength: 72, maxLength: 72 }),
    (n, classes, topk, pool) => {
      const probs = Float32Array.from({ length: n * classes }, (_, i) => pool[i % pool.length]!);
      const c = runC(probs, n, classes, topk);
      const k = Math.min(topk, classes);
      const top1: number[] = [];
      const ranked: number[] = [];
      for (let i = 0; i < n; i++) {
        const row = probs.subarray(i * classes, (i + 1) * classes);
        top1.push(argmaxAt(probs, i * classes, classes));
        ranked.push(...rankClasses(row).slice(0, k).map((r) => r.class));
        if (new Set(row).size < row.length) tied++;
      }
      assert.deepEqual(c.top1, top1);
      assert.deepEqual(c.topk, ranked);
    }), { numRuns: 80 });
  assert.ok(tied > 20, `only ${tied} rows with ties`);
});

test('a softmax-like batch of MNIST size: 100 images, 10 classes, top5', { skip }, () => {
  const n = 100;
  const probs = new Float32Array(n * 10);
  let s = 12345;
  for (let i = 0; i < probs.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    probs[i] = (s >>> 8) / 2 ** 24;
  }
  const c = runC(probs, n, 10, 5);
  assert.equal(c.topk.length, n * 5);
  for (let i = 0; i < n; i++) {
    assert.equal(c.top1[i], argmaxAt(probs, i * 10, 10));
    assert.deepEqual(c.topk.slice(i * 5, i * 5 + 5), rankClasses(probs.subarray(i * 10, i * 10 + 10)).slice(0, 5).map((r) => r.class));
  }
});
