/* Local files beneath a root (localfs.c): open without following links, read whole, hash. */
#ifndef FERRY_LOCALFS_H
#define FERRY_LOCALFS_H

#include <stddef.h>
#include <stdint.h>

struct ferry_filehash;

/* Opens directory path dirs (a/b/c, modified in place) below root, creating missing
 * levels with mode, never following a symlink or leaving root. An fd or -1 (errno). */
int localfs_open_beneath(int root, char *dirs, unsigned mode);
/* sync --checksum: a run's read buffer and hash state, made at the first file and kept
 * for the next ones (fresh memory is dear; localfs_hashing_free at the end). */
struct localfs_hashing {
	uint8_t *buf;
	struct ferry_filehash *h;
};
void localfs_hashing_free(struct localfs_hashing *hs);
/* pread of exactly len bytes at off: 0, -errno, or -ENODATA when the file ends first. */
int localfs_read_full(int fd, uint8_t *buf, size_t len, uint64_t off);
/* fh = the xxh128 of the first size bytes of fd, read in pieces of piece bytes into buf
 * (pieces that stay in the CPU's cache for the hash). 0 or localfs_read_full's error. */
int localfs_hash_fd(int fd, uint64_t size, uint8_t *buf, size_t piece, struct ferry_filehash *fh);
/* Reads file name (below dirfd, never through a symlink) and sets *same to whether it
 * holds size bytes whose xxh128 is hash (the manifest's encoding). Counts what it read
 * in *files_hashed and *bytes_hashed. 0, or -errno when the file cannot be read. */
int localfs_same_content(struct localfs_hashing *hs, int dirfd, const char *name, uint64_t size, const uint8_t hash[16],
		       uint64_t *files_hashed,
			 uint64_t *bytes_hashed, int *same);

/* rel's directory part into dir (a copy, cap bytes) and *base its last component: the
 * directory's length, 0 when rel has none (dir is then ""). */
size_t localfs_dirname(const char *rel, char *dir, size_t cap, const char **base);
/* Opens (creating, with mode) the directory that holds rel below root, never through a
 * symlink; *base is rel's last component. An fd or -1 (errno). */
int localfs_open_parent(int root, const char *rel, unsigned mode, const char **base);
#endif
