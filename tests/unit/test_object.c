/* Unit tests for in-memory objects: round trips, tampering, truncation, and footer/index bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/codec.h"

#define CHUNK (64u * 1024)

#include "expect.h"

struct mode {
	const char *name;
	int encrypted;
	int level;
};

static const struct mode modes[] = {
	{ "plain level 0", 0, 0 },
	{ "plain level 3", 0, 3 },
	{ "encrypted level 0", 1, 0 },
	{ "encrypted level 3", 1, 3 },
	{ "encrypted level 19", 1, 19 },
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(&seed);
}

static void fill_text(uint8_t *p, size_t n)
{
	static const char text[] = "Objects hold frames back to back, then an index, then a footer. ";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)text[i % (sizeof(text) - 1)];
}

static void make_keys(struct ferry_keys *k, int encrypted)
{
	struct ferry_store_config cfg;
	uint8_t kf[FERRY_KEY_LEN];
	struct ferry_secret s = { FERRY_KDF_KEYFILE, kf, sizeof(kf) };

	assert_int_equal(ferry_random(kf, sizeof(kf)), FERRY_OK);
	assert_int_equal(ferry_config_create(&cfg, CHUNK, 0, encrypted ? &s : NULL, 0, k), FERRY_OK);
}

static struct ferry_codec *make_codec(const struct ferry_keys *k, int level, size_t max_chunk)
{
	struct ferry_codec *c = NULL;

	assert_int_equal(ferry_codec_create(&c, k, level, max_chunk), FERRY_OK);
	return c;
}

/* Checks each chunk the decoder hands out against the expected bytes, in order. */
struct collect {
	const uint8_t *want;
	size_t len;
	size_t pos;
	uint32_t next;
	int bad; /* a chunk out of order or with other bytes than expected */
	struct ferry_filehash *fh;
	int stop_at; /* return 12345 at this index, -1 never */
};

static int collect_fn(void *arg, uint32_t index, const void *plain, size_t len)
{
	struct collect *cl = arg;

	if (index != cl->next || len > cl->len - cl->pos || (len && memcmp(plain, cl->want + cl->pos, len) != 0))
		cl->bad = 1;
	if (cl->fh)
		ferry_filehash_update(cl->fh, plain, len);
	cl->pos += len;
	cl->next++;
	return (int)index == cl->stop_at ? 12345 : 0;
}

static void collect_init(struct collect *cl, const uint8_t *want, size_t len)
{
	memset(cl, 0, sizeof(*cl));
	cl->want = want;
	cl->len = len;
	cl->stop_at = -1;
}

/* Reads footer and index of an encoded object through the public decoders. */
static struct ferry_index_entry *read_index(const struct ferry_objbuf *ob, struct ferry_object_footer *f)
{
	struct ferry_index_entry *idx;

	assert_true(ob->len >= FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN);
	assert_int_equal(ferry_object_footer_decode(ob->data + ob->len - FERRY_OBJ_FOOTER_LEN, FERRY_OBJ_FOOTER_LEN,
						    ob->len, f),
			 FERRY_OK);
	idx = calloc(f->chunk_count, sizeof(*idx));
	assert_non_null(idx);
	assert_int_equal(ferry_index_decode(ob->data, ob->data + f->index_offset,
					    (size_t)f->chunk_count * FERRY_INDEX_ENTRY_LEN, f, idx),
			 FERRY_OK);
	return idx;
}

/* ---- round trips ---- */

