/* libFuzzer target: the lock object parser (locks/<id>, read from a store), on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lock_info a, b;
	char buf[LOCK_MAX_BYTES + 512];
	size_t len;

	memset(&a, 0, sizeof(a));
	if (lock_decode(data, size, &a) != 0)
		return 0;
	/* every string field is terminated inside its array */
	if (!memchr(a.id, 0, sizeof(a.id)) || !memchr(a.kind, 0, sizeof(a.kind)) ||
	    !memchr(a.group, 0, sizeof(a.group)) || !memchr(a.command, 0, sizeof(a.command)) ||
	    !memchr(a.host, 0, sizeof(a.host)))
		abort();
	/* what parsed, written back, parses to the same lock */
	lock_encode(&a, buf, sizeof(buf), &len);
	memset(&b, 0, sizeof(b));
	if (lock_decode((const uint8_t *)buf, len, &b) != 0)
		abort();
	if (strcmp(a.id, b.id) || strcmp(a.kind, b.kind) || strcmp(a.group, b.group) || strcmp(a.command, b.command) ||
	    strcmp(a.host, b.host) || a.pid != b.pid || a.pidstart != b.pidstart || a.started != b.started ||
	    a.heartbeat != b.heartbeat || a.stale_after != b.stale_after)
		abort();
	return 0;
}
