// ONNX import against PyTorch: the fixtures in test/fixtures/onnx were made by
// scripts/onnx-fixtures.py (torch.onnx.export of VGG-7 with PyTorch's floor pooling, a LeNet with
// tanh/sigmoid/Softmax, and a model with batch norm, leaky ReLU, average and ceil-mode pooling and
// MatMul+Add). layerlock's probabilities must equal PyTorch's within 1e-5 and one SGD step's
// gradients must agree; hand-built graphs check that unsupported models are refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { referenceKernels } from '../src/kernels/reference.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { decodeWeights } from '../src/nn/weights.js';
import { Network } from '../src/nn/network.js';
import { importOnnx, OnnxImportError } from '../src/onnx/import.js';
import { importedFiles, importedNetwork } from '../src/onnx/model.js';
import { encodeModel, floatTensor, int64Tensor, onnx } from '../src/onnx/proto.js';
import type { ConnectedLayer } from '../src/nn/layers/connected.js';
import type { ConvolutionalLayer } from '../src/nn/layers/convolutional.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/onnx/', import.meta.url));

interface Expected {
  input_shape: [number, number, number, number];
  labels: number[];
  probs: number[][];
  loss_sum: number;
  gradients: { layer: number; weights_shape: number[]; weights_offset: number; biases_offset: number; count: number }[];
}

function fixture(name: string): { bytes: Uint8Array; exp: Expected; data: Float32Array } {
  const bytes = readFileSync(FIXTURES + name + '.onnx');
  const exp = JSON.parse(readFileSync(FIXTURES + name + '.expected.json', 'utf8')) as Expected;
  const bin = readFileSync(FIXTURES + name + '.bin');
  const data = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  return { bytes, exp, data };
}

const MODELS = ['vgg7-pytorch', 'lenet-pytorch', 'bnmix-pytorch'];

for (const name of MODELS) {
  for (const kernels of [referenceKernels, getKernels()]) {
    test(`${name}: probabilities equal PyTorch's within 1e-5 (${kernels.name})`, () => {
      const { bytes, exp, data } = fixture(name);
      const m = importOnnx(bytes, name + '.onnx');
      const net = importedNetwork(m, { kernels });
      const [n, c, h, w] = exp.input_shape;
      const out = net.forward(data.subarray(0, n * c * h * w), n, false);
      const k = exp.probs[0]!.length;
      assert.equal(net.outputs, k);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < k; j++) {
          assert.ok(Math.abs(out[i * k + j]! - exp.probs[i]![j]!) <= 1e-5, `${name} image ${i} class ${j}: ${out[i * k + j]} vs ${exp.probs[i]![j]}`);
        }
      }
    });
  }

  test(`${name}: one SGD step's gradients and update agree with PyTorch`, () => {
    const { bytes, exp, data } = fixture(name);
    const m = importOnnx(bytes, name + '.onnx');
    const lr = 0.05;
    // One plain SGD step (no momentum, no decay) so the update is PyTorch's optimiser.SGD(lr).
    const config = { ...m.config, net: { ...m.config.net, learningRate: lr, momentum: 0, decay: 0 } };
    const net = importedNetwork(m, { kernels: referenceKernels, config });
    const [n, c, h, w] = exp.input_shape;
    const k = exp.probs[0]!.length;
    const truth = new Float32Array(n * k);
    exp.labels.forEach((l, i) => { truth[i * k + l] = 1; });
    net.forward(data.subarray(0, n * c * h * w), n, true, truth);
    assert.ok(Math.abs(net.lastCost() - exp.loss_sum) < 1e-4 * exp.loss_sum, `loss ${net.lastCost()} vs ${exp.loss_sum}`);
    net.backward(data.subarray(0, n * c * h * w), n);
    const trainable = net.trainableLayers as (ConvolutionalLayer | ConnectedLayer)[];
    assert.equal(trainable.length, exp.gradients.length);
    const before = trainable.map((l) => Float32Array.from(l.weights));
    trainable.forEach((l, i) => {
      const g = exp.gradients[i]!;
      const gw = data.subarray(g.weights_offset, g.weights_offset + l.weights.length);
      const gb = data.subarray(g.biases_offset, g.biases_offset + g.count);
      assert.equal(gw.length, g.weights_shape.reduce((a, b) => a * b, 1));
      const scale = Math.max(...gw.map(Math.abs), ...gb.map(Math.abs));
      let worst = 0;
      // layerlock accumulates the negative gradient of the summed loss (Darknet's convention).
      for (let j = 0; j < gw.length; j++) worst = Math.max(worst, Math.abs(-l.weightUpdates[j]! - gw[j]!));
      for (let j = 0; j < gb.length; j++) worst = Math.max(worst, Math.abs(-l.biasUpdates[j]! - gb[j]!));
      assert.ok(worst <= 1e-5 * Math.max(1, scale), `${name} layer ${l.index}: worst gradient difference ${worst} (largest gradient ${scale})`);
    });
    net.update(n);
    trainable.forEach((l, i) => {
      const g = exp.gradients[i]!;
      for (let j = 0; j < l.weights.length; j += 7) {
        const want = before[i]![j]! - (lr / n) * data[g.weights_offset + j]!;
        assert.ok(Math.abs(l.weights[j]! - want) <= 1e-6, `${name} layer ${l.index} weight ${j} after the step: ${l.weights[j]} vs ${want}`);
      }
    });
  });
}

