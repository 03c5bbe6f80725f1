/*
 * The store `config` object: format version, store id, chunk and codec defaults,
 * KDF parameters and the wrapped data key. Fixed 160 bytes, see FORMAT.md §5.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <time.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ferry/codec.h"
#include "bytes.h"

static const uint8_t cfg_magic[4] = { 'F', 'R', 'Y', 'S' };
#define CFG_VERSION 1
#define CFG_AAD_LEN 80 /* bytes 0..79: everything the wrapped key must stay bound to */

void ferry_config_encode(const struct ferry_store_config *cfg, uint8_t out[FERRY_CONFIG_LEN])
{
	memset(out, 0, FERRY_CONFIG_LEN);
	memcpy(out, cfg_magic, 4);
	put_le16(out + 4, cfg->version);
	put_le16(out + 6, cfg->flags);
	memcpy(out + 8, cfg->store_id, FERRY_ID_LEN);
	put_le32(out + 24, cfg->chunk_size);
	out[28] = cfg->level;
	out[29] = cfg->kdf;
	out[30] = cfg->scrypt_log2n;
	put_le32(out + 32, cfg->scrypt_r);
	put_le32(out + 36, cfg->scrypt_p);
	put_le64(out + 40, cfg->created);
	memcpy(out + 48, cfg->salt, 32);
	memcpy(out + 80, cfg->wrap_nonce, 12);
	memcpy(out + 92, cfg->wrapped_key, sizeof(cfg->wrapped_key));
	put_le64(out + 152, XXH3_64bits(out, 152));
}

int ferry_config_decode(const uint8_t *buf, size_t len, struct ferry_store_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (len < FERRY_CONFIG_LEN)
		return FERRY_E_TRUNCATED;
	if (len > FERRY_CONFIG_LEN || memcmp(buf, cfg_magic, 4) != 0)
		return FERRY_E_FORMAT;
	if (get_le16(buf + 4) != CFG_VERSION)
		return FERRY_E_VERSION;
	if (XXH3_64bits(buf, 152) != get_le64(buf + 152))
		return FERRY_E_CHECKSUM;
	cfg->version = get_le16(buf + 4);
	cfg->flags = get_le16(buf + 6);
	memcpy(cfg->store_id, buf + 8, FERRY_ID_LEN);
	cfg->chunk_size = get_le32(buf + 24);
	cfg->level = buf[28];
	cfg->kdf = buf[29];
	cfg->scrypt_log2n = buf[30];
	cfg->scrypt_r = get_le32(buf + 32);
	cfg->scrypt_p = get_le32(buf + 36);
	cfg->created = get_le64(buf + 40);
	memcpy(cfg->salt, buf + 48, 32);
	memcpy(cfg->wrap_nonce, buf + 80, 12);
	memcpy(cfg->wrapped_key, buf + 92, sizeof(cfg->wrapped_key));

	if (cfg->flags & ~FERRY_CFG_ENCRYPTED)
		return FERRY_E_UNSUPPORTED;
	if (buf[31] != 0 || !all_zero(buf + 140, 12))
		return FERRY_E_FORMAT;
	if (cfg->chunk_size < FERRY_CHUNK_MIN || cfg->chunk_size > FERRY_CHUNK_MAX || cfg->level > FERRY_LEVEL_MAX)
		return FERRY_E_FORMAT;
	int enc = (cfg->flags & FERRY_CFG_ENCRYPTED) != 0;
	if (!enc && cfg->kdf != FERRY_KDF_NONE)
		return FERRY_E_FORMAT;
	if (enc && cfg->kdf != FERRY_KDF_SCRYPT && cfg->kdf != FERRY_KDF_KEYFILE)
		return cfg->kdf == FERRY_KDF_NONE ? FERRY_E_FORMAT : FERRY_E_UNSUPPORTED;
	if (cfg->kdf != FERRY_KDF_SCRYPT && (cfg->scrypt_log2n || cfg->scrypt_r || cfg->scrypt_p))
		return FERRY_E_FORMAT;
	if (!enc && !(all_zero(cfg->salt, sizeof(cfg->salt)) && all_zero(cfg->wrap_nonce, sizeof(cfg->wrap_nonce)) &&
		      all_zero(cfg->wrapped_key, sizeof(cfg->wrapped_key))))
		return FERRY_E_FORMAT;
	if (cfg->kdf == FERRY_KDF_SCRYPT) {
		/* bound the memory a hostile config can make us spend: 128 * r * N */
		if (cfg->scrypt_log2n < 1 || cfg->scrypt_log2n > FERRY_SCRYPT_LOG2N_MAX || cfg->scrypt_r < 1 ||
		    cfg->scrypt_r > 32 || cfg->scrypt_p < 1 || cfg->scrypt_p > 16 ||
		    (128ull * cfg->scrypt_r << cfg->scrypt_log2n) > (4ull << 30))
			return FERRY_E_FORMAT;
	}
	return FERRY_OK;
}

