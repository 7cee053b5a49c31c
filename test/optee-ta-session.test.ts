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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCfg } from '../src/nn/cfg.js';
import { secureFootprint } from '../src/tee/shared/footprint.js';
import {
  CMD_BACKWARD, CMD_CONFIGURE, CMD_DEVICE_INIT, CMD_EXPORT_PARAMS_PLAINTEXT, CMD_FORWARD, CMD_GET_STATS, CMD_LAST_MESSAGE, CMD_TAKE_LOSS, CMD_TRAIN_STEP, CMD_UPDATE,
  FLAG_INPUT_DELTA, FLAG_TRAIN, FORWARD_TRAIN, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_BUSY,
  TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_SHORT_BUFFER, TEE_SUCCESS,
} from '../src/tee/shared/protocol.js';
import {
  configureParams, inferenceSessions, lastKSession, LENET, LENET_LOGISTIC, mem, middleSession, MIB, NONE, out, outBytes, type Param,
  guestSessions, Recorder, type Reply, val, VGG7, VGG7_BN, VGG7_LAP, VGG7_LAP_PT,
} from './optee-ta-recorder.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TA = join(ROOT, 'optee', 'ta');
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-session-'));
const exe = join(dir, 'session_dump');
const SOURCES = ['cfg', 'strbuf', 'partition', 'commands', 'arena', 'rng', 'output', 'maxpool', 'sgd', 'dropout', 'avgpool', 'connected', 'conv',
  'batchnorm', 'localavgpool', 'softmax', 'llmath', 'cost', 'json', 'deploy', 'hkdf', 'hpke'].map((f) => join(TA, `${f}.c`))
  // the deployment commands' crypto and storage: OpenSSL and a folder on the host (test/optee-ta-deploy.test.ts tests them)
  .concat(['test/crypto_host.c', 'test/store_host.c'].map((f) => join(TA, f)));
// OP-TEE's TA dev kit flags (mk/compile.mk at WARNS=3, -Werror by default), so the TA build stays clean.
const WARNINGS = ['-Werror', '-Wall', '-Wcast-align', '-Werror-implicit-function-declaration', '-Wextra', '-Wfloat-equal', '-Wformat-nonliteral',
  '-Wformat-security', '-Wformat=2', '-Winit-self', '-Wmissing-declarations', '-Wmissing-format-attribute', '-Wmissing-include-dirs',
  '-Wmissing-noreturn', '-Wmissing-prototypes', '-Wnested-externs', '-Wpointer-arith', '-Wshadow', '-Wstrict-prototypes', '-Wswitch-default',
  '-Wwrite-strings', '-Wno-missing-field-initializers', '-Wno-format-zero-length', '-Waggregate-return', '-Wredundant-decls', '-Winline',
  '-Wold-style-definition', '-Wstrict-aliasing=2', '-Wundef', '-pedantic', '-Wdeclaration-after-statement'];
const cc = spawnSync('cc', ['-std=gnu99', '-O2', '-ffp-contract=off', '-fno-math-errno', ...WARNINGS, `-I${join(TA, 'include')}`,
  ...SOURCES, join(TA, 'test', 'session_dump.c'), '-o', exe, '-lcrypto'], { encoding: 'utf8' });
