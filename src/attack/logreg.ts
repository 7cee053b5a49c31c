// The whitebox attack's attack model: L2-regularised logistic regression on standardised features,
// fitted by Newton's method (iteratively reweighted least squares). A few dozen features and a few
// thousand examples: exact, deterministic and fast, with no learning rate to tune.

export interface LogisticModel {
  mean: Float64Array;
  std: Float64Array;
  /** Weights of the standardised features, then the intercept. */
  w: Float64Array;
  iterations: number;
}

/** Solves A x = b in place (A d×d row-major, Gaussian elimination with partial pivoting). */
function solve(A: Float64Array, b: Float64Array, d: number): Float64Array {
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(A[r * d + c]!) > Math.abs(A[p * d + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < d; k++) {
        const t = A[c * d + k]!;
        A[c * d + k] = A[p * d + k]!;
        A[p * d + k] = t;
      }
      const t = b[c]!;
      b[c] = b[p]!;
      b[p] = t;
    }
    const piv = A[c * d + c]!;
    if (Math.abs(piv) < 1e-300) continue;
    for (let r = c + 1; r < d; r++) {
      const f = A[r * d + c]! / piv;
      if (f === 0) continue;
      for (let k = c; k < d; k++) A[r * d + k] = A[r * d + k]! - f * A[c * d + k]!;
      b[r] = b[r]! - f * b[c]!;
    }
  }
  const x = new Float64Array(d);
  for (let r = d - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < d; k++) s -= A[r * d + k]! * x[k]!;
    const piv = A[r * d + r]!;
    x[r] = Math.abs(piv) < 1e-300 ? 0 : s / piv;
  }
  return x;
}

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** Rows of features (all the same length) with labels 1 (member) / 0. */
export function fitLogistic(rows: readonly Float64Array[], y: ArrayLike<number>, opts: { l2?: number; iterations?: number; start?: Float64Array } = {}): LogisticModel {
  const n = rows.length;
  if (n === 0) throw new RangeError('no training rows');
  const f = rows[0]!.length;
  const mean = new Float64Array(f);
  const std = new Float64Array(f);
  for (const r of rows) for (let k = 0; k < f; k++) mean[k]! += r[k]! / n;
  for (const r of rows) for (let k = 0; k < f; k++) std[k]! += (r[k]! - mean[k]!) ** 2 / n;
  for (let k = 0; k < f; k++) std[k] = Math.sqrt(std[k]!) || 1;
  const d = f + 1;
  const X = rows.map((r) => {
    const x = new Float64Array(d);
    for (let k = 0; k < f; k++) x[k] = (r[k]! - mean[k]!) / std[k]!;
    x[f] = 1;
    return x;
  });
  const l2 = opts.l2 ?? 1e-2;
  const w = opts.start && opts.start.length === d ? Float64Array.from(opts.start) : new Float64Array(d);
  let it = 0;
  for (; it < (opts.iterations ?? 50); it++) {
    const H = new Float64Array(d * d);
    const g = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const x = X[i]!;
      let z = 0;
      for (let k = 0; k < d; k++) z += w[k]! * x[k]!;
      const p = sigmoid(z);
      const r = y[i]! - p;
      const s = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a < d; a++) {
        g[a]! += r * x[a]!;
        const sa = s * x[a]!;
        for (let b = a; b < d; b++) H[a * d + b]! += sa * x[b]!;
      }
    }
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < a; b++) H[a * d + b] = H[b * d + a]!;
      // The ridge spares the intercept.
      if (a < f) {
        H[a * d + a]! += l2 * n;
        g[a]! -= l2 * n * w[a]!;
      }
    }
    const step = solve(H, g, d);
    let change = 0;
    for (let k = 0; k < d; k++) {
      w[k]! += step[k]!;
      change = Math.max(change, Math.abs(step[k]!));
    }
    if (change < 1e-8) {
      it++;
      break;
    }
  }
  return { mean, std, w, iterations: it };
}

/** The attack model's logit (higher = member) for one row of features. */
export function logisticScore(m: LogisticModel, row: Float64Array): number {
  const f = m.mean.length;
  let z = m.w[f]!;
  for (let k = 0; k < f; k++) z += m.w[k]! * ((row[k]! - m.mean[k]!) / m.std[k]!);
  return z;
}
