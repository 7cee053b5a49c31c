// Layer-wise exposure (DESIGN.md §3), end to end: check or record the run folder's options, run the
// missing jobs in parallel workers, aggregate, and write exposure.json / .csv / .svg / .png.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseCfg } from '../nn/cfg.js';
import type { NetworkConfig } from '../nn/config.js';
import { loadModel } from '../nn/model.js';
import { layerShapes } from '../nn/network.js';
import { exposureChartSpec, type ExposureSeries } from '../report/exposure-chart.js';
import { renderSvg, svgToPng } from '../report/charts.js';
import { loadSets } from './data.js';
import { baseJobId, jobList, type Metric, type RunIdentity } from './jobs.js';
import { buildDocument, toCsv, type ExposureDocument, type JobResults } from './results.js';
import { runJobs, type RunnerEvent, type RunSummary } from './runner.js';
import { acquireLock, checkOrRecordIdentity, readJobResult, writeAtomic, writeJsonAtomic } from './store.js';
import type { BaseResult, LayerResult } from './worker.js';

export { generalizationError, exposureOf } from './results.js';
export type { ExposureDocument, LayerEntry } from './results.js';
export type { Metric, RunIdentity } from './jobs.js';

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
  dir: string;
  onEvent?: (e: RunnerEvent) => void;
}

export interface ExposureOutcome {
  document: ExposureDocument;
  summary: RunSummary;
  files: { json: string; csv: string; svg: string; png: string };
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** The identity of the requested run; loads the data once to check it and count the images. */
async function identityOf(req: ExposureRequest, config: NetworkConfig, cfgText: string): Promise<RunIdentity> {
  const input = layerShapes(config)[0]!;
  const data_location = req.data === 'embedded' ? 'embedded' : resolve(req.data);
  const sets = await loadSets(
    { data: data_location, train_limit: req.trainLimit ?? null, test_limit: req.testLimit ?? null, resize: req.resize },
    input,
  );
  const base = req.base === null ? null : resolve(req.base);
  if (base !== null) await loadModel({ cfg: config, weights: base, seed: req.seeds[0]! }); // fails early on a wrong file
  return {
    cfg: req.cfg,
    cfg_sha256: createHash('sha256').update(cfgText).digest('hex'),
    data: req.data,
    data_location,
    train_limit: req.trainLimit ?? null,
    test_limit: req.testLimit ?? null,
    train_count: sets.train.count,
    test_count: sets.test.count,
    split: req.split,
    resize: req.resize,
    epochs: req.epochs,
    ft_epochs: req.ftEpochs,
    base,
    base_sha256: base === null ? null : await sha256File(base),
  };
}

export async function collectResults(dir: string, config: NetworkConfig, seeds: readonly number[]): Promise<JobResults> {
  const results: JobResults = { base: new Map(), layers: new Map() };
  for (const job of jobList(config, seeds)) {
    if (job.kind === 'base') {
      const r = await readJobResult<BaseResult>(dir, baseJobId(job.seed));
      if (r) results.base.set(job.seed, r);
    } else {
      const r = await readJobResult<LayerResult>(dir, job);
      if (r) results.layers.set(job.id, r);
    }
  }
  return results;
}

export async function writeChartFiles(series: ExposureSeries[], pathNoExt: string, title?: string): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(exposureChartSpec(series, title));
  await writeAtomic(`${pathNoExt}.svg`, svg);
  await writeAtomic(`${pathNoExt}.png`, await svgToPng(svg));
  return { svg: `${pathNoExt}.svg`, png: `${pathNoExt}.png` };
}

/** Name of the data set of a run, for legends: the data folder's name, or "embedded". */
export function datasetName(identity: RunIdentity): string {
  return identity.data_location === 'embedded' ? 'embedded' : basename(identity.data_location);
}

export function seriesOf(doc: ExposureDocument, name = datasetName(doc.options)): ExposureSeries {
  return { name, layers: doc.layers.map((l) => ({ label: l.label, exposure: l.exposure, std: l.exposure_std })) };
}

/** Runs (or continues, or only re-aggregates) an exposure measurement into req.dir. */
export async function runExposure(req: ExposureRequest): Promise<ExposureOutcome> {
  const cfgText = await readFile(req.cfg, 'utf8');
  const config = parseCfg(cfgText, req.cfg);
  const identity = await identityOf(req, config, cfgText);
  const release = await acquireLock(req.dir);
  try {
    await checkOrRecordIdentity(req.dir, identity);
    const summary = await runJobs({
      dir: req.dir,
      identity,
      config,
      cfgText,
      seeds: req.seeds,
      jobs: req.jobs,
      cost: {
        sCount: Math.round(identity.train_count * identity.split),
        tCount: identity.train_count - Math.round(identity.train_count * identity.split),
        testCount: identity.test_count,
        epochs: identity.epochs ?? 0,
        ftEpochs: identity.ft_epochs,
        baseGiven: identity.base !== null,
      },
      onEvent: req.onEvent,
    });
    const results = await collectResults(req.dir, config, req.seeds);
    const document = buildDocument(config, { ...identity, seeds: req.seeds, metric: req.metric }, results, summary.wallSeconds);
    const files = {
      json: join(req.dir, 'exposure.json'),
      csv: join(req.dir, 'exposure.csv'),
      ...(await writeChartFiles([seriesOf(document)], join(req.dir, 'exposure'), `Layer-wise exposure (${datasetName(identity)})`)),
    };
    await writeJsonAtomic(files.json, document);
    await writeAtomic(files.csv, toCsv(document));
    return { document, summary, files };
  } finally {
    await release();
  }
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
