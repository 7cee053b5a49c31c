// `layerlock attack sweep … --queue URL` against a REAL redis-server (test/redis-harness.ts): two
// workers compute the partitions and the coordinator writes the local sweep's files byte for byte
// (the wall-clock "seconds" fields aside); a second coordinator finds the finished flow and
// computes nothing; a coordinator killed and restarted enqueues nothing twice; a worker with
// other data refuses the partition jobs; the Redis password never appears in any output; --queue
// on attack is refused without sweep, with one line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACK_SEED, trainAttackMlp } from './attack-fixture.js';
import { writeSyntheticMnist } from './data-fixtures.js';
import { startRedis, type RedisServer } from './redis-harness.js';
import { outputs, start, startWorker, stopWorker, until, workers, type Proc } from './queue-procs.js';

let redis: RedisServer;
let tmp: string;
let cfg: string;
let weights: string;
const url = (db: number): string => `${redis.url}/${db}`;

const worker = (db: number, extra: string[] = []): Proc => startWorker(url(db), 5, extra);

// Two partitions (nothing protected; the last 3 layers in the TEE), every attack and stealing, on
// settings small enough for seconds per partition.
const sweepArgs = (out: string, extra: string[] = [], partitions = '0,3'): string[] => [
  'attack', 'sweep', '--cfg', cfg, '--weights', weights, '--train-limit', '400', '--test-limit', '400', '--seed', String(ATTACK_SEED),
  '--tee-last', partitions, '--members', '40', '--perturbations', '2', '--substitute-epochs', '1', '--bootstrap', '50', '--steal', '--queries', '30',
  '--out', out, '--json', ...extra,
];

/** A file's bytes, with the values of the wall-clock fields (which differ between any two runs) blanked. */
async function bytes(path: string): Promise<Buffer> {
  const b = await readFile(path);
  return path.endsWith('.json') ? Buffer.from(b.toString('utf8').replace(/"seconds": [-0-9.e+]+/g, '"seconds": 0')) : b;
}

/** Every file a sweep wrote, by path relative to its folder. */
async function files(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await bytes(join(dir, n))] as const)));
}

async function assertSameFiles(got: string, want: string): Promise<void> {
  const a = await files(got);
  const b = await files(want);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [name, content] of b) assert.ok(a.get(name)!.equals(content), `${name} differs from the local sweep's`);
}

let local: Promise<{ dir: string; stdout: string }> | null = null;

/** The local sweep of these options (no queue), computed once. */
function localSweep(): Promise<{ dir: string; stdout: string }> {
  local ??= (async () => {
    const dir = join(tmp, 'local');
    const p = start(sweepArgs(dir, ['--tee-storage', join(tmp, 'tee')]));
    assert.equal(await p.closed, 0, p.err());
    return { dir, stdout: p.out() };
  })();
  return local;
}

before(async () => {
  redis = await startRedis();
  tmp = await mkdtemp(join(tmpdir(), 'layerlock-queue-attack-'));
  ({ cfgPath: cfg, weights } = await trainAttackMlp(tmp));
});

after(async () => {
  await Promise.all(workers.map(stopWorker));
  await redis?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  for (const o of outputs) assert.ok(!o().includes(redis.password), 'the Redis password appeared in an output');
});

test('attack sweep on two workers writes the local sweep\'s files byte for byte; a second coordinator computes nothing', async () => {
  const want = await localSweep();
  const w1 = worker(0);
  const w2 = worker(0);
  await until(() => /taking exposure jobs and attack-sweep partitions/.test(w1.err()) && /taking exposure jobs and attack-sweep partitions/.test(w2.err()), 'workers ready');
  const q = start(sweepArgs(join(tmp, 'q1'), ['--queue', url(0)]));
  assert.equal(await q.closed, 0, q.err());
  assert.match(q.err(), /2 partitions, 0 already done, 2 on the queue redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0, sweep [0-9a-f]{16}: enqueued 2 partition jobs and their aggregation/);
  await assertSameFiles(join(tmp, 'q1'), want.dir);
  assert.ok((await bytes(join(tmp, 'q1', 'sweep.json'))).equals(Buffer.from(JSON.stringify(JSON.parse(want.stdout), null, 2).replace(/"seconds": [-0-9.e+]+/g, '"seconds": 0') + '\n')));
  // The flow's parent summarised both partitions.
  const key = /sweep ([0-9a-f]{16})/.exec(q.err())![1]!;
  const agg = JSON.parse((await redis.client.hget(`bull:layerlock-exposure:${key}.sweep-k0_k3`, 'returnvalue'))!) as { children: number; partitions: { partition: string }[] };
  assert.equal(agg.children, 2);
  assert.deepEqual(agg.partitions.map((p) => p.partition), ['k0', 'k3']);

  // Into a fresh folder, the same command follows the finished flow: nothing is computed again.
  const again = start(sweepArgs(join(tmp, 'q1b'), ['--queue', url(0)]));
  assert.equal(await again.closed, 0, again.err());
  assert.match(again.err(), /enqueued earlier, following it/);
  await assertSameFiles(join(tmp, 'q1b'), want.dir);
  await Promise.all([stopWorker(w1), stopWorker(w2)]);
  const done = [w1, w2].map((w) => (JSON.parse(w.out()) as { completed: number }).completed);
  assert.equal(done[0]! + done[1]!, 3, 'two partition jobs and the aggregation, each once');
  assert.ok(done[0]! >= 1 && done[1]! >= 1, `both workers took jobs (${done.join(' + ')})`);
});

