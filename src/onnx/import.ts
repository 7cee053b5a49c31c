// ONNX → layerlock: a sequential CNN exported from PyTorch, TensorFlow, … becomes a NetworkConfig
// (the same plain data a Darknet .cfg parses into) plus the parameters of its trainable layers.
//
// How the graph maps onto Darknet's layer list:
//   - Conv / Gemm / MatMul(+Add) start a trainable layer; BatchNormalization right after one is folded
//     into its weights and biases (inference-exact), and an activation right after it becomes the
//     layer's activation (Darknet fuses them the same way). BN folding means a later training run
//     trains the folded layer, which is what Darknet does for a model without batch_normalize.
//   - MaxPool / AveragePool keep their exact geometry: explicit or automatic pads, PyTorch's floor
//     rounding, or ceil_mode (the engine's ceil mode; Darknet's padding when it gives the same sizes).
//   - Flatten and Reshape to [batch, C·H·W] are no-ops: Darknet's connected layer reads the CHW
//     order a Flatten produces. Shape/Gather/Unsqueeze/Concat/Constant chains that only compute a
//     Reshape target (what a dynamic-batch export writes for x.view(x.size(0), -1)) are evaluated.
//   - A model that ends in logits gets a softmax appended: layerlock trains with softmax +
//     cross-entropy, and its predictions are probabilities.
// Everything else is refused with the node's name, its operator and why: an unsupported node always
// changes the network, so importing "most of it" would compute something else silently.
import type { Activation, LayerConfig, NetOptions, NetworkConfig, SourceRef } from '../nn/config.js';
import { poolOutputSize } from '../nn/layers/maxpool.js';
import type { WeightsLayer } from '../nn/weights.js';
import {
  decodeModel, floatValues, intValues, tensorDims, toNumber,
  type AttributeProto, type ModelProto, type NodeProto, type TensorProto,
} from './proto.js';

export const MIN_OPSET = 11;
export const MAX_OPSET = 18;

/** The operators the importer understands, for docs and error messages. */
export const SUPPORTED_OPS = [
  'Conv', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
  'BatchNormalization', 'Flatten', 'Reshape', 'Gemm', 'MatMul', 'Add', 'Dropout', 'Softmax', 'Identity', 'Pad',
  'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Constant',
] as const;

/** An ONNX model layerlock cannot import; names the node, its operator and why when one is to blame. */
export class OnnxImportError extends Error {
  constructor(readonly file: string, readonly node: string | null, readonly op: string | null, why: string) {
    super(node !== null ? `${file}: node '${node}' (${op}): ${why}` : `${file}: ${why}`);
    this.name = 'OnnxImportError';
  }
}

export interface ImportOptions {
  /** Training settings the ONNX file does not carry; defaults are the shipped VGG-7 cfg's. */
  batch?: number;
  learningRate?: number;
  momentum?: number;
  decay?: number;
}

export interface ImportedModel {
  config: NetworkConfig;
  /** Parameters of the trainable layers in network order, ready for encodeWeights. */
  weights: WeightsLayer[];
  /** What the import decided that a user should know (softmax appended, dropout dropped, …). */
  notes: string[];
  opset: number;
  producer: string;
}

type Tensor =
  | { kind: 'chw'; c: number; h: number; w: number }
  | { kind: 'flat'; n: number };

/** Stands for the (unknown) batch size inside evaluated shape computations. */
const BATCH = -0x7ffffff;

interface Pending {
  layer: LayerConfig & { type: 'convolutional' | 'connected' };
  weights: Float32Array;
  biases: Float32Array;
  /** The output tensor name; BN/activation/Add may fold in only when they consume it. */
  output: string;
  hasBn: boolean;
}

function attrs(node: NodeProto): Map<string, AttributeProto> {
  const m = new Map<string, AttributeProto>();
  for (const a of node.attribute ?? []) m.set(a.name ?? '', a);
  return m;
}

class Importer {
  private readonly constants = new Map<string, TensorProto>();
  /** Evaluated integer tensors of shape sub-graphs. */
  private readonly ints = new Map<string, number[]>();
  private readonly main = new Map<string, Tensor>();
  private readonly consumers = new Map<string, number>();
  private readonly layers: LayerConfig[] = [];
  private readonly params: WeightsLayer[] = [];
  private pending: Pending | null = null;
  readonly notes: string[] = [];
  private node: NodeProto = {};
  private source: SourceRef;
  private graphOutput = '';
  private ended = false;

  constructor(private readonly file: string, private readonly model: ModelProto, readonly opset: number) {
    this.source = { file, line: 0 };
  }

  private fail(why: string): never {
    throw new OnnxImportError(this.file, this.node.name || `#${this.nodeIndex}`, this.node.opType ?? '?', why);
  }

  private nodeIndex = 0;

