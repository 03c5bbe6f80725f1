/*
 * Objects: a header, frames back to back, a trailing chunk index and a fixed
 * footer, so a reader finds any chunk with one ranged read of the tail.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ferry/codec.h"
#include "bytes.h"

static const uint8_t obj_magic[4] = { 'F', 'R', 'Y', 'O' };
static const uint8_t footer_magic[4] = { 'F', 'R', 'Y', 'F' };
#define OBJ_VERSION 1

int ferry_object_new(struct ferry_object_hdr *h, int encrypted)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->flags = encrypted ? FERRY_FRAME_ENCRYPTED : 0;
	err = ferry_random(h->object_id, sizeof(h->object_id));
	if (!err)
		err = ferry_random(h->nonce_prefix, sizeof(h->nonce_prefix));
	return err;
}

void ferry_object_hdr_encode(const struct ferry_object_hdr *h, uint8_t out[FERRY_OBJ_HDR_LEN])
{
	memcpy(out, obj_magic, 4);
	out[4] = OBJ_VERSION;
	out[5] = h->flags;
	put_le16(out + 6, 0);
	memcpy(out + 8, h->object_id, FERRY_ID_LEN);
	memcpy(out + 24, h->nonce_prefix, FERRY_NONCE_PREFIX_LEN);
	out[31] = 0;
}

int ferry_object_hdr_decode(const uint8_t *buf, size_t len, struct ferry_object_hdr *h)
{
	if (len < FERRY_OBJ_HDR_LEN)
		return FERRY_E_TRUNCATED;
	if (memcmp(buf, obj_magic, 4) != 0)
		return FERRY_E_FORMAT;
	if (buf[4] != OBJ_VERSION)
		return FERRY_E_VERSION;
	if (buf[5] & ~FERRY_FRAME_ENCRYPTED)
		return FERRY_E_UNSUPPORTED;
	if (get_le16(buf + 6) != 0 || buf[31] != 0)
		return FERRY_E_FORMAT;
	h->flags = buf[5];
	memcpy(h->object_id, buf + 8, FERRY_ID_LEN);
	memcpy(h->nonce_prefix, buf + 24, FERRY_NONCE_PREFIX_LEN);
	return FERRY_OK;
}

void ferry_object_footer_encode(const struct ferry_object_footer *f, uint8_t out[FERRY_OBJ_FOOTER_LEN])
{
	put_le64(out, f->index_offset);
	put_le64(out + 8, f->plain_total);
	put_le64(out + 16, f->index_hash);
	put_le32(out + 24, f->chunk_count);
	out[28] = OBJ_VERSION;
	out[29] = out[30] = out[31] = 0;
	put_le32(out + 32, 0);
	memcpy(out + 36, footer_magic, 4);
}

int ferry_object_footer_decode(const uint8_t *buf, size_t len, uint64_t object_size, struct ferry_object_footer *f)
{
	if (len < FERRY_OBJ_FOOTER_LEN || object_size < FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN)
		return FERRY_E_TRUNCATED;
	if (memcmp(buf + 36, footer_magic, 4) != 0)
		return FERRY_E_TRUNCATED; /* the usual reason for a missing footer */
	if (buf[28] != OBJ_VERSION)
		return FERRY_E_VERSION;
	if (buf[29] || buf[30] || buf[31] || get_le32(buf + 32))
		return FERRY_E_FORMAT;
	f->index_offset = get_le64(buf);
	f->plain_total = get_le64(buf + 8);
	f->index_hash = get_le64(buf + 16);
	f->chunk_count = get_le32(buf + 24);
	if (f->chunk_count == 0)
		return FERRY_E_FORMAT;
	uint64_t tail = object_size - FERRY_OBJ_FOOTER_LEN;
	uint64_t index_len = (uint64_t)f->chunk_count * FERRY_INDEX_ENTRY_LEN;
	/* each chunk needs at least a frame header before the index */
	if (index_len > tail || f->index_offset != tail - index_len ||
	    f->index_offset < FERRY_OBJ_HDR_LEN + (uint64_t)f->chunk_count * FERRY_FRAME_HDR_LEN)
		return FERRY_E_FORMAT;
	if (f->plain_total > (uint64_t)f->chunk_count * FERRY_CHUNK_MAX)
		return FERRY_E_FORMAT;
	return FERRY_OK;
}

