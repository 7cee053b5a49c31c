// Element-wise passes around the convolutions: bias + activation, activation gradient, bias
// gradient. Memory-bound, so the point is one pass in native code instead of several in JS, split
// across threads. The arithmetic reproduces the TypeScript loops in reference.ts bit for bit:
// float32 storage, and double precision wherever JS computes in double (0.1 * x, the logistic),
// in the same order. The bias sums are also taken in double, but with four partial sums, so they
// can differ from the JS loop in the last bit of a float32 (rarely).
#include "eltwise.h"

#include <cmath>

#include "threadpool.h"

namespace layerlock {

namespace {

inline long lmin(long a, long b) { return a < b ? a : b; }

// Below this many elements one thread is faster than waking the pool.
const long kMinParallel = 1L << 15;
const long kChunk = 1L << 14;

// Runs body(begin, end) over [0, count) in chunks, in parallel when worth it.
template <typename Body>
void chunked(long count, Body body) {
  if (count < kMinParallel) {
    body(0L, count);
    return;
  }
  const long chunks = (count + kChunk - 1) / kChunk;
  parallelForEach(static_cast<int>(chunks), [&](int t, int) { body(t * kChunk, lmin(count, (t + 1) * kChunk)); });
}

inline float leaky(float x) { return static_cast<float>(0.1 * static_cast<double>(x)); }
inline float logistic(float x) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x)))); }

}  // namespace

void biasActivate(float* x, const float* biases, long n, long channels, long spatial, Act act) {
  const long planes = n * channels;
  if (planes <= 0 || spatial <= 0) return;
  // Whole (image, channel) planes per chunk so each has one bias value.
  const long planesPerChunk = spatial >= kChunk ? 1 : kChunk / spatial;
  const long chunks = (planes + planesPerChunk - 1) / planesPerChunk;
  auto run = [&](long p0, long p1) {
    for (long p = p0; p < p1; p++) {
      float* v = x + p * spatial;
      const float bias = biases[p % channels];
      switch (act) {
        case Act::Linear:
          for (long s = 0; s < spatial; s++) v[s] = v[s] + bias;
          break;
        case Act::Relu:
          // !(y > 0) -> 0, as in JS: NaN becomes 0 too.
          for (long s = 0; s < spatial; s++) {
            const float y = v[s] + bias;
            v[s] = y > 0.0f ? y : 0.0f;
          }
          break;
        case Act::Leaky:
          for (long s = 0; s < spatial; s++) {
            const float y = v[s] + bias;
            v[s] = y > 0.0f ? y : leaky(y);
          }
          break;
        case Act::Logistic:
          for (long s = 0; s < spatial; s++) v[s] = logistic(v[s] + bias);
          break;
      }
    }
  };
  if (planes * spatial < kMinParallel) {
    run(0, planes);
    return;
  }
  parallelForEach(static_cast<int>(chunks), [&](int t, int) {
    run(t * planesPerChunk, lmin(planes, (t + 1) * planesPerChunk));
  });
}

void activationGradient(Act act, const float* output, float* delta, long count) {
  if (act == Act::Linear) return;
  chunked(count, [&](long i0, long i1) {
    switch (act) {
      case Act::Linear:
        break;
      case Act::Relu:
        for (long i = i0; i < i1; i++) delta[i] = output[i] > 0.0f ? delta[i] : 0.0f;
        break;
      case Act::Leaky:
        for (long i = i0; i < i1; i++) delta[i] = output[i] > 0.0f ? delta[i] : leaky(delta[i]);
        break;
      case Act::Logistic:
        for (long i = i0; i < i1; i++) {
          const double y = output[i];
          delta[i] = static_cast<float>(static_cast<double>(delta[i]) * y * (1.0 - y));
        }
        break;
    }
  });
}

void biasGradient(float* biasUpdates, const float* delta, long n, long channels, long spatial) {
  // Parallel over channels; each channel adds its per-image sums in image order, like the JS loop,
  // so the result does not depend on the thread count.
  auto run = [&](long c0, long c1) {
    for (long c = c0; c < c1; c++) {
      for (long b = 0; b < n; b++) {
        const float* d = delta + (b * channels + c) * spatial;
        // Four interleaved double sums: a single chain is bound by the add latency (as slow as
        // the JS loop); the order differs from JS only far below float32 resolution.
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        long s = 0;
        for (; s + 4 <= spatial; s += 4) {
          s0 += d[s];
          s1 += d[s + 1];
          s2 += d[s + 2];
          s3 += d[s + 3];
        }
        for (; s < spatial; s++) s0 += d[s];
        const double sum = (s0 + s1) + (s2 + s3);
        biasUpdates[c] = static_cast<float>(static_cast<double>(biasUpdates[c]) + sum);
      }
    }
  };
  if (n * channels * spatial < kMinParallel || channels == 1) {
    run(0, channels);
    return;
  }
  parallelForEach(static_cast<int>(channels), [&](int c, int) { run(c, c + 1); });
}

}  // namespace layerlock
