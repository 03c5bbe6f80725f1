/*
 * push|sync --plan: a backend that spreads a store's objects over the planner's routes.
 * It wraps one S3 backend per route (its endpoint, its bind address) on the store's own
 * loop and stands in for the store's backend, so push's pipeline is unchanged: each
 * object written goes, whole, to the route furthest below its planned share of the
 * bytes written so far, through that route's token bucket. Everything else (config,
 * locks, manifests, listings, reads) goes to the store's own backend: every route
 * reaches the same bucket. Re-plans the rest of the bytes when a route's landed rate
 * stays off its planned rate.
 *
 * An object is opened on its route's backend only when its first write leaves the
 * route's queue, and a route takes a new object only while the bytes it has taken and
 * not landed are under half a second at its limit: the S3 backend would otherwise take
 * up to 128 MiB per route at once, and a slow route would hold most of a run before its
 * first object landed. Objects still waiting in a queue when a re-plan comes are routed
 * again by the new plan.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"
#include "ferry/backend.h"
#include "ferry/copy.h"
#include "ferry/unattended.h"
#include "store_int.h"
#include "route_int.h"

int route_backend_open(const struct ferry_copy_plan *p, unsigned k, const char *url, const struct ferry_kv *opts,
		       struct ferry_loop *loop, struct ferry_backend **b, char *msg, size_t msglen)
{
	/* the route's own endpoint and source address before the run's options (the first
	 * wins); a route without an address sends from any ("", not FERRY_S3_BIND's) */
	struct ferry_kv own[3] = { { "bind", p->route[k].bind }, { NULL, NULL }, { NULL, NULL } };

	if (p->route[k].endpoint[0])
		own[1] = (struct ferry_kv){ "endpoint", p->route[k].endpoint };
	struct ferry_kv *all = ferry_kv_dup(own, opts);
	if (!all)
		return FERRY_E_NOMEM;
	int err = ferry_backend_open(b, url, all, loop, msg, msglen);
	free(all);
	return err;
}

void route_note(const struct ferry_copy_plan *p, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!p->note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->note(p->note_arg, line);
}

#define MAX_REPLANS 8
/* the bytes of committed objects a route may hold unlanded before it opens another
 * object: ROOM_SECONDS at its limit, at least ROOM_MIN. Objects still being written do
 * not count: they may wait for data the memory budget cannot give until queued writes
 * leave, and committed ones land (or fail) whatever the pipeline does. */
#define ROOM_SECONDS 0.5
#define ROOM_MIN (2u << 20)

struct routeset;

struct rroute {
	struct routeset *rs;
	struct ferry_backend *b;
	double rate;  /* the route's limit, bytes/s */
	double vnext; /* the pacer's clock: when what was let through so far is paid for */
	/* the pacer: writes wait in a queue for their time, so the loop never does */
	pthread_t th;
	int th_started, quit;
	pthread_mutex_t qmu;
	pthread_cond_t qcond;
	struct qw *qhead, *qtail;
	double planned_rate; /* bytes/s the plan counts on (a re-plan lowers it) */
	double first_share;  /* the first plan's bytes */
	/* the loop thread's */
	double assigned;     /* bytes handed to this route's writes */
	double base;         /* assigned at the last (re-)plan */
	double frac;         /* share of the bytes from the last plan on */
	uint64_t objects;
	double off_since;
	/* under mu: from the pacer and the backends' threads */
	double passed;       /* bytes handed to the backend */
	double busy_total;   /* seconds with passed bytes not yet landed, up to busy_since */
	double busy_since;   /* when the route last got busy, or 0 */
	double committed;    /* bytes of objects committed or aborted (all written) */
	double landed;       /* bytes of objects that are durable on the server */
	double settled;      /* bytes of objects that failed or were aborted */
	double t_first, t_last;
};

/* one per route, so an event knows where its object went */
struct rev {
	struct routeset *rs;
	unsigned k;
};