/* The key-encryption key: scrypt of the passphrase, or the key file's bytes as they are. */
static int derive_kek(const struct ferry_store_config *cfg, const struct ferry_secret *s, uint8_t kek[32])
{
	if (!s || s->kdf != cfg->kdf)
		return FERRY_E_INVAL;
	if (s->kdf == FERRY_KDF_KEYFILE) {
		if (s->len != FERRY_KEY_LEN)
			return FERRY_E_INVAL;
		memcpy(kek, s->bytes, FERRY_KEY_LEN);
		return FERRY_OK;
	}
	return ferry_scrypt(s->bytes, s->len, cfg->salt, sizeof(cfg->salt), 1ull << cfg->scrypt_log2n,
			    cfg->scrypt_r, cfg->scrypt_p, kek, 32);
}

static int finish_keys(const struct ferry_store_config *cfg, struct ferry_keys *k)
{
	static const char label[] = "ferry xxh3 seed v1";
	uint8_t mac[32];
	unsigned int maclen = 0;

	memcpy(k->store_id, cfg->store_id, FERRY_ID_LEN);
	k->encrypted = (cfg->flags & FERRY_CFG_ENCRYPTED) != 0;
	k->hash_seed = 0;
	if (!k->encrypted)
		return FERRY_OK;
	/* a keyed seed, so plaintext chunk hashes in frame headers do not confirm guessed content */
	if (!HMAC(EVP_sha256(), k->data_key, FERRY_KEY_LEN, (const uint8_t *)label, sizeof(label) - 1, mac, &maclen))
		return FERRY_E_CRYPTO;
	k->hash_seed = get_le64(mac);
	OPENSSL_cleanse(mac, sizeof(mac));
	return FERRY_OK;
}

int ferry_config_create(struct ferry_store_config *cfg, uint32_t chunk_size, int level,
			const struct ferry_secret *secret, unsigned log2n, struct ferry_keys *keys_out)
{
	uint8_t enc[FERRY_CONFIG_LEN], kek[32];
	int err;

	memset(cfg, 0, sizeof(*cfg));
	memset(keys_out, 0, sizeof(*keys_out));
	if (chunk_size < FERRY_CHUNK_MIN || chunk_size > FERRY_CHUNK_MAX || level < 0 || level > FERRY_LEVEL_MAX)
		return FERRY_E_INVAL;
	cfg->version = CFG_VERSION;
	cfg->chunk_size = chunk_size;
	cfg->level = (uint8_t)level;
	cfg->created = (uint64_t)time(NULL);
	err = ferry_random(cfg->store_id, FERRY_ID_LEN);
	if (err)
		return err;
	if (!secret)
		return finish_keys(cfg, keys_out);

	cfg->flags = FERRY_CFG_ENCRYPTED;
	cfg->kdf = (uint8_t)secret->kdf;
	if (secret->kdf == FERRY_KDF_SCRYPT) {
		cfg->scrypt_log2n = (uint8_t)(log2n ? log2n : FERRY_SCRYPT_LOG2N_DEFAULT);
		cfg->scrypt_r = FERRY_SCRYPT_R_DEFAULT;
		cfg->scrypt_p = FERRY_SCRYPT_P_DEFAULT;
		if (cfg->scrypt_log2n > FERRY_SCRYPT_LOG2N_MAX)
			return FERRY_E_INVAL;
	} else if (secret->kdf != FERRY_KDF_KEYFILE) {
		return FERRY_E_INVAL;
	}
	if ((err = ferry_random(cfg->salt, sizeof(cfg->salt))) || (err = ferry_random(cfg->wrap_nonce, 12)) ||
	    (err = ferry_random(keys_out->data_key, FERRY_KEY_LEN)))
		goto out;
	err = derive_kek(cfg, secret, kek);
	if (err)
		goto out;
	ferry_config_encode(cfg, enc);
	err = ferry_gcm_seal(kek, cfg->wrap_nonce, 12, enc, CFG_AAD_LEN, keys_out->data_key, FERRY_KEY_LEN,
			     cfg->wrapped_key, cfg->wrapped_key + FERRY_KEY_LEN);
	if (!err)
		err = finish_keys(cfg, keys_out);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	if (err)
		ferry_keys_wipe(keys_out);
	return err;
}

int ferry_config_unlock(const struct ferry_store_config *cfg, const struct ferry_secret *secret,
			struct ferry_keys *keys)
{
	uint8_t enc[FERRY_CONFIG_LEN], kek[32];
	int err;

	memset(keys, 0, sizeof(*keys));
	if (!(cfg->flags & FERRY_CFG_ENCRYPTED))
		return finish_keys(cfg, keys);
	err = derive_kek(cfg, secret, kek);
	if (err)
		return err;
	ferry_config_encode(cfg, enc);
	err = ferry_gcm_open(kek, cfg->wrap_nonce, 12, enc, CFG_AAD_LEN, cfg->wrapped_key, FERRY_KEY_LEN,
			     cfg->wrapped_key + FERRY_KEY_LEN, keys->data_key);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (err == FERRY_E_AUTH)
		err = FERRY_E_KEY;
	if (!err)
		err = finish_keys(cfg, keys);
	if (err)
		ferry_keys_wipe(keys);
	return err;
}
