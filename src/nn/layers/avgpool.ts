// Global average pool (Darknet's avgpool): each channel's H×W plane becomes one value.
import type { AvgpoolConfig } from '../config.js';
import { heapAllocator, type Allocator, type Layer, type ParamTensor, type PassContext, type Shape } from '../layer.js';

export class AvgpoolLayer implements Layer {
  readonly type = 'avgpool' as const;
  readonly outShape: Shape;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  cost = 0;
  frozen = false;

  constructor(readonly index: number, readonly config: AvgpoolConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    this.outShape = { c: inShape.c, h: 1, w: 1 };
    this.output = alloc.f32(index, 'output', maxBatch * inShape.c);
    this.delta = alloc.f32(index, 'delta', maxBatch * inShape.c);
  }

  params(): readonly ParamTensor[] {
    return [];
  }

  initialise(): void {}

  forward(input: Float32Array, n: number, _ctx: PassContext): void {
    const spatial = this.inShape.h * this.inShape.w;
    for (let i = 0; i < n * this.inShape.c; i++) {
      let sum = 0;
      const base = i * spatial;
      for (let s = 0; s < spatial; s++) sum += input[base + s]!;
      this.output[i] = sum / spatial;
    }
  }

  backward(_input: Float32Array, inputDelta: Float32Array | null, n: number): void {
    if (!inputDelta) return;
    const spatial = this.inShape.h * this.inShape.w;
    for (let i = 0; i < n * this.inShape.c; i++) {
      const d = this.delta[i]! / spatial;
      const base = i * spatial;
      for (let s = 0; s < spatial; s++) inputDelta[base + s] = inputDelta[base + s]! + d;
    }
  }

  update(): void {}
}
