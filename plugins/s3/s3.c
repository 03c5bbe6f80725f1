/*
 * The S3 backend: ferry's store on S3 and S3-compatible servers, on libcurl's multi
 * interface and OpenSSL.
 *
 *   loop thread ── requests (mutex + curl_multi_wakeup) ──► network thread: curl multi,
 *                                                           SigV4, retries, multipart
 *   loop thread ◄── finished data I/O (done list + eventfd, watched by the loop) ──┘
 *
 * Every request is signed on the network thread just before it is sent (a retry is
 * signed again: x-amz-date moves on). Small whole-object calls (get, put, stat, list,
 * del) go through the same queue and wait for their answer. Reads are ranged GETs
 * straight into the caller's buffer. Writes arrive in offset order; they are copied
 * into part buffers (the caller's buffer is free at once), or read into them in place
 * by a caller that asks wbuf() where the next bytes go; a full part is uploaded while
 * the next fills; an object that ends within its first part is one PutObject. An
 * object that is a whole file (wfile(), ferry copy) holds no part buffer at all: the
 * file is read once for the checksums and then by curl's read callback as it is sent.
 * commit() without durable returns at once and the upload finishes in the background;
 * sync() waits for all of them and reports the first failure, so no manifest is
 * written over an object that did not land.
 *
 * Retries follow the AWS SDKs' standard mode: connection failures, time-outs, 500,
 * 502, 503, 504, 429 and the throttling / RequestTimeout error codes are retried with
 * capped exponential backoff and full jitter, at most S3_ATTEMPTS times; other 4xx fail
 * at once with the server's code and message. A refused connection after the server
 * has answered this run (a restart) does not use up attempts: it is retried until it
 * has been refused for reconnect_seconds. Every request we send may be repeated
 * safely except CreateMultipartUpload: a retry after a lost answer starts a second
 * upload and leaves the first one empty and unfinished in the bucket; the next writer
 * to the store lists and aborts such orphans under its lock (journal.c).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ferry/backend.h"
#include "ferry/error.h"
#include "s3_conf.h"
#include "s3_http.h"
#include "s3_sign.h"
#include "s3_xml.h"

#define S3_BACKOFF_BASE 0.1 /* seconds */
#define S3_BACKOFF_CAP 10.0
#define S3_PART_MIN (8u << 20)         /* our first part size; S3's minimum is 5 MiB */
#define S3_PART_MAX (5ull << 30)       /* S3's largest part */
#define S3_UPLOAD_CAP (128u << 20)     /* bytes of sealed parts waiting or in flight */
#define S3_SMALL_MAX (64u << 20)       /* the largest reply get() buffers */
#define S3_RECV_BUF (256L << 10)       /* curl's receive buffer for ranged reads */
#define S3_SEG (2u << 20)              /* part buffers are segments of this: a transparent huge page */
#define S3_SEG_POOL (S3_UPLOAD_CAP / S3_SEG) /* free segments kept for the next parts */

_Static_assert(S3_PART_MIN % S3_SEG == 0, "parts are whole segments");

struct s3;
struct s3w;

/* The bytes of a part or a single-part object: n segments of S3_SEG, filled in order. */
struct s3segs {
	uint8_t **v;
	size_t n, cap; /* segments held; room in v */
};

struct s3req {
	struct s3 *s3;
	const char *method;
	char *path;  /* encoded, as signed */
	char *query; /* encoded, as sent; "" for none */
	/* request body: contiguous (body), a part's segments (segs.n > 0), or the bytes of
	 * a file at src_off (from_file: wfile), read when sent */
	const uint8_t *body;
	struct s3segs segs;
	size_t body_len, body_off;
	int from_file, src_fd, src_err; /* src_err: errno of a read of the file that failed or came short */
	uint64_t src_off;
	char md5_b64[32]; /* Content-MD5, or "" */
	char payload_hash[65];
	/* response body: into a fixed buffer (ranged reads) or a growing one */
	uint8_t *sink;
	size_t sink_len, sink_cap;
	int sink_fixed, sink_over;
	char errbody[4096]; /* an error reply to a ranged read goes here, not in the caller's buffer */
	size_t errlen;
	const char *meta; /* "x-amz-meta-NAME:VALUE\n" lines to send (signed), or NULL */
	uint64_t range_off, range_len; /* range_len 0: no Range header */
	/* response */
	long status;
	struct s3_resp h; /* its headers: ETag, x-amz-meta-*, lengths */
	CURLcode cc;
	char curl_err[CURL_ERROR_SIZE];
	int attempts; /* tries so far that count against the limit */
	int backoffs; /* retries so far, all of them: the backoff's exponent */
	double not_before;
	double refused_since; /* ferry_mono() of the first refused connection in a row, or 0 */
	int res; /* 0 or negative: -errno, FERRY_BERR(x) */
	/* what to do when it is over (network thread, s3->mu held) */
	void (*done)(struct s3req *rq);
	void *user;
	int user_n;
	int finished; /* for waiters */
	/* curl */
	CURL *easy;
	struct curl_slist *hdrs;
	struct s3req *next;
};

/* An object being written. */
struct s3w {
	struct s3 *s3;
	char key[1100];
	struct s3segs segs; /* the part being filled */
	size_t fill, cap;   /* its bytes so far and its size; cap 0: no part started */
	int next_part; /* number of the part being filled, from 1 */
	char upload_id[512];
	int creating, created;
	struct s3req *waiting_id; /* sealed parts waiting for the upload id */
	struct s3_part *parts;
	size_t nparts_cap;
	int parts_inflight;
	int committing, durable, aborted, finished;
	int end_by_delete; /* its end is reported when the DELETE of its upload succeeds (abort_done) */
	int res;
	char msg[2048];
	uint64_t total;
	char meta[1024]; /* user metadata lines for PutObject / CreateMultipartUpload */
	struct s3_part *have; /* resuming: the parts the server holds (ListParts), by number */
	size_t nhave;
	struct s3w *next_pending; /* on s3->pending while a non-durable commit is finishing */
	/* sent from a file (wfile): part i is src_size's slice fsum[i], read when it is sent */
	int from_file, src_fd;
	uint64_t src_size;
	struct s3_fsum {
		uint64_t off, len;
		char sha[65], md5[32]; /* of the hashing pass: the server checks what is sent against them */
	} *fsum;
	int nfparts, fnext; /* parts; the next one to send */
	int fqueued;
	struct s3w *next_fq; /* on s3->fq while parts are left to send */
};

struct s3r {
	char key[1100];
	uint64_t size;
	char etag[80];
	char meta[2048];
	/* opened by ropen_known: no HEAD; etag and meta come with the read at offset 0 */
	int known, have_meta;
};

struct s3 {
	struct s3_conf c;
	struct ferry_backend *b;
	struct ferry_loop *loop;
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	CURLM *multi;
	CURLSH *share;
	/* the share is touched from more than one thread: the network thread attaches it to
	 * each attempt's handle, callers free their requests' handles (curl_easy_cleanup
	 * detaches it); unlocked, its use count loses updates and cleanup refuses (a leak) */
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	struct s3req *submitted; /* new or retried, waiting for the network thread */
	int stop;
	unsigned active; /* requests in curl */
	/* the loop side */
	int efd;
	struct ferry_ev ev;
	struct ferry_io *done_head, *done_tail;
	/* writes waiting for upload room, in arrival order */
	struct ferry_io *wait_head, *wait_tail;
	uint64_t upload_bytes;
	struct s3w *pending; /* committed, finishing */
	int deferred_res;
	char deferred_msg[2048];
	/* segments of finished parts, reused: fresh memory is dear (partbuf_alloc) */
	uint8_t *freesegs[S3_SEG_POOL];  /* a part's second segment on: huge pages */
	uint8_t *freeheads[S3_SEG_POOL]; /* its first: small pages, touched only as far as filled */
	unsigned nfree, nfreeheads;
	struct s3_key_cache keycache;
	uint64_t requests, retries;
	int answered; /* the server has answered a request (network thread): refusals now mean a restart */
	int debug; /* FERRY_S3_DEBUG: one line per request on stderr (no headers, no secrets) */
	int verbose; /* FERRY_VERBOSE (set by --verbose): one line per retry */
	struct ferry_wevents wev; /* the caller's journal (set_events), or all NULL */
	/* objects sent from files (wfile): those with parts to send, oldest first */
	struct s3w *fq_head, *fq_tail;
	unsigned file_parts; /* their parts in flight */
	unsigned file_objs;  /* and objects not finished (each holds a file descriptor) */
	char bind[64]; /* FERRY_S3_BIND: the local address to send from (a planner route), "" any */
};

/* ---------------------------------------------------------------- messages */

/* Failures name the server's code and message (ferry_backend_setmsg); never a credential. */
#define s3_setmsg ferry_backend_setmsg

/* ---------------------------------------------------------------- requests */

static char *key_path(struct s3 *s, const char *key)
{
	char full[2200], *enc, *out;
	size_t n;

	n = (size_t)snprintf(full, sizeof(full), "%s%s", s->c.prefix, key);
	if (n >= sizeof(full))
		return NULL;
	enc = s3_uri_encode(full, n, 1);
	if (!enc)
		return NULL;
	if (s->c.path_style) {
		if (asprintf(&out, "/%s/%s", s->c.bucket, enc) < 0)
			out = NULL;
	} else if (asprintf(&out, "/%s", enc) < 0) {
		out = NULL;
	}
	free(enc);
	return out;
}

static struct s3req *req_new(struct s3 *s, const char *method, const char *key, const char *query)
{
	struct s3req *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return NULL;
	rq->s3 = s;
	rq->method = method;
	if (key)
		rq->path = key_path(s, key);
	else if (s->c.path_style)
		rq->path = asprintf(&rq->path, "/%s/", s->c.bucket) < 0 ? NULL : rq->path;
	else
		rq->path = strdup("/");
	rq->query = strdup(query ? query : "");
	if (!rq->path || !rq->query) {
		free(rq->path);
		free(rq->query);
		free(rq);
		return NULL;
	}
	return rq;
}

static void req_free(struct s3req *rq)
{
	if (!rq)
		return;
	if (rq->easy)
		curl_easy_cleanup(rq->easy);
	curl_slist_free_all(rq->hdrs);
	if (!rq->sink_fixed)
		free(rq->sink);
	for (size_t i = 0; i < rq->segs.n; i++) /* not given back to the pool: a failure path */
		free(rq->segs.v[i]);
	free(rq->segs.v);
	free(rq->path);
	free(rq->query);
	free(rq);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3req *rq = arg;
	size_t n = size * nmemb;

	if (rq->sink_fixed) {
		long status = 0;
		curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 300) {
			size_t k = n < sizeof(rq->errbody) - 1 - rq->errlen ? n : sizeof(rq->errbody) - 1 - rq->errlen;
			memcpy(rq->errbody + rq->errlen, data, k);
			rq->errlen += k;
			return n;
		}
		if (rq->sink_len + n > rq->sink_cap) {
			rq->sink_over = 1;
			return 0; /* more than asked for: fail the transfer */
		}
	} else if (rq->sink_len + n + 1 > rq->sink_cap) {
		size_t cap = rq->sink_cap ? rq->sink_cap : 4096;
		while (cap < rq->sink_len + n + 1)
			cap *= 2;
		if (cap > S3_SMALL_MAX + 1) {
			rq->sink_over = 1;
			return 0;
		}
		uint8_t *nb = realloc(rq->sink, cap);
		if (!nb)
			return 0;
		rq->sink = nb;
		rq->sink_cap = cap;
	}
	memcpy(rq->sink + rq->sink_len, data, n);
	rq->sink_len += n;
	if (!rq->sink_fixed)
		rq->sink[rq->sink_len] = 0; /* room was kept: replies read as strings */
	return n;
}

