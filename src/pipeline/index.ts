// The main job end to end (DESIGN.md §4 pipeline/): train on S → exposure → plan for the secure-memory
// budget → attack sweep → TEE cost → keygen, device init, package, install → fine-tune on the device →
// predict → report. Each stage keeps its own output under the run folder and is marked done only when
// it has finished, so a killed run continues with the stage it was in.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { selectData } from '../data/select.js';
import { parseCfg } from '../nn/cfg.js';
import { layerShapes } from '../nn/network.js';
import { lockDevice } from '../util/fsutil.js';
import { writeReport } from '../report/index.js';
import { secondsLeft, type EtaStage } from './eta.js';
import {
  attackStage, benchStage, copyCfg, deployStage, exposureStage, finetuneStage, planStage, predictStage, trainStage,
  type AttackRecord, type BenchRecord, type DeployRecord, type ExposureRecord, type FinetuneRecord, type PlanRecord, type PredictRecord, type StageContext, type TrainRecord,
} from './stages.js';
import { checkOrRecordManifest, environment, readStage, writeStage, type PipelineSettings } from './store.js';

export { formatDuration, secondsLeft, calibration } from './eta.js';
export type { PipelineManifest, PipelineSettings, StageRecord } from './store.js';
export type { TrainRecord, ExposureRecord, PlanRecord, BenchRecord, DeployRecord, FinetuneRecord, PredictRecord, AttackRecord } from './stages.js';

export interface PipelineOptions {
  cfg: string;
  /** 'embedded' or a directory. */
  data: string;
  trainLimit?: number | undefined;
  testLimit?: number | undefined;
  split: number;
  resize: boolean;
  /** The first seed trains the deployed model; several seeds give the exposure intervals. */
  seeds: number[];
  /** Epochs of the base model on S. */
  epochs: number;
  /**
   * Trained weights for cfg (an imported ONNX model, `run --model`): the train stage starts from
   * them instead of Darknet's initialisation, so with epochs 0 they are the model M. One seed only.
   */
  baseWeights?: string | undefined;
  /** Epochs of each exposure fine-tuning job (E_ft). */
  ftEpochs: number;
  secureMem: number;
  benchReps: number;
  benchBatches: number;
  /** Epochs of the fine-tuning on the device. */
  deviceEpochs: number;
  /** Test images predicted on the device. */
  predictImages: number;
  /** Evaluation members of the attack sweep. */
  attackMembers: number;
  /** Exposure worker processes (default: the cores). */
  jobs?: number | undefined;
  out: string;
  /** The command line, recorded for the report's "how to reproduce". */
  command?: string | undefined;
  onEvent?: (e: PipelineEvent) => void;
}

/**
 * The embedded default: VGG-7 on S = 1 000 images of the embedded MNIST slice for 30 epochs, which
 * overfits it (S loss ≈ 0.01, test ≈ 0.2) — exposure needs a generalisation gap to measure, and on a
 * model that generalises well it is noise. E_ft = 10 keeps the 16 exposure jobs to about half a minute.
 */
export const EMBEDDED_DEFAULTS = {
  trainLimit: 2000,
  epochs: 30,
  ftEpochs: 10,
  benchReps: 3,
  benchBatches: 3,
  deviceEpochs: 1,
  predictImages: 50,
  attackMembers: 200,
} as const;

export type StageName = 'train' | 'exposure' | 'plan' | 'attack' | 'bench' | 'deploy' | 'finetune' | 'predict' | 'report';

export interface StageInfo {
  name: StageName;
  title: string;
  /** A-priori seconds on the 2-core development machine. */
  estimate: number;
  /** Finished by an earlier invocation. */
  done: boolean;
}

export type PipelineEvent =
  | { type: 'start'; stages: StageInfo[]; etaSeconds: number }
  | { type: 'stage-start'; index: number; stage: StageInfo; etaSeconds: number }
  | { type: 'stage-progress'; index: number; stage: StageInfo; fraction: number; detail: string; etaSeconds: number }
  | { type: 'stage-done'; index: number; stage: StageInfo; seconds: number; earlier: boolean; summary: string; etaSeconds: number };

export interface PipelineResult {
  out: string;
  report: string;
  recommended: PlanRecord['recommended'];
  /** One sentence: where the report is and what was recommended. */
  sentence: string;
  stages: { name: StageName; seconds: number; earlier: boolean; summary: string }[];
  seconds: number;
}

/** Nominal training speed of VGG-7 on the 2-core machine with both cores (images/s), for the estimates. */
const NOMINAL_IMG_S = 2500;

function estimates(o: PipelineOptions, sCount: number, trainable: number): Record<StageName, number> {
  const train = (o.epochs * sCount) / NOMINAL_IMG_S + 2;
  const exposureJobs = 2 * trainable * o.ftEpochs * sCount;
  const bases = o.seeds.length > 1 ? o.seeds.length * o.epochs * sCount : 0;
  return {
    train,
    exposure: (exposureJobs + bases) / NOMINAL_IMG_S + 3,
    plan: 1,
    // per partition: the victim's answers, a substitute trained on T (2 epochs), the attack models
    attack: 4 * (4 + (2 * (sCount + o.attackMembers * 4)) / (NOMINAL_IMG_S / 2)),
    bench: o.benchReps * 10 * 1.7 + 5,
    deploy: 6,
    finetune: (o.deviceEpochs * sCount) / (NOMINAL_IMG_S / 2) + 4,
    predict: 2 + o.predictImages * 0.01,
    report: 5,
  };
}

