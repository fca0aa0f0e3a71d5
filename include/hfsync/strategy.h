/*
 * The backup strategy (DESIGN.md §7, README "Backup strategy"): for each backup, from the change
 * set, the chain it would continue, the history of the previous backup and the user's settings,
 * decide whether to skip it, make an incremental or a full backup, and with which compression
 * level and volume size.
 *
 * strategy_decide() is a pure function: no I/O, no clock, no allocation; everything it uses is in
 * its arguments, so its rules are tested as a table (tests/unit/test_strategy.c). backup_run()
 * gathers the inputs and applies the decision. The rules, in order:
 *
 *   1. a full the caller requires (in->forced_full: --full, no backup yet, ...)   -> full
 *   2. nothing changed                                                            -> skip
 *   3. incrementals off, the chain has max_incrementals, its full is older than
 *      full_interval, or the incremental would be more than full_ratio % of a full -> full
 *   4. fewer than min_changed_files files AND fewer than min_changed_size bytes
 *      changed, fewer than max_skips skips in a row, not a final backup            -> skip
 *   5. otherwise                                                                   -> incremental
 *
 * A skip because nothing changed loses nothing and is not counted against max_skips. Then, for a
 * backup that is made, the compression level and volume size: fixed when the user set them (or
 * the dynamic strategy is off), else chosen as strategy_decide's comment in strategy.c explains,
 * within the user's bounds.
 */
#ifndef HFSYNC_STRATEGY_H
#define HFSYNC_STRATEGY_H

#include <stdbool.h>
#include <stdint.h>

#include "hfsync/config.h"

/* What a fixed level or volume size is when "auto" is asked for without the dynamic strategy. */
#define STRATEGY_DEFAULT_LEVEL 3
#define STRATEGY_DEFAULT_VOLUME_SIZE (256ull << 20)
/* The dynamic volume size is about this much upload time. */
#define STRATEGY_VOLUME_UPLOAD_SEC 60

typedef enum StrategyAction {
    STRATEGY_SKIP = 0,
    STRATEGY_INCREMENTAL,
    STRATEGY_FULL,
} StrategyAction;

/* The scan compared with the previous backup's manifest (all zero but the totals when there is
 * no previous manifest to compare with). */
typedef struct StrategyChanges {
    uint64_t added, changed, deleted; /* entries of every type */
    uint64_t files;       /* of those, files and symlinks (not directories): "changed files" */
    uint64_t store_files; /* regular files added or changed: what an incremental stores */
    uint64_t bytes;       /* their content bytes */
    uint64_t total_entries, total_files, total_bytes; /* the whole state now */
} StrategyChanges;

typedef struct StrategyInput {
    StrategyChanges changes;
    /* Why a full backup is required whatever the rules say ("--full was given", "no backup
     * exists yet", ...); NULL: the latest backup's chain can be continued. */
    const char *forced_full;
    bool final; /* the agent's final backup (--final): never skipped while anything changed */

    /* The chain of the latest backup (meaningful when forced_full is NULL). */
    int64_t chain_incrementals; /* incrementals on its full (the latest's incremental_count) */
    int64_t full_age_sec;       /* now minus its full backup's time */
    uint64_t full_size;         /* stored bytes of its full backup; 0: unknown */
    uint64_t chain_size;        /* stored bytes of the whole chain; 0: unknown */

    /* History: the latest backup's measurements; 0: unknown. */
    int64_t since_prev_sec; /* now minus the latest backup's time */
    double ratio;           /* stored (compressed) bytes per content byte */
    double upload_rate;     /* bytes per second its uploads took */
    int skips;              /* backups skipped in a row so far (not counting "nothing changed") */
} StrategyInput;

typedef struct StrategySettings {
    bool full_only;                               /* HFSYNC_INCREMENTAL=false */
    int max_incrementals;                         /* HFSYNC_MAX_INCREMENTALS */
    int64_t full_interval_sec;                    /* HFSYNC_FULL_INTERVAL; 0: off */
    int full_ratio;                               /* HFSYNC_FULL_RATIO, percent; 0: off */
    uint64_t min_changed_files, min_changed_size; /* HFSYNC_MIN_CHANGED_FILES / _SIZE */
    int max_skips;                                /* HFSYNC_MAX_SKIPS (resolved, >= 0) */

    bool dynamic; /* HFSYNC_DYNAMIC */
    int level;    /* HFSYNC_COMPRESSION_LEVEL; 0: auto */
    int level_min, level_max;
    uint64_t volume_size; /* HFSYNC_VOLUME_SIZE; 0: auto */
    uint64_t volume_min, volume_max;
    uint64_t small_size, large_size;   /* size classes of the bytes to store */
    double high_rate, low_rate;        /* changed files per minute */
    uint64_t slow_upload, fast_upload; /* bytes per second */
} StrategySettings;

typedef struct StrategyDecision {
    StrategyAction action;
    int level;                         /* for a backup made */
    uint64_t volume_size;              /* for a backup made */
    uint64_t store_files, store_bytes; /* files and content bytes the backup stores */
    uint64_t expected_size;            /* its volumes' expected total size */
    uint64_t expected_volumes;
    bool skip_counts; /* a skip that counts against max_skips (not "nothing changed") */
    /* Why, with the numbers behind it: "12 files / 3.4 MiB changed; chain 3/10, full 1h12m old;
     * level 6 (...), volume 256.0 MiB (...)". */
    char reason[640];
} StrategyDecision;

/* The user's settings as Config holds them (HFSYNC_MAX_SKIPS=auto resolved). */
void strategy_settings_from_config(const Config *cfg, StrategySettings *s);

void strategy_decide(const StrategyInput *in, const StrategySettings *s, StrategyDecision *out);

/* "skip", "incremental" or "full". */
const char *strategy_action_name(StrategyAction action);

#endif
