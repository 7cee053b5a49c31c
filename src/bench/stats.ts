// The statistics the paper reports for its cost measurements: per configuration the mean, median and
// a 95 % confidence interval of the mean (Student t); across configurations a one-way ANOVA
// (F with its degrees of freedom and p). The distributions are computed here, from the regularised
// incomplete beta function (Lentz's continued fraction, as in Numerical Recipes §6.4), so there is
// no dependency: F and t CDFs are both incomplete-beta expressions.

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 significant digits). */
export function lnGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lnGamma needs x > 0 (got ${x})`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  const EPS = 1e-15;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta: no convergence for a=${a}, b=${b}, x=${x}`);
}

/** The regularised incomplete beta function I_x(a, b), a, b > 0, 0 ≤ x ≤ 1. */
export function betaInc(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`betaInc needs a, b > 0 (got ${a}, ${b})`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`betaInc needs 0 ≤ x ≤ 1 (got ${x})`);
  if (x === 0) return 0;
  if (x === 1) return 1;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(X ≤ f) for X ~ F(d1, d2). */
export function fCdf(f: number, d1: number, d2: number): number {
  if (!(f > 0)) return 0;
  if (!Number.isFinite(f)) return 1;
  return betaInc((d1 * f) / (d1 * f + d2), d1 / 2, d2 / 2);
}

/** P(X > f) for X ~ F(d1, d2), computed without cancellation for large f. */
export function fSurvival(f: number, d1: number, d2: number): number {
  if (!(f > 0)) return 1;
  if (!Number.isFinite(f)) return 0;
  return betaInc(d2 / (d2 + d1 * f), d2 / 2, d1 / 2);
}

/** P(T ≤ t) for T ~ Student t with ν degrees of freedom. */
export function tCdf(t: number, nu: number): number {
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0;
  const tail = 0.5 * betaInc(nu / (nu + t * t), nu / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** The q-quantile of Student t with ν degrees of freedom (bisection on tCdf; |error| < 1e-12). */
export function tQuantile(q: number, nu: number): number {
  if (!(q > 0 && q < 1)) throw new RangeError(`tQuantile needs 0 < q < 1 (got ${q})`);
  if (q === 0.5) return 0;
  if (q < 0.5) return -tQuantile(1 - q, nu);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, nu) < q) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, nu) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Sample variance (n − 1 in the denominator); NaN below two values. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / (xs.length - 1);
}

export interface Summary {
  n: number;
  mean: number;
  median: number;
  /** Sample standard deviation. */
  sd: number;
  min: number;
  max: number;
  /** 95 % confidence interval of the mean, mean ± t(0.975, n−1)·sd/√n; [mean, mean] for n = 1. */
  ci95: [number, number];
}

export function summarize(xs: readonly number[]): Summary {
  const n = xs.length;
  const m = mean(xs);
  const sd = Math.sqrt(variance(xs));
  const half = n >= 2 ? tQuantile(0.975, n - 1) * sd / Math.sqrt(n) : 0;
  return {
    n, mean: m, median: median(xs), sd: n >= 2 ? sd : NaN,
    min: n ? Math.min(...xs) : NaN, max: n ? Math.max(...xs) : NaN,
    ci95: [m - half, m + half],
  };
}

export interface Anova {
  /** F = MS_between / MS_within. */
  F: number;
  /** Degrees of freedom between groups (k − 1) and within groups (N − k). */
  df1: number;
  df2: number;
  /** P(F(df1, df2) > F). */
  p: number;
  ss_between: number;
  ss_within: number;
  ms_between: number;
  ms_within: number;
}

/**
 * One-way ANOVA of k groups (fixed effects): the usual table. Sums of squares are taken about the
 * group and grand means (two passes), which keeps data with a large common offset accurate.
 */
