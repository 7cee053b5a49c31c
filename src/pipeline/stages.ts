// The stages of the main job, one function each, calling the library modules (never the CLI). Every
// stage writes into its own folder under the run folder and returns a small JSON record; the report
// reads those folders and records.
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { BatchLoader } from '../data/batches.js';
import type { SelectedData } from '../data/select.js';
import { DEFAULT_COST } from '../bench/cost-model.js';
import { formatPlan, loadExposure, planDocument, planPartitions, type PlanDocument } from '../bench/plan.js';
import { runTeeBench, type BenchEvent } from '../bench/tee-bench.js';
import { generateServerKeys } from '../deploy/keys.js';
import { createPackage } from '../deploy/package.js';
import { initDevice, installPackage, openInstalled, type DeviceOptions } from '../deploy/device.js';
import { runExposure } from '../exposure/index.js';
import type { RunnerEvent } from '../exposure/runner.js';
import { kernelThreads, taKernelChoice } from '../tee/options.js';
import type { NetworkConfig } from '../nn/config.js';
import { loadModel, saveModel } from '../nn/model.js';
import { evaluate, evaluateWith, train } from '../nn/train.js';
import { partitionReport, type PartitionReport } from '../tee/report.js';
import { atomicWrite } from '../util/fsutil.js';
import { layerLabel } from '../bench/memory.js';
import { attackSweep, type PartitionChoice } from '../attack/sweep.js';

/** What every stage gets: the settings, the run folder, the data (loaded once) and a progress callback. */
export interface StageContext {
  out: string;
  /** The run's copy of the cfg (model.cfg in the run folder). */
  cfg: string;
  config: NetworkConfig;
  data: SelectedData;
  dataSpec: { data: string; trainLimit?: number | undefined; testLimit?: number | undefined; split: number; resize: boolean };
  seeds: number[];
  epochs: number;
  /** Trained weights the train stage starts from (an imported model), or undefined: Darknet's initialisation. */
  baseWeights?: string | undefined;
  ftEpochs: number;
  secureMem: number;
  benchReps: number;
  benchBatches: number;
  deviceEpochs: number;
  predictImages: number;
  /** Evaluation members of the attack sweep (as many non-members; the attacker's pools as many again). */
  attackMembers: number;
  jobs?: number | undefined;
  progress(fraction: number, detail: string): void;
  /** The record of an earlier stage (it has finished: stages run in order). */
  stage<R>(name: string): Promise<R>;
}

const MiB = 1 << 20;

function setScore(r: { loss: number; acc: number; n: number }): { loss: number | null; acc: number; n: number } {
  return { loss: Number.isFinite(r.loss) ? r.loss : null, acc: r.acc, n: r.n };
}

// ---- train ------------------------------------------------------------------------------------

export interface TrainRecord {
  weights: string;
  seed: number;
  epochs: number;
  seconds: number;
  train_img_s: number;
  kernels: string;
  S: { loss: number | null; acc: number; n: number };
  T: { loss: number | null; acc: number; n: number };
  test: { loss: number | null; acc: number; n: number };
  gen: number | null;
  data: { location: string; format: string; train_count: number; test_count: number; S: number; T: number; classes: number; shape: [number, number, number] };
  model: { layers: { index: number; type: string; label: string; params: number }[]; params: number; batch: number; learning_rate: number };
}

