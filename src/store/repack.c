/*
 * repack: the second half of prune. A pack (an object holding many small files) whose
 * plaintext is mostly garbage has its live files copied into new packs, and every kept
 * snapshot that names it gets its manifest rewritten, in place, to name the new packs.
 *
 * Order, so that a kill at any point leaves every kept snapshot readable: (1) the new
 * packs are written and made durable; (2) the manifests are replaced one at a time (each
 * an atomic replace of snapshots/<id>: a reader sees the old one or the new one, and
 * both name objects that exist); (3) only after the last, prune deletes the old packs,
 * after the dropped snapshots. A kill in (1) leaves new packs no manifest names (the
 * next prune's garbage); in (2) some manifests name the old pack and some the new (both
 * kept; the next prune repacks the old one again); in (3) garbage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ferry/unattended.h"
#include "idset.h"
#include "store_int.h"

/* Where a live file sits in an old pack, and where it goes. */
struct region {
	uint8_t obj[FERRY_ID_LEN];
	uint32_t first, off, count;
	uint64_t size;
	uint32_t npack, nfirst, noff, ncount; /* in the new packs */
};

struct newpack {
	uint8_t id[FERRY_ID_LEN];
	uint64_t size; /* stored */
};

/* A pack being written: frames go out chunk by chunk, the index and footer at the end. */
struct pwriter {
	struct ferry_wobj *w;
	struct ferry_object_hdr h;
	uint8_t hdrbuf[FERRY_OBJ_HDR_LEN];
	uint8_t *plain, *frame, *idx;
	size_t len, idx_len, idx_cap;
	uint32_t index;
	uint64_t pos, total;
};

struct repack {
	struct ferry_store *s;
	unsigned threshold;
	struct region *r;
	size_t n, cap, sorted;
	struct idset *snap_packs; /* per kept snapshot: the packs its files are in */
	size_t nsnaps;
	struct idset excluded; /* objects never repacked */
	struct idset chosen;   /* the packs being repacked, sorted */
	uint64_t *old_sizes;   /* stored size of each chosen pack */
	struct newpack *np;
	size_t nnp, npcap;
	struct pwriter pw;
	uint8_t *rframe, *rplain; /* the reading side's chunk */
};

/* FERRY_TEST_KILL_AT=<step>: dies by SIGKILL at a named step (the crash-safety tests). */
static void kill_point(const char *step)
{
	const char *at = getenv("FERRY_TEST_KILL_AT");

	if (at && !strcmp(at, step))
		raise(SIGKILL);
}

static int region_cmp(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	int c = memcmp(x->obj, y->obj, FERRY_ID_LEN);

	if (c)
		return c;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return 0;
}

static void regions_compact(struct repack *rp)
{
	size_t w = 0;

	if (!rp->n)
		return;
	qsort(rp->r, rp->n, sizeof(*rp->r), region_cmp);
	for (size_t i = 1; i < rp->n; i++)
		if (region_cmp(&rp->r[i], &rp->r[w]) != 0)
			rp->r[++w] = rp->r[i];
	rp->n = w + 1;
	rp->sorted = rp->n;
}

int repack_create(struct repack **out, struct ferry_store *s, unsigned threshold, size_t nsnaps)
{
	struct repack *rp = calloc(1, sizeof(*rp));

	*out = NULL;
	if (!rp || !(rp->snap_packs = calloc(nsnaps ? nsnaps : 1, sizeof(*rp->snap_packs)))) {
		free(rp);
		return FERRY_E_NOMEM;
	}
	rp->s = s;
	rp->threshold = threshold;
	rp->nsnaps = nsnaps;
	*out = rp;
	return FERRY_OK;
}

int repack_exclude(struct repack *rp, const uint8_t *id)
{
	return idset_add(&rp->excluded, id);
}

