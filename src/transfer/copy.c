/*
 * copy: a plain mirror of a tree (no ferry format), through the same scanner, ring
 * and buffer budget as push. Every file is written under a temporary name, read
 * back and checked against the source's xxh128, given its mode and mtime, and only
 * then renamed into place.
 *
 * Small files (up to one buffer) go as linked ring chains: open source and
 * destination; read, close; write, read back, close; rename. Larger files are read
 * in chunks in parallel, hashed and written in order, then read back in order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "pipeline.h"
#include "ferry/copy.h"
#include "ferry/unattended.h"
#include "transfer_int.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define COPY_BUF (1u << 20)
#define MAX_DIRS_PENDING 1024

struct cp;
struct cfile;

struct cslot {
	struct ferry_ev ev;
	struct cp *c;
	struct cfile *f;
	uint8_t *buf, *back;
	int buf_bi, back_bi;
	uint32_t k;
	size_t len, got;
	int phase; /* 0 read source, 1 written, 2 read back */
	struct cslot *next;
};

struct cfile {
	struct cp *c;
	struct ferry_ev ev_sopen, ev_dopen, ev_read, ev_sclose, ev_write, ev_back, ev_dclose, ev_rename;
	char *rel, *src, *dst, *tmp;
	uint64_t size;
	uint32_t mode;
	int64_t sec;
	uint32_t nsec;
	int sfd, dfd;
	int nwait, err, stage;
	const char *why;
	char whybuf[160];
	struct cslot *slot;               /* small files: their one buffer */
	/* large files */
	uint32_t nchunks, next_read, next_hash, next_back, writes, backs;
	struct cslot *waiting;
	struct ferry_filehash *hs, *hd;
	int small;
	int direct;
	int in_backlog;
	struct cfile *next_backlog;
};

struct cp {
	struct ferry_run *r;
	struct ferry_loop *loop;
	struct ferry_scan *scan;
	struct ferry_waker waker;
	struct ferry_bufs bufs;
	const char *src, *dst;
	struct cslot *slots, *free_slots;
	unsigned nslots, nfree;
	struct ferry_scan_item *stalled;
	struct cfile *large; /* the large file still starting reads */
	struct cfile *backlog; /* large files waiting for slots to read back */
	unsigned files_inflight;
	int scan_done, fatal;
	struct dirmeta {
		char *path;
		uint32_t mode;
		int64_t sec;
		uint32_t nsec;
	} *dirs;
	size_t ndirs, capdirs;
	double last_progress;
};

static struct cslot *slot_get(struct cp *c)
{
	struct cslot *s = c->free_slots;

	if (!s)
		return NULL;
	c->free_slots = s->next;
	c->nfree--;
	ferry_bufs_touch(&c->bufs, (unsigned)(s - c->slots));
	s->next = NULL;
	s->got = 0;
	return s;
}

static void slot_put(struct cp *c, struct cslot *s)
{
	s->next = c->free_slots;
	c->free_slots = s;
	c->nfree++;
}

static void set_why(struct cfile *f, const char *what, int res)
{
	if (f->err)
		return;
	f->err = FERRY_E_IO;
	snprintf(f->whybuf, sizeof(f->whybuf), "%s: %s", what, strerror(res < 0 ? -res : res));
	f->why = f->whybuf;
}

static void file_end(struct cfile *f)
{
	struct cp *c = f->c;

	if (f->err) {
		store_problem(c->r, f->rel, NULL, f->err, "%s", f->why ? f->why : ferry_strerror(f->err));
		if (f->tmp)
			unlink(f->tmp);
	} else {
		c->r->files_transferred++;
		c->r->bytes_written += f->size;
	}
	if (f->slot)
		slot_put(c, f->slot);
	ferry_filehash_destroy(f->hs);
	ferry_filehash_destroy(f->hd);
	free(f->rel);
	free(f->src);
	free(f->dst);
	free(f->tmp);
	free(f);
	c->files_inflight--;
}

