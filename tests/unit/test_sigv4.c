/* SigV4 signer against AWS's published known-answer suite (tests/unit/sigv4), and S3 key encoding. */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "s3_sign.h"

#ifndef SIGV4_DIR
#error "SIGV4_DIR must point at tests/unit/sigv4"
#endif

static char *slurp(const char *dir, const char *name, const char *ext)
{
	char path[1024];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s/%s.%s", SIGV4_DIR, dir, name, ext);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Parses a .req file and signs it the way the suite expects; compares all three outputs. */
static void check_case(const char *name)
{
	char *req = slurp(name, name, "req"), *creq = slurp(name, name, "creq"), *sts = slurp(name, name, "sts"),
	     *authz = slurp(name, name, "authz");
	struct s3_header hs[32];
	size_t nh = 0;
	char *line, *save = NULL, *body = "", *method, *target, *path, *query = "";
	char hash[65], *enc;
	struct s3_signed out;

	assert_non_null(req);
	assert_non_null(creq);
	assert_non_null(sts);
	assert_non_null(authz);
	/* the body follows the first empty line */
	char *blank = strstr(req, "\n\n");
	if (blank) {
		*blank = 0;
		body = blank + 2;
	}
	line = strtok_r(req, "\n", &save);
	method = line;
	target = strchr(line, ' ');
	assert_non_null(target);
	*target++ = 0;
	*strrchr(target, ' ') = 0;
	path = target;
	char *q = strchr(target, '?');
	if (q) {
		*q = 0;
		query = q + 1;
	}
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (line[0] == ' ' || line[0] == '\t') {
			/* a folded line: another value of the same header */
			assert_true(nh > 0);
			hs[nh].name = hs[nh - 1].name;
			hs[nh].value = line;
			nh++;
			continue;
		}
		char *colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = 0;
		/* the "after" token case adds the token only once the request is signed */
		if (strstr(name, "after") && !strcasecmp(line, "X-Amz-Security-Token"))
			continue;
		hs[nh].name = line;
		hs[nh].value = colon + 1;
		nh++;
		assert_true(nh < 32);
	}
	s3_sha256_hex(body, strlen(body), hash);
	enc = s3_uri_encode(path, strlen(path), 1);
	struct s3_sign_input in = {
		.method = method,
		.path = enc,
		.query = query,
		.headers = hs,
		.nheaders = nh,
		.payload_hash = hash,
		.amz_date = "20150830T123600Z",
		.region = "us-east-1",
		.service = "service",
		.access_key = "AKIDEXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	};
	assert_int_equal(s3_sign(&in, NULL, &out), 0);
	assert_string_equal(out.canonical_request, creq);
	assert_string_equal(out.string_to_sign, sts);
	assert_string_equal(out.authorization, authz);
	s3_signed_free(&out);
	free(enc);
	free(req);
	free(creq);
	free(sts);
	free(authz);
}

static void test_suite(void **state)
{
	DIR *d = opendir(SIGV4_DIR);
	struct dirent *de;
	int n = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "README.md"))
			continue;
		print_message("  sigv4 case %s\n", de->d_name);
		check_case(de->d_name);
		n++;
	}
	closedir(d);
	assert_true(n >= 20);
}

/* The day's key is cached: a second signature with the cache must equal one without it. */
static void test_key_cache(void **state)
{
	struct s3_header hs[] = { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", "20150830T123600Z" } };
	struct s3_sign_input in = {
		.method = "GET", .path = "/", .query = "", .headers = hs, .nheaders = 2,
		.payload_hash = "UNSIGNED-PAYLOAD", .amz_date = "20150830T123600Z", .region = "us-east-1",
		.service = "s3", .access_key = "AKIDEXAMPLE", .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	};
	struct s3_key_cache cache;
	struct s3_signed a, b, c;

	(void)state;
	memset(&cache, 0, sizeof(cache));
	assert_int_equal(s3_sign(&in, &cache, &a), 0);
	assert_int_equal(s3_sign(&in, &cache, &b), 0);
	assert_string_equal(a.authorization, b.authorization);
	/* a new secret must not reuse the cached key */
	in.secret_key = "another secret";
	assert_int_equal(s3_sign(&in, &cache, &c), 0);
	assert_string_not_equal(a.authorization, c.authorization);
	s3_signed_free(&a);
	s3_signed_free(&b);
	s3_signed_free(&c);
}

/* The four signed examples in AWS's S3 API documentation ("Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk"). */
static const char *sign_s3_example(const char *method, const char *path, const char *query,
				   const struct s3_header *extra, size_t nextra, const char *payload_hash,
				   struct s3_signed *out)
{
	struct s3_header hs[8] = { { "Host", "examplebucket.s3.amazonaws.com" },
				   { "x-amz-date", "20130524T000000Z" },
				   { "x-amz-content-sha256", payload_hash } };
	size_t n = 3;
	char *enc = s3_uri_encode(path, strlen(path), 1);

	for (size_t i = 0; i < nextra; i++)
		hs[n++] = extra[i];
	struct s3_sign_input in = {
		.method = method, .path = enc, .query = query, .headers = hs, .nheaders = n,
		.payload_hash = payload_hash, .amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3",
		.access_key = "AKIAIOSFODNN7EXAMPLE", .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	};
	assert_int_equal(s3_sign(&in, NULL, out), 0);
	free(enc);
	return strstr(out->authorization, "Signature=") + 10;
}

static void test_s3_doc_examples(void **state)
{
	static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct s3_signed out;
	char body_hash[65];

	(void)state;
	struct s3_header range[] = { { "Range", "bytes=0-9" } };
	assert_string_equal(sign_s3_example("GET", "/test.txt", "", range, 1, empty, &out),
			    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_non_null(strstr(out.authorization, "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"));
	s3_signed_free(&out);

	/* PUT of "Welcome to Amazon S3." to a key with a '$' (encoded once, as %24) */
	s3_sha256_hex("Welcome to Amazon S3.", 21, body_hash);
	assert_string_equal(body_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	struct s3_header put[] = { { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
				   { "x-amz-storage-class", "REDUCED_REDUNDANCY" } };
	assert_string_equal(sign_s3_example("PUT", "/test$file.text", "", put, 2, body_hash, &out),
			    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	s3_signed_free(&out);

	/* a subresource without a value */
	assert_string_equal(sign_s3_example("GET", "/", "lifecycle", NULL, 0, empty, &out),
			    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	s3_signed_free(&out);

	/* ListObjects: the query is sorted by key */
	assert_string_equal(sign_s3_example("GET", "/", "prefix=J&max-keys=2", NULL, 0, empty, &out),
			    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	s3_signed_free(&out);
}

/* S3 object keys: spaces, '+', '%', UTF-8 encoded once; '/' kept in paths. */
static void test_uri_encode(void **state)
{
	char *e;

	(void)state;
	e = s3_uri_encode("a b+c%d/é~_.-", strlen("a b+c%d/é~_.-"), 1);
	assert_string_equal(e, "a%20b%2Bc%25d/%C3%A9~_.-");
	free(e);
	e = s3_uri_encode("a/b", 3, 0);
	assert_string_equal(e, "a%2Fb");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite),
		cmocka_unit_test(test_key_cache),
		cmocka_unit_test(test_s3_doc_examples),
		cmocka_unit_test(test_uri_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
