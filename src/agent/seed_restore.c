/*
 * Restoring a chain of the original script's backups (reference/seed-format.md "Restore, as the
 * script does it", without its deviations): the full backup's archive, then each incremental's
 * in order, extracted over one merged tree built in a staging path beside each archive root's
 * destination; only when every archive extracted and matched its checksum are the staging trees
 * swapped in. Any failure removes them and leaves live data untouched.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "seed.intern.h"

typedef struct SeedRestore {
    const Config *cfg;
    const RestoreOpts *opts;
    char **names; /* archive roots seen, in order; skipped ones have a NULL dest */
    Dest **dests;
    size_t count;
} SeedRestore;

static const char *seed_configured_path(const Config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->source_count; i++)
        if (strcmp(cfg->sources[i].name, name) == 0)
            return cfg->sources[i].path;
    return NULL;
}

/* SeedRootFn: where root `name` goes. In place it is its configured source (a destination that
 * is a symlink is restored where it points, as a backup reads it); with --to, DIR/name. */
static bool seed_root(void *ctx, const char *name, const char **staging, Error *err)
{
    SeedRestore *r = ctx;
    *staging = NULL;
    char *final = NULL;
    if (r->opts->to != NULL) {
        final = path_join(r->opts->to, name);
    } else {
        const char *p = seed_configured_path(r->cfg, name);
        if (p == NULL && r->cfg->openclaw && strcmp(name, "root-npm") == 0) {
            log_info("restore: skipping archive root 'root-npm' (OPENCLAW_BACKUP_NPM_ENABLED is "
                     "false)");
        } else if (p == NULL) {
            return error_set(err, ERR_USAGE,
                             "the backup holds archive root '%s', which is not configured here",
                             name) ||
                   error_hint(err,
                              "add it to HFSYNC_SOURCES (%s:/path), or to the script's "
                              "OPENCLAW_BACKUP_EXTRA_DIRS / OPENCLAW_BACKUP_EXTRA_FILES, or "
                              "restore with --to DIR",
                              name);
        } else {
            char real[PATH_MAX];
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode) && realpath(p, real) != NULL)
                final = x_strdup(real);
            else
                final = x_strdup(p);
        }
    }
    Dest *d = NULL;
    if (final != NULL) {
        if (strcmp(final, "/") == 0) {
            free(final);
            return error_set(err, ERR_USAGE, "refusing to restore archive root '%s' over '/'",
                             name);
        }
        d = x_calloc(1, sizeof(*d));
        d->final = final;
        d->staging = restore_staging_path(final);
    }
    r->names = x_realloc(r->names, (r->count + 1) * sizeof(char *));
    r->dests = x_realloc(r->dests, (r->count + 1) * sizeof(Dest *));
    r->names[r->count] = x_strdup(name);
    r->dests[r->count++] = d;
    if (d == NULL)
        return true;
    char *parent = x_strdup(d->final);
    *strrchr(parent, '/') = '\0';
    bool ok = fs_mkdir_p(parent[0] ? parent : "/", 0755, err) && fs_remove_tree(d->staging, err);
    free(parent);
    if (ok)
        *staging = d->staging;
    return ok;
}

/* One archive of the chain into the tree. */
static bool seed_restore_one(SeedRestore *r, Storage *st, SeedTree *tree, unsigned k,
                             const BackupMeta *meta, Progress *progress, Error *err)
{
    SeedArchive *a = seed_archive_open(r->cfg, st, meta, err);
    if (a == NULL)
        return error_prefix(err, "backup %s", meta->name);
    TarReader *tr = seed_archive_tar(a);
    bool ok = true;
    for (;;) {
        TarMember m;
        int rc = tar_reader_next(tr, &m, err);
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        if (!seed_tree_member(tree, k, tr, &m, err)) {
            ok = false;
            break;
        }
        uint64_t files, bytes;
        seed_tree_counts(tree, &files, &bytes);
        progress_update(progress, files, bytes);
    }
    if (ok)
        ok = seed_archive_finish(a, err);
    else if (err->code == ERR_CORRUPT || err->code == ERR_UNSAFE)
        seed_archive_diagnose(a, err); /* damage is the cause when the checksum says so */
    seed_archive_free(a);
    if (!ok)
        error_prefix(err, "backup %s", meta->name);
    return ok;
}

bool seed_restore(const Config *cfg, Storage *st, const RestoreOpts *opts, const Chain *chain,
                  RestoreResult *res, Error *err)
{
    int64_t t0 = time_monotonic_ns();
    const BackupMeta *target = chain->metas[chain->count - 1];
    SeedRestore r = {.cfg = cfg, .opts = opts};
    SeedTree *tree = seed_tree_new(cfg, seed_root, &r);
    Dest *swap = NULL;
    size_t swap_count = 0;
    bool ok = false;

    log_info("restore %s: the original script's format, chain of %zu backup%s%s%s", target->name,
             chain->count, chain->count == 1 ? "" : "s", opts->to ? " into " : "",
             opts->to ? opts->to : "");
    if (chain->count > 1)
        log_warn("restore %s: the script's incremental backups record no deletions: files deleted "
                 "since the full backup %s may reappear",
                 target->name, chain->metas[0]->name);
    uint64_t total_files = 0;
    for (size_t k = 0; k < chain->count; k++)
        total_files += chain->metas[k]->file_count;
    Progress progress;
    progress_begin(&progress, cfg, "restore", total_files, 0);
    for (size_t k = 0; k < chain->count; k++)
        if (!seed_restore_one(&r, st, tree, (unsigned)k, chain->metas[k], &progress, err))
            goto out;
    if (!seed_tree_finish(tree, err))
        goto out;
    /* Roots with something built (one whose only members were skipped has nothing). */
    swap = x_calloc(r.count + 1, sizeof(Dest));
    for (size_t i = 0; i < r.count; i++) {
        struct stat sb;
        if (r.dests[i] != NULL && lstat(r.dests[i]->staging, &sb) == 0)
            swap[swap_count++] = *r.dests[i];
    }
    if (swap_count == 0)
        log_warn("restore %s: its archives hold nothing to restore here", target->name);
    if (!restore_swap(swap, swap_count, err)) {
        for (size_t i = 0; i < swap_count; i++) /* put back what was swapped: all or nothing */
            if (swap[i].swapped)
                renameat2(AT_FDCWD, swap[i].staging, AT_FDCWD, swap[i].final, RENAME_EXCHANGE);
        goto out;
    }
    res->restored = true;
    seed_tree_counts(tree, &res->files, &res->bytes);
    res->duration_ms = (time_monotonic_ns() - t0) / 1000000;
    char bytes_h[32];
    size_human(res->bytes, bytes_h);
    log_info("restore %s done: %llu files (%s) from %zu archive%s in %.1f s", target->name,
             (unsigned long long)res->files, bytes_h, chain->count, chain->count == 1 ? "" : "s",
             (double)res->duration_ms / 1000.0);
    ok = true;
out:
    /* After a swap the staging paths hold the old trees; before it, the partial new ones. */
    for (size_t i = 0; i < r.count; i++) {
        if (r.dests[i] != NULL) {
            restore_cleanup(r.dests[i], 1);
            free(r.dests[i]->final);
            free(r.dests[i]->staging);
            free(r.dests[i]);
        }
        free(r.names[i]);
    }
    free(r.dests);
    free(r.names);
    free(swap);
    seed_tree_free(tree);
    return ok;
}