static void object_roundtrip(const struct mode *m, const uint8_t *src, size_t len, int compressible)
{
	struct ferry_keys keys;
	struct ferry_codec *c;
	struct ferry_objbuf ob;
	struct ferry_object_hdr h;
	struct ferry_object_footer f;
	struct collect cl;
	size_t nchunks = len ? (len + CHUNK - 1) / CHUNK : 1;
	uint32_t bad = 0;

	CTX("%s, %s data, %zu bytes", m->name, compressible ? "text" : "random", len);
	make_keys(&keys, m->encrypted);
	c = make_codec(&keys, m->level, CHUNK);
	EXPECT_ERR(ferry_object_encode_mem(c, m->encrypted, src, len, CHUNK, &ob, &h), FERRY_OK);
	EXPECT(!!(h.flags & FERRY_FRAME_ENCRYPTED) == m->encrypted);

	/* layout: header, frames, index, footer, all accounted for */
	struct ferry_index_entry *idx = read_index(&ob, &f);
	EXPECT(f.chunk_count == nchunks);
	EXPECT(f.plain_total == len);
	EXPECT(f.index_offset + (uint64_t)nchunks * FERRY_INDEX_ENTRY_LEN + FERRY_OBJ_FOOTER_LEN == ob.len);
	for (size_t i = 0; i < nchunks; i++) {
		struct ferry_frame_info fi;
		size_t n = len - i * CHUNK < CHUNK ? len - i * CHUNK : CHUNK;

		EXPECT(idx[i].plain_len == n);
		EXPECT_ERR(ferry_frame_peek(ob.data + idx[i].offset, idx[i].frame_len, &fi), FERRY_OK);
		EXPECT(fi.index == i);
		if (m->level == 0 || !compressible)
			EXPECT(!(fi.flags & FERRY_FRAME_ZSTD));
		else if (n >= 256)
			EXPECT(fi.flags & FERRY_FRAME_ZSTD);
	}
	free(idx);

	if (len == 0 && !m->encrypted) {
		/* decoding this hits a NULL memcpy in the codec: see test_object_empty_plain */
		ferry_objbuf_free(&ob);
		ferry_codec_destroy(c);
		ferry_keys_wipe(&keys);
		return;
	}
	collect_init(&cl, src, len);
	cl.fh = ferry_filehash_create();
	assert_non_null(cl.fh);
	EXPECT_ERR(ferry_object_decode_mem(c, ob.data, ob.len, collect_fn, &cl, &bad), FERRY_OK);
	EXPECT(bad == UINT32_MAX);
	EXPECT(!cl.bad);
	EXPECT(cl.pos == len);
	EXPECT(cl.next == nchunks);
	struct ferry_hash128 want = ferry_hash128(src, len), got = ferry_filehash_digest(cl.fh);
	EXPECT(want.lo == got.lo && want.hi == got.hi);
	ferry_filehash_destroy(cl.fh);

	/* a NULL callback only verifies */
	EXPECT_ERR(ferry_object_decode_mem(c, ob.data, ob.len, NULL, NULL, NULL), FERRY_OK);

	ferry_objbuf_free(&ob);
	EXPECT(ob.data == NULL && ob.len == 0);
	ferry_codec_destroy(c);
	ferry_keys_wipe(&keys);
}

static void test_object_roundtrips(void **state)
{
	size_t sizes[8] = { 0, 1, CHUNK - 1, CHUNK, CHUNK + 1 };
	size_t nsizes = 5, maxlen = 4 * CHUNK;
	uint64_t seed = 0x0B1EC7ull;
	uint8_t *rnd = malloc(maxlen), *txt = malloc(maxlen);

	(void)state;
	assert_non_null(rnd);
	assert_non_null(txt);
	for (int i = 0; i < 3; i++)
		sizes[nsizes++] = 2 + (size_t)(rng_next(&seed) % (maxlen - 2));
	fill_random(rnd, maxlen, 1234);
	fill_text(txt, maxlen);
	for (size_t m = 0; m < NMODES; m++) {
		for (size_t s = 0; s < nsizes; s++) {
			object_roundtrip(&modes[m], rnd, sizes[s], 0);
			object_roundtrip(&modes[m], txt, sizes[s], 1);
		}
	}
	free(rnd);
	free(txt);
}

static void test_object_callback_stops(void **state)
{
	struct ferry_codec *c;
	struct ferry_objbuf ob;
	struct collect cl;
	uint8_t src[1000];
	uint32_t bad = 0;

	(void)state;
	fill_random(src, sizeof(src), 5);
	c = make_codec(NULL, 0, 100);
	assert_int_equal(ferry_object_encode_mem(c, 0, src, sizeof(src), 100, &ob, NULL), FERRY_OK);
	collect_init(&cl, src, sizeof(src));
	cl.stop_at = 4;
	assert_int_equal(ferry_object_decode_mem(c, ob.data, ob.len, collect_fn, &cl, &bad), 12345);
	assert_int_equal(bad, 4);
	assert_int_equal(cl.next, 5);
	assert_false(cl.bad);
	ferry_objbuf_free(&ob);
	ferry_codec_destroy(c);
}

static void test_object_encode_args(void **state)
{
	struct ferry_codec *c;
	struct ferry_objbuf ob = { (uint8_t *)&ob, 1 };
	uint8_t src[300] = { 0 };

	(void)state;
	c = make_codec(NULL, 0, 100);
	assert_int_equal(ferry_object_encode_mem(c, 0, src, sizeof(src), 0, &ob, NULL), FERRY_E_INVAL);
	assert_null(ob.data);
	assert_int_equal(ob.len, 0);
	/* chunks larger than the codec's max */
	assert_int_equal(ferry_object_encode_mem(c, 0, src, sizeof(src), 101, &ob, NULL), FERRY_E_TOOBIG);
	assert_null(ob.data);
	/* encrypted object without keys */
	assert_int_equal(ferry_object_encode_mem(c, 1, src, sizeof(src), 100, &ob, NULL), FERRY_E_INVAL);
	assert_null(ob.data);
	ferry_codec_destroy(c);
	ferry_objbuf_free(NULL);
}

