/* ferry.conf parsing through inih: sections [store], [keys], [transfer], [unattended], [s3]; unknown keys are errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "ferry/codec.h"
#include "ferry/conf.h"
#include "ferry/unattended.h"

struct parse_state {
	struct ferry_conf *c;
	char reason[256];
};

void ferry_conf_defaults(struct ferry_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->compress = -1;
}

int ferry_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: return -1;
	}
	if (mul > 1 && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib")))
		end += strlen(end);
	if (*end)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

static int copy_path(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* inih handler: returns 0 to stop at this line with an error. */
static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	struct ferry_conf *c = st->c;
	long n;
	uint64_t sz;

	if (st->reason[0])
		return 0; /* keep the first error's reason; inih reports the first error's line */
	if (!name) {
		/* a section header on its own (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
		return 1;
	}
	if (!strcmp(section, "store")) {
		if (!strcmp(name, "compress")) {
			if (!strcmp(value, "none")) {
				c->compress = 0;
				return 1;
			}
			if (parse_int(value, 1, FERRY_LEVEL_MAX, &n) == 0) {
				c->compress = (int)n;
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "compress: expected none or 1..%d, got '%s'",
				 FERRY_LEVEL_MAX, value);
			return 0;
		}
		if (!strcmp(name, "chunk-size")) {
			if (ferry_parse_size(value, &sz) == 0 && sz >= FERRY_CHUNK_MIN && sz <= FERRY_CHUNK_MAX) {
				c->chunk_size = (uint32_t)sz;
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "chunk-size: expected 4K..64M, got '%s'", value);
			return 0;
		}
	} else if (!strcmp(section, "keys")) {
		if (!strcmp(name, "passphrase-file") || !strcmp(name, "key-file")) {
			char *dst = name[0] == 'p' ? c->passphrase_file : c->key_file;
			if (copy_path(dst, sizeof(c->key_file), value) == 0)
				return 1;
			snprintf(st->reason, sizeof(st->reason), "%s: empty or too long", name);
			return 0;
		}
	} else if (!strcmp(section, "transfer")) {
		if (!strcmp(name, "memory")) {
			if (ferry_parse_size(value, &sz) == 0 && sz >= (16u << 20)) {
				c->memory = sz;
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "memory: expected a size of at least 16M, got '%s'",
				 value);
			return 0;
		}
		if (!strcmp(name, "jobs")) {
			if (parse_int(value, 1, 1024, &n) == 0) {
				c->jobs = (int)n;
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "jobs: expected 1..1024, got '%s'", value);
			return 0;
		}
	} else if (!strcmp(section, "unattended")) {
		if (!strcmp(name, "lock-timeout")) {
			if (ferry_parse_duration(value, &sz) == 0 && sz >= 10) {
				c->lock_timeout = sz;
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "lock-timeout: expected a duration of at least 10s (15m, 1h), got '%s'",
				 value);
			return 0;
		}
		if (!strcmp(name, "bwlimit")) {
			struct ferry_rate *r = NULL;
			char why[200];
			int ok = ferry_rate_create(&r, value, why, sizeof(why)) == FERRY_OK &&
				 copy_path(c->bwlimit, sizeof(c->bwlimit), value) == 0;
			ferry_rate_destroy(r);
			if (ok)
				return 1;
			snprintf(st->reason, sizeof(st->reason), "bwlimit: '%s' is not a rate (10M, off) or a timetable (08:00,10M 18:00,off)",
				 value);
			return 0;
		}
		if (!strcmp(name, "log-file") || !strcmp(name, "metrics-file")) {
			char *dst = name[0] == 'l' ? c->log_file : c->metrics_file;
			if (copy_path(dst, sizeof(c->log_file), value) == 0)
				return 1;
			snprintf(st->reason, sizeof(st->reason), "%s: empty or too long", name);
			return 0;
		}
	} else if (!strcmp(section, "s3")) {
		if (!strcmp(name, "endpoint")) {
			if ((!strncmp(value, "http://", 7) || !strncmp(value, "https://", 8)) &&
			    copy_path(c->s3_endpoint, sizeof(c->s3_endpoint), value) == 0)
				return 1;
			snprintf(st->reason, sizeof(st->reason), "endpoint: expected http://HOST[:PORT] or https://…, got '%s'",
				 value);
			return 0;
		}
		if (!strcmp(name, "region")) {
			if (*value && strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(value) &&
			    copy_path(c->s3_region, sizeof(c->s3_region), value) == 0)
				return 1;
			snprintf(st->reason, sizeof(st->reason), "region: not a region name: '%s'", value);
			return 0;
		}
		if (!strcmp(name, "addressing")) {
			if (!strcmp(value, "path") || !strcmp(value, "virtual")) {
				snprintf(c->s3_addressing, sizeof(c->s3_addressing), "%s", value);
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "addressing: expected path or virtual, got '%s'", value);
			return 0;
		}
		if (!strcmp(name, "connections") || !strcmp(name, "max-parts")) {
			int conn = name[0] == 'c';
			if (parse_int(value, 1, conn ? 256 : 10000, &n) == 0) {
				*(conn ? &c->s3_connections : &c->s3_max_parts) = (int)n;
				return 1;
			}
			snprintf(st->reason, sizeof(st->reason), "%s: expected 1..%d, got '%s'", name, conn ? 256 : 10000, value);
			return 0;
		}
	} else {
		snprintf(st->reason, sizeof(st->reason), "unknown section [%s]", section);
		return 0;
	}
	snprintf(st->reason, sizeof(st->reason), "unknown key '%s' in [%s]", name, section);
	return 0;
}

static int finish(int rc, struct parse_state *st, const char *name, char *msg, size_t msglen)
{
	if (rc == 0)
		return FERRY_OK;
	if (rc < 0) {
		snprintf(msg, msglen, "%s: cannot read: %s", name, rc == -1 ? strerror(errno) : "out of memory");
		return FERRY_E_CONFIG;
	}
	snprintf(msg, msglen, "%s:%d: %s", name, rc, st->reason[0] ? st->reason : "syntax error");
	return FERRY_E_CONFIG;
}

int ferry_conf_load(struct ferry_conf *c, const char *path, char *msg, size_t msglen)
{
	struct parse_state st = { .c = c };
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_CONFIG;
	}
	int rc = ini_parse_file(f, on_value, &st);
	fclose(f);
	return finish(rc, &st, path, msg, msglen);
}

int ferry_conf_parse(struct ferry_conf *c, const char *text, size_t len, const char *name, char *msg,
		     size_t msglen)
{
	struct parse_state st = { .c = c };
	char *z = malloc(len + 1);
	int rc;

	if (!z)
		return FERRY_E_NOMEM;
	memcpy(z, text, len);
	z[len] = 0;
	rc = ini_parse_string(z, on_value, &st);
	free(z);
	return finish(rc, &st, name, msg, msglen);
}

int ferry_conf_default_path(char *out, size_t len)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
	int n;

	if (x && *x)
		n = snprintf(out, len, "%s/ferry/ferry.conf", x);
	else if (h && *h)
		n = snprintf(out, len, "%s/.config/ferry/ferry.conf", h);
	else
		return -1;
	return n > 0 && (size_t)n < len ? 0 : -1;
}
