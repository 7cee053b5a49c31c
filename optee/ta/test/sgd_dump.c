/*
 * Host driver for test/optee-ta-sgd.test.ts. stdin: "N STEPS LR MOMENTUM DECAY BATCH WITH_DECAY",
 * N data bits, then for each step N gradient bits added to the updates before the step
 * (as backward accumulates). stdout: the data bits and the updates bits after the last step.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_sgd.h>

static float rd(void)
{
	uint32_t b = 0;
	float f;

	if (scanf("%" SCNx32, &b) != 1)
		exit(2);
	memcpy(&f, &b, sizeof(f));
	return f;
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
	size_t n, steps, i, s;
	double lr, momentum, decay, batch;
	int with_decay;
	float *w, *u;

	if (scanf("%zu %zu %lf %lf %lf %lf %d", &n, &steps, &lr, &momentum, &decay, &batch, &with_decay) != 7)
		return 2;
	w = malloc(n * sizeof(float) + 1);
	u = calloc(n + 1, sizeof(float));
	for (i = 0; i < n; i++)
		w[i] = rd();
	for (s = 0; s < steps; s++) {
		for (i = 0; i < n; i++)
			u[i] = (float)((double)u[i] + (double)rd());
		ll_sgd_update(w, u, n, lr, momentum, decay, batch, with_decay);
	}
	put(w, n);
	put(u, n);
	free(w);
	free(u);
	return 0;
}
