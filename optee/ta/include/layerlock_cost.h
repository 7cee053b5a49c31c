/*
 * Darknet's cost layer for layerlock's OP-TEE TA (issue 17, milestone 2): CostLayer of
 * src/nn/layers/cost.ts — output = input, delta and cost from the targets (sse/masked, L1,
 * smooth L1), backward input_delta += scale × delta; all in double, rounded to float32 at
 * the stores, as the engine does, so the TA's numbers are the engine's bit for bit.
 */
#ifndef LAYERLOCK_COST_H
#define LAYERLOCK_COST_H

#include <stddef.h>

enum ll_cost_type { LL_COST_SSE = 0, LL_COST_MASKED = 1, LL_COST_L1 = 2, LL_COST_SMOOTH = 3 };

/* output = input; with truth (not NULL) sets delta and returns the cost (else 0) */
double ll_cost_forward(enum ll_cost_type type, const float *input, const float *truth,
		       float *output, float *delta, size_t count);
void ll_cost_backward(const float *delta, float *input_delta, size_t count, double scale);

#endif