static size_t on_send(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct s3req *rq = arg;
	size_t n = size * nmemb, left = rq->body_len - rq->body_off;

	if (n > left)
		n = left;
	if (rq->from_file) { /* straight from the page cache into curl's buffer */
		for (size_t got = 0; got < n;) {
			ssize_t k = pread(rq->src_fd, dst + got, n - got, (off_t)(rq->src_off + rq->body_off + got));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rq->src_err = k < 0 ? errno : ENODATA; /* ENODATA: shorter than it was */
				return CURL_READFUNC_ABORT;
			}
			got += (size_t)k;
		}
		rq->body_off += n;
		return n;
	}
	if (!rq->segs.n) {
		memcpy(dst, rq->body + rq->body_off, n);
		rq->body_off += n;
		return n;
	}
	for (size_t done = 0, k; done < n; done += k) {
		size_t at = rq->body_off % S3_SEG;
		k = S3_SEG - at < n - done ? S3_SEG - at : n - done;
		memcpy(dst + done, rq->segs.v[rq->body_off / S3_SEG] + at, k);
		rq->body_off += k;
	}
	return n;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct s3req *rq = arg;

	if (origin != SEEK_SET || off < 0 || (size_t)off > rq->body_len)
		return CURL_SEEKFUNC_FAIL;
	rq->body_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3req *rq = arg;
	size_t n = size * nmemb;

	s3_resp_line(&rq->h, data, n);
	return n;
}

static void amz_now(char out[17])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Builds and signs the curl handle for one attempt. */
static int req_prepare(struct s3req *rq)
{
	struct s3 *s = rq->s3;
	struct s3_header h[24];
	char metabuf[1024];
	size_t nh = 0;
	char date[17], url[8192], line[1200], range[64];
	struct s3_signed sig = { 0 };
	int r;

	if (!rq->easy && !(rq->easy = curl_easy_init()))
		return -ENOMEM;
	curl_easy_reset(rq->easy);
	curl_slist_free_all(rq->hdrs);
	rq->hdrs = NULL;
	rq->sink_len = 0;
	rq->sink_over = 0;
	rq->errlen = 0;
	s3_resp_reset(&rq->h);
	rq->body_off = 0;
	rq->status = 0;
	rq->curl_err[0] = 0;

	amz_now(date);
	h[nh++] = (struct s3_header){ "host", s->c.host };
	h[nh++] = (struct s3_header){ "x-amz-date", date };
	h[nh++] = (struct s3_header){ "x-amz-content-sha256", rq->payload_hash };
	if (s->c.session_token)
		h[nh++] = (struct s3_header){ "x-amz-security-token", s->c.session_token };
	if (rq->md5_b64[0])
		h[nh++] = (struct s3_header){ "content-md5", rq->md5_b64 };
	if (rq->meta) { /* x-amz-* headers must be signed */
		snprintf(metabuf, sizeof(metabuf), "%s", rq->meta);
		for (char *ml = metabuf, *nl; *ml && nh < 24; ml = nl + 1) {
			nl = strchr(ml, '\n');
			if (!nl)
				break;
			*nl = 0;
			char *colon = strchr(ml, ':');
			if (!colon)
				continue;
			*colon = 0;
			h[nh++] = (struct s3_header){ ml, colon + 1 };
		}
	}
	struct s3_sign_input in = {
		.method = rq->method, .path = rq->path, .query = rq->query, .headers = h, .nheaders = nh,
		.payload_hash = rq->payload_hash, .amz_date = date, .region = s->c.region, .service = "s3",
		.access_key = s->c.access_key, .secret_key = s->c.secret_key,
	};
	pthread_mutex_lock(&s->mu); /* the key cache */
	r = s3_sign(&in, &s->keycache, &sig);
	pthread_mutex_unlock(&s->mu);
	if (r) {
		s3_signed_free(&sig);
		return -EINVAL;
	}
	for (size_t i = 1; i < nh; i++) { /* host: curl sends it from the URL */
		snprintf(line, sizeof(line), "%s: %s", h[i].name, h[i].value);
		rq->hdrs = curl_slist_append(rq->hdrs, line);
	}
	snprintf(line, sizeof(line), "Authorization: %s", sig.authorization);
	rq->hdrs = curl_slist_append(rq->hdrs, line);
	OPENSSL_cleanse(line, sizeof(line));
	s3_signed_free(&sig);
	rq->hdrs = curl_slist_append(rq->hdrs, "Expect:"); /* no 100-continue round trip */
	if (!strcmp(rq->method, "PUT") || !strcmp(rq->method, "POST")) /* not curl's form default */
		rq->hdrs = curl_slist_append(rq->hdrs, rq->body_len && !strcmp(rq->method, "POST") ?
						       "Content-Type: application/xml" :
						       "Content-Type: application/octet-stream");
	if (rq->range_len) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)rq->range_off,
			 (unsigned long long)(rq->range_off + rq->range_len - 1));
		rq->hdrs = curl_slist_append(rq->hdrs, range);
	}
	if (!rq->hdrs)
		return -ENOMEM;
	/* path-style: rq->path starts with /bucket; virtual-hosted: the bucket is in the host */
	if (snprintf(url, sizeof(url), "%s%s%s%s", s->c.endpoint, rq->path, rq->query[0] ? "?" : "", rq->query) >=
	    (int)sizeof(url))
		return -ENAMETOOLONG;

	CURL *e = rq->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->hdrs);
	curl_easy_setopt(e, CURLOPT_PRIVATE, rq);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rq->curl_err);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, rq);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, rq);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a transfer slower than 1 KB/s for 30 s (FERRY_S3_LOW_SPEED_TIME) is stalled: retry it */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)s->c.low_speed_time);
	curl_easy_setopt(e, CURLOPT_SHARE, s->share);
	if (s->c.ca_bundle)
		curl_easy_setopt(e, CURLOPT_CAINFO, s->c.ca_bundle);
	if (s->bind[0])
		curl_easy_setopt(e, CURLOPT_INTERFACE, s->bind);
	if (rq->sink_fixed) /* fewer, larger recv()s and on_body calls for data (default 16 KiB) */
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, S3_RECV_BUF);
	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(rq->method, "PUT") || !strcmp(rq->method, "POST")) {
		if (!strcmp(rq->method, "PUT"))
			curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		else
			curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_send);
		curl_easy_setopt(e, CURLOPT_READDATA, rq);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, rq);
		if (!strcmp(rq->method, "PUT"))
			curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
		else
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	return 0;
}

/* Sets the body and its hashes (SHA-256 unless UNSIGNED-PAYLOAD; MD5 when asked). */
static void req_body(struct s3req *rq, const void *body, size_t len, int md5)
{
	rq->body = body;
	rq->body_len = len;
	if (rq->s3->c.unsigned_payload && len)
		strcpy(rq->payload_hash, "UNSIGNED-PAYLOAD");
	else
		s3_sha256_hex(body ? body : "", len, rq->payload_hash);
	if (md5) {
		unsigned char d[16];
		unsigned int dl = 0;
		EVP_Digest(body ? body : "", len, d, &dl, EVP_md5(), NULL);
		EVP_EncodeBlock((unsigned char *)rq->md5_b64, d, 16);
	}
}

/*
 * A body's checksums, taken as its bytes go by: SHA-256 when the payload is signed
 * (else the hash is "UNSIGNED-PAYLOAD"), MD5 for Content-MD5 when asked. The contexts
 * are made at the first begin and reused by the next (a file's parts).
 */
struct sums {
	EVP_MD_CTX *sha, *m5;
	int sign, md5;
};

static int sums_begin(struct sums *x, int sign, int md5)
{
	x->sign = sign;
	x->md5 = md5;
	if ((sign && !x->sha && !(x->sha = EVP_MD_CTX_new())) || (md5 && !x->m5 && !(x->m5 = EVP_MD_CTX_new())))
		return -ENOMEM;
	if ((sign && !EVP_DigestInit_ex(x->sha, EVP_sha256(), NULL)) || (md5 && !EVP_DigestInit_ex(x->m5, EVP_md5(), NULL)))
		return -ENOMEM;
	return 0;
}

static int sums_update(struct sums *x, const void *p, size_t n)
{
	if ((x->sign && !EVP_DigestUpdate(x->sha, p, n)) || (x->md5 && !EVP_DigestUpdate(x->m5, p, n)))
		return -ENOMEM;
	return 0;
}

/* The payload hash in hex (or UNSIGNED-PAYLOAD) and, when asked, the MD5 in base64. */
static int sums_end(struct sums *x, char sha_hex[65], char md5_b64[32])
{
	unsigned char d[32];
	unsigned int dl = 0;

	if (!x->sign)
		strcpy(sha_hex, "UNSIGNED-PAYLOAD");
	else if (!EVP_DigestFinal_ex(x->sha, d, &dl))
		return -ENOMEM;
	else
		for (int i = 0; i < 32; i++)
			snprintf(sha_hex + 2 * i, 3, "%02x", d[i]);
	if (x->md5 && !EVP_DigestFinal_ex(x->m5, d, &dl))
		return -ENOMEM;
	if (x->md5)
		EVP_EncodeBlock((unsigned char *)md5_b64, d, 16);
	return 0;
}

static void sums_free(struct sums *x)
{
	EVP_MD_CTX_free(x->sha);
	EVP_MD_CTX_free(x->m5);
}

/* req_body for a body of len bytes in segments, which rq takes over. 0 or -ENOMEM. */
static int req_body_segs(struct s3req *rq, struct s3segs *g, size_t len, int md5)
{
	struct sums x = { 0 };
	int e;

	rq->body = NULL;
	rq->segs = *g;
	rq->body_len = len;
	memset(g, 0, sizeof(*g));
	e = sums_begin(&x, !(rq->s3->c.unsigned_payload && len), md5);
	for (size_t off = 0; !e && off < len; off += S3_SEG)
		e = sums_update(&x, rq->segs.v[off / S3_SEG], len - off < S3_SEG ? len - off : S3_SEG);
	if (!e)
		e = sums_end(&x, rq->payload_hash, rq->md5_b64);
	sums_free(&x);
	return e;
}

/*
 * Does a part or object body need a Content-MD5? A signed payload's SHA-256 is checked
 * by the server already (S3: XAmzContentSHA256Mismatch; Swift's s3api: BadDigest), so
 * MD5 (~1.7 s of CPU a GiB here, the dearest digest) is only worth its cost with
 * UNSIGNED-PAYLOAD, where it is the only check of the body, or when resuming: a part the
 * server holds is recognised by its MD5 ETag.
 */
static int want_md5(const struct s3 *s, const struct s3w *w)
{
	return s->c.unsigned_payload || w->nhave;
}

