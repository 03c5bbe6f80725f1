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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/crypto.h>

#include "pipeline.h"
#include "ferry/unattended.h"
#include "localfs.h"
#include "transfer_int.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define MAX_SMALL_INFLIGHT 128
#define MAX_PENDING_ENTRIES 65536

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

struct sfile {
	struct push *p;
	struct ferry_ev ev_open, ev_read, ev_statx, ev_close;
	struct pent *pe;
	struct slot *slot;
	uint32_t off;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int fd, nwait, err;
	const char *why;
	struct statx stx;
	char *full;
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
	struct ferry_bufs bufs;
	struct slot *slots;
	unsigned nslots;
	struct slot *free_slots;
	unsigned nfree;
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

/* ---------------------------------------------------------------- slots */

static struct slot *slot_get(struct push *p)
{
	struct slot *sl = p->free_slots;

	if (!sl)
		return NULL;
	p->free_slots = sl->next;
	p->nfree--;
	ferry_bufs_touch(&p->bufs, (unsigned)(sl - p->slots));
	sl->next = NULL;
	sl->obj = NULL;
	sl->file = NULL;
	sl->plain_len = sl->frame_len = sl->got = 0;
	sl->pending = sl->sealed = sl->last = 0;
	return sl;
}

static void obj_maybe_finish(struct wobj *o);
static void rfile_release(struct rfile *f);

static void slot_put(struct push *p, struct slot *sl)
{
	struct wobj *o = sl->obj;
	struct rfile *f = sl->file;

	sl->next = p->free_slots;
	p->free_slots = sl;
	p->nfree++;
	if (o)
		o->busy--; /* the pipeline's reference keeps o alive until it is done */
	if (f)
		rfile_release(f);
	if (o)
		obj_maybe_finish(o);
}

/* ---------------------------------------------------------------- entries */

static struct pent *pent_new(struct push *p, const struct ferry_scan_item *it)
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

static void obj_unref(struct wobj *o);

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
			obj_unref(pe->obj);
		free(pe->e.path);
		free(pe->e.target);
		free(pe);
		n++;
	}
	return n;
}

/* ---------------------------------------------------------------- objects */

static void obj_io_done(struct ferry_io *io);

/* A new object; with up, the interrupted run's upload made again (same id and nonce
 * prefix, so the same bytes: parts the server holds are not sent twice). */
static struct wobj *obj_open(struct push *p, struct jupload *up)
{
	struct wobj *o = calloc(1, sizeof(*o));
	int e = -ENOENT;

	if (!o) {
		p->fatal = FERRY_E_NOMEM;
		return NULL;
	}
	o->p = p;
	o->refs = 1;
	if (up && (up->hdr.flags & FERRY_FRAME_ENCRYPTED) == (p->s->keys.encrypted ? FERRY_FRAME_ENCRYPTED : 0)) {
		o->hdr = up->hdr;
		store_object_key(o->hdr.object_id, o->key);
		e = p->b->ops->wresume(p->b, o->key, up->upload_id, &o->w);
		up->used = 1; /* resumed, or gone: either way not aborted at the end */
		if (e && e != -ENOENT)
			store_problem(p->r, up->path, NULL, FERRY_E_IO, "cannot resume its upload (%s); sending it again",
				      store_berr(p->s->b, e));
	}
	if (!e)
		goto opened;
	if (ferry_object_new(&o->hdr, p->s->keys.encrypted)) {
		free(o);
		p->fatal = FERRY_E_CRYPTO;
		return NULL;
	}
	store_object_key(o->hdr.object_id, o->key);
	e = p->b->ops->wopen(p->b, o->key, &o->w);
opened:
	if (e) {
		store_problem(p->r, p->s->path, NULL, FERRY_E_IO, "cannot create object %s: %s", o->key, store_berr(p->s->b, e));
		p->fatal = FERRY_E_IO;
		free(o);
		return NULL;
	}
	ferry_object_hdr_encode(&o->hdr, o->hdrbuf);
	o->pos = FERRY_OBJ_HDR_LEN;
	o->hdr_io.done = obj_io_done;
	o->hdr_io.buf = o->hdrbuf;
	o->hdr_io.len = sizeof(o->hdrbuf);
	o->hdr_io.off = 0;
	o->hdr_io.buf_index = -1;
	o->hdr_io.user = o;
	o->writes++;
	p->objs_live++;
	p->b->ops->write(p->b, o->w, &o->hdr_io);
	return o;
}

static void obj_unref(struct wobj *o)
{
	if (--o->refs == 0) {
		free(o->idx);
		free(o->tail);
		free(o);
	}
}

/* An object is committed: its files go into the journal now, not when they leave in
 * scan order (a pack still filling would hold them back). */
