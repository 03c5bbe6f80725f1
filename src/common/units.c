/* The planner's units: byte sizes (SI and IEC spelled out), link rates, durations, and their display. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/plan.h"

/* A decimal number without sign, exponent, inf or nan (strtod accepts too much). */
static int number_prefix(const char *s, double *v, const char **rest)
{
	const char *p = s;
	int digits = 0;
	char *end;

	while (*p >= '0' && *p <= '9') {
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			p++;
			digits++;
		}
	}
	if (!digits || p - s > 40)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end != p || !isfinite(*v))
		return -1;
	*rest = p;
	return 0;
}

int ferry_plan_parse_number(const char *s, double *out)
{
	const char *rest;

	if (!s || number_prefix(s, out, &rest) || *rest)
		return -1;
	return 0;
}

struct unit {
	const char *name;
	double mul;
};

static int lookup(const struct unit *u, const char *s, double *mul)
{
	for (; u->name; u++)
		if (!strcmp(u->name, s)) {
			*mul = u->mul;
			return 0;
		}
	return -1;
}

static const struct unit byte_units[] = {
	{ "", 1 }, { "B", 1 },
	{ "K", 1024.0 }, { "KiB", 1024.0 }, { "k", 1024.0 }, { "KB", 1e3 }, { "kB", 1e3 },
	{ "M", 1048576.0 }, { "MiB", 1048576.0 }, { "MB", 1e6 },
	{ "G", 1073741824.0 }, { "GiB", 1073741824.0 }, { "GB", 1e9 },
	{ "T", 1099511627776.0 }, { "TiB", 1099511627776.0 }, { "TB", 1e12 },
	{ "P", 1125899906842624.0 }, { "PiB", 1125899906842624.0 }, { "PB", 1e15 },
	{ NULL, 0 },
};

int ferry_plan_parse_bytes(const char *s, double *out)
{
	const char *rest;
	double v, mul;

	if (!s || number_prefix(s, &v, &rest))
		return -1;
	if (*rest == ' ')
		rest++;
	if (lookup(byte_units, rest, &mul))
		return -1;
	v *= mul;
	if (!isfinite(v) || v > 1e21) /* a zettabyte: beyond any plan */
		return -1;
	*out = v;
	return 0;
}

static const struct unit bit_units[] = {
	{ "bit", 1 }, { "bps", 1 }, { "kbit", 1e3 }, { "Kbit", 1e3 }, { "kbps", 1e3 }, { "Mbit", 1e6 },
	{ "Mbps", 1e6 }, { "Gbit", 1e9 }, { "Gbps", 1e9 }, { "Tbit", 1e12 }, { "Tbps", 1e12 },
	{ NULL, 0 },
};

int ferry_plan_parse_rate(const char *s, double *out)
{
	const char *rest;
	double v, mul;
	char unit[16];
	size_t n;

	if (!s || number_prefix(s, &v, &rest))
		return -1;
	if (*rest == ' ')
		rest++;
	if (lookup(bit_units, rest, &mul) == 0) {
		v = v * mul / 8;
	} else {
		/* bytes per second: a byte unit followed by /s */
		n = strlen(rest);
		if (n < 3 || n >= sizeof(unit) || strcmp(rest + n - 2, "/s"))
			return -1;
		memcpy(unit, rest, n - 2);
		unit[n - 2] = 0;
		if (lookup(byte_units, unit, &mul) || !unit[0])
			return -1;
		v *= mul;
	}
	if (!(v > 0) || !isfinite(v) || v > 1e15)
		return -1;
	*out = v;
	return 0;
}

int ferry_plan_parse_duration(const char *s, double *out)
{
	static const struct unit units[] = {
		{ "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "min", 60 }, { "h", 3600 },
		{ "d", 86400 }, { "w", 604800 }, { NULL, 0 },
	};
	double total = 0, v, mul;
	const char *rest;
	char unit[4];
	int parts = 0;

	if (!s || !*s)
		return -1;
	while (*s) {
		size_t n = 0;

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
			if (n >= sizeof(unit))
				return -1;
			memcpy(unit, rest, n);
			unit[n] = 0;
			if (lookup(units, unit, &mul))
				return -1;
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
