/* pull's private parts: the run, open objects, chunk slots, files being restored, shared by pull*.c. */
#ifndef FERRY_PULL_INT_H
#define FERRY_PULL_INT_H

#include "pipeline.h"
#include "localfs.h"
#include "transfer_int.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define OBJ_CACHE 32
#define CHUNK_CACHE 4

struct pull;
struct xfile;

/* An object open for reading, shared by the files whose chunks it holds. With replicas
 * (replica.c) it is opened at the cheapest source that has it (cur); a source that fails a
 * chunk is left for the next one, opened then. Without, source 0 is the store. */
struct cobj {
	struct objreader o[FERRY_REPLICAS_MAX];
	uint8_t tried[FERRY_REPLICAS_MAX]; /* 0 not yet, 1 open, 2 failed to open, 3 failed a chunk */
	uint8_t id[FERRY_ID_LEN];
	int cur;
	int users;
	int valid, failed;
	unsigned long last_use;
	char key[64];
};

/* One chunk being fetched and decoded; shared by every file that needs it. */
struct pslot {
	struct ferry_job job;
	struct ferry_io io;
	struct pull *p;
	uint8_t *plain, *frame;
	int plain_bi, frame_bi;
	size_t plain_len;
	struct cobj *obj;
	int src;     /* the source (replica) it is fetched from */
	int err0;    /* the first failure, while it waits to be fetched from the next source */
	struct pslot *next_retry;
	uint32_t index;
	int refs;    /* files using it, + 1 while it is the shared chunk cache */
	int ready;   /* decoded (or failed) */
	int err;
	struct use *waiters; /* files waiting for it to be ready */
};

/* A file's claim on one chunk. */
struct use {
	struct ferry_ev ev; /* the write's completion */
	struct xfile *f;
	struct pslot *slot;
	uint32_t k;   /* chunk number within the file */
	uint8_t *wbuf; /* what is being written, and where */
	size_t wlen, wdone;
	uint64_t woff;
	struct use *next;
	struct use *next_waiter;
	struct use *next_write;
	int ready;
};

struct xfile {
	struct pull *p;
	struct ferry_entry e;
	char *path;
	char tmp[64];
	const char *base;
	int pfd, fd;
	struct cobj *obj;
	uint32_t next_fetch, next_deliver;
	uint64_t pos;
	uint64_t kept; /* bytes an interrupted pull had written (resume_partial) */
	unsigned writes;
	struct ferry_filehash *fh;
	struct use *uses; /* claimed, not yet delivered, sorted by k */
	/* one write in flight per file (buffered writes to one file serialize on its inode
	 * anyway); the rest wait here in order */
	struct use *writing, *wq_head, *wq_tail;
	int failed;
};

struct dirmeta {
	char *path;
	uint32_t mode;
	int64_t sec;
	uint32_t nsec;
};

struct pull {
	struct localfs_hashing hashing; /* sync --checksum */
	unsigned base_inflight; /* the loop's standing watches (waker, a backend's): not our I/O */
	unsigned fetching;      /* frame reads out (a network backend's are not on the ring) */
	struct ferry_store *s;
	struct ferry_run *r;
	struct replset *rs; /* the store's replicas, or NULL: everything from the store */
	struct pslot *retry; /* chunks that failed at one source, for the next */
	struct ferry_loop *loop;
	struct ferry_workers *wk;
	struct ferry_waker waker;
	struct ferry_slots pool; /* the memory budget */
	struct pslot *slots;     /* slot i holds the pool's pair i */
	size_t chunk, bufsize;
	struct mreader m;
	const char *snap_name;
	int verify;
	int root;
	const char *const *includes;
	struct cobj cache[OBJ_CACHE];
	unsigned long tick;
	struct pslot *shared[CHUNK_CACHE]; /* the last chunks fetched, most recent first */
	struct xfile *cur;    /* the file still claiming chunks */
	unsigned files_inflight;
	int manifest_done;
	int fatal;
	int nospace; /* the destination is full: start no more files */
	uint64_t nospace_more; /* files that failed for lack of space after the first */
	struct dirmeta *dirs;
	size_t ndirs, capdirs;
	/* an entry waiting for an object slot (the manifest reader's buffers move on) */
	struct ferry_entry stalled;
	char stalled_path[FERRY_PATH_MAX + 1];
	int have_stalled;
	char parent_path[FERRY_PATH_MAX + 1];
	int parent_fd;
	double last_progress;
	struct journal *j; /* what an interrupted pull restored, and what this one does */
};

/* pull_fetch.c: objects open at a source (replicas), chunks fetched and decoded, the chunk cache */
unsigned pull_nsrc(const struct pull *p);
struct ferry_store *pull_src_store(const struct pull *p, int k);
void pull_cobj_close(struct pull *p, struct cobj *c);
struct cobj *pull_cobj_get(struct pull *p, const uint8_t id[FERRY_ID_LEN], char *why, size_t whylen, int *err);
void pull_pslot_unref(struct pull *p, struct pslot *sl);
void pull_chunk_ready(struct pull *p, struct pslot *sl, int err);
int pull_retry_later(struct pull *p, struct pslot *sl, int err);
void pull_retry(struct pull *p);
int pull_file_claim(struct pull *p, struct xfile *f);

/* pull_file.c: destination paths, one file restored (temporary name, writes, checks,
 * rename), directories and symlinks */
int pull_open_parent(struct pull *p, const char *rel, const char **base);
int pull_ensure_dst(const char *dst);
void pull_file_maybe_done(struct xfile *f);
void pull_file_deliver(struct xfile *f);
int pull_start_file(struct pull *p, const struct ferry_entry *e);
void pull_restore_other(struct pull *p, const struct ferry_entry *e);
void pull_finish_dirs(struct pull *p);

/* pull_sweep.c: sync against what the destination holds */
int pull_local_matches(struct pull *p, const struct ferry_entry *e);
void pull_delete_extra(struct ferry_store *s, const char *snap, const char *dst, struct ferry_run *r);

#endif
