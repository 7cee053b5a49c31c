// What the queue accepts, without a server: the job payload schema (documented fields only, types,
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
import { PayloadError, queueJobId, validateLayerPayload, validateLayerResult } from '../src/queue/payload.js';
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
