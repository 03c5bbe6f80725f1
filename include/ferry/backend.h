/*
 * ferry storage backends: one vtable per backend (posix, s3, …), completion-based so
 * io_uring and curl's multi interface fit the same event loop.
 *
 * Shape (after fio's ioengine_ops and curl's Curl_ssl): name, ABI version,
 * capability bits, the size of the backend's private state (the core allocates it),
 * then the hooks. ferry_backend_open() checks the ABI and the required hooks before
 * any use. Every hook is documented below, in one place.
 *
 * Keys are store-relative, '/'-separated ("config", "data/ab/ab…", "snapshots/…").
 * Errors are negative: -errno for system errors, or -FERRY_E_* (values below 4096
 * never collide with errno's, so backends use -(4096 + FERRY_E_x), see FERRY_BERR).
 */
#ifndef FERRY_BACKEND_H
#define FERRY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: open takes an options table (ops->options lists what a backend accepts); the
 * capability bits below say what a location is, so the core never reads a scheme. */
#define FERRY_BACKEND_ABI 2

/* capability bits */
#define FERRY_CAP_RANGED_READ 0x01u   /* read() may start anywhere */
#define FERRY_CAP_OUT_OF_ORDER 0x02u  /* write() of one object may arrive in any order (offsets or parts) */
#define FERRY_CAP_SERVER_COPY 0x04u   /* objects can be copied without moving bytes through us */
#define FERRY_CAP_ATOMIC_RENAME 0x08u /* commit() is an atomic rename */
#define FERRY_CAP_FIXED_BUFFERS 0x10u /* uses the loop's registered buffers (io_uring fixed buffers) */
#define FERRY_CAP_OBJECT_STORE 0x20u  /* a plain copy is one object per file, with user metadata (no directories) */
#define FERRY_CAP_RESUMABLE 0x40u     /* unfinished uploads outlive the run and can be continued (multipart) */
#define FERRY_CAP_REMOTE 0x80u        /* across a network: every request costs time (and maybe money) */

/* One option handed to a backend as it opens: name=value. A table of them ends with
 * { NULL, NULL }; a NULL table is an empty one. The same name twice: the first wins, so
 * a caller overrides a table by putting its own entries first (ferry_kv_dup).
 *
 * A name may be scoped to one backend, "s3.region": ferry_backend_open hands it to that
 * backend as "region" and leaves it out for every other one. That is how one table
 * (the CLI's, a store's) serves a run whose locations are on different backends: an
 * S3 replica of a local store, a copy from a directory to a bucket. A name without a
 * scope goes to whichever backend opens, which refuses it if it does not list it. */
struct ferry_kv {
	const char *key;
	const char *value;
};
/* An option a backend accepts (ops->options, ending with { NULL, NULL }). */
struct ferry_backend_option {
	const char *name;
	const char *help; /* one line, for `ferry help` and docs */
};
/* The value of key in opts, or NULL. */
const char *ferry_kv_get(const struct ferry_kv *opts, const char *key);
/* One allocation holding first's entries, then opts' (keys and values copied): the
 * caller's own table for as long as it wants it. free() it. NULL when out of memory. */
struct ferry_kv *ferry_kv_dup(const struct ferry_kv *first, const struct ferry_kv *opts);

/* A backend error code carried in a negative int, next to -errno values. */
#define FERRY_BERR(e) (-(4096 + (e)))
/* Turns a negative backend result into a ferry error code. */
int ferry_backend_err(int res);

struct ferry_loop;
struct ferry_backend;

/* An event the loop delivers: fn runs on the loop's thread with the operation's result. */
struct ferry_ev {
	void (*fn)(struct ferry_ev *ev, int res);
};

/*
 * One asynchronous data request, owned by the caller until done() runs. The backend
 * completes it exactly once, with res = bytes transferred (all of len) or < 0.
 * Short transfers, EINTR and EAGAIN are the backend's to retry, never the caller's.
 */
struct ferry_io {
	struct ferry_ev ev; /* for the backend's use */
	void (*done)(struct ferry_io *io);
	int res;
	void *buf;
	size_t len;
	uint64_t off;  /* byte offset in the object */
	int buf_index; /* index of a registered buffer holding buf, or -1 */
	void *user;    /* the caller's */
	/* the backend's bookkeeping */
	void *bobj;
	size_t progress;
	intptr_t user_fd;
	int is_write;
	struct ferry_io *next_queued;
	struct ferry_wobj *wobj;
};

struct ferry_wobj; /* an object being written: backend-defined */
struct ferry_robj; /* an object open for reading: backend-defined */

