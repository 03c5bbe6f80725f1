/* The link probe (plan --probe): the time of a request, the sustained upload rate and the
 * download rate to a destination, measured with a few keys of its own that it removes. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/backend.h"
#include "ferry/plan.h"

#define PROBE_SMALL 3			 /* tiny objects cleaned up (two are PUT and timed: one request) */
#define PROBE_SIZE (8u << 20)		 /* an S3 part as push sends it, once the link is known to be fast */
#define PROBE_FIRST (1u << 20)		 /* the first object per stream: a slow link's time stays bounded */
#define PROBE_SUSTAIN 5.0		 /* seconds of sustained upload, unless the caller says */
#define PROBE_MAX_BYTES (1ull << 30)	 /* ... or this many bytes, whichever comes first */
#define PROBE_STREAMS FERRY_PLAN_PROBE_STREAMS

struct probe_job {
	struct ferry_backend *b;
	char key[128];
	const uint8_t *buf;
	int get; /* 0 put, 1 get */
	int res;
	size_t size, next_size; /* this object's, and the next ones' (set after the first round) */
	/* uploads: keep PUTting the one key until the time box or the byte budget is spent */
	double until, started;
	uint64_t *budget;
	pthread_mutex_t *mu;
	int (*interrupted)(void);
	uint64_t bytes, objects;
};

static void *probe_one(void *arg)
{
	struct probe_job *j = arg;

	if (j->get) {
		uint8_t *got = NULL;
		size_t len = 0;
		j->res = j->b->ops->get(j->b, j->key, &got, &len, PROBE_SIZE);
		if (!j->res && len != j->size)
			j->res = FERRY_BERR(FERRY_E_TRUNCATED);
		free(got);
		j->bytes = j->res ? 0 : j->size;
		return NULL;
	}
	for (;;) {
		int go;
		pthread_mutex_lock(j->mu);
		/* the first object always goes: it is the one read back */
		go = !(j->interrupted && j->interrupted()) &&
		     (j->objects == 0 || (ferry_mono() < j->until && *j->budget >= j->next_size));
		if (go && j->objects)
			j->size = j->next_size; /* only for an object that goes: the last one is read back */
		if (go && *j->budget >= j->size)
			*j->budget -= j->size;
		pthread_mutex_unlock(j->mu);
		if (!go)
			break;
		j->res = j->b->ops->put(j->b, j->key, j->buf, j->size, 0);
		if (j->res)
			break;
		j->bytes += j->size;
		j->objects++;
		if (j->objects == 1) {
			/* objects of about a second each from now on (as push's 8 MiB parts are on
			 * a fast link), so a request's own time weighs as it does in a push */
			double per_second = (double)j->size / fmax(ferry_mono() - j->started, 1e-3);
			size_t next = PROBE_FIRST;
			while (next < PROBE_SIZE && (double)next * 2 <= per_second)
				next *= 2;
			pthread_mutex_lock(j->mu);
			j->next_size = next;
			pthread_mutex_unlock(j->mu);
		}
	}
	return NULL;
}

