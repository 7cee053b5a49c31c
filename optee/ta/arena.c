/*
 * The secure-memory arena of layerlock's OP-TEE TA: see include/layerlock_arena.h.
 * Same alignment, accounting and messages as src/tee/ta/arena.ts, so the C TA's
 * OUT_OF_MEMORY answers and GET_STATS figures equal the software TA's.
 */
#include <string.h>
#include <layerlock_arena.h>

static uint64_t align_up(uint64_t n)
{
	return (n + LL_ARENA_ALIGN - 1) / LL_ARENA_ALIGN * LL_ARENA_ALIGN;
}

void ll_arena_init(struct ll_arena *a, uint8_t *memory, uint64_t capacity,
		   struct ll_arena_block *blocks, size_t max_blocks)
{
	memset(a, 0, sizeof(*a));
	a->memory = memory;
	a->capacity = capacity;
	a->blocks = blocks;
	a->max_blocks = max_blocks;
}

void ll_arena_init_dry(struct ll_arena *a, struct ll_arena_block *blocks, size_t max_blocks)
{
	ll_arena_init(a, NULL, UINT64_MAX, blocks, max_blocks);
}

enum ll_arena_status ll_arena_reserve(struct ll_arena *a, int32_t layer, const char *buffer,
				      uint64_t bytes, uint64_t *offset)
{
	uint64_t size = align_up(bytes);
	struct ll_arena_block *b;

	/* used <= capacity always, so capacity - used cannot wrap */
	if (size > a->capacity - a->used) {
		a->fail_layer = layer;
		a->fail_buffer = buffer;
		a->fail_needed = bytes;
		a->fail_available = a->capacity - a->used;
		return LL_ARENA_OVERFLOW;
	}
	if (a->nblocks == a->max_blocks)
		return LL_ARENA_TOO_MANY_BLOCKS;
	b = &a->blocks[a->nblocks++];
	b->layer = layer;
	b->buffer = buffer;
	b->offset = a->used;
	b->bytes = bytes;
	if (offset)
		*offset = a->used;
	a->used += size;
	if (a->used > a->peak)
		a->peak = a->used;
	return LL_ARENA_OK;
}

static void *typed(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t bytes,
		   enum ll_arena_status *st)
{
	uint64_t off = 0;
	enum ll_arena_status s = ll_arena_reserve(a, layer, buffer, bytes, &off);

	if (st)
		*st = s;
	if (s != LL_ARENA_OK || !a->memory)
		return NULL;
	return a->memory + off;
}

float *ll_arena_f32(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t length,
		    enum ll_arena_status *st)
{
	return typed(a, layer, buffer, length * 4, st);
}

int32_t *ll_arena_i32(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t length,
		      enum ll_arena_status *st)
{
	return typed(a, layer, buffer, length * 4, st);
}

uint8_t *ll_arena_u8(struct ll_arena *a, int32_t layer, const char *buffer, uint64_t length,
		     enum ll_arena_status *st)
{
	return typed(a, layer, buffer, length, st);
}

void ll_arena_reset(struct ll_arena *a)
{
	if (a->memory && a->used)
		memset(a->memory, 0, (size_t)a->used);
	a->used = 0;
	a->peak = 0;
	a->nblocks = 0;
}

uint8_t *ll_arena_free_tail(const struct ll_arena *a, uint64_t *bytes)
{
	uint64_t at = (a->used + LL_ARENA_ALIGN - 1) / LL_ARENA_ALIGN * LL_ARENA_ALIGN;

	*bytes = 0;
	if (!a->memory || at >= a->capacity)
		return NULL;
	*bytes = a->capacity - at;
	return a->memory + at;
}

/* A tiny bounded writer, so the formatting needs no printf (not all of it exists in a TA). */
struct out {
	char *buf;
	size_t size, len;
};

static void put_c(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_s(struct out *o, const char *s)
{
	while (*s)
		put_c(o, *s++);
}

static void put_u(struct out *o, uint64_t v, int grouped)
{
	char tmp[32];
	int n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = n - 1; i >= 0; i--) {
		put_c(o, tmp[i]);
		if (grouped && i > 0 && i % 3 == 0)
			put_c(o, ',');
	}
}

/*
 * n / 2^shift to `decimals` places, rounded half up on the exact value as JavaScript's
 * Number.prototype.toFixed does (n / 2^shift is exact in a double for the sizes here).
 */
static void put_fixed(struct out *o, uint64_t n, int shift, int decimals)
{
	uint64_t scale = decimals == 2 ? 100 : 10;
	/* round(n * scale / 2^shift), ties up: floor((2 * n * scale + 2^shift) / 2^(shift + 1)) */
	uint64_t q = (2 * n * scale + ((uint64_t)1 << shift)) >> (shift + 1);
	uint64_t frac = q % scale;

	put_u(o, q / scale, 0);
	put_c(o, '.');
	if (decimals == 2 && frac < 10)
		put_c(o, '0');
	put_u(o, frac, 0);
}

static void fmt_bytes(struct out *o, uint64_t n)
{
	put_u(o, n, 1);
	put_s(o, " bytes");
	if (n >= (1u << 20)) {
		put_s(o, " (");
		put_fixed(o, n, 20, 2);
		put_s(o, " MiB)");
	} else if (n >= (1u << 10)) {
		put_s(o, " (");
		put_fixed(o, n, 10, 1);
		put_s(o, " KiB)");
	}
}

static size_t finish(struct out *o)
{
	if (o->size)
		o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
	return o->len;
}

size_t ll_fmt_bytes(char *buf, size_t size, uint64_t n)
{
	struct out o = { buf, size, 0 };

	fmt_bytes(&o, n);
	return finish(&o);
}

size_t ll_arena_overflow_message(const struct ll_arena *a, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };

	put_s(&o, "secure memory exhausted: layer ");
	if (a->fail_layer < 0) {
		put_c(&o, '-');
		put_u(&o, (uint64_t)(-(int64_t)a->fail_layer), 0);
	} else {
		put_u(&o, (uint64_t)a->fail_layer, 0);
	}
	put_s(&o, " buffer '");
	put_s(&o, a->fail_buffer ? a->fail_buffer : "?");
	put_s(&o, "' needs ");
	fmt_bytes(&o, a->fail_needed);
	put_s(&o, ", only ");
	fmt_bytes(&o, a->fail_available);
	put_s(&o, " of ");
	fmt_bytes(&o, a->capacity);
	put_s(&o, " free");
	return finish(&o);
}
