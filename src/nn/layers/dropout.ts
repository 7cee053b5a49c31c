// Dropout: at training time each value is zeroed with `probability`, survivors scaled by
// 1/(1-probability) (Darknet's inverted dropout); identity at inference.
// The mask is drawn from (seed, layer, iteration) rather than a shared stream, so the same mask
// comes out whichever process (normal world or TEE) runs the layer.
import type { DropoutConfig } from '../config.js';
import { shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, heapAllocator, type Allocator } from '../layer.js';
import { Rng } from '../rng.js';

export class DropoutLayer implements Layer {
  readonly type = 'dropout' as const;
  readonly outShape: Shape;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  /** 1 where the value was kept, 0 where dropped, for the last training forward. */
  readonly keep: Uint8Array;
  private lastTrain = false;
  cost = 0;
  frozen = false;

  constructor(readonly index: number, readonly config: DropoutConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    this.outShape = inShape;
    const outputs = maxBatch * shapeSize(inShape);
    this.output = alloc.f32(index, 'output', outputs);
    this.delta = alloc.f32(index, 'delta', outputs);
    this.keep = alloc.u8(index, 'dropout_mask', outputs);
  }

  params(): readonly ParamTensor[] {
    return [];
  }

  initialise(): void {}

  forward(input: Float32Array, n: number, ctx: PassContext): void {
    const count = n * shapeSize(this.inShape);
    this.lastTrain = ctx.train;
    if (!ctx.train) {
      this.output.set(input.subarray(0, count));
      return;
    }
    const p = this.config.probability;
    const scale = 1 / (1 - p);
    const rng = new Rng(ctx.seed, 'dropout', this.index, ctx.iteration);
    for (let i = 0; i < count; i++) {
      const kept = rng.uniform() >= p;
      this.keep[i] = kept ? 1 : 0;
      this.output[i] = kept ? input[i]! * scale : 0;
    }
  }

  backward(_input: Float32Array, inputDelta: Float32Array | null, n: number): void {
    if (!inputDelta) return;
    const count = n * shapeSize(this.inShape);
    if (!this.lastTrain) {
      for (let i = 0; i < count; i++) inputDelta[i] = inputDelta[i]! + this.delta[i]!;
      return;
    }
    const scale = 1 / (1 - this.config.probability);
    for (let i = 0; i < count; i++) if (this.keep[i]) inputDelta[i] = inputDelta[i]! + this.delta[i]! * scale;
  }

  update(): void {}
}
