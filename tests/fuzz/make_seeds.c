/* make_seeds: writes the deterministic seed corpora of the fuzz targets (run: make_seeds tests/fuzz). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/codec.h"
#include "fuzz_keys.h"

#define SEED_CHUNK FERRY_CHUNK_MIN
#define OBJ_CAP (64u * 1024)
#define CFG_AAD_LEN 80 /* config bytes 0..79 bind the wrapped key (FORMAT.md §5) */

static const char *outdir;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("make_seeds: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void check(int err, const char *what)
{
	if (err)
		die("%s: %s", what, ferry_strerror(err));
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

/* Writes DIR/set/target/name; set is "corpus" (seeds) or "regressions" (inputs that once crashed). */
static void put_in(const char *set, const char *target, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, set);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, set, target);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/%s/%s/%s", outdir, set, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die("write %s: %s", path, strerror(errno));
	printf("%s (%zu bytes)\n", path, len);
}

static void put(const char *target, const char *name, const void *buf, size_t len)
{
	put_in("corpus", target, name, buf, len);
}

/* Deterministic content: log-like text for compressible chunks, xorshift noise for raw ones. */
static void fill_text(uint8_t *p, size_t len)
{
	static const char line[] = "{\"level\":\"info\",\"msg\":\"chunk stored\",\"store\":\"fuzz\",\"n\":42}\n";

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)line[i % (sizeof(line) - 1)];
}

static void fill_noise(uint8_t *p, size_t len)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (uint8_t)s;
	}
}

static void fixed_object(struct ferry_object_hdr *h, int encrypted)
{
	memset(h, 0, sizeof(*h));
	h->flags = encrypted ? FERRY_FRAME_ENCRYPTED : 0;
	memcpy(h->object_id, FUZZ_OBJECT_ID, FERRY_ID_LEN);
	memcpy(h->nonce_prefix, FUZZ_NONCE_PREFIX, FERRY_NONCE_PREFIX_LEN);
}

/* Lays out an object as ferry_object_encode_mem does, but with a fixed header: seeds stay byte-stable. */
static size_t build_object(struct ferry_codec *c, const struct ferry_object_hdr *h, const uint8_t *src, size_t len,
			   uint8_t *out, size_t cap)
{
	size_t nchunks = len ? (len + SEED_CHUNK - 1) / SEED_CHUNK : 1, pos = FERRY_OBJ_HDR_LEN;
	uint8_t index[16 * FERRY_INDEX_ENTRY_LEN];

	if (nchunks > 16)
		die("seed object too large");
	ferry_object_hdr_encode(h, out);
	for (size_t i = 0; i < nchunks; i++) {
		size_t off = i * SEED_CHUNK, n = len - off < SEED_CHUNK ? len - off : SEED_CHUNK, flen;
		struct ferry_index_entry e;

		if (cap - pos < ferry_frame_bound(n))
			die("seed object buffer too small");
		check(ferry_frame_encode(c, h, (uint32_t)i, i + 1 == nchunks, src + off, n, out + pos, cap - pos, &flen,
					 NULL),
		      "ferry_frame_encode");
		e.offset = pos;
		e.frame_len = (uint32_t)flen;
		e.plain_len = (uint32_t)n;
		ferry_index_entry_encode(&e, index + i * FERRY_INDEX_ENTRY_LEN);
		pos += flen;
	}
	struct ferry_object_footer f = {
	    .index_offset = pos,
	    .chunk_count = (uint32_t)nchunks,
	    .plain_total = len,
	    .index_hash = ferry_index_hash(out, index, nchunks * FERRY_INDEX_ENTRY_LEN),
	};
	if (cap - pos < nchunks * FERRY_INDEX_ENTRY_LEN + FERRY_OBJ_FOOTER_LEN)
		die("seed object buffer too small");
	memcpy(out + pos, index, nchunks * FERRY_INDEX_ENTRY_LEN);
	pos += nchunks * FERRY_INDEX_ENTRY_LEN;
	ferry_object_footer_encode(&f, out + pos);
	return pos + FERRY_OBJ_FOOTER_LEN;
}

