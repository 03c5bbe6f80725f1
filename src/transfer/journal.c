/*
 * The resume journal of a push or sync: a local file per (store, source) that records
 * what a run has stored so far, so that a run killed part way (kill -9, power, a lost
 * network) is continued by the next one instead of started over.
 *
 * Records, appended as the run goes (docs/S3.md, "Resume"):
 *   E  a file's manifest entry, once its data is in an object of this run
 *   D  an object is durable in the store (its id and size)
 *   U  a multipart upload was started (key, upload id; for a large file's object also
 *      the object header and the file's size and mtime, so the object can be made again
 *      byte for byte and the parts the server holds are not sent twice)
 *   X  an upload ended (completed or aborted)
 * Each record is [u32 length][u8 type][payload][u32 check]; a torn tail (the run was
 * killed mid-write) ends the reading, so a record is either whole or ignored.
 *
 * The next run reads the journal, keeps the entries whose objects are still in the
 * store (a prune in between may have removed them), writes what it keeps into a new
 * journal and renames that over the old one. Then the files are carried into the new
 * snapshot by reference if their size and mtime are unchanged. A successful snapshot
 * deletes the journal.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "bytes.h"
#include "transfer_int.h"

#define J_MAGIC "FRYJ"
#define J_VERSION 1
#define J_MAX_FILE (4ull << 30) /* a journal larger than this is not read */
#define J_STAT_MAX 4096        /* up to this many objects are checked one by one, else by listing */

