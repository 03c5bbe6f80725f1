/*
 * --bwlimit: one token bucket for a whole run, taken from wherever the pipeline
 * hands bytes to a backend (push's frame writes, pull's frame reads, copy's writes),
 * so every backend is limited the same way. The bucket may go into debt: a request
 * larger than what has accrued is let through and the caller sleeps the debt off
 * first, so the average over a run is the rate however large the chunks are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/conf.h"
#include "ferry/unattended.h"

#define MAX_PERIODS 48

struct period {
	int minute;    /* minute of the day it starts, local time */
	uint64_t rate; /* bytes per second, 0 = unlimited */
};

struct ferry_rate {
	pthread_mutex_t mu;
	struct period p[MAX_PERIODS];
	int n;
	double tokens; /* may be negative: debt */
	double last;   /* CLOCK_MONOTONIC of the last refill */
	uint64_t cur;  /* the rate in force at the last take */
};

static int parse_rate(const char *s, uint64_t *out)
{
	if (!strcmp(s, "off") || !strcmp(s, "unlimited")) {
		*out = 0;
		return 0;
	}
	if (ferry_parse_size(s, out) || *out < 1024)
		return -1;
	return 0;
}

static int cmp_period(const void *a, const void *b)
{
	return ((const struct period *)a)->minute - ((const struct period *)b)->minute;
}

int ferry_rate_create(struct ferry_rate **out, const char *spec, char *msg, size_t msglen)
{
	struct ferry_rate *r;
	char buf[1024], *save = NULL, *tok;

	*out = NULL;
	if (!spec || !*spec || strlen(spec) >= sizeof(buf)) {
		snprintf(msg, msglen, "--bwlimit: expected a rate (10M) or a timetable (\"08:00,10M 18:00,off\")");
		return FERRY_E_INVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return FERRY_E_NOMEM;
	snprintf(buf, sizeof(buf), "%s", spec);
	if (!strchr(buf, ',')) {
		/* a single rate, all day */
		if (parse_rate(buf, &r->p[0].rate)) {
			snprintf(msg, msglen, "--bwlimit: '%s' is not a rate of at least 1K per second (10M, 1G, off)",
				 spec);
			free(r);
			return FERRY_E_INVAL;
		}
		r->n = 1;
	} else {
		for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			char *comma = strchr(tok, ',');
			int hh, mm, used = 0;

			if (r->n == MAX_PERIODS) {
				snprintf(msg, msglen, "--bwlimit: at most %d timetable entries", MAX_PERIODS);
				free(r);
				return FERRY_E_INVAL;
			}
			if (!comma || sscanf(tok, "%2d:%2d%n", &hh, &mm, &used) != 2 || tok + used != comma || hh < 0 ||
			    hh > 23 || mm < 0 || mm > 59 || parse_rate(comma + 1, &r->p[r->n].rate)) {
				snprintf(msg, msglen, "--bwlimit: timetable entry '%s' is not HH:MM,RATE (e.g. 08:00,10M or 18:00,off)",
					 tok);
				free(r);
				return FERRY_E_INVAL;
			}
			r->p[r->n].minute = hh * 60 + mm;
			for (int i = 0; i < r->n; i++)
				if (r->p[i].minute == r->p[r->n].minute) {
					snprintf(msg, msglen, "--bwlimit: time %02d:%02d given twice", hh, mm);
					free(r);
					return FERRY_E_INVAL;
				}
			r->n++;
		}
		if (r->n == 0) {
			snprintf(msg, msglen, "--bwlimit: empty timetable");
			free(r);
			return FERRY_E_INVAL;
		}
		qsort(r->p, (size_t)r->n, sizeof(r->p[0]), cmp_period);
	}
	pthread_mutex_init(&r->mu, NULL);
	r->last = ferry_mono();
	*out = r;
	return FERRY_OK;
}

void ferry_rate_destroy(struct ferry_rate *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* The rate in force now: the last period started at or before this minute, else the last of the day. */
static uint64_t rate_now(const struct ferry_rate *r)
{
	time_t t;
	struct tm tm;
	int minute, i;

	if (r->n == 1)
		return r->p[0].rate;
	t = time(NULL);
	localtime_r(&t, &tm);
	minute = tm.tm_hour * 60 + tm.tm_min;
	for (i = r->n - 1; i >= 0; i--)
		if (r->p[i].minute <= minute)
			return r->p[i].rate;
	return r->p[r->n - 1].rate;
}

void ferry_rate_take(struct ferry_rate *r, uint64_t n)
{
	double wait = 0, t;
	uint64_t rate;

	if (!r || !n)
		return;
	pthread_mutex_lock(&r->mu);
	t = ferry_mono();
	rate = rate_now(r);
	if (rate != r->cur) {
		/* a new period starts from an empty bucket: no burst carried across */
		r->cur = rate;
		r->tokens = 0;
		r->last = t;
	}
	if (rate) {
		/* at most a quarter second's worth saved up, or one request's: the loop thread
		 * sleeps here, so time it spent on other work must count, or a request larger
		 * than a quarter second's worth would pay its full time on top of that work */
		double burst = (double)rate / 4 > (double)n ? (double)rate / 4 : (double)n;
		r->tokens += (t - r->last) * (double)rate;
		if (r->tokens > burst)
			r->tokens = burst;
		r->last = t;
		r->tokens -= (double)n;
		if (r->tokens < 0)
			wait = -r->tokens / (double)rate;
	}
	pthread_mutex_unlock(&r->mu);
	if (wait > 0) {
		struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

int ferry_parse_duration(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	if (v == 0 || v > UINT64_MAX / mul / 2)
		return -1;
	*out = v * mul;
	return 0;
}
