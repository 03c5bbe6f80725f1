/*
 * The push probe: three real pushes of generated data (shaped like the source), small,
 * big, small again, each to a store of its own under the destination, timed, then
 * removed. Big less small is push's own rate on this machine, link and server as they
 * are now; what is left of the small ones is what a push costs whatever its size
 * (process start, setup, pipeline fill, the serial requests around it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/backend.h"
#include "ferry/error.h"
#include "ferry/plan.h"
#include "cli.h"

extern char **environ;

#define MIB 1048576.0
#define MAX_FILES 20000         /* per push: a probe of tiny files stays bounded */
#define MAX_KEYS 200000         /* what cleanup collects before it deletes */
#define FIRST_MIN (1 * MIB)     /* the small push's bytes: about half a second of the link */
#define FIRST_MAX (32 * MIB)
#define EXTRA_MIN (1 * MIB)     /* the second push's bytes beyond the first */
#define EXTRA_MAX (256 * MIB)

/* A signal that would end this process while probe keys exist: noted, the push running
 * is stopped, the keys are removed, and then the signal is delivered again. */
static volatile sig_atomic_t stop_signal;
static const int probe_sigs[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction old_sa[3];

static void note_signal(int sig)
{
	stop_signal = sig;
}

void cli_probe_signals_begin(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = note_signal;
	sigemptyset(&sa.sa_mask);
	stop_signal = 0;
	for (int i = 0; i < 3; i++)
		sigaction(probe_sigs[i], &sa, &old_sa[i]);
}

int cli_probe_interrupted(void)
{
	return stop_signal;
}

void cli_probe_signals_end(void)
{
	for (int i = 0; i < 3; i++)
		sigaction(probe_sigs[i], &old_sa[i], NULL);
	if (stop_signal)
		raise(stop_signal); /* the probe's keys are gone: now what the signal meant */
}

static double clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* ---- the generated tree: incompressible and unique, so neither codec nor dedup helps */

static int write_file(const char *path, size_t size, uint64_t *rng, uint64_t *buf, size_t bufwords)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	while (size) {
		size_t n = size < bufwords * 8 ? size : bufwords * 8;
		for (size_t i = 0; i < (n + 7) / 8; i++) { /* xorshift64* */
			uint64_t x = *rng;
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			*rng = x;
			buf[i] = x * 0x2545F4914F6CDD1DULL;
		}
		for (size_t off = 0; off < n;) {
			ssize_t w = write(fd, (const uint8_t *)buf + off, n - off);
			if (w < 0) {
				int e = errno == EINTR ? 0 : -errno;
				if (e) {
					close(fd);
					return e;
				}
				continue;
			}
			off += (size_t)w;
		}
		size -= n;
	}
	return close(fd) ? -errno : 0;
}

/* bytes as the source has them: a small_fraction in files of small_size (push packs
 * them), the rest in files of large_size (at most half the large bytes, so a short
 * probe still has two large files to overlap). */
