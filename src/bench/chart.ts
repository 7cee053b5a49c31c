// The paper's Figure 4: execution time and memory of fine-tuning as more of the last layers move
// into the TEE — per configuration the mean with its 95 % interval, the all-in-REE baseline as a
// dashed line; a CPU-time panel between them when the runs measured it. Rendered headless by src/report/charts.ts (SVG, PNG via sharp).
import type { TopLevelSpec } from 'vega-lite';

export interface FigurePoint {
  k: number;
  /** x-axis label: k and the layer added, e.g. "3 FC". */
  label: string;
  time_mean: number;
  time_lo: number;
  time_hi: number;
  mem_mean: number;
  mem_lo: number;
  mem_hi: number;
  cpu_mean?: number;
  cpu_lo?: number;
  cpu_hi?: number;
}

export function teeCostChartSpec(points: readonly FigurePoint[], title: string, memoryTitle = 'memory (MiB): REE peak RSS + TEE arena'): TopLevelSpec {
  const base = points.find((p) => p.k === 0);
  const order = points.map((p) => p.label);
  const x = { field: 'label', type: 'ordinal' as const, sort: order, title: 'layers in the TEE (k, layer added)', axis: { labelAngle: 0 } };
  const panel = (field: 'time' | 'mem' | 'cpu', yTitle: string, baseline: number | undefined): Record<string, unknown> => {
    const layers: Record<string, unknown>[] = [
      {
        mark: { type: 'errorbar', ticks: true, size: 10, thickness: 1.5 },
        encoding: { x, y: { field: `${field}_lo`, type: 'quantitative', title: yTitle, scale: { zero: false } }, y2: { field: `${field}_hi` } },
      },
      {
        mark: { type: 'line', point: { size: 50, filled: true } },
        encoding: { x, y: { field: `${field}_mean`, type: 'quantitative', title: yTitle, scale: { zero: false } } },
      },
    ];
    if (baseline !== undefined) {
      layers.push({
        data: { values: [{ y: baseline }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#888' },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      });
    }
    return { width: Math.max(280, 42 * points.length), height: 240, layer: layers };
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    config: { font: 'DejaVu Sans' },
    data: { values: points },
    hconcat: [
      panel('time', 'fine-tuning time (s), mean ± 95 % CI', base?.time_mean),
      ...(points.every((p) => p.cpu_mean !== undefined) ? [panel('cpu', 'CPU time (s): REE + TA, all threads', base?.cpu_mean)] : []),
      panel('mem', memoryTitle, base?.mem_mean),
    ],
  } as unknown as TopLevelSpec;
}
