// The layerlock trusted application: GP-style entry points (open session, invoke command, close
// session) and the command table. It imports nn and kernels (the same layer code as the normal
// world) and nothing from cli, deploy or report.
//
// The handlers here are the partition commands; the deployment ones are in ./deploy.ts. Which id runs
// which handler is the explicit table of ./commands.ts, given to TrustedApp by the host: no command
// is registered as a side effect of importing a module, and an id not in the table answers
// TEE_ERROR_NOT_SUPPORTED.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { Kernels } from '../../kernels/types.js';
import { parseCfg } from '../../nn/cfg.js';
import {
  CMD_BACKWARD, CMD_CONFIGURE, CMD_DIAG_PANIC, CMD_DIAG_PROBE, CMD_EXPORT_PARAMS_PLAINTEXT, CMD_FORWARD, CMD_GET_STATS, CMD_LAST_MESSAGE,
  CMD_LOAD_PARAMS, CMD_TAKE_LOSS, CMD_TRAIN_STEP, CMD_UPDATE, commandName, DIAG_READ_FILE, DIAG_SPAWN, DIAG_WRITE_FILE, describeParamTypes,
  FLAG_ALLOW_PLAINTEXT_EXPORT, FLAG_INPUT_DELTA, FLAG_TRAIN, FORWARD_TRAIN, paramTypes, policyFromId, TA_UUID,
  TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_BUSY, TEE_ERROR_GENERIC, TEE_ERROR_ITEM_NOT_FOUND,
  TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_SHORT_BUFFER,
  TEEC_MEMREF_TEMP_INPUT as MEMREF_IN, TEEC_MEMREF_TEMP_OUTPUT as MEMREF_OUT, TEEC_NONE as NONE,
  TEEC_VALUE_INPUT as VALUE_IN, TEEC_VALUE_OUTPUT as VALUE_OUT, type TaStats,
} from '../shared/protocol.js';
import type { Arena } from './arena.js';
import { ProtectedPartition, TaError } from './partition.js';

export { TaError };

/** What the emulated platform gives the TA: its secure memory, its kernels, its storage folder. */
export interface Platform {
  arena: Arena;
  kernels: Kernels;
  threads: number;
  /** The TA's secure-storage folder (the only place it may write). */
  storageDir: string;
  /** Test-only probe commands enabled. */
  diagnostics: boolean;
}

/** A parameter as the TA sees it (TEE_Param): a value pair or a memory reference. */
export interface TaParam {
  value?: { a: number; b: number };
  /**
   * Input: the bytes (in shared memory on the shm transport: copy what must not change under you).
   * Output: set by the handler through writeOut, which copies into `target` when the memref is in
   * shared memory.
   */
  memref?: { buffer: Uint8Array | null; size: number; target?: Uint8Array };
}

export interface TaSession {
  id: number;
  partition: ProtectedPartition | null;
  /** Free slot for later modules (e.g. sealing keys of the deployment issue). */
  ext: Map<string, unknown>;
}

export type CommandHandler = (ta: TrustedApp, session: TaSession, types: number, params: TaParam[]) => void | Promise<void>;

/** The TA's command table: command id → handler (built in ./commands.ts, handed over by the host). */
export type CommandTable = ReadonlyMap<number, CommandHandler>;

/** Throws BAD_PARAMETERS unless the parameter types are one of the accepted combinations. */
export function expectTypes(cmd: number, types: number, ...accepted: number[]): void {
  if (!accepted.includes(types)) {
    throw new TaError(TEE_ERROR_BAD_PARAMETERS,
      `${commandName(cmd)} takes (${accepted.map(describeParamTypes).join(') or (')}), got (${describeParamTypes(types)})`);
  }
}

/** Writes an output memref, GP-style: too small a buffer gets SHORT_BUFFER and the size needed. */
export function writeOut(p: TaParam | undefined, bytes: Uint8Array): void {
  const m = p?.memref;
  if (!m) throw new TaError(TEE_ERROR_BAD_PARAMETERS, 'missing output buffer');
  if (bytes.length > m.size) {
    m.size = bytes.length;
    throw new TaError(TEE_ERROR_SHORT_BUFFER, `output needs ${bytes.length} bytes`);
  }
  if (m.target) m.target.set(bytes);
  else m.buffer = bytes;
  m.size = bytes.length;
}

