/*
 * The S3 backend against a real S3 server (Swift s3api, started by tests/s3/s3.sh):
 * whole-object calls, keys with odd characters, listings past one page, ranged reads,
 * multipart writes, aborts, and errors. Needs the AWS_* variables of the server and
 * FERRY_S3_TEST_URL=s3://BUCKET/PREFIX. Prints one line per check and
 * "N passed, N failed" at the end; exits non-zero on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/backend.h"
#include "ferry/error.h"

static int passed, failed;

#define CHECK(cond, ...)                                  \
	do {                                              \
		if (cond) {                               \
			passed++;                         \
			printf("ok   - ");                \
		} else {                                  \
			failed++;                         \
			printf("FAIL - (%s:%d) ", __FILE__, __LINE__); \
		}                                         \
		printf(__VA_ARGS__);                      \
		printf("\n");                             \
	} while (0)

struct io_wait {
	struct ferry_io io;
	int done;
};

static void io_done(struct ferry_io *io)
{
	((struct io_wait *)io)->done = 1;
}

static int wait_io(struct ferry_loop *l, struct io_wait *w)
{
	for (int i = 0; !w->done && i < 100000; i++)
		if (ferry_loop_run(l, 1) < 0)
			return -1;
	return w->io.res;
}

static int count_key(void *arg, const char *key, uint64_t size)
{
	(void)key;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

struct find {
	const char *key;
	uint64_t size;
	int found;
};

static int find_key(void *arg, const char *key, uint64_t size)
{
	struct find *f = arg;

	if (!strcmp(key, f->key)) {
		f->found = 1;
		f->size = size;
	}
	return 0;
}

/* Writes len bytes of buf to key through the asynchronous path, in pieces of step. */
static int write_object(struct ferry_backend *b, struct ferry_loop *l, const char *key, const uint8_t *buf,
			size_t len, size_t step, int commit)
{
	struct ferry_wobj *w;
	int e = b->ops->wopen(b, key, &w);

	if (e)
		return e;
	for (size_t off = 0; off < len; off += step) {
		struct io_wait iw = { .io = { .done = io_done, .buf = (void *)(buf + off),
					      .len = len - off < step ? len - off : step, .off = off, .buf_index = -1 } };
		b->ops->write(b, w, &iw.io);
		if ((e = wait_io(l, &iw)) < 0) {
			b->ops->abort(b, w);
			return e;
		}
	}
	if (!commit) {
		b->ops->abort(b, w);
		return 0;
	}
	e = b->ops->commit(b, w, 0);
	return e ? e : b->ops->sync(b);
}

/* One thread of several using one backend at once, as plan --probe's streams do: the
 * handles are set up on the network thread and freed on these. */
struct hammer {
	struct ferry_backend *b;
	int id, ok;
};

static void *hammer_one(void *arg)
{
	struct hammer *h = arg;
	char key[64], body[64];

	for (int i = 0; i < 30; i++) {
		uint8_t *got = NULL;
		size_t n = 0;
		int len = snprintf(body, sizeof(body), "thread %d round %d", h->id, i);
		snprintf(key, sizeof(key), "hammer/%d-%d", h->id, i);
		if (h->b->ops->put(h->b, key, body, (size_t)len, 0) ||
		    h->b->ops->get(h->b, key, &got, &n, sizeof(body)) || n != (size_t)len || memcmp(got, body, n) ||
		    h->b->ops->del(h->b, key)) {
			free(got);
			return NULL;
		}
		free(got);
	}
	h->ok = 1;
	return NULL;
}

/* Opens url with opts and expects FERRY_E_INVAL and a message holding want. */
static void refused(const char *url, const struct ferry_kv *opts, struct ferry_loop *loop, const char *want,
		    const char *what)
{
	struct ferry_backend *b = NULL;
	char msg[600] = "";
	int e = ferry_backend_open(&b, url, opts, loop, msg, sizeof(msg));

	CHECK(e == FERRY_E_INVAL && !b && strstr(msg, want), "%s: refused, naming it (%d: %s)", what, e, msg);
	ferry_backend_close(b);
}

