/* The run-time routes (route.c), as the movers use them (push --plan through the store, copy --plan in src/transfer/copy_route.c). */
#ifndef FERRY_ROUTE_INT_H
#define FERRY_ROUTE_INT_H

#include <stdarg.h>

#include "ferry/backend.h"

/* ---- a planned route's backend and log line ---- */
struct ferry_copy_plan;
/* Opens route k's backend for url on loop with opts (the run's or the store's), the
 * route's endpoint= and bind= before them. */
int route_backend_open(const struct ferry_copy_plan *p, unsigned k, const char *url, const struct ferry_kv *opts,
		       struct ferry_loop *loop, struct ferry_backend **b, char *msg, size_t msglen);
/* One line to the plan's note callback (the log), if it has one. */
void route_note(const struct ferry_copy_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
