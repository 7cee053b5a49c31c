/*
 * layerlock's seeded random streams in C: see include/layerlock_rng.h.
 * Every operation is on uint32_t, as src/nn/rng.ts does with Math.imul and >>> 0,
 * so both produce the same numbers on every platform.
 */
#include <layerlock_rng.h>
#include <layerlock_math.h>

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 0x811c9dc5u;

	/* labels are ASCII, so bytes are JavaScript's UTF-16 code units */
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x01000193u;
	}
	return h;
}

static uint32_t splitmix32(uint32_t *s)
{
	uint32_t z;

	*s += 0x9e3779b9u;
	z = *s;
	z = (z ^ (z >> 16)) * 0x85ebca6bu;
	z = (z ^ (z >> 13)) * 0xc2b2ae35u;
	return z ^ (z >> 16);
}

static uint32_t rotl(uint32_t x, int k)
{
	return (x << k) | (x >> (32 - k));
}

void ll_rng_init(struct ll_rng *r, uint32_t seed, const char *label)
{
	uint32_t s = seed ^ fnv1a(label);

	r->a = splitmix32(&s);
	r->b = splitmix32(&s);
	r->c = splitmix32(&s);
	r->d = splitmix32(&s);
	if ((r->a | r->b | r->c | r->d) == 0)
		r->a = 1;
	r->has_spare = 0;
	r->spare = 0.0;
}

/* Decimal digits of v after p (no libc: the TA's and the host's printf differ in availability). */
static char *put_u32(char *p, uint32_t v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static void make_label(char *buf, const char *purpose, const uint32_t *nums, int count)
{
	char *p = buf;
	int i;

	while (*purpose)
		*p++ = *purpose++;
	for (i = 0; i < count; i++) {
		*p++ = '/';
		p = put_u32(p, nums[i]);
	}
	*p = '\0';
}

void ll_rng_init2(struct ll_rng *r, uint32_t seed, const char *purpose, uint32_t index)
{
	char label[64];
	uint32_t nums[1] = { index };

	make_label(label, purpose, nums, 1);
	ll_rng_init(r, seed, label);
}

void ll_rng_init3(struct ll_rng *r, uint32_t seed, const char *purpose, uint32_t index,
		  uint32_t iteration)
{
	char label[64];
	uint32_t nums[2] = { index, iteration };

	make_label(label, purpose, nums, 2);
	ll_rng_init(r, seed, label);
}

uint32_t ll_rng_u32(struct ll_rng *r)
{
	uint32_t result = rotl(r->b * 5u, 7) * 9u;
	uint32_t t = r->b << 9;

	r->c ^= r->a;
	r->d ^= r->b;
	r->b ^= r->c;
	r->a ^= r->d;
	r->c ^= t;
	r->d = rotl(r->d, 11);
	return result;
}

double ll_rng_uniform(struct ll_rng *r)
{
	return (double)ll_rng_u32(r) / 4294967296.0;
}

void ll_connected_init(float *weights, size_t n, double scale, uint32_t seed,
		       uint32_t layer_index)
{
	struct ll_rng r;
	size_t i;

	ll_rng_init2(&r, seed, "init", layer_index);
	for (i = 0; i < n; i++)
		weights[i] = (float)(scale * (2.0 * ll_rng_uniform(&r) - 1.0));
}

double ll_rng_normal(struct ll_rng *r)
{
	double u, v, rad, s, c;

	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	u = ll_rng_uniform(r);
	while (u <= 1e-12)
		u = ll_rng_uniform(r);
	v = ll_rng_uniform(r);
	rad = ll_sqrt(-2.0 * ll_log(u));
	ll_sincos(2.0 * 3.141592653589793 * v, &s, &c);
	r->spare = rad * s;
	r->has_spare = 1;
	return rad * c;
}

void ll_conv_init(float *weights, size_t n, double scale, uint32_t seed, uint32_t layer_index)
{
	struct ll_rng r;
	size_t i;

	ll_rng_init2(&r, seed, "init", layer_index);
	for (i = 0; i < n; i++)
		weights[i] = (float)(scale * ll_rng_normal(&r));
}
