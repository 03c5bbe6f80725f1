/* libFuzzer target: the price-table CSV parser, tier assembly and tier arithmetic, and the planner's unit parsers. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_price_table t = { 0 };
	char msg[1024];
	int err;

	if (size > 65536)
		return 0;
	msg[0] = 0;
	err = ferry_price_parse(&t, (const char *)data, size, "fuzz.csv", msg, sizeof(msg));
	if (err != FERRY_OK) {
		/* every refusal names the file (and the line, when there is one) */
		if (err != FERRY_E_CONFIG || strncmp(msg, "fuzz.csv", 8) != 0)
			abort();
		if (t.n > FERRY_PRICE_MAX_ROWS)
			abort();
	} else {
		for (size_t i = 0; i < t.n; i++) {
			const struct ferry_price_row *r = &t.rows[i];
			struct ferry_tiers s;
			struct ferry_tier_line lines[FERRY_PRICE_MAX_TIERS + 1];
			unsigned n;
			double unpriced;

			if (!(r->usd >= 0) || !isfinite(r->usd) || !r->source[0] || strlen(r->read_on) != 10 ||
			    r->line < 1 || (r->to >= 0 && !(r->to > r->from)))
				abort();
			if (strcmp(r->item, "egress") && strcmp(r->item, "storage"))
				continue;
			if (ferry_price_tiers(&t, r->provider, r->region, r->item, strcmp(r->dest, "-") ? r->dest : NULL,
					      &s, msg, sizeof(msg)) != FERRY_OK)
				continue;
			/* a bill is finite, never negative, and its lines add up to it */
			static const double sizes[] = { 0, 1, 1e9, 123456789012.0, 1e15, 1e19 };
			for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
				double usd = ferry_tiers_cost(&s, sizes[k], (int)(k & 1), lines, &n, &unpriced), sum = 0;
				if (!(usd >= 0) || !isfinite(usd) || !(unpriced >= 0) || n > FERRY_PRICE_MAX_TIERS + 1)
					abort();
				for (unsigned j = 0; j < n; j++)
					sum += lines[j].usd;
				if (fabs(sum - usd) > 1e-6 * fmax(1, usd))
					abort();
			}
		}
	}
	ferry_price_free(&t);

	/* the unit parsers on the same bytes, NUL-terminated */
	char *z = malloc(size + 1);
	double v;
	if (z) {
		memcpy(z, data, size);
		z[size] = 0;
		if (ferry_plan_parse_bytes(z, &v) == 0 && !(v >= 0 && isfinite(v)))
			abort();
		if (ferry_plan_parse_rate(z, &v) == 0 && !(v > 0 && isfinite(v)))
			abort();
		if (ferry_plan_parse_duration(z, &v) == 0 && !(v >= 0 && isfinite(v)))
			abort();
		free(z);
	}
	return 0;
}
