/* Parsers and small pieces of unattended operation: --bwlimit specs, durations, shard hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ferry/unattended.h"
#include "ferry/units.h"

static void rate_specs(void **state)
{
	static const char *good[] = { "10M", "1G", "512K", "off", "2MiB", "08:00,10M 18:00,off",
				      "00:00,1K", "23:59,off 00:00,5M", " 07:30,1M\t19:00,2M " };
	static const char *bad[] = { "",        "10Q",        "-1M",         "0",          "100",
				     "25:00,1M", "08:60,1M",  "08:00",       "08:00,",     "8,1M",
				     "08:00,1M 08:00,2M", "08:00;1M", "08:00,1M,2M", "08:00,10Q" };
	struct ferry_rate *r;
	char msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = NULL;
		msg[0] = 0;
		int err = ferry_rate_create(&r, good[i], msg, sizeof(msg));
		if (err)
			fail_msg("'%s' refused: %s", good[i], msg);
		assert_non_null(r);
		ferry_rate_destroy(r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = NULL;
		msg[0] = 0;
		if (ferry_rate_create(&r, bad[i], msg, sizeof(msg)) == FERRY_OK)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(r);
		assert_non_null(strstr(msg, "--bwlimit"));
	}
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void rate_paces(void **state)
{
	struct ferry_rate *r;
	char msg[128];
	double t0, t;

	(void)state;
	assert_int_equal(ferry_rate_create(&r, "4M", msg, sizeof(msg)), FERRY_OK);
	t0 = mono();
	/* 2 MiB at 4 MiB/s in 64 KiB pieces: half a second, however it is cut */
	for (int i = 0; i < 32; i++)
		ferry_rate_take(r, 64 << 10);
	t = mono() - t0;
	if (t < 0.45 || t > 0.65)
		fail_msg("2 MiB at 4 MiB/s took %.3f s", t);
	ferry_rate_destroy(r);
	/* off never waits */
	assert_int_equal(ferry_rate_create(&r, "off", msg, sizeof(msg)), FERRY_OK);
	t0 = mono();
	ferry_rate_take(r, 1ull << 40);
	assert_true(mono() - t0 < 0.05);
	ferry_rate_destroy(r);
	ferry_rate_take(NULL, 12345); /* no limit: a no-op */
}

static void durations(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(ferry_parse_duration("90s", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(ferry_parse_duration("30m", &v), 0);
	assert_int_equal(v, 1800);
	assert_int_equal(ferry_parse_duration("2h", &v), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(ferry_parse_duration("1d", &v), 0);
	assert_int_equal(v, 86400);
	assert_int_equal(ferry_parse_duration("45", &v), 0);
	assert_int_equal(v, 45);
	static const char *bad[] = { "", "0", "0s", "-5m", "5x", "5mm", "m", " 5m", "5 m", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ferry_parse_duration(bad[i], &v) == 0)
			fail_msg("duration '%s' accepted", bad[i]);
}

static void shards(void **state)
{
	unsigned count[8] = { 0 };
	char path[64];

	(void)state;
	/* deterministic, in range, and spread evenly enough */
	for (int i = 0; i < 8000; i++) {
		snprintf(path, sizeof(path), "dir%03d/file%06d.dat", i / 100, i);
		unsigned s = ferry_shard_of(path, 8);
		assert_true(s < 8);
		assert_int_equal(s, ferry_shard_of(path, 8));
		count[s]++;
	}
	for (int i = 0; i < 8; i++)
		if (count[i] < 850 || count[i] > 1150)
			fail_msg("shard %d got %u of 8000", i, count[i]);
	assert_int_equal(ferry_shard_of("anything", 1), 0);
	assert_true(ferry_shard_group_ok("nightly-2026.11.28_a"));
	assert_true(ferry_shard_group_ok("0d3c1f0e-8b4e-4b8a-9d55-1c2f6a7e9b10"));
	assert_false(ferry_shard_group_ok(""));
	assert_false(ferry_shard_group_ok(".hidden"));
	assert_false(ferry_shard_group_ok("a/b"));
	assert_false(ferry_shard_group_ok("a b"));
	assert_false(ferry_shard_group_ok("x123456789012345678901234567890123456789012345678901234567890123456"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rate_specs),
		cmocka_unit_test(rate_paces),
		cmocka_unit_test(durations),
		cmocka_unit_test(shards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
