/*
 * The scanner: walks a source tree on its own thread (directories in sorted order,
 * never following symlinks) and hands entries to the pipeline through a bounded
 * queue, so a tree of millions of files is never held in memory at once. A
 * directory's names are stat'ed through an io_uring of the scanner's own, many at a
 * time (IORING_OP_STATX), so a cold cache sees a queue of inode reads, not one at a
 * time; fstatat when io_uring is not there.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "ferry/codec.h"
#include "pipeline.h"

struct ferry_scan {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t not_full;
	struct ferry_scan_item *head, *tail;
	unsigned count, cap;
	int finished, stop, started;
	int wake_fd;
	int rootfd;
	unsigned unwoken; /* items queued since the consumer was last woken */
	struct io_uring ring;
	unsigned depth; /* statx in flight; 0: fstatat one by one */
};

/* Names stat'ed per round: the results of a round are held (a statx each) while its
 * entries go out and its subdirectories are walked, at every level of the tree. */
#define STAT_WINDOW 256
#define SCAN_DEPTH_DEFAULT 64

#define WAKE_BATCH 64

static int push_item(struct ferry_scan *s, struct ferry_scan_item *it)
{
	pthread_mutex_lock(&s->mu);
	while (s->count >= s->cap && !s->stop)
		pthread_cond_wait(&s->not_full, &s->mu);
	if (s->stop) {
		pthread_mutex_unlock(&s->mu);
		ferry_scan_item_free(it);
		return -1;
	}
	it->next = NULL;
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->count++;
	/* wake-ups in batches (and at the end of each directory, scan_flush): one
	 * eventfd write and one loop round trip per item cost more than its fstatat */
	int wake = ++s->unwoken >= WAKE_BATCH;
	if (wake)
		s->unwoken = 0;
	pthread_mutex_unlock(&s->mu);
	if (wake)
		ferry_wake(s->wake_fd);
	return 0;
}

/* Wakes the consumer for whatever was queued since the last wake-up. */
static void scan_flush(struct ferry_scan *s)
{
	int wake;

	pthread_mutex_lock(&s->mu);
	wake = s->unwoken > 0;
	s->unwoken = 0;
	pthread_mutex_unlock(&s->mu);
	if (wake)
		ferry_wake(s->wake_fd);
}

