/*
 * Stores: init/open through a backend, snapshot listing, and the streaming manifest
 * reader and writer that push, pull and verify share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "store_int.h"

void store_setmsg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

void store_problem(struct ferry_run *r, const char *what, const char *chunk, int err, const char *fmt, ...)
{
	char detail[512] = "";
	va_list ap;

	r->errors++;
	switch (err) {
	case FERRY_E_CHECKSUM: case FERRY_E_AUTH: case FERRY_E_ORDER: case FERRY_E_FOREIGN:
	case FERRY_E_TRUNCATED: case FERRY_E_FORMAT: case FERRY_E_VERSION: case FERRY_E_NOTFOUND:
		r->integrity_errors++;
		break;
	default:
		break;
	}
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	if (r->problem)
		r->problem(r->problem_arg, what, chunk, err, detail[0] ? detail : ferry_strerror(err));
}

void store_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

void store_object_key(const uint8_t id[FERRY_ID_LEN], char out[64])
{
	char h[2 * FERRY_ID_LEN + 1];

	store_hex(id, FERRY_ID_LEN, h);
	snprintf(out, 64, "data/%.2s/%s", h, h);
}


const char *store_berr(const struct ferry_backend *b, int res)
{
	static __thread char buf[600];

	if (ferry_backend_errmsg(b, res, buf, sizeof(buf)))
		return buf;
	if (res <= -4096)
		return ferry_strerror(ferry_backend_err(res));
	return strerror(-res);
}

void store_wait(struct ferry_store *s, const int *flag)
{
	while (!*flag)
		if (ferry_loop_run(s->loop, 1) < 0)
			break;
}

/* ---------------------------------------------------------------- init/open */

static int open_backend(const char *path, const struct ferry_kv *opts, struct ferry_loop **loop,
			struct ferry_backend **b, char *msg, size_t msglen)
{
	int err = ferry_loop_create(loop, NULL);

	if (err) {
		store_setmsg(msg, msglen, "cannot set up io_uring (kernel too old, or io_uring disabled)");
		return err;
	}
	err = ferry_backend_open(b, path, opts, *loop, msg, msglen);
	if (err) {
		ferry_loop_destroy(*loop);
		*loop = NULL;
	}
	return err;
}

int ferry_store_init(const char *path, const struct ferry_init_opts *o, const struct ferry_secret *secret,
		     char *msg, size_t msglen)
{
	return ferry_store_init_with(path, o, NULL, secret, msg, msglen);
}

int ferry_store_init_with(const char *path, const struct ferry_init_opts *o, const struct ferry_kv *opts,
			  const struct ferry_secret *secret, char *msg, size_t msglen)
{
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	struct ferry_loop *loop;
	struct ferry_backend *b;
	uint8_t buf[FERRY_CONFIG_LEN];
	uint32_t chunk = o && o->chunk_size ? o->chunk_size : FERRY_CHUNK_DEFAULT;
	int level = o && o->level >= 0 ? o->level : FERRY_LEVEL_DEFAULT;
	uint64_t size;
	int err, e;

	err = open_backend(path, opts, &loop, &b, msg, msglen);
	if (err)
		return err;
	if (b->ops->stat(b, "config", &size) == 0) {
		store_setmsg(msg, msglen, "%s: already a ferry store", path);
		err = FERRY_E_EXISTS;
		goto out;
	}
	e = b->ops->init_location ? b->ops->init_location(b) : 0;
	if (e == -ENOTEMPTY) {
		store_setmsg(msg, msglen, "%s: directory is not empty and is not a ferry store", path);
		err = FERRY_E_EXISTS;
		goto out;
	}
	if (e) {
		store_setmsg(msg, msglen, "%s: cannot create: %s", path, store_berr(b, e));
		err = FERRY_E_IO;
		goto out;
	}
	err = ferry_config_create(&cfg, chunk, level, secret, o ? o->log2n : 0, &keys);
	ferry_keys_wipe(&keys);
	if (err) {
		store_setmsg(msg, msglen, "%s: cannot create store config: %s", path, ferry_strerror(err));
		goto out;
	}
	ferry_config_encode(&cfg, buf);
	/* the config is written last and exclusively: a location without it is not yet a store */
	e = b->ops->put(b, "config", buf, sizeof(buf), 1);
	if (e) {
		store_setmsg(msg, msglen, "%s/config: cannot write: %s", path, store_berr(b, e));
		err = e == -EEXIST ? FERRY_E_EXISTS : FERRY_E_IO;
	}
out:
	ferry_backend_close(b);
	ferry_loop_destroy(loop);
	return err;
}

