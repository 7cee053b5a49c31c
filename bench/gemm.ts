// Kernel micro-benchmark: GEMM GFLOP/s and VGG-7 convolution op timings.
//
//   npx tsc -p . && node dist/bench/gemm.js [--json] [--quick] [--no-conv] [--no-peer]
//
// GEMM: square sizes 128..1024 and the shapes the VGG-7 layers produce, for the native backend on
// one thread and on all threads, the TypeScript reference at the small sizes, and numpy's sgemm
// (OpenBLAS) as a peer on 1 and all threads if `python3 -c "import numpy"` works, measured in the
// same run. Conv: forward, backward-filter and backward-data for the five VGG-7 MNIST conv layers
// at batch 128, native vs reference. Every figure is the best of several timed repetitions (this
// kind of shared VM is noisy; the median is in the JSON too). The single-thread figures also come
// per CPU second, which stays meaningful when other processes share the cores.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type ConvGeometry,
  type Kernels,
  loadNativeKernels,
  nativeAvailable,
  nativeInfo,
  nativeLoadError,
  referenceKernels,
  setThreads,
} from '../src/kernels/index.js';

interface Timing {
  /** Best (smallest) seconds per call. */
  best: number;
  /** Median seconds per call. */
  median: number;
  /** Process CPU seconds per call (all threads; on one thread, the compute time even when the machine is shared). */
  cpu: number;
  reps: number;
}

interface GemmRow {
  label: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  /** GFLOP/s from the best time, by backend; null where not measured. */
  gflops: {
    native1: number | null;
    nativeAll: number | null;
    reference: number | null;
    numpy1: number | null;
    numpyAll: number | null;
  };
  medianGflops: { native1: number | null; nativeAll: number | null };
  /** Native on one thread, GFLOP per CPU second (robust when other processes share the cores). */
  cpuGflops1: number | null;
}

interface ConvRow {
  layer: string;
  op: 'forward' | 'backwardFilter' | 'backwardData';
  batch: number;
  mflop: number;
  /** Milliseconds per call (best of reps). */
  ms: { native1: number | null; nativeAll: number | null; reference: number | null };
  /** Native on one thread, CPU milliseconds per call. */
  cpuMs1: number | null;
}

interface GemmCase {
  label: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  reference: boolean;
}

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}

/** Times fn: one warm-up call, then repetitions until `seconds` have passed (at least minReps). */
function time(fn: () => void, seconds: number, minReps = 3, maxReps = 1000): Timing {
  fn();
  const times: number[] = [];
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  while (times.length < maxReps) {
    const t0 = process.hrtime.bigint();
    fn();
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e9);
    if (times.length >= minReps && Number(t1 - start) / 1e9 >= seconds) break;
  }
  const cpu = process.cpuUsage(cpu0);
  const reps = times.length;
  times.sort((a, b) => a - b);
  return { best: times[0]!, median: times[Math.floor(reps / 2)]!, cpu: (cpu.user + cpu.system) / 1e6 / reps, reps };
}

function gemmCases(quick: boolean): GemmCase[] {
  const sq = (n: number, reference: boolean): GemmCase => ({
    label: `${n}³`, transA: false, transB: false, M: n, N: n, K: n, reference,
  });
  const cases = [sq(128, true), sq(256, true), sq(512, false)];
  if (!quick) cases.push(sq(1024, false));
  cases.push(
    // Per-image GEMMs of the VGG-7 MNIST convolutions (im2col form) and its first FC layer.
    { label: 'conv 16→16 28² fwd/img', transA: false, transB: false, M: 16, N: 784, K: 144, reference: true },
    { label: 'conv 32→32 14² fwd/img', transA: false, transB: false, M: 32, N: 196, K: 288, reference: true },
    { label: 'conv 32→32 14² fwd ×128', transA: false, transB: false, M: 32, N: 196 * 128, K: 288, reference: false },
    { label: 'conv 32→32 14² dW/img', transA: false, transB: true, M: 32, N: 288, K: 196, reference: true },
    { label: 'conv 16→16 28² dX/img', transA: true, transB: false, M: 144, N: 784, K: 16, reference: true },
    { label: 'fc 512→64 b128 fwd', transA: false, transB: true, M: 128, N: 64, K: 512, reference: true },
  );
  return cases;
}

function runGemm(k: Kernels, c: GemmCase, A: Float32Array, B: Float32Array, C: Float32Array, seconds: number): Timing {
  const lda = c.transA ? c.M : c.K;
  const ldb = c.transB ? c.K : c.N;
  return time(() => k.gemm(c.transA, c.transB, c.M, c.N, c.K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, c.N), seconds);
}

const gflops = (c: GemmCase, seconds: number): number => (2 * c.M * c.N * c.K) / seconds / 1e9;

