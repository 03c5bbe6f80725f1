/*
 * prune: drops the snapshots a keep policy does not keep, then every object no kept
 * snapshot (and no pending shard manifest) references. The referenced set is a sorted
 * array of object ids, built by streaming the kept manifests; nothing is deleted
 * unless every one of them was read to the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/unattended.h"
#include "idset.h"
#include "store_int.h"

/* Adds every object a manifest references. */
static int add_manifest(struct ferry_store *s, const char *snap, const char *key, struct idset *set,
			struct repack *rp, size_t snap_idx, char *msg, size_t msglen)
{
	struct mreader m;
	struct ferry_entry e;
	int ret, err;

	memset(&m, 0, sizeof(m));
	err = snap ? mreader_open(s, snap, &m, msg, msglen) : mreader_open_key(s, key, &m, msg, msglen);
	if (err)
		return err;
	while ((ret = mreader_next(&m, &e, msg, msglen)) > 0)
		if (e.type == FERRY_ENTRY_FILE && e.chunk_count > 0 &&
		    ((err = idset_add(set, e.object_id)) ||
		     (rp && (err = snap ? repack_note(rp, snap_idx, &e) : repack_exclude(rp, e.object_id)))))
			break;
	mreader_close(&m);
	if (ret < 0)
		return -ret;
	return err;
}