function inBytes(p: TaParam | undefined): Uint8Array {
  return p?.memref?.buffer ?? new Uint8Array(0);
}

function configured(s: TaSession): ProtectedPartition {
  if (!s.partition) throw new TaError(TEE_ERROR_BAD_STATE, 'the session has no partition yet (CONFIGURE first)');
  return s.partition;
}

export class TrustedApp {
  readonly uuid = TA_UUID;
  private session: TaSession | null = null;
  private nextSession = 1;
  readonly commandCounts: Record<string, number> = {};
  readonly commandMs: Record<string, number> = {};
  /** The last command's failure message, for CMD_LAST_MESSAGE ('' after a success). */
  private lastMessage = '';

  constructor(readonly platform: Platform, private readonly commands: CommandTable) {}

  /** TA_OpenSessionEntryPoint: one session at a time (single-instance, single-session TA). */
  openSession(): number {
    if (this.session) throw new TaError(TEE_ERROR_BUSY, 'the TA already has an open session');
    this.session = { id: this.nextSession++, partition: null, ext: new Map() };
    return this.session.id;
  }

  /** TA_CloseSessionEntryPoint: forgets the partition and wipes the secure memory. */
  closeSession(id: number): void {
    if (this.session?.id !== id) return;
    this.session = null;
    this.platform.arena.reset();
  }

  /** TA_InvokeCommandEntryPoint. */
  async invoke(sessionId: number, cmd: number, types: number, params: TaParam[]): Promise<void> {
    const s = this.session;
    // LAST_MESSAGE reads the message the command before it left, so it is answered before anything
    // could replace it (and, as in the C TA, it is not counted).
    if (cmd === CMD_LAST_MESSAGE && s && s.id === sessionId) {
      expectTypes(cmd, types, paramTypes(MEMREF_OUT));
      writeOut(params[0], new TextEncoder().encode(this.lastMessage));
      return;
    }
    try {
      await this.dispatch(s, sessionId, cmd, types, params);
      this.lastMessage = '';
    } catch (e) {
      this.lastMessage = e instanceof TaError ? e.message : String(e);
      throw e;
    }
  }

  private async dispatch(s: TaSession | null, sessionId: number, cmd: number, types: number, params: TaParam[]): Promise<void> {
    if (!s || s.id !== sessionId) throw new TaError(TEE_ERROR_BAD_STATE, `no open session ${sessionId}`);
    const h = this.commands.get(cmd);
    if (!h) throw new TaError(TEE_ERROR_NOT_SUPPORTED, `command ${commandName(cmd)} is not supported by this TA`);
    const name = commandName(cmd);
    this.commandCounts[name] = (this.commandCounts[name] ?? 0) + 1;
    const t0 = performance.now();
    try {
      await h(this, s, types, params);
    } finally {
      this.commandMs[name] = (this.commandMs[name] ?? 0) + (performance.now() - t0);
    }
  }

