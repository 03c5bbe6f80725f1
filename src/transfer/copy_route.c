/*
 * copy --plan: the planner's split of bytes across routes, enforced while copying a
 * tree up to an object store. One backend per route (its endpoint and bind address),
 * one token bucket per route at its bandwidth, one thread per route; files are the
 * unit of the split. A monitor re-plans what has not started when a route's measured
 * rate stays off its planned rate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline.h"
#include "ferry/backend.h"
#include "ferry/copy.h"
#include "ferry/unattended.h"
#include "transfer_int.h"
#include "route_int.h"

#define UP_BUF (8u << 20)
#define MAX_FILES (64u << 20) /* files held in memory for the split */
#define MAX_REPLANS 8
#define TICK 0.25      /* seconds between the monitor's looks */
#define HIST 256       /* samples kept per route for the sliding window */

struct pfile {
	struct ferry_scan_item *it;
	unsigned route;
	int state; /* 0 pending, 1 started */
};

struct croute;

struct copyplan {
	const struct ferry_copy_plan *p;
	struct ferry_run *r;
	int root;
	struct pfile *f;
	size_t nf;
	size_t pending; /* files not started */
	int stop;       /* a route could not start: the others finish their file and stop */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	double t0;
	struct croute *rt;
};

struct croute {
	struct copyplan *cp;
	unsigned idx;
	struct ferry_loop *loop;
	struct ferry_backend *b;
	struct ferry_rate *rate;
	struct ferry_run sub;
	pthread_t th;
	int started;
	size_t cursor;
	double planned_rate; /* bytes/s the plan counts on (updated by a re-plan) */
	double plan_bytes;   /* the first plan's share */
	/* under cp->mu */
	double done_bytes; /* bytes whose uploads have landed (at a sync point) */
	uint64_t files;
	int busy, finished;
	double t_first, t_last; /* first file started, last sync */
	/* the monitor's */
	double hist_t[HIST], hist_b[HIST];
	unsigned nhist;
	double off_since; /* when the drift started (0: not drifting) */
	int err;
};

static int cmp_size_desc(const void *a, const void *b)
{
	const struct pfile *x = a, *y = b;

	if (x->it->size != y->it->size)
		return x->it->size < y->it->size ? 1 : -1;
	return strcmp(x->it->path, y->it->path);
}

/* Deals the pending files (largest first) to the route furthest below its share. */
static void assign(struct copyplan *cp, const double *share)
{
	double got[FERRY_PLAN_MAX_ROUTES] = { 0 };
	unsigned n = cp->p->n;

	for (size_t i = 0; i < cp->nf; i++) {
		unsigned best = n;
		double gap = -INFINITY;
		if (cp->f[i].state)
			continue;
		for (unsigned k = 0; k < n; k++) {
			if (share[k] <= 0)
				continue;
			double g = share[k] - got[k];
			if (g > gap) {
				gap = g;
				best = k;
			}
		}
		if (best == n) /* nothing planned anywhere (zero bytes): the first route */
			best = 0;
		cp->f[i].route = best;
		got[best] += (double)cp->f[i].it->size;
	}
	for (unsigned k = 0; k < n; k++)
		cp->rt[k].cursor = 0;
}

static void split_line(struct copyplan *cp, const char *what, const struct ferry_alloc *a, double total)
{
	char line[900];
	size_t len = 0;

	for (unsigned k = 0; k < cp->p->n && len < sizeof(line); k++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s %.0f bytes (%.1f%%, %.1f s, $%.4f)",
					k ? "; " : "", cp->p->model[k].name, a->bytes[k],
					total > 0 ? 100 * a->bytes[k] / total : 0, a->seconds[k], a->usd[k]);
	route_note(cp->p, "%s: %s", what, line);
}

static void plan_split(const struct ferry_copy_plan *p, const struct ferry_route *model, double bytes, double deadline,
		       struct ferry_alloc *a)
{
	if (!isnan(p->budget))
		ferry_route_fastest(model, p->n, bytes, p->budget, a);
	else
		ferry_route_cheapest(model, p->n, bytes, deadline, a);
}

