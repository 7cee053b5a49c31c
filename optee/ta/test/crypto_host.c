/*
 * TEST ONLY: llcrypto.h on the host's OpenSSL 3 libcrypto (link with -lcrypto), so the TA's
 * deployment code (hkdf.c, hpke.c, deploy.c) runs natively in test/optee-ta-deploy.test.ts.
 * The TA itself uses crypto_gp.c (OP-TEE's GlobalPlatform API); nothing here goes into it.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <llcrypto.h>

void ll_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

int ll_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int ll_sha256(const struct ll_bytes *parts, size_t nparts, uint8_t out[LL_SHA256_BYTES])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	size_t i;

	for (i = 0; ok && i < nparts; i++)
		ok = EVP_DigestUpdate(c, parts[i].p, parts[i].n) == 1;
	ok = ok && EVP_DigestFinal_ex(c, out, &len) == 1 && len == LL_SHA256_BYTES;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

int ll_hmac_sha256(const uint8_t *key, size_t keylen, const struct ll_bytes *parts, size_t nparts,
		   uint8_t out[LL_SHA256_BYTES])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	char digest[] = "SHA256";
	/* initialisers, not OSSL_PARAM_construct_*: those return structs (the dev kit's -Waggregate-return) */
	OSSL_PARAM params[2] = { OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, NULL, 0), OSSL_PARAM_END };
	size_t len = 0, i;
	int ok;

	params[0].data = digest;
	params[0].data_size = strlen(digest);
	ok = c && EVP_MAC_init(c, key, keylen, params) == 1;
	for (i = 0; ok && i < nparts; i++)
		ok = EVP_MAC_update(c, parts[i].p, parts[i].n) == 1;
	ok = ok && EVP_MAC_final(c, out, &len, LL_SHA256_BYTES) == 1 && len == LL_SHA256_BYTES;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
}

static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const void *aad, size_t aadlen,
	       const void *in, size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, LL_GCM_NONCE_BYTES, NULL) == 1 &&
	     EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
	if (ok && aadlen)
		ok = EVP_CipherUpdate(c, NULL, &len, aad, (int)aadlen) == 1;
	if (ok && n)
		ok = EVP_CipherUpdate(c, out, &len, in, (int)n) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LL_GCM_TAG_BYTES, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + n, &len) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, LL_GCM_TAG_BYTES, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok && !enc)
		ll_wipe(out, n);
	return ok ? 0 : -1;
}

int ll_aes_gcm_seal(const uint8_t key[LL_GCM_KEY_BYTES], const uint8_t nonce[LL_GCM_NONCE_BYTES],
		    const void *aad, size_t aadlen, const void *in, size_t n, uint8_t *out,
		    uint8_t tag[LL_GCM_TAG_BYTES])
{
	return gcm(1, key, nonce, aad, aadlen, in, n, out, tag);
}

int ll_aes_gcm_open(const uint8_t key[LL_GCM_KEY_BYTES], const uint8_t nonce[LL_GCM_NONCE_BYTES],
		    const void *aad, size_t aadlen, const void *in, size_t n,
		    const uint8_t tag[LL_GCM_TAG_BYTES], uint8_t *out)
{
	uint8_t t[LL_GCM_TAG_BYTES];

	memcpy(t, tag, sizeof(t));
	return gcm(0, key, nonce, aad, aadlen, in, n, out, t);
}

static int keygen(int type, uint8_t priv[32], uint8_t pub[32])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *k = NULL;
	size_t a = 32, b = 32;
	int ok = c && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &k) == 1 &&
		 EVP_PKEY_get_raw_private_key(k, priv, &a) == 1 && EVP_PKEY_get_raw_public_key(k, pub, &b) == 1 &&
		 a == 32 && b == 32;

	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

int ll_x25519_keygen(uint8_t priv[LL_X25519_BYTES], uint8_t pub[LL_X25519_BYTES])
{
	return keygen(EVP_PKEY_X25519, priv, pub);
}

int ll_x25519(const uint8_t priv[LL_X25519_BYTES], const uint8_t pub[LL_X25519_BYTES],
	      const uint8_t peer[LL_X25519_BYTES], uint8_t shared[LL_X25519_BYTES])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t len = 32;
	/* OpenSSL refuses an all-zero result itself (as RFC 9180 7.1.4 asks) */
	int ok = c && p && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, p) == 1 &&
		 EVP_PKEY_derive(c, shared, &len) == 1 && len == 32;

	(void)pub;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

int ll_ed25519_keygen(uint8_t priv[LL_ED25519_KEY_BYTES], uint8_t pub[LL_ED25519_KEY_BYTES])
{
	return keygen(EVP_PKEY_ED25519, priv, pub);
}

int ll_ed25519_sign(const uint8_t priv[LL_ED25519_KEY_BYTES], const uint8_t pub[LL_ED25519_KEY_BYTES],
		    const void *msg, size_t n, uint8_t sig[LL_ED25519_SIG_BYTES])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t len = LL_ED25519_SIG_BYTES;
	int ok = k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(c, sig, &len, msg, n) == 1 && len == LL_ED25519_SIG_BYTES;

	(void)pub;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

int ll_ed25519_verify(const uint8_t pub[LL_ED25519_KEY_BYTES], const void *msg, size_t n,
		      const uint8_t sig[LL_ED25519_SIG_BYTES])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(c, sig, LL_ED25519_SIG_BYTES, msg, n) == 1;

	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}
