/* pull: the chunks of objects: objects opened at the cheapest source that has them (and the
 * next one when a chunk fails there), frames fetched and decoded, the last chunks cached. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/unattended.h"
#include "pull_int.h"

/* ---------------------------------------------------------------- objects */

unsigned pull_nsrc(const struct pull *p)
{
	return p->rs ? p->rs->n : 1;
}

struct ferry_store *pull_src_store(const struct pull *p, int k)
{
	return p->rs ? p->rs->v[k].s : p->s;
}

void pull_cobj_close(struct pull *p, struct cobj *c)
{
	for (unsigned k = 0; k < pull_nsrc(p); k++)
		if (c->tried[k])
			objreader_close(pull_src_store(p, (int)k), &c->o[k]);
}

/* What to say after source `failed` failed c: is another one open, or still to try? */
static const char *then_what(const struct pull *p, const struct cobj *c, unsigned failed)
{
	for (unsigned k = 0; k < p->rs->n; k++)
		if (k != failed && (c->tried[k] == 1 || (!c->tried[k] && replica_usable(p->rs, k))))
			return "trying the next replica";
	return "no other replica left";
}

/*
 * Opens c at the cheapest source not tried yet: c->cur. Sources that miss it or fail to
 * read it back say so in a line and the next is tried. Another source must agree with
 * the first one opened on the object's size and chunk count. The last failure otherwise.
 */
static int cobj_open_next(struct pull *p, struct cobj *c, char *why, size_t whylen)
{
	int err = FERRY_E_NOTFOUND, first = -1;

	for (unsigned k = 0; k < pull_nsrc(p); k++)
		if ((c->tried[k] == 1 || c->tried[k] == 3) && first < 0)
			first = (int)k;
	if (!p->rs) {
		c->tried[0] = 1;
		err = objreader_open(p->s, c->key, c->id, &c->o[0], why, whylen);
		if (err)
			c->tried[0] = 2;
		return err;
	}
	for (unsigned k = 0; k < p->rs->n; k++) {
		struct replica *rp = &p->rs->v[k];
		char w[512];

		if (c->tried[k] || !replica_usable(p->rs, k))
			continue;
		c->tried[k] = 1;
		err = objreader_open(rp->s, c->key, c->id, &c->o[k], w, sizeof(w));
		if (!err && first >= 0 &&
		    (c->o[k].size != c->o[first].size || c->o[k].f.chunk_count != c->o[first].f.chunk_count)) {
			err = FERRY_E_FORMAT;
			snprintf(w, sizeof(w), "object %s: differs from the copy at %s (size or chunk count)", c->key,
				 p->rs->v[first].name);
		}
		if (!err) {
			c->cur = (int)k;
			rp->objects++;
			return FERRY_OK;
		}
		c->tried[k] = 2;
		rp->fallbacks++;
		if (err == FERRY_E_IO)
			rp->ioerrs++; /* the replica, not the object: a few of these and it is left out */
		store_setmsg(why, whylen, "%s (at replica %s)", w, rp->name);
		if (p->rs->n > 1)
			replica_note(p->rs, k, "replica %s: %s; %s", rp->name, w, then_what(p, c, k));
	}
	if (err == FERRY_E_NOTFOUND && !why[0])
		store_setmsg(why, whylen, "object %s: no usable replica has it", c->key);
	return err;
}

struct cobj *pull_cobj_get(struct pull *p, const uint8_t id[FERRY_ID_LEN], char *why, size_t whylen, int *err)
{
	struct cobj *victim = NULL;

