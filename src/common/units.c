/*
 * The one unit grammar (include/ferry/units.h): sizes, rates, durations and the
 * --bwlimit timetable, as whole numbers for run-time settings and as doubles for the
 * planner, and the planner's display of sizes and durations.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/units.h"

/* Fraction digits kept exact: 10^18 still fits in 64 bits. */
#define MAX_FRACTION 18

/* The length of the NUMBER at the start of s (digits, optional fraction; strtod
 * alone would take a sign, an exponent, hex, inf and nan), 0 when there is none. */
static size_t scan_number(const char *s, size_t *fraction)
{
	size_t n = 0, f = 0;
	int digits = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		n++;
		digits++;
	}
	if (s[n] == '.') {
		n++;
		while (s[n] >= '0' && s[n] <= '9') {
			n++;
			f++;
			digits++;
		}
	}
	if (!digits || n > 40 || f > MAX_FRACTION)
		return 0;
	if (fraction)
		*fraction = f;
	return n;
}

static int number_prefix(const char *s, double *v, const char **rest)
{
	size_t n = scan_number(s, NULL);
	char *end;

	if (!n)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end != s + n || !isfinite(*v))
		return -1;
	*rest = s + n;
	return 0;
}

/*
 * The NUMBER at s times mul / div, rounded down, exactly: whole * mul must fit 64
 * bits, and then (whole * mul * 10^f + fraction * mul) fits 128 with f <= 18 and
 * mul <= 2^50.
 */
static int number_exact(const char *s, uint64_t mul, uint64_t div, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	unsigned __int128 v;

	if (!scan_number(s, NULL))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10) /* within a digit of 2^64: out of range for any unit */
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	if (whole > UINT64_MAX / mul)
		return -1;
	v = ((unsigned __int128)(whole * mul) * scale + (unsigned __int128)frac * mul) /
	    ((unsigned __int128)scale * div);
	if (v > UINT64_MAX)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* K M G T P in either case: the power it stands for, 0 when c is none of them. */
static unsigned prefix_power(char c)
{
	static const char up[] = "KMGTP", low[] = "kmgtp";

	for (unsigned i = 0; up[i]; i++)
		if (c == up[i] || c == low[i])
			return i + 1;
	return 0;
}

static uint64_t power(uint64_t base, unsigned e)
{
	uint64_t v = 1;

	while (e--)
		v *= base;
	return v;
}

/* A byte unit spelled out in full by u: "", B, K, KiB (binary), KB (SI), ... */
static int byte_unit(const char *u, uint64_t *mul)
{
	unsigned e;

	if (!strcmp(u, "") || !strcmp(u, "B")) {
		*mul = 1;
		return 0;
	}
	e = prefix_power(u[0]);
	if (!e)
		return -1;
	u++;
	if (!strcmp(u, "") || !strcmp(u, "iB") || !strcmp(u, "ib"))
		*mul = power(1024, e);
	else if (!strcmp(u, "B"))
		*mul = power(1000, e);
	else
		return -1;
	return 0;
}

/* A bit-rate unit: bit, bps, Kbit, Mbps, ...: SI powers, as links are sold. */
static int bit_unit(const char *u, uint64_t *mul)
{
	unsigned e = prefix_power(u[0]);

	if (e)
		u++;
	if (strcmp(u, "bit") && strcmp(u, "bps"))
		return -1;
	*mul = power(1000, e);
	return 0;
}

/* The unit after a number: one space allowed before it (the planner's "80 TB"), none after. */
static const char *unit_start(const char *rest)
{
	return rest[0] == ' ' && rest[1] ? rest + 1 : rest;
}

enum rate_kind { RATE_BYTES, RATE_BITS };

/*
 * Splits a rate's unit u: bit units, or a byte unit with or without "/s" (*per_s says
 * which). "/s" alone (100/s) is refused: say B/s.
 */
