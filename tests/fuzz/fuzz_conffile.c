/* libFuzzer target: the ferry.conf INI parser (through inih), on arbitrary bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/codec.h"
#include "ferry/conf.h"
#include "ferry/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_conf c;
	char msg[512];
	uint64_t sz;
	int err;

	if (size > 65536)
		return 0;
	ferry_conf_defaults(&c);
	msg[0] = 0;
	err = ferry_conf_parse(&c, (const char *)data, size, "fuzz.conf", msg, sizeof(msg));
	if (err == FERRY_OK) {
		/* whatever parsed must be within the documented bounds */
		if (c.compress < -1 || c.compress > FERRY_LEVEL_MAX)
			abort();
		if (c.chunk_size && (c.chunk_size < FERRY_CHUNK_MIN || c.chunk_size > FERRY_CHUNK_MAX))
			abort();
		if (c.jobs < 0 || c.jobs > 1024 || (c.memory && c.memory < (16u << 20)))
			abort();
		if (memchr(c.key_file, 0, sizeof(c.key_file)) == NULL ||
		    memchr(c.passphrase_file, 0, sizeof(c.passphrase_file)) == NULL)
			abort();
	} else if (err != FERRY_E_CONFIG || strncmp(msg, "fuzz.conf", 9) != 0) {
		/* every refusal names the file */
		abort();
	}
	/* the size parser on the same bytes, NUL-terminated */
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = 0;
		(void)ferry_parse_size(s, &sz);
		free(s);
	}
	return 0;
}
