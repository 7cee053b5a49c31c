// `layerlock bench tee` end to end on a tiny network and the embedded data: the files and their
// schema (DESIGN.md §8), the stopping point at a small secure memory with the TA's own message, the
// memory model against the measured arena peaks, the boundary counter against the boundary model,
// the interleaved run order, resuming, and the CLI's errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { teeMemoryModel } from '../src/bench/memory.js';
import { runOrder } from '../src/bench/tee-bench.js';
import { parseCfg } from '../src/nn/cfg.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

// 7 layers: C MP FC D FC SM O.
const CFG = `
[net]
batch=16
height=28
width=28
channels=1
learning_rate=0.01
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

[dropout]
probability=0.5

[connected]
output=10
activation=linear

[softmax]

[cost]
type=sse
`;

const env = { ...process.env, LAYERLOCK_THREADS: '1', CI: 'true' };
let dir = '';
let cfgFile = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-bench-tee-'));
  cfgFile = join(dir, 'tiny.cfg');
  await writeFile(cfgFile, CFG);
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('run order: repetition-major, every configuration once per repetition, seeded shuffles that differ between repetitions', () => {
  const ks = [0, 1, 2, 3, 4, 5];
  const order = runOrder(ks, 30, 1, true);
  assert.equal(order.length, 180);
  for (let rep = 0; rep < 30; rep++) {
    const block = order.slice(rep * 6, rep * 6 + 6);
    assert.ok(block.every((o) => o.rep === rep));
    assert.deepEqual(block.map((o) => o.k).sort((a, b) => a - b), ks);
  }
  const patterns = new Set(Array.from({ length: 30 }, (_, rep) => order.slice(rep * 6, rep * 6 + 6).map((o) => o.k).join(',')));
  assert.ok(patterns.size > 20, 'the order changes between repetitions');
  // Each configuration runs first in some repetition and last in another: no position bias.
  for (const k of ks) {
    const positions = new Set(order.filter((o) => o.k === k).map((o) => order.indexOf(o) % 6));
    assert.ok(positions.size >= 4, `k=${k} runs in positions ${[...positions]}`);
  }
  assert.deepEqual(runOrder(ks, 30, 1, true), order, 'same seed, same order');
  assert.deepEqual(runOrder([0, 1, 2], 2, 1, false).map((o) => o.k), [0, 1, 2, 0, 1, 2]);
});

