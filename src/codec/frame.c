/*
 * Chunk frames: hash, compress (zstd, raw when it does not shrink), encrypt
 * (AES-256-GCM, STREAM nonces) one chunk, and the checks that undo it.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include "ferry/codec.h"
#include "bytes.h"

static const uint8_t frame_magic[4] = { 'F', 'R', 'Y', 'C' };
#define FRAME_VERSION 1
#define FRAME_KNOWN_FLAGS (FERRY_FRAME_ZSTD | FERRY_FRAME_ENCRYPTED | FERRY_FRAME_LAST)
#define AAD_LEN (FERRY_ID_LEN * 2 + 8 + FERRY_FRAME_HDR_LEN)

struct ferry_codec {
	struct ferry_keys keys;
	int level;
	size_t max_chunk;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	EVP_CIPHER_CTX *enc; /* keyed once; only the IV changes per chunk */
	EVP_CIPHER_CTX *dec;
	uint8_t *scratch;
	size_t scratch_cap;
};

struct ferry_filehash {
	XXH3_state_t st;
};

static int key_ctx(EVP_CIPHER_CTX **out, int enc, const uint8_t key[32])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return FERRY_E_NOMEM;
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, NULL, enc, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return FERRY_E_CRYPTO;
	}
	*out = ctx;
	return FERRY_OK;
}

int ferry_codec_create(struct ferry_codec **out, const struct ferry_keys *keys, int level, size_t max_chunk)
{
	struct ferry_codec *c;
	int err = FERRY_E_NOMEM;

	*out = NULL;
	if (max_chunk == 0 || max_chunk > FERRY_CHUNK_MAX || level < 0 || level > FERRY_LEVEL_MAX)
		return FERRY_E_INVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return FERRY_E_NOMEM;
	if (keys)
		c->keys = *keys;
	c->level = level;
	c->max_chunk = max_chunk;
	c->scratch_cap = ZSTD_compressBound(max_chunk);
	c->scratch = malloc(c->scratch_cap);
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->scratch || !c->cctx || !c->dctx)
		goto fail;
	if (c->keys.encrypted) {
		err = key_ctx(&c->enc, 1, c->keys.data_key);
		if (!err)
			err = key_ctx(&c->dec, 0, c->keys.data_key);
		if (err)
			goto fail;
	}
	*out = c;
	return FERRY_OK;
fail:
	ferry_codec_destroy(c);
	return err;
}

void ferry_codec_destroy(struct ferry_codec *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	if (c->scratch) {
		/* scratch held plaintext */
		OPENSSL_cleanse(c->scratch, c->scratch_cap);
		free(c->scratch);
	}
	ferry_keys_wipe(&c->keys);
	free(c);
}

int ferry_codec_set_level(struct ferry_codec *c, int level)
{
	if (level < 0 || level > FERRY_LEVEL_MAX)
		return FERRY_E_INVAL;
	c->level = level;
	return FERRY_OK;
}

size_t ferry_frame_bound(size_t plain_len)
{
	/* A chunk that does not shrink is stored raw, so the payload never exceeds plain_len. */
	return FERRY_FRAME_HDR_LEN + plain_len + FERRY_TAG_LEN;
}

struct ferry_filehash *ferry_filehash_create(void)
{
	struct ferry_filehash *h = malloc(sizeof(*h));

	if (h)
		ferry_filehash_reset(h);
	return h;
}

void ferry_filehash_destroy(struct ferry_filehash *h)
{
	free(h);
}

void ferry_filehash_reset(struct ferry_filehash *h)
{
	XXH3_128bits_reset(&h->st);
}

void ferry_filehash_update(struct ferry_filehash *h, const void *buf, size_t len)
{
	XXH3_128bits_update(&h->st, buf, len);
}

struct ferry_hash128 ferry_filehash_digest(const struct ferry_filehash *h)
{
	XXH128_hash_t d = XXH3_128bits_digest(&h->st);
	struct ferry_hash128 r = { d.low64, d.high64 };
	return r;
}

struct ferry_hash128 ferry_hash128(const void *buf, size_t len)
{
	XXH128_hash_t d = XXH3_128bits(buf, len);
	struct ferry_hash128 r = { d.low64, d.high64 };
	return r;
}

void ferry_hash128_encode(struct ferry_hash128 h, uint8_t out[16])
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(h.hi >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(h.lo >> (56 - 8 * i));
	}
}

struct ferry_hash128 ferry_hash128_decode(const uint8_t in[16])
{
	struct ferry_hash128 h = { 0, 0 };
	for (int i = 0; i < 8; i++) {
		h.hi = (h.hi << 8) | in[i];
		h.lo = (h.lo << 8) | in[8 + i];
	}
	return h;
}

