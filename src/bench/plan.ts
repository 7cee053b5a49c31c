// The exposure-aware partition planner: every contiguous layer range [start, end] the TEE may hold
// (the partition rules of src/tee/shared/roles.ts), its secure memory (memory model, src/bench/memory.ts),
// its predicted time overhead (cost model, src/bench/cost-model.ts) and the exposure it protects (the
// sum of the exposure of the trainable layers inside, from an exposure run's exposure.json); then a
// recommendation: the range that protects the most exposure within the budget — ties broken by lower
// overhead, then less memory — or, without exposure results, the longest suffix that fits.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetworkConfig } from '../nn/config.js';
import { PartitionError, rangeRoles } from '../tee/shared/roles.js';
import { predictOverhead, type CostParams } from './cost-model.js';
import { layerLabel, secureFootprint, type Mode } from './memory.js';

export interface LayerExposure {
  index: number;
  label: string;
  /** The layer's name in the exposure results (e.g. conv5), when it has one. */
  name: string | null;
  exposure: number | null;
  std: number | null;
}

export interface ExposureInput {
  /** The exposure.json read. */
  file: string;
  layers: LayerExposure[];
}

const trainable = (t: string): boolean => t === 'convolutional' || t === 'connected';

/**
 * Reads DIR/exposure.json (or the file itself) and checks it describes this network: one entry per
 * trainable layer, same indices and types.
 */
export async function loadExposure(path: string, config: NetworkConfig): Promise<ExposureInput> {
  let file: string;
  try {
    file = (await stat(path)).isDirectory() ? join(path, 'exposure.json') : path;
  } catch {
    throw new Error(`--exposure ${path}: no such file or folder (give an exposure run folder or its exposure.json)`);
  }
  let doc: { layers?: { index: number; type?: string; label?: string; exposure: number | null; exposure_std?: number | null }[] };
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as typeof doc;
  } catch (e) {
    throw new Error(`${file}: not an exposure result (${e instanceof SyntaxError ? 'not JSON' : (e as Error).message.split('\n')[0]})`);
  }
  if (!Array.isArray(doc.layers)) throw new Error(`${file}: no "layers" list (DESIGN.md §8 exposure.json)`);
  const want = config.layers.map((l, i) => ({ i, t: l.type })).filter((x) => trainable(x.t));
  const got = doc.layers;
  const sameLayers = got.length === want.length && got.every((l, j) => l.index === want[j]!.i && (l.type === undefined || l.type === want[j]!.t));
  if (!sameLayers) {
    throw new Error(`${file} is for another network: it lists layers ${got.map((l) => `${l.index} ${l.type ?? ''}`.trim()).join(', ')}; ` +
      `the cfg's trainable layers are ${want.map((w) => `${w.i} ${w.t}`).join(', ')}`);
  }
  return {
    file,
    layers: got.map((l) => ({ index: l.index, label: layerLabel(config, l.index), name: typeof l.label === 'string' ? l.label : null, exposure: l.exposure ?? null, std: l.exposure_std ?? null })),
  };
}

export interface RangePlan {
  start: number;
  end: number;
  layers: string[];
  memoryBytes: number;
  fits: boolean;
  overheadPct: number;
  overheadSecondsPerBatch: number;
  /**
   * Sum of the exposure of the trainable layers inside, each counted as max(0, exposure): a layer
   * cannot hold less than nothing about S, a negative value is measurement noise (null counts 0).
   * Null without exposure results.
   */
  exposure: number | null;
  /** The plain sum, negative values included. */
  exposureRaw: number | null;
  /** The trainable layers inside, with their exposure. */
  protects: { index: number; label: string; exposure: number | null }[];
  /** The range holds the prediction: under policy top1 only labels leave the TEE. */
  holdsOutput: boolean;
  /** Layers above run outside: layer end's activation leaves the TEE. */
  suffixOutside: boolean;
  /** The strongest attack measured against this range (with --attacks and a sweep that covered it). */
  attack?: MeasuredAttack | null;
}

/** The strongest measured attack against one partition (from `layerlock attack sweep`). */
export interface MeasuredAttack {
  /** The attack with the highest AUC there. */
  attack: string;
  auc: number;
  auc_ci95: [number, number];
  /** The highest TPR at 1 % FPR of any attack there. */
  tpr_at_1pct_fpr: number;
  /** Attacks measured / refused (the partition hid what they need). */
  measured: number;
  refused: number;
  /** Attacks whose AUC interval lies above 0.5 (a measurable leak), with their AUC. */
  above_chance: { attack: string; auc: number; auc_ci95: [number, number] }[];
}

