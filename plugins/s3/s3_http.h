/* The HTTP response headers ferry reads from S3 replies, one line at a time (s3_http.c). */
#ifndef FERRY_S3_HTTP_H
#define FERRY_S3_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct s3_resp {
	char etag[80];   /* ETag, quotes kept; "" if absent or too long */
	char meta[2048]; /* x-amz-meta-* lines, "name:value\n" with the name in lowercase */
	size_t meta_len;
	uint64_t length; /* Content-Length */
	int have_length;
	uint64_t total; /* the object's size, from a ranged reply's Content-Range */
	int have_total;
};

/* Forgets what an earlier response (a 100 Continue, a retried attempt) said. */
void s3_resp_reset(struct s3_resp *h);
/* Takes one header line as curl hands it (n bytes, CRLF included, not NUL-terminated). */
void s3_resp_line(struct s3_resp *h, const char *data, size_t n);

#endif
