/* The planner's view of a source: counts, a size histogram, strata by extension and size, and sample candidates. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/backend.h"
#include "ferry/manifest.h"
#include "ferry/plan.h"
#include "ferry/store.h"
#include "plan_int.h"

#define MAX_DEPTH 512
#define MAX_INVENTORY_LINE 65536

const char *const ferry_plan_hist_labels[FERRY_PLAN_HIST] = {
	"0 B", "< 4 KiB", "< 64 KiB", "< 1 MiB", "< 16 MiB", "< 256 MiB", "< 4 GiB", "< 64 GiB", ">= 64 GiB",
};

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: reproducible samples for a given seed */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

void ferry_plan_scan_init(struct ferry_plan_scan *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->small_file = 1048576.0;
	s->pack_size = 64.0 * 1048576.0;
	s->part_size = 64.0 * 1048576.0;
	s->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

void ferry_plan_scan_free(struct ferry_plan_scan *s)
{
	if (!s || !s->strata)
		return;
	for (unsigned i = 0; i < s->nstrata; i++)
		for (unsigned j = 0; j < s->strata[i].ncand; j++)
			free(s->strata[i].cand[j]);
	free(s->strata);
	s->strata = NULL;
	s->nstrata = 0;
}

static int hist_bucket(double size)
{
	static const double lim[] = { 1, 4096.0, 65536.0, 1048576.0, 16777216.0, 268435456.0, 4294967296.0,
				       68719476736.0 };
	for (int i = 0; i < 8; i++)
		if (size < lim[i])
			return i;
	return 8;
}

static int size_class(double size)
{
	return size < 65536.0 ? 0 : size < 1048576.0 ? 1 : size < 67108864.0 ? 2 : 3;
}

/* The lower-case extension of the last path component; "" when there is none or it is odd. */
static void extension(const char *name, char *ext, size_t cap)
{
	const char *base = strrchr(name, '/'), *dot;
	size_t n;

	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	ext[0] = 0;
	if (!dot || dot == base || !dot[1])
		return;
	n = strlen(dot + 1);
	if (n >= cap)
		return;
	for (size_t i = 0; i < n; i++) {
		char ch = dot[1 + i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
			ext[0] = 0;
			return;
		}
		ext[i] = ch;
	}
	ext[n] = 0;
}

static struct ferry_plan_stratum *stratum(struct ferry_plan_scan *s, const char *ext, int cls)
{
	for (unsigned i = s->nstrata; i-- > 0;)
		if (s->strata[i].size_class == cls && !strcmp(s->strata[i].ext, ext))
			return &s->strata[i];
	/* the last four slots are the overflow strata, one per size class */
	if (s->nstrata >= FERRY_PLAN_MAX_STRATA - 4 && strcmp(ext, "*"))
		return stratum(s, "*", cls);
	if (!s->strata) {
		s->strata = calloc(FERRY_PLAN_MAX_STRATA, sizeof(*s->strata));
		if (!s->strata)
			return NULL;
	}
	if (s->nstrata >= FERRY_PLAN_MAX_STRATA)
		return NULL;
	struct ferry_plan_stratum *st = &s->strata[s->nstrata++];
	memset(st, 0, sizeof(*st));
	snprintf(st->ext, sizeof(st->ext), "%s", ext);
	st->size_class = cls;
	return st;
}

int ferry_plan_scan_add(struct ferry_plan_scan *s, const char *name, double size, const char *path)
{
	char ext[sizeof(((struct ferry_plan_stratum *)0)->ext)];
	struct ferry_plan_stratum *st;
	int h;

	if (!(size >= 0) || !isfinite(size))
		return FERRY_E_INVAL;
	s->files++;
	s->bytes += size;
	h = hist_bucket(size);
	s->hist[h]++;
	s->hist_bytes[h] += size;
	if (size < s->small_file) {
		s->small_files++;
		s->small_bytes += size;
	} else {
		double parts = ceil(size / s->part_size);
		s->large_files++;
		s->large_puts += parts <= 1 ? 1 : (uint64_t)parts + 2;
	}
	extension(name, ext, sizeof(ext));
	st = stratum(s, ext, size_class(size));
	if (!st)
		return FERRY_E_NOMEM;
	st->files++;
	st->bytes += size;
	if (!path || size == 0)
		return FERRY_OK;
	/* reservoir sampling: every non-empty file of the stratum equally likely to be a candidate */
	st->seen++;
	unsigned slot = st->ncand;
	if (st->ncand == FERRY_PLAN_RESERVOIR) {
		uint64_t j = next_rand(&s->rng) % st->seen;
		if (j >= FERRY_PLAN_RESERVOIR)
			return FERRY_OK;
		slot = (unsigned)j;
	}
	char *copy = strdup(path);
	if (!copy)
		return FERRY_E_NOMEM;
	if (slot < st->ncand)
		free(st->cand[slot]);
	else
		st->ncand++;
	st->cand[slot] = copy;
	st->cand_size[slot] = (uint64_t)size;
	return FERRY_OK;
}

/* Recursive walk of dirfd; path holds the directory's path (len bytes) and is extended in place. */
static int walk(struct ferry_plan_scan *s, int dfd, char *path, size_t len, size_t cap, int depth, char *msg,
		size_t msglen)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int err = FERRY_OK;

	if (!d) {
		close(dfd);
		s->unreadable++;
		return FERRY_OK;
	}
	while (!err && (e = readdir(d))) {
		struct stat st;
		size_t n = strlen(e->d_name);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (len + 1 + n >= cap) {
			s->unreadable++;
			continue;
		}
		path[len] = '/';
		memcpy(path + len + 1, e->d_name, n + 1);
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			s->unreadable++;
		} else if (S_ISREG(st.st_mode)) {
			err = ferry_plan_scan_add(s, e->d_name, (double)st.st_size, path);
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			s->dirs++;
			if (depth >= MAX_DEPTH) {
				snprintf(msg, msglen, "%s: deeper than %d levels", path, MAX_DEPTH);
				err = FERRY_E_TOOBIG;
				if (fd >= 0)
					close(fd);
			} else if (fd < 0) {
				s->unreadable++;
			} else {
				err = walk(s, fd, path, len + 1 + n, cap, depth + 1, msg, msglen);
			}
		}
		path[len] = 0;
	}
	closedir(d);
	return err;
}

