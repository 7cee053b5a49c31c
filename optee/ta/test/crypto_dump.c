/*
 * Host driver for test/optee-ta-deploy.test.ts: the TA's HKDF and HPKE (hkdf.c, hpke.c over
 * llcrypto.h, here on test/crypto_host.c) on requests from stdin, one per line, hex fields:
 *   EXTRACT <salt> <ikm>                 → the PRK
 *   EXPAND <prk> <info> <L>              → L bytes of OKM
 *   SEAL <pkR> <info> <aad> <pt>         → enc ‖ ct ‖ tag
 *   OPEN <skR> <pkR> <info> <aad> <sealed> → the plaintext, or "FAIL"
 *   X25519KEY / ED25519KEY               → "<private> <public>"
 *   SIGN <priv> <pub> <msg> / VERIFY <pub> <msg> <sig> → the signature / "OK" or "FAIL"
 * ("-" for empty bytes.) One answer line per request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llhpke.h>

static char line[1 << 20];

static int nib(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

static uint8_t *unhex(const char *t, size_t *n)
{
	size_t len = strcmp(t, "-") ? strlen(t) / 2 : 0, i;
	uint8_t *b = malloc(len + 1);

	if (!b)
		exit(3);
	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(nib(t[2 * i]) << 4 | nib(t[2 * i + 1]));
	*n = len;
	return b;
}

static void put(const uint8_t *b, size_t n)
{
	size_t i;

	if (!n)
		fputs("-", stdout);
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
}

int main(void)
{
	while (fgets(line, sizeof(line), stdin)) {
		char *f[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
		uint8_t *b[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
		size_t n[6] = { 0, 0, 0, 0, 0, 0 }, k = 0, i;
		char *save = NULL, *t = strtok_r(line, " \n", &save);

		while (t && k < 6) {
			f[k++] = t;
			t = strtok_r(NULL, " \n", &save);
		}
		if (!k)
			continue;
		for (i = 1; i < k; i++)
			b[i] = unhex(f[i], &n[i]);
		if (!strcmp(f[0], "EXTRACT") && k == 3) {
			uint8_t prk[32];
			struct ll_bytes ikm;

			ikm.p = b[2];
			ikm.n = n[2];
			if (ll_hkdf_extract(b[1], n[1], &ikm, 1, prk))
				return 4;
			put(prk, 32);
		} else if (!strcmp(f[0], "EXPAND") && k == 4) {
			size_t len = (size_t)strtoul(f[3], NULL, 10);
			uint8_t *o = malloc(len + 1);
			struct ll_bytes info;

			info.p = b[2];
			info.n = n[2];
			if (!o || n[1] != 32)
				return 3;
			if (ll_hkdf_expand(b[1], &info, 1, o, len))
				fputs("FAIL", stdout);
			else
				put(o, len);
			free(o);
		} else if (!strcmp(f[0], "SEAL") && k == 5) {
			uint8_t *o = malloc(n[4] + LL_HPKE_OVERHEAD);

			if (!o || n[1] != 32 || ll_hpke_seal(b[1], b[2], n[2], b[3], n[3], b[4], n[4], o))
				return 4;
			put(o, n[4] + LL_HPKE_OVERHEAD);
			free(o);
		} else if (!strcmp(f[0], "OPEN") && k == 6) {
			uint8_t *o = malloc(n[5] + 1);

			if (!o || n[1] != 32 || n[2] != 32)
				return 3;
			if (ll_hpke_open(b[1], b[2], b[3], n[3], b[4], n[4], b[5], n[5], o))
				fputs("FAIL", stdout);
			else
				put(o, n[5] - LL_HPKE_OVERHEAD);
			free(o);
		} else if ((!strcmp(f[0], "X25519KEY") || !strcmp(f[0], "ED25519KEY")) && k == 1) {
			uint8_t priv[32], pub[32];

			if ((f[0][0] == 'X' ? ll_x25519_keygen(priv, pub) : ll_ed25519_keygen(priv, pub)))
				return 4;
			put(priv, 32);
			fputs(" ", stdout);
			put(pub, 32);
		} else if (!strcmp(f[0], "SIGN") && k == 4) {
			uint8_t sig[64];

			if (n[1] != 32 || n[2] != 32 || ll_ed25519_sign(b[1], b[2], b[3], n[3], sig))
				return 4;
			put(sig, 64);
		} else if (!strcmp(f[0], "VERIFY") && k == 4) {
			fputs(n[1] == 32 && n[3] == 64 && !ll_ed25519_verify(b[1], b[2], n[2], b[3]) ? "OK" : "FAIL", stdout);
		} else {
			fprintf(stderr, "crypto_dump: bad request %s\n", f[0]);
			return 2;
		}
		fputs("\n", stdout);
		for (i = 0; i < 6; i++)
			free(b[i]);
	}
	return 0;
}