  run(): { layers: LayerConfig[]; input: { c: number; h: number; w: number } } {
    const g = this.model.graph;
    if (!g) throw new OnnxImportError(this.file, null, null, 'the model has no graph');
    for (const t of g.initializer ?? []) this.constants.set(t.name ?? '', t);
    if ((g.sparseInitializer ?? []).length > 0) throw new OnnxImportError(this.file, null, null, 'sparse initializers are not supported');
    const inputs = (g.input ?? []).filter((i) => !this.constants.has(i.name ?? ''));
    if (inputs.length !== 1) {
      throw new OnnxImportError(this.file, null, null, `the graph has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); layerlock imports models with one image input`);
    }
    const input = inputs[0]!;
    const tt = input.type?.tensorType;
    if (!tt || tt.elemType !== 1) throw new OnnxImportError(this.file, null, null, `input '${input.name}' is not a float32 tensor; layerlock imports float32 NCHW models`);
    const dims = (tt.shape?.dim ?? []).map((d) => (d.dimValue !== null && d.dimValue !== undefined ? toNumber(d.dimValue) : -1));
    if (dims.length !== 4 || dims.slice(1).some((d) => !(d > 0))) {
      throw new OnnxImportError(this.file, null, null, `input '${input.name}' has shape [${dims.map((d) => (d < 0 ? '?' : d)).join(', ')}]; layerlock needs N×C×H×W with C, H and W fixed`);
    }
    const inShape = { c: dims[1]!, h: dims[2]!, w: dims[3]! };
    this.main.set(input.name ?? '', { kind: 'chw', ...inShape });
    const outputs = g.output ?? [];
    if (outputs.length !== 1) throw new OnnxImportError(this.file, null, null, `the graph has ${outputs.length} outputs; layerlock imports models with one output`);
    this.graphOutput = outputs[0]!.name ?? '';
    for (const n of g.node ?? []) for (const i of n.input ?? []) if (i) this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
    (g.node ?? []).forEach((n, i) => {
      this.node = n;
      this.nodeIndex = i;
      this.source = { file: this.file, line: i + 1 };
      this.visit(n);
    });
    this.flush();
    if (!this.main.has(this.graphOutput)) {
      throw new OnnxImportError(this.file, null, null, `the graph output '${this.graphOutput}' is not computed by the image path of the graph`);
    }
    if (this.layers.length === 0) throw new OnnxImportError(this.file, null, null, 'the model has no layers layerlock can run');
    const last = this.layers[this.layers.length - 1]!;
    if (last.type !== 'softmax') {
      this.layers.push({ type: 'softmax', source: { file: this.file, line: 0 } });
      this.notes.push('the model outputs scores without a Softmax; layerlock appended a [softmax] layer (its loss is softmax cross-entropy, its predictions probabilities)');
    }
    return { layers: this.layers, input: inShape };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private ins(): string[] {
    return this.node.input ?? [];
  }

  private out(): string {
    return (this.node.output ?? [])[0] ?? '';
  }

  /** The image-path input (exactly one), and the node's other inputs. */
  private mainInput(): { name: string; t: Tensor } {
    const found = this.ins().filter((i) => this.main.has(i));
    if (found.length > 1) {
      this.fail(`it combines ${found.length} activations (${found.join(', ')}): a residual or multi-branch connection; layerlock runs sequential networks only`);
    }
    const name = found[0];
    if (name === undefined) this.fail('none of its inputs comes from the image path of the graph');
    if ((this.consumers.get(name) ?? 0) > 1 || name === this.graphOutput) {
      this.fail(`its input '${name}' is also used elsewhere in the graph (a branch); layerlock runs sequential networks only`);
    }
    if (this.ended) this.fail('it comes after the Softmax; layerlock needs the Softmax to be the last layer');
    return { name, t: this.main.get(name)! };
  }

  private constant(name: string | undefined, what: string): TensorProto {
    const t = name ? this.constants.get(name) : undefined;
    if (!t) this.fail(`its ${what} '${name ?? ''}' is not a constant (an initializer or Constant node); layerlock needs fixed weights`);
    return t;
  }

  private floats(name: string | undefined, what: string): { dims: number[]; data: Float32Array } {
    const t = this.constant(name, what);
    try {
      return { dims: tensorDims(t), data: floatValues(t, `its ${what} '${name}'`) };
    } catch (e) {
      this.fail((e as Error).message);
    }
  }

  private intAttr(a: Map<string, AttributeProto>, key: string, def: number): number {
    const v = a.get(key);
    return v ? toNumber(v.i) : def;
  }

  private intsAttr(a: Map<string, AttributeProto>, key: string): number[] | null {
    const v = a.get(key);
    return v ? (v.ints ?? []).map(toNumber) : null;
  }

  private floatAttr(a: Map<string, AttributeProto>, key: string, def: number): number {
    const v = a.get(key);
    return v ? (v.f ?? 0) : def;
  }

  private strAttr(a: Map<string, AttributeProto>, key: string, def: string): string {
    const v = a.get(key);
    return v?.s ? Buffer.from(v.s).toString('utf8') : def;
  }

  /** Rejects attributes the importer does not know, so none is silently ignored. */
  private known(a: Map<string, AttributeProto>, keys: readonly string[]): void {
    for (const k of a.keys()) if (!keys.includes(k)) this.fail(`attribute '${k}' is not supported`);
  }

  private setMain(t: Tensor): void {
    this.main.set(this.out(), t);
  }

  private push(layer: LayerConfig): void {
    this.flush();
    this.layers.push(layer);
  }

  /** Emits the pending trainable layer (after BN/activation/bias folding had their chance). */
  private flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.layers.push(p.layer);
    this.params.push({
      index: this.layers.length - 1, type: p.layer.type, batchNormalize: false,
      biases: p.biases, weights: p.weights, scales: null, rollingMean: null, rollingVariance: null,
    });
  }

