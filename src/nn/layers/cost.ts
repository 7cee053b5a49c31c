// Darknet's cost layer: compares its input with the targets and adds scale × its delta to the
// previous layer's delta. After a softmax (which already set the cross-entropy delta) this adds
// the SSE term on top, exactly as Darknet does; we keep that so cfgs train as they do there.
import type { CostConfig } from '../config.js';
import { shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, heapAllocator, type Allocator } from '../layer.js';

export class CostLayer implements Layer {
  readonly type = 'cost' as const;
  readonly outShape: Shape;
  readonly inputs: number;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  cost = 0;
  frozen = false;

  constructor(readonly index: number, readonly config: CostConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
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
    const count = n * this.inputs;
    // The cost layer's output is its input (Darknet's network output skips cost layers).
    this.output.set(input.subarray(0, count));
    const truth = ctx.truth;
    if (!truth) return;
    let cost = 0;
    switch (this.config.costType) {
      case 'sse':
      case 'masked':
        for (let i = 0; i < count; i++) {
          // Darknet's masked cost ignores targets equal to its SECRET_NUM sentinel; plain
          // classification targets never hold it, so masked reduces to sse here.
          const d = truth[i]! - input[i]!;
          this.delta[i] = d;
          cost += d * d;
        }
        break;
      case 'L1':
        for (let i = 0; i < count; i++) {
          const d = truth[i]! - input[i]!;
          this.delta[i] = Math.sign(d);
          cost += Math.abs(d);
        }
        break;
      case 'smooth':
        for (let i = 0; i < count; i++) {
          const d = truth[i]! - input[i]!;
          const a = Math.abs(d);
          if (a < 1) {
            this.delta[i] = d;
            cost += d * d * 0.5;
          } else {
            this.delta[i] = Math.sign(d);
            cost += a - 0.5;
          }
        }
        break;
    }
    this.cost = cost;
  }

  backward(_input: Float32Array, inputDelta: Float32Array | null, n: number): void {
    if (!inputDelta) return;
    const s = this.config.scale;
    for (let i = 0; i < n * this.inputs; i++) inputDelta[i] = inputDelta[i]! + s * this.delta[i]!;
  }

  update(): void {}
}
