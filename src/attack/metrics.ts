// Membership-inference metrics as the literature reports them (Carlini et al. 2022, "Membership
// Inference Attacks From First Principles"): the ROC curve of an attack score (higher = "member"),
// its AUC with a bootstrap 95 % interval, the TPR at low FPR (0.1 %, 1 %) read off the ROC by linear
// interpolation, and the membership advantage max(TPR − FPR) (Yeom et al. 2018).
import { Rng } from '../nn/rng.js';

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Members are predicted for scores ≥ threshold (+Infinity at the (0, 0) corner). */
  threshold: number;
}

export interface AttackMetrics {
  auc: number;
  auc_ci95: [number, number];
  /** TPR at the FPRs 0.001 and 0.01, interpolated on the ROC curve. */
  tpr_at_fpr: { '0.001': number; '0.01': number };
  /** Bootstrap 95 % intervals of the TPRs above. */
  tpr_at_fpr_ci95: { '0.001': [number, number]; '0.01': [number, number] };
  /** max over thresholds of TPR − FPR. */
  advantage: number;
}

/** Scores of the two groups, tied values grouped, in ascending score order. */
interface Grouped {
  /** Distinct scores, ascending. */
  values: Float64Array;
  /** For each distinct score: the member / non-member items that have it. */
  members: Int32Array[];
  nonmembers: Int32Array[];
}

function checkScores(members: ArrayLike<number>, nonmembers: ArrayLike<number>): void {
  if (members.length === 0 || nonmembers.length === 0) throw new RangeError('membership metrics need at least one member and one non-member score');
  for (const a of [members, nonmembers]) {
    for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) throw new RangeError(`score ${i} is NaN`);
  }
}

function group(members: ArrayLike<number>, nonmembers: ArrayLike<number>): Grouped {
  const nM = members.length;
  const all = Array.from({ length: nM + nonmembers.length }, (_, i) => i);
  const score = (i: number): number => (i < nM ? members[i]! : nonmembers[i - nM]!);
  all.sort((a, b) => score(a) - score(b));
  const values: number[] = [];
  const m: number[][] = [];
  const n: number[][] = [];
  for (const i of all) {
    const s = score(i);
    if (values.length === 0 || values[values.length - 1] !== s) {
      values.push(s);
      m.push([]);
      n.push([]);
    }
    if (i < nM) m[m.length - 1]!.push(i);
    else n[n.length - 1]!.push(i - nM);
  }
  return { values: Float64Array.from(values), members: m.map((x) => Int32Array.from(x)), nonmembers: n.map((x) => Int32Array.from(x)) };
}

/** Per distinct score: summed weights of members and non-members (weights: multiplicities). */
function groupWeights(g: Grouped, wm: Float64Array | null, wn: Float64Array | null): { m: Float64Array; n: Float64Array } {
  const G = g.values.length;
  const m = new Float64Array(G);
  const n = new Float64Array(G);
  for (let k = 0; k < G; k++) {
    let a = 0;
    for (const i of g.members[k]!) a += wm ? wm[i]! : 1;
    let b = 0;
    for (const j of g.nonmembers[k]!) b += wn ? wn[j]! : 1;
    m[k] = a;
    n[k] = b;
  }
  return { m, n };
}

/** AUC = P(member score > non-member score) + ½ P(tie), from group weights. */
function aucOf(m: Float64Array, n: Float64Array): number {
  let totalM = 0;
  let totalN = 0;
  let num = 0;
  for (let k = 0; k < m.length; k++) {
    num += m[k]! * (totalN + 0.5 * n[k]!);
    totalN += n[k]!;
    totalM += m[k]!;
  }
  return totalM > 0 && totalN > 0 ? num / (totalM * totalN) : NaN;
}

/** ROC points from group weights, thresholds from the highest score down. */
function rocOf(values: Float64Array, m: Float64Array, n: Float64Array): RocPoint[] {
  let totalM = 0;
  let totalN = 0;
  for (let k = 0; k < m.length; k++) {
    totalM += m[k]!;
    totalN += n[k]!;
  }
  const pts: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let k = m.length - 1; k >= 0; k--) {
    tp += m[k]!;
    fp += n[k]!;
    if (m[k] === 0 && n[k] === 0) continue;
    pts.push({ fpr: fp / totalN, tpr: tp / totalM, threshold: values[k]! });
  }
  return pts;
}

/** The ROC curve: (0, 0) first, (1, 1) last, one point per distinct score. */
export function rocCurve(members: ArrayLike<number>, nonmembers: ArrayLike<number>): RocPoint[] {
  checkScores(members, nonmembers);
  const g = group(members, nonmembers);
  const w = groupWeights(g, null, null);
  return rocOf(g.values, w.m, w.n);
}

/** Area under the ROC curve (ties count one half): the Mann–Whitney statistic. */
export function auc(members: ArrayLike<number>, nonmembers: ArrayLike<number>): number {
  checkScores(members, nonmembers);
  const g = group(members, nonmembers);
  const w = groupWeights(g, null, null);
  return aucOf(w.m, w.n);
}

/**
 * TPR at a given FPR, linearly interpolated between the ROC points around it (at an FPR reached by
 * several points, the highest TPR there: the attacker picks the best threshold with that FPR).
 */