static void journal_entries_of(struct push *p, struct wobj *o)
{
	if (o->pe) {
		if (o->pe->ready && !o->pe->failed && !o->pe->journaled) {
			o->pe->e.object_size = o->final_size;
			journal_entry(p->j, &o->pe->e);
			o->pe->journaled = 1;
		}
		return;
	}
	for (struct pent *pe = p->ehead; pe; pe = pe->next)
		if (pe->obj == o && pe->ready && !pe->failed && !pe->resumed && !pe->journaled) {
			pe->e.object_size = o->final_size;
			journal_entry(p->j, &pe->e);
			pe->journaled = 1;
		}
}

/* not inlined: GCC's use-after-free check cannot see that callers hold a reference */
__attribute__((noinline)) static void obj_fail(struct wobj *o, int err)
{
	if (!o->failed) {
		o->failed = err ? err : FERRY_E_IO;
	}
	obj_maybe_finish(o);
}

/* Ends an object: aborted when it failed, else index + footer, then commit. */
static void obj_finish_step(struct wobj *o)
{
	struct push *p = o->p;

	if (o->done)
		return;
	if (o->failed) {
		/* drop what is still queued for it */
		while (o->waiting) {
			struct slot *sl = o->waiting;
			o->waiting = sl->next;
			slot_put(p, sl);
		}
		if (o->busy == 0 && o->writes == 0 && !o->done) {
			p->b->ops->abort(p->b, o->w);
			o->done = 1;
			p->objs_live--;
			obj_unref(o);
		}
		return;
	}
	if (!o->closed || o->next_commit < o->nchunks || o->writes > 0)
		return;
	if (!o->tail_sent) {
		struct ferry_object_footer f = {
			.index_offset = o->pos,
			.chunk_count = o->nchunks,
			.plain_total = o->plain_total,
			.index_hash = ferry_index_hash(o->hdrbuf, o->idx, o->idx_len),
		};
		o->tail = malloc(o->idx_len + FERRY_OBJ_FOOTER_LEN);
		if (!o->tail) {
			obj_fail(o, FERRY_E_NOMEM);
			return;
		}
		memcpy(o->tail, o->idx, o->idx_len);
		ferry_object_footer_encode(&f, o->tail + o->idx_len);
		o->tail_sent = 1;
		o->tail_io.done = obj_io_done;
		o->tail_io.buf = o->tail;
		o->tail_io.len = o->idx_len + FERRY_OBJ_FOOTER_LEN;
		o->tail_io.off = o->pos;
		o->tail_io.buf_index = -1;
		o->tail_io.user = o;
		o->writes++;
		p->b->ops->write(p->b, o->w, &o->tail_io);
		return;
	}
	/* durability comes from the backend's sync() before the manifest */
	int e = p->b->ops->commit(p->b, o->w, 0);
	o->done = 1;
	p->objs_live--;
	if (e) {
		o->failed = FERRY_E_IO;
		store_problem(p->r, p->s->path, NULL, FERRY_E_IO, "committing object %s: %s", o->key, store_berr(p->s->b, e));
		p->fatal = FERRY_E_IO;
	} else {
		o->committed = 1;
		o->final_size = o->pos + o->idx_len + FERRY_OBJ_FOOTER_LEN;
		p->r->bytes_written += o->final_size;
		if (p->j) {
			journal_entries_of(p, o);
			if (!p->b->ops->set_events)
				journal_object(p->j, o->hdr.object_id, o->final_size); /* else when the backend says so */
		}
	}
	obj_unref(o);
}

static void obj_maybe_finish(struct wobj *o)
{
	/* the steps may drop the last other reference; keep o alive through them */
	o->refs++;
	obj_finish_step(o);
	obj_unref(o);
}

static void obj_io_done(struct ferry_io *io)
{
	struct wobj *o = io->user;
	struct push *p = o->p;

	o->writes--;
	if (io->res < 0 && !o->failed) {
		store_problem(p->r, p->s->path, NULL, FERRY_E_IO, "writing object %s: %s", o->key, store_berr(p->s->b, io->res));
		p->fatal = FERRY_E_IO;
		o->failed = FERRY_E_IO;
	}
	obj_maybe_finish(o);
}

static void frame_written(struct ferry_io *io)
{
	struct slot *sl = container_of(io, struct slot, io);
	struct wobj *o = sl->obj;
	struct push *p = sl->p;

	o->writes--;
	if (io->res < 0 && !o->failed) {
		store_problem(p->r, p->s->path, NULL, FERRY_E_IO, "writing object %s: %s", o->key, store_berr(p->s->b, io->res));
		p->fatal = FERRY_E_IO;
		o->failed = FERRY_E_IO;
	}
	slot_put(p, sl);
}

