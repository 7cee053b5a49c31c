/*
 * The convolutional layer for layerlock's OP-TEE TA (issue 17, milestone 2), linear/relu/leaky
 * (batch normalisation, layerlock_batchnorm.h, goes between the *_linear parts and the bias;
 * partition.c composes them): ConvolutionalLayer of src/nn/layers/convolutional.ts on
 * the engine's reference kernels (im2col, gemmReference, col2im of src/kernels/reference.ts),
 * operation for operation, so the TA equals the engine bit for bit on those kernels.
 * The im2col scratch (`col`, channels·size·size × out_height·out_width floats) is the
 * caller's: in the TA it is the arena's 'workspace' block, as the software TA reserves it.
 */
#ifndef LAYERLOCK_CONV_H
#define LAYERLOCK_CONV_H

#include <stddef.h>
#include <stdint.h>
#include <layerlock_connected.h>

struct ll_conv_geometry {
	int32_t channels, height, width;
	int32_t filters, size, stride, padding;
	int32_t out_height, out_width;
};

struct ll_conv {
	struct ll_conv_geometry g;
	enum ll_activation activation;
	float *weights;        /* filters × channels·size·size */
	float *biases;         /* filters */
	float *weight_updates;
	float *bias_updates;
	float *output;         /* batch × filters × out_height·out_width */
	float *delta;
	float *col;            /* the workspace */
};

void ll_im2col(const struct ll_conv_geometry *g, const float *input, float *col);
void ll_col2im(const struct ll_conv_geometry *g, const float *col, float *out);

void ll_conv_forward(struct ll_conv *l, const float *input, size_t n);
/* the convolution alone, before bias and activation (batch normalisation goes between) */
void ll_conv_forward_linear(struct ll_conv *l, const float *input, size_t n);
/* as ll_connected_backward: updates unless frozen, input gradient unless input_delta is NULL */
void ll_conv_backward(struct ll_conv *l, const float *input, float *input_delta, size_t n,
		      int frozen);
/* the filter and data gradients alone (after the activation, bias and batch-norm gradients) */
void ll_conv_backward_linear(struct ll_conv *l, const float *input, float *input_delta, size_t n,
			     int frozen);

#endif
