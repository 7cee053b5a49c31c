// The software TEE computes the same numbers as the whole network in one process, and under policy
// top1 nothing secret crosses the boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchLoader } from '../src/data/batches.js';
import { loadData } from '../src/data/load.js';
import { splitST } from '../src/data/split.js';
import type { Dataset } from '../src/data/types.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import type { NetworkConfig } from '../src/nn/config.js';
import { saveModel } from '../src/nn/model.js';
import { Network } from '../src/nn/network.js';
import { evaluate, evaluateWith, networkStepper, train, type Stepper } from '../src/nn/train.js';
import { decodeReply, KIND_INVOKE, REPLY } from '../src/tee/shared/wire.js';
import { initializeContext, type TeecContext } from '../src/tee/client.js';
import { PartitionedNetwork } from '../src/tee/partitioned.js';
import { sharedMemorySupport } from '../src/tee/shared/shm.js';
import {
  CMD_CONFIGURE, CMD_FORWARD, CMD_TRAIN_STEP, CMD_UPDATE, commandName, paramTypeAt, TEEC_MEMREF_TEMP_OUTPUT,
} from '../src/tee/shared/protocol.js';

const CFG_PATH = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const kernels = getKernels();
const native = kernels.name !== 'reference';
// Native kernels make a VGG-7 epoch on 128 images take ~0.1 s; the reference ones ~2 s: shrink then.
const TRAIN_LIMIT = native ? 256 : 64;
const BATCH = native ? 32 : 16;
const EPOCHS = native ? 2 : 1;
const SEED = 7;

let text = '';
let config: NetworkConfig;
let train256: Dataset;
let test64: Dataset;
let S: Uint32Array;
// One TA per transport: shared memory (when the native addon provides it) and the pipe fallback.
const TRANSPORTS = ['shm', 'pipe'] as const;
type Transport = (typeof TRANSPORTS)[number];
const contexts = new Map<Transport, TeecContext>();
let dir = '';

test.before(async () => {
  text = (await readFile(CFG_PATH, 'utf8')).replace(/^batch=128$/m, `batch=${BATCH}`);
  config = parseCfg(text, CFG_PATH);
  const src = await loadData('embedded', { trainLimit: TRAIN_LIMIT, testLimit: 64 });
  train256 = src.train;
  test64 = src.test;
  S = splitST(train256.count, SEED).S;
  dir = await mkdtemp(join(tmpdir(), 'layerlock-tee-eq-'));
  for (const transport of TRANSPORTS) {
    try {
      contexts.set(transport, await initializeContext({ storageDir: join(dir, 'store'), kernels: native ? 'auto' : 'reference', transport }));
    } catch (e) {
      if (transport === 'pipe') throw e; // shm needs the addon; without it only the pipe is tested
    }
  }
});

test.after(async () => {
  for (const c of contexts.values()) await c.finalizeContext();
  await rm(dir, { recursive: true, force: true });
});

interface RunResult {
  losses: number[];
  weights: Buffer;
  eval: { loss: number; acc: number };
}

async function runWhole(weights?: string): Promise<RunResult> {
  const net = new Network(config, { kernels, seed: SEED });
  if (weights) {
    const { loadWeightsFile } = await import('../src/nn/weights.js');
    net.seen = (await loadWeightsFile(weights, net.weightsLayers())).seen;
  }
  const r = await train(net, train256, S, { epochs: EPOCHS, seed: SEED });
  const path = join(dir, `whole-${Math.random()}.weights`);
  await saveModel(net, path);
  const e = evaluate(net, test64);
  return { losses: r.epochs.map((x) => x.loss), weights: await readFile(path), eval: { loss: e.loss, acc: e.acc } };
}