int repack_note(struct repack *rp, size_t snap, const struct ferry_entry *e)
{
	struct region *g;

	if (e->type != FERRY_ENTRY_FILE || e->chunk_count == 0 || snap >= rp->nsnaps)
		return FERRY_OK;
	/* a large file is an object of its own, starting at chunk 0: not a pack. (A pack whose
	 * first file is as large, possible only with a larger --small-file, is left alone.) */
	if (e->first_chunk == 0 && e->chunk_offset == 0 && e->size >= DEFAULT_SMALL_FILE)
		return idset_add(&rp->excluded, e->object_id);
	int err = idset_add(&rp->snap_packs[snap], e->object_id);
	if (err)
		return err;
	if (rp->n) {
		struct region *l = &rp->r[rp->n - 1];
		if (!memcmp(l->obj, e->object_id, FERRY_ID_LEN) && l->first == e->first_chunk &&
		    l->off == e->chunk_offset && l->size == e->size)
			return FERRY_OK;
	}
	if (rp->n == rp->cap) {
		if (rp->n > rp->sorted + 65536) {
			regions_compact(rp);
			if (rp->n < rp->cap * 3 / 4)
				goto add;
		}
		size_t ncap = rp->cap ? rp->cap * 2 : 65536;
		struct region *nr = realloc(rp->r, ncap * sizeof(*nr));
		if (!nr)
			return FERRY_E_NOMEM;
		rp->r = nr;
		rp->cap = ncap;
	}
add:
	g = &rp->r[rp->n++];
	memset(g, 0, sizeof(*g));
	memcpy(g->obj, e->object_id, FERRY_ID_LEN);
	g->first = e->first_chunk;
	g->off = e->chunk_offset;
	g->count = e->chunk_count;
	g->size = e->size;
	return FERRY_OK;
}

/* ---------------------------------------------------------------- writing new packs */

static int pw_open(struct repack *rp)
{
	struct ferry_store *s = rp->s;
	struct pwriter *p = &rp->pw;
	char key[64];
	int e, err;

	if ((err = ferry_object_new(&p->h, s->keys.encrypted)))
		return err;
	store_object_key(p->h.object_id, key);
	if ((e = s->b->ops->wopen(s->b, key, &p->w))) {
		p->w = NULL;
		return e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
	}
	ferry_object_hdr_encode(&p->h, p->hdrbuf);
	if (store_write_sync(s, p->w, p->hdrbuf, sizeof(p->hdrbuf), 0))
		return FERRY_E_IO;
	p->pos = FERRY_OBJ_HDR_LEN;
	p->len = 0;
	p->index = 0;
	p->total = 0;
	p->idx_len = 0;
	return FERRY_OK;
}

static int pw_flush(struct repack *rp, int last)
{
	struct ferry_store *s = rp->s;
	struct pwriter *p = &rp->pw;
	struct ferry_index_entry ie;
	size_t flen;
	int err;

	err = ferry_frame_encode(s->codec, &p->h, p->index, last, p->plain, p->len, p->frame,
				 ferry_frame_bound(s->cfg.chunk_size), &flen, NULL);
	if (err)
		return err;
	if (store_write_sync(s, p->w, p->frame, flen, p->pos))
		return FERRY_E_IO;
	if (p->idx_len + FERRY_INDEX_ENTRY_LEN > p->idx_cap) {
		size_t ncap = p->idx_cap ? p->idx_cap * 2 : 4096;
		uint8_t *n = realloc(p->idx, ncap);
		if (!n)
			return FERRY_E_NOMEM;
		p->idx = n;
		p->idx_cap = ncap;
	}
	ie.offset = p->pos;
	ie.frame_len = (uint32_t)flen;
	ie.plain_len = (uint32_t)p->len;
	ferry_index_entry_encode(&ie, p->idx + p->idx_len);
	p->idx_len += FERRY_INDEX_ENTRY_LEN;
	p->pos += flen;
	p->total += p->len;
	p->index++;
	p->len = 0;
	return FERRY_OK;
}

