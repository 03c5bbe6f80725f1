/*
 * copy to and from an object store: plain objects, one per file, readable by any S3
 * tool (the AWS CLI, rclone). Keys are the files' paths under the URL's prefix.
 *
 * Up: each file's xxh128 goes into the object's user metadata (x-amz-meta-ferry-xxh128)
 * with its mtime and mode; the server checks every part (the signed SHA-256, or a
 * Content-MD5). A file of more than one piece (UP_PIECE) is handed to the backend
 * whole (wfile): read once for our xxh128 and the parts' checksums, then read again by
 * the backend as it sends, which the server checks against those checksums, so a file
 * that changes meanwhile is reported, not stored torn. Smaller files, and every file
 * under a rate limit or without wfile, are read in pieces straight into the backend's
 * part buffers (wbuf); a file of more than one piece is then hashed before it is sent
 * and again while it is sent. Objects commit in the background; the run ends with the
 * backend's sync(), which reports any that failed.
 *
 * Down: the prefix is listed, each object is fetched by ranged GETs (DOWN_FILES files
 * at a time, up to DOWN_PER_FILE ranges of one file in flight, written in order)
 * into a temporary file beside its final name, checked (our xxh128 if the object has it;
 * else the MD5 the backend vouches for, if any), given its mode and mtime, and renamed
 * into place. The size comes from the listing and the metadata with the first range: no
 * HEAD per object, unless a resume record needs the ETag first. Keys that are absolute,
 * contain "." or ".." segments, or would resolve through a symlink are refused.
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

#include "pipeline.h"
#include "ferry/backend.h"
#include "ferry/copy.h"
#include "ferry/unattended.h"
#include "localfs.h"
#include "transfer_int.h"

#define UP_BUF (8u << 20)   /* the caller's buffer; files larger than this are multipart uploads */
#define UP_PIECE (2u << 20) /* bytes read at a time; a larger file is hashed before it is sent */
#define DOWN_BUF (8u << 20) /* one ranged GET */
#define DOWN_FILES 16       /* objects fetched at a time */
#define DOWN_BUFS 24        /* ranges in flight or waiting to be checksummed in order: 192 MiB at most */
#define DOWN_PER_FILE 8     /* ranges of one object in flight */
/* pwrite()s of at most this: on the bench machine (Linux 6.x, ext4, a VM) one 8 MiB
 * write into fresh page cache costs ~6x the system time of eight 1 MiB ones (bench/RESULTS.md) */
#define DOWN_WRITE (1u << 20)

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
	err = ferry_backend_open(b, url, r->backend_opts, *loop, msg, sizeof(msg));
	if (err) {
		store_problem(r, url, NULL, err, "%s", msg);
		ferry_loop_destroy(*loop);
		*loop = NULL;
	}
	return err;
}

/* ---------------------------------------------------------------- up */

/* The object's user metadata: the file's xxh128 (hex), mtime and mode. */
static int set_meta(struct ferry_backend *b, struct ferry_wobj *w, const struct ferry_scan_item *it, const char *xxh)
{
	char val[64];
	int e;

	if (!b->ops->wmeta)
		return 0;
	snprintf(val, sizeof(val), "%lld.%09u", (long long)it->mtime_sec, it->mtime_nsec);
	if ((e = b->ops->wmeta(b, w, "ferry-xxh128", xxh)) || (e = b->ops->wmeta(b, w, "mtime", val)))
		return e;
	snprintf(val, sizeof(val), "%o", it->mode & 07777);
	return b->ops->wmeta(b, w, "mode", val);
}

static void hash_piece(void *fh, const void *buf, size_t n)
{
	ferry_filehash_update(fh, buf, n);
}