typedef int (*ferry_list_fn)(void *arg, const char *key, uint64_t size);
typedef int (*ferry_upload_fn)(void *arg, const char *key, const char *upload_id);

/* What a backend reports of objects being written (set_events): the caller's journal. */
struct ferry_wevents {
	void *arg;
	/* a multipart upload of key was started: upload_id names it (as the server sent it) */
	void (*started)(void *arg, const char *key, const char *upload_id);
	/* part bytes that were on the server already and were not sent again */
	void (*reused)(void *arg, const char *key, uint64_t bytes);
	/* key's upload ended: res 0 = the object is durable with size bytes, else failed or aborted */
	void (*finished)(void *arg, const char *key, uint64_t size, int res);
};

struct ferry_backend_ops {
	const char *name;  /* "posix", "s3": the URL scheme it serves */
	unsigned abi;      /* FERRY_BACKEND_ABI it was built against */
	unsigned caps;     /* FERRY_CAP_* */
	size_t priv_size;  /* bytes of private state the core allocates (zeroed) before open */
	/* the options open accepts (NULL: none); ferry_backend_open refuses any other name */
	const struct ferry_backend_option *options;

	/* open: attach to `location` (a path, or a URL), creating nothing, configured by opts
	 * (only names from ops->options, scopes taken off, each once; may be NULL). opts
	 * lives for this call only: copy what is kept. An option overrides whatever the
	 * backend reads from the environment itself. A bad value fails with -EINVAL and a
	 * one-line reason naming the option (ferry_backend_seterr). loop is where
	 * asynchronous hooks submit their work. Required. */
	int (*open)(struct ferry_backend *b, const char *location, const struct ferry_kv *opts, struct ferry_loop *loop);
	/* close: release everything; every request has completed. Required. */
	void (*close)(struct ferry_backend *b);

	/* ---- small whole objects, synchronous (config, manifests, locks) ----
	 * A store lock's heartbeat thread calls stat and put (and release calls del) while
	 * the loop's thread goes on with its own work: these four must be safe to call from
	 * a second thread concurrently with everything else. */
	/* get: read a whole object of at most max bytes into a malloc'd buffer. -ENOENT if absent,
	 * FERRY_BERR(FERRY_E_TOOBIG) if larger than max. Required. */
	int (*get)(struct ferry_backend *b, const char *key, uint8_t **buf, size_t *len, size_t max);
	/* put: write a whole object atomically (readers see all of it or none). With
	 * exclusive, fail with -EEXIST if the key exists. Required. */
	int (*put)(struct ferry_backend *b, const char *key, const void *buf, size_t len, int exclusive);
	/* stat: size of an object; -ENOENT if absent. Required. */
	int (*stat)(struct ferry_backend *b, const char *key, uint64_t *size);
	/* list: call fn for every complete object whose key starts with prefix (in no
	 * particular order); a non-zero return from fn stops the listing and is returned. Required. */
	int (*list)(struct ferry_backend *b, const char *prefix, ferry_list_fn fn, void *arg);
	/* del: remove an object; absent is success. Required. */
	int (*del)(struct ferry_backend *b, const char *key);
	/* init_location: make the location usable for a new store (create the directory or check
	 * the bucket). Fails with -ENOTEMPTY if it holds anything. Optional. */
	int (*init_location)(struct ferry_backend *b);

	/* ---- the data path, asynchronous ---- */
	/* wopen: start writing object `key`; nothing is visible under key until commit. Required. */
	int (*wopen)(struct ferry_backend *b, const char *key, struct ferry_wobj **w);
	/* write: queue io->len bytes from io->buf at io->off of the object. Required. */
	int (*write)(struct ferry_backend *b, struct ferry_wobj *w, struct ferry_io *io);
	/* commit: every write has completed: make the object visible under its key, all of it
	 * or nothing. With durable, it is on stable storage when commit returns; without,
	 * the next sync() makes it so. Synchronous; frees w. Required. */
	int (*commit)(struct ferry_backend *b, struct ferry_wobj *w, int durable);
	/* sync: make every object committed so far durable (a barrier before a manifest). Optional. */
	int (*sync)(struct ferry_backend *b);
	/* abort: drop an object being written; no write is in flight. Frees w. Required. */
	void (*abort)(struct ferry_backend *b, struct ferry_wobj *w);
	/* ropen: open an object for ranged reads; *size gets its size. -ENOENT if absent. Required. */
	int (*ropen)(struct ferry_backend *b, const char *key, struct ferry_robj **r, uint64_t *size);
	/* read: queue a read of io->len bytes at io->off into io->buf. Reading past the end
	 * completes with FERRY_BERR(FERRY_E_TRUNCATED). Required. */
	int (*read)(struct ferry_backend *b, struct ferry_robj *r, struct ferry_io *io);
	/* rclose: no read is in flight on r. Required. */
	void (*rclose)(struct ferry_backend *b, struct ferry_robj *r);
	/* ropen_known: like ropen for an object whose size the caller has (a listing), without
	 * asking the server (no HEAD). rmeta gives -EAGAIN until a read at offset 0 has
	 * completed; that read fails with FERRY_BERR(FERRY_E_TRUNCATED) if the object's size is
	 * not size any more. An empty object is read once with len 0 for its metadata. Optional. */
	int (*ropen_known)(struct ferry_backend *b, const char *key, uint64_t size, struct ferry_robj **r);

