// Convolution (+ optional batch norm) + bias + activation. Weights are filters × C × size × size,
// Darknet's layout, so .weights files map onto them directly.
import type { ConvGeometry } from '../../kernels/types.js';
import type { ConvolutionalConfig } from '../config.js';
import { batchNormBackward, batchNormForward, makeBatchNorm, type BatchNormState } from '../batchnorm.js';
import { sgdUpdate, shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, type UpdateArgs, heapAllocator, type Allocator } from '../layer.js';
import type { Rng } from '../rng.js';
import { activationGradient, biasActivate } from '../activation.js';

export function convOutputSize(inSize: number, size: number, stride: number, padding: number): number {
  return Math.floor((inSize + 2 * padding - size) / stride) + 1;
}

export class ConvolutionalLayer implements Layer {
  readonly type = 'convolutional' as const;
  readonly outShape: Shape;
  readonly geometry: ConvGeometry;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  readonly weights: Float32Array;
  readonly weightUpdates: Float32Array;
  readonly biases: Float32Array;
  readonly biasUpdates: Float32Array;
  readonly bn: BatchNormState | null;
  cost = 0;
  frozen = false;
  private readonly paramList: ParamTensor[];

  constructor(readonly index: number, readonly config: ConvolutionalConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    const { filters, size, stride, padding } = config;
    const outH = convOutputSize(inShape.h, size, stride, padding);
    const outW = convOutputSize(inShape.w, size, stride, padding);
    this.outShape = { c: filters, h: outH, w: outW };
    this.geometry = {
      channels: inShape.c, height: inShape.h, width: inShape.w,
      filters, size, stride, padding, outHeight: outH, outWidth: outW,
    };
    const outputs = maxBatch * shapeSize(this.outShape);
    this.output = alloc.f32(index, 'output', outputs);
    this.delta = alloc.f32(index, 'delta', outputs);
    const nWeights = filters * inShape.c * size * size;
    this.weights = alloc.f32(index, 'weights', nWeights);
    this.weightUpdates = alloc.f32(index, 'weight_updates', nWeights);
    this.biases = alloc.f32(index, 'biases', filters);
    this.biasUpdates = alloc.f32(index, 'bias_updates', filters);
    this.bn = config.batchNormalize ? makeBatchNorm(index, filters, outputs, alloc) : null;
    this.paramList = [{ name: 'biases', data: this.biases, updates: this.biasUpdates }];
    if (this.bn) {
      this.paramList.push(
        { name: 'scales', data: this.bn.scales, updates: this.bn.scaleUpdates },
        { name: 'rolling_mean', data: this.bn.rollingMean, updates: null },
        { name: 'rolling_variance', data: this.bn.rollingVariance, updates: null },
      );
    }
    this.paramList.push({ name: 'weights', data: this.weights, updates: this.weightUpdates });
  }

  params(): readonly ParamTensor[] {
    return this.paramList;
  }

  initialise(rng: Rng): void {
    // Darknet: normal × sqrt(2 / fan-in); biases zero; BN scales one.
    const g = this.geometry;
    const scale = Math.sqrt(2 / (g.size * g.size * g.channels));
    for (let i = 0; i < this.weights.length; i++) this.weights[i] = scale * rng.normal();
    this.biases.fill(0);
    this.weightUpdates.fill(0);
    this.biasUpdates.fill(0);
    if (this.bn) {
      this.bn.scales.fill(1);
      this.bn.scaleUpdates.fill(0);
      this.bn.rollingMean.fill(0);
      this.bn.rollingVariance.fill(1);
    }
  }

  forward(input: Float32Array, n: number, ctx: PassContext): void {
    const g = this.geometry;
    ctx.kernels.convForward(g, n, input, this.weights, this.output);
    const spatial = g.outHeight * g.outWidth;
    if (this.bn) batchNormForward(this.bn, this.output, n, g.filters, spatial, ctx.train && !this.frozen);
    biasActivate(ctx.kernels, this.output, this.biases, n, g.filters, spatial, this.config.activation, this.config.slope);
  }

  backward(input: Float32Array, inputDelta: Float32Array | null, n: number, ctx: PassContext): void {
    const g = this.geometry;
    const spatial = g.outHeight * g.outWidth;
    activationGradient(ctx.kernels, this.config.activation, this.config.slope, this.output, this.delta, n * g.filters * spatial);
    if (!this.frozen) ctx.kernels.biasGradient(this.biasUpdates, this.delta, n, g.filters, spatial);
    if (this.bn) batchNormBackward(this.bn, this.delta, n, g.filters, spatial, this.frozen);
    if (!this.frozen) ctx.kernels.convBackwardFilter(g, n, input, this.delta, this.weightUpdates);
    if (inputDelta) ctx.kernels.convBackwardData(g, n, this.delta, this.weights, inputDelta);
  }

  update(args: UpdateArgs): void {
    if (this.frozen) return;
    sgdUpdate(this.paramList[0]!, args, false);
    if (this.bn) sgdUpdate(this.paramList[1]!, args, false);
    sgdUpdate(this.paramList[this.paramList.length - 1]!, args, true);
  }
}
