/*
 * hfsync prune, second half (agent.h, prune.intern.h): carry the plan out. Deletes go in two
 * batches, every .meta.json first (chains oldest first, each newest to oldest), then the other
 * objects, so an interrupted prune leaves no backup that looks complete but lacks data, and what
 * remains of a chain is a whole, shorter chain. Where writes are commits (the Hub), both batches
 * are one commit, and the history is squashed after it as HFSYNC_HF_SQUASH says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "prune.intern.h"

typedef struct PathList {
    const char **v;
    size_t count;
} PathList;

static void pathlist_add(PathList *l, const char *path)
{
    l->v = x_realloc(l->v, (l->count + 1) * sizeof(*l->v));
    l->v[l->count++] = path;
}

static void prune_add_objects(const Prune *p, const PruneBackup *b, PathList *rest,
                              PruneResult *res)
{
    for (size_t o = b->obj; o < b->obj + b->obj_count; o++) {
        if (p->objs[o].kind != PRUNE_OBJ_META)
            pathlist_add(rest, p->objs[o].path);
        res->objects_deleted++;
        res->bytes_deleted += p->objs[o].size;
    }
}

/* The plan's deletions in their order: every .meta.json first (chains oldest first, each newest
 * to oldest), then the other objects; counted into `res`. */
static void prune_collect(const Prune *p, PathList *metas, PathList *rest, PruneResult *res)
{
    for (size_t c = 0; c < p->chain_count; c++) {
        const PruneChain *ch = &p->chains[c];
        if (ch->decision.keep || ch->delete_count == 0)
            continue;
        res->chains_deleted++;
        for (size_t m = ch->count; m-- > 0 && prune_member_deleted(ch, m);) {
            const PruneBackup *b = &p->backups[ch->members[m]];
            pathlist_add(metas, b->meta_path);
            prune_add_objects(p, b, rest, res);
            res->backups_deleted++;
        }
    }
    for (size_t i = 0; i < p->incomplete_delete; i++) {
        prune_add_objects(p, &p->backups[p->incomplete[i]], rest, res);
        res->incomplete_deleted++;
    }
    for (size_t i = 0; i < p->checkpoint_count; i++) {
        const PruneObject *o = &p->objs[p->checkpoints[i]];
        pathlist_add(rest, o->path);
        res->objects_deleted++;
        res->bytes_deleted += o->size;
    }
}

static bool prune_refuse_foreign(const Prune *p, PruneResult *res, Error *err)
{
    memset(res, 0, sizeof(*res));
    return error_set(err, ERR_BUSY,
                     "%s holds the writer lease; prune deletes nothing while another writer "
                     "is active",
                     p->foreign_text) ||
           error_hint(err, "run it again when that writer is done");
}

/* Stage the deletions: in a transaction they wait for its commit, else they happen now. */
static bool prune_delete(Prune *p, const PathList *metas, const PathList *rest, Error *err)
{
    return (metas->count == 0 || storage_delete(p->st, metas->v, metas->count, err)) &&
           (rest->count == 0 || storage_delete(p->st, rest->v, rest->count, err));
}

/* What was deleted, and the space given back where the history keeps deleted data. */
static void prune_done(Storage *st, bool quiet, const PruneResult *res)
{
    char bytes[32];
    size_human(res->bytes_deleted, bytes);
    char line[400];
    snprintf(line, sizeof(line),
             "deleted %zu backup%s of %zu chain%s and %zu incomplete backup%s: %zu object%s, %s",
             res->backups_deleted, res->backups_deleted == 1 ? "" : "s", res->chains_deleted,
             res->chains_deleted == 1 ? "" : "s", res->incomplete_deleted,
             res->incomplete_deleted == 1 ? "" : "s", res->objects_deleted,
             res->objects_deleted == 1 ? "" : "s", bytes);
    if (quiet)
        log_info("prune: %s", line);
    else
        printf("%s\n", line);
    char reason[64];
    snprintf(reason, sizeof(reason), "pruned %zu backup%s",
             res->backups_deleted + res->incomplete_deleted,
             res->backups_deleted + res->incomplete_deleted == 1 ? "" : "s");
    Error e = {0};
    if (!storage_reclaim(st, reason, &e))
        log_warn("prune: the deletions are done, but giving their space back failed: %s", e.msg);
}

