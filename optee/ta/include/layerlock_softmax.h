/*
 * Softmax with cross-entropy for layerlock's OP-TEE TA (issue 17, milestone 2): SoftmaxLayer of
 * src/nn/layers/softmax.ts in its order of operations (exp of x - max rounded to float32 when
 * stored, the sum in double, one division per output; delta = truth - p; cost = -sum t·log(max(p,
 * 1e-12))). A TA has no libm, so exp and log are our own double-precision routines (layerlock_math.h); they
 * are not V8's fdlibm, so results equal the engine's where the last bits of a double do not
 * change a float32 rounding — in practice all of them (the test compares millions of values) —
 * and the cost, a double, agrees to ~1e-15 relative.
 */
#ifndef LAYERLOCK_SOFTMAX_H
#define LAYERLOCK_SOFTMAX_H

#include <stddef.h>

/* output[b*k + i] = softmax of input row b (n rows of k) */
void ll_softmax_forward(const float *input, float *output, size_t n, size_t k);

/* delta = truth - output (count values); returns the cross-entropy sum */
double ll_softmax_cost(const float *truth, const float *output, float *delta, size_t count);

/* backward: input_delta += delta */
void ll_softmax_backward(const float *delta, float *input_delta, size_t count);

#endif
