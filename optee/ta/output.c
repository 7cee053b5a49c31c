/*
 * The output policy's selections in C: see include/layerlock_output.h.
 * topk keeps the k best classes seen so far in order (insertion), so it needs no
 * scratch memory beyond `out` and makes the same choices as sorting all classes
 * by (probability descending, class ascending) and taking the first k.
 */
#include <layerlock_output.h>

void ll_output_top1(const float *probs, size_t n, size_t classes, int32_t *out)
{
	size_t i, c;

	for (i = 0; i < n; i++) {
		const float *p = probs + i * classes;
		size_t best = 0;

		for (c = 1; c < classes; c++)
			if (p[c] > p[best])
				best = c;
		out[i] = (int32_t)best;
	}
}

size_t ll_output_topk(const float *probs, size_t n, size_t classes, size_t topk, int32_t *out)
{
	size_t k = topk < classes ? topk : classes;
	size_t i, c;

	if (k == 0)
		return 0;
	for (i = 0; i < n; i++) {
		const float *p = probs + i * classes;
		int32_t *best = out + i * k;
		size_t have = 0;

		for (c = 0; c < classes; c++) {
			size_t j;

			/*
			 * Classes arrive in ascending order, so an equal probability
			 * already kept wins the tie: c goes after it (strictly greater
			 * moves up).
			 */
			if (have == k && !(p[c] > p[best[k - 1]]))
				continue;
			j = have < k ? have++ : k - 1;
			while (j > 0 && p[c] > p[best[j - 1]]) {
				best[j] = best[j - 1];
				j--;
			}
			best[j] = (int32_t)c;
		}
	}
	return k;
}
