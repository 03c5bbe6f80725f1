/*
 * libFuzzer target: the input as a whole object (plain and encrypted codec), again with its
 * index hash made right, and as one bare frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/codec.h"
#include "fuzz_keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ferry_codec *plain_codec, *sealed_codec;

/*
 * A copy of the input whose footer carries the right index hash, or NULL when the footer
 * does not decode or the hash was right already. Without this almost every mutation of
 * the header or index stops at FERRY_E_CHECKSUM and the frame walk is never reached.
 */
static uint8_t *fix_index_hash(const uint8_t *data, size_t size)
{
	struct ferry_object_footer f;
	uint8_t *copy;

	if (size < FERRY_OBJ_HDR_LEN + FERRY_OBJ_FOOTER_LEN ||
	    ferry_object_footer_decode(data + size - FERRY_OBJ_FOOTER_LEN, FERRY_OBJ_FOOTER_LEN, size, &f))
		return NULL;
	uint64_t h = ferry_index_hash(data, data + f.index_offset, (size_t)f.chunk_count * FERRY_INDEX_ENTRY_LEN);
	if (h == f.index_hash)
		return NULL;
	copy = malloc(size);
	if (!copy)
		return NULL;
	memcpy(copy, data, size);
	f.index_hash = h;
	ferry_object_footer_encode(&f, copy + size - FERRY_OBJ_FOOTER_LEN);
	return copy;
}

/* What the chunk callback saw: chunks must come in order, each read in full. */
struct walk {
	uint32_t next;
	uint64_t total;
	uint64_t sum;
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_object: invariant broken: %s\n", what);
	abort();
}

static int on_chunk(void *arg, uint32_t index, const void *buf, size_t len)
{
	struct walk *w = arg;

	if (index != w->next)
		fail("chunks out of order");
	w->next++;
	w->total += len;
	/* read every byte, so a plaintext buffer shorter than len is caught by ASan */
	w->sum += ferry_hash128(buf, len).lo;
	return 0;
}

static void object(struct ferry_codec *c, int encrypted_codec, const uint8_t *data, size_t size)
{
	struct walk w = {0, 0, 0};
	uint32_t bad;
	int err = ferry_object_decode_mem(c, data, size, on_chunk, &w, &bad);

	if (err) {
		if (bad != UINT32_MAX && bad != w.next)
			fail("bad_chunk is not the chunk that failed");
		return;
	}
	/* a decoded object is whole: its footer agrees with what the walk delivered */
	struct ferry_object_hdr h;
	struct ferry_object_footer f;
	if (ferry_object_hdr_decode(data, size, &h) ||
	    ferry_object_footer_decode(data + size - FERRY_OBJ_FOOTER_LEN, FERRY_OBJ_FOOTER_LEN, size, &f))
		fail("decoded an object whose header or footer does not decode");
	if (w.next != f.chunk_count || w.total != f.plain_total)
		fail("walk disagrees with the footer");
	if (bad != UINT32_MAX)
		fail("bad_chunk set on success");
	if ((h.flags & FERRY_FRAME_ENCRYPTED) && !encrypted_codec)
		fail("plain codec decoded an encrypted object");
}

/* The input as chunk fi.index of an object whose id matches the frame's tag. */
static void bare_frame(const uint8_t *data, size_t size)
{
	struct ferry_frame_info fi;
	struct ferry_object_hdr obj;
	uint8_t *dst;
	size_t n;

	if (ferry_frame_peek(data, size, &fi))
		return;
	memset(&obj, 0, sizeof(obj));
	obj.flags = fi.flags & FERRY_FRAME_ENCRYPTED;
	memcpy(obj.object_id, FUZZ_OBJECT_ID, FERRY_ID_LEN);
	for (int i = 0; i < 8; i++)
		obj.object_id[i] = (uint8_t)(fi.object_tag >> (8 * i));
	memcpy(obj.nonce_prefix, FUZZ_NONCE_PREFIX, FERRY_NONCE_PREFIX_LEN);
	/* exactly plain_len bytes of room, so any overrun is a heap overflow; past the codecs' limit, less */
	size_t cap = fi.plain_len <= FUZZ_MAX_CHUNK ? fi.plain_len : FUZZ_MAX_CHUNK;
	dst = malloc(cap ? cap : 1);
	if (!dst)
		return;
	for (int k = 0; k < 2; k++) {
		struct ferry_codec *c = k ? sealed_codec : plain_codec;
		int err =
		    ferry_frame_decode(c, &obj, fi.index, (fi.flags & FERRY_FRAME_LAST) != 0, data, size, dst, cap, &n);
		if (!err && n != fi.plain_len)
			fail("frame decoded to a length other than its header's");
		if (!err && (fi.flags & FERRY_FRAME_ENCRYPTED) && c == plain_codec)
			fail("plain codec decoded an encrypted frame");
	}
	free(dst);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ferry_keys k;

	(void)argc;
	(void)argv;
	fuzz_keys(&k);
	if (ferry_codec_create(&plain_codec, NULL, FERRY_LEVEL_DEFAULT, FUZZ_MAX_CHUNK) ||
	    ferry_codec_create(&sealed_codec, &k, FERRY_LEVEL_DEFAULT, FUZZ_MAX_CHUNK))
		fail("ferry_codec_create");
	ferry_keys_wipe(&k);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed = fix_index_hash(data, size);

	object(plain_codec, 0, data, size);
	object(sealed_codec, 1, data, size);
	if (fixed) {
		object(plain_codec, 0, fixed, size);
		object(sealed_codec, 1, fixed, size);
		free(fixed);
	}
	bare_frame(data, size);
	return 0;
}
