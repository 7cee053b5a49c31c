// `runPipeline` end to end on a tiny network and a slice of the embedded data: every stage leaves its
// output, the device really holds the recommended partition, predictions release labels only, the
// report has every section; a re-run continues (finished stages are not redone, a removed stage is);
// a folder made with other settings is refused; `layerlock report --json` on the run folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPointer } from '../src/deploy/device.js';
import { runPipeline, type PipelineEvent, type PipelineOptions, type PlanRecord, type PredictRecord, type DeployRecord, type FinetuneRecord, type AttackRecord } from '../src/pipeline/index.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

// 6 layers: C MP FC FC SM O; 3 trainable (6 exposure jobs).
const CFG = `
[net]
batch=32
height=28
width=28
channels=1
learning_rate=0.05
momentum=0.9
decay=0.0005

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output=16
activation=relu

[connected]
output=10
activation=linear

[softmax]

[cost]
type=sse
`;

test('the whole pipeline runs, resumes stage by stage, and refuses other settings', { timeout: 300_000 }, async () => {
  process.env['LAYERLOCK_THREADS'] = '1';
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-pipeline-'));
  const cfg = join(dir, 'tiny.cfg');
  await writeFile(cfg, CFG);
  const out = join(dir, 'run');
  const events: PipelineEvent[] = [];
  const opts: PipelineOptions = {
    cfg, data: 'embedded', trainLimit: 240, testLimit: 100, split: 0.5, resize: false, seeds: [3], epochs: 4, ftEpochs: 1,
    // 256 KiB: the convolution's activations do not fit, so the plan must pick among the upper layers
    // and the cost benchmark stops after a few configurations.
    secureMem: 256 * 1024, benchReps: 2, benchBatches: 1, deviceEpochs: 1, predictImages: 12, attackMembers: 20, jobs: 2, out,
    onEvent: (e) => events.push(e),
  };
  const r = await runPipeline(opts);

  // Every stage ran, in order, and all but the attack hook left a marker.
  const done = events.filter((e): e is Extract<PipelineEvent, { type: 'stage-done' }> => e.type === 'stage-done');
  assert.deepEqual(done.map((e) => e.stage.name), ['train', 'exposure', 'plan', 'attack', 'bench', 'deploy', 'finetune', 'predict', 'report']);
  assert.ok(done.every((e) => !e.earlier));
  assert.ok(events.some((e) => e.type === 'stage-progress' && e.stage.name === 'exposure' && e.fraction > 0), 'the exposure stage reports progress');
  assert.ok(events.every((e) => Number.isFinite(e.etaSeconds) && e.etaSeconds >= 0), 'every event carries a time-left estimate');
  for (const s of ['train', 'exposure', 'plan', 'attack', 'bench', 'deploy', 'finetune', 'predict', 'report']) assert.ok(existsSync(join(out, 'stages', `${s}.json`)), s);
  for (const f of ['attack/sweep.json', 'train/model.weights', 'exposure/exposure.json', 'plan/plan.json', 'plan/plan.txt', 'bench/bench.json', 'deploy/model.pkg', 'report.html', 'model.cfg']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }

  // The recommendation fits the budget and is what the device holds.
  const plan = JSON.parse(await readFile(join(out, 'stages/plan.json'), 'utf8')).result as PlanRecord;
  assert.ok(plan.recommended && plan.recommended.memory_bytes <= opts.secureMem);
  assert.deepEqual(r.recommended, plan.recommended);
  // The attack sweep: the white-box baseline first, the recommended range among the partitions, and
  // under top1 the score attacks refused.
  const att = JSON.parse(await readFile(join(out, 'stages/attack.json'), 'utf8')).result as AttackRecord;
  assert.equal(att.partitions[0]!.tee_layers, null);
  assert.ok(att.partitions.some((p) => JSON.stringify(p.tee_layers) === JSON.stringify(plan.recommended!.tee_layers)), 'the recommended range is attacked');
  // Ranges that hold the softmax (layer 4) release labels only: the loss attack is refused there.
  const holding = att.partitions.filter((p) => p.tee_layers !== null && p.tee_layers[0] <= 4 && p.tee_layers[1] >= 4);
  assert.ok(holding.length > 0 && holding.every((p) => p.refused.includes('loss')), 'the loss attack is refused when only labels leave the TEE');
  assert.ok(!att.partitions[0]!.refused.includes('loss'), 'nothing protected: the loss attack runs');
  assert.ok(att.partitions[0]!.best !== null && att.partitions[0]!.best.auc > 0 && att.partitions[0]!.best.auc <= 1);
  const dep = JSON.parse(await readFile(join(out, 'stages/deploy.json'), 'utf8')).result as DeployRecord;
  assert.deepEqual([dep.partition.start, dep.partition.end], plan.recommended.tee_layers);
  assert.equal(dep.files.length, 3);
  assert.ok(dep.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.bytes > 0));
  const pointer = await readPointer(join(out, 'deploy/device'));
  assert.deepEqual(pointer?.range, plan.recommended.tee_layers);
  const ft = JSON.parse(await readFile(join(out, 'stages/finetune.json'), 'utf8')).result as FinetuneRecord;
  assert.equal(ft.model_version, ft.previous_version + 1);
  assert.equal(pointer?.version, ft.model_version);
  const pr = JSON.parse(await readFile(join(out, 'stages/predict.json'), 'utf8')).result as PredictRecord;
  assert.equal(pr.images, 12);
  assert.equal(pr.policy, 'top1');
  assert.deepEqual(pr.released, { classes_listed: 1, scores: false }, 'under top1 only one label per image leaves the TEE');

  // The last line: where the report is and what was recommended.
  assert.match(r.sentence, new RegExp(`^The report is in ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/report\\.html; recommended: protect layers ${plan.recommended.tee_layers.join(':')} `));
  const html = await readFile(r.report, 'utf8');
  for (const id of ['model', 'exposure', 'plan', 'cost', 'attacks', 'deployment', 'reproduce']) assert.match(html, new RegExp(`<section id="${id}">`), id);

  // A re-run continues: nothing finished is redone; a removed stage (and only it) runs again.
  await rm(join(out, 'stages/predict.json'));
  events.length = 0;
  await runPipeline(opts);
  const again = events.filter((e): e is Extract<PipelineEvent, { type: 'stage-done' }> => e.type === 'stage-done');
  assert.deepEqual(again.filter((e) => !e.earlier).map((e) => e.stage.name), ['predict', 'report']);
  assert.equal(((await readPointer(join(out, 'deploy/device')))!.version), ft.model_version, 'the device was not fine-tuned again');

  // Other settings in the same folder are refused, naming what differs.
  await assert.rejects(runPipeline({ ...opts, epochs: 5, onEvent: undefined }), /other settings \(epochs differ\)/);

  // `layerlock report --json` on the run folder: one JSON document on stdout.
  const rep = spawnSync(process.execPath, [MAIN, 'report', out, '--out', join(dir, 'again.html'), '--json'], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  const doc = JSON.parse(rep.stdout) as { path: string; sections: string[]; charts: { marks: string[] }[]; inputs: { pipelines: number; exposure: number; bench: number; plans: number } };
  assert.deepEqual(doc.inputs, { pipelines: 1, exposure: 1, bench: 1, plans: 1, attacks: att.partitions.length });
  assert.ok(doc.sections.includes('deployment'));
  await rm(dir, { recursive: true, force: true });
});
