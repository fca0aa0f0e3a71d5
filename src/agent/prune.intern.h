/*
 * Prune internals shared by its files: prune_plan.c reads the target and decides (listing,
 * grouping objects into backups and backups into chains, retention, stale objects, the
 * HFSYNC_PRUNE_MAX budget), with prune_cache.c's local copy of the metadata; prune_print.c writes
 * the plan for people; prune.c carries the plan out (ordering, batching, the commit) and holds the
 * entry points; prune_uploads.c aborts multipart uploads left by crashed writers.
 *
 * A Prune owns everything in it; prune_free() releases it all.
 */
#ifndef HFSYNC_PRUNE_INTERN_H
#define HFSYNC_PRUNE_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/agent.h"
#include "hfsync/lease.h"
#include "hfsync/retention.h"

typedef enum PruneObjKind { PRUNE_OBJ_DATA = 0, PRUNE_OBJ_META, PRUNE_OBJ_CHECKPOINT } PruneObjKind;

typedef struct PruneObject {
    char *path; /* target-relative */
    char *key;  /* the backup it belongs to: its name as in "<key>.meta.json" */
    uint64_t size;
    PruneObjKind kind;
} PruneObject;

/* All objects of one backup name on the target, whether or not it completed. */
typedef struct PruneBackup {
    const char *key;
    int64_t stamp;         /* the time in its name, epoch seconds */
    size_t obj, obj_count; /* its objects: Prune.objs[obj .. obj + obj_count) */
    uint64_t size;
    const char *meta_path;       /* its .meta.json, NULL when there is none */
    const char *checkpoint_path; /* its .checkpoint.json, NULL when there is none */
    BackupMeta *meta;            /* loaded .meta.json (NULL: none, or unreadable) */
    bool unreadable;             /* the .meta.json exists but is not a valid one */
    size_t uf;                   /* union-find parent while grouping into chains */
    size_t chain;                /* index of its chain (loaded backups only) */
} PruneBackup;

typedef struct PruneChain {
    size_t *members; /* indices into Prune.backups, oldest first */
    size_t count;
    RetentionBackup *rb; /* the members for retention_plan */
    bool latest;
    bool broken;  /* a member's parent does not exist */
    bool damaged; /* a member's parent has an unreadable .meta.json: always kept */
    uint64_t size;
    int64_t newest; /* creation time of its newest member */
    RetentionDecision decision;
    size_t delete_count; /* members deleted by this run, newest first */
} PruneChain;

typedef struct Prune {
    const Config *cfg;
    Storage *st;
    int64_t now;
    char *latest; /* the pointer's .meta.json path */
    RetentionRules rules;

    PruneObject *objs; /* sorted by key, then path */
    size_t obj_count, obj_cap;
    PruneBackup *backups; /* sorted by key */
    size_t backup_count;
    PruneChain *chains; /* oldest first (by newest member) */
    size_t chain_count;

    size_t *incomplete; /* backups without .meta.json old enough to go, oldest first */
    size_t incomplete_count;
    size_t incomplete_delete; /* how many of them this run deletes (HFSYNC_PRUNE_MAX) */
    size_t *young;            /* incomplete backups too young to go (for the plan) */
    size_t young_count;
    size_t *checkpoints; /* stale checkpoint objects of completed backups (Prune.objs indices) */
    size_t checkpoint_count;

    bool foreign; /* another writer's lease is live */
    char foreign_text[400];
    bool limited; /* HFSYNC_PRUNE_MAX held something back */
} Prune;

/* The local copy of the target's .meta.json files (prune_cache.c): downloaded once each, since
 * they never change; checked against the listed size. */
struct cJSON;
typedef struct PruneCache {
    char *path;         /* the cache file; NULL: no cache */
    struct cJSON *old;  /* what the file held */
    struct cJSON *keep; /* what it will hold: the metas on the target now */
    size_t hits;
} PruneCache;

void prune_cache_open(PruneCache *c, const Config *cfg);
/* The .meta.json at `path` of `size` bytes (as listed); fails like meta_load(). */
BackupMeta *prune_cache_meta(PruneCache *c, Storage *st, const char *path, uint64_t size,
                             Error *err);
/* With `save`, the file is rewritten to hold the metas loaded since prune_cache_open(). */
void prune_cache_close(PruneCache *c, bool save);

/* List the target and build backups, chains and the plan (retention, stale objects, the
 * HFSYNC_PRUNE_MAX budget). `owner`: the lease this run holds ("" or NULL: none). */
bool prune_plan(Prune *p, const char *owner, Error *err);
/* The plan for people: one line per chain and per incomplete backup, then a summary. With
 * `to_log` the lines go to the log (only what is deleted at info level). */
void prune_print(const Prune *p, bool dry_run, bool to_log);
void prune_free(Prune *p);
/* Unfinished multipart uploads under the prefix (prune_uploads.c): those started more than
 * HFSYNC_STALE_AFTER before p->now are aborted (listed only, with `dry_run`); nothing while
 * another writer's lease is live. Never fails the prune: problems are logged. */
void prune_uploads(const Prune *p, bool dry_run, bool to_log, PruneResult *res);

/* Whether member `i` (0: the oldest) of chain `c` is deleted by this run: the newest
 * c->delete_count members are. */
static inline bool prune_member_deleted(const PruneChain *c, size_t i)
{
    return i + c->delete_count >= c->count;
}

#endif
