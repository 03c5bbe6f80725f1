/*
 * Unattended operation: store locks, prune, bandwidth limits, sharded pushes and
 * their merge. Everything here goes through the backend's small synchronous ops
 * (get / put / list / del), so it works on any backend, S3 included.
 */
#ifndef FERRY_UNATTENDED_H
#define FERRY_UNATTENDED_H

#include <stdint.h>

#include "ferry/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- locks (locks/<id> objects; docs/OPERATIONS.md has the protocol) ---- */

enum ferry_lock_kind {
	FERRY_LOCK_EXCLUSIVE = 1, /* push, sync, prune: conflicts with every other lock */
	FERRY_LOCK_SHARD = 2,     /* a sharded push: compatible with the shards of the same group */
	FERRY_LOCK_MERGE = 3,     /* merging a group: compatible with that group's shard locks only */
};

struct ferry_lock_opts {
	enum ferry_lock_kind kind;
	const char *group;   /* shard group (SHARD, MERGE), else NULL */
	const char *command; /* recorded in the lock, e.g. "sync" */
	uint64_t stale_after; /* seconds without a heartbeat before a lock is broken (0: 900) */
	ferry_problem_fn note; /* told when a stale lock is broken (may be NULL) */
	void *note_arg;
};

struct ferry_lock;

/*
 * Takes a lock on the store, or fails with FERRY_E_LOCKED and msg naming the holder
 * (host, pid, command, age). Stale locks are broken (and reported through note).
 * A heartbeat thread rewrites the lock every stale_after / 4 until release.
 */
int ferry_lock_acquire(struct ferry_store *s, const struct ferry_lock_opts *o, struct ferry_lock **out, char *msg,
		       size_t msglen) FERRY_MUST_CHECK;
/* 1 while the lock is ours; 0 once it was found deleted (broken by another run). */
int ferry_lock_held(struct ferry_lock *l);
/* Stops the heartbeat and deletes the lock object. NULL is fine. */
void ferry_lock_release(struct ferry_lock *l);

/* ---- bandwidth limit: one token bucket for a whole run ---- */

struct ferry_rate;
/*
 * "10M", "1G", "512K" (bytes per second), "off", or a timetable of local times and
 * rates: "08:00,10M 18:00,off" (a rate holds from its time until the next one, and
 * the last one wraps past midnight); ferry_parse_timetable in ferry/units.h reads it.
 * msg names what is wrong.
 */
int ferry_rate_create(struct ferry_rate **out, const char *spec, char *msg, size_t msglen) FERRY_MUST_CHECK;
void ferry_rate_destroy(struct ferry_rate *r);
/* Takes n bytes from the bucket, sleeping while it is in debt. Thread-safe. */
void ferry_rate_take(struct ferry_rate *r, uint64_t n);

/* ---- prune ---- */

struct ferry_prune_opts {
	unsigned keep_last, keep_daily, keep_weekly, keep_monthly;
	int dry_run;
	/* repack packs more than this percent garbage (1..99); 0: the default, 50; > 99: never */
	unsigned repack_threshold;
};

struct ferry_prune_result {
	uint64_t snapshots_total, snapshots_kept, snapshots_deleted;
	uint64_t objects_total, objects_deleted, bytes_deleted;
	uint64_t objects_kept, bytes_kept;
	/* repack: packs rewritten, their stored bytes, the new packs and their stored bytes,
	 * the snapshots whose manifests now point at the new packs */
	uint64_t packs_repacked, packs_repacked_bytes, packs_written, packs_written_bytes, manifests_rewritten;
};

/* Lists kept / deleted snapshots through out (may be NULL) as "keep ID" / "delete ID" lines. */
int ferry_prune(struct ferry_store *s, const struct ferry_prune_opts *o, struct ferry_prune_result *res,
		void (*out)(void *arg, const char *what, const char *snap), void *arg, char *msg,
		size_t msglen) FERRY_MUST_CHECK;

/* ---- sharding ---- */

/* Which shard a path belongs to: xxh3-64 (seed 0) of the path, modulo n. */
unsigned ferry_shard_of(const char *path, unsigned n);
/* A shard group name: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
int ferry_shard_group_ok(const char *g);
/*
 * Merges the partial manifests partial/<group>/<i>-of-<n> into one snapshot (id in
 * snap) and deletes them. FERRY_E_NOTFOUND (msg says which) while some are missing.
 */
int ferry_snapshot_merge(struct ferry_store *s, const char *group, char snap[64], uint64_t *entries, char *msg,
			 size_t msglen) FERRY_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
