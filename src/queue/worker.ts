// `layerlock worker`: takes exposure jobs from the queue and runs them on this machine. Before a
// job runs, the worker checks that it would compute what the run asks for: the payload's schema,
// the engine (layerlock version, kernels), and its own data against the run's content hash. A
// mismatching job is refused with a message naming the difference, never computed.
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Dataset } from '../data/types.js';
import { loadSets } from '../exposure/data.js';
import { datasetsSha256, engineIdentity, identityKey, identityMismatch } from '../exposure/identity.js';
import { jobShuffleSeed, layerJobId, trainableIndices } from '../exposure/jobs.js';
import { exposureOf, generalizationError } from '../exposure/results.js';
import { layerCheckpointFile, writeAtomic } from '../exposure/store.js';
import type { LayerResult } from '../exposure/worker.js';
import type { ModelScores } from '../exposure/protocol.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { layerShapes } from '../nn/network.js';
import { deleteCheckpoint, fetchBlob, loadCheckpoint, saveCheckpoint } from './blobs.js';
import {
  AGGREGATE_JOB, LAYER_JOB, PAYLOAD_VERSION, PayloadError, QUEUE_NAME, queueJobId, resultScores, validateAggregatePayload, validateLayerPayload,
  type LayerJobPayload,
} from './payload.js';
import { ComputePool } from './pool.js';
import { connect, whenReady } from './connection.js';
import { scrub, type QueueTarget } from './url.js';

export interface QueueWorkerOptions {
  target: QueueTarget;
  /** Jobs run in parallel on this machine (default: the cores). */
  jobs?: number;
  /** This machine's copy of the data: 'embedded' or a directory. */
  data: string;
  /** Seconds after which a silent worker's job counts as stalled and goes to another worker. */
  stallSeconds?: number;
  /** Memory for the activation caches of all this worker's jobs together (bytes; 0: none). Never changes results. */
  cacheBytes: number;
  log: (line: string) => void;
  /** Called when a job of this worker completes or fails (an attempt). */
  onJobEnd?: (ok: boolean) => void;
}

export interface QueueWorkerHandle {
  /** Stops taking jobs; jobs in flight are left to the stalled-job check (they resume elsewhere). */
  close(): Promise<void>;
}

/** Per-layer exposure of one seed, as the flow's parent job returns it (for dashboards and logs). */
export interface AggregateValue {
  run: string;
  metric: 'loss' | 'acc';
  children: number;
  layers: { seed: number; layer: number; gen_mr: number | null; gen_mp: number | null; exposure: number | null }[];
}

