/* Snapshot manifests: every entry's path, metadata, hash and chunk location (FORMAT.md §6). */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_ENTRY_FILE 1
#define FERRY_ENTRY_DIR 2
#define FERRY_ENTRY_SYMLINK 3

#define FERRY_PATH_MAX 4095
#define FERRY_ENTRY_FIXED_LEN 84
#define FERRY_MANIFEST_HDR_LEN 24
#define FERRY_MANIFEST_MAX_ENTRIES (1ull << 32)

struct ferry_entry {
	uint8_t type;
	uint32_t mode; /* permission bits (07777) */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;
	uint8_t hash[16]; /* xxh128 of the file's bytes, big-endian (as xxhsum prints) */
	uint8_t object_id[FERRY_ID_LEN];
	uint32_t first_chunk;
	uint32_t chunk_count; /* 0 for empty files, directories, symlinks */
	uint64_t object_size; /* stored size of the whole object, for verify without reading data */
	char *path;           /* relative, '/'-separated, no NUL */
	char *target;         /* symlink target, else NULL */
};

struct ferry_manifest {
	uint64_t created;
	size_t count, cap;
	struct ferry_entry *entries;
};

void ferry_manifest_init(struct ferry_manifest *m);
void ferry_manifest_free(struct ferry_manifest *m);
/* Appends a copy of e (path and target are duplicated). */
int ferry_manifest_add(struct ferry_manifest *m, const struct ferry_entry *e) FERRY_MUST_CHECK;
int ferry_manifest_encode(const struct ferry_manifest *m, uint8_t **out, size_t *len) FERRY_MUST_CHECK;
/* Parses untrusted bytes; bounded by len. Does not judge paths: see ferry_path_safe(). */
int ferry_manifest_decode(const uint8_t *buf, size_t len, struct ferry_manifest *m) FERRY_MUST_CHECK;
/* 1 when path is relative, non-empty, with no '.', '..' or empty component. */
int ferry_path_safe(const char *path);

#ifdef __cplusplus
}
#endif
#endif