/* ---- tampering ---- */

/* An object of nchunks chunks of clen bytes (random data, level 0). */
struct ofx {
	struct ferry_keys keys;
	struct ferry_codec *c;
	struct ferry_objbuf ob;
	struct ferry_object_hdr h;
	struct ferry_object_footer f;
	struct ferry_index_entry *idx;
	uint8_t *src;
	size_t len;
};

static struct ofx *ofx_new(int encrypted, size_t nchunks, size_t clen)
{
	struct ofx *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	o->len = nchunks * clen;
	o->src = malloc(o->len);
	assert_non_null(o->src);
	fill_random(o->src, o->len, 77 + nchunks);
	make_keys(&o->keys, encrypted);
	o->c = make_codec(&o->keys, 0, clen);
	assert_int_equal(ferry_object_encode_mem(o->c, encrypted, o->src, o->len, clen, &o->ob, &o->h), FERRY_OK);
	o->idx = read_index(&o->ob, &o->f);
	return o;
}

static void ofx_free(struct ofx *o)
{
	ferry_objbuf_free(&o->ob);
	ferry_codec_destroy(o->c);
	ferry_keys_wipe(&o->keys);
	free(o->idx);
	free(o->src);
	free(o);
}

static int ofx_decode(struct ofx *o, const uint8_t *buf, size_t len, uint32_t *bad, int *wrong_plain)
{
	struct collect cl;
	int err;

	collect_init(&cl, o->src, o->len);
	err = ferry_object_decode_mem(o->c, buf, len, collect_fn, &cl, bad);
	if (wrong_plain)
		*wrong_plain = cl.bad;
	return err;
}

/*
 * Flips every bit of a small object in turn: nothing may decode as valid, and no
 * chunk handed out may differ from the original.
 */
static void test_object_every_bit(void **state)
{
	static const int known[] = { FERRY_E_FORMAT,  FERRY_E_VERSION,   FERRY_E_CHECKSUM, FERRY_E_AUTH,
				     FERRY_E_ORDER,   FERRY_E_FOREIGN,   FERRY_E_TRUNCATED, FERRY_E_UNSUPPORTED,
				     FERRY_E_TOOBIG };

	(void)state;
	for (int enc = 1; enc >= 0; enc--) {
		struct ofx *o = ofx_new(enc, 3, 100);
		uint8_t *copy = malloc(o->ob.len);
		size_t fails[19] = { 0 };

		assert_non_null(copy);
		CTX("%s, untouched", enc ? "encrypted" : "plain");
		EXPECT_ERR(ofx_decode(o, o->ob.data, o->ob.len, NULL, NULL), FERRY_OK);
		for (size_t bit = 0; bit < o->ob.len * 8; bit++) {
			int wrong = 0, err, is_known = 0;

			memcpy(copy, o->ob.data, o->ob.len);
			copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			CTX("%s, byte %zu bit %zu flipped", enc ? "encrypted" : "plain", bit / 8, bit % 8);
			err = ofx_decode(o, copy, o->ob.len, NULL, &wrong);
			EXPECT(err != FERRY_OK);
			EXPECT(!wrong);
			for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
				is_known |= err == known[k];
			if (!is_known)
				print_message("[%s] unexpected error %s (%d)\n", ctx, ferry_strerror(err), err);
			EXPECT(is_known);
			if (err > 0 && err < 19)
				fails[err]++;
		}
		/* the distinct checks each caught something */
		print_message("%s object, %zu bytes: auth %zu, checksum %zu, format %zu, truncated %zu, version %zu\n",
			      enc ? "encrypted" : "plain", o->ob.len, fails[FERRY_E_AUTH], fails[FERRY_E_CHECKSUM],
			      fails[FERRY_E_FORMAT], fails[FERRY_E_TRUNCATED], fails[FERRY_E_VERSION]);
		EXPECT(fails[FERRY_E_CHECKSUM] > 0);
		EXPECT(fails[FERRY_E_FORMAT] > 0);
		EXPECT(enc ? fails[FERRY_E_AUTH] > 0 : fails[FERRY_E_AUTH] == 0);
		free(copy);
		ofx_free(o);
	}
}

