/* libFuzzer target: every S3 XML reader on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *x = (const char *)data;
	struct s3_error e;
	struct s3_listing l;
	struct s3_parts p;
	char id[256], key[S3_KEY_MAX + 1], code[64];

	if (size > (1u << 20))
		return 0;
	(void)s3_xml_error(x, size, &e);
	if (s3_xml_listing(x, size, &l) == 0) {
		for (size_t i = 0; i < l.n; i++)
			if (strlen(l.objects[i].key) > S3_KEY_MAX || !l.objects[i].key[0])
				abort();
		if (l.truncated && !l.next_token)
			abort();
		s3_listing_free(&l);
	}
	if (s3_xml_parts(x, size, &p) == 0) {
		for (size_t i = 0; i < p.n; i++)
			if (p.parts[i].number < 1 || p.parts[i].number > 10000)
				abort();
		s3_parts_free(&p);
	}
	struct s3_uploads u;
	if (s3_xml_uploads(x, size, &u) == 0) {
		for (size_t i = 0; i < u.n; i++)
			if (!u.uploads[i].key[0] || !u.uploads[i].upload_id[0] || strlen(u.uploads[i].key) > S3_KEY_MAX)
				abort();
		if (u.truncated && !u.next_key)
			abort();
		s3_uploads_free(&u);
	}
	(void)s3_xml_upload_id(x, size, id, sizeof(id));
	(void)s3_xml_delete_errors(x, size, key, sizeof(key), code, sizeof(code));
	return 0;
}
