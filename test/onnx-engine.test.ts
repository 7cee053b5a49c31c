// The engine additions imported models need, checked on their own: tanh and leaky slopes other than
// Darknet's 0.1, PyTorch's ceil-mode pooling, the local average pool (with and without counted
// padding), and their cfg keys. Darknet cfgs without these keys must mean exactly what they meant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../src/kernels/reference.js';
import { getKernels } from '../src/kernels/index.js';
import { CfgError, parseCfg } from '../src/nn/cfg.js';
import { formatCfg } from '../src/nn/cfg-write.js';
import type { Activation, SourceRef } from '../src/nn/config.js';
import { ConnectedLayer } from '../src/nn/layers/connected.js';
import { LocalAvgpoolLayer } from '../src/nn/layers/local-avgpool.js';
import { MaxpoolLayer, poolOutputSize } from '../src/nn/layers/maxpool.js';
import { Rng } from '../src/nn/rng.js';
import { ctx, gradCheck, linearReadout, randomArray } from './gradcheck.js';

const src: SourceRef = { file: 't.cfg', line: 1 };
const TOL = 2e-2;

for (const [activation, slope] of [['tanh', undefined], ['leaky', 0.01], ['leaky', 0.3]] as [Activation, number | undefined][]) {
  test(`connected gradient with ${activation}${slope !== undefined ? ` slope ${slope}` : ''} matches finite differences`, () => {
    const rng = new Rng(5, activation, String(slope));
    const layer = new ConnectedLayer(0, { type: 'connected', output: 4, activation, ...(slope !== undefined ? { slope } : {}), batchNormalize: false, source: src }, { c: 3, h: 1, w: 1 }, 3);
    layer.initialise(rng);
    layer.biases.set(randomArray(4, rng, 0.3));
    const input = randomArray(9, rng);
    const { loss, seed } = linearReadout(layer, input, 3, rng);
    const r = gradCheck(layer, input, 3, loss, seed, 1e-3);
    assert.ok(r.worst < TOL, r.where);
  });
}

test('leaky with slope 0.1 (or none) is Darknet\'s kernel leaky, bit for bit; other slopes are not', () => {
  const rng = new Rng(6);
  const input = randomArray(4 * 3, rng);
  const out = (slope?: number): number[] => {
    const l = new ConnectedLayer(0, { type: 'connected', output: 5, activation: 'leaky', ...(slope !== undefined ? { slope } : {}), batchNormalize: false, source: src }, { c: 3, h: 1, w: 1 }, 4);
    l.initialise(new Rng(1));
    l.forward(input, 4, { ...ctx(false), kernels: getKernels() });
    return [...l.output];
  };
  assert.deepEqual(out(0.1), out());
  const a = out(0.01);
  const b = out();
  assert.ok(a.some((v, i) => v < 0 && Math.abs(v * 10 - b[i]!) < 1e-5), 'slope 0.01 gives a tenth of the 0.1 negatives');
});

test('ceil-mode pool sizes are PyTorch\'s; without ceil_mode they are Darknet\'s', () => {
  // PyTorch: MaxPool2d(3, 3, ceil_mode=True) on 7 → 3 (floor 2); (2, 2, padding 1, ceil) on 6 → 4;
  // a last window starting in the right padding is dropped: (2, 2, padding 1, ceil) on 5 → 3.
  assert.equal(poolOutputSize(7, 3, 3, 0, true), 3);
  assert.equal(poolOutputSize(7, 3, 3, 0, false), 2);
  assert.equal(poolOutputSize(6, 2, 2, 2, true), 4);
  assert.equal(poolOutputSize(5, 2, 2, 2, true), 3);
  // Darknet's default padding (size-1) and rounding: VGG-7's 28→14→7→4.
  assert.deepEqual([28, 14, 7].map((s) => poolOutputSize(s, 2, 2, 1)), [14, 7, 4]);
});

