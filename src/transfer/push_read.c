/* push: reading the source: a large file is an object of its own, read in chunks; small
 * files are read side by side (open, read, statx, close through the ring) into a pack. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "push_int.h"

#define MAX_SMALL_INFLIGHT 128

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

/* ---------------------------------------------------------------- large files */

static void rfile_fail(struct rfile *f, int err, const char *detail)
{
	struct push *p = f->p;

	if (!f->failed) {
		f->failed = 1;
		store_problem(p->r, f->pe->e.path, NULL, err, "%s", detail);
		f->pe->failed = 1;
		push_obj_fail(f->obj, err);
	}
}

void push_rfile_release(struct rfile *f)
{
	f->outstanding--;
	push_rfile_finish_if_done(f);
}

/* In chunk order (obj_place): the whole-file xxh128. */
void push_rfile_chunk_hashed(struct rfile *f, struct slot *sl)
{
	ferry_filehash_update(f->fh, sl->plain, sl->plain_len);
	f->hashed++;
	if (f->hashed == f->nchunks) {
		ferry_hash128_encode(ferry_filehash_digest(f->fh), f->pe->e.hash);
		f->pe->ready = 1;
	}
}

void push_rfile_finish_if_done(struct rfile *f)
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
	push_obj_unref(f->obj);
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
		push_slot_put(p, sl);
		return;
	}
	if (res < 0) {
		char why[300];
		snprintf(why, sizeof(why), "read failed: %s", strerror(-res));
		rfile_fail(f, FERRY_E_IO, why);
		push_slot_put(p, sl);
		return;
	}
	if (res == 0) {
		rfile_fail(f, FERRY_E_IO, "file changed while being read (shrank); not stored");
		push_slot_put(p, sl);
		return;
	}
	sl->got += (size_t)res;
	if (sl->got > sl->plain_len) {
		/* only an O_DIRECT read asks for more than the chunk: the file grew */
		rfile_fail(f, FERRY_E_IO, "file changed while being read (grew); not stored");
		push_slot_put(p, sl);
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
			push_slot_put(p, sl);
			return;
		}
	}
	push_encode(p, sl);
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
void push_rfile_pump(struct push *p)
{
	struct rfile *f = p->reading;

	while (f && !f->failed && f->next_read < f->nchunks) {
		struct slot *sl = push_slot_get(p);
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
		push_rfile_finish_if_done(f);
	}
}

void push_start_large(struct push *p, struct ferry_scan_item *it)
{
	char full[8192];
	struct rfile *f;
	struct pent *pe = push_pent_new(p, it);

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
	f->obj = push_obj_open(p, up);
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
void push_pack_seal(struct push *p, int last)
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
		push_obj_unref(p->pack); /* the pack builder's reference */
		p->pack = NULL;
		p->pack_bytes = 0;
	}
	if (sl->pending == 0)
		push_encode(p, sl);
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
		push_encode(p, sl);
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
int push_start_small(struct push *p, struct ferry_scan_item *it)
{
	struct sfile *sf;
	struct pent *pe;
	struct io_uring_sqe *sqe;

	if (p->small_inflight >= MAX_SMALL_INFLIGHT)
		return 1;
	if (p->pack_slot && p->pack_slot->plain_len + it->size > p->chunk) {
		/* more data follows this chunk: it is the pack's last only if the pack is full */
		push_pack_seal(p, p->pack_bytes >= p->pack_size);
	}
	if (!p->pack_slot) {
		if (!p->pool.nfree)
			return 1;
		if (!p->pack) {
			p->pack = push_obj_open(p, NULL);
			if (!p->pack)
				return 0;
			p->pack->refs++; /* the pack builder's, dropped when its last chunk is sealed */
		}
		struct slot *sl = push_slot_get(p);
		sl->obj = p->pack;
		p->pack->busy++;
		sl->index = p->pack->nchunks++;
		p->pack_slot = sl;
	}
	pe = push_pent_new(p, it);
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
