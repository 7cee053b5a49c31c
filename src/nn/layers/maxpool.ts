// Max-pool with Darknet's geometry: total padding `padding` (default size-1), window origin at
// -padding/2, out = (in + padding - size) / stride + 1. That rounding is what makes VGG-7's
// spatial sizes 28→14→7→4. With ceilMode (imported PyTorch/ONNX pools) the window origin is the same
// -padding/2 and only the output size is rounded up, so the kernels need no other change.
import type { PoolGeometry } from '../../kernels/types.js';
import type { MaxpoolConfig } from '../config.js';
import { shapeSize, type Layer, type ParamTensor, type PassContext, type Shape, heapAllocator, type Allocator } from '../layer.js';

/**
 * Output size of a pool along one axis. Darknet: floor((in + padding - size) / stride) + 1.
 * ceil mode is PyTorch's (and ONNX's) rule with padding/2 on each side: round up, but drop a last
 * window that would start beyond the input and its left padding.
 */
export function poolOutputSize(inSize: number, size: number, stride: number, padding: number, ceilMode = false): number {
  if (!ceilMode) return Math.floor((inSize + padding - size) / stride) + 1;
  const pad = Math.trunc(padding / 2);
  let out = Math.ceil((inSize + 2 * pad - size) / stride) + 1;
  if ((out - 1) * stride >= inSize + pad) out--;
  return out;
}

export class MaxpoolLayer implements Layer {
  readonly type = 'maxpool' as const;
  readonly outShape: Shape;
  readonly geometry: PoolGeometry;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  readonly argmax: Int32Array;
  cost = 0;
  frozen = false;

  constructor(readonly index: number, readonly config: MaxpoolConfig, readonly inShape: Shape, readonly maxBatch: number, alloc: Allocator = heapAllocator) {
    const { size, stride, padding } = config;
    const outH = poolOutputSize(inShape.h, size, stride, padding, config.ceilMode);
    const outW = poolOutputSize(inShape.w, size, stride, padding, config.ceilMode);
    this.outShape = { c: inShape.c, h: outH, w: outW };
    this.geometry = {
      channels: inShape.c, height: inShape.h, width: inShape.w,
      size, stride, padding, outHeight: outH, outWidth: outW,
    };
    const outputs = maxBatch * shapeSize(this.outShape);
    this.output = alloc.f32(index, 'output', outputs);
    this.delta = alloc.f32(index, 'delta', outputs);
    this.argmax = alloc.i32(index, 'argmax', outputs);
  }

  params(): readonly ParamTensor[] {
    return [];
  }

  initialise(): void {}

  forward(input: Float32Array, n: number, ctx: PassContext): void {
    ctx.kernels.maxpoolForward(this.geometry, n, input, this.output, this.argmax);
  }

  backward(_input: Float32Array, inputDelta: Float32Array | null, n: number, ctx: PassContext): void {
    if (inputDelta) ctx.kernels.maxpoolBackward(n * shapeSize(this.outShape), this.delta, this.argmax, inputDelta);
  }

  update(): void {}
}
