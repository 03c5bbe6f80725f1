/* Unit tests for the route split (against hand answers and a brute-force search) and the plan model end to end. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/plan.h"

#include "expect.h"

#define GBIT (1e9 / 8)
#define DAY 86400.0

static struct ferry_route flat(const char *name, double bw, double usd_per_gb)
{
	struct ferry_route r;
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.bandwidth = bw;
	r.usd_per_byte = usd_per_gb / 1e9;
	return r;
}

static void close_rel(double got, double want, double rel)
{
	if (fabs(got - want) > rel * fmax(fabs(want), 1))
		print_message("[%s] got %.9g, want %.9g\n", ctx, got, want);
	assert_true(fabs(got - want) <= rel * fmax(fabs(want), 1));
}

/* 10 TB over a cheap 1 Gbit link ($0.02/GB) and a dear 10 Gbit one ($0.09/GB). */
static void test_loose_and_tight(void **state)
{
	struct ferry_route r[2] = { flat("cheap", GBIT, 0.02), flat("fast", 10 * GBIT, 0.09) };
	struct ferry_alloc a;
	double w = 10e12;
	(void)state;

	/* loose: the cheap link alone takes 80,000 s (< 30 days): all bytes on it, $200 */
	CTX("loose");
	ferry_route_cheapest(r, 2, w, 30 * DAY, &a);
	EXPECT(a.feasible && a.exact);
	close_rel(a.bytes[0], w, 1e-12);
	close_rel(a.bytes[1], 0, 0);
	close_rel(a.total_usd, 200, 1e-9);
	/* tight, 10 h: the cheap link carries 125e6 x 36,000 = 4.5 TB, the dear one only the 5.5 TB left */
	CTX("tight");
	ferry_route_cheapest(r, 2, w, 36000, &a);
	EXPECT(a.feasible);
	close_rel(a.bytes[0], 4.5e12, 1e-9);
	close_rel(a.bytes[1], 5.5e12, 1e-9);
	close_rel(a.total_usd, 4.5e3 * 0.02 + 5.5e3 * 0.09, 1e-9);
	EXPECT(a.total_seconds <= 36000 * (1 + 1e-9));
	/* impossible, 1 h: both together need 10e12 / 1.375e9 = 7,273 s; says so with that time */
	CTX("impossible");
	ferry_route_cheapest(r, 2, w, 3600, &a);
	EXPECT(!a.feasible);
	close_rel(a.total_seconds, w / (11 * GBIT), 1e-6);
	close_rel(ferry_route_min_time(r, 2, w), w / (11 * GBIT), 1e-9);
	/* nothing to move: nothing to pay, at once */
	ferry_route_cheapest(r, 2, 0, 1, &a);
	EXPECT(a.feasible && a.total_usd == 0 && a.total_seconds == 0);
}

static void test_budget(void **state)
{
	struct ferry_route r[2] = { flat("cheap", GBIT, 0.02), flat("fast", 10 * GBIT, 0.09) };
	struct ferry_alloc a, b;
	double w = 10e12;
	(void)state;

	/* $400: cheap carries x = 1.25e8 T, fast the rest; 0.02x + 0.09(w-x) = 400 GB-dollars
	 * gives x = (900 - 400) / 0.07 GB = 7,142.857 GB, so T = 7.142857e12 / 1.25e8 = 57,142.9 s */
	CTX("budget 400");
	ferry_route_fastest(r, 2, w, 400, &a);
	EXPECT(a.feasible);
	EXPECT(a.total_usd <= 400 + 1e-6);
	close_rel(a.total_seconds, 7.142857142857e12 / GBIT, 1e-6);
	/* a little faster would cost more than the budget */
	ferry_route_cheapest(r, 2, w, a.total_seconds * 0.99, &b);
	EXPECT(b.total_usd > 400);
	/* too small a budget: the cheapest split, flagged */
	CTX("budget 100");
	ferry_route_fastest(r, 2, w, 100, &a);
	EXPECT(!a.feasible);
	close_rel(a.total_usd, 200, 1e-9);
	/* a budget that buys the fastest split */
	CTX("budget big");
	ferry_route_fastest(r, 2, w, 1e6, &a);
	EXPECT(a.feasible);
	close_rel(a.total_seconds, w / (11 * GBIT), 1e-6);
}

