// The software TEE: wire format, the GP client API against a real TA process, secure-memory
// budget and its out-of-memory message, the TA's sandbox, faults, and the CLI partition options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseByteSize, parseTeeOutput, UsageError } from '../src/cli/common.js';
import { loadData } from '../src/data/load.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { decodeWeights } from '../src/nn/weights.js';
import { Network } from '../src/nn/network.js';
import { initializeContext, TeecError, type TeecContext, type TeecOperation } from '../src/tee/client.js';
import { PartitionedNetwork } from '../src/tee/partitioned.js';
import {
  CMD_CONFIGURE, CMD_DIAG_PANIC, CMD_DIAG_PROBE, CMD_FORWARD, CMD_GET_STATS, CMD_SEAL_PROTECTED, CMD_TRAIN_STEP, CMD_UPDATE, DIAG_READ_FILE, DIAG_SPAWN,
  DIAG_WRITE_FILE, paramTypes, TA_UUID, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_SHORT_BUFFER, TEE_ERROR_TARGET_DEAD, TEEC_MEMREF_TEMP_INPUT,
  TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_ORIGIN_API, TEEC_ORIGIN_TEE, TEEC_ORIGIN_TRUSTED_APP, TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT,
} from '../src/tee/shared/protocol.js';
import { measureArena } from './measure-arena.js';
import { decodeRequest, encodeRequest, FrameReader, KIND_INVOKE } from '../src/tee/shared/wire.js';

const CFG_PATH = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const kernels = getKernels();
const taKernels = kernels.name === 'reference' ? 'reference' as const : 'auto' as const;
let dir = '';
let cfgText = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-tee-'));
  cfgText = await readFile(CFG_PATH, 'utf8');
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rejectsWith(code: number, origin?: number): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof TeecError, `expected a TeecError, got ${String(e)}`);
    assert.equal(e.code >>> 0, code >>> 0, e.message);
    if (origin !== undefined) assert.equal(e.origin, origin, e.message);
    return true;
  };
}

async function withContext<T>(opts: Parameters<typeof initializeContext>[0], fn: (ctx: TeecContext) => Promise<T>): Promise<T> {
  const ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels, ...opts });
  try {
    return await fn(ctx);
  } finally {
    await ctx.finalizeContext();
  }
}

function configureOp(start: number, end: number, maxBatch: number, flags = 1, policy = 0): TeecOperation {
  const cfg = Buffer.from(cfgText);
  return {
    paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_INPUT),
    params: [{ tmpref: { buffer: cfg, size: cfg.length } }, { value: { a: start, b: end } }, { value: { a: maxBatch, b: 1 } }, { value: { a: flags, b: policy } }],
  };
}

test('wire: frames round-trip and split across chunks', () => {
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  const types = paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_OUTPUT);
  const f = encodeRequest({ kind: KIND_INVOKE, requestId: 7, session: 3, command: CMD_FORWARD, paramTypes: types, params: [{ data, size: 5 }, { value: { a: 1, b: 0xffffffff } }, { size: 99 }, {}] });
  const r = new FrameReader();
  for (const b of f) r.push(Buffer.of(b));
  const got = r.next()!;
  assert.equal(r.next(), null);
  const req = decodeRequest(got.kind, got.body);
  assert.equal(req.requestId, 7);
  assert.equal(req.session, 3);
  assert.equal(req.paramTypes, types);
  assert.deepEqual([...req.params[0]!.data!], [1, 2, 3, 4, 5]);
  assert.deepEqual(req.params[1]!.value, { a: 1, b: 0xffffffff });
  assert.equal(req.params[2]!.size, 99);
  assert.equal(paramTypes(TEEC_NONE, TEEC_VALUE_INPUT), 0x10);
});

test('CLI helpers: sizes and output policies', () => {
  assert.equal(parseByteSize('16MiB'), 16 * 1024 * 1024);
  assert.equal(parseByteSize('512KiB'), 512 * 1024);
  assert.equal(parseByteSize('16M'), 16 * 1024 * 1024);
  assert.equal(parseByteSize('16MB'), 16_000_000);
  assert.equal(parseByteSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseByteSize('4096'), 4096);
  assert.throws(() => parseByteSize('lots'), UsageError);
  assert.deepEqual(parseTeeOutput(undefined), { policy: 'top1', topk: 5 });
  assert.deepEqual(parseTeeOutput('top3'), { policy: 'topk', topk: 3 });
  assert.deepEqual(parseTeeOutput('full'), { policy: 'full', topk: 5 });
  assert.throws(() => parseTeeOutput('probs'), UsageError);
});

