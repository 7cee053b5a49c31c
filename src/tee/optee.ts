// The `optee` transport (issue 17, milestone 3): the protected layers run in the layerlock TA of
// optee/ta inside a real OP-TEE, reached through libteec (the GlobalPlatform TEE Client API) and
// OP-TEE's Linux driver (/dev/tee0). OpteeContext presents the same TeeContextApi as the software
// TEE's TeecContext, so PartitionedNetwork drives either unchanged; `--tee optee` (or LAYERLOCK_TEE)
// selects it, the software TEE stays the default.
//
// The binding is optee/client-addon/teec_napi.c (build/Release/layerlock_teec.node), cross-compiled
// for arm64 by scripts/optee-qemu/build.sh with the libteec that build made. Command ids, parameter
// types and result codes are protocol.ts's and pass through unchanged.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  TeecContext, TeecError, TeecSharedMemory, TEE_KINDS, type ContextOptions, type TeeContextApi, type TeeKind, type TeeSessionApi,
  type TeecOperation, type Traffic,
} from './client.js';
import {
  CMD_LAST_MESSAGE, isMemrefType, isOutputType, isRegisteredMemrefType, isValueType, paramTypeAt, paramTypes, PROTOCOL_VERSION, TA_UUID,
  TEE_ERROR_BAD_STATE, TEE_ERROR_SHORT_BUFFER, TEE_SUCCESS, TEEC_MEM_INPUT, TEEC_MEM_OUTPUT, TEEC_MEMREF_PARTIAL_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_MEMREF_WHOLE,
  TEEC_ORIGIN_API, TEEC_ORIGIN_TRUSTED_APP, type TaHello,
} from './shared/protocol.js';

/** The TEE device OP-TEE's Linux driver creates; without it there is no OP-TEE to talk to. */
export const OPTEE_DEVICE = '/dev/tee0';
/** The layerlock TA's arena as scripts/optee-qemu/build.sh builds it (LAYERLOCK_OPTEE_SECURE_MEM). */
export const OPTEE_DEFAULT_SECURE_MEM = 12 * 1024 * 1024;

/** What layerlock_teec.node exports (see teec_napi.c); handles are opaque externals. */
interface Handle { readonly __teecHandle: unique symbol }
interface TeecStatus { result: number; origin: number }
interface TeecBinding {
  initializeContext(): TeecStatus & { context?: Handle };
  finalizeContext(context: Handle): void;
  openSession(context: Handle, uuid: string): TeecStatus & { session?: Handle };
  closeSession(session: Handle): void;
  registerSharedMemory(context: Handle, bytes: Uint8Array, flags: number): TeecStatus & { shm?: Handle };
  releaseSharedMemory(shm: Handle): void;
  invokeCommand(session: Handle, command: number, types: number, params: readonly (BindingParam | null)[]): TeecStatus & { values: number[]; sizes: number[] };
}
type BindingParam = { a: number; b: number } | { bytes: Uint8Array | null; size: number } | { shm: Handle; offset: number; size: number };

/** build/Release/layerlock_teec.node of this package (dist/src/tee → the package root). */
function addonPath(): string {
  return process.env['LAYERLOCK_TEEC_ADDON'] ?? join(dirname(dirname(dirname(dirname(fileURLToPath(import.meta.url))))), 'build', 'Release', 'layerlock_teec.node');
}

function loadBinding(): TeecBinding {
  // The device first: off-target (x86 CI, a laptop) that is the reason, whatever the addon's state.
  if (!existsSync(OPTEE_DEVICE)) {
    throw new Error(`--tee optee: no OP-TEE on this machine (${OPTEE_DEVICE} is missing); the optee transport runs where OP-TEE's Linux driver is loaded, e.g. the emulated board of scripts/optee-qemu (docs/optee.md)`);
  }
  const path = addonPath();
  if (!existsSync(path)) throw new Error(`--tee optee: the libteec binding ${path} is missing (scripts/optee-qemu/build.sh addons builds it for arm64)`);
  return createRequire(import.meta.url)(path) as TeecBinding;
}

