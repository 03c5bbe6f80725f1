/* Shared state of the ferry CLI: options every command takes, output helpers, exit codes. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdint.h>

#include "ferry/backend.h"
#include "ferry/codec.h"
#include "ferry/conf.h"
#include "ferry/plan.h"
#include "ferry/store.h"

enum {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1,   /* some files failed */
	EXIT_USAGE = 2,     /* usage or config error */
	EXIT_INTEGRITY = 3, /* integrity failure */
	EXIT_LOCKED = 4,    /* store locked by another run */
	EXIT_AUTH = 5,      /* authentication / key failure */
	EXIT_INCOMPLETE = 6, /* stopped at --max-duration: a partial snapshot holds what was done */
};

struct ferry_rate;
struct ferry_lock;

/* Options and state of unattended runs (cmd_ops.c). */
struct cli_unattended {
	const char *bwlimit, *metrics_file, *log_file, *shard, *shard_group;
	uint64_t max_duration, lock_timeout; /* seconds, 0 unset */
	struct ferry_rate *rate;
	struct ferry_lock *lock;
	FILE *log;
	unsigned shard_index, shard_count;
	char store[512]; /* the store's location, for labels and log lines (no credentials) */
	char merged[64]; /* a shard run that merged its group: the snapshot */
	double t0;
};

struct cli {
	const char *cmd;
	const char *usage; /* the command's usage line, for usage errors */
	const char *config_path;
	struct ferry_conf conf;
	int quiet, verbose, json, dry_run;
	const char *passphrase_file;
	const char *key_file;
	const char *endpoint; /* --endpoint: S3 endpoint URL */
	const char *connections; /* --connections: S3 connections */
	/* the backends' options (cli_backend_opts), built by cli_load_conf */
	struct ferry_kv bopts[12];
	unsigned nbopts;
	char bopt_num[2][16];
	char *child_args[7]; /* cli_child_args */
	/* the secret, once loaded */
	uint8_t *secret_buf;
	size_t secret_len;
	struct ferry_secret secret;
	int have_secret;
	/* problems, kept for --json */
	struct json_object *problems;
	int progress_shown;
	int help; /* the command was asked for its help: main prints it */
	struct cli_unattended u;
};

void cli_err(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Loads the secret from flags, env or config; 0 and have_secret=0 when none was given. */
int cli_load_secret(struct cli *c);
void cli_free_secret(struct cli *c);
int exit_for(int ferry_err);
/* Global options may also follow the command: handles one, returns 1 when it was one. */
int cli_common_opt(struct cli *c, int opt, const char *arg);
/* Loads the config file and builds the backend options from it and the flags. */
int cli_load_conf(struct cli *c);
/* The backend options for every store open and copy of this run (after cli_load_conf):
 * --endpoint, --connections, --verbose and the config file's [s3] section, each scoped
 * to its backend ("s3.endpoint"). Lives as long as c. */
const struct ferry_kv *cli_backend_opts(struct cli *c);
/* The flags a ferry this one spawns needs to reach the same places: --config,
 * --endpoint, --connections as given (NULL-terminated; after cli_load_conf). */
char *const *cli_child_args(struct cli *c);
/* Asks main to print the command's help (the command then returns at once). */
int cli_help(struct cli *c);
/* A location as it may be shown: any user:password@ of a URL is dropped. */
void cli_redact(const char *loc, char *out, size_t cap);

/* getopt_long entries shared by every command; their short codes are below. */
#define CLI_COMMON_LONGOPTS                                                     \
	{ "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' }, \
	{ "json", no_argument, NULL, 'J' }, { "config", required_argument, NULL, 'C' }, \
	{ "passphrase-file", required_argument, NULL, 'P' },                   \
	{ "key-file", required_argument, NULL, 'K' }, { "help", no_argument, NULL, 'h' },   \
	{ "endpoint", required_argument, NULL, 'E' }, { "connections", required_argument, NULL, 'N' }

int cmd_init(struct cli *c, int argc, char **argv);
int cmd_push(struct cli *c, int argc, char **argv);
int cmd_pull(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);
int cmd_snapshots(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_copy(struct cli *c, int argc, char **argv);
int cmd_sync(struct cli *c, int argc, char **argv);
int cmd_prune(struct cli *c, int argc, char **argv);
int cmd_snapshot(struct cli *c, int argc, char **argv);

/* ---- unattended runs (cmd_ops.c) ---- */
/* Resolves --bwlimit, --shard (when may_shard: push side), --log-file for a run on store and
 * logs its start; sets r's fields. */
int cli_run_begin(struct cli *c, const char *store, const char *what, int may_shard, struct ferry_run *r);
/* Takes the store lock (kind: FERRY_LOCK_*); EXIT_LOCKED with a message naming the holder. */
int cli_lock(struct cli *c, struct ferry_store *s, int kind, const char *group);
/* Releases the store lock (before the store is closed). */
void cli_unlock(struct cli *c);
/* Logs the end, writes --metrics-file, releases the lock and the rate limiter. Returns rc. */
int cli_run_end(struct cli *c, const struct ferry_run *r, int rc);
/* A timestamped line in --log-file (if any). */
void cli_log(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a shard's push: merges the group when every shard is in. */
int cli_shard_maybe_merge(struct cli *c, struct ferry_store *s);
int cmd_plan(struct cli *c, int argc, char **argv);
int cmd_cost(struct cli *c, int argc, char **argv);
extern const char plan_help[], cost_help[];
struct ferry_copy_plan;
/* copy --plan: the config file's [route] sections as a plan for the run (deadline, budget: NAN none). */
int cli_copy_plan(struct cli *c, double deadline, double budget, struct ferry_copy_plan *out);

/* ---- the planner's probes, run by the program (push_probe.c) ---- */
/* While a probe has keys at the destination: SIGINT, SIGTERM and SIGHUP are noted
 * instead of ending the process (the push probe stops its push, both probes clean
 * up); _end restores them and delivers a signal noted meanwhile. */
void cli_probe_signals_begin(void);
int cli_probe_interrupted(void); /* the signal noted, or 0 */
void cli_probe_signals_end(void);

/* Returns 0, or an error with msg saying what failed (never a credential). The probe's
 * stores are removed whatever happens, the snapshots first. */
int cli_push_probe(const struct ferry_push_probe_opts *o, struct ferry_push_probe *out, char *msg,
		   size_t msglen) FERRY_MUST_CHECK;
#endif
