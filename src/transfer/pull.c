/*
 * pull and verify: the pipeline that turns a snapshot back into files.
 *
 *   manifest (streamed) ─► loop thread: fetch frames (backend, ranged reads)
 *     ─► workers: decrypt+decompress+check ─► loop thread: xxh128 in order, write
 *     (io_uring) to a temporary name ─► check size and hash, restore metadata, rename
 *
 * verify --read-data runs the same pipeline without the writes. A chunk of a pack is
 * fetched once and shared by the small files it holds: the last few chunks fetched stay
 * cached (most recent first), so a large file between two members of one pack in path
 * order does not make the pack chunk be fetched again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/crypto.h>

#include "pipeline.h"
#include "ferry/unattended.h"
#include "localfs.h"
#include "transfer_int.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define MAX_FILES_INFLIGHT 256
#define OBJ_CACHE 32
#define CHUNK_CACHE 4

struct pull;
struct xfile;

/* An object open for reading, shared by the files whose chunks it holds. With replicas
 * (replica.c) it is opened at the cheapest source that has it (cur); a source that fails a
 * chunk is left for the next one, opened then. Without, source 0 is the store. */
struct cobj {
	struct objreader o[FERRY_REPLICAS_MAX];
	uint8_t tried[FERRY_REPLICAS_MAX]; /* 0 not yet, 1 open, 2 failed to open, 3 failed a chunk */
	uint8_t id[FERRY_ID_LEN];
	int cur;
	int users;
	int valid, failed;
	unsigned long last_use;
	char key[64];
};

/* One chunk being fetched and decoded; shared by every file that needs it. */
struct pslot {
	struct ferry_job job;
	struct ferry_io io;
	struct pull *p;
	uint8_t *plain, *frame;
	int plain_bi, frame_bi;
	size_t plain_len;
	struct cobj *obj;
	int src;     /* the source (replica) it is fetched from */
	int err0;    /* the first failure, while it waits to be fetched from the next source */
	struct pslot *next_retry;
	uint32_t index;
	int refs;    /* files using it, + 1 while it is the shared chunk cache */
	int ready;   /* decoded (or failed) */
	int err;
	struct use *waiters; /* files waiting for it to be ready */
	struct pslot *next;
};

/* A file's claim on one chunk. */
struct use {
	struct ferry_ev ev; /* the write's completion */
	struct xfile *f;
	struct pslot *slot;
	uint32_t k;   /* chunk number within the file */
	uint8_t *wbuf; /* what is being written, and where */
	size_t wlen, wdone;
	uint64_t woff;
	struct use *next;
	struct use *next_waiter;
	struct use *next_write;
	int ready;
};

struct xfile {
	struct pull *p;
	struct ferry_entry e;
	char *path;
	char tmp[64];
	const char *base;
	int pfd, fd;
	struct cobj *obj;
	uint32_t next_fetch, next_deliver;
	uint64_t pos;
	uint64_t kept; /* bytes an interrupted pull had written (resume_partial) */
	unsigned writes;
	struct ferry_filehash *fh;
	struct use *uses; /* claimed, not yet delivered, sorted by k */
	/* one write in flight per file (buffered writes to one file serialize on its inode
	 * anyway); the rest wait here in order */
	struct use *writing, *wq_head, *wq_tail;
	int failed;
};

struct dirmeta {
	char *path;
	uint32_t mode;
	int64_t sec;
	uint32_t nsec;
};

struct pull {
	struct localfs_hashing hashing; /* sync --checksum */
	unsigned base_inflight; /* the loop's standing watches (waker, a backend's): not our I/O */
	unsigned fetching;      /* frame reads out (a network backend's are not on the ring) */
	struct ferry_store *s;
	struct ferry_run *r;
	struct replset *rs; /* the store's replicas, or NULL: everything from the store */
	struct pslot *retry; /* chunks that failed at one source, for the next */
	struct ferry_loop *loop;
	struct ferry_workers *wk;
	struct ferry_waker waker;
	struct ferry_bufs bufs;
	struct pslot *slots;
	unsigned nslots;
	struct pslot *free_slots;
	unsigned nfree;
	size_t chunk, bufsize;
	struct mreader m;
	const char *snap_name;
	int verify;
	int root;
	const char *const *includes;
	struct cobj cache[OBJ_CACHE];
	unsigned long tick;
	struct pslot *shared[CHUNK_CACHE]; /* the last chunks fetched, most recent first */
	struct xfile *cur;    /* the file still claiming chunks */
	unsigned files_inflight;
	int manifest_done;
	int fatal;
	int nospace; /* the destination is full: start no more files */
	uint64_t nospace_more; /* files that failed for lack of space after the first */
	struct dirmeta *dirs;
	size_t ndirs, capdirs;
	/* an entry waiting for an object slot (the manifest reader's buffers move on) */
	struct ferry_entry stalled;
	char stalled_path[FERRY_PATH_MAX + 1];
	int have_stalled;
	char parent_path[FERRY_PATH_MAX + 1];
	int parent_fd;
	double last_progress;
	struct journal *j; /* what an interrupted pull restored, and what this one does */
};

static const char *file_label(struct pull *p, struct xfile *f, char *buf, size_t len)
{
	if (p->verify)
		snprintf(buf, len, "%s@%s", f->path, p->snap_name);
	else
		snprintf(buf, len, "%s", f->path);
	return buf;
}

/* ---------------------------------------------------------------- destination paths */

/* Opens the directory that will hold rel (creating missing parents), never following a symlink. */
static int open_parent(struct pull *p, const char *rel, const char **base)
{
	char buf[FERRY_PATH_MAX + 1];
	char *slash;
	int fd;

	snprintf(buf, sizeof(buf), "%s", rel);
	slash = strrchr(buf, '/');
	*base = slash ? rel + (slash - buf) + 1 : rel;
	if (!slash)
		return dup(p->root);
	*slash = 0;
	if (p->parent_fd >= 0 && !strcmp(buf, p->parent_path))
		return dup(p->parent_fd);
	fd = localfs_open_beneath(p->root, buf, 0700);
	if (fd >= 0) {
		if (p->parent_fd >= 0)
			close(p->parent_fd);
		snprintf(p->parent_path, sizeof(p->parent_path), "%.*s", (int)(slash - buf), rel);
		p->parent_fd = dup(fd);
	}
	return fd;
}

