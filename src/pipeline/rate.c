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
#include <time.h>

#include "ferry/unattended.h"
#include "ferry/units.h"

struct ferry_rate {
	pthread_mutex_t mu;
	struct ferry_timetable t;
	double tokens; /* may be negative: debt */
	double last;   /* CLOCK_MONOTONIC of the last refill */
	uint64_t cur;  /* the rate in force at the last take */
};

int ferry_rate_create(struct ferry_rate **out, const char *spec, char *msg, size_t msglen)
{
	struct ferry_rate *r;
	char why[256];

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return FERRY_E_NOMEM;
	if (ferry_parse_timetable(spec, &r->t, why, sizeof(why))) {
		snprintf(msg, msglen, "--bwlimit: %s", why);
		free(r);
		return FERRY_E_INVAL;
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

	if (r->t.n == 1)
		return r->t.p[0].rate;
	t = time(NULL);
	localtime_r(&t, &tm);
	minute = tm.tm_hour * 60 + tm.tm_min;
	for (i = (int)r->t.n - 1; i >= 0; i--)
		if (r->t.p[i].minute <= minute)
			return r->t.p[i].rate;
	return r->t.p[r->t.n - 1].rate;
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
