// `layerlock worker`: takes exposure jobs and attack-sweep partitions from the queue and runs them
// on this machine. Before a job runs, the worker checks that it would compute what the run asks
// for: the payload's schema, the engine (kernels, instruction set, fingerprint), and its own data
// against the run's content hash. A mismatching job is refused with a message naming the
// difference, never computed.
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Dataset } from '../data/types.js';
import { loadSets, type DataSelection } from '../exposure/data.js';
import { datasetsSha256, engineIdentity, identityKey, localMismatch, type LocalIdentity } from '../exposure/identity.js';
import { jobShuffleSeed, layerJobId, trainableIndices } from '../exposure/jobs.js';
import { exposureOf, generalizationError } from '../exposure/results.js';
import { layerCheckpointFile, writeAtomic } from '../exposure/store.js';
import type { LayerResult } from '../exposure/worker.js';
import type { ModelScores } from '../exposure/protocol.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { layerShapes } from '../nn/network.js';
import { partitionRange } from '../attack/sweep.js';
import type { AttackDocument } from '../attack/run.js';
import type { FromAttackCompute, ToAttackCompute } from './attack-compute.js';
import type { FromWorker, JobResult, ToWorker } from '../exposure/worker.js';
import { deleteCheckpoint, fetchBlob, loadCheckpoint, saveCheckpoint } from './blobs.js';
import {
  AGGREGATE_JOB, ATTACK_JOB, attackJobId, LAYER_JOB, PAYLOAD_VERSION, PayloadError, QUEUE_NAME, queueJobId, resultScores, SWEEP_JOB, validateAggregatePayload,
  validateAttackPayload, validateLayerPayload, validateSweepAggregatePayload, type AttackJobPayload, type LayerJobPayload,
} from './payload.js';
import { ATTACK_PROGRAM, ComputePool, EXPOSURE_PROGRAM } from './pool.js';
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

/** An attack sweep's summary, as the flow's parent job returns it. */
export interface SweepAggregateValue {
  sweep: string;
  children: number;
  partitions: { partition: string; attacks: { name: string; auc: number | null }[] }[];
}

/** The partition's protected range, or undefined when it does not fit a network of `layers` layers. */
function fittingRange(p: AttackJobPayload, layers: number): [number, number] | null | undefined {
  if (p.partition.kind === 'range' && p.partition.end >= layers) return undefined;
  if (p.partition.kind === 'last' && p.partition.k > layers) return undefined;
  return partitionRange(p.partition, layers);
}

