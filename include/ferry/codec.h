/*
 * ferry codec: turns a chunk of a file into a stored frame and back, lays frames
 * out as objects, and holds the store config with its wrapped data key.
 * Every byte these functions write is specified in docs/FORMAT.md.
 */
#ifndef FERRY_CODEC_H
#define FERRY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes and bounds (FORMAT.md §1) ---- */
#define FERRY_ID_LEN 16
#define FERRY_KEY_LEN 32
#define FERRY_TAG_LEN 16
#define FERRY_NONCE_PREFIX_LEN 7
#define FERRY_FRAME_HDR_LEN 40
#define FERRY_OBJ_HDR_LEN 32
#define FERRY_OBJ_FOOTER_LEN 40
#define FERRY_INDEX_ENTRY_LEN 16
#define FERRY_CONFIG_LEN 160

#define FERRY_CHUNK_MIN (4u * 1024)
#define FERRY_CHUNK_MAX (64u * 1024 * 1024)
#define FERRY_CHUNK_DEFAULT (4u * 1024 * 1024)
/* 2^32 - 1 chunks is what the STREAM nonce counter allows; one object never needs more. */
#define FERRY_OBJ_MAX_CHUNKS 0xFFFFFFFFu

/* entry types and the longest path (FORMAT.md §6): the scanner and the manifest share them */
#define FERRY_ENTRY_FILE 1
#define FERRY_ENTRY_DIR 2
#define FERRY_ENTRY_SYMLINK 3
#define FERRY_PATH_MAX 4095

#define FERRY_LEVEL_NONE 0
#define FERRY_LEVEL_DEFAULT 3
#define FERRY_LEVEL_MAX 19

/* frame flags */
#define FERRY_FRAME_ZSTD 0x01u
#define FERRY_FRAME_ENCRYPTED 0x02u
#define FERRY_FRAME_LAST 0x04u

/* ---- keys ---- */

/* What a store hands each codec: never printed, wiped by ferry_keys_wipe(). */
struct ferry_keys {
	uint8_t store_id[FERRY_ID_LEN];
	int encrypted;
	uint8_t data_key[FERRY_KEY_LEN];
	uint64_t hash_seed; /* xxh3 seed: 0 in plain stores, derived from the key otherwise */
};

void ferry_keys_wipe(struct ferry_keys *k);

/* Random bytes from OpenSSL's CSPRNG. */
int ferry_random(void *buf, size_t len) FERRY_MUST_CHECK;

/* ---- objects ---- */

/* The object header: identity and nonce prefix shared by all its frames. */
struct ferry_object_hdr {
	uint8_t flags; /* FERRY_FRAME_ENCRYPTED when frames are encrypted */
	uint8_t object_id[FERRY_ID_LEN];
	uint8_t nonce_prefix[FERRY_NONCE_PREFIX_LEN];
};

/* One entry of the trailing chunk index. */
struct ferry_index_entry {
	uint64_t offset;    /* frame start, from the beginning of the object */
	uint32_t frame_len; /* header + payload */
	uint32_t plain_len;
};

/* The object footer, last FERRY_OBJ_FOOTER_LEN bytes of every object. */
struct ferry_object_footer {
	uint64_t index_offset;
	uint32_t chunk_count;
	uint64_t plain_total;
	uint64_t index_hash; /* xxh3-64 of the object header and the index bytes */
};

/* A fresh object: random id and nonce prefix. */
int ferry_object_new(struct ferry_object_hdr *h, int encrypted) FERRY_MUST_CHECK;
void ferry_object_hdr_encode(const struct ferry_object_hdr *h, uint8_t out[FERRY_OBJ_HDR_LEN]);
int ferry_object_hdr_decode(const uint8_t *buf, size_t len, struct ferry_object_hdr *h) FERRY_MUST_CHECK;

void ferry_object_footer_encode(const struct ferry_object_footer *f, uint8_t out[FERRY_OBJ_FOOTER_LEN]);
/* Checks magic, version and that the index lies inside an object of object_size bytes. */
int ferry_object_footer_decode(const uint8_t *buf, size_t len, uint64_t object_size,
			       struct ferry_object_footer *f) FERRY_MUST_CHECK;

/*
 * The most chunks an object of object_size bytes can hold (a frame header and an index
 * entry each): the bound ferry_object_footer_decode() applies, for readers that know
 * only an object's size (verify without --read-data).
 */
