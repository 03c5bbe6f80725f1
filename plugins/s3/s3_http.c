/*
 * The response headers ferry reads from S3 replies (curl's header callback hands them
 * over one line at a time): ETag, user metadata (x-amz-meta-*), Content-Length and the
 * total of a Content-Range. Bounded: a value that does not fit is dropped, never cut.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3_http.h"

void s3_resp_reset(struct s3_resp *h)
{
	h->etag[0] = 0;
	h->meta[0] = 0;
	h->meta_len = 0;
	h->have_length = h->have_total = 0;
}

void s3_resp_line(struct s3_resp *h, const char *data, size_t n)
{
	if (n > 5 && !strncasecmp(data, "HTTP/", 5)) {
		s3_resp_reset(h); /* a new response (after 100 Continue) */
	} else if (n > 14 && !strncasecmp(data, "content-range:", 14)) {
		const char *slash = memchr(data, '/', n);
		char tmp[32];
		size_t k = slash ? n - (size_t)(slash + 1 - data) : 0;
		if (k && k < sizeof(tmp)) {
			memcpy(tmp, slash + 1, k);
			tmp[k] = 0;
			char *end;
			unsigned long long v = strtoull(tmp, &end, 10);
			if (end != tmp && (*end == '\r' || *end == '\n' || !*end)) {
				h->total = v;
				h->have_total = 1;
			}
		}
	} else if (n > 5 && !strncasecmp(data, "etag:", 5)) {
		const char *v = data + 5;
		size_t k = n - 5;
		while (k && (*v == ' ' || *v == '\t'))
			v++, k--;
		while (k && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' '))
			k--;
		if (k < sizeof(h->etag)) {
			memcpy(h->etag, v, k);
			h->etag[k] = 0;
		}
	} else if (n > 11 && !strncasecmp(data, "x-amz-meta-", 11)) {
		size_t k = n;
		while (k && (data[k - 1] == '\r' || data[k - 1] == '\n'))
			k--;
		if (h->meta_len + k + 2 < sizeof(h->meta)) {
			for (size_t i = 0; i < k; i++) { /* names lowercase, as S3 returns them anyway */
				char ch = data[i];
				if (!memchr(data, ':', i + 1))
					ch = (char)tolower((unsigned char)ch);
				h->meta[h->meta_len++] = ch;
			}
			h->meta[h->meta_len++] = '\n';
			h->meta[h->meta_len] = 0;
		}
	} else if (n > 15 && !strncasecmp(data, "content-length:", 15)) {
		char tmp[32];
		size_t k = n - 15 < sizeof(tmp) - 1 ? n - 15 : sizeof(tmp) - 1;
		memcpy(tmp, data + 15, k);
		tmp[k] = 0;
		char *end;
		unsigned long long v = strtoull(tmp, &end, 10);
		if (end != tmp) {
			h->length = v;
			h->have_length = 1;
		}
	}
}
