// The native kernels must compute what the reference kernels compute.
//
// Property tests on random shapes (odd and tiny sizes, all transposes, offsets, padded leading
// dimensions, alpha/beta variants, random conv and pool geometries) compare native against the
// reference element by element, with a tolerance scaled by the magnitude of the terms summed into
// each element: |native - reference| <= 1e-4 * (sum of |terms|) + 1e-6. Exact ops (max-pool) must
// match exactly. Bad arguments must throw without writing. Results must not depend on the thread
// count. If the addon truly failed to build, the native comparisons are skipped with a note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  type ConvGeometry,
  type KernelActivation,
  type Kernels,
  type PoolGeometry,
  getKernels,
  gemmReference,
  loadNativeKernels,
  nativeAvailable,
  nativeInfo,
  nativeLoadError,
  referenceKernels,
  setKernels,
  setThreads,
} from '../src/kernels/index.js';

const native: Kernels | null = nativeAvailable() ? loadNativeKernels() : null;
const skip: string | false = native ? false : `native addon unavailable: ${nativeLoadError()?.message ?? 'unknown'}`;
if (skip) process.stderr.write(`kernels.test: NOTE skipping native comparisons (${skip})\n`);
const ALL_THREADS = native ? nativeInfo().threads : 1;
const INDEX_URL = new URL('../src/kernels/index.js', import.meta.url).href;

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32), so a failing seed replays. */
function randomArray(n: number, seed: number, fill?: (i: number) => number | undefined): Float32Array {
  const a = new Float32Array(n);
  let s = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const f = fill?.(i);
    a[i] = f ?? ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}

const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

/** Asserts |got - want| <= 1e-4 * mag + 1e-6 element-wise (NaN must match NaN). */
function assertClose(got: Float32Array, want: Float32Array, mag: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (g === w) continue; // also equal infinities
    const tol = 1e-4 * mag[i]! + 1e-6;
    if (!(Math.abs(g - w) <= tol)) assert.fail(`${what}[${i}]: got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > tol ${tol})`);
  }
}

function assertBitwiseEqual(a: Float32Array | Int32Array, b: Float32Array | Int32Array, what: string): void {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.fail(`${what}[${i}]: ${a[i]} !== ${b[i]}`);
}

function withThreads<T>(n: number, fn: () => T): T {
  setThreads(n);
  try {
    return fn();
  } finally {
    setThreads(ALL_THREADS);
  }
}

// ---------------------------------------------------------------- gemm

interface GemmCase {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  aOff: number;
  bOff: number;
  cOff: number;
  padA: number;
  padB: number;
  padC: number;
  seed: number;
}

/** A dimension: mostly tiny or small, sometimes up to 300. */
const dim = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 9 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 70 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 }) },
);

const gemmCase: fc.Arbitrary<GemmCase> = fc
  .record({
    M: dim,
    N: dim,
    K: dim,
    transA: fc.boolean(),
    transB: fc.boolean(),
    alpha: fc.constantFrom(1, 0, -1, 0.5, 2.25, -0.3),
    beta: fc.constantFrom(0, 1, -1, 0.5),
    aOff: fc.integer({ min: 0, max: 9 }),
    bOff: fc.integer({ min: 0, max: 9 }),
    cOff: fc.integer({ min: 0, max: 9 }),
    padA: fc.constantFrom(0, 0, 1, 3, 17),
    padB: fc.constantFrom(0, 0, 1, 5, 16),
    padC: fc.constantFrom(0, 0, 2, 7),
    seed: fc.integer(),
  })
  .filter((c) => c.M * c.N * c.K <= 2_000_000);

