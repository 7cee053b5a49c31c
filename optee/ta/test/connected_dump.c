/*
 * Host driver for test/optee-ta-connected.test.ts. stdin: "N INPUTS OUTPUTS ACT FROZEN WANT_INPUT_DELTA",
 * then float32 bits (hex) of weights, biases, weight_updates, bias_updates, input, delta, input_delta.
 * stdout (decimal bits, a line each): output, weight_updates, bias_updates, input_delta, delta.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_connected.h>
#include "dump_io.h"

int main(void)
{
	struct ll_connected l;
	size_t n, in, out;
	int act, frozen, want;
	float *input, *input_delta;

	if (scanf("%zu %zu %zu %d %d %d", &n, &in, &out, &act, &frozen, &want) != 6)
		return 2;
	l.inputs = in;
	l.outputs = out;
	l.activation = (enum ll_activation)act;
	l.weights = rd(in * out);
	l.biases = rd(out);
	l.weight_updates = rd(in * out);
	l.bias_updates = rd(out);
	input = rd(n * in);
	l.output = malloc(n * out * sizeof(float) + 1);
	ll_connected_forward(&l, input, n);
	l.delta = rd(n * out);
	input_delta = rd(n * in);
	ll_connected_backward(&l, input, want ? input_delta : NULL, n, frozen);
	put(l.output, n * out);
	put(l.weight_updates, in * out);
	put(l.bias_updates, out);
	put(input_delta, n * in);
	put(l.delta, n * out);
	return 0;
}
