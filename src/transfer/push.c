/*
 * push: the pipeline that turns a tree into a snapshot.
 *
 *   scanner thread ─► loop thread: read (io_uring) ─► workers: hash+compress+encrypt
 *                      ─► loop thread: place frames in order, write (backend) ─► commit
 *
 * One pool of slots (a plaintext buffer and a frame buffer each, registered with
 * io_uring) is the memory budget: when no slot is free, nothing new is read.
 * Large files are objects of their own; small files are read (open, read, statx,
 * close, all through the ring) side by side into the chunks of a pack object.
 * Manifest entries leave in scan order once their object is committed, and the
 * manifest is written last: until then the new snapshot does not exist.
 *
 * Here: the run, its slots and its entries. push_read.c reads the source, push_object.c
 * encodes and writes objects, push_sync.c compares with the latest snapshot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/unattended.h"
#include "push_int.h"

#define MAX_PENDING_ENTRIES 65536

/* ---------------------------------------------------------------- slots */

struct slot *push_slot_get(struct push *p)
{
	int i = ferry_slots_get(&p->pool);
	struct slot *sl;

	if (i < 0)
		return NULL;
	sl = &p->slots[i];
	sl->next = NULL;
	sl->obj = NULL;
	sl->file = NULL;
	sl->plain_len = sl->frame_len = sl->got = 0;
	sl->pending = sl->sealed = sl->last = 0;
	return sl;
}

void push_slot_put(struct push *p, struct slot *sl)
{
	struct wobj *o = sl->obj;
	struct rfile *f = sl->file;

	ferry_slots_put(&p->pool, (unsigned)(sl - p->slots));
	if (o)
		o->busy--; /* the pipeline's reference keeps o alive until it is done */
	if (f)
		push_rfile_release(f);
	if (o)
		push_obj_maybe_finish(o);
}

/* ---------------------------------------------------------------- entries */

struct pent *push_pent_new(struct push *p, const struct ferry_scan_item *it)
{
	struct pent *pe = calloc(1, sizeof(*pe));

	if (!pe || !(pe->e.path = strdup(it->path)) || (it->target && !(pe->e.target = strdup(it->target)))) {
		if (pe)
			free(pe->e.path);
		free(pe);
		p->fatal = FERRY_E_NOMEM;
		return NULL;
	}
	pe->e.type = it->type;
	pe->e.mode = it->mode;
	pe->e.mtime_sec = it->mtime_sec;
	pe->e.mtime_nsec = it->mtime_nsec;
	pe->e.size = it->type == FERRY_ENTRY_FILE ? it->size : 0;
	if (p->etail)
		p->etail->next = pe;
	else
		p->ehead = pe;
	p->etail = pe;
	p->epending++;
	return pe;
}

/* Entries leave in scan order, each once its data is committed. Returns how many left. */
static unsigned flush_entries(struct push *p)
{
	unsigned n = 0;

	while (p->ehead) {
		struct pent *pe = p->ehead;

		if (!pe->failed && !(pe->ready && (!pe->obj || pe->obj->committed)) && !(pe->obj && pe->obj->failed &&
											  pe->obj->done))
			break;
		if (pe->obj && pe->obj->failed) {
			if (p->stopping && !pe->failed) {
				/* cancelled at --max-duration, not failed: the next run sends it */
				p->r->files_deferred++;
				if (pe->ready && pe->e.size < p->small_limit)
					p->r->files_transferred--; /* a packed file is counted when read */
			}
			pe->failed = 1;
		}
		if (!pe->failed) {
			if (pe->obj)
				pe->e.object_size = pe->obj->final_size;
			if (!p->fatal) {
				int err = mwriter_add(&p->mw, &pe->e);
				if (!err && !pe->resumed && !pe->journaled)
					journal_entry(p->j, &pe->e);
				if (err) {
					store_problem(p->r, p->s->path, NULL, err, "writing the snapshot manifest: %s",
						      ferry_strerror(err));
					p->fatal = err;
				}
			}
		}
		p->ehead = pe->next;
		if (!p->ehead)
			p->etail = NULL;
		p->epending--;
		if (pe->obj && pe->obj->pe == pe)
			pe->obj->pe = NULL;
		if (pe->obj)
			push_obj_unref(pe->obj);
		free(pe->e.path);
		free(pe->e.target);
		free(pe);
		n++;
	}
	return n;
}

