// The TA's process: the emulated TEE OS around the trusted application. Started by the client
// (src/tee/client.ts) with Node's permission model on — fs reads limited to the TA's code and its
// storage folder, fs writes to its storage folder, no child processes, no workers — it allocates
// the secure memory once, announces itself with a hello frame, then serves request frames from
// stdin and answers on stdout, one at a time. stdout carries frames only: console output goes to
// stderr, which the client keeps for its error messages.
//
//   node --experimental-permission … host.js --secure-mem BYTES --storage DIR --kernels auto|reference [--diagnostics]
//        [--shm-fd 3 --shm-bytes N [--mailbox]]
//
// With --shm-fd the client handed over its shared-memory pool (a memfd, inherited as that
// descriptor): the TA maps it through the native addon (so it needs --allow-addons), memref
// parameters arrive as (offset, size) into it and outputs are written there. Without it, memref
// contents travel inside the frames (the pipe transport). With --mailbox as well, request and reply
// frames travel through the mailboxes at the start of the pool (shared/mailbox.ts): the TA sleeps
// on the to-TA doorbell instead of reading stdin, which then only tells it when the client is gone.
//
// A handler that throws a TaError answers with its code. Anything else is a TA panic: the reply is
// TEE_ERROR_TARGET_DEAD and the process exits, as OP-TEE kills a panicking TA.
import { parseArgs } from 'node:util';
import type { Kernels } from '../../kernels/types.js';
import { parkThreads } from '../../kernels/native.js';
import { referenceKernels } from '../../kernels/reference.js';
import {
  PROTOCOL_VERSION, TA_UUID, TEE_ERROR_BAD_FORMAT, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_TARGET_DEAD,
  TEE_SUCCESS, TEEC_ORIGIN_COMMS, TEEC_ORIGIN_TEE, TEEC_ORIGIN_TRUSTED_APP, isMemrefType, isOutputType, paramTypeAt,
  TEEC_MEMREF_TEMP_INOUT, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_VALUE_INOUT, TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT,
  type TaHello,
} from '../shared/protocol.js';
import { Mailbox, MAILBOX_BYTES, spinMicros, TA_SPIN_US } from '../shared/mailbox.js';
import { ShmPool } from '../shared/shm.js';
import {
  decodeRequest, encodeHello, encodeReply, FrameReader, KIND_CLOSE_SESSION, KIND_OPEN_SESSION, REPLY, type ReplyFrame,
  type RequestFrame, type WireParam,
} from '../shared/wire.js';
import { Arena } from './arena.js';
import { COMMANDS } from './commands.js';
import { TaError, TrustedApp, type TaParam } from './ta.js';

const KNOWN_TYPES = new Set([TEEC_NONE, TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT, TEEC_VALUE_INOUT, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_MEMREF_TEMP_INOUT]);
/** Largest output buffer the TA accepts to fill (guards against absurd capacities). */
const MAX_OUTPUT = 1 << 30;

// stdout is the frame channel: nothing else may write there.
for (const k of ['log', 'info', 'debug', 'warn'] as const) console[k] = (...a: unknown[]) => console.error(...a);

function log(msg: string): void {
  process.stderr.write(`[ta ${process.pid}] ${msg}\n`);
}

async function loadKernels(which: string): Promise<{ kernels: Kernels; threads: number; note?: string }> {
  if (which === 'reference') return { kernels: referenceKernels, threads: 1 };
  try {
    const mod = await import('../../kernels/index.js');
    const kernels = mod.getKernels();
    const threads = kernels.name === referenceKernels.name ? 1 : Math.max(1, mod.getThreads());
    return { kernels, threads, ...(kernels === referenceKernels ? { note: 'native kernels unavailable inside the TA; using the reference kernels' } : {}) };
  } catch (e) {
    return { kernels: referenceKernels, threads: 1, note: `native kernels unavailable inside the TA (${(e as Error).message.split('\n')[0]}); using the reference kernels` };
  }
}

