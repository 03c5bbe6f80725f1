/* ferry.conf: the one INI config file ($XDG_CONFIG_HOME/ferry/ferry.conf or --config FILE). */
#ifndef FERRY_CONF_H
#define FERRY_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_CONF_MAX_ROUTES 8

/* [route "NAME"]: a way out for the planner (a link, or shipped devices). */
struct ferry_conf_route {
	char name[32];
	char endpoint[256]; /* a URL, or */
	char bind[64];      /* a local address to send from */
	int ship;           /* type = ship: physical devices */
	double bandwidth;   /* bytes/s (ship: the device load rate), 0 unset */
	double price_per_gb; /* USD per GB (10^9 bytes), < 0 unset */
	char pricing[96];   /* or a price-table row: provider:region:dest */
	double price;       /* ship: USD per device trip, < 0 unset */
	double days;        /* ship: days in transit, < 0 unset */
	double capacity;    /* ship: bytes per device, 0 unset */
	unsigned set;       /* keys seen, to refuse one given twice */
};

#define FERRY_CONF_MAX_REPLICAS 7

/* [replica "NAME"]: another location of a store, for pull --replica (docs/PLANNER.md, "Replicas"). */
struct ferry_conf_replica {
	char name[32];
	char url[1024];      /* a local path, file://PATH or s3://BUCKET[/PREFIX] */
	char endpoint[256];  /* its S3 endpoint, "" the default */
	double price_per_gb; /* USD per GB (10^9 bytes) read from it, < 0 unset */
	unsigned set;
};

struct ferry_conf {
	/* [store] defaults for `ferry init` */
	int compress;        /* -1 unset, 0 none, 1..19 */
	uint32_t chunk_size; /* 0 unset */
	/* [keys] */
	char passphrase_file[4096];
	char key_file[4096];
	/* [transfer] */
	uint64_t memory; /* bytes, 0 unset */
	int jobs;        /* 0 unset */
	/* [unattended] */
	uint64_t lock_timeout; /* seconds without a heartbeat before a lock is stale, 0 unset */
	char bwlimit[256];     /* a rate or a timetable, "" unset */
	char log_file[4096];
	char metrics_file[4096];
	/* [s3]: object-store settings; the AWS environment variables win over these */
	char s3_endpoint[1024];
	char s3_region[64];
	char s3_addressing[16]; /* "path" or "virtual" */
	int s3_connections;     /* 0 unset */
	int s3_max_parts;       /* 0 unset */
	/* [plan]: the link model for `ferry plan` (flags win) */
	double bandwidth;       /* bytes/s, 0 unset */
	double rtt;             /* seconds, < 0 unset */
	double request_latency; /* seconds, < 0 unset */
	int connections;        /* 0 unset */
	int dst_cores;          /* 0 unset */
	char pricing_dir[4096];
	struct ferry_conf_route routes[FERRY_CONF_MAX_ROUTES];
	unsigned nroutes;
	struct ferry_conf_replica replicas[FERRY_CONF_MAX_REPLICAS];
	unsigned nreplicas;
};

void ferry_conf_defaults(struct ferry_conf *c);
/*
 * Parses path into c. Returns FERRY_OK, FERRY_E_NOTFOUND when the file does not
 * exist, or FERRY_E_CONFIG with msg naming the file, line and reason.
 */
int ferry_conf_load(struct ferry_conf *c, const char *path, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* Parses a config held in memory (fuzzing, tests); name is used in messages. */
int ferry_conf_parse(struct ferry_conf *c, const char *text, size_t len, const char *name, char *msg,
		     size_t msglen) FERRY_MUST_CHECK;
/* The default path: $XDG_CONFIG_HOME/ferry/ferry.conf, else $HOME/.config/ferry/ferry.conf. */
int ferry_conf_default_path(char *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
