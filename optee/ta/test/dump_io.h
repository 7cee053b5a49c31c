/*
 * The float I/O every layer driver shares: stdin holds float32 bit patterns in hex, stdout gets them
 * back as decimal bit patterns, a line per array — so the tests compare results bit for bit.
 */
#ifndef LAYERLOCK_DUMP_IO_H
#define LAYERLOCK_DUMP_IO_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline float *rd(size_t n)
{
	float *a = malloc(n * sizeof(float) + 1);
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t b = 0;

		if (scanf("%" SCNx32, &b) != 1)
			exit(2);
		memcpy(&a[i], &b, sizeof(b));
	}
	return a;
}

static inline void put(const float *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t b;

		memcpy(&b, &a[i], sizeof(b));
		printf("%s%" PRIu32, i ? " " : "", b);
	}
	printf("\n");
}

#endif
