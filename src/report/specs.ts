// The report's own charts (Vega-Lite, rendered headless to SVG by charts.ts): the network with the
// recommended TEE range marked, the secure-memory bar, every fitting range, and the attack charts.
// Figure 2 and Figure 4 come from exposure-chart.ts and bench/chart.ts, as in the commands.
import type { TopLevelSpec } from 'vega-lite';
import type { RangeDocument } from '../bench/plan.js';
import type { AttackDocument } from './load.js';

const MiB = 1 << 20;
const COMMON = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json', background: 'white',
  config: { font: 'DejaVu Sans', legend: { labelLimit: 320, titleLimit: 320 } },
} as const;
const TEE = 'TEE (recommended range)';
const REE = 'normal world';

export interface NetworkLayer {
  index: number;
  label: string;
  exposure: number | null;
}

/** The network's layers left to right; bar height = exposure (trainable layers); the recommended range coloured as the TEE. */
export function networkSpec(layers: readonly NetworkLayer[], range: [number, number] | null, title: string): TopLevelSpec {
  const values = layers.map((l) => ({
    layer: l.label,
    exposure: Math.max(0, l.exposure ?? 0),
    shown: l.exposure === null ? '' : l.exposure.toFixed(2),
    where: range && l.index >= range[0] && l.index <= range[1] ? TEE : REE,
  }));
  const x = { field: 'layer', type: 'ordinal' as const, sort: layers.map((l) => l.label), title: 'layer (type and cfg index)', axis: { labelAngle: 0 } };
  return {
    ...COMMON,
    title,
    width: Math.max(360, 46 * layers.length),
    height: 180,
    data: { values },
    layer: [
      {
        mark: { type: 'bar', stroke: '#333', strokeWidth: 0.5 },
        encoding: {
          x,
          y: { field: 'exposure', type: 'quantitative', title: 'exposure (trainable layers)', scale: { domainMin: 0 } },
          color: { field: 'where', type: 'nominal', title: 'runs in', scale: { domain: [TEE, REE], range: ['#c0392b', '#95a5a6'] } },
        },
      },
      {
        mark: { type: 'text', dy: -6, fontSize: 10 },
        encoding: { x, y: { field: 'exposure', type: 'quantitative' }, text: { field: 'shown' } },
      },
    ],
  } as TopLevelSpec;
}

/** The secure memory as one bar: what the recommended range uses, and what is left of the budget. */
export function memoryBarSpec(usedBytes: number, budgetBytes: number, title: string): TopLevelSpec {
  const used = usedBytes / MiB;
  const budget = budgetBytes / MiB;
  return {
    ...COMMON,
    title,
    width: 560,
    height: 40,
    data: { values: [
      { part: 'used by the recommended range', mib: used, order: 0 },
      { part: 'free', mib: Math.max(0, budget - used), order: 1 },
    ] },
    mark: { type: 'bar', stroke: '#333', strokeWidth: 0.5 },
    encoding: {
      x: { field: 'mib', type: 'quantitative', title: `secure memory (MiB of ${budget.toFixed(2)})`, stack: 'zero', scale: { domain: [0, Math.max(budget, used)] } },
      y: { value: 20 },
      color: { field: 'part', type: 'nominal', title: null, scale: { domain: ['used by the recommended range', 'free'], range: ['#c0392b', '#e8e8e8'] } },
      order: { field: 'order' },
    },
  } as unknown as TopLevelSpec;
}

/** Every range that fits: memory against protected exposure, the recommended one marked. */
export function rangesSpec(ranges: readonly RangeDocument[], recommended: [number, number] | null, budgetBytes: number, title: string): TopLevelSpec {
  const values = ranges.map((r) => ({
    range: `${r.tee_layers[0]}:${r.tee_layers[1]}`,
    layers: r.layers.join(' '),
    mib: r.memory_bytes / MiB,
    exposure: r.exposure ?? 0,
    overhead: r.overhead_pct,
    kind: recommended && r.tee_layers[0] === recommended[0] && r.tee_layers[1] === recommended[1] ? 'recommended' : 'fits',
  }));
  return {
    ...COMMON,
    title,
    width: 520,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 70, opacity: 0.85 },
        encoding: {
          x: { field: 'mib', type: 'quantitative', title: 'secure memory needed (MiB)' },
          y: { field: 'exposure', type: 'quantitative', title: 'exposure protected (sum over the range)' },
          color: { field: 'kind', type: 'nominal', title: 'range', scale: { domain: ['recommended', 'fits'], range: ['#c0392b', '#7f8c8d'] } },
          shape: { field: 'kind', type: 'nominal', scale: { domain: ['recommended', 'fits'], range: ['diamond', 'circle'] }, legend: null },
          size: { condition: { test: "datum.kind === 'recommended'", value: 220 }, value: 60 },
        },
      },
      {
        data: { values: [{ budget: budgetBytes / MiB }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#333' },
        encoding: { x: { field: 'budget', type: 'quantitative' } },
      },
    ],
  } as unknown as TopLevelSpec;
}

