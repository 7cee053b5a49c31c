/*
 * llcrypto.h on the GlobalPlatform TEE Internal Core API as OP-TEE 4.10.0 provides it (the TA's
 * backend; the host tests use test/crypto_host.c). X25519 and Ed25519 are on by default in
 * OP-TEE 4.10.0 (core/crypto.mk: CFG_CRYPTO_X25519 ?= y, CFG_CRYPTO_ED25519 ?= y), with the key-pair
 * attributes TEE_ATTR_{X,ED}25519_{PRIVATE,PUBLIC}_VALUE (lib/libutee/include/tee_api_defines.h).
 */
#include <string.h>
#include <tee_internal_api.h>
#include <llcrypto.h>

void ll_wipe(void *p, size_t n)
{
	/* through a volatile pointer: a memset of memory about to be freed may be dropped as a dead store */
	volatile uint8_t *v = p;

	while (p && n--)
		*v++ = 0;
}

int ll_random(void *buf, size_t n)
{
	TEE_GenerateRandom(buf, n);
	return 0;
}

int ll_sha256(const struct ll_bytes *parts, size_t nparts, uint8_t out[LL_SHA256_BYTES])
{
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	size_t len = LL_SHA256_BYTES, i;
	TEE_Result r = TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0);

	if (r != TEE_SUCCESS)
		return -1;
	for (i = 0; i + 1 < nparts; i++)
		TEE_DigestUpdate(op, parts[i].p, parts[i].n);
	r = TEE_DigestDoFinal(op, nparts ? parts[nparts - 1].p : NULL, nparts ? parts[nparts - 1].n : 0, out, &len);
	TEE_FreeOperation(op);
	return r == TEE_SUCCESS && len == LL_SHA256_BYTES ? 0 : -1;
}

/* A transient key object holding `n` secret bytes for `alg`'s operation. */
static int secret_key(uint32_t type, const uint8_t *key, size_t n, TEE_ObjectHandle *obj)
{
	TEE_Attribute a;

	if (TEE_AllocateTransientObject(type, (uint32_t)(8 * n), obj) != TEE_SUCCESS)
		return -1;
	TEE_InitRefAttribute(&a, TEE_ATTR_SECRET_VALUE, key, n);
	if (TEE_PopulateTransientObject(*obj, &a, 1) != TEE_SUCCESS) {
		TEE_FreeTransientObject(*obj);
		return -1;
	}
	return 0;
}

int ll_hmac_sha256(const uint8_t *key, size_t keylen, const struct ll_bytes *parts, size_t nparts,
		   uint8_t out[LL_SHA256_BYTES])
{
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_ObjectHandle k = TEE_HANDLE_NULL;
	uint8_t padded[64];
	size_t len = LL_SHA256_BYTES, i;
	int rc = -1;

	/*
	 * OP-TEE takes HMAC-SHA256 keys of 192 to 1024 bits (core/tee/tee_svc_cryp.c, the
	 * TEE_TYPE_HMAC_SHA256 property), HKDF's an empty salt among them. HMAC pads a key shorter than
	 * its 64-byte block with zeros (RFC 2104), so the key zero-padded to 32 bytes is the same key.
	 */
	if (keylen > sizeof(padded))
		return -1;
	memset(padded, 0, sizeof(padded));
	memcpy(padded, key, keylen);
	if (keylen < 32)
		keylen = 32;
	if (secret_key(TEE_TYPE_HMAC_SHA256, padded, keylen, &k))
		goto out;
	if (TEE_AllocateOperation(&op, TEE_ALG_HMAC_SHA256, TEE_MODE_MAC, (uint32_t)(8 * keylen)) != TEE_SUCCESS)
		goto out;
	if (TEE_SetOperationKey(op, k) != TEE_SUCCESS)
		goto out;
	TEE_MACInit(op, NULL, 0);
	for (i = 0; i < nparts; i++)
		TEE_MACUpdate(op, parts[i].p, parts[i].n);
	if (TEE_MACComputeFinal(op, NULL, 0, out, &len) == TEE_SUCCESS && len == LL_SHA256_BYTES)
		rc = 0;
out:
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	if (k != TEE_HANDLE_NULL)
		TEE_FreeTransientObject(k);
	ll_wipe(padded, sizeof(padded));
	return rc;
}

