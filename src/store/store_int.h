/* Internals shared by the store's commands (store.c, push.c, pull.c). */
#ifndef FERRY_STORE_INT_H
#define FERRY_STORE_INT_H

#include <stdarg.h>
#include <stdint.h>

#include "ferry/backend.h"
#include "ferry/codec.h"
#include "ferry/manifest.h"
#include "ferry/replica.h"
#include "ferry/store.h"

#define MANIFEST_MAX_BYTES (1ull << 40)
#define DEFAULT_SMALL_FILE (1ull << 20)
#define DEFAULT_PACK_SIZE (64ull << 20)

struct ferry_store {
	char *path;
	struct ferry_loop *loop;
	struct ferry_backend *b;
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	struct ferry_codec *codec; /* for the loop thread: manifests */
	struct replset *replicas;  /* pull: where data objects are read from (replica.c), or NULL */
	struct routeset *routes;   /* push --plan: b is route.c's wrapper spreading objects over these, or NULL */
	struct ferry_kv *opts;     /* the backend options it was opened with (a copy), for replicas and routes */
};

void store_problem(struct ferry_run *r, const char *what, const char *chunk, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A store whose backend reads and writes through the loop's own ring (local disk): a
 * few chunks in flight keep it busy. Network backends want the whole budget. */
static inline int store_local(const struct ferry_store *s)
{
	return (s->b->ops->caps & FERRY_CAP_FIXED_BUFFERS) != 0;
}


void store_setmsg(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void store_hex(const uint8_t *b, size_t n, char *out);
/* "data/ab/abcdef…": the store key of an object */
void store_object_key(const uint8_t id[FERRY_ID_LEN], char out[64]);
/* A negative result of b as text: b's own message for it when it gave one. */
const char *store_berr(const struct ferry_backend *b, int res);
/* Runs the loop until *flag becomes non-zero (synchronous use of async hooks). */
void store_wait(struct ferry_store *s, const int *flag);

/* ---- whole objects, synchronously (manifests) ---- */

/* An object open for reading: header, footer and index read and checked. */
struct objreader {
	struct ferry_robj *r;
	struct ferry_object_hdr h;
	struct ferry_object_footer f;
	struct ferry_index_entry *idx;
	uint64_t size;
	uint8_t id[FERRY_ID_LEN];
};
int objreader_open(struct ferry_store *s, const char *key, const uint8_t *want_id, struct objreader *o, char *why,
		   size_t whylen);
void objreader_close(struct ferry_store *s, struct objreader *o);
/* Reads frame i into buf (capacity cap) synchronously. */
int objreader_read_frame(struct ferry_store *s, struct objreader *o, uint32_t i, uint8_t *buf, size_t cap);

/* One synchronous read or write through the asynchronous hooks: 0 or a negative backend result. */
int store_read_sync(struct ferry_store *s, struct ferry_robj *r, void *buf, size_t len, uint64_t off);
int store_write_sync(struct ferry_store *s, struct ferry_wobj *w, const void *buf, size_t len, uint64_t off);

/* Streaming manifest reader: entries one at a time, chunk by chunk. */
struct mreader {
	struct ferry_store *s;
	struct objreader o;
	uint32_t next_chunk;
	uint8_t *frame, *plain;
	uint8_t *carry; /* bytes of a partial entry */
	size_t carry_len, carry_cap;
	size_t plain_len, plain_pos;
	uint64_t consumed, total, count;
	char *strs;
	int header_done, ended;
	char name[64];
	uint64_t created;
};
int mreader_open(struct ferry_store *s, const char *snap, struct mreader *m, char *msg, size_t msglen);
/* The same for any manifest object (partial manifests of a shard group); m must be zeroed. */
int mreader_open_key(struct ferry_store *s, const char *key, struct mreader *m, char *msg, size_t msglen);
/* 1 with an entry (valid until the next call), 0 at the end, < 0 a ferry error (msg set). */
int mreader_next(struct mreader *m, struct ferry_entry *e, char *msg, size_t msglen);
void mreader_close(struct mreader *m);

/* Streaming manifest writer: entries go out chunk by chunk as they come. */
struct mwriter {
	struct ferry_store *s;
	struct ferry_wobj *w;
	struct ferry_object_hdr h;
	uint8_t hdrbuf[FERRY_OBJ_HDR_LEN];
	uint8_t *plain, *frame;
	size_t len;
	uint32_t index;
	uint64_t pos, total, count;
	uint8_t *idx;
	size_t idx_len, idx_cap;
	char key[96];
	int err;
	char why[600]; /* the backend's reason when finishing failed, or "" */
};
int mwriter_open(struct ferry_store *s, struct mwriter *m, const char *snap_id, uint64_t created);
int mwriter_open_key(struct ferry_store *s, struct mwriter *m, const char *key, uint64_t created);
int mwriter_add(struct mwriter *m, const struct ferry_entry *e);
/* Writes the trailer and the last chunk, then commits durably: the snapshot appears. */
int mwriter_finish(struct mwriter *m);
void mwriter_abort(struct mwriter *m);

int store_snapshot_id(char out[64]);
/* A growable list of strings (snapshot names, keys). */
struct store_strlist {
	char **v;
	size_t n, cap;
};
/* Appends a copy of name; 0 or FERRY_BERR(FERRY_E_NOMEM) (fit for a backend list callback). */
int store_strlist_add(struct store_strlist *l, const char *name);
void store_strlist_free(struct store_strlist *l);
/* Walk order, as the scanner produces and manifests keep it: component by component,
 * each compared bytewise, so a directory's entries come right after it. */
int store_cmp_walk(const char *a, const char *b);
/* The latest complete snapshot (partial ones are skipped). */
int store_latest_snapshot(struct ferry_store *s, char out[64]);
/* The latest snapshot, partial ones included when include_partial. */
int store_latest(struct ferry_store *s, char out[64], int include_partial);
/* A snapshot stopped by --max-duration has a marker object PARTIAL_MARK_PREFIX<id>, written
 * before its manifest, so it never looks complete. */
#define PARTIAL_MARK_PREFIX "partial-snapshots/"
/* Ids of partial snapshots, sorted; free with store_names_free. */
int store_partial_names(struct ferry_store *s, char ***names, size_t *n);
/* Is name in the sorted list? */
int store_name_in(char *const *names, size_t n, const char *name);
/* All snapshot ids, oldest first; free with store_names_free. */
int store_snapshot_names(struct ferry_store *s, char ***names, size_t *n);
void store_names_free(char **names, size_t n);

/* ---- repack (prune's second half: packs that are mostly garbage are rewritten) ---- */
struct repack;
struct ferry_prune_result;
/* threshold: repack a pack when more than this percent of its plaintext is garbage. */
int repack_create(struct repack **out, struct ferry_store *s, unsigned threshold, size_t nsnaps);
/* Pass 1: every file entry of kept snapshot snap (an index below nsnaps). */
int repack_note(struct repack *rp, size_t snap, const struct ferry_entry *e);
/* An object a pending shard manifest references: never repacked (its manifest is not ours to rewrite). */
int repack_exclude(struct repack *rp, const uint8_t *id);
/* Picks the packs, writes their live files into new packs, rewrites the kept snapshots
 * (names[i] for the i noted) to point at them. With dry_run only counts. Afterwards the
 * old packs are garbage: repack_old() lists them (id, stored size) for deletion. */
int repack_run(struct repack *rp, char *const *names, int dry_run, struct ferry_prune_result *res, char *msg,
	       size_t msglen);
size_t repack_old(const struct repack *rp, const uint8_t **ids, const uint64_t **sizes);
void repack_destroy(struct repack *rp);


/* ---- replicas of a store (replica.c): the sources a pull reads data objects from ---- */
struct replica {
	struct ferry_store view; /* the store seen through this replica's backend (no key bytes) */
	struct ferry_store *s;   /* what to read through: the store itself, or &view */
	char name[32];
	char url[1024];
	double price; /* USD per GB, < 0 unknown */
	int primary, reachable;
	unsigned ioerrs;  /* reads that failed for want of the replica, not of the object */
	uint64_t objects, bytes, fallbacks;
	unsigned notes; /* lines written about it (a few, then a count at the end) */
};
struct replset {
	struct replica v[FERRY_REPLICAS_MAX]; /* cheapest first */
	unsigned n;
	void (*note)(void *arg, const char *line);
	void *note_arg;
};
/* A line about replica k through the set's note (the first few per replica; the rest are counted). */
void replica_note(struct replset *rs, unsigned k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Is replica k usable for another object? (reachable, and not failing every read) */
int replica_usable(const struct replset *rs, unsigned k);


#endif
