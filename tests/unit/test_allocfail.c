/*
 * Allocation-failure injection (issue 7): the codec and manifest code run with their
 * Nth allocation failing, for every N until a run needs no more. Every run must return
 * a clean error (FERRY_E_NOMEM) or succeed; none may crash, and under ASan none may leak
 * (LeakSanitizer checks at exit). The binary is linked with -Wl,--wrap for malloc,
 * calloc, realloc, strdup and the zstd/OpenSSL constructors the codec calls, so only
 * calls made from ferry's code (and this file, which uses __real_*) are counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "ferry/codec.h"
#include "ferry/manifest.h"

/* ---- the injector ---- */

static unsigned long calls;   /* allocations seen since arming */
static unsigned long fail_at; /* 0: never fail; else fail the fail_at-th call */
static int injected;          /* the failure happened in this run */

static int should_fail(void)
{
	if (!fail_at)
		return 0;
	if (++calls == fail_at) {
		injected = 1;
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
ZSTD_CCtx *__wrap_ZSTD_createCCtx(void);
ZSTD_DCtx *__wrap_ZSTD_createDCtx(void);
EVP_CIPHER_CTX *__wrap_EVP_CIPHER_CTX_new(void);
EVP_KDF_CTX *__wrap_EVP_KDF_CTX_new(EVP_KDF *kdf);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
ZSTD_CCtx *__real_ZSTD_createCCtx(void);
ZSTD_DCtx *__real_ZSTD_createDCtx(void);
EVP_CIPHER_CTX *__real_EVP_CIPHER_CTX_new(void);
EVP_KDF_CTX *__real_EVP_KDF_CTX_new(EVP_KDF *kdf);

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return should_fail() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
ZSTD_CCtx *__wrap_ZSTD_createCCtx(void) { return should_fail() ? NULL : __real_ZSTD_createCCtx(); }
ZSTD_DCtx *__wrap_ZSTD_createDCtx(void) { return should_fail() ? NULL : __real_ZSTD_createDCtx(); }
EVP_CIPHER_CTX *__wrap_EVP_CIPHER_CTX_new(void) { return should_fail() ? NULL : __real_EVP_CIPHER_CTX_new(); }
EVP_KDF_CTX *__wrap_EVP_KDF_CTX_new(EVP_KDF *k) { return should_fail() ? NULL : __real_EVP_KDF_CTX_new(k); }

typedef int (*scenario_fn)(void);

static unsigned long total_runs, total_failures;

/*
 * Runs fn with the 1st, 2nd, ... allocation failing until a run sees fewer allocations
 * than the one failed (it then succeeded untouched). Returns how many were injected.
 */
static unsigned long every_n(const char *name, scenario_fn fn)
{
	unsigned long n;

	for (n = 1; n < 100000; n++) {
		calls = 0;
		injected = 0;
		fail_at = n;
		int err = fn();
		fail_at = 0;
		total_runs++;
		if (!injected) {
			if (err)
				fail_msg("%s: error %d with no allocation failed", name, err);
			break;
		}
		total_failures++;
		if (err != FERRY_E_NOMEM && err != FERRY_E_CRYPTO && err != FERRY_E_COMPRESS)
			fail_msg("%s: allocation %lu failed: got error %d (%s), wanted a clean out-of-memory", name, n, err,
				 err ? ferry_strerror(err) : "success");
	}
	print_message("%s: %lu allocations failed one at a time, each a clean error\n", name, n - 1);
	return n - 1;
}

/* ---- scenarios: each frees everything it made, success or not ---- */

struct sink {
	uint8_t *p;
	size_t len, cap;
};

static int collect(void *arg, uint32_t index, const void *plain, size_t len)
{
	struct sink *s = arg;
	(void)index;
	if (s->len + len > s->cap)
		return FERRY_E_TOOBIG;
	memcpy(s->p + s->len, plain, len);
	s->len += len;
	return 0;
}

static uint8_t data[200000];
#define CHUNK (64u * 1024)

static int object_round_trip(int encrypted, int level)
{
	struct ferry_keys keys;
	struct ferry_codec *c = NULL;
	struct ferry_objbuf ob = { NULL, 0 };
	struct sink s = { __real_malloc(sizeof(data)), 0, sizeof(data) };
	int err;

	memset(&keys, 0, sizeof(keys));
	keys.encrypted = encrypted;
	memset(keys.data_key, 0x5a, sizeof(keys.data_key));
	memset(keys.store_id, 0x11, sizeof(keys.store_id));
	err = ferry_codec_create(&c, &keys, level, CHUNK);
	if (!err)
		err = ferry_object_encode_mem(c, encrypted, data, sizeof(data), CHUNK, &ob, NULL);
	if (!err)
		err = ferry_object_decode_mem(c, ob.data, ob.len, collect, &s, NULL);
	if (!err && (s.len != sizeof(data) || memcmp(s.p, data, sizeof(data)) != 0))
		err = FERRY_E_CHECKSUM;
	ferry_objbuf_free(&ob);
	ferry_codec_destroy(c);
	free(s.p);
	return err;
}

static int plain_level0(void) { return object_round_trip(0, 0); }
static int plain_level3(void) { return object_round_trip(0, 3); }
static int encrypted_level3(void) { return object_round_trip(1, 3); }

static int frames_and_filehash(void)
{
	struct ferry_codec *c = NULL;
	struct ferry_object_hdr h;
	struct ferry_filehash *fh = ferry_filehash_create();
	size_t cap = ferry_frame_bound(CHUNK), n = 0, m = 0;
	uint8_t *frame = __real_malloc(cap), *plain = __real_malloc(CHUNK);
	int err = fh ? FERRY_OK : FERRY_E_NOMEM;

	memset(&h, 0, sizeof(h));
	h.object_id[0] = 7;
	if (!err)
		err = ferry_codec_create(&c, NULL, 5, CHUNK);
	if (!err)
		err = ferry_frame_encode(c, &h, 0, 1, data, CHUNK, frame, cap, &n, fh);
	if (!err)
		err = ferry_frame_decode(c, &h, 0, 1, frame, n, plain, CHUNK, &m);
	if (!err && (m != CHUNK || memcmp(plain, data, CHUNK)))
		err = FERRY_E_CHECKSUM;
	ferry_codec_destroy(c);
	ferry_filehash_destroy(fh);
	free(frame);
	free(plain);
	return err;
}

static int manifest_round_trip(void)
{
	struct ferry_manifest m, back;
	uint8_t *buf = NULL;
	size_t len = 0;
	char path[64], target[64];
	int err = FERRY_OK;

	ferry_manifest_init(&m);
	ferry_manifest_init(&back);
	for (int i = 0; i < 40 && !err; i++) {
		struct ferry_entry e;
		memset(&e, 0, sizeof(e));
		snprintf(path, sizeof(path), "dir/file-%03d", i);
		snprintf(target, sizeof(target), "target-%d", i);
		e.type = i % 5 == 4 ? FERRY_ENTRY_SYMLINK : FERRY_ENTRY_FILE;
		e.mode = e.type == FERRY_ENTRY_SYMLINK ? 0777 : 0644;
		e.path = path;
		e.target = e.type == FERRY_ENTRY_SYMLINK ? target : NULL;
		e.size = e.type == FERRY_ENTRY_FILE ? (uint64_t)i * 100 : 0;
		e.chunk_count = e.size ? 1 : 0;
		err = ferry_manifest_add(&m, &e);
	}
	if (!err)
		err = ferry_manifest_encode(&m, &buf, &len);
	if (!err)
		err = ferry_manifest_decode(buf, len, &back);
	if (!err && (back.count != m.count || strcmp(back.entries[39].path, m.entries[39].path)))
		err = FERRY_E_FORMAT;
	free(buf);
	ferry_manifest_free(&m);
	ferry_manifest_free(&back);
	return err;
}

static int config_keyfile(void)
{
	struct ferry_store_config cfg, back;
	struct ferry_keys keys, keys2;
	uint8_t key[32], enc[FERRY_CONFIG_LEN];
	struct ferry_secret sec = { FERRY_KDF_KEYFILE, key, sizeof(key) };
	int err;

	memset(key, 0x42, sizeof(key));
	err = ferry_config_create(&cfg, CHUNK, 3, &sec, 0, &keys);
	if (!err) {
		ferry_config_encode(&cfg, enc);
		err = ferry_config_decode(enc, sizeof(enc), &back);
	}
	if (!err)
		err = ferry_config_unlock(&back, &sec, &keys2);
	if (!err && memcmp(keys.data_key, keys2.data_key, sizeof(keys.data_key)))
		err = FERRY_E_KEY;
	if (!err)
		ferry_keys_wipe(&keys2);
	ferry_keys_wipe(&keys);
	return err;
}

static int config_passphrase(void)
{
	struct ferry_store_config cfg;
	struct ferry_keys keys, keys2;
	struct ferry_secret sec = { FERRY_KDF_SCRYPT, (const uint8_t *)"pass phrase", 11 };
	int err = ferry_config_create(&cfg, CHUNK, 3, &sec, 10, &keys);

	if (!err) {
		err = ferry_config_unlock(&cfg, &sec, &keys2);
		ferry_keys_wipe(&keys);
		if (!err)
			ferry_keys_wipe(&keys2);
	}
	return err;
}

static void test_codec(void **state)
{
	(void)state;
	assert_true(every_n("object plain level 0", plain_level0) >= 3);
	assert_true(every_n("object plain level 3", plain_level3) >= 4);
	assert_true(every_n("object encrypted level 3", encrypted_level3) >= 5);
	assert_true(every_n("frame and file hash", frames_and_filehash) >= 3);
}

static void test_manifest(void **state)
{
	(void)state;
	assert_true(every_n("manifest encode/decode", manifest_round_trip) >= 40);
}

static void test_config(void **state)
{
	(void)state;
	every_n("config with a key file", config_keyfile);
	every_n("config with a passphrase (scrypt)", config_passphrase);
}

static void test_summary(void **state)
{
	(void)state;
	print_message("%lu runs, %lu with one allocation failed\n", total_runs, total_failures);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13) % 7 == 0 ? (uint8_t)i : 'a'; /* compressible, not trivial */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