	/* ---- user metadata, for plain copies (object stores) ---- */
	/* wmeta: attach name=value (name: a-z 0-9 -, value: printable ASCII) to an object
	 * being written, before its first write. Optional. */
	int (*wmeta)(struct ferry_backend *b, struct ferry_wobj *w, const char *name, const char *value);
	/* rmeta: the value of name on an object open for reading, or -ENOENT; the name
	 * "etag" gives the server's entity tag without quotes. Optional. */
	int (*rmeta)(struct ferry_backend *b, struct ferry_robj *r, const char *name, char *value, size_t len);
	/* content_md5: the MD5 of the whole object's bytes when the server vouches for it (an
	 * S3 ETag of a single-part upload), into md5; -ENOENT when it does not know. Same
	 * timing as rmeta. Optional. */
	int (*content_md5)(struct ferry_backend *b, struct ferry_robj *r, uint8_t md5[16]);

	/* ---- batches ---- */
	/* delete_many: remove n objects (absent ones are success), in as few requests as the
	 * store allows (S3 DeleteObjects: 1,000 keys each). On failure *failed (when not NULL)
	 * gets the index of a key that was not deleted; keys before a failed batch are gone,
	 * keys after it are untouched. Synchronous, like del. Optional: without it the core
	 * calls del once per key (ferry_backend_del_many). */
	int (*delete_many)(struct ferry_backend *b, const char *const *keys, size_t n, size_t *failed);

	/* ---- resuming interrupted uploads (object stores with multipart uploads) ----
	 * All optional; a backend has all four or none. */
	/* set_events: report write progress to ev (NULL: stop). The calls come from any
	 * thread, one at a time, and must not call back into the backend. */
	void (*set_events)(struct ferry_backend *b, const struct ferry_wevents *ev);
	/* wresume: like wopen, but continue the unfinished upload upload_id of key. The
	 * object is written again from offset 0; a part the server already holds whose size
	 * and checksum match what is written again is not sent a second time. -ENOENT when
	 * the upload is gone. */
	int (*wresume)(struct ferry_backend *b, const char *key, const char *upload_id, struct ferry_wobj **w);
	/* uploads: call fn for every unfinished upload under prefix; a non-zero return from
	 * fn stops the listing and is returned. */
	int (*uploads)(struct ferry_backend *b, const char *prefix, ferry_upload_fn fn, void *arg);
	/* uabort: abort the unfinished upload upload_id of key; gone already is success. */
	int (*uabort)(struct ferry_backend *b, const char *key, const char *upload_id);

	/* ---- writes without a copy (backends that buffer writes) ---- */
	/* wbuf: room for the next bytes of w in the backend's own buffer: *buf and at most *len
	 * (> 0) bytes there. The caller fills some of it and passes that same pointer to
	 * write(), at the object's next offset; the backend then copies nothing. Called with
	 * no write of w pending; may wait for room, as a write would. Optional. */
	int (*wbuf)(struct ferry_backend *b, struct ferry_wobj *w, void **buf, size_t *len);
	/* wfile: the object is the first size bytes of the open file fd, instead of write()s.
	 * The backend reads them once now, handing each piece in order to piece(arg, …) (the
	 * caller's own hash), and again from a dup of fd when it sends them; nothing is sent
	 * before commit, and wmeta may still be called. The server checks what is sent
	 * against checksums of the first read: a file that changed in between makes the
	 * object fail with FERRY_BERR(FERRY_E_CHECKSUM), never stored torn. May wait while
	 * many such objects are unfinished. Optional. */
	int (*wfile)(struct ferry_backend *b, struct ferry_wobj *w, int fd, uint64_t size,
		     void (*piece)(void *arg, const void *buf, size_t n), void *arg);
};

