// The shared-memory pool of the emulated TEE: OP-TEE's reserved non-secure memory that both worlds
// map. The normal world creates it (a memfd through the native addon), hands its descriptor to the
// TA process at start, and carves TEEC_AllocateSharedMemory blocks (and the bounce buffers of
// temporary memory references) out of it; a memory-reference parameter is then just an offset and
// a size on the control channel. The TA maps the same pages, reads its inputs and writes its
// outputs there, and copies whatever it keeps into its secure-memory arena — shared memory is never
// secure memory and never counts against the arena's budget.
import { nativeSharedMemory, type NativeSharedMemory } from '../../kernels/native.js';

/** Blocks start on a cache line, so float32 views are aligned and blocks never share a line. */
export const SHM_ALIGN = 64;

/** Default pool size: virtual (the memfd is sparse) — only the pages a block touches cost memory. */
export const DEFAULT_SHM_POOL = 512 * 1024 * 1024;

export function shmAlign(n: number): number {
  return Math.ceil(n / SHM_ALIGN) * SHM_ALIGN;
}

/** The addon's memfd functions, or null (no addon, not Linux): the transport then falls back to the pipe. */
export function sharedMemorySupport(): NativeSharedMemory | null {
  return nativeSharedMemory();
}

export class ShmPoolExhausted extends Error {
  constructor(readonly wanted: number, readonly capacity: number) {
    super(`the shared-memory pool (${capacity} bytes) has no free block of ${wanted} bytes`);
    this.name = 'ShmPoolExhausted';
  }
}

/** A mapped pool: byte views by (offset, size), bounds-checked; the normal world also allocates from it. */
export class ShmPool {
  readonly bytes: Uint8Array;
  /** Free extents, sorted by offset, coalesced. */
  private free: { offset: number; size: number }[];
  private readonly sizes = new Map<number, number>();
  private top = 0;

  /**
   * `reserved` bytes at the start belong to the control channel's mailboxes (mailbox.ts): never
   * allocated, and no memory reference may point into them.
   */
  constructor(readonly buffer: ArrayBuffer, private readonly native: NativeSharedMemory | null, readonly reserved = 0) {
    if (!(Number.isInteger(reserved) && reserved >= 0 && reserved % SHM_ALIGN === 0 && reserved <= buffer.byteLength)) {
      throw new Error(`reserved prefix ${reserved} is not an aligned part of the pool`);
    }
    this.bytes = new Uint8Array(buffer);
    this.free = reserved < buffer.byteLength ? [{ offset: reserved, size: buffer.byteLength - reserved }] : [];
    this.top = reserved;
  }

  get capacity(): number {
    return this.bytes.length;
  }

  /** One past the highest byte ever handed out: everything either world may have written is below it. */
  get highWater(): number {
    return this.top;
  }

  /** The bytes [offset, offset + size), or null when that is not inside the pool. */
  view(offset: number, size: number): Uint8Array | null {
    if (!(Number.isInteger(offset) && Number.isInteger(size) && offset >= this.reserved && size >= 0 && offset + size <= this.bytes.length)) return null;
    return this.bytes.subarray(offset, offset + size);
  }

  /** First-fit allocation of `size` bytes (at least one line); returns the offset. */
  alloc(size: number): number {
    const want = shmAlign(Math.max(1, size));
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i]!;
      if (f.size < want) continue;
      const offset = f.offset;
      if (f.size === want) this.free.splice(i, 1);
      else this.free[i] = { offset: f.offset + want, size: f.size - want };
      this.sizes.set(offset, want);
      this.top = Math.max(this.top, offset + want);
      return offset;
    }
    throw new ShmPoolExhausted(want, this.bytes.length);
  }

  /** Returns a block to the pool. Its bytes are zeroed first: a later block never shows an old one's data. */
  release(offset: number): void {
    const size = this.sizes.get(offset);
    if (size === undefined) return;
    this.sizes.delete(offset);
    this.bytes.fill(0, offset, offset + size);
    let i = 0;
    while (i < this.free.length && this.free[i]!.offset < offset) i++;
    this.free.splice(i, 0, { offset, size });
    // Coalesce with the neighbours.
    if (i + 1 < this.free.length && this.free[i]!.offset + this.free[i]!.size === this.free[i + 1]!.offset) {
      this.free[i]!.size += this.free[i + 1]!.size;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1]!.offset + this.free[i - 1]!.size === this.free[i]!.offset) {
      this.free[i - 1]!.size += this.free[i]!.size;
      this.free.splice(i, 1);
    }
  }

  /** Unmaps the pool now (later access throws: the ArrayBuffer is detached). */
  unmap(): void {
    this.native?.release(this.buffer);
  }
}