static int rate_unit(const char *u, enum rate_kind *kind, uint64_t *mul, int *per_s)
{
	char unit[8];
	size_t n = strlen(u);

	*per_s = n >= 2 && !strcmp(u + n - 2, "/s");
	if (*per_s) {
		if (n == 2 || n - 2 >= sizeof(unit))
			return -1;
		memcpy(unit, u, n - 2);
		unit[n - 2] = 0;
		*kind = RATE_BYTES;
		return byte_unit(unit, mul);
	}
	if (bit_unit(u, mul) == 0) {
		*kind = RATE_BITS;
		return 0;
	}
	*kind = RATE_BYTES;
	return byte_unit(u, mul);
}

int ferry_parse_size(const char *s, uint64_t *out)
{
	size_t n = s ? scan_number(s, NULL) : 0;
	uint64_t mul, v;

	if (!n || byte_unit(unit_start(s + n), &mul) || number_exact(s, mul, 1, &v))
		return -1;
	*out = v;
	return 0;
}

int ferry_plan_parse_bytes(const char *s, double *out)
{
	const char *rest;
	uint64_t mul;
	double v;

	if (!s || number_prefix(s, &v, &rest) || byte_unit(unit_start(rest), &mul))
		return -1;
	v *= (double)mul;
	if (!isfinite(v) || v > 1e21) /* a zettabyte: beyond any plan */
		return -1;
	*out = v;
	return 0;
}

/* Above any link or disk, and far inside 64 bits: 8 Pbit/s. */
#define RATE_MAX 1e15

int ferry_parse_rate(const char *s, uint64_t *out)
{
	size_t n = s ? scan_number(s, NULL) : 0;
	enum rate_kind kind;
	uint64_t mul, v;
	int per_s;

	if (s && (!strcmp(s, "off") || !strcmp(s, "unlimited"))) {
		*out = 0;
		return 0;
	}
	if (!n || rate_unit(unit_start(s + n), &kind, &mul, &per_s) ||
	    number_exact(s, mul, kind == RATE_BITS ? 8 : 1, &v) || v == 0 || v > (uint64_t)RATE_MAX)
		return -1;
	*out = v;
	return 0;
}

int ferry_plan_parse_rate(const char *s, double *out)
{
	enum rate_kind kind;
	const char *rest;
	uint64_t mul;
	double v;
	int per_s;

	if (!s || number_prefix(s, &v, &rest) || rate_unit(unit_start(rest), &kind, &mul, &per_s))
		return -1;
	/* a link's speed is written in bits as often as in bytes: make it say which */
	if (kind == RATE_BYTES && !per_s)
		return -1;
	v = kind == RATE_BITS ? v * (double)mul / 8 : v * (double)mul;
	if (!(v > 0) || !isfinite(v) || v > RATE_MAX)
		return -1;
	*out = v;
	return 0;
}