/* ---------------------------------------------------------------- the loop */

/* --max-duration: start nothing new; what is in flight completes and is committed. */
static void stop_at_deadline(struct push *p)
{
	if (p->stopping || p->fatal)
		return;
	p->scan_done = 1;
	p->stopping = 1;
	p->r->partial = 1;
	p->changed = 1;
	ferry_scan_item_free(p->stalled);
	p->stalled = NULL;
	if (p->reading) {
		/* the file being read is not finished: drop it rather than wait for it */
		struct rfile *f = p->reading;
		p->reading = NULL;
		f->failed = 1;
		f->pe->failed = 1;
		p->r->files_deferred++;
		push_obj_fail(f->obj, FERRY_E_IO);
		push_rfile_finish_if_done(f);
	}
	push_pack_seal(p, 1);
	/*
	 * Objects not yet committed are cancelled: waiting for them could take as long as
	 * the whole buffer budget at the --bwlimit rate. Their entries leave the snapshot;
	 * committed objects (and their files) stay. A partial snapshot is at file
	 * boundaries: every file in it is whole.
	 */
	for (struct pent *pe = p->ehead; pe; pe = pe->next)
		if (pe->obj && !pe->obj->committed && !pe->obj->failed) {
			if (pe->obj->file)
				pe->obj->file->failed = 1; /* so it is let go without its last chunks */
			push_obj_fail(pe->obj, FERRY_E_IO);
		}
}

static void feed(struct push *p)
{
	if (p->r->deadline > 0 && !p->stopping && ferry_mono() >= p->r->deadline)
		stop_at_deadline(p);
	push_rfile_pump(p);
	if (p->epending >= MAX_PENDING_ENTRIES && p->pack_slot)
		push_pack_seal(p, 1); /* let the entries waiting on this pack leave */
	while (!p->fatal && !p->reading && p->epending < MAX_PENDING_ENTRIES && !p->scan_done) {
		struct ferry_scan_item *it = p->stalled;
		int done = 0;

		if (p->r->deadline > 0 && ferry_mono() >= p->r->deadline) {
			stop_at_deadline(p);
			return;
		}

		if (!it)
			it = ferry_scan_next(p->scan, &done);
		p->stalled = NULL;
		if (!it) {
			if (done && !p->scan_done) {
				p->scan_done = 1;
				push_pack_seal(p, 1);
				if (p->old_valid)
					p->changed = 1; /* entries left over were deleted from the source */
			}
			return;
		}
		if (push_take_item(p, it)) {
			p->stalled = it;
			return;
		}
		ferry_scan_item_free(it);
		push_rfile_pump(p);
	}
}

/* After a fatal error: stop starting things, and fail what is open so it drains. */
static void abort_all(struct push *p)
{
	if (p->reading) {
		struct rfile *f = p->reading;
		p->reading = NULL;
		if (!f->failed) {
			f->failed = 1;
			f->pe->failed = 1;
			push_obj_fail(f->obj, p->fatal);
		}
		push_rfile_finish_if_done(f);
	}
	if (p->pack) {
		struct wobj *pk = p->pack;
		if (p->pack_slot) {
			struct slot *sl = p->pack_slot;
			p->pack_slot = NULL;
			sl->sealed = 1;
			if (sl->pending == 0)
				push_slot_put(p, sl);
			/* else the last read's end sends it to encode, which drops it */
		}
		p->pack = NULL;
		push_obj_fail(pk, p->fatal);
		push_obj_unref(pk);
	}
}