static int include_match(const char *path, const char *const *inc)
{
	if (!inc || !*inc)
		return 1;
	for (; *inc; inc++) {
		size_t n = strlen(*inc);
		if (fnmatch(*inc, path, FNM_PATHNAME) == 0 || fnmatch(*inc, path, 0) == 0)
			return 1;
		/* a directory pattern includes what is under it */
		if (strncmp(*inc, path, n) == 0 && path[n] == '/')
			return 1;
	}
	return 0;
}

static int ensure_dst(const char *dst)
{
	char buf[4096];
	size_t n = strlen(dst);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dst, n + 1);
	for (char *q = buf + 1; *q; q++) {
		if (*q == '/') {
			*q = 0;
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*q = '/';
		}
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int tmp_name(char out[64], const char *kind)
{
	uint8_t rnd[6];
	char rh[13];

	if (ferry_random(rnd, sizeof(rnd)))
		return -1;
	store_hex(rnd, sizeof(rnd), rh);
	snprintf(out, 64, ".ferry-%s.%s", rh, kind);
	return 0;
}

/* ---------------------------------------------------------------- objects */

static unsigned nsrc(const struct pull *p)
{
	return p->rs ? p->rs->n : 1;
}

static struct ferry_store *src_store(const struct pull *p, int k)
{
	return p->rs ? p->rs->v[k].s : p->s;
}

static void cobj_close(struct pull *p, struct cobj *c)
{
	for (unsigned k = 0; k < nsrc(p); k++)
		if (c->tried[k])
			objreader_close(src_store(p, (int)k), &c->o[k]);
}

/* What to say after source `failed` failed c: is another one open, or still to try? */
static const char *then_what(const struct pull *p, const struct cobj *c, unsigned failed)
{
	for (unsigned k = 0; k < p->rs->n; k++)
		if (k != failed && (c->tried[k] == 1 || (!c->tried[k] && replica_usable(p->rs, k))))
			return "trying the next replica";
	return "no other replica left";
}

/*
 * Opens c at the cheapest source not tried yet: c->cur. Sources that miss it or fail to
 * read it back say so in a line and the next is tried. Another source must agree with
 * the first one opened on the object's size and chunk count. The last failure otherwise.
 */
static int cobj_open_next(struct pull *p, struct cobj *c, char *why, size_t whylen)
{
	int err = FERRY_E_NOTFOUND, first = -1;

	for (unsigned k = 0; k < nsrc(p); k++)
		if ((c->tried[k] == 1 || c->tried[k] == 3) && first < 0)
			first = (int)k;
	if (!p->rs) {
		c->tried[0] = 1;
		err = objreader_open(p->s, c->key, c->id, &c->o[0], why, whylen);
		if (err)
			c->tried[0] = 2;
		return err;
	}
	for (unsigned k = 0; k < p->rs->n; k++) {
		struct replica *rp = &p->rs->v[k];
		char w[512];

		if (c->tried[k] || !replica_usable(p->rs, k))
			continue;
		c->tried[k] = 1;
		err = objreader_open(rp->s, c->key, c->id, &c->o[k], w, sizeof(w));
		if (!err && first >= 0 &&
		    (c->o[k].size != c->o[first].size || c->o[k].f.chunk_count != c->o[first].f.chunk_count)) {
			err = FERRY_E_FORMAT;
			snprintf(w, sizeof(w), "object %s: differs from the copy at %s (size or chunk count)", c->key,
				 p->rs->v[first].name);
		}
		if (!err) {
			c->cur = (int)k;
			rp->objects++;
			return FERRY_OK;
		}
		c->tried[k] = 2;
		rp->fallbacks++;
		if (err == FERRY_E_IO)
			rp->ioerrs++; /* the replica, not the object: a few of these and it is left out */
		store_setmsg(why, whylen, "%s (at replica %s)", w, rp->name);
		if (p->rs->n > 1)
			replica_note(p->rs, k, "replica %s: %s; %s", rp->name, w, then_what(p, c, k));
	}
	if (err == FERRY_E_NOTFOUND && !why[0])
		store_setmsg(why, whylen, "object %s: no usable replica has it", c->key);
	return err;
}

static struct cobj *cobj_get(struct pull *p, const uint8_t id[FERRY_ID_LEN], char *why, size_t whylen, int *err)
{
	struct cobj *victim = NULL;

	*err = FERRY_OK;
	for (int i = 0; i < OBJ_CACHE; i++) {
		struct cobj *c = &p->cache[i];
		if (c->valid && !memcmp(c->id, id, FERRY_ID_LEN)) {
			if (c->failed) {
				*err = c->failed;
				store_setmsg(why, whylen, "object %s: unreadable (reported above)", c->key);
				return NULL;
			}
			c->users++;
			c->last_use = ++p->tick;
			return c;
		}
	}
	for (int i = 0; i < OBJ_CACHE; i++) {
		struct cobj *c = &p->cache[i];
		if (!c->valid) {
			victim = c;
			break;
		}
		if (c->users == 0 && (!victim || c->last_use < victim->last_use))
			victim = c;
	}
	if (!victim) {
		*err = -1; /* every open object is in use: the caller waits for one to free up */
		return NULL;
	}
	if (victim->valid)
		cobj_close(p, victim);
	memset(victim, 0, sizeof(*victim));
	store_object_key(id, victim->key);
	memcpy(victim->id, id, FERRY_ID_LEN);
	victim->valid = 1;
	victim->last_use = ++p->tick;
	*err = cobj_open_next(p, victim, why, whylen);
	if (*err) {
		victim->failed = *err;
		return NULL;
	}
	p->r->objects_checked++;
	victim->users = 1;
	return victim;
}

/* ---------------------------------------------------------------- chunk slots */

static struct pslot *pslot_get(struct pull *p)
{
	struct pslot *sl = p->free_slots;

	if (!sl)
		return NULL;
	p->free_slots = sl->next;
	p->nfree--;
	ferry_bufs_touch(&p->bufs, (unsigned)(sl - p->slots));
	sl->next = NULL;
	sl->refs = 0;
	sl->ready = 0;
	sl->err = 0;
	sl->waiters = NULL;
	sl->obj = NULL;
	return sl;
}

static void pslot_unref(struct pull *p, struct pslot *sl)
{
	if (--sl->refs > 0)
		return;
	if (sl->obj)
		sl->obj->users--;
	sl->next = p->free_slots;
	p->free_slots = sl;
	p->nfree++;
}

static void file_deliver(struct xfile *f);

static void decode_job(struct ferry_job *j, struct ferry_codec *c)
{
	struct pslot *sl = container_of(j, struct pslot, job);
	struct objreader *o = &sl->obj->o[sl->src];
	size_t n = 0;

	j->err = ferry_frame_decode(c, &o->h, sl->index, sl->index + 1 == o->f.chunk_count, sl->frame,
				    o->idx[sl->index].frame_len, sl->plain, sl->p->chunk, &n);
	if (!j->err && n != o->idx[sl->index].plain_len)
		j->err = FERRY_E_FORMAT;
	sl->plain_len = n;
}

static void chunk_ready(struct pull *p, struct pslot *sl, int err)
{
	struct use *u = sl->waiters;

	sl->ready = 1;
	sl->err = err;
	sl->waiters = NULL;
	if (!err)
		p->r->chunks_checked++;
	while (u) {
		struct use *next = u->next_waiter;
		u->ready = 1;
		file_deliver(u->f);
		u = next;
	}
}

/* A chunk that failed at one source waits for the loop thread to try the next (retry()). */
static int retry_later(struct pull *p, struct pslot *sl, int err)
{
	if (!p->rs || p->rs->n < 2 || err == FERRY_E_TOOBIG || p->fatal)
		return 0;
	sl->err0 = err;
	sl->next_retry = p->retry;
	p->retry = sl;
	return 1;
}

static void frame_fetched(struct ferry_io *io)
{
	struct pslot *sl = container_of(io, struct pslot, io);
	struct pull *p = sl->p;

	p->fetching--;
	if (io->res < 0) {
		int err = io->res <= -4096 ? ferry_backend_err(io->res) : FERRY_E_IO;
		if (p->rs && err == FERRY_E_IO)
			p->rs->v[sl->src].ioerrs++;
		if (!retry_later(p, sl, err))
			chunk_ready(p, sl, err);
		return;
	}
	p->r->bytes_read += io->len;
	if (p->rs)
		p->rs->v[sl->src].bytes += io->len;
	sl->job.fn = decode_job;
	ferry_workers_submit(p->wk, &sl->job);
}

static void fetch(struct pull *p, struct pslot *sl)
{
	struct objreader *o = &sl->obj->o[sl->src];
	struct ferry_backend *b = src_store(p, sl->src)->b;
	const struct ferry_index_entry *ie = &o->idx[sl->index];

	if (ie->frame_len > p->bufsize) {
		chunk_ready(p, sl, FERRY_E_TOOBIG);
		return;
	}
	sl->io.done = frame_fetched;
	sl->io.buf = sl->frame;
	sl->io.len = ie->frame_len;
	sl->io.off = ie->offset;
	sl->io.buf_index = sl->frame_bi;
	ferry_rate_take(p->r->rate, ie->frame_len); /* --bwlimit, for every backend alike */
	p->fetching++;
	b->ops->read(b, o->r, &sl->io);
}

/*
 * Chunks that failed at their source (a read error, a frame that does not decode or
 * authenticate): the object is marked failed there and each chunk is fetched again from
 * the next source, opened now if need be. The bytes are checked again as any others.
 * Runs on the loop thread outside completions (opening an object runs the loop).
 */
static void retry(struct pull *p)
{
	struct pslot *list = p->retry;

	p->retry = NULL;
	while (list) {
		struct pslot *sl = list;
		struct cobj *c = sl->obj;
		char why[512] = "";

		list = sl->next_retry;
		sl->next_retry = NULL;
		if (c->tried[sl->src] == 1) {
			struct replica *rp = &p->rs->v[sl->src];
			c->tried[sl->src] = 3;
			rp->fallbacks++;
			replica_note(p->rs, (unsigned)sl->src, "replica %s: object %s: chunk %u: %s; %s", rp->name, c->key,
				     sl->index, ferry_strerror(sl->err0), then_what(p, c, (unsigned)sl->src));
		}
		if (c->tried[c->cur] != 1 && cobj_open_next(p, c, why, sizeof(why)) != FERRY_OK) {
			chunk_ready(p, sl, sl->err0); /* the file's line names the chunk; the notes, each replica */
			continue;
		}
		sl->src = c->cur;
		fetch(p, sl);
	}
}

/* ---------------------------------------------------------------- files */

static void file_free(struct xfile *f)
{
	struct pull *p = f->p;

	if (f->obj)
		f->obj->users--;
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp[0] && f->pfd >= 0)
		unlinkat(f->pfd, f->tmp, 0);
	if (f->pfd >= 0)
		close(f->pfd);
	ferry_filehash_destroy(f->fh);
	free(f->path);
	free(f->e.target);
	free(f);
	p->files_inflight--;
}