/* The copy is complete and checked: metadata, then the rename makes it visible. */
static void rename_done(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_rename);

	if (res < 0)
		set_why(f, "rename into place", res);
	else {
		free(f->tmp);
		f->tmp = NULL;
	}
	file_end(f);
}

static void finish_file(struct cfile *f)
{
	struct cp *c = f->c;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = f->sec, .tv_nsec = f->nsec } };
	struct io_uring_sqe *sqe;

	if (!f->err && utimensat(AT_FDCWD, f->tmp, ts, AT_SYMLINK_NOFOLLOW) < 0)
		set_why(f, "setting mtime", errno);
	if (f->err) {
		file_end(f);
		return;
	}
	f->ev_rename.fn = rename_done;
	sqe = ferry_loop_sqe(c->loop, &f->ev_rename);
	io_uring_prep_renameat(sqe, AT_FDCWD, f->tmp, AT_FDCWD, f->dst, 0);
}

/* ---------------------------------------------------------------- small files */

static void small_step(struct cfile *f);

static void small_ev(struct cfile *f, int res, const char *what, size_t want)
{
	if (res < 0)
		set_why(f, what, res);
	else if (want != (size_t)-1 && (size_t)res != want && !f->err) {
		f->err = FERRY_E_IO;
		f->why = "file changed while being read; not copied";
	}
	if (--f->nwait == 0)
		small_step(f);
}

static void ev_sopen(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_sopen);
	f->sfd = res;
	small_ev(f, res, "cannot read", (size_t)-1);
}

static void ev_dopen(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_dopen);
	f->dfd = res;
	small_ev(f, res, "cannot create", (size_t)-1);
}

static void ev_read(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_read);
	small_ev(f, res, "read failed", f->size);
}

static void ev_close(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_sclose);
	(void)res;
	small_ev(f, 0, "close", (size_t)-1);
}

static void ev_dclose(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_dclose);
	small_ev(f, res, "close", (size_t)-1);
}

static void ev_write(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_write);
	small_ev(f, res, "write failed", f->size);
}

static void ev_back(struct ferry_ev *ev, int res)
{
	struct cfile *f = container_of(ev, struct cfile, ev_back);
	small_ev(f, res, "reading back", f->size);
}

static void small_step(struct cfile *f)
{
	struct cp *c = f->c;
	struct io_uring_sqe *sqe;
	int fixed = ferry_loop_fixed(c->loop);

	f->stage++;
	if (f->stage == 1) {
		/* both opened (or failed) */
		if (f->err) {
			if (f->sfd >= 0)
				close(f->sfd);
			if (f->dfd >= 0)
				close(f->dfd);
			f->sfd = f->dfd = -1;
			file_end(f);
			return;
		}
		f->nwait = 2;
		ferry_loop_reserve(c->loop, 2);
		sqe = ferry_loop_sqe(c->loop, &f->ev_read);
		if (fixed)
			io_uring_prep_read_fixed(sqe, f->sfd, f->slot->buf, (unsigned)f->size + 1, 0, f->slot->buf_bi);
		else
			io_uring_prep_read(sqe, f->sfd, f->slot->buf, (unsigned)f->size + 1, 0);
		sqe->flags |= IOSQE_IO_HARDLINK;
		sqe = ferry_loop_sqe(c->loop, &f->ev_sclose);
		io_uring_prep_close(sqe, f->sfd);
		f->sfd = -1;
		return;
	}
	if (f->stage == 2) {
		/* read: a byte beyond the size means the file grew since the scan */
		if (f->err) {
			close(f->dfd);
			f->dfd = -1;
			file_end(f);
			return;
		}
		c->r->bytes_read += f->size;
		ferry_rate_take(c->r->rate, f->size); /* --bwlimit */
		f->nwait = 3;
		ferry_loop_reserve(c->loop, 3);
		sqe = ferry_loop_sqe(c->loop, &f->ev_write);
		if (fixed)
			io_uring_prep_write_fixed(sqe, f->dfd, f->slot->buf, (unsigned)f->size, 0, f->slot->buf_bi);
		else
			io_uring_prep_write(sqe, f->dfd, f->slot->buf, (unsigned)f->size, 0);
		sqe->flags |= IOSQE_IO_HARDLINK;
		sqe = ferry_loop_sqe(c->loop, &f->ev_back);
		if (fixed)
			io_uring_prep_read_fixed(sqe, f->dfd, f->slot->back, (unsigned)f->size, 0, f->slot->back_bi);
		else
			io_uring_prep_read(sqe, f->dfd, f->slot->back, (unsigned)f->size, 0);
		sqe->flags |= IOSQE_IO_HARDLINK;
		sqe = ferry_loop_sqe(c->loop, &f->ev_dclose);
		io_uring_prep_close(sqe, f->dfd);
		f->dfd = -1;
		return;
	}
	/* written, read back, closed: the bytes on disk must hash like the source's */
	if (!f->err) {
		struct ferry_hash128 a = ferry_hash128(f->slot->buf, f->size), b = ferry_hash128(f->slot->back, f->size);
		if (a.lo != b.lo || a.hi != b.hi) {
			f->err = FERRY_E_CHECKSUM;
			f->why = "destination reads back different bytes (xxh128 mismatch)";
		}
	}
	finish_file(f);
}