/** The TA's view of a request's parameters; memrefs in shared memory become views of the pool. */
function toTaParams(f: RequestFrame, pool: ShmPool | null): TaParam[] | string {
  const out: TaParam[] = [];
  for (let i = 0; i < 4; i++) {
    const w = f.params[i] ?? {};
    const t = paramTypeAt(f.paramTypes, i);
    if (t === TEEC_VALUE_INPUT || t === TEEC_VALUE_INOUT) out.push({ value: { ...w.value! } });
    else if (t === TEEC_VALUE_OUTPUT) out.push({ value: { a: 0, b: 0 } });
    else if (isMemrefType(t)) {
      const size = w.size ?? 0;
      if (t === TEEC_MEMREF_TEMP_OUTPUT && size > MAX_OUTPUT) return `output buffer ${i} is larger than ${MAX_OUTPUT} bytes`;
      if (w.shmOffset !== undefined) {
        const view = pool?.view(w.shmOffset, size) ?? null;
        if (!view) return pool ? `memref ${i} (${size} bytes at ${w.shmOffset}) is outside the shared memory` : `memref ${i} refers to shared memory, but none was mapped`;
        out.push({ memref: t === TEEC_MEMREF_TEMP_OUTPUT ? { buffer: null, size, target: view } : { buffer: view, size, ...(t === TEEC_MEMREF_TEMP_INOUT ? { target: view } : {}) } });
      } else if (t === TEEC_MEMREF_TEMP_INPUT || t === TEEC_MEMREF_TEMP_INOUT) out.push({ memref: { buffer: w.data!, size } });
      else out.push({ memref: { buffer: null, size } });
    } else out.push({});
  }
  return out;
}

function toWireOutputs(types: number, params: TaParam[], withData: boolean): WireParam[] {
  return [0, 1, 2, 3].map((i) => {
    const t = paramTypeAt(types, i);
    const p = params[i];
    if (!isOutputType(t) || !p) return {};
    if (isMemrefType(t)) {
      const m = p.memref;
      const size = m?.size ?? 0;
      // A shared-memory output is already in the pool: only its size travels.
      return withData && m?.buffer && !m.target ? { size, data: m.buffer } : { size };
    }
    return { value: p.value ?? { a: 0, b: 0 } };
  });
}

