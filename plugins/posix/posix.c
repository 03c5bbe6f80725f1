/*
 * The posix backend: a store in a local (or NFS-mounted) directory. Data reads and
 * writes go through the loop's io_uring (fixed buffers when registered); objects are
 * written under a temporary name and renamed into place on commit.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "ferry/backend.h"

struct posix_priv {
	int dirfd;
	struct ferry_loop *loop;
};

struct ferry_wobj {
	int fd;
	/* one write in flight per object: concurrent buffered writes to one file only
	 * queue on its inode lock in io_uring's worker threads, and cost more than they gain */
	struct ferry_io *writing, *queue_head, *queue_tail;
	char key[512];
	char tmp[528];
};

struct ferry_robj {
	int fd;
	uint64_t size;
};

static struct posix_priv *P(struct ferry_backend *b)
{
	return b->priv;
}

static int key_ok(const char *key)
{
	/* keys come from the core, but never let one climb out of the store */
	return key[0] && key[0] != '/' && !strstr(key, "..") && strlen(key) < 512;
}

static int posix_open(struct ferry_backend *b, const char *location, const struct ferry_kv *opts,
			struct ferry_loop *loop)
{
	struct posix_priv *p = P(b);

	(void)opts; /* none yet */

	p->loop = loop;
	p->dirfd = open(location, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0 && errno == ENOENT) {
		p->dirfd = -1; /* init_location may create it */
		return 0;
	}
	return p->dirfd < 0 ? -errno : 0;
}

static void posix_close(struct ferry_backend *b)
{
	if (P(b)->dirfd >= 0)
		close(P(b)->dirfd);
}

static int need_dir(struct ferry_backend *b)
{
	return P(b)->dirfd >= 0 ? 0 : -ENOENT;
}