static void test_object_swapped_chunks(void **state)
{
	(void)state;
	for (int enc = 0; enc < 2; enc++) {
		struct ofx *o = ofx_new(enc, 3, 100);
		uint8_t *copy = malloc(o->ob.len);
		uint32_t bad = 0;
		int wrong = 0;

		assert_non_null(copy);
		CTX("%s", enc ? "encrypted" : "plain");
		/* frames 0 and 1 have the same length, so the index still fits */
		assert_int_equal(o->idx[0].frame_len, o->idx[1].frame_len);
		memcpy(copy, o->ob.data, o->ob.len);
		memcpy(copy + o->idx[0].offset, o->ob.data + o->idx[1].offset, o->idx[1].frame_len);
		memcpy(copy + o->idx[1].offset, o->ob.data + o->idx[0].offset, o->idx[0].frame_len);
		EXPECT_ERR(ofx_decode(o, copy, o->ob.len, &bad, &wrong), FERRY_E_ORDER);
		EXPECT(bad == 0);
		EXPECT(!wrong);
		free(copy);
		ofx_free(o);
	}
}

static void test_object_foreign_chunk(void **state)
{
	(void)state;
	for (int enc = 0; enc < 2; enc++) {
		struct ofx *o = ofx_new(enc, 3, 100);
		struct ferry_objbuf other;
		struct ferry_index_entry *oidx;
		struct ferry_object_footer of;
		uint8_t *copy = malloc(o->ob.len);
		uint32_t bad = 0;
		int wrong = 0;

		assert_non_null(copy);
		CTX("%s", enc ? "encrypted" : "plain");
		/* another object of the same store and shape; its chunk 1 spliced into ours */
		assert_int_equal(ferry_object_encode_mem(o->c, enc, o->src, o->len, 100, &other, NULL), FERRY_OK);
		assert_int_equal(other.len, o->ob.len);
		oidx = read_index(&other, &of);
		memcpy(copy, o->ob.data, o->ob.len);
		memcpy(copy + o->idx[1].offset, other.data + oidx[1].offset, oidx[1].frame_len);
		EXPECT_ERR(ofx_decode(o, copy, o->ob.len, &bad, &wrong), FERRY_E_FOREIGN);
		EXPECT(bad == 1);
		EXPECT(!wrong);
		free(oidx);
		ferry_objbuf_free(&other);
		free(copy);
		ofx_free(o);
	}
}

/*
 * Rebuilds an object from the first `keep` frames of o with a consistent index and
 * footer: what an attacker (or a lost tail) could produce from a longer object.
 */
static size_t rebuild_prefix(const struct ofx *o, uint32_t keep, uint8_t *out)
{
	uint64_t frames_end = o->idx[keep - 1].offset + o->idx[keep - 1].frame_len;
	uint8_t *index = out + frames_end;
	struct ferry_object_footer f = { 0 };

	memcpy(out, o->ob.data, frames_end);
	for (uint32_t i = 0; i < keep; i++) {
		ferry_index_entry_encode(&o->idx[i], index + (size_t)i * FERRY_INDEX_ENTRY_LEN);
		f.plain_total += o->idx[i].plain_len;
	}
	f.index_offset = frames_end;
	f.chunk_count = keep;
	f.index_hash = ferry_index_hash(out, index, (size_t)keep * FERRY_INDEX_ENTRY_LEN);
	ferry_object_footer_encode(&f, index + (size_t)keep * FERRY_INDEX_ENTRY_LEN);
	return frames_end + (size_t)keep * FERRY_INDEX_ENTRY_LEN + FERRY_OBJ_FOOTER_LEN;
}

static void test_object_final_chunks_removed(void **state)
{
	(void)state;
	for (int enc = 0; enc < 2; enc++) {
		struct ofx *o = ofx_new(enc, 4, 100);
		uint8_t *copy = malloc(o->ob.len);
		uint32_t bad = 0;
		int wrong = 0;

		assert_non_null(copy);
		for (uint32_t keep = 1; keep <= 4; keep++) {
			size_t n = rebuild_prefix(o, keep, copy);

			CTX("%s, first %u of 4 chunks kept", enc ? "encrypted" : "plain", keep);
			if (keep == 4) {
				/* the rebuild itself is faithful */
				EXPECT(n == o->ob.len && memcmp(copy, o->ob.data, n) == 0);
				EXPECT_ERR(ofx_decode(o, copy, n, &bad, &wrong), FERRY_OK);
			} else {
				EXPECT_ERR(ofx_decode(o, copy, n, &bad, &wrong), FERRY_E_TRUNCATED);
				EXPECT(bad == keep - 1);
			}
			EXPECT(!wrong);
		}
		free(copy);
		ofx_free(o);
	}
}

