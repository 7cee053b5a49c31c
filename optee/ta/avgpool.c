/* Global average pool for layerlock's OP-TEE TA: see include/layerlock_avgpool.h. */
#include <layerlock_avgpool.h>

void ll_avgpool_forward(const float *input, float *output, size_t planes, size_t spatial)
{
	size_t i, s;

	for (i = 0; i < planes; i++) {
		double sum = 0.0;

		for (s = 0; s < spatial; s++)
			sum += (double)input[i * spatial + s];
		output[i] = (float)(sum / (double)spatial);
	}
}

void ll_avgpool_backward(const float *delta, float *input_delta, size_t planes, size_t spatial)
{
	size_t i, s;

	for (i = 0; i < planes; i++) {
		const double d = (double)delta[i] / (double)spatial;

		for (s = 0; s < spatial; s++)
			input_delta[i * spatial + s] =
				(float)((double)input_delta[i * spatial + s] + d);
	}
}
