/* Unit tests for the 160-byte store config: create, encode/decode, unlock, and every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <xxhash.h>

#include "ferry/codec.h"

#define LOG2N 10 /* cheap scrypt for tests: 1 MiB at r=8 */

#include "expect.h"

static const char pass[] = "correct horse battery staple";
static const char wrong_pass[] = "correct horse battery stapler";

static struct ferry_secret passphrase(const char *s)
{
	struct ferry_secret sec = { FERRY_KDF_SCRYPT, (const uint8_t *)s, strlen(s) };
	return sec;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void assert_cfg_equal(const struct ferry_store_config *a, const struct ferry_store_config *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->flags, b->flags);
	assert_memory_equal(a->store_id, b->store_id, FERRY_ID_LEN);
	assert_int_equal(a->chunk_size, b->chunk_size);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->kdf, b->kdf);
	assert_int_equal(a->scrypt_log2n, b->scrypt_log2n);
	assert_int_equal(a->scrypt_r, b->scrypt_r);
	assert_int_equal(a->scrypt_p, b->scrypt_p);
	assert_memory_equal(a->salt, b->salt, sizeof(a->salt));
	assert_memory_equal(a->wrap_nonce, b->wrap_nonce, sizeof(a->wrap_nonce));
	assert_memory_equal(a->wrapped_key, b->wrapped_key, sizeof(a->wrapped_key));
	assert_int_equal(a->created, b->created);
}

static void assert_keys_equal(const struct ferry_keys *a, const struct ferry_keys *b)
{
	assert_memory_equal(a->store_id, b->store_id, FERRY_ID_LEN);
	assert_int_equal(a->encrypted, b->encrypted);
	assert_memory_equal(a->data_key, b->data_key, FERRY_KEY_LEN);
	assert_true(a->hash_seed == b->hash_seed);
}

/* create -> encode -> decode -> unlock, for one secret; returns the decoded config. */
static void roundtrip(const struct ferry_secret *secret, struct ferry_store_config *dec, struct ferry_keys *keys)
{
	struct ferry_store_config cfg;
	struct ferry_keys unlocked;
	uint8_t buf[FERRY_CONFIG_LEN], again[FERRY_CONFIG_LEN];
	uint64_t t0 = (uint64_t)time(NULL), t1;

	assert_int_equal(ferry_config_create(&cfg, 1u << 20, 7, secret, LOG2N, keys), FERRY_OK);
	t1 = (uint64_t)time(NULL);
	assert_int_equal(cfg.version, 1);
	assert_int_equal(cfg.chunk_size, 1u << 20);
	assert_int_equal(cfg.level, 7);
	assert_true(cfg.created >= t0 && cfg.created <= t1);
	assert_false(all_zero(cfg.store_id, FERRY_ID_LEN));
	assert_memory_equal(keys->store_id, cfg.store_id, FERRY_ID_LEN);

	ferry_config_encode(&cfg, buf);
	assert_memory_equal(buf, "FRYS", 4);
	assert_int_equal(ferry_config_decode(buf, sizeof(buf), dec), FERRY_OK);
	assert_cfg_equal(&cfg, dec);
	/* decode and encode are inverse */
	ferry_config_encode(dec, again);
	assert_memory_equal(buf, again, FERRY_CONFIG_LEN);

	assert_int_equal(ferry_config_unlock(dec, secret, &unlocked), FERRY_OK);
	assert_keys_equal(keys, &unlocked);
	ferry_keys_wipe(&unlocked);
}

