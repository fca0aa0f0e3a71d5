/* EntrySpool: compact entry records in a bounded buffer, spilling to an unlinked file (spool.h). */
#include "hfsync/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/util.h"

#define SPOOL_NAME_MAX 4096
#define SPOOL_MIN_MEMORY (64 * 1024)

/* The fixed part of a record, copied as it is (the file never leaves this process), followed by
 * the path's last `suffix` bytes (its first `shared` bytes are the previous record's: entries
 * come in manifest order, where neighbours share most of their path) and the link target. */
typedef struct SpoolHead {
    uint64_t size;
    int64_t mtime;
    int32_t mtime_nsec;
    uint32_t volume;
    uint16_t mode, source, ref;
    uint8_t type, flags;
    uint16_t shared, suffix, target;
    uint8_t hash[HASH_SIZE];
} SpoolHead;

struct EntrySpool {
    char *dir;
    int fd; /* -1 while every record fits in buf */
    uint8_t *buf;
    size_t cap;
    /* buf[0, len) holds the bytes at file offset buf_off: all records while fd < 0; the unflushed
     * tail while adding; the read window while reading. buf[dirty_lo, dirty_hi) was updated and
     * is not in the file yet. */
    size_t len, dirty_lo, dirty_hi;
    uint64_t buf_off, total;
    size_t count;
    bool reading;
    uint64_t pos, cur; /* reading: the next record, the one last returned */
    SpoolHead cur_head;
    char path[SPOOL_NAME_MAX + 1], target[SPOOL_NAME_MAX + 1];
    size_t path_len; /* of `path`: the previous record's path while adding, the current one's
                        while reading */
};

EntrySpool *spool_new(const char *dir, size_t memory_size)
{
    EntrySpool *sp = x_calloc(1, sizeof(*sp));
    if (dir == NULL)
        dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    sp->dir = x_strdup(dir);
    sp->fd = -1;
    sp->cap = memory_size < SPOOL_MIN_MEMORY ? SPOOL_MIN_MEMORY : memory_size;
    sp->buf = x_malloc(sp->cap); /* pages cost memory only once records reach them */
    return sp;
}

void spool_free(EntrySpool *sp)
{
    if (sp == NULL)
        return;
    if (sp->fd >= 0)
        close(sp->fd);
    free(sp->buf);
    free(sp->dir);
    free(sp);
}

size_t spool_count(const EntrySpool *sp)
{
    return sp->count;
}

bool spool_on_disk(const EntrySpool *sp)
{
    return sp->fd >= 0;
}

