/* pull: one file restored (a temporary name beside it, writes in order, size and hash
 * checked, metadata, rename into place), and the directories and symlinks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "pull_int.h"

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
int pull_open_parent(struct pull *p, const char *rel, const char **base)
{
	char buf[FERRY_PATH_MAX + 1];
	size_t n = localfs_dirname(rel, buf, sizeof(buf), base);
	int fd;

	if (!n)
		return dup(p->root);
	if (p->parent_fd >= 0 && !strcmp(buf, p->parent_path))
		return dup(p->parent_fd);
	fd = localfs_open_beneath(p->root, buf, 0700);
	if (fd >= 0) {
		if (p->parent_fd >= 0)
			close(p->parent_fd);
		snprintf(p->parent_path, sizeof(p->parent_path), "%.*s", (int)n, rel);
		p->parent_fd = dup(fd);
	}
	return fd;
}

int pull_ensure_dst(const char *dst)
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
void pull_file_maybe_done(struct xfile *f)
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
	pull_pslot_unref(p, u->slot);
	free(u);
	pull_file_maybe_done(f);
}

/* Hands decoded chunks to the file in order: hash, then write. */
void pull_file_deliver(struct xfile *f)
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
			pull_pslot_unref(p, sl);
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
			pull_pslot_unref(p, sl);
			free(u);
			continue;
		}
		ferry_filehash_update(f->fh, sl->plain + start, len);
		if (p->verify) {
			f->pos += len;
			pull_pslot_unref(p, sl);
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
	pull_file_maybe_done(f);
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
int pull_start_file(struct pull *p, const struct ferry_entry *e)
{
	struct xfile *f;
	struct cobj *obj = NULL;
	char why[256] = "";
	int err = FERRY_OK;

	if (e->chunk_count) {
		obj = pull_cobj_get(p, e->object_id, why, sizeof(why), &err);
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
		f->pfd = pull_open_parent(p, f->path, &f->base);
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
		pull_file_maybe_done(f);
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

void pull_restore_other(struct pull *p, const struct ferry_entry *e)
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
	pfd = pull_open_parent(p, e->path, &base);
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

void pull_finish_dirs(struct pull *p)
{
	for (size_t i = p->ndirs; i-- > 0;) {
		struct dirmeta *d = &p->dirs[i];
		const char *base;
		int pfd = pull_open_parent(p, d->path, &base);
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = d->sec, .tv_nsec = d->nsec } };

		if (pfd < 0)
			continue;
		if (fchmodat(pfd, base, d->mode, 0) < 0 || utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			store_problem(p->r, d->path, NULL, FERRY_E_IO, "setting directory metadata: %s", strerror(errno));
		close(pfd);
	}
}
