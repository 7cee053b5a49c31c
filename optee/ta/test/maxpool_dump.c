/*
 * Host driver for test/optee-ta-maxpool.test.ts. stdin:
 *   "BATCH C H W SIZE STRIDE PADDING CEIL" then BATCH*C*H*W input float32 bits (hex),
 *   then OUT float32 bits of the delta arriving at the output (OUT = outputs of the batch).
 * stdout: "OH OW", the output bits, the argmax, the input-delta bits (from zero), one line each.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_maxpool.h>

static float rd(void)
{
	uint32_t b = 0;
	float f;

	if (scanf("%" SCNx32, &b) != 1)
		exit(2);
	memcpy(&f, &b, sizeof(f));
	return f;
}

static uint32_t bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, sizeof(b));
	return b;
}

int main(void)
{
	struct ll_pool_geometry g;
	int32_t batch, c, h, w, size, stride, padding, ceil_mode, *argmax;
	size_t in_n, out_n, i;
	float *in, *out, *delta, *in_delta;

	if (scanf("%" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32 " %" SCNd32,
		  &batch, &c, &h, &w, &size, &stride, &padding, &ceil_mode) != 8)
		return 2;
	ll_pool_geometry_init(&g, c, h, w, size, stride, padding, ceil_mode);
	in_n = (size_t)batch * c * h * w;
	out_n = (size_t)batch * c * g.out_height * g.out_width;
	in = malloc(in_n * 4 + 4);
	in_delta = calloc(in_n + 1, 4);
	out = malloc(out_n * 4 + 4);
	delta = malloc(out_n * 4 + 4);
	argmax = malloc(out_n * 4 + 4);
	for (i = 0; i < in_n; i++)
		in[i] = rd();
	for (i = 0; i < out_n; i++)
		delta[i] = rd();
	ll_maxpool_forward(&g, (size_t)batch, in, out, argmax);
	ll_maxpool_backward(out_n, delta, argmax, in_delta);
	printf("%" PRId32 " %" PRId32 "\n", g.out_height, g.out_width);
	for (i = 0; i < out_n; i++)
		printf("%s%" PRIu32, i ? " " : "", bits(out[i]));
	printf("\n");
	for (i = 0; i < out_n; i++)
		printf("%s%" PRId32, i ? " " : "", argmax[i]);
	printf("\n");
	for (i = 0; i < in_n; i++)
		printf("%s%" PRIu32, i ? " " : "", bits(in_delta[i]));
	printf("\n");
	return 0;
}
