/* The time and money model: stages per codec level, request counts, the route split and the recommendation. */
#include <math.h>
#include <string.h>

#include "ferry/plan.h"

const char *const ferry_plan_stage_names[FERRY_NSTAGES] = {
	"read", "compress", "encrypt", "wire", "decompress", "write", "requests", "hash", "push",
};

static double price(double usd_per_1k, uint64_t n)
{
	return isnan(usd_per_1k) ? 0 : usd_per_1k * (double)n / 1000.0;
}

static void option(const struct ferry_plan_input *in, const struct ferry_plan_result *res, int l,
		   struct ferry_plan_option *o)
{
	const struct ferry_plan_scan *s = in->scan;
	const struct ferry_plan_sample *sm = in->sample;
	double w = sm->wire[l], req_s, flow = 0, fixed_usd;
	int src = in->src_cores > 0 ? in->src_cores : 1, dst = in->dst_cores > 0 ? in->dst_cores : 1;
	int conns = in->connections > 0 ? in->connections : 1;

	memset(o, 0, sizeof(*o));
	o->level = ferry_plan_levels[l];
	o->wire_bytes = w;
	o->wire_ci = sm->wire_ci[l];
	o->stage[FERRY_STAGE_READ] = in->read_rate > 0 ? s->bytes / in->read_rate : 0;
	o->stage[FERRY_STAGE_COMPRESS] = sm->cpu_c[l] / src;
	o->stage[FERRY_STAGE_ENCRYPT] = in->encrypt && sm->aes_rate > 0 ? w / (sm->aes_rate * src) : 0;
	o->stage[FERRY_STAGE_DECOMPRESS] = sm->cpu_d[l] / dst;
	o->stage[FERRY_STAGE_WRITE] = in->write_rate > 0 ? s->bytes / in->write_rate : 0;
	o->stage[FERRY_STAGE_HASH] = in->hash_rate > 0 ? s->bytes / in->hash_rate : 0;
	/* a store that takes the bytes in slower than the link brings them */
	if (in->dst_rate > 0)
		o->stage[FERRY_STAGE_WRITE] = fmax(o->stage[FERRY_STAGE_WRITE], w / in->dst_rate);
	/* every request waits a round trip plus the server's time; connections overlap them, listings are serial */
	req_s = (double)(res->put_requests + res->get_requests) * (in->rtt + in->request_latency) / conns +
		(double)res->list_requests * (in->rtt + in->request_latency);
	if (in->push_rate > 0) {
		/* a push measured whole: its objects' requests, its copies and hashes, the
		 * server and the load are in its rate, its serial requests in fixed_seconds */
		o->stage[FERRY_STAGE_PUSH] = w / in->push_rate;
		req_s = 0;
	}
	o->stage[FERRY_STAGE_REQUESTS] = req_s;
	for (int st = 0; st < FERRY_NSTAGES; st++)
		if (st != FERRY_STAGE_WIRE && st != FERRY_STAGE_REQUESTS)
			flow = fmax(flow, o->stage[st]);

	o->requests_usd = price(in->put_usd_1k, res->put_requests) + price(in->list_usd_1k, 1) +
			  price(in->get_usd_1k, res->get_requests) +
			  price(in->src_list_usd_1k, res->list_requests);
	o->storage_usd_month = in->storage ? ferry_tiers_cost(in->storage, w, 0, NULL, NULL, NULL) : 0;
	fixed_usd = o->requests_usd + o->storage_usd_month * (in->months > 0 ? in->months : 1);

