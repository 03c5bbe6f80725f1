/* A set of object ids for prune and repack: an array sorted and deduplicated now and
 * then as it grows (many files share one pack, so the same id arrives in runs). */
#ifndef FERRY_IDSET_H
#define FERRY_IDSET_H

#include <stdlib.h>
#include <string.h>

#include "ferry/codec.h"
#include "ferry/error.h"

struct idset {
	uint8_t *v; /* FERRY_ID_LEN bytes each */
	size_t n, cap, sorted;
};

static inline int idset_cmp(const void *a, const void *b)
{
	return memcmp(a, b, FERRY_ID_LEN);
}

/* Sorts and drops duplicates: many files share one pack, so this keeps the set small. */
static inline void idset_compact(struct idset *s)
{
	size_t w = 0;

	if (s->n == 0)
		return;
	qsort(s->v, s->n, FERRY_ID_LEN, idset_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (memcmp(s->v + i * FERRY_ID_LEN, s->v + w * FERRY_ID_LEN, FERRY_ID_LEN) != 0) {
			w++;
			memmove(s->v + w * FERRY_ID_LEN, s->v + i * FERRY_ID_LEN, FERRY_ID_LEN);
		}
	s->n = w + 1;
	s->sorted = s->n;
}

static inline int idset_add(struct idset *s, const uint8_t *id)
{
	/* the last id added is the commonest repeat (consecutive files in one pack) */
	if (s->n && memcmp(s->v + (s->n - 1) * FERRY_ID_LEN, id, FERRY_ID_LEN) == 0)
		return FERRY_OK;
	if (s->n == s->cap) {
		if (s->n > s->sorted + 65536) {
			idset_compact(s);
			if (s->n < s->cap * 3 / 4)
				goto add;
		}
		size_t ncap = s->cap ? s->cap * 2 : 65536;
		uint8_t *nv = realloc(s->v, ncap * FERRY_ID_LEN);
		if (!nv)
			return FERRY_E_NOMEM;
		s->v = nv;
		s->cap = ncap;
	}
add:
	memcpy(s->v + s->n * FERRY_ID_LEN, id, FERRY_ID_LEN);
	s->n++;
	return FERRY_OK;
}

static inline int idset_has(const struct idset *s, const uint8_t *id)
{
	return s->n && bsearch(id, s->v, s->n, FERRY_ID_LEN, idset_cmp) != NULL;
}

static inline void idset_free(struct idset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

#endif
