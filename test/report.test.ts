// The report from any subset of results (the committed experiments as inputs), the recognition of
// result documents, SVG id namespacing, and the pipeline's time-left estimate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calibration, formatDuration, secondsLeft } from '../src/pipeline/eta.js';
import { esc, namespaceSvgIds } from '../src/report/html.js';
import { writeReport } from '../src/report/index.js';
import { kindOf } from '../src/report/load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Frozen copies of committed results (experiments/ is rewritten as runs land; these stay put).
const exp = (p: string): string => join(ROOT, 'test', 'fixtures', 'report', p);

test('result documents are recognised by their shape', async () => {
  assert.equal(kindOf(JSON.parse(await readFile(exp('exposure-mnist/exposure.json'), 'utf8'))), 'exposure');
  assert.equal(kindOf(JSON.parse(await readFile(exp('tee-cost-cifar10/bench.json'), 'utf8'))), 'bench');
  const attack = { partition: { tee_layers: null }, attacks: [{ name: 'loss', auc: 0.7 }] };
  assert.equal(kindOf(attack), 'attack');
  assert.equal(kindOf([attack, attack]), 'sweep');
  assert.equal(kindOf({ partitions: [attack] }), 'sweep');
  assert.equal(kindOf({ format: 'layerlock-pipeline/1' }), 'pipeline');
  assert.equal(kindOf({ layers: [] }), null);
  assert.equal(kindOf([1, 2]), null);
  assert.equal(kindOf(null), null);
});

test('a report from exposure results alone has the exposure sections and no others', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-report-'));
  const out = join(dir, 'r.html');
  const r = await writeReport([exp('exposure-mnist-full'), exp('exposure-fashion-mnist')], out);
  assert.deepEqual(r.sections, ['model', 'exposure', 'reproduce']);
  assert.deepEqual(r.inputs, { pipelines: 0, exposure: 2, bench: 0, plans: 0, attacks: 0 });
  assert.equal(r.charts.length, 1);
  const html = await readFile(out, 'utf8');
  // Both data sets by name, MNIST's highest layer, and its exposure value from the committed file.
  const mnist = JSON.parse(await readFile(exp('exposure-mnist-full/exposure.json'), 'utf8')) as { layers: { label: string; exposure: number }[] };
  const top = [...mnist.layers].sort((a, b) => b.exposure - a.exposure)[0]!;
  assert.match(html, new RegExp(`the most exposed layer is <b>${top.label}</b> \\(exposure ${top.exposure.toFixed(3)}\\)`));
  assert.match(html, /fashion-mnist/);
  assert.doesNotMatch(html, /id="plan"|id="cost"|id="deployment"/);
  assert.doesNotMatch(html, /<script/i);
});

test('a report from a TEE cost result alone shows Figure 4 and the ANOVA', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-report-'));
  const r = await writeReport([join(exp('tee-cost-cifar10'), 'bench.json')], join(dir, 'r.html'));
  assert.deepEqual(r.sections, ['cost', 'reproduce']);
  const html = await readFile(join(dir, 'r.html'), 'utf8');
  const bench = JSON.parse(await readFile(exp('tee-cost-cifar10/bench.json'), 'utf8')) as { anova: { time: { df1: number; df2: number } }; configs: unknown[] };
  assert.match(html, new RegExp(`F\\(${bench.anova.time.df1}, ${bench.anova.time.df2}\\)`));
  assert.equal((html.match(/<svg /g) ?? []).length, 1);
});

test('a folder without results, or a file that is not one, is refused with one clear line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-report-'));
  await mkdir(join(dir, 'empty'));
  await assert.rejects(writeReport([join(dir, 'empty')], join(dir, 'r.html')), /no layerlock results in it/);
  await writeFile(join(dir, 'x.json'), '{"hello": 1}');
  await assert.rejects(writeReport([join(dir, 'x.json')], join(dir, 'r.html')), /not a layerlock result/);
  await assert.rejects(writeReport([join(dir, 'nope')], join(dir, 'r.html')), /no such file or folder/);
});

test('SVG ids and their references get the chart prefix; text is escaped', () => {
  const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"><use xlink:href="#clip1"/><use href="#clip1"/></g></svg>';
  const out = namespaceSvgIds(svg, 'chart-3');
  assert.equal(out, '<svg><defs><clipPath id="chart-3-clip1"><rect/></clipPath></defs><g clip-path="url(#chart-3-clip1)"><use xlink:href="#chart-3-clip1"/><use href="#chart-3-clip1"/></g></svg>');
  assert.equal(esc('<a href="x">&</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
});

test('the time left calibrates later stages by the measured ones and uses a running stage\'s own rate', () => {
  const stages = [{ estimate: 10, measured: 20, done: true }, { estimate: 20, done: false }, { estimate: 30, done: false }];
  assert.equal(calibration(stages), 2);
  assert.equal(secondsLeft(stages, null), 100);
  // Half of stage 1 done in 15 s: 15 s more for it, then 60 s for the last.
  assert.equal(secondsLeft(stages, { index: 1, fraction: 0.5, elapsed: 15 }), 75);
  // Below a tenth done, the calibrated estimate minus the time spent.
  assert.equal(secondsLeft(stages, { index: 1, fraction: 0.05, elapsed: 5 }), 35 + 60);
  // Stages done earlier (no measurement) do not calibrate; one wild stage is clamped.
  assert.equal(calibration([{ estimate: 10, done: true }, { estimate: 5, done: false }]), 1);
  assert.equal(calibration([{ estimate: 10, measured: 1000, done: true }]), 5);
  assert.equal(formatDuration(45), '45 s');
  assert.equal(formatDuration(600), '10 min');
  assert.equal(formatDuration(3900), '1 h 5 min');
});
