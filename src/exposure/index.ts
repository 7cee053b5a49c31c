// Layer-wise exposure (DESIGN.md §3), end to end: check or record the run folder's options, run the
// missing jobs in parallel workers, aggregate, and write exposure.json / .csv / .svg / .png.
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { freemem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { loadModel } from '../nn/model.js';
import { layerShapes } from '../nn/network.js';
import { exposureChartSpec, type ExposureSeries } from '../report/exposure-chart.js';
import { renderSvg, svgToPng } from '../report/charts.js';
import type { QueueTarget } from '../queue/url.js';
import { loadSets } from './data.js';
import type { Metric } from './jobs.js';
import { runIdentity, type RunIdentity } from './identity.js';
import { loadValidJobs } from './valid-jobs.js';
import { buildDocument, toCsv, type ExposureDocument, type JobResults } from './results.js';
import { runJobs, type RunnerEvent, type RunSummary } from './runner.js';
import { acquireLock, checkOrRecordIdentity, readIdentity, writeAtomic, writeJsonAtomic, type IdentityCheck } from './store.js';
import { jobList } from './jobs.js';

export { generalizationError, exposureOf } from './results.js';
export type { ExposureDocument, LayerEntry } from './results.js';
export type { Metric } from './jobs.js';
export { engineIdentity, identityKey, identityMismatch, runIdentity, sameIdentity, type IdentityMismatch, type RunIdentity } from './identity.js';
export { engineFingerprint } from './fingerprint.js';

export interface ExposureRequest {
  cfg: string;
  /** 'embedded' or a directory. */
  data: string;
  trainLimit?: number;
  testLimit?: number;
  split: number;
  resize: boolean;
  /** Base training epochs; null when base is given. */
  epochs: number | null;
  ftEpochs: number;
  base: string | null;
  seeds: number[];
  metric: Metric;
  jobs?: number;
  /** Memory for the activation cache of all workers together, in bytes (0: off); default defaultCacheBytes(). */
  cacheBytes?: number;
  dir: string;
  onEvent?: (e: RunnerEvent) => void;
  /** Run the Mr/Mp jobs on this BullMQ queue (the bases are trained or scored here). */
  queue?: { target: QueueTarget; log: (line: string) => void };
}

export interface ExposureOutcome {
  document: ExposureDocument;
  summary: RunSummary;
  /** Whether the folder was new, the same identity, or its engine changed (its old jobs recomputed). */
  check: IdentityCheck;
  files: { json: string; csv: string; svg: string; png: string };
}

/**
 * The default memory for activation caches: a quarter of the memory available now (MemAvailable
 * on Linux), leaving room for other processes on a shared machine; jobs whose cache does not fit
 * fall back to a lower cache point or none.
 */
export function defaultCacheBytes(): number {
  let available = freemem();
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) available = Number(m[1]) * 1024;
  } catch {
    // not Linux: os.freemem()
  }
  return Math.floor(available / 4);
}

/** The identity of the requested run; loads the data once to hash it and count the images. */
async function identityOf(req: ExposureRequest, config: NetworkConfig, cfgText: string): Promise<RunIdentity> {
  const input = layerShapes(config)[0]!;
  const sets = await loadSets(
    { data: dataLocationOf(req), train_limit: req.trainLimit ?? null, test_limit: req.testLimit ?? null, resize: req.resize },
    input,
    true,
  );
  let base: { bytes: Uint8Array; seed: number } | null = null;
  if (req.base !== null) {
    await loadModel({ cfg: config, weights: req.base, seed: req.seeds[0]! }); // fails early on a wrong file
    base = { bytes: await readFile(req.base), seed: req.seeds[0]! };
  }
  return runIdentity({
    cfgPath: req.cfg, cfgText, data: req.data, train: sets.train, test: sets.test,
    trainLimit: req.trainLimit ?? null, testLimit: req.testLimit ?? null, split: req.split, resize: req.resize,
    epochs: req.epochs, ftEpochs: req.ftEpochs, base,
  });
}

function dataLocationOf(req: { data: string }): string {
  return req.data === 'embedded' ? 'embedded' : resolve(req.data);
}

/** The finished jobs of a folder that belong to this identity (the others are stale). */
export async function collectResults(dir: string, config: NetworkConfig, seeds: readonly number[], identity: RunIdentity): Promise<JobResults> {
  return (await loadValidJobs(dir, config, seeds, identity)).results;
}

export async function writeChartFiles(series: ExposureSeries[], pathNoExt: string, title?: string): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(exposureChartSpec(series, title));
  await writeAtomic(`${pathNoExt}.svg`, svg);
  await writeAtomic(`${pathNoExt}.png`, await svgToPng(svg));
  return { svg: `${pathNoExt}.svg`, png: `${pathNoExt}.png` };
}

/** Name of the data set of a run, for legends: the data folder's name, or "embedded". */
export function datasetName(identity: RunIdentity): string {
  // basename: results made before issue 12 recorded the data folder's full path here.
  return basename(identity.data);
}

export function seriesOf(doc: ExposureDocument, name = datasetName(doc.options)): ExposureSeries {
  return { name, layers: doc.layers.map((l) => ({ label: l.label, exposure: l.exposure, std: l.exposure_std, ci95: l.exposure_ci95 ?? null })) };
}

