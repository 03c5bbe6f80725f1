/*
 * S3 XML through expat: a bounded stream parser that reports each leaf element as
 * (path, text), so every document we read is a handful of path matches. Sizes are
 * capped (whole reply, each text, nesting) so a hostile listing cannot make us grow
 * without limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3_xml.h"

#define PATH_MAX_LEN 256
#define TEXT_MAX 4096
#define DEPTH_MAX 16

typedef int (*leaf_fn)(void *arg, const char *path, const char *text, size_t len);
typedef int (*open_fn)(void *arg, const char *path);

struct walk {
	XML_Parser xp;
	char path[PATH_MAX_LEN];
	size_t plen[DEPTH_MAX + 1];
	int depth;
	char text[TEXT_MAX + 1];
	size_t tlen;
	int failed;
	leaf_fn leaf;
	open_fn open;
	void *arg;
};

/* Element names without any namespace prefix expat may add. */
static const char *local(const char *name)
{
	const char *sep = strrchr(name, '|');
	return sep ? sep + 1 : name;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct walk *w = ud;
	const char *n = local(name);
	size_t nl = strlen(n), cur = w->depth ? w->plen[w->depth] : 0;

	(void)attrs;
	if (w->failed)
		return;
	if (w->depth >= DEPTH_MAX || cur + nl + 2 >= PATH_MAX_LEN) {
		w->failed = 1;
		XML_StopParser(w->xp, XML_FALSE);
		return;
	}
	if (w->depth)
		w->path[cur++] = '/';
	memcpy(w->path + cur, n, nl + 1);
	w->depth++;
	w->plen[w->depth] = cur + nl;
	w->tlen = 0;
	if (w->open && w->open(w->arg, w->path)) {
		w->failed = 1;
		XML_StopParser(w->xp, XML_FALSE);
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct walk *w = ud;

	(void)name;
	if (w->failed)
		return;
	w->text[w->tlen] = 0;
	if (w->leaf(w->arg, w->path, w->text, w->tlen)) {
		w->failed = 1;
		XML_StopParser(w->xp, XML_FALSE);
		return;
	}
	w->tlen = 0;
	w->depth--;
	w->path[w->depth ? w->plen[w->depth] : 0] = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct walk *w = ud;

	if (w->failed)
		return;
	if (w->tlen + (size_t)len > TEXT_MAX) {
		w->failed = 1;
		XML_StopParser(w->xp, XML_FALSE);
		return;
	}
	memcpy(w->text + w->tlen, s, (size_t)len);
	w->tlen += (size_t)len;
}

static int walk_xml(const char *xml, size_t len, leaf_fn leaf, open_fn open, void *arg)
{
	struct walk *w;
	int ok;

	if (len > S3_XML_MAX)
		return -1;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->leaf = leaf;
	w->open = open;
	w->arg = arg;
	w->xp = XML_ParserCreate("UTF-8");
	if (!w->xp) {
		free(w);
		return -1;
	}
	XML_SetUserData(w->xp, w);
	XML_SetElementHandler(w->xp, on_start, on_end);
	XML_SetCharacterDataHandler(w->xp, on_text);
	/* S3 replies never need a DTD; refuse to read one */
	XML_SetParamEntityParsing(w->xp, XML_PARAM_ENTITY_PARSING_NEVER);
	ok = XML_Parse(w->xp, xml, (int)len, XML_TRUE) == XML_STATUS_OK && !w->failed;
	XML_ParserFree(w->xp);
	free(w);
	return ok ? 0 : -1;
}

static int copy_text(char *dst, size_t cap, const char *text, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, text, len);
	dst[len] = 0;
	return 0;
}

static int parse_u64(const char *t, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*t || *t == '-')
		return -1;
	v = strtoull(t, &end, 10);
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/* ---- Error ---- */

struct err_state {
	struct s3_error *e;
	int seen;
};

static int err_leaf(void *arg, const char *path, const char *text, size_t len)
{
	struct err_state *st = arg;

	if (!strcmp(path, "Error"))
		st->seen = 1;
	else if (!strcmp(path, "Error/Code"))
		copy_text(st->e->code, sizeof(st->e->code), text, len);
	else if (!strcmp(path, "Error/Message"))
		copy_text(st->e->message, sizeof(st->e->message), text, len);
	return 0;
}

