// layerlock's `optee` transport (issue 17, milestone 3): a thin Node-API binding of OP-TEE's libteec,
// the GlobalPlatform TEE Client API, so src/tee/optee.ts can drive the layerlock TA in a real OP-TEE.
// It restates no protocol: command ids, parameter types and result codes come from the caller
// (src/tee/shared/protocol.ts) and go to libteec unchanged. Built for arm64 by
// scripts/optee-qemu/build.sh (step `addons`), linked with the libteec.a that build made (-fPIC), so the
// guest needs no libteec.so.
//
// Every call is synchronous: the partitioned network awaits each command anyway, and a blocking
// TEEC_InvokeCommand keeps the buffers it was handed alive and unmoved for its whole duration.
// Results are returned, not thrown, as { result, origin, ... }: the TypeScript side turns them into
// TeecError with its own names for the codes.
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tee_client_api.h>

#define CHECK(call)                                                                       \
	do {                                                                                  \
		if ((call) != napi_ok) {                                                          \
			napi_throw_error(env, NULL, "layerlock teec addon: Node-API call failed: " #call); \
			return NULL;                                                                  \
		}                                                                                 \
	} while (0)

// A registered block: libteec's descriptor plus a reference that keeps the JS memory alive (libteec
// and the driver hold its address until TEEC_ReleaseSharedMemory).
struct shm_handle {
	TEEC_SharedMemory shm;
	napi_ref keep;
	int registered;
};

static napi_value make_u32(napi_env env, uint32_t v) {
	napi_value out;
	if (napi_create_uint32(env, v, &out) != napi_ok) return NULL;
	return out;
}

static int set_u32(napi_env env, napi_value obj, const char *key, uint32_t v) {
	napi_value x = make_u32(env, v);
	return x && napi_set_named_property(env, obj, key, x) == napi_ok;
}

static int get_u32(napi_env env, napi_value obj, const char *key, uint32_t *out) {
	napi_value x;
	if (napi_get_named_property(env, obj, key, &x) != napi_ok) return 0;
	return napi_get_value_uint32(env, x, out) == napi_ok;
}

static void *external_of(napi_env env, napi_value v) {
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
	return p;
}

// Bytes of a typed array / Buffer (null or undefined -> NULL, 0).
static int bytes_of(napi_env env, napi_value v, void **data, size_t *len) {
	napi_valuetype t;
	bool is_ta = false;
	*data = NULL;
	*len = 0;
	if (napi_typeof(env, v, &t) != napi_ok) return 0;
	if (t == napi_null || t == napi_undefined) return 1;
	if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
	napi_typedarray_type tt;
	size_t count, offset;
	napi_value ab;
	if (napi_get_typedarray_info(env, v, &tt, &count, data, &ab, &offset) != napi_ok) return 0;
	size_t elem = 1;
	switch (tt) {
	case napi_int16_array: case napi_uint16_array: elem = 2; break;
	case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
	case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
	default: elem = 1; break;
	}
	*len = count * elem;
	return 1;
}

static napi_value result_object(napi_env env, TEEC_Result res, uint32_t origin) {
	napi_value obj;
	if (napi_create_object(env, &obj) != napi_ok) return NULL;
	if (!set_u32(env, obj, "result", res) || !set_u32(env, obj, "origin", origin)) return NULL;
	return obj;
}

// initializeContext() -> { result, origin, context? }
static napi_value initialize_context(napi_env env, napi_callback_info info) {
	(void)info;
	TEEC_Context *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) return result_object(env, TEEC_ERROR_OUT_OF_MEMORY, TEEC_ORIGIN_API);
	TEEC_Result res = TEEC_InitializeContext(NULL, ctx);
	napi_value obj = result_object(env, res, TEEC_ORIGIN_API);
	if (!obj) return NULL;
	if (res != TEEC_SUCCESS) {
		free(ctx);
		return obj;
	}
	napi_value ext;
	CHECK(napi_create_external(env, ctx, NULL, NULL, &ext));
	CHECK(napi_set_named_property(env, obj, "context", ext));
	return obj;
}

// finalizeContext(context): the caller closes sessions and releases memory first, as GP requires.
static napi_value finalize_context(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	TEEC_Context *ctx = external_of(env, argv[0]);
	if (ctx) {
		TEEC_FinalizeContext(ctx);
		free(ctx);
	}
	return NULL;
}

