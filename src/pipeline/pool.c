/* The memory budget (buffer pairs registered with io_uring), the slot pool push and pull hand
 * them out from, and the loop's waker eventfd. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pipeline.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

unsigned ferry_budget_pairs(uint64_t memory, uint64_t reserve, size_t size)
{
	uint64_t n = memory > reserve ? (memory - reserve) / (2 * (uint64_t)size) : 0;

	if (n < 4)
		n = 4;
	if (n > 1024)
		n = 1024;
	return (unsigned)n;
}

unsigned ferry_pipeline_pairs(uint64_t memory, uint64_t reserve, size_t size, unsigned depth)
{
	unsigned n = ferry_budget_pairs(memory, reserve, size);

	return depth && n > depth ? depth : n;
}

int ferry_bufs_create(struct ferry_bufs *b, struct ferry_loop *l, unsigned n, size_t size)
{
	memset(b, 0, sizeof(*b));
	b->buf = calloc(2 * (size_t)n, sizeof(*b->buf));
	b->used = calloc(n, 1);
	if (!b->buf || !b->used) {
		free(b->buf);
		free(b->used);
		b->buf = NULL;
		b->used = NULL;
		return FERRY_E_NOMEM;
	}
	b->n = n;
	b->size = size;
	for (unsigned i = 0; i < 2 * n; i++) {
		/* 4 KiB aligned, so O_DIRECT reads can land in them */
		if (posix_memalign((void **)&b->buf[i], 4096, size)) {
			b->buf[i] = NULL;
			ferry_bufs_destroy(b, NULL);
			return FERRY_E_NOMEM;
		}
	}
	ferry_loop_register(l, (void **)b->buf, 2 * n, size);
	return FERRY_OK;
}

void ferry_bufs_destroy(struct ferry_bufs *b, struct ferry_loop *l)
{
	if (l)
		ferry_loop_unregister(l);
	for (unsigned i = 0; b->buf && i < 2 * b->n; i++) {
		/* buffers that held data held plaintext: wipe those; wiping the whole budget
		 * cost ~0.9 s per command at the default 256M on this machine kind */
		if (b->buf[i] && b->used && b->used[i / 2])
			explicit_bzero(b->buf[i], b->size);
		free(b->buf[i]);
	}
	free(b->buf);
	free(b->used);
	memset(b, 0, sizeof(*b));
}

int ferry_slots_create(struct ferry_slots *s, struct ferry_loop *l, uint64_t memory, int jobs, size_t chunk,
		       unsigned depth)
{
	/* a frame can outgrow its chunk a little; whole pages, so O_DIRECT reads fit too */
	size_t size = (ferry_frame_bound(chunk) + 4095) & ~(size_t)4095;
	unsigned n = ferry_pipeline_pairs(memory ? memory : DEFAULT_MEMORY, store_codec_reserve(jobs, chunk), size, depth);
	int err;

	memset(s, 0, sizeof(*s));
	s->free = calloc(n, sizeof(*s->free));
	if (!s->free)
		return FERRY_E_NOMEM;
	if ((err = ferry_bufs_create(&s->bufs, l, n, size))) {
		free(s->free);
		s->free = NULL;
		return err;
	}
	s->n = n;
	/* the last slot is handed out first, as from a list the slots were pushed on in order */
	for (unsigned i = 0; i < n; i++)
		s->free[s->nfree++] = i;
	return FERRY_OK;
}

void ferry_slots_buffers(const struct ferry_slots *s, unsigned i, uint8_t **plain, int *plain_bi, uint8_t **frame,
			 int *frame_bi)
{
	*plain = s->bufs.buf[2 * i];
	*frame = s->bufs.buf[2 * i + 1];
	*plain_bi = (int)(2 * i);
	*frame_bi = (int)(2 * i + 1);
}

int ferry_slots_get(struct ferry_slots *s)
{
	unsigned i;

	if (!s->nfree)
		return -1;
	i = s->free[--s->nfree];
	ferry_bufs_touch(&s->bufs, i);
	return (int)i;
}

void ferry_slots_put(struct ferry_slots *s, unsigned i)
{
	s->free[s->nfree++] = i;
}

void ferry_slots_destroy(struct ferry_slots *s, struct ferry_loop *l)
{
	ferry_bufs_destroy(&s->bufs, l);
	free(s->free);
	memset(s, 0, sizeof(*s));
}

static void wake(struct ferry_ev *ev, int res)
{
	struct ferry_waker *w = container_of(ev, struct ferry_waker, ev);
	uint64_t v;

	(void)res;
	w->fired = 1;
	if (read(w->fd, &v, sizeof(v)) < 0) {
		/* already drained: nothing to do */
	}
	ferry_loop_watch(w->loop, w->fd, &w->ev);
}

int ferry_waker_start(struct ferry_waker *w, struct ferry_loop *l)
{
	w->loop = l;
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0)
		return FERRY_E_IO;
	w->ev.fn = wake;
	ferry_loop_watch(l, w->fd, &w->ev);
	return FERRY_OK;
}

void ferry_waker_stop(struct ferry_waker *w)
{
	if (w->fd < 0)
		return;
	if (w->loop && w->ev.fn)
		ferry_loop_unwatch(w->loop, &w->ev);
	close(w->fd);
	w->fd = -1;
}