int s3_xml_error(const char *xml, size_t len, struct s3_error *out)
{
	struct err_state st = { out, 0 };

	memset(out, 0, sizeof(*out));
	if (walk_xml(xml, len, err_leaf, NULL, &st) || !st.seen || !out->code[0])
		return -1;
	return 0;
}

/* ---- ListObjectsV2 ---- */

struct list_state {
	struct s3_listing *l;
	size_t cap;
	int root;
	int in_contents;
	char *key;
	uint64_t size;
	int have_size;
};

static int list_open(void *arg, const char *path)
{
	struct list_state *st = arg;

	if (!strcmp(path, "ListBucketResult"))
		st->root = 1;
	if (!strcmp(path, "ListBucketResult/Contents")) {
		st->in_contents = 1;
		free(st->key);
		st->key = NULL;
		st->have_size = 0;
	}
	return 0;
}

static int list_leaf(void *arg, const char *path, const char *text, size_t len)
{
	struct list_state *st = arg;
	struct s3_listing *l = st->l;

	if (!strcmp(path, "ListBucketResult/Contents/Key")) {
		if (len == 0 || len > S3_KEY_MAX || memchr(text, 0, len))
			return -1;
		free(st->key);
		st->key = strndup(text, len);
		return st->key ? 0 : -1;
	}
	if (!strcmp(path, "ListBucketResult/Contents/Size")) {
		st->have_size = 1;
		return parse_u64(text, &st->size);
	}
	if (!strcmp(path, "ListBucketResult/Contents")) {
		if (!st->key || !st->have_size)
			return -1;
		if (l->n == st->cap) {
			size_t nc = st->cap ? st->cap * 2 : 64;
			struct s3_object *no = realloc(l->objects, nc * sizeof(*no));
			if (!no)
				return -1;
			l->objects = no;
			st->cap = nc;
		}
		l->objects[l->n].key = st->key;
		l->objects[l->n].size = st->size;
		l->n++;
		st->key = NULL;
		st->in_contents = 0;
		return 0;
	}
	if (!strcmp(path, "ListBucketResult/IsTruncated")) {
		l->truncated = len == 4 && !memcmp(text, "true", 4);
		return 0;
	}
	if (!strcmp(path, "ListBucketResult/NextContinuationToken")) {
		if (len == 0 || len > 4096)
			return -1;
		free(l->next_token);
		l->next_token = strndup(text, len);
		return l->next_token ? 0 : -1;
	}
	return 0;
}

int s3_xml_listing(const char *xml, size_t len, struct s3_listing *out)
{
	struct list_state st = { .l = out };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = walk_xml(xml, len, list_leaf, list_open, &st);
	free(st.key);
	/* a truncated page must say where the next one starts */
	if (!ret && (!st.root || (out->truncated && !out->next_token)))
		ret = -1;
	if (ret)
		s3_listing_free(out);
	return ret;
}

void s3_listing_free(struct s3_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->objects[i].key);
	free(l->objects);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

/* ---- InitiateMultipartUploadResult ---- */

struct id_state {
	char *id;
	size_t cap;
	int seen;
};

static int id_leaf(void *arg, const char *path, const char *text, size_t len)
{
	struct id_state *st = arg;

	if (!strcmp(path, "InitiateMultipartUploadResult/UploadId")) {
		if (len == 0 || len >= st->cap)
			return -1;
		copy_text(st->id, st->cap, text, len);
		st->seen = 1;
	}
	return 0;
}

int s3_xml_upload_id(const char *xml, size_t len, char *id, size_t cap)
{
	struct id_state st = { id, cap, 0 };

	if (cap == 0)
		return -1;
	id[0] = 0;
	return walk_xml(xml, len, id_leaf, NULL, &st) || !st.seen ? -1 : 0;
}

/* ---- ListPartsResult ---- */

struct parts_state {
	struct s3_parts *p;
	size_t cap;
	struct s3_part cur;
	int root;
};

