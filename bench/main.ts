// npm run bench [-- --json] [--peer torch] [--shapes mnist,cifar10] [--threads N] [--seconds S] [--rounds R]
//
// VGG-7 training throughput (SGD step = forward + backward + update), inference throughput at
// batch 128 and batch-1 latency, for the MNIST (28×28×1) and CIFAR-10 (32×32×3) shapes. With
// --peer torch the same model is measured in PyTorch in the same run, interleaved round by round,
// on the same number of threads, and the ratios are printed: these machines are noisy, so only a
// comparison made side by side means anything.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getKernels, getThreads, setThreads } from '../src/kernels/index.js';
import { loadModel } from '../src/nn/model.js';
import type { Network } from '../src/nn/network.js';
import { Rng } from '../src/nn/rng.js';

type Shape = 'mnist' | 'cifar10';

interface Measure {
  model: 'vgg7';
  shape: Shape;
  threads: number;
  train_img_s: number;
  infer_img_s: number;
  latency_b1_ms: number;
  tool?: string;
}

interface BenchRecord extends Measure {
  peer: Measure | null;
  kernels: string;
  gflops_train: number;
  /** SGEMM 512×512×512 on one thread and on all `threads`, GFLOP/s (the kernels' own ceiling). */
  gemm512_gflops_1t: number;
  gemm512_gflops: number;
  peak_rss_mb: number;
}

const BATCH = 128;
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Multiply-adds of one VGG-7 forward pass ×2 (FLOPs), for GFLOP/s figures. */
function forwardFlops(net: Network): number {
  let macs = 0;
  for (const l of net.trainableLayers) macs += l.weights.length * l.outShape.h * l.outShape.w;
  return 2 * macs;
}

/** Seconds per call of fn, repeated until minSeconds have passed (after warm-up calls). */
function timePerCall(fn: () => void, minSeconds: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    fn();
    n++;
    const dt = (performance.now() - t0) / 1000;
    if (dt >= minSeconds && n >= 3) return dt / n;
  }
}

async function measureLayerlock(shape: Shape, threads: number, seconds: number): Promise<Measure & { flops: number }> {
  const cfg = `${root}cfg/vgg7-${shape}.cfg`;
  const net = await loadModel({ cfg, seed: 1, batch: BATCH });
  const one = await loadModel({ cfg, seed: 1, batch: 1 });
  const rng = new Rng(1, 'bench');
  const x = Float32Array.from({ length: BATCH * net.inputs }, () => rng.uniform());
  const truth = new Float32Array(BATCH * 10);
  for (let i = 0; i < BATCH; i++) truth[i * 10 + rng.int(10)] = 1;
  const step = (): void => {
    net.forward(x, BATCH, true, truth);
    net.backward(x, BATCH);
    net.update(BATCH);
  };
  const trainS = timePerCall(step, seconds);
  const inferS = timePerCall(() => net.forward(x, BATCH, false), seconds);
  const x1 = x.subarray(0, net.inputs);
  const latS = timePerCall(() => one.forward(x1, 1, false), seconds / 2, 10);
  return {
    model: 'vgg7', shape, threads,
    train_img_s: BATCH / trainS, infer_img_s: BATCH / inferS, latency_b1_ms: latS * 1000,
    flops: forwardFlops(net),
  };
}

/**
 * The Python that has PyTorch: $LAYERLOCK_PYTHON, else `python3` on PATH, else Debian's
 * /usr/bin/python3 (where `apt-get install python3-torch` puts it, even when a pyenv python3
 * comes first on PATH).
 */
/** GFLOP/s of C = A·B at n×n×n with the active kernels on the current thread count. */
function gemmGflops(n: number, seconds: number): number {
  const rng = new Rng(2, 'gemm');
  const A = Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5);
  const B = Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5);
  const C = new Float32Array(n * n);
  const k = getKernels();
  const s = timePerCall(() => k.gemm(false, false, n, n, n, 1, A, 0, n, B, 0, n, 0, C, 0, n), seconds);
  return (2 * n * n * n) / s / 1e9;
}

