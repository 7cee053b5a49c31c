// What the queue accepts, without a server: the job payload schemas (exposure layers, attack-sweep
// partitions) (documented fields only, types,
// ranges, hashes), results checked against the job and the run's identity, a result delivered twice
// stored once, and --queue URLs parsed with the password kept out of every message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunIdentity } from '../src/exposure/identity.js';
import { identityKey } from '../src/exposure/identity.js';
import { jobShuffleSeed } from '../src/exposure/jobs.js';
import type { LayerResult } from '../src/exposure/worker.js';
import { storeResultOnce } from '../src/queue/coordinator.js';
import {
  attackJobId, PayloadError, queueJobId, sweepKey, validateAttackPayload, validateAttackResult, validateLayerPayload, validateLayerResult, type SweepIdentity,
} from '../src/queue/payload.js';
import type { AttackDocument } from '../src/attack/run.js';
import { storeAttackOnce, type PartitionSettings } from '../src/attack/sweep.js';
import { parseQueueUrl, queueTarget, QueueUrlError, redactUrl, scrub } from '../src/queue/url.js';

const H = (c: string): string => c.repeat(64);

const identity: RunIdentity = {
  layerlock_version: '0.1.0', git_revision: null, kernels: 'native', isa: 'avx2', engine_fingerprint: H('e'),
  cfg: 'vgg7-mnist.cfg', cfg_sha256: H('c'), data: 'mnist', data_sha256: H('d'), train_limit: 1000, test_limit: null,
  train_count: 1000, test_count: 10000, split: 0.5, resize: false, epochs: 20, ft_epochs: 20, base_sha256: null, base_seed: null,
};

const payload = () => ({ v: 1, run: identityKey(identity), seed: 1, layer: 2, kind: 'mr', base_sha256: H('b'), identity: { ...identity } });

test('a valid layer payload passes and names its job', () => {
  const p = validateLayerPayload(payload());
  assert.deepEqual(p, payload());
  assert.equal(queueJobId(p.run, p.seed, p.layer, p.kind), `${identityKey(identity)}.s1-l2-mr`);
});

test('payloads with unknown, missing or ill-typed fields are refused, naming the field', () => {
  const cases: [(p: Record<string, unknown>) => void, RegExp][] = [
    [(p) => (p['cmd'] = 'rm -rf /'), /payload: unknown field cmd/],
    [(p) => delete p['base_sha256'], /missing field base_sha256/],
    [(p) => (p['v'] = 2), /payload\.v/],
    [(p) => (p['kind'] = 'base'), /payload\.kind: must be one of mr, mp/],
    [(p) => (p['layer'] = -1), /payload\.layer/],
    [(p) => (p['seed'] = 1.5), /payload\.seed/],
    [(p) => (p['run'] = '../../etc'), /payload\.run: must be 16 lowercase hex/],
    [(p) => (p['base_sha256'] = H('B')), /payload\.base_sha256/],
    [(p) => ((p['identity'] as Record<string, unknown>)['data_location'] = '/etc'), /payload\.identity: unknown field data_location/],
    [(p) => ((p['identity'] as Record<string, unknown>)['split'] = 1), /payload\.identity\.split/],
    [(p) => ((p['identity'] as Record<string, unknown>)['cfg'] = 'a\nb'), /payload\.identity\.cfg: must be a short printable string/],
    [(p) => ((p['identity'] as Record<string, unknown>)['train_count'] = '1000'), /payload\.identity\.train_count/],
    [(p) => (p['identity'] = null), /payload\.identity: must be an object/],
  ];
  for (const [mutate, msg] of cases) {
    const p = payload() as Record<string, unknown>;
    mutate(p);
    assert.throws(() => validateLayerPayload(p), (e: unknown) => e instanceof PayloadError && msg.test(e.message), msg.source);
  }
  assert.throws(() => validateLayerPayload('{"v":1}'), PayloadError);
  assert.throws(() => validateLayerPayload([]), PayloadError);
});