/** Maps the pool the client handed over, through the native addon, and its mailboxes when asked. */
async function mapSharedPool(fd: number, bytes: number, withMailbox: boolean): Promise<{ pool: ShmPool; mailbox: Mailbox | null }> {
  const { nativeSharedMemory } = await import('../../kernels/native.js');
  const native = nativeSharedMemory();
  if (!native) throw new Error('the shared-memory transport needs the native addon inside the TA (--allow-addons)');
  if (withMailbox && !native.doorbell) throw new Error('the mailbox control channel needs a build of the native addon with doorbells');
  const buffer = native.map(fd, bytes);
  return {
    pool: new ShmPool(buffer, native, withMailbox ? MAILBOX_BYTES : 0),
    mailbox: withMailbox ? new Mailbox(buffer, native.doorbell!, 'ta') : null,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'secure-mem': { type: 'string' },
      storage: { type: 'string' },
      kernels: { type: 'string', default: 'auto' },
      diagnostics: { type: 'boolean', default: false },
      'shm-fd': { type: 'string' },
      'shm-bytes': { type: 'string' },
      mailbox: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const secureMem = Number(values['secure-mem']);
  if (!(Number.isInteger(secureMem) && secureMem > 0)) throw new Error(`--secure-mem must be a positive number of bytes (got ${values['secure-mem']})`);
  if (!values.storage) throw new Error('--storage is required');
  const { kernels, threads, note } = await loadKernels(values.kernels ?? 'auto');
  if (values.mailbox && values['shm-fd'] === undefined) throw new Error('--mailbox needs --shm-fd');
  const shared = values['shm-fd'] !== undefined ? await mapSharedPool(Number(values['shm-fd']), Number(values['shm-bytes']), values.mailbox ?? false) : null;
  const pool = shared?.pool ?? null;
  const mailbox = shared?.mailbox ?? null;
  const arena = new Arena(secureMem);
  const ta = new TrustedApp({ arena, kernels, threads, storageDir: values.storage, diagnostics: values.diagnostics ?? false }, COMMANDS);

  const send = (buf: Buffer): void => {
    if (mailbox) mailbox.send(buf);
    else process.stdout.write(buf);
  };
  const hello: TaHello = {
    protocol: PROTOCOL_VERSION, transport: pool ? 'shm' : 'pipe', uuid: TA_UUID, pid: process.pid, kernels: kernels.name, threads, secureMem,
    ...(note ? { kernelsNote: note } : {}),
  };
  // The hello always goes on stdout: the client waits for it there, whatever the channel.
  process.stdout.write(encodeHello(hello));

  const reply = (f: Omit<ReplyFrame, 'kind'> & { kind: number }): void => {
    send(encodeReply({ ...f, kind: REPLY | f.kind }));
    // The normal world runs next: the TA's idle kernel threads sleep instead of spinning on its cores.
    parkThreads();
  };

  const handle = async (kind: number, body: Buffer): Promise<void> => {
    let req: RequestFrame;
    try {
      req = decodeRequest(kind, body);
    } catch (e) {
      const id = body.length >= 4 ? body.readUInt32LE(0) : 0;
      reply({ kind, requestId: id, result: TEE_ERROR_BAD_FORMAT, origin: TEEC_ORIGIN_COMMS, session: 0, paramTypes: 0, params: [], message: (e as Error).message });
      return;
    }
    const base = { kind, requestId: req.requestId, session: req.session, paramTypes: req.paramTypes };
    const fail = (result: number, origin: number, message: string, params: WireParam[] = []): void =>
      reply({ ...base, result, origin, params, message });
    if (kind === KIND_OPEN_SESSION) {
      if (req.uuid !== TA_UUID) return fail(TEE_ERROR_ITEM_NOT_FOUND, TEEC_ORIGIN_TEE, `no trusted application ${req.uuid}`);
      try {
        const id = ta.openSession();
        reply({ ...base, session: id, result: TEE_SUCCESS, origin: TEEC_ORIGIN_TRUSTED_APP, params: [], message: '' });
      } catch (e) {
        if (e instanceof TaError) return fail(e.code, TEEC_ORIGIN_TRUSTED_APP, e.message);
        throw e;
      }
      return;
    }
    if (kind === KIND_CLOSE_SESSION) {
      ta.closeSession(req.session);
      reply({ ...base, result: TEE_SUCCESS, origin: TEEC_ORIGIN_TEE, params: [], message: '' });
      return;
    }
    // KIND_INVOKE
    for (let i = 0; i < 4; i++) {
      const t = paramTypeAt(req.paramTypes, i);
      if (!KNOWN_TYPES.has(t)) return fail(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_TEE, `parameter ${i} has the unknown type 0x${t.toString(16)}`);
    }
    const params = toTaParams(req, pool);
    if (typeof params === 'string') return fail(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_TEE, params);
    try {
      await ta.invoke(req.session, req.command, req.paramTypes, params);
      reply({ ...base, result: TEE_SUCCESS, origin: TEEC_ORIGIN_TRUSTED_APP, params: toWireOutputs(req.paramTypes, params, true), message: '' });
    } catch (e) {
      if (e instanceof TaError) return fail(e.code, TEEC_ORIGIN_TRUSTED_APP, e.message, toWireOutputs(req.paramTypes, params, false));
      // A TA panic: answer, then die (the session and the TA instance are gone).
      const msg = `TA panic: ${(e as Error).stack ?? String(e)}`;
      log(msg);
      fail(TEE_ERROR_TARGET_DEAD, TEEC_ORIGIN_TEE, `the trusted application panicked: ${(e as Error).message}`);
      process.stdout.write('', () => process.exit(101));
      throw new PanicExit();
    }
  };

  if (mailbox) return serveMailbox(mailbox, handle);

  const reader = new FrameReader();
  let chain: Promise<void> = Promise.resolve();
  process.stdin.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (;;) {
      let f;
      try {
        f = reader.next();
      } catch (e) {
        log(`broken frame stream: ${(e as Error).message}`);
        process.exit(102);
      }
      if (!f) break;
      const { kind, body } = f;
      chain = chain.then(() => handle(kind, body)).catch((e: unknown) => {
        if (!(e instanceof PanicExit)) {
          log(`internal error: ${(e as Error).stack ?? String(e)}`);
          process.exit(103);
        }
      });
    }
  });
  process.stdin.on('end', () => {
    void chain.then(() => process.exit(0));
  });
}

class PanicExit extends Error {}

/**
 * The mailbox loop: sleep on the doorbell, handle one request, answer, repeat. Every 50 ms without
 * a request it lets the event loop run, which is where it learns that the client closed stdin
 * (finalize, or the client died): then it exits, as the stdin loop does.
 */
async function serveMailbox(mailbox: Mailbox, handle: (kind: number, body: Buffer) => Promise<void>): Promise<void> {
  let ended = false;
  process.stdin.on('data', () => {
    log('a frame arrived on stdin although the mailboxes carry the requests');
    process.exit(102);
  });
  process.stdin.on('end', () => {
    ended = true;
  });
  const spin = spinMicros(TA_SPIN_US);
  for (;;) {
    let f;
    try {
      f = mailbox.receive(spin, 50);
    } catch (e) {
      log(`broken frame in the mailbox: ${(e as Error).message}`);
      process.exit(102);
    }
    if (!f) {
      await new Promise((r) => setImmediate(r));
      if (ended) process.exit(0);
      continue;
    }
    try {
      await handle(f.kind, f.body);
    } catch (e) {
      // A panic has answered and asked to exit once stdout is flushed: let the event loop do that.
      if (e instanceof PanicExit) return;
      log(`internal error: ${(e as Error).stack ?? String(e)}`);
      process.exit(103);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[ta ${process.pid}] could not start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