async function runPartitioned(ctx: TeecContext, range: [number, number], weights?: string): Promise<RunResult> {
  const pn = await PartitionedNetwork.open({
    cfg: { text, file: CFG_PATH }, seed: SEED, range, mode: 'train', policy: 'full', allowPlaintextExport: true, kernels, context: ctx,
    ...(weights ? { weights } : {}),
  });
  try {
    const r = await train(pn, train256, S, { epochs: EPOCHS, seed: SEED });
    const path = join(dir, `part-${range.join('-')}-${Math.random()}.weights`);
    await pn.save(path);
    const e = await evaluateWith(pn, test64);
    return { losses: r.epochs.map((x) => x.loss), weights: await readFile(path), eval: { loss: e.loss, acc: e.acc } };
  } finally {
    await pn.close();
  }
}

/** The context of a transport, or a skip when it is unavailable (shm without the native addon). */
function contextFor(t: { skip: (msg: string) => void }, transport: Transport): TeecContext | null {
  const c = contexts.get(transport) ?? null;
  if (!c) t.skip(`the ${transport} transport is unavailable here`);
  else assert.equal(c.transport, transport);
  return c;
}

test('the shared-memory transport is there whenever the native addon is (the pipe is only the fallback)', () => {
  assert.equal(contexts.has('shm'), sharedMemorySupport() !== null, 'shm transport available whenever the addon can map shared memory');
  for (const c of contexts.values()) assert.equal(c.hello.transport, c.transport);
});