  stats(s: TaSession): TaStats {
    const p = s.partition;
    const a = this.platform.arena;
    return {
      uuid: this.uuid,
      kernels: this.platform.kernels.name,
      threads: this.platform.threads,
      arena: { capacity: a.capacity, used: a.usedBytes, peak: a.peak, blocks: a.summary() },
      partition: p ? {
        start: p.spec.start, end: p.spec.end, maxBatch: p.spec.maxBatch, mode: p.spec.mode, policy: p.spec.policy, topk: p.spec.topk,
        holdsOutput: p.roles.holdsOutput, updates: p.updates,
      } : null,
      commands: { ...this.commandCounts },
      command_ms: { ...this.commandMs },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The commands (parameter layouts documented in ../shared/protocol.ts). The table that maps ids to
// them is ./commands.ts: explicit, so what the TA answers is in one list.

export const configureCommand: CommandHandler = (ta, s, types, p) => {
  expectTypes(CMD_CONFIGURE, types, paramTypes(MEMREF_IN, VALUE_IN, VALUE_IN, VALUE_IN));
  if (s.partition) throw new TaError(TEE_ERROR_BAD_STATE, 'the session is already configured (open a new session for another partition)');
  const text = Buffer.from(inBytes(p[0])).toString('utf8');
  let config;
  try {
    config = parseCfg(text, 'cfg from the normal world');
  } catch (e) {
    throw new TaError(TEE_ERROR_BAD_PARAMETERS, (e as Error).message);
  }
  const flags = p[3]!.value!.a;
  const policy = policyFromId(p[3]!.value!.b & 0xff);
  if (!policy) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `unknown output policy id ${p[3]!.value!.b & 0xff}`);
  const topk = Math.max(1, p[3]!.value!.b >>> 8);
  const maxBatch = p[2]!.value!.a;
  if (!(maxBatch >= 1 && maxBatch <= 1 << 20)) throw new TaError(TEE_ERROR_BAD_PARAMETERS, `images per forward ${maxBatch} is not within 1..${1 << 20}`);
  s.partition = new ProtectedPartition(config, {
    start: p[1]!.value!.a,
    end: p[1]!.value!.b,
    maxBatch,
    seed: p[2]!.value!.b,
    mode: flags & FLAG_TRAIN ? 'train' : 'infer',
    inputDelta: (flags & FLAG_INPUT_DELTA) !== 0,
    policy,
    topk,
    allowExport: (flags & FLAG_ALLOW_PLAINTEXT_EXPORT) !== 0,
  }, ta.platform.kernels, ta.platform.threads, ta.platform.arena);
};

export const loadParamsCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_LOAD_PARAMS, types, paramTypes(MEMREF_IN));
  configured(s).loadParams(inBytes(p[0]));
};

export const forwardCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_FORWARD, types,
    paramTypes(MEMREF_IN, VALUE_IN, NONE, MEMREF_OUT), paramTypes(MEMREF_IN, VALUE_IN, MEMREF_IN, MEMREF_OUT),
    paramTypes(MEMREF_IN, VALUE_IN, NONE, NONE), paramTypes(MEMREF_IN, VALUE_IN, MEMREF_IN, NONE));
  const part = configured(s);
  const n = p[1]!.value!.a;
  const train = (p[1]!.value!.b & FORWARD_TRAIN) !== 0;
  const labels = p[2]?.memref ? inBytes(p[2]) : null;
  const wantsOut = part.forwardOutputBytes(Math.max(1, Math.min(n, part.spec.maxBatch))) > 0;
  if (wantsOut !== (p[3]?.memref !== undefined)) {
    throw new TaError(TEE_ERROR_BAD_PARAMETERS, wantsOut ? 'FORWARD needs an output buffer (p3) for this partition' : 'nothing leaves this partition on FORWARD: p3 must be NONE');
  }
  const out = part.forward(inBytes(p[0]), n, train, labels);
  if (out) writeOut(p[3], out);
};

export const backwardCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_BACKWARD, types,
    paramTypes(MEMREF_IN, VALUE_IN, MEMREF_OUT), paramTypes(MEMREF_IN, VALUE_IN, NONE),
    paramTypes(NONE, VALUE_IN, MEMREF_OUT), paramTypes(NONE, VALUE_IN, NONE));
  const part = configured(s);
  checkGradientOut(part, p[2]);
  const g = part.backward(p[0]?.memref ? inBytes(p[0]) : null, p[1]!.value!.a);
  if (g) writeOut(p[2], g);
};