// openSession(context, uuid "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx") -> { result, origin, session? }
static napi_value open_session(napi_env env, napi_callback_info info) {
	size_t argc = 2;
	napi_value argv[2];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	TEEC_Context *ctx = external_of(env, argv[0]);
	char text[40];
	size_t n = 0;
	CHECK(napi_get_value_string_utf8(env, argv[1], text, sizeof(text), &n));
	TEEC_UUID uuid;
	unsigned int f[11];
	if (!ctx || n != 36 || sscanf(text, "%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10]) != 11) {
		napi_throw_type_error(env, NULL, "openSession(context, uuid): bad context or UUID");
		return NULL;
	}
	uuid.timeLow = f[0];
	uuid.timeMid = (uint16_t)f[1];
	uuid.timeHiAndVersion = (uint16_t)f[2];
	for (int i = 0; i < 8; i++) uuid.clockSeqAndNode[i] = (uint8_t)f[3 + i];
	TEEC_Session *sess = calloc(1, sizeof(*sess));
	if (!sess) return result_object(env, TEEC_ERROR_OUT_OF_MEMORY, TEEC_ORIGIN_API);
	uint32_t origin = TEEC_ORIGIN_API;
	TEEC_Result res = TEEC_OpenSession(ctx, sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
	napi_value obj = result_object(env, res, origin);
	if (!obj) return NULL;
	if (res != TEEC_SUCCESS) {
		free(sess);
		return obj;
	}
	napi_value ext;
	CHECK(napi_create_external(env, sess, NULL, NULL, &ext));
	CHECK(napi_set_named_property(env, obj, "session", ext));
	return obj;
}

static napi_value close_session(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	TEEC_Session *sess = external_of(env, argv[0]);
	if (sess) {
		TEEC_CloseSession(sess);
		free(sess);
	}
	return NULL;
}

// registerSharedMemory(context, bytes: Uint8Array, flags) -> { result, origin, shm? }
static napi_value register_shm(napi_env env, napi_callback_info info) {
	size_t argc = 3;
	napi_value argv[3];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	TEEC_Context *ctx = external_of(env, argv[0]);
	void *data;
	size_t len;
	uint32_t flags;
	if (!ctx || !bytes_of(env, argv[1], &data, &len) || !data || napi_get_value_uint32(env, argv[2], &flags) != napi_ok) {
		napi_throw_type_error(env, NULL, "registerSharedMemory(context, bytes, flags): bad arguments");
		return NULL;
	}
	struct shm_handle *h = calloc(1, sizeof(*h));
	if (!h) return result_object(env, TEEC_ERROR_OUT_OF_MEMORY, TEEC_ORIGIN_API);
	h->shm.buffer = data;
	h->shm.size = len;
	h->shm.flags = flags;
	TEEC_Result res = TEEC_RegisterSharedMemory(ctx, &h->shm);
	napi_value obj = result_object(env, res, TEEC_ORIGIN_API);
	if (!obj) return NULL;
	if (res != TEEC_SUCCESS) {
		free(h);
		return obj;
	}
	h->registered = 1;
	CHECK(napi_create_reference(env, argv[1], 1, &h->keep));
	napi_value ext;
	CHECK(napi_create_external(env, h, NULL, NULL, &ext));
	CHECK(napi_set_named_property(env, obj, "shm", ext));
	return obj;
}

static napi_value release_shm(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct shm_handle *h = external_of(env, argv[0]);
	if (h && h->registered) {
		TEEC_ReleaseSharedMemory(&h->shm);
		h->registered = 0;
		napi_delete_reference(env, h->keep);
		free(h);
	}
	return NULL;
}

// invokeCommand(session, command, paramTypes, params[4]) -> { result, origin, values: [a0,b0,...a3,b3], sizes: [4] }
// params[i]: {a, b} for value types; {bytes: Uint8Array | null, size} for temporary references;
// {shm, offset, size} for registered ones (MEMREF_WHOLE / PARTIAL_*). Types come from the caller's
// paramTypes word exactly as GP packs them (TEEC_PARAM_TYPES).
static napi_value invoke_command(napi_env env, napi_callback_info info) {
	size_t argc = 4;
	napi_value argv[4];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	TEEC_Session *sess = external_of(env, argv[0]);
	uint32_t command, types;
	if (!sess || napi_get_value_uint32(env, argv[1], &command) != napi_ok || napi_get_value_uint32(env, argv[2], &types) != napi_ok) {
		napi_throw_type_error(env, NULL, "invokeCommand(session, command, paramTypes, params): bad arguments");
		return NULL;
	}
	TEEC_Operation op;
	memset(&op, 0, sizeof(op));
	op.paramTypes = types;
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t t = (types >> (4 * i)) & 0xf;
		if (t == TEEC_NONE) continue;
		napi_value p;
		CHECK(napi_get_element(env, argv[3], i, &p));
		if (t == TEEC_VALUE_INPUT || t == TEEC_VALUE_OUTPUT || t == TEEC_VALUE_INOUT) {
			uint32_t a = 0, b = 0;
			get_u32(env, p, "a", &a);
			get_u32(env, p, "b", &b);
			op.params[i].value.a = a;
			op.params[i].value.b = b;
		} else if (t == TEEC_MEMREF_TEMP_INPUT || t == TEEC_MEMREF_TEMP_OUTPUT || t == TEEC_MEMREF_TEMP_INOUT) {
			napi_value bytes;
			void *data;
			size_t len;
			uint32_t size = 0;
			CHECK(napi_get_named_property(env, p, "bytes", &bytes));
			if (!bytes_of(env, bytes, &data, &len) || !get_u32(env, p, "size", &size) || size > len) {
				napi_throw_range_error(env, NULL, "invokeCommand: a temporary reference's size exceeds its buffer");
				return NULL;
			}
			op.params[i].tmpref.buffer = data;
			op.params[i].tmpref.size = size;
		} else if (t == TEEC_MEMREF_WHOLE || t == TEEC_MEMREF_PARTIAL_INPUT || t == TEEC_MEMREF_PARTIAL_OUTPUT || t == TEEC_MEMREF_PARTIAL_INOUT) {
			napi_value shm;
			uint32_t offset = 0, size = 0;
			CHECK(napi_get_named_property(env, p, "shm", &shm));
			struct shm_handle *h = external_of(env, shm);
			if (!h || !h->registered || !get_u32(env, p, "offset", &offset) || !get_u32(env, p, "size", &size) || (size_t)offset + size > h->shm.size) {
				napi_throw_range_error(env, NULL, "invokeCommand: a registered reference is released or outside its block");
				return NULL;
			}
			op.params[i].memref.parent = &h->shm;
			op.params[i].memref.offset = offset;
			op.params[i].memref.size = size;
		}
	}
	uint32_t origin = TEEC_ORIGIN_API;
	TEEC_Result res = TEEC_InvokeCommand(sess, command, &op, &origin);
	napi_value obj = result_object(env, res, origin);
	if (!obj) return NULL;
	napi_value values, sizes;
	CHECK(napi_create_array_with_length(env, 8, &values));
	CHECK(napi_create_array_with_length(env, 4, &sizes));
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t t = (types >> (4 * i)) & 0xf;
		int is_value = t == TEEC_VALUE_INPUT || t == TEEC_VALUE_OUTPUT || t == TEEC_VALUE_INOUT;
		int is_temp = t == TEEC_MEMREF_TEMP_INPUT || t == TEEC_MEMREF_TEMP_OUTPUT || t == TEEC_MEMREF_TEMP_INOUT;
		CHECK(napi_set_element(env, values, 2 * i, make_u32(env, is_value ? op.params[i].value.a : 0)));
		CHECK(napi_set_element(env, values, 2 * i + 1, make_u32(env, is_value ? op.params[i].value.b : 0)));
		size_t size = is_value || t == TEEC_NONE ? 0 : is_temp ? op.params[i].tmpref.size : op.params[i].memref.size;
		CHECK(napi_set_element(env, sizes, i, make_u32(env, (uint32_t)size)));
	}
	CHECK(napi_set_named_property(env, obj, "values", values));
	CHECK(napi_set_named_property(env, obj, "sizes", sizes));
	return obj;
}

static napi_value init(napi_env env, napi_value exports) {
	napi_property_descriptor props[] = {
		{ "initializeContext", NULL, initialize_context, NULL, NULL, NULL, napi_default, NULL },
		{ "finalizeContext", NULL, finalize_context, NULL, NULL, NULL, napi_default, NULL },
		{ "openSession", NULL, open_session, NULL, NULL, NULL, napi_default, NULL },
		{ "closeSession", NULL, close_session, NULL, NULL, NULL, napi_default, NULL },
		{ "registerSharedMemory", NULL, register_shm, NULL, NULL, NULL, napi_default, NULL },
		{ "releaseSharedMemory", NULL, release_shm, NULL, NULL, NULL, napi_default, NULL },
		{ "invokeCommand", NULL, invoke_command, NULL, NULL, NULL, napi_default, NULL },
	};
	CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
