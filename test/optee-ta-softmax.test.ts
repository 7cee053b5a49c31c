// The OP-TEE TA's softmax with cross-entropy (optee/ta/softmax.c, issue 17 milestone 2) against
// SoftmaxLayer. A TA has no libm, so the C uses its own exp and log (double precision, a few ulp), not
// V8's: probabilities and gradients (float32) are expected to equal the engine's bit for bit except,
// rarely, by one float32 ulp where a double's last bits decide a rounding; the summed loss (a double)
// to 1e-13 relative. Built with the host's cc; skipped with a note without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SoftmaxLayer } from '../src/nn/layers/softmax.js';
import { getKernels } from '../src/kernels/index.js';

const TA = fileURLToPath(new URL('../../optee/ta/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-softmax-'));
const exe = join(dir, 'softmax_dump');
const cc = spawnSync('cc', ['-std=c99', '-O2', '-ffp-contract=off', '-fno-math-errno', '-Wall', '-Wextra', '-Werror', `-I${join(TA, 'include')}`,
  join(TA, 'softmax.c'), join(TA, 'llmath.c'), join(TA, 'test', 'softmax_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-softmax.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const hex = (a: Float32Array): string[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Distance in float32 units in the last place between two bit patterns of finite floats of one sign. */
function ulps(a: number, b: number): number {
  const key = (x: number): number => (x & 0x80000000 ? -(x & 0x7fffffff) : x);
  return Math.abs(key(a) - key(b));
}

test('the C softmax compiles', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C softmax + cross-entropy = SoftmaxLayer (float32 outputs to the bit, loss to 1e-13)', { skip }, () => {
  let identical = 0, total = 0, worst = 0;
  for (const [n, k, spread, seed] of [[128, 10, 8, 1], [64, 10, 40, 2], [32, 100, 3, 3], [16, 1000, 20, 4], [200, 2, 1, 5]] as const) {
    let s = seed;
    const rnd = (): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    const input = Float32Array.from({ length: n * k }, () => (rnd() - 0.5) * spread);
    const truth = new Float32Array(n * k);
    for (let b = 0; b < n; b++) truth[b * k + Math.floor(rnd() * k)] = 1;
    const inputDelta = Float32Array.from({ length: n * k }, () => rnd() - 0.5);
    const layer = new SoftmaxLayer(12, { type: 'softmax', source: { file: 'test', line: 1 } }, { c: k, h: 1, w: 1 }, n);
    layer.forward(input, n, { train: true, truth, kernels: getKernels(), seed: 1, iteration: 0 });
    const tsInputDelta = Float32Array.from(inputDelta);
    layer.backward(input, tsInputDelta, n);

    const r = spawnSync(exe, [], { input: [`${n} ${k}`, ...hex(input), ...hex(truth), ...hex(inputDelta)].join(' ') + '\n', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    assert.equal(r.status, 0, r.stderr);
    const [out = '', delta = '', ind = '', cost = ''] = r.stdout.split('\n');
    const nums = (x: string): number[] => x.trim().split(' ').map(Number);
    for (const [c, t] of [[nums(out), bits(layer.output.subarray(0, n * k))], [nums(delta), bits(layer.delta.subarray(0, n * k))], [nums(ind), bits(tsInputDelta)]] as const) {
      assert.equal(c.length, t.length);
      for (let i = 0; i < c.length; i++) {
        const u = ulps(c[i]!, t[i]!);
        worst = Math.max(worst, u);
        if (u === 0) identical++;
        total++;
      }
    }
    const rel = Math.abs(Number(cost) - layer.cost) / Math.abs(layer.cost);
    assert.ok(rel <= 1e-13, `cost ${cost} vs ${layer.cost} (relative ${rel}) for ${n}×${k}`);
  }
  assert.ok(worst <= 1, `a float32 differs by ${worst} ulp`);
  assert.ok(identical >= total * 0.9999, `${identical} of ${total} values identical`);
  process.stderr.write(`optee-ta-softmax: ${identical} of ${total} float32 values bit-identical, worst ${worst} ulp\n`);
});
