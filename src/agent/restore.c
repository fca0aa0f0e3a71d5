/*
 * hfsync restore: resolve the chain, load and verify the manifest, build every destination in a
 * staging directory beside it, and only when everything is in place and verified swap the staging
 * directories in. Any failure removes the staging directories and leaves live data untouched.
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
#include "hfsync/chain.h"
#include "seed.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

char *restore_staging_path(const char *final)
{
    const char *slash = strrchr(final, '/');
    return str_printf("%.*s/.hfsync-staging-%s-%d", (int)(slash - final), final, slash + 1,
                      (int)getpid());
}

static const char *restore_configured_path(const Config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->source_count; i++)
        if (strcmp(cfg->sources[i].name, name) == 0)
            return cfg->sources[i].path;
    return NULL;
}

/* Pick the destinations. In place, a destination that is a symlink (a state directory linked
 * elsewhere) is restored where it points, as the backup read it. */
static bool restore_dests(const Config *cfg, const RestoreOpts *opts, const Manifest *m,
                          Dest *dests, Error *err)
{
    for (size_t i = 0; i < m->source_count; i++) {
        const char *name = m->sources[i];
        char *final;
        if (opts->to != NULL) {
            final = path_join(opts->to, name);
        } else {
            const char *p = restore_configured_path(cfg, name);
            if (p == NULL)
                return error_set(err, ERR_USAGE,
                                 "the backup holds source '%s', which is not "
                                 "configured here",
                                 name) ||
                       error_hint(err, "add it to HFSYNC_SOURCES, or restore with --to DIR");
            char real[PATH_MAX];
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode) && realpath(p, real) != NULL)
                final = x_strdup(real);
            else
                final = x_strdup(p);
        }
        if (strcmp(final, "/") == 0) {
            free(final);
            return error_set(err, ERR_USAGE, "refusing to restore source '%s' over '/'", name);
        }
        dests[i].final = final;
        dests[i].staging = restore_staging_path(final);
    }
    return true;
}

/* Directories first (0700 so files can be written inside), in manifest order: parents first. */
static bool restore_dirs(const Manifest *m, Dest *dests, char **roots, Error *err)
{
    for (size_t i = 0; i < m->source_count; i++) {
        char *parent = x_strdup(dests[i].final);
        *strrchr(parent, '/') = '\0';
        bool ok = fs_mkdir_p(parent[0] ? parent : "/", 0755, err) &&
                  fs_remove_tree(dests[i].staging, err);
        free(parent);
        if (!ok)
            return false;
        roots[i] = dests[i].staging;
    }
    for (size_t i = 0; i < m->count; i++) {
        const ManifestEntry *e = &m->entries[i];
        if (e->type != ENTRY_DIR)
            continue;
        const char *root = roots[e->source];
        char *p = strcmp(e->path, ".") == 0 ? x_strdup(root) : path_join(root, e->path);
        int rc = mkdir(p, 0700);
        bool ok = rc == 0 || error_sys(err, "create directory '%s'", p);
        free(p);
        if (!ok)
            return false;
    }
    return true;
}

/* Symlinks last, so no file write can pass through one; then directory modes and times, deepest
 * first, so setting a directory's time is not undone by creating something inside it. */
static bool restore_finish_tree(const Manifest *m, char **roots, Error *err)
{
    for (size_t i = 0; i < m->count; i++) {
        const ManifestEntry *e = &m->entries[i];
        if (e->type != ENTRY_SYMLINK)
            continue;
        const char *root = roots[e->source];
        char *p = strcmp(e->path, ".") == 0 ? x_strdup(root) : path_join(root, e->path);
        struct timespec ts[2] = {{e->mtime, e->mtime_nsec}, {e->mtime, e->mtime_nsec}};
        bool ok = symlink(e->target, p) == 0 || error_sys(err, "create symlink '%s'", p);
        if (ok)
            utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
        free(p);
        if (!ok)
            return false;
    }
    for (size_t i = m->count; i-- > 0;) {
        const ManifestEntry *e = &m->entries[i];
        if (e->type != ENTRY_DIR)
            continue;
        const char *root = roots[e->source];
        char *p = strcmp(e->path, ".") == 0 ? x_strdup(root) : path_join(root, e->path);
        struct timespec ts[2] = {{e->mtime, e->mtime_nsec}, {e->mtime, e->mtime_nsec}};
        mode_t mode = e->mode & 01777; /* never setuid/setgid on directories */
        bool ok = (chmod(p, mode) == 0 && utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) == 0) ||
                  error_sys(err, "set attributes of '%s'", p);
        free(p);
        if (!ok)
            return false;
    }
    return true;
}

