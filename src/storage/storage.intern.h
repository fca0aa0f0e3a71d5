/*
 * The driver contract behind storage.h. Each backend fills a StorageDriver and embeds Storage as
 * its first member. storage.c validates paths and implements put/get on top of write/read, so a
 * driver only implements the primitives.
 */
#ifndef HFSYNC_STORAGE_INTERN_H
#define HFSYNC_STORAGE_INTERN_H

#include "hfsync/storage.h"

typedef struct StorageDriver {
    const char *scheme;
    Sink *(*write_open)(Storage *st, const char *path, Error *err);
    Reader *(*read_open)(Storage *st, const char *path, uint64_t offset, Error *err);
    bool (*info)(Storage *st, const char *path, StorageInfo *info, Error *err);
    bool (*list)(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err);
    bool (*remove)(Storage *st, const char *path, Error *err);
    /* Optional: delete many objects in batches (S3 DeleteObjects); NULL: remove() each. */
    bool (*remove_many)(Storage *st, const char *const *paths, size_t count, Error *err);
    /* Optional: conditional writes (storage_get_tagged/storage_put_if); NULL: compare, then put.
     * put_if returns false with ERR_USAGE and `unsupported` set when the service refuses
     * conditional headers, and the caller falls back. */
    bool (*get_tagged)(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                       char **tag, Error *err);
    bool (*put_if)(Storage *st, const char *path, const void *data, size_t size, const char *tag,
                   bool *unsupported, Error *err);
    /* Optional: staged publishing (storage_begin/commit/abort) and space reclaim. */
    bool (*begin)(Storage *st, Error *err);
    bool (*commit)(Storage *st, const char *summary, Error *err);
    void (*abort)(Storage *st);
    bool (*reclaim)(Storage *st, const char *reason, Error *err);
    /* Optional: unfinished uploads (storage_list_uploads/storage_abort_upload); NULL: none. */
    bool (*list_uploads)(Storage *st, const char *prefix, StorageUploadFn fn, void *ctx,
                         bool *supported, Error *err);
    bool (*abort_upload)(Storage *st, const char *path, const char *upload_id, Error *err);
    char *(*describe)(Storage *st, const char *path);
    void (*free)(Storage *st);
} StorageDriver;

struct Storage {
    const StorageDriver *driver;
};

Storage *storage_file_open(const char *root, Error *err);
Storage *storage_s3_open(const Config *cfg, const Target *target, Error *err);
Storage *storage_hf_open(const Config *cfg, const Target *target, Error *err);
/* Test hook: replace the retry policy (copied) of an S3 storage; later requests use it. Does
 * nothing to another kind of storage. */
struct HttpRetry;
void storage_s3_set_retry(Storage *st, const struct HttpRetry *policy);
void storage_hf_set_retry(Storage *st, const struct HttpRetry *policy);

#endif
