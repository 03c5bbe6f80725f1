/*
 * SigV4: the canonical request (method, URI, sorted and encoded query, sorted
 * lowercase headers with trimmed values, signed header list, payload hash), the
 * string to sign, and the HMAC chain that turns the secret into the day's key.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_sign.h"

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

char *s3_uri_encode(const char *src, size_t len, int keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";
	char *out = malloc(3 * len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hexd[c >> 4];
			*o++ = hexd[c & 15];
		}
	}
	*o = 0;
	return out;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX (and only that) so that a component is encoded exactly once. */
static char *uri_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	*outlen = o;
	return out;
}

void s3_sha256_hex(const void *buf, size_t len, char out[65])
{
	uint8_t d[32];

	SHA256(buf, len, d);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

struct param {
	char *key, *val;
};

static int cmp_param(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->val, y->val);
}

/* Canonical query: each key and value decoded then encoded strictly, sorted by key then value. */
static int canonical_query(const char *q, struct sbuf *b)
{
	struct param *ps = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t kl = eq ? (size_t)(eq - q) : len, vl = eq ? len - kl - 1 : 0, dl;
		char *k, *v;

		if (len > 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				struct param *np = realloc(ps, cap * sizeof(*np));
				if (!np) {
					ret = -1;
					break;
				}
				ps = np;
			}
			k = uri_decode(q, kl, &dl);
			ps[n].key = k ? s3_uri_encode(k, dl, 0) : NULL;
			free(k);
			v = uri_decode(eq ? eq + 1 : "", vl, &dl);
			ps[n].val = v ? s3_uri_encode(v, dl, 0) : NULL;
			free(v);
			n++;
			if (!ps[n - 1].key || !ps[n - 1].val) {
				ret = -1;
				break;
			}
		}
		q = amp ? amp + 1 : q + len;
	}
	if (!ret) {
		if (n)
			qsort(ps, n, sizeof(*ps), cmp_param);
		for (size_t i = 0; i < n; i++) {
			if (i)
				sb_str(b, "&");
			sb_str(b, ps[i].key);
			sb_str(b, "=");
			sb_str(b, ps[i].val);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(ps[i].key);
		free(ps[i].val);
	}
	free(ps);
	return ret;
}

struct hdr {
	char name[128];
	const char *value;
	size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Value with leading/trailing space trimmed and runs of spaces (and folded lines) made one. */
static void add_trimmed(struct sbuf *b, const char *v)
{
	int space = 0, started = 0;

	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = started;
			continue;
		}
		if (space)
			sb_add(b, " ", 1);
		space = 0;
		started = 1;
		sb_add(b, (const char *)&c, 1);
	}
}

static void hmac(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, strlen(msg), out, &len);
}

