/* The planner commands: plan (time, dollars, codec and route before anything moves) and cost (an egress bill). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "plan_report.h"
#include "ferry/backend.h"
#include "ferry/conf.h"
#include "ferry/copy.h"
#include "ferry/plan.h"

/* Defaults measured on this kind of machine (REFERENCE.md section 6: fio, io_uring, 1 MiB, QD16). */
#define DEFAULT_READ_RATE 735e6
#define DEFAULT_WRITE_RATE 900e6
#define DEFAULT_BANDWIDTH (1e9 / 8)
#define DEFAULT_RTT 0.020
#define DEFAULT_REQUEST_LATENCY 0.030
#define DEFAULT_CONNECTIONS 16

struct popts {
	const char *pos[2];
	int npos;
	double deadline, budget;
	const char *svg;
	double bandwidth, rtt, request_latency, read_rate, write_rate;
	int connections, dst_cores, src_cores, encrypt, free_tier;
	const char *inventory, *from, *at, *to, *pricing, *egress_class;
	double months, size, sample_bytes, sample_seconds;
	uint64_t objects, seed;
	int have_size, have_objects;
	int probe, no_push_probe;
	const char *assumed[8];
	int nassumed;
};

enum {
	O_DEADLINE = 1000, O_BUDGET, O_SVG, O_BANDWIDTH, O_RTT, O_CONNECTIONS, O_REQLAT, O_DSTCORES, O_SRCCORES,
	O_READRATE, O_WRITERATE, O_ENCRYPT, O_INVENTORY, O_FROM, O_AT, O_TO, O_FREETIER, O_MONTHS, O_SIZE,
	O_OBJECTS, O_SAMPLE, O_SAMPLETIME, O_SEED, O_PRICING, O_EGRESSCLASS, O_PROBE, O_NOPUSHPROBE,
};

static int bad_value(struct cli *c, const char *opt, const char *want, const char *got)
{
	return cli_usage_error(c, "--%s: expected %s, got '%s'", opt, want, got);
}

