/*
 * Local stores, synchronous first cut: init/open, push a tree into a snapshot,
 * pull it back safely, verify, list. Objects and manifests use the codec layer;
 * files are written to temporary names and renamed only when complete.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
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

#include "ferry/codec.h"
#include "ferry/manifest.h"
#include "ferry/store.h"

#define MANIFEST_MAX_BYTES (1ull << 32) /* a manifest object larger than this is refused */

struct ferry_store {
	char *path;
	int dirfd;
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	struct ferry_codec *codec;
	uint8_t *plain;  /* one chunk of plaintext */
	uint8_t *frame;  /* one encoded frame */
	size_t frame_cap;
};

static void setmsg(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setmsg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

static void problem(struct ferry_run *r, const char *what, const char *chunk, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void problem(struct ferry_run *r, const char *what, const char *chunk, int err, const char *fmt, ...)
{
	char detail[512] = "";
	va_list ap;

	r->errors++;
	switch (err) {
	case FERRY_E_CHECKSUM: case FERRY_E_AUTH: case FERRY_E_ORDER: case FERRY_E_FOREIGN:
	case FERRY_E_TRUNCATED: case FERRY_E_FORMAT: case FERRY_E_VERSION: case FERRY_E_NOTFOUND:
		r->integrity_errors++;
		break;
	default:
		break;
	}
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	if (r->problem)
		r->problem(r->problem_arg, what, chunk, err, detail[0] ? detail : ferry_strerror(err));
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* data/ab/abcdef…: the object's store-relative path */
static void object_path(const uint8_t id[FERRY_ID_LEN], char out[64])
{
	char h[2 * FERRY_ID_LEN + 1];

	hex(id, FERRY_ID_LEN, h);
	snprintf(out, 64, "data/%.2s/%s", h, h);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		got += (size_t)n;
	}
	return 0;
}

/* Writes buf to dirfd/name atomically: temp file, fsync, rename, fsync of the directory. */
static int write_atomic(int dirfd, const char *dir, const char *name, const void *buf, size_t len)
{
	char tmp[128];
	uint8_t rnd[6];
	char rh[13];
	int fd, dfd, e;

	if (ferry_random(rnd, sizeof(rnd)))
		return -EIO;
	hex(rnd, sizeof(rnd), rh);
	dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	snprintf(tmp, sizeof(tmp), ".tmp-%s", rh);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = -errno;
		close(dfd);
		return e;
	}
	e = write_all(fd, buf, len);
	if (!e && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && !e)
		e = -errno;
	if (!e && renameat(dfd, tmp, dfd, name) < 0)
		e = -errno;
	if (e)
		unlinkat(dfd, tmp, 0);
	else
		fsync(dfd);
	close(dfd);
	return e;
}

/* ---------------------------------------------------------------- init/open */

int ferry_store_init(const char *path, const struct ferry_init_opts *o, const struct ferry_secret *secret,
		     char *msg, size_t msglen)
{
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	uint8_t buf[FERRY_CONFIG_LEN];
	uint32_t chunk = o && o->chunk_size ? o->chunk_size : FERRY_CHUNK_DEFAULT;
	int level = o && o->level >= 0 ? o->level : FERRY_LEVEL_DEFAULT;
	int dfd, err, e;
	DIR *d;
	struct dirent *de;

	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		setmsg(msg, msglen, "%s: cannot create: %s", path, strerror(errno));
		return FERRY_E_IO;
	}
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		setmsg(msg, msglen, "%s: %s", path, errno == ENOTDIR ? "exists and is not a directory" : strerror(errno));
		return FERRY_E_IO;
	}
	if (faccessat(dfd, "config", F_OK, 0) == 0) {
		close(dfd);
		setmsg(msg, msglen, "%s: already a ferry store", path);
		return FERRY_E_EXISTS;
	}
	d = fdopendir(dup(dfd));
	if (!d) {
		close(dfd);
		setmsg(msg, msglen, "%s: %s", path, strerror(errno));
		return FERRY_E_IO;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			close(dfd);
			setmsg(msg, msglen, "%s: directory is not empty and is not a ferry store", path);
			return FERRY_E_EXISTS;
		}
	}
	closedir(d);

	err = ferry_config_create(&cfg, chunk, level, secret, o ? o->log2n : 0, &keys);
	ferry_keys_wipe(&keys);
	if (err) {
		close(dfd);
		setmsg(msg, msglen, "%s: cannot create store config: %s", path, ferry_strerror(err));
		return err;
	}
	ferry_config_encode(&cfg, buf);
	/* the config is written last: a directory without it is not yet a store */
	if ((mkdirat(dfd, "data", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(dfd, "snapshots", 0755) < 0 && errno != EEXIST)) {
		setmsg(msg, msglen, "%s: %s", path, strerror(errno));
		close(dfd);
		return FERRY_E_IO;
	}
	e = write_atomic(dfd, ".", "config", buf, sizeof(buf));
	close(dfd);
	if (e) {
		setmsg(msg, msglen, "%s/config: cannot write: %s", path, strerror(-e));
		return FERRY_E_IO;
	}
	return FERRY_OK;
}

