/* Known-answer tests: AES-256-GCM (GCM spec test cases 13-16) and scrypt (RFC 7914 section 12). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/codec.h"

/*
 * McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B, the
 * 256-bit key cases with 96-bit IVs. Cross-checked against GNU Nettle's
 * testsuite/gcm-test.c and Google Tink's AES-GCM NIST vectors.
 */
struct gcm_vector {
	const char *name, *key, *iv, *aad, *pt, *ct, *tag;
};

static const struct gcm_vector gcm_vectors[] = {
	{
		"test case 13",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"000000000000000000000000",
		"",
		"",
		"",
		"530f8afbc74536b9a963b4f1c4cb738b",
	},
	{
		"test case 14",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"000000000000000000000000",
		"",
		"00000000000000000000000000000000",
		"cea7403d4d606b6e074ec5d3baf39d18",
		"d0d1c8a799996bf0265b98b5d48ab919",
	},
	{
		"test case 15",
		"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		"cafebabefacedbaddecaf888",
		"",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
		"b094dac5d93471bdec1a502270e3cc6c",
	},
	{
		"test case 16",
		"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		"cafebabefacedbaddecaf888",
		"feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		"76fc6ece0f4e1768cddf8853bb2d551b",
	},
};

/* Decodes hex into out (capacity cap); returns the byte count. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	assert_int_equal(strlen(s) % 2, 0);
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void test_gcm_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(gcm_vectors) / sizeof(gcm_vectors[0]); i++) {
		const struct gcm_vector *v = &gcm_vectors[i];
		uint8_t key[32], iv[12], aad[64], pt[64], ct[64], tag[16];
		uint8_t out[64], back[64], otag[16], bad[16];
		size_t klen, ivlen, alen, plen, clen;

		print_message("GCM %s\n", v->name);
		klen = unhex(v->key, key, sizeof(key));
		ivlen = unhex(v->iv, iv, sizeof(iv));
		alen = unhex(v->aad, aad, sizeof(aad));
		plen = unhex(v->pt, pt, sizeof(pt));
		clen = unhex(v->ct, ct, sizeof(ct));
		assert_int_equal(unhex(v->tag, tag, sizeof(tag)), 16);
		assert_int_equal(klen, 32);
		assert_int_equal(plen, clen);

		/* seal gives the published ciphertext and tag */
		memset(out, 0, sizeof(out));
		assert_int_equal(ferry_gcm_seal(key, iv, ivlen, aad, alen, pt, plen, out, otag), FERRY_OK);
		assert_memory_equal(out, ct, clen);
		assert_memory_equal(otag, tag, 16);

		/* open gives the plaintext back */
		memset(back, 0xAA, sizeof(back));
		assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen, ct, clen, tag, back), FERRY_OK);
		assert_memory_equal(back, pt, plen);

		/* any changed tag bit is refused, and no plaintext is released */
		for (int b = 0; b < 128; b++) {
			memcpy(bad, tag, 16);
			bad[b / 8] ^= (uint8_t)(1u << (b % 8));
			memset(back, 0xAA, sizeof(back));
			assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen, ct, clen, bad, back), FERRY_E_AUTH);
			if (!is_zero(pt, plen))
				assert_memory_not_equal(back, pt, plen);
		}
		/* so is a changed ciphertext, AAD, IV or key */
		if (clen) {
			memcpy(out, ct, clen);
			out[clen - 1] ^= 0x01;
			assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen, out, clen, tag, back), FERRY_E_AUTH);
		}
		if (alen) {
			aad[0] ^= 0x80;
			assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen, ct, clen, tag, back), FERRY_E_AUTH);
			aad[0] ^= 0x80;
			assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen - 1, ct, clen, tag, back),
					 FERRY_E_AUTH);
		}
		iv[11] ^= 0x01;
		assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen, ct, clen, tag, back), FERRY_E_AUTH);
		iv[11] ^= 0x01;
		key[0] ^= 0x01;
		assert_int_equal(ferry_gcm_open(key, iv, ivlen, aad, alen, ct, clen, tag, back), FERRY_E_AUTH);
	}
}

