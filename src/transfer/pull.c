/*
 * pull and verify: the pipeline that turns a snapshot back into files.
 *
 *   manifest (streamed) ─► loop thread: fetch frames (backend, ranged reads)
 *     ─► workers: decrypt+decompress+check ─► loop thread: xxh128 in order, write
 *     (io_uring) to a temporary name ─► check size and hash, restore metadata, rename
 *
 * verify --read-data runs the same pipeline without the writes. A chunk of a pack is
 * fetched once and shared by the small files it holds: the last few chunks fetched stay
 * cached (most recent first), so a large file between two members of one pack in path
 * order does not make the pack chunk be fetched again.
 *
 * Here: the run (the manifest fed in, the loop) and verify. pull_fetch.c fetches and
 * decodes chunks, pull_file.c restores files, pull_sweep.c compares with the destination.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/unattended.h"
#include "pull_int.h"

#define MAX_FILES_INFLIGHT 256

static int include_match(const char *path, const char *const *inc)
{
	if (!inc || !*inc)
		return 1;
	for (; *inc; inc++) {
		size_t n = strlen(*inc);
		if (fnmatch(*inc, path, FNM_PATHNAME) == 0 || fnmatch(*inc, path, 0) == 0)
			return 1;
		/* a directory pattern includes what is under it */
		if (strncmp(*inc, path, n) == 0 && path[n] == '/')
			return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- the loop */

static void feed(struct pull *p)
{
	char msg[512];

	for (;;) {
		struct ferry_entry e;
		int ret;

		if (p->fatal)
			return;
		/* the current file claims its chunks first */
		while (p->cur && p->cur->next_fetch < p->cur->e.chunk_count && !p->cur->failed) {
			if (pull_file_claim(p, p->cur))
				return;
		}
		if (p->cur) {
			struct xfile *f = p->cur;
			p->cur = NULL;
			pull_file_maybe_done(f);
		}
		if (p->files_inflight >= MAX_FILES_INFLIGHT)
			return;
		if (p->nospace && !p->manifest_done) {
			p->have_stalled = 0;
			p->manifest_done = 1;
		}
		if (p->have_stalled) {
			if (pull_start_file(p, &p->stalled))
				return;
			p->have_stalled = 0;
			continue;
		}
		if (p->manifest_done)
			return;
		ret = mreader_next(&p->m, &e, msg, sizeof(msg));
		if (ret < 0) {
			store_problem(p->r, p->s->path, NULL, -ret, "%s", msg);
			p->manifest_done = 1;
			return;
		}
		if (ret == 0) {
			p->manifest_done = 1;
			return;
		}
		if (!ferry_path_safe(e.path)) {
			store_problem(p->r, e.path, NULL, FERRY_E_FORMAT, "unsafe path in manifest (absolute or '..'); refused");
			continue;
		}
		if (!include_match(e.path, p->includes))
			continue;
		if (e.type == FERRY_ENTRY_FILE) {
			p->r->files_total++;
			p->r->bytes_total += e.size;
			if (p->r->dry_run) {
				p->r->files_transferred++;
				continue;
			}
			if (p->r->incremental && !p->verify && pull_local_matches(p, &e)) {
				p->r->files_unchanged++;
				continue;
			}
			const struct ferry_entry *je = journal_done(p->j, e.path);
			if (je && !memcmp(je->hash, e.hash, 16) && pull_local_matches(p, &e)) {
				p->r->files_resumed++; /* restored by the interrupted pull */
				continue;
			}
			if (pull_start_file(p, &e)) {
				/* keep it for later: the reader's buffers will hold the next entry */
				p->stalled = e;
				snprintf(p->stalled_path, sizeof(p->stalled_path), "%s", e.path);
				p->stalled.path = p->stalled_path;
				p->stalled.target = NULL;
				p->have_stalled = 1;
				return;
			}
		} else if (!p->verify && !p->r->dry_run) {
			pull_restore_other(p, &e);
		}
	}
}

/* Every source reads through the loop's own ring: a few chunks in flight keep it busy. */
static int all_local(const struct pull *p)
{
	for (unsigned k = 0; k < pull_nsrc(p); k++) {
		struct ferry_store *st = pull_src_store(p, (int)k);
		if (st->b && (!p->rs || p->rs->v[k].reachable) && !store_local(st))
			return 0;
	}
	return 1;
}