function checkGemm(k: Kernels, c: GemmCase): void {
  const { M, N, K, transA, transB, alpha, beta } = c;
  const lda = (transA ? M : K) + c.padA;
  const ldb = (transB ? K : N) + c.padB;
  const ldc = N + c.padC;
  const aRows = transA ? K : M;
  const bRows = transB ? N : K;
  const A = randomArray(c.aOff + (aRows - 1) * lda + (transA ? M : K) + 3, c.seed);
  const B = randomArray(c.bOff + (bRows - 1) * ldb + (transB ? K : N) + 3, c.seed + 1);
  const cLen = c.cOff + (M - 1) * ldc + N + 5;
  // Inside the matrix: NaN garbage when beta == 0 (must be ignored), random otherwise.
  // Outside it (offset, ld padding, tail): a sentinel that must survive untouched.
  const inside = (i: number): boolean => i >= c.cOff && (i - c.cOff) % ldc < N && i - c.cOff < M * ldc;
  const C0 = randomArray(cLen, c.seed + 2, (i) => (!inside(i) ? 12345 : beta === 0 ? Number.NaN : undefined));
  const got = C0.slice();
  const want = C0.slice();
  const A0 = A.slice();
  const B0 = B.slice();
  k.gemm(transA, transB, M, N, K, alpha, A, c.aOff, lda, B, c.bOff, ldb, beta, got, c.cOff, ldc);
  gemmReference(transA, transB, M, N, K, alpha, A, c.aOff, lda, B, c.bOff, ldb, beta, want, c.cOff, ldc);
  const mag = abs(C0);
  gemmReference(transA, transB, M, N, K, Math.abs(alpha), abs(A), c.aOff, lda, abs(B), c.bOff, ldb, Math.abs(beta), mag, c.cOff, ldc);
  assertClose(got, want, mag, `C (${JSON.stringify(c)})`);
  assertBitwiseEqual(A, A0, 'A must not change');
  assertBitwiseEqual(B, B0, 'B must not change');
}

test('gemm: native == reference on random shapes, transposes, alpha/beta, offsets, leading dims', { skip }, () => {
  fc.assert(fc.property(gemmCase, (c) => checkGemm(native!, c)), { numRuns: 500 });
});

test('gemm: larger and blocking-edge shapes, all transposes', { skip }, () => {
  // Sizes straddling the cache blocks (KC 256, MC 144) and micro-tiles (6/4 rows, 16/24 columns).
  const shapes: [number, number, number][] = [
    [300, 300, 300], [257, 129, 300], [145, 97, 257], [7, 300, 289], [300, 5, 260], [1, 1, 300], [16, 784, 144],
  ];
  let seed = 1;
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        checkGemm(native!, { M, N, K, transA, transB, alpha: 1, beta: seed % 2 ? 0 : 0.5, aOff: 3, bOff: 1, cOff: 2, padA: 1, padB: 0, padC: 3, seed: seed++ });
      }
    }
  }
});

test('gemm: degenerate sizes (M, N or K = 0) behave like the reference', { skip }, () => {
  for (const [M, N, K] of [[0, 4, 3], [3, 0, 2], [3, 4, 0], [0, 0, 0]] as const) {
    for (const beta of [0, 1, 0.5]) {
      const A = randomArray(20, 1);
      const B = randomArray(20, 2);
      const got = randomArray(20, 3);
      const want = got.slice();
      native!.gemm(false, false, M, N, K, 1, A, 0, Math.max(K, 1), B, 0, Math.max(N, 1), beta, got, 0, Math.max(N, 1));
      gemmReference(false, false, M, N, K, 1, A, 0, Math.max(K, 1), B, 0, Math.max(N, 1), beta, want, 0, Math.max(N, 1));
      assertClose(got, want, abs(want), `C (${M}x${N}x${K}, beta ${beta})`);
    }
  }
});

test('gemm: the result does not depend on the thread count', { skip }, () => {
  for (const [M, N, K] of [[512, 512, 300], [16, 784, 144], [300, 7, 500], [129, 255, 64]] as const) {
    const A = randomArray(M * K, 5);
    const B = randomArray(K * N, 6);
    const run = (threads: number): Float32Array =>
      withThreads(threads, () => {
        const C = new Float32Array(M * N);
        native!.gemm(false, true, M, N, K, 1, A, 0, K, B, 0, K, 0, C, 0, N);
        return C;
      });
    assertBitwiseEqual(run(1), run(Math.max(2, ALL_THREADS)), `C ${M}x${N}x${K}`);
  }
});

// ---------------------------------------------------------------- convolution

interface ConvCase {
  g: ConvGeometry;
  batch: number;
  seed: number;
}