for (const transport of TRANSPORTS) {
test(`[${transport}] the TA runs the same kernels as the normal world (a precondition for bit-identical numbers)`, (t) => {
  const ctx = contextFor(t, transport);
  if (!ctx) return;
  assert.equal(ctx.hello.kernels, kernels.name);
});

test(`[${transport}] training VGG-7 with the last k layers in the TEE, for every k, is bit-identical to the all-normal-world run`, async (t) => {
  const ctx = contextFor(t, transport);
  if (!ctx) return;
  const L = config.layers.length;
  assert.equal(L, 14);
  const whole = await runWhole();
  assert.ok(whole.losses.every(Number.isFinite));
  // k = 0 is the plain network (no TEE): that is `whole`. k = 1 … L move layers in from the end.
  for (let k = 1; k <= L; k++) {
    const part = await runPartitioned(ctx, [L - k, L - 1]);
    assert.deepEqual(part.losses, whole.losses, `losses with --tee-last ${k}`);
    assert.ok(part.weights.equals(whole.weights), `weights with --tee-last ${k}`);
    assert.deepEqual(part.eval, whole.eval, `test loss/accuracy with --tee-last ${k}`);
  }
});

test(`[${transport}] ranges in the middle (layers above the TEE run in the normal world) are bit-identical too`, async (t) => {
  const ctx = contextFor(t, transport);
  if (!ctx) return;
  const whole = await runWhole();
  for (const range of [[3, 7], [0, 8], [9, 10], [11, 11]] as [number, number][]) {
    const part = await runPartitioned(ctx, range);
    assert.deepEqual(part.losses, whole.losses, `losses with --tee-layers ${range.join(':')}`);
    assert.ok(part.weights.equals(whole.weights), `weights with --tee-layers ${range.join(':')}`);
    assert.deepEqual(part.eval, whole.eval, `eval with --tee-layers ${range.join(':')}`);
  }
});

test(`[${transport}] fine-tuning a pre-trained model (--weights) with the last 5 and with layers 2:6 in the TEE is bit-identical`, async (t) => {
  const ctx = contextFor(t, transport);
  if (!ctx) return;
  const pre = join(dir, `pretrained-${transport}.weights`);
  const net = new Network(config, { kernels, seed: 99 });
  await train(net, train256, S, { epochs: 1, seed: 99 });
  await saveModel(net, pre);
  const whole = await runWhole(pre);
  for (const range of [[9, 13], [2, 6]] as [number, number][]) {
    const part = await runPartitioned(ctx, range, pre);
    assert.deepEqual(part.losses, whole.losses);
    assert.ok(part.weights.equals(whole.weights), `weights after fine-tuning with ${range.join(':')}`);
  }
});

test(`[${transport}] one TA round trip per training batch (the update rides on the next TRAIN_STEP); scoring, then exporting, right after a few batches sees the last update`, async (t) => {
  const ctx = contextFor(t, transport);
  if (!ctx) return;
  const pre = join(dir, `fold-pretrained-${transport}.weights`);
  const base = new Network(config, { kernels, seed: 98 });
  await train(base, train256, S, { epochs: 1, seed: 98 });
  await saveModel(base, pre);
  // Batches of BATCH images at subdivisions 1: one forward (one TRAIN_STEP) per batch.
  assert.equal(config.net.subdivisions, 1);
  const batches = Math.min(3, Math.floor(S.length / BATCH));
  assert.ok(batches >= 2, `${batches} batches`);
  const loader = new BatchLoader(train256, S);
  const input = new Float32Array(BATCH * 784);
  const labels = new Uint8Array(BATCH);
  const fineTune = async (stepper: Stepper): Promise<void> => {
    for (let b = 0; b < batches; b++) {
      loader.fill(b * BATCH, BATCH, input, labels);
      await stepper.trainBatch(input, labels, BATCH);
      await stepper.update(BATCH);
    }
  };
  const { loadWeightsFile } = await import('../src/nn/weights.js');
  const bytesOf = async (save: (path: string) => Promise<void>): Promise<Buffer> => {
    const path = join(dir, `fold-${Math.random()}.weights`);
    await save(path);
    return readFile(path);
  };
  const L = config.layers.length;
  // The last 5 (gradient out to the REE's convolutions) and the whole network (nothing in the REE).
  for (const range of [[9, L - 1], [0, L - 1]] as [number, number][]) {
    const tag = `layers ${range.join(':')}`;
    // Without the TEE.
    const whole = new Network(config, { kernels, seed: SEED });
    whole.seen = (await loadWeightsFile(pre, whole.weightsLayers())).seen;
    await fineTune(networkStepper(whole));
    const wholeEval = evaluate(whole, test64);
    const wholeWeights = await bytesOf((p) => saveModel(whole, p));
    await fineTune(networkStepper(whole));
    const wholeWeights2 = await bytesOf((p) => saveModel(whole, p));
    // With it.
    const pn = await PartitionedNetwork.open({
      cfg: { text, file: CFG_PATH }, weights: pre, seed: SEED, range, mode: 'train', policy: 'full', allowPlaintextExport: true, kernels, context: ctx,
    });
    try {
      const before = await pn.stats();
      const frames0: number = ctx.traffic.framesToTa;
      await fineTune(pn);
      assert.equal(ctx.traffic.framesToTa - frames0, batches, `${tag}: ${batches} batches, one frame to the TA each`);
      // Scoring first: its first FORWARD must follow the last batch's update (an explicit UPDATE).
      const e = await evaluateWith(pn, test64);
      assert.deepEqual({ loss: e.loss, acc: e.acc }, { loss: wholeEval.loss, acc: wholeEval.acc }, `${tag}: test loss/accuracy right after the fine-tune`);
      const after = await pn.stats();
      const delta = (name: string): number => (after.commands[name] ?? 0) - (before.commands[name] ?? 0);
      assert.equal(delta('TRAIN_STEP'), batches, tag);
      assert.equal(delta('UPDATE'), 1, `${tag}: one explicit UPDATE, the flush before scoring`);
      assert.equal(after.partition!.updates, batches, `${tag}: the TA applied every update`);
      assert.ok((await bytesOf((p) => pn.save(p))).equals(wholeWeights), `${tag}: exported weights equal the run without the TEE`);
      // Exporting straight after training flushes too: more batches, exported at once.
      await fineTune(pn);
      assert.ok((await bytesOf((p) => pn.save(p))).equals(wholeWeights2), `${tag}: exported right after training`);
    } finally {
      await pn.close();
    }
  }
});
}