/* A server's word that a body is not what its checksum says. */
static int bad_digest(const struct s3_error *se)
{
	return se && (!strcmp(se->code, "BadDigest") || !strcmp(se->code, "XAmzContentSHA256Mismatch"));
}

static int retryable(struct s3req *rq, const struct s3_error *se)
{
	if (rq->src_err || (rq->from_file && bad_digest(se)))
		return 0; /* the file changed since it was hashed: sending it again cannot help */
	switch (rq->cc) {
	case CURLE_OK: break;
	case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL: case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_CERTPROBLEM: case CURLE_OUT_OF_MEMORY:
	case CURLE_COULDNT_RESOLVE_HOST:
		return 0; /* no retry will change these */
	case CURLE_WRITE_ERROR:
		return !rq->sink_over;
	default:
		return 1; /* refused, reset, timed out, cut short: the server may come back */
	}
	if (rq->status == 500 || rq->status == 502 || rq->status == 503 || rq->status == 504 || rq->status == 429)
		return 1;
	if (se && (!strcmp(se->code, "SlowDown") || !strcmp(se->code, "RequestTimeout") ||
		   !strcmp(se->code, "Throttling") || !strcmp(se->code, "InternalError") ||
		   !strcmp(se->code, "RequestTimeTooSkewed")))
		return 1;
	return 0;
}

/*
 * A server that answered earlier in this run and now refuses connections is most likely
 * restarting: those refusals do not count as attempts; the request is tried until it
 * has been refused for reconnect_seconds in a row. A server that never answered fails
 * after the attempts, so a wrong endpoint is reported at once.
 */
static int restart(const struct s3 *s, const struct s3req *rq)
{
	return s->answered && rq->cc == CURLE_COULDNT_CONNECT;
}

static void submit_locked(struct s3 *s, struct s3req *rq)
{
	rq->next = s->submitted;
	s->submitted = rq;
	curl_multi_wakeup(s->multi);
}

/* A transfer ended: retry, or settle its result and run its done(). Network thread. */
static void req_ended(struct s3 *s, struct s3req *rq)
{
	struct s3_error se = { "", "" };
	int have_se = 0, tries = rq->attempts + 1; /* this one included */

	if (rq->cc == CURLE_OK) {
		curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &rq->status);
		s->answered = 1;
	}
	if (rq->cc != CURLE_COULDNT_CONNECT)
		rq->refused_since = 0;
	else if (rq->refused_since == 0)
		rq->refused_since = ferry_mono();
	if (rq->cc == CURLE_OK && rq->status >= 300 && !rq->sink_fixed && rq->sink_len)
		have_se = s3_xml_error((const char *)rq->sink, rq->sink_len, &se) == 0;
	if (rq->cc == CURLE_OK && rq->status >= 300 && rq->sink_fixed && rq->errlen)
		have_se = s3_xml_error(rq->errbody, rq->errlen, &se) == 0;
	if (rq->cc == CURLE_WRITE_ERROR && rq->sink_over) {
		rq->res = FERRY_BERR(FERRY_E_TOOBIG);
	} else if (rq->src_err == ENODATA || (rq->from_file && rq->cc == CURLE_OK && bad_digest(have_se ? &se : NULL))) {
		rq->res = FERRY_BERR(FERRY_E_CHECKSUM);
		s3_setmsg(rq->res, "the file changed while being read (%s): not copied",
			  rq->src_err ? "it is shorter now" : "the server's checksum of what was sent differs");
	} else if (rq->src_err) {
		rq->res = -rq->src_err;
	} else if ((rq->cc != CURLE_OK || (rq->status >= 300 && rq->status != 304)) &&
		   retryable(rq, have_se ? &se : NULL) &&
		   (restart(s, rq) ? ferry_mono() - rq->refused_since < s->c.reconnect_seconds : tries < s->c.attempts)) {
		if (!restart(s, rq))
			rq->attempts = tries; /* refusals during a restart do not use up attempts */
		rq->backoffs++;
		double cap = S3_BACKOFF_BASE * (double)(1u << (rq->backoffs < 12 ? rq->backoffs : 12));
		unsigned r = 0;
		if (cap > S3_BACKOFF_CAP)
			cap = S3_BACKOFF_CAP;
		RAND_bytes((unsigned char *)&r, sizeof(r));
		rq->not_before = ferry_mono() + cap * ((double)r / 4294967296.0); /* full jitter */
		s->retries++;
		if (s->debug || s->verbose) {
			char budget[64];
			if (restart(s, rq))
				snprintf(budget, sizeof(budget), "refused for %.0f s of %d", ferry_mono() - rq->refused_since,
					 s->c.reconnect_seconds);
			else
				snprintf(budget, sizeof(budget), "attempt %d of %d", rq->attempts, s->c.attempts);
			fprintf(stderr, "ferry: s3: %s %s%s%s: %s, retry %d in %.2f s (%s)\n", rq->method, rq->path,
				rq->query[0] ? "?" : "", rq->query,
				rq->cc != CURLE_OK ? curl_easy_strerror(rq->cc) : (have_se ? se.code : "HTTP error"),
				rq->backoffs, rq->not_before - ferry_mono(), budget);
		}
		pthread_mutex_lock(&s->mu);
		submit_locked(s, rq);
		pthread_mutex_unlock(&s->mu);
		return;
	} else if (rq->cc != CURLE_OK) {
		rq->res = FERRY_BERR(FERRY_E_IO);
		s3_setmsg(rq->res, "%s %s: %s%s%s (after %d attempts%s)", rq->method, s->c.endpoint,
			  curl_easy_strerror(rq->cc), rq->curl_err[0] ? ": " : "", rq->curl_err, rq->backoffs + 1,
			  restart(s, rq) ? ", refused since it last answered" : "");
	} else if (rq->status == 404 || rq->status == 416) {
		rq->res = rq->status == 404 ? -ENOENT : FERRY_BERR(FERRY_E_TRUNCATED);
		if (have_se && !strcmp(se.code, "NoSuchBucket")) {
			rq->res = FERRY_BERR(FERRY_E_NOTFOUND);
			s3_setmsg(rq->res, "bucket %s does not exist (NoSuchBucket)", s->c.bucket);
		} else if (have_se && !strcmp(se.code, "NoSuchUpload")) {
			rq->res = FERRY_BERR(FERRY_E_NOTFOUND);
			s3_setmsg(rq->res, "multipart upload is gone (NoSuchUpload)");
		}
	} else if (rq->status >= 300 && rq->status != 304) {
		int denied = rq->status == 403 || rq->status == 401;
		rq->res = denied ? FERRY_BERR(FERRY_E_DENIED) : FERRY_BERR(FERRY_E_IO);
		s3_setmsg(rq->res, "%s %s: HTTP %ld %s%s%s", rq->method, s->c.bucket, rq->status,
			  have_se ? se.code : "", have_se && se.message[0] ? ": " : "", have_se ? se.message : "");
	} else {
		rq->res = 0;
	}
	s->requests++;
	if (s->debug)
		fprintf(stderr, "ferry: s3: %s %s%s%s -> %ld (%d)\n", rq->method, rq->path, rq->query[0] ? "?" : "",
			rq->query, rq->status, rq->res);
	rq->done(rq);
}

static void *net_main(void *arg)
{
	struct s3 *s = arg;

	for (;;) {
		struct s3req *batch, *rq, *later = NULL;
		double t = ferry_mono(), next = 0;
		int running = 0, msgs;
		CURLMsg *m;

		pthread_mutex_lock(&s->mu);
		batch = s->submitted;
		s->submitted = NULL;
		int stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop && !batch && s->active == 0)
			break;
		while ((rq = batch)) {
			batch = rq->next;
			if (rq->not_before > t) {
				rq->next = later;
				later = rq;
				if (!next || rq->not_before < next)
					next = rq->not_before;
				continue;
			}
			int e = req_prepare(rq);
			if (!e && curl_multi_add_handle(s->multi, rq->easy) == CURLM_OK) {
				s->active++;
			} else {
				rq->res = e ? e : -ENOMEM;
				rq->done(rq);
			}
		}
		if (later) {
			pthread_mutex_lock(&s->mu);
			while ((rq = later)) {
				later = rq->next;
				rq->next = s->submitted;
				s->submitted = rq;
			}
			pthread_mutex_unlock(&s->mu);
		}
		curl_multi_perform(s->multi, &running);
		while ((m = curl_multi_info_read(s->multi, &msgs))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			CURL *e = m->easy_handle;
			CURLcode cc = m->data.result;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&rq);
			curl_multi_remove_handle(s->multi, e);
			s->active--;
			rq->cc = cc;
			req_ended(s, rq);
		}
		int timeout = 1000;
		if (next) {
			double d = (next - ferry_mono()) * 1000;
			timeout = d < 1 ? 1 : d < 1000 ? (int)d : 1000;
		}
		curl_multi_poll(s->multi, NULL, 0, timeout, NULL);
	}
	return NULL;
}

/* ---------------------------------------------------------------- synchronous calls */

