/* Pipeline internals shared by push, pull and copy: worker pool, scanner thread, wake-ups. */
#ifndef FERRY_PIPELINE_H
#define FERRY_PIPELINE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ferry/backend.h"
#include "ferry/codec.h"

/* ---- worker pool: CPU stages (hash, compress, encrypt and back) on one thread per core ---- */

struct ferry_job {
	struct ferry_job *next;
	/* runs on a worker with that worker's codec; the result goes in err */
	void (*fn)(struct ferry_job *j, struct ferry_codec *c);
	int err;
};

struct ferry_workers;

/* wake_fd: an eventfd written whenever jobs finish. keys/level/max_chunk configure each worker's codec. */
int ferry_workers_create(struct ferry_workers **out, int n, const struct ferry_keys *keys, int level, size_t max_chunk,
			 int wake_fd) FERRY_MUST_CHECK;
void ferry_workers_destroy(struct ferry_workers *w);
void ferry_workers_submit(struct ferry_workers *w, struct ferry_job *j);
/* Finished jobs, in no particular order (NULL when none). Never blocks. */
struct ferry_job *ferry_workers_reap(struct ferry_workers *w);
unsigned ferry_workers_busy(struct ferry_workers *w);

/* ---- scanner: walks a source tree on its own thread, into a bounded queue ---- */

struct ferry_scan_item {
	struct ferry_scan_item *next;
	uint8_t type; /* FERRY_ENTRY_* or 0 for a problem report */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	char *path;   /* relative to the root */
	char *target; /* symlink target */
	char *error;  /* a problem to report (type 0) */
};

struct ferry_scan;
int ferry_scan_start(struct ferry_scan **out, const char *root, unsigned queue_cap, int wake_fd) FERRY_MUST_CHECK;
/* Next item or NULL; *done is set once the walk has ended and the queue is empty. */
struct ferry_scan_item *ferry_scan_next(struct ferry_scan *s, int *done);
void ferry_scan_item_free(struct ferry_scan_item *it);
/* Stops the walk early (if running) and frees everything. */
void ferry_scan_stop(struct ferry_scan *s);

/* Writes 1 to an eventfd (wake the loop). */
void ferry_wake(int fd);

/* ---- the memory budget: pairs of aligned buffers, registered as io_uring fixed buffers ---- */

struct ferry_bufs {
	unsigned n;    /* pairs */
	size_t size;   /* bytes per buffer */
	uint8_t **buf; /* 2n buffers: pair i is buf[2i] and buf[2i+1], fixed-buffer indexes 2i and 2i+1 */
	uint8_t *used; /* pairs that were handed out, so only those are wiped */
};

/* Marks pair i as holding data (it is wiped at destroy). */
static inline void ferry_bufs_touch(struct ferry_bufs *b, unsigned i)
{
	b->used[i] = 1;
}

/* How many pairs of size-byte buffers fit in memory once reserve is set aside (4 … 1024). */
unsigned ferry_budget_pairs(uint64_t memory, uint64_t reserve, size_t size);
/* The pairs a pipeline uses: what the budget allows, but no more than depth (0: no cap).
 * Local disks need only a few chunks in flight to stay busy, and every buffer page
 * costs a fault the first time the process touches it (~24 us per 4 KiB page on this
 * VM kind: 256 MiB of fresh buffers is ~1.5 s), so a small set of buffers used over and
 * over (LIFO free lists) beats a large one touched once. */
unsigned ferry_pipeline_pairs(uint64_t memory, uint64_t reserve, size_t size, unsigned depth);
int ferry_bufs_create(struct ferry_bufs *b, struct ferry_loop *l, unsigned n, size_t size) FERRY_MUST_CHECK;
/* Unregisters, wipes (buffers held plaintext) and frees. */
void ferry_bufs_destroy(struct ferry_bufs *b, struct ferry_loop *l);

/* ---- the slot pool of a codec pipeline (push, pull): the budget's buffer pairs, handed out as slots ---- */

struct ferry_slots {
	struct ferry_bufs bufs; /* slot i is pair i */
	unsigned n;             /* slots */
	unsigned nfree;
	unsigned *free; /* indexes of free slots, a stack: the slot put back last is taken next,
			 * so a run keeps reusing the few buffers whose pages are already mapped */
};

/* Sizes the pool from a run's memory budget (0: DEFAULT_MEMORY) less the codecs' reserve
 * for jobs workers, in pairs of buffers big enough for one frame of a chunk-byte chunk,
 * at most depth pairs (0: no cap, see ferry_pipeline_pairs); allocates the buffers and
 * registers them with the loop. */
int ferry_slots_create(struct ferry_slots *s, struct ferry_loop *l, uint64_t memory, int jobs, size_t chunk,
		       unsigned depth) FERRY_MUST_CHECK;
/* Slot i's buffers (plaintext, frame) and their fixed-buffer indexes in the loop. */
void ferry_slots_buffers(const struct ferry_slots *s, unsigned i, uint8_t **plain, int *plain_bi, uint8_t **frame,
			 int *frame_bi);
/* A free slot, marked as holding data (it is wiped at destroy), or -1 when none is free. */
int ferry_slots_get(struct ferry_slots *s);
void ferry_slots_put(struct ferry_slots *s, unsigned i);
/* Unregisters, wipes what was handed out and frees; as ferry_bufs_destroy, also on a zeroed pool. */
void ferry_slots_destroy(struct ferry_slots *s, struct ferry_loop *l);

/* ---- the waker: an eventfd polled in the loop, written by workers and the scanner ---- */

struct ferry_waker {
	int fd;
	struct ferry_ev ev;
	struct ferry_loop *loop;
	/* set on every wake-up: a loop run nested in a handler (a synchronous read or
	 * write) may take the wake-up meant for the outer loop, which must then look at
	 * its queues again instead of waiting */
	int fired;
};

int ferry_waker_start(struct ferry_waker *w, struct ferry_loop *l) FERRY_MUST_CHECK;
/* Cancels the poll and closes the eventfd; safe on a waker never started (fd -1). */
void ferry_waker_stop(struct ferry_waker *w);

/* ---- the memory budget of a run ---- */

#define DEFAULT_MEMORY (256ull << 20)

/* Memory the codecs take out of the budget: each worker's and the loop's scratch and zstd state. */
static inline uint64_t store_codec_reserve(int jobs, size_t chunk)
{
	return (uint64_t)(jobs + 1) * (ferry_frame_bound(chunk) + (2u << 20)) + 2 * (uint64_t)chunk;
}

#endif
