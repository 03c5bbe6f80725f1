/*
 * Splitting bytes across routes: the cheapest split that meets a deadline, or the
 * fastest that fits a budget. Costs are piecewise linear (tiers, flat rates) or
 * steps (shipped devices), so an optimum exists with every route but one at a
 * breakpoint of its cost (0, a tier boundary, a whole device, its capacity by the
 * deadline): moving bytes between two routes inside linear pieces changes the cost
 * linearly, so one direction never costs more until a breakpoint is hit. For a
 * handful of routes the breakpoints are enumerated exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/conf.h"
#include "ferry/copy.h"
#include "ferry/plan.h"

#define MAX_POINTS 64
#define MAX_EVALS 4000000.0

double ferry_route_cost(const struct ferry_route *r, double x)
{
	if (x <= 0)
		return 0;
	if (r->ship)
		return ceil(x / r->ship_capacity - 1e-12) * r->ship_usd;
	if (r->tiered)
		return ferry_tiers_cost(&r->tiers, x, r->free_tier, NULL, NULL, NULL);
	return x * r->usd_per_byte;
}

double ferry_route_time(const struct ferry_route *r, double x)
{
	if (x <= 0)
		return 0;
	if (r->ship)
		return r->ship_seconds + (r->bandwidth > 0 ? x / r->bandwidth : 0);
	return r->bandwidth > 0 ? x / r->bandwidth : INFINITY;
}

/* The most bytes a route can carry within t seconds. */
static double capacity(const struct ferry_route *r, double t)
{
	if (r->ship) {
		if (t < r->ship_seconds)
			return 0;
		return r->bandwidth > 0 ? (t - r->ship_seconds) * r->bandwidth : INFINITY;
	}
	return r->bandwidth > 0 ? t * r->bandwidth : 0;
}

