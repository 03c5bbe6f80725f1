/*
 * Golden stores: every version of ferry must read tests/golden/v1-*. Two readers are
 * checked: ferry's own (ferry_store_open + ferry_pull), and an independent one written
 * here from docs/FORMAT.md's offsets, using zstd, OpenSSL and xxHash directly.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#include <zstd.h>

#include "ferry/manifest.h"
#include "ferry/store.h"

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must point at tests/golden"
#endif

static const char *golden_files[] = { "hello.txt", "text.txt", "random.bin", "empty", "dir/sub/nested.txt" };
#define NFILES (sizeof(golden_files) / sizeof(golden_files[0]))

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint8_t *slurp_at(const char *store, const char *rel, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s/%s", GOLDEN_DIR, store, rel);
	return slurp(path, len);
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void keyfile(uint8_t key[32])
{
	size_t n;
	char path[4096];
	snprintf(path, sizeof(path), "%s/keyfile.hex", GOLDEN_DIR);
	uint8_t *hex = slurp(path, &n);
	assert_true(n >= 64);
	for (int i = 0; i < 32; i++) {
		unsigned v;
		assert_int_equal(sscanf((char *)hex + 2 * i, "%2x", &v), 1);
		key[i] = (uint8_t)v;
	}
	free(hex);
}

/* What the spec reader knows about a store after reading its config (FORMAT.md §5). */
struct spec_store {
	const char *name;
	uint8_t store_id[16];
	int encrypted;
	uint8_t data_key[32];
	uint64_t seed;
};

static void spec_open(struct spec_store *s, const char *name, const uint8_t *secret, size_t secret_len)
{
	size_t n;
	uint8_t *c = slurp_at(name, "config", &n);

	memset(s, 0, sizeof(*s));
	s->name = name;
	assert_int_equal(n, 160);
	assert_memory_equal(c, "FRYS", 4);
	assert_int_equal(le(c + 4, 2), 1);
	assert_int_equal(le(c + 152, 8), XXH3_64bits(c, 152));
	memcpy(s->store_id, c + 8, 16);
	assert_int_equal(le(c + 24, 4), 4096); /* golden stores were made with --chunk-size 4K */
	s->encrypted = le(c + 6, 2) & 1;
	if (s->encrypted) {
		uint8_t kek[32];
		int kdf = c[29], outl;

		if (kdf == 2) {
			assert_int_equal(secret_len, 32);
			memcpy(kek, secret, 32);
		} else {
			assert_int_equal(kdf, 1);
			EVP_KDF *k = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
			EVP_KDF_CTX *kc = EVP_KDF_CTX_new(k);
			uint64_t N = 1ull << c[30];
			uint32_t r = (uint32_t)le(c + 32, 4), p = (uint32_t)le(c + 36, 4);
			OSSL_PARAM params[] = {
				OSSL_PARAM_construct_octet_string("pass", (void *)secret, secret_len),
				OSSL_PARAM_construct_octet_string("salt", c + 48, 32),
				OSSL_PARAM_construct_uint64("n", &N),
				OSSL_PARAM_construct_uint32("r", &r),
				OSSL_PARAM_construct_uint32("p", &p),
				OSSL_PARAM_construct_end(),
			};
			assert_int_equal(EVP_KDF_derive(kc, kek, 32, params), 1);
			EVP_KDF_CTX_free(kc);
			EVP_KDF_free(k);
		}
		EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
		assert_int_equal(EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, kek, c + 80), 1);
		assert_int_equal(EVP_DecryptUpdate(x, NULL, &outl, c, 80), 1);
		assert_int_equal(EVP_DecryptUpdate(x, s->data_key, &outl, c + 92, 32), 1);
		assert_int_equal(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, c + 124), 1);
		assert_int_equal(EVP_DecryptFinal_ex(x, s->data_key + 32, &outl), 1);
		EVP_CIPHER_CTX_free(x);
		uint8_t mac[32];
		unsigned ml;
		HMAC(EVP_sha256(), s->data_key, 32, (const uint8_t *)"ferry xxh3 seed v1", 18, mac, &ml);
		s->seed = le(mac, 8);
	}
	free(c);
}

