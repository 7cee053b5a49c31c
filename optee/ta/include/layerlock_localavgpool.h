/*
 * The local average pool for layerlock's OP-TEE TA (issue 17, milestone 2): LocalAvgpoolLayer of
 * src/nn/layers/local-avgpool.ts (AlexeyAB Darknet's [local_avgpool]) — the max-pool's window
 * geometry (layerlock_maxpool.h), each output the mean of its window, divided by the input values
 * the window covers (Darknet, ONNX count_include_pad=0) or by the window clipped to the padded
 * input (count_include_pad, PyTorch's default). Sums in double in the engine's window order, one
 * rounding to float32 per store, so the results are the engine's bit for bit. No scratch memory:
 * the engine's per-plane sums and divisors are recomputed per output here.
 */
#ifndef LAYERLOCK_LOCALAVGPOOL_H
#define LAYERLOCK_LOCALAVGPOOL_H

#include <stddef.h>
#include <layerlock_maxpool.h>

void ll_local_avgpool_forward(const struct ll_pool_geometry *g, int count_include_pad, size_t batch,
			      const float *input, float *output);
/* input_delta[i] += delta[o] / divisor[o] over every (window o, input i), in the engine's order */
void ll_local_avgpool_backward(const struct ll_pool_geometry *g, int count_include_pad,
			       size_t batch, const float *delta, float *input_delta);

#endif
