/*
 * Softmax with cross-entropy for layerlock's OP-TEE TA: see include/layerlock_softmax.h.
 * exp and log come from llmath.c (a TA has no libm).
 */
#include <layerlock_softmax.h>
#include <layerlock_math.h>

/* Exact comparisons with 0 are the engine's own (t !== 0): intended. */
#pragma GCC diagnostic ignored "-Wfloat-equal"

void ll_softmax_forward(const float *input, float *output, size_t n, size_t k)
{
	size_t b, i;

	for (b = 0; b < n; b++) {
		const float *in = input + b * k;
		float *out = output + b * k;
		double max = -__builtin_inf();
		double sum = 0.0;

		for (i = 0; i < k; i++)
			if (in[i] > max)
				max = in[i];
		for (i = 0; i < k; i++) {
			const double e = ll_exp_nonpositive((double)in[i] - max);

			out[i] = (float)e;
			sum += e;
		}
		for (i = 0; i < k; i++)
			out[i] = (float)((double)out[i] / sum);
	}
}

double ll_softmax_cost(const float *truth, const float *output, float *delta, size_t count)
{
	double cost = 0.0;
	size_t i;

	for (i = 0; i < count; i++) {
		const double t = truth[i];
		const double p = output[i];

		delta[i] = (float)(t - p);
		if (t != 0.0)
			cost -= t * ll_log(p > 1e-12 ? p : 1e-12);
	}
	return cost;
}

void ll_softmax_backward(const float *delta, float *input_delta, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		input_delta[i] = (float)((double)input_delta[i] + (double)delta[i]);
}
