/* Backend registry: picks the backend for a location, checks its ops, owns its private state. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/backend.h"

/* The backends this build has (CMake's FERRY_WITH_* options); a location's scheme picks one. */
static const struct ferry_backend_ops *const builtin[] = {
	&ferry_posix_backend,
#ifdef FERRY_WITH_S3
	&ferry_s3_backend,
#endif
};

static pthread_mutex_t msg_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_msg[600];
static int last_res;

void ferry_backend_setmsg(int res, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&msg_mu);
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	last_res = res;
	pthread_mutex_unlock(&msg_mu);
}

const char *ferry_backend_message(int res, char *buf, size_t len)
{
	const char *r = NULL;

	pthread_mutex_lock(&msg_mu);
	if (res == last_res && last_msg[0]) {
		snprintf(buf, len, "%s", last_msg);
		r = buf;
	}
	pthread_mutex_unlock(&msg_mu);
	return r;
}

int ferry_backend_err(int res)
{
	if (res >= 0)
		return FERRY_OK;
	if (res <= -4096)
		return -res - 4096;
	return FERRY_E_IO;
}

int ferry_backend_check(const struct ferry_backend_ops *o)
{
	if (!o || !o->name || o->abi != FERRY_BACKEND_ABI)
		return FERRY_E_UNSUPPORTED;
	if (!o->open || !o->close || !o->get || !o->put || !o->stat || !o->list || !o->del || !o->wopen ||
	    !o->write || !o->commit || !o->abort || !o->ropen || !o->read || !o->rclose)
		return FERRY_E_UNSUPPORTED;
	/* the resume hooks come as a set */
	int missing = !o->set_events + !o->wresume + !o->uploads + !o->uabort;
	if (missing != 0 && missing != 4)
		return FERRY_E_UNSUPPORTED;
	return FERRY_OK;
}

int ferry_backend_del_many(struct ferry_backend *b, const char *const *keys, size_t n, size_t *failed)
{
	size_t bad = 0;
	int e = 0;

	if (n == 0)
		return 0;
	if (b->ops->delete_many) {
		e = b->ops->delete_many(b, keys, n, &bad);
	} else {
		for (size_t i = 0; i < n && !e; i++)
			if ((e = b->ops->del(b, keys[i])))
				bad = i;
	}
	if (e && failed)
		*failed = bad;
	return e;
}

int ferry_backend_resolve(const char *location, const struct ferry_backend_ops **ops, const char **rest, char *msg,
			  size_t msglen)
{
	size_t n = strspn(location, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	*ops = &ferry_posix_backend;
	*rest = location;
	if (n == 0 || strncmp(location + n, "://", 3))
		return FERRY_OK; /* a path (a "://" after a slash is part of a name) */
	if (n == 4 && !strncmp(location, "file", 4)) {
		*rest = location + 7;
		return FERRY_OK;
	}
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strlen(builtin[i]->name) == n && !strncmp(location, builtin[i]->name, n)) {
			*ops = builtin[i];
			return FERRY_OK;
		}
	*ops = NULL;
	snprintf(msg, msglen, "no backend for this URL scheme in this build");
	return FERRY_E_INVAL; /* the user's input: a usage error (exit 2) */
}

const char *ferry_kv_get(const struct ferry_kv *opts, const char *key)
{
	for (; opts && opts->key; opts++)
		if (!strcmp(opts->key, key))
			return opts->value;
	return NULL;
}

unsigned ferry_location_caps(const char *location)
{
	const struct ferry_backend_ops *ops;
	const char *rest;
	char why[128];

	if (ferry_backend_resolve(location, &ops, &rest, why, sizeof(why)))
		return 0;
	return ops->caps;
}

/* Every key of opts is one the backend lists: else FERRY_E_INVAL naming it and what is accepted. */
static int check_options(const struct ferry_backend_ops *ops, const struct ferry_kv *opts, char *msg, size_t msglen)
{
	for (; opts && opts->key; opts++) {
		const struct ferry_backend_option *o = ops->options;
		size_t n = 0;

		while (o && o->name && strcmp(o->name, opts->key))
			o++;
		if (o && o->name)
			continue;
		n = (size_t)snprintf(msg, msglen, "backend %s: unknown option '%s' (it takes:", ops->name, opts->key);
		for (o = ops->options; o && o->name && n < msglen; o++)
			n += (size_t)snprintf(msg + n, msglen - n, " %s", o->name);
		if (n < msglen)
			snprintf(msg + n, msglen - n, "%s)", ops->options && ops->options->name ? "" : " none");
		return FERRY_E_INVAL;
	}
	return FERRY_OK;
}

int ferry_backend_open(struct ferry_backend **out, const char *location, const struct ferry_kv *opts,
		       struct ferry_loop *loop, char *msg, size_t msglen)
{
	const struct ferry_backend_ops *ops;
	struct ferry_backend *b;
	char why[600];
	int ret;

	*out = NULL;
	if ((ret = ferry_backend_resolve(location, &ops, &location, why, sizeof(why)))) {
		snprintf(msg, msglen, "%s: %s", location, why);
		return ret;
	}
	if (ferry_backend_check(ops)) {
		snprintf(msg, msglen, "backend %s: incompatible (ABI %u, want %u) or incomplete", ops->name, ops->abi,
			 FERRY_BACKEND_ABI);
		return FERRY_E_UNSUPPORTED;
	}
	if ((ret = check_options(ops, opts, msg, msglen)))
		return ret;
	if (strlen(location) >= sizeof(b->location)) {
		snprintf(msg, msglen, "location too long");
		return FERRY_E_INVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return FERRY_E_NOMEM;
	b->ops = ops;
	b->loop = loop;
	strcpy(b->location, location);
	if (ops->priv_size && !(b->priv = calloc(1, ops->priv_size))) {
		free(b);
		return FERRY_E_NOMEM;
	}
	ret = ops->open(b, location, opts, loop);
	if (ret < 0) {
		const char *m = ferry_backend_message(ret, why, sizeof(why));
		snprintf(msg, msglen, "%s: %s", location,
			 m ? m : ret <= -4096 ? ferry_strerror(ferry_backend_err(ret)) : strerror(-ret));
		free(b->priv);
		free(b);
		return ret == -ENOENT ? FERRY_E_NOTFOUND : ferry_backend_err(ret);
	}
	*out = b;
	return FERRY_OK;
}

void ferry_backend_close(struct ferry_backend *b)
{
	if (!b)
		return;
	b->ops->close(b);
	free(b->priv);
	free(b);
}
