/*
 * The one unit grammar (include/ferry/units.h): K/M/G/T and KiB.. binary, KB/MB/GB/TB SI,
 * bit rates SI, for --memory, --bwlimit and the planner alike. The old code read
 * "1MB" as 2^20 in sizes and --bwlimit but as 10^6 in the planner: the tables below
 * hold both readers to the same value.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/conf.h"
#include "ferry/units.h"

#include "expect.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

struct want {
	const char *s;
	uint64_t v;
};

static void sizes(void **state)
{
	static const struct want good[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "1B", 1 },
		{ "1K", KiB },
		{ "1k", KiB },
		{ "1KiB", KiB },
		{ "1kib", KiB },
		{ "1KB", 1000 },
		{ "1kB", 1000 },
		{ "1M", MiB },
		{ "64M", 67108864 },
		{ "1MiB", MiB },
		{ "1MB", 1000000 },
		{ "1mB", 1000000 },
		{ "512MB", 512000000 },
		{ "512M", 512 * MiB },
		{ "1G", GiB },
		{ "1GiB", GiB },
		{ "1GB", 1000000000 },
		{ "1T", TiB },
		{ "1TiB", TiB },
		{ "1TB", 1000000000000ull },
		{ "1P", 1024 * TiB },
		{ "1.5G", 1610612736 },
		{ "0.5K", 512 },
		{ "4 MiB", 4 * MiB },
		{ "16383P", 16383ull << 50 },
	};
	static const char *const bad[] = {
		"",      "-1",    "+1",     "1X",    "1e3",   "1Kb",  "1Mbit", "1M/s",  "K",        "MB",
		".",     "1..2G", " 5",     "5 ",    "5  M",  "inf",  "nan",   "0x10",  "99999999999T",
		"18446744073709551616", "16384P", "1KIB", "1Ki", "1MBB", "1mb",
	};
	uint64_t v;
	double d;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CTX("size '%s'", good[i].s);
		v = 7;
		EXPECT(ferry_parse_size(good[i].s, &v) == 0);
		if (v != good[i].v)
			fail_msg("size '%s': got %llu, want %llu", good[i].s, (unsigned long long)v,
				 (unsigned long long)good[i].v);
		/* the planner reads the same text as the same number of bytes */
		EXPECT(ferry_plan_parse_bytes(good[i].s, &d) == 0);
		EXPECT(d == (double)good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CTX("size '%s'", bad[i]);
		EXPECT(ferry_parse_size(bad[i], &v) != 0);
	}
	CTX("size NULL");
	EXPECT(ferry_parse_size(NULL, &v) != 0);
}

static void rates(void **state)
{
	static const struct want good[] = {
		{ "10M", 10485760 },
		{ "10M/s", 10485760 },
		{ "10MiB/s", 10485760 },
		{ "120MB", 120000000 },
		{ "120MB/s", 120000000 },
		{ "1MB", 1000000 },
		{ "1G", GiB },
		{ "1.5M", 1572864 },
		{ "100Mbit", 12500000 },
		{ "100Mbps", 12500000 },
		{ "1Gbit", 125000000 },
		{ "10Gbps", 1250000000 },
		{ "1 Gbit", 125000000 },
		{ "64kbit", 8000 },
		{ "8bit", 1 },
		{ "100B/s", 100 },
		{ "100", 100 },
	};
	static const char *const bad[] = { "",      "0",    "0M",     "0Gbit", "-1M",   "fast", "1/s",  "/s",
					   "10Q",   "1e6",  "OFF",    "1Gbit/s", "1Mb",  "M",    "1M /s", "9000Tbit" };
	uint64_t v;
	double d;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t n = strlen(good[i].s);
		int explicit_unit = (n > 2 && !strcmp(good[i].s + n - 2, "/s")) || strstr(good[i].s, "bit") ||
				    strstr(good[i].s, "bps");

		CTX("rate '%s'", good[i].s);
		v = 0;
		EXPECT(ferry_parse_rate(good[i].s, &v) == 0);
		if (v != good[i].v)
			fail_msg("rate '%s': got %llu, want %llu", good[i].s, (unsigned long long)v,
				 (unsigned long long)good[i].v);
		/* the planner wants bits or "/s" said outright (1G could be meant as 1 Gbit),
		 * and gives the same value when they are */
		if (explicit_unit) {
			EXPECT(ferry_plan_parse_rate(good[i].s, &d) == 0);
			EXPECT(d == (double)good[i].v);
		} else {
			EXPECT(ferry_plan_parse_rate(good[i].s, &d) != 0);
		}
	}
	CTX("rate off");
	v = 1;
	EXPECT(ferry_parse_rate("off", &v) == 0 && v == 0);
	v = 1;
	EXPECT(ferry_parse_rate("unlimited", &v) == 0 && v == 0);
	EXPECT(ferry_plan_parse_rate("off", &d) != 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CTX("rate '%s'", bad[i]);
		EXPECT(ferry_parse_rate(bad[i], &v) != 0);
		EXPECT(ferry_plan_parse_rate(bad[i], &d) != 0);
	}
}