static void test_object_cut_short(void **state)
{
	(void)state;
	for (int enc = 0; enc < 2; enc++) {
		struct ofx *o = ofx_new(enc, 3, 100);
		uint8_t *copy = malloc(o->ob.len);

		assert_non_null(copy);
		memcpy(copy, o->ob.data, o->ob.len);
		for (size_t cut = 1; cut <= o->ob.len; cut++) {
			size_t n = o->ob.len - cut;
			int wrong = 0, err;

			CTX("%s, last %zu bytes dropped", enc ? "encrypted" : "plain", cut);
			err = ofx_decode(o, copy, n, NULL, &wrong);
			/* the footer magic is gone: that reads as truncation */
			if (cut <= FERRY_OBJ_FOOTER_LEN || n < FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN)
				EXPECT_ERR(err, FERRY_E_TRUNCATED);
			else
				EXPECT(err == FERRY_E_TRUNCATED || err == FERRY_E_FORMAT);
			EXPECT(!wrong);
		}
		free(copy);
		ofx_free(o);
	}
}

/* ---- object header ---- */

static void test_object_header(void **state)
{
	struct ferry_object_hdr h, back;
	uint8_t buf[FERRY_OBJ_HDR_LEN], copy[FERRY_OBJ_HDR_LEN];

	(void)state;
	assert_int_equal(ferry_object_new(&h, 1), FERRY_OK);
	assert_int_equal(h.flags, FERRY_FRAME_ENCRYPTED);
	ferry_object_hdr_encode(&h, buf);
	assert_int_equal(ferry_object_hdr_decode(buf, sizeof(buf), &back), FERRY_OK);
	assert_int_equal(back.flags, h.flags);
	assert_memory_equal(back.object_id, h.object_id, FERRY_ID_LEN);
	assert_memory_equal(back.nonce_prefix, h.nonce_prefix, FERRY_NONCE_PREFIX_LEN);

	/* two fresh objects never share an id */
	assert_int_equal(ferry_object_new(&back, 0), FERRY_OK);
	assert_int_equal(back.flags, 0);
	assert_memory_not_equal(back.object_id, h.object_id, FERRY_ID_LEN);

	assert_int_equal(ferry_object_hdr_decode(buf, sizeof(buf) - 1, &back), FERRY_E_TRUNCATED);
	for (int i = 0; i < 4; i++) {
		memcpy(copy, buf, sizeof(buf));
		copy[i] ^= 0x01;
		assert_int_equal(ferry_object_hdr_decode(copy, sizeof(copy), &back), FERRY_E_FORMAT);
	}
	memcpy(copy, buf, sizeof(buf));
	copy[4] = 2;
	assert_int_equal(ferry_object_hdr_decode(copy, sizeof(copy), &back), FERRY_E_VERSION);
	memcpy(copy, buf, sizeof(buf));
	copy[5] |= 0x40;
	assert_int_equal(ferry_object_hdr_decode(copy, sizeof(copy), &back), FERRY_E_UNSUPPORTED);
	memcpy(copy, buf, sizeof(buf));
	copy[6] = 1;
	assert_int_equal(ferry_object_hdr_decode(copy, sizeof(copy), &back), FERRY_E_FORMAT);
	memcpy(copy, buf, sizeof(buf));
	copy[31] = 1;
	assert_int_equal(ferry_object_hdr_decode(copy, sizeof(copy), &back), FERRY_E_FORMAT);
}

/* ---- footer and index bounds ---- */

/* Writes footer f over the last FERRY_OBJ_FOOTER_LEN bytes of buf[len] and decodes. */
static int with_footer(struct ofx *o, uint8_t *buf, const struct ferry_object_footer *f)
{
	memcpy(buf, o->ob.data, o->ob.len);
	ferry_object_footer_encode(f, buf + o->ob.len - FERRY_OBJ_FOOTER_LEN);
	return ofx_decode(o, buf, o->ob.len, NULL, NULL);
}

