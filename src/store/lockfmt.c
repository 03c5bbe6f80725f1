/* The text of a lock object: "ferry-lock 1" then key=value lines. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockfmt.h"

void lock_encode(const struct lock_info *l, char *buf, size_t cap, size_t *len)
{
	int n = snprintf(buf, cap,
			 "ferry-lock 1\nid=%s\nkind=%s\ngroup=%s\ncommand=%s\nhost=%s\npid=%ld\npidstart=%llu\n"
			 "started=%" PRId64 "\nheartbeat=%" PRId64 "\nstale_after=%" PRIu64 "\n",
			 l->id, l->kind, l->group, l->command, l->host, l->pid, l->pidstart, l->started, l->heartbeat,
			 l->stale_after);
	*len = n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static void field(char *dst, size_t cap, const char *v, size_t vlen)
{
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = 0;
	/* a NUL inside the value would cut it short; a newline cannot be there (lines end at one) */
}

int lock_decode(const uint8_t *buf, size_t len, struct lock_info *l)
{
	const char *p = (const char *)buf, *end = p + len;
	int have_hb = 0;
	char key[96];

	memcpy(key, l->key, sizeof(key));
	memset(l, 0, sizeof(*l));
	memcpy(l->key, key, sizeof(key));
	if (len < 13 || len > LOCK_MAX_BYTES || memcmp(p, "ferry-lock 1\n", 13) != 0)
		return -1;
	p += 13;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eq;

		if (!nl)
			nl = end;
		eq = memchr(p, '=', (size_t)(nl - p));
		if (eq) {
			char num[32];
			size_t klen = (size_t)(eq - p), vlen = (size_t)(nl - eq - 1);
			field(num, sizeof(num), eq + 1, vlen);
#define IS(k) (klen == sizeof(k) - 1 && !memcmp(p, k, klen))
			if (IS("id"))
				field(l->id, sizeof(l->id), eq + 1, vlen);
			else if (IS("kind"))
				field(l->kind, sizeof(l->kind), eq + 1, vlen);
			else if (IS("group"))
				field(l->group, sizeof(l->group), eq + 1, vlen);
			else if (IS("command"))
				field(l->command, sizeof(l->command), eq + 1, vlen);
			else if (IS("host"))
				field(l->host, sizeof(l->host), eq + 1, vlen);
			else if (IS("pid"))
				l->pid = strtol(num, NULL, 10);
			else if (IS("pidstart"))
				l->pidstart = strtoull(num, NULL, 10);
			else if (IS("started"))
				l->started = strtoll(num, NULL, 10);
			else if (IS("heartbeat")) {
				l->heartbeat = strtoll(num, NULL, 10);
				have_hb = 1;
			} else if (IS("stale_after"))
				l->stale_after = strtoull(num, NULL, 10);
#undef IS
		}
		p = nl + 1;
	}
	return have_hb && l->kind[0] ? 0 : -1;
}