  get weights(): WeightsLayer[] {
    return this.params;
  }

  /** The pending trainable layer if this node's image input is its output and nothing else reads it. */
  private foldTarget(input: string): Pending | null {
    const p = this.pending;
    return p && p.output === input ? p : null;
  }

  private spatialPads(pads: number[] | null, what: string): number {
    if (!pads) return 0;
    if (pads.length !== 4) this.fail(`${what} has ${pads.length} pads; layerlock handles 2-D images (4 pads)`);
    const [t, l, b, r] = pads as [number, number, number, number];
    if (!(t === b && l === r && t === l)) {
      this.fail(`${what} pads [${pads.join(', ')}] are not the same on all four sides; layerlock's layers pad symmetrically`);
    }
    return t;
  }

  /** Pads of auto_pad SAME_UPPER/SAME_LOWER/VALID for a square window on an H×W input. */
  private autoPads(a: Map<string, AttributeProto>, t: Tensor & { kind: 'chw' }, k: number, s: number): number | null {
    const mode = this.strAttr(a, 'auto_pad', 'NOTSET');
    if (mode === 'NOTSET') return null;
    if (mode === 'VALID') return 0;
    if (mode !== 'SAME_UPPER' && mode !== 'SAME_LOWER') this.fail(`auto_pad=${mode} is not an ONNX auto_pad value`);
    const total = (size: number): number => Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
    const th = total(t.h);
    const tw = total(t.w);
    if (th % 2 !== 0 || tw % 2 !== 0 || th !== tw) {
      this.fail(`auto_pad=${mode} needs padding ${th}×${tw} split unevenly between the sides on a ${t.h}×${t.w} input; layerlock's layers pad symmetrically`);
    }
    return th / 2;
  }

  private squareWindow(a: Map<string, AttributeProto>, fallback: number | null): { k: number; s: number } {
    const ks = this.intsAttr(a, 'kernel_shape');
    const k = ks ? ks : fallback !== null ? [fallback, fallback] : null;
    if (!k || k.length !== 2) this.fail('layerlock handles 2-D windows (kernel_shape of two values)');
    if (k[0] !== k[1]) this.fail(`kernel_shape [${k.join(', ')}] is not square; layerlock's layers use square windows`);
    const st = this.intsAttr(a, 'strides') ?? [1, 1];
    if (st.length !== 2 || st[0] !== st[1]) this.fail(`strides [${st.join(', ')}] are not the same in both directions`);
    const dil = this.intsAttr(a, 'dilations') ?? [1, 1];
    if (dil.some((d) => d !== 1)) this.fail(`dilations [${dil.join(', ')}]: dilated windows are not supported`);
    return { k: k[0]!, s: st[0]! };
  }

  private chw(t: Tensor, what: string): Tensor & { kind: 'chw' } {
    if (t.kind !== 'chw') this.fail(`${what} needs an N×C×H×W input, found a flattened one`);
    return t;
  }

  private flatSize(t: Tensor): number {
    return t.kind === 'flat' ? t.n : t.c * t.h * t.w;
  }

  /** A zero-valued constant Pad before a Conv/AveragePool adds to its padding. */
  private pendingPad = new Map<string, number>();

  // ---- nodes ------------------------------------------------------------------------------

  private visit(n: NodeProto): void {
    if (n.domain && n.domain !== 'ai.onnx') this.fail(`operators of domain '${n.domain}' are not supported`);
    const op = n.opType ?? '';
    switch (op) {
      case 'Constant': return this.constantNode();
      case 'Shape': return this.shapeNode();
      case 'Gather': return this.gatherNode();
      case 'Unsqueeze': return this.unsqueezeNode();
      case 'Concat': return this.concatNode();
      case 'Identity': return this.identityNode();
      case 'Conv': return this.convNode();
      case 'Gemm': return this.gemmNode();
      case 'MatMul': return this.matmulNode();
      case 'Add': return this.addNode();
      case 'BatchNormalization': return this.bnNode();
      case 'Relu': return this.activationNode('relu');
      case 'LeakyRelu': return this.activationNode('leaky');
      case 'Sigmoid': return this.activationNode('logistic');
      case 'Tanh': return this.activationNode('tanh');
      case 'MaxPool': return this.poolNode('maxpool');
      case 'AveragePool': return this.poolNode('local_avgpool');
      case 'GlobalAveragePool': return this.globalPoolNode();
      case 'Pad': return this.padNode();
      case 'Flatten': return this.flattenNode();
      case 'Reshape': return this.reshapeNode();
      case 'Dropout': return this.dropoutNode();
      case 'Softmax': return this.softmaxNode();
      default:
        this.fail(`operator ${op} is not supported (supported: ${SUPPORTED_OPS.join(', ')}; see docs/onnx.md)`);
    }
  }

