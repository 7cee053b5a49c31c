// layerlock → ONNX: a network (or its normal-world part, layers 0..upTo) as an inference graph that
// ONNX Runtime runs, so a device app can keep its runtime for the unprotected layers and hand the
// activation they produce to the TA.
//
// Mapping: convolutional → Conv (+ activation node), with Darknet batch norm folded into the conv
// using Darknet's own normaliser (x − mean) / (sqrt(var) + 1e-6), so the outputs are the engine's;
// connected → (Flatten) Gemm transB=1; maxpool → MaxPool with Darknet's window origin written as
// explicit begin/end pads (pads begin = padding/2, end = the rest), or ceil_mode for imported
// PyTorch pools; local_avgpool → AveragePool; avgpool → GlobalAveragePool; softmax → (Flatten)
// Softmax. Dropout is the identity at inference and the cost layer computes no output, so neither
// appears.
import type { Activation } from '../nn/config.js';
import { BN_EPSILON } from '../nn/batchnorm.js';
import { shapeSize, type Shape } from '../nn/layer.js';
import { DARKNET_LEAKY_SLOPE } from '../nn/activation.js';
import { isTrainable, type Network } from '../nn/network.js';
import { AttributeType, encodeModel, floatTensor, type NodeProto, type TensorProto } from './proto.js';

export const EXPORT_OPSET = 13;

export interface ExportOptions {
  /** Last cfg layer index to include (default: all). --ree-only passes the TEE range's start − 1. */
  upTo?: number;
  producerVersion?: string;
}

export interface ExportedModel {
  bytes: Uint8Array;
  layers: [number, number];
  inputShape: number[];
  /** Output dims without the batch: [C, H, W] for an activation, [F] after a flatten. */
  outputShape: number[];
  nodes: number;
}

export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

const ints = (name: string, v: readonly number[]) => ({ name, type: AttributeType.INTS, ints: [...v] });
const int = (name: string, v: number) => ({ name, type: AttributeType.INT, i: v });
const float = (name: string, v: number) => ({ name, type: AttributeType.FLOAT, f: v });