static int gcm(uint32_t mode, const uint8_t *key, const uint8_t *nonce, const void *aad, size_t aadlen,
	       const void *in, size_t n, uint8_t *out, uint8_t *tag)
{
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_ObjectHandle k = TEE_HANDLE_NULL;
	size_t outlen = n, taglen = LL_GCM_TAG_BYTES;
	TEE_Result r;
	int rc = -1;

	if (secret_key(TEE_TYPE_AES, key, LL_GCM_KEY_BYTES, &k))
		return -1;
	if (TEE_AllocateOperation(&op, TEE_ALG_AES_GCM, mode, 256) != TEE_SUCCESS ||
	    TEE_SetOperationKey(op, k) != TEE_SUCCESS)
		goto out;
	if (TEE_AEInit(op, nonce, LL_GCM_NONCE_BYTES, 8 * LL_GCM_TAG_BYTES, aadlen, n) != TEE_SUCCESS)
		goto out;
	if (aadlen)
		TEE_AEUpdateAAD(op, aad, aadlen);
	if (mode == TEE_MODE_ENCRYPT)
		r = TEE_AEEncryptFinal(op, in, n, out, &outlen, tag, &taglen);
	else
		r = TEE_AEDecryptFinal(op, in, n, out, &outlen, (void *)tag, LL_GCM_TAG_BYTES);
	if (r == TEE_SUCCESS && outlen == n)
		rc = 0;
out:
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	TEE_FreeTransientObject(k);
	if (rc && mode == TEE_MODE_DECRYPT)
		ll_wipe(out, n);
	return rc;
}

int ll_aes_gcm_seal(const uint8_t key[LL_GCM_KEY_BYTES], const uint8_t nonce[LL_GCM_NONCE_BYTES],
		    const void *aad, size_t aadlen, const void *in, size_t n, uint8_t *out,
		    uint8_t tag[LL_GCM_TAG_BYTES])
{
	return gcm(TEE_MODE_ENCRYPT, key, nonce, aad, aadlen, in, n, out, tag);
}

int ll_aes_gcm_open(const uint8_t key[LL_GCM_KEY_BYTES], const uint8_t nonce[LL_GCM_NONCE_BYTES],
		    const void *aad, size_t aadlen, const void *in, size_t n,
		    const uint8_t tag[LL_GCM_TAG_BYTES], uint8_t *out)
{
	uint8_t t[LL_GCM_TAG_BYTES];

	memcpy(t, tag, sizeof(t));
	return gcm(TEE_MODE_DECRYPT, key, nonce, aad, aadlen, in, n, out, t);
}

/* A fresh 25519 key pair of `type`: its private and public value attributes, 32 bytes each. */
static int keygen(uint32_t type, uint32_t priv_attr, uint32_t pub_attr, uint8_t priv[32], uint8_t pub[32])
{
	TEE_ObjectHandle k = TEE_HANDLE_NULL;
	size_t a = 32, b = 32;
	int rc = -1;

	if (TEE_AllocateTransientObject(type, 256, &k) != TEE_SUCCESS)
		return -1;
	if (TEE_GenerateKey(k, 256, NULL, 0) == TEE_SUCCESS &&
	    TEE_GetObjectBufferAttribute(k, priv_attr, priv, &a) == TEE_SUCCESS &&
	    TEE_GetObjectBufferAttribute(k, pub_attr, pub, &b) == TEE_SUCCESS && a == 32 && b == 32)
		rc = 0;
	TEE_FreeTransientObject(k);
	return rc;
}

/* A 25519 key-pair object from both halves (GP's key pairs need both). */
static int keypair(uint32_t type, uint32_t priv_attr, uint32_t pub_attr, const uint8_t priv[32], const uint8_t pub[32],
		   TEE_ObjectHandle *k)
{
	TEE_Attribute a[2];

	if (TEE_AllocateTransientObject(type, 256, k) != TEE_SUCCESS)
		return -1;
	TEE_InitRefAttribute(&a[0], priv_attr, priv, 32);
	TEE_InitRefAttribute(&a[1], pub_attr, pub, 32);
	if (TEE_PopulateTransientObject(*k, a, 2) != TEE_SUCCESS) {
		TEE_FreeTransientObject(*k);
		*k = TEE_HANDLE_NULL;
		return -1;
	}
	return 0;
}

int ll_x25519_keygen(uint8_t priv[LL_X25519_BYTES], uint8_t pub[LL_X25519_BYTES])
{
	return keygen(TEE_TYPE_X25519_KEYPAIR, TEE_ATTR_X25519_PRIVATE_VALUE, TEE_ATTR_X25519_PUBLIC_VALUE, priv, pub);
}

