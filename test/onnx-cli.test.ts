// The ONNX path through the CLI: `exposure --model vgg7-pytorch.onnx` on the embedded data end to end
// (tiny limits), convert, eval/predict with --model equal to the converted files, export-onnx
// (whole and --ree-only), and one-line errors for misuse and for unsupported models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importOnnx } from '../src/onnx/import.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/onnx/', import.meta.url));
const VGG = join(FIXTURES, 'vgg7-pytorch.onnx');

const dir = mkdtempSync(join(tmpdir(), 'layerlock-onnx-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, LAYERLOCK_THREADS: '1', CI: 'true', LAYERLOCK_ONNX_CACHE: join(dir, 'cache') };

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[]): Record<string, unknown> {
  const r = cli(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test('layerlock exposure --model vgg7-pytorch.onnx runs end to end on the embedded data', () => {
  const out = join(dir, 'exposure');
  const doc = json(['exposure', '--model', VGG, '--epochs', '1', '--train-limit', '200', '--test-limit', '100', '--out', out, '--jobs', '1']);
  const layers = doc['layers'] as { index: number; type: string; exposure: number }[];
  // VGG-7: 6 conv + 2 FC trainable layers, in network order.
  assert.deepEqual(layers.map((l) => l.type), ['convolutional', 'convolutional', 'convolutional', 'convolutional', 'convolutional', 'convolutional', 'connected', 'connected']);
  assert.deepEqual(layers.map((l) => l.index), [0, 1, 3, 4, 6, 7, 9, 10]);
  for (const l of layers) assert.ok(Number.isFinite(l.exposure), `layer ${l.index}: exposure ${l.exposure}`);
  const written = JSON.parse(readFileSync(join(out, 'exposure.json'), 'utf8')) as { layers: unknown[] };
  assert.equal(written.layers.length, 8);
});

test('convert writes Darknet files; eval and predict with --model give what the converted files give', () => {
  const cfg = join(dir, 'v.cfg');
  const weights = join(dir, 'v.weights');
  const c = json(['convert', VGG, '--out-cfg', cfg, '--out-weights', weights]);
  assert.equal(c['trainable_layers'], 8);
  assert.equal(c['opset'], 13);
  assert.match(readFileSync(cfg, 'utf8'), /^# imported by layerlock from .*vgg7-pytorch\.onnx/);
  const a = json(['eval', '--model', VGG, '--test-limit', '50']);
  const b = json(['eval', '--cfg', cfg, '--weights', weights, '--test-limit', '50']);
  assert.deepEqual(a, b);
  assert.equal(a['n'], 50);
  const p = json(['predict', '--model', join(FIXTURES, 'lenet-pytorch.onnx'), '--index', '2']);
  const probs = p['probs'] as number[];
  assert.equal(probs.length, 10);
  assert.ok(Math.abs(probs.reduce((s, v) => s + v, 0) - 1) < 1e-5);
});

test('export-onnx: the whole model and --ree-only; the export imports again', () => {
  const whole = join(dir, 'whole.onnx');
  const w = json(['export-onnx', '--model', VGG, '--out', whole]);
  assert.deepEqual(w['output_shape'], [10]);
  assert.equal(importOnnx(readFileSync(whole), whole).config.layers.length, 12);
  const ree = join(dir, 'ree.onnx');
  const r = json(['export-onnx', '--model', VGG, '--out', ree, '--ree-only', '--tee-last', '3']);
  assert.deepEqual(r['layers'], [0, 8]);
  assert.deepEqual(r['tee_layers'], [9, 11]);
  assert.deepEqual(r['output_shape'], [32, 3, 3]);
});

test('misuse and unsupported models fail with one clear line', () => {
  const both = cli('eval', '--model', VGG, '--cfg', 'x.cfg');
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^layerlock: give --model or --cfg, not both/);
  const notOnnx = join(dir, 'bad.onnx');
  writeFileSync(notOnnx, 'not a model at all');
  const bad = cli('convert', notOnnx, '--out-cfg', join(dir, 'b.cfg'), '--out-weights', join(dir, 'b.w'));
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /bad\.onnx: not an ONNX model/);
  const ree = cli('export-onnx', '--model', VGG, '--out', join(dir, 'x.onnx'), '--ree-only');
  assert.equal(ree.code, 1);
  assert.match(ree.stderr, /--ree-only needs the partition/);
  assert.equal(cli('export-onnx', '--help').code, 0);
  assert.match(cli('convert', '--help').stdout, /usage: layerlock convert MODEL\.onnx/);
});