bool restore_swap(Dest *dests, size_t count, Error *err)
{
    for (size_t i = 0; i < count; i++) {
        Dest *d = &dests[i];
        struct stat sb;
        if (lstat(d->final, &sb) != 0) {
            if (rename(d->staging, d->final) != 0)
                return error_sys(err, "move '%s' into place", d->final);
            d->swapped = true;
            continue;
        }
        if (renameat2(AT_FDCWD, d->staging, AT_FDCWD, d->final, RENAME_EXCHANGE) == 0) {
            d->swapped = true;
            continue;
        }
        if (errno != EINVAL && errno != ENOSYS)
            return error_sys(err, "swap '%s' into place", d->final);
        /* Filesystems without RENAME_EXCHANGE: two renames, undone if the second fails. */
        char *old = str_printf("%s.hfsync-old-%d", d->staging, (int)getpid());
        if (rename(d->final, old) != 0) {
            free(old);
            return error_sys(err, "move '%s' aside", d->final);
        }
        if (rename(d->staging, d->final) != 0) {
            int saved = errno;
            rename(old, d->final);
            free(old);
            errno = saved;
            return error_sys(err, "move '%s' into place", d->final);
        }
        rename(old, d->staging); /* so cleanup finds the old tree at the staging path */
        free(old);
        d->swapped = true;
    }
    return true;
}

/* After a successful swap the staging path holds the old tree; before it, the partial new one.
 * Either way it goes. */
void restore_cleanup(Dest *dests, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        Error e = {0};
        if (dests[i].staging && !fs_remove_tree(dests[i].staging, &e))
            log_warn("could not remove '%s': %s", dests[i].staging, e.msg);
    }
}

static bool restore_valid_name(const char *name)
{
    if (name[0] == '\0' || name[0] == '.' || strlen(name) > 200)
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20)
            return false;
    return true;
}

/* Where the restore starts: the named backup (--backup, else HFSYNC_RESTORE_BACKUP or the
 * script's OPENCLAW_RESTORE_ARCHIVE), else the pointer. NULL + true: no backup. */
static bool restore_pick(const Config *cfg, Storage *st, const RestoreOpts *opts, char **path,
                         Error *err)
{
    *path = NULL;
    const char *name = opts->backup != NULL ? opts->backup : cfg->restore_backup;
    if (name == NULL)
        return pointer_read(st, path, err);
    if (!restore_valid_name(name))
        return error_set(err, ERR_USAGE, "%s: '%s' is not a backup name",
                         opts->backup != NULL ? "--backup" : "HFSYNC_RESTORE_BACKUP", name);
    if (opts->backup == NULL)
        log_info("restore: backup '%s' chosen by HFSYNC_RESTORE_BACKUP/OPENCLAW_RESTORE_ARCHIVE",
                 name);
    return agent_backup_find(cfg, st, name, path, err);
}

