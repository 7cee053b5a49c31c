// From finished jobs to the exposure document (DESIGN.md §3 formula, §8 schema), its CSV form and
// the terminal table.
import type { NetworkConfig } from '../nn/config.js';
import { baseJobId, layerJobId, layerLabels, trainableIndices, type Metric, type RunIdentity } from './jobs.js';
import type { ModelScores, SetScore } from './protocol.js';
import type { BaseResult, LayerResult } from './worker.js';
import { exposureStatistics, formatStatistics, interval, type ExposureStatistics } from './intervals.js';

/** Generalization error: loss(V) − loss(S), or acc(S) − acc(V) with the acc metric. */
export function generalizationError(s: ModelScores, metric: Metric): number {
  return metric === 'loss' ? s.test.loss - s.S.loss : s.S.acc - s.test.acc;
}

/**
 * exposure_l = (gen(Mp_l) − gen(Mr_l)) / gen(Mp_l). Undefined (null) when gen(Mp_l) is 0 or either
 * input is not finite: the layer's model does not generalize worse on V than on S at all.
 */
export function exposureOf(genMp: number, genMr: number): number | null {
  if (!Number.isFinite(genMp) || !Number.isFinite(genMr) || genMp === 0) return null;
  return (genMp - genMr) / genMp;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n − 1); null for fewer than two values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}

function meanScore(list: readonly SetScore[]): SetScore {
  return { loss: mean(list.map((s) => s.loss)), acc: mean(list.map((s) => s.acc)), n: list[0]!.n };
}

export function meanScores(list: readonly ModelScores[]): ModelScores {
  return { S: meanScore(list.map((s) => s.S)), T: meanScore(list.map((s) => s.T)), test: meanScore(list.map((s) => s.test)) };
}

export interface LayerSeedEntry {
  seed: number;
  gen_mr: number;
  gen_mp: number;
  exposure: number | null;
  mr: ModelScores;
  mp: ModelScores;
  seconds: number;
}

export interface LayerEntry {
  index: number;
  label: string;
  type: 'convolutional' | 'connected';
  params: number;
  /** Means over seeds. */
  gen_mr: number;
  gen_mp: number;
  /** Mean over seeds of the per-seed exposure; null if undefined for some seed. */
  exposure: number | null;
  /** Sample std over seeds; null with a single seed. */
  exposure_std: number | null;
  /** t-based 95 % confidence interval of the mean over seeds; null with a single seed. */
  exposure_ci95: [number, number] | null;
  /** Mean losses/accuracies of Mr_l and Mp_l on S, T and the test set. */
  mr: ModelScores;
  mp: ModelScores;
  /** Job seconds (Mr + Mp, all seeds). */
  seconds: number;
  per_seed: LayerSeedEntry[];
}

export interface ExposureDocument {
  options: RunIdentity & { seeds: number[]; metric: Metric };
  base: ModelScores & {
    gen: number;
    seconds: number;
    per_seed: { seed: number; gen: number; scores: ModelScores; seconds: number; weights: string }[];
  };
  layers: LayerEntry[];
  /**
   * What the seeds support (intervals.ts): per-layer intervals and paired comparisons between
   * adjacent layers, in network order and in the ranking; null if some exposure is undefined.
   */
  statistics: ExposureStatistics | null;
  /** Sum of all job seconds (compute time; wall time is lower with parallel workers). */
  seconds: number;
  /** Wall time of the invocation that completed the run. */
  wall_seconds: number;
  kernels: string;
}

export interface JobResults {
  base: Map<number, BaseResult>;
  layers: Map<string, LayerResult>;
}

