/* The worker pool: threads that run CPU stages of chunk jobs, each with its own codec. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipeline.h"

struct worker {
	pthread_t tid;
	struct ferry_codec *codec;
	struct ferry_workers *pool;
};

struct ferry_workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ferry_job *todo_head, *todo_tail;
	struct ferry_job *done;
	unsigned busy; /* submitted and not yet reaped */
	int stop;
	int wake_fd;
	int n;
	struct worker *w;
};

void ferry_wake(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	do
		r = write(fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}

static void *worker_main(void *arg)
{
	struct worker *me = arg;
	struct ferry_workers *p = me->pool;

	for (;;) {
		struct ferry_job *j;

		pthread_mutex_lock(&p->mu);
		while (!p->todo_head && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->todo_head) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = p->todo_head;
		p->todo_head = j->next;
		if (!p->todo_head)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);

		j->fn(j, me->codec);

		pthread_mutex_lock(&p->mu);
		j->next = p->done;
		p->done = j;
		pthread_mutex_unlock(&p->mu);
		ferry_wake(p->wake_fd);
	}
}

int ferry_workers_create(struct ferry_workers **out, int n, const struct ferry_keys *keys, int level, size_t max_chunk,
			 int wake_fd)
{
	struct ferry_workers *p = calloc(1, sizeof(*p));
	int err = FERRY_OK;

	*out = NULL;
	if (!p)
		return FERRY_E_NOMEM;
	if (n < 1)
		n = 1;
	p->w = calloc((size_t)n, sizeof(*p->w));
	if (!p->w) {
		free(p);
		return FERRY_E_NOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->wake_fd = wake_fd;
	for (int i = 0; i < n; i++) {
		p->w[i].pool = p;
		err = ferry_codec_create(&p->w[i].codec, keys, level, max_chunk);
		if (err)
			break;
		if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]) != 0) {
			ferry_codec_destroy(p->w[i].codec);
			err = FERRY_E_NOMEM;
			break;
		}
		p->n++;
	}
	if (err) {
		ferry_workers_destroy(p);
		return err;
	}
	*out = p;
	return FERRY_OK;
}

void ferry_workers_destroy(struct ferry_workers *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++) {
		pthread_join(p->w[i].tid, NULL);
		ferry_codec_destroy(p->w[i].codec);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->w);
	free(p);
}

void ferry_workers_submit(struct ferry_workers *p, struct ferry_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->todo_tail)
		p->todo_tail->next = j;
	else
		p->todo_head = j;
	p->todo_tail = j;
	p->busy++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

struct ferry_job *ferry_workers_reap(struct ferry_workers *p)
{
	struct ferry_job *j, *n;
	unsigned count = 0;

	pthread_mutex_lock(&p->mu);
	j = p->done;
	p->done = NULL;
	for (n = j; n; n = n->next)
		count++;
	p->busy -= count;
	pthread_mutex_unlock(&p->mu);
	return j;
}

unsigned ferry_workers_busy(struct ferry_workers *p)
{
	unsigned b;

	pthread_mutex_lock(&p->mu);
	b = p->busy;
	pthread_mutex_unlock(&p->mu);
	return b;
}
