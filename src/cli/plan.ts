// layerlock plan: which layers to put in the TEE — every contiguous range that fits the secure memory,
// with its memory, predicted overhead and protected exposure, and a recommendation.
import { readFile } from 'node:fs/promises';
import { DEFAULT_COST, fitCostParams, type BenchForFit } from '../bench/cost-model.js';
import { formatPlan, planDocument, loadAttackSweep, loadExposure, planPartitions } from '../bench/plan.js';
import { loadCfg } from '../nn/cfg.js';
import { kernelThreads } from '../tee/options.js';
import {
  emit, flag, formatHelp, int, MODEL_HELP, MODEL_OPTIONS, modelFiles, num, parse, secureMemOf, str, UsageError, withBatchOverride, type CommandHelp,
} from './common.js';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';

export const help: CommandHelp = {
  usage: '--cfg F [--exposure DIR] [--secure-mem 16MiB] [--batch N] [--mode train|infer]',
  summary: 'Plan the TEE partition: every layer range that fits, its memory, overhead and protected exposure; a recommendation.',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    MODEL_HELP,
    ['--exposure DIR', 'an exposure run folder (DIR/exposure.json) or the file: protect the most exposure'],
    ['--attacks DIR', 'an attack sweep (DIR/sweep.json of `layerlock attack sweep`): show the measured attack success left against each range'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory (default 16MiB)'],
    ['--batch N', 'images per batch (default: the cfg\'s), subdivisions 1 unless given'],
    ['--subdivisions N', 'forward passes per batch (batch/subdivisions images per forward)'],
    ['--mode train|infer', 'fine-tuning (default) or inference: inference holds no gradients'],
    ['--threads N', `kernel threads inside the TA (im2col workspace per thread; default this machine's: ${kernelThreads()})`],
    ['--cost-from DIR', 'fit the overhead model to a `layerlock bench tee` result (DIR/bench.json)'],
    ['--tee-slowdown S', 'layers run S times slower inside the TEE (default 1: the emulation runs the same kernels)'],
    ['--top N', 'print only the N best ranges'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    ...MODEL_OPTIONS,
    cfg: { type: 'string' },
    exposure: { type: 'string' },
    attacks: { type: 'string' },
    'secure-mem': { type: 'string' },
    batch: { type: 'string' },
    subdivisions: { type: 'string' },
    mode: { type: 'string', default: 'train' },
    threads: { type: 'string' },
    'cost-from': { type: 'string' },
    'tee-slowdown': { type: 'string' },
    top: { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('plan', help));
  const cfgPath = (await modelFiles(p, 'none')).cfg;
  const mode = str(p, 'mode');
  if (mode !== 'train' && mode !== 'infer') throw new UsageError(`--mode must be train or infer (got "${mode}")`);
  const config = withBatchOverride(p, await loadCfg(cfgPath));
  const secureMem = secureMemOf(p);
  const threads = int(p, 'threads', 1) ?? kernelThreads();
  const expPath = str(p, 'exposure');
  const exposure = expPath !== undefined ? await loadExposure(expPath, config) : null;
  let cost = { ...DEFAULT_COST };
  const costFrom = str(p, 'cost-from');
  if (costFrom !== undefined) {
    const kind = await stat(costFrom).catch(() => null);
    if (kind === null) throw new UsageError(`--cost-from ${costFrom}: no such file or folder`);
    const file = kind.isDirectory() ? join(costFrom, 'bench.json') : costFrom;
    let bench: BenchForFit;
    try {
      bench = JSON.parse(await readFile(file, 'utf8')) as BenchForFit;
    } catch (e) {
      throw new UsageError(`--cost-from ${file}: not a bench.json of layerlock bench tee (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not JSON'})`);
    }
    try {
      cost = fitCostParams(config, bench, `fitted to ${file}`);
    } catch (e) {
      // A JSON file of another shape fails deep inside the fit; say which file it was.
      if (e instanceof TypeError) throw new UsageError(`--cost-from ${file}: not a bench.json of layerlock bench tee (${e.message})`);
      throw e;
    }
  }
  const slowdown = num(p, 'tee-slowdown');
  if (slowdown !== undefined) {
    if (!(slowdown >= 1)) throw new UsageError(`--tee-slowdown must be ≥ 1 (got ${slowdown})`);
    cost.teeSlowdown = slowdown;
  }
  const attacksPath = str(p, 'attacks');
  const attacks = attacksPath !== undefined ? await loadAttackSweep(attacksPath) : null;
  const plan = planPartitions(config, cfgPath, { secureMem, mode, threads, exposure, cost, attacks });
  const top = int(p, 'top', 1);
  emit(p, planDocument(plan), () => formatPlan(plan, top));
}