static void test_passphrase_roundtrip(void **state)
{
	struct ferry_secret s = passphrase(pass), bad = passphrase(wrong_pass);
	struct ferry_store_config cfg;
	struct ferry_keys keys, k2;
	uint8_t kf[FERRY_KEY_LEN] = { 1 };
	struct ferry_secret keyfile = { FERRY_KDF_KEYFILE, kf, sizeof(kf) };

	(void)state;
	roundtrip(&s, &cfg, &keys);
	assert_int_equal(cfg.flags, FERRY_CFG_ENCRYPTED);
	assert_int_equal(cfg.kdf, FERRY_KDF_SCRYPT);
	assert_int_equal(cfg.scrypt_log2n, LOG2N);
	assert_int_equal(cfg.scrypt_r, FERRY_SCRYPT_R_DEFAULT);
	assert_int_equal(cfg.scrypt_p, FERRY_SCRYPT_P_DEFAULT);
	assert_int_equal(keys.encrypted, 1);
	assert_false(all_zero(keys.data_key, FERRY_KEY_LEN));
	assert_true(keys.hash_seed != 0);
	/* the wrapped key is not the key */
	assert_memory_not_equal(cfg.wrapped_key, keys.data_key, FERRY_KEY_LEN);

	/* wrong passphrase: KEY, and nothing of the key is left in the output */
	memset(&k2, 0xEE, sizeof(k2));
	assert_int_equal(ferry_config_unlock(&cfg, &bad, &k2), FERRY_E_KEY);
	assert_true(all_zero(&k2, sizeof(k2)));
	struct ferry_secret empty = passphrase("");
	assert_int_equal(ferry_config_unlock(&cfg, &empty, &k2), FERRY_E_KEY);
	/* a secret of the other kind, or none */
	assert_int_equal(ferry_config_unlock(&cfg, &keyfile, &k2), FERRY_E_INVAL);
	assert_int_equal(ferry_config_unlock(&cfg, NULL, &k2), FERRY_E_INVAL);
	ferry_keys_wipe(&keys);
}

static void test_keyfile_roundtrip(void **state)
{
	uint8_t kf[FERRY_KEY_LEN], kf2[FERRY_KEY_LEN];
	struct ferry_secret s = { FERRY_KDF_KEYFILE, kf, sizeof(kf) };
	struct ferry_secret other = { FERRY_KDF_KEYFILE, kf2, sizeof(kf2) };
	struct ferry_secret shortkf = { FERRY_KDF_KEYFILE, kf, sizeof(kf) - 1 };
	struct ferry_secret pw = passphrase(pass);
	struct ferry_store_config cfg, c2;
	struct ferry_keys keys, k2;

	(void)state;
	assert_int_equal(ferry_random(kf, sizeof(kf)), FERRY_OK);
	memcpy(kf2, kf, sizeof(kf));
	kf2[31] ^= 1;
	roundtrip(&s, &cfg, &keys);
	assert_int_equal(cfg.flags, FERRY_CFG_ENCRYPTED);
	assert_int_equal(cfg.kdf, FERRY_KDF_KEYFILE);
	assert_int_equal(keys.encrypted, 1);
	assert_true(keys.hash_seed != 0);
	/* the key file is the key-encryption key, not the data key */
	assert_memory_not_equal(keys.data_key, kf, FERRY_KEY_LEN);

	assert_int_equal(ferry_config_unlock(&cfg, &other, &k2), FERRY_E_KEY);
	assert_int_equal(ferry_config_unlock(&cfg, &shortkf, &k2), FERRY_E_INVAL);
	assert_int_equal(ferry_config_unlock(&cfg, &pw, &k2), FERRY_E_INVAL);
	assert_int_equal(ferry_config_create(&c2, 1u << 20, 3, &shortkf, 0, &k2), FERRY_E_INVAL);

	/* two stores from the same key file: different ids, data keys and hash seeds */
	struct ferry_store_config cfg2;
	assert_int_equal(ferry_config_create(&cfg2, 1u << 20, 3, &s, 0, &k2), FERRY_OK);
	assert_memory_not_equal(cfg2.store_id, cfg.store_id, FERRY_ID_LEN);
	assert_memory_not_equal(k2.data_key, keys.data_key, FERRY_KEY_LEN);
	assert_true(k2.hash_seed != keys.hash_seed);
	ferry_keys_wipe(&k2);
	ferry_keys_wipe(&keys);
}

