/* Snapshot manifests: every entry's path, metadata, hash and chunk location (FORMAT.md §6). */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FERRY_ENTRY_* and FERRY_PATH_MAX are in codec.h */
#define FERRY_ENTRY_FIXED_LEN 84
#define FERRY_ENTRY_MAX_LEN (FERRY_ENTRY_FIXED_LEN + 2 * FERRY_PATH_MAX)
#define FERRY_MANIFEST_HDR_LEN 24
#define FERRY_MANIFEST_TRAILER_LEN 16

struct ferry_entry {
	uint8_t type;
	uint32_t mode; /* permission bits (07777) */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;
	uint8_t hash[16]; /* xxh128 of the file's bytes, big-endian (as xxhsum prints) */
	uint8_t object_id[FERRY_ID_LEN];
	uint32_t first_chunk;
	uint32_t chunk_offset; /* where the file starts inside its first chunk (packed small files) */
	uint32_t chunk_count;  /* 0 for empty files, directories, symlinks */
	uint64_t object_size;  /* stored size of the whole object, for verify without reading data */
	char *path;            /* relative, '/'-separated, no NUL */
	char *target;          /* symlink target, else NULL */
};

/* ---- one entry at a time (streaming writers and readers) ---- */

/* Encoded size of e; 0 when a string is empty or too long. */
size_t ferry_entry_size(const struct ferry_entry *e);
void ferry_entry_encode(const struct ferry_entry *e, uint8_t *out);
/*
 * Decodes one entry from p[avail]. path/target are copied into strs (capacity
 * 2 * (FERRY_PATH_MAX + 1)) and e's pointers point there. FERRY_E_TRUNCATED when
 * avail does not yet hold the whole entry (need more bytes), FERRY_E_FORMAT when
 * it can never be one. *used receives the entry's length.
 */
int ferry_entry_decode(const uint8_t *p, size_t avail, struct ferry_entry *e, char *strs,
		       size_t *used) FERRY_MUST_CHECK;
void ferry_manifest_header_encode(uint64_t created, uint8_t out[FERRY_MANIFEST_HDR_LEN]);
int ferry_manifest_header_decode(const uint8_t *p, size_t len, uint64_t *created) FERRY_MUST_CHECK;
void ferry_manifest_trailer_encode(uint64_t count, uint8_t out[FERRY_MANIFEST_TRAILER_LEN]);
int ferry_manifest_trailer_decode(const uint8_t *p, size_t len, uint64_t *count) FERRY_MUST_CHECK;

/* ---- whole manifests in memory (small snapshots, tests, fuzzing) ---- */

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