static void wake_waiter(struct s3req *rq)
{
	struct s3 *s = rq->s3;

	pthread_mutex_lock(&s->mu);
	rq->finished = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

/* Sends rq and waits for its end; returns rq->res. rq stays the caller's. */
static int req_wait(struct s3 *s, struct s3req *rq)
{
	rq->done = wake_waiter;
	if (!rq->payload_hash[0])
		req_body(rq, NULL, 0, 0);
	pthread_mutex_lock(&s->mu);
	submit_locked(s, rq);
	while (!rq->finished)
		pthread_cond_wait(&s->cond, &s->mu);
	pthread_mutex_unlock(&s->mu);
	return rq->res;
}

static int s3_get(struct ferry_backend *b, const char *key, uint8_t **buf, size_t *len, size_t max)
{
	struct s3 *s = b->priv;
	struct s3req *rq = req_new(s, "GET", key, NULL);
	int r;

	if (!rq)
		return -ENOMEM;
	r = req_wait(s, rq);
	if (r == FERRY_BERR(FERRY_E_TOOBIG) || (!r && rq->sink_len > max))
		r = FERRY_BERR(FERRY_E_TOOBIG);
	if (!r) {
		*buf = rq->sink ? rq->sink : malloc(1);
		*len = rq->sink_len;
		rq->sink = NULL;
		if (!*buf)
			r = -ENOMEM;
	}
	req_free(rq);
	return r;
}

/* HEAD key: the finished request (size, ETag, metadata) in *out, or an error. */
static int head(struct s3 *s, const char *key, struct s3req **out)
{
	struct s3req *rq = req_new(s, "HEAD", key, NULL);
	int r;

	*out = NULL;
	if (!rq)
		return -ENOMEM;
	r = req_wait(s, rq);
	if (!r && !rq->h.have_length)
		r = FERRY_BERR(FERRY_E_FORMAT);
	if (r)
		req_free(rq);
	else
		*out = rq;
	return r;
}

static int s3_stat(struct ferry_backend *b, const char *key, uint64_t *size)
{
	struct s3req *rq;
	int r = head(b->priv, key, &rq);

	if (!r)
		*size = rq->h.length;
	req_free(rq);
	return r;
}

static int s3_put(struct ferry_backend *b, const char *key, const void *buf, size_t len, int exclusive)
{
	struct s3 *s = b->priv;
	struct s3req *rq;
	uint64_t size;
	int r;

	/* S3 (and Swift's s3api) may not honour If-None-Match on PUT: "exclusive" is a
	 * check before the write, which is enough for the callers (config at init, locks
	 * that are checked again by listing). */
	if (exclusive) {
		r = s3_stat(b, key, &size);
		if (r == 0)
			return -EEXIST;
		if (r != -ENOENT)
			return r;
	}
	if (!(rq = req_new(s, "PUT", key, NULL)))
		return -ENOMEM;
	req_body(rq, buf, len, 1);
	r = req_wait(s, rq);
	req_free(rq);
	return r;
}

static int s3_del(struct ferry_backend *b, const char *key)
{
	struct s3 *s = b->priv;
	struct s3req *rq = req_new(s, "DELETE", key, NULL);
	int r;

	if (!rq)
		return -ENOMEM;
	r = req_wait(s, rq);
	req_free(rq);
	return r == -ENOENT ? 0 : r;
}

/* ListObjectsV2 under the store prefix + prefix, page by page. */
static int list_pages(struct s3 *s, const char *prefix, int max_keys, ferry_list_fn fn, void *arg, int *any)
{
	char *token = NULL, *full = NULL, *enc = NULL, *q = NULL;
	size_t plen = strlen(s->c.prefix);
	int r = 0;

	if (asprintf(&full, "%s%s", s->c.prefix, prefix) < 0)
		return -ENOMEM;
	enc = s3_uri_encode(full, strlen(full), 0);
	if (!enc) {
		free(full);
		return -ENOMEM;
	}
	do {
		struct s3_listing l = { 0 };
		char *tenc = token ? s3_uri_encode(token, strlen(token), 0) : NULL;
		char mk[32] = "";
		if (max_keys)
			snprintf(mk, sizeof(mk), "&max-keys=%d", max_keys);
		free(q);
		q = NULL;
		if (asprintf(&q, "%s%s%slist-type=2%s&prefix=%s", tenc ? "continuation-token=" : "", tenc ? tenc : "",
			     tenc ? "&" : "", mk, enc) < 0) {
			free(tenc);
			r = -ENOMEM;
			break;
		}
		free(tenc);
		struct s3req *rq = req_new(s, "GET", NULL, q);
		if (!rq) {
			r = -ENOMEM;
			break;
		}
		r = req_wait(s, rq);
		if (r == -ENOENT) {
			r = FERRY_BERR(FERRY_E_NOTFOUND);
			s3_setmsg(r, "bucket %s does not exist (NoSuchBucket)", s->c.bucket);
		}
		if (!r && s3_xml_listing((const char *)rq->sink, rq->sink_len, &l)) {
			r = FERRY_BERR(FERRY_E_FORMAT);
			s3_setmsg(r, "ListObjectsV2 on %s: reply is not a listing", s->c.bucket);
		}
		req_free(rq);
		if (r)
			break;
		for (size_t i = 0; i < l.n && !r; i++) {
			if (strncmp(l.objects[i].key, s->c.prefix, plen) != 0)
				continue;
			if (any)
				*any = 1;
			if (fn)
				r = fn(arg, l.objects[i].key + plen, l.objects[i].size);
		}
		free(token);
		token = l.truncated && l.next_token && !max_keys ? strdup(l.next_token) : NULL;
		s3_listing_free(&l);
	} while (!r && token);
	free(token);
	free(q);
	free(enc);
	free(full);
	return r;
}

static int s3_list(struct ferry_backend *b, const char *prefix, ferry_list_fn fn, void *arg)
{
	return list_pages(b->priv, prefix, 0, fn, arg, NULL);
}

static int s3_init_location(struct ferry_backend *b)
{
	int any = 0;
	int r = list_pages(b->priv, "", 1, NULL, NULL, &any);

	if (r)
		return r;
	return any ? -ENOTEMPTY : 0;
}

/* ---------------------------------------------------------------- loop side */

/* Finished data I/O goes back to the loop thread. Called with s->mu held. */
static void io_finish_locked(struct s3 *s, struct ferry_io *io, int res)
{
	uint64_t one = 1;

	io->res = res;
	io->next_queued = NULL;
	if (s->done_tail)
		s->done_tail->next_queued = io;
	else
		s->done_head = io;
	s->done_tail = io;
	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: the loop will look */
	}
}

static void on_loop_event(struct ferry_ev *ev, int res)
{
	struct s3 *s = (struct s3 *)((char *)ev - offsetof(struct s3, ev));
	struct ferry_io *io;
	uint64_t v;

	(void)res;
	if (read(s->efd, &v, sizeof(v)) < 0) {
		/* drained already */
	}
	ferry_loop_watch(s->loop, s->efd, &s->ev);
	pthread_mutex_lock(&s->mu);
	io = s->done_head;
	s->done_head = s->done_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	while (io) {
		struct ferry_io *next = io->next_queued;
		io->done(io);
		io = next;
	}
}

/* ---------------------------------------------------------------- reads */

/* The ETag (unquoted) and user metadata of a reply, for rmeta. */
static void robj_take_meta(struct s3r *r, const struct s3req *rq)
{
	const char *t = rq->h.etag;
	size_t k = strlen(t);

	if (k >= 2 && t[0] == '"' && t[k - 1] == '"')
		snprintf(r->etag, sizeof(r->etag), "%.*s", (int)(k - 2), t + 1);
	else
		snprintf(r->etag, sizeof(r->etag), "%s", t);
	memcpy(r->meta, rq->h.meta, sizeof(r->meta));
	r->have_meta = 1;
}

static struct s3r *robj_new(const char *key)
{
	struct s3r *r;

	if (strlen(key) >= sizeof(r->key) || !(r = calloc(1, sizeof(*r))))
		return NULL;
	strcpy(r->key, key);
	return r;
}

static int s3_ropen(struct ferry_backend *b, const char *key, struct ferry_robj **out, uint64_t *size)
{
	struct s3r *r = robj_new(key);
	int e;

	if (!r)
		return strlen(key) >= sizeof(r->key) ? -ENAMETOOLONG : -ENOMEM;
	struct s3req *rq;
	e = head(b->priv, key, &rq);
	if (!e) {
		r->size = rq->h.length;
		robj_take_meta(r, rq);
	}
	req_free(rq);
	if (e) {
		free(r);
		return e;
	}
	*size = r->size;
	*out = (struct ferry_robj *)r;
	return 0;
}

/* No HEAD: the size is the caller's (a listing); the read at offset 0 brings the rest. */
static int s3_ropen_known(struct ferry_backend *b, const char *key, uint64_t size, struct ferry_robj **out)
{
	struct s3r *r = robj_new(key);

	(void)b;
	if (!r)
		return strlen(key) >= sizeof(r->key) ? -ENAMETOOLONG : -ENOMEM;
	r->size = size;
	r->known = 1;
	*out = (struct ferry_robj *)r;
	return 0;
}

static void read_done(struct s3req *rq)
{
	struct ferry_io *io = rq->user;
	struct s3r *r = io->bobj; /* only touched for the metadata read */
	struct s3 *s = rq->s3;
	int res = rq->res;

	if (!res && rq->sink_len != io->len)
		res = FERRY_BERR(FERRY_E_TRUNCATED);
	if (!res && rq->user_n) { /* the read that brings an ropen_known object's metadata */
		/* the object may have changed since it was listed: its size says so */
		uint64_t total = rq->h.have_total			   ? rq->h.total :
				 rq->status == 200 && rq->h.have_length ? rq->h.length :
									r->size;
		if (total != r->size) {
			res = FERRY_BERR(FERRY_E_TRUNCATED);
			s3_setmsg(res, "GET %s: the object is %llu bytes, the listing said %llu: changed meanwhile",
				  r->key, (unsigned long long)total, (unsigned long long)r->size);
		} else {
			robj_take_meta(r, rq); /* the loop thread reads it after this read's done() */
		}
	}
	if (!res)
		res = (int)io->len;
	pthread_mutex_lock(&s->mu);
	io_finish_locked(s, io, res);
	pthread_mutex_unlock(&s->mu);
	rq->sink = NULL;
	req_free(rq);
}

