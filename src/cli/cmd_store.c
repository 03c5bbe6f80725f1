/* The store commands: init, push, pull, verify, snapshots, ls. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "cli.h"
#include "ferry/backend.h"
#include "ferry/conf.h"
#include "ferry/copy.h"
#include "ferry/manifest.h"
#include "ferry/plan.h"
#include "ferry/replica.h"
#include "ferry/unattended.h"
#include "ferry/units.h"

/* Parses argv for a command: common options plus `extra`; positional args land in pos[]. */
struct parsed {
	const char *pos[4];
	int npos;
	const char *includes[65];
	int ninc;
	int encrypt, read_data, compress, log2n;
	uint32_t chunk_size;
	int jobs, direct, always, checksum, delete_extra;
	uint64_t memory;
	int plan;              /* --plan: follow the config file's routes */
	double deadline, budget; /* with --plan; NAN unset */
	const char *replicas[FERRY_REPLICAS_MAX]; /* pull side: --replica URL|NAME */
	int nrep;
};

enum {
	OPT_ENCRYPT = 1000,
	OPT_COMPRESS,
	OPT_CHUNK,
	OPT_INCLUDE,
	OPT_READ_DATA,
	OPT_DRY_RUN,
	OPT_SCRYPT,
	OPT_JOBS,
	OPT_MEMORY,
	OPT_DIRECT,
	OPT_ALWAYS,
	OPT_CHECKSUM,
	OPT_DELETE,
	OPT_BWLIMIT,
	OPT_MAXDUR,
	OPT_METRICS,
	OPT_LOGFILE,
	OPT_SHARD,
	OPT_SHARD_GROUP,
	OPT_LOCK_TIMEOUT,
	OPT_PLAN,
	OPT_DEADLINE,
	OPT_BUDGET,
	OPT_REPLICA,
};

