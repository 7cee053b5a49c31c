/*
 * HKDF-SHA256 (RFC 5869) and HPKE (RFC 9180) in base mode with the suite of
 * src/tee/shared/hpke.ts: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, single-shot
 * (sequence number 0). Sealed form as hpke.ts lays it out: enc (32 bytes) ‖ ciphertext ‖ tag.
 * Plain C over llcrypto.h (hkdf.c, hpke.c), written from the RFCs.
 */
#ifndef LLHPKE_H
#define LLHPKE_H

#include <stddef.h>
#include <stdint.h>
#include <llcrypto.h>

#define LL_HPKE_ENC_BYTES 32
/* bytes hpke adds to a plaintext: enc and the AEAD tag */
#define LL_HPKE_OVERHEAD (LL_HPKE_ENC_BYTES + LL_GCM_TAG_BYTES)

/* HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm); an empty salt is 32 zero bytes (RFC 5869). */
int ll_hkdf_extract(const uint8_t *salt, size_t saltlen, const struct ll_bytes *ikm, size_t nikm,
		    uint8_t prk[LL_SHA256_BYTES]);
/* HKDF-Expand(prk, info, L), L at most 255 × 32 bytes. */
int ll_hkdf_expand(const uint8_t prk[LL_SHA256_BYTES], const struct ll_bytes *info, size_t ninfo,
		   uint8_t *out, size_t len);

/* Seals pt to the recipient's X25519 public key: out gets LL_HPKE_OVERHEAD + n bytes. */
int ll_hpke_seal(const uint8_t pk_r[LL_X25519_BYTES], const void *info, size_t infolen,
		 const void *aad, size_t aadlen, const void *pt, size_t n, uint8_t *out);
/*
 * Opens enc ‖ ciphertext ‖ tag (sealedlen ≥ LL_HPKE_OVERHEAD bytes) with the recipient's key pair;
 * pt gets sealedlen - LL_HPKE_OVERHEAD bytes. -1 on any failure (pt zeroed).
 */
int ll_hpke_open(const uint8_t sk_r[LL_X25519_BYTES], const uint8_t pk_r[LL_X25519_BYTES],
		 const void *info, size_t infolen, const void *aad, size_t aadlen,
		 const uint8_t *sealed, size_t sealedlen, uint8_t *pt);

#endif
