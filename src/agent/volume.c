/*
 * Reading a native volume for restore and deep verify. The volume's bytes pass through a sha256
 * observer, zstd and the tar reader in one pass; each file's content hash is computed as it is
 * written. Everything from the volume is treated as hostile until checked: member names, types,
 * sizes and hashes must agree with the (already verified) manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/spool.h"
#include "hfsync/tar.h"
#include "hfsync/util.h"

#define VOLUME_DRAIN_SIZE (64 * 1024)
#define VOLUME_PREFETCH_SIZE (1024 * 1024)
#define VOLUME_PREFETCH_COUNT 4

/* Split "source/path" (or "source") and check both halves. */
static bool volume_member_split(const char *name, char *source, size_t source_cap,
                                const char **path, Error *err)
{
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    if (n == 0 || n >= source_cap)
        return error_set(err, ERR_UNSAFE, "member '%s' has an invalid name", name);
    memcpy(source, name, n);
    source[n] = '\0';
    *path = slash ? slash + 1 : ".";
    if (!manifest_path_check(source, err) || strcmp(source, ".") == 0 ||
        !manifest_path_check(*path, err))
        return error_prefix(err, "member '%s' refused", name);
    return true;
}

static bool volume_extract(VolumeJob *job, TarReader *tr, const ManifestEntry *e,
                           const char *member, Hasher *content, Error *err)
{
    const char *root = job->dest_roots ? job->dest_roots[e->source] : NULL;
    int fd = -1;
    char *dest = NULL;
    if (root != NULL) {
        dest = strcmp(e->path, ".") == 0 ? x_strdup(root) : path_join(root, e->path);
        fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            bool r = error_sys(err, "create '%s'", dest);
            free(dest);
            return r;
        }
    }
    hasher_reset(content);
    uint64_t written = 0;
    bool ok = true;
    for (;;) {
        const void *data;
        size_t size;
        int rc = tar_reader_data(tr, &data, &size, err);
        if (rc < 0) {
            ok = false;
            break;
        }
        if (rc == 0)
            break;
        hasher_update(content, data, size);
        written += size;
        if (fd >= 0 && !fs_write_all(fd, data, size)) {
            ok = error_sys(err, "write '%s'", dest);
            break;
        }
    }
    uint8_t digest[HASH_SIZE];
    hasher_final(content, digest);
    if (ok && written != e->size)
        ok = error_set(err, ERR_CORRUPT,
                       "file '%s' has %llu bytes in the volume, the manifest "
                       "says %llu",
                       member, (unsigned long long)written, (unsigned long long)e->size);
    if (ok && memcmp(digest, e->hash, HASH_SIZE) != 0)
        ok = error_set(err, ERR_CORRUPT, "file '%s' does not match its recorded hash", member);
    if (ok && fd >= 0) {
        mode_t mode = e->mode;
        if (!job->cfg->restore_setid && (mode & (S_ISUID | S_ISGID))) {
            mode &= ~(mode_t)(S_ISUID | S_ISGID);
            if (!job->setid_warned)
                log_warn("restoring '%s' without its setuid/setgid bits (set "
                         "HFSYNC_RESTORE_SETID=1 to keep them)",
                         member);
            job->setid_warned = true;
        }
        struct timespec ts[2] = {{e->mtime, e->mtime_nsec}, {e->mtime, e->mtime_nsec}};
        if (fchmod(fd, mode) != 0 || futimens(fd, ts) != 0)
            ok = error_sys(err, "set attributes of '%s'", dest);
    }
    if (fd >= 0 && close(fd) != 0 && ok)
        ok = error_sys(err, "close '%s'", dest);
    free(dest);
    if (ok) {
        job->files++;
        job->bytes += written;
    }
    return ok;
}

/* Manifest order of (source, path) pairs. */
static int volume_cmp(const char *sa, const char *pa, const char *sb, const char *pb)
{
    int c = strcmp(sa, sb);
    return c != 0 ? c : manifest_path_cmp(pa, pb);
}