static void make_nonce(uint8_t nonce[12], const struct ferry_object_hdr *obj, uint32_t index, int last)
{
	memcpy(nonce, obj->nonce_prefix, FERRY_NONCE_PREFIX_LEN);
	put_be32(nonce + FERRY_NONCE_PREFIX_LEN, index);
	nonce[11] = last ? 1 : 0;
}

static void make_aad(uint8_t aad[AAD_LEN], const struct ferry_codec *c, const struct ferry_object_hdr *obj,
		     uint32_t index, const uint8_t *hdr)
{
	memcpy(aad, c->keys.store_id, FERRY_ID_LEN);
	memcpy(aad + FERRY_ID_LEN, obj->object_id, FERRY_ID_LEN);
	put_le64(aad + 2 * FERRY_ID_LEN, index);
	memcpy(aad + 2 * FERRY_ID_LEN + 8, hdr, FERRY_FRAME_HDR_LEN);
}

static uint64_t object_tag(const struct ferry_object_hdr *obj)
{
	return get_le64(obj->object_id);
}

int ferry_frame_encode(struct ferry_codec *c, const struct ferry_object_hdr *obj, uint32_t index, int last,
		       const void *src, size_t len, void *dst, size_t dst_cap, size_t *out_len,
		       struct ferry_filehash *fh)
{
	uint8_t *out = dst;
	const uint8_t *payload = src;
	size_t plen = len;
	uint8_t flags = last ? FERRY_FRAME_LAST : 0;
	int encrypted = (obj->flags & FERRY_FRAME_ENCRYPTED) != 0;

	if (len > c->max_chunk)
		return FERRY_E_TOOBIG;
	if (dst_cap < ferry_frame_bound(len))
		return FERRY_E_INVAL;
	if (encrypted && !c->keys.encrypted)
		return FERRY_E_INVAL;

	if (fh)
		ferry_filehash_update(fh, src, len);
	uint64_t hash = XXH3_64bits_withSeed(src, len, c->keys.hash_seed);

	if (c->level > 0 && len > 0) {
		size_t n = ZSTD_compressCCtx(c->cctx, c->scratch, c->scratch_cap, src, len, c->level);
		if (ZSTD_isError(n))
			return FERRY_E_COMPRESS;
		if (n < len) {
			payload = c->scratch;
			plen = n;
			flags |= FERRY_FRAME_ZSTD;
		}
	}
	if (encrypted)
		flags |= FERRY_FRAME_ENCRYPTED;
	size_t stored = plen + (encrypted ? FERRY_TAG_LEN : 0);

	memcpy(out, frame_magic, 4);
	out[4] = FRAME_VERSION;
	out[5] = flags;
	put_le16(out + 6, 0);
	put_le32(out + 8, index);
	put_le32(out + 12, (uint32_t)len);
	put_le32(out + 16, (uint32_t)stored);
	put_le32(out + 20, 0);
	put_le64(out + 24, object_tag(obj));
	put_le64(out + 32, hash);

	if (!encrypted) {
		if (plen)
			memcpy(out + FERRY_FRAME_HDR_LEN, payload, plen);
	} else {
		uint8_t nonce[12], aad[AAD_LEN];
		int outl;

		make_nonce(nonce, obj, index, last);
		make_aad(aad, c, obj, index, out);
		if (EVP_EncryptInit_ex2(c->enc, NULL, NULL, nonce, NULL) != 1 ||
		    EVP_EncryptUpdate(c->enc, NULL, &outl, aad, AAD_LEN) != 1 ||
		    (plen && EVP_EncryptUpdate(c->enc, out + FERRY_FRAME_HDR_LEN, &outl, payload, (int)plen) != 1) ||
		    EVP_EncryptFinal_ex(c->enc, out + FERRY_FRAME_HDR_LEN + plen, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_AEAD_GET_TAG, FERRY_TAG_LEN,
					out + FERRY_FRAME_HDR_LEN + plen) != 1)
			return FERRY_E_CRYPTO;
	}
	*out_len = FERRY_FRAME_HDR_LEN + stored;
	return FERRY_OK;
}