function result(over: Partial<LayerResult> = {}): LayerResult {
  const s = { loss: 0.5, acc: 0.9, n: 500 };
  return {
    id: 's1-l2-mr', kind: 'mr', seed: 1, identity, layer: 2, type: 'convolutional', base_weights_sha256: H('b'), params: 100,
    shuffle_seed: jobShuffleSeed(1, 2, 'mr'), cache: { after: 1, bytes: 4096, seconds: 0.01 }, cache_note: null, scores: { S: s, T: { ...s, loss: 0.6 }, test: { ...s, loss: 0.7 } },
    epochs: [{ epoch: 1, loss: 0.8, seconds: 1, img_s: 500 }], seconds: 1.5, kernels: 'native-avx2 (1 thread)', ...over,
  };
}

test('a returned result is checked against its job, the identity and the base model', () => {
  const job = { seed: 1, layer: 2, kind: 'mr' as const };
  const expected = { identity, base_sha256: H('b') };
  const r = result();
  assert.deepEqual(validateLayerResult(JSON.parse(JSON.stringify(r)), job, expected), r);
  assert.throws(() => validateLayerResult(result({ id: 's1-l2-mp' }), job, expected), /answers another job/);
  assert.throws(() => validateLayerResult(result({ identity: { ...identity, isa: 'avx512' } }), job, expected), /another identity: kernel instruction set differs/);
  assert.throws(() => validateLayerResult(result({ base_weights_sha256: H('a') }), job, expected), /another base model/);
  assert.throws(() => validateLayerResult({ ...result(), extra: 1 }, job, expected), /unknown field extra/);
  assert.throws(() => validateLayerResult(result({ shuffle_seed: 7 }), job, expected), /shuffle_seed/);
});

