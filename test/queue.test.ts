// The distributed exposure runner against a REAL redis-server (test/redis-harness.ts): two workers
// give the local run's numbers bit for bit; a worker killed with SIGKILL mid-job does not stop the
// run, another worker continues the job from its checkpoint with the same result; a coordinator
// killed and restarted enqueues nothing twice; a worker with other data refuses the jobs (and the
// run goes through once a right worker is there); Redis restarted mid-run; the password never
// appears in any output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticMnist } from './data-fixtures.js';
import { startRedis, type RedisServer } from './redis-harness.js';
import { outputs, start, startWorker, stopWorker, until, workers, type Proc } from './queue-procs.js';
import { SMALL_MNIST_CFG } from './cfg-fixtures.js';

/** The document without timings, which naturally differ between runs. */
function numbers(doc: unknown): unknown {
  if (Array.isArray(doc)) return doc.map(numbers);
  if (doc && typeof doc === 'object') {
    return Object.fromEntries(Object.entries(doc).filter(([k]) => !['seconds', 'wall_seconds', 'img_s', 'git_revision'].includes(k)).map(([k, v]) => [k, numbers(v)]));
  }
  return doc;
}

let redis: RedisServer;
let tmp: string;
let cfg: string;

/** The server's URL with database db: each test uses its own, so their queues never meet. */
const url = (db: number): string => `${redis.url}/${db}`;

const worker = (db: number, extra: string[] = []): Proc => startWorker(url(db), 2, extra);

// Small and fast, but an epoch of a job long enough (20 batches) for a kill to land between two
// checkpoints. Every test runs seed 1 with these options, so one local run is the reference.
const args = (out: string, extra: string[] = []): string[] => [
  'exposure', '--cfg', cfg, '--train-limit', '1000', '--test-limit', '100', '--epochs', '2', '--ft-epochs', '4', '--out', out, '--json', ...extra,
];

let reference: Promise<{ doc: unknown; dir: string }> | null = null;

/** The local run (no queue) of these options, computed once. */
function localRun(): Promise<{ doc: unknown; dir: string }> {
  reference ??= (async () => {
    const dir = join(tmp, 'local');
    const p = start(args(dir));
    assert.equal(await p.closed, 0, p.err());
    return { doc: JSON.parse(p.out()), dir };
  })();
  return reference;
}

/** The job files of a run folder, without timings, by name. */
async function jobFiles(dir: string): Promise<Record<string, unknown>> {
  const names = (await readdir(join(dir, 'jobs'))).filter((n) => n.endsWith('.json')).sort();
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, numbers(JSON.parse(await readFile(join(dir, 'jobs', n), 'utf8')))] as const)));
}

before(async () => {
  redis = await startRedis();
  tmp = await mkdtemp(join(tmpdir(), 'layerlock-queue-'));
  cfg = join(tmp, 'tiny.cfg');
  await writeFile(cfg, SMALL_MNIST_CFG);
});

after(async () => {
  await Promise.all(workers.map(stopWorker));
  await redis?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  for (const o of outputs) assert.ok(!o().includes(redis.password), 'the Redis password appeared in an output');
});

test('two workers compute exactly the local run (exposure.json and every job file)', async () => {
  const want = await localRun();
  const w1 = worker(0);
  const w2 = worker(0);
  await until(() => /taking exposure jobs/.test(w1.err()) && /taking exposure jobs/.test(w2.err()), 'workers ready');
  const q = start(args(join(tmp, 'q1'), ['--queue', url(0)]));
  assert.equal(await q.closed, 0, q.err());
  assert.match(q.err(), /6 layer jobs, 0 already done, 6 on the queue redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0, run [0-9a-f]{16}: enqueued 6 jobs and their aggregation/);
  const doc = JSON.parse(q.out()) as { layers: { index: number; per_seed: { exposure: number | null }[] }[] };
  assert.deepEqual(numbers(doc), numbers(want.doc));
  assert.deepEqual(await jobFiles(join(tmp, 'q1')), await jobFiles(want.dir));
  // The flow's parent (the aggregation) returned the same per-layer exposure.
  const run = /run ([0-9a-f]{16})/.exec(q.err())![1]!;
  const agg = JSON.parse((await redis.client.hget(`bull:layerlock-exposure:${run}.aggregate-s1`, 'returnvalue'))!) as { children: number; layers: { layer: number; exposure: number }[] };
  assert.equal(agg.children, 6);
  assert.deepEqual(agg.layers.map((l) => [l.layer, l.exposure]), doc.layers.map((l) => [l.index, l.per_seed[0]!.exposure]));
  await Promise.all([stopWorker(w1), stopWorker(w2)]);
  const done = [w1, w2].map((w) => (JSON.parse(w.out()) as { completed: number }).completed);
  assert.equal(done[0]! + done[1]!, 7, 'six layer jobs and the aggregation, each once');
  assert.ok(done[0]! >= 1 && done[1]! >= 1, `both workers took jobs (${done.join(' + ')})`);

  // A second coordinator into a fresh folder finds the finished flow and computes nothing.
  const again = start(args(join(tmp, 'q1b'), ['--queue', url(0)]));
  assert.equal(await again.closed, 0, again.err());
  assert.match(again.err(), /enqueued earlier, following it/);
  assert.deepEqual(numbers(JSON.parse(again.out())), numbers(want.doc));
});