static void file_fail(struct xfile *f, const char *chunk, int err, const char *detail)
{
	char label[FERRY_PATH_MAX + 80];

	if (f->failed)
		return;
	f->failed = 1;
	store_problem(f->p->r, file_label(f->p, f, label, sizeof(label)), chunk, err, "%s", detail);
}

/*
 * A file failed with errno e. A full disk fails every file after it: the first one is
 * named, no more files are started, and the ones already in flight are only counted
 * (one message each would be a page of the same line).
 */
static void file_fail_errno(struct xfile *f, int e)
{
	struct pull *p = f->p;

	if ((e == ENOSPC || e == EDQUOT) && p->nospace && !f->failed) {
		f->failed = 1;
		p->r->errors++;
		p->nospace_more++;
		return;
	}
	if (e == ENOSPC || e == EDQUOT)
		p->nospace = 1;
	file_fail(f, NULL, FERRY_E_IO, strerror(e));
}

/* All chunks delivered and written: check, restore metadata, rename into place. */
static void file_maybe_done(struct xfile *f)
{
	struct pull *p = f->p;
	uint8_t got[16];

	if (f->writes || f->uses || (!f->failed && f->next_deliver < f->e.chunk_count) || p->cur == f)
		return;
	if (!f->failed) {
		ferry_hash128_encode(ferry_filehash_digest(f->fh), got);
		if (f->pos != f->e.size || memcmp(got, f->e.hash, 16) != 0)
			file_fail(f, NULL, FERRY_E_CHECKSUM, "file checksum (xxh128) mismatch");
	}
	if (!f->failed && !p->verify) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = f->e.mtime_sec, .tv_nsec = f->e.mtime_nsec } };
		if (fchmod(f->fd, f->e.mode) < 0 || futimens(f->fd, ts) < 0) {
			file_fail_errno(f, errno);
		} else if (renameat(f->pfd, f->tmp, f->pfd, f->base) < 0) {
			file_fail_errno(f, errno);
		} else {
			f->tmp[0] = 0;
			journal_entry(p->j, &f->e);
		}
	}
	if (!f->failed) {
		p->r->files_transferred++;
		if (!p->verify)
			p->r->bytes_written += f->pos - f->kept;
	}
	file_free(f);
}

