/*
 * Dropout for layerlock's OP-TEE TA (issue 17, milestone 2): DropoutLayer of
 * src/nn/layers/dropout.ts (Darknet's inverted dropout; identity at inference), its
 * mask drawn from the engine's seeded stream (layerlock_rng.h) so it is the same mask.
 */
#ifndef LAYERLOCK_DROPOUT_H
#define LAYERLOCK_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

/*
 * DropoutLayer.forward at training time: keep[i] = uniform() >= p from
 * new Rng(seed, 'dropout', index, iteration); out[i] = kept ? in[i] * (1 / (1 - p)) : 0,
 * with the product in double and rounded to float32 once, as a Float32Array store does.
 */
void ll_dropout_train(const float *in, float *out, uint8_t *keep, size_t count, double p,
		      uint32_t seed, uint32_t layer_index, uint32_t iteration);

/* At inference the layer is the identity: out = in. */
void ll_dropout_infer(const float *in, float *out, size_t count);

/*
 * input_delta[i] += delta[i] * (1 / (1 - p)) where keep[i] (after a training forward),
 * or input_delta[i] += delta[i] after an inference forward (was_train = 0); each sum in
 * double, rounded to float32 once, as the engine's Float32Array stores do.
 */
void ll_dropout_backward(const float *delta, const uint8_t *keep, float *input_delta,
			 size_t count, double p, int was_train);

#endif