/* Decodes a whole object by FORMAT.md §3-4; returns its plaintext, and where each chunk starts in it. */
static uint8_t *spec_object(struct spec_store *s, const uint8_t *o, size_t size, size_t *plain_len,
			    uint64_t **chunk_starts)
{
	assert_true(size >= 72);
	assert_memory_equal(o, "FRYO", 4);
	assert_int_equal(o[4], 1);
	assert_int_equal(o[5], s->encrypted ? 2 : 0);
	const uint8_t *f = o + size - 40;
	assert_memory_equal(f + 36, "FRYF", 4);
	assert_int_equal(f[28], 1);
	uint64_t index_off = le(f, 8), total = le(f + 8, 8);
	uint32_t count = (uint32_t)le(f + 24, 4);
	assert_int_equal(index_off, size - 40 - 16ull * count);
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, o, 32);
	XXH3_64bits_update(&st, o + index_off, 16ull * count);
	assert_int_equal(XXH3_64bits_digest(&st), le(f + 16, 8));

	uint8_t *out = malloc(total + 1);
	size_t pos = 0;
	uint64_t expect_off = 32;
	assert_non_null(out);
	if (chunk_starts) {
		*chunk_starts = calloc(count + 1, sizeof(uint64_t));
		assert_non_null(*chunk_starts);
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *ie = o + index_off + 16ull * i;
		uint64_t off = le(ie, 8);
		uint32_t flen = (uint32_t)le(ie + 8, 4), plen = (uint32_t)le(ie + 12, 4);
		const uint8_t *h = o + off;
		int last = i + 1 == count;

		if (chunk_starts)
			(*chunk_starts)[i] = pos;
		assert_int_equal(off, expect_off);
		expect_off += flen;
		assert_memory_equal(h, "FRYC", 4);
		assert_int_equal(h[4], 1);
		assert_int_equal(le(h + 8, 4), i);
		assert_int_equal(le(h + 12, 4), plen);
		assert_int_equal(!!(h[5] & 4), last);
		assert_int_equal(le(h + 24, 8), le(o + 8, 8)); /* object tag = first 8 id bytes */
		uint32_t stored = (uint32_t)le(h + 16, 4);
		assert_int_equal(flen, 40 + stored);
		const uint8_t *payload = h + 40;
		uint32_t payload_len = stored;
		uint8_t *clear = NULL;
		if (h[5] & 2) {
			uint8_t nonce[12], aad[80];
			int outl;
			memcpy(nonce, o + 24, 7);
			nonce[7] = (uint8_t)(i >> 24);
			nonce[8] = (uint8_t)(i >> 16);
			nonce[9] = (uint8_t)(i >> 8);
			nonce[10] = (uint8_t)i;
			nonce[11] = (uint8_t)last;
			memcpy(aad, s->store_id, 16);
			memcpy(aad + 16, o + 8, 16);
			for (int b = 0; b < 8; b++)
				aad[32 + b] = (uint8_t)((uint64_t)i >> (8 * b));
			memcpy(aad + 40, h, 40);
			payload_len = stored - 16;
			clear = malloc(payload_len + 1);
			EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
			assert_int_equal(EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, s->data_key, nonce), 1);
			assert_int_equal(EVP_DecryptUpdate(x, NULL, &outl, aad, 80), 1);
			assert_int_equal(EVP_DecryptUpdate(x, clear, &outl, payload, (int)payload_len), 1);
			assert_int_equal(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(payload + payload_len)), 1);
			assert_int_equal(EVP_DecryptFinal_ex(x, clear + payload_len, &outl), 1);
			EVP_CIPHER_CTX_free(x);
			payload = clear;
		}
		if (h[5] & 1) {
			assert_true(payload_len < plen);
			assert_int_equal(ZSTD_decompress(out + pos, plen, payload, payload_len), plen);
		} else {
			assert_int_equal(payload_len, plen);
			memcpy(out + pos, payload, plen);
		}
		free(clear);
		assert_int_equal(XXH3_64bits_withSeed(out + pos, plen, s->seed), le(h + 32, 8));
		pos += plen;
	}
	assert_int_equal(expect_off, index_off);
	assert_int_equal(pos, total);
	*plain_len = pos;
	return out;
}

static char *only_snapshot(const char *store)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	char *name = NULL;

	snprintf(path, sizeof(path), "%s/%s/snapshots", GOLDEN_DIR, store);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			assert_null(name);
			name = strdup(de->d_name);
		}
	closedir(d);
	assert_non_null(name);
	return name;
}