static void test_footer_bounds(void **state)
{
	struct ofx *o;
	struct ferry_object_footer f, got;
	uint8_t *copy;
	const uint8_t *foot;

	(void)state;
	o = ofx_new(1, 3, 100);
	copy = malloc(o->ob.len);
	assert_non_null(copy);
	foot = o->ob.data + o->ob.len - FERRY_OBJ_FOOTER_LEN;

	CTX("footer re-encoded unchanged");
	EXPECT_ERR(with_footer(o, copy, &o->f), FERRY_OK);

	/* more chunks than the object has room for */
	const uint32_t counts[] = { 4, 5, 100, 0x10000000u, 0xFFFFFFFFu };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		f = o->f;
		f.chunk_count = counts[i];
		CTX("chunk_count %u", counts[i]);
		EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_FORMAT);
		EXPECT_ERR(ferry_object_footer_decode(copy + o->ob.len - FERRY_OBJ_FOOTER_LEN, FERRY_OBJ_FOOTER_LEN,
						      o->ob.len, &got),
			   FERRY_E_FORMAT);
	}
	/* more chunks, with the index offset moved to match: then frames cannot fit */
	f = o->f;
	f.chunk_count = 20;
	f.index_offset = o->ob.len - FERRY_OBJ_FOOTER_LEN - 20 * FERRY_INDEX_ENTRY_LEN;
	CTX("chunk_count 20, index moved");
	EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_FORMAT);
	/* no chunks at all */
	f = o->f;
	f.chunk_count = 0;
	f.index_offset = o->ob.len - FERRY_OBJ_FOOTER_LEN;
	CTX("chunk_count 0");
	EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_FORMAT);
	/* fewer chunks than there are frames, index offset consistent */
	f = o->f;
	f.chunk_count = 2;
	f.index_offset += FERRY_INDEX_ENTRY_LEN;
	CTX("chunk_count 2");
	EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_CHECKSUM);
	/* index offset off by one either way */
	for (int d = -1; d <= 1; d += 2) {
		f = o->f;
		f.index_offset += (uint64_t)(int64_t)d;
		CTX("index_offset %+d", d);
		EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_FORMAT);
	}
	/* a plain total the index does not add up to, or beyond any chunk count */
	f = o->f;
	f.plain_total += 1;
	CTX("plain_total + 1");
	EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_FORMAT);
	f = o->f;
	f.plain_total = UINT64_MAX;
	CTX("plain_total max");
	EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_FORMAT);
	/* wrong index hash */
	f = o->f;
	f.index_hash ^= 1;
	CTX("index_hash");
	EXPECT_ERR(with_footer(o, copy, &f), FERRY_E_CHECKSUM);

	/* raw footer bytes: version, reserved, magic */
	CTX("footer bytes");
	memcpy(copy, foot, FERRY_OBJ_FOOTER_LEN);
	assert_int_equal(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, o->ob.len, &got), FERRY_OK);
	assert_true(got.index_offset == o->f.index_offset && got.chunk_count == 3 && got.plain_total == 300 &&
		    got.index_hash == o->f.index_hash);
	copy[28] = 2;
	EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, o->ob.len, &got), FERRY_E_VERSION);
	for (int i = 29; i < 36; i++) {
		memcpy(copy, foot, FERRY_OBJ_FOOTER_LEN);
		copy[i] = 0x01;
		EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, o->ob.len, &got), FERRY_E_FORMAT);
	}
	for (int i = 36; i < 40; i++) {
		memcpy(copy, foot, FERRY_OBJ_FOOTER_LEN);
		copy[i] ^= 0x01;
		EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, o->ob.len, &got), FERRY_E_TRUNCATED);
	}
	memcpy(copy, foot, FERRY_OBJ_FOOTER_LEN);
	EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN - 1, o->ob.len, &got), FERRY_E_TRUNCATED);
	EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN - 1,
					      &got),
		   FERRY_E_TRUNCATED);
	/* the footer's object size is what bounds the index */
	EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, o->ob.len - 1, &got), FERRY_E_FORMAT);
	EXPECT_ERR(ferry_object_footer_decode(copy, FERRY_OBJ_FOOTER_LEN, o->ob.len + 1, &got), FERRY_E_FORMAT);

	free(copy);
	ofx_free(o);
}

/* Index entries rewritten with a recomputed (valid) hash: the structural checks must still hold. */
static int with_index(struct ofx *o, uint8_t *buf, const struct ferry_index_entry *idx)
{
	uint8_t *index;
	struct ferry_object_footer f = o->f;

	memcpy(buf, o->ob.data, o->ob.len);
	index = buf + o->f.index_offset;
	for (uint32_t i = 0; i < o->f.chunk_count; i++)
		ferry_index_entry_encode(&idx[i], index + (size_t)i * FERRY_INDEX_ENTRY_LEN);
	f.index_hash = ferry_index_hash(buf, index, (size_t)o->f.chunk_count * FERRY_INDEX_ENTRY_LEN);
	ferry_object_footer_encode(&f, buf + o->ob.len - FERRY_OBJ_FOOTER_LEN);
	return ofx_decode(o, buf, o->ob.len, NULL, NULL);
}

/*
 * ferry_object_max_chunks (what verify without --read-data holds a manifest to) is the
 * footer decoder's own bound: for every object size a footer naming that many chunks
 * decodes, one more does not, and real objects never hold more.
 */
