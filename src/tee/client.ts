// The normal world's side: the GlobalPlatform TEE Client API shape over a transport to a separate
// Node process that hosts the TA (src/tee/ta/host.ts).
//
//   const ctx = await initializeContext({ secureMem: 16 << 20, storageDir });   // TEEC_InitializeContext
//   const s = await ctx.openSession(TA_UUID);                                  // TEEC_OpenSession
//   await s.invokeCommand(CMD_FORWARD, { paramTypes: paramTypes(...), params: [...] });  // TEEC_InvokeCommand
//   await s.closeSession();                                                    // TEEC_CloseSession
//   await ctx.finalizeContext();                                               // TEEC_FinalizeContext
//
// Errors are thrown as TeecError with the GP result code and origin. If the TA process dies (crash,
// kill, panic) every pending and later call fails with TEE_ERROR_TARGET_DEAD and this process goes
// on. Tensors cross as raw bytes in length-prefixed frames (wire.ts); with `transcript` on, every
// frame in both directions is kept byte for byte (for tests of what crosses the boundary).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  describeParamTypes, isMemrefType, isOutputType, isValueType, ORIGIN_NAMES, paramTypeAt, resultName,
  TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_COMMUNICATION, TEE_ERROR_SHORT_BUFFER, TEE_ERROR_TARGET_DEAD, TEE_SUCCESS,
  TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_ORIGIN_API, TEEC_ORIGIN_COMMS, TEEC_ORIGIN_TEE, TEEC_VALUE_OUTPUT, type TaHello,
} from './protocol.js';
import {
  decodeReply, encodeRequest, FrameReader, KIND_CLOSE_SESSION, KIND_HELLO, KIND_INVOKE, KIND_OPEN_SESSION, type ReplyFrame,
  type RequestFrame, type WireParam,
} from './wire.js';

/** TEEC_Value. */
export interface TeecValue {
  a: number;
  b: number;
}

/** TEEC_TempMemoryReference: any typed array or Buffer; size in bytes (updated for outputs). */
export interface TeecTempMemoryReference {
  buffer: ArrayBufferView | null;
  size: number;
}

/** TEEC_Parameter: a value or a temporary memory reference, as paramTypes says. */
export interface TeecParameter {
  value?: TeecValue;
  tmpref?: TeecTempMemoryReference;
}

/** TEEC_Operation: up to four parameters and their packed types (see paramTypes()). */
export interface TeecOperation {
  paramTypes: number;
  params?: TeecParameter[];
}

export class TeecError extends Error {
  constructor(readonly code: number, readonly origin: number, detail: string) {
    super(`${resultName(code)} from the ${ORIGIN_NAMES[origin] ?? `origin ${origin}`}${detail ? `: ${detail}` : ''}`);
    this.name = 'TeecError';
  }
}

export interface TranscriptEntry {
  direction: 'to-ta' | 'from-ta';
  /** Frame kind (wire.ts), replies with the REPLY bit set. */
  kind: number;
  /** Command id of an invoke (and of its reply). */
  command?: number;
  /** The whole frame, length prefix included. */
  bytes: Buffer;
}

export interface ContextOptions {
  /** Secure memory of the emulated TEE in bytes (default 16 MiB, as the paper's OP-TEE setup). */
  secureMem?: number;
  /** The TA's secure-storage folder: the only place it may write (created if missing). */
  storageDir?: string;
  /** Kernels inside the TA: 'auto' (native addon if it loads, needs --allow-addons) or 'reference'. */
  kernels?: 'auto' | 'reference';
  /** Keep every frame in both directions in ctx.transcript. */
  transcript?: boolean;
  /** Enable the TA's test-only probe commands (CMD_DIAG_*). */
  diagnostics?: boolean;
  /** Copy the TA's stderr to this process's stderr (default: when LAYERLOCK_DEBUG is set). */
  echoTaLog?: boolean;
  /** How long to wait for the TA to start (default 30 s). */
  startTimeoutMs?: number;
}

