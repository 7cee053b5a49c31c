/* Double-precision elementary functions for layerlock's OP-TEE TA: see include/layerlock_math.h. */
#include <stdint.h>
#include <string.h>
#include <layerlock_math.h>

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

double ll_exp(double x)
{
	static const uint64_t inf_bits = 0x7ff0000000000000ULL;
	double r, p, inf;
	int k, i;

	if (!(x > 0))
		return ll_exp_nonpositive(x); /* and NaN */
	if (x > 709.782712893384) {
		memcpy(&inf, &inf_bits, sizeof(inf));
		return inf;
	}
	k = (int)(x * INV_LN2 + 0.5); /* round to nearest for x > 0 */
	r = (x - k * LN2_HI) - k * LN2_LO;
	p = 1.0;
	for (i = 18; i >= 1; i--)
		p = 1.0 + p * r / i;
	if (k > 1023) /* 2^1024 is not a double: scale in two steps */
		return scale2(scale2(p, k - 60), 60);
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

/* π/2 split so that k * PIO2_HI is exact for the k used here (PIO2_HI has 33 significant bits) */
static const double PIO2_HI = 1.57079632673412561417e+00;
static const double PIO2_LO = 6.07710050650619224932e-11;
static const double INV_PIO2 = 6.36619772367581382433e-01;

void ll_sincos(double x, double *s, double *c)
{
	double r, r2, ps, pc, t;
	int k, i;

	k = (int)(x * INV_PIO2 + 0.5); /* nearest quadrant for x >= 0 */
	r = (x - k * PIO2_HI) - k * PIO2_LO; /* |r| <= π/4 (plus a hair) */
	r2 = r * r;
	/* sin r = r (1 - r²/(2·3) (1 - r²/(4·5) (...))), cos r = 1 - r²/(1·2) (1 - r²/(3·4) (...)) */
	ps = 1.0;
	for (i = 24; i >= 2; i -= 2)
		ps = 1.0 - ps * r2 / ((double)i * (i + 1));
	ps *= r;
	pc = 1.0;
	for (i = 23; i >= 1; i -= 2)
		pc = 1.0 - pc * r2 / ((double)i * (i + 1));
	switch (k & 3) {
	case 0:
		*s = ps;
		*c = pc;
		break;
	case 1:
		*s = pc;
		*c = -ps;
		break;
	case 2:
		*s = -ps;
		*c = -pc;
		break;
	default:
		t = ps;
		*s = -pc;
		*c = t;
		break;
	}
}

double ll_sqrt(double x)
{
	return __builtin_sqrt(x);
}
