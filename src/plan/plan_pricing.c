/* Price tables: the conf/pricing/ CSV files parser, tier schedules and exact tier arithmetic,
 * and the policy of which rows a transfer pays (where the tables are, egress classes, requests). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/conf.h"
#include "ferry/plan.h"
#include "plan_int.h"

#ifndef FERRY_PRICING_DIR
#define FERRY_PRICING_DIR "conf/pricing"
#endif
#ifndef FERRY_PRICING_INSTALLED
#define FERRY_PRICING_INSTALLED "/usr/local/share/ferry/pricing"
#endif

#define HEADER "provider,region,item,dest,from,to,unit,usd,source,read_on"
#define NFIELDS 10
#define MAX_LINE 1024
#define MAX_FILE (4u << 20)

static int name_ok(const char *s, size_t cap, int allow_star)
{
	size_t n = strlen(s);

	if (n == 0 || n >= cap)
		return 0;
	if (allow_star && !strcmp(s, "*"))
		return 1;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

static int date_ok(const char *s)
{
	int y, m, d;
	char tail;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9'))
			return 0;
	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return 0;
	return y >= 2000 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int is_byte_unit(const char *u)
{
	return !strcmp(u, "GB") || !strcmp(u, "GiB") || !strcmp(u, "TB");
}

static double unit_bytes(const char *u)
{
	if (!strcmp(u, "GB"))
		return 1e9;
	if (!strcmp(u, "GiB"))
		return 1073741824.0;
	if (!strcmp(u, "TB"))
		return 1e12;
	return 0;
}

int ferry_plan_csv_split(char *line, char **f, int max, const char **why)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *out, *start;

		if (n == max) {
			*why = "too many fields";
			return -1;
		}
		if (*p == '"') {
			start = out = ++p;
			for (;;) {
				if (!*p) {
					*why = "unterminated quoted field";
					return -1;
				}
				if (*p == '"') {
					if (p[1] == '"') {
						*out++ = '"';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				*out++ = *p++;
			}
			if (*p && *p != ',') {
				*why = "text after a closing quote";
				return -1;
			}
			f[n++] = start;
			if (!*p) {
				*out = 0;
				break;
			}
			*out = 0;
			p++;
		} else {
			start = p;
			while (*p && *p != ',') {
				if (*p == '"') {
					*why = "quote inside an unquoted field";
					return -1;
				}
				p++;
			}
			f[n++] = start;
			if (!*p)
				break;
			*p++ = 0;
		}
	}
	return n;
}

static int grow(struct ferry_price_table *t)
{
	if (t->n < t->cap)
		return 0;
	if (t->cap >= FERRY_PRICE_MAX_ROWS)
		return -1;
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct ferry_price_row *r = realloc(t->rows, cap * sizeof(*r));
	if (!r)
		return -1;
	t->rows = r;
	t->cap = cap;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int parse_row(struct ferry_price_row *r, char **f, const char **why)
{
	memset(r, 0, sizeof(*r));
	if (!name_ok(f[0], sizeof(r->provider), 0))
		return *why = "provider: expected lower-case letters, digits, '-', '_' or '.'", -1;
	if (!name_ok(f[1], sizeof(r->region), 1))
		return *why = "region: expected a region name or *", -1;
	if (!name_ok(f[2], sizeof(r->item), 0) ||
	    (strcmp(f[2], "egress") && strcmp(f[2], "free") && strcmp(f[2], "storage") && strcmp(f[2], "put") &&
	     strcmp(f[2], "get") && strcmp(f[2], "list")))
		return *why = "item: expected egress, free, storage, put, get or list", -1;
	if (strcmp(f[3], "-") && !name_ok(f[3], sizeof(r->dest), 0))
		return *why = "dest: expected a destination class or -", -1;
	snprintf(r->provider, sizeof(r->provider), "%s", f[0]);
	snprintf(r->region, sizeof(r->region), "%s", f[1]);
	snprintf(r->item, sizeof(r->item), "%s", f[2]);
	snprintf(r->dest, sizeof(r->dest), "%s", f[3]);
	if (strcmp(f[6], "GB") && strcmp(f[6], "GiB") && strcmp(f[6], "TB") && strcmp(f[6], "1k"))
		return *why = "unit: expected GB (10^9 bytes), GiB (2^30), TB (10^12) or 1k (requests)", -1;
	snprintf(r->unit, sizeof(r->unit), "%s", f[6]);
	int request = !strcmp(r->item, "put") || !strcmp(r->item, "get") || !strcmp(r->item, "list");
	if (request != !strcmp(r->unit, "1k"))
		return *why = request ? "unit: request prices are per 1k requests" : "unit: expected a byte unit", -1;
	if (request) {
		if (f[4][0] || f[5][0])
			return *why = "from/to: request prices have no tiers (leave them empty)", -1;
		r->from = 0;
		r->to = -1;
	} else {
		if (ferry_plan_parse_number(f[4], &r->from) || r->from > 1e12)
			return *why = "from: expected a number of units", -1;
		if (!f[5][0]) {
			r->to = -1;
		} else if (ferry_plan_parse_number(f[5], &r->to) || r->to <= r->from || r->to > 1e12) {
			return *why = "to: expected a number of units above from, or empty for open-ended", -1;
		}
		if (!strcmp(r->item, "free") && (r->from != 0 || r->to < 0))
			return *why = "free: an allowance runs from 0 to its size", -1;
	}
	if (strcmp(r->dest, "-") && (request || !strcmp(r->item, "storage")))
		return *why = "dest: storage and request rows take -", -1;
	if (!strcmp(r->dest, "-") && (!strcmp(r->item, "egress") || !strcmp(r->item, "free")))
		return *why = "dest: egress rows need a destination class", -1;
	if (ferry_plan_parse_number(f[7], &r->usd) || r->usd > 1e6)
		return *why = "usd: expected a price such as 0.09", -1;
	if (!f[8][0] || strlen(f[8]) >= sizeof(r->source))
		return *why = "source: every price needs its source (at most 199 characters)", -1;
	snprintf(r->source, sizeof(r->source), "%s", f[8]);
	if (!date_ok(f[9]))
		return *why = "read_on: expected the date the price was read, YYYY-MM-DD", -1;
	snprintf(r->read_on, sizeof(r->read_on), "%s", f[9]);
	return 0;
}

int ferry_price_parse(struct ferry_price_table *t, const char *text, size_t len, const char *name, char *msg,
		      size_t msglen)
{
	char line[MAX_LINE + 2];
	size_t pos = 0;
	int lineno = 0, header = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *f[NFIELDS + 1];
		const char *why = NULL;
		char fbuf[64];
		int nf;

		lineno++;
		if (n > MAX_LINE) {
			snprintf(msg, msglen, "%s:%d: line longer than %d bytes", name, lineno, MAX_LINE);
			return FERRY_E_CONFIG;
		}
		memcpy(line, text + pos, n);
		line[n] = 0;
		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			line[--n] = 0;
		if (memchr(line, 0, n)) {
			snprintf(msg, msglen, "%s:%d: NUL byte", name, lineno);
			return FERRY_E_CONFIG;
		}
		if (n == 0 || line[0] == '#')
			continue;
		if (!header) {
			if (strcmp(line, HEADER)) {
				snprintf(msg, msglen, "%s:%d: expected the header line '%s'", name, lineno, HEADER);
				return FERRY_E_CONFIG;
			}
			header = 1;
			continue;
		}
		nf = ferry_plan_csv_split(line, f, NFIELDS + 1, &why);
		if (nf >= 0 && nf != NFIELDS) {
			snprintf(fbuf, sizeof(fbuf), "expected %d fields, found %d", NFIELDS, nf);
			why = fbuf;
		}
		if (!why && grow(t))
			why = "too many rows";
		if (!why && parse_row(&t->rows[t->n], f, &why) == 0) {
			struct ferry_price_row *r = &t->rows[t->n];
			snprintf(r->file, sizeof(r->file), "%s", base_name(name));
			r->line = lineno;
			t->n++;
			continue;
		}
		snprintf(msg, msglen, "%s:%d: %s", name, lineno, why);
		return FERRY_E_CONFIG;
	}
	if (!header) {
		snprintf(msg, msglen, "%s: no header line '%s'", name, HEADER);
		return FERRY_E_CONFIG;
	}
	return FERRY_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_file(struct ferry_price_table *t, const char *path, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int err;

	if (!f) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return FERRY_E_CONFIG;
	}
	buf = malloc(MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return FERRY_E_NOMEM;
	}
	n = fread(buf, 1, MAX_FILE + 1, f);
	fclose(f);
	if (n > MAX_FILE) {
		free(buf);
		snprintf(msg, msglen, "%s: larger than %u bytes", path, MAX_FILE);
		return FERRY_E_CONFIG;
	}
	err = ferry_price_parse(t, buf, n, path, msg, msglen);
	free(buf);
	return err;
}

int ferry_price_load_dir(struct ferry_price_table *t, const char *dir, char *msg, size_t msglen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[256];
	int n = 0, err = FERRY_OK;

	if (!d) {
		snprintf(msg, msglen, "%s: %s", dir, strerror(errno));
		return FERRY_E_CONFIG;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".csv") || e->d_name[0] == '.')
			continue;
		if (n == 256) {
			snprintf(msg, msglen, "%s: more than 256 price files", dir);
			err = FERRY_E_CONFIG;
			break;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			err = FERRY_E_NOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		char path[4096];
		if (!err) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			err = load_file(t, path, msg, msglen);
		}
		free(names[i]);
	}
	if (!err && t->n == 0) {
		snprintf(msg, msglen, "%s: no price rows (*.csv)", dir);
		err = FERRY_E_CONFIG;
	}
	return err;
}

void ferry_price_free(struct ferry_price_table *t)
{
	if (!t)
		return;
	free(t->rows);
	t->rows = NULL;
	t->n = t->cap = 0;
}

static int region_match(const struct ferry_price_row *r, const char *region)
{
	return !strcmp(r->region, region) || !strcmp(r->region, "*");
}

int ferry_price_known(const struct ferry_price_table *t, const char *provider, const char *region)
{
	int prov = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->rows[i].provider, provider))
			continue;
		prov = 1;
		/* an allowance for every region does not make a region known */
		if (!strcmp(t->rows[i].item, "free"))
			continue;
		if (!region || region_match(&t->rows[i], region))
			return 2;
	}
	return prov;
}

