/* Snapshots: names, listing, the latest one, the streaming manifest reader and writer, the entry iterator. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "store_int.h"

static int snapshot_name_ok(const char *n)
{
	if (!*n || *n == '.' || strlen(n) > 63)
		return 0;
	for (; *n; n++)
		if (*n == '/')
			return 0;
	return 1;
}

static int add_name(void *arg, const char *key, uint64_t size)
{
	struct store_strlist *l = arg;
	const char *name = key + strlen("snapshots/");

	(void)size;
	if (!snapshot_name_ok(name))
		return 0;
	return store_strlist_add(l, name);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_snapshots(struct ferry_store *s, struct store_strlist *l)
{
	int e;

	memset(l, 0, sizeof(*l));
	e = s->b->ops->list(s->b, "snapshots/", add_name, l);
	if (e) {
		store_strlist_free(l);
		return e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
	}
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_names);
	return FERRY_OK;
}

int ferry_snapshots(struct ferry_store *s, FILE *out, char *msg, size_t msglen)
{
	struct store_strlist l;
	int err = list_snapshots(s, &l);

	if (err) {
		store_setmsg(msg, msglen, "%s/snapshots: %s", s->path, ferry_strerror(err));
		return err;
	}
	char **part = NULL;
	size_t npart = 0;
	err = store_partial_names(s, &part, &npart);
	if (err) {
		store_strlist_free(&l);
		store_setmsg(msg, msglen, "%s/%s: %s", s->path, PARTIAL_MARK_PREFIX, ferry_strerror(err));
		return err;
	}
	/* a partial snapshot never looks complete: it says so on its line */
	for (size_t i = 0; i < l.n; i++)
		fprintf(out, "%s%s\n", l.v[i], store_name_in(part, npart, l.v[i]) ? " partial" : "");
	store_strlist_free(&l);
	store_names_free(part, npart);
	return FERRY_OK;
}

static int add_partial(void *arg, const char *key, uint64_t size)
{
	struct store_strlist *l = arg;
	const char *name = key + strlen(PARTIAL_MARK_PREFIX);

	(void)size;
	if (!snapshot_name_ok(name))
		return 0;
	/* add_name expects a snapshots/ key: give it one */
	char k[96];
	snprintf(k, sizeof(k), "snapshots/%s", name);
	return add_name(l, k, size);
}

int store_partial_names(struct ferry_store *s, char ***names, size_t *n)
{
	struct store_strlist l;
	int e;

	memset(&l, 0, sizeof(l));
	e = s->b->ops->list(s->b, PARTIAL_MARK_PREFIX, add_partial, &l);
	if (e) {
		store_strlist_free(&l);
		*names = NULL;
		*n = 0;
		return e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_names);
	*names = l.v;
	*n = l.n;
	return FERRY_OK;
}

int store_name_in(char *const *names, size_t n, const char *name)
{
	return n && bsearch(&name, names, n, sizeof(*names), cmp_names) != NULL;
}

int store_latest(struct ferry_store *s, char out[64], int include_partial)
{
	struct store_strlist l;
	char **part = NULL;
	size_t npart = 0;
	int err = list_snapshots(s, &l);

	if (err)
		return err;
	if (!include_partial && (err = store_partial_names(s, &part, &npart))) {
		store_strlist_free(&l);
		return err;
	}
	err = FERRY_E_NOTFOUND;
	for (size_t i = l.n; i-- > 0;)
		if (include_partial || !store_name_in(part, npart, l.v[i])) {
			snprintf(out, 64, "%s", l.v[i]);
			err = FERRY_OK;
			break;
		}
	store_strlist_free(&l);
	store_names_free(part, npart);
	return err;
}

int store_latest_snapshot(struct ferry_store *s, char out[64])
{
	return store_latest(s, out, 0);
}

int store_snapshot_names(struct ferry_store *s, char ***names, size_t *n)
{
	struct store_strlist l;
	int err = list_snapshots(s, &l);

	*names = l.v;
	*n = l.n;
	return err;
}

void store_names_free(char **names, size_t n)
{
	struct store_strlist l = { names, n, n };
	store_strlist_free(&l);
}