static int list_none(void *arg, const char *key, uint64_t size)
{
	(void)arg;
	(void)key;
	(void)size;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* What failed, on which location and why, in msg; the ferry error code for it. */
static int probe_fail(const struct ferry_backend *b, const char *location, const char *what, int res, char *msg,
		      size_t msglen)
{
	char why[512];
	const char *m = ferry_backend_errmsg(b, res, why, sizeof(why));
	int err = res <= -4096 ? ferry_backend_err(res) : FERRY_E_IO;

	snprintf(msg, msglen, "%s: %s: %s", location, what, m ? m : res > -4096 ? strerror(-res) : ferry_strerror(err));
	return err;
}

/*
 * An unreachable destination should say so in seconds, not after eight backed-off
 * retries: the first request goes with two attempts, through a backend opened with the
 * caller's options and attempts=2. NULL (nothing to add) when the backend takes no
 * attempts option, or the caller's options or FERRY_S3_ATTEMPTS set it: the user's
 * setting stays the user's. *nomem when the table could not be made.
 */
static struct ferry_kv *fast_fail_opts(const char *location, const struct ferry_kv *opts, int *nomem)
{
	const struct ferry_backend_ops *ops;
	const struct ferry_backend_option *o;
	const char *rest;
	struct ferry_kv *t;
	char why[256];
	size_t n = 0;

	*nomem = 0;
	if (ferry_kv_get(opts, "attempts") || getenv("FERRY_S3_ATTEMPTS") ||
	    ferry_backend_resolve(location, &ops, &rest, why, sizeof(why)))
		return NULL;
	for (o = ops->options; o && o->name && strcmp(o->name, "attempts"); o++)
		;
	if (!o || !o->name)
		return NULL;
	while (opts && opts[n].key)
		n++;
	t = malloc((n + 2) * sizeof(*t));
	if (!t) {
		*nomem = 1;
		return NULL;
	}
	if (n)
		memcpy(t, opts, n * sizeof(*t));
	t[n] = (struct ferry_kv){ "attempts", "2" };
	t[n + 1] = (struct ferry_kv){ NULL, NULL };
	return t;
}

/* One request with few attempts: does the destination answer at all? */
static int reachable(const char *location, const struct ferry_kv *opts, char *msg, size_t msglen)
{
	struct ferry_backend *b;
	uint8_t *got = NULL;
	size_t len = 0;
	char key[128];
	int res = ferry_backend_open(&b, location, opts, NULL, msg, msglen);

	if (res)
		return res; /* the backend names the location */
	snprintf(key, sizeof(key), "ferry-probe-%ld-reachable", (long)getpid());
	res = b->ops->get(b, key, &got, &len, 4096);
	free(got);
	if (res && res != -ENOENT)
		res = probe_fail(b, location, "a request to the destination", res, msg, msglen);
	else
		res = FERRY_OK;
	ferry_backend_close(b); /* after its message was read */
	return res;
}

/* The requests a push makes one after another around its transfer (store open, lock,
 * journal, manifest), in that order, on probe keys: their time is the per-run cost. */
static int serial_requests(struct ferry_backend *b, const char *location, const char *base,
			   struct ferry_plan_probe_result *pr, char *msg, size_t msglen)
{
	double small[PROBE_SMALL], t = ferry_mono();
	unsigned nsmall = 0;
	char key[128];
	int err = FERRY_OK, res;

	for (int i = 0; i < FERRY_PLAN_SERIAL_REQUESTS && !err; i++) {
		uint8_t *got = NULL;
		size_t len = 0;
		uint64_t size;
		double t1 = ferry_mono();
		snprintf(key, sizeof(key), "%s/small-%d", base, i == 6 ? 1 : 0);
		switch (i) {
		case 0: res = b->ops->get(b, key, &got, &len, 4096); free(got); break;
		case 1: case 3: case 4: res = b->ops->list(b, base, list_none, NULL); break;
		case 2: case 6: res = b->ops->put(b, key, "x", 1, 0); break;
		case 5: res = b->ops->stat(b, key, &size); break;
		default: res = b->ops->del(b, key); break;
		}
		if (res && !(i == 0 && res == -ENOENT))
			err = probe_fail(b, location, "a request to the destination", res, msg, msglen);
		if (i == 2 || i == 6)
			small[nsmall++] = ferry_mono() - t1;
	}
	if (err)
		return err;
	pr->serial_seconds = ferry_mono() - t;
	qsort(small, nsmall, sizeof(double), cmp_double);
	pr->request_seconds = small[0] + (small[nsmall - 1] - small[0]) / 2; /* the median of two */
	return FERRY_OK;
}

/* PROBE_STREAMS streams uploading (dir 0) for the time box, then reading back one object
 * each (dir 1); *nput gets the streams whose objects may exist. */
static int streams(struct ferry_backend *b, const char *location, const char *base, const uint8_t *buf,
		   double sustain, int (*interrupted)(void), struct ferry_plan_probe_result *pr, int *nput, char *msg,
		   size_t msglen)
{
	struct probe_job jobs[PROBE_STREAMS];
	pthread_t th[PROBE_STREAMS];
	int running[PROBE_STREAMS];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint64_t budget = PROBE_MAX_BYTES;

	for (int dir = 0; dir < 2; dir++) {
		double t = ferry_mono();
		for (int i = 0; i < PROBE_STREAMS; i++) {
			size_t size = dir ? jobs[i].size : PROBE_FIRST; /* reading back: the last one written */
			jobs[i] = (struct probe_job){ .b = b, .buf = buf, .get = dir, .until = t + sustain,
						      .started = t, .budget = &budget, .mu = &mu, .size = size,
						      .next_size = PROBE_FIRST, .interrupted = interrupted };
			snprintf(jobs[i].key, sizeof(jobs[i].key), "%s/big-%d", base, i);
			/* the thread sets res itself: whether to join is kept apart */
			running[i] = pthread_create(&th[i], NULL, probe_one, &jobs[i]) == 0;
			if (!running[i])
				probe_one(&jobs[i]);
		}
		for (int i = 0; i < PROBE_STREAMS; i++)
			if (running[i])
				pthread_join(th[i], NULL);
		double secs = ferry_mono() - t;
		uint64_t bytes = 0;
		for (int i = 0; i < PROBE_STREAMS; i++) {
			if (jobs[i].res)
				return probe_fail(b, location,
						  dir ? "reading a probe object back" : "writing a probe object",
						  jobs[i].res, msg, msglen);
			bytes += jobs[i].bytes;
		}
		if (!dir) {
			*nput = PROBE_STREAMS;
			/* over seconds of objects back to back, each object's request time is part of
			 * the rate, as it is for push's parts */
			pr->up = (double)bytes / secs;
			pr->up_seconds = secs;
			pr->up_bytes = bytes;
			pr->object_bytes = jobs[0].size;
		} else {
			/* one object per stream: its request's own round trip is not bandwidth */
			double wire = secs - pr->request_seconds;
			pr->down = (double)bytes / (wire > secs / 10 ? wire : secs / 10);
		}
	}
	return FERRY_OK;
}

int ferry_plan_probe_link(const char *location, const struct ferry_kv *backend_opts,
			  const struct ferry_plan_probe_opts *o, struct ferry_plan_probe_result *pr, char *msg,
			  size_t msglen)
{
	struct ferry_backend *b = NULL;
	const struct ferry_backend_ops *ops;
	const char *path;
	double t0 = ferry_mono(), sustain = o && o->seconds > 0 ? o->seconds : PROBE_SUSTAIN;
	char base[64], key[128];
	struct ferry_kv *fast;
	uint8_t *buf;
	unsigned caps = ferry_location_caps(location);
	int err, nput = 0, nomem;
	struct stat st;

	memset(pr, 0, sizeof(*pr));
	pr->streams = PROBE_STREAMS;
	/* a local path is measured as the directory a store would be in */
	if (ferry_backend_resolve(location, &ops, &path, msg, msglen))
		path = location;
	if (!(caps & FERRY_CAP_REMOTE) && (stat(path, &st) || !S_ISDIR(st.st_mode))) {
		snprintf(msg, msglen,
			 "%s: expected s3://BUCKET[/PREFIX] or an existing directory to measure the link to", location);
		return FERRY_E_INVAL;
	}
	/* once it has answered, the probe's requests retry as a push's do (a 503 under load
	 * is not a failed probe) */
	fast = fast_fail_opts(location, backend_opts, &nomem);
	err = nomem ? FERRY_E_NOMEM : fast ? reachable(location, fast, msg, msglen) : FERRY_OK;
	free(fast);
	if (err == FERRY_E_NOMEM)
		snprintf(msg, msglen, "%s: %s", location, ferry_strerror(err));
	if (err)
		return err;
	buf = malloc(PROBE_SIZE);
	if (!buf) {
		snprintf(msg, msglen, "%s: %s", location, ferry_strerror(FERRY_E_NOMEM));
		return FERRY_E_NOMEM;
	}
	err = ferry_backend_open(&b, location, backend_opts, NULL, msg, msglen);
	if (err) {
		free(buf);
		return err; /* the backend names the location */
	}
	for (size_t i = 0; i < PROBE_SIZE; i++) /* incompressible, not that it matters to a PUT */
		buf[i] = (uint8_t)((i * 2654435761u) >> 13);
	snprintf(base, sizeof(base), "ferry-probe-%ld-%lx", (long)getpid(), (unsigned long)(t0 * 1e6));
	snprintf(pr->base, sizeof(pr->base), "%s", base);
	err = serial_requests(b, location, base, pr, msg, msglen);
	if (!err)
		err = streams(b, location, base, buf, sustain, o ? o->interrupted : NULL, pr, &nput, msg, msglen);
	/* whatever happened: the probe's keys go */
	for (unsigned i = 0; i < PROBE_SMALL; i++) {
		snprintf(key, sizeof(key), "%s/small-%u", base, i);
		(void)b->ops->del(b, key);
	}
	for (int i = 0; i < (nput ? nput : PROBE_STREAMS); i++) {
		snprintf(key, sizeof(key), "%s/big-%d", base, i);
		(void)b->ops->del(b, key);
	}
	if (!(caps & FERRY_CAP_OBJECT_STORE)) { /* directories: the empty prefix directory too */
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/%s", path, base);
		(void)rmdir(dir);
	}
	ferry_backend_close(b);
	free(buf);
	pr->seconds = ferry_mono() - t0;
	return err;
}

void ferry_plan_push_probe_shape(struct ferry_push_probe_opts *o, const struct ferry_plan_scan *s)
{
	double large = s->bytes - s->small_bytes;

	o->small_fraction = s->bytes > 0 ? s->small_bytes / s->bytes : 0;
	o->small_size = s->small_files ? s->small_bytes / (double)s->small_files : 0;
	o->large_size = s->large_files && large > 0 ? large / (double)s->large_files : 0;
}
