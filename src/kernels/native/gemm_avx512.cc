// AVX-512F micro-kernels, for CPUs that have them (Zen 4/5, Intel since Skylake-SP). This file alone
// is compiled with -mavx512f (see binding.gyp) and nothing in it runs before gemm.cc has checked
// CPUID. On a Zen 5 core the 512-bit FMAs run at full width: twice the AVX2 throughput.
//
// SIGILL hygiene as in gemm_avx2.cc: internal linkage only, no standard-library templates.
#include "gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

// GCC 12's own avx512fintrin.h initialises _mm512_undefined_ps() from itself, which -Wall reports
// as "used uninitialized" wherever a shuffle intrinsic is inlined. A false positive in the header.
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace layerlock {
namespace {

// One MR×(16·NV) tile in MR·NV zmm accumulators (32 registers: 8×48 uses 24 + 3 for B + 1 for the
// broadcast). Eight rows suit the convolutions, whose filter counts are multiples of 8 and 16.
// (16×16 was tried: it is bound by the 16 broadcasts per step and runs at half speed.)
template <int MR, int NV>
void ukr(long kc, const float* __restrict a, const float* __restrict b, float* c, long rs, long cs, float beta,
         int m, int n) {
  constexpr int NR = 16 * NV;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();

  if (cs == 1) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) _mm_prefetch(reinterpret_cast<const char*>(c + r * rs), _MM_HINT_T0);
  }

#pragma GCC unroll 2
  for (long p = 0; p < kc; p++) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }

  if (cs == 1) {
    // Row-major C: masked vector stores clip the tile at the right edge; rows past m are skipped.
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      if (r >= m) break;
      float* cr = c + r * rs;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        const int cols = n - 16 * v;
        if (cols <= 0) break;
        const __mmask16 mask = cols >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << cols) - 1);
        __m512 x = acc[r][v];
        if (beta == 0.0f) {
          // Do not read C: it may hold NaN garbage.
        } else if (beta == 1.0f) {
          x = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, cr + 16 * v), x);
        } else {
          x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr + 16 * v), x);
        }
        _mm512_mask_storeu_ps(cr + 16 * v, mask, x);
      }
    }
    return;
  }

  // Strided C: spill the tile and write element by element.
  alignas(64) float t[MR * NR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm512_store_ps(t + r * NR + 16 * v, acc[r][v]);
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      float* e = c + i * rs + j * cs;
      *e = beta == 0.0f ? t[i * NR + j] : beta * *e + t[i * NR + j];
    }
  }
}

// Stride-1 im2col rows. Masked loads and stores copy each run exactly (no spill), so the loops can
// go run by run: the inner loop over the K rows is then one or two copies with a fixed mask.
void fillPanel(long rows, const long* rowOffset, int runs, const float* const* src, const long* at, const long* len,
               long valid, long nr, float* dst) {
  for (int r = 0; r < runs; r++) {
    const float* s = src[r];
    float* d = dst + at[r];
    const long n = len[r];
    if (n <= 16) {
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
      for (long k = 0; k < rows; k++) _mm512_mask_storeu_ps(d + k * nr, m, _mm512_maskz_loadu_ps(m, s + rowOffset[k]));
    } else if (n <= 32) {
      const __mmask16 m = static_cast<__mmask16>((1u << (n - 16)) - 1);
      for (long k = 0; k < rows; k++) {
        const float* sk = s + rowOffset[k];
        float* dk = d + k * nr;
        _mm512_storeu_ps(dk, _mm512_loadu_ps(sk));
        _mm512_mask_storeu_ps(dk + 16, m, _mm512_maskz_loadu_ps(m, sk + 16));
      }
    } else {
      for (long k = 0; k < rows; k++) {
        const float* sk = s + rowOffset[k];
        float* dk = d + k * nr;
        long t = 0;
        for (; t + 16 <= n; t += 16) _mm512_storeu_ps(dk + t, _mm512_loadu_ps(sk + t));
        if (t < n) {
          const __mmask16 m = static_cast<__mmask16>((1u << (n - t)) - 1);
          _mm512_mask_storeu_ps(dk + t, m, _mm512_maskz_loadu_ps(m, sk + t));
        }
      }
    }
  }
  if (valid < nr) {
    const __m512 zero = _mm512_setzero_ps();
    for (long k = 0; k < rows; k++)
      for (long t = valid; t < nr; t += 16) {
        const long left = nr - t;
        const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
        _mm512_mask_storeu_ps(dst + k * nr + t, m, zero);
      }
  }
}