export const trainStepCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_TRAIN_STEP, types,
    paramTypes(MEMREF_IN, VALUE_IN, MEMREF_IN, MEMREF_OUT), paramTypes(MEMREF_IN, VALUE_IN, MEMREF_IN, NONE),
    paramTypes(MEMREF_IN, VALUE_IN, NONE, MEMREF_OUT), paramTypes(MEMREF_IN, VALUE_IN, NONE, NONE));
  const part = configured(s);
  if (part.roles.suffixOutside) throw new TaError(TEE_ERROR_BAD_STATE, 'layers above the partition run in the normal world: use FORWARD and BACKWARD');
  checkGradientOut(part, p[3]);
  // p1.b: the images of a deferred UPDATE, applied inside trainStep before the forward (protocol.ts).
  const g = part.trainStep(inBytes(p[0]), p[1]!.value!.a, p[2]?.memref ? inBytes(p[2]) : null, p[1]!.value!.b);
  if (g) writeOut(p[3], g);
};

function checkGradientOut(part: ProtectedPartition, out: TaParam | undefined): void {
  const needed = part.spec.mode === 'train' && part.spec.inputDelta;
  if (needed !== (out?.memref !== undefined)) {
    throw new TaError(TEE_ERROR_BAD_PARAMETERS, needed
      ? 'trainable layers below the partition need the gradient: give an output buffer for it'
      : 'no trainable layer below the partition: the gradient does not leave (no output buffer)');
  }
}

export const updateCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_UPDATE, types, paramTypes(VALUE_IN));
  configured(s).update(p[0]!.value!.a, p[0]!.value!.b);
};

export const takeLossCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_TAKE_LOSS, types, paramTypes(MEMREF_OUT));
  const r = configured(s).takeLoss();
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setFloat64(0, r.sum, true);
  dv.setFloat64(8, r.count, true);
  writeOut(p[0], out);
};

export const getStatsCommand: CommandHandler = (ta, s, types, p) => {
  expectTypes(CMD_GET_STATS, types, paramTypes(MEMREF_OUT));
  writeOut(p[0], Buffer.from(JSON.stringify(ta.stats(s)), 'utf8'));
};

export const exportPlaintextCommand: CommandHandler = (_ta, s, types, p) => {
  expectTypes(CMD_EXPORT_PARAMS_PLAINTEXT, types, paramTypes(MEMREF_OUT));
  writeOut(p[0], configured(s).exportPlaintext());
};

export const diagProbeCommand: CommandHandler = (ta, _s, types, p) => {
  if (!ta.platform.diagnostics) throw new TaError(TEE_ERROR_NOT_SUPPORTED, 'diagnostics are off');
  expectTypes(CMD_DIAG_PROBE, types, paramTypes(MEMREF_IN, VALUE_IN, VALUE_OUT));
  const path = Buffer.from(inBytes(p[0])).toString('utf8');
  const op = p[1]!.value!.a;
  try {
    let bytes = 0;
    if (op === DIAG_READ_FILE) bytes = readFileSync(path).length;
    else if (op === DIAG_WRITE_FILE) {
      writeFileSync(path, 'probe');
      bytes = 5;
    } else if (op === DIAG_SPAWN) {
      const cp = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
      cp.execFileSync(path, [], { stdio: 'ignore' });
    } else throw new TaError(TEE_ERROR_BAD_PARAMETERS, `unknown probe ${op}`);
    p[2] = { value: { a: bytes, b: 0 } };
  } catch (e) {
    if (e instanceof TaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_ACCESS_DENIED') throw new TaError(TEE_ERROR_ACCESS_DENIED, `the TA's sandbox denied it: ${(e as Error).message}`);
    if (code === 'ENOENT') throw new TaError(TEE_ERROR_ITEM_NOT_FOUND, `${path}: no such file`);
    throw new TaError(TEE_ERROR_GENERIC, (e as Error).message);
  }
};

export const diagPanicCommand: CommandHandler = (ta, _s, types, p) => {
  if (!ta.platform.diagnostics) throw new TaError(TEE_ERROR_NOT_SUPPORTED, 'diagnostics are off');
  expectTypes(CMD_DIAG_PANIC, types, paramTypes(VALUE_IN));
  if (p[0]!.value!.a === 1) process.exit(70);
  throw new Error('diagnostic panic requested by the client');
};
