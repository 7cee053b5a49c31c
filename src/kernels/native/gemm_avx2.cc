// AVX2 + FMA micro-kernels. This file alone is compiled with -mavx2 -mfma (see binding.gyp), and
// nothing in it is called before gemm.cc has checked CPUID, so the addon still loads and runs on a
// CPU without AVX2.
//
// SIGILL hygiene: everything here has internal linkage and uses no standard-library templates or
// inline functions from headers. An inline function instantiated in this file would be compiled
// with AVX2 and the linker could pick that copy for the portable code too.
#include "gemm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace layerlock {
namespace {

// One MR×(8·NV) tile: MR·NV accumulators stay in ymm registers for the whole k loop; each step
// loads NV vectors of B and broadcasts MR scalars of A. With 16 ymm registers the useful shapes
// are 6×16 (12 accumulators, 2 B vectors, 1 broadcast) and 4×24 (12 + 3 + 1): both keep 12
// independent FMA chains in flight, enough to cover the FMA latency on two pipes.
template <int MR, int NV>
void ukr(long kc, const float* __restrict a, const float* __restrict b, float* c, long rs, long cs, float beta,
         int m, int n) {
  constexpr int NR = 8 * NV;
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();

  // Warm the C tile while we compute (its first write is at the end).
  if (cs == 1) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) _mm_prefetch(reinterpret_cast<const char*>(c + r * rs), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (long p = 0; p < kc; p++) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }

  if (m == MR && n == NR && cs == 1) {
    // Full tile, row-major C: vector stores straight into C.
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      float* cr = c + r * rs;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        __m256 x = acc[r][v];
        if (beta == 0.0f) {
          // Do not read C: it may hold NaN garbage.
        } else if (beta == 1.0f) {
          x = _mm256_add_ps(_mm256_loadu_ps(cr + 8 * v), x);
        } else {
          x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8 * v), x);
        }
        _mm256_storeu_ps(cr + 8 * v, x);
      }
    }
    return;
  }

  // Edge tile or strided C: spill the tile and write element by element.
  alignas(32) float t[MR * NR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm256_store_ps(t + r * NR + 8 * v, acc[r][v]);
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      float* e = c + i * rs + j * cs;
      *e = beta == 0.0f ? t[i * NR + j] : beta * *e + t[i * NR + j];
    }
  }
}

// Stride-1 im2col rows with 8-float copies; see PanelFillFn for the spill contract.
void fillPanel(long rows, const long* rowOffset, int runs, const float* const* src, const long* at, const long* len,
               long valid, long nr, float* dst) {
  const __m256 zero = _mm256_setzero_ps();
  for (long k = 0; k < rows; k++, dst += nr) {
    const long off = rowOffset[k];
    for (int r = 0; r < runs; r++) {
      const float* s = src[r] + off;
      float* d = dst + at[r];
      for (long t = 0; t < len[r]; t += 8) _mm256_storeu_ps(d + t, _mm256_loadu_ps(s + t));
    }
    for (long t = valid; t < nr; t += 8) _mm256_storeu_ps(dst + t, zero);
  }
}

// 2×4 dot tile: 8 accumulators; per 8 positions 2 delta loads + 4 image loads for 8 FMAs. The 8
// vectors are summed into one vector of 8 totals with horizontal adds.
void dotTile(long qv, const float* const* d, const float* p, const long* offs, float* out) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  __m256 a4 = _mm256_setzero_ps(), a5 = _mm256_setzero_ps(), a6 = _mm256_setzero_ps(), a7 = _mm256_setzero_ps();
  const float* d0 = d[0];
  const float* d1 = d[1];
  const float* p0 = p + offs[0];
  const float* p1 = p + offs[1];
  const float* p2 = p + offs[2];
  const float* p3 = p + offs[3];
  for (long q = 0; q < qv; q += 8) {
    const __m256 x0 = _mm256_load_ps(d0 + q), x1 = _mm256_load_ps(d1 + q);
    __m256 y = _mm256_loadu_ps(p0 + q);
    a0 = _mm256_fmadd_ps(x0, y, a0);
    a4 = _mm256_fmadd_ps(x1, y, a4);
    y = _mm256_loadu_ps(p1 + q);
    a1 = _mm256_fmadd_ps(x0, y, a1);
    a5 = _mm256_fmadd_ps(x1, y, a5);
    y = _mm256_loadu_ps(p2 + q);
    a2 = _mm256_fmadd_ps(x0, y, a2);
    a6 = _mm256_fmadd_ps(x1, y, a6);
    y = _mm256_loadu_ps(p3 + q);
    a3 = _mm256_fmadd_ps(x0, y, a3);
    a7 = _mm256_fmadd_ps(x1, y, a7);
  }
  // hadd pairs twice: each 128-bit lane then holds partial sums of four accumulators.
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  const __m256 lo = _mm256_permute2f128_ps(h0, h1, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(h0, h1, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
}

const MicroKernel kKernels[] = {
    {6, 16, 256, 1.0f, &ukr<6, 2>, "avx2 6x16"},
    {4, 24, 256, 1.0f, &ukr<4, 3>, "avx2 4x24"},
};

}  // namespace

const KernelSet kAvx2Kernels = {"avx2", 2, kKernels, &fillPanel, {2, 4, 8, &dotTile}};
bool avx2KernelsCompiled() { return true; }

}  // namespace layerlock

#else  // not an x86-64 build with AVX2 flags: no AVX2 kernels

namespace layerlock {
const KernelSet kAvx2Kernels = {"avx2", 0, nullptr, nullptr, {0, 0, 0, nullptr}};
bool avx2KernelsCompiled() { return false; }
}  // namespace layerlock

#endif