static int posix_init_location(struct ferry_backend *b)
{
	struct posix_priv *p = P(b);
	char buf[4096];
	DIR *d;
	struct dirent *de;

	snprintf(buf, sizeof(buf), "%s", b->location);
	for (char *s = buf + 1; *s; s++) {
		if (*s == '/') {
			*s = 0;
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (p->dirfd < 0) {
		p->dirfd = open(b->location, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (p->dirfd < 0)
			return -errno;
	}
	d = fdopendir(dup(p->dirfd));
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			return -ENOTEMPTY;
		}
	closedir(d);
	return 0;
}

/* Creates the directories leading to key. */
static int make_parents(int dirfd, const char *key)
{
	char buf[512];
	char *s;

	snprintf(buf, sizeof(buf), "%s", key);
	for (s = buf; (s = strchr(s, '/')); s++) {
		*s = 0;
		if (mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static int posix_get(struct ferry_backend *b, const char *key, uint8_t **out, size_t *len, size_t max)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, e;

	if ((e = need_dir(b)) || !key_ok(key))
		return e ? e : -EINVAL;
	fd = openat(P(b)->dirfd, key, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) { /* a directory where an object should be: damage, not an I/O error */
		close(fd);
		ferry_backend_seterr(b, FERRY_BERR(FERRY_E_FORMAT), "not a regular file (%s)",
				     S_ISDIR(st.st_mode) ? "a directory" : "a special file");
		return FERRY_BERR(FERRY_E_FORMAT);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return FERRY_BERR(FERRY_E_TOOBIG);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

static int posix_put(struct ferry_backend *b, const char *key, const void *buf, size_t len, int exclusive)
{
	struct posix_priv *p = P(b);
	char tmp[600], dir[512];
	const uint8_t *s = buf;
	int fd, e = 0;

	if ((e = need_dir(b)) || !key_ok(key))
		return e ? e : -EINVAL;
	if ((e = make_parents(p->dirfd, key)))
		return e;
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", key, (int)getpid());
	fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len && !e) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = -errno;
		else {
			s += n;
			len -= (size_t)n;
		}
	}
	if (!e && fsync(fd) < 0)
		e = -errno;
	if (close(fd) < 0 && !e)
		e = -errno;
	if (!e && renameat2(p->dirfd, tmp, p->dirfd, key, exclusive ? RENAME_NOREPLACE : 0) < 0)
		e = -errno;
	if (e) {
		unlinkat(p->dirfd, tmp, 0);
		return e;
	}
	/* the rename itself must survive a crash */
	snprintf(dir, sizeof(dir), "%s", key);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	fd = openat(p->dirfd, slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

static int posix_stat(struct ferry_backend *b, const char *key, uint64_t *size)
{
	struct stat st;
	int e;

	if ((e = need_dir(b)) || !key_ok(key))
		return e ? e : -EINVAL;
	if (fstatat(P(b)->dirfd, key, &st, 0) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int is_temp(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n > 4 && !strcmp(name + n - 4, ".tmp"));
}

static int list_dir(int dirfd, const char *rel, const char *prefix, ferry_list_fn fn, void *arg, int depth)
{
	int fd = openat(dirfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (!ret && (de = readdir(d))) {
		char key[1024];
		struct stat st;

		if (is_temp(de->d_name))
			continue;
		snprintf(key, sizeof(key), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		if (fstatat(dirfd, key, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished meanwhile */
		if (S_ISDIR(st.st_mode)) {
			if (depth < 8 && (!strncmp(key, prefix, strlen(key)) || !strncmp(key, prefix, strlen(prefix))))
				ret = list_dir(dirfd, key, prefix, fn, arg, depth + 1);
		} else if (S_ISREG(st.st_mode) && !strncmp(key, prefix, strlen(prefix))) {
			ret = fn(arg, key, (uint64_t)st.st_size);
		}
	}
	closedir(d);
	return ret;
}

static int posix_list(struct ferry_backend *b, const char *prefix, ferry_list_fn fn, void *arg)
{
	char dir[512];
	char *slash;
	int e;

	if ((e = need_dir(b)))
		return e;
	/* start at the deepest directory the prefix names */
	snprintf(dir, sizeof(dir), "%s", prefix);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		dir[0] = 0;
	return list_dir(P(b)->dirfd, dir, prefix, fn, arg, 0);
}

static int posix_del(struct ferry_backend *b, const char *key)
{
	int e;

	if ((e = need_dir(b)) || !key_ok(key))
		return e ? e : -EINVAL;
	if (unlinkat(P(b)->dirfd, key, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int posix_wopen(struct ferry_backend *b, const char *key, struct ferry_wobj **out)
{
	struct posix_priv *p = P(b);
	struct ferry_wobj *w;
	int e;

	if ((e = need_dir(b)) || !key_ok(key))
		return e ? e : -EINVAL;
	if ((e = make_parents(p->dirfd, key)))
		return e;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	snprintf(w->key, sizeof(w->key), "%s", key);
	snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", key);
	w->fd = openat(p->dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0 && errno == EEXIST && (unlinkat(p->dirfd, w->tmp, 0) == 0 || errno == ENOENT))
		/* a killed writer's leftover (keys rewritten in place: manifests, shard manifests) */
		w->fd = openat(p->dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		e = -errno;
		free(w);
		return e;
	}
	*out = w;
	return 0;
}

static void io_submit(struct ferry_backend *b, struct ferry_io *io, int fd, int is_write);

static void write_next(struct ferry_backend *b, struct ferry_wobj *w);

/* A finished request: for writes, the object's next queued write goes out first. */
static void io_finish(struct ferry_backend *b, struct ferry_io *io)
{
	struct ferry_wobj *w = io->is_write ? io->wobj : NULL;

	if (w) {
		w->writing = NULL;
		write_next(b, w);
	}
	io->done(io);
}

static void io_done(struct ferry_ev *ev, int res)
{
	struct ferry_io *io = (struct ferry_io *)ev;
	struct ferry_backend *b = io->bobj;

	if (res == -EINTR || res == -EAGAIN) {
		io_submit(b, io, (int)(intptr_t)io->user_fd, io->is_write);
		return;
	}
	if (res < 0) {
		io->res = res;
		io_finish(b, io);
		return;
	}
	if (res == 0) {
		io->res = io->is_write ? -EIO : FERRY_BERR(FERRY_E_TRUNCATED);
		io_finish(b, io);
		return;
	}
	io->progress += (size_t)res;
	if (io->progress < io->len) {
		io_submit(b, io, (int)(intptr_t)io->user_fd, io->is_write); /* short transfer: the rest */
		return;
	}
	io->res = (int)io->len;
	io_finish(b, io);
}

static void io_submit(struct ferry_backend *b, struct ferry_io *io, int fd, int is_write)
{
	struct ferry_loop *l = P(b)->loop;
	struct io_uring_sqe *sqe;
	uint8_t *buf = (uint8_t *)io->buf + io->progress;
	unsigned len = (unsigned)(io->len - io->progress);
	uint64_t off = io->off + io->progress;

	io->ev.fn = io_done;
	io->bobj = b;
	io->user_fd = (intptr_t)fd;
	io->is_write = is_write;
	sqe = ferry_loop_sqe(l, &io->ev);
	if (io->buf_index >= 0 && ferry_loop_fixed(l)) {
		if (is_write)
			io_uring_prep_write_fixed(sqe, fd, buf, len, off, io->buf_index);
		else
			io_uring_prep_read_fixed(sqe, fd, buf, len, off, io->buf_index);
	} else {
		if (is_write)
			io_uring_prep_write(sqe, fd, buf, len, off);
		else
			io_uring_prep_read(sqe, fd, buf, len, off);
	}
}

static void write_next(struct ferry_backend *b, struct ferry_wobj *w)
{
	struct ferry_io *io = w->queue_head;

	if (w->writing || !io)
		return;
	w->queue_head = io->next_queued;
	if (!w->queue_head)
		w->queue_tail = NULL;
	w->writing = io;
	io_submit(b, io, w->fd, 1);
}

static int posix_write(struct ferry_backend *b, struct ferry_wobj *w, struct ferry_io *io)
{
	io->progress = 0;
	io->wobj = w;
	io->is_write = 1;
	io->next_queued = NULL;
	if (w->queue_tail)
		w->queue_tail->next_queued = io;
	else
		w->queue_head = io;
	w->queue_tail = io;
	write_next(b, w);
	return 0;
}

static int posix_commit(struct ferry_backend *b, struct ferry_wobj *w, int durable)
{
	struct posix_priv *p = P(b);
	int e = 0;

	if (durable && fsync(w->fd) < 0)
		e = -errno;
	if (close(w->fd) < 0 && !e)
		e = -errno;
	if (!e && renameat(p->dirfd, w->tmp, p->dirfd, w->key) < 0)
		e = -errno;
	if (e)
		unlinkat(p->dirfd, w->tmp, 0);
	else if (durable) {
		char dir[512];
		char *slash;
		int fd;

		snprintf(dir, sizeof(dir), "%s", w->key);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		fd = openat(p->dirfd, slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	free(w);
	return e;
}

static int posix_sync(struct ferry_backend *b)
{
	return syncfs(P(b)->dirfd) < 0 ? -errno : 0;
}

static void posix_abort(struct ferry_backend *b, struct ferry_wobj *w)
{
	close(w->fd);
	unlinkat(P(b)->dirfd, w->tmp, 0);
	free(w);
}

static int posix_ropen(struct ferry_backend *b, const char *key, struct ferry_robj **out, uint64_t *size)
{
	struct ferry_robj *r;
	struct stat st;
	int e;

	if ((e = need_dir(b)) || !key_ok(key))
		return e ? e : -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = openat(P(b)->dirfd, key, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) < 0) {
		e = -errno;
		if (r->fd >= 0)
			close(r->fd);
		free(r);
		return e;
	}
	r->size = (uint64_t)st.st_size;
	/* objects are read front to back: ask for the larger readahead */
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*size = r->size;
	*out = r;
	return 0;
}

static int posix_read(struct ferry_backend *b, struct ferry_robj *r, struct ferry_io *io)
{
	io->wobj = NULL;
	if (io->off > r->size || io->len > r->size - io->off) {
		io->res = FERRY_BERR(FERRY_E_TRUNCATED);
		io->done(io);
		return 0;
	}
	io->progress = 0;
	io_submit(b, io, r->fd, 0);
	return 0;
}

static void posix_rclose(struct ferry_backend *b, struct ferry_robj *r)
{
	(void)b;
	close(r->fd);
	free(r);
}

const struct ferry_backend_ops ferry_posix_backend = {
	.name = "posix",
	.abi = FERRY_BACKEND_ABI,
	.caps = FERRY_CAP_RANGED_READ | FERRY_CAP_OUT_OF_ORDER | FERRY_CAP_ATOMIC_RENAME | FERRY_CAP_FIXED_BUFFERS,
	.priv_size = sizeof(struct posix_priv),
	.open = posix_open,
	.close = posix_close,
	.get = posix_get,
	.put = posix_put,
	.stat = posix_stat,
	.list = posix_list,
	.del = posix_del,
	.init_location = posix_init_location,
	.wopen = posix_wopen,
	.write = posix_write,
	.commit = posix_commit,
	.sync = posix_sync,
	.abort = posix_abort,
	.ropen = posix_ropen,
	.read = posix_read,
	.rclose = posix_rclose,
};