/* The entry of job->all named (source, path) in *found: 1; 0 when there is none; -1 on error.
 * The cursor only moves forward unless a name before it is asked for. */
static int volume_lookup(VolumeJob *job, const char *source, const char *path,
                         const ManifestEntry **found, Error *err)
{
    const Manifest *t = job->tables;
    ManifestEntry *cur = &job->all_cur;
    if (job->all_state == 1 && volume_cmp(t->sources[cur->source], cur->path, source, path) > 0)
        job->all_state = 0;
    if (job->all_state != 1) {
        if (!spool_rewind(job->all, err))
            return -1;
        job->all_state = spool_next(job->all, cur, err);
    }
    int c = 1;
    while (job->all_state == 1 &&
           (c = volume_cmp(t->sources[cur->source], cur->path, source, path)) < 0)
        job->all_state = spool_next(job->all, cur, err);
    if (job->all_state < 0)
        return -1;
    *found = cur;
    return job->all_state == 1 && c == 0;
}

/* A member of an own volume that is not one of the files expected from it: it must be listed in
 * the manifest with its type. */
static bool volume_listed(VolumeJob *job, const char *member, const char *source, const char *path,
                          EntryType want, Error *err)
{
    const ManifestEntry *e = NULL;
    int r = volume_lookup(job, source, path, &e, err);
    if (r < 0)
        return false;
    if (r == 0 || e->type != want)
        return error_set(err, ERR_UNSAFE, "member '%s' is not in the backup's manifest%s", member,
                         r == 0 ? "" : " with this type");
    return true;
}

static bool volume_missing(VolumeJob *job, const ManifestEntry *x, uint32_t number, Error *err)
{
    return error_set(err, ERR_CORRUPT, "file '%s/%s' of the manifest is missing from volume %u",
                     job->tables->sources[x->source], x->path, number);
}

static bool volume_members(VolumeJob *job, TarReader *tr, uint32_t number, Error *err)
{
    Hasher *content = hasher_new(HASH_CONTENT);
    char source[256];
    /* The previous member (source, NUL, path): members come in manifest order. */
    char *last = x_calloc(1, 2 * (PATH_MAX + 2));
    bool have_last = false, ok = true;
    ManifestEntry x; /* the next expected file */
    int xr = spool_next(job->expect, &x, err);
    if (xr < 0)
        ok = false;
    while (ok) {
        TarMember mb;
        int rc = tar_reader_next(tr, &mb, err);
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        const char *path = NULL;
        if (!volume_member_split(mb.name, source, sizeof(source), &path, err)) {
            ok = false;
            break;
        }
        if (mb.type == TAR_OTHER || mb.type == TAR_HARDLINK) {
            ok = error_set(err, ERR_UNSAFE,
                           "member '%s' is a %s; only files, directories and "
                           "symlinks are restored",
                           mb.name,
                           mb.type == TAR_HARDLINK ? "hard link" : "device, fifo or socket");
            break;
        }
        EntryType want = mb.type == TAR_FILE  ? ENTRY_FILE
                         : mb.type == TAR_DIR ? ENTRY_DIR
                                              : ENTRY_SYMLINK;
        int order = have_last ? volume_cmp(source, path, last, last + strlen(last) + 1) : 1;
        if (job->own && order <= 0) {
            ok = error_set(err, ERR_UNSAFE, "member '%s' %s", mb.name,
                           order == 0 ? "appears twice" : "is out of order");
            break;
        }
        size_t slen = strlen(source);
        memcpy(last, source, slen + 1);
        memcpy(last + slen + 1, path, strlen(path) + 1);
        have_last = true;
        /* Expected files before this member are not in the volume. */
        int c = want == ENTRY_FILE && xr > 0
                    ? volume_cmp(job->tables->sources[x.source], x.path, source, path)
                    : 1;
        if (c < 0) {
            ok = volume_missing(job, &x, number, err);
            break;
        }
        if (c == 0) {
            if (!volume_extract(job, tr, &x, mb.name, content, err)) {
                ok = false;
                break;
            }
            if (job->progress)
                progress_update(job->progress, job->files, job->bytes);
            xr = spool_next(job->expect, &x, err);
            ok = xr >= 0;
            continue;
        }
        if (job->own && !volume_listed(job, mb.name, source, path, want, err))
            ok = false;
    }
    if (ok && xr > 0)
        ok = volume_missing(job, &x, number, err);
    free(last);
    hasher_free(content);
    return ok;
}

