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
#include "hfsync/spool.h"
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

/* Pick the destination of source `name`. In place, a destination that is a symlink (a state
 * directory linked elsewhere) is restored where it points, as the backup read it. */
static bool restore_dest(const Config *cfg, const RestoreOpts *opts, const char *name, Dest *d,
                         Error *err)
{
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
    d->final = final;
    d->staging = restore_staging_path(final);
    return true;
}

/* What the restore builds: a destination per source of the manifest, in the order the sources
 * first appear (the index of the source in the manifest's table). */
typedef struct RestoreTree {
    const Config *cfg;
    const RestoreOpts *opts;
    Dest *dests;
    char **roots; /* dests[i].staging */
    size_t count;
} RestoreTree;

static char *restore_entry_path(char *const *roots, uint16_t source, const char *path)
{
    return strcmp(path, ".") == 0 ? x_strdup(roots[source]) : path_join(roots[source], path);
}

/* As each manifest entry is read (checked, parents first): a new source gets its destination
 * and an empty staging path, a directory is made (0700 so files can be written inside). */
static bool restore_visit(void *ctx, const RestoreIndex *ix, const ManifestEntry *e, Error *err)
{
    RestoreTree *rt = ctx;
    while (e->source >= rt->count) {
        size_t i = rt->count;
        rt->dests = x_realloc(rt->dests, (i + 1) * sizeof(Dest));
        rt->roots = x_realloc(rt->roots, (i + 1) * sizeof(char *));
        memset(&rt->dests[i], 0, sizeof(Dest));
        rt->roots[i] = NULL;
        rt->count++;
        Dest *d = &rt->dests[i];
        if (!restore_dest(rt->cfg, rt->opts, ix->tables->sources[i], d, err))
            return false;
        char *parent = x_strdup(d->final);
        *strrchr(parent, '/') = '\0';
        bool ok =
            fs_mkdir_p(parent[0] ? parent : "/", 0755, err) && fs_remove_tree(d->staging, err);
        free(parent);
        if (!ok)
            return false;
        rt->roots[i] = d->staging;
    }
    if (e->type != ENTRY_DIR)
        return true;
    char *p = restore_entry_path(rt->roots, e->source, e->path);
    bool ok = mkdir(p, 0700) == 0 || error_sys(err, "create directory '%s'", p);
    free(p);
    return ok;
}

typedef struct RestoreFinish {
    const RestoreIndex *ix;
    char *const *roots;
} RestoreFinish;

/* A directory whose subtree is complete: its mode and times, after everything inside it (setting
 * them on an entry inside does not touch the directory, creating one would). */
static bool restore_dir_done(void *ctx, const char *source, const ManifestEntry *e, Error *err)
{
    RestoreFinish *f = ctx;
    uint16_t i = 0;
    while (strcmp(f->ix->tables->sources[i], source) != 0) /* a few sources: a walk is enough */
        i++;
    char *p = restore_entry_path(f->roots, i, e->path);
    struct timespec ts[2] = {{e->mtime, e->mtime_nsec}, {e->mtime, e->mtime_nsec}};
    mode_t mode = e->mode & 01777; /* never setuid/setgid on directories */
    bool ok = (chmod(p, mode) == 0 && utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) == 0) ||
              error_sys(err, "set attributes of '%s'", p);
    free(p);
    return ok;
}

/* After every file: symlinks, so no file write can pass through one, and directory modes and
 * times, each directory once everything inside it is done; one pass over the spool. */
static bool restore_finish_tree(const RestoreIndex *ix, char *const *roots, Error *err)
{
    RestoreFinish f = {.ix = ix, .roots = roots};
    ManifestWalk *walk = manifest_walk_new(restore_dir_done, &f);
    ManifestEntry e;
    int r = spool_rewind(ix->spool, err) ? 1 : -1;
    while (r > 0 && (r = spool_next(ix->spool, &e, err)) > 0) {
        if (!manifest_walk_next(walk, ix->tables->sources[e.source], &e, err)) {
            r = -1;
            break;
        }
        if (e.type != ENTRY_SYMLINK)
            continue;
        char *p = restore_entry_path(roots, e.source, e.path);
        struct timespec ts[2] = {{e.mtime, e.mtime_nsec}, {e.mtime, e.mtime_nsec}};
        bool ok = symlink(e.target, p) == 0 || error_sys(err, "create symlink '%s'", p);
        if (ok)
            utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
        free(p);
        if (!ok)
            r = -1;
    }
    if (r == 0 && !manifest_walk_end(walk, err))
        r = -1;
    manifest_walk_free(walk);
    return r == 0;
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
    RestoreIndex ix = {0};
    RestoreTree rt = {.cfg = cfg, .opts = opts};
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
    if (!restore_index_load(&ix, cfg, st, target, keys[chain.count - 1], restore_visit, &rt, err))
        goto out;
    log_info("restore %s: chain of %zu backup%s, %zu entries%s%s", target->name, chain.count,
             chain.count == 1 ? "" : "s", spool_count(ix.spool), opts->to ? " into " : "",
             opts->to ? opts->to : "");

    Progress progress;
    progress_begin(&progress, cfg, "restore", ix.files, ix.bytes);
    VolumeJob job = {
        .cfg = cfg, .st = st, .dest_roots = rt.roots, .progress = &progress, .records_only = true};
    /* Each backup of the chain supplies the files whose ref names it, volume by volume; every
     * file must come from one of them. */
    RestoreVolumes rv = {.metas = (const BackupMeta *const *)chain.metas,
                         .keys = keys,
                         .count = chain.count,
                         .own = target,
                         .every_file = true};
    if (!restore_index_volumes(&ix, &rv, &job, err))
        goto out;
    if (!restore_finish_tree(&ix, rt.roots, err) || !restore_swap(rt.dests, rt.count, err))
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
    if (!ok) {
        /* Put back anything already swapped: all or nothing. */
        for (size_t i = 0; i < rt.count; i++)
            if (rt.dests[i].swapped)
                renameat2(AT_FDCWD, rt.dests[i].staging, AT_FDCWD, rt.dests[i].final,
                          RENAME_EXCHANGE);
    }
    restore_cleanup(rt.dests, rt.count);
    for (size_t i = 0; i < rt.count; i++) {
        free(rt.dests[i].final);
        free(rt.dests[i].staging);
    }
    if (!ok && to_created)
        rmdir(opts->to); /* only if still empty: never removes anything else */
    free(rt.dests);
    free(rt.roots);
    free(keys);
    keyring_free(keyring);
    restore_index_clear(&ix);
    chain_free(&chain);
    free(meta_path);
    storage_free(st);
    return ok;
}
