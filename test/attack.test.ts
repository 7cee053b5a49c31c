// Membership inference and stealing against real partitions, on a small MLP trained here on the
// embedded MNIST slice: an overfit model is attackable; with "members" the model never saw every
// attack is at chance; a score attack is refused under top1; and nothing the attack process
// receives from the TA carries a protected parameter, an internal activation or a score.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attack } from '../src/attack/run.js';
import { selectPools, type AttackData, type AttackPools } from '../src/attack/pools.js';
import { AttackRefused } from '../src/attack/types.js';
import { openVictim } from '../src/attack/victim.js';
import { getKernels } from '../src/kernels/index.js';
import { parseCfg } from '../src/nn/cfg.js';
import { Network } from '../src/nn/network.js';
import { initializeContext } from '../src/tee/client.js';
import { CMD_CONFIGURE, CMD_FORWARD, CMD_LOAD_PARAMS, paramTypeAt, TEEC_MEMREF_TEMP_OUTPUT } from '../src/tee/shared/protocol.js';
import { decodeReply, KIND_INVOKE, REPLY } from '../src/tee/shared/wire.js';
import { Rng } from '../src/nn/rng.js';
import { ATTACK_CFG, ATTACK_SEED, trainAttackMlp } from './attack-fixture.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const kernels = getKernels();
const taKernels = kernels.name === 'reference' ? 'reference' as const : 'auto' as const;
const SEED = ATTACK_SEED;
const N = 100;
let dir = '';
let cfgPath = '';
let weights = '';
let data: AttackData;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-attack-'));
  ({ cfgPath, weights, data } = await trainAttackMlp(dir));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FAST = { members: N, seed: SEED, perturbations: 4, substitute: { epochs: 3 }, bootstrap: 300 };

test('on an overfit model the loss attack is far above chance, and so are the others with nothing protected', async () => {
  const v = await openVictim({ cfg: cfgPath, weights, seed: SEED, range: null, policy: 'top1' });
  const doc = await attack({ ...FAST, oracle: v.oracle, data });
  await v.close();
  assert.ok(doc.victim.members_acc - doc.victim.nonmembers_acc > 0.1, `overfit: ${JSON.stringify(doc.victim)}`);
  assert.deepEqual(doc.attacks.map((a) => a.name), ['loss', 'confidence', 'label-only', 'whitebox', 'substitute']);
  assert.deepEqual(doc.refused, []);
  const loss = doc.attacks.find((a) => a.name === 'loss')!;
  assert.ok(loss.auc > 0.68 && loss.auc_ci95[0] > 0.6, `loss AUC ${loss.auc} ${loss.auc_ci95}`);
  for (const a of doc.attacks) {
    assert.ok(a.auc_ci95[0] > 0.5, `${a.name}: AUC ${a.auc} ${a.auc_ci95}`);
    assert.ok(a.auc_ci95[0] <= a.auc && a.auc <= a.auc_ci95[1]);
    assert.ok(a.tpr_at_fpr['0.001'] <= a.tpr_at_fpr['0.01'] && a.advantage > 0 && a.advantage <= 1);
  }
  // With nothing protected the substitute is the victim itself: the same scores as the loss attack.
  assert.equal(doc.attacks.find((a) => a.name === 'substitute')!.auc, loss.auc);
});

test('when "members" and "non-members" are both unseen, every attack\'s AUC interval contains 0.5', async () => {
  // Four disjoint quarters of the test set (never trained on) play members, non-members and the attacker's pool.
  const idx = Uint32Array.from({ length: data.test.count }, (_, i) => i);
  new Rng(SEED, 'null-pools').shuffle(idx);
  const q = (k: number) => ({ ds: data.test, indices: idx.slice(k * N, (k + 1) * N).sort() });
  const real = selectPools(data, N, SEED);
  const pools: AttackPools = { ...real, members: q(0), nonmembers: q(1), knownMembers: q(2), knownNonmembers: q(3) };
  const v = await openVictim({ cfg: cfgPath, weights, seed: SEED, range: null, policy: 'top1' });
  const doc = await attack({ ...FAST, oracle: v.oracle, data, pools });
  await v.close();
  assert.equal(doc.attacks.length, 5);
  for (const a of doc.attacks) assert.ok(a.auc_ci95[0] < 0.5 && 0.5 < a.auc_ci95[1], `${a.name}: AUC ${a.auc} ${a.auc_ci95}`);
});

