/* push's private parts: the run, its slots, objects, files being read and entries, shared by push*.c. */
#ifndef FERRY_PUSH_INT_H
#define FERRY_PUSH_INT_H

#include "pipeline.h"
#include "localfs.h"
#include "transfer_int.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

struct push;
struct wobj;
struct rfile;

struct slot {
	struct ferry_job job;
	struct ferry_io io;
	struct push *p;
	uint8_t *plain, *frame;
	int plain_bi, frame_bi;
	size_t plain_len, frame_len;
	struct wobj *obj;
	uint32_t index;
	int last;
	struct rfile *file; /* the large file this chunk is part of, or NULL in a pack */
	uint64_t file_off;
	size_t got;
	int pending; /* pack: small-file reads still landing in this chunk */
	int sealed;  /* pack: no more files go in */
	struct slot *next;
};

struct wobj {
	struct push *p;
	struct ferry_wobj *w;
	struct ferry_object_hdr hdr;
	uint8_t hdrbuf[FERRY_OBJ_HDR_LEN];
	struct ferry_io hdr_io, tail_io;
	uint8_t *tail; /* index + footer */
	uint32_t nchunks; /* chunks assigned so far (packs) or in all (files) */
	uint32_t next_commit;
	uint64_t pos, plain_total;
	uint8_t *idx;
	size_t idx_len, idx_cap;
	struct slot *waiting; /* encoded chunks waiting for their predecessors, by index */
	int writes;           /* writes in flight */
	int busy;             /* slots holding its data */
	int closed, tail_sent, committed, failed, done;
	int refs; /* manifest entries still pointing here, + 1 while the pipeline uses it */
	struct rfile *file; /* the large file it holds, while that is being read */
	struct pent *pe;    /* the large file's entry, until it leaves */
	uint64_t final_size;
	char key[64];
};

struct pent {
	struct pent *next;
	struct ferry_entry e;
	struct wobj *obj;
	int ready, failed;
	int resumed;   /* carried from the journal: already in it */
	int journaled; /* written to the journal */
};

struct rfile {
	struct push *p;
	int fd;
	struct stat st0;
	uint32_t nchunks, next_read, reads_done, hashed;
	struct ferry_filehash *fh;
	struct pent *pe;
	struct wobj *obj;
	int failed;
	int direct;      /* opened with O_DIRECT: reads must be whole blocks */
	int outstanding; /* slots of this file not yet released */
};

struct push {
	struct localfs_hashing hashing; /* sync --checksum */
	unsigned base_inflight; /* the loop's standing watches (waker, a backend's): not our I/O */
	struct ferry_store *s;
	struct ferry_run *r;
	struct ferry_backend *b;
	struct ferry_loop *loop;
	struct ferry_workers *wk;
	struct ferry_scan *scan;
	const char *src;
	struct ferry_waker waker;
	struct ferry_slots pool; /* the memory budget */
	struct slot *slots;      /* slot i holds the pool's pair i */
	size_t chunk, bufsize;
	uint64_t small_limit, pack_size;
	struct ferry_scan_item *stalled;
	int scan_done;
	struct pent *ehead, *etail;
	unsigned epending;
	struct rfile *reading;
	struct wobj *pack;
	struct slot *pack_slot;
	uint64_t pack_bytes;
	unsigned small_inflight;
	unsigned objs_live;
	struct mwriter mw;
	int fatal;
	int stopping; /* --max-duration reached: objects not yet committed are cancelled */
	double last_progress;
	/* sync: the latest snapshot, read alongside the scan (both are in walk order) */
	struct mreader old;
	int have_old, old_done, old_valid, changed;
	struct ferry_entry olde;
	char old_path[FERRY_PATH_MAX + 1], old_target[FERRY_PATH_MAX + 1];
	struct journal *j; /* what an interrupted run stored, and what this one stores */
	int complete;      /* the snapshot is written (or nothing changed): the journal can go */
};

/* push.c: the slots (the memory budget) and the manifest entries */
struct slot *push_slot_get(struct push *p);
void push_slot_put(struct push *p, struct slot *sl);
struct pent *push_pent_new(struct push *p, const struct ferry_scan_item *it);

/* push_object.c: objects written, frames placed in chunk order, chunks encoded */
struct wobj *push_obj_open(struct push *p, struct jupload *up);
void push_obj_unref(struct wobj *o);
void push_obj_fail(struct wobj *o, int err);
void push_obj_maybe_finish(struct wobj *o);
void push_encode(struct push *p, struct slot *sl);
void push_encoded(struct push *p, struct slot *sl);

/* push_read.c: large files (objects of their own) and packs of small files */
void push_rfile_release(struct rfile *f);
void push_rfile_chunk_hashed(struct rfile *f, struct slot *sl);
void push_rfile_finish_if_done(struct rfile *f);
void push_rfile_pump(struct push *p);
void push_start_large(struct push *p, struct ferry_scan_item *it);
void push_pack_seal(struct push *p, int last);
int push_start_small(struct push *p, struct ferry_scan_item *it);

/* push_sync.c: each scanned item against the latest snapshot and the journal */
void push_sync_open(struct push *p);
int push_take_item(struct push *p, struct ferry_scan_item *it);

#endif
