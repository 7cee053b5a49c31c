/*
 * The GlobalPlatform types the layerlock TA's command layer uses (issue 17, milestone 2).
 *
 * Inside OP-TEE (the TA dev kit build: sub.mk defines LAYERLOCK_OPTEE) they are OP-TEE's own,
 * from <tee_internal_api.h>. Built natively on the host (the tests drive the same dispatcher
 * with gcc), this header defines a TEE_Param of the same shape and the few GP numbers used,
 * with the values of the GlobalPlatform TEE Internal Core API (and of src/tee/shared/protocol.ts,
 * which test/optee-protocol-header.test.ts holds to OP-TEE 4.10.0's headers when they exist).
 * So commands.c compiles unchanged in both places: nothing in it knows which one it is in.
 */
#ifndef LAYERLOCK_TEE_H
#define LAYERLOCK_TEE_H

#include <stddef.h>
#include <stdint.h>

#ifdef LAYERLOCK_OPTEE

#include <tee_internal_api.h>

#else /* the host shim */

typedef uint32_t TEE_Result;

/* TEE_Param (GP Internal Core API 1.3, OP-TEE's tee_api_types.h): a value pair or a memref. */
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
#define TEE_ERROR_NOT_IMPLEMENTED 0xFFFF0009
#define TEE_ERROR_NOT_SUPPORTED 0xFFFF000A
#define TEE_ERROR_OUT_OF_MEMORY 0xFFFF000C
#define TEE_ERROR_BUSY 0xFFFF000D
#define TEE_ERROR_SECURITY 0xFFFF000F
#define TEE_ERROR_SHORT_BUFFER 0xFFFF0010

#endif /* LAYERLOCK_OPTEE */

#endif
