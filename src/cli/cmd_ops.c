/*
 * Unattended operation in the CLI: store locks, --bwlimit, --max-duration, --shard,
 * --log-file and --metrics-file around a run, and the prune and snapshot merge commands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "ferry/unattended.h"
#include "ferry/units.h"


/* "i/N" with 0 <= i < N <= 256. */
static int parse_shard(const char *s, unsigned *i, unsigned *n)
{
	int used = 0;

	if (sscanf(s, "%u/%u%n", i, n, &used) != 2 || s[used] || *n < 1 || *n > 256 || *i >= *n)
		return -1;
	return 0;
}

static int env_uint(const char *name, unsigned *out)
{
	const char *v = getenv(name);
	char *end;
	unsigned long x;

	if (!v || !*v)
		return -1;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x > 100000)
		return -1;
	*out = (unsigned)x;
	return 0;
}

/* --shard auto: the index and count the scheduler gives (Kubernetes Indexed Job, Slurm array). */
static int shard_auto(struct cli *c, unsigned *i, unsigned *n)
{
	unsigned min = 0;

	if (env_uint("JOB_COMPLETION_INDEX", i) == 0) {
		if (env_uint("FERRY_SHARD_COUNT", n))
			return cli_usage_error(c, "--shard auto: JOB_COMPLETION_INDEX is set but FERRY_SHARD_COUNT is not "
						  "(set it to the Job's completions)");
	} else if (env_uint("SLURM_ARRAY_TASK_ID", i) == 0) {
		if (env_uint("SLURM_ARRAY_TASK_COUNT", n))
			return cli_usage_error(c, "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
		/* an array 1-4 has ids 1..4: count from its first */
		if (env_uint("SLURM_ARRAY_TASK_MIN", &min) == 0 && *i >= min)
			*i -= min;
	} else {
		return cli_usage_error(c, "--shard auto: neither JOB_COMPLETION_INDEX (Kubernetes) nor "
					  "SLURM_ARRAY_TASK_ID (Slurm) is set");
	}
	if (*n < 1 || *n > 256 || *i >= *n)
		return cli_usage_error(c, "--shard auto: shard %u of %u is out of range (1..256 shards)", *i, *n);
	return EXIT_OK;
}

int cli_run_begin(struct cli *c, const char *store, const char *what, int may_shard, struct ferry_run *r)
{
	char msg[512];
	const char *bw = c->u.bwlimit ? c->u.bwlimit : c->conf.bwlimit[0] ? c->conf.bwlimit : NULL;
	const char *logf = c->u.log_file ? c->u.log_file : c->conf.log_file[0] ? c->conf.log_file : NULL;
	const char *shard = c->u.shard ? c->u.shard : may_shard ? getenv("FERRY_SHARD") : NULL;
	int rc;

	c->u.t0 = ferry_mono();
	cli_redact(store, c->u.store, sizeof(c->u.store));
	if (!c->u.metrics_file && c->conf.metrics_file[0])
		c->u.metrics_file = c->conf.metrics_file;
	if (logf) {
		c->u.log = fopen(logf, "ae");
		if (!c->u.log) {
			cli_err(c, "--log-file %s: cannot open: %s", logf, strerror(errno));
			return EXIT_USAGE;
		}
	}
	if (bw && ferry_rate_create(&c->u.rate, bw, msg, sizeof(msg))) {
		cli_err(c, "%s", msg);
		return EXIT_USAGE;
	}
	r->rate = c->u.rate;
	if (shard && *shard) {
		if (!may_shard)
			return cli_usage_error(c, "--shard applies to push and sync (SRC STORE)");
		if (!strcmp(shard, "auto")) {
			if ((rc = shard_auto(c, &c->u.shard_index, &c->u.shard_count)))
				return rc;
		} else if (parse_shard(shard, &c->u.shard_index, &c->u.shard_count)) {
			return cli_usage_error(c, "--shard: expected i/N with 0 <= i < N <= 256, or auto; got '%s'", shard);
		}
		const char *g = c->u.shard_group ? c->u.shard_group : getenv("FERRY_SHARD_GROUP");
		if ((!g || !*g) && !strcmp(shard, "auto"))
			g = getenv("SLURM_ARRAY_JOB_ID");
		if (c->u.shard_count > 1) {
			if (!g || !*g)
				return cli_usage_error(c, "--shard needs --shard-group NAME (or FERRY_SHARD_GROUP): "
							  "the name every shard of this run shares");
			if (!ferry_shard_group_ok(g))
				return cli_usage_error(c, "--shard-group: '%s' is not 1-64 of A-Z a-z 0-9 . _ - "
							  "(not starting with .)", g);
			if (c->u.max_duration)
				return cli_usage_error(c, "--max-duration cannot be combined with --shard "
							  "(a shard's manifest is merged whole)");
			c->u.shard_group = g;
			r->shard_index = c->u.shard_index;
			r->shard_count = c->u.shard_count;
			r->shard_group = g;
		}
	}
	if (c->u.max_duration)
		r->deadline = c->u.t0 + (double)c->u.max_duration;
	cli_log(c, "start %s%s%s", what, c->u.shard_count > 1 ? " shard " : "", c->u.shard_count > 1 ? shard : "");
	return EXIT_OK;
}

static void lock_note(void *arg, const char *what, const char *chunk, int err, const char *detail)
{
	struct cli *c = arg;

	(void)chunk;
	(void)err;
	fprintf(stderr, "ferry: %s: %s: %s\n", c->cmd, what, detail);
	cli_log(c, "%s", detail);
}

void cli_unlock(struct cli *c)
{
	ferry_lock_release(c->u.lock);
	c->u.lock = NULL;
}

int cli_lock(struct cli *c, struct ferry_store *s, int kind, const char *group)
{
	struct ferry_lock_opts o = {
		.kind = (enum ferry_lock_kind)kind,
		.group = group,
		.command = c->cmd,
		.stale_after = c->u.lock_timeout ? c->u.lock_timeout : c->conf.lock_timeout,
		.note = lock_note,
		.note_arg = c,
	};
	char msg[1024];
	int err = ferry_lock_acquire(s, &o, &c->u.lock, msg, sizeof(msg));

	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_LOCKED ? EXIT_LOCKED : exit_for(err);
	}
	return EXIT_OK;
}