struct routeset {
	struct rev ev[FERRY_PLAN_MAX_ROUTES];
	struct ferry_backend *orig; /* the store's own: small objects, listings, reads */
	const struct ferry_copy_plan *p;
	unsigned n;
	struct rroute rt[FERRY_PLAN_MAX_ROUTES];
	double total;      /* the bytes the plan was made for */
	double base_total; /* all routes' assigned at the last plan */
	double t0;
	double last_check; /* the loop's last look at the rates */
	int replans;
	pthread_mutex_t mu;
	/* the plan's state (shares, placements, assigned bytes, re-plans): the loop's writes
	 * and a pacer waiting for room both look at the rates */
	pthread_mutex_t pm;
	struct ferry_wevents up; /* the caller's (the journal), forwarded */
	int have_up;
};

struct rwobj {
	struct ferry_wobj *w; /* the route's, once opened (by its pacer) */
	unsigned k;
	int claimed;  /* under the route's qmu: a pacer took its first write; it stays */
	int err;      /* opening it failed: its writes fail with this */
	double bytes; /* handed to r_write so far (the loop's) */
	char key[];
};

struct qw {
	struct qw *next;
	struct rwobj *o;
	struct ferry_io *io;
};

#define UNPLACED (~0u)
static unsigned pick(struct routeset *rs);


static void split(const struct ferry_copy_plan *p, const struct ferry_route *model, double bytes, double deadline,
		  struct ferry_alloc *a)
{
	if (!isnan(p->budget))
		ferry_route_fastest(model, p->n, bytes, p->budget, a);
	else
		ferry_route_cheapest(model, p->n, bytes, deadline, a);
}

static void split_line(struct routeset *rs, const char *what, const struct ferry_alloc *a, double total)
{
	char line[900];
	size_t len = 0;

	for (unsigned k = 0; k < rs->n && len < sizeof(line); k++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s %.0f bytes (%.1f%%, %.1f s, $%.4f)",
					k ? "; " : "", rs->p->model[k].name, a->bytes[k],
					total > 0 ? 100 * a->bytes[k] / total : 0, a->seconds[k], a->usd[k]);
	route_note(rs->p, "%s: %s", what, line);
}

/* From here on, the bytes go as a says (shares of what is written after now). */
static void set_shares(struct routeset *rs, const struct ferry_alloc *a)
{
	double sum = 0;

	for (unsigned k = 0; k < rs->n; k++)
		sum += a->bytes[k];
	rs->base_total = 0;
	for (unsigned k = 0; k < rs->n; k++) {
		rs->rt[k].base = rs->rt[k].assigned;
		rs->base_total += rs->rt[k].assigned;
		/* nothing planned anywhere (zero bytes): the first route */
		rs->rt[k].frac = sum > 0 ? a->bytes[k] / sum : k == 0;
	}
}

static void enqueue(struct rroute *rt, struct qw *q)
{
	q->next = NULL;
	pthread_mutex_lock(&rt->qmu);
	if (rt->qtail)
		rt->qtail->next = q;
	else
		rt->qhead = q;
	rt->qtail = q;
	pthread_cond_signal(&rt->qcond);
	pthread_mutex_unlock(&rt->qmu);
}

/* Takes every queued write of objects no pacer has started out of the queues, in order,
 * and their bytes off their routes (on the loop thread, before a re-plan). */
static struct qw *unclaim(struct routeset *rs)
{
	struct qw *back = NULL, **tail = &back;

	for (unsigned k = 0; k < rs->n; k++) {
		struct rroute *rt = &rs->rt[k];
		pthread_mutex_lock(&rt->qmu);
		struct qw **pp = &rt->qhead, *last = NULL;
		while (*pp) {
			struct qw *q = *pp;
			if (q->o->claimed) {
				last = q;
				pp = &q->next;
				continue;
			}
			*pp = q->next;
			q->next = NULL;
			*tail = q;
			tail = &q->next;
			if (q->o->k != UNPLACED) {
				rt->assigned -= q->o->bytes;
				rt->objects--;
				q->o->k = UNPLACED;
			}
		}
		rt->qtail = last;
		pthread_mutex_unlock(&rt->qmu);
	}
	return back;
}

/* Routes the writes unclaim() took by the plan now in force, each object whole. */
static void requeue(struct routeset *rs, struct qw *back)
{
	while (back) {
		struct qw *q = back;
		back = q->next;
		if (q->o->k == UNPLACED) {
			q->o->k = pick(rs);
			rs->rt[q->o->k].assigned += q->o->bytes;
			rs->rt[q->o->k].objects++;
		}
		enqueue(&rs->rt[q->o->k], q);
	}
}

