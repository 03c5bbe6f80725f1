/*
 * Sharded pushes: which shard owns a path, and the merge of a group's partial
 * manifests (partial/<group>/<i>-of-<n>, each in walk order) into one snapshot by an
 * n-way merge, streamed: n manifest readers, one writer, nothing held whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ferry/unattended.h"
#include "store_int.h"

#define SHARDS_MAX 256

unsigned ferry_shard_of(const char *path, unsigned n)
{
	return n ? (unsigned)(XXH3_64bits(path, strlen(path)) % n) : 0;
}

int ferry_shard_group_ok(const char *g)
{
	size_t n = g ? strlen(g) : 0;

	if (n == 0 || n > 64 || g[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = g[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

struct found {
	unsigned n;        /* the group's shard count (from the first name seen) */
	unsigned count;    /* distinct shards present */
	uint8_t *have;     /* SHARDS_MAX flags */
	int mixed;         /* names disagree on n, or are malformed */
	size_t prefix_len;
};

static int on_partial(void *arg, const char *key, uint64_t size)
{
	struct found *f = arg;
	unsigned i, n;
	int used = 0;

	(void)size;
	if (sscanf(key + f->prefix_len, "%u-of-%u%n", &i, &n, &used) != 2 || key[f->prefix_len + used] != 0 || n < 2 ||
	    n > SHARDS_MAX || i >= n) {
		f->mixed = 1;
		return 0;
	}
	if (!f->n)
		f->n = n;
	if (n != f->n) {
		f->mixed = 1;
		return 0;
	}
	if (!f->have[i]) {
		f->have[i] = 1;
		f->count++;
	}
	return 0;
}

struct head {
	struct mreader m;
	struct ferry_entry e;
	int valid, open;
};

static int advance(struct head *h, char *msg, size_t msglen)
{
	int ret = mreader_next(&h->m, &h->e, msg, msglen);

	h->valid = ret > 0;
	return ret < 0 ? -ret : FERRY_OK;
}

int ferry_snapshot_merge(struct ferry_store *s, const char *group, char snap[64], uint64_t *entries, char *msg,
			 size_t msglen)
{
	char prefix[96], key[160];
	struct found f = { 0 };
	struct head *h = NULL;
	struct mwriter mw;
	int e, err = FERRY_OK, mw_open = 0;

	snap[0] = 0;
	*entries = 0;
	if (!ferry_shard_group_ok(group)) {
		store_setmsg(msg, msglen, "'%s': a shard group is 1-64 of A-Z a-z 0-9 . _ - (not starting with .)",
			     group);
		return FERRY_E_INVAL;
	}
	snprintf(prefix, sizeof(prefix), "partial/%s/", group);
	f.prefix_len = strlen(prefix);
	f.have = calloc(SHARDS_MAX, 1);
	if (!f.have)
		return FERRY_E_NOMEM;
	e = s->b->ops->list(s->b, prefix, on_partial, &f);
	if (e) {
		store_setmsg(msg, msglen, "%s/%s: cannot list: %s", s->path, prefix, store_berr(s->b, e));
		free(f.have);
		return FERRY_E_IO;
	}
	if (f.mixed) {
		store_setmsg(msg, msglen, "%s/%s: holds names that are not <i>-of-<n> with one n; not merging", s->path,
			     prefix);
		free(f.have);
		return FERRY_E_FORMAT;
	}
	if (f.count == 0 || f.count < f.n) {
		char missing[256] = "";
		size_t used = 0;
		for (unsigned i = 0; i < f.n && used < sizeof(missing) - 16; i++)
			if (!f.have[i])
				used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%u", used ? "," : "", i);
		if (f.count == 0)
			store_setmsg(msg, msglen, "%s: shard group %s: no partial manifests (not started, or merged already)",
				     s->path, group);
		else
			store_setmsg(msg, msglen, "%s: shard group %s: %u of %u shards done; missing %s", s->path, group,
				     f.count, f.n, missing);
		free(f.have);
		return FERRY_E_NOTFOUND;
	}
	h = calloc(f.n, sizeof(*h));
	if (!h) {
		free(f.have);
		return FERRY_E_NOMEM;
	}
	for (unsigned i = 0; i < f.n && !err; i++) {
		snprintf(key, sizeof(key), "%s%u-of-%u", prefix, i, f.n);
		err = mreader_open_key(s, key, &h[i].m, msg, msglen);
		if (!err) {
			h[i].open = 1;
			err = advance(&h[i], msg, msglen);
		}
	}
	if (!err)
		err = store_snapshot_id(snap);
	if (!err) {
		err = mwriter_open(s, &mw, snap, (uint64_t)time(NULL));
		mw_open = 1;
	}
	/* n-way merge in walk order; n is small, so a linear pick is enough */
	while (!err) {
		int best = -1;
		for (unsigned i = 0; i < f.n; i++) {
			if (!h[i].valid)
				continue;
			if (best < 0) {
				best = (int)i;
				continue;
			}
			int c = store_cmp_walk(h[i].e.path, h[best].e.path);
			if (c == 0) {
				store_setmsg(msg, msglen, "%s: shard group %s: '%s' is in shards %d and %u; not merging",
					     s->path, group, h[i].e.path, best, i);
				err = FERRY_E_FORMAT;
				break;
			}
			if (c < 0)
				best = (int)i;
		}
		if (err || best < 0)
			break;
		err = mwriter_add(&mw, &h[best].e);
		if (err) {
			store_setmsg(msg, msglen, "%s@%s: writing the manifest: %s", s->path, snap, ferry_strerror(err));
			break;
		}
		(*entries)++;
		err = advance(&h[best], msg, msglen);
	}
	if (!err) {
		err = mwriter_finish(&mw);
		if (err)
			store_setmsg(msg, msglen, "%s@%s: writing the manifest: %s", s->path, snap, ferry_strerror(err));
	}
	if (mw_open)
		mwriter_abort(&mw); /* frees; after a finish that committed, only that */
	for (unsigned i = 0; i < f.n; i++)
		if (h[i].open)
			mreader_close(&h[i].m);
	free(h);
	if (!err) {
		/* the snapshot exists: the partial manifests are done with */
		for (unsigned i = 0; i < f.n; i++) {
			snprintf(key, sizeof(key), "%s%u-of-%u", prefix, i, f.n);
			s->b->ops->del(s->b, key);
		}
	} else {
		snap[0] = 0;
	}
	free(f.have);
	return err;
}
