// `layerlock exposure` end to end on a slice of the embedded data: the files, then kill -9 in the
// middle of a run (during the base training and again between layer jobs) and check that resuming
// gives exactly the numbers of an uninterrupted run; options mismatch; re-aggregation; plot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMALL_MNIST_CFG } from './cfg-fixtures.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const env = { ...process.env, LAYERLOCK_THREADS: '1', CI: 'true' };

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function finish(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const run = (args: string[]): Promise<Run> => finish(start(args));

/** Waits until cond() holds (checked every few ms), then kills the process with SIGKILL. */
async function killWhen(child: ChildProcess, cond: () => Promise<boolean>): Promise<void> {
  const closed = finish(child);
  for (;;) {
    if (child.exitCode !== null) break;
    if (await cond()) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 3));
  }
  await closed;
}

/** The document without timings, which naturally differ between runs. */
function numbers(doc: unknown): unknown {
  if (Array.isArray(doc)) return doc.map(numbers);
  if (doc && typeof doc === 'object') {
    return Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'seconds' && k !== 'wall_seconds').map(([k, v]) => [k, numbers(v)]));
  }
  return doc;
}

async function jobCount(dir: string): Promise<number> {
  try {
    return (await readdir(join(dir, 'jobs'))).filter((n) => n.endsWith('.json') && !n.includes('base')).length;
  } catch {
    return 0;
  }
}