const convCase: fc.Arbitrary<ConvCase> = fc
  .record({
    channels: fc.integer({ min: 1, max: 8 }),
    filters: fc.integer({ min: 1, max: 8 }),
    size: fc.constantFrom(1, 3, 5),
    stride: fc.integer({ min: 1, max: 2 }),
    padding: fc.integer({ min: 0, max: 2 }),
    height: fc.integer({ min: 1, max: 17 }),
    width: fc.integer({ min: 1, max: 17 }),
    batch: fc.integer({ min: 1, max: 5 }),
    // Mostly the standard output size; sometimes one more or one less (the reference allows any).
    outDelta: fc.constantFrom(0, 0, 0, 0, -1, 1),
    seed: fc.integer(),
  })
  .filter((r) => r.height + 2 * r.padding >= r.size && r.width + 2 * r.padding >= r.size)
  .map((r) => {
    const oh = Math.floor((r.height + 2 * r.padding - r.size) / r.stride) + 1;
    const ow = Math.floor((r.width + 2 * r.padding - r.size) / r.stride) + 1;
    const g: ConvGeometry = {
      channels: r.channels, height: r.height, width: r.width, filters: r.filters, size: r.size, stride: r.stride,
      padding: r.padding, outHeight: Math.max(1, oh + r.outDelta), outWidth: Math.max(1, ow + r.outDelta),
    };
    return { g, batch: r.batch, seed: r.seed };
  });

function checkConv(k: Kernels, { g, batch, seed }: ConvCase): void {
  const inSize = batch * g.channels * g.height * g.width;
  const outSize = batch * g.filters * g.outHeight * g.outWidth;
  const wSize = g.filters * g.channels * g.size * g.size;
  const input = randomArray(inSize, seed);
  const weights = randomArray(wSize, seed + 1);
  const delta = randomArray(outSize, seed + 2);
  const what = JSON.stringify({ g, batch });

  // Forward overwrites its output: start from NaN garbage.
  const out = new Float32Array(outSize).fill(Number.NaN);
  const outRef = new Float32Array(outSize);
  const outMag = new Float32Array(outSize);
  k.convForward(g, batch, input, weights, out);
  referenceKernels.convForward(g, batch, input, weights, outRef);
  referenceKernels.convForward(g, batch, abs(input), abs(weights), outMag);
  assertClose(out, outRef, outMag, `convForward ${what}`);

  // The gradients accumulate onto what is already there.
  const wg0 = randomArray(wSize, seed + 3);
  const wg = wg0.slice();
  const wgRef = wg0.slice();
  const wgMag = abs(wg0);
  k.convBackwardFilter(g, batch, input, delta, wg);
  referenceKernels.convBackwardFilter(g, batch, input, delta, wgRef);
  referenceKernels.convBackwardFilter(g, batch, abs(input), abs(delta), wgMag);
  assertClose(wg, wgRef, wgMag, `convBackwardFilter ${what}`);

  const id0 = randomArray(inSize, seed + 4);
  const id = id0.slice();
  const idRef = id0.slice();
  const idMag = abs(id0);
  k.convBackwardData(g, batch, delta, weights, id);
  referenceKernels.convBackwardData(g, batch, delta, weights, idRef);
  referenceKernels.convBackwardData(g, batch, abs(delta), abs(weights), idMag);
  assertClose(id, idRef, idMag, `convBackwardData ${what}`);
}

test('conv: native == reference on random geometries (forward, filter and data gradients)', { skip }, () => {
  fc.assert(fc.property(convCase, (c) => checkConv(native!, c)), { numRuns: 400 });
});

const vggConv = (channels: number, filters: number, side: number): ConvGeometry => ({
  channels, height: side, width: side, filters, size: 3, stride: 1, padding: 1, outHeight: side, outWidth: side,
});

test('conv: the VGG-7 layer shapes (MNIST and CIFAR-10) at small batches', { skip }, () => {
  const shapes = [
    vggConv(1, 16, 28), vggConv(16, 16, 28), vggConv(16, 32, 14), vggConv(32, 32, 14), vggConv(32, 32, 7),
    vggConv(3, 16, 32), vggConv(32, 32, 8),
  ];
  let seed = 100;
  for (const g of shapes) for (const batch of [1, 3]) checkConv(native!, { g, batch, seed: seed++ });
});