static void use_write_submit(struct pull *p, struct use *u)
{
	struct io_uring_sqe *sqe = ferry_loop_sqe(p->loop, &u->ev);
	uint8_t *buf = u->wbuf + u->wdone;
	unsigned len = (unsigned)(u->wlen - u->wdone);

	if (ferry_loop_fixed(p->loop))
		io_uring_prep_write_fixed(sqe, u->f->fd, buf, len, u->woff + u->wdone, u->slot->plain_bi);
	else
		io_uring_prep_write(sqe, u->f->fd, buf, len, u->woff + u->wdone);
}

static void file_write_next(struct pull *p, struct xfile *f)
{
	struct use *u = f->wq_head;

	if (f->writing || !u)
		return;
	f->wq_head = u->next_write;
	if (!f->wq_head)
		f->wq_tail = NULL;
	f->writing = u;
	use_write_submit(p, u);
}

static void use_written(struct ferry_ev *ev, int res)
{
	struct use *u = container_of(ev, struct use, ev);
	struct xfile *f = u->f;
	struct pull *p = f->p;

	if (res == -EINTR || res == -EAGAIN || (res > 0 && u->wdone + (size_t)res < u->wlen)) {
		if (res > 0)
			u->wdone += (size_t)res; /* a short write: send the rest */
		use_write_submit(p, u);
		return;
	}
	f->writing = NULL;
	file_write_next(p, f);
	f->writes--;
	if (res < 0)
		file_fail_errno(f, -res);
	else if (res == 0)
		file_fail(f, NULL, FERRY_E_IO, "write made no progress");
	pslot_unref(p, u->slot);
	free(u);
	file_maybe_done(f);
}

/* Hands decoded chunks to the file in order: hash, then write. */
static void file_deliver(struct xfile *f)
{
	struct pull *p = f->p;

	while (f->uses && f->uses->ready && f->uses->k == f->next_deliver) {
		struct use *u = f->uses;
		struct pslot *sl = u->slot;
		char chunk[32];

		f->uses = u->next;
		f->next_deliver++;
		if (f->failed || sl->err) {
			if (!f->failed) {
				snprintf(chunk, sizeof(chunk), "chunk %u", sl->index);
				file_fail(f, chunk, sl->err, ferry_strerror(sl->err));
			}
			pslot_unref(p, sl);
			free(u);
			continue;
		}
		size_t start = u->k == 0 ? f->e.chunk_offset : 0;
		uint64_t left = f->e.size - f->pos;
		size_t len = sl->plain_len > start ? sl->plain_len - start : 0;
		if (len > left)
			len = (size_t)left;
		if (len == 0 || (u->k + 1 == f->e.chunk_count && len != left)) {
			file_fail(f, NULL, FERRY_E_FORMAT, "manifest and object disagree on the file's length");
			pslot_unref(p, sl);
			free(u);
			continue;
		}
		ferry_filehash_update(f->fh, sl->plain + start, len);
		if (p->verify) {
			f->pos += len;
			pslot_unref(p, sl);
			free(u);
			continue;
		}
		u->ev.fn = use_written;
		u->wbuf = sl->plain + start;
		u->wlen = len;
		u->wdone = 0;
		u->woff = f->pos;
		u->next_write = NULL;
		if (f->wq_tail)
			f->wq_tail->next_write = u;
		else
			f->wq_head = u;
		f->wq_tail = u;
		file_write_next(p, f);
		f->pos += len;
		f->writes++;
	}
	file_maybe_done(f);
}

/* Drops the least recently used cached chunk no file holds; 0 when none could go. */
static int cache_evict(struct pull *p)
{
	for (int i = CHUNK_CACHE - 1; i >= 0; i--) {
		struct pslot *sl = p->shared[i];
		if (sl && sl->refs == 1) {
			memmove(&p->shared[i], &p->shared[i + 1], (size_t)(CHUNK_CACHE - 1 - i) * sizeof(sl));
			p->shared[CHUNK_CACHE - 1] = NULL;
			pslot_unref(p, sl);
			return 1;
		}
	}
	return 0;
}

/* Claims the file's next chunk: a cached one if it was fetched lately, else a new slot. */
static int file_claim(struct pull *p, struct xfile *f)
{
	uint32_t ci = f->e.first_chunk + f->next_fetch;
	struct pslot *sl = NULL;
	struct use *u, **pp;
	int i;

	for (i = 0; i < CHUNK_CACHE && p->shared[i]; i++)
		if (p->shared[i]->obj == f->obj && p->shared[i]->index == ci)
			break;
	if (i < CHUNK_CACHE && p->shared[i]) {
		sl = p->shared[i];
		memmove(&p->shared[1], &p->shared[0], (size_t)i * sizeof(sl));
		p->shared[0] = sl;
	} else {
		while (p->nfree == 0 && cache_evict(p))
			;
		sl = pslot_get(p);
		if (!sl)
			return 1;
		if (p->shared[CHUNK_CACHE - 1])
			pslot_unref(p, p->shared[CHUNK_CACHE - 1]);
		memmove(&p->shared[1], &p->shared[0], (CHUNK_CACHE - 1) * sizeof(sl));
		sl->obj = f->obj;
		sl->src = f->obj->cur;
		f->obj->users++;
		sl->index = ci;
		sl->refs = 1; /* the cache's */
		p->shared[0] = sl;
		fetch(p, sl);
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		p->fatal = FERRY_E_NOMEM;
		return 1;
	}
	u->f = f;
	u->slot = sl;
	u->k = f->next_fetch++;
	sl->refs++;
	for (pp = &f->uses; *pp; pp = &(*pp)->next)
		;
	*pp = u;
	if (sl->ready) {
		u->ready = 1;
		file_deliver(f);
	} else {
		u->next_waiter = sl->waiters;
		sl->waiters = u;
	}
	return 0;
}