int ferry_store_open(struct ferry_store **out, const char *path, const struct ferry_secret *secret, char *msg,
		     size_t msglen)
{
	struct ferry_store *s;
	uint8_t buf[FERRY_CONFIG_LEN + 1];
	ssize_t n;
	int fd, err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return FERRY_E_NOMEM;
	s->dirfd = -1;
	s->path = strdup(path);
	if (!s->path) {
		err = FERRY_E_NOMEM;
		goto fail;
	}
	s->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		setmsg(msg, msglen, "%s: cannot open store: %s", path, strerror(errno));
		err = errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO;
		goto fail;
	}
	fd = openat(s->dirfd, "config", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		setmsg(msg, msglen, "%s: not a ferry store (no config: %s)", path, strerror(errno));
		err = FERRY_E_NOTFOUND;
		goto fail;
	}
	n = read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		setmsg(msg, msglen, "%s/config: %s", path, strerror((int)-n));
		err = FERRY_E_IO;
		goto fail;
	}
	err = ferry_config_decode(buf, (size_t)n, &s->cfg);
	if (err) {
		setmsg(msg, msglen, "%s/config: %s", path, ferry_strerror(err));
		goto fail;
	}
	if ((s->cfg.flags & FERRY_CFG_ENCRYPTED) && !secret) {
		setmsg(msg, msglen, "%s: store is encrypted: give FERRY_PASSPHRASE, --passphrase-file or --key-file",
		       path);
		err = FERRY_E_KEY;
		goto fail;
	}
	err = ferry_config_unlock(&s->cfg, secret, &s->keys);
	if (err == FERRY_E_INVAL) {
		setmsg(msg, msglen, "%s: store is unlocked with a %s, not a %s", path,
		       s->cfg.kdf == FERRY_KDF_SCRYPT ? "passphrase" : "key file",
		       s->cfg.kdf == FERRY_KDF_SCRYPT ? "key file" : "passphrase");
		err = FERRY_E_KEY;
		goto fail;
	}
	if (err) {
		setmsg(msg, msglen, "%s: %s", path, ferry_strerror(err));
		goto fail;
	}
	err = ferry_codec_create(&s->codec, &s->keys, s->cfg.level, s->cfg.chunk_size);
	if (err)
		goto fail;
	s->frame_cap = ferry_frame_bound(s->cfg.chunk_size);
	s->plain = malloc(s->cfg.chunk_size);
	s->frame = malloc(s->frame_cap);
	if (!s->plain || !s->frame) {
		err = FERRY_E_NOMEM;
		goto fail;
	}
	*out = s;
	return FERRY_OK;
fail:
	if (err == FERRY_E_NOMEM)
		setmsg(msg, msglen, "%s: out of memory", path);
	ferry_store_close(s);
	return err;
}

void ferry_store_close(struct ferry_store *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	ferry_codec_destroy(s->codec);
	ferry_keys_wipe(&s->keys);
	if (s->plain) {
		OPENSSL_cleanse(s->plain, s->cfg.chunk_size);
		free(s->plain);
	}
	free(s->frame);
	free(s->path);
	free(s);
}

int ferry_store_encrypted(const struct ferry_store *s)
{
	return s->keys.encrypted;
}

/* ---------------------------------------------------------------- push */

struct dynbuf {
	uint8_t *p;
	size_t len, cap;
};

static int dyn_append(struct dynbuf *b, const void *src, size_t n, size_t limit)
{
	if (b->len + n > limit)
		return FERRY_E_TOOBIG;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + n)
			ncap *= 2;
		uint8_t *np = realloc(b->p, ncap);
		if (!np)
			return FERRY_E_NOMEM;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
	return FERRY_OK;
}

/* Stores one regular file as an object of its own. Returns 0, or a ferry error already reported. */
static int push_file(struct ferry_store *s, int parent, const char *name, const char *rel, struct ferry_entry *e,
		     struct ferry_run *r)
{
	struct ferry_object_hdr h;
	struct ferry_filehash *fh = NULL;
	struct dynbuf index = { 0 };
	struct stat st0, st1;
	char opath[64], tmpname[96];
	uint8_t hdrbuf[FERRY_OBJ_HDR_LEN];
	uint64_t pos = FERRY_OBJ_HDR_LEN, left;
	uint32_t nchunks, i;
	int fd, ofd = -1, datafd = -1, err = FERRY_OK, e2;

	fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st0) < 0) {
		problem(r, rel, NULL, FERRY_E_IO, "cannot read: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return FERRY_E_IO;
	}
	e->size = (uint64_t)st0.st_size;
	if (st0.st_size == 0) {
		struct ferry_hash128 z = ferry_hash128("", 0);
		ferry_hash128_encode(z, e->hash);
		close(fd);
		r->files_transferred++;
		return FERRY_OK;
	}
	if ((e->size + s->cfg.chunk_size - 1) / s->cfg.chunk_size > FERRY_OBJ_MAX_CHUNKS) {
		close(fd);
		problem(r, rel, NULL, FERRY_E_TOOBIG, "file too large for chunk size %u", s->cfg.chunk_size);
		return FERRY_E_TOOBIG;
	}
	nchunks = (uint32_t)((e->size + s->cfg.chunk_size - 1) / s->cfg.chunk_size);
	if (r->dry_run) {
		close(fd);
		r->files_transferred++;
		return FERRY_OK;
	}
	fh = ferry_filehash_create();
	if (!fh || ferry_object_new(&h, s->keys.encrypted)) {
		err = FERRY_E_NOMEM;
		problem(r, rel, NULL, err, NULL);
		goto out;
	}
	object_path(h.object_id, opath);
	snprintf(tmpname, sizeof(tmpname), "%s.tmp", opath);
	{
		char sub[16];
		memcpy(sub, opath, 7);
		sub[7] = 0; /* "data/ab" */
		if (mkdirat(s->dirfd, sub, 0755) < 0 && errno != EEXIST) {
			err = FERRY_E_IO;
			problem(r, s->path, NULL, err, "cannot create %s: %s", sub, strerror(errno));
			goto out;
		}
	}
	ofd = openat(s->dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (ofd < 0) {
		err = FERRY_E_IO;
		problem(r, rel, NULL, err, "cannot create object %s: %s", opath, strerror(errno));
		goto out;
	}
	ferry_object_hdr_encode(&h, hdrbuf);
	if ((e2 = write_all(ofd, hdrbuf, sizeof(hdrbuf))) < 0)
		goto werr;
	left = e->size;
	for (i = 0; i < nchunks; i++) {
		size_t want = left < s->cfg.chunk_size ? (size_t)left : s->cfg.chunk_size, flen;
		ssize_t got = read_full(fd, s->plain, want);
		struct ferry_index_entry ie;
		uint8_t ib[FERRY_INDEX_ENTRY_LEN];

		if (got < 0) {
			err = FERRY_E_IO;
			problem(r, rel, NULL, err, "read failed: %s", strerror((int)-got));
			goto out;
		}
		if ((size_t)got != want) {
			err = FERRY_E_IO;
			problem(r, rel, NULL, err, "file changed while being read (shrank); not stored");
			goto out;
		}
		r->bytes_read += (uint64_t)got;
		err = ferry_frame_encode(s->codec, &h, i, i + 1 == nchunks, s->plain, want, s->frame, s->frame_cap,
					 &flen, fh);
		if (err) {
			problem(r, rel, NULL, err, "encoding chunk %u: %s", i, ferry_strerror(err));
			goto out;
		}
		if ((e2 = write_all(ofd, s->frame, flen)) < 0)
			goto werr;
		ie.offset = pos;
		ie.frame_len = (uint32_t)flen;
		ie.plain_len = (uint32_t)want;
		ferry_index_entry_encode(&ie, ib);
		if ((err = dyn_append(&index, ib, sizeof(ib), SIZE_MAX))) {
			problem(r, rel, NULL, err, NULL);
			goto out;
		}
		pos += flen;
		left -= want;
	}
	/* a file that grew, or was rewritten in place, while we read it would be stored torn */
	{
		uint8_t extra;
		ssize_t more = read(fd, &extra, 1);
		if (fstat(fd, &st1) < 0 || more != 0 || st1.st_size != st0.st_size ||
		    st1.st_mtim.tv_sec != st0.st_mtim.tv_sec || st1.st_mtim.tv_nsec != st0.st_mtim.tv_nsec) {
			err = FERRY_E_IO;
			problem(r, rel, NULL, err, "file changed while being read; not stored");
			goto out;
		}
	}
	{
		struct ferry_object_footer f = {
			.index_offset = pos,
			.chunk_count = nchunks,
			.plain_total = e->size,
			.index_hash = ferry_index_hash(hdrbuf, index.p, index.len),
		};
		uint8_t fb[FERRY_OBJ_FOOTER_LEN];

		ferry_object_footer_encode(&f, fb);
		if ((e2 = write_all(ofd, index.p, index.len)) < 0 || (e2 = write_all(ofd, fb, sizeof(fb))) < 0)
			goto werr;
		pos += index.len + sizeof(fb);
	}
	if (fsync(ofd) < 0 || close(ofd) < 0) {
		e2 = -errno;
		ofd = -1;
		goto werr;
	}
	ofd = -1;
	if (renameat(s->dirfd, tmpname, s->dirfd, opath) < 0) {
		e2 = -errno;
		goto werr;
	}
	tmpname[0] = 0;
	ferry_hash128_encode(ferry_filehash_digest(fh), e->hash);
	memcpy(e->object_id, h.object_id, FERRY_ID_LEN);
	e->first_chunk = 0;
	e->chunk_count = nchunks;
	e->object_size = pos;
	r->bytes_written += pos;
	r->files_transferred++;
	goto out;
werr:
	err = FERRY_E_IO;
	problem(r, rel, NULL, err, "writing object %s: %s", opath, strerror(-e2));
out:
	if (ofd >= 0)
		close(ofd);
	if (err && tmpname[0] && datafd < 0)
		unlinkat(s->dirfd, tmpname, 0);
	close(fd);
	ferry_filehash_destroy(fh);
	free(index.p);
	return err;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dfd (rel is its path inside the source, "" for the root), adding entries in sorted order. */
static int walk(struct ferry_store *s, int dfd, const char *rel, struct ferry_manifest *m, struct ferry_run *r,
		int depth)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int err = FERRY_OK;

	if (depth > 256) {
		problem(r, rel, NULL, FERRY_E_TOOBIG, "directory nesting deeper than 256; skipped");
		return FERRY_OK;
	}
	d = fdopendir(dfd);
	if (!d) {
		problem(r, rel[0] ? rel : ".", NULL, FERRY_E_IO, "cannot list: %s", strerror(errno));
		close(dfd);
		return FERRY_OK;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				err = FERRY_E_NOMEM;
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			err = FERRY_E_NOMEM;
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && !err; i++) {
		char path[FERRY_PATH_MAX + 2];
		struct ferry_entry e;
		struct stat st;
		int pl = snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);

		if (pl < 0 || pl > FERRY_PATH_MAX) {
			problem(r, names[i], NULL, FERRY_E_TOOBIG, "path longer than %d bytes; skipped", FERRY_PATH_MAX);
			continue;
		}
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			problem(r, path, NULL, FERRY_E_IO, "vanished or unreadable: %s", strerror(errno));
			continue;
		}
		memset(&e, 0, sizeof(e));
		e.path = path;
		e.mode = st.st_mode & 07777;
		e.mtime_sec = st.st_mtim.tv_sec;
		e.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
		if (S_ISREG(st.st_mode)) {
			e.type = FERRY_ENTRY_FILE;
			r->files_total++;
			if (push_file(s, dirfd(d), names[i], path, &e, r))
				continue; /* reported; the run goes on */
			err = ferry_manifest_add(m, &e);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			e.type = FERRY_ENTRY_DIR;
			if (sub < 0) {
				problem(r, path, NULL, FERRY_E_IO, "cannot open directory: %s", strerror(errno));
				continue;
			}
			err = ferry_manifest_add(m, &e);
			if (!err)
				err = walk(s, sub, path, m, r, depth + 1);
		} else if (S_ISLNK(st.st_mode)) {
			char target[FERRY_PATH_MAX + 1];
			ssize_t tl = readlinkat(dirfd(d), names[i], target, sizeof(target));
			if (tl <= 0 || tl > FERRY_PATH_MAX) {
				problem(r, path, NULL, FERRY_E_IO, "cannot read symlink");
				continue;
			}
			target[tl] = 0;
			e.type = FERRY_ENTRY_SYMLINK;
			e.target = target;
			e.mode = 0777;
			err = ferry_manifest_add(m, &e);
		} else if (r->verbose) {
			fprintf(stderr, "ferry: %s: special file skipped\n", path);
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return err;
}

static int make_snapshot_id(char out[64])
{
	uint8_t rnd[4];
	char rh[9];
	struct timespec ts;
	struct tm tm;

	if (ferry_random(rnd, sizeof(rnd)))
		return FERRY_E_CRYPTO;
	hex(rnd, sizeof(rnd), rh);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 64, "%04d%02d%02dT%02d%02d%02dZ-%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, rh);
	return FERRY_OK;
}

int ferry_push(struct ferry_store *s, const char *src, struct ferry_run *r)
{
	struct ferry_manifest m;
	struct ferry_objbuf ob = { 0 };
	uint8_t *plain = NULL;
	size_t plen = 0;
	int sfd, err, e;

	sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) {
		problem(r, src, NULL, FERRY_E_IO, "cannot open source directory: %s", strerror(errno));
		return FERRY_E_IO;
	}
	ferry_manifest_init(&m);
	m.created = (uint64_t)time(NULL);
	err = walk(s, sfd, "", &m, r, 0);
	if (err) {
		problem(r, src, NULL, err, "scan failed: %s", ferry_strerror(err));
		goto out;
	}
	if (r->dry_run)
		goto out;
	err = ferry_manifest_encode(&m, &plain, &plen);
	if (!err)
		err = ferry_object_encode_mem(s->codec, s->keys.encrypted, plain, plen, s->cfg.chunk_size, &ob, NULL);
	if (!err)
		err = make_snapshot_id(r->snapshot);
	if (err) {
		problem(r, s->path, NULL, err, "encoding snapshot manifest: %s", ferry_strerror(err));
		goto out;
	}
	/* the manifest is written last and atomically: only now does the new data become visible */
	e = write_atomic(s->dirfd, "snapshots", r->snapshot, ob.data, ob.len);
	if (e) {
		err = FERRY_E_IO;
		problem(r, s->path, NULL, err, "writing snapshot %s: %s", r->snapshot, strerror(-e));
		r->snapshot[0] = 0;
		goto out;
	}
	r->bytes_written += ob.len;
out:
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	ferry_objbuf_free(&ob);
	ferry_manifest_free(&m);
	return err;
}

