/* AWS Signature Version 4 for S3 requests: canonical request, string to sign, Authorization. */
#ifndef FERRY_S3_SIGN_H
#define FERRY_S3_SIGN_H

#include <stddef.h>
#include <stdint.h>

struct s3_header {
	const char *name;
	const char *value;
};

struct s3_sign_input {
	const char *method;
	const char *path;  /* canonical URI, already percent-encoded (S3: each segment once) */
	const char *query; /* the query string as sent, without '?'; may be "" */
	const struct s3_header *headers; /* every header to sign (host and x-amz-date at least) */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	const char *amz_date;     /* YYYYMMDDTHHMMSSZ, as in x-amz-date */
	const char *region;
	const char *service; /* "s3" */
	const char *access_key;
	const char *secret_key;
};

/* The signing key depends only on the secret, day, region and service: derived once a day. */
struct s3_key_cache {
	char day[9];
	char region[64];
	char service[32];
	uint8_t fingerprint[32]; /* SHA-256 of the secret, to notice a change of credentials */
	uint8_t key[32];
};

struct s3_signed {
	char *canonical_request; /* malloc'd; kept for debugging and tests */
	char *string_to_sign;    /* malloc'd */
	char authorization[512];
};

/* Signs; 0 on success, -1 when a field is missing or too long. cache may be NULL. */
int s3_sign(const struct s3_sign_input *in, struct s3_key_cache *cache, struct s3_signed *out);
void s3_signed_free(struct s3_signed *s);

/* Percent-encodes src for a URI: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, and '/'
 * too when keep_slash; everything else becomes %XX (uppercase). Returns a malloc'd string. */
char *s3_uri_encode(const char *src, size_t len, int keep_slash);
/* Lowercase hex SHA-256 of buf into out[65]. */
void s3_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
