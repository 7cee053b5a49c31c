/*
 * Host driver for test/optee-ta-rng.test.ts: prints the C streams so the test can
 * compare them with src/nn/rng.ts and the engine's layers.
 *   rng_dump u32 SEED LABEL N          N values of nextU32, one per line (decimal)
 *   rng_dump uniform SEED LABEL N      N values of uniform() as %a (exact)
 *   rng_dump connected SEED INDEX INPUTS N     N initial weights, float32 bit patterns
 *   rng_dump dropout SEED INDEX ITER P N       inputs (i+1)/1000 rounded to float32: "keep bits" per line
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_rng.h>
#include <layerlock_dropout.h>

static uint32_t u(const char *s)
{
	return (uint32_t)strtoul(s, NULL, 0);
}

static uint32_t bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, sizeof(b));
	return b;
}

int main(int argc, char **argv)
{
	struct ll_rng r;
	size_t i, n;

	if (argc >= 5 && !strcmp(argv[1], "u32")) {
		ll_rng_init(&r, u(argv[2]), argv[3]);
		for (n = u(argv[4]), i = 0; i < n; i++)
			printf("%u\n", ll_rng_u32(&r));
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "uniform")) {
		ll_rng_init(&r, u(argv[2]), argv[3]);
		for (n = u(argv[4]), i = 0; i < n; i++)
			printf("%.17g\n", ll_rng_uniform(&r));
		return 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "connected")) {
		float *w;

		n = u(argv[5]);
		w = malloc(n * sizeof(float));
		ll_connected_init(w, n, sqrt(2.0 / (double)u(argv[4])), u(argv[2]), u(argv[3]));
		for (i = 0; i < n; i++)
			printf("%u\n", bits(w[i]));
		free(w);
		return 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "conv")) {
		/* conv SEED INDEX FANIN N: initial weights, float32 bits */
		float *w;

		n = u(argv[5]);
		w = malloc(n * sizeof(float));
		ll_conv_init(w, n, sqrt(2.0 / (double)u(argv[4])), u(argv[2]), u(argv[3]));
		for (i = 0; i < n; i++)
			printf("%u\n", bits(w[i]));
		free(w);
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "normal")) {
		ll_rng_init(&r, u(argv[2]), argv[3]);
		for (n = u(argv[4]), i = 0; i < n; i++)
			printf("%.17g\n", ll_rng_normal(&r));
		return 0;
	}
	if (argc >= 7 && !strcmp(argv[1], "dropout")) {
		float *in, *out;
		uint8_t *keep;

		n = u(argv[6]);
		in = malloc(n * sizeof(float));
		out = malloc(n * sizeof(float));
		keep = malloc(n);
		for (i = 0; i < n; i++)
			in[i] = (float)((double)(i + 1) / 1000.0);
		ll_dropout_train(in, out, keep, n, strtod(argv[5], NULL), u(argv[2]), u(argv[3]),
				 u(argv[4]));
		for (i = 0; i < n; i++)
			printf("%u %u\n", keep[i], bits(out[i]));
		free(in);
		free(out);
		free(keep);
		return 0;
	}
	fprintf(stderr, "usage: rng_dump u32|uniform|connected|dropout ...\n");
	return 2;
}