/** An attack sweep's partitions, by their TEE range (null: nothing protected). */
export interface AttackInput {
  file: string;
  partitions: { tee_layers: [number, number] | null; measured: MeasuredAttack }[];
}

/** Reads DIR/sweep.json (or the file itself) of `layerlock attack sweep`. */
export async function loadAttackSweep(path: string): Promise<AttackInput> {
  let file: string;
  try {
    file = (await stat(path)).isDirectory() ? join(path, 'sweep.json') : path;
  } catch {
    throw new Error(`--attacks ${path}: no such file or folder (give an attack sweep folder or its sweep.json)`);
  }
  let doc: { partitions?: { partition?: { tee_layers?: [number, number] | null }; attacks?: { name: string; auc: number; auc_ci95: [number, number]; tpr_at_fpr: Record<string, number> }[]; refused?: unknown[] }[] };
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as typeof doc;
  } catch (e) {
    throw new Error(`${file}: not an attack sweep (${(e as Error).message.split('\n')[0]})`);
  }
  if (!Array.isArray(doc.partitions)) throw new Error(`${file}: no "partitions" list (layerlock attack sweep's sweep.json)`);
  const partitions: AttackInput['partitions'] = [];
  for (const r of doc.partitions) {
    const attacks = r.attacks ?? [];
    if (attacks.length === 0) continue;
    const best = attacks.reduce((a, b) => (b.auc > a.auc ? b : a));
    partitions.push({
      tee_layers: r.partition?.tee_layers ?? null,
      measured: {
        attack: best.name, auc: best.auc, auc_ci95: best.auc_ci95,
        tpr_at_1pct_fpr: Math.max(...attacks.map((a) => a.tpr_at_fpr['0.01'] ?? 0)),
        measured: attacks.length, refused: (r.refused ?? []).length,
        above_chance: attacks.filter((a) => a.auc_ci95[0] > 0.5).map((a) => ({ attack: a.name, auc: a.auc, auc_ci95: a.auc_ci95 })),
      },
    });
  }
  return { file, partitions };
}

export function fmtMeasured(m: MeasuredAttack | null): string {
  return m ? `${m.auc.toFixed(3)} [${m.auc_ci95[0].toFixed(3)}, ${m.auc_ci95[1].toFixed(3)}] ${m.attack}` : '—';
}

export interface PlanOptions {
  /** Measured attacks (layerlock attack sweep): what remains against each range that was attacked. */
  attacks?: AttackInput | null;
  secureMem: number;
  mode: Mode;
  /** Kernel threads in the TA (the im2col workspace is per thread). */
  threads: number;
  exposure: ExposureInput | null;
  cost: CostParams;
}

export interface Plan {
  cfg: string;
  mode: Mode;
  batch: number;
  perForward: number;
  secureMem: number;
  threads: number;
  cost: CostParams;
  exposure: { file: string; total: number; layers: LayerExposure[] } | null;
  /** Every valid range that fits, best first (most exposure, or longest suffix first without exposure). */
  ranges: RangePlan[];
  /** The attack sweep given, and what it measured with nothing protected. */
  attacks?: { file: string; unprotected: MeasuredAttack | null } | null;
  /** Valid ranges that do not fit. */
  tooBig: number;
  recommended: RangePlan | null;
  why: string;
}

const MiB = 1 << 20;
const EPS = 1e-12;

function mib(b: number): string {
  return `${(b / MiB).toFixed(2)} MiB`;
}

export function fmtExposure(x: number | null): string {
  return x === null ? '—' : x.toFixed(3);
}

function better(a: RangePlan, b: RangePlan): number {
  const ea = a.exposure ?? 0;
  const eb = b.exposure ?? 0;
  if (Math.abs(ea - eb) > EPS) return eb - ea;
  if (Math.abs(a.overheadPct - b.overheadPct) > 1e-9) return a.overheadPct - b.overheadPct;
  if (a.memoryBytes !== b.memoryBytes) return a.memoryBytes - b.memoryBytes;
  return b.start - a.start;
}

function rangeText(r: RangePlan): string {
  return `${r.start}:${r.end} (${r.layers.join(' ')})`;
}

