/*
 * Darknet's SGD step for layerlock's OP-TEE TA (issue 17, milestone 2): sgdUpdate of
 * src/nn/layer.ts — weight decay, the step scaled by the batch, momentum carried over.
 * JavaScript computes each step in double and rounds to float32 only when it stores
 * into a Float32Array; this does the same (and must be built without fused
 * multiply-add, -ffp-contract=off, as the TA is), so the TA's weights after every
 * update equal the engine's bit for bit.
 */
#ifndef LAYERLOCK_SGD_H
#define LAYERLOCK_SGD_H

#include <stddef.h>

/*
 * data[i] += lr / batch * (updates[i] - decay * batch * data[i]); updates[i] *= momentum
 * (the decay term only when with_decay). `batch` is the images accumulated since the
 * last update.
 */
void ll_sgd_update(float *data, float *updates, size_t n, double learning_rate,
		   double momentum, double decay, double batch, int with_decay);

#endif
