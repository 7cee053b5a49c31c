/*
 * Softmax with cross-entropy for layerlock's OP-TEE TA: see include/layerlock_softmax.h.
 * exp and log are textbook double-precision routines written here: Cody–Waite range
 * reduction by ln 2 then a Taylor polynomial (exp), and reduction to [1/√2, √2) then the
 * atanh series (log). Both are accurate to a few ulp of a double, far below float32's
 * resolution, which is what the layer outputs.
 */
#include <stdint.h>
#include <string.h>
#include <layerlock_softmax.h>

/* Exact comparisons with 0 are the engine's own (t !== 0): intended. */
#pragma GCC diagnostic ignored "-Wfloat-equal"

/* ln 2 split so that k * LN2_HI is exact for |k| < 2^20 (LN2_HI has 32 trailing zero bits) */
static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;

static double scale2(double x, int k)
{
	uint64_t bits;
	double s;

	/* 2^k for -1022 <= k <= 1023, built from its exponent bits */
	bits = (uint64_t)(k + 1023) << 52;
	memcpy(&s, &bits, sizeof(s));
	return x * s;
}

double ll_exp_nonpositive(double x)
{
	double r, p;
	int k, i;

	if (x != x)
		return x;
	if (x < -745.2)
		return 0.0;
	k = (int)(x * INV_LN2 - 0.5); /* round to nearest for x <= 0 */
	r = (x - k * LN2_HI) - k * LN2_LO;
	/* e^r = sum r^i / i!, |r| <= 0.35: 18 terms are below a double's resolution */
	p = 1.0;
	for (i = 18; i >= 1; i--)
		p = 1.0 + p * r / i;
	if (k < -1021) /* subnormal results: scale in two steps */
		return scale2(scale2(p, k + 60), -60);
	return scale2(p, k);
}

double ll_log(double x)
{
	uint64_t bits;
	double m, s, s2, sum, term;
	int e, i;

	memcpy(&bits, &x, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff);
	if (e == 0) { /* subnormal: normalise */
		x *= 18014398509481984.0; /* 2^54 */
		memcpy(&bits, &x, sizeof(bits));
		e = (int)((bits >> 52) & 0x7ff) - 54;
	}
	e -= 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	memcpy(&m, &bits, sizeof(m)); /* x = m * 2^e, m in [1, 2) */
	if (m > 1.41421356237309504880) {
		m *= 0.5;
		e++;
	}
	/* log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716 */
	s = (m - 1.0) / (m + 1.0);
	s2 = s * s;
	sum = 0.0;
	term = s;
	for (i = 1; i <= 41; i += 2) {
		sum += term / i;
		term *= s2;
	}
	return (e * LN2_LO + 2.0 * sum) + e * LN2_HI;
}

void ll_softmax_forward(const float *input, float *output, size_t n, size_t k)
{
	size_t b, i;

	for (b = 0; b < n; b++) {
		const float *in = input + b * k;
		float *out = output + b * k;
		double max = -__builtin_inf();
		double sum = 0.0;

		for (i = 0; i < k; i++)
			if (in[i] > max)
				max = in[i];
		for (i = 0; i < k; i++) {
			const double e = ll_exp_nonpositive((double)in[i] - max);

			out[i] = (float)e;
			sum += e;
		}
		for (i = 0; i < k; i++)
			out[i] = (float)((double)out[i] / sum);
	}
}

double ll_softmax_cost(const float *truth, const float *output, float *delta, size_t count)
{
	double cost = 0.0;
	size_t i;

	for (i = 0; i < count; i++) {
		const double t = truth[i];
		const double p = output[i];

		delta[i] = (float)(t - p);
		if (t != 0.0)
			cost -= t * ll_log(p > 1e-12 ? p : 1e-12);
	}
	return cost;
}

void ll_softmax_backward(const float *delta, float *input_delta, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		input_delta[i] = (float)((double)input_delta[i] + (double)delta[i]);
}
