// The OP-TEE TA's command layer (optee/ta/commands.c, issue 17 milestone 2) against the software TA.
//
// Whole partitioned sessions are run against the TypeScript TA in this process (TrustedApp with the
// real command table, the reference kernels, a secure-memory arena), with the normal world's layers
// run by the engine around it — REE layers forward, the protected range's TRAIN_STEP, the gradient
// leaving it back into the REE layers, both worlds' updates, inference, exports — and every request
// is recorded. The C dispatcher (built with the host's cc, the same code OP-TEE's entry points call)
// then answers the same requests (optee/ta/test/session_dump.c). Every result code, every message and
// every byte that leaves must be equal: activations, gradients, labels, probabilities, exported
// weights, GET_STATS (except the kernels' name and the timings, which the C TA does not keep). The
// loss (TAKE_LOSS, a float64 sum of logs) is compared to 1e-12 relative: the C TA's log is not V8's.
//
// Because the answers are equal bit for bit, the REE inputs that followed each answer are the ones a
// live run against the C TA would have sent, so this is a full partitioned run through the C TA.
// Skipped with a note without a C compiler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceKernels } from '../src/kernels/reference.js';
import { oneHot } from '../src/data/batches.js';
import { parseCfg } from '../src/nn/cfg.js';
import type { NetworkConfig } from '../src/nn/config.js';
import { Network } from '../src/nn/network.js';
import { DARKNET_WEIGHTS_VERSION, encodeWeights } from '../src/nn/weights.js';
import { secureFootprint } from '../src/tee/shared/footprint.js';
import { Arena } from '../src/tee/ta/arena.js';
import { COMMANDS } from '../src/tee/ta/commands.js';
import { TaError, TrustedApp, type TaParam } from '../src/tee/ta/ta.js';
import {
  CMD_BACKWARD, CMD_CONFIGURE, CMD_DEVICE_INIT, CMD_EXPORT_PARAMS_PLAINTEXT, CMD_FORWARD, CMD_GET_STATS, CMD_LOAD_PARAMS, CMD_TAKE_LOSS,
  CMD_TRAIN_STEP, CMD_UPDATE, FLAG_ALLOW_PLAINTEXT_EXPORT, FLAG_INPUT_DELTA, FLAG_TRAIN, FORWARD_TRAIN, POLICY_IDS, TEE_ERROR_ACCESS_DENIED,
  TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_BUSY, TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS, type OutputPolicy,
} from '../src/tee/shared/protocol.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TA = join(ROOT, 'optee', 'ta');
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-session-'));
const exe = join(dir, 'session_dump');
const SOURCES = ['cfg', 'strbuf', 'partition', 'commands', 'arena', 'rng', 'output', 'maxpool', 'sgd', 'dropout', 'avgpool', 'connected', 'conv',
  'batchnorm', 'localavgpool', 'softmax', 'llmath', 'cost'].map((f) => join(TA, `${f}.c`));
// OP-TEE's TA dev kit flags (mk/compile.mk at WARNS=3, -Werror by default), so the TA build stays clean.
const WARNINGS = ['-Werror', '-Wall', '-Wcast-align', '-Werror-implicit-function-declaration', '-Wextra', '-Wfloat-equal', '-Wformat-nonliteral',
  '-Wformat-security', '-Wformat=2', '-Winit-self', '-Wmissing-declarations', '-Wmissing-format-attribute', '-Wmissing-include-dirs',
  '-Wmissing-noreturn', '-Wmissing-prototypes', '-Wnested-externs', '-Wpointer-arith', '-Wshadow', '-Wstrict-prototypes', '-Wswitch-default',
  '-Wwrite-strings', '-Wno-missing-field-initializers', '-Wno-format-zero-length', '-Waggregate-return', '-Wredundant-decls', '-Winline',
  '-Wold-style-definition', '-Wstrict-aliasing=2', '-Wundef', '-pedantic', '-Wdeclaration-after-statement'];
