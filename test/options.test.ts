// The shared rules in the library (issue 14, "say it once"): secure-memory sizes, the last-k rule,
// layer ranges, output policies, the batch override, and data selection — what every command, the
// benchmark, the attacks and the pipeline now call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSets, selectData } from '../src/data/select.js';
import { parseCfg } from '../src/nn/cfg.js';
import { withBatch } from '../src/nn/model.js';
import { DEFAULT_SECURE_MEM } from '../src/tee/client.js';
import { lastLayers, parseByteSize, parseLayerRange, parseTeeOutput, secureMemory, teeRange } from '../src/tee/options.js';

test('secure-memory sizes: binary and decimal units, bytes, the default, and refusals', () => {
  assert.equal(parseByteSize('16MiB'), 16 * 1024 * 1024);
  assert.equal(parseByteSize('16M'), 16 * 1024 * 1024);
  assert.equal(parseByteSize('16MB'), 16_000_000);
  assert.equal(parseByteSize('512KiB'), 512 * 1024);
  assert.equal(parseByteSize('1.5GiB'), 1.5 * 2 ** 30);
  assert.equal(parseByteSize('33554432'), 33554432);
  assert.equal(secureMemory(undefined), DEFAULT_SECURE_MEM);
  assert.equal(secureMemory('1KiB'), 1024);
  assert.throws(() => parseByteSize('lots'), RangeError);
  assert.throws(() => parseByteSize('0'), /at least one byte/);
  assert.throws(() => parseByteSize('1000000GiB'), /more than this machine's memory/);
});

test('the last k layers and a:b ranges', () => {
  assert.equal(lastLayers(0, 14), null);
  assert.deepEqual(lastLayers(1, 14), [13, 13]);
  assert.deepEqual(lastLayers(14, 14), [0, 13]);
  assert.throws(() => lastLayers(15, 14), /only 14 layers/);
  assert.throws(() => lastLayers(-1, 14), RangeError);
  assert.deepEqual(parseLayerRange('6:13', 14), [6, 13]);
  assert.deepEqual(parseLayerRange('6:', 14), [6, 13]);
  assert.throws(() => parseLayerRange('9:3', 14), /not within/);
  assert.throws(() => parseLayerRange('x', 14), /must be a:b/);
  assert.deepEqual(teeRange({ last: 5 }, 14), [9, 13]);
  assert.deepEqual(teeRange({ layers: '2:4' }, 14), [2, 4]);
  assert.equal(teeRange({}, 14), null);
  assert.throws(() => teeRange({ layers: '2:4', last: 1 }, 14), /not both/);
});

test('output policies', () => {
  assert.deepEqual(parseTeeOutput(undefined), { policy: 'top1', topk: 5 });
  assert.deepEqual(parseTeeOutput('top1'), { policy: 'top1', topk: 1 });
  assert.deepEqual(parseTeeOutput('top3'), { policy: 'topk', topk: 3 });
  assert.deepEqual(parseTeeOutput('full').policy, 'full');
  assert.throws(() => parseTeeOutput('top0'), /at least 1/);
  assert.throws(() => parseTeeOutput('all'), /must be top1/);
});

test('one batch override: a batch alone means one forward per batch; subdivisions alone keep the batch', () => {
  const config = parseCfg('[net]\nbatch=128\nsubdivisions=4\nheight=4\nwidth=4\nchannels=1\n[connected]\noutput=2\n[softmax]\n', 'x.cfg');
  assert.equal(withBatch(config, {}), config);
  assert.deepEqual([withBatch(config, { batch: 32 }).net.batch, withBatch(config, { batch: 32 }).net.subdivisions], [32, 1]);
  assert.deepEqual([withBatch(config, { subdivisions: 2 }).net.batch, withBatch(config, { subdivisions: 2 }).net.subdivisions], [128, 2]);
  assert.throws(() => withBatch(config, { batch: 8, subdivisions: 16 }), /exceeds the batch of 8/);
  assert.equal(config.net.batch, 128, 'the original cfg is unchanged');
});

test('data selection: limits, the seeded S/T split, and the shape check', async () => {
  const net = { inShape: { c: 1, h: 28, w: 28 } };
  const a = await selectData({ data: 'embedded', trainLimit: 100, testLimit: 30, seed: 4, split: 0.5, resize: false }, net);
  const b = await selectData({ data: 'embedded', trainLimit: 100, testLimit: 30, seed: 4, split: 0.5, resize: false }, net);
  assert.equal(a.train.count, 100);
  assert.equal(a.test.count, 30);
  assert.equal(a.S.length + a.T.length, 100);
  assert.deepEqual(a.S, b.S, 'the same seed gives the same split');
  assert.ok(a.S.every((i) => !a.T.includes(i)), 'S and T are disjoint');
  const c = await selectData({ data: 'embedded', trainLimit: 100, seed: 5, split: 0.5, resize: false }, net);
  assert.notDeepEqual(a.S, c.S, 'another seed, another split');
  await assert.rejects(selectData({ data: 'embedded', trainLimit: 10, seed: 1, split: 0, resize: false }, net), /--split must be in/);
  await assert.rejects(loadSets({ data: 'embedded', trainLimit: 10, resize: false }, { inShape: { c: 1, h: 32, w: 32 } }), /32/);
  const resized = await loadSets({ data: 'embedded', trainLimit: 10, testLimit: 5, resize: true }, { inShape: { c: 3, h: 32, w: 32 } });
  assert.deepEqual([resized.train.channels, resized.train.height, resized.train.width], [3, 32, 32]);
});
