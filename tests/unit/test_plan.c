/* Unit tests for the planner's units and price tables: parsing, refusals, and tier bills worked out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/plan.h"

#include "expect.h"

#define GiB 1073741824.0
#define TiB 1099511627776.0

static struct ferry_price_table prices;

static int load(void **state)
{
	char msg[512];
	(void)state;
	return ferry_price_load_dir(&prices, PRICING_DIR, msg, sizeof(msg)) == FERRY_OK ? 0 : -1;
}

static int unload(void **state)
{
	(void)state;
	ferry_price_free(&prices);
	return 0;
}

static void close_to(double got, double want, double tol)
{
	if (fabs(got - want) > tol)
		print_message("[%s] got %.6f, want %.6f\n", ctx, got, want);
	assert_true(fabs(got - want) <= tol);
}

static void test_units(void **state)
{
	double v;
	(void)state;

	CTX("bytes");
	assert_int_equal(ferry_plan_parse_bytes("100TiB", &v), 0);
	close_to(v, 100 * TiB, 0);
	assert_int_equal(ferry_plan_parse_bytes("80TB", &v), 0);
	close_to(v, 80e12, 0);
	assert_int_equal(ferry_plan_parse_bytes("1.5GB", &v), 0);
	close_to(v, 1.5e9, 0);
	assert_int_equal(ferry_plan_parse_bytes("4K", &v), 0);
	close_to(v, 4096, 0);
	assert_int_equal(ferry_plan_parse_bytes("0", &v), 0);
	close_to(v, 0, 0);
	const char *bad_bytes[] = { "", "-1", "1e3", "abc", "5X", "GB", "1..2G", "inf", "nan", " 5", NULL };
	for (int i = 0; bad_bytes[i]; i++) {
		CTX("bytes '%s'", bad_bytes[i]);
		EXPECT(ferry_plan_parse_bytes(bad_bytes[i], &v) != 0);
	}
	CTX("rates");
	assert_int_equal(ferry_plan_parse_rate("1Gbit", &v), 0);
	close_to(v, 125e6, 0);
	assert_int_equal(ferry_plan_parse_rate("100Mbit", &v), 0);
	close_to(v, 12.5e6, 0);
	assert_int_equal(ferry_plan_parse_rate("125MB/s", &v), 0);
	close_to(v, 125e6, 0);
	assert_int_equal(ferry_plan_parse_rate("100MiB/s", &v), 0);
	close_to(v, 100 * 1048576.0, 0);
	const char *bad_rates[] = { "", "0Gbit", "1G", "1Gbit/s", "fast", "1/s", "-5Mbit", NULL };
	for (int i = 0; bad_rates[i]; i++) {
		CTX("rate '%s'", bad_rates[i]);
		EXPECT(ferry_plan_parse_rate(bad_rates[i], &v) != 0);
	}
	struct {
		const char *s;
		double want;
	} durs[] = { { "3s", 3 }, { "90m", 5400 }, { "24h", 86400 }, { "2d", 172800 }, { "20ms", 0.02 },
		     { "1h30m", 5400 }, { "45", 45 }, { "1w", 604800 } };
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		CTX("duration '%s'", durs[i].s);
		assert_int_equal(ferry_plan_parse_duration(durs[i].s, &v), 0);
		close_to(v, durs[i].want, 1e-9);
	}
	const char *bad_durs[] = { "", "3x", "m", "1h 30m", "-3s", "3s5", "h1", NULL };
	for (int i = 0; bad_durs[i]; i++) {
		CTX("duration '%s'", bad_durs[i]);
		EXPECT(ferry_plan_parse_duration(bad_durs[i], &v) != 0);
	}
}

static double bill(const char *prov, const char *region, const char *dest, double bytes, int free_tier,
		   double *unpriced)
{
	struct ferry_tiers t;
	char msg[512];
	int err = ferry_price_tiers(&prices, prov, region, "egress", dest, &t, msg, sizeof(msg));

	if (err)
		print_message("%s\n", msg);
	assert_int_equal(err, FERRY_OK);
	return ferry_tiers_cost(&t, bytes, free_tier, NULL, NULL, unpriced);
}

static void test_aws_tiers(void **state)
{
	struct ferry_tiers t;
	struct ferry_tier_line lines[FERRY_PRICE_MAX_TIERS + 1];
	unsigned n;
	double unpriced;
	char msg[512];
	(void)state;

	/*
	 * 100 TiB out of AWS us-east-1 to the internet in one month. AWS bills binary
	 * GB, so 100 TiB = 102,400 GB:
	 *   first 10 TB   10,240 GB x $0.09  =   921.60
	 *   next  40 TB   40,960 GB x $0.085 = 3,481.60
	 *   next 100 TB   51,200 GB x $0.07  = 3,584.00  (102,400 - 51,200 remain)
	 *                                      --------
	 *                                      7,987.20
	 * With the free tier the first 100 GB cost nothing: 10,140 x 0.09 = 912.60,
	 * so 912.60 + 3,481.60 + 3,584.00 = 7,978.20.
	 */
	CTX("aws 100 TiB");
	close_to(bill("aws", "us-east-1", "internet", 100 * TiB, 0, &unpriced), 7987.20, 1e-6);
	close_to(unpriced, 0, 0);
	close_to(bill("aws", "us-east-1", "internet", 100 * TiB, 1, NULL), 7978.20, 1e-6);
	/* 200 TiB = 204,800 GB: 921.60 + 3,481.60 + 102,400 x 0.07 (7,168) + 51,200 x 0.05 (2,560) = 14,131.20 */
	CTX("aws 200 TiB");
	close_to(bill("aws", "us-east-1", "internet", 200 * TiB, 0, NULL), 14131.20, 1e-6);
	/* inside the first tier: 5 TiB = 5,120 GB x 0.09 = 460.80; a tier boundary exactly: 10,240 GB = 921.60 */
	CTX("aws 5 TiB");
	close_to(bill("aws", "us-east-1", "internet", 5 * TiB, 0, NULL), 460.80, 1e-6);
	close_to(bill("aws", "us-east-1", "internet", 10240 * GiB, 0, NULL), 921.60, 1e-6);
	/* less than the allowance with the free tier: nothing to pay */
	close_to(bill("aws", "us-east-1", "internet", 50 * GiB, 1, NULL), 0, 0);
	close_to(bill("aws", "us-east-1", "internet", 50 * GiB, 0, NULL), 4.50, 1e-9);
	/* zero bytes: zero dollars */
	close_to(bill("aws", "us-east-1", "internet", 0, 0, NULL), 0, 0);
	/* the lines add up to the bill and name their rows */
	assert_int_equal(ferry_price_tiers(&prices, "aws", "us-east-1", "egress", "internet", &t, msg, sizeof(msg)), 0);
	double total = ferry_tiers_cost(&t, 100 * TiB, 1, lines, &n, NULL), sum = 0;
	assert_int_equal(n, 4); /* the allowance and three tiers */
	assert_null(lines[0].row);
	for (unsigned i = 0; i < n; i++)
		sum += lines[i].usd;
	close_to(sum, total, 1e-9);
	assert_non_null(lines[1].row);
	assert_string_equal(lines[1].row->read_on, "2026-08-25");
	/* Direct Connect and inter-region are flat: 10 TiB x $0.02 = 204.80 */
	CTX("aws onprem");
	close_to(bill("aws", "us-east-1", "onprem", 10 * TiB, 0, NULL), 204.80, 1e-6);
	close_to(bill("aws", "us-east-1", "us-east-2", 10 * TiB, 0, NULL), 102.40, 1e-6);
	/* sa-east-1 has only its first tier in the table: the rest is reported, not guessed */
	CTX("aws sa-east-1");
	close_to(bill("aws", "sa-east-1", "internet", 100 * TiB, 0, &unpriced), 10240 * 0.15, 1e-6);
	close_to(unpriced, (102400.0 - 10240.0) * GiB, 1);
}

