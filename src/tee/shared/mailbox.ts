// The control channel of the shared-memory transport: two one-frame mailboxes at the start of the
// pool, each with a doorbell (a futex word, src/kernels/native/doorbell.cc). The client writes a
// request frame into the to-TA box and rings; the TA, waiting on that bell, copies the frame out,
// handles it, writes its reply into the from-TA box and rings back. Requests and replies strictly
// alternate (one outstanding request per context, as a GP client thread blocks in
// TEEC_InvokeCommand), so one slot per direction is enough.
//
// Why not the pipe: a frame through the pipe wakes the other process's event loop, and the reply
// wakes this one's — two epoll wake-ups and two rounds of stream machinery per round trip, ~0.3 ms
// here, and the main part of the emulated TEE's fixed cost per training batch. A doorbell lets the
// waiting side spin briefly and then sleep on the word itself, as OP-TEE's normal world sleeps in
// the driver until the SMC returns.
//
// The frames are the wire.ts frames byte for byte (the transcript and the traffic counters do not
// change). A received frame is copied out of shared memory before it is decoded, so the other
// process cannot change it while it is being checked.
import type { NativeDoorbell } from '../../kernels/native.js';
import { MAX_FRAME, WireError } from './wire.js';

/** Largest control frame a mailbox holds; control frames on the shm transport are a few hundred bytes. */
export const MAILBOX_FRAME = 256 * 1024;
const HEADER = 4096;
const TO_TA = { bell: 0, length: 128, data: HEADER };
const FROM_TA = { bell: 64, length: 192, data: HEADER + MAILBOX_FRAME };
/** Bytes at the start of the pool the mailboxes take (the pool's allocator starts after them). */
export const MAILBOX_BYTES = HEADER + 2 * MAILBOX_FRAME;

/** How long the client spins for a reply before it sleeps on the doorbell (most small commands answer within it). */
export const CLIENT_SPIN_US = 50;
/** How long the TA spins for the next request after a reply (catches back-to-back commands). */
export const TA_SPIN_US = 50;

/** A side's spin: LAYERLOCK_TEE_SPIN_US (both sides; 0 = sleep at once) or the side's default. */
export function spinMicros(fallback: number): number {
  const v = process.env['LAYERLOCK_TEE_SPIN_US'];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= 0 && n <= 1e6)) throw new Error(`LAYERLOCK_TEE_SPIN_US must be 0…1000000 microseconds (got "${v}")`);
  return n;
}

export interface MailboxFrame {
  kind: number;
  body: Buffer;
  raw: Buffer;
}

/** One side's end of the two mailboxes. */
export class Mailbox {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly outbox: typeof TO_TA;
  private readonly inbox: typeof TO_TA;
  /** The inbox bell's value when its last frame was taken. */
  private seen: number;

  constructor(private readonly buffer: ArrayBuffer, private readonly bell: NativeDoorbell, side: 'client' | 'ta') {
    if (buffer.byteLength < MAILBOX_BYTES) throw new Error(`the shared memory (${buffer.byteLength} bytes) is too small for the mailboxes`);
    this.words = new Int32Array(buffer, 0, HEADER / 4);
    this.bytes = new Uint8Array(buffer, 0, MAILBOX_BYTES);
    this.outbox = side === 'client' ? TO_TA : FROM_TA;
    this.inbox = side === 'client' ? FROM_TA : TO_TA;
    this.seen = this.words[this.inbox.bell / 4]!;
  }

  /** Puts a whole frame (length prefix included) into the outbox and rings its bell. */
  send(frame: Uint8Array): void {
    if (frame.length > MAILBOX_FRAME) throw new WireError(`a control frame of ${frame.length} bytes does not fit the mailbox (${MAILBOX_FRAME})`);
    this.bytes.set(frame, this.outbox.data);
    this.words[this.outbox.length / 4] = frame.length;
    this.bell.ring(this.buffer, this.outbox.bell);
  }

  /**
   * Waits up to timeoutMs (spinning the first spinUs) for the inbox's next frame; null at the
   * timeout. Throws WireError on a malformed frame.
   */
  receive(spinUs: number, timeoutMs: number): MailboxFrame | null {
    const now = this.bell.wait(this.buffer, this.inbox.bell, this.seen, spinUs, timeoutMs);
    if (now === this.seen) return null;
    this.seen = now;
    const n = this.words[this.inbox.length / 4]! >>> 0;
    if (n < 5 || n > MAILBOX_FRAME) throw new WireError(`mailbox frame of ${n} bytes is out of range`);
    const raw = Buffer.from(this.bytes.subarray(this.inbox.data, this.inbox.data + n));
    const len = raw.readUInt32LE(0);
    if (len < 1 || len > MAX_FRAME || len + 4 !== n) throw new WireError(`mailbox frame length ${len} does not match its ${n} bytes`);
    return { kind: raw[4]!, body: raw.subarray(5), raw };
  }
}
