/*
 * layerlock's smoke-test trusted application for OP-TEE (issue 17, milestone 1).
 *
 * It proves the whole chain of the emulated board works — TF-A's OP-TEE
 * dispatcher, OP-TEE OS, the Linux tee/optee drivers, tee-supplicant loading a
 * signed TA from the REE file system, libteec — with the two kinds of parameter
 * layerlock's protocol uses: values and memory references. As in
 * src/tee/shared/protocol.ts, a command with any other parameter types gets
 * TEE_ERROR_BAD_PARAMETERS and the TA keeps serving.
 */
#include <string.h>
#include <tee_internal_api.h>
#include <layerlock_hello_ta.h>
#include <layerlock_rng.h>
#include <layerlock_arena.h>

TEE_Result TA_CreateEntryPoint(void)
{
	return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void)
{
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types,
				    TEE_Param params[4] __unused,
				    void **sess_ctx __unused)
{
	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx __unused)
{
}

static TEE_Result cmd_inc(uint32_t param_types, TEE_Param params[4])
{
	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INOUT,
					   TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	params[0].value.a++;
	return TEE_SUCCESS;
}

static TEE_Result cmd_dot(uint32_t param_types, TEE_Param params[4])
{
	const float *x = NULL;
	const float *w = NULL;
	size_t n = 0;
	size_t i = 0;
	float acc = 0.0f;
	union {
		float f;
		uint32_t u;
	} bits;

	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT,
					   TEE_PARAM_TYPE_MEMREF_INPUT,
					   TEE_PARAM_TYPE_VALUE_OUTPUT,
					   TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	if (params[0].memref.size != params[1].memref.size ||
	    params[0].memref.size % sizeof(float) != 0)
		return TEE_ERROR_BAD_PARAMETERS;
	n = params[0].memref.size / sizeof(float);
	/*
	 * Copy nothing: read the shared buffers in place, in index order, so the
	 * normal world can reproduce the float32 sum bit for bit.
	 */
	x = params[0].memref.buffer;
	w = params[1].memref.buffer;
	for (i = 0; i < n; i++)
		acc += x[i] * w[i];
	bits.f = acc;
	params[2].value.a = bits.u;
	params[2].value.b = (uint32_t)n;
	return TEE_SUCCESS;
}

static TEE_Result cmd_heap_probe(uint32_t param_types, TEE_Param params[4])
{
	const size_t step = 4096;
	size_t lo = 0; /* known to succeed (0 = nothing yet) */
	size_t hi = LAYERLOCK_TA_HEAP_SIZE / step + 1; /* in steps; known to fail */
	void *p = NULL;

	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT,
					   TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE,
					   TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	/* Binary search on the size of one allocation, freed at once. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		p = TEE_Malloc(mid * step, TEE_MALLOC_FILL_ZERO);
		if (p) {
			TEE_Free(p);
			lo = mid;
		} else {
			hi = mid;
		}
	}
	params[0].value.a = (uint32_t)(lo * step);
	params[0].value.b = (uint32_t)LAYERLOCK_TA_HEAP_SIZE;
	return TEE_SUCCESS;
}

static TEE_Result cmd_connected_init(uint32_t param_types, TEE_Param params[4])
{
	union {
		uint64_t u;
		double d;
	} scale;

	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT,
					   TEE_PARAM_TYPE_MEMREF_OUTPUT,
					   TEE_PARAM_TYPE_VALUE_INPUT,
					   TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	if (params[1].memref.size % sizeof(float))
		return TEE_ERROR_BAD_PARAMETERS;
	scale.u = ((uint64_t)params[2].value.a << 32) | params[2].value.b;
	ll_connected_init(params[1].memref.buffer, params[1].memref.size / sizeof(float),
			  scale.d, params[0].value.a, params[0].value.b);
	return TEE_SUCCESS;
}

static void put_num(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	*p = '\0';
}

static TEE_Result cmd_arena(uint32_t param_types, TEE_Param params[4])
{
	struct ll_arena_block blocks[4];
	struct ll_arena arena;
	uint8_t *memory = NULL;
	char *out = NULL;
	size_t cap_out = 0;
	uint64_t off = 0;
	enum ll_arena_status st;

	if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT,
					   TEE_PARAM_TYPE_VALUE_INPUT,
					   TEE_PARAM_TYPE_MEMREF_OUTPUT,
					   TEE_PARAM_TYPE_NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	out = params[2].memref.buffer;
	cap_out = params[2].memref.size;
	if (cap_out < 64)
		return TEE_ERROR_SHORT_BUFFER;
	/* The arena's memory is secure memory: one allocation from the TA heap. */
	memory = TEE_Malloc(params[0].value.a, TEE_MALLOC_FILL_ZERO);
	if (!memory)
		return TEE_ERROR_OUT_OF_MEMORY;
	ll_arena_init(&arena, memory, params[0].value.a, blocks, 4);
	st = ll_arena_reserve(&arena, 0, "weights", params[0].value.b, &off);
	if (st == LL_ARENA_OK)
		st = ll_arena_reserve(&arena, 1, "output", params[1].value.a, &off);
	if (st == LL_ARENA_OVERFLOW) {
		ll_arena_overflow_message(&arena, out, cap_out);
	} else {
		/* "ok OFFSET USED PEAK" */
		char *p = out;

		TEE_MemMove(p, "ok ", 3);
		put_num(p + 3, off);
		p += strlen(p);
		*p++ = ' ';
		put_num(p, arena.used);
		p += strlen(p);
		*p++ = ' ';
		put_num(p, arena.peak);
	}
	params[2].memref.size = strlen(out) + 1;
	ll_arena_reset(&arena);
	TEE_Free(memory);
	return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx __unused,
				      uint32_t cmd_id,
				      uint32_t param_types, TEE_Param params[4])
{
	switch (cmd_id) {
	case LAYERLOCK_HELLO_CMD_INC:
		return cmd_inc(param_types, params);
	case LAYERLOCK_HELLO_CMD_DOT:
		return cmd_dot(param_types, params);
	case LAYERLOCK_HELLO_CMD_HEAP_PROBE:
		return cmd_heap_probe(param_types, params);
	case LAYERLOCK_HELLO_CMD_CONNECTED_INIT:
		return cmd_connected_init(param_types, params);
	case LAYERLOCK_HELLO_CMD_ARENA:
		return cmd_arena(param_types, params);
	default:
		return TEE_ERROR_BAD_PARAMETERS;
	}
}