int ll_x25519(const uint8_t priv[LL_X25519_BYTES], const uint8_t pub[LL_X25519_BYTES],
	      const uint8_t peer[LL_X25519_BYTES], uint8_t shared[LL_X25519_BYTES])
{
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_ObjectHandle k = TEE_HANDLE_NULL, s = TEE_HANDLE_NULL;
	TEE_Attribute a;
	size_t len = LL_X25519_BYTES, i;
	uint8_t any = 0;
	int rc = -1;

	if (keypair(TEE_TYPE_X25519_KEYPAIR, TEE_ATTR_X25519_PRIVATE_VALUE, TEE_ATTR_X25519_PUBLIC_VALUE, priv, pub, &k))
		return -1;
	if (TEE_AllocateOperation(&op, TEE_ALG_X25519, TEE_MODE_DERIVE, 256) != TEE_SUCCESS ||
	    TEE_SetOperationKey(op, k) != TEE_SUCCESS ||
	    TEE_AllocateTransientObject(TEE_TYPE_GENERIC_SECRET, 256, &s) != TEE_SUCCESS)
		goto out;
	TEE_InitRefAttribute(&a, TEE_ATTR_X25519_PUBLIC_VALUE, peer, LL_X25519_BYTES);
	TEE_DeriveKey(op, &a, 1, s);
	if (TEE_GetObjectBufferAttribute(s, TEE_ATTR_SECRET_VALUE, shared, &len) != TEE_SUCCESS || len != LL_X25519_BYTES)
		goto out;
	/* RFC 9180 7.1.4: an all-zero shared secret (a low-order peer key) is refused */
	for (i = 0; i < LL_X25519_BYTES; i++)
		any |= shared[i];
	rc = any ? 0 : -1;
out:
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	if (s != TEE_HANDLE_NULL)
		TEE_FreeTransientObject(s);
	TEE_FreeTransientObject(k);
	return rc;
}

int ll_ed25519_keygen(uint8_t priv[LL_ED25519_KEY_BYTES], uint8_t pub[LL_ED25519_KEY_BYTES])
{
	return keygen(TEE_TYPE_ED25519_KEYPAIR, TEE_ATTR_ED25519_PRIVATE_VALUE, TEE_ATTR_ED25519_PUBLIC_VALUE, priv, pub);
}

/* Pure Ed25519: OP-TEE signs the "digest" it is given as the message (no TEE_ATTR_EDDSA_* parameters) */
int ll_ed25519_sign(const uint8_t priv[LL_ED25519_KEY_BYTES], const uint8_t pub[LL_ED25519_KEY_BYTES],
		    const void *msg, size_t n, uint8_t sig[LL_ED25519_SIG_BYTES])
{
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_ObjectHandle k = TEE_HANDLE_NULL;
	size_t len = LL_ED25519_SIG_BYTES;
	int rc = -1;

	if (keypair(TEE_TYPE_ED25519_KEYPAIR, TEE_ATTR_ED25519_PRIVATE_VALUE, TEE_ATTR_ED25519_PUBLIC_VALUE, priv, pub, &k))
		return -1;
	if (TEE_AllocateOperation(&op, TEE_ALG_ED25519, TEE_MODE_SIGN, 256) == TEE_SUCCESS &&
	    TEE_SetOperationKey(op, k) == TEE_SUCCESS &&
	    TEE_AsymmetricSignDigest(op, NULL, 0, msg, n, sig, &len) == TEE_SUCCESS && len == LL_ED25519_SIG_BYTES)
		rc = 0;
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	TEE_FreeTransientObject(k);
	return rc;
}

int ll_ed25519_verify(const uint8_t pub[LL_ED25519_KEY_BYTES], const void *msg, size_t n,
		      const uint8_t sig[LL_ED25519_SIG_BYTES])
{
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_ObjectHandle k = TEE_HANDLE_NULL;
	TEE_Attribute a;
	int rc = -1;

	if (TEE_AllocateTransientObject(TEE_TYPE_ED25519_PUBLIC_KEY, 256, &k) != TEE_SUCCESS)
		return -1;
	TEE_InitRefAttribute(&a, TEE_ATTR_ED25519_PUBLIC_VALUE, pub, 32);
	if (TEE_PopulateTransientObject(k, &a, 1) == TEE_SUCCESS &&
	    TEE_AllocateOperation(&op, TEE_ALG_ED25519, TEE_MODE_VERIFY, 256) == TEE_SUCCESS &&
	    TEE_SetOperationKey(op, k) == TEE_SUCCESS &&
	    TEE_AsymmetricVerifyDigest(op, NULL, 0, msg, n, sig, LL_ED25519_SIG_BYTES) == TEE_SUCCESS)
		rc = 0;
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	TEE_FreeTransientObject(k);
	return rc;
}