test('VGG-7 as PyTorch defines it pools with floor rounding: 28→14→7→3, FC sees 3×3×32', () => {
  const m = importOnnx(fixture('vgg7-pytorch').bytes, 'vgg7.onnx');
  const net = new Network(m.config, { kernels: referenceKernels, seed: 1 });
  const pools = net.layers.filter((l) => l.type === 'maxpool').map((l) => l.outShape.h);
  assert.deepEqual(pools, [14, 7, 3]);
  assert.equal(net.layers.find((l) => l.type === 'connected')!.inShape.c * 9, 288);
  assert.deepEqual(net.trainableLayers.map((l) => l.type), ['convolutional', 'convolutional', 'convolutional', 'convolutional', 'convolutional', 'convolutional', 'connected', 'connected']);
});

test('the imported model written as Darknet .cfg + .weights reads back to the same network', () => {
  for (const name of MODELS) {
    const { bytes, exp, data } = fixture(name);
    const m = importOnnx(bytes, name + '.onnx');
    const files = importedFiles(m, name + '.onnx');
    const config = parseCfg(files.cfg, name + '.cfg');
    assert.deepEqual(config.warnings, []);
    const strip = (c: typeof config): unknown => c.layers.map(({ source: _s, ...rest }) => rest);
    assert.deepEqual(strip(config), strip(m.config));
    const net = new Network(config, { kernels: referenceKernels, seed: 1 });
    decodeWeights(files.weights, net.weightsLayers(), name + '.weights');
    const direct = importedNetwork(m, { kernels: referenceKernels });
    const [n, c, h, w] = exp.input_shape;
    const x = data.subarray(0, n * c * h * w);
    assert.deepEqual([...net.forward(x, n, false).subarray(0, n * 10)], [...direct.forward(x, n, false).subarray(0, n * 10)]);
  }
});

test('the bnmix model uses leaky slopes 0.01 (as a layerlock key) and 0.1 (Darknet\'s), ceil and padded average pooling', () => {
  const m = importOnnx(fixture('bnmix-pytorch').bytes, 'bnmix.onnx');
  const layers = m.config.layers;
  const convs = layers.filter((l) => l.type === 'convolutional');
  assert.deepEqual(convs.map((l) => [l.activation, l.slope]), [['leaky', Math.fround(0.01)], ['leaky', undefined]]);
  const pools = layers.filter((l) => l.type === 'maxpool' || l.type === 'local_avgpool');
  assert.deepEqual(pools.map((l) => [l.type, l.padding, l.ceilMode ?? false]), [['local_avgpool', 0, false], ['maxpool', 1, false], ['local_avgpool', 2, true]]);
  assert.equal(pools[2]!.type === 'local_avgpool' && pools[2]!.countIncludePad, true);
});

// ---- hand-built graphs: what is refused, and how --------------------------------------------

const FLOAT_ATTRS = ['alpha', 'beta', 'epsilon'];

type Node = { op: string; inputs: string[]; output: string; attrs?: Record<string, number | number[]>; name?: string };

function build(nodes: Node[], opts: { opset?: number; inits?: Record<string, { dims: number[]; data?: Float32Array }>; input?: number[]; output?: string } = {}): Uint8Array {
  const shape = opts.input ?? [1, 1, 8, 8];
  const initializer = Object.entries(opts.inits ?? {}).map(([name, t]) => {
    const count = t.dims.reduce((a, b) => a * b, 1);
    return floatTensor(name, t.dims, t.data ?? Float32Array.from({ length: count }, (_, i) => Math.sin(i + 1) * 0.3));
  });
  const node = nodes.map((n, i) => ({
    name: n.name ?? `n${i}`, opType: n.op, input: n.inputs, output: [n.output],
    attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => (Array.isArray(v)
      ? { name: k, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
      : Number.isInteger(v) && !FLOAT_ATTRS.includes(k) ? { name: k, type: onnx.AttributeProto.AttributeType.INT, i: v } : { name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v })),
  }));
  const tensorType = (dims: number[]) => ({ tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } });
  return encodeModel({
    irVersion: 8, opsetImport: [{ domain: '', version: opts.opset ?? 13 }], producerName: 'test',
    graph: {
      name: 'g', node, initializer,
      input: [{ name: 'x', type: tensorType(shape) }],
      output: [{ name: opts.output ?? nodes[nodes.length - 1]!.output, type: tensorType([1]) }],
    },
  });
}