export async function trainStage(ctx: StageContext): Promise<TrainRecord> {
  const seed = ctx.seeds[0]!;
  const net = await loadModel({ cfg: ctx.config, seed, ...(ctx.baseWeights !== undefined ? { weights: ctx.baseWeights } : {}) });
  const { data } = ctx;
  const dir = join(ctx.out, 'train');
  await mkdir(dir, { recursive: true });
  const weights = join(dir, 'model.weights');
  const batches = Math.ceil(data.S.length / net.net.batch);
  const result = await train(net, data.train, data.S, {
    epochs: ctx.epochs,
    seed,
    onBatch: (b) => ctx.progress((b.epoch * batches + b.batch) / (ctx.epochs * batches), `epoch ${b.epoch + 1}/${ctx.epochs}, loss ${Number.isFinite(b.loss) ? b.loss.toFixed(3) : '-'}`),
  });
  await saveModel(net, weights);
  const S = evaluate(net, data.train, data.S);
  const T = evaluate(net, data.train, data.T);
  const test = evaluate(net, data.test);
  const layers = ctx.config.layers.map((l, index) => ({ index, type: l.type, label: layerLabel(ctx.config, index), params: net.layers[index]!.params().reduce((a, p) => a + p.data.length, 0) }));
  return {
    weights: relative(ctx.out, weights),
    seed,
    epochs: ctx.epochs,
    seconds: result.seconds,
    train_img_s: result.imagesPerSecond,
    kernels: net.kernels.name,
    S: setScore(S), T: setScore(T), test: setScore(test),
    gen: Number.isFinite(test.loss - S.loss) ? test.loss - S.loss : null,
    data: {
      location: data.source.location, format: data.source.format, train_count: data.train.count, test_count: data.test.count,
      S: data.S.length, T: data.T.length, classes: data.train.classes, shape: [data.train.channels, data.train.height, data.train.width],
    },
    model: { layers, params: layers.reduce((a, l) => a + l.params, 0), batch: ctx.config.net.batch, learning_rate: ctx.config.net.learningRate },
  };
}

// ---- exposure ---------------------------------------------------------------------------------

export interface ExposureRecord {
  dir: string;
  layers: { index: number; label: string; exposure: number | null; std: number | null }[];
  base_gen: number;
  jobs_ran: number;
  wall_seconds: number;
}

export async function exposureStage(ctx: StageContext): Promise<ExposureRecord> {
  const tr = await ctx.stage<TrainRecord>('train');
  const dir = join(ctx.out, 'exposure');
  // With one seed the model trained above is M itself; with several, the exposure run trains one
  // base per seed (the first of them equal to it: same seed, same code).
  const single = ctx.seeds.length === 1;
  const onEvent = (e: RunnerEvent): void => {
    const s = e.state;
    if (s.cost > 0) ctx.progress(s.costDone / s.cost, `jobs ${s.done}/${s.total}${s.running.length ? `, running ${s.running.map((r) => r.job.id.replace(/^s\d+-/, '')).join(' ')}` : ''}`);
  };
  const { document, summary } = await runExposure({
    cfg: ctx.cfg, data: ctx.dataSpec.data, trainLimit: ctx.dataSpec.trainLimit, testLimit: ctx.dataSpec.testLimit, split: ctx.dataSpec.split,
    resize: ctx.dataSpec.resize, epochs: single ? null : ctx.epochs, ftEpochs: ctx.ftEpochs, base: single ? join(ctx.out, tr.weights) : null,
    seeds: ctx.seeds, metric: 'loss', jobs: ctx.jobs, dir, onEvent,
  });
  return {
    dir: relative(ctx.out, dir),
    layers: document.layers.map((l) => ({ index: l.index, label: l.label, exposure: l.exposure, std: l.exposure_std })),
    base_gen: document.base.gen,
    jobs_ran: summary.ran,
    wall_seconds: summary.wallSeconds,
  };
}

// ---- plan -------------------------------------------------------------------------------------

export interface PlanRecord {
  file: string;
  recommended: PlanDocument['recommended'];
  ranges_fit: number;
  why: string;
}