static void test_max_chunks(void **state)
{
	struct ferry_object_footer f, got;
	uint8_t buf[FERRY_OBJ_FOOTER_LEN];

	(void)state;
	EXPECT(ferry_object_max_chunks(0) == 0);
	EXPECT(ferry_object_max_chunks(FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN - 1) == 0);
	EXPECT(ferry_object_max_chunks(UINT64_MAX) == FERRY_OBJ_MAX_CHUNKS);
	for (uint64_t size = FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN; size < 2000; size++) {
		uint64_t most = ferry_object_max_chunks(size);
		for (uint64_t n = most; n <= most + 1; n++) {
			if (n == 0 || n * FERRY_INDEX_ENTRY_LEN > size - FERRY_OBJ_FOOTER_LEN)
				continue;
			memset(&f, 0, sizeof(f));
			f.chunk_count = (uint32_t)n;
			f.index_offset = size - FERRY_OBJ_FOOTER_LEN - n * FERRY_INDEX_ENTRY_LEN;
			ferry_object_footer_encode(&f, buf);
			CTX("size %llu, %llu chunks (at most %llu)", (unsigned long long)size, (unsigned long long)n,
			    (unsigned long long)most);
			EXPECT_ERR(ferry_object_footer_decode(buf, sizeof(buf), size, &got),
				   n <= most ? FERRY_OK : FERRY_E_FORMAT);
		}
	}
	for (size_t m = 0; m < NMODES; m++) {
		const size_t lens[] = { 0, 1, 4096, 5 * 4096 + 7 };
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			uint8_t *src = calloc(1, lens[i] + 1);
			struct ferry_codec *c;
			struct ferry_keys keys;
			struct ferry_objbuf ob;
			struct ferry_object_hdr h;

			assert_non_null(src);
			make_keys(&keys, modes[m].encrypted);
			c = make_codec(&keys, modes[m].level, 4096);
			CTX("%s, %zu bytes", modes[m].name, lens[i]);
			EXPECT_ERR(ferry_object_encode_mem(c, modes[m].encrypted, src, lens[i], 4096, &ob, &h), FERRY_OK);
			EXPECT_ERR(ferry_object_footer_decode(ob.data + ob.len - FERRY_OBJ_FOOTER_LEN,
							      FERRY_OBJ_FOOTER_LEN, ob.len, &got),
				   FERRY_OK);
			EXPECT(got.chunk_count >= 1 && ferry_object_max_chunks(ob.len) >= got.chunk_count);
			ferry_objbuf_free(&ob);
			ferry_codec_destroy(c);
			ferry_keys_wipe(&keys);
			free(src);
		}
	}
}

static void test_index_bounds(void **state)
{
	struct ofx *o;
	struct ferry_index_entry idx[3];
	uint8_t *copy;

	(void)state;
	o = ofx_new(0, 3, 100);
	copy = malloc(o->ob.len);
	assert_non_null(copy);

	CTX("index re-encoded unchanged");
	memcpy(idx, o->idx, sizeof(idx));
	EXPECT_ERR(with_index(o, copy, idx), FERRY_OK);

	/* a wrong hash: one index byte changed, or the header the hash also covers */
	memcpy(copy, o->ob.data, o->ob.len);
	copy[o->f.index_offset + 9] ^= 0x01;
	CTX("index byte flipped");
	EXPECT_ERR(ofx_decode(o, copy, o->ob.len, NULL, NULL), FERRY_E_CHECKSUM);
	memcpy(copy, o->ob.data, o->ob.len);
	copy[12] ^= 0x01; /* object id */
	CTX("object id flipped");
	EXPECT_ERR(ofx_decode(o, copy, o->ob.len, NULL, NULL), FERRY_E_CHECKSUM);
	struct ferry_index_entry dec[3];
	CTX("index_decode");
	EXPECT_ERR(ferry_index_decode(copy, o->ob.data + o->f.index_offset, 3 * FERRY_INDEX_ENTRY_LEN, &o->f, dec),
		   FERRY_E_CHECKSUM);
	EXPECT_ERR(ferry_index_decode(o->ob.data, o->ob.data + o->f.index_offset, 3 * FERRY_INDEX_ENTRY_LEN - 1,
				      &o->f, dec),
		   FERRY_E_TRUNCATED);

	/* structurally wrong entries under a valid hash */
	memcpy(idx, o->idx, sizeof(idx));
	idx[0].offset += 1;
	CTX("first frame not right after the header");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	memcpy(idx, o->idx, sizeof(idx));
	idx[1].frame_len -= 1;
	CTX("gap between frames");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	memcpy(idx, o->idx, sizeof(idx));
	idx[2].frame_len = FERRY_FRAME_HDR_LEN - 1;
	CTX("frame shorter than a header");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	memcpy(idx, o->idx, sizeof(idx));
	idx[2].frame_len = 0xFFFFFFFFu;
	CTX("frame past the index");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	memcpy(idx, o->idx, sizeof(idx));
	idx[1].plain_len += 1;
	CTX("plain lengths not adding up");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	memcpy(idx, o->idx, sizeof(idx));
	idx[1].plain_len = FERRY_CHUNK_MAX + 1;
	CTX("plain length over the bound");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	/* plain lengths shuffled between chunks: the total holds, the frames disagree */
	memcpy(idx, o->idx, sizeof(idx));
	idx[0].plain_len += 10;
	idx[1].plain_len -= 10;
	CTX("index says chunk 0 is longer than its frame");
	EXPECT_ERR(with_index(o, copy, idx), FERRY_E_FORMAT);
	memcpy(idx, o->idx, sizeof(idx));
	idx[0].plain_len -= 10;
	idx[1].plain_len += 10;
	CTX("index says chunk 0 is shorter than its frame");
	int err = with_index(o, copy, idx);
	/* reported as TOOBIG (the frame does not fit the buffer sized from the index) */
	EXPECT(err == FERRY_E_FORMAT || err == FERRY_E_TOOBIG);

	free(copy);
	ofx_free(o);
}

