// Records partitioned sessions against the software TA (issue 17, milestone 2), for comparison with
// the C TA: natively (test/optee-ta-session.test.ts replays the transcript through the C dispatcher)
// and inside OP-TEE on the emulated board (scripts/optee-qemu/record-session.mjs writes a session file
// that the guest's libteec program replays against the real TA). Each request goes to the software TA
// (TrustedApp with its real command table, the reference kernels, an arena) and into the transcript,
// with the engine running the normal world's layers around it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceKernels } from '../src/kernels/reference.js';
import { oneHot } from '../src/data/batches.js';
import { parseCfg } from '../src/nn/cfg.js';
import type { NetworkConfig } from '../src/nn/config.js';
import { Network } from '../src/nn/network.js';
import { DARKNET_WEIGHTS_VERSION, encodeWeights } from '../src/nn/weights.js';
import { Arena } from '../src/tee/ta/arena.js';
import { COMMANDS } from '../src/tee/ta/commands.js';
import { TaError, TrustedApp, type TaParam } from '../src/tee/ta/ta.js';
import {
  CMD_BACKWARD, CMD_CONFIGURE, CMD_EXPORT_PARAMS_PLAINTEXT, CMD_FORWARD, CMD_GET_STATS, CMD_LOAD_PARAMS, CMD_TAKE_LOSS,
  CMD_TRAIN_STEP, CMD_UPDATE, FLAG_ALLOW_PLAINTEXT_EXPORT, FLAG_INPUT_DELTA, FLAG_TRAIN, FORWARD_TRAIN, POLICY_IDS,
  TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_SHORT_BUFFER, TEE_SUCCESS, type OutputPolicy,
} from '../src/tee/shared/protocol.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const VGG7 = readFileSync(join(ROOT, 'cfg', 'vgg7-mnist.cfg'), 'utf8');
export const LENET = readFileSync(join(ROOT, 'cfg', 'lenet-mnist.cfg'), 'utf8');
/** A cfg with batch_normalize=1 added to the layer sections (cfg indices) listed. */
export function withBatchNorm(text: string, layers: readonly number[]): string {
  const parts = text.split(/^(?=\[)/m);
  // parts[0] is the comments, parts[1] [net], parts[2 + i] layer i
  for (const i of layers) parts[2 + i] = parts[2 + i]!.replace(/^(\[\w+\]\n)/, '$1batch_normalize=1\n');
  return parts.join('');
}
export const VGG7_BN = withBatchNorm(VGG7, [6, 7, 9]);
/** VGG-7 with its last max-pool (layer 8) an average over the same windows, Darknet's way and PyTorch's. */
export const VGG7_LAP = VGG7.replace(/\[maxpool\]\nsize=2\nstride=2\n(?![\s\S]*\[maxpool\])/, '[local_avgpool]\nsize=2\nstride=2\n');
export const VGG7_LAP_PT = VGG7.replace(/\[maxpool\]\nsize=2\nstride=2\n(?![\s\S]*\[maxpool\])/, '[local_avgpool]\nsize=3\nstride=2\npadding=2\nceil_mode=1\ncount_include_pad=1\n');
/** LeNet with its 120-unit FC on Darknet's default activation (no activation= key: logistic) … */
export const LENET_LOGISTIC = LENET.replace('output=120\nactivation=relu\n', 'output=120\n')
  // and its 84-unit FC on PyTorch's leaky slope (not the kernels' 0.1: a loop after a linear epilogue)
  .replace('output=84\nactivation=relu\n', 'output=84\nactivation=leaky\nleaky_slope=0.01\n');
export const SEED = 20190617;
export const MIB = 1 << 20;
// ---------------------------------------------------------------------------------------------
// A recorded session: each request goes to the software TA now and into the transcript for the C TA.

export type Param =
  | { kind: 'none' }
  | { kind: 'value'; a: number; b: number }
  | { kind: 'in'; bytes: Uint8Array }
  | { kind: 'out'; size: number };

export type Out = { value: { a: number; b: number } } | { size: number; bytes: Uint8Array | null };

export interface Reply {
  what: string;
  cmd: number;
  code: number;
  message: string;
  outs: Out[];
  /** Where the C TA is known to answer otherwise (a documented gap), what it must answer instead. */
  c?: { code: number; message: string };
}

export const NONE: Param = { kind: 'none' };
export const val = (a: number, b = 0): Param => ({ kind: 'value', a: a >>> 0, b: b >>> 0 });
export const mem = (bytes: Uint8Array): Param => ({ kind: 'in', bytes });
export const out = (size: number): Param => ({ kind: 'out', size });
const TYPE: Record<Param['kind'], number> = { none: 0, value: 1, in: 5, out: 6 };
export const hex = (b: Uint8Array): string => (b.length ? Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') : '-');
export const f32bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

export class Recorder {
  readonly lines: string[] = [];
  readonly replies: Reply[] = [];
  private ta: TrustedApp | null = null;
  private session = 0;

  /**
   * `fixedCapacity`: one TA of that secure memory for every session (newTa keeps it), as in OP-TEE,
   * where the TA is one keep-alive instance with its arena's size built in (LAYERLOCK_SECURE_MEM).
   */
  constructor(private readonly storageDir: string, private readonly fixedCapacity?: number) {}

  newTa(capacity: number): void {
    if (this.fixedCapacity !== undefined) {
      if (this.ta) return;
      capacity = this.fixedCapacity;
    }
    this.ta = new TrustedApp({ arena: new Arena(capacity), kernels: referenceKernels, threads: 1, storageDir: this.storageDir, diagnostics: false }, COMMANDS);
    this.lines.push(`TA ${capacity}`);
  }

  open(what: string): Reply {
    this.lines.push('OPEN');
    let code = TEE_SUCCESS;
    let message = '';
    try {
      this.session = this.ta!.openSession();
    } catch (e) {
      if (!(e instanceof TaError)) throw e;
      code = e.code;
      message = e.message;
    }
    const r = { what, cmd: -1, code, message, outs: [] };
    this.replies.push(r);
    return r;
  }

  close(): void {
    this.lines.push('CLOSE');
    this.ta!.closeSession(this.session);
  }

  /**
   * The transcript with the software TA's answers, for the guest's replay program
   * (scripts/optee-qemu/host/layerlock_ta_replay.c documents the format). Every request is followed
   * by `WANT <code> <message in hex> <outputs>` and, per output, `<mode> <size> <bytes in hex>`:
   * mode x = these bytes exactly; l = TAKE_LOSS's (float64 sum to 1e-12 relative, the C TA's log is
   * not V8's; float64 count exactly); s = GET_STATS, the JSON the C TA writes (the software TA's with
   * kernels "reference (C)" and without its timings, command_ms: the C TA keeps no clock).
   */
  guestSession(): string {
    const text: string[] = ['LLSESSION 1'];
    let at = 0;
    const msgHex = (m: string): string => hex(new TextEncoder().encode(m));
    for (const line of this.lines) {
      text.push(line);
      if (line.startsWith('TA ') || line === 'CLOSE') continue;
      const r = this.replies[at++]!;
      if (r.c) throw new Error(`${r.what}: the C TA is known to answer otherwise; not for the guest`);
      const outs = r.outs.map((o) => {
        if ('value' in o) throw new Error(`${r.what}: no value outputs in these commands`);
        // a short GET_STATS: the size needed is the C JSON's, which the software TA does not know
        if (r.cmd === CMD_GET_STATS && r.code === TEE_ERROR_SHORT_BUFFER) throw new Error(`${r.what}: a short GET_STATS is not for the guest`);
        if (o.bytes === null) return `x ${o.size} -`;
        if (r.cmd === CMD_GET_STATS) {
          const j = JSON.parse(new TextDecoder().decode(o.bytes)) as Record<string, unknown>;
          j.kernels = 'reference (C)';
          delete j.command_ms;
          const c = new TextEncoder().encode(JSON.stringify(j));
          return `s ${c.length} ${hex(c)}`;
        }
        return `${r.cmd === CMD_TAKE_LOSS ? 'l' : 'x'} ${o.size} ${hex(o.bytes)}`;
      });
      text.push(`WANT ${r.code >>> 0} ${msgHex(r.message)} ${outs.length}${outs.map((o) => ` ${o}`).join('')}`);
    }
    if (at !== this.replies.length) throw new Error('transcript and replies out of step');
    return text.join('\n') + '\n';
  }

  /** A request the C TA answers differently on purpose: the software TA's reply is kept, C's is `c`. */
  async invokeExpectingC(what: string, c: { code: number; message: string }, cmd: number, ...params: Param[]): Promise<Reply> {
    const r = await this.invoke(what, cmd, ...params);
    r.c = c;
    return r;
  }

  async invoke(what: string, cmd: number, ...params: Param[]): Promise<Reply> {
    while (params.length < 4) params.push(NONE);
    const types = params.reduce((t, p, i) => t | (TYPE[p.kind] << (4 * i)), 0);
    this.lines.push(`CMD ${cmd} ${types} ${params.map((p) =>
      p.kind === 'value' ? `${p.a} ${p.b}` : p.kind === 'in' ? hex(p.bytes) : p.kind === 'out' ? String(p.size) : '-').join(' ')}`);
    const taParams: TaParam[] = params.map((p) =>
      p.kind === 'value' ? { value: { a: p.a, b: p.b } } : p.kind === 'in' ? { memref: { buffer: p.bytes, size: p.bytes.length } }
        : p.kind === 'out' ? { memref: { buffer: null, size: p.size } } : {});
    let code = TEE_SUCCESS;
    let message = '';
    try {
      await this.ta!.invoke(this.session, cmd, types, taParams);
    } catch (e) {
      if (!(e instanceof TaError)) throw e;
      code = e.code;
      message = e.message;
    }
    // Outputs are views of the TA's secure memory, valid until the next command: copy them now.
    const outs: Out[] = params.flatMap((p, i): Out[] => {
      if (p.kind !== 'out') return [];
      const m = taParams[i]!.memref!;
      return [{ size: m.size, bytes: code === TEE_SUCCESS ? (m.buffer ?? new Uint8Array(0)).slice(0, m.size) : null }];
    });
    const r = { what, cmd, code, message, outs };
    this.replies.push(r);
    return r;
  }
}

export function outBytes(r: Reply, i = 0): Uint8Array {
  assert.equal(r.code, TEE_SUCCESS, `${r.what}: ${r.message}`);
  const o = r.outs[i] as { bytes: Uint8Array | null };
  assert.ok(o.bytes, `${r.what}: no output`);
  return o.bytes;
}

export function floats(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// ---------------------------------------------------------------------------------------------
// Data and the normal world

export function images(n: number, size: number, seed: number): { x: Float32Array; labels: Uint8Array } {
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const x = Float32Array.from({ length: n * size }, () => (next() % 7 === 0 ? 0 : (next() >>> 8) / 2 ** 24));
  const labels = Uint8Array.from({ length: n }, () => next() % 10);
  return { x, labels };
}

export function configureParams(cfgText: string, start: number, end: number, maxBatch: number, flags: number, policy: OutputPolicy, topk = 0): Param[] {
  return [mem(new TextEncoder().encode(cfgText)), val(start, end), val(maxBatch, SEED), val(flags, POLICY_IDS[policy] | (topk << 8))];
}

export function trainableBelow(config: NetworkConfig, start: number): boolean {
  return config.layers.slice(0, start).some((l) => l.type === 'convolutional' || l.type === 'connected');
}

/**
 * The paper's case: the last k layers in the TEE, fine-tuned with TRAIN_STEP, the REE's layers below
 * trained with the gradient that leaves; then inference (top1) and the weights after training.
 * Folded (as tee/partitioned.ts does): each TRAIN_STEP carries the previous batch's update (p1.b)
 * and one explicit UPDATE flushes the last; unfolded: an UPDATE after every step.
 */
export async function lastKSession(rec: Recorder, cfgText: string, k: number, batches: number[], policy: OutputPolicy, fold = true): Promise<{ steps: number; gradients: number }> {
  const config = parseCfg(cfgText, 'test');
  const L = config.layers.length;
  const start = L - k;
  const B = Math.max(...batches);
  const below = trainableBelow(config, start);
  const ree = start > 0 ? new Network(config, { kernels: referenceKernels, seed: SEED, maxBatch: B, range: [0, start - 1] }) : null;
  const inputs = config.net.width * config.net.height * config.net.channels;
  const taInputs = ree ? ree.layers[ree.layers.length - 1]!.output.length / B : inputs;
  const tag = `last ${k} of ${L} (${policy})`;
  rec.newTa(8 * MIB);
  rec.open(tag);
  const cfgr = await rec.invoke(`${tag}: CONFIGURE`, CMD_CONFIGURE,
    ...configureParams(cfgText, start, L - 1, B, FLAG_TRAIN | (below ? FLAG_INPUT_DELTA : 0) | FLAG_ALLOW_PLAINTEXT_EXPORT, policy, 3));
  assert.equal(cfgr.code, TEE_SUCCESS, cfgr.message);
  await rec.invoke(`${tag}: GET_STATS`, CMD_GET_STATS, out(1 << 16));
  const initial = outBytes(await rec.invoke(`${tag}: initial weights`, CMD_EXPORT_PARAMS_PLAINTEXT, out(MIB)));
  assert.equal((await rec.invoke(`${tag}: LOAD_PARAMS of them`, CMD_LOAD_PARAMS, mem(initial))).code, TEE_SUCCESS);
  let gradients = 0;
  /** Images of the update deferred into the next TRAIN_STEP (0: none). */
  let deferred = 0;
  for (const [b, n] of batches.entries()) {
    const data = images(n, inputs, 1000 * k + b);
    const x = ree ? ree.forward(data.x, n, true) : data.x;
    const step = await rec.invoke(`${tag}: TRAIN_STEP ${b}${deferred ? ` (with update ${b - 1})` : ''}`, CMD_TRAIN_STEP,
      mem(f32bytes(x.subarray(0, n * taInputs))), val(n, deferred), mem(data.labels), below ? out(n * taInputs * 4) : NONE);
    assert.equal(step.code, TEE_SUCCESS, step.message);
    if (ree) {
      const g = floats(outBytes(step));
      assert.ok(g.some((v) => v !== 0), `${tag}: the gradient leaving the TEE is not all zero`);
      gradients++;
      ree.backward(data.x, n, null, g);
      ree.update(n);
    }
    if (fold) deferred = n;
    else {
      const up = await rec.invoke(`${tag}: UPDATE ${b}`, CMD_UPDATE, val(n, b));
      assert.equal(up.code, TEE_SUCCESS, up.message);
    }
  }
  if (fold) {
    const flush = await rec.invoke(`${tag}: UPDATE ${batches.length - 1} (flushing the deferred one)`, CMD_UPDATE, val(deferred, batches.length - 1));
    assert.equal(flush.code, TEE_SUCCESS, flush.message);
  }
  const test = images(B, inputs, 77 + k);
  const tx = ree ? ree.forward(test.x, B, false) : test.x;
  const outSize = policy === 'top1' ? B * 4 : policy === 'topk' ? B * 3 * 4 : B * 10 * 4;
  const inf = await rec.invoke(`${tag}: FORWARD (inference)`, CMD_FORWARD, mem(f32bytes(tx.subarray(0, B * taInputs))), val(B),
    policy === 'top1' ? NONE : mem(test.labels), out(outSize));
  const labels = new Int32Array(outBytes(inf).buffer.slice(0));
  assert.ok(labels.every((c) => c >= 0 && c < 10) || policy === 'full', `${tag}: classes out`);
  const loss = await rec.invoke(`${tag}: TAKE_LOSS`, CMD_TAKE_LOSS, out(16));
  assert.equal(loss.code, policy === 'top1' ? TEE_ERROR_ACCESS_DENIED : TEE_SUCCESS, loss.message);
  await rec.invoke(`${tag}: trained weights`, CMD_EXPORT_PARAMS_PLAINTEXT, out(MIB));
  await rec.invoke(`${tag}: GET_STATS at the end`, CMD_GET_STATS, out(1 << 16));
  rec.close();
  return { steps: batches.length, gradients };
}

/** A middle range: the REE runs the layers below and above; FORWARD and BACKWARD cross twice each. */
export async function middleSession(rec: Recorder): Promise<void> {
  const config = parseCfg(VGG7, 'test');
  const [start, end] = [6, 9];
  const B = 3;
  const ree = new Network(config, { kernels: referenceKernels, seed: SEED, maxBatch: B, range: [0, start - 1] });
  const top = new Network(config, { kernels: referenceKernels, seed: SEED, maxBatch: B, range: [end + 1, config.layers.length - 1] });
  top.setInputDeltaNeeded(true);
  const taIn = ree.layers[ree.layers.length - 1]!.output.length / B;
  const taOut = 64;
  const tag = 'VGG-7 layers 6:9';
  rec.newTa(4 * MIB);
  rec.open(tag);
  const c = await rec.invoke(`${tag}: CONFIGURE`, CMD_CONFIGURE, ...configureParams(VGG7, start, end, B, FLAG_TRAIN | FLAG_INPUT_DELTA, 'top1'));
  assert.equal(c.code, TEE_SUCCESS, c.message);
  const wrong = await rec.invoke(`${tag}: TRAIN_STEP refused`, CMD_TRAIN_STEP, mem(new Uint8Array(B * taIn * 4)), val(B), NONE, out(B * taIn * 4));
  assert.equal(wrong.code, TEE_ERROR_BAD_STATE);
  const early = await rec.invoke(`${tag}: BACKWARD before FORWARD`, CMD_BACKWARD, mem(new Uint8Array(B * taOut * 4)), val(B), out(B * taIn * 4));
  assert.equal(early.code, TEE_ERROR_BAD_STATE);
  for (let b = 0; b < 3; b++) {
    const data = images(B, 784, 500 + b);
    const x = ree.forward(data.x, B, true);
    const fwd = await rec.invoke(`${tag}: FORWARD ${b}`, CMD_FORWARD, mem(f32bytes(x.subarray(0, B * taIn))), val(B, FORWARD_TRAIN), NONE, out(B * taOut * 4));
    const act = floats(outBytes(fwd));
    const truth = new Float32Array(B * 10);
    oneHot(data.labels, B, 10, truth);
    top.forward(act, B, true, truth);
    const gTop = new Float32Array(B * taOut);
    top.backward(act, B, gTop);
    const bwd = await rec.invoke(`${tag}: BACKWARD ${b}`, CMD_BACKWARD, mem(f32bytes(gTop)), val(B), out(B * taIn * 4));
    const g = floats(outBytes(bwd));
    assert.ok(g.some((v) => v !== 0), `${tag}: gradient ${b} is not all zero`);
    ree.backward(data.x, B, null, g);
    ree.update(B);
    top.update(B);
    await rec.invoke(`${tag}: UPDATE ${b}`, CMD_UPDATE, val(B, b));
  }
  // a gradient of the wrong size, or none, from above; either spends the forward it follows
  const data = images(B, 784, 599);
  const x = ree.forward(data.x, B, true);
  for (const [what, top] of [['a short gradient from above', mem(new Uint8Array(B * taOut * 4 - 4))], ['no gradient from above', NONE]] as const) {
    assert.equal((await rec.invoke(`${tag}: FORWARD before ${what}`, CMD_FORWARD, mem(f32bytes(x.subarray(0, B * taIn))), val(B, FORWARD_TRAIN), NONE, out(B * taOut * 4))).code, TEE_SUCCESS);
    assert.equal((await rec.invoke(`${tag}: BACKWARD with ${what}`, CMD_BACKWARD, top, val(B), out(B * taIn * 4))).code, TEE_ERROR_BAD_PARAMETERS);
    assert.equal((await rec.invoke(`${tag}: BACKWARD again`, CMD_BACKWARD, mem(new Uint8Array(B * taOut * 4)), val(B), out(B * taIn * 4))).code, TEE_ERROR_BAD_STATE);
  }
  assert.equal((await rec.invoke(`${tag}: FORWARD of 2`, CMD_FORWARD, mem(f32bytes(x.subarray(0, 2 * taIn))), val(2, FORWARD_TRAIN), NONE, out(2 * taOut * 4))).code, TEE_SUCCESS);
  assert.equal((await rec.invoke(`${tag}: BACKWARD of 3 after a FORWARD of 2`, CMD_BACKWARD, mem(new Uint8Array(B * taOut * 4)), val(B), out(B * taIn * 4))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke(`${tag}: BACKWARD without a gradient buffer`, CMD_BACKWARD, mem(new Uint8Array(B * taOut * 4)), val(B))).code, TEE_ERROR_BAD_PARAMETERS);
  const drift = await rec.invoke(`${tag}: UPDATE out of step`, CMD_UPDATE, val(B, 7));
  assert.equal(drift.code, TEE_ERROR_BAD_STATE);
  await rec.invoke(`${tag}: GET_STATS`, CMD_GET_STATS, out(1 << 16));
  rec.close();
}

/** LeNet's tail for inference with weights loaded from the normal world, under topk and full. */
export async function inferenceSessions(rec: Recorder): Promise<void> {
  const config = parseCfg(LENET, 'test');
  const L = config.layers.length;
  const start = 4;
  const B = 5;
  const ree = new Network(config, { kernels: referenceKernels, seed: 7, maxBatch: B, range: [0, start - 1] });
  const trained = new Network(config, { kernels: referenceKernels, seed: 99, maxBatch: B, range: [start, L - 1] });
  const weights = encodeWeights(trained.weightsLayers(), { ...DARKNET_WEIGHTS_VERSION, seen: 0 });
  const taIn = ree.layers[ree.layers.length - 1]!.output.length / B;
  for (const policy of ['topk', 'full'] as const) {
    const tag = `LeNet ${start}:${L - 1} inference (${policy})`;
    rec.newTa(2 * MIB);
    rec.open(tag);
    await rec.invoke(`${tag}: CONFIGURE`, CMD_CONFIGURE, ...configureParams(LENET, start, L - 1, B, 0, policy, 3));
    const short = await rec.invoke(`${tag}: LOAD_PARAMS truncated`, CMD_LOAD_PARAMS, mem(weights.subarray(0, weights.length - 8)));
    assert.equal(short.code, TEE_ERROR_BAD_PARAMETERS);
    const load = await rec.invoke(`${tag}: LOAD_PARAMS`, CMD_LOAD_PARAMS, mem(weights));
    assert.equal(load.code, TEE_SUCCESS, load.message);
    for (let b = 0; b < 2; b++) {
      const data = images(B, 784, 900 + b);
      const x = ree.forward(data.x, B, false);
      const size = policy === 'topk' ? B * 3 * 4 : B * 10 * 4;
      const small = await rec.invoke(`${tag}: FORWARD into a short buffer`, CMD_FORWARD, mem(f32bytes(x.subarray(0, B * taIn))), val(B), mem(data.labels), out(size - 4));
      assert.equal(small.code, TEE_ERROR_SHORT_BUFFER);
      const f = await rec.invoke(`${tag}: FORWARD ${b}`, CMD_FORWARD, mem(f32bytes(x.subarray(0, B * taIn))), val(B), mem(data.labels), out(size));
      assert.equal(f.code, TEE_SUCCESS, f.message);
      const bad = Uint8Array.from(data.labels);
      bad[2] = 10;
      const badLabel = await rec.invoke(`${tag}: a label that is not a class`, CMD_FORWARD, mem(f32bytes(x.subarray(0, B * taIn))), val(B), mem(bad), out(size));
      assert.equal(badLabel.code, TEE_ERROR_BAD_PARAMETERS);
    }
    const loss = await rec.invoke(`${tag}: TAKE_LOSS`, CMD_TAKE_LOSS, out(16));
    assert.equal(loss.code, TEE_SUCCESS, loss.message);
    const exp = await rec.invoke(`${tag}: EXPORT`, CMD_EXPORT_PARAMS_PLAINTEXT, out(MIB));
    assert.equal(exp.code, policy === 'full' ? TEE_SUCCESS : TEE_ERROR_ACCESS_DENIED, exp.message);
    if (policy === 'full') {
      assert.deepEqual(outBytes(exp), weights, 'the loaded weights come back unchanged');
      // very old Darknet files (major > 1000) store connected weights transposed: loaded, they are the same model
      const old = encodeWeights(trained.weightsLayers(), { major: 1001, minor: 0, revision: 0, seen: 12 });
      assert.notDeepEqual(old.subarray(16), weights.subarray(20), "the file layouts differ");
      assert.equal((await rec.invoke(`${tag}: LOAD_PARAMS (transposed, 16-byte header)`, CMD_LOAD_PARAMS, mem(old))).code, TEE_SUCCESS);
      assert.deepEqual(outBytes(await rec.invoke(`${tag}: EXPORT after the transposed load`, CMD_EXPORT_PARAMS_PLAINTEXT, out(MIB))), weights);
      const neg = Uint8Array.from(weights);
      neg[3] = 0x80;
      assert.equal((await rec.invoke(`${tag}: LOAD_PARAMS with a negative version`, CMD_LOAD_PARAMS, mem(neg))).code, TEE_ERROR_BAD_PARAMETERS);
      const long = new Uint8Array(weights.length + 4);
      long.set(weights);
      assert.equal((await rec.invoke(`${tag}: LOAD_PARAMS 4 bytes too long`, CMD_LOAD_PARAMS, mem(long))).code, TEE_ERROR_BAD_PARAMETERS);
      assert.equal((await rec.invoke(`${tag}: LOAD_PARAMS of 10 bytes`, CMD_LOAD_PARAMS, mem(weights.subarray(0, 10)))).code, TEE_ERROR_BAD_PARAMETERS);
    }
    const train = await rec.invoke(`${tag}: training refused`, CMD_TRAIN_STEP, mem(new Uint8Array(B * taIn * 4)), val(B), mem(new Uint8Array(B)));
    assert.equal(train.code, TEE_ERROR_BAD_STATE);
    await rec.invoke(`${tag}: GET_STATS`, CMD_GET_STATS, out(1 << 16));
    rec.close();
  }
}


/**
 * The sessions the guest replays against the real TA (scripts/optee-qemu/record-session.mjs): the
 * training runs of test/optee-ta-session.test.ts — VGG-7 with the last k = 2, 3, 5, 6, 8 layers inside
 * (top1), LeNet's last 7 (dropout inside, topk with the loss), VGG-7's last 3 under policy full with an
 * UPDATE per step, batch normalisation inside, LeNet's FCs on logistic and leaky 0.01, the local average
 * pools — each with the REE's layers below trained by the gradient that leaves; a middle range; LeNet
 * inference with loaded weights under topk and full; refusals (parameter types, state, cfg errors,
 * ranges, policy rules, a deferred update out of step); and configurations that do not fit the TA's
 * secure memory (OUT_OF_MEMORY naming the layer). One TA of `capacity` bytes serves them all, as
 * OP-TEE's keep-alive instance does. The emulated board runs them in seconds.
 */
export async function guestSessions(storageDir: string, capacity: number): Promise<Recorder> {
  const rec = new Recorder(storageDir, capacity);
  for (const k of [2, 3, 5, 6, 8]) await lastKSession(rec, VGG7, k, [4, 4, 3], 'top1');
  await lastKSession(rec, LENET, 7, [4, 2], 'topk');
  await lastKSession(rec, VGG7, 3, [2, 2], 'full', false);
  await lastKSession(rec, VGG7_BN, 8, [4, 4, 3], 'top1');
  await lastKSession(rec, VGG7_BN, 5, [3, 2], 'full');
  await lastKSession(rec, LENET_LOGISTIC, 7, [4, 3], 'top1');
  for (const text of [VGG7_LAP, VGG7_LAP_PT]) await lastKSession(rec, text, 8, [3, 2], 'top1');
  await middleSession(rec);
  await inferenceSessions(rec);
  await refusalSession(rec, capacity);
  // Beyond the TA's secure memory: VGG-7 whole, training 256 images per forward (a layer's buffer), and
  // inference of 4096 (the I/O blocks)
  for (const [batch, flags] of [[256, FLAG_TRAIN], [4096, 0]] as const) {
    rec.newTa(capacity);
    rec.open(`OOM ${batch}`);
    const r = await rec.invoke(`VGG-7 0:13, ${batch} images per forward`, CMD_CONFIGURE, ...configureParams(VGG7, 0, 13, batch, flags, 'top1'));
    assert.equal(r.code, TEE_ERROR_OUT_OF_MEMORY, r.message);
    assert.match(r.message, /^secure memory exhausted at layer \d+ \(\w+( I\/O)?\) buffer '\w+': needs /);
    await rec.invoke(`OOM ${batch}: GET_STATS after`, CMD_GET_STATS, out(1 << 16));
    rec.close();
  }
  return rec;
}

/** Refusals the C TA answers as the software TA does, words included (a subset of the native test's). */
async function refusalSession(rec: Recorder, capacity: number): Promise<void> {
  rec.newTa(capacity);
  rec.open('refusals');
  const expect = async (what: string, code: number, cmd: number, ...params: Param[]): Promise<void> => {
    const r = await rec.invoke(what, cmd, ...params);
    assert.equal(r.code, code, `${what}: ${r.message}`);
  };
  await expect('FORWARD before CONFIGURE', TEE_ERROR_BAD_STATE, CMD_FORWARD, mem(new Uint8Array(4)), val(1), NONE, NONE);
  await expect('CONFIGURE with wrong types', TEE_ERROR_BAD_PARAMETERS, CMD_CONFIGURE, val(1), val(1));
  await expect('unknown command', TEE_ERROR_NOT_SUPPORTED, 0x42);
  const badCfgs = [
    VGG7.replace('filters=16', 'filters=0'),
    VGG7.replace('[maxpool]', '[route]'),
    VGG7.replace('size=3', 'size=3\ndilation=2'),
    VGG7.replace('momentum=0.9', 'momentum=1.5'),
    VGG7.replace('activation=relu', 'activation=elu'),
    VGG7.replace('size=3', 'size=3x'),
  ];
  for (const [i, text] of badCfgs.entries()) await expect(`bad cfg ${i}`, TEE_ERROR_BAD_PARAMETERS, CMD_CONFIGURE, ...configureParams(text, 0, 13, 1, 0, 'top1'));
  await expect('a range that splits prediction and cost', TEE_ERROR_BAD_PARAMETERS, CMD_CONFIGURE, ...configureParams(VGG7, 9, 12, 1, 0, 'top1'));
  await expect('a range past the end', TEE_ERROR_BAD_PARAMETERS, CMD_CONFIGURE, ...configureParams(VGG7, 3, 14, 1, 0, 'top1'));
  await expect('CONFIGURE 11:13 inference', TEE_SUCCESS, CMD_CONFIGURE, ...configureParams(VGG7, 11, 13, 2, 0, 'top1'));
  await expect('CONFIGURE twice', TEE_ERROR_BAD_STATE, CMD_CONFIGURE, ...configureParams(VGG7, 11, 13, 2, 0, 'top1'));
  await expect('FORWARD with a short activation', TEE_ERROR_BAD_PARAMETERS, CMD_FORWARD, mem(new Uint8Array(100)), val(2), NONE, out(8));
  await expect('FORWARD with labels under top1', TEE_ERROR_ACCESS_DENIED, CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2), mem(new Uint8Array(2)), out(8));
  await expect('UPDATE in inference', TEE_ERROR_BAD_STATE, CMD_UPDATE, val(2, 0));
  await expect('plaintext export under top1', TEE_ERROR_ACCESS_DENIED, CMD_EXPORT_PARAMS_PLAINTEXT, out(MIB));
  await expect('FORWARD into a short buffer', TEE_ERROR_SHORT_BUFFER, CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2), NONE, out(4));
  await expect('FORWARD', TEE_SUCCESS, CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2), NONE, out(8));
  rec.close();
  rec.open('refusals in training');
  await expect('CONFIGURE 12:13 training', TEE_SUCCESS, CMD_CONFIGURE, ...configureParams(VGG7, 12, 13, 2, FLAG_TRAIN, 'top1'));
  await expect('TRAIN_STEP without labels', TEE_ERROR_BAD_PARAMETERS, CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2));
  await expect('TRAIN_STEP deferring an update with nothing trained since the last', TEE_ERROR_BAD_STATE,
    CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2, 2), mem(Uint8Array.of(3, 4)));
  await expect('TRAIN_STEP', TEE_SUCCESS, CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2, 0), mem(Uint8Array.of(3, 4)));
  await expect('TRAIN_STEP deferring an update of other images than trained', TEE_ERROR_BAD_STATE,
    CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2, 3), mem(Uint8Array.of(3, 4)));
  await expect('TRAIN_STEP deferring the update', TEE_SUCCESS, CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2, 2), mem(Uint8Array.of(5, 6)));
  await expect('UPDATE out of step', TEE_ERROR_BAD_STATE, CMD_UPDATE, val(2, 0));
  await expect('UPDATE flushing', TEE_SUCCESS, CMD_UPDATE, val(2, 1));
  await rec.invoke('GET_STATS', CMD_GET_STATS, out(1 << 16));
  rec.close();
}