test('a coordinator killed after enqueueing and restarted enqueues nothing twice', async () => {
  const want = await localRun();
  const out = join(tmp, 'q2');
  const c1 = start(args(out, ['--queue', url(1)]));
  await until(() => /enqueued 6 jobs/.test(c1.err()), 'the flow enqueued');
  c1.child.kill('SIGKILL');
  await c1.closed;
  const run = /run ([0-9a-f]{16})/.exec(c1.err())![1]!;
  const prefix = 'bull:layerlock-exposure:';
  const db = redis.client.duplicate({ db: 1 });
  try {
    const jobKeys = async (): Promise<string[]> => (await db.keys(`${prefix}${run}.*`)).filter((k) => !k.slice(prefix.length).includes(':')).sort();
    const enqueued = await jobKeys();
    assert.equal(enqueued.length, 7, enqueued.join(' '));
    const c2 = start(args(out, ['--queue', url(1)]));
    await until(() => /enqueued earlier, following it/.test(c2.err()), 'the restarted coordinator following the flow');
    const w = worker(1);
    assert.equal(await c2.closed, 0, c2.err());
    assert.deepEqual(await jobKeys(), enqueued, 'no job added by the restart');
    assert.deepEqual(numbers(JSON.parse(c2.out())), numbers(want.doc));
    await stopWorker(w);
    assert.equal((JSON.parse(w.out()) as { completed: number }).completed, 7);
  } finally {
    db.disconnect();
  }
});

test('a worker killed with SIGKILL mid-job: another continues it from its checkpoint, same result', async () => {
  const want = await localRun();
  const db = redis.client.duplicate({ db: 2 });
  try {
    const a = worker(2);
    await until(() => /taking exposure jobs/.test(a.err()), 'worker A ready');
    const q = start(args(join(tmp, 'q3'), ['--queue', url(2)]));
    await until(async () => (await db.keys('layerlock:ckpt:*')).length > 0, 'a checkpoint of a running job', 60_000, 2);
    a.child.kill('SIGKILL');
    await a.closed;
    const b = worker(2);
    assert.equal(await q.closed, 0, q.err());
    assert.match(q.err(), /stalled \(its worker stopped answering\)/);
    assert.match(b.err(), /continues from its checkpoint/);
    assert.deepEqual(numbers(JSON.parse(q.out())), numbers(want.doc));
    assert.deepEqual(await db.keys('layerlock:ckpt:*'), [], 'checkpoints are removed once their job is done');
    await stopWorker(b);
  } finally {
    db.disconnect();
  }
});

test('a worker with other data refuses the jobs; with a right worker the same command then finishes', async () => {
  const want = await localRun();
  const other = join(tmp, 'other-data');
  await writeSyntheticMnist(other, 1000, 100);
  const bad = worker(3, ['--data', other]);
  await until(() => /taking exposure jobs/.test(bad.err()), 'the misconfigured worker ready');
  const out = join(tmp, 'q4');
  const q = start(args(out, ['--queue', url(3)]));
  assert.equal(await q.closed, 1);
  assert.match(q.err(), /failed on the queue after 3 attempts: worker \S+ refuses the job: --data \(contents of the loaded images and labels\) differs/);
  assert.match(q.err(), /run the same command again to retry/);
  assert.match(bad.err(), /refusing job [0-9a-f]{16}\.s1-l\d-m[rp]/);
  await stopWorker(bad);
  assert.equal((JSON.parse(bad.out()) as { completed: number }).completed, 0, 'nothing computed with the wrong data');
  const good = worker(3);
  const again = start(args(out, ['--queue', url(3)]));
  assert.equal(await again.closed, 0, again.err());
  assert.match(again.err(), /retrying [0-9a-f]{16}\.s1-/);
  assert.deepEqual(numbers(JSON.parse(again.out())), numbers(want.doc));
  await stopWorker(good);
});

test('Redis restarted mid-run: workers and coordinator reconnect and the run finishes', async () => {
  const want = await localRun();
  const w = worker(4);
  await until(() => /taking exposure jobs/.test(w.err()), 'worker ready');
  const q = start(args(join(tmp, 'q5'), ['--queue', url(4)]));
  await until(() => /enqueued 6 jobs/.test(q.err()), 'the flow enqueued');
  await redis.restart();
  assert.equal(await q.closed, 0, q.err());
  assert.deepEqual(numbers(JSON.parse(q.out())), numbers(want.doc));
  await stopWorker(w);
});

test('usage errors of the queue options are one clear line', async () => {
  const cases = ([
    [['worker'], /missing --queue/],
    [['worker', '--queue', 'http://h:1'], /must start with redis:\/\/ or rediss:\/\//],
    [['worker', '--queue', 'redis://u:hunter2@h:1/x'], /database number.*redis:\/\/u:\*\*\*@h:1\/x/],
    [['exposure', '--cfg', 'x.cfg', '--epochs', '1', '--out', join(tmp ?? '.', 'o'), '--queue', 'redis://u:hunter2@'], /--queue/],
    // A wrong password fails at once, without retrying forever and without showing it.
    [['worker', '--queue', `redis://:hunter2@127.0.0.1:${redis.port}`], /^layerlock: cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: WRONGPASS/],
  ] as [string[], RegExp][]).map(async ([argv, msg]) => {
    const p = start(argv);
    assert.equal(await p.closed, 1, argv.join(' '));
    assert.match(p.err(), msg);
    assert.equal(p.err().trim().split('\n').length, 1);
    assert.ok(!p.err().includes('hunter2'));
  });
  await Promise.all(cases);
});