/* ---------------------------------------------------------------- snapshots */

struct namelist {
	char **v;
	size_t n;
};

static void namelist_free(struct namelist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int list_snapshots(struct ferry_store *s, struct namelist *l)
{
	int fd = openat(s->dirfd, "snapshots", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	DIR *d;
	struct dirent *de;

	l->v = NULL;
	l->n = 0;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return FERRY_E_IO;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ".tmp-…" is a manifest still being written */
		if (l->n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(l->v, cap * sizeof(*nv));
			if (!nv)
				goto nomem;
			l->v = nv;
		}
		if (!(l->v[l->n] = strdup(de->d_name)))
			goto nomem;
		l->n++;
	}
	closedir(d);
	qsort(l->v, l->n, sizeof(*l->v), cmp_names);
	return FERRY_OK;
nomem:
	closedir(d);
	namelist_free(l);
	return FERRY_E_NOMEM;
}

int ferry_snapshots(struct ferry_store *s, FILE *out, char *msg, size_t msglen)
{
	struct namelist l;
	int err = list_snapshots(s, &l);

	if (err) {
		setmsg(msg, msglen, "%s/snapshots: %s", s->path, ferry_strerror(err));
		return err;
	}
	for (size_t i = 0; i < l.n; i++)
		fprintf(out, "%s\n", l.v[i]);
	namelist_free(&l);
	return FERRY_OK;
}

static int collect(void *arg, uint32_t index, const void *plain, size_t len)
{
	(void)index;
	return dyn_append(arg, plain, len, MANIFEST_MAX_BYTES);
}

static int snapshot_name_ok(const char *n)
{
	if (!*n || *n == '.' || strlen(n) > 63)
		return 0;
	for (; *n; n++)
		if (*n == '/')
			return 0;
	return 1;
}

/* Loads a snapshot's manifest: snap NULL/"" means the newest. name_out gets the id. */
static int load_manifest(struct ferry_store *s, const char *snap, struct ferry_manifest *m, char name_out[64],
			 char *msg, size_t msglen)
{
	struct namelist l = { 0 };
	struct dynbuf raw = { 0 }, plain = { 0 };
	char rel[128];
	struct stat st;
	uint32_t bad;
	int fd = -1, err;

	ferry_manifest_init(m);
	if (!snap || !*snap) {
		err = list_snapshots(s, &l);
		if (err) {
			setmsg(msg, msglen, "%s/snapshots: %s", s->path, ferry_strerror(err));
			return err;
		}
		if (l.n == 0) {
			setmsg(msg, msglen, "%s: store has no snapshots", s->path);
			return FERRY_E_NOTFOUND;
		}
		snprintf(name_out, 64, "%s", l.v[l.n - 1]);
		namelist_free(&l);
	} else {
		if (!snapshot_name_ok(snap)) {
			setmsg(msg, msglen, "%s: bad snapshot name", snap);
			return FERRY_E_INVAL;
		}
		snprintf(name_out, 64, "%s", snap);
	}
	snprintf(rel, sizeof(rel), "snapshots/%s", name_out);
	fd = openat(s->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		setmsg(msg, msglen, "%s@%s: no such snapshot", s->path, name_out);
		err = FERRY_E_NOTFOUND;
		goto out;
	}
	if ((uint64_t)st.st_size > MANIFEST_MAX_BYTES) {
		setmsg(msg, msglen, "%s@%s: manifest too large", s->path, name_out);
		err = FERRY_E_TOOBIG;
		goto out;
	}
	raw.cap = (size_t)st.st_size ? (size_t)st.st_size : 1;
	raw.p = malloc(raw.cap);
	if (!raw.p) {
		err = FERRY_E_NOMEM;
		goto out;
	}
	if (pread_full(fd, raw.p, (size_t)st.st_size, 0) < 0) {
		setmsg(msg, msglen, "%s@%s: cannot read manifest", s->path, name_out);
		err = FERRY_E_IO;
		goto out;
	}
	raw.len = (size_t)st.st_size;
	err = ferry_object_decode_mem(s->codec, raw.p, raw.len, collect, &plain, &bad);
	if (!err)
		err = ferry_manifest_decode(plain.p, plain.len, m);
	if (err) {
		if (bad != UINT32_MAX)
			setmsg(msg, msglen, "%s@%s: manifest chunk %u: %s", s->path, name_out, bad, ferry_strerror(err));
		else
			setmsg(msg, msglen, "%s@%s: manifest: %s", s->path, name_out, ferry_strerror(err));
	}
out:
	if (fd >= 0)
		close(fd);
	free(raw.p);
	if (plain.p) {
		OPENSSL_cleanse(plain.p, plain.len);
		free(plain.p);
	}
	return err;
}

/* One entry per line: control characters (a newline in a name) are shown as C escapes. */
static void put_escaped(FILE *out, const char *p)
{
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '\\')
			fputs("\\\\", out);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
}

