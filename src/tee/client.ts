// The normal world's side: the GlobalPlatform TEE Client API shape over a transport to a separate
// Node process that hosts the TA (src/tee/ta/host.ts).
//
//   const ctx = await initializeContext({ secureMem: 16 << 20, storageDir });   // TEEC_InitializeContext
//   const shm = ctx.allocateSharedMemory(bytes, TEEC_MEM_INPUT);                // TEEC_AllocateSharedMemory
//   const s = await ctx.openSession(TA_UUID);                                  // TEEC_OpenSession
//   await s.invokeCommand(CMD_FORWARD, { paramTypes: paramTypes(TEEC_MEMREF_PARTIAL_INPUT, ...),
//     params: [{ memref: { parent: shm, offset: 0, size } }, ...] });          // TEEC_InvokeCommand
//   ctx.releaseSharedMemory(shm);                                              // TEEC_ReleaseSharedMemory
//   await s.closeSession();                                                    // TEEC_CloseSession
//   await ctx.finalizeContext();                                               // TEEC_FinalizeContext
//
// Two transports. 'shm' (the default when the native addon loads): a memfd-backed pool mapped in
// both processes (shared/shm.ts); shared-memory blocks live in it, temporary memory references are
// bounced through it (as libteec does), and only commands, values and (offset, size) pairs travel
// over the control channel. 'pipe' (the fallback): memory-reference contents are copied into the
// frames. Both give the same results bit for bit (tested).
//
// The control channel of the shm transport is a pair of mailboxes with futex doorbells at the start
// of the pool (shared/mailbox.ts): the calling thread blocks in invokeCommand, spinning briefly and
// then sleeping on the doorbell, as a GP client blocks in TEEC_InvokeCommand while the secure world
// runs. LAYERLOCK_TEE_CONTROL=pipe keeps the frames on the TA's stdin/stdout instead (the event-loop
// channel, for comparison); the pipe transport always uses it. The TA's stderr and its start-up
// hello always use the pipes.
//
// Errors are thrown as TeecError with the GP result code and origin. If the TA process dies (crash,
// kill, panic) every pending and later call fails with TEE_ERROR_TARGET_DEAD and this process goes
// on. With `transcript` on, every control frame in both directions is kept byte for byte, and after
// every reply a snapshot of the shared memory in use (for tests of what crosses the boundary).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, mkdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  describeParamTypes, isMemrefType, isOutputType, isRegisteredMemrefType, isValueType, ORIGIN_NAMES, paramTypeAt, PROTOCOL_VERSION, resultName,
  TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_COMMUNICATION, TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_SHORT_BUFFER,
  TEE_ERROR_TARGET_DEAD, TEE_SUCCESS, TEEC_MEM_INPUT, TEEC_MEM_OUTPUT, TEEC_MEMREF_PARTIAL_INOUT, TEEC_MEMREF_PARTIAL_INPUT,
  TEEC_MEMREF_PARTIAL_OUTPUT, TEEC_MEMREF_TEMP_INOUT, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_MEMREF_WHOLE, TEEC_NONE,
  TEEC_ORIGIN_API, TEEC_ORIGIN_COMMS, TEEC_ORIGIN_TEE, TEEC_VALUE_OUTPUT, type TaHello, type TransportKind,
} from './shared/protocol.js';
import { parkThreads, type NativeDoorbell } from '../kernels/native.js';
import { CLIENT_SPIN_US, Mailbox, MAILBOX_BYTES, spinMicros, type MailboxFrame } from './shared/mailbox.js';
import { DEFAULT_SHM_POOL, sharedMemorySupport, ShmPool, ShmPoolExhausted } from './shared/shm.js';
import {
  decodeHello, decodeReply, encodeRequest, FrameReader, KIND_CLOSE_SESSION, KIND_HELLO, KIND_INVOKE, KIND_OPEN_SESSION, type ReplyFrame,
  type RequestFrame, type WireParam,
} from './shared/wire.js';

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