static int idx_append(struct wobj *o, const struct ferry_index_entry *e)
{
	if (o->idx_len + FERRY_INDEX_ENTRY_LEN > o->idx_cap) {
		size_t ncap = o->idx_cap ? o->idx_cap * 2 : 256;
		uint8_t *n = realloc(o->idx, ncap);
		if (!n)
			return FERRY_E_NOMEM;
		o->idx = n;
		o->idx_cap = ncap;
	}
	ferry_index_entry_encode(e, o->idx + o->idx_len);
	o->idx_len += FERRY_INDEX_ENTRY_LEN;
	return FERRY_OK;
}

static void rfile_chunk_hashed(struct rfile *f, struct slot *sl);

/* Frames leave for the backend in chunk order, each at the offset its predecessors leave. */
static void obj_place(struct wobj *o)
{
	struct push *p = o->p;

	while (!o->failed && o->waiting && o->waiting->index == o->next_commit) {
		struct slot *sl = o->waiting;
		struct ferry_index_entry ie = { o->pos, (uint32_t)sl->frame_len, (uint32_t)sl->plain_len };

		o->waiting = sl->next;
		sl->next = NULL;
		if (idx_append(o, &ie)) {
			slot_put(p, sl);
			obj_fail(o, FERRY_E_NOMEM);
			return;
		}
		if (sl->file)
			rfile_chunk_hashed(sl->file, sl);
		sl->io.done = frame_written;
		sl->io.buf = sl->frame;
		sl->io.len = sl->frame_len;
		sl->io.off = o->pos;
		sl->io.buf_index = sl->frame_bi;
		o->pos += sl->frame_len;
		o->plain_total += sl->plain_len;
		o->next_commit++;
		o->writes++;
		ferry_rate_take(p->r->rate, sl->frame_len); /* --bwlimit: the one place push hands data to a backend */
		p->b->ops->write(p->b, o->w, &sl->io);
	}
	obj_maybe_finish(o);
}

/* ---------------------------------------------------------------- encoding */

static void encode_job(struct ferry_job *j, struct ferry_codec *c)
{
	struct slot *sl = container_of(j, struct slot, job);

	j->err = ferry_frame_encode(c, &sl->obj->hdr, sl->index, sl->last, sl->plain, sl->plain_len, sl->frame,
				    sl->p->bufsize, &sl->frame_len, NULL);
}

static void encode(struct push *p, struct slot *sl)
{
	sl->job.fn = encode_job;
	sl->job.err = 0;
	ferry_workers_submit(p->wk, &sl->job);
}

static void encoded(struct push *p, struct slot *sl)
{
	struct wobj *o = sl->obj;
	struct slot **pp;

	if (sl->job.err) {
		store_problem(p->r, sl->file && sl->file->pe ? sl->file->pe->e.path : p->s->path, NULL, sl->job.err,
			      "encoding chunk %u: %s", sl->index, ferry_strerror(sl->job.err));
		if (sl->file)
			sl->file->failed = 1;
		slot_put(p, sl);
		obj_fail(o, sl->job.err);
		return;
	}
	if (o->failed) {
		slot_put(p, sl);
		return;
	}
	for (pp = &o->waiting; *pp && (*pp)->index < sl->index; pp = &(*pp)->next)
		;
	sl->next = *pp;
	*pp = sl;
	obj_place(o);
}

/* ---------------------------------------------------------------- large files */

static void rfile_finish_if_done(struct rfile *f);

static void rfile_fail(struct rfile *f, int err, const char *detail)
{
	struct push *p = f->p;

	if (!f->failed) {
		f->failed = 1;
		store_problem(p->r, f->pe->e.path, NULL, err, "%s", detail);
		f->pe->failed = 1;
		obj_fail(f->obj, err);
	}
}

static void rfile_release(struct rfile *f)
{
	f->outstanding--;
	rfile_finish_if_done(f);
}

/* In chunk order (obj_place): the whole-file xxh128. */
static void rfile_chunk_hashed(struct rfile *f, struct slot *sl)
{
	ferry_filehash_update(f->fh, sl->plain, sl->plain_len);
	f->hashed++;
	if (f->hashed == f->nchunks) {
		ferry_hash128_encode(ferry_filehash_digest(f->fh), f->pe->e.hash);
		f->pe->ready = 1;
	}
}

static void rfile_finish_if_done(struct rfile *f)
{
	struct push *p = f->p;

	if (f->outstanding > 0 || (p->reading == f) || (!f->failed && f->hashed < f->nchunks))
		return;
	if (f->fd >= 0)
		close(f->fd);
	ferry_filehash_destroy(f->fh);
	if (!f->failed)
		p->r->files_transferred++;
	f->obj->file = NULL;
	obj_unref(f->obj);
	free(f);
}

static void src_read_submit(struct push *p, struct slot *sl);