static void test_other_tiers(void **state)
{
	(void)state;
	/* GCP bills GiB: 20 TiB to North America = 1,024 x 0.12 + 9,216 x 0.11 + 10,240 x 0.08
	 * = 122.88 + 1,013.76 + 819.20 = 1,955.84 */
	CTX("gcp 20 TiB");
	close_to(bill("gcp", "us-central1", "internet", 20 * TiB, 0, NULL), 1955.84, 1e-6);
	/* ... to Europe the last tier is 0.085: 122.88 + 1,013.76 + 870.40 = 2,007.04 */
	close_to(bill("gcp", "europe-west4", "internet-eu", 20 * TiB, 0, NULL), 2007.04, 1e-6);
	/* Azure, 20,000 GB: first 100 free, 10,235 x 0.087 = 890.445, then 9,665 x 0.083 = 802.195: 1,692.64 */
	CTX("azure 20000 GB");
	close_to(bill("azure", "westeurope", "internet", 20000e9, 0, NULL), 1692.64, 1e-6);
	/* R2: no egress charge at any size; B2: $0.01 per GB: 1 TB = 10.00 */
	CTX("r2/b2");
	close_to(bill("r2", "*", "internet", 500 * TiB, 0, NULL), 0, 0);
	close_to(bill("b2", "*", "internet", 1e12, 0, NULL), 10.00, 1e-9);
	/* S3 storage per month: 60 TiB = 61,440 GB: 51,200 x 0.023 + 10,240 x 0.022 = 1,177.60 + 225.28 = 1,402.88 */
	struct ferry_tiers t;
	char msg[256];
	assert_int_equal(ferry_price_tiers(&prices, "aws", "us-east-1", "storage", NULL, &t, msg, sizeof(msg)), 0);
	close_to(ferry_tiers_cost(&t, 60 * TiB, 0, NULL, NULL, NULL), 1402.88, 1e-6);
	double usd;
	assert_int_equal(ferry_price_request(&prices, "aws", "us-east-1", "put", &usd, NULL), 0);
	close_to(usd, 0.005, 0);
	assert_int_equal(ferry_price_request(&prices, "b2", "*", "put", &usd, NULL), FERRY_E_NOTFOUND);
}