/* A route's landed rate against its plan; re-plans what is not yet written when one
 * stays off by more than the drift for drift_seconds. On the loop thread (wopen). */
static void check_drift_locked(struct routeset *rs)
{
	const struct ferry_copy_plan *p = rs->p;
	double t = ferry_mono(), rate[FERRY_PLAN_MAX_ROUTES], assigned = 0;
	int drifting = 0, drifted[FERRY_PLAN_MAX_ROUTES] = { 0 };

	pthread_mutex_lock(&rs->mu);
	for (unsigned k = 0; k < rs->n; k++) {
		struct rroute *rt = &rs->rt[k];
		assigned += rt->assigned;
		rate[k] = rt->planned_rate;
		double busy = rt->busy_total + (rt->busy_since ? t - rt->busy_since : 0);
		/* busy for a window at least, something still owed */
		if (busy < p->drift_seconds || rt->passed <= 0 || rt->assigned <= rt->landed)
			continue;
		/* the most the route can have done: all it was handed over the time it held
		 * any of it (a stall counts). An upper bound: objects land whole, several at a
		 * time, so what landed alone says too little until they do; below the plan
		 * even so, the route is slow for sure, and a later look lowers it further. */
		double r = rt->passed / busy;
		if (fabs(r - rt->planned_rate) / rt->planned_rate > p->drift && r < rt->planned_rate) {
			if (!rt->off_since)
				rt->off_since = t;
			if (t - rt->off_since >= p->drift_seconds) {
				drifted[k] = 1;
				rate[k] = fmax(r, 1);
				drifting = 1;
			}
		} else {
			rt->off_since = 0;
		}
	}
	pthread_mutex_unlock(&rs->mu);
	if (!drifting || rs->replans >= MAX_REPLANS)
		return;
	/* the objects still queued whole go back to be planned again */
	struct qw *back = unclaim(rs);
	assigned = 0;
	for (unsigned k = 0; k < rs->n; k++)
		assigned += rs->rt[k].assigned;
	double remaining = rs->total - assigned, elapsed = t - rs->t0;
	if (remaining <= 0) {
		requeue(rs, back);
		return;
	}
	rs->replans++;
	struct ferry_route model[FERRY_PLAN_MAX_ROUTES];
	struct ferry_alloc a;
	char why[512], what[700];
	size_t len = 0;
	memcpy(model, p->model, sizeof(model));
	for (unsigned k = 0; k < rs->n; k++) {
		model[k].bandwidth = fmin(rate[k], p->model[k].bandwidth);
		if (drifted[k] && len < sizeof(why))
			len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s measured %.1f Mbit/s, planned %.1f",
						len ? "; " : "", model[k].name, rate[k] * 8 / 1e6,
						rs->rt[k].planned_rate * 8 / 1e6);
	}
	split(p, model, remaining, isinf(p->deadline) ? INFINITY : fmax(p->deadline - elapsed, 0.25), &a);
	snprintf(what, sizeof(what), "re-plan at %.1f s (%s): %.0f bytes not yet written%s", elapsed, why, remaining,
		 a.feasible ? "" : " (the deadline cannot be met; the best split)");
	split_line(rs, what, &a, remaining);
	set_shares(rs, &a);
	for (unsigned k = 0; k < rs->n; k++) {
		rs->rt[k].planned_rate = model[k].bandwidth;
		rs->rt[k].off_since = 0;
	}
	requeue(rs, back);
}

/* At most ten times a second, from the loop's writes or a pacer waiting for room. */
static void check_drift(struct routeset *rs, int always)
{
	pthread_mutex_lock(&rs->pm);
	double t = ferry_mono();
	if (always || t - rs->last_check >= 0.1) {
		rs->last_check = t;
		check_drift_locked(rs);
	}
	pthread_mutex_unlock(&rs->pm);
}

/* The route furthest below its share of what was written since the last plan. */
static unsigned pick(struct routeset *rs)
{
	double since = 0, gap = -INFINITY;
	unsigned best = 0;

	for (unsigned k = 0; k < rs->n; k++)
		since += rs->rt[k].assigned - rs->rt[k].base;
	for (unsigned k = 0; k < rs->n; k++) {
		if (rs->rt[k].frac <= 0)
			continue;
		double g = rs->rt[k].frac * (since + 1) - (rs->rt[k].assigned - rs->rt[k].base);
		if (g > gap) {
			gap = g;
			best = k;
		}
	}
	return best;
}