const cc = spawnSync('cc', ['-std=gnu99', '-O2', '-ffp-contract=off', '-fno-math-errno', ...WARNINGS, `-I${join(TA, 'include')}`,
  ...SOURCES, join(TA, 'test', 'session_dump.c'), '-o', exe], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-session.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const VGG7 = readFileSync(join(ROOT, 'cfg', 'vgg7-mnist.cfg'), 'utf8');
const LENET = readFileSync(join(ROOT, 'cfg', 'lenet-mnist.cfg'), 'utf8');
/** A cfg with batch_normalize=1 added to the layer sections (cfg indices) listed. */
function withBatchNorm(text: string, layers: readonly number[]): string {
  const parts = text.split(/^(?=\[)/m);
  // parts[0] is the comments, parts[1] [net], parts[2 + i] layer i
  for (const i of layers) parts[2 + i] = parts[2 + i]!.replace(/^(\[\w+\]\n)/, '$1batch_normalize=1\n');
  return parts.join('');
}
const VGG7_BN = withBatchNorm(VGG7, [6, 7, 9]);
/** VGG-7 with its last max-pool (layer 8) an average over the same windows, Darknet's way and PyTorch's. */
const VGG7_LAP = VGG7.replace(/\[maxpool\]\nsize=2\nstride=2\n(?![\s\S]*\[maxpool\])/, '[local_avgpool]\nsize=2\nstride=2\n');
const VGG7_LAP_PT = VGG7.replace(/\[maxpool\]\nsize=2\nstride=2\n(?![\s\S]*\[maxpool\])/, '[local_avgpool]\nsize=3\nstride=2\npadding=2\nceil_mode=1\ncount_include_pad=1\n');
/** LeNet with its 120-unit FC on Darknet's default activation (no activation= key: logistic) … */
const LENET_LOGISTIC = LENET.replace('output=120\nactivation=relu\n', 'output=120\n')
  // and its 84-unit FC on PyTorch's leaky slope (not the kernels' 0.1: a loop after a linear epilogue)
  .replace('output=84\nactivation=relu\n', 'output=84\nactivation=leaky\nleaky_slope=0.01\n');
const SEED = 20190617;
const MIB = 1 << 20;

// ---------------------------------------------------------------------------------------------
// A recorded session: each request goes to the software TA now and into the transcript for the C TA.

type Param =
  | { kind: 'none' }
  | { kind: 'value'; a: number; b: number }
  | { kind: 'in'; bytes: Uint8Array }
  | { kind: 'out'; size: number };

type Out = { value: { a: number; b: number } } | { size: number; bytes: Uint8Array | null };

interface Reply {
  what: string;
  cmd: number;
  code: number;
  message: string;
  outs: Out[];
  /** Where the C TA is known to answer otherwise (a documented gap), what it must answer instead. */
  c?: { code: number; message: string };
}

const NONE: Param = { kind: 'none' };
const val = (a: number, b = 0): Param => ({ kind: 'value', a: a >>> 0, b: b >>> 0 });
const mem = (bytes: Uint8Array): Param => ({ kind: 'in', bytes });
const out = (size: number): Param => ({ kind: 'out', size });
const TYPE: Record<Param['kind'], number> = { none: 0, value: 1, in: 5, out: 6 };
const hex = (b: Uint8Array): string => (b.length ? Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') : '-');
const f32bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

class Recorder {
  readonly lines: string[] = [];
  readonly replies: Reply[] = [];
  private ta: TrustedApp | null = null;
  private session = 0;

  newTa(capacity: number): void {
    this.ta = new TrustedApp({ arena: new Arena(capacity), kernels: referenceKernels, threads: 1, storageDir: dir, diagnostics: false }, COMMANDS);
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

function outBytes(r: Reply, i = 0): Uint8Array {
  assert.equal(r.code, TEE_SUCCESS, `${r.what}: ${r.message}`);
  const o = r.outs[i] as { bytes: Uint8Array | null };
  assert.ok(o.bytes, `${r.what}: no output`);
  return o.bytes;
}

function floats(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Runs the transcript through the C dispatcher and compares every reply with the software TA's. */
function replayInC(rec: Recorder): { compared: number; bytes: number } {
  const r = spawnSync(exe, [], { input: rec.lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 512 * MIB });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  let at = 0;
  let bytes = 0;
  const take = (prefix: string): string => {
    const line = lines[at++] ?? '';
    assert.ok(line.startsWith(prefix), `C output line ${at}: expected '${prefix}…', got '${line.slice(0, 80)}'`);
    return line.slice(prefix.length);
  };
  for (const ts of rec.replies) {
    const code = Number(take('R '));
    const message = take('M ');
    if (ts.c) {
      assert.equal(`0x${code.toString(16)}`, `0x${ts.c.code.toString(16)}`, `${ts.what}: the C TA's result code (${message})`);
      assert.equal(message, ts.c.message, `${ts.what}: the C TA's message`);
      for (let i = 0; i < ts.outs.length; i++) take('B ');
      continue;
    }
    assert.equal(`0x${code.toString(16)}`, `0x${ts.code.toString(16)}`, `${ts.what}: result code (C: ${message}; TS: ${ts.message})`);
    if (ts.cmd === CMD_GET_STATS && ts.code === TEE_ERROR_SHORT_BUFFER) {
      // the size needed is the C TA's own JSON's (the software TA's has timings as well)
      const [size = ''] = take('B ').split(' ');
      assert.equal(message, `output needs ${size} bytes`, `${ts.what}: message`);
      continue;
    }
    assert.equal(message, ts.message, `${ts.what}: message`);
    for (const o of ts.outs) {
      assert.ok(!('value' in o), 'no value outputs in these commands');
      const [size = '', data = ''] = take('B ').split(' ');
      // GET_STATS: the software TA's JSON also has its timings (command_ms), so sizes differ
      if (ts.cmd !== CMD_GET_STATS) assert.equal(Number(size), o.size, `${ts.what}: output size`);
      if (o.bytes === null) continue;
      const c = data === '-' ? new Uint8Array(0) : Buffer.from(data, 'hex');
      if (ts.cmd === CMD_GET_STATS) {
        const strip = (s: string): unknown => {
          const j = JSON.parse(s) as Record<string, unknown>;
          delete j.kernels;
          delete j.command_ms;
          return j;
        };
        assert.deepEqual(strip(Buffer.from(c).toString('utf8')), strip(Buffer.from(o.bytes).toString('utf8')), `${ts.what}: GET_STATS`);
      } else if (ts.cmd === CMD_TAKE_LOSS) {
        const dc = new DataView(c.buffer, c.byteOffset, 16);
        const dt = new DataView(o.bytes.buffer, o.bytes.byteOffset, 16);
        assert.equal(dc.getFloat64(8, true), dt.getFloat64(8, true), `${ts.what}: images in the loss`);
        const a = dc.getFloat64(0, true);
        const b = dt.getFloat64(0, true);
        assert.ok(Math.abs(a - b) <= 1e-12 * Math.abs(b), `${ts.what}: loss ${a} vs ${b}`);
      } else {
        // bit for bit: compared as hex so a failure shows where
        assert.equal(Buffer.from(c).toString('hex'), Buffer.from(o.bytes).toString('hex'), `${ts.what}: output bytes`);
      }
      bytes += o.bytes.length;
    }
  }
  assert.equal(lines.slice(at).join(''), '', 'the C TA answered more than was asked');
  return { compared: rec.replies.length, bytes };
}

// ---------------------------------------------------------------------------------------------
// Data and the normal world

function images(n: number, size: number, seed: number): { x: Float32Array; labels: Uint8Array } {
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const x = Float32Array.from({ length: n * size }, () => (next() % 7 === 0 ? 0 : (next() >>> 8) / 2 ** 24));
  const labels = Uint8Array.from({ length: n }, () => next() % 10);
  return { x, labels };
}

function configureParams(cfgText: string, start: number, end: number, maxBatch: number, flags: number, policy: OutputPolicy, topk = 0): Param[] {
  return [mem(new TextEncoder().encode(cfgText)), val(start, end), val(maxBatch, SEED), val(flags, POLICY_IDS[policy] | (topk << 8))];
}

function trainableBelow(config: NetworkConfig, start: number): boolean {
  return config.layers.slice(0, start).some((l) => l.type === 'convolutional' || l.type === 'connected');
}

/**
 * The paper's case: the last k layers in the TEE, fine-tuned with TRAIN_STEP, the REE's layers below
 * trained with the gradient that leaves; then inference (top1) and the weights after training.
 * Folded (as tee/partitioned.ts does): each TRAIN_STEP carries the previous batch's update (p1.b)
 * and one explicit UPDATE flushes the last; unfolded: an UPDATE after every step.
 */
async function lastKSession(rec: Recorder, cfgText: string, k: number, batches: number[], policy: OutputPolicy, fold = true): Promise<{ steps: number; gradients: number }> {
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
async function middleSession(rec: Recorder): Promise<void> {
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
async function inferenceSessions(rec: Recorder): Promise<void> {
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

// ---------------------------------------------------------------------------------------------

test('the C command layer compiles (with the TA dev kit\'s warnings as errors)', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C TA = software TA over whole partitioned training runs: VGG-7 last k layers (k = 2, 3, 5, 6, 8; with batch norm), LeNet last 7 (relu; logistic and leaky 0.01), local average pools', { skip }, async (t) => {
  const rec = new Recorder();
  let gradients = 0;
  for (const k of [2, 3, 5, 6, 8]) gradients += (await lastKSession(rec, VGG7, k, [4, 4, 3], 'top1')).gradients;
  gradients += (await lastKSession(rec, LENET, 7, [4, 2], 'topk')).gradients;
  gradients += (await lastKSession(rec, VGG7, 3, [2, 2], 'full', false)).gradients;
  // batch normalisation inside (two convolutions and the 64-unit FC; over the FC's batch of 2 images too)
  gradients += (await lastKSession(rec, VGG7_BN, 8, [4, 4, 3], 'top1')).gradients;
  gradients += (await lastKSession(rec, VGG7_BN, 5, [3, 2], 'full')).gradients;
  assert.deepEqual(parseCfg(LENET_LOGISTIC, 'test').layers.slice(4, 7).map((l) => l.type === 'connected' ? [l.activation, l.slope ?? null] : l.type),
    [['logistic', null], 'dropout', ['leaky', 0.01]]);
  gradients += (await lastKSession(rec, LENET_LOGISTIC, 7, [4, 3], 'top1')).gradients;
  // [local_avgpool] inside, the gradient flowing through it into the convolutions below
  for (const text of [VGG7_LAP, VGG7_LAP_PT]) {
    assert.equal(parseCfg(text, 'test').layers[8]!.type, 'local_avgpool');
    gradients += (await lastKSession(rec, text, 8, [3, 2], 'top1')).gradients;
  }
  assert.equal(gradients, 5 * 3 + 2 + 2 + 3 + 2 + 2 + 2 * 2, 'every step with trainable REE layers below got a gradient back');
  const { compared, bytes } = replayInC(rec);
  assert.ok(compared > 80 && bytes > 1_000_000, `compared ${compared} replies, ${bytes} bytes`);
  t.diagnostic(`${compared} replies, ${bytes} bytes out of the TA compared; ${gradients} gradients left the TA into the REE's layers`);
});

test('C TA = software TA: a middle range (FORWARD/BACKWARD with the REE above and below) and LeNet inference with loaded weights', { skip }, async (t) => {
  const rec = new Recorder();
  await middleSession(rec);
  await inferenceSessions(rec);
  const { compared, bytes } = replayInC(rec);
  t.diagnostic(`${compared} replies, ${bytes} bytes out of the TA compared`);
});

test('C TA = software TA: OUT_OF_MEMORY names the layer and buffer and what would fit, word for word', { skip }, async () => {
  const rec = new Recorder();
  const cases: [capacity: number, start: number, batch: number, flags: number][] = [
    [300_000, 0, 4, FLAG_TRAIN], // VGG-7 whole, training: a conv buffer overflows
    [2_000_000, 0, 16, FLAG_TRAIN], // a batch that fits exists
    [120_000, 6, 8, FLAG_TRAIN | FLAG_INPUT_DELTA], // a shorter range fits
    [1_000, 9, 1, 0], // not even one image
    [1_100_000, 0, 32, 0], // inference: the I/O blocks
  ];
  // Exactly what 9:13 needs at 8 images: 8:13 does not fit and the suggestion must be 9:13 (the first
  // start tried), and the same capacity for 9:13 itself must fit to the byte.
  const vgg = parseCfg(VGG7, 'test');
  const exact = secureFootprint(vgg, { start: 9, end: 13, batch: 8, mode: 'train', threads: 1, inputDelta: true }).total;
  cases.push([exact, 8, 8, FLAG_TRAIN | FLAG_INPUT_DELTA]);
  const messages: string[] = [];
  for (const [capacity, start, batch, flags] of cases) {
    rec.newTa(capacity);
    rec.open(`OOM ${capacity}`);
    const r = await rec.invoke(`OOM ${capacity} ${start}:13 batch ${batch}`, CMD_CONFIGURE, ...configureParams(VGG7, start, 13, batch, flags, 'top1'));
    assert.equal(r.code, TEE_ERROR_OUT_OF_MEMORY, r.message);
    assert.match(r.message, /^secure memory exhausted at layer \d+ \(\w+( I\/O)?\) buffer '\w+': needs .* in all\. /);
    messages.push(r.message);
    await rec.invoke(`OOM ${capacity}: GET_STATS after`, CMD_GET_STATS, out(1 << 16));
    rec.close();
  }
  assert.ok(messages.some((m) => m.includes('The largest batch that fits is')), 'a batch suggestion was tested');
  assert.ok(messages.some((m) => m.includes('the longest range ending at layer 13 that fits is')), 'a range suggestion was tested');
  assert.ok(messages.some((m) => m.includes('Not even one image per forward')), 'the no-fit case was tested');
  assert.ok(messages.at(-1)!.includes('that fits is 9:13 (--tee-layers 9:13)'), messages.at(-1));
  rec.newTa(exact);
  rec.open('exact fit');
  const fits = await rec.invoke('9:13 in exactly its footprint', CMD_CONFIGURE, ...configureParams(VGG7, 9, 13, 8, FLAG_TRAIN | FLAG_INPUT_DELTA, 'top1'));
  assert.equal(fits.code, TEE_SUCCESS, fits.message);
  await rec.invoke('exact fit: GET_STATS', CMD_GET_STATS, out(1 << 16));
  rec.close();
  replayInC(rec);
});

test('C TA = software TA: refusals (parameter types, state, ranges, cfg errors, unsupported commands, busy)', { skip }, async () => {
  const rec = new Recorder();
  rec.newTa(4 * MIB);
  rec.open('refusals');
  assert.equal(rec.open('a second session').code, TEE_ERROR_BUSY);
  assert.equal((await rec.invoke('FORWARD before CONFIGURE', CMD_FORWARD, mem(new Uint8Array(4)), val(1), NONE, NONE)).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('CONFIGURE with wrong types', CMD_CONFIGURE, val(1), val(1))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('unknown command', 0x42)).code, TEE_ERROR_NOT_SUPPORTED);
  const badCfgs = [
    VGG7.replace('filters=16', 'filters=0'),
    VGG7.replace('[maxpool]', '[route]'),
    VGG7.replace('size=3', 'size=3\ndilation=2'),
    VGG7.replace('momentum=0.9', 'momentum=1.5'),
    VGG7.replace('[net]', 'batch=1\n[net]'),
    VGG7.replace('activation=relu', 'activation=elu'),
    VGG7.replace('size=3', 'size=3x'),
    '',
  ];
  for (const [i, text] of badCfgs.entries()) {
    const r = await rec.invoke(`bad cfg ${i}`, CMD_CONFIGURE, ...configureParams(text, 0, 13, 1, 0, 'top1'));
    assert.equal(r.code, TEE_ERROR_BAD_PARAMETERS, `bad cfg ${i}: ${r.message}`);
  }
  assert.equal((await rec.invoke('a range that splits prediction and cost', CMD_CONFIGURE, ...configureParams(VGG7, 9, 12, 1, 0, 'top1'))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('a range past the end', CMD_CONFIGURE, ...configureParams(VGG7, 3, 14, 1, 0, 'top1'))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('an unknown policy', CMD_CONFIGURE, mem(new TextEncoder().encode(VGG7)), val(11, 13), val(1, 1), val(0, 7))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('too many images', CMD_CONFIGURE, ...configureParams(VGG7, 11, 13, 0, 0, 'top1'))).code, TEE_ERROR_BAD_PARAMETERS);
  const ok = await rec.invoke('CONFIGURE 11:13 inference', CMD_CONFIGURE, ...configureParams(VGG7, 11, 13, 2, 0, 'top1'));
  assert.equal(ok.code, TEE_SUCCESS, ok.message);
  assert.equal((await rec.invoke('CONFIGURE twice', CMD_CONFIGURE, ...configureParams(VGG7, 11, 13, 2, 0, 'top1'))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('FORWARD without an output buffer', CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2), NONE, NONE)).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('FORWARD with a short activation', CMD_FORWARD, mem(new Uint8Array(100)), val(2), NONE, out(8))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('FORWARD of too many images', CMD_FORWARD, mem(new Uint8Array(3 * 64 * 4)), val(3), NONE, out(12))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('FORWARD with labels under top1', CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2), mem(new Uint8Array(2)), out(8))).code, TEE_ERROR_ACCESS_DENIED);
  assert.equal((await rec.invoke('training FORWARD in inference', CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2, FORWARD_TRAIN), NONE, out(8))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('UPDATE in inference', CMD_UPDATE, val(2, 0))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('TRAIN_STEP with a deferred update in inference', CMD_TRAIN_STEP, mem(new Uint8Array(2 * 64 * 4)), val(2, 2), NONE)).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('BACKWARD in inference', CMD_BACKWARD, NONE, val(2))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('plaintext export under top1', CMD_EXPORT_PARAMS_PLAINTEXT, out(MIB))).code, TEE_ERROR_ACCESS_DENIED);
  assert.equal((await rec.invoke('FORWARD', CMD_FORWARD, mem(new Uint8Array(2 * 64 * 4)), val(2), NONE, out(8))).code, TEE_SUCCESS);
  await rec.invoke('GET_STATS into a short buffer', CMD_GET_STATS, out(10));
  await rec.invoke('GET_STATS', CMD_GET_STATS, out(1 << 16));
  rec.close();
  // a fresh session on the same TA: the partition is gone, the command counts stay (as in ta.ts)
  rec.open('after close');
  await rec.invoke('GET_STATS after close', CMD_GET_STATS, out(1 << 16));
  const train = await rec.invoke('CONFIGURE 12:13 training', CMD_CONFIGURE, ...configureParams(VGG7, 12, 13, 2, FLAG_TRAIN, 'top1'));
  assert.equal(train.code, TEE_SUCCESS, train.message);
  assert.equal((await rec.invoke('TRAIN_STEP without labels', CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2))).code, TEE_ERROR_BAD_PARAMETERS);
  // an empty memory reference is labels given (none of them), not labels absent; OP-TEE passes NULL
  assert.equal((await rec.invoke('TRAIN_STEP with an empty labels buffer', CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2), mem(new Uint8Array(0)))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('TRAIN_STEP with an empty activation', CMD_TRAIN_STEP, mem(new Uint8Array(0)), val(2), mem(new Uint8Array(2)))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('GET_STATS into an empty buffer', CMD_GET_STATS, out(0))).code, TEE_ERROR_SHORT_BUFFER);
  assert.equal((await rec.invoke('TRAIN_STEP with a gradient buffer nobody needs', CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4)), val(2), mem(new Uint8Array(2)), out(80))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('UPDATE of no images', CMD_UPDATE, val(0, 0))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('training FORWARD with the loss inside', CMD_FORWARD, mem(new Uint8Array(2 * 10 * 4)), val(2, FORWARD_TRAIN), mem(Uint8Array.of(3, 4)), out(8))).code, TEE_SUCCESS);
  assert.equal((await rec.invoke('BACKWARD with a gradient from above the last layer', CMD_BACKWARD, mem(new Uint8Array(80)), val(2))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('training FORWARD without labels', CMD_FORWARD, mem(new Uint8Array(2 * 10 * 4)), val(2, FORWARD_TRAIN), NONE, out(8))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('UPDATE in step', CMD_UPDATE, val(2, 0))).code, TEE_SUCCESS);
  // A deferred update (TRAIN_STEP p1.b) must name the images trained since the last update, and a
  // refused step applies nothing: the update count in GET_STATS stays where it was.
  const step = (labels: Uint8Array, deferred: number): Param[] => [mem(new Uint8Array(2 * 10 * 4)), val(2, deferred), mem(labels)];
  const updates = (r: Reply): number => (JSON.parse(Buffer.from(outBytes(r)).toString('utf8')) as { partition: { updates: number } }).partition.updates;
  const none = await rec.invoke('TRAIN_STEP deferring an update with nothing trained since the last', CMD_TRAIN_STEP, ...step(Uint8Array.of(3, 4), 2));
  assert.equal(none.code, TEE_ERROR_BAD_STATE);
  assert.equal(none.message, 'the worlds are out of step: the normal world defers an update of 2 images, the TEE trained on 0 since update 1');
  assert.equal((await rec.invoke('TRAIN_STEP', CMD_TRAIN_STEP, ...step(Uint8Array.of(3, 4), 0))).code, TEE_SUCCESS);
  assert.equal((await rec.invoke('TRAIN_STEP deferring an update of other images than trained', CMD_TRAIN_STEP, ...step(Uint8Array.of(3, 4), 3))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('TRAIN_STEP deferring an update, with a label that is not a class', CMD_TRAIN_STEP, ...step(Uint8Array.of(3, 10), 2))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('TRAIN_STEP deferring an update, with a short activation', CMD_TRAIN_STEP, mem(new Uint8Array(2 * 10 * 4 - 4)), val(2, 2), mem(Uint8Array.of(3, 4)))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal(updates(await rec.invoke('GET_STATS after the refused steps', CMD_GET_STATS, out(1 << 16))), 1, 'no refused step applied its update');
  assert.equal((await rec.invoke('TRAIN_STEP deferring the update', CMD_TRAIN_STEP, ...step(Uint8Array.of(5, 6), 2))).code, TEE_SUCCESS);
  assert.equal(updates(await rec.invoke('GET_STATS after the deferred update', CMD_GET_STATS, out(1 << 16))), 2);
  assert.equal((await rec.invoke('UPDATE with the count before the deferred one', CMD_UPDATE, val(2, 1))).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('UPDATE flushing the step after it', CMD_UPDATE, val(2, 2))).code, TEE_SUCCESS);
  // Absurd sizes from a hostile normal world: the software TA runs out of secure memory, the C TA
  // refuses them before any size arithmetic could overflow (its own guard, docs/optee.md).
  rec.close();
  rec.open('absurd sizes');
  const vgg = parseCfg(VGG7, 'test');
  for (const [what, text, layer] of [
    ['2^31 - 1 filters', VGG7.replace('filters=16', 'filters=2147483647'), 0],
    ['a max-pool padded by 2^31 - 1', VGG7.replace('[maxpool]\nsize=2\nstride=2', '[maxpool]\nsize=2\nstride=2\npadding=2147483647'), 2],
    ['an input of (2^31 - 1)^3 values', VGG7.replace('height=28\nwidth=28\nchannels=1', 'height=2147483647\nwidth=2147483647\nchannels=2147483647'), 0],
  ] as const) {
    assert.notEqual(text, VGG7, what);
    const type = vgg.layers[layer]!.type;
    await rec.invokeExpectingC(what, {
      code: TEE_ERROR_BAD_PARAMETERS,
      message: `cfg from the normal world:${vgg.layers[layer]!.source.line}: [${type}] layer ${layer} is larger than the C TA takes (more than 2^32 values in one buffer, or a window or stride above 65536)`,
    }, CMD_CONFIGURE, ...configureParams(text, 0, 13, 1, FLAG_TRAIN, 'top1'));
    assert.equal(rec.replies.at(-1)!.code, TEE_ERROR_OUT_OF_MEMORY, `${what}: the software TA runs out of secure memory`);
  }
  // The deployment commands are not in the C TA's table yet (docs/optee.md): NOT_SUPPORTED there
  // (last, as the software TA counts it in GET_STATS and the C TA does not).
  await rec.invokeExpectingC('deployment command', { code: TEE_ERROR_NOT_SUPPORTED, message: 'command DEVICE_INIT is not supported by this TA' },
    CMD_DEVICE_INIT, out(64));
  rec.close();
  // What the C TA does not run yet, inside the range (the software TA does): refused with NOT_SUPPORTED,
  // each in a session of its own (the software TA is configured after it, the C TA not).
  const notYet: [string, string, number, string][] = [
    ['tanh inside', VGG7.replace(/output=10\nactivation=linear/, 'output=10\nactivation=tanh'), 0,
      'layer 11 (connected): the tanh activation is not implemented in the C TA yet (the software TA has it)'],
    ['training with policy=poly', VGG7.replace('policy=constant', 'policy=poly'), FLAG_TRAIN,
      'training with learning-rate burn-in or a policy other than constant and steps is not implemented in the C TA yet (it needs pow/exp equal to V8\'s)'],
  ];
  for (const [what, text, flags, message] of notYet) {
    assert.notEqual(text, VGG7, what);
    rec.open(what);
    const r = await rec.invokeExpectingC(what, { code: TEE_ERROR_NOT_SUPPORTED, message }, CMD_CONFIGURE, ...configureParams(text, 11, 13, 2, flags, 'top1'));
    assert.equal(r.code, TEE_SUCCESS, `${what}: the software TA runs it (${r.message})`);
    rec.close();
  }
  // inference with poly is fine: the learning rate is only read by UPDATE
  rec.open('inference with policy=poly');
  assert.equal((await rec.invoke('inference with policy=poly', CMD_CONFIGURE, ...configureParams(VGG7.replace('policy=constant', 'policy=poly'), 11, 13, 2, 0, 'top1'))).code, TEE_SUCCESS);
  rec.close();
  replayInC(rec);
});

