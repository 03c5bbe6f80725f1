/*
 * The compressibility sample: a bounded, time-boxed, stratified sample of chunks,
 * compressed at each planned level on this machine, extrapolated per stratum.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "ferry/plan.h"

const int ferry_plan_levels[FERRY_PLAN_NLEVELS] = { 0, 1, 3, 6, 9, 19 };

/* Share of the elapsed sample time the slow levels may use once each stratum has one measurement. */
static const double level_share[FERRY_PLAN_NLEVELS] = { 1, 1, 1, 1, 0.25, 0.35 };

/* Standard error of a ratio assumed for a stratum with fewer than two measurements. */
#define SE_FEW 0.25
/* ... and for a stratum with none, priced at the pooled ratio. */
#define SE_NONE 0.35

static double cpu_now(void)
{
	struct timespec ts;
	/* CPU time of this thread: the machine may be busy with other work */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* AES-256-GCM throughput of one core on 16 MiB (the key is arbitrary: nothing is kept). */
static double aes_rate(void)
{
	const size_t len = 16u << 20;
	uint8_t key[32] = { 1 }, iv[12] = { 2 };
	uint8_t *buf = malloc(len);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	double t0, t, rate = 0;
	int outl;

	if (!buf || !ctx)
		goto out;
	memset(buf, 0x5a, len);
	t0 = cpu_now();
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, buf, &outl, buf, (int)len) != 1 || EVP_EncryptFinal_ex(ctx, buf, &outl) != 1)
		goto out;
	t = cpu_now() - t0;
	rate = t > 0 ? (double)len / t : 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	return rate;
}