const TITLES: Record<StageName, string> = {
  train: 'train on S',
  exposure: 'layer-wise exposure',
  plan: 'plan the partition',
  attack: 'attack sweep',
  bench: 'TEE cost',
  deploy: 'keygen, device init, package, install',
  finetune: 'fine-tune on the device',
  predict: 'predict on the device',
  report: 'report',
};

const ORDER: StageName[] = ['train', 'exposure', 'plan', 'attack', 'bench', 'deploy', 'finetune', 'predict', 'report'];

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const mib = (b: number): string => `${(b / (1 << 20)).toFixed(1)} MiB`;

/** One line per finished stage, for the progress display. */
function summaryOf(name: StageName, r: unknown): string {
  switch (name) {
    case 'train': {
      const t = r as TrainRecord;
      return `S acc ${pct(t.S.acc)}, test acc ${pct(t.test.acc)}, gen ${t.gen?.toFixed(3) ?? '—'} (${Math.round(t.train_img_s)} img/s)`;
    }
    case 'exposure': {
      const e = r as ExposureRecord;
      const top = [...e.layers].filter((l) => l.exposure !== null).sort((a, b) => b.exposure! - a.exposure!)[0];
      return `highest: ${top ? `${top.label} ${top.exposure!.toFixed(3)}` : '—'}; ${e.layers.map((l) => l.exposure?.toFixed(2) ?? '—').join(' ')}`;
    }
    case 'plan': {
      const p = r as PlanRecord;
      return p.recommended ? `recommended --tee-layers ${p.recommended.tee_layers.join(':')} (${p.recommended.layers.join(' ')}), ${mib(p.recommended.memory_bytes)}, of ${p.ranges_fit} ranges that fit` : 'no range fits';
    }
    case 'attack': {
      const a = r as AttackRecord;
      return a.partitions.map((p) => `${p.label}: ${p.best ? `${p.best.attack} AUC ${p.best.auc.toFixed(2)}` : 'all refused'}`).join(', ');
    }
    case 'bench': {
      const b = r as BenchRecord;
      return `${b.configs} configurations${b.deepest ? `, k = ${b.deepest.k}: ${b.deepest.overhead_time_pct >= 0 ? '+' : ''}${b.deepest.overhead_time_pct.toFixed(1)} % time, ${mib(b.deepest.tee_peak_bytes)} in the TEE` : ''}; ANOVA p = ${b.anova_time_p.toPrecision(2)}`;
    }
    case 'deploy': {
      const d = r as DeployRecord;
      return `device ${d.device_id.slice(0, 12)}…, package v${d.package_version} installed as model version ${d.model_version}, layers ${d.partition.start}:${d.partition.end} sealed`;
    }
    case 'finetune': {
      const f = r as FinetuneRecord;
      return `${f.epochs} epoch${f.epochs === 1 ? '' : 's'} in ${f.seconds.toFixed(1)} s, test acc ${pct(f.test.acc)}, saved as version ${f.model_version}`;
    }
    case 'predict': {
      const p = r as PredictRecord;
      return `${p.correct}/${p.images} correct; released per image: ${p.released.scores ? 'scores' : `${p.released.classes_listed} class label${p.released.classes_listed === 1 ? '' : 's'}, no scores`} (policy ${p.policy})`;
    }
    case 'report':
      return (r as { path: string }).path;
  }
}