/* Appends each distinct value of one column among matching rows to msg. */
static void list_known(const struct ferry_price_table *t, const char *provider, const char *region,
		       const char *item, int col, char *msg, size_t msglen)
{
	size_t len = strlen(msg);
	int count = 0;

	for (size_t i = 0; i < t->n && len + 40 < msglen; i++) {
		const struct ferry_price_row *r = &t->rows[i];
		const char *v = col == 0 ? r->provider : col == 1 ? r->region : r->dest;
		int dup = 0;

		if ((provider && strcmp(r->provider, provider)) || (region && !region_match(r, region)) ||
		    (item && strcmp(r->item, item)) || !strcmp(r->item, "free"))
			continue;
		for (size_t j = 0; j < i && !dup; j++) {
			const struct ferry_price_row *q = &t->rows[j];
			const char *w = col == 0 ? q->provider : col == 1 ? q->region : q->dest;
			if ((provider && strcmp(q->provider, provider)) || (region && !region_match(q, region)) ||
			    (item && strcmp(q->item, item)) || !strcmp(q->item, "free"))
				continue;
			dup = !strcmp(v, w);
		}
		if (dup)
			continue;
		len += (size_t)snprintf(msg + len, msglen - len, "%s%s", count++ ? ", " : "", v);
	}
	if (len + 2 < msglen)
		snprintf(msg + len, msglen - len, ")");
}

