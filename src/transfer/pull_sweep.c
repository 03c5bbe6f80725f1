/* pull: sync against what the destination holds: files already up to date, and --delete's
 * sweep of what the snapshot does not have. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pull_int.h"

/* Sync: a local regular file of the same size and mtime is taken as up to date
 * (its mode is put right if that alone differs). */
int pull_local_matches(struct pull *p, const struct ferry_entry *e)
{
	const char *base;
	struct stat st;
	int pfd = pull_open_parent(p, e->path, &base), same;

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
void pull_delete_extra(struct ferry_store *s, const char *snap, const char *dst, struct ferry_run *r)
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