int s3_sign(const struct s3_sign_input *in, struct s3_key_cache *cache, struct s3_signed *out)
{
	struct sbuf creq = { 0 }, signed_names = { 0 }, sts = { 0 };
	struct hdr *hs;
	char day[9], hash[65], scope[160];
	uint8_t key[32], sig[32], fp[32];
	struct s3_key_cache local;

	memset(out, 0, sizeof(*out));
	if (!in->method || !in->path || !in->amz_date || strlen(in->amz_date) != 16 || !in->region || !in->service ||
	    !in->access_key || !in->secret_key || !in->payload_hash || strlen(in->region) >= sizeof(local.region) ||
	    strlen(in->service) >= sizeof(local.service))
		return -1;
	memcpy(day, in->amz_date, 8);
	day[8] = 0;

	/* canonical request */
	sb_str(&creq, in->method);
	sb_str(&creq, "\n");
	sb_str(&creq, in->path);
	sb_str(&creq, "\n");
	if (canonical_query(in->query, &creq)) {
		free(creq.p);
		return -1;
	}
	sb_str(&creq, "\n");
	hs = calloc(in->nheaders ? in->nheaders : 1, sizeof(*hs));
	if (!hs) {
		free(creq.p);
		return -1;
	}
	for (size_t i = 0; i < in->nheaders; i++) {
		size_t n = strlen(in->headers[i].name);
		if (n >= sizeof(hs[i].name)) {
			free(hs);
			free(creq.p);
			return -1;
		}
		for (size_t j = 0; j <= n; j++)
			hs[i].name[j] = (char)tolower((unsigned char)in->headers[i].name[j]);
		hs[i].value = in->headers[i].value;
		hs[i].order = i;
	}
	qsort(hs, in->nheaders, sizeof(*hs), cmp_hdr);
	for (size_t i = 0; i < in->nheaders; i++) {
		if (i && !strcmp(hs[i].name, hs[i - 1].name)) {
			/* a repeated header: its values joined by commas, in the order given */
			sb_str(&creq, ",");
			add_trimmed(&creq, hs[i].value);
			continue;
		}
		if (i) {
			sb_str(&creq, "\n");
			sb_str(&signed_names, ";");
		}
		sb_str(&creq, hs[i].name);
		sb_str(&creq, ":");
		add_trimmed(&creq, hs[i].value);
		sb_str(&signed_names, hs[i].name);
	}
	free(hs);
	sb_str(&creq, "\n\n");
	sb_str(&creq, signed_names.p ? signed_names.p : "");
	sb_str(&creq, "\n");
	sb_str(&creq, in->payload_hash);

	/* string to sign */
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", day, in->region, in->service);
	s3_sha256_hex(creq.p, creq.len, hash);
	sb_str(&sts, "AWS4-HMAC-SHA256\n");
	sb_str(&sts, in->amz_date);
	sb_str(&sts, "\n");
	sb_str(&sts, scope);
	sb_str(&sts, "\n");
	sb_str(&sts, hash);
	if (creq.oom || sts.oom || signed_names.oom) {
		free(creq.p);
		free(sts.p);
		free(signed_names.p);
		return -1;
	}

	/* the signing key: HMAC chain from "AWS4" + secret through day, region, service */
	SHA256((const uint8_t *)in->secret_key, strlen(in->secret_key), fp);
	if (!cache)
		cache = memset(&local, 0, sizeof(local));
	if (strcmp(cache->day, day) || strcmp(cache->region, in->region) || strcmp(cache->service, in->service) ||
	    CRYPTO_memcmp(cache->fingerprint, fp, 32)) {
		size_t sl = strlen(in->secret_key);
		uint8_t *k0 = malloc(sl + 4), k1[32], k2[32], k3[32];
		if (!k0) {
			free(creq.p);
			free(sts.p);
			free(signed_names.p);
			return -1;
		}
		memcpy(k0, "AWS4", 4);
		memcpy(k0 + 4, in->secret_key, sl);
		hmac(k0, sl + 4, day, k1);
		hmac(k1, 32, in->region, k2);
		hmac(k2, 32, in->service, k3);
		hmac(k3, 32, "aws4_request", cache->key);
		OPENSSL_cleanse(k0, sl + 4);
		OPENSSL_cleanse(k1, 32);
		OPENSSL_cleanse(k2, 32);
		OPENSSL_cleanse(k3, 32);
		free(k0);
		memcpy(cache->day, day, sizeof(cache->day));
		strcpy(cache->region, in->region);
		strcpy(cache->service, in->service);
		memcpy(cache->fingerprint, fp, 32);
	}
	memcpy(key, cache->key, 32);
	hmac(key, 32, sts.p, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (cache == &local)
		OPENSSL_cleanse(&local, sizeof(local));
	int n = snprintf(out->authorization, sizeof(out->authorization),
			 "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=", in->access_key, scope,
			 signed_names.p ? signed_names.p : "");
	for (int i = 0; i < 32 && n > 0 && (size_t)n + 2 < sizeof(out->authorization); i++)
		n += snprintf(out->authorization + n, sizeof(out->authorization) - (size_t)n, "%02x", sig[i]);
	free(signed_names.p);
	out->canonical_request = creq.p;
	out->string_to_sign = sts.p;
	return (size_t)n + 1 >= sizeof(out->authorization) ? -1 : 0;
}

void s3_signed_free(struct s3_signed *s)
{
	free(s->canonical_request);
	free(s->string_to_sign);
	s->canonical_request = s->string_to_sign = NULL;
}