export function oneWayAnova(groups: readonly (readonly number[])[]): Anova {
  const gs = groups.filter((g) => g.length > 0);
  const k = gs.length;
  const N = gs.reduce((a, g) => a + g.length, 0);
  if (k < 2) throw new RangeError('one-way ANOVA needs at least two non-empty groups');
  if (N <= k) throw new RangeError('one-way ANOVA needs more observations than groups');
  const grand = mean(gs.flat());
  let ssb = 0;
  let ssw = 0;
  for (const g of gs) {
    const m = mean(g);
    ssb += g.length * (m - grand) * (m - grand);
    for (const x of g) ssw += (x - m) * (x - m);
  }
  const df1 = k - 1;
  const df2 = N - k;
  const msb = ssb / df1;
  const msw = ssw / df2;
  const F = msw > 0 ? msb / msw : msb > 0 ? Infinity : NaN;
  const p = Number.isNaN(F) ? NaN : fSurvival(F, df1, df2);
  return { F, df1, df2, p, ss_between: ssb, ss_within: ssw, ms_between: msb, ms_within: msw };
}

/**
 * Welch's 95 % interval for the difference of two means (a − b), for an overhead's uncertainty.
 * NaN bounds when either sample has fewer than two values.
 */
export function diffCi95(a: readonly number[], b: readonly number[]): [number, number] {
  const d = mean(a) - mean(b);
  if (a.length < 2 || b.length < 2) return [NaN, NaN];
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se = Math.sqrt(va + vb);
  if (se === 0) return [d, d];
  const nu = (va + vb) ** 2 / (va * va / (a.length - 1) + vb * vb / (b.length - 1));
  const t = tQuantile(0.975, nu);
  return [d - t * se, d + t * se];
}

export interface BlockedAnova extends Anova {
  /** Sum of squares and degrees of freedom of the blocks (repetitions). */
  ss_blocks: number;
  df_blocks: number;
}

/**
 * Two-way ANOVA of a randomised complete block design without replication: `table[g][b]` is the
 * observation of treatment g in block b (every treatment once per block). The blocks absorb what
 * changes between them — in the cost benchmark, the load of a shared machine from one repetition
 * to the next — so F tests the treatments against the remaining error only:
 * F = MS_treatments / MS_error on (g − 1, (g − 1)(b − 1)) degrees of freedom.
 */
export function blockedAnova(table: readonly (readonly number[])[]): BlockedAnova {
  const g = table.length;
  const b = table[0]?.length ?? 0;
  if (g < 2 || b < 2) throw new RangeError('a blocked ANOVA needs at least two treatments and two blocks');
  if (table.some((row) => row.length !== b)) throw new RangeError('a blocked ANOVA needs every treatment once in every block');
  const grand = mean(table.flat());
  let ssg = 0;
  for (const row of table) ssg += b * (mean(row) - grand) ** 2;
  let ssb = 0;
  for (let j = 0; j < b; j++) ssb += g * (mean(table.map((row) => row[j]!)) - grand) ** 2;
  let sst = 0;
  for (const row of table) for (const x of row) sst += (x - grand) ** 2;
  const sse = Math.max(0, sst - ssg - ssb);
  const df1 = g - 1;
  const df2 = (g - 1) * (b - 1);
  const msb = ssg / df1;
  const msw = sse / df2;
  const F = msw > 0 ? msb / msw : msb > 0 ? Infinity : NaN;
  return {
    F, df1, df2, p: Number.isNaN(F) ? NaN : fSurvival(F, df1, df2),
    ss_between: ssg, ss_within: sse, ms_between: msb, ms_within: msw, ss_blocks: ssb, df_blocks: b - 1,
  };
}

/**
 * Paired relative difference: mean over blocks of a[j]/b[j] − 1 with its t-interval (as fractions).
 * In the cost benchmark a[j] and b[j] ran in the same repetition, minutes apart at most, so the
 * machine's drift between repetitions cancels.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): { mean: number; ci95: [number, number] } {
  if (a.length !== b.length) throw new RangeError('paired samples must have the same length');
  const r = a.map((x, j) => x / b[j]! - 1);
  const s = summarize(r);
  return { mean: s.mean, ci95: s.ci95 };
}
