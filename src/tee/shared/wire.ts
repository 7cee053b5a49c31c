// The transport's byte format, shared by the client and the TA host: length-prefixed binary frames
// over the TA process's stdin/stdout pipes (the control channel). With the shared-memory transport
// a memory reference travels as an (offset, size) into the shared-memory pool both processes map;
// with the pipe transport (the fallback) its bytes travel inside the frame. Nothing is JSON but the
// small control documents (stats, hello).
//
//   frame   := u32 length (of what follows) · u8 kind · body          (little-endian throughout)
//   request := u32 requestId · u32 session · u32 command · u32 paramTypes · [16-byte UUID if OPEN] · 4 × slot
//     slot  NONE: —   VALUE_INPUT/INOUT: u32 a · u32 b   VALUE_OUTPUT: —
//           MEMREF_INPUT/INOUT:  u8 0 · u32 size · size bytes      |  u8 1 · u32 offset · u32 size   (shared)
//           MEMREF_OUTPUT:       u8 0 · u32 capacity               |  u8 1 · u32 offset · u32 capacity
//   reply   := u32 requestId · u32 result · u32 origin · u32 session · u32 paramTypes · 4 × slot · u32 n · n bytes message
//     slot  VALUE_OUTPUT/INOUT: u32 a · u32 b   MEMREF_OUTPUT/INOUT: u32 size · u8 hasData · [size bytes]   others: —
//           (a shared-memory output has no data in the frame: the TA wrote it into the pool)
//   hello   := UTF-8 JSON (TaHello), sent once by the TA when it is ready (encodeHello/decodeHello).
import {
  isInputType, isMemrefType, isOutputType, isValueType, paramTypeAt,
  TEEC_MEMREF_TEMP_INOUT, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INOUT, TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT,
  type TaHello,
} from './protocol.js';

export const KIND_OPEN_SESSION = 0x01;
export const KIND_INVOKE = 0x02;
export const KIND_CLOSE_SESSION = 0x03;
export const KIND_HELLO = 0x7f;
export const REPLY = 0x80;

/** Largest frame either side accepts (a VGG-7 CIFAR batch of 128 activations is ~8 MiB). */
export const MAX_FRAME = 1 << 30;

/** A parameter slot as it travels: a value pair, or bytes (input) / a capacity (output). */
export interface WireParam {
  value?: { a: number; b: number };
  /** Input memref content, or output memref content in a reply (pipe transport). */
  data?: Uint8Array;
  /** Memref size: input length, output capacity (request) or produced/required size (reply). */
  size?: number;
  /** Shared-memory transport: the memref's byte offset in the pool (its content is there, not here). */
  shmOffset?: number;
}

export interface RequestFrame {
  kind: typeof KIND_OPEN_SESSION | typeof KIND_INVOKE | typeof KIND_CLOSE_SESSION;
  requestId: number;
  session: number;
  command: number;
  paramTypes: number;
  uuid?: string;
  params: WireParam[];
}

export interface ReplyFrame {
  kind: number;
  requestId: number;
  result: number;
  origin: number;
  session: number;
  paramTypes: number;
  params: WireParam[];
  message: string;
}

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

