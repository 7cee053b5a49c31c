// `layerlock exposure … --queue URL`, the coordinator's part after the base models exist: publish
// the cfg and base models (content-addressed, in Redis), enqueue the missing Mr/Mp jobs as one
// BullMQ flow (children = the layer jobs, parent = the aggregation), follow the queue's events for
// progress, and store every result in the run folder exactly as a local run does. Job ids are
// derived from the run's identity, so a restarted coordinator finds its flow and enqueues nothing
// twice; a result is stored once however often it is delivered.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { identityKey, sameIdentity, type RunIdentity } from '../exposure/identity.js';
import { jobCost, jobList, type CostInputs, type LayerJob, type Metric } from '../exposure/jobs.js';
import type { RunnerEvent, RunningJob, RunState, RunSummary } from '../exposure/runner.js';
import { baseWeightsFile, jobFile, writeJsonAtomic } from '../exposure/store.js';
import { loadValidJobs } from '../exposure/valid-jobs.js';
import type { LayerResult } from '../exposure/worker.js';
import type { NetworkConfig } from '../nn/config.js';
import { atomicCreate } from '../util/fsutil.js';
import { publishBlob } from './blobs.js';
import { enqueueFlowOnce, followFlow, withQueue } from './flow.js';
import {
  AGGREGATE_JOB, aggregateJobId, LAYER_JOB, PAYLOAD_VERSION, queueJobId, validateLayerResult,
  type AggregatePayload, type LayerJobPayload,
} from './payload.js';
import { connect, whenReady } from './connection.js';
import type { QueueTarget } from './url.js';

export interface QueueRunOptions {
  target: QueueTarget;
  dir: string;
  identity: RunIdentity;
  /** The given --base file, or null when the bases were trained into dir. */
  basePath: string | null;
  config: NetworkConfig;
  cfgText: string;
  seeds: readonly number[];
  metric: Metric;
  cost: Omit<CostInputs, 'config'>;
  /** Tries per job before it fails for good (a refusing or crashing worker uses one). */
  attempts?: number;
  /** How often the coordinator checks the jobs' states besides listening to events (ms). */
  pollMs?: number;
  onEvent?: (e: RunnerEvent) => void;
  log: (line: string) => void;
}

export interface QueueRunSummary extends RunSummary {
  run: string;
  /** Jobs this invocation added to the queue (0 when a previous invocation did). */
  enqueued: number;
}

/**
 * Writes a job's result unless a valid one (same identity, same base model) is already stored: a
 * second delivery is compared, not written. A stale file (another identity) is replaced atomically.
 */
