// Local average pool (AlexeyAB Darknet's [local_avgpool]): the max-pool's window geometry, each
// output the mean of its window. Darknet divides by the input values the window covers (padding
// excluded, ONNX count_include_pad=0); countIncludePad divides by the window clipped to the padded
// input, as PyTorch's AvgPool2d does by default (count_include_pad=True, also in ceil mode).
// Plain loops: imported models are small and this layer is rare; the max-pool has the native kernel.
import type { LocalAvgpoolConfig } from '../config.js';
import { shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, heapAllocator, type Allocator } from '../layer.js';
import { poolOutputSize } from './maxpool.js';

export class LocalAvgpoolLayer implements Layer {
  readonly type = 'local_avgpool' as const;
  readonly outShape: Shape;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  cost = 0;
  frozen = false;
  /** Per output position of one plane: its divisor (the same for every plane). */
  private readonly divisor: Float64Array;
  private readonly offset: number;

  constructor(readonly index: number, readonly config: LocalAvgpoolConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    const { size, stride, padding, ceilMode } = config;
    const outH = poolOutputSize(inShape.h, size, stride, padding, ceilMode);
    const outW = poolOutputSize(inShape.w, size, stride, padding, ceilMode);
    this.outShape = { c: inShape.c, h: outH, w: outW };
    const outputs = maxBatch * shapeSize(this.outShape);
    this.output = alloc.f32(index, 'output', outputs);
    this.delta = alloc.f32(index, 'delta', outputs);
    this.offset = -Math.trunc(padding / 2);
    this.divisor = new Float64Array(outH * outW);
    const pad = Math.trunc(padding / 2);
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const y0 = this.offset + oy * stride;
        const x0 = this.offset + ox * stride;
        let d: number;
        if (config.countIncludePad) {
          d = (Math.min(y0 + size, inShape.h + pad) - y0) * (Math.min(x0 + size, inShape.w + pad) - x0);
        } else {
          d = (Math.min(y0 + size, inShape.h) - Math.max(y0, 0)) * (Math.min(x0 + size, inShape.w) - Math.max(x0, 0));
        }
        this.divisor[oy * outW + ox] = Math.max(d, 1);
      }
    }
  }

  params(): readonly ParamTensor[] {
    return [];
  }

  initialise(): void {}

  /** Calls f(outputIndexInPlane, inputIndexInPlane) for every input value of every window. */
  private eachWindow(f: (o: number, i: number) => void): void {
    const { h: H, w: W } = this.inShape;
    const { h: OH, w: OW } = this.outShape;
    const { size, stride } = this.config;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const o = oy * OW + ox;
        for (let ky = 0; ky < size; ky++) {
          const y = this.offset + oy * stride + ky;
          if (y < 0 || y >= H) continue;
          for (let kx = 0; kx < size; kx++) {
            const x = this.offset + ox * stride + kx;
            if (x >= 0 && x < W) f(o, y * W + x);
          }
        }
      }
    }
  }

  forward(input: Float32Array, n: number, _ctx: PassContext): void {
    const inPlane = this.inShape.h * this.inShape.w;
    const outPlane = this.outShape.h * this.outShape.w;
    const sums = new Float64Array(outPlane);
    for (let p = 0; p < n * this.inShape.c; p++) {
      sums.fill(0);
      const inBase = p * inPlane;
      this.eachWindow((o, i) => { sums[o] = sums[o]! + input[inBase + i]!; });
      const outBase = p * outPlane;
      for (let o = 0; o < outPlane; o++) this.output[outBase + o] = sums[o]! / this.divisor[o]!;
    }
  }

  backward(_input: Float32Array, inputDelta: Float32Array | null, n: number): void {
    if (!inputDelta) return;
    const inPlane = this.inShape.h * this.inShape.w;
    const outPlane = this.outShape.h * this.outShape.w;
    for (let p = 0; p < n * this.inShape.c; p++) {
      const inBase = p * inPlane;
      const outBase = p * outPlane;
      this.eachWindow((o, i) => {
        inputDelta[inBase + i] = inputDelta[inBase + i]! + this.delta[outBase + o]! / this.divisor[o]!;
      });
    }
  }

  update(): void {}
}
