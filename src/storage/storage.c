/* The storage front: path validation and small-object helpers over the driver primitives. */
#include <stdlib.h>
#include <string.h>

#include "hfsync/hash.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "storage.intern.h"

/* Reject anything that could escape the target root or confuse a backend. */
static bool storage_path_check(const char *path, Error *err)
{
    if (path[0] == '\0' || path[0] == '/')
        return error_set(err, ERR_FAIL, "invalid object path '%s'", path);
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return error_set(err, ERR_FAIL, "invalid object path (control character)");
    const char *seg = path;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return error_set(err, ERR_FAIL, "invalid object path '%s'", path);
        if (end == NULL)
            break;
        seg = end + 1;
    }
    return true;
}

Storage *storage_open(const Config *cfg, const Target *target, Error *err)
{
    switch (target->kind) {
    case TARGET_FILE:
        return storage_file_open(target->path, err);
    case TARGET_MEM:
        return storage_mem_open(target->path);
    case TARGET_S3:
        return storage_s3_open(cfg, target, err);
    case TARGET_HF:
        return storage_hf_open(cfg, target, err);
    default:
        error_set(err, ERR_USAGE, "no target configured");
        error_hint(err, "set HFSYNC_REPO (for example file:///data/backups) or pass --repo");
        return NULL;
    }
}

void storage_free(Storage *st)
{
    if (st != NULL)
        st->driver->free(st);
}

char *storage_describe(Storage *st, const char *path)
{
    return st->driver->describe(st, path);
}

Sink *storage_write_open(Storage *st, const char *path, Error *err)
{
    if (!storage_path_check(path, err))
        return NULL;
    return st->driver->write_open(st, path, err);
}

Reader *storage_read_open(Storage *st, const char *path, uint64_t offset, Error *err)
{
    if (!storage_path_check(path, err))
        return NULL;
    return st->driver->read_open(st, path, offset, err);
}

bool storage_put(Storage *st, const char *path, const void *data, size_t size, Error *err)
{
    Sink *w = storage_write_open(st, path, err);
    if (w == NULL)
        return false;
    bool ok = sink_write(w, data, size, err) && sink_finish(w, err);
    sink_free(w);
    return ok;
}

bool storage_get(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                 Error *err)
{
    Reader *r = storage_read_open(st, path, 0, err);
    if (r == NULL)
        return false;
    size_t cap = 4096, len = 0;
    char *buf = x_malloc(cap);
    bool ok = true;
    for (;;) {
        if (len + 1 == cap) {
            if (cap > max_size) {
                char *where = storage_describe(st, path);
                ok = error_set(err, ERR_CORRUPT, "'%s' is larger than %zu bytes", where, max_size);
                free(where);
                break;
            }
            cap *= 2;
            buf = x_realloc(buf, cap);
        }
        ssize_t n = reader_read(r, buf + len, cap - len - 1, err);
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    reader_free(r);
    if (!ok) {
        free(buf);
        return false;
    }
    buf[len] = '\0';
    *data = buf;
    if (size != NULL)
        *size = len;
    return true;
}

static char *storage_content_tag(const char *data, size_t size)
{
    char hex[HASH_HEX_SIZE];
    hash_buffer_hex(HASH_SHA256, data, size, hex);
    return str_printf("sha256:%s", hex);
}

bool storage_get_tagged(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                        char **tag, Error *err)
{
    *tag = NULL;
    if (st->driver->get_tagged != NULL) {
        if (!storage_path_check(path, err))
            return false;
        return st->driver->get_tagged(st, path, max_size, data, size, tag, err);
    }
    size_t n = 0;
    if (!storage_get(st, path, max_size, data, &n, err))
        return false;
    if (size != NULL)
        *size = n;
    *tag = storage_content_tag(*data, n);
    return true;
}

bool storage_put_if(Storage *st, const char *path, const void *data, size_t size, const char *tag,
                    Error *err)
{
    if (!storage_path_check(path, err))
        return false;
    if (st->driver->put_if != NULL) {
        bool unsupported = false;
        if (st->driver->put_if(st, path, data, size, tag, &unsupported, err))
            return true;
        if (!unsupported)
            return false;
        static bool warned;
        if (!warned)
            log_warn("%s: this service refuses conditional writes; checking '%s' before "
                     "replacing it instead",
                     err->msg, path);
        warned = true;
        error_clear(err);
    }
    char *now = NULL, *now_tag = NULL;
    Error e = {0};
    if (storage_get_tagged(st, path, 1u << 20, &now, NULL, &now_tag, &e)) {
        free(now);
    } else if (e.code != ERR_NOT_FOUND) {
        *err = e;
        return false;
    }
    bool same = (tag == NULL && now_tag == NULL) ||
                (tag != NULL && now_tag != NULL && strcmp(tag, now_tag) == 0);
    free(now_tag);
    if (!same) {
        char *where = storage_describe(st, path);
        error_set(err, ERR_CONFLICT,
                  "'%s' changed since it was read: another writer is using "
                  "this target",
                  where);
        free(where);
        return false;
    }
    return storage_put(st, path, data, size, err);
}

bool storage_info(Storage *st, const char *path, StorageInfo *info, Error *err)
{
    if (!storage_path_check(path, err))
        return false;
    return st->driver->info(st, path, info, err);
}

bool storage_list(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err)
{
    return st->driver->list(st, prefix, fn, ctx, err);
}

bool storage_delete(Storage *st, const char *const *paths, size_t count, Error *err)
{
    for (size_t i = 0; i < count; i++) {
        if (!storage_path_check(paths[i], err))
            return false;
    }
    if (st->driver->remove_many != NULL)
        return count == 0 || st->driver->remove_many(st, paths, count, err);
    for (size_t i = 0; i < count; i++) {
        if (!st->driver->remove(st, paths[i], err))
            return false;
    }
    return true;
}

bool storage_begin(Storage *st, Error *err)
{
    return st->driver->begin == NULL || st->driver->begin(st, err);
}

bool storage_commit(Storage *st, const char *summary, Error *err)
{
    return st->driver->commit == NULL || st->driver->commit(st, summary, err);
}

void storage_abort(Storage *st)
{
    if (st != NULL && st->driver->abort != NULL)
        st->driver->abort(st);
}

bool storage_reclaim(Storage *st, const char *reason, Error *err)
{
    return st->driver->reclaim == NULL || st->driver->reclaim(st, reason, err);
}

bool storage_list_uploads(Storage *st, const char *prefix, StorageUploadFn fn, void *ctx,
                          bool *supported, Error *err)
{
    *supported = false;
    if (st->driver->list_uploads == NULL)
        return true;
    return st->driver->list_uploads(st, prefix, fn, ctx, supported, err);
}

bool storage_abort_upload(Storage *st, const char *path, const char *upload_id, Error *err)
{
    if (!storage_path_check(path, err))
        return false;
    if (st->driver->abort_upload == NULL)
        return error_set(err, ERR_USAGE, "'%s': this target has no uploads to abort", path);
    return st->driver->abort_upload(st, path, upload_id, err);
}