// ---------------------------------------------------------------------------------------------
// What crosses the boundary under top1.

/** Distinctive 8-byte windows (two consecutive float32) of tensors that must not leave the TEE. */
class Needles {
  private readonly byFirst = new Map<number, Set<number>>();
  count = 0;

  add(a: Float32Array): void {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    for (let i = 0; i + 1 < a.length; i++) {
      if (!distinctive(a[i]!) || !distinctive(a[i + 1]!)) continue;
      let s = this.byFirst.get(u[i]!);
      if (!s) this.byFirst.set(u[i]!, (s = new Set()));
      s.add(u[i + 1]!);
      this.count++;
    }
  }

  /** Offsets (at any byte alignment) where some needle occurs in buf. */
  find(buf: Buffer): number[] {
    const hits: number[] = [];
    for (let o = 0; o + 8 <= buf.length; o++) {
      const s = this.byFirst.get(buf.readUInt32LE(o));
      if (s && s.has(buf.readUInt32LE(o + 4))) hits.push(o);
    }
    return hits;
  }
}

/** Values that could appear by coincidence (zeros, small integers like class indices) are not evidence. */
function distinctive(x: number): boolean {
  return Number.isFinite(x) && Math.abs(x) > 1e-30 && !(Number.isInteger(x) && Math.abs(x) <= 256);
}

/** A whole network that records every value of layers [from, to] the TEE would hold, step by step. */
function recordingStepper(net: Network, from: number, to: number, secrets: Needles): Stepper {
  const inner = networkStepper(net);
  const grabActivations = (n: number, withDeltas: boolean): void => {
    for (let i = from; i <= to; i++) {
      const l = net.layer(i)!;
      const size = l.outShape.c * l.outShape.h * l.outShape.w;
      secrets.add(l.output.slice(0, n * size));
      if (withDeltas) secrets.add(l.delta.slice(0, n * size));
    }
  };
  const grabParams = (): void => {
    for (let i = from; i <= to; i++) for (const p of net.layer(i)!.params()) secrets.add(Float32Array.from(p.data));
  };
  grabParams();
  return {
    ...inner,
    trainBatch(input, labels, n) {
      const ce = inner.trainBatch(input, labels, n);
      grabActivations(n, true);
      return ce;
    },
    update(images) {
      inner.update(images);
      grabParams();
    },
    scoreBatch(input, labels, n) {
      const r = inner.scoreBatch(input, labels, n);
      grabActivations(n, false);
      return r;
    },
  };
}