/**
 * TEEC_SharedMemory: a block both worlds can reach. Allocated blocks (allocateSharedMemory) live in
 * the shared pool and `buffer` is the mapped memory itself; registered ones (registerSharedMemory)
 * keep the caller's buffer and are copied through a pool block around each invocation (libteec's
 * shadow buffer). On the pipe transport `buffer` is ordinary memory copied into the frames.
 */
export class TeecSharedMemory {
  /** @internal offset of the pool block, or null (pipe transport). */
  poolOffset: number | null;
  released = false;

  /** @internal */
  constructor(
    /** The memory the client reads and writes. */
    readonly buffer: Uint8Array,
    readonly size: number,
    /** TEEC_MEM_INPUT | TEEC_MEM_OUTPUT. */
    readonly flags: number,
    poolOffset: number | null,
    /** @internal registered memory on the shm transport: the pool block that mirrors `buffer`. */
    readonly shadow: Uint8Array | null,
  ) {
    this.poolOffset = poolOffset;
  }

  /** The block as float32 (size must be a multiple of 4). */
  f32(count = this.size >>> 2): Float32Array {
    return new Float32Array(this.buffer.buffer, this.buffer.byteOffset, count);
  }
}

/** TEEC_RegisteredMemoryReference: `size` bytes at `offset` of a shared-memory block. */
export interface TeecRegisteredMemoryReference {
  parent: TeecSharedMemory;
  size: number;
  offset: number;
}