static void test_gcm_args(void **state)
{
	uint8_t key[32] = { 0 }, iv[12] = { 0 }, buf[16] = { 0 }, tag[16];

	(void)state;
	assert_int_equal(ferry_gcm_seal(key, iv, 0, NULL, 0, buf, sizeof(buf), buf, tag), FERRY_E_INVAL);
	assert_int_equal(ferry_gcm_open(key, iv, 0, NULL, 0, buf, sizeof(buf), tag, buf), FERRY_E_INVAL);
	/* sealing and opening in place work */
	uint8_t data[16] = "sixteen bytes!!";
	uint8_t copy[16];
	memcpy(copy, data, sizeof(data));
	assert_int_equal(ferry_gcm_seal(key, iv, 12, NULL, 0, data, sizeof(data), data, tag), FERRY_OK);
	assert_memory_not_equal(data, copy, sizeof(data));
	assert_int_equal(ferry_gcm_open(key, iv, 12, NULL, 0, data, sizeof(data), tag, data), FERRY_OK);
	assert_memory_equal(data, copy, sizeof(data));
}

/*
 * RFC 7914 section 12. Cross-checked against the Ruby OpenSSL test suite and
 * other independent copies of the RFC's vectors.
 */
struct scrypt_vector {
	const char *pass, *salt;
	uint64_t n;
	uint32_t r, p;
	const char *dk;
};

static const struct scrypt_vector scrypt_vectors[] = {
	{ "", "", 16, 1, 1,
	  "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
	  "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906" },
	{ "password", "NaCl", 1024, 8, 16,
	  "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
	  "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640" },
	{ "pleaseletmein", "SodiumChloride", 16384, 8, 1,
	  "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
	  "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887" },
};

static void test_scrypt_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scrypt_vectors) / sizeof(scrypt_vectors[0]); i++) {
		const struct scrypt_vector *v = &scrypt_vectors[i];
		uint8_t want[64], got[64];

		print_message("scrypt(\"%s\", \"%s\", N=%llu, r=%u, p=%u)\n", v->pass, v->salt,
			      (unsigned long long)v->n, v->r, v->p);
		assert_int_equal(unhex(v->dk, want, sizeof(want)), 64);
		memset(got, 0, sizeof(got));
		assert_int_equal(ferry_scrypt(v->pass, strlen(v->pass), v->salt, strlen(v->salt), v->n, v->r, v->p, got,
					      sizeof(got)),
				 FERRY_OK);
		assert_memory_equal(got, want, 64);
		/* a shorter output is a prefix of the longer one (PBKDF2 output) */
		memset(got, 0, sizeof(got));
		assert_int_equal(ferry_scrypt(v->pass, strlen(v->pass), v->salt, strlen(v->salt), v->n, v->r, v->p, got,
					      32),
				 FERRY_OK);
		assert_memory_equal(got, want, 32);
	}
}

static void test_scrypt_args(void **state)
{
	uint8_t out[32];

	(void)state;
	/* N must be a power of two above 1 */
	assert_int_not_equal(ferry_scrypt("p", 1, "s", 1, 1000, 1, 1, out, sizeof(out)), FERRY_OK);
	assert_int_not_equal(ferry_scrypt("p", 1, "s", 1, 1, 1, 1, out, sizeof(out)), FERRY_OK);
	/* NULL with length 0 is an empty password or salt, as in RFC vector 1 */
	uint8_t a[64], b[64];
	assert_int_equal(ferry_scrypt(NULL, 0, NULL, 0, 16, 1, 1, a, sizeof(a)), FERRY_OK);
	assert_int_equal(ferry_scrypt("", 0, "", 0, 16, 1, 1, b, sizeof(b)), FERRY_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(unhex(scrypt_vectors[0].dk, b, sizeof(b)), 64);
	assert_memory_equal(a, b, sizeof(a));
}

static void test_random(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };

	(void)state;
	assert_int_equal(ferry_random(a, sizeof(a)), FERRY_OK);
	assert_int_equal(ferry_random(b, sizeof(b)), FERRY_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(ferry_random(a, 0), FERRY_OK);
}

static void test_keys_wipe(void **state)
{
	struct ferry_keys k, zero;

	(void)state;
	memset(&k, 0x5A, sizeof(k));
	memset(&zero, 0, sizeof(zero));
	ferry_keys_wipe(&k);
	assert_memory_equal(&k, &zero, sizeof(k));
	ferry_keys_wipe(NULL);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = FERRY_OK; e <= FERRY_E_UNSUPPORTED + 2; e++) {
		const char *s = ferry_strerror(e);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
	assert_non_null(ferry_strerror(-1));
	/* distinct codes have distinct names */
	for (int a = FERRY_OK; a <= FERRY_E_UNSUPPORTED; a++)
		for (int b = a + 1; b <= FERRY_E_UNSUPPORTED; b++)
			assert_string_not_equal(ferry_strerror(a), ferry_strerror(b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_vectors),
		cmocka_unit_test(test_gcm_args),
		cmocka_unit_test(test_scrypt_vectors),
		cmocka_unit_test(test_scrypt_args),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_keys_wipe),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