export function tprAtFpr(roc: readonly RocPoint[], fpr: number): number {
  if (!(fpr >= 0 && fpr <= 1)) throw new RangeError(`FPR ${fpr} is not in [0, 1]`);
  let i = 0;
  while (i + 1 < roc.length && roc[i + 1]!.fpr <= fpr) i++;
  const a = roc[i]!;
  const b = roc[i + 1];
  if (!b || b.fpr === a.fpr) return a.tpr;
  return a.tpr + ((fpr - a.fpr) / (b.fpr - a.fpr)) * (b.tpr - a.tpr);
}

/** Membership advantage: max over thresholds of TPR − FPR (Yeom et al. 2018). */
export function advantage(roc: readonly RocPoint[]): number {
  let best = 0;
  for (const p of roc) best = Math.max(best, p.tpr - p.fpr);
  return best;
}

/** The empirical quantile q of sorted values (linear between order statistics). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface MetricOptions {
  /** Bootstrap replicates (default 1000). */
  bootstrap?: number;
  seed?: number;
}

/**
 * Every metric of an attack. The interval is the percentile bootstrap: members and non-members
 * are resampled with replacement separately (the groups have fixed sizes by design), 1000 times.
 */
export function attackMetrics(members: ArrayLike<number>, nonmembers: ArrayLike<number>, opts: MetricOptions = {}): AttackMetrics & { roc: RocPoint[] } {
  checkScores(members, nonmembers);
  const g = group(members, nonmembers);
  const w = groupWeights(g, null, null);
  const roc = rocOf(g.values, w.m, w.n);
  const B = opts.bootstrap ?? 1000;
  const rng = new Rng(opts.seed ?? 1, 'bootstrap');
  const aucs = new Float64Array(B);
  const t3 = new Float64Array(B);
  const t2 = new Float64Array(B);
  const wm = new Float64Array(members.length);
  const wn = new Float64Array(nonmembers.length);
  for (let b = 0; b < B; b++) {
    wm.fill(0);
    wn.fill(0);
    for (let i = 0; i < members.length; i++) wm[rng.int(members.length)]! += 1;
    for (let j = 0; j < nonmembers.length; j++) wn[rng.int(nonmembers.length)]! += 1;
    const gw = groupWeights(g, wm, wn);
    aucs[b] = aucOf(gw.m, gw.n);
    const r = rocOf(g.values, gw.m, gw.n);
    t3[b] = tprAtFpr(r, 0.001);
    t2[b] = tprAtFpr(r, 0.01);
  }
  const ci = (a: Float64Array): [number, number] => {
    const s = a.slice().sort();
    return [quantileSorted(s, 0.025), quantileSorted(s, 0.975)];
  };
  return {
    auc: aucOf(w.m, w.n),
    auc_ci95: B > 0 ? ci(aucs) : [NaN, NaN],
    tpr_at_fpr: { '0.001': tprAtFpr(roc, 0.001), '0.01': tprAtFpr(roc, 0.01) },
    tpr_at_fpr_ci95: { '0.001': B > 0 ? ci(t3) : [NaN, NaN], '0.01': B > 0 ? ci(t2) : [NaN, NaN] },
    advantage: advantage(roc),
    roc,
  };
}

/**
 * The threshold an attacker picks on its own labelled data (maximising TPR − FPR there), and what
 * it achieves when applied to other scores. Members are predicted for score ≥ threshold.
 */
export function calibrateThreshold(members: ArrayLike<number>, nonmembers: ArrayLike<number>): number {
  const roc = rocCurve(members, nonmembers);
  let best = roc[0]!;
  for (const p of roc) if (p.tpr - p.fpr > best.tpr - best.fpr) best = p;
  return best.threshold;
}

export function applyThreshold(members: ArrayLike<number>, nonmembers: ArrayLike<number>, threshold: number): { threshold: number; tpr: number; fpr: number; advantage: number; accuracy: number } {
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < members.length; i++) if (members[i]! >= threshold) tp++;
  for (let i = 0; i < nonmembers.length; i++) if (nonmembers[i]! >= threshold) fp++;
  const tpr = tp / members.length;
  const fpr = fp / nonmembers.length;
  return { threshold, tpr, fpr, advantage: tpr - fpr, accuracy: (tp + nonmembers.length - fp) / (members.length + nonmembers.length) };
}

/** A few points of a ROC curve for a chart on log–log axes (every point is kept up to `max`). */
export function thinRoc(roc: readonly RocPoint[], max = 400): RocPoint[] {
  if (roc.length <= max) return [...roc];
  const out: RocPoint[] = [];
  // Keep the low-FPR region dense (log spacing): that is where the chart looks.
  const step = Math.log(roc.length) / max;
  let last = -1;
  for (let k = 0; k < max; k++) {
    const i = Math.min(roc.length - 1, Math.floor(Math.exp(k * step)) - 1);
    if (i !== last) out.push(roc[i]!);
    last = i;
  }
  if (out[out.length - 1] !== roc[roc.length - 1]) out.push(roc[roc.length - 1]!);
  return out;
}

/** The percentile 95 % interval of bootstrap replicates. */
export function percentileCi(values: ArrayLike<number>): [number, number] {
  const s = Float64Array.from(values).sort();
  return [quantileSorted(s, 0.025), quantileSorted(s, 0.975)];
}

/** Draws n of the values with replacement. */
export function resample(values: ArrayLike<number>, rng: Rng): Float64Array {
  return Float64Array.from({ length: values.length }, () => values[rng.int(values.length)]!);
}