static int parse(struct cli *c, int argc, char **argv, int maxpos, struct parsed *p)
{
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS,
		{ "encrypt", no_argument, NULL, OPT_ENCRYPT },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "read-data", no_argument, NULL, OPT_READ_DATA },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "scrypt-cost", required_argument, NULL, OPT_SCRYPT },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "always-snapshot", no_argument, NULL, OPT_ALWAYS },
		{ "checksum", no_argument, NULL, OPT_CHECKSUM },
		{ "delete", no_argument, NULL, OPT_DELETE },
		{ "bwlimit", required_argument, NULL, OPT_BWLIMIT },
		{ "max-duration", required_argument, NULL, OPT_MAXDUR },
		{ "metrics-file", required_argument, NULL, OPT_METRICS },
		{ "log-file", required_argument, NULL, OPT_LOGFILE },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "shard-group", required_argument, NULL, OPT_SHARD_GROUP },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ "plan", no_argument, NULL, OPT_PLAN },
		{ "deadline", required_argument, NULL, OPT_DEADLINE },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "replica", required_argument, NULL, OPT_REPLICA },
		{ NULL, 0, NULL, 0 },
	};
	/* which command-specific options each command accepts */
	/* b bwlimit, M max-duration, F metrics-file, L log-file, S shard, G shard-group, T lock-timeout,
	 * p plan, y deadline, u budget, R replica, H checksum */
	const char *allowed = !strcmp(c->cmd, "init")     ? "ecks"
			      : !strcmp(c->cmd, "push")   ? "djmDbMFLSGTpyu"
			      : !strcmp(c->cmd, "pull")   ? "idjmbFLR"
			      : !strcmp(c->cmd, "copy")   ? "djmDbFLpyu"
			      : !strcmp(c->cmd, "sync")   ? "djmDaxibMFLSGTpyuRH"
			      : !strcmp(c->cmd, "verify") ? "rjmFL"
							  : "";
	int opt;

	memset(p, 0, sizeof(*p));
	p->compress = -1;
	p->deadline = p->budget = NAN;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
		char code = 0;
		uint64_t sz;
		char *end;

		if (opt == 'h') {
			cli_help(c);
			return -1 - EXIT_OK;
		}
		if (cli_common_opt(c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_ENCRYPT: code = 'e'; break;
		case OPT_COMPRESS: code = 'c'; break;
		case OPT_CHUNK: code = 'k'; break;
		case OPT_SCRYPT: code = 's'; break;
		case OPT_INCLUDE: code = 'i'; break;
		case OPT_READ_DATA: code = 'r'; break;
		case OPT_DRY_RUN: code = 'd'; break;
		case OPT_JOBS: code = 'j'; break;
		case OPT_MEMORY: code = 'm'; break;
		case OPT_DIRECT: code = 'D'; break;
		case OPT_ALWAYS: code = 'a'; break;
		case OPT_CHECKSUM: code = 'H'; break;
		case OPT_DELETE: code = 'x'; break;
		case OPT_BWLIMIT: code = 'b'; break;
		case OPT_MAXDUR: code = 'M'; break;
		case OPT_METRICS: code = 'F'; break;
		case OPT_LOGFILE: code = 'L'; break;
		case OPT_SHARD: code = 'S'; break;
		case OPT_SHARD_GROUP: code = 'G'; break;
		case OPT_LOCK_TIMEOUT: code = 'T'; break;
		case OPT_PLAN: code = 'p'; break;
		case OPT_DEADLINE: code = 'y'; break;
		case OPT_BUDGET: code = 'u'; break;
		case OPT_REPLICA: code = 'R'; break;
		case ':':
			return -1 - cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
		default:
			return -1 - cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
		}
		if (!strchr(allowed, code)) /* "--opt VALUE" took two words: name the option, not its value */
			return -1 - cli_usage_error(c, "unknown option '%s'",
						    optarg && optind >= 2 && argv[optind - 1] == optarg ? argv[optind - 2]
												  : argv[optind - 1]);
		switch (code) {
		case 'e': p->encrypt = 1; break;
		case 'r': p->read_data = 1; break;
		case 'd': c->dry_run = 1; break;
		case 'D': p->direct = 1; break;
		case 'a': p->always = 1; break;
		case 'H': p->checksum = 1; break;
		case 'x': p->delete_extra = 1; break;
		case 'b': c->u.bwlimit = optarg; break;
		case 'p': p->plan = 1; break;
		case 'y':
			if (ferry_plan_parse_duration(optarg, &p->deadline) || p->deadline <= 0)
				return -1 - cli_usage_error(c, "--deadline: expected a duration (3s, 90m, 24h, 2d), got '%s'",
							    optarg);
			break;
		case 'u':
			if (ferry_plan_parse_number(optarg, &p->budget))
				return -1 - cli_usage_error(c, "--budget: expected USD (120.50), got '%s'", optarg);
			break;
		case 'R':
			if (p->nrep == FERRY_REPLICAS_MAX - 1)
				return -1 - cli_usage_error(c, "at most %d --replica", FERRY_REPLICAS_MAX - 1);
			p->replicas[p->nrep++] = optarg;
			break;
		case 'F': c->u.metrics_file = optarg; break;
		case 'L': c->u.log_file = optarg; break;
		case 'S': c->u.shard = optarg; break;
		case 'G': c->u.shard_group = optarg; break;
		case 'M':
			if (ferry_parse_duration(optarg, &c->u.max_duration))
				return -1 - cli_usage_error(c, "--max-duration: expected a duration (90s, 30m, 2h), got '%s'",
							    optarg);
			break;
		case 'T':
			if (ferry_parse_duration(optarg, &c->u.lock_timeout) || c->u.lock_timeout < 10)
				return -1 - cli_usage_error(c, "--lock-timeout: expected a duration of at least 10s (15m, 1h), got '%s'",
							    optarg);
			break;
		case 'j':
			p->jobs = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || p->jobs < 1 || p->jobs > 1024)
				return -1 - cli_usage_error(c, "--jobs: expected 1..1024, got '%s'", optarg);
			break;
		case 'm':
			if (ferry_parse_size(optarg, &sz) || sz < (16u << 20))
				return -1 - cli_usage_error(c, "--memory: expected a size of at least 16M, got '%s'", optarg);
			p->memory = sz;
			break;
		case 'i':
			if (p->ninc == 64)
				return -1 - cli_usage_error(c, "at most 64 --include patterns");
			p->includes[p->ninc++] = optarg;
			break;
		case 'c':
			if (!strcmp(optarg, "none") || !strcmp(optarg, "0")) {
				p->compress = 0;
				break;
			}
			p->compress = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || p->compress < 1 || p->compress > FERRY_LEVEL_MAX)
				return -1 - cli_usage_error(c, "--compress: expected none or 1..19, got '%s'", optarg);
			break;
		case 'k':
			if (ferry_parse_size(optarg, &sz) || sz < FERRY_CHUNK_MIN || sz > FERRY_CHUNK_MAX)
				return -1 - cli_usage_error(c, "--chunk-size: expected 4K..64M, got '%s'", optarg);
			p->chunk_size = (uint32_t)sz;
			break;
		case 's':
			p->log2n = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || p->log2n < 10 || p->log2n > FERRY_SCRYPT_LOG2N_MAX)
				return -1 - cli_usage_error(c, "--scrypt-cost: expected 10..%d, got '%s'",
							    FERRY_SCRYPT_LOG2N_MAX, optarg);
			break;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (p->npos == maxpos)
			return -1 - cli_usage_error(c, "unexpected argument '%s'", argv[i]);
		p->pos[p->npos++] = argv[i];
	}
	int rc = cli_load_conf(c);
	if (rc)
		return -1 - rc;
	if (!p->plan && (!isnan(p->deadline) || !isnan(p->budget)))
		return -1 - cli_usage_error(c, "--deadline and --budget go with --plan");
	if (!isnan(p->deadline) && !isnan(p->budget))
		return -1 - cli_usage_error(c, "--plan: give --deadline or --budget, not both");
	if (p->plan && strcmp(c->cmd, "copy") && strcmp(c->cmd, "push") && strcmp(c->cmd, "sync"))
		return -1 - cli_usage_error(c, "--plan: %s does not follow routes; copy, push and sync do", c->cmd);
	return 0;
}