/*
 * A temporary file an interrupted pull left for this file (same content hash, size and
 * mtime): its whole chunks are kept (read back into the file hash) and only the rest is
 * fetched. The final xxh128 check covers the kept bytes too. 1 when resumed.
 */
static int resume_partial(struct pull *p, struct xfile *f)
{
	struct jupload *u = journal_upload(p->j, f->e.path);
	char tag[33];
	struct stat st;
	uint8_t *buf;
	int fd;

	if (!u || f->e.chunk_count < 2 || f->e.chunk_offset != 0)
		return 0;
	store_hex(f->e.hash, 16, tag);
	u->used = 1;
	if (strlen(u->key) >= sizeof(f->tmp) || strncmp(u->key, ".ferry-", 7) || strchr(u->key, '/'))
		return 0; /* not a name we make */
	if (strcmp(u->upload_id, tag) || u->size != f->e.size) {
		unlinkat(f->pfd, u->key, 0); /* another version of the file: of no use */
		return 0;
	}
	fd = openat(f->pfd, u->key, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t keep = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
		uint64_t whole = (uint64_t)st.st_size / p->chunk;
		if (whole >= f->e.chunk_count)
			whole = f->e.chunk_count - 1; /* the last chunk is fetched: it ends the file */
		keep = whole * p->chunk;
	}
	buf = keep ? malloc(1u << 20) : NULL;
	for (uint64_t off = 0; buf && off < keep;) {
		size_t n = keep - off < (1u << 20) ? (size_t)(keep - off) : (1u << 20);
		ssize_t got = pread(fd, buf, n, (off_t)off);
		if (got <= 0) {
			keep = 0;
			break;
		}
		ferry_filehash_update(f->fh, buf, (size_t)got);
		off += (uint64_t)got;
	}
	free(buf);
	if (!keep || ftruncate(fd, (off_t)keep) < 0) {
		close(fd);
		unlinkat(f->pfd, u->key, 0);
		ferry_filehash_reset(f->fh);
		return 0; /* start over under a new name */
	}
	memcpy(f->tmp, u->key, strlen(u->key) + 1); /* fits: checked above */
	f->fd = fd;
	f->pos = f->kept = keep;
	f->next_fetch = f->next_deliver = (uint32_t)(keep / p->chunk);
	p->r->bytes_resumed += keep;
	p->r->files_resumed++;
	return 1;
}

/* Starts restoring one file entry; 1 when it must wait for an object to be free to open. */
static int start_file(struct pull *p, const struct ferry_entry *e)
{
	struct xfile *f;
	struct cobj *obj = NULL;
	char why[256] = "";
	int err = FERRY_OK;

	if (e->chunk_count) {
		obj = cobj_get(p, e->object_id, why, sizeof(why), &err);
		if (!obj && err == -1)
			return 1;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(e->path))) {
		if (obj)
			obj->users--;
		free(f);
		p->fatal = FERRY_E_NOMEM;
		return 0;
	}
	f->p = p;
	f->obj = obj;
	f->e = *e;
	f->e.path = f->path;
	f->e.target = NULL;
	f->fd = f->pfd = -1;
	p->files_inflight++;
	f->fh = ferry_filehash_create();
	if (!f->fh) {
		p->fatal = FERRY_E_NOMEM;
		file_free(f);
		return 0;
	}
	if (!p->verify) {
		f->pfd = open_parent(p, f->path, &f->base);
		if (f->pfd < 0) {
			file_fail(f, NULL, FERRY_E_IO, "cannot open parent directory (a symlink or non-directory on the way?)");
			file_free(f);
			return 0;
		}
		if (!resume_partial(p, f) &&
		    (tmp_name(f->tmp, "part") ||
		     (f->fd = openat(f->pfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)) {
			f->tmp[0] = 0;
			file_fail_errno(f, errno);
			file_free(f);
			return 0;
		}
		if (f->next_fetch == 0) {
			char tag[33];
			store_hex(e->hash, 16, tag);
			journal_partial(p->j, e->path, f->tmp, tag, e->size, e->mtime_sec, e->mtime_nsec);
		}
	}
	if (e->chunk_count == 0) {
		file_maybe_done(f);
		return 0;
	}
	if (!f->obj) {
		file_fail(f, NULL, err, why[0] ? why : ferry_strerror(err));
		file_free(f);
		return 0;
	}
	if ((uint64_t)e->first_chunk + e->chunk_count > f->obj->o[f->obj->cur].f.chunk_count) {
		file_fail(f, NULL, FERRY_E_FORMAT, "manifest names chunks beyond the object's end");
		file_free(f);
		return 0;
	}
	if (p->verify && e->object_size != f->obj->o[f->obj->cur].size) {
		char d[128];
		snprintf(d, sizeof(d), "object size %llu, manifest says %llu", (unsigned long long)f->obj->o[f->obj->cur].size,
			 (unsigned long long)e->object_size);
		file_fail(f, NULL, FERRY_E_TRUNCATED, d);
		file_free(f);
		return 0;
	}
	p->cur = f;
	return 0;
}

/* ---------------------------------------------------------------- other entries */

static void restore_other(struct pull *p, const struct ferry_entry *e)
{
	const char *base;
	int pfd;

	if (e->type == FERRY_ENTRY_DIR) {
		/* metadata at the end, so restoring children does not undo it */
		if (p->ndirs == p->capdirs) {
			size_t nc = p->capdirs ? p->capdirs * 2 : 256;
			struct dirmeta *nd = realloc(p->dirs, nc * sizeof(*nd));
			if (!nd) {
				p->fatal = FERRY_E_NOMEM;
				return;
			}
			p->dirs = nd;
			p->capdirs = nc;
		}
		struct dirmeta *d = &p->dirs[p->ndirs];
		if (!(d->path = strdup(e->path))) {
			p->fatal = FERRY_E_NOMEM;
			return;
		}
		d->mode = e->mode;
		d->sec = e->mtime_sec;
		d->nsec = e->mtime_nsec;
		p->ndirs++;
	}
	pfd = open_parent(p, e->path, &base);
	if (pfd < 0) {
		store_problem(p->r, e->path, NULL, FERRY_E_IO,
			      "cannot open parent directory (a symlink or non-directory on the way?): %s", strerror(errno));
		return;
	}
	if (e->type == FERRY_ENTRY_DIR) {
		struct stat st;
		if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
			store_problem(p->r, e->path, NULL, FERRY_E_IO, "mkdir: %s", strerror(errno));
		else if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			store_problem(p->r, e->path, NULL, FERRY_E_IO, "exists and is not a directory");
	} else {
		char tmp[64];
		if (tmp_name(tmp, "link") == 0) {
			if (symlinkat(e->target, pfd, tmp) < 0 || renameat(pfd, tmp, pfd, base) < 0) {
				store_problem(p->r, e->path, NULL, FERRY_E_IO, "symlink: %s", strerror(errno));
				unlinkat(pfd, tmp, 0);
			} else {
				struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
							  { .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec } };
				utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
			}
		}
	}
	close(pfd);
}