struct jexpect {
	struct ferry_object_hdr hdr;
	char *key;
	char *path;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

struct jobj {
	uint8_t id[FERRY_ID_LEN];
	uint64_t size;
	int want, found;
};

struct journal {
	pthread_mutex_t mu;
	int fd;
	char path[PATH_MAX];
	struct ferry_backend *b;
	char *loc; /* the store or copy destination, as given */
	char *src; /* the source (push, copy up) or destination (pull, copy down), resolved */
	uint8_t id[FERRY_ID_LEN];
	char kind; /* 's' push to a store, 'c' copy up (keys are paths, whole objects, no D
		    * records), 'p' pull, 'd' copy down (E: files done; U: partial files) */
	struct ferry_run *r;
	/* from the interrupted run */
	struct ferry_entry *done; /* sorted by path */
	size_t ndone, capdone;
	struct jupload *up;
	size_t nup, capup;
	/* this run */
	uint8_t *buf;
	size_t len, cap;
	struct jexpect *exp;
	size_t nexp, capexp;
	uint64_t reused, reused_parts; /* parts the server held already: bytes, count */
	int broken;
	int interrupted; /* a journal of the same run kind, store and tree was there */
};

/* ---------------------------------------------------------------- bytes */

/* A length-prefixed string into p (at most 65535 bytes); returns the bytes used. */
static size_t putstr(uint8_t *p, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	put_le16(p, (uint16_t)n);
	if (n)
		memcpy(p + 2, s, n);
	return 2 + n;
}

/* Reads a length-prefixed string into out (cap bytes); 0, or -1 if it does not fit. */
static int getstr(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	if (end - *p < 2)
		return -1;
	size_t n = get_le16(*p);
	if ((size_t)(end - *p) < 2 + n || n >= cap || memchr(*p + 2, 0, n))
		return -1;
	memcpy(out, *p + 2, n);
	out[n] = 0;
	*p += 2 + n;
	return 0;
}

/* ---------------------------------------------------------------- writing */

/* Appends one record to the buffer; called with mu held. */
static void rec_locked(struct journal *j, uint8_t type, const uint8_t *payload, size_t n)
{
	if (j->broken)
		return;
	if (j->len + n + 9 > j->cap) {
		size_t nc = j->cap ? j->cap : 65536;
		while (nc < j->len + n + 9)
			nc *= 2;
		uint8_t *nb = realloc(j->buf, nc);
		if (!nb) {
			j->broken = 1;
			return;
		}
		j->buf = nb;
		j->cap = nc;
	}
	uint8_t *p = j->buf + j->len;
	put_le32(p, (uint32_t)n);
	p[4] = type;
	memcpy(p + 5, payload, n);
	put_le32(p + 5 + n, (uint32_t)XXH3_64bits(p + 4, n + 1));
	j->len += n + 9;
}

static void flush_locked(struct journal *j)
{
	size_t off = 0;

	while (!j->broken && off < j->len) {
		ssize_t w = write(j->fd, j->buf + off, j->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* a journal that cannot be written only costs the resume */
			fprintf(stderr, "ferry: warning: writing the resume journal %s: %s; an interrupted run will "
				"start over\n", j->path, w < 0 ? strerror(errno) : "short write");
			j->broken = 1;
			break;
		}
		off += (size_t)w;
	}
	j->len = 0;
}

static void rec_entry_locked(struct journal *j, const struct ferry_entry *e)
{
	uint8_t tmp[64 + 2 * (FERRY_PATH_MAX + 1) + 64];
	size_t n = ferry_entry_size(e);

	if (n && n <= sizeof(tmp)) {
		ferry_entry_encode(e, tmp);
		rec_locked(j, 'E', tmp, n);
	}
}

static void rec_done_locked(struct journal *j, const uint8_t id[FERRY_ID_LEN], uint64_t size)
{
	uint8_t tmp[FERRY_ID_LEN + 8];

	memcpy(tmp, id, FERRY_ID_LEN);
	put_le64(tmp + FERRY_ID_LEN, size);
	rec_locked(j, 'D', tmp, sizeof(tmp));
}

static void rec_upload_locked(struct journal *j, const char *key, const char *upload_id, const struct jexpect *x)
{
	uint8_t tmp[64 + 3 * 2 + 1100 + 1100 + FERRY_PATH_MAX];
	uint8_t *p = tmp;

	if (strlen(key) >= 1100 || strlen(upload_id) >= 1100)
		return;
	memset(p, 0, 48);
	if (x) {
		memcpy(p, x->hdr.object_id, FERRY_ID_LEN);
		memcpy(p + 16, x->hdr.nonce_prefix, FERRY_NONCE_PREFIX_LEN);
		p[23] = x->hdr.flags;
		put_le64(p + 24, x->size);
		put_le64(p + 32, (uint64_t)x->mtime_sec);
		put_le32(p + 40, x->mtime_nsec);
	}
	p += 48;
	p += putstr(p, key);
	p += putstr(p, upload_id);
	p += putstr(p, x ? x->path : NULL);
	rec_locked(j, 'U', tmp, (size_t)(p - tmp));
}

static void rec_ended_locked(struct journal *j, const char *key)
{
	uint8_t tmp[1100 + 2];

	if (strlen(key) < 1100)
		rec_locked(j, 'X', tmp, putstr(tmp, key));
}

/* ---------------------------------------------------------------- events from the backend */

/* "data/ab/<32 hex>" → id; 0 on success. */
static int key_id(const char *key, uint8_t id[FERRY_ID_LEN])
{
	if (strncmp(key, "data/", 5) || strlen(key) != 8 + 2 * FERRY_ID_LEN || key[7] != '/')
		return -1;
	for (int i = 0; i < FERRY_ID_LEN; i++) {
		unsigned v;
		if (sscanf(key + 8 + 2 * i, "%2x", &v) != 1)
			return -1;
		id[i] = (uint8_t)v;
	}
	return 0;
}

static struct jexpect *expect_find_locked(struct journal *j, const char *key)
{
	for (size_t i = 0; i < j->nexp; i++)
		if (!strcmp(j->exp[i].key, key))
			return &j->exp[i];
	return NULL;
}

static void ev_started(void *arg, const char *key, const char *upload_id)
{
	struct journal *j = arg;

	pthread_mutex_lock(&j->mu);
	rec_upload_locked(j, key, upload_id, expect_find_locked(j, key));
	flush_locked(j);
	pthread_mutex_unlock(&j->mu);
}

static void ev_reused(void *arg, const char *key, uint64_t bytes)
{
	struct journal *j = arg;

	(void)key;
	pthread_mutex_lock(&j->mu);
	j->reused += bytes;
	j->reused_parts++;
	pthread_mutex_unlock(&j->mu);
}

static void ev_finished(void *arg, const char *key, uint64_t size, int res)
{
	struct journal *j = arg;
	uint8_t id[FERRY_ID_LEN];
	struct jexpect *x;

	pthread_mutex_lock(&j->mu);
	x = expect_find_locked(j, key);
	if (!res && j->kind == 's' && key_id(key, id) == 0)
		rec_done_locked(j, id, size);
	if (!res && j->kind == 'c' && x && x->size == size) {
		/* a copied file is done when its object is */
		struct ferry_entry e = { .type = FERRY_ENTRY_FILE, .size = x->size, .mtime_sec = x->mtime_sec,
					 .mtime_nsec = x->mtime_nsec, .path = x->path };
		rec_entry_locked(j, &e);
	}
	rec_ended_locked(j, key);
	if (x) {
		free(x->key);
		free(x->path);
		*x = j->exp[--j->nexp];
	}
	flush_locked(j);
	pthread_mutex_unlock(&j->mu);
}

/* ---------------------------------------------------------------- reading */

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct ferry_entry *)a)->path, ((const struct ferry_entry *)b)->path);
}