/* Busy is the time with bytes handed to the route's backend not yet landed: what a
 * route moved over it is its rate, however long the run left it with nothing to do.
 * After every change of passed, landed or settled; under mu. */
static void busy_update(struct rroute *rt, double t)
{
	int busy = rt->passed - rt->landed - rt->settled > 0.5;

	if (busy && !rt->busy_since) {
		rt->busy_since = t;
	} else if (!busy && rt->busy_since) {
		rt->busy_total += t - rt->busy_since;
		rt->busy_since = 0;
	}
}

/* ---- the backends' write events: landed bytes, and the journal's events forwarded ---- */

static void ev_started(void *arg, const char *key, const char *upload_id)
{
	struct routeset *rs = ((struct rev *)arg)->rs;
	pthread_mutex_lock(&rs->mu);
	if (rs->have_up && rs->up.started)
		rs->up.started(rs->up.arg, key, upload_id);
	pthread_mutex_unlock(&rs->mu);
}

static void ev_reused(void *arg, const char *key, uint64_t bytes)
{
	struct routeset *rs = ((struct rev *)arg)->rs;
	pthread_mutex_lock(&rs->mu);
	if (rs->have_up && rs->up.reused)
		rs->up.reused(rs->up.arg, key, bytes);
	pthread_mutex_unlock(&rs->mu);
}

static void ev_finished(void *arg, const char *key, uint64_t size, int res)
{
	struct rev *e = arg;
	struct routeset *rs = e->rs;
	pthread_mutex_lock(&rs->mu);
	double t = ferry_mono();
	if (res == 0) {
		rs->rt[e->k].landed += (double)size;
		rs->rt[e->k].t_last = t;
	} else {
		rs->rt[e->k].settled += (double)size;
	}
	busy_update(&rs->rt[e->k], t);
	if (rs->have_up && rs->up.finished)
		rs->up.finished(rs->up.arg, key, size, res);
	pthread_mutex_unlock(&rs->mu);
}

/* ---- the backend ---- */

static struct routeset *RS(struct ferry_backend *b)
{
	return b->priv;
}

static void stop_pacers(struct routeset *rs)
{
	for (unsigned k = 0; k < rs->n; k++) {
		struct rroute *rt = &rs->rt[k];
		if (!rt->th_started)
			continue;
		pthread_mutex_lock(&rt->qmu);
		rt->quit = 1;
		pthread_cond_signal(&rt->qcond);
		pthread_mutex_unlock(&rt->qmu);
		pthread_join(rt->th, NULL);
		rt->th_started = 0;
		pthread_cond_destroy(&rt->qcond);
		pthread_mutex_destroy(&rt->qmu);
	}
}

static void r_close(struct ferry_backend *b)
{
	struct routeset *rs = RS(b);

	stop_pacers(rs);
	for (unsigned k = 0; k < rs->n; k++)
		ferry_backend_close(rs->rt[k].b);
	ferry_backend_close(rs->orig);
	pthread_mutex_destroy(&rs->mu);
	pthread_mutex_destroy(&rs->pm);
}

static int r_get(struct ferry_backend *b, const char *key, uint8_t **buf, size_t *len, size_t max)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->get(o, key, buf, len, max);
}

static int r_put(struct ferry_backend *b, const char *key, const void *buf, size_t len, int exclusive)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->put(o, key, buf, len, exclusive);
}

static int r_stat(struct ferry_backend *b, const char *key, uint64_t *size)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->stat(o, key, size);
}

static int r_list(struct ferry_backend *b, const char *prefix, ferry_list_fn fn, void *arg)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->list(o, prefix, fn, arg);
}

static int r_del(struct ferry_backend *b, const char *key)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->del(o, key);
}

/* Opens o on its route's backend (placing it first if it has no route yet). */
static int open_placed(struct routeset *rs, struct rwobj *o, const char *upload_id)
{
	if (o->k == UNPLACED) {
		o->k = pick(rs);
		rs->rt[o->k].objects++;
	}
	struct ferry_backend *sb = rs->rt[o->k].b;
	int e = upload_id ? sb->ops->wresume(sb, o->key, upload_id, &o->w) : sb->ops->wopen(sb, o->key, &o->w);
	if (e)
		o->w = NULL;
	return e;
}

