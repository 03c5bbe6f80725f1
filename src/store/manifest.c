/* Snapshot manifest encoding: a header, then fixed-size entry records each followed by its strings. */
#include <stdlib.h>
#include <string.h>

#include "ferry/manifest.h"
#include "../codec/bytes.h"

static const uint8_t man_magic[4] = { 'F', 'R', 'Y', 'M' };
#define MAN_VERSION 1

void ferry_manifest_init(struct ferry_manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void ferry_manifest_free(struct ferry_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++) {
		free(m->entries[i].path);
		free(m->entries[i].target);
	}
	free(m->entries);
	ferry_manifest_init(m);
}

int ferry_manifest_add(struct ferry_manifest *m, const struct ferry_entry *e)
{
	struct ferry_entry *ne;

	if (!e->path || !*e->path || strlen(e->path) > FERRY_PATH_MAX ||
	    (e->target && strlen(e->target) > FERRY_PATH_MAX))
		return FERRY_E_TOOBIG;
	if (m->count == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		ne = realloc(m->entries, ncap * sizeof(*ne));
		if (!ne)
			return FERRY_E_NOMEM;
		m->entries = ne;
		m->cap = ncap;
	}
	ne = &m->entries[m->count];
	*ne = *e;
	ne->path = strdup(e->path);
	ne->target = e->target ? strdup(e->target) : NULL;
	if (!ne->path || (e->target && !ne->target)) {
		free(ne->path);
		free(ne->target);
		return FERRY_E_NOMEM;
	}
	m->count++;
	return FERRY_OK;
}

int ferry_manifest_encode(const struct ferry_manifest *m, uint8_t **out, size_t *len)
{
	size_t total = FERRY_MANIFEST_HDR_LEN;
	uint8_t *buf, *p;

	for (size_t i = 0; i < m->count; i++)
		total += FERRY_ENTRY_FIXED_LEN + strlen(m->entries[i].path) +
			 (m->entries[i].target ? strlen(m->entries[i].target) : 0);
	buf = malloc(total);
	if (!buf)
		return FERRY_E_NOMEM;
	memcpy(buf, man_magic, 4);
	put_le32(buf + 4, MAN_VERSION);
	put_le64(buf + 8, m->created);
	put_le64(buf + 16, m->count);
	p = buf + FERRY_MANIFEST_HDR_LEN;
	for (size_t i = 0; i < m->count; i++) {
		const struct ferry_entry *e = &m->entries[i];
		size_t pl = strlen(e->path), tl = e->target ? strlen(e->target) : 0;

		p[0] = e->type;
		p[1] = 0;
		put_le16(p + 2, (uint16_t)pl);
		put_le32(p + 4, e->mode);
		put_le64(p + 8, (uint64_t)e->mtime_sec);
		put_le32(p + 16, e->mtime_nsec);
		put_le32(p + 20, 0);
		put_le64(p + 24, e->size);
		memcpy(p + 32, e->hash, 16);
		memcpy(p + 48, e->object_id, FERRY_ID_LEN);
		put_le32(p + 64, e->first_chunk);
		put_le32(p + 68, e->chunk_count);
		put_le64(p + 72, e->object_size);
		put_le16(p + 80, (uint16_t)tl);
		put_le16(p + 82, 0);
		memcpy(p + FERRY_ENTRY_FIXED_LEN, e->path, pl);
		if (tl)
			memcpy(p + FERRY_ENTRY_FIXED_LEN + pl, e->target, tl);
		p += FERRY_ENTRY_FIXED_LEN + pl + tl;
	}
	*out = buf;
	*len = total;
	return FERRY_OK;
}

