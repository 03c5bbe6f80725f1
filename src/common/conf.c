/* ferry.conf parsing through inih: [store], [keys], [transfer], [unattended], [s3], [plan], [route "NAME"],
 * [replica "NAME"]; unknown keys are errors. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "ferry/codec.h"
#include "ferry/conf.h"
#include "ferry/units.h"

struct parse_state {
	struct ferry_conf *c;
	char reason[256];
	int reason_line; /* the line the reason is about */
	/* inih calls the handler for keys only (Debian's build does not call it on a section
	 * header), so the reader notes each header line to find sections with nothing in them */
	FILE *f;
	int line;         /* lines handed to inih so far: its own line number */
	int sec_line;     /* the open section's header line, 0 before the first */
	int sec_content;  /* a non-blank, non-comment line since that header */
	char sec_name[64];
};

void ferry_conf_defaults(struct ferry_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->compress = -1;
	c->rtt = -1;
	c->request_latency = -1;
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

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((struct ferry_conf_route *)0)->name))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

/* [route "NAME"]: finds or adds the route; NULL with a reason when the name or count is bad. */
static struct ferry_conf_route *route_for(struct parse_state *st, const char *section)
{
	struct ferry_conf *c = st->c;
	size_t n = strlen(section);
	const char *name = section + 7;

	if (n < 9 || section[n - 1] != '"' || !name_ok(name, n - 8)) {
		snprintf(st->reason, sizeof(st->reason),
			 "route: expected [route \"NAME\"] with a name of letters, digits, '-', '_' or '.' (at most 31)");
		return NULL;
	}
	for (unsigned i = 0; i < c->nroutes; i++)
		if (strlen(c->routes[i].name) == n - 8 && !strncmp(c->routes[i].name, name, n - 8))
			return &c->routes[i];
	if (c->nroutes == FERRY_CONF_MAX_ROUTES) {
		snprintf(st->reason, sizeof(st->reason), "at most %d routes", FERRY_CONF_MAX_ROUTES);
		return NULL;
	}
	struct ferry_conf_route *r = &c->routes[c->nroutes++];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, name, n - 8);
	r->name[n - 8] = 0;
	r->price_per_gb = r->price = r->days = -1;
	return r;
}

/* name's index in keys, marked in *set; ~0u (the reason said) when unknown or seen before. */
static unsigned section_key(struct parse_state *st, const char *const *keys, unsigned *set, const char *section,
			    const char *name)
{
	unsigned k = 0;

	while (keys[k] && strcmp(keys[k], name))
		k++;
	if (!keys[k]) {
		snprintf(st->reason, sizeof(st->reason), "unknown key '%s' in [%s]", name, section);
		return ~0u;
	}
	if (*set & (1u << k)) {
		snprintf(st->reason, sizeof(st->reason), "%s given twice in [%s]", name, section);
		return ~0u;
	}
	*set |= 1u << k;
	return k;
}

