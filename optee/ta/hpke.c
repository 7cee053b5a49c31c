/*
 * HPKE (RFC 9180), mode base, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, single
 * shot: see include/llhpke.h. Section numbers are RFC 9180's.
 */
#include <string.h>
#include <llhpke.h>

/* 7.1: KEM 0x0020 DHKEM(X25519, HKDF-SHA256); 7.2: KDF 0x0001 HKDF-SHA256; 7.3: AEAD 0x0002 AES-256-GCM */
static const uint8_t KEM_SUITE[5] = { 'K', 'E', 'M', 0x00, 0x20 };
static const uint8_t HPKE_SUITE[10] = { 'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x02 };
static const char V1[] = "HPKE-v1";

#define NK 32 /* AES-256 key */
#define NN 12 /* nonce */

/* 4: "HPKE-v1" ‖ suite_id ‖ label, which LabeledExtract and LabeledExpand both put before their input */
static void hpke_label(struct ll_bytes parts[3], const uint8_t *suite, size_t suitelen, const char *label)
{
	parts[0].p = V1;
	parts[0].n = strlen(V1);
	parts[1].p = suite;
	parts[1].n = suitelen;
	parts[2].p = label;
	parts[2].n = strlen(label);
}

/* 4: LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm) */
static int labeled_extract(const uint8_t *suite, size_t suitelen, const uint8_t *salt, size_t saltlen,
			   const char *label, const void *ikm, size_t ikmlen, uint8_t prk[LL_SHA256_BYTES])
{
	struct ll_bytes parts[4];

	hpke_label(parts, suite, suitelen, label);
	parts[3].p = ikm;
	parts[3].n = ikmlen;
	return ll_hkdf_extract(salt, saltlen, parts, 4, prk);
}

/* 4: LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L) */
static int labeled_expand(const uint8_t *suite, size_t suitelen, const uint8_t prk[LL_SHA256_BYTES],
			  const char *label, const void *info, size_t infolen, uint8_t *out, size_t len)
{
	uint8_t l2[2];
	struct ll_bytes parts[5];

	l2[0] = (uint8_t)(len >> 8);
	l2[1] = (uint8_t)len;
	parts[0].p = l2;
	parts[0].n = 2;
	hpke_label(parts + 1, suite, suitelen, label);
	parts[4].p = info;
	parts[4].n = infolen;
	return ll_hkdf_expand(prk, parts, 5, out, len);
}

/* 4.1: ExtractAndExpand(dh, kem_context), kem_context = enc ‖ pkRm */
static int kem_shared_secret(const uint8_t dh[32], const uint8_t enc[32], const uint8_t pk_r[32],
			     uint8_t shared[32])
{
	uint8_t eae_prk[LL_SHA256_BYTES], ctx[64];
	int r;

	memcpy(ctx, enc, 32);
	memcpy(ctx + 32, pk_r, 32);
	r = labeled_extract(KEM_SUITE, sizeof(KEM_SUITE), NULL, 0, "eae_prk", dh, 32, eae_prk);
	if (!r)
		r = labeled_expand(KEM_SUITE, sizeof(KEM_SUITE), eae_prk, "shared_secret", ctx, sizeof(ctx), shared, 32);
	ll_wipe(eae_prk, sizeof(eae_prk));
	return r;
}

/* 5.1: KeySchedule in mode_base (psk and psk_id empty): the AEAD key and base nonce */
static int key_schedule(const uint8_t shared[32], const void *info, size_t infolen, uint8_t key[NK],
			uint8_t nonce[NN])
{
	uint8_t ctx[1 + 2 * LL_SHA256_BYTES], secret[LL_SHA256_BYTES];
	int r;

	ctx[0] = 0x00; /* mode_base */
	r = labeled_extract(HPKE_SUITE, sizeof(HPKE_SUITE), NULL, 0, "psk_id_hash", "", 0, ctx + 1);
	if (!r)
		r = labeled_extract(HPKE_SUITE, sizeof(HPKE_SUITE), NULL, 0, "info_hash", info, infolen, ctx + 33);
	if (!r)
		r = labeled_extract(HPKE_SUITE, sizeof(HPKE_SUITE), shared, 32, "secret", "", 0, secret);
	if (!r)
		r = labeled_expand(HPKE_SUITE, sizeof(HPKE_SUITE), secret, "key", ctx, sizeof(ctx), key, NK);
	if (!r)
		r = labeled_expand(HPKE_SUITE, sizeof(HPKE_SUITE), secret, "base_nonce", ctx, sizeof(ctx), nonce, NN);
	ll_wipe(secret, sizeof(secret));
	return r;
}

int ll_hpke_seal(const uint8_t pk_r[LL_X25519_BYTES], const void *info, size_t infolen,
		 const void *aad, size_t aadlen, const void *pt, size_t n, uint8_t *out)
{
	uint8_t sk_e[32], pk_e[32], dh[32], shared[32], key[NK], nonce[NN];
	int r;

	/* 4.1 Encap: an ephemeral key pair; enc = pkE. 5.2: the first message's nonce is base_nonce. */
	r = ll_x25519_keygen(sk_e, pk_e);
	if (!r)
		r = ll_x25519(sk_e, pk_e, pk_r, dh);
	if (!r)
		r = kem_shared_secret(dh, pk_e, pk_r, shared);
	if (!r)
		r = key_schedule(shared, info, infolen, key, nonce);
	if (!r) {
		memcpy(out, pk_e, LL_HPKE_ENC_BYTES);
		r = ll_aes_gcm_seal(key, nonce, aad, aadlen, pt, n, out + LL_HPKE_ENC_BYTES,
				    out + LL_HPKE_ENC_BYTES + n);
	}
	ll_wipe(sk_e, sizeof(sk_e));
	ll_wipe(dh, sizeof(dh));
	ll_wipe(shared, sizeof(shared));
	ll_wipe(key, sizeof(key));
	return r;
}

int ll_hpke_open(const uint8_t sk_r[LL_X25519_BYTES], const uint8_t pk_r[LL_X25519_BYTES],
		 const void *info, size_t infolen, const void *aad, size_t aadlen,
		 const uint8_t *sealed, size_t sealedlen, uint8_t *pt)
{
	uint8_t dh[32], shared[32], key[NK], nonce[NN], enc[32], tag[LL_GCM_TAG_BYTES];
	size_t n;
	int r;

	if (sealedlen < LL_HPKE_OVERHEAD)
		return -1;
	n = sealedlen - LL_HPKE_OVERHEAD;
	/* copied once: the sealed bytes may be shared memory the normal world can still change */
	memcpy(enc, sealed, sizeof(enc));
	memcpy(tag, sealed + LL_HPKE_ENC_BYTES + n, sizeof(tag));
	/* 4.1 Decap: dh = DH(skR, enc); kem_context = enc ‖ pk(skR) */
	r = ll_x25519(sk_r, pk_r, enc, dh);
	if (!r)
		r = kem_shared_secret(dh, enc, pk_r, shared);
	if (!r)
		r = key_schedule(shared, info, infolen, key, nonce);
	if (!r)
		r = ll_aes_gcm_open(key, nonce, aad, aadlen, sealed + LL_HPKE_ENC_BYTES, n, tag, pt);
	ll_wipe(dh, sizeof(dh));
	ll_wipe(shared, sizeof(shared));
	ll_wipe(key, sizeof(key));
	return r;
}
