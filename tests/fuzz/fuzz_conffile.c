/* libFuzzer target: the ferry.conf INI parser (through inih) and the unit grammar it reads, on arbitrary bytes. */
#include <math.h>
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
	/* the unit grammar on the same bytes, NUL-terminated: the whole-number readers
	 * and the planner's agree, and a timetable comes out sorted and in range */
	char *s = malloc(size + 1);
	if (s) {
		struct ferry_timetable t;
		double d;

		memcpy(s, data, size);
		s[size] = 0;
		if (ferry_parse_size(s, &sz) == 0 &&
		    (ferry_plan_parse_bytes(s, &d) || fabs(d - (double)sz) > 1 + 1e-12 * (double)sz))
			abort();
		if (ferry_parse_duration(s, &sz) == 0 && (sz < 1 || ferry_plan_parse_duration(s, &d) || d < (double)sz - 1e-6))
			abort();
		(void)ferry_parse_rate(s, &sz);
		if (ferry_parse_timetable(s, &t, msg, sizeof(msg)) == 0) {
			if (t.n < 1 || t.n > FERRY_TIMETABLE_MAX)
				abort();
			for (unsigned i = 0; i < t.n; i++)
				if (t.p[i].minute < 0 || t.p[i].minute >= 1440 || (i && t.p[i].minute <= t.p[i - 1].minute) ||
				    (t.p[i].rate && t.p[i].rate < FERRY_RATE_MIN))
					abort();
		} else if (!msg[0] || (strchr(msg, '\n') && !strchr(s, '\n'))) {
			abort(); /* a refusal says why, on one line (unless it quotes a value with a newline) */
		}
		free(s);
	}
	return 0;
}
