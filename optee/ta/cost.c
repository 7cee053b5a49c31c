/* Darknet's cost layer for layerlock's OP-TEE TA: see include/layerlock_cost.h. */
#include <layerlock_cost.h>

/* Math.sign: -1, +1, or d itself for ±0 and NaN */
static double sign(double d)
{
	return d > 0.0 ? 1.0 : d < 0.0 ? -1.0 : d;
}

double ll_cost_forward(enum ll_cost_type type, const float *input, const float *truth,
		       float *output, float *delta, size_t count)
{
	double cost = 0.0;
	size_t i;

	for (i = 0; i < count; i++)
		output[i] = input[i];
	if (!truth)
		return 0.0;
	for (i = 0; i < count; i++) {
		const double d = (double)truth[i] - (double)input[i];
		const double a = d < 0.0 ? -d : d;

		switch (type) {
		case LL_COST_L1:
			delta[i] = (float)sign(d);
			cost += a;
			break;
		case LL_COST_SMOOTH:
			if (a < 1.0) {
				delta[i] = (float)d;
				cost += d * d * 0.5;
			} else {
				delta[i] = (float)sign(d);
				cost += a - 0.5;
			}
			break;
		default: /* sse, and masked, which plain classification targets reduce to */
			delta[i] = (float)d;
			cost += d * d;
			break;
		}
	}
	return cost;
}

void ll_cost_backward(const float *delta, float *input_delta, size_t count, double scale)
{
	size_t i;

	for (i = 0; i < count; i++)
		input_delta[i] = (float)((double)input_delta[i] + scale * (double)delta[i]);
}