test('GP client API: sessions, bad parameter types, unsupported commands, short buffers — errors, never crashes', async () => {
  await withContext({}, async (ctx) => {
    assert.equal(ctx.hello.uuid, TA_UUID);
    await assert.rejects(ctx.openSession('00000000-0000-0000-0000-000000000000'), rejectsWith(TEE_ERROR_ITEM_NOT_FOUND, TEEC_ORIGIN_TEE));
    const s = await ctx.openSession(TA_UUID);
    await assert.rejects(ctx.openSession(TA_UUID), rejectsWith(TEE_ERROR_BUSY, TEEC_ORIGIN_TRUSTED_APP));
    // Commands before CONFIGURE
    await assert.rejects(s.invokeCommand(CMD_UPDATE, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [{ value: { a: 1, b: 0 } }] }), rejectsWith(TEE_ERROR_BAD_STATE));
    // Wrong parameter types for CONFIGURE: BAD_PARAMETERS from the TA, which goes on serving.
    await assert.rejects(s.invokeCommand(CMD_CONFIGURE, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [{ value: { a: 0, b: 0 } }] }),
      rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_TRUSTED_APP));
    // An unknown type nibble sent anyway (bypassing the client's checks) is refused by the TEE.
    await assert.rejects(ctx.request({ kind: KIND_INVOKE, session: s.id, command: CMD_FORWARD, paramTypes: 0x4, params: [] }).then((r) => {
      throw new TeecError(r.result, r.origin, r.message);
    }), rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_TEE));
    // The client checks operations against their types before sending (origin API).
    await assert.rejects(s.invokeCommand(CMD_FORWARD, { paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT), params: [{ tmpref: { buffer: new Uint8Array(4), size: 8 } }] }),
      rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API));
    await assert.rejects(s.invokeCommand(CMD_FORWARD, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [] }), rejectsWith(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_API));
    // An id no module registered; the deployment commands (test/deploy.test.ts) check their parameter types too.
    await assert.rejects(s.invokeCommand(0x30), rejectsWith(TEE_ERROR_NOT_SUPPORTED));
    await assert.rejects(s.invokeCommand(CMD_SEAL_PROTECTED), rejectsWith(TEE_ERROR_BAD_PARAMETERS));
    // Diagnostics are off unless asked for.
    await assert.rejects(s.invokeCommand(CMD_DIAG_PANIC, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [{ value: { a: 0, b: 0 } }] }), rejectsWith(TEE_ERROR_NOT_SUPPORTED));
    // A proper configuration, then FORWARD with a wrongly sized activation and a batch too large.
    await s.invokeCommand(CMD_CONFIGURE, configureOp(9, 13, 4));
    const fwd = (bytes: number, n: number): TeecOperation => ({
      paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_MEMREF_TEMP_OUTPUT),
      params: [{ tmpref: { buffer: new Uint8Array(bytes), size: bytes } }, { value: { a: n, b: 0 } }, {}, { tmpref: { buffer: new Uint8Array(64), size: 64 } }],
    });
    await assert.rejects(s.invokeCommand(CMD_FORWARD, fwd(100, 1)), rejectsWith(TEE_ERROR_BAD_PARAMETERS));
    await assert.rejects(s.invokeCommand(CMD_FORWARD, fwd(512 * 4 * 5, 5)), rejectsWith(TEE_ERROR_BAD_PARAMETERS));
    const ok = fwd(512 * 4 * 2, 2);
    await s.invokeCommand(CMD_FORWARD, ok);
    assert.equal(ok.params![3]!.tmpref!.size, 8, 'top1: one int32 class per image');
    // GET_STATS into a too-small buffer: SHORT_BUFFER and the size needed.
    const small: TeecOperation = { paramTypes: paramTypes(TEEC_MEMREF_TEMP_OUTPUT), params: [{ tmpref: { buffer: new Uint8Array(8), size: 8 } }] };
    await assert.rejects(s.invokeCommand(CMD_GET_STATS, small), rejectsWith(TEE_ERROR_SHORT_BUFFER));
    assert.ok(small.params![0]!.tmpref!.size > 8);
    await s.closeSession();
    // The session is gone; a new one may open.
    const s2 = await ctx.openSession(TA_UUID);
    await s2.closeSession();
  });
});

