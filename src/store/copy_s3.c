/*
 * copy to and from an object store: plain objects, one per file, readable by any S3
 * tool (the AWS CLI, rclone). Keys are the files' paths under the URL's prefix.
 *
 * Up: each file's xxh128 goes into the object's user metadata (x-amz-meta-ferry-xxh128)
 * with its mtime and mode; every part carries a Content-MD5 the server checks. A file
 * of more than one part is hashed before it is sent and again while it is sent, so a
 * file that changes meanwhile is reported, not stored torn. Objects commit in the
 * background; the run ends with the backend's sync(), which reports any that failed.
 *
 * Down: the prefix is listed, each object is fetched by ranged GETs (DOWN_FILES files
 * at a time) into a temporary file beside its final name, checked (our xxh128 if the
 * object has it; else the MD5 of a single-part object's ETag), given its mode and mtime,
 * and renamed into place. Keys that are absolute, contain "." or ".." segments, or
 * would resolve through a symlink are refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../pipeline/pipeline.h"
#include "ferry/backend.h"
#include "ferry/copy.h"
#include "ferry/unattended.h"
#include "store_int.h"

#define UP_BUF (8u << 20)
#define DOWN_BUF (8u << 20)
#define DOWN_FILES 16

struct iowait {
	struct ferry_io io;
	int done;
};

static void iowait_done(struct ferry_io *io)
{
	((struct iowait *)io)->done = 1;
}

static void hex128(struct ferry_hash128 h, char out[33])
{
	uint8_t b[16];

	ferry_hash128_encode(h, b);
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int open_backend(const char *url, struct ferry_loop **loop, struct ferry_backend **b, struct ferry_run *r)
{
	char msg[700];
	int err = ferry_loop_create(loop, NULL);

	if (err) {
		store_problem(r, url, NULL, err, "cannot set up io_uring");
		return err;
	}
	err = ferry_backend_open(b, url, *loop, msg, sizeof(msg));
	if (err) {
		store_problem(r, url, NULL, err, "%s", msg);
		ferry_loop_destroy(*loop);
		*loop = NULL;
	}
	return err;
}

/* ---------------------------------------------------------------- up */

static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		got += (size_t)n;
	}
	return 0;
}

static int hash_file(int fd, uint64_t size, uint8_t *buf, struct ferry_filehash *fh)
{
	ferry_filehash_reset(fh);
	for (uint64_t off = 0; off < size; off += UP_BUF) {
		size_t n = size - off < UP_BUF ? (size_t)(size - off) : UP_BUF;
		int e = read_full(fd, buf, n, off);
		if (e)
			return e;
		ferry_filehash_update(fh, buf, n);
	}
	return 0;
}