class Writer {
  private parts: Uint8Array[] = [];
  private length = 0;
  u8(v: number): void {
    this.bytes(Uint8Array.of(v & 0xff));
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.bytes(b);
  }
  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  frame(kind: number): Buffer {
    const out = Buffer.allocUnsafe(5 + this.length);
    out.writeUInt32LE(1 + this.length, 0);
    out[4] = kind;
    let o = 5;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

class Reader {
  private o = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.o + n > this.buf.length) throw new WireError(`truncated frame (wanted ${n} bytes at offset ${this.o} of ${this.buf.length})`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.o++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.o, true);
    this.o += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.o, this.o + n);
    this.o += n;
    return b;
  }
  end(): void {
    if (this.o !== this.buf.length) throw new WireError(`${this.buf.length - this.o} unexpected bytes at the end of a frame`);
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function uuidBytes(uuid: string): Uint8Array {
  if (!UUID_RE.test(uuid)) throw new WireError(`"${uuid}" is not a UUID`);
  return Uint8Array.from(Buffer.from(uuid.replace(/-/g, ''), 'hex'));
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function encodeRequest(f: RequestFrame): Buffer {
  const w = new Writer();
  w.u32(f.requestId);
  w.u32(f.session);
  w.u32(f.command);
  w.u32(f.paramTypes);
  if (f.kind === KIND_OPEN_SESSION) w.bytes(uuidBytes(f.uuid ?? ''));
  for (let i = 0; i < 4; i++) {
    const t = paramTypeAt(f.paramTypes, i);
    const p = f.params[i] ?? {};
    if (t === TEEC_VALUE_INPUT || t === TEEC_VALUE_INOUT) {
      w.u32(p.value?.a ?? 0);
      w.u32(p.value?.b ?? 0);
    } else if (isMemrefType(t) && p.shmOffset !== undefined) {
      w.u8(1);
      w.u32(p.shmOffset);
      w.u32(p.size ?? 0);
    } else if (t === TEEC_MEMREF_TEMP_INPUT || t === TEEC_MEMREF_TEMP_INOUT) {
      const d = p.data ?? new Uint8Array(0);
      w.u8(0);
      w.u32(d.length);
      w.bytes(d);
    } else if (t === TEEC_MEMREF_TEMP_OUTPUT) {
      w.u8(0);
      w.u32(p.size ?? 0);
    }
    // NONE, VALUE_OUTPUT and unknown types carry nothing (the client API refuses unknown types
    // before encoding; the TA answers BAD_PARAMETERS for them).
  }
  return w.frame(f.kind);
}

/**
 * Decodes a request body (after the kind byte). Unknown parameter types are not an encoding error:
 * they decode as empty slots, and the TA answers BAD_PARAMETERS for them.
 */
export function decodeRequest(kind: number, body: Uint8Array): RequestFrame {
  if (kind !== KIND_OPEN_SESSION && kind !== KIND_INVOKE && kind !== KIND_CLOSE_SESSION) throw new WireError(`unknown request kind 0x${kind.toString(16)}`);
  const r = new Reader(body);
  const requestId = r.u32();
  const session = r.u32();
  const command = r.u32();
  const paramTypes = r.u32();
  const uuid = kind === KIND_OPEN_SESSION ? uuidString(r.bytes(16)) : undefined;
  const params: WireParam[] = [];
  for (let i = 0; i < 4; i++) {
    const t = paramTypeAt(paramTypes, i);
    if (t === TEEC_VALUE_INPUT || t === TEEC_VALUE_INOUT) params.push({ value: { a: r.u32(), b: r.u32() } });
    else if (isMemrefType(t)) {
      const where = r.u8();
      if (where === 1) params.push({ shmOffset: r.u32(), size: r.u32() });
      else if (where !== 0) throw new WireError(`memref ${i} has the unknown location ${where}`);
      else if (t === TEEC_MEMREF_TEMP_OUTPUT) params.push({ size: r.u32() });
      else {
        const n = r.u32();
        params.push({ data: r.bytes(n), size: n });
      }
    } else params.push({});
  }
  r.end();
  return { kind, requestId, session, command, paramTypes, ...(uuid !== undefined ? { uuid } : {}), params };
}

export function encodeReply(f: ReplyFrame): Buffer {
  const w = new Writer();
  w.u32(f.requestId);
  w.u32(f.result);
  w.u32(f.origin);
  w.u32(f.session);
  w.u32(f.paramTypes);
  for (let i = 0; i < 4; i++) {
    const t = paramTypeAt(f.paramTypes, i);
    const p = f.params[i] ?? {};
    if (t === TEEC_VALUE_OUTPUT || t === TEEC_VALUE_INOUT) {
      w.u32(p.value?.a ?? 0);
      w.u32(p.value?.b ?? 0);
    } else if (t === TEEC_MEMREF_TEMP_OUTPUT || t === TEEC_MEMREF_TEMP_INOUT) {
      w.u32(p.size ?? 0);
      if (p.data) {
        w.u8(1);
        w.bytes(p.data);
      } else w.u8(0);
    }
  }
  const msg = Buffer.from(f.message, 'utf8');
  w.u32(msg.length);
  w.bytes(msg);
  return w.frame(f.kind);
}

export function decodeReply(kind: number, body: Uint8Array): ReplyFrame {
  const r = new Reader(body);
  const requestId = r.u32();
  const result = r.u32();
  const origin = r.u32();
  const session = r.u32();
  const paramTypes = r.u32();
  const params: WireParam[] = [];
  for (let i = 0; i < 4; i++) {
    const t = paramTypeAt(paramTypes, i);
    if (t === TEEC_VALUE_OUTPUT || t === TEEC_VALUE_INOUT) params.push({ value: { a: r.u32(), b: r.u32() } });
    else if (t === TEEC_MEMREF_TEMP_OUTPUT || t === TEEC_MEMREF_TEMP_INOUT) {
      const size = r.u32();
      const has = r.u8();
      params.push(has ? { size, data: r.bytes(size) } : { size });
    } else params.push({});
  }
  const n = r.u32();
  const message = Buffer.from(r.bytes(n)).toString('utf8');
  r.end();
  return { kind, requestId, result, origin, session, paramTypes, params, message };
}

/** The hello frame: the TA's announcement, once, when it is ready. */
export function encodeHello(h: TaHello): Buffer {
  const w = new Writer();
  w.bytes(Buffer.from(JSON.stringify(h), 'utf8'));
  return w.frame(KIND_HELLO);
}

export function decodeHello(body: Uint8Array): TaHello {
  let h: unknown;
  try {
    h = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (e) {
    throw new WireError(`hello frame is not JSON (${(e as Error).message})`);
  }
  const o = h as Partial<TaHello> | null;
  if (!o || typeof o !== 'object' || typeof o.protocol !== 'number' || typeof o.uuid !== 'string' || (o.transport !== 'shm' && o.transport !== 'pipe')) {
    throw new WireError('hello frame lacks protocol, uuid or transport');
  }
  return o as TaHello;
}

/** Splits a byte stream into frames: push chunks in, take whole frames (kind + body) out. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or null; throws WireError on an impossible length. */
  next(): { kind: number; body: Buffer; raw: Buffer } | null {
    if (this.buffered < 4) return null;
    if (this.chunks[0]!.length < 4) this.coalesce();
    const len = this.chunks[0]!.readUInt32LE(0);
    if (len < 1 || len > MAX_FRAME) throw new WireError(`frame length ${len} is out of range`);
    if (this.buffered < 4 + len) return null;
    this.coalesce();
    const all = this.chunks[0]!;
    const raw = all.subarray(0, 4 + len);
    const rest = all.subarray(4 + len);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return { kind: raw[4]!, body: raw.subarray(5), raw };
  }

  private coalesce(): void {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
  }
}

/** Re-exported so both sides agree on what each type carries. */
export { isInputType, isMemrefType, isOutputType, isValueType };