bool volume_process(VolumeJob *job, uint32_t number, Error *err)
{
    const BackupMeta *meta = job->meta;
    if (number == 0 || number > meta->volume_count)
        return error_set(err, ERR_CORRUPT, "backup '%s' has no volume %u (manifest refers to it)",
                         meta->name, number);
    const VolumeInfo *vi = &meta->vinfo[number - 1];
    char *path = meta_sibling_path(meta, vi->name);
    Reader *raw = storage_read_open(job->st, path, 0, err);
    Reader *hash = NULL, *plain = NULL, *z = NULL, *pf = NULL;
    TarReader *tr = NULL;
    bool ok = false;
    if (raw == NULL) {
        if (err->code == ERR_NOT_FOUND)
            err->code = ERR_CORRUPT;
        goto out;
    }
    /* The stored bytes' sha256, unless every record's authentication stands in for it. */
    if (!(meta->encrypted && job->records_only))
        hash = hash_reader_new(raw, HASH_SHA256);
    if (meta->encrypted) {
        if (job->key == NULL) {
            error_set(err, ERR_USAGE, "backup '%s' is encrypted: its key is needed", meta->name);
            goto out;
        }
        plain = aead_reader_new(hash ? hash : raw, job->key, vi->name, err);
        if (plain == NULL)
            goto out;
    }
    z = zstd_reader_new(plain ? plain : hash, err);
    if (z == NULL)
        goto out;
    /* Reading, sha256 or decryption, and decompression run on their own thread, ahead of
     * extraction. */
    pf = prefetch_reader_new(z, VOLUME_PREFETCH_SIZE, VOLUME_PREFETCH_COUNT, err);
    if (pf == NULL)
        goto out;
    tr = tar_reader_new(pf, err);
    if (tr == NULL || !volume_members(job, tr, number, err))
        goto out;
    /* Read to the very end so the whole object is hashed or authenticated (tar stops at its end
     * marker; the final record comes after it). */
    uint8_t *drain = x_malloc(VOLUME_DRAIN_SIZE);
    ssize_t n;
    while ((n = reader_read(pf, drain, VOLUME_DRAIN_SIZE, err)) > 0)
        ;
    free(drain);
    if (n < 0)
        goto out;
    reader_free(pf); /* joins the thread: the hash below is final */
    pf = NULL;
    char hex[HASH_HEX_SIZE];
    uint64_t size;
    if (hash != NULL) {
        hash_reader_result(hash, hex, &size);
        if (size != vi->size || strcmp(hex, vi->sha256) != 0) {
            error_set(err, ERR_CORRUPT,
                      "%llu bytes with sha256 %.12s…, the backup recorded %llu "
                      "bytes with sha256 %.12s…",
                      (unsigned long long)size, hex, (unsigned long long)vi->size, vi->sha256);
            goto out;
        }
    }
    ok = true;
out:
    if (!ok) {
        if (err->code != ERR_UNSAFE && err->code != ERR_IO && err->code != ERR_USAGE)
            err->code = ERR_CORRUPT;
        char *where = storage_describe(job->st, path);
        error_prefix(err, "volume '%s'", where);
        free(where);
    }
    tar_reader_free(tr);
    reader_free(pf); /* before the stages it runs */
    reader_free(z);
    reader_free(plain);
    reader_free(hash);
    reader_free(raw);
    free(path);
    return ok;
}