for (const transport of TRANSPORTS) test(`[${transport}] under policy top1 no control frame and no byte of shared memory carries a protected parameter, an internal activation or gradient, or a confidence score`, async (t) => {
  if (!contextFor(t, transport)) return;
  const range: [number, number] = [9, 13]; // FC-64, dropout, FC-10, softmax, cost: the last 5 layers
  // The same training in one process, recording every number the protected layers hold.
  const secrets = new Needles();
  const twin = new Network(config, { kernels, seed: SEED });
  const rec = recordingStepper(twin, range[0], range[1] - 1, secrets);
  await train(rec, train256, S, { epochs: EPOCHS, seed: SEED });
  await evaluateWith(rec, test64);
  assert.ok(secrets.count > 50_000, `${secrets.count} secret windows`);

  const rctx = await initializeContext({ storageDir: join(dir, 'store'), kernels: native ? 'auto' : 'reference', transcript: true, transport });
  try {
    const pn = await PartitionedNetwork.open({ cfg: { text, file: CFG_PATH }, seed: SEED, range, mode: 'train', policy: 'top1', kernels, context: rctx });
    const r = await train(pn, train256, S, { epochs: EPOCHS, seed: SEED });
    assert.ok(r.epochs.every((e) => Number.isNaN(e.loss)), 'the loss stays inside');
    const ev = await evaluateWith(pn, test64);
    assert.ok(Number.isNaN(ev.loss));
    assert.equal(ev.acc, evaluate(twin, test64).acc, 'accuracy from the top-1 labels equals the twin\'s');
    const p = await pn.predictImage(new Float32Array(784).fill(0.5), 5);
    assert.deepEqual(p.probs, []);
    assert.equal(p.top.length, 1);
    assert.equal(p.top[0]!.p, undefined);
    await pn.close();

    // 1. No secret bytes anywhere — control frames and, on shm, the whole shared memory in use after
    //    every reply — at any alignment.
    const all = rctx.transcript;
    assert.ok(all.length > 20);
    const sharedSnapshots = all.filter((m) => m.direction === 'shared');
    if (transport === 'shm') {
      assert.ok(sharedSnapshots.length > 10, 'a shared-memory snapshot per invocation');
      // What the scanner looks at is real: the activations and gradients crossing are in these snapshots.
      assert.ok(sharedSnapshots.some((m) => m.bytes.some((b) => b !== 0)), 'shared memory carries the crossing tensors');
      for (const m of all) if (m.direction !== 'shared') assert.ok(m.bytes.length < 4096, `control frame of ${m.bytes.length} bytes on the shm transport`);
    } else assert.equal(sharedSnapshots.length, 0);
    for (const m of all) {
      const hits = secrets.find(m.bytes);
      assert.equal(hits.length, 0, `${m.direction} ${commandName(m.command ?? 0)} frame carries secret bytes at ${hits.slice(0, 5).join(', ')}`);
    }
    // 2. Structurally: only these commands, and what comes back is gradients and class indices.
    const used = new Set(all.filter((m) => m.direction === 'to-ta' && m.kind === KIND_INVOKE).map((m) => m.command));
    assert.deepEqual([...used].sort(), [CMD_CONFIGURE, CMD_FORWARD, CMD_TRAIN_STEP, CMD_UPDATE].sort());
    for (const m of all) {
      if (transport === 'shm') break; // tensors are in shared memory; the frames carry none (checked above)
      if (m.direction !== 'from-ta' || m.kind !== (REPLY | KIND_INVOKE)) continue;
      const reply = decodeReply(m.kind, m.bytes.subarray(5));
      for (let i = 0; i < 4; i++) {
        const data = reply.params[i]?.data;
        if (!data) continue;
        assert.equal(paramTypeAt(reply.paramTypes, i), TEEC_MEMREF_TEMP_OUTPUT);
        if (m.command === CMD_FORWARD) {
          // int32 class indices, nothing else
          const classes = new Int32Array(Uint8Array.from(data).buffer);
          assert.ok(classes.every((c) => c >= 0 && c < 10), 'FORWARD returns class indices only');
        } else {
          assert.equal(m.command, CMD_TRAIN_STEP);
          assert.equal(data.length % (512 * 4), 0, 'TRAIN_STEP returns the gradient entering layer 9 (512 values per image) only');
        }
      }
    }
    // 3. The scanner would have seen leaks: the same run under policy full shows confidence scores.
    rctx.transcript.length = 0;
    const full = await PartitionedNetwork.open({ cfg: { text, file: CFG_PATH }, seed: SEED, range, mode: 'infer', policy: 'full', kernels, context: rctx });
    const probe = new Needles();
    const fresh = new Network(config, { kernels, seed: SEED });
    const twinOut = fresh.forward(new Float32Array(784).fill(0.5), 1, false);
    probe.add(twinOut.slice(0, 10));
    await full.predictImage(new Float32Array(784).fill(0.5), 5);
    await full.close();
    assert.ok(rctx.transcript.some((m) => probe.find(m.bytes).length > 0), 'positive control: full probabilities are found');
  } finally {
    await rctx.finalizeContext();
  }
});