/* A new object gets its route at its first write, and is opened there when that write
 * leaves the route's queue; a resumed upload is placed and opened at once (the server
 * may have dropped it: the caller must know now). */
static int r_open_on(struct ferry_backend *b, const char *key, const char *upload_id, struct ferry_wobj **out)
{
	struct routeset *rs = RS(b);
	size_t kl = strlen(key);
	struct rwobj *o = calloc(1, sizeof(*o) + kl + 1);

	if (!o)
		return -ENOMEM;
	memcpy(o->key, key, kl + 1);
	o->k = UNPLACED;
	check_drift(rs, 1);
	if (upload_id) {
		pthread_mutex_lock(&rs->pm);
		int e = open_placed(rs, o, upload_id);
		if (e)
			rs->rt[o->k].objects--;
		pthread_mutex_unlock(&rs->pm);
		if (e) {
			free(o);
			return e;
		}
		o->claimed = 1;
	}
	*out = (struct ferry_wobj *)o;
	return 0;
}

static int r_wopen(struct ferry_backend *b, const char *key, struct ferry_wobj **out)
{
	return r_open_on(b, key, NULL, out);
}

static int r_wresume(struct ferry_backend *b, const char *key, const char *upload_id, struct ferry_wobj **out)
{
	/* an upload id is the server's: any route reaching the bucket can continue it */
	return r_open_on(b, key, upload_id, out);
}

/* The route's bandwidth is its limit, enforced by one pacer thread per route that hands
 * the writes to the route's backend when their time comes (the S3 backend takes writes
 * from any thread; completions still reach the loop). Blocking the loop instead, as
 * --bwlimit does, stalls reading and encoding for every route, and a route limited to
 * its link's own rate then runs well below it. Up to PACE_BURST seconds not used are
 * saved up, as a tbf's burst would be. */