static int route_value(struct parse_state *st, const char *section, const char *name, const char *value)
{
	static const char *const keys[] = { "endpoint", "bind", "type", "bandwidth", "price_per_gb", "pricing",
					    "price", "days", "capacity", NULL };
	struct ferry_conf_route *r = route_for(st, section);
	unsigned k = 0;
	double v;

	if (!r || (k = section_key(st, keys, &r->set, section, name)) == ~0u)
		return 0;
	switch (k) {
	case 0:
	case 1:
		if (copy_path(k == 0 ? r->endpoint : r->bind, k == 0 ? sizeof(r->endpoint) : sizeof(r->bind), value))
			break;
		return 1;
	case 2:
		if (strcmp(value, "wire") && strcmp(value, "ship"))
			break;
		r->ship = !strcmp(value, "ship");
		return 1;
	case 3:
		if (ferry_plan_parse_rate(value, &r->bandwidth))
			break;
		return 1;
	case 4:
		if (ferry_plan_parse_number(value, &r->price_per_gb) || r->price_per_gb > 1000)
			break;
		return 1;
	case 5:
		if (copy_path(r->pricing, sizeof(r->pricing), value) || !strchr(value, ':'))
			break;
		return 1;
	case 6:
		if (ferry_plan_parse_number(value, &r->price) || r->price > 1e9)
			break;
		return 1;
	case 7:
		/* days in transit: a number of days, or a duration such as 36h */
		if (ferry_plan_parse_number(value, &v) == 0 && v <= 3650) {
			r->days = v;
			return 1;
		}
		if (ferry_plan_parse_duration(value, &v) == 0 && v <= 3650 * 86400.0) {
			r->days = v / 86400;
			return 1;
		}
		break;
	case 8:
		if (ferry_plan_parse_bytes(value, &r->capacity) || r->capacity < 1e6)
			break;
		return 1;
	}
	static const char *const want[] = {
		"a URL", "an address", "wire or ship", "a rate such as 1Gbit or 100MB/s",
		"USD per GB, such as 0.02", "provider:region:dest, such as aws:us-east-1:internet",
		"USD per device trip", "days in transit, such as 10 or 36h", "bytes per device, such as 80TB",
	};
	snprintf(st->reason, sizeof(st->reason), "%s: expected %s, got '%s'", name, want[k], value);
	return 0;
}

/* [replica "NAME"]: url (required), endpoint, price_per_gb. */
static int replica_value(struct parse_state *st, const char *section, const char *name, const char *value)
{
	static const char *const keys[] = { "url", "endpoint", "price_per_gb", NULL };
	struct ferry_conf *c = st->c;
	struct ferry_conf_replica *r = NULL;
	size_t n = strlen(section);
	const char *nm = section + 9;
	unsigned k = 0;

	if (n < 11 || section[n - 1] != '"' || !name_ok(nm, n - 10)) {
		snprintf(st->reason, sizeof(st->reason),
			 "replica: expected [replica \"NAME\"] with a name of letters, digits, '-', '_' or '.' (at most 31)");
		return 0;
	}
	for (unsigned i = 0; i < c->nreplicas && !r; i++)
		if (strlen(c->replicas[i].name) == n - 10 && !strncmp(c->replicas[i].name, nm, n - 10))
			r = &c->replicas[i];
	if (!r) {
		if (c->nreplicas == FERRY_CONF_MAX_REPLICAS) {
			snprintf(st->reason, sizeof(st->reason), "at most %d replicas", FERRY_CONF_MAX_REPLICAS);
			return 0;
		}
		r = &c->replicas[c->nreplicas++];
		memset(r, 0, sizeof(*r));
		memcpy(r->name, nm, n - 10);
		r->price_per_gb = -1;
	}
	if ((k = section_key(st, keys, &r->set, section, name)) == ~0u)
		return 0;
	if (k == 0 && copy_path(r->url, sizeof(r->url), value) == 0)
		return 1;
	if (k == 1 && (!strncmp(value, "http://", 7) || !strncmp(value, "https://", 8)) &&
	    copy_path(r->endpoint, sizeof(r->endpoint), value) == 0)
		return 1;
	if (k == 2 && ferry_plan_parse_number(value, &r->price_per_gb) == 0 && r->price_per_gb <= 1000)
		return 1;
	static const char *const want[] = { "a local path or s3://BUCKET[/PREFIX]", "http://HOST[:PORT] or https://…",
					    "USD per GB, such as 0.02" };
	snprintf(st->reason, sizeof(st->reason), "%s: expected %s, got '%s'", name, want[k], value);
	return 0;
}