static int setup(struct pull *p)
{
	struct ferry_store *s = p->s;
	int jobs = p->r->jobs > 0 ? p->r->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int err;

	p->rs = p->verify ? NULL : s->replicas;
	p->loop = s->loop;
	p->chunk = s->cfg.chunk_size;
	if ((err = ferry_waker_start(&p->waker, p->loop)))
		return err;
	p->base_inflight = ferry_loop_inflight(p->loop);
	err = ferry_slots_create(&p->pool, p->loop, p->r->memory, jobs, p->chunk, all_local(p) ? (unsigned)jobs + 4 : 0);
	if (err)
		return err;
	p->bufsize = p->pool.bufs.size;
	p->slots = calloc(p->pool.n, sizeof(*p->slots));
	if (!p->slots)
		return FERRY_E_NOMEM;
	for (unsigned i = 0; i < p->pool.n; i++) {
		struct pslot *sl = &p->slots[i];
		sl->p = p;
		ferry_slots_buffers(&p->pool, i, &sl->plain, &sl->plain_bi, &sl->frame, &sl->frame_bi);
	}
	return ferry_workers_create(&p->wk, jobs, &s->keys, s->cfg.level, p->chunk, p->waker.fd);
}

static void teardown(struct pull *p)
{
	localfs_hashing_free(&p->hashing);
	ferry_workers_destroy(p->wk);
	p->wk = NULL;
	ferry_waker_stop(&p->waker);
	ferry_slots_destroy(&p->pool, p->loop);
	free(p->slots);
	for (int i = 0; i < OBJ_CACHE; i++)
		if (p->cache[i].valid)
			pull_cobj_close(p, &p->cache[i]);
	for (size_t i = 0; i < p->ndirs; i++)
		free(p->dirs[i].path);
	free(p->dirs);
	if (p->parent_fd >= 0)
		close(p->parent_fd);
}

static int finished(struct pull *p)
{
	return (p->fatal || (p->manifest_done && !p->have_stalled)) && !p->cur && !p->retry && p->files_inflight == 0 &&
	       p->fetching == 0 && ferry_workers_busy(p->wk) == 0 && ferry_loop_inflight(p->loop) <= p->base_inflight;
}

/* Runs one snapshot through the pipeline: into dst, or (dst NULL) only checked. */
static int run(struct ferry_store *s, const char *snap, const char *dst, const char *const *includes,
	       struct ferry_run *r)
{
	struct pull p;
	char msg[512];
	int err;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.r = r;
	p.verify = dst == NULL;
	p.includes = includes;
	p.waker.fd = p.root = p.parent_fd = -1;
	err = mreader_open(s, snap, &p.m, msg, sizeof(msg));
	if (err) {
		/* a snapshot the user named that is not there is a usage error, not corruption */
		if (err == FERRY_E_NOTFOUND && !p.verify)
			err = FERRY_E_INVAL;
		store_problem(r, p.verify && snap ? snap : s->path, NULL, err, "%s", msg);
		return err;
	}
	p.snap_name = p.m.name;
	if (!p.verify)
		snprintf(r->snapshot, sizeof(r->snapshot), "%s", p.m.name);
	if (!p.verify && !r->dry_run) {
		int e = pull_ensure_dst(dst);
		if (e < 0 || (p.root = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			store_problem(r, dst, NULL, FERRY_E_IO, "cannot create destination: %s",
				      strerror(e < 0 ? -e : errno));
			mreader_close(&p.m);
			return FERRY_E_IO;
		}
	}
	err = setup(&p);
	if (err) {
		store_problem(r, s->path, NULL, err, "cannot set up the pipeline: %s", ferry_strerror(err));
		goto out;
	}
	if (!p.verify && !r->dry_run)
		p.j = journal_open_pull(s, p.m.name, dst, r);
	for (;;) {
		struct ferry_job *j = ferry_workers_reap(p.wk);
		while (j) {
			struct ferry_job *next = j->next;
			struct pslot *sl = container_of(j, struct pslot, job);
			if (!j->err || !pull_retry_later(&p, sl, j->err))
				pull_chunk_ready(&p, sl, j->err);
			j = next;
		}
		if (p.retry)
			pull_retry(&p);
		feed(&p);
		journal_flush(p.j);
		if (r->progress && ferry_mono() - p.last_progress > 0.2) {
			p.last_progress = ferry_mono();
			r->progress(r->progress_arg, r);
		}
		if (finished(&p))
			break;
		/* a wake-up taken by a nested run means there may be work queued: look again first */
		int wait = !p.waker.fired && !p.retry;
		p.waker.fired = 0;
		if (ferry_loop_run(p.loop, wait) < 0)
			break;
	}
	for (int i = 0; i < CHUNK_CACHE; i++)
		if (p.shared[i])
			pull_pslot_unref(&p, p.shared[i]);
	if (p.nospace)
		store_problem(r, dst, NULL, FERRY_E_IO,
			      "destination full (No space left on device): stopped, %llu more file(s) in flight not written; "
			      "free space and run again", (unsigned long long)p.nospace_more);
	if (!p.verify && !r->dry_run)
		pull_finish_dirs(&p);
	err = p.fatal ? p.fatal : r->errors ? FERRY_E_IO : FERRY_OK;
out:
	journal_close(p.j, err == FERRY_OK);
	teardown(&p);
	mreader_close(&p.m);
	if (p.root >= 0)
		close(p.root);
	return err;
}

int ferry_pull(struct ferry_store *s, const char *snap, const char *dst, const char *const *includes,
	       struct ferry_run *r)
{
	int err = run(s, snap, dst, includes, r);

