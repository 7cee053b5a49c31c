/*
 * Host driver for test/optee-ta-conv.test.ts. stdin: "N C H W FILTERS SIZE STRIDE PADDING ACT FROZEN
 * WANT_INPUT_DELTA", then float32 bits (hex) of weights, biases, weight_updates, bias_updates, input,
 * delta, input_delta. stdout (decimal bits, a line each): output, delta, weight_updates, bias_updates,
 * input_delta, then "OH OW".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_conv.h>
#include "dump_io.h"

int main(void)
{
	struct ll_conv l;
	struct ll_conv_geometry *g = &l.g;
	size_t n, k, sp, in_n, out_n;
	int act, frozen, want;
	float *input, *input_delta;

	if (scanf("%zu %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %d %d %d",
		  &n, &g->channels, &g->height, &g->width, &g->filters, &g->size, &g->stride, &g->padding,
		  &act, &frozen, &want) != 11)
		return 2;
	g->out_height = (g->height + 2 * g->padding - g->size) / g->stride + 1;
	g->out_width = (g->width + 2 * g->padding - g->size) / g->stride + 1;
	k = (size_t)g->channels * g->size * g->size;
	sp = (size_t)g->out_height * g->out_width;
	in_n = n * g->channels * g->height * g->width;
	out_n = n * g->filters * sp;
	l.activation = (enum ll_activation)act;
	l.weights = rd(g->filters * k);
	l.biases = rd(g->filters);
	l.weight_updates = rd(g->filters * k);
	l.bias_updates = rd(g->filters);
	input = rd(in_n);
	l.output = malloc(out_n * sizeof(float) + 1);
	l.col = malloc(k * sp * sizeof(float) + 1);
	ll_conv_forward(&l, input, n);
	l.delta = rd(out_n);
	input_delta = rd(in_n);
	ll_conv_backward(&l, input, want ? input_delta : NULL, n, frozen);
	put(l.output, out_n);
	put(l.delta, out_n);
	put(l.weight_updates, g->filters * k);
	put(l.bias_updates, g->filters);
	put(input_delta, in_n);
	printf("%" PRId32 " %" PRId32 "\n", g->out_height, g->out_width);
	return 0;
}