int ferry_plan_parse_duration(const char *s, double *out)
{
	static const struct {
		const char *name;
		double mul;
	} units[] = {
		{ "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 }, { "w", 604800 },
	};
	double total = 0, v, mul;
	const char *rest;
	int parts = 0;

	if (!s || !*s)
		return -1;
	while (*s) {
		size_t n = 0, i;

		if (number_prefix(s, &v, &rest))
			return -1;
		while (rest[n] && !(rest[n] >= '0' && rest[n] <= '9') && rest[n] != '.')
			n++;
		if (n == 0) {
			/* a bare number is seconds, but only on its own */
			if (parts || *rest)
				return -1;
			mul = 1;
		} else {
			for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
				if (strlen(units[i].name) == n && !strncmp(units[i].name, rest, n))
					break;
			if (i == sizeof(units) / sizeof(units[0]))
				return -1;
			mul = units[i].mul;
		}
		total += v * mul;
		s = rest + n;
		parts++;
	}
	if (!isfinite(total) || total > 1e12)
		return -1;
	*out = total;
	return 0;
}

int ferry_parse_duration(const char *s, uint64_t *out)
{
	double v;

	/* whole seconds; the nudge keeps 0.7m (41.99999...) at 42 */
	if (ferry_plan_parse_duration(s, &v) || floor(v + 1e-9) < 1)
		return -1;
	*out = (uint64_t)floor(v + 1e-9);
	return 0;
}

int ferry_plan_parse_number(const char *s, double *out)
{
	const char *rest;

	if (!s || number_prefix(s, out, &rest) || *rest)
		return -1;
	return 0;
}

/* "HH:MM" with one or two digits each, ending at end. */
static int clock_time(const char *s, const char *end, int *minute)
{
	int hh = 0, mm = 0, nh = 0, nm = 0;

	for (; s < end && *s >= '0' && *s <= '9' && nh < 2; s++, nh++)
		hh = hh * 10 + (*s - '0');
	if (!nh || s == end || *s++ != ':')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9' && nm < 2; s++, nm++)
		mm = mm * 10 + (*s - '0');
	if (!nm || s != end || hh > 23 || mm > 59)
		return -1;
	*minute = hh * 60 + mm;
	return 0;
}

static int limit_rate(const char *s, uint64_t *rate)
{
	return ferry_parse_rate(s, rate) || (*rate && *rate < FERRY_RATE_MIN) ? -1 : 0;
}

static int cmp_period(const void *a, const void *b)
{
	return ((const struct ferry_period *)a)->minute - ((const struct ferry_period *)b)->minute;
}

int ferry_parse_timetable(const char *s, struct ferry_timetable *t, char *msg, size_t msglen)
{
	char buf[1024], *save = NULL, *tok;

	memset(t, 0, sizeof(*t));
	if (!s || !*s || strlen(s) >= sizeof(buf)) {
		snprintf(msg, msglen, "expected a rate (10M) or a timetable (\"08:00,10M 18:00,off\")");
		return -1;
	}
	if (!strchr(s, ',')) {
		/* a single rate, all day */
		if (limit_rate(s, &t->p[0].rate)) {
			snprintf(msg, msglen, "'%s' is not a rate of at least 1K per second (10M, 1G, off)", s);
			return -1;
		}
		t->n = 1;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		struct ferry_period *p = &t->p[t->n];
		char *comma = strchr(tok, ',');

		if (t->n == FERRY_TIMETABLE_MAX) {
			snprintf(msg, msglen, "at most %d timetable entries", FERRY_TIMETABLE_MAX);
			return -1;
		}
		if (!comma || clock_time(tok, comma, &p->minute) || limit_rate(comma + 1, &p->rate)) {
			snprintf(msg, msglen, "timetable entry '%s' is not HH:MM,RATE (e.g. 08:00,10M or 18:00,off)",
				 tok);
			return -1;
		}
		for (unsigned i = 0; i < t->n; i++)
			if (t->p[i].minute == p->minute) {
				snprintf(msg, msglen, "time %02d:%02d given twice", p->minute / 60, p->minute % 60);
				return -1;
			}
		t->n++;
	}
	if (t->n == 0) {
		snprintf(msg, msglen, "empty timetable");
		return -1;
	}
	qsort(t->p, t->n, sizeof(t->p[0]), cmp_period);
	return 0;
}

void ferry_plan_fmt_duration(double s, char *out, size_t len)
{
	if (!isfinite(s))
		snprintf(out, len, "never");
	else if (s < 1)
		snprintf(out, len, "%.0f ms", s * 1e3);
	else if (s < 60)
		snprintf(out, len, "%.1f s", s);
	else if (s < 3600)
		snprintf(out, len, "%dm %02ds", (int)(s / 60), (int)fmod(s, 60));
	else if (s < 86400 * 2)
		snprintf(out, len, "%dh %02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	else
		snprintf(out, len, "%.1f d", s / 86400);
}

void ferry_plan_fmt_bytes(double v, char *out, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	int i = 0;

	while (v >= 1024 && i < 6) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}
