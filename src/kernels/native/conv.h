// Convolution and max-pool kernels (NCHW, float32). Semantics are those of src/kernels/reference.ts;
// callers (addon.cc) have already checked every buffer is large enough.
#pragma once

#include <cstdint>

namespace layerlock {

struct ConvGeom {
  long channels, height, width;
  long filters, size, stride, padding;
  long outHeight, outWidth;
};

struct PoolGeom {
  long channels, height, width;
  long size, stride, padding;
  long outHeight, outWidth;
};

/** output[b] = W · im2col(input[b]) for every image (output overwritten). */
void convForward(const ConvGeom& g, long batch, const float* input, const float* weights, float* output);

/** weightGrad += sum_b delta[b] · im2col(input[b])^T. */
void convBackwardFilter(const ConvGeom& g, long batch, const float* input, const float* delta, float* weightGrad);

/** inputDelta[b] += col2im(W^T · delta[b]) for every image. */
void convBackwardData(const ConvGeom& g, long batch, const float* delta, const float* weights, float* inputDelta);

/** Max-pool forward; argmax holds flat input indices (or -1 for an all-padding window). */
void maxpoolForward(const PoolGeom& g, long batch, const float* input, float* output, int32_t* argmax);

/** inputDelta[argmax[i]] += delta[i] for argmax[i] >= 0 (indices already validated). */
void maxpoolBackward(long count, const float* delta, const int32_t* argmax, float* inputDelta);

}  // namespace layerlock
