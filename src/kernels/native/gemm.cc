// GEMM driver: kernel choice, packing, cache blocking and the split across threads.
// Portable code only (no -mavx2 here); the micro-kernels are called through function pointers.
#include "gemm.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "threadpool.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace layerlock {

namespace {

// Cache blocking. A KC×NR panel of B (KC is per kernel: 16-24 KiB) stays in L1 while the MC×KC
// block of A (~144 KiB) streams from L2; the KC×NC block of B lives in L2/L3. MC and NC are
// multiples of every MR (4, 6, 8) and NR (8, 16, 24, 48, 64) in use so blocks split into whole
// tiles.
const long MC = 144;
const long NC = 768;  // keeps the packed KC×NC block of B (~0.5 MiB) in L2

// Below this many flops a gemm runs on one thread: waking the pool costs more than it saves.
const double kMinParallelFlops = 2.0e6;

inline long lmin(long a, long b) { return a < b ? a : b; }
inline long roundUp(long x, long m) { return (x + m - 1) / m * m; }

// The best kernel set this CPU runs. LAYERLOCK_ISA=avx2|generic caps the choice (for tests and
// comparisons); it never enables a set the CPU lacks.
const KernelSet* detectKernels() {
  const char* force = std::getenv("LAYERLOCK_ISA");
  const bool allow512 = force == nullptr || *force == '\0' || std::strcmp(force, "avx512") == 0;
  const bool allow2 = allow512 || std::strcmp(force, "avx2") == 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // GCC's checks also require the OS to save the vector state (OSXSAVE/XCR0), not just CPUID bits.
  if (allow512 && avx512KernelsCompiled() && __builtin_cpu_supports("avx512f")) return &kAvx512Kernels;
  if (allow2 && avx2KernelsCompiled() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return &kAvx2Kernels;
#else
  (void)allow2;
#endif
  return &kGenericKernels;
}

// ---- packing ----------------------------------------------------------------------------------

// A panel: for each p, MR consecutive rows of op(A), times alpha; rows past m are zero.
template <int MR>
void packAPanels(long m, long k, ConstView a, float alpha, float* dst) {
  for (long i0 = 0; i0 < m; i0 += MR, dst += MR * k) {
    const long mr = lmin(MR, m - i0);
    const float* src = a.p + i0 * a.rs;
    if (mr == MR && a.cs == 1) {
      // Rows contiguous along k: interleave MR row streams.
      const float* rows[MR];
      for (int r = 0; r < MR; r++) rows[r] = src + r * a.rs;
      long p = 0;
#if defined(__SSE2__)
      if (MR == 4) {
        // 4×4 transposes: four loads and four stores per 16 values instead of 16 of each.
        const __m128 va = _mm_set1_ps(alpha);
        for (; p + 4 <= k; p += 4) {
          __m128 r0 = _mm_mul_ps(va, _mm_loadu_ps(rows[0] + p));
          __m128 r1 = _mm_mul_ps(va, _mm_loadu_ps(rows[1 % MR] + p));
          __m128 r2 = _mm_mul_ps(va, _mm_loadu_ps(rows[2 % MR] + p));
          __m128 r3 = _mm_mul_ps(va, _mm_loadu_ps(rows[3 % MR] + p));
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          _mm_storeu_ps(dst + p * MR + 0, r0);
          _mm_storeu_ps(dst + p * MR + 4, r1);
          _mm_storeu_ps(dst + p * MR + 8, r2);
          _mm_storeu_ps(dst + p * MR + 12, r3);
        }
      }
#endif
      for (; p < k; p++)
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) dst[p * MR + r] = alpha * rows[r][p];
    } else if (mr == MR && a.rs == 1) {
      // Columns contiguous along i (transposed storage): MR-float copies.
      for (long p = 0; p < k; p++)
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) dst[p * MR + r] = alpha * src[p * a.cs + r];
    } else {
      for (long p = 0; p < k; p++)
        for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? alpha * src[r * a.rs + p * a.cs] : 0.0f;
    }
  }
}

// B panel: for each p, NR consecutive columns of op(B); columns past n are zero.
template <int NR>
void packBPanels(long k, long n, ConstView b, float* dst) {
  for (long j0 = 0; j0 < n; j0 += NR, dst += NR * k) {
    const long nr = lmin(NR, n - j0);
    const float* src = b.p + j0 * b.cs;
    if (nr == NR && b.cs == 1) {
      for (long p = 0; p < k; p++) std::memcpy(dst + p * NR, src + p * b.rs, NR * sizeof(float));
    } else if (nr == NR && b.rs == 1) {
      const float* cols[NR];
      for (int j = 0; j < NR; j++) cols[j] = src + j * b.cs;
      for (long p = 0; p < k; p++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) dst[p * NR + j] = cols[j][p];
    } else {
      for (long p = 0; p < k; p++)
        for (int j = 0; j < NR; j++) dst[p * NR + j] = j < nr ? src[p * b.rs + j * b.cs] : 0.0f;
    }
  }
}

