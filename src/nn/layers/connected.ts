// Fully connected layer: output = input · Wᵀ + b (W is outputs × inputs, Darknet's layout),
// optional batch norm, activation.
import type { ConnectedConfig } from '../config.js';
import { batchNormBackward, batchNormForward, makeBatchNorm, type BatchNormState } from '../batchnorm.js';
import { sgdUpdate, shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, type UpdateArgs, heapAllocator, type Allocator } from '../layer.js';
import type { Rng } from '../rng.js';
import { activationGradient, biasActivate } from '../activation.js';

export class ConnectedLayer implements Layer {
  readonly type = 'connected' as const;
  readonly outShape: Shape;
  readonly inputs: number;
  readonly outputs: number;
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

  constructor(readonly index: number, readonly config: ConnectedConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    this.inputs = shapeSize(inShape);
    this.outputs = config.output;
    this.outShape = { c: this.outputs, h: 1, w: 1 };
    this.output = alloc.f32(index, 'output', maxBatch * this.outputs);
    this.delta = alloc.f32(index, 'delta', maxBatch * this.outputs);
    this.weights = alloc.f32(index, 'weights', this.outputs * this.inputs);
    this.weightUpdates = alloc.f32(index, 'weight_updates', this.outputs * this.inputs);
    this.biases = alloc.f32(index, 'biases', this.outputs);
    this.biasUpdates = alloc.f32(index, 'bias_updates', this.outputs);
    this.bn = config.batchNormalize ? makeBatchNorm(index, this.outputs, maxBatch * this.outputs, alloc) : null;
    // Darknet's .weights order for connected layers: biases, weights, then BN parameters.
    this.paramList = [
      { name: 'biases', data: this.biases, updates: this.biasUpdates },
      { name: 'weights', data: this.weights, updates: this.weightUpdates },
    ];
    if (this.bn) {
      this.paramList.push(
        { name: 'scales', data: this.bn.scales, updates: this.bn.scaleUpdates },
        { name: 'rolling_mean', data: this.bn.rollingMean, updates: null },
        { name: 'rolling_variance', data: this.bn.rollingVariance, updates: null },
      );
    }
  }

  params(): readonly ParamTensor[] {
    return this.paramList;
  }

  initialise(rng: Rng): void {
    // Darknet: uniform(-1, 1) × sqrt(2 / fan-in); biases zero; BN scales one.
    const scale = Math.sqrt(2 / this.inputs);
    for (let i = 0; i < this.weights.length; i++) this.weights[i] = scale * (2 * rng.uniform() - 1);
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
    const { inputs, outputs } = this;
    ctx.kernels.gemm(false, true, n, outputs, inputs, 1, input, 0, inputs, this.weights, 0, inputs, 0, this.output, 0, outputs);
    if (this.bn) batchNormForward(this.bn, this.output, n, outputs, 1, ctx.train && !this.frozen);
    biasActivate(ctx.kernels, this.output, this.biases, n, outputs, 1, this.config.activation, this.config.slope);
  }

  backward(input: Float32Array, inputDelta: Float32Array | null, n: number, ctx: PassContext): void {
    const { inputs, outputs } = this;
    activationGradient(ctx.kernels, this.config.activation, this.config.slope, this.output, this.delta, n * outputs);
    if (!this.frozen) ctx.kernels.biasGradient(this.biasUpdates, this.delta, n, outputs, 1);
    if (this.bn) batchNormBackward(this.bn, this.delta, n, outputs, 1, this.frozen);
    if (!this.frozen) {
      ctx.kernels.gemm(true, false, outputs, inputs, n, 1, this.delta, 0, outputs, input, 0, inputs, 1, this.weightUpdates, 0, inputs);
    }
    if (inputDelta) {
      ctx.kernels.gemm(false, false, n, inputs, outputs, 1, this.delta, 0, outputs, this.weights, 0, inputs, 1, inputDelta, 0, inputs);
    }
  }

  update(args: UpdateArgs): void {
    if (this.frozen) return;
    sgdUpdate(this.paramList[0]!, args, false);
    sgdUpdate(this.paramList[1]!, args, true);
    if (this.bn) sgdUpdate(this.paramList[2]!, args, false);
  }
}
