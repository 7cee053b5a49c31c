/*
 * Batch normalisation for layerlock's OP-TEE TA (issue 17, milestone 2): src/nn/batchnorm.ts in C,
 * between a convolutional or connected layer's linear part and its bias, as Darknet places it.
 * Training normalises with the batch's mean and unbiased variance and moves the rolling statistics
 * by 1 % per batch; inference (and a frozen layer) uses the rolling statistics; the normaliser is
 * Darknet's (x - mean) / (sqrt(var) + 1e-6). Every step is the engine's, in double with float32
 * stores where the engine stores (the batch mean and variance the normalisation uses are the
 * unrounded doubles; backward reads the stored float32 variance), and sqrt is correctly rounded,
 * so the TA's numbers equal the engine's bit for bit.
 */
#ifndef LAYERLOCK_BATCHNORM_H
#define LAYERLOCK_BATCHNORM_H

#include <stddef.h>

struct ll_batchnorm {
	float *scales;           /* channels */
	float *scale_updates;    /* channels (training) */
	float *rolling_mean;     /* channels */
	float *rolling_variance; /* channels */
	float *mean;             /* channels: the last training batch's (training) */
	float *variance;         /* channels (training) */
	float *x_norm;           /* n × channels × spatial, before the scale (training) */
};

/* In place on x (n × channels × spatial): normalise, then multiply by the scales. */
void ll_batchnorm_forward(struct ll_batchnorm *bn, float *x, size_t n, size_t channels,
			  size_t spatial, int batch_stats);

/*
 * delta (the negative gradient at the normalisation's output) becomes the negative gradient at
 * its input, in place; the scale updates accumulate unless frozen. After a training forward.
 */
void ll_batchnorm_backward(struct ll_batchnorm *bn, float *delta, size_t n, size_t channels,
			   size_t spatial, int frozen);

#endif
