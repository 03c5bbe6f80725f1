/* Fixed keys and ids shared by the fuzz targets and make_seeds.c, so seeds decode under the fuzzers. */
#ifndef FERRY_FUZZ_KEYS_H
#define FERRY_FUZZ_KEYS_H

#include <string.h>

#include "ferry/codec.h"

#define FUZZ_STORE_ID "ferry-fuzz-store"
#define FUZZ_DATA_KEY "ferry-fuzz-data-key-32-bytes-v1!"
#define FUZZ_HASH_SEED 0x6465657373727a66ull /* "fzrsseed" */
#define FUZZ_KEYFILE "ferry-fuzz-keyfile-bytes-32-v1!!" /* the key file a KEYFILE config is unlocked with */
#define FUZZ_PASSPHRASE "ferry fuzz passphrase"
#define FUZZ_OBJECT_ID "fuzz-object-id-1" /* object id and nonce prefix of the bare frame seeds */
#define FUZZ_NONCE_PREFIX "nonce-7"

_Static_assert(sizeof(FUZZ_STORE_ID) == FERRY_ID_LEN + 1, "store id is 16 bytes");
_Static_assert(sizeof(FUZZ_DATA_KEY) == FERRY_KEY_LEN + 1, "data key is 32 bytes");
_Static_assert(sizeof(FUZZ_KEYFILE) == FERRY_KEY_LEN + 1, "key file is 32 bytes");
_Static_assert(sizeof(FUZZ_OBJECT_ID) == FERRY_ID_LEN + 1, "object id is 16 bytes");
_Static_assert(sizeof(FUZZ_NONCE_PREFIX) == FERRY_NONCE_PREFIX_LEN + 1, "nonce prefix is 7 bytes");

/* Largest chunk the fuzz codecs accept: the default chunk size, as a real store has. */
#define FUZZ_MAX_CHUNK FERRY_CHUNK_DEFAULT

/* The keys of the encrypted store every encrypted seed belongs to. */
static inline void fuzz_keys(struct ferry_keys *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->store_id, FUZZ_STORE_ID, FERRY_ID_LEN);
	k->encrypted = 1;
	memcpy(k->data_key, FUZZ_DATA_KEY, FERRY_KEY_LEN);
	k->hash_seed = FUZZ_HASH_SEED;
}

#endif