static void on_problem(void *arg, const char *what, const char *chunk, int err, const char *detail)
{
	struct cli *c = arg;

	if (c->json) {
		struct json_object *o = json_object_new_object();
		if (!c->problems)
			c->problems = json_object_new_array();
		json_object_object_add(o, "path", json_object_new_string(what));
		if (chunk)
			json_object_object_add(o, "chunk", json_object_new_string(chunk));
		json_object_object_add(o, "error", json_object_new_string(ferry_strerror(err)));
		json_object_object_add(o, "detail", json_object_new_string(detail));
		json_object_array_add(c->problems, o);
	}
	if (c->progress_shown)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "ferry: %s: %s: %s%s%s\n", c->cmd, what, chunk ? chunk : "", chunk ? ": " : "", detail);
	cli_log(c, "error: %s: %s%s%s", what, chunk ? chunk : "", chunk ? ": " : "", detail);
}

static double start_time;

static void human(double v, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* On a terminal: one line redrawn in place, on stderr so stdout stays clean. */
static void progress_bar(void *arg, const struct ferry_run *r)
{
	struct cli *c = arg;
	double t = ferry_mono() - start_time;
	char done[32], rate[32], eta[32] = "";
	uint64_t bytes = !strcmp(c->cmd, "pull") ? r->bytes_written : r->bytes_read;

	human((double)bytes, done, sizeof(done));
	human(t > 0 ? bytes / t : 0, rate, sizeof(rate));
	if (r->bytes_total > bytes && bytes > 0 && t > 1) {
		double left = (double)(r->bytes_total - bytes) / (bytes / t);
		snprintf(eta, sizeof(eta), "  ETA %d:%02d", (int)left / 60, (int)left % 60);
	}
	fprintf(stderr, "\r\033[K%s: %llu/%llu files  %s  %s/s%s", c->cmd, (unsigned long long)r->files_transferred,
		(unsigned long long)r->files_total, done, rate, eta);
	c->progress_shown = 1;
}

/* ---- pull --replica: the store's other locations (docs/PLANNER.md, "Replicas") ---- */

static struct ferry_replica_report rep_report[FERRY_REPLICAS_MAX]; /* filled after the pull */
static size_t rep_n;

static void replica_line(void *arg, const char *line)
{
	struct cli *c = arg;

	if (!c->quiet) {
		if (c->progress_shown)
			fprintf(stderr, "\r\033[K");
		fprintf(stderr, "ferry: %s: %s\n", c->cmd, line);
	}
	cli_log(c, "%s", line);
}

/* A [replica "NAME"] section by its name, else by its url; NULL when none. */
static const struct ferry_conf_replica *conf_replica(const struct cli *c, const char *arg, int by_name)
{
	for (unsigned i = 0; i < c->conf.nreplicas; i++)
		if (by_name ? !strcmp(c->conf.replicas[i].name, arg) : ferry_same_location(c->conf.replicas[i].url, arg))
			return &c->conf.replicas[i];
	return NULL;
}

/* --replica URL|NAME...: opens them beside store s (priced from the config file). */
static int use_replicas(struct cli *c, const struct parsed *p, const char *store, struct ferry_store *s)
{
	struct ferry_replica_spec v[FERRY_REPLICAS_MAX], prim = { "primary", store, NULL, -1 };
	static char names[FERRY_REPLICAS_MAX][32];
	const struct ferry_conf_replica *cr;
	char msg[1600];
	int err;

	rep_n = 0;
	if (!p->nrep)
		return EXIT_OK;
	if ((cr = conf_replica(c, store, 0))) {
		prim.name = cr->name;
		prim.price_per_gb = cr->price_per_gb;
	}
	for (int i = 0; i < p->nrep; i++) {
		const char *a = p->replicas[i];
		if ((cr = conf_replica(c, a, 1)) || (cr = conf_replica(c, a, 0))) {
			v[i] = (struct ferry_replica_spec){ cr->name, cr->url, cr->endpoint, cr->price_per_gb };
		} else {
			snprintf(names[i], sizeof(names[i]), "replica%d", i + 1);
			v[i] = (struct ferry_replica_spec){ names[i], a, NULL, -1 };
		}
	}
	err = ferry_store_replicas(s, &prim, v, (size_t)p->nrep, replica_line, c, msg, sizeof(msg));
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOMEM ? EXIT_PARTIAL : EXIT_USAGE;
	}
	return EXIT_OK;
}

