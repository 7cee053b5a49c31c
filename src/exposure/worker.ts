// A worker process of the exposure runner (forked by runner.ts). It receives one job at a time,
// runs it (protocol.ts), writes the result atomically into the run folder, and reports progress
// over the IPC channel. It exits when its parent goes away, even in the middle of a job, so a
// killed run leaves no orphans computing into the folder.
import { readFile, unlink } from 'node:fs/promises';
import { setThreads } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { loadModel, saveModel } from '../nn/model.js';
import type { BatchProgress, EpochResult } from '../nn/train.js';
import type { Job, LayerJob, RunIdentity } from './jobs.js';
import { loadExposureData } from './data.js';
import { fineTune, scoreModel, trainBase, type ModelScores } from './protocol.js';
import {
  baseCheckpointFile, baseWeightsFile, decodeCheckpoint, encodeCheckpoint, jobFile, layerCheckpointFile, writeAtomic, writeJsonAtomic,
} from './store.js';

/** What the runner tells a worker about the run. */
export interface WorkerContext {
  dir: string;
  identity: RunIdentity;
  /** The cfg text itself, so every worker builds exactly the network the identity names. */
  cfgText: string;
}

export type ToWorker = { type: 'job'; job: Job; ctx: WorkerContext; threads: number | null };

export type FromWorker =
  | { type: 'progress'; id: string; epoch: number; epochs: number; batch: number; batches: number }
  | { type: 'done'; id: string; result: JobResult }
  /** A layer job saved its state after `epoch` epochs into `file` (the queue worker publishes it). */
  | { type: 'checkpoint'; id: string; epoch: number; file: string }
  | { type: 'failed'; id: string; message: string; stack: string };

export interface EpochRecord {
  epoch: number;
  loss: number;
  seconds: number;
  img_s: number;
}

interface ResultCommon {
  id: string;
  seed: number;
  scores: ModelScores;
  epochs: EpochRecord[];
  /** Wall time of the job (loading, training, evaluation). */
  seconds: number;
  kernels: string;
}

export interface BaseResult extends ResultCommon {
  kind: 'base';
  /** The .weights of M: relative to the run folder when trained here, else the given --base. */
  weights: string;
  /** Epoch the training continued from after an interruption (0: trained in one go). */
  resumed_from_epoch: number;
}

export interface LayerResult extends ResultCommon {
  kind: 'mr' | 'mp';
  layer: number;
  type: 'convolutional' | 'connected';
  params: number;
  shuffle_seed: number;
}

export type JobResult = BaseResult | LayerResult;

function epochRecord(r: EpochResult): EpochRecord {
  return { epoch: r.epoch + 1, loss: r.loss, seconds: r.seconds, img_s: r.imagesPerSecond };
}

// ---- jobs ------------------------------------------------------------------------------------------

type Report = (m: FromWorker) => void;

function progressReporter(id: string, epochs: number, report: Report): (p: BatchProgress) => void {
  const parent = process.ppid;
  let last = 0;
  return (p) => {
    // The event loop does not turn during an epoch, so a dead parent is noticed here.
    if (process.ppid !== parent) process.exit(0);
    const now = performance.now();
    if (now - last < 250 && p.batch !== p.batches) return;
    last = now;
    report({ type: 'progress', id, epoch: p.epoch, epochs, batch: p.batch, batches: p.batches });
  };
}

async function runBase(job: Job, ctx: WorkerContext, config: NetworkConfig, report: Report): Promise<JobResult> {
  const t0 = performance.now();
  const { identity, dir } = ctx;
  if (identity.base !== null) {
    const net = await loadModel({ cfg: config, weights: identity.base, seed: job.seed });
    const data = await loadExposureData(identity, job.seed, net.inShape);
    const scores = scoreModel(net, data);
    return {
      id: job.id, kind: 'base', seed: job.seed, scores, epochs: [], seconds: (performance.now() - t0) / 1000,
      kernels: net.kernels.name, weights: identity.base, resumed_from_epoch: 0,
    };
  }
  const epochs = identity.epochs ?? 0;
  const net = await loadModel({ cfg: config, seed: job.seed });
  const data = await loadExposureData(identity, job.seed, net.inShape);
  const ckpt = baseCheckpointFile(dir, job.seed);
  let start = 0;
  let history: EpochRecord[] = [];
  const bytes = await readFile(ckpt).catch(() => null);
  if (bytes) {
    const r = decodeCheckpoint(net, bytes, ckpt);
    start = r.epoch;
    history = (r.history as EpochRecord[] | null) ?? [];
  }
  if (start < epochs) {
    await trainBase(net, data, {
      epochs,
      seed: job.seed,
      startEpoch: start,
      onBatch: progressReporter(job.id, epochs, report),
      onEpoch: async (e) => {
        history.push(epochRecord(e));
        await writeAtomic(ckpt, encodeCheckpoint(net, e.epoch + 1, history));
      },
    });
  }
  const weights = baseWeightsFile(dir, job.seed);
  await saveModel(net, weights);
  const scores = scoreModel(net, data);
  return {
    id: job.id, kind: 'base', seed: job.seed, scores, epochs: history, seconds: (performance.now() - t0) / 1000,
    kernels: net.kernels.name, weights: `base/s${job.seed}.weights`, resumed_from_epoch: start,
  };
}