/** A partition's short name for the attack charts: "none" (white-box), "last k" or "a:b". */
export function partitionName(doc: AttackDocument, layerCount: number | null): string {
  const r = doc.partition.tee_layers;
  if (doc.label) return !r ? `${doc.label} (none)` : doc.label === `${r[0]}:${r[1]}` ? doc.label : `${doc.label} (${r[0]}:${r[1]})`;
  if (!r) return 'none (k = 0)';
  if (layerCount !== null && r[1] === layerCount - 1) return `last ${layerCount - r[0]} (${r[0]}:${r[1]})`;
  return `${r[0]}:${r[1]}`;
}

function rocPoints(roc: NonNullable<AttackDocument['attacks'][number]['roc']>): { fpr: number; tpr: number }[] {
  if (Array.isArray(roc)) return roc.map(([fpr, tpr]) => ({ fpr, tpr }));
  return roc.fpr.map((f, i) => ({ fpr: f, tpr: roc.tpr[i] ?? 0 }));
}

/** ROC curves on log–log axes (the low-FPR region is what matters, Carlini et al. 2022), one line per partition. */
export function rocSpec(docs: readonly { partition: string; doc: AttackDocument }[], title: string): TopLevelSpec | null {
  const values: { curve: string; fpr: number; tpr: number }[] = [];
  // One curve per partition — its strongest attack (highest AUC) — so the chart stays readable.
  for (const { partition, doc } of docs) {
    const a = [...doc.attacks].filter((x) => x.roc).sort((x, y) => y.auc - x.auc)[0];
    if (!a?.roc) continue;
    for (const p of rocPoints(a.roc)) {
      // log axes: the zero corner is drawn at the axis floor
      values.push({ curve: `${partition}: ${a.name}`, fpr: Math.max(1e-4, p.fpr), tpr: Math.max(1e-4, p.tpr) });
    }
  }
  if (values.length === 0) return null;
  return {
    ...COMMON,
    title,
    width: 420,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false positive rate', scale: { type: 'log', domain: [1e-4, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'true positive rate', scale: { type: 'log', domain: [1e-4, 1] } },
          color: { field: 'curve', type: 'nominal', title: 'layers in the TEE: strongest attack', sort: null },
        },
      },
      {
        data: { values: [{ fpr: 1e-4, tpr: 1e-4 }, { fpr: 1, tpr: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'tpr', type: 'quantitative' } },
      },
    ],
  } as unknown as TopLevelSpec;
}

/** Attack AUC (with its bootstrap interval) against the partition, one line per attack; chance at 0.5. */
export function aucSpec(docs: readonly { partition: string; doc: AttackDocument }[], title: string): TopLevelSpec | null {
  const values = docs.flatMap(({ partition, doc }) => doc.attacks.filter((a) => Number.isFinite(a.auc)).map((a) => ({
    partition, attack: a.name, auc: a.auc, lo: a.auc_ci95?.[0] ?? a.auc, hi: a.auc_ci95?.[1] ?? a.auc,
  })));
  if (values.length === 0) return null;
  const order = [...new Set(docs.map((d) => d.partition))];
  const x = { field: 'partition', type: 'ordinal' as const, sort: order, title: 'layers in the TEE', axis: { labelAngle: 0 } };
  // Around chance, wide enough that intervals near 0.5 are not magnified into differences.
  const domain = [Math.min(0.4, ...values.map((v) => v.lo - 0.02)), Math.max(0.7, ...values.map((v) => Math.min(1, v.hi + 0.02)))];
  return {
    ...COMMON,
    title,
    width: Math.max(320, 90 * order.length),
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'errorbar', ticks: true, size: 10 },
        encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'attack ROC AUC (95 % CI)', scale: { domain } }, y2: { field: 'hi' }, color: { field: 'attack', type: 'nominal', title: 'attack' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: { filled: true, size: 50 } },
        encoding: { x, y: { field: 'auc', type: 'quantitative' }, color: { field: 'attack', type: 'nominal' } },
      },
      {
        data: { values: [{ chance: 0.5 }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#888' },
        encoding: { y: { field: 'chance', type: 'quantitative' } },
      },
    ],
  } as unknown as TopLevelSpec;
}