static double slack(double bytes)
{
	return bytes * 1e-9 + 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Breakpoints of route r's cost within [0, hi], sorted and distinct; returns the count, -1 if too many. */
static int points(const struct ferry_route *r, double hi, double *p)
{
	int n = 0;

	p[n++] = 0;
	if (hi > 0)
		p[n++] = hi;
	if (r->ship) {
		for (double k = 1; k * r->ship_capacity < hi; k++) {
			if (n == MAX_POINTS)
				return -1;
			p[n++] = k * r->ship_capacity;
		}
	} else if (r->tiered) {
		double u = r->tiers.unit_bytes;
		for (unsigned i = 0; i < r->tiers.n; i++) {
			double b[2] = { r->tiers.t[i].from * u, r->tiers.t[i].to * u };
			for (int k = 0; k < 2; k++)
				if (b[k] > 0 && b[k] < hi && n < MAX_POINTS)
					p[n++] = b[k];
		}
		if (r->free_tier && r->tiers.free_units * u < hi && n < MAX_POINTS)
			p[n++] = r->tiers.free_units * u;
	}
	qsort(p, (size_t)n, sizeof(*p), cmp_double);
	int m = 0;
	for (int i = 0; i < n; i++)
		if (m == 0 || p[i] > p[m - 1])
			p[m++] = p[i];
	return m;
}

struct search {
	const struct ferry_route *r;
	unsigned n, free_route;
	double bytes;
	double cap[FERRY_PLAN_MAX_ROUTES];
	double pt[FERRY_PLAN_MAX_ROUTES][MAX_POINTS];
	int npt[FERRY_PLAN_MAX_ROUTES];
	double x[FERRY_PLAN_MAX_ROUTES];
	double best_usd;
	double best[FERRY_PLAN_MAX_ROUTES];
	int found;
};

static void recurse(struct search *s, unsigned i, double sum)
{
	if (sum > s->bytes + slack(s->bytes))
		return;
	if (i == s->n) {
		double rest = s->bytes - sum, usd = 0;
		unsigned j = s->free_route;
		if (rest < -slack(s->bytes) || rest > s->cap[j] + slack(s->bytes))
			return;
		s->x[j] = fmax(rest, 0);
		for (unsigned k = 0; k < s->n; k++)
			usd += ferry_route_cost(&s->r[k], s->x[k]);
		if (!s->found || usd < s->best_usd - 1e-9) {
			s->found = 1;
			s->best_usd = usd;
			memcpy(s->best, s->x, sizeof(s->best));
		}
		return;
	}
	if (i == s->free_route) {
		recurse(s, i + 1, sum);
		return;
	}
	for (int k = 0; k < s->npt[i]; k++) {
		s->x[i] = s->pt[i][k];
		recurse(s, i + 1, sum + s->x[i]);
	}
}

static void fill(const struct ferry_route *r, unsigned n, const double *x, struct ferry_alloc *out)
{
	out->n = n;
	out->total_seconds = out->total_usd = 0;
	for (unsigned i = 0; i < n; i++) {
		out->bytes[i] = x[i];
		out->usd[i] = ferry_route_cost(&r[i], x[i]);
		out->seconds[i] = ferry_route_time(&r[i], x[i]);
		out->total_usd += out->usd[i];
		out->total_seconds = fmax(out->total_seconds, out->seconds[i]);
	}
}

/* Fallback for too many breakpoints: fill the routes in order of their price for all they can carry. */
static void greedy(const struct ferry_route *r, unsigned n, double bytes, const double *cap, double *x)
{
	unsigned order[FERRY_PLAN_MAX_ROUTES];
	double unit[FERRY_PLAN_MAX_ROUTES];

	for (unsigned i = 0; i < n; i++) {
		double c = fmin(cap[i], bytes);
		order[i] = i;
		unit[i] = c > 0 ? ferry_route_cost(&r[i], c) / c : INFINITY;
		x[i] = 0;
	}
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && unit[order[j]] < unit[order[j - 1]]; j--) {
			unsigned t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (unsigned k = 0; k < n && bytes > 0; k++) {
		unsigned i = order[k];
		x[i] = fmin(cap[i], bytes);
		bytes -= x[i];
	}
}

double ferry_route_min_time(const struct ferry_route *r, unsigned n, double bytes)
{
	double lo = 0, hi = 1, total;

	if (bytes <= 0 || n == 0)
		return n ? 0 : INFINITY;
	for (;;) {
		total = 0;
		for (unsigned i = 0; i < n; i++)
			total += capacity(&r[i], hi);
		if (total >= bytes)
			break;
		if (hi > 1e13)
			return INFINITY;
		hi *= 2;
	}
	for (int it = 0; it < 200 && hi - lo > hi * 1e-12; it++) {
		double mid = (lo + hi) / 2;
		total = 0;
		for (unsigned i = 0; i < n; i++)
			total += capacity(&r[i], mid);
		if (total >= bytes)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* The cheapest split within deadline; 0 when the routes cannot carry the bytes in time. */
static int cheapest(const struct ferry_route *r, unsigned n, double bytes, double deadline, struct ferry_alloc *out)
{
	struct search *s = calloc(1, sizeof(*s));
	double total = 0, evals = 0, x[FERRY_PLAN_MAX_ROUTES] = { 0 };
	int exact = 1;

	memset(out, 0, sizeof(*out));
	out->n = n;
	if (!s)
		return -1;
	s->r = r;
	s->n = n;
	s->bytes = bytes;
	for (unsigned i = 0; i < n; i++) {
		s->cap[i] = fmin(capacity(&r[i], deadline), bytes);
		total += s->cap[i];
	}
	if (bytes <= 0) {
		fill(r, n, x, out);
		out->feasible = out->exact = 1;
		free(s);
		return 1;
	}
	if (total < bytes - slack(bytes)) {
		free(s);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		s->npt[i] = points(&r[i], s->cap[i], s->pt[i]);
		if (s->npt[i] < 0)
			exact = 0;
	}
	if (exact) {
		for (unsigned j = 0; j < n; j++) {
			double e = 1;
			for (unsigned i = 0; i < n; i++)
				if (i != j)
					e *= s->npt[i];
			evals += e;
		}
		exact = evals <= MAX_EVALS;
	}
	if (exact) {
		for (unsigned j = 0; j < n; j++) {
			s->free_route = j;
			recurse(s, 0, 0);
		}
		exact = s->found;
	}
	if (exact)
		memcpy(x, s->best, sizeof(x));
	else
		greedy(r, n, bytes, s->cap, x);
	fill(r, n, x, out);
	out->exact = exact;
	out->feasible = 1;
	free(s);
	return 1;
}

void ferry_route_cheapest(const struct ferry_route *r, unsigned n, double bytes, double deadline,
			  struct ferry_alloc *out)
{
	if (cheapest(r, n, bytes, deadline, out) > 0)
		return;
	/* cannot be done in time: the cheapest split at the best achievable time */
	double t = ferry_route_min_time(r, n, bytes);
	if (!isfinite(t) || cheapest(r, n, bytes, t * (1 + 1e-9) + 1e-9, out) <= 0) {
		memset(out, 0, sizeof(*out));
		out->n = n;
		out->total_seconds = INFINITY;
	}
	out->feasible = 0;
}

void ferry_route_fastest(const struct ferry_route *r, unsigned n, double bytes, double budget,
			 struct ferry_alloc *out)
{
	struct ferry_alloc a;
	double tmin = ferry_route_min_time(r, n, bytes), lo, hi;

	ferry_route_cheapest(r, n, bytes, INFINITY, out);
	if (!isfinite(tmin) || out->total_usd > budget) {
		out->feasible = 0; /* even the cheapest split costs more */
		return;
	}
	ferry_route_cheapest(r, n, bytes, tmin * (1 + 1e-9) + 1e-9, &a);
	if (a.total_usd <= budget) {
		*out = a;
		out->feasible = 1;
		return;
	}
	/* the cost only falls as the deadline loosens: bisect on the deadline */
	lo = tmin;
	hi = fmax(out->total_seconds, tmin);
	for (int it = 0; it < 100 && hi - lo > hi * 1e-9; it++) {
		double mid = (lo + hi) / 2;
		ferry_route_cheapest(r, n, bytes, mid, &a);
		if (a.feasible && a.total_usd <= budget)
			hi = mid;
		else
			lo = mid;
	}
	ferry_route_cheapest(r, n, bytes, hi, out);
	out->feasible = 1;
}

/* ---- a run that follows routes (copy|push|sync --plan) ---- */

int ferry_copy_plan_from_conf(const struct ferry_conf *conf, double deadline, double budget,
			      struct ferry_copy_plan *out, char *msg, size_t msglen)
{
	struct ferry_plan_input *in;
	struct ferry_price_table t = { 0 };
	int err, priced = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < conf->nroutes; i++) {
		const struct ferry_conf_route *r = &conf->routes[i];
		if (r->pricing[0])
			priced = 1;
		if (r->ship) {
			snprintf(msg, msglen, "route '%s' ships devices: a run can only follow wire routes (ferry plan "
					      "compares them)", r->name);
			return FERRY_E_CONFIG;
		}
		if (r->bandwidth <= 0) {
			snprintf(msg, msglen, "route '%s' has no bandwidth: its share and its rate limit need one",
				 r->name);
			return FERRY_E_CONFIG;
		}
	}
	if (conf->nroutes == 0) {
		snprintf(msg, msglen, "no [route \"NAME\"] sections in the config file (give --config FILE)");
		return FERRY_E_CONFIG;
	}
	if (priced && (err = ferry_price_load(&t, conf->pricing_dir, msg, msglen))) {
		/* msg says which table: say it is the prices */
		char why[1024];
		snprintf(why, sizeof(why), "%s", msg);
		snprintf(msg, msglen, "pricing: %s", why);
		return FERRY_E_CONFIG;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		ferry_price_free(&t);
		snprintf(msg, msglen, "%s", ferry_strerror(FERRY_E_NOMEM));
		return FERRY_E_NOMEM;
	}
	err = ferry_plan_routes(conf, &t, 0, 0, 0, NULL, in, msg, msglen);
	ferry_price_free(&t);
	if (err) {
		free(in);
		return err;
	}
	out->n = conf->nroutes; /* wire routes only: no "link" was added */
	for (unsigned i = 0; i < out->n; i++) {
		out->model[i] = in->routes[i];
		for (unsigned j = 0; j < FERRY_PRICE_MAX_TIERS; j++)
			out->model[i].tiers.t[j].row = NULL; /* the table is freed; only the numbers are kept */
		out->model[i].tiers.free_row = NULL;
		snprintf(out->route[i].endpoint, sizeof(out->route[i].endpoint), "%s", conf->routes[i].endpoint);
		snprintf(out->route[i].bind, sizeof(out->route[i].bind), "%s", conf->routes[i].bind);
	}
	free(in);
	out->deadline = isnan(deadline) ? INFINITY : deadline;
	out->budget = budget;
	out->drift = 0.2;
	out->drift_seconds = 5;
	return FERRY_OK;
}
