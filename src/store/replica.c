/*
 * Replicas of a store for a pull: each opened on the store's own loop, checked to hold the
 * same store (its config's store id), and ordered by price. pull.c asks for objects in
 * that order and falls back along it (docs/PLANNER.md, "Replicas").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define REPLICA_NOTES 5     /* lines per replica before they are only counted */
#define REPLICA_IOERRS_MAX 3 /* failed reads (not missing objects) before a replica is left out */

void replica_note(struct replset *rs, unsigned k, const char *fmt, ...)
{
	struct replica *rp = &rs->v[k];
	char line[900];
	va_list ap;

	if (!rs->note || rp->notes++ >= REPLICA_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rs->note(rs->note_arg, line);
}

int replica_usable(const struct replset *rs, unsigned k)
{
	return rs->v[k].reachable && rs->v[k].ioerrs < REPLICA_IOERRS_MAX;
}

static int is_local(const char *url)
{
	return !strstr(url, "://") || !strncmp(url, "file://", 7);
}

/* A location for comparing: a local path resolved (symlinks, "..", relative), a URL
 * without trailing slashes. */
static void canon_loc(const char *a, char *out, size_t cap)
{
	char buf[PATH_MAX];
	size_t n;

	if (!strncmp(a, "file://", 7))
		a += 7;
	if (!strstr(a, "://") && realpath(a, buf))
		a = buf;
	snprintf(out, cap, "%s", a);
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = 0;
}

int ferry_same_location(const char *a, const char *b)
{
	char ca[PATH_MAX + 8], cb[PATH_MAX + 8];

	canon_loc(a, ca, sizeof(ca));
	canon_loc(b, cb, sizeof(cb));
	return !strcmp(ca, cb);
}

/*
 * Opens replica rp at spec's URL on s's loop and reads its config. FERRY_OK with
 * rp->reachable 0 and a note when it cannot be reached; an error (msg) for a URL no
 * backend takes or a config of another store.
 */
/* Does the backend serving url take option name? */
static int takes_option(const char *url, const char *name)
{
	const struct ferry_backend_ops *ops;
	const char *rest;
	char why[128];

	if (ferry_backend_resolve(url, &ops, &rest, why, sizeof(why)) || !ops)
		return 0;
	for (const struct ferry_backend_option *o = ops->options; o && o->name; o++)
		if (!strcmp(o->name, name))
			return 1;
	return 0;
}

static int open_one(struct ferry_store *s, struct replset *rs, unsigned k, const struct ferry_replica_spec *spec,
		    char *msg, size_t msglen)
{
	struct replica *rp = &rs->v[k];
	struct ferry_store_config cfg;
	char why[700];
	uint8_t *buf = NULL;
	size_t n;
	int err, e;

	rp->view.path = rp->url;
	rp->view.loop = s->loop;
	rp->view.cfg = s->cfg;
	rp->view.keys.encrypted = s->keys.encrypted; /* objreader_open checks the flag; no key bytes here */
	rp->s = &rp->view;
	/* the store's options, the replica's own endpoint before them (the first wins), for a
	 * backend that has endpoints (a local replica's config may name one: it means nothing) */
	const struct ferry_kv ep[] = { { "endpoint", spec->endpoint }, { NULL, NULL } };
	int own_ep = spec->endpoint && spec->endpoint[0] && takes_option(rp->url, "endpoint");
	struct ferry_kv *opts = ferry_kv_dup(own_ep ? ep : NULL, s->opts);
	if (!opts)
		return FERRY_E_NOMEM;
	err = ferry_backend_open(&rp->view.b, rp->url, opts, s->loop, why, sizeof(why));
	free(opts);
	if (err && (!is_local(rp->url) || err == FERRY_E_UNSUPPORTED || err == FERRY_E_INVAL)) {
		store_setmsg(msg, msglen, "--replica %s: %s", rp->name, why);
		return FERRY_E_INVAL;
	}
	if (err) {
		rp->view.b = NULL;
		replica_note(rs, k, "replica %s (%s): cannot open: %s; not used", rp->name, rp->url, why);
		return FERRY_OK;
	}
	e = rp->view.b->ops->get(rp->view.b, "config", &buf, &n, FERRY_CONFIG_LEN + 1);
	if (e == FERRY_BERR(FERRY_E_TOOBIG)) { /* damaged, like a config that does not decode */
		store_setmsg(msg, msglen,
			     "--replica %s (%s): config: larger than a store config can be (%d bytes)",
			     rp->name, rp->url, FERRY_CONFIG_LEN);
		return FERRY_E_FORMAT;
	}
	if (e) {
		replica_note(rs, k, "replica %s (%s): unreachable: config: %s; not used", rp->name, rp->url,
			     e == -ENOENT ? "none there (no such location, or not a ferry store)" : store_berr(rp->view.b, e));
		return FERRY_OK;
	}
	err = ferry_config_decode(buf, n, &cfg);
	free(buf);
	if (err) {
		store_setmsg(msg, msglen, "--replica %s (%s): config: %s", rp->name, rp->url, ferry_strerror(err));
		return FERRY_E_FORMAT;
	}
	if (memcmp(cfg.store_id, s->cfg.store_id, FERRY_ID_LEN) != 0 ||
	    (cfg.flags & FERRY_CFG_ENCRYPTED) != (s->cfg.flags & FERRY_CFG_ENCRYPTED)) {
		store_setmsg(msg, msglen, "--replica %s (%s): another store (its store id differs from %s's); refused",
			     rp->name, rp->url, s->path);
		return FERRY_E_FOREIGN;
	}
	rp->reachable = 1;
	return FERRY_OK;
}

static void set_meta(struct replica *rp, const struct ferry_replica_spec *spec, const char *url)
{
	snprintf(rp->name, sizeof(rp->name), "%s", spec->name);
	snprintf(rp->url, sizeof(rp->url), "%s", url);
	rp->price = spec->price_per_gb >= 0 ? spec->price_per_gb : is_local(url) ? 0 : -1;
}

/* Known prices first, cheapest first; then unknown ones; ties keep the given order (the store first). */
static int cheaper(const struct replica *a, unsigned ia, const struct replica *b, unsigned ib)
{
	if ((a->price >= 0) != (b->price >= 0))
		return a->price >= 0;
	if (a->price >= 0 && a->price != b->price)
		return a->price < b->price;
	return ia < ib;
}

int ferry_store_replicas(struct ferry_store *s, const struct ferry_replica_spec *primary,
			 const struct ferry_replica_spec *v, size_t n, void (*note)(void *arg, const char *line),
			 void *note_arg, char *msg, size_t msglen)
{
	struct replset *rs;
	unsigned order[FERRY_REPLICAS_MAX];
	int err = FERRY_OK;

	if (n + 1 > FERRY_REPLICAS_MAX) {
		store_setmsg(msg, msglen, "--replica: at most %d replicas", FERRY_REPLICAS_MAX - 1);
		return FERRY_E_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!v[i].url || !v[i].url[0] || strlen(v[i].url) >= sizeof(rs->v[0].url)) {
			store_setmsg(msg, msglen, "--replica %s: empty or too long a URL", v[i].name);
			return FERRY_E_INVAL;
		}
		if (ferry_same_location(v[i].url, s->path)) {
			store_setmsg(msg, msglen, "--replica %s: %s is the store itself", v[i].name, v[i].url);
			return FERRY_E_INVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (ferry_same_location(v[i].url, v[j].url)) {
				store_setmsg(msg, msglen, "--replica %s: %s given twice", v[i].name, v[i].url);
				return FERRY_E_INVAL;
			}
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return FERRY_E_NOMEM;
	rs->note = note;
	rs->note_arg = note_arg;
	/* in the given order first (the store at 0), sorted afterwards */
	set_meta(&rs->v[0], primary, s->path);
	rs->v[0].primary = rs->v[0].reachable = 1;
	rs->v[0].s = s;
	rs->n = 1;
	for (size_t i = 0; i < n && !err; i++) {
		set_meta(&rs->v[rs->n], &v[i], v[i].url);
		err = open_one(s, rs, rs->n, &v[i], msg, msglen);
		rs->n++;
	}
	s->replicas = rs;
	if (err) {
		ferry_store_replicas_close(s);
		return err;
	}
	/* a stable insertion sort of at most 8 */
	for (unsigned i = 0; i < rs->n; i++)
		order[i] = i;
	for (unsigned i = 1; i < rs->n; i++)
		for (unsigned j = i; j > 0 && cheaper(&rs->v[order[j]], order[j], &rs->v[order[j - 1]], order[j - 1]); j--) {
			unsigned t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	struct replset *sorted = calloc(1, sizeof(*sorted));
	if (!sorted) {
		ferry_store_replicas_close(s);
		return FERRY_E_NOMEM;
	}
	*sorted = (struct replset){ .n = rs->n, .note = note, .note_arg = note_arg };
	for (unsigned i = 0; i < rs->n; i++) {
		sorted->v[i] = rs->v[order[i]];
		/* the view moved: point at its new place */
		if (!sorted->v[i].primary) {
			sorted->v[i].s = &sorted->v[i].view;
			sorted->v[i].view.path = sorted->v[i].url;
		}
	}
	free(rs);
	s->replicas = sorted;
	return FERRY_OK;
}

size_t ferry_store_replica_report(const struct ferry_store *s, struct ferry_replica_report *out, size_t cap)
{
	const struct replset *rs = s->replicas;
	size_t i;

	if (!rs)
		return 0;
	for (i = 0; i < rs->n && i < cap; i++) {
		const struct replica *rp = &rs->v[i];
		struct ferry_replica_report *o = &out[i];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", rp->name);
		snprintf(o->url, sizeof(o->url), "%s", rp->url);
		o->price_per_gb = rp->price;
		o->primary = rp->primary;
		o->reachable = rp->reachable;
		o->objects = rp->objects;
		o->bytes = rp->bytes;
		o->fallbacks = rp->fallbacks;
	}
	return i;
}

void ferry_store_replicas_close(struct ferry_store *s)
{
	struct replset *rs = s ? s->replicas : NULL;

	if (!rs)
		return;
	for (unsigned i = 0; i < rs->n; i++) {
		struct replica *rp = &rs->v[i];
		if (rp->notes > REPLICA_NOTES && rs->note) {
			char line[200];
			snprintf(line, sizeof(line), "replica %s: %u more line(s) like the above not shown", rp->name,
				 rp->notes - REPLICA_NOTES);
			rs->note(rs->note_arg, line);
		}
		if (!rp->primary && rp->view.b)
			ferry_backend_close(rp->view.b);
	}
	free(rs);
	s->replicas = NULL;
}