static int s3_read(struct ferry_backend *b, struct ferry_robj *ro, struct ferry_io *io)
{
	struct s3 *s = b->priv;
	struct s3r *r = (struct s3r *)ro;
	struct s3req *rq;

	/* an empty object opened by ropen_known is still read once, unranged, for its metadata */
	int whole = r->known && !r->have_meta && io->off == 0 && io->len == 0 && r->size == 0;

	if (io->off + io->len > r->size || (io->len == 0 && !whole)) {
		pthread_mutex_lock(&s->mu);
		io_finish_locked(s, io, io->len == 0 ? 0 : FERRY_BERR(FERRY_E_TRUNCATED));
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	rq = req_new(s, "GET", r->key, NULL);
	if (!rq) {
		pthread_mutex_lock(&s->mu);
		io_finish_locked(s, io, -ENOMEM);
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	req_body(rq, NULL, 0, 0);
	rq->sink = io->buf;
	rq->sink_cap = io->len;
	rq->sink_fixed = 1;
	rq->range_off = io->off;
	rq->range_len = io->len;
	rq->user = io;
	io->bobj = r;
	rq->user_n = r->known && !r->have_meta && io->off == 0;
	rq->done = read_done;
	pthread_mutex_lock(&s->mu);
	submit_locked(s, rq);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int s3_rmeta(struct ferry_backend *b, struct ferry_robj *ro, const char *name, char *value, size_t len)
{
	struct s3r *r = (struct s3r *)ro;
	char want[80];

	(void)b;
	if (r->known && !r->have_meta)
		return -EAGAIN;
	if (!strcmp(name, "etag")) {
		if (!r->etag[0])
			return -ENOENT;
		snprintf(value, len, "%s", r->etag);
		return 0;
	}
	int wl = snprintf(want, sizeof(want), "x-amz-meta-%s:", name);
	for (const char *line = r->meta; *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		if (ll >= (size_t)wl && !strncmp(line, want, (size_t)wl)) {
			const char *v = line + wl;
			size_t vl = ll - (size_t)wl;
			while (vl && *v == ' ')
				v++, vl--;
			snprintf(value, len, "%.*s", (int)vl, v);
			return 0;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return -ENOENT;
}

static int s3_wmeta(struct ferry_backend *b, struct ferry_wobj *wo, const char *name, const char *value)
{
	struct s3w *w = (struct s3w *)wo;
	size_t used = strlen(w->meta);

	(void)b;
	if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name))
		return -EINVAL;
	for (const char *v = value; *v; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e)
			return -EINVAL;
	if ((w->total && !w->from_file) || w->creating || w->created)
		return -EBUSY; /* after the first write; an object from a file is sent at commit */
	int n = snprintf(w->meta + used, sizeof(w->meta) - used, "x-amz-meta-%s:%s\n", name, value);
	if (n < 0 || (size_t)n >= sizeof(w->meta) - used) {
		w->meta[used] = 0;
		return -E2BIG;
	}
	return 0;
}

static void s3_rclose(struct ferry_backend *b, struct ferry_robj *r)
{
	(void)b;
	free(r);
}

/* ---------------------------------------------------------------- writes */

/*
 * Part buffers are lists of S3_SEG segments, each 2 MiB-aligned and, but for a part's
 * first, marked for transparent huge pages, reused from part to part whatever the
 * part's size. Memory a
 * process touches for the first time is what costs on the bench VM: ~26 us of CPU per
 * 4 KiB page fault (3.5 s for 512 MiB), and still ~2-4 ms per MiB as huge pages when
 * the host must back them anew, against ~0.2 ms per MiB for memory used before
 * (bench/RESULTS.md, "copy up CPU"). Part sizes grow 8 -> 16 -> 32 MiB; as whole
 * buffers each size was new memory, as segments a large upload touches the in-flight
 * cap and no more. Where THP is off, madvise fails and the segment is ordinary memory.
 */
static uint8_t *seg_alloc(int huge)
{
	void *p = NULL;

	if (posix_memalign(&p, S3_SEG, S3_SEG))
		return NULL;
	if (huge)
		madvise(p, S3_SEG, MADV_HUGEPAGE);
	return p;
}

/* What a part's buffer counts against S3_UPLOAD_CAP: at least a whole first part's worth,
 * so many small objects are not all in flight at once (16 at most, as with 8 MiB buffers). */
static size_t seg_charge(size_t nsegs)
{
	return !nsegs ? 0 : nsegs * S3_SEG < S3_PART_MIN ? S3_PART_MIN : nsegs * S3_SEG;
}

/* One more segment at the end of g. A part's first segment has small pages: a small
 * object touches a few KiB of it, where a huge page would be 2 MiB to zero (and, on
 * the bench VM, to back). s->mu held. */
static int segs_grow(struct s3 *s, struct s3segs *g)
{
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 4;
		uint8_t **nv = realloc(g->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		g->v = nv;
		g->cap = nc;
	}
	uint8_t *p;
	if (g->n == 0)
		p = s->nfreeheads ? s->freeheads[--s->nfreeheads] : seg_alloc(0);
	else
		p = s->nfree ? s->freesegs[--s->nfree] : seg_alloc(1);
	if (!p)
		return -ENOMEM;
	g->v[g->n++] = p;
	return 0;
}

/* Gives g's segments back to the pool (at most S3_SEG_POOL kept). s->mu held. */
static void segs_put(struct s3 *s, struct s3segs *g)
{
	for (size_t i = 0; i < g->n; i++) {
		if (i == 0 && s->nfreeheads < S3_SEG_POOL)
			s->freeheads[s->nfreeheads++] = g->v[i];
		else if (i > 0 && s->nfree < S3_SEG_POOL)
			s->freesegs[s->nfree++] = g->v[i];
		else
			free(g->v[i]);
	}
	free(g->v);
	memset(g, 0, sizeof(*g));
}

/* Part size for part n (from 1): S3_PART_MIN, doubled every max_parts/20 parts up to
 * S3's 5 GiB part limit, so the object size is not needed up front: 10,000 parts reach
 * S3's 5 TiB object limit, and Swift's 1,000 (FERRY_S3_MAX_PARTS=1000) reach ~400 GiB. */
static size_t part_size(const struct s3 *s, int n)
{
	int step = s->c.max_parts / 20 > 0 ? s->c.max_parts / 20 : 1;
	int sh = (n - 1) / step;
	uint64_t sz = (uint64_t)S3_PART_MIN << (sh < 10 ? sh : 10);

	return sz > S3_PART_MAX ? (size_t)S3_PART_MAX : (size_t)sz;
}

static void w_progress(struct s3 *s, struct s3w *w);
static void admit_waiting(struct s3 *s);
static void pump_files_locked(struct s3 *s);

static void w_fail(struct s3w *w, int res, const char *what)
{
	if (!w->res) {
		w->res = res;
		char tmp[600];
		const char *m = ferry_backend_message(res, tmp, sizeof(tmp));
		snprintf(w->msg, sizeof(w->msg), "%s %s: %s", what, w->key, m ? m : ferry_strerror(ferry_backend_err(res)));
	}
}

static void part_done(struct s3req *rq)
{
	struct s3 *s = rq->s3;
	struct s3w *w = rq->user;

	pthread_mutex_lock(&s->mu);
	w->parts_inflight--;
	s->upload_bytes -= seg_charge(rq->segs.n);
	if (rq->from_file)
		s->file_parts--;
	if (rq->res) {
		w_fail(w, rq->res, "uploading a part of");
	} else {
		struct s3_part *p = &w->parts[rq->user_n - 1];
		p->number = rq->user_n;
		p->size = rq->body_len;
		snprintf(p->etag, sizeof(p->etag), "%s", rq->h.etag);
	}
	segs_put(s, &rq->segs);
	req_free(rq);
	w_progress(s, w);
	admit_waiting(s);
	pump_files_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static void send_part_locked(struct s3 *s, struct s3w *w, struct s3req *rq)
{
	char q[700];

	snprintf(q, sizeof(q), "partNumber=%d&uploadId=%s", rq->user_n, w->upload_id);
	free(rq->query);
	rq->query = strdup(q);
	if (!rq->query) {
		rq->res = -ENOMEM;
		rq->done = part_done;
		w->parts_inflight++; /* part_done takes it back */
		pthread_mutex_unlock(&s->mu);
		part_done(rq);
		pthread_mutex_lock(&s->mu);
		return;
	}
	w->parts_inflight++;
	submit_locked(s, rq);
}

static void create_done(struct s3req *rq)
{
	struct s3 *s = rq->s3;
	struct s3w *w = rq->user;

	pthread_mutex_lock(&s->mu);
	w->creating = 0;
	if (!rq->res && s3_xml_upload_id((const char *)rq->sink, rq->sink_len, w->upload_id, sizeof(w->upload_id)))
		rq->res = FERRY_BERR(FERRY_E_FORMAT);
	if (rq->res) {
		w_fail(w, rq->res, "starting the upload of");
	} else {
		if (s->wev.started)
			s->wev.started(s->wev.arg, w->key, w->upload_id);
		char *enc = s3_uri_encode(w->upload_id, strlen(w->upload_id), 0);
		if (enc && strlen(enc) < sizeof(w->upload_id))
			strcpy(w->upload_id, enc);
		else
			w_fail(w, FERRY_BERR(FERRY_E_TOOBIG), "starting the upload of");
		free(enc);
		w->created = 1;
	}
	/* parts that waited for the id go now (or fail) */
	while (w->waiting_id) {
		struct s3req *p = w->waiting_id;
		w->waiting_id = p->next;
		if (w->res) {
			s->upload_bytes -= seg_charge(p->segs.n);
			segs_put(s, &p->segs);
			req_free(p);
		} else {
			send_part_locked(s, w, p);
		}
	}
	req_free(rq);
	w_progress(s, w);
	admit_waiting(s);
	pthread_mutex_unlock(&s->mu);
}

/* Base64 of 16 bytes (a Content-MD5) against an ETag's hex digits, quotes ignored. */
static int etag_is_md5(const char *etag, const char *md5_b64)
{
	unsigned char raw[20];
	char hex[33];
	size_t n = strlen(etag);

	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n != 32 || EVP_DecodeBlock(raw, (const unsigned char *)md5_b64, (int)strlen(md5_b64)) < 16)
		return 0;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return strncasecmp(hex, etag, 32) == 0;
}

/*
 * Resuming: when the server holds this part already, with this size and this MD5 as
 * its ETag, it is not sent again. Returns 1 when rq was taken care of that way.
 */
static int part_reuse_locked(struct s3 *s, struct s3w *w, struct s3req *rq)
{
	const struct s3_part *h = NULL;

	for (size_t i = 0; i < w->nhave; i++)
		if (w->have[i].number == rq->user_n) {
			h = &w->have[i];
			break;
		}
	if (!h || h->size != rq->body_len || !etag_is_md5(h->etag, rq->md5_b64))
		return 0;
	struct s3_part *p = &w->parts[rq->user_n - 1];
	p->number = rq->user_n;
	p->size = rq->body_len;
	snprintf(p->etag, sizeof(p->etag), "%s", h->etag);
	if (s->debug)
		fprintf(stderr, "ferry: s3: part %d of %s is on the server already: not sent\n", rq->user_n, w->key);
	if (s->wev.reused)
		s->wev.reused(s->wev.arg, w->key, rq->body_len);
	s->upload_bytes -= seg_charge(rq->segs.n);
	segs_put(s, &rq->segs);
	req_free(rq);
	return 1;
}

/* ---------------------------------------------------------------- objects sent from files */

static void fq_remove(struct s3 *s, struct s3w *w)
{
	struct s3w *prev = NULL;

	if (!w->fqueued)
		return;
	for (struct s3w *q = s->fq_head; q; prev = q, q = q->next_fq)
		if (q == w) {
			if (prev)
				prev->next_fq = q->next_fq;
			else
				s->fq_head = q->next_fq;
			if (s->fq_tail == q)
				s->fq_tail = prev;
			break;
		}
	w->fqueued = 0;
	w->next_fq = NULL;
}

/* rq's body is slice i of w's file, with the checksums its hashing pass took. */
static void req_from_file(struct s3req *rq, const struct s3w *w, int i)
{
	rq->from_file = 1;
	rq->src_fd = w->src_fd;
	rq->src_off = w->fsum[i].off;
	rq->body_len = w->fsum[i].len;
	memcpy(rq->payload_hash, w->fsum[i].sha, sizeof(rq->payload_hash));
	memcpy(rq->md5_b64, w->fsum[i].md5, sizeof(rq->md5_b64));
}

/* Sends part i of a file-backed object, unless the server holds it already (resume). */
static void send_fpart_locked(struct s3 *s, struct s3w *w, int i)
{
	struct s3req *rq = req_new(s, "PUT", w->key, "");

	if (!rq) {
		w_fail(w, -ENOMEM, "uploading");
		return;
	}
	req_from_file(rq, w, i);
	rq->user = w;
	rq->user_n = i + 1;
	rq->done = part_done;
	if (w->nhave && part_reuse_locked(s, w, rq))
		return;
	s->file_parts++;
	send_part_locked(s, w, rq);
}

/*
 * Parts of file-backed objects go out oldest object first, at most one per connection
 * at a time: they hold no buffer (curl reads them from the file as it sends), so what
 * bounds them is the connections they would wait for.
 */
static void pump_files_locked(struct s3 *s)
{
	while (s->fq_head && s->file_parts < (unsigned)s->c.connections) {
		struct s3w *w = s->fq_head;
		if (w->res || w->aborted || w->fnext >= w->nfparts) {
			fq_remove(s, w);
			if (!w->parts_inflight) /* else its last part_done moves it on */
				w_progress(s, w);
			continue;
		}
		send_fpart_locked(s, w, w->fnext++);
	}
}

static void fq_push(struct s3 *s, struct s3w *w)
{
	if (w->fqueued)
		return;
	w->fqueued = 1;
	w->next_fq = NULL;
	if (s->fq_tail)
		s->fq_tail->next_fq = w;
	else
		s->fq_head = w;
	s->fq_tail = w;
}

/*
 * The object is the first size bytes of fd. They are read once here, in pieces that
 * piece() sees too (the caller's hash) and that stay in the CPU's cache for the parts'
 * SHA-256 (and MD5 when asked); the parts are read again from a dup of fd by on_send,
 * straight into curl's buffer. The server checks each part against this pass's
 * checksum: a file that changed in between fails instead of being stored torn.
 */
static int s3_wfile(struct ferry_backend *b, struct ferry_wobj *wo, int fd, uint64_t size,
		    void (*piece)(void *arg, const void *buf, size_t n), void *arg)
{
	struct s3 *s = b->priv;
	struct s3w *w = (struct s3w *)wo;
	struct s3segs g = { 0 };
	struct sums x = { 0 };
	int n = 0, res = 0, md5 = want_md5(s, w), sign = !s->c.unsigned_payload || size == 0;
	uint64_t off = 0;

	if (w->total || w->cap || w->from_file || w->creating || w->parts)
		return -EBUSY;
	while (off < size || n == 0) {
		if (n == s->c.max_parts)
			return FERRY_BERR(FERRY_E_TOOBIG);
		off += part_size(s, ++n);
	}
	if (!(w->fsum = calloc((size_t)n, sizeof(*w->fsum))) || !(w->parts = calloc((size_t)n, sizeof(*w->parts))))
		return -ENOMEM;
	w->nparts_cap = (size_t)n;
	pthread_mutex_lock(&s->mu);
	while (s->file_objs >= 2u * (unsigned)s->c.connections) /* each holds a descriptor */
		pthread_cond_wait(&s->cond, &s->mu);
	s->file_objs++;
	w->from_file = 1; /* w_free gives file_objs back */
	w->src_fd = -1;
	res = segs_grow(s, &g); /* the read buffer: a segment, warm from earlier parts */
	pthread_mutex_unlock(&s->mu);
	off = 0;
	for (int i = 0; i < n && !res; i++) {
		struct s3_fsum *f = &w->fsum[i];
		f->off = off;
		f->len = size - off < part_size(s, i + 1) ? size - off : part_size(s, i + 1);
		res = sums_begin(&x, sign, md5);
		for (uint64_t o = 0; o < f->len && !res; ) {
			size_t k = f->len - o < S3_SEG ? (size_t)(f->len - o) : S3_SEG;
			ssize_t got = pread(fd, g.v[0], k, (off_t)(off + o));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				res = got < 0 ? -errno : FERRY_BERR(FERRY_E_CHECKSUM);
				if (got == 0)
					s3_setmsg(res, "the file changed while being read (it is shorter now): not copied");
				break;
			}
			piece(arg, g.v[0], (size_t)got);
			res = sums_update(&x, g.v[0], (size_t)got);
			o += (uint64_t)got;
		}
		if (!res)
			res = sums_end(&x, f->sha, f->md5);
		off += f->len;
	}
	sums_free(&x);
	if (!res && (w->src_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		res = -errno;
	pthread_mutex_lock(&s->mu);
	segs_put(s, &g);
	pthread_mutex_unlock(&s->mu);
	if (res)
		return res; /* the caller aborts w */
	w->src_size = size;
	w->total = size;
	w->nfparts = n;
	w->next_part = n + 1;
	return 0;
}

/* Seals the part being filled and sends it (starting the multipart upload first). */
static int seal_part_locked(struct s3 *s, struct s3w *w)
{
	struct s3req *rq = req_new(s, "PUT", w->key, "");

	if (!rq)
		return -ENOMEM;
	if ((size_t)w->next_part > w->nparts_cap) {
		size_t nc = w->nparts_cap ? w->nparts_cap * 2 : 16;
		struct s3_part *np = realloc(w->parts, nc * sizeof(*np));
		if (!np) {
			req_free(rq);
			return -ENOMEM;
		}
		w->parts = np;
		w->nparts_cap = nc;
	}
	memset(&w->parts[w->next_part - 1], 0, sizeof(w->parts[0]));
	struct s3segs body = w->segs;
	size_t len = w->fill;
	rq->user = w;
	rq->user_n = w->next_part++;
	rq->done = part_done;
	s->upload_bytes += seg_charge(body.n); /* buffers, not bytes: many small objects hold many buffers */
	memset(&w->segs, 0, sizeof(w->segs));
	w->fill = 0;
	w->cap = 0;
	/* the part is ours alone now: hash it (SHA-256, MD5: ~10 ms per part) without
	 * holding the lock the network thread needs for every other request */
	pthread_mutex_unlock(&s->mu);
	int e = req_body_segs(rq, &body, len, want_md5(s, w));
	pthread_mutex_lock(&s->mu);
	if (e) {
		s->upload_bytes -= seg_charge(rq->segs.n);
		segs_put(s, &rq->segs);
		req_free(rq);
		return e;
	}
	if (w->nhave && part_reuse_locked(s, w, rq))
		return 0;
	if (w->created) {
		send_part_locked(s, w, rq);
	} else {
		rq->next = w->waiting_id;
		w->waiting_id = rq; /* reversed: fine, the id comes before any is sent */
		if (!w->creating) {
			struct s3req *c = req_new(s, "POST", w->key, "uploads");
			if (!c)
				return -ENOMEM;
			req_body(c, NULL, 0, 0);
			c->meta = w->meta[0] ? w->meta : NULL;
			c->user = w;
			c->done = create_done;
			w->creating = 1;
			submit_locked(s, c);
		}
	}
	return 0;
}

/*
 * Copies one write into the object's parts; 1 when it must wait for upload room. A
 * write into the room wbuf() gave is in place already: nothing to copy. Part sizes
 * are whole segments, so a part ends where a segment does.
 */
static int absorb_locked(struct s3 *s, struct ferry_io *io)
{
	struct s3w *w = (struct s3w *)io->wobj;
	const uint8_t *src = io->buf;
	size_t left = io->len;

	if (w->res) {
		io_finish_locked(s, io, w->res);
		return 0;
	}
	if (io->off != w->total) {
		w_fail(w, FERRY_BERR(FERRY_E_INVAL), "writing out of order to");
		io_finish_locked(s, io, w->res);
		return 0;
	}
	if (!w->cap && s->upload_bytes >= S3_UPLOAD_CAP)
		return 1;
	while (left) {
		if (!w->cap)
			w->cap = part_size(s, w->next_part);
		if (w->fill == w->segs.n * S3_SEG && segs_grow(s, &w->segs)) {
			w_fail(w, -ENOMEM, "buffering");
			break;
		}
		size_t at = w->fill % S3_SEG, n = S3_SEG - at;
		uint8_t *dst = w->segs.v[w->fill / S3_SEG] + at;
		if (n > w->cap - w->fill)
			n = w->cap - w->fill;
		if (n > left)
			n = left;
		if (dst != src)
			memcpy(dst, src, n);
		w->fill += n;
		w->total += n;
		src += n;
		left -= n;
		if (w->fill == w->cap) {
			if (w->next_part > s->c.max_parts) {
				w_fail(w, FERRY_BERR(FERRY_E_TOOBIG), "too many parts for");
				break;
			}
			int e = seal_part_locked(s, w);
			if (e) {
				w_fail(w, e, "uploading");
				break;
			}
		}
	}
	io_finish_locked(s, io, w->res ? w->res : (int)io->len);
	return 0;
}

/* Upload room was given back: queued writes go in, and wbuf() callers look again. */
static void admit_waiting(struct s3 *s)
{
	while (s->wait_head) {
		struct ferry_io *io = s->wait_head;
		struct ferry_io *next = io->next_queued;
		if (absorb_locked(s, io))
			break;
		s->wait_head = next;
		if (!next)
			s->wait_tail = NULL;
	}
	pthread_cond_broadcast(&s->cond);
}

static int s3_wopen(struct ferry_backend *b, const char *key, struct ferry_wobj **out)
{
	struct s3w *w = calloc(1, sizeof(*w));

	(void)b;
	if (!w)
		return -ENOMEM;
	if (strlen(key) >= sizeof(w->key)) {
		free(w);
		return -ENAMETOOLONG;
	}
	strcpy(w->key, key);
	w->s3 = b->priv;
	w->next_part = 1;
	*out = (struct ferry_wobj *)w;
	return 0;
}

static int s3_write(struct ferry_backend *b, struct ferry_wobj *wo, struct ferry_io *io)
{
	struct s3 *s = b->priv;

	io->wobj = wo;
	io->next_queued = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->wait_head || absorb_locked(s, io)) {
		if (s->wait_tail)
			s->wait_tail->next_queued = io;
		else
			s->wait_head = io;
		s->wait_tail = io;
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/*
 * Room for the next bytes of w in its part buffer: the caller reads into it and passes
 * the same pointer to write(), which then copies nothing. Called with no write of w
 * pending; waits, like a write, while the upload has no room for another part.
 */
static int s3_wbuf(struct ferry_backend *b, struct ferry_wobj *wo, void **buf, size_t *len)
{
	struct s3 *s = b->priv;
	struct s3w *w = (struct s3w *)wo;
	int res = 0;

	pthread_mutex_lock(&s->mu);
	while (!w->cap && !w->res && (s->upload_bytes >= S3_UPLOAD_CAP || s->wait_head))
		pthread_cond_wait(&s->cond, &s->mu);
	if (!(res = w->res) && !w->cap)
		w->cap = part_size(s, w->next_part);
	if (!res && w->fill == w->segs.n * S3_SEG && (res = segs_grow(s, &w->segs)))
		w_fail(w, res, "buffering");
	if (!res) {
		size_t at = w->fill % S3_SEG;
		*buf = w->segs.v[w->fill / S3_SEG] + at;
		*len = S3_SEG - at < w->cap - w->fill ? S3_SEG - at : w->cap - w->fill;
	}
	pthread_mutex_unlock(&s->mu);
	return res;
}

static void w_free(struct s3 *s, struct s3w *w)
{
	segs_put(s, &w->segs);
	if (w->from_file) {
		fq_remove(s, w);
		if (w->src_fd >= 0)
			close(w->src_fd);
		s->file_objs--;
		pthread_cond_broadcast(&s->cond); /* a wfile() may wait for it */
	}
	free(w->fsum);
	free(w->parts);
	free(w->have);
	free(w);
}

/* Takes a committed (or aborted) object off the list sync() waits on. */
static void pending_remove(struct s3 *s, struct s3w *w)
{
	for (struct s3w **pp = &s->pending; *pp; pp = &(*pp)->next_pending)
		if (*pp == w) {
			*pp = w->next_pending;
			return;
		}
}

static void w_settled(struct s3 *s, struct s3w *w)
{
	w->finished = 1;
	if (s->wev.finished && !w->end_by_delete)
		s->wev.finished(s->wev.arg, w->key, w->total, w->res ? w->res : w->aborted ? -ECANCELED : 0);
	if (w->durable) {
		pthread_cond_broadcast(&s->cond);
		return;
	}
	/* a background commit: take it off the pending list, keep its error for sync() */
	pending_remove(s, w);
	if (w->res && !s->deferred_res) {
		s->deferred_res = w->res;
		snprintf(s->deferred_msg, sizeof(s->deferred_msg), "%s", w->msg);
	}
	w_free(s, w);
	pthread_cond_broadcast(&s->cond);
}

static void final_done(struct s3req *rq)
{
	struct s3 *s = rq->s3;
	struct s3w *w = rq->user;

	pthread_mutex_lock(&s->mu);
	if (rq->res)
		w_fail(w, rq->res, "committing");
	else if (rq->body_len && !strcmp(rq->method, "POST") && rq->sink_len &&
		 memmem(rq->sink, rq->sink_len, "<Error>", 7)) {
		/* CompleteMultipartUpload can fail with 200 and an error body */
		struct s3_error se;
		if (s3_xml_error((const char *)rq->sink, rq->sink_len, &se) == 0) {
			s3_setmsg(FERRY_BERR(FERRY_E_IO), "CompleteMultipartUpload %s: %s %s", w->key, se.code, se.message);
			w_fail(w, FERRY_BERR(FERRY_E_IO), "committing");
		}
	}
	if (!strcmp(rq->method, "PUT")) {
		s->upload_bytes -= seg_charge(rq->segs.n);
		segs_put(s, &rq->segs);
	} else {
		free((void *)rq->body);
	}
	rq->body = NULL;
	req_free(rq);
	w_settled(s, w);
	admit_waiting(s);
	pthread_mutex_unlock(&s->mu);
}

/*
 * The DELETE of a failed or aborted upload is over. Only now, and only if it worked, is
 * the upload reported ended: when the server could not be reached the upload is still
 * there with its parts, the journal keeps it open, and the next run resumes it (or
 * aborts it under its lock).
 */
static void abort_done(struct s3req *rq)
{
	struct s3 *s = rq->s3;
	char *key = rq->user;

	pthread_mutex_lock(&s->mu);
	if (rq->res == 0 && key && s->wev.finished)
		s->wev.finished(s->wev.arg, key, 0, -ECANCELED);
	pthread_mutex_unlock(&s->mu);
	free(key);
	req_free(rq);
}

/* Moves a committing object on: all parts in → Complete (or the single PutObject). */
static void w_progress(struct s3 *s, struct s3w *w)
{
	if (!w->committing || w->finished || w->creating || w->parts_inflight || w->waiting_id)
		return;
	if (w->res || w->aborted) {
		if (w->created) {
			char q[700];
			snprintf(q, sizeof(q), "uploadId=%s", w->upload_id);
			struct s3req *a = req_new(s, "DELETE", w->key, q);
			if (a) {
				req_body(a, NULL, 0, 0);
				a->done = abort_done;
				a->user = strdup(w->key);
				w->end_by_delete = a->user != NULL;
				submit_locked(s, a);
			}
			w->created = 0;
		}
		if (w->aborted && !w->durable) {
			if (s->wev.finished && !w->end_by_delete)
				s->wev.finished(s->wev.arg, w->key, w->total, -ECANCELED);
			pending_remove(s, w);
			w_free(s, w);
			pthread_cond_broadcast(&s->cond);
			return;
		}
		w_settled(s, w);
		return;
	}
	if (w->from_file && (w->created || w->nfparts > 1)) {
		if (!w->created) { /* the metadata is complete now: start the upload */
			struct s3req *c = req_new(s, "POST", w->key, "uploads");
			if (!c) {
				w_fail(w, -ENOMEM, "starting the upload of");
				w_progress(s, w);
				return;
			}
			req_body(c, NULL, 0, 0);
			c->meta = w->meta[0] ? w->meta : NULL;
			c->user = w;
			c->done = create_done;
			w->creating = 1;
			submit_locked(s, c);
			return; /* create_done comes back here */
		}
		if (w->fnext < w->nfparts) {
			fq_push(s, w);
			pump_files_locked(s);
			return; /* the last part_done comes back here */
		}
	}
	if (w->committing == 2)
		return; /* the final request is out */
	w->committing = 2;
	struct s3req *rq;
	if (!w->created && w->from_file) {
		/* a file of one part: one PutObject, read from the file as it is sent */
		if (!(rq = req_new(s, "PUT", w->key, NULL))) {
			w_fail(w, -ENOMEM, "committing");
			w_settled(s, w);
			return;
		}
		rq->meta = w->meta[0] ? w->meta : NULL;
		req_from_file(rq, w, 0);
	} else if (!w->created) {
		/* never left its first part: one PutObject */
		rq = req_new(s, "PUT", w->key, NULL);
		if (!rq) {
			w_fail(w, -ENOMEM, "committing");
			w_settled(s, w);
			return;
		}
		s->upload_bytes += seg_charge(w->segs.n);
		rq->meta = w->meta[0] ? w->meta : NULL;
		size_t len = w->fill;
		w->fill = w->cap = 0;
		if (req_body_segs(rq, &w->segs, len, want_md5(s, w))) {
			s->upload_bytes -= seg_charge(rq->segs.n);
			segs_put(s, &rq->segs);
			req_free(rq);
			w_fail(w, -ENOMEM, "committing");
			w_settled(s, w);
			return;
		}
	} else {
		size_t len;
		char q[700];
		for (int i = 0; i < w->next_part - 1; i++)
			if (w->parts[i].number != i + 1 || !w->parts[i].etag[0]) {
				/* a part without its answer: never ask the server to assemble that */
				s3_setmsg(FERRY_BERR(FERRY_E_IO), "part %d of %s has no ETag (holds number %d)", i + 1, w->key,
					  w->parts[i].number);
				w_fail(w, FERRY_BERR(FERRY_E_IO), "committing");
				w->committing = 1;
				w_progress(s, w);
				return;
			}
		char *body = s3_xml_complete_body(w->parts, (size_t)(w->next_part - 1), &len);
		snprintf(q, sizeof(q), "uploadId=%s", w->upload_id);
		rq = body ? req_new(s, "POST", w->key, q) : NULL;
		if (!rq) {
			free(body);
			w_fail(w, -ENOMEM, "committing");
			w->committing = 1;
			w_progress(s, w);
			return;
		}
		req_body(rq, body, len, 0);
	}
	rq->user = w;
	rq->done = final_done;
	submit_locked(s, rq);
}

static int s3_commit(struct ferry_backend *b, struct ferry_wobj *wo, int durable)
{
	struct s3 *s = b->priv;
	struct s3w *w = (struct s3w *)wo;
	int res = 0;

	pthread_mutex_lock(&s->mu);
	w->durable = durable;
	/* the last part: what is buffered, if parts went before it (an empty last part is
	 * not allowed; a multipart object always has data in its last part here, since a
	 * part is sealed only when more may follow... unless the data ended exactly on a
	 * part boundary, when the parts sent are all there is). Sealed before the object is
	 * marked committing: sealing lets go of the lock while it hashes, and a part ending
	 * meanwhile must not find "no part in flight" and complete the upload without it. */
	if (w->created || w->creating || w->waiting_id) {
		if (w->fill) {
			int e = seal_part_locked(s, w);
			if (e)
				w_fail(w, e, "uploading");
		}
	}
	w->committing = 1;
	if (!durable) {
		w->next_pending = s->pending;
		s->pending = w;
	}
	w_progress(s, w);
	if (durable) {
		while (!w->finished)
			pthread_cond_wait(&s->cond, &s->mu);
		res = w->res;
		if (res)
			s3_setmsg(res, "%s", w->msg);
		w_free(s, w);
	}
	pthread_mutex_unlock(&s->mu);
	return res;
}

static int s3_sync(struct ferry_backend *b)
{
	struct s3 *s = b->priv;
	int res;

	pthread_mutex_lock(&s->mu);
	while (s->pending)
		pthread_cond_wait(&s->cond, &s->mu);
	res = s->deferred_res;
	if (res)
		s3_setmsg(res, "%s", s->deferred_msg);
	s->deferred_res = 0;
	pthread_mutex_unlock(&s->mu);
	return res;
}

static void s3_abort(struct ferry_backend *b, struct ferry_wobj *wo)
{
	struct s3 *s = b->priv;
	struct s3w *w = (struct s3w *)wo;

	pthread_mutex_lock(&s->mu);
	w->aborted = 1;
	w->committing = 1;
	w->durable = 0;
	w->next_pending = s->pending;
	s->pending = w;
	w_progress(s, w);
	pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- resume */

static void s3_set_events(struct ferry_backend *b, const struct ferry_wevents *ev)
{
	struct s3 *s = b->priv;

	pthread_mutex_lock(&s->mu);
	if (ev)
		s->wev = *ev;
	else
		memset(&s->wev, 0, sizeof(s->wev));
	pthread_mutex_unlock(&s->mu);
}

/* ListParts of an upload, page by page, into w->have. */
static int list_parts(struct s3 *s, struct s3w *w, const char *enc_id)
{
	int marker = 0, r = 0;
	size_t cap = 0;

	for (int pages = 0; pages < 20; pages++) {
		char q[700];
		struct s3_parts ps;
		struct s3req *rq;

		snprintf(q, sizeof(q), "part-number-marker=%d&uploadId=%s", marker, enc_id);
		if (!(rq = req_new(s, "GET", w->key, q)))
			return -ENOMEM;
		r = req_wait(s, rq);
		if (!r && s3_xml_parts((const char *)rq->sink, rq->sink_len, &ps)) {
			r = FERRY_BERR(FERRY_E_FORMAT);
			s3_setmsg(r, "ListParts %s: reply is not a part list", w->key);
		}
		req_free(rq);
		if (r)
			return r;
		for (size_t i = 0; i < ps.n && !r; i++) {
			if (w->nhave == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct s3_part *nh = realloc(w->have, nc * sizeof(*nh));
				if (!nh) {
					r = -ENOMEM;
					break;
				}
				w->have = nh;
				cap = nc;
			}
			w->have[w->nhave++] = ps.parts[i];
		}
		int more = ps.truncated && ps.next_marker > marker;
		marker = ps.next_marker;
		s3_parts_free(&ps);
		if (r || !more)
			return r;
	}
	return 0; /* 20 pages of 1,000: S3's 10,000 parts and then some */
}

static int s3_wresume(struct ferry_backend *b, const char *key, const char *upload_id, struct ferry_wobj **out)
{
	struct s3 *s = b->priv;
	struct s3w *w;
	char *enc;
	int r = s3_wopen(b, key, (struct ferry_wobj **)&w);

	if (r)
		return r;
	enc = s3_uri_encode(upload_id, strlen(upload_id), 0);
	if (!enc || strlen(enc) >= sizeof(w->upload_id)) {
		free(enc);
		w_free(s, w);
		return enc ? -ENAMETOOLONG : -ENOMEM;
	}
	strcpy(w->upload_id, enc);
	free(enc);
	r = list_parts(s, w, w->upload_id);
	if (r) {
		w_free(s, w);
		/* NoSuchUpload: aborted, completed, or expired by a lifecycle rule */
		return r == FERRY_BERR(FERRY_E_NOTFOUND) ? -ENOENT : r;
	}
	w->created = 1;
	if (s->debug)
		fprintf(stderr, "ferry: s3: resuming the upload of %s: %zu parts on the server\n", key, w->nhave);
	*out = (struct ferry_wobj *)w;
	return 0;
}

/* ListMultipartUploads under the store prefix + prefix, page by page. */
static int s3_uploads(struct ferry_backend *b, const char *prefix, ferry_upload_fn fn, void *arg)
{
	struct s3 *s = b->priv;
	char *full = NULL, *enc = NULL, *kmark = NULL, *imark = NULL;
	size_t plen = strlen(s->c.prefix);
	int r = 0;

	if (asprintf(&full, "%s%s", s->c.prefix, prefix) < 0)
		return -ENOMEM;
	enc = s3_uri_encode(full, strlen(full), 0);
	free(full);
	if (!enc)
		return -ENOMEM;
	for (int pages = 0; pages < 100000; pages++) {
		struct s3_uploads u;
		char *q = NULL, *ke = kmark ? s3_uri_encode(kmark, strlen(kmark), 0) : NULL,
		     *ie = imark ? s3_uri_encode(imark, strlen(imark), 0) : NULL;
		int n = asprintf(&q, "%s%s%s%s%s%sprefix=%s&uploads=", ke ? "key-marker=" : "", ke ? ke : "", ke ? "&" : "",
				 ie ? "upload-id-marker=" : "", ie ? ie : "", ie ? "&" : "", enc);
		free(ke);
		free(ie);
		struct s3req *rq = n < 0 ? NULL : req_new(s, "GET", NULL, q);
		free(q);
		if (!rq) {
			r = -ENOMEM;
			break;
		}
		r = req_wait(s, rq);
		if (!r && s3_xml_uploads((const char *)rq->sink, rq->sink_len, &u)) {
			r = FERRY_BERR(FERRY_E_FORMAT);
			s3_setmsg(r, "ListMultipartUploads on %s: reply is not an upload list", s->c.bucket);
		}
		req_free(rq);
		if (r)
			break;
		for (size_t i = 0; i < u.n && !r; i++)
			if (!strncmp(u.uploads[i].key, s->c.prefix, plen))
				r = fn(arg, u.uploads[i].key + plen, u.uploads[i].upload_id);
		free(kmark);
		free(imark);
		kmark = imark = NULL;
		int more = u.truncated && u.next_key;
		if (more) {
			kmark = strdup(u.next_key);
			imark = u.next_id ? strdup(u.next_id) : NULL;
		}
		s3_uploads_free(&u);
		if (r || !more)
			break;
		if (!kmark) {
			r = -ENOMEM;
			break;
		}
	}
	free(kmark);
	free(imark);
	free(enc);
	return r;
}

static int s3_uabort(struct ferry_backend *b, const char *key, const char *upload_id)
{
	struct s3 *s = b->priv;
	char *enc = s3_uri_encode(upload_id, strlen(upload_id), 0), *q = NULL;
	struct s3req *rq;
	int r;

	if (!enc || asprintf(&q, "uploadId=%s", enc) < 0) {
		free(enc);
		return -ENOMEM;
	}
	free(enc);
	rq = req_new(s, "DELETE", key, q);
	free(q);
	if (!rq)
		return -ENOMEM;
	r = req_wait(s, rq);
	req_free(rq);
	return r == -ENOENT || r == FERRY_BERR(FERRY_E_NOTFOUND) ? 0 : r;
}

/* ---------------------------------------------------------------- open / close */

static void s3_close(struct ferry_backend *b)
{
	struct s3 *s = b->priv;

	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		while (s->pending)
			pthread_cond_wait(&s->cond, &s->mu);
		s->stop = 1;
		curl_multi_wakeup(s->multi);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	if (s->efd >= 0 && s->ev.fn && s->loop)
		ferry_loop_unwatch(s->loop, &s->ev);
	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->share && curl_share_cleanup(s->share) != CURLSHE_OK && s->debug)
		fprintf(stderr, "ferry: s3: the connection share is still in use at close\n");
	for (unsigned i = 0; i < s->nfree; i++)
		free(s->freesegs[i]);
	for (unsigned i = 0; i < s->nfreeheads; i++)
		free(s->freeheads[i]);
	if (s->debug || (s->verbose && s->retries))
		fprintf(stderr, "ferry: s3: %llu requests, %llu retries\n", (unsigned long long)s->requests,
			(unsigned long long)s->retries);
	OPENSSL_cleanse(&s->keycache, sizeof(s->keycache));
	s3_conf_free(&s->c);
	pthread_mutex_destroy(&s->mu);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_mu[i]);
	pthread_cond_destroy(&s->cond);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct s3 *s = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&s->share_mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct s3 *s = arg;

	(void)h;
	pthread_mutex_unlock(&s->share_mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int s3_open(struct ferry_backend *b, const char *location, const struct ferry_kv *opts,
			struct ferry_loop *loop)
{
	struct s3 *s = b->priv;
	const char *v;
	char msg[512];
	int r;

	s->b = b;
	s->loop = loop;
	s->efd = -1;
	s->debug = getenv("FERRY_S3_DEBUG") != NULL;
	s->verbose = getenv("FERRY_VERBOSE") != NULL; /* --verbose: each retry and its budget */
	if (getenv("FERRY_S3_BIND")) /* "host!ADDR": an address only, never a name lookup */
		snprintf(s->bind, sizeof(s->bind), "host!%s", getenv("FERRY_S3_BIND"));
	pthread_mutex_init(&s->mu, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_mu[i], NULL);
	pthread_cond_init(&s->cond, NULL);
	r = s3_conf_load(&s->c, location, msg, sizeof(msg));
	if (!r && (v = ferry_kv_get(opts, "attempts"))) { /* an option wins over FERRY_S3_ATTEMPTS */
		char *end;
		long n = strtol(v, &end, 10);
		if (end == v || *end || n < 1 || n > 30) {
			snprintf(msg, sizeof(msg), "option attempts=%s: want 1-30", v);
			r = -EINVAL;
		} else {
			s->c.attempts = (int)n;
		}
	}
	if (r) {
		int res = r == -EACCES ? FERRY_BERR(FERRY_E_DENIED) : FERRY_BERR(FERRY_E_CONFIG);
		s3_setmsg(res, "%s", msg);
		s3_conf_free(&s->c);
		return res;
	}
	pthread_once(&curl_once, curl_init_once);
	s->multi = curl_multi_init();
	s->share = curl_share_init();
	if (!s->multi || !s->share) {
		s3_close(b);
		return -ENOMEM;
	}
	curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)s->c.connections);
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s->c.connections);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)s->c.connections);
	if (loop) {
		s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->efd < 0) {
			r = -errno;
			s3_close(b);
			return r;
		}
		s->ev.fn = on_loop_event;
		ferry_loop_watch(loop, s->efd, &s->ev);
	}
	if (pthread_create(&s->thread, NULL, net_main, s)) {
		s3_close(b);
		return -EAGAIN;
	}
	s->thread_started = 1;
	return 0;
}

