// The paper's Figure 2: exposure per trainable layer, one line per data set (or result folder),
// with error bars where several seeds were run: the t-based 95 % confidence interval of the mean
// over seeds when the result has it, else ± one standard deviation (older results).
import type { TopLevelSpec } from 'vega-lite';

export interface ExposureSeries {
  /** Legend label, e.g. the data set name. */
  name: string;
  layers: { label: string; exposure: number | null; std: number | null; ci95?: [number, number] | null }[];
}

export function exposureChartSpec(series: readonly ExposureSeries[], title = 'Layer-wise exposure'): TopLevelSpec {
  // x order: layers in network order, first appearance across series.
  const order: string[] = [];
  for (const s of series) for (const l of s.layers) if (!order.includes(l.label)) order.push(l.label);
  const values = series.flatMap((s) =>
    s.layers
      .filter((l) => l.exposure !== null)
      .map((l) => ({
        series: s.name,
        layer: l.label,
        exposure: l.exposure,
        lo: l.ci95 ? l.ci95[0] : l.std === null ? null : l.exposure! - l.std,
        hi: l.ci95 ? l.ci95[1] : l.std === null ? null : l.exposure! + l.std,
      })),
  );
  const withStd = values.filter((v) => v.lo !== null);
  const x = { field: 'layer', type: 'ordinal' as const, sort: order, title: 'layer', axis: { labelAngle: 0 } };
  const color = { field: 'series', type: 'nominal' as const, title: 'data set', scale: { domain: series.map((s) => s.name) } };
  // Several series: shift each a little sideways so their error bars do not cover each other.
  const offset = series.length > 1 ? { xOffset: { field: 'series', type: 'nominal' as const, sort: series.map((s) => s.name), scale: { paddingOuter: 0.6 } } } : {};
  const layer: NonNullable<Extract<TopLevelSpec, { layer: unknown }>['layer']> = [
    {
      mark: { type: 'line', point: { size: 60, filled: true } },
      encoding: { x, ...offset, y: { field: 'exposure', type: 'quantitative', title: 'exposure' }, color },
    },
  ];
  if (withStd.length > 0) {
    layer.push({
      transform: [{ filter: 'datum.lo !== null' }],
      mark: { type: 'errorbar', ticks: true, size: 12, thickness: 1.5 },
      encoding: { x, ...offset, y: { field: 'lo', type: 'quantitative', title: 'exposure' }, y2: { field: 'hi' }, color },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: withStd.length === 0 ? title : { text: title, subtitle: series.some((x) => x.layers.some((l) => l.ci95)) ? 'error bars: 95 % confidence interval of the mean over seeds (t)' : 'error bars: ± one standard deviation over seeds' },
    width: Math.max(320, 60 * order.length),
    height: 260,
    background: 'white',
    config: { font: 'DejaVu Sans' },
    data: { values },
    layer,
  } as TopLevelSpec;
}
