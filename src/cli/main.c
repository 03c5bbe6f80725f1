/* ferry CLI entry: global options, the command table, help, secrets and exit codes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "cli.h"

struct command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *usage;
	const char *summary;
	const char *details;
};

static const struct command commands[] = {
	{ "init", cmd_init, "ferry init STORE [--encrypt] [--compress N|none] [--chunk-size SIZE] [--scrypt-cost LOG2N]",
	  "create a store",
	  "Creates a ferry store in the directory STORE (created if missing; an existing\n"
	  "directory must be empty). --encrypt wraps a random data key under a key derived\n"
	  "from the passphrase (FERRY_PASSPHRASE or --passphrase-file; scrypt) or taken from\n"
	  "--key-file (32 raw bytes or 64 hex digits). --compress sets the zstd level (1-19,\n"
	  "default 3) or none; --chunk-size the chunk size (4K-64M, default 4M).\n" },
	{ "push", cmd_push, "ferry push SRC STORE [--dry-run] [--jobs N] [--memory SIZE] [--direct] [--bwlimit RATE] [--max-duration D] [--shard i/N --shard-group G] [--plan [--deadline D | --budget USD]] [--json]", "store SRC as a new snapshot",
	  "Reads the directory tree SRC and writes it into STORE as a new immutable\n"
	  "snapshot. The snapshot's manifest is written last: until then nothing new is\n"
	  "visible, and an interrupted push leaves earlier snapshots intact. Files under\n"
	  "1 MiB are packed together. --jobs sets the worker threads (default: the cores),\n"
	  "--memory the buffer budget (default 256M), --direct reads with O_DIRECT.\n"
	  "With --plan (STORE s3://...), each object goes whole through one of the config\n"
	  "file's [route \"NAME\"] sections (endpoint or bind address, rate-limited to its\n"
	  "bandwidth) as `ferry plan` splits the bytes; sync --plan does the same.\n" },
	{ "sync", cmd_sync,
	  "ferry sync SRC STORE [--checksum] [--always-snapshot] [--bwlimit RATE] [--max-duration D] [--shard i/N --shard-group G] [--plan [--deadline D | --budget USD]] | ferry sync STORE[@SNAPSHOT] DST [--checksum] [--delete] [--include GLOB]... [--replica URL|NAME]...",
	  "bring a store, or a local copy, up to date: only what changed moves",
	  "SRC STORE: like push, but compares SRC with the store's latest snapshot by size\n"
	  "and mtime: unchanged files are carried into the new snapshot by reference, not\n"
	  "read again. When nothing changed no snapshot is written (unless\n"
	  "--always-snapshot), so a nightly run over an unchanged dataset costs a scan and\n"
	  "one manifest read.\n"
	  "STORE DST: like pull, but local files whose size and mtime match the snapshot are\n"
	  "left alone; --delete also removes local files the snapshot does not have (never\n"
	  "without the flag, and only after a restore with no errors).\n"
	  "--checksum (both ways): a file whose size matches is compared by its xxh128\n"
	  "instead of its mtime, so a change that kept size and mtime is found; only such\n"
	  "files are read, and one that differs only in mtime moves no data (pull side: it\n"
	  "gets the snapshot's mtime).\n" },
	{ "pull", cmd_pull, "ferry pull STORE[@SNAPSHOT] DST [--include GLOB]... [--replica URL|NAME]... [--dry-run] [--jobs N] [--memory SIZE] [--json]",
	  "restore a snapshot into DST",
	  "Restores the latest (or the named) snapshot into DST: files, directories,\n"
	  "symlinks, modes and mtimes. Files are written to temporary names and renamed\n"
	  "when complete and verified (every chunk's tag and xxh3, every file's xxh128).\n"
	  "Unsafe paths (absolute, '..', through a symlink) are refused.\n" },
	{ "verify", cmd_verify, "ferry verify STORE [--read-data] [--jobs N] [--memory SIZE] [--json]", "check a store's integrity",
	  "Checks that every object any snapshot references exists with the right size;\n"
	  "with --read-data, reads and checks every chunk and every file's xxh128. Each\n"
	  "problem names the file and chunk. Exit code 3 on any integrity failure.\n" },
	{ "copy", cmd_copy, "ferry copy SRC DST [--dry-run] [--jobs N] [--memory SIZE] [--direct] [--plan [--deadline D | --budget USD]] [--json]",
	  "mirror a tree as plain files (no ferry format)",
	  "Copies the directory tree SRC to DST as plain files any tool can read: files,\n"
	  "directories, symlinks, modes and mtimes. Each file is written under a temporary\n"
	  "name, read back and checked against the source's xxh128, then renamed.\n"
	  "With --plan (DST s3://...), the config file's [route \"NAME\"] sections carry the\n"
	  "bytes as `ferry plan` splits them (cheapest by --deadline, fastest within\n"
	  "--budget): each route its endpoint or bind address, limited to its bandwidth;\n"
	  "the split, any re-plan and each route's result are logged.\n" },
	{ "prune", cmd_prune,
	  "ferry prune STORE --keep-last N [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--repack PCT|off] [--dry-run] [--json]",
	  "delete old snapshots, then the objects nothing kept references",
	  "Keeps the newest N snapshots (--keep-last) and the newest snapshot of each of the\n"
	  "last N days, ISO weeks and months (UTC, from the snapshot ids); deletes the other\n"
	  "snapshots, then every object under data/ that no kept snapshot and no pending\n"
	  "shard manifest references. Partial snapshots newer than every complete one are\n"
	  "kept (the next sync continues from them). Takes the store's exclusive lock, so it\n"
	  "never runs beside a push or sync (exit 4 if one holds it). --dry-run deletes\n"
	  "nothing and shows what would go. A pack (small files' shared object) more than\n"
	  "--repack PCT percent garbage (default 50; off: never) has its live files copied\n"
	  "into a new pack and the kept manifests rewritten to point there; a kill at any\n"
	  "point leaves the kept snapshots readable. Also: --metrics-file F, --log-file F,\n"
	  "--lock-timeout D.\n" },
	{ "snapshot", cmd_snapshot, "ferry snapshot merge STORE GROUP",
	  "merge the partial manifests of a sharded push into one snapshot",
	  "Each `push --shard i/N --shard-group GROUP` writes partial/GROUP/i-of-N; the last\n"
	  "shard to finish merges them by itself. This command does the same by hand (after\n"
	  "a shard was re-run, say): it fails, naming the missing shards, until all N are in.\n" },
	{ "snapshots", cmd_snapshots, "ferry snapshots STORE", "list snapshots, oldest first",
	  "One id per line, oldest first; a snapshot stopped by --max-duration is followed\n"
	  "by the word partial.\n" },
	{ "plan", cmd_plan, "ferry plan SRC DST [--deadline D] [--budget USD] [--bandwidth R] [--json] [--svg FILE]", "estimate time, dollars, codec level and route before anything moves", plan_help },
	{ "cost", cmd_cost, "ferry cost SRC|--size SIZE --from PROVIDER:REGION [--to internet|REGION|onprem] [--months N] [--json]", "the egress bill for data already in a cloud", cost_help },
	{ "ls", cmd_ls, "ferry ls STORE[@SNAPSHOT] [PATH]", "list the entries of a snapshot", "" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char common_help[] =
	"Options for every command:\n"
	"  --config FILE           config file (default $XDG_CONFIG_HOME/ferry/ferry.conf)\n"
	"  --passphrase-file FILE  read the store passphrase from FILE (else FERRY_PASSPHRASE)\n"
	"  --key-file FILE         use a 32-byte key file instead of a passphrase\n"
	"  --json                  print one JSON object with the results on stdout\n"
	"  -q, --quiet             print nothing but errors (off a terminal that is the default)\n"
	"  -v, --verbose           print the summary even when stdout is not a terminal, and\n"
	"                          each S3 retry with its budget (FERRY_VERBOSE=1 does too)\n"
	"  -h, --help              this help\n"
	"  --endpoint URL          S3 endpoint for s3:// stores (else AWS_ENDPOINT_URL_S3,\n"
	"                          AWS_ENDPOINT_URL, the profile's endpoint_url, or AWS)\n"
	"  --connections N         S3 connections kept open (default 16)\n"
	"\n"
	"Unattended runs (push, sync; those marked * also pull, copy, verify):\n"
	"  --bwlimit RATE|TABLE    cap store reads/writes: 10M, 1G (bytes/s), off, or a\n"
	"                          local-time table \"08:00,10M 18:00,off\" (also pull, copy)\n"
	"  --max-duration D        stop starting files after D (90s, 30m, 2h); what is done\n"
	"                          is committed as a partial snapshot, exit 6\n"
	"  --metrics-file F        * write Prometheus metrics to F at the end (atomically)\n"
	"  --log-file F            * append timestamped start/end/error lines to F\n"
	"  --shard i/N|auto        push a 1/N share of the files (xxh3 of the path);\n"
	"  --shard-group NAME      the shards' common name; the last one merges them\n"
	"  --lock-timeout D        a lock without a heartbeat for D is stale (default 15m)\n"
	"\n"
	"Units (flags, ferry.conf and plan alike): K M G T and KiB MiB GiB TiB are binary\n"
	"(64M = 64 MiB), KB MB GB TB are SI (512MB = 512*10^6 bytes); a rate is a size\n"
	"per second, /s optional (10M), or bits, SI (100Mbit = 12.5*10^6 B/s); durations\n"
	"ms s m h d w, summed (1h30m). man ferry, UNITS, has the whole grammar.\n"
	"\n"
	"Exit codes: 0 ok, 1 some files failed, 2 usage or config error, 3 integrity\n"
	"failure, 4 store locked by another run, 5 authentication or key failure,\n"
	"6 stopped at --max-duration (partial snapshot written; run again to continue).\n";

static void print_usage(FILE *f)
{
	fprintf(f, "usage: ferry [--config FILE] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-10s %s\n\n", "help", "help COMMAND: details of one command; help s3: the S3 backend's options");
}

static void print_help(void)
{
	printf("ferry %s: moves datasets between local storage and object stores, chunked,\n"
	       "compressed (zstd), checksummed (xxHash) and encrypted (AES-256-GCM).\n\n",
	       FERRY_VERSION_STRING);
	print_usage(stdout);
	fputs(common_help, stdout);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* `ferry help s3`: a backend's options, from the table it publishes (ferry_backend_open
 * refuses any other name). 0 when name is no backend of this build. */