/* Positions in an entry array: by path, then by position (qsort_r). */
static int cmp_index(const void *a, const void *b, void *arg)
{
	const struct ferry_entry *e = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(e[x].path, e[y].path);

	return c ? c : x < y ? -1 : x > y;
}

static int cmp_obj(const void *a, const void *b)
{
	return memcmp(((const struct jobj *)a)->id, ((const struct jobj *)b)->id, FERRY_ID_LEN);
}

static struct jobj *obj_find(struct jobj *v, size_t n, const uint8_t id[FERRY_ID_LEN])
{
	struct jobj k;

	memcpy(k.id, id, FERRY_ID_LEN);
	return n ? bsearch(&k, v, n, sizeof(*v), cmp_obj) : NULL;
}

static int list_mark(void *arg, const char *key, uint64_t size)
{
	struct jobj **ctx = arg; /* [0] = array, [1] = its end */
	uint8_t id[FERRY_ID_LEN];

	if (key_id(key, id) == 0) {
		struct jobj *o = obj_find(ctx[0], (size_t)(ctx[1] - ctx[0]), id);
		if (o && o->want && o->size == size)
			o->found = 1;
	}
	return 0;
}

struct loaded {
	struct ferry_entry *e;
	size_t ne, cape;
	struct jobj *o;
	size_t no, capo;
	struct jupload *u;
	size_t nu, capu;
};

static void loaded_free(struct loaded *l)
{
	for (size_t i = 0; i < l->ne; i++) {
		free(l->e[i].path);
		free(l->e[i].target);
	}
	free(l->e);
	free(l->o);
	for (size_t i = 0; i < l->nu; i++)
		free(l->u[i].path);
	free(l->u);
}

#define GROW(v, n, cap)                                                                                             \
	((n) < (cap) ? 0 : ((cap) = (cap) ? 2 * (cap) : 64, ((v) = reallocarray_or_free((v), (cap), sizeof(*(v)))) ? 0 : -1))

static void *reallocarray_or_free(void *p, size_t n, size_t sz)
{
	void *np = reallocarray(p, n, sz);

	if (!np)
		free(p);
	return np;
}

/* Parses the records after the header; a bad record ends the reading (a torn tail). */
static int parse_records(const uint8_t *p, const uint8_t *end, struct loaded *l, char kind)
{
	char *strs = malloc(2 * (FERRY_PATH_MAX + 1));

	if (!strs)
		return -1;
	while (end - p >= 9) {
		uint32_t n = get_le32(p);
		if ((uint64_t)(end - p) < (uint64_t)n + 9 || get_le32(p + 5 + n) != (uint32_t)XXH3_64bits(p + 4, n + 1))
			break;
		const uint8_t *q = p + 5, *qe = p + 5 + n;
		uint8_t type = p[4];
		p += n + 9;
		if (type == 'E') {
			struct ferry_entry e;
			size_t used;
			if (ferry_entry_decode(q, n, &e, strs, &used) || used != n || e.type != FERRY_ENTRY_FILE ||
			    (!e.chunk_count && kind == 's'))
				continue;
			if (GROW(l->e, l->ne, l->cape))
				goto nomem;
			e.path = strdup(e.path);
			e.target = NULL;
			if (!e.path)
				goto nomem;
			l->e[l->ne++] = e;
		} else if (type == 'D' && n == FERRY_ID_LEN + 8) {
			if (GROW(l->o, l->no, l->capo))
				goto nomem;
			memcpy(l->o[l->no].id, q, FERRY_ID_LEN);
			l->o[l->no].size = get_le64(q + FERRY_ID_LEN);
			l->o[l->no].found = 0;
			l->no++;
		} else if (type == 'U' && n >= 48) {
			struct jupload u;
			char path[FERRY_PATH_MAX + 1];
			memset(&u, 0, sizeof(u));
			memcpy(u.hdr.object_id, q, FERRY_ID_LEN);
			memcpy(u.hdr.nonce_prefix, q + 16, FERRY_NONCE_PREFIX_LEN);
			u.hdr.flags = q[23];
			u.size = get_le64(q + 24);
			u.mtime_sec = (int64_t)get_le64(q + 32);
			u.mtime_nsec = get_le32(q + 40);
			q += 48;
			if (getstr(&q, qe, u.key, sizeof(u.key)) || getstr(&q, qe, u.upload_id, sizeof(u.upload_id)) ||
			    getstr(&q, qe, path, sizeof(path)) || !u.key[0] || !u.upload_id[0])
				continue;
			if (path[0] && !(u.path = strdup(path)))
				goto nomem;
			if (GROW(l->u, l->nu, l->capu)) {
				free(u.path);
				goto nomem;
			}
			l->u[l->nu++] = u;
		} else if (type == 'X') {
			char key[1100];
			if (getstr(&q, qe, key, sizeof(key)))
				continue;
			for (size_t i = 0; i < l->nu; i++)
				if (!strcmp(l->u[i].key, key))
					l->u[i].ended = 1;
		}
	}
	free(strs);
	return 0;
nomem:
	free(strs);
	return -1;
}

