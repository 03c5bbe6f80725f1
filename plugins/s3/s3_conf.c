/*
 * Where an S3 store lives and who we are there: s3://BUCKET[/PREFIX], the endpoint,
 * the region and the credentials, found the way the AWS CLI finds them (environment
 * first, then the shared config and credentials files of AWS_PROFILE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/backend.h"
#include "s3_conf.h"

static int set(char **dst, const char *v)
{
	char *n = strdup(v);

	if (!n)
		return -ENOMEM;
	if (*dst) {
		OPENSSL_cleanse(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = n;
	return 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* A setting: the option when given (it overrides the environment), else the variable.
 * *from gets the name to blame for a bad value. */
static const char *setting(const struct ferry_kv *opts, const char *name, const char *var, const char **from)
{
	const char *v = ferry_kv_get(opts, name);

	*from = name;
	if (v)
		return v;
	*from = var;
	return var ? env(var) : NULL;
}

/* An integer setting (option, else variable): 0 (and *out untouched when unset), or -EINVAL. */
static int int_setting(const struct ferry_kv *opts, const char *name, const char *var, long lo, long hi, int *out,
		       char *msg, size_t msglen)
{
	const char *from, *v = setting(opts, name, var, &from);
	char *end;
	long n;

	if (!v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < lo || n > hi) {
		snprintf(msg, msglen, "%s '%.64s': expected %ld..%ld", from, v, lo, hi);
		return -EINVAL;
	}
	*out = (int)n;
	return 0;
}

/* One profile's keys from ~/.aws/credentials or ~/.aws/config. */
struct profile_scan {
	struct s3_conf *c;
	const char *profile;
	int config; /* the config file: sections are "profile NAME" except "default" */
	int found;
};

static int profile_key(void *user, const char *section, const char *name, const char *value)
{
	struct profile_scan *ps = user;
	struct s3_conf *c = ps->c;
	char want[300];

	if (ps->config && strcmp(ps->profile, "default") != 0)
		snprintf(want, sizeof(want), "profile %s", ps->profile);
	else
		snprintf(want, sizeof(want), "%s", ps->profile);
	if (strcmp(section, want) != 0)
		return 1;
	ps->found = 1;
	if (!strcmp(name, "aws_access_key_id") && !c->access_key)
		return set(&c->access_key, value) == 0;
	if (!strcmp(name, "aws_secret_access_key") && !c->secret_key)
		return set(&c->secret_key, value) == 0;
	if (!strcmp(name, "aws_session_token") && !c->session_token)
		return set(&c->session_token, value) == 0;
	if (ps->config && !strcmp(name, "region") && !c->region[0])
		snprintf(c->region, sizeof(c->region), "%s", value);
	if (ps->config && !strcmp(name, "endpoint_url") && !c->endpoint)
		return set(&c->endpoint, value) == 0;
	if (ps->config && !strcmp(name, "ca_bundle") && !c->ca_bundle)
		return set(&c->ca_bundle, value) == 0;
	return 1;
}

static int read_profile(struct s3_conf *c, const char *file, const char *profile, int config, char *msg,
			size_t msglen)
{
	struct profile_scan ps = { c, profile, config, 0 };
	FILE *f = fopen(file, "r");
	int line;

	if (!f)
		return 0; /* absent files are normal */
	line = ini_parse_file(f, profile_key, &ps);
	fclose(f);
	if (line != 0) {
		snprintf(msg, msglen, "%s:%d: cannot parse", file, line);
		return -EINVAL;
	}
	return ps.found;
}