  private constantNode(): void {
    const a = attrs(this.node);
    const v = a.get('value');
    if (!v?.t) this.fail('only Constant nodes holding a tensor (value=) are supported');
    this.constants.set(this.out(), v.t);
  }

  /** Integer values of a shape-computation input: evaluated earlier, or a constant. */
  private intInput(name: string | undefined): number[] {
    if (name === undefined) this.fail('missing input');
    const v = this.ints.get(name);
    if (v) return v;
    const t = this.constants.get(name);
    if (!t) this.fail(`input '${name}' is neither a constant nor a shape computation layerlock can evaluate`);
    try {
      return intValues(t, `input '${name}'`);
    } catch (e) {
      this.fail((e as Error).message);
    }
  }

  private shapeNode(): void {
    const name = this.ins()[0] ?? '';
    const t = this.main.get(name);
    if (!t) this.fail(`its input '${name}' is not an activation of the image path`);
    // Shape reads the tensor without consuming it: the image path continues through its other reader.
    this.consumers.set(name, (this.consumers.get(name) ?? 1) - 1);
    this.ints.set(this.out(), t.kind === 'chw' ? [BATCH, t.c, t.h, t.w] : [BATCH, t.n]);
  }

  private gatherNode(): void {
    const data = this.intInput(this.ins()[0]);
    const idx = this.intInput(this.ins()[1]);
    const axis = this.intAttr(attrs(this.node), 'axis', 0);
    if (axis !== 0) this.fail('only Gather on axis 0 of a shape is supported');
    this.ints.set(this.out(), idx.map((i) => {
      const j = i < 0 ? data.length + i : i;
      if (!(j >= 0 && j < data.length)) this.fail(`index ${i} is out of range`);
      return data[j]!;
    }));
  }

  private unsqueezeNode(): void {
    this.ints.set(this.out(), this.intInput(this.ins()[0]));
  }

  private concatNode(): void {
    if (this.ins().some((i) => this.main.has(i))) {
      this.fail('it joins activations of several branches; layerlock runs sequential networks only');
    }
    this.ints.set(this.out(), this.ins().flatMap((i) => this.intInput(i)));
  }

  private identityNode(): void {
    const name = this.ins()[0] ?? '';
    if (this.ints.has(name)) return void this.ints.set(this.out(), this.ints.get(name)!);
    if (this.constants.has(name)) return void this.constants.set(this.out(), this.constants.get(name)!);
    const { t } = this.mainInput();
    this.renamePending(name);
    this.setMain(t);
  }

  /** A pass-through node: a pending layer's output is now this node's output. */
  private renamePending(from: string): void {
    if (this.pending && this.pending.output === from) this.pending.output = this.out();
    const pad = this.pendingPad.get(from);
    if (pad !== undefined) this.pendingPad.set(this.out(), pad);
  }

  private convNode(): void {
    const a = attrs(this.node);
    this.known(a, ['kernel_shape', 'strides', 'pads', 'dilations', 'group', 'auto_pad']);
    const { name, t: tin } = this.mainInput();
    const t = this.chw(tin, 'Conv');
    if (this.intAttr(a, 'group', 1) !== 1) this.fail(`group=${this.intAttr(a, 'group', 1)}: grouped (e.g. depthwise) convolution is not supported`);
    const w = this.floats(this.ins()[1], 'weight');
    if (w.dims.length !== 4) this.fail(`its weight has ${w.dims.length} dimensions; layerlock handles 2-D convolutions`);
    const [f, c, kh, kw] = w.dims as [number, number, number, number];
    if (c !== t.c) this.fail(`its weight expects ${c} input channels but the input has ${t.c}`);
    if (kh !== kw) this.fail(`kernel ${kh}×${kw} is not square; layerlock's convolutions use square kernels`);
    const { k, s } = this.squareWindow(a, kh);
    if (k !== kh) this.fail(`kernel_shape ${k} differs from the weight's ${kh}`);
    let pad = this.autoPads(a, t, k, s) ?? this.spatialPads(this.intsAttr(a, 'pads'), 'its');
    pad += this.pendingPad.get(name) ?? 0;
    const biases = this.ins()[2] ? this.floats(this.ins()[2], 'bias').data : new Float32Array(f);
    if (biases.length !== f) this.fail(`its bias has ${biases.length} values for ${f} filters`);
    this.flush();
    const layer = { type: 'convolutional' as const, filters: f, size: k, stride: s, padding: pad, activation: 'linear' as Activation, batchNormalize: false, source: this.source };
    const h = Math.floor((t.h + 2 * pad - k) / s) + 1;
    const wd = Math.floor((t.w + 2 * pad - k) / s) + 1;
    if (!(h > 0 && wd > 0)) this.fail(`a ${k}×${k} kernel does not fit the ${t.h}×${t.w} input`);
    this.pending = { layer, weights: w.data, biases: Float32Array.from(biases), output: this.out(), hasBn: false };
    this.setMain({ kind: 'chw', c: f, h, w: wd });
  }