bool restore_run(const Config *cfg, const RestoreOpts *opts, RestoreResult *res, Error *err)
{
    int64_t t0 = time_monotonic_ns();
    memset(res, 0, sizeof(*res));
    /* HFSYNC_RESTORE_REPO (or the script's OPENCLAW_RESTORE_DATASET_REPO) names another source. */
    const Target *from = agent_restore_from(cfg);
    Storage *st = storage_open(cfg, from, err);
    if (st == NULL)
        return false;
    char *meta_path = NULL;
    Chain chain = {0};
    Manifest *m = NULL;
    Dest *dests = NULL;
    char **roots = NULL;
    Keyring *keyring = NULL;
    const CryptoKey **keys = NULL; /* per chain member; NULL entries for unencrypted ones */
    bool ok = false;
    /* A --to directory this run creates is removed again if the restore fails. */
    bool to_created = opts->to != NULL && !fs_exists(opts->to);

    if (!restore_pick(cfg, st, opts, &meta_path, err))
        goto out;
    if (meta_path == NULL) {
        log_info("restore: the target has no backup yet; nothing to restore");
        ok = true;
        goto out;
    }
    snprintf(res->meta_path, sizeof(res->meta_path), "%s", meta_path);
    if (!chain_resolve(st, meta_path, &chain, err))
        goto out;
    const BackupMeta *target = chain.metas[chain.count - 1];
    snprintf(res->name, sizeof(res->name), "%s", target->name);
    if (!target->native) { /* the original script's format: no manifest */
        ok = seed_restore(cfg, st, opts, &chain, res, err);
        goto out;
    }
    /* Every key is opened, so a wrong password is found, before any object is read or any
     * staging directory made. */
    keyring = keyring_new(cfg);
    keys = x_calloc(chain.count, sizeof(*keys));
    if (!keyring_open_chain(keyring, &chain, keys, err))
        goto out;
    if (!target->encrypted && cfg->password != NULL)
        log_warn("restore %s: this backup is not encrypted, although a password is set",
                 target->name);
    m = agent_manifest_load(cfg, st, target, keys[chain.count - 1], err);
    if (m == NULL)
        goto out;
    log_info("restore %s: chain of %zu backup%s, %zu entries%s%s", target->name, chain.count,
             chain.count == 1 ? "" : "s", m->count, opts->to ? " into " : "",
             opts->to ? opts->to : "");

    dests = x_calloc(m->source_count + 1, sizeof(Dest));
    roots = x_calloc(m->source_count + 1, sizeof(char *));
    if (!restore_dests(cfg, opts, m, dests, err) || !restore_dirs(m, dests, roots, err))
        goto out;

    uint64_t total_files = 0, total_bytes = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->entries[i].type == ENTRY_FILE) {
            total_files++;
            total_bytes += m->entries[i].size;
        }
    Progress progress;
    progress_begin(&progress, cfg, "restore", total_files, total_bytes);
    VolumeJob job = {.cfg = cfg,
                     .st = st,
                     .manifest = m,
                     .dest_roots = roots,
                     .progress = &progress,
                     .records_only = true};
    /* Each backup of the chain supplies the files whose ref names it, volume by volume. */
    for (size_t k = 0; k < chain.count; k++) {
        const BackupMeta *bm = chain.metas[k];
        job.meta = bm;
        job.key = keys[k];
        job.own = bm == target;
        uint8_t *need = x_calloc(bm->volume_count + 2, 1);
        for (size_t i = 0; i < m->count; i++) {
            const ManifestEntry *e = &m->entries[i];
            if (e->type != ENTRY_FILE || strcmp(m->refs[e->ref], bm->name) != 0)
                continue;
            if (e->volume > bm->volume_count) {
                free(need);
                error_set(err, ERR_CORRUPT,
                          "manifest of '%s': file '%s/%s' is in volume %u of "
                          "backup '%s', which has %zu",
                          target->name, m->sources[e->source], e->path, e->volume, bm->name,
                          bm->volume_count);
                goto out;
            }
            need[e->volume] = 1;
        }
        for (uint32_t v = 1; v <= bm->volume_count; v++) {
            if (need[v] && !volume_process(&job, v, err)) {
                free(need);
                goto out;
            }
        }
        free(need);
    }
    /* Every file must have come from somewhere; a ref to a backup outside the chain or a
     * volume that lacks a member leaves files missing. */
    for (size_t i = 0; i < m->count; i++) {
        const ManifestEntry *e = &m->entries[i];
        if (e->type == ENTRY_FILE && !(e->flags & ENTRY_DONE)) {
            error_set(err, ERR_CORRUPT, "file '%s/%s' was not found in backup '%s' volume %u",
                      m->sources[e->source], e->path, m->refs[e->ref], e->volume);
            goto out;
        }
    }
    if (!restore_finish_tree(m, roots, err) || !restore_swap(dests, m->source_count, err))
        goto out;
    res->restored = true;
    res->files = job.files;
    res->bytes = job.bytes;
    res->duration_ms = (time_monotonic_ns() - t0) / 1000000;
    char bytes_h[32];
    size_human(job.bytes, bytes_h);
    log_info("restore %s done: %llu files (%s) in %.1f s", target->name,
             (unsigned long long)job.files, bytes_h, (double)res->duration_ms / 1000.0);
    ok = true;
out:
    if (!ok && dests != NULL) {
        /* Put back anything already swapped: all or nothing. */
        for (size_t i = 0; i < m->source_count; i++)
            if (dests[i].swapped)
                renameat2(AT_FDCWD, dests[i].staging, AT_FDCWD, dests[i].final, RENAME_EXCHANGE);
    }
    if (dests != NULL) {
        restore_cleanup(dests, m->source_count);
        for (size_t i = 0; i < m->source_count; i++) {
            free(dests[i].final);
            free(dests[i].staging);
        }
    }
    if (!ok && to_created)
        rmdir(opts->to); /* only if still empty: never removes anything else */
    free(dests);
    free(roots);
    free(keys);
    keyring_free(keyring);
    manifest_free(m);
    chain_free(&chain);
    free(meta_path);
    storage_free(st);
    return ok;
}