function sentenceOf(report: string, plan: PlanRecord | null): string {
  if (!plan?.recommended) return `The report is in ${report}; no layer range was recommended.`;
  const rec = plan.recommended;
  const share = /\(([\d.]+ %) of the network's total/.exec(plan.why)?.[1];
  return `The report is in ${report}; recommended: protect layers ${rec.tee_layers.join(':')} (${rec.layers.join(' ')}) in the TEE with --tee-layers ${rec.tee_layers.join(':')}, ` +
    `which hold exposure ${rec.exposure?.toFixed(3) ?? '—'}${share ? ` (${share} of the model's total)` : ''} in ${mib(rec.memory_bytes)} of secure memory.`;
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const t0 = performance.now();
  const out = resolve(o.out);
  // The cfg is read (and parsed) before anything is created: a wrong --cfg leaves no run folder behind.
  const cfgText = await readFile(o.cfg, 'utf8');
  parseCfg(cfgText, o.cfg);
  await mkdir(join(out, 'stages'), { recursive: true });
  const release = await lockDevice(out);
  try {
    // Several seeds mean several bases trained from scratch by the exposure stage, which would not be the given model.
    if (o.baseWeights !== undefined && o.seeds.length !== 1) throw new Error('given trained weights are one model: give one seed');
    const settings: PipelineSettings = {
      cfg: o.cfg, cfg_sha256: createHash('sha256').update(cfgText).digest('hex'), data: o.data === 'embedded' ? 'embedded' : resolve(o.data),
      train_limit: o.trainLimit ?? null, test_limit: o.testLimit ?? null, split: o.split, resize: o.resize, seeds: o.seeds, epochs: o.epochs,
      ft_epochs: o.ftEpochs, secure_mem: o.secureMem, bench_reps: o.benchReps, bench_batches: o.benchBatches, device_epochs: o.deviceEpochs,
      predict_images: o.predictImages, attack_members: o.attackMembers,
      // Only when given, so the folders of runs without it keep their settings.
      ...(o.baseWeights !== undefined ? { base_weights_sha256: createHash('sha256').update(await readFile(o.baseWeights)).digest('hex') } : {}),
    };
    await checkOrRecordManifest(out, { format: 'layerlock-pipeline/1', settings, environment: environment(), command: o.command ?? null, started_at: new Date().toISOString() });
    const cfg = await copyCfg(o.cfg, out);
    const config = parseCfg(cfgText, cfg);
    const input = layerShapes(config)[0]!;
    const dataSpec = { data: settings.data, trainLimit: o.trainLimit, testLimit: o.testLimit, split: o.split, resize: o.resize };
    const data = await selectData({ ...dataSpec, seed: o.seeds[0]! }, { inShape: input });
    const trainable = config.layers.filter((l) => l.type === 'convolutional' || l.type === 'connected').length;
    const est = estimates(o, data.S.length, trainable);

    const stages: StageInfo[] = [];
    for (const name of ORDER) stages.push({ name, title: TITLES[name], estimate: est[name], done: (await readStage(out, name)) !== null });
    const eta: EtaStage[] = stages.map((s) => ({ estimate: s.estimate, done: s.done }));
    const emit = (e: PipelineEvent): void => o.onEvent?.(e);
    emit({ type: 'start', stages, etaSeconds: secondsLeft(eta, null) });

    let current: { index: number; started: number } | null = null;
    const ctx: StageContext = {
      out, cfg, config, data, dataSpec, seeds: o.seeds, epochs: o.epochs, baseWeights: o.baseWeights, ftEpochs: o.ftEpochs, secureMem: o.secureMem, benchReps: o.benchReps,
      benchBatches: o.benchBatches, deviceEpochs: o.deviceEpochs, predictImages: o.predictImages, attackMembers: o.attackMembers, jobs: o.jobs,
      progress: (fraction, detail) => {
        if (!current) return;
        const elapsed = (performance.now() - current.started) / 1000;
        emit({ type: 'stage-progress', index: current.index, stage: stages[current.index]!, fraction, detail, etaSeconds: secondsLeft(eta, { index: current.index, fraction, elapsed }) });
      },
      stage: async <R>(name: string): Promise<R> => {
        const rec = await readStage<R>(out, name);
        if (!rec) throw new Error(`internal: stage ${name} has not finished`);
        return rec.result;
      },
    };
    const results: PipelineResult['stages'] = [];
    const reportPath = join(out, 'report.html');
    const bodies: Record<StageName, () => Promise<unknown>> = {
      train: () => trainStage(ctx),
      exposure: () => exposureStage(ctx),
      plan: () => planStage(ctx),
      attack: () => attackStage(ctx),
      bench: () => benchStage(ctx),
      deploy: () => deployStage(ctx),
      finetune: () => finetuneStage(ctx),
      predict: () => predictStage(ctx),
      report: async () => ({ path: (await writeReport([out], reportPath)).path }),
    };
    for (const [index, stage] of stages.entries()) {
      const earlier = await readStage(out, stage.name);
      // The report is always rewritten: it is cheap and must show every stage that has finished.
      if (earlier && stage.name !== 'report') {
        const summary = summaryOf(stage.name, earlier.result);
        results.push({ name: stage.name, seconds: earlier.seconds, earlier: true, summary });
        emit({ type: 'stage-done', index, stage, seconds: earlier.seconds, earlier: true, summary, etaSeconds: secondsLeft(eta, null) });
        continue;
      }
      current = { index, started: performance.now() };
      emit({ type: 'stage-start', index, stage, etaSeconds: secondsLeft(eta, { index, fraction: 0, elapsed: 0 }) });
      const result = await bodies[stage.name]();
      const seconds = (performance.now() - current.started) / 1000;
      current = null;
      eta[index] = { estimate: stage.estimate, measured: seconds, done: true };
      await writeStage(out, { name: stage.name, seconds, finished_at: new Date().toISOString(), result });
      const summary = summaryOf(stage.name, result);
      results.push({ name: stage.name, seconds, earlier: false, summary });
      emit({ type: 'stage-done', index, stage, seconds, earlier: false, summary, etaSeconds: secondsLeft(eta, null) });
    }
    const plan = (await readStage<PlanRecord>(out, 'plan'))?.result ?? null;
    return {
      out, report: reportPath, recommended: plan?.recommended ?? null, sentence: sentenceOf(reportPath, plan), stages: results,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await release();
  }
}