test('bench tee on a tiny network: files, schema, stopping point, memory model, boundary bytes, resume', async () => {
  const config = parseCfg(CFG, 'tiny.cfg');
  const L = config.layers.length;
  // A secure memory that holds the last 4 layers (FC D FC SM O … up to the dropout) but not the FC before it.
  const need = (k: number): number => teeMemoryModel(config, { start: L - k, end: L - 1, batch: 16, mode: 'train', threads: 1 }).total;
  const secureMem = Math.floor((need(4) + need(5)) / 2);
  const out = join(dir, 'out');
  const args = ['bench', 'tee', '--cfg', cfgFile, '--out', out, '--reps', '2', '--batches', '2', '--warmup', '1', '--secure-mem', String(secureMem), '--train-limit', '400', '--json'];
  const r = await cli(args);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    configs: {
      k: number; tee_layers: [number, number] | null; time_s: { mean: number; median: number; ci95: [number, number] }; ree_peak_bytes: number;
      tee_peak_bytes: number; boundary_bytes: number; overhead_time_pct: number; overhead_mem_pct: number; model_bytes: number; model_error_pct: number | null;
      boundary: { expected: number; matches_expected: boolean }; runs: number; cpu_s: { mean: number } | null; overhead_time_paired_pct: number;
    }[];
    anova: { time: { F: number; df1: number; df2: number; p: number }; memory: { F: number; df1: number; df2: number; p: number } };
    anova_blocked: { time: { df1: number; df2: number; df_blocks: number }; cpu: { df1: number; df2: number } | null };
    stopped_because: string;
    stopped_at: { k: number; ta_message: string | null } | null;
  };
  // Configurations k = 0..4; k = 5 (the first connected layer) does not fit, and the TA said so.
  assert.deepEqual(doc.configs.map((c) => c.k), [0, 1, 2, 3, 4]);
  assert.equal(doc.stopped_at?.k, 5);
  assert.match(doc.stopped_because, /k = 5 would add connected/);
  assert.match(doc.stopped_at?.ta_message ?? '', /TEE_ERROR_OUT_OF_MEMORY \(0xFFFF000C\)/);
  for (const c of doc.configs) {
    assert.equal(c.runs, 2);
    assert.deepEqual(c.tee_layers, c.k === 0 ? null : [L - c.k, L - 1]);
    assert.ok(c.time_s.mean > 0 && c.time_s.ci95[0] <= c.time_s.mean && c.time_s.mean <= c.time_s.ci95[1]);
    assert.ok(c.ree_peak_bytes > 10 << 20, 'RSS of a Node process');
    assert.equal(typeof c.overhead_time_pct, 'number');
    assert.equal(typeof c.overhead_mem_pct, 'number');
    assert.equal(typeof c.overhead_time_paired_pct, 'number');
    if (process.platform === 'linux') assert.ok(c.cpu_s !== null && c.cpu_s.mean > 0, 'CPU seconds from /proc');
    if (c.k === 0) {
      assert.equal(c.tee_peak_bytes, 0);
      assert.equal(c.boundary_bytes, 0);
      assert.equal(c.overhead_time_pct, 0);
    } else {
      assert.ok(c.tee_peak_bytes > 0 && c.tee_peak_bytes <= secureMem);
      assert.ok(c.model_error_pct !== null && Math.abs(c.model_error_pct) <= 5, `k=${c.k}: model ${c.model_bytes} vs arena ${c.tee_peak_bytes}`);
      assert.equal(c.boundary.matches_expected, true, `k=${c.k}: boundary ${c.boundary_bytes} vs model ${c.boundary.expected}`);
      assert.equal(c.boundary_bytes, c.boundary.expected);
    }
  }
  assert.deepEqual([doc.anova.time.df1, doc.anova.time.df2], [4, 5]);
  assert.deepEqual([doc.anova.memory.df1, doc.anova.memory.df2], [4, 5]);
  assert.ok(doc.anova.time.p >= 0 && doc.anova.time.p <= 1);
  // Blocked by repetition: (5 − 1)(2 − 1) error degrees of freedom.
  assert.deepEqual([doc.anova_blocked.time.df1, doc.anova_blocked.time.df2, doc.anova_blocked.time.df_blocks], [4, 4, 1]);
  if (process.platform === 'linux') assert.deepEqual([doc.anova_blocked.cpu?.df1, doc.anova_blocked.cpu?.df2], [4, 4]);
  for (const f of ['bench.json', 'bench.csv', 'runs.csv', 'runs.jsonl', 'options.json', 'figure.svg', 'figure.png']) assert.ok(existsSync(join(out, f)), f);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'bench.json'), 'utf8')), doc);
  const summary = (await readFile(join(out, 'bench.csv'), 'utf8')).trim().split('\n');
  assert.equal(summary.length, 1 + 5);
  assert.match(summary[0]!, /^k,tee_layers,added,runs,time_mean_s/);
  assert.equal((await readFile(join(out, 'runs.csv'), 'utf8')).trim().split('\n').length, 1 + 10);
  assert.match(await readFile(join(out, 'figure.svg'), 'utf8'), /^<svg/);
  const png = await readFile(join(out, 'figure.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);

  // Resume: the same command measures nothing again and reports the same runs.
  const again = await cli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /10 runs, 10 done earlier/);
  const doc2 = JSON.parse(again.stdout) as typeof doc;
  assert.deepEqual(doc2.configs.map((c) => c.time_s), doc.configs.map((c) => c.time_s));
  // The measurement's environment and duration carry over; re-aggregating only adds its own seconds.
  const env = (d: unknown): unknown => (d as { environment: { loadavg_start: number[]; loadavg_end: number[] } }).environment;
  assert.deepEqual(env(doc2), env(doc));
  const secs = (d: unknown): number => (d as { seconds: number }).seconds;
  assert.ok(secs(doc2) > secs(doc) && secs(doc2) < secs(doc) + 30);
  // Another measurement into the same folder is refused.
  const other = await cli([...args.slice(0, -1).map((a) => (a === '2' ? '3' : a)), '--json']);
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, /holds runs of a different measurement \(batches/);
});

test('bench tee: usage errors in one line', async () => {
  const r = await cli(['bench', 'tee', '--out', join(dir, 'x')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^layerlock: missing --cfg/);
  const u = await cli(['bench', 'gpu']);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /unknown benchmark "gpu"/);
  const h = await cli(['bench', 'tee', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--reps N/);
});