/** TEEC_Parameter: a value, a temporary or a registered memory reference, as paramTypes says. */
export interface TeecParameter {
  value?: TeecValue;
  tmpref?: TeecTempMemoryReference;
  memref?: TeecRegisteredMemoryReference;
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

/**
 * What the partitioned network, the reports and the benchmarks use of a TEE client: the GP TEE Client
 * API's context and session surface. Two implementations: TeecContext below (the software TEE, a TA
 * process; the default) and OpteeContext (src/tee/optee.ts: libteec and a real OP-TEE, `--tee optee`).
 */
export interface TeeSessionApi {
  invokeCommand(command: number, op?: TeecOperation): Promise<TeecOperation>;
  closeSession(): Promise<void>;
}
export interface TeeContextApi {
  /** Which TEE answers: the software TA process or OP-TEE through libteec. */
  readonly tee: TeeKind;
  readonly hello: TaHello;
  readonly transport: TransportKind;
  /** The TA's process id (software TEE only: an OP-TEE TA is no process of this OS). */
  readonly pid: number | undefined;
  readonly traffic: Traffic;
  allocateSharedMemory(size: number, flags?: number): TeecSharedMemory;
  releaseSharedMemory(shm: TeecSharedMemory): void;
  openSession(uuid: string): Promise<TeeSessionApi>;
  finalizeContext(): Promise<void>;
}
/** --tee: the software TEE (a TA process, default) or OP-TEE (libteec, /dev/tee0). */
export type TeeKind = 'software' | 'optee';
export const TEE_KINDS: readonly TeeKind[] = ['software', 'optee'];

export interface TranscriptEntry {
  /** 'shared': the shared-memory pool (its used part) right after a reply, i.e. all both worlds could see. */
  direction: 'to-ta' | 'from-ta' | 'shared';
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
  /**
   * 'shm' (shared memory; fails if the addon cannot provide it), 'pipe', or 'auto' (default: shm if
   * available, else pipe). Default from LAYERLOCK_TEE_TRANSPORT.
   */
  transport?: TransportKind | 'auto';
  /** Size of the shared-memory pool (virtual; default 512 MiB). */
  sharedPoolBytes?: number;
  /**
   * Control channel of the shm transport: 'mailbox' (doorbells in shared memory), 'pipe' (frames on
   * the TA's stdin/stdout) or 'auto' (default: mailbox when the addon has doorbells). Default from
   * LAYERLOCK_TEE_CONTROL.
   */
  control?: ControlKind | 'auto';
  /**
   * Which TEE (openTeeContext in src/tee/optee.ts): 'software' (default) or 'optee'. Default from
   * LAYERLOCK_TEE. TeecContext itself is always the software TEE.
   */
  tee?: TeeKind;
}

export type ControlKind = 'mailbox' | 'pipe';

/** The control channel a context would use: LAYERLOCK_TEE_CONTROL or 'auto'. */
export function requestedControl(opts: Pick<ContextOptions, 'control'> = {}): ControlKind | 'auto' {
  const c = opts.control ?? process.env['LAYERLOCK_TEE_CONTROL'] ?? 'auto';
  if (c !== 'mailbox' && c !== 'pipe' && c !== 'auto') throw new Error(`LAYERLOCK_TEE_CONTROL must be mailbox, pipe or auto (got "${c}")`);
  return c;
}

/** The transport a context would use: LAYERLOCK_TEE_TRANSPORT or 'auto'. */
export function requestedTransport(opts: Pick<ContextOptions, 'transport'> = {}): TransportKind | 'auto' {
  const t = opts.transport ?? process.env['LAYERLOCK_TEE_TRANSPORT'] ?? 'auto';
  if (t !== 'shm' && t !== 'pipe' && t !== 'auto') throw new Error(`LAYERLOCK_TEE_TRANSPORT must be shm, pipe or auto (got "${t}")`);
  return t;
}

export const DEFAULT_SECURE_MEM = 16 * 1024 * 1024;

/** Bytes and frames that crossed the boundary, per direction. */
export interface Traffic {
  framesToTa: number;
  framesFromTa: number;
  /** Control-channel (pipe) bytes, frames whole. */
  bytesToTa: number;
  bytesFromTa: number;
  /** Memref contents passed through shared memory (shm transport): input sizes, and output sizes produced. */
  sharedToTa: number;
  sharedFromTa: number;
  /** Wall milliseconds from sending requests to their replies (the boundary as the normal world waits on it). */
  waitMs: number;
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
export function taLaunch(opts: ContextOptions & { storageDir: string; secureMem: number; shm?: { fd: number; bytes: number; mailbox: boolean } }): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const src = codeRoot();
  const root = packageRoot();
  const kernels = opts.kernels ?? 'auto';
  const read = [join(src, 'tee'), join(src, 'nn'), join(src, 'kernels'), join(src, 'data'), join(src, 'util'), opts.storageDir];
  const env: NodeJS.ProcessEnv = {};
  // The kernels' knobs reach the TA too, so both worlds run the same kernels the same way.
  for (const k of ['LAYERLOCK_KERNELS', 'LAYERLOCK_THREADS', 'LAYERLOCK_NATIVE_ADDON', 'LAYERLOCK_SPIN_US', 'LAYERLOCK_ISA', 'LAYERLOCK_TEE_SPIN_US']) if (process.env[k] !== undefined) env[k] = process.env[k];
  const args = ['--experimental-permission', '--disable-warning=ExperimentalWarning'];
  if (kernels === 'auto' || opts.shm) {
    // The native addon (kernels, and the shared-memory mapping), named by path so its loader need
    // not search the package root (existsSync throws outside the allowed paths). Addons run native
    // code the permission model cannot confine — docs/tee.md says what that means; kernels
    // 'reference' with the pipe transport avoids it.
    const addon = resolve(env['LAYERLOCK_NATIVE_ADDON'] ?? join(root, 'build', 'Release', 'layerlock_kernels.node'));
    if (existsSync(addon)) {
      env['LAYERLOCK_NATIVE_ADDON'] = addon;
      read.push(addon);
      args.push('--allow-addons', '--disable-warning=SecurityWarning');
    }
  }
  // The HPKE library the deployment commands use (src/tee/shared/hpke.ts): its packages, read-only.
  const hpke = hpkeScopeDir();
  if (hpke) read.push(hpke);
  for (const r of read) args.push(`--allow-fs-read=${r}`);
  args.push(`--allow-fs-write=${opts.storageDir}`);
  // Profiling the TA (a development aid): V8's CPU profile of the TA process, written at its exit.
  // Node writes no profile under the permission model, so a profiled TA runs without it.
  const prof = process.env['LAYERLOCK_TA_CPU_PROF'];
  if (prof) {
    process.emitWarning('LAYERLOCK_TA_CPU_PROF: the TA runs without the permission model while it is profiled');
    const kept = args.filter((a) => !a.startsWith('--experimental-permission') && !a.startsWith('--allow-'));
    args.length = 0;
    args.push('--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`, ...kept);
  }
  args.push(join(src, 'tee', 'ta', 'host.js'), '--secure-mem', String(opts.secureMem), '--storage', opts.storageDir, '--kernels', kernels);
  if (opts.diagnostics) args.push('--diagnostics');
  // The pool's memfd arrives as the TA's file descriptor 3 (see the spawn in TeecContext).
  if (opts.shm) args.push('--shm-fd', String(opts.shm.fd), '--shm-bytes', String(opts.shm.bytes));
  if (opts.shm?.mailbox) args.push('--mailbox');
  return { command: process.execPath, args, env };
}

interface Pending {
  resolve: (r: ReplyFrame) => void;
  reject: (e: Error) => void;
}

/** TEEC_Context: one TA process. */
export class TeecContext implements TeeContextApi {
  readonly tee = 'software' as const;
  readonly transcript: TranscriptEntry[] = [];
  readonly traffic: Traffic = { framesToTa: 0, framesFromTa: 0, bytesToTa: 0, bytesFromTa: 0, sharedToTa: 0, sharedFromTa: 0, waitMs: 0 };
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
  /** The shared-memory pool (shm transport), or null (pipe). */
  readonly pool: ShmPool | null;
  /** The mailbox control channel and its doorbells, or null (frames on the pipes). */
  private readonly mailbox: Mailbox | null;
  private readonly bell: NativeDoorbell | null;
  private readonly spinUs = spinMicros(CLIENT_SPIN_US);

