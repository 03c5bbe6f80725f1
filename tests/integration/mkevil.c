/*
 * Test helper: writes a hostile snapshot into an existing plain store, with paths a
 * restore must refuse: absolute, '..', and a file reached through a symlink.
 * usage: mkevil STORE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/codec.h"
#include "ferry/manifest.h"

int main(int argc, char **argv)
{
	struct ferry_store_config cfg;
	struct ferry_keys keys;
	struct ferry_codec *c;
	struct ferry_manifest m;
	struct ferry_objbuf ob;
	uint8_t buf[FERRY_CONFIG_LEN + 1], *plain;
	size_t n, plen;
	char path[4096];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: mkevil STORE\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/config", argv[1]);
	f = fopen(path, "rb");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (ferry_config_decode(buf, n, &cfg) || ferry_config_unlock(&cfg, NULL, &keys) ||
	    ferry_codec_create(&c, &keys, 0, cfg.chunk_size)) {
		fprintf(stderr, "mkevil: %s: not a plain ferry store\n", argv[1]);
		return 1;
	}

	static const struct {
		uint8_t type;
		const char *path, *target;
	} ents[] = {
		{ FERRY_ENTRY_FILE, "/tmp/ferry-evil-absolute", NULL },
		{ FERRY_ENTRY_FILE, "../ferry-evil-dotdot", NULL },
		{ FERRY_ENTRY_FILE, "ok/../../ferry-evil-dotdot2", NULL },
		{ FERRY_ENTRY_SYMLINK, "escape", ".." },
		{ FERRY_ENTRY_FILE, "escape/ferry-evil-through-link", NULL },
		{ FERRY_ENTRY_FILE, "fine.txt", NULL },
	};
	ferry_manifest_init(&m);
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		struct ferry_entry e;
		memset(&e, 0, sizeof(e));
		e.type = ents[i].type;
		e.mode = ents[i].type == FERRY_ENTRY_SYMLINK ? 0777 : 0644;
		e.path = (char *)ents[i].path;
		e.target = (char *)ents[i].target;
		ferry_hash128_encode(ferry_hash128("", 0), e.hash); /* empty files: no object needed */
		if (ferry_manifest_add(&m, &e)) {
			fprintf(stderr, "mkevil: cannot add %s\n", e.path);
			return 1;
		}
	}
	if (ferry_manifest_encode(&m, &plain, &plen) ||
	    ferry_object_encode_mem(c, 0, plain, plen, cfg.chunk_size, &ob, NULL)) {
		fprintf(stderr, "mkevil: cannot encode the manifest\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/snapshots", argv[1]);
	mkdir(path, 0755); /* a new store makes its directories lazily */
	snprintf(path, sizeof(path), "%s/snapshots/29990101T000000Z-evil0000", argv[1]);
	f = fopen(path, "wb");
	int rc = (!f || fwrite(ob.data, 1, ob.len, f) != ob.len || fclose(f)) ? 1 : 0;
	ferry_objbuf_free(&ob);
	free(plain);
	ferry_manifest_free(&m);
	ferry_codec_destroy(c);
	return rc;
}
