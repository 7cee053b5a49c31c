/*
 * Global average pool for layerlock's OP-TEE TA (issue 17, milestone 2): AvgpoolLayer of
 * src/nn/layers/avgpool.ts — each channel's H×W plane becomes its mean. The sums run in
 * double in plane order and are rounded to float32 once, as the engine's are.
 */
#ifndef LAYERLOCK_AVGPOOL_H
#define LAYERLOCK_AVGPOOL_H

#include <stddef.h>

/* planes = images × channels; output[i] = mean of input[i*spatial .. (i+1)*spatial) */
void ll_avgpool_forward(const float *input, float *output, size_t planes, size_t spatial);
/* input_delta[i*spatial + s] += delta[i] / spatial */
void ll_avgpool_backward(const float *delta, float *input_delta, size_t planes, size_t spatial);

#endif
