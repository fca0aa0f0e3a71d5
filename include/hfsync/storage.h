/*
 * Storage: one interface over every target (DESIGN.md §5). Paths are target-relative, '/'
 * separated, never starting with '/' and never containing "..".
 *
 * - Writes stream: storage_write_open() returns a Sink; the object becomes visible only when
 *   the sink is finished successfully (sink_finish). Freeing an unfinished write sink discards it:
 *   a failed or abandoned upload never leaves a partial object under its name.
 * - Reads stream: storage_read_open() returns a Reader from `offset`; a missing object fails with
 *   ERR_NOT_FOUND.
 * - storage_put/get are conveniences for small objects (JSON pointers, metadata).
 * - list reports every object whose path starts with `prefix`, in no particular order.
 * - delete removes objects; a missing one is not an error.
 *
 * A Storage is not thread-safe; open one per thread.
 */
#ifndef HFSYNC_STORAGE_H
#define HFSYNC_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/config.h"
#include "hfsync/error.h"
#include "hfsync/stream.h"

typedef struct Storage Storage;

typedef struct StorageInfo {
    bool exists;
    uint64_t size;
} StorageInfo;

typedef void (*StorageListFn)(const char *path, uint64_t size, void *ctx);

/* Open `target` with the settings of `cfg` (credentials, endpoints, part sizes). */
Storage *storage_open(const Config *cfg, const Target *target, Error *err);
void storage_free(Storage *st);
/* Human-readable location of `path`, for messages ("file:///r/backups/x.meta.json"). Owned. */
char *storage_describe(Storage *st, const char *path);

Sink *storage_write_open(Storage *st, const char *path, Error *err);
Reader *storage_read_open(Storage *st, const char *path, uint64_t offset, Error *err);

bool storage_put(Storage *st, const char *path, const void *data, size_t size, Error *err);
/* Read a whole object of at most `max_size` bytes; NUL-terminated; caller frees. */
bool storage_get(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                 Error *err);
/* Conditional replacement, for the pointer. storage_get_tagged() is storage_get() that also
 * returns a tag naming the version read (S3's ETag; elsewhere "sha256:<hex>" of the content;
 * NULL when the object does not exist). storage_put_if() writes only if the object still has
 * `tag` (NULL: only if it does not exist) and otherwise fails with ERR_CONFLICT. S3 uses the
 * service's If-Match / If-None-Match; where a service refuses them, and on other backends, the
 * object is read and compared just before the write (a small window remains). */
bool storage_get_tagged(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                        char **tag, Error *err);
bool storage_put_if(Storage *st, const char *path, const void *data, size_t size, const char *tag,
                    Error *err);
bool storage_info(Storage *st, const char *path, StorageInfo *info, Error *err);
bool storage_list(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err);
bool storage_delete(Storage *st, const char *const *paths, size_t count, Error *err);

/*
 * Publishing. On file://, s3:// and mem:// every write is visible when its sink finishes and these
 * calls do nothing. The Hub publishes by commits: between storage_begin() and storage_commit(),
 * writes, conditional writes and deletes are staged (large objects are uploaded, but not yet
 * part of the repo) and storage_commit() publishes them all in one commit, made over the commit
 * the conditional write's tag was read at, so another writer's backup is never overwritten
 * (ERR_CONFLICT). Outside begin/commit each write or delete is a commit of its own.
 * storage_abort() drops what is staged. Objects written inside a transaction are not visible to
 * reads until it is committed.
 */
bool storage_begin(Storage *st, Error *err);
bool storage_commit(Storage *st, const char *summary, Error *err);
void storage_abort(Storage *st);

/* Give back the space of data deleted earlier where the service keeps it (the Hub keeps deleted
 * files in the history: super-squash). `reason` is logged. True with nothing done elsewhere. */
bool storage_reclaim(Storage *st, const char *reason, Error *err);

/*
 * Uploads started and never finished: an S3 multipart upload whose writer crashed keeps its parts
 * (and their cost) until someone aborts it. storage_list_uploads() reports those whose object
 * path starts with `prefix`; where the target has no such thing (file://, mem://, the Hub) or the
 * service does not list them (ListMultipartUploads answered NotImplemented), it reports nothing
 * and sets *supported to false. storage_abort_upload() aborts one (its parts are deleted); one
 * that is already gone is not an error.
 */
typedef struct StorageUpload {
    const char *path; /* target-relative path of the object it would make */
    const char *id;   /* the service's upload id */
    int64_t started;  /* epoch seconds, -1 when the service did not say */
} StorageUpload;
typedef void (*StorageUploadFn)(const StorageUpload *upload, void *ctx);

bool storage_list_uploads(Storage *st, const char *prefix, StorageUploadFn fn, void *ctx,
                          bool *supported, Error *err);
bool storage_abort_upload(Storage *st, const char *path, const char *upload_id, Error *err);

/* In-memory backend for unit tests: objects live as long as the process, per `name`. */
Storage *storage_mem_open(const char *name);
/* Test hook: direct access to a mem object's bytes (NULL when missing). */
uint8_t *storage_mem_object(Storage *st, const char *path, size_t *size);

#endif