test('an attack that needs the scores is refused under top1 with a clear message; under policy full it sees exactly the white-box scores', async () => {
  const v = await openVictim({ cfg: cfgPath, weights, seed: SEED, range: [2, 4], policy: 'top1', storageDir: join(dir, 'store') });
  try {
    assert.equal(v.oracle.visible.has('scores'), false);
    await assert.rejects(attack({ ...FAST, oracle: v.oracle, data, attacks: ['loss'], strict: true }), (e: unknown) => {
      assert.ok(e instanceof AttackRefused);
      assert.match(e.message, /^attack loss needs the confidence scores, but layers 2:4 are in the TEE and it releases only the top-1 label \(--tee-output top1\)/);
      return true;
    });
    const doc = await attack({ ...FAST, oracle: v.oracle, data, attacks: ['loss', 'confidence', 'label-only'] });
    assert.deepEqual(doc.refused.map((r) => r.name), ['loss', 'confidence']);
    assert.deepEqual(doc.attacks.map((a) => a.name), ['label-only']);
  } finally {
    await v.close();
  }
  const full = await openVictim({ cfg: cfgPath, weights, seed: SEED, range: [2, 4], policy: 'full', storageDir: join(dir, 'store') });
  const whole = await openVictim({ cfg: cfgPath, weights, seed: SEED, range: null, policy: 'top1' });
  try {
    const a = await attack({ ...FAST, oracle: full.oracle, data, attacks: ['loss'] });
    assert.equal(a.attacks.length, 1);
    // The TEE releases exactly the whole model's probabilities — but not the logits, which only the
    // attacker holding the prediction layer's input can compute.
    const x = new Float32Array(32 * 784);
    for (let j = 0; j < x.length; j++) x[j] = data.test.images[j]! / 255;
    const fa = await full.oracle.query(x, 32);
    const wa = await whole.oracle.query(x, 32);
    assert.ok(fa.kind === 'scores' && wa.kind === 'scores');
    assert.deepEqual(fa.probs, wa.probs);
    assert.equal(fa.logits, undefined);
    assert.ok(wa.logits && wa.logits.length === 320);
    assert.deepEqual(a.partition, { tee_layers: [2, 4], output: 'full', sees: ['labels', 'normal-world-weights', 'tee-input', 'ranks', 'scores'] });
  } finally {
    await full.close();
    await whole.close();
  }
});

/** Distinctive 8-byte windows (two consecutive float32) of tensors the attacker must not receive. */
class Needles {
  private readonly byFirst = new Map<number, Set<number>>();
  count = 0;

  add(a: Float32Array): void {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    const ok = (x: number): boolean => Number.isFinite(x) && Math.abs(x) > 1e-30 && !(Number.isInteger(x) && Math.abs(x) <= 256);
    for (let i = 0; i + 1 < a.length; i++) {
      if (!ok(a[i]!) || !ok(a[i + 1]!)) continue;
      let s = this.byFirst.get(u[i]!);
      if (!s) this.byFirst.set(u[i]!, (s = new Set()));
      s.add(u[i + 1]!);
      this.count++;
    }
  }

  found(buf: Buffer): boolean {
    for (let o = 0; o + 8 <= buf.length; o++) {
      const s = this.byFirst.get(buf.readUInt32LE(o));
      if (s && s.has(buf.readUInt32LE(o + 4))) return true;
    }
    return false;
  }
}

