/* The plan's report: what cmd_plan worked out, as text for a person or one JSON document. */
#include <math.h>
#include <stdio.h>

#include <json-c/json.h>

#include "plan_report.h"

struct json_object *plan_json_double(double v)
{
	return isfinite(v) ? json_object_new_double(v) : NULL;
}

static void level_name(int level, char *out, size_t len)
{
	if (level == 0)
		snprintf(out, len, "none");
	else
		snprintf(out, len, "zstd %d", level);
}

static struct json_object *option_json(const struct ferry_plan_input *in, const struct ferry_plan_option *o)
{
	struct json_object *j = json_object_new_object(), *st = json_object_new_object(), *ra = json_object_new_array();
	char name[16];

	level_name(o->level, name, sizeof(name));
	json_object_object_add(j, "codec", json_object_new_string(name));
	json_object_object_add(j, "level", json_object_new_int(o->level));
	json_object_object_add(j, "wire_bytes", json_object_new_double(o->wire_bytes));
	json_object_object_add(j, "wire_bytes_ci95", json_object_new_double(o->wire_ci));
	json_object_object_add(j, "ratio", json_object_new_double(in->scan->bytes > 0 ? o->wire_bytes / in->scan->bytes : 1));
	json_object_object_add(j, "estimated_seconds", plan_json_double(o->seconds));
	for (int s = 0; s < FERRY_NSTAGES; s++)
		json_object_object_add(st, ferry_plan_stage_names[s], plan_json_double(o->stage[s]));
	json_object_object_add(j, "stage_seconds", st);
	json_object_object_add(j, "bottleneck", json_object_new_string(ferry_plan_stage_names[o->bottleneck]));
	json_object_object_add(j, "egress_usd", json_object_new_double(o->egress_usd));
	json_object_object_add(j, "requests_usd", json_object_new_double(o->requests_usd));
	json_object_object_add(j, "storage_usd_month", json_object_new_double(o->storage_usd_month));
	json_object_object_add(j, "total_usd", json_object_new_double(o->total_usd));
	json_object_object_add(j, "meets_deadline", json_object_new_boolean(o->meets_deadline));
	json_object_object_add(j, "within_budget", json_object_new_boolean(o->within_budget));
	for (unsigned i = 0; i < o->alloc.n; i++) {
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "name", json_object_new_string(in->routes[i].name));
		json_object_object_add(r, "ship", json_object_new_boolean(in->routes[i].ship));
		json_object_object_add(r, "bytes", json_object_new_double(o->alloc.bytes[i]));
		json_object_object_add(r, "seconds", plan_json_double(o->alloc.seconds[i]));
		json_object_object_add(r, "usd", json_object_new_double(o->alloc.usd[i]));
		json_object_array_add(ra, r);
	}
	json_object_object_add(j, "routes", ra);
	json_object_object_add(j, "routes_exact", json_object_new_boolean(o->alloc.exact));
	return j;
}

