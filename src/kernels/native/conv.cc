// Convolutions as GEMMs whose B operand is never materialised as a whole im2col matrix: a task
// unfolds one micro-panel at a time (K × NR values, ~14 KiB for a 16-channel 3×3 layer) from a
// zero-padded copy of the image into L1, and the micro-kernels consume it at once. The VGG-7
// images are small (28×28 and below), so per-image GEMMs are tiny: the forward pass runs over
// panels of the whole batch (split across threads by panel ranges, which also serves batch 1);
// the stride-1 input gradient is a forward pass with flipped filters; the filter gradient runs
// over fixed chunks of images with private accumulators, as dot-product tiles straight on the
// padded image where the stride allows (transposed panels otherwise).
#include "conv.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "gemm.h"
#include "threadpool.h"

namespace layerlock {

namespace {

inline long lmin(long a, long b) { return a < b ? a : b; }
inline long lmax(long a, long b) { return a > b ? a : b; }

// Scratch slots (threadScratch); 0 and 1 belong to sgemm.
const int kSlotPackedA = 2;      // caller thread: packed weights
const int kSlotPanel = 3;        // every thread: one B micro-panel (or a col matrix)
const int kSlotShared = 4;       // caller thread: flipped weights / private accumulators
const int kSlotPackedDelta = 5;  // every thread: packed delta (filter gradient)
const int kSlotPadded = 6;       // every thread: zero-padded image copies
const int kSlotTile = 7;         // every thread: output tile of one panel
const int kSlotOffsets = 8;      // caller thread: per-tap offsets into a padded image

// Floats read or written past the end of a run by the chunked copies below; buffers carry this
// much slack so the over-reads and over-writes stay inside them.
const long kSlack = 16;

// ---- zero-padded images --------------------------------------------------------------------
//
// Every kernel window reads inside a zero-bordered copy of the image, so the unfolding loops need
// no bounds checks. The copy holds exactly the rows and columns the windows read: window (oy, ox)
// starts at padded (oy·es, ox·es), where the effective stride es is the stride, or the kernel
// size when the stride is larger (then the rows and columns no window touches are left out). So
// a copy is never larger than the image's im2col matrix, whatever the geometry.
struct Padded {
  long es;       // effective stride inside the padded copy
  long hp, wp;   // padded plane size
  long plane;    // hp * wp
  long image;    // floats per padded image, including slack
};

Padded paddedShape(const ConvGeom& g) {
  Padded p;
  p.es = lmin(g.stride, g.size);
  p.hp = (g.outHeight - 1) * p.es + g.size;
  p.wp = (g.outWidth - 1) * p.es + g.size;
  p.plane = p.hp * p.wp;
  p.image = g.channels * p.plane + kSlack;
  return p;
}

// Copies n floats; SSE chunks plus a scalar tail. (A plain loop would be turned back into a libc
// memcpy call by the compiler, which costs more than the copy for 7..32-float image rows.)
inline void copyRow(float* d, const float* s, long n) {
  long i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(d + i, _mm_loadu_ps(s + i));
#endif
  for (; i < n; i++) d[i] = s[i];
}

inline void zeroRow(float* d, long n) {
  long i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(d + i, _mm_setzero_ps());
#endif
  for (; i < n; i++) d[i] = 0.0f;
}

// Image coordinate of padded coordinate i (row or column), or -1 if it falls in the padding.
inline long unpad(const ConvGeom& g, const Padded& ps, long i, long extent) {
  const long v = ps.es == g.stride ? i - g.padding : (i / g.size) * g.stride + i % g.size - g.padding;
  return v >= 0 && v < extent ? v : -1;
}

void padImage(const ConvGeom& g, const Padded& ps, const float* img, float* dst) {
  // With es == stride, padded column xc is image column xc - padding: rows copy in one piece.
  const long lo = lmin(ps.wp, g.padding);
  const long hi = lmax(lo, lmin(ps.wp, g.padding + g.width));
  for (long c = 0; c < g.channels; c++) {
    const float* src = img + c * g.height * g.width;
    for (long yc = 0; yc < ps.hp; yc++) {
      float* d = dst + c * ps.plane + yc * ps.wp;
      const long y = unpad(g, ps, yc, g.height);
      if (y < 0) {
        zeroRow(d, ps.wp);
        continue;
      }
      const float* row = src + y * g.width;
#if defined(__SSE2__)
      // The image is read once, usually from L3 or memory: ask for the data a few rows ahead.
      _mm_prefetch(reinterpret_cast<const char*>(row + 512), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(row + 528), _MM_HINT_T0);
#endif
      if (ps.es == g.stride) {
        zeroRow(d, lo);
        if (hi > lo) copyRow(d + lo, row + (lo - g.padding), hi - lo);
        zeroRow(d + hi, ps.wp - hi);
      } else {
        for (long xc = 0; xc < ps.wp; xc++) {
          const long x = unpad(g, ps, xc, g.width);
          d[xc] = x >= 0 ? row[x] : 0.0f;
        }
      }
    }
  }
  zeroRow(dst + g.channels * ps.plane, kSlack);
}

// The padded copies of the images a task is working on, in a small ring (a panel can span
// several images when the output is smaller than the panel width).
struct PadCache {
  const ConvGeom* g;
  Padded ps;
  const float* input;
  long inStride;
  float* buf;
  long slots;
  long tags[72];
  long next;