static int finished(struct push *p)
{
	if (p->fatal)
		return p->objs_live == 0 && p->small_inflight == 0 && ferry_workers_busy(p->wk) == 0 &&
		       ferry_loop_inflight(p->loop) <= p->base_inflight && !p->reading;
	return p->scan_done && !p->stalled && !p->reading && p->small_inflight == 0 && !p->pack_slot &&
	       p->objs_live == 0 && !p->ehead && ferry_workers_busy(p->wk) == 0;
}

static void report_progress(struct push *p)
{
	double t = ferry_mono();

	if (p->r->progress && t - p->last_progress > 0.2) {
		p->last_progress = t;
		p->r->progress(p->r->progress_arg, p->r);
	}
}

static int setup(struct push *p)
{
	struct ferry_store *s = p->s;
	int jobs = p->r->jobs > 0 ? p->r->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int err;

	p->b = s->b;
	p->loop = s->loop;
	p->chunk = s->cfg.chunk_size;
	p->small_limit = p->r->small_file ? p->r->small_file : DEFAULT_SMALL_FILE;
	if (p->small_limit > p->chunk)
		p->small_limit = p->chunk;
	p->pack_size = p->r->pack_size ? p->r->pack_size : DEFAULT_PACK_SIZE;
	if ((err = ferry_waker_start(&p->waker, p->loop)))
		return err;
	p->base_inflight = ferry_loop_inflight(p->loop);
	err = ferry_slots_create(&p->pool, p->loop, p->r->memory, jobs, p->chunk,
				 store_local(s) ? 2 * (unsigned)jobs + 4 : 0);
	if (err)
		return err;
	p->bufsize = p->pool.bufs.size;
	p->slots = calloc(p->pool.n, sizeof(*p->slots));
	if (!p->slots)
		return FERRY_E_NOMEM;
	for (unsigned i = 0; i < p->pool.n; i++) {
		struct slot *sl = &p->slots[i];
		sl->p = p;
		ferry_slots_buffers(&p->pool, i, &sl->plain, &sl->plain_bi, &sl->frame, &sl->frame_bi);
	}
	return ferry_workers_create(&p->wk, jobs, &s->keys, s->cfg.level, p->chunk, p->waker.fd);
}

static void teardown(struct push *p)
{
	localfs_hashing_free(&p->hashing);
	if (p->j) {
		journal_close(p->j, p->complete);
		p->j = NULL;
	}
	if (p->have_old) {
		mreader_close(&p->old);
		p->have_old = 0;
	}
	if (p->scan)
		ferry_scan_stop(p->scan);
	ferry_scan_item_free(p->stalled);
	ferry_workers_destroy(p->wk);
	while (p->ehead) {
		struct pent *pe = p->ehead;
		p->ehead = pe->next;
		free(pe->e.path);
		free(pe->e.target);
		free(pe);
	}
	ferry_waker_stop(&p->waker);
	ferry_slots_destroy(&p->pool, p->loop);
	free(p->slots);
}

