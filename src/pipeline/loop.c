/* The event loop: one io_uring per I/O thread; every completion is a ferry_ev to dispatch. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <liburing.h>

#include "ferry/backend.h"

struct ferry_loop {
	struct io_uring ring;
	unsigned inflight;
	int fixed;
};

int ferry_loop_create(struct ferry_loop **out, const struct ferry_loop_opts *o)
{
	struct ferry_loop *l = calloc(1, sizeof(*l));
	unsigned depth = o && o->depth ? o->depth : 64;
	int ret;

	*out = NULL;
	if (!l)
		return FERRY_E_NOMEM;
	ret = io_uring_queue_init(depth, &l->ring, 0);
	if (ret < 0) {
		free(l);
		return FERRY_E_IO;
	}
	if (o && o->bufs && o->nbufs)
		ferry_loop_register(l, o->bufs, o->nbufs, o->buf_len);
	*out = l;
	return FERRY_OK;
}

int ferry_loop_register(struct ferry_loop *l, void **bufs, unsigned n, size_t len)
{
	struct iovec *iov = calloc(n, sizeof(*iov));
	int ret;

	ferry_loop_unregister(l);
	if (!iov)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = len;
	}
	/* registration can fail (memlock limits); plain reads and writes still work */
	ret = io_uring_register_buffers(&l->ring, iov, n);
	l->fixed = ret == 0;
	free(iov);
	return ret;
}

void ferry_loop_unregister(struct ferry_loop *l)
{
	if (l->fixed)
		io_uring_unregister_buffers(&l->ring);
	l->fixed = 0;
}

void ferry_loop_destroy(struct ferry_loop *l)
{
	if (!l)
		return;
	ferry_loop_unregister(l);
	io_uring_queue_exit(&l->ring);
	free(l);
}

struct io_uring_sqe *ferry_loop_sqe(struct ferry_loop *l, struct ferry_ev *ev)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	while (!sqe) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	io_uring_sqe_set_data(sqe, ev);
	l->inflight++;
	return sqe;
}

int ferry_loop_run(struct ferry_loop *l, int wait)
{
	struct io_uring_cqe *cqes[64];
	struct ferry_ev *evs[64];
	int res[64];
	unsigned n;
	int ret;

	ret = io_uring_submit_and_wait(&l->ring, wait && l->inflight ? 1 : 0);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	/* collect first, then dispatch: handlers queue new work on the same ring */
	n = io_uring_peek_batch_cqe(&l->ring, cqes, 64);
	for (unsigned i = 0; i < n; i++) {
		evs[i] = io_uring_cqe_get_data(cqes[i]);
		res[i] = cqes[i]->res;
	}
	io_uring_cq_advance(&l->ring, n);
	l->inflight -= n;
	for (unsigned i = 0; i < n; i++)
		if (evs[i])
			evs[i]->fn(evs[i], res[i]);
	return (int)n;
}

void ferry_loop_reserve(struct ferry_loop *l, unsigned n)
{
	if (io_uring_sq_space_left(&l->ring) < n)
		io_uring_submit(&l->ring);
}

unsigned ferry_loop_inflight(const struct ferry_loop *l)
{
	return l->inflight;
}

int ferry_loop_fixed(const struct ferry_loop *l)
{
	return l->fixed;
}

int ferry_loop_watch(struct ferry_loop *l, int fd, struct ferry_ev *ev)
{
	struct io_uring_sqe *sqe = ferry_loop_sqe(l, ev);

	io_uring_prep_poll_add(sqe, fd, POLLIN);
	return FERRY_OK;
}

static void ignore(struct ferry_ev *ev, int res)
{
	(void)ev;
	(void)res;
}

/* unwatch's progress: the cancel's own completion and, when it found the poll, the poll's */
static __thread int unwatch_cancel_done, unwatch_cancel_res, unwatch_poll_done;

static void unwatch_cancelled(struct ferry_ev *ev, int res)
{
	(void)ev;
	unwatch_cancel_done = 1;
	unwatch_cancel_res = res;
}

static void unwatch_poll_ended(struct ferry_ev *ev, int res)
{
	ev->fn = ignore;
	(void)res;
	unwatch_poll_done = 1;
}

void ferry_loop_unwatch(struct ferry_loop *l, struct ferry_ev *ev)
{
	static __thread struct ferry_ev cancel_ev = { unwatch_cancelled };
	struct io_uring_sqe *sqe;

	/* the poll may still fire before the cancel lands: make that harmless. Other
	 * watches (a backend's) stay in flight, so wait for these two completions only. */
	ev->fn = unwatch_poll_ended;
	unwatch_cancel_done = unwatch_poll_done = 0;
	sqe = ferry_loop_sqe(l, &cancel_ev);
	io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)ev);
	while (!unwatch_cancel_done || (unwatch_cancel_res == 0 && !unwatch_poll_done))
		if (ferry_loop_run(l, 1) < 0)
			break;
	ev->fn = ignore;
}