export function exportOnnx(net: Network, opts: ExportOptions = {}): ExportedModel {
  if (net.first !== 0) throw new OnnxExportError('export needs the network from its first layer');
  const last = opts.upTo ?? net.layers[net.layers.length - 1]!.index;
  if (!(last >= 0 && last < net.layers.length)) throw new OnnxExportError(`there is no layer ${last} to export up to (the network has layers 0:${net.layers.length - 1})`);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let cur = 'input';
  let flat = false;
  let shape: Shape = net.inShape;
  let counter = 0;
  const add = (op: string, inputs: string[], attribute: NodeProto['attribute'] = [], name?: string): string => {
    const out = `${name ?? op.toLowerCase()}_${counter++}`;
    nodes.push({ name: out, opType: op, input: inputs, output: [out], attribute });
    cur = out;
    return out;
  };
  const flatten = (): void => {
    if (!flat) add('Flatten', [cur], [int('axis', 1)]);
    flat = true;
  };
  const activation = (a: Activation, slope: number | undefined): void => {
    switch (a) {
      case 'linear': return;
      case 'relu': add('Relu', [cur]); return;
      case 'leaky': add('LeakyRelu', [cur], [float('alpha', slope ?? DARKNET_LEAKY_SLOPE)]); return;
      case 'logistic': add('Sigmoid', [cur]); return;
      case 'tanh': add('Tanh', [cur]); return;
    }
  };

  for (const l of net.layers) {
    if (l.index > last) break;
    const tag = `l${l.index}`;
    const lc = l.config;
    switch (lc.type) {
      case 'convolutional':
      case 'connected': {
        if (!isTrainable(l)) throw new OnnxExportError(`internal: layer ${l.index} is not a trainable layer`);
        const outputs = lc.type === 'convolutional' ? lc.filters : lc.output;
        const w = Float32Array.from(l.weights);
        const b = Float32Array.from(l.biases);
        if (l.bn) {
          // Darknet: y = scale · (x − mean) / (sqrt(var) + ε) + bias, folded into the layer.
          const per = w.length / outputs;
          for (let c = 0; c < outputs; c++) {
            const k = l.bn.scales[c]! / (Math.sqrt(l.bn.rollingVariance[c]!) + BN_EPSILON);
            for (let j = 0; j < per; j++) w[c * per + j] = w[c * per + j]! * k;
            b[c] = b[c]! - l.bn.rollingMean[c]! * k;
          }
        }
        if (lc.type === 'convolutional') {
          if (flat) throw new OnnxExportError(`layer ${l.index} (convolutional) follows a flattened layer, which ONNX cannot express without a reshape`);
          const { size, stride, padding } = lc;
          inits.push(floatTensor(`${tag}.weight`, [outputs, l.inShape.c, size, size], w), floatTensor(`${tag}.bias`, [outputs], b));
          add('Conv', [cur, `${tag}.weight`, `${tag}.bias`], [
            ints('kernel_shape', [size, size]), ints('strides', [stride, stride]), ints('pads', [padding, padding, padding, padding]),
            ints('dilations', [1, 1]), int('group', 1),
          ], tag + '_conv');
        } else {
          flatten();
          inits.push(floatTensor(`${tag}.weight`, [outputs, shapeSize(l.inShape)], w), floatTensor(`${tag}.bias`, [outputs], b));
          add('Gemm', [cur, `${tag}.weight`, `${tag}.bias`], [int('transB', 1)], tag + '_gemm');
        }
        activation(lc.activation, lc.slope);
        break;
      }
      case 'maxpool':
      case 'local_avgpool': {
        if (flat) throw new OnnxExportError(`layer ${l.index} (${l.type}) follows a flattened layer`);
        const { size, stride, padding, ceilMode } = lc;
        const begin = Math.trunc(padding / 2);
        const end = ceilMode ? begin : padding - begin;
        const attrs = [
          ints('kernel_shape', [size, size]), ints('strides', [stride, stride]), ints('pads', [begin, begin, end, end]),
          int('ceil_mode', ceilMode ? 1 : 0),
        ];
        if (lc.type === 'maxpool') add('MaxPool', [cur], attrs, tag + '_maxpool');
        else add('AveragePool', [cur], [...attrs, int('count_include_pad', lc.countIncludePad ? 1 : 0)], tag + '_avgpool');
        break;
      }
      case 'avgpool':
        if (flat) throw new OnnxExportError(`layer ${l.index} (avgpool) follows a flattened layer`);
        add('GlobalAveragePool', [cur], [], tag + '_gap');
        break;
      case 'softmax':
        flatten();
        add('Softmax', [cur], [int('axis', 1)], tag + '_softmax');
        break;
      case 'dropout':
      case 'cost':
        break;
    }
    shape = l.outShape;
  }
  // A graph whose last layers were all identities at inference still needs a node for its output.
  if (nodes.length === 0) add('Identity', [cur]);
  const outputShape = flat ? [shapeSize(shape)] : [shape.c, shape.h, shape.w];
  const dims = (d: readonly number[]) => ({ dim: [{ dimParam: 'N' }, ...d.map((v) => ({ dimValue: v }))] });
  const tensorType = (d: readonly number[]) => ({ tensorType: { elemType: 1, shape: dims(d) } });
  // The graph's output gets the stable name 'output'.
  nodes[nodes.length - 1]!.output = ['output'];
  const bytes = encodeModel({
    irVersion: 7,
    opsetImport: [{ domain: '', version: EXPORT_OPSET }],
    producerName: 'layerlock',
    producerVersion: opts.producerVersion ?? '',
    graph: {
      name: 'layerlock',
      node: nodes,
      initializer: inits,
      input: [{ name: 'input', type: tensorType([net.inShape.c, net.inShape.h, net.inShape.w]) }],
      output: [{ name: 'output', type: tensorType(outputShape) }],
    },
  });
  return { bytes, layers: [0, last], inputShape: [net.inShape.c, net.inShape.h, net.inShape.w], outputShape, nodes: nodes.length };
}