static int known_error(const struct ferry_price_table *t, const char *provider, const char *region,
		       const char *item, const char *dest, char *msg, size_t msglen)
{
	int k = ferry_price_known(t, provider, region);

	if (k == 0) {
		snprintf(msg, msglen, "unknown provider '%s' (known: ", provider);
		list_known(t, NULL, NULL, NULL, 0, msg, msglen);
	} else if (k == 1) {
		snprintf(msg, msglen, "unknown region '%s' for %s (known: ", region, provider);
		list_known(t, provider, NULL, NULL, 1, msg, msglen);
	} else if (dest) {
		snprintf(msg, msglen, "no %s price from %s %s to '%s' (known: ", item, provider, region, dest);
		list_known(t, provider, region, item, 2, msg, msglen);
	} else {
		snprintf(msg, msglen, "no %s price for %s %s in the price tables", item, provider, region);
	}
	return FERRY_E_NOTFOUND;
}

static int cmp_tier(const void *a, const void *b)
{
	const struct ferry_price_row *x = *(const struct ferry_price_row *const *)a;
	const struct ferry_price_row *y = *(const struct ferry_price_row *const *)b;
	return x->from < y->from ? -1 : x->from > y->from;
}

int ferry_price_tiers(const struct ferry_price_table *t, const char *provider, const char *region, const char *item,
		      const char *dest, struct ferry_tiers *out, char *msg, size_t msglen)
{
	const struct ferry_price_row *rows[FERRY_PRICE_MAX_TIERS];
	unsigned n = 0;
	int exact_region = 0;

	memset(out, 0, sizeof(*out));
	if (!dest)
		dest = "-";
	/* a row for the region itself wins over a * row */
	for (size_t i = 0; i < t->n; i++) {
		const struct ferry_price_row *r = &t->rows[i];
		if (!strcmp(r->provider, provider) && !strcmp(r->region, region) && !strcmp(r->item, item) &&
		    !strcmp(r->dest, dest))
			exact_region = 1;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct ferry_price_row *r = &t->rows[i];
		if (strcmp(r->provider, provider) || strcmp(r->item, item) || strcmp(r->dest, dest))
			continue;
		if (exact_region ? strcmp(r->region, region) : strcmp(r->region, "*"))
			continue;
		if (n == FERRY_PRICE_MAX_TIERS) {
			snprintf(msg, msglen, "%s:%d: more than %d tiers for %s %s %s %s", r->file, r->line,
				 FERRY_PRICE_MAX_TIERS, provider, region, item, dest);
			return FERRY_E_CONFIG;
		}
		rows[n++] = r;
	}
	if (n == 0)
		return known_error(t, provider, region, item, strcmp(dest, "-") ? dest : NULL, msg, msglen);
	qsort(rows, n, sizeof(rows[0]), cmp_tier);
	for (unsigned i = 0; i < n; i++) {
		const struct ferry_price_row *r = rows[i];
		if (strcmp(r->unit, rows[0]->unit)) {
			snprintf(msg, msglen, "%s:%d: unit %s differs from the other tiers' %s", r->file, r->line,
				 r->unit, rows[0]->unit);
			return FERRY_E_CONFIG;
		}
		if ((i == 0 && r->from != 0) || (i > 0 && (rows[i - 1]->to < 0 || rows[i - 1]->to != r->from))) {
			snprintf(msg, msglen, "%s:%d: tier starting at %g does not follow the previous tier", r->file,
				 r->line, r->from);
			return FERRY_E_CONFIG;
		}
		out->t[i].from = r->from;
		out->t[i].to = r->to;
		out->t[i].usd = r->usd;
		out->t[i].row = r;
	}
	out->n = n;
	out->unit_bytes = unit_bytes(rows[0]->unit);
	if (!is_byte_unit(rows[0]->unit)) {
		snprintf(msg, msglen, "%s:%d: a tier schedule needs a byte unit", rows[0]->file, rows[0]->line);
		return FERRY_E_CONFIG;
	}
	/* the monthly free allowance for the same provider, region and destination */
	if (!strcmp(item, "egress")) {
		for (size_t i = 0; i < t->n; i++) {
			const struct ferry_price_row *r = &t->rows[i];
			if (!strcmp(r->provider, provider) && region_match(r, region) && !strcmp(r->item, "free") &&
			    !strcmp(r->dest, dest)) {
				out->free_units = r->to * unit_bytes(r->unit) / out->unit_bytes;
				out->free_row = r;
			}
		}
	}
	return FERRY_OK;
}