  private connected(tin: Tensor, weights: Float32Array, outputs: number, biases: Float32Array): void {
    this.flush();
    const layer = { type: 'connected' as const, output: outputs, activation: 'linear' as Activation, batchNormalize: false, source: this.source };
    if (tin.kind === 'chw') this.fail('it needs a 2-D input; flatten the image first (Flatten or Reshape)');
    if (weights.length !== outputs * tin.n) this.fail(`its weight has ${weights.length} values for ${tin.n} inputs × ${outputs} outputs`);
    this.pending = { layer, weights, biases, output: this.out(), hasBn: false };
    this.setMain({ kind: 'flat', n: outputs });
  }

  private gemmNode(): void {
    const a = attrs(this.node);
    this.known(a, ['alpha', 'beta', 'transA', 'transB']);
    const { name, t } = this.mainInput();
    if (this.ins()[0] !== name) this.fail('the activation must be its first input (A)');
    if (this.intAttr(a, 'transA', 0) !== 0) this.fail('transA=1 is not supported (the activation must be N×K)');
    const inputs = this.flatSize(t);
    const b = this.floats(this.ins()[1], 'weight (B)');
    if (b.dims.length !== 2) this.fail('its weight (B) must be 2-D');
    const transB = this.intAttr(a, 'transB', 0) === 1;
    const [r, c] = b.dims as [number, number];
    const outputs = transB ? r : c;
    if ((transB ? c : r) !== inputs) this.fail(`its weight (B) is ${r}×${c}, which does not take ${inputs} inputs`);
    const alpha = this.floatAttr(a, 'alpha', 1);
    const beta = this.floatAttr(a, 'beta', 1);
    const weights = new Float32Array(outputs * inputs);
    for (let o = 0; o < outputs; o++) {
      for (let i = 0; i < inputs; i++) weights[o * inputs + i] = alpha * (transB ? b.data[o * inputs + i]! : b.data[i * outputs + o]!);
    }
    const biases = new Float32Array(outputs);
    if (this.ins()[2]) {
      const cb = this.floats(this.ins()[2], 'bias (C)');
      if (cb.data.length === outputs) for (let o = 0; o < outputs; o++) biases[o] = beta * cb.data[o]!;
      else if (cb.data.length === 1) biases.fill(beta * cb.data[0]!);
      else this.fail(`its bias (C) has ${cb.data.length} values for ${outputs} outputs`);
    }
    this.connected(t.kind === 'chw' && t.h * t.w === 1 ? { kind: 'flat', n: t.c } : t, weights, outputs, biases);
  }

  private matmulNode(): void {
    const { name, t } = this.mainInput();
    if (this.ins()[0] !== name) this.fail('the activation must be its first input');
    if (t.kind !== 'flat') this.fail('it needs a 2-D input; flatten the image first (Flatten or Reshape)');
    const b = this.floats(this.ins()[1], 'weight');
    if (b.dims.length !== 2 || b.dims[0] !== t.n) this.fail(`its weight has dims [${b.dims.join(', ')}], which do not take ${t.n} inputs`);
    const outputs = b.dims[1]!;
    const weights = new Float32Array(outputs * t.n);
    for (let o = 0; o < outputs; o++) for (let i = 0; i < t.n; i++) weights[o * t.n + i] = b.data[i * outputs + o]!;
    this.connected(t, weights, outputs, new Float32Array(outputs));
  }

  /** Add of a constant right after a Conv/Gemm/MatMul: its bias. Anything else is a branch. */
  private addNode(): void {
    const { name, t } = this.mainInput();
    const other = this.ins().find((i) => i !== name);
    const p = this.foldTarget(name);
    if (!p || p.layer.activation !== 'linear') {
      this.fail('layerlock folds an Add only as the bias right after a Conv, Gemm or MatMul');
    }
    const bias = this.floats(other, 'addend');
    const channels = p.biases.length;
    if (bias.data.length !== channels && bias.data.length !== 1) {
      this.fail(`its constant has ${bias.data.length} values; a bias has one per channel (${channels})`);
    }
    for (let c = 0; c < channels; c++) p.biases[c] = p.biases[c]! + bias.data[bias.data.length === 1 ? 0 : c]!;
    p.output = this.out();
    this.setMain(t);
  }

