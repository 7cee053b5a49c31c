/* Dropout for layerlock's OP-TEE TA: see include/layerlock_dropout.h. */
#include <layerlock_dropout.h>
#include <layerlock_rng.h>

void ll_dropout_train(const float *in, float *out, uint8_t *keep, size_t count, double p,
		      uint32_t seed, uint32_t layer_index, uint32_t iteration)
{
	struct ll_rng r;
	double scale = 1.0 / (1.0 - p);
	size_t i;

	ll_rng_init3(&r, seed, "dropout", layer_index, iteration);
	for (i = 0; i < count; i++) {
		int kept = ll_rng_uniform(&r) >= p;

		keep[i] = (uint8_t)kept;
		out[i] = kept ? (float)((double)in[i] * scale) : 0.0f;
	}
}

void ll_dropout_infer(const float *in, float *out, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		out[i] = in[i];
}

void ll_dropout_backward(const float *delta, const uint8_t *keep, float *input_delta,
			 size_t count, double p, int was_train)
{
	const double scale = 1.0 / (1.0 - p);
	size_t i;

	for (i = 0; i < count; i++) {
		if (!was_train)
			input_delta[i] = (float)((double)input_delta[i] + (double)delta[i]);
		else if (keep[i])
			input_delta[i] = (float)((double)input_delta[i] + (double)delta[i] * scale);
	}
}
