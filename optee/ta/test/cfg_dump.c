/*
 * Host driver for test/optee-ta-cfg.test.ts: parses one cfg (stdin) with the C TA's reader
 * (cfg.c) and prints what it understood, one line for [net] and one per layer, or "ERR <message>".
 *   NET batch subdivisions height width channels learning_rate momentum decay max_batches burn_in
 *       power policy step scale gamma nsteps steps... scales...
 *   C line filters size stride padding activation slope|- batch_normalize     (convolutional)
 *   F line output activation slope|- batch_normalize                          (connected)
 *   M line size stride padding ceil_mode                                      (maxpool)
 *   A line size stride padding ceil_mode count_include_pad                    (local_avgpool)
 *   G line (avgpool)   D line probability (dropout)   S line (softmax)   O line type scale (cost)
 * Doubles are printed with 17 significant digits, so they read back exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <layerlock_cfg.h>

static const char *const ACT[] = { "linear", "relu", "leaky", "logistic", "tanh" };
static const char *const POLICY[] = { "constant", "steps", "step", "poly", "exp", "sig" };
static const char *const COST[] = { "sse", "masked", "L1", "smooth" };

int main(void)
{
	static char text[1 << 20];
	static struct ll_net_cfg c;
	char err[2048];
	size_t len = fread(text, 1, sizeof(text), stdin), i;

	if (ll_cfg_parse(text, len, &c, err, sizeof(err))) {
		printf("ERR %s\n", err);
		return 0;
	}
	printf("NET %d %d %d %d %d %.17g %.17g %.17g %d %d %.17g %s %d %.17g %.17g %zu", c.batch,
	       c.subdivisions, c.height, c.width, c.channels, c.learning_rate, c.momentum, c.decay,
	       c.max_batches, c.burn_in, c.power, POLICY[c.policy], c.step, c.scale, c.gamma, c.nsteps);
	for (i = 0; i < c.nsteps; i++)
		printf(" %d", c.steps[i]);
	for (i = 0; i < c.nsteps; i++)
		printf(" %.17g", c.scales[i]);
	printf("\n");
	for (i = 0; i < c.nlayers; i++) {
		const struct ll_layer_cfg *l = &c.layers[i];
		char slope[32] = "-";

		if (l->has_slope)
			snprintf(slope, sizeof(slope), "%.17g", l->slope);
		switch (l->type) {
		case LL_LAYER_CONVOLUTIONAL:
			printf("C %d %d %d %d %d %s %s %d\n", l->line, l->filters, l->size, l->stride,
			       l->padding, ACT[l->activation], slope, l->batch_normalize);
			break;
		case LL_LAYER_CONNECTED:
			printf("F %d %d %s %s %d\n", l->line, l->output, ACT[l->activation], slope,
			       l->batch_normalize);
			break;
		case LL_LAYER_MAXPOOL:
			printf("M %d %d %d %d %d\n", l->line, l->size, l->stride, l->padding, l->ceil_mode);
			break;
		case LL_LAYER_LOCAL_AVGPOOL:
			printf("A %d %d %d %d %d %d\n", l->line, l->size, l->stride, l->padding, l->ceil_mode,
			       l->count_include_pad);
			break;
		case LL_LAYER_AVGPOOL:
			printf("G %d\n", l->line);
			break;
		case LL_LAYER_DROPOUT:
			printf("D %d %.17g\n", l->line, l->probability);
			break;
		case LL_LAYER_SOFTMAX:
			printf("S %d\n", l->line);
			break;
		case LL_LAYER_COST:
			printf("O %d %s %.17g\n", l->line, COST[l->cost_type], l->scale);
			break;
		default:
			return 1;
		}
	}
	return 0;
}