static void finish_dirs(struct pull *p)
{
	for (size_t i = p->ndirs; i-- > 0;) {
		struct dirmeta *d = &p->dirs[i];
		const char *base;
		int pfd = open_parent(p, d->path, &base);
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = d->sec, .tv_nsec = d->nsec } };

		if (pfd < 0)
			continue;
		if (fchmodat(pfd, base, d->mode, 0) < 0 || utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			store_problem(p->r, d->path, NULL, FERRY_E_IO, "setting directory metadata: %s", strerror(errno));
		close(pfd);
	}
}

/* Sync: a local regular file of the same size and mtime is taken as up to date
 * (its mode is put right if that alone differs). */
static int local_matches(struct pull *p, const struct ferry_entry *e)
{
	const char *base;
	struct stat st;
	int pfd = open_parent(p, e->path, &base), same;

	if (pfd < 0)
		return 0;
	same = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       (uint64_t)st.st_size == e->size;
	int same_mtime = same && st.st_mtim.tv_sec == e->mtime_sec && (uint32_t)st.st_mtim.tv_nsec == e->mtime_nsec;
	if (same && !p->r->checksum) {
		same = same_mtime;
	} else if (same) {
		/* --checksum: the bytes decide; a file that only has another mtime gets the
		 * snapshot's, nothing is fetched */
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec } };
		if (e->size && localfs_same_content(&p->hashing, pfd, base, e->size, e->hash, &p->r->files_hashed, &p->r->bytes_hashed, &same))
			same = 0;
		if (same && !same_mtime && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			same = 0;
	}
	if (same && (st.st_mode & 07777) != e->mode && fchmodat(pfd, base, e->mode, 0) < 0)
		same = 0;
	close(pfd);
	return same;
}

/* Sync --delete: walk dst and the snapshot side by side (both in walk order) and
 * remove what the snapshot does not have. Directories go once they are empty. */
static void delete_extra(struct ferry_store *s, const char *snap, const char *dst, struct ferry_run *r)
{
	struct mreader m;
	struct ferry_scan *scan;
	struct ferry_entry e;
	struct ferry_scan_item *it;
	char msg[512], *dirs_to_remove = NULL;
	size_t dlen = 0;
	int have = 0, done = 0, ret;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0 || mreader_open(s, snap, &m, msg, sizeof(msg))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (ferry_scan_start(&scan, dst, 4096, fd)) {
		mreader_close(&m);
		close(fd);
		return;
	}
	ret = mreader_next(&m, &e, msg, sizeof(msg));
	have = ret > 0;
	for (;;) {
		it = ferry_scan_next(scan, &done);
		if (!it) {
			if (done)
				break;
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			uint64_t v;
			poll(&pf, 1, 100);
			if (read(fd, &v, sizeof(v)) < 0) {
				/* nothing to drain */
			}
			continue;
		}
		if (it->type == 0 || !strncmp(strrchr(it->path, '/') ? strrchr(it->path, '/') + 1 : it->path, ".ferry-", 7)) {
			ferry_scan_item_free(it);
			continue;
		}
		int c = 1;
		while (have && (c = store_cmp_walk(e.path, it->path)) < 0) {
			ret = mreader_next(&m, &e, msg, sizeof(msg));
			have = ret > 0;
		}
		if (!have || c > 0) {
			char *full = malloc(strlen(dst) + strlen(it->path) + 2);
			if (full) {
				sprintf(full, "%s/%s", dst, it->path);
				if (it->type == FERRY_ENTRY_DIR) {
					/* contents come next in walk order; the directory itself goes at the end */
					size_t n = strlen(full) + 1;
					char *nd = realloc(dirs_to_remove, dlen + n);
					if (nd) {
						memcpy(nd + dlen, full, n);
						dirs_to_remove = nd;
						dlen += n;
					}
				} else if (unlink(full) == 0) {
					r->files_deleted++;
				} else {
					store_problem(r, it->path, NULL, FERRY_E_IO, "cannot delete: %s", strerror(errno));
				}
				free(full);
			}
		}
		ferry_scan_item_free(it);
	}
	/* deepest last in walk order: remove in reverse */
	for (size_t end = dlen; end > 0;) {
		size_t start = end - 1;
		while (start > 0 && dirs_to_remove[start - 1])
			start--;
		if (rmdir(dirs_to_remove + start) == 0)
			r->files_deleted++;
		end = start;
	}
	free(dirs_to_remove);
	ferry_scan_stop(scan);
	mreader_close(&m);
	close(fd);
}

/* ---------------------------------------------------------------- the loop */

