// Single-precision GEMM in the BLIS style: op(A) and op(B) are copied ("packed") into contiguous
// micro-panels, and a register-blocked micro-kernel computes one MR×NR tile of C at a time.
//
// The micro-kernels are the only code compiled with -mavx2 -mfma or -mavx512f (in their own static
// libraries, see binding.gyp); everything here is portable and chooses a kernel set at run time
// from CPUID.
#pragma once

#include <cstddef>

namespace layerlock {

/**
 * Micro-kernel: C[0:m, 0:n] = beta * C + A·B over kc steps, where
 *   A is a packed panel, kc × MR floats (step p holds MR consecutive rows),
 *   B is a packed panel, kc × NR floats (step p holds NR consecutive columns),
 *   C(i, j) lives at c[i * rs + j * cs].
 * m <= MR and n <= NR clip the tile at the matrix edge (the panels are zero padded).
 * beta == 0 must not read C (it may hold NaN garbage). Panels are 32-byte aligned.
 */
typedef void (*MicroKernelFn)(long kc, const float* a, const float* b, float* c, long rs, long cs,
                              float beta, int m, int n);

struct MicroKernel {
  int mr;
  int nr;
  int kc;       // k block: a kc×nr panel of B should sit comfortably in L1
  float speed;  // measured throughput relative to the first kernel of its set (for kernel choice)
  MicroKernelFn fn;
  const char* name;
};

/**
 * Fills `rows` rows of a B micro-panel (row stride nr) from contiguous source runs: row k gets, for
 * each run r, len[r] floats from src[r] + rowOffset[k] at column at[r], then zeros from column
 * `valid` to nr. Runs are in increasing `at` order. May read up to 15 floats past a source run and
 * write up to 15 floats past a destination run (later runs and rows overwrite the spill), so both
 * buffers need 16 floats of slack. This is the unfolding step of a stride-1 convolution.
 */
typedef void (*PanelFillFn)(long rows, const long* rowOffset, int runs, const float* const* src, const long* at,
                            const long* len, long valid, long nr, float* dst);

/**
 * Dot-product tile: out[f·KR + k] = sum over q < qv of d[f][q] · p[offs[k] + q] for f < FR, k < KR.
 * The rows d[f] are 64-byte aligned, qv is a multiple of the vector width VL. This is the filter
 * gradient of a stride-1 convolution: d = delta rows, p = a padded image, offs = filter taps.
 */
typedef void (*DotTileFn)(long qv, const float* const* d, const float* p, const long* offs, float* out);

struct DotKernel {
  int fr, kr, vl;
  DotTileFn fn;  // nullptr if the set has none
};

/** The micro-kernels of one instruction set, best first, its panel fill and its dot tile. */
struct KernelSet {
  const char* isa;  // "avx512", "avx2", "generic"
  int count;
  const MicroKernel* kernels;
  PanelFillFn fillPanel;
  DotKernel dot;
};

// Provided by gemm_avx512.cc and gemm_avx2.cc (only ever called after a CPUID check) and by
// gemm_generic.cc.
extern const KernelSet kAvx512Kernels;
extern const KernelSet kAvx2Kernels;
extern const KernelSet kGenericKernels;
bool avx512KernelsCompiled();
bool avx2KernelsCompiled();

/** The kernel set chosen for this CPU (cached). */
const KernelSet& activeKernels();

/** Strided view of a matrix: element (i, j) at p[i * rs + j * cs]. */
struct ConstView {
  const float* p;
  long rs;
  long cs;
};
struct View {
  float* p;
  long rs;
  long cs;
};

/**
 * C = alpha * A·B + beta * C with A m×k, B k×n, all strided. beta == 0 overwrites C without reading
 * it. Uses the thread pool when `threaded` is true and the problem is big enough. The result does
 * not depend on the thread count (the split never changes how one element is summed).
 */
void sgemm(long m, long n, long k, float alpha, ConstView a, ConstView b, float beta, View c, bool threaded);

// ---- Pre-packed operands, for callers (the convolutions) that pack once and reuse. ----

/** Floats needed to pack an m×k operand A for kernel `uk` (whole-k panels). */
size_t packedASize(const MicroKernel& uk, long m, long k);
/** Floats needed to pack a k×n operand B for kernel `uk`. */
size_t packedBSize(const MicroKernel& uk, long k, long n);
/** Packs A (m×k) into MR-row panels spanning all of k, scaled by alpha. */
void packA(const MicroKernel& uk, long m, long k, ConstView a, float alpha, float* dst);
/** Packs B (k×n) into NR-column panels spanning all of k. */
void packB(const MicroKernel& uk, long k, long n, ConstView b, float* dst);

/**
 * C = A·B + beta * C (m×n, k inner) on packed operands: `pa` from packA, `pb` from packB or written
 * directly in that layout (ceil(n/NR) whole-k panels). Single-threaded; callers split the work.
 */
void gemmPacked(const MicroKernel& uk, long m, long n, long k, const float* pa, const float* pb, float beta, View c);

/** Picks the micro-kernel with the least estimated time (padded tile work / speed) for an m×n C. */
const MicroKernel& chooseKernel(long m, long n);

/** A 64-byte aligned scratch buffer owned by the calling thread (grown on demand, never shrunk). */
float* threadScratch(int slot, size_t floats);

}  // namespace layerlock