/* After the pull: what each source served, then the replicas close (before the store). */
static void end_replicas(struct cli *c, struct ferry_store *s)
{
	rep_n = ferry_store_replica_report(s, rep_report, FERRY_REPLICAS_MAX);
	ferry_store_replicas_close(s);
	for (size_t i = 0; i < rep_n && !c->json && (c->verbose || isatty(STDERR_FILENO)); i++) {
		const struct ferry_replica_report *o = &rep_report[i];
		char line[1400];
		if (o->price_per_gb >= 0)
			snprintf(line, sizeof(line), "replica %.31s (%.1023s): %llu objects, %llu bytes, $%.4f", o->name, o->url,
				 (unsigned long long)o->objects, (unsigned long long)o->bytes,
				 (double)o->bytes / 1e9 * o->price_per_gb);
		else
			snprintf(line, sizeof(line), "replica %.31s (%.1023s): %llu objects, %llu bytes, price unknown", o->name,
				 o->url, (unsigned long long)o->objects, (unsigned long long)o->bytes);
		replica_line(c, line);
	}
}

static void json_replicas(struct json_object *o)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < rep_n; i++) {
		const struct ferry_replica_report *r = &rep_report[i];
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(r->name));
		json_object_object_add(e, "url", json_object_new_string(r->url));
		json_object_object_add(e, "primary", json_object_new_boolean(r->primary));
		json_object_object_add(e, "reachable", json_object_new_boolean(r->reachable));
		json_object_object_add(e, "price_per_gb", r->price_per_gb >= 0 ? json_object_new_double(r->price_per_gb) : NULL);
		json_object_object_add(e, "objects", json_object_new_int64((int64_t)r->objects));
		json_object_object_add(e, "bytes", json_object_new_int64((int64_t)r->bytes));
		json_object_object_add(e, "fallbacks", json_object_new_int64((int64_t)r->fallbacks));
		json_object_object_add(e, "usd", r->price_per_gb >= 0 ? json_object_new_double((double)r->bytes / 1e9 * r->price_per_gb)
								     : NULL);
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "replicas", a);
}

static void print_json(struct cli *c, const struct ferry_run *r, double secs, int verify)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "command", json_object_new_string(c->cmd));
	if (r->snapshot[0])
		json_object_object_add(o, "snapshot", json_object_new_string(r->snapshot));
	if (verify) {
		json_object_object_add(o, "objects_checked", json_object_new_int64((int64_t)r->objects_checked));
		json_object_object_add(o, "chunks_checked", json_object_new_int64((int64_t)r->chunks_checked));
	} else {
		json_object_object_add(o, "files_total", json_object_new_int64((int64_t)r->files_total));
		json_object_object_add(o, "files_transferred", json_object_new_int64((int64_t)r->files_transferred));
		json_object_object_add(o, "bytes_written", json_object_new_int64((int64_t)r->bytes_written));
		json_object_object_add(o, "dry_run", json_object_new_boolean(c->dry_run));
		if (!strcmp(c->cmd, "push") || !strcmp(c->cmd, "sync") || !strcmp(c->cmd, "copy") ||
		    !strcmp(c->cmd, "pull")) {
			/* what an interrupted run had done already (the resume journal) */
			json_object_object_add(o, "files_resumed", json_object_new_int64((int64_t)r->files_resumed));
			json_object_object_add(o, "bytes_resumed", json_object_new_int64((int64_t)r->bytes_resumed));
			json_object_object_add(o, "parts_resumed", json_object_new_int64((int64_t)r->parts_resumed));
		}
		if (!strcmp(c->cmd, "push") || !strcmp(c->cmd, "sync")) {
			json_object_object_add(o, "partial", json_object_new_boolean(r->partial));
			json_object_object_add(o, "uploads_aborted", json_object_new_int64((int64_t)r->uploads_aborted));
			json_object_object_add(o, "files_deferred", json_object_new_int64((int64_t)r->files_deferred));
			if (r->shard_count > 1) {
				char sh[32];
				snprintf(sh, sizeof(sh), "%u/%u", r->shard_index, r->shard_count);
				json_object_object_add(o, "shard", json_object_new_string(sh));
				json_object_object_add(o, "shard_group", json_object_new_string(r->shard_group));
				if (c->u.merged[0])
					json_object_object_add(o, "merged_snapshot", json_object_new_string(c->u.merged));
			}
		}
		if (rep_n)
			json_replicas(o);
		if (!strcmp(c->cmd, "sync")) {
			json_object_object_add(o, "files_unchanged", json_object_new_int64((int64_t)r->files_unchanged));
			json_object_object_add(o, "files_deleted", json_object_new_int64((int64_t)r->files_deleted));
			/* --checksum: what was read to compare contents */
			json_object_object_add(o, "files_hashed", json_object_new_int64((int64_t)r->files_hashed));
			json_object_object_add(o, "bytes_hashed", json_object_new_int64((int64_t)r->bytes_hashed));
			json_object_object_add(o, "changed", json_object_new_boolean(!r->no_change));
		}
	}
	json_object_object_add(o, "bytes_read", json_object_new_int64((int64_t)r->bytes_read));
	json_object_object_add(o, "seconds", json_object_new_double(secs));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)r->errors));
	json_object_object_add(o, "problems", c->problems ? json_object_get(c->problems) : json_object_new_array());
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* STORE[@SNAPSHOT]: splits at the last '@' that is followed by a snapshot-looking name. */
static void split_snap(const char *arg, char *store, size_t cap, const char **snap)
{
	const char *at = strrchr(arg, '@');

	*snap = NULL;
	if (at && at[1] && !strchr(at, '/')) {
		snprintf(store, cap, "%.*s", (int)(at - arg), arg);
		*snap = at + 1;
	} else {
		snprintf(store, cap, "%s", arg);
	}
}

