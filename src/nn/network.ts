// A network: the layers built from a parsed cfg, run forward and backward in order, updated with
// Darknet's SGD. Seeds are explicit: initialisation of layer i draws from Rng(seed, 'init', i), so
// re-initialising a layer reproduces exactly the weights it had at the start of training.
import { totalmem } from 'node:os';
import type { Kernels } from '../kernels/types.js';
import type { LayerConfig, NetOptions, NetworkConfig } from './config.js';
import { CfgError } from './cfg.js';
import { heapAllocator, shapeSize, shapeString, type Allocator, type Layer, type PassContext, type Shape } from './layer.js';
import { AvgpoolLayer } from './layers/avgpool.js';
import { ConnectedLayer } from './layers/connected.js';
import { ConvolutionalLayer, convOutputSize } from './layers/convolutional.js';
import { CostLayer } from './layers/cost.js';
import { DropoutLayer } from './layers/dropout.js';
import { MaxpoolLayer } from './layers/maxpool.js';
import { SoftmaxLayer } from './layers/softmax.js';
import { learningRateAt } from './lr.js';
import { Rng } from './rng.js';
import type { WeightsLayer } from './weights.js';

export type TrainableLayer = ConvolutionalLayer | ConnectedLayer;

export function isTrainable(l: Layer): l is TrainableLayer {
  return l.type === 'convolutional' || l.type === 'connected';
}

export function buildLayer(index: number, cfg: LayerConfig, inShape: Shape, maxBatch: number, alloc: Allocator = heapAllocator): Layer {
  switch (cfg.type) {
    case 'convolutional':
      return new ConvolutionalLayer(index, cfg, inShape, maxBatch, alloc);
    case 'connected':
      return new ConnectedLayer(index, cfg, inShape, maxBatch, alloc);
    case 'maxpool':
      return new MaxpoolLayer(index, cfg, inShape, maxBatch, alloc);
    case 'avgpool':
      return new AvgpoolLayer(index, cfg, inShape, maxBatch, alloc);
    case 'dropout':
      return new DropoutLayer(index, cfg, inShape, maxBatch, alloc);
    case 'softmax':
      return new SoftmaxLayer(index, cfg, inShape, maxBatch, alloc);
    case 'cost':
      return new CostLayer(index, cfg, inShape, maxBatch, alloc);
  }
}

/** Output shape of a layer for a given input shape, without building it. */
export function outputShape(cfg: LayerConfig, s: Shape): Shape {
  switch (cfg.type) {
    case 'convolutional':
      return { c: cfg.filters, h: convOutputSize(s.h, cfg.size, cfg.stride, cfg.padding), w: convOutputSize(s.w, cfg.size, cfg.stride, cfg.padding) };
    case 'connected':
      return { c: cfg.output, h: 1, w: 1 };
    case 'maxpool':
      return { c: s.c, h: Math.floor((s.h + cfg.padding - cfg.size) / cfg.stride) + 1, w: Math.floor((s.w + cfg.padding - cfg.size) / cfg.stride) + 1 };
    case 'avgpool':
      return { c: s.c, h: 1, w: 1 };
    case 'dropout':
    case 'softmax':
    case 'cost':
      return s;
  }
}

/**
 * Input shape of every layer of a config (index i: what layer i receives), plus the final output,
 * failing with the cfg line of the first layer whose output would be empty.
 */
export function layerShapes(config: NetworkConfig): Shape[] {
  const shapes: Shape[] = [{ c: config.net.channels, h: config.net.height, w: config.net.width }];
  config.layers.forEach((lc, i) => {
    const inS = shapes[i]!;
    const out = outputShape(lc, inS);
    if (!(out.c > 0 && out.h > 0 && out.w > 0)) {
      throw new CfgError(lc.source.file, lc.source.line,
        `[${lc.type}] layer ${i} gets input ${shapeString(inS)} and would produce an empty output ${shapeString(out)}`);
    }
    shapes.push(out);
  });
  return shapes;
}

/**
 * Bytes a layer's buffers take on the heap, roughly: parameters with their momentum and gradients,
 * output and delta per image in a forward pass, and the convolution's im2col workspace.
 */
