/*
 * The secure-memory arena of layerlock's OP-TEE TA (issue 17, milestone 2): the C
 * counterpart of src/tee/ta/arena.ts. One fixed block of secure memory (in the TA,
 * one TEE_Malloc of the session's secure-memory budget) from which every buffer of
 * the protected layers is carved with a bump pointer; nothing is freed while a
 * partition is configured, so the high-water mark is the peak. A reservation that
 * does not fit fails, naming the layer and buffer — the TA answers
 * TEE_ERROR_OUT_OF_MEMORY with the same message as the software TA.
 * A "dry" arena has no memory and no limit: it measures what a configuration needs.
 * Plain C99; no allocation of its own.
 */
#ifndef LAYERLOCK_ARENA_H
#define LAYERLOCK_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* Every block starts on a 16-byte boundary (ARENA_ALIGN in arena.ts). */
#define LL_ARENA_ALIGN 16

enum ll_arena_status {
	LL_ARENA_OK = 0,
	LL_ARENA_OVERFLOW = 1,      /* does not fit: see fail_* */
	LL_ARENA_TOO_MANY_BLOCKS = 2 /* the caller's block table is full */
};

struct ll_arena_block {
	int32_t layer;      /* cfg index; the partition's first layer for I/O blocks */
	const char *buffer; /* 'weights', 'output', 'workspace', ... (static strings) */
	uint64_t offset;
	uint64_t bytes;     /* as asked, before alignment */
};

struct ll_arena {
	uint8_t *memory;    /* NULL for a dry arena */
	uint64_t capacity;  /* UINT64_MAX for a dry arena */
	uint64_t used;      /* including alignment padding */
	uint64_t peak;
	struct ll_arena_block *blocks;
	size_t nblocks, max_blocks;
	/* the last failed reservation */
	int32_t fail_layer;
	const char *fail_buffer;
	uint64_t fail_needed, fail_available;
};

void ll_arena_init(struct ll_arena *a, uint8_t *memory, uint64_t capacity,
		   struct ll_arena_block *blocks, size_t max_blocks);
void ll_arena_init_dry(struct ll_arena *a, struct ll_arena_block *blocks, size_t max_blocks);

/* Reserves `bytes` for (layer, buffer); on LL_ARENA_OK *offset is the block's offset. */
enum ll_arena_status ll_arena_reserve(struct ll_arena *a, int32_t layer, const char *buffer,
				      uint64_t bytes, uint64_t *offset);
/* Typed helpers: a pointer into the arena (NULL on failure or for a dry arena). */
float *ll_arena_f32(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t length,
		    enum ll_arena_status *st);
int32_t *ll_arena_i32(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t length,
		      enum ll_arena_status *st);
uint8_t *ll_arena_u8(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t length,
		     enum ll_arena_status *st);

/*
 * The arena's free tail (after every block, 16-byte aligned) and its size: scratch memory for a
 * command that needs secure memory only while it runs (deploy.c), wiped by it before it returns.
 * NULL when nothing is free.
 */
uint8_t *ll_arena_free_tail(const struct ll_arena *a, uint64_t *bytes);

/* Frees everything: zeroes what was used (no secret outlives its partition). */
void ll_arena_reset(struct ll_arena *a);

/*
 * fmtBytes of arena.ts: "6,422,528 bytes (6.13 MiB)", "1,536 bytes (1.5 KiB)",
 * "512 bytes"; decimals rounded half up as JavaScript's toFixed does. Returns the
 * length written (always NUL-terminated when size > 0).
 */
size_t ll_fmt_bytes(char *buf, size_t size, uint64_t n);

/*
 * ArenaOverflow's message for the last failed reservation: "secure memory exhausted:
 * layer L buffer 'B' needs N, only A of C free".
 */
size_t ll_arena_overflow_message(const struct ll_arena *a, char *buf, size_t size);

#endif
