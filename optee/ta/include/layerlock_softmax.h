/*
 * Softmax with cross-entropy for layerlock's OP-TEE TA (issue 17, milestone 2): SoftmaxLayer of
 * src/nn/layers/softmax.ts in its order of operations (exp of x - max rounded to float32 when
 * stored, the sum in double, one division per output; delta = truth - p; cost = -sum t·log(max(p,
 * 1e-12))). A TA has no libm, so exp and log are our own double-precision routines (below); they
 * are not V8's fdlibm, so results equal the engine's where the last bits of a double do not
 * change a float32 rounding — in practice all of them (the test compares millions of values) —
 * and the cost, a double, agrees to ~1e-15 relative.
 */
#ifndef LAYERLOCK_SOFTMAX_H
#define LAYERLOCK_SOFTMAX_H

#include <stddef.h>

/* e^x in double for x <= 0 (softmax only needs that), error a few units in the last place */
double ll_exp_nonpositive(double x);
/* natural log in double for finite x > 0, error a few units in the last place */
double ll_log(double x);

/* output[b*k + i] = softmax of input row b (n rows of k) */
void ll_softmax_forward(const float *input, float *output, size_t n, size_t k);

/* delta = truth - output (count values); returns the cross-entropy sum */
double ll_softmax_cost(const float *truth, const float *output, float *delta, size_t count);

/* backward: input_delta += delta */
void ll_softmax_backward(const float *delta, float *input_delta, size_t count);

#endif
