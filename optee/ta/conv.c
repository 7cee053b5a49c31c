/* The convolutional layer for layerlock's OP-TEE TA: see include/layerlock_conv.h. */
#include <layerlock_conv.h>

void ll_im2col(const struct ll_conv_geometry *g, const float *input, float *col)
{
	const size_t out_spatial = (size_t)g->out_height * (size_t)g->out_width;
	int32_t c, ky, kx, oy, ox;

	for (c = 0; c < g->channels; c++)
		for (ky = 0; ky < g->size; ky++)
			for (kx = 0; kx < g->size; kx++) {
				const size_t row = ((size_t)c * g->size + ky) * g->size + kx;

				for (oy = 0; oy < g->out_height; oy++) {
					const int32_t y = oy * g->stride + ky - g->padding;

					for (ox = 0; ox < g->out_width; ox++) {
						const int32_t x = ox * g->stride + kx - g->padding;

						col[row * out_spatial + (size_t)oy * g->out_width + ox] =
							y >= 0 && y < g->height && x >= 0 && x < g->width ?
							input[((size_t)c * g->height + y) * g->width + x] : 0.0f;
					}
				}
			}
}

void ll_col2im(const struct ll_conv_geometry *g, const float *col, float *out)
{
	const size_t out_spatial = (size_t)g->out_height * (size_t)g->out_width;
	int32_t c, ky, kx, oy, ox;

	for (c = 0; c < g->channels; c++)
		for (ky = 0; ky < g->size; ky++)
			for (kx = 0; kx < g->size; kx++) {
				const size_t row = ((size_t)c * g->size + ky) * g->size + kx;

				for (oy = 0; oy < g->out_height; oy++) {
					const int32_t y = oy * g->stride + ky - g->padding;

					if (y < 0 || y >= g->height)
						continue;
					for (ox = 0; ox < g->out_width; ox++) {
						const int32_t x = ox * g->stride + kx - g->padding;
						size_t o;

						if (x < 0 || x >= g->width)
							continue;
						o = ((size_t)c * g->height + y) * g->width + x;
						out[o] = (float)((double)out[o] +
							(double)col[row * out_spatial + (size_t)oy * g->out_width + ox]);
					}
				}
			}
}

void ll_conv_forward_linear(struct ll_conv *l, const float *input, size_t n)
{
	const struct ll_conv_geometry *g = &l->g;
	const size_t k = (size_t)g->channels * g->size * g->size;
	const size_t sp = (size_t)g->out_height * g->out_width;
	const size_t in_size = (size_t)g->channels * g->height * g->width;
	size_t b;

	for (b = 0; b < n; b++) {
		ll_im2col(g, input + b * in_size, l->col);
		ll_gemm_ref(0, 0, (size_t)g->filters, sp, k, 1.0, l->weights, k, l->col, sp, 0.0,
			    l->output + b * (size_t)g->filters * sp, sp);
	}
}

void ll_conv_forward(struct ll_conv *l, const float *input, size_t n)
{
	const struct ll_conv_geometry *g = &l->g;

	ll_conv_forward_linear(l, input, n);
	ll_bias_activate(l->output, l->biases, n, (size_t)g->filters,
			 (size_t)g->out_height * g->out_width, l->activation);
}

void ll_conv_backward_linear(struct ll_conv *l, const float *input, float *input_delta, size_t n,
			     int frozen)
{
	const struct ll_conv_geometry *g = &l->g;
	const size_t k = (size_t)g->channels * g->size * g->size;
	const size_t sp = (size_t)g->out_height * g->out_width;
	const size_t in_size = (size_t)g->channels * g->height * g->width;
	size_t b;

	if (!frozen) {
		/* convBackwardFilter */
		for (b = 0; b < n; b++) {
			ll_im2col(g, input + b * in_size, l->col);
			ll_gemm_ref(0, 1, (size_t)g->filters, k, sp, 1.0,
				    l->delta + b * (size_t)g->filters * sp, sp, l->col, sp, 1.0,
				    l->weight_updates, k);
		}
	}
	if (input_delta) {
		/* convBackwardData */
		for (b = 0; b < n; b++) {
			ll_gemm_ref(1, 0, k, sp, (size_t)g->filters, 1.0, l->weights, k,
				    l->delta + b * (size_t)g->filters * sp, sp, 0.0, l->col, sp);
			ll_col2im(g, l->col, input_delta + b * in_size);
		}
	}
}

void ll_conv_backward(struct ll_conv *l, const float *input, float *input_delta, size_t n,
		      int frozen)
{
	const struct ll_conv_geometry *g = &l->g;
	const size_t sp = (size_t)g->out_height * g->out_width;

	ll_activation_gradient(l->activation, l->output, l->delta, n * (size_t)g->filters * sp);
	if (!frozen)
		ll_bias_gradient(l->bias_updates, l->delta, n, (size_t)g->filters, sp);
	ll_conv_backward_linear(l, input, input_delta, n, frozen);
}