#define PACE_BURST 1.0
static void pace(struct rroute *rt, size_t len)
{
	double t = ferry_mono();

	if (rt->vnext < t - PACE_BURST)
		rt->vnext = t - PACE_BURST;
	rt->vnext += (double)len / rt->rate;
	if (rt->vnext > t) {
		double w = rt->vnext - t;
		struct timespec ts = { (time_t)w, (long)((w - (double)(time_t)w) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/* Whether the route may open another object: its committed objects not yet landed
 * are under its room. Under qmu. */
static int has_room(struct rroute *rt)
{
	pthread_mutex_lock(&rt->rs->mu);
	double backlog = rt->committed - rt->landed - rt->settled;
	pthread_mutex_unlock(&rt->rs->mu);
	return backlog <= fmax(ROOM_MIN, ROOM_SECONDS * rt->rate);
}

/* The next write to let through: the first of an object already under way, else (room
 * allowing) the first queued, whose object then opens. Under qmu; NULL: none now. */
static struct qw *next_write(struct rroute *rt)
{
	struct qw **pp = &rt->qhead, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next)
		if ((*pp)->o->claimed)
			break;
	if (!*pp) {
		if (!rt->qhead || !has_room(rt))
			return NULL;
		pp = &rt->qhead;
		prev = NULL;
		rt->qhead->o->claimed = 1;
	}
	struct qw *q = *pp;
	*pp = q->next;
	if (rt->qtail == q)
		rt->qtail = prev;
	pthread_mutex_lock(&rt->rs->mu);
	rt->passed += (double)q->io->len;
	busy_update(rt, ferry_mono());
	pthread_mutex_unlock(&rt->rs->mu);
	return q;
}

static void *pacer_main(void *arg)
{
	struct rroute *rt = arg;

	for (;;) {
		struct qw *q;
		pthread_mutex_lock(&rt->qmu);
		while (!(q = next_write(rt)) && !(rt->quit && !rt->qhead)) {
			if (!rt->qhead) {
				pthread_cond_wait(&rt->qcond, &rt->qmu);
			} else { /* waiting for room: look again in 10 ms, and at the rates (the
				  * loop may have nothing to write while this waits) */
				pthread_mutex_unlock(&rt->qmu);
				check_drift(rt->rs, 0);
				pthread_mutex_lock(&rt->qmu);
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += 10 * 1000 * 1000;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&rt->qcond, &rt->qmu, &ts);
			}
		}
		pthread_mutex_unlock(&rt->qmu);
		if (!q)
			break; /* quit, and nothing queued */
		struct rwobj *o = q->o;
		int e = o->err;
		if (!e && !o->w && (e = open_placed(rt->rs, o, NULL)))
			o->err = e;
		if (!e) {
			pace(rt, q->io->len);
			e = rt->b->ops->write(rt->b, o->w, q->io);
		}
		if (e) {
			/* the S3 backend queues and never fails here (nor opens, but on ENOMEM);
			 * complete it with the error anyway */
			q->io->res = e;
			q->io->done(q->io);
		}
		free(q);
	}
	return NULL;
}

static int r_write(struct ferry_backend *b, struct ferry_wobj *wo, struct ferry_io *io)
{
	struct routeset *rs = RS(b);
	struct rwobj *o = (struct rwobj *)wo;
	struct qw *q = malloc(sizeof(*q));

	if (!q)
		return -ENOMEM;
	/* writes come all through the run (objects open only at its start when they fit in
	 * memory): look at the rates here too */
	check_drift(rs, 0);
	pthread_mutex_lock(&rs->pm);
	if (o->k == UNPLACED) {
		o->k = pick(rs);
		rs->rt[o->k].objects++;
	}
	struct rroute *rt = &rs->rt[o->k];
	rt->assigned += (double)io->len;
	o->bytes += (double)io->len;
	if (!rt->t_first) {
		pthread_mutex_lock(&rs->mu);
		rt->t_first = ferry_mono();
		pthread_mutex_unlock(&rs->mu);
	}
	*q = (struct qw){ NULL, o, io };
	enqueue(rt, q);
	pthread_mutex_unlock(&rs->pm);
	return 0;
}

static int r_commit(struct ferry_backend *b, struct ferry_wobj *wo, int durable)
{
	struct routeset *rs = RS(b);
	struct rwobj *o = (struct rwobj *)wo;
	/* every write has left its queue (they are done): nothing can claim it now */
	int e = o->err;
	if (!e && !o->w)
		e = open_placed(rs, o, NULL); /* never written to */
	if (!e) {
		e = rs->rt[o->k].b->ops->commit(rs->rt[o->k].b, o->w, durable);
		pthread_mutex_lock(&rs->mu); /* its end, landed or failed, comes as an event */
		rs->rt[o->k].committed += o->bytes;
		pthread_mutex_unlock(&rs->mu);
	}
	free(o);
	return e;
}

static int r_sync(struct ferry_backend *b)
{
	struct routeset *rs = RS(b);
	int first = 0;

	for (unsigned k = 0; k < rs->n; k++) {
		struct ferry_backend *sb = rs->rt[k].b;
		int e = sb->ops->sync ? sb->ops->sync(sb) : 0;
		if (e && !first)
			first = e;
	}
	return first;
}

static void r_abort(struct ferry_backend *b, struct ferry_wobj *wo)
{
	struct routeset *rs = RS(b);
	struct rwobj *o = (struct rwobj *)wo;
	if (o->w) {
		struct ferry_backend *sb = rs->rt[o->k].b;
		sb->ops->abort(sb, o->w);
		pthread_mutex_lock(&rs->mu); /* its end comes as a failed event */
		rs->rt[o->k].committed += o->bytes;
		pthread_mutex_unlock(&rs->mu);
	}
	free(o);
}

static int r_wmeta(struct ferry_backend *b, struct ferry_wobj *wo, const char *name, const char *value)
{
	struct routeset *rs = RS(b);
	struct rwobj *o = (struct rwobj *)wo;
	int e;

	if (!o->w) { /* before its first write (push sets none; copy is not routed here) */
		if (o->bytes > 0)
			return -EBUSY;
		if ((e = open_placed(rs, o, NULL)))
			return e;
		o->claimed = 1;
	}
	struct ferry_backend *sb = rs->rt[o->k].b;
	return sb->ops->wmeta ? sb->ops->wmeta(sb, o->w, name, value) : -ENOTSUP;
}

static int r_ropen(struct ferry_backend *b, const char *key, struct ferry_robj **r, uint64_t *size)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->ropen(o, key, r, size);
}

static int r_read(struct ferry_backend *b, struct ferry_robj *r, struct ferry_io *io)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->read(o, r, io);
}