/* Resources and output for a run: flags win over the config file. */
static void run_opts(struct cli *c, const struct parsed *p, struct ferry_run *r)
{
	r->problem = on_problem;
	r->problem_arg = c;
	r->backend_opts = cli_backend_opts(c);
	r->verbose = c->verbose;
	r->dry_run = c->dry_run;
	r->jobs = p->jobs ? p->jobs : c->conf.jobs;
	r->memory = p->memory ? p->memory : c->conf.memory;
	r->direct = p->direct;
	if (!c->quiet && !c->json && isatty(STDERR_FILENO)) {
		r->progress = progress_bar;
		r->progress_arg = c;
	}
}

static int open_store(struct cli *c, const char *path, struct ferry_store **s)
{
	char msg[1024];
	int rc = cli_load_secret(c), err;

	if (rc)
		return rc;
	err = ferry_store_open_with(s, path, cli_backend_opts(c), c->have_secret ? &c->secret : NULL, msg,
				    sizeof(msg));
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOTFOUND ? EXIT_USAGE : exit_for(err);
	}
	return EXIT_OK;
}

int cmd_init(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_init_opts o = { 0 };
	char msg[1024];
	int rc = parse(c, argc, argv, 1, &p), err;

	if (rc)
		return -1 - rc;
	if (p.npos != 1)
		return cli_usage_error(c, "expected STORE");
	o.chunk_size = p.chunk_size ? p.chunk_size : c->conf.chunk_size;
	o.level = p.compress >= 0 ? p.compress : c->conf.compress;
	o.log2n = (unsigned)p.log2n;
	if (p.encrypt) {
		rc = cli_load_secret(c);
		if (rc)
			return rc;
		if (!c->have_secret)
			return cli_usage_error(c, "--encrypt needs FERRY_PASSPHRASE, --passphrase-file or --key-file");
	}
	err = ferry_store_init_with(p.pos[0], &o, cli_backend_opts(c), p.encrypt ? &c->secret : NULL, msg,
				    sizeof(msg));
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_EXISTS ? EXIT_USAGE : exit_for(err);
	}
	if (c->json) {
		struct json_object *jo = json_object_new_object();
		json_object_object_add(jo, "command", json_object_new_string("init"));
		json_object_object_add(jo, "store", json_object_new_string(p.pos[0]));
		json_object_object_add(jo, "encrypted", json_object_new_boolean(p.encrypt));
		printf("%s\n", json_object_to_json_string_ext(jo, JSON_C_TO_STRING_PLAIN));
		json_object_put(jo);
	} else if (!c->quiet)
		printf("initialized %s store at %s\n", p.encrypt ? "encrypted" : "plain", p.pos[0]);
	return EXIT_OK;
}

static int finish_run(struct cli *c, const struct ferry_run *r, int err, double t0, int verify)
{
	double secs = ferry_mono() - t0;

	if (c->progress_shown)
		fprintf(stderr, "\r\033[K");
	if (c->json) {
		print_json(c, r, secs, verify);
	} else if (!c->quiet && (c->verbose || isatty(STDOUT_FILENO))) {
		/* off a terminal, say nothing unless asked: cron mails whatever is printed */
		if (verify)
			printf("verify: %llu objects, %llu chunks checked, %llu problems (%.2fs)\n",
			       (unsigned long long)r->objects_checked, (unsigned long long)r->chunks_checked,
			       (unsigned long long)r->errors, secs);
		else if (r->no_change)
			printf("%s: nothing changed since the last snapshot (%llu files); no snapshot written (%.2fs)\n",
			       c->cmd, (unsigned long long)r->files_total, secs);
		else
			printf("%s%s: %llu of %llu files, %llu bytes read, %llu bytes written, %llu errors (%.2fs)%s%s%s\n",
			       c->cmd, c->dry_run ? " (dry run)" : "", (unsigned long long)r->files_transferred,
			       (unsigned long long)r->files_total, (unsigned long long)r->bytes_read,
			       (unsigned long long)r->bytes_written, (unsigned long long)r->errors, secs,
			       r->snapshot[0] ? (r->shard_count > 1 ? ", partial manifest " : ", snapshot ") : "", r->snapshot,
			       r->partial ? " (PARTIAL: stopped at --max-duration; run again to continue)" : "");
		if (c->u.merged[0])
			printf("%s: merged shard group %s into snapshot %s\n", c->cmd, r->shard_group, c->u.merged);
	}
	if (verify)
		return r->errors ? EXIT_INTEGRITY : EXIT_OK;
	if (r->integrity_errors)
		return EXIT_INTEGRITY;
	if (err && r->files_transferred == 0 && r->files_total == 0)
		return exit_for(err) == EXIT_OK ? EXIT_PARTIAL : exit_for(err);
	return r->errors ? EXIT_PARTIAL : EXIT_OK;
}

