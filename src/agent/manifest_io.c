/*
 * Manifests of native backups on this machine: reading one as a stream of entries or whole, and
 * keeping a copy of the one a backup writes. Nothing here holds a manifest object's bytes in
 * memory: they go through fixed buffers between the target, the cache file and the parser.
 *
 * Reading prefers the local cache when its copy has the size and sha256 the meta records. Else
 * the object is copied from the target into the cache, checked, and read from there; only when
 * no cache directory can be used is it parsed straight from the target, checked at its end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.intern.h"
#include "hfsync/hash.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define MANIFEST_COPY_SIZE (256 * 1024)
#define MANIFEST_MAX_TABLE 65535
#define MANIFEST_RESERVE_MAX (1u << 20)

struct ManifestStream {
    const BackupMeta *meta;
    char *what; /* "manifest '<object>'" or "cached manifest '<file>'", for messages */
    int fd;     /* the cached copy, or -1 when reading from the target */
    Reader *raw, *hash, *plain, *z;
    ManifestCursor *cursor;
};

static bool agent_is_cached_manifest(const char *name)
{
    return str_ends_with(name, ".manifest.zst") || str_ends_with(name, ".manifest.zst.enc");
}

/* Keep only the newest manifest in the cache: it is all change detection needs. */
static void agent_cache_prune(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (agent_is_cached_manifest(de->d_name) && strcmp(de->d_name, keep) != 0) {
            char *p = path_join(dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}

/* The size and sha256 of what `in` yields, read to its end (but not past `max` + 1 bytes), and
 * a copy written to `copy_fd` unless it is -1. A failed copy sets *copy_failed (errno set). */
static bool io_hash_reader(Reader *in, uint64_t max, char hex[HASH_HEX_SIZE], uint64_t *size,
                           int copy_fd, bool *copy_failed, Error *err)
{
    uint8_t *buf = x_malloc(MANIFEST_COPY_SIZE);
    Hasher *h = hasher_new(HASH_SHA256);
    bool ok = true;
    *size = 0;
    for (;;) {
        ssize_t n = reader_read(in, buf, MANIFEST_COPY_SIZE, err);
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        hasher_update(h, buf, (size_t)n);
        *size += (uint64_t)n;
        if (copy_fd >= 0 && !fs_write_all(copy_fd, buf, (size_t)n)) {
            *copy_failed = true;
            ok = false;
            break;
        }
        if (*size > max)
            break; /* too long already: the size check says so */
    }
    hasher_final_hex(h, hex);
    hasher_free(h);
    free(buf);
    return ok;
}

static bool io_matches(const BackupMeta *meta, const char hex[HASH_HEX_SIZE], uint64_t size)
{
    return size == meta->manifest_size && strcmp(hex, meta->manifest_sha256) == 0;
}

static bool io_mismatch(const BackupMeta *meta, const char *obj, const char hex[HASH_HEX_SIZE],
                        uint64_t size, Error *err)
{
    return error_set(err, ERR_CORRUPT,
                     "manifest '%s' is corrupt: %llu bytes with sha256 %.12s…, the backup "
                     "recorded %llu bytes with sha256 %.12s…",
                     obj, (unsigned long long)size, hex, (unsigned long long)meta->manifest_size,
                     meta->manifest_sha256);
}

/* The cached copy, opened and rewound, when it is the one the meta records; else -1. */
static int io_cached_open(const char *path, const BackupMeta *meta)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != meta->manifest_size) {
        close(fd);
        return -1;
    }
    char hex[HASH_HEX_SIZE];
    uint64_t size;
    bool copy_failed = false;
    Error ignored = {0};
    Reader *r = fd_reader_new(fd);
    bool ok = io_hash_reader(r, meta->manifest_size, hex, &size, -1, &copy_failed, &ignored) &&
              io_matches(meta, hex, size) && lseek(fd, 0, SEEK_SET) == 0;
    reader_free(r);
    if (!ok) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Copy the target's object `obj` into the cache as `path`, check it against the meta, and open
 * it. -1 with `err` set when the object is missing, unreadable or not the one recorded; -1
 * without (a warning logged) when only the cache failed: the caller then reads the target. */
static int io_download(Storage *st, const BackupMeta *meta, const char *obj, const char *dir,
                       const char *path, Error *err)
{
    char *tmp = path_join(dir, ".manifest-XXXXXX");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        log_warn("cache: cannot create a file in '%s': %s", dir, strerror(errno));
        free(tmp);
        return -1;
    }
    Reader *in = storage_read_open(st, obj, 0, err);
    char hex[HASH_HEX_SIZE];
    uint64_t size = 0;
    bool copy_failed = false, ok = in != NULL;
    if (ok)
        ok = io_hash_reader(in, meta->manifest_size, hex, &size, fd, &copy_failed, err);
    reader_free(in);
    if (copy_failed)
        log_warn("cache: cannot write in '%s': %s", dir, strerror(errno));
    else if (!ok)
        error_prefix(err, "manifest '%s'", obj);
    else if (!io_matches(meta, hex, size))
        ok = io_mismatch(meta, obj, hex, size, err);
    if (ok && (fsync(fd) != 0 || rename(tmp, path) != 0 || lseek(fd, 0, SEEK_SET) != 0)) {
        log_warn("cache: cannot keep '%s': %s", path, strerror(errno));
        ok = false;
    }
    if (!ok) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    agent_cache_prune(dir, meta->manifest_name);
    return fd;
}

