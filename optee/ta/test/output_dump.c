/*
 * Host driver for test/optee-ta-output.test.ts. stdin: "N CLASSES TOPK" then N*CLASSES
 * float32 bit patterns (hex). stdout: line 1 the top1 classes, line 2 the topk classes
 * (image after image), space-separated.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_output.h>

int main(void)
{
	size_t n, classes, topk, i, k;
	float *p;
	int32_t *top1, *topkout;

	if (scanf("%zu %zu %zu", &n, &classes, &topk) != 3)
		return 2;
	p = malloc(n * classes * sizeof(float) + 1);
	top1 = malloc(n * sizeof(int32_t) + 1);
	topkout = malloc(n * classes * sizeof(int32_t) + 1);
	for (i = 0; i < n * classes; i++) {
		uint32_t b;

		if (scanf("%" SCNx32, &b) != 1)
			return 2;
		memcpy(&p[i], &b, sizeof(b));
	}
	ll_output_top1(p, n, classes, top1);
	k = ll_output_topk(p, n, classes, topk, topkout);
	for (i = 0; i < n; i++)
		printf("%s%" PRId32, i ? " " : "", top1[i]);
	printf("\n");
	for (i = 0; i < n * k; i++)
		printf("%s%" PRId32, i ? " " : "", topkout[i]);
	printf("\n");
	free(p);
	free(top1);
	free(topkout);
	return 0;
}