/* Reads up to want bytes at a random 4 KiB-aligned offset of one candidate file. */
static ssize_t read_chunk(const char *path, uint64_t size, size_t want, uint64_t *rng, uint8_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint64_t off = 0;
	size_t got = 0;

	if (fd < 0)
		return -1;
	if (size > want) {
		off = next_rand(rng) % (size - want + 1);
		off &= ~(uint64_t)4095;
	}
	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

static int measure(struct ferry_plan_stratum *st, const uint8_t *buf, size_t n, uint8_t *cbuf, size_t ccap,
		   uint8_t *dbuf, ZSTD_CCtx **cc, ZSTD_DCtx *dc, double *spent, uint64_t *have, double elapsed,
		   unsigned rot)
{
	for (int k = 0; k < FERRY_PLAN_NLEVELS; k++) {
		/* level 0 first, then the others in an order that rotates from chunk to chunk, so
		 * that the cold-cache cost of the first pass over a chunk is not always one level's */
		int l = k == 0 ? 0 : 1 + (int)((unsigned)(k - 1 + rot) % (FERRY_PLAN_NLEVELS - 1));
		struct ferry_plan_meas *m = &st->m[l];
		double comp = (double)n, ct = 0, dt = 0, t0;

		/* the slow levels keep to their share of the time once measured at all */
		if (have[l] > 0 && spent[l] > level_share[l] * elapsed)
			continue;
		if (ferry_plan_levels[l] > 0) {
			t0 = cpu_now();
			size_t c = ZSTD_compressCCtx(cc[l], cbuf, ccap, buf, n, ferry_plan_levels[l]);
			ct = cpu_now() - t0;
			if (ZSTD_isError(c))
				return FERRY_E_COMPRESS;
			if (c < n) {
				/* a chunk that does not shrink is stored raw: nothing to decompress */
				t0 = cpu_now();
				size_t d = ZSTD_decompressDCtx(dc, dbuf, n, cbuf, c);
				dt = cpu_now() - t0;
				if (ZSTD_isError(d) || d != n || memcmp(dbuf, buf, n))
					return FERRY_E_COMPRESS;
				comp = (double)c;
			}
		}
		spent[l] += ct + dt;
		have[l]++;
		m->n++;
		m->raw += (double)n;
		m->comp += comp;
		m->uu += (double)n * (double)n;
		m->cc += comp * comp;
		m->uc += (double)n * comp;
		m->ctime += ct;
		m->dtime += dt;
	}
	return FERRY_OK;
}

/* A stratum's own estimate at one level: ratio, its standard error, CPU seconds per byte. */
static int own(const struct ferry_plan_stratum *st, int l, double *r, double *se, double *cpb, double *dpb)
{
	const struct ferry_plan_meas *m = &st->m[l];

	if (m->n == 0 || m->raw <= 0)
		return 0;
	*r = m->comp / m->raw;
	if (m->raw >= st->bytes) {
		*se = 0; /* the whole stratum was read */
	} else if (m->n < 2) {
		*se = SE_FEW;
	} else {
		/* variance of a ratio estimator: sum (c - r u)^2 / (n (n-1) ubar^2) */
		double ubar = m->raw / (double)m->n, ss = m->cc - 2 * *r * m->uc + *r * *r * m->uu;
		*se = sqrt(fmax(ss, 0) / ((double)m->n * (double)(m->n - 1) * ubar * ubar));
	}
	*cpb = m->ctime / m->raw;
	*dpb = m->dtime / m->raw;
	return 1;
}

/*
 * A stratum the slow levels skipped (time share used up) is estimated from its own
 * highest faster level j, scaled by how level l compares with level j pooled over the
 * strata measured at both.
 */
static int scaled(const struct ferry_plan_scan *s, const struct ferry_plan_stratum *st, int l, double *r, double *se,
		  double *cpb, double *dpb)
{
	for (int j = l - 1; j >= 1; j--) {
		double rj, sej, cj, dj, a[2][4] = { { 0 } };

		if (!own(st, j, &rj, &sej, &cj, &dj))
			continue;
		for (unsigned i = 0; i < s->nstrata; i++) {
			const struct ferry_plan_meas *ml = &s->strata[i].m[l], *mj = &s->strata[i].m[j];
			if (ml->n == 0 || mj->n == 0)
				continue;
			a[0][0] += ml->raw, a[0][1] += ml->comp, a[0][2] += ml->ctime, a[0][3] += ml->dtime;
			a[1][0] += mj->raw, a[1][1] += mj->comp, a[1][2] += mj->ctime, a[1][3] += mj->dtime;
		}
		if (a[0][0] <= 0 || a[1][0] <= 0 || a[1][1] <= 0)
			return 0;
		*r = fmin(1, rj * (a[0][1] / a[0][0]) / (a[1][1] / a[1][0]));
		*se = sej + 0.1;
		*cpb = a[1][2] > 0 ? cj * (a[0][2] / a[0][0]) / (a[1][2] / a[1][0]) : a[0][2] / a[0][0];
		*dpb = a[1][3] > 0 ? dj * (a[0][3] / a[0][0]) / (a[1][3] / a[1][0]) : a[0][3] / a[0][0];
		return 1;
	}
	return 0;
}

static void extrapolate(const struct ferry_plan_scan *s, struct ferry_plan_sample *out)
{
	for (int l = 0; l < FERRY_PLAN_NLEVELS; l++) {
		double praw = 0, pcomp = 0, pct = 0, pdt = 0, var = 0;

		for (unsigned i = 0; i < s->nstrata; i++) {
			const struct ferry_plan_meas *m = &s->strata[i].m[l];
			praw += m->raw;
			pcomp += m->comp;
			pct += m->ctime;
			pdt += m->dtime;
		}
		out->wire[l] = out->cpu_c[l] = out->cpu_d[l] = 0;
		for (unsigned i = 0; i < s->nstrata; i++) {
			const struct ferry_plan_stratum *st = &s->strata[i];
			double r = 1, se = 0, cpb = 0, dpb = 0;

			if (st->bytes <= 0)
				continue;
			if (ferry_plan_levels[l] == 0) {
				r = 1; /* no compression: the wire bytes are known */
			} else if (!own(st, l, &r, &se, &cpb, &dpb) && !scaled(s, st, l, &r, &se, &cpb, &dpb)) {
				/* never sampled: the pooled figures of the strata that were */
				r = praw > 0 ? pcomp / praw : 1;
				se = praw > 0 ? SE_NONE : 0;
				cpb = praw > 0 ? pct / praw : 0;
				dpb = praw > 0 ? pdt / praw : 0;
			}
			out->wire[l] += st->bytes * fmin(r, 1);
			out->cpu_c[l] += st->bytes * cpb;
			out->cpu_d[l] += st->bytes * dpb;
			var += st->bytes * st->bytes * se * se;
		}
		out->wire_ci[l] = fmin(1.96 * sqrt(var), s->bytes);
	}
}

int ferry_plan_sample_run(struct ferry_plan_scan *s, const struct ferry_plan_sample_opts *o,
			  struct ferry_plan_sample *out, char *msg, size_t msglen)
{
	double budget = o && o->max_bytes > 0 ? o->max_bytes : fmin(s->bytes * 0.01, 512.0 * 1048576.0);
	double limit = o && o->max_seconds > 0 ? o->max_seconds : 15;
	size_t chunk = o && o->chunk ? o->chunk : 1u << 20;
	size_t ccap = ZSTD_compressBound(chunk);
	double spent[FERRY_PLAN_NLEVELS] = { 0 }, t0 = ferry_mono(), c0 = cpu_now();
	uint64_t have[FERRY_PLAN_NLEVELS] = { 0 };
	uint8_t *buf = NULL, *cbuf = NULL, *dbuf = NULL;
	/* one context per level: switching one context between levels costs time we would measure */
	ZSTD_CCtx *cc[FERRY_PLAN_NLEVELS] = { NULL };
	ZSTD_DCtx *dc = NULL;
	unsigned *next = NULL, *order = NULL;
	int err = FERRY_OK;

	memset(out, 0, sizeof(*out));
	if (!(o && o->max_bytes > 0))
		budget = fmax(budget, fmin(s->bytes, 8.0 * 1048576.0));
	out->aes_rate = aes_rate();
	for (int l = 0; l < FERRY_PLAN_NLEVELS; l++)
		out->wire[l] = s->bytes;
	if (!s->sampleable || s->bytes <= 0 || s->nstrata == 0)
		return FERRY_OK;
	buf = malloc(chunk);
	cbuf = malloc(ccap);
	dbuf = malloc(chunk);
	for (int l = 1; l < FERRY_PLAN_NLEVELS; l++)
		if (!(cc[l] = ZSTD_createCCtx()))
			err = FERRY_E_NOMEM;
	dc = ZSTD_createDCtx();
	next = calloc(s->nstrata, sizeof(*next));
	order = calloc(s->nstrata, sizeof(*order));
	if (err || !buf || !cbuf || !dbuf || !dc || !next || !order) {
		err = FERRY_E_NOMEM;
		goto out;
	}
	/*
	 * Round-robin over the strata, each taking chunks until its share of the budget
	 * (proportional to its bytes, at least one chunk) is sampled, so that a
	 * time-boxed run still has seen every stratum once before it stops.
	 */
	/* warm up: the first compression at a level sizes the context's tables, which is not what we time */
	memset(buf, 'w', 65536);
	for (int l = 1; l < FERRY_PLAN_NLEVELS; l++)
		if (ZSTD_isError(ZSTD_compressCCtx(cc[l], cbuf, ccap, buf, 65536, ferry_plan_levels[l]))) {
			err = FERRY_E_COMPRESS;
			goto out;
		}
	/* the strata with the most bytes first: a time box then leaves out the least */
	for (unsigned i = 0; i < s->nstrata; i++)
		order[i] = i;
	for (unsigned i = 1; i < s->nstrata; i++)
		for (unsigned j = i; j > 0 && s->strata[order[j]].bytes > s->strata[order[j - 1]].bytes; j--) {
			unsigned t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int progress = 1; progress && !err;) {
		progress = 0;
		/* each slot is one chunk; a stratum's first visit takes two in a row (one chunk gives no variance) */
		for (unsigned k = 0, again = 0; k < s->nstrata && !err; k += !again) {
			unsigned i = order[k];
			again = !again && s->strata[i].m[0].n == 0;
			struct ferry_plan_stratum *st = &s->strata[i];
			double share = budget * st->bytes / s->bytes, done = st->m[0].raw;
			double elapsed = cpu_now() - c0;

			if (out->sampled_bytes >= budget || ferry_mono() - t0 > limit) {
				out->timed_out = out->sampled_bytes < budget;
				goto done;
			}
			if (st->ncand == 0 || next[i] >= 4u * FERRY_PLAN_RESERVOIR + 64 || (st->m[0].n >= 2 && done >= share) ||
			    done >= st->bytes)
				continue;
			unsigned c = next[i]++ % st->ncand;
			/* small strata take smaller chunks (but >= 64 KiB) so that the budget reaches more of them */
			size_t want = (size_t)fmin((double)chunk, fmax(65536.0, (share - done) / (2.0 - fmin(st->m[0].n, 1))));
			ssize_t n = read_chunk(st->cand[c], st->cand_size[c], want, &s->rng, buf);
			if (n <= 0) {
				s->unreadable++;
				continue;
			}
			/* small files travel in packs, many to a chunk: sample them the same way */
			for (unsigned more = 1; (size_t)n < want && more < st->ncand; more++) {
				unsigned d = next[i]++ % st->ncand;
				ssize_t m = read_chunk(st->cand[d], st->cand_size[d], want - (size_t)n, &s->rng, buf + n);
				if (m > 0)
					n += m;
			}
			err = measure(st, buf, (size_t)n, cbuf, ccap, dbuf, cc, dc, spent, have, elapsed,
				      (unsigned)out->chunks);
			out->sampled_bytes += (double)n;
			out->chunks++;
			progress = 1;
		}
	}
done:
	if (err) {
		snprintf(msg, msglen, "sample: zstd failed");
		goto out;
	}
	out->measured = out->chunks > 0;
	if (out->measured)
		extrapolate(s, out);
	for (unsigned i = 0; i < s->nstrata; i++)
		if (s->strata[i].m[1].n == 0 && s->strata[i].bytes > 0) {
			out->strata_unsampled++;
			out->unsampled_bytes += s->strata[i].bytes;
		}
out:
	out->seconds = ferry_mono() - t0;
	free(next);
	free(order);
	for (int l = 0; l < FERRY_PLAN_NLEVELS; l++)
		ZSTD_freeCCtx(cc[l]);
	ZSTD_freeDCtx(dc);
	free(buf);
	free(cbuf);
	free(dbuf);
	return err;
}