void manifest_stream_free(ManifestStream *s)
{
    if (s == NULL)
        return;
    manifest_cursor_free(s->cursor);
    reader_free(s->z);
    if (s->plain != s->hash)
        reader_free(s->plain);
    reader_free(s->hash);
    reader_free(s->raw);
    if (s->fd >= 0)
        close(s->fd);
    free(s->what);
    free(s);
}

ManifestStream *manifest_stream_open(const Config *cfg, Storage *st, const BackupMeta *meta,
                                     const CryptoKey *key, Error *err)
{
    if (meta->encrypted && key == NULL) {
        error_set(err, ERR_USAGE, "backup '%s' is encrypted: its key is needed", meta->name);
        return NULL;
    }
    ManifestStream *s = x_calloc(1, sizeof(*s));
    s->meta = meta;
    s->fd = -1;
    char *obj = meta_sibling_path(meta, meta->manifest_name);
    Error cerr = {0};
    char *dir = agent_cache_dir(cfg, &cerr);
    char *cached = dir ? path_join(dir, meta->manifest_name) : NULL;
    bool ok = true;
    if (cached != NULL)
        s->fd = io_cached_open(cached, meta);
    if (s->fd >= 0) {
        s->what = str_printf("cached manifest '%s'", cached);
    } else {
        s->what = str_printf("manifest '%s'", obj);
        if (dir != NULL) {
            s->fd = io_download(st, meta, obj, dir, cached, err);
            ok = s->fd >= 0 || err->code == ERR_NONE;
        }
    }
    if (ok) {
        s->raw = s->fd >= 0 ? fd_reader_new(s->fd) : storage_read_open(st, obj, 0, err);
        if (s->raw == NULL)
            ok = error_prefix(err, "%s", s->what);
    }
    if (ok) {
        s->hash = hash_reader_new(s->raw, HASH_SHA256);
        s->plain =
            meta->encrypted ? aead_reader_new(s->hash, key, meta->manifest_name, err) : s->hash;
        s->z = s->plain ? zstd_reader_new(s->plain, err) : NULL;
        s->cursor = s->z ? manifest_cursor_open(s->z, err) : NULL;
        if (s->cursor == NULL)
            ok = error_prefix(err, "%s", s->what);
    }
    if (ok && strcmp(manifest_cursor_backup(s->cursor), meta->name) != 0)
        ok = error_set(err, ERR_CORRUPT, "manifest '%s' belongs to backup '%s', not '%s'",
                       meta->manifest_name, manifest_cursor_backup(s->cursor), meta->name);
    if (!ok) {
        if (err->code == ERR_NOT_FOUND) /* the backup is incomplete: an integrity problem */
            err->code = ERR_CORRUPT;
        manifest_stream_free(s);
        s = NULL;
    }
    free(cached);
    free(dir);
    free(obj);
    return s;
}

