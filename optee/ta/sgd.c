/* Darknet's SGD step for layerlock's OP-TEE TA: see include/layerlock_sgd.h. */
#include <layerlock_sgd.h>

void ll_sgd_update(float *data, float *updates, size_t n, double learning_rate,
		   double momentum, double decay, double batch, int with_decay)
{
	const double step = learning_rate / batch;
	/* 0 * w is not always 0 (-0, NaN), but the engine adds it too: keep the same operations */
	const double d = with_decay ? -decay * batch : 0.0;
	size_t i;

	for (i = 0; i < n; i++) {
		const double ui = (double)updates[i] + d * (double)data[i];

		data[i] = (float)((double)data[i] + step * ui);
		updates[i] = (float)(momentum * ui);
	}
}
