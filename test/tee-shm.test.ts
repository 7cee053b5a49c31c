// The shared-memory transport: the pool allocator, the GP shared-memory API (allocate, register,
// release; WHOLE and PARTIAL memrefs) against a real TA on both transports with the same results,
// and the errors for references outside a block, the wrong direction, or outside the pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getKernels } from '../src/kernels/index.js';
import { initializeContext, TeecError, type TeecContext, type TeecOperation } from '../src/tee/client.js';
import {
  CMD_CONFIGURE, CMD_FORWARD, paramTypes, TA_UUID, TEE_ERROR_BAD_PARAMETERS, TEEC_MEM_INPUT, TEEC_MEM_OUTPUT, TEEC_MEMREF_PARTIAL_INPUT,
  TEEC_MEMREF_PARTIAL_OUTPUT, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_MEMREF_WHOLE, TEEC_NONE, TEEC_ORIGIN_API, TEEC_ORIGIN_TEE,
  TEEC_VALUE_INPUT, type ParamType,
} from '../src/tee/shared/protocol.js';
import { nativeSharedMemory } from '../src/kernels/native.js';
import { Mailbox, MAILBOX_BYTES, MAILBOX_FRAME } from '../src/tee/shared/mailbox.js';
import { SHM_ALIGN, ShmPool, ShmPoolExhausted } from '../src/tee/shared/shm.js';
import { decodeHello, encodeHello, FrameReader, KIND_HELLO, KIND_INVOKE, WireError } from '../src/tee/shared/wire.js';

const CFG_PATH = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const taKernels = getKernels().name === 'reference' ? 'reference' as const : 'auto' as const;
let dir = '';
let cfgText = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-shm-'));
  cfgText = await readFile(CFG_PATH, 'utf8');
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rejectsWith(code: number, origin: number): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof TeecError, `expected a TeecError, got ${String(e)}`);
    assert.equal(e.code >>> 0, code >>> 0, e.message);
    assert.equal(e.origin, origin, e.message);
    return true;
  };
}

test('pool: blocks are aligned, never overlap, come back zeroed and coalesce; an exhausted pool says so', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.boolean()), { minLength: 1, maxLength: 60 }), (ops) => {
    const pool = new ShmPool(new ArrayBuffer(64 * 1024), null);
    const live = new Map<number, number>();
    for (const [size, free] of ops) {
      if (free && live.size > 0) {
        const [off] = live.keys();
        pool.release(off!);
        live.delete(off!);
        continue;
      }
      let off: number;
      try {
        off = pool.alloc(size);
      } catch (e) {
        assert.ok(e instanceof ShmPoolExhausted);
        continue;
      }
      assert.equal(off % SHM_ALIGN, 0);
      for (const [o, s] of live) assert.ok(off + size <= o || o + s <= off, `block ${off}+${size} overlaps ${o}+${s}`);
      assert.ok(pool.view(off, size)!.every((b) => b === 0), 'a new block shows no earlier data');
      pool.view(off, size)!.fill(0xab);
      live.set(off, Math.max(1, size));
    }
    for (const off of [...live.keys()]) pool.release(off);
    // Everything coalesced again: the whole pool is one block.
    assert.equal(pool.alloc(64 * 1024), 0);
  }));
  const pool = new ShmPool(new ArrayBuffer(1024), null);
  assert.throws(() => pool.alloc(2048), ShmPoolExhausted);
  assert.equal(pool.view(1000, 100), null, 'views outside the pool are refused');
});

test('hello frame: encoded and decoded in one place; a hello without its transport is refused', () => {
  const hello = { protocol: 2, transport: 'shm' as const, uuid: TA_UUID, pid: 1, kernels: 'x', threads: 1, secureMem: 16 };
  const r = new FrameReader();
  r.push(encodeHello(hello));
  assert.deepEqual(decodeHello(r.next()!.body), hello);
  assert.throws(() => decodeHello(Buffer.from(JSON.stringify({ protocol: 2, uuid: TA_UUID }))), WireError);
  assert.throws(() => decodeHello(Buffer.from('{')), WireError);
});

