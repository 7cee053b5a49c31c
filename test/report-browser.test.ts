// The report in a real browser: Debian's headless Chromium opens a report made from the committed
// results (exposure of two data sets, the TEE cost of VGG-7, a plan computed from them) and an attack
// sweep made here, and the test checks that every chart rendered (an SVG of real size with the marks
// the report promised and titled axes), that the page made no network request and logged no error.
// It saves a screenshot. Without Chromium the test FAILS (it never passes silently): install it
// with `apt-get install -y chromium`, as .ci/run does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_COST } from '../src/bench/cost-model.js';
import { loadExposure, planDocument, planPartitions } from '../src/bench/plan.js';
import { loadCfg } from '../src/nn/cfg.js';
import { writeReport } from '../src/report/index.js';
import type { AttackDocument } from '../src/report/load.js';
import { chromiumAvailable, CHROMIUM, inspectReport } from './browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Frozen copies of committed results (experiments/ is rewritten as runs land; these stay put).
const exp = (p: string): string => join(ROOT, 'test', 'fixtures', 'report', p);

/** An attack sweep in issue 11's schema; AUC falls as more layers are protected, ROC points monotone. */
function sweep(): AttackDocument[] {
  const parts: [[number, number] | null, number][] = [[null, 0.81], [[11, 13], 0.74], [[6, 13], 0.58]];
  return parts.map(([tee_layers, auc]) => {
    const fpr = [0, 0.001, 0.01, 0.1, 0.5, 1];
    const tpr = fpr.map((x) => Math.min(1, x === 0 ? 0 : x ** (1 - (auc - 0.5))));
    return {
      partition: { tee_layers, output: tee_layers ? 'top1' : 'full' },
      members: 500,
      nonmembers: 500,
      attacks: [
        { name: 'loss', sees: ['loss'], auc, auc_ci95: [auc - 0.03, auc + 0.03], tpr_at_fpr: { '0.001': tpr[1]!, '0.01': tpr[2]! }, advantage: 2 * (auc - 0.5), roc: { fpr, tpr } },
        { name: 'label-only', sees: ['top1'], auc: 0.5 + (auc - 0.5) / 2, auc_ci95: [0.48, 0.5 + (auc - 0.5) / 2 + 0.03], tpr_at_fpr: { '0.001': 0.001, '0.01': 0.011 }, advantage: auc - 0.5 },
      ],
      stealing: null,
    };
  });
}

test('the report renders every chart in headless Chromium, offline, without errors', { timeout: 120_000 }, async (t) => {
  if (!chromiumAvailable()) {
    assert.fail(`Chromium is not installed at ${CHROMIUM}: this test needs a real browser (apt-get install -y chromium; .ci/run installs it). It does not pass without one.`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-report-browser-'));
  // A plan from the committed MNIST exposure, as `layerlock plan --json` writes it.
  const config = await loadCfg(join(ROOT, 'cfg/vgg7-mnist.cfg'));
  const exposure = await loadExposure(exp('exposure-mnist-full'), config);
  const plan = planDocument(planPartitions(config, 'cfg/vgg7-mnist.cfg', { secureMem: 16 << 20, mode: 'train', threads: 2, exposure, cost: { ...DEFAULT_COST } }));
  await writeFile(join(dir, 'plan.json'), JSON.stringify(plan));
  await mkdir(join(dir, 'attack'));
  await writeFile(join(dir, 'attack', 'sweep.json'), JSON.stringify({ partitions: sweep() }));

  const html = join(dir, 'report.html');
  const r = await writeReport([exp('exposure-mnist-full'), exp('exposure-fashion-mnist'), exp('tee-cost-mnist'), join(dir, 'plan.json'), join(dir, 'attack')], html);
  assert.deepEqual(r.sections, ['model', 'exposure', 'plan', 'cost', 'attacks', 'reproduce']);
  // Figure 2; network, memory bar, ranges; Figure 4 of tee-cost-mnist and of its short-10-batches
  // sub-folder (folders are read one level down); attack AUC and ROC.
  assert.equal(r.inputs.bench, 2);
  assert.equal(r.charts.length, 8);

  const text = await readFile(html, 'utf8');
  assert.doesNotMatch(text, /<script|<link|@import|@font-face|src="http|href="http/i, 'nothing in the page may load anything');
  assert.doesNotMatch(text, /\/work\/|\/home\//, 'no machine paths in the report');

  const shot = join(dir, 'report.png');
  const seen = await inspectReport(html, shot);
  t.diagnostic(`screenshot: ${shot}`);
  assert.deepEqual(seen.requests, [], 'the page made network requests');
  assert.deepEqual(seen.consoleErrors, [], 'the page logged errors');
  assert.equal(seen.title, 'layerlock report');
  assert.deepEqual(seen.sections, r.sections);
  assert.equal(seen.charts.length, r.charts.length, 'every chart of the report is in the page');
  for (const c of seen.charts) {
    assert.ok(c.width > 100 && c.height > 30, `${c.id}: the SVG has no real size (${c.width}×${c.height})`);
    assert.ok(c.expected.length > 0, `${c.id}: no expected marks declared`);
    for (const m of c.expected) assert.ok((c.marks[m] ?? 0) > 0, `${c.id}: no drawn "${m}" marks (found ${JSON.stringify(c.marks)})`);
    // Every chart has a titled x axis and a titled y axis except the one-bar memory chart (x only).
    assert.ok(c.axisTitles.length >= (c.expected.length === 1 && c.expected[0] === 'rect' ? 1 : 2), `${c.id}: axis titles ${JSON.stringify(c.axisTitles)}`);
  }
  const titles = seen.charts.flatMap((c) => c.axisTitles);
  for (const want of ['exposure', 'layer', 'false positive rate', 'attack ROC AUC (95 % CI)', 'secure memory needed (MiB)']) {
    assert.ok(titles.some((x) => x.startsWith(want)), `an axis titled "${want}…" (have ${JSON.stringify(titles)})`);
  }
  // The exposure chart has one line per data set: two line marks with points for 8 layers each.
  const fig2 = seen.charts[0]!;
  assert.ok((fig2.marks['symbol'] ?? 0) >= 16, `Figure 2 shows both data sets' 8 layers (${JSON.stringify(fig2.marks)})`);
  assert.ok((await stat(shot)).size > 20_000, 'the screenshot has content');
});
