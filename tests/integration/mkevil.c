/*
 * Test helper: writes hostile snapshots into an existing store, and reads or edits the
 * manifests of real ones (for the corruption campaign, tests/integration/corrupt.py).
 * usage: mkevil STORE                         a snapshot of unsafe paths (plain store)
 *        mkevil --newer STORE                 its config with a feature flag this build lacks
 *        mkevil STORE KIND [KEYFILE]          one hostile snapshot named ...-KIND: paths, dup,
 *                                             dupfile, order, size0 ... size6, deep
 *        mkevil --dump STORE SNAPFILE [KEYFILE]        "objecthex size path" per file entry
 *        mkevil --edit STORE SNAPFILE SEED [KEYFILE]   rewrite one data field of one file entry
 * KEYFILE: the store's 32-byte raw key file (encrypted stores).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/codec.h"
#include "ferry/manifest.h"

struct store {
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	struct ferry_codec *c;
};

static int load_store(const char *dir, const char *keyfile, struct store *s)
{
	uint8_t buf[FERRY_CONFIG_LEN + 1], key[33];
	struct ferry_secret sec = { FERRY_KDF_KEYFILE, key, FERRY_KEY_LEN };
	char path[4096];
	size_t n, klen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "rb");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (keyfile) {
		f = fopen(keyfile, "rb");
		if (!f)
			return 1;
		klen = fread(key, 1, sizeof(key), f);
		fclose(f);
		if (klen != FERRY_KEY_LEN)
			return 1;
	}
	if (ferry_config_decode(buf, n, &s->cfg) || ferry_config_unlock(&s->cfg, keyfile ? &sec : NULL, &s->keys) ||
	    ferry_codec_create(&s->c, &s->keys, s->cfg.level, s->cfg.chunk_size)) {
		fprintf(stderr, "mkevil: %s: cannot open the store\n", dir);
		return 1;
	}
	return 0;
}

static int write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	return (!f || fwrite(p, 1, len, f) != len || fclose(f)) ? 1 : 0;
}

/* Encodes m as a manifest object of store s and writes it to path. */
static int write_manifest(struct store *s, const struct ferry_manifest *m, const char *path)
{
	struct ferry_objbuf ob;
	uint8_t *plain;
	size_t plen;
	int rc;

	if (ferry_manifest_encode(m, &plain, &plen) ||
	    ferry_object_encode_mem(s->c, s->keys.encrypted, plain, plen, s->cfg.chunk_size, &ob, NULL)) {
		fprintf(stderr, "mkevil: cannot encode the manifest\n");
		return 1;
	}
	rc = write_file(path, ob.data, ob.len);
	ferry_objbuf_free(&ob);
	free(plain);
	return rc;
}

struct grow {
	uint8_t *p;
	size_t len;
};

static int collect(void *arg, uint32_t index, const void *plain, size_t len)
{
	struct grow *g = arg;
	uint8_t *np = realloc(g->p, g->len + len + 1);
	(void)index;
	if (!np)
		return FERRY_E_NOMEM;
	memcpy(np + g->len, plain, len);
	g->p = np;
	g->len += len;
	return 0;
}