test('a result delivered twice is stored once; a different second delivery is reported, not written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-store-once-'));
  try {
    assert.equal(await storeResultOnce(dir, result()), 'stored');
    const path = join(dir, 'jobs', 's1-l2-mr.json');
    const first = await readFile(path, 'utf8');
    const mtime = (await stat(path)).mtimeMs;
    assert.equal(await storeResultOnce(dir, result({ seconds: 9 })), 'duplicate');
    const other = result();
    other.scores = { ...other.scores, S: { ...other.scores.S, loss: 0.4 } };
    assert.equal(await storeResultOnce(dir, other), 'conflict');
    assert.equal(await readFile(path, 'utf8'), first);
    assert.equal((await stat(path)).mtimeMs, mtime);
    // A stale file (another identity) is replaced.
    const fresh = result({ identity: { ...identity, engine_fingerprint: H('f') } });
    assert.equal(await storeResultOnce(dir, fresh), 'stored');
    assert.equal(JSON.parse(await readFile(path, 'utf8')).identity.engine_fingerprint, H('f'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--queue URLs: redis and rediss with user, password and db; the password never in a message', () => {
  const t = parseQueueUrl('rediss://alice:s3cr%3At@redis.example:6380/2');
  assert.equal(t.display, 'rediss://alice:***@redis.example:6380/2');
  assert.equal(t.password, 's3cr:t');
  assert.equal(parseQueueUrl('redis://127.0.0.1:6379').display, 'redis://127.0.0.1:6379');
  for (const bad of ['http://x:1', 'redis://', 'redis://:pw@h:1/db', 'redis://h:1?password=pw', 'not a url pw']) {
    assert.throws(() => parseQueueUrl(bad), (e: unknown) => e instanceof QueueUrlError && !e.message.includes('pw'), bad);
  }
  assert.equal(redactUrl('redis://u:topsecret@h:1'), 'redis://u:***@h:1');
  assert.equal(queueTarget('env', { LAYERLOCK_QUEUE_URL: 'redis://:pw@h:1/3' }).display, 'redis://:***@h:1/3');
  assert.throws(() => queueTarget('env', {}), /LAYERLOCK_QUEUE_URL is not set/);
  assert.equal(scrub('WRONGPASS for s3cr:t at rediss://alice:s3cr%3At@redis.example:6380/2', t), 'WRONGPASS for *** at rediss://alice:***@redis.example:6380/2');
});

const sweepIdentity: SweepIdentity = {
  layerlock_version: '0.1.0', git_revision: null, kernels: 'native', isa: 'avx2', engine_fingerprint: H('e'),
  cfg: 'mlp.cfg', cfg_sha256: H('c'), data: 'embedded', data_sha256: H('d'), train_limit: 400, test_limit: 400,
  train_count: 400, test_count: 400, split: 0.5, resize: false, weights: 'mlp.weights', weights_sha256: H('a'), split_seed: 3,
};
const settings: PartitionSettings = {
  attacks: ['loss', 'label-only'], members: 60, seed: 3, victim_seed: 3, substitute_epochs: 1, substitute_limit: null, perturbations: 2,
  bootstrap: 100, steal: null, output: 'top1', topk: 5, secure_mem: null,
};
const attackPayload = () => ({
  v: 1, sweep: sweepKey(sweepIdentity, settings), partition: { kind: 'last', k: 3 }, identity: { ...sweepIdentity }, settings: { ...settings, attacks: [...settings.attacks] },
});

test('attack-sweep partition payloads: documented fields only, and the key must be the identity\'s and settings\'', () => {
  const p = validateAttackPayload(attackPayload());
  assert.deepEqual(p, attackPayload());
  assert.equal(attackJobId(p.sweep, p.partition), `${p.sweep}.k3`);
  // The key ignores the order of the identity's fields and its names for people, not a number.
  assert.equal(sweepKey(Object.fromEntries(Object.entries(sweepIdentity).reverse()) as unknown as SweepIdentity, settings), p.sweep);
  assert.equal(sweepKey({ ...sweepIdentity, weights: 'renamed.weights' }, settings), p.sweep);
  assert.notEqual(sweepKey({ ...sweepIdentity, weights_sha256: H('v') }, settings), p.sweep);
  assert.notEqual(sweepKey(sweepIdentity, { ...settings, bootstrap: 101 }), p.sweep);
  const cases: [(p: Record<string, unknown>) => void, RegExp][] = [
    [(p) => (p['cfg_path'] = '/etc/passwd'), /payload: unknown field cfg_path/],
    [(p) => ((p['identity'] as Record<string, unknown>)['weights_path'] = '/tmp/x'), /payload\.identity: unknown field weights_path/],
    [(p) => ((p['identity'] as Record<string, unknown>)['weights_sha256'] = 'abc'), /payload\.identity\.weights_sha256: must be 64 lowercase hex/],
    [(p) => ((p['settings'] as Record<string, unknown>)['attacks'] = ['loss', 'lira']), /payload\.settings\.attacks\[1\]: must be one of/],
    [(p) => ((p['settings'] as Record<string, unknown>)['attacks'] = ['loss', 'loss']), /names an attack twice/],
    [(p) => ((p['settings'] as Record<string, unknown>)['output'] = 'everything'), /payload\.settings\.output/],
    [(p) => ((p['settings'] as Record<string, unknown>)['members'] = 1), /payload\.settings\.members/],
    [(p) => ((p['settings'] as Record<string, unknown>)['steal'] = { queries: 10 }), /payload\.settings\.steal: missing field epochs/],
    [(p) => (p['partition'] = { kind: 'range', start: 4, end: 2 }), /payload\.partition\.end/],
    [(p) => (p['partition'] = { kind: 'last', k: 3, start: 0 }), /payload\.partition: unknown field start/],
    [(p) => (p['partition'] = { kind: 'all' }), /payload\.partition\.kind/],
    [(p) => (p['sweep'] = '0123456789abcdef'), /payload\.sweep: is not the key/],
    [(p) => ((p['settings'] as Record<string, unknown>)['bootstrap'] = 101), /payload\.sweep: is not the key/],
  ];
  for (const [mutate, msg] of cases) {
    const q = attackPayload() as Record<string, unknown>;
    mutate(q);
    assert.throws(() => validateAttackPayload(q), (e: unknown) => e instanceof PayloadError && msg.test(e.message), msg.source);
  }
});

function attackDoc(): AttackDocument {
  return {
    partition: { tee_layers: [2, 4], output: 'top1', sees: ['labels', 'normal-world-weights', 'tee-input'] },
    needs: { loss: ['scores'], 'label-only': ['labels'] },
    members: 60, nonmembers: 60,
    attacks: [{
      name: 'label-only', sees: ['labels'], auc: 0.6, auc_ci95: [0.5, 0.7], tpr_at_fpr: { '0.001': 0, '0.01': 0.02 },
      tpr_at_fpr_ci95: { '0.001': [0, 0], '0.01': [0, 0.1] }, advantage: 0.2,
      calibrated: { threshold: Infinity, tpr: 1, fpr: 1, advantage: 0, accuracy: 0.5 },
      ci_method: 'percentile bootstrap over the evaluation pool, 100 replicates', seconds: 0.5,
      detail: { perturbations: 2, translations: 1, noise_sigma: 0.05 }, roc: [[0, 0], [1, 1]],
    }],
    refused: [{ name: 'loss', reason: 'attack loss needs the confidence scores' }],
    stealing: null,
    victim: { members_acc: 1, nonmembers_acc: 0.8 },
    options: { seed: 3, substitute_epochs: 1, substitute_limit: null, perturbations: 2, bootstrap: 100, known_members: 60 },
    seconds: 2,
  };
}

test('a returned partition result is checked against its job; a non-finite number arrives as null', () => {
  const expected = { range: [2, 4] as [number, number], settings };
  const wire = JSON.parse(JSON.stringify(attackDoc())) as AttackDocument;
  assert.equal(wire.attacks[0]!.calibrated.threshold, null);
  assert.deepEqual(validateAttackResult(wire, expected), wire);
  type Loose = Record<string, unknown>;
  const first = (d: AttackDocument): Loose => d.attacks[0] as unknown as Loose;
  const cases: [(d: AttackDocument) => void, RegExp][] = [
    [(d) => (d.partition.tee_layers = [1, 4]), /answers another partition/],
    [(d) => (d.members = 59), /result\.members/],
    [(d) => (first(d)['name'] = 'whitebox'), /result\.attacks\[0\]\.name/],
    [(d) => (first(d)['auc'] = 'high'), /result\.attacks\[0\]\.auc: must be a finite number/],
    [(d) => (first(d)['script'] = 'x'), /result\.attacks\[0\]: unknown field script/],
    [(d) => (d.options.bootstrap = 1000), /result\.options\.bootstrap: must be 100/],
    [(d) => ((d as unknown as Loose)['stealing'] = { queries: 40 }), /must be null: the job did not ask for stealing/],
    [(d) => (first(d)['detail'] = { note: 'a\nb' }), /result\.attacks\[0\]\.detail\.note/],
  ];
  for (const [mutate, msg] of cases) {
    const d = JSON.parse(JSON.stringify(attackDoc())) as AttackDocument;
    mutate(d);
    assert.throws(() => validateAttackResult(d, expected), (e: unknown) => e instanceof PayloadError && msg.test(e.message), msg.source);
  }
});

test('a partition result delivered twice is stored once; a different second delivery is reported, not written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-store-attack-'));
  try {
    const p = { kind: 'last' as const, k: 3 };
    assert.equal(await storeAttackOnce(dir, p, attackDoc()), 'stored');
    const path = join(dir, 'partitions', 'k3', 'attack.json');
    const first = await readFile(path, 'utf8');
    assert.equal(await storeAttackOnce(dir, p, { ...attackDoc(), seconds: 9 }), 'duplicate');
    const other = attackDoc();
    other.attacks[0]!.auc = 0.61;
    assert.equal(await storeAttackOnce(dir, p, other), 'conflict');
    assert.equal(await readFile(path, 'utf8'), first);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
