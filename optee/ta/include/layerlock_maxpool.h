/*
 * Max-pool for layerlock's OP-TEE TA (issue 17, milestone 2): Darknet's geometry as
 * src/nn/layers/maxpool.ts and the kernels' maxpoolForward/maxpoolBackward
 * (src/kernels/reference.ts) — window origin at -padding/2, the first maximum wins,
 * argmax = the input index it came from (-1 for a window entirely in the padding).
 * Comparisons and additions only, so the TA's results equal the engine's bit for bit.
 */
#ifndef LAYERLOCK_MAXPOOL_H
#define LAYERLOCK_MAXPOOL_H

#include <stddef.h>
#include <stdint.h>

struct ll_pool_geometry {
	int32_t channels, height, width;
	int32_t size, stride, padding;
	int32_t out_height, out_width;
};

/* poolOutputSize: Darknet's floor rule, or PyTorch's ceil rule when ceil_mode. */
int32_t ll_pool_output_size(int32_t in_size, int32_t size, int32_t stride, int32_t padding,
			    int ceil_mode);

/* Fills the output sizes of g from its input sizes and window. */
void ll_pool_geometry_init(struct ll_pool_geometry *g, int32_t channels, int32_t height,
			   int32_t width, int32_t size, int32_t stride, int32_t padding,
			   int ceil_mode);

/* output and argmax: batch * channels * out_height * out_width each. */
void ll_maxpool_forward(const struct ll_pool_geometry *g, size_t batch, const float *input,
			float *output, int32_t *argmax);

/* input_delta[argmax[i]] += delta[i] for i in order (count = outputs of the batch). */
void ll_maxpool_backward(size_t count, const float *delta, const int32_t *argmax,
			 float *input_delta);

#endif