static int parse_int_opt(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(struct cli *c, int argc, char **argv, int cost, struct popts *p)
{
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS,
		{ "deadline", required_argument, NULL, O_DEADLINE },
		{ "budget", required_argument, NULL, O_BUDGET },
		{ "svg", required_argument, NULL, O_SVG },
		{ "bandwidth", required_argument, NULL, O_BANDWIDTH },
		{ "rtt", required_argument, NULL, O_RTT },
		{ "connections", required_argument, NULL, O_CONNECTIONS },
		{ "request-latency", required_argument, NULL, O_REQLAT },
		{ "dst-cores", required_argument, NULL, O_DSTCORES },
		{ "src-cores", required_argument, NULL, O_SRCCORES },
		{ "read-rate", required_argument, NULL, O_READRATE },
		{ "write-rate", required_argument, NULL, O_WRITERATE },
		{ "encrypt", no_argument, NULL, O_ENCRYPT },
		{ "inventory", required_argument, NULL, O_INVENTORY },
		{ "from", required_argument, NULL, O_FROM },
		{ "at", required_argument, NULL, O_AT },
		{ "to", required_argument, NULL, O_TO },
		{ "free-tier", no_argument, NULL, O_FREETIER },
		{ "months", required_argument, NULL, O_MONTHS },
		{ "size", required_argument, NULL, O_SIZE },
		{ "objects", required_argument, NULL, O_OBJECTS },
		{ "sample", required_argument, NULL, O_SAMPLE },
		{ "sample-time", required_argument, NULL, O_SAMPLETIME },
		{ "seed", required_argument, NULL, O_SEED },
		{ "pricing", required_argument, NULL, O_PRICING },
		{ "egress-class", required_argument, NULL, O_EGRESSCLASS },
		{ "probe", no_argument, NULL, O_PROBE },
		{ "no-push-probe", no_argument, NULL, O_NOPUSHPROBE },
		{ NULL, 0, NULL, 0 },
	};
	/* options only one of the two commands takes */
	static const int plan_only[] = { O_DEADLINE, O_BUDGET, O_SVG, O_BANDWIDTH, O_RTT, O_CONNECTIONS, O_REQLAT,
					 O_DSTCORES, O_SRCCORES, O_READRATE, O_WRITERATE, O_ENCRYPT, O_AT,
					 O_SAMPLE, O_SAMPLETIME, O_SEED, O_EGRESSCLASS, O_PROBE, O_NOPUSHPROBE, 0 };
	static const int cost_only[] = { O_TO, 0 };
	int opt;
	long n;

	memset(p, 0, sizeof(*p));
	p->deadline = p->budget = NAN;
	p->rtt = p->request_latency = -1;
	p->months = 1;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
		const char *a = optarg;

		if (opt == 'h') {
			cli_help(c);
			return -1 - EXIT_OK;
		}
		if (opt == 'N') /* --connections is the planned link's here, not the S3 client's */
			opt = O_CONNECTIONS;
		else if (cli_common_opt(c, opt, optarg))
			continue;
		if (opt == ':')
			return -1 - cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
		if (opt == '?')
			return -1 - cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
		for (const int *o = cost ? plan_only : cost_only; *o; o++)
			if (*o == opt)
				return -1 - cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
		switch (opt) {
		case O_DEADLINE:
			if (ferry_plan_parse_duration(a, &p->deadline) || !(p->deadline > 0))
				return -1 - bad_value(c, "deadline", "a duration such as 3s, 90m, 24h or 2d", a);
			break;
		case O_BUDGET:
			if (ferry_plan_parse_number(a[0] == '$' ? a + 1 : a, &p->budget))
				return -1 - bad_value(c, "budget", "US dollars such as 250 or 99.50", a);
			break;
		case O_SVG: p->svg = a; break;
		case O_BANDWIDTH:
			if (ferry_plan_parse_rate(a, &p->bandwidth))
				return -1 - bad_value(c, "bandwidth", "a rate such as 1Gbit, 100Mbit or 120MB/s", a);
			break;
		case O_READRATE:
		case O_WRITERATE:
			if (ferry_plan_parse_rate(a, opt == O_READRATE ? &p->read_rate : &p->write_rate))
				return -1 - bad_value(c, opt == O_READRATE ? "read-rate" : "write-rate",
						      "a rate such as 700MB/s", a);
			break;
		case O_RTT:
		case O_REQLAT: {
			double *d = opt == O_RTT ? &p->rtt : &p->request_latency;
			if (ferry_plan_parse_duration(a, d) || *d > 60)
				return -1 - bad_value(c, opt == O_RTT ? "rtt" : "request-latency",
						      "a duration such as 20ms", a);
			break;
		}
		case O_CONNECTIONS:
		case O_DSTCORES:
		case O_SRCCORES:
			if (parse_int_opt(a, 1, 4096, &n))
				return -1 - bad_value(c, opt == O_CONNECTIONS ? "connections" : opt == O_DSTCORES ?
							  "dst-cores" : "src-cores", "1..4096", a);
			*(opt == O_CONNECTIONS ? &p->connections : opt == O_DSTCORES ? &p->dst_cores : &p->src_cores) =
				(int)n;
			break;
		case O_ENCRYPT: p->encrypt = 1; break;
		case O_FREETIER: p->free_tier = 1; break;
		case O_INVENTORY: p->inventory = a; break;
		case O_FROM: p->from = a; break;
		case O_AT: p->at = a; break;
		case O_TO: p->to = a; break;
		case O_PRICING: p->pricing = a; break;
		case O_EGRESSCLASS: p->egress_class = a; break;
		case O_PROBE: p->probe = 1; break;
		case O_NOPUSHPROBE: p->no_push_probe = 1; break;
		case O_MONTHS:
			if (parse_int_opt(a, 1, 120, &n))
				return -1 - bad_value(c, "months", "1..120", a);
			p->months = (double)n;
			break;
		case O_SIZE:
			if (ferry_plan_parse_bytes(a, &p->size))
				return -1 - bad_value(c, "size", "a size such as 100TiB, 80TB or 5G", a);
			p->have_size = 1;
			break;
		case O_OBJECTS:
			if (parse_int_opt(a, 1, 1000000000000L, &n))
				return -1 - bad_value(c, "objects", "a count of at least 1", a);
			p->objects = (uint64_t)n;
			p->have_objects = 1;
			break;
		case O_SAMPLE:
			if (ferry_plan_parse_bytes(a, &p->sample_bytes) || p->sample_bytes < 4096)
				return -1 - bad_value(c, "sample", "a size of at least 4K such as 512M", a);
			break;
		case O_SAMPLETIME:
			if (ferry_plan_parse_duration(a, &p->sample_seconds) || !(p->sample_seconds > 0))
				return -1 - bad_value(c, "sample-time", "a duration such as 10s", a);
			break;
		case O_SEED:
			if (parse_int_opt(a, 0, 0x7fffffffL, &n))
				return -1 - bad_value(c, "seed", "0..2147483647", a);
			p->seed = (uint64_t)n;
			break;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (p->npos == 2)
			return -1 - cli_usage_error(c, "unexpected argument '%s'", argv[i]);
		p->pos[p->npos++] = argv[i];
	}
	int rc = cli_load_conf(c);
	if (rc)
		return -1 - rc;
	return 0;
}

