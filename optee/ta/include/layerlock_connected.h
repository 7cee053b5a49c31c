/*
 * The connected (fully connected) layer for layerlock's OP-TEE TA (issue 17, milestone 2),
 * with the linear, relu, leaky and logistic activations (batch normalisation, layerlock_batchnorm.h, goes
 * between the *_linear parts and the bias; partition.c composes them): ConnectedLayer
 * of src/nn/layers/connected.ts on the engine's *reference* kernels (src/kernels/reference.ts:
 * gemmReference, biasActivateReference, activationGradientReference, biasGradientReference),
 * in their order of operations and with JavaScript's double-then-float32 rounding. So the TA
 * equals the engine bit for bit when the engine runs its reference kernels
 * (LAYERLOCK_KERNELS=reference); its native kernels sum in another order (blocked, FMA),
 * which agrees only to rounding.
 */
#ifndef LAYERLOCK_CONNECTED_H
#define LAYERLOCK_CONNECTED_H

#include <stddef.h>

/* the logistic is 1 / (1 + e^-x) with layerlock_math.h's exp, not V8's (the tests measure it) */
enum ll_activation { LL_ACT_LINEAR = 0, LL_ACT_RELU = 1, LL_ACT_LEAKY = 2, LL_ACT_LOGISTIC = 3 };

/* gemmReference: C = alpha * op(A) * op(B) + beta * C, row-major, with its loop order. */
void ll_gemm_ref(int trans_a, int trans_b, size_t m, size_t n, size_t k, double alpha,
		 const float *a, size_t lda, const float *b, size_t ldb, double beta,
		 float *c, size_t ldc);

/* biasActivateReference: x = act(x + biases[c]) over n × channels × spatial */
void ll_bias_activate(float *x, const float *biases, size_t n, size_t channels, size_t spatial,
		      enum ll_activation act);
/* activationGradientReference: delta *= act'(output) */
void ll_activation_gradient(enum ll_activation act, const float *output, float *delta,
			    size_t count);
/*
 * A leaky ReLU of another slope than Darknet's 0.1 (layerlock's leaky_slope=, e.g. PyTorch's 0.01),
 * as src/nn/activation.ts runs it after a linear epilogue: x = slope * x where x <= 0, and
 * delta = slope * delta where the output is <= 0 (a positive slope keeps the sign).
 */
void ll_leaky_slope(float *x, size_t count, double slope);
void ll_leaky_slope_gradient(const float *output, float *delta, size_t count, double slope);

/* biasGradientReference: bias_updates[c] += sum of delta over each image's plane c */
void ll_bias_gradient(float *bias_updates, const float *delta, size_t n, size_t channels,
		      size_t spatial);

struct ll_connected {
	size_t inputs, outputs;
	enum ll_activation activation;
	float *weights;        /* outputs × inputs */
	float *biases;         /* outputs */
	float *weight_updates; /* outputs × inputs, accumulated by backward */
	float *bias_updates;   /* outputs */
	float *output;         /* batch × outputs */
	float *delta;          /* batch × outputs: the negative gradient at the output */
};

/* output = act(input · weightsᵀ + biases) for n images */
void ll_connected_forward(struct ll_connected *l, const float *input, size_t n);
/* its linear part alone, output = input · weightsᵀ (batch normalisation goes between) */
void ll_connected_forward_linear(struct ll_connected *l, const float *input, size_t n);

/*
 * Uses l->delta; accumulates bias and weight updates (unless frozen) and adds the
 * negative gradient with respect to the input into input_delta unless it is NULL.
 */
void ll_connected_backward(struct ll_connected *l, const float *input, float *input_delta,
			   size_t n, int frozen);
/*
 * The part after the activation and bias gradients (and batch normalisation's backward): weight
 * updates unless frozen, the input gradient unless input_delta is NULL.
 */
void ll_connected_backward_linear(struct ll_connected *l, const float *input, float *input_delta,
				  size_t n, int frozen);

#endif