static char *dup_field(const uint8_t *p, size_t n)
{
	char *s;

	if (memchr(p, 0, n))
		return NULL;
	s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

int ferry_manifest_decode(const uint8_t *buf, size_t len, struct ferry_manifest *m)
{
	const uint8_t *p = buf + FERRY_MANIFEST_HDR_LEN, *end = buf + len;
	uint64_t count;
	int err = FERRY_OK;

	ferry_manifest_init(m);
	if (len < FERRY_MANIFEST_HDR_LEN)
		return FERRY_E_TRUNCATED;
	if (memcmp(buf, man_magic, 4) != 0)
		return FERRY_E_FORMAT;
	if (get_le32(buf + 4) != MAN_VERSION)
		return FERRY_E_VERSION;
	m->created = get_le64(buf + 8);
	count = get_le64(buf + 16);
	/* every entry takes at least its fixed part plus one path byte: bound before allocating */
	if (count > (len - FERRY_MANIFEST_HDR_LEN) / (FERRY_ENTRY_FIXED_LEN + 1))
		return FERRY_E_FORMAT;
	m->entries = calloc(count ? count : 1, sizeof(*m->entries));
	if (!m->entries)
		return FERRY_E_NOMEM;
	m->cap = count;
	for (uint64_t i = 0; i < count; i++) {
		struct ferry_entry *e = &m->entries[i];
		size_t pl, tl;

		if ((size_t)(end - p) < FERRY_ENTRY_FIXED_LEN) {
			err = FERRY_E_TRUNCATED;
			break;
		}
		e->type = p[0];
		pl = get_le16(p + 2);
		e->mode = get_le32(p + 4);
		e->mtime_sec = (int64_t)get_le64(p + 8);
		e->mtime_nsec = get_le32(p + 16);
		e->size = get_le64(p + 24);
		memcpy(e->hash, p + 32, 16);
		memcpy(e->object_id, p + 48, FERRY_ID_LEN);
		e->first_chunk = get_le32(p + 64);
		e->chunk_count = get_le32(p + 68);
		e->object_size = get_le64(p + 72);
		tl = get_le16(p + 80);
		if (p[1] || get_le32(p + 20) || get_le16(p + 82) || pl == 0 || pl > FERRY_PATH_MAX ||
		    tl > FERRY_PATH_MAX || e->mode > 07777 || e->mtime_nsec >= 1000000000u ||
		    e->type < FERRY_ENTRY_FILE || e->type > FERRY_ENTRY_SYMLINK ||
		    (e->type == FERRY_ENTRY_SYMLINK) != (tl > 0) ||
		    (e->type != FERRY_ENTRY_FILE && (e->chunk_count || e->size)) ||
		    (e->type == FERRY_ENTRY_FILE && (e->size > 0) != (e->chunk_count > 0)) ||
		    (e->chunk_count && (uint64_t)e->first_chunk + e->chunk_count > FERRY_OBJ_MAX_CHUNKS) ||
		    (e->chunk_count && e->size > (uint64_t)e->chunk_count * FERRY_CHUNK_MAX)) {
			err = FERRY_E_FORMAT;
			break;
		}
		if ((size_t)(end - p) < FERRY_ENTRY_FIXED_LEN + pl + tl) {
			err = FERRY_E_TRUNCATED;
			break;
		}
		e->path = dup_field(p + FERRY_ENTRY_FIXED_LEN, pl);
		e->target = tl ? dup_field(p + FERRY_ENTRY_FIXED_LEN + pl, tl) : NULL;
		m->count = i + 1; /* so free() releases what was duplicated */
		if (!e->path || (tl && !e->target)) {
			err = FERRY_E_FORMAT; /* embedded NUL, or out of memory: both refuse the manifest */
			break;
		}
		p += FERRY_ENTRY_FIXED_LEN + pl + tl;
	}
	if (!err && p != end)
		err = FERRY_E_FORMAT;
	if (err)
		ferry_manifest_free(m);
	return err;
}

int ferry_path_safe(const char *path)
{
	const char *p = path;

	if (!*p || *p == '/')
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/') {
			p++;
			if (!*p)
				return 0; /* trailing slash */
		}
	}
	return 1;
}
