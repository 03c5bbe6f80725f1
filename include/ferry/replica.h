/*
 * Replicas of a store: other locations holding the same objects (the same store copied to
 * another bucket, endpoint or a local mirror). A pull takes the manifest from the store
 * and each data object from the cheapest replica that has it and reads it back intact
 * (docs/PLANNER.md, "Replicas").
 */
#ifndef FERRY_REPLICA_H
#define FERRY_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_REPLICAS_MAX 8 /* the store included */

struct ferry_replica_spec {
	const char *name;     /* for messages and --json */
	const char *url;      /* a local path, file://PATH or s3://BUCKET[/PREFIX] */
	const char *endpoint; /* the S3 endpoint of this replica; NULL or "": the default */
	double price_per_gb;  /* USD per GB (10^9 bytes) read from it; < 0 not given */
};

struct ferry_replica_report {
	char name[32];
	char url[1024];
	double price_per_gb; /* < 0: unknown */
	int primary;         /* the store itself */
	int reachable;       /* its config was read and matched the store's */
	uint64_t objects;    /* data objects opened there */
	uint64_t bytes;      /* chunk frames read from it */
	uint64_t fallbacks;  /* objects or chunks it could not serve (read elsewhere) */
};

struct ferry_store;
/*
 * Reads s's data objects from the cheapest of primary (s itself) and v[0..n). Each replica
 * is opened on s's loop and its config compared with s's: another store id is refused
 * (FERRY_E_FOREIGN), a URL no backend takes is refused (FERRY_E_INVAL), msg names it. A
 * replica that cannot be reached is kept out of the run with one line through note.
 * Order: by price; unknown prices after known ones, the store first among those; a local
 * path without a price costs 0. Lines about fallbacks during the run go through note too.
 */
int ferry_store_replicas(struct ferry_store *s, const struct ferry_replica_spec *primary,
			 const struct ferry_replica_spec *v, size_t n, void (*note)(void *arg, const char *line),
			 void *note_arg, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* What each source served, in the order they are tried. Returns the count (at most cap). */
size_t ferry_store_replica_report(const struct ferry_store *s, struct ferry_replica_report *out, size_t cap);
/* Closes the replicas (before ferry_store_close: they run on the store's loop). */
void ferry_store_replicas_close(struct ferry_store *s);
/* 1 when a and b name the same place: local paths resolved (symlinks, "..", file://),
 * trailing slashes ignored. */
int ferry_same_location(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