/* Prometheus label values: backslash, quote and newline escaped. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

/* The last success recorded by an earlier run in the metrics file, or 0. */
static double previous_success(const char *path)
{
	static const char name[] = "ferry_last_success_timestamp_seconds";
	char line[2048];
	double v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, sizeof(name) - 1) || (line[sizeof(name) - 1] != '{' && line[sizeof(name) - 1] != ' '))
			continue;
		char *sp = strrchr(line, ' ');
		if (sp) {
			char *end;
			double x = strtod(sp + 1, &end);
			if (end != sp + 1 && x > 0)
				v = x;
		}
	}
	fclose(f);
	return v;
}

static int write_metrics(struct cli *c, const struct ferry_run *r, int rc, double secs)
{
	const char *path = c->u.metrics_file;
	char tmp[4200];
	double now = (double)time(NULL), last = rc == EXIT_OK ? now : previous_success(path);
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		cli_err(c, "--metrics-file %s: cannot write: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
#define METRIC(n, type, help, value)                                                         \
	do {                                                                                 \
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s{command=\"", n, help, n, type, n); \
		label(f, c->cmd);                                                            \
		fputs("\",store=\"", f);                                                      \
		label(f, c->u.store);                                                        \
		fprintf(f, "\"} %.17g\n", (double)(value));                                    \
	} while (0)
	METRIC("ferry_last_success_timestamp_seconds", "gauge",
	       "Unix time of the last run that exited 0 (kept from the previous file when this run failed; 0: never).",
	       last);
	METRIC("ferry_last_run_timestamp_seconds", "gauge", "Unix time this run ended.", now);
	METRIC("ferry_exit_code", "gauge", "Exit code of the last run (see ferry(1)).", rc);
	METRIC("ferry_duration_seconds", "gauge", "Wall time of the last run.", secs);
	METRIC("ferry_bytes_read", "gauge", "Bytes read by the last run.", r->bytes_read);
	METRIC("ferry_bytes_written", "gauge", "Bytes written by the last run (to the store, or the destination).",
	       r->bytes_written);
	METRIC("ferry_files", "gauge", "Files the last run looked at.", r->files_total);
	METRIC("ferry_files_transferred", "gauge", "Files the last run read and sent.", r->files_transferred);
	METRIC("ferry_errors", "gauge", "Problems reported by the last run.", r->errors);
	METRIC("ferry_partial", "gauge", "1 when the last run stopped at --max-duration.", r->partial);
#undef METRIC
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		cli_err(c, "--metrics-file %s: cannot write: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		cli_err(c, "--metrics-file %s: cannot rename into place: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int cli_run_end(struct cli *c, const struct ferry_run *r, int rc)
{
	double secs = ferry_mono() - c->u.t0;

	if (r->partial && rc == EXIT_OK)
		rc = EXIT_INCOMPLETE;
	cli_log(c,
		"end exit=%d files=%llu transferred=%llu unchanged=%llu bytes_read=%llu bytes_written=%llu "
		"errors=%llu seconds=%.2f%s%s%s",
		rc, (unsigned long long)r->files_total, (unsigned long long)r->files_transferred,
		(unsigned long long)r->files_unchanged, (unsigned long long)r->bytes_read,
		(unsigned long long)r->bytes_written, (unsigned long long)r->errors, secs,
		r->snapshot[0] ? " snapshot=" : "", r->snapshot, r->partial ? " partial" : "");
	if (c->u.metrics_file && write_metrics(c, r, rc, secs) && rc == EXIT_OK)
		rc = EXIT_PARTIAL;
	cli_unlock(c);
	ferry_rate_destroy(c->u.rate);
	c->u.rate = NULL;
	if (c->u.log)
		fclose(c->u.log);
	c->u.log = NULL;
	return rc;
}

int cli_shard_maybe_merge(struct cli *c, struct ferry_store *s)
{
	char msg[1024], snap[64];
	uint64_t entries;
	struct ferry_lock *mine = c->u.lock;
	int err = FERRY_E_LOCKED;

	/* the shard's own lock stays; a merge lock on top makes one finisher the merger */
	for (int attempt = 0; attempt < 5 && err == FERRY_E_LOCKED; attempt++) {
		struct ferry_lock_opts o = {
			.kind = FERRY_LOCK_MERGE,
			.group = c->u.shard_group,
			.command = "snapshot merge",
			.stale_after = c->u.lock_timeout ? c->u.lock_timeout : c->conf.lock_timeout,
			.note = lock_note,
			.note_arg = c,
		};
		struct ferry_lock *ml;
		if (attempt) {
			uint8_t rnd = 0;
			if (ferry_random(&rnd, 1))
				rnd = (uint8_t)getpid();
			usleep(200000 + (useconds_t)rnd * 3000); /* two finishers that collided back off apart */
		}
		err = ferry_lock_acquire(s, &o, &ml, msg, sizeof(msg));
		if (err)
			continue;
		err = ferry_snapshot_merge(s, c->u.shard_group, snap, &entries, msg, sizeof(msg));
		ferry_lock_release(ml);
		if (err == FERRY_E_NOTFOUND) {
			/* other shards still running (or one merged already): they finish it */
			cli_log(c, "shard %u/%u done; %s", c->u.shard_index, c->u.shard_count, msg);
			return EXIT_OK;
		}
		if (err)
			break;
		cli_log(c, "merged shard group %s into snapshot %s (%llu entries)", c->u.shard_group, snap,
			(unsigned long long)entries);
		snprintf(c->u.merged, sizeof(c->u.merged), "%s", snap);
		return EXIT_OK;
	}
	(void)mine;
	if (err == FERRY_E_LOCKED) {
		cli_log(c, "shard group %s: another run holds the merge; leaving it to them (%s)", c->u.shard_group, msg);
		return EXIT_OK;
	}
	cli_err(c, "merging shard group %s: %s", c->u.shard_group, msg);
	return exit_for(err);
}

/* ---------------------------------------------------------------- prune */

struct prune_out {
	struct cli *c;
	struct json_object *kept, *deleted;
	int dry;
};

static void prune_line(void *arg, const char *what, const char *snap)
{
	struct prune_out *po = arg;

	if (po->c->json) {
		json_object_array_add(!strcmp(what, "keep") ? po->kept : po->deleted, json_object_new_string(snap));
		return;
	}
	if (!po->c->quiet && (po->c->verbose || po->dry || isatty(STDOUT_FILENO)))
		printf("%s %s\n", !strcmp(what, "keep") ? "keep  " : po->dry ? "would delete" : "delete", snap);
}

static int count_opt(struct cli *c, const char *name, const char *v, unsigned *out)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x > 1000000)
		return cli_usage_error(c, "%s: expected a count 0..1000000, got '%s'", name, v);
	*out = (unsigned)x;
	return EXIT_OK;
}

enum {
	PR_LAST = 2000,
	PR_DAILY,
	PR_WEEKLY,
	PR_MONTHLY,
	PR_DRY,
	PR_METRICS,
	PR_LOG,
	PR_LOCKT,
	PR_REPACK,
};

int cmd_prune(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS,
		{ "keep-last", required_argument, NULL, PR_LAST },
		{ "keep-daily", required_argument, NULL, PR_DAILY },
		{ "keep-weekly", required_argument, NULL, PR_WEEKLY },
		{ "keep-monthly", required_argument, NULL, PR_MONTHLY },
		{ "dry-run", no_argument, NULL, PR_DRY },
		{ "metrics-file", required_argument, NULL, PR_METRICS },
		{ "log-file", required_argument, NULL, PR_LOG },
		{ "lock-timeout", required_argument, NULL, PR_LOCKT },
		{ "repack", required_argument, NULL, PR_REPACK },
		{ NULL, 0, NULL, 0 },
	};
	struct ferry_prune_opts po = { 0 };
	struct ferry_prune_result res;
	struct ferry_run r = { 0 };
	struct ferry_store *s;
	struct prune_out out = { .c = c };
	const char *store = NULL;
	char msg[1024];
	int opt, rc, err;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
		if (opt == 'h')
			return cli_help(c);
		if (cli_common_opt(c, opt, optarg))
			continue;
		switch (opt) {
		case PR_LAST: if ((rc = count_opt(c, "--keep-last", optarg, &po.keep_last))) return rc; break;
		case PR_DAILY: if ((rc = count_opt(c, "--keep-daily", optarg, &po.keep_daily))) return rc; break;
		case PR_WEEKLY: if ((rc = count_opt(c, "--keep-weekly", optarg, &po.keep_weekly))) return rc; break;
		case PR_MONTHLY: if ((rc = count_opt(c, "--keep-monthly", optarg, &po.keep_monthly))) return rc; break;
		case PR_DRY: po.dry_run = 1; c->dry_run = 1; break;
		case PR_REPACK:
			if (!strcmp(optarg, "off")) {
				po.repack_threshold = 100;
			} else {
				char *end;
				errno = 0;
				unsigned long x = strtoul(optarg, &end, 10);
				if (errno || end == optarg || (*end && strcmp(end, "%")) || *optarg == '-' || x < 1 || x > 99)
					return cli_usage_error(c, "--repack: expected a garbage percentage 1..99 or 'off', got '%s'",
							       optarg);
				po.repack_threshold = (unsigned)x;
			}
			break;
		case PR_METRICS: c->u.metrics_file = optarg; break;
		case PR_LOG: c->u.log_file = optarg; break;
		case PR_LOCKT:
			if (ferry_parse_duration(optarg, &c->u.lock_timeout) || c->u.lock_timeout < 10)
				return cli_usage_error(c, "--lock-timeout: expected a duration of at least 10s (15m, 1h), got '%s'",
						       optarg);
			break;
		case ':': return cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(c, optind >= argc ? "expected STORE" : "unexpected argument '%s'",
				       optind < argc ? argv[optind + 1] : "");
	store = argv[optind];
	if (!po.keep_last && !po.keep_daily && !po.keep_weekly && !po.keep_monthly)
		return cli_usage_error(c, "give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly "
					  "(each at least 1)");
	if ((rc = cli_load_conf(c)))
		return rc;
	if ((rc = cli_load_secret(c)))
		return rc;
	err = ferry_store_open_with(&s, store, cli_backend_opts(c), c->have_secret ? &c->secret : NULL, msg,
				    sizeof(msg));
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOTFOUND ? EXIT_USAGE : exit_for(err);
	}
	if ((rc = cli_run_begin(c, store, store, 0, &r))) {
		ferry_store_close(s);
		return cli_run_end(c, &r, rc);
	}
	/* a dry run deletes nothing, so it needs no lock (its picture may be a moment old) */
	if (!po.dry_run && (rc = cli_lock(c, s, FERRY_LOCK_EXCLUSIVE, NULL))) {
		cli_unlock(c);
		ferry_store_close(s);
		return cli_run_end(c, &r, rc);
	}
	out.dry = po.dry_run;
	if (c->json) {
		out.kept = json_object_new_array();
		out.deleted = json_object_new_array();
	}
	err = ferry_prune(s, &po, &res, prune_line, &out, msg, sizeof(msg));
	r.bytes_written = 0;
	r.files_total = res.objects_total;
	if (err) {
		r.errors = 1;
		cli_err(c, "%s", msg);
		rc = err == FERRY_E_INVAL ? EXIT_USAGE : exit_for(err);
	} else {
		rc = EXIT_OK;
	}
	cli_unlock(c);
	ferry_store_close(s);
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "command", json_object_new_string("prune"));
		json_object_object_add(o, "dry_run", json_object_new_boolean(po.dry_run));
		json_object_object_add(o, "snapshots_kept", out.kept);
		json_object_object_add(o, "snapshots_deleted", out.deleted);
		json_object_object_add(o, "objects_total", json_object_new_int64((int64_t)res.objects_total));
		json_object_object_add(o, "objects_deleted", json_object_new_int64((int64_t)res.objects_deleted));
		json_object_object_add(o, "bytes_deleted", json_object_new_int64((int64_t)res.bytes_deleted));
		json_object_object_add(o, "objects_kept", json_object_new_int64((int64_t)res.objects_kept));
		json_object_object_add(o, "bytes_kept", json_object_new_int64((int64_t)res.bytes_kept));
		json_object_object_add(o, "packs_repacked", json_object_new_int64((int64_t)res.packs_repacked));
		json_object_object_add(o, "packs_repacked_bytes", json_object_new_int64((int64_t)res.packs_repacked_bytes));
		json_object_object_add(o, "packs_written", json_object_new_int64((int64_t)res.packs_written));
		json_object_object_add(o, "packs_written_bytes", json_object_new_int64((int64_t)res.packs_written_bytes));
		json_object_object_add(o, "manifests_rewritten", json_object_new_int64((int64_t)res.manifests_rewritten));
		json_object_object_add(o, "errors", json_object_new_int64(err ? 1 : 0));
		if (err)
			json_object_object_add(o, "error", json_object_new_string(msg));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (!err && !c->quiet && (c->verbose || po.dry_run || isatty(STDOUT_FILENO))) {
		printf("prune%s: %llu of %llu snapshots %sdeleted, %llu objects (%llu bytes) %sdeleted; %llu objects "
		       "(%llu bytes) kept\n",
		       po.dry_run ? " (dry run)" : "", (unsigned long long)res.snapshots_deleted,
		       (unsigned long long)res.snapshots_total, po.dry_run ? "would be " : "",
		       (unsigned long long)res.objects_deleted, (unsigned long long)res.bytes_deleted,
		       po.dry_run ? "would be " : "", (unsigned long long)res.objects_kept,
		       (unsigned long long)res.bytes_kept);
		if (res.packs_repacked)
			printf("repack%s: %llu packs (%llu bytes) %s into %llu (%llu bytes), %llu manifests rewritten\n",
			       po.dry_run ? " (dry run)" : "", (unsigned long long)res.packs_repacked,
			       (unsigned long long)res.packs_repacked_bytes, po.dry_run ? "would be rewritten" : "rewritten",
			       (unsigned long long)res.packs_written, (unsigned long long)res.packs_written_bytes,
			       (unsigned long long)res.manifests_rewritten);
	}
	if (!err)
		cli_log(c, "pruned: %llu snapshots, %llu objects, %llu bytes%s", (unsigned long long)res.snapshots_deleted,
			(unsigned long long)res.objects_deleted, (unsigned long long)res.bytes_deleted,
			po.dry_run ? " (dry run: nothing deleted)" : "");
	return cli_run_end(c, &r, rc);
}