/* push and sync SRC STORE: the run's options (before the store is opened, so that a
 * run that cannot open it still logs and writes its metrics). */
static int begin_push_side(struct cli *c, const char *src, const char *store, struct ferry_run *r)
{
	char what[1024];

	snprintf(what, sizeof(what), "%s -> %s", src, store);
	return cli_run_begin(c, store, what, 1, r);
}

/* The store lock of a push or sync (a shard lock with --shard). */
static int lock_push_side(struct cli *c, struct ferry_store *s, struct ferry_run *r)
{
	int rc;

	if (r->dry_run)
		return EXIT_OK; /* writes nothing: no lock */
	if (r->shard_count > 1)
		rc = cli_lock(c, s, FERRY_LOCK_SHARD, r->shard_group);
	else
		rc = cli_lock(c, s, FERRY_LOCK_EXCLUSIVE, NULL);
	r->lock = c->u.lock;
	return rc;
}

/* After a shard's push: the last shard in merges the group. */
static int end_push_side(struct cli *c, struct ferry_store *s, struct ferry_run *r, int err)
{
	if (r->shard_count > 1 && !err && !r->dry_run && r->snapshot[0])
		return cli_shard_maybe_merge(c, s);
	return EXIT_OK;
}

/* What --plan's routes lead to: a store of plain objects (the backend says, not the URL). */
static int object_store(const char *location)
{
	return (ferry_location_caps(location) & FERRY_CAP_OBJECT_STORE) != 0;
}

/* push|sync --plan: the store's objects follow the config file's routes, split over the
 * source's bytes (the whole tree: for a sync, an upper bound on what changed). *out is
 * kept until the store is closed (the route backend logs through it). */
static int follow_routes(struct cli *c, const struct parsed *p, const char *src, struct ferry_store *s,
			 struct ferry_run *r, struct ferry_copy_plan **out)
{
	struct ferry_plan_scan sc;
	char msg[1024];
	int rc, err;

	*out = NULL;
	if (!object_store(p->pos[1])) {
		cli_err(c, "--plan: %s: routes lead to an object store; the store must be s3://BUCKET[/PREFIX]",
			p->pos[1]);
		return EXIT_USAGE;
	}
	struct ferry_copy_plan *cp = malloc(sizeof(*cp));
	if (!cp)
		return EXIT_PARTIAL;
	if ((rc = cli_copy_plan(c, p->deadline, p->budget, cp))) {
		free(cp);
		return rc;
	}
	ferry_plan_scan_init(&sc, 1);
	err = ferry_plan_scan_dir(&sc, src, msg, sizeof(msg));
	if (err) {
		cli_err(c, "--plan: %s", msg);
		ferry_plan_scan_free(&sc);
		free(cp);
		return err == FERRY_E_NOTFOUND || err == FERRY_E_INVAL ? EXIT_USAGE : EXIT_PARTIAL;
	}
	err = ferry_store_follow_routes(s, cp, sc.bytes, r);
	ferry_plan_scan_free(&sc);
	if (err) {
		free(cp);
		return err == FERRY_E_INVAL ? EXIT_USAGE : EXIT_PARTIAL;
	}
	*out = cp;
	return EXIT_OK;
}

int cmd_push(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_store *s;
	struct ferry_run r = { .problem = on_problem, .problem_arg = c };
	int rc = parse(c, argc, argv, 2, &p), err;
	double t0 = start_time = ferry_mono();

	if (rc)
		return -1 - rc;
	if (p.npos != 2)
		return cli_usage_error(c, "expected SRC and STORE");
	if (p.plan && !object_store(p.pos[1]))
		return cli_usage_error(c, "--plan: %s: routes lead to an object store; the store must be s3://BUCKET[/PREFIX]",
				       p.pos[1]);
	run_opts(c, &p, &r);
	struct ferry_copy_plan *cp = NULL;
	if ((rc = begin_push_side(c, p.pos[0], p.pos[1], &r)) || (rc = open_store(c, p.pos[1], &s)))
		return cli_run_end(c, &r, rc);
	/* the routes open before the lock's heartbeat thread runs: they set the environment */
	if ((p.plan && (rc = follow_routes(c, &p, p.pos[0], s, &r, &cp))) || (rc = lock_push_side(c, s, &r))) {
		cli_unlock(c);
		ferry_store_close(s);
		free(cp);
		return cli_run_end(c, &r, rc);
	}
	err = ferry_push(s, p.pos[0], &r);
	ferry_store_routes_report(s);
	rc = end_push_side(c, s, &r, err);
	cli_unlock(c);
	ferry_store_close(s);
	free(cp);
	if (err && !r.snapshot[0] && !r.dry_run && !r.errors) /* else a line said why already */
		cli_err(c, "no snapshot written: %s", ferry_strerror(err));
	int rc2 = finish_run(c, &r, err, t0, 0);
	return cli_run_end(c, &r, rc2 ? rc2 : rc);
}