test('the attack process never receives a protected parameter, an internal activation or a score', async () => {
  const range: [number, number] = [1, 4]; // FC32, FC10, softmax, cost in the TEE; FC64 in the normal world
  // What the protected layers hold, computed by a twin of the victim in this test.
  const config = parseCfg(ATTACK_CFG, cfgPath);
  const twin = new Network(config, { kernels, seed: SEED });
  const { loadWeightsFile } = await import('../src/nn/weights.js');
  await loadWeightsFile(weights, twin.weightsLayers());
  const secrets = new Needles();
  for (const i of [1, 2]) for (const p of twin.layer(i)!.params()) secrets.add(Float32Array.from(p.data));
  const batch = new Float32Array(32 * 784);
  for (const ds of [data.train, data.test]) {
    for (let s = 0; s < ds.count; s += 32) {
      const n = Math.min(32, ds.count - s);
      for (let j = 0; j < n * 784; j++) batch[j] = ds.images[s * 784 + j]! / 255;
      twin.forward(batch, n, false);
      secrets.add(twin.layer(1)!.output.slice(0, n * 32));
      secrets.add(twin.layer(2)!.output.slice(0, n * 10));
      secrets.add(twin.layer(3)!.output.slice(0, n * 10));
    }
  }
  assert.ok(secrets.count > 10_000, `${secrets.count} secret windows`);

  // Over the pipe every byte the attacker's process receives is inside a recorded frame, so the scan
  // below sees all of it; the shared-memory transport carries the same bytes (tee-equivalence tests)
  // and has its own scan of the pool in tee.test.ts.
  const ctx = await initializeContext({ storageDir: join(dir, 'store2'), kernels: taKernels, transcript: true, transport: 'pipe' });
  try {
    const v = await openVictim({ cfg: cfgPath, weights, seed: SEED, range, policy: 'top1', context: ctx });
    const loaded = ctx.transcript.length;
    const doc = await attack({ ...FAST, oracle: v.oracle, data, steal: { queries: 60, epochs: 2 } });
    await v.close();
    assert.deepEqual(doc.refused.map((r) => r.name), ['loss', 'confidence']);
    assert.equal(doc.attacks.length, 3);
    assert.ok(doc.stealing && doc.stealing.queries === 60);
    const frames = ctx.transcript;
    assert.ok(frames.length - loaded > 50, `${frames.length - loaded} frames during the attacks`);
    // 1. No secret bytes in anything the TA sent, at any alignment.
    for (const f of frames) if (f.direction === 'from-ta') assert.equal(secrets.found(f.bytes), false, `a ${f.command} reply carries secret bytes`);
    // 2. Structurally: after opening, the attacker only sends FORWARD; every answer is int32 class indices.
    const sent = new Set(frames.slice(loaded).filter((f) => f.direction === 'to-ta' && f.kind === KIND_INVOKE).map((f) => f.command));
    assert.deepEqual([...sent], [CMD_FORWARD]);
    const opening = new Set(frames.slice(0, loaded).filter((f) => f.direction === 'to-ta' && f.kind === KIND_INVOKE).map((f) => f.command));
    assert.deepEqual([...opening].sort(), [CMD_CONFIGURE, CMD_LOAD_PARAMS].sort());
    let answers = 0;
    for (const f of frames.slice(loaded)) {
      if (f.direction !== 'from-ta' || f.kind !== (REPLY | KIND_INVOKE)) continue;
      const reply = decodeReply(f.kind, f.bytes.subarray(5));
      for (let i = 0; i < 4; i++) {
        const d = reply.params[i]?.data;
        if (!d) continue;
        assert.equal(paramTypeAt(reply.paramTypes, i), TEEC_MEMREF_TEMP_OUTPUT);
        const classes = new Int32Array(Uint8Array.from(d).buffer);
        assert.ok(classes.every((c) => c >= 0 && c < 10), 'FORWARD returns class indices only');
        answers += classes.length;
      }
    }
    assert.ok(answers > 4 * N, `${answers} answers`);
    // 3. The scanner would have seen a leak: under policy full the same queries carry the scores.
    ctx.transcript.length = 0;
    const full = await openVictim({ cfg: cfgPath, weights, seed: SEED, range, policy: 'full', context: ctx });
    await attack({ ...FAST, oracle: full.oracle, data, attacks: ['loss'] });
    await full.close();
    assert.ok(ctx.transcript.some((f) => f.direction === 'from-ta' && secrets.found(f.bytes)), 'positive control: the scores are found under policy full');
  } finally {
    await ctx.finalizeContext();
  }
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('layerlock attack: --json is the attack.json schema; a named score attack under top1 fails with one line; the sweep resumes', async () => {
  const base = ['--cfg', cfgPath, '--weights', weights, '--train-limit', '400', '--test-limit', '400', '--seed', String(SEED), '--members', '60', '--perturbations', '2', '--substitute-epochs', '1', '--bootstrap', '100', '--tee-storage', join(dir, 'cli-store')];
  const out = join(dir, 'cli');
  const r = await runCli(['attack', ...base, '--tee-last', '3', '--attacks', 'label-only,whitebox', '--steal', '--queries', '40', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Record<string, unknown> & { attacks: Record<string, unknown>[]; stealing: Record<string, unknown> };
  assert.deepEqual(doc.partition, { tee_layers: [2, 4], output: 'top1', sees: ['labels', 'normal-world-weights', 'tee-input'] });
  assert.equal(doc.members, 60);
  assert.equal(doc.nonmembers, 60);
  for (const a of doc.attacks) for (const k of ['name', 'sees', 'auc', 'auc_ci95', 'tpr_at_fpr', 'advantage']) assert.ok(k in a, k);
  assert.deepEqual(Object.keys(doc.attacks[0]!.tpr_at_fpr as object), ['0.001', '0.01']);
  for (const k of ['queries', 'surrogate_acc', 'agreement', 'victim_acc', 'blackbox_acc']) assert.equal(typeof doc.stealing[k], 'number', k);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'attack.json'), 'utf8')), doc);
  assert.ok((await readFile(join(out, 'roc.svg'), 'utf8')).includes('<svg'));

  const refused = await runCli(['attack', ...base, '--tee-last', '3', '--attacks', 'loss', '--out', join(dir, 'cli-refused')]);
  assert.equal(refused.code, 1);
  const lines = refused.stderr.trim().split('\n').filter((l) => l.startsWith('layerlock: '));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^layerlock: refused: attack loss needs the confidence scores, but layers 2:4 are in the TEE and it releases only the top-1 label/);

  const sweepDir = join(dir, 'sweep');
  const sweepArgs = ['attack', 'sweep', ...base, '--tee-last', '0,3', '--attacks', 'loss,label-only', '--out', sweepDir, '--json'];
  const s1 = await runCli(sweepArgs);
  assert.equal(s1.code, 0, s1.stderr);
  const sweep = JSON.parse(s1.stdout) as { partitions: { name: string; partition: { tee_layers: unknown }; attacks: { name: string }[]; refused: { name: string }[] }[] };
  assert.deepEqual(sweep.partitions.map((p) => [p.name, p.partition.tee_layers]), [['k0', null], ['k3', [2, 4]]]);
  assert.deepEqual(sweep.partitions[1]!.refused.map((x) => x.name), ['loss']);
  const s2 = await runCli(sweepArgs);
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stderr, /partition k0: already done/);
  assert.match(s2.stderr, /partition k3: already done/);
  assert.deepEqual(JSON.parse(s2.stdout), sweep);

  // layerlock plan shows, per range, the measured attack success that remains.
  const plan = await runCli(['plan', '--cfg', cfgPath, '--attacks', sweepDir, '--json']);
  assert.equal(plan.code, 0, plan.stderr);
  const pj = JSON.parse(plan.stdout) as { ranges: { tee_layers: number[]; attack: { attack: string; auc: number } | null }[]; attacks: { unprotected: { auc: number } | null } };
  const k3 = pj.ranges.find((r) => r.tee_layers[0] === 2 && r.tee_layers[1] === 4)!;
  const measured = (sweep.partitions[1] as unknown as { attacks: { name: string; auc: number }[] }).attacks;
  assert.deepEqual(k3.attack && [k3.attack.attack, k3.attack.auc], [measured[0]!.name, measured[0]!.auc]);
  assert.equal(pj.ranges.find((r) => r.tee_layers[0] === 3)!.attack, null);
  assert.equal(pj.attacks.unprotected!.auc, Math.max(...(sweep.partitions[0] as unknown as { attacks: { auc: number }[] }).attacks.map((a) => a.auc)));
  const text = await runCli(['plan', '--cfg', cfgPath, '--attacks', sweepDir]);
  assert.match(text.stdout, /attack AUC left/);
  assert.match(text.stdout, /Measured against it|did not measure this range/);
});

