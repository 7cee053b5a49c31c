// Softmax over each image's outputs. With targets present it sets its delta to the negative
// cross-entropy gradient with respect to its input (truth - p, as Darknet), so the layer's
// backward simply passes delta through.
import type { SoftmaxConfig } from '../config.js';
import { shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, heapAllocator, type Allocator } from '../layer.js';

/** Smallest probability used inside log(), so a confident wrong answer costs a finite amount. */
export const LOG_FLOOR = 1e-12;

export class SoftmaxLayer implements Layer {
  readonly type = 'softmax' as const;
  readonly outShape: Shape;
  readonly inputs: number;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  cost = 0;
  frozen = false;

  constructor(readonly index: number, readonly config: SoftmaxConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    this.outShape = inShape;
    this.inputs = shapeSize(inShape);
    this.output = alloc.f32(index, 'output', maxBatch * this.inputs);
    this.delta = alloc.f32(index, 'delta', maxBatch * this.inputs);
  }

  params(): readonly ParamTensor[] {
    return [];
  }

  initialise(): void {}

  forward(input: Float32Array, n: number, ctx: PassContext): void {
    const k = this.inputs;
    for (let b = 0; b < n; b++) {
      const base = b * k;
      let max = -Infinity;
      for (let i = 0; i < k; i++) if (input[base + i]! > max) max = input[base + i]!;
      let sum = 0;
      for (let i = 0; i < k; i++) {
        const e = Math.exp(input[base + i]! - max);
        this.output[base + i] = e;
        sum += e;
      }
      for (let i = 0; i < k; i++) this.output[base + i] = this.output[base + i]! / sum;
    }
    const truth = ctx.truth;
    if (!truth) return;
    let cost = 0;
    for (let i = 0; i < n * k; i++) {
      const t = truth[i]!;
      const p = this.output[i]!;
      this.delta[i] = t - p;
      if (t !== 0) cost -= t * Math.log(Math.max(p, LOG_FLOOR));
    }
    this.cost = cost;
  }

  backward(_input: Float32Array, inputDelta: Float32Array | null, n: number): void {
    if (!inputDelta) return;
    for (let i = 0; i < n * this.inputs; i++) inputDelta[i] = inputDelta[i]! + this.delta[i]!;
  }

  update(): void {}
}
