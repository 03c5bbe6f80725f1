/* libFuzzer target: snapshot manifest decoding (whole and one entry at a time) and path checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_manifest m;
	static char strs[2 * (FERRY_PATH_MAX + 1)];
	uint8_t *again;
	size_t len;

	if (ferry_manifest_decode(data, size, &m) == FERRY_OK) {
		/* what decodes re-encodes to the same bytes */
		if (ferry_manifest_encode(&m, &again, &len) != FERRY_OK)
			abort();
		if (len != size || memcmp(again, data, size) != 0)
			abort();
		free(again);
		for (size_t i = 0; i < m.count; i++)
			(void)ferry_path_safe(m.entries[i].path);
		ferry_manifest_free(&m);
	}
	/* the streaming decoder on every offset of the input */
	for (size_t off = 0; off < size && off < 4096; off++) {
		struct ferry_entry e;
		size_t used;
		if (ferry_entry_decode(data + off, size - off, &e, strs, &used) == FERRY_OK) {
			if (used > size - off || strlen(e.path) == 0 || strlen(e.path) > FERRY_PATH_MAX)
				abort();
		}
	}
	return 0;
}