export async function storeResultOnce(dir: string, result: LayerResult): Promise<'stored' | 'duplicate' | 'conflict'> {
  const path = jobFile(dir, result.id);
  await mkdir(dirname(path), { recursive: true });
  try {
    await atomicCreate(path, JSON.stringify(result, null, 2) + '\n');
    return 'stored';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const kept = JSON.parse(await readFile(path, 'utf8')) as Partial<LayerResult>;
  if (!sameIdentity(kept.identity, result.identity) || kept.base_weights_sha256 !== result.base_weights_sha256) {
    await writeJsonAtomic(path, result);
    return 'stored';
  }
  return JSON.stringify(kept.scores) === JSON.stringify(result.scores) ? 'duplicate' : 'conflict';
}

interface Child {
  job: LayerJob;
  queueId: string;
  payload: LayerJobPayload;
}

/** Fails at once (one line) when the queue cannot be used: called before the bases are trained. */
export async function checkQueue(target: QueueTarget): Promise<void> {
  const redis = connect(target, () => {});
  try {
    await whenReady(redis, target);
  } finally {
    redis.disconnect();
  }
}

export async function runOnQueue(o: QueueRunOptions): Promise<QueueRunSummary> {
  const t0 = performance.now();
  const { identity } = o;
  const run = identityKey(identity);
  const all = jobList(o.config, o.seeds).filter((j): j is LayerJob => j.kind !== 'base');
  const valid = await loadValidJobs(o.dir, o.config, o.seeds, identity);
  const pendingJobs = all.filter((j) => !valid.results.layers.has(j.id));
  const stale = valid.stale.filter((s) => !s.endsWith('-base'));
  const skipped = all.length - pendingJobs.length;
  if (pendingJobs.length === 0) return { run, enqueued: 0, ran: 0, skipped, stale, wallSeconds: 0 };

  const label = 'layerlock exposure';
  return withQueue(o.target, label, o.log, async (c) => {
    // 1. Publish what the workers fetch by hash: the cfg and each seed's base model.
    if ((await publishBlob(c.redis, o.cfgText)) !== identity.cfg_sha256) throw new Error('internal: the cfg text does not hash to the identity\'s cfg_sha256');
    const baseSha = new Map<number, string>();
    for (const seed of o.seeds) {
      const sha = await publishBlob(c.redis, await readFile(o.basePath ?? baseWeightsFile(o.dir, seed)));
      const recorded = valid.results.base.get(seed)?.weights_sha256;
      if (recorded !== sha) throw new Error(`the base model of seed ${seed} changed since its job finished (its SHA-256 differs); delete ${o.dir}/jobs/s${seed}-base.json to redo it`);
      baseSha.set(seed, sha);
    }

    const children: Child[] = pendingJobs.map((job) => ({
      job,
      queueId: queueJobId(run, job.seed, job.layer, job.kind),
      payload: { v: PAYLOAD_VERSION, run, seed: job.seed, layer: job.layer, kind: job.kind, base_sha256: baseSha.get(job.seed)!, identity },
    }));

    // 2. Enqueue once: the flow's parent id names the run and its seeds; children already on the
    //    queue (from an earlier invocation or another seed list) are followed, not added again.
    const parentId = aggregateJobId(run, o.seeds);
    const enqueued = await enqueueFlowOnce(c, {
      target: o.target, label, log: o.log,
      parent: { id: parentId, name: AGGREGATE_JOB, data: { v: PAYLOAD_VERSION, run, metric: o.metric } satisfies AggregatePayload },
      children: children.map((ch) => ({ id: ch.queueId, name: LAYER_JOB, data: ch.payload })),
      ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
    });
    const workers = await c.queue.getWorkersCount().catch(() => 0);

    // 3. Follow the jobs until every result is stored.
    const byQueueId = new Map(children.map((ch) => [ch.queueId, ch]));
    const costOf = new Map(children.map((ch) => [ch.queueId, jobCost(ch.job, { ...o.cost, config: o.config })]));
    const totalCost = [...costOf.values()].reduce((a, b) => a + b, 0);
    const running = new Map<string, RunningJob>();
    let costDone = 0;
    let ran = 0;
    const state = (): RunState => {
      const partial = [...running.entries()].reduce((a, [q, r]) => a + (costOf.get(q) ?? 0) * Math.min(1, (r.epoch + r.batch / Math.max(1, r.batches)) / Math.max(1, r.epochs)), 0);
      return {
        total: all.length, done: skipped + ran, skipped, stale, cost: totalCost, costDone: costDone + 0.98 * partial, running: [...running.values()],
        elapsedSeconds: (performance.now() - t0) / 1000,
      };
    };
    const emit = (e: RunnerEvent): void => o.onEvent?.(e);
    emit({
      type: 'start', state: state(), workers, threads: 'per worker',
      queue: `${o.target.display}, run ${run}: ${enqueued > 0 ? `enqueued ${enqueued - 1} jobs and their aggregation` : 'enqueued earlier, following it'}`,
    });

    await followFlow(c, {
      target: o.target, label, log: o.log, parentId, childIds: [...byQueueId.keys()],
      stalledNote: 'another worker continues it from its last checkpoint',
      ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
      onActive: (q) => {
        if (!running.has(q)) running.set(q, { job: byQueueId.get(q)!.job, epoch: 0, epochs: 1, batch: 0, batches: 1 });
      },
      onProgress: (q, d) => {
        const n = (k: string): number => (typeof d[k] === 'number' && Number.isFinite(d[k]) ? (d[k] as number) : 0);
        running.set(q, { job: byQueueId.get(q)!.job, epoch: n('epoch'), epochs: Math.max(1, n('epochs')), batch: n('batch'), batches: Math.max(1, n('batches')) });
        emit({ type: 'progress', state: state() });
      },
      onAttemptFailed: (q) => void running.delete(q),
      onCompleted: async (q, value) => {
        const ch = byQueueId.get(q)!;
        const result = validateLayerResult(value, ch.job, { identity, base_sha256: ch.payload.base_sha256 });
        const stored = await storeResultOnce(o.dir, result);
        if (stored === 'conflict') o.log(`layerlock exposure: ${q} was delivered again with other numbers; keeping the first (the engine is not deterministic here?)`);
        running.delete(q);
        ran++;
        costDone += costOf.get(q) ?? 0;
        emit({ type: 'job-done', state: state(), job: ch.job, result });
      },
      onFailed: (q, message) => emit({ type: 'job-failed', state: state(), job: byQueueId.get(q)!.job, message }),
    });
    return { run, enqueued, ran, skipped, stale, wallSeconds: (performance.now() - t0) / 1000 };
  });
}