	/* only after a complete restore: never delete on the word of a snapshot we could not read */
	if (r->delete_extra && !r->dry_run && err == FERRY_OK && r->errors == 0)
		pull_delete_extra(s, r->snapshot, dst, r);
	return err;
}

/*
 * Without read_data: every referenced object exists with the size its manifest says,
 * and each file's chunks and bytes fit what an object of that size, in chunks of the
 * store's size, can hold. Only the stat of each object is asked for; no byte is read.
 */
static void verify_sizes(struct ferry_store *s, const char *snap, struct ferry_run *r)
{
	struct mreader m;
	struct ferry_entry e;
	char msg[512], key[64], what[FERRY_PATH_MAX + 80];
	uint8_t last[FERRY_ID_LEN] = { 0 };
	uint64_t last_size = 0;
	int have_last = 0, missing = 0, ret;

	if (mreader_open(s, snap, &m, msg, sizeof(msg))) {
		store_problem(r, snap, NULL, FERRY_E_FORMAT, "%s", msg);
		return;
	}
	while ((ret = mreader_next(&m, &e, msg, sizeof(msg))) > 0) {
		uint64_t size;
		int b;

		if (e.type != FERRY_ENTRY_FILE || e.chunk_count == 0)
			continue;
		/* files packed together share an object: look at each object once */
		if (!have_last || memcmp(last, e.object_id, FERRY_ID_LEN)) {
			store_object_key(e.object_id, key);
			b = s->b->ops->stat(s->b, key, &size);
			memcpy(last, e.object_id, FERRY_ID_LEN);
			have_last = 1;
			missing = b != 0;
			last_size = b ? 0 : size;
			r->objects_checked++;
		}
		uint64_t end = (uint64_t)e.first_chunk + e.chunk_count, cs = s->cfg.chunk_size;
		uint64_t most = ferry_object_max_chunks(last_size);
		if (!missing && last_size == e.object_size && end <= most && e.chunk_offset < cs &&
		    e.size <= e.chunk_count * cs - e.chunk_offset)
			continue;
		snprintf(what, sizeof(what), "%s@%s", e.path, m.name);
		store_object_key(e.object_id, key);
		if (missing)
			store_problem(r, what, NULL, FERRY_E_NOTFOUND, "object %s missing", key);
		else if (last_size != e.object_size)
			store_problem(r, what, NULL, FERRY_E_TRUNCATED, "object %s: size %llu, manifest says %llu", key,
				      (unsigned long long)last_size, (unsigned long long)e.object_size);
		else if (end > most)
			store_problem(r, what, NULL, FERRY_E_FORMAT,
				      "object %s: manifest names chunks %llu to %llu, beyond the end of the object "
				      "(%llu bytes hold at most %llu chunk(s))",
				      key, (unsigned long long)e.first_chunk, (unsigned long long)end - 1,
				      (unsigned long long)last_size, (unsigned long long)most);
		else
			store_problem(r, what, NULL, FERRY_E_FORMAT,
				      "object %s: manifest names bytes beyond the file's chunks "
				      "(%llu bytes from offset %lu in %lu chunk(s) of at most %llu bytes)",
				      key, (unsigned long long)e.size, (unsigned long)e.chunk_offset,
				      (unsigned long)e.chunk_count, (unsigned long long)cs);
	}
	if (ret < 0)
		store_problem(r, snap, NULL, -ret, "%s", msg);
	mreader_close(&m);
}

int ferry_verify(struct ferry_store *s, int read_data, struct ferry_run *r)
{
	char **names;
	size_t n;
	int err = store_snapshot_names(s, &names, &n);

	if (err) {
		store_problem(r, s->path, NULL, err, "cannot list snapshots");
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		if (read_data)
			run(s, names[i], NULL, NULL, r);
		else
			verify_sizes(s, names[i], r);
	}
	store_names_free(names, n);
	return r->errors ? FERRY_E_CHECKSUM : FERRY_OK;
}