struct ferry_backend {
	const struct ferry_backend_ops *ops;
	void *priv;
	struct ferry_loop *loop;
	char location[4096];
	/* why the last call that failed with err_res failed (ferry_backend_seterr): this
	 * instance's own, read with ferry_backend_errmsg */
	int err_res;
	char err_msg[600];
	/* a backend wrapping this one (routes): what this one says is recorded there too */
	struct ferry_backend *err_to;
};

/* The backend a location names: *ops (posix for a path or file://…) and *rest (the path
 * without file://, else location itself). FERRY_E_INVAL, the reason in msg, for a URL
 * scheme this build has no backend for. */
int ferry_backend_resolve(const char *location, const struct ferry_backend_ops **ops, const char **rest, char *msg,
			  size_t msglen) FERRY_MUST_CHECK;
/* What the backend serving location can do (FERRY_CAP_*); 0 for a scheme this build has
 * no backend for. The core asks this, never the scheme. */
unsigned ferry_location_caps(const char *location);
/* Picks the backend for location ("s3://…" or a path / file://…), allocates its private
 * state and opens it with opts (may be NULL; scoped names as above). An option the
 * backend does not list, or a scope no backend has, is FERRY_E_INVAL. msg gets a
 * one-line reason on failure (the backend's own, ferry_backend_seterr, when it gave one). */
int ferry_backend_open(struct ferry_backend **out, const char *location, const struct ferry_kv *opts,
		       struct ferry_loop *loop, char *msg, size_t msglen) FERRY_MUST_CHECK;
void ferry_backend_close(struct ferry_backend *b);
/* Why b's last call that failed with res failed, when the backend said more than the
 * code (an S3 error code and message): copied into buf, or NULL. Any thread. Each
 * instance has its own: two stores, a replica or a route never see each other's. */
const char *ferry_backend_errmsg(const struct ferry_backend *b, int res, char *buf, size_t len);
/* A backend records why a call is failing with res (one line, never a secret). Any thread;
 * also during open, where ferry_backend_open passes it on in its msg. */
void ferry_backend_seterr(struct ferry_backend *b, int res, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks an ops table: ABI, required hooks. Returns FERRY_OK or FERRY_E_UNSUPPORTED. */
int ferry_backend_check(const struct ferry_backend_ops *ops);
/* Deletes n keys through delete_many when the backend has it, else del one by one. 0 or
 * the first failure (a negative backend result); *failed gets the failing key's index. */
int ferry_backend_del_many(struct ferry_backend *b, const char *const *keys, size_t n, size_t *failed);

extern const struct ferry_backend_ops ferry_posix_backend;
extern const struct ferry_backend_ops ferry_s3_backend;

/* ---- the event loop: one io_uring, run by one thread ---- */

struct io_uring_sqe;

struct ferry_loop_opts {
	unsigned depth; /* queue depth, default 64 */
	/* buffers to register as fixed buffers (may be NULL) */
	void **bufs;
	size_t buf_len;
	unsigned nbufs;
};

int ferry_loop_create(struct ferry_loop **out, const struct ferry_loop_opts *o) FERRY_MUST_CHECK;
/* Registers buffers as fixed buffers (replacing any); 0 when registered, < 0 when the
 * kernel refused (reads and writes then go without them). */
int ferry_loop_register(struct ferry_loop *l, void **bufs, unsigned n, size_t len);
void ferry_loop_unregister(struct ferry_loop *l);
void ferry_loop_destroy(struct ferry_loop *l);
/* An SQE to fill, submitting queued ones first when the ring is full. Never NULL. */
struct io_uring_sqe *ferry_loop_sqe(struct ferry_loop *l, struct ferry_ev *ev);
/* Submits queued SQEs and dispatches completions: waits for at least one when wait
 * and something is in flight. Returns the number dispatched or < 0. */
int ferry_loop_run(struct ferry_loop *l, int wait);
unsigned ferry_loop_inflight(const struct ferry_loop *l);
/* Makes room for n SQEs in the submission queue (submitting what is queued), so that a
 * linked chain is submitted as a whole. */
void ferry_loop_reserve(struct ferry_loop *l, unsigned n);
int ferry_loop_fixed(const struct ferry_loop *l); /* buffers registered? */
/* Adds an fd that becomes readable when others want the loop's attention (worker results). */
int ferry_loop_watch(struct ferry_loop *l, int fd, struct ferry_ev *ev);
/* Cancels a watch and runs the loop until the cancel has landed: ev is never called again. */
void ferry_loop_unwatch(struct ferry_loop *l, struct ferry_ev *ev);

#ifdef __cplusplus
}
#endif
#endif