int ferry_price_request(const struct ferry_price_table *t, const char *provider, const char *region, const char *item,
			double *usd_per_1k, const struct ferry_price_row **row)
{
	const struct ferry_price_row *star = NULL;

	for (size_t i = 0; i < t->n; i++) {
		const struct ferry_price_row *r = &t->rows[i];
		if (strcmp(r->provider, provider) || strcmp(r->item, item))
			continue;
		if (!strcmp(r->region, region)) {
			*usd_per_1k = r->usd;
			if (row)
				*row = r;
			return FERRY_OK;
		}
		if (!strcmp(r->region, "*"))
			star = r;
	}
	if (!star)
		return FERRY_E_NOTFOUND;
	*usd_per_1k = star->usd;
	if (row)
		*row = star;
	return FERRY_OK;
}

double ferry_tiers_cost(const struct ferry_tiers *s, double bytes, int free_tier, struct ferry_tier_line *lines,
			unsigned *nlines, double *unpriced)
{
	double units = s->unit_bytes > 0 ? bytes / s->unit_bytes : 0, start = 0, usd = 0, covered = 0;
	unsigned nl = 0;

	if (units < 0 || !isfinite(units))
		units = 0;
	if (free_tier && s->free_units > 0) {
		start = fmin(units, s->free_units);
		if (lines && start > 0)
			lines[nl++] = (struct ferry_tier_line){ 0, s->free_units, start, 0, 0, NULL };
	}
	covered = start;
	for (unsigned i = 0; i < s->n; i++) {
		double lo = fmax(s->t[i].from, start);
		double hi = s->t[i].to < 0 ? units : fmin(s->t[i].to, units);
		double q = hi - lo;

		if (q <= 0)
			continue;
		usd += q * s->t[i].usd;
		covered = fmax(covered, hi);
		if (lines)
			lines[nl++] = (struct ferry_tier_line){ s->t[i].from, s->t[i].to, q, s->t[i].usd, q * s->t[i].usd,
								s->t[i].row };
	}
	if (s->n > 0 && s->t[s->n - 1].to >= 0)
		covered = fmax(covered, fmin(units, s->t[s->n - 1].to));
	if (nlines)
		*nlines = nl;
	if (unpriced)
		*unpriced = units > covered ? (units - covered) * s->unit_bytes : 0;
	return usd;
}