test('layerlock exposure: files, kill -9 and resume gives the uninterrupted numbers, options check, plot', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'layerlock-exposure-cli-'));
  try {
    const cfg = join(tmp, 'tiny.cfg');
    await writeFile(cfg, SMALL_MNIST_CFG);
    const args = (out: string, extra: string[] = [], ftEpochs = '4'): string[] => [
      'exposure', '--cfg', cfg, '--train-limit', '1000', '--test-limit', '100', '--epochs', '12', '--ft-epochs', ftEpochs, '--jobs', '2', '--out', out, ...extra,
    ];

    // 1. An uninterrupted run.
    const a = join(tmp, 'a');
    const ra = await run(args(a, ['--json']));
    assert.equal(ra.code, 0, ra.stderr);
    const doc = JSON.parse(ra.stdout);
    assert.deepEqual(Object.keys(doc).slice(0, 3), ['options', 'base', 'layers']);
    assert.deepEqual(doc.layers.map((l: { index: number }) => l.index), [0, 2, 4]);
    for (const l of doc.layers) {
      for (const k of ['index', 'type', 'params', 'gen_mr', 'gen_mp', 'exposure', 'exposure_std', 'per_seed', 'mr', 'mp', 'seconds']) assert.ok(k in l, k);
      assert.equal(l.per_seed.length, 1);
    }
    assert.deepEqual(doc.layers.map((l: { params: number }) => l.params), [4 * 9 + 4, 6 * 4 * 9 + 6, 10 * 6 * 7 * 7 + 10]);
    for (const s of ['S', 'T', 'test']) assert.ok(doc.base[s].loss > 0 && doc.base[s].n > 0, s);
    assert.equal(doc.base.S.n, 500);
    assert.equal(doc.base.test.n, 100);
    assert.deepEqual(JSON.parse(await readFile(join(a, 'exposure.json'), 'utf8')), doc);
    const csv = (await readFile(join(a, 'exposure.csv'), 'utf8')).trim().split('\n');
    assert.equal(csv.length, 4);
    assert.match(csv[1]!, /^0,conv1,convolutional,40,/);
    assert.match(await readFile(join(a, 'exposure.svg'), 'utf8'), /^<svg[\s\S]*conv2/);
    assert.equal((await readFile(join(a, 'exposure.png'))).subarray(1, 4).toString(), 'PNG');
    assert.match(ra.stderr, /7 jobs, 0 already done/);
    assert.match(ra.stderr, /\[7\/7\] s1-l\d+-m[rp] done/); // finishing order depends on the 2 workers' timing

    // 2. The same run killed during the base training, then again between layer jobs, then resumed.
    const b = join(tmp, 'b');
    await killWhen(start(args(b)), async () => existsSync(join(b, 'base', 's1.ckpt')));
    assert.ok(!existsSync(join(b, 'exposure.json')));
    await killWhen(start(args(b)), async () => (await jobCount(b)) >= 2);
    const before = await jobCount(b);
    assert.ok(before >= 2 && before < 6, `killed after ${before} of 6 layer jobs`);
    await new Promise((r) => setTimeout(r, 200));
    const rb = await run(args(b, ['--json']));
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stderr, new RegExp(`7 jobs, ${before + 1} already done`));
    assert.deepEqual(numbers(JSON.parse(rb.stdout).layers), numbers(doc.layers));
    assert.deepEqual(numbers(JSON.parse(rb.stdout).base), numbers(doc.base));
    const leftovers = (await readdir(join(b, 'jobs'))).concat(await readdir(join(b, 'base'))).filter((n) => (n.startsWith('.') && n.endsWith('.tmp')) || n.endsWith('.ckpt'));
    assert.deepEqual(leftovers, []);
    assert.equal(existsSync(join(b, '.lock')), false, 'lock released');

    // 3. Other options into the same folder are refused, naming the option.
    const rc = await run(args(a, [], '5'));
    assert.equal(rc.code, 1);
    assert.match(rc.stderr, /refusing to mix them: --ft-epochs differs: made with 4, this run has 5/);
    assert.equal(rc.stderr.trim().split('\n').length, 1, 'one line');

    // 4. Another metric only re-aggregates (no job runs).
    const rd = await run(args(a, ['--metric', 'acc', '--json']));
    assert.equal(rd.code, 0, rd.stderr);
    assert.doesNotMatch(rd.stderr, /ran \d+ jobs/);
    const acc = JSON.parse(rd.stdout);
    assert.equal(acc.options.metric, 'acc');
    const l0 = acc.layers[0];
    assert.ok(Math.abs(l0.gen_mp - (l0.mp.S.acc - l0.mp.test.acc)) < 1e-12);

    // 5. M is exactly `layerlock train` with the same seed: given as --base, the layers come out the same.
    const w = join(tmp, 'm.weights');
    const rt = await run(['train', '--cfg', cfg, '--train-limit', '1000', '--test-limit', '100', '--epochs', '12', '--out', w]);
    assert.equal(rt.code, 0, rt.stderr);
    assert.deepEqual(await readFile(w), await readFile(join(a, 'base', 's1.weights')));
    const rw = await run(['exposure', '--cfg', cfg, '--train-limit', '1000', '--test-limit', '100', '--base', w, '--ft-epochs', '4', '--out', join(tmp, 'w'), '--json']);
    assert.equal(rw.code, 0, rw.stderr);
    const given = JSON.parse(rw.stdout);
    assert.equal(given.options.epochs, null);
    assert.deepEqual(numbers(given.layers), numbers(doc.layers));
    assert.deepEqual(given.base.S, doc.base.S);

    // 6. Figure 2 over several folders.
    const plot = join(tmp, 'fig.svg');
    const rp = await run(['exposure', 'plot', a, b, '--out', plot, '--labels', 'run a,run b', '--json']);
    assert.equal(rp.code, 0, rp.stderr);
    const pj = JSON.parse(rp.stdout);
    assert.deepEqual(pj.series.map((s: { name: string }) => s.name), ['run a', 'run b']);
    assert.match(await readFile(plot, 'utf8'), /run b/);
    assert.ok(existsSync(join(tmp, 'fig.png')));
    const rq = await run(['exposure', 'plot', join(tmp, 'nothing')]);
    assert.equal(rq.code, 1);
    assert.match(rq.stderr, /exposure\.json: not found/);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('layerlock exposure: usage errors are one clear line', async () => {
  for (const [argv, msg] of [
    [['exposure', '--cfg', 'x.cfg', '--out', 'o'], /missing --epochs/],
    [['exposure', '--cfg', 'x.cfg', '--epochs', '1', '--out', 'o', '--metric', 'f1'], /--metric must be loss or acc/],
    [['exposure', '--cfg', 'x.cfg', '--epochs', '1', '--out', 'o', '--seeds', '1,1'], /lists a seed twice/],
    [['exposure', '--cfg', 'x.cfg', '--epochs', '1', '--out', 'o', '--seed', '1', '--seeds', '2'], /--seed or --seeds, not both/],
    [['exposure', '--cfg', 'x.cfg', '--out', 'o', '--base', 'w', '--ft-epochs', '1', '--seeds', '1,2'], /--base is one model/],
    [['exposure', '--cfg', 'x.cfg', '--epochs', '1', '--out', 'o', '--cache-mem', 'lots'], /--cache-mem must be a size/],
    [['exposure', 'status'], /exposure status needs one run folder/],
    [['exposure', 'status', 'no-such-folder', '--cfg', 'x.cfg'], /no-such-folder is not an exposure run folder/],
  ] as [string[], RegExp][]) {
    const r = await run(argv);
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  const h = await run(['exposure', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /exposure plot DIR/);
  assert.match(h.stdout, /--cache-mem SIZE/);
  assert.match(h.stdout, /exposure status DIR/);
});
