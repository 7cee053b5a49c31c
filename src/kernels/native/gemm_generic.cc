// Portable micro-kernel for CPUs without AVX2/FMA (and non-x86 builds). Plain C++ over fixed-size
// arrays: with constant trip counts the compiler keeps the 4×8 accumulator tile in SSE (or NEON)
// registers, which is all the baseline instruction set offers.
#include "gemm.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace layerlock {
namespace {

constexpr int MR = 4;
constexpr int NR = 8;

void ukrGeneric(long kc, const float* __restrict a, const float* __restrict b, float* c, long rs, long cs,
                float beta, int m, int n) {
  float acc[MR][NR] = {};
  for (long p = 0; p < kc; p++) {
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
      const float ar = a[r];
#pragma GCC unroll 8
      for (int j = 0; j < NR; j++) acc[r][j] += ar * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      float* e = c + i * rs + j * cs;
      *e = beta == 0.0f ? acc[i][j] : beta * *e + acc[i][j];
    }
  }
}

// Stride-1 im2col rows with 4-float copies (SSE2 is baseline on x86-64); see PanelFillFn.
void fillPanel(long rows, const long* rowOffset, int runs, const float* const* src, const long* at, const long* len,
               long valid, long nr, float* dst) {
  for (long k = 0; k < rows; k++, dst += nr) {
    const long off = rowOffset[k];
    for (int r = 0; r < runs; r++) {
      const float* s = src[r] + off;
      float* d = dst + at[r];
#if defined(__SSE2__)
      for (long t = 0; t < len[r]; t += 4) _mm_storeu_ps(d + t, _mm_loadu_ps(s + t));
#else
      for (long t = 0; t < len[r]; t++) d[t] = s[t];
#endif
    }
    for (long t = valid; t < nr; t++) dst[t] = 0.0f;
  }
}

const MicroKernel kKernels[] = {
    {MR, NR, 256, 1.0f, &ukrGeneric, "generic 4x8"},
};

}  // namespace

const KernelSet kGenericKernels = {"generic", 1, kKernels, &fillPanel, {0, 0, 0, nullptr}};

}  // namespace layerlock