static void *route_main(void *arg)
{
	struct croute *rt = arg;
	struct copyplan *cp = rt->cp;
	uint8_t *buf = malloc(UP_BUF);
	struct ferry_filehash *fh = ferry_filehash_create();
	/* a quarter of the drift window's worth of bytes between sync points: a drift shows
	 * within the window; each sync drains the route's uploads, a small cost on a long link */
	double since_sync = 0,
	       sync_every = fmax(1048576, cp->p->drift_seconds / 4 * cp->p->model[rt->idx].bandwidth);

	if (!buf || !fh) {
		rt->err = FERRY_E_NOMEM;
		pthread_mutex_lock(&cp->mu);
		rt->finished = 1;
		pthread_cond_broadcast(&cp->cond);
		pthread_mutex_unlock(&cp->mu);
		free(buf);
		ferry_filehash_destroy(fh);
		return NULL;
	}
	for (;;) {
		struct pfile *f = NULL;
		pthread_mutex_lock(&cp->mu);
		for (;;) {
			while (!cp->stop && rt->cursor < cp->nf && (cp->f[rt->cursor].state || cp->f[rt->cursor].route != rt->idx))
				rt->cursor++;
			if (!cp->stop && rt->cursor < cp->nf) {
				f = &cp->f[rt->cursor];
				f->state = 1;
				if (--cp->pending == 0)
					pthread_cond_broadcast(&cp->cond); /* the others may stop waiting */
				break;
			}
			if (cp->pending == 0 || cp->stop)
				break;
			pthread_cond_wait(&cp->cond, &cp->mu); /* a re-plan may give us more */
		}
		if (f) {
			rt->busy = 1;
			if (rt->t_first == 0)
				rt->t_first = ferry_mono();
		}
		pthread_mutex_unlock(&cp->mu);
		if (!f)
			break;
		store_copy_up_file(rt->b, rt->loop, cp->root, f->it, buf, fh, &rt->sub);
		since_sync += (double)f->it->size;
		/* wait for the uploads now and then, so the measured rate is what landed, not
		 * what the backend buffered (up to 128 MiB: a minute on a slow route) */
		int last = 0;
		pthread_mutex_lock(&cp->mu);
		last = cp->pending == 0;
		pthread_mutex_unlock(&cp->mu);
		if (since_sync >= sync_every || last) {
			int e = rt->b->ops->sync ? rt->b->ops->sync(rt->b) : 0;
			if (e && !rt->err) {
				store_problem(&rt->sub, rt->b->location, NULL, ferry_backend_err(e), "%s", store_berr(rt->b, e));
				rt->err = FERRY_E_IO;
			}
			pthread_mutex_lock(&cp->mu);
			rt->done_bytes += since_sync;
			rt->t_last = ferry_mono();
			pthread_mutex_unlock(&cp->mu);
			since_sync = 0;
		}
		pthread_mutex_lock(&cp->mu);
		rt->files++;
		rt->busy = 0;
		pthread_mutex_unlock(&cp->mu);
	}
	if (since_sync > 0) {
		int e = rt->b->ops->sync ? rt->b->ops->sync(rt->b) : 0;
		if (e && !rt->err) {
			store_problem(&rt->sub, rt->b->location, NULL, ferry_backend_err(e), "%s", store_berr(rt->b, e));
			rt->err = FERRY_E_IO;
		}
	}
	pthread_mutex_lock(&cp->mu);
	rt->done_bytes += since_sync;
	if (since_sync > 0)
		rt->t_last = ferry_mono();
	rt->finished = 1;
	pthread_cond_broadcast(&cp->cond);
	pthread_mutex_unlock(&cp->mu);
	free(buf);
	ferry_filehash_destroy(fh);
	return NULL;
}

/* problems from the route threads go to the caller's sink one at a time */
static pthread_mutex_t problem_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ferry_run *problem_parent;

static void route_problem(void *arg, const char *what, const char *chunk, int err, const char *detail)
{
	(void)arg;
	pthread_mutex_lock(&problem_mu);
	if (problem_parent && problem_parent->problem)
		problem_parent->problem(problem_parent->problem_arg, what, chunk, err, detail);
	pthread_mutex_unlock(&problem_mu);
}