static void test_plain_roundtrip(void **state)
{
	struct ferry_store_config cfg;
	struct ferry_keys keys;

	(void)state;
	roundtrip(NULL, &cfg, &keys);
	assert_int_equal(cfg.flags, 0);
	assert_int_equal(cfg.kdf, FERRY_KDF_NONE);
	assert_int_equal(keys.encrypted, 0);
	assert_true(keys.hash_seed == 0);
	assert_true(all_zero(keys.data_key, FERRY_KEY_LEN));
	assert_true(all_zero(cfg.wrapped_key, sizeof(cfg.wrapped_key)));
}

static void test_create_args(void **state)
{
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	struct ferry_secret s = passphrase(pass);
	struct ferry_secret none = { FERRY_KDF_NONE, (const uint8_t *)pass, 4 };

	(void)state;
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MIN - 1, 3, NULL, 0, &keys), FERRY_E_INVAL);
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MAX + 1, 3, NULL, 0, &keys), FERRY_E_INVAL);
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MIN, -1, NULL, 0, &keys), FERRY_E_INVAL);
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MIN, FERRY_LEVEL_MAX + 1, NULL, 0, &keys),
			 FERRY_E_INVAL);
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MIN, 3, &s, FERRY_SCRYPT_LOG2N_MAX + 1, &keys),
			 FERRY_E_INVAL);
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MIN, 3, &none, 0, &keys), FERRY_E_INVAL);
	assert_true(all_zero(keys.data_key, FERRY_KEY_LEN));
	/* both bounds are allowed */
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MIN, 0, NULL, 0, &keys), FERRY_OK);
	assert_int_equal(ferry_config_create(&cfg, FERRY_CHUNK_MAX, FERRY_LEVEL_MAX, NULL, 0, &keys), FERRY_OK);
}

/* ---- decode rejections ---- */

static void make_encoded(uint8_t buf[FERRY_CONFIG_LEN], struct ferry_store_config *cfg)
{
	struct ferry_secret s = passphrase(pass);
	struct ferry_keys keys;

	assert_int_equal(ferry_config_create(cfg, 1u << 22, 3, &s, LOG2N, &keys), FERRY_OK);
	ferry_keys_wipe(&keys);
	ferry_config_encode(cfg, buf);
}

static void test_decode_length_and_magic(void **state)
{
	uint8_t buf[FERRY_CONFIG_LEN + 1] = { 0 }, copy[FERRY_CONFIG_LEN];
	struct ferry_store_config cfg, dec;

	(void)state;
	make_encoded(buf, &cfg);
	assert_int_equal(ferry_config_decode(buf, FERRY_CONFIG_LEN, &dec), FERRY_OK);
	assert_int_equal(ferry_config_decode(buf, FERRY_CONFIG_LEN - 1, &dec), FERRY_E_TRUNCATED);
	assert_int_equal(ferry_config_decode(buf, 8, &dec), FERRY_E_TRUNCATED);
	assert_int_equal(ferry_config_decode(buf, 0, &dec), FERRY_E_TRUNCATED);
	assert_int_equal(ferry_config_decode(buf, FERRY_CONFIG_LEN + 1, &dec), FERRY_E_FORMAT);
	memcpy(copy, buf, sizeof(copy));
	memcpy(copy, "FRYO", 4); /* an object header's magic */
	assert_int_equal(ferry_config_decode(copy, sizeof(copy), &dec), FERRY_E_FORMAT);
	memset(copy, 0, sizeof(copy));
	assert_int_equal(ferry_config_decode(copy, sizeof(copy), &dec), FERRY_E_FORMAT);
}

/*
 * Every single-bit flip is rejected. The checksum covers bytes 0..151, but magic and
 * version are looked at first, so flips there read as FORMAT and VERSION.
 */
static void test_decode_every_bit(void **state)
{
	uint8_t buf[FERRY_CONFIG_LEN], copy[FERRY_CONFIG_LEN];
	struct ferry_store_config cfg, dec;

	(void)state;
	make_encoded(buf, &cfg);
	for (size_t bit = 0; bit < FERRY_CONFIG_LEN * 8; bit++) {
		size_t byte = bit / 8;
		int want = byte < 4 ? FERRY_E_FORMAT : byte < 6 ? FERRY_E_VERSION : FERRY_E_CHECKSUM;

		memcpy(copy, buf, sizeof(copy));
		copy[byte] ^= (uint8_t)(1u << (bit % 8));
		CTX("byte %zu bit %zu", byte, bit % 8);
		EXPECT_ERR(ferry_config_decode(copy, sizeof(copy), &dec), want);
	}
}

