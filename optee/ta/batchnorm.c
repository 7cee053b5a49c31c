/* Batch normalisation for layerlock's OP-TEE TA: see include/layerlock_batchnorm.h. */
#include <layerlock_batchnorm.h>
#include <layerlock_math.h>

#define BN_EPSILON 0.000001 /* src/nn/batchnorm.ts */
#define ROLLING 0.01

void ll_batchnorm_forward(struct ll_batchnorm *bn, float *x, size_t n, size_t channels,
			  size_t spatial, int batch_stats)
{
	const double count = (double)(n * spatial);
	size_t c, b, s;

	for (c = 0; c < channels; c++) {
		double mean, variance, inv, scale;

		if (batch_stats) {
			double sum = 0, sq = 0;

			for (b = 0; b < n; b++)
				for (s = 0; s < spatial; s++)
					sum += (double)x[(b * channels + c) * spatial + s];
			mean = sum / count;
			for (b = 0; b < n; b++)
				for (s = 0; s < spatial; s++) {
					const double d = (double)x[(b * channels + c) * spatial + s] - mean;

					sq += d * d;
				}
			variance = count > 1 ? sq / (count - 1) : 0;
			bn->mean[c] = (float)mean;
			bn->variance[c] = (float)variance;
			bn->rolling_mean[c] = (float)((1 - ROLLING) * (double)bn->rolling_mean[c] + ROLLING * mean);
			bn->rolling_variance[c] = (float)((1 - ROLLING) * (double)bn->rolling_variance[c] + ROLLING * variance);
		} else {
			mean = bn->rolling_mean[c];
			variance = bn->rolling_variance[c];
		}
		inv = 1 / (ll_sqrt(variance) + BN_EPSILON);
		scale = bn->scales[c];
		for (b = 0; b < n; b++)
			for (s = 0; s < spatial; s++) {
				const size_t i = (b * channels + c) * spatial + s;
				const double v = ((double)x[i] - mean) * inv;

				if (batch_stats)
					bn->x_norm[i] = (float)v;
				x[i] = (float)(v * scale);
			}
	}
}

void ll_batchnorm_backward(struct ll_batchnorm *bn, float *delta, size_t n, size_t channels,
			   size_t spatial, int frozen)
{
	const double count = (double)(n * spatial);
	size_t c, b, k;

	if (frozen) {
		/* the forward used the fixed rolling statistics: a per-channel affine map */
		for (c = 0; c < channels; c++) {
			const double m = (double)bn->scales[c] / (ll_sqrt(bn->rolling_variance[c]) + BN_EPSILON);

			for (b = 0; b < n; b++)
				for (k = 0; k < spatial; k++) {
					const size_t i = (b * channels + c) * spatial + k;

					delta[i] = (float)((double)delta[i] * m);
				}
		}
		return;
	}
	for (c = 0; c < channels; c++) {
		const double scale = bn->scales[c];
		const double sd = ll_sqrt(bn->variance[c]);
		const double s = sd + BN_EPSILON;
		double sum_g = 0, sum_gx = 0, sum_scale = 0, mean_g, var_term;

		for (b = 0; b < n; b++)
			for (k = 0; k < spatial; k++) {
				const size_t i = (b * channels + c) * spatial + k;
				const double d = delta[i];
				const double xn = bn->x_norm[i];
				const double g = d * scale;

				sum_scale += d * xn;
				sum_g += g;
				sum_gx += g * xn;
			}
		bn->scale_updates[c] = (float)((double)bn->scale_updates[c] + sum_scale);
		mean_g = sum_g / count;
		/* d var / d x_i = 2 (x_i - mean) / (count - 1), through s = sqrt(var) + eps */
		var_term = count > 1 && sd > 0 ? sum_gx / (sd * (count - 1)) : 0;
		for (b = 0; b < n; b++)
			for (k = 0; k < spatial; k++) {
				const size_t i = (b * channels + c) * spatial + k;
				const double g = (double)delta[i] * scale;
				const double xn = bn->x_norm[i];

				delta[i] = (float)((g - mean_g) / s - xn * var_term);
			}
	}
}