static void src_read_done(struct ferry_ev *ev, int res)
{
	struct slot *sl = container_of(ev, struct slot, io.ev);
	struct rfile *f = sl->file;
	struct push *p = sl->p;

	if (res == -EINTR || res == -EAGAIN) {
		src_read_submit(p, sl);
		return;
	}
	if (f->failed) {
		slot_put(p, sl);
		return;
	}
	if (res < 0) {
		char why[300];
		snprintf(why, sizeof(why), "read failed: %s", strerror(-res));
		rfile_fail(f, FERRY_E_IO, why);
		slot_put(p, sl);
		return;
	}
	if (res == 0) {
		rfile_fail(f, FERRY_E_IO, "file changed while being read (shrank); not stored");
		slot_put(p, sl);
		return;
	}
	sl->got += (size_t)res;
	if (sl->got > sl->plain_len) {
		/* only an O_DIRECT read asks for more than the chunk: the file grew */
		rfile_fail(f, FERRY_E_IO, "file changed while being read (grew); not stored");
		slot_put(p, sl);
		return;
	}
	if (sl->got < sl->plain_len) {
		src_read_submit(p, sl);
		return;
	}
	p->r->bytes_read += sl->plain_len;
	f->reads_done++;
	if (f->reads_done == f->nchunks) {
		/* a file that grew, or was rewritten in place, while we read it would be stored torn */
		struct stat st1;
		if (fstat(f->fd, &st1) < 0 || st1.st_size != f->st0.st_size ||
		    st1.st_mtim.tv_sec != f->st0.st_mtim.tv_sec || st1.st_mtim.tv_nsec != f->st0.st_mtim.tv_nsec) {
			rfile_fail(f, FERRY_E_IO, "file changed while being read; not stored");
			slot_put(p, sl);
			return;
		}
	}
	encode(p, sl);
}

static void src_read_submit(struct push *p, struct slot *sl)
{
	struct io_uring_sqe *sqe;
	size_t want = sl->plain_len - sl->got;

	if (sl->file->direct)
		want = (want + 4095) & ~(size_t)4095; /* the buffer has room: it is rounded up too */
	sl->io.ev.fn = src_read_done;
	sqe = ferry_loop_sqe(p->loop, &sl->io.ev);
	if (ferry_loop_fixed(p->loop))
		io_uring_prep_read_fixed(sqe, sl->file->fd, sl->plain + sl->got, (unsigned)want, sl->file_off + sl->got,
					 sl->plain_bi);
	else
		io_uring_prep_read(sqe, sl->file->fd, sl->plain + sl->got, (unsigned)want, sl->file_off + sl->got);
}

/* Issues reads for the file being read while slots last. */
static void rfile_pump(struct push *p)
{
	struct rfile *f = p->reading;

	while (f && !f->failed && f->next_read < f->nchunks) {
		struct slot *sl = slot_get(p);
		if (!sl)
			return;
		sl->obj = f->obj;
		f->obj->busy++;
		sl->file = f;
		f->outstanding++;
		sl->index = f->next_read;
		sl->last = f->next_read + 1 == f->nchunks;
		sl->file_off = (uint64_t)f->next_read * p->chunk;
		sl->plain_len = (size_t)((uint64_t)f->st0.st_size - sl->file_off < p->chunk ? (uint64_t)f->st0.st_size -
											    sl->file_off
											: p->chunk);
		f->next_read++;
		src_read_submit(p, sl);
	}
	if (f) {
		p->reading = NULL;
		rfile_finish_if_done(f);
	}
}