static void durations(void **state)
{
	static const struct want good[] = {
		{ "90s", 90 },   { "15m", 900 },   { "6h", 21600 },     { "1d", 86400 },   { "1h30m", 5400 },
		{ "45", 45 },    { "1w", 604800 }, { "2min", 120 },     { "1.5m", 90 },    { "0.7m", 42 },
		{ "1500ms", 1 }, { "1d12h", 129600 },
	};
	static const char *const bad[] = { "",    "0",   "0s",    "500ms", "-5m", "5x",  "5mm", "m",   " 5m",
					   "5 m", "1h 30m", "3s5", "h1",  "1e3", "nan", "inf", "99999999999999999999" };
	uint64_t v;
	double d;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CTX("duration '%s'", good[i].s);
		v = 0;
		EXPECT(ferry_parse_duration(good[i].s, &v) == 0);
		if (v != good[i].v)
			fail_msg("duration '%s': got %llu, want %llu", good[i].s, (unsigned long long)v,
				 (unsigned long long)good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CTX("duration '%s'", bad[i]);
		EXPECT(ferry_parse_duration(bad[i], &v) != 0);
	}
	/* the planner keeps fractions of a second */
	CTX("duration 20ms");
	EXPECT(ferry_plan_parse_duration("20ms", &d) == 0 && fabs(d - 0.02) < 1e-12);
	EXPECT(ferry_plan_parse_duration("1h30m", &d) == 0 && d == 5400);
}