export const DEFAULT_SECURE_MEM = 16 * 1024 * 1024;

/** Bytes and frames that crossed the boundary, per direction. */
export interface Traffic {
  framesToTa: number;
  framesFromTa: number;
  bytesToTa: number;
  bytesFromTa: number;
}

/** dist/src (or src) — the root of the compiled modules this file belongs to. */
function codeRoot(): string {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

function packageRoot(): string {
  let dir = codeRoot();
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return codeRoot();
    dir = parent;
  }
}

/** node_modules/@hpke (where @hpke/core and @hpke/common live), or null if it cannot be found. */
function hpkeScopeDir(): string | null {
  try {
    return dirname(dirname(createRequire(import.meta.url).resolve('@hpke/core/package.json')));
  } catch {
    return null;
  }
}

/** The command that starts the TA: node with the permission model and exactly these allowances. */
export function taLaunch(opts: ContextOptions & { storageDir: string; secureMem: number }): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const src = codeRoot();
  const root = packageRoot();
  const kernels = opts.kernels ?? 'auto';
  const read = [join(src, 'tee'), join(src, 'nn'), join(src, 'kernels'), join(src, 'data'), join(src, 'util'), opts.storageDir];
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['LAYERLOCK_KERNELS', 'LAYERLOCK_THREADS', 'LAYERLOCK_NATIVE_ADDON']) if (process.env[k] !== undefined) env[k] = process.env[k];
  const args = ['--experimental-permission', '--disable-warning=ExperimentalWarning'];
  if (kernels === 'auto') {
    // The native kernels' addon, named by path so its loader need not search the package root
    // (existsSync throws outside the allowed paths). Addons run native code the permission model
    // cannot confine — docs/tee.md says what that means; kernels 'reference' avoids it.
    const addon = resolve(env['LAYERLOCK_NATIVE_ADDON'] ?? join(root, 'build', 'Release', 'layerlock_kernels.node'));
    if (existsSync(addon)) {
      env['LAYERLOCK_NATIVE_ADDON'] = addon;
      read.push(addon);
      args.push('--allow-addons', '--disable-warning=SecurityWarning');
    }
  }
  // The HPKE library the deployment commands use (src/tee/ta/hpke.ts): its packages, read-only.
  const hpke = hpkeScopeDir();
  if (hpke) read.push(hpke);
  for (const r of read) args.push(`--allow-fs-read=${r}`);
  args.push(`--allow-fs-write=${opts.storageDir}`);
  args.push(join(src, 'tee', 'ta', 'host.js'), '--secure-mem', String(opts.secureMem), '--storage', opts.storageDir, '--kernels', kernels);
  if (opts.diagnostics) args.push('--diagnostics');
  return { command: process.execPath, args, env };
}

interface Pending {
  resolve: (r: ReplyFrame) => void;
  reject: (e: Error) => void;
}

/** TEEC_Context: one TA process. */
export class TeecContext {
  readonly transcript: TranscriptEntry[] = [];
  readonly traffic: Traffic = { framesToTa: 0, framesFromTa: 0, bytesToTa: 0, bytesFromTa: 0 };
  readonly secureMem: number;
  readonly storageDir: string;
  private readonly child: ChildProcess;
  private readonly reader = new FrameReader();
  private readonly pending = new Map<number, Pending>();
  private readonly recording: boolean;
  private nextRequest = 1;
  private helloFrame: TaHello | null = null;
  private helloWaiters: { resolve: (h: TaHello) => void; reject: (e: Error) => void }[] = [];
  private deadReason: string | null = null;
  private stderrTail: string[] = [];
  private finalized = false;
  private readonly sessions = new Set<TeecSession>();