static int help_backend(const char *name)
{
	const struct ferry_backend_ops *ops;
	const char *rest;
	char url[64], why[128];

	if (strlen(name) > 32 || !strcmp(name, "file"))
		return 0;
	snprintf(url, sizeof(url), "%s://x", name);
	if (ferry_backend_resolve(url, &ops, &rest, why, sizeof(why)) || !ops)
		return 0;
	printf("backend %s: locations %s://...\n\nThe options it takes (flags, the config file and the environment set them:\ndocs/S3.md, \"Backend options\"):\n", ops->name, name);
	if (!ops->options || !ops->options->name)
		printf("  none\n");
	for (const struct ferry_backend_option *o = ops->options; o && o->name; o++)
		printf("  %-12s %s\n", o->name, o->help);
	return 1;
}

static int help_command(const char *name)
{
	const struct command *cmd = find_command(name);

	if (!cmd && help_backend(name))
		return EXIT_OK;
	if (!cmd) {
		fprintf(stderr, "ferry: help: unknown command '%s'\n", name);
		print_usage(stderr);
		return EXIT_USAGE;
	}
	printf("usage: %s\n\n%s%s\n%s", cmd->usage, cmd->summary, cmd->details[0] ? ":\n" : ".\n", cmd->details);
	if (cmd->details[0])
		printf("\n");
	fputs(common_help, stdout);
	return EXIT_OK;
}