/* ---- the policy: which tables, which rows ---- */

int ferry_price_load(struct ferry_price_table *t, const char *dir, char *msg, size_t msglen)
{
	struct stat st;
	int err;

	if (!dir || !*dir)
		dir = getenv("FERRY_PRICING");
	/* the source tree's while running from a build, else the installed copy */
	if (!dir || !*dir)
		dir = stat(FERRY_PRICING_DIR, &st) == 0 ? FERRY_PRICING_DIR : FERRY_PRICING_INSTALLED;
	err = ferry_price_load_dir(t, dir, msg, msglen);
	if (err)
		ferry_price_free(t);
	return err;
}

int ferry_price_location(const struct ferry_price_table *t, const char *arg, char *prov, size_t pcap, char *reg,
			 size_t rcap, char *msg, size_t msglen)
{
	const char *colon = strchr(arg, ':'), *known;
	struct ferry_tiers tiers;
	char why[1024];

	if (colon) {
		snprintf(prov, pcap, "%.*s", (int)(colon - arg), arg);
		snprintf(reg, rcap, "%s", colon + 1);
	} else {
		snprintf(prov, pcap, "%s", arg);
		snprintf(reg, rcap, "*");
	}
	if (!*prov || !*reg) {
		snprintf(msg, msglen, "expected PROVIDER:REGION such as aws:us-east-1");
		return FERRY_E_INVAL;
	}
	if (ferry_price_known(t, prov, reg) == 2)
		return FERRY_OK;
	/* let the table say what it knows */
	if (ferry_price_tiers(t, prov, reg, "egress", "internet", &tiers, why, sizeof(why)) == FERRY_OK)
		return FERRY_OK;
	known = strstr(why, "(known:");
	if (!colon && ferry_price_known(t, prov, NULL) && known)
		snprintf(msg, msglen, "%s has no prices for all regions: say which, %s:REGION %s", prov, prov, known);
	else
		snprintf(msg, msglen, "%s", why);
	return FERRY_E_NOTFOUND;
}