  private constructor(opts: ContextOptions) {
    this.secureMem = opts.secureMem ?? DEFAULT_SECURE_MEM;
    this.storageDir = resolve(opts.storageDir ?? defaultStorageDir());
    this.recording = opts.transcript ?? false;
    mkdirSync(this.storageDir, { recursive: true, mode: 0o700 });
    const want = requestedTransport(opts);
    let shm: { fd: number; bytes: number; mailbox: boolean } | undefined;
    let pool: ShmPool | null = null;
    let mailbox: Mailbox | null = null;
    let bell: NativeDoorbell | null = null;
    if (want !== 'pipe') {
      const native = sharedMemorySupport();
      if (!native && want === 'shm') {
        throw new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_API, 'the shared-memory transport needs the native addon (build it with `npm rebuild`), or use the pipe transport');
      }
      if (native) {
        const bytes = opts.sharedPoolBytes ?? DEFAULT_SHM_POOL;
        const control = requestedControl(opts);
        if (control === 'mailbox' && !native.doorbell) {
          throw new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_API, 'the mailbox control channel needs a build of the native addon with doorbells (`npm rebuild`)');
        }
        bell = control !== 'pipe' ? native.doorbell ?? null : null;
        const m = native.create(bytes);
        pool = new ShmPool(m.buffer, native, bell ? MAILBOX_BYTES : 0);
        if (bell) mailbox = new Mailbox(m.buffer, bell, 'client');
        shm = { fd: m.fd, bytes, mailbox: bell !== null };
      }
    }
    this.pool = pool;
    this.mailbox = mailbox;
    this.bell = bell;
    const launch = taLaunch({ ...opts, storageDir: this.storageDir, secureMem: this.secureMem, ...(shm ? { shm: { fd: 3, bytes: shm.bytes, mailbox: shm.mailbox } } : {}) });
    const stdio: StdioOptions = shm ? ['pipe', 'pipe', 'pipe', shm.fd] : ['pipe', 'pipe', 'pipe'];
    try {
      this.child = spawn(launch.command, launch.args, { env: launch.env, stdio });
    } finally {
      // The child has its own copy of the descriptor (as fd 3); the mapping here stays valid.
      if (shm) closeSync(shm.fd);
    }
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
    this.child.on('exit', (code, signal) => this.die(exitReason(code, signal)));
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

