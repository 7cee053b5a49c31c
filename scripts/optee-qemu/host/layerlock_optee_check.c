/*
 * Normal-world check for layerlock's OP-TEE board (issue 17, milestone 1).
 *
 * Runs inside the emulated Armv8 guest, talks to layerlock's smoke-test TA
 * through libteec (the GlobalPlatform TEE Client API, as milestone 3's
 * transport will) and prints one line per check and a final verdict line
 * that build.sh's `check` step looks for:
 *   LAYERLOCK_OPTEE_CHECK PASS   or   LAYERLOCK_OPTEE_CHECK FAIL
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tee_client_api.h>
#include <layerlock_hello_ta.h>

#define DOT_N 4096
#define ROUND_TRIPS 200

static int failures;

static void report(int ok, const char *name, const char *detail)
{
	printf("layerlock-optee-check: %-28s %s %s\n", name, ok ? "ok" : "FAILED",
	       detail);
	if (!ok)
		failures++;
}

/* A fixed pseudo-random stream (LCG) so the data are the same on every run. */
static float next_value(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return (float)((int32_t)(*state >> 8) - (1 << 23)) / (float)(1 << 23);
}

static uint32_t dot_bits(const float *x, const float *w, size_t n)
{
	float acc = 0.0f;
	size_t i;
	uint32_t u;

	for (i = 0; i < n; i++)
		acc += x[i] * w[i];
	memcpy(&u, &acc, sizeof(u));
	return u;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(void)
{
	TEEC_Context ctx;
	TEEC_Session sess;
	TEEC_Operation op;
	TEEC_UUID uuid = LAYERLOCK_HELLO_TA_UUID;
	TEEC_SharedMemory shm_x, shm_w;
	TEEC_Result res;
	uint32_t origin = 0;
	static float x[DOT_N], w[DOT_N];
	uint32_t state = 20190617u, expect;
	char detail[160];
	double t0, t1;
	int i;

	res = TEEC_InitializeContext(NULL, &ctx);
	snprintf(detail, sizeof(detail), "(0x%08" PRIx32 ")", res);
	report(res == TEEC_SUCCESS, "TEEC_InitializeContext", detail);
	if (res != TEEC_SUCCESS)
		goto out;

	res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL,
			       NULL, &origin);
	snprintf(detail, sizeof(detail), "(0x%08" PRIx32 " origin %" PRIu32 ")",
		 res, origin);
	report(res == TEEC_SUCCESS, "TEEC_OpenSession", detail);
	if (res == TEEC_ERROR_OUT_OF_MEMORY)
		printf("layerlock-optee-check: the TA's heap (%d bytes) does not fit OP-TEE's TA RAM\n",
		       LAYERLOCK_TA_HEAP_SIZE);
	if (res != TEEC_SUCCESS)
		goto out_ctx;

	/* 1. hello-world round trip: a value in, a + 1 out */
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE, TEEC_NONE,
					 TEEC_NONE);
	op.params[0].value.a = 41;
	res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_INC, &op, &origin);
	snprintf(detail, sizeof(detail), "41 -> %" PRIu32 " (0x%08" PRIx32 ")",
		 op.params[0].value.a, res);
	report(res == TEEC_SUCCESS && op.params[0].value.a == 42,
	       "value round trip", detail);

	for (i = 0; i < DOT_N; i++) {
		x[i] = next_value(&state);
		w[i] = next_value(&state);
	}
	expect = dot_bits(x, w, DOT_N);

	/* 2. float32 dot product over temporary memory references */
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT,
					 TEEC_MEMREF_TEMP_INPUT,
					 TEEC_VALUE_OUTPUT, TEEC_NONE);
	op.params[0].tmpref.buffer = x;
	op.params[0].tmpref.size = sizeof(x);
	op.params[1].tmpref.buffer = w;
	op.params[1].tmpref.size = sizeof(w);
	res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_DOT, &op, &origin);
	snprintf(detail, sizeof(detail),
		 "n=%" PRIu32 " TA 0x%08" PRIx32 " REE 0x%08" PRIx32 " (0x%08" PRIx32 ")",
		 op.params[2].value.b, op.params[2].value.a, expect, res);
	report(res == TEEC_SUCCESS && op.params[2].value.a == expect &&
	       op.params[2].value.b == DOT_N, "dot, temp memrefs", detail);

	/* 3. the same over registered shared memory (milestone 3's transport) */
	memset(&shm_x, 0, sizeof(shm_x));
	memset(&shm_w, 0, sizeof(shm_w));
	shm_x.buffer = x;
	shm_x.size = sizeof(x);
	shm_x.flags = TEEC_MEM_INPUT;
	shm_w.buffer = w;
	shm_w.size = sizeof(w);
	shm_w.flags = TEEC_MEM_INPUT;
	res = TEEC_RegisterSharedMemory(&ctx, &shm_x);
	if (res == TEEC_SUCCESS)
		res = TEEC_RegisterSharedMemory(&ctx, &shm_w);
	if (res == TEEC_SUCCESS) {
		memset(&op, 0, sizeof(op));
		op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE,
						 TEEC_MEMREF_WHOLE,
						 TEEC_VALUE_OUTPUT, TEEC_NONE);
		op.params[0].memref.parent = &shm_x;
		op.params[1].memref.parent = &shm_w;
		res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_DOT, &op,
					 &origin);
	}
	snprintf(detail, sizeof(detail), "TA 0x%08" PRIx32 " (0x%08" PRIx32 ")",
		 op.params[2].value.a, res);
	report(res == TEEC_SUCCESS && op.params[2].value.a == expect,
	       "dot, registered shm", detail);
	TEEC_ReleaseSharedMemory(&shm_x);
	TEEC_ReleaseSharedMemory(&shm_w);

	/* 4. wrong parameter types: BAD_PARAMETERS from the TA, which keeps serving */
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE,
					 TEEC_NONE);
	res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_DOT, &op, &origin);
	snprintf(detail, sizeof(detail), "0x%08" PRIx32 " origin %" PRIu32, res,
		 origin);
	report(res == TEEC_ERROR_BAD_PARAMETERS && origin == TEEC_ORIGIN_TRUSTED_APP,
	       "bad parameter types", detail);

	/* 5. the secure memory the TA really gets: largest single allocation of its heap */
	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE,
					 TEEC_NONE);
	res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_HEAP_PROBE, &op,
				 &origin);
	snprintf(detail, sizeof(detail),
		 "largest TEE_Malloc %" PRIu32 " bytes of a %" PRIu32 "-byte heap (0x%08" PRIx32 ")",
		 op.params[0].value.a, op.params[0].value.b, res);
	report(res == TEEC_SUCCESS && op.params[0].value.a > 0 &&
	       op.params[0].value.a <= op.params[0].value.b, "TA heap probe", detail);

	/*
	 * 6. the layerlock TA's C pieces (optee/ta/) in the secure world. The data
	 * lines let test/optee-qemu.test.ts compare them with the TypeScript engine.
	 */
	{
		static float cw[64 * 10];
		uint64_t sbits;
		double scale = sqrt(2.0 / 64);
		size_t k;

		memcpy(&sbits, &scale, sizeof(sbits));
		memset(&op, 0, sizeof(op));
		op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT,
						 TEEC_MEMREF_TEMP_OUTPUT,
						 TEEC_VALUE_INPUT, TEEC_NONE);
		op.params[0].value.a = 20190617;
		op.params[0].value.b = 11;
		op.params[1].tmpref.buffer = cw;
		op.params[1].tmpref.size = sizeof(cw);
		op.params[2].value.a = (uint32_t)(sbits >> 32);
		op.params[2].value.b = (uint32_t)sbits;
		res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_CONNECTED_INIT,
					 &op, &origin);
		snprintf(detail, sizeof(detail), "seed 20190617 layer 11 64x10 (0x%08" PRIx32 ")", res);
		report(res == TEEC_SUCCESS, "connected init in the TA", detail);
		printf("layerlock-optee-data: connected-init 20190617 11 64 10");
		for (k = 0; k < 64 * 10; k++) {
			uint32_t b;

			memcpy(&b, &cw[k], sizeof(b));
			printf(" %08" PRIx32, b);
		}
		printf("\n");
	}
	{
		static char msg[512];

		memset(&op, 0, sizeof(op));
		op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_VALUE_INPUT,
						 TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE);
		op.params[0].value.a = 100000;
		op.params[0].value.b = 60000;
		op.params[1].value.a = 50000;
		op.params[2].tmpref.buffer = msg;
		op.params[2].tmpref.size = sizeof(msg);
		res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_ARENA, &op, &origin);
		msg[sizeof(msg) - 1] = '\0';
		snprintf(detail, sizeof(detail), "capacity 100000, 60000 + 50000 (0x%08" PRIx32 ")", res);
		report(res == TEEC_SUCCESS && msg[0], "arena in the TA", detail);
		printf("layerlock-optee-data: arena 100000 60000 50000 %s\n", msg);
	}

	/* 7. world-switch round trips (time is emulated: TCG, not hardware) */
	t0 = now_us();
	for (i = 0; i < ROUND_TRIPS; i++) {
		memset(&op, 0, sizeof(op));
		op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INOUT, TEEC_NONE,
						 TEEC_NONE, TEEC_NONE);
		op.params[0].value.a = (uint32_t)i;
		res = TEEC_InvokeCommand(&sess, LAYERLOCK_HELLO_CMD_INC, &op,
					 &origin);
		if (res != TEEC_SUCCESS || op.params[0].value.a != (uint32_t)i + 1)
			break;
	}
	t1 = now_us();
	snprintf(detail, sizeof(detail),
		 "%d/%d calls, %.1f us per call (emulated time)", i, ROUND_TRIPS,
		 (t1 - t0) / (i ? i : 1));
	report(i == ROUND_TRIPS, "invoke round trips", detail);

	TEEC_CloseSession(&sess);
out_ctx:
	TEEC_FinalizeContext(&ctx);
out:
	printf("LAYERLOCK_OPTEE_CHECK %s (%d failed)\n", failures ? "FAIL" : "PASS",
	       failures);
	return failures ? 1 : 0;
}