test('training (fine-tuning) and inference refuse what the policy or mode forbids', async () => {
  await withContext({}, async (ctx) => {
    const pn = await PartitionedNetwork.open({ cfg: { text: cfgText, file: CFG_PATH }, range: [9, 13], mode: 'infer', kernels, context: ctx });
    await assert.rejects(pn.exportProtected(), rejectsWith(TEE_ERROR_ACCESS_DENIED));
    await assert.rejects(pn.trainBatch(new Float32Array(784), new Uint8Array(1), 1), /inference/);
    await assert.rejects(pn.invokeCommand(CMD_UPDATE, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [{ value: { a: 1, b: 0 } }] }), rejectsWith(TEE_ERROR_BAD_STATE));
    const st = await pn.stats();
    assert.ok(!st.arena.blocks.some((b) => b.buffer === 'weight_updates' || b.buffer === 'delta'), 'inference holds no gradients, momentum or deltas');
    await pn.close();
  });
});

test('a deferred update (TRAIN_STEP p1.b) must name the images trained since the last update; the client defers only such, and flushes it before anything else, close included', async () => {
  const B = 4;
  const src = await loadData('embedded', { trainLimit: B, testLimit: 1 });
  const x = Float32Array.from(src.train.images.subarray(0, B * 784), (v) => v / 255);
  const labels = src.train.labels.slice(0, B);
  const open = (ctx: TeecContext): Promise<PartitionedNetwork> =>
    PartitionedNetwork.open({ cfg: { text: cfgText, file: CFG_PATH }, range: [9, 13], mode: 'train', batch: B, kernels, context: ctx });
  /** A TRAIN_STEP of layers 9:13 (512 values per image in, the gradient out) deferring `images`. */
  const step = (images: number): TeecOperation => ({
    paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT),
    params: [
      { tmpref: { buffer: new Uint8Array(B * 512 * 4), size: B * 512 * 4 } }, { value: { a: B, b: images } },
      { tmpref: { buffer: labels, size: B } }, { tmpref: { buffer: new Uint8Array(B * 512 * 4), size: B * 512 * 4 } },
    ],
  });
  const invokes = (ctx: TeecContext): (number | undefined)[] => ctx.transcript.filter((m) => m.direction === 'to-ta' && m.kind === KIND_INVOKE).map((m) => m.command);
  await withContext({ transcript: true }, async (ctx) => {
    const pn = await open(ctx);
    await assert.rejects(pn.invokeCommand(CMD_TRAIN_STEP, step(B)), rejectsWith(TEE_ERROR_BAD_STATE), 'nothing trained yet');
    await pn.trainBatch(x, labels, B);
    await pn.update(B);
    assert.deepEqual(invokes(ctx).slice(-2), [CMD_TRAIN_STEP, CMD_TRAIN_STEP], 'the update is not sent yet');
    // Another command (here a TRAIN_STEP of someone else's) gets the pending update flushed first, so
    // one deferring the same update again is refused: a repeated update shows as the worlds out of step.
    await assert.rejects(pn.invokeCommand(CMD_TRAIN_STEP, step(B)), (e: unknown) => {
      assert.ok(rejectsWith(TEE_ERROR_BAD_STATE)(e));
      assert.match((e as Error).message, /out of step: the normal world defers an update of 4 images, the TEE trained on 0 since update 1/);
      return true;
    });
    assert.deepEqual(invokes(ctx).slice(-2), [CMD_UPDATE, CMD_TRAIN_STEP]);
    assert.equal((await pn.stats()).partition!.updates, 1);
    // An update of other images than were trained is not deferred (the TA would refuse it): sent at once.
    await pn.trainBatch(x, labels, B);
    await pn.update(2 * B);
    assert.deepEqual(invokes(ctx).slice(-2), [CMD_TRAIN_STEP, CMD_UPDATE]);
    assert.equal((await pn.stats()).partition!.updates, 2);
    // The next step carries the pending update: the TA has it before the forward.
    await pn.trainBatch(x, labels, B);
    await pn.update(B);
    await pn.trainBatch(x, labels, B);
    const carried = ctx.transcript.filter((m) => m.direction === 'to-ta' && m.command === CMD_TRAIN_STEP).at(-1)!;
    const values = decodeRequest(KIND_INVOKE, carried.bytes.subarray(5)).params[1]!.value!;
    assert.deepEqual([values.a, values.b], [B, B], 'p1 = (n, images of the deferred update)');
    assert.equal((await pn.stats()).partition!.updates, 3);
    // close() flushes a pending update too.
    await pn.update(B);
    await pn.close();
    assert.equal(invokes(ctx).at(-1), CMD_UPDATE);
    assert.equal(pn.updates, 4);

    // A pending update the TA refuses is reported by close() (after closing: the TA can open a new session).
    const drift = await open(ctx);
    await drift.trainBatch(x, labels, B);
    await drift.update(B);
    // Behind its back (after invokeCommand has flushed the pending update 0): a second update 1.
    await drift.invokeCommand(CMD_UPDATE, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [{ value: { a: B, b: 1 } }] });
    await drift.trainBatch(x, labels, B);
    await drift.update(B); // pending: update 1, which the TA has done
    await assert.rejects(drift.close(), rejectsWith(TEE_ERROR_BAD_STATE));
    await (await ctx.openSession(TA_UUID)).closeSession();
  });
  // A dead TA has nothing to flush into: closing with an update pending does not throw.
  const ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels });
  const pn = await open(ctx);
  await pn.trainBatch(x, labels, B);
  await pn.update(B);
  process.kill(ctx.pid!, 'SIGKILL');
  await pn.close();
  await ctx.finalizeContext();
});