/** numpy sgemm GFLOP/s for the cases, in a child python3 with the given BLAS thread count. */
function numpyPeer(cases: GemmCase[], threads: number, seconds: number): (number | null)[] | null {
  const script = `
import json, sys, time
import numpy as np
cases = json.loads(sys.argv[1]); seconds = float(sys.argv[2])
out = []
rng = np.random.default_rng(1)
for c in cases:
    a = rng.random((c['K'], c['M']) if c['transA'] else (c['M'], c['K']), dtype=np.float32)
    b = rng.random((c['N'], c['K']) if c['transB'] else (c['K'], c['N']), dtype=np.float32)
    opa = a.T if c['transA'] else a
    opb = b.T if c['transB'] else b
    res = np.empty((c['M'], c['N']), dtype=np.float32)
    np.matmul(opa, opb, out=res)
    best = float('inf'); start = time.perf_counter(); n = 0
    while n < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter(); np.matmul(opa, opb, out=res); best = min(best, time.perf_counter() - t0); n += 1
    out.append(2 * c['M'] * c['N'] * c['K'] / best / 1e9)
print(json.dumps(out))
`;
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const r = spawnSync('python3', ['-c', script, JSON.stringify(cases), String(seconds)], { env, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout.trim()) as number[];
  } catch {
    return null;
  }
}

function numpyAvailable(): boolean {
  return spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
}

function convGeometry(channels: number, filters: number, side: number): ConvGeometry {
  return { channels, height: side, width: side, filters, size: 3, stride: 1, padding: 1, outHeight: side, outWidth: side };
}

const VGG7_MNIST_CONVS: { layer: string; g: ConvGeometry }[] = [
  { layer: 'conv 1→16 28×28', g: convGeometry(1, 16, 28) },
  { layer: 'conv 16→16 28×28', g: convGeometry(16, 16, 28) },
  { layer: 'conv 16→32 14×14', g: convGeometry(16, 32, 14) },
  { layer: 'conv 32→32 14×14', g: convGeometry(32, 32, 14) },
  { layer: 'conv 32→32 7×7', g: convGeometry(32, 32, 7) },
];

