// layerlock run: the main job in one command (src/pipeline) — train → exposure → plan → attack sweep →
// TEE cost → deploy → fine-tune and predict on the device → report — with one progress display and
// a time-left estimate; re-running with the same --out continues where it stopped.
import { runPipeline, EMBEDDED_DEFAULTS, formatDuration, type PipelineEvent } from '../pipeline/index.js';
import { shippedCfg } from '../nn/shipped.js';
import {
  DATA_HELP, DATA_OPTIONS, emit, flag, formatHelp, int, log, MODEL_HELP, MODEL_OPTIONS, modelFiles, num, parse, secureMemOf, str, UsageError, type CommandHelp,
} from './common.js';
import { progressBar, type Progress } from './progress.js';

export const help: CommandHelp = {
  usage: '[--out DIR] [--cfg F | --model F.onnx] [--epochs E] [--ft-epochs E] [--seeds 1,2] [--secure-mem 16MiB] [data options]',
  summary: 'The whole job: train, exposure, plan, attack sweep, TEE cost, deploy to a device, fine-tune, predict, report.',
  options: [
    ['--out DIR', 'run folder (default runs/pipeline); re-running continues an interrupted run'],
    ['--cfg F', 'network definition (default: the shipped VGG-7 for MNIST)'],
    [MODEL_HELP[0], `${MODEL_HELP[1]}; its weights are the trained model M (the train stage trains them --epochs more, default 0; one seed)`],
    ['--epochs E', `epochs of the model on S (default ${EMBEDDED_DEFAULTS.epochs}: enough to overfit the embedded S, so exposure has a gap to measure)`],
    ['--ft-epochs E', `epochs of each exposure job (default ${EMBEDDED_DEFAULTS.ftEpochs})`],
    ['--seeds 1,2,3', 'seeds: the first trains the deployed model; several give exposure intervals (--seed N = --seeds N)'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory, the plan\'s budget (default 16MiB)'],
    ['--reps N', `TEE cost runs per configuration (default ${EMBEDDED_DEFAULTS.benchReps})`],
    ['--batches N', `timed batches per TEE cost run (default ${EMBEDDED_DEFAULTS.benchBatches})`],
    ['--device-epochs N', `fine-tuning epochs on the device (default ${EMBEDDED_DEFAULTS.deviceEpochs})`],
    ['--predict N', `test images predicted on the device (default ${EMBEDDED_DEFAULTS.predictImages})`],
    ['--members N', `attack sweep: evaluation members from S and as many unseen test images (default ${EMBEDDED_DEFAULTS.attackMembers}, at most half of S and of the test set)`],
    ['--jobs N', 'exposure worker processes (default: the cores)'],
    ...DATA_HELP.map(([f, t]): [string, string] => (f === '--train-limit N' ? [f, `${t} (default with --data embedded: ${EMBEDDED_DEFAULTS.trainLimit}, S = 1000)`] : [f, t])),
  ],
};