  private bnNode(): void {
    const a = attrs(this.node);
    this.known(a, ['epsilon', 'momentum', 'training_mode', 'spatial']);
    if (this.intAttr(a, 'training_mode', 0) !== 0 || (this.node.output ?? []).filter(Boolean).length > 1) {
      this.fail('BatchNormalization in training mode is not supported (export the model in eval mode)');
    }
    const { name, t } = this.mainInput();
    if (this.ins()[0] !== name) this.fail('the activation must be its first input');
    const p = this.foldTarget(name);
    if (!p || p.layer.activation !== 'linear' || p.hasBn) {
      this.fail('layerlock folds BatchNormalization into the Conv, Gemm or MatMul right before it, and there is none');
    }
    const eps = this.floatAttr(a, 'epsilon', 1e-5);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => this.floats(this.ins()[i], ['scale', 'B', 'mean', 'var'][i - 1]!).data);
    const channels = p.biases.length;
    for (const v of [scale, bias, mean, variance]) if (v!.length !== channels) this.fail(`its parameters have ${v!.length} values for ${channels} channels`);
    // y = scale · (x − mean) / sqrt(var + eps) + B, with x = W·in + b: fold into W' = k·W, b' = k·(b − mean) + B.
    // Computed in double precision, rounded once to float32.
    const per = p.weights.length / channels;
    for (let c = 0; c < channels; c++) {
      const k = scale![c]! / Math.sqrt(variance![c]! + eps);
      for (let j = 0; j < per; j++) p.weights[c * per + j] = p.weights[c * per + j]! * k;
      p.biases[c] = (p.biases[c]! - mean![c]!) * k + bias![c]!;
    }
    p.hasBn = true;
    p.output = this.out();
    this.setMain(t);
  }

  private activationNode(act: Activation): void {
    const a = attrs(this.node);
    this.known(a, act === 'leaky' ? ['alpha'] : []);
    const { name, t } = this.mainInput();
    // act(maxpool(x)) = maxpool(act(x)) for these non-decreasing activations, gradients included (the
    // window's winner is the same, or every candidate has zero slope), so `F.relu(F.max_pool2d(conv(x)))`
    // becomes a conv with relu followed by the pool, as Darknet would write it.
    const c = this.commute;
    if (!this.foldTarget(name) && c && c.output === name && c.layer.activation === 'linear') {
      this.setActivation(c.layer, act, a);
      c.output = this.out();
      this.setMain(t);
      return;
    }
    const p = this.foldTarget(name);
    if (!p || p.layer.activation !== 'linear') {
      this.fail('layerlock applies activations inside the layer before them, and this one does not directly follow a Conv, Gemm or MatMul (or follows one that already has an activation)');
    }
    this.setActivation(p.layer, act, a);
    p.output = this.out();
    this.setMain(t);
  }

  private setActivation(layer: Pending['layer'], act: Activation, a: Map<string, AttributeProto>): void {
    layer.activation = act;
    if (act === 'leaky') {
      const alpha = this.floatAttr(a, 'alpha', 0.01);
      if (!(alpha > 0)) this.fail(`alpha=${alpha}: layerlock's leaky activation needs a positive slope`);
      // Darknet's own leaky (0.1) keeps the native kernels; float32 0.1 from an exporter means it too.
      if (alpha !== Math.fround(0.1)) layer.slope = alpha;
    }
  }

  /** A max-pool that directly follows a linear trainable layer: an activation after it may move before it. */
  private commute: { output: string; layer: Pending['layer'] } | null = null;

  private padNode(): void {
    const a = attrs(this.node);
    const { name, t: tin } = this.mainInput();
    const t = this.chw(tin, 'Pad');
    const mode = this.strAttr(a, 'mode', 'constant');
    if (mode !== 'constant') this.fail(`mode=${mode}: only constant (zero) padding is supported`);
    // Opset 18 added an optional axes input; padding given per listed axis is not handled.
    if (this.ins()[3]) this.fail('Pad with an axes input is not supported (give pads for all four axes)');
    const pads = this.opset >= 11 ? this.intInput(this.ins()[1]) : (this.intsAttr(a, 'pads') ?? []);
    const value = this.ins()[2] ? this.floats(this.ins()[2], 'constant value').data[0] : this.floatAttr(a, 'value', 0);
    if (value !== 0 && value !== undefined) this.fail(`padding value ${value}: only zero padding is supported`);
    if (pads.length !== 8 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) {
      this.fail(`pads [${pads.join(', ')}]: only padding of the two spatial axes of an N×C×H×W tensor is supported`);
    }
    const p = this.spatialPads([pads[2]!, pads[3]!, pads[6]!, pads[7]!], 'its');
    const before = this.pendingPad.get(name) ?? 0;
    this.flush();
    // The zero padding only becomes part of the next Conv or AveragePool; check that one follows.
    const next = (this.model.graph?.node ?? []).find((n) => (n.input ?? [])[0] === this.out());
    if (p + before > 0 && next?.opType !== 'Conv' && next?.opType !== 'AveragePool') {
      this.fail('zero padding is supported only right before a Conv or an AveragePool, which take it as their own padding');
    }
    this.pendingPad.set(this.out(), before + p);
    this.setMain(t);
  }

  private poolNode(type: 'maxpool' | 'local_avgpool'): void {
    const a = attrs(this.node);
    this.known(a, ['kernel_shape', 'strides', 'pads', 'dilations', 'auto_pad', 'ceil_mode', 'storage_order', 'count_include_pad']);
    if ((this.node.output ?? []).filter(Boolean).length > 1) this.fail('the Indices output of MaxPool is not supported');
    if (this.intAttr(a, 'storage_order', 0) !== 0) this.fail('storage_order=1 is not supported');
    const { name, t: tin } = this.mainInput();
    const t = this.chw(tin, this.node.opType ?? 'pool');
    const feeding = this.foldTarget(name);
    this.commute = type === 'maxpool' && feeding ? { output: this.out(), layer: feeding.layer } : null;
    const { k, s } = this.squareWindow(a, null);
    const ceil = this.intAttr(a, 'ceil_mode', 0) === 1;
    let countIncludePad = this.intAttr(a, 'count_include_pad', 0) === 1;
    const pads = this.intsAttr(a, 'pads');
    const explicit = this.pendingPad.get(name) ?? 0;
    // Darknet's own geometry: total padding P, window origin −⌊P/2⌋, i.e. one more pixel at the end
    // when P is odd. layerlock's export writes it as pads [⌊P/2⌋, ⌊P/2⌋, ⌈P/2⌉, ⌈P/2⌉]; take it back.
    if (pads && pads.length === 4 && pads[0] === pads[1] && pads[2] === pads[3] && pads[2] === pads[0]! + 1 &&
        !ceil && !countIncludePad && explicit === 0 && this.strAttr(a, 'auto_pad', 'NOTSET') === 'NOTSET') {
      const P = pads[0]! + pads[2]!;
      const out = [poolOutputSize(t.h, k, s, P), poolOutputSize(t.w, k, s, P)] as const;
      if (!(out[0] > 0 && out[1] > 0)) this.fail(`a ${k}×${k} window does not fit the ${t.h}×${t.w} input`);
      this.push(type === 'maxpool'
        ? { type: 'maxpool', size: k, stride: s, padding: P, source: this.source }
        : { type: 'local_avgpool', size: k, stride: s, padding: P, source: this.source });
      this.setMain({ kind: 'chw', c: t.c, h: out[0], w: out[1] });
      return;
    }
    const own = this.autoPads(a, t, k, s) ?? this.spatialPads(pads, 'its');
    if (explicit > 0) {
      // A preceding zero Pad (how PyTorch exports AvgPool2d's count_include_pad=True) counts its zeros.
      if (own > 0 && !countIncludePad) this.fail('a zero Pad before it and its own pads with count_include_pad=0 cannot be expressed as one layer');
      countIncludePad = true;
    }
    const pad = own + explicit;
    // ceil_mode is PyTorch's and ONNX's rule; when it gives the floor sizes it is dropped, and when
    // Darknet's odd total padding gives the same window origin and sizes, that is used instead.
    const out = (P: number, c: boolean): [number, number] => [poolOutputSize(t.h, k, s, P, c), poolOutputSize(t.w, k, s, P, c)];
    const want = out(2 * pad, ceil);
    let padding = 2 * pad;
    let ceilMode = false;
    if (ceil) {
      const floorSame = out(2 * pad, false);
      const darknetOdd = out(2 * pad + 1, false);
      if (floorSame[0] === want[0] && floorSame[1] === want[1]) ceilMode = false;
      else if (type === 'maxpool' && darknetOdd[0] === want[0] && darknetOdd[1] === want[1]) padding = 2 * pad + 1;
      else ceilMode = true;
    }
    if (!(want[0] > 0 && want[1] > 0)) this.fail(`a ${k}×${k} window does not fit the ${t.h}×${t.w} input`);
    if (type === 'local_avgpool' && pad === 0 && k === t.h && k === t.w && want[0] === 1 && want[1] === 1) {
      this.push({ type: 'avgpool', source: this.source });
    } else if (type === 'maxpool') {
      this.push({ type: 'maxpool', size: k, stride: s, padding, ...(ceilMode ? { ceilMode } : {}), source: this.source });
    } else {
      this.push({
        type: 'local_avgpool', size: k, stride: s, padding, ...(ceilMode ? { ceilMode } : {}),
        ...(countIncludePad && pad > 0 ? { countIncludePad } : {}), source: this.source,
      });
    }
    this.setMain({ kind: 'chw', c: t.c, h: want[0], w: want[1] });
  }

  private globalPoolNode(): void {
    const { t } = this.mainInput();
    const c = this.chw(t, 'GlobalAveragePool');
    this.push({ type: 'avgpool', source: this.source });
    this.setMain({ kind: 'chw', c: c.c, h: 1, w: 1 });
  }

  private flattenNode(): void {
    const a = attrs(this.node);
    this.known(a, ['axis']);
    const { name, t } = this.mainInput();
    const axis = this.intAttr(a, 'axis', 1);
    if (axis !== 1) this.fail(`axis=${axis}: only flattening to [batch, features] (axis=1) is supported`);
    this.renamePending(name);
    this.setMain({ kind: 'flat', n: this.flatSize(t) });
  }

  private reshapeNode(): void {
    const a = attrs(this.node);
    this.known(a, ['allowzero']);
    const { name, t } = this.mainInput();
    const shape = this.intInput(this.ins()[1]);
    const size = this.flatSize(t);
    const ok = shape.length === 2 &&
      (shape[0] === BATCH || shape[0] === -1 || (shape[0] === 0 && this.intAttr(a, 'allowzero', 0) === 0)) &&
      (shape[1] === -1 || shape[1] === size) && !(shape[0] === -1 && shape[1] === -1);
    if (!ok) {
      const shown = shape.map((d) => (d === BATCH ? 'batch' : String(d))).join(', ');
      this.fail(`reshape to [${shown}] is not supported; layerlock supports only flattening each image to [batch, ${size}]`);
    }
    this.renamePending(name);
    this.setMain({ kind: 'flat', n: size });
  }

  private dropoutNode(): void {
    const a = attrs(this.node);
    this.known(a, ['ratio', 'seed', 'is_test']);
    const outs = (this.node.output ?? []).filter(Boolean);
    if (outs.length > 1 && (this.consumers.get(outs[1]!) ?? 0) > 0) this.fail('its mask output is used; layerlock does not expose dropout masks');
    const { t } = this.mainInput();
    let ratio = this.floatAttr(a, 'ratio', 0.5);
    if (this.ins()[1]) ratio = this.floats(this.ins()[1], 'ratio').data[0] ?? 0.5;
    if (!(ratio >= 0 && ratio < 1)) this.fail(`ratio ${ratio} must be in [0, 1)`);
    // Darknet's dropout runs in place on the previous layer's output, so it cannot be first.
    if (this.layers.length === 0 && !this.pending) this.fail('a Dropout cannot be the first layer');
    this.push({ type: 'dropout', probability: ratio, source: this.source });
    this.setMain(t);
  }

  private softmaxNode(): void {
    const a = attrs(this.node);
    this.known(a, ['axis']);
    const { t } = this.mainInput();
    const axis = this.intAttr(a, 'axis', this.opset >= 13 ? -1 : 1);
    const flat = t.kind === 'flat' || (t.h === 1 && t.w === 1);
    if (!flat || !(axis === 1 || axis === -1)) {
      this.fail('only a Softmax over the class scores of a [batch, classes] tensor is supported');
    }
    if (this.out() !== this.graphOutput) this.fail('the Softmax must produce the graph output (layerlock trains with it as the loss layer)');
    this.push({ type: 'softmax', source: this.source });
    this.ended = true;
    this.setMain(t);
  }
}