function torchPython(): string | null {
  const candidates = [process.env['LAYERLOCK_PYTHON'], 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const py of candidates) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

function measureTorch(python: string, shape: Shape, threads: number, seconds: number): Measure {
  const r = spawnSync(python, [`${root}bench/peer_torch.py`, String(threads), String(BATCH), String(seconds), shape], {
    encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) throw new Error(`PyTorch peer failed: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measure;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianMeasure(ms: Measure[]): Measure {
  return {
    ...ms[0]!,
    train_img_s: median(ms.map((m) => m.train_img_s)),
    infer_img_s: median(ms.map((m) => m.infer_img_s)),
    latency_b1_ms: median(ms.map((m) => m.latency_b1_ms)),
  };
}

const HELP = `usage: npm run bench -- [--json] [--peer torch] [--shapes mnist,cifar10] [--threads N] [--seconds S] [--rounds R]

VGG-7 training throughput, inference throughput at batch ${BATCH} and batch-1 latency (MNIST and CIFAR-10 shapes).

options:
  --json              print one JSON array of records on stdout
  --peer torch        measure PyTorch side by side, interleaved round by round
  --shapes LIST       mnist, cifar10 or both, comma-separated (default mnist,cifar10)
  --threads N         kernel threads, 1 to 1024 (default: LAYERLOCK_THREADS or the online CPUs)
  --seconds S         minimum seconds per measurement, more than 0 and at most 3600 (default 3)
  --rounds R          interleaved rounds, 1 to 1000; the median is reported (default 3)
  -h, --help          show this help
`;

/** A number flag within [min, max] (integers only when asked), or a one-line error. */
function numberFlag(name: string, text: string, min: number, max: number, integer: boolean): number {
  const x = Number(text);
  const ok = text.trim() !== '' && Number.isFinite(x) && (!integer || /^-?\d+$/.test(text.trim())) && x >= min && x <= max;
  const range = min === Number.MIN_VALUE ? `more than 0 and at most ${max}` : `from ${min} to ${max}`;
  if (!ok) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} ${range} (got "${text}")`);
  return x;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        peer: { type: 'string' },
        shapes: { type: 'string', default: 'mnist,cifar10' },
        threads: { type: 'string' },
        seconds: { type: 'string', default: '3' },
        rounds: { type: 'string', default: '3' },
      },
      // `--seconds -1` would otherwise be "ambiguous": join a number to its flag so the range check speaks.
      args: joinNegative(process.argv.slice(2)),
    }));
  } catch (e) {
    throw new Error(`${(e as Error).message.split('\n')[0]} (see --help)`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const shapes = values.shapes!.split(',') as Shape[];
  for (const s of shapes) if (s !== 'mnist' && s !== 'cifar10') throw new Error(`--shapes: unknown shape "${s}" (shapes: mnist, cifar10)`);
  if (values.threads !== undefined) setThreads(numberFlag('threads', values.threads, 1, 1024, true));
  const threads = getThreads();
  const seconds = numberFlag('seconds', values.seconds!, Number.MIN_VALUE, 3600, false);
  const rounds = numberFlag('rounds', values.rounds!, 1, 1000, true);
  if (values.peer && values.peer !== 'torch') throw new Error(`unknown peer ${values.peer} (supported: torch)`);
  const python = values.peer === 'torch' ? torchPython() : null;
  if (values.peer === 'torch' && !python) {
    process.stderr.write('bench: PyTorch is not installed (python3 -c "import torch" failed); install it with `apt-get install python3-torch`. Running without the peer.\n');
  }
  const peer = python !== null;
  const kernels = getKernels().name;
  process.stderr.write(`bench: VGG-7, batch ${BATCH}, kernels ${kernels}, ${threads} thread(s), ${rounds} interleaved round(s)${peer ? ' vs PyTorch' : ''}\n`);
  const ours: Record<string, Measure[]> = {};
  const theirs: Record<string, Measure[]> = {};
  const flops: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const shape of shapes) {
      const m = await measureLayerlock(shape, threads, seconds);
      flops[shape] = m.flops;
      (ours[shape] ??= []).push(m);
      process.stderr.write(`  round ${r + 1} ${shape}: layerlock train ${m.train_img_s.toFixed(0)} img/s`);
      if (peer) {
        const t = measureTorch(python!, shape, threads, seconds);
        (theirs[shape] ??= []).push(t);
        process.stderr.write(`, pytorch train ${t.train_img_s.toFixed(0)} img/s`);
      }
      process.stderr.write('\n');
    }
  }
  setThreads(1);
  const gemm1 = gemmGflops(512, seconds / 2);
  setThreads(threads);
  const gemmAll = gemmGflops(512, seconds / 2);
  const records: BenchRecord[] = shapes.map((shape) => {
    const m = medianMeasure(ours[shape]!);
    const { flops: _f, ...clean } = m as Measure & { flops?: number };
    return {
      ...clean,
      peer: peer ? medianMeasure(theirs[shape]!) : null,
      kernels,
      // Training ≈ 3× the forward FLOPs (forward, data gradient, weight gradient).
      gflops_train: (3 * flops[shape]! * m.train_img_s) / 1e9,
      gemm512_gflops_1t: gemm1,
      gemm512_gflops: gemmAll,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    };
  });
  if (values.json) {
    process.stdout.write(JSON.stringify(records, null, 2) + '\n');
    return;
  }
  const rows: string[][] = [['shape', 'tool', 'threads', 'train img/s', 'infer img/s (b128)', 'latency b1 (ms)', 'train GFLOP/s']];
  for (const r of records) {
    rows.push([r.shape, 'layerlock', String(r.threads), r.train_img_s.toFixed(0), r.infer_img_s.toFixed(0), r.latency_b1_ms.toFixed(3), r.gflops_train.toFixed(1)]);
    if (r.peer) {
      const p = r.peer;
      rows.push([r.shape, p.tool ?? 'pytorch', String(p.threads), p.train_img_s.toFixed(0), p.infer_img_s.toFixed(0), p.latency_b1_ms.toFixed(3), '']);
      rows.push([r.shape, 'ratio layerlock/pytorch', '', (r.train_img_s / p.train_img_s).toFixed(2) + '×', (r.infer_img_s / p.infer_img_s).toFixed(2) + '×', (p.latency_b1_ms / r.latency_b1_ms).toFixed(2) + '× faster', '']);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) process.stdout.write(row.map((v, c) => v.padEnd(widths[c]!)).join('  ') + '\n');
  process.stdout.write(`SGEMM 512³: ${gemm1.toFixed(1)} GFLOP/s on 1 thread, ${gemmAll.toFixed(1)} GFLOP/s on ${threads}; peak RSS ${records[0]?.peak_rss_mb.toFixed(0)} MB; kernels ${kernels}\n`);
  process.stdout.write('(more GEMM sizes and the VGG-7 convolution ops: node dist/bench/gemm.js)\n');
}

/** `--flag -1` → `--flag=-1`, so a negative number reaches the flag's own range check. */
function joinNegative(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (/^--[a-z]+$/.test(argv[i]!) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else out.push(argv[i]!);
  }
  return out;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