int manifest_stream_next(ManifestStream *s, ManifestEntry *e, const char **source, const char **ref,
                         Error *err)
{
    int r = manifest_cursor_next(s->cursor, e, source, ref, err);
    if (r < 0) {
        error_prefix(err, "%s", s->what);
        return -1;
    }
    if (r > 0)
        return 1;
    /* The end: the bytes read (to their very end) must be the ones the meta records. */
    char hex[HASH_HEX_SIZE];
    uint64_t size, extra = 0;
    uint8_t tail[256];
    ssize_t n;
    while ((n = reader_read(s->hash, tail, sizeof(tail), err)) > 0 && extra < sizeof(tail))
        extra += (uint64_t)n;
    if (n < 0) {
        error_prefix(err, "%s", s->what);
        return -1;
    }
    hash_reader_result(s->hash, hex, &size);
    if (!io_matches(s->meta, hex, size)) {
        io_mismatch(s->meta, s->meta->manifest_name, hex, size, err);
        return -1;
    }
    return 0;
}

Manifest *agent_manifest_load(const Config *cfg, Storage *st, const BackupMeta *meta,
                              const CryptoKey *key, Error *err)
{
    ManifestStream *s = manifest_stream_open(cfg, st, meta, key, err);
    if (s == NULL)
        return NULL;
    Manifest *m = manifest_new(meta->name);
    size_t expected = manifest_cursor_expected(s->cursor);
    /* The header's count is believed only so far before the entries are seen. */
    manifest_reserve(m, expected < MANIFEST_RESERVE_MAX ? expected : MANIFEST_RESERVE_MAX);
    ManifestEntry e;
    const char *source, *ref;
    int r;
    while ((r = manifest_stream_next(s, &e, &source, &ref, err)) > 0) {
        if (m->source_count >= MANIFEST_MAX_TABLE || m->ref_count >= MANIFEST_MAX_TABLE) {
            error_set(err, ERR_CORRUPT, "%s: too many sources or refs", s->what);
            r = -1;
            break;
        }
        e.source = manifest_source_index(m, source);
        e.ref = manifest_ref_index(m, ref);
        manifest_add(m, &e);
    }
    if (r == 0 && !manifest_validate(m, err)) {
        error_prefix(err, "%s", s->what);
        r = -1;
    }
    manifest_stream_free(s);
    if (r < 0) {
        manifest_free(m);
        return NULL;
    }
    return m;
}

/* --- the copy a backup keeps of its manifest ------------------------------------------------ */

struct ManifestCacheCopy {
    char *dir, *name, *tmp;
    int fd;
};

ManifestCacheCopy *manifest_cache_copy_open(const Config *cfg, const char *name)
{
    Error err = {0};
    char *dir = agent_cache_dir(cfg, &err);
    if (dir == NULL) {
        log_warn("cache: %s", err.msg);
        return NULL;
    }
    ManifestCacheCopy *c = x_calloc(1, sizeof(*c));
    c->dir = dir;
    c->name = x_strdup(name);
    c->tmp = path_join(dir, ".manifest-XXXXXX");
    c->fd = mkostemp(c->tmp, O_CLOEXEC);
    if (c->fd < 0) {
        log_warn("cache: cannot create a file in '%s': %s", dir, strerror(errno));
        free(c->tmp);
        free(c->name);
        free(c->dir);
        free(c);
        return NULL;
    }
    return c;
}

int manifest_cache_copy_fd(const ManifestCacheCopy *c)
{
    return c->fd;
}

void manifest_cache_copy_close(ManifestCacheCopy *c, bool keep)
{
    if (c == NULL)
        return;
    char *path = path_join(c->dir, c->name);
    if (keep && (fsync(c->fd) != 0 || rename(c->tmp, path) != 0)) {
        log_warn("cache: cannot keep '%s': %s", path, strerror(errno));
        keep = false;
    }
    close(c->fd);
    if (keep)
        agent_cache_prune(c->dir, c->name);
    else
        unlink(c->tmp);
    free(path);
    free(c->tmp);
    free(c->name);
    free(c->dir);
    free(c);
}