static int make_tree(const char *dir, double bytes, const struct ferry_push_probe_opts *o, uint64_t seed,
		     unsigned *files)
{
	double small = bytes * clampd(o->small_fraction, 0, 1), large = bytes - small;
	double ssize = clampd(o->small_size, 4096, MIB - 1), lsize = o->large_size > 0 ? o->large_size : 8 * MIB;
	uint64_t ns = small > 0 ? (uint64_t)ceil(small / ssize) : 0, nl;
	const size_t words = (1u << 20) / 8;
	uint64_t *buf = malloc(words * 8), rng = seed | 1;
	char path[4400];
	int e = 0;

	if (!buf)
		return -ENOMEM;
	if (ns > MAX_FILES / 2)
		ns = MAX_FILES / 2, ssize = small / (double)ns;
	lsize = clampd(lsize, MIB, fmax(MIB, large / 2));
	nl = large >= 1 ? (uint64_t)ceil(large / lsize) : 0;
	if (nl > MAX_FILES / 2)
		nl = MAX_FILES / 2;
	*files = 0;
	if (mkdir(dir, 0700) < 0)
		e = -errno;
	for (uint64_t i = 0; !e && i < ns; i++) {
		double left = small - (double)i * ssize;
		snprintf(path, sizeof(path), "%s/s%06llu", dir, (unsigned long long)i);
		e = write_file(path, (size_t)fmax(1, fmin(ssize, left)), &rng, buf, words);
		++*files;
	}
	for (uint64_t i = 0; !e && i < nl; i++) {
		double each = large / (double)nl;
		snprintf(path, sizeof(path), "%s/l%06llu", dir, (unsigned long long)i);
		e = write_file(path, (size_t)fmax(1, each), &rng, buf, words);
		++*files;
	}
	free(buf);
	return e;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- one ferry command, time-boxed; its output goes to a file, never to ours */

static int run(const struct ferry_push_probe_opts *o, const char *tmp, char *const argv[], double deadline,
	       double *secs, char *msg, size_t msglen)
{
	posix_spawn_file_actions_t fa;
	char log[4200], state[4200 + 16], line[512] = "";
	char **envp, **args;
	size_t ne = 0, na = 0, nx = 0;
	pid_t pid;
	int e, status = 0;
	double t0;

	snprintf(log, sizeof(log), "%s/log", tmp);
	/* push's journal: ours to remove. The child's own environment, ours with this one
	 * variable changed: setting it here would race every other thread reading ours. */
	snprintf(state, sizeof(state), "FERRY_STATE_DIR=%s/state", tmp);
	while (environ[ne])
		ne++;
	while (argv[na])
		na++;
	while (o->args && o->args[nx])
		nx++;
	envp = calloc(ne + 2, sizeof(*envp));
	args = calloc(na + nx + 1, sizeof(*args));
	if (!envp || !args) {
		free(envp);
		free(args);
		snprintf(msg, msglen, "starting ferry %s: out of memory", argv[1]);
		return FERRY_E_NOMEM;
	}
	ne = 0;
	for (char **v = environ; *v; v++)
		if (strncmp(*v, "FERRY_STATE_DIR=", 16) != 0)
			envp[ne++] = *v;
	envp[ne] = state;
	memcpy(args, argv, na * sizeof(*args));
	if (nx) /* the caller's --config, --endpoint, …: the child runs as we were asked to */
		memcpy(args + na, o->args, nx * sizeof(*args));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	t0 = ferry_mono();
	e = posix_spawn(&pid, o->exe, &fa, NULL, args, envp);
	free(envp);
	free(args);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		snprintf(msg, msglen, "%s: %s", o->exe, strerror(e));
		return FERRY_E_IO;
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(msg, msglen, "waiting for ferry %s: %s", argv[1], strerror(errno));
			return FERRY_E_IO;
		}
		if (ferry_mono() > deadline || stop_signal) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			if (stop_signal)
				snprintf(msg, msglen, "interrupted (%s)", strsignal(stop_signal));
			else
				snprintf(msg, msglen, "ferry %s did not finish within the probe's time box (%g s)",
					 argv[1], o->time_box);
			return FERRY_E_IO;
		}
		nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
	}
	*secs = ferry_mono() - t0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return FERRY_OK;
	/* ferry's own last line says why (ferry never prints credentials) */
	FILE *f = fopen(log, "r");
	if (f) {
		char l[512];
		while (fgets(l, sizeof(l), f))
			if (l[0] != '\n')
				snprintf(line, sizeof(line), "%s", l);
		fclose(f);
		line[strcspn(line, "\n")] = 0;
	}
	if (WIFEXITED(status))
		snprintf(msg, msglen, "ferry %s exited %d%s%s", argv[1], WEXITSTATUS(status), line[0] ? ": " : "", line);
	else
		snprintf(msg, msglen, "ferry %s was killed by signal %d", argv[1], WTERMSIG(status));
	return FERRY_E_IO;
}

