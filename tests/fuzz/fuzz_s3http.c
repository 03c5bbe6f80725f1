/* libFuzzer target: the S3 reply header parser (s3_http.c) on arbitrary header lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct s3_resp *h)
{
	if (h->meta_len >= sizeof(h->meta) || h->meta[h->meta_len] != 0 || memchr(h->etag, 0, sizeof(h->etag)) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_resp h;
	const char *p = (const char *)data, *end = p + size;

	if (size > (1u << 20))
		return 0;
	memset(&h, 0x5a, sizeof(h));
	s3_resp_reset(&h);
	/* one call per line, newline included, as curl's header callback makes them */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		s3_resp_line(&h, p, n);
		check(&h);
		p += n;
	}
	return 0;
}