int ferry_price_is_location(const struct ferry_price_table *t, const char *s)
{
	const char *colon = strchr(s, ':');
	char prov[16];

	if (strchr(s, '/') || strlen(s) > 64)
		return 0;
	snprintf(prov, sizeof(prov), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	if (ferry_price_known(t, prov, NULL))
		return 1;
	return colon != NULL && !strchr(colon + 1, ':'); /* a PROVIDER:REGION with an unknown provider */
}

void ferry_price_egress_class(const char *sprov, const char *sreg, const char *dprov, const char *dreg, char *dest,
			      size_t cap)
{
	if (dprov && !strcmp(dprov, sprov) && !strcmp(dreg, sreg))
		snprintf(dest, cap, "%s", ""); /* within one region: no transfer charge */
	else if (dprov && !strcmp(dprov, sprov))
		snprintf(dest, cap, "%s", dreg);
	else
		snprintf(dest, cap, "internet");
}

int ferry_price_egress(const struct ferry_price_table *t, const char *prov, const char *reg, const char *dest,
		       int region_fallback, struct ferry_tiers *out, char *msg, size_t msglen)
{
	int err = ferry_price_tiers(t, prov, reg, "egress", dest, out, msg, msglen);

	/* a region the table has no row of its own for is priced as any other region */
	if (err == FERRY_E_NOTFOUND && region_fallback && strcmp(dest, "internet") && strcmp(dest, "onprem") &&
	    strncmp(dest, "inter", 5))
		err = ferry_price_tiers(t, prov, reg, "egress", "inter-region", out, msg, msglen);
	return err;
}

int ferry_price_egress_bill(const struct ferry_price_table *t, const char *prov, const char *reg, const char *dest,
			    double bytes, uint64_t objects, double months, int free_tier, struct ferry_egress_bill *b,
			    char *msg, size_t msglen)
{
	int err;

	memset(b, 0, sizeof(*b));
	b->get_usd_1k = b->list_usd_1k = NAN;
	if (!(months >= 1))
		months = 1;
	err = ferry_price_egress(t, prov, reg, dest, 1, &b->tiers, msg, msglen);
	if (err)
		return err;
	/* tiers restart every month: the bytes are spread evenly over the months */
	b->egress_usd = months * ferry_tiers_cost(&b->tiers, bytes / months, free_tier, b->lines, &b->nlines,
						  &b->unpriced_bytes);
	b->unpriced_bytes *= months;
	/* reading it out: a GET per object, a LIST per thousand */
	b->gets = objects;
	b->lists = (objects + 999) / 1000;
	(void)ferry_price_request(t, prov, reg, "get", &b->get_usd_1k, NULL);
	(void)ferry_price_request(t, prov, reg, "list", &b->list_usd_1k, NULL);
	b->requests_usd = (isnan(b->get_usd_1k) ? 0 : b->get_usd_1k * (double)b->gets / 1000) +
			  (isnan(b->list_usd_1k) ? 0 : b->list_usd_1k * (double)b->lists / 1000);
	return FERRY_OK;
}

int ferry_plan_prices(const struct ferry_price_table *t, const char *sprov, const char *sreg, const char *dprov,
		      const char *dreg, const char *egress_class, struct ferry_plan_input *in,
		      struct ferry_plan_prices *out, char *msg, size_t msglen)
{
	char why[512];
	int err;

	memset(out, 0, sizeof(*out));
	in->get_usd_1k = in->src_list_usd_1k = NAN;
	if (sprov) {
		if (egress_class)
			snprintf(out->egress_class, sizeof(out->egress_class), "%s", egress_class);
		else
			ferry_price_egress_class(sprov, sreg, dprov, dreg, out->egress_class,
						 sizeof(out->egress_class));
		if (out->egress_class[0]) {
			/* the class asked for is that class; a region of the same provider may fall back */
			err = ferry_price_egress(t, sprov, sreg, out->egress_class, !egress_class, &out->link, msg,
						 msglen);
			if (err)
				return err;
			out->have_link = 1;
		}
		if (ferry_price_request(t, sprov, sreg, "get", &in->get_usd_1k, NULL))
			in->get_usd_1k = NAN;
		if (ferry_price_request(t, sprov, sreg, "list", &in->src_list_usd_1k, NULL))
			in->src_list_usd_1k = NAN;
		/* a priced source means requests there, even when the table has no price for them */
		if (isnan(in->get_usd_1k))
			in->get_usd_1k = 0;
	}
	in->put_usd_1k = in->list_usd_1k = NAN;
	if (dprov) {
		if (ferry_price_request(t, dprov, dreg, "put", &in->put_usd_1k, NULL))
			out->missing |= FERRY_PRICE_NO_PUT;
		(void)ferry_price_request(t, dprov, dreg, "list", &in->list_usd_1k, NULL);
		if (ferry_price_tiers(t, dprov, dreg, "storage", NULL, &out->storage, why, sizeof(why)) == FERRY_OK)
			in->storage = &out->storage;
		else
			out->missing |= FERRY_PRICE_NO_STORAGE;
	}
	return FERRY_OK;
}

int ferry_plan_routes(const struct ferry_conf *conf, const struct ferry_price_table *t, double link_bandwidth,
		      double default_bandwidth, int free_tier, const struct ferry_tiers *link_tiers,
		      struct ferry_plan_input *in, char *msg, size_t msglen)
{
	int wire = 0;
	char why[1024];

	for (unsigned i = 0; i < conf->nroutes; i++) {
		const struct ferry_conf_route *cr = &conf->routes[i];
		struct ferry_route *r = &in->routes[in->nroutes++];

		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", cr->name);
		r->bandwidth = cr->bandwidth;
		r->free_tier = free_tier;
		if (cr->ship) {
			r->ship = 1;
			r->ship_usd = cr->price;
			r->ship_seconds = cr->days * 86400;
			r->ship_capacity = cr->capacity;
			continue;
		}
		wire = 1;
		if (cr->pricing[0]) {
			char prov[16], reg[32], dest[32];
			if (sscanf(cr->pricing, "%15[^:]:%31[^:]:%31s", prov, reg, dest) != 3) {
				snprintf(msg, msglen, "route '%s': pricing = %s: expected provider:region:dest",
					 cr->name, cr->pricing);
				return FERRY_E_CONFIG;
			}
			if (ferry_price_tiers(t, prov, reg, "egress", dest, &r->tiers, why, sizeof(why))) {
				snprintf(msg, msglen, "route '%s': pricing = %s: %s", cr->name, cr->pricing, why);
				return FERRY_E_CONFIG;
			}
			r->tiered = 1;
		} else {
			r->usd_per_byte = cr->price_per_gb / 1e9;
		}
	}
	/* the plain link: the only way out, or one more beside the routes when it was given */
	if (!wire || link_bandwidth > 0) {
		struct ferry_route *r = &in->routes[in->nroutes];
		if (in->nroutes == FERRY_PLAN_MAX_ROUTES) {
			snprintf(msg, msglen, "at most %d routes", FERRY_PLAN_MAX_ROUTES);
			return FERRY_E_CONFIG;
		}
		in->nroutes++;
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "link");
		r->bandwidth = link_bandwidth > 0 ? link_bandwidth : default_bandwidth;
		r->free_tier = free_tier;
		if (link_tiers) {
			r->tiered = 1;
			r->tiers = *link_tiers;
		}
	}
	return FERRY_OK;
}
