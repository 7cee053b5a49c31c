/*
 * What leaves layerlock's OP-TEE TA when it holds the prediction layer (issue 17,
 * milestone 2): the top1/topk selections of the output policy, as in
 * src/tee/ta/partition.ts (argmaxAt and rankClasses of src/nn/train.ts).
 * Probabilities are a softmax's output (finite); ties go to the lower class.
 */
#ifndef LAYERLOCK_OUTPUT_H
#define LAYERLOCK_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* out[i] = the best class of image i (the first one on ties): policy top1. */
void ll_output_top1(const float *probs, size_t n, size_t classes, int32_t *out);

/*
 * out[i * k + j] = the j-th best class of image i, highest probability first, lower
 * class first on ties, k = min(topk, classes) (the caller sizes `out`): policy topk.
 * Returns k.
 */
size_t ll_output_topk(const float *probs, size_t n, size_t classes, size_t topk, int32_t *out);

#endif
