/*
 * Normal-world replay of recorded partitioned sessions against layerlock's TA in OP-TEE
 * (issue 17, milestone 2). Runs inside the emulated Armv8 guest and talks to the real TA
 * (optee/ta, built with OP-TEE's TA dev kit, loaded by OP-TEE from /lib/optee_armtz) through
 * libteec, with registered shared memory for every memory reference, as milestone 3's transport
 * will. The session file (scripts/optee-qemu/record-session.mjs, from test/optee-ta-recorder.ts)
 * holds each request the normal world sent and what the software TA (TypeScript) answered; every
 * answer of the real TA is compared with it: the result code (and that the TA gave it: origin
 * TRUSTED_APP), the message (fetched with LAST_MESSAGE, as GlobalPlatform returns only a code), every
 * output's size and every byte.
 *
 * The session file, whitespace-separated tokens (the transcript of optee/ta/test/session_dump.c
 * plus the expected answers):
 *   LLSESSION 1
 *   TA <capacity>          the software TA's secure memory (the real TA's is built in; GET_STATS
 *                          compares it)
 *   OPEN                   TEEC_OpenSession, followed by WANT
 *   CLOSE                  TEEC_CloseSession
 *   CMD <cmd> <types> <p0> <p1> <p2> <p3>   as session_dump.c reads it, followed by WANT
 *   WANT <code> <message hex or -> <n> then n times <mode> <size> <bytes hex or ->
 *                          mode x: exactly these bytes; l: TAKE_LOSS (float64 sum to 1e-12
 *                          relative, the C TA's log is not V8's; the count exactly); s: GET_STATS
 *                          (the JSON the C TA writes, exactly)
 *
 * Prints one line per answer and a verdict the boot looks for:
 *   LAYERLOCK_TA_SESSION PASS ...   or   LAYERLOCK_TA_SESSION FAIL ...
 * usage: layerlock-ta-replay <session file>
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tee_client_api.h>
#include <layerlock_protocol.h>

#define MSG_MAX 4096

static char *pos;
static int failures;
static unsigned long replies, bytes_compared, messages_compared;
static double cmd_us[256];
static unsigned long cmd_count[256];

static const char *const NAMES[256] = {
	[0x01] = "CONFIGURE", [0x02] = "LOAD_PARAMS", [0x03] = "FORWARD", [0x04] = "BACKWARD",
	[0x05] = "TRAIN_STEP", [0x06] = "UPDATE", [0x07] = "TAKE_LOSS", [0x08] = "GET_STATS",
	[0x09] = "EXPORT_PARAMS_PLAINTEXT", [0x0a] = "LAST_MESSAGE",
};

/* the protocol's name, or the id in hex as protocol.ts's commandName gives it (one at a time) */
static const char *name_of(uint32_t cmd)
{
	static char hex[16];

	if (cmd < 256 && NAMES[cmd])
		return NAMES[cmd];
	snprintf(hex, sizeof(hex), "0x%" PRIx32, cmd);
	return hex;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* the next token of the session file (NUL-terminated in place), or NULL at its end */
static char *next(void)
{
	char *t;

	while (*pos == ' ' || *pos == '\n' || *pos == '\t' || *pos == '\r')
		pos++;
	if (!*pos)
		return NULL;
	t = pos;
	while (*pos && *pos != ' ' && *pos != '\n' && *pos != '\t' && *pos != '\r')
		pos++;
	if (*pos)
		*pos++ = '\0';
	return t;
}

static char *need(void)
{
	char *t = next();

	if (!t) {
		printf("layerlock-ta-replay: the session file ends early\n");
		printf("LAYERLOCK_TA_SESSION FAIL (bad session file)\n");
		exit(1);
	}
	return t;
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

/* hex → bytes, decoded in place over the token (it is twice as long); "-" is no bytes */
static uint8_t *unhex(char *t, size_t *len)
{
	size_t n = strcmp(t, "-") ? strlen(t) / 2 : 0, i;
	uint8_t *b = (uint8_t *)t;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(nibble(t[2 * i]) << 4 | nibble(t[2 * i + 1]));
	*len = n;
	return b;
}

static void fail(unsigned long n, const char *what, const char *detail)
{
	printf("layerlock-ta-replay: reply %lu: %s MISMATCH: %s\n", n, what, detail);
	failures++;
}

/* a shared-memory block registered with the TEE driver for one parameter */
struct param_mem {
	TEEC_SharedMemory shm;
	uint8_t *buf;
	int registered;
};

/* LAST_MESSAGE: the words of the last failure (GP itself returns only the code) */
static TEEC_Result last_message(TEEC_Session *sess, char *out, size_t *len)
{
	TEEC_Operation op;
	uint32_t origin;
	TEEC_Result r;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = out;
	op.params[0].tmpref.size = MSG_MAX;
	r = TEEC_InvokeCommand(sess, LAYERLOCK_CMD_LAST_MESSAGE, &op, &origin);
	*len = r == TEEC_SUCCESS ? op.params[0].tmpref.size : 0;
	return r;
}

/* WANT <code> <msg> <n> …: compares the answer; `outs` are the output parameters' blocks in order */
static void check(unsigned long n, const char *what, TEEC_Session *sess, TEEC_Result got,
		  uint32_t origin, struct param_mem **outs, size_t *out_sizes, size_t nouts)
{
	char detail[512], msg[MSG_MAX];
	uint32_t want;
	size_t want_len, msg_len = 0, i, k;
	uint8_t *want_msg;

	if (strcmp(need(), "WANT")) {
		printf("LAYERLOCK_TA_SESSION FAIL (bad session file: no WANT after reply %lu)\n", n);
		exit(1);
	}
	want = (uint32_t)strtoul(need(), NULL, 10);
	want_msg = unhex(need(), &want_len);
	k = strtoul(need(), NULL, 10);
	replies++;
	if (got != want) {
		snprintf(detail, sizeof(detail), "code 0x%08" PRIx32 " (origin %" PRIu32 "), want 0x%08" PRIx32,
			 got, origin, want);
		fail(n, what, detail);
	}
	/*
	 * Every answer to a command comes from the TA itself (origin TRUSTED_APP), as the protocol's
	 * clients expect: not from libteec, the driver or OP-TEE's core refusing the request on its way.
	 */
	if (sess && origin != TEEC_ORIGIN_TRUSTED_APP) {
		snprintf(detail, sizeof(detail), "origin %" PRIu32 ", want %u (TEEC_ORIGIN_TRUSTED_APP)", origin,
			 (unsigned int)TEEC_ORIGIN_TRUSTED_APP);
		fail(n, what, detail);
	}
	if (got != TEEC_SUCCESS && sess) {
		TEEC_Result r = last_message(sess, msg, &msg_len);

		if (r != TEEC_SUCCESS) {
			snprintf(detail, sizeof(detail), "LAST_MESSAGE answered 0x%08" PRIx32, r);
			fail(n, what, detail);
		} else if (msg_len != want_len || memcmp(msg, want_msg, want_len)) {
			snprintf(detail, sizeof(detail), "message '%.*s', want '%.*s'", (int)(msg_len > 200 ? 200 : msg_len), msg,
				 (int)(want_len > 200 ? 200 : want_len), (const char *)want_msg);
			fail(n, what, detail);
		} else {
			messages_compared++;
			/* the words the TA gave (the secure console truncates long ones), for the log */
			printf("layerlock-ta-replay: reply %lu %s message (equal): %.*s\n", n, what, (int)msg_len, msg);
		}
	}
	if (k != nouts) {
		printf("LAYERLOCK_TA_SESSION FAIL (bad session file: reply %lu has %zu outputs, the request %zu)\n", n, k, nouts);
		exit(1);
	}
	for (i = 0; i < k; i++) {
		const char *mode = need();
		size_t want_size = strtoul(need(), NULL, 10), len;
		uint8_t *want_bytes = unhex(need(), &len);

		/* GP updates an output's size on success and on SHORT_BUFFER (the size needed) only */
		if (got != TEEC_SUCCESS && got != TEEC_ERROR_SHORT_BUFFER)
			continue;
		if (out_sizes[i] != want_size) {
			snprintf(detail, sizeof(detail), "output %zu has %zu bytes, want %zu", i, out_sizes[i], want_size);
			fail(n, what, detail);
			continue;
		}
		if (got != TEEC_SUCCESS)
			continue;
		if (!strcmp(mode, "l")) {
			double a, b, ca, cb;

			memcpy(&a, outs[i]->buf, 8);
			memcpy(&ca, outs[i]->buf + 8, 8);
			memcpy(&b, want_bytes, 8);
			memcpy(&cb, want_bytes + 8, 8);
			if (!(fabs(a - b) <= 1e-12 * fabs(b)) || memcmp(&ca, &cb, 8)) {
				snprintf(detail, sizeof(detail), "loss %.17g over %.17g images, want %.17g over %.17g", a, ca, b, cb);
				fail(n, what, detail);
			}
		} else if (len != want_size || (len && memcmp(outs[i]->buf, want_bytes, len))) {
			size_t at = 0;

			while (at < len && outs[i]->buf[at] == want_bytes[at])
				at++;
			snprintf(detail, sizeof(detail), "output %zu (%zu bytes) differs from byte %zu", i, len, at);
			fail(n, what, detail);
			if (!strcmp(mode, "s"))
				printf("layerlock-ta-replay:   got  %.*s\nlayerlock-ta-replay:   want %.*s\n",
				       (int)out_sizes[i], (const char *)outs[i]->buf, (int)len, (const char *)want_bytes);
		} else {
			bytes_compared += len;
		}
		/* the last GET_STATS of the run says what the TA used: print each one */
		if (!strcmp(mode, "s"))
			printf("layerlock-ta-replay: reply %lu GET_STATS %.*s\n", n, (int)out_sizes[i], (const char *)outs[i]->buf);
	}
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	long size;
	char *b;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		return NULL;
	b = malloc((size_t)size + 1);
	if (!b || fread(b, 1, (size_t)size, f) != (size_t)size)
		return NULL;
	b[size] = '\0';
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	TEEC_Context ctx;
	TEEC_Session sess;
	TEEC_UUID uuid = LAYERLOCK_TA_UUID;
	int open = 0;
	unsigned long n = 0;
	double t0, t_all;
	char *file, *t;
	TEEC_Result res;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: layerlock-ta-replay <session file>\n");
		return 2;
	}
	file = read_file(argv[1]);
	if (!file) {
		printf("LAYERLOCK_TA_SESSION FAIL (cannot read %s: %s)\n", argv[1], strerror(errno));
		return 1;
	}
	pos = file;
	if (strcmp(need(), "LLSESSION") || strcmp(need(), "1")) {
		printf("LAYERLOCK_TA_SESSION FAIL (%s is not a version 1 session file)\n", argv[1]);
		return 1;
	}
	res = TEEC_InitializeContext(NULL, &ctx);
	if (res != TEEC_SUCCESS) {
		printf("LAYERLOCK_TA_SESSION FAIL (TEEC_InitializeContext 0x%08" PRIx32 ")\n", res);
		return 1;
	}
	t_all = now_us();
	while ((t = next())) {
		if (!strcmp(t, "TA")) {
			printf("layerlock-ta-replay: the recording's TA had %s bytes of secure memory\n", need());
		} else if (!strcmp(t, "OPEN")) {
			uint32_t origin = 0;

			res = TEEC_OpenSession(&ctx, &sess, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin);
			open = res == TEEC_SUCCESS;
			check(++n, "OPEN", NULL, res, origin, NULL, NULL, 0);
			printf("layerlock-ta-replay: reply %lu OPEN 0x%08" PRIx32 "\n", n, res);
		} else if (!strcmp(t, "CLOSE")) {
			if (open)
				TEEC_CloseSession(&sess);
			open = 0;
		} else if (!strcmp(t, "CMD")) {
			uint32_t cmd = (uint32_t)strtoul(need(), NULL, 10);
			uint32_t types = (uint32_t)strtoul(need(), NULL, 10), origin = 0, client_types[4];
			struct param_mem mem[4], *outs[4];
			size_t out_sizes[4], nouts = 0;
			TEEC_Operation op;
			char what[64];

			memset(&op, 0, sizeof(op));
			memset(mem, 0, sizeof(mem));
			for (i = 0; i < 4; i++) {
				uint32_t ty = (types >> (4 * i)) & 0xf;
				char *v = need();

				client_types[i] = ty;
				if (ty == TEEC_VALUE_INPUT || ty == TEEC_VALUE_INOUT) {
					op.params[i].value.a = (uint32_t)strtoul(v, NULL, 10);
					op.params[i].value.b = (uint32_t)strtoul(need(), NULL, 10);
				} else if (ty == TEEC_MEMREF_TEMP_INPUT || ty == TEEC_MEMREF_TEMP_OUTPUT) {
					size_t len = 0;
					int input = ty == TEEC_MEMREF_TEMP_INPUT;
					uint8_t *b = input ? unhex(v, &len) : NULL;

					if (!input)
						len = strtoul(v, NULL, 10);
					if (!len) {
						/* an empty reference: OP-TEE passes NULL, as the recording's C replay does */
						op.params[i].tmpref.buffer = NULL;
						op.params[i].tmpref.size = 0;
					} else {
						/*
						 * Registered shared memory (the driver maps the pages into OP-TEE; the TA
						 * sees a MEMREF_INPUT/OUTPUT, as with a temporary reference). Copied into a
						 * fresh block so outputs start from zeros and the alignment is malloc's.
						 */
						mem[i].buf = calloc(1, len);
						if (!mem[i].buf) {
							printf("LAYERLOCK_TA_SESSION FAIL (out of memory)\n");
							return 1;
						}
						if (input)
							memcpy(mem[i].buf, b, len);
						mem[i].shm.buffer = mem[i].buf;
						mem[i].shm.size = len;
						mem[i].shm.flags = input ? TEEC_MEM_INPUT : TEEC_MEM_OUTPUT;
						res = TEEC_RegisterSharedMemory(&ctx, &mem[i].shm);
						if (res != TEEC_SUCCESS) {
							printf("LAYERLOCK_TA_SESSION FAIL (TEEC_RegisterSharedMemory of %zu bytes: 0x%08" PRIx32 ")\n", len, res);
							return 1;
						}
						mem[i].registered = 1;
						client_types[i] = input ? TEEC_MEMREF_PARTIAL_INPUT : TEEC_MEMREF_PARTIAL_OUTPUT;
						op.params[i].memref.parent = &mem[i].shm;
						op.params[i].memref.offset = 0;
						op.params[i].memref.size = len;
					}
					if (!input)
						outs[nouts++] = &mem[i];
				}
			}
			op.paramTypes = TEEC_PARAM_TYPES(client_types[0], client_types[1], client_types[2], client_types[3]);
			t0 = now_us();
			/* no session (OPEN failed, already reported): answered as such, never sent */
			res = open ? TEEC_InvokeCommand(&sess, cmd, &op, &origin) : TEEC_ERROR_BAD_STATE;
			if (cmd < 256) {
				cmd_us[cmd] += now_us() - t0;
				cmd_count[cmd]++;
			}
			for (i = 0, nouts = 0; i < 4; i++) {
				uint32_t ty = (types >> (4 * i)) & 0xf;

				if (ty == TEEC_MEMREF_TEMP_OUTPUT)
					out_sizes[nouts++] = mem[i].registered ? op.params[i].memref.size : op.params[i].tmpref.size;
			}
			snprintf(what, sizeof(what), "%s", name_of(cmd));
			check(++n, what, open ? &sess : NULL, res, origin, outs, out_sizes, nouts);
			printf("layerlock-ta-replay: reply %lu %s 0x%08" PRIx32 " origin %" PRIu32 "\n", n, what, res, origin);
			for (i = 0; i < 4; i++) {
				if (mem[i].registered)
					TEEC_ReleaseSharedMemory(&mem[i].shm);
				free(mem[i].buf);
			}
		} else {
			printf("LAYERLOCK_TA_SESSION FAIL (bad session file: '%.20s')\n", t);
			return 1;
		}
	}
	t_all = now_us() - t_all;
	if (open)
		TEEC_CloseSession(&sess);
	TEEC_FinalizeContext(&ctx);
	for (i = 0; i < 256; i++)
		if (cmd_count[i])
			printf("layerlock-ta-replay: time %-24s %4lu calls %10.1f ms (emulated)\n", name_of((uint32_t)i), cmd_count[i], cmd_us[i] / 1e3);
	printf("LAYERLOCK_TA_SESSION %s replies %lu (%d mismatches), output bytes equal %lu, messages equal %lu, %.1f s (emulated)\n",
	       failures ? "FAIL" : "PASS", replies, failures, bytes_compared, messages_compared, t_all / 1e6);
	free(file);
	return failures ? 1 : 0;
}