  /** How control frames travel: 'mailbox' (doorbells in shared memory) or 'pipe'. */
  get control(): ControlKind {
    return this.mailbox ? 'mailbox' : 'pipe';
  }

  /** How memory references travel: 'shm' or 'pipe'. */
  get transport(): TransportKind {
    return this.pool ? 'shm' : 'pipe';
  }

  /** TEEC_AllocateSharedMemory: a block of the shared pool (ordinary memory on the pipe transport). */
  allocateSharedMemory(size: number, flags: number = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT): TeecSharedMemory {
    if (!(Number.isInteger(size) && size >= 0)) throw new TeecError(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API, `shared memory size ${size} is not a byte count`);
    if ((flags & ~(TEEC_MEM_INPUT | TEEC_MEM_OUTPUT)) !== 0 || flags === 0) throw new TeecError(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API, `shared memory flags 0x${flags.toString(16)}`);
    if (!this.pool) return new TeecSharedMemory(new Uint8Array(size), size, flags, null, null);
    const offset = this.poolAlloc(size);
    return new TeecSharedMemory(this.pool.view(offset, size)!, size, flags, offset, null);
  }

  /**
   * TEEC_RegisterSharedMemory: makes the caller's buffer usable in memrefs. The emulation cannot
   * map an existing JS buffer into the TA, so (like libteec without dynamic registration) a pool
   * block mirrors it and the referenced range is copied in before and out after each invocation.
   */
  registerSharedMemory(buffer: Uint8Array, flags: number = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT): TeecSharedMemory {
    if ((flags & ~(TEEC_MEM_INPUT | TEEC_MEM_OUTPUT)) !== 0 || flags === 0) throw new TeecError(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API, `shared memory flags 0x${flags.toString(16)}`);
    if (!this.pool) return new TeecSharedMemory(buffer, buffer.length, flags, null, null);
    const offset = this.poolAlloc(buffer.length);
    return new TeecSharedMemory(buffer, buffer.length, flags, offset, this.pool.view(offset, buffer.length)!);
  }

  /** TEEC_ReleaseSharedMemory: the block goes back to the pool (zeroed). */
  releaseSharedMemory(shm: TeecSharedMemory): void {
    if (shm.released) return;
    shm.released = true;
    if (this.pool && shm.poolOffset !== null) this.pool.release(shm.poolOffset);
    shm.poolOffset = null;
  }

  private poolAlloc(size: number): number {
    try {
      return this.pool!.alloc(size);
    } catch (e) {
      if (e instanceof ShmPoolExhausted) throw new TeecError(TEE_ERROR_OUT_OF_MEMORY, TEEC_ORIGIN_API, e.message);
      throw e;
    }
  }

  /** @internal a temporary block for a TEMP memref's bounce (shm transport). */
  tempBlock(size: number): number {
    return this.poolAlloc(size);
  }

  /** @internal */
  releaseTemp(offset: number): void {
    this.pool?.release(offset);
  }

  /** @internal in transcript mode: the shared memory both worlds could see after a reply. */
  recordShared(command: number): void {
    if (!this.recording || !this.pool) return;
    this.transcript.push({ direction: 'shared', kind: 0, command, bytes: Buffer.from(this.pool.bytes.subarray(0, this.pool.highWater)) });
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
        let hello: TaHello;
        try {
          hello = decodeHello(f.body);
        } catch (e) {
          this.child.kill('SIGKILL');
          this.die(`sent a broken hello (${(e as Error).message})`);
          return;
        }
        if (hello.protocol !== PROTOCOL_VERSION) {
          // Commands change meaning between revisions (3: TRAIN_STEP carries a deferred UPDATE), so
          // a TA of another build would answer wrongly without failing.
          this.child.kill('SIGKILL');
          this.die(`speaks protocol ${hello.protocol}, the client ${PROTOCOL_VERSION}`);
          return;
        }
        if (hello.transport !== this.transport) {
          this.child.kill('SIGKILL');
          this.die(`runs the ${hello.transport} transport, the client the ${this.transport} one`);
          return;
        }
        this.helloFrame = hello;
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
    const sent = performance.now();
    if (this.mailbox) return this.callMailbox(this.mailbox, bytes, requestId, f.command, sent);
    const reply = new Promise<ReplyFrame>((resolve, reject) => {
      const entry: Pending & { command?: number } = {
        resolve: (r) => {
          this.traffic.waitMs += performance.now() - sent;
          resolve(r);
        },
        reject,
        command: f.command,
      };
      this.pending.set(requestId, entry);
    });
    this.setBusy(true);
    this.child.stdin!.write(bytes);
    // This process now waits on the TA: its idle kernel threads must not spin on the cores the TA needs.
    parkThreads();
    return reply;
  }