/* Seconds since the epoch from a snapshot id's leading YYYYMMDDTHHMMSS (UTC); -1 if it has none. */
static int64_t snap_time(const char *id)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strlen(id) < 15 || id[8] != 'T' ||
	    sscanf(id, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

enum period { DAY, WEEK, MONTH };

static void bucket(enum period per, const struct tm *tm, char *out, size_t cap)
{
	switch (per) {
	case DAY: strftime(out, cap, "%Y%m%d", tm); break;
	case WEEK: strftime(out, cap, "%G%V", tm); break; /* ISO week */
	case MONTH: strftime(out, cap, "%Y%m", tm); break;
	}
}

/* Keeps the newest snapshot of each of the `want` most recent periods. */
static void keep_periods(char **names, size_t n, const int64_t *t, uint8_t *keep, unsigned want, enum period per)
{
	char last[16] = "", cur[16];
	unsigned got = 0;

	for (size_t i = n; i-- > 0 && got < want;) {
		time_t tt = (time_t)t[i];
		struct tm tm;

		if (t[i] < 0)
			continue;
		gmtime_r(&tt, &tm);
		bucket(per, &tm, cur, sizeof(cur));
		if (strcmp(cur, last) != 0) {
			keep[i] = 1;
			got++;
			snprintf(last, sizeof(last), "%s", cur);
		}
	}
	(void)names;
}

struct objlist {
	struct idset *ref;
	uint8_t *ids; /* garbage: id + size */
	uint64_t *sizes;
	size_t n, cap;
	struct ferry_prune_result *res;
	int err;
};

static int hexnib(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int objlist_add(struct objlist *l, const uint8_t *id, uint64_t size);

static int on_object(void *arg, const char *key, uint64_t size)
{
	struct objlist *l = arg;
	uint8_t id[FERRY_ID_LEN];
	const char *h = key + 8; /* data/xx/ */

	if (strlen(key) != 8 + 2 * FERRY_ID_LEN || key[7] != '/' || key[5] != h[0] || key[6] != h[1])
		return 0; /* not an object name ferry writes: leave it alone */
	for (int i = 0; i < FERRY_ID_LEN; i++) {
		int hi = hexnib(h[2 * i]), lo = hexnib(h[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	l->res->objects_total++;
	if (idset_has(l->ref, id)) {
		l->res->objects_kept++;
		l->res->bytes_kept += size;
		return 0;
	}
	return objlist_add(l, id, size);
}

static int objlist_add(struct objlist *l, const uint8_t *id, uint64_t size)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		uint8_t *ni = realloc(l->ids, ncap * FERRY_ID_LEN);
		uint64_t *ns;
		if (!ni)
			return FERRY_BERR(FERRY_E_NOMEM);
		l->ids = ni;
		ns = realloc(l->sizes, ncap * sizeof(*ns));
		if (!ns)
			return FERRY_BERR(FERRY_E_NOMEM);
		l->sizes = ns;
		l->cap = ncap;
	}
	memcpy(l->ids + l->n * FERRY_ID_LEN, id, FERRY_ID_LEN);
	l->sizes[l->n] = size;
	l->n++;
	return 0;
}

/* Deletes the garbage objects, a batch at a time (one DeleteObjects request each on S3). */
static int delete_objects(struct ferry_store *s, const struct objlist *ol, int dry_run,
			  struct ferry_prune_result *res, char *msg, size_t msglen)
{
	enum { BATCH = 1000 };
	char (*keys)[64] = malloc(BATCH * sizeof(*keys));
	const char *kp[BATCH];
	int err = FERRY_OK;

	if (!keys)
		return FERRY_E_NOMEM;
	for (size_t at = 0; at < ol->n && !err; at += BATCH) {
		size_t k = ol->n - at < BATCH ? ol->n - at : BATCH, bad = 0;
		int e;
		for (size_t i = 0; i < k; i++) {
			store_object_key(ol->ids + (at + i) * FERRY_ID_LEN, keys[i]);
			kp[i] = keys[i];
		}
		if (!dry_run && (e = ferry_backend_del_many(s->b, kp, k, &bad))) {
			store_setmsg(msg, msglen, "%s/%s: cannot delete: %s", s->path, keys[bad < k ? bad : 0], store_berr(s->b, e));
			err = e <= -4096 && ferry_backend_err(e) == FERRY_E_DENIED ? FERRY_E_DENIED : FERRY_E_IO;
			k = bad; /* the ones before it are gone */
		}
		res->objects_deleted += k;
		for (size_t i = 0; i < k; i++)
			res->bytes_deleted += ol->sizes[at + i];
	}
	free(keys);
	return err;
}

static int on_key(void *arg, const char *key, uint64_t size)
{
	(void)size;
	return store_strlist_add(arg, key);
}

int ferry_prune(struct ferry_store *s, const struct ferry_prune_opts *o, struct ferry_prune_result *res,
		void (*out)(void *arg, const char *what, const char *snap), void *arg, char *msg, size_t msglen)
{
	char **names = NULL, **part = NULL;
	size_t n = 0, npart = 0;
	int64_t *t = NULL;
	uint8_t *keep = NULL;
	struct idset ref = { 0 };
	struct objlist ol = { 0 };
	struct store_strlist pk = { 0 };
	struct repack *rp = NULL;
	int err, e;

	memset(res, 0, sizeof(*res));
	if (!o->keep_last && !o->keep_daily && !o->keep_weekly && !o->keep_monthly) {
		store_setmsg(msg, msglen, "give at least one --keep-last/--keep-daily/--keep-weekly/--keep-monthly");
		return FERRY_E_INVAL;
	}
	err = store_snapshot_names(s, &names, &n);
	if (!err)
		err = store_partial_names(s, &part, &npart);
	if (err) {
		store_setmsg(msg, msglen, "%s/snapshots: %s", s->path, ferry_strerror(err));
		goto out;
	}
	res->snapshots_total = n;
	t = calloc(n ? n : 1, sizeof(*t));
	keep = calloc(n ? n : 1, 1);
	if (!t || !keep) {
		err = FERRY_E_NOMEM;
		goto out;
	}
	/* the policy looks at complete snapshots only (names sort in time order) */
	size_t ncomplete = 0, newest_complete = 0;
	char **complete = calloc(n ? n : 1, sizeof(*complete));
	int64_t *ct = calloc(n ? n : 1, sizeof(*ct));
	uint8_t *ckeep = calloc(n ? n : 1, 1);
	size_t *cidx = calloc(n ? n : 1, sizeof(*cidx));
	if (!complete || !ct || !ckeep || !cidx) {
		free(complete), free(ct), free(ckeep), free(cidx);
		err = FERRY_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		t[i] = snap_time(names[i]);
		if (store_name_in(part, npart, names[i]))
			continue;
		if (t[i] < 0) {
			keep[i] = 1; /* a name we cannot date is never deleted */
			continue;
		}
		complete[ncomplete] = names[i];
		ct[ncomplete] = t[i];
		cidx[ncomplete++] = i;
		newest_complete = i + 1;
	}
	for (size_t i = ncomplete, k = 0; i-- > 0 && k < o->keep_last; k++)
		ckeep[i] = 1;
	if (o->keep_daily)
		keep_periods(complete, ncomplete, ct, ckeep, o->keep_daily, DAY);
	if (o->keep_weekly)
		keep_periods(complete, ncomplete, ct, ckeep, o->keep_weekly, WEEK);
	if (o->keep_monthly)
		keep_periods(complete, ncomplete, ct, ckeep, o->keep_monthly, MONTH);
	for (size_t i = 0; i < ncomplete; i++)
		if (ckeep[i])
			keep[cidx[i]] = 1;
	free(complete), free(ct), free(ckeep), free(cidx);
	/* a partial snapshot newer than every complete one is the next sync's base: kept */
	for (size_t i = newest_complete; i < n; i++)
		if (store_name_in(part, npart, names[i]))
			keep[i] = 1;

	if (o->repack_threshold <= 99 && (err = repack_create(&rp, s, o->repack_threshold ? o->repack_threshold : 50, n)))
		goto out;
	/* everything kept, and every pending shard manifest, marks what it references */
	for (size_t i = 0; i < n && !err; i++) {
		if (!keep[i])
			continue;
		res->snapshots_kept++;
		err = add_manifest(s, names[i], NULL, &ref, rp, i, msg, msglen);
	}
	if (!err && (e = s->b->ops->list(s->b, "partial/", on_key, &pk))) {
		store_setmsg(msg, msglen, "%s/partial: cannot list: %s", s->path, store_berr(s->b, e));
		err = FERRY_E_IO;
	}
	for (size_t i = 0; i < pk.n && !err; i++)
		err = add_manifest(s, NULL, pk.v[i], &ref, rp, 0, msg, msglen);
	if (err)
		goto out; /* never delete anything on a partial picture */
	idset_compact(&ref);

	ol.ref = &ref;
	ol.res = res;
	if ((e = s->b->ops->list(s->b, "data/", on_object, &ol))) {
		store_setmsg(msg, msglen, "%s/data: cannot list: %s", s->path, store_berr(s->b, e));
		err = e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
		goto out;
	}
	/* packs mostly garbage: live files into new packs, kept manifests rewritten; the old
	 * packs join the garbage, deleted after the dropped snapshots like the rest */
	if (rp) {
		const uint8_t *oids;
		const uint64_t *osizes;
		if ((err = repack_run(rp, names, o->dry_run, res, msg, msglen)))
			goto out;
		size_t nold = repack_old(rp, &oids, &osizes);
		for (size_t i = 0; i < nold; i++) {
			if ((e = objlist_add(&ol, oids + i * FERRY_ID_LEN, osizes[i]))) {
				err = FERRY_E_NOMEM;
				goto out;
			}
			res->objects_kept--;
			res->bytes_kept -= osizes[i];
		}
		res->objects_kept += res->packs_written;
		res->bytes_kept += res->packs_written_bytes;
		res->objects_total += res->packs_written;
	}
	/* snapshots first: a crash between the two steps leaves garbage, never a dangling snapshot */
	for (size_t i = 0; i < n; i++) {
		char key[96];
		if (out)
			out(arg, keep[i] ? "keep" : "delete", names[i]);
		if (keep[i])
			continue;
		res->snapshots_deleted++;
		if (o->dry_run)
			continue;
		snprintf(key, sizeof(key), "snapshots/%s", names[i]);
		if ((e = s->b->ops->del(s->b, key))) {
			store_setmsg(msg, msglen, "%s/%s: cannot delete: %s", s->path, key, store_berr(s->b, e));
			err = FERRY_E_IO;
			goto out;
		}
	}
	/* partial markers whose snapshot is gone (now or before) */
	for (size_t i = 0; i < npart && !o->dry_run; i++) {
		int gone = 1;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(names[j], part[i]))
				gone = !keep[j];
		if (gone) {
			char key[96];
			snprintf(key, sizeof(key), PARTIAL_MARK_PREFIX "%s", part[i]);
			s->b->ops->del(s->b, key);
		}
	}
	err = delete_objects(s, &ol, o->dry_run, res, msg, msglen);
out:
	repack_destroy(rp);
	store_strlist_free(&pk);
	free(ol.ids);
	free(ol.sizes);
	free(ref.v);
	free(t);
	free(keep);
	store_names_free(names, n);
	store_names_free(part, npart);
	return err;
}