export async function startWorker(o: QueueWorkerOptions): Promise<QueueWorkerHandle> {
  const jobs = o.jobs ?? availableParallelism();
  const stall = 1000 * (o.stallSeconds ?? 30);
  const who = `${hostname()}/${process.pid}`;
  const redis = connect(o.target, o.log);
  await whenReady(redis, o.target);
  const cache = await mkdtemp(join(tmpdir(), 'layerlock-worker-'));
  const userThreads = process.env['LAYERLOCK_THREADS'];
  const threads = userThreads ? null : Math.max(1, Math.floor(availableParallelism() / jobs));
  // Processes are forked when a job of their kind first comes: a worker that only ever sees
  // exposure jobs never starts an attack process.
  const pool = new ComputePool(EXPOSURE_PROGRAM, threads);
  const attackPool = new ComputePool(ATTACK_PROGRAM, threads);
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
  /** A blob fetched by hash into this worker's cache folder, once (the file name is the hash, never a path from the queue). */
  const blobs = new Map<string, string>();
  const blobFile = async (sha: string, ext: 'weights' | 'cfg'): Promise<string> => {
    let path = blobs.get(`${sha}.${ext}`);
    if (!path) {
      path = join(cache, 'blobs', `${sha}.${ext}`);
      await writeAtomic(path, await fetchBlob(redis, sha));
      blobs.set(`${sha}.${ext}`, path);
    }
    return path;
  };
  let hashed: { train: Dataset; test: Dataset; sha256: string } | null = null;
  const dataSha = (train: Dataset, test: Dataset): string => {
    if (hashed?.train !== train || hashed.test !== test) hashed = { train, test, sha256: datasetsSha256(train, test) };
    return hashed.sha256;
  };

  /**
   * Why this worker must not compute a job made for `wanted` (its engine or its data, selected as
   * the job says, differ), or null. The compute process checks both again before it computes.
   */
  async function mismatch(sel: Omit<DataSelection, 'data'>, config: NetworkConfig, wanted: LocalIdentity): Promise<string | null> {
    const engine = await engineIdentity();
    const sets = await loadSets({ ...sel, data: dataLocation }, layerShapes(config)[0]!);
    const here = { ...engine, train_count: sets.train.count, test_count: sets.test.count, data_sha256: dataSha(sets.train, sets.test) };
    const diff = localMismatch(wanted, here);
    if (diff.length === 0) return null;
    return diff.map((d) => d.message.replace('this run has', `this worker (--data ${o.data}) has`)).join('; ');
  }

  /** Refuses the job (another worker may take it) when this machine would compute something else. */
  async function refuseMismatch(job: BullJob, sel: Omit<DataSelection, 'data'>, config: NetworkConfig, wanted: LocalIdentity): Promise<void> {
    const diff = await mismatch(sel, config, wanted);
    if (diff) {
      o.log(`layerlock worker: refusing job ${job.id}: ${diff}`);
      throw new Error(`worker ${who} refuses the job: ${diff}`);
    }
  }

  async function processLayer(job: BullJob, p: LayerJobPayload): Promise<LayerResult> {
    const { text: cfgText, config } = await cfgOf(p.identity.cfg_sha256);
    if (!trainableIndices(config).includes(p.layer)) throw new UnrecoverableError(`layer ${p.layer} is not a trainable layer of the run's network`);
    await refuseMismatch(job, p.identity, config, p.identity);
    const base = await blobFile(p.base_sha256, 'weights');
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
    const msg: ToWorker = { type: 'job', job: { kind: p.kind, id, seed: p.seed, layer: p.layer, shuffleSeed: jobShuffleSeed(p.seed, p.layer, p.kind) }, ctx: { dir: runDir, identity: p.identity, cfgText, dataLocation, basePath: base, cacheBytes: Math.floor(o.cacheBytes / jobs) }, threads: null };
    const result = await pool.run<JobResult, FromWorker>(id, msg,
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

  /** One partition of an attack sweep: the same checks as a layer job, then attackPartition in a compute process. */
  async function processAttack(job: BullJob, p: AttackJobPayload): Promise<AttackDocument> {
    const id = p.identity;
    const { text: cfgText, config } = await cfgOf(id.cfg_sha256);
    if (fittingRange(p, config.layers.length) === undefined) throw new UnrecoverableError(`partition ${JSON.stringify(p.partition)} does not fit the sweep's network of ${config.layers.length} layers`);
    await refuseMismatch(job, { train_limit: id.train_limit, test_limit: id.test_limit, resize: id.resize }, config, id);
    const msg: ToAttackCompute = {
      type: 'attack', id: job.id!, payload: p, dataLocation, cfgPath: await blobFile(id.cfg_sha256, 'cfg'), cfgText,
      weightsPath: await blobFile(id.weights_sha256, 'weights'), storageDir: join(cache, 'tee'), threads: null,
    };
    return attackPool.run<AttackDocument, FromAttackCompute>(job.id!, msg, (m) => {
      if (m.type === 'log') o.log(`layerlock worker: ${job.id}: ${m.line}`);
    });
  }

  /** The sweep's parent: each partition's attacks and AUCs, for dashboards and the coordinator's log. */
  async function processSweepAggregate(job: BullJob): Promise<SweepAggregateValue> {
    const a = validateSweepAggregatePayload(job.data);
    const values = await job.getChildrenValues<unknown>();
    const partitions = Object.entries(values).filter(([key]) => key.includes(`${a.sweep}.`)).map(([key, value]) => {
      const attacks = (value as { attacks?: unknown } | null)?.attacks;
      return {
        partition: key.slice(key.lastIndexOf('.') + 1),
        attacks: Array.isArray(attacks) ? attacks.map((r: { name?: unknown; auc?: unknown }) => ({ name: String(r?.name), auc: typeof r?.auc === 'number' ? r.auc : null })) : [],
      };
    }).sort((x, y) => x.partition.localeCompare(y.partition));
    return { sweep: a.sweep, children: Object.keys(values).length, partitions };
  }

  /** Validates a job's payload: another layerlock's is refused (another worker may take it), a malformed one fails for good. */
  function payload<T>(job: BullJob, validate: (v: unknown) => T): T {
    const v = (job.data as { v?: unknown } | null)?.v;
    if (v !== PAYLOAD_VERSION) throw new Error(`worker ${who} refuses the job: its payload is version ${JSON.stringify(v) ?? 'none'}, this layerlock reads version ${PAYLOAD_VERSION}`);
    try {
      return validate(job.data);
    } catch (e) {
      if (e instanceof PayloadError) throw new UnrecoverableError(`invalid job payload: ${e.message}`);
      throw e;
    }
  }

  const worker = new Worker(
    QUEUE_NAME,
    async (job: BullJob) => {
      if (job.name === AGGREGATE_JOB) return processAggregate(job);
      if (job.name === SWEEP_JOB) return processSweepAggregate(job);
      if (job.name === ATTACK_JOB) {
        const p = payload(job, validateAttackPayload);
        if (job.id !== attackJobId(p.sweep, p.partition)) throw new UnrecoverableError('the job id does not match its payload');
        return processAttack(job, p);
      }
      if (job.name !== LAYER_JOB) throw new UnrecoverableError(`unknown job type ${JSON.stringify(job.name).slice(0, 40)}`);
      const p = payload(job, validateLayerPayload);
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
  o.log(`layerlock worker ${who}: taking exposure jobs and attack-sweep partitions from ${o.target.display} (${jobs} at a time, data ${o.data}, kernels ${engine.kernels}${engine.isa ? `-${engine.isa}` : ''}, engine ${engine.engine_fingerprint.slice(0, 12)})`);

  return {
    async close() {
      pool.close();
      attackPool.close();
      await worker.close(true).catch(() => {});
      redis.disconnect();
      await rm(cache, { recursive: true, force: true });
    },
  };
}