int ferry_ls(struct ferry_store *s, const char *snap, const char *prefix, FILE *out, char *msg, size_t msglen)
{
	struct ferry_manifest m;
	char name[64];
	size_t pl = prefix ? strlen(prefix) : 0;
	int err = load_manifest(s, snap, &m, name, msg, msglen);

	if (err)
		return err;
	while (pl && prefix[pl - 1] == '/')
		pl--;
	for (size_t i = 0; i < m.count; i++) {
		const struct ferry_entry *e = &m.entries[i];
		char t[32];
		time_t mt = (time_t)e->mtime_sec;
		struct tm tm;

		if (pl && !(strncmp(e->path, prefix, pl) == 0 && (e->path[pl] == 0 || e->path[pl] == '/')))
			continue;
		gmtime_r(&mt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(out, "%c%04o %12llu %s ",
			e->type == FERRY_ENTRY_DIR ? 'd' : e->type == FERRY_ENTRY_SYMLINK ? 'l' : '-', (unsigned)e->mode,
			(unsigned long long)e->size, t);
		put_escaped(out, e->path);
		if (e->target) {
			fputs(" -> ", out);
			put_escaped(out, e->target);
		}
		fputc('\n', out);
	}
	ferry_manifest_free(&m);
	return FERRY_OK;
}

/* ---------------------------------------------------------------- reading objects */

struct objreader {
	int fd;
	struct ferry_object_hdr h;
	struct ferry_object_footer f;
	struct ferry_index_entry *idx;
	uint64_t size;
};

static void objreader_close(struct objreader *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->idx);
	o->fd = -1;
	o->idx = NULL;
}

