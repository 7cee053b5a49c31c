/*
 * The few cryptographic primitives layerlock's OP-TEE TA needs for deployment (issue 17), behind
 * one small interface so the protocol code above it (hkdf.c, hpke.c, deploy.c) is the same in the
 * TA and in the host tests:
 *  - crypto_gp.c: the GlobalPlatform TEE Internal Core API as OP-TEE 4.10.0 provides it (the TA);
 *  - test/crypto_host.c: the host's OpenSSL 3 libcrypto (TEST ONLY, for the native tests).
 * Every function returns 0 on success and -1 on any failure (a bad key, an authentication
 * failure, an allocation failure): the callers turn that into the software TA's messages, which
 * never say more than "does not verify" or "does not decrypt".
 */
#ifndef LLCRYPTO_H
#define LLCRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define LL_SHA256_BYTES 32
#define LL_GCM_KEY_BYTES 32
#define LL_GCM_NONCE_BYTES 12
#define LL_GCM_TAG_BYTES 16
#define LL_X25519_BYTES 32
#define LL_ED25519_KEY_BYTES 32
#define LL_ED25519_SIG_BYTES 64

/* A run of bytes; several of them are hashed or MACed as their concatenation. */
struct ll_bytes {
	const void *p;
	size_t n;
};

int ll_random(void *buf, size_t n);

/* SHA-256 of the concatenation of `nparts` runs. */
int ll_sha256(const struct ll_bytes *parts, size_t nparts, uint8_t out[LL_SHA256_BYTES]);

/*
 * HMAC-SHA256 (RFC 2104) of the concatenation of `nparts` runs. The TA's keys have 0 to 64 bytes
 * (HKDF salts and PRKs); crypto_gp.c takes no more.
 */
int ll_hmac_sha256(const uint8_t *key, size_t keylen, const struct ll_bytes *parts, size_t nparts,
		   uint8_t out[LL_SHA256_BYTES]);

/* AES-256-GCM with a 12-byte nonce and a 16-byte tag; `out` may not overlap `in`. */
int ll_aes_gcm_seal(const uint8_t key[LL_GCM_KEY_BYTES], const uint8_t nonce[LL_GCM_NONCE_BYTES],
		    const void *aad, size_t aadlen, const void *in, size_t n, uint8_t *out,
		    uint8_t tag[LL_GCM_TAG_BYTES]);
/* -1 when the tag does not verify; `out` (n bytes) is then zeroed. */
int ll_aes_gcm_open(const uint8_t key[LL_GCM_KEY_BYTES], const uint8_t nonce[LL_GCM_NONCE_BYTES],
		    const void *aad, size_t aadlen, const void *in, size_t n,
		    const uint8_t tag[LL_GCM_TAG_BYTES], uint8_t *out);

/* A fresh X25519 key pair (RFC 7748): the 32-byte private scalar and public u-coordinate. */
int ll_x25519_keygen(uint8_t priv[LL_X25519_BYTES], uint8_t pub[LL_X25519_BYTES]);
/*
 * X25519(priv, peer). `pub` is priv's own public key: GlobalPlatform's key-pair objects need both
 * halves. -1 also for an all-zero shared secret (a low-order peer key, RFC 9180 section 7.1.4).
 */
int ll_x25519(const uint8_t priv[LL_X25519_BYTES], const uint8_t pub[LL_X25519_BYTES],
	      const uint8_t peer[LL_X25519_BYTES], uint8_t shared[LL_X25519_BYTES]);

/* A fresh Ed25519 key pair (RFC 8032): the 32-byte private key (seed) and the public key. */
int ll_ed25519_keygen(uint8_t priv[LL_ED25519_KEY_BYTES], uint8_t pub[LL_ED25519_KEY_BYTES]);
/* Pure Ed25519 (no pre-hash, no context) over msg, as node:crypto's sign(null, …). */
int ll_ed25519_sign(const uint8_t priv[LL_ED25519_KEY_BYTES], const uint8_t pub[LL_ED25519_KEY_BYTES],
		    const void *msg, size_t n, uint8_t sig[LL_ED25519_SIG_BYTES]);
/* 0 when sig is a valid signature of msg by pub. */
int ll_ed25519_verify(const uint8_t pub[LL_ED25519_KEY_BYTES], const void *msg, size_t n,
		      const uint8_t sig[LL_ED25519_SIG_BYTES]);

/* Zeroes a secret in a way the compiler does not drop as a dead store. */
void ll_wipe(void *p, size_t n);

#endif