/* The monitor: measured rates against the plan; re-plans the files not started. Under cp->mu. */
static void monitor(struct copyplan *cp, int *replans)
{
	const struct ferry_copy_plan *p = cp->p;
	double t = ferry_mono(), drift_rate[FERRY_PLAN_MAX_ROUTES];
	int drifting = 0, drifted[FERRY_PLAN_MAX_ROUTES] = { 0 };

	for (unsigned k = 0; k < p->n; k++) {
		struct croute *rt = &cp->rt[k];
		drift_rate[k] = rt->planned_rate;
		if (!rt->t_first || rt->finished)
			continue;
		if (rt->nhist == HIST) {
			memmove(rt->hist_t, rt->hist_t + 1, (HIST - 1) * sizeof(double));
			memmove(rt->hist_b, rt->hist_b + 1, (HIST - 1) * sizeof(double));
			rt->nhist--;
		}
		rt->hist_t[rt->nhist] = rt->t_last ? rt->t_last : rt->t_first;
		rt->hist_b[rt->nhist] = rt->done_bytes;
		rt->nhist++;
		/* the rate over the window: bytes landed between the oldest sample inside it and now */
		unsigned o = 0;
		while (o + 1 < rt->nhist && t - rt->hist_t[o + 1] >= p->drift_seconds)
			o++;
		double span = rt->hist_t[rt->nhist - 1] - rt->hist_t[o];
		if (t - rt->t_first < p->drift_seconds || span < p->drift_seconds / 2)
			continue; /* not enough history yet */
		double rate = (rt->hist_b[rt->nhist - 1] - rt->hist_b[o]) / span;
		/* a stall (no sync point for a whole window) counts as a rate of what landed since */
		if (t - rt->hist_t[rt->nhist - 1] > p->drift_seconds)
			rate = (rt->hist_b[rt->nhist - 1] - rt->hist_b[o]) / (t - rt->hist_t[o]);
		double off = fabs(rate - rt->planned_rate) / rt->planned_rate;
		if (off > p->drift) {
			if (!rt->off_since)
				rt->off_since = t;
			if (t - rt->off_since >= p->drift_seconds) {
				drifted[k] = 1;
				drift_rate[k] = fmax(rate, 1);
				drifting = 1;
			}
		} else {
			rt->off_since = 0;
		}
	}
	if (!drifting || *replans >= MAX_REPLANS || cp->pending == 0)
		return;
	(*replans)++;
	struct ferry_route model[FERRY_PLAN_MAX_ROUTES];
	struct ferry_alloc a;
	double remaining = 0, elapsed = t - cp->t0;
	char why[512];
	size_t len = 0;

	memcpy(model, p->model, sizeof(model));
	for (unsigned k = 0; k < p->n; k++) {
		/* a route is as fast as measured, never faster than its limit */
		model[k].bandwidth = fmin(drift_rate[k], p->model[k].bandwidth);
		if (drifted[k] && len < sizeof(why))
			len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s measured %.1f Mbit/s, planned %.1f",
						len ? "; " : "", model[k].name, drift_rate[k] * 8 / 1e6,
						cp->rt[k].planned_rate * 8 / 1e6);
	}
	for (size_t i = 0; i < cp->nf; i++)
		if (!cp->f[i].state)
			remaining += (double)cp->f[i].it->size;
	plan_split(p, model, remaining, isinf(p->deadline) ? INFINITY : fmax(p->deadline - elapsed, TICK), &a);
	char what[700];
	snprintf(what, sizeof(what), "re-plan at %.1f s (%s): %.0f bytes not started%s", elapsed, why, remaining,
		 a.feasible ? "" : " (the deadline cannot be met; the best split)");
	split_line(cp, what, &a, remaining);
	assign(cp, a.bytes);
	for (unsigned k = 0; k < p->n; k++) {
		cp->rt[k].planned_rate = model[k].bandwidth;
		cp->rt[k].off_since = 0;
		cp->rt[k].nhist = 0;
	}
	pthread_cond_broadcast(&cp->cond);
}