/* Opens an object and reads its header, footer and index. */
static int objreader_open(struct ferry_store *s, const uint8_t id[FERRY_ID_LEN], struct objreader *o,
			  char *why, size_t whylen)
{
	uint8_t hb[FERRY_OBJ_HDR_LEN], fb[FERRY_OBJ_FOOTER_LEN], *ib = NULL;
	char opath[64];
	struct stat st;
	int err;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	object_path(id, opath);
	o->fd = openat(s->dirfd, opath, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0 || fstat(o->fd, &st) < 0) {
		setmsg(why, whylen, "object %s missing: %s", opath, strerror(errno));
		return FERRY_E_NOTFOUND;
	}
	o->size = (uint64_t)st.st_size;
	if (o->size < FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN) {
		setmsg(why, whylen, "object %s: %s", opath, ferry_strerror(FERRY_E_TRUNCATED));
		return FERRY_E_TRUNCATED;
	}
	if (pread_full(o->fd, hb, sizeof(hb), 0) < 0 ||
	    pread_full(o->fd, fb, sizeof(fb), o->size - FERRY_OBJ_FOOTER_LEN) < 0) {
		setmsg(why, whylen, "object %s: read failed", opath);
		return FERRY_E_IO;
	}
	err = ferry_object_hdr_decode(hb, sizeof(hb), &o->h);
	if (!err && memcmp(o->h.object_id, id, FERRY_ID_LEN) != 0)
		err = FERRY_E_FOREIGN;
	if (!err && !!(o->h.flags & FERRY_FRAME_ENCRYPTED) != !!s->keys.encrypted)
		err = FERRY_E_FORMAT;
	if (!err)
		err = ferry_object_footer_decode(fb, sizeof(fb), o->size, &o->f);
	if (!err) {
		size_t il = (size_t)o->f.chunk_count * FERRY_INDEX_ENTRY_LEN;
		ib = malloc(il);
		o->idx = calloc(o->f.chunk_count, sizeof(*o->idx));
		if (!ib || !o->idx)
			err = FERRY_E_NOMEM;
		else if (pread_full(o->fd, ib, il, o->f.index_offset) < 0)
			err = FERRY_E_IO;
		else
			err = ferry_index_decode(hb, ib, il, &o->f, o->idx);
	}
	free(ib);
	if (err)
		setmsg(why, whylen, "object %s: %s", opath, ferry_strerror(err));
	return err;
}

/* Reads and decodes chunk i of an open object into s->plain. */
static int objreader_chunk(struct ferry_store *s, struct objreader *o, uint32_t i, size_t *len)
{
	const struct ferry_index_entry *e = &o->idx[i];

	if (e->frame_len > s->frame_cap || e->plain_len > s->cfg.chunk_size)
		return FERRY_E_TOOBIG;
	if (pread_full(o->fd, s->frame, e->frame_len, e->offset) < 0)
		return FERRY_E_IO;
	return ferry_frame_decode(s->codec, &o->h, i, i + 1 == o->f.chunk_count, s->frame, e->frame_len, s->plain,
				  s->cfg.chunk_size, len);
}

/* ---------------------------------------------------------------- pull */

