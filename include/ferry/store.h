/*
 * ferry stores: init/open a store, push a tree into a new snapshot, pull a
 * snapshot back, verify, list. This is the synchronous local implementation;
 * the io_uring pipeline and the backend vtable replace its I/O underneath.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "ferry/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Problems met while running: called once per problem, with the file path or object it concerns. */
typedef void (*ferry_problem_fn)(void *arg, const char *what, const char *chunk, int err, const char *detail);

struct ferry_run {
	ferry_problem_fn problem; /* may be NULL */
	void *problem_arg;
	int verbose;
	int dry_run;
	/* resources: 0 means the default */
	int jobs;            /* worker threads (default: the cores) */
	uint64_t memory;     /* buffer budget in bytes (default 256 MiB) */
	int direct;          /* O_DIRECT reads of source files */
	unsigned depth;      /* io_uring queue depth (default 64) */
	uint64_t small_file; /* files below this are packed (default 1 MiB) */
	uint64_t pack_size;  /* target pack object size (default 64 MiB) */
	/* progress, called now and then on the loop's thread (may be NULL) */
	void (*progress)(void *arg, const struct ferry_run *r);
	void *progress_arg;
	/* sync: compare with the latest snapshot and send only new and changed files */
	int incremental;
	int always_snapshot; /* write a snapshot even when nothing changed */
	/* sync --checksum: a file whose size matches is compared by its xxh128, not its
	 * mtime (only such files are read); equal content with another mtime moves no data */
	int checksum;
	uint64_t files_hashed, bytes_hashed;
	/* pull-side sync: keep local files whose size and mtime match; delete_extra also
	 * removes local entries the snapshot does not have */
	int delete_extra;
	uint64_t files_deleted;
	/* statistics, filled by the run */
	uint64_t files_total;
	uint64_t bytes_total; /* bytes of the files found so far (for an ETA) */
	uint64_t files_transferred;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t objects_checked;
	uint64_t chunks_checked;
	uint64_t errors;
	uint64_t files_unchanged; /* sync: carried into the new snapshot by reference */
	uint64_t files_resumed;   /* push/sync: stored by an interrupted run, carried by reference */
	uint64_t bytes_resumed;   /* push/sync: bytes of parts on the server already, not sent again */
	uint64_t parts_resumed;   /* push/sync/copy: those parts (multipart uploads continued) */
	uint64_t uploads_aborted; /* push/sync: unfinished uploads of interrupted runs aborted */
	int no_change;            /* sync: nothing changed, so no snapshot was written */
	uint64_t integrity_errors; /* the subset of errors that are corruption or tampering */
	char snapshot[64]; /* snapshot written (push) or read (pull) */
	/* unattended runs (include/ferry/unattended.h) */
	struct ferry_rate *rate;  /* bandwidth limit on store reads and writes (NULL: none) */
	double deadline;          /* push: CLOCK_MONOTONIC seconds after which no new file is started (0: none) */
	int partial;              /* push: stopped at the deadline; the snapshot is marked partial */
	uint64_t files_deferred;  /* push: files left for the next run by the deadline */
	struct ferry_lock *lock;  /* push: the manifest is committed only while this lock is held */
	unsigned shard_index, shard_count; /* push: only paths with ferry_shard_of() == index (count > 1) */
	const char *shard_group;  /* push with shards: the partial manifest goes to partial/<group>/ */
	/* copy: the options for the backends it opens (struct ferry_kv, include/ferry/backend.h;
	 * NULL: none); copy --plan's routes too, each with its own endpoint and bind first */
	const struct ferry_kv *backend_opts;
};

struct ferry_store;

struct ferry_init_opts {
	uint32_t chunk_size; /* 0: FERRY_CHUNK_DEFAULT */
	int level;           /* 0..19, -1: default (3) */
	unsigned log2n;      /* scrypt cost, 0: default */
};

struct ferry_kv;

/* Creates a store at path; refuses a non-empty directory that is not a store. */
int ferry_store_init(const char *path, const struct ferry_init_opts *o, const struct ferry_secret *secret,
		     char *msg, size_t msglen) FERRY_MUST_CHECK;
/* ferry_store_init with backend options (include/ferry/backend.h, struct ferry_kv; may be NULL). */
int ferry_store_init_with(const char *path, const struct ferry_init_opts *o, const struct ferry_kv *opts,
			  const struct ferry_secret *secret, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* Opens a store; secret may be NULL for a plain store. */
int ferry_store_open(struct ferry_store **out, const char *path, const struct ferry_secret *secret, char *msg,
		     size_t msglen) FERRY_MUST_CHECK;
/* ferry_store_open with backend options (may be NULL). The store keeps a copy: its
 * replicas and routes open their backends with the same ones, their own endpoint first. */
int ferry_store_open_with(struct ferry_store **out, const char *path, const struct ferry_kv *opts,
			  const struct ferry_secret *secret, char *msg, size_t msglen) FERRY_MUST_CHECK;
void ferry_store_close(struct ferry_store *s);
int ferry_store_encrypted(const struct ferry_store *s);

int ferry_push(struct ferry_store *s, const char *src, struct ferry_run *r) FERRY_MUST_CHECK;
/* snap NULL or "" means the latest. includes: NULL-terminated glob list, or NULL for all. */
int ferry_pull(struct ferry_store *s, const char *snap, const char *dst, const char *const *includes,
	       struct ferry_run *r) FERRY_MUST_CHECK;
int ferry_verify(struct ferry_store *s, int read_data, struct ferry_run *r) FERRY_MUST_CHECK;

/* Snapshot ids, oldest first, written one per line to out. */
int ferry_snapshots(struct ferry_store *s, FILE *out, char *msg, size_t msglen) FERRY_MUST_CHECK;

/* ---- a snapshot's entries, one at a time, in walk order (FORMAT.md §6) ---- */
struct ferry_entry; /* include/ferry/manifest.h */
struct ferry_snapshot_iter;
/* Opens snapshot snap (the latest complete one if snap is NULL or "") of s for reading;
 * s must stay open until the iterator is closed. msg names the store and the snapshot. */
int ferry_snapshot_entries_open(struct ferry_store *s, const char *snap, struct ferry_snapshot_iter **it,
				char *msg, size_t msglen) FERRY_MUST_CHECK;
/* 1: *e is the next entry, valid until the next call; 0: the end (the manifest's count
 * checked); < 0: -FERRY_E_*, msg says why. Manifests are untrusted: entries come bounded
 * in length and in strict walk order, or not at all. */
int ferry_snapshot_entries_next(struct ferry_snapshot_iter *it, const struct ferry_entry **e, char *msg,
				size_t msglen) FERRY_MUST_CHECK;
/* The snapshot's id (the one picked when the latest was asked for). */
const char *ferry_snapshot_entries_name(const struct ferry_snapshot_iter *it);
/* Accepts NULL. */
void ferry_snapshot_entries_close(struct ferry_snapshot_iter *it);

#ifdef __cplusplus
}
#endif
#endif
