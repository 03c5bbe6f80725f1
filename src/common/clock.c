/* The one monotonic clock: durations, deadlines, rates and progress all read it. */
#include <time.h>

#include "ferry/ferry.h"

double ferry_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