/* Opens the directory that will hold rel (creating missing parents), never following a symlink. */
static int open_parent(int root, const char *rel, const char **base)
{
	char buf[FERRY_PATH_MAX + 1];
	char *slash;
	int fd = dup(root);

	snprintf(buf, sizeof(buf), "%s", rel);
	slash = strrchr(buf, '/');
	*base = slash ? rel + (slash - buf) + 1 : rel;
	if (!slash)
		return fd;
	*slash = 0;
	for (char *c = buf; fd >= 0 && c;) {
		char *next = strchr(c, '/');
		struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
					.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
		int nfd;

		if (next)
			*next++ = 0;
		if (mkdirat(fd, c, 0700) < 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		nfd = (int)syscall(SYS_openat2, fd, c, &how, sizeof(how));
		close(fd);
		fd = nfd;
		c = next;
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

static int pull_file(struct ferry_store *s, int pfd, const char *base, const struct ferry_entry *e,
		     struct ferry_run *r)
{
	struct objreader o;
	struct ferry_filehash *fh = NULL;
	char tmp[64], why[256], chunk[32];
	uint8_t rnd[6];
	uint8_t got[16];
	uint64_t written = 0;
	int fd = -1, err = FERRY_OK, e2;

	o.fd = -1;
	o.idx = NULL;
	if (ferry_random(rnd, sizeof(rnd)))
		return FERRY_E_CRYPTO;
	{
		char rh[13];
		hex(rnd, sizeof(rnd), rh);
		snprintf(tmp, sizeof(tmp), ".ferry-%s.part", rh);
	}
	fh = ferry_filehash_create();
	if (!fh) {
		problem(r, e->path, NULL, FERRY_E_NOMEM, NULL);
		return FERRY_E_NOMEM;
	}
	if (e->chunk_count) {
		err = objreader_open(s, e->object_id, &o, why, sizeof(why));
		if (!err && (uint64_t)e->first_chunk + e->chunk_count > o.f.chunk_count) {
			err = FERRY_E_FORMAT;
			snprintf(why, sizeof(why), "manifest names chunks beyond the object's end");
		}
		if (err) {
			problem(r, e->path, NULL, err, "%s", why);
			goto out;
		}
	}
	fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = FERRY_E_IO;
		problem(r, e->path, NULL, err, "cannot create: %s", strerror(errno));
		goto out;
	}
	for (uint32_t i = 0; i < e->chunk_count; i++) {
		uint32_t ci = e->first_chunk + i;
		size_t n;

		err = objreader_chunk(s, &o, ci, &n);
		if (err) {
			snprintf(chunk, sizeof(chunk), "chunk %u", ci);
			problem(r, e->path, chunk, err, NULL);
			goto out;
		}
		r->bytes_read += o.idx[ci].frame_len;
		ferry_filehash_update(fh, s->plain, n);
		if ((e2 = write_all(fd, s->plain, n)) < 0) {
			err = FERRY_E_IO;
			problem(r, e->path, NULL, err, "write failed: %s", strerror(-e2));
			goto out;
		}
		written += n;
	}
	ferry_hash128_encode(ferry_filehash_digest(fh), got);
	if (written != e->size || memcmp(got, e->hash, 16) != 0) {
		err = FERRY_E_CHECKSUM;
		problem(r, e->path, NULL, err, "file checksum (xxh128) mismatch after restore");
		goto out;
	}
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec } };
	if (fchmod(fd, e->mode) < 0 || futimens(fd, ts) < 0 || close(fd) < 0) {
		fd = -1;
		err = FERRY_E_IO;
		problem(r, e->path, NULL, err, "setting metadata: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(pfd, tmp, pfd, base) < 0) {
		err = FERRY_E_IO;
		problem(r, e->path, NULL, err, "rename into place: %s", strerror(errno));
		goto out;
	}
	tmp[0] = 0;
	r->bytes_written += written;
	r->files_transferred++;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(pfd, tmp, 0);
	objreader_close(&o);
	ferry_filehash_destroy(fh);
	return err;
}

static int ensure_dst(const char *dst)
{
	char buf[4096];
	size_t n = strlen(dst);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dst, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int ferry_pull(struct ferry_store *s, const char *snap, const char *dst, const char *const *includes,
	       struct ferry_run *r)
{
	struct ferry_manifest m;
	char msg[512];
	int root = -1, err, e;

	err = load_manifest(s, snap, &m, r->snapshot, msg, sizeof(msg));
	if (err) {
		/* a snapshot the user named that is not there is a usage error, not corruption */
		if (err == FERRY_E_NOTFOUND)
			err = FERRY_E_INVAL;
		problem(r, s->path, NULL, err, "%s", msg);
		r->snapshot[0] = 0;
		return err;
	}
	if (!r->dry_run && (e = ensure_dst(dst)) < 0) {
		problem(r, dst, NULL, FERRY_E_IO, "cannot create destination: %s", strerror(-e));
		err = FERRY_E_IO;
		goto out;
	}
	root = r->dry_run ? -1 : open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!r->dry_run && root < 0) {
		problem(r, dst, NULL, FERRY_E_IO, "cannot open destination: %s", strerror(errno));
		err = FERRY_E_IO;
		goto out;
	}
	for (size_t i = 0; i < m.count; i++) {
		const struct ferry_entry *en = &m.entries[i];
		const char *base;
		int pfd;

		if (!ferry_path_safe(en->path)) {
			problem(r, en->path, NULL, FERRY_E_FORMAT, "unsafe path in manifest (absolute or '..'); refused");
			continue;
		}
		if (!include_match(en->path, includes))
			continue;
		if (en->type == FERRY_ENTRY_FILE)
			r->files_total++;
		if (r->dry_run) {
			if (en->type == FERRY_ENTRY_FILE)
				r->files_transferred++;
			continue;
		}
		pfd = open_parent(root, en->path, &base);
		if (pfd < 0) {
			problem(r, en->path, NULL, FERRY_E_IO,
				"cannot open parent directory (a symlink or non-directory on the way?): %s",
				strerror(errno));
			continue;
		}
		if (en->type == FERRY_ENTRY_FILE) {
			pull_file(s, pfd, base, en, r);
		} else if (en->type == FERRY_ENTRY_DIR) {
			struct stat st;
			if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
				problem(r, en->path, NULL, FERRY_E_IO, "mkdir: %s", strerror(errno));
			else if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
				problem(r, en->path, NULL, FERRY_E_IO, "exists and is not a directory");
		} else {
			char tmp[64];
			uint8_t rnd[6];
			char rh[13];
			if (ferry_random(rnd, sizeof(rnd)) == 0) {
				hex(rnd, sizeof(rnd), rh);
				snprintf(tmp, sizeof(tmp), ".ferry-%s.link", rh);
				if (symlinkat(en->target, pfd, tmp) < 0 || renameat(pfd, tmp, pfd, base) < 0) {
					problem(r, en->path, NULL, FERRY_E_IO, "symlink: %s", strerror(errno));
					unlinkat(pfd, tmp, 0);
				} else {
					struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
								  { .tv_sec = en->mtime_sec, .tv_nsec = en->mtime_nsec } };
					utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
				}
			}
		}
		close(pfd);
	}
	/* directory modes and mtimes last, deepest first, so restoring children does not undo them */
	for (size_t i = m.count; !r->dry_run && i-- > 0;) {
		const struct ferry_entry *en = &m.entries[i];
		const char *base;
		int pfd;

		if (en->type != FERRY_ENTRY_DIR || !ferry_path_safe(en->path) || !include_match(en->path, includes))
			continue;
		pfd = open_parent(root, en->path, &base);
		if (pfd < 0)
			continue;
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = en->mtime_sec, .tv_nsec = en->mtime_nsec } };
		if (fchmodat(pfd, base, en->mode, 0) < 0 || utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			problem(r, en->path, NULL, FERRY_E_IO, "setting directory metadata: %s", strerror(errno));
		close(pfd);
	}
	err = r->errors ? FERRY_E_IO : FERRY_OK;