// ---- per-thread scratch -----------------------------------------------------------------------

struct Scratch {
  static const int kSlots = 10;
  float* ptr[kSlots] = {};
  size_t cap[kSlots] = {};
  ~Scratch() {
    for (int i = 0; i < kSlots; i++) std::free(ptr[i]);
  }
};
thread_local Scratch tlScratch;

// ---- the blocked algorithm on one thread ------------------------------------------------------

void gemmBlocked(const MicroKernel& uk, long m, long n, long k, float alpha, ConstView a, ConstView b, float beta,
                 View c) {
  const long ncMax = lmin(NC, roundUp(n, uk.nr));
  const long KC = uk.kc;
  const long kcMax = lmin(KC, k);
  float* pa = threadScratch(0, static_cast<size_t>(roundUp(lmin(MC, m), uk.mr) * kcMax));
  float* pb = threadScratch(1, static_cast<size_t>(ncMax * kcMax));
  for (long jc = 0; jc < n; jc += NC) {
    const long nc = lmin(NC, n - jc);
    for (long pc = 0; pc < k; pc += KC) {
      const long kc = lmin(KC, k - pc);
      // Later k blocks add onto what the first one wrote.
      const float betaBlock = pc == 0 ? beta : 1.0f;
      packB(uk, kc, nc, ConstView{b.p + pc * b.rs + jc * b.cs, b.rs, b.cs}, pb);
      for (long ic = 0; ic < m; ic += MC) {
        const long mc = lmin(MC, m - ic);
        packA(uk, mc, kc, ConstView{a.p + ic * a.rs + pc * a.cs, a.rs, a.cs}, alpha, pa);
        for (long jr = 0; jr < nc; jr += uk.nr) {
          const int nr = static_cast<int>(lmin(uk.nr, nc - jr));
          const float* bp = pb + jr * kc;
          for (long ir = 0; ir < mc; ir += uk.mr) {
            const int mr = static_cast<int>(lmin(uk.mr, mc - ir));
            uk.fn(kc, pa + ir * kc, bp, c.p + (ic + ir) * c.rs + (jc + jr) * c.cs, c.rs, c.cs, betaBlock, mr, nr);
          }
        }
      }
    }
  }
}

void scaleC(long m, long n, float beta, View c) {
  if (beta == 1.0f) return;
  for (long i = 0; i < m; i++)
    for (long j = 0; j < n; j++) {
      float* e = c.p + i * c.rs + j * c.cs;
      *e = beta == 0.0f ? 0.0f : beta * *e;
    }
}

}  // namespace

const KernelSet& activeKernels() {
  static const KernelSet* set = detectKernels();
  return *set;
}

float* threadScratch(int slot, size_t floats) {
  if (slot < 0 || slot >= Scratch::kSlots) std::abort();
  Scratch& s = tlScratch;
  if (floats == 0) floats = 1;
  if (s.cap[slot] < floats) {
    std::free(s.ptr[slot]);
    // Round up so a sequence of slightly growing requests does not reallocate every time.
    size_t want = floats + floats / 4 + 64;
    void* p = nullptr;
    if (posix_memalign(&p, 64, want * sizeof(float)) != 0) std::abort();
    s.ptr[slot] = static_cast<float*>(p);
    s.cap[slot] = want;
  }
  return s.ptr[slot];
}

size_t packedASize(const MicroKernel& uk, long m, long k) { return static_cast<size_t>(roundUp(m, uk.mr) * k); }
size_t packedBSize(const MicroKernel& uk, long k, long n) { return static_cast<size_t>(roundUp(n, uk.nr) * k); }

void packA(const MicroKernel& uk, long m, long k, ConstView a, float alpha, float* dst) {
  switch (uk.mr) {
    case 4: packAPanels<4>(m, k, a, alpha, dst); break;
    case 6: packAPanels<6>(m, k, a, alpha, dst); break;
    case 8: packAPanels<8>(m, k, a, alpha, dst); break;
    case 12: packAPanels<12>(m, k, a, alpha, dst); break;
    default: std::abort();
  }
}

void packB(const MicroKernel& uk, long k, long n, ConstView b, float* dst) {
  switch (uk.nr) {
    case 8: packBPanels<8>(k, n, b, dst); break;
    case 16: packBPanels<16>(k, n, b, dst); break;
    case 24: packBPanels<24>(k, n, b, dst); break;
    case 32: packBPanels<32>(k, n, b, dst); break;
    case 48: packBPanels<48>(k, n, b, dst); break;
    case 64: packBPanels<64>(k, n, b, dst); break;
    default: std::abort();
  }
}

