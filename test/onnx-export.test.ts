// ONNX export: a layerlock network (Darknet cfg with its own pooling geometry and batch norm, or an
// imported PyTorch model) written as ONNX must compute the engine's outputs. Always checked: the
// export read back by the importer, and --ree-only's output being the activation entering the TEE.
// Checked in a second runtime when this machine has Debian's python3-torch and python3-onnx: the
// file validated by onnx.checker and run with PyTorch ops (scripts/onnx-fixtures.py --check-export;
// onnxruntime-node would download CUDA libraries at npm install, so it is not a dependency).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceKernels } from '../src/kernels/reference.js';
import { parseCfg } from '../src/nn/cfg.js';
import { shapeSize } from '../src/nn/layer.js';
import { Network, isTrainable } from '../src/nn/network.js';
import { Rng } from '../src/nn/rng.js';
import { exportOnnx } from '../src/onnx/export.js';
import { importOnnx } from '../src/onnx/import.js';
import { importedNetwork } from '../src/onnx/model.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/onnx/');

/** VGG-7 as shipped (Darknet max-pool padding 1: 28→14→7→4) plus batch norm on two layers. */
function darknetNet(): Network {
  const text = readFileSync(join(ROOT, 'cfg/vgg7-mnist.cfg'), 'utf8')
    .replace(/\[convolutional\]\n/, '[convolutional]\nbatch_normalize=1\n')
    .replace(/\[connected\]\n/, '[connected]\nbatch_normalize=1\n');
  const config = parseCfg(text, 'vgg7-bn.cfg');
  const net = new Network({ ...config, net: { ...config.net, batch: 4 } }, { kernels: referenceKernels, seed: 3 });
  assert.equal(net.trainableLayers.filter((l) => l.bn !== null).length, 2);
  const rng = new Rng(11);
  for (const l of net.layers) {
    if (!isTrainable(l)) continue;
    for (let i = 0; i < l.biases.length; i++) l.biases[i] = 0.2 * (rng.uniform() - 0.5);
    if (l.bn) {
      for (let i = 0; i < l.biases.length; i++) {
        l.bn.scales[i] = 0.5 + rng.uniform();
        l.bn.rollingMean[i] = rng.uniform() - 0.5;
        l.bn.rollingVariance[i] = 0.5 + 2 * rng.uniform();
      }
    }
  }
  return net;
}

function images(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * 784 }, () => rng.uniform());
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, count: number): number {
  let d = 0;
  for (let i = 0; i < count; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test('a Darknet VGG-7 with batch norm exports to ONNX and reads back with the same outputs', () => {
  const net = darknetNet();
  assert.deepEqual(net.layers.filter((l) => l.type === 'maxpool').map((l) => l.outShape.h), [14, 7, 4]);
  const x = images(4, 1);
  const want = Float32Array.from(net.forward(x, 4, false).subarray(0, 40));
  const r = exportOnnx(net);
  assert.deepEqual(r.outputShape, [10]);
  const back = importOnnx(r.bytes, 'vgg7-bn.onnx');
  // Darknet's odd max-pool padding comes back as Darknet padding, not as an approximation.
  assert.deepEqual(back.config.layers.filter((l) => l.type === 'maxpool').map((l) => l.type === 'maxpool' && l.padding), [1, 1, 1]);
  const got = importedNetwork(back, { kernels: referenceKernels }).forward(x, 4, false);
  assert.ok(maxDiff(got, want, 40) <= 1e-5, `largest difference ${maxDiff(got, want, 40)}`);
});

test('imported PyTorch models export back to ONNX unchanged in what they compute', () => {
  for (const name of ['vgg7-pytorch', 'lenet-pytorch', 'bnmix-pytorch']) {
    const m = importOnnx(readFileSync(FIXTURES + name + '.onnx'), name);
    const net = importedNetwork(m, { kernels: referenceKernels });
    const x = images(3, 2);
    const want = Float32Array.from(net.forward(x, 3, false).subarray(0, 30));
    const again = importedNetwork(importOnnx(exportOnnx(net).bytes, name + '-export'), { kernels: referenceKernels });
    assert.deepEqual([...again.forward(x, 3, false).subarray(0, 30)], [...want], name);
  }
});

test('--ree-only: the exported part ends at the activation entering the TEE', () => {
  const net = darknetNet();
  const x = images(2, 3);
  net.forward(x, 2, false);
  for (const teeStart of [3, 9]) {
    const r = exportOnnx(net, { upTo: teeStart - 1 });
    const entering = net.layers[teeStart - 1]!;
    const expectShape = teeStart === 9 ? [32, 4, 4] : [16, 14, 14];
    assert.deepEqual(r.outputShape, expectShape);
    assert.equal(r.layers[1], teeStart - 1);
    assert.equal(shapeSize(entering.outShape), expectShape.reduce((a, b) => a * b, 1));
  }
});

const python = '/usr/bin/python3';
const havePy = spawnSync(python, ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;

test('exported files pass onnx.checker and run in a second runtime (PyTorch ops) with the same outputs', { skip: havePy ? false : 'needs Debian python3-torch and python3-onnx' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'layerlock-onnx-export-'));
  try {
    const cases: [string, Network, number | undefined][] = [
      ['vgg7-darknet-bn', darknetNet(), undefined],
      ['vgg7-darknet-ree', darknetNet(), 8],
      ['bnmix', importedNetwork(importOnnx(readFileSync(FIXTURES + 'bnmix-pytorch.onnx'), 'bnmix'), { kernels: referenceKernels }), undefined],
    ];
    for (const [name, net, upTo] of cases) {
      const x = images(3, 4);
      net.forward(x, 3, false);
      const last = upTo !== undefined ? net.layers[upTo]! : net.outputLayer;
      const count = 3 * shapeSize(last.outShape);
      const want = last.output.subarray(0, count);
      const r = exportOnnx(net, upTo !== undefined ? { upTo } : {});
      writeFileSync(join(dir, name + '.onnx'), r.bytes);
      writeFileSync(join(dir, name + '.bin'), Buffer.from(x.buffer));
      const run = spawnSync(python, [join(ROOT, 'scripts/onnx-fixtures.py'), '--check-export', join(dir, name + '.onnx'), join(dir, name + '.bin'), '3', '1', '28', '28'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      const out = JSON.parse(run.stdout) as { output: number[]; shape: number[] };
      assert.deepEqual(out.shape, [3, ...r.outputShape]);
      assert.ok(maxDiff(out.output, want, count) <= 1e-5, `${name}: largest difference ${maxDiff(out.output, want, count)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
