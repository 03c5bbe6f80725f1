/* What every command shares: messages, usage errors, exit codes, the config file, secrets, backend options, the log. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "cli.h"

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
	fprintf(stderr, "ferry: %s%s", c->cmd ? c->cmd : "", c->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c->usage)
		fprintf(stderr, "usage: %s\n", c->usage);
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

int cli_common_opt(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 'q': c->quiet = 1; return 1;
	case 'v': c->verbose = 1; return 1; /* the S3 backend logs its retries too (cli_backend_opts) */
	case 'J': c->json = 1; return 1;
	case 'C': c->config_path = arg; return 1;
	case 'P': c->passphrase_file = arg; return 1;
	case 'K': c->key_file = arg; return 1;
	case 'E': c->endpoint = arg; return 1;
	case 'N': c->connections = arg; return 1;
	}
	return 0;
}

static const char *env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void add_opt(struct cli *c, const char *key, const char *value)
{
	if (c->nbopts + 1 < sizeof(c->bopts) / sizeof(c->bopts[0]))
		c->bopts[c->nbopts++] = (struct ferry_kv){ key, value };
	c->bopts[c->nbopts] = (struct ferry_kv){ NULL, NULL };
}

/* The backend options of this run, scoped to the backend they are for ("s3.…": a local
 * store or source never sees them). Flags override the environment the S3 backend reads
 * itself (AWS_*, FERRY_S3_*), which overrides the config file's [s3] section: so a
 * config value is passed only where that environment says nothing. */
static int build_backend_opts(struct cli *c)
{
	c->nbopts = 0;
	c->bopts[0] = (struct ferry_kv){ NULL, NULL };
	if (c->endpoint && strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0)
		return cli_usage_error(c, "--endpoint %s: expected http://HOST[:PORT] or https://HOST", c->endpoint);
	if (c->connections) {
		char *end;
		long n = strtol(c->connections, &end, 10);
		if (!*c->connections || *end || n < 1 || n > 256)
			return cli_usage_error(c, "--connections %s: expected 1..256", c->connections);
		add_opt(c, "s3.connections", c->connections);
	} else if (c->conf.s3_connections && !env_set("FERRY_S3_CONNECTIONS")) {
		snprintf(c->bopt_num[0], sizeof(c->bopt_num[0]), "%d", c->conf.s3_connections);
		add_opt(c, "s3.connections", c->bopt_num[0]);
	}
	if (c->endpoint)
		add_opt(c, "s3.endpoint", c->endpoint);
	else if (c->conf.s3_endpoint[0] && !env_set("AWS_ENDPOINT_URL_S3") && !env_set("AWS_ENDPOINT_URL"))
		add_opt(c, "s3.endpoint", c->conf.s3_endpoint);
	if (c->conf.s3_region[0] && !env_set("AWS_REGION") && !env_set("AWS_DEFAULT_REGION"))
		add_opt(c, "s3.region", c->conf.s3_region);
	if (c->conf.s3_addressing[0] && !env_set("FERRY_S3_ADDRESSING"))
		add_opt(c, "s3.addressing", c->conf.s3_addressing);
	if (c->conf.s3_max_parts && !env_set("FERRY_S3_MAX_PARTS")) {
		snprintf(c->bopt_num[1], sizeof(c->bopt_num[1]), "%d", c->conf.s3_max_parts);
		add_opt(c, "s3.max_parts", c->bopt_num[1]);
	}
	if (c->verbose)
		add_opt(c, "s3.verbose", "1");
	if (!ferry_location_caps("s3://bucket")) /* a build without the S3 backend: nobody to tell */
		c->nbopts = 0, c->bopts[0] = (struct ferry_kv){ NULL, NULL };
	/* what a ferry this one runs needs to reach the same places (the push probe) */
	unsigned n = 0;
	if (c->config_path) {
		c->child_args[n++] = "--config";
		c->child_args[n++] = (char *)c->config_path;
	}
	if (c->endpoint) {
		c->child_args[n++] = "--endpoint";
		c->child_args[n++] = (char *)c->endpoint;
	}
	if (c->connections) {
		c->child_args[n++] = "--connections";
		c->child_args[n++] = (char *)c->connections;
	}
	c->child_args[n] = NULL;
	return EXIT_OK;
}

const struct ferry_kv *cli_backend_opts(struct cli *c)
{
	return c->bopts;
}

char *const *cli_child_args(struct cli *c)
{
	return c->child_args;
}

int cli_load_conf(struct cli *c)
{
	int rc = load_conf(c);

	return rc ? rc : build_backend_opts(c);
}

int cli_help(struct cli *c)
{
	c->help = 1; /* main prints it from the command table */
	return EXIT_OK;
}

/* A location as it may be shown: any user:password@ of a URL is dropped. */
void cli_redact(const char *loc, char *out, size_t cap)
{
	const char *scheme = strstr(loc, "://");

	if (scheme) {
		const char *host = scheme + 3, *slash = strchr(host, '/'), *at = strchr(host, '@');
		if (at && (!slash || at < slash)) {
			snprintf(out, cap, "%.*s%s", (int)(host - loc), loc, at + 1);
			return;
		}
	}
	snprintf(out, cap, "%s", loc);
}

void cli_log(struct cli *c, const char *fmt, ...)
{
	char ts[40];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	if (!c->u.log)
		return;
	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S%z", &tm);
	fprintf(c->u.log, "%s ferry[%ld] %s: ", ts, (long)getpid(), c->cmd ? c->cmd : "");
	va_start(ap, fmt);
	vfprintf(c->u.log, fmt, ap);
	va_end(ap);
	fputc('\n', c->u.log);
	fflush(c->u.log);
}
