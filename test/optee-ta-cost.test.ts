// The OP-TEE TA's cost layer (optee/ta/cost.c, issue 17 milestone 2) against CostLayer: outputs, deltas,
// the input gradient (scaled) and the cost, bit for bit, for sse, masked, L1 and smooth, with exact
// ties (d = 0, |d| = 1). Built with the host's cc; skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CostLayer } from '../src/nn/layers/cost.js';
import type { CostType } from '../src/nn/config.js';
import { getKernels } from '../src/kernels/index.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-cost-'));
const exe = join(dir, 'cost_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-ffp-contract=off', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'cost.c'), join(TA, 'test', 'cost_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-cost.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const TYPES: CostType[] = ['sse', 'masked', 'L1', 'smooth'];
const hex = (a: Float32Array): string[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

test('the C cost layer compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C cost = CostLayer for every cost type', { skip }, () => {
  const value = fc.oneof(fc.constantFrom(0, -0, 1, -1, 0.5, 2, -2.5), fc.float({ min: -4, max: 4, noNaN: true }));
  fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.array(fc.tuple(value, value, value), { minLength: 1, maxLength: 60 }), fc.constantFrom(1, 0.5, 3),
    (t, rows, scale) => {
      const n = rows.length;
      const input = Float32Array.from(rows, (r) => r[0]);
      const truth = Float32Array.from(rows, (r) => r[1]);
      const inputDelta = Float32Array.from(rows, (r) => r[2]);
      const layer = new CostLayer(13, { type: 'cost', costType: TYPES[t]!, scale, source: { file: 'test', line: 1 } }, { c: n, h: 1, w: 1 }, 1);
      layer.forward(input, 1, { train: true, truth, kernels: getKernels(), seed: 1, iteration: 0 });
      const tsInputDelta = Float32Array.from(inputDelta);
      layer.backward(input, tsInputDelta, 1);
      const r = spawnSync(exe, [], { input: [`${t} ${n} ${scale}`, ...hex(input), ...hex(truth), ...hex(inputDelta)].join(' ') + '\n', encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const [out = '', delta = '', ind = '', cost = ''] = r.stdout.split('\n');
      const nums = (x: string): number[] => x.trim().split(' ').map(Number);
      assert.deepEqual(nums(out), bits(layer.output.subarray(0, n)));
      assert.deepEqual(nums(delta), bits(layer.delta.subarray(0, n)));
      assert.deepEqual(nums(ind), bits(tsInputDelta));
      assert.equal(Number(cost), layer.cost);
    }), { numRuns: 100 });
});