test('ceil-mode max-pool: the native and reference kernels agree, windows clipped at the border', () => {
  const g = { type: 'maxpool' as const, size: 3, stride: 3, padding: 0, ceilMode: true, source: src };
  const a = new MaxpoolLayer(0, g, { c: 2, h: 7, w: 7 }, 2);
  const b = new MaxpoolLayer(0, g, { c: 2, h: 7, w: 7 }, 2);
  assert.deepEqual([a.outShape.h, a.outShape.w], [3, 3]);
  const input = randomArray(2 * 2 * 49, new Rng(8));
  a.forward(input, 2, { ...ctx(false), kernels: referenceKernels });
  b.forward(input, 2, { ...ctx(false), kernels: getKernels() });
  assert.deepEqual([...a.output], [...b.output]);
  // The last window of each row covers only input column 6.
  assert.equal(a.output[2], Math.max(input[6]!, input[13]!, input[20]!));
});

for (const countIncludePad of [false, true]) {
  for (const ceilMode of [false, true]) {
    test(`local average pool (count_include_pad=${countIncludePad}, ceil=${ceilMode}): values and gradient`, () => {
      const layer = new LocalAvgpoolLayer(0, { type: 'local_avgpool', size: 3, stride: 2, padding: 2, ceilMode, countIncludePad, source: src }, { c: 2, h: 4, w: 5 }, 2);
      // PyTorch AvgPool2d(3, 2, padding=1, ceil_mode) on 4×5: floor 2×3, ceil 3×3.
      assert.deepEqual([layer.outShape.h, layer.outShape.w], ceilMode ? [3, 3] : [2, 3]);
      const input = Float32Array.from({ length: 2 * 2 * 20 }, (_, i) => i + 1);
      layer.forward(input, 2, ctx(false));
      // Top-left window: rows −1..1, columns −1..1 → input (0..1)×(0..1) = 1, 2, 6, 7.
      assert.equal(layer.output[0], Math.fround((1 + 2 + 6 + 7) / (countIncludePad ? 9 : 4)));
      const rng = new Rng(9);
      const x = randomArray(2 * 2 * 20, rng);
      const { loss, seed } = linearReadout(layer, x, 2, rng);
      const r = gradCheck(layer, x, 2, loss, seed);
      assert.ok(r.worst < TOL, r.where);
    });
  }
}

test('cfg keys: tanh, leaky_slope, ceil_mode, [local_avgpool]; misuse names the line', () => {
  const text = [
    '[net]', 'height=9', 'width=9', 'channels=1',
    '[convolutional]', 'filters=2', 'size=3', 'padding=1', 'activation=leaky', 'leaky_slope=0.01',
    '[maxpool]', 'size=3', 'stride=3', 'padding=0', 'ceil_mode=1',
    '[local_avgpool]', 'size=2', 'stride=1', 'padding=2', 'count_include_pad=1',
    '[connected]', 'output=3', 'activation=tanh',
    '[softmax]',
  ].join('\n');
  const c = parseCfg(text, 'x.cfg');
  assert.deepEqual(c.warnings, []);
  const [conv, mp, ap, fc] = c.layers;
  assert.ok(conv?.type === 'convolutional' && conv.slope === 0.01);
  assert.ok(mp?.type === 'maxpool' && mp.ceilMode === true);
  assert.ok(ap?.type === 'local_avgpool' && ap.countIncludePad === true && ap.padding === 2);
  assert.ok(fc?.type === 'connected' && fc.activation === 'tanh');
  // formatCfg writes what parseCfg reads.
  const again = parseCfg(formatCfg(c), 'y.cfg');
  assert.deepEqual(again.layers.map(({ source: _s, ...l }) => l), c.layers.map(({ source: _s, ...l }) => l));
  assert.deepEqual(again.net.height, 9);
  const bad = (body: string, re: RegExp): void => {
    assert.throws(() => parseCfg(`[net]\nheight=9\nwidth=9\nchannels=1\n${body}`, 'b.cfg'), (e: unknown) => e instanceof CfgError && re.test(e.message));
  };
  bad('[convolutional]\nactivation=relu\nleaky_slope=0.2\n', /b\.cfg:7: .*'leaky_slope=0.2' is only used with activation=leaky/);
  bad('[maxpool]\nsize=2\nstride=2\nceil_mode=1\n', /b\.cfg:8: .*'ceil_mode=1' needs an even padding/);
});
