/* Local files beneath a root: opened without following links or leaving the root, read whole, hashed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include "localfs.h"

int localfs_open_beneath(int root, char *dirs, unsigned mode)
{
	int fd = dup(root);

	for (char *c = dirs; fd >= 0 && c;) {
		char *next = strchr(c, '/');
		struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
					.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
		int nfd;

		if (next)
			*next++ = 0;
		if (mkdirat(fd, c, mode) < 0 && errno != EEXIST) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		nfd = (int)syscall(SYS_openat2, fd, c, &how, sizeof(how));
		close(fd);
		fd = nfd;
		c = next;
	}
	return fd;
}

enum { HASH_BLOCK = 1 << 20 };

void localfs_hashing_free(struct localfs_hashing *hs)
{
	free(hs->buf);
	ferry_filehash_destroy(hs->h);
	memset(hs, 0, sizeof(*hs));
}

int localfs_read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
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

int localfs_hash_fd(int fd, uint64_t size, uint8_t *buf, size_t piece, struct ferry_filehash *fh)
{
	ferry_filehash_reset(fh);
	for (uint64_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? (size_t)(size - off) : piece;
		int e = localfs_read_full(fd, buf, n, off);
		if (e)
			return e;
		ferry_filehash_update(fh, buf, n);
	}
	return 0;
}

int localfs_same_content(struct localfs_hashing *hs, int dirfd, const char *name, uint64_t size, const uint8_t hash[16],
		       uint64_t *files_hashed,
			 uint64_t *bytes_hashed, int *same)
{
	uint8_t got[16], extra;
	int fd, err;

	*same = 0;
	if ((!hs->buf && !(hs->buf = malloc(HASH_BLOCK))) || (!hs->h && !(hs->h = ferry_filehash_create())))
		return -ENOMEM;
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	err = localfs_hash_fd(fd, size, hs->buf, HASH_BLOCK, hs->h);
	(*files_hashed)++;
	if (err == -ENODATA) {
		err = 0; /* shorter than it should be: not the same */
	} else if (!err) {
		*bytes_hashed += size;
		ferry_hash128_encode(ferry_filehash_digest(hs->h), got);
		/* longer than it should be (grown since its stat): not the same either */
		*same = pread(fd, &extra, 1, (off_t)size) == 0 && memcmp(got, hash, 16) == 0;
	}
	close(fd);
	return err;
}

size_t localfs_dirname(const char *rel, char *dir, size_t cap, const char **base)
{
	char *slash;

	snprintf(dir, cap, "%s", rel);
	slash = strrchr(dir, '/');
	*base = slash ? rel + (slash - dir) + 1 : rel;
	if (!slash) {
		dir[0] = 0;
		return 0;
	}
	*slash = 0;
	return (size_t)(slash - dir);
}

int localfs_open_parent(int root, const char *rel, unsigned mode, const char **base)
{
	char dir[FERRY_PATH_MAX + 1];

	if (!localfs_dirname(rel, dir, sizeof(dir), base))
		return dup(root);
	return localfs_open_beneath(root, dir, mode);
}