  PadCache(const ConvGeom& geom, const float* in, long panelWidth) : g(&geom), ps(paddedShape(geom)), input(in) {
    inStride = geom.channels * geom.height * geom.width;
    const long n = geom.outHeight * geom.outWidth;
    slots = lmin(72, panelWidth / n + 2);  // enough for every image one panel touches (nr <= 64)
    buf = threadScratch(kSlotPadded, static_cast<size_t>(slots * ps.image));
    for (long i = 0; i < slots; i++) tags[i] = -1;
    next = 0;
  }

  const float* get(long b) {
    for (long i = 0; i < slots; i++)
      if (tags[i] == b) return buf + i * ps.image;
    const long i = next;
    next = (next + 1) % slots;
    tags[i] = b;
    padImage(*g, ps, input + b * inStride, buf + i * ps.image);
    return buf + i * ps.image;
  }
};

// ---- forward: panels over the whole batch -----------------------------------------------------
//
// Output positions of all images form one sequence j = b·N + p, cut into panels of NR; a panel
// may straddle two images, so small outputs (7×7 = 49 positions) waste no tile columns.

// A stretch of a panel's positions on one output row of one image.
struct Run {
  long at;   // offset inside the panel
  long len;
  long img;  // image index
  long oy, ox;
};

int planRuns(const ConvGeom& g, long j0, long nr, long total, Run* runs) {
  const long n = g.outHeight * g.outWidth;
  const long end = lmin(j0 + nr, total);
  int count = 0;
  for (long j = j0; j < end;) {
    const long b = j / n;
    const long p = j % n;
    const long oy = p / g.outWidth;
    const long ox = p % g.outWidth;
    const long len = lmin(g.outWidth - ox, end - j);
    runs[count++] = Run{j - j0, len, b, oy, ox};
    j += len;
  }
  return count;
}

// One B micro-panel of im2col over the batch: row k = (c, ky, kx) holds the input values under
// tap (ky, kx) of channel c for the panel's nr positions (zero past the last position).
// rowOffset[k] = c·plane + ky·wp + kx locates tap k in a padded image.
void buildPanel(const ConvGeom& g, PadCache& cache, const long* rowOffset, const Run* runs, int nruns, long nr,
                float* dst) {
  const Padded& ps = cache.ps;
  const float* src[64];
  long at[64], len[64];
  long valid = 0;
  for (int r = 0; r < nruns; r++) {
    src[r] = cache.get(runs[r].img) + runs[r].oy * ps.es * ps.wp + runs[r].ox * ps.es;
    at[r] = runs[r].at;
    len[r] = runs[r].len;
    valid = runs[r].at + runs[r].len;
  }
  const long K = g.channels * g.size * g.size;
  if (ps.es == 1) {
    activeKernels().fillPanel(K, rowOffset, nruns, src, at, len, valid, nr, dst);
    return;
  }
  for (long k = 0; k < K; k++, dst += nr) {
    for (int r = 0; r < nruns; r++) {
      const float* s = src[r] + rowOffset[k];
      float* d = dst + at[r];
      for (long t = 0; t < len[r]; t++) d[t] = s[t * ps.es];
    }
    for (long t = valid; t < nr; t++) dst[t] = 0.0f;
  }
}

// out[b] (filters × N) = beta * out[b] + packedW · im2col(in[b]) for all images, parallel over
// ranges of panels. A panel inside one image is stored straight into the output (its positions
// are contiguous there); one that straddles two images goes through a small tile. The split
// never changes how an element is summed, so results do not depend on the thread count.
void forwardBatch(const ConvGeom& g, const MicroKernel& uk, const float* pa, long batch, const float* input,
                  float* output, float beta) {
  const long K = g.channels * g.size * g.size;
  const long N = g.outHeight * g.outWidth;
  const long F = g.filters;
  const long total = batch * N;
  const long nr = uk.nr;
  const long panels = (total + nr - 1) / nr;
  const long threads = insideParallelRegion() ? 1 : poolThreads();
  const long tasks = threads == 1 ? 1 : lmin(panels, 8 * threads);
  if (nr > 64) __builtin_trap();  // runs[] holds at most nr runs
  const Padded ps = paddedShape(g);
  long* offsets = reinterpret_cast<long*>(threadScratch(kSlotOffsets, static_cast<size_t>(2 * K)));
  for (long c = 0, k = 0; c < g.channels; c++)
    for (long ky = 0; ky < g.size; ky++)
      for (long kx = 0; kx < g.size; kx++) offsets[k++] = c * ps.plane + ky * ps.wp + kx;
  parallelForEach(static_cast<int>(tasks), [&](int task, int) {
    const long p0 = panels * task / tasks;
    const long p1 = panels * (task + 1) / tasks;
    PadCache cache(g, input, nr);
    float* pb = threadScratch(kSlotPanel, static_cast<size_t>(K * nr + kSlack));
    float* tile = threadScratch(kSlotTile, static_cast<size_t>(F * nr));
    Run runs[64];
    for (long jp = p0; jp < p1; jp++) {
      const int nruns = planRuns(g, jp * nr, nr, total, runs);
      buildPanel(g, cache, offsets, runs, nruns, nr, pb);
      const long first = runs[0].img;
      if (runs[nruns - 1].img == first) {
        // One image: positions are contiguous in output[first], store directly.
        const long valid = runs[nruns - 1].at + runs[nruns - 1].len;
        const long p = jp * nr - first * N;
        gemmPacked(uk, F, valid, K, pa, pb, beta, View{output + first * F * N + p, N, 1});
        continue;
      }
      gemmPacked(uk, F, nr, K, pa, pb, 0.0f, View{tile, nr, 1});
      for (int r = 0; r < nruns; r++) {
        const Run& run = runs[r];
        float* o = output + run.img * F * N + run.oy * g.outWidth + run.ox;
        const float* t = tile + run.at;
        for (long f = 0; f < F; f++) {
          float* of = o + f * N;
          const float* tf = t + f * nr;
          if (beta == 0.0f) {
            for (long i = 0; i < run.len; i++) of[i] = tf[i];
          } else {
            for (long i = 0; i < run.len; i++) of[i] = beta * of[i] + tf[i];
          }
        }
      }
    }
  });
}

// ---- filter gradient: transposed panels -------------------------------------------------------

// One B micro-panel of im2col(img)^T: for each output position p (all N of one image), the values
// of im2col rows k0 .. k0+nr-1 at p (zero past K). Four rows by four positions at a time with an
// SSE 4×4 transpose; rows past K and odd leftovers go element by element.
void buildPanelT(const ConvGeom& g, const Padded& ps, const float* padded, long k0, long nr, float* dst) {
  const long K = g.channels * g.size * g.size;
  const long OH = g.outHeight, OW = g.outWidth, st = ps.es;
  const float* rows[64];
  for (long jj = 0; jj < nr; jj++) {
    const long k = k0 + jj;
    if (k >= K) {
      rows[jj] = nullptr;
      continue;
    }
    const long c = k / (g.size * g.size), ky = (k / g.size) % g.size, kx = k % g.size;
    rows[jj] = padded + c * ps.plane + ky * ps.wp + kx;
  }
  for (long jj = 0; jj < nr; jj += 4) {
    const bool full = jj + 3 < nr && rows[jj + 3] != nullptr;
    for (long oy = 0; oy < OH; oy++) {
      const long yOff = oy * st * ps.wp;
      float* d = dst + oy * OW * nr + jj;
      long ox = 0;
#if defined(__SSE2__)
      if (full && st == 1) {
        const float* s0 = rows[jj] + yOff;
        const float* s1 = rows[jj + 1] + yOff;
        const float* s2 = rows[jj + 2] + yOff;
        const float* s3 = rows[jj + 3] + yOff;
        for (; ox + 4 <= OW; ox += 4) {
          __m128 r0 = _mm_loadu_ps(s0 + ox), r1 = _mm_loadu_ps(s1 + ox);
          __m128 r2 = _mm_loadu_ps(s2 + ox), r3 = _mm_loadu_ps(s3 + ox);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          _mm_storeu_ps(d + (ox + 0) * nr, r0);
          _mm_storeu_ps(d + (ox + 1) * nr, r1);
          _mm_storeu_ps(d + (ox + 2) * nr, r2);
          _mm_storeu_ps(d + (ox + 3) * nr, r3);
        }
      }
#endif
      for (; ox < OW; ox++)
        for (long q = 0; q < 4 && jj + q < nr; q++)
          d[ox * nr + q] = rows[jj + q] != nullptr ? rows[jj + q][yOff + ox * st] : 0.0f;
    }
  }
}

void col2im(const ConvGeom& g, const float* col, float* img) {
  const long N = g.outHeight * g.outWidth;
  for (long c = 0; c < g.channels; c++) {
    float* plane = img + c * g.height * g.width;
    for (long ky = 0; ky < g.size; ky++) {
      for (long kx = 0; kx < g.size; kx++, col += N) {
        for (long oy = 0; oy < g.outHeight; oy++) {
          const long y = oy * g.stride + ky - g.padding;
          if (y < 0 || y >= g.height) continue;
          float* row = plane + y * g.width;
          const float* src = col + oy * g.outWidth;
          for (long ox = 0; ox < g.outWidth; ox++) {
            const long x = ox * g.stride + kx - g.padding;
            if (x >= 0 && x < g.width) row[x] += src[ox];
          }
        }
      }
    }
  }
}

}  // namespace

void convForward(const ConvGeom& g, long batch, const float* input, const float* weights, float* output) {
  const long K = g.channels * g.size * g.size;
  const long N = g.outHeight * g.outWidth;
  if (batch <= 0 || g.filters <= 0 || N <= 0 || K <= 0) return;
  const MicroKernel& uk = chooseKernel(g.filters, N);
  float* pa = threadScratch(kSlotPackedA, packedASize(uk, g.filters, K));
  packA(uk, g.filters, K, ConstView{weights, K, 1}, 1.0f, pa);
  forwardBatch(g, uk, pa, batch, input, output, 0.0f);
}

void convBackwardData(const ConvGeom& g, long batch, const float* delta, const float* weights, float* inputDelta) {
  const long K = g.channels * g.size * g.size;
  const long N = g.outHeight * g.outWidth;
  const long S = g.size;
  if (batch <= 0 || K <= 0 || N <= 0 || g.filters <= 0) return;

  // Stride 1 with the standard output size: the input gradient is itself a stride-1 convolution
  // of delta with the spatially flipped, channel-transposed filters and padding size-1-padding,
  // accumulated into inputDelta. That reuses the fused forward path and needs no col2im scatter.
  // It unfolds filters·size² rows per position instead of channels·size², so with few input
  // channels (the first layer) the plain col2im route below is cheaper.
  const bool standard = g.stride == 1 && g.padding <= S - 1 && g.outHeight == g.height + 2 * g.padding - S + 1 &&
                        g.outWidth == g.width + 2 * g.padding - S + 1;
  if (standard && g.filters <= 4 * g.channels) {
    ConvGeom t{};
    t.channels = g.filters;
    t.height = g.outHeight;
    t.width = g.outWidth;
    t.filters = g.channels;
    t.size = S;
    t.stride = 1;
    t.padding = S - 1 - g.padding;
    t.outHeight = g.height;
    t.outWidth = g.width;
    const long Kt = g.filters * S * S;
    float* flipped = threadScratch(kSlotShared, static_cast<size_t>(g.channels * Kt));
    for (long f = 0; f < g.filters; f++)
      for (long c = 0; c < g.channels; c++)
        for (long ky = 0; ky < S; ky++)
          for (long kx = 0; kx < S; kx++)
            flipped[((c * g.filters + f) * S + (S - 1 - ky)) * S + (S - 1 - kx)] =
                weights[((f * g.channels + c) * S + ky) * S + kx];
    const MicroKernel& uk = chooseKernel(t.filters, g.height * g.width);
    float* pa = threadScratch(kSlotPackedA, packedASize(uk, t.filters, Kt));
    packA(uk, t.filters, Kt, ConstView{flipped, Kt, 1}, 1.0f, pa);
    forwardBatch(t, uk, pa, batch, delta, inputDelta, 1.0f);
    return;
  }

  // General case: col = W^T · delta[b] (one small gemm per image), then scatter-add it back.
  const long inStride = g.channels * g.height * g.width;
  const long outStride = g.filters * N;
  parallelForEach(static_cast<int>(batch), [&](int b, int) {
    float* col = threadScratch(kSlotPanel, static_cast<size_t>(K * N));
    sgemm(K, N, g.filters, 1.0f, ConstView{weights, 1, K}, ConstView{delta + b * outStride, N, 1}, 0.0f,
          View{col, N, 1}, false);
    col2im(g, col, inputDelta + b * inStride);
  });
}

void convBackwardFilter(const ConvGeom& g, long batch, const float* input, const float* delta, float* weightGrad) {
  const long K = g.channels * g.size * g.size;
  const long N = g.outHeight * g.outWidth;
  const long F = g.filters;
  if (batch <= 0 || K <= 0 || N <= 0 || F <= 0) return;
  const MicroKernel& uk = chooseKernel(F, K);
  const long kPanels = (K + uk.nr - 1) / uk.nr;
  const long outStride = F * N;
  const Padded ps = paddedShape(g);

  // With a unit step inside the padded copy, the filter gradient needs no unfolding at all: on
  // the "wide" grid q = oy·wp + ox of the padded image, tap k reads padded[offset_k + q], so
  // dW[f][k] = sum_q deltaWide[f][q] · padded[offset_k + q], where deltaWide is delta spread onto
  // that grid with zeros in the columns ox >= outWidth (those products vanish). The dot-product
  // tile reads both operands contiguously; the zero columns cost (size-1)/wp extra work.
  // On small outputs (7×7: 61 grid points for 49 positions) the padding columns and the final
  // reduction of each tile outweigh the saving, and the panel route below is faster.
  const DotKernel& dot = activeKernels().dot;
  const long Q = (g.outHeight - 1) * ps.wp + g.outWidth;
  if (dot.fn != nullptr && ps.es == 1 && Q >= 128) {
    const long OH = g.outHeight, OW = g.outWidth;
    const long QV = (Q + dot.vl - 1) / dot.vl * dot.vl;  // reads up to QV-Q past a plane: < kSlack
    long* offsets = reinterpret_cast<long*>(threadScratch(kSlotOffsets, static_cast<size_t>(2 * K)));
    for (long c = 0, k = 0; c < g.channels; c++)
      for (long ky = 0; ky < g.size; ky++)
        for (long kx = 0; kx < g.size; kx++) offsets[k++] = c * ps.plane + ky * ps.wp + kx;
    auto accumulateDot = [&](long b0, long b1, float* acc) {
      // F delta rows on the wide grid plus one zero row for the tile rows past F.
      float* wide = threadScratch(kSlotPackedDelta, static_cast<size_t>((F + 1) * QV));
      float* padded = threadScratch(kSlotPadded, static_cast<size_t>(ps.image));
      std::memset(wide + F * QV, 0, sizeof(float) * static_cast<size_t>(QV));
      float sums[64];
      const float* rows[16];
      long offs[16];
      for (long b = b0; b < b1; b++) {
        padImage(g, ps, input + b * g.channels * g.height * g.width, padded);
        for (long f = 0; f < F; f++) {
          const float* src = delta + b * outStride + f * N;
          float* w = wide + f * QV;
          for (long oy = 0; oy < OH; oy++) {
            copyRow(w + oy * ps.wp, src + oy * OW, OW);
            if (oy + 1 < OH) zeroRow(w + oy * ps.wp + OW, ps.wp - OW);
          }
          zeroRow(w + Q, QV - Q);
        }
        for (long f0 = 0; f0 < F; f0 += dot.fr) {
          for (int i = 0; i < dot.fr; i++) rows[i] = wide + lmin(f0 + i, F) * QV;  // row F is zero
          for (long k0 = 0; k0 < K; k0 += dot.kr) {
            for (int i = 0; i < dot.kr; i++) offs[i] = k0 + i < K ? offsets[k0 + i] : 0;
            dot.fn(QV, rows, padded, offs, sums);
            const long fn = lmin(dot.fr, F - f0), kn = lmin(dot.kr, K - k0);
            for (long i = 0; i < fn; i++)
              for (long j = 0; j < kn; j++) acc[(f0 + i) * K + k0 + j] += sums[i * dot.kr + j];
          }
        }
      }
    };
    const long chunks = lmin(batch, 16);
    if (chunks == 1) {
      accumulateDot(0, batch, weightGrad);
      return;
    }
    const long FK = F * K;
    float* partial = threadScratch(kSlotShared, static_cast<size_t>(chunks * FK));
    std::memset(partial, 0, sizeof(float) * static_cast<size_t>(chunks * FK));
    parallelForEach(static_cast<int>(chunks), [&](int c, int) {
      accumulateDot(batch * c / chunks, batch * (c + 1) / chunks, partial + c * FK);
    });
    for (long c = 0; c < chunks; c++) {
      const float* src = partial + c * FK;
      for (long e = 0; e < FK; e++) weightGrad[e] += src[e];
    }
    return;
  }

  // acc (F × K, row stride K) += delta[b] (F × N) · im2col(input[b])^T (N × K) for the images
  // [b0, b1). The inner dimension is the output position.
  auto accumulate = [&](long b0, long b1, float* acc) {
    float* pa = threadScratch(kSlotPackedDelta, packedASize(uk, F, N));
    float* pb = threadScratch(kSlotPanel, packedBSize(uk, N, uk.nr));
    float* padded = threadScratch(kSlotPadded, static_cast<size_t>(ps.image));
    for (long b = b0; b < b1; b++) {
      padImage(g, ps, input + b * g.channels * g.height * g.width, padded);
      packA(uk, F, N, ConstView{delta + b * outStride, N, 1}, 1.0f, pa);
      for (long jp = 0; jp < kPanels; jp++) {
        const long k0 = jp * uk.nr;
        buildPanelT(g, ps, padded, k0, uk.nr, pb);
        gemmPacked(uk, F, lmin(uk.nr, K - k0), N, pa, pb, 1.0f, View{acc + k0, K, 1});
      }
    }
  };

  // Images are summed in a fixed number of chunks (a function of the batch only), each into its
  // own accumulator, and the chunks are added in order: the result is the same for any thread
  // count, so a run does not change when LAYERLOCK_THREADS does.
  const long chunks = lmin(batch, 16);
  if (chunks == 1) {
    accumulate(0, batch, weightGrad);
    return;
  }
  const long FK = F * K;
  float* partial = threadScratch(kSlotShared, static_cast<size_t>(chunks * FK));
  std::memset(partial, 0, sizeof(float) * static_cast<size_t>(chunks * FK));
  parallelForEach(static_cast<int>(chunks), [&](int c, int) {
    accumulate(batch * c / chunks, batch * (c + 1) / chunks, partial + c * FK);
  });
  for (long c = 0; c < chunks; c++) {
    const float* src = partial + c * FK;
    for (long e = 0; e < FK; e++) weightGrad[e] += src[e];
  }
}

void maxpoolForward(const PoolGeom& g, long batch, const float* input, float* output, int32_t* argmax) {
  const long planes = batch * g.channels;
  const long H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
  if (planes <= 0 || OH <= 0 || OW <= 0) return;
  // Window top-left at -trunc(padding / 2), as in the reference (and Darknet).
  const long offset = -(g.padding / 2);
  const long perTask = lmax(1, 16384 / lmax(1, OH * OW * g.size * g.size));
  const long tasks = (planes + perTask - 1) / perTask;
  parallelForEach(static_cast<int>(tasks), [&](int task, int) {
    const long p1 = lmin(planes, (task + 1) * perTask);
    for (long p = task * perTask; p < p1; p++) {
      const long base = p * H * W;
      const float* plane = input + base;
      float* out = output + p * OH * OW;
      int32_t* arg = argmax + p * OH * OW;
      for (long oy = 0; oy < OH; oy++) {
        const long y0 = offset + oy * g.stride;
        const long kyLo = lmax(0, -y0), kyHi = lmin(g.size, H - y0);
        // 2×2 windows with stride 2 (Darknet's usual pool) inside the image go four at a time: the
        // same four comparisons, in the same order, as the scalar loop.
        const bool pair = g.size == 2 && g.stride == 2 && y0 >= 0 && y0 + 1 < H;
        for (long ox = 0; ox < OW;) {
#if defined(__SSE2__)
          if (pair && offset + ox * 2 >= 0 && ox + 4 <= OW && offset + (ox + 3) * 2 + 1 < W) {
            const long x0 = offset + ox * 2;
            const float* r0 = plane + y0 * W + x0;
            const float* r1 = r0 + W;
            const __m128 a0 = _mm_loadu_ps(r0), a1 = _mm_loadu_ps(r0 + 4);
            const __m128 b0 = _mm_loadu_ps(r1), b1 = _mm_loadu_ps(r1 + 4);
            const __m128 v[4] = {_mm_shuffle_ps(a0, a1, 0x88), _mm_shuffle_ps(a0, a1, 0xdd),
                                 _mm_shuffle_ps(b0, b1, 0x88), _mm_shuffle_ps(b0, b1, 0xdd)};
            const int32_t i00 = static_cast<int32_t>(base + y0 * W + x0);
            const __m128i first = _mm_setr_epi32(i00, i00 + 2, i00 + 4, i00 + 6);
            const __m128i step[4] = {first, _mm_add_epi32(first, _mm_set1_epi32(1)),
                                     _mm_add_epi32(first, _mm_set1_epi32(static_cast<int32_t>(W))),
                                     _mm_add_epi32(first, _mm_set1_epi32(static_cast<int32_t>(W + 1)))};
            const __m128i none = _mm_set1_epi32(-1);
            __m128 best = _mm_set1_ps(-__builtin_inff());
            __m128i idx = none;
            for (int t = 0; t < 4; t++) {
              const __m128 m = _mm_cmpgt_ps(v[t], best);  // false for NaN, as in the scalar code
              best = _mm_or_ps(_mm_and_ps(m, v[t]), _mm_andnot_ps(m, best));
              const __m128i mi = _mm_castps_si128(m);
              idx = _mm_or_si128(_mm_and_si128(mi, step[t]), _mm_andnot_si128(mi, idx));
            }
            const __m128 found = _mm_castsi128_ps(_mm_cmpgt_epi32(idx, none));
            _mm_storeu_ps(out + oy * OW + ox, _mm_and_ps(found, best));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(arg + oy * OW + ox), idx);
            ox += 4;
            continue;
          }
#else
          (void)pair;
#endif
          const long x0 = offset + ox * g.stride;
          const long kxLo = lmax(0, -x0), kxHi = lmin(g.size, W - x0);
          // Strict '>' from -inf: the first maximum wins ties, and a window of only NaN or -inf
          // (or only padding) yields 0 with argmax -1, exactly like the reference.
          float best = -__builtin_inff();
          long bestIndex = -1;
          for (long ky = kyLo; ky < kyHi; ky++) {
            const long rowIndex = (y0 + ky) * W;
            for (long kx = kxLo; kx < kxHi; kx++) {
              const long idx = rowIndex + x0 + kx;
              const float v = plane[idx];
              if (v > best) {
                best = v;
                bestIndex = idx;
              }
            }
          }
          out[oy * OW + ox] = bestIndex >= 0 ? best : 0.0f;
          arg[oy * OW + ox] = bestIndex >= 0 ? static_cast<int32_t>(base + bestIndex) : -1;
          ox++;
        }
      }
    }
  });
}

void maxpoolBackward(long count, const float* delta, const int32_t* argmax, float* inputDelta) {
  // Serial on purpose: windows may overlap (stride < size), so two outputs can hit one input.
  for (long i = 0; i < count; i++) {
    const int32_t j = argmax[i];
    if (j >= 0) inputDelta[j] += delta[i];
  }
}

}  // namespace layerlock
