// What every layer type provides, Darknet-style: forward, backward, update, and its own buffers.
//
// Sign convention (as in Darknet): `delta` holds the NEGATIVE gradient of the loss with respect to a
// layer's output, and parameter "updates" accumulate the negative gradient summed over the batch.
// Keeping Darknet's convention means the update rule and the learning-rate scaling are Darknet's,
// so a model trained here behaves like one trained there.
import type { Kernels } from '../kernels/types.js';
import type { LayerConfig, LayerType } from './config.js';
import type { Rng } from './rng.js';

export interface Shape {
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

export function shapeSize(s: Shape): number {
  return s.c * s.h * s.w;
}

export function shapeString(s: Shape): string {
  return `${s.w}×${s.h}×${s.c}`;
}

/** Names of the buffers a layer holds, as the secure-memory accounting reports them. */
export type BufferName =
  | 'output' | 'delta'
  | 'weights' | 'weight_updates' | 'biases' | 'bias_updates'
  | 'scales' | 'scale_updates' | 'rolling_mean' | 'rolling_variance'
  | 'bn_mean' | 'bn_variance' | 'x_norm'
  | 'argmax' | 'dropout_mask';

/**
 * Where a layer's buffers come from. The normal world uses the JS heap; the TEE passes an allocator
 * that carves every buffer from its fixed-size secure-memory arena, so the budget is real and an
 * overflow can name the layer and buffer that did not fit.
 */
export interface Allocator {
  f32(layer: number, buffer: BufferName, length: number): Float32Array;
  i32(layer: number, buffer: BufferName, length: number): Int32Array;
  u8(layer: number, buffer: BufferName, length: number): Uint8Array;
}

export const heapAllocator: Allocator = {
  f32: (_l, _b, n) => new Float32Array(n),
  i32: (_l, _b, n) => new Int32Array(n),
  u8: (_l, _b, n) => new Uint8Array(n),
};

/** Per-pass information shared by all layers of a network. */
export interface PassContext {
  readonly train: boolean;
  /** One-hot (or regression) targets for the batch, n × outputs of the final layer; null at inference. */
  readonly truth: Float32Array | null;
  readonly kernels: Kernels;
  /** Seed and global iteration number: dropout derives its mask from them, so masks are reproducible. */
  readonly seed: number;
  readonly iteration: number;
}

export interface UpdateArgs {
  readonly learningRate: number;
  readonly momentum: number;
  readonly decay: number;
  /** Number of images whose gradients were accumulated since the last update. */
  readonly batch: number;
}

/** A named parameter tensor with its accumulated update (momentum buffer) when trainable. */
export interface ParamTensor {
  readonly name: 'biases' | 'scales' | 'weights' | 'rolling_mean' | 'rolling_variance';
  readonly data: Float32Array;
  /** Gradient/momentum accumulator; null for statistics that are not learned by SGD. */
  readonly updates: Float32Array | null;
}

export interface Layer {
  readonly type: LayerType;
  readonly index: number;
  readonly config: LayerConfig;
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** Largest batch the buffers hold. */
  readonly maxBatch: number;
  readonly output: Float32Array;
  readonly delta: Float32Array;
  /** Loss computed in the last forward with truth (softmax: cross-entropy sum, cost: its cost sum). */
  cost: number;
  /** Frozen layers keep their parameters; gradients still flow through them to earlier layers. */
  frozen: boolean;

  /** Parameters in Darknet's .weights order for this layer type; empty for parameter-free layers. */
  params(): readonly ParamTensor[];

  forward(input: Float32Array, n: number, ctx: PassContext): void;
  /**
   * Uses this.delta (negative gradient at the output). Accumulates parameter updates unless frozen,
   * and adds the negative gradient with respect to the input into inputDelta unless it is null
   * (null when no earlier layer needs it, which saves the work).
   */
  backward(input: Float32Array, inputDelta: Float32Array | null, n: number, ctx: PassContext): void;
  update(args: UpdateArgs): void;
  /** Draws the training-start parameters from rng and clears momentum. */
  initialise(rng: Rng): void;
}

/** Darknet's SGD step for one parameter tensor: weight decay, scaled step, momentum carry-over. */
export function sgdUpdate(p: ParamTensor, args: UpdateArgs, withDecay: boolean): void {
  const u = p.updates;
  if (!u) return;
  const w = p.data;
  const step = args.learningRate / args.batch;
  const decay = withDecay ? -args.decay * args.batch : 0;
  const m = args.momentum;
  for (let i = 0; i < w.length; i++) {
    const ui = u[i]! + decay * w[i]!;
    w[i] = w[i]! + step * ui;
    u[i] = m * ui;
  }
}
