/*
 * Host driver for test/optee-ta-softmax.test.ts. stdin: "N K", then float32 bits (hex) of
 * input[N*K], truth[N*K], input_delta[N*K]. stdout: output bits, delta bits, input-delta bits
 * (after backward), one line each, then the cost as %.17g.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_softmax.h>
#include "dump_io.h"

int main(void)
{
	size_t n, k;
	float *in, *truth, *ind, *out, *delta;
	double cost;

	if (scanf("%zu %zu", &n, &k) != 2)
		return 2;
	in = rd(n * k);
	truth = rd(n * k);
	ind = rd(n * k);
	out = malloc(n * k * sizeof(float) + 1);
	delta = malloc(n * k * sizeof(float) + 1);
	ll_softmax_forward(in, out, n, k);
	cost = ll_softmax_cost(truth, out, delta, n * k);
	ll_softmax_backward(delta, ind, n * k);
	put(out, n * k);
	put(delta, n * k);
	put(ind, n * k);
	printf("%.17g\n", cost);
	return 0;
}