int ferry_copy_planned(const char *src, const char *url, const struct ferry_copy_plan *p, struct ferry_run *r)
{
	struct copyplan cp = { .p = p, .r = r, .root = -1 };
	struct croute rt[FERRY_PLAN_MAX_ROUTES];
	struct ferry_scan *sc = NULL;
	struct ferry_alloc a;
	size_t cap = 0;
	uint64_t symlinks = 0;
	double total = 0;
	int done = 0, err = FERRY_OK, replans = 0;

	memset(rt, 0, sizeof(rt));
	if (p->n == 0 || p->n > FERRY_PLAN_MAX_ROUTES || !(ferry_location_caps(url) & FERRY_CAP_OBJECT_STORE)) {
		store_problem(r, url, NULL, FERRY_E_INVAL,
			      "copy --plan: the destination must be an object store such as s3://BUCKET[/PREFIX], "
			      "and routes 1 to %d", FERRY_PLAN_MAX_ROUTES);
		return FERRY_E_INVAL;
	}
	cp.root = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cp.root < 0) {
		store_problem(r, src, NULL, FERRY_E_IO, "cannot open source: %s", strerror(errno));
		return errno == ENOENT ? FERRY_E_INVAL : FERRY_E_IO;
	}
	/* the whole file list first: the split needs the total */
	if ((err = ferry_scan_start(&sc, src, 4096, -1))) {
		store_problem(r, src, NULL, err, "cannot walk the source");
		goto out;
	}
	while (!done) {
		struct ferry_scan_item *it = ferry_scan_next(sc, &done);
		if (!it) {
			if (!done)
				usleep(200);
			continue;
		}
		if (it->type == FERRY_ENTRY_FILE) {
			if (cp.nf == MAX_FILES) {
				store_problem(r, src, NULL, FERRY_E_TOOBIG, "copy --plan: more than %u files", MAX_FILES);
				ferry_scan_item_free(it);
				err = FERRY_E_TOOBIG;
				goto out;
			}
			if (cp.nf == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				struct pfile *nf = realloc(cp.f, nc * sizeof(*nf));
				if (!nf) {
					ferry_scan_item_free(it);
					err = FERRY_E_NOMEM;
					goto out;
				}
				cp.f = nf;
				cap = nc;
			}
			cp.f[cp.nf++] = (struct pfile){ .it = it };
			r->files_total++;
			r->bytes_total += it->size;
			total += (double)it->size;
			continue;
		}
		if (it->type == 0)
			store_problem(r, it->path ? it->path : src, NULL, FERRY_E_IO, "%s", it->error);
		else if (it->type == FERRY_ENTRY_SYMLINK)
			symlinks++;
		ferry_scan_item_free(it);
	}
	ferry_scan_stop(sc);
	sc = NULL;
	qsort(cp.f, cp.nf, sizeof(*cp.f), cmp_size_desc);
	cp.pending = cp.nf;
	cp.rt = rt;

	/* the plan */
	plan_split(p, p->model, total, p->deadline, &a);
	{
		char what[300];
		snprintf(what, sizeof(what), "plan: %zu files, %.0f bytes over %u routes%s", cp.nf, total, p->n,
			 a.feasible ? "" : isnan(p->budget) ? " (the deadline cannot be met: the fastest split)"
							    : " (over budget: the cheapest split)");
		split_line(&cp, what, &a, total);
	}
	for (unsigned k = 0; k < p->n; k++) {
		rt[k].cp = &cp;
		rt[k].idx = k;
		rt[k].planned_rate = p->model[k].bandwidth;
		rt[k].plan_bytes = a.bytes[k];
	}
	assign(&cp, a.bytes);
	if (r->dry_run)
		goto out;

	/* one backend per route, each on a loop of its own: all open here, before any
	 * request or route thread runs */
	for (unsigned k = 0; k < p->n; k++) {
		char msg[700], spec[64];
		if ((err = ferry_loop_create(&rt[k].loop, NULL))) {
			store_problem(r, url, NULL, err, "route %s: cannot set up io_uring", p->model[k].name);
			goto out;
		}
		if ((err = route_backend_open(p, k, url, r->backend_opts, rt[k].loop, &rt[k].b, msg, sizeof(msg)))) {
			store_problem(r, url, NULL, err, "route %s: %s", p->model[k].name, msg);
			goto out;
		}
		snprintf(spec, sizeof(spec), "%.0f", fmax(p->model[k].bandwidth, 1024));
		if ((err = ferry_rate_create(&rt[k].rate, spec, msg, sizeof(msg)))) {
			store_problem(r, url, NULL, err, "route %s: %s", p->model[k].name, msg);
			goto out;
		}
	}
	pthread_mutex_init(&cp.mu, NULL);
	pthread_cond_init(&cp.cond, NULL);
	problem_parent = r;
	cp.t0 = ferry_mono();
	for (unsigned k = 0; k < p->n; k++) {
		rt[k].sub = *r;
		rt[k].sub.problem = route_problem;
		rt[k].sub.progress = NULL;
		rt[k].sub.rate = rt[k].rate;
		rt[k].sub.errors = rt[k].sub.integrity_errors = 0;
		rt[k].sub.files_transferred = rt[k].sub.bytes_read = rt[k].sub.bytes_written = 0;
		if (pthread_create(&rt[k].th, NULL, route_main, &rt[k]) == 0) {
			rt[k].started = 1;
		} else {
			pthread_mutex_lock(&cp.mu);
			cp.stop = 1;
			for (unsigned j = k; j < p->n; j++)
				rt[j].finished = 1;
			pthread_cond_broadcast(&cp.cond);
			pthread_mutex_unlock(&cp.mu);
			store_problem(r, url, NULL, FERRY_E_NOMEM, "route %s: cannot start a thread", p->model[k].name);
			err = FERRY_E_NOMEM;
			break;
		}
	}
	pthread_mutex_lock(&cp.mu);
	for (;;) {
		unsigned fin = 0;
		for (unsigned k = 0; k < p->n; k++)
			fin += rt[k].finished;
		if (fin == p->n)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(TICK * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cp.cond, &cp.mu, &ts);
		monitor(&cp, &replans);
		if (r->progress) {
			r->files_transferred = r->bytes_written = 0;
			for (unsigned k = 0; k < p->n; k++)
				r->bytes_written += (uint64_t)rt[k].done_bytes;
			pthread_mutex_lock(&problem_mu); /* the caller's sinks see one thread at a time */
			r->progress(r->progress_arg, r);
			pthread_mutex_unlock(&problem_mu);
		}
	}
	pthread_mutex_unlock(&cp.mu);
	for (unsigned k = 0; k < p->n; k++)
		if (rt[k].started)
			pthread_join(rt[k].th, NULL);
	problem_parent = NULL;
	r->files_transferred = r->bytes_read = r->bytes_written = 0;
	double t_end = ferry_mono();
	for (unsigned k = 0; k < p->n; k++) {
		double secs = (rt[k].t_last > 0 ? rt[k].t_last : t_end) - cp.t0;
		r->files_transferred += rt[k].sub.files_transferred;
		r->bytes_read += rt[k].sub.bytes_read;
		r->bytes_written += rt[k].sub.bytes_written;
		r->errors += rt[k].sub.errors;
		r->integrity_errors += rt[k].sub.integrity_errors;
		if (rt[k].err && !err)
			err = rt[k].err;
		route_note(p, "route %s: %llu files, %.0f bytes (%.1f%% of all; first plan %.1f%%), %.1f s, %.1f Mbit/s "
			"(limit %.1f)",
		     p->model[k].name, (unsigned long long)rt[k].files, (double)rt[k].sub.bytes_written,
		     total > 0 ? 100 * (double)rt[k].sub.bytes_written / total : 0,
		     total > 0 ? 100 * rt[k].plan_bytes / total : 0, secs,
		     secs > 0 ? (double)rt[k].sub.bytes_written * 8 / secs / 1e6 : 0, p->model[k].bandwidth * 8 / 1e6);
	}
	route_note(p, "done in %.1f s, %d re-plan%s", t_end - cp.t0, replans, replans == 1 ? "" : "s");
	pthread_cond_destroy(&cp.cond);
	pthread_mutex_destroy(&cp.mu);
	if (symlinks && r->verbose)
		fprintf(stderr, "ferry: copy: %llu symlinks not copied (object stores have none)\n",
			(unsigned long long)symlinks);
out:
	if (sc)
		ferry_scan_stop(sc);
	for (unsigned k = 0; k < p->n; k++) {
		ferry_backend_close(rt[k].b);
		if (rt[k].loop)
			ferry_loop_destroy(rt[k].loop);
		ferry_rate_destroy(rt[k].rate);
	}
	for (size_t i = 0; i < cp.nf; i++)
		ferry_scan_item_free(cp.f[i].it);
	free(cp.f);
	if (cp.root >= 0)
		close(cp.root);
	return err ? err : r->errors ? FERRY_E_IO : FERRY_OK;
}