test('layerlock attack --device attacks the installed deployment, whose protected layers this process never holds', async () => {
  const srv = join(dir, 'srv');
  const dev = join(dir, 'dev');
  const pkg = join(dir, 'v.pkg');
  for (const args of [
    ['keygen', '--out', srv],
    ['device', 'init', '--dir', dev, '--trust', join(srv, 'server.pub')],
    ['package', '--cfg', cfgPath, '--weights', weights, '--tee-last', '3', '--device', join(dev, 'device.cert'), '--signing-key', join(srv, 'server.key'), '--out', pkg],
    ['install', pkg, '--device', dev, '--trust', join(srv, 'server.pub')],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
  }
  const r = await runCli(['attack', '--device', dev, '--train-limit', '400', '--test-limit', '400', '--seed', String(SEED), '--members', '60', '--perturbations', '2', '--substitute-epochs', '1', '--bootstrap', '100', '--out', join(dir, 'dev-attack'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { partition: unknown; attacks: { name: string }[]; refused: { name: string }[] };
  assert.deepEqual(doc.partition, { tee_layers: [2, 4], output: 'top1', sees: ['labels', 'normal-world-weights', 'tee-input'] });
  assert.deepEqual(doc.refused.map((x) => x.name), ['loss', 'confidence']);
  assert.deepEqual(doc.attacks.map((x) => x.name), ['label-only', 'whitebox', 'substitute']);
  const bad = await runCli(['attack', '--device', dev, '--cfg', cfgPath, '--out', join(dir, 'x')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^layerlock: --device attacks the installed model/m);
});