test('out of memory: the message names the layer, buffer, bytes, and the batch and range that fit — which then do fit', async () => {
  const config = parseCfg(cfgText, CFG_PATH);
  const open = (ctx: TeecContext, range: [number, number], batch: number): Promise<PartitionedNetwork> =>
    PartitionedNetwork.open({ cfg: { text: cfgText, file: CFG_PATH }, range, mode: 'train', batch, kernels, context: ctx });
  await withContext({ secureMem: 16 * 1024 * 1024 }, async (ctx) => {
    let message = '';
    await assert.rejects(open(ctx, [0, 13], 128), (e: unknown) => {
      assert.ok(e instanceof TeecError && e.code === TEE_ERROR_OUT_OF_MEMORY, String(e));
      message = e.message;
      return true;
    });
    assert.match(message, /^TEE_ERROR_OUT_OF_MEMORY \(0xFFFF000C\)/);
    assert.match(message, /at layer 1 \(convolutional\) buffer '(output|delta)': needs [\d,]+ bytes/);
    assert.match(message, /of 16,777,216 bytes \(16\.00 MiB\) free/);
    const m = /The largest batch that fits is (\d+) images per forward \(--batch \1;/.exec(message);
    assert.ok(m, message);
    const fit = Number(m[1]);
    assert.ok(fit >= 1 && fit < 128);
    // The suggested batch fits, trains, and the arena's peak is what the dry run predicts.
    const pn = await open(ctx, [0, 13], fit);
    const src = await loadData('embedded', { trainLimit: fit, testLimit: 1 });
    const x = new Float32Array(fit * 784);
    for (let i = 0; i < x.length; i++) x[i] = src.train.images[i]! / 255;
    await pn.trainBatch(x, src.train.labels.slice(0, fit), fit);
    await pn.update(fit);
    const st = await pn.stats();
    assert.ok(st.arena.peak <= 16 * 1024 * 1024);
    const threads = ctx.hello.threads;
    const spec = { start: 0, end: 13, maxBatch: fit, seed: 1, mode: 'train' as const, inputDelta: false, policy: 'top1' as const, topk: 5, allowExport: false };
    assert.equal(st.arena.peak, measureArena(config, spec, threads, kernels).total);
    const ws = st.arena.blocks.filter((b) => b.buffer === 'workspace');
    assert.deepEqual(ws.map((b) => [b.layer, b.bytes]), [[1, 16 * 3 * 3 * 28 * 28 * 4 * threads]], 'one workspace block: the largest convolution\'s im2col, per thread');
    await pn.close();
    // ... and it is the largest: one more image does not fit.
    await assert.rejects(open(ctx, [0, 13], fit + 1), rejectsWith(TEE_ERROR_OUT_OF_MEMORY));
  });
  await withContext({ secureMem: 1024 * 1024 }, async (ctx) => {
    let message = '';
    await assert.rejects(open(ctx, [0, 13], 128), (e: unknown) => ((message = (e as Error).message), true));
    const m = /ongest range ending at layer 13 that fits is (\d+):13 \(--tee-layers \1:13\)/.exec(message);
    assert.ok(m, message);
    const start = Number(m[1]);
    const pn = await open(ctx, [start, 13], 128);
    await pn.close();
    await assert.rejects(open(ctx, [start - 1, 13], 128), rejectsWith(TEE_ERROR_OUT_OF_MEMORY));
  });
});

test('the TA cannot read or write outside its folders, nor start processes', async () => {
  const outside = join(dir, 'outside-secret.txt');
  await writeFile(outside, 'the normal world\'s secret');
  await withContext({ diagnostics: true }, async (ctx) => {
    const s = await ctx.openSession(TA_UUID);
    const probe = async (path: string, op: number): Promise<number> => {
      const b = Buffer.from(path);
      const o: TeecOperation = {
        paramTypes: paramTypes(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT),
        params: [{ tmpref: { buffer: b, size: b.length } }, { value: { a: op, b: 0 } }, { value: { a: 0, b: 0 } }],
      };
      await s.invokeCommand(CMD_DIAG_PROBE, o);
      return o.params![2]!.value!.a;
    };
    const denied = rejectsWith(TEE_ERROR_ACCESS_DENIED, TEEC_ORIGIN_TRUSTED_APP);
    await assert.rejects(probe(outside, DIAG_READ_FILE), denied);
    await assert.rejects(probe('/etc/passwd', DIAG_READ_FILE), denied);
    await assert.rejects(probe(CFG_PATH, DIAG_READ_FILE), denied);
    await assert.rejects(probe(join(dir, 'written-by-ta.txt'), DIAG_WRITE_FILE), denied);
    await assert.rejects(probe(join(ctx.storageDir, '..', 'escape.txt'), DIAG_WRITE_FILE), denied);
    await assert.rejects(probe('/bin/true', DIAG_SPAWN), denied);
    assert.equal(existsSync(join(dir, 'written-by-ta.txt')), false);
    // Inside its storage folder it may write and read; its own code it may read.
    assert.equal(await probe(join(ctx.storageDir, 'object.bin'), DIAG_WRITE_FILE), 5);
    assert.equal(await probe(join(ctx.storageDir, 'object.bin'), DIAG_READ_FILE), 5);
    assert.ok((await probe(fileURLToPath(new URL('../src/tee/ta/host.js', import.meta.url)), DIAG_READ_FILE)) > 0);
    await s.closeSession();
  });
});

test('a killed TA yields TARGET_DEAD; the normal world goes on, and so does a new TA', async () => {
  const ctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels, diagnostics: true });
  const pn = await PartitionedNetwork.open({ cfg: { text: cfgText, file: CFG_PATH }, range: [9, 13], mode: 'train', batch: 4, kernels, context: ctx });
  process.kill(ctx.pid!, 'SIGKILL');
  const x = new Float32Array(4 * 784);
  const dead = rejectsWith(TEE_ERROR_TARGET_DEAD, TEEC_ORIGIN_TEE);
  await assert.rejects(pn.trainBatch(x, new Uint8Array(4), 4), dead);
  await assert.rejects(pn.trainBatch(x, new Uint8Array(4), 4), dead, 'the session stays unusable');
  assert.equal(ctx.alive, false);
  assert.match(ctx.deathReason ?? '', /SIGKILL/);
  await pn.close(); // closing what is dead does not throw
  await ctx.finalizeContext();

  // A TA that dies in the middle of a command, and one that panics (throws): same answer.
  for (const a of [1, 0]) {
    const c2 = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels, diagnostics: true });
    const s = await c2.openSession(TA_UUID);
    await assert.rejects(s.invokeCommand(CMD_DIAG_PANIC, { paramTypes: paramTypes(TEEC_VALUE_INPUT), params: [{ value: { a, b: 0 } }] }), dead);
    await assert.rejects(s.invokeCommand(CMD_GET_STATS, { paramTypes: paramTypes(TEEC_MEMREF_TEMP_OUTPUT), params: [{ tmpref: { buffer: new Uint8Array(9999), size: 9999 } }] }), dead);
    await c2.finalizeContext();
  }
  // This process is fine and can start a fresh TA.
  const ctx3 = await initializeContext({ storageDir: join(dir, 'store'), kernels: taKernels });
  await (await ctx3.openSession(TA_UUID)).closeSession();
  await ctx3.finalizeContext();
});

