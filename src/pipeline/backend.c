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

/* Guards every instance's message: a lock's heartbeat thread
 * and a network thread may fail while the loop's thread reads a message. Errors are
 * rare, so one lock for all costs nothing. */
static pthread_mutex_t msg_mu = PTHREAD_MUTEX_INITIALIZER;
static void record(struct ferry_backend *b, int res, const char *text)
{
	for (int hop = 0; b && hop < 4; hop++, b = b->err_to) {
		snprintf(b->err_msg, sizeof(b->err_msg), "%s", text);
		b->err_res = res;
	}
}

void ferry_backend_seterr(struct ferry_backend *b, int res, const char *fmt, ...)
{
	char text[sizeof(b->err_msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&msg_mu);
	record(b, res, text);
	pthread_mutex_unlock(&msg_mu);
}

const char *ferry_backend_errmsg(const struct ferry_backend *b, int res, char *buf, size_t len)
{
	const char *r = NULL;

	if (!b)
		return NULL;
	pthread_mutex_lock(&msg_mu);
	if (res == b->err_res && b->err_msg[0]) {
		snprintf(buf, len, "%s", b->err_msg);
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

/* The options the backend ops sees, in *out (free it): keys scoped to another backend
 * ("s3.region" for posix) left out, its own scope taken off, the first of a name kept.
 * Every key left must be one the backend lists: else FERRY_E_INVAL naming it and what
 * is accepted. A scope no backend of this build has is refused as well (a typo). */
static int own_options(const struct ferry_backend_ops *ops, const struct ferry_kv *opts, struct ferry_kv **out,
		       char *msg, size_t msglen)
{
	size_t n = 0, k = 0;
	struct ferry_kv *eff;

	for (const struct ferry_kv *o = opts; o && o->key; o++)
		n++;
	*out = eff = calloc(n + 1, sizeof(*eff));
	if (!eff)
		return FERRY_E_NOMEM;
	for (; opts && opts->key; opts++) {
		const char *key = opts->key, *dot = strchr(key, '.');
		const struct ferry_backend_option *o = ops->options;
		size_t m = 0, i;

		if (dot) {
			for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
				if (strlen(builtin[i]->name) == (size_t)(dot - key) &&
				    !strncmp(builtin[i]->name, key, (size_t)(dot - key)))
					break;
			if (i == sizeof(builtin) / sizeof(builtin[0])) {
				snprintf(msg, msglen, "option '%s': no backend '%.*s' in this build", key,
					 (int)(dot - key), key);
				return FERRY_E_INVAL;
			}
			if (builtin[i] != ops)
				continue;
			key = dot + 1;
		}
		if (ferry_kv_get(eff, key))
			continue; /* the first wins */
		while (o && o->name && strcmp(o->name, key))
			o++;
		if (o && o->name) {
			eff[k++] = (struct ferry_kv){ key, opts->value ? opts->value : "" };
			continue;
		}
		m = (size_t)snprintf(msg, msglen, "backend %s: unknown option '%s' (it takes:", ops->name, opts->key);
		for (o = ops->options; o && o->name && m < msglen; o++)
			m += (size_t)snprintf(msg + m, msglen - m, " %s", o->name);
		if (m < msglen)
			snprintf(msg + m, msglen - m, "%s)", ops->options && ops->options->name ? "" : " none");
		return FERRY_E_INVAL;
	}
	return FERRY_OK;
}

struct ferry_kv *ferry_kv_dup(const struct ferry_kv *first, const struct ferry_kv *opts)
{
	const struct ferry_kv *part[2] = { first, opts };
	size_t n = 0, bytes = 0;
	struct ferry_kv *out;
	char *p;

	for (int j = 0; j < 2; j++)
		for (const struct ferry_kv *o = part[j]; o && o->key; o++) {
			n++;
			bytes += strlen(o->key) + 1 + strlen(o->value ? o->value : "") + 1;
		}
	out = malloc((n + 1) * sizeof(*out) + bytes);
	if (!out)
		return NULL;
	p = (char *)(out + n + 1);
	n = 0;
	for (int j = 0; j < 2; j++)
		for (const struct ferry_kv *o = part[j]; o && o->key; o++) {
			size_t kl = strlen(o->key) + 1, vl = strlen(o->value ? o->value : "") + 1;
			out[n].key = memcpy(p, o->key, kl);
			out[n].value = memcpy(p + kl, o->value ? o->value : "", vl);
			p += kl + vl;
			n++;
		}
	out[n] = (struct ferry_kv){ NULL, NULL };
	return out;
}

int ferry_backend_open(struct ferry_backend **out, const char *location, const struct ferry_kv *opts,
		       struct ferry_loop *loop, char *msg, size_t msglen)
{
	const struct ferry_backend_ops *ops;
	struct ferry_kv *eff = NULL;
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
	if (strlen(location) >= sizeof(b->location)) {
		snprintf(msg, msglen, "location too long");
		return FERRY_E_INVAL;
	}
	if ((ret = own_options(ops, opts, &eff, msg, msglen))) {
		free(eff);
		return ret;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		free(eff);
		return FERRY_E_NOMEM;
	}
	b->ops = ops;
	b->loop = loop;
	strcpy(b->location, location);
	if (ops->priv_size && !(b->priv = calloc(1, ops->priv_size))) {
		free(b);
		free(eff);
		return FERRY_E_NOMEM;
	}
	ret = ops->open(b, location, eff, loop);
	free(eff); /* the backend copied what it keeps */
	if (ret < 0) {
		const char *m = ferry_backend_errmsg(b, ret, why, sizeof(why));
		snprintf(msg, msglen, "%s: %s", location,
			 m ? m : ret <= -4096 ? ferry_strerror(ferry_backend_err(ret)) : strerror(-ret));
		free(b->priv);
		free(b);
		return ret == -ENOENT ? FERRY_E_NOTFOUND : ret == -EINVAL ? FERRY_E_INVAL : ferry_backend_err(ret);
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
