/*
 * Host driver for test/optee-ta-arena.test.ts: runs a script of arena operations on
 * the C arena and prints one line per operation, for comparison with src/tee/ta/arena.ts.
 * stdin: first line CAPACITY (bytes) or "dry"; then lines of
 *   r LAYER BUFFER BYTES   -> "ok OFFSET USED PEAK" or "overflow MESSAGE"
 *   reset                  -> "reset USED PEAK zeroed=0|1"
 *   fmt N                  -> "fmt TEXT"
 * (Buffer names are copied into a pool that lives as long as the program.)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_arena.h>

#define MAX_BLOCKS 100000

static char names[MAX_BLOCKS][32];
static struct ll_arena_block blocks[MAX_BLOCKS];

int main(void)
{
	struct ll_arena a;
	char line[256], word[32], msg[512];
	uint8_t *mem = NULL;
	size_t used_names = 0;

	if (!fgets(line, sizeof(line), stdin))
		return 2;
	if (!strncmp(line, "dry", 3)) {
		ll_arena_init_dry(&a, blocks, MAX_BLOCKS);
	} else {
		uint64_t cap = strtoull(line, NULL, 10);

		mem = malloc((size_t)cap);
		memset(mem, 0xa5, (size_t)cap);
		ll_arena_init(&a, mem, cap, blocks, MAX_BLOCKS);
	}
	while (fgets(line, sizeof(line), stdin)) {
		long layer;
		unsigned long long n;

		if (sscanf(line, "r %ld %31s %llu", &layer, word, &n) == 3) {
			uint64_t off = 0;
			enum ll_arena_status st;
			char *name = names[used_names++ % MAX_BLOCKS];

			strcpy(name, word);
			st = ll_arena_reserve(&a, (int32_t)layer, name, n, &off);
			if (st == LL_ARENA_OK) {
				printf("ok %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", off, a.used, a.peak);
			} else if (st == LL_ARENA_OVERFLOW) {
				ll_arena_overflow_message(&a, msg, sizeof(msg));
				printf("overflow %s\n", msg);
			} else {
				printf("too-many-blocks\n");
			}
		} else if (!strncmp(line, "reset", 5)) {
			uint64_t i, was = a.used;
			int zero = 1;

			ll_arena_reset(&a);
			/* everything the previous partition used is zero again (the rest stays 0xa5) */
			for (i = 0; mem && i < was; i++)
				zero &= mem[i] == 0;
			printf("reset %" PRIu64 " %" PRIu64 " zeroed=%d\n", a.used, a.peak, zero);
		} else if (sscanf(line, "fmt %llu", &n) == 1) {
			ll_fmt_bytes(msg, sizeof(msg), n);
			printf("fmt %s\n", msg);
		}
	}
	free(mem);
	return 0;
}
