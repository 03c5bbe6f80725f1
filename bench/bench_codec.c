/* bench_codec: MB/s of each codec stage through ferry's API against the raw libraries on the same buffers. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h> /* not inlined: "raw" means the shared libxxhash */
#if defined(__x86_64__) || defined(__i386__)
/* libxxhash also exports runtime-dispatched (AVX2/AVX-512) variants; xxhsum uses those */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define HAVE_XXH_DISPATCH 1
#endif
#include <zstd.h>

#include "ferry/codec.h"

#define CHUNK FERRY_CHUNK_DEFAULT
#define NCHUNKS 4
#define REPS 3
#define AAD_LEN (2 * FERRY_ID_LEN + 8 + FERRY_FRAME_HDR_LEN) /* what frame.c authenticates */
#define SEED 0x66657272792d3031ull /* "ferry-01" */

struct corpus {
	const char *name;
	uint8_t *data; /* NCHUNKS * CHUNK bytes */
};

/* Everything one stage needs, set up once per stage outside the timed loops. */
struct bench {
	const struct corpus *in;
	int level;
	struct ferry_codec *codec;
	struct ferry_object_hdr obj;
	uint64_t seed; /* the codec's xxh3 seed, so raw hashes the same way */
	uint8_t *dst; /* scratch output, one frame bound */
	uint8_t *plain; /* decoded plaintext */
	uint8_t *frames[NCHUNKS]; /* ferry frames of the corpus, for decode */
	size_t frame_len[NCHUNKS];
	uint8_t *raw[NCHUNKS]; /* raw library output of the corpus (zstd frames, or ciphertext) */
	size_t raw_len[NCHUNKS];
	uint8_t raw_tag[NCHUNKS][FERRY_TAG_LEN];
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	EVP_CIPHER_CTX *enc, *dec;
	uint8_t key[FERRY_KEY_LEN];
	uint8_t aad[AAD_LEN];
	struct ferry_filehash *fh;
	XXH3_state_t *xst;
	volatile uint64_t sink; /* keeps hash results alive */
};

typedef void (*op_fn)(struct bench *b, size_t i);

static double min_time = 0.5;
static const char *only; /* run only the lines whose name contains this */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_codec: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("out of memory (%zu bytes)", n);
	memset(p, 0, n); /* fault the pages in before anything is timed */
	return p;
}

