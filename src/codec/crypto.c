/* OpenSSL glue: CSPRNG, one-shot AES-256-GCM, scrypt via EVP_KDF. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <limits.h>
#include <string.h>

#include "ferry/codec.h"

int ferry_random(void *buf, size_t len)
{
	if (len > INT_MAX)
		return FERRY_E_INVAL;
	return RAND_bytes(buf, (int)len) == 1 ? FERRY_OK : FERRY_E_CRYPTO;
}

void ferry_keys_wipe(struct ferry_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

static int gcm_run(int enc, const uint8_t key[32], const uint8_t *iv, size_t iv_len, const void *aad,
		   size_t aad_len, const void *in, size_t len, void *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl, ok = 0, err = FERRY_E_CRYPTO;

	if (!ctx)
		return FERRY_E_NOMEM;
	if (len > INT_MAX || aad_len > INT_MAX || iv_len == 0 || iv_len > 64) {
		err = FERRY_E_INVAL;
		goto out;
	}
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &iv_len),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), NULL, NULL, enc, params) != 1)
		goto out;
	if (EVP_CipherInit_ex2(ctx, NULL, key, iv, enc, NULL) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1)
		goto out;
	ok = EVP_CipherFinal_ex(ctx, (uint8_t *)out + len, &outl);
	if (ok != 1) {
		err = enc ? FERRY_E_CRYPTO : FERRY_E_AUTH;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
		goto out;
	err = FERRY_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

int ferry_gcm_seal(const uint8_t key[32], const uint8_t *iv, size_t iv_len, const void *aad, size_t aad_len,
		   const void *pt, size_t len, void *ct, uint8_t tag[16])
{
	return gcm_run(1, key, iv, iv_len, aad, aad_len, pt, len, ct, tag);
}

int ferry_gcm_open(const uint8_t key[32], const uint8_t *iv, size_t iv_len, const void *aad, size_t aad_len,
		   const void *ct, size_t len, const uint8_t tag[16], void *pt)
{
	uint8_t t[16];
	int err;

	memcpy(t, tag, 16);
	err = gcm_run(0, key, iv, iv_len, aad, aad_len, ct, len, pt, t);
	if (err)
		OPENSSL_cleanse(pt, len);
	return err;
}

int ferry_scrypt(const void *pass, size_t pass_len, const void *salt, size_t salt_len, uint64_t n, uint32_t r,
		 uint32_t p, void *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL);
	EVP_KDF_CTX *kctx;
	int err = FERRY_E_CRYPTO;
	/* scrypt needs 128 * r * N bytes (plus a little); let it have that, no more. */
	uint64_t maxmem = 128ull * r * n + 128ull * r * p + (1u << 20);
	/* OpenSSL rejects a NULL password pointer even when the length is 0. */
	static const uint8_t empty[1];

	if (!kdf)
		return FERRY_E_CRYPTO;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		return FERRY_E_NOMEM;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)(pass_len ? pass : empty), pass_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(salt_len ? salt : empty), salt_len),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_KDF_derive(kctx, out, out_len, params) == 1)
		err = FERRY_OK;
	EVP_KDF_CTX_free(kctx);
	return err;
}
