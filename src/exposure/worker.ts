// A worker process of the exposure runner (forked by runner.ts). It receives one job at a time,
// runs it (protocol.ts), writes the result atomically into the run folder, and reports progress
// over the IPC channel. It exits when its parent goes away, even in the middle of a job, so a
// killed run leaves no orphans computing into the folder.
import { createHash } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { setThreads } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { loadModel, saveModel } from '../nn/model.js';
import type { BatchProgress, EpochResult } from '../nn/train.js';
import { baseJobId, type Job, type LayerJob } from './jobs.js';
import { engineIdentity, identityKey, identityMismatch, type RunIdentity } from './identity.js';
import { loadExposureData } from './data.js';
import { fineTune, scoreModel, trainBase, type ModelScores } from './protocol.js';
import {
  baseCheckpointFile, baseWeightsFile, checkpointHistory, decodeCheckpoint, encodeCheckpoint, jobFile, layerCheckpointFile, readJobResult, writeAtomic, writeJsonAtomic,
} from './store.js';

/** What the runner tells a worker about the run. */
export interface WorkerContext {
  dir: string;
  identity: RunIdentity;
  /** The cfg text itself, so every worker builds exactly the network the identity names. */
  cfgText: string;
  /** Where the data is ('embedded' or a directory) and the --base file: not part of the identity (no paths there). */
  dataLocation: string;
  basePath: string | null;
  /** Memory this worker may use for the activation cache of a job (bytes; 0: none). Never changes results. */
  cacheBytes: number;
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
  /** The identity the job was computed under: it is reused only by a run with an equal one. */
  identity: RunIdentity;
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
  /** SHA-256 of those weights: the Mr/Mp jobs record which base model they started from. */
  weights_sha256: string;
  /** Epoch the training continued from after an interruption (0: trained in one go). */
  resumed_from_epoch: number;
}

export interface LayerResult extends ResultCommon {
  kind: 'mr' | 'mp';
  layer: number;
  type: 'convolutional' | 'connected';
  params: number;
  shuffle_seed: number;
  /** SHA-256 of the base model M the job started from. */
  base_weights_sha256: string;
  /** The activation cache used (cache.ts; bit-identical results either way) and why none or a lower point. */
  cache: { after: number; bytes: number; seconds: number } | null;
  cache_note: string | null;
}

export type JobResult = BaseResult | LayerResult;