/** What the attack sweep measured against the recommended range (a sentence), or ''. */
function measuredNote(r: RangePlan, attacks: AttackInput | null): string {
  if (!attacks) return '';
  const base = attacks.partitions.find((p) => p.tee_layers === null)?.measured;
  const vs = base ? ` (nothing protected: ${fmtMeasured(base)}, TPR at 1 % FPR ${base.tpr_at_1pct_fpr.toFixed(4)})` : '';
  if (!r.attack) return `The attack sweep (${attacks.file}) did not measure this range; run \`layerlock attack sweep --tee-layers ${r.start}:${r.end}\` to see what remains.`;
  const m = r.attack;
  const leaks = m.above_chance.map((a) => `${a.attack} ${a.auc.toFixed(3)} [${a.auc_ci95[0].toFixed(3)}, ${a.auc_ci95[1].toFixed(3)}]`);
  return `Measured against it: the strongest of ${m.measured} attacks (${m.refused} refused: the partition hides what they need) is ${fmtMeasured(m)} AUC, TPR at 1 % FPR ${m.tpr_at_1pct_fpr.toFixed(4)}${vs}. ` +
    (leaks.length === 0 ? 'Every attack\'s interval contains 0.5: no measurable membership leak remains.' : `Membership still leaks measurably (AUC interval above 0.5): ${leaks.join(', ')}.`);
}

