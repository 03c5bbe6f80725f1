/* The S3 backend's settings: bucket, prefix, endpoint, region, credentials. */
#ifndef FERRY_S3_CONF_H
#define FERRY_S3_CONF_H

#include <stddef.h>

struct s3_conf {
	char bucket[64];
	char prefix[1024]; /* "" or "a/b/" */
	char *endpoint;    /* scheme://host[:port], no trailing slash; virtual-hosted: bucket.host */
	char host[512];    /* the Host header */
	int path_style;
	int https;
	int unsigned_payload;
	char region[64];
	char *access_key, *secret_key, *session_token; /* never printed */
	char *ca_bundle;
	int connections;
	int max_parts;
	int attempts; /* tries per request, retries included */
	int low_speed_time; /* seconds under 1 KB/s before a transfer counts as stalled */
	int reconnect_seconds; /* a server that answered before and now refuses: retried this long */
	char bind[72]; /* "host!ADDR": the local address to send from (a planner route), "" any */
	int verbose;   /* one line per retry on stderr */
};

struct ferry_kv;

/*
 * Fills c for location "s3://BUCKET[/PREFIX]" from opts (endpoint, region, addressing,
 * connections, max_parts, attempts, ca_bundle, bind, verbose: each overrides its
 * variable below, FERRY_S3_BIND and FERRY_VERBOSE for the last two), then
 * the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_CA_BUNDLE,
 * AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE; ferry's own
 * FERRY_S3_ADDRESSING, FERRY_S3_CONNECTIONS, FERRY_S3_MAX_PARTS, FERRY_S3_ATTEMPTS,
 * FERRY_S3_LOW_SPEED_TIME, FERRY_S3_RECONNECT_SECONDS, FERRY_S3_SIGN_PAYLOAD), then the
 * profile's files. 0, or -errno with a one-line reason in msg (never a secret): -EINVAL
 * bad input, -EACCES no credentials.
 */
int s3_conf_load(struct s3_conf *c, const char *location, const struct ferry_kv *opts, char *msg, size_t msglen);
/* The options' values alone, before anything is read: -EINVAL and a one-line reason
 * naming the option for a bad one (the caller's mistake, not the environment's). */
int s3_conf_check(const struct ferry_kv *opts, char *msg, size_t msglen);
void s3_conf_free(struct s3_conf *c);

#endif