export async function planStage(ctx: StageContext): Promise<PlanRecord> {
  const dir = join(ctx.out, 'plan');
  await mkdir(dir, { recursive: true });
  const exposure = await loadExposure(join(ctx.out, 'exposure'), ctx.config);
  // The exposure file's path is recorded relative to the run folder, so the folder can move.
  exposure.file = relative(ctx.out, exposure.file);
  const threads = kernelThreads();
  const plan = planPartitions(ctx.config, 'model.cfg', { secureMem: ctx.secureMem, mode: 'train', threads, exposure, cost: { ...DEFAULT_COST } });
  const doc = planDocument(plan);
  await atomicWrite(join(dir, 'plan.json'), JSON.stringify(doc, null, 2) + '\n');
  await atomicWrite(join(dir, 'plan.txt'), formatPlan(plan) + '\n');
  if (!doc.recommended) throw new Error(`no layer range fits in ${(ctx.secureMem / MiB).toFixed(2)} MiB of secure memory: ${plan.why}`);
  return { file: 'plan/plan.json', recommended: doc.recommended, ranges_fit: doc.ranges.length, why: doc.why };
}

// ---- attack -----------------------------------------------------------------------------------

export interface AttackRecord {
  dir: string;
  members: number;
  partitions: { label: string; tee_layers: [number, number] | null; best: { attack: string; auc: number; ci95: [number, number] } | null; refused: string[] }[];
}

/**
 * The attack sweep (issue 11) against the trained model: nothing protected (k = 0, full output: the
 * white-box baseline), the last 3 and 5 layers and the recommended range under top1 — each only if
 * it fits the secure memory — with settings small enough for the demo's time budget.
 */
export async function attackStage(ctx: StageContext): Promise<AttackRecord> {
  const tr = await ctx.stage<TrainRecord>('train');
  const plan = JSON.parse(await readFile(join(ctx.out, 'plan', 'plan.json'), 'utf8')) as PlanDocument;
  const L = ctx.config.layers.length;
  const fits = (a: number, b: number): boolean => plan.ranges.some((r) => r.tee_layers[0] === a && r.tee_layers[1] === b);
  const partitions: PartitionChoice[] = [{ kind: 'last', k: 0 }];
  // (k = 1 is the cost layer alone: it hides nothing an attacker uses, so it is not worth its time.)
  for (const k of [3, 5]) if (k < L && fits(L - k, L - 1)) partitions.push({ kind: 'last', k });
  const rec = plan.recommended;
  if (rec && !partitions.some((p) => p.kind === 'last' && p.k > 0 && L - p.k === rec.tee_layers[0] && rec.tee_layers[1] === L - 1)) {
    partitions.push({ kind: 'range', start: rec.tee_layers[0], end: rec.tee_layers[1] });
  }
  const { data } = ctx;
  const members = Math.max(2, Math.min(ctx.attackMembers, Math.floor(data.S.length / 2), Math.floor(data.test.count / 2)));
  const dir = join(ctx.out, 'attack');
  let started = 0;
  const doc = await attackSweep({
    cfg: ctx.cfg, config: ctx.config, weights: join(ctx.out, tr.weights), partitions, policy: 'top1', out: dir,
    data: { train: data.train, test: data.test, S: data.S, T: data.T },
    members, seed: ctx.seeds[0]!, substitute: { epochs: 2, limit: null }, perturbations: 8, bootstrap: 200, steal: null,
    secureMem: ctx.secureMem, storageDir: join(dir, 'tee'),
    exposure: await loadExposure(join(ctx.out, 'exposure'), ctx.config),
    log: (m) => {
      if (m.startsWith('partition ')) ctx.progress(started++ / partitions.length, m);
    },
    onResume: () => ctx.progress(started++ / partitions.length, 'resumed'),
  });
  return {
    dir: relative(ctx.out, dir),
    members,
    partitions: doc.partitions.map((r) => {
      const best = [...r.attacks].sort((a, b) => b.auc - a.auc)[0];
      return {
        label: r.label, tee_layers: r.partition.tee_layers,
        best: best ? { attack: best.name, auc: best.auc, ci95: best.auc_ci95 } : null,
        refused: r.refused.map((x) => x.name),
      };
    }),
  };
}

// ---- TEE cost ---------------------------------------------------------------------------------

export interface BenchRecord {
  dir: string;
  configs: number;
  stopped_because: string;
  anova_time_p: number;
  /** The overhead of the deepest measured suffix, for the summary line. */
  deepest: { k: number; overhead_time_pct: number; tee_peak_bytes: number } | null;
}