function runCli(args: string[], onStderrLine?: (line: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) onStderrLine?.(l);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('CLI: train/eval/predict with --tee-last; a TA killed mid-training ends the run with one clear line and the last checkpoint intact', async () => {
  const out = join(dir, 'cli.weights');
  const storage = ['--tee-storage', join(dir, 'store')];
  const common = ['--cfg', CFG_PATH, '--train-limit', '128', '--test-limit', '32', '--batch', '32', ...storage];
  // --out with top1 and no development export: refused before any work, one line.
  const refused = await runCli(['train', ...common, '--epochs', '1', '--out', out, '--tee-last', '3']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr.trim().split('\n').pop()!, /^layerlock: --out needs the whole model.*--tee-export-plaintext/);
  // Partition errors are usage errors.
  const bad = await runCli(['train', ...common, '--epochs', '1', '--out', out, '--tee-layers', '5:12']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /hold the prediction layer 12 .* use 5:13/);

  const trained = await runCli(['train', ...common, '--epochs', '1', '--out', out, '--tee-last', '3', '--tee-export-plaintext', '--json']);
  assert.equal(trained.code, 0, trained.stderr);
  const j = JSON.parse(trained.stdout) as { loss: number | null; test: { loss: number | null; acc: number }; tee: { layers: number[]; arena_peak_bytes: number; policy: string } };
  assert.equal(j.loss, null, 'top1: the loss stays inside');
  assert.equal(j.test.loss, null);
  assert.deepEqual(j.tee.layers, [11, 13]);
  assert.ok(j.tee.arena_peak_bytes > 0);
  const ev = await runCli(['eval', ...common, '--weights', out, '--tee-last', '3', '--tee-output', 'top3', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout) as { loss: number; acc: number };
  assert.equal(e.acc, j.test.acc);
  assert.ok(Number.isFinite(e.loss), 'topk: the summed loss may leave');
  const pr = await runCli(['predict', '--cfg', CFG_PATH, '--weights', out, '--index', '0', '--tee-last', '3', ...storage, '--json']);
  assert.equal(pr.code, 0, pr.stderr);
  const pj = JSON.parse(pr.stdout) as { top: { class: number; p?: number }[]; probs: number[] };
  assert.equal(pj.top.length, 1);
  assert.equal(pj.top[0]!.p, undefined);
  assert.deepEqual(pj.probs, []);

  // Kill the TA once the first checkpoint is written.
  const killed = join(dir, 'killed.weights');
  let taPid = 0;
  let done = false;
  const r = await runCli(['train', '--cfg', CFG_PATH, '--train-limit', '512', '--test-limit', '32', ...storage, '--epochs', '50', '--out', killed,
    '--tee-last', '5', '--tee-export-plaintext'], (line) => {
    const m = /TA pid (\d+)/.exec(line);
    if (m) taPid = Number(m[1]);
    if (/^epoch 1\/50/.test(line) && !done) {
      done = true;
      process.kill(taPid, 'SIGKILL');
    }
  });
  assert.ok(done, r.stderr);
  assert.equal(r.code, 1);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, /^layerlock: TEE_ERROR_TARGET_DEAD \(0xFFFF3024\) from the TEE: the trusted application is dead .*killed by SIGKILL.* The weights saved after epoch \d+ in .* are intact\.$/);
  // The checkpoint is a complete, loadable model.
  const net = new Network(parseCfg(cfgText, CFG_PATH), { kernels, seed: 1, maxBatch: 1 });
  decodeWeights(await readFile(killed), net.weightsLayers(), killed);
  assert.ok((await stat(killed)).size > 0);
});
