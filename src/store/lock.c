/*
 * Store locks: one small object per run under locks/, kept alive by a heartbeat
 * thread. Only get / put / list / del are used, and put is never asked to be
 * exclusive (S3-compatible servers may ignore If-None-Match): a run writes its own
 * lock, lists locks/ again, and backs off if anyone else holds a conflicting one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/unattended.h"
#include "lockfmt.h"
#include "store_int.h"

#define LOCKS_MAX 1024 /* a listing with more lock objects than this is refused */
#define DEFAULT_STALE 900

struct ferry_lock {
	struct ferry_store *s;
	struct lock_info me;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, lost, thread_started;
	uint64_t interval;
};

static const char *kind_name(enum ferry_lock_kind k)
{
	return k == FERRY_LOCK_SHARD ? "shard" : k == FERRY_LOCK_MERGE ? "merge" : "exclusive";
}

/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 if
 * unknown. *zombie is set when the process has exited and waits to be reaped (state Z). */
static unsigned long long pid_start(long pid, int *zombie)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* the command name may hold spaces and parentheses: count fields after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	*zombie = p[0] == ' ' && (p[1] == 'Z' || p[1] == 'X');
	for (int field = 3; field < 22 && p; field++) { /* p is at the space before field 3 */
		p = strchr(p + 1, ' ');
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void age_text(int64_t secs, char *out, size_t cap)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(out, cap, "%" PRId64 "s", secs);
	else if (secs < 7200)
		snprintf(out, cap, "%" PRId64 "m", secs / 60);
	else
		snprintf(out, cap, "%" PRId64 "h%02" PRId64 "m", secs / 3600, secs / 60 % 60);
}

/* Whether a lock of kind/group `mine` may coexist with `other`. */
static int compatible(const struct lock_info *mine, const struct lock_info *other)
{
	if (!strcmp(mine->kind, "exclusive") || !strcmp(other->kind, "exclusive"))
		return 0;
	if (strcmp(mine->group, other->group) != 0)
		return 0;
	/* same group: shards run side by side; one merge at a time */
	return !(strcmp(mine->kind, "merge") == 0 && strcmp(other->kind, "merge") == 0);
}

/* Why a lock is stale, or NULL when it is alive. */
static const char *stale_reason(const struct lock_info *l, const char *host, uint64_t stale_after, char *buf,
				size_t cap)
{
	int64_t t = (int64_t)time(NULL);
	uint64_t limit = l->stale_after > stale_after ? l->stale_after : stale_after;
	char age[32];

	/* never let a pid from a store make kill() address a process group */
	if (!strcmp(l->host, host) && l->pid > 0 && l->pid <= (1L << 22)) {
		int zombie = 0;
		if (kill((pid_t)l->pid, 0) < 0 && errno == ESRCH)
			return "its process is gone";
		unsigned long long start = pid_start(l->pid, &zombie);
		if (zombie)
			return "its process is gone (exited, not yet reaped)";
		if (l->pidstart && start != l->pidstart)
			return "its process is gone (pid reused)";
	}
	if (t - l->heartbeat > (int64_t)limit) {
		age_text(t - l->heartbeat, age, sizeof(age));
		snprintf(buf, cap, "no heartbeat for %s", age);
		return buf;
	}
	return NULL;
}

struct scan {
	char **keys;
	size_t n, cap;
	int toomany;
};

static int collect(void *arg, const char *key, uint64_t size)
{
	struct scan *sc = arg;

	(void)size;
	if (strlen(key) >= 96)
		return 0;
	if (sc->n == LOCKS_MAX) {
		sc->toomany = 1;
		return 1;
	}
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 8;
		char **nk = realloc(sc->keys, ncap * sizeof(*nk));
		if (!nk)
			return FERRY_BERR(FERRY_E_NOMEM);
		sc->keys = nk;
		sc->cap = ncap;
	}
	if (!(sc->keys[sc->n] = strdup(key)))
		return FERRY_BERR(FERRY_E_NOMEM);
	sc->n++;
	return 0;
}

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->keys[i]);
	free(sc->keys);
	memset(sc, 0, sizeof(*sc));
}

/*
 * Looks at every lock but ours: breaks the stale ones, and returns FERRY_E_LOCKED with
 * msg naming the first live one that conflicts with `mine`.
 */
