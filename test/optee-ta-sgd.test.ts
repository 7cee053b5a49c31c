// The OP-TEE TA's SGD step (optee/ta/sgd.c, issue 17 milestone 2) against sgdUpdate (src/nn/layer.ts):
// weights and momentum after several accumulate-then-update steps, bit for bit, with and without weight
// decay, for VGG-7's training settings and random ones. Built with the host's cc (-ffp-contract=off, as
// the TA is); skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { sgdUpdate } from '../src/nn/layer.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-sgd-'));
const exe = join(dir, 'sgd_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-ffp-contract=off', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'sgd.c'), join(TA, 'test', 'sgd_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-sgd.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const hex = (a: Float32Array): string[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

interface Run { n: number; steps: number; lr: number; momentum: number; decay: number; batch: number; withDecay: boolean; seed: number }

function compare(r: Run): void {
  let s = r.seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2;
  };
  const data = Float32Array.from({ length: r.n }, next);
  const grads = Array.from({ length: r.steps }, () => Float32Array.from({ length: r.n }, () => next() * 3));
  const stdin = [[r.n, r.steps, r.lr, r.momentum, r.decay, r.batch, r.withDecay ? 1 : 0].join(' '), ...hex(data), ...grads.flatMap(hex)].join(' ');
  const p = { name: 'weights' as const, data: Float32Array.from(data), updates: new Float32Array(r.n) };
  for (const g of grads) {
    for (let i = 0; i < r.n; i++) p.updates[i] = p.updates[i]! + g[i]!;
    sgdUpdate(p, { learningRate: r.lr, momentum: r.momentum, decay: r.decay, batch: r.batch }, r.withDecay);
  }
  const out = spawnSync(exe, [], { input: `${stdin}\n`, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(out.status, 0, out.stderr);
  const [w = '', u = ''] = out.stdout.split('\n');
  assert.deepEqual(w.trim().split(' ').map(Number), bits(p.data), `weights ${JSON.stringify(r)}`);
  assert.deepEqual(u.trim().split(' ').map(Number), bits(p.updates), `momentum ${JSON.stringify(r)}`);
}

test('the C SGD step compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C SGD = sgdUpdate with VGG-7\'s settings (lr 0.01, momentum 0.9, decay 0.0005, batch 128)', { skip }, () => {
  compare({ n: 4096, steps: 5, lr: 0.01, momentum: 0.9, decay: 0.0005, batch: 128, withDecay: true, seed: 1 });
  compare({ n: 4096, steps: 5, lr: 0.01, momentum: 0.9, decay: 0.0005, batch: 128, withDecay: false, seed: 2 });
});

test('C SGD = sgdUpdate for random settings', { skip }, () => {
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 300 }), steps: fc.integer({ min: 1, max: 4 }),
    lr: fc.double({ min: 1e-5, max: 1, noNaN: true }), momentum: fc.double({ min: 0, max: 0.99, noNaN: true }),
    decay: fc.double({ min: 0, max: 0.01, noNaN: true }), batch: fc.integer({ min: 1, max: 256 }), withDecay: fc.boolean(), seed: fc.nat(),
  }), (r) => compare(r)), { numRuns: 60 });
});