function epochRecord(r: EpochResult): EpochRecord {
  return { epoch: r.epoch + 1, loss: r.loss, seconds: r.seconds, img_s: r.imagesPerSecond };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a base-training checkpoint carries besides the weights: the identity it belongs to. */
interface CheckpointHistory {
  identity_key: string;
  epochs: EpochRecord[];
}

/**
 * The engine of this process (kernels, instruction set, fingerprint with this worker's thread
 * setting) must be the one the run's identity names; otherwise the job would be recorded under an
 * identity it was not computed with.
 */
async function checkEngine(identity: RunIdentity): Promise<void> {
  const here = { ...identity, ...(await engineIdentity()) };
  const diff = identityMismatch(identity, here);
  if (diff.length > 0) throw new Error(`this worker's engine differs from the run's: ${diff.map((d) => d.message).join('; ')}`);
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
  if (ctx.basePath !== null) {
    const sha = sha256(await readFile(ctx.basePath));
    if (sha !== identity.base_sha256) throw new Error(`${ctx.basePath} changed since the run started (its SHA-256 differs)`);
    const net = await loadModel({ cfg: config, weights: ctx.basePath, seed: job.seed });
    const data = await loadExposureData(identity, ctx.dataLocation, job.seed, net.inShape);
    const scores = scoreModel(net, data);
    return {
      id: job.id, kind: 'base', seed: job.seed, identity, scores, epochs: [], seconds: (performance.now() - t0) / 1000,
      kernels: net.kernels.name, weights: 'given (--base)', weights_sha256: sha, resumed_from_epoch: 0,
    };
  }
  const epochs = identity.epochs ?? 0;
  let net = await loadModel({ cfg: config, seed: job.seed });
  const data = await loadExposureData(identity, ctx.dataLocation, job.seed, net.inShape);
  const ckpt = baseCheckpointFile(dir, job.seed);
  let start = 0;
  let history: EpochRecord[] = [];
  // A checkpoint continues the training only if it was written under this identity; one of
  // another engine or an older layerlock is ignored (and replaced after the first epoch).
  const key = identityKey(identity);
  const bytes = await readFile(ckpt).catch(() => null);
  if (bytes) {
    const r = decodeCheckpoint(net, bytes, ckpt);
    const h = r.history as CheckpointHistory | null;
    if (h !== null && typeof h === 'object' && !Array.isArray(h) && h.identity_key === key) {
      start = r.epoch;
      history = h.epochs;
    } else {
      net = await loadModel({ cfg: config, seed: job.seed });
    }
  }
  if (start < epochs) {
    await trainBase(net, data, {
      epochs,
      seed: job.seed,
      startEpoch: start,
      onBatch: progressReporter(job.id, epochs, report),
      onEpoch: async (e) => {
        history.push(epochRecord(e));
        const h: CheckpointHistory = { identity_key: key, epochs: history };
        await writeAtomic(ckpt, encodeCheckpoint(net, e.epoch + 1, h));
      },
    });
  }
  const weights = baseWeightsFile(dir, job.seed);
  await saveModel(net, weights);
  const scores = scoreModel(net, data);
  return {
    id: job.id, kind: 'base', seed: job.seed, identity, scores, epochs: history, seconds: (performance.now() - t0) / 1000,
    kernels: net.kernels.name, weights: `base/s${job.seed}.weights`, weights_sha256: sha256(await readFile(weights)), resumed_from_epoch: start,
  };
}

async function runLayer(job: LayerJob, ctx: WorkerContext, config: NetworkConfig, report: Report): Promise<JobResult> {
  const t0 = performance.now();
  const { identity, dir } = ctx;
  const weights = ctx.basePath ?? baseWeightsFile(dir, job.seed);
  const baseSha = sha256(await readFile(weights));
  if (ctx.basePath === null) {
    // The base model on disk must be the one its job recorded, or this job would be computed from
    // another M (and then never be reused, see valid-jobs.ts).
    const base = await readJobResult<BaseResult>(dir, baseJobId(job.seed));
    if (base?.weights_sha256 !== baseSha) throw new Error(`${weights} is not the base model its job ${baseJobId(job.seed)} recorded; delete that job file to retrain it`);
  }
  const net = await loadModel({ cfg: config, weights, seed: job.seed });
  const data = await loadExposureData(identity, ctx.dataLocation, job.seed, net.inShape);
  const layer = net.layer(job.layer);
  if (!layer || (layer.type !== 'convolutional' && layer.type !== 'connected')) throw new Error(`layer ${job.layer} is not trainable`);
  // Per-epoch checkpoints: a job whose worker dies continues from its last finished epoch (its own
  // or, on a queue, the one the queue worker put here), bit-identically. A checkpoint of another
  // job, identity or base model is ignored (and replaced after the first epoch).
  const ckpt = layerCheckpointFile(dir, job.id);
  const mark = { job: job.id, identity_key: identityKey(identity), base_weights_sha256: baseSha };
  const saved = await readFile(ckpt).catch(() => null);
  const h = saved ? (checkpointHistory(saved) as (typeof mark & { epochs?: EpochRecord[] }) | null) : null;
  const usable = h !== null && h.job === mark.job && h.identity_key === mark.identity_key && h.base_weights_sha256 === baseSha && Array.isArray(h.epochs);
  let history: EpochRecord[] = [];
  const r = await fineTune(net, data, job, identity.ft_epochs, progressReporter(job.id, identity.ft_epochs, report), ctx.cacheBytes, {
    restore: usable
      ? (n) => {
          history = h.epochs!;
          return Math.min(identity.ft_epochs, decodeCheckpoint(n, saved!, ckpt).epoch);
        }
      : undefined,
    onEpoch: async (e) => {
      history.push(epochRecord(e));
      await writeAtomic(ckpt, encodeCheckpoint(net, e.epoch + 1, { ...mark, epochs: history }));
      report({ type: 'checkpoint', id: job.id, epoch: e.epoch + 1, file: ckpt });
    },
  });
  return {
    id: job.id, kind: job.kind, seed: job.seed, identity, layer: job.layer, type: layer.type, base_weights_sha256: baseSha,
    params: layer.params().reduce((a, p) => a + (p.updates ? p.data.length : 0), 0),
    shuffle_seed: job.shuffleSeed, cache: r.cache, cache_note: r.cacheNote, scores: r.scores, epochs: history.length > 0 ? history : r.epochs.map(epochRecord),
    seconds: (performance.now() - t0) / 1000, kernels: net.kernels.name,
  };
}

/** Runs one job and writes its result file; the file's existence marks the job as done. */
export async function runJob(job: Job, ctx: WorkerContext, report: Report = () => {}): Promise<JobResult> {
  await checkEngine(ctx.identity);
  const config = parseCfg(ctx.cfgText, ctx.identity.cfg);
  const result = job.kind === 'base' ? await runBase(job, ctx, config, report) : await runLayer(job, ctx, config, report);
  await writeJsonAtomic(jobFile(ctx.dir, job.id), result);
  if (job.kind === 'base' && ctx.basePath === null) await unlink(baseCheckpointFile(ctx.dir, job.seed)).catch(() => {});
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
