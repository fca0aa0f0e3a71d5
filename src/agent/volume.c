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

static bool volume_extract(VolumeJob *job, TarReader *tr, ManifestEntry *e, const char *member,
                           Hasher *content, Error *err)
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
        e->flags |= ENTRY_DONE;
        job->files++;
        job->bytes += written;
    }
    return ok;
}

static bool volume_members(VolumeJob *job, TarReader *tr, uint32_t number, Error *err)
{
    const Manifest *m = job->manifest;
    Hasher *content = hasher_new(HASH_CONTENT);
    char source[256];
    bool ok = true;
    for (;;) {
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
        ManifestEntry *e = manifest_find(m, source, path);
        EntryType want = mb.type == TAR_FILE  ? ENTRY_FILE
                         : mb.type == TAR_DIR ? ENTRY_DIR
                                              : ENTRY_SYMLINK;
        if (job->own && (e == NULL || e->type != want)) {
            ok = error_set(err, ERR_UNSAFE, "member '%s' is not in the backup's manifest%s",
                           mb.name, e ? " with this type" : "");
            break;
        }
        if (e == NULL || e->type != ENTRY_FILE || want != ENTRY_FILE ||
            strcmp(m->refs[e->ref], job->meta->name) != 0 || e->volume != number)
            continue; /* not needed from here: a later backup replaced it, or not a file */
        if (e->flags & ENTRY_DONE) {
            ok = error_set(err, ERR_UNSAFE, "member '%s' appears twice", mb.name);
            break;
        }
        if (!volume_extract(job, tr, e, mb.name, content, err)) {
            ok = false;
            break;
        }
        if (job->progress)
            progress_update(job->progress, job->files, job->bytes);
    }
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