static void test_shipping(void **state)
{
	struct ferry_route r[2];

	r[0] = flat("wire", GBIT, 0.09);
	memset(&r[1], 0, sizeof(r[1]));
	struct ferry_alloc a;
	double w = 100e12;
	(void)state;

	snprintf(r[1].name, sizeof(r[1].name), "snowball");
	r[1].ship = 1;
	r[1].ship_usd = 300;
	r[1].ship_seconds = 10 * DAY;
	r[1].ship_capacity = 80e12;
	/* 30 days: two devices ($600) beat the wire ($9,000) and one device + 20 TB wire ($2,100) */
	CTX("30 days");
	ferry_route_cheapest(r, 2, w, 30 * DAY, &a);
	EXPECT(a.feasible && a.exact);
	close_rel(a.total_usd, 600, 1e-9);
	close_rel(a.bytes[1], w, 1e-9);
	/* 5 days: the devices cannot arrive; the wire alone needs 800,000 s (9.3 days): impossible */
	CTX("5 days");
	ferry_route_cheapest(r, 2, w, 5 * DAY, &a);
	EXPECT(!a.feasible);
	/* a nearly free but slow wire (0.2 Gbit: 64.8 TB in 30 days) cannot carry it all: one device
	 * (80 TB, $300) plus 20 TB wired ($20) beats two devices ($600) */
	r[0].usd_per_byte = 0.001 / 1e9;
	r[0].bandwidth = 0.2 * GBIT;
	CTX("cheap wire");
	ferry_route_cheapest(r, 2, w, 30 * DAY, &a);
	close_rel(a.total_usd, 300 + 20e3 * 0.001, 1e-9);
	close_rel(a.bytes[1], 80e12, 1e-9);
}

/* Tiered routes against a brute-force grid search: the enumeration must never be worse. */
static void test_against_brute_force(void **state)
{
	struct ferry_route r[3];
	struct ferry_alloc a;
	uint64_t seed = 12345;
	(void)state;

	for (int iter = 0; iter < 200; iter++) {
		double w, deadline, best = INFINITY;
		const int grid = 60;

		for (int i = 0; i < 3; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			memset(&r[i], 0, sizeof(r[i]));
			r[i].bandwidth = (double)(1 + (seed >> 60)) * 1e8;
			if ((seed >> 20) & 1) {
				/* a falling tier schedule with a free first tier */
				r[i].tiered = 1;
				r[i].tiers.n = 3;
				r[i].tiers.unit_bytes = 1e9;
				double b1 = (double)(1 + ((seed >> 30) & 63)) * 100, b2 = b1 * 3;
				r[i].tiers.t[0].from = 0, r[i].tiers.t[0].to = b1 / 4, r[i].tiers.t[0].usd = 0;
				r[i].tiers.t[1].from = b1 / 4, r[i].tiers.t[1].to = b2, r[i].tiers.t[1].usd = 0.09;
				r[i].tiers.t[2].from = b2, r[i].tiers.t[2].to = -1, r[i].tiers.t[2].usd = 0.03;
			} else {
				r[i].usd_per_byte = (double)((seed >> 40) & 15) / 100 / 1e9;
			}
		}
		w = (double)(1 + (seed % 1000)) * 1e10;
		deadline = w / (r[0].bandwidth + r[1].bandwidth + r[2].bandwidth) * (1 + (double)((seed >> 8) & 7) / 3);
		ferry_route_cheapest(r, 3, w, deadline, &a);
		CTX("iteration %d", iter);
		EXPECT(a.feasible);
		close_rel(a.bytes[0] + a.bytes[1] + a.bytes[2], w, 1e-9);
		for (int i = 0; i < 3; i++)
			EXPECT(a.bytes[i] <= r[i].bandwidth * deadline * (1 + 1e-9) + 1);
		for (int i = 0; i <= grid; i++)
			for (int j = 0; i + j <= grid; j++) {
				double x0 = w * i / grid, x1 = w * j / grid, x2 = w - x0 - x1;
				if (x0 > r[0].bandwidth * deadline || x1 > r[1].bandwidth * deadline ||
				    x2 > r[2].bandwidth * deadline)
					continue;
				best = fmin(best, ferry_route_cost(&r[0], x0) + ferry_route_cost(&r[1], x1) +
							  ferry_route_cost(&r[2], x2));
			}
		if (a.total_usd > best + 1e-6)
			print_message("[%s] enumeration $%.6f, grid $%.6f\n", ctx, a.total_usd, best);
		EXPECT(a.total_usd <= best + 1e-6);
	}
}

/* ---- the model on real trees ---- */

static char tmpl[64];

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void plan_tree(const char *dir, double bandwidth, double deadline, struct ferry_plan_scan *s,
		      struct ferry_plan_sample *sm, struct ferry_plan_result *res)
{
	struct ferry_plan_input in;
	struct ferry_plan_sample_opts o = { 0, 10, 0 };
	char msg[512];

	ferry_plan_scan_init(s, 7);
	assert_int_equal(ferry_plan_scan_dir(s, dir, msg, sizeof(msg)), FERRY_OK);
	assert_int_equal(ferry_plan_sample_run(s, &o, sm, msg, sizeof(msg)), FERRY_OK);
	memset(&in, 0, sizeof(in));
	in.scan = s;
	in.sample = sm;
	in.read_rate = 700e6;
	in.write_rate = 900e6;
	in.src_cores = in.dst_cores = 2;
	in.rtt = 0.02;
	in.request_latency = 0.03;
	in.connections = 16;
	in.routes[0] = flat("link", bandwidth, 0);
	in.nroutes = 1;
	in.put_usd_1k = 0.005;
	in.list_usd_1k = in.get_usd_1k = in.src_list_usd_1k = NAN;
	in.months = 1;
	in.deadline = deadline;
	in.budget = NAN;
	ferry_plan_compute(&in, res);
}

