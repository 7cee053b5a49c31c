/* The local average pool of layerlock's OP-TEE TA: see include/layerlock_localavgpool.h. */
#include <layerlock_localavgpool.h>

static int32_t min32(int32_t a, int32_t b)
{
	return a < b ? a : b;
}

static int32_t max32(int32_t a, int32_t b)
{
	return a > b ? a : b;
}

/* the divisor of output (oy, ox), as the engine's constructor computes it */
static double divisor(const struct ll_pool_geometry *g, int count_include_pad, int32_t y0, int32_t x0)
{
	int32_t pad = g->padding / 2, d;

	if (count_include_pad)
		d = (min32(y0 + g->size, g->height + pad) - y0) * (min32(x0 + g->size, g->width + pad) - x0);
	else
		d = (min32(y0 + g->size, g->height) - max32(y0, 0)) * (min32(x0 + g->size, g->width) - max32(x0, 0));
	return (double)max32(d, 1);
}

void ll_local_avgpool_forward(const struct ll_pool_geometry *g, int count_include_pad, size_t batch,
			      const float *input, float *output)
{
	const int32_t offset = -(g->padding / 2);
	const size_t in_plane = (size_t)g->height * (size_t)g->width;
	const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width;
	size_t p;
	int32_t oy, ox, ky, kx;

	for (p = 0; p < batch * (size_t)g->channels; p++) {
		const float *in = input + p * in_plane;

		for (oy = 0; oy < g->out_height; oy++)
			for (ox = 0; ox < g->out_width; ox++) {
				const int32_t y0 = offset + oy * g->stride, x0 = offset + ox * g->stride;
				double sum = 0;

				for (ky = 0; ky < g->size; ky++) {
					const int32_t y = y0 + ky;

					if (y < 0 || y >= g->height)
						continue;
					for (kx = 0; kx < g->size; kx++) {
						const int32_t x = x0 + kx;

						if (x >= 0 && x < g->width)
							sum += (double)in[(size_t)y * (size_t)g->width + (size_t)x];
					}
				}
				output[p * out_plane + (size_t)oy * (size_t)g->out_width + (size_t)ox] =
					(float)(sum / divisor(g, count_include_pad, y0, x0));
			}
	}
}

void ll_local_avgpool_backward(const struct ll_pool_geometry *g, int count_include_pad,
			       size_t batch, const float *delta, float *input_delta)
{
	const int32_t offset = -(g->padding / 2);
	const size_t in_plane = (size_t)g->height * (size_t)g->width;
	const size_t out_plane = (size_t)g->out_height * (size_t)g->out_width;
	size_t p;
	int32_t oy, ox, ky, kx;

	for (p = 0; p < batch * (size_t)g->channels; p++) {
		float *in = input_delta + p * in_plane;

		for (oy = 0; oy < g->out_height; oy++)
			for (ox = 0; ox < g->out_width; ox++) {
				const int32_t y0 = offset + oy * g->stride, x0 = offset + ox * g->stride;
				const double d = (double)delta[p * out_plane + (size_t)oy * (size_t)g->out_width + (size_t)ox] /
						 divisor(g, count_include_pad, y0, x0);

				for (ky = 0; ky < g->size; ky++) {
					const int32_t y = y0 + ky;

					if (y < 0 || y >= g->height)
						continue;
					for (kx = 0; kx < g->size; kx++) {
						const int32_t x = x0 + kx;

						if (x >= 0 && x < g->width) {
							float *v = &in[(size_t)y * (size_t)g->width + (size_t)x];

							*v = (float)((double)*v + d);
						}
					}
				}
			}
	}
}