/* Encodes cfg (so the checksum is valid) and decodes it. */
static int reencode(const struct ferry_store_config *cfg)
{
	uint8_t buf[FERRY_CONFIG_LEN];
	struct ferry_store_config dec;

	ferry_config_encode(cfg, buf);
	return ferry_config_decode(buf, sizeof(buf), &dec);
}

static void test_decode_fields(void **state)
{
	uint8_t buf[FERRY_CONFIG_LEN];
	struct ferry_store_config cfg, m;

	(void)state;
	make_encoded(buf, &cfg);
	CTX("unchanged");
	EXPECT_ERR(reencode(&cfg), FERRY_OK);

	/* scrypt cost: a hostile config must not make us allocate without bound */
	static const struct {
		uint8_t log2n;
		uint32_t r, p;
		int want;
	} cost[] = {
		{ FERRY_SCRYPT_LOG2N_MAX + 1, 8, 1, FERRY_E_FORMAT },
		{ 63, 8, 1, FERRY_E_FORMAT },
		{ 255, 8, 1, FERRY_E_FORMAT },
		{ 0, 8, 1, FERRY_E_FORMAT },
		{ FERRY_SCRYPT_LOG2N_MAX, 8, 1, FERRY_OK }, /* 4 GiB: the most allowed */
		{ FERRY_SCRYPT_LOG2N_MAX, 9, 1, FERRY_E_FORMAT },
		{ FERRY_SCRYPT_LOG2N_MAX, 32, 1, FERRY_E_FORMAT },
		{ 17, 32, 16, FERRY_OK },
		{ 17, 0, 1, FERRY_E_FORMAT },
		{ 17, 33, 1, FERRY_E_FORMAT },
		{ 17, 0xFFFFFFFFu, 1, FERRY_E_FORMAT },
		{ 17, 8, 0, FERRY_E_FORMAT },
		{ 17, 8, 17, FERRY_E_FORMAT },
		{ 1, 1, 1, FERRY_OK },
	};
	for (size_t i = 0; i < sizeof(cost) / sizeof(cost[0]); i++) {
		m = cfg;
		m.scrypt_log2n = cost[i].log2n;
		m.scrypt_r = cost[i].r;
		m.scrypt_p = cost[i].p;
		CTX("scrypt log2n %u r %u p %u", cost[i].log2n, cost[i].r, cost[i].p);
		EXPECT_ERR(reencode(&m), cost[i].want);
	}

	m = cfg;
	m.version = 2;
	CTX("version 2");
	EXPECT_ERR(reencode(&m), FERRY_E_VERSION);
	m = cfg;
	m.version = 0;
	CTX("version 0");
	EXPECT_ERR(reencode(&m), FERRY_E_VERSION);
	m = cfg;
	m.flags |= 0x0100;
	CTX("unknown flag");
	EXPECT_ERR(reencode(&m), FERRY_E_UNSUPPORTED);
	m = cfg;
	m.chunk_size = FERRY_CHUNK_MIN - 1;
	CTX("chunk below min");
	EXPECT_ERR(reencode(&m), FERRY_E_FORMAT);
	m = cfg;
	m.chunk_size = FERRY_CHUNK_MAX + 1;
	CTX("chunk above max");
	EXPECT_ERR(reencode(&m), FERRY_E_FORMAT);
	m = cfg;
	m.level = FERRY_LEVEL_MAX + 1;
	CTX("level");
	EXPECT_ERR(reencode(&m), FERRY_E_FORMAT);
	m = cfg;
	m.kdf = FERRY_KDF_NONE;
	CTX("encrypted without kdf");
	EXPECT_ERR(reencode(&m), FERRY_E_FORMAT);
	m = cfg;
	m.kdf = 3;
	CTX("unknown kdf");
	EXPECT_ERR(reencode(&m), FERRY_E_UNSUPPORTED);
	m = cfg;
	m.flags = 0;
	CTX("plain with a kdf");
	EXPECT_ERR(reencode(&m), FERRY_E_FORMAT);
	m = cfg;
	m.kdf = FERRY_KDF_KEYFILE;
	m.scrypt_log2n = 0;
	m.scrypt_r = 0;
	m.scrypt_p = 0;
	CTX("key file kdf");
	EXPECT_ERR(reencode(&m), FERRY_OK);

	/* reserved bytes, with a checksum recomputed over them */
	static const size_t reserved[] = { 31, 140, 145, 151 };
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		uint8_t copy[FERRY_CONFIG_LEN];
		struct ferry_store_config dec;
		uint64_t h;

		memcpy(copy, buf, sizeof(copy));
		copy[reserved[i]] = 0x01;
		h = XXH3_64bits(copy, 152);
		for (int k = 0; k < 8; k++)
			copy[152 + k] = (uint8_t)(h >> (8 * k));
		CTX("reserved byte %zu", reserved[i]);
		EXPECT_ERR(ferry_config_decode(copy, sizeof(copy), &dec), FERRY_E_FORMAT);
	}
}