  /**
   * One round trip through the mailboxes: this thread blocks until the reply (or the TA's death),
   * checking every 20 ms whether the TA process has ended — its 'exit' event cannot arrive while
   * the event loop waits here. (The TA's stderr is not drained meanwhile: its log lines are few and
   * short, far below a pipe's 64 KiB.)
   */
  private callMailbox(mailbox: Mailbox, bytes: Buffer, requestId: number, command: number, sent: number): ReplyFrame {
    parkThreads();
    try {
      mailbox.send(bytes);
    } catch (e) {
      throw new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_COMMS, (e as Error).message);
    }
    let f: MailboxFrame | null = null;
    while (!f) {
      try {
        f = mailbox.receive(this.spinUs, 20);
      } catch (e) {
        this.child.kill('SIGKILL');
        this.die(`sent a broken reply (${(e as Error).message})`);
        throw this.deadError();
      }
      if (f) break;
      const ended = this.child.pid !== undefined ? this.bell!.processExit(this.child.pid) : { code: null, signal: null };
      if (ended) {
        const sig = ended.signal === null ? null : Object.entries(osConstants.signals).find(([, n]) => n === ended.signal)?.[0] ?? `signal ${ended.signal}`;
        this.die(exitReason(ended.code, sig));
        throw this.deadError();
      }
    }
    this.traffic.waitMs += performance.now() - sent;
    this.traffic.framesFromTa++;
    this.traffic.bytesFromTa += f.raw.length;
    let reply: ReplyFrame;
    try {
      reply = decodeReply(f.kind, f.body);
      if (reply.requestId !== requestId) throw new Error(`reply to request ${reply.requestId}, expected ${requestId}`);
    } catch (e) {
      this.child.kill('SIGKILL');
      this.die(`sent a broken reply (${(e as Error).message})`);
      throw this.deadError();
    }
    if (this.recording) this.transcript.push({ direction: 'from-ta', kind: f.kind, bytes: Buffer.from(f.raw), command });
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
    this.pool?.unmap();
  }
}

/** Why the TA process ended, in the words TARGET_DEAD's message uses (from the 'exit' event or a look at the process). */
function exitReason(code: number | null, signal: string | null): string {
  if (signal !== null) return `killed by ${signal}`;
  return code !== null ? `exited with code ${code}` : 'exited';
}

export function defaultStorageDir(): string {
  const home = process.env['HOME'] ?? process.cwd();
  return join(home, '.layerlock', 'tee');
}

/** Where an output memref's result goes once the reply is in. */
interface OutputSink {
  index: number;
  /** The client memory the result belongs in. */
  target: Uint8Array;
  /** Shared memory holding the result (shm transport), or null (it comes in the reply frame). */
  shared: Uint8Array | null;
  /** Writes the produced/required size back into the parameter. */
  setSize: (n: number) => void;
}

interface PreparedOp {
  /** The types the TA sees (registered memrefs translated into MEMREF_INPUT/OUTPUT/INOUT). */
  types: number;
  wire: WireParam[];
  sinks: OutputSink[];
  /** Bounce blocks of temporary memrefs, released after the reply. */
  temps: number[];
}

const TA_MEMREF: Record<number, number> = {
  [TEEC_MEMREF_PARTIAL_INPUT]: TEEC_MEMREF_TEMP_INPUT,
  [TEEC_MEMREF_PARTIAL_OUTPUT]: TEEC_MEMREF_TEMP_OUTPUT,
  [TEEC_MEMREF_PARTIAL_INOUT]: TEEC_MEMREF_TEMP_INOUT,
};