test('conv: results do not depend on the thread count', { skip }, () => {
  for (const g of [vggConv(16, 16, 28), vggConv(32, 32, 7), { ...vggConv(4, 8, 9), stride: 2, outHeight: 5, outWidth: 5 }]) {
    for (const batch of [1, 2, 37]) {
      const input = randomArray(batch * g.channels * g.height * g.width, 7);
      const weights = randomArray(g.filters * g.channels * 9, 8);
      const delta = randomArray(batch * g.filters * g.outHeight * g.outWidth, 9);
      const run = (threads: number): Float32Array[] =>
        withThreads(threads, () => {
          const out = new Float32Array(delta.length);
          const wg = new Float32Array(weights.length);
          const id = new Float32Array(input.length);
          native!.convForward(g, batch, input, weights, out);
          native!.convBackwardFilter(g, batch, input, delta, wg);
          native!.convBackwardData(g, batch, delta, weights, id);
          return [out, wg, id];
        });
      const one = run(1);
      const many = run(Math.max(2, ALL_THREADS));
      for (let i = 0; i < 3; i++) assertBitwiseEqual(one[i]!, many[i]!, `op ${i} batch ${batch} ${JSON.stringify(g)}`);
    }
  }
});

// ---------------------------------------------------------------- max-pool

interface PoolCase {
  g: PoolGeometry;
  batch: number;
  seed: number;
  values: 'random' | 'ties' | 'special';
}

const poolCase: fc.Arbitrary<PoolCase> = fc
  .record({
    channels: fc.integer({ min: 1, max: 4 }),
    height: fc.integer({ min: 1, max: 17 }),
    width: fc.integer({ min: 1, max: 17 }),
    size: fc.integer({ min: 1, max: 4 }),
    stride: fc.integer({ min: 1, max: 3 }),
    // Darknet's default padding is size - 1; sometimes something else.
    padding: fc.option(fc.integer({ min: 0, max: 4 }), { freq: 3 }),
    batch: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer(),
    values: fc.constantFrom('random', 'ties', 'special'),
  })
  .map((r) => {
    const padding = r.padding ?? r.size - 1;
    const outHeight = Math.max(1, Math.floor((r.height + padding - r.size) / r.stride) + 1);
    const outWidth = Math.max(1, Math.floor((r.width + padding - r.size) / r.stride) + 1);
    const g: PoolGeometry = { channels: r.channels, height: r.height, width: r.width, size: r.size, stride: r.stride, padding, outHeight, outWidth };
    return { g, batch: r.batch, seed: r.seed, values: r.values as PoolCase['values'] };
  });

function poolInput(c: PoolCase): Float32Array {
  const n = c.batch * c.g.channels * c.g.height * c.g.width;
  const r = randomArray(n, c.seed);
  if (c.values === 'random') return r;
  // Few distinct values force ties (the first maximum must win); 'special' adds -inf and NaN,
  // which never win in the reference (strict '>' from -inf), so a window of only those gives 0/-1.
  return r.map((x) => {
    const v = Math.floor((x + 1) * 2);
    if (c.values === 'special' && v === 0) return Number.NEGATIVE_INFINITY;
    if (c.values === 'special' && v === 3) return Number.NaN;
    return v - 1;
  });
}

test('maxpool: native == reference exactly (values, argmax, ties, padding, -inf/NaN)', { skip }, () => {
  fc.assert(
    fc.property(poolCase, (c) => {
      const input = poolInput(c);
      const outSize = c.batch * c.g.channels * c.g.outHeight * c.g.outWidth;
      const out = new Float32Array(outSize).fill(Number.NaN);
      const arg = new Int32Array(outSize).fill(-7);
      const outRef = new Float32Array(outSize);
      const argRef = new Int32Array(outSize);
      native!.maxpoolForward(c.g, c.batch, input, out, arg);
      referenceKernels.maxpoolForward(c.g, c.batch, input, outRef, argRef);
      assertBitwiseEqual(out, outRef, `output ${JSON.stringify(c)}`);
      assertBitwiseEqual(arg, argRef, `argmax ${JSON.stringify(c)}`);

      const delta = randomArray(outSize, c.seed + 1);
      const id0 = randomArray(input.length, c.seed + 2);
      const id = id0.slice();
      const idRef = id0.slice();
      native!.maxpoolBackward(outSize, delta, arg, id);
      referenceKernels.maxpoolBackward(outSize, delta, argRef, idRef);
      assertBitwiseEqual(id, idRef, `inputDelta ${JSON.stringify(c)}`);
    }),
    { numRuns: 500 },
  );
});