/* Open, put, get and delete one object: 0, or the first failure. */
static int round_trip(const char *url, const struct ferry_kv *opts, struct ferry_loop *loop, char *msg, size_t msglen)
{
	struct ferry_backend *b = NULL;
	uint8_t *got = NULL;
	size_t n = 0;
	int e = ferry_backend_open(&b, url, opts, loop, msg, msglen);

	if (e)
		return -e;
	if (!(e = b->ops->put(b, "opts/one", "options", 7, 0)) && !(e = b->ops->get(b, "opts/one", &got, &n, 100)))
		e = n == 7 && !memcmp(got, "options", 7) ? b->ops->del(b, "opts/one") : -EIO;
	if (e && !ferry_backend_errmsg(b, e, msg, msglen))
		snprintf(msg, msglen, "%d", e);
	free(got);
	ferry_backend_close(b);
	return e;
}

/* Options: names checked, values checked, and an option over the environment. */
static void options(const char *url, struct ferry_loop *loop)
{
	const char *live = getenv("AWS_ENDPOINT_URL_S3");
	char msg[600], *saved_s3, *saved_any;

	if (!live || !*live)
		live = getenv("AWS_ENDPOINT_URL");
	if (!live || !*live)
		live = getenv("S3_ENDPOINT");
	if (!live || !*live) {
		CHECK(0, "options: no endpoint in the environment to test with");
		return;
	}
	refused(url, (const struct ferry_kv[]){ { "nosuchoption", "1" }, { NULL, NULL } }, loop, "nosuchoption",
		"an unknown option");
	refused(url, (const struct ferry_kv[]){ { "connections", "x" }, { NULL, NULL } }, loop,
		"connections 'x': expected 1..256", "connections=x");
	refused(url, (const struct ferry_kv[]){ { "s3.connections", "0" }, { NULL, NULL } }, loop,
		"connections '0'", "s3.connections=0 (scoped to this backend)");
	refused(url, (const struct ferry_kv[]){ { "addressing", "sideways" }, { NULL, NULL } }, loop,
		"addressing 'sideways'", "addressing=sideways");
	refused(url, (const struct ferry_kv[]){ { "nosuchbackend.x", "1" }, { NULL, NULL } }, loop,
		"nosuchbackend", "a scope no backend has");

	/* the environment names a dead port: only the option reaches the server */
	saved_s3 = getenv("AWS_ENDPOINT_URL_S3") ? strdup(getenv("AWS_ENDPOINT_URL_S3")) : NULL;
	saved_any = getenv("AWS_ENDPOINT_URL") ? strdup(getenv("AWS_ENDPOINT_URL")) : NULL;
	char *ep = strdup(live);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
	int e = round_trip(url, (const struct ferry_kv[]){ { "attempts", "1" }, { NULL, NULL } }, loop, msg,
			   sizeof(msg));
	CHECK(e != 0, "without the option, the dead endpoint of the environment is used (fails: %s)", msg);
	e = round_trip(url,
		       (const struct ferry_kv[]){ { "endpoint", ep }, { "attempts", "2" }, { "connections", "2" },
						  { "posix.other", "ignored" }, { NULL, NULL } },
		       loop, msg, sizeof(msg));
	CHECK(e == 0, "endpoint= overrides AWS_ENDPOINT_URL_S3: put, get, delete work (%s)", e ? msg : "ok");
	e = round_trip(url, (const struct ferry_kv[]){ { "s3.endpoint", ep }, { "endpoint", "http://127.0.0.1:1" },
						       { NULL, NULL } },
		       loop, msg, sizeof(msg));
	CHECK(e == 0, "the first of a name wins, scoped or not (%s)", e ? msg : "ok");
	if (saved_s3)
		setenv("AWS_ENDPOINT_URL_S3", saved_s3, 1);
	else
		unsetenv("AWS_ENDPOINT_URL_S3");
	if (saved_any)
		setenv("AWS_ENDPOINT_URL", saved_any, 1);
	else
		unsetenv("AWS_ENDPOINT_URL");
	free(saved_s3);
	free(saved_any);
	free(ep);
}