static void up_file(struct ferry_backend *b, struct ferry_loop *loop, int root, const struct ferry_scan_item *it,
		    uint8_t *buf, struct ferry_filehash *fh, struct journal *j, struct ferry_run *r)
{
	struct ferry_wobj *w = NULL;
	char want[33], got[33], val[64];
	struct stat st;
	int fd = openat(root, it->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int e = 0;
	const char *what = "reading";

	if (fd < 0) {
		store_problem(r, it->path, NULL, FERRY_E_IO, "cannot open: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != it->size) {
		store_problem(r, it->path, NULL, FERRY_E_IO, "changed since it was listed");
		close(fd);
		return;
	}
	want[0] = 0;
	if (it->size > UP_BUF) { /* the hash goes in the metadata, which goes first */
		if ((e = hash_file(fd, it->size, buf, fh)))
			goto out;
		hex128(ferry_filehash_digest(fh), want);
	}
	what = "uploading";
	struct ferry_entry fe = { .type = FERRY_ENTRY_FILE, .size = it->size, .mtime_sec = it->mtime_sec,
				  .mtime_nsec = it->mtime_nsec, .path = it->path };
	struct jupload *up = it->size > UP_BUF ? journal_upload(j, it->path) : NULL;
	int resumed = 0;
	e = -ENOENT;
	if (up && up->size == it->size && up->mtime_sec == it->mtime_sec && up->mtime_nsec == it->mtime_nsec) {
		/* an interrupted run's upload of this file: parts the server holds are not sent again */
		up->used = 1;
		e = b->ops->wresume(b, it->path, up->upload_id, &w);
		resumed = !e; /* its metadata went with its start */
	}
	if (e && (e = b->ops->wopen(b, it->path, &w)))
		goto out;
	journal_expect(j, it->path, NULL, &fe);
	ferry_filehash_reset(fh);
	for (uint64_t off = 0; off < it->size || (off == 0 && it->size == 0);) {
		size_t n = it->size - off < UP_BUF ? (size_t)(it->size - off) : UP_BUF;
		what = "reading";
		if (n && (e = read_full(fd, buf, n, off)))
			goto out;
		ferry_filehash_update(fh, buf, n);
		r->bytes_read += n;
		if (off == 0 && !resumed) {
			if (!want[0])
				hex128(ferry_filehash_digest(fh), want);
			snprintf(val, sizeof(val), "%lld.%09u", (long long)it->mtime_sec, it->mtime_nsec);
			what = "setting metadata of";
			if (b->ops->wmeta && ((e = b->ops->wmeta(b, w, "ferry-xxh128", want)) ||
					      (e = b->ops->wmeta(b, w, "mtime", val))))
				goto out;
			snprintf(val, sizeof(val), "%o", it->mode & 07777);
			if (b->ops->wmeta && (e = b->ops->wmeta(b, w, "mode", val)))
				goto out;
		}
		if (n) {
			struct iowait iw = { .io = { .done = iowait_done, .buf = buf, .len = n, .off = off, .buf_index = -1 } };
			ferry_rate_take(r->rate, n); /* --bwlimit, or a planned route's bandwidth */
			b->ops->write(b, w, &iw.io);
			while (!iw.done)
				if (ferry_loop_run(loop, 1) < 0)
					break;
			what = "uploading";
			if (iw.io.res < 0 && (e = iw.io.res))
				goto out;
		}
		off += n;
		if (n == 0)
			break;
	}
	hex128(ferry_filehash_digest(fh), got);
	if (strcmp(got, want) != 0) {
		b->ops->abort(b, w);
		w = NULL;
		store_problem(r, it->path, NULL, FERRY_E_CHECKSUM, "changed while being read: not copied");
		close(fd);
		return;
	}
	what = "committing";
	e = b->ops->commit(b, w, 0); /* in the background: sync() at the end reports failures */
	w = NULL;
	if (!e) {
		r->files_transferred++;
		r->bytes_written += it->size;
	}
out:
	if (w)
		b->ops->abort(b, w);
	if (e)
		store_problem(r, it->path, NULL, e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO, "%s: %s", what,
			      store_berr(e));
	close(fd);
}

static int copy_up(const char *src, const char *url, struct ferry_run *r)
{
	struct ferry_loop *loop = NULL;
	struct ferry_backend *b = NULL;
	struct ferry_scan *sc = NULL;
	struct ferry_filehash *fh = ferry_filehash_create();
	uint8_t *buf = malloc(UP_BUF);
	uint64_t symlinks = 0;
	struct journal *j = NULL;
	int root = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC), done = 0, err;

	if (root < 0) {
		store_problem(r, src, NULL, FERRY_E_IO, "cannot open source: %s", strerror(errno));
		free(buf);
		ferry_filehash_destroy(fh);
		return errno == ENOENT ? FERRY_E_INVAL : FERRY_E_IO;
	}
	if (!buf || !fh) {
		err = FERRY_E_NOMEM;
		goto out;
	}
	if ((err = open_backend(url, &loop, &b, r)))
		goto out;
	if (!r->dry_run)
		j = journal_open_copy(b, url, src, r);
	if ((err = ferry_scan_start(&sc, src, 4096, -1))) {
		store_problem(r, src, NULL, err, "cannot walk the source");
		goto out;
	}
	while (!done) {
		struct ferry_scan_item *it = ferry_scan_next(sc, &done);
		if (!it) {
			if (!done)
				usleep(200);
			continue;
		}
		if (it->type == 0) {
			store_problem(r, it->path ? it->path : src, NULL, FERRY_E_IO, "%s", it->error);
		} else if (it->type == FERRY_ENTRY_FILE) {
			const struct ferry_entry *je = journal_done(j, it->path);
			r->files_total++;
			r->bytes_total += it->size;
			if (je && je->size == it->size && je->mtime_sec == it->mtime_sec && je->mtime_nsec == it->mtime_nsec)
				r->files_resumed++; /* copied by an interrupted run */
			else if (!r->dry_run)
				up_file(b, loop, root, it, buf, fh, j, r);
		} else if (it->type == FERRY_ENTRY_SYMLINK) {
			symlinks++;
		}
		ferry_scan_item_free(it);
		if (r->progress)
			r->progress(r->progress_arg, r);
	}
	if (b->ops->sync && (err = b->ops->sync(b))) {
		store_problem(r, url, NULL, ferry_backend_err(err), "%s", store_berr(err));
		err = FERRY_E_IO;
	}
	if (symlinks && r->verbose)
		fprintf(stderr, "ferry: copy: %llu symlinks not copied (object stores have none)\n",
			(unsigned long long)symlinks);
out:
	if (sc)
		ferry_scan_stop(sc);
	if (j) {
		uint64_t reused = journal_reused(j);
		r->bytes_resumed += reused;
		r->bytes_written -= reused < r->bytes_written ? reused : r->bytes_written;
		journal_close(j, !err && !r->errors);
	}
	ferry_backend_close(b);
	if (loop)
		ferry_loop_destroy(loop);
	close(root);
	free(buf);
	ferry_filehash_destroy(fh);
	return err ? err : r->errors ? FERRY_E_IO : FERRY_OK;
}

/* ---------------------------------------------------------------- down */

struct key {
	char *key;
	uint64_t size;
};

struct keys {
	struct key *v;
	size_t n, cap;
};

static int add_key(void *arg, const char *key, uint64_t size)
{
	struct keys *k = arg;

	if (k->n == k->cap) {
		size_t nc = k->cap ? 2 * k->cap : 1024;
		struct key *nv = realloc(k->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		k->v = nv;
		k->cap = nc;
	}
	if (!(k->v[k->n].key = strdup(key)))
		return -ENOMEM;
	k->v[k->n++].size = size;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct key *)a)->key, ((const struct key *)b)->key);
}