uint64_t ferry_object_max_chunks(uint64_t object_size);

void ferry_index_entry_encode(const struct ferry_index_entry *e, uint8_t out[FERRY_INDEX_ENTRY_LEN]);
/*
 * Decodes and checks a whole index (count entries at buf) against its footer:
 * hash, frames contiguous from the header, ending at the index. Fills entries[count].
 */
int ferry_index_decode(const uint8_t hdr[FERRY_OBJ_HDR_LEN], const uint8_t *buf, size_t len,
		       const struct ferry_object_footer *f, struct ferry_index_entry *entries) FERRY_MUST_CHECK;
/* xxh3-64 over header then index bytes, as stored in the footer. */
uint64_t ferry_index_hash(const uint8_t hdr[FERRY_OBJ_HDR_LEN], const uint8_t *index, size_t len);

/* ---- frames ---- */

struct ferry_codec; /* per-worker state: zstd contexts, cipher context, scratch */

/*
 * level: 0 for no compression, 1..19 for zstd. max_chunk: largest plaintext chunk
 * this codec will see (bounds its scratch memory). keys may be NULL for a plain store
 * (then store id is zero); they are copied.
 */
int ferry_codec_create(struct ferry_codec **out, const struct ferry_keys *keys, int level,
		       size_t max_chunk) FERRY_MUST_CHECK;
void ferry_codec_destroy(struct ferry_codec *c);
int ferry_codec_set_level(struct ferry_codec *c, int level) FERRY_MUST_CHECK;

/* Largest frame ferry_frame_encode() can produce for plain_len bytes. */
size_t ferry_frame_bound(size_t plain_len);

/* Streaming xxh128 of a whole file, fed chunk by chunk in order. */
struct ferry_hash128 {
	uint64_t lo, hi;
};
struct ferry_filehash;
struct ferry_filehash *ferry_filehash_create(void);
void ferry_filehash_destroy(struct ferry_filehash *h);
void ferry_filehash_reset(struct ferry_filehash *h);
void ferry_filehash_update(struct ferry_filehash *h, const void *buf, size_t len);
struct ferry_hash128 ferry_filehash_digest(const struct ferry_filehash *h);
struct ferry_hash128 ferry_hash128(const void *buf, size_t len);
void ferry_hash128_encode(struct ferry_hash128 h, uint8_t out[16]);   /* big-endian, as xxhsum prints */
struct ferry_hash128 ferry_hash128_decode(const uint8_t in[16]);

/*
 * Encodes chunk `index` of object `obj` from src[len] into dst (capacity dst_cap,
 * at least ferry_frame_bound(len)). `last` marks the final chunk of the object.
 * When fh is not NULL the plaintext is also fed to it (the file's xxh128).
 */
int ferry_frame_encode(struct ferry_codec *c, const struct ferry_object_hdr *obj, uint32_t index,
		       int last, const void *src, size_t len, void *dst, size_t dst_cap, size_t *out_len,
		       struct ferry_filehash *fh) FERRY_MUST_CHECK;

/* Parsed, unverified frame header. */
struct ferry_frame_info {
	uint8_t flags;
	uint32_t index;
	uint32_t plain_len;
	uint32_t stored_len;
	uint64_t object_tag;
	uint64_t hash;
};
int ferry_frame_peek(const void *frame, size_t len, struct ferry_frame_info *fi) FERRY_MUST_CHECK;

/*
 * Decodes one frame that must be chunk `index` of `obj`; `last` says whether the
 * index says it is the final chunk. Writes the plaintext to dst (capacity dst_cap).
 * Errors: FORMAT/VERSION (not a frame), FOREIGN (other object), ORDER (other position),
 * TRUNCATED (last-chunk flag disagrees, or frame shorter than its header says),
 * AUTH (tag mismatch), CHECKSUM (xxh3 mismatch, or a payload zstd cannot decode to
 * exactly plain_len bytes), TOOBIG (plain_len larger than dst_cap or the codec's max).
 */
int ferry_frame_decode(struct ferry_codec *c, const struct ferry_object_hdr *obj, uint32_t index,
		       int last, const void *frame, size_t frame_len, void *dst, size_t dst_cap,
		       size_t *out_len) FERRY_MUST_CHECK;