out:
	if (root >= 0)
		close(root);
	ferry_manifest_free(&m);
	return err;
}

/* ---------------------------------------------------------------- verify */

/* Checks one manifest's file entries: objects present with the right size, and with read_data every chunk. */
static void verify_manifest(struct ferry_store *s, const char *snap, struct ferry_manifest *m, int read_data,
			    struct ferry_run *r)
{
	for (size_t i = 0; i < m->count; i++) {
		const struct ferry_entry *e = &m->entries[i];
		struct objreader o;
		struct ferry_filehash *fh;
		char why[256], chunk[32], what[FERRY_PATH_MAX + 80];
		uint8_t got[16];
		int err;

		if (e->type != FERRY_ENTRY_FILE || e->chunk_count == 0)
			continue;
		snprintf(what, sizeof(what), "%s@%s", e->path, snap);
		err = objreader_open(s, e->object_id, &o, why, sizeof(why));
		if (!err && o.size != e->object_size) {
			err = FERRY_E_TRUNCATED;
			snprintf(why, sizeof(why), "object size %llu, manifest says %llu", (unsigned long long)o.size,
				 (unsigned long long)e->object_size);
		}
		if (!err && (uint64_t)e->first_chunk + e->chunk_count > o.f.chunk_count) {
			err = FERRY_E_FORMAT;
			snprintf(why, sizeof(why), "manifest names chunks beyond the object's end");
		}
		r->objects_checked++;
		if (err) {
			problem(r, what, NULL, err, "%s", why);
			objreader_close(&o);
			continue;
		}
		if (!read_data) {
			objreader_close(&o);
			continue;
		}
		fh = ferry_filehash_create();
		uint64_t total = 0;
		int bad = 0;
		for (uint32_t k = 0; fh && k < e->chunk_count; k++) {
			uint32_t ci = e->first_chunk + k;
			size_t n;

			r->chunks_checked++;
			err = objreader_chunk(s, &o, ci, &n);
			if (err) {
				snprintf(chunk, sizeof(chunk), "chunk %u", ci);
				problem(r, what, chunk, err, NULL);
				bad = 1;
				continue; /* report every bad chunk, not just the first */
			}
			r->bytes_read += o.idx[ci].frame_len;
			ferry_filehash_update(fh, s->plain, n);
			total += n;
		}
		if (fh && !bad) {
			ferry_hash128_encode(ferry_filehash_digest(fh), got);
			if (total != e->size || memcmp(got, e->hash, 16) != 0)
				problem(r, what, NULL, FERRY_E_CHECKSUM, "file checksum (xxh128) mismatch");
		}
		ferry_filehash_destroy(fh);
		objreader_close(&o);
	}
}

int ferry_verify(struct ferry_store *s, int read_data, struct ferry_run *r)
{
	struct namelist l;
	int err = list_snapshots(s, &l);

	if (err) {
		problem(r, s->path, NULL, err, "cannot list snapshots");
		return err;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct ferry_manifest m;
		char name[64], msg[512];

		if (load_manifest(s, l.v[i], &m, name, msg, sizeof(msg))) {
			problem(r, l.v[i], NULL, FERRY_E_FORMAT, "%s", msg);
			continue;
		}
		verify_manifest(s, name, &m, read_data, r);
		ferry_manifest_free(&m);
	}
	namelist_free(&l);
	return r->errors ? FERRY_E_CHECKSUM : FERRY_OK;
}