static bool prune_apply(Prune *p, bool quiet, PruneResult *res, Error *err)
{
    PathList metas = {0}, rest = {0};
    prune_collect(p, &metas, &rest, res);
    bool ok = true;
    if (metas.count + rest.count == 0)
        goto out;
    if (p->foreign) {
        ok = prune_refuse_foreign(p, res, err);
        goto out;
    }
    char summary[160];
    snprintf(summary, sizeof(summary), "hfsync prune: %zu backup%s of %zu chain%s, %zu incomplete",
             res->backups_deleted, res->backups_deleted == 1 ? "" : "s", res->chains_deleted,
             res->chains_deleted == 1 ? "" : "s", res->incomplete_deleted);
    ok = storage_begin(p->st, err) && prune_delete(p, &metas, &rest, err) &&
         storage_commit(p->st, summary, err);
    if (!ok) {
        storage_abort(p->st);
        error_prefix(err, "prune");
        error_hint(err, "what was deleted leaves whole chains; the next prune goes on from there");
        goto out;
    }
    prune_done(p->st, quiet, res);
out:
    free(metas.v);
    free(rest.v);
    return ok;
}

bool prune_run(const Config *cfg, const PruneOpts *opts, PruneResult *res, Error *err)
{
    memset(res, 0, sizeof(*res));
    Prune p;
    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.now = agent_now(cfg);
    p.st = storage_open(cfg, &cfg->target, err);
    if (p.st == NULL)
        return false;
    bool ok = prune_plan(&p, opts->owner, err);
    if (ok) {
        prune_print(&p, opts->dry_run, opts->quiet);
        res->chains = p.chain_count;
        for (size_t c = 0; c < p.chain_count; c++)
            res->chains_kept += p.chains[c].decision.keep;
        res->limited = p.limited;
        if (!opts->dry_run)
            ok = prune_apply(&p, opts->quiet, res, err);
        if (ok)
            prune_uploads(&p, opts->dry_run, opts->quiet, res);
    }
    prune_free(&p);
    storage_free(p.st);
    return ok;
}

bool guard_prune(const Config *cfg, const PruneOpts *opts, PruneResult *res, Error *err)
{
    if (opts->dry_run || cfg->target.kind == TARGET_NONE)
        return prune_run(cfg, opts, res, err); /* reads only, or says what is missing */
    memset(res, 0, sizeof(*res));
    AgentLock *lock = agent_lock_take(cfg, "prune", cfg->lock_timeout_sec, err);
    if (lock == NULL)
        return false;
    LeaseKeeper *keeper = NULL;
    char owner[LEASE_OWNER_SIZE] = "";
    bool ok = false;
    if (lease_supported(&cfg->target)) {
        bool agent_holds;
        if (!guard_agent_holds(cfg, owner, &agent_holds, err))
            goto out;
        if (agent_holds) {
            log_debug("prune: under the lease of the agent running here");
        } else {
            Lease mine;
            lease_init(&mine, "prune");
            keeper = keeper_start(cfg, &mine, true, err);
            if (keeper == NULL)
                goto out;
            memcpy(owner, mine.owner, sizeof(owner));
        }
    }
    PruneOpts o = *opts;
    o.owner = owner;
    ok = prune_run(cfg, &o, res, err);
out:
    keeper_stop(keeper);
    agent_lock_release(lock);
    return ok;
}

/* Folded into the backup's commit (BackupOpts.in_commit): the plan is made on the target as the
 * commit will leave it (the transaction's reads see its own writes) and its deletions join the
 * commit. A plan that cannot be made is a warning: the backup goes on without them. */
void prune_fold_stage(void *ctx, Storage *st)
{
    PruneFold *f = ctx;
    memset(&f->res, 0, sizeof(f->res));
    f->staged = false;
    f->called = true;
    Prune p;
    memset(&p, 0, sizeof(p));
    p.cfg = f->cfg;
    p.now = agent_now(f->cfg);
    p.st = st;
    Error err = {0};
    PathList metas = {0}, rest = {0};
    if (!prune_plan(&p, f->owner, &err)) {
        log_warn("prune with the backup failed (the backup goes on without it): %s", err.msg);
        goto out;
    }
    prune_print(&p, false, true);
    prune_collect(&p, &metas, &rest, &f->res);
    if (metas.count + rest.count == 0)
        goto out;
    if (p.foreign) {
        prune_refuse_foreign(&p, &f->res, &err);
        log_warn("prune with the backup: %s", err.msg);
        goto out;
    }
    if (!prune_delete(&p, &metas, &rest, &err)) {
        memset(&f->res, 0, sizeof(f->res));
        log_warn("prune with the backup failed (the backup goes on without it): %s", err.msg);
        goto out;
    }
    f->staged = true;
out:
    free(metas.v);
    free(rest.v);
    prune_free(&p);
}

void prune_fold_done(void *ctx, Storage *st)
{
    PruneFold *f = ctx;
    if (f->staged)
        prune_done(st, true, &f->res);
}

void prune_after_backup(const Config *cfg, const char *owner)
{
    PruneOpts o = {.quiet = true, .owner = owner};
    PruneResult r;
    Error err = {0};
    if (!prune_run(cfg, &o, &r, &err))
        log_warn("prune after the backup failed (the backup itself is complete): %s", err.msg);
}