/** FORWARD of layers 9:13 (FC-64 … cost, top1) on 3 images, with the memrefs given; returns the classes. */
async function forwardClasses(ctx: TeecContext, style: 'temp' | 'allocated' | 'registered'): Promise<number[]> {
  const s = await ctx.openSession(TA_UUID);
  const blocks = [];
  try {
    const cfg = Buffer.from(cfgText);
    const act = new Float32Array(3 * 512).map((_, i) => Math.sin(i) * 0.5);
    const actBytes = new Uint8Array(act.buffer);
    let configure: TeecOperation;
    let forward: TeecOperation;
    let read: () => number[];
    const values = [{ value: { a: 9, b: 13 } }, { value: { a: 4, b: 1 } }, { value: { a: 1, b: 0 } }];
    if (style === 'temp') {
      configure = { paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT), params: [{ tmpref: { buffer: cfg, size: cfg.length } }, ...values] };
      const out = new Int32Array(4);
      forward = {
        paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_MEMREF_TEMP_OUTPUT),
        params: [{ tmpref: { buffer: actBytes, size: actBytes.length } }, { value: { a: 3, b: 0 } }, {}, { tmpref: { buffer: out, size: 16 } }],
      };
      read = () => [...out.subarray(0, 3)];
    } else {
      // The cfg as a WHOLE input-only block; the activation and the classes inside one in/out block, at offsets.
      const cfgShm = style === 'allocated' ? ctx.allocateSharedMemory(cfg.length, TEEC_MEM_INPUT) : ctx.registerSharedMemory(cfg, TEEC_MEM_INPUT);
      if (style === 'allocated') cfgShm.buffer.set(cfg);
      const ioBytes = new Uint8Array(64 + actBytes.length + 16);
      const io = style === 'allocated' ? ctx.allocateSharedMemory(ioBytes.length) : ctx.registerSharedMemory(ioBytes);
      blocks.push(cfgShm, io);
      io.buffer.set(actBytes, 64);
      configure = { paramTypes: paramTypes(TEEC_MEMREF_WHOLE, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT), params: [{ memref: { parent: cfgShm, offset: 0, size: 0 } }, ...values] };
      const outOffset = 64 + actBytes.length;
      forward = {
        paramTypes: paramTypes(TEEC_MEMREF_PARTIAL_INPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_MEMREF_PARTIAL_OUTPUT),
        params: [{ memref: { parent: io, offset: 64, size: actBytes.length } }, { value: { a: 3, b: 0 } }, {}, { memref: { parent: io, offset: outOffset, size: 16 } }],
      };
      read = () => {
        assert.equal(forward.params![3]!.memref!.size, 12, 'the produced size comes back');
        return [...new Int32Array(io.buffer.slice(outOffset, outOffset + 12).buffer)];
      };
    }
    await s.invokeCommand(CMD_CONFIGURE, configure);
    await s.invokeCommand(CMD_FORWARD, forward);
    return read();
  } finally {
    await s.closeSession();
    for (const b of blocks) ctx.releaseSharedMemory(b);
  }
}

test('GP shared memory: allocated, registered and temporary memrefs give the same results on both transports', async () => {
  const results: number[][] = [];
  for (const transport of ['shm', 'pipe'] as const) {
    let ctx: TeecContext;
    try {
      ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels, transport });
    } catch (e) {
      if (transport === 'shm' && taKernels === 'reference') continue; // no addon: no shared memory
      throw e;
    }
    try {
      assert.equal(ctx.transport, transport);
      assert.equal(ctx.hello.transport, transport);
      for (const style of ['temp', 'allocated', 'registered'] as const) {
        const before = { ...ctx.traffic };
        results.push(await forwardClasses(ctx, style));
        const frames = ctx.traffic.bytesToTa - before.bytesToTa;
        if (transport === 'shm') {
          assert.ok(frames < 400, `${style}: only commands and values on the control channel (${frames} bytes)`);
          assert.ok(ctx.traffic.sharedToTa - before.sharedToTa >= 3 * 512 * 4, `${style}: the activation went through shared memory`);
        } else assert.ok(frames > 3 * 512 * 4, `${style}: the activation went through the pipe`);
      }
    } finally {
      await ctx.finalizeContext();
    }
  }
  assert.ok(results.length >= 3);
  for (const r of results) {
    assert.deepEqual(r, results[0]);
    assert.ok(r.every((c) => c >= 0 && c < 10));
  }
});