void gemmPacked(const MicroKernel& uk, long m, long n, long k, const float* pa, const float* pb, float beta, View c) {
  const long mPanels = (m + uk.mr - 1) / uk.mr;
  const long nPanels = (n + uk.nr - 1) / uk.nr;
  const long KC = uk.kc;
  for (long pc = 0; pc < k; pc += KC) {
    const long kc = lmin(KC, k - pc);
    const float betaBlock = pc == 0 ? beta : 1.0f;
    for (long jp = 0; jp < nPanels; jp++) {
      const long j0 = jp * uk.nr;
      const int nr = static_cast<int>(lmin(uk.nr, n - j0));
      // Whole-k panels: the kc slice starting at pc is contiguous.
      const float* bp = pb + j0 * k + pc * uk.nr;
      for (long ip = 0; ip < mPanels; ip++) {
        const long i0 = ip * uk.mr;
        const int mr = static_cast<int>(lmin(uk.mr, m - i0));
        uk.fn(kc, pa + i0 * k + pc * uk.mr, bp, c.p + i0 * c.rs + j0 * c.cs, c.rs, c.cs, betaBlock, mr, nr);
      }
    }
  }
}

const MicroKernel& chooseKernel(long m, long n) {
  const KernelSet& ks = activeKernels();
  int best = 0;
  double bestCost = 0;
  for (int i = 0; i < ks.count; i++) {
    const MicroKernel& uk = ks.kernels[i];
    const double cost = static_cast<double>(roundUp(m, uk.mr)) * static_cast<double>(roundUp(n, uk.nr)) / uk.speed;
    if (i == 0 || cost < bestCost * 0.97) {  // prefer the earlier kernel on near-ties
      best = i;
      bestCost = cost;
    }
  }
  return ks.kernels[best];
}

void sgemm(long m, long n, long k, float alpha, ConstView a, ConstView b, float beta, View c, bool threaded) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scaleC(m, n, beta, c);
    return;
  }

  // Kernel and orientation. Computing C^T = B^T A^T instead swaps the roles of m and n, which
  // wastes less of the tile when m is small (e.g. 16 filters × 784 pixels). It makes C strided
  // for the micro-kernel, whose edge path then writes element by element, so swap only when the
  // saved work clearly outweighs that.
  const KernelSet& ks = activeKernels();
  const MicroKernel* uk = nullptr;
  bool swap = false;
  double bestCost = 0;
  for (int s = 0; s < 2; s++) {
    const long mm = s ? n : m;
    const long nn = s ? m : n;
    const long ccs = s ? c.rs : c.cs;
    for (int i = 0; i < ks.count; i++) {
      const MicroKernel& cand = ks.kernels[i];
      double cost = static_cast<double>(roundUp(mm, cand.mr)) * static_cast<double>(roundUp(nn, cand.nr)) / cand.speed;
      if (ccs != 1) cost *= 1.0 + 24.0 / static_cast<double>(lmin(k, cand.kc));
      if (i > 0) cost *= 1.03;
      if (uk == nullptr || cost < bestCost) {
        uk = &cand;
        swap = s != 0;
        bestCost = cost;
      }
    }
  }
  if (swap) {
    long t = m;
    m = n;
    n = t;
    ConstView na{b.p, b.cs, b.rs};
    ConstView nb{a.p, a.cs, a.rs};
    a = na;
    b = nb;
    c = View{c.p, c.cs, c.rs};
  }

  int threads = 1;
  if (threaded && !insideParallelRegion() && 2.0 * m * n * k >= kMinParallelFlops) threads = poolThreads();
  const long mTiles = (m + uk->mr - 1) / uk->mr;
  const long nTiles = (n + uk->nr - 1) / uk->nr;
  // Split the dimension with more tiles; each part packs its own copy of the other operand.
  const bool splitM = mTiles >= nTiles;
  const long tiles = splitM ? mTiles : nTiles;
  long parts = lmin(threads, tiles);
  if (parts <= 1) {
    gemmBlocked(*uk, m, n, k, alpha, a, b, beta, c);
    return;
  }
  parallelForEach(static_cast<int>(parts), [&](int part, int) {
    const long t0 = tiles * part / parts;
    const long t1 = tiles * (part + 1) / parts;
    if (splitM) {
      const long i0 = t0 * uk->mr;
      const long i1 = lmin(m, t1 * uk->mr);
      gemmBlocked(*uk, i1 - i0, n, k, alpha, ConstView{a.p + i0 * a.rs, a.rs, a.cs}, b, beta,
                  View{c.p + i0 * c.rs, c.rs, c.cs});
    } else {
      const long j0 = t0 * uk->nr;
      const long j1 = lmin(n, t1 * uk->nr);
      gemmBlocked(*uk, m, j1 - j0, k, alpha, a, ConstView{b.p + j0 * b.cs, b.rs, b.cs}, beta,
                  View{c.p + j0 * c.cs, c.rs, c.cs});
    }
  });
}

}  // namespace layerlock