static void start_small(struct cp *c, struct cfile *f)
{
	struct io_uring_sqe *sqe;

	f->small = 1;
	f->nwait = 2;
	f->sfd = f->dfd = -1;
	f->ev_sopen.fn = ev_sopen;
	f->ev_dopen.fn = ev_dopen;
	f->ev_read.fn = ev_read;
	f->ev_sclose.fn = ev_close;
	f->ev_write.fn = ev_write;
	f->ev_back.fn = ev_back;
	f->ev_dclose.fn = ev_dclose;
	sqe = ferry_loop_sqe(c->loop, &f->ev_sopen);
	io_uring_prep_openat(sqe, AT_FDCWD, f->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	sqe = ferry_loop_sqe(c->loop, &f->ev_dopen);
	io_uring_prep_openat(sqe, AT_FDCWD, f->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
}

/* ---------------------------------------------------------------- large files */

static void large_pump(struct cp *c);
static void large_maybe_done(struct cfile *f);

static void large_submit(struct cp *c, struct cslot *s, int is_write)
{
	struct cfile *f = s->f;
	struct io_uring_sqe *sqe = ferry_loop_sqe(c->loop, &s->ev);
	uint64_t off = (uint64_t)s->k * COPY_BUF + s->got;
	uint8_t *buf = (s->phase == 2 ? s->back : s->buf) + s->got;
	int bi = s->phase == 2 ? s->back_bi : s->buf_bi;
	int fd = s->phase == 0 ? f->sfd : f->dfd;
	unsigned len = (unsigned)(s->len - s->got);

	if (s->phase == 0 && f->direct)
		len = (len + 4095) & ~4095u; /* O_DIRECT reads whole blocks; the buffer has the room */
	if (ferry_loop_fixed(c->loop)) {
		if (is_write)
			io_uring_prep_write_fixed(sqe, fd, buf, len, off, bi);
		else
			io_uring_prep_read_fixed(sqe, fd, buf, len, off, bi);
	} else {
		if (is_write)
			io_uring_prep_write(sqe, fd, buf, len, off);
		else
			io_uring_prep_read(sqe, fd, buf, len, off);
	}
}

/* Chunks hashed and written in order; the waiting list is sorted by chunk number. */
static void large_place(struct cfile *f)
{
	struct cp *c = f->c;

	while (f->waiting && f->waiting->k == f->next_hash) {
		struct cslot *s = f->waiting;
		f->waiting = s->next;
		if (s->phase == 0) {
			ferry_filehash_update(f->hs, s->buf, s->len);
			f->next_hash++;
			s->phase = 1;
			s->got = 0;
			f->writes++;
			ferry_rate_take(c->r->rate, s->len); /* --bwlimit */
			large_submit(c, s, 1);
		}
	}
}

static void large_back_place(struct cfile *f)
{
	struct cp *c = f->c;

	while (f->waiting && f->waiting->k == f->next_back) {
		struct cslot *s = f->waiting;
		f->waiting = s->next;
		ferry_filehash_update(f->hd, s->back, s->len);
		f->next_back++;
		slot_put(c, s);
	}
}

static void insert_waiting(struct cfile *f, struct cslot *s)
{
	struct cslot **pp;

	for (pp = &f->waiting; *pp && (*pp)->k < s->k; pp = &(*pp)->next)
		;
	s->next = *pp;
	*pp = s;
}

static void large_ev(struct ferry_ev *ev, int res)
{
	struct cslot *s = container_of(ev, struct cslot, ev);
	struct cfile *f = s->f;
	struct cp *c = f->c;

	if (res == -EINTR || res == -EAGAIN) {
		large_submit(c, s, s->phase == 1);
		return;
	}
	if (res <= 0 || f->err) {
		if (res < 0)
			set_why(f, s->phase == 0 ? "read failed" : s->phase == 1 ? "write failed" : "reading back", res);
		else if (res == 0 && !f->err) {
			f->err = FERRY_E_IO;
			f->why = s->phase == 0 ? "file changed while being read (shrank); not copied" : "short read back";
		}
		if (s->phase == 1)
			f->writes--;
		else if (s->phase == 2)
			f->backs--;
		slot_put(c, s);
		large_maybe_done(f);
		return;
	}
	s->got += (size_t)res;
	if (s->got > s->len) {
		/* only an O_DIRECT read asks for more than the chunk: the file grew */
		if (!f->err) {
			f->err = FERRY_E_IO;
			f->why = "file changed while being read (grew); not copied";
		}
		slot_put(c, s);
		large_maybe_done(f);
		return;
	}
	if (s->got < s->len) {
		large_submit(c, s, s->phase == 1);
		return;
	}
	if (s->phase == 0) {
		c->r->bytes_read += s->len;
		insert_waiting(f, s);
		large_place(f);
	} else if (s->phase == 1) {
		f->writes--;
		slot_put(c, s);
	} else {
		f->backs--;
		insert_waiting(f, s);
		large_back_place(f);
	}
	large_maybe_done(f);
}

static void large_maybe_done(struct cfile *f)
{
	struct cp *c = f->c;

	if (c->large == f || f->writes || f->backs || f->waiting || f->in_backlog)
		return;
	if (!f->err && f->next_hash < f->nchunks)
		return;
	if (!f->err && f->next_back < f->nchunks) {
		/* read back what was written, in parallel as slots allow */
		if (f->next_read == f->nchunks) {
			struct stat st;
			if (fstat(f->sfd, &st) < 0 || (uint64_t)st.st_size != f->size || st.st_mtim.tv_sec != f->sec ||
			    (uint32_t)st.st_mtim.tv_nsec != f->nsec) {
				f->err = FERRY_E_IO;
				f->why = "file changed while being read; not copied";
				large_maybe_done(f);
				return;
			}
			f->next_read = 0; /* now counts read-back chunks started */
			f->stage = 2;
		}
		while (f->stage == 2 && f->next_read < f->nchunks) {
			struct cslot *s = slot_get(c);
			if (!s) {
				/* resumed by feed() once slots free up */
				if (!f->in_backlog) {
					f->in_backlog = 1;
					f->next_backlog = c->backlog;
					c->backlog = f;
				}
				return;
			}
			s->f = f;
			s->k = f->next_read++;
			s->len = (size_t)(f->size - (uint64_t)s->k * COPY_BUF < COPY_BUF ? f->size - (uint64_t)s->k * COPY_BUF
											: COPY_BUF);
			s->phase = 2;
			s->ev.fn = large_ev;
			f->backs++;
			large_submit(c, s, 0);
		}
		return;
	}
	if (!f->err) {
		struct ferry_hash128 a = ferry_filehash_digest(f->hs), b = ferry_filehash_digest(f->hd);
		if (a.lo != b.lo || a.hi != b.hi) {
			f->err = FERRY_E_CHECKSUM;
			f->why = "destination reads back different bytes (xxh128 mismatch)";
		}
	}
	if (f->sfd >= 0)
		close(f->sfd);
	if (f->dfd >= 0 && close(f->dfd) < 0)
		set_why(f, "close", errno);
	f->sfd = f->dfd = -1;
	finish_file(f);
}

static void large_pump(struct cp *c)
{
	struct cfile *f = c->large;

	while (f && !f->err && f->next_read < f->nchunks) {
		struct cslot *s = slot_get(c);
		if (!s)
			return;
		s->f = f;
		s->k = f->next_read++;
		s->len = (size_t)(f->size - (uint64_t)s->k * COPY_BUF < COPY_BUF ? f->size - (uint64_t)s->k * COPY_BUF
										: COPY_BUF);
		s->phase = 0;
		s->ev.fn = large_ev;
		large_submit(c, s, 0);
	}
	if (f) {
		c->large = NULL;
		large_maybe_done(f);
	}
}

static int start_large(struct cp *c, struct cfile *f)
{
	struct stat st;

	f->sfd = open(f->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (c->r->direct ? O_DIRECT : 0));
	f->direct = c->r->direct && f->sfd >= 0;
	if (f->sfd < 0 && c->r->direct && errno == EINVAL)
		f->sfd = open(f->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f->sfd < 0 || fstat(f->sfd, &st) < 0) {
		set_why(f, "cannot read", errno);
		return -1;
	}
	f->size = (uint64_t)st.st_size;
	f->sec = st.st_mtim.tv_sec;
	f->nsec = (uint32_t)st.st_mtim.tv_nsec;
	f->dfd = open(f->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
	if (f->dfd < 0) {
		set_why(f, "cannot create", errno);
		return -1;
	}
	f->nchunks = (uint32_t)((f->size + COPY_BUF - 1) / COPY_BUF);
	f->hs = ferry_filehash_create();
	f->hd = ferry_filehash_create();
	if (!f->hs || !f->hd) {
		f->err = FERRY_E_NOMEM;
		return -1;
	}
	c->large = f;
	return 0;
}

/* ---------------------------------------------------------------- the tree */

static char *join(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 2);
	if (s)
		sprintf(s, "%s/%s", a, b);
	return s;
}

static char *tmp_for(const char *dst)
{
	uint8_t rnd[6];
	char rh[13];
	const char *slash = strrchr(dst, '/');
	size_t dl = slash ? (size_t)(slash - dst) : 0;
	char *t = malloc(dl + 32);

	if (!t || ferry_random(rnd, sizeof(rnd))) {
		free(t);
		return NULL;
	}
	store_hex(rnd, sizeof(rnd), rh);
	sprintf(t, "%.*s/.ferry-%s.part", (int)dl, dst, rh);
	return t;
}

/* Returns 1 when the item must wait for resources. */
static int take(struct cp *c, struct ferry_scan_item *it)
{
	char *dst;

	if (it->type == 0) {
		store_problem(c->r, it->path, NULL, FERRY_E_IO, "%s", it->error);
		return 0;
	}
	if (it->type == FERRY_ENTRY_FILE) {
		int small = it->size <= COPY_BUF;

		if ((small && c->nfree == 0) || (!small && c->large))
			return 1;
		c->r->files_total++;
		c->r->bytes_total += it->size;
		if (c->r->dry_run) {
			c->r->files_transferred++;
			c->r->bytes_read += it->size;
			return 0;
		}
		struct cfile *f = calloc(1, sizeof(*f));
		if (!f || !(f->rel = strdup(it->path)) || !(f->src = join(c->src, it->path)) ||
		    !(f->dst = join(c->dst, it->path)) || !(f->tmp = tmp_for(f->dst))) {
			if (f) {
				free(f->rel);
				free(f->src);
				free(f->dst);
			}
			free(f);
			c->fatal = FERRY_E_NOMEM;
			return 0;
		}
		f->c = c;
		f->size = it->size;
		f->mode = it->mode;
		f->sec = it->mtime_sec;
		f->nsec = it->mtime_nsec;
		f->sfd = f->dfd = -1;
		c->files_inflight++;
		if (small) {
			f->slot = slot_get(c);
			start_small(c, f);
		} else if (start_large(c, f)) {
			if (f->sfd >= 0)
				close(f->sfd);
			if (f->dfd >= 0)
				close(f->dfd);
			f->sfd = f->dfd = -1;
			file_end(f);
		}
		return 0;
	}
	if (c->r->dry_run)
		return 0;
	dst = join(c->dst, it->path);
	if (!dst) {
		c->fatal = FERRY_E_NOMEM;
		return 0;
	}
	if (it->type == FERRY_ENTRY_DIR) {
		struct stat st;
		if (mkdir(dst, 0700) < 0 && errno != EEXIST)
			store_problem(c->r, it->path, NULL, FERRY_E_IO, "mkdir: %s", strerror(errno));
		else if (lstat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
			store_problem(c->r, it->path, NULL, FERRY_E_IO, "exists and is not a directory");
		else {
			if (c->ndirs == c->capdirs) {
				size_t nc = c->capdirs ? c->capdirs * 2 : 256;
				void *nd = realloc(c->dirs, nc * sizeof(*c->dirs));
				if (!nd) {
					c->fatal = FERRY_E_NOMEM;
					free(dst);
					return 0;
				}
				c->dirs = nd;
				c->capdirs = nc;
			}
			c->dirs[c->ndirs].path = dst;
			c->dirs[c->ndirs].mode = it->mode;
			c->dirs[c->ndirs].sec = it->mtime_sec;
			c->dirs[c->ndirs].nsec = it->mtime_nsec;
			c->ndirs++;
			return 0;
		}
	} else {
		char *tmp = tmp_for(dst);
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = it->mtime_sec, .tv_nsec = it->mtime_nsec } };
		if (!tmp || symlink(it->target, tmp) < 0 || utimensat(AT_FDCWD, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0 ||
		    rename(tmp, dst) < 0) {
			store_problem(c->r, it->path, NULL, FERRY_E_IO, "symlink: %s", strerror(errno));
			if (tmp)
				unlink(tmp);
		}
		free(tmp);
	}
	free(dst);
	return 0;
}

static void feed(struct cp *c)
{
	while (c->backlog && c->nfree) {
		struct cfile *f = c->backlog;
		c->backlog = f->next_backlog;
		f->in_backlog = 0;
		large_maybe_done(f);
	}
	large_pump(c);
	while (!c->fatal) {
		struct ferry_scan_item *it = c->stalled;
		int done = 0;

		if (!it)
			it = ferry_scan_next(c->scan, &done);
		c->stalled = NULL;
		if (!it) {
			if (done)
				c->scan_done = 1;
			return;
		}
		if (take(c, it)) {
			c->stalled = it;
			return;
		}
		ferry_scan_item_free(it);
		large_pump(c);
	}
}

/* A copy end: file:// is a local path; a URL scheme without a backend here is refused
 * (as a path it would become a directory named "azure:"). *caps: what its backend can do. */
static int copy_end(const char **loc, unsigned *caps, struct ferry_run *r)
{
	const struct ferry_backend_ops *ops;
	const char *rest;
	char msg[256];

	if (ferry_backend_resolve(*loc, &ops, &rest, msg, sizeof(msg))) {
		store_problem(r, *loc, NULL, FERRY_E_INVAL, "%s", msg);
		return FERRY_E_INVAL;
	}
	*loc = rest; /* the location the backend is handed: a URL stays itself */
	*caps = ops->caps;
	return FERRY_OK;
}

int ferry_copy(const char *src, const char *dst, struct ferry_run *r)
{
	unsigned scaps, dcaps;
	int e = copy_end(&src, &scaps, r);
	if (e || (e = copy_end(&dst, &dcaps, r)))
		return e;
	/* plain objects on either side: one object per file, not the local tree copier */
	if ((scaps | dcaps) & FERRY_CAP_OBJECT_STORE)
		return store_copy_object_store(src, dst, r);
	struct cp c;
	uint64_t memory = r->memory ? r->memory : DEFAULT_MEMORY;
	mode_t old_umask;
	int err = FERRY_OK;
	struct stat st;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.src = src;
	c.dst = dst;
	c.waker.fd = -1;
	if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode)) {
		store_problem(r, src, NULL, FERRY_E_IO, "cannot open source directory: %s",
			      errno ? strerror(errno) : "not a directory");
		return FERRY_E_IO;
	}
	if (!r->dry_run && mkdir(dst, 0755) < 0 && errno != EEXIST) {
		store_problem(r, dst, NULL, FERRY_E_IO, "cannot create destination: %s", strerror(errno));
		return FERRY_E_IO;
	}
	/* the rest of the process (scanner queue, files in flight, the ring) fits in 16 MiB */
	c.nslots = ferry_pipeline_pairs(memory, 16u << 20, COPY_BUF + 4096, 32);
	c.slots = calloc(c.nslots, sizeof(*c.slots));
	if (!c.slots || ferry_loop_create(&c.loop, &(struct ferry_loop_opts){ .depth = r->depth ? r->depth : 256 }) ||
	    ferry_bufs_create(&c.bufs, c.loop, c.nslots, COPY_BUF + 4096)) {
		err = FERRY_E_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < c.nslots; i++) {
		struct cslot *s = &c.slots[i];
		/* one byte more than a chunk: a small file's read asks for size + 1 to see growth */
		s->c = &c;
		s->buf = c.bufs.buf[2 * i];
		s->back = c.bufs.buf[2 * i + 1];
		s->buf_bi = (int)(2 * i);
		s->back_bi = (int)(2 * i + 1);
		slot_put(&c, s);
	}
	if (ferry_waker_start(&c.waker, c.loop) || ferry_scan_start(&c.scan, src, 4096, c.waker.fd)) {
		store_problem(r, src, NULL, FERRY_E_IO, "cannot open source directory: %s", strerror(errno));
		c.scan = NULL;
		err = FERRY_E_IO;
		goto out;
	}
	/* files are created with their final mode; nothing may mask it */
	old_umask = umask(0);
	for (;;) {
		feed(&c);
		if (r->progress && ferry_mono() - c.last_progress > 0.2) {
			c.last_progress = ferry_mono();
			r->progress(r->progress_arg, r);
		}
		if ((c.scan_done || c.fatal) && !c.stalled && !c.large && !c.backlog && c.files_inflight == 0)
			break;
		/* a wake-up taken by a nested run means there may be work queued: look again first */
		int wait = !c.waker.fired;
		c.waker.fired = 0;
		if (ferry_loop_run(c.loop, wait) < 0) {
			err = FERRY_E_IO;
			break;
		}
	}
	umask(old_umask);
	/* directories last, deepest first, so copying their contents does not change them */
	for (size_t i = c.ndirs; i-- > 0;) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = c.dirs[i].sec, .tv_nsec = c.dirs[i].nsec } };
		if (chmod(c.dirs[i].path, c.dirs[i].mode) < 0 || utimensat(AT_FDCWD, c.dirs[i].path, ts, 0) < 0)
			store_problem(r, c.dirs[i].path + strlen(dst) + 1, NULL, FERRY_E_IO,
				      "setting directory metadata: %s", strerror(errno));
	}
	if (!err)
		err = c.fatal ? c.fatal : r->errors ? FERRY_E_IO : FERRY_OK;
out:
	if (c.scan)
		ferry_scan_stop(c.scan);
	ferry_scan_item_free(c.stalled);
	ferry_waker_stop(&c.waker);
	if (c.loop)
		ferry_bufs_destroy(&c.bufs, c.loop);
	ferry_loop_destroy(c.loop);
	for (size_t i = 0; i < c.ndirs; i++)
		free(c.dirs[i].path);
	free(c.dirs);
	free(c.slots);
	return err;
}