/* A usage error before any command: the message, then the list of commands. */
static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "ferry: %s '%s'\n", what, arg);
	print_usage(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct cli c;
	int i = 1, rc;

	memset(&c, 0, sizeof(c));
	/* global options before the command */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--version")) {
			printf("ferry %s (%s)\n", FERRY_VERSION_STRING, ferry_version_libs());
			return EXIT_OK;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			print_help();
			return EXIT_OK;
		} else if (!strcmp(a, "--config") && i + 1 < argc) {
			c.config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			c.config_path = a + 9;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			c.quiet = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cli_common_opt(&c, 'v', NULL);
		} else {
			return usage_error("unknown option", a);
		}
	}
	if (i >= argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[i];
	if (!strcmp(name, "help")) {
		if (i + 1 < argc)
			return help_command(argv[i + 1]);
		print_help();
		return EXIT_OK;
	}
	if (!strcmp(name, "version")) {
		printf("ferry %s (%s)\n", FERRY_VERSION_STRING, ferry_version_libs());
		return EXIT_OK;
	}
	const struct command *cmd = find_command(name);
	if (!cmd)
		return usage_error("unknown command", name);
	c.cmd = cmd->name;
	c.usage = cmd->usage;
	/* commands parse their own options with getopt_long; argv[0] becomes the command */
	rc = cmd->fn(&c, argc - i, argv + i);
	if (c.help)
		rc = help_command(c.cmd);
	cli_free_secret(&c);
	if (c.problems)
		json_object_put(c.problems);
	return rc;
}