static void r_rclose(struct ferry_backend *b, struct ferry_robj *r)
{
	struct ferry_backend *o = RS(b)->orig;
	o->ops->rclose(o, r);
}

static int r_rmeta(struct ferry_backend *b, struct ferry_robj *r, const char *name, char *value, size_t len)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->rmeta ? o->ops->rmeta(o, r, name, value, len) : -ENOTSUP;
}

static int r_content_md5(struct ferry_backend *b, struct ferry_robj *r, uint8_t md5[16])
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->content_md5 ? o->ops->content_md5(o, r, md5) : -ENOENT;
}

static void r_set_events(struct ferry_backend *b, const struct ferry_wevents *ev)
{
	struct routeset *rs = RS(b);
	pthread_mutex_lock(&rs->mu);
	rs->have_up = ev != NULL;
	if (ev)
		rs->up = *ev;
	pthread_mutex_unlock(&rs->mu);
}

static int r_uploads(struct ferry_backend *b, const char *prefix, ferry_upload_fn fn, void *arg)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->uploads ? o->ops->uploads(o, prefix, fn, arg) : 0;
}

static int r_uabort(struct ferry_backend *b, const char *key, const char *upload_id)
{
	struct ferry_backend *o = RS(b)->orig;
	return o->ops->uabort ? o->ops->uabort(o, key, upload_id) : 0;
}

/* What a store must be for its objects to follow routes, and so what the wrapper is:
 * plain objects across a network whose uploads report when they land (set_events). */
#define ROUTE_CAPS (FERRY_CAP_RANGED_READ | FERRY_CAP_OBJECT_STORE | FERRY_CAP_RESUMABLE | FERRY_CAP_REMOTE)

static const struct ferry_backend_ops route_ops = {
	.name = "route",
	.abi = FERRY_BACKEND_ABI,
	.caps = ROUTE_CAPS,
	.priv_size = sizeof(struct routeset),
	.close = r_close,
	.get = r_get,
	.put = r_put,
	.stat = r_stat,
	.list = r_list,
	.del = r_del,
	.wopen = r_wopen,
	.write = r_write,
	.commit = r_commit,
	.sync = r_sync,
	.abort = r_abort,
	.ropen = r_ropen,
	.read = r_read,
	.rclose = r_rclose,
	.wmeta = r_wmeta,
	.rmeta = r_rmeta,
	.content_md5 = r_content_md5,
	.set_events = r_set_events,
	.wresume = r_wresume,
	.uploads = r_uploads,
	.uabort = r_uabort,
};

int ferry_store_follow_routes(struct ferry_store *s, const struct ferry_copy_plan *p, double total,
			      struct ferry_run *r)
{
	struct ferry_backend *b = NULL;
	struct routeset *rs = NULL;
	struct ferry_alloc a;
	char msg[700];
	int err = FERRY_OK;

