/* ferry copy: a plain mirror of a tree, no ferry format, every file read back and checked. */
#ifndef FERRY_COPY_H
#define FERRY_COPY_H

#include "ferry/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mirrors the directory tree src into dst (created if missing): files, directories,
 * symlinks, modes and mtimes. Statistics and problems go through r. */
int ferry_copy(const char *src, const char *dst, struct ferry_run *r) FERRY_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
