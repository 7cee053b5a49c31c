// The OP-TEE TA's secure-memory arena (optee/ta/arena.c, issue 17 milestone 2) against the software
// TA's (src/tee/ta/arena.ts): for random sequences of reservations and capacities both give the same
// offsets, used bytes, peaks, the same failing reservation and the same OUT_OF_MEMORY message text, and
// the same byte formatting (including toFixed's round-half-up ties, e.g. 0.125 MiB). The C code is built
// with the host's cc; without one the test is skipped with a note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Arena, ArenaOverflow, fmtBytes, type BlockName } from '../src/tee/ta/arena.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-arena-'));
const exe = join(dir, 'arena_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'arena.c'), join(TA, 'test', 'arena_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-arena.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

type Op = { kind: 'r'; layer: number; buffer: BlockName; bytes: number } | { kind: 'reset' };

function runC(capacity: number, ops: Op[]): string[] {
  const script = [String(capacity), ...ops.map((o) => (o.kind === 'r' ? `r ${o.layer} ${o.buffer} ${o.bytes}` : 'reset'))].join('\n');
  const r = spawnSync(exe, [], { input: `${script}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

/** What the C driver prints, computed with the TypeScript arena. */
function runTs(capacity: number, ops: Op[]): string[] {
  const a = new Arena(capacity);
  return ops.map((o) => {
    if (o.kind === 'reset') {
      a.reset();
      return `reset ${a.usedBytes} ${a.peak} zeroed=1`;
    }
    try {
      const off = a.reserve(o.layer, o.buffer, o.bytes);
      return `ok ${off} ${a.usedBytes} ${a.peak}`;
    } catch (e) {
      if (!(e instanceof ArenaOverflow)) throw e;
      return `overflow ${e.message}`;
    }
  });
}

const BUFFERS: BlockName[] = ['weights', 'biases', 'output', 'delta', 'weight_updates', 'workspace', 'input', 'truth', 'dropout_mask'];

test('the C arena compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C arena = TS arena: offsets, used, peak, overflow and its message, reset', { skip }, () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('r' as const), layer: fc.integer({ min: -1, max: 20 }), buffer: fc.constantFrom(...BUFFERS), bytes: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 3_000_000 })) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
  );
  let overflows = 0;
  fc.assert(fc.property(fc.integer({ min: 1, max: 16 << 20 }), fc.array(op, { minLength: 1, maxLength: 40 }), (capacity, ops) => {
    const ts = runTs(capacity, ops);
    overflows += ts.filter((l) => l.startsWith('overflow')).length;
    assert.deepEqual(runC(capacity, ops), ts);
  }), { numRuns: 60 });
  assert.ok(overflows > 10, `only ${overflows} overflows exercised`);
});

test('the OUT_OF_MEMORY message of a VGG-7-sized reservation is the software TA\'s, word for word', { skip }, () => {
  const ops: Op[] = [
    { kind: 'r', layer: 0, buffer: 'weights', bytes: 12_000_000 },
    { kind: 'r', layer: 1, buffer: 'output', bytes: 6_422_528 },
  ];
  const c = runC(16 << 20, ops);
  assert.equal(c[1], 'overflow secure memory exhausted: layer 1 buffer \'output\' needs 6,422,528 bytes (6.13 MiB), '
    + 'only 4,777,216 bytes (4.56 MiB) of 16,777,216 bytes (16.00 MiB) free');
  assert.deepEqual(c, runTs(16 << 20, ops));
});

test('byte formatting: grouping, KiB/MiB thresholds and toFixed ties agree', { skip }, () => {
  const ns = [0, 1, 999, 1000, 1023, 1024, 1025, 1536, 10_240, 1_048_575, 1_048_576, 131_072, 393_216, 655_360, 6_422_528,
    13_107_200, 16_777_216, 123_456_789, 2 ** 40 + 12_345];
  for (let j = 1; j < 64; j += 2) ns.push(j * 131_072, j * 512, j * 51);
  const r = spawnSync(exe, [], { input: `dry\n${ns.map((n) => `fmt ${n}`).join('\n')}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ns.map((n) => `fmt ${fmtBytes(n)}`));
});