function convTimes(k: Kernels, g: ConvGeometry, batch: number, seconds: number, minReps: number): [Timing, Timing, Timing] {
  const inSize = batch * g.channels * g.height * g.width;
  const outSize = batch * g.filters * g.outHeight * g.outWidth;
  const wSize = g.filters * g.channels * g.size * g.size;
  const input = randomArray(inSize, 1);
  const weights = randomArray(wSize, 2);
  const output = new Float32Array(outSize);
  const delta = randomArray(outSize, 3);
  const weightGrad = new Float32Array(wSize);
  const inputDelta = new Float32Array(inSize);
  return [
    time(() => k.convForward(g, batch, input, weights, output), seconds, minReps),
    time(() => k.convBackwardFilter(g, batch, input, delta, weightGrad), seconds, minReps),
    time(() => k.convBackwardData(g, batch, delta, weights, inputDelta), seconds, minReps),
  ];
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? '—' : x.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'no-conv': { type: 'boolean', default: false },
      'no-peer': { type: 'boolean', default: false },
      seconds: { type: 'string', default: '' },
    },
  });
  const quick = values.quick === true;
  const seconds = values.seconds ? Number(values.seconds) : quick ? 0.15 : 0.5;
  const log = (s: string): void => {
    process.stderr.write(s + '\n');
  };

  if (!nativeAvailable()) {
    log(`bench: native kernels unavailable (${nativeLoadError()?.message ?? 'unknown'}); measuring the reference only`);
  }
  const native = nativeAvailable() ? loadNativeKernels() : null;
  const allThreads = native ? nativeInfo().threads : 1;
  const info = native ? nativeInfo() : null;
  log(`bench: ${info ? `native ${info.isa} [${info.microKernels.join(', ')}], ${allThreads} threads` : 'reference only'}, cpus ${availableParallelism()}`);

  // ---- GEMM ----
  const cases = gemmCases(quick);
  const gemmRows: GemmRow[] = [];
  for (const c of cases) {
    const A = randomArray(c.M * c.K, 11);
    const B = randomArray(c.K * c.N, 12);
    const C = new Float32Array(c.M * c.N);
    const row: GemmRow = {
      label: c.label, transA: c.transA, transB: c.transB, M: c.M, N: c.N, K: c.K,
      gflops: { native1: null, nativeAll: null, reference: null, numpy1: null, numpyAll: null },
      medianGflops: { native1: null, nativeAll: null },
      cpuGflops1: null,
    };
    if (native) {
      setThreads(1);
      const t1 = runGemm(native, c, A, B, C, seconds);
      setThreads(allThreads);
      const tn = runGemm(native, c, A, B, C, seconds);
      row.gflops.native1 = gflops(c, t1.best);
      row.gflops.nativeAll = gflops(c, tn.best);
      row.medianGflops.native1 = gflops(c, t1.median);
      row.medianGflops.nativeAll = gflops(c, tn.median);
      row.cpuGflops1 = gflops(c, t1.cpu);
    }
    if (c.reference) row.gflops.reference = gflops(c, runGemm(referenceKernels, c, A, B, C, Math.min(seconds, 0.3)).best);
    gemmRows.push(row);
    log(`  gemm ${c.label}: native1 ${fmt(row.gflops.native1)}  native${allThreads} ${fmt(row.gflops.nativeAll)}  reference ${fmt(row.gflops.reference, 2)} GFLOP/s`);
  }
  let peer = 'none';
  if (!values['no-peer']) {
    if (numpyAvailable()) {
      log('  numpy peer...');
      const p1 = numpyPeer(cases, 1, seconds);
      const pn = numpyPeer(cases, allThreads, seconds);
      if (p1 && pn) {
        peer = 'numpy';
        gemmRows.forEach((r, i) => {
          r.gflops.numpy1 = p1[i] ?? null;
          r.gflops.numpyAll = pn[i] ?? null;
        });
      }
    } else {
      log('  numpy not available (python3 -c "import numpy" failed): no peer');
    }
  }

  // ---- convolutions ----
  const convRows: ConvRow[] = [];
  const batch = 128;
  if (!values['no-conv']) {
    for (const { layer, g } of VGG7_MNIST_CONVS) {
      const mflop = (2 * g.filters * g.channels * g.size * g.size * g.outHeight * g.outWidth * batch) / 1e6;
      const ops = ['forward', 'backwardFilter', 'backwardData'] as const;
      const rows: ConvRow[] = ops.map((op) => ({
        layer, op, batch, mflop, ms: { native1: null, nativeAll: null, reference: null }, cpuMs1: null,
      }));
      if (native) {
        setThreads(1);
        convTimes(native, g, batch, seconds, 3).forEach((t, i) => {
          rows[i]!.ms.native1 = t.best * 1e3;
          rows[i]!.cpuMs1 = t.cpu * 1e3;
        });
        setThreads(allThreads);
        convTimes(native, g, batch, seconds, 3).forEach((t, i) => (rows[i]!.ms.nativeAll = t.best * 1e3));
      }
      convTimes(referenceKernels, g, batch, 0, 1).forEach((t, i) => (rows[i]!.ms.reference = t.best * 1e3));
      convRows.push(...rows);
      log(`  ${layer}: done`);
    }
  }
  if (native) setThreads(allThreads);

  if (values.json) {
    process.stdout.write(
      JSON.stringify(
        {
          bench: 'kernels',
          native: info,
          threads: allThreads,
          cpus: availableParallelism(),
          peer,
          gemm: gemmRows,
          conv: convRows,
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }

  const n = allThreads;
  console.log(`GEMM, GFLOP/s (best of repetitions; native ${info ? info.isa : 'n/a'}, ${n} threads${peer === 'numpy' ? ', peer numpy/OpenBLAS' : ''})`);
  console.log(
    table(
      ['case', 'M', 'N', 'K', 'native 1T', '1T per cpu-s', `native ${n}T`, 'reference', ...(peer === 'numpy' ? ['numpy 1T', `numpy ${n}T`] : [])],
      gemmRows.map((r) => [
        `${r.label}${r.transA || r.transB ? ` (${r.transA ? 'T' : 'N'}${r.transB ? 'T' : 'N'})` : ''}`,
        String(r.M), String(r.N), String(r.K),
        fmt(r.gflops.native1), fmt(r.cpuGflops1), fmt(r.gflops.nativeAll), fmt(r.gflops.reference, 2),
        ...(peer === 'numpy' ? [fmt(r.gflops.numpy1), fmt(r.gflops.numpyAll)] : []),
      ]),
    ),
  );
  if (convRows.length > 0) {
    console.log(`\nVGG-7 MNIST convolutions, batch ${batch}, ms per call (best of repetitions)`);
    console.log(
      table(
        ['layer', 'op', 'MFLOP', 'native 1T', '1T cpu-ms', `native ${n}T`, 'reference', `speed-up ${n}T`, `GFLOP/s ${n}T`],
        convRows.map((r) => [
          r.layer, r.op, r.mflop.toFixed(0), fmt(r.ms.native1, 2), fmt(r.cpuMs1, 2), fmt(r.ms.nativeAll, 2), fmt(r.ms.reference, 1),
          r.ms.nativeAll !== null && r.ms.reference !== null ? `${(r.ms.reference / r.ms.nativeAll).toFixed(0)}×` : '—',
          r.ms.nativeAll !== null ? fmt(r.mflop / r.ms.nativeAll) : '—',
        ]),
      ),
    );
  }
}

main();