int ferry_frame_peek(const void *frame, size_t len, struct ferry_frame_info *fi)
{
	const uint8_t *p = frame;

	if (len < FERRY_FRAME_HDR_LEN)
		return FERRY_E_TRUNCATED;
	if (memcmp(p, frame_magic, 4) != 0)
		return FERRY_E_FORMAT;
	if (p[4] != FRAME_VERSION)
		return FERRY_E_VERSION;
	if (p[5] & ~FRAME_KNOWN_FLAGS)
		return FERRY_E_UNSUPPORTED;
	if (get_le16(p + 6) != 0 || get_le32(p + 20) != 0)
		return FERRY_E_FORMAT;
	fi->flags = p[5];
	fi->index = get_le32(p + 8);
	fi->plain_len = get_le32(p + 12);
	fi->stored_len = get_le32(p + 16);
	fi->object_tag = get_le64(p + 24);
	fi->hash = get_le64(p + 32);
	if (fi->plain_len > FERRY_CHUNK_MAX)
		return FERRY_E_TOOBIG;
	/* payload length must agree with the flags: raw is exactly plain, zstd strictly smaller */
	uint64_t tag = (fi->flags & FERRY_FRAME_ENCRYPTED) ? FERRY_TAG_LEN : 0;
	if (fi->stored_len < tag)
		return FERRY_E_FORMAT;
	uint64_t payload = fi->stored_len - tag;
	if (fi->flags & FERRY_FRAME_ZSTD) {
		if (payload >= fi->plain_len || payload == 0)
			return FERRY_E_FORMAT;
	} else if (payload != fi->plain_len) {
		return FERRY_E_FORMAT;
	}
	return FERRY_OK;
}

int ferry_frame_decode(struct ferry_codec *c, const struct ferry_object_hdr *obj, uint32_t index, int last,
		       const void *frame, size_t frame_len, void *dst, size_t dst_cap, size_t *out_len)
{
	const uint8_t *p = frame;
	struct ferry_frame_info fi;
	int err = ferry_frame_peek(frame, frame_len, &fi);
	int encrypted = (obj->flags & FERRY_FRAME_ENCRYPTED) != 0;

	if (err)
		return err;
	if ((uint64_t)FERRY_FRAME_HDR_LEN + fi.stored_len > frame_len)
		return FERRY_E_TRUNCATED;
	if ((uint64_t)FERRY_FRAME_HDR_LEN + fi.stored_len < frame_len)
		return FERRY_E_FORMAT;
	if (fi.object_tag != object_tag(obj))
		return FERRY_E_FOREIGN;
	if (!!(fi.flags & FERRY_FRAME_ENCRYPTED) != encrypted)
		return FERRY_E_FORMAT;
	if (encrypted && !c->keys.encrypted)
		return FERRY_E_KEY;
	if (fi.index != index)
		return FERRY_E_ORDER;
	if (!!(fi.flags & FERRY_FRAME_LAST) != !!last)
		return last ? FERRY_E_TRUNCATED : FERRY_E_FORMAT;
	if (fi.plain_len > dst_cap || fi.plain_len > c->max_chunk)
		return FERRY_E_TOOBIG;

	const uint8_t *payload = p + FERRY_FRAME_HDR_LEN;
	size_t plen = fi.stored_len - (encrypted ? FERRY_TAG_LEN : 0);

	if (encrypted) {
		uint8_t nonce[12], aad[AAD_LEN], tag[FERRY_TAG_LEN], none[1];
		uint8_t *clear = (fi.flags & FERRY_FRAME_ZSTD) ? c->scratch : dst;
		int outl;

		if (!clear)
			clear = none; /* an empty chunk into no buffer: GCM still checks the tag */

		make_nonce(nonce, obj, index, last);
		make_aad(aad, c, obj, index, p);
		memcpy(tag, payload + plen, FERRY_TAG_LEN);
		if (EVP_DecryptInit_ex2(c->dec, NULL, NULL, nonce, NULL) != 1 ||
		    EVP_DecryptUpdate(c->dec, NULL, &outl, aad, AAD_LEN) != 1 ||
		    (plen && EVP_DecryptUpdate(c->dec, clear, &outl, payload, (int)plen) != 1) ||
		    EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_AEAD_SET_TAG, FERRY_TAG_LEN, tag) != 1)
			return FERRY_E_CRYPTO;
		if (EVP_DecryptFinal_ex(c->dec, clear + plen, &outl) != 1) {
			OPENSSL_cleanse(clear, plen);
			return FERRY_E_AUTH;
		}
		payload = clear;
	}
	if (fi.flags & FERRY_FRAME_ZSTD) {
		/* an honest frame names its content size; refuse anything else before decoding */
		unsigned long long csize = ZSTD_getFrameContentSize(payload, plen);
		if (csize != fi.plain_len)
			return FERRY_E_CHECKSUM;
		size_t n = ZSTD_decompressDCtx(c->dctx, dst, fi.plain_len, payload, plen);
		if (ZSTD_isError(n) || n != fi.plain_len)
			return FERRY_E_CHECKSUM;
	} else if (!encrypted && plen) {
		memcpy(dst, payload, plen);
	}
	if (XXH3_64bits_withSeed(dst, fi.plain_len, c->keys.hash_seed) != fi.hash)
		return FERRY_E_CHECKSUM;
	*out_len = fi.plain_len;
	return FERRY_OK;
}