static bool spool_pwrite(EntrySpool *sp, const uint8_t *data, size_t size, uint64_t off, Error *err)
{
    while (size > 0) {
        ssize_t n = pwrite(sp->fd, data, size, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return error_sys(err, "write a spool file in '%s' (HFSYNC_WORK_DIR)", sp->dir);
        data += n;
        size -= (size_t)n;
        off += (uint64_t)n;
    }
    return true;
}

/* Move the buffer's bytes to the file (created on first use). */
static bool spool_spill(EntrySpool *sp, Error *err)
{
    if (sp->fd < 0) {
        if (!fs_mkdir_p(sp->dir, 0700, err))
            return error_prefix(err, "spool directory (HFSYNC_WORK_DIR)");
        char *tmpl = path_join(sp->dir, "hfsync-spool-XXXXXX");
        sp->fd = mkostemp(tmpl, O_CLOEXEC);
        if (sp->fd < 0) {
            error_sys(err, "create a spool file in '%s' (HFSYNC_WORK_DIR)", sp->dir);
            free(tmpl);
            return false;
        }
        unlink(tmpl); /* gone with the spool, or with the process */
        free(tmpl);
    }
    if (!spool_pwrite(sp, sp->buf, sp->len, sp->buf_off, err))
        return false;
    sp->buf_off += sp->len;
    sp->len = 0;
    return true;
}

static void spool_head_fill(SpoolHead *h, const ManifestEntry *e)
{
    h->size = e->size;
    h->mtime = e->mtime;
    h->mtime_nsec = e->mtime_nsec;
    h->volume = e->volume;
    h->mode = (uint16_t)e->mode;
    h->source = e->source;
    h->ref = e->ref;
    h->type = e->type;
    h->flags = e->flags;
    memcpy(h->hash, e->hash, HASH_SIZE);
}

bool spool_add(EntrySpool *sp, const ManifestEntry *e, Error *err)
{
    size_t path_len = strlen(e->path), target_len = e->target ? strlen(e->target) : 0;
    if (sp->reading || path_len > SPOOL_NAME_MAX || target_len > SPOOL_NAME_MAX)
        return error_set(err, ERR_FAIL, "spool: %s",
                         sp->reading ? "added while reading" : "name too long");
    size_t shared = 0;
    while (shared < path_len && shared < sp->path_len && sp->path[shared] == e->path[shared])
        shared++;
    SpoolHead h;
    memset(&h, 0, sizeof(h));
    spool_head_fill(&h, e);
    h.shared = (uint16_t)shared;
    h.suffix = (uint16_t)(path_len - shared);
    h.target = (uint16_t)target_len;
    size_t size = sizeof(h) + h.suffix + h.target;
    if (sp->len + size > sp->cap && !spool_spill(sp, err))
        return false;
    uint8_t *p = sp->buf + sp->len;
    memcpy(p, &h, sizeof(h));
    memcpy(p + sizeof(h), e->path + shared, h.suffix);
    if (h.target > 0)
        memcpy(p + sizeof(h) + h.suffix, e->target, h.target);
    sp->len += size;
    sp->total += size;
    sp->count++;
    memcpy(sp->path + shared, e->path + shared, path_len - shared);
    sp->path_len = path_len;
    return true;
}

static bool spool_flush_dirty(EntrySpool *sp, Error *err)
{
    if (sp->fd < 0 || sp->dirty_hi <= sp->dirty_lo)
        return true;
    bool ok = spool_pwrite(sp, sp->buf + sp->dirty_lo, sp->dirty_hi - sp->dirty_lo,
                           sp->buf_off + sp->dirty_lo, err);
    sp->dirty_lo = sp->dirty_hi = 0;
    return ok;
}

bool spool_rewind(EntrySpool *sp, Error *err)
{
    if (!sp->reading) {
        sp->reading = true;
        if (sp->fd >= 0 && !spool_spill(sp, err))
            return false;
    }
    if (!spool_flush_dirty(sp, err))
        return false;
    if (sp->fd >= 0) { /* the window is loaded on the first read */
        sp->buf_off = 0;
        sp->len = 0;
    }
    sp->pos = 0;
    sp->path_len = 0;
    return true;
}

/* Make buf hold the `size` bytes at file offset `off`. */
static bool spool_window(EntrySpool *sp, uint64_t off, size_t size, Error *err)
{
    if (off >= sp->buf_off && off + size <= sp->buf_off + sp->len)
        return true;
    if (sp->fd < 0 || size > sp->cap)
        return error_set(err, ERR_CORRUPT, "spool: record out of bounds");
    if (!spool_flush_dirty(sp, err))
        return false;
    size_t got = 0;
    while (got < sp->cap && off + got < sp->total) {
        ssize_t n = pread(sp->fd, sp->buf + got, sp->cap - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_sys(err, "read a spool file in '%s' (HFSYNC_WORK_DIR)", sp->dir);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    sp->buf_off = off;
    sp->len = got;
    if (got < size)
        return error_set(err, ERR_IO, "spool file in '%s' (HFSYNC_WORK_DIR) is truncated", sp->dir);
    return true;
}

int spool_next(EntrySpool *sp, ManifestEntry *e, Error *err)
{
    if (!sp->reading) {
        error_set(err, ERR_FAIL, "spool: read before rewind");
        return -1;
    }
    if (sp->pos >= sp->total)
        return 0;
    if (!spool_window(sp, sp->pos, sizeof(SpoolHead), err))
        return -1;
    SpoolHead h;
    memcpy(&h, sp->buf + (sp->pos - sp->buf_off), sizeof(h));
    size_t size = sizeof(h) + h.suffix + h.target;
    if (h.shared > sp->path_len || (size_t)h.shared + h.suffix > SPOOL_NAME_MAX ||
        h.target > SPOOL_NAME_MAX) {
        error_set(err, ERR_CORRUPT, "spool: bad record");
        return -1;
    }
    if (!spool_window(sp, sp->pos, size, err))
        return -1;
    const uint8_t *p = sp->buf + (sp->pos - sp->buf_off) + sizeof(h);
    memcpy(sp->path + h.shared, p, h.suffix);
    sp->path_len = (size_t)h.shared + h.suffix;
    sp->path[sp->path_len] = '\0';
    memcpy(sp->target, p + h.suffix, h.target);
    sp->target[h.target] = '\0';

    memset(e, 0, sizeof(*e));
    e->path = sp->path;
    e->target = h.target > 0 ? sp->target : NULL;
    e->size = h.size;
    e->mtime = h.mtime;
    e->mtime_nsec = h.mtime_nsec;
    e->mode = h.mode;
    e->volume = h.volume;
    e->source = h.source;
    e->ref = h.ref;
    e->type = h.type;
    e->flags = h.flags;
    memcpy(e->hash, h.hash, HASH_SIZE);
    memcpy(&sp->cur_head, &h, sizeof(h));
    sp->cur = sp->pos;
    sp->pos += size;
    return 1;
}

bool spool_update(EntrySpool *sp, const ManifestEntry *e, Error *err)
{
    if (!sp->reading || sp->pos == 0)
        return error_set(err, ERR_FAIL, "spool: update without a current entry");
    SpoolHead h;
    memcpy(&h, &sp->cur_head, sizeof(h)); /* padding included: the bytes go to a file */
    spool_head_fill(&h, e);
    /* spool_next() left the whole record in the window. */
    if (!spool_window(sp, sp->cur, sizeof(h), err))
        return false;
    size_t at = (size_t)(sp->cur - sp->buf_off);
    memcpy(sp->buf + at, &h, sizeof(h));
    memcpy(&sp->cur_head, &h, sizeof(h));
    if (sp->fd >= 0) {
        if (sp->dirty_hi <= sp->dirty_lo) {
            sp->dirty_lo = at;
            sp->dirty_hi = at + sizeof(h);
        } else {
            if (at < sp->dirty_lo)
                sp->dirty_lo = at;
            if (at + sizeof(h) > sp->dirty_hi)
                sp->dirty_hi = at + sizeof(h);
        }
    }
    return true;
}