/*
 * The wrapped key is bound to the config it sits in: a checksum-valid config with any
 * authenticated field changed no longer unlocks with the right secret.
 */
static void test_unlock_binding(void **state)
{
	uint8_t kf[FERRY_KEY_LEN];
	struct ferry_secret s = { FERRY_KDF_KEYFILE, kf, sizeof(kf) };
	struct ferry_secret pw = passphrase(pass);
	struct ferry_store_config cfg, m, dec;
	struct ferry_keys keys, k2;
	uint8_t buf[FERRY_CONFIG_LEN];

	(void)state;
	assert_int_equal(ferry_random(kf, sizeof(kf)), FERRY_OK);
	assert_int_equal(ferry_config_create(&cfg, 1u << 20, 3, &s, 0, &keys), FERRY_OK);

#define TRY(field_change, want)                                                          \
	do {                                                                             \
		m = cfg;                                                                 \
		field_change;                                                            \
		ferry_config_encode(&m, buf);                                            \
		CTX("%s", #field_change);                                                \
		EXPECT_ERR(ferry_config_decode(buf, sizeof(buf), &dec), FERRY_OK);       \
		EXPECT_ERR(ferry_config_unlock(&dec, &s, &k2), want);                    \
	} while (0)

	TRY((void)0, FERRY_OK);
	assert_keys_equal(&keys, &k2);
	TRY(m.store_id[5] ^= 1, FERRY_E_KEY);
	TRY(m.chunk_size *= 2, FERRY_E_KEY);
	TRY(m.level = 5, FERRY_E_KEY);
	TRY(m.created += 1, FERRY_E_KEY);
	TRY(m.salt[31] ^= 1, FERRY_E_KEY);
	TRY(m.wrap_nonce[0] ^= 1, FERRY_E_KEY);
	TRY(m.wrapped_key[0] ^= 1, FERRY_E_KEY);
	TRY(m.wrapped_key[FERRY_KEY_LEN + FERRY_TAG_LEN - 1] ^= 1, FERRY_E_KEY);
#undef TRY

	/* passphrase store: changing the salt or cost changes the derived key */
	assert_int_equal(ferry_config_create(&cfg, 1u << 20, 3, &pw, LOG2N, &keys), FERRY_OK);
	m = cfg;
	m.salt[0] ^= 1;
	assert_int_equal(ferry_config_unlock(&m, &pw, &k2), FERRY_E_KEY);
	m = cfg;
	m.scrypt_log2n = LOG2N + 1;
	assert_int_equal(ferry_config_unlock(&m, &pw, &k2), FERRY_E_KEY);
	m = cfg;
	m.scrypt_r = 4;
	assert_int_equal(ferry_config_unlock(&m, &pw, &k2), FERRY_E_KEY);
	assert_int_equal(ferry_config_unlock(&cfg, &pw, &k2), FERRY_OK);
	assert_keys_equal(&keys, &k2);
	ferry_keys_wipe(&k2);
	ferry_keys_wipe(&keys);
}

/* Field offsets and the key wrap, rebuilt independently from docs/FORMAT.md section 5. */
static void test_layout(void **state)
{
	uint8_t kf[FERRY_KEY_LEN], buf[FERRY_CONFIG_LEN], key[FERRY_KEY_LEN];
	struct ferry_secret s = { FERRY_KDF_KEYFILE, kf, sizeof(kf) };
	struct ferry_secret pw = passphrase(pass);
	struct ferry_store_config cfg;
	struct ferry_keys keys;

	(void)state;
	assert_int_equal(ferry_random(kf, sizeof(kf)), FERRY_OK);
	assert_int_equal(ferry_config_create(&cfg, 0x00123000u, 9, &s, 0, &keys), FERRY_OK);
	ferry_config_encode(&cfg, buf);
	assert_memory_equal(buf, "FRYS", 4);
	assert_int_equal(buf[4] | buf[5] << 8, 1);
	assert_int_equal(buf[6] | buf[7] << 8, FERRY_CFG_ENCRYPTED);
	assert_memory_equal(buf + 8, cfg.store_id, 16);
	assert_memory_equal(buf + 24, "\x00\x30\x12\x00", 4);
	assert_int_equal(buf[28], 9);
	assert_int_equal(buf[29], FERRY_KDF_KEYFILE);
	assert_int_equal(buf[30], 0);
	assert_int_equal(buf[31], 0);
	uint64_t created = 0;
	for (int i = 7; i >= 0; i--)
		created = created << 8 | buf[40 + i];
	assert_true(created == cfg.created);
	assert_memory_equal(buf + 48, cfg.salt, 32);
	assert_memory_equal(buf + 80, cfg.wrap_nonce, 12);
	assert_true(all_zero(buf + 140, 12));
	uint64_t h = XXH3_64bits(buf, 152), stored = 0;
	for (int i = 7; i >= 0; i--)
		stored = stored << 8 | buf[152 + i];
	assert_true(h == stored);
	/* key file: the KEK is the file's bytes; AAD is bytes 0..79 */
	assert_int_equal(ferry_gcm_open(kf, buf + 80, 12, buf, 80, buf + 92, 32, buf + 124, key), FERRY_OK);
	assert_memory_equal(key, keys.data_key, 32);
	ferry_keys_wipe(&keys);

	/* passphrase: the KEK is scrypt(passphrase, salt, 2^log2n, r, p) */
	assert_int_equal(ferry_config_create(&cfg, 1u << 20, 3, &pw, LOG2N, &keys), FERRY_OK);
	ferry_config_encode(&cfg, buf);
	assert_int_equal(buf[29], FERRY_KDF_SCRYPT);
	assert_int_equal(buf[30], LOG2N);
	assert_memory_equal(buf + 32, "\x08\x00\x00\x00\x01\x00\x00\x00", 8);
	uint8_t kek[32];
	assert_int_equal(ferry_scrypt(pass, strlen(pass), buf + 48, 32, 1u << LOG2N, 8, 1, kek, sizeof(kek)), FERRY_OK);
	assert_int_equal(ferry_gcm_open(kek, buf + 80, 12, buf, 80, buf + 92, 32, buf + 124, key), FERRY_OK);
	assert_memory_equal(key, keys.data_key, 32);
	ferry_keys_wipe(&keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passphrase_roundtrip),
		cmocka_unit_test(test_keyfile_roundtrip),
		cmocka_unit_test(test_plain_roundtrip),
		cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_decode_length_and_magic),
		cmocka_unit_test(test_decode_every_bit),
		cmocka_unit_test(test_decode_fields),
		cmocka_unit_test(test_unlock_binding),
		cmocka_unit_test(test_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