  private constructor(opts: ContextOptions) {
    this.secureMem = opts.secureMem ?? DEFAULT_SECURE_MEM;
    this.storageDir = resolve(opts.storageDir ?? defaultStorageDir());
    this.recording = opts.transcript ?? false;
    mkdirSync(this.storageDir, { recursive: true, mode: 0o700 });
    const launch = taLaunch({ ...opts, storageDir: this.storageDir, secureMem: this.secureMem });
    this.child = spawn(launch.command, launch.args, { env: launch.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const echo = opts.echoTaLog ?? Boolean(process.env['LAYERLOCK_DEBUG']);
    this.child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => {
      if (echo) process.stderr.write(text);
      this.stderrTail.push(...text.split('\n').filter((l) => l.trim() !== ''));
      if (this.stderrTail.length > 40) this.stderrTail.splice(0, this.stderrTail.length - 40);
    });
    // Writing to a dead TA must not crash this process: the exit handler reports it.
    this.child.stdin!.on('error', () => {});
    this.child.on('error', (e) => this.die(`could not run the TA process: ${e.message}`));
    this.child.on('exit', (code, signal) => this.die(signal ? `killed by ${signal}` : `exited with code ${code}`));
    this.setBusy(true);
  }

  /** TEEC_InitializeContext: starts the TA process and waits until it is ready. */
  static async initializeContext(opts: ContextOptions = {}): Promise<TeecContext> {
    const ctx = new TeecContext(opts);
    const timeout = opts.startTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ctx.waitHello(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_COMMS, `the TA did not start within ${timeout} ms`)), timeout);
        }),
      ]);
    } catch (e) {
      ctx.child.kill('SIGKILL');
      throw e;
    } finally {
      clearTimeout(timer);
    }
    ctx.setBusy(false);
    return ctx;
  }

  /** What the TA announced: kernels, threads, secure memory, pid. */
  get hello(): TaHello {
    if (!this.helloFrame) throw new Error('the TA has not started');
    return this.helloFrame;
  }

  /** Process id of the TA (tests kill it to check TARGET_DEAD). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.deadReason === null;
  }

  /** Why the TA is gone, or null. */
  get deathReason(): string | null {
    return this.deadReason;
  }

  /** The TA's last lines on stderr (its log). */
  get taLog(): readonly string[] {
    return this.stderrTail;
  }

  private waitHello(): Promise<TaHello> {
    if (this.helloFrame) return Promise.resolve(this.helloFrame);
    if (this.deadReason) return Promise.reject(this.startError());
    return new Promise((resolve, reject) => this.helloWaiters.push({ resolve, reject }));
  }

  private startError(): TeecError {
    const tail = this.stderrTail.slice(-3).join(' | ');
    return new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_COMMS, `the TA process could not start (${this.deadReason})${tail ? `: ${tail}` : ''}`);
  }

  private deadError(): TeecError {
    const tail = this.stderrTail.filter((l) => !l.startsWith('    at ')).slice(-2).join(' | ');
    return new TeecError(TEE_ERROR_TARGET_DEAD, TEEC_ORIGIN_TEE,
      `the trusted application is dead (TA process ${this.child.pid} ${this.deadReason}); its session is unusable${tail ? ` — TA log: ${tail}` : ''}`);
  }

  private die(reason: string): void {
    if (this.deadReason !== null) return;
    this.deadReason = reason;
    if (!this.helloFrame) {
      const e = this.startError();
      for (const w of this.helloWaiters.splice(0)) w.reject(e);
    }
    const e = this.deadError();
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.setBusy(false);
  }

  /** Keeps the event loop alive only while a call is outstanding, so a forgotten context never hangs the process. */
  private setBusy(busy: boolean): void {
    const streams = [this.child.stdout, this.child.stderr, this.child.stdin] as (Readable | Writable | null)[];
    for (const s of streams) {
      const sock = s as unknown as { ref?: () => void; unref?: () => void } | null;
      if (busy) sock?.ref?.();
      else sock?.unref?.();
    }
    if (busy) this.child.ref();
    else this.child.unref();
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (;;) {
      let f;
      try {
        f = this.reader.next();
      } catch (e) {
        this.child.kill('SIGKILL');
        this.die(`sent a broken frame (${(e as Error).message})`);
        return;
      }
      if (!f) return;
      this.traffic.framesFromTa++;
      this.traffic.bytesFromTa += f.raw.length;
      if (f.kind === KIND_HELLO) {
        if (this.recording) this.transcript.push({ direction: 'from-ta', kind: f.kind, bytes: Buffer.from(f.raw) });
        this.helloFrame = JSON.parse(f.body.toString('utf8')) as TaHello;
        for (const w of this.helloWaiters.splice(0)) w.resolve(this.helloFrame);
        continue;
      }
      let reply: ReplyFrame;
      try {
        reply = decodeReply(f.kind, f.body);
      } catch (e) {
        this.child.kill('SIGKILL');
        this.die(`sent a broken reply (${(e as Error).message})`);
        return;
      }
      const p = this.pending.get(reply.requestId);
      if (this.recording) {
        this.transcript.push({ direction: 'from-ta', kind: f.kind, bytes: Buffer.from(f.raw), ...(p ? { command: (p as Pending & { command?: number }).command } : {}) });
      }
      if (!p) continue;
      this.pending.delete(reply.requestId);
      if (this.pending.size === 0) this.setBusy(false);
      p.resolve(reply);
    }
  }

  /** Sends one request frame and waits for its reply. */
  async request(f: Omit<RequestFrame, 'requestId'>): Promise<ReplyFrame> {
    if (this.deadReason !== null) throw this.deadError();
    if (this.finalized) throw new TeecError(TEE_ERROR_BAD_STATE, TEEC_ORIGIN_API, 'the context is finalized');
    const requestId = this.nextRequest++ >>> 0;
    const bytes = encodeRequest({ ...f, requestId });
    this.traffic.framesToTa++;
    this.traffic.bytesToTa += bytes.length;
    if (this.recording) this.transcript.push({ direction: 'to-ta', kind: f.kind, bytes: Buffer.from(bytes), ...(f.kind === KIND_INVOKE ? { command: f.command } : {}) });
    const reply = new Promise<ReplyFrame>((resolve, reject) => {
      const entry: Pending & { command?: number } = { resolve, reject, command: f.command };
      this.pending.set(requestId, entry);
    });
    this.setBusy(true);
    this.child.stdin!.write(bytes);
    return reply;
  }

  /** TEEC_OpenSession (login public, no operation). */
  async openSession(uuid: string): Promise<TeecSession> {
    const r = await this.request({ kind: KIND_OPEN_SESSION, session: 0, command: 0, paramTypes: 0, uuid, params: [] });
    if (r.result !== TEE_SUCCESS) throw new TeecError(r.result, r.origin, r.message);
    const s = new TeecSession(this, r.session);
    this.sessions.add(s);
    return s;
  }

  /** @internal */
  forget(s: TeecSession): void {
    this.sessions.delete(s);
  }

  /** TEEC_FinalizeContext: closes the sessions and ends the TA process (waits for it). */
  async finalizeContext(): Promise<void> {
    if (this.finalized) return;
    for (const s of [...this.sessions]) await s.closeSession();
    this.finalized = true;
    if (this.deadReason !== null) return;
    const exited = new Promise<void>((res) => this.child.once('exit', () => res()));
    this.setBusy(true);
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export function defaultStorageDir(): string {
  const home = process.env['HOME'] ?? process.cwd();
  return join(home, '.layerlock', 'tee');
}

/** Checks an operation against its paramTypes before anything is sent (errors have origin API). */
function toWire(op: TeecOperation): WireParam[] {
  const out: WireParam[] = [];
  const bad = (i: number, why: string): never => {
    throw new TeecError(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API, `parameter ${i} (${describeParamTypes(op.paramTypes).split(', ')[i]}): ${why}`);
  };
  for (let i = 0; i < 4; i++) {
    const t = paramTypeAt(op.paramTypes, i);
    const p = op.params?.[i];
    if (t === TEEC_NONE) {
      out.push({});
    } else if (isValueType(t)) {
      if (t === TEEC_VALUE_OUTPUT) {
        out.push({});
        continue;
      }
      const v = p?.value;
      if (!v) bad(i, 'missing value');
      for (const x of [v!.a, v!.b]) if (!(Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) bad(i, `value ${x} is not a 32-bit unsigned integer`);
      out.push({ value: { a: v!.a, b: v!.b } });
    } else if (isMemrefType(t)) {
      const m = p?.tmpref;
      if (!m) bad(i, 'missing tmpref');
      const size = m!.size;
      if (!(Number.isInteger(size) && size >= 0)) bad(i, `size ${size} is not a byte count`);
      if (size > 0 && !m!.buffer) bad(i, 'NULL buffer with a non-zero size');
      if (m!.buffer && size > m!.buffer.byteLength) bad(i, `size ${size} exceeds the buffer's ${m!.buffer.byteLength} bytes`);
      if (t === TEEC_MEMREF_TEMP_OUTPUT) out.push({ size });
      else {
        const b = m!.buffer;
        out.push({ data: b ? new Uint8Array(b.buffer, b.byteOffset, size) : new Uint8Array(0), size });
      }
    } else {
      bad(i, `unknown parameter type 0x${t.toString(16)}`);
    }
  }
  return out;
}

/** TEEC_Session. */
export class TeecSession {
  private closed = false;

  constructor(readonly context: TeecContext, readonly id: number) {}

  /**
   * TEEC_InvokeCommand. Output values and memrefs are written back into `op` (memref sizes set to
   * the bytes produced, or to the size needed on TEE_ERROR_SHORT_BUFFER). Throws TeecError.
   */
  async invokeCommand(command: number, op: TeecOperation = { paramTypes: 0 }): Promise<TeecOperation> {
    if (this.closed) throw new TeecError(TEE_ERROR_BAD_STATE, TEEC_ORIGIN_API, 'the session is closed');
    const wire = toWire(op);
    const r = await this.context.request({ kind: KIND_INVOKE, session: this.id, command, paramTypes: op.paramTypes >>> 0, params: wire });
    if (r.result === TEE_SUCCESS || r.result === TEE_ERROR_SHORT_BUFFER) {
      for (let i = 0; i < 4; i++) {
        const t = paramTypeAt(op.paramTypes, i);
        if (!isOutputType(t)) continue;
        const got = r.params[i] ?? {};
        const p = op.params?.[i];
        if (isValueType(t) && got.value && p) {
          p.value = { ...got.value };
        } else if (isMemrefType(t) && p?.tmpref) {
          if (got.data) {
            const b = p.tmpref.buffer!;
            if (got.data.length > p.tmpref.size) throw new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_COMMS, `the TA wrote ${got.data.length} bytes into a ${p.tmpref.size}-byte buffer`);
            new Uint8Array(b.buffer, b.byteOffset, got.data.length).set(got.data);
          }
          p.tmpref.size = got.size ?? 0;
        }
      }
    }
    if (r.result !== TEE_SUCCESS) throw new TeecError(r.result, r.origin, r.message);
    return op;
  }

  /** TEEC_CloseSession: never fails; a dead TA has nothing left to close. */
  async closeSession(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.context.forget(this);
    if (!this.context.alive) return;
    try {
      await this.context.request({ kind: KIND_CLOSE_SESSION, session: this.id, command: 0, paramTypes: 0, params: [] });
    } catch {
      // TA died meanwhile: nothing to close.
    }
  }
}

/** TEEC_InitializeContext as a function. */
export function initializeContext(opts: ContextOptions = {}): Promise<TeecContext> {
  return TeecContext.initializeContext(opts);
}