test('a coordinator killed after enqueueing and restarted enqueues nothing twice', async () => {
  // One partition (k3) is enough here, and half the work.
  const want = await localSweep();
  const out = join(tmp, 'q3');
  const c1 = start(sweepArgs(out, ['--queue', url(2)], '3'));
  await until(() => /enqueued 1 partition job and/.test(c1.err()), 'the flow enqueued');
  c1.child.kill('SIGKILL');
  await c1.closed;
  const key = /sweep ([0-9a-f]{16})/.exec(c1.err())![1]!;
  const prefix = 'bull:layerlock-exposure:';
  const db = redis.client.duplicate({ db: 2 });
  try {
    const jobKeys = async (): Promise<string[]> => (await db.keys(`${prefix}${key}.*`)).filter((k) => !k.slice(prefix.length).includes(':')).sort();
    const enqueued = await jobKeys();
    assert.deepEqual(enqueued.map((k) => k.slice(prefix.length + key.length + 1)), ['k3', 'sweep-k3']);
    const c2 = start(sweepArgs(out, ['--queue', url(2)], '3'));
    await until(() => /enqueued earlier, following it/.test(c2.err()), 'the restarted coordinator following the flow');
    const w = worker(2);
    assert.equal(await c2.closed, 0, c2.err());
    assert.deepEqual(await jobKeys(), enqueued, 'no job added by the restart');
    await assertSameFiles(join(out, 'partitions', 'k3'), join(want.dir, 'partitions', 'k3'));
    await stopWorker(w);
    assert.equal((JSON.parse(w.out()) as { completed: number }).completed, 2);
  } finally {
    db.disconnect();
  }
});

test('a worker with other data refuses the partition jobs and computes nothing', async () => {
  const other = join(tmp, 'other-data');
  await writeSyntheticMnist(other, 400, 400);
  const bad = worker(1, ['--data', other]);
  await until(() => /taking exposure jobs/.test(bad.err()), 'the misconfigured worker ready');
  const q = start(sweepArgs(join(tmp, 'q2'), ['--queue', url(1)]));
  assert.equal(await q.closed, 1);
  assert.match(q.err(), /failed on the queue after 3 attempts: worker \S+ refuses the job: --data \(contents of the loaded images and labels\) differs/);
  assert.match(bad.err(), /refusing job [0-9a-f]{16}\.k[03]/);
  await stopWorker(bad);
  assert.equal((JSON.parse(bad.out()) as { completed: number }).completed, 0, 'nothing computed with the wrong data');
  await assert.rejects(readFile(join(tmp, 'q2', 'sweep.json')), 'no sweep.json from a failed sweep');
});

test('--queue on attack: only with sweep, a redis URL, one clear line without the password', async () => {
  const cases: [string[], RegExp][] = [
    [['attack', '--cfg', 'x.cfg', '--weights', 'x.weights', '--out', join(tmp, 'o1'), '--queue', url(5)], /--queue distributes the partitions of `attack sweep`/],
    [['attack', 'sweep', '--cfg', 'x.cfg', '--weights', 'x.weights', '--tee-last', '0', '--out', join(tmp, 'o2'), '--queue', 'http://u:hunter2@h:1'], /must start with redis:\/\/ or rediss:\/\/ \(got http:\/\/u:\*\*\*@h:1\/?\)/],
  ];
  for (const [argv, msg] of cases) {
    const p = start(argv);
    assert.equal(await p.closed, 1, argv.join(' '));
    assert.match(p.err(), msg);
    assert.equal(p.err().trim().split('\n').length, 1);
    assert.ok(!p.err().includes('hunter2') && !p.err().includes(redis.password));
  }
});
