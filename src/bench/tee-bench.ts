// The TEE cost benchmark (the paper's Figure 4): fine-tune a (pre-trained) network for N batches with
// the last k layers inside the software TEE, k = 0 (all in the normal world) and then 1, 2, … counting
// every layer as the paper does (cost, softmax, connected, dropout, connected, max-pool, conv, …),
// until the secure memory cannot hold the next layer. Each configuration runs `reps` times; the runs
// are interleaved — repetition-major, the configurations in a seeded random order within each
// repetition — so drift of a shared machine (other jobs, thermal state) spreads over all
// configurations instead of biasing the ones that happen to run last. Every run is a fresh
// normal-world process (tee-run.ts), one at a time.
//
// Results in the output folder: bench.json (DESIGN.md §8), bench.csv (one row per configuration),
// runs.csv and runs.jsonl (one per run; a killed benchmark resumes from runs.jsonl), options.json,
// figure.svg / figure.png.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectData } from '../data/select.js';
import { getKernels } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import { loadModel, withBatch } from '../nn/model.js';
import type { NetworkConfig } from '../nn/config.js';
import { Rng } from '../nn/rng.js';
import { svgToPng, renderSvg } from '../report/charts.js';
import { TeecError, type TeeKind } from '../tee/client.js';
import { openTeeContext, opteeSecureMem } from '../tee/optee.js';
import { kernelThreads, lastLayers, taKernelChoice } from '../tee/options.js';
import { PartitionedNetwork } from '../tee/partitioned.js';
import { TEE_ERROR_OUT_OF_MEMORY, type TransportKind } from '../tee/shared/protocol.js';
import { trainingTraffic } from './boundary.js';
import { teeCostChartSpec, type FigurePoint } from './chart.js';
import { layerLabel, reeBuffersModel, SHORT_NAMES, teeMemoryModel, type ReeBuffers, type TeeMemory } from './memory.js';
import { blockedAnova, diffCi95, oneWayAnova, pairedRatio, summarize, type Anova, type BlockedAnova, type Summary } from './stats.js';
import type { RunResult, RunSpec } from './tee-run.js';
import { writeSlice } from './tee-run.js';

export interface TeeBenchOptions {
  cfg: string;
  weights: string | null;
  data: string;
  trainLimit?: number | undefined;
  seed: number;
  split: number;
  resize: boolean;
  reps: number;
  /** Timed batches per run. */
  batches: number;
  /** Untimed batches first (JIT, caches). */
  warmup: number;
  secureMem: number;
  batch?: number | undefined;
  subdivisions?: number | undefined;
  /** Stop at this k even if more layers fit. */
  kMax?: number | undefined;
  /** Run the configurations of a repetition in a seeded random order (default) or in k order. */
  shuffle: boolean;
  /** How memref contents cross: shared memory, the pipe, or auto (shm when the addon has it). */
  transport?: TransportKind | 'auto' | undefined;
  /**
   * Which TEE runs the last k layers: the software TEE (default) or OP-TEE through libteec, whose
   * secure memory is the TA's arena fixed at build time (secureMem must be that arena).
   */
  tee?: TeeKind | undefined;
  out: string;
  onEvent?: (e: BenchEvent) => void;
}

export type BenchEvent =
  | { type: 'plan'; ks: number[]; stoppedBecause: string; runs: number; done: number }
  | { type: 'run'; done: number; total: number; rep: number; result: RunResult; etaSeconds: number };

export interface ConfigStats {
  k: number;
  /** The TEE range [start, end] (cfg indices), null for the all-in-REE baseline. */
  tee_layers: [number, number] | null;
  /** The layer added at this k (paper's naming), e.g. "FC". */
  added: string | null;
  layers: string[];
  runs: number;
  time_s: { mean: number; median: number; ci95: [number, number] };
  time: Summary;
  /** Mean of the normal world's peak RSS, bytes. */
  ree_peak_bytes: number;
  ree_peak: Summary;
  /** The TA's arena peak, bytes (identical in every run of a configuration). */
  tee_peak_bytes: number;
  /** REE peak RSS + TEE arena peak: the measure of the memory ANOVA and overhead. */
  memory_bytes: Summary;
  /** Frame bytes crossing the boundary per run (timed batches), both directions. */
  boundary_bytes: number;
  boundary: { to_tee: number; from_tee: number; frames: number; per_batch: number; expected: number; matches_expected: boolean; round_trips_per_batch: number; payload_per_batch: { to_tee: number; from_tee: number } };
  /** Memory model's prediction of the arena peak, and its error against the measurement. */
  model_bytes: number;
  model_error_pct: number | null;
  model: TeeMemory | null;
  overhead_time_pct: number;
  overhead_time_ci95_pct: [number, number];
  overhead_mem_pct: number;
  overhead_mem_ci95_pct: [number, number];
  /**
   * Overheads paired by repetition: the mean over repetitions of (this k's run / the baseline's run in
   * the same repetition − 1), with its t-interval. A repetition's runs are close in time, so the drift
   * of a shared machine between repetitions cancels; the unpaired figures above keep it.
   */
  overhead_time_paired_pct: number;
  overhead_time_paired_ci95_pct: [number, number];
  /** Overheads of the medians (robust to the odd run slowed by another job). */
  overhead_median_pct: { time: number; cpu: number | null; memory: number };
  /** CPU seconds of the timed batches, normal world + TA (all threads); null without /proc. */
  cpu_s: Summary | null;
  overhead_cpu_pct: number | null;
  overhead_cpu_paired_pct: number | null;
  overhead_cpu_paired_ci95_pct: [number, number] | null;
  overhead_mem_paired_pct: number;
  overhead_mem_paired_ci95_pct: [number, number];
  setup_s: Summary;
  ta_process_peak_bytes: number | null;
  /**
   * The model's own buffers: the normal world's (memory model, reeBuffersModel) plus the TEE arena
   * peak — memory without the runtime and without the emulated transport's transient copies.
   */
  buffers: { ree: ReeBuffers; tee: number; total: number; overhead_pct: number };
}

