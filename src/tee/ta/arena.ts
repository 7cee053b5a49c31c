// The secure-memory arena: ONE fixed-size ArrayBuffer from which every buffer of the protected
// layers is carved (weights, biases, their updates/momentum, outputs, deltas, batch-norm state,
// dropout masks, max-pool indices, the partition's I/O staging and an explicit reservation for
// each convolution's im2col workspace). Nothing is ever freed while a partition is configured, so
// the bump pointer's high-water mark is the peak; an allocation that does not fit throws
// ArenaOverflow naming the layer and buffer, which the TA turns into TEE_ERROR_OUT_OF_MEMORY.
//
// The same arena runs "dry" (no memory, unlimited capacity) as the measuring arena: the layer
// constructors run against it and it records what they would take. Tests hold the one footprint
// function (../shared/footprint.ts) — which sizes the OOM suggestions, the benchmark and `plan` —
// to exactly what this arena hands out.
import type { Allocator, BufferName } from '../../nn/layer.js';

import { ARENA_ALIGN } from '../shared/footprint.js';

export { ARENA_ALIGN };

export type BlockName = BufferName | 'workspace' | 'input' | 'input_delta' | 'top_delta' | 'truth';

export interface ArenaBlock {
  /** cfg index of the layer the block belongs to (the partition's first layer for I/O blocks). */
  layer: number;
  buffer: BlockName;
  offset: number;
  bytes: number;
}

export class ArenaOverflow extends Error {
  constructor(
    readonly layer: number,
    readonly buffer: BlockName,
    readonly needed: number,
    readonly available: number,
    readonly capacity: number,
  ) {
    super(`secure memory exhausted: layer ${layer} buffer '${buffer}' needs ${fmtBytes(needed)}, only ${fmtBytes(available)} of ${fmtBytes(capacity)} free`);
    this.name = 'ArenaOverflow';
  }
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const s = `${Math.round(n).toLocaleString('en-US')} bytes`;
  if (n >= 1 << 20) return `${s} (${(n / (1 << 20)).toFixed(2)} MiB)`;
  if (n >= 1 << 10) return `${s} (${(n / (1 << 10)).toFixed(1)} KiB)`;
  return s;
}

function alignUp(n: number): number {
  return Math.ceil(n / ARENA_ALIGN) * ARENA_ALIGN;
}

export class Arena {
  readonly capacity: number;
  /** The secure memory itself; null for a dry (measuring) arena. */
  private readonly memory: ArrayBuffer | null;
  private used = 0;
  private peakBytes = 0;
  private blockList: ArenaBlock[] = [];

  /** A real arena of `capacity` bytes, or a dry one (capacity Infinity, nothing allocated). */
  constructor(capacity: number, dry = false) {
    if (!dry && !(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`secure memory size must be a positive number of bytes (got ${capacity})`);
    this.capacity = dry ? Infinity : capacity;
    this.memory = dry ? null : new ArrayBuffer(capacity);
  }

  get dry(): boolean {
    return this.memory === null;
  }

  /** Bytes handed out (including alignment padding). */
  get usedBytes(): number {
    return this.used;
  }

  /** Highest usedBytes since the last reset. */
  get peak(): number {
    return this.peakBytes;
  }

  get blocks(): readonly ArenaBlock[] {
    return this.blockList;
  }

  /** Reserves `bytes` for (layer, buffer); returns the byte offset. Throws ArenaOverflow. */
  reserve(layer: number, buffer: BlockName, bytes: number): number {
    const size = alignUp(bytes);
    if (this.used + size > this.capacity) throw new ArenaOverflow(layer, buffer, bytes, this.capacity - this.used, this.capacity);
    const offset = this.used;
    this.used += size;
    this.peakBytes = Math.max(this.peakBytes, this.used);
    this.blockList.push({ layer, buffer, offset, bytes });
    return offset;
  }

  f32(layer: number, buffer: BlockName, length: number): Float32Array {
    const o = this.reserve(layer, buffer, length * 4);
    return this.memory ? new Float32Array(this.memory, o, length) : new Float32Array(0);
  }

  i32(layer: number, buffer: BlockName, length: number): Int32Array {
    const o = this.reserve(layer, buffer, length * 4);
    return this.memory ? new Int32Array(this.memory, o, length) : new Int32Array(0);
  }

  u8(layer: number, buffer: BlockName, length: number): Uint8Array {
    const o = this.reserve(layer, buffer, length);
    return this.memory ? new Uint8Array(this.memory, o, length) : new Uint8Array(0);
  }

  /** Frees everything: zeroes what was used (no secret outlives its partition) and forgets the blocks. */
  reset(): void {
    if (this.memory) new Uint8Array(this.memory, 0, this.used).fill(0);
    this.used = 0;
    this.peakBytes = 0;
    this.blockList = [];
  }

  /** Bytes per (layer, buffer), in allocation order: what GET_STATS reports. */
  summary(): { layer: number; buffer: string; bytes: number }[] {
    return this.blockList.map((b) => ({ layer: b.layer, buffer: b.buffer, bytes: b.bytes }));
  }
}

/** Buffers only backward/update touch: an inference-only partition does not hold them. */
export const TRAINING_ONLY_BUFFERS: ReadonlySet<BufferName> = new Set<BufferName>([
  'delta', 'weight_updates', 'bias_updates', 'scale_updates', 'x_norm', 'bn_mean', 'bn_variance', 'dropout_mask',
]);

/**
 * The layers' Allocator over an arena. In inference mode the training-only buffers are empty
 * arrays and cost nothing (the TA refuses backward/update on such a partition). Convolution
 * workspace is reserved through reserveWorkspace, right after the layer's own buffers.
 */
export function arenaAllocator(arena: Arena, mode: 'train' | 'infer'): Allocator {
  const skip = (b: BufferName): boolean => mode === 'infer' && TRAINING_ONLY_BUFFERS.has(b);
  return {
    f32: (l, b, n) => (skip(b) ? new Float32Array(0) : arena.f32(l, b, n)),
    i32: (l, b, n) => (skip(b) ? new Int32Array(0) : arena.i32(l, b, n)),
    u8: (l, b, n) => (skip(b) ? new Uint8Array(0) : arena.u8(l, b, n)),
  };
}
