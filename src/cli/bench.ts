// layerlock bench tee: the TEE cost benchmark (the paper's Figure 4) — time and memory of fine-tuning
// with the last k layers in the software TEE, k = 0, 1, … until the secure memory is full, with the
// paper's statistics. (`npm run bench` is the separate throughput benchmark, bench/main.ts.)
import { runTeeBench, formatBench, type BenchEvent } from '../bench/tee-bench.js';
import {
  DATA_OPTIONS, emit, flag, formatHelp, int, log, MODEL_HELP, MODEL_OPTIONS, modelFiles, num, parse, requireStr, secureMemOf, seedOf, str, teeKindOf, UsageError, type CommandHelp,
} from './common.js';

export const help: CommandHelp = {
  usage: 'tee --cfg F [--weights W] --out DIR [--reps 30] [--batches N] [--secure-mem 16MiB] [--tee software|optee] [data options]',
  summary: 'TEE cost benchmark: fine-tuning time and memory with the last k layers in the TEE (Figure 4), ANOVA.',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    MODEL_HELP,
    ['--weights W', 'pre-trained .weights to fine-tune (default: the seeded initialisation)'],
    ['--out DIR', 'bench.json, bench.csv, runs.csv, runs.jsonl, figure.svg/.png; re-running resumes'],
    ['--reps N', 'runs per configuration (default 30, as the paper)'],
    ['--batches N', 'timed fine-tuning batches per run (default 10)'],
    ['--warmup N', 'untimed batches before them (default 1)'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory (default 16MiB); k grows until it is full'],
    ['--k-max K', 'measure at most the last K layers'],
    ['--batch N', 'override the cfg\'s batch (subdivisions 1)'],
    ['--subdivisions N', 'override the cfg\'s subdivisions'],
    ['--no-shuffle', 'run each repetition\'s configurations in k order instead of a seeded random order'],
    ['--tee software|optee', 'which TEE runs the last k layers: the software TEE (default) or OP-TEE through libteec (its secure memory is the TA\'s arena, fixed when built: docs/optee.md)'],
    ['--tee-transport T', 'shm (shared memory), pipe (copies in frames) or auto (default: shm when available; LAYERLOCK_TEE_TRANSPORT)'],
    ['--data <dir>|embedded', 'images to fine-tune on: the held-out half T of the training set (default: embedded MNIST slice)'],
    ['--train-limit N', 'use only the first N training images (before the split)'],
    ['--seed N', 'seed for the split, the run order, shuffling and dropout'],
    ['--split F', 'fraction of the training set in S (default 0.5)'],
    ['--resize', 'resize images to the network input'],
  ],
};

function progress(e: BenchEvent): void {
  if (e.type === 'plan') {
    log(`layerlock bench tee: configurations k = ${e.ks.join(', ')} (${e.stoppedBecause})`);
    log(`layerlock bench tee: ${e.runs} runs, ${e.done} done earlier`);
    return;
  }
  const r = e.result;
  const mib = (b: number): string => (b / (1 << 20)).toFixed(1);
  const eta = e.etaSeconds >= 60 ? `${Math.round(e.etaSeconds / 60)} min` : `${Math.round(e.etaSeconds)} s`;
  log(`[${e.done}/${e.total}] rep ${e.rep + 1} k=${r.k}: ${r.seconds.toFixed(3)} s, REE ${mib(r.ree_peak_bytes)} MiB, TEE ${mib(r.tee_peak_bytes)} MiB, boundary ${r.boundary.to_tee + r.boundary.from_tee} B, ETA ${eta}`);
}

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') return void process.stdout.write(formatHelp('bench', help));
  if (sub !== 'tee') throw new UsageError(`unknown benchmark "${sub}" (benchmarks: tee; the throughput benchmark is \`npm run bench\`)`);
  const p = parse(rest, {
    ...DATA_OPTIONS,
    ...MODEL_OPTIONS,
    cfg: { type: 'string' },
    weights: { type: 'string' },
    out: { type: 'string' },
    reps: { type: 'string' },
    batches: { type: 'string' },
    warmup: { type: 'string' },
    'secure-mem': { type: 'string' },
    'k-max': { type: 'string' },
    batch: { type: 'string' },
    subdivisions: { type: 'string' },
    'no-shuffle': { type: 'boolean', default: false },
    'tee-transport': { type: 'string' },
    tee: { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('bench', help));
  const modelIn = await modelFiles(p, 'optional');
  const cfg = modelIn.cfg;
  const out = requireStr(p, 'out');
  const split = num(p, 'split') ?? 0.5;
  if (!(split > 0 && split < 1)) throw new UsageError(`--split must be in (0, 1): the benchmark fine-tunes on T (got ${split})`);
  const reps = int(p, 'reps', 2) ?? 30;
  const tee = teeKindOf(p);
  if (tee === 'optee' && str(p, 'tee-transport') !== undefined) throw new UsageError('--tee-transport is the software TEE\'s: OP-TEE takes memory references through libteec');
  const batch = int(p, 'batch', 1);
  const subdivisions = int(p, 'subdivisions', 1);
  if (batch !== undefined && subdivisions !== undefined && subdivisions > batch) throw new UsageError(`--subdivisions ${subdivisions} exceeds the batch of ${batch}`);
  const { document, files } = await runTeeBench({
    cfg,
    weights: modelIn.weights ?? null,
    data: str(p, 'data') ?? 'embedded',
    trainLimit: int(p, 'train-limit'),
    seed: seedOf(p),
    split,
    resize: flag(p, 'resize'),
    reps,
    batches: int(p, 'batches', 1) ?? 10,
    warmup: int(p, 'warmup', 0) ?? 1,
    secureMem: secureMemOf(p),
    batch,
    subdivisions,
    kMax: int(p, 'k-max', 0),
    shuffle: !flag(p, 'no-shuffle'),
    transport: tee === 'optee' ? undefined : teeTransport(str(p, 'tee-transport')),
    tee,
    out,
    onEvent: progress,
  });
  emit(p, document, () => `${formatBench(document)}\n\n→ ${files.json}, ${files.csv}, ${files.runs_csv}, ${files.svg}, ${files.png}`);
}

/** --tee-transport: shm, pipe or auto (undefined: LAYERLOCK_TEE_TRANSPORT, else auto). */
function teeTransport(v: string | undefined): 'shm' | 'pipe' | 'auto' | undefined {
  if (v === undefined) return undefined;
  if (v !== 'shm' && v !== 'pipe' && v !== 'auto') throw new UsageError(`--tee-transport must be shm, pipe or auto (got "${v}")`);
  return v;
}