int ferry_plan_scan_dir(struct ferry_plan_scan *s, const char *root, char *msg, size_t msglen)
{
	char *path;
	struct stat st;
	double t0 = ferry_mono();
	int fd, err;

	if (!strncmp(root, "file://", 7))
		root += 7;
	if (stat(root, &st) < 0) {
		snprintf(msg, msglen, "%s: %s", root, strerror(errno));
		return errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO;
	}
	s->sampleable = 1;
	if (S_ISREG(st.st_mode)) {
		err = ferry_plan_scan_add(s, root, (double)st.st_size, root);
		s->seconds = ferry_mono() - t0;
		return err;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(msg, msglen, "%s: not a directory or a regular file", root);
		return FERRY_E_INVAL;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msglen, "%s: %s", root, strerror(errno));
		return FERRY_E_IO;
	}
	path = malloc(PATH_MAX + 1);
	if (!path) {
		close(fd);
		return FERRY_E_NOMEM;
	}
	snprintf(path, PATH_MAX, "%s", root);
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = 0;
	err = walk(s, fd, path, len, PATH_MAX, 0, msg, msglen);
	free(path);
	s->seconds = ferry_mono() - t0;
	return err;
}

int ferry_plan_scan_inventory(struct ferry_plan_scan *s, const char *path, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "r");
	char *line;
	int lineno = 0, err = FERRY_OK;
	double t0 = ferry_mono();

	if (!f) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO;
	}
	line = malloc(MAX_INVENTORY_LINE + 2);
	if (!line) {
		fclose(f);
		return FERRY_E_NOMEM;
	}
	while (!err && fgets(line, MAX_INVENTORY_LINE + 2, f)) {
		char *fld[64];
		const char *why = NULL;
		size_t n = strlen(line);
		double size;
		int nf;

		lineno++;
		if (n > MAX_INVENTORY_LINE) {
			snprintf(msg, msglen, "%s:%d: line longer than %d bytes", path, lineno, MAX_INVENTORY_LINE);
			err = FERRY_E_FORMAT;
			break;
		}
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0)
			continue;
		nf = ferry_plan_csv_split(line, fld, 64, &why);
		if (nf < 0) {
			snprintf(msg, msglen, "%s:%d: %s", path, lineno, why);
			err = FERRY_E_FORMAT;
			break;
		}
		if (nf < 3) {
			snprintf(msg, msglen, "%s:%d: expected bucket,key,size[,...], found %d field%s", path, lineno, nf,
				 nf == 1 ? "" : "s");
			err = FERRY_E_FORMAT;
			break;
		}
		if (lineno == 1 && !strcmp(fld[0], "bucket") && !strcmp(fld[1], "key"))
			continue; /* a header line */
		if (!fld[1][0] || ferry_plan_parse_number(fld[2], &size) || size != floor(size) || size > 5e12 * 1.1) {
			snprintf(msg, msglen, "%s:%d: %s", path, lineno,
				 !fld[1][0] ? "empty key" : "size: expected a whole number of bytes");
			err = FERRY_E_FORMAT;
			break;
		}
		err = ferry_plan_scan_add(s, fld[1], size, NULL);
	}
	if (!err && ferror(f)) {
		snprintf(msg, msglen, "%s: read error", path);
		err = FERRY_E_IO;
	}
	free(line);
	fclose(f);
	s->seconds = ferry_mono() - t0;
	return err;
}

