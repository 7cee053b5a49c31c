// layerlock exposure: how much each trainable layer holds about the private set S (DESIGN.md §3),
// and `layerlock exposure plot` for the paper's Figure 2 over several result folders.
import { availableParallelism } from 'node:os';
import { exposureStatus, plotFolders, runExposure, type Metric } from '../exposure/index.js';
import { formatTable } from '../exposure/results.js';
import type { RunnerEvent } from '../exposure/runner.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, log, num, parse, parseByteSize, requireStr, str, UsageError, type CommandHelp,
} from './common.js';
import { progressBar, type Progress } from './progress.js';

export const help: CommandHelp = {
  usage: '--cfg F --epochs E --out DIR [options] [data options]\n       layerlock exposure plot DIR... [--out FILE.svg] [--labels a,b,...]\n       layerlock exposure status DIR --cfg F [--metric loss|acc]',
  summary: 'Layer-wise exposure: how much each trainable layer holds about its training set (parallel, resumable).',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--epochs E', 'epochs of the base model M on S'],
    ['--ft-epochs E', 'epochs of each Mr/Mp fine-tuning (default: --epochs)'],
    ['--metric loss|acc', 'gen = loss(V) − loss(S) (default) or acc(S) − acc(V); changing it only re-aggregates'],
    ['--seeds 1,2,3', 'one full measurement per seed (split, init, shuffling): mean ± std; --seed N = --seeds N'],
    ['--jobs N', `worker processes (default: cores, here ${availableParallelism()})`],
    ['--cache-mem SIZE', 'memory for caching the frozen layers\' activations (e.g. 4GiB, 0 = off; default a quarter of the available memory); same results, faster'],
    ['--base W', 'use these .weights as M (trained on S with the same --seed) instead of training it'],
    ['--out DIR', 'run folder: results, checkpoints; re-running continues an interrupted run'],
    ...DATA_HELP,
    ['plot DIR...', 'one exposure line per result folder (legend: data set) → --out (default exposure-plot.svg) + .png'],
    ['status DIR', 'read-only progress of a run folder (also while it runs): jobs done per seed, stale jobs, and the result of the finished seeds'],
  ],
};

function parseSeeds(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d+$/.test(s))) throw new UsageError(`--seeds must be a comma-separated list of non-negative integers (got "${v}")`);
  const seeds = parts.map(Number);
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
        log(`layerlock exposure: ${s.total} jobs, ${s.skipped} already done, ${s.total - s.skipped} to run on ${e.workers} worker${e.workers === 1 ? '' : 's'} (threads each: ${e.threads})`);
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
    cfg: { type: 'string' },
    epochs: { type: 'string' },
    'ft-epochs': { type: 'string' },
    metric: { type: 'string', default: 'loss' },
    seeds: { type: 'string' },
    jobs: { type: 'string' },
    'cache-mem': { type: 'string' },
    base: { type: 'string' },
    out: { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('exposure', help));
  const cfg = requireStr(p, 'cfg');
  const dir = requireStr(p, 'out');
  const base = str(p, 'base') ?? null;
  const epochs = int(p, 'epochs', 1) ?? null;
  const ftEpochs = int(p, 'ft-epochs', 0) ?? epochs;
  if (base === null && epochs === null) throw new UsageError('missing --epochs (or --base with --ft-epochs)');
  if (ftEpochs === null) throw new UsageError('missing --ft-epochs (with --base there is no --epochs to default to)');
  const metric = str(p, 'metric') as Metric;
  if (metric !== 'loss' && metric !== 'acc') throw new UsageError(`--metric must be loss or acc (got "${metric}")`);
  if (str(p, 'seed') !== undefined && str(p, 'seeds') !== undefined) throw new UsageError('give --seed or --seeds, not both');
  const seeds = parseSeeds(str(p, 'seeds') ?? str(p, 'seed') ?? '1');
  if (base !== null && seeds.length !== 1) throw new UsageError('--base is one model trained with one seed: give that seed with --seed');
  const split = num(p, 'split') ?? 0.5;
  if (!(split > 0 && split < 1)) throw new UsageError(`--split must be in (0, 1): both S and T are needed (got ${split})`);
  const jobs = int(p, 'jobs', 1);
  const cacheText = str(p, 'cache-mem');
  const cacheBytes = cacheText === undefined ? undefined : /^\s*0+\s*$/.test(cacheText) ? 0 : parseByteSize(cacheText, '--cache-mem');

  const progress = progressReporter();
  let outcome;
  try {
    outcome = await runExposure({
      cfg, data: str(p, 'data') ?? 'embedded', trainLimit: int(p, 'train-limit'), testLimit: int(p, 'test-limit'),
      split, resize: flag(p, 'resize'), epochs: base === null ? epochs : null, ftEpochs, base, seeds, metric, jobs, cacheBytes, dir,
      onEvent: progress.onEvent,
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