test('entry.c: OP-TEE\'s entry points reach the dispatcher (built against a test stand-in of OP-TEE\'s headers)', { skip }, () => {
  // Only the TA dev kit build checks entry.c against OP-TEE's real headers (scripts/optee-qemu);
  // this checks it is well-formed under the dev kit's warnings and wired as OP-TEE calls it.
  const entryExe = join(dir, 'entry_dump');
  const build = spawnSync('cc', ['-std=gnu99', '-O2', '-ffp-contract=off', '-fno-math-errno', ...WARNINGS, '-DLAYERLOCK_OPTEE=1',
    `-I${join(TA, 'test', 'optee-stub')}`, `-I${join(TA, 'include')}`, join(TA, 'entry.c'), ...SOURCES, join(TA, 'test', 'entry_dump.c'), '-o', entryExe],
  { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const r = spawnSync(entryExe, [], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [create, open, stats, json = '{}', forward] = r.stdout.trim().split('\n');
  assert.deepEqual([create, open, stats, forward], ['create 0', 'open 0', 'stats 0', `forward ${TEE_ERROR_BAD_STATE.toString(16)}`]);
  const s = JSON.parse(json) as { arena: { capacity: number }; commands: Record<string, number> };
  assert.equal(s.arena.capacity, 12 * MIB, 'the arena is LAYERLOCK_SECURE_MEM (12 MiB by default)');
  assert.deepEqual(s.commands, { GET_STATS: 1 });
  assert.match(r.stderr, /layerlock: FORWARD: 0xffff0007: the session has no partition yet \(CONFIGURE first\)/, 'the message goes to the TA log');
});