static int read_manifest(struct store *s, const char *path, struct ferry_manifest *m)
{
	struct grow obj = { NULL, 0 }, plain = { NULL, 0 };
	uint8_t tmp[65536];
	size_t n;
	int err;
	FILE *f = fopen(path, "rb");

	if (!f)
		return 1;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (collect(&obj, 0, tmp, n))
			break;
	fclose(f);
	err = ferry_object_decode_mem(s->c, obj.p, obj.len, collect, &plain, NULL);
	if (!err)
		err = ferry_manifest_decode(plain.p, plain.len, m);
	free(obj.p);
	free(plain.p);
	if (err)
		fprintf(stderr, "mkevil: %s: cannot read the manifest (error %d)\n", path, err);
	return err ? 1 : 0;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static int dump(struct store *s, const char *snap)
{
	struct ferry_manifest m;
	char h[2 * FERRY_ID_LEN + 1];

	if (read_manifest(s, snap, &m))
		return 1;
	for (size_t i = 0; i < m.count; i++) {
		const struct ferry_entry *e = &m.entries[i];
		if (e->type != FERRY_ENTRY_FILE || !e->size)
			continue;
		hex(e->object_id, FERRY_ID_LEN, h);
		printf("%s %" PRIu64 " %s\n", h, e->size, e->path);
	}
	ferry_manifest_free(&m);
	return 0;
}

/* splitmix64: a small, well-mixed generator so a seed names one edit */
static uint64_t next_rand(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Changes one field that decides a file's bytes (never only its metadata: a changed
 * mtime is a valid manifest), re-encodes the manifest validly and writes it back, so
 * only the data checks can catch it. Prints the path and the edit.
 */
static int edit(struct store *s, const char *snap, uint64_t seed)
{
	struct ferry_manifest m;
	size_t files = 0, pick, i;
	uint64_t r = seed;
	const char *what;

	if (read_manifest(s, snap, &m))
		return 1;
	for (i = 0; i < m.count; i++)
		files += m.entries[i].type == FERRY_ENTRY_FILE && m.entries[i].size;
	if (!files) {
		fprintf(stderr, "mkevil: no file to edit\n");
		return 1;
	}
	pick = next_rand(&r) % files;
	for (i = 0; i < m.count; i++)
		if (m.entries[i].type == FERRY_ENTRY_FILE && m.entries[i].size && !pick--)
			break;
	struct ferry_entry *e = &m.entries[i];
	switch (next_rand(&r) % 7) {
	case 0: e->hash[next_rand(&r) % 16] ^= (uint8_t)(1u << (next_rand(&r) % 8)); what = "hash"; break;
	case 1: e->size += 1 + next_rand(&r) % 4096; what = "size+"; break;
	case 2: e->size -= 1 + next_rand(&r) % e->size; what = "size-"; if (!e->size) e->size = 1; break;
	case 3: e->first_chunk += 1 + (uint32_t)(next_rand(&r) % 3); what = "first_chunk"; break;
	case 4: e->chunk_offset += 1 + (uint32_t)(next_rand(&r) % 100); what = "chunk_offset"; break;
	case 5: e->object_id[next_rand(&r) % FERRY_ID_LEN] ^= 0x40; what = "object_id"; break;
	default: {
		/* point the file at another file's object and chunks (a plausible, wrong location) */
		size_t j = (i + 1 + next_rand(&r) % (m.count - 1)) % m.count;
		for (size_t k = 0; k < m.count; k++, j = (j + 1) % m.count) {
			struct ferry_entry *o = &m.entries[j];
			if (j != i && o->type == FERRY_ENTRY_FILE && o->size &&
			    memcmp(o->hash, e->hash, 16) != 0)
				break;
		}
		struct ferry_entry *o = &m.entries[j];
		memcpy(e->object_id, o->object_id, FERRY_ID_LEN);
		e->first_chunk = o->first_chunk;
		e->chunk_offset = o->chunk_offset;
		e->chunk_count = o->chunk_count;
		e->object_size = o->object_size;
		what = "location";
		break;
	}
	}
	printf("%s %s\n", what, e->path);
	int rc = write_manifest(s, &m, snap);
	ferry_manifest_free(&m);
	return rc;
}

/* ---- hostile snapshots ---- */

static int add(struct ferry_manifest *m, uint8_t type, const char *path, const char *target, uint64_t size)
{
	struct ferry_entry e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.mode = type == FERRY_ENTRY_SYMLINK ? 0777 : type == FERRY_ENTRY_DIR ? 0755 : 0644;
	e.path = (char *)path;
	e.target = (char *)target;
	e.size = size;
	ferry_hash128_encode(ferry_hash128("", 0), e.hash); /* empty files: no object needed */
	if (ferry_manifest_add(m, &e)) {
		fprintf(stderr, "mkevil: cannot add %s\n", path);
		return 1;
	}
	return 0;
}

/* One real small object in the store, so hostile entries can point at actual chunks. */
static int real_object(struct store *s, const char *dir, struct ferry_entry *e)
{
	static const char text[] = "real bytes of a real object\n";
	struct ferry_objbuf ob;
	struct ferry_object_hdr h;
	char hx[2 * FERRY_ID_LEN + 1], path[4096];

	if (ferry_object_encode_mem(s->c, s->keys.encrypted, text, sizeof(text) - 1, s->cfg.chunk_size, &ob, &h))
		return 1;
	hex(h.object_id, FERRY_ID_LEN, hx);
	snprintf(path, sizeof(path), "%s/data", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/data/%.2s", dir, hx);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/data/%.2s/%s", dir, hx, hx);
	int rc = write_file(path, ob.data, ob.len);
	memcpy(e->object_id, h.object_id, FERRY_ID_LEN);
	e->chunk_count = 1;
	e->object_size = ob.len;
	e->size = sizeof(text) - 1;
	ferry_hash128_encode(ferry_hash128(text, sizeof(text) - 1), e->hash);
	ferry_objbuf_free(&ob);
	return rc;
}

static int hostile(struct store *s, const char *dir, const char *kind)
{
	struct ferry_manifest m;
	struct ferry_entry e;
	char path[4096];
	int rc = 0;

	ferry_manifest_init(&m);
	if (!strcmp(kind, "paths")) {
		/* in walk order, so the reader gets as far as judging each path */
		rc |= add(&m, FERRY_ENTRY_FILE, "/tmp/ferry-evil-absolute", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "../ferry-evil-dotdot", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_SYMLINK, "escape", "..", 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "escape/ferry-evil-through-link", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "fine.txt", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "ok/../../ferry-evil-dotdot2", NULL, 0);
	} else if (!strcmp(kind, "dup")) {
		/* the same name as a symlink out of DST, then as a directory with a file below it */
		rc |= add(&m, FERRY_ENTRY_SYMLINK, "d", "../outside", 0);
		rc |= add(&m, FERRY_ENTRY_DIR, "d", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "d/ferry-evil-dup", NULL, 0);
	} else if (!strcmp(kind, "dupfile")) {
		/* a symlink out of DST, then a file of the same name (written through the link?) */
		rc |= add(&m, FERRY_ENTRY_FILE, "a.txt", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_SYMLINK, "f", "../outside/ferry-evil-dupfile", 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "f", NULL, 0);
	} else if (!strcmp(kind, "order")) {
		rc |= add(&m, FERRY_ENTRY_FILE, "b.txt", NULL, 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "a.txt", NULL, 0);
	} else if (!strncmp(kind, "size", 4) && kind[4] >= '0' && kind[4] <= '6' && !kind[5]) {
		/* a real object, then an entry pointing at it with an absurd size, count or offset, or
		 * one just past its end (a decodable manifest: only the object can refute it) */
		static const char *names[] = { "far-chunk", "far-offset", "huge-count", "huge-size",
					       "max-size",  "beyond-end", "beyond-chunk" };
		int i = kind[4] - '0';
		memset(&e, 0, sizeof(e));
		if (real_object(s, dir, &e))
			return 1;
		e.type = FERRY_ENTRY_FILE;
		e.mode = 0644;
		struct ferry_entry x = e;
		x.path = (char *)names[i];
		if (i == 0) x.first_chunk = UINT32_MAX - 1;
		if (i == 1) x.chunk_offset = UINT32_MAX - 10;
		if (i == 2) x.chunk_count = UINT32_MAX;
		if (i == 3) x.size = 1ull << 50;
		if (i == 4) x.size = UINT64_MAX;
		if (i == 5) x.first_chunk = 1; /* the object has one chunk */
		if (i == 6) x.chunk_offset = s->cfg.chunk_size; /* past the end of its first chunk */
		e.path = "ok.txt";
		if (ferry_manifest_add(&m, &x) || ferry_manifest_add(&m, &e))
			rc = 1;
	} else if (!strcmp(kind, "deep")) {
		/* a path of 2,000 components (the format's longest) and a directory chain */
		static char deep[FERRY_PATH_MAX + 1];
		size_t n = 0;
		while (n + 2 < FERRY_PATH_MAX - 1) {
			deep[n++] = 'a';
			deep[n++] = '/';
		}
		deep[n++] = 'z';
		deep[n] = 0;
		rc |= add(&m, FERRY_ENTRY_FILE, deep, NULL, 0);
		rc |= add(&m, FERRY_ENTRY_FILE, "fine.txt", NULL, 0);
	} else {
		fprintf(stderr, "mkevil: unknown kind '%s'\n", kind);
		return 2;
	}
	if (rc)
		return 1;
	snprintf(path, sizeof(path), "%s/snapshots", dir);
	mkdir(path, 0755); /* a new store makes its directories lazily */
	snprintf(path, sizeof(path), "%s/snapshots/29990101T000000Z-%s", dir, kind);
	rc = write_manifest(s, &m, path);
	ferry_manifest_free(&m);
	return rc;
}

int main(int argc, char **argv)
{
	struct store s;
	int rc;

	if (argc >= 4 && !strcmp(argv[1], "--dump")) {
		if (load_store(argv[2], argc > 4 ? argv[4] : NULL, &s))
			return 1;
		rc = dump(&s, argv[3]);
	} else if (argc >= 5 && !strcmp(argv[1], "--edit")) {
		if (load_store(argv[2], argc > 5 ? argv[5] : NULL, &s))
			return 1;
		rc = edit(&s, argv[3], strtoull(argv[4], NULL, 10));
	} else if (argc == 3 && !strcmp(argv[1], "--newer")) {
		/* the config as a newer ferry might write it: a feature flag this build does not know */
		char path[4096];
		uint8_t buf[FERRY_CONFIG_LEN];
		if (load_store(argv[2], NULL, &s))
			return 1;
		s.cfg.flags |= 0x100;
		ferry_config_encode(&s.cfg, buf);
		snprintf(path, sizeof(path), "%s/config", argv[2]);
		rc = write_file(path, buf, sizeof(buf));
	} else if (argc >= 2 && argv[1][0] != '-') {
		if (load_store(argv[1], argc > 3 ? argv[3] : NULL, &s))
			return 1;
		rc = hostile(&s, argv[1], argc > 2 ? argv[2] : "paths");
	} else {
		fprintf(stderr, "usage: mkevil STORE [KIND [KEYFILE]] | --dump STORE SNAP [KEYFILE] | "
				"--edit STORE SNAP SEED [KEYFILE] | --newer STORE\n");
		return 2;
	}
	ferry_codec_destroy(s.c);
	ferry_keys_wipe(&s.keys);
	return rc;
}
