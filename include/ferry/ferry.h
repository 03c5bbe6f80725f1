/* ferry public API: version and the pieces the CLI and plugins share. */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_VERSION_MAJOR 0
#define FERRY_VERSION_MINOR 1
#define FERRY_VERSION_PATCH 0
#define FERRY_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define FERRY_MUST_CHECK __attribute__((warn_unused_result))
#else
#define FERRY_MUST_CHECK
#endif

/* Versions of the libraries this build runs against, e.g. for `ferry --version`. */
const char *ferry_version_libs(void);

/* CLOCK_MONOTONIC in seconds: the one clock every duration, deadline and rate is measured on. */
double ferry_mono(void);

#ifdef __cplusplus
}
#endif
#endif