test('maxpool: VGG-7 shapes (2×2/2, padding 1: 28→14→7→4)', { skip }, () => {
  for (const [side, out] of [[28, 14], [14, 7], [7, 4], [32, 16], [8, 4]] as const) {
    const g: PoolGeometry = { channels: 16, height: side, width: side, size: 2, stride: 2, padding: 1, outHeight: out, outWidth: out };
    const batch = 5;
    const input = randomArray(batch * 16 * side * side, side);
    const n = batch * 16 * out * out;
    const [o1, a1, o2, a2] = [new Float32Array(n), new Int32Array(n), new Float32Array(n), new Int32Array(n)];
    native!.maxpoolForward(g, batch, input, o1, a1);
    referenceKernels.maxpoolForward(g, batch, input, o2, a2);
    assertBitwiseEqual(o1, o2, `output ${side}`);
    assertBitwiseEqual(a1, a2, `argmax ${side}`);
  }
});

// ---------------------------------------------------------------- element-wise passes

const ACTIVATIONS: KernelActivation[] = ['linear', 'relu', 'leaky', 'logistic'];

/** Values with NaN, ±0, ±inf and large magnitudes mixed in. */
function eltwiseInput(n: number, seed: number): Float32Array {
  const specials = [Number.NaN, 0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e30, -1e30, 88.5, -104];
  return randomArray(n, seed, (i) => (i % 17 === 5 ? specials[(i >> 4) % specials.length] : undefined)).map((x, i) =>
    i % 17 === 5 ? x : x * 6,
  );
}

/** Bitwise equal, except logistic (exp may differ in the last bit of a double between libms). */
function assertActivationEqual(a: KernelActivation, got: Float32Array, want: Float32Array, what: string): void {
  if (a !== 'logistic') return assertBitwiseEqual(got, want, what);
  assertClose(got, want, abs(want).map((x) => x * 1e-2), what);
}

test('element-wise: biasActivate, activationGradient, biasGradient == reference', { skip }, () => {
  const k = native!;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 900 }),
      fc.constantFrom(...ACTIVATIONS), fc.integer(),
      (n, channels, spatial, act, seed) => {
        const count = n * channels * spatial;
        const biases = randomArray(channels, seed + 1);
        const x = eltwiseInput(count, seed);
        const want = x.slice();
        k.biasActivate!(x, biases, n, channels, spatial, act);
        referenceKernels.biasActivate!(want, biases, n, channels, spatial, act);
        assertActivationEqual(act, x, want, `biasActivate ${act}`);

        const output = eltwiseInput(count, seed + 2);
        const delta = eltwiseInput(count, seed + 3);
        const deltaRef = delta.slice();
        k.activationGradient!(act, output, delta, count);
        referenceKernels.activationGradient!(act, output, deltaRef, count);
        assertActivationEqual(act, delta, deltaRef, `activationGradient ${act}`);

        const d = randomArray(count, seed + 4);
        const upd = randomArray(channels, seed + 5);
        const updRef = upd.slice();
        k.biasGradient!(upd, d, n, channels, spatial);
        referenceKernels.biasGradient!(updRef, d, n, channels, spatial);
        const updMag = abs(upd);
        referenceKernels.biasGradient!(updMag, abs(d), n, channels, spatial);
        assertClose(upd, updRef, updMag.map((m) => m * 1e-2), 'biasGradient');
      },
    ),
    { numRuns: 300 },
  );
  // Big enough to run on the thread pool; results must not depend on the thread count.
  const [n, channels, spatial] = [128, 16, 784];
  const count = n * channels * spatial;
  const biases = randomArray(channels, 1);
  for (const act of ACTIVATIONS) {
    const x0 = eltwiseInput(count, 2);
    const runs = [1, Math.max(2, ALL_THREADS)].map((t) =>
      withThreads(t, () => {
        const x = x0.slice();
        k.biasActivate!(x, biases, n, channels, spatial, act);
        const delta = eltwiseInput(count, 3);
        k.activationGradient!(act, x, delta, count);
        const upd = new Float32Array(channels);
        k.biasGradient!(upd, delta, n, channels, spatial);
        return [x, delta, upd];
      }),
    );
    const want = x0.slice();
    referenceKernels.biasActivate!(want, biases, n, channels, spatial, act);
    assertActivationEqual(act, runs[0]![0]!, want, `biasActivate ${act} (large)`);
    for (let i = 0; i < 3; i++) assertBitwiseEqual(runs[0]![i]!, runs[1]![i]!, `${act} op ${i} threads`);
  }
  assert.throws(() => k.biasActivate!(new Float32Array(4), new Float32Array(2), 1, 2, 2, 'tanh' as KernelActivation), TypeError);
  assert.throws(() => k.biasActivate!(new Float32Array(3), new Float32Array(2), 1, 2, 2, 'relu'), RangeError);
  assert.throws(() => k.activationGradient!('relu', new Float32Array(3), new Float32Array(4), 4), RangeError);
  assert.throws(() => k.biasGradient!(new Float32Array(1), new Float32Array(4), 1, 2, 2), RangeError);
});