/* ---- cleanup: everything under LOCATION/TAG, the snapshots first so that a cleanup cut
 * short never leaves a store that looks complete, then the configs, then the rest,
 * then any multipart upload a killed push left open */

struct keys {
	char **k;
	size_t n, cap;
	int full;
};

static int collect(void *arg, const char *key, uint64_t size)
{
	struct keys *ks = arg;
	(void)size;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 256;
		char **k;
		if (cap > MAX_KEYS || !(k = realloc(ks->k, cap * sizeof(*k)))) {
			ks->full = 1;
			return -1;
		}
		ks->k = k;
		ks->cap = cap;
	}
	if (!(ks->k[ks->n] = strdup(key)))
		return -1;
	ks->n++;
	return 0;
}

struct aborts {
	struct ferry_backend *b;
	unsigned n;
};

static int abort_upload(void *arg, const char *key, const char *upload_id)
{
	struct aborts *a = arg;
	(void)a->b->ops->uabort(a->b, key, upload_id);
	a->n++;
	return 0;
}

static int rank(const char *key)
{
	const char *slash = strchr(key, '/'), *rest = slash ? slash + 1 : key; /* past "1/" */
	if (!strncmp(rest, "snapshots/", 10))
		return 0;
	if (!strcmp(rest, "config"))
		return 1;
	return 2;
}

#define CLEAN_PASSES 10

/* killed: a push was killed mid-request; what it had sent may still land after our first
 * listing (and a listing may lag its objects), so a clean pass must be seen twice, half
 * a second apart, before the prefix counts as empty. */
static int cleanup(const struct ferry_push_probe_opts *o, const char *where, int local, int killed, char *msg,
		   size_t msglen)
{
	struct ferry_backend *b = NULL;
	struct keys ks = { 0 };
	char m[1024];
	int err = FERRY_OK, res, clean = 0;

	if (ferry_backend_open(&b, where, o->backend_opts, NULL, m, sizeof(m)) != FERRY_OK) {
		snprintf(msg, msglen, "removing the probe's stores: %.600s", m);
		if (local)
			rm_tree(where);
		return FERRY_E_IO;
	}
	if (killed)
		nanosleep(&(struct timespec){ 1, 0 }, NULL);
	for (int pass = 0; pass < CLEAN_PASSES && clean < (killed ? 2 : 1); pass++) {
		struct aborts ab = { b, 0 };
		if (pass && killed)
			nanosleep(&(struct timespec){ 0, 500000000 }, NULL);
		ks.n = 0;
		ks.full = 0;
		res = b->ops->list(b, "", collect, &ks);
		if (res && !ks.full) {
			const char *why = ferry_backend_errmsg(b, res, m, sizeof(m));
			snprintf(msg, msglen, "removing the probe's stores under %.300s: %s", where,
				 why ? why : ferry_strerror(ferry_backend_err(res)));
			err = FERRY_E_IO;
		}
		for (int r = 0; r < 3; r++)
			for (size_t i = 0; i < ks.n; i++)
				if (rank(ks.k[i]) == r && b->ops->del(b, ks.k[i]) && !err && !local) {
					snprintf(msg, msglen, "removing %.300s/%.300s failed", where, ks.k[i]);
					err = FERRY_E_IO;
				}
		for (size_t i = 0; i < ks.n; i++)
			free(ks.k[i]);
		if (b->ops->uploads)
			(void)b->ops->uploads(b, "", abort_upload, &ab);
		if (err)
			break;
		clean = ks.n == 0 && !ks.full && ab.n == 0 ? clean + 1 : 0;
	}
	if (!err && clean < (killed ? 2 : 1)) {
		snprintf(msg, msglen, "removing the probe's stores under %.300s: keys still listed after %d passes", where,
			 CLEAN_PASSES);
		err = FERRY_E_IO;
	}
	ferry_backend_close(b);
	free(ks.k);
	if (local)
		rm_tree(where); /* temporary files and the directories themselves */
	return err;
}