export function planPartitions(config: NetworkConfig, cfgName: string, opts: PlanOptions): Plan {
  const L = config.layers.length;
  const perForward = Math.max(1, Math.floor(config.net.batch / config.net.subdivisions));
  const exp = new Map((opts.exposure?.layers ?? []).map((l) => [l.index, l]));
  const all: RangePlan[] = [];
  for (let start = 0; start < L; start++) {
    for (let end = start; end < L; end++) {
      let roles;
      try {
        roles = rangeRoles(config, start, end);
      } catch (e) {
        if (e instanceof PartitionError) continue;
        throw e;
      }
      const mem = secureFootprint(config, { start, end, batch: perForward, mode: opts.mode, threads: opts.threads });
      const cost = predictOverhead(config, start, end, opts.mode, opts.cost);
      const protects = [];
      for (let i = start; i <= end; i++) {
        if (!trainable(config.layers[i]!.type)) continue;
        protects.push({ index: i, label: layerLabel(config, i), exposure: exp.get(i)?.exposure ?? null });
      }
      all.push({
        start, end,
        layers: Array.from({ length: end - start + 1 }, (_, j) => layerLabel(config, start + j)),
        memoryBytes: mem.total,
        fits: mem.total <= opts.secureMem,
        overheadPct: cost.overheadPct,
        overheadSecondsPerBatch: cost.overheadSeconds,
        exposure: opts.exposure ? protects.reduce((a, p) => a + Math.max(0, p.exposure ?? 0), 0) : null,
        exposureRaw: opts.exposure ? protects.reduce((a, p) => a + (p.exposure ?? 0), 0) : null,
        protects,
        holdsOutput: roles.holdsOutput,
        suffixOutside: roles.suffixOutside,
      });
    }
  }
  if (opts.attacks) {
    for (const r of all) r.attack = opts.attacks.partitions.find((p) => p.tee_layers && p.tee_layers[0] === r.start && p.tee_layers[1] === r.end)?.measured ?? null;
  }
  const fitting = all.filter((r) => r.fits);
  const budget = `${mib(opts.secureMem)} of secure memory (${opts.mode === 'train' ? 'fine-tuning' : 'inference'}, ${perForward} images per forward, ${opts.threads} TA thread${opts.threads === 1 ? '' : 's'})`;
  let recommended: RangePlan | null = null;
  let why: string;
  let ranges: RangePlan[];
  const outputNote = (r: RangePlan): string => r.holdsOutput
    ? 'It holds the softmax and the cost layer, so only top-1 labels leave the TEE (policy top1) and the loss stays inside.'
    : r.suffixOutside
      ? `Layers above it run in the normal world, so layer ${r.end}'s activation (and the prediction) leave the TEE.`
      : '';
  if (opts.exposure) {
    ranges = [...fitting].sort(better);
    const total = opts.exposure.layers.reduce((a, l) => a + Math.max(0, l.exposure ?? 0), 0);
    recommended = ranges[0] ?? null;
    if (!recommended) {
      why = `no layer range fits in ${budget}.`;
    } else {
      const r = recommended;
      const share = total !== 0 ? ` (${((100 * (r.exposure ?? 0)) / total).toFixed(1)} % of the network's total ${total.toFixed(3)})` : '';
      const parts = [
        `--tee-layers ${r.start}:${r.end} protects exposure ${fmtExposure(r.exposure)}${share} — ${r.protects.map((p) => `${p.label} ${fmtExposure(p.exposure)}`).join(', ') || 'no trainable layer'} — ` +
        `the most of the ${fitting.length} ranges that fit in ${budget}; it needs ${mib(r.memoryBytes)} and is predicted to add ${r.overheadPct.toFixed(2)} % to the time per batch.`,
      ];
      const ties = ranges.filter((x) => x !== r && Math.abs((x.exposure ?? 0) - (r.exposure ?? 0)) <= EPS);
      if (ties.length > 0) parts.push(`${ties.length} other range${ties.length === 1 ? '' : 's'} protect${ties.length === 1 ? 's' : ''} as much; this one has the lowest predicted overhead${ties.some((t) => Math.abs(t.overheadPct - r.overheadPct) <= 1e-9) ? ' and memory' : ''}.`);
      const runnerUp = ranges.find((x) => (x.exposure ?? 0) < (r.exposure ?? 0) - EPS);
      if (runnerUp) parts.push(`Next best: ${rangeText(runnerUp)}, exposure ${fmtExposure(runnerUp.exposure)}, ${mib(runnerUp.memoryBytes)}.`);
      const bigger = all.filter((x) => !x.fits && (x.exposure ?? 0) > (r.exposure ?? 0) + EPS).sort((a, b) => a.memoryBytes - b.memoryBytes)[0];
      if (bigger) parts.push(`Protecting more would need ${mib(bigger.memoryBytes)} or more (e.g. ${rangeText(bigger)}: exposure ${fmtExposure(bigger.exposure)}).`);
      const negative = opts.exposure.layers.filter((l) => l.exposure !== null && l.exposure < 0);
      if (negative.length > 0) parts.push(`Negative exposures (${negative.map((l) => `${l.label} ${l.exposure!.toFixed(3)}`).join(', ')}) count as 0: a layer cannot hold less than nothing about S, so a negative value is measurement noise (the plain sums are in --json as exposure_raw).`);
      const missing = opts.exposure.layers.filter((l) => l.exposure === null);
      if (missing.length > 0) parts.push(`Layers without a defined exposure count 0: ${missing.map((l) => l.label).join(', ')}.`);
      const note = outputNote(r);
      if (note) parts.push(note);
      const measured = measuredNote(r, opts.attacks ?? null);
      if (measured) parts.push(measured);
      why = parts.join(' ');
    }
  } else {
    ranges = [...fitting].sort((a, b) => (b.end === L - 1 ? 1 : 0) - (a.end === L - 1 ? 1 : 0) || (b.end - b.start) - (a.end - a.start) || a.memoryBytes - b.memoryBytes);
    const suffixes = fitting.filter((r) => r.end === L - 1).sort((a, b) => a.start - b.start);
    recommended = suffixes[0] ?? null;
    if (!recommended) {
      why = `no suffix of the network fits in ${budget}.`;
    } else {
      const r = recommended;
      const k = L - r.start;
      const next = r.start > 0 ? all.find((x) => x.start === r.start - 1 && x.end === L - 1) : undefined;
      why = `no exposure results (--exposure DIR), so the longest suffix that fits: the last ${k} layers, --tee-layers ${r.start}:${r.end} (--tee-last ${k}), ` +
        `${mib(r.memoryBytes)} of ${budget}, predicted overhead ${r.overheadPct.toFixed(2)} %. The layers nearest the output are the ones the paper found most exposed, ` +
        `up to the last convolution. ${next ? `One more layer (${next.layers[0]}) would need ${mib(next.memoryBytes)}. ` : 'That is the whole network. '}${outputNote(r)}`;
      const measured = measuredNote(r, opts.attacks ?? null);
      if (measured) why += ` ${measured}`;
    }
  }
  return {
    cfg: cfgName,
    mode: opts.mode,
    batch: config.net.batch,
    perForward,
    secureMem: opts.secureMem,
    threads: opts.threads,
    cost: opts.cost,
    attacks: opts.attacks ? { file: opts.attacks.file, unprotected: opts.attacks.partitions.find((p) => p.tee_layers === null)?.measured ?? null } : null,
    exposure: opts.exposure ? { file: opts.exposure.file, total: opts.exposure.layers.reduce((a, l) => a + Math.max(0, l.exposure ?? 0), 0), layers: opts.exposure.layers } : null,
    ranges,
    tooBig: all.length - fitting.length,
    recommended,
    why,
  };
}