static int parts_open(void *arg, const char *path)
{
	struct parts_state *st = arg;

	if (!strcmp(path, "ListPartsResult"))
		st->root = 1;
	if (!strcmp(path, "ListPartsResult/Part"))
		memset(&st->cur, 0, sizeof(st->cur));
	return 0;
}

static int parts_leaf(void *arg, const char *path, const char *text, size_t len)
{
	struct parts_state *st = arg;
	uint64_t v;

	if (!strcmp(path, "ListPartsResult/Part/PartNumber")) {
		if (parse_u64(text, &v) || v < 1 || v > 10000)
			return -1;
		st->cur.number = (int)v;
	} else if (!strcmp(path, "ListPartsResult/Part/Size")) {
		return parse_u64(text, &st->cur.size);
	} else if (!strcmp(path, "ListPartsResult/Part/ETag")) {
		if (len == 0 || len >= sizeof(st->cur.etag))
			return -1;
		copy_text(st->cur.etag, sizeof(st->cur.etag), text, len);
	} else if (!strcmp(path, "ListPartsResult/Part")) {
		if (!st->cur.number || !st->cur.etag[0] || st->p->n >= 10000)
			return -1;
		if (st->p->n == st->cap) {
			size_t nc = st->cap ? st->cap * 2 : 64;
			struct s3_part *np = realloc(st->p->parts, nc * sizeof(*np));
			if (!np)
				return -1;
			st->p->parts = np;
			st->cap = nc;
		}
		st->p->parts[st->p->n++] = st->cur;
	} else if (!strcmp(path, "ListPartsResult/IsTruncated")) {
		st->p->truncated = len == 4 && !memcmp(text, "true", 4);
	} else if (!strcmp(path, "ListPartsResult/NextPartNumberMarker")) {
		if (parse_u64(text, &v) || v > 10000)
			return -1;
		st->p->next_marker = (int)v;
	}
	return 0;
}

int s3_xml_parts(const char *xml, size_t len, struct s3_parts *out)
{
	struct parts_state st = { .p = out };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = walk_xml(xml, len, parts_leaf, parts_open, &st);
	if (!ret && !st.root)
		ret = -1;
	if (ret)
		s3_parts_free(out);
	return ret;
}

void s3_parts_free(struct s3_parts *p)
{
	free(p->parts);
	memset(p, 0, sizeof(*p));
}

/* ---- ListMultipartUploadsResult ---- */

struct uploads_state {
	struct s3_uploads *u;
	size_t cap;
	char *key, *id;
	int root;
};

static int uploads_open(void *arg, const char *path)
{
	struct uploads_state *st = arg;

	if (!strcmp(path, "ListMultipartUploadsResult"))
		st->root = 1;
	if (!strcmp(path, "ListMultipartUploadsResult/Upload")) {
		free(st->key);
		free(st->id);
		st->key = st->id = NULL;
	}
	return 0;
}

/* A marker or id: 1…S3_KEY_MAX bytes, no NUL; replaces *dst. */
static int take_str(char **dst, const char *text, size_t len)
{
	if (len == 0 || len > S3_KEY_MAX || memchr(text, 0, len))
		return -1;
	free(*dst);
	*dst = strndup(text, len);
	return *dst ? 0 : -1;
}

static int uploads_leaf(void *arg, const char *path, const char *text, size_t len)
{
	struct uploads_state *st = arg;
	struct s3_uploads *u = st->u;

	if (!strcmp(path, "ListMultipartUploadsResult/Upload/Key"))
		return take_str(&st->key, text, len);
	if (!strcmp(path, "ListMultipartUploadsResult/Upload/UploadId"))
		return take_str(&st->id, text, len);
	if (!strcmp(path, "ListMultipartUploadsResult/Upload")) {
		if (!st->key || !st->id || u->n >= 100000)
			return -1;
		if (u->n == st->cap) {
			size_t nc = st->cap ? st->cap * 2 : 32;
			struct s3_upload *nu = realloc(u->uploads, nc * sizeof(*nu));
			if (!nu)
				return -1;
			u->uploads = nu;
			st->cap = nc;
		}
		u->uploads[u->n].key = st->key;
		u->uploads[u->n].upload_id = st->id;
		u->n++;
		st->key = st->id = NULL;
		return 0;
	}
	if (!strcmp(path, "ListMultipartUploadsResult/IsTruncated")) {
		u->truncated = len == 4 && !memcmp(text, "true", 4);
		return 0;
	}
	if (!strcmp(path, "ListMultipartUploadsResult/NextKeyMarker"))
		return len ? take_str(&u->next_key, text, len) : 0;
	if (!strcmp(path, "ListMultipartUploadsResult/NextUploadIdMarker"))
		return len ? take_str(&u->next_id, text, len) : 0;
	return 0;
}