/* Last chunk, index, footer, commit (durable at the sync before the first manifest). */
static int pw_seal(struct repack *rp)
{
	struct ferry_store *s = rp->s;
	struct pwriter *p = &rp->pw;
	uint8_t fb[FERRY_OBJ_FOOTER_LEN];
	int err, e;

	if ((err = pw_flush(rp, 1)))
		return err;
	struct ferry_object_footer f = {
		.index_offset = p->pos,
		.chunk_count = p->index,
		.plain_total = p->total,
		.index_hash = ferry_index_hash(p->hdrbuf, p->idx, p->idx_len),
	};
	ferry_object_footer_encode(&f, fb);
	if (store_write_sync(s, p->w, p->idx, p->idx_len, p->pos) ||
	    store_write_sync(s, p->w, fb, sizeof(fb), p->pos + p->idx_len))
		return FERRY_E_IO;
	if (rp->nnp == rp->npcap) {
		size_t nc = rp->npcap ? rp->npcap * 2 : 16;
		struct newpack *n = realloc(rp->np, nc * sizeof(*n));
		if (!n)
			return FERRY_E_NOMEM;
		rp->np = n;
		rp->npcap = nc;
	}
	memcpy(rp->np[rp->nnp].id, p->h.object_id, FERRY_ID_LEN);
	rp->np[rp->nnp].size = p->pos + p->idx_len + sizeof(fb);
	e = s->b->ops->commit(s->b, p->w, 0);
	p->w = NULL;
	if (e)
		return e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
	rp->nnp++;
	return FERRY_OK;
}

/* Appends n bytes of the current file; a full chunk goes out once more bytes follow. */
static int pw_append(struct repack *rp, const uint8_t *src, size_t n)
{
	struct pwriter *p = &rp->pw;
	size_t cap = rp->s->cfg.chunk_size;

	while (n) {
		if (p->len == cap) {
			int err = pw_flush(rp, 0);
			if (err)
				return err;
		}
		size_t take = cap - p->len < n ? cap - p->len : n;
		memcpy(p->plain + p->len, src, take);
		p->len += take;
		src += take;
		n -= take;
	}
	return FERRY_OK;
}

/* Places a file of size bytes: a new pack when this one is full, a new chunk when the
 * file would straddle one it fits in (push's rule). Sets g's new location. */
static int pw_start_file(struct repack *rp, struct region *g)
{
	struct pwriter *p = &rp->pw;
	size_t cap = rp->s->cfg.chunk_size;
	int err;

	if (p->w && p->total + p->len >= DEFAULT_PACK_SIZE && (err = pw_seal(rp)))
		return err;
	if (!p->w && (err = pw_open(rp)))
		return err;
	if (p->len && (p->len == cap || (g->size <= cap && p->len + g->size > cap)) && (err = pw_flush(rp, 0)))
		return err;
	g->npack = (uint32_t)rp->nnp; /* the pack being written is the next one sealed */
	g->nfirst = p->index;
	g->noff = (uint32_t)p->len;
	return FERRY_OK;
}

/* ---------------------------------------------------------------- copying */

/* Copies every live file of one old pack (regions r[0..n)) into the new packs. */
static int copy_pack(struct repack *rp, struct region *r, size_t n, char *msg, size_t msglen)
{
	struct ferry_store *s = rp->s;
	struct objreader o;
	char key[64], why[512], hex[2 * FERRY_ID_LEN + 1];
	size_t cap = s->cfg.chunk_size, plen = 0;
	int64_t have = -1; /* chunk decoded in rplain */
	int err;

	store_object_key(r[0].obj, key);
	store_hex(r[0].obj, FERRY_ID_LEN, hex);
	err = objreader_open(s, key, r[0].obj, &o, why, sizeof(why));
	if (err) {
		store_setmsg(msg, msglen, "%s: repack: %s", s->path, why);
		objreader_close(s, &o);
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		struct region *g = &r[i];
		uint64_t left = g->size;
		uint32_t c = g->first, off = g->off;

		if ((err = pw_start_file(rp, g)))
			break;
		while (left && !err) {
			if (c >= o.f.chunk_count) {
				err = FERRY_E_FORMAT;
				break;
			}
			if (have != (int64_t)c) {
				err = objreader_read_frame(s, &o, c, rp->rframe, ferry_frame_bound(cap));
				if (!err)
					err = ferry_frame_decode(s->codec, &o.h, c, c + 1 == o.f.chunk_count, rp->rframe,
								 o.idx[c].frame_len, rp->rplain, cap, &plen);
				if (err)
					break;
				have = c;
			}
			if (off > plen) {
				err = FERRY_E_FORMAT;
				break;
			}
			size_t take = plen - off < left ? plen - off : (size_t)left;
			err = pw_append(rp, rp->rplain + off, take);
			left -= take;
			off = 0;
			c++;
		}
		g->ncount = rp->pw.index - g->nfirst + 1;
	}
	if (err && !msg[0])
		store_setmsg(msg, msglen, "%s: repack: data/%.2s/%s: %s", s->path, hex, hex, ferry_strerror(err));
	objreader_close(s, &o);
	return err;
}