int ferry_store_open(struct ferry_store **out, const char *path, const struct ferry_secret *secret, char *msg,
		     size_t msglen)
{
	return ferry_store_open_with(out, path, NULL, secret, msg, msglen);
}

int ferry_store_open_with(struct ferry_store **out, const char *path, const struct ferry_kv *opts,
			  const struct ferry_secret *secret, char *msg, size_t msglen)
{
	struct ferry_store *s;
	uint8_t *buf = NULL;
	size_t n;
	int err, e;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return FERRY_E_NOMEM;
	s->path = strdup(path);
	/* kept: replicas and routes open their backends with them later */
	s->opts = ferry_kv_dup(NULL, opts);
	if (!s->path || !s->opts) {
		free(s->path);
		free(s->opts);
		free(s);
		return FERRY_E_NOMEM;
	}
	err = open_backend(path, s->opts, &s->loop, &s->b, msg, msglen);
	if (err)
		goto fail;
	e = s->b->ops->get(s->b, "config", &buf, &n, FERRY_CONFIG_LEN + 1);
	if (e == -ENOENT) {
		store_setmsg(msg, msglen, "%s: cannot open store: not a ferry store (no config)", path);
		err = FERRY_E_NOTFOUND;
		goto fail;
	}
	if (e == FERRY_BERR(FERRY_E_TOOBIG)) {
		/* a damaged store, like a config of the right length with wrong bytes: not read whole */
		uint64_t size;
		if (s->b->ops->stat(s->b, "config", &size) == 0)
			store_setmsg(msg, msglen, "%s/config: %llu bytes, more than a store config can be (%d)", path,
				     (unsigned long long)size, FERRY_CONFIG_LEN);
		else
			store_setmsg(msg, msglen, "%s/config: larger than a store config can be (%d bytes)",
				     path, FERRY_CONFIG_LEN);
		err = FERRY_E_FORMAT;
		goto fail;
	}
	if (e) {
		store_setmsg(msg, msglen, "%s/config: %s", path, store_berr(s->b, e));
		err = e <= -4096 ? ferry_backend_err(e) : FERRY_E_IO;
		goto fail;
	}
	err = ferry_config_decode(buf, n, &s->cfg);
	free(buf);
	if (err) {
		/* a valid config naming what this build does not know: most likely a newer ferry's */
		store_setmsg(msg, msglen, "%s/config: %s%s", path, ferry_strerror(err),
			     err == FERRY_E_VERSION || err == FERRY_E_UNSUPPORTED
				     ? " (a store made by a newer ferry? this build cannot read it)" : "");
		goto fail;
	}
	if ((s->cfg.flags & FERRY_CFG_ENCRYPTED) && !secret) {
		store_setmsg(msg, msglen, "%s: store is encrypted: give FERRY_PASSPHRASE, --passphrase-file or --key-file",
			     path);
		err = FERRY_E_KEY;
		goto fail;
	}
	err = ferry_config_unlock(&s->cfg, secret, &s->keys);
	if (err == FERRY_E_INVAL) {
		store_setmsg(msg, msglen, "%s: store is unlocked with a %s, not a %s", path,
			     s->cfg.kdf == FERRY_KDF_SCRYPT ? "passphrase" : "key file",
			     s->cfg.kdf == FERRY_KDF_SCRYPT ? "key file" : "passphrase");
		err = FERRY_E_KEY;
		goto fail;
	}
	if (err) {
		store_setmsg(msg, msglen, "%s: %s", path, ferry_strerror(err));
		goto fail;
	}
	err = ferry_codec_create(&s->codec, &s->keys, s->cfg.level, s->cfg.chunk_size);
	if (err) {
		store_setmsg(msg, msglen, "%s: %s", path, ferry_strerror(err));
		goto fail;
	}
	*out = s;
	return FERRY_OK;
fail:
	ferry_store_close(s);
	return err;
}

void ferry_store_close(struct ferry_store *s)
{
	if (!s)
		return;
	ferry_backend_close(s->b);
	ferry_loop_destroy(s->loop);
	ferry_codec_destroy(s->codec);
	ferry_keys_wipe(&s->keys);
	free(s->opts);
	free(s->path);
	free(s);
}

int ferry_store_encrypted(const struct ferry_store *s)
{
	return s->keys.encrypted;
}

/* ---------------------------------------------------------------- snapshots */

void store_strlist_free(struct store_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int store_strlist_add(struct store_strlist *l, const char *name)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		char **nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return FERRY_BERR(FERRY_E_NOMEM);
		l->v = nv;
		l->cap = ncap;
	}
	if (!(l->v[l->n] = strdup(name)))
		return FERRY_BERR(FERRY_E_NOMEM);
	l->n++;
	return 0;
}