/* The check the fuzzer relies on: the seed decodes back to its content under the fuzz codec. */
struct expect {
	const uint8_t *src;
	size_t off;
};

static int compare_chunk(void *arg, uint32_t index, const void *buf, size_t len)
{
	struct expect *e = arg;

	(void)index;
	if (memcmp(e->src + e->off, buf, len) != 0)
		return FERRY_E_CHECKSUM;
	e->off += len;
	return 0;
}

static void object_seed(struct ferry_codec *c, int encrypted, const char *name, const uint8_t *src, size_t len)
{
	static uint8_t out[OBJ_CAP];
	struct ferry_object_hdr h;
	struct expect e = {src, 0};

	fixed_object(&h, encrypted);
	size_t n = build_object(c, &h, src, len, out, sizeof(out));
	if (len == 0) {
		/*
		 * An empty object (one empty chunk) makes ferry_object_decode_mem hand
		 * ferry_frame_decode a NULL buffer of capacity 0, which reaches memcpy(NULL, p, 0)
		 * (plain) or NULL + 0 (encrypted): UB that UBSan aborts on. These inputs live in
		 * regressions/, which run.sh replays, rather than in the corpus, so a fuzz run is
		 * not stopped at its first input; once the codec is fixed they can join the corpus.
		 */
		put_in("regressions", "fuzz_object", name, out, n);
		return;
	}
	check(ferry_object_decode_mem(c, out, n, compare_chunk, &e, NULL), name);
	if (e.off != len)
		die("%s: decoded %zu of %zu bytes", name, e.off, len);
	put("fuzz_object", name, out, n);
}

static void frame_seed(struct ferry_codec *c, int encrypted, const char *name, uint32_t index, int last,
		       const uint8_t *src, size_t len)
{
	static uint8_t out[OBJ_CAP], back[SEED_CHUNK];
	struct ferry_object_hdr h;
	size_t n, m;

	fixed_object(&h, encrypted);
	check(ferry_frame_encode(c, &h, index, last, src, len, out, sizeof(out), &n, NULL), name);
	check(ferry_frame_decode(c, &h, index, last, out, n, back, sizeof(back), &m), name);
	if (m != len || memcmp(back, src, len) != 0)
		die("%s: frame does not round-trip", name);
	put("fuzz_object", name, out, n);
}

static void objects(void)
{
	struct ferry_codec *plain, *sealed, *plain0;
	struct ferry_keys k;
	static uint8_t data[2 * SEED_CHUNK + 1000];

	fuzz_keys(&k);
	check(ferry_codec_create(&plain, NULL, FERRY_LEVEL_DEFAULT, FUZZ_MAX_CHUNK), "ferry_codec_create");
	check(ferry_codec_create(&plain0, NULL, FERRY_LEVEL_NONE, FUZZ_MAX_CHUNK), "ferry_codec_create");
	check(ferry_codec_create(&sealed, &k, FERRY_LEVEL_DEFAULT, FUZZ_MAX_CHUNK), "ferry_codec_create");
	ferry_keys_wipe(&k);

	/* three chunks: compressible (zstd), noise (stored raw), a short compressible tail */
	fill_text(data, SEED_CHUNK);
	fill_noise(data + SEED_CHUNK, SEED_CHUNK);
	fill_text(data + 2 * SEED_CHUNK, 1000);

	object_seed(plain, 0, "plain-3chunks", data, sizeof(data));
	object_seed(sealed, 1, "sealed-3chunks", data, sizeof(data));
	object_seed(plain0, 0, "plain-level0-1chunk", data, 300);
	object_seed(plain, 0, "plain-empty", data, 0);
	object_seed(sealed, 1, "sealed-empty", data, 0);
	frame_seed(plain, 0, "frame-plain-zstd", 0, 0, data, SEED_CHUNK);
	frame_seed(sealed, 1, "frame-sealed-zstd-last", 2, 1, data, 1000);
	frame_seed(sealed, 1, "frame-sealed-raw", 1, 0, data + SEED_CHUNK, 200);

	ferry_codec_destroy(plain);
	ferry_codec_destroy(plain0);
	ferry_codec_destroy(sealed);
}