static void feed(struct pull *p)
{
	char msg[512];

	for (;;) {
		struct ferry_entry e;
		int ret;

		if (p->fatal)
			return;
		/* the current file claims its chunks first */
		while (p->cur && p->cur->next_fetch < p->cur->e.chunk_count && !p->cur->failed) {
			if (file_claim(p, p->cur))
				return;
		}
		if (p->cur) {
			struct xfile *f = p->cur;
			p->cur = NULL;
			file_maybe_done(f);
		}
		if (p->files_inflight >= MAX_FILES_INFLIGHT)
			return;
		if (p->nospace && !p->manifest_done) {
			p->have_stalled = 0;
			p->manifest_done = 1;
		}
		if (p->have_stalled) {
			if (start_file(p, &p->stalled))
				return;
			p->have_stalled = 0;
			continue;
		}
		if (p->manifest_done)
			return;
		ret = mreader_next(&p->m, &e, msg, sizeof(msg));
		if (ret < 0) {
			store_problem(p->r, p->s->path, NULL, -ret, "%s", msg);
			p->manifest_done = 1;
			return;
		}
		if (ret == 0) {
			p->manifest_done = 1;
			return;
		}
		if (!ferry_path_safe(e.path)) {
			store_problem(p->r, e.path, NULL, FERRY_E_FORMAT, "unsafe path in manifest (absolute or '..'); refused");
			continue;
		}
		if (!include_match(e.path, p->includes))
			continue;
		if (e.type == FERRY_ENTRY_FILE) {
			p->r->files_total++;
			p->r->bytes_total += e.size;
			if (p->r->dry_run) {
				p->r->files_transferred++;
				continue;
			}
			if (p->r->incremental && !p->verify && local_matches(p, &e)) {
				p->r->files_unchanged++;
				continue;
			}
			const struct ferry_entry *je = journal_done(p->j, e.path);
			if (je && !memcmp(je->hash, e.hash, 16) && local_matches(p, &e)) {
				p->r->files_resumed++; /* restored by the interrupted pull */
				continue;
			}
			if (start_file(p, &e)) {
				/* keep it for later: the reader's buffers will hold the next entry */
				p->stalled = e;
				snprintf(p->stalled_path, sizeof(p->stalled_path), "%s", e.path);
				p->stalled.path = p->stalled_path;
				p->stalled.target = NULL;
				p->have_stalled = 1;
				return;
			}
		} else if (!p->verify && !p->r->dry_run) {
			restore_other(p, &e);
		}
	}
}

/* Every source reads through the loop's own ring: a few chunks in flight keep it busy. */
static int all_local(const struct pull *p)
{
	for (unsigned k = 0; k < nsrc(p); k++) {
		struct ferry_store *st = src_store(p, (int)k);
		if (st->b && (!p->rs || p->rs->v[k].reachable) && !store_local(st))
			return 0;
	}
	return 1;
}

static int setup(struct pull *p)
{
	struct ferry_store *s = p->s;
	uint64_t memory = p->r->memory ? p->r->memory : DEFAULT_MEMORY;
	int jobs = p->r->jobs > 0 ? p->r->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int err;

	p->rs = p->verify ? NULL : s->replicas;
	p->loop = s->loop;
	p->chunk = s->cfg.chunk_size;
	p->bufsize = (ferry_frame_bound(p->chunk) + 4095) & ~(size_t)4095;
	p->nslots = ferry_pipeline_pairs(memory, store_codec_reserve(jobs, p->chunk), p->bufsize,
					  all_local(p) ? (unsigned)jobs + 4 : 0);
	if ((err = ferry_waker_start(&p->waker, p->loop)))
		return err;
	p->base_inflight = ferry_loop_inflight(p->loop);
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots || (err = ferry_bufs_create(&p->bufs, p->loop, p->nslots, p->bufsize)))
		return p->slots ? err : FERRY_E_NOMEM;
	for (unsigned i = 0; i < p->nslots; i++) {
		struct pslot *sl = &p->slots[i];
		sl->p = p;
		sl->plain = p->bufs.buf[2 * i];
		sl->frame = p->bufs.buf[2 * i + 1];
		sl->plain_bi = (int)(2 * i);
		sl->frame_bi = (int)(2 * i + 1);
		sl->next = p->free_slots;
		p->free_slots = sl;
		p->nfree++;
	}
	return ferry_workers_create(&p->wk, jobs, &s->keys, s->cfg.level, p->chunk, p->waker.fd);
}

static void teardown(struct pull *p)
{
	localfs_hashing_free(&p->hashing);
	ferry_workers_destroy(p->wk);
	p->wk = NULL;
	ferry_waker_stop(&p->waker);
	ferry_bufs_destroy(&p->bufs, p->loop);
	free(p->slots);
	for (int i = 0; i < OBJ_CACHE; i++)
		if (p->cache[i].valid)
			cobj_close(p, &p->cache[i]);
	for (size_t i = 0; i < p->ndirs; i++)
		free(p->dirs[i].path);
	free(p->dirs);
	if (p->parent_fd >= 0)
		close(p->parent_fd);
}

static int finished(struct pull *p)
{
	return (p->fatal || (p->manifest_done && !p->have_stalled)) && !p->cur && !p->retry && p->files_inflight == 0 &&
	       p->fetching == 0 && ferry_workers_busy(p->wk) == 0 && ferry_loop_inflight(p->loop) <= p->base_inflight;
}