int s3_xml_uploads(const char *xml, size_t len, struct s3_uploads *out)
{
	struct uploads_state st = { .u = out };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = walk_xml(xml, len, uploads_leaf, uploads_open, &st);
	free(st.key);
	free(st.id);
	/* a truncated page must say where the next one starts */
	if (!ret && (!st.root || (out->truncated && !out->next_key)))
		ret = -1;
	if (ret)
		s3_uploads_free(out);
	return ret;
}

void s3_uploads_free(struct s3_uploads *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->uploads[i].key);
		free(u->uploads[i].upload_id);
	}
	free(u->uploads);
	free(u->next_key);
	free(u->next_id);
	memset(u, 0, sizeof(*u));
}

/* ---- DeleteResult ---- */

struct del_state {
	int errors;
	char *key, *code;
	size_t keycap, codecap;
};

static int del_leaf(void *arg, const char *path, const char *text, size_t len)
{
	struct del_state *st = arg;

	if (!strcmp(path, "DeleteResult/Error"))
		st->errors++;
	else if (!strcmp(path, "DeleteResult/Error/Key") && st->errors == 0 && st->keycap)
		copy_text(st->key, st->keycap, text, len);
	else if (!strcmp(path, "DeleteResult/Error/Code") && st->errors == 0 && st->codecap)
		copy_text(st->code, st->codecap, text, len);
	return 0;
}

int s3_xml_delete_errors(const char *xml, size_t len, char *first_key, size_t keycap, char *first_code,
			 size_t codecap)
{
	struct del_state st = { 0, first_key, first_code, keycap, codecap };

	if (keycap)
		first_key[0] = 0;
	if (codecap)
		first_code[0] = 0;
	if (walk_xml(xml, len, del_leaf, NULL, &st))
		return -1;
	return st.errors;
}

/* ---- request bodies ---- */

struct out {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 1024;
		while (nc < o->len + n + 1)
			nc *= 2;
		char *np = realloc(o->p, nc);
		if (!np) {
			o->oom = 1;
			return;
		}
		o->p = np;
		o->cap = nc;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Text with the five XML specials escaped (keys may hold any of them). */
static void put_escaped(struct out *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': puts_(o, "&amp;"); break;
		case '<': puts_(o, "&lt;"); break;
		case '>': puts_(o, "&gt;"); break;
		case '"': puts_(o, "&quot;"); break;
		case '\'': puts_(o, "&apos;"); break;
		default: put(o, s, 1);
		}
	}
}

char *s3_xml_complete_body(const struct s3_part *parts, size_t n, size_t *len)
{
	struct out o = { 0 };
	char num[16];

	puts_(&o, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < n; i++) {
		snprintf(num, sizeof(num), "%d", parts[i].number);
		puts_(&o, "<Part><PartNumber>");
		puts_(&o, num);
		puts_(&o, "</PartNumber><ETag>");
		put_escaped(&o, parts[i].etag);
		puts_(&o, "</ETag></Part>");
	}
	puts_(&o, "</CompleteMultipartUpload>");
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}

char *s3_xml_delete_body(const char *const *keys, size_t n, size_t *len)
{
	struct out o = { 0 };

	puts_(&o, "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
	for (size_t i = 0; i < n; i++) {
		puts_(&o, "<Object><Key>");
		put_escaped(&o, keys[i]);
		puts_(&o, "</Key></Object>");
	}
	puts_(&o, "</Delete>");
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
