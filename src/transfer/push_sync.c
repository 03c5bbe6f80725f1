/* push: what each scanned item becomes: carried over from the latest snapshot (sync) or
 * from an interrupted run (the journal), or read and sent. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "ferry/unattended.h"
#include "push_int.h"

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
	struct pent *pe = push_pent_new(p, it);

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

/* sync: the latest snapshot, read alongside the scan; without a usable one everything is sent. */
void push_sync_open(struct push *p)
{
	struct ferry_store *s = p->s;
	struct ferry_run *r = p->r;
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
		e = mreader_open(s, base, &p->old, msg, sizeof(msg));
	} else if (e != FERRY_E_NOTFOUND) {
		snprintf(msg, sizeof(msg), "%s/snapshots: %s", s->path, ferry_strerror(e));
	}
	if (e == FERRY_OK) {
		p->have_old = 1;
		old_next(p);
	} else if (e != FERRY_E_NOTFOUND) {
		store_problem(r, s->path, NULL, e, "%s; sending everything", msg);
	}
	/* with no base, a partial base (a complete one is owed) or a shard: always write */
	if (!p->have_old || base_partial || r->shard_count > 1)
		p->changed = 1;
}

/* Takes one scan item; returns 1 if it has to wait for resources. */
int push_take_item(struct push *p, struct ferry_scan_item *it)
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
			pe = push_pent_new(p, it);
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
			int wait = push_start_small(p, it);
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
			push_start_large(p, it);
		}
		if (old)
			old_next(p);
		return 0;
	}
	if (p->r->dry_run)
		return 0;
	pe = push_pent_new(p, it);
	if (pe)
		pe->ready = 1;
	if (old)
		old_next(p);
	return 0;
}