/* Keeps the latest entry of each path (the input is in record order). */
static void latest_per_path(struct loaded *l)
{
	size_t k = 0;
	size_t *ix = malloc((l->ne ? l->ne : 1) * sizeof(*ix));
	struct ferry_entry *sorted = malloc((l->ne ? l->ne : 1) * sizeof(*sorted));

	if (!ix || !sorted) {
		for (size_t i = 0; i < l->ne; i++)
			free(l->e[i].path);
		l->ne = 0;
		free(ix);
		free(sorted);
		return;
	}
	for (size_t i = 0; i < l->ne; i++)
		ix[i] = i;
	qsort_r(ix, l->ne, sizeof(*ix), cmp_index, l->e);
	for (size_t i = 0; i < l->ne; i++) {
		if (i + 1 < l->ne && !strcmp(l->e[ix[i]].path, l->e[ix[i + 1]].path))
			free(l->e[ix[i]].path); /* a later record of the same path follows */
		else
			sorted[k++] = l->e[ix[i]];
	}
	free(l->e);
	free(ix);
	l->e = sorted;
	l->ne = k;
	l->cape = l->ne ? l->ne : 1;
}

struct copied {
	struct loaded *l;
	uint8_t *seen;
};

static int copied_mark(void *arg, const char *key, uint64_t size)
{
	struct copied *c = arg;
	struct ferry_entry k = { .path = (char *)key };
	struct ferry_entry *e = c->l->ne ? bsearch(&k, c->l->e, c->l->ne, sizeof(k), cmp_entry) : NULL;

	if (e && e->size == size)
		c->seen[e - c->l->e] = 1;
	return 0;
}

/* A copy's files are done if an object of their size is under their key: one listing. */
static void check_copied(struct journal *j, struct loaded *l)
{
	struct copied c = { l, NULL };
	size_t k = 0;

	latest_per_path(l);
	if (!l->ne)
		return;
	c.seen = calloc(l->ne, 1);
	if (!c.seen || j->b->ops->list(j->b, "", copied_mark, &c)) {
		free(c.seen);
		c.seen = NULL;
	}
	for (size_t i = 0; i < l->ne; i++) {
		if (c.seen && c.seen[i])
			l->e[k++] = l->e[i];
		else
			free(l->e[i].path);
	}
	l->ne = k;
	free(c.seen);
}

/* Up to J_STAT_THREADS HEADs in flight: one at a time, 4,096 of them are minutes
 * over a WAN (and the S3 backend takes requests from any thread). */
#define J_STAT_THREADS 16
struct statrun {
	struct ferry_backend *b;
	struct jobj *o;
	size_t n, next;
	pthread_mutex_t mu;
};

static void *stat_main(void *arg)
{
	struct statrun *sr = arg;

	for (;;) {
		pthread_mutex_lock(&sr->mu);
		while (sr->next < sr->n && !sr->o[sr->next].want)
			sr->next++;
		size_t i = sr->next++;
		pthread_mutex_unlock(&sr->mu);
		if (i >= sr->n)
			return NULL;
		char key[64];
		uint64_t size;
		store_object_key(sr->o[i].id, key);
		if (sr->b->ops->stat(sr->b, key, &size) == 0 && size == sr->o[i].size)
			sr->o[i].found = 1; /* each thread its own objects */
	}
}

static void stat_wanted(struct ferry_backend *b, struct jobj *o, size_t n, size_t wanted)
{
	struct statrun sr = { .b = b, .o = o, .n = n };
	pthread_t th[J_STAT_THREADS];
	size_t nth = 0;

	pthread_mutex_init(&sr.mu, NULL);
	for (; nth + 1 < J_STAT_THREADS && nth + 1 < wanted; nth++)
		if (pthread_create(&th[nth], NULL, stat_main, &sr))
			break;
	stat_main(&sr); /* this thread too (alone when no thread could start) */
	for (size_t t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&sr.mu);
}

