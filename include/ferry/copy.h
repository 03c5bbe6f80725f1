/* ferry copy: a plain mirror of a tree, no ferry format, every file read back and checked. */
#ifndef FERRY_COPY_H
#define FERRY_COPY_H

#include "ferry/plan.h"
#include "ferry/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mirrors the directory tree src into dst (created if missing): files, directories,
 * symlinks, modes and mtimes. Statistics and problems go through r. */
int ferry_copy(const char *src, const char *dst, struct ferry_run *r) FERRY_MUST_CHECK;

/* ---- copy --plan: the planner's route split, enforced (docs/PLANNER.md, "Run time") ---- */

struct ferry_copy_route {
	char endpoint[256]; /* S3 endpoint URL for this route, "" the default */
	char bind[64];      /* local address to send from, "" any */
};

struct ferry_copy_plan {
	unsigned n;
	struct ferry_route model[FERRY_PLAN_MAX_ROUTES]; /* name, bandwidth (the rate limit too), price */
	struct ferry_copy_route route[FERRY_PLAN_MAX_ROUTES];
	double deadline;      /* seconds from the start; INFINITY: none */
	double budget;        /* USD; NAN: none (then the cheapest split by the deadline) */
	double drift;         /* re-plan when a route's measured rate is off by more than this (0.2) */
	double drift_seconds; /* ... for this long (5 s) */
	/* one line per event (the split, re-plans, the result); may be NULL */
	void (*note)(void *arg, const char *line);
	void *note_arg;
};

/* The plan a run follows, from the config file's [route] sections: wire routes only, each
 * with a bandwidth (its share and its rate limit), priced per GB or by the price tables
 * (conf->pricing_dir, else ferry_price_load's default); deadline NAN: none; a re-plan on a
 * drift of 20% for 5 s. FERRY_E_CONFIG, msg naming the route. out->note is left NULL. */
struct ferry_conf;
int ferry_copy_plan_from_conf(const struct ferry_conf *conf, double deadline, double budget,
			      struct ferry_copy_plan *out, char *msg, size_t msglen) FERRY_MUST_CHECK;

/* Copies the tree src up to url (s3://) with the bytes split across the plan's routes:
 * each route its own backend (endpoint, bind address) and token bucket. */
int ferry_copy_planned(const char *src, const char *url, const struct ferry_copy_plan *p,
		       struct ferry_run *r) FERRY_MUST_CHECK;

/* push|sync --plan: the store's backend is replaced by one that writes each object, whole,
 * through one of the plan's routes (its own S3 backend: endpoint, bind address; its own
 * token bucket), the route furthest below its share of the bytes written; small objects,
 * listings and reads stay on the store's own backend. total: the bytes the split is made
 * for. The plan is logged through p->note; p must outlive the store. */
struct ferry_store;
int ferry_store_follow_routes(struct ferry_store *s, const struct ferry_copy_plan *p, double total,
			      struct ferry_run *r) FERRY_MUST_CHECK;
/* Logs each route's objects, bytes and rate (nothing when the store follows no routes). */
void ferry_store_routes_report(struct ferry_store *s);

#ifdef __cplusplus
}
#endif
#endif