/* ---------------------------------------------------------------- manifests */

static int rewrite_snapshot(struct repack *rp, const char *name, char *msg, size_t msglen)
{
	struct ferry_store *s = rp->s;
	struct mreader m;
	struct mwriter w;
	struct ferry_entry e;
	int ret, err = FERRY_OK, open = 0;

	memset(&m, 0, sizeof(m));
	memset(&w, 0, sizeof(w));
	if ((err = mreader_open(s, name, &m, msg, msglen)))
		return err;
	while ((ret = mreader_next(&m, &e, msg, msglen)) >= 0) {
		if (!open) { /* the header (its creation time) comes with the first call */
			if ((err = mwriter_open(s, &w, name, m.created))) {
				store_setmsg(msg, msglen, "%s@%s: repack: cannot write the manifest: %s", s->path, name,
					     ferry_strerror(err));
				break;
			}
			open = 1;
		}
		if (ret == 0)
			break;
		if (e.type == FERRY_ENTRY_FILE && e.chunk_count > 0 && idset_has(&rp->chosen, e.object_id)) {
			struct region key = { .first = e.first_chunk, .off = e.chunk_offset, .size = e.size };
			memcpy(key.obj, e.object_id, FERRY_ID_LEN);
			struct region *g = bsearch(&key, rp->r, rp->n, sizeof(*rp->r), region_cmp);
			if (!g) { /* cannot happen: every kept entry was noted */
				store_setmsg(msg, msglen, "%s@%s: repack: %s was not copied", s->path, name, e.path);
				err = FERRY_E_FORMAT;
				break;
			}
			memcpy(e.object_id, rp->np[g->npack].id, FERRY_ID_LEN);
			e.first_chunk = g->nfirst;
			e.chunk_offset = g->noff;
			e.chunk_count = g->ncount;
			e.object_size = rp->np[g->npack].size;
		}
		if ((err = mwriter_add(&w, &e))) {
			store_setmsg(msg, msglen, "%s@%s: repack: manifest: %s", s->path, name, ferry_strerror(err));
			break;
		}
	}
	if (ret < 0)
		err = -ret;
	mreader_close(&m);
	if (err) {
		mwriter_abort(&w); /* also after a failed open: it frees what the open got */
		return err;
	}
	if ((err = mwriter_finish(&w)))
		store_setmsg(msg, msglen, "%s@%s: repack: cannot replace the manifest: %s%s%s", s->path, name,
			     ferry_strerror(err), w.why[0] ? ": " : "", w.why);
	return err;
}

static int intersects(struct idset *a, const struct idset *chosen)
{
	for (size_t i = 0; i < a->n; i++)
		if (idset_has(chosen, a->v + i * FERRY_ID_LEN))
			return 1;
	return 0;
}