const CONV = { w: { dims: [2, 1, 3, 3] }, b: { dims: [2] } };

function refused(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => importOnnx(bytes, 'm.onnx'), (e: unknown) => {
    assert.ok(e instanceof OnnxImportError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

test('a residual Add is refused naming the node, its operator and why', () => {
  const bytes = build([
    { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c1', attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c1'], output: 'r1' },
    { op: 'Conv', inputs: ['r1', 'w2', 'b'], output: 'c2', attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Add', inputs: ['c2', 'r1'], output: 'y', name: 'res_add' },
  ], { inits: { ...CONV, w2: { dims: [2, 2, 3, 3] } } });
  refused(bytes, /node 'r1'|node 'res_add' \(Add\): .*(residual|branch)|node 'n2' \(Conv\): .*branch/);
});

test('Concat, grouped convolution, unknown operators, asymmetric pads, non-square kernels and old opsets are refused', () => {
  refused(build([
    { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c1' },
    { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c2' },
    { op: 'Concat', inputs: ['c1', 'c2'], output: 'y', attrs: { axis: 1 } },
  ], { inits: CONV }), /node 'n0' \(Conv\): .*branch/);
  refused(build([{ op: 'Conv', inputs: ['x', 'w', 'b'], output: 'y', attrs: { group: 2 } }], { inits: { w: { dims: [2, 1, 3, 3] }, b: { dims: [2] } }, input: [1, 2, 8, 8] }),
    /node 'n0' \(Conv\): group=2: grouped/);
  refused(build([{ op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c' }, { op: 'Elu', inputs: ['c'], output: 'y', name: 'act' }], { inits: CONV }),
    /node 'act' \(Elu\): operator Elu is not supported/);
  refused(build([{ op: 'Conv', inputs: ['x', 'w', 'b'], output: 'y', attrs: { pads: [0, 0, 1, 1] } }], { inits: CONV }),
    /node 'n0' \(Conv\): its pads \[0, 0, 1, 1\] are not the same on all four sides/);
  refused(build([{ op: 'Conv', inputs: ['x', 'w', 'b'], output: 'y' }], { inits: { w: { dims: [2, 1, 3, 1] }, b: { dims: [2] } } }),
    /kernel 3×1 is not square/);
  refused(build([{ op: 'Conv', inputs: ['x', 'w', 'b'], output: 'y' }], { inits: CONV, opset: 10 }), /opset 10 is not supported \(layerlock imports opsets 11–18/);
  refused(build([{ op: 'MaxPool', inputs: ['x'], output: 'p', attrs: { kernel_shape: [2, 2], strides: [2, 2] } }, { op: 'Relu', inputs: ['p'], output: 'y', name: 'lonely' }]),
    /node 'lonely' \(Relu\): .*does not directly follow a Conv/);
  refused(build([{ op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c', attrs: { pads: [1, 1, 1, 1] } }, { op: 'Reshape', inputs: ['c', 'shape'], output: 'y', name: 'rs' }], { inits: CONV }),
    /node 'rs' \(Reshape\): input 'shape' is neither a constant/);
});

test('auto_pad SAME, Gemm with transB=0 and alpha/beta, Identity and Reshape to [-1, F] import exactly', () => {
  const inits = {
    w: { dims: [2, 1, 3, 3] }, b: { dims: [2] },
    B: { dims: [128, 3] }, C: { dims: [3] },
  };
  const bytes = build([
    { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c', name: 'conv' },
    { op: 'Identity', inputs: ['c'], output: 'i' },
    { op: 'Relu', inputs: ['i'], output: 'r' },
    { op: 'Reshape', inputs: ['r', 'shape'], output: 'f' },
    { op: 'Gemm', inputs: ['f', 'B', 'C'], output: 'y', attrs: { alpha: 0.5, beta: 2.0 } },
  ], { inits });
  // Patch in auto_pad (a string attribute) and the int64 Reshape target.
  const model = onnx.ModelProto.decode(bytes);
  model.graph!.node![0]!.attribute!.push(onnx.AttributeProto.create({ name: 'auto_pad', type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from('SAME_UPPER') }));
  model.graph!.initializer!.push(onnx.TensorProto.create(int64Tensor('shape', [-1, 128])));
  const m = importOnnx(encodeModel(model), 'm.onnx');
  const conv = m.config.layers[0]!;
  // 8×8, 3×3 stride 1, SAME: total padding 7·1 + 3 − 8 = 2, one pixel each side.
  assert.ok(conv.type === 'convolutional');
  assert.equal(conv.padding, 1);
  assert.equal(conv.activation, 'relu');
  const fc = m.weights[1]!;
  const B = Float32Array.from({ length: 384 }, (_, i) => Math.sin(i + 1) * 0.3);
  const C = Float32Array.from({ length: 3 }, (_, i) => Math.sin(i + 1) * 0.3);
  for (let o = 0; o < 3; o++) {
    for (let i = 0; i < 128; i++) assert.equal(fc.weights[o * 128 + i], Math.fround(0.5 * Math.fround(B[i * 3 + o]!)));
    assert.equal(fc.biases[o], Math.fround(2 * Math.fround(C[o]!)));
  }
  // With stride 2 SAME needs 1 pixel of padding, on one side only: refused with the reason.
  model.graph!.node![0]!.attribute!.push(onnx.AttributeProto.create({ name: 'strides', type: onnx.AttributeProto.AttributeType.INTS, ints: [2, 2] }));
  refused(encodeModel(model), /node 'conv' \(Conv\): auto_pad=SAME_UPPER needs padding 1×1 split unevenly/);
});

test('opsets 11 to 18 import the same network; opset 19 is refused', () => {
  const nodes: Node[] = [
    { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c', attrs: { pads: [1, 1, 1, 1] } },
    { op: 'LeakyRelu', inputs: ['c'], output: 'r', attrs: { alpha: 0.2 } },
    { op: 'MaxPool', inputs: ['r'], output: 'p', attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 } },
    { op: 'Flatten', inputs: ['p'], output: 'f' },
    { op: 'Gemm', inputs: ['f', 'B', 'C'], output: 'g', attrs: { transB: 1 } },
    { op: 'Softmax', inputs: ['g'], output: 'y', attrs: { axis: 1 } },
  ];
  const inits = { ...CONV, B: { dims: [3, 32] }, C: { dims: [3] } };
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i));
  const outs = [11, 12, 13, 14, 15, 16, 17, 18].map((opset) => {
    const m = importOnnx(build(nodes, { opset, inits }), `m${opset}.onnx`);
    return [...importedNetwork(m, { kernels: referenceKernels }).forward(x, 1, false).subarray(0, 3)];
  });
  for (const o of outs) assert.deepEqual(o, outs[0]);
  refused(build(nodes, { opset: 19, inits }), /opset 19 is not supported/);
});

test('an activation after a max-pool (F.relu(F.max_pool2d(conv(x), 2))) moves into the conv, same outputs and gradients', () => {
  const inits = { ...CONV, B: { dims: [3, 32] }, C: { dims: [3] } };
  const tail: Node[] = [
    { op: 'Flatten', inputs: ['a'], output: 'f' },
    { op: 'Gemm', inputs: ['f', 'B', 'C'], output: 'y', attrs: { transB: 1 } },
  ];
  for (const op of ['Relu', 'Sigmoid']) {
    const after = importOnnx(build([
      { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c', attrs: { pads: [1, 1, 1, 1] } },
      { op: 'MaxPool', inputs: ['c'], output: 'p', attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op, inputs: ['p'], output: 'a' }, ...tail,
    ], { inits }), 'after.onnx');
    const before = importOnnx(build([
      { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c', attrs: { pads: [1, 1, 1, 1] } },
      { op, inputs: ['c'], output: 'r' },
      { op: 'MaxPool', inputs: ['r'], output: 'a', attrs: { kernel_shape: [2, 2], strides: [2, 2] } }, ...tail,
    ], { inits }), 'before.onnx');
    const strip = (m: typeof after): unknown => m.config.layers.map(({ source: _s, ...l }) => l);
    assert.deepEqual(strip(after), strip(before));
    const x = Float32Array.from({ length: 128 }, (_, i) => Math.cos(i * 0.7));
    const nets = [after, before].map((m) => importedNetwork(m, { kernels: referenceKernels }));
    const truth = Float32Array.from([0, 1, 0, 1, 0, 0]);
    const outs = nets.map((n) => { n.forward(x, 2, true, truth); n.backward(x, 2); return [...(n.trainableLayers[0] as ConvolutionalLayer).weightUpdates]; });
    assert.deepEqual(outs[0], outs[1]);
  }
  // Not through anything else: an activation after an average pool still has nothing to join.
  refused(build([
    { op: 'Conv', inputs: ['x', 'w', 'b'], output: 'c' },
    { op: 'AveragePool', inputs: ['c'], output: 'p', attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
    { op: 'Relu', inputs: ['p'], output: 'y', name: 'late' },
  ], { inits: CONV }), /node 'late' \(Relu\): .*does not directly follow/);
});