/* ---------------------------------------------------------------- snapshot merge */

int cmd_snapshot(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS,
		{ "lock-timeout", required_argument, NULL, PR_LOCKT },
		{ NULL, 0, NULL, 0 },
	};
	struct ferry_store *s;
	char msg[1024], snap[64];
	uint64_t entries;
	int opt, rc, err;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
		if (opt == 'h')
			return cli_help(c);
		if (cli_common_opt(c, opt, optarg))
			continue;
		if (opt == PR_LOCKT) {
			if (ferry_parse_duration(optarg, &c->u.lock_timeout) || c->u.lock_timeout < 10)
				return cli_usage_error(c, "--lock-timeout: expected a duration of at least 10s, got '%s'", optarg);
			continue;
		}
		if (opt == ':')
			return cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
		return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
	}
	if (optind >= argc || strcmp(argv[optind], "merge"))
		return cli_usage_error(c, optind < argc ? "unknown subcommand '%s' (only: merge)" : "expected merge",
				       optind < argc ? argv[optind] : "");
	if (argc - optind != 3)
		return cli_usage_error(c, "expected merge STORE GROUP");
	if (!ferry_shard_group_ok(argv[optind + 2]))
		return cli_usage_error(c, "'%s': a shard group is 1-64 of A-Z a-z 0-9 . _ - (not starting with .)",
				       argv[optind + 2]);
	if ((rc = cli_load_conf(c)) || (rc = cli_load_secret(c)))
		return rc;
	err = ferry_store_open_with(&s, argv[optind + 1], cli_backend_opts(c), c->have_secret ? &c->secret : NULL, msg,
				    sizeof(msg));
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOTFOUND ? EXIT_USAGE : exit_for(err);
	}
	if ((rc = cli_lock(c, s, FERRY_LOCK_MERGE, argv[optind + 2]))) {
		ferry_store_close(s);
		return rc;
	}
	err = ferry_snapshot_merge(s, argv[optind + 2], snap, &entries, msg, sizeof(msg));
	cli_unlock(c);
	ferry_store_close(s);
	if (err) {
		cli_err(c, "%s", msg);
		return err == FERRY_E_NOTFOUND ? EXIT_PARTIAL : exit_for(err);
	}
	if (c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "command", json_object_new_string("snapshot merge"));
		json_object_object_add(o, "snapshot", json_object_new_string(snap));
		json_object_object_add(o, "entries", json_object_new_int64((int64_t)entries));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (!c->quiet) {
		printf("%s\n", snap);
	}
	return EXIT_OK;
}
