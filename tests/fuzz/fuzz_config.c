/* libFuzzer target: the store config decoder (as given, and with its hash made right), re-encoding, unlock. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ferry/codec.h"
#include "fuzz_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* scrypt runs on fuzz input only when it is this cheap: N <= 2^10 and N * r * p <= 2^14 */
#define FUZZ_SCRYPT_LOG2N_MAX 10
#define FUZZ_SCRYPT_WORK_MAX (1ull << 14)

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
	abort();
}

static int all_zero_keys(const struct ferry_keys *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint8_t acc = 0;

	for (size_t i = 0; i < sizeof(*k); i++)
		acc |= p[i];
	return acc == 0;
}

static void unlock(const struct ferry_store_config *cfg, const struct ferry_secret *s)
{
	struct ferry_keys k;
	int err = ferry_config_unlock(cfg, s, &k);

	switch (err) {
	case FERRY_OK:
		if (memcmp(k.store_id, cfg->store_id, FERRY_ID_LEN) != 0)
			fail("unlocked keys name another store");
		if (k.encrypted != ((cfg->flags & FERRY_CFG_ENCRYPTED) != 0))
			fail("unlocked keys disagree with the config's encrypted flag");
		break;
	case FERRY_E_KEY:
	case FERRY_E_INVAL:
	case FERRY_E_CRYPTO: /* OpenSSL refuses some scrypt parameter sets the decoder allows */
		if (!all_zero_keys(&k))
			fail("failed unlock left key material behind");
		break;
	default: fail("unlock returned an unexpected error");
	}
	ferry_keys_wipe(&k);
}

static void config(const uint8_t *data, size_t size)
{
	struct ferry_store_config cfg;
	uint8_t again[FERRY_CONFIG_LEN];

	if (ferry_config_decode(data, size, &cfg) != FERRY_OK)
		return;
	/* every byte of a config that decodes is a field, a zero pad or the hash: it re-encodes exactly */
	ferry_config_encode(&cfg, again);
	if (size != FERRY_CONFIG_LEN || memcmp(again, data, FERRY_CONFIG_LEN) != 0)
		fail("decode then encode changed the bytes");

	static const struct ferry_secret keyfile = {FERRY_KDF_KEYFILE, (const uint8_t *)FUZZ_KEYFILE, FERRY_KEY_LEN};
	static const struct ferry_secret short_keyfile = {FERRY_KDF_KEYFILE, (const uint8_t *)FUZZ_KEYFILE,
							  FERRY_KEY_LEN - 1};
	static const struct ferry_secret pass = {FERRY_KDF_SCRYPT, (const uint8_t *)FUZZ_PASSPHRASE,
						 sizeof(FUZZ_PASSPHRASE) - 1};

	switch (cfg.kdf) {
	case FERRY_KDF_NONE: unlock(&cfg, NULL); break;
	case FERRY_KDF_KEYFILE:
		unlock(&cfg, &keyfile);
		unlock(&cfg, &short_keyfile); /* wrong length */
		unlock(&cfg, &pass); /* wrong kind: must not reach scrypt */
		break;
	case FERRY_KDF_SCRYPT:
		unlock(&cfg, &keyfile); /* wrong kind */
		if (cfg.scrypt_log2n <= FUZZ_SCRYPT_LOG2N_MAX &&
		    ((uint64_t)cfg.scrypt_r * cfg.scrypt_p << cfg.scrypt_log2n) <= FUZZ_SCRYPT_WORK_MAX)
			unlock(&cfg, &pass);
		break;
	default: fail("decoder let an unknown kdf through");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t fixed[FERRY_CONFIG_LEN];

	config(data, size);
	/*
	 * Again with the trailing xxh3-64 (bytes 152..159, little-endian, over bytes 0..151)
	 * made right, or nearly every mutation stops at FERRY_E_CHECKSUM.
	 */
	if (size == FERRY_CONFIG_LEN) {
		uint64_t h = XXH3_64bits(data, FERRY_CONFIG_LEN - 8);

		memcpy(fixed, data, FERRY_CONFIG_LEN - 8);
		for (int i = 0; i < 8; i++)
			fixed[FERRY_CONFIG_LEN - 8 + i] = (uint8_t)(h >> (8 * i));
		if (memcmp(fixed, data, FERRY_CONFIG_LEN) != 0)
			config(fixed, sizeof(fixed));
	}
	return 0;
}
