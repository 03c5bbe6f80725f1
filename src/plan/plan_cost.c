/*
 * What a push costs before its first byte moves and after its last, on this machine:
 * the planner's fixed per-run term. Measured by doing what push's setup does (a ring,
 * the buffer pool of the default memory budget registered with it, the codec workers)
 * and tearing it down again, plus how long this process took to start.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "pipeline.h"
#include "ferry/plan.h"

/* Seconds since this process was started (exec, dynamic linking, option parsing), from
 * /proc: the kernel's start time in clock ticks after boot against the uptime. */
static double since_exec(void)
{
	char buf[1024], *p;
	double up = 0, start;
	unsigned long long ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || hz <= 0)
		return 0;
	/* field 22 is starttime; p points at the end of field 2 */
	for (int field = 2; field < 21 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return 0;
	f = fopen("/proc/uptime", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lf", &up) != 1)
		up = 0;
	fclose(f);
	start = (double)ticks / (double)hz;
	return up > start ? up - start : 0;
}

double ferry_plan_setup_seconds(int local_dst)
{
	struct ferry_loop *loop = NULL;
	struct ferry_bufs bufs;
	struct ferry_workers *wk = NULL;
	struct ferry_keys keys;
	size_t chunk = FERRY_CHUNK_DEFAULT, bufsize = (ferry_frame_bound(chunk) + 4095) & ~(size_t)4095;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int jobs = ncpu > 0 ? (int)ncpu : 1;
	double t0 = ferry_mono(), start = since_exec();
	unsigned n = ferry_pipeline_pairs(DEFAULT_MEMORY, store_codec_reserve(jobs, chunk), bufsize,
					  local_dst ? 2 * (unsigned)jobs + 4 : 0);

	memset(&bufs, 0, sizeof(bufs));
	memset(&keys, 0, sizeof(keys));
	if (ferry_loop_create(&loop, NULL) == FERRY_OK) {
		if (ferry_bufs_create(&bufs, loop, n, bufsize) == FERRY_OK)
			ferry_bufs_destroy(&bufs, loop);
		ferry_loop_destroy(loop);
	}
	if (ferry_workers_create(&wk, jobs, &keys, 0, chunk, -1) == FERRY_OK)
		ferry_workers_destroy(wk);
	/* process start counts once more: the push is a process of its own */
	return ferry_mono() - t0 + (start < 2 ? start : 0);
}

double ferry_plan_hash_rate(int s3_dst)
{
	const size_t len = 4u << 20, rounds = 4;
	uint8_t *a = malloc(len), *b = malloc(len);
	struct ferry_filehash *fh = ferry_filehash_create();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl;
	volatile uint64_t sink = 0;
	double t0, secs;

	if (!a || !b || !fh) {
		free(a);
		free(b);
		ferry_filehash_destroy(fh);
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		a[i] = (uint8_t)((i * 2654435761u) >> 11);
	t0 = ferry_mono();
	for (size_t r = 0; r < rounds; r++) {
		/* what push does to every byte of a chunk besides compressing it: the file's hash,
		 * the chunk's, the frame copy, the S3 part-buffer copy and the part's digests */
		ferry_filehash_update(fh, a, len);
		sink += XXH3_64bits(a, len);
		memcpy(b, a, len);
		if (s3_dst) {
			memcpy(a, b, len);
			EVP_Digest(b, len, d, &dl, EVP_sha256(), NULL);
			EVP_Digest(b, len, d, &dl, EVP_md5(), NULL);
		}
	}
	secs = ferry_mono() - t0;
	(void)sink;
	free(a);
	free(b);
	ferry_filehash_destroy(fh);
	return secs > 0 ? (double)(len * rounds) / secs : 0;
}

void ferry_plan_run_costs(struct ferry_plan_input *in, int remote, const struct ferry_plan_probe_result *pr,
			  const struct ferry_push_probe *pp)
{
	in->hash_rate = ferry_plan_hash_rate(remote);
	/* this machine's process start and push setup, and (a remote store) the requests a
	 * push makes one after another around the transfer: timed by the probe, else modelled */
	in->fixed_seconds = ferry_plan_setup_seconds(!remote) +
			    (pr ? pr->serial_seconds
			     : remote ? FERRY_PLAN_SERIAL_REQUESTS * (in->rtt + in->request_latency) : 0);
	if (pp && pp->rate > 0) {
		/* three real pushes measured it all: their rate, and what a push takes besides its bytes */
		in->push_rate = pp->rate;
		in->fixed_seconds = pp->fixed;
	}
}