/* Keeps the entries whose objects are durable and still in the store. */
static void check_objects(struct journal *j, struct loaded *l)
{
	struct ferry_backend *b = j->b;
	size_t k = 0, wanted = 0;

	if (j->kind == 'c') {
		check_copied(j, l);
		return;
	}
	if (j->kind != 's') {
		latest_per_path(l); /* a pull's files are checked one by one when met */
		return;
	}
	/* one record per object id (a later one wins: it is the same object) */
	if (l->no)
		qsort(l->o, l->no, sizeof(*l->o), cmp_obj);
	for (size_t i = 0; i < l->no; i++)
		if (k == 0 || memcmp(l->o[k - 1].id, l->o[i].id, FERRY_ID_LEN))
			l->o[k++] = l->o[i];
		else
			l->o[k - 1] = l->o[i];
	l->no = k;
	/* only objects that entries name are looked up */
	for (size_t i = 0; i < l->ne; i++) {
		struct jobj *o = obj_find(l->o, l->no, l->e[i].object_id);
		if (o && o->size == l->e[i].object_size && !o->want) {
			o->want = 1;
			wanted++;
		}
	}
	if (wanted <= J_STAT_MAX) {
		stat_wanted(b, l->o, l->no, wanted);
	} else {
		struct jobj *ctx[2] = { l->o, l->o + l->no };
		if (b->ops->list(b, "data/", list_mark, ctx))
			for (size_t i = 0; i < l->no; i++)
				l->o[i].found = 0; /* cannot tell: keep nothing */
	}
	k = 0;
	for (size_t i = 0; i < l->ne; i++) {
		struct jobj *o = obj_find(l->o, l->no, l->e[i].object_id);
		if (o && o->found && o->size == l->e[i].object_size)
			l->e[k++] = l->e[i];
		else
			free(l->e[i].path);
	}
	l->ne = k;
	/* the same path twice (a file stored again after a change): the last one counts */
	latest_per_path(l);
}

/* ---------------------------------------------------------------- open / close */

static int state_dir(char *out, size_t cap)
{
	const char *d = getenv("FERRY_STATE_DIR"), *x = getenv("XDG_STATE_HOME"), *h = getenv("HOME");
	int n;

	if (d && d[0])
		n = snprintf(out, cap, "%s", d);
	else if (x && x[0] == '/')
		n = snprintf(out, cap, "%s/ferry", x);
	else if (h && h[0] == '/')
		n = snprintf(out, cap, "%s/.local/state/ferry", h);
	else
		return -1;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = 0;
			int e = mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
			*p = c;
			if (e)
				return -1;
			if (!c)
				return 0;
		}
	}
}

static size_t header(const struct journal *j, const char *src, uint8_t *out)
{
	uint8_t *p = out;

	memcpy(p, J_MAGIC, 4);
	p[4] = J_VERSION;
	memcpy(p + 5, j->id, FERRY_ID_LEN);
	p += 5 + FERRY_ID_LEN;
	p += putstr(p, src);
	p += putstr(p, j->loc);
	return (size_t)(p - out);
}

