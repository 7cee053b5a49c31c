/*
 * TEST ONLY: a stand-in for OP-TEE's <tee_internal_api.h>, just enough for entry.c to be compiled
 * and run on the host (test/optee-ta-session.test.ts) when the real TA dev kit is absent. The TEE
 * heap is calloc/free. It proves entry.c is well-formed and wired to the dispatcher; only the real
 * dev kit build (scripts/optee-qemu/build.sh) proves it against OP-TEE's headers.
 */
#ifndef LAYERLOCK_TEST_TEE_INTERNAL_API_H
#define LAYERLOCK_TEST_TEE_INTERNAL_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef uint32_t TEE_Result;
typedef union {
	struct {
		void *buffer;
		size_t size;
	} memref;
	struct {
		uint32_t a;
		uint32_t b;
	} value;
} TEE_Param;

#define __unused __attribute__((unused))
#define TEE_PARAM_TYPE_NONE 0
#define TEE_PARAM_TYPE_VALUE_INPUT 1
#define TEE_PARAM_TYPE_VALUE_OUTPUT 2
#define TEE_PARAM_TYPE_VALUE_INOUT 3
#define TEE_PARAM_TYPE_MEMREF_INPUT 5
#define TEE_PARAM_TYPE_MEMREF_OUTPUT 6
#define TEE_PARAM_TYPE_MEMREF_INOUT 7
#define TEE_PARAM_TYPES(t0, t1, t2, t3) \
	((uint32_t)(t0) | ((uint32_t)(t1) << 4) | ((uint32_t)(t2) << 8) | ((uint32_t)(t3) << 12))
#define TEE_PARAM_TYPE_GET(t, i) (((t) >> ((i) * 4)) & 0xF)
#define TEE_SUCCESS 0x00000000
#define TEE_ERROR_GENERIC 0xFFFF0000
#define TEE_ERROR_ACCESS_DENIED 0xFFFF0001
#define TEE_ERROR_ACCESS_CONFLICT 0xFFFF0003
#define TEE_ERROR_BAD_FORMAT 0xFFFF0005
#define TEE_ERROR_BAD_PARAMETERS 0xFFFF0006
#define TEE_ERROR_BAD_STATE 0xFFFF0007
#define TEE_ERROR_ITEM_NOT_FOUND 0xFFFF0008
#define TEE_ERROR_NOT_SUPPORTED 0xFFFF000A
#define TEE_ERROR_OUT_OF_MEMORY 0xFFFF000C
#define TEE_ERROR_BUSY 0xFFFF000D
#define TEE_ERROR_SECURITY 0xFFFF000F
#define TEE_ERROR_SHORT_BUFFER 0xFFFF0010
#define TEE_MALLOC_FILL_ZERO 0

static inline void *TEE_Malloc(size_t size, uint32_t hint)
{
	(void)hint;
	return calloc(1, size);
}

static inline void TEE_Free(void *p)
{
	free(p);
}

/* the entry points, declared as OP-TEE's tee_ta_api.h does */
TEE_Result TA_CreateEntryPoint(void);
void TA_DestroyEntryPoint(void);
TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types, TEE_Param params[4], void **sess_ctx);
void TA_CloseSessionEntryPoint(void *sess_ctx);
TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx, uint32_t cmd_id, uint32_t param_types,
				      TEE_Param params[4]);

#define EMSG(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

#endif