struct sync_io {
	struct ferry_io io;
	int done;
};

static void sync_done(struct ferry_io *io)
{
	((struct sync_io *)io)->done = 1;
}

static int read_sync(struct ferry_store *s, struct ferry_robj *r, void *buf, size_t len, uint64_t off)
{
	struct sync_io x;

	memset(&x, 0, sizeof(x));
	x.io.done = sync_done;
	x.io.buf = buf;
	x.io.len = len;
	x.io.off = off;
	x.io.buf_index = -1;
	if (len == 0)
		return 0;
	s->b->ops->read(s->b, r, &x.io);
	store_wait(s, &x.done);
	return x.io.res < 0 ? x.io.res : 0;
}

static int write_sync(struct ferry_store *s, struct ferry_wobj *w, const void *buf, size_t len, uint64_t off)
{
	struct sync_io x;

	memset(&x, 0, sizeof(x));
	x.io.done = sync_done;
	x.io.buf = (void *)buf;
	x.io.len = len;
	x.io.off = off;
	x.io.buf_index = -1;
	if (len == 0)
		return 0;
	s->b->ops->write(s->b, w, &x.io);
	store_wait(s, &x.done);
	return x.io.res < 0 ? x.io.res : 0;
}

void objreader_close(struct ferry_store *s, struct objreader *o)
{
	if (o->r)
		s->b->ops->rclose(s->b, o->r);
	free(o->idx);
	o->r = NULL;
	o->idx = NULL;
}

int objreader_open(struct ferry_store *s, const char *key, const uint8_t *want_id, struct objreader *o, char *why,
		   size_t whylen)
{
	uint8_t hb[FERRY_OBJ_HDR_LEN], fb[FERRY_OBJ_FOOTER_LEN], *ib = NULL;
	int e, err;

	memset(o, 0, sizeof(*o));
	e = s->b->ops->ropen(s->b, key, &o->r, &o->size);
	if (e) {
		o->r = NULL;
		store_setmsg(why, whylen, "object %s missing: %s", key, store_berr(s->b, e));
		return e == -ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO;
	}
	if (o->size < FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN) {
		store_setmsg(why, whylen, "object %s: %s", key, ferry_strerror(FERRY_E_TRUNCATED));
		return FERRY_E_TRUNCATED;
	}
	if ((e = read_sync(s, o->r, hb, sizeof(hb), 0)) || (e = read_sync(s, o->r, fb, sizeof(fb), o->size - sizeof(fb)))) {
		store_setmsg(why, whylen, "object %s: read failed: %s", key, store_berr(s->b, e));
		return FERRY_E_IO;
	}
	err = ferry_object_hdr_decode(hb, sizeof(hb), &o->h);
	if (!err && want_id && memcmp(o->h.object_id, want_id, FERRY_ID_LEN) != 0)
		err = FERRY_E_FOREIGN;
	if (!err && !!(o->h.flags & FERRY_FRAME_ENCRYPTED) != !!s->keys.encrypted)
		err = FERRY_E_FORMAT;
	if (!err)
		err = ferry_object_footer_decode(fb, sizeof(fb), o->size, &o->f);
	if (!err) {
		size_t il = (size_t)o->f.chunk_count * FERRY_INDEX_ENTRY_LEN;
		ib = malloc(il);
		o->idx = calloc(o->f.chunk_count, sizeof(*o->idx));
		if (!ib || !o->idx)
			err = FERRY_E_NOMEM;
		else if ((e = read_sync(s, o->r, ib, il, o->f.index_offset)))
			err = FERRY_E_IO;
		else
			err = ferry_index_decode(hb, ib, il, &o->f, o->idx);
	}
	free(ib);
	memcpy(o->id, o->h.object_id, FERRY_ID_LEN);
	if (err)
		store_setmsg(why, whylen, "object %s: %s", key, ferry_strerror(err));
	return err;
}

int objreader_read_frame(struct ferry_store *s, struct objreader *o, uint32_t i, uint8_t *buf, size_t cap)
{
	const struct ferry_index_entry *e = &o->idx[i];

	if (e->frame_len > cap)
		return FERRY_E_TOOBIG;
	return read_sync(s, o->r, buf, e->frame_len, e->offset) ? FERRY_E_IO : FERRY_OK;
}
/* ---------------------------------------------------------------- for repack.c */

int store_read_sync(struct ferry_store *s, struct ferry_robj *r, void *buf, size_t len, uint64_t off)
{
	return read_sync(s, r, buf, len, off);
}

int store_write_sync(struct ferry_store *s, struct ferry_wobj *w, const void *buf, size_t len, uint64_t off)
{
	return write_sync(s, w, buf, len, off);
}