test('GP shared memory: references outside the block, in the wrong direction, released, or outside the pool are refused', async (t) => {
  let ctx: TeecContext;
  try {
    ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels, transport: 'shm' });
  } catch {
    return t.skip('no shared-memory transport here (native addon)');
  }
  try {
    const s = await ctx.openSession(TA_UUID);
    const inOnly = ctx.allocateSharedMemory(1024, TEEC_MEM_INPUT);
    const outOnly = ctx.allocateSharedMemory(1024, TEEC_MEM_OUTPUT);
    const op = (types: number, params: TeecOperation['params']): TeecOperation => ({ paramTypes: types, params });
    const fwd = (p0: TeecOperation['params'], t0: ParamType = TEEC_MEMREF_PARTIAL_INPUT): TeecOperation => op(paramTypes(t0, TEEC_VALUE_INPUT), [...p0!, { value: { a: 1, b: 0 } }]);
    await assert.rejects(s.invokeCommand(CMD_FORWARD, fwd([{ memref: { parent: inOnly, offset: 1000, size: 100 } }])), rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API));
    await assert.rejects(s.invokeCommand(CMD_FORWARD, fwd([{ memref: { parent: outOnly, offset: 0, size: 100 } }])), rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API));
    await assert.rejects(s.invokeCommand(CMD_FORWARD, fwd([{ memref: { parent: inOnly, offset: 0, size: 8 } }], TEEC_MEMREF_PARTIAL_OUTPUT)), rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API));
    ctx.releaseSharedMemory(inOnly);
    await assert.rejects(s.invokeCommand(CMD_FORWARD, fwd([{ memref: { parent: inOnly, offset: 0, size: 8 } }])), rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API));
    // A forged reference past the pool's end, sent around the client's checks: the TEE refuses it and goes on.
    const r = await ctx.request({ kind: KIND_INVOKE, session: s.id, command: CMD_FORWARD, paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT), params: [{ shmOffset: ctx.pool!.capacity - 4, size: 64 }, { value: { a: 1, b: 0 } }] });
    assert.equal(r.result >>> 0, TEE_ERROR_BAD_PARAMETERS >>> 0);
    assert.equal(r.origin, TEEC_ORIGIN_TEE);
    assert.match(r.message, /outside the shared memory/);
    const still = await ctx.request({ kind: KIND_INVOKE, session: s.id, command: CMD_FORWARD, paramTypes: paramTypes(TEEC_MEMREF_TEMP_OUTPUT), params: [{ shmOffset: 0, size: 4 }] });
    assert.equal(still.result >>> 0, TEE_ERROR_BAD_PARAMETERS >>> 0, 'the TA still serves');
    if (ctx.control === 'mailbox') {
      // The mailboxes are not memory a reference may name: an output aimed at the request box is refused.
      const intoBox = await ctx.request({ kind: KIND_INVOKE, session: s.id, command: CMD_FORWARD, paramTypes: paramTypes(TEEC_MEMREF_TEMP_OUTPUT), params: [{ shmOffset: MAILBOX_BYTES - 64, size: 64 }] });
      assert.equal(intoBox.result >>> 0, TEE_ERROR_BAD_PARAMETERS >>> 0);
      assert.match(intoBox.message, /outside the shared memory/);
    }
    await s.closeSession();
    ctx.releaseSharedMemory(outOnly);
  } finally {
    await ctx.finalizeContext();
  }
});

test('pool: a reserved prefix (the mailboxes) is never handed out and no view may reach into it', () => {
  const pool = new ShmPool(new ArrayBuffer(16 * 1024), null, 4096);
  assert.equal(pool.highWater, 4096);
  const a = pool.alloc(100);
  assert.ok(a >= 4096);
  assert.equal(pool.view(0, 4), null);
  assert.equal(pool.view(4092, 8), null);
  assert.ok(pool.view(4096, 8));
  assert.throws(() => new ShmPool(new ArrayBuffer(1024), null, 100), /aligned/);
});

test('mailbox: frames go through whole, one slot per direction; oversized and malformed frames are refused', (t) => {
  const bell = nativeSharedMemory()?.doorbell;
  if (!bell) return t.skip('the native addon has no doorbells here');
  const buffer = new ArrayBuffer(MAILBOX_BYTES);
  const client = new Mailbox(buffer, bell, 'client');
  const ta = new Mailbox(buffer, bell, 'ta');
  assert.equal(ta.receive(0, 1), null, 'nothing waiting: a timeout, not a frame');
  const frame = Buffer.from([6, 0, 0, 0, KIND_INVOKE, 1, 2, 3, 4, 5]);
  client.send(frame);
  const got = ta.receive(0, 1000);
  assert.ok(got);
  assert.deepEqual([...got.raw], [...frame]);
  assert.equal(got.kind, KIND_INVOKE);
  assert.equal(client.receive(0, 1), null, 'a request is not its own reply');
  ta.send(Buffer.from([1, 0, 0, 0, 0x82]));
  assert.equal(client.receive(10, 1000)?.kind, 0x82);
  assert.throws(() => client.send(new Uint8Array(MAILBOX_FRAME + 1)), WireError);
  // A length prefix that disagrees with the slot's length (a broken or hostile writer).
  client.send(Buffer.from([9, 0, 0, 0, KIND_INVOKE, 0]));
  assert.throws(() => ta.receive(0, 1000), /does not match/);
});

test('control channel: the mailboxes and the pipe carry the same frames (replies byte for byte; requests differ only in pool offsets), with the same results', async (t) => {
  const runs: { frames: string[]; result: number[] }[] = [];
  for (const control of ['mailbox', 'pipe'] as const) {
    let ctx: TeecContext;
    try {
      ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels, transport: 'shm', control, transcript: true });
    } catch {
      return t.skip('no shared-memory transport with doorbells here (native addon)');
    }
    try {
      assert.equal(ctx.control, control);
      const result = await forwardClasses(ctx, 'allocated');
      const frames = ctx.transcript.filter((e) => e.direction !== 'shared' && e.kind !== KIND_HELLO).map((e) => `${e.direction} ${e.bytes.toString('hex')}`);
      runs.push({ frames, result });
    } finally {
      await ctx.finalizeContext();
    }
  }
  assert.equal(runs.length, 2);
  assert.ok(runs[0]!.frames.length >= 6);
  // Replies are identical; requests are the same length (the mailboxes shift the blocks' offsets by MAILBOX_BYTES).
  const shape = (f: string): string => (f.startsWith('from-ta') ? f : `to-ta ${f.length}`);
  assert.deepEqual(runs[0]!.frames.map(shape), runs[1]!.frames.map(shape));
  assert.deepEqual(runs[0]!.result, runs[1]!.result);
});