int repack_run(struct repack *rp, char *const *names, int dry_run, struct ferry_prune_result *res, char *msg,
	       size_t msglen)
{
	struct ferry_store *s = rp->s;
	size_t cap = s->cfg.chunk_size;
	int err = FERRY_OK, e;

	regions_compact(rp);
	idset_compact(&rp->excluded);
	for (size_t i = 0; i < rp->nsnaps; i++)
		idset_compact(&rp->snap_packs[i]);

	/* choose: live plaintext against the pack's whole plaintext (its footer) */
	for (size_t i = 0, j; i < rp->n; i = j) {
		uint64_t live = 0;
		for (j = i; j < rp->n && !memcmp(rp->r[j].obj, rp->r[i].obj, FERRY_ID_LEN); j++)
			live += rp->r[j].size;
		if (idset_has(&rp->excluded, rp->r[i].obj))
			continue;
		struct objreader o;
		char key[64], why[256];
		store_object_key(rp->r[i].obj, key);
		e = objreader_open(s, key, rp->r[i].obj, &o, why, sizeof(why));
		uint64_t plain = o.f.plain_total, size = o.size;
		objreader_close(s, &o);
		if (e)
			continue; /* unreadable: verify's business; left as it is */
		if (live >= plain || (plain - live) * 100 <= (uint64_t)rp->threshold * plain)
			continue;
		if ((err = idset_add(&rp->chosen, rp->r[i].obj)))
			return err;
		uint64_t *ns = realloc(rp->old_sizes, rp->chosen.n * sizeof(*ns));
		if (!ns)
			return FERRY_E_NOMEM;
		rp->old_sizes = ns;
		ns[rp->chosen.n - 1] = size;
		res->packs_repacked++;
		res->packs_repacked_bytes += size;
	}
	rp->chosen.sorted = rp->chosen.n; /* added in sorted order, without repeats */
	if (dry_run || rp->chosen.n == 0)
		return FERRY_OK;

	rp->pw.plain = malloc(cap);
	rp->pw.frame = malloc(ferry_frame_bound(cap));
	rp->rplain = malloc(cap);
	rp->rframe = malloc(ferry_frame_bound(cap));
	if (!rp->pw.plain || !rp->pw.frame || !rp->rplain || !rp->rframe)
		return FERRY_E_NOMEM;
	for (size_t i = 0, j; i < rp->n && !err; i = j) {
		for (j = i; j < rp->n && !memcmp(rp->r[j].obj, rp->r[i].obj, FERRY_ID_LEN); j++)
			;
		if (idset_has(&rp->chosen, rp->r[i].obj))
			err = copy_pack(rp, rp->r + i, j - i, msg, msglen);
	}
	if (!err && rp->pw.w)
		err = pw_seal(rp);
	if (!err && s->b->ops->sync && (e = s->b->ops->sync(s->b))) {
		store_setmsg(msg, msglen, "%s: repack: new packs: %s", s->path, store_berr(s->b, e));
		err = FERRY_E_IO;
	}
	if (err) {
		if (!msg[0])
			store_setmsg(msg, msglen, "%s: repack: %s", s->path, ferry_strerror(err));
		return err; /* the new packs are garbage for the next prune; no manifest names them */
	}
	res->packs_written = rp->nnp;
	for (size_t i = 0; i < rp->nnp; i++)
		res->packs_written_bytes += rp->np[i].size;
	kill_point("repack-packs");

	for (size_t i = 0; i < rp->nsnaps && !err; i++) {
		if (!names[i] || !intersects(&rp->snap_packs[i], &rp->chosen))
			continue;
		if ((err = rewrite_snapshot(rp, names[i], msg, msglen)))
			break;
		res->manifests_rewritten++;
		kill_point("repack-manifest");
	}
	if (!err)
		kill_point("repack-delete");
	return err;
}

size_t repack_old(const struct repack *rp, const uint8_t **ids, const uint64_t **sizes)
{
	*ids = rp->chosen.v;
	*sizes = rp->old_sizes;
	return rp->chosen.n;
}

void repack_destroy(struct repack *rp)
{
	if (!rp)
		return;
	if (rp->pw.w)
		rp->s->b->ops->abort(rp->s->b, rp->pw.w);
	if (rp->pw.plain)
		OPENSSL_cleanse(rp->pw.plain, rp->s->cfg.chunk_size);
	if (rp->rplain)
		OPENSSL_cleanse(rp->rplain, rp->s->cfg.chunk_size);
	free(rp->pw.plain);
	free(rp->pw.frame);
	free(rp->pw.idx);
	free(rp->rplain);
	free(rp->rframe);
	free(rp->r);
	for (size_t i = 0; i < rp->nsnaps; i++)
		idset_free(&rp->snap_packs[i]);
	free(rp->snap_packs);
	idset_free(&rp->excluded);
	idset_free(&rp->chosen);
	free(rp->old_sizes);
	free(rp->np);
	free(rp);
}
