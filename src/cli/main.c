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
	"Exit codes: 0 ok, 1 some files failed, 2 usage or config error, 3 integrity\n"
	"failure, 4 store locked by another run, 5 authentication or key failure,\n"
	"6 stopped at --max-duration (partial snapshot written; run again to continue).\n";

static void print_usage(FILE *f)
{
	fprintf(f, "usage: ferry [--config FILE] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-10s %s\n\n", "help", "help COMMAND: details of one command");
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

static int help_command(const char *name)
{
	const struct command *cmd = find_command(name);

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

void cli_err(struct cli *c, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ferry: %s%s%s\n", c->cmd ? c->cmd : "", c->cmd ? ": " : "", msg);
	cli_log(c, "error: %s", msg); /* when --log-file is open */
}

int cli_usage_error(struct cli *c, const char *fmt, ...)
{
	va_list ap;
	const struct command *cmd = c->cmd ? find_command(c->cmd) : NULL;

	fprintf(stderr, "ferry: %s%s", c->cmd ? c->cmd : "", c->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: %s\n", cmd->usage);
	else
		print_usage(stderr);
	return EXIT_USAGE;
}

int exit_for(int err)
{
	switch (err) {
	case FERRY_OK: return EXIT_OK;
	case FERRY_E_KEY: case FERRY_E_DENIED: return EXIT_AUTH;
	case FERRY_E_LOCKED: return EXIT_LOCKED;
	case FERRY_E_INVAL: case FERRY_E_CONFIG: return EXIT_USAGE;
	case FERRY_E_CHECKSUM: case FERRY_E_AUTH: case FERRY_E_ORDER: case FERRY_E_FOREIGN:
	case FERRY_E_TRUNCATED: case FERRY_E_FORMAT: case FERRY_E_VERSION:
		return EXIT_INTEGRITY;
	default: return EXIT_PARTIAL;
	}
}

/* Reads at most max bytes of a small secret file; refuses anything larger. */
static int read_small(struct cli *c, const char *path, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0) {
		cli_err(c, "%s: cannot read: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		cli_err(c, "%s: not a regular file of at most %zu bytes", path, max);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077)
		fprintf(stderr, "ferry: warning: %s is readable by group or others (chmod 600 it)\n", path);
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, max + 1);
	close(fd);
	if (n < 0 || (size_t)n > max) {
		cli_err(c, "%s: cannot read", path);
		free(buf);
		return -1;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int cli_load_secret(struct cli *c)
{
	const char *kf = c->key_file, *pf = c->passphrase_file, *env = getenv("FERRY_PASSPHRASE");
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!kf && !pf && !(env && *env)) {
		kf = c->conf.key_file[0] ? c->conf.key_file : NULL;
		pf = c->conf.passphrase_file[0] ? c->conf.passphrase_file : NULL;
	}
	if (kf && pf)
		return cli_usage_error(c, "give either a key file or a passphrase, not both");
	if (kf) {
		if (read_small(c, kf, 128, &buf, &len))
			return EXIT_AUTH;
		/* 32 raw bytes, or 64 hex digits with an optional newline */
		while (len == 65 || len == 66) {
			if (buf[len - 1] != '\n' && buf[len - 1] != '\r')
				break;
			len--;
		}
		if (len == 64) {
			for (size_t i = 0; i < 32; i++) {
				int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
				if (hi < 0 || lo < 0) {
					len = 0;
					break;
				}
				buf[i] = (uint8_t)(hi << 4 | lo);
			}
			if (len)
				len = 32;
		}
		if (len != 32) {
			OPENSSL_cleanse(buf, 129);
			free(buf);
			cli_err(c, "%s: a key file must hold 32 bytes (or 64 hex digits)", kf);
			return EXIT_AUTH;
		}
		c->secret.kdf = FERRY_KDF_KEYFILE;
	} else if (pf || (env && *env)) {
		if (pf) {
			if (read_small(c, pf, 1024, &buf, &len))
				return EXIT_AUTH;
			if (len && buf[len - 1] == '\n')
				len--;
			if (len && buf[len - 1] == '\r')
				len--;
		} else {
			len = strlen(env);
			if (len > 1024) {
				cli_err(c, "FERRY_PASSPHRASE: longer than 1024 bytes");
				return EXIT_AUTH;
			}
			buf = malloc(len + 1);
			if (!buf)
				return EXIT_PARTIAL;
			memcpy(buf, env, len);
		}
		if (len == 0) {
			free(buf);
			cli_err(c, "%s: passphrase is empty", pf ? pf : "FERRY_PASSPHRASE");
			return EXIT_AUTH;
		}
		c->secret.kdf = FERRY_KDF_SCRYPT;
	} else {
		return EXIT_OK;
	}
	c->secret_buf = buf;
	c->secret_len = len;
	c->secret.bytes = buf;
	c->secret.len = len;
	c->have_secret = 1;
	return EXIT_OK;
}

void cli_free_secret(struct cli *c)
{
	if (c->secret_buf) {
		OPENSSL_cleanse(c->secret_buf, c->secret_len);
		free(c->secret_buf);
	}
	c->secret_buf = NULL;
	c->have_secret = 0;
}

static int load_conf(struct cli *c)
{
	char path[4096], msg[512];
	int err;

	ferry_conf_defaults(&c->conf);
	if (c->config_path) {
		err = ferry_conf_load(&c->conf, c->config_path, msg, sizeof(msg));
	} else {
		if (ferry_conf_default_path(path, sizeof(path)))
			return EXIT_OK;
		err = ferry_conf_load(&c->conf, path, msg, sizeof(msg));
		if (err == FERRY_E_NOTFOUND)
			return EXIT_OK; /* no config file is fine unless one was named */
	}
	if (err) {
		fprintf(stderr, "ferry: config: %s\n", msg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
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
			return cli_usage_error(&c, "unknown option '%s'", a);
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
		return cli_usage_error(&c, "unknown command '%s'", name);
	c.cmd = cmd->name;
	/* commands parse their own options with getopt_long; argv[0] becomes the command */
	rc = cmd->fn(&c, argc - i, argv + i);
	cli_free_secret(&c);
	if (c.problems)
		json_object_put(c.problems);
	return rc;
}

int cli_common_opt(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 'q': c->quiet = 1; return 1;
	case 'v':
		c->verbose = 1;
		setenv("FERRY_VERBOSE", "1", 1); /* backends read it: the S3 one logs its retries */
		return 1;
	case 'J': c->json = 1; return 1;
	case 'C': c->config_path = arg; return 1;
	case 'P': c->passphrase_file = arg; return 1;
	case 'K': c->key_file = arg; return 1;
	case 'E': c->endpoint = arg; return 1;
	case 'N': c->connections = arg; return 1;
	}
	return 0;
}

/* The S3 backend reads its settings from the environment: flags override it, the
 * config file only fills what it leaves unset. */
static int apply_s3(struct cli *c)
{
	char num[16];

	if (c->endpoint && strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0)
		return cli_usage_error(c, "--endpoint %s: expected http://HOST[:PORT] or https://HOST", c->endpoint);
	if (c->connections) {
		char *end;
		long n = strtol(c->connections, &end, 10);
		if (*end || n < 1 || n > 256)
			return cli_usage_error(c, "--connections %s: expected 1..256", c->connections);
		setenv("FERRY_S3_CONNECTIONS", c->connections, 1);
	} else if (c->conf.s3_connections) {
		snprintf(num, sizeof(num), "%d", c->conf.s3_connections);
		setenv("FERRY_S3_CONNECTIONS", num, 0);
	}
	if (c->endpoint)
		setenv("AWS_ENDPOINT_URL_S3", c->endpoint, 1);
	else if (c->conf.s3_endpoint[0] && !getenv("AWS_ENDPOINT_URL_S3") && !getenv("AWS_ENDPOINT_URL"))
		setenv("AWS_ENDPOINT_URL_S3", c->conf.s3_endpoint, 0);
	if (c->conf.s3_region[0] && !getenv("AWS_REGION") && !getenv("AWS_DEFAULT_REGION"))
		setenv("AWS_REGION", c->conf.s3_region, 0);
	if (c->conf.s3_addressing[0])
		setenv("FERRY_S3_ADDRESSING", c->conf.s3_addressing, 0);
	if (c->conf.s3_max_parts) {
		snprintf(num, sizeof(num), "%d", c->conf.s3_max_parts);
		setenv("FERRY_S3_MAX_PARTS", num, 0);
	}
	return EXIT_OK;
}

int cli_load_conf(struct cli *c)
{
	int rc = load_conf(c);

	return rc ? rc : apply_s3(c);
}

int cli_help(struct cli *c)
{
	return help_command(c->cmd);
}