uint64_t ferry_object_max_chunks(uint64_t object_size)
{
	const uint64_t fixed = FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN;
	uint64_t n;

	if (object_size < fixed)
		return 0;
	/* the footer decoder's rule: a frame header and an index entry per chunk */
	n = (object_size - fixed) / (FERRY_FRAME_HDR_LEN + FERRY_INDEX_ENTRY_LEN);
	return n < FERRY_OBJ_MAX_CHUNKS ? n : FERRY_OBJ_MAX_CHUNKS;
}

void ferry_index_entry_encode(const struct ferry_index_entry *e, uint8_t out[FERRY_INDEX_ENTRY_LEN])
{
	put_le64(out, e->offset);
	put_le32(out + 8, e->frame_len);
	put_le32(out + 12, e->plain_len);
}

uint64_t ferry_index_hash(const uint8_t hdr[FERRY_OBJ_HDR_LEN], const uint8_t *index, size_t len)
{
	XXH3_state_t st;

	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, hdr, FERRY_OBJ_HDR_LEN);
	XXH3_64bits_update(&st, index, len);
	return XXH3_64bits_digest(&st);
}

int ferry_index_decode(const uint8_t hdr[FERRY_OBJ_HDR_LEN], const uint8_t *buf, size_t len,
		       const struct ferry_object_footer *f, struct ferry_index_entry *entries)
{
	uint64_t need = (uint64_t)f->chunk_count * FERRY_INDEX_ENTRY_LEN;
	uint64_t pos = FERRY_OBJ_HDR_LEN, total = 0;

	if (len < need)
		return FERRY_E_TRUNCATED;
	if (ferry_index_hash(hdr, buf, need) != f->index_hash)
		return FERRY_E_CHECKSUM;
	for (uint32_t i = 0; i < f->chunk_count; i++) {
		const uint8_t *p = buf + (size_t)i * FERRY_INDEX_ENTRY_LEN;
		struct ferry_index_entry *e = &entries[i];

		e->offset = get_le64(p);
		e->frame_len = get_le32(p + 8);
		e->plain_len = get_le32(p + 12);
		if (e->offset != pos || e->frame_len < FERRY_FRAME_HDR_LEN || e->plain_len > FERRY_CHUNK_MAX ||
		    e->frame_len > ferry_frame_bound(e->plain_len))
			return FERRY_E_FORMAT;
		pos += e->frame_len;
		total += e->plain_len;
		if (pos > f->index_offset)
			return FERRY_E_FORMAT;
	}
	if (pos != f->index_offset || total != f->plain_total)
		return FERRY_E_FORMAT;
	return FERRY_OK;
}

