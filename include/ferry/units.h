/*
 * One grammar for the numbers a user writes, on the command line, in ferry.conf and
 * to the planner alike: sizes, rates, durations and the --bwlimit timetable.
 *
 *   NUMBER     decimal digits with an optional fraction: 64, 1.5 (no sign, exponent,
 *              inf or nan)
 *   size       NUMBER[ ]UNIT: no unit or B is bytes; K M G T P, KiB MiB GiB TiB PiB
 *              are binary (1024^n); KB MB GB TB PB are SI (1000^n). The prefix letter
 *              may be either case (64k = 64K, 1mB = 1MB); a lowercase b is refused,
 *              as 1Mb is as often meant as a megabit.
 *   rate       bytes per second: a size, "/s" optional (10M = 10M/s = 10 MiB/s,
 *              120MB/s = 120*10^6), or bits, SI: 100Mbit, 1Gbps (= 125*10^6 B/s).
 *              The planner's link and disk rates must say which: "/s" after a byte
 *              unit, or a bit unit (1G alone is refused there, too easily meant as bits).
 *   duration   NUMBER UNIT...: ms s m min h d w, summed ("1h30m"); a bare number is
 *              seconds. No spaces.
 *   timetable  "HH:MM,RATE HH:MM,RATE ...": local times, each rate holding until the
 *              next time (the last wraps past midnight); off or unlimited: no limit.
 *
 * Every parser returns 0 on success, -1 on anything else (empty, garbage after the
 * unit, a zero rate, out of range); the caller names the flag or key and the value.
 */
#ifndef FERRY_UNITS_H
#define FERRY_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- whole numbers, for run-time settings (--memory, --chunk-size, --bwlimit, ...) ---- */

/* A size in whole bytes, exact ("64M" = 67108864; a fraction of a byte is dropped). */
int ferry_parse_size(const char *s, uint64_t *bytes) FERRY_MUST_CHECK;
/* A rate in whole bytes per second, at least 1; "off" and "unlimited" give 0 (no limit). */
int ferry_parse_rate(const char *s, uint64_t *bytes_per_s) FERRY_MUST_CHECK;
/* A duration in whole seconds, at least 1 ("90s", "15m", "1h30m", "1d", "45"). */
int ferry_parse_duration(const char *s, uint64_t *seconds) FERRY_MUST_CHECK;

#define FERRY_TIMETABLE_MAX 48
/* The least limit --bwlimit takes: below it a single chunk would stall the run for minutes. */
#define FERRY_RATE_MIN 1024

struct ferry_period {
	int minute;    /* minute of the day it starts, local time */
	uint64_t rate; /* bytes per second, 0 = unlimited */
};

/* A rate by time of day, sorted by minute; a plain rate is one period from 00:00. */
struct ferry_timetable {
	unsigned n;
	struct ferry_period p[FERRY_TIMETABLE_MAX];
};

/*
 * A rate of at least FERRY_RATE_MIN ("10M", "off") or a timetable ("08:00,10M 18:00,off").
 * On failure msg says what is wrong, without naming the flag or key (the caller does).
 */
int ferry_parse_timetable(const char *s, struct ferry_timetable *t, char *msg, size_t msglen) FERRY_MUST_CHECK;

/* ---- real numbers, for the planner's model ---- */

/* Bytes: "512", "4K"/"4KiB" (2^10), "80TB" (10^12), "100TiB" (2^40), "1.5GB". */
int ferry_plan_parse_bytes(const char *s, double *out) FERRY_MUST_CHECK;
/* A link or disk rate in bytes per second: "1Gbit", "100Mbit", "10Gbps" or "125MB/s", "100MiB/s". */
int ferry_plan_parse_rate(const char *s, double *bytes_per_s) FERRY_MUST_CHECK;
/* A duration in seconds: "20ms", "3s", "90m", "24h", "2d", "1h30m"; a bare number is seconds. */
int ferry_plan_parse_duration(const char *s, double *seconds) FERRY_MUST_CHECK;
/* A plain non-negative decimal number (prices): "0.023". */
int ferry_plan_parse_number(const char *s, double *out) FERRY_MUST_CHECK;
/* "2h 03m", "4.2 s", "3.1 d" */
void ferry_plan_fmt_duration(double seconds, char *out, size_t len);
/* "1.5 GiB" */
void ferry_plan_fmt_bytes(double bytes, char *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