static int load_prices(struct cli *c, const struct popts *p, struct ferry_price_table *t)
{
	char msg[1024];

	/* --pricing, then the config file, then the library's defaults */
	if (ferry_price_load(t, p->pricing ? p->pricing : c->conf.pricing_dir, msg, sizeof(msg))) {
		cli_err(c, "pricing: %s", msg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* PROVIDER[:REGION] checked against the tables; region "*" when none is given. */
static int parse_loc(struct cli *c, const struct ferry_price_table *t, const char *opt, const char *arg,
		     char *prov, size_t pcap, char *reg, size_t rcap)
{
	char msg[1024];

	if (ferry_price_location(t, arg, prov, pcap, reg, rcap, msg, sizeof(msg))) {
		cli_err(c, "%s '%s': %s", opt, arg, msg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static struct json_object *tier_json(const struct ferry_tier_line *l, const struct ferry_tiers *s)
{
	struct json_object *o = json_object_new_object();
	const char *unit = l->row ? l->row->unit : s->free_row ? s->free_row->unit : "GiB";

	json_object_object_add(o, "from_units", json_object_new_double(l->from));
	json_object_object_add(o, "to_units", l->to < 0 ? NULL : json_object_new_double(l->to));
	json_object_object_add(o, "unit", json_object_new_string(unit));
	json_object_object_add(o, "units", json_object_new_double(l->units));
	json_object_object_add(o, "usd_per_unit", json_object_new_double(l->usd_per_unit));
	json_object_object_add(o, "usd", json_object_new_double(l->usd));
	json_object_object_add(o, "free_allowance", json_object_new_boolean(l->row == NULL));
	const struct ferry_price_row *r = l->row ? l->row : s->free_row;
	if (r) {
		json_object_object_add(o, "source", json_object_new_string(r->source));
		json_object_object_add(o, "read_on", json_object_new_string(r->read_on));
	}
	return o;
}

/* ---- cost ---- */

int cmd_cost(struct cli *c, int argc, char **argv)
{
	struct popts p;
	struct ferry_price_table t = { 0 };
	struct ferry_plan_scan s;
	struct ferry_egress_bill b;
	char prov[16], reg[32], msg[1024], dest[40];
	const char *src = NULL;
	int rc = parse_opts(c, argc, argv, 1, &p), err;

	if (rc)
		return -1 - rc;
	ferry_plan_scan_init(&s, 1);
	if (p.npos > 1)
		return cli_usage_error(c, "unexpected argument '%s'", p.pos[1]);
	src = p.npos ? p.pos[0] : p.inventory;
	if (p.npos && p.inventory)
		return cli_usage_error(c, "give SRC or --inventory FILE, not both");
	if (!!src == !!p.have_size)
		return cli_usage_error(c, "expected SRC (an S3 Inventory CSV) or --size SIZE (a what-if)");
	if (!p.from)
		return cli_usage_error(c, "--from PROVIDER:REGION is needed: where the data is (e.g. aws:us-east-1)");
	if (src && strstr(src, "://"))
		return cli_usage_error(c, "%s: listing a bucket needs the S3 backend, which is not built yet; give its "
					  "S3 Inventory CSV (--inventory FILE) or --size", src);
	if ((rc = load_prices(c, &p, &t)))
		return rc;
	if ((rc = parse_loc(c, &t, "--from", p.from, prov, sizeof(prov), reg, sizeof(reg))))
		goto out;
	if (src) {
		err = ferry_plan_scan_inventory(&s, src, msg, sizeof(msg));
		if (err) {
			cli_err(c, "%s", msg);
			rc = EXIT_USAGE;
			goto out;
		}
	} else {
		/* without --objects: one object per 64 MiB, the size of ferry's packs */
		uint64_t objs = p.have_objects ? p.objects : (uint64_t)fmax(1, ceil(p.size / (64.0 * 1048576)));
		if (ferry_plan_scan_whatif(&s, p.size, objs)) {
			rc = EXIT_USAGE;
			goto out;
		}
	}
	/* the destination class: internet, onprem, or another region of the same provider */
	snprintf(dest, sizeof(dest), "%s", p.to ? p.to : "internet");
	err = ferry_price_egress_bill(&t, prov, reg, dest, s.bytes, s.files, p.months, p.free_tier, &b, msg,
				      sizeof(msg));
	if (err) {
		cli_err(c, "--to %s: %s", dest, msg);
		rc = EXIT_USAGE;
		goto out;
	}
	if (b.unpriced_bytes > 0)
		fprintf(stderr, "ferry: cost: warning: %s %s egress to %s: the price table ends at %g %s; %.0f bytes "
				"are unpriced and not in the total\n", prov, reg, dest, b.tiers.t[b.tiers.n - 1].to,
			b.tiers.t[0].row->unit, b.unpriced_bytes);
	if (c->json) {
		struct json_object *o = json_object_new_object(), *ja = json_object_new_array(), *rq = json_object_new_array();
		json_object_object_add(o, "command", json_object_new_string("cost"));
		json_object_object_add(o, "from", json_object_new_string(p.from));
		json_object_object_add(o, "to", json_object_new_string(dest));
		json_object_object_add(o, "bytes", json_object_new_double(s.bytes));
		json_object_object_add(o, "objects", json_object_new_int64((int64_t)s.files));
		json_object_object_add(o, "months", json_object_new_int((int)p.months));
		json_object_object_add(o, "free_tier", json_object_new_boolean(p.free_tier));
		json_object_object_add(o, "egress_usd", json_object_new_double(b.egress_usd));
		json_object_object_add(o, "requests_usd", json_object_new_double(b.requests_usd));
		json_object_object_add(o, "total_usd", json_object_new_double(b.egress_usd + b.requests_usd));
		json_object_object_add(o, "unpriced_bytes", json_object_new_double(b.unpriced_bytes));
		for (unsigned i = 0; i < b.nlines; i++)
			json_object_array_add(ja, tier_json(&b.lines[i], &b.tiers));
		json_object_object_add(o, "tiers_per_month", ja);
		const char *items[2] = { "get", "list" };
		double prices[2] = { b.get_usd_1k, b.list_usd_1k };
		uint64_t counts[2] = { b.gets, b.lists };
		for (int i = 0; i < 2; i++) {
			struct json_object *r = json_object_new_object();
			json_object_object_add(r, "item", json_object_new_string(items[i]));
			json_object_object_add(r, "count", json_object_new_int64((int64_t)counts[i]));
			json_object_object_add(r, "usd_per_1k", plan_json_double(prices[i]));
			json_object_object_add(r, "usd", json_object_new_double(isnan(prices[i]) ? 0 :
						prices[i] * (double)counts[i] / 1000));
			json_object_array_add(rq, r);
		}
		json_object_object_add(o, "requests", rq);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (!c->quiet) {
		char size[32];
		ferry_plan_fmt_bytes(s.bytes, size, sizeof(size));
		printf("egress of %s (%.0f bytes, %llu objects) from %s to %s", size, s.bytes,
		       (unsigned long long)s.files, p.from, dest);
		if (p.months > 1)
			printf(", spread evenly over %d months", (int)p.months);
		printf("\n");
		printf("  %-26s %14s %12s %12s\n", "tier (per month)", "billed", "USD/unit", "USD");
		for (unsigned i = 0; i < b.nlines; i++) {
			const struct ferry_tier_line *l = &b.lines[i];
			const char *unit = l->row ? l->row->unit : b.tiers.free_row ? b.tiers.free_row->unit : "";
			char range[64];
			if (!l->row)
				snprintf(range, sizeof(range), "free allowance %g %s", l->to, unit);
			else if (l->to < 0)
				snprintf(range, sizeof(range), "over %g %s", l->from, unit);
			else
				snprintf(range, sizeof(range), "%g-%g %s", l->from, l->to, unit);
			printf("  %-26s %14.3f %12.4f %12.2f\n", range, l->units, l->usd_per_unit, l->usd);
		}
		if (b.unpriced_bytes > 0)
			printf("  %-26s %14.3f %12s %12s\n", "beyond the price table",
			       b.unpriced_bytes / p.months / b.tiers.unit_bytes, "unpriced", "-");
		printf("  egress   $%.2f%s\n", b.egress_usd, p.months > 1 ? " (all months)" : "");
		printf("  requests $%.2f (%llu GET%s, %llu LIST%s)\n", b.requests_usd, (unsigned long long)b.gets,
		       isnan(b.get_usd_1k) ? " unpriced" : "", (unsigned long long)b.lists,
		       isnan(b.list_usd_1k) ? " unpriced" : "");
		printf("  total    $%.2f\n", b.egress_usd + b.requests_usd);
		const struct ferry_price_row *last = b.nlines ? b.lines[b.nlines - 1].row : NULL;
		if (last)
			printf("  prices: %s, read %s (%s:%d)\n", last->source, last->read_on, last->file, last->line);
	}
	rc = EXIT_OK;
out:
	ferry_plan_scan_free(&s);
	ferry_price_free(&t);
	return rc;
}

/* ---- plan ---- */

struct dstinfo {
	int cloud;           /* a priced location */
	char prov[16], reg[32];
	const char *label;
};

/* The config file's routes and the plain link, priced (plan_pricing.c). */
static int build_routes(struct cli *c, const struct popts *p, const struct ferry_price_table *t,
			struct ferry_plan_input *in, const struct ferry_tiers *link_tiers)
{
	double bw = c->conf.bandwidth > 0 ? c->conf.bandwidth : DEFAULT_BANDWIDTH;
	char msg[1024];

	if (ferry_plan_routes(&c->conf, t, p->bandwidth, bw, p->free_tier, link_tiers, in, msg, sizeof(msg))) {
		cli_err(c, "%s", msg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static void assume(struct popts *p, const char *what)
{
	if (p->nassumed < 8)
		p->assumed[p->nassumed++] = what;
}

/* ---- a ferry store snapshot as the source ---- */

/* STORE[@SNAPSHOT] when STORE is a local ferry store (it has a config file). */
static int store_source(const char *src, char *store, size_t cap, const char **snap)
{
	const char *at = strrchr(src, '@');
	char cfg[4200];
	struct stat st;

	*snap = NULL;
	if (!strncmp(src, "file://", 7))
		src += 7;
	if (at && at[1] && !strchr(at, '/')) {
		snprintf(store, cap, "%.*s", (int)(at - src), src);
		*snap = at + 1;
	} else {
		snprintf(store, cap, "%s", src);
	}
	snprintf(cfg, sizeof(cfg), "%s/config", store);
	return stat(cfg, &st) == 0 && S_ISREG(st.st_mode);
}

/* Counts a snapshot's files from its manifest; *stored is the store's bytes on disk. */
static int scan_store(struct cli *c, const char *store, const char *snap, struct ferry_plan_scan *s, double *stored)
{
	struct ferry_store *st;
	struct ferry_plan_scan disk;
	char msg[1024];
	int rc = cli_load_secret(c), err;

	if (rc)
		return rc;
	err = ferry_store_open_with(&st, store, cli_backend_opts(c), c->have_secret ? &c->secret : NULL, msg, sizeof(msg));
	if (!err) {
		err = ferry_plan_scan_snapshot(s, st, snap, msg, sizeof(msg));
		ferry_store_close(st);
	}
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOTFOUND ? EXIT_USAGE : exit_for(err);
	}
	ferry_plan_scan_init(&disk, 1);
	err = ferry_plan_scan_dir(&disk, store, msg, sizeof(msg));
	*stored = disk.bytes;
	ferry_plan_scan_free(&disk);
	if (err) {
		cli_err(c, "%s", msg);
		return exit_for(err);
	}
	return EXIT_OK;
}

/* ---- --probe ---- */

/* The link to dst measured now (plan_probe.c); FERRY_PLAN_PROBE_SECONDS shortens it in tests. */
static int link_probe(struct cli *c, const char *dst, struct ferry_plan_probe_result *pr)
{
	struct ferry_plan_probe_opts o = { 0, cli_probe_interrupted };
	const char *env = getenv("FERRY_PLAN_PROBE_SECONDS");
	char msg[1024];
	int err;

	if (env && (ferry_plan_parse_duration(env, &o.seconds) || o.seconds <= 0 || o.seconds > 600)) {
		cli_err(c, "FERRY_PLAN_PROBE_SECONDS: '%s' is not a duration of up to 10 minutes", env);
		return EXIT_USAGE;
	}
	err = ferry_plan_probe_link(dst, cli_backend_opts(c), &o, pr, msg, sizeof(msg));
	if (err) {
		cli_err(c, "--probe: %s", msg);
		return err == FERRY_E_DENIED || err == FERRY_E_AUTH ? EXIT_AUTH
		       : err == FERRY_E_NOMEM ? EXIT_PARTIAL : EXIT_USAGE;
	}
	return EXIT_OK;
}

/* --probe's second part: three real pushes of generated data shaped like the source (see
 * plan_pushprobe.c), through this very binary, to stores of their own under dst. */
static int push_probe(struct cli *c, const char *dst, const struct ferry_plan_scan *s,
		      const struct ferry_plan_probe_result *pr, struct ferry_push_probe *pp)
{
	struct ferry_push_probe_opts o = { 0 };
	char exe[4096], tag[96], msg[1024];
	const char *e1 = getenv("FERRY_PLAN_PUSH_PROBE_SECONDS"), *e2 = getenv("FERRY_PLAN_PUSH_PROBE_TIMEOUT");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		cli_err(c, "--probe: cannot find this program to push with (/proc/self/exe): %s", strerror(errno));
		return EXIT_PARTIAL;
	}
	exe[n] = 0;
	o.exe = exe;
	o.location = strncmp(dst, "file://", 7) ? dst : dst + 7;
	snprintf(tag, sizeof(tag), "%s-push", pr->base);
	o.tag = tag;
	o.backend_opts = cli_backend_opts(c);
	o.args = cli_child_args(c);
	o.link_rate = pr->up;
	o.seconds = 8;
	o.time_box = 90;
	if (e1 && (ferry_plan_parse_duration(e1, &o.seconds) || o.seconds <= 0 || o.seconds > 120)) {
		cli_err(c, "FERRY_PLAN_PUSH_PROBE_SECONDS: '%s' is not a duration of up to 2 minutes", e1);
		return EXIT_USAGE;
	}
	if (e2 && (ferry_plan_parse_duration(e2, &o.time_box) || o.time_box <= 0 || o.time_box > 3600)) {
		cli_err(c, "FERRY_PLAN_PUSH_PROBE_TIMEOUT: '%s' is not a duration of up to an hour", e2);
		return EXIT_USAGE;
	}
	ferry_plan_push_probe_shape(&o, s);
	if (cli_push_probe(&o, pp, msg, sizeof(msg))) {
		cli_err(c, "--probe: %s: push probe: %s", dst, msg);
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}

int cmd_plan(struct cli *c, int argc, char **argv)
{
	struct popts p;
	struct ferry_price_table t = { 0 };
	struct ferry_plan_scan s;
	struct ferry_plan_sample sm;
	struct ferry_plan_input in;
	struct ferry_plan_result res;
	struct ferry_plan_prices prices;
	struct dstinfo d = { 0 };
	char msg[1024], sprov[16] = "", sreg[32] = "", store[4096];
	const char *src, *dst, *snap = NULL;
	double stored = -1;
	int rc = parse_opts(c, argc, argv, 0, &p), err;

	if (rc)
		return -1 - rc;
	ferry_plan_scan_init(&s, p.seed ? p.seed : 1);
	memset(&in, 0, sizeof(in));
	if (p.inventory || p.have_size) {
		if (p.npos != 1)
			return cli_usage_error(c, "with %s, expected only DST", p.inventory ? "--inventory" : "--size");
		if (p.inventory && p.have_size)
			return cli_usage_error(c, "give --inventory or --size, not both");
		src = p.inventory ? p.inventory : "(what-if)";
		dst = p.pos[0];
	} else {
		if (p.npos != 2)
			return cli_usage_error(c, "expected SRC and DST");
		src = p.pos[0];
		dst = p.pos[1];
		if (strstr(src, "://") && !ferry_location_caps(src)) /* a scheme no backend serves */
			return cli_usage_error(c, "%s: expected a directory, a ferry store, or s3://BUCKET[/PREFIX]", src);
	}
	if (p.probe && (p.rtt >= 0 || p.request_latency >= 0))
		return cli_usage_error(c, "--probe measures the request time: give it or --rtt/--request-latency, not both");
	if (p.no_push_probe && !p.probe)
		return cli_usage_error(c, "--no-push-probe: only with --probe");
	if (p.probe && c->conf.nroutes)
		return cli_usage_error(c, "--probe measures one link to DST; with [route] sections give each its bandwidth");
	if ((rc = load_prices(c, &p, &t)))
		return rc;
	/* where the bytes come from and go to, as far as prices go */
	if (p.from && (rc = parse_loc(c, &t, "--from", p.from, sprov, sizeof(sprov), sreg, sizeof(sreg))))
		goto out;
	d.label = dst;
	if (p.at) {
		if ((rc = parse_loc(c, &t, "--at", p.at, d.prov, sizeof(d.prov), d.reg, sizeof(d.reg))))
			goto out;
		d.cloud = 1;
	} else if (ferry_price_is_location(&t, dst)) {
		if ((rc = parse_loc(c, &t, "DST", dst, d.prov, sizeof(d.prov), d.reg, sizeof(d.reg))))
			goto out;
		d.cloud = 1;
	} else if (strstr(dst, "://") && strncmp(dst, "file://", 7)) {
		assume(&p, "destination-prices(give --at PROVIDER:REGION)");
	}
	/* scan */
	if (p.inventory) {
		err = ferry_plan_scan_inventory(&s, p.inventory, msg, sizeof(msg));
	} else if (p.have_size) {
		uint64_t objs = p.have_objects ? p.objects : (uint64_t)fmax(1, ceil(p.size / (64.0 * 1048576)));
		err = ferry_plan_scan_whatif(&s, p.size, objs);
		snprintf(msg, sizeof(msg), "--size: out of range");
	} else if (ferry_location_caps(src) & FERRY_CAP_OBJECT_STORE) {
		err = ferry_plan_scan_list(&s, src, cli_backend_opts(c), msg, sizeof(msg));
	} else if (store_source(src, store, sizeof(store), &snap)) {
		if ((rc = scan_store(c, store, snap, &s, &stored)))
			goto out;
		err = FERRY_OK;
		assume(&p, "wire=store-bytes-on-disk(all-snapshots)");
	} else {
		err = ferry_plan_scan_dir(&s, src, msg, sizeof(msg));
	}
	if (err) {
		cli_err(c, "%s", msg);
		rc = err == FERRY_E_NOTFOUND || err == FERRY_E_INVAL || err == FERRY_E_FORMAT ? EXIT_USAGE : exit_for(err);
		goto out;
	}
	/* sample */
	struct ferry_plan_sample_opts so = { p.sample_bytes, p.sample_seconds, 0 };
	if (ferry_plan_sample_run(&s, &so, &sm, msg, sizeof(msg))) {
		cli_err(c, "%s", msg);
		rc = EXIT_PARTIAL;
		goto out;
	}
	if (stored >= 0) {
		/* a store's objects move as they are (compressed, maybe encrypted): no level to choose */
		sm.wire[0] = stored;
	}
	/* what the transfer pays: egress on the plain link (a source in a cloud), requests, storage */
	err = ferry_plan_prices(&t, sprov[0] ? sprov : NULL, sreg, d.cloud ? d.prov : NULL, d.reg, p.egress_class, &in,
				&prices, msg, sizeof(msg));
	if (err) {
		cli_err(c, "egress from %s to %s: %s", p.from, prices.egress_class, msg);
		rc = EXIT_USAGE;
		goto out;
	}
	if (prices.missing & FERRY_PRICE_NO_PUT)
		assume(&p, "put-price-missing($0)");
	if (prices.missing & FERRY_PRICE_NO_STORAGE)
		assume(&p, "storage-price-missing($0)");
	/* --probe: the link measured now replaces the flags and the defaults */
	struct ferry_plan_probe_result pr = { 0 };
	struct ferry_push_probe pp = { 0 };
	if (p.probe) {
		/* a Ctrl-C or a SIGTERM while probe keys exist: they are removed first */
		cli_probe_signals_begin();
		rc = link_probe(c, dst, &pr);
		if (!rc && !p.no_push_probe && !cli_probe_interrupted())
			rc = push_probe(c, dst, &s, &pr, &pp);
		cli_probe_signals_end(); /* delivers a signal noted meanwhile */
		if (rc)
			goto out;
		/* with --bandwidth the link is known: a probe well below it found the
		 * destination store slower than the link, and the time goes to its write stage;
		 * alone, the probe cannot tell the two apart and is the link's bandwidth */
		if (p.bandwidth > 0 && pr.up < 0.9 * p.bandwidth)
			in.dst_rate = pr.up;
		else if (p.bandwidth <= 0)
			p.bandwidth = pr.up;
		p.rtt = 0; /* in the measured request time */
		p.request_latency = pr.request_seconds;
	}
	/* the machine and the link: flags, then the config file, then defaults */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	in.scan = &s;
	in.sample = &sm;
	in.src_cores = p.src_cores ? p.src_cores : ncpu > 0 ? (int)ncpu : 1;
	in.dst_cores = p.dst_cores ? p.dst_cores : c->conf.dst_cores ? c->conf.dst_cores : in.src_cores;
	if (!p.dst_cores && !c->conf.dst_cores)
		assume(&p, "dst-cores=src-cores");
	in.read_rate = p.read_rate > 0 ? p.read_rate : DEFAULT_READ_RATE;
	in.write_rate = p.write_rate > 0 ? p.write_rate : DEFAULT_WRITE_RATE;
	in.encrypt = p.encrypt;
	in.rtt = p.rtt >= 0 ? p.rtt : c->conf.rtt >= 0 ? c->conf.rtt : DEFAULT_RTT;
	if (p.rtt < 0 && c->conf.rtt < 0)
		assume(&p, "rtt=20ms");
	in.request_latency = p.request_latency >= 0 ? p.request_latency
			     : c->conf.request_latency >= 0 ? c->conf.request_latency : DEFAULT_REQUEST_LATENCY;
	if (p.request_latency < 0 && c->conf.request_latency < 0)
		assume(&p, "request-latency=30ms");
	in.connections = p.connections ? p.connections : c->conf.connections ? c->conf.connections : DEFAULT_CONNECTIONS;
	in.months = p.months;
	in.deadline = p.deadline;
	in.budget = p.budget;
	if (c->conf.nroutes == 0 && p.bandwidth <= 0 && c->conf.bandwidth <= 0)
		assume(&p, "bandwidth=1Gbit");
	if ((rc = build_routes(c, &p, &t, &in, prices.have_link ? &prices.link : NULL)))
		goto out;
	/* once per run, and push's own work on every byte: measured here, or by the probes */
	ferry_plan_run_costs(&in, d.cloud || (ferry_location_caps(dst) & FERRY_CAP_REMOTE), p.probe ? &pr : NULL, &pp);
	ferry_plan_compute(&in, &res);
	if (p.svg) {
		char title[256];
		snprintf(title, sizeof(title), "ferry plan: %s -> %s", src, dst);
		if (ferry_plan_svg(&res, title, p.svg, msg, sizeof(msg))) {
			cli_err(c, "--svg: %s", msg);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	struct plan_report rep = { src, dst, &in, &res, &sm, p.probe ? &pr : NULL, pp.rate > 0 ? &pp : NULL,
				   p.assumed, p.nassumed };
	if (c->json)
		plan_report_json(&rep);
	else if (!c->quiet)
		plan_report_text(&rep);
	rc = EXIT_OK;
out:
	ferry_plan_scan_free(&s);
	ferry_price_free(&t);
	return rc;
}

const char plan_help[] =
	"Scans SRC (a local tree; a local ferry store STORE[@SNAPSHOT], whose objects move\n"
	"as stored; s3://BUCKET[/PREFIX], listed; or --inventory FILE, an S3 Inventory CSV;\n"
	"or --size SIZE\n"
	"[--objects N], a what-if), samples its compressibility on this machine (a bounded,\n"
	"time-boxed, stratified sample: --sample SIZE, --sample-time D, --seed N) and prints,\n"
	"for no compression and zstd 1, 3, 6, 9 and 19: bytes on the wire, time, the\n"
	"bottleneck stage, egress, request and storage dollars, and a recommendation: the\n"
	"cheapest option meeting --deadline (3s, 90m, 24h, 2d), else the fastest within\n"
	"--budget USD, else the fastest.\n"
	"DST is PROVIDER:REGION (aws:us-east-1, gcp:us-central1, r2, b2, wasabi), a path\n"
	"(on-prem: no cloud prices), or s3://... with --at PROVIDER:REGION for its prices.\n"
	"The link: --bandwidth 1Gbit, --rtt 20ms, --connections N, --request-latency 30ms,\n"
	"--src-cores/--dst-cores N, --read-rate/--write-rate 700MB/s, --encrypt; or the\n"
	"[plan] section of the config file. [route \"NAME\"] sections add routes (links\n"
	"with a price, or shipped devices); bytes are split across them. --from\n"
	"PROVIDER:REGION prices egress and GETs when the source is in a cloud\n"
	"(--egress-class overrides the destination class, --free-tier applies the free\n"
	"allowance). --svg FILE writes a chart of time against cost. Prices come from\n"
	"conf/pricing/*.csv (--pricing DIR). --probe measures the link to DST (s3://... or\n"
	"a directory) instead: the requests around a push, 5 s of uploads in 4 streams, a\n"
	"read back; then three real pushes of generated data shaped like SRC (small, big,\n"
	"small again; time-boxed), whose rate and fixed cost replace the modelled ones\n"
	"(--no-push-probe: the link parts only). All removed afterwards. docs/PLANNER.md\n"
	"has the model.\n";

const char cost_help[] =
	"The egress bill for data already in a cloud: SRC is the bucket's S3 Inventory CSV\n"
	"(bucket,key,size,...; or --inventory FILE), or --size 100TiB [--objects N] for a\n"
	"what-if. --from PROVIDER:REGION says where the data is; --to internet (default),\n"
	"onprem (Direct Connect/Interconnect) or another region of the same provider.\n"
	"Exact tier arithmetic per month; --months N spreads the bytes evenly over N\n"
	"monthly bills; --free-tier takes the free allowance first. Prints every tier line\n"
	"with the price's source and the date it was read.\n";

/* ---- copy --plan: the config file's routes, for the run to enforce ---- */

static void copy_note(void *arg, const char *line)
{
	struct cli *c = arg;

	if (!c->quiet)
		fprintf(stderr, "ferry: %s: %s\n", c->cmd, line);
	cli_log(c, "%s", line);
}

int cli_copy_plan(struct cli *c, double deadline, double budget, struct ferry_copy_plan *out)
{
	const char *e = getenv("FERRY_PLAN_DRIFT_SECONDS"); /* tests shorten it */
	char msg[1024];
	double v;
	int err = ferry_copy_plan_from_conf(&c->conf, deadline, budget, out, msg, sizeof(msg));

	if (err) {
		cli_err(c, "--plan: %s", msg);
		return err == FERRY_E_NOMEM ? EXIT_PARTIAL : EXIT_USAGE;
	}
	if (e && !ferry_plan_parse_duration(e, &v) && v > 0)
		out->drift_seconds = v;
	out->note = copy_note;
	out->note_arg = c;
	return EXIT_OK;
}
