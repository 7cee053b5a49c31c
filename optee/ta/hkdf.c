/* HKDF-SHA256 (RFC 5869) over llcrypto.h's HMAC: see include/llhpke.h. */
#include <string.h>
#include <llhpke.h>

int ll_hkdf_extract(const uint8_t *salt, size_t saltlen, const struct ll_bytes *ikm, size_t nikm,
		    uint8_t prk[LL_SHA256_BYTES])
{
	static const uint8_t zeros[LL_SHA256_BYTES];

	/* RFC 5869 2.2: "if not provided, [salt] is set to a string of HashLen zeros" */
	if (!saltlen)
		return ll_hmac_sha256(zeros, sizeof(zeros), ikm, nikm, prk);
	return ll_hmac_sha256(salt, saltlen, ikm, nikm, prk);
}

int ll_hkdf_expand(const uint8_t prk[LL_SHA256_BYTES], const struct ll_bytes *info, size_t ninfo,
		   uint8_t *out, size_t len)
{
	/* T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i): at most 8 runs of info besides T and the counter */
	struct ll_bytes parts[10];
	uint8_t t[LL_SHA256_BYTES];
	size_t done = 0, k;
	uint8_t i;

	if (len > 255 * LL_SHA256_BYTES || ninfo > 8)
		return -1;
	for (i = 1; done < len; i++) {
		size_t np = 0, take;

		if (i > 1) {
			parts[np].p = t;
			parts[np++].n = sizeof(t);
		}
		for (k = 0; k < ninfo; k++)
			parts[np++] = info[k];
		parts[np].p = &i;
		parts[np++].n = 1;
		if (ll_hmac_sha256(prk, LL_SHA256_BYTES, parts, np, t)) {
			ll_wipe(t, sizeof(t));
			ll_wipe(out, len);
			return -1;
		}
		take = len - done < sizeof(t) ? len - done : sizeof(t);
		memcpy(out + done, t, take);
		done += take;
	}
	ll_wipe(t, sizeof(t));
	return 0;
}