static void test_object_wrong_codec(void **state)
{
	struct ofx *o;
	struct ferry_keys other;
	struct ferry_codec *c2;
	uint32_t bad = 0;

	(void)state;
	o = ofx_new(1, 3, 100);
	/* a plain codec has no key */
	c2 = make_codec(NULL, 0, 100);
	assert_int_equal(ferry_object_decode_mem(c2, o->ob.data, o->ob.len, NULL, NULL, &bad), FERRY_E_KEY);
	assert_int_equal(bad, 0);
	ferry_codec_destroy(c2);
	/* another store's key */
	make_keys(&other, 1);
	c2 = make_codec(&other, 0, 100);
	assert_int_equal(ferry_object_decode_mem(c2, o->ob.data, o->ob.len, NULL, NULL, &bad), FERRY_E_AUTH);
	assert_int_equal(bad, 0);
	ferry_codec_destroy(c2);
	ferry_keys_wipe(&other);
	/* a codec whose chunks are smaller than the object's */
	c2 = make_codec(&o->keys, 0, 99);
	assert_int_equal(ferry_object_decode_mem(c2, o->ob.data, o->ob.len, NULL, NULL, &bad), FERRY_E_TOOBIG);
	ferry_codec_destroy(c2);
	ofx_free(o);
}

/*
 * An empty file in a plain store: one chunk of 0 bytes. Kept apart (and run last)
 * because in a Sanitize build the codec's memcpy(NULL, ..., 0) aborts the process.
 */
static void test_object_empty_plain(void **state)
{
	(void)state;
	for (int level = 0; level <= 3; level += 3) {
		struct ferry_codec *c = make_codec(NULL, level, CHUNK);
		struct ferry_objbuf ob;
		struct collect cl;
		uint8_t dummy = 0;
		uint32_t bad = 0;

		CTX("plain level %d, empty source buffer", level);
		EXPECT_ERR(ferry_object_encode_mem(c, 0, &dummy, 0, CHUNK, &ob, NULL), FERRY_OK);
		collect_init(&cl, &dummy, 0);
		EXPECT_ERR(ferry_object_decode_mem(c, ob.data, ob.len, collect_fn, &cl, &bad), FERRY_OK);
		EXPECT(cl.next == 1 && cl.pos == 0 && !cl.bad);
		ferry_objbuf_free(&ob);

		/* an empty file may well come as (NULL, 0) */
		CTX("plain level %d, NULL source", level);
		EXPECT_ERR(ferry_object_encode_mem(c, 0, NULL, 0, CHUNK, &ob, NULL), FERRY_OK);
		EXPECT_ERR(ferry_object_decode_mem(c, ob.data, ob.len, NULL, NULL, NULL), FERRY_OK);
		ferry_objbuf_free(&ob);
		ferry_codec_destroy(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object_roundtrips),
		cmocka_unit_test(test_object_callback_stops),
		cmocka_unit_test(test_object_encode_args),
		cmocka_unit_test(test_object_every_bit),
		cmocka_unit_test(test_object_swapped_chunks),
		cmocka_unit_test(test_object_foreign_chunk),
		cmocka_unit_test(test_object_final_chunks_removed),
		cmocka_unit_test(test_object_cut_short),
		cmocka_unit_test(test_object_header),
		cmocka_unit_test(test_footer_bounds),
		cmocka_unit_test(test_index_bounds),
		cmocka_unit_test(test_max_chunks),
		cmocka_unit_test(test_object_wrong_codec),
		cmocka_unit_test(test_object_empty_plain), /* last: aborts under UBSan, see above */
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