static void print_human(const struct plan_report *rep)
{
	const struct ferry_plan_input *in = rep->in;
	const struct ferry_plan_result *res = rep->res;
	const struct ferry_plan_sample *sm = rep->sm;
	const struct ferry_plan_scan *s = in->scan;
	char b1[32], b2[32], t1[32];

	ferry_plan_fmt_bytes(s->bytes, b1, sizeof(b1));
	printf("plan: %s -> %s\n", rep->src, rep->dst);
	printf("  source: %llu files, %s (%.0f bytes), %llu directories, scanned in %.2f s\n",
	       (unsigned long long)s->files, b1, s->bytes, (unsigned long long)s->dirs, s->seconds);
	if (s->unreadable)
		printf("  warning: %llu entries could not be read (left out of the plan)\n",
		       (unsigned long long)s->unreadable);
	printf("  sizes:");
	for (int i = 0; i < FERRY_PLAN_HIST; i++)
		if (s->hist[i]) {
			ferry_plan_fmt_bytes(s->hist_bytes[i], b2, sizeof(b2));
			printf("  %s: %llu (%s)", ferry_plan_hist_labels[i], (unsigned long long)s->hist[i], b2);
		}
	printf("\n");
	if (sm->measured) {
		ferry_plan_fmt_bytes(sm->sampled_bytes, b2, sizeof(b2));
		printf("  sample: %s in %llu chunks (%.2f%% of the bytes) from %u strata, %.1f s%s",
		       b2, (unsigned long long)sm->chunks, s->bytes > 0 ? 100 * sm->sampled_bytes / s->bytes : 0,
		       s->nstrata - sm->strata_unsampled, sm->seconds, sm->timed_out ? " (time box reached)" : "");
		if (sm->strata_unsampled) {
			ferry_plan_fmt_bytes(sm->unsampled_bytes, b2, sizeof(b2));
			printf("; %u strata (%s) unsampled, priced at the pooled ratio", sm->strata_unsampled, b2);
		}
		printf("\n");
	} else {
		printf("  sample: none (nothing to read here): only 'none' is planned\n");
	}
	printf("  machine: %d source cores, %d destination cores, read %.0f MB/s, write %.0f MB/s, AES-GCM %.0f MB/s/core\n",
	       in->src_cores, in->dst_cores, in->read_rate / 1e6, in->write_rate / 1e6, sm->aes_rate / 1e6);
	printf("  requests: %llu PUT", (unsigned long long)res->put_requests);
	if (res->get_requests)
		printf(", %llu GET, %llu LIST at the source", (unsigned long long)res->get_requests,
		       (unsigned long long)res->list_requests);
	printf(" (rtt %.0f ms + %.0f ms per request, %d connections)\n", in->rtt * 1e3, in->request_latency * 1e3,
	       in->connections);
	printf("  once per run: %.2f s (start-up, setup, the requests around the transfer); push's own work "
	       "on every byte %.0f MB/s (hashes, copies, signing; one thread, this load)",
	       in->fixed_seconds, in->hash_rate / 1e6);
	if (in->dst_rate > 0)
		printf("; the destination takes %.1f Mbit/s (probed), slower than the link", in->dst_rate * 8 / 1e6);
	if (in->push_rate > 0)
		printf("; both measured by the push probe: a push goes at %.1f Mbit/s", in->push_rate * 8 / 1e6);
	printf("\n");
	printf("  routes:");
	for (unsigned i = 0; i < in->nroutes; i++) {
		const struct ferry_route *r = &in->routes[i];
		if (r->ship)
			printf("  %s: ship, $%.0f per device of %.0f GB, %.1f days", r->name, r->ship_usd,
			       r->ship_capacity / 1e9, r->ship_seconds / 86400);
		else
			printf("  %s: %.0f Mbit/s, %s", r->name, r->bandwidth * 8 / 1e6,
			       r->tiered ? "tiered price" : r->usd_per_byte > 0 ? "flat price" : "no egress price");
	}
	printf("\n");
	if (rep->nassumed) {
		printf("  assumed (not given):");
		for (int i = 0; i < rep->nassumed; i++)
			printf(" %s", rep->assumed[i]);
		printf("\n");
	}
	printf("\n  %-8s %11s %10s %9s %-10s %11s %11s %12s %11s\n", "codec", "wire", "+/-95%", "time", "bottleneck",
	       "egress $", "requests $", "storage $/mo", "total $");
	for (unsigned i = 0; i < res->nopt; i++) {
		const struct ferry_plan_option *o = &res->opt[i];
		char name[16];
		level_name(o->level, name, sizeof(name));
		ferry_plan_fmt_bytes(o->wire_bytes, b1, sizeof(b1));
		ferry_plan_fmt_bytes(o->wire_ci, b2, sizeof(b2));
		ferry_plan_fmt_duration(o->seconds, t1, sizeof(t1));
		printf("%c %-8s %11s %10s %9s %-10s %11.2f %11.2f %12.2f %11.2f%s\n", (int)i == res->recommended ? '*' : ' ',
		       name, b1, b2, t1, ferry_plan_stage_names[o->bottleneck], o->egress_usd, o->requests_usd,
		       o->storage_usd_month, o->total_usd,
		       !o->meets_deadline ? "  misses deadline" : !o->within_budget ? "  over budget" : "");
	}
	const struct ferry_plan_option *r = &res->opt[res->recommended];
	char name[16];
	level_name(r->level, name, sizeof(name));
	ferry_plan_fmt_duration(r->seconds, t1, sizeof(t1));
	printf("\nrecommended: %s (%s): %s, $%.2f\n", name, res->why, t1, r->total_usd);
	if (res->deadline_missed) {
		char d[32];
		ferry_plan_fmt_duration(in->deadline, d, sizeof(d));
		ferry_plan_fmt_duration(res->best_seconds, t1, sizeof(t1));
		printf("deadline %s cannot be met: the best achievable is %s\n", d, t1);
	}
	if (res->budget_missed)
		printf("budget $%.2f cannot be met: the cheapest option costs $%.2f\n", in->budget, r->total_usd);
	for (unsigned i = 0; i < r->alloc.n; i++) {
		ferry_plan_fmt_bytes(r->alloc.bytes[i], b1, sizeof(b1));
		ferry_plan_fmt_duration(r->alloc.seconds[i], t1, sizeof(t1));
		printf("  route %-12s %11s  %9s  $%.2f\n", in->routes[i].name, b1, t1, r->alloc.usd[i]);
	}
	if (!r->alloc.exact)
		printf("  (route split by price order: too many breakpoints for an exact search)\n");
	/* shipping side by side with the wire: everything by each shipping route alone */
	for (unsigned i = 0; i < in->nroutes; i++) {
		const struct ferry_route *sh = &in->routes[i];
		if (!sh->ship)
			continue;
		ferry_plan_fmt_duration(ferry_route_time(sh, r->wire_bytes), t1, sizeof(t1));
		printf("  shipping all by %s: %.0f device(s), %s, $%.2f\n", sh->name,
		       ceil(r->wire_bytes / sh->ship_capacity), t1, ferry_route_cost(sh, r->wire_bytes));
	}
}

