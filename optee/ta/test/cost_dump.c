/*
 * Host driver for test/optee-ta-cost.test.ts. stdin: "TYPE COUNT SCALE", then float32 bits (hex) of
 * input, truth, input_delta. stdout: output bits, delta bits, input-delta bits, then the cost (%.17g).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_cost.h>

static float *rd(size_t n)
{
	float *a = malloc(n * sizeof(float) + 1);
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t b = 0;

		if (scanf("%" SCNx32, &b) != 1)
			exit(2);
		memcpy(&a[i], &b, sizeof(b));
	}
	return a;
}

static void put(const float *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t b;

		memcpy(&b, &a[i], sizeof(b));
		printf("%s%" PRIu32, i ? " " : "", b);
	}
	printf("\n");
}

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