int ferry_object_decode_mem(struct ferry_codec *c, const void *obj, size_t len, ferry_chunk_fn fn, void *arg,
			    uint32_t *bad_chunk)
{
	const uint8_t *p = obj;
	struct ferry_object_hdr h;
	struct ferry_object_footer f;
	struct ferry_index_entry *idx = NULL;
	uint8_t *plain = NULL;
	size_t plain_cap = 0;
	int err;

	if (bad_chunk)
		*bad_chunk = UINT32_MAX;
	err = ferry_object_hdr_decode(p, len, &h);
	if (err)
		return err;
	if (len < FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN)
		return FERRY_E_TRUNCATED;
	err = ferry_object_footer_decode(p + len - FERRY_OBJ_FOOTER_LEN, FERRY_OBJ_FOOTER_LEN, len, &f);
	if (err)
		return err;
	/* the footer was checked against len, so the index fits in what we were given */
	idx = calloc(f.chunk_count, sizeof(*idx));
	if (!idx)
		return FERRY_E_NOMEM;
	err = ferry_index_decode(p, p + f.index_offset, (size_t)f.chunk_count * FERRY_INDEX_ENTRY_LEN, &f, idx);
	if (err)
		goto out;
	for (uint32_t i = 0; i < f.chunk_count; i++) {
		size_t n;

		if (!plain || idx[i].plain_len > plain_cap) {
			/* at least one byte: an empty chunk still needs somewhere to point */
			uint8_t *np = realloc(plain, idx[i].plain_len ? idx[i].plain_len : 1);
			if (!np) {
				err = FERRY_E_NOMEM;
				goto out;
			}
			plain = np;
			plain_cap = idx[i].plain_len > plain_cap ? idx[i].plain_len : plain_cap;
		}
		err = ferry_frame_decode(c, &h, i, i + 1 == f.chunk_count, p + idx[i].offset, idx[i].frame_len,
					 plain, plain_cap, &n);
		if (!err && n != idx[i].plain_len)
			err = FERRY_E_FORMAT;
		if (!err && fn)
			err = fn(arg, i, plain, n);
		if (err) {
			if (bad_chunk)
				*bad_chunk = i;
			goto out;
		}
	}
out:
	free(idx);
	free(plain);
	return err;
}

int ferry_object_encode_mem(struct ferry_codec *c, int encrypted, const void *src, size_t len, size_t chunk_size,
			    struct ferry_objbuf *out, struct ferry_object_hdr *hdr_out)
{
	struct ferry_object_hdr h;
	const uint8_t *s = src;
	size_t nchunks, cap;
	uint8_t *buf, *index;
	int err;

	out->data = NULL;
	out->len = 0;
	if (chunk_size == 0 || chunk_size > FERRY_CHUNK_MAX)
		return FERRY_E_INVAL;
	nchunks = len ? (len + chunk_size - 1) / chunk_size : 1;
	if (nchunks > FERRY_OBJ_MAX_CHUNKS)
		return FERRY_E_TOOBIG;
	err = ferry_object_new(&h, encrypted);
	if (err)
		return err;
	cap = FERRY_OBJ_HDR_LEN + nchunks * (FERRY_FRAME_HDR_LEN + FERRY_TAG_LEN + FERRY_INDEX_ENTRY_LEN) + len +
	      FERRY_OBJ_FOOTER_LEN;
	buf = malloc(cap);
	index = malloc(nchunks * FERRY_INDEX_ENTRY_LEN);
	if (!buf || !index) {
		free(buf);
		free(index);
		return FERRY_E_NOMEM;
	}
	ferry_object_hdr_encode(&h, buf);
	size_t pos = FERRY_OBJ_HDR_LEN;
	for (size_t i = 0; i < nchunks; i++) {
		size_t off = i * chunk_size, n = len - off < chunk_size ? len - off : chunk_size, flen;
		struct ferry_index_entry e;

		err = ferry_frame_encode(c, &h, (uint32_t)i, i + 1 == nchunks, s + off, n, buf + pos, cap - pos,
					 &flen, NULL);
		if (err)
			goto fail;
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
		.index_hash = ferry_index_hash(buf, index, nchunks * FERRY_INDEX_ENTRY_LEN),
	};
	memcpy(buf + pos, index, nchunks * FERRY_INDEX_ENTRY_LEN);
	pos += nchunks * FERRY_INDEX_ENTRY_LEN;
	ferry_object_footer_encode(&f, buf + pos);
	pos += FERRY_OBJ_FOOTER_LEN;
	free(index);
	out->data = buf;
	out->len = pos;
	if (hdr_out)
		*hdr_out = h;
	return FERRY_OK;
fail:
	free(buf);
	free(index);
	return err;
}

void ferry_objbuf_free(struct ferry_objbuf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
}