static void test_incompressible(void **state)
{
	struct ferry_plan_scan s;
	struct ferry_plan_sample sm;
	struct ferry_plan_result res;
	size_t len = 6u << 20;
	uint8_t *buf = malloc(len);
	uint64_t x = 88172645463325252ull;
	(void)state;

	snprintf(tmpl, sizeof(tmpl), "/tmp/ferry-plan-test.XXXXXX");
	assert_non_null(mkdtemp(tmpl));
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)(x >> 32);
	}
	write_file(tmpl, "a.bin", buf, len);
	write_file(tmpl, "b.jpg", buf + 100, len / 2);
	for (int bw = 0; bw < 2; bw++) {
		/* a slow link and a very fast one: none or level 1 either way */
		plan_tree(tmpl, bw ? 100 * GBIT : 0.1 * GBIT, NAN, &s, &sm, &res);
		CTX("incompressible, %s link", bw ? "fast" : "slow");
		EXPECT(sm.measured);
		EXPECT(res.nopt == FERRY_PLAN_NLEVELS);
		/* stored raw when it does not shrink: every level's wire bytes are the raw bytes */
		for (unsigned i = 0; i < res.nopt; i++)
			close_rel(res.opt[i].wire_bytes, s.bytes, 1e-3);
		int lvl = res.opt[res.recommended].level;
		if (lvl > 1)
			print_message("[%s] recommended zstd %d\n", ctx, lvl);
		EXPECT(lvl <= 1);
		ferry_plan_scan_free(&s);
	}
	/* the same data made compressible: level 3 must shrink it a lot, and a slow link wants compression */
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)("the quick brown fox jumps over the lazy dog "[i % 44] + (i % 4096 == 0));
	write_file(tmpl, "a.bin", buf, len);
	write_file(tmpl, "b.jpg", buf, len / 2);
	plan_tree(tmpl, 0.1 * GBIT, NAN, &s, &sm, &res);
	CTX("compressible");
	EXPECT(res.opt[2].level == 3 && res.opt[2].wire_bytes < 0.1 * s.bytes);
	EXPECT(res.opt[res.recommended].level > 0);
	EXPECT(res.opt[0].bottleneck == FERRY_STAGE_WIRE);
	EXPECT(res.opt[res.recommended].seconds < res.opt[0].seconds / 10);
	ferry_plan_scan_free(&s);
	free(buf);
}

static void test_edges(void **state)
{
	struct ferry_plan_scan s;
	struct ferry_plan_sample sm;
	struct ferry_plan_result res;
	char dir[96], path[160];
	(void)state;

	/* an empty tree: zero files, zero bytes, one PUT (the manifest), nothing to wait for */
	snprintf(dir, sizeof(dir), "%s/empty", tmpl);
	assert_int_equal(mkdir(dir, 0700), 0);
	plan_tree(dir, GBIT, NAN, &s, &sm, &res);
	CTX("empty");
	EXPECT(s.files == 0 && s.bytes == 0);
	EXPECT(res.nopt == 1 && res.opt[0].level == 0);
	EXPECT(res.opt[0].wire_bytes == 0 && res.opt[0].egress_usd == 0);
	EXPECT(res.put_requests == 1);
	EXPECT(isfinite(res.opt[0].seconds) && res.opt[0].seconds < 1);
	ferry_plan_scan_free(&s);
	/* one file, 3 MiB: one object, one PUT for it and one for the manifest */
	snprintf(dir, sizeof(dir), "%s/one", tmpl);
	assert_int_equal(mkdir(dir, 0700), 0);
	char *b = calloc(1, 3u << 20);
	write_file(dir, "only.dat", b, 3u << 20);
	free(b);
	plan_tree(dir, GBIT, NAN, &s, &sm, &res);
	CTX("single file");
	EXPECT(s.files == 1 && s.bytes == 3 << 20 && s.large_files == 1);
	EXPECT(res.put_requests == 2);
	EXPECT(sm.measured && res.nopt == FERRY_PLAN_NLEVELS);
	ferry_plan_scan_free(&s);
	/* an impossible deadline: missed, with the best time on record */
	plan_tree(tmpl, 0.01 * GBIT, 0.005, &s, &sm, &res);
	CTX("impossible deadline");
	EXPECT(res.deadline_missed);
	EXPECT(res.best_seconds > 0.005 && isfinite(res.best_seconds));
	for (unsigned i = 0; i < res.nopt; i++)
		EXPECT(!res.opt[i].meets_deadline && res.opt[i].seconds >= res.best_seconds);
	ferry_plan_scan_free(&s);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpl);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loose_and_tight),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_shipping),
		cmocka_unit_test(test_against_brute_force),
		cmocka_unit_test(test_incompressible),
		cmocka_unit_test(test_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
