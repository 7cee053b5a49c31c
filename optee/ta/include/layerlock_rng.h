/*
 * layerlock's seeded random streams in C, for the OP-TEE TA (issue 17, milestone 2).
 *
 * The same generator as src/nn/rng.ts — xoshiro128** seeded through splitmix32 from
 * seed XOR FNV-1a(labels joined by '/') — so that the TA initialises its layers and
 * draws its dropout masks exactly as the normal world's engine does, and a
 * partitioned run can be compared bit for bit with the all-in-REE run.
 * Plain C99 with no library calls: it builds in the TA and on the host (the test).
 */
#ifndef LAYERLOCK_RNG_H
#define LAYERLOCK_RNG_H

#include <stddef.h>
#include <stdint.h>

struct ll_rng {
	uint32_t a, b, c, d;
	/* Box–Muller's second value, kept for the next normal() as rng.ts does */
	int has_spare;
	double spare;
};

/* new Rng(seed, ...labels): `label` is labels.join('/'), e.g. "init/3" or "dropout/9/120". */
void ll_rng_init(struct ll_rng *r, uint32_t seed, const char *label);
/* new Rng(seed, purpose, index): the common two-label case, formatted as JavaScript does. */
void ll_rng_init2(struct ll_rng *r, uint32_t seed, const char *purpose, uint32_t index);
/* new Rng(seed, purpose, index, iteration) */
void ll_rng_init3(struct ll_rng *r, uint32_t seed, const char *purpose, uint32_t index,
		  uint32_t iteration);

/* rng.nextU32() */
uint32_t ll_rng_u32(struct ll_rng *r);
/* rng.uniform(): in [0, 1), 32 bits of resolution, exact in a double */
double ll_rng_uniform(struct ll_rng *r);

/*
 * rng.normal(): Box–Muller with the second value cached. Uses layerlock_math.h's log, sin
 * and cos, not V8's, so a value may differ from the engine's in a double's last bits
 * (rarely enough to change the float32 a layer stores; the test measures it).
 */
double ll_rng_normal(struct ll_rng *r);

/*
 * ConvolutionalLayer.initialise: Darknet's normal × sqrt(2 / fan-in) for the n weights,
 * drawn from new Rng(seed, 'init', index); `scale` is sqrt(2.0 / (size·size·channels)).
 */
void ll_conv_init(float *weights, size_t n, double scale, uint32_t seed, uint32_t layer_index);

/*
 * ConnectedLayer.initialise: Darknet's uniform(-1, 1) * sqrt(2 / fan-in) for the n
 * weights (biases are zeroed by the caller), drawn from new Rng(seed, 'init', index).
 * `scale` is sqrt(2.0 / inputs) computed by the caller (sqrt is correctly rounded in
 * IEEE 754, so any conforming sqrt gives JavaScript's Math.sqrt value).
 */
void ll_connected_init(float *weights, size_t n, double scale, uint32_t seed,
		       uint32_t layer_index);

#endif
