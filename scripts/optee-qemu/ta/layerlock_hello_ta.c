/*
 * layerlock's smoke-test trusted application for OP-TEE (issue 17, milestone 1).
 *
 * It proves the whole chain of the emulated board works — TF-A's OP-TEE
 * dispatcher, OP-TEE OS, the Linux tee/optee drivers, tee-supplicant loading a
 * signed TA from the REE file system, libteec — with the two kinds of parameter
 * layerlock's protocol uses: values and memory references. As in
 * src/tee/protocol.ts, a command with any other parameter types gets
 * TEE_ERROR_BAD_PARAMETERS and the TA keeps serving.
 */
#include <tee_internal_api.h>
#include <layerlock_hello_ta.h>

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
	default:
		return TEE_ERROR_BAD_PARAMETERS;
	}
}
