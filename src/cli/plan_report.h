/* The plan's report (plan_report.c): what cmd_plan worked out, as text or JSON. */
#ifndef FERRY_CLI_PLAN_REPORT_H
#define FERRY_CLI_PLAN_REPORT_H

#include "ferry/plan.h"

struct json_object;

struct plan_report {
	const char *src, *dst;
	const struct ferry_plan_input *in; /* its scan, deadline and budget too */
	const struct ferry_plan_result *res;
	const struct ferry_plan_sample *sm;
	const struct ferry_plan_probe_result *probe; /* NULL: no --probe */
	const struct ferry_push_probe *push;         /* NULL: no push probe measured */
	const char *const *assumed;                  /* what was not given and assumed */
	int nassumed;
};

/* Prints the report on stdout. */
void plan_report_text(const struct plan_report *rep);
void plan_report_json(const struct plan_report *rep);
/* A JSON number, or NULL (JSON null) for an infinite time or a NAN. */
struct json_object *plan_json_double(double v);

#endif