// 4×4 dot tile: 16 accumulators, and per 16 positions 4 delta loads + 4 image loads for 16 FMAs.
// At the end the 16 vectors are summed into one vector of 16 totals with a shuffle tree (45
// instructions instead of 16 full horizontal reductions), which matters for small images.
void dotTile(long qv, const float* const* d, const float* p, const long* offs, float* out) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
  const float* d0 = d[0];
  const float* d1 = d[1];
  const float* d2 = d[2];
  const float* d3 = d[3];
  const float* p0 = p + offs[0];
  const float* p1 = p + offs[1];
  const float* p2 = p + offs[2];
  const float* p3 = p + offs[3];
  for (long q = 0; q < qv; q += 16) {
    const __m512 x0 = _mm512_load_ps(d0 + q), x1 = _mm512_load_ps(d1 + q);
    const __m512 x2 = _mm512_load_ps(d2 + q), x3 = _mm512_load_ps(d3 + q);
    __m512 y = _mm512_loadu_ps(p0 + q);
    acc[0] = _mm512_fmadd_ps(x0, y, acc[0]);
    acc[4] = _mm512_fmadd_ps(x1, y, acc[4]);
    acc[8] = _mm512_fmadd_ps(x2, y, acc[8]);
    acc[12] = _mm512_fmadd_ps(x3, y, acc[12]);
    y = _mm512_loadu_ps(p1 + q);
    acc[1] = _mm512_fmadd_ps(x0, y, acc[1]);
    acc[5] = _mm512_fmadd_ps(x1, y, acc[5]);
    acc[9] = _mm512_fmadd_ps(x2, y, acc[9]);
    acc[13] = _mm512_fmadd_ps(x3, y, acc[13]);
    y = _mm512_loadu_ps(p2 + q);
    acc[2] = _mm512_fmadd_ps(x0, y, acc[2]);
    acc[6] = _mm512_fmadd_ps(x1, y, acc[6]);
    acc[10] = _mm512_fmadd_ps(x2, y, acc[10]);
    acc[14] = _mm512_fmadd_ps(x3, y, acc[14]);
    y = _mm512_loadu_ps(p3 + q);
    acc[3] = _mm512_fmadd_ps(x0, y, acc[3]);
    acc[7] = _mm512_fmadd_ps(x1, y, acc[7]);
    acc[11] = _mm512_fmadd_ps(x2, y, acc[11]);
    acc[15] = _mm512_fmadd_ps(x3, y, acc[15]);
  }
  // 16 -> 8: within each 128-bit lane, interleave pairs and add.
  __m512 s[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++)
    s[i] = _mm512_add_ps(_mm512_unpacklo_ps(acc[2 * i], acc[2 * i + 1]), _mm512_unpackhi_ps(acc[2 * i], acc[2 * i + 1]));
  // 8 -> 4: each 128-bit lane now holds four accumulators' partial sums.
  __m512 t[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++)
    t[i] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44), _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0xee));
  // 4 -> 1: add the four 128-bit lanes of each t across vectors.
  const __m512 w01 = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], 0x44), _mm512_shuffle_f32x4(t[0], t[1], 0xee));
  const __m512 w23 = _mm512_add_ps(_mm512_shuffle_f32x4(t[2], t[3], 0x44), _mm512_shuffle_f32x4(t[2], t[3], 0xee));
  const __m512 r = _mm512_add_ps(_mm512_shuffle_f32x4(w01, w23, 0x88), _mm512_shuffle_f32x4(w01, w23, 0xdd));
  _mm512_storeu_ps(out, r);
}

const MicroKernel kKernels[] = {
    {8, 48, 160, 1.0f, &ukr<8, 3>, "avx512 8x48"},
    {6, 64, 128, 0.93f, &ukr<6, 4>, "avx512 6x64"},
    {4, 64, 160, 0.93f, &ukr<4, 4>, "avx512 4x64"},
    // Narrow panels for narrow products (the filter gradient of a 1-channel 3×3 layer is 9 wide).
    {8, 16, 256, 0.85f, &ukr<8, 1>, "avx512 8x16"},
};

}  // namespace

const KernelSet kAvx512Kernels = {"avx512", 4, kKernels, &fillPanel, {4, 4, 16, &dotTile}};
bool avx512KernelsCompiled() { return true; }

}  // namespace layerlock

#else  // not built with AVX-512 flags: no AVX-512 kernels

namespace layerlock {
const KernelSet kAvx512Kernels = {"avx512", 0, nullptr, nullptr, {0, 0, 0, nullptr}};
bool avx512KernelsCompiled() { return false; }
}  // namespace layerlock

#endif