int s3_conf_load(struct s3_conf *c, const char *location, const struct ferry_kv *opts, char *msg, size_t msglen)
{
	const char *p, *slash, *v, *from, *home = getenv("HOME");
	char path[4096];
	const char *profile = env("AWS_PROFILE");
	int explicit_profile = profile != NULL, found = 0, r;

	memset(c, 0, sizeof(*c));
	if (strncmp(location, "s3://", 5) != 0) {
		snprintf(msg, msglen, "not an s3:// URL");
		return -EINVAL;
	}
	p = location + 5;
	slash = strchr(p, '/');
	size_t blen = slash ? (size_t)(slash - p) : strlen(p);
	if (blen < 3 || blen > 63 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789.-_") < blen) {
		snprintf(msg, msglen, "bucket name must be 3-63 characters of a-z 0-9 . - _");
		return -EINVAL;
	}
	snprintf(c->bucket, sizeof(c->bucket), "%.*s", (int)blen, p);
	if (slash) {
		const char *pre = slash + 1;
		size_t n = strlen(pre);
		while (n && pre[n - 1] == '/')
			n--;
		if (n + 2 > sizeof(c->prefix) || strstr(pre, "//")) {
			snprintf(msg, msglen, "prefix too long or has an empty path segment");
			return -EINVAL;
		}
		if (n)
			snprintf(c->prefix, sizeof(c->prefix), "%.*s/", (int)n, pre);
	}

	/* environment first */
	if ((v = env("AWS_ACCESS_KEY_ID")) && set(&c->access_key, v))
		return -ENOMEM;
	if ((v = env("AWS_SECRET_ACCESS_KEY")) && set(&c->secret_key, v))
		return -ENOMEM;
	if ((v = env("AWS_SESSION_TOKEN")) && set(&c->session_token, v))
		return -ENOMEM;
	/* options over the environment, which is over the profile's files */
	if ((v = ferry_kv_get(opts, "region")) || (v = env("AWS_REGION")) || (v = env("AWS_DEFAULT_REGION")))
		snprintf(c->region, sizeof(c->region), "%s", v);
	if (((v = ferry_kv_get(opts, "endpoint")) || (v = env("AWS_ENDPOINT_URL_S3")) || (v = env("AWS_ENDPOINT_URL"))) &&
	    set(&c->endpoint, v))
		return -ENOMEM;
	if (((v = ferry_kv_get(opts, "ca_bundle")) || (v = env("AWS_CA_BUNDLE"))) && set(&c->ca_bundle, v))
		return -ENOMEM;
	if (c->access_key && !c->secret_key) {
		snprintf(msg, msglen, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
		return -EINVAL;
	}

	/* then the shared files of the profile */
	if (!profile)
		profile = "default";
	if ((v = env("AWS_SHARED_CREDENTIALS_FILE")))
		snprintf(path, sizeof(path), "%s", v);
	else
		snprintf(path, sizeof(path), "%s/.aws/credentials", home ? home : "");
	if (!c->access_key) {
		if ((r = read_profile(c, path, profile, 0, msg, msglen)) < 0)
			return r;
		found |= r;
	}
	if ((v = env("AWS_CONFIG_FILE")))
		snprintf(path, sizeof(path), "%s", v);
	else
		snprintf(path, sizeof(path), "%s/.aws/config", home ? home : "");
	if ((r = read_profile(c, path, profile, 1, msg, msglen)) < 0)
		return r;
	found |= r;
	if (explicit_profile && !found) {
		snprintf(msg, msglen, "AWS_PROFILE %s: no such profile in the AWS config or credentials file", profile);
		return -EINVAL;
	}
	if (!c->access_key || !c->secret_key) {
		snprintf(msg, msglen,
			 "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials");
		return -EACCES;
	}
	if (!c->region[0])
		snprintf(c->region, sizeof(c->region), "us-east-1");
	if (strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c->region)) {
		snprintf(msg, msglen, "region %s: not a region name", c->region);
		return -EINVAL;
	}

	/* endpoint: given (path-style, as S3-compatible servers expect), or AWS's (virtual-hosted) */
	if (c->endpoint) {
		char *e = c->endpoint;
		size_t n = strlen(e);
		while (n && e[n - 1] == '/')
			e[--n] = 0;
		if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0) {
			snprintf(msg, msglen, "endpoint %s: must start with http:// or https://", e);
			return -EINVAL;
		}
		const char *h = strstr(e, "://") + 3;
		if (!*h || strchr(h, '/') || strlen(h) >= sizeof(c->host)) {
			snprintf(msg, msglen, "endpoint %s: want scheme://host[:port] with no path", e);
			return -EINVAL;
		}
		snprintf(c->host, sizeof(c->host), "%s", h);
		c->path_style = 1;
	} else {
		snprintf(path, sizeof(path), "https://%s.s3.%s.amazonaws.com", c->bucket, c->region);
		if (set(&c->endpoint, path))
			return -ENOMEM;
		snprintf(c->host, sizeof(c->host), "%s.s3.%s.amazonaws.com", c->bucket, c->region);
		c->path_style = 0;
	}
	if ((v = setting(opts, "addressing", "FERRY_S3_ADDRESSING", &from))) {
		if (!strcmp(v, "path"))
			c->path_style = 1;
		else if (strcmp(v, "virtual") != 0) {
			snprintf(msg, msglen, "%s '%.64s': expected path or virtual", from, v);
			return -EINVAL;
		} else if (c->path_style) {
			/* bucket.host for a custom endpoint */
			char host[sizeof(c->host)];
			const char *h = strstr(c->endpoint, "://") + 3;
			if (snprintf(host, sizeof(host), "%s.%s", c->bucket, h) >= (int)sizeof(host)) {
				snprintf(msg, msglen, "endpoint host too long");
				return -EINVAL;
			}
			snprintf(path, sizeof(path), "%.*s%s", (int)(h - c->endpoint), c->endpoint, host);
			if (set(&c->endpoint, path))
				return -ENOMEM;
			memcpy(c->host, host, sizeof(host));
			c->path_style = 0;
		}
	}
	c->https = strncmp(c->endpoint, "https://", 8) == 0;
	/* UNSIGNED-PAYLOAD only where TLS protects the body; FERRY_S3_SIGN_PAYLOAD=1 forces hashing */
	c->unsigned_payload = c->https && !((v = env("FERRY_S3_SIGN_PAYLOAD")) && !strcmp(v, "1"));
	c->connections = 16;
	c->attempts = 8;
	c->max_parts = 10000;
	c->low_speed_time = 30;
	c->reconnect_seconds = 60;
	/* "host!ADDR" for curl: an address only, never a name lookup */
	if ((v = setting(opts, "bind", "FERRY_S3_BIND", &from)) && *v)
		snprintf(c->bind, sizeof(c->bind), "host!%s", v);
	c->verbose = (v = ferry_kv_get(opts, "verbose")) ? !strcmp(v, "1") : env("FERRY_VERBOSE") != NULL;
	if ((r = int_setting(opts, "connections", "FERRY_S3_CONNECTIONS", 1, 256, &c->connections, msg, msglen)) ||
	    (r = int_setting(opts, "attempts", "FERRY_S3_ATTEMPTS", 1, 30, &c->attempts, msg, msglen)) ||
	    (r = int_setting(opts, "max_parts", "FERRY_S3_MAX_PARTS", 1, 10000, &c->max_parts, msg, msglen)) ||
	    (r = int_setting(NULL, NULL, "FERRY_S3_LOW_SPEED_TIME", 1, 600, &c->low_speed_time, msg, msglen)) ||
	    (r = int_setting(NULL, NULL, "FERRY_S3_RECONNECT_SECONDS", 0, 3600, &c->reconnect_seconds, msg, msglen)))
		return r;
	return 0;
}