/* A key is a safe relative path: no empty, "." or ".." segment, not absolute. */
static int safe_key(const char *k)
{
	if (!*k || *k == '/' || strlen(k) > FERRY_PATH_MAX)
		return 0;
	for (const char *s = k; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		if (!e)
			break;
		s = e + 1;
	}
	return 1;
}

/* Opens (creating) the parent directory of rel under root, never through a symlink. */
static int parent_dir(int root, const char *rel, const char **base)
{
	char buf[FERRY_PATH_MAX + 1];
	char *slash;
	int fd;

	snprintf(buf, sizeof(buf), "%s", rel);
	slash = strrchr(buf, '/');
	*base = slash ? rel + (slash - buf) + 1 : rel;
	if (!slash)
		return dup(root);
	*slash = 0;
	fd = store_open_beneath(root, buf, 0755);
	return fd;
}

struct dfile {
	struct iowait iw;
	struct key *k;
	struct ferry_robj *ro;
	uint64_t size, off;
	uint64_t kept; /* bytes an interrupted copy had fetched (df_resume) */
	int pfd, fd;
	const char *base;
	char tmp[64];
	char want_xxh[40], etag[80];
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int have_mtime;
	unsigned mode;
	struct ferry_filehash *fh;
	EVP_MD_CTX *md5;
	uint8_t *buf;
	int busy;
	struct journal *j; /* the copy's resume journal, or NULL */
};

static void df_close(struct ferry_backend *b, struct dfile *d)
{
	if (d->ro)
		b->ops->rclose(b, d->ro);
	d->ro = NULL;
	if (d->fd >= 0)
		close(d->fd);
	if (d->tmp[0] && d->pfd >= 0)
		unlinkat(d->pfd, d->tmp, 0);
	if (d->pfd >= 0)
		close(d->pfd);
	d->fd = d->pfd = -1;
	d->tmp[0] = 0;
	d->busy = 0;
}

static void df_fail(struct ferry_backend *b, struct dfile *d, struct ferry_run *r, int err, const char *what,
		    const char *detail)
{
	if (detail)
		store_problem(r, d->k->key, NULL, err, "%s: %s", what, detail);
	else
		store_problem(r, d->k->key, NULL, err, "%s", what);
	df_close(b, d);
}

static void df_next(struct ferry_backend *b, struct dfile *d)
{
	size_t n = d->size - d->off < DOWN_BUF ? (size_t)(d->size - d->off) : DOWN_BUF;

	memset(&d->iw, 0, sizeof(d->iw));
	d->iw.io.done = iowait_done;
	d->iw.io.buf = d->buf;
	d->iw.io.len = n;
	d->iw.io.off = d->off;
	d->iw.io.buf_index = -1;
	b->ops->read(b, d->ro, &d->iw.io);
}

