/* push: objects in the store: opened (or resumed), frames placed in chunk order, index and
 * footer, commit; and the chunks' encoding on the workers. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/unattended.h"
#include "push_int.h"

/* ---------------------------------------------------------------- objects */

static void obj_io_done(struct ferry_io *io);

/* A new object; with up, the interrupted run's upload made again (same id and nonce
 * prefix, so the same bytes: parts the server holds are not sent twice). */
struct wobj *push_obj_open(struct push *p, struct jupload *up)
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

void push_obj_unref(struct wobj *o)
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
__attribute__((noinline)) void push_obj_fail(struct wobj *o, int err)
{
	if (!o->failed) {
		o->failed = err ? err : FERRY_E_IO;
	}
	push_obj_maybe_finish(o);
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
			push_slot_put(p, sl);
		}
		if (o->busy == 0 && o->writes == 0 && !o->done) {
			p->b->ops->abort(p->b, o->w);
			o->done = 1;
			p->objs_live--;
			push_obj_unref(o);
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
			push_obj_fail(o, FERRY_E_NOMEM);
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
	push_obj_unref(o);
}

void push_obj_maybe_finish(struct wobj *o)
{
	/* the steps may drop the last other reference; keep o alive through them */
	o->refs++;
	obj_finish_step(o);
	push_obj_unref(o);
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
	push_obj_maybe_finish(o);
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
	push_slot_put(p, sl);
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
			push_slot_put(p, sl);
			push_obj_fail(o, FERRY_E_NOMEM);
			return;
		}
		if (sl->file)
			push_rfile_chunk_hashed(sl->file, sl);
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
	push_obj_maybe_finish(o);
}

/* ---------------------------------------------------------------- encoding */

static void encode_job(struct ferry_job *j, struct ferry_codec *c)
{
	struct slot *sl = container_of(j, struct slot, job);

	j->err = ferry_frame_encode(c, &sl->obj->hdr, sl->index, sl->last, sl->plain, sl->plain_len, sl->frame,
				    sl->p->bufsize, &sl->frame_len, NULL);
}

void push_encode(struct push *p, struct slot *sl)
{
	sl->job.fn = encode_job;
	sl->job.err = 0;
	ferry_workers_submit(p->wk, &sl->job);
}

void push_encoded(struct push *p, struct slot *sl)
{
	struct wobj *o = sl->obj;
	struct slot **pp;

	if (sl->job.err) {
		store_problem(p->r, sl->file && sl->file->pe ? sl->file->pe->e.path : p->s->path, NULL, sl->job.err,
			      "encoding chunk %u: %s", sl->index, ferry_strerror(sl->job.err));
		if (sl->file)
			sl->file->failed = 1;
		push_slot_put(p, sl);
		push_obj_fail(o, sl->job.err);
		return;
	}
	if (o->failed) {
		push_slot_put(p, sl);
		return;
	}
	for (pp = &o->waiting; *pp && (*pp)->index < sl->index; pp = &(*pp)->next)
		;
	sl->next = *pp;
	*pp = sl;
	obj_place(o);
}