static int plan_value(struct parse_state *st, const char *name, const char *value)
{
	struct ferry_conf *c = st->c;
	long n;

	if (!strcmp(name, "bandwidth")) {
		if (ferry_plan_parse_rate(value, &c->bandwidth) == 0)
			return 1;
		snprintf(st->reason, sizeof(st->reason), "bandwidth: expected a rate such as 1Gbit, got '%s'", value);
		return 0;
	}
	if (!strcmp(name, "rtt") || !strcmp(name, "request-latency")) {
		double *dst = name[0] == 'r' && name[1] == 't' ? &c->rtt : &c->request_latency;
		if (ferry_plan_parse_duration(value, dst) == 0 && *dst <= 60)
			return 1;
		*dst = -1;
		snprintf(st->reason, sizeof(st->reason), "%s: expected a duration such as 20ms, got '%s'", name, value);
		return 0;
	}
	if (!strcmp(name, "connections") || !strcmp(name, "dst-cores")) {
		if (parse_int(value, 1, 4096, &n) == 0) {
			*(name[0] == 'c' ? &c->connections : &c->dst_cores) = (int)n;
			return 1;
		}
		snprintf(st->reason, sizeof(st->reason), "%s: expected 1..4096, got '%s'", name, value);
		return 0;
	}
	if (!strcmp(name, "pricing-dir")) {
		if (copy_path(c->pricing_dir, sizeof(c->pricing_dir), value) == 0)
			return 1;
		snprintf(st->reason, sizeof(st->reason), "pricing-dir: empty or too long");
		return 0;
	}
	snprintf(st->reason, sizeof(st->reason), "unknown key '%s' in [plan]", name);
	return 0;
}

/* inih handler: returns 0 to stop at this line with an error. */
static int key_value(struct parse_state *st, const char *section, const char *name, const char *value)
{
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
			/* checked here so a bad one names the file and line; the run parses it again */
			struct ferry_timetable t;
			char why[200];

			if (ferry_parse_timetable(value, &t, why, sizeof(why)) == 0 &&
			    copy_path(c->bwlimit, sizeof(c->bwlimit), value) == 0)
				return 1;
			if (strlen(value) >= sizeof(c->bwlimit))
				snprintf(why, sizeof(why), "longer than %zu characters", sizeof(c->bwlimit) - 1);
			snprintf(st->reason, sizeof(st->reason), "bwlimit: %s", why);
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
	} else if (!strcmp(section, "plan")) {
		return plan_value(st, name, value);
	} else if (!strncmp(section, "route \"", 7)) {
		return route_value(st, section, name, value);
	} else if (!strncmp(section, "replica \"", 9)) {
		return replica_value(st, section, name, value);
	} else {
		snprintf(st->reason, sizeof(st->reason), "unknown section [%s]", section);
		return 0;
	}
	snprintf(st->reason, sizeof(st->reason), "unknown key '%s' in [%s]", name, section);
	return 0;
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	int ok = key_value(st, section, name, value);

	if (!ok && st->reason[0] && !st->reason_line)
		st->reason_line = st->line;
	return ok;
}

static int fixed_section(const char *name)
{
	static const char *const known[] = { "store", "keys", "transfer", "unattended", "s3", "plan", NULL };

	for (unsigned i = 0; known[i]; i++)
		if (!strcmp(name, known[i]))
			return 1;
	return 0;
}

/*
 * The section open until now has ended. A fixed section with every key commented out
 * means the defaults (the shipped ferry.conf has several); a named one defines nothing
 * without keys, and an unknown one is a mistake whether or not it has keys.
 */
static void section_end(struct parse_state *st)
{
	if (!st->sec_line || st->sec_content || st->reason[0] || fixed_section(st->sec_name))
		return;
	if (!strncmp(st->sec_name, "route \"", 7) || !strncmp(st->sec_name, "replica \"", 9))
		snprintf(st->reason, sizeof(st->reason), "section [%s] has no settings", st->sec_name);
	else
		snprintf(st->reason, sizeof(st->reason), "unknown section [%s]", st->sec_name);
	st->reason_line = st->sec_line;
}

/* inih's reader (fgets-shaped): counts lines as inih does and notes section headers. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	const char *p = fgets(str, num, st->f), *end;

	if (!p) {
		section_end(st);
		return NULL;
	}
	st->line++;
	/* a UTF-8 byte order mark, which inih skips too (bytewise: the line may be shorter) */
	if (st->line == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
		p += 3;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == ';' || *p == '#')
		return str;
	/* an indented line after a key continues that key's value (inih's multi-line values) */
	end = *p == '[' ? strchr(p + 1, ']') : NULL;
	if (!end || (p > str && st->sec_content)) {
		st->sec_content = 1;
		return str;
	}
	section_end(st);
	snprintf(st->sec_name, sizeof(st->sec_name), "%.*s", (int)(end - p - 1), p + 1);
	st->sec_line = st->line;
	st->sec_content = 0;
	return str;
}

