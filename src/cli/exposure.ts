// layerlock exposure: how much each trainable layer holds about the private set S (DESIGN.md §3),
// and `layerlock exposure plot` for the paper's Figure 2 over several result folders.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCfg } from '../nn/cfg.js';
import { layerShapes } from '../nn/network.js';
import { loadSets } from '../exposure/data.js';
import { checkInputFile, checkOutputDir, exists } from './checks.js';
import { exposureStatus, plotFolders, runExposure, type Metric } from '../exposure/index.js';
import { formatTable } from '../exposure/results.js';
import type { RunnerEvent } from '../exposure/runner.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, log, MODEL_HELP, MODEL_OPTIONS, modelFiles, num, parse, parseByteSize, requireStr, str, UsageError, type CommandHelp,
} from './common.js';
import { progressBar, type Progress } from './progress.js';
import { queueTarget, type QueueTarget } from '../queue/url.js';

export const help: CommandHelp = {
  usage: '--cfg F --epochs E --out DIR [options] [data options]\n       layerlock exposure plot DIR... [--out FILE.svg] [--labels a,b,...]\n       layerlock exposure status DIR --cfg F [--metric loss|acc]',
  summary: 'Layer-wise exposure: how much each trainable layer holds about its training set (parallel, resumable).',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    [MODEL_HELP[0], `${MODEL_HELP[1]}; its weights are M (as --base) unless --base is given`],
    ['--epochs E', 'epochs of the base model M on S'],
    ['--ft-epochs E', 'epochs of each Mr/Mp fine-tuning (default: --epochs)'],
    ['--metric loss|acc', 'gen = loss(V) − loss(S) (default) or acc(S) − acc(V); changing it only re-aggregates'],
    ['--seeds 1,2,3', 'one full measurement per seed (split, init, shuffling): mean ± std; --seed N = --seeds N'],
    ['--jobs N', `worker processes (default: cores, here ${availableParallelism()})`],
    ['--cache-mem SIZE', 'memory for caching the frozen layers\' activations (e.g. 4GiB, 0 = off; default a quarter of the available memory); same results, faster'],
    ['--base W', 'use these .weights as M (trained on S with the same --seed) instead of training it'],
    ['--out DIR', 'run folder: results, checkpoints; re-running continues an interrupted run'],
    ['--queue URL', 'run the Mr/Mp jobs on `layerlock worker`s via Redis: redis://[user:pass@]host:port[/db], rediss://, or env ($LAYERLOCK_QUEUE_URL) (docs/distributed.md)'],
    ...DATA_HELP,
    ['plot DIR...', 'one exposure line per result folder (legend: data set) → --out (default exposure-plot.svg) + .png'],
    ['status DIR', 'read-only progress of a run folder (also while it runs): jobs done per seed, stale jobs, and the result of the finished seeds'],
  ],
};

function parseSeeds(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d+$/.test(s))) throw new UsageError(`--seeds must be a comma-separated list of non-negative integers (got "${v}")`);
  const seeds = parts.map(Number);
  const big = seeds.find((x) => x > 0xffffffff);
  if (big !== undefined) throw new UsageError(`--seeds: ${parts[seeds.indexOf(big)]} is above the largest seed, 4294967295`);
  if (new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds lists a seed twice (${v})`);
  return seeds;
}

function shortJob(id: string): string {
  return id.replace(/^s\d+-/, '');
}

/** Progress across all jobs: a bar on a terminal, one line per finished job otherwise. */
function progressReporter(): { onEvent: (e: RunnerEvent) => void; stop: () => void } {
  let bar: Progress | null = null;
  const tty = process.stderr.isTTY && !process.env['CI'];
  const payload = (e: RunnerEvent): Record<string, string | number> => ({
    done: e.state.done,
    jobs: e.state.total,
    running: e.state.running.map((r) => `${shortJob(r.job.id)} ep ${r.epoch + 1}/${r.epochs}`).join(', ') || '-',
  });
  const onEvent = (e: RunnerEvent): void => {
    const s = e.state;
    switch (e.type) {
      case 'start':
        if (e.queue !== undefined) log(`layerlock exposure: ${s.total} layer jobs, ${s.skipped} already done, ${s.total - s.skipped} on the queue ${e.queue} (${e.workers} worker${e.workers === 1 ? '' : 's'} connected now)`);
        else log(`layerlock exposure: ${s.total} jobs, ${s.skipped} already done, ${s.total - s.skipped} to run on ${e.workers} worker${e.workers === 1 ? '' : 's'} (threads each: ${e.threads})`);
        bar = progressBar(s.cost, 'jobs {done}/{jobs} {bar} {percentage}% | {running} | ETA {eta_formatted}', payload(e));
        break;
      case 'progress':
        bar?.update(s.costDone, payload(e));
        break;
      case 'job-done':
        bar?.update(s.costDone, payload(e));
        if (!tty) {
          const r = e.result;
          const cached = r.kind !== 'base' && r.cache ? ` (trained from cached activations of layer ${r.cache.after})` : '';
          log(`[${s.done}/${s.total}] ${e.job.id} done in ${r.seconds.toFixed(1)} s: S loss ${r.scores.S.loss.toFixed(4)}, test loss ${r.scores.test.loss.toFixed(4)}, test acc ${(100 * r.scores.test.acc).toFixed(2)} %${cached}`);
        }
        break;
      case 'job-failed':
        bar?.stop();
        bar = null;
        log(`layerlock exposure: job ${e.job.id} failed: ${e.message}; letting the running jobs finish`);
        break;
    }
  };
  return { onEvent, stop: () => bar?.stop() };
}

/** The identity fields a result folder's exposure.json must share with this run to be continued. */
interface WantedRun {
  cfg_sha256: string;
  train_limit: number | null;
  test_limit: number | null;
  split: number;
  resize: boolean;
  epochs: number | null;
  ft_epochs: number;
}

/**
 * A folder that already holds an exposure.json is continued only if that result is of the same
 * run (by content: the cfg's bytes, the data, the options), whatever paths this run names them by;
 * anything else there is refused, never overwritten.
 */
async function checkResultFolder(dir: string, wanted: WantedRun): Promise<void> {
  // With its options.json the folder's own identity check (exposure/store.ts) compares the run and
  // names the differing flag; this covers folders whose exposure.json came without one.
  if (await exists(join(dir, 'options.json'))) return;
  const path = join(dir, 'exposure.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  let options: Record<string, unknown> | undefined;
  try {
    options = (JSON.parse(text) as { options?: Record<string, unknown> }).options;
  } catch {
    options = undefined;
  }
  if (typeof options !== 'object' || options === null) {
    throw new UsageError(`${path} is not an exposure result of layerlock; refusing to overwrite it (use another --out)`);
  }
  for (const [key, value] of Object.entries(wanted)) {
    if (JSON.stringify(options[key]) !== JSON.stringify(value)) {
      throw new UsageError(`${dir} holds the exposure.json of a different run (its ${key} is ${JSON.stringify(options[key]) ?? 'missing'}, this run's ${JSON.stringify(value)}); refusing to overwrite it (use another --out)`);
    }
  }
}

