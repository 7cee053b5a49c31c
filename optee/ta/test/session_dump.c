/*
 * Host driver for test/optee-ta-session.test.ts: replays a transcript of GlobalPlatform requests
 * through the C TA's dispatcher (commands.c, the code OP-TEE's entry points call) and prints
 * what came back, so the test can compare it with the software TA's answers to the same requests.
 *
 * stdin, whitespace-separated tokens:
 *   TA <capacity>      a fresh TA whose secure memory is <capacity> bytes (malloc'd, zeroed)
 *   OPEN               open a session: prints "R <code>" and "M <message>"
 *   CLOSE              close it: prints nothing
 *   CMD <cmd> <types> <p0> <p1> <p2> <p3>
 *                      invoke; each pN by its type nibble: NONE and VALUE_OUTPUT "-",
 *                      VALUE_INPUT/INOUT "<a> <b>", MEMREF_INPUT/INOUT the bytes in hex ("-" for none),
 *                      MEMREF_OUTPUT the buffer's size. Prints "R <code>", "M <message>", then per
 *                      output parameter in order "V <a> <b>" or "B <size> <hex of the bytes, or ->".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <layerlock_commands.h>

static char *tok;
static size_t tok_cap;

static const char *next(void)
{
	size_t n = 0;
	int c;

	do
		c = getchar();
	while (c == ' ' || c == '\n' || c == '\t' || c == '\r');
	if (c == EOF)
		return NULL;
	while (c != EOF && c != ' ' && c != '\n' && c != '\t' && c != '\r') {
		if (n + 1 >= tok_cap) {
			tok_cap = tok_cap ? 2 * tok_cap : 4096;
			tok = realloc(tok, tok_cap);
			if (!tok)
				exit(3);
		}
		tok[n++] = (char)c;
		c = getchar();
	}
	tok[n] = '\0';
	return tok;
}

static const char *need(void)
{
	const char *t = next();

	if (!t) {
		fprintf(stderr, "session_dump: transcript ends early\n");
		exit(2);
	}
	return t;
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * hex → a fresh buffer (4-byte aligned, as OP-TEE's shared memory is); NULL for no bytes, as
 * OP-TEE passes an empty memory reference
 */
static uint8_t *unhex(const char *t, size_t *len)
{
	size_t n = strcmp(t, "-") ? strlen(t) / 2 : 0, i;
	uint8_t *b;

	*len = 0;
	if (!n)
		return NULL;
	b = malloc(n);
	if (!b)
		exit(3);
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(nibble(t[2 * i]) << 4 | nibble(t[2 * i + 1]));
	*len = n;
	return b;
}

static void put_hex(const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (!n) {
		fputs("-", stdout);
		return;
	}
	for (i = 0; i < n; i++) {
		putchar(hex[b[i] >> 4]);
		putchar(hex[b[i] & 15]);
	}
}

int main(void)
{
	struct ll_ta *ta = malloc(sizeof(*ta));
	uint8_t *memory = NULL;
	uint32_t session = 0;
	const char *t;

	if (!ta)
		return 3;
	ll_ta_init(ta, NULL, 0);
	while ((t = next())) {
		if (!strcmp(t, "TA")) {
			uint64_t cap = strtoull(need(), NULL, 10);

			free(memory);
			memory = calloc(1, cap ? cap : 1);
			if (!memory)
				return 3;
			ll_ta_init(ta, memory, cap);
		} else if (!strcmp(t, "OPEN")) {
			TEE_Result r = ll_ta_open_session(ta, &session);

			printf("R %" PRIu32 "\nM %s\n", r, r == TEE_SUCCESS ? "" : ll_ta_message(ta));
		} else if (!strcmp(t, "CLOSE")) {
			ll_ta_close_session(ta, session);
		} else if (!strcmp(t, "CMD")) {
			uint32_t cmd = (uint32_t)strtoul(need(), NULL, 10);
			uint32_t types = (uint32_t)strtoul(need(), NULL, 10);
			TEE_Param p[4];
			uint8_t *bufs[4] = { NULL, NULL, NULL, NULL };
			TEE_Result r;
			int i;

			memset(p, 0, sizeof(p));
			for (i = 0; i < 4; i++) {
				uint32_t ty = TEE_PARAM_TYPE_GET(types, i);
				const char *v = need();

				if (ty == TEE_PARAM_TYPE_VALUE_INPUT || ty == TEE_PARAM_TYPE_VALUE_INOUT) {
					p[i].value.a = (uint32_t)strtoul(v, NULL, 10);
					p[i].value.b = (uint32_t)strtoul(need(), NULL, 10);
				} else if (ty == TEE_PARAM_TYPE_MEMREF_INPUT || ty == TEE_PARAM_TYPE_MEMREF_INOUT) {
					size_t len = 0;

					bufs[i] = unhex(v, &len);
					p[i].memref.buffer = bufs[i];
					p[i].memref.size = len;
				} else if (ty == TEE_PARAM_TYPE_MEMREF_OUTPUT) {
					size_t len = strtoul(v, NULL, 10);

					bufs[i] = len ? calloc(1, len) : NULL;
					if (len && !bufs[i])
						return 3;
					p[i].memref.buffer = bufs[i];
					p[i].memref.size = len;
				}
			}
			r = ll_ta_invoke(ta, session, cmd, types, p);
			printf("R %" PRIu32 "\nM %s\n", r, r == TEE_SUCCESS ? "" : ll_ta_message(ta));
			for (i = 0; i < 4; i++) {
				uint32_t ty = TEE_PARAM_TYPE_GET(types, i);

				if (ty == TEE_PARAM_TYPE_VALUE_OUTPUT || ty == TEE_PARAM_TYPE_VALUE_INOUT) {
					printf("V %" PRIu32 " %" PRIu32 "\n", p[i].value.a, p[i].value.b);
				} else if (ty == TEE_PARAM_TYPE_MEMREF_OUTPUT || ty == TEE_PARAM_TYPE_MEMREF_INOUT) {
					printf("B %zu ", p[i].memref.size);
					put_hex(bufs[i], r == TEE_SUCCESS ? p[i].memref.size : 0);
					printf("\n");
				}
				free(bufs[i]);
			}
		} else {
			fprintf(stderr, "session_dump: unknown request '%s'\n", t);
			return 2;
		}
	}
	free(memory);
	free(ta);
	free(tok);
	return 0;
}