static void test_unknown(void **state)
{
	struct ferry_tiers t;
	char msg[512];
	(void)state;

	CTX("unknown region");
	EXPECT_ERR(ferry_price_tiers(&prices, "aws", "mars-1", "egress", "internet", &t, msg, sizeof(msg)),
		   FERRY_E_NOTFOUND);
	EXPECT(strstr(msg, "unknown region 'mars-1' for aws") != NULL);
	EXPECT(strstr(msg, "us-east-1") != NULL && strstr(msg, "sa-east-1") != NULL);
	CTX("unknown provider");
	EXPECT_ERR(ferry_price_tiers(&prices, "oracle", "x", "egress", "internet", &t, msg, sizeof(msg)),
		   FERRY_E_NOTFOUND);
	EXPECT(strstr(msg, "unknown provider 'oracle'") != NULL && strstr(msg, "aws") != NULL);
	CTX("unknown destination");
	EXPECT_ERR(ferry_price_tiers(&prices, "aws", "us-east-1", "egress", "moon", &t, msg, sizeof(msg)),
		   FERRY_E_NOTFOUND);
	EXPECT(strstr(msg, "moon") != NULL && strstr(msg, "onprem") != NULL);
	EXPECT(ferry_price_known(&prices, "aws", "mars-1") == 1);
	EXPECT(ferry_price_known(&prices, "aws", "us-east-1") == 2);
}

#define HDR "provider,region,item,dest,from,to,unit,usd,source,read_on\n"
#define OKROW "aws,us-east-1,egress,internet,0,10,GiB,0.09,src,2026-01-02\n"