/* An IP address, digits, dots and colons, with an IPv6 zone after '%' (fe80::1%eth0). */
static int address_ok(const char *v)
{
	size_t n = strspn(v, "0123456789abcdefABCDEF.:");
	const char *zone = v + n + 1;

	if (!v[n])
		return 1;
	return v[n] == '%' && *zone &&
	       strspn(zone, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(zone);
}

int s3_conf_check(const struct ferry_kv *opts, char *msg, size_t msglen)
{
	const char *v;
	int n, r;

	if ((v = ferry_kv_get(opts, "endpoint"))) {
		const char *h = !strncmp(v, "http://", 7) ? v + 7 : !strncmp(v, "https://", 8) ? v + 8 : NULL;
		size_t hl = h ? strlen(h) : 0;
		while (hl && h[hl - 1] == '/')
			hl--;
		if (!h || !hl || memchr(h, '/', hl) || hl >= sizeof(((struct s3_conf *)0)->host)) {
			snprintf(msg, msglen, "endpoint '%.200s': expected http://HOST[:PORT] or https://HOST[:PORT]", v);
			return -EINVAL;
		}
	}
	if ((v = ferry_kv_get(opts, "region")) &&
	    (!*v || strlen(v) >= sizeof(((struct s3_conf *)0)->region) ||
	     strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))) {
		snprintf(msg, msglen, "region '%.64s': expected a region name (a-z 0-9 -)", v);
		return -EINVAL;
	}
	if ((v = ferry_kv_get(opts, "addressing")) && strcmp(v, "path") && strcmp(v, "virtual")) {
		snprintf(msg, msglen, "addressing '%.64s': expected path or virtual", v);
		return -EINVAL;
	}
	if ((v = ferry_kv_get(opts, "bind")) && /* "": any address; an IPv6 one may name its zone */
	    (strlen(v) >= sizeof(((struct s3_conf *)0)->bind) - 5 || !address_ok(v))) {
		snprintf(msg, msglen, "bind '%.64s': expected a local IPv4 or IPv6 address", v);
		return -EINVAL;
	}
	if ((v = ferry_kv_get(opts, "verbose")) && strcmp(v, "0") && strcmp(v, "1")) {
		snprintf(msg, msglen, "verbose '%.64s': expected 0 or 1", v);
		return -EINVAL;
	}
	if ((v = ferry_kv_get(opts, "ca_bundle")) && !*v) {
		snprintf(msg, msglen, "ca_bundle '': expected the path of a CA certificate file");
		return -EINVAL;
	}
	if ((r = int_setting(opts, "connections", NULL, 1, 256, &n, msg, msglen)) ||
	    (r = int_setting(opts, "attempts", NULL, 1, 30, &n, msg, msglen)) ||
	    (r = int_setting(opts, "max_parts", NULL, 1, 10000, &n, msg, msglen)))
		return r;
	return 0;
}

void s3_conf_free(struct s3_conf *c)
{
	char **secrets[] = { &c->access_key, &c->secret_key, &c->session_token };

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (*secrets[i]) {
			OPENSSL_cleanse(*secrets[i], strlen(*secrets[i]));
			free(*secrets[i]);
			*secrets[i] = NULL;
		}
	free(c->endpoint);
	free(c->ca_bundle);
	c->endpoint = c->ca_bundle = NULL;
}
