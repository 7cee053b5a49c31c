/* Max-pool for layerlock's OP-TEE TA: see include/layerlock_maxpool.h. */
#include <layerlock_maxpool.h>

/* floor division for the (possibly negative) numerators of the floor rule */
static int32_t floor_div(int32_t a, int32_t b)
{
	int32_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int32_t ceil_div(int32_t a, int32_t b)
{
	return -floor_div(-a, b);
}

int32_t ll_pool_output_size(int32_t in_size, int32_t size, int32_t stride, int32_t padding,
			    int ceil_mode)
{
	int32_t pad, out;

	if (!ceil_mode)
		return floor_div(in_size + padding - size, stride) + 1;
	pad = padding / 2; /* Math.trunc: padding is not negative */
	out = ceil_div(in_size + 2 * pad - size, stride) + 1;
	if ((out - 1) * stride >= in_size + pad)
		out--;
	return out;
}

void ll_pool_geometry_init(struct ll_pool_geometry *g, int32_t channels, int32_t height,
			   int32_t width, int32_t size, int32_t stride, int32_t padding,
			   int ceil_mode)
{
	g->channels = channels;
	g->height = height;
	g->width = width;
	g->size = size;
	g->stride = stride;
	g->padding = padding;
	g->out_height = ll_pool_output_size(height, size, stride, padding, ceil_mode);
	g->out_width = ll_pool_output_size(width, size, stride, padding, ceil_mode);
}

void ll_maxpool_forward(const struct ll_pool_geometry *g, size_t batch, const float *input,
			float *output, int32_t *argmax)
{
	const int32_t offset = -(g->padding / 2);
	size_t bc;
	int32_t oy, ox, ky, kx;

	for (bc = 0; bc < batch * (size_t)g->channels; bc++) {
		const size_t in_base = bc * (size_t)g->height * (size_t)g->width;

		for (oy = 0; oy < g->out_height; oy++) {
			for (ox = 0; ox < g->out_width; ox++) {
				/* as the engine: -Infinity, so a window of -Infinity or NaN keeps -1 */
				float best = -__builtin_inff();
				int64_t best_index = -1;
				size_t o;

				for (ky = 0; ky < g->size; ky++) {
					const int32_t y = offset + oy * g->stride + ky;

					if (y < 0 || y >= g->height)
						continue;
					for (kx = 0; kx < g->size; kx++) {
						const int32_t x = offset + ox * g->stride + kx;
						size_t idx;
						float v;

						if (x < 0 || x >= g->width)
							continue;
						idx = in_base + (size_t)y * (size_t)g->width + (size_t)x;
						v = input[idx];
						if (v > best) {
							best = v;
							best_index = (int64_t)idx;
						}
					}
				}
				o = (bc * (size_t)g->out_height + (size_t)oy) * (size_t)g->out_width + (size_t)ox;
				output[o] = best_index >= 0 ? best : 0.0f;
				argmax[o] = (int32_t)best_index;
			}
		}
	}
}

void ll_maxpool_backward(size_t count, const float *delta, const int32_t *argmax,
			 float *input_delta)
{
	size_t i;

	for (i = 0; i < count; i++) {
		const int32_t j = argmax[i];

		if (j >= 0)
			input_delta[j] = input_delta[j] + delta[i];
	}
}