static int check_others(struct ferry_store *s, const struct lock_info *mine, const struct ferry_lock_opts *o,
			char *msg, size_t msglen)
{
	struct scan sc = { 0 };
	int e = s->b->ops->list(s->b, "locks/", collect, &sc), err = FERRY_OK;

	if (e && !sc.toomany) {
		store_setmsg(msg, msglen, "%s/locks: cannot list: %s", s->path, store_berr(s->b, e));
		scan_free(&sc);
		return FERRY_E_IO;
	}
	if (sc.toomany) {
		store_setmsg(msg, msglen, "%s/locks: more than %d lock objects; clean it up by hand", s->path, LOCKS_MAX);
		scan_free(&sc);
		return FERRY_E_LOCKED;
	}
	for (size_t i = 0; i < sc.n && !err; i++) {
		struct lock_info other;
		uint8_t *buf = NULL;
		size_t len;
		char why[64], age[32], age2[32];
		const char *stale;

		if (!strcmp(sc.keys[i], mine->key))
			continue;
		memset(&other, 0, sizeof(other));
		snprintf(other.key, sizeof(other.key), "%s", sc.keys[i]);
		e = s->b->ops->get(s->b, sc.keys[i], &buf, &len, LOCK_MAX_BYTES);
		if (e == -ENOENT)
			continue; /* released meanwhile */
		if (e || lock_decode(buf, len, &other)) {
			free(buf);
			store_setmsg(msg, msglen,
				     "%s/%s: unreadable lock object; if no ferry run is active, delete it by hand",
				     s->path, sc.keys[i]);
			err = FERRY_E_LOCKED;
			break;
		}
		free(buf);
		stale = stale_reason(&other, mine->host, mine->stale_after, why, sizeof(why));
		if (stale) {
			char note[1024];
			age_text((int64_t)time(NULL) - other.started, age, sizeof(age));
			snprintf(note, sizeof(note), "breaking stale lock %s (%s on %s, pid %ld, started %s ago): %s",
				 other.key, other.command, other.host, other.pid, age, stale);
			if (o->note)
				o->note(o->note_arg, s->path, NULL, FERRY_OK, note);
			s->b->ops->del(s->b, other.key);
			continue;
		}
		if (compatible(mine, &other))
			continue;
		age_text((int64_t)time(NULL) - other.started, age, sizeof(age));
		age_text((int64_t)time(NULL) - other.heartbeat, age2, sizeof(age2));
		store_setmsg(msg, msglen,
			     "%s: locked by %s (%s lock%s%s) on host %s, pid %ld, started %s ago, last heartbeat %s ago",
			     s->path, other.command, other.kind, other.group[0] ? ", group " : "", other.group, other.host,
			     other.pid, age, age2);
		err = FERRY_E_LOCKED;
	}
	scan_free(&sc);
	return err;
}

static int write_mine(struct ferry_store *s, struct lock_info *me)
{
	char buf[LOCK_MAX_BYTES];
	size_t len;

	me->heartbeat = (int64_t)time(NULL);
	lock_encode(me, buf, sizeof(buf), &len);
	return s->b->ops->put(s->b, me->key, buf, len, 0);
}

static void *heartbeat(void *arg)
{
	struct ferry_lock *l = arg;

	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)l->interval;
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		if (l->stop || l->lost)
			continue;
		pthread_mutex_unlock(&l->mu);
		uint64_t size;
		/* someone broke our lock: never put it back, say so instead */
		int e = l->s->b->ops->stat(l->s->b, l->me.key, &size);
		int lost = e == -ENOENT;
		if (!lost)
			write_mine(l->s, &l->me); /* a failed refresh is retried next time */
		pthread_mutex_lock(&l->mu);
		if (lost)
			l->lost = 1;
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int ferry_lock_acquire(struct ferry_store *s, const struct ferry_lock_opts *o, struct ferry_lock **out, char *msg,
		       size_t msglen)
{
	struct ferry_lock *l;
	uint8_t rnd[8];
	int err, e;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return FERRY_E_NOMEM;
	l->s = s;
	if (ferry_random(rnd, sizeof(rnd))) {
		free(l);
		return FERRY_E_CRYPTO;
	}
	store_hex(rnd, sizeof(rnd), l->me.id);
	snprintf(l->me.key, sizeof(l->me.key), "locks/%s", l->me.id);
	snprintf(l->me.kind, sizeof(l->me.kind), "%s", kind_name(o->kind));
	snprintf(l->me.group, sizeof(l->me.group), "%s", o->group ? o->group : "");
	snprintf(l->me.command, sizeof(l->me.command), "%s", o->command ? o->command : "ferry");
	if (gethostname(l->me.host, sizeof(l->me.host) - 1) < 0)
		snprintf(l->me.host, sizeof(l->me.host), "unknown");
	for (char *c = l->me.host; *c; c++)
		if (*c == '\n')
			*c = '?';
	l->me.pid = (long)getpid();
	l->me.pidstart = pid_start(l->me.pid, &(int){ 0 });
	l->me.started = (int64_t)time(NULL);
	l->me.stale_after = o->stale_after ? o->stale_after : DEFAULT_STALE;
	l->interval = l->me.stale_after / 4 ? l->me.stale_after / 4 : 1;

	/* a cheap look first: a busy store is refused without writing anything */
	err = check_others(s, &l->me, o, msg, msglen);
	if (err)
		goto fail;
	e = write_mine(s, &l->me);
	if (e) {
		store_setmsg(msg, msglen, "%s/%s: cannot write lock: %s", s->path, l->me.key, store_berr(s->b, e));
		err = FERRY_E_IO;
		goto fail;
	}
	/* anyone who wrote theirs meanwhile sees ours too: both back off, neither runs unlocked */
	err = check_others(s, &l->me, o, msg, msglen);
	if (err) {
		s->b->ops->del(s->b, l->me.key);
		goto fail;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (pthread_create(&l->thread, NULL, heartbeat, l) != 0) {
		s->b->ops->del(s->b, l->me.key);
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		store_setmsg(msg, msglen, "cannot start the lock heartbeat thread");
		err = FERRY_E_NOMEM;
		goto fail;
	}
	l->thread_started = 1;
	*out = l;
	return FERRY_OK;
fail:
	free(l);
	return err;
}

int ferry_lock_held(struct ferry_lock *l)
{
	uint64_t size;
	int lost;

	if (!l)
		return 1;
	pthread_mutex_lock(&l->mu);
	lost = l->lost;
	pthread_mutex_unlock(&l->mu);
	/* look now too: the heartbeat may not have run since the lock was broken */
	return !lost && l->s->b->ops->stat(l->s->b, l->me.key, &size) != -ENOENT;
}

void ferry_lock_release(struct ferry_lock *l)
{
	if (!l)
		return;
	if (l->thread_started) {
		pthread_mutex_lock(&l->mu);
		l->stop = 1;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
	}
	if (!l->lost)
		l->s->b->ops->del(l->s->b, l->me.key);
	free(l);
}