/* Runs one snapshot through the pipeline: into dst, or (dst NULL) only checked. */
static int run(struct ferry_store *s, const char *snap, const char *dst, const char *const *includes,
	       struct ferry_run *r)
{
	struct pull p;
	char msg[512];
	int err;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.r = r;
	p.verify = dst == NULL;
	p.includes = includes;
	p.waker.fd = p.root = p.parent_fd = -1;
	err = mreader_open(s, snap, &p.m, msg, sizeof(msg));
	if (err) {
		/* a snapshot the user named that is not there is a usage error, not corruption */
		if (err == FERRY_E_NOTFOUND && !p.verify)
			err = FERRY_E_INVAL;
		store_problem(r, p.verify && snap ? snap : s->path, NULL, err, "%s", msg);
		return err;
	}
	p.snap_name = p.m.name;
	if (!p.verify)
		snprintf(r->snapshot, sizeof(r->snapshot), "%s", p.m.name);
	if (!p.verify && !r->dry_run) {
		int e = ensure_dst(dst);
		if (e < 0 || (p.root = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			store_problem(r, dst, NULL, FERRY_E_IO, "cannot create destination: %s",
				      strerror(e < 0 ? -e : errno));
			mreader_close(&p.m);
			return FERRY_E_IO;
		}
	}
	err = setup(&p);
	if (err) {
		store_problem(r, s->path, NULL, err, "cannot set up the pipeline: %s", ferry_strerror(err));
		goto out;
	}
	if (!p.verify && !r->dry_run)
		p.j = journal_open_pull(s, p.m.name, dst, r);
	for (;;) {
		struct ferry_job *j = ferry_workers_reap(p.wk);
		while (j) {
			struct ferry_job *next = j->next;
			struct pslot *sl = container_of(j, struct pslot, job);
			if (!j->err || !retry_later(&p, sl, j->err))
				chunk_ready(&p, sl, j->err);
			j = next;
		}
		if (p.retry)
			retry(&p);
		feed(&p);
		journal_flush(p.j);
		if (r->progress && ferry_mono() - p.last_progress > 0.2) {
			p.last_progress = ferry_mono();
			r->progress(r->progress_arg, r);
		}
		if (finished(&p))
			break;
		/* a wake-up taken by a nested run means there may be work queued: look again first */
		int wait = !p.waker.fired && !p.retry;
		p.waker.fired = 0;
		if (ferry_loop_run(p.loop, wait) < 0)
			break;
	}
	for (int i = 0; i < CHUNK_CACHE; i++)
		if (p.shared[i])
			pslot_unref(&p, p.shared[i]);
	if (p.nospace)
		store_problem(r, dst, NULL, FERRY_E_IO,
			      "destination full (No space left on device): stopped, %llu more file(s) in flight not written; "
			      "free space and run again", (unsigned long long)p.nospace_more);
	if (!p.verify && !r->dry_run)
		finish_dirs(&p);
	err = p.fatal ? p.fatal : r->errors ? FERRY_E_IO : FERRY_OK;
out:
	journal_close(p.j, err == FERRY_OK);
	teardown(&p);
	mreader_close(&p.m);
	if (p.root >= 0)
		close(p.root);
	return err;
}

int ferry_pull(struct ferry_store *s, const char *snap, const char *dst, const char *const *includes,
	       struct ferry_run *r)
{
	int err = run(s, snap, dst, includes, r);

	/* only after a complete restore: never delete on the word of a snapshot we could not read */
	if (r->delete_extra && !r->dry_run && err == FERRY_OK && r->errors == 0)
		delete_extra(s, r->snapshot, dst, r);
	return err;
}

/*
 * Without read_data: every referenced object exists with the size its manifest says,
 * and each file's chunks and bytes fit what an object of that size, in chunks of the
 * store's size, can hold. Only the stat of each object is asked for; no byte is read.
 */
static void verify_sizes(struct ferry_store *s, const char *snap, struct ferry_run *r)
{
	struct mreader m;
	struct ferry_entry e;
	char msg[512], key[64], what[FERRY_PATH_MAX + 80];
	uint8_t last[FERRY_ID_LEN] = { 0 };
	uint64_t last_size = 0;
	int have_last = 0, missing = 0, ret;

	if (mreader_open(s, snap, &m, msg, sizeof(msg))) {
		store_problem(r, snap, NULL, FERRY_E_FORMAT, "%s", msg);
		return;
	}
	while ((ret = mreader_next(&m, &e, msg, sizeof(msg))) > 0) {
		uint64_t size;
		int b;

		if (e.type != FERRY_ENTRY_FILE || e.chunk_count == 0)
			continue;
		/* files packed together share an object: look at each object once */
		if (!have_last || memcmp(last, e.object_id, FERRY_ID_LEN)) {
			store_object_key(e.object_id, key);
			b = s->b->ops->stat(s->b, key, &size);
			memcpy(last, e.object_id, FERRY_ID_LEN);
			have_last = 1;
			missing = b != 0;
			last_size = b ? 0 : size;
			r->objects_checked++;
		}
		uint64_t end = (uint64_t)e.first_chunk + e.chunk_count, cs = s->cfg.chunk_size;
		uint64_t most = ferry_object_max_chunks(last_size);
		if (!missing && last_size == e.object_size && end <= most && e.chunk_offset < cs &&
		    e.size <= e.chunk_count * cs - e.chunk_offset)
			continue;
		snprintf(what, sizeof(what), "%s@%s", e.path, m.name);
		store_object_key(e.object_id, key);
		if (missing)
			store_problem(r, what, NULL, FERRY_E_NOTFOUND, "object %s missing", key);
		else if (last_size != e.object_size)
			store_problem(r, what, NULL, FERRY_E_TRUNCATED, "object %s: size %llu, manifest says %llu", key,
				      (unsigned long long)last_size, (unsigned long long)e.object_size);
		else if (end > most)
			store_problem(r, what, NULL, FERRY_E_FORMAT,
				      "object %s: manifest names chunks %llu to %llu, beyond the end of the object "
				      "(%llu bytes hold at most %llu chunk(s))",
				      key, (unsigned long long)e.first_chunk, (unsigned long long)end - 1,
				      (unsigned long long)last_size, (unsigned long long)most);
		else
			store_problem(r, what, NULL, FERRY_E_FORMAT,
				      "object %s: manifest names bytes beyond the file's chunks "
				      "(%llu bytes from offset %lu in %lu chunk(s) of at most %llu bytes)",
				      key, (unsigned long long)e.size, (unsigned long)e.chunk_offset,
				      (unsigned long)e.chunk_count, (unsigned long long)cs);
	}
	if (ret < 0)
		store_problem(r, snap, NULL, -ret, "%s", msg);
	mreader_close(&m);
}

int ferry_verify(struct ferry_store *s, int read_data, struct ferry_run *r)
{
	char **names;
	size_t n;
	int err = store_snapshot_names(s, &names, &n);

	if (err) {
		store_problem(r, s->path, NULL, err, "cannot list snapshots");
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		if (read_data)
			run(s, names[i], NULL, NULL, r);
		else
			verify_sizes(s, names[i], r);
	}
	store_names_free(names, n);
	return r->errors ? FERRY_E_CHECKSUM : FERRY_OK;
}