int cmd_pull(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_store *s;
	struct ferry_run r = { .problem = on_problem, .problem_arg = c };
	char store[4096];
	const char *snap;
	int rc = parse(c, argc, argv, 2, &p), err;
	double t0 = start_time = ferry_mono();

	if (rc)
		return -1 - rc;
	if (p.npos != 2)
		return cli_usage_error(c, "expected STORE[@SNAPSHOT] and DST");
	split_snap(p.pos[0], store, sizeof(store), &snap);
	run_opts(c, &p, &r);
	if ((rc = cli_run_begin(c, store, p.pos[0], 0, &r)) || (rc = open_store(c, store, &s)))
		return cli_run_end(c, &r, rc);
	if ((rc = use_replicas(c, &p, store, s))) {
		ferry_store_close(s);
		return cli_run_end(c, &r, rc);
	}
	err = ferry_pull(s, snap, p.pos[1], p.ninc ? p.includes : NULL, &r);
	end_replicas(c, s);
	ferry_store_close(s);
	return cli_run_end(c, &r, finish_run(c, &r, err, t0, 0));
}

int cmd_verify(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_store *s;
	struct ferry_run r = { .problem = on_problem, .problem_arg = c };
	int rc = parse(c, argc, argv, 1, &p), err;
	double t0 = start_time = ferry_mono();

	if (rc)
		return -1 - rc;
	if (p.npos != 1)
		return cli_usage_error(c, "expected STORE");
	run_opts(c, &p, &r);
	if ((rc = cli_run_begin(c, p.pos[0], p.pos[0], 0, &r)) || (rc = open_store(c, p.pos[0], &s)))
		return cli_run_end(c, &r, rc);
	err = ferry_verify(s, p.read_data, &r);
	ferry_store_close(s);
	return cli_run_end(c, &r, finish_run(c, &r, err, t0, 1));
}

int cmd_snapshots(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_store *s;
	char msg[1024];
	int rc = parse(c, argc, argv, 1, &p), err;

	if (rc)
		return -1 - rc;
	if (p.npos != 1)
		return cli_usage_error(c, "expected STORE");
	if ((rc = open_store(c, p.pos[0], &s)))
		return rc;
	err = ferry_snapshots(s, stdout, msg, sizeof(msg));
	ferry_store_close(s);
	if (err) {
		cli_err(c, "%s", msg);
		return exit_for(err);
	}
	return EXIT_OK;
}

/* One entry per line: control characters (a newline in a name) are shown as C escapes. */
static void put_escaped(FILE *out, const char *p)
{
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '\\')
			fputs("\\\\", out);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
}

/* "-0644         1234 2024-05-01 12:00:00 PATH[ -> TARGET]" */
static void ls_line(FILE *out, const struct ferry_entry *e)
{
	char t[32];
	time_t mt = (time_t)e->mtime_sec;
	struct tm tm;

	gmtime_r(&mt, &tm);
	strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(out, "%c%04o %12llu %s ", e->type == FERRY_ENTRY_DIR ? 'd' : e->type == FERRY_ENTRY_SYMLINK ? 'l' : '-',
		(unsigned)e->mode, (unsigned long long)e->size, t);
	put_escaped(out, e->path);
	if (e->target) {
		fputs(" -> ", out);
		put_escaped(out, e->target);
	}
	fputc('\n', out);
}

int cmd_ls(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_store *s;
	struct ferry_snapshot_iter *it;
	const struct ferry_entry *e;
	char msg[1024], store[4096];
	const char *snap, *prefix;
	size_t pl = 0;
	int rc = parse(c, argc, argv, 2, &p), err;

	if (rc)
		return -1 - rc;
	if (p.npos < 1)
		return cli_usage_error(c, "expected STORE[@SNAPSHOT] [PATH]");
	split_snap(p.pos[0], store, sizeof(store), &snap);
	prefix = p.npos > 1 ? p.pos[1] : NULL;
	if (prefix)
		pl = strlen(prefix);
	while (pl && prefix[pl - 1] == '/')
		pl--;
	if ((rc = open_store(c, store, &s)))
		return rc;
	err = ferry_snapshot_entries_open(s, snap, &it, msg, sizeof(msg));
	while (!err && (rc = ferry_snapshot_entries_next(it, &e, msg, sizeof(msg))) > 0)
		/* PATH names an entry and everything under it, not every name it starts */
		if (!pl || (strncmp(e->path, prefix, pl) == 0 && (e->path[pl] == 0 || e->path[pl] == '/')))
			ls_line(stdout, e);
	if (!err && rc < 0)
		err = -rc;
	ferry_snapshot_entries_close(it);
	ferry_store_close(s);
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOTFOUND ? EXIT_USAGE : exit_for(err);
	}
	return EXIT_OK;
}