void plan_report_text(const struct plan_report *rep)
{
	const struct ferry_plan_probe_result *pr = rep->probe;
	const struct ferry_push_probe *pp = rep->push;

	if (pr)
		printf("probe: %s: up %.1f Mbit/s sustained (%u streams of %zu KiB objects, %.1f s), down %.1f "
		       "Mbit/s, %.1f ms per request, %.1f s\n",
		       rep->dst, pr->up * 8 / 1e6, pr->streams, pr->object_bytes >> 10, pr->up_seconds,
		       pr->down * 8 / 1e6, pr->request_seconds * 1e3, pr->seconds);
	if (pp)
		printf("push probe: %.1f Mbit/s and %.2f s a run besides its bytes (pushes of %.1f, %.1f and %.1f "
		       "MiB took %.2f, %.2f and %.2f s%s)\n",
		       pp->rate * 8 / 1e6, pp->fixed, pp->bytes[0] / 1048576, pp->bytes[1] / 1048576,
		       pp->bytes[2] / 1048576, pp->seconds[0], pp->seconds[1], pp->seconds[2],
		       pp->noisy ? "; the big one no slower: fixed cost not separable"
		       : pp->clamped ? "; capped at the link's rate" : "");
	print_human(rep);
}

void plan_report_json(const struct plan_report *rep)
{
	const struct ferry_plan_input *in = rep->in;
	const struct ferry_plan_result *res = rep->res;
	const struct ferry_plan_sample *sm = rep->sm;
	const struct ferry_plan_scan *s = in->scan;
	const struct ferry_plan_option *r = &res->opt[res->recommended];
	const struct ferry_plan_probe_result *pr = rep->probe;
	const struct ferry_push_probe *pp = rep->push;
	struct json_object *o = json_object_new_object(), *ja = json_object_new_array(), *h = json_object_new_array();
	char name[16];

	level_name(r->level, name, sizeof(name));
	json_object_object_add(o, "command", json_object_new_string("plan"));
	json_object_object_add(o, "source", json_object_new_string(rep->src));
	json_object_object_add(o, "destination", json_object_new_string(rep->dst));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)s->files));
	json_object_object_add(o, "bytes", json_object_new_double(s->bytes));
	json_object_object_add(o, "unreadable", json_object_new_int64((int64_t)s->unreadable));
	for (int i = 0; i < FERRY_PLAN_HIST; i++) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "size", json_object_new_string(ferry_plan_hist_labels[i]));
		json_object_object_add(b, "files", json_object_new_int64((int64_t)s->hist[i]));
		json_object_object_add(b, "bytes", json_object_new_double(s->hist_bytes[i]));
		json_object_array_add(h, b);
	}
	json_object_object_add(o, "histogram", h);
	struct json_object *js = json_object_new_object();
	json_object_object_add(js, "measured", json_object_new_boolean(sm->measured));
	json_object_object_add(js, "bytes", json_object_new_double(sm->sampled_bytes));
	json_object_object_add(js, "chunks", json_object_new_int64((int64_t)sm->chunks));
	json_object_object_add(js, "seconds", json_object_new_double(sm->seconds));
	json_object_object_add(js, "strata", json_object_new_int((int)s->nstrata));
	json_object_object_add(js, "strata_unsampled", json_object_new_int((int)sm->strata_unsampled));
	json_object_object_add(js, "time_box_reached", json_object_new_boolean(sm->timed_out));
	json_object_object_add(o, "sample", js);
	json_object_object_add(o, "estimated_seconds", plan_json_double(r->seconds));
	json_object_object_add(o, "egress_usd", json_object_new_double(r->egress_usd));
	json_object_object_add(o, "requests_usd", json_object_new_double(r->requests_usd));
	json_object_object_add(o, "storage_usd_month", json_object_new_double(r->storage_usd_month));
	json_object_object_add(o, "total_usd", json_object_new_double(r->total_usd));
	json_object_object_add(o, "bottleneck", json_object_new_string(ferry_plan_stage_names[r->bottleneck]));
	json_object_object_add(o, "recommended", json_object_new_string(name));
	json_object_object_add(o, "why", json_object_new_string(res->why));
	json_object_object_add(o, "deadline_met", json_object_new_boolean(!res->deadline_missed));
	json_object_object_add(o, "budget_met", json_object_new_boolean(!res->budget_missed));
	json_object_object_add(o, "best_seconds", plan_json_double(res->best_seconds));
	json_object_object_add(o, "fixed_seconds", json_object_new_double(in->fixed_seconds));
	json_object_object_add(o, "hash_bytes_per_second", json_object_new_double(in->hash_rate));
	if (in->dst_rate > 0)
		json_object_object_add(o, "destination_bytes_per_second", json_object_new_double(in->dst_rate));
	json_object_object_add(o, "put_requests", json_object_new_int64((int64_t)res->put_requests));
	json_object_object_add(o, "get_requests", json_object_new_int64((int64_t)res->get_requests));
	json_object_object_add(o, "list_requests", json_object_new_int64((int64_t)res->list_requests));
	struct json_object *rec = option_json(in, r);
	struct json_object *routes = NULL;
	json_object_object_get_ex(rec, "routes", &routes);
	json_object_object_add(o, "routes", json_object_get(routes));
	json_object_put(rec);
	for (unsigned i = 0; i < res->nopt; i++)
		json_object_array_add(ja, option_json(in, &res->opt[i]));
	json_object_object_add(o, "options", ja);
	struct json_object *as = json_object_new_array();
	for (int i = 0; i < rep->nassumed; i++)
		json_object_array_add(as, json_object_new_string(rep->assumed[i]));
	json_object_object_add(o, "assumed", as);
	if (pr) {
		struct json_object *jp = json_object_new_object();
		json_object_object_add(jp, "upload_bytes_per_second", json_object_new_double(pr->up));
		json_object_object_add(jp, "download_bytes_per_second", json_object_new_double(pr->down));
		json_object_object_add(jp, "request_seconds", json_object_new_double(pr->request_seconds));
		json_object_object_add(jp, "upload_seconds", json_object_new_double(pr->up_seconds));
		json_object_object_add(jp, "serial_requests_seconds", json_object_new_double(pr->serial_seconds));
		json_object_object_add(jp, "upload_bytes", json_object_new_int64((int64_t)pr->up_bytes));
		json_object_object_add(jp, "objects", json_object_new_int((int)pr->streams));
		json_object_object_add(jp, "object_bytes", json_object_new_int64((int64_t)pr->object_bytes));
		json_object_object_add(jp, "seconds", json_object_new_double(pr->seconds));
		if (pp) {
			struct json_object *jq = json_object_new_object(), *jb = json_object_new_array(),
					   *jt = json_object_new_array(), *jf = json_object_new_array();
			for (int k = 0; k < 3; k++) {
				json_object_array_add(jb, json_object_new_int64((int64_t)pp->bytes[k]));
				json_object_array_add(jt, json_object_new_double(pp->seconds[k]));
				json_object_array_add(jf, json_object_new_int64(pp->files[k]));
			}
			json_object_object_add(jq, "bytes_per_second", json_object_new_double(pp->rate));
			json_object_object_add(jq, "fixed_seconds", json_object_new_double(pp->fixed));
			json_object_object_add(jq, "bytes", jb);
			json_object_object_add(jq, "push_seconds", jt);
			json_object_object_add(jq, "files", jf);
			json_object_object_add(jq, "noisy", json_object_new_boolean(pp->noisy));
			json_object_object_add(jq, "link_bound", json_object_new_boolean(pp->clamped));
			json_object_object_add(jq, "seconds", json_object_new_double(pp->total_seconds));
			json_object_object_add(jp, "push", jq);
		}
		json_object_object_add(o, "probe", jp);
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}