static void check(int err, const char *what)
{
	if (err)
		die("%s: %s", what, ferry_strerror(err));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- corpora ---- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *const words[] = {
    "alpha",  "bravo",   "cache",  "delta",  "error",  "fetch",  "growth", "header", "index",   "join",
    "kernel", "latency", "merge",  "node",   "object", "packet", "query",  "retry",  "shard",   "token",
    "upload", "vector",  "write",  "yield",  "zone",   "backup", "commit", "disk",   "ferry",   "store",
    "chunk",  "frame",   "stream", "socket", "thread", "buffer", "client", "server", "timeout", "user",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* JSON-lines log records built from a small vocabulary: compresses like real logs do. */
static void make_text(uint8_t *out, size_t len)
{
	static const char *const levels[] = {"debug", "info", "info", "info", "warn", "error"};
	static const unsigned status[] = {200, 200, 200, 201, 204, 304, 404, 500};
	uint64_t s = SEED, ts = 1700000000000ull;
	size_t pos = 0;
	char line[512];

	for (unsigned seq = 0; pos < len; seq++) {
		uint64_t r = splitmix64(&s), q = splitmix64(&s);
		int n;

		ts += r % 2000;
		n = snprintf(line, sizeof(line),
			     "{\"ts\":%llu,\"seq\":%u,\"level\":\"%s\",\"host\":\"node-%02u\",\"user\":\"%s_%u\","
			     "\"path\":\"/api/v1/%s/%s/%u\",\"status\":%u,\"ms\":%u,\"msg\":\"%s %s %s %s\"}\n",
			     (unsigned long long)ts, seq, levels[(r >> 8) % 6], (unsigned)((r >> 16) % 24),
			     words[(r >> 24) % NWORDS], (unsigned)((r >> 32) % 500), words[(r >> 40) % NWORDS],
			     words[(r >> 48) % NWORDS], (unsigned)(q % 100000), status[(q >> 20) % 8],
			     (unsigned)((q >> 24) % 1500), words[(q >> 36) % NWORDS], words[(q >> 42) % NWORDS],
			     words[(q >> 48) % NWORDS], words[(q >> 54) % NWORDS]);
		if (n < 0 || (size_t)n >= sizeof(line))
			die("corpus line too long");
		size_t take = (size_t)n < len - pos ? (size_t)n : len - pos;
		memcpy(out + pos, line, take);
		pos += take;
	}
}

static void make_random(uint8_t *out, size_t len)
{
	uint64_t s = SEED ^ 0xa5a5a5a5a5a5a5a5ull;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix64(&s);
		memcpy(out + i, &v, len - i < 8 ? len - i : 8);
	}
}

static const uint8_t *chunk(const struct bench *b, size_t i)
{
	return b->in->data + i * CHUNK;
}

/* ---- the operations timed: each processes chunk i ---- */

static void ferry_encode_op(struct bench *b, size_t i)
{
	size_t n;

	check(ferry_frame_encode(b->codec, &b->obj, (uint32_t)i, i == NCHUNKS - 1, chunk(b, i), CHUNK, b->dst,
				 ferry_frame_bound(CHUNK), &n, NULL),
	      "ferry_frame_encode");
}

static void ferry_decode_op(struct bench *b, size_t i)
{
	size_t n;

	check(ferry_frame_decode(b->codec, &b->obj, (uint32_t)i, i == NCHUNKS - 1, b->frames[i], b->frame_len[i],
				 b->plain, CHUNK, &n),
	      "ferry_frame_decode");
}

static void raw_xxh3_op(struct bench *b, size_t i)
{
	b->sink = XXH3_64bits_withSeed(chunk(b, i), CHUNK, b->seed);
}

/* what a level-0 plain frame does: hash, copy into the frame */
static void raw_xxh3_copy_op(struct bench *b, size_t i)
{
	b->sink = XXH3_64bits_withSeed(chunk(b, i), CHUNK, b->seed);
	memcpy(b->dst + FERRY_FRAME_HDR_LEN, chunk(b, i), CHUNK);
}

#ifdef HAVE_XXH_DISPATCH
/*
 * libxxhash 0.8.1's _dispatch functions return with the upper AVX state dirty: every
 * SSE2 instruction after them (ferry's inlined xxh3, libxxhash's plain XXH3) then runs
 * about 4x slower on this machine. Clear it after each call so the lines do not bleed.
 */
static void clean_upper(void)
{
	static int avx = -1;

	if (avx < 0)
		avx = __builtin_cpu_supports("avx");
	if (avx)
		__asm__ volatile("vzeroupper");
}

static void dispatch_xxh3_op(struct bench *b, size_t i)
{
	b->sink = XXH3_64bits_withSeed_dispatch(chunk(b, i), CHUNK, b->seed);
	clean_upper();
}

static void dispatch_xxh3_copy_op(struct bench *b, size_t i)
{
	b->sink = XXH3_64bits_withSeed_dispatch(chunk(b, i), CHUNK, b->seed);
	clean_upper();
	memcpy(b->dst + FERRY_FRAME_HDR_LEN, chunk(b, i), CHUNK);
}

static void dispatch_xxh128_op(struct bench *b, size_t i)
{
	b->sink = XXH3_128bits_dispatch(chunk(b, i), CHUNK).low64;
	clean_upper();
}
#endif

static void ferry_hash128_op(struct bench *b, size_t i)
{
	b->sink = ferry_hash128(chunk(b, i), CHUNK).lo;
}

static void raw_xxh128_op(struct bench *b, size_t i)
{
	b->sink = XXH3_128bits(chunk(b, i), CHUNK).low64;
}

static void ferry_filehash_op(struct bench *b, size_t i)
{
	ferry_filehash_update(b->fh, chunk(b, i), CHUNK);
}

static void raw_xxh128_update_op(struct bench *b, size_t i)
{
	if (XXH3_128bits_update(b->xst, chunk(b, i), CHUNK) != XXH_OK)
		die("XXH3_128bits_update failed");
}

static size_t raw_zstd_compress(struct bench *b, size_t i, uint8_t *out, size_t cap)
{
	size_t n = ZSTD_compressCCtx(b->cctx, out, cap, chunk(b, i), CHUNK, b->level);

	if (ZSTD_isError(n))
		die("ZSTD_compressCCtx: %s", ZSTD_getErrorName(n));
	return n;
}

static void raw_zstd_op(struct bench *b, size_t i)
{
	raw_zstd_compress(b, i, b->dst, ZSTD_compressBound(CHUNK));
}

/* the same work as a plain frame at level > 0: hash, compress, keep the input when it does not shrink */
static void raw_zstd_xxh3_op(struct bench *b, size_t i)
{
	b->sink = XXH3_64bits_withSeed(chunk(b, i), CHUNK, b->seed);
	if (raw_zstd_compress(b, i, b->dst + FERRY_FRAME_HDR_LEN, ZSTD_compressBound(CHUNK)) >= CHUNK)
		memcpy(b->dst + FERRY_FRAME_HDR_LEN, chunk(b, i), CHUNK);
}

static void raw_unzstd_op(struct bench *b, size_t i)
{
	size_t n = ZSTD_decompressDCtx(b->dctx, b->plain, CHUNK, b->raw[i], b->raw_len[i]);

	if (ZSTD_isError(n) || n != CHUNK)
		die("ZSTD_decompressDCtx: %s", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
}

static void raw_unzstd_xxh3_op(struct bench *b, size_t i)
{
	raw_unzstd_op(b, i);
	b->sink = XXH3_64bits_withSeed(b->plain, CHUNK, b->seed);
}

static void gcm_nonce(uint8_t nonce[12], size_t i)
{
	memset(nonce, 0x5a, 12);
	nonce[7] = (uint8_t)(i >> 24);
	nonce[8] = (uint8_t)(i >> 16);
	nonce[9] = (uint8_t)(i >> 8);
	nonce[10] = (uint8_t)i;
	nonce[11] = i == NCHUNKS - 1;
}

static void raw_gcm_seal(struct bench *b, size_t i, uint8_t *out, uint8_t tag[FERRY_TAG_LEN])
{
	uint8_t nonce[12];
	int outl;

	gcm_nonce(nonce, i);
	if (EVP_EncryptInit_ex2(b->enc, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(b->enc, NULL, &outl, b->aad, AAD_LEN) != 1 ||
	    EVP_EncryptUpdate(b->enc, out, &outl, chunk(b, i), CHUNK) != 1 ||
	    EVP_EncryptFinal_ex(b->enc, out + CHUNK, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(b->enc, EVP_CTRL_AEAD_GET_TAG, FERRY_TAG_LEN, tag) != 1)
		die("EVP aes-256-gcm encrypt failed");
}

static void raw_gcm_op(struct bench *b, size_t i)
{
	uint8_t tag[FERRY_TAG_LEN];

	raw_gcm_seal(b, i, b->dst + FERRY_FRAME_HDR_LEN, tag);
}

static void raw_gcm_xxh3_op(struct bench *b, size_t i)
{
	b->sink = XXH3_64bits_withSeed(chunk(b, i), CHUNK, b->seed);
	raw_gcm_op(b, i);
}

static void raw_ungcm_op(struct bench *b, size_t i)
{
	uint8_t nonce[12];
	int outl;

	gcm_nonce(nonce, i);
	if (EVP_DecryptInit_ex2(b->dec, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_DecryptUpdate(b->dec, NULL, &outl, b->aad, AAD_LEN) != 1 ||
	    EVP_DecryptUpdate(b->dec, b->plain, &outl, b->raw[i], CHUNK) != 1 ||
	    EVP_CIPHER_CTX_ctrl(b->dec, EVP_CTRL_AEAD_SET_TAG, FERRY_TAG_LEN, b->raw_tag[i]) != 1 ||
	    EVP_DecryptFinal_ex(b->dec, b->plain + CHUNK, &outl) != 1)
		die("EVP aes-256-gcm decrypt failed");
}

static void raw_ungcm_xxh3_op(struct bench *b, size_t i)
{
	raw_ungcm_op(b, i);
	b->sink = XXH3_64bits_withSeed(b->plain, CHUNK, b->seed);
}

/* ---- timing ---- */

/* MB/s (10^6 bytes of plaintext per second) over one run of at least min_time seconds. */
static double rate(op_fn fn, struct bench *b)
{
	uint64_t bytes = 0;
	double t0 = now(), t;
	size_t i = 0;

	do {
		fn(b, i);
		i = (i + 1) % NCHUNKS;
		bytes += CHUNK;
		t = now();
	} while (t - t0 < min_time);
	return (double)bytes / (t - t0) / 1e6;
}

/*
 * One table line. ferry: our API. raw: the raw libraries doing the same work (stage
 * plus the xxh3 and copies the frame needs). stage: the raw library stage alone, or
 * NULL when it is the same as raw. Runs are interleaved so clock drift hits all three.
 */
static void line(const char *name, struct bench *b, op_fn ferry, op_fn raw, op_fn stage)
{
	double f = 0, r = 0, s = 0;

	if (only && !strstr(name, only))
		return;
	for (int rep = 0; rep < REPS; rep++) {
		double v;

		if ((v = rate(ferry, b)) > f)
			f = v;
		if ((v = rate(raw, b)) > r)
			r = v;
		if (stage && (v = rate(stage, b)) > s)
			s = v;
	}
	if (stage)
		printf("%-26s %10.0f %10.0f %9.3f %10.0f %9.3f\n", name, f, r, f / r, s, f / s);
	else
		printf("%-26s %10.0f %10.0f %9.3f %10s %9s\n", name, f, r, f / r, "-", "-");
	fflush(stdout);
}

/* ---- stage set-up, with a correctness check before anything is timed ---- */

static void bench_init(struct bench *b, const struct corpus *in, int level, const struct ferry_keys *keys)
{
	memset(b, 0, sizeof(*b));
	b->in = in;
	b->level = level;
	b->seed = keys ? keys->hash_seed : 0;
	check(ferry_codec_create(&b->codec, keys, level, CHUNK), "ferry_codec_create");
	check(ferry_object_new(&b->obj, keys && keys->encrypted), "ferry_object_new");
	b->dst = xmalloc(ZSTD_compressBound(CHUNK) + FERRY_FRAME_HDR_LEN + FERRY_TAG_LEN);
	b->plain = xmalloc(CHUNK + 64);
	b->cctx = ZSTD_createCCtx();
	b->dctx = ZSTD_createDCtx();
	b->fh = ferry_filehash_create();
	b->xst = XXH3_createState();
	if (!b->cctx || !b->dctx || !b->fh || !b->xst)
		die("out of memory");
	XXH3_128bits_reset(b->xst);
	for (size_t i = 0; i < NCHUNKS; i++) {
		b->frames[i] = xmalloc(ferry_frame_bound(CHUNK));
		check(ferry_frame_encode(b->codec, &b->obj, (uint32_t)i, i == NCHUNKS - 1, chunk(b, i), CHUNK,
					 b->frames[i], ferry_frame_bound(CHUNK), &b->frame_len[i], NULL),
		      "ferry_frame_encode");
		ferry_decode_op(b, i);
		if (memcmp(b->plain, chunk(b, i), CHUNK) != 0)
			die("ferry round trip of chunk %zu differs", i);
		struct ferry_frame_info fi;
		check(ferry_frame_peek(b->frames[i], b->frame_len[i], &fi), "ferry_frame_peek");
		if (fi.hash != XXH3_64bits_withSeed(chunk(b, i), CHUNK, b->seed))
			die("frame hash is not XXH3_64bits_withSeed");
	}
}

static void bench_init_zstd(struct bench *b)
{
	for (size_t i = 0; i < NCHUNKS; i++) {
		b->raw[i] = xmalloc(ZSTD_compressBound(CHUNK));
		b->raw_len[i] = raw_zstd_compress(b, i, b->raw[i], ZSTD_compressBound(CHUNK));
		raw_unzstd_op(b, i);
		if (memcmp(b->plain, chunk(b, i), CHUNK) != 0)
			die("zstd round trip of chunk %zu differs", i);
	}
}

static void bench_init_gcm(struct bench *b, const uint8_t key[FERRY_KEY_LEN])
{
	memcpy(b->key, key, FERRY_KEY_LEN);
	memset(b->aad, 0x33, AAD_LEN);
	b->enc = EVP_CIPHER_CTX_new();
	b->dec = EVP_CIPHER_CTX_new();
	/* keyed once, as ferry's codec does; each chunk only sets its IV */
	if (!b->enc || !b->dec || EVP_EncryptInit_ex2(b->enc, EVP_aes_256_gcm(), b->key, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(b->dec, EVP_aes_256_gcm(), b->key, NULL, NULL) != 1)
		die("EVP aes-256-gcm init failed");
	for (size_t i = 0; i < NCHUNKS; i++) {
		b->raw[i] = xmalloc(CHUNK + FERRY_TAG_LEN);
		b->raw_len[i] = CHUNK;
		raw_gcm_seal(b, i, b->raw[i], b->raw_tag[i]);
		raw_ungcm_op(b, i);
		if (memcmp(b->plain, chunk(b, i), CHUNK) != 0)
			die("gcm round trip of chunk %zu differs", i);
	}
}

static void bench_free(struct bench *b)
{
	ferry_codec_destroy(b->codec);
	ZSTD_freeCCtx(b->cctx);
	ZSTD_freeDCtx(b->dctx);
	EVP_CIPHER_CTX_free(b->enc);
	EVP_CIPHER_CTX_free(b->dec);
	ferry_filehash_destroy(b->fh);
	XXH3_freeState(b->xst);
	free(b->dst);
	free(b->plain);
	for (size_t i = 0; i < NCHUNKS; i++) {
		free(b->frames[i]);
		free(b->raw[i]);
	}
}

static double stored_fraction(const struct bench *b)
{
	size_t total = 0;

	for (size_t i = 0; i < NCHUNKS; i++)
		total += b->frame_len[i];
	return (double)total / ((double)NCHUNKS * CHUNK);
}

static void write_corpus(const char *path, const struct corpus *c)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		die("%s: %s", path, strerror(errno));
	if (fwrite(c->data, 1, (size_t)NCHUNKS * CHUNK, f) != (size_t)NCHUNKS * CHUNK || fclose(f) != 0)
		die("%s: write failed", path);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_codec [--min-time SECONDS] [--only TEXT] [--write-corpus PATH]\n"
			"  --min-time SECONDS   length of each timed run (default 0.5)\n"
			"  --only TEXT          run only the lines whose stage name contains TEXT\n"
			"  --write-corpus PATH  write the text corpus to PATH and exit\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct corpus text = {"text", NULL}, rnd = {"random", NULL};
	const char *corpus_out = NULL;
	struct bench b;
	char name[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
			min_time = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--write-corpus") && i + 1 < argc)
			corpus_out = argv[++i];
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else
			usage();
	}
	if (!(min_time > 0))
		usage();

	text.data = xmalloc((size_t)NCHUNKS * CHUNK);
	make_text(text.data, (size_t)NCHUNKS * CHUNK);
	if (corpus_out) {
		write_corpus(corpus_out, &text);
		return 0;
	}
	rnd.data = xmalloc((size_t)NCHUNKS * CHUNK);
	make_random(rnd.data, (size_t)NCHUNKS * CHUNK);

	struct ferry_keys keys = {.encrypted = 1};
	check(ferry_random(keys.store_id, sizeof(keys.store_id)), "ferry_random");
	check(ferry_random(keys.data_key, sizeof(keys.data_key)), "ferry_random");
	check(ferry_random(&keys.hash_seed, sizeof(keys.hash_seed)), "ferry_random");

	printf("bench_codec: ferry %s, zstd %s, %s, xxhash %u\n", FERRY_VERSION_STRING, ZSTD_versionString(),
	       OpenSSL_version(OPENSSL_VERSION), XXH_versionNumber());
	printf("chunks of %u bytes, %d per corpus; each cell the best of %d runs of >= %.2f s; "
	       "MB/s = 10^6 plaintext bytes/s\n",
	       CHUNK, NCHUNKS, REPS, min_time);
	printf("ferry = our API; raw = the libraries called directly doing the same work; "
	       "stage = the raw library stage alone\n\n");
	printf("%-26s %10s %10s %9s %10s %9s\n", "stage", "ferry MB/s", "raw MB/s", "ferry/raw", "stage MB/s",
	       "ferry/stg");

	/* xxh3: a plain level-0 frame is xxh3-64 plus a copy into the frame */
	bench_init(&b, &text, 0, NULL);
	line("xxh3-64 (frame, level 0)", &b, ferry_encode_op, raw_xxh3_copy_op, raw_xxh3_op);
	line("xxh128 one-shot", &b, ferry_hash128_op, raw_xxh128_op, NULL);
	line("xxh128 streaming", &b, ferry_filehash_op, raw_xxh128_update_op, NULL);
#ifdef HAVE_XXH_DISPATCH
	line("xxh3-64 (frame) _dispatch", &b, ferry_encode_op, dispatch_xxh3_copy_op, dispatch_xxh3_op);
	line("xxh128 one-shot _dispatch", &b, ferry_hash128_op, dispatch_xxh128_op, NULL);
#endif
	bench_free(&b);

	/* zstd: plain frames at each level against ZSTD_compressCCtx / ZSTD_decompressDCtx */
	const struct {
		const struct corpus *c;
		int level;
	} zruns[] = {{&text, 1}, {&text, 3}, {&text, 9}, {&rnd, 3}};
	for (size_t z = 0; z < sizeof(zruns) / sizeof(zruns[0]); z++) {
		bench_init(&b, zruns[z].c, zruns[z].level, NULL);
		bench_init_zstd(&b);
		snprintf(name, sizeof(name), "zstd-%d enc %s %.3f", zruns[z].level, zruns[z].c->name,
			 stored_fraction(&b));
		line(name, &b, ferry_encode_op, raw_zstd_xxh3_op, raw_zstd_op);
		snprintf(name, sizeof(name), "zstd-%d dec %s", zruns[z].level, zruns[z].c->name);
		line(name, &b, ferry_decode_op, raw_unzstd_xxh3_op, raw_unzstd_op);
		bench_free(&b);
	}

	/* AES-256-GCM: encrypted level-0 frames against EVP with the same key, AAD size and chunk */
	bench_init(&b, &text, 0, &keys);
	bench_init_gcm(&b, keys.data_key);
	line("aes-256-gcm enc", &b, ferry_encode_op, raw_gcm_xxh3_op, raw_gcm_op);
	line("aes-256-gcm dec", &b, ferry_decode_op, raw_ungcm_xxh3_op, raw_ungcm_op);
	bench_free(&b);

	printf("\n_dispatch lines: raw is libxxhash's XXH3_*_dispatch (runtime-chosen SIMD), the path xxhsum takes\n");
	printf("zstd enc names end with stored/plain size of the ferry frames (random falls back to raw storage)\n");
	ferry_keys_wipe(&keys);
	free(text.data);
	free(rnd.data);
	return 0;
}