/* Reads the snapshot and every file through the spec, comparing with tests/golden/source. */
static void spec_check(const char *name, const uint8_t *secret, size_t secret_len)
{
	struct spec_store s;
	char rel[256];
	size_t n, mlen;
	int seen_files = 0, seen_link = 0;

	spec_open(&s, name, secret, secret_len);
	char *snap = only_snapshot(name);
	snprintf(rel, sizeof(rel), "snapshots/%s", snap);
	free(snap);
	uint8_t *mo = slurp_at(name, rel, &n);
	uint8_t *m = spec_object(&s, mo, n, &mlen, NULL);
	free(mo);
	assert_memory_equal(m, "FRYM", 4);
	assert_int_equal(le(m + 4, 4), 1);
	assert_int_equal(le(m + 16, 8), 0);
	assert_true(mlen >= 40);
	const uint8_t *trailer = m + mlen - 16;
	assert_memory_equal(trailer + 12, "FRYE", 4);
	uint64_t count = le(trailer, 8);
	const uint8_t *p = m + 24;
	for (uint64_t i = 0; i < count; i++) {
		uint16_t pl = (uint16_t)le(p + 2, 2), tl = (uint16_t)le(p + 80, 2);
		char path[4096], src[8192];
		memcpy(path, p + 84, pl);
		path[pl] = 0;
		if (p[0] == 1) {
			size_t want_len, got_len = 0;
			snprintf(src, sizeof(src), "%s/source/%s", GOLDEN_DIR, path);
			uint8_t *want = slurp(src, &want_len);
			uint8_t *got = NULL;
			assert_int_equal(le(p + 24, 8), want_len);
			if (le(p + 68, 4) > 0) {
				char hx[33], orel[64];
				for (int b = 0; b < 16; b++)
					sprintf(hx + 2 * b, "%02x", p[48 + b]);
				snprintf(orel, sizeof(orel), "data/%.2s/%s", hx, hx);
				size_t osz, olen;
				uint64_t *starts;
				uint8_t *obj = slurp_at(name, orel, &osz);
				assert_int_equal(osz, le(p + 72, 8));
				uint8_t *plain = spec_object(&s, obj, osz, &olen, &starts);
				free(obj);
				/* the file: from chunk_offset into chunk first_chunk, size bytes */
				uint64_t start = starts[le(p + 64, 4)] + le(p + 20, 4);
				assert_true(start + want_len <= olen);
				got = malloc(want_len + 1);
				memcpy(got, plain + start, want_len);
				got_len = want_len;
				free(starts);
				free(plain);
			}
			assert_int_equal(got_len, want_len);
			if (want_len)
				assert_memory_equal(got, want, want_len);
			/* xxh128, big-endian high then low (canonical form) */
			XXH128_canonical_t canon;
			XXH128_canonicalFromHash(&canon, XXH3_128bits(want, want_len));
			assert_memory_equal(p + 32, canon.digest, 16);
			free(got);
			free(want);
			seen_files++;
		} else if (p[0] == 3) {
			assert_int_equal(tl, 9);
			assert_memory_equal(p + 84 + pl, "hello.txt", 9);
			seen_link++;
		}
		p += 84 + pl + tl;
	}
	assert_ptr_equal(p, trailer);
	assert_int_equal(seen_files, NFILES);
	assert_int_equal(seen_link, 1);
	free(m);
}

static void test_spec_plain(void **state)
{
	(void)state;
	spec_check("v1-plain", NULL, 0);
}

static void test_spec_keyfile(void **state)
{
	uint8_t key[32];
	(void)state;
	keyfile(key);
	spec_check("v1-keyfile", key, 32);
}

static void test_spec_passphrase(void **state)
{
	static const char pass[] = "ferry golden passphrase";
	(void)state;
	spec_check("v1-passphrase", (const uint8_t *)pass, sizeof(pass) - 1);
}

/* ferry's own reader restores each golden store byte for byte. */
static void pull_check(const char *name, const struct ferry_secret *secret)
{
	char store[4096], dst[] = "/tmp/ferry-golden-XXXXXX", msg[512];
	struct ferry_store *s;
	struct ferry_run r = { 0 };

	snprintf(store, sizeof(store), "%s/%s", GOLDEN_DIR, name);
	assert_non_null(mkdtemp(dst));
	assert_int_equal(ferry_store_open(&s, store, secret, msg, sizeof(msg)), FERRY_OK);
	assert_int_equal(ferry_pull(s, NULL, dst, NULL, &r), FERRY_OK);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.files_transferred, NFILES);
	struct ferry_run v = { 0 };
	assert_int_equal(ferry_verify(s, 1, &v), FERRY_OK);
	assert_int_equal(v.errors, 0);
	ferry_store_close(s);
	for (size_t i = 0; i < NFILES; i++) {
		char a[4096], b[4096];
		size_t na, nb;
		snprintf(a, sizeof(a), "%s/source/%s", GOLDEN_DIR, golden_files[i]);
		snprintf(b, sizeof(b), "%s/%s", dst, golden_files[i]);
		uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
		assert_int_equal(na, nb);
		if (na)
			assert_memory_equal(x, y, na);
		free(x);
		free(y);
	}
	char link[64], cmd[4200];
	snprintf(cmd, sizeof(cmd), "%s/link", dst);
	ssize_t ln = readlink(cmd, link, sizeof(link));
	assert_int_equal(ln, 9);
	assert_memory_equal(link, "hello.txt", 9);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dst);
	assert_int_equal(system(cmd), 0);
}