export function formatPlan(p: Plan, top?: number): string {
  const shown = top !== undefined ? p.ranges.slice(0, top) : p.ranges;
  const withAttacks = p.attacks !== undefined && p.attacks !== null;
  const head = ['range', 'layers', 'memory MiB', '% of budget', 'overhead', 'exposure', 'protects', ...(withAttacks ? ['attack AUC left [95 % CI]'] : [])];
  const rows = shown.map((r) => [
    `${r.start}:${r.end}${r === p.recommended ? ' *' : ''}`,
    r.layers.join(' '),
    (r.memoryBytes / MiB).toFixed(2),
    `${((100 * r.memoryBytes) / p.secureMem).toFixed(1)} %`,
    `+${r.overheadPct.toFixed(2)} %`,
    fmtExposure(r.exposure),
    r.protects.map((x) => x.label).join(' ') || '—',
    ...(withAttacks ? [fmtMeasured(r.attack ?? null)] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((s, i) => (i === 2 || i === 3 || i === 4 || i === 5 ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join('  ').trimEnd();
  const c = p.cost;
  return [
    `${p.cfg}: ${p.mode === 'train' ? 'fine-tuning' : 'inference'}, batch ${p.batch} (${p.perForward} per forward), secure memory ${(p.secureMem / MiB).toFixed(2)} MiB, ${p.threads} TA thread${p.threads === 1 ? '' : 's'}`,
    p.exposure
      ? `exposure: ${p.exposure.file} (${p.exposure.layers.map((l) => `${l.label}${l.name ? `=${l.name}` : ''} ${fmtExposure(l.exposure)}${l.std !== null ? ` ± ${l.std.toFixed(3)}` : ''}`).join(', ')})`
      : 'exposure: none given (--exposure DIR)',
    `${p.ranges.length} ranges fit, ${p.tooBig} do not${top !== undefined && top < p.ranges.length ? `; the best ${top} shown` : ''}${p.exposure ? ', most protected exposure first' : ', longest suffixes first'}:`,
    '',
    line(head),
    ...rows.map(line),
    '',
    `recommended: ${p.recommended ? `--tee-layers ${p.recommended.start}:${p.recommended.end}` : 'none'}`,
    `why: ${p.why}`,
    '',
    `overhead model: round trips × ${(c.roundTripSeconds * 1e6).toFixed(1)} µs + boundary bytes × ${(c.byteSeconds * 1e9).toFixed(3)} ns + (TEE slowdown ${c.teeSlowdown} − 1) × the range's own time, ` +
    `over the all-normal-world time per batch estimated at ${(c.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s (conv/FC) and ${(c.elementSeconds * 1e9).toFixed(2)} ns per value (other layers); constants: ${c.source}.`,
  ].join('\n');
}

/** A range as the plan's JSON document lists it (`layerlock plan --json`, the pipeline's plan.json). */
export interface RangeDocument {
  tee_layers: [number, number];
  layers: string[];
  memory_bytes: number;
  overhead_pct: number;
  overhead_s_per_batch: number;
  exposure: number | null;
  exposure_raw: number | null;
  protects: { index: number; label: string; exposure: number | null }[];
  holds_output: boolean;
  suffix_outside: boolean;
  /** With measured attacks: the strongest against this range, or null when the sweep did not cover it. */
  attack?: MeasuredAttack | null;
}

export interface PlanDocument {
  cfg: string;
  mode: Mode;
  batch: number;
  per_forward: number;
  secure_mem: number;
  threads: number;
  exposure: Plan['exposure'];
  cost_model: CostParams;
  ranges: RangeDocument[];
  attacks?: Plan['attacks'];
  ranges_too_big: number;
  recommended: { tee_layers: [number, number]; layers: string[]; memory_bytes: number; overhead_pct: number; exposure: number | null; attack?: MeasuredAttack | null } | null;
  why: string;
}

/** The plan as one JSON document (the attack fields only when measured attacks were given). */
export function planDocument(plan: Plan): PlanDocument {
  const r = plan.recommended;
  const withAttacks = plan.attacks !== undefined && plan.attacks !== null;
  return {
    cfg: plan.cfg, mode: plan.mode, batch: plan.batch, per_forward: plan.perForward, secure_mem: plan.secureMem, threads: plan.threads,
    exposure: plan.exposure,
    cost_model: plan.cost,
    ranges: plan.ranges.map((x) => ({
      tee_layers: [x.start, x.end], layers: x.layers, memory_bytes: x.memoryBytes, overhead_pct: x.overheadPct, overhead_s_per_batch: x.overheadSecondsPerBatch,
      exposure: x.exposure, exposure_raw: x.exposureRaw, protects: x.protects, holds_output: x.holdsOutput, suffix_outside: x.suffixOutside,
      ...(withAttacks ? { attack: x.attack ?? null } : {}),
    })),
    ...(withAttacks ? { attacks: plan.attacks } : {}),
    ranges_too_big: plan.tooBig,
    recommended: r ? { tee_layers: [r.start, r.end], layers: r.layers, memory_bytes: r.memoryBytes, overhead_pct: r.overheadPct, exposure: r.exposure, ...(withAttacks ? { attack: r.attack ?? null } : {}) } : null,
    why: plan.why,
  };
}