int cli_push_probe(const struct ferry_push_probe_opts *o, struct ferry_push_probe *out, char *msg, size_t msglen)
{
	const char *tmpdir = getenv("TMPDIR");
	char tmp[4096], src[4200], where[4200], store[4300];
	double t0 = ferry_mono(), deadline = t0 + o->time_box;
	int local = !(ferry_location_caps(o->location) & FERRY_CAP_REMOTE), err = FERRY_OK, made = 0;
	char cmsg[1024];

	memset(out, 0, sizeof(*out));
	snprintf(tmp, sizeof(tmp), "%s/ferry-probe.XXXXXX", tmpdir && tmpdir[0] == '/' ? tmpdir : "/tmp");
	if (!mkdtemp(tmp)) {
		snprintf(msg, msglen, "%s: %s", tmp, strerror(errno));
		return FERRY_E_IO;
	}
	snprintf(where, sizeof(where), "%s/%s", o->location, o->tag);
	/* small, big, small again: the small one twice, as the fixed cost rests on it */
	out->bytes[0] = out->bytes[2] = clampd(o->link_rate * 0.5, FIRST_MIN, FIRST_MAX);
	out->bytes[1] = out->bytes[0] + clampd(o->link_rate * o->seconds, EXTRA_MIN, EXTRA_MAX);
	for (int k = 0; k < 3 && !err; k++) {
		if (stop_signal) {
			snprintf(msg, msglen, "interrupted (%s)", strsignal(stop_signal));
			err = FERRY_E_IO;
			break;
		}
		snprintf(src, sizeof(src), "%s/src%d", tmp, k == 1 ? 2 : 1);
		snprintf(store, sizeof(store), "%s/%d", where, k + 1);
		if (k < 2) {
			int e = make_tree(src, out->bytes[k], o,
					  0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1) ^ (uint64_t)(t0 * 1e6), &out->files[k]);
			if (e) {
				snprintf(msg, msglen, "generating the probe's data in %s: %s", tmp, strerror(-e));
				err = FERRY_E_IO;
				break;
			}
		} else {
			out->files[2] = out->files[0]; /* the same tree into a store of its own */
		}
		char *init[] = { (char *)o->exe, "init", store, "--compress", "none", "-q", NULL };
		char *push[] = { (char *)o->exe, "push", src, store, "-q", NULL };
		double s;
		made = 1;
		if ((err = run(o, tmp, init, deadline, &s, msg, msglen)))
			break;
		if ((err = run(o, tmp, push, deadline, &out->seconds[k], msg, msglen)))
			break;
		if (k >= 1)
			rm_tree(src);
	}
	if (!err) {
		double t1 = (out->seconds[0] + out->seconds[2]) / 2, db = out->bytes[1] - out->bytes[0];
		double dt = out->seconds[1] - t1;
		if (dt > 0.05 * out->seconds[1]) {
			out->rate = db / dt;
			/* a push cannot outrun the link it goes through: a faster fit is noise in
			 * the times (a load spike in a small push); the fixed cost is then what is
			 * left of both pushes at the link's rate */
			if (o->link_rate > 0 && out->rate > o->link_rate) {
				out->rate = o->link_rate;
				out->clamped = 1;
				out->fixed = (t1 - out->bytes[0] / out->rate + out->seconds[1] - out->bytes[1] / out->rate) / 2;
			} else {
				out->fixed = t1 - out->bytes[0] / out->rate;
			}
			out->fixed = clampd(out->fixed, 0, t1);
		} else {
			/* the bigger push was no slower: fixed costs drown the rate; take it whole */
			out->rate = out->bytes[1] / out->seconds[1];
			out->fixed = 0;
			out->noisy = 1;
		}
	}
	if (made) {
		int killed = err != FERRY_OK; /* a push may have stopped mid-request */
		cmsg[0] = 0;
		if (cleanup(o, where, local, killed, cmsg, sizeof(cmsg)) && !err) {
			snprintf(msg, msglen, "%s", cmsg);
			err = FERRY_E_IO;
		}
	}
	rm_tree(tmp);
	out->total_seconds = ferry_mono() - t0;
	return err;
}