export interface BenchDocument {
  options: Record<string, unknown>;
  environment: Record<string, unknown>;
  measures: Record<string, string>;
  configs: ConfigStats[];
  anova: { time: Anova; memory: Anova; cpu: Anova | null };
  /** Two-way ANOVA with the repetitions as blocks (randomised complete block design). */
  anova_blocked: { time: BlockedAnova; memory: BlockedAnova; cpu: BlockedAnova | null };
  stopped_because: string;
  stopped_at: { k: number; tee_layers: [number, number]; layer: string; needed_bytes: number; capacity: number; ta_message: string | null } | null;
  seconds: number;
}

const RUN_SCRIPT = fileURLToPath(new URL('./tee-run.js', import.meta.url));
const MiB = 1 << 20;

/** Identity fields that only say how the inputs were named; their content fields are compared instead. */
const IDENTITY_PATHS = new Set(['cfg', 'weights', 'data']);

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Runs one child process (tee-run.js) and returns its result. */
function runChild(specFile: string): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [RUN_SCRIPT, specFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) {
        try {
          resolvePromise(JSON.parse(out.trim().split('\n').pop()!) as RunResult);
        } catch (e) {
          reject(new Error(`benchmark run printed no result (${(e as Error).message})`));
        }
      } else {
        const line = err.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
        reject(new Error(`benchmark run failed (${signal ?? `exit ${code}`}): ${line}`));
      }
    });
  });
}

interface Probe {
  ks: number[];
  models: Map<number, TeeMemory>;
  stoppedBecause: string;
  stoppedAt: BenchDocument['stopped_at'];
  taThreads: number;
  taKernels: string;
  /** The transport the TA actually ran (auto resolved). */
  transport: TransportKind;
}

/**
 * Which k fit: each candidate range is configured in a real TA (the authority on what fits), next to
 * the memory model's prediction; the first OUT_OF_MEMORY ends the list and its message is kept.
 */
async function probe(config: NetworkConfig, cfgFile: string, cfgText: string, opts: TeeBenchOptions, storageDir: string): Promise<Probe> {
  const L = config.layers.length;
  const kernels = getKernels();
  const ctx = await openTeeContext({
    secureMem: opts.secureMem, storageDir, kernels: taKernelChoice(), ...(opts.transport ? { transport: opts.transport } : {}), ...(opts.tee ? { tee: opts.tee } : {}),
  });
  const taThreads = ctx.hello.threads;
  const models = new Map<number, TeeMemory>();
  const ks = [0];
  let stoppedBecause = `all ${L} layers fit in ${(opts.secureMem / MiB).toFixed(2)} MiB of secure memory`;
  let stoppedAt: Probe['stoppedAt'] = null;
  const perForward = Math.max(1, Math.floor(config.net.batch / config.net.subdivisions));
  try {
    for (let k = 1; k <= L; k++) {
      const range = lastLayers(k, L)!;
      const model = teeMemoryModel(config, { start: range[0], end: range[1], batch: perForward, mode: 'train', threads: taThreads });
      if (opts.kMax !== undefined && k > opts.kMax) {
        stoppedBecause = `--k-max ${opts.kMax}: k = ${k} (${layerLabel(config, range[0])}) not measured`;
        break;
      }
      let taMessage: string | null = null;
      try {
        const pn = await PartitionedNetwork.open({
          cfg: { text: cfgText, file: cfgFile }, seed: opts.seed, batch: config.net.batch, subdivisions: config.net.subdivisions,
          range, mode: 'train', policy: 'top1', kernels, context: ctx,
        });
        await pn.close();
      } catch (e) {
        if (!(e instanceof TeecError && e.code === TEE_ERROR_OUT_OF_MEMORY)) throw e;
        taMessage = e.message;
      }
      if (taMessage !== null) {
        const layer = `${config.layers[range[0]]!.type} (layer ${range[0]}, ${SHORT_NAMES[config.layers[range[0]]!.type]})`;
        stoppedBecause = `k = ${k} would add ${layer}: layers ${range[0]}:${range[1]} need ${(model.total / MiB).toFixed(2)} MiB ` +
          `(memory model) of ${(opts.secureMem / MiB).toFixed(2)} MiB secure memory at ${perForward} images per forward; the TA answered ${taMessage}`;
        stoppedAt = { k, tee_layers: range, layer, needed_bytes: model.total, capacity: opts.secureMem, ta_message: taMessage };
        break;
      }
      models.set(k, model);
      ks.push(k);
    }
  } finally {
    await ctx.finalizeContext();
  }
  return { ks, models, stoppedBecause, stoppedAt, taThreads, taKernels: ctx.hello.kernels, transport: ctx.transport };
}

