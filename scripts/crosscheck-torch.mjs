// Dumps one training step of layerlock's VGG-7 for scripts/crosscheck-torch.py: the weights, a batch,
// the softmax output and every layer's summed weight/bias gradient. Dropout and the cost layer are
// removed from the cfg so the loss is exactly the summed cross-entropy PyTorch computes.
// Usage: node scripts/crosscheck-torch.mjs <cfg> <out.json> [weights]   (after npm ci; from the repo root)
import { readFileSync, writeFileSync } from 'node:fs';
import { parseCfg, Network, getKernels, loadData, BatchLoader, oneHot, loadWeightsFile } from '../dist/src/index.js';

const [cfgPath, out, weights] = process.argv.slice(2);
const text = readFileSync(cfgPath, 'utf8').replace(/\[dropout\][^[]*/g, '').replace(/\[cost\][^[]*/g, '');
const config = parseCfg(text, cfgPath);
const n = 16;
const net = new Network(config, { kernels: getKernels(), seed: 3, maxBatch: n });
if (weights) await loadWeightsFile(weights, net.weightsLayers());
// Test-set digits, so a trained model still makes mistakes and the gradients are not all tiny.
const data = await loadData('embedded', { trainLimit: 1, testLimit: 200 });
const loader = new BatchLoader(data.test);
const x = new Float32Array(n * net.inputs);
const labels = new Uint8Array(n);
loader.fill(0, n, x, labels);
const truth = new Float32Array(n * 10);
oneHot(labels, n, 10, truth);
const probs = Array.from(net.forward(x, n, true, truth).subarray(0, n * 10));
net.backward(x, n);
const layers = net.trainableLayers.map((l) => ({
  type: l.type,
  shape: l.type === 'convolutional' ? [l.geometry.filters, l.geometry.channels, l.geometry.size, l.geometry.size] : [l.outputs, l.inputs],
  weights: Array.from(l.weights),
  biases: Array.from(l.biases),
  // Darknet convention: updates hold the NEGATIVE gradient of the summed loss.
  weight_grad: Array.from(l.weightUpdates, (v) => -v),
  bias_grad: Array.from(l.biasUpdates, (v) => -v),
}));
writeFileSync(out, JSON.stringify({ n, channels: net.inShape.c, size: net.inShape.h, x: Array.from(x), labels: Array.from(labels), probs, layers, kernels: net.kernels.name }));
console.error(`wrote ${out} (${layers.length} trainable layers, kernels ${net.kernels.name})`);