int cmd_copy(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_run r = { 0 };
	int rc = parse(c, argc, argv, 2, &p), err;
	double t0 = start_time = ferry_mono();

	if (rc)
		return -1 - rc;
	if (p.npos != 2)
		return cli_usage_error(c, "expected SRC and DST");
	run_opts(c, &p, &r);
	if (p.plan && !object_store(p.pos[1]))
		return cli_usage_error(c, "--plan: %s: routes lead to an object store; DST must be s3://BUCKET[/PREFIX]",
				       p.pos[1]);
	if ((rc = cli_run_begin(c, p.pos[1], p.pos[0], 0, &r)))
		return cli_run_end(c, &r, rc);
	if (p.plan) {
		struct ferry_copy_plan *cp = malloc(sizeof(*cp));
		if (!cp)
			return cli_run_end(c, &r, EXIT_PARTIAL);
		if ((rc = cli_copy_plan(c, p.deadline, p.budget, cp))) {
			free(cp);
			return cli_run_end(c, &r, rc);
		}
		err = ferry_copy_planned(p.pos[0], p.pos[1], cp, &r);
		free(cp);
	} else {
		err = ferry_copy(p.pos[0], p.pos[1], &r);
	}
	return cli_run_end(c, &r, finish_run(c, &r, err, t0, 0));
}

/* Is path a local ferry store? (sync's direction is decided by where the store is) */
static int is_store(const char *path)
{
	char cfg[4200];
	struct stat st;

	if (strstr(path, "://") && strncmp(path, "file://", 7))
		return 1; /* a URL is always the store side */
	snprintf(cfg, sizeof(cfg), "%s/config", strncmp(path, "file://", 7) ? path : path + 7);
	return stat(cfg, &st) == 0 && S_ISREG(st.st_mode);
}

int cmd_sync(struct cli *c, int argc, char **argv)
{
	struct parsed p;
	struct ferry_store *s;
	struct ferry_run r = { 0 };
	char store[4096];
	const char *snap;
	int rc = parse(c, argc, argv, 2, &p), err, pull_side;
	double t0 = start_time = ferry_mono();

	if (rc)
		return -1 - rc;
	if (p.npos != 2)
		return cli_usage_error(c, "expected SRC STORE (push side) or STORE[@SNAPSHOT] DST (pull side)");
	split_snap(p.pos[0], store, sizeof(store), &snap);
	pull_side = !is_store(p.pos[1]) && is_store(store);
	if (!pull_side && (p.ninc || p.delete_extra))
		return cli_usage_error(c, "--include and --delete apply to the pull side (STORE DST)");
	if (pull_side && p.delete_extra && p.ninc)
		return cli_usage_error(c, "--delete cannot be combined with --include");
	if (pull_side && (c->u.max_duration || c->u.shard))
		return cli_usage_error(c, "--max-duration and --shard apply to the push side (SRC STORE)");
	if (pull_side && p.plan)
		return cli_usage_error(c, "--plan applies to the push side (SRC STORE): routes lead to the store");
	if (!pull_side && p.nrep)
		return cli_usage_error(c, "--replica applies to the pull side (STORE DST): a pull reads from replicas");
	if (p.plan && !object_store(p.pos[1]))
		return cli_usage_error(c, "--plan: %s: routes lead to an object store; the store must be s3://BUCKET[/PREFIX]",
				       p.pos[1]);
	run_opts(c, &p, &r);
	r.incremental = 1;
	r.always_snapshot = p.always;
	r.checksum = p.checksum;
	r.delete_extra = p.delete_extra;
	if (pull_side)
		rc = cli_run_begin(c, store, p.pos[0], 0, &r);
	else
		rc = begin_push_side(c, p.pos[0], p.pos[1], &r);
	if (rc || (rc = open_store(c, pull_side ? store : p.pos[1], &s)))
		return cli_run_end(c, &r, rc);
	struct ferry_copy_plan *cp = NULL;
	if (!pull_side &&
	    ((p.plan && (rc = follow_routes(c, &p, p.pos[0], s, &r, &cp))) || (rc = lock_push_side(c, s, &r)))) {
		cli_unlock(c);
		ferry_store_close(s);
		free(cp);
		return cli_run_end(c, &r, rc);
	}
	if (pull_side && (rc = use_replicas(c, &p, store, s))) {
		ferry_store_close(s);
		return cli_run_end(c, &r, rc);
	}
	if (pull_side) {
		err = ferry_pull(s, snap, p.pos[1], p.ninc ? p.includes : NULL, &r);
		end_replicas(c, s);
	} else
		err = ferry_push(s, p.pos[0], &r);
	ferry_store_routes_report(s);
	rc = pull_side ? EXIT_OK : end_push_side(c, s, &r, err);
	cli_unlock(c);
	ferry_store_close(s);
	free(cp);
	if (!pull_side && err && !r.snapshot[0] && !r.dry_run && !r.no_change && !r.errors)
		cli_err(c, "no snapshot written: %s", ferry_strerror(err));
	int rc2 = finish_run(c, &r, err, t0, 0);
	return cli_run_end(c, &r, rc2 ? rc2 : rc);
}