export async function benchStage(ctx: StageContext): Promise<BenchRecord> {
  const tr = await ctx.stage<TrainRecord>('train');
  const dir = join(ctx.out, 'bench');
  const onEvent = (e: BenchEvent): void => {
    if (e.type === 'run') ctx.progress(e.done / e.total, `run ${e.done}/${e.total} (k = ${e.result.k})`);
  };
  const { document } = await runTeeBench({
    cfg: ctx.cfg, weights: join(ctx.out, tr.weights), data: ctx.dataSpec.data, trainLimit: ctx.dataSpec.trainLimit, seed: ctx.seeds[0]!,
    split: ctx.dataSpec.split, resize: ctx.dataSpec.resize, reps: ctx.benchReps, batches: ctx.benchBatches, warmup: 1,
    secureMem: ctx.secureMem, shuffle: true, out: dir, onEvent,
  });
  const last = document.configs[document.configs.length - 1];
  return {
    dir: relative(ctx.out, dir),
    configs: document.configs.length,
    stopped_because: document.stopped_because,
    anova_time_p: document.anova.time.p,
    deepest: last && last.k > 0 ? { k: last.k, overhead_time_pct: last.overhead_time_pct, tee_peak_bytes: last.tee_peak_bytes } : null,
  };
}

// ---- deploy -----------------------------------------------------------------------------------

export interface DeployedFile {
  path: string;
  bytes: number;
  sha256: string;
  what: string;
}

export interface DeployRecord {
  dir: string;
  server_key_id: string;
  device_id: string;
  ta_uuid: string;
  package_id: string;
  package_version: number;
  model_version: number;
  partition: { start: number; end: number; policy: string; topk: number };
  protected_layers: number[];
  clear_layers: number[];
  files: DeployedFile[];
  trust: { server_public_key: string; device_certificate: string };
}

export function deviceOptions(secureMem: number): DeviceOptions {
  return { tee: { secureMem, kernels: taKernelChoice() } };
}

async function describe(out: string, path: string, what: string): Promise<DeployedFile> {
  const bytes = await readFile(path);
  return { path: relative(out, path), bytes: (await stat(path)).size, sha256: createHash('sha256').update(bytes).digest('hex'), what };
}

export async function deployStage(ctx: StageContext): Promise<DeployRecord> {
  const tr = await ctx.stage<TrainRecord>('train');
  const plan = await ctx.stage<PlanRecord>('plan');
  const r = plan.recommended!;
  const dir = join(ctx.out, 'deploy');
  // Keys are never overwritten and a device is initialised once: an interrupted deploy starts over.
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const server = join(dir, 'server');
  const dev = join(dir, 'device');
  const pkg = join(dir, 'model.pkg');
  const opts = deviceOptions(ctx.secureMem);
  ctx.progress(0, 'server keys');
  const keys = await generateServerKeys(server);
  ctx.progress(0.15, 'device init (keys made inside the TA, the server key sealed as its trust anchor)');
  const device = await initDevice(dev, { ...opts, trust: keys.pubPath });
  ctx.progress(0.4, 'package (HPKE to the device, signed)');
  const summary = await createPackage({
    cfg: ctx.cfg, weights: join(ctx.out, tr.weights), range: r.tee_layers, deviceCert: device.cert, signingKey: keys.keyPath, out: pkg, policy: 'top1',
  });
  ctx.progress(0.6, 'install (verified, decrypted and sealed inside the TA)');
  const installed = await installPackage(pkg, dev, keys.pubPath, opts);
  return {
    dir: relative(ctx.out, dir),
    server_key_id: keys.keyId,
    device_id: device.device_id,
    ta_uuid: device.ta_uuid,
    package_id: summary.package_id,
    package_version: summary.version,
    model_version: installed.version,
    partition: installed.partition,
    protected_layers: summary.protected_layers,
    clear_layers: summary.clear_layers,
    files: [
      await describe(ctx.out, keys.pubPath, 'server public key: the devices\' trust anchor (--trust)'),
      await describe(ctx.out, device.cert, 'device certificate: the TA\'s HPKE and Ed25519 public keys (emulated attestation)'),
      await describe(ctx.out, pkg, 'package: clear layers, protected layers HPKE-encrypted to the device, Ed25519-signed'),
    ],
    trust: { server_public_key: relative(ctx.out, keys.pubPath), device_certificate: relative(ctx.out, device.cert) },
  };
}