static void df_finish(struct ferry_backend *b, struct dfile *d, struct ferry_run *r)
{
	char got[33];

	hex128(ferry_filehash_digest(d->fh), got);
	if (d->want_xxh[0] && strcmp(got, d->want_xxh) != 0) {
		df_fail(b, d, r, FERRY_E_CHECKSUM, "xxh128 differs from the object's ferry-xxh128: not written", NULL);
		return;
	}
	if (!d->want_xxh[0] && strlen(d->etag) == 32 && strspn(d->etag, "0123456789abcdef") == 32) {
		unsigned char md[16];
		unsigned int ml = 0;
		char hex[33];
		EVP_DigestFinal_ex(d->md5, md, &ml);
		for (int i = 0; i < 16; i++)
			sprintf(hex + 2 * i, "%02x", md[i]);
		if (strcmp(hex, d->etag) != 0) {
			df_fail(b, d, r, FERRY_E_CHECKSUM, "MD5 differs from the object's ETag: not written", NULL);
			return;
		}
	}
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = d->mtime_sec, .tv_nsec = d->mtime_nsec } };
	if (fchmod(d->fd, d->mode) < 0 || (d->have_mtime && futimens(d->fd, ts) < 0) ||
	    renameat(d->pfd, d->tmp, d->pfd, d->base) < 0) {
		df_fail(b, d, r, FERRY_E_IO, "cannot put in place", strerror(errno));
		return;
	}
	d->tmp[0] = 0;
	r->files_transferred++;
	r->bytes_written += d->size - d->kept;
	struct stat st;
	if (d->j && fstat(d->fd, &st) == 0) {
		/* as it now is on disk: a rerun skips it while it stays so */
		struct ferry_entry fe = { .type = FERRY_ENTRY_FILE, .size = d->size, .mtime_sec = st.st_mtim.tv_sec,
					  .mtime_nsec = (uint32_t)st.st_mtim.tv_nsec, .path = d->k->key };
		journal_entry(d->j, &fe);
	}
	df_close(b, d);
}

/* The temporary file an interrupted copy left for this object (same ETag and size):
 * what it holds is kept (read back into the checks); the rest is fetched. 1 if resumed. */