// ---------------------------------------------------------------- argument checking

test('bad arguments throw and write nothing', { skip }, () => {
  const k = native!;
  const A = new Float32Array(12);
  const B = new Float32Array(12);
  const C = new Float32Array(12).fill(7);
  const untouched = (): void => assert.ok(C.every((x) => x === 7), 'C must be untouched');
  const gemm = (...over: unknown[]): void => {
    const args: unknown[] = [false, false, 3, 4, 3, 1, A, 0, 3, B, 0, 4, 0, C, 0, 4];
    for (let i = 0; i < over.length; i += 2) args[over[i] as number] = over[i + 1];
    (k.gemm as (...a: unknown[]) => void)(...args);
  };
  gemm(); // valid: 3x3 · 3x4 → 3x4
  C.fill(7);
  assert.throws(() => gemm(0, 1), TypeError, 'transA not a boolean');
  assert.throws(() => gemm(2, '3'), TypeError, 'M not a number');
  assert.throws(() => gemm(2, -1), RangeError, 'negative M');
  assert.throws(() => gemm(2, 1.5), RangeError, 'fractional M');
  assert.throws(() => gemm(2, Number.NaN), RangeError, 'NaN M');
  assert.throws(() => gemm(6, new Float64Array(12)), TypeError, 'A not a Float32Array');
  assert.throws(() => gemm(13, [1, 2, 3]), TypeError, 'C a plain array');
  assert.throws(() => gemm(7, 4), RangeError, 'A offset past the end');
  assert.throws(() => gemm(11, 5), RangeError, 'B leading dimension too large for B');
  assert.throws(() => gemm(14, 1), RangeError, 'C offset: matrix runs past the end');
  assert.throws(() => gemm(15, 3), RangeError, 'ldc < N');
  assert.throws(() => gemm(13, A.subarray(2)), RangeError, 'C overlaps A');
  assert.throws(() => (k.gemm as (...a: unknown[]) => void)(false, false, 1), TypeError, 'too few arguments');
  untouched();

  const g = vggConv(2, 3, 5);
  const input = new Float32Array(2 * 2 * 25);
  const weights = new Float32Array(3 * 2 * 9);
  const output = new Float32Array(2 * 3 * 25);
  k.convForward(g, 2, input, weights, output);
  assert.throws(() => k.convForward(g, 3, input, weights, output), RangeError, 'batch larger than the buffers');
  assert.throws(() => k.convForward(g, 2, input, weights.subarray(1), output), RangeError, 'weights too short');
  assert.throws(() => k.convForward({ ...g, stride: 0 }, 2, input, weights, output), RangeError, 'stride 0');
  assert.throws(() => k.convForward({ ...g, padding: -1 }, 2, input, weights, output), RangeError, 'negative padding');
  const { filters: _omit, ...noFilters } = g;
  assert.throws(() => k.convForward(noFilters as ConvGeometry, 2, input, weights, output), TypeError, 'missing field');
  assert.throws(() => k.convBackwardFilter(g, 2, input, output, new Float32Array(5)), RangeError, 'weightGrad too short');
  assert.throws(() => k.convBackwardData(g, 2, output, weights, output.subarray(0, 100)), RangeError, 'inputDelta overlaps delta');

  const pg: PoolGeometry = { channels: 1, height: 4, width: 4, size: 2, stride: 2, padding: 1, outHeight: 2, outWidth: 2 };
  assert.throws(() => k.maxpoolForward(pg, 1, new Float32Array(16), new Float32Array(4), new Int32Array(3)), RangeError, 'argmax too short');
  assert.throws(
    () => k.maxpoolForward(pg, 1, new Float32Array(16), new Float32Array(4), new Float32Array(4) as unknown as Int32Array),
    TypeError,
    'argmax not an Int32Array',
  );
  const inputDelta = new Float32Array(16);
  assert.throws(() => k.maxpoolBackward(3, new Float32Array(3), Int32Array.of(0, 5, 16), inputDelta), RangeError, 'argmax index out of range');
  assert.ok(inputDelta.every((x) => x === 0), 'nothing written before the bad index was found');
  assert.throws(() => k.maxpoolBackward(4, new Float32Array(3), Int32Array.of(0, 1, 2), inputDelta), RangeError, 'count > delta length');
  assert.throws(() => setThreads(0), RangeError);
  assert.throws(() => setThreads(1.5), RangeError);
});