/* ---------------------------------------------------------------- DeleteObjects */

#define S3_DELETE_BATCH 1000 /* S3's limit per DeleteObjects request */

/* One DeleteObjects request for keys[0..n): 0, or the failure; *bad gets a failed key's index.
 * A server without DeleteObjects (501, 405) gets one DELETE per key instead. */
static int delete_batch(struct ferry_backend *b, const char *const *keys, size_t n, size_t *bad)
{
	struct s3 *s = b->priv;
	char **full = calloc(n, sizeof(*full));
	char *body = NULL, first_key[S3_KEY_MAX + 1], first_code[64];
	size_t len = 0, plen = strlen(s->c.prefix);
	struct s3req *rq = NULL;
	int r = -ENOMEM, errors;

	*bad = 0;
	if (!full)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (asprintf(&full[i], "%s%s", s->c.prefix, keys[i]) < 0) {
			full[i] = NULL;
			goto out;
		}
	if (!(body = s3_xml_delete_body((const char *const *)full, n, &len)) || !(rq = req_new(s, "POST", NULL, "delete")))
		goto out;
	req_body(rq, body, len, 1); /* DeleteObjects requires Content-MD5 */
	r = req_wait(s, rq);
	if (r == FERRY_BERR(FERRY_E_DENIED))
		goto out;
	if (r)
		goto one_by_one;
	errors = rq->sink_len == 0 ? 0 : /* a quiet reply with nothing to say may be empty */
		 s3_xml_delete_errors((const char *)rq->sink, rq->sink_len, first_key, sizeof(first_key), first_code,
				      sizeof(first_code));
	if (errors < 0) {
		r = FERRY_BERR(FERRY_E_FORMAT);
		s3_setmsg(r, "DeleteObjects on %s: reply is not a DeleteResult", s->c.bucket);
	} else if (errors > 0 && !strcmp(first_code, "AccessDenied")) {
		const char *rel = strncmp(first_key, s->c.prefix, plen) == 0 ? first_key + plen : first_key;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(keys[i], rel))
				*bad = i;
		r = FERRY_BERR(FERRY_E_DENIED);
		s3_setmsg(r, "DeleteObjects on %s: %s: %s%s", s->c.bucket, rel, first_code,
			  errors > 1 ? " (and more keys failed)" : "");
	} else if (errors > 0) {
		goto one_by_one;
	}
	goto out;