/* A route must say enough to be priced and timed; inih gives no line here, so name the route. */
static int check_routes(const struct ferry_conf *c, const char *name, char *msg, size_t msglen)
{
	for (unsigned i = 0; i < c->nroutes; i++) {
		const struct ferry_conf_route *r = &c->routes[i];
		const char *why = NULL;

		if (r->ship) {
			if (r->price < 0 || r->days < 0 || r->capacity <= 0)
				why = "type = ship needs price, days and capacity";
			else if (r->price_per_gb >= 0 || r->pricing[0])
				why = "type = ship takes price, not price_per_gb or pricing";
		} else {
			if (r->bandwidth <= 0)
				why = "needs bandwidth";
			else if ((r->price_per_gb >= 0) == (r->pricing[0] != 0))
				why = "needs one of price_per_gb or pricing";
			else if (r->price >= 0 || r->days >= 0 || r->capacity > 0)
				why = "price, days and capacity are for type = ship";
		}
		if (why) {
			snprintf(msg, msglen, "%s: [route \"%s\"]: %s", name, r->name, why);
			return FERRY_E_CONFIG;
		}
	}
	return FERRY_OK;
}

static int check_replicas(const struct ferry_conf *c, const char *name, char *msg, size_t msglen)
{
	for (unsigned i = 0; i < c->nreplicas; i++)
		if (!c->replicas[i].url[0]) {
			snprintf(msg, msglen, "%s: [replica \"%s\"]: needs url", name, c->replicas[i].name);
			return FERRY_E_CONFIG;
		}
	return FERRY_OK;
}

/* Parses st->f; the first problem by line wins: inih's (a line it cannot read) or ours. */
static int parse(struct parse_state *st, const char *name, char *msg, size_t msglen)
{
	int rc = ini_parse_stream(read_line, st, on_value, st);

	if (rc < 0) {
		snprintf(msg, msglen, "%s: cannot read: %s", name, rc == -1 ? strerror(errno) : "out of memory");
		return FERRY_E_CONFIG;
	}
	if (st->reason[0] && (rc == 0 || st->reason_line <= rc)) {
		snprintf(msg, msglen, "%s:%d: %s", name, st->reason_line, st->reason);
		return FERRY_E_CONFIG;
	}
	if (rc > 0) {
		snprintf(msg, msglen, "%s:%d: syntax error", name, rc);
		return FERRY_E_CONFIG;
	}
	return check_routes(st->c, name, msg, msglen) ? FERRY_E_CONFIG : check_replicas(st->c, name, msg, msglen);
}

int ferry_conf_load(struct ferry_conf *c, const char *path, char *msg, size_t msglen)
{
	struct parse_state st = { .c = c };
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_CONFIG;
	}
	/* inih stops a line at a NUL byte: what follows it would be dropped without a word */
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (memchr(buf, 0, n)) {
			fclose(f);
			snprintf(msg, msglen, "%s: contains a NUL byte (not a text file)", path);
			return FERRY_E_CONFIG;
		}
	rewind(f);
	st.f = f;
	int err = parse(&st, path, msg, msglen);
	fclose(f);
	return err;
}

int ferry_conf_parse(struct ferry_conf *c, const char *text, size_t len, const char *name, char *msg,
		     size_t msglen)
{
	struct parse_state st = { .c = c };
	int err;

	if (memchr(text, 0, len)) {
		snprintf(msg, msglen, "%s: contains a NUL byte (not a text file)", name);
		return FERRY_E_CONFIG;
	}
	if (len == 0)
		return FERRY_OK; /* nothing to read (fmemopen wants at least a byte) */
	st.f = fmemopen((void *)text, len, "r");
	if (!st.f)
		return FERRY_E_NOMEM;
	err = parse(&st, name, msg, msglen);
	fclose(st.f);
	return err;
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