// ---------------------------------------------------------------- concurrency

test('concurrent calls from worker threads give the same results as the main thread', { skip }, async () => {
  const { Worker } = await import('node:worker_threads');
  const g = vggConv(16, 16, 28);
  const batch = 8;
  const input = randomArray(batch * 16 * 28 * 28, 21);
  const weights = randomArray(16 * 16 * 9, 22);
  const A = randomArray(300 * 200, 23);
  const B = randomArray(200 * 250, 24);
  const want = new Float32Array(batch * 16 * 784);
  const wantC = new Float32Array(300 * 250);
  native!.convForward(g, batch, input, weights, want);
  native!.gemm(false, false, 300, 250, 200, 1, A, 0, 200, B, 0, 250, 0, wantC, 0, 250);
  // Each worker loops over the same ops while the main thread does too, so calls overlap.
  const code = `
    const { parentPort, workerData: d } = require('node:worker_threads');
    import('${INDEX_URL}').then(({ loadNativeKernels }) => {
      const k = loadNativeKernels();
      let out, c;
      for (let i = 0; i < 20; i++) {
        out = new Float32Array(d.want.length);
        c = new Float32Array(d.wantC.length);
        k.convForward(d.g, d.batch, d.input, d.weights, out);
        k.gemm(false, false, 300, 250, 200, 1, d.A, 0, 200, d.B, 0, 250, 0, c, 0, 250);
      }
      parentPort.postMessage({ out, c });
    });`;
  const workers = [0, 1].map(
    () =>
      new Promise<{ out: Float32Array; c: Float32Array }>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { g, batch, input, weights, A, B, want, wantC } });
        w.once('message', resolve);
        w.once('error', reject);
      }),
  );
  for (let i = 0; i < 20; i++) {
    const out = new Float32Array(want.length);
    native!.convForward(g, batch, input, weights, out);
    assertBitwiseEqual(out, want, 'main thread conv while workers run');
  }
  for (const r of await Promise.all(workers)) {
    assertBitwiseEqual(r.out, want, 'worker conv');
    assertBitwiseEqual(r.c, wantC, 'worker gemm');
  }
});

// ---------------------------------------------------------------- backend selection

