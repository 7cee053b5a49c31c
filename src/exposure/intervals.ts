// What several seeds of an exposure run support: per layer the mean, the sample standard deviation
// and a t-based 95 % confidence interval of the mean over seeds; and paired comparisons (the same
// seed's two layers are paired: same split, same base model M) between layers adjacent in the
// network and adjacent in the ranking, each with the mean difference, its 95 % interval, the
// paired t statistic and its two-sided p. A difference is "supported" when its interval excludes 0.
// With one seed there is no interval and nothing is supported: the fields are null.
import { tCdf, tQuantile } from '../bench/stats.js';

export interface Interval {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); null for n < 2. */
  sd: number | null;
  /** mean ± t(0.975, n − 1) · sd / √n; null for n < 2. */
  ci95: [number, number] | null;
}

export function interval(xs: readonly number[]): Interval {
  const n = xs.length;
  if (n === 0) throw new RangeError('interval of no values');
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, sd: null, ci95: null };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) * (x - mean), 0) / (n - 1));
  const half = tQuantile(0.975, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, ci95: [mean - half, mean + half] };
}

export interface PairedComparison {
  /** Labels of the two layers; diff = b − a, per seed. */
  a: string;
  b: string;
  n: number;
  diff: Interval;
  /** Paired t statistic and two-sided p; null for n < 2 (or p null when all differences are equal). */
  t: number | null;
  p: number | null;
  /** The 95 % interval of the difference excludes 0. */
  supported: boolean;
  /** 'higher' / 'lower' (b vs a) when supported, else 'undecided'. */
  verdict: 'higher' | 'lower' | 'undecided';
}

/** b − a over paired values (same seeds, same order). */
export function pairedComparison(a: { label: string; values: readonly number[] }, b: { label: string; values: readonly number[] }): PairedComparison {
  if (a.values.length !== b.values.length) throw new RangeError(`paired values of ${a.label} and ${b.label} differ in number`);
  const d = b.values.map((x, i) => x - a.values[i]!);
  const diff = interval(d);
  let t: number | null = null;
  let p: number | null = null;
  if (diff.sd !== null) {
    if (diff.sd > 0) {
      t = diff.mean / (diff.sd / Math.sqrt(diff.n));
      p = 2 * (1 - tCdf(Math.abs(t), diff.n - 1));
    } else if (diff.mean !== 0) {
      t = diff.mean > 0 ? Infinity : -Infinity;
      p = 0;
    }
  }
  const supported = diff.ci95 !== null && (diff.ci95[0] > 0 || diff.ci95[1] < 0);
  return { a: a.label, b: b.label, n: diff.n, diff, t, p, supported, verdict: supported ? (diff.mean > 0 ? 'higher' : 'lower') : 'undecided' };
}

export interface LayerSeries {
  label: string;
  /** One exposure per seed, in the order of `seeds`. */
  values: readonly number[];
}

export interface ExposureStatistics {
  seeds: number[];
  layers: (Interval & { label: string })[];
  /** Layer i+1 vs layer i in network order. */
  network_order: PairedComparison[];
  /** Labels from the highest mean exposure down, and rank r+1 vs rank r (negative diff: lower). */
  ranking: string[];
  ranking_pairs: PairedComparison[];
}

export function exposureStatistics(seeds: readonly number[], layers: readonly LayerSeries[]): ExposureStatistics {
  const stats = layers.map((l) => ({ label: l.label, ...interval(l.values) }));
  const network_order = layers.slice(1).map((l, i) => pairedComparison(layers[i]!, l));
  const ranked = [...layers].sort((x, y) => interval(y.values).mean - interval(x.values).mean);
  const ranking_pairs = ranked.slice(1).map((l, i) => pairedComparison(ranked[i]!, l));
  return { seeds: [...seeds], layers: stats, network_order, ranking: ranked.map((l) => l.label), ranking_pairs };
}

function f3(x: number): string {
  return x.toFixed(3);
}

/** Lines for the terminal and the README: intervals, then what the seeds support. */
export function formatStatistics(s: ExposureStatistics): string {
  const lines = [`seeds: ${s.seeds.join(', ')} (n = ${s.seeds.length}); 95 % intervals are t-based over seeds`];
  for (const l of s.layers) lines.push(`  ${l.label.padEnd(6)} ${f3(l.mean)}${l.sd === null ? '' : ` ± ${f3(l.sd)} sd, 95 % CI [${f3(l.ci95![0])}, ${f3(l.ci95![1])}]`}`);
  const cmp = (c: PairedComparison): string =>
    `  ${c.b} − ${c.a}: ${f3(c.diff.mean)}${c.diff.ci95 ? ` [${f3(c.diff.ci95[0])}, ${f3(c.diff.ci95[1])}]` : ''}${c.p === null ? '' : `, p = ${c.p.toFixed(3)}`} → ${c.verdict === 'undecided' ? 'not supported' : `${c.b} ${c.verdict}`}`;
  lines.push('adjacent layers (network order), paired by seed:', ...s.network_order.map(cmp));
  lines.push(`ranking (by mean): ${s.ranking.join(' > ')}`, 'adjacent ranks, paired by seed:', ...s.ranking_pairs.map(cmp));
  return lines.join('\n');
}