int main(void)
{
	const char *url = getenv("FERRY_S3_TEST_URL");
	struct ferry_loop *loop;
	struct ferry_backend *b;
	char msg[512], key[256];
	uint8_t *got = NULL;
	size_t n = 0;
	uint64_t size = 0;
	int e, count;

	if (!url) {
		fprintf(stderr, "s3_backend_test: set FERRY_S3_TEST_URL=s3://BUCKET/PREFIX\n");
		return 2;
	}
	if (ferry_loop_create(&loop, NULL) || ferry_backend_open(&b, url, NULL, loop, msg, sizeof(msg))) {
		fprintf(stderr, "s3_backend_test: %s\n", msg);
		return 1;
	}

	/* whole objects, odd keys */
	const char *odd[] = { "plain", "with space", "plus+sign", "per%cent", "utf8-\xc3\xbc\xe2\x82\xac", "a/b/c",
			      "tilde~and=equals&amp", "star*paren(1)" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		snprintf(key, sizeof(key), "odd/%s", odd[i]);
		e = b->ops->put(b, key, odd[i], strlen(odd[i]), 0);
		CHECK(e == 0, "put %s", odd[i]);
		e = b->ops->get(b, key, &got, &n, 1024);
		CHECK(e == 0 && n == strlen(odd[i]) && !memcmp(got, odd[i], n), "get %s returns the bytes", odd[i]);
		free(got);
		got = NULL;
		struct find f = { key, 0, 0 };
		e = b->ops->list(b, "odd/", find_key, &f);
		CHECK(e == 0 && f.found && f.size == strlen(odd[i]), "list finds %s with its size", odd[i]);
	}
	e = b->ops->put(b, "odd/plain", "x", 1, 1);
	CHECK(e == -EEXIST, "exclusive put over an existing key fails with EEXIST (got %d)", e);
	e = b->ops->get(b, "odd/with space", &got, &n, 3);
	CHECK(e == FERRY_BERR(FERRY_E_TOOBIG), "get larger than max is TOOBIG (got %d)", e);
	free(got);
	got = NULL;
	e = b->ops->get(b, "nope/absent", &got, &n, 100);
	CHECK(e == -ENOENT, "get of an absent key is ENOENT (got %d)", e);
	e = b->ops->stat(b, "nope/absent", &size);
	CHECK(e == -ENOENT, "stat of an absent key is ENOENT (got %d)", e);
	e = b->ops->stat(b, "odd/plus+sign", &size);
	CHECK(e == 0 && size == 9, "stat gives the size (%llu)", (unsigned long long)size);
	e = b->ops->del(b, "odd/per%cent");
	CHECK(e == 0, "del");
	e = b->ops->stat(b, "odd/per%cent", &size);
	CHECK(e == -ENOENT, "deleted key is gone");
	e = b->ops->del(b, "odd/per%cent");
	CHECK(e == 0, "del of an absent key succeeds");

	/* a listing past one page (S3 pages at 1,000 keys) */
	int nmany = 1100;
	for (int i = 0; i < nmany; i++) {
		snprintf(key, sizeof(key), "many/k%05d", i);
		if ((e = b->ops->put(b, key, "", 0, 0)))
			break;
	}
	CHECK(e == 0, "put %d empty objects", nmany);
	count = 0;
	e = b->ops->list(b, "many/", count_key, &count);
	CHECK(e == 0 && count == nmany, "listing past one page sees all %d keys (saw %d)", nmany, count);
	count = 0;
	e = b->ops->list(b, "many/k00100", count_key, &count);
	CHECK(e == 0 && count == 1, "prefix listing is exact (saw %d)", count);

	/* DeleteObjects: 1,100 keys and one absent key are two requests (1,000 keys each) */
	if (b->ops->delete_many) {
		char (*dk)[32] = calloc((size_t)nmany + 1, sizeof(*dk));
		const char **kp = calloc((size_t)nmany + 1, sizeof(*kp));
		size_t bad = 12345;
		for (int i = 0; i <= nmany; i++) {
			snprintf(dk[i], sizeof(dk[i]), i < nmany ? "many/k%05d" : "many/absent", i);
			kp[i] = dk[i];
		}
		e = b->ops->delete_many(b, kp, (size_t)nmany + 1, &bad);
		char why[600];
		const char *m = e ? ferry_backend_errmsg(b, e, why, sizeof(why)) : NULL;
		CHECK(e == 0 && bad == 12345, "delete_many of %d keys (one absent) succeeds (got %d%s%s)", nmany + 1, e,
		      m ? ": " : "", m ? m : "");
		count = 0;
		e = b->ops->list(b, "many/", count_key, &count);
		CHECK(e == 0 && count == 0, "delete_many left nothing under many/ (saw %d)", count);
		e = b->ops->put(b, "odd/amp&<lt>", "x", 1, 0);
		kp[0] = "odd/amp&<lt>";
		kp[1] = "odd/plain";
		CHECK(e == 0 && b->ops->delete_many(b, kp, 2, &bad) == 0 && b->ops->stat(b, "odd/amp&<lt>", &size) == -ENOENT &&
			      b->ops->stat(b, "odd/plain", &size) == -ENOENT,
		      "delete_many of keys with XML specials");
		free(kp);
		free(dk);
	} else {
		CHECK(0, "the S3 backend has delete_many");
	}

	/* asynchronous writes: small (one PutObject) and large (multipart) */
	size_t big = 21u << 20;
	uint8_t *data = malloc(big), *back = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	e = write_object(b, loop, "w/small", data, 1000, 300, 1);
	CHECK(e == 0, "small object through write/commit");
	e = b->ops->get(b, "w/small", &got, &n, 4096);
	CHECK(e == 0 && n == 1000 && !memcmp(got, data, 1000), "small object reads back");
	free(got);
	got = NULL;
	e = write_object(b, loop, "w/big object", data, big, 3u << 20, 1);
	CHECK(e == 0, "21 MiB object through multipart (8 MiB parts)");
	e = b->ops->stat(b, "w/big object", &size);
	CHECK(e == 0 && size == big, "multipart object has the full size (%llu)", (unsigned long long)size);
	e = write_object(b, loop, "w/exact", data, 16u << 20, 1u << 20, 1);
	CHECK(e == 0 && b->ops->stat(b, "w/exact", &size) == 0 && size == (16u << 20),
	      "object ending on a part boundary completes");
	e = write_object(b, loop, "w/aborted", data, 10u << 20, 1u << 20, 0);
	CHECK(e == 0 && b->ops->stat(b, "w/aborted", &size) == -ENOENT, "aborted object is not visible");
	e = write_object(b, loop, "w/empty", data, 0, 1, 1);
	CHECK(e == 0 && b->ops->stat(b, "w/empty", &size) == 0 && size == 0, "empty object");

	/* ranged reads */
	struct ferry_robj *r;
	e = b->ops->ropen(b, "w/big object", &r, &size);
	CHECK(e == 0 && size == big, "ropen gives the size");
	if (!e) {
		size_t offs[] = { 0, 1, (8u << 20) - 7, big - 100 };
		for (size_t i = 0; i < 4; i++) {
			struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = 100, .off = offs[i],
						      .buf_index = -1 } };
			b->ops->read(b, r, &iw.io);
			e = wait_io(loop, &iw);
			CHECK(e == 100 && !memcmp(back, data + offs[i], 100), "ranged read at %zu", offs[i]);
		}
		struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = big, .off = 0, .buf_index = -1 } };
		b->ops->read(b, r, &iw.io);
		e = wait_io(loop, &iw);
		CHECK(e == (int)big && !memcmp(back, data, big), "whole-object read matches");
		struct io_wait past = { .io = { .done = io_done, .buf = back, .len = 200, .off = big - 100,
						.buf_index = -1 } };
		b->ops->read(b, r, &past.io);
		e = wait_io(loop, &past);
		CHECK(e == FERRY_BERR(FERRY_E_TRUNCATED), "read past the end is TRUNCATED (got %d)", e);
		b->ops->rclose(b, r);
	}
	e = b->ops->ropen(b, "w/absent", &r, &size);
	CHECK(e == -ENOENT, "ropen of an absent key is ENOENT");

	/* ropen_known: no HEAD; the read at offset 0 brings the ETag and checks the size */
	char tag_head[80] = "", tag_known[80] = "";
	if (b->ops->ropen(b, "w/big object", &r, &size) == 0) {
		b->ops->rmeta(b, r, "etag", tag_head, sizeof(tag_head));
		b->ops->rclose(b, r);
	}
	e = b->ops->ropen_known(b, "w/big object", big, &r);
	CHECK(e == 0, "ropen_known opens");
	if (!e) {
		CHECK(b->ops->rmeta(b, r, "etag", tag_known, sizeof(tag_known)) == -EAGAIN,
		      "ropen_known: no metadata before the first read");
		struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = 100, .off = 0, .buf_index = -1 } };
		b->ops->read(b, r, &iw.io);
		e = wait_io(loop, &iw);
		CHECK(e == 100 && !memcmp(back, data, 100), "ropen_known: first ranged read");
		e = b->ops->rmeta(b, r, "etag", tag_known, sizeof(tag_known));
		CHECK(e == 0 && tag_head[0] && !strcmp(tag_head, tag_known),
		      "ropen_known: the ranged read's ETag is HEAD's (%s, %s)", tag_head, tag_known);
		b->ops->rclose(b, r);
	}
	if (b->ops->ropen_known(b, "w/big object", big - 1, &r) == 0) {
		struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = 100, .off = 0, .buf_index = -1 } };
		b->ops->read(b, r, &iw.io);
		e = wait_io(loop, &iw);
		CHECK(e == FERRY_BERR(FERRY_E_TRUNCATED), "ropen_known: a size the object no longer has fails (got %d)", e);
		b->ops->rclose(b, r);
	}
	if (b->ops->ropen_known(b, "w/empty", 0, &r) == 0) {
		struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = 0, .off = 0, .buf_index = -1 } };
		b->ops->read(b, r, &iw.io);
		e = wait_io(loop, &iw);
		CHECK(e == 0 && b->ops->rmeta(b, r, "etag", tag_known, sizeof(tag_known)) == 0,
		      "ropen_known: an empty object is read once for its metadata (got %d)", e);
		b->ops->rclose(b, r);
	}
	if (b->ops->ropen_known(b, "w/absent", 10, &r) == 0) {
		struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = 10, .off = 0, .buf_index = -1 } };
		b->ops->read(b, r, &iw.io);
		e = wait_io(loop, &iw);
		CHECK(e == -ENOENT, "ropen_known: reading an absent key is ENOENT (got %d)", e);
		b->ops->rclose(b, r);
	}

	/* content_md5: a single-part object's ETag is its MD5; a multipart one's ("…-N") is not */
	static const uint8_t md5_hello[16] = { 0x5d, 0x41, 0x40, 0x2a, 0xbc, 0x4b, 0x2a, 0x76,
					       0xb9, 0x71, 0x9d, 0x91, 0x10, 0x17, 0xc5, 0x92 };
	uint8_t md5[16];
	CHECK(b->ops->content_md5 != NULL, "the S3 backend has content_md5");
	e = b->ops->put(b, "w/md5", "hello", 5, 0);
	if (b->ops->content_md5 && !e && b->ops->ropen(b, "w/md5", &r, &size) == 0) {
		memset(md5, 0, sizeof(md5));
		e = b->ops->content_md5(b, r, md5);
		CHECK(e == 0 && !memcmp(md5, md5_hello, 16), "content_md5 of a single-part object is MD5(\"hello\") (got %d)",
		      e);
		b->ops->rclose(b, r);
	}
	if (b->ops->content_md5 && b->ops->ropen_known(b, "w/md5", 5, &r) == 0) {
		CHECK(b->ops->content_md5(b, r, md5) == -EAGAIN, "content_md5: -EAGAIN before ropen_known's first read");
		struct io_wait iw = { .io = { .done = io_done, .buf = back, .len = 5, .off = 0, .buf_index = -1 } };
		b->ops->read(b, r, &iw.io);
		e = wait_io(loop, &iw);
		memset(md5, 0, sizeof(md5));
		CHECK(e == 5 && b->ops->content_md5(b, r, md5) == 0 && !memcmp(md5, md5_hello, 16),
		      "content_md5 after ropen_known's first read");
		b->ops->rclose(b, r);
	}
	if (b->ops->content_md5 && b->ops->ropen(b, "w/big object", &r, &size) == 0) {
		e = b->ops->content_md5(b, r, md5);
		CHECK(e == -ENOENT, "content_md5 of a multipart object is -ENOENT (ETag %s, got %d)", tag_head, e);
		b->ops->rclose(b, r);
	}

	e = b->ops->init_location(b);
	CHECK(e == -ENOTEMPTY, "init_location refuses a prefix with objects (got %d)", e);

	/* requests from several threads at once (each frees its own handles) */
	struct hammer hs[4];
	pthread_t th[4];
	int running[4], all_ok = 1;
	for (int i = 0; i < 4; i++) {
		hs[i] = (struct hammer){ b, i, 0 };
		running[i] = pthread_create(&th[i], NULL, hammer_one, &hs[i]) == 0;
	}
	for (int i = 0; i < 4; i++) {
		if (running[i])
			pthread_join(th[i], NULL);
		all_ok &= running[i] && hs[i].ok;
	}
	count = 0;
	e = b->ops->list(b, "hammer/", count_key, &count);
	CHECK(all_ok && e == 0 && count == 0,
	      "4 threads x 30 put/get/delete at once: every byte back, nothing left (%d left)", count);
	free(data);
	free(back);
	ferry_backend_close(b);

	/* a bucket that does not exist */
	char missing[600];
	snprintf(missing, sizeof(missing), "s3://no-such-bucket-%d/x", (int)getpid());
	if (ferry_backend_open(&b, missing, NULL, loop, msg, sizeof(msg)) == 0) {
		e = b->ops->get(b, "config", &got, &n, 100);
		char why[600];
		const char *m = ferry_backend_errmsg(b, e, why, sizeof(why));
		CHECK(e == FERRY_BERR(FERRY_E_NOTFOUND) && m && strstr(m, "NoSuchBucket"),
		      "missing bucket: NoSuchBucket named (%s)", m ? m : "no message");
		/* the message is that instance's: another one, failing with the same code for
		 * another reason (an absent key), does not show it */
		struct ferry_backend *b2 = NULL;
		if (ferry_backend_open(&b2, url, NULL, loop, msg, sizeof(msg)) == 0) {
			e = b2->ops->get(b2, "no/such/key", &got, &n, 100);
			m = ferry_backend_errmsg(b2, FERRY_BERR(FERRY_E_NOTFOUND), why, sizeof(why));
			CHECK(e == -ENOENT && !m, "messages are per instance: not another backend's NoSuchBucket (%s)",
			      m ? m : "none");
			ferry_backend_close(b2);
		} else {
			CHECK(0, "second open: %s", msg);
		}
		ferry_backend_close(b);
	} else {
		CHECK(0, "open of a missing bucket's URL succeeds (fails on use): %s", msg);
	}

	options(url, loop);
	ferry_loop_destroy(loop);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