function bytesOf(v: ArrayBufferView | null): Uint8Array | null {
  return v === null ? null : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export class OpteeContext implements TeeContextApi {
  readonly tee = 'optee' as const;
  /** Memory handed to OP-TEE is registered (TEEC_RegisterSharedMemory), so both worlds see one block. */
  readonly transport = 'shm' as const;
  readonly pid = undefined;
  readonly hello: TaHello;
  readonly traffic: Traffic = { framesToTa: 0, framesFromTa: 0, bytesToTa: 0, bytesFromTa: 0, sharedToTa: 0, sharedFromTa: 0, waitMs: 0 };
  private readonly registered = new Map<TeecSharedMemory, Handle>();
  private readonly sessions = new Set<OpteeSession>();
  private finalized = false;

  private constructor(readonly binding: TeecBinding, readonly handle: Handle, secureMem: number) {
    // An OP-TEE TA is no process here and runs the C layers (optee/ta), which compute what the
    // engine's reference kernels compute; its arena is fixed when the TA is built.
    this.hello = { protocol: PROTOCOL_VERSION, transport: 'shm', uuid: TA_UUID, pid: 0, kernels: 'reference (C)', threads: 1, secureMem };
  }

  /** TEEC_InitializeContext on the default TEE (/dev/tee0). */
  static async initializeContext(_opts: ContextOptions = {}): Promise<OpteeContext> {
    const binding = loadBinding();
    const r = binding.initializeContext();
    if (r.result !== TEE_SUCCESS || !r.context) throw new TeecError(r.result, r.origin, 'TEEC_InitializeContext failed');
    return new OpteeContext(binding, r.context, opteeSecureMem());
  }

  /**
   * TEEC_AllocateSharedMemory as the GP API allows a client to do it: memory of this process,
   * registered with OP-TEE (the driver pins its pages for the TA to map).
   */
  allocateSharedMemory(size: number, flags: number = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT): TeecSharedMemory {
    return this.registerSharedMemory(new Uint8Array(new ArrayBuffer(Math.max(size, 1))), flags, size);
  }

  registerSharedMemory(buffer: Uint8Array, flags: number = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT, size = buffer.byteLength): TeecSharedMemory {
    const r = this.binding.registerSharedMemory(this.handle, buffer, flags);
    if (r.result !== TEE_SUCCESS || !r.shm) throw new TeecError(r.result, r.origin, `TEEC_RegisterSharedMemory of ${buffer.byteLength} bytes failed`);
    const shm = new TeecSharedMemory(buffer, size, flags, null, null);
    this.registered.set(shm, r.shm);
    return shm;
  }

  releaseSharedMemory(shm: TeecSharedMemory): void {
    const h = this.registered.get(shm);
    if (h === undefined) return;
    this.binding.releaseSharedMemory(h);
    this.registered.delete(shm);
    shm.released = true;
  }

  /** @internal the registered handle of a block (the invoke needs it). */
  handleOf(shm: TeecSharedMemory): Handle {
    const h = this.registered.get(shm);
    if (h === undefined) throw new TeecError(TEE_ERROR_BAD_STATE, TEEC_ORIGIN_API, 'shared memory not registered with this context (or released)');
    return h;
  }

  /** TEEC_OpenSession (login public, no operation); OP-TEE loads the TA through tee-supplicant. */
  async openSession(uuid: string): Promise<TeeSessionApi> {
    const r = this.binding.openSession(this.handle, uuid);
    if (r.result !== TEE_SUCCESS || !r.session) throw new TeecError(r.result, r.origin, `TEEC_OpenSession on ${uuid} failed`);
    const s = new OpteeSession(this, r.session);
    this.sessions.add(s);
    return s;
  }

  /** @internal */
  forget(s: OpteeSession): void {
    this.sessions.delete(s);
  }

  /** TEEC_FinalizeContext, after closing what is still open (GP requires it). */
  async finalizeContext(): Promise<void> {
    if (this.finalized) return;
    this.finalized = true;
    for (const s of [...this.sessions]) await s.closeSession();
    for (const shm of [...this.registered.keys()]) this.releaseSharedMemory(shm);
    this.binding.finalizeContext(this.handle);
  }
}

export class OpteeSession implements TeeSessionApi {
  private closed = false;

  constructor(readonly context: OpteeContext, private readonly handle: Handle) {}

  /**
   * TEEC_InvokeCommand. Output values and memref sizes are written back into `op` as the software
   * client does (sizes also on SHORT_BUFFER). A failure the TA reports is thrown as TeecError with the
   * TA's words, which GP cannot carry and LAST_MESSAGE returns.
   */
  async invokeCommand(command: number, op: TeecOperation = { paramTypes: 0 }): Promise<TeecOperation> {
    if (this.closed) throw new TeecError(TEE_ERROR_BAD_STATE, TEEC_ORIGIN_API, 'the session is closed');
    const r = this.invokeRaw(command, op);
    if (r.result === TEE_SUCCESS) return op;
    const message = r.origin === TEEC_ORIGIN_TRUSTED_APP ? this.lastMessage() : '';
    throw new TeecError(r.result, r.origin, message);
  }

  private invokeRaw(command: number, op: TeecOperation): { result: number; origin: number } {
    const ctx = this.context;
    const types = op.paramTypes >>> 0;
    const params: (BindingParam | null)[] = [];
    for (let i = 0; i < 4; i++) {
      const t = paramTypeAt(types, i);
      const p = op.params?.[i];
      if (isValueType(t)) params.push({ a: p?.value?.a ?? 0, b: p?.value?.b ?? 0 });
      else if (isMemrefType(t) && !isRegisteredMemrefType(t)) {
        const ref = p?.tmpref ?? { buffer: null, size: 0 };
        params.push({ bytes: bytesOf(ref.buffer), size: ref.size });
        if (t !== TEEC_MEMREF_TEMP_OUTPUT) ctx.traffic.sharedToTa += ref.size;
      } else if (isRegisteredMemrefType(t)) {
        const ref = p?.memref;
        if (!ref) throw new TeecError(TEE_ERROR_BAD_STATE, TEEC_ORIGIN_API, `parameter ${i}: a registered memory reference without a block`);
        const whole = t === TEEC_MEMREF_WHOLE;
        params.push({ shm: ctx.handleOf(ref.parent), offset: whole ? 0 : ref.offset, size: whole ? ref.parent.size : ref.size });
        if (ref.parent.flags & TEEC_MEM_INPUT) ctx.traffic.sharedToTa += whole ? ref.parent.size : ref.size;
      } else params.push(null);
    }
    const t0 = performance.now();
    const r = ctx.binding.invokeCommand(this.handle, command, types, params);
    ctx.traffic.waitMs += performance.now() - t0;
    ctx.traffic.framesToTa++;
    ctx.traffic.framesFromTa++;
    if (r.result === TEE_SUCCESS || r.result === TEE_ERROR_SHORT_BUFFER) {
      for (let i = 0; i < 4; i++) {
        const t = paramTypeAt(types, i);
        const p = op.params?.[i];
        if (!p) continue;
        if (isValueType(t) && isOutputType(t)) p.value = { a: r.values[2 * i]!, b: r.values[2 * i + 1]! };
        const size = r.sizes[i]!;
        if (isMemrefType(t) && !isRegisteredMemrefType(t) && isOutputType(t) && p.tmpref) {
          p.tmpref.size = size;
          if (r.result === TEE_SUCCESS) ctx.traffic.sharedFromTa += size;
        } else if (isRegisteredMemrefType(t) && p.memref && (p.memref.parent.flags & TEEC_MEM_OUTPUT) && t !== TEEC_MEMREF_WHOLE && t !== TEEC_MEMREF_PARTIAL_INPUT) {
          // PARTIAL_OUTPUT/INOUT report what the TA wrote (or needs); inputs keep their size.
          p.memref.size = size;
          if (r.result === TEE_SUCCESS) ctx.traffic.sharedFromTa += size;
        }
      }
    }
    return r;
  }

  /** The TA's words for its last failure (CMD_LAST_MESSAGE; "" if even that fails). */
  private lastMessage(): string {
    let buffer = new Uint8Array(4096);
    for (let attempt = 0; attempt < 2; attempt++) {
      const op: TeecOperation = { paramTypes: paramTypes(TEEC_MEMREF_TEMP_OUTPUT), params: [{ tmpref: { buffer, size: buffer.length } }] };
      const r = this.invokeRaw(CMD_LAST_MESSAGE, op);
      const size = op.params![0]!.tmpref!.size;
      if (r.result === TEE_SUCCESS) return new TextDecoder().decode(buffer.subarray(0, size));
      if (r.result !== TEE_ERROR_SHORT_BUFFER) return '';
      buffer = new Uint8Array(size);
    }
    return '';
  }

  /** TEEC_CloseSession: never fails. */
  async closeSession(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.context.forget(this);
    this.context.binding.closeSession(this.handle);
  }
}

/** The layerlock TA's arena: fixed when build.sh built it (LAYERLOCK_OPTEE_SECURE_MEM), so --secure-mem cannot change it. */
export function opteeSecureMem(): number {
  const envMem = process.env['LAYERLOCK_OPTEE_SECURE_MEM'];
  return envMem !== undefined && envMem !== '' ? Number(envMem) : OPTEE_DEFAULT_SECURE_MEM;
}

/** --tee / LAYERLOCK_TEE, checked: 'software' (default) or 'optee'. */
export function requestedTee(opts: Pick<ContextOptions, 'tee'> = {}): TeeKind {
  const t = opts.tee ?? (process.env['LAYERLOCK_TEE'] || 'software');
  if (!(TEE_KINDS as readonly string[]).includes(t)) throw new RangeError(`--tee must be ${TEE_KINDS.join(' or ')} (got "${t}")`);
  return t as TeeKind;
}

/** A TEE client context of the requested kind: the software TA process, or OP-TEE through libteec. */
export async function openTeeContext(opts: ContextOptions = {}): Promise<TeeContextApi> {
  return requestedTee(opts) === 'optee' ? OpteeContext.initializeContext(opts) : TeecContext.initializeContext(opts);
}