/* A config like ferry_config_create makes, with every random or time field fixed. */
static void config_seed(const char *name, int kdf)
{
	struct ferry_store_config cfg, back;
	struct ferry_keys keys;
	uint8_t enc[FERRY_CONFIG_LEN], kek[FERRY_KEY_LEN];
	struct ferry_secret s = {kdf, NULL, 0};

	memset(&cfg, 0, sizeof(cfg));
	cfg.version = 1;
	memcpy(cfg.store_id, FUZZ_STORE_ID, FERRY_ID_LEN);
	cfg.chunk_size = FERRY_CHUNK_DEFAULT;
	cfg.level = FERRY_LEVEL_DEFAULT;
	cfg.created = 1700000000;
	if (kdf != FERRY_KDF_NONE) {
		cfg.flags = FERRY_CFG_ENCRYPTED;
		cfg.kdf = (uint8_t)kdf;
		for (int i = 0; i < 32; i++)
			cfg.salt[i] = (uint8_t)(0xa0 + i);
		for (int i = 0; i < 12; i++)
			cfg.wrap_nonce[i] = (uint8_t)(0x10 + i);
		if (kdf == FERRY_KDF_SCRYPT) {
			/* the cheapest cost the fuzzer will still run scrypt for */
			cfg.scrypt_log2n = 10;
			cfg.scrypt_r = 8;
			cfg.scrypt_p = 1;
			s.bytes = (const uint8_t *)FUZZ_PASSPHRASE;
			s.len = sizeof(FUZZ_PASSPHRASE) - 1;
			check(ferry_scrypt(s.bytes, s.len, cfg.salt, sizeof(cfg.salt), 1ull << cfg.scrypt_log2n,
					   cfg.scrypt_r, cfg.scrypt_p, kek, sizeof(kek)),
			      "ferry_scrypt");
		} else {
			s.bytes = (const uint8_t *)FUZZ_KEYFILE;
			s.len = FERRY_KEY_LEN;
			memcpy(kek, FUZZ_KEYFILE, FERRY_KEY_LEN);
		}
		ferry_config_encode(&cfg, enc);
		check(ferry_gcm_seal(kek, cfg.wrap_nonce, sizeof(cfg.wrap_nonce), enc, CFG_AAD_LEN, FUZZ_DATA_KEY,
				     FERRY_KEY_LEN, cfg.wrapped_key, cfg.wrapped_key + FERRY_KEY_LEN),
		      "ferry_gcm_seal");
	}
	ferry_config_encode(&cfg, enc);

	/* it must decode, and unlock to the fuzz data key */
	check(ferry_config_decode(enc, sizeof(enc), &back), name);
	check(ferry_config_unlock(&back, kdf == FERRY_KDF_NONE ? NULL : &s, &keys), name);
	if (kdf != FERRY_KDF_NONE && memcmp(keys.data_key, FUZZ_DATA_KEY, FERRY_KEY_LEN) != 0)
		die("%s: unlocked another key", name);
	ferry_keys_wipe(&keys);
	put("fuzz_config", name, enc, sizeof(enc));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR   (e.g. tests/fuzz: writes DIR/corpus/<target>/*)\n");
		return 2;
	}
	outdir = argv[1];
	make_dir(outdir);
	objects();
	config_seed("config-plain", FERRY_KDF_NONE);
	config_seed("config-keyfile", FERRY_KDF_KEYFILE);
	config_seed("config-scrypt-n10", FERRY_KDF_SCRYPT);
	return 0;
}