int store_snapshot_id(char out[64])
{
	uint8_t rnd[4];
	char rh[9];
	struct timespec ts;
	struct tm tm;

	if (ferry_random(rnd, sizeof(rnd)))
		return FERRY_E_CRYPTO;
	store_hex(rnd, sizeof(rnd), rh);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* microseconds: snapshots taken within one second must still sort in time order */
	snprintf(out, 64, "%04d%02d%02dT%02d%02d%02d.%06ldZ-%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, rh);
	return FERRY_OK;
}

/* ---------------------------------------------------------------- synchronous object reads */


/* ---------------------------------------------------------------- manifest reader */

int mreader_open(struct ferry_store *s, const char *snap, struct mreader *m, char *msg, size_t msglen)
{
	char key[96];
	int err;

	memset(m, 0, sizeof(*m));
	m->s = s;
	if (!snap || !*snap) {
		err = store_latest_snapshot(s, m->name);
		if (err == FERRY_E_NOTFOUND) {
			store_setmsg(msg, msglen, "%s: store has no snapshots", s->path);
			return err;
		}
		if (err) {
			store_setmsg(msg, msglen, "%s/snapshots: %s", s->path, ferry_strerror(err));
			return err;
		}
	} else {
		if (!snapshot_name_ok(snap)) {
			store_setmsg(msg, msglen, "%s: bad snapshot name", snap);
			return FERRY_E_INVAL;
		}
		snprintf(m->name, sizeof(m->name), "%s", snap);
	}
	snprintf(key, sizeof(key), "snapshots/%s", m->name);
	return mreader_open_key(s, key, m, msg, msglen);
}

int mreader_open_key(struct ferry_store *s, const char *key, struct mreader *m, char *msg, size_t msglen)
{
	char why[256];
	int err;

	m->s = s;
	if (!m->name[0])
		snprintf(m->name, sizeof(m->name), "%s", key);
	err = objreader_open(s, key, NULL, &m->o, why, sizeof(why));
	if (err == FERRY_E_NOTFOUND) {
		store_setmsg(msg, msglen, "%s@%s: no such snapshot", s->path, m->name);
		objreader_close(s, &m->o);
		return err;
	}
	if (err) {
		store_setmsg(msg, msglen, "%s@%s: manifest: %s", s->path, m->name, why);
		objreader_close(s, &m->o);
		return err;
	}
	m->total = m->o.f.plain_total;
	if (m->total > MANIFEST_MAX_BYTES || m->total < FERRY_MANIFEST_HDR_LEN + FERRY_MANIFEST_TRAILER_LEN) {
		store_setmsg(msg, msglen, "%s@%s: manifest: %s", s->path, m->name, ferry_strerror(FERRY_E_FORMAT));
		objreader_close(s, &m->o);
		return FERRY_E_FORMAT;
	}
	m->frame = malloc(ferry_frame_bound(s->cfg.chunk_size));
	m->plain = malloc(s->cfg.chunk_size);
	m->carry_cap = FERRY_ENTRY_MAX_LEN + FERRY_MANIFEST_TRAILER_LEN;
	m->carry = malloc(m->carry_cap);
	m->strs = malloc(3 * (FERRY_PATH_MAX + 1)); /* path, target, and the previous entry's path */
	if (!m->frame || !m->plain || !m->carry || !m->strs) {
		mreader_close(m);
		return FERRY_E_NOMEM;
	}
	return FERRY_OK;
}

/* Loads the next manifest chunk's plaintext. */
static int next_chunk(struct mreader *m, char *msg, size_t msglen)
{
	struct ferry_store *s = m->s;
	uint32_t i = m->next_chunk;
	size_t n;
	int err;

	if (i >= m->o.f.chunk_count) {
		store_setmsg(msg, msglen, "%s@%s: manifest ends early", s->path, m->name);
		return FERRY_E_TRUNCATED;
	}
	err = objreader_read_frame(s, &m->o, i, m->frame, ferry_frame_bound(s->cfg.chunk_size));
	if (!err)
		err = ferry_frame_decode(s->codec, &m->o.h, i, i + 1 == m->o.f.chunk_count, m->frame,
					 m->o.idx[i].frame_len, m->plain, s->cfg.chunk_size, &n);
	if (err) {
		store_setmsg(msg, msglen, "%s@%s: manifest chunk %u: %s", s->path, m->name, i, ferry_strerror(err));
		return err;
	}
	m->next_chunk++;
	m->plain_len = n;
	m->plain_pos = 0;
	return FERRY_OK;
}

/* Makes at least want bytes available in carry (fewer only at the end). */
static int fill(struct mreader *m, size_t want, char *msg, size_t msglen)
{
	while (m->carry_len < want && m->consumed + m->carry_len < m->total) {
		if (m->plain_pos == m->plain_len) {
			int err = next_chunk(m, msg, msglen);
			if (err)
				return err;
			continue;
		}
		size_t take = m->plain_len - m->plain_pos;
		if (take > want - m->carry_len)
			take = want - m->carry_len;
		memcpy(m->carry + m->carry_len, m->plain + m->plain_pos, take);
		m->carry_len += take;
		m->plain_pos += take;
	}
	return FERRY_OK;
}

static void consume(struct mreader *m, size_t n)
{
	memmove(m->carry, m->carry + n, m->carry_len - n);
	m->carry_len -= n;
	m->consumed += n;
}

int mreader_next(struct mreader *m, struct ferry_entry *e, char *msg, size_t msglen)
{
	size_t used;
	int err;

	if (m->ended)
		return 0;
	if (!m->header_done) {
		if ((err = fill(m, FERRY_MANIFEST_HDR_LEN, msg, msglen)))
			return -err;
		err = ferry_manifest_header_decode(m->carry, m->carry_len, &m->created);
		if (err) {
			store_setmsg(msg, msglen, "%s@%s: manifest header: %s", m->s->path, m->name, ferry_strerror(err));
			return -err;
		}
		consume(m, FERRY_MANIFEST_HDR_LEN);
		m->header_done = 1;
	}
	/* the trailer is the last 16 bytes of the plaintext */
	if (m->consumed + FERRY_MANIFEST_TRAILER_LEN == m->total) {
		uint64_t count;
		if ((err = fill(m, FERRY_MANIFEST_TRAILER_LEN, msg, msglen)))
			return -err;
		err = ferry_manifest_trailer_decode(m->carry, m->carry_len, &count);
		if (!err && count != m->count)
			err = FERRY_E_FORMAT;
		if (!err && m->next_chunk != m->o.f.chunk_count)
			err = FERRY_E_FORMAT;
		if (err) {
			store_setmsg(msg, msglen, "%s@%s: manifest trailer: %s", m->s->path, m->name, ferry_strerror(err));
			return -err;
		}
		m->ended = 1;
		return 0;
	}
	size_t room = (size_t)(m->total - FERRY_MANIFEST_TRAILER_LEN - m->consumed);
	if ((err = fill(m, room < FERRY_ENTRY_FIXED_LEN ? room : FERRY_ENTRY_FIXED_LEN, msg, msglen)))
		return -err;
	/* the fixed part says how long the entry is; then fetch the rest */
	size_t need = FERRY_ENTRY_FIXED_LEN;
	if (m->carry_len >= FERRY_ENTRY_FIXED_LEN)
		need += (size_t)(m->carry[2] | m->carry[3] << 8) + (size_t)(m->carry[80] | m->carry[81] << 8);
	if (need > room) {
		store_setmsg(msg, msglen, "%s@%s: manifest entry runs into the trailer", m->s->path, m->name);
		return -FERRY_E_FORMAT;
	}
	if ((err = fill(m, need, msg, msglen)))
		return -err;
	err = ferry_entry_decode(m->carry, m->carry_len, e, m->strs, &used);
	if (err) {
		store_setmsg(msg, msglen, "%s@%s: manifest entry %llu: %s", m->s->path, m->name,
			     (unsigned long long)m->count, ferry_strerror(err));
		return -(err == FERRY_E_TRUNCATED ? FERRY_E_FORMAT : err);
	}
	/*
	 * Entries are in strict walk order (FORMAT.md §6). Checking it here refuses a path
	 * that comes twice (a symlink and then a directory of the same name, say), which
	 * no writer produces, and keeps the walk-order merges of pull-side sync honest.
	 */
	char *prev = m->strs + 2 * (FERRY_PATH_MAX + 1);
	if (m->count && store_cmp_walk(prev, e->path) >= 0) {
		store_setmsg(msg, msglen, "%s@%s: manifest entry %llu: '%s' %s", m->s->path, m->name,
			     (unsigned long long)m->count, e->path,
			     strcmp(prev, e->path) ? "is out of walk order" : "comes twice");
		return -FERRY_E_FORMAT;
	}
	memcpy(prev, e->path, strlen(e->path) + 1);
	consume(m, used);
	m->count++;
	return 1;
}

void mreader_close(struct mreader *m)
{
	if (m->s)
		objreader_close(m->s, &m->o);
	free(m->frame);
	if (m->plain) {
		OPENSSL_cleanse(m->plain, m->s->cfg.chunk_size);
		free(m->plain);
	}
	free(m->carry);
	free(m->strs);
	m->frame = m->plain = m->carry = NULL;
	m->strs = NULL;
}

/* ---------------------------------------------------------------- manifest writer */

int mwriter_open(struct ferry_store *s, struct mwriter *m, const char *snap_id, uint64_t created)
{
	char key[96];

	snprintf(key, sizeof(key), "snapshots/%s", snap_id);
	return mwriter_open_key(s, m, key, created);
}

int mwriter_open_key(struct ferry_store *s, struct mwriter *m, const char *key, uint64_t created)
{
	uint8_t hdr[FERRY_MANIFEST_HDR_LEN];
	int e, err;

	memset(m, 0, sizeof(*m));
	m->s = s;
	snprintf(m->key, sizeof(m->key), "%s", key);
	err = ferry_object_new(&m->h, s->keys.encrypted);
	if (err)
		return err;
	m->plain = malloc(s->cfg.chunk_size);
	m->frame = malloc(ferry_frame_bound(s->cfg.chunk_size));
	if (!m->plain || !m->frame)
		return FERRY_E_NOMEM;
	e = s->b->ops->wopen(s->b, m->key, &m->w);
	if (e) {
		m->w = NULL;
		return FERRY_E_IO;
	}
	ferry_object_hdr_encode(&m->h, m->hdrbuf);
	if (store_write_sync(s, m->w, m->hdrbuf, sizeof(m->hdrbuf), 0))
		return FERRY_E_IO;
	m->pos = FERRY_OBJ_HDR_LEN;
	ferry_manifest_header_encode(created, hdr);
	memcpy(m->plain, hdr, sizeof(hdr));
	m->len = sizeof(hdr);
	return FERRY_OK;
}

static int flush_chunk(struct mwriter *m, int last)
{
	struct ferry_store *s = m->s;
	struct ferry_index_entry ie;
	size_t flen;
	int err;

	err = ferry_frame_encode(s->codec, &m->h, m->index, last, m->plain, m->len, m->frame,
				 ferry_frame_bound(s->cfg.chunk_size), &flen, NULL);
	if (err)
		return err;
	if (store_write_sync(s, m->w, m->frame, flen, m->pos))
		return FERRY_E_IO;
	if (m->idx_len + FERRY_INDEX_ENTRY_LEN > m->idx_cap) {
		size_t ncap = m->idx_cap ? m->idx_cap * 2 : 4096;
		uint8_t *n = realloc(m->idx, ncap);
		if (!n)
			return FERRY_E_NOMEM;
		m->idx = n;
		m->idx_cap = ncap;
	}
	ie.offset = m->pos;
	ie.frame_len = (uint32_t)flen;
	ie.plain_len = (uint32_t)m->len;
	ferry_index_entry_encode(&ie, m->idx + m->idx_len);
	m->idx_len += FERRY_INDEX_ENTRY_LEN;
	m->pos += flen;
	m->total += m->len;
	m->index++;
	m->len = 0;
	return FERRY_OK;
}

/* Appends bytes; a full chunk goes out only once more bytes follow it, so the last is known. */
static int append(struct mwriter *m, const uint8_t *p, size_t n)
{
	size_t cap = m->s->cfg.chunk_size;

	while (n) {
		if (m->len == cap) {
			int err = flush_chunk(m, 0);
			if (err)
				return err;
		}
		size_t take = cap - m->len < n ? cap - m->len : n;
		memcpy(m->plain + m->len, p, take);
		m->len += take;
		p += take;
		n -= take;
	}
	return FERRY_OK;
}

int mwriter_add(struct mwriter *m, const struct ferry_entry *e)
{
	uint8_t buf[FERRY_ENTRY_MAX_LEN];
	size_t n = ferry_entry_size(e);

	if (m->err)
		return m->err;
	if (!n)
		return FERRY_E_TOOBIG;
	ferry_entry_encode(e, buf);
	m->err = append(m, buf, n);
	if (!m->err)
		m->count++;
	return m->err;
}

int mwriter_finish(struct mwriter *m)
{
	struct ferry_store *s = m->s;
	uint8_t tr[FERRY_MANIFEST_TRAILER_LEN], fb[FERRY_OBJ_FOOTER_LEN];
	int err = m->err, e;

	ferry_manifest_trailer_encode(m->count, tr);
	m->why[0] = 0;
	if (!err)
		err = append(m, tr, sizeof(tr));
	if (!err)
		err = flush_chunk(m, 1);
	if (err) {
		mwriter_abort(m);
		return err;
	}
	struct ferry_object_footer f = {
		.index_offset = m->pos,
		.chunk_count = m->index,
		.plain_total = m->total,
		.index_hash = ferry_index_hash(m->hdrbuf, m->idx, m->idx_len),
	};
	ferry_object_footer_encode(&f, fb);
	if ((e = store_write_sync(s, m->w, m->idx, m->idx_len, m->pos)) ||
	    (e = store_write_sync(s, m->w, fb, sizeof(fb), m->pos + m->idx_len)))
		goto fail;
	/* data first: every object this manifest names must be durable before it appears */
	if (s->b->ops->sync && (e = s->b->ops->sync(s->b)))
		goto fail;
	e = s->b->ops->commit(s->b, m->w, 1);
	m->w = NULL;
	if (e)
		goto fail;
	mwriter_abort(m);
	return FERRY_OK;
fail:
	snprintf(m->why, sizeof(m->why), "%s", store_berr(s->b, e));
	mwriter_abort(m);
	return e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
}

void mwriter_abort(struct mwriter *m)
{
	if (m->w)
		m->s->b->ops->abort(m->s->b, m->w);
	m->w = NULL;
	if (m->plain) {
		OPENSSL_cleanse(m->plain, m->s->cfg.chunk_size);
		free(m->plain);
	}
	free(m->frame);
	free(m->idx);
	m->plain = m->frame = m->idx = NULL;
}

/* ---------------------------------------------------------------- the public entry iterator */

/* The streaming reader behind a public handle: callers outside the store (ls, the
 * planner) see entries, not chunks or the manifest's framing. */
struct ferry_snapshot_iter {
	struct mreader m;
	struct ferry_entry e;
};

int ferry_snapshot_entries_open(struct ferry_store *s, const char *snap, struct ferry_snapshot_iter **it,
				char *msg, size_t msglen)
{
	struct ferry_snapshot_iter *t = calloc(1, sizeof(*t));
	int err;

	*it = NULL;
	if (!t) {
		store_setmsg(msg, msglen, "%s: %s", s->path, ferry_strerror(FERRY_E_NOMEM));
		return FERRY_E_NOMEM;
	}
	err = mreader_open(s, snap, &t->m, msg, msglen);
	if (err) {
		if (err == FERRY_E_NOMEM)
			store_setmsg(msg, msglen, "%s: %s", s->path, ferry_strerror(err));
		free(t); /* mreader_open released what it took */
		return err;
	}
	*it = t;
	return FERRY_OK;
}

int ferry_snapshot_entries_next(struct ferry_snapshot_iter *it, const struct ferry_entry **e, char *msg,
				size_t msglen)
{
	int ret = mreader_next(&it->m, &it->e, msg, msglen);

	*e = ret > 0 ? &it->e : NULL;
	return ret;
}

const char *ferry_snapshot_entries_name(const struct ferry_snapshot_iter *it)
{
	return it->m.name;
}

void ferry_snapshot_entries_close(struct ferry_snapshot_iter *it)
{
	if (!it)
		return;
	mreader_close(&it->m);
	free(it);
}

int store_cmp_walk(const char *a, const char *b)
{
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		int c = memcmp(a, b, la < lb ? la : lb);

		if (c)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
		a += la;
		b += lb;
		if (!*a || !*b)
			return *a ? 1 : *b ? -1 : 0;
		a++;
		b++;
	}
}