function opsetOf(model: ModelProto, file: string): number {
  const ids = (model.opsetImport ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx');
  if (ids.length === 0) throw new OnnxImportError(file, null, null, 'the model declares no opset of the default ONNX domain');
  const v = toNumber(ids[0]!.version);
  if (v < MIN_OPSET || v > MAX_OPSET) {
    throw new OnnxImportError(file, null, null, `opset ${v} is not supported (layerlock imports opsets ${MIN_OPSET}–${MAX_OPSET}; re-export with e.g. torch.onnx.export(..., opset_version=13))`);
  }
  return v;
}

/** ONNX bytes → config + weights. `file` names the model in every message. */
export function importOnnx(bytes: Uint8Array, file: string, opts: ImportOptions = {}): ImportedModel {
  const model = decodeModel(bytes, file);
  const opset = opsetOf(model, file);
  const imp = new Importer(file, model, opset);
  const { layers, input } = imp.run();
  const net: NetOptions = {
    batch: opts.batch ?? 128, subdivisions: 1, height: input.h, width: input.w, channels: input.c,
    learningRate: opts.learningRate ?? 0.01, momentum: opts.momentum ?? 0.9, decay: opts.decay ?? 0.0005,
    maxBatches: 0, policy: 'constant', steps: [], scales: [], step: 1, scale: 1, gamma: 1, power: 4, burnIn: 0,
    source: { file, line: 0 },
  };
  return {
    config: { net, layers, warnings: [] },
    weights: imp.weights,
    notes: imp.notes,
    opset,
    producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(),
  };
}