static void start_large(struct push *p, struct ferry_scan_item *it)
{
	char full[8192];
	struct rfile *f;
	struct pent *pe = pent_new(p, it);

	if (!pe)
		return;
	snprintf(full, sizeof(full), "%s/%s", p->src, it->path);
	f = calloc(1, sizeof(*f));
	if (!f) {
		p->fatal = FERRY_E_NOMEM;
		pe->failed = 1;
		return;
	}
	f->p = p;
	f->pe = pe;
	f->fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (p->r->direct ? O_DIRECT : 0));
	f->direct = p->r->direct && f->fd >= 0;
	if (f->fd < 0 && p->r->direct && errno == EINVAL)
		f->fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); /* filesystems without O_DIRECT */
	if (f->fd < 0 || fstat(f->fd, &f->st0) < 0) {
		store_problem(p->r, it->path, NULL, FERRY_E_IO, "cannot read: %s", strerror(errno));
		pe->failed = 1;
		if (f->fd >= 0)
			close(f->fd);
		free(f);
		return;
	}
	if (!S_ISREG(f->st0.st_mode) || f->st0.st_size == 0) {
		/* replaced since the scan: record what is there now only if it is still a file */
		store_problem(p->r, it->path, NULL, FERRY_E_IO, "%s", "file changed while being read; not stored");
		pe->failed = 1;
		close(f->fd);
		free(f);
		return;
	}
	pe->e.size = (uint64_t)f->st0.st_size;
	pe->e.mtime_sec = f->st0.st_mtim.tv_sec;
	pe->e.mtime_nsec = (uint32_t)f->st0.st_mtim.tv_nsec;
	pe->e.mode = f->st0.st_mode & 07777;
	uint64_t n = (pe->e.size + p->chunk - 1) / p->chunk;
	if (n > FERRY_OBJ_MAX_CHUNKS) {
		store_problem(p->r, it->path, NULL, FERRY_E_TOOBIG, "file too large for chunk size %zu", p->chunk);
		pe->failed = 1;
		close(f->fd);
		free(f);
		return;
	}
	f->nchunks = (uint32_t)n;
	f->fh = ferry_filehash_create();
	struct jupload *up = p->b->ops->wresume ? journal_upload(p->j, it->path) : NULL;
	if (up && (up->size != pe->e.size || up->mtime_sec != pe->e.mtime_sec || up->mtime_nsec != pe->e.mtime_nsec))
		up = NULL; /* changed since: its upload is aborted at the end */
	f->obj = obj_open(p, up);
	if (f->obj && p->j && p->b->ops->set_events)
		journal_expect(p->j, f->obj->key, &f->obj->hdr, &pe->e);
	if (!f->fh || !f->obj) {
		pe->failed = 1;
		close(f->fd);
		ferry_filehash_destroy(f->fh);
		free(f);
		return;
	}
	f->obj->nchunks = f->nchunks;
	f->obj->closed = 1;
	f->obj->file = f;
	f->obj->pe = pe;
	f->obj->refs++; /* the file's */
	pe->obj = f->obj;
	f->obj->refs++; /* the entry's */
	memcpy(pe->e.object_id, f->obj->hdr.object_id, FERRY_ID_LEN);
	pe->e.first_chunk = 0;
	pe->e.chunk_count = f->nchunks;
	/* the pipeline's own reference: dropped when the object is committed or aborted */
	p->reading = f;
}

/* ---------------------------------------------------------------- packs of small files */

/* Seals the pack's current chunk: once its reads land it goes to the workers. */
static void pack_seal(struct push *p, int last)
{
	struct slot *sl = p->pack_slot;

	if (!sl)
		return;
	sl->sealed = 1;
	sl->last = last;
	p->pack_slot = NULL;
	if (last) {
		p->pack->nchunks = sl->index + 1;
		p->pack->closed = 1;
		obj_unref(p->pack); /* the pack builder's reference */
		p->pack = NULL;
		p->pack_bytes = 0;
	}
	if (sl->pending == 0)
		encode(p, sl);
}

static void sfile_end(struct sfile *sf)
{
	struct push *p = sf->p;
	struct slot *sl = sf->slot;

	if (--sf->nwait > 0)
		return;
	if (!sf->err) {
		if ((uint64_t)sf->stx.stx_size != sf->size || sf->stx.stx_mtime.tv_sec != sf->mtime_sec ||
		    sf->stx.stx_mtime.tv_nsec != sf->mtime_nsec) {
			sf->err = FERRY_E_IO;
			sf->why = "file changed while being read; not stored";
		}
	}
	if (sf->err) {
		store_problem(p->r, sf->pe->e.path, NULL, sf->err, "%s", sf->why);
		sf->pe->failed = 1;
		memset(sl->plain + sf->off, 0, sf->size); /* never store stale buffer bytes */
	} else {
		ferry_hash128_encode(ferry_hash128(sl->plain + sf->off, sf->size), sf->pe->e.hash);
		sf->pe->ready = 1;
		p->r->bytes_read += sf->size;
		p->r->files_transferred++;
	}
	p->small_inflight--;
	if (--sl->pending == 0 && sl->sealed)
		encode(p, sl);
	free(sf->full);
	free(sf);
}

static void sfile_fail(struct sfile *sf, const char *why, int res)
{
	if (!sf->err) {
		static __thread char buf[256];
		snprintf(buf, sizeof(buf), "%s: %s", why, strerror(-res));
		sf->err = FERRY_E_IO;
		sf->why = buf;
	}
}

static void sfile_read_done(struct ferry_ev *ev, int res)
{
	struct sfile *sf = container_of(ev, struct sfile, ev_read);

	if (res < 0)
		sfile_fail(sf, "read failed", res);
	else if ((uint64_t)res != sf->size && !sf->err) {
		sf->err = FERRY_E_IO;
		sf->why = "file changed while being read; not stored";
	}
	sfile_end(sf);
}

static void sfile_statx_done(struct ferry_ev *ev, int res)
{
	struct sfile *sf = container_of(ev, struct sfile, ev_statx);

	if (res < 0)
		sfile_fail(sf, "statx failed", res);
	sfile_end(sf);
}