static int report(struct ferry_scan *s, const char *path, const char *what, const char *why)
{
	struct ferry_scan_item *it = calloc(1, sizeof(*it));
	char buf[512];

	if (!it)
		return -1;
	snprintf(buf, sizeof(buf), "%s%s%s", what, why ? ": " : "", why ? why : "");
	it->path = strdup(path[0] ? path : ".");
	it->error = strdup(buf);
	return push_item(s, it);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void stat_from_statx(const struct statx *x, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = x->stx_mode;
	st->st_size = (off_t)x->stx_size;
	st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
}

/* Stats names[0..n) relative to dfd, up to s->depth at a time through the ring: st[i]
 * and res[i] (0 or -errno). Anything the ring cannot do is done with fstatat. */
static void stat_names(struct ferry_scan *s, int dfd, char **names, size_t n, struct statx *x, struct stat *st,
		       int *res)
{
	size_t next = 0, done = 0;
	unsigned inflight = 0;
	int ring = s->depth > 0;

	while (ring && done < n) {
		while (next < n && inflight < s->depth) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
			if (!sqe)
				break;
			io_uring_prep_statx(sqe, dfd, names[next], AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
					    STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_MTIME, &x[next]);
			io_uring_sqe_set_data64(sqe, next);
			next++;
			inflight++;
		}
		if (io_uring_submit_and_wait(&s->ring, 1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&s->ring, head, cqe) {
			size_t i = (size_t)io_uring_cqe_get_data64(cqe);
			res[i] = cqe->res < 0 ? cqe->res : 0;
			if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP)
				res[i] = 1; /* this kernel cannot: fstatat below */
			else if (!res[i])
				stat_from_statx(&x[i], &st[i]);
			seen++;
		}
		io_uring_cq_advance(&s->ring, seen);
		inflight -= seen;
		done += seen;
	}
	if (ring && done < n) { /* the ring failed: wait out what it holds, then go alone */
		while (inflight) {
			struct io_uring_cqe *cqe;
			if (io_uring_wait_cqe(&s->ring, &cqe) < 0)
				break;
			io_uring_cqe_seen(&s->ring, cqe);
			inflight--;
		}
		io_uring_queue_exit(&s->ring);
		s->depth = 0;
		for (size_t i = 0; i < n; i++)
			res[i] = 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!s->depth || res[i] == 1)
			res[i] = fstatat(dfd, names[i], &st[i], AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int walk(struct ferry_scan *s, int dfd, const char *rel, int depth)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct statx *stx = NULL;
	struct stat *sts = NULL;
	int *sres = NULL;
	int ret = 0;

	if (depth > 256) {
		close(dfd);
		return report(s, rel, "directory nesting deeper than 256; skipped", NULL);
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return report(s, rel, "cannot list", strerror(errno));
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				ret = -1;
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			ret = -1;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	size_t win = n < STAT_WINDOW ? n : STAT_WINDOW;
	if (win && (!(stx = malloc(win * sizeof(*stx))) || !(sts = malloc(win * sizeof(*sts))) ||
		    !(sres = malloc(win * sizeof(*sres))))) {
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < n && !ret && !s->stop; i++) {
		char path[FERRY_PATH_MAX + 2];
		struct stat st;
		struct ferry_scan_item *it;
		int pl = snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);

		if (i % STAT_WINDOW == 0)
			stat_names(s, dirfd(d), names + i, n - i < win ? n - i : win, stx, sts, sres);
		if (pl < 0 || pl > FERRY_PATH_MAX) {
			ret = report(s, names[i], "path longer than 4095 bytes; skipped", NULL);
			continue;
		}
		if (sres[i % STAT_WINDOW] < 0) {
			ret = report(s, path, "vanished or unreadable", strerror(-sres[i % STAT_WINDOW]));
			continue;
		}
		st = sts[i % STAT_WINDOW];
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
			continue; /* devices, sockets and fifos are not data */
		it = calloc(1, sizeof(*it));
		if (!it || !(it->path = strdup(path))) {
			free(it);
			ret = -1;
			break;
		}
		it->mode = st.st_mode & 07777;
		it->mtime_sec = st.st_mtim.tv_sec;
		it->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
		if (S_ISREG(st.st_mode)) {
			it->type = FERRY_ENTRY_FILE;
			it->size = (uint64_t)st.st_size;
			ret = push_item(s, it);
		} else if (S_ISLNK(st.st_mode)) {
			char target[FERRY_PATH_MAX + 1];
			ssize_t tl = readlinkat(dirfd(d), names[i], target, sizeof(target));
			if (tl <= 0 || tl > FERRY_PATH_MAX) {
				ferry_scan_item_free(it);
				ret = report(s, path, "cannot read symlink", NULL);
				continue;
			}
			target[tl] = 0;
			it->type = FERRY_ENTRY_SYMLINK;
			it->mode = 0777;
			it->target = strdup(target);
			if (!it->target) {
				ferry_scan_item_free(it);
				ret = -1;
				break;
			}
			ret = push_item(s, it);
		} else {
			int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			it->type = FERRY_ENTRY_DIR;
			if (sub < 0) {
				ferry_scan_item_free(it);
				ret = report(s, path, "cannot open directory", strerror(errno));
				continue;
			}
			ret = push_item(s, it);
			if (!ret)
				ret = walk(s, sub, path, depth + 1);
			else
				close(sub);
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(stx);
	free(sts);
	free(sres);
	closedir(d);
	scan_flush(s);
	return ret;
}

static void *scan_main(void *arg)
{
	struct ferry_scan *s = arg;
	const char *env = getenv("FERRY_SCAN_DEPTH"); /* for measuring: 0 = fstatat one by one */

	s->depth = env ? (unsigned)atoi(env) : SCAN_DEPTH_DEFAULT;
	if (s->depth > 256)
		s->depth = 256;
	if (s->depth && io_uring_queue_init(s->depth, &s->ring, 0) < 0)
		s->depth = 0;
	if (s->depth) {
		/* statx runs in io_uring's workers; by default there are 4 per CPU, too few to
		 * keep a cold disk busy on a small machine */
		unsigned workers[2] = { s->depth, 0 };
		io_uring_register_iowq_max_workers(&s->ring, workers);
	}
	walk(s, s->rootfd, "", 0);
	if (s->depth)
		io_uring_queue_exit(&s->ring);
	s->rootfd = -1; /* closed by walk */
	pthread_mutex_lock(&s->mu);
	s->finished = 1;
	pthread_mutex_unlock(&s->mu);
	ferry_wake(s->wake_fd);
	return NULL;
}

int ferry_scan_start(struct ferry_scan **out, const char *root, unsigned queue_cap, int wake_fd)
{
	struct ferry_scan *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return FERRY_E_NOMEM;
	s->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		int e = errno;
		free(s);
		errno = e;
		return FERRY_E_IO;
	}
	s->cap = queue_cap ? queue_cap : 4096;
	s->wake_fd = wake_fd;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->not_full, NULL);
	if (pthread_create(&s->tid, NULL, scan_main, s) != 0) {
		close(s->rootfd);
		free(s);
		return FERRY_E_NOMEM;
	}
	s->started = 1;
	*out = s;
	return FERRY_OK;
}

struct ferry_scan_item *ferry_scan_next(struct ferry_scan *s, int *done)
{
	struct ferry_scan_item *it;

	pthread_mutex_lock(&s->mu);
	it = s->head;
	if (it) {
		s->head = it->next;
		if (!s->head)
			s->tail = NULL;
		if (s->count-- == s->cap)
			pthread_cond_signal(&s->not_full);
	}
	*done = !it && s->finished;
	pthread_mutex_unlock(&s->mu);
	return it;
}

void ferry_scan_item_free(struct ferry_scan_item *it)
{
	if (!it)
		return;
	free(it->path);
	free(it->target);
	free(it->error);
	free(it);
}

void ferry_scan_stop(struct ferry_scan *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->not_full);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->tid, NULL);
	while (s->head) {
		struct ferry_scan_item *n = s->head->next;
		ferry_scan_item_free(s->head);
		s->head = n;
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->not_full);
	free(s);
}
