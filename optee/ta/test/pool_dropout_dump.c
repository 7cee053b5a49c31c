/*
 * Host driver for test/optee-ta-pool-dropout.test.ts (all numbers float32 bit patterns, hex in, decimal out).
 *   avgpool PLANES SPATIAL; input[PLANES*SPATIAL], delta[PLANES], input_delta0[PLANES*SPATIAL]
 *       -> output line, input-delta line
 *   dropout SEED INDEX ITER P N TRAIN; input[N], delta[N], input_delta0[N]
 *       -> output line, keep line, input-delta line
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_avgpool.h>
#include <layerlock_dropout.h>
#include "dump_io.h"

int main(void)
{
	char mode[16];

	if (scanf("%15s", mode) != 1)
		return 2;
	if (!strcmp(mode, "avgpool")) {
		size_t planes, spatial;
		float *in, *delta, *ind, *out;

		if (scanf("%zu %zu", &planes, &spatial) != 2)
			return 2;
		in = rd(planes * spatial);
		delta = rd(planes);
		ind = rd(planes * spatial);
		out = malloc(planes * sizeof(float) + 1);
		ll_avgpool_forward(in, out, planes, spatial);
		ll_avgpool_backward(delta, ind, planes, spatial);
		put(out, planes);
		put(ind, planes * spatial);
		return 0;
	}
	if (!strcmp(mode, "dropout")) {
		uint32_t seed, index, iter;
		double p;
		size_t n, i;
		int train;
		float *in, *delta, *ind, *out;
		uint8_t *keep;

		if (scanf("%" SCNu32 " %" SCNu32 " %" SCNu32 " %lf %zu %d", &seed, &index, &iter, &p, &n, &train) != 6)
			return 2;
		in = rd(n);
		delta = rd(n);
		ind = rd(n);
		out = malloc(n * sizeof(float) + 1);
		keep = calloc(n + 1, 1);
		if (train)
			ll_dropout_train(in, out, keep, n, p, seed, index, iter);
		else
			ll_dropout_infer(in, out, n);
		ll_dropout_backward(delta, keep, ind, n, p, train);
		put(out, n);
		for (i = 0; i < n; i++)
			printf("%s%u", i ? " " : "", keep[i]);
		printf("\n");
		put(ind, n);
		return 0;
	}
	return 2;
}