function runChild(code: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('getKernels: LAYERLOCK_KERNELS=reference selects the reference; setKernels overrides', () => {
  const r = runChild(`import { getKernels } from '${INDEX_URL}'; console.log(getKernels().name);`, { LAYERLOCK_KERNELS: 'reference' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'reference');
  assert.equal(r.stderr, '');
  const before = getKernels();
  setKernels(referenceKernels);
  assert.equal(getKernels(), referenceKernels);
  setKernels(undefined);
  assert.equal(getKernels().name, before.name);
});

test('getKernels: falls back to the reference with one line on stderr when the addon cannot load', () => {
  const r = runChild(
    `import { getKernels } from '${INDEX_URL}'; getKernels(); getKernels(); console.log(getKernels().name);`,
    { LAYERLOCK_NATIVE_ADDON: '/nonexistent/layerlock_kernels.node', LAYERLOCK_KERNELS: '' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'reference');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /native kernels unavailable .*nonexistent.*reference kernels/);
});

test('native backend: name and LAYERLOCK_THREADS', { skip }, () => {
  assert.match(native!.name, /^native-(avx512|avx2|generic) \(\d+ threads?\)$/);
  const code = `import { getKernels } from '${INDEX_URL}'; console.log(getKernels().name);`;
  const r = runChild(code, { LAYERLOCK_THREADS: '3', LAYERLOCK_KERNELS: '' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `native-${nativeInfo().isa} (3 threads)`);
});

// The addon must never die of SIGILL on an older CPU: under qemu's user-mode emulation of a CPU
// without AVX (Nehalem), and of one with AVX2 but no AVX-512 (Haswell), it must load, pick the
// matching kernel set and compute what the reference computes. Needs qemu-user (optional).
const NESTED_ISA = process.env['LAYERLOCK_TEST_EXPECT_ISA'];
const QEMU = spawnSync('qemu-x86_64', ['--version'], { stdio: 'ignore' }).status === 0 && process.arch === 'x64';
for (const [cpu, isa] of [['Nehalem', 'generic'], ['Haswell', 'avx2']] as const) {
  const why =
    skip || (NESTED_ISA !== undefined ? 'nested run' : !QEMU ? 'qemu-x86_64 (apt-get install qemu-user) not available' : false);
  test(`no SIGILL on an emulated ${cpu} CPU: the ${isa} kernels are chosen and correct`, { skip: why }, () => {
    const code = `
      import { getKernels, referenceKernels, nativeInfo } from '${INDEX_URL}';
      const k = getKernels();
      const rnd = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.9);
      let worst = 0;
      const A = rnd(37 * 29, 1), B = rnd(53 * 29, 2), C1 = rnd(37 * 53, 3), C2 = C1.slice();
      k.gemm(false, true, 37, 53, 29, 0.5, A, 0, 29, B, 0, 29, 0.25, C1, 0, 53);
      referenceKernels.gemm(false, true, 37, 53, 29, 0.5, A, 0, 29, B, 0, 29, 0.25, C2, 0, 53);
      const g = { channels: 4, height: 16, width: 16, filters: 8, size: 3, stride: 1, padding: 1, outHeight: 16, outWidth: 16 };
      const x = rnd(2 * 4 * 256, 4), w = rnd(8 * 36, 5), d = rnd(2 * 8 * 256, 6);
      const o = [new Float32Array(2 * 8 * 256), new Float32Array(8 * 36), new Float32Array(2 * 4 * 256)];
      const r = o.map((a) => a.slice());
      k.convForward(g, 2, x, w, o[0]); referenceKernels.convForward(g, 2, x, w, r[0]);
      k.convBackwardFilter(g, 2, x, d, o[1]); referenceKernels.convBackwardFilter(g, 2, x, d, r[1]);
      k.convBackwardData(g, 2, d, w, o[2]); referenceKernels.convBackwardData(g, 2, d, w, r[2]);
      for (const [a, b] of [[C1, C2], ...o.map((a, i) => [a, r[i]])])
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
      console.log(JSON.stringify({ isa: nativeInfo().isa, worst }));`;
    const { NODE_TEST_CONTEXT: _ctx, LAYERLOCK_ISA: _isa, ...env } = process.env;
    const r = spawnSync('qemu-x86_64', ['-cpu', cpu, process.execPath, '--input-type=module', '-e', code], {
      env: { ...env, LAYERLOCK_KERNELS: 'native' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { isa: string; worst: number };
    assert.equal(out.isa, isa);
    assert.ok(out.worst <= 1e-4, `differs from the reference by ${out.worst}`);
  });
}

// The kernel set is chosen at run time (AVX-512, AVX2/FMA or portable); LAYERLOCK_ISA caps the
// choice. Run this whole file again for every set below the one this CPU picks, so each is tested.
const ISA_RANK = ['generic', 'avx2', 'avx512'];

test('nested run uses the requested kernel set', { skip: NESTED_ISA === undefined || skip }, () => {
  assert.equal(nativeInfo().isa, NESTED_ISA);
});

for (const isa of ['avx2', 'generic']) {
  const below = native !== null && ISA_RANK.indexOf(isa) < ISA_RANK.indexOf(nativeInfo().isa);
  const why = skip || (NESTED_ISA !== undefined ? 'nested run' : !below ? `the CPU's own kernel set is not above ${isa}` : false);
  test(`the whole file again with LAYERLOCK_ISA=${isa}`, { skip: why }, () => {
    // NODE_TEST_CONTEXT would make the nested runner report to us over node's internal channel.
    const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fileURLToPath(import.meta.url)], {
      env: { ...env, LAYERLOCK_ISA: isa, LAYERLOCK_TEST_EXPECT_ISA: isa, LAYERLOCK_KERNELS: '' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `nested run with LAYERLOCK_ISA=${isa} failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /# fail 0/);
  });
}