function runKey(rep: number, k: number): string {
  return `${rep}:${k}`;
}

/** The order of all runs: repetition-major; within a repetition the configurations shuffled by a seeded Rng. */
export function runOrder(ks: readonly number[], reps: number, seed: number, shuffle: boolean): { rep: number; k: number }[] {
  const order: { rep: number; k: number }[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const list = Uint32Array.from(ks);
    if (shuffle) new Rng(seed, 'bench-order', rep).shuffle(list);
    for (const k of list) order.push({ rep, k });
  }
  return order;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(8)) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(rows: unknown[][]): string {
  return rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

const pct = (x: number, base: number): number => (100 * (x - base)) / base;

/** loadavg_end of an earlier bench.json, when an invocation measures nothing new. */
async function previousLoadEnd(file: string): Promise<number[] | null> {
  try {
    const prev = JSON.parse(await readFile(file, 'utf8')) as Partial<BenchDocument>;
    return (prev.environment?.['loadavg_end'] as number[] | undefined) ?? null;
  } catch {
    return null;
  }
}

type Run = RunResult & { rep: number };

export interface BenchFiles {
  json: string;
  csv: string;
  runs_csv: string;
  runs: string;
  options: string;
  svg: string;
  png: string;
}

function benchFiles(out: string): BenchFiles {
  return {
    json: join(out, 'bench.json'), csv: join(out, 'bench.csv'), runs_csv: join(out, 'runs.csv'),
    runs: join(out, 'runs.jsonl'), options: join(out, 'options.json'), svg: join(out, 'figure.svg'), png: join(out, 'figure.png'),
  };
}

/** What a measurement is: a resumed run must measure the same thing. */
async function benchIdentity(opts: TeeBenchOptions, cfgText: string, config: NetworkConfig): Promise<Record<string, unknown>> {
  return {
    cfg: opts.cfg, cfg_sha256: createHash('sha256').update(cfgText).digest('hex'),
    weights: opts.weights, weights_sha256: opts.weights ? await sha256(opts.weights) : null,
    data: opts.data, data_location: opts.data === 'embedded' ? 'embedded' : resolve(opts.data), train_limit: opts.trainLimit ?? null, seed: opts.seed, split: opts.split, resize: opts.resize,
    batch: config.net.batch, subdivisions: config.net.subdivisions, batches: opts.batches, warmup: opts.warmup, secure_mem: opts.secureMem, k_max: opts.kMax ?? null,
    shuffle: opts.shuffle, kernels: getKernels().name,
    // Older folders had only the software TEE, so it is left out of the record.
    ...(opts.tee === 'optee' ? { tee: 'optee' } : {}),
  };
}

/**
 * Stage 2a: the run folder. Results in it must be of the same measurement (compared by content);
 * anything else there is refused, never overwritten.
 */
async function checkRunFolder(opts: TeeBenchOptions, files: BenchFiles, identity: Record<string, unknown>): Promise<void> {
  // A folder with results but no record of what they measured belongs to something else.
  if (!existsSync(files.options) && (existsSync(files.runs) || existsSync(files.json))) {
    throw new Error(`${opts.out} holds benchmark results without their options.json; refusing to overwrite them (use another --out)`);
  }
  if (!existsSync(files.options)) return;
  let prev: { identity?: Record<string, unknown> };
  try {
    prev = JSON.parse(await readFile(files.options, 'utf8')) as { identity?: Record<string, unknown> };
  } catch {
    throw new Error(`${files.options} is not a benchmark's options file; refusing to overwrite the folder (use another --out)`);
  }
  // Compared by content: the same cfg, weights or data named by another path is the same measurement.
  // (A folder recorded before data_location existed is compared by its data path, as it was then.)
  const oldFolder = prev.identity?.['data_location'] === undefined;
  const compared = (key: string): boolean => (oldFolder ? key !== 'data_location' && key !== 'cfg' && key !== 'weights' : !IDENTITY_PATHS.has(key));
  const differs = Object.keys(identity).filter((key) => compared(key) && JSON.stringify(prev.identity?.[key]) !== JSON.stringify(identity[key]));
  if (differs.length > 0) {
    throw new Error(`${opts.out} holds runs of a different measurement (${differs.join(', ')} differ); use another --out or delete ${files.runs}`);
  }
}

/**
 * Stage 2b (after the probe, which resolves 'auto'): the transport that carried the memrefs is part of
 * the identity (shm: shared memory, pipe: copied in frames). Older runs had only the pipe, so 'pipe' is
 * left out of the record.
 */
async function checkTransport(opts: TeeBenchOptions, files: BenchFiles, identity: Record<string, unknown>, transport: TransportKind): Promise<void> {
  if (transport !== 'pipe') identity['transport'] = transport;
  if (!existsSync(files.options)) return;
  const prev = (JSON.parse(await readFile(files.options, 'utf8')) as { identity?: Record<string, unknown> }).identity?.['transport'] ?? 'pipe';
  if (prev !== transport) {
    throw new Error(`${opts.out} holds runs measured over the ${String(prev)} transport, this run uses ${transport}; use another --out or --tee-transport ${String(prev)}`);
  }
}

/**
 * Stage 2c (after the probe): the runs an earlier invocation made for the configurations that fit
 * (a run cut by a kill is simply redone), and this measurement's identity recorded.
 */
async function resumeRuns(opts: TeeBenchOptions, files: BenchFiles, identity: Record<string, unknown>, ks: readonly number[]): Promise<Map<string, Run>> {
  const done = new Map<string, Run>();
  if (existsSync(files.options) && existsSync(files.runs)) {
    for (const line of (await readFile(files.runs, 'utf8')).split('\n')) {
      if (line.trim() === '') continue;
      try {
        const r = JSON.parse(line) as Run;
        if (ks.includes(r.k)) done.set(runKey(r.rep, r.k), r);
      } catch {
        // a line cut by a kill: that run is simply redone
      }
    }
  } else {
    await writeFile(files.runs, '');
  }
  await writeFile(files.options, JSON.stringify({ identity, reps: opts.reps }, null, 2) + '\n');
  return done;
}

/**
 * Stage 3: the images, the first (warmup + batches) × batch of T — the held-out half (on-device data
 * the pre-trained model has not seen) — the same for every run, in one file the runs read.
 */
async function writeImages(opts: TeeBenchOptions, config: NetworkConfig, scratch: string): Promise<string> {
  const data = await selectData(
    { data: opts.data, trainLimit: opts.trainLimit, seed: opts.seed, split: opts.split, resize: opts.resize },
    { inShape: { c: config.net.channels, h: config.net.height, w: config.net.width } },
  );
  const batch = config.net.batch;
  const need = (opts.warmup + opts.batches) * batch;
  if (data.T.length < need) throw new Error(`the run needs ${need} images ((--warmup + --batches) × batch ${batch}) but T has ${data.T.length}; lower --batches or use more data`);
  const slice = join(scratch, 'slice.bin');
  await writeSlice(slice, data.train, data.T.subarray(0, need));
  return slice;
}

/** Stage 4: the runs not made yet, each a fresh normal-world process, one at a time, appended to runs.jsonl as they end. */
async function measure(
  opts: TeeBenchOptions, setup: { cfgFile: string; config: NetworkConfig; storageDir: string; slice: string; scratch: string; transport: TransportKind },
  order: readonly { rep: number; k: number }[], done: Map<string, Run>, files: BenchFiles,
): Promise<{ ran: number; loadStart: number[]; loadEnd: number[] }> {
  const todo = order.filter((o) => !done.has(runKey(o.rep, o.k)));
  const loadStart = loadavg();
  const tRuns = performance.now();
  let count = order.length - todo.length;
  for (const [i, { rep, k }] of todo.entries()) {
    const spec: RunSpec = {
      cfgFile: setup.cfgFile, weights: opts.weights ? resolve(opts.weights) : null, seed: opts.seed, batch: setup.config.net.batch, subdivisions: setup.config.net.subdivisions, k,
      secureMem: opts.secureMem, storageDir: setup.storageDir, slice: setup.slice, batches: opts.batches, warmup: opts.warmup, transport: setup.transport,
      ...(opts.tee ? { tee: opts.tee } : {}),
    };
    const specFile = join(setup.scratch, 'spec.json');
    await writeFile(specFile, JSON.stringify(spec));
    const result = await runChild(specFile);
    const row = { rep, ...result };
    done.set(runKey(rep, k), row);
    await appendFile(files.runs, JSON.stringify(row) + '\n');
    count++;
    const elapsed = (performance.now() - tRuns) / 1000;
    opts.onEvent?.({ type: 'run', done: count, total: order.length, rep, result, etaSeconds: (elapsed / (i + 1)) * (todo.length - i - 1) });
  }
  return { ran: todo.length, loadStart, loadEnd: loadavg() };
}

/** Stage 5: per configuration its statistics and overheads against k = 0; the ANOVAs over all of them. */
export function benchStatistics(
  config: NetworkConfig, ks: readonly number[], order: readonly { rep: number; k: number }[], done: ReadonlyMap<string, Run>,
  models: ReadonlyMap<number, TeeMemory>, batches: number, transport: TransportKind, tee: TeeKind = 'software',
): { configs: ConfigStats[]; anova: BenchDocument['anova']; anovaBlocked: BenchDocument['anova_blocked'] } {
  const batch = config.net.batch;
  const perForward = Math.max(1, Math.floor(batch / config.net.subdivisions));
  const runsOf = (k: number): (RunResult & { rep: number })[] => order.filter((o) => o.k === k).map((o) => done.get(runKey(o.rep, o.k))!);
  const memOf = (r: RunResult): number => r.ree_peak_bytes + r.tee_peak_bytes;
  const base = runsOf(0);
  const baseTime = base.map((r) => r.seconds);
  const baseMem = base.map(memOf);
  const cpuOf = (r: RunResult): number | null => (typeof r.cpu_s === 'number' ? r.cpu_s : null);
  const baseCpuList = base.map(cpuOf);
  const baseCpu = baseCpuList.every((c): c is number => c !== null) ? (baseCpuList as number[]) : null;
  const L = config.layers.length;
  const buffersOf = (k: number): { ree: ReeBuffers; tee: number; total: number } => {
    const ree = reeBuffersModel(config, lastLayers(k, L), perForward);
    const tee = models.get(k)?.total ?? 0;
    return { ree, tee, total: ree.total + tee };
  };
  const baseBuffers = buffersOf(0).total;
  const configs: ConfigStats[] = ks.map((k) => {
    const rs = runsOf(k);
    const times = rs.map((r) => r.seconds);
    const mems = rs.map(memOf);
    const time = summarize(times);
    const memory = summarize(mems);
    const range = lastLayers(k, L);
    const model = models.get(k) ?? null;
    const teePeaks = rs.map((r) => r.tee_peak_bytes);
    const teePeak = summarize(teePeaks).mean;
    const boundaryRuns = rs.map((r) => r.boundary.to_tee + r.boundary.from_tee);
    const traffic = range ? trainingTraffic(config, range[0], range[1], batch, perForward, transport) : null;
    // Everything that crossed: control frames, plus the memref contents passed through shared memory,
    // and the flush of the last deferred update (tee-run.ts sends it inside the timed part). OP-TEE
    // has no control frames (libteec's ioctl carries the parameters): only the memref contents count.
    const frames = tee === 'optee' ? 0 : 1;
    const expected = traffic
      ? (frames * (traffic.wireToTee + traffic.wireFromTee) + traffic.sharedToTee + traffic.sharedFromTee) * batches +
        frames * (traffic.endOfRun.wireToTee + traffic.endOfRun.wireFromTee)
      : 0;
    const boundary = summarize(boundaryRuns).mean;
    const cpus = rs.map((r) => r.cpu_s);
    const cpuKnown = cpus.every((c): c is number => typeof c === 'number') && baseCpu !== null;
    const cpu = cpuKnown ? summarize(cpus as number[]) : null;
    const cPair = cpuKnown ? pairedRatio(cpus as number[], baseCpu) : null;
    const tPair = pairedRatio(times, baseTime);
    const mPair = pairedRatio(mems, baseMem);
    const tCi = diffCi95(times, baseTime);
    const mCi = diffCi95(mems, baseMem);
    const bm = summarize(baseTime).mean;
    const mm = summarize(baseMem).mean;
    const taPeaks = rs.map((r) => r.ta_process_peak_bytes).filter((x): x is number => x !== null);
    return {
      k,
      tee_layers: range,
      added: range ? SHORT_NAMES[config.layers[range[0]]!.type] : null,
      layers: range ? Array.from({ length: k }, (_, i) => layerLabel(config, range[0] + i)) : [],
      runs: rs.length,
      time_s: { mean: time.mean, median: time.median, ci95: time.ci95 },
      time,
      ree_peak_bytes: summarize(rs.map((r) => r.ree_peak_bytes)).mean,
      ree_peak: summarize(rs.map((r) => r.ree_peak_bytes)),
      tee_peak_bytes: teePeak,
      memory_bytes: memory,
      boundary_bytes: boundary,
      boundary: {
        to_tee: summarize(rs.map((r) => r.boundary.to_tee)).mean,
        from_tee: summarize(rs.map((r) => r.boundary.from_tee)).mean,
        frames: summarize(rs.map((r) => r.boundary.frames)).mean,
        per_batch: boundary / batches,
        expected,
        matches_expected: boundaryRuns.every((b) => b === expected),
        round_trips_per_batch: traffic?.roundTrips ?? 0,
        payload_per_batch: { to_tee: traffic?.payloadToTee ?? 0, from_tee: traffic?.payloadFromTee ?? 0 },
      },
      model_bytes: model?.total ?? 0,
      model_error_pct: model && teePeak > 0 ? pct(model.total, teePeak) : null,
      model,
      overhead_time_pct: pct(time.mean, bm),
      overhead_time_ci95_pct: [100 * tCi[0] / bm, 100 * tCi[1] / bm],
      overhead_mem_pct: pct(memory.mean, mm),
      overhead_mem_ci95_pct: [100 * mCi[0] / mm, 100 * mCi[1] / mm],
      overhead_time_paired_pct: 100 * tPair.mean,
      overhead_time_paired_ci95_pct: [100 * tPair.ci95[0], 100 * tPair.ci95[1]],
      overhead_median_pct: {
        time: pct(time.median, summarize(baseTime).median),
        cpu: cpu && baseCpu ? pct(cpu.median, summarize(baseCpu).median) : null,
        memory: pct(memory.median, summarize(baseMem).median),
      },
      cpu_s: cpu,
      overhead_cpu_pct: cpu && baseCpu ? pct(cpu.mean, summarize(baseCpu).mean) : null,
      overhead_cpu_paired_pct: cPair ? 100 * cPair.mean : null,
      overhead_cpu_paired_ci95_pct: cPair ? [100 * cPair.ci95[0], 100 * cPair.ci95[1]] : null,
      overhead_mem_paired_pct: 100 * mPair.mean,
      overhead_mem_paired_ci95_pct: [100 * mPair.ci95[0], 100 * mPair.ci95[1]],
      setup_s: summarize(rs.map((r) => r.setup_seconds)),
      ta_process_peak_bytes: taPeaks.length ? summarize(taPeaks).mean : null,
      buffers: { ...buffersOf(k), overhead_pct: pct(buffersOf(k).total, baseBuffers) },
    };
  });
  const groupsTime = ks.map((k) => runsOf(k).map((r) => r.seconds));
  const groupsMem = ks.map((k) => runsOf(k).map(memOf));
  const groupsCpu = ks.map((k) => runsOf(k).map(cpuOf));
  const cpuAll = groupsCpu.every((g) => g.every((c) => c !== null)) ? (groupsCpu as number[][]) : null;
  const anova = { time: oneWayAnova(groupsTime), memory: oneWayAnova(groupsMem), cpu: cpuAll ? oneWayAnova(cpuAll) : null };
  // runsOf lists a configuration's runs in repetition order, so column j of every group is repetition j.
  const anovaBlocked = { time: blockedAnova(groupsTime), memory: blockedAnova(groupsMem), cpu: cpuAll ? blockedAnova(cpuAll) : null };
  return { configs, anova, anovaBlocked };
}

/** Stage 6: bench.json, bench.csv, runs.csv and Figure 4 (SVG, PNG). */
async function writeBenchFiles(files: BenchFiles, document: BenchDocument, order: readonly { rep: number; k: number }[], done: ReadonlyMap<string, Run>, title: string): Promise<void> {
  const configs = document.configs;
  await writeFile(files.json, JSON.stringify(document, null, 2) + '\n');
  await writeFile(files.csv, csv([
    ['k', 'tee_layers', 'added', 'runs', 'time_mean_s', 'time_median_s', 'time_ci95_lo', 'time_ci95_hi', 'overhead_time_pct',
      'ree_peak_mean_bytes', 'tee_peak_bytes', 'memory_mean_bytes', 'memory_median_bytes', 'memory_ci95_lo', 'memory_ci95_hi', 'overhead_mem_pct',
      'boundary_bytes', 'boundary_expected', 'model_bytes', 'model_error_pct', 'buffers_bytes', 'overhead_buffers_pct', 'overhead_time_paired_pct', 'overhead_time_paired_ci95_lo', 'overhead_time_paired_ci95_hi', 'overhead_mem_paired_pct', 'cpu_mean_s', 'cpu_ci95_lo', 'cpu_ci95_hi', 'overhead_cpu_paired_pct', 'overhead_cpu_paired_ci95_lo', 'overhead_cpu_paired_ci95_hi', 'overhead_time_median_pct', 'overhead_cpu_median_pct', 'overhead_mem_median_pct'],
    ...configs.map((c) => [c.k, c.tee_layers ? c.tee_layers.join(':') : '', c.added ?? '', c.runs, c.time.mean, c.time.median, c.time.ci95[0], c.time.ci95[1],
      c.overhead_time_pct, c.ree_peak_bytes, c.tee_peak_bytes, c.memory_bytes.mean, c.memory_bytes.median, c.memory_bytes.ci95[0], c.memory_bytes.ci95[1],
      c.overhead_mem_pct, c.boundary_bytes, c.boundary.expected, c.model_bytes, c.model_error_pct, c.buffers.total, c.buffers.overhead_pct, c.overhead_time_paired_pct, c.overhead_time_paired_ci95_pct[0], c.overhead_time_paired_ci95_pct[1], c.overhead_mem_paired_pct,
      c.cpu_s?.mean ?? null, c.cpu_s?.ci95[0] ?? null, c.cpu_s?.ci95[1] ?? null, c.overhead_cpu_paired_pct, c.overhead_cpu_paired_ci95_pct?.[0] ?? null, c.overhead_cpu_paired_ci95_pct?.[1] ?? null,
      c.overhead_median_pct.time, c.overhead_median_pct.cpu, c.overhead_median_pct.memory]),
  ]));
  await writeFile(files.runs_csv, csv([
    ['order', 'rep', 'k', 'seconds', 'cpu_seconds', 'ree_cpu_seconds', 'tee_cpu_seconds', 'setup_seconds', 'ree_peak_bytes', 'tee_peak_bytes', 'boundary_to_tee', 'boundary_from_tee', 'frames', 'ta_process_peak_bytes'],
    ...order.map((o, i) => {
      const r = done.get(runKey(o.rep, o.k))!;
      return [i, o.rep, o.k, r.seconds, r.cpu_s ?? null, r.ree_cpu_s ?? null, r.tee_cpu_s ?? null, r.setup_seconds, r.ree_peak_bytes, r.tee_peak_bytes, r.boundary.to_tee, r.boundary.from_tee, r.boundary.frames, r.ta_process_peak_bytes];
    }),
  ]));
  const svg = await renderSvg(teeCostChartSpec(benchPoints(configs), title));
  await writeFile(files.svg, svg);
  await writeFile(files.png, await svgToPng(svg));
}

/** Figure 4's points: per configuration the mean and 95 % interval of time, memory and CPU time. */
export function benchPoints(configs: readonly ConfigStats[]): FigurePoint[] {
  return configs.map((c) => ({
    k: c.k, label: c.added ? `${c.k} ${c.added}` : '0 (REE)',
    time_mean: c.time.mean, time_lo: c.time.ci95[0], time_hi: c.time.ci95[1],
    mem_mean: c.memory_bytes.mean / MiB, mem_lo: c.memory_bytes.ci95[0] / MiB, mem_hi: c.memory_bytes.ci95[1] / MiB,
    ...(c.cpu_s ? { cpu_mean: c.cpu_s.mean, cpu_lo: c.cpu_s.ci95[0], cpu_hi: c.cpu_s.ci95[1] } : {}),
  }));
}

const MEASURES: Record<string, string> = {
    time_s: 'wall time of the timed fine-tuning batches (forward, backward, SGD update, boundary crossings), after --warmup untimed batches; TA start, configuration and weight loading excluded (setup_s)',
    cpu_s: 'CPU time of the same batches, all threads of the normal-world process and of the TA process (/proc/<pid>/task/<tid>/schedstat): the work done, without the waiting for a core that other jobs on a shared machine cause',
    ree_peak_bytes: 'peak resident set size (VmHWM, /proc/self/status) of the normal-world process, one fresh process per run: the kernel\'s high-water mark counts the layer buffers, which live outside the V8 heap (getrusage ru_maxrss is not used: Linux carries it over fork and exec from the parent)',
    tee_peak_bytes: 'peak of the TA\'s secure-memory arena (GET_STATS): every byte of the protected layers',
    memory_bytes: 'ree_peak_bytes + tee_peak_bytes: the model\'s memory on the device; the TA process\'s own Node runtime (ta_process_peak_bytes) is an artefact of the emulation and not counted',
    boundary_bytes: 'frame bytes crossing the REE/TEE boundary in both directions during the timed batches (client traffic counter); expected = boundary model (src/bench/boundary.ts)',
    overhead: 'percent of the k = 0 (all in the normal world) mean; ci95 = Welch interval of the difference of means; overhead_median_pct: of the medians',
    buffers: 'modelled buffers of the network only: normal-world layers, staging and exchange buffers (reeBuffersModel) + the TEE arena; what the partition itself costs in memory, without the runtime or the emulated transport\'s transient frame copies',
};

/**
 * The benchmark, stage by stage: check the run folder, write the images and check the weights before
 * any TA starts; probe which k fit in a real TA; resume the runs; measure the missing ones; the
 * statistics; the files.
 */
export async function runTeeBench(given: TeeBenchOptions): Promise<{ document: BenchDocument; files: BenchFiles }> {
  const started = performance.now();
  // OP-TEE's secure memory is the TA's arena, fixed when it was built: the only capacity that means anything there.
  const opts = given.tee === 'optee' ? { ...given, secureMem: opteeSecureMem() } : given;
  const cfgFile = resolve(opts.cfg);
  const cfgText = await readFile(cfgFile, 'utf8');
  const config = withBatch(parseCfg(cfgText, cfgFile), { batch: opts.batch, subdivisions: opts.subdivisions });
  const batch = config.net.batch;
  await mkdir(opts.out, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'layerlock-bench-'));
  const files = benchFiles(opts.out);
  try {
    const storageDir = join(scratch, 'tee');
    const identity = await benchIdentity(opts, cfgText, config);
    await checkRunFolder(opts, files, identity);
    const slice = await writeImages(opts, config, scratch);
    // A wrong --weights would otherwise surface in the first timed run, after the folder is set up.
    if (opts.weights) await loadModel({ cfg: config, weights: opts.weights, seed: opts.seed });
    // Only now, with the folder, the data and the weights known to be right, start the TA to find the k range.
    const found = await probe(config, cfgFile, cfgText, opts, storageDir);
    await checkTransport(opts, files, identity, found.transport);
    const ks = found.ks;
    const done = await resumeRuns(opts, files, identity, ks);
    const order = runOrder(ks, opts.reps, opts.seed, opts.shuffle);
    opts.onEvent?.({ type: 'plan', ks, stoppedBecause: found.stoppedBecause, runs: order.length, done: order.filter((o) => done.has(runKey(o.rep, o.k))).length });
    const m = await measure(opts, { cfgFile, config, storageDir, slice, scratch, transport: found.transport }, order, done, files);
    // A resumed benchmark reports the whole measurement: the load when it started and the seconds of
    // every invocation so far (an invocation that only re-aggregates adds its few seconds).
    let previous: { loadavg_start?: number[]; seconds?: number } = {};
    if (order.length - m.ran > 0 && existsSync(files.json)) {
      try {
        const prev = JSON.parse(await readFile(files.json, 'utf8')) as Partial<BenchDocument>;
        previous = { loadavg_start: prev.environment?.['loadavg_start'] as number[] | undefined, seconds: prev.seconds };
      } catch {
        // an unreadable earlier result: report this invocation only
      }
    }
    const measuredEnd = m.ran > 0 ? m.loadEnd : null;
    const { configs, anova, anovaBlocked } = benchStatistics(config, ks, order, done, found.models, opts.batches, found.transport, opts.tee);
    const first = done.values().next().value as RunResult | undefined;
    const document: BenchDocument = {
      options: { ...identity, reps: opts.reps, images_per_run: opts.batches * batch, per_forward: Math.max(1, Math.floor(batch / config.net.subdivisions)) },
      environment: {
        node: process.version, platform: `${process.platform}-${process.arch}`, cpus: availableParallelism(),
        kernels: first?.kernels ?? getKernels().name, threads: first?.threads ?? kernelThreads(), ta_kernels: found.taKernels, ta_threads: found.taThreads,
        loadavg_start: previous.loadavg_start ?? m.loadStart,
        loadavg_end: measuredEnd ?? (existsSync(files.json) ? await previousLoadEnd(files.json) : null) ?? m.loadEnd,
      },
      measures: MEASURES,
      configs,
      anova,
      anova_blocked: anovaBlocked,
      stopped_because: found.stoppedBecause,
      stopped_at: found.stoppedAt,
      seconds: (previous.seconds ?? 0) + (performance.now() - started) / 1000,
    };
    await writeBenchFiles(files, document, order, done, `${opts.cfg.split('/').pop()}: fine-tuning ${opts.batches} × ${batch} images, ${opts.reps} runs per configuration${opts.tee === 'optee' ? ', last k layers in OP-TEE' : ''}`);
    return { document, files };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The human table of a benchmark document. */
export function formatBench(doc: BenchDocument): string {
  const mib = (b: number): string => (b / MiB).toFixed(2);
  const sign = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)} %`;
  const head = ['k', 'TEE layers', 'time s (mean)', 'median', '95 % CI', 'Δtime', 'Δtime paired (95 % CI)', 'CPU s', 'ΔCPU paired (95 % CI)', 'REE MiB', 'TEE MiB', 'memory MiB', 'Δmem', 'boundary/batch', 'model vs arena', 'buffers MiB', 'Δbuffers'];
  const rows = doc.configs.map((c) => [
    c.added ? `${c.k} ${c.added}` : '0',
    c.tee_layers ? c.tee_layers.join(':') : '—',
    c.time.mean.toFixed(3),
    c.time.median.toFixed(3),
    `${c.time.ci95[0].toFixed(3)}–${c.time.ci95[1].toFixed(3)}`,
    c.k === 0 ? 'baseline' : sign(c.overhead_time_pct),
    c.k === 0 ? 'baseline' : `${sign(c.overhead_time_paired_pct)} (${c.overhead_time_paired_ci95_pct[0].toFixed(1)}…${c.overhead_time_paired_ci95_pct[1].toFixed(1)})`,
    c.cpu_s ? c.cpu_s.mean.toFixed(3) : '—',
    c.k === 0 ? 'baseline' : c.overhead_cpu_paired_pct !== null ? `${sign(c.overhead_cpu_paired_pct)} (${c.overhead_cpu_paired_ci95_pct![0].toFixed(1)}…${c.overhead_cpu_paired_ci95_pct![1].toFixed(1)})` : '—',
    mib(c.ree_peak_bytes),
    mib(c.tee_peak_bytes),
    mib(c.memory_bytes.mean),
    c.k === 0 ? 'baseline' : sign(c.overhead_mem_pct),
    c.k === 0 ? '—' : `${Math.round(c.boundary.per_batch).toLocaleString('en-US')} B${c.boundary.matches_expected ? '' : ' (≠ model)'}`,
    c.model_error_pct === null ? '—' : `${c.model_error_pct >= 0 ? '+' : ''}${c.model_error_pct.toFixed(2)} %`,
    mib(c.buffers.total),
    c.k === 0 ? 'baseline' : sign(c.buffers.overhead_pct),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((s, i) => (i < 2 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ');
  const a = doc.anova;
  const p = (x: number): string => (x === 0 ? '< 1e-300' : x < 1e-4 ? x.toExponential(2) : x.toFixed(4));
  const b = doc.anova_blocked;
  return [
    line(head),
    ...rows.map(line),
    '',
    `one-way ANOVA, time:   F(${a.time.df1}, ${a.time.df2}) = ${a.time.F.toFixed(3)}, p = ${p(a.time.p)}`,
    `one-way ANOVA, memory: F(${a.memory.df1}, ${a.memory.df2}) = ${a.memory.F.toFixed(3)}, p = ${p(a.memory.p)}`,
    `blocked by repetition, time:   F(${b.time.df1}, ${b.time.df2}) = ${b.time.F.toFixed(3)}, p = ${p(b.time.p)}`,
    `blocked by repetition, memory: F(${b.memory.df1}, ${b.memory.df2}) = ${b.memory.F.toFixed(3)}, p = ${p(b.memory.p)}`,
    ...(a.cpu && b.cpu ? [
      `one-way ANOVA, CPU:    F(${a.cpu.df1}, ${a.cpu.df2}) = ${a.cpu.F.toFixed(3)}, p = ${p(a.cpu.p)}`,
      `blocked by repetition, CPU:    F(${b.cpu.df1}, ${b.cpu.df2}) = ${b.cpu.F.toFixed(3)}, p = ${p(b.cpu.p)}`,
    ] : []),
    `stopped: ${doc.stopped_because}`,
  ].join('\n');
}