static void sfile_close_done(struct ferry_ev *ev, int res)
{
	struct sfile *sf = container_of(ev, struct sfile, ev_close);

	(void)res;
	sfile_end(sf);
}

static void sfile_open_done(struct ferry_ev *ev, int res)
{
	struct sfile *sf = container_of(ev, struct sfile, ev_open);
	struct push *p = sf->p;
	struct io_uring_sqe *sqe;

	if (res < 0) {
		sfile_fail(sf, "cannot read", res);
		sf->nwait = 1;
		sfile_end(sf);
		return;
	}
	sf->fd = res;
	sf->nwait = 3;
	ferry_loop_reserve(p->loop, 3); /* a linked chain must go in one submission */
	/* read, then statx to catch a change during the read, then close: one round trip */
	sqe = ferry_loop_sqe(p->loop, &sf->ev_read);
	if (ferry_loop_fixed(p->loop))
		io_uring_prep_read_fixed(sqe, sf->fd, sf->slot->plain + sf->off, (unsigned)sf->size, 0,
					 sf->slot->plain_bi);
	else
		io_uring_prep_read(sqe, sf->fd, sf->slot->plain + sf->off, (unsigned)sf->size, 0);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = ferry_loop_sqe(p->loop, &sf->ev_statx);
	io_uring_prep_statx(sqe, sf->fd, "", AT_EMPTY_PATH, STATX_SIZE | STATX_MTIME, &sf->stx);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = ferry_loop_sqe(p->loop, &sf->ev_close);
	io_uring_prep_close(sqe, sf->fd);
}