/** Runs (or continues, or only re-aggregates) an exposure measurement into req.dir. */
export async function runExposure(req: ExposureRequest): Promise<ExposureOutcome> {
  const cfgText = await readFile(req.cfg, 'utf8');
  const config = parseCfg(cfgText, req.cfg);
  const identity = await identityOf(req, config, cfgText);
  const release = await acquireLock(req.dir);
  try {
    const check = await checkOrRecordIdentity(req.dir, identity);
    const local = {
      dir: req.dir,
      identity,
      config,
      cfgText,
      dataLocation: dataLocationOf(req),
      basePath: req.base === null ? null : resolve(req.base),
      cacheBytes: req.cacheBytes ?? defaultCacheBytes(),
      seeds: req.seeds,
      jobs: req.jobs,
      cost: {
        sCount: Math.round(identity.train_count * identity.split),
        tCount: identity.train_count - Math.round(identity.train_count * identity.split),
        testCount: identity.test_count,
        epochs: identity.epochs ?? 0,
        ftEpochs: identity.ft_epochs,
        baseGiven: req.base !== null,
      },
      onEvent: req.onEvent,
    };
    let summary: RunSummary;
    if (req.queue) {
      // Loaded only here, so a local run never loads the Redis client.
      const { checkQueue, runOnQueue } = await import('../queue/coordinator.js');
      await checkQueue(req.queue.target);
      const bases = await runJobs({ ...local, only: (j) => j.kind === 'base' });
      const q = await runOnQueue({ ...local, target: req.queue.target, metric: req.metric, log: req.queue.log });
      summary = { ran: bases.ran + q.ran, skipped: bases.skipped + q.skipped, stale: [...bases.stale, ...q.stale], wallSeconds: bases.wallSeconds + q.wallSeconds };
    } else {
      summary = await runJobs(local);
    }
    const results = await collectResults(req.dir, config, req.seeds, identity);
    const document = buildDocument(config, { ...identity, seeds: req.seeds, metric: req.metric }, results, summary.wallSeconds);
    const files = {
      json: join(req.dir, 'exposure.json'),
      csv: join(req.dir, 'exposure.csv'),
      ...(await writeChartFiles([seriesOf(document)], join(req.dir, 'exposure'), `Layer-wise exposure (${datasetName(identity)})`)),
    };
    await writeJsonAtomic(files.json, document);
    await writeAtomic(files.csv, toCsv(document));
    return { document, summary, check, files };
  } finally {
    await release();
  }
}

export interface FolderStatus {
  /** The folder's recorded identity (jobs are checked against it). */
  identity: RunIdentity;
  seeds: { seed: number; done: number; total: number }[];
  /** Finished jobs that do not belong to the identity (they would be recomputed). */
  stale: string[];
  /** The result over the seeds whose jobs are all done, or null if none is. */
  document: ExposureDocument | null;
}

/**
 * Progress and partial result of a run folder, read-only (no lock: a run may be writing into it;
 * its files are written atomically): which seeds are done, and the document of the finished ones.
 */
export async function exposureStatus(dir: string, cfgPath: string, metric: Metric = 'loss'): Promise<FolderStatus> {
  const identity = await readIdentity(dir);
  if (identity === null) throw new Error(`${dir} is not an exposure run folder (no options.json)`);
  const cfgText = await readFile(cfgPath, 'utf8');
  if (createHash('sha256').update(cfgText).digest('hex') !== identity.cfg_sha256) throw new Error(`${cfgPath} is not the cfg the run in ${dir} was made with (its content hash differs)`);
  const config = parseCfg(cfgText, cfgPath);
  // Seeds with a finished job, or a base model or checkpoint (a base still in training).
  const names = [...(await readdir(join(dir, 'jobs')).catch(() => [] as string[])), ...(await readdir(join(dir, 'base')).catch(() => [] as string[]))];
  const seeds = [...new Set(names.map((n) => /^s(\d+)[-.]/.exec(n)?.[1]).filter((x): x is string => x !== undefined).map(Number))].sort((a, b) => a - b);
  const { results, stale } = await loadValidJobs(dir, config, seeds, identity);
  const perSeed = seeds.map((seed) => {
    const jobs = jobList(config, [seed]);
    const done = jobs.filter((j) => (j.kind === 'base' ? results.base.has(seed) : results.layers.has(j.id))).length;
    return { seed, done, total: jobs.length };
  });
  const complete = perSeed.filter((s) => s.done === s.total).map((s) => s.seed);
  const document = complete.length === 0 ? null : buildDocument(config, { ...identity, seeds: complete, metric }, results, 0);
  return { identity, seeds: perSeed, stale, document };
}

/** Figure 2: one line per result folder. names default to the data set of each folder. */
export async function plotFolders(dirs: readonly string[], out: string, names?: readonly string[]): Promise<{ svg: string; png: string; series: ExposureSeries[] }> {
  const series: ExposureSeries[] = [];
  for (const [i, dir] of dirs.entries()) {
    const path = join(dir, 'exposure.json');
    let doc: ExposureDocument;
    try {
      doc = JSON.parse(await readFile(path, 'utf8')) as ExposureDocument;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`${path}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'not found (run `layerlock exposure` into that folder first)' : err instanceof SyntaxError ? 'not an exposure result (not JSON)' : (err as Error).message}`);
    }
    let name = names?.[i] ?? datasetName(doc.options);
    if (series.some((s) => s.name === name)) name = `${name} (${basename(resolve(dir))})`;
    series.push(seriesOf(doc, name));
  }
  const pathNoExt = out.replace(/\.(svg|png)$/i, '');
  const files = await writeChartFiles(series, pathNoExt);
  return { ...files, series };
}