/**
 * Checks an operation against its paramTypes (errors have origin API) and lays it out for the
 * transport: values as they are; memrefs as (offset, size) in the shared pool, or as bytes.
 */
function prepare(ctx: TeecContext, op: TeecOperation): PreparedOp {
  const prep: PreparedOp = { types: 0, wire: [], sinks: [], temps: [] };
  const bad = (i: number, why: string): never => {
    for (const t of prep.temps) ctx.releaseTemp(t);
    throw new TeecError(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API, `parameter ${i} (${describeParamTypes(op.paramTypes).split(', ')[i]}): ${why}`);
  };
  const pool = ctx.pool;
  for (let i = 0; i < 4; i++) {
    const t = paramTypeAt(op.paramTypes, i);
    const p = op.params?.[i];
    if (t === TEEC_NONE) {
      prep.wire.push({});
      continue;
    }
    if (isValueType(t)) {
      prep.types |= t << (4 * i);
      if (t === TEEC_VALUE_OUTPUT) {
        prep.wire.push({});
        continue;
      }
      const v = p?.value;
      if (!v) bad(i, 'missing value');
      for (const x of [v!.a, v!.b]) if (!(Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) bad(i, `value ${x} is not a 32-bit unsigned integer`);
      prep.wire.push({ value: { a: v!.a, b: v!.b } });
      continue;
    }
    if (isMemrefType(t)) {
      // Temporary memory reference: the caller's buffer, copied through the pool (or the frame).
      const m = p?.tmpref;
      if (!m) bad(i, 'missing tmpref');
      const size = m!.size;
      if (!(Number.isInteger(size) && size >= 0)) bad(i, `size ${size} is not a byte count`);
      if (size > 0 && !m!.buffer) bad(i, 'NULL buffer with a non-zero size');
      if (m!.buffer && size > m!.buffer.byteLength) bad(i, `size ${size} exceeds the buffer's ${m!.buffer.byteLength} bytes`);
      prep.types |= t << (4 * i);
      const b = m!.buffer;
      const user = b ? new Uint8Array(b.buffer, b.byteOffset, size) : new Uint8Array(0);
      if (pool) {
        const offset = ctx.tempBlock(size);
        prep.temps.push(offset);
        const block = pool.view(offset, size)!;
        if (t !== TEEC_MEMREF_TEMP_OUTPUT) {
          block.set(user);
          ctx.traffic.sharedToTa += size;
        }
        prep.wire.push({ shmOffset: offset, size });
        if (t !== TEEC_MEMREF_TEMP_INPUT) prep.sinks.push({ index: i, target: user, shared: block, setSize: (n) => (m!.size = n) });
      } else {
        prep.wire.push(t === TEEC_MEMREF_TEMP_OUTPUT ? { size } : { data: user, size });
        if (t !== TEEC_MEMREF_TEMP_INPUT) prep.sinks.push({ index: i, target: user, shared: null, setSize: (n) => (m!.size = n) });
      }
      continue;
    }
    if (isRegisteredMemrefType(t)) {
      const r = p?.memref;
      if (!r) bad(i, 'missing memref');
      const parent = r!.parent;
      if (parent.released) bad(i, 'the shared memory was released');
      const whole = t === TEEC_MEMREF_WHOLE;
      const offset = whole ? 0 : r!.offset;
      const size = whole ? parent.size : r!.size;
      if (!(Number.isInteger(offset) && Number.isInteger(size) && offset >= 0 && size >= 0 && offset + size <= parent.size)) {
        bad(i, `${size} bytes at offset ${offset} are not inside the ${parent.size}-byte shared memory`);
      }
      const ta = whole
        ? (parent.flags === TEEC_MEM_INPUT ? TEEC_MEMREF_TEMP_INPUT : parent.flags === TEEC_MEM_OUTPUT ? TEEC_MEMREF_TEMP_OUTPUT : TEEC_MEMREF_TEMP_INOUT)
        : TA_MEMREF[t]!;
      const needs = (ta === TEEC_MEMREF_TEMP_INPUT ? TEEC_MEM_INPUT : 0) | (ta === TEEC_MEMREF_TEMP_OUTPUT ? TEEC_MEM_OUTPUT : 0) | (ta === TEEC_MEMREF_TEMP_INOUT ? TEEC_MEM_INPUT | TEEC_MEM_OUTPUT : 0);
      if ((parent.flags & needs) !== needs) bad(i, `the shared memory's flags (0x${parent.flags.toString(16)}) do not allow this direction`);
      prep.types |= ta << (4 * i);
      const user = parent.buffer.subarray(offset, offset + size);
      const setSize = (n: number): void => {
        if (!whole) r!.size = n;
      };
      if (pool && parent.poolOffset !== null) {
        // Registered memory mirrors the caller's buffer in the pool; allocated memory is the pool.
        const shared = parent.shadow ? parent.shadow.subarray(offset, offset + size) : user;
        if (parent.shadow && ta !== TEEC_MEMREF_TEMP_OUTPUT) shared.set(user);
        if (ta !== TEEC_MEMREF_TEMP_OUTPUT) ctx.traffic.sharedToTa += size;
        prep.wire.push({ shmOffset: parent.poolOffset + offset, size });
        if (ta !== TEEC_MEMREF_TEMP_INPUT) prep.sinks.push({ index: i, target: user, shared: parent.shadow ? shared : null, setSize });
      } else {
        prep.wire.push(ta === TEEC_MEMREF_TEMP_OUTPUT ? { size } : { data: user, size });
        if (ta !== TEEC_MEMREF_TEMP_INPUT) prep.sinks.push({ index: i, target: user, shared: null, setSize });
      }
      continue;
    }
    bad(i, `unknown parameter type 0x${t.toString(16)}`);
  }
  return prep;
}

/** TEEC_Session. */
export class TeecSession implements TeeSessionApi {
  private closed = false;

  constructor(readonly context: TeecContext, readonly id: number) {}

  /**
   * TEEC_InvokeCommand. Output values and memrefs are written back into `op` (memref sizes set to
   * the bytes produced, or to the size needed on TEE_ERROR_SHORT_BUFFER). Throws TeecError.
   */
  async invokeCommand(command: number, op: TeecOperation = { paramTypes: 0 }): Promise<TeecOperation> {
    if (this.closed) throw new TeecError(TEE_ERROR_BAD_STATE, TEEC_ORIGIN_API, 'the session is closed');
    const prep = prepare(this.context, op);
    let r: ReplyFrame;
    try {
      r = await this.context.request({ kind: KIND_INVOKE, session: this.id, command, paramTypes: prep.types >>> 0, params: prep.wire });
      if (r.result === TEE_SUCCESS || r.result === TEE_ERROR_SHORT_BUFFER) {
        for (let i = 0; i < 4; i++) {
          const t = paramTypeAt(prep.types, i);
          const p = op.params?.[i];
          if (isValueType(t) && isOutputType(t) && p) {
            const got = r.params[i]?.value;
            if (got) p.value = { ...got };
          }
        }
        for (const sink of prep.sinks) {
          const got = r.params[sink.index] ?? {};
          const size = got.size ?? 0;
          if (r.result === TEE_SUCCESS) {
            if (size > sink.target.length) throw new TeecError(TEE_ERROR_COMMUNICATION, TEEC_ORIGIN_COMMS, `the TA wrote ${size} bytes into a ${sink.target.length}-byte buffer`);
            if (got.data) sink.target.set(got.data.subarray(0, size));
            else {
              if (sink.shared && sink.shared !== sink.target) sink.target.set(sink.shared.subarray(0, size));
              if (this.context.pool) this.context.traffic.sharedFromTa += size;
            }
          }
          sink.setSize(size);
        }
      }
      this.context.recordShared(command);
    } finally {
      for (const t of prep.temps) this.context.releaseTemp(t);
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