one_by_one:
	/* no DeleteObjects here (501, 405), or the batch or some of its keys failed (a busy
	 * server's InternalError, SlowDown): each key again with DELETE, which has its own
	 * retries; keys already gone are success */
	for (size_t i = 0; i < n; i++)
		if ((r = s3_del(b, keys[i]))) {
			*bad = i;
			break;
		}
out:
	req_free(rq);
	free(body);
	for (size_t i = 0; i < n; i++)
		free(full[i]);
	free(full);
	return r;
}

static int s3_delete_many(struct ferry_backend *b, const char *const *keys, size_t n, size_t *failed)
{
	for (size_t at = 0; at < n; at += S3_DELETE_BATCH) {
		size_t k = n - at < S3_DELETE_BATCH ? n - at : S3_DELETE_BATCH, bad = 0;
		int r = delete_batch(b, keys + at, k, &bad);
		if (r) {
			if (failed)
				*failed = at + bad;
			return r;
		}
	}
	return 0;
}

static const struct ferry_backend_option s3_options[] = {
	{ "attempts", "tries per request, retries included, 1-30 (default 8; FERRY_S3_ATTEMPTS)" },
	{ NULL, NULL },
};

const struct ferry_backend_ops ferry_s3_backend = {
	.name = "s3",
	.abi = FERRY_BACKEND_ABI,
	.caps = FERRY_CAP_RANGED_READ | FERRY_CAP_OBJECT_STORE | FERRY_CAP_RESUMABLE | FERRY_CAP_REMOTE,
	.priv_size = sizeof(struct s3),
	.options = s3_options,
	.open = s3_open,
	.close = s3_close,
	.get = s3_get,
	.put = s3_put,
	.stat = s3_stat,
	.list = s3_list,
	.del = s3_del,
	.init_location = s3_init_location,
	.wopen = s3_wopen,
	.write = s3_write,
	.commit = s3_commit,
	.sync = s3_sync,
	.abort = s3_abort,
	.ropen = s3_ropen,
	.read = s3_read,
	.rclose = s3_rclose,
	.ropen_known = s3_ropen_known,
	.wmeta = s3_wmeta,
	.rmeta = s3_rmeta,
	.wbuf = s3_wbuf,
	.wfile = s3_wfile,
	.delete_many = s3_delete_many,
	.set_events = s3_set_events,
	.wresume = s3_wresume,
	.uploads = s3_uploads,
	.uabort = s3_uabort,
};