function parseSeeds(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d+$/.test(s))) throw new UsageError(`--seeds must be a comma-separated list of non-negative integers (got "${v}")`);
  const seeds = parts.map(Number);
  if (new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds lists a seed twice (${v})`);
  return seeds;
}

/** One display for all stages: a bar on a terminal, a line per stage otherwise; both with the time left. */
function display(): { onEvent: (e: PipelineEvent) => void; stop: () => void } {
  let bar: Progress | null = null;
  let count = 0;
  const tty = process.stderr.isTTY && !process.env['CI'];
  const onEvent = (e: PipelineEvent): void => {
    switch (e.type) {
      case 'start': {
        count = e.stages.length;
        const done = e.stages.filter((s) => s.done).length;
        log(`layerlock run: ${count} stages${done > 0 ? `, ${done} done earlier` : ''}; about ${formatDuration(e.etaSeconds)} in all`);
        break;
      }
      case 'stage-start':
        if (tty) bar = progressBar(1000, `[${e.index + 1}/${count}] ${e.stage.title.padEnd(38)} {bar} {percentage}% | {detail} | {left} left`, { detail: '', left: formatDuration(e.etaSeconds) });
        else log(`[${e.index + 1}/${count}] ${e.stage.title} … (about ${formatDuration(e.etaSeconds)} left)`);
        break;
      case 'stage-progress':
        bar?.update(Math.round(1000 * e.fraction), { detail: e.detail.slice(0, 60), left: formatDuration(e.etaSeconds) });
        break;
      case 'stage-done':
        bar?.update(1000, { detail: '', left: formatDuration(e.etaSeconds) });
        bar?.stop();
        bar = null;
        log(`[${e.index + 1}/${count}] ${e.stage.title}: ${e.earlier ? 'done earlier' : `${e.seconds.toFixed(1)} s`} — ${e.summary}`);
        break;
    }
  };
  return { onEvent, stop: () => bar?.stop() };
}

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    ...DATA_OPTIONS,
    ...MODEL_OPTIONS,
    out: { type: 'string' }, cfg: { type: 'string' }, epochs: { type: 'string' }, 'ft-epochs': { type: 'string' }, seeds: { type: 'string' },
    'secure-mem': { type: 'string' }, reps: { type: 'string' }, batches: { type: 'string' }, 'device-epochs': { type: 'string' },
    predict: { type: 'string' }, members: { type: 'string' }, jobs: { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('run', help));
  const data = str(p, 'data') ?? 'embedded';
  if (str(p, 'seed') !== undefined && str(p, 'seeds') !== undefined) throw new UsageError('give --seed or --seeds, not both');
  const seeds = parseSeeds(str(p, 'seeds') ?? str(p, 'seed') ?? '1');
  const split = num(p, 'split') ?? 0.5;
  if (!(split > 0 && split < 1)) throw new UsageError(`--split must be in (0, 1): exposure needs both S and T (got ${split})`);
  // An imported model is already trained: as in `exposure --model`, its weights are M, so by default
  // the train stage trains them no further, and several seeds (several bases) have no meaning.
  const imported = str(p, 'model') !== undefined ? await modelFiles(p, 'required') : null;
  if (imported && seeds.length !== 1) throw new UsageError('--model brings one trained model (M): give one seed with --seed (it seeds the S/T split and the re-initialisations)');
  const ui = display();
  let result;
  try {
    result = await runPipeline({
      cfg: imported?.cfg ?? str(p, 'cfg') ?? shippedCfg('vgg7-mnist.cfg'),
      baseWeights: imported?.weights,
      data,
      trainLimit: int(p, 'train-limit', 1) ?? (data === 'embedded' ? EMBEDDED_DEFAULTS.trainLimit : undefined),
      testLimit: int(p, 'test-limit', 1),
      split,
      resize: flag(p, 'resize'),
      seeds,
      epochs: imported ? int(p, 'epochs', 0) ?? 0 : int(p, 'epochs', 1) ?? EMBEDDED_DEFAULTS.epochs,
      ftEpochs: int(p, 'ft-epochs', 1) ?? EMBEDDED_DEFAULTS.ftEpochs,
      secureMem: secureMemOf(p),
      benchReps: int(p, 'reps', 2) ?? EMBEDDED_DEFAULTS.benchReps,
      benchBatches: int(p, 'batches', 1) ?? EMBEDDED_DEFAULTS.benchBatches,
      deviceEpochs: int(p, 'device-epochs', 1) ?? EMBEDDED_DEFAULTS.deviceEpochs,
      predictImages: int(p, 'predict', 1) ?? EMBEDDED_DEFAULTS.predictImages,
      attackMembers: int(p, 'members', 2) ?? EMBEDDED_DEFAULTS.attackMembers,
      jobs: int(p, 'jobs', 1),
      out: str(p, 'out') ?? 'runs/pipeline',
      command: ['layerlock', 'run', ...argv].join(' '),
      onEvent: ui.onEvent,
    });
  } finally {
    ui.stop();
  }
  log(`layerlock run: finished in ${formatDuration(result.seconds)}`);
  emit(p, result, () => result.sentence);
}