const skip = cc.error ? `no C compiler (cc): ${cc.error.message}` : false;
if (skip) process.stderr.write(`\n*** optee-ta-session.test: SKIPPED — ${skip} ***\n\n`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

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

test('the C command layer compiles (with the TA dev kit\'s warnings as errors)', { skip }, () => {
  assert.equal(cc.status, 0, cc.stderr);
});

test('C TA = software TA over whole partitioned training runs: VGG-7 last k layers (k = 2, 3, 5, 6, 8; with batch norm), LeNet last 7 (relu; logistic and leaky 0.01), local average pools', { skip }, async (t) => {
  const rec = new Recorder(dir);
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
  const rec = new Recorder(dir);
  await middleSession(rec);
  await inferenceSessions(rec);
  const { compared, bytes } = replayInC(rec);
  t.diagnostic(`${compared} replies, ${bytes} bytes out of the TA compared`);
});

test('C TA = software TA: OUT_OF_MEMORY names the layer and buffer and what would fit, word for word', { skip }, async () => {
  const rec = new Recorder(dir);
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
  const rec = new Recorder(dir);
  rec.newTa(4 * MIB);
  rec.open('refusals');
  assert.equal(rec.open('a second session').code, TEE_ERROR_BUSY);
  assert.equal((await rec.invoke('FORWARD before CONFIGURE', CMD_FORWARD, mem(new Uint8Array(4)), val(1), NONE, NONE)).code, TEE_ERROR_BAD_STATE);
  assert.equal((await rec.invoke('CONFIGURE with wrong types', CMD_CONFIGURE, val(1), val(1))).code, TEE_ERROR_BAD_PARAMETERS);
  assert.equal((await rec.invoke('unknown command', 0x42)).code, TEE_ERROR_NOT_SUPPORTED);
  // LAST_MESSAGE: the words GlobalPlatform cannot return with the code (what the guest's replay uses)
  const words = new TextEncoder().encode('command 0x42 is not supported by this TA');
  assert.equal(Buffer.from(outBytes(await rec.invoke('LAST_MESSAGE', CMD_LAST_MESSAGE, out(4096)))).toString(), Buffer.from(words).toString());
  // its own refusals keep the stored message: the C dispatcher reports that one (the software TA
  // throws with the refusal's words, which its transport carries in the reply frame)
  const kept = { message: 'command 0x42 is not supported by this TA' };
  const short = await rec.invokeExpectingC('LAST_MESSAGE into a short buffer', { code: TEE_ERROR_SHORT_BUFFER, ...kept }, CMD_LAST_MESSAGE, out(8));
  assert.equal(short.code, TEE_ERROR_SHORT_BUFFER);
  await rec.invokeExpectingC('LAST_MESSAGE with wrong types', { code: TEE_ERROR_BAD_PARAMETERS, ...kept }, CMD_LAST_MESSAGE, val(1));
  assert.equal(outBytes(await rec.invoke('LAST_MESSAGE after its refusals', CMD_LAST_MESSAGE, out(words.length))).length, words.length);
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
  // A deployment command with the wrong parameter types: the same refusal (test/optee-ta-deploy.test.ts has the rest)
  assert.equal((await rec.invoke('deployment command with wrong types', CMD_DEVICE_INIT, out(64))).code, TEE_ERROR_BAD_PARAMETERS);
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

test('the guest\'s session file (scripts/optee-qemu/record-session.mjs): its expected answers are the C dispatcher\'s, natively', { skip }, () => {
  // The emulated board's replay (scripts/optee-qemu/host/layerlock_ta_replay.c) compares the real
  // TA's answers with these expectations, written from the software TA's answers (GET_STATS turned
  // into the JSON the C TA writes). Natively, the same C answers them all, byte for byte, here.
  return guestSessions(dir, 12 * MIB).then((rec) => {
    const lines = rec.guestSession().trimEnd().split('\n');
    assert.equal(lines[0], 'LLSESSION 1');
    const wants = lines.filter((l) => l.startsWith('WANT '));
    const transcript = lines.slice(1).filter((l) => !l.startsWith('WANT '));
    const r = spawnSync(exe, [], { input: transcript.join('\n') + '\n', encoding: 'utf8', maxBuffer: 512 * MIB });
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout.split('\n');
    let at = 0;
    let oom = 0;
    for (const [n, w] of wants.entries()) {
      const [, code = '', msg = '', count = '', ...outs] = w.split(' ');
      assert.equal(got[at++], `R ${code}`, `reply ${n + 1}`);
      assert.equal(got[at++], `M ${msg === '-' ? '' : Buffer.from(msg, 'hex').toString('utf8')}`, `reply ${n + 1}`);
      if (Number(code) === TEE_ERROR_OUT_OF_MEMORY) oom++;
      for (let i = 0; i < Number(count); i++) {
        const [mode, size, bytes] = outs.slice(3 * i, 3 * i + 3);
        const [cSize, cBytes] = (got[at++] ?? '').slice(2).split(' ');
        if (Number(code) !== TEE_SUCCESS && Number(code) !== TEE_ERROR_SHORT_BUFFER) continue;
        assert.equal(cSize, size, `reply ${n + 1}: output size`);
        if (Number(code) !== TEE_SUCCESS) continue;
        if (mode === 'l') {
          const a = Buffer.from(cBytes!, 'hex');
          const b = Buffer.from(bytes!, 'hex');
          assert.ok(Math.abs(a.readDoubleLE(0) - b.readDoubleLE(0)) <= 1e-12 * Math.abs(b.readDoubleLE(0)), `reply ${n + 1}: loss`);
          assert.equal(a.readDoubleLE(8), b.readDoubleLE(8));
        } else assert.equal(cBytes, bytes, `reply ${n + 1}: output bytes (mode ${mode})`);
      }
    }
    assert.equal(got.slice(at).join(''), '', 'the C TA answered more than was asked');
    assert.equal(oom, 2, 'the session file has the two OUT_OF_MEMORY cases');
  });
});

test('entry.c: OP-TEE\'s entry points reach the dispatcher (built against a test stand-in of OP-TEE\'s headers)', { skip }, () => {
  // Only the TA dev kit build checks entry.c against OP-TEE's real headers (scripts/optee-qemu);
  // this checks it is well-formed under the dev kit's warnings and wired as OP-TEE calls it.
  const entryExe = join(dir, 'entry_dump');
  const build = spawnSync('cc', ['-std=gnu99', '-O2', '-ffp-contract=off', '-fno-math-errno', ...WARNINGS, '-DLAYERLOCK_OPTEE=1',
    `-I${join(TA, 'test', 'optee-stub')}`, `-I${join(TA, 'include')}`, join(TA, 'entry.c'), ...SOURCES, join(TA, 'test', 'entry_dump.c'), '-o', entryExe, '-lcrypto'],
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