/** Builds the document; every job of every seed must be finished. */
export function buildDocument(
  config: NetworkConfig,
  options: RunIdentity & { seeds: number[]; metric: Metric },
  results: JobResults,
  wallSeconds: number,
): ExposureDocument {
  const { seeds, metric } = options;
  const need = <T>(v: T | undefined, id: string): T => {
    if (v === undefined) throw new Error(`job ${id} has not finished`);
    return v;
  };
  const bases = seeds.map((s) => need(results.base.get(s), baseJobId(s)));
  const labels = layerLabels(config);
  let seconds = bases.reduce((a, b) => a + b.seconds, 0);
  const layers: LayerEntry[] = trainableIndices(config).map((index) => {
    const per_seed: LayerSeedEntry[] = seeds.map((seed) => {
      const mr = need(results.layers.get(layerJobId(seed, index, 'mr')), layerJobId(seed, index, 'mr'));
      const mp = need(results.layers.get(layerJobId(seed, index, 'mp')), layerJobId(seed, index, 'mp'));
      const gen_mr = generalizationError(mr.scores, metric);
      const gen_mp = generalizationError(mp.scores, metric);
      return { seed, gen_mr, gen_mp, exposure: exposureOf(gen_mp, gen_mr), mr: mr.scores, mp: mp.scores, seconds: mr.seconds + mp.seconds };
    });
    const first = need(results.layers.get(layerJobId(seeds[0]!, index, 'mr')), '');
    const exps = per_seed.map((p) => p.exposure);
    const defined = exps.every((e): e is number => e !== null);
    const layerSeconds = per_seed.reduce((a, p) => a + p.seconds, 0);
    seconds += layerSeconds;
    return {
      index,
      label: labels.get(index) ?? `layer${index}`,
      type: first.type,
      params: first.params,
      gen_mr: mean(per_seed.map((p) => p.gen_mr)),
      gen_mp: mean(per_seed.map((p) => p.gen_mp)),
      exposure: defined ? mean(exps as number[]) : null,
      exposure_std: defined ? sampleStd(exps as number[]) : null,
      exposure_ci95: defined ? interval(exps as number[]).ci95 : null,
      mr: meanScores(per_seed.map((p) => p.mr)),
      mp: meanScores(per_seed.map((p) => p.mp)),
      seconds: layerSeconds,
      per_seed,
    };
  });
  const baseScores = meanScores(bases.map((b) => b.scores));
  return {
    options,
    base: {
      ...baseScores,
      gen: mean(bases.map((b) => generalizationError(b.scores, metric))),
      seconds: bases.reduce((a, b) => a + b.seconds, 0),
      per_seed: bases.map((b) => ({ seed: b.seed, gen: generalizationError(b.scores, metric), scores: b.scores, seconds: b.seconds, weights: b.weights })),
    },
    layers,
    statistics: layers.every((l) => l.per_seed.every((p) => p.exposure !== null))
      ? exposureStatistics(seeds, layers.map((l) => ({ label: l.label, values: l.per_seed.map((p) => p.exposure!) })))
      : null,
    seconds,
    wall_seconds: wallSeconds,
    kernels: bases[0]!.kernels,
  };
}

// ---- CSV -------------------------------------------------------------------------------------------

function cell(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function toCsv(doc: ExposureDocument): string {
  const sets = ['S', 'T', 'test'] as const;
  const head = ['index', 'label', 'type', 'params', 'gen_mr', 'gen_mp', 'exposure', 'exposure_std', 'seeds'];
  for (const m of ['mr', 'mp']) for (const s of sets) head.push(`${m}_${s}_loss`, `${m}_${s}_acc`);
  head.push('seconds', 'exposure_ci95_low', 'exposure_ci95_high');
  const rows = doc.layers.map((l) => {
    const r: (string | number | null)[] = [l.index, l.label, l.type, l.params, l.gen_mr, l.gen_mp, l.exposure, l.exposure_std, l.per_seed.length];
    for (const m of [l.mr, l.mp]) for (const s of sets) r.push(m[s].loss, m[s].acc);
    r.push(l.seconds, l.exposure_ci95?.[0] ?? null, l.exposure_ci95?.[1] ?? null);
    return r.map(cell).join(',');
  });
  return [head.join(','), ...rows].join('\n') + '\n';
}

// ---- terminal table --------------------------------------------------------------------------------

function fmt(x: number | null, digits = 4): string {
  return x === null || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

export function formatTable(doc: ExposureDocument): string {
  const { metric, seeds } = doc.options;
  const genName = metric === 'loss' ? 'loss(V)−loss(S)' : 'acc(S)−acc(V)';
  const b = doc.base;
  const lines = [
    `base model M (${seeds.length} seed${seeds.length === 1 ? '' : 's'}: ${seeds.join(', ')}): ` +
      `S loss ${fmt(b.S.loss)} acc ${(100 * b.S.acc).toFixed(2)} %, test loss ${fmt(b.test.loss)} acc ${(100 * b.test.acc).toFixed(2)} %, gen ${fmt(b.gen)}`,
    `gen = ${genName}; exposure = (gen(Mp) − gen(Mr)) / gen(Mp)`,
    '',
  ];
  const header = ['layer', 'type', 'params', 'gen(Mr)', 'gen(Mp)', 'exposure', ''];
  const maxExp = Math.max(1e-9, ...doc.layers.map((l) => Math.abs(l.exposure ?? 0)));
  const rows = doc.layers.map((l) => {
    const e = l.exposure === null ? '—' : l.exposure_std === null ? fmt(l.exposure, 3) : `${fmt(l.exposure, 3)} ± ${fmt(l.exposure_std, 3)}`;
    const bar = l.exposure === null || l.exposure <= 0 ? '' : '█'.repeat(Math.max(1, Math.round((20 * l.exposure) / maxExp)));
    return [`${l.label} (${l.index})`, l.type === 'convolutional' ? 'conv' : 'fc', String(l.params), fmt(l.gen_mr), fmt(l.gen_mp), e, bar];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 || i === 1 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(line(header), widths.map((w) => '─'.repeat(w)).join('  ').trimEnd(), ...rows.map(line));
  if (doc.statistics && seeds.length > 1) lines.push('', formatStatistics(doc.statistics));
  return lines.join('\n');
}
