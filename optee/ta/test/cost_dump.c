/*
 * Host driver for test/optee-ta-cost.test.ts. stdin: "TYPE COUNT SCALE", then float32 bits (hex) of
 * input, truth, input_delta. stdout: output bits, delta bits, input-delta bits, then the cost (%.17g).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_cost.h>
#include "dump_io.h"

int main(void)
{
	int type;
	size_t n;
	double scale, cost;
	float *in, *truth, *ind, *out, *delta;

	if (scanf("%d %zu %lf", &type, &n, &scale) != 3)
		return 2;
	in = rd(n);
	truth = rd(n);
	ind = rd(n);
	out = malloc(n * sizeof(float) + 1);
	delta = malloc(n * sizeof(float) + 1);
	cost = ll_cost_forward((enum ll_cost_type)type, in, truth, out, delta, n);
	ll_cost_backward(delta, ind, n, scale);
	put(out, n);
	put(delta, n);
	put(ind, n);
	printf("%.17g\n", cost);
	return 0;
}
