/*
 * Snapshot manifest encoding: a header, fixed-size entry records each followed by its
 * strings, and a trailer with the count, so a manifest can be written and read as a
 * stream of chunks without holding it whole.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/manifest.h"
#include "bytes.h"

static const uint8_t man_magic[4] = { 'F', 'R', 'Y', 'M' };
static const uint8_t end_magic[4] = { 'F', 'R', 'Y', 'E' };
#define MAN_VERSION 1

void ferry_manifest_header_encode(uint64_t created, uint8_t out[FERRY_MANIFEST_HDR_LEN])
{
	memcpy(out, man_magic, 4);
	put_le32(out + 4, MAN_VERSION);
	put_le64(out + 8, created);
	put_le64(out + 16, 0);
}

int ferry_manifest_header_decode(const uint8_t *p, size_t len, uint64_t *created)
{
	if (len < FERRY_MANIFEST_HDR_LEN)
		return FERRY_E_TRUNCATED;
	if (memcmp(p, man_magic, 4) != 0)
		return FERRY_E_FORMAT;
	if (get_le32(p + 4) != MAN_VERSION)
		return FERRY_E_VERSION;
	if (get_le64(p + 16) != 0)
		return FERRY_E_UNSUPPORTED;
	*created = get_le64(p + 8);
	return FERRY_OK;
}

void ferry_manifest_trailer_encode(uint64_t count, uint8_t out[FERRY_MANIFEST_TRAILER_LEN])
{
	put_le64(out, count);
	put_le32(out + 8, 0);
	memcpy(out + 12, end_magic, 4);
}

int ferry_manifest_trailer_decode(const uint8_t *p, size_t len, uint64_t *count)
{
	if (len < FERRY_MANIFEST_TRAILER_LEN || memcmp(p + 12, end_magic, 4) != 0)
		return FERRY_E_TRUNCATED;
	if (get_le32(p + 8) != 0)
		return FERRY_E_FORMAT;
	*count = get_le64(p);
	return FERRY_OK;
}

size_t ferry_entry_size(const struct ferry_entry *e)
{
	size_t pl = e->path ? strlen(e->path) : 0, tl = e->target ? strlen(e->target) : 0;

	if (pl == 0 || pl > FERRY_PATH_MAX || tl > FERRY_PATH_MAX || (e->target && tl == 0))
		return 0;
	return FERRY_ENTRY_FIXED_LEN + pl + tl;
}

void ferry_entry_encode(const struct ferry_entry *e, uint8_t *p)
{
	size_t pl = strlen(e->path), tl = e->target ? strlen(e->target) : 0;

	p[0] = e->type;
	p[1] = 0;
	put_le16(p + 2, (uint16_t)pl);
	put_le32(p + 4, e->mode);
	put_le64(p + 8, (uint64_t)e->mtime_sec);
	put_le32(p + 16, e->mtime_nsec);
	put_le32(p + 20, e->chunk_offset);
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
}

int ferry_entry_decode(const uint8_t *p, size_t avail, struct ferry_entry *e, char *strs, size_t *used)
{
	size_t pl, tl;

	if (avail < FERRY_ENTRY_FIXED_LEN)
		return FERRY_E_TRUNCATED;
	memset(e, 0, sizeof(*e));
	e->type = p[0];
	pl = get_le16(p + 2);
	e->mode = get_le32(p + 4);
	e->mtime_sec = (int64_t)get_le64(p + 8);
	e->mtime_nsec = get_le32(p + 16);
	e->chunk_offset = get_le32(p + 20);
	e->size = get_le64(p + 24);
	memcpy(e->hash, p + 32, 16);
	memcpy(e->object_id, p + 48, FERRY_ID_LEN);
	e->first_chunk = get_le32(p + 64);
	e->chunk_count = get_le32(p + 68);
	e->object_size = get_le64(p + 72);
	tl = get_le16(p + 80);
	if (p[1] || get_le16(p + 82) || pl == 0 || pl > FERRY_PATH_MAX || tl > FERRY_PATH_MAX || e->mode > 07777 ||
	    e->mtime_nsec >= 1000000000u || e->type < FERRY_ENTRY_FILE || e->type > FERRY_ENTRY_SYMLINK ||
	    (e->type == FERRY_ENTRY_SYMLINK) != (tl > 0) ||
	    (e->type != FERRY_ENTRY_FILE && (e->chunk_count || e->size || e->chunk_offset)) ||
	    (e->type == FERRY_ENTRY_FILE && (e->size > 0) != (e->chunk_count > 0)) ||
	    e->chunk_offset >= FERRY_CHUNK_MAX ||
	    (e->chunk_count && (uint64_t)e->first_chunk + e->chunk_count > FERRY_OBJ_MAX_CHUNKS) ||
	    (e->chunk_count && e->size > (uint64_t)e->chunk_count * FERRY_CHUNK_MAX))
		return FERRY_E_FORMAT;
	if (avail < FERRY_ENTRY_FIXED_LEN + pl + tl)
		return FERRY_E_TRUNCATED;
	if (memchr(p + FERRY_ENTRY_FIXED_LEN, 0, pl + tl))
		return FERRY_E_FORMAT;
	memcpy(strs, p + FERRY_ENTRY_FIXED_LEN, pl);
	strs[pl] = 0;
	e->path = strs;
	if (tl) {
		memcpy(strs + pl + 1, p + FERRY_ENTRY_FIXED_LEN + pl, tl);
		strs[pl + 1 + tl] = 0;
		e->target = strs + pl + 1;
	}
	*used = FERRY_ENTRY_FIXED_LEN + pl + tl;
	return FERRY_OK;
}

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

	if (!ferry_entry_size(e))
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
	size_t total = FERRY_MANIFEST_HDR_LEN + FERRY_MANIFEST_TRAILER_LEN;
	uint8_t *buf, *p;

	for (size_t i = 0; i < m->count; i++) {
		size_t n = ferry_entry_size(&m->entries[i]);
		if (!n)
			return FERRY_E_TOOBIG;
		total += n;
	}
	buf = malloc(total);
	if (!buf)
		return FERRY_E_NOMEM;
	ferry_manifest_header_encode(m->created, buf);
	p = buf + FERRY_MANIFEST_HDR_LEN;
	for (size_t i = 0; i < m->count; i++) {
		ferry_entry_encode(&m->entries[i], p);
		p += ferry_entry_size(&m->entries[i]);
	}
	ferry_manifest_trailer_encode(m->count, p);
	*out = buf;
	*len = total;
	return FERRY_OK;
}

int ferry_manifest_decode(const uint8_t *buf, size_t len, struct ferry_manifest *m)
{
	uint64_t count, n = 0;
	const uint8_t *p, *end;
	char *strs;
	int err;

	ferry_manifest_init(m);
	err = ferry_manifest_header_decode(buf, len, &m->created);
	if (err)
		return err;
	if (len < FERRY_MANIFEST_HDR_LEN + FERRY_MANIFEST_TRAILER_LEN)
		return FERRY_E_TRUNCATED;
	err = ferry_manifest_trailer_decode(buf + len - FERRY_MANIFEST_TRAILER_LEN, FERRY_MANIFEST_TRAILER_LEN,
					    &count);
	if (err)
		return err;
	p = buf + FERRY_MANIFEST_HDR_LEN;
	end = buf + len - FERRY_MANIFEST_TRAILER_LEN;
	/* every entry takes at least its fixed part plus one path byte: bound before allocating */
	if (count > (size_t)(end - p) / (FERRY_ENTRY_FIXED_LEN + 1))
		return FERRY_E_FORMAT;
	strs = malloc(2 * (FERRY_PATH_MAX + 1));
	if (!strs)
		return FERRY_E_NOMEM;
	while (p < end) {
		struct ferry_entry e;
		size_t used;

		err = ferry_entry_decode(p, (size_t)(end - p), &e, strs, &used);
		if (err == FERRY_E_TRUNCATED)
			err = FERRY_E_FORMAT; /* the trailer is where the entries must end */
		if (!err && n == count)
			err = FERRY_E_FORMAT;
		if (!err)
			err = ferry_manifest_add(m, &e);
		if (err)
			break;
		p += used;
		n++;
	}
	free(strs);
	if (!err && n != count)
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