	*err = FERRY_OK;
	for (int i = 0; i < OBJ_CACHE; i++) {
		struct cobj *c = &p->cache[i];
		if (c->valid && !memcmp(c->id, id, FERRY_ID_LEN)) {
			if (c->failed) {
				*err = c->failed;
				store_setmsg(why, whylen, "object %s: unreadable (reported above)", c->key);
				return NULL;
			}
			c->users++;
			c->last_use = ++p->tick;
			return c;
		}
	}
	for (int i = 0; i < OBJ_CACHE; i++) {
		struct cobj *c = &p->cache[i];
		if (!c->valid) {
			victim = c;
			break;
		}
		if (c->users == 0 && (!victim || c->last_use < victim->last_use))
			victim = c;
	}
	if (!victim) {
		*err = -1; /* every open object is in use: the caller waits for one to free up */
		return NULL;
	}
	if (victim->valid)
		pull_cobj_close(p, victim);
	memset(victim, 0, sizeof(*victim));
	store_object_key(id, victim->key);
	memcpy(victim->id, id, FERRY_ID_LEN);
	victim->valid = 1;
	victim->last_use = ++p->tick;
	*err = cobj_open_next(p, victim, why, whylen);
	if (*err) {
		victim->failed = *err;
		return NULL;
	}
	p->r->objects_checked++;
	victim->users = 1;
	return victim;
}

/* ---------------------------------------------------------------- chunk slots */

static struct pslot *pslot_get(struct pull *p)
{
	int i = ferry_slots_get(&p->pool);
	struct pslot *sl;

	if (i < 0)
		return NULL;
	sl = &p->slots[i];
	sl->refs = 0;
	sl->ready = 0;
	sl->err = 0;
	sl->waiters = NULL;
	sl->obj = NULL;
	return sl;
}

void pull_pslot_unref(struct pull *p, struct pslot *sl)
{
	if (--sl->refs > 0)
		return;
	if (sl->obj)
		sl->obj->users--;
	ferry_slots_put(&p->pool, (unsigned)(sl - p->slots));
}

static void decode_job(struct ferry_job *j, struct ferry_codec *c)
{
	struct pslot *sl = container_of(j, struct pslot, job);
	struct objreader *o = &sl->obj->o[sl->src];
	size_t n = 0;

	j->err = ferry_frame_decode(c, &o->h, sl->index, sl->index + 1 == o->f.chunk_count, sl->frame,
				    o->idx[sl->index].frame_len, sl->plain, sl->p->chunk, &n);
	if (!j->err && n != o->idx[sl->index].plain_len)
		j->err = FERRY_E_FORMAT;
	sl->plain_len = n;
}

void pull_chunk_ready(struct pull *p, struct pslot *sl, int err)
{
	struct use *u = sl->waiters;

	sl->ready = 1;
	sl->err = err;
	sl->waiters = NULL;
	if (!err)
		p->r->chunks_checked++;
	while (u) {
		struct use *next = u->next_waiter;
		u->ready = 1;
		pull_file_deliver(u->f);
		u = next;
	}
}

/* A chunk that failed at one source waits for the loop thread to try the next (pull_retry()). */
int pull_retry_later(struct pull *p, struct pslot *sl, int err)
{
	if (!p->rs || p->rs->n < 2 || err == FERRY_E_TOOBIG || p->fatal)
		return 0;
	sl->err0 = err;
	sl->next_retry = p->retry;
	p->retry = sl;
	return 1;
}

static void frame_fetched(struct ferry_io *io)
{
	struct pslot *sl = container_of(io, struct pslot, io);
	struct pull *p = sl->p;

	p->fetching--;
	if (io->res < 0) {
		int err = io->res <= -4096 ? ferry_backend_err(io->res) : FERRY_E_IO;
		if (p->rs && err == FERRY_E_IO)
			p->rs->v[sl->src].ioerrs++;
		if (!pull_retry_later(p, sl, err))
			pull_chunk_ready(p, sl, err);
		return;
	}
	p->r->bytes_read += io->len;
	if (p->rs)
		p->rs->v[sl->src].bytes += io->len;
	sl->job.fn = decode_job;
	ferry_workers_submit(p->wk, &sl->job);
}

static void fetch(struct pull *p, struct pslot *sl)
{
	struct objreader *o = &sl->obj->o[sl->src];
	struct ferry_backend *b = pull_src_store(p, sl->src)->b;
	const struct ferry_index_entry *ie = &o->idx[sl->index];

	if (ie->frame_len > p->bufsize) {
		pull_chunk_ready(p, sl, FERRY_E_TOOBIG);
		return;
	}
	sl->io.done = frame_fetched;
	sl->io.buf = sl->frame;
	sl->io.len = ie->frame_len;
	sl->io.off = ie->offset;
	sl->io.buf_index = sl->frame_bi;
	ferry_rate_take(p->r->rate, ie->frame_len); /* --bwlimit, for every backend alike */
	p->fetching++;
	b->ops->read(b, o->r, &sl->io);
}