static void up_file(struct ferry_backend *b, struct ferry_loop *loop, int root, const struct ferry_scan_item *it,
		    uint8_t *buf, struct ferry_filehash *fh, struct journal *j, struct ferry_run *r)
{
	struct ferry_wobj *w = NULL;
	char want[33], got[33];
	struct stat st;
	int fd = openat(root, it->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int e = 0;
	const char *what = "reading";
	/* a file of more than one piece goes through wfile when the backend has it: read and
	 * hashed once, then read again by the backend as it sends (no pre-pass of our own, no
	 * copy into part buffers). Not under a rate limit, which paces our writes. */
	int from_file = b->ops->wfile && !r->rate && it->size > UP_PIECE;

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
	if (it->size > UP_PIECE && !from_file) { /* the hash goes in the metadata, which goes first */
		if ((e = localfs_hash_fd(fd, it->size, buf, UP_PIECE, fh)))
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
	if (from_file) {
		what = "reading";
		if ((e = b->ops->wfile(b, w, fd, it->size, hash_piece, fh)))
			goto out;
		r->bytes_read += it->size;
		hex128(ferry_filehash_digest(fh), want);
		what = "setting metadata of";
		if (!resumed && (e = set_meta(b, w, it, want)))
			goto out;
		goto commit; /* the server checks the parts against this read's checksums */
	}
	for (uint64_t off = 0; off < it->size || (off == 0 && it->size == 0);) {
		size_t n = it->size - off < UP_PIECE ? (size_t)(it->size - off) : UP_PIECE;
		uint8_t *at = buf;
		if (n && b->ops->wbuf) {
			/* read straight into the backend's part buffer: no copy of the payload. The
			 * first piece of a file not hashed yet must be all of it (its hash is the
			 * metadata, which goes first), else it goes through buf. */
			void *room;
			size_t len;
			if ((e = b->ops->wbuf(b, w, &room, &len)))
				goto out;
			if (len >= n || want[0]) {
				at = room;
				n = len < n ? len : n;
			}
		}
		what = "reading";
		if (n && (e = localfs_read_full(fd, at, n, off)))
			goto out;
		ferry_filehash_update(fh, at, n);
		r->bytes_read += n;
		if (off == 0 && !resumed) {
			if (!want[0])
				hex128(ferry_filehash_digest(fh), want);
			what = "setting metadata of";
			if ((e = set_meta(b, w, it, want)))
				goto out;
		}
		if (n) {
			struct iowait iw = { .io = { .done = iowait_done, .buf = at, .len = n, .off = off, .buf_index = -1 } };
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
commit:
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
			      store_berr(b, e));
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
		store_problem(r, url, NULL, ferry_backend_err(err), "%s", store_berr(b, err));
		err = FERRY_E_IO;
	}
	if (symlinks && r->verbose)
		fprintf(stderr, "ferry: copy: %llu symlinks not copied (object stores have none)\n",
			(unsigned long long)symlinks);
out:
	if (sc)
		ferry_scan_stop(sc);
	journal_close(j, !err && !r->errors);
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

/*
 * A file being fetched. Its ranges go out up to DOWN_PER_FILE at a time, each into a
 * slot's buffer; they are written and checksummed in order (hashed: the cursor), so a
 * range that lands early keeps its slot until the ranges before it are in. Without a resume record the object is opened without a
 * HEAD (size from the listing); its first range, alone, brings the ETag and metadata,
 * and only then is the temporary file made.
 */
struct dfile {
	struct key *k;
	struct ferry_robj *ro;
	uint64_t size;
	uint64_t next;   /* the next range to ask for */
	uint64_t hashed; /* bytes checksummed, in order */
	uint64_t kept;   /* bytes an interrupted copy had fetched (df_resume) */
	unsigned inflight; /* slots held: asked for, or landed and waiting for the cursor */
	int opened;        /* metadata known, temporary file open */
	int failed;        /* reported; closed when its last slot comes back */
	int pfd, fd;
	const char *base;
	char tmp[64];
	char want_xxh[40], etag[80];
	uint8_t want_md5[16]; /* the backend's content_md5, when have_md5 */
	int have_md5;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int have_mtime;
	unsigned mode;
	struct ferry_filehash *fh;
	EVP_MD_CTX *md5;
	int busy;
	struct journal *j; /* the copy's resume journal, or NULL */
};

/* a slot's range: asked for; landed (not yet written); written, waiting for the cursor */
enum { SLOT_FREE, SLOT_ASKED, SLOT_LANDED, SLOT_HELD };

struct dslot {
	struct ferry_io io;
	struct dfile *d;
	uint8_t *buf; /* DOWN_BUF bytes, allocated on first use */
	int state;
};

static void slot_landed(struct ferry_io *io)
{
	((struct dslot *)io->user)->state = SLOT_LANDED;
}

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

/* Reports once; the file is closed when no read of it is in flight any more. */
static void df_fail(struct ferry_backend *b, struct dfile *d, struct ferry_run *r, int err, const char *what,
		    const char *detail)
{
	if (!d->failed) {
		if (detail)
			store_problem(r, d->k->key, NULL, err, "%s: %s", what, detail);
		else
			store_problem(r, d->k->key, NULL, err, "%s", what);
	}
	d->failed = 1;
	if (!d->inflight)
		df_close(b, d);
}

static void df_finish(struct ferry_backend *b, struct dfile *d, struct ferry_run *r)
{
	char got[33];

	hex128(ferry_filehash_digest(d->fh), got);
	if (d->want_xxh[0] && strcmp(got, d->want_xxh) != 0) {
		df_fail(b, d, r, FERRY_E_CHECKSUM, "xxh128 differs from the object's ferry-xxh128: not written", NULL);
		return;
	}
	if (!d->want_xxh[0] && d->have_md5) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int ml = 0;
		EVP_DigestFinal_ex(d->md5, md, &ml);
		if (ml != sizeof(d->want_md5) || memcmp(md, d->want_md5, sizeof(d->want_md5)) != 0) {
			df_fail(b, d, r, FERRY_E_CHECKSUM, "MD5 differs from the server's MD5 of the object: not written", NULL);
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
	uint8_t *buf;
	int fd;

	if (!u)
		return 0;
	u->used = 1;
	size_t kl = strlen(u->key);
	if (kl >= sizeof(d->tmp) || strncmp(u->key, ".ferry-tmp-", 11) || strchr(u->key, '/'))
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
	buf = keep ? malloc(DOWN_BUF) : NULL;
	if (!buf)
		keep = 0;
	for (uint64_t off = 0; off < keep;) {
		size_t n = keep - off < DOWN_BUF ? (size_t)(keep - off) : DOWN_BUF;
		ssize_t got = pread(fd, buf, n, (off_t)off);
		if (got <= 0) {
			keep = 0;
			break;
		}
		ferry_filehash_update(d->fh, buf, (size_t)got);
		EVP_DigestUpdate(d->md5, buf, (size_t)got);
		off += (uint64_t)got;
	}
	free(buf);
	if (!keep || ftruncate(fd, (off_t)keep) < 0) {
		close(fd);
		unlinkat(d->pfd, u->key, 0);
		ferry_filehash_reset(d->fh);
		EVP_DigestInit_ex(d->md5, EVP_md5(), NULL);
		return 0;
	}
	memcpy(d->tmp, u->key, kl + 1); /* kl < sizeof(d->tmp): checked above */
	d->fd = fd;
	d->next = d->hashed = d->kept = keep;
	r->bytes_resumed += keep;
	r->files_resumed++;
	return 1;
}

/* The object's metadata is known (HEAD, or its first range): read it, then resume the
 * temporary file an interrupted copy left, or make one. 0 when open. */
static int df_open(struct ferry_backend *b, struct dfile *d, struct ferry_run *r)
{
	char val[64];

	d->want_xxh[0] = d->etag[0] = 0;
	d->have_mtime = d->have_md5 = 0;
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
	if (b->ops->content_md5 && !b->ops->content_md5(b, d->ro, d->want_md5))
		d->have_md5 = 1;
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
			journal_partial(d->j, d->k->key, d->tmp, d->etag, d->size, d->mtime_sec, d->mtime_nsec);
	}
	d->opened = 1;
	return 0;
}

/* Opens the object (and, knowing its metadata, the temporary file). 0 when started. */
static int df_start(struct ferry_backend *b, int root, struct dfile *d, struct key *k, struct ferry_run *r)
{
	int e;

	d->k = k;
	d->ro = NULL;
	d->fd = d->pfd = -1;
	d->tmp[0] = 0;
	d->next = d->hashed = d->kept = 0;
	d->inflight = 0;
	d->opened = d->failed = 0;
	d->pfd = localfs_open_parent(root, k->key, 0755, &d->base);
	if (d->pfd < 0) {
		store_problem(r, k->key, NULL, FERRY_E_IO, "cannot create its directory: %s", strerror(errno));
		return -1;
	}
	ferry_filehash_reset(d->fh);
	EVP_DigestInit_ex(d->md5, EVP_md5(), NULL);
	/* a resume record needs the ETag before the first byte: ask the server first */
	int head = !b->ops->ropen_known || journal_upload(d->j, k->key);
	if (head)
		e = b->ops->ropen(b, k->key, &d->ro, &d->size);
	else if (!(e = b->ops->ropen_known(b, k->key, k->size, &d->ro)))
		d->size = k->size;
	if (e) {
		d->ro = NULL;
		store_problem(r, k->key, NULL, e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO, "%s", store_berr(b, e));
		close(d->pfd);
		d->pfd = -1;
		return -1;
	}
	d->busy = 1;
	if (head && df_open(b, d, r))
		return -1;
	if (d->opened && d->hashed == d->size)
		df_finish(b, d, r);
	return 0;
}

/* Writes one range at its offset, in pieces of DOWN_WRITE. 0 or -errno. */
static int write_range(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
	for (size_t done = 0; done < n;) {
		size_t piece = n - done < DOWN_WRITE ? n - done : DOWN_WRITE;
		ssize_t w = pwrite(fd, buf + done, piece, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

/*
 * A range landed. It is written and checksummed when the ranges before it are: the
 * temporary file then always holds a prefix of the object without holes, which is what a
 * rerun's df_resume keeps (its size is all it knows).
 */
static void df_landed(struct ferry_backend *b, struct dslot *sl, struct dslot *slots, struct ferry_run *r)
{
	struct dfile *d = sl->d;
	int res = sl->io.res;

	sl->state = SLOT_HELD;
	if (!d->failed && res < 0)
		df_fail(b, d, r, res <= -4096 ? ferry_backend_err(res) : FERRY_E_IO, "reading", store_berr(b, res));
	if (!d->failed && !d->opened)
		df_open(b, d, r); /* the first range: the metadata came with it */
	if (!d->failed) {
		r->bytes_read += sl->io.len;
		ferry_rate_take(r->rate, sl->io.len); /* --bwlimit */
	}
	for (int more = !d->failed; more;) {
		more = 0;
		for (int i = 0; i < DOWN_BUFS && !d->failed; i++) {
			struct dslot *s = &slots[i];
			if (s->d != d || s->state != SLOT_HELD || s->io.off != d->hashed)
				continue;
			int e = write_range(d->fd, s->buf, s->io.len, s->io.off);
			if (e) {
				df_fail(b, d, r, FERRY_E_IO, "cannot write", strerror(-e));
				break;
			}
			ferry_filehash_update(d->fh, s->buf, s->io.len);
			if (!d->want_xxh[0]) /* the server's MD5 is the check only when our hash is absent */
				EVP_DigestUpdate(d->md5, s->buf, s->io.len);
			d->hashed += s->io.len;
			s->state = SLOT_FREE;
			d->inflight--;
			more = 1;
		}
	}
	if (d->failed) { /* its ranges that wait for the cursor are of no use now */
		for (int i = 0; i < DOWN_BUFS; i++)
			if (slots[i].d == d && slots[i].state == SLOT_HELD) {
				slots[i].state = SLOT_FREE;
				d->inflight--;
			}
		if (!d->inflight && d->busy)
			df_close(b, d);
		return;
	}
	if (d->hashed == d->size)
		df_finish(b, d, r);
}

/* Asks for d's next range into a free slot; 0 when there is none to ask for or no slot. */
static int df_ask(struct ferry_backend *b, struct dfile *d, struct dslot *slots)
{
	struct dslot *sl = NULL;

	if (!d->busy || d->failed || (d->next >= d->size && (d->opened || d->inflight)))
		return 0;
	if (!d->opened && d->inflight) /* the first range is out: the rest waits for its metadata */
		return 0;
	for (int i = 0; i < DOWN_BUFS && !sl; i++)
		if (slots[i].state == SLOT_FREE)
			sl = &slots[i];
	if (!sl || (!sl->buf && !(sl->buf = malloc(DOWN_BUF))))
		return 0;
	size_t n = d->size - d->next < DOWN_BUF ? (size_t)(d->size - d->next) : DOWN_BUF;
	memset(&sl->io, 0, sizeof(sl->io));
	sl->io.done = slot_landed;
	sl->io.user = sl;
	sl->io.buf = sl->buf;
	sl->io.len = n;
	sl->io.off = d->next;
	sl->io.buf_index = -1;
	sl->d = d;
	sl->state = SLOT_ASKED;
	d->next += n;
	d->inflight++;
	b->ops->read(b, d->ro, &sl->io);
	return 1;
}

static int copy_down(const char *url, const char *dst, struct ferry_run *r)
{
	struct ferry_loop *loop = NULL;
	struct ferry_backend *b = NULL;
	struct keys ks = { 0 };
	struct journal *j = NULL;
	struct dfile d[DOWN_FILES];
	struct dslot slots[DOWN_BUFS];
	size_t next = 0;
	int root = -1, err;

	memset(d, 0, sizeof(d));
	memset(slots, 0, sizeof(slots));
	if ((err = open_backend(url, &loop, &b, r)))
		return err;
	if ((err = b->ops->list(b, "", add_key, &ks))) {
		store_problem(r, url, NULL, ferry_backend_err(err), "cannot list: %s", store_berr(b, err));
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
		if (!d[i].fh || !d[i].md5) {
			err = FERRY_E_NOMEM;
			goto out;
		}
	}
	for (;;) {
		int busy = 0, asked;
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
		}
		/* every file's first range before any file's second: small files are not starved */
		for (int i = 0; i < DOWN_FILES; i++)
			if (!d[i].inflight)
				df_ask(b, &d[i], slots);
		do {
			asked = 0;
			for (int i = 0; i < DOWN_FILES; i++)
				if (d[i].inflight < DOWN_PER_FILE)
					asked |= df_ask(b, &d[i], slots);
		} while (asked);
		for (int i = 0; i < DOWN_FILES; i++)
			busy |= d[i].busy;
		if (!busy && next >= ks.n)
			break;
		journal_flush(j);
		if (ferry_loop_run(loop, 1) < 0)
			break;
		for (int i = 0; i < DOWN_BUFS; i++)
			if (slots[i].state == SLOT_LANDED)
				df_landed(b, &slots[i], slots, r);
		if (r->progress)
			r->progress(r->progress_arg, r);
	}
out:
	for (int i = 0; i < DOWN_FILES; i++) {
		for (;;) { /* no read may be in flight into a slot's buffer when it is freed */
			for (int s = 0; s < DOWN_BUFS; s++)
				if (slots[s].d == &d[i] && (slots[s].state == SLOT_LANDED || slots[s].state == SLOT_HELD)) {
					slots[s].state = SLOT_FREE;
					d[i].inflight--;
				}
			if (!d[i].inflight || ferry_loop_run(loop, 1) < 0)
				break;
		}
		if (d[i].busy)
			df_close(b, &d[i]);
		ferry_filehash_destroy(d[i].fh);
		EVP_MD_CTX_free(d[i].md5);
	}
	for (int i = 0; i < DOWN_BUFS; i++)
		free(slots[i].buf);
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
	int up = (ferry_location_caps(dst) & FERRY_CAP_OBJECT_STORE) != 0;
	int down = (ferry_location_caps(src) & FERRY_CAP_OBJECT_STORE) != 0;

	if (up && down) {
		store_problem(r, src, NULL, FERRY_E_INVAL, "copy between two object stores is not supported yet");
		return FERRY_E_INVAL;
	}
	return up ? copy_up(src, dst, r) : copy_down(src, dst, r);
}