static void read_old(struct journal *j, const uint8_t *hdr, size_t hlen, struct loaded *l)
{
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;

	if (fd < 0)
		return;
	if (fstat(fd, &st) || st.st_size < 9 || (uint64_t)st.st_size > J_MAX_FILE ||
	    !(buf = malloc((size_t)st.st_size))) {
		close(fd);
		return;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	/* the first record is the header: the same store and source, or nothing is used */
	if (got >= hlen + 9 && get_le32(buf) == hlen && buf[4] == 'H' && !memcmp(buf + 5, hdr, hlen) &&
	    get_le32(buf + 5 + hlen) == (uint32_t)XXH3_64bits(buf + 4, hlen + 1)) {
		j->interrupted = 1;
		if (parse_records(buf + hlen + 9, buf + got, l, j->kind))
			fprintf(stderr, "ferry: warning: out of memory reading the resume journal %s\n", j->path);
	}
	free(buf);
}

struct cleanup {
	struct journal *j;
	struct store_strlist keys, ids;
};

static int collect_upload(void *arg, const char *key, const char *upload_id)
{
	struct cleanup *c = arg;
	int e = store_strlist_add(&c->keys, key);

	return e ? e : store_strlist_add(&c->ids, upload_id);
}

/* Is this unfinished upload one the journal can resume? */
static struct jupload *resumable(struct journal *j, const char *key, const char *upload_id)
{
	for (size_t i = 0; i < j->nup; i++)
		if (!strcmp(j->up[i].key, key) && !strcmp(j->up[i].upload_id, upload_id) && j->up[i].path)
			return &j->up[i];
	return NULL;
}

/*
 * Aborts the store's unfinished uploads that nothing will resume: those of runs that
 * were killed, and a first upload left behind when CreateMultipartUpload was retried.
 * Only under an exclusive lock: shards of a group write side by side.
 */
static void abort_orphans(struct journal *j)
{
	struct ferry_backend *b = j->b;
	struct cleanup c = { .j = j };

	if (!b->ops->uploads || j->r->shard_count > 1)
		return;
	int e = b->ops->uploads(b, "", collect_upload, &c);
	if (e) {
		fprintf(stderr, "ferry: warning: listing unfinished uploads in %s: %s\n", j->loc, store_berr(b, e));
	} else {
		for (size_t i = 0; i < c.keys.n; i++) {
			if (resumable(j, c.keys.v[i], c.ids.v[i]))
				continue;
			e = b->ops->uabort(b, c.keys.v[i], c.ids.v[i]);
			if (e)
				fprintf(stderr, "ferry: warning: aborting the unfinished upload of %s: %s\n", c.keys.v[i],
					store_berr(b, e));
			else
				j->r->uploads_aborted++;
		}
	}
	store_strlist_free(&c.keys);
	store_strlist_free(&c.ids);
}

static struct journal *open_at(struct ferry_backend *b, const char *loc, const uint8_t id[FERRY_ID_LEN], char kind,
			       const char *src, struct ferry_run *r)
{
	char dir[PATH_MAX - 200], real[PATH_MAX], tmp[PATH_MAX + 8], idhex[2 * FERRY_ID_LEN + 1];
	uint8_t hdr[5 + FERRY_ID_LEN + 4 + 2 * PATH_MAX];
	struct loaded l = { 0 };
	struct journal *j;
	size_t hlen;

	if (getenv("FERRY_NO_JOURNAL") || state_dir(dir, sizeof(dir)) || !realpath(src, real) ||
	    strlen(loc) >= PATH_MAX)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->loc = strdup(loc))) {
		free(j);
		return NULL;
	}
	pthread_mutex_init(&j->mu, NULL);
	j->b = b;
	memcpy(j->id, id, FERRY_ID_LEN);
	j->kind = kind;
	j->r = r;
	j->fd = -1;
	j->src = strdup(real);
	if (!j->src) {
		journal_close(j, 0);
		return NULL;
	}
	store_hex(id, FERRY_ID_LEN, idhex);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/journal");
	snprintf(j->path, sizeof(j->path), "%s/%s-%016llx%s", dir, idhex,
		 (unsigned long long)XXH3_64bits(real, strlen(real)),
		 kind == 'p' ? "-pull" : kind == 'd' ? "-down" : kind == 'c' ? "-copy" : "");
	if (make_dirs(dir)) {
		fprintf(stderr, "ferry: warning: cannot create %s: %s; an interrupted run will start over\n", dir,
			strerror(errno));
		journal_close(j, 0);
		return NULL;
	}
	hlen = header(j, real, hdr);
	read_old(j, hdr, hlen, &l);
	check_objects(j, &l);
	/* the new journal starts with what is kept of the old one, then replaces it */
	snprintf(tmp, sizeof(tmp), "%s.new", j->path);
	j->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		fprintf(stderr, "ferry: warning: cannot write %s: %s; an interrupted run will start over\n", tmp,
			strerror(errno));
		loaded_free(&l);
		journal_close(j, 0);
		return NULL;
	}
	pthread_mutex_lock(&j->mu);
	rec_locked(j, 'H', hdr, hlen);
	for (size_t i = 0; i < l.ne; i++) {
		rec_entry_locked(j, &l.e[i]);
		if (i == 0 || memcmp(l.e[i].object_id, l.e[i - 1].object_id, FERRY_ID_LEN) ||
		    l.e[i].object_size != l.e[i - 1].object_size)
			rec_done_locked(j, l.e[i].object_id, l.e[i].object_size); /* repeats are harmless */
	}
	for (size_t i = 0; i < l.nu; i++) {
		struct jupload *u = &l.u[i];
		if (u->ended)
			continue;
		struct jexpect x = { .hdr = u->hdr, .path = u->path, .size = u->size, .mtime_sec = u->mtime_sec,
				     .mtime_nsec = u->mtime_nsec };
		rec_upload_locked(j, u->key, u->upload_id, u->path ? &x : NULL);
	}
	flush_locked(j);
	pthread_mutex_unlock(&j->mu);
	if (j->broken || rename(tmp, j->path)) {
		if (!j->broken)
			fprintf(stderr, "ferry: warning: cannot write %s: %s; an interrupted run will start over\n",
				j->path, strerror(errno));
		unlink(tmp);
		loaded_free(&l);
		journal_close(j, 0);
		return NULL;
	}
	/* the kept state is the journal's now */
	j->done = l.e;
	j->ndone = l.ne;
	j->capdone = l.cape;
	l.e = NULL;
	l.ne = 0;
	size_t k = 0;
	for (size_t i = 0; i < l.nu; i++) {
		if (l.u[i].ended)
			free(l.u[i].path);
		else
			l.u[k++] = l.u[i];
	}
	j->up = l.u;
	j->nup = k;
	l.u = NULL;
	l.nu = 0;
	loaded_free(&l);
	if (r->verbose && (j->ndone || j->nup))
		fprintf(stderr, "ferry: resuming: %zu files %s and %zu %s by an interrupted run\n", j->ndone,
			kind == 's' ? "stored" : kind == 'c' ? "copied" : "restored", j->nup,
			kind == 's' || kind == 'c' ? "uploads started" : "files part written");
	if (kind == 's')
		abort_orphans(j); /* a copy's prefix may hold other writers' uploads */
	if ((kind == 's' || kind == 'c') && b->ops->set_events) {
		struct ferry_wevents ev = { j, ev_started, ev_reused, ev_finished };
		b->ops->set_events(b, &ev);
	}
	return j;
}

