// Membership-inference charts. ROC curves on log–log axes (Carlini et al. 2022: what matters is the
// TPR at low FPR, which a linear ROC hides), one line per attack with chance as the dashed diagonal;
// and the sweep figure: attack AUC (bootstrap 95 % interval) and TPR at 1 % FPR against the
// partition, with the exposure inside the TEE below when exposure results are given.
import type { TopLevelSpec } from 'vega-lite';

export interface RocSeries {
  name: string;
  auc: number;
  points: { fpr: number; tpr: number }[];
}

export function rocChartSpec(series: readonly RocSeries[], title: string, floor: number): TopLevelSpec {
  const clamp = (x: number): number => Math.max(floor, x);
  const values = series.flatMap((s) => {
    const label = `${s.name} (AUC ${s.auc.toFixed(3)})`;
    return s.points.filter((p) => p.fpr > 0 || p.tpr > 0).map((p) => ({ attack: label, fpr: clamp(p.fpr), tpr: clamp(p.tpr) }));
  });
  const diag = [floor, Math.sqrt(floor), 1].map((x) => ({ fpr: x, tpr: x }));
  const axis = (t: string): Record<string, unknown> => ({ type: 'quantitative', title: t, scale: { type: 'log', domain: [floor, 1] } });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 360,
    height: 320,
    background: 'white',
    config: { font: 'DejaVu Sans' },
    layer: [
      { data: { values: diag }, mark: { type: 'line', strokeDash: [6, 4], color: '#888' }, encoding: { x: { field: 'fpr', ...axis('false positive rate') }, y: { field: 'tpr', ...axis('true positive rate') } } },
      {
        data: { values },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'fpr', ...axis('false positive rate') },
          y: { field: 'tpr', ...axis('true positive rate') },
          color: { field: 'attack', type: 'nominal', title: 'attack', legend: { labelLimit: 400 } },
          order: { field: 'fpr', type: 'quantitative' },
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

export interface SweepPoint {
  /** x label, e.g. "k=3" or "6:13". */
  partition: string;
  attack: string;
  auc: number;
  lo: number;
  hi: number;
  tpr1: number;
}

export function sweepChartSpec(points: readonly SweepPoint[], exposure: { partition: string; exposure: number }[] | null, title: string): TopLevelSpec {
  const order: string[] = [];
  for (const p of points) if (!order.includes(p.partition)) order.push(p.partition);
  const x = { field: 'partition', type: 'ordinal', sort: order, title: 'layers in the TEE', axis: { labelAngle: 0 } };
  const color = { field: 'attack', type: 'nominal', title: 'attack', legend: { labelLimit: 300 } };
  const panels: Record<string, unknown>[] = [
    {
      width: Math.max(300, 60 * order.length),
      height: 220,
      layer: [
        { data: { values: [{ y: 0.5 }] }, mark: { type: 'rule', strokeDash: [6, 4], color: '#888' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
        { mark: { type: 'errorbar', ticks: true, size: 8 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'attack AUC (95 % CI); chance 0.5', scale: { zero: false } }, y2: { field: 'hi' }, color } },
        { mark: { type: 'line', point: { size: 50, filled: true } }, encoding: { x, y: { field: 'auc', type: 'quantitative', title: 'attack AUC (95 % CI); chance 0.5', scale: { zero: false } }, color } },
      ],
    },
    {
      width: Math.max(300, 60 * order.length),
      height: 160,
      layer: [
        { data: { values: [{ y: 0.01 }] }, mark: { type: 'rule', strokeDash: [6, 4], color: '#888' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
        { mark: { type: 'line', point: { size: 50, filled: true } }, encoding: { x, y: { field: 'tpr1', type: 'quantitative', title: 'TPR at 1 % FPR; chance 0.01' }, color } },
      ],
    },
  ];
  if (exposure) {
    panels.push({
      width: Math.max(300, 60 * order.length),
      height: 120,
      data: { values: exposure },
      mark: { type: 'bar', color: '#999' },
      encoding: { x, y: { field: 'exposure', type: 'quantitative', title: 'exposure in the TEE' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    config: { font: 'DejaVu Sans' },
    data: { values: points },
    vconcat: panels,
  } as unknown as TopLevelSpec;
}