static int df_resume(struct dfile *d, struct ferry_run *r)
{
	struct jupload *u = journal_upload(d->j, d->k->key);
	struct stat st;
	int fd;

	if (!u)
		return 0;
	u->used = 1;
	if (strlen(u->key) >= sizeof(d->tmp) || strncmp(u->key, ".ferry-tmp-", 11) || strchr(u->key, '/'))
		return 0;
	if (!d->etag[0] || strcmp(u->upload_id, d->etag) || u->size != d->size) {
		unlinkat(d->pfd, u->key, 0); /* the object changed since: of no use */
		return 0;
	}
	fd = openat(d->pfd, u->key, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t keep = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
		keep = (uint64_t)st.st_size < d->size ? (uint64_t)st.st_size : d->size - 1;
	for (uint64_t off = 0; off < keep;) {
		size_t n = keep - off < DOWN_BUF ? (size_t)(keep - off) : DOWN_BUF;
		ssize_t got = pread(fd, d->buf, n, (off_t)off);
		if (got <= 0) {
			keep = 0;
			break;
		}
		ferry_filehash_update(d->fh, d->buf, (size_t)got);
		EVP_DigestUpdate(d->md5, d->buf, (size_t)got);
		off += (uint64_t)got;
	}
	if (!keep || ftruncate(fd, (off_t)keep) < 0) {
		close(fd);
		unlinkat(d->pfd, u->key, 0);
		ferry_filehash_reset(d->fh);
		EVP_DigestInit_ex(d->md5, EVP_md5(), NULL);
		return 0;
	}
	memcpy(d->tmp, u->key, strlen(u->key) + 1); /* fits: checked above */
	d->fd = fd;
	d->off = d->kept = keep;
	r->bytes_resumed += keep;
	r->files_resumed++;
	return 1;
}

/* Opens the object and the temporary file; starts the first read. 0 when started. */
static int df_start(struct ferry_backend *b, int root, struct dfile *d, struct key *k, struct ferry_run *r)
{
	char val[64];
	int e;

	d->k = k;
	d->fd = d->pfd = -1;
	d->tmp[0] = 0;
	d->off = d->kept = 0;
	if ((e = b->ops->ropen(b, k->key, &d->ro, &d->size))) {
		d->ro = NULL;
		store_problem(r, k->key, NULL, e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO, "%s", store_berr(e));
		return -1;
	}
	d->want_xxh[0] = d->etag[0] = 0;
	d->have_mtime = 0;
	d->mode = 0644;
	if (b->ops->rmeta) {
		if (b->ops->rmeta(b, d->ro, "ferry-xxh128", d->want_xxh, sizeof(d->want_xxh)))
			d->want_xxh[0] = 0;
		if (b->ops->rmeta(b, d->ro, "etag", d->etag, sizeof(d->etag)))
			d->etag[0] = 0;
		if (!b->ops->rmeta(b, d->ro, "mtime", val, sizeof(val))) {
			long long sec = 0;
			unsigned long nsec = 0;
			if (sscanf(val, "%lld.%9lu", &sec, &nsec) >= 1 && nsec < 1000000000ul) {
				d->mtime_sec = sec;
				d->mtime_nsec = (uint32_t)nsec;
				d->have_mtime = 1;
			}
		}
		if (!b->ops->rmeta(b, d->ro, "mode", val, sizeof(val))) {
			unsigned m;
			if (sscanf(val, "%o", &m) == 1)
				d->mode = m & 07777;
		}
	}
	d->pfd = parent_dir(root, k->key, &d->base);
	if (d->pfd < 0) {
		df_fail(b, d, r, FERRY_E_IO, "cannot create its directory", strerror(errno));
		return -1;
	}
	ferry_filehash_reset(d->fh);
	EVP_DigestInit_ex(d->md5, EVP_md5(), NULL);
	if (!df_resume(d, r)) {
		snprintf(d->tmp, sizeof(d->tmp), ".ferry-tmp-%08lx%04x", (unsigned long)random(),
			 (unsigned)getpid() & 0xffff);
		d->fd = openat(d->pfd, d->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (d->fd < 0) {
			d->tmp[0] = 0;
			df_fail(b, d, r, FERRY_E_IO, "cannot create", strerror(errno));
			return -1;
		}
		if (d->etag[0]) /* resumed, or removed, by a rerun if this one is cut short */
			journal_partial(d->j, k->key, d->tmp, d->etag, d->size, d->mtime_sec, d->mtime_nsec);
	}
	d->busy = 1;
	if (d->size == 0) {
		df_finish(b, d, r);
		return 0;
	}
	df_next(b, d);
	return 0;
}

/* A read landed: write, hash, next read or finish. */
static void df_step(struct ferry_backend *b, struct dfile *d, struct ferry_run *r)
{
	int res = d->iw.io.res;
	size_t n = d->iw.io.len;

	if (res < 0) {
		df_fail(b, d, r, res <= -4096 ? ferry_backend_err(res) : FERRY_E_IO, "reading", store_berr(res));
		return;
	}
	r->bytes_read += n;
	ferry_rate_take(r->rate, n); /* --bwlimit */
	ferry_filehash_update(d->fh, d->buf, n);
	if (!d->want_xxh[0]) /* the ETag's MD5 is the check only when our hash is absent */
		EVP_DigestUpdate(d->md5, d->buf, n);
	for (size_t done = 0; done < n;) {
		ssize_t w = pwrite(d->fd, d->buf + done, n - done, (off_t)(d->off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			df_fail(b, d, r, FERRY_E_IO, "cannot write", w < 0 ? strerror(errno) : "no progress");
			return;
		}
		done += (size_t)w;
	}
	d->off += n;
	if (d->off < d->size)
		df_next(b, d);
	else
		df_finish(b, d, r);
}

static int copy_down(const char *url, const char *dst, struct ferry_run *r)
{
	struct ferry_loop *loop = NULL;
	struct ferry_backend *b = NULL;
	struct keys ks = { 0 };
	struct journal *j = NULL;
	struct dfile d[DOWN_FILES];
	size_t next = 0;
	int root = -1, err;

	memset(d, 0, sizeof(d));
	if ((err = open_backend(url, &loop, &b, r)))
		return err;
	if ((err = b->ops->list(b, "", add_key, &ks))) {
		store_problem(r, url, NULL, ferry_backend_err(err), "cannot list: %s", store_berr(err));
		err = err == -ENOMEM ? FERRY_E_NOMEM : ferry_backend_err(err);
		goto out;
	}
	qsort(ks.v, ks.n, sizeof(*ks.v), cmp_key);
	for (size_t i = 0; i < ks.n; i++)
		r->bytes_total += ks.v[i].size;
	if (r->dry_run) {
		r->files_total = ks.n;
		goto out;
	}
	if (mkdir(dst, 0755) < 0 && errno != EEXIST) {
		store_problem(r, dst, NULL, FERRY_E_IO, "cannot create destination: %s", strerror(errno));
		err = FERRY_E_IO;
		goto out;
	}
	if ((root = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		store_problem(r, dst, NULL, FERRY_E_IO, "cannot open destination: %s", strerror(errno));
		err = FERRY_E_IO;
		goto out;
	}
	j = journal_open_down(b, url, dst, r);
	for (int i = 0; i < DOWN_FILES; i++) {
		d[i].j = j;
		d[i].fd = d[i].pfd = -1;
		d[i].fh = ferry_filehash_create();
		d[i].md5 = EVP_MD_CTX_new();
		d[i].buf = malloc(DOWN_BUF);
		if (!d[i].fh || !d[i].md5 || !d[i].buf) {
			err = FERRY_E_NOMEM;
			goto out;
		}
	}
	for (;;) {
		int busy = 0;
		for (int i = 0; i < DOWN_FILES; i++) {
			while (!d[i].busy && next < ks.n) {
				struct key *k = &ks.v[next++];
				size_t kl = strlen(k->key);
				if (kl && k->key[kl - 1] == '/' && k->size == 0)
					continue; /* a "directory" marker some tools write */
				r->files_total++;
				if (!safe_key(k->key)) {
					store_problem(r, k->key, NULL, FERRY_E_INVAL,
						      "unsafe key (absolute, or an empty, \".\" or \"..\" segment): skipped");
					continue;
				}
				const struct ferry_entry *je = journal_done(j, k->key);
				struct stat st;
				if (je && je->size == k->size && fstatat(root, k->key, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISREG(st.st_mode) && (uint64_t)st.st_size == k->size &&
				    st.st_mtim.tv_sec == je->mtime_sec && (uint32_t)st.st_mtim.tv_nsec == je->mtime_nsec) {
					r->files_resumed++; /* fetched by an interrupted copy */
					continue;
				}
				df_start(b, root, &d[i], k, r);
			}
			if (d[i].busy && d[i].iw.done)
				df_step(b, &d[i], r);
			busy |= d[i].busy;
		}
		if (!busy && next >= ks.n)
			break;
		int ready = 0;
		for (int i = 0; i < DOWN_FILES; i++)
			ready |= d[i].busy && d[i].iw.done;
		journal_flush(j);
		if (!ready && ferry_loop_run(loop, 1) < 0)
			break;
		if (r->progress)
			r->progress(r->progress_arg, r);
	}
out:
	for (int i = 0; i < DOWN_FILES; i++) {
		if (d[i].busy) {
			while (!d[i].iw.done && ferry_loop_run(loop, 1) >= 0)
				;
			df_close(b, &d[i]);
		}
		ferry_filehash_destroy(d[i].fh);
		EVP_MD_CTX_free(d[i].md5);
		free(d[i].buf);
	}
	for (size_t i = 0; i < ks.n; i++)
		free(ks.v[i].key);
	free(ks.v);
	journal_close(j, !err && !r->errors);
	if (root >= 0)
		close(root);
	ferry_backend_close(b);
	if (loop)
		ferry_loop_destroy(loop);
	return err ? err : r->errors ? FERRY_E_IO : FERRY_OK;
}

void store_copy_up_file(struct ferry_backend *b, struct ferry_loop *loop, int root, const struct ferry_scan_item *it,
			uint8_t *buf, struct ferry_filehash *fh, struct ferry_run *r)
{
	up_file(b, loop, root, it, buf, fh, NULL, r); /* routes keep no journal yet */
}

int store_copy_object_store(const char *src, const char *dst, struct ferry_run *r)
{
	int up = strncmp(dst, "s3://", 5) == 0, down = strncmp(src, "s3://", 5) == 0;

	if (up && down) {
		store_problem(r, src, NULL, FERRY_E_INVAL, "copy between two object stores is not supported yet");
		return FERRY_E_INVAL;
	}
	return up ? copy_up(src, dst, r) : copy_down(src, dst, r);
}