/** S, T and the test set must all have images; finding out after the base training is too late. */
async function checkExposureSets(cfg: string, data: string, trainLimit: number | undefined, testLimit: number | undefined, split: number, resize: boolean): Promise<void> {
  const input = layerShapes(await loadCfg(cfg))[0]!;
  const location = data === 'embedded' ? 'embedded' : resolve(data);
  // Same selection as the run's own (loadSets caches it, so the data is read once).
  const sets = await loadSets({ data: location, train_limit: trainLimit ?? null, test_limit: testLimit ?? null, resize }, input);
  const nS = Math.round(sets.train.count * split);
  const nT = sets.train.count - nS;
  if (sets.train.count === 0) throw new UsageError(`the training set is empty: ${data} has no training images, or --train-limit is 0`);
  if (nS === 0 || nT === 0) {
    const n = sets.train.count;
    throw new UsageError(`${nS === 0 ? 'S' : 'T'} is empty: the ${n} training image${n === 1 ? ' is' : 's are'} split into ${nS} in S and ${nT} in T (raise --train-limit or change --split)`);
  }
  if (sets.test.count === 0) throw new UsageError(`the test set is empty: ${data} has no test images, or --test-limit is 0 (exposure compares against it)`);
}

async function runPlot(argv: string[]): Promise<void> {
  const p = parse(argv, { out: { type: 'string' }, labels: { type: 'string' } }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('exposure', help));
  if (p.positionals.length === 0) throw new UsageError('exposure plot needs at least one result folder');
  const labels = str(p, 'labels')?.split(',');
  if (labels && labels.length !== p.positionals.length) throw new UsageError(`--labels has ${labels.length} names for ${p.positionals.length} folders`);
  const r = await plotFolders(p.positionals, str(p, 'out') ?? 'exposure-plot.svg', labels);
  emit(p, { svg: r.svg, png: r.png, series: r.series }, () => `chart of ${r.series.map((s) => s.name).join(', ')} → ${r.svg}, ${r.png}`);
}

async function runStatus(argv: string[]): Promise<void> {
  const p = parse(argv, { cfg: { type: 'string' }, metric: { type: 'string', default: 'loss' } }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('exposure', help));
  if (p.positionals.length !== 1) throw new UsageError('exposure status needs one run folder');
  const metric = str(p, 'metric') as Metric;
  if (metric !== 'loss' && metric !== 'acc') throw new UsageError(`--metric must be loss or acc (got "${metric}")`);
  const s = await exposureStatus(p.positionals[0]!, requireStr(p, 'cfg'), metric);
  emit(p, s, () => [
    `${s.identity.data}, E = ${s.identity.epochs ?? 'given base'}, E_ft = ${s.identity.ft_epochs}; ${s.identity.kernels}${s.identity.isa ? ` ${s.identity.isa}` : ''}, engine ${s.identity.engine_fingerprint.slice(0, 12)}`,
    ...s.seeds.map((x) => `seed ${x.seed}: ${x.done}/${x.total} jobs done`),
    ...(s.stale.length ? [`stale (other identity, would be recomputed): ${s.stale.join(', ')}`] : []),
    ...(s.document ? ['', formatTable(s.document)] : ['no seed finished yet']),
  ].join('\n'));
}