/* Returns 0 when the item was taken, 1 when it must wait for a slot. */
static int start_small(struct push *p, struct ferry_scan_item *it)
{
	struct sfile *sf;
	struct pent *pe;
	struct io_uring_sqe *sqe;

	if (p->small_inflight >= MAX_SMALL_INFLIGHT)
		return 1;
	if (p->pack_slot && p->pack_slot->plain_len + it->size > p->chunk) {
		/* more data follows this chunk: it is the pack's last only if the pack is full */
		pack_seal(p, p->pack_bytes >= p->pack_size);
	}
	if (!p->pack_slot) {
		if (!p->nfree)
			return 1;
		if (!p->pack) {
			p->pack = obj_open(p, NULL);
			if (!p->pack)
				return 0;
			p->pack->refs++; /* the pack builder's, dropped when its last chunk is sealed */
		}
		struct slot *sl = slot_get(p);
		sl->obj = p->pack;
		p->pack->busy++;
		sl->index = p->pack->nchunks++;
		p->pack_slot = sl;
	}
	pe = pent_new(p, it);
	sf = calloc(1, sizeof(*sf));
	if (!pe || !sf || !(sf->full = malloc(strlen(p->src) + strlen(it->path) + 2))) {
		free(sf);
		p->fatal = FERRY_E_NOMEM;
		return 0;
	}
	sprintf(sf->full, "%s/%s", p->src, it->path);
	sf->p = p;
	sf->pe = pe;
	sf->slot = p->pack_slot;
	sf->off = (uint32_t)p->pack_slot->plain_len;
	sf->size = it->size;
	sf->mtime_sec = it->mtime_sec;
	sf->mtime_nsec = it->mtime_nsec;
	sf->ev_open.fn = sfile_open_done;
	sf->ev_read.fn = sfile_read_done;
	sf->ev_statx.fn = sfile_statx_done;
	sf->ev_close.fn = sfile_close_done;
	pe->obj = p->pack;
	p->pack->refs++;
	memcpy(pe->e.object_id, p->pack->hdr.object_id, FERRY_ID_LEN);
	pe->e.first_chunk = p->pack_slot->index;
	pe->e.chunk_offset = sf->off;
	pe->e.chunk_count = 1;
	p->pack_slot->plain_len += it->size;
	p->pack_slot->pending++;
	p->pack_bytes += it->size;
	p->small_inflight++;
	sqe = ferry_loop_sqe(p->loop, &sf->ev_open);
	io_uring_prep_openat(sqe, AT_FDCWD, sf->full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	return 0;
}

/* ---------------------------------------------------------------- the loop */

/* The old snapshot's next entry, copied (the reader reuses its buffers). */
static void old_next(struct push *p)
{
	char msg[512];
	struct ferry_entry e;
	int ret;

	p->old_valid = 0;
	if (p->old_done)
		return;
	ret = mreader_next(&p->old, &e, msg, sizeof(msg));
	if (ret <= 0) {
		if (ret < 0) {
			/* an unreadable old snapshot only costs the sync its shortcut */
			store_problem(p->r, p->s->path, NULL, -ret, "%s; sending everything", msg);
			p->changed = 1;
		}
		p->old_done = 1;
		return;
	}
	p->olde = e;
	snprintf(p->old_path, sizeof(p->old_path), "%s", e.path);
	p->olde.path = p->old_path;
	if (e.target) {
		snprintf(p->old_target, sizeof(p->old_target), "%s", e.target);
		p->olde.target = p->old_target;
	}
	p->old_valid = 1;
}

/* The old entry for this path, if there is one; entries passed over were deleted. */
static const struct ferry_entry *old_match(struct push *p, const char *path)
{
	while (p->old_valid) {
		int c = store_cmp_walk(p->olde.path, path);
		if (c == 0)
			return &p->olde;
		if (c > 0)
			break;
		p->changed = 1; /* gone from the source */
		old_next(p);
	}
	p->changed = 1; /* new in the source */
	return NULL;
}

/* An entry for it whose data is already in the store, where `from` says. */
static struct pent *pent_carry(struct push *p, const struct ferry_scan_item *it, const struct ferry_entry *from)
{
	struct pent *pe = pent_new(p, it);

	if (pe) {
		memcpy(pe->e.hash, from->hash, 16);
		memcpy(pe->e.object_id, from->object_id, FERRY_ID_LEN);
		pe->e.first_chunk = from->first_chunk;
		pe->e.chunk_offset = from->chunk_offset;
		pe->e.chunk_count = from->chunk_count;
		pe->e.object_size = from->object_size;
		pe->ready = 1;
	}
	return pe;
}

/*
 * Whether file it, of the old entry's size, is unchanged: by mtime, or with --checksum
 * by reading it for its xxh128 (a file that cannot be read counts as changed: the upload
 * then names the error).
 */
static int same_file(struct push *p, const struct ferry_scan_item *it, const struct ferry_entry *old)
{
	char full[8192];
	int same = 0;

	if (!p->r->checksum)
		return old->mtime_sec == it->mtime_sec && old->mtime_nsec == it->mtime_nsec;
	if (it->size == 0)
		return 1;
	snprintf(full, sizeof(full), "%s/%s", p->src, it->path);
	if (localfs_same_content(&p->hashing, AT_FDCWD, full, it->size, old->hash, &p->r->files_hashed, &p->r->bytes_hashed, &same) || !same) {
		p->changed = 1; /* same size and perhaps mtime, other bytes: a new snapshot */
		return 0;
	}
	return 1;
}

/* Takes one scan item; returns 1 if it has to wait for resources. */
static int take_item(struct push *p, struct ferry_scan_item *it)
{
	struct pent *pe;
	const struct ferry_entry *old = NULL;

	if (it->type == 0) {
		store_problem(p->r, it->path, NULL, FERRY_E_IO, "%s", it->error);
		return 0;
	}
	if (p->r->shard_count > 1 && ferry_shard_of(it->path, p->r->shard_count) != p->r->shard_index)
		return 0; /* another shard's */
	if (p->have_old && !p->r->dry_run) {
		old = old_match(p, it->path);
		if (old && (old->type != it->type || old->mode != it->mode || old->mtime_sec != it->mtime_sec ||
			    old->mtime_nsec != it->mtime_nsec || old->size != (it->type == FERRY_ENTRY_FILE ? it->size : 0) ||
			    (it->type == FERRY_ENTRY_SYMLINK && strcmp(old->target, it->target))))
			p->changed = 1;
		if (old && old->type == FERRY_ENTRY_FILE && it->type == FERRY_ENTRY_FILE && old->size == it->size &&
		    same_file(p, it, old)) {
			/* unchanged by size and mtime (or, --checksum, by content): carried over by
			 * reference, not stored again; the new entry keeps the file's own metadata */
			pent_carry(p, it, old);
			p->r->files_total++;
			p->r->files_unchanged++;
			old_next(p);
			return 0;
		}
	}
	if (it->type == FERRY_ENTRY_FILE && it->size > 0 && p->j) {
		const struct ferry_entry *je = journal_done(p->j, it->path);
		if (je && je->size == it->size && je->mtime_sec == it->mtime_sec && je->mtime_nsec == it->mtime_nsec &&
		    je->mode == it->mode) {
			/* stored by an interrupted run: carried over by reference */
			pe = pent_carry(p, it, je);
			if (pe)
				pe->resumed = 1;
			p->r->files_total++;
			p->r->files_resumed++;
			p->r->bytes_total += it->size;
			if (old)
				old_next(p);
			return 0;
		}
	}
	if (it->type == FERRY_ENTRY_FILE) {
		p->r->files_total++;
		p->r->bytes_total += it->size;
		if (p->r->dry_run) {
			p->r->files_transferred++;
			p->r->bytes_read += it->size;
			return 0;
		}
		if (it->size == 0) {
			pe = pent_new(p, it);
			if (pe) {
				ferry_hash128_encode(ferry_hash128("", 0), pe->e.hash);
				pe->ready = 1;
				p->r->files_transferred++;
			}
			if (old)
				old_next(p);
			return 0;
		}
		if (it->size < p->small_limit) {
			int wait = start_small(p, it);
			if (wait) {
				p->r->files_total--; /* counted again when retried */
				p->r->bytes_total -= it->size;
				return 1;
			}
		} else {
			if (p->reading) {
				p->r->files_total--;
				p->r->bytes_total -= it->size;
				return 1;
			}
			start_large(p, it);
		}
		if (old)
			old_next(p);
		return 0;
	}
	if (p->r->dry_run)
		return 0;
	pe = pent_new(p, it);
	if (pe)
		pe->ready = 1;
	if (old)
		old_next(p);
	return 0;
}

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
		obj_fail(f->obj, FERRY_E_IO);
		rfile_finish_if_done(f);
	}
	pack_seal(p, 1);
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
			obj_fail(pe->obj, FERRY_E_IO);
		}
}