static void test_pull_plain(void **state)
{
	(void)state;
	pull_check("v1-plain", NULL);
}

static void test_pull_keyfile(void **state)
{
	uint8_t key[32];
	struct ferry_secret s = { FERRY_KDF_KEYFILE, key, 32 };
	(void)state;
	keyfile(key);
	pull_check("v1-keyfile", &s);
}

static void test_pull_passphrase(void **state)
{
	static const char pass[] = "ferry golden passphrase";
	struct ferry_secret s = { FERRY_KDF_SCRYPT, (const uint8_t *)pass, sizeof(pass) - 1 };
	(void)state;
	pull_check("v1-passphrase", &s);
}

/* The public entry iterator gives every entry of the golden snapshot, in walk order, with
 * the source's types, sizes and the symlink's target; then the end, and stays there. */
static void entries_check(const char *name, const struct ferry_secret *secret)
{
	static const struct {
		const char *path;
		int type;
	} want[] = {
		{ "dir", FERRY_ENTRY_DIR },
		{ "dir/sub", FERRY_ENTRY_DIR },
		{ "dir/sub/nested.txt", FERRY_ENTRY_FILE },
		{ "empty", FERRY_ENTRY_FILE },
		{ "hello.txt", FERRY_ENTRY_FILE },
		{ "link", FERRY_ENTRY_SYMLINK },
		{ "random.bin", FERRY_ENTRY_FILE },
		{ "text.txt", FERRY_ENTRY_FILE },
	};
	char store[4096], msg[512];
	struct ferry_store *s;
	struct ferry_snapshot_iter *it;
	const struct ferry_entry *e;
	size_t n = 0;
	int ret;

	snprintf(store, sizeof(store), "%s/%s", GOLDEN_DIR, name);
	assert_int_equal(ferry_store_open(&s, store, secret, msg, sizeof(msg)), FERRY_OK);
	assert_int_equal(ferry_snapshot_entries_open(s, NULL, &it, msg, sizeof(msg)), FERRY_OK);
	while ((ret = ferry_snapshot_entries_next(it, &e, msg, sizeof(msg))) > 0) {
		char src[4200];
		struct stat st;
		assert_true(n < sizeof(want) / sizeof(want[0]));
		assert_string_equal(e->path, want[n].path);
		assert_int_equal(e->type, want[n].type);
		snprintf(src, sizeof(src), "%s/source/%s", GOLDEN_DIR, e->path);
		assert_int_equal(lstat(src, &st), 0);
		if (e->type == FERRY_ENTRY_FILE)
			assert_int_equal(e->size, (uint64_t)st.st_size);
		if (e->type == FERRY_ENTRY_SYMLINK)
			assert_string_equal(e->target, "hello.txt");
		else
			assert_null(e->target);
		n++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	assert_int_equal(ferry_snapshot_entries_next(it, &e, msg, sizeof(msg)), 0);
	assert_null(e);
	/* the latest was asked for: the one snapshot there is */
	char key[4200];
	snprintf(key, sizeof(key), "%s/snapshots/%s", store, ferry_snapshot_entries_name(it));
	assert_int_equal(access(key, F_OK), 0);
	ferry_snapshot_entries_close(it);
	/* a snapshot that is not there is named as such */
	it = (struct ferry_snapshot_iter *)1;
	assert_int_equal(ferry_snapshot_entries_open(s, "20000101T000000Z-none", &it, msg, sizeof(msg)),
			 FERRY_E_NOTFOUND);
	assert_null(it);
	assert_non_null(strstr(msg, "no such snapshot"));
	ferry_snapshot_entries_close(NULL);
	ferry_store_close(s);
}

static void test_entries_plain(void **state)
{
	(void)state;
	entries_check("v1-plain", NULL);
}

static void test_entries_keyfile(void **state)
{
	uint8_t key[32];
	struct ferry_secret s = { FERRY_KDF_KEYFILE, key, 32 };
	(void)state;
	keyfile(key);
	entries_check("v1-keyfile", &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_plain),   cmocka_unit_test(test_spec_keyfile),
		cmocka_unit_test(test_spec_passphrase), cmocka_unit_test(test_pull_plain),
		cmocka_unit_test(test_pull_keyfile), cmocka_unit_test(test_pull_passphrase),
		cmocka_unit_test(test_entries_plain), cmocka_unit_test(test_entries_keyfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