export async function run(argv: string[]): Promise<void> {
  if (argv[0] === 'plot') return runPlot(argv.slice(1));
  if (argv[0] === 'status') return runStatus(argv.slice(1));
  const p = parse(argv, {
    ...DATA_OPTIONS,
    ...MODEL_OPTIONS,
    cfg: { type: 'string' },
    epochs: { type: 'string' },
    'ft-epochs': { type: 'string' },
    metric: { type: 'string', default: 'loss' },
    seeds: { type: 'string' },
    jobs: { type: 'string' },
    'cache-mem': { type: 'string' },
    base: { type: 'string' },
    out: { type: 'string' },
    queue: { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('exposure', help));
  const modelIn = await modelFiles(p, 'optional');
  const cfg = modelIn.cfg;
  const dir = requireStr(p, 'out');
  // An imported model is already trained: its weights are M unless --base names another M.
  const base = str(p, 'base') ?? modelIn.weights ?? null;
  const epochs = int(p, 'epochs', 1) ?? null;
  const ftEpochs = int(p, 'ft-epochs', 0) ?? epochs;
  if (base === null && epochs === null) throw new UsageError('missing --epochs (or --base with --ft-epochs)');
  if (ftEpochs === null) throw new UsageError('missing --ft-epochs (with --base there is no --epochs to default to)');
  const metric = str(p, 'metric') as Metric;
  if (metric !== 'loss' && metric !== 'acc') throw new UsageError(`--metric must be loss or acc (got "${metric}")`);
  if (str(p, 'seed') !== undefined && str(p, 'seeds') !== undefined) throw new UsageError('give --seed or --seeds, not both');
  const seeds = parseSeeds(str(p, 'seeds') ?? str(p, 'seed') ?? '1');
  if (base !== null && seeds.length !== 1) {
    throw new UsageError(modelIn.onnx !== null && str(p, 'base') === undefined
      ? '--model brings one trained model (M): give one seed with --seed (it seeds the S/T split and the re-initialisations)'
      : '--base is one model trained with one seed: give that seed with --seed');
  }
  const split = num(p, 'split') ?? 0.5;
  if (!(split > 0 && split < 1)) throw new UsageError(`--split must be in (0, 1): both S and T are needed (got ${split})`);
  const jobs = int(p, 'jobs', 1);
  // Flags first, then the files they name: a bad flag is reported without reading anything.
  const queueUrl = str(p, 'queue');
  let queue: { target: QueueTarget; log: (line: string) => void } | undefined;
  if (queueUrl !== undefined) {
    try {
      queue = { target: queueTarget(queueUrl), log };
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const cacheText = str(p, 'cache-mem');
  const cacheBytes = cacheText === undefined ? undefined : /^\s*0+\s*$/.test(cacheText) ? 0 : parseByteSize(cacheText, '--cache-mem');

  await checkOutputDir(dir, '--out');
  if (base !== null) await checkInputFile(base, '--base');
  const data = str(p, 'data') ?? 'embedded';
  const trainLimit = int(p, 'train-limit');
  const testLimit = int(p, 'test-limit');
  await checkExposureSets(cfg, data, trainLimit, testLimit, split, flag(p, 'resize'));
  await checkResultFolder(dir, {
    cfg_sha256: createHash('sha256').update(await readFile(cfg, 'utf8')).digest('hex'),
    train_limit: trainLimit ?? null, test_limit: testLimit ?? null, split, resize: flag(p, 'resize'),
    epochs: base === null ? epochs : null, ft_epochs: ftEpochs,
  });
  const progress = progressReporter();
  let outcome;
  try {
    outcome = await runExposure({
      cfg, data, trainLimit, testLimit,
      split, resize: flag(p, 'resize'), epochs: base === null ? epochs : null, ftEpochs, base, seeds, metric, jobs, cacheBytes, dir,
      onEvent: progress.onEvent, queue,
    });
  } finally {
    progress.stop();
  }
  const { document, summary, files, check } = outcome;
  if (check.status === 'engine-changed') log(`layerlock exposure: the engine changed since this folder's last run (${check.engine.map((m) => m.message).join('; ')}); its jobs made under the old engine were recomputed`);
  if (summary.stale.length > 0) log(`layerlock exposure: ${summary.stale.length} finished job${summary.stale.length === 1 ? ' was' : 's were'} made under another identity or from another base model and recomputed: ${summary.stale.join(', ')}`);
  if (summary.ran > 0) log(`layerlock exposure: ran ${summary.ran} jobs in ${summary.wallSeconds.toFixed(1)} s (${summary.skipped} done earlier)`);
  emit(p, document, () => [formatTable(document), '', `→ ${files.json}, ${files.csv}, ${files.svg}, ${files.png}`].join('\n'));
}