/*
 * Decodes a whole object held in memory, calling fn for each chunk in order.
 * Used by tests, fuzzing, and manifest reads. The callback's non-zero return stops
 * the walk and is returned. bad_chunk (may be NULL) receives the failing chunk index.
 */
typedef int (*ferry_chunk_fn)(void *arg, uint32_t index, const void *plain, size_t len);
int ferry_object_decode_mem(struct ferry_codec *c, const void *obj, size_t len, ferry_chunk_fn fn,
			    void *arg, uint32_t *bad_chunk) FERRY_MUST_CHECK;

/* Bounded in-memory object writer, for manifests and tests. */
struct ferry_objbuf {
	uint8_t *data;
	size_t len;
};
int ferry_object_encode_mem(struct ferry_codec *c, int encrypted, const void *src, size_t len,
			    size_t chunk_size, struct ferry_objbuf *out,
			    struct ferry_object_hdr *hdr_out) FERRY_MUST_CHECK;
void ferry_objbuf_free(struct ferry_objbuf *b);

/* ---- store config (FORMAT.md §5) ---- */

#define FERRY_KDF_NONE 0
#define FERRY_KDF_SCRYPT 1
#define FERRY_KDF_KEYFILE 2

#define FERRY_CFG_ENCRYPTED 0x0001u

struct ferry_store_config {
	uint16_t version;
	uint16_t flags;
	uint8_t store_id[FERRY_ID_LEN];
	uint32_t chunk_size;
	uint8_t level; /* 0 = none */
	uint8_t kdf;
	uint8_t scrypt_log2n;
	uint32_t scrypt_r;
	uint32_t scrypt_p;
	uint8_t salt[32];
	uint8_t wrap_nonce[12];
	uint8_t wrapped_key[FERRY_KEY_LEN + FERRY_TAG_LEN];
	uint64_t created; /* unix seconds */
};

/* Default scrypt cost: about half a second on one core of this machine kind. */
#define FERRY_SCRYPT_LOG2N_DEFAULT 17
#define FERRY_SCRYPT_R_DEFAULT 8
#define FERRY_SCRYPT_P_DEFAULT 1
#define FERRY_SCRYPT_LOG2N_MAX 22 /* 4 GiB at r=8: the most a hostile config may ask */

/* A secret the user gave: a passphrase (kdf scrypt) or a 32-byte key file's bytes. */
struct ferry_secret {
	int kdf; /* FERRY_KDF_SCRYPT or FERRY_KDF_KEYFILE */
	const uint8_t *bytes;
	size_t len;
};

/*
 * Fills a new config: random store id; when secret is not NULL, a random data key
 * wrapped under the key derived from it (keys_out gets the unwrapped keys).
 * log2n 0 means the default cost.
 */
int ferry_config_create(struct ferry_store_config *cfg, uint32_t chunk_size, int level,
			const struct ferry_secret *secret, unsigned log2n,
			struct ferry_keys *keys_out) FERRY_MUST_CHECK;
void ferry_config_encode(const struct ferry_store_config *cfg, uint8_t out[FERRY_CONFIG_LEN]);
int ferry_config_decode(const uint8_t *buf, size_t len, struct ferry_store_config *cfg) FERRY_MUST_CHECK;
/* Unwraps the data key. FERRY_E_KEY for a wrong secret, FERRY_E_INVAL for a secret of the wrong kind. */
int ferry_config_unlock(const struct ferry_store_config *cfg, const struct ferry_secret *secret,
			struct ferry_keys *keys) FERRY_MUST_CHECK;

/* scrypt through OpenSSL's EVP_KDF. */
int ferry_scrypt(const void *pass, size_t pass_len, const void *salt, size_t salt_len, uint64_t n,
		 uint32_t r, uint32_t p, void *out, size_t out_len) FERRY_MUST_CHECK;
/* One-shot AES-256-GCM, for key wrapping and known-answer tests. */
int ferry_gcm_seal(const uint8_t key[32], const uint8_t *iv, size_t iv_len, const void *aad,
		   size_t aad_len, const void *pt, size_t len, void *ct, uint8_t tag[16]) FERRY_MUST_CHECK;
int ferry_gcm_open(const uint8_t key[32], const uint8_t *iv, size_t iv_len, const void *aad,
		   size_t aad_len, const void *ct, size_t len, const uint8_t tag[16], void *pt) FERRY_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