	if (p->n == 0 || p->n > FERRY_PLAN_MAX_ROUTES || (s->b->ops->caps & ROUTE_CAPS) != ROUTE_CAPS) {
		store_problem(r, s->path, NULL, FERRY_E_INVAL,
			      "--plan: the store must be an object store with resumable uploads (such as "
			      "s3://BUCKET[/PREFIX]) and routes 1 to %d", FERRY_PLAN_MAX_ROUTES);
		return FERRY_E_INVAL;
	}
	if (s->routes) {
		store_problem(r, s->path, NULL, FERRY_E_INVAL, "--plan: the store follows routes already");
		return FERRY_E_INVAL;
	}
	b = calloc(1, sizeof(*b));
	rs = calloc(1, sizeof(*rs));
	if (!b || !rs) {
		free(b);
		free(rs);
		return FERRY_E_NOMEM;
	}
	pthread_mutex_init(&rs->mu, NULL);
	pthread_mutex_init(&rs->pm, NULL);
	rs->p = p;
	rs->n = p->n;
	rs->total = total;
	/* one backend per route on the store's loop, with the store's options */
	for (unsigned k = 0; k < p->n && !err; k++) {
		if ((err = route_backend_open(p, k, s->path, s->opts, s->loop, &rs->rt[k].b, msg, sizeof(msg)))) {
			store_problem(r, s->path, NULL, err, "route %s: %s", p->model[k].name, msg);
			break;
		}
		if (!rs->rt[k].b->ops->set_events) {
			store_problem(r, s->path, NULL, FERRY_E_UNSUPPORTED, "route %s: the backend reports no uploads",
				      p->model[k].name);
			err = FERRY_E_UNSUPPORTED;
			break;
		}
		rs->ev[k] = (struct rev){ rs, k };
		rs->rt[k].b->ops->set_events(rs->rt[k].b,
					     &(struct ferry_wevents){ &rs->ev[k], ev_started, ev_reused, ev_finished });
		rs->rt[k].rs = rs;
		rs->rt[k].rate = fmax(p->model[k].bandwidth, 1024);
		pthread_mutex_init(&rs->rt[k].qmu, NULL);
		pthread_cond_init(&rs->rt[k].qcond, NULL);
		if (pthread_create(&rs->rt[k].th, NULL, pacer_main, &rs->rt[k])) {
			pthread_cond_destroy(&rs->rt[k].qcond);
			pthread_mutex_destroy(&rs->rt[k].qmu);
			store_problem(r, s->path, NULL, FERRY_E_NOMEM, "route %s: cannot start a thread", p->model[k].name);
			err = FERRY_E_NOMEM;
			break;
		}
		rs->rt[k].th_started = 1;
		rs->rt[k].planned_rate = p->model[k].bandwidth;
	}
	if (err) {
		stop_pacers(rs);
		for (unsigned k = 0; k < p->n; k++)
			ferry_backend_close(rs->rt[k].b);
		pthread_mutex_destroy(&rs->mu);
	pthread_mutex_destroy(&rs->pm);
		free(rs);
		free(b);
		return err;
	}
	split(p, p->model, total, p->deadline, &a);
	snprintf(msg, sizeof(msg), "plan: %.0f bytes over %u routes%s", total, p->n,
		 a.feasible ? "" : isnan(p->budget) ? " (the deadline cannot be met: the fastest split)"
						    : " (over budget: the cheapest split)");
	split_line(rs, msg, &a, total);
	set_shares(rs, &a);
	for (unsigned k = 0; k < p->n; k++)
		rs->rt[k].first_share = a.bytes[k];
	rs->orig = s->b;
	rs->t0 = ferry_mono();
	/* the store's callers ask the wrapper why a call failed: the backends under it tell it */
	rs->orig->err_to = b;
	for (unsigned k = 0; k < p->n; k++)
		rs->rt[k].b->err_to = b;
	b->ops = &route_ops;
	b->priv = rs;
	b->loop = s->loop;
	snprintf(b->location, sizeof(b->location), "%s", rs->orig->location);
	s->b = b;
	s->routes = rs;
	return FERRY_OK;
}

void ferry_store_routes_report(struct ferry_store *s)
{
	struct routeset *rs;
	double all = 0, t = ferry_mono();

	if (!s || !s->routes)
		return;
	rs = s->routes;
	for (unsigned k = 0; k < rs->n; k++)
		all += rs->rt[k].assigned;
	for (unsigned k = 0; k < rs->n; k++) {
		struct rroute *rt = &rs->rt[k];
		double secs = (rt->t_last > 0 ? rt->t_last : t) - rs->t0;
		route_note(rs->p, "route %s: %llu objects, %.0f bytes (%.1f%% of all; first plan %.1f%%), %.1f s, "
			    "%.1f Mbit/s (limit %.1f)",
		     rs->p->model[k].name, (unsigned long long)rt->objects, rt->assigned, all > 0 ? 100 * rt->assigned / all : 0,
		     rs->total > 0 ? 100 * rt->first_share / rs->total : 0, secs,
		     secs > 0 ? rt->landed * 8 / secs / 1e6 : 0, rs->p->model[k].bandwidth * 8 / 1e6);
	}
	route_note(rs->p, "done in %.1f s, %d re-plan%s", t - rs->t0, rs->replans, rs->replans == 1 ? "" : "s");
}
