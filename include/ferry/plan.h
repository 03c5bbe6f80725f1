/*
 * The planner: what a transfer will cost in time and money before anything moves.
 * Scan statistics, a compressibility sample measured on this machine, dated price
 * tables (conf/pricing/ CSV files), the stage/time model, and the split of bytes across
 * routes. docs/PLANNER.md gives every formula and unit.
 */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"
#include "ferry/units.h" /* the planner's units: ferry_plan_parse_*, ferry_plan_fmt_* */

#ifdef __cplusplus
extern "C" {
#endif

struct ferry_store; /* include/ferry/store.h */
struct ferry_kv;    /* include/ferry/backend.h */
struct ferry_conf;  /* include/ferry/conf.h */

/* ---- price tables ---- */

#define FERRY_PRICE_MAX_ROWS 4096
#define FERRY_PRICE_MAX_TIERS 16

struct ferry_price_row {
	char provider[16]; /* aws, gcp, azure, r2, b2 */
	char region[32];   /* us-east-1, us-central1, *, ... */
	char item[16];     /* egress, free, storage, put, get, list, ship */
	char dest[32];     /* internet, internet-eu, inter-region, onprem, a region name, - */
	double from, to;   /* tier bounds in units; to < 0: open-ended */
	char unit[8];      /* GB (10^9 bytes), GiB (2^30), TB (10^12), 1k (a thousand requests) */
	double usd;        /* per unit (per unit-month for storage) */
	char source[200];
	char read_on[11]; /* YYYY-MM-DD */
	char file[64];    /* the file's base name, for messages */
	int line;
};

struct ferry_price_table {
	struct ferry_price_row *rows;
	size_t n, cap;
};

/* Parses one price CSV held in memory, appending rows; errors name the file and line. */
int ferry_price_parse(struct ferry_price_table *t, const char *text, size_t len, const char *name, char *msg,
		      size_t msglen) FERRY_MUST_CHECK;
/* Loads every .csv file in dir (sorted by name). */
int ferry_price_load_dir(struct ferry_price_table *t, const char *dir, char *msg, size_t msglen) FERRY_MUST_CHECK;
void ferry_price_free(struct ferry_price_table *t);

/* A monthly tier schedule for one provider/region/item/destination. */
struct ferry_tiers {
	unsigned n;
	struct {
		double from, to, usd; /* units; to < 0 open-ended */
		const struct ferry_price_row *row;
	} t[FERRY_PRICE_MAX_TIERS];
	double unit_bytes;                 /* bytes per billed unit */
	double free_units;                 /* the free allowance per month (0 if none) */
	const struct ferry_price_row *free_row;
};

/*
 * Looks up a tier schedule. FERRY_E_NOTFOUND when the provider, region or destination
 * has no rows; msg then names what is known (regions of the provider, or its
 * destinations from that region).
 */
int ferry_price_tiers(const struct ferry_price_table *t, const char *provider, const char *region, const char *item,
		      const char *dest, struct ferry_tiers *out, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* A per-request price in USD per 1,000 requests; FERRY_E_NOTFOUND when the table has none. */
int ferry_price_request(const struct ferry_price_table *t, const char *provider, const char *region, const char *item,
			double *usd_per_1k, const struct ferry_price_row **row);
/* Is the provider in the table at all, and the region for that provider? */
int ferry_price_known(const struct ferry_price_table *t, const char *provider, const char *region);

struct ferry_tier_line {
	double from, to;  /* units */
	double units;     /* billed in this tier */
	double usd_per_unit, usd;
	const struct ferry_price_row *row; /* NULL for the free allowance */
};

/*
 * The bill for bytes in one month on a schedule: exact tier arithmetic, fractions of
 * a unit billed pro rata. With free_tier the allowance is taken first. lines (may be
 * NULL) receives at most FERRY_PRICE_MAX_TIERS + 1 lines. *unpriced is the part beyond
 * the last tier (the table has no price for it; it adds nothing to the bill).
 */
double ferry_tiers_cost(const struct ferry_tiers *s, double bytes, int free_tier, struct ferry_tier_line *lines,
			unsigned *nlines, double *unpriced);

/* ---- the price policy: which tables, which rows a transfer pays ---- */

/* Loads the price tables of dir; dir NULL or "": $FERRY_PRICING, else the source tree's
 * conf/pricing while running from a build, else the installed copy. t is freed on failure. */
int ferry_price_load(struct ferry_price_table *t, const char *dir, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* PROVIDER[:REGION] checked against the tables into prov and reg (region "*" when none is
 * given). FERRY_E_INVAL or FERRY_E_NOTFOUND, msg saying why and what the table knows. */
int ferry_price_location(const struct ferry_price_table *t, const char *arg, char *prov, size_t pcap, char *reg,
			 size_t rcap, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* Is s a PROVIDER[:REGION] (no slash; a known provider, or a region after a colon)? */
int ferry_price_is_location(const struct ferry_price_table *t, const char *s);
/* The egress class from sprov:sreg to dprov:dreg (dprov NULL: a destination in no cloud):
 * "" within one region (no transfer charge), dreg within one provider, else "internet". */
void ferry_price_egress_class(const char *sprov, const char *sreg, const char *dprov, const char *dreg, char *dest,
			      size_t cap);
/* The egress schedule from prov:reg to dest (internet, onprem, inter-region, a region...).
 * With region_fallback, a region the table has no rows for is priced as inter-region. */
int ferry_price_egress(const struct ferry_price_table *t, const char *prov, const char *reg, const char *dest,
		       int region_fallback, struct ferry_tiers *out, char *msg, size_t msglen) FERRY_MUST_CHECK;

/* The egress bill of data already in a cloud (ferry cost). */
struct ferry_egress_bill {
	struct ferry_tiers tiers;
	struct ferry_tier_line lines[FERRY_PRICE_MAX_TIERS + 1]; /* one month's */
	unsigned nlines;
	double egress_usd;     /* all months */
	double unpriced_bytes; /* beyond the table's last tier, all months: not in the bill */
	uint64_t gets, lists;
	double get_usd_1k, list_usd_1k; /* NAN: unpriced */
	double requests_usd;
};
/* bytes in objects read out of prov:reg to dest (ferry_price_egress with region_fallback),
 * spread evenly over months monthly bills (tiers restart every month); a GET per object
 * and a LIST per thousand. */
int ferry_price_egress_bill(const struct ferry_price_table *t, const char *prov, const char *reg, const char *dest,
			    double bytes, uint64_t objects, double months, int free_tier, struct ferry_egress_bill *b,
			    char *msg, size_t msglen) FERRY_MUST_CHECK;

/* ---- scan ---- */

#define FERRY_PLAN_HIST 9       /* 0 B, <4K, <64K, <1M, <16M, <256M, <4G, <64G, more */
#define FERRY_PLAN_MAX_STRATA 256
#define FERRY_PLAN_RESERVOIR 24 /* sample candidates kept per stratum */
#define FERRY_PLAN_NLEVELS 6    /* none, zstd 1, 3, 6, 9, 19 */

extern const int ferry_plan_levels[FERRY_PLAN_NLEVELS];
extern const char *const ferry_plan_hist_labels[FERRY_PLAN_HIST];

struct ferry_plan_meas {
	uint64_t n;       /* sample chunks */
	double raw, comp; /* bytes in, bytes out (stored: never more than raw) */
	double uu, cc, uc; /* sums of raw^2, comp^2, raw*comp for the ratio's variance */
	double ctime, dtime; /* seconds on one core */
};

struct ferry_plan_stratum {
	char ext[12];   /* lower-case extension, "" for none, "*" for the overflow stratum */
	int size_class; /* 0: <64K, 1: <1M, 2: <64M, 3: larger */
	uint64_t files;
	double bytes;
	uint64_t seen; /* reservoir sampling */
	unsigned ncand;
	char *cand[FERRY_PLAN_RESERVOIR];
	uint64_t cand_size[FERRY_PLAN_RESERVOIR];
	struct ferry_plan_meas m[FERRY_PLAN_NLEVELS];
};

struct ferry_plan_scan {
	uint64_t files, dirs;
	double bytes;
	uint64_t hist[FERRY_PLAN_HIST];
	double hist_bytes[FERRY_PLAN_HIST];
	/* objects as push makes them: files under small_file packed into pack_size packs */
	double small_file, pack_size, part_size;
	uint64_t small_files;
	double small_bytes;
	uint64_t large_files;
	uint64_t large_puts; /* PUT requests for the large files (multipart: parts + 2) */
	unsigned nstrata;
	struct ferry_plan_stratum *strata;
	int sampleable; /* the paths can be read (a local tree) */
	double seconds; /* how long the scan took */
	uint64_t rng;
	uint64_t unreadable;
};

void ferry_plan_scan_init(struct ferry_plan_scan *s, uint64_t seed);
void ferry_plan_scan_free(struct ferry_plan_scan *s);
/* Counts one file; path (may be NULL) is kept as a sample candidate. */
int ferry_plan_scan_add(struct ferry_plan_scan *s, const char *name, double size, const char *path) FERRY_MUST_CHECK;
/* Walks a local tree (never following symlinks). */
int ferry_plan_scan_dir(struct ferry_plan_scan *s, const char *root, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* An S3 Inventory CSV: bucket,key,size[,...], fields optionally quoted. Errors name the line. */
int ferry_plan_scan_inventory(struct ferry_plan_scan *s, const char *path, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* A what-if: bytes spread evenly over objects files (at least one). */
int ferry_plan_scan_whatif(struct ferry_plan_scan *s, double bytes, uint64_t objects) FERRY_MUST_CHECK;
/* The files of a snapshot of an open ferry store (snap NULL: the latest complete one),
 * from its manifest: nothing is read or sampled, the objects move as stored. */
int ferry_plan_scan_snapshot(struct ferry_plan_scan *s, struct ferry_store *st, const char *snap, char *msg,
			     size_t msglen) FERRY_MUST_CHECK;
/* The objects under a location an object store serves (s3://BUCKET[/PREFIX]), from a
 * listing (opened with backend_opts, may be NULL): no sample, objects move as they are.
 * FERRY_E_DENIED when the server refused us; msg names the location. */
int ferry_plan_scan_list(struct ferry_plan_scan *s, const char *location, const struct ferry_kv *backend_opts,
			 char *msg, size_t msglen) FERRY_MUST_CHECK;

/* ---- compressibility sample ---- */

struct ferry_plan_sample_opts {
	double max_bytes;   /* 0: min(1% of the bytes, 512 MiB), at least 8 MiB or everything */
	double max_seconds; /* 0: 15 s */
	uint32_t chunk;     /* sample unit, 0: 1 MiB */
};

struct ferry_plan_sample {
	double sampled_bytes, seconds;
	uint64_t chunks;
	unsigned strata_unsampled; /* strata extrapolated from the pooled ratio */
	double unsampled_bytes;
	int timed_out;
	/* per level, extrapolated to the whole scan */
	double wire[FERRY_PLAN_NLEVELS];    /* bytes after compression */
	double wire_ci[FERRY_PLAN_NLEVELS]; /* 95% half-width, bytes */
	double cpu_c[FERRY_PLAN_NLEVELS];   /* core-seconds to compress everything */
	double cpu_d[FERRY_PLAN_NLEVELS];   /* core-seconds to decompress everything */
	double aes_rate;                    /* AES-256-GCM bytes/s on one core */
	int measured;                       /* 0: nothing could be read, ratios assumed 1 */
};

int ferry_plan_sample_run(struct ferry_plan_scan *s, const struct ferry_plan_sample_opts *o,
			  struct ferry_plan_sample *out, char *msg, size_t msglen) FERRY_MUST_CHECK;

/* ---- routes ---- */

#define FERRY_PLAN_MAX_ROUTES 8

struct ferry_route {
	char name[32];
	int ship;         /* physical shipping */
	double bandwidth; /* bytes/s (wire), or the device load rate (ship; 0: not limiting) */
	/* wire price: linear per byte, or a tier schedule */
	double usd_per_byte;
	int tiered;
	struct ferry_tiers tiers;
	int free_tier;
	/* shipping */
	double ship_usd;      /* per device trip */
	double ship_seconds;  /* in transit */
	double ship_capacity; /* bytes per device */
};

struct ferry_alloc {
	unsigned n;
	double bytes[FERRY_PLAN_MAX_ROUTES];
	double seconds[FERRY_PLAN_MAX_ROUTES];
	double usd[FERRY_PLAN_MAX_ROUTES];
	double total_seconds, total_usd;
	int feasible; /* met the deadline (or budget) asked for */
	int exact;    /* 0: too many breakpoints, a greedy split was used */
};

/* Cost of x bytes on one route. */
double ferry_route_cost(const struct ferry_route *r, double x);
/* Time for x bytes on one route (0 for x = 0). */
double ferry_route_time(const struct ferry_route *r, double x);
/* The shortest time in which bytes can move over the routes. */
double ferry_route_min_time(const struct ferry_route *r, unsigned n, double bytes);
/* Cheapest split of bytes finishing within deadline seconds (INFINITY: no deadline). */
void ferry_route_cheapest(const struct ferry_route *r, unsigned n, double bytes, double deadline,
			  struct ferry_alloc *out);
/* Fastest split costing at most budget USD; when none does, the cheapest (feasible = 0). */
void ferry_route_fastest(const struct ferry_route *r, unsigned n, double bytes, double budget,
			 struct ferry_alloc *out);

/* ---- the model ---- */

enum ferry_plan_stage {
	FERRY_STAGE_READ,
	FERRY_STAGE_COMPRESS,
	FERRY_STAGE_ENCRYPT,
	FERRY_STAGE_WIRE,
	FERRY_STAGE_DECOMPRESS,
	FERRY_STAGE_WRITE,
	FERRY_STAGE_REQUESTS, /* request latency of many small objects */
	FERRY_STAGE_HASH,     /* push's own work on every byte: hashes, S3 signing, copies */
	FERRY_STAGE_PUSH,     /* wire bytes at the rate a push probe measured (everything at once) */
	FERRY_NSTAGES
};
extern const char *const ferry_plan_stage_names[FERRY_NSTAGES];

struct ferry_plan_input {
	const struct ferry_plan_scan *scan;
	const struct ferry_plan_sample *sample;
	/* hardware and link */
	double read_rate, write_rate; /* bytes/s at the source and destination disks */
	int src_cores, dst_cores;
	int encrypt;
	double rtt, request_latency; /* seconds */
	int connections;
	struct ferry_route routes[FERRY_PLAN_MAX_ROUTES];
	unsigned nroutes;
	/* money at the destination and the source (NAN: none) */
	double put_usd_1k, list_usd_1k; /* destination writes */
	double get_usd_1k, src_list_usd_1k; /* source reads, when the source is a cloud */
	const struct ferry_tiers *storage; /* destination storage per month, or NULL */
	double months;                     /* of storage in the total (default 1) */
	/* constraints (NAN: none) */
	double deadline, budget;
	/* once per run, whatever the size: process start, pipeline setup and the serial
	 * requests around the transfer (store open, lock, manifest) */
	double fixed_seconds;
	/* bytes/s the destination store takes in when it, not the link, is the limit (a
	 * probe slower than the configured link); 0: not a limit */
	double dst_rate;
	/* bytes/s push's own per-byte work goes at on this machine now (wall time, one
	 * thread: the load counts); 0: not counted */
	double hash_rate;
	/* bytes/s a real push of generated data got through to DST (--probe's push probe):
	 * push's CPU, the link, the server and the machine's load at once; with it,
	 * fixed_seconds is the probe's too and the requests are in the rate. 0: none */
	double push_rate;
};

struct ferry_plan_option {
	int level; /* 0: none */
	double wire_bytes, wire_ci;
	double stage[FERRY_NSTAGES]; /* seconds */
	int bottleneck;
	double seconds;
	double egress_usd, requests_usd, storage_usd_month, total_usd;
	struct ferry_alloc alloc;
	int meets_deadline, within_budget;
};

struct ferry_plan_result {
	struct ferry_plan_option opt[FERRY_PLAN_NLEVELS];
	unsigned nopt;
	int recommended;   /* index into opt */
	const char *why;   /* "cheapest meeting the deadline", ... */
	int deadline_missed; /* no option meets the deadline */
	int budget_missed;   /* no option fits the budget */
	double best_seconds; /* the fastest any option can do */
	uint64_t put_requests, get_requests, list_requests;
};

void ferry_plan_compute(const struct ferry_plan_input *in, struct ferry_plan_result *out);

/* The prices a plan found for a transfer (ferry_plan_prices). */
struct ferry_plan_prices {
	char egress_class[40];  /* what the plain link's egress is priced as, "" none */
	int have_link;          /* link holds the plain link's egress */
	struct ferry_tiers link;
	struct ferry_tiers storage; /* in->storage points here when the table has it */
	unsigned missing;           /* FERRY_PRICE_NO_* */
};
#define FERRY_PRICE_NO_PUT 0x1u
#define FERRY_PRICE_NO_STORAGE 0x2u
/* The prices of a transfer from sprov:sreg (sprov NULL: a source in no cloud) to dprov:dreg
 * (dprov NULL: none): egress on the plain link when the source is in a cloud, as
 * egress_class when given, else ferry_price_egress_class's (a region without rows of its
 * own is inter-region); into in, GETs and LISTs at such a source (requests are made there
 * even when the table has no GET price: 0), PUTs, LISTs and storage at the destination.
 * A failure is the egress's, msg saying why (out->egress_class names it). */
int ferry_plan_prices(const struct ferry_price_table *t, const char *sprov, const char *sreg, const char *dprov,
		      const char *dreg, const char *egress_class, struct ferry_plan_input *in,
		      struct ferry_plan_prices *out, char *msg, size_t msglen) FERRY_MUST_CHECK;
/* in->routes from the config file's [route] sections (wire routes priced per GB or by a
 * provider:region:dest row of t), then the plain link when no wire route is configured or
 * link_bandwidth (> 0) was given even so: at link_bandwidth, else default_bandwidth,
 * priced by link_tiers (may be NULL). FERRY_E_CONFIG, msg naming the route. */
int ferry_plan_routes(const struct ferry_conf *conf, const struct ferry_price_table *t, double link_bandwidth,
		      double default_bandwidth, int free_tier, const struct ferry_tiers *link_tiers,
		      struct ferry_plan_input *in, char *msg, size_t msglen) FERRY_MUST_CHECK;

/* Requests a push makes one after another whatever it sends: GET config, LIST locks, PUT
 * lock, LIST locks, LIST uploads, HEAD lock, PUT manifest, DELETE lock. */
#define FERRY_PLAN_SERIAL_REQUESTS 8
/* Seconds a push spends on this machine before and after moving bytes: this process's
 * start, and push's setup and teardown (ring, buffer pool, workers) done once here.
 * local_dst: the pool of a local store (smaller). Measured; takes about that long. */
double ferry_plan_setup_seconds(int local_dst);
/* Bytes/s one thread gets through push's work on every byte besides the codec (the
 * file and chunk hashes, two copies; for an S3 store the SHA-256 and MD5 of its parts),
 * in wall time on this machine as loaded now. Takes about a quarter of a second. */
double ferry_plan_hash_rate(int s3_dst);

/* ---- the link probe (plan --probe) ---- */

#define FERRY_PLAN_PROBE_STREAMS 4 /* uploads in parallel, each PUTting objects one after another */

struct ferry_plan_probe_opts {
	double seconds; /* of sustained upload (0: 5 s) */
	/* asked before each upload: non-zero stops them early (a signal noted); may be NULL */
	int (*interrupted)(void);
};

struct ferry_plan_probe_result {
	double request_seconds; /* median time of a request for a tiny object (round trip included) */
	double up, down;        /* bytes/s, streams in parallel */
	double up_seconds;      /* how long the sustained upload ran */
	double serial_seconds;  /* FERRY_PLAN_SERIAL_REQUESTS requests one after another */
	uint64_t up_bytes;
	size_t object_bytes; /* the objects' size after the first */
	unsigned streams;
	double seconds;
	char base[64]; /* the probe's keys' prefix at location */
};

/* Measures the link to location (s3://BUCKET[/PREFIX], opened with backend_opts (may be
 * NULL), or an existing directory): the requests a push makes one after another, then
 * FERRY_PLAN_PROBE_STREAMS streams uploading objects for o->seconds (the rate the link
 * and the server sustain, not what a burst gets through), then one object per stream
 * read back; all removed afterwards. An unreachable destination fails after one request
 * with two attempts (unless attempts is set in backend_opts or the environment). Returns
 * 0, or an error with msg naming the location and what failed (FERRY_E_DENIED or
 * FERRY_E_AUTH: the credentials were refused; never a credential). */
int ferry_plan_probe_link(const char *location, const struct ferry_kv *backend_opts,
			  const struct ferry_plan_probe_opts *o, struct ferry_plan_probe_result *out, char *msg,
			  size_t msglen) FERRY_MUST_CHECK;

/* The push probe (run by the program, src/cli/push_probe.c: it spawns ferry): three timed pushes of generated data (compress none), small (about
 * half a second of the link), big (about `seconds` more) and the small one again, each
 * into a store of its own under LOCATION/TAG, all removed afterwards (snapshots first).
 * The data is shaped like the source: small_fraction of its bytes in files of
 * small_size (packed by push), the rest in files of large_size. */
struct ferry_kv; /* include/ferry/backend.h */

struct ferry_push_probe_opts {
	const char *exe;      /* the ferry binary that pushes */
	const char *location; /* s3://BUCKET[/PREFIX] or a directory */
	const char *tag;      /* a name of its own under location */
	double link_rate;     /* bytes/s the link was probed at: sizes the pushes, caps the rate */
	double seconds;       /* about how much longer the big push runs (8 s) */
	double small_fraction, small_size, large_size;
	double time_box; /* seconds for all three: a push still running then is killed */
	/* options for opening location (the cleanup), as the caller's stores get (may be NULL) */
	const struct ferry_kv *backend_opts;
	/* more arguments for each ferry it runs, NULL-terminated (may be NULL): the caller's
	 * --config, --endpoint, --connections, so the child reaches what the caller does */
	char *const *args;
};

struct ferry_push_probe {
	double rate;  /* bytes/s: the big push's extra bytes over its extra time (at most link_rate) */
	double fixed; /* seconds a push takes besides its bytes: the small pushes' time less bytes / rate */
	double bytes[3], seconds[3];
	unsigned files[3];
	int noisy;   /* the big push was not measurably slower: rate is bytes / time, fixed 0 */
	int clamped; /* the fit was faster than the link: rate is the link's */
	double total_seconds;
};

/* The data a push probe sends, shaped like the scanned source (an empty one: large files). */
void ferry_plan_push_probe_shape(struct ferry_push_probe_opts *o, const struct ferry_plan_scan *s);

/* in's terms for what a run costs besides moving bytes, on this machine, to a remote
 * destination or not: push's own per-byte rate (hash_rate) and the once-per-run time
 * (fixed_seconds: process start, push's setup, and the serial requests around the
 * transfer, timed by the link probe pr when not NULL, else from in's rtt and request
 * latency). A push probe (pp not NULL, rate > 0) replaces both with what it measured. */
void ferry_plan_run_costs(struct ferry_plan_input *in, int remote, const struct ferry_plan_probe_result *pr,
			  const struct ferry_push_probe *pp);

/* An SVG chart of time against cost per option, the recommendation marked. */
int ferry_plan_svg(const struct ferry_plan_result *r, const char *title, const char *path, char *msg,
		   size_t msglen) FERRY_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