static void test_malformed(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *why;
	} cases[] = {
		{ "provider,region\n", 1, "header" },
		{ "# only comments\n", 0, "no header" },
		{ HDR OKROW "aws,us-east-1,egress,internet,10,20,parsec,0.09,src,2026-01-02\n", 3, "unit" },
		{ HDR "aws,us-east-1,egress,internet,0,10,GiB,0.09,,2026-01-02\n", 2, "source" },
		{ HDR "aws,us-east-1,egress,internet,0,10,GiB,0.09,src,yesterday\n", 2, "read_on" },
		{ HDR "aws,us-east-1,egress,internet,0,10,GiB,0.09,src\n", 2, "fields" },
		{ HDR "aws,us-east-1,egress,internet,0,10,GiB,0.09,\"src,2026-01-02\n", 2, "quoted" },
		{ HDR "aws,us-east-1,egress,internet,10,5,GiB,0.09,src,2026-01-02\n", 2, "to" },
		{ HDR "aws,us-east-1,egress,internet,0,10,GiB,-1,src,2026-01-02\n", 2, "usd" },
		{ HDR "aws,us-east-1,egress,internet,0,10,GiB,1e3,src,2026-01-02\n", 2, "usd" },
		{ HDR "AWS,us-east-1,egress,internet,0,10,GiB,0.09,src,2026-01-02\n", 2, "provider" },
		{ HDR "aws,us-east-1,teleport,internet,0,10,GiB,0.09,src,2026-01-02\n", 2, "item" },
		{ HDR "aws,us-east-1,put,-,0,10,1k,0.09,src,2026-01-02\n", 2, "request" },
		{ HDR "aws,us-east-1,put,-,,,GiB,0.09,src,2026-01-02\n", 2, "unit" },
		{ HDR "aws,us-east-1,egress,-,0,10,GiB,0.09,src,2026-01-02\n", 2, "dest" },
		{ HDR "aws,us-east-1,free,internet,5,10,GiB,0,src,2026-01-02\n", 2, "free" },
		{ HDR "\n\n" OKROW "aws,us-east-1,egress,internet,0,10,GiB,0.09,src,2026-13-02\n", 5, "read_on" },
	};
	struct ferry_price_table t = { 0 };
	char msg[512], want[64];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CTX("case %zu", i);
		EXPECT_ERR(ferry_price_parse(&t, cases[i].text, strlen(cases[i].text), "bad.csv", msg, sizeof(msg)),
			   FERRY_E_CONFIG);
		if (cases[i].line)
			snprintf(want, sizeof(want), "bad.csv:%d: ", cases[i].line);
		else
			snprintf(want, sizeof(want), "bad.csv: ");
		if (strncmp(msg, want, strlen(want)) || !strstr(msg, cases[i].why))
			print_message("[%s] message '%s' lacks '%s' or '%s'\n", ctx, msg, want, cases[i].why);
		EXPECT(strncmp(msg, want, strlen(want)) == 0);
		EXPECT(strstr(msg, cases[i].why) != NULL);
		ferry_price_free(&t);
	}
	/* a gap between tiers is found when the schedule is assembled, and named by file and line */
	const char *gap = HDR OKROW "aws,us-east-1,egress,internet,20,,GiB,0.05,src,2026-01-02\n";
	struct ferry_tiers s;
	CTX("gap");
	EXPECT_ERR(ferry_price_parse(&t, gap, strlen(gap), "gap.csv", msg, sizeof(msg)), FERRY_OK);
	EXPECT_ERR(ferry_price_tiers(&t, "aws", "us-east-1", "egress", "internet", &s, msg, sizeof(msg)),
		   FERRY_E_CONFIG);
	EXPECT(strncmp(msg, "gap.csv:3: ", 11) == 0);
	ferry_price_free(&t);
	/* quoted fields with commas and doubled quotes are fine, and CRLF line ends */
	const char *ok = HDR "aws,us-east-1,egress,internet,0,,GiB,0.09,\"a, \"\"quoted\"\" source\",2026-01-02\r\n";
	CTX("quoted");
	EXPECT_ERR(ferry_price_parse(&t, ok, strlen(ok), "ok.csv", msg, sizeof(msg)), FERRY_OK);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.rows[0].source, "a, \"quoted\" source");
	assert_true(t.rows[0].to < 0);
	ferry_price_free(&t);
}

/* Every shipped price row has a source and a read date, and every schedule assembles. */
static void test_shipped_tables(void **state)
{
	char msg[512];
	(void)state;

	assert_true(prices.n > 40);
	for (size_t i = 0; i < prices.n; i++) {
		const struct ferry_price_row *r = &prices.rows[i];
		struct ferry_tiers t;
		CTX("%s:%d", r->file, r->line);
		EXPECT(r->source[0] != 0 && strlen(r->read_on) == 10);
		if (!strcmp(r->item, "egress") || !strcmp(r->item, "storage"))
			EXPECT_ERR(ferry_price_tiers(&prices, r->provider, r->region, r->item,
						     strcmp(r->dest, "-") ? r->dest : NULL, &t, msg, sizeof(msg)),
				   FERRY_OK);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_aws_tiers),
		cmocka_unit_test(test_other_tiers),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_shipped_tables),
	};
	return cmocka_run_group_tests(tests, load, unload);
}
