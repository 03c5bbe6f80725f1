/* The text of a lock object (locks/<id>, docs/OPERATIONS.md): encoded and parsed here, nowhere else. */
#ifndef FERRY_LOCKFMT_H
#define FERRY_LOCKFMT_H

#include <stddef.h>
#include <stdint.h>

#define LOCK_MAX_BYTES 4096

struct lock_info {
	char key[96]; /* locks/<id>: not in the text, the object's name */
	char id[40], kind[16], group[72], command[32], host[256];
	long pid;
	unsigned long long pidstart; /* the process's start time, clock ticks since boot (0: unknown) */
	int64_t started, heartbeat;  /* unix seconds */
	uint64_t stale_after;        /* seconds, the holder's timeout */
};

/* Writes l as text into buf (at most cap - 1 bytes); *len gets the length. */
void lock_encode(const struct lock_info *l, char *buf, size_t cap, size_t *len);
/* Parses bytes read from a store (untrusted: every field is bounded). 0, or -1 when they are
 * not a lock (no magic line, no kind, no heartbeat). Leaves l->key alone. */
int lock_decode(const uint8_t *buf, size_t len, struct lock_info *l);

#endif