int ferry_plan_scan_whatif(struct ferry_plan_scan *s, double bytes, uint64_t objects)
{
	double each;
	struct ferry_plan_stratum *st;
	int h;

	if (!(bytes >= 0) || !isfinite(bytes))
		return FERRY_E_INVAL;
	if (objects == 0)
		objects = 1;
	each = bytes / (double)objects;
	s->files += objects;
	s->bytes += bytes;
	h = hist_bucket(each);
	s->hist[h] += objects;
	s->hist_bytes[h] += bytes;
	if (each < s->small_file) {
		s->small_files += objects;
		s->small_bytes += bytes;
	} else {
		double parts = ceil(each / s->part_size);
		s->large_files += objects;
		s->large_puts += (uint64_t)((parts <= 1 ? 1 : parts + 2) * (double)objects);
	}
	st = stratum(s, "*", size_class(each));
	if (!st)
		return FERRY_E_NOMEM;
	st->files += objects;
	st->bytes += bytes;
	return FERRY_OK;
}

/* ---- sources whose bytes are not read here: a ferry store, an object-store listing ---- */

int ferry_plan_scan_snapshot(struct ferry_plan_scan *s, struct ferry_store *st, const char *snap, char *msg,
			     size_t msglen)
{
	struct ferry_snapshot_iter *it;
	const struct ferry_entry *e;
	int ret, err = ferry_snapshot_entries_open(st, snap, &it, msg, msglen);

	if (err)
		return err;
	while ((ret = ferry_snapshot_entries_next(it, &e, msg, msglen)) > 0) {
		if (e->type != FERRY_ENTRY_FILE)
			continue;
		/* the name gives the extension for the strata; no path: nothing to sample */
		if ((err = ferry_plan_scan_add(s, e->path, (double)e->size, NULL))) {
			snprintf(msg, msglen, "%s: %s", ferry_snapshot_entries_name(it), ferry_strerror(err));
			break;
		}
	}
	if (!err && ret < 0)
		err = -ret;
	ferry_snapshot_entries_close(it);
	return err;
}

struct list_sink {
	struct ferry_plan_scan *s;
	int err;
};

static int list_one(void *arg, const char *key, uint64_t size)
{
	struct list_sink *k = arg;

	k->err = ferry_plan_scan_add(k->s, key, (double)size, NULL);
	return k->err ? -1 : 0;
}

int ferry_plan_scan_list(struct ferry_plan_scan *s, const char *location, const struct ferry_kv *backend_opts,
			 char *msg, size_t msglen)
{
	struct ferry_backend *b;
	struct list_sink k = { s, 0 };
	char why[512];
	double t0 = ferry_mono();
	int res, err = ferry_backend_open(&b, location, backend_opts, NULL, msg, msglen);

	if (err)
		return err; /* the backend's message names the location */
	res = b->ops->list(b, "", list_one, &k);
	if (res && !k.err) {
		const char *m = ferry_backend_errmsg(b, res, why, sizeof(why));
		err = ferry_backend_err(res);
		snprintf(msg, msglen, "%s: listing: %s", location, m ? m : ferry_strerror(err));
	}
	ferry_backend_close(b); /* after its message was read */
	if (k.err) {
		snprintf(msg, msglen, "%s: listing: %s", location, ferry_strerror(k.err));
		return k.err;
	}
	if (res)
		return err;
	s->seconds = ferry_mono() - t0;
	return FERRY_OK;
}