static void feed(struct push *p)
{
	if (p->r->deadline > 0 && !p->stopping && ferry_mono() >= p->r->deadline)
		stop_at_deadline(p);
	rfile_pump(p);
	if (p->epending >= MAX_PENDING_ENTRIES && p->pack_slot)
		pack_seal(p, 1); /* let the entries waiting on this pack leave */
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
				pack_seal(p, 1);
				if (p->old_valid)
					p->changed = 1; /* entries left over were deleted from the source */
			}
			return;
		}
		if (take_item(p, it)) {
			p->stalled = it;
			return;
		}
		ferry_scan_item_free(it);
		rfile_pump(p);
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
			obj_fail(f->obj, p->fatal);
		}
		rfile_finish_if_done(f);
	}
	if (p->pack) {
		struct wobj *pk = p->pack;
		if (p->pack_slot) {
			struct slot *sl = p->pack_slot;
			p->pack_slot = NULL;
			sl->sealed = 1;
			if (sl->pending == 0)
				slot_put(p, sl);
			/* else the last read's end sends it to encode, which drops it */
		}
		p->pack = NULL;
		obj_fail(pk, p->fatal);
		obj_unref(pk);
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
	uint64_t memory = p->r->memory ? p->r->memory : DEFAULT_MEMORY;
	int jobs = p->r->jobs > 0 ? p->r->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int err;

	p->b = s->b;
	p->loop = s->loop;
	p->chunk = s->cfg.chunk_size;
	p->bufsize = (ferry_frame_bound(p->chunk) + 4095) & ~(size_t)4095;
	p->small_limit = p->r->small_file ? p->r->small_file : DEFAULT_SMALL_FILE;
	if (p->small_limit > p->chunk)
		p->small_limit = p->chunk;
	p->pack_size = p->r->pack_size ? p->r->pack_size : DEFAULT_PACK_SIZE;
	p->nslots = ferry_pipeline_pairs(memory, store_codec_reserve(jobs, p->chunk), p->bufsize,
					  store_local(s) ? 2 * (unsigned)jobs + 4 : 0);
	if ((err = ferry_waker_start(&p->waker, p->loop)))
		return err;
	p->base_inflight = ferry_loop_inflight(p->loop);
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots || (err = ferry_bufs_create(&p->bufs, p->loop, p->nslots, p->bufsize)))
		return p->slots ? err : FERRY_E_NOMEM;
	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];
		sl->p = p;
		sl->plain = p->bufs.buf[2 * i];
		sl->frame = p->bufs.buf[2 * i + 1];
		sl->plain_bi = (int)(2 * i);
		sl->frame_bi = (int)(2 * i + 1);
		sl->next = p->free_slots;
		p->free_slots = sl;
		p->nfree++;
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
	ferry_bufs_destroy(&p->bufs, p->loop);
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
	if (r->incremental) {
		char msg[512], base[64];
		/* a partial snapshot is a fine base: what it holds is not sent again */
		int e = store_latest(s, base, 1), base_partial = 0;
		if (e == FERRY_OK) {
			char **part;
			size_t npart;
			if (store_partial_names(s, &part, &npart) == FERRY_OK) {
				base_partial = store_name_in(part, npart, base);
				store_names_free(part, npart);
			}
			e = mreader_open(s, base, &p.old, msg, sizeof(msg));
		} else if (e != FERRY_E_NOTFOUND) {
			snprintf(msg, sizeof(msg), "%s/snapshots: %s", s->path, ferry_strerror(e));
		}
		if (e == FERRY_OK) {
			p.have_old = 1;
			old_next(&p);
		} else if (e != FERRY_E_NOTFOUND) {
			store_problem(r, s->path, NULL, e, "%s; sending everything", msg);
		}
		/* with no base, a partial base (a complete one is owed) or a shard: always write */
		if (!p.have_old || base_partial || r->shard_count > 1)
			p.changed = 1;
	}
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
			encoded(&p, container_of(j, struct slot, job));
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
