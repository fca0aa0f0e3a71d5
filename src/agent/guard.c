/*
 * Backups and in-place restores under this machine's safety rules (agent.h: guard_backup,
 * guard_restore): the local lock, the writer lease, backups disabled after a failed restore at
 * start, state markers and the restore flag. backup_run and restore_run know none of this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.intern.h"
#include "hfsync/chain.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define GUARD_REASON_SIZE 768

static int64_t guard_now(void)
{
    return time_now_ns() / 1000000000;
}

/* ---- backup ---- */

typedef struct CommitCheck {
    char owner[LEASE_OWNER_SIZE]; /* the lease this backup runs under */
} CommitCheck;

/* Just before the pointer is written: the lease must not have passed to another writer. */
static bool guard_commit_check(void *ctx, Storage *st, Error *err)
{
    const CommitCheck *c = ctx;
    Lease cur;
    bool found;
    if (!lease_read(st, &cur, &found, err))
        return false;
    if (found && lease_live(&cur, guard_now()) && strcmp(cur.owner, c->owner) != 0) {
        char text[400];
        lease_describe(&cur, text, sizeof(text));
        error_set(err, ERR_BUSY,
                  "the writer lease passed to %s; this backup is abandoned and the latest "
                  "backup stays as it was",
                  text);
        return false;
    }
    return true;
}

bool guard_agent_holds(const Config *cfg, char owner[LEASE_OWNER_SIZE], bool *holds, Error *err)
{
    *holds = false;
    if (!agent_record_owner(cfg, owner))
        return true;
    Storage *st = storage_open(cfg, &cfg->target, err);
    if (st == NULL)
        return false;
    Lease cur;
    bool found;
    bool ok = lease_read(st, &cur, &found, err);
    storage_free(st);
    *holds = ok && found && lease_live(&cur, guard_now()) && strcmp(cur.owner, owner) == 0;
    return ok;
}

static bool guard_confirm_lease(void *ctx, bool writes, Error *err)
{
    return keeper_confirm(ctx, writes, err);
}

bool guard_backup(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err)
{
    /* A dry run writes nothing: it needs neither the lock nor the lease, and changes no marker. */
    if (cfg->target.kind == TARGET_NONE || cfg->source_count == 0 || opts->dry_run)
        return backup_run(cfg, opts, res, err); /* which says what is missing */
    memset(res, 0, sizeof(*res));
    AgentLock *lock = agent_lock_take(cfg, "backup", cfg->lock_timeout_sec, err);
    if (lock == NULL)
        return false;
    LeaseKeeper *keeper = NULL;
    bool ok = false;
    char reason[GUARD_REASON_SIZE];
    if (agent_backups_disabled(cfg, reason, sizeof(reason))) {
        if (!opts->force) {
            error_set(err, ERR_BUSY, "backups are disabled on this machine: %s", reason);
            error_hint(err, "restore first ('hfsync restore'), or run 'hfsync backup --force' to "
                            "make the local state the latest backup anyway");
            goto out;
        }
        log_warn("backups were disabled (%s); --force backs up the local state anyway", reason);
    }

    BackupOpts o = *opts;
    CommitCheck check = {{0}};
    if (lease_supported(&cfg->target)) {
        bool agent_holds;
        if (!guard_agent_holds(cfg, check.owner, &agent_holds, err))
            goto out;
        if (agent_holds) {
            log_debug("backup: under the lease of the agent running here");
        } else {
            Lease mine;
            lease_init(&mine, "backup");
            /* Taken on the keeper's thread: its settle pause overlaps the scan and the first
             * volume, and the backup confirms it before the first object it writes is complete. */
            keeper = keeper_start(cfg, &mine, false, err);
            if (keeper == NULL)
                goto out;
            memcpy(check.owner, mine.owner, sizeof(check.owner));
            o.before_write = guard_confirm_lease;
            o.before_write_ctx = keeper;
        }
        o.before_commit = guard_commit_check;
        o.before_commit_ctx = &check;
    }
    /* On the Hub the prune after the backup joins the backup's commit: one commit, and the
     * plan already counts the new backup. */
    bool prune = cfg->keep.prune_auto && !opts->no_prune && !opts->final;
    PruneFold fold = {.cfg = cfg, .owner = check.owner};
    if (prune && cfg->target.kind == TARGET_HF) {
        o.in_commit = prune_fold_stage;
        o.after_commit = prune_fold_done;
        o.commit_ctx = &fold;
    }
    ok = backup_run(cfg, &o, res, err);
    if (ok && res->meta_path[0] != '\0')
        marker_write(cfg, &cfg->target, res->meta_path);
    if (ok && opts->force)
        agent_backups_enable(cfg);
    if (ok && res->created && prune && !fold.called)
        prune_after_backup(cfg, check.owner);
out:
    keeper_stop(keeper);
    agent_lock_release(lock);
    return ok;
}

/* ---- restore ---- */

/* Give another writer's backup in progress (a final backup of the container this one replaces)
 * up to HFSYNC_LEASE_WAIT to finish, so the restore takes its result. Best effort. */
