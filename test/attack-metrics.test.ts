// Membership-inference metrics on synthetic scores whose ROC is known: exact AUC with ties, TPR at
// low FPR interpolated on the ROC, advantage, and the bootstrap interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { advantage, applyThreshold, attackMetrics, auc, calibrateThreshold, rocCurve, tprAtFpr } from '../src/attack/metrics.js';
import { Rng } from '../src/nn/rng.js';

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf, |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function normals(n: number, mean: number, seed: number): Float64Array {
  const r = new Rng(seed, 'test');
  return Float64Array.from({ length: n }, () => mean + r.normal());
}

test('AUC counts ties as one half (Mann–Whitney) and is symmetric', () => {
  // member 3 beats 1, 2 and ties 3; 4 and 5 beat all three: (2.5 + 3 + 3) / 9
  assert.equal(auc([3, 4, 5], [1, 2, 3]), 8.5 / 9);
  assert.equal(auc([1, 1], [1, 1, 1]), 0.5);
  assert.equal(auc([2, 3], [0, 1]), 1);
  assert.equal(auc([0, 1], [2, 3]), 0);
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 12 }),
    fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 12 }),
    (m, n) => {
      let wins = 0;
      for (const a of m) for (const b of n) wins += a > b ? 1 : a === b ? 0.5 : 0;
      const brute = wins / (m.length * n.length);
      assert.ok(Math.abs(auc(m, n) - brute) < 1e-12);
      assert.ok(Math.abs(auc(m, n) + auc(n, m) - 1) < 1e-12);
    },
  ));
});

test('the ROC curve runs from (0, 0) to (1, 1); TPR at an FPR is interpolated on it', () => {
  const roc = rocCurve([3, 4, 5], [1, 2, 3]);
  assert.deepEqual(roc[0], { fpr: 0, tpr: 0, threshold: Infinity });
  assert.deepEqual([roc.at(-1)!.fpr, roc.at(-1)!.tpr], [1, 1]);
  // Perfect separation: TPR 1 already at FPR 0.
  const perfect = rocCurve([5, 6, 7], [1, 2]);
  assert.equal(tprAtFpr(perfect, 0.001), 1);
  assert.equal(advantage(perfect), 1);
  // All scores equal: one straight segment, TPR = FPR everywhere.
  const flat = rocCurve([1, 1, 1, 1], [1, 1, 1, 1]);
  assert.ok(Math.abs(tprAtFpr(flat, 0.01) - 0.01) < 1e-12);
  assert.ok(Math.abs(tprAtFpr(flat, 0.3) - 0.3) < 1e-12);
  assert.equal(advantage(flat), 0);
  // Between (0.5, 0.5) and (1, 1) of members {2, 0}, non-members {1, 0}: points (0,0) (0,.5) (.5,.5) (1,1).
  const r = rocCurve([2, 0], [1, 0]);
  assert.equal(tprAtFpr(r, 0), 0.5);
  assert.equal(tprAtFpr(r, 0.75), 0.75);
});

test('binormal scores: AUC, TPR at 0.1 % and 1 % FPR and advantage match the closed forms', () => {
  const d = 1;
  const n = 20000;
  const m = attackMetrics(normals(n, d, 1), normals(n, 0, 2), { bootstrap: 200, seed: 3 });
  const trueAuc = phi(d / Math.SQRT2); // 0.7602
  const tpr = (f: number): number => {
    // 1 − Φ(Φ⁻¹(1 − f) − d), Φ⁻¹ by bisection
    let lo = -10;
    let hi = 10;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (phi(mid) < 1 - f) lo = mid;
      else hi = mid;
    }
    return 1 - phi(lo - d);
  };
  assert.ok(Math.abs(m.auc - trueAuc) < 0.01, `AUC ${m.auc} vs ${trueAuc}`);
  assert.ok(m.auc_ci95[0] < m.auc && m.auc < m.auc_ci95[1], `CI ${m.auc_ci95} around ${m.auc}`);
  const width = m.auc_ci95[1] - m.auc_ci95[0];
  assert.ok(width > 0.004 && width < 0.02, `CI width ${width}`); // ≈ 4 × 0.0024 for n = 20 000
  assert.ok(Math.abs(m.tpr_at_fpr['0.01'] - tpr(0.01)) < 0.015, `TPR@1% ${m.tpr_at_fpr['0.01']} vs ${tpr(0.01)}`);
  assert.ok(Math.abs(m.tpr_at_fpr['0.001'] - tpr(0.001)) < 0.01, `TPR@0.1% ${m.tpr_at_fpr['0.001']} vs ${tpr(0.001)}`);
  // max TPR − FPR of two unit normals d apart: 2Φ(d/2) − 1
  assert.ok(Math.abs(m.advantage - (2 * phi(d / 2) - 1)) < 0.015, `advantage ${m.advantage}`);
  const [lo, hi] = m.tpr_at_fpr_ci95['0.01'];
  assert.ok(lo <= m.tpr_at_fpr['0.01'] && m.tpr_at_fpr['0.01'] <= hi);
});

test('the bootstrap 95 % interval covers the true AUC in about 95 % of repeated experiments', () => {
  const trueAuc = phi(0.5 / Math.SQRT2);
  let covered = 0;
  const runs = 60;
  for (let r = 0; r < runs; r++) {
    const m = attackMetrics(normals(300, 0.5, 100 + r), normals(300, 0, 200 + r), { bootstrap: 200, seed: r });
    if (m.auc_ci95[0] <= trueAuc && trueAuc <= m.auc_ci95[1]) covered++;
  }
  // Binomial(60, 0.95): below 51 with probability < 1 %; a broken interval (e.g. half as wide) covers ~66 %.
  assert.ok(covered >= 51 && covered <= 60, `covered ${covered} of ${runs}`);
});

test('no signal: the AUC interval contains 0.5; a real shift moves it away', () => {
  const same = attackMetrics(normals(500, 0, 4), normals(500, 0, 5), { bootstrap: 500, seed: 1 });
  assert.ok(same.auc_ci95[0] < 0.5 && 0.5 < same.auc_ci95[1], `CI ${same.auc_ci95}`);
  const shifted = attackMetrics(normals(500, 0.5, 4), normals(500, 0, 5), { bootstrap: 500, seed: 1 });
  assert.ok(shifted.auc_ci95[0] > 0.55, `CI ${shifted.auc_ci95}`);
});

test('a threshold calibrated on one pool is applied to another', () => {
  const t = calibrateThreshold([5, 6, 7, 8], [1, 2, 3, 6]);
  assert.equal(t, 5);
  const r = applyThreshold([4, 6, 9], [1, 5, 2], t);
  assert.deepEqual([r.tpr, r.fpr], [2 / 3, 1 / 3]);
  assert.ok(Math.abs(r.advantage - 1 / 3) < 1e-12);
  assert.ok(Math.abs(r.accuracy - 4 / 6) < 1e-12);
});
