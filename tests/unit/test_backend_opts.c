/* Backend options and messages without a server: names checked against each backend's
 * list, scopes, values the S3 backend refuses, ferry_kv_dup, messages per instance. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/backend.h"
#include "ferry/error.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-opts.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	/* the S3 backend opens without a request: credentials that are never sent will do */
	setenv("AWS_ACCESS_KEY_ID", "test-key", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1", 1);
	unsetenv("FERRY_S3_CONNECTIONS");
	return 0;
}

static int teardown(void **state)
{
	char p[128];

	(void)state;
	snprintf(p, sizeof(p), "%s/sub/obj", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/sub", dir);
	rmdir(p);
	rmdir(dir);
	return 0;
}

/* FERRY_E_INVAL, nothing opened, and msg holding want. */
static void refused(const char *loc, const struct ferry_kv *opts, const char *want)
{
	struct ferry_backend *b = NULL;
	char msg[600] = "";
	int e = ferry_backend_open(&b, loc, opts, NULL, msg, sizeof(msg));

	if (e != FERRY_E_INVAL || b || !strstr(msg, want))
		fail_msg("%s: want FERRY_E_INVAL and '%s', got %d: %s", loc, want, e, msg);
	ferry_backend_close(b);
}

static void opened(const char *loc, const struct ferry_kv *opts)
{
	struct ferry_backend *b = NULL;
	char msg[600] = "";
	int e = ferry_backend_open(&b, loc, opts, NULL, msg, sizeof(msg));

	if (e || !b)
		fail_msg("%s: want it open, got %d: %s", loc, e, msg);
	ferry_backend_close(b);
}

static void posix_takes_none(void **state)
{
	(void)state;
	opened(dir, NULL);
	/* scoped to another backend: not this one's business */
	opened(dir, (const struct ferry_kv[]){ { "s3.endpoint", "http://x" }, { "s3.connections", "x" }, { NULL, NULL } });
	refused(dir, (const struct ferry_kv[]){ { "endpoint", "http://x" }, { NULL, NULL } }, "unknown option 'endpoint'");
	refused(dir, (const struct ferry_kv[]){ { "endpoint", "http://x" }, { NULL, NULL } }, "none");
	refused(dir, (const struct ferry_kv[]){ { "posix.depth", "1" }, { NULL, NULL } }, "unknown option 'posix.depth'");
	refused(dir, (const struct ferry_kv[]){ { "gcs.bucket", "x" }, { NULL, NULL } }, "no backend 'gcs'");
}

static void s3_checks_values(void **state)
{
	const char *url = "s3://ferry-opts/x";

	(void)state;
	opened(url, NULL);
	opened(url, (const struct ferry_kv[]){ { "endpoint", "http://127.0.0.1:9" }, { "region", "eu-west-1" },
					       { "addressing", "virtual" }, { "connections", "4" }, { "max_parts", "1000" },
					       { "attempts", "2" }, { "bind", "127.0.0.1" }, { "verbose", "1" },
					       { "s3.bind", "" }, { "posix.x", "y" }, { NULL, NULL } });
	/* an IPv6 address may name its zone, as FERRY_S3_BIND always could */
	opened(url, (const struct ferry_kv[]){ { "bind", "fe80::1%eth0" }, { NULL, NULL } });
	refused(url, (const struct ferry_kv[]){ { "nosuch", "1" }, { NULL, NULL } }, "unknown option 'nosuch'");
	refused(url, (const struct ferry_kv[]){ { "connections", "x" }, { NULL, NULL } },
		"connections 'x': expected 1..256");
	refused(url, (const struct ferry_kv[]){ { "connections", "257" }, { NULL, NULL } }, "connections '257'");
	refused(url, (const struct ferry_kv[]){ { "s3.max_parts", "0" }, { NULL, NULL } }, "max_parts '0'");
	refused(url, (const struct ferry_kv[]){ { "attempts", "" }, { NULL, NULL } }, "attempts ''");
	refused(url, (const struct ferry_kv[]){ { "addressing", "both" }, { NULL, NULL } }, "addressing 'both'");
	refused(url, (const struct ferry_kv[]){ { "endpoint", "ftp://x" }, { NULL, NULL } }, "endpoint 'ftp://x'");
	refused(url, (const struct ferry_kv[]){ { "endpoint", "http://x/path" }, { NULL, NULL } }, "endpoint");
	refused(url, (const struct ferry_kv[]){ { "region", "EU West" }, { NULL, NULL } }, "region 'EU West'");
	refused(url, (const struct ferry_kv[]){ { "bind", "eth0.example" }, { NULL, NULL } }, "bind 'eth0.example'");
	refused(url, (const struct ferry_kv[]){ { "bind", "fe80::1%" }, { NULL, NULL } }, "bind 'fe80::1%'");
	refused(url, (const struct ferry_kv[]){ { "verbose", "yes" }, { NULL, NULL } }, "verbose 'yes'");
	/* the first of a name wins, so a bad value behind a good one is never looked at */
	opened(url, (const struct ferry_kv[]){ { "connections", "2" }, { "s3.connections", "x" }, { NULL, NULL } });
	refused(url, (const struct ferry_kv[]){ { "s3.connections", "x" }, { "connections", "2" }, { NULL, NULL } },
		"connections 'x'");
	/* the option over the environment: a bad variable is not read when the option is given */
	setenv("FERRY_S3_CONNECTIONS", "x", 1);
	opened(url, (const struct ferry_kv[]){ { "connections", "3" }, { NULL, NULL } });
	struct ferry_backend *b = NULL;
	char msg[600] = "";
	int e = ferry_backend_open(&b, url, NULL, NULL, msg, sizeof(msg));
	unsetenv("FERRY_S3_CONNECTIONS");
	ferry_backend_close(b);
	assert_int_equal(e, FERRY_E_CONFIG);
	assert_non_null(strstr(msg, "FERRY_S3_CONNECTIONS 'x'"));
}

static void kv_dup(void **state)
{
	const struct ferry_kv first[] = { { "endpoint", "http://a" }, { NULL, NULL } };
	const struct ferry_kv rest[] = { { "endpoint", "http://b" }, { "region", "r1" }, { NULL, NULL } };
	char val[16] = "v";
	const struct ferry_kv mine[] = { { "k", val }, { NULL, NULL } };
	struct ferry_kv *d = ferry_kv_dup(first, rest), *c = ferry_kv_dup(NULL, mine), *none = ferry_kv_dup(NULL, NULL);

	(void)state;
	assert_non_null(d);
	assert_string_equal(ferry_kv_get(d, "endpoint"), "http://a");
	assert_string_equal(ferry_kv_get(d, "region"), "r1");
	assert_null(d[3].key);
	strcpy(val, "changed"); /* a copy, not the caller's strings */
	assert_string_equal(ferry_kv_get(c, "k"), "v");
	assert_non_null(none);
	assert_null(none[0].key);
	free(d);
	free(c);
	free(none);
}

static void messages_per_instance(void **state)
{
	struct ferry_backend *a = NULL, *b = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char msg[600], p[128];

	(void)state;
	snprintf(p, sizeof(p), "%s/sub", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sub/obj", dir);
	mkdir(p, 0755); /* a directory where an object should be */
	assert_int_equal(ferry_backend_open(&a, dir, NULL, NULL, msg, sizeof(msg)), FERRY_OK);
	assert_int_equal(ferry_backend_open(&b, dir, NULL, NULL, msg, sizeof(msg)), FERRY_OK);
	int e = a->ops->get(a, "sub/obj", &buf, &len, 100);
	assert_int_equal(e, FERRY_BERR(FERRY_E_FORMAT));
	const char *m = ferry_backend_errmsg(a, e, msg, sizeof(msg));
	assert_non_null(m);
	assert_non_null(strstr(m, "not a regular file"));
	assert_null(ferry_backend_errmsg(b, e, msg, sizeof(msg)));
	assert_null(ferry_backend_errmsg(a, FERRY_BERR(FERRY_E_IO), msg, sizeof(msg))); /* another result */
	/* a wrapper over a hears what the backend under it says */
	a->err_to = b;
	ferry_backend_seterr(a, -EIO, "disk on fire");
	assert_non_null(ferry_backend_errmsg(b, -EIO, msg, sizeof(msg)));
	assert_string_equal(msg, "disk on fire");
	a->err_to = NULL;
	ferry_backend_close(a);
	ferry_backend_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(posix_takes_none),
		cmocka_unit_test(s3_checks_values),
		cmocka_unit_test(kv_dup),
		cmocka_unit_test(messages_per_instance),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
