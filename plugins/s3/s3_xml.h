/* The S3 XML we read (listings, errors, multipart replies) and write (CompleteMultipartUpload, Delete). */
#ifndef FERRY_S3_XML_H
#define FERRY_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#define S3_XML_MAX (16u << 20)   /* a reply larger than this is refused */
#define S3_KEY_MAX 1024          /* S3's own limit on key length, in bytes */

struct s3_error {
	char code[64];
	char message[256];
};

struct s3_object {
	char *key;
	uint64_t size;
};

struct s3_listing {
	struct s3_object *objects;
	size_t n;
	int truncated;
	char *next_token; /* NextContinuationToken, or NULL */
};

struct s3_part {
	int number;
	uint64_t size;
	char etag[80];
};

struct s3_parts {
	struct s3_part *parts;
	size_t n;
	int truncated;
	int next_marker; /* NextPartNumberMarker */
};

struct s3_upload {
	char *key;
	char *upload_id;
};

struct s3_uploads {
	struct s3_upload *uploads;
	size_t n;
	int truncated;
	char *next_key, *next_id; /* NextKeyMarker, NextUploadIdMarker */
};

/* Each returns 0, or -1 for XML that is malformed, too large, or not the expected document. */
int s3_xml_error(const char *xml, size_t len, struct s3_error *out);
int s3_xml_listing(const char *xml, size_t len, struct s3_listing *out);
void s3_listing_free(struct s3_listing *l);
int s3_xml_upload_id(const char *xml, size_t len, char *id, size_t cap);
int s3_xml_parts(const char *xml, size_t len, struct s3_parts *out);
void s3_parts_free(struct s3_parts *p);
int s3_xml_uploads(const char *xml, size_t len, struct s3_uploads *out);
void s3_uploads_free(struct s3_uploads *u);
/* DeleteObjects reply: the number of <Error> entries; the first one's key and code. */
int s3_xml_delete_errors(const char *xml, size_t len, char *first_key, size_t keycap, char *first_code,
			 size_t codecap);

/* Request bodies, malloc'd (NUL-terminated, *len without it). */
char *s3_xml_complete_body(const struct s3_part *parts, size_t n, size_t *len);
char *s3_xml_delete_body(const char *const *keys, size_t n, size_t *len);

#endif