int ferry_push(struct ferry_store *s, const char *src, struct ferry_run *r)
{
	struct push p;
	int err, aborted = 0;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.r = r;
	p.src = src;
	p.waker.fd = -1;
	err = setup(&p);
	if (err) {
		store_problem(r, s->path, NULL, err, "cannot set up the pipeline: %s", ferry_strerror(err));
		teardown(&p);
		return err;
	}
	if (!r->dry_run)
		p.j = journal_open(s, src, r);
	if (ferry_scan_start(&p.scan, src, 4096, p.waker.fd)) {
		store_problem(r, src, NULL, FERRY_E_IO, "cannot open source directory: %s", strerror(errno));
		p.scan = NULL;
		teardown(&p);
		return FERRY_E_IO;
	}
	if (r->incremental)
		push_sync_open(&p);
	if (!r->dry_run) {
		char key[160];
		err = store_snapshot_id(r->snapshot);
		if (r->shard_count > 1)
			snprintf(key, sizeof(key), "partial/%s/%u-of-%u", r->shard_group, r->shard_index, r->shard_count);
		else
			snprintf(key, sizeof(key), "snapshots/%s", r->snapshot);
		if (!err)
			err = mwriter_open_key(s, &p.mw, key, (uint64_t)time(NULL));
		if (err) {
			store_problem(r, s->path, NULL, err, "cannot start the snapshot manifest: %s", ferry_strerror(err));
			mwriter_abort(&p.mw);
			r->snapshot[0] = 0;
			teardown(&p);
			return err;
		}
	}
	for (;;) {
		struct ferry_job *j = ferry_workers_reap(p.wk);
		while (j) {
			struct ferry_job *next = j->next;
			/* a batch can take long under --bwlimit: look at the clock between chunks */
			if (r->deadline > 0 && !p.stopping && ferry_mono() >= r->deadline)
				stop_at_deadline(&p);
			push_encoded(&p, container_of(j, struct slot, job));
			j = next;
		}
		/* entries that leave make room for more: feed again until neither moves */
		do {
			if (!p.fatal)
				feed(&p);
		} while (flush_entries(&p) > 0 && !p.fatal);
		if (p.fatal && !aborted) {
			aborted = 1;
			abort_all(&p);
		}
		report_progress(&p);
		journal_flush(p.j);
		if (finished(&p))
			break;
		/* a wake-up taken by a nested run means there may be work queued: look again first */
		int wait = !p.waker.fired;
		p.waker.fired = 0;
		if (ferry_loop_run(p.loop, wait) < 0) {
			p.fatal = FERRY_E_IO;
			break;
		}
	}
	if (r->dry_run) {
		r->snapshot[0] = 0;
		teardown(&p);
		return FERRY_OK;
	}
	if (p.fatal) {
		mwriter_abort(&p.mw);
		r->snapshot[0] = 0;
		teardown(&p);
		return p.fatal;
	}
	if (r->incremental && !p.changed && !r->always_snapshot && !r->errors) {
		/* nothing new: no snapshot, and (no objects were written) no cost */
		mwriter_abort(&p.mw);
		r->snapshot[0] = 0;
		r->no_change = 1;
		p.complete = 1;
		teardown(&p);
		return FERRY_OK;
	}
	if (r->lock && !ferry_lock_held(r->lock)) {
		/* another run broke our lock as stale: a prune may have removed what we wrote */
		store_problem(r, s->path, NULL, FERRY_E_LOCKED,
			      "our lock was broken by another run while we worked; no snapshot written");
		mwriter_abort(&p.mw);
		r->snapshot[0] = 0;
		teardown(&p);
		return FERRY_E_LOCKED;
	}
	if (r->partial) {
		/* the marker goes first: there is never a moment when this snapshot looks complete */
		char key[96], note[160];
		int e;
		snprintf(key, sizeof(key), PARTIAL_MARK_PREFIX "%s", r->snapshot);
		snprintf(note, sizeof(note), "stopped at --max-duration after %llu files\n",
			 (unsigned long long)r->files_total);
		if ((e = s->b->ops->put(s->b, key, note, strlen(note), 0))) {
			store_problem(r, s->path, NULL, FERRY_E_IO, "writing %s: %s; no snapshot written", key, store_berr(s->b, e));
			mwriter_abort(&p.mw);
			r->snapshot[0] = 0;
			teardown(&p);
			return FERRY_E_IO;
		}
	}
	err = mwriter_finish(&p.mw);
	if (err) {
		store_problem(r, s->path, NULL, err, "writing snapshot %s: %s", r->snapshot,
			      p.mw.why[0] ? p.mw.why : ferry_strerror(err));
		r->snapshot[0] = 0;
	} else {
		p.complete = 1;
		r->bytes_written += p.mw.pos;
		if (r->shard_count > 1)
			snprintf(r->snapshot, sizeof(r->snapshot), "%u-of-%u", r->shard_index, r->shard_count);
	}
	teardown(&p);
	return err;
}