static void guard_wait_for_writer(const Config *cfg, const Target *from)
{
    if (!lease_supported(from) || cfg->lease_wait_sec <= 0)
        return;
    Error err = {0};
    Storage *st = storage_open(cfg, from, &err);
    if (st == NULL)
        return;
    char agent[LEASE_OWNER_SIZE];
    if (!agent_record_owner(cfg, agent))
        agent[0] = '\0';
    int64_t deadline = time_monotonic_ns() + cfg->lease_wait_sec * 1000000000LL;
    bool told = false;
    for (;;) {
        Lease cur;
        bool found;
        if (!lease_read(st, &cur, &found, &err)) {
            log_warn("restore: %s", err.msg);
            break;
        }
        if (!found || !lease_live(&cur, guard_now()) || strcmp(cur.owner, agent) == 0) {
            if (told)
                log_info("restore: the other writer is done");
            break;
        }
        char text[400];
        lease_describe(&cur, text, sizeof(text));
        if (time_monotonic_ns() >= deadline) {
            log_warn("restore: %s is still writing to %s after %llds; restoring its latest "
                     "complete backup anyway",
                     text, from->url, (long long)cfg->lease_wait_sec);
            break;
        }
        if (!told)
            log_info("restore: %s is writing to %s; waiting up to %llds for it to finish", text,
                     from->url, (long long)cfg->lease_wait_sec);
        told = true;
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
    storage_free(st);
}

/* HFSYNC_RESTORE: whether a restore is needed, and why (for the log); *empty: the target has
 * no backup, so there is nothing to restore. */
static bool guard_restore_needed(const Config *cfg, const Target *from, bool *needed, bool *empty,
                                 char *why, size_t why_size, Error *err)
{
    *needed = true;
    *empty = false;
    switch (cfg->restore_policy) {
    case RESTORE_NEVER:
        *needed = false;
        snprintf(why, why_size, "HFSYNC_RESTORE=never");
        return true;
    case RESTORE_ALWAYS:
        snprintf(why, why_size, "HFSYNC_RESTORE=always");
        return true;
    case RESTORE_IF_EMPTY:
        *needed = marker_state_empty(cfg);
        snprintf(why, why_size, "%s (HFSYNC_RESTORE=if-empty)",
                 *needed ? "the sources are empty" : "the sources are not empty");
        return true;
    case RESTORE_AUTO:
        break;
    }
    Storage *st = storage_open(cfg, from, err);
    if (st == NULL)
        return false;
    char *latest = NULL;
    bool ok = pointer_read(st, &latest, err);
    storage_free(st);
    if (!ok)
        return false;
    if (latest == NULL) {
        *needed = false;
        *empty = true;
        snprintf(why, why_size, "the target has no backup yet");
        return true;
    }
    char reason[GUARD_REASON_SIZE];
    MarkerMatch m = marker_check(cfg, from, latest, reason, sizeof(reason));
    *needed = m != MARKER_SAME;
    if (*needed)
        snprintf(why, why_size, "%s", reason);
    else
        snprintf(why, why_size, "the local state is at the latest backup '%s'", latest);
    free(latest);
    return true;
}

const Target *agent_restore_from(const Config *cfg)
{
    /* HFSYNC_RESTORE_REPO (the script's OPENCLAW_RESTORE_DATASET_REPO) is a separate restore
     * source; when it holds no backup, the backup target is used, as the script does. Decided
     * once per process. */
    static const Config *decided_for;
    static const Target *decided;
    if (cfg->restore_target.kind == TARGET_NONE || cfg->target.kind == TARGET_NONE)
        return cfg->restore_target.kind != TARGET_NONE ? &cfg->restore_target : &cfg->target;
    if (decided_for == cfg)
        return decided;
    Error e = {0};
    char *latest = NULL;
    Storage *st = storage_open(cfg, &cfg->restore_target, &e);
    bool has = st != NULL && pointer_read(st, &latest, &e) && latest != NULL;
    bool unknown = !has && e.code != ERR_NONE && e.code != ERR_NOT_FOUND;
    free(latest);
    storage_free(st);
    decided_for = cfg;
    decided = has || unknown ? &cfg->restore_target : &cfg->target; /* errors show in the restore */
    if (decided == &cfg->target)
        log_info("restore: %s holds no backup; restoring from %s instead", cfg->restore_target.url,
                 cfg->target.url);
    return decided;
}

bool guard_restore(const Config *cfg, const RestoreOpts *opts, bool if_needed, RestoreResult *res,
                   Error *err)
{
    const Target *from = agent_restore_from(cfg);
    if ((opts->to != NULL && !if_needed) || from->kind == TARGET_NONE)
        return restore_run(cfg, opts, res, err); /* live data untouched, or nothing to use */
    memset(res, 0, sizeof(*res));
    if (if_needed)
        agent_restore_flag(cfg, false);
    bool ok = false;
    AgentLock *lock = agent_lock_take(cfg, "restore", cfg->lock_timeout_sec, err);
    if (lock == NULL)
        goto out;
    guard_wait_for_writer(cfg, from);
    if (if_needed) {
        bool needed, empty;
        char why[GUARD_REASON_SIZE];
        if (!guard_restore_needed(cfg, from, &needed, &empty, why, sizeof(why), err))
            goto out;
        log_info("restore at start: %s; %s", why,
                 empty    ? "nothing to restore"
                 : needed ? "restoring"
                          : "no restore needed");
        if (!needed) {
            res->skipped = !empty;
            ok = true;
            goto out;
        }
    }
    ok = restore_run(cfg, opts, res, err);
    if (ok && res->restored)
        marker_write(cfg, from, res->meta_path);
out:
    agent_lock_release(lock);
    if (ok) {
        agent_backups_enable(cfg);
        agent_restore_flag(cfg, true);
    } else if (if_needed) {
        char reason[GUARD_REASON_SIZE];
        snprintf(reason, sizeof(reason), "the restore at start failed: %.600s", err->msg);
        agent_backups_disable(cfg, reason);
    }
    return ok;
}
