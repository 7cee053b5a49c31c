/* The connected layer for layerlock's OP-TEE TA: see include/layerlock_connected.h. */
#include <layerlock_connected.h>
#include <layerlock_math.h>

/* Exact comparisons with 0 and 1 are the engine's own (beta, zero multipliers): intended. */
#pragma GCC diagnostic ignored "-Wfloat-equal"

void ll_gemm_ref(int trans_a, int trans_b, size_t m, size_t n, size_t k, double alpha,
		 const float *a, size_t lda, const float *b, size_t ldb, double beta,
		 float *c, size_t ldc)
{
	size_t i, j, p;

	for (i = 0; i < m; i++) {
		float *crow = c + i * ldc;

		if (beta == 0.0) {
			for (j = 0; j < n; j++)
				crow[j] = 0.0f;
		} else if (beta != 1.0) {
			for (j = 0; j < n; j++)
				crow[j] = (float)(beta * (double)crow[j]);
		}
		for (p = 0; p < k; p++) {
			const double av = alpha * (double)(trans_a ? a[p * lda + i] : a[i * lda + p]);

			/* the engine skips zero multipliers (it matters for -0 and non-finite values) */
			if (av == 0.0)
				continue;
			if (trans_b) {
				for (j = 0; j < n; j++)
					crow[j] = (float)((double)crow[j] + av * (double)b[j * ldb + p]);
			} else {
				const float *brow = b + p * ldb;

				for (j = 0; j < n; j++)
					crow[j] = (float)((double)crow[j] + av * (double)brow[j]);
			}
		}
	}
}

void ll_bias_activate(float *x, const float *biases, size_t n, size_t channels, size_t spatial,
		      enum ll_activation act)
{
	size_t b, ch, sp, i, count = n * channels * spatial;

	for (b = 0; b < n; b++)
		for (ch = 0; ch < channels; ch++) {
			float *row = x + (b * channels + ch) * spatial;
			const double v = (double)biases[ch];

			for (sp = 0; sp < spatial; sp++)
				row[sp] = (float)((double)row[sp] + v);
		}
	switch (act) {
	case LL_ACT_RELU:
		for (i = 0; i < count; i++)
			if (!(x[i] > 0.0f))
				x[i] = 0.0f;
		break;
	case LL_ACT_LEAKY:
		for (i = 0; i < count; i++)
			if (!(x[i] > 0.0f))
				x[i] = (float)(0.1 * (double)x[i]);
		break;
	case LL_ACT_LOGISTIC:
		for (i = 0; i < count; i++)
			x[i] = (float)(1.0 / (1.0 + ll_exp(-(double)x[i])));
		break;
	default:
		break;
	}
}

void ll_activation_gradient(enum ll_activation act, const float *output, float *delta,
			    size_t count)
{
	size_t i;

	switch (act) {
	case LL_ACT_RELU:
		for (i = 0; i < count; i++)
			if (!(output[i] > 0.0f))
				delta[i] = 0.0f;
		break;
	case LL_ACT_LEAKY:
		for (i = 0; i < count; i++)
			if (!(output[i] > 0.0f))
				delta[i] = (float)(0.1 * (double)delta[i]);
		break;
	case LL_ACT_LOGISTIC:
		for (i = 0; i < count; i++) {
			const double y = output[i];

			delta[i] = (float)((double)delta[i] * y * (1.0 - y));
		}
		break;
	default:
		break;
	}
}

void ll_leaky_slope(float *x, size_t count, double slope)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (!(x[i] > 0.0f))
			x[i] = (float)(slope * (double)x[i]);
}

void ll_leaky_slope_gradient(const float *output, float *delta, size_t count, double slope)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (!(output[i] > 0.0f))
			delta[i] = (float)(slope * (double)delta[i]);
}

void ll_bias_gradient(float *bias_updates, const float *delta, size_t n, size_t channels,
		      size_t spatial)
{
	size_t b, ch, sp;

	for (b = 0; b < n; b++)
		for (ch = 0; ch < channels; ch++) {
			const float *row = delta + (b * channels + ch) * spatial;
			double sum = 0.0;

			for (sp = 0; sp < spatial; sp++)
				sum += (double)row[sp];
			bias_updates[ch] = (float)((double)bias_updates[ch] + sum);
		}
}

void ll_connected_forward_linear(struct ll_connected *l, const float *input, size_t n)
{
	ll_gemm_ref(0, 1, n, l->outputs, l->inputs, 1.0, input, l->inputs, l->weights, l->inputs,
		    0.0, l->output, l->outputs);
}

void ll_connected_forward(struct ll_connected *l, const float *input, size_t n)
{
	ll_connected_forward_linear(l, input, n);
	ll_bias_activate(l->output, l->biases, n, l->outputs, 1, l->activation);
}

void ll_connected_backward_linear(struct ll_connected *l, const float *input, float *input_delta,
				  size_t n, int frozen)
{
	if (!frozen)
		ll_gemm_ref(1, 0, l->outputs, l->inputs, n, 1.0, l->delta, l->outputs, input,
			    l->inputs, 1.0, l->weight_updates, l->inputs);
	if (input_delta)
		ll_gemm_ref(0, 0, n, l->inputs, l->outputs, 1.0, l->delta, l->outputs, l->weights,
			    l->inputs, 1.0, input_delta, l->inputs);
}

void ll_connected_backward(struct ll_connected *l, const float *input, float *input_delta,
			   size_t n, int frozen)
{
	ll_activation_gradient(l->activation, l->output, l->delta, n * l->outputs);
	if (!frozen)
		ll_bias_gradient(l->bias_updates, l->delta, n, l->outputs, 1);
	ll_connected_backward_linear(l, input, input_delta, n, frozen);
}
