// Statistics of the cost benchmark against published numbers: one-way ANOVA tables from textbooks,
// critical values from printed t and F tables, and identities of the incomplete beta function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { betaInc, blockedAnova, diffCi95, fCdf, fSurvival, lnGamma, median, oneWayAnova, pairedRatio, summarize, tCdf, tQuantile } from '../src/bench/stats.js';

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} is not within ${tol} of ${expected}`);
}

test('ANOVA: R\'s PlantGrowth data (Dobson 1983, Table 7.1) — F(2, 27) = 4.8461, p = 0.01591 as R\'s anova(lm(weight ~ group)) prints', () => {
  // Dried weights of plants: control and two treatments, 10 each (R datasets::PlantGrowth).
  const ctrl = [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14];
  const trt1 = [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69];
  const trt2 = [6.31, 5.12, 5.54, 5.50, 5.37, 5.29, 4.92, 6.15, 5.80, 5.26];
  const a = oneWayAnova([ctrl, trt1, trt2]);
  // R: group Df 2, Sum Sq 3.7663, Mean Sq 1.8832, F 4.8461, Pr(>F) 0.01591; Residuals 27, 10.4921, 0.3886.
  assert.equal(a.df1, 2);
  assert.equal(a.df2, 27);
  close(a.ss_between, 3.7663, 5e-5, 'SS between');
  close(a.ss_within, 10.4921, 5e-5, 'SS within');
  close(a.ms_between, 1.8832, 5e-5, 'MS between');
  close(a.ms_within, 0.3886, 5e-5, 'MS within');
  close(a.F, 4.8461, 5e-5, 'F');
  close(a.p, 0.01591, 5e-6, 'p');
});

test('ANOVA: Montgomery, Design and Analysis of Experiments, tensile strength vs cotton weight percentage — F0 = 14.76 on (4, 20), P < 0.01', () => {
  // Example 3.1 (5th ed.): five cotton percentages (15, 20, 25, 30, 35 %), five observations each.
  const groups = [[7, 7, 15, 11, 9], [12, 17, 12, 18, 18], [14, 18, 18, 19, 19], [19, 25, 22, 19, 23], [7, 10, 11, 15, 11]];
  const a = oneWayAnova(groups);
  // Table 3.4: SS treatments 475.76 (4 df, MS 118.94), SS error 161.20 (20 df, MS 8.06), F0 = 14.76.
  close(a.ss_between, 475.76, 1e-9, 'SS treatments');
  close(a.ss_within, 161.20, 1e-9, 'SS error');
  close(a.ms_between, 118.94, 1e-9, 'MS treatments');
  close(a.ms_within, 8.06, 1e-9, 'MS error');
  close(a.F, 14.76, 0.005, 'F0');
  assert.deepEqual([a.df1, a.df2], [4, 20]);
  assert.ok(a.p < 0.01 && a.p > 0, `p = ${a.p}`);
  // The same F against the printed table: F(0.01; 4, 20) = 4.43 < 14.76.
  assert.ok(fSurvival(14.76, 4, 20) < fSurvival(4.43, 4, 20));
});

test('F and t distributions reproduce printed critical values', () => {
  // F tables (e.g. Montgomery Appendix IV): F(0.05; 4, 20) = 2.87, F(0.01; 4, 20) = 4.43, F(0.05; 3, 16) = 3.24.
  close(fSurvival(2.87, 4, 20), 0.05, 0.001, 'F 0.05 (4, 20)');
  close(fSurvival(4.43, 4, 20), 0.01, 0.0005, 'F 0.01 (4, 20)');
  close(fSurvival(3.24, 3, 16), 0.05, 0.001, 'F 0.05 (3, 16)');
  close(fCdf(2.87, 4, 20) + fSurvival(2.87, 4, 20), 1, 1e-12, 'cdf + survival');
  // t tables: t(0.975; 29) = 2.045, t(0.975; 9) = 2.262, t(0.975; 1) = 12.706, t(0.975; ∞) → 1.960.
  close(tQuantile(0.975, 29), 2.045, 0.0005, 't 29');
  close(tQuantile(0.975, 9), 2.262, 0.0005, 't 9');
  close(tQuantile(0.975, 1), 12.706, 0.0005, 't 1');
  close(tQuantile(0.975, 1e6), 1.960, 0.0005, 't ∞');
  close(tCdf(0, 5), 0.5, 1e-15, 't median');
  close(tQuantile(0.025, 29), -tQuantile(0.975, 29), 1e-12, 't symmetry');
});

test('incomplete beta and log-gamma identities', () => {
  close(lnGamma(1), 0, 1e-13, 'lnΓ(1)');
  close(lnGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-13, 'lnΓ(1/2)');
  close(lnGamma(11), Math.log(3628800), 1e-11, 'lnΓ(11) = ln 10!');
  for (const x of [0.01, 0.2, 0.5, 0.77, 0.99]) {
    close(betaInc(x, 1, 1), x, 1e-13, `I_x(1,1) at ${x}`);
    close(betaInc(x, 3, 1), x ** 3, 1e-13, `I_x(3,1) at ${x}`);
    close(betaInc(x, 2.5, 7) + betaInc(1 - x, 7, 2.5), 1, 1e-13, `symmetry at ${x}`);
  }
  assert.equal(betaInc(0, 2, 3), 0);
  assert.equal(betaInc(1, 2, 3), 1);
});

test('summaries: median, mean, 95 % interval of the mean; Welch interval of a difference', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const s = summarize([10, 12, 9, 11, 13, 10, 12, 11, 9, 13]);
  assert.equal(s.n, 10);
  close(s.mean, 11, 1e-12, 'mean');
  close(s.median, 11, 1e-12, 'median');
  // sd = sqrt(20/9); half-width = t(0.975, 9) · sd / √10 = 2.262 · 1.4907 / 3.1623 = 1.0664
  close(s.ci95[1] - s.mean, 2.2621571627 * Math.sqrt(20 / 9) / Math.sqrt(10), 1e-8, 'CI half-width');
  close(s.mean - s.ci95[0], s.ci95[1] - s.mean, 1e-12, 'CI symmetric');
  const one = summarize([5]);
  assert.deepEqual(one.ci95, [5, 5]);
  const d = diffCi95([11, 12, 13, 12], [10, 10, 11, 9]);
  assert.ok(d[0] < 2 && d[1] > 2 && d[0] > 0, `Welch interval ${d}`);
  assert.throws(() => oneWayAnova([[1, 2, 3]]), /two non-empty groups/);
});

test('blocked ANOVA: Montgomery, Design and Analysis of Experiments, Example 4.1 (vascular grafts: extrusion pressure × resin batch) — F0 = 8.11 on (3, 15), P = 0.0019', () => {
  // Percentage of grafts without defects; rows: extrusion pressure 8500, 8700, 8900, 9100 PSI; columns: six resin batches (blocks).
  const table = [
    [90.3, 89.2, 98.2, 93.9, 87.4, 97.9],
    [92.5, 89.5, 90.6, 94.7, 87.0, 95.8],
    [85.5, 90.8, 89.6, 86.2, 88.0, 93.4],
    [82.5, 89.5, 85.6, 87.4, 78.9, 90.7],
  ];
  const a = blockedAnova(table);
  // Table 4.4: treatments 178.17 (3 df, MS 59.39), blocks 192.25 (5 df), error 109.89 (15 df, MS 7.33), F0 = 8.11, P = 0.0019.
  close(a.ss_between, 178.17, 0.005, 'SS treatments');
  close(a.ss_blocks, 192.25, 0.005, 'SS blocks');
  close(a.ss_within, 109.89, 0.005, 'SS error');
  close(a.ms_between, 59.39, 0.005, 'MS treatments');
  close(a.ms_within, 7.33, 0.005, 'MS error');
  assert.deepEqual([a.df1, a.df2, a.df_blocks], [3, 15, 5]);
  close(a.F, 8.11, 0.005, 'F0');
  close(a.p, 0.0019, 0.00005, 'P');
  // Ignoring the blocks, the one-way ANOVA of the same numbers cannot see the pressure effect as clearly.
  assert.ok(oneWayAnova(table).p > a.p);
  assert.throws(() => blockedAnova([[1, 2], [3]]), /every treatment once in every block/);
  const pr = pairedRatio([11, 22, 33], [10, 20, 30]);
  close(pr.mean, 0.1, 1e-12, 'paired ratio');
  close(pr.ci95[0], 0.1, 1e-12, 'no spread, no interval');
});
