/* Internals shared by the movers (push, pull, copy, journal) and the routes that carry them. */
#ifndef FERRY_TRANSFER_INT_H
#define FERRY_TRANSFER_INT_H

#include "store_int.h"

/* copy_s3.c: one file up through b (a planned route's backend, for copy_route.c). */
struct ferry_scan_item;
struct ferry_filehash;
void store_copy_up_file(struct ferry_backend *b, struct ferry_loop *loop, int root, const struct ferry_scan_item *it,
			uint8_t *buf, struct ferry_filehash *fh, struct ferry_run *r);

/* copy where one side is an object store URL (s3://): plain objects, one per file */
int store_copy_object_store(const char *src, const char *dst, struct ferry_run *r);

/* ---- the resume journal of a push or sync (journal.c) ---- */

/* A multipart upload an interrupted run started. */
struct jupload {
	struct ferry_object_hdr hdr; /* a large file's object: made again with this id and nonce prefix */
	char key[1100];
	char upload_id[1100];
	char *path; /* the file it holds, or NULL (a pack, a manifest: only to abort) */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int used, ended;
};
struct journal;
/* Opens the journal of (store, source): takes over what an interrupted run left (the
 * entries whose objects are still in the store), aborts unfinished uploads nothing will
 * resume, and reports the backend's write events into the journal. NULL: no journal
 * (FERRY_NO_JOURNAL, or it cannot be written: a warning said so). */
struct journal *journal_open(struct ferry_store *s, const char *src, struct ferry_run *r);
/* The entry of a file the interrupted run stored completely, or NULL. */
const struct ferry_entry *journal_done(struct journal *j, const char *path);
/* An unfinished upload of the interrupted run holding the large file path, or NULL. */
struct jupload *journal_upload(struct journal *j, const char *path);
/* The same for a plain copy to an object store at url (the journal is per url and source). */
struct journal *journal_open_copy(struct ferry_backend *b, const char *url, const char *src, struct ferry_run *r);
/* Restoring: a pull of snapshot snap, or a copy down from url, into dst. E records are
 * files put in place; U records (journal_partial) temporary files part written. */
struct journal *journal_open_pull(struct ferry_store *s, const char *snap, const char *dst, struct ferry_run *r);
struct journal *journal_open_down(struct ferry_backend *b, const char *url, const char *dst, struct ferry_run *r);
/* Restoring path into the temporary file tmp beside it; tag names the content (a hash, an ETag). */
void journal_partial(struct journal *j, const char *path, const char *tmp, const char *tag, uint64_t size,
		     int64_t mtime_sec, uint32_t mtime_nsec);
/* Object key will hold file e (with header h: a store's object; NULL for a copy): recorded
 * with its upload when that starts, and for a copy, as done when the object is. */
void journal_expect(struct journal *j, const char *key, const struct ferry_object_hdr *h, const struct ferry_entry *e);
/* A file's data is in an object of this run. */
void journal_entry(struct journal *j, const struct ferry_entry *e);
/* An object is durable (for backends that send no write events). */
void journal_object(struct journal *j, const uint8_t id[FERRY_ID_LEN], uint64_t size);
void journal_flush(struct journal *j);
/* Adds the bytes of parts that were on the server already to r->bytes_resumed (and takes
 * them from r->bytes_written). complete: the run is done; the journal goes, and uploads
 * it held that were not resumed are aborted. Else it stays for the next run. */
void journal_close(struct journal *j, int complete);

#endif