	if (!isnan(in->deadline)) {
		/* the wire must finish within what the other costs of time leave */
		double d = in->deadline - req_s - in->fixed_seconds;
		ferry_route_cheapest(in->routes, in->nroutes, w, d > 0 ? d : 0, &o->alloc);
	} else if (!isnan(in->budget)) {
		ferry_route_fastest(in->routes, in->nroutes, w, in->budget - fixed_usd, &o->alloc);
	} else {
		double t = ferry_route_min_time(in->routes, in->nroutes, w);
		ferry_route_cheapest(in->routes, in->nroutes, w, isfinite(t) ? t * (1 + 1e-9) + 1e-9 : INFINITY,
				     &o->alloc);
	}
	o->stage[FERRY_STAGE_WIRE] = o->alloc.total_seconds;
	flow = fmax(flow, o->stage[FERRY_STAGE_WIRE]);
	o->bottleneck = FERRY_STAGE_READ;
	for (int st = 0; st < FERRY_NSTAGES; st++)
		if (o->stage[st] > o->stage[o->bottleneck])
			o->bottleneck = st;
	o->seconds = flow + req_s + in->fixed_seconds;
	o->egress_usd = o->alloc.total_usd;
	o->total_usd = o->egress_usd + fixed_usd;
	o->meets_deadline = isnan(in->deadline) || o->seconds <= in->deadline * (1 + 1e-9);
	o->within_budget = isnan(in->budget) || o->total_usd <= in->budget + 1e-9;
}

/* Is a better than b? key 0: cost first, 1: time first; near-ties go to the other key, then the lower level. */
static int better(const struct ferry_plan_option *a, const struct ferry_plan_option *b, int time_first)
{
	double ca = a->total_usd, cb = b->total_usd, ta = a->seconds, tb = b->seconds;
	int cost_tie = fabs(ca - cb) <= fmax(0.005, 1e-3 * fmax(ca, cb));
	int time_tie = fabs(ta - tb) <= 0.005 * fmax(ta, tb) + 1e-6;

	if (time_first) {
		if (!time_tie)
			return ta < tb;
		if (!cost_tie)
			return ca < cb;
	} else {
		if (!cost_tie)
			return ca < cb;
		if (!time_tie)
			return ta < tb;
	}
	return a->level < b->level;
}

static int pick(const struct ferry_plan_result *r, int time_first, int (*ok)(const struct ferry_plan_option *))
{
	int best = -1;

	for (unsigned i = 0; i < r->nopt; i++)
		if ((!ok || ok(&r->opt[i])) && (best < 0 || better(&r->opt[i], &r->opt[best], time_first)))
			best = (int)i;
	return best;
}

static int meets(const struct ferry_plan_option *o)
{
	return o->meets_deadline;
}

static int fits(const struct ferry_plan_option *o)
{
	return o->within_budget;
}

void ferry_plan_compute(const struct ferry_plan_input *in, struct ferry_plan_result *out)
{
	const struct ferry_plan_scan *s = in->scan;

	memset(out, 0, sizeof(*out));
	/* objects as push writes them: packs of small files, large files whole (multipart above a part) */
	out->put_requests = (uint64_t)ceil(s->small_bytes / s->pack_size) + s->large_puts + 1;
	if (!isnan(in->get_usd_1k)) {
		/* the source is a bucket: one GET per object and a listing */
		out->get_requests = s->small_files + s->large_files;
		out->list_requests = (s->files + 999) / 1000;
	}
	for (int l = 0; l < FERRY_PLAN_NLEVELS; l++) {
		if (!in->sample->measured && ferry_plan_levels[l] != 0)
			continue; /* nothing sampled: only "none" can be priced */
		option(in, out, l, &out->opt[out->nopt++]);
	}
	out->best_seconds = INFINITY;
	for (unsigned i = 0; i < out->nopt; i++)
		out->best_seconds = fmin(out->best_seconds, out->opt[i].seconds);
	if (!isnan(in->deadline)) {
		out->recommended = pick(out, 0, meets);
		out->why = "cheapest meeting the deadline";
		if (out->recommended < 0) {
			out->deadline_missed = 1;
			out->recommended = pick(out, 1, NULL);
			out->why = "fastest (no option meets the deadline)";
		}
	} else if (!isnan(in->budget)) {
		out->recommended = pick(out, 1, fits);
		out->why = "fastest within the budget";
		if (out->recommended < 0) {
			out->budget_missed = 1;
			out->recommended = pick(out, 0, NULL);
			out->why = "cheapest (no option fits the budget)";
		}
	} else {
		out->recommended = pick(out, 1, NULL);
		out->why = "fastest";
	}
}
