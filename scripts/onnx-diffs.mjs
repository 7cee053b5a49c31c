// Prints, per ONNX fixture and kernel backend, the largest difference between layerlock and PyTorch:
// probabilities, and the gradients of one SGD step (what test/onnx-import.test.ts asserts ≤ 1e-5).
// Run after `npm ci` (needs dist/): node scripts/onnx-diffs.mjs
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const root = fileURLToPath(new URL('../', import.meta.url));
const { importOnnx } = await import(root + 'dist/src/onnx/import.js');
const { importedNetwork } = await import(root + 'dist/src/onnx/model.js');
const { referenceKernels } = await import(root + 'dist/src/kernels/reference.js');
const { getKernels } = await import(root + 'dist/src/kernels/index.js');
for (const name of ['vgg7-pytorch', 'lenet-pytorch', 'bnmix-pytorch']) {
  const dir = root + 'test/fixtures/onnx/';
  const exp = JSON.parse(readFileSync(dir + name + '.expected.json', 'utf8'));
  const bin = readFileSync(dir + name + '.bin');
  const d = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const m = importOnnx(readFileSync(dir + name + '.onnx'), name);
  const [n, c, h, w] = exp.input_shape;
  const x = d.subarray(0, n * c * h * w);
  const k = exp.probs[0].length;
  const res = [];
  for (const kernels of [referenceKernels, getKernels()]) {
    const net = importedNetwork(m, { kernels });
    const out = net.forward(x, n, false);
    let p = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) p = Math.max(p, Math.abs(out[i * k + j] - exp.probs[i][j]));
    const truth = new Float32Array(n * k);
    exp.labels.forEach((l, i) => { truth[i * k + l] = 1; });
    net.forward(x, n, true, truth);
    net.backward(x, n);
    let g = 0;
    net.trainableLayers.forEach((l, i) => {
      const e = exp.gradients[i];
      for (let j = 0; j < l.weights.length; j++) g = Math.max(g, Math.abs(-l.weightUpdates[j] - d[e.weights_offset + j]));
      for (let j = 0; j < l.biases.length; j++) g = Math.max(g, Math.abs(-l.biasUpdates[j] - d[e.biases_offset + j]));
    });
    res.push(`${kernels.name}: probabilities ${p.toExponential(1)}, gradients ${g.toExponential(1)}`);
  }
  console.log(`${name} (opset ${m.opset})  ${res.join('  |  ')}`);
}