export function layerHeapBytes(cfg: LayerConfig, inS: Shape, out: Shape, perForward: number): number {
  let params = 0;
  let workspace = 0;
  if (cfg.type === 'convolutional') {
    params = cfg.filters * inS.c * cfg.size * cfg.size + cfg.filters * (cfg.batchNormalize ? 4 : 1);
    workspace = inS.c * cfg.size * cfg.size * out.h * out.w;
  } else if (cfg.type === 'connected') {
    params = cfg.output * shapeSize(inS) + cfg.output * (cfg.batchNormalize ? 4 : 1);
  }
  return 4 * (3 * params + 2 * perForward * shapeSize(out) + workspace);
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** Refuses, naming the cfg line, a network whose buffers could not fit this machine's memory. */
export function checkHeapNeed(config: NetworkConfig, shapes: readonly Shape[], perForward: number, start = 0, end = config.layers.length - 1): void {
  const total = totalmem();
  let sum = 0;
  let worst = start;
  let worstBytes = -1;
  for (let i = start; i <= end; i++) {
    const b = layerHeapBytes(config.layers[i]!, shapes[i]!, shapes[i + 1]!, perForward);
    sum += b;
    if (b > worstBytes) {
      worst = i;
      worstBytes = b;
    }
  }
  if (sum > total) {
    const lc = config.layers[worst]!;
    throw new CfgError(lc.source.file, lc.source.line,
      `[${lc.type}] layer ${worst} (output ${shapeString(shapes[worst + 1]!)}, ${perForward} images per forward) needs about ${gib(worstBytes)}, ` +
      `the whole network about ${gib(sum)}: more than this machine's ${gib(total)} of memory (lower the size, filters, output or batch)`);
  }
}

export interface NetworkOptions {
  kernels: Kernels;
  /** Seed for initialisation and dropout masks. */
  seed: number;
  /** Buffers are sized for this many images per forward; defaults to batch/subdivisions of the cfg. */
  maxBatch?: number;
  /** Where layer buffers come from (the TEE's secure arena); default the JS heap. */
  alloc?: Allocator;
  /**
   * Build only layers start..end (inclusive, cfg indices). Layer indices stay global, so seeds,
   * initial weights and dropout masks are those of the whole network: a partitioned run computes
   * the same numbers as an unpartitioned one.
   */
  range?: readonly [start: number, end: number];
}

export class Network {
  readonly config: NetworkConfig;
  readonly net: NetOptions;
  /** The layers this object holds (all of them, or the requested range), in order. */
  readonly layers: Layer[];
  /** cfg index of layers[0]. */
  readonly first: number;
  /** Shape entering layers[0]. */
  readonly inShape: Shape;
  readonly maxBatch: number;
  readonly kernels: Kernels;
  readonly seed: number;
  /** Images trained on so far (Darknet's `seen`), stored in the .weights header. */
  seen = 0;
  /** Number of SGD updates so far; drives the learning-rate policy and dropout masks. */
  updates = 0;
  private readonly deltaNeeded: boolean[] = [];

  constructor(config: NetworkConfig, opts: NetworkOptions) {
    this.config = config;
    this.net = config.net;
    this.kernels = opts.kernels;
    this.seed = opts.seed >>> 0;
    this.maxBatch = opts.maxBatch ?? Math.max(1, Math.floor(config.net.batch / config.net.subdivisions));
    if (config.layers.length === 0) throw new CfgError(config.net.source.file, config.net.source.line, 'the cfg has no layers');
    const shapes = layerShapes(config);
    const [start, end] = opts.range ?? [0, config.layers.length - 1];
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end < config.layers.length)) {
      throw new RangeError(`layer range ${start}:${end} is not within 0:${config.layers.length - 1}`);
    }
    // The secure arena has its own budget and out-of-memory message; the heap would otherwise fail
    // with V8's "Invalid typed array length" or a crash, naming neither the file nor the line.
    if (!opts.alloc) checkHeapNeed(config, shapes, this.maxBatch, start, end);
    this.first = start;
    this.inShape = shapes[start]!;
    const alloc = opts.alloc ?? heapAllocator;
    this.layers = [];
    for (let i = start; i <= end; i++) this.layers.push(buildLayer(i, config.layers[i]!, shapes[i]!, this.maxBatch, alloc));
    this.refreshFreeze();
    this.initialise();
  }

  get trainableLayers(): TrainableLayer[] {
    return this.layers.filter(isTrainable);
  }

  /** Layer by cfg index (undefined outside this object's range). */
  layer(index: number): Layer | undefined {
    return this.layers[index - this.first];
  }

  /** The layer whose output is the network's prediction (Darknet skips trailing cost layers). */
  get outputLayer(): Layer {
    for (let i = this.layers.length - 1; i > 0; i--) if (this.layers[i]!.type !== 'cost') return this.layers[i]!;
    return this.layers[0]!;
  }

  get outputs(): number {
    return shapeSize(this.outputLayer.outShape);
  }

  get inputs(): number {
    return shapeSize(this.inShape);
  }

  /** Draws every layer's training-start parameters. */
  initialise(): void {
    for (const l of this.layers) l.initialise(new Rng(this.seed, 'init', l.index));
  }

  /** Restores layer `index` to exactly its training-start parameters and clears its momentum. */
  reinitialiseLayer(index: number): void {
    const l = this.layer(index);
    if (!l) throw new RangeError(`no layer ${index}`);
    l.initialise(new Rng(this.seed, 'init', index));
  }

  /** Freezes every trainable layer except those listed (the exposure protocol's "train only θ_l"). */
  trainOnly(indices: readonly number[]): void {
    for (const l of this.layers) l.frozen = !indices.includes(l.index);
    this.refreshFreeze();
  }

  setFrozen(index: number, frozen: boolean): void {
    const l = this.layer(index);
    if (!l) throw new RangeError(`no layer ${index}`);
    l.frozen = frozen;
    this.refreshFreeze();
  }

  private inputDeltaNeeded = false;

  /**
   * Whether backward must produce the gradient entering layers[0]: true when trainable layers
   * below this range (in another object, or the other world) need it.
   */
  setInputDeltaNeeded(needed: boolean): void {
    this.inputDeltaNeeded = needed;
    this.refreshFreeze();
  }

  /**
   * Recomputes which layers must produce an input gradient: only those above some unfrozen
   * trainable layer. Backward below the lowest trained layer is skipped entirely.
   */
  refreshFreeze(): void {
    let anyBelow = this.inputDeltaNeeded;
    for (let i = 0; i < this.layers.length; i++) {
      this.deltaNeeded[i] = anyBelow;
      const l = this.layers[i]!;
      if (isTrainable(l) && !l.frozen) anyBelow = true;
    }
  }

  private context(train: boolean, truth: Float32Array | null): PassContext {
    return { train, truth, kernels: this.kernels, seed: this.seed, iteration: this.updates };
  }

  /** Runs the layers; returns the prediction layer's output buffer (n × outputs valid). */
  forward(input: Float32Array, n: number, train: boolean, truth: Float32Array | null = null): Float32Array {
    if (n > this.maxBatch) throw new RangeError(`batch of ${n} exceeds the network's buffers (${this.maxBatch})`);
    const ctx = this.context(train, truth);
    let x = input;
    for (const l of this.layers) {
      l.forward(x, n, ctx);
      x = l.output;
    }
    return this.outputLayer.output;
  }

  /**
   * Backpropagates from the deltas set by the last training forward (softmax/cost layers set
   * their own). topDelta, when the loss lives above this range (another object or world), is the
   * negative gradient arriving at the top layer's output and is added to it. With inputDelta, the
   * gradient entering layers[0] is added into it (see setInputDeltaNeeded).
   */
  backward(input: Float32Array, n: number, inputDelta: Float32Array | null = null, topDelta: Float32Array | null = null): void {
    const ctx = this.context(true, null);
    const top = this.layers.length - 1;
    // Loss layers overwrite their own delta in forward; every other delta is accumulated into,
    // so it starts at zero.
    for (const l of this.layers) {
      if (l.type !== 'softmax' && l.type !== 'cost') l.delta.fill(0, 0, n * shapeSize(l.outShape));
    }
    if (topDelta) {
      const d = this.layers[top]!.delta;
      const count = n * shapeSize(this.layers[top]!.outShape);
      for (let i = 0; i < count; i++) d[i] = d[i]! + topDelta[i]!;
    }
    for (let i = top; i >= 0; i--) {
      if (!this.needsBackward(i)) break;
      const l = this.layers[i]!;
      const prevInput = i === 0 ? input : this.layers[i - 1]!.output;
      const prevDelta = !this.deltaNeeded[i] ? null : i > 0 ? this.layers[i - 1]!.delta : inputDelta;
      l.backward(prevInput, prevDelta, n, ctx);
    }
  }

  /** True if layer i or any layer below it has parameters to train. */
  private needsBackward(i: number): boolean {
    if (this.deltaNeeded[i]) return true;
    const l = this.layers[i]!;
    return isTrainable(l) && !l.frozen;
  }

  /** One SGD update with Darknet's rule, using the accumulated updates of `batch` images. */
  update(batch: number): void {
    const args = {
      learningRate: learningRateAt(this.net, this.updates),
      momentum: this.net.momentum,
      decay: this.net.decay,
      batch,
    };
    for (const l of this.layers) l.update(args);
    this.updates++;
  }

  /** Sum of the loss layers' costs from the last forward with truth. */
  lastCost(): number {
    let c = 0;
    for (const l of this.layers) if (l.type === 'softmax' || l.type === 'cost') c += l.cost;
    return c;
  }

  /** The parameter tensors in .weights order, for the weights reader/writer. */
  weightsLayers(): WeightsLayer[] {
    return this.trainableLayers.map((l) => ({
      index: l.index,
      type: l.type,
      batchNormalize: l.bn !== null,
      biases: l.biases,
      weights: l.weights,
      scales: l.bn?.scales ?? null,
      rollingMean: l.bn?.rollingMean ?? null,
      rollingVariance: l.bn?.rollingVariance ?? null,
    }));
  }
}