static void timetables(void **state)
{
	struct ferry_timetable t;
	char msg[256], big[1024];
	size_t n = 0;

	(void)state;
	CTX("timetable 10M");
	EXPECT(ferry_parse_timetable("10M", &t, msg, sizeof(msg)) == 0);
	EXPECT(t.n == 1 && t.p[0].minute == 0 && t.p[0].rate == 10 * MiB);
	CTX("timetable 1MB: SI, as in the planner");
	EXPECT(ferry_parse_timetable("1MB", &t, msg, sizeof(msg)) == 0);
	EXPECT(t.n == 1 && t.p[0].rate == 1000000);
	CTX("timetable off");
	EXPECT(ferry_parse_timetable("off", &t, msg, sizeof(msg)) == 0);
	EXPECT(t.n == 1 && t.p[0].rate == 0);
	CTX("timetable, two periods");
	EXPECT(ferry_parse_timetable("08:00,10M 18:00,off", &t, msg, sizeof(msg)) == 0);
	EXPECT(t.n == 2 && t.p[0].minute == 480 && t.p[0].rate == 10 * MiB && t.p[1].minute == 1080 &&
	       t.p[1].rate == 0);
	CTX("timetable, sorted by time, any rate unit");
	EXPECT(ferry_parse_timetable(" 18:00,1MB\t8:05,100Mbit ", &t, msg, sizeof(msg)) == 0);
	EXPECT(t.n == 2 && t.p[0].minute == 485 && t.p[0].rate == 12500000 && t.p[1].minute == 1080 &&
	       t.p[1].rate == 1000000);

	static const struct {
		const char *s, *says;
	} bad[] = {
		{ "", "expected a rate" },
		{ "10Q", "'10Q' is not a rate" },
		{ "100", "at least 1K" },
		{ "1000B", "at least 1K" },
		{ "25:00,1M 18:00,off", "'25:00,1M'" },
		{ "08:60,1M", "'08:60,1M'" },
		{ "08:00,", "'08:00,'" },
		{ "8,1M", "'8,1M'" },
		{ "-8:00,1M", "'-8:00,1M'" },
		{ "08:00,1M,2M", "'08:00,1M,2M'" },
		{ "08:00,100", "'08:00,100'" },
		{ "08:00,1M 08:00,2M", "08:00 given twice" },
		{ "10M 18:00,off", "'10M'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CTX("timetable '%s'", bad[i].s);
		msg[0] = 0;
		EXPECT(ferry_parse_timetable(bad[i].s, &t, msg, sizeof(msg)) != 0);
		if (!strstr(msg, bad[i].says))
			fail_msg("timetable '%s': message '%s' does not say '%s'", bad[i].s, msg, bad[i].says);
		EXPECT(!strchr(msg, '\n'));
	}
	/* one entry a minute from 00:00: the 49th is refused */
	for (int i = 0; i <= FERRY_TIMETABLE_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "00:%02d,1M ", i);
	CTX("timetable of %d entries", FERRY_TIMETABLE_MAX + 1);
	EXPECT(ferry_parse_timetable(big, &t, msg, sizeof(msg)) != 0);
	EXPECT(strstr(msg, "at most 48") != NULL);
}

/* ferry.conf reads its sizes, durations and timetables through the same grammar. */
static void conf_units(void **state)
{
	static const char text[] = "[store]\nchunk-size = 1MB\n[transfer]\nmemory = 512MB\n"
				   "[unattended]\nlock-timeout = 1h30m\nbwlimit = 08:00,1MB 18:00,off\n";
	struct ferry_conf c;
	char msg[512];

	(void)state;
	CTX("conf");
	ferry_conf_defaults(&c);
	EXPECT(ferry_conf_parse(&c, text, strlen(text), "t.conf", msg, sizeof(msg)) == FERRY_OK);
	EXPECT(c.chunk_size == 1000000);
	EXPECT(c.memory == 512000000);
	EXPECT(c.lock_timeout == 5400);
	EXPECT(!strcmp(c.bwlimit, "08:00,1MB 18:00,off"));

	static const char badtt[] = "[unattended]\nbwlimit = 25:00,1M\n";
	CTX("conf, bad timetable");
	ferry_conf_defaults(&c);
	msg[0] = 0;
	EXPECT(ferry_conf_parse(&c, badtt, strlen(badtt), "t.conf", msg, sizeof(msg)) == FERRY_E_CONFIG);
	if (!strstr(msg, "t.conf:2: bwlimit: timetable entry '25:00,1M'"))
		fail_msg("message: %s", msg);

	static const char badmem[] = "[transfer]\nmemory = 16MB\n"; /* 16*10^6 < 16 MiB */
	CTX("conf, memory below 16M");
	ferry_conf_defaults(&c);
	EXPECT(ferry_conf_parse(&c, badmem, strlen(badmem), "t.conf", msg, sizeof(msg)) == FERRY_E_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes),
		cmocka_unit_test(rates),
		cmocka_unit_test(durations),
		cmocka_unit_test(timetables),
		cmocka_unit_test(conf_units),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