export async function startWorker(o: QueueWorkerOptions): Promise<QueueWorkerHandle> {
  const jobs = o.jobs ?? availableParallelism();
  const stall = 1000 * (o.stallSeconds ?? 30);
  const who = `${hostname()}/${process.pid}`;
  const redis = connect(o.target, o.log);
  await whenReady(redis, o.target);
  const cache = await mkdtemp(join(tmpdir(), 'layerlock-worker-'));
  const userThreads = process.env['LAYERLOCK_THREADS'];
  const pool = new ComputePool(userThreads ? null : Math.max(1, Math.floor(availableParallelism() / jobs)));
  const dataLocation = o.data === 'embedded' ? 'embedded' : resolve(o.data);

  const cfgs = new Map<string, { text: string; config: NetworkConfig }>();
  const cfgOf = async (sha: string): Promise<{ text: string; config: NetworkConfig }> => {
    let c = cfgs.get(sha);
    if (!c) {
      const text = (await fetchBlob(redis, sha)).toString('utf8');
      c = { text, config: parseCfg(text, `cfg ${sha.slice(0, 12)}`) };
      cfgs.set(sha, c);
    }
    return c;
  };
  const weights = new Map<string, string>();
  const weightsFile = async (sha: string): Promise<string> => {
    let path = weights.get(sha);
    if (!path) {
      path = join(cache, 'blobs', `${sha}.weights`);
      await writeAtomic(path, await fetchBlob(redis, sha));
      weights.set(sha, path);
    }
    return path;
  };
  let hashed: { train: Dataset; test: Dataset; sha256: string } | null = null;
  const dataSha = (train: Dataset, test: Dataset): string => {
    if (hashed?.train !== train || hashed.test !== test) hashed = { train, test, sha256: datasetsSha256(train, test) };
    return hashed.sha256;
  };

  /**
   * Why this worker must not compute the job (its engine or its data differ from the run's), or
   * null. The compute process checks both again before it trains (exposure/worker.ts).
   */
  async function mismatch(p: LayerJobPayload, config: NetworkConfig): Promise<string | null> {
    const id = p.identity;
    const engine = await engineIdentity();
    const sets = await loadSets({ data: dataLocation, train_limit: id.train_limit, test_limit: id.test_limit, resize: id.resize }, layerShapes(config)[0]!);
    const here = { ...id, ...engine, train_count: sets.train.count, test_count: sets.test.count, data_sha256: dataSha(sets.train, sets.test) };
    const diff = identityMismatch(id, here);
    if (diff.length === 0) return null;
    return diff.map((d) => d.message.replace('this run has', `this worker (--data ${o.data}) has`)).join('; ');
  }

  async function processLayer(job: BullJob, p: LayerJobPayload): Promise<LayerResult> {
    const { text: cfgText, config } = await cfgOf(p.identity.cfg_sha256);
    if (!trainableIndices(config).includes(p.layer)) throw new UnrecoverableError(`layer ${p.layer} is not a trainable layer of the run's network`);
    const diff = await mismatch(p, config);
    if (diff) {
      o.log(`layerlock worker: refusing job ${job.id}: ${diff}`);
      throw new Error(`worker ${who} refuses the job: ${diff}`);
    }
    const base = await weightsFile(p.base_sha256);
    const runDir = join(cache, p.run);
    const id = layerJobId(p.seed, p.layer, p.kind);
    const ckpt = layerCheckpointFile(runDir, id);
    const saved = await loadCheckpoint(redis, job.id!);
    if (saved) {
      await writeAtomic(ckpt, saved);
      o.log(`layerlock worker: job ${job.id} continues from its checkpoint`);
    } else {
      await unlink(ckpt).catch(() => {});
    }
    const uploads: Promise<unknown>[] = [];
    const result = await pool.run(
      { type: 'job', job: { kind: p.kind, id, seed: p.seed, layer: p.layer, shuffleSeed: jobShuffleSeed(p.seed, p.layer, p.kind) }, ctx: { dir: runDir, identity: p.identity, cfgText, dataLocation, basePath: base, cacheBytes: Math.floor(o.cacheBytes / jobs) }, threads: null },
      (m) => {
        if (m.type === 'progress') uploads.push(job.updateProgress({ epoch: m.epoch, epochs: m.epochs, batch: m.batch, batches: m.batches }).catch(() => {}));
        else if (m.type === 'checkpoint') uploads.push(readFile(m.file).then((b) => saveCheckpoint(redis, job.id!, b)).catch(() => {}));
      },
    );
    await Promise.all(uploads);
    // The checkpoint goes before the result: a worker dying in between only makes the job start
    // over (with the same numbers), while a checkpoint outliving its job would be stale data.
    await deleteCheckpoint(redis, job.id!);
    return result as LayerResult;
  }

  async function processAggregate(job: BullJob): Promise<AggregateValue> {
    const a = validateAggregatePayload(job.data);
    const values = await job.getChildrenValues<unknown>();
    const bySeedLayer = new Map<string, { seed: number; layer: number; mr?: { scores: ModelScores }; mp?: { scores: ModelScores } }>();
    for (const [key, value] of Object.entries(values)) {
      const m = /\.s(\d+)-l(\d+)-(mr|mp)$/.exec(key);
      if (!m || !key.includes(`${a.run}.`)) continue;
      const seed = Number(m[1]);
      const layer = Number(m[2]);
      const kind = m[3] as 'mr' | 'mp';
      const r = { scores: resultScores(value) };
      const k = `${seed}/${layer}`;
      const e = bySeedLayer.get(k) ?? { seed, layer };
      e[kind] = r;
      bySeedLayer.set(k, e);
    }
    const layers = [...bySeedLayer.values()].sort((x, y) => x.seed - y.seed || x.layer - y.layer).map((e) => {
      const genMr = e.mr ? generalizationError(e.mr.scores, a.metric) : null;
      const genMp = e.mp ? generalizationError(e.mp.scores, a.metric) : null;
      return { seed: e.seed, layer: e.layer, gen_mr: genMr, gen_mp: genMp, exposure: genMr !== null && genMp !== null ? exposureOf(genMp, genMr) : null };
    });
    return { run: a.run, metric: a.metric, children: Object.keys(values).length, layers };
  }

  const worker = new Worker(
    QUEUE_NAME,
    async (job: BullJob) => {
      if (job.name === AGGREGATE_JOB) return processAggregate(job);
      if (job.name !== LAYER_JOB) throw new UnrecoverableError(`unknown job type ${JSON.stringify(job.name).slice(0, 40)}`);
      // Another layerlock's payload is refused like other data (another worker may take it), not
      // failed for good as a malformed one is.
      const v = (job.data as { v?: unknown } | null)?.v;
      if (v !== PAYLOAD_VERSION) throw new Error(`worker ${who} refuses the job: its payload is version ${JSON.stringify(v) ?? 'none'}, this layerlock reads version ${PAYLOAD_VERSION}`);
      let p: LayerJobPayload;
      try {
        p = validateLayerPayload(job.data);
      } catch (e) {
        if (e instanceof PayloadError) throw new UnrecoverableError(`invalid job payload: ${e.message}`);
        throw e;
      }
      if (job.id !== queueJobId(p.run, p.seed, p.layer, p.kind) || p.run !== identityKey(p.identity)) throw new UnrecoverableError('the job id does not match its payload');
      return processLayer(job, p);
    },
    { connection: redis, concurrency: jobs, lockDuration: stall, stalledInterval: stall, maxStalledCount: 10, autorun: true },
  );
  worker.on('active', (job) => o.log(`layerlock worker: started ${job.id}`));
  worker.on('completed', (job) => {
    o.log(`layerlock worker: finished ${job.id}`);
    o.onJobEnd?.(true);
  });
  worker.on('failed', (job, err) => {
    o.log(`layerlock worker: job ${job?.id ?? '?'} failed: ${scrub(err.message, o.target)}`);
    o.onJobEnd?.(false);
  });
  worker.on('error', (err) => o.log(`layerlock worker: ${scrub(err.message, o.target)}`));
  await worker.waitUntilReady();
  const engine = await engineIdentity();
  o.log(`layerlock worker ${who}: taking exposure jobs from ${o.target.display} (${jobs} at a time, data ${o.data}, kernels ${engine.kernels}${engine.isa ? `-${engine.isa}` : ''}, engine ${engine.engine_fingerprint.slice(0, 12)})`);

  return {
    async close() {
      pool.close();
      await worker.close(true).catch(() => {});
      redis.disconnect();
      await rm(cache, { recursive: true, force: true });
    },
  };
}