async function runLayer(job: LayerJob, ctx: WorkerContext, config: NetworkConfig, report: Report): Promise<JobResult> {
  const t0 = performance.now();
  const { identity, dir } = ctx;
  const weights = identity.base ?? baseWeightsFile(dir, job.seed);
  const net = await loadModel({ cfg: config, weights, seed: job.seed });
  const data = await loadExposureData(identity, job.seed, net.inShape);
  const layer = net.layer(job.layer);
  if (!layer || (layer.type !== 'convolutional' && layer.type !== 'connected')) throw new Error(`layer ${job.layer} is not trainable`);
  // Per-epoch checkpoints: a job whose worker dies continues from its last finished epoch (its own
  // or, on a queue, the one the queue worker put here), bit-identically. One of another job is ignored.
  const ckpt = layerCheckpointFile(dir, job.id);
  const saved = await readFile(ckpt).catch(() => null);
  let history: EpochRecord[] = [];
  const r = await fineTune(net, data, job, identity.ft_epochs, progressReporter(job.id, identity.ft_epochs, report), {
    restore: (n) => {
      if (!saved) return 0;
      const probe = decodeCheckpoint(n, saved, ckpt);
      const h = probe.history as { job?: unknown; epochs?: EpochRecord[] } | null;
      if (h?.job !== job.id || !Array.isArray(h.epochs) || probe.epoch > identity.ft_epochs) throw new Error(`${ckpt} belongs to another job`);
      history = h.epochs;
      return probe.epoch;
    },
    onEpoch: async (e) => {
      history.push(epochRecord(e));
      await writeAtomic(ckpt, encodeCheckpoint(net, e.epoch + 1, { job: job.id, epochs: history }));
      report({ type: 'checkpoint', id: job.id, epoch: e.epoch + 1, file: ckpt });
    },
  });
  return {
    id: job.id, kind: job.kind, seed: job.seed, layer: job.layer, type: layer.type,
    params: layer.params().reduce((a, p) => a + (p.updates ? p.data.length : 0), 0),
    shuffle_seed: job.shuffleSeed, scores: r.scores, epochs: history.length > 0 ? history : r.epochs.map(epochRecord),
    seconds: (performance.now() - t0) / 1000, kernels: net.kernels.name,
  };
}

/** Runs one job and writes its result file; the file's existence marks the job as done. */
export async function runJob(job: Job, ctx: WorkerContext, report: Report = () => {}): Promise<JobResult> {
  const config = parseCfg(ctx.cfgText, ctx.identity.cfg);
  const result = job.kind === 'base' ? await runBase(job, ctx, config, report) : await runLayer(job, ctx, config, report);
  await writeJsonAtomic(jobFile(ctx.dir, job.id), result);
  if (job.kind === 'base' && ctx.identity.base === null) await unlink(baseCheckpointFile(ctx.dir, job.seed)).catch(() => {});
  if (job.kind !== 'base') await unlink(layerCheckpointFile(ctx.dir, job.id)).catch(() => {});
  return result;
}

// ---- process glue ----------------------------------------------------------------------------------

function send(m: FromWorker): void {
  if (!process.connected) process.exit(0);
  process.send!(m);
}

if (process.send && process.env['LAYERLOCK_EXPOSURE_WORKER'] === '1') {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToWorker) => {
    if (m.type !== 'job') return;
    if (m.threads !== null) setThreads(m.threads);
    runJob(m.job, m.ctx, send).then(
      (result) => send({ type: 'done', id: m.job.id, result }),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        send({ type: 'failed', id: m.job.id, message: e.message, stack: e.stack ?? '' });
      },
    );
  });
}