struct journal *journal_open(struct ferry_store *s, const char *src, struct ferry_run *r)
{
	return open_at(s->b, s->path, s->cfg.store_id, 's', src, r);
}

struct journal *journal_open_copy(struct ferry_backend *b, const char *url, const char *src, struct ferry_run *r)
{
	uint8_t id[FERRY_ID_LEN];
	XXH128_hash_t h = XXH3_128bits(url, strlen(url));

	/* no store id: the destination URL names the journal */
	memcpy(id, &h, sizeof(id));
	if (!b->ops->set_events)
		return NULL; /* only object stores report when an object is done */
	return open_at(b, url, id, 'c', src, r);
}

struct journal *journal_open_pull(struct ferry_store *s, const char *snap, const char *dst, struct ferry_run *r)
{
	char loc[PATH_MAX];

	if ((size_t)snprintf(loc, sizeof(loc), "%s@%s", s->path, snap) >= sizeof(loc))
		return NULL;
	return open_at(s->b, loc, s->cfg.store_id, 'p', dst, r);
}

struct journal *journal_open_down(struct ferry_backend *b, const char *url, const char *dst, struct ferry_run *r)
{
	uint8_t id[FERRY_ID_LEN];
	XXH128_hash_t h = XXH3_128bits(url, strlen(url));

	memcpy(id, &h, sizeof(id));
	return open_at(b, url, id, 'd', dst, r);
}

void journal_partial(struct journal *j, const char *path, const char *tmp, const char *tag, uint64_t size,
		     int64_t mtime_sec, uint32_t mtime_nsec)
{
	struct jexpect x = { .path = (char *)path, .size = size, .mtime_sec = mtime_sec, .mtime_nsec = mtime_nsec };

	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	rec_upload_locked(j, tmp, tag, &x);
	/* on disk at once when worth resuming, or when each file costs a request anyway;
	 * a pull's small files go with the next flush (a kill may leave a few of their
	 * temporary files behind: never under a final name) */
	if (size >= (8u << 20) || j->kind == 'd')
		flush_locked(j);
	pthread_mutex_unlock(&j->mu);
}

/* A temporary file's name as pull and copy make it: .ferry-<12 hex>.part or .link (pull,
 * copy), .ferry-tmp-<12 hex> (copy down from S3) */
static int our_temp(const char *name)
{
	size_t n = strlen(name);
	const char *hex = name + 7;

	if (strncmp(name, ".ferry-", 7))
		return 0;
	if (n == 23 && !strncmp(hex, "tmp-", 4))
		hex += 4;
	else if (n != 24 || (strcmp(name + 19, ".part") && strcmp(name + 19, ".link")))
		return 0;
	for (int i = 0; i < 12; i++)
		if (!strchr("0123456789abcdef", hex[i]))
			return 0;
	return 1;
}