// ---- fine-tune on the device -----------------------------------------------------------------

export interface FinetuneRecord {
  epochs: number;
  seconds: number;
  train_img_s: number;
  images: number;
  previous_version: number;
  model_version: number;
  test: { loss: number | null; acc: number; n: number };
  tee: PartitionReport;
}

export async function finetuneStage(ctx: StageContext): Promise<FinetuneRecord> {
  const dep = await ctx.stage<DeployRecord>('deploy');
  const dev = join(ctx.out, dep.dir, 'device');
  const model = await openInstalled(dev, { ...deviceOptions(ctx.secureMem), mode: 'train', seed: ctx.seeds[0]! });
  try {
    const { data } = ctx;
    const batches = Math.ceil(data.S.length / model.net.batch);
    const result = await train(model.net, data.train, data.S, {
      epochs: ctx.deviceEpochs,
      seed: ctx.seeds[0]!,
      onBatch: (b) => ctx.progress((b.epoch * batches + b.batch) / (ctx.deviceEpochs * batches), `epoch ${b.epoch + 1}/${ctx.deviceEpochs}`),
    });
    const saved = await model.save();
    const test = await evaluateWith(model.net, data.test);
    return {
      epochs: ctx.deviceEpochs, seconds: result.seconds, train_img_s: result.imagesPerSecond, images: data.S.length,
      previous_version: model.info.version, model_version: saved.version, test: setScore(test), tee: await partitionReport(model.net),
    };
  } finally {
    await model.close();
  }
}

// ---- predict on the device --------------------------------------------------------------------

export interface PredictRecord {
  images: number;
  correct: number;
  acc: number;
  policy: string;
  /** What the normal world received per image under the policy. */
  released: { classes_listed: number; scores: boolean };
  examples: { index: number; label: number; predicted: number }[];
  tee: PartitionReport;
}

export async function predictStage(ctx: StageContext): Promise<PredictRecord> {
  const dep = await ctx.stage<DeployRecord>('deploy');
  const dev = join(ctx.out, dep.dir, 'device');
  const model = await openInstalled(dev, { ...deviceOptions(ctx.secureMem), mode: 'infer', batch: 1 });
  try {
    const test = ctx.data.test;
    const n = Math.min(ctx.predictImages, test.count);
    const loader = new BatchLoader(test, undefined);
    const image = new Float32Array(test.channels * test.height * test.width);
    const label = new Uint8Array(1);
    let correct = 0;
    let listed = 0;
    let scores = false;
    const examples: PredictRecord['examples'] = [];
    for (let i = 0; i < n; i++) {
      loader.fill(i, 1, image, label);
      const p = await model.net.predictImage(image, 5);
      const top = p.top[0]!.class;
      if (top === label[0]) correct++;
      listed = Math.max(listed, p.top.length);
      scores ||= p.probs.length > 0 || p.top.some((t) => t.p !== undefined);
      if (examples.length < 8) examples.push({ index: i, label: label[0]!, predicted: top });
      ctx.progress((i + 1) / n, `image ${i + 1}/${n}`);
    }
    return { images: n, correct, acc: n > 0 ? correct / n : 0, policy: model.net.policy, released: { classes_listed: listed, scores }, examples, tee: await partitionReport(model.net) };
  } finally {
    await model.close();
  }
}

/** Copies the cfg into the run folder: the run keeps the network it measured, whatever happens to the original. */
export async function copyCfg(src: string, out: string): Promise<string> {
  const dst = join(out, 'model.cfg');
  await copyFile(src, dst);
  return dst;
}