/*
 * Chunks that failed at their source (a read error, a frame that does not decode or
 * authenticate): the object is marked failed there and each chunk is fetched again from
 * the next source, opened now if need be. The bytes are checked again as any others.
 * Runs on the loop thread outside completions (opening an object runs the loop).
 */
void pull_retry(struct pull *p)
{
	struct pslot *list = p->retry;

	p->retry = NULL;
	while (list) {
		struct pslot *sl = list;
		struct cobj *c = sl->obj;
		char why[512] = "";

		list = sl->next_retry;
		sl->next_retry = NULL;
		if (c->tried[sl->src] == 1) {
			struct replica *rp = &p->rs->v[sl->src];
			c->tried[sl->src] = 3;
			rp->fallbacks++;
			replica_note(p->rs, (unsigned)sl->src, "replica %s: object %s: chunk %u: %s; %s", rp->name, c->key,
				     sl->index, ferry_strerror(sl->err0), then_what(p, c, (unsigned)sl->src));
		}
		if (c->tried[c->cur] != 1 && cobj_open_next(p, c, why, sizeof(why)) != FERRY_OK) {
			pull_chunk_ready(p, sl, sl->err0); /* the file's line names the chunk; the notes, each replica */
			continue;
		}
		sl->src = c->cur;
		fetch(p, sl);
	}
}

/* ---------------------------------------------------------------- the chunk cache */

/* Drops the least recently used cached chunk no file holds; 0 when none could go. */
static int cache_evict(struct pull *p)
{
	for (int i = CHUNK_CACHE - 1; i >= 0; i--) {
		struct pslot *sl = p->shared[i];
		if (sl && sl->refs == 1) {
			memmove(&p->shared[i], &p->shared[i + 1], (size_t)(CHUNK_CACHE - 1 - i) * sizeof(sl));
			p->shared[CHUNK_CACHE - 1] = NULL;
			pull_pslot_unref(p, sl);
			return 1;
		}
	}
	return 0;
}

/* Claims the file's next chunk: a cached one if it was fetched lately, else a new slot. */
int pull_file_claim(struct pull *p, struct xfile *f)
{
	uint32_t ci = f->e.first_chunk + f->next_fetch;
	struct pslot *sl = NULL;
	struct use *u, **pp;
	int i;

	for (i = 0; i < CHUNK_CACHE && p->shared[i]; i++)
		if (p->shared[i]->obj == f->obj && p->shared[i]->index == ci)
			break;
	if (i < CHUNK_CACHE && p->shared[i]) {
		sl = p->shared[i];
		memmove(&p->shared[1], &p->shared[0], (size_t)i * sizeof(sl));
		p->shared[0] = sl;
	} else {
		while (p->pool.nfree == 0 && cache_evict(p))
			;
		sl = pslot_get(p);
		if (!sl)
			return 1;
		if (p->shared[CHUNK_CACHE - 1])
			pull_pslot_unref(p, p->shared[CHUNK_CACHE - 1]);
		memmove(&p->shared[1], &p->shared[0], (CHUNK_CACHE - 1) * sizeof(sl));
		sl->obj = f->obj;
		sl->src = f->obj->cur;
		f->obj->users++;
		sl->index = ci;
		sl->refs = 1; /* the cache's */
		p->shared[0] = sl;
		fetch(p, sl);
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		p->fatal = FERRY_E_NOMEM;
		return 1;
	}
	u->f = f;
	u->slot = sl;
	u->k = f->next_fetch++;
	sl->refs++;
	for (pp = &f->uses; *pp; pp = &(*pp)->next)
		;
	*pp = u;
	if (sl->ready) {
		u->ready = 1;
		pull_file_deliver(f);
	} else {
		u->next_waiter = sl->waiters;
		sl->waiters = u;
	}
	return 0;
}