/* Removes the temporary files an interrupted restore into this tree left, recorded or
 * not: a small file's is recorded only with the journal's next flush, so a kill can
 * leave some the journal never named. Walks by descriptors, never through a symlink;
 * takes dfd. */
static void sweep_dir(int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (our_temp(de->d_name)) {
			unlinkat(dirfd(d), de->d_name, 0);
		} else if (depth < 400 && (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)) {
			int c = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c >= 0)
				sweep_dir(c, depth + 1);
		}
	}
	closedir(d);
}

const struct ferry_entry *journal_done(struct journal *j, const char *path)
{
	struct ferry_entry k = { .path = (char *)path };

	if (!j || !j->ndone)
		return NULL;
	return bsearch(&k, j->done, j->ndone, sizeof(*j->done), cmp_entry);
}

struct jupload *journal_upload(struct journal *j, const char *path)
{
	if (!j)
		return NULL;
	for (size_t i = 0; i < j->nup; i++)
		if (j->up[i].path && !j->up[i].used && !strcmp(j->up[i].path, path))
			return &j->up[i];
	return NULL;
}

void journal_expect(struct journal *j, const char *key, const struct ferry_object_hdr *h, const struct ferry_entry *e)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	if (j->nexp == j->capexp) {
		size_t nc = j->capexp ? 2 * j->capexp : 8;
		struct jexpect *nx = reallocarray(j->exp, nc, sizeof(*nx));
		if (!nx) {
			pthread_mutex_unlock(&j->mu);
			return;
		}
		j->exp = nx;
		j->capexp = nc;
	}
	struct jexpect *x = &j->exp[j->nexp];
	memset(x, 0, sizeof(*x));
	if (h)
		x->hdr = *h;
	x->size = e->size;
	x->mtime_sec = e->mtime_sec;
	x->mtime_nsec = e->mtime_nsec;
	x->path = strdup(e->path);
	x->key = strdup(key);
	if (x->path && x->key) {
		j->nexp++;
	} else {
		free(x->path);
		free(x->key);
	}
	pthread_mutex_unlock(&j->mu);
}

void journal_entry(struct journal *j, const struct ferry_entry *e)
{
	if (!j || e->type != FERRY_ENTRY_FILE || (!e->chunk_count && j->kind == 's'))
		return;
	pthread_mutex_lock(&j->mu);
	rec_entry_locked(j, e);
	pthread_mutex_unlock(&j->mu);
}

void journal_object(struct journal *j, const uint8_t id[FERRY_ID_LEN], uint64_t size)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	rec_done_locked(j, id, size);
	flush_locked(j);
	pthread_mutex_unlock(&j->mu);
}

void journal_flush(struct journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	if (j->len)
		flush_locked(j);
	pthread_mutex_unlock(&j->mu);
}

void journal_close(struct journal *j, int complete)
{
	if (!j)
		return;
	if (j->b && j->b->ops->set_events)
		j->b->ops->set_events(j->b, NULL); /* no event comes after this: j->reused is final */
	/* parts that were on the server already: resumed, not written (bytes_written counts
	 * what went over the wire) */
	j->r->bytes_resumed += j->reused;
	j->r->parts_resumed += j->reused_parts;
	j->r->bytes_written -= j->reused < j->r->bytes_written ? j->reused : j->r->bytes_written;
	if (complete && j->fd >= 0) {
		/* uploads of files that changed since: nothing will resume them */
		struct ferry_backend *b = j->b;
		for (size_t i = 0; i < j->nup && (j->kind == 's' || j->kind == 'c'); i++)
			if (!j->up[i].used && b->ops->uabort && b->ops->uabort(b, j->up[i].key, j->up[i].upload_id) == 0)
				j->r->uploads_aborted++;
		/* a restore that completed after an interrupted one: what that one left goes */
		int root = j->interrupted && (j->kind == 'p' || j->kind == 'd')
				   ? open(j->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		if (root >= 0)
			sweep_dir(root, 0);
		unlink(j->path);
	} else if (j->fd >= 0) {
		flush_locked(j);
	}
	if (j->fd >= 0)
		close(j->fd);
	for (size_t i = 0; i < j->ndone; i++)
		free(j->done[i].path);
	free(j->done);
	for (size_t i = 0; i < j->nup; i++)
		free(j->up[i].path);
	free(j->up);
	for (size_t i = 0; i < j->nexp; i++) {
		free(j->exp[i].path);
		free(j->exp[i].key);
	}
	free(j->exp);
	free(j->buf);
	free(j->loc);
	free(j->src);
	pthread_mutex_destroy(&j->mu);
	free(j);
}
