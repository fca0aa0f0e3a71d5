/*
 * Planning a native backup (strategy.h): the checks before it may go on, the change set (the
 * scan compared with the previous manifest), the strategy's inputs from the latest backup's
 * .meta.json, the count of skips in a row, and what `hfsync backup --dry-run` prints.
 *
 * Skips in a row are counted in "strategy.json" in the target's cache dir, against the backup
 * they skipped over: {"latest": "<its .meta.json path>", "skips": n}. Each backup run is a
 * process of its own (the agent runs `hfsync backup` every cycle), so the count must outlive it.
 * A backup moves the pointer on, which makes the count stale: it restarts at 0 without being
 * reset. Losing the file (a fresh container without a persistent cache) restarts it too, which
 * allows at most HFSYNC_MAX_SKIPS more skips; the agent's final backup is never skipped, so a
 * stop loses no change either way.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define PLAN_STATE_FILE "strategy.json"
#define PLAN_STATE_MAX_SIZE (64 * 1024)
/* Uploads smaller than this measure latency more than speed: the last good measurement stays. */
#define PLAN_MIN_MEASURED_UPLOAD (4ull << 20)
/* Content smaller than this says little about how the state compresses. */
#define PLAN_MIN_MEASURED_STORED (64u << 10)

void backup_strategy_input(const BackupMeta *prev, int64_t now, StrategyInput *in)
{
    if (prev == NULL)
        return;
    in->chain_incrementals = prev->incremental_count;
    in->full_age_sec = now - prev->last_full;
    in->full_size = prev->full ? prev->archive_size : prev->full_size;
    in->chain_size = prev->full ? prev->archive_size : prev->chain_size;
    in->since_prev_sec = now - prev->created;
    if (prev->bytes_stored >= PLAN_MIN_MEASURED_STORED)
        in->ratio = (double)prev->archive_size / (double)prev->bytes_stored;
    in->upload_rate = (double)prev->upload_rate;
}

uint64_t backup_upload_rate(const BackupMeta *prev, uint64_t uploaded, int64_t upload_ns)
{
    if (uploaded >= PLAN_MIN_MEASURED_UPLOAD && upload_ns > 0) {
        double rate = (double)uploaded * 1e9 / (double)upload_ns;
        return rate >= 1 ? (uint64_t)rate : 1;
    }
    return prev != NULL ? prev->upload_rate : 0;
}

/*
 * A source root that disappears is far more often a missing mount or a wrong path than a
 * deliberate deletion; recording it would make the next restore delete the state. So: nothing
 * to back up at all is an error, and a source present in the previous backup but gone now stops
 * the backup until the user confirms with --full.
 */
bool backup_check_sources(const Config *cfg, const Manifest *cur, size_t count,
                          const BackupDiff *diff, Error *err)
{
    if (count == 0)
        return error_set(err, ERR_FAIL,
                         "none of the configured sources exists; refusing to "
                         "record an empty state") ||
               error_hint(err, "check HFSYNC_SOURCES and that the directories are mounted");
    for (size_t i = 0; i < diff->prev_root_count; i++) {
        const char *name = diff->prev_roots[i];
        bool configured = false, present = false;
        for (size_t j = 0; j < cfg->source_count && !configured; j++)
            configured = strcmp(cfg->sources[j].name, name) == 0;
        /* The walk names a source in the table only when its root is there. */
        for (size_t j = 0; j < cur->source_count && !present; j++)
            present = strcmp(cur->sources[j], name) == 0;
        if (configured && !present)
            return error_set(err, ERR_FAIL,
                             "source '%s' was in the previous backup but its "
                             "path does not exist now; refusing to record it as deleted",
                             name) ||
                   error_hint(err, "if it was removed on purpose, 'hfsync backup --full' starts "
                                   "a new chain without it");
    }
    return true;
}

/* Encryption is never dropped silently: without a password, a backup does not continue (nor
 * replace by an automatic full) an encrypted chain; --full starts an unencrypted one. */
bool backup_check_encryption(const Config *cfg, const BackupMeta *prev, Error *err)
{
    if (prev == NULL || !prev->encrypted || cfg->password != NULL)
        return true;
    return error_set(err, ERR_USAGE,
                     "the latest backup '%s' is encrypted, but no password is set; refusing to "
                     "back up without encryption",
                     prev->name) ||
           error_hint(err, "set HFSYNC_PASSWORD (or HFSYNC_PASSWORD_FILE) to the password of "
                           "the chain, or run 'hfsync backup --full' to start a new, unencrypted "
                           "chain");
}

void backup_chain_sizes(const BackupMeta *prev, BackupMeta *meta)
{
    if (prev == NULL) { /* a full: a chain of its own */
        meta->full_size = meta->chain_size = meta->archive_size;
        return;
    }
    meta->full_size = prev->full ? prev->archive_size : prev->full_size;
    uint64_t before = prev->full ? prev->archive_size : prev->chain_size;
    meta->chain_size = before > 0 ? before + meta->archive_size : 0;
}

static char *plan_state_path(const Config *cfg)
{
    Error err = {0};
    char *dir = agent_cache_dir(cfg, &err);
    if (dir == NULL) {
        log_warn("cache: %s", err.msg);
        return NULL;
    }
    char *path = path_join(dir, PLAN_STATE_FILE);
    free(dir);
    return path;
}

int backup_skips_load(const Config *cfg, const char *latest)
{
    if (latest == NULL)
        return 0;
    char *path = plan_state_path(cfg);
    char *text = NULL;
    Error err = {0};
    int skips = 0;
    if (path != NULL && fs_read_file(path, PLAN_STATE_MAX_SIZE, &text, NULL, &err)) {
        cJSON *o = cJSON_Parse(text);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "latest");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "skips");
        if (cJSON_IsString(l) && strcmp(l->valuestring, latest) == 0 && cJSON_IsNumber(n) &&
            n->valuedouble >= 0 && n->valuedouble <= 1e9)
            skips = (int)n->valuedouble;
        cJSON_Delete(o);
    }
    free(text);
    free(path);
    return skips;
}

void backup_skips_save(const Config *cfg, const char *latest, int skips)
{
    char *path = plan_state_path(cfg);
    if (path == NULL)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "latest", latest);
    cJSON_AddNumberToObject(o, "skips", skips);
    char *text = cJSON_Print(o);
    Error err = {0};
    if (!fs_write_atomic(path, text, strlen(text), &err))
        log_warn("cache: %s; the count of skipped backups is lost", err.msg);
    cJSON_free(text);
    cJSON_Delete(o);
    free(path);
}

void backup_plan(const Config *cfg, const BackupOpts *opts, const BackupMeta *prev,
                 const StrategyChanges *changes, const char *forced_full, int64_t now,
                 StrategyDecision *plan)
{
    StrategySettings settings;
    strategy_settings_from_config(cfg, &settings);
    StrategyInput in;
    memset(&in, 0, sizeof(in));
    in.changes = *changes;
    in.forced_full = forced_full;
    in.final = opts->final;
    if (forced_full == NULL) {
        backup_strategy_input(prev, now, &in);
        in.skips = backup_skips_load(cfg, prev->path);
    }
    strategy_decide(&in, &settings, plan);
    log_info("decision: %s (%s)%s", strategy_action_name(plan->action), plan->reason,
             opts->dry_run ? " [dry run]" : "");
}

void backup_plan_print(const StrategyDecision *d, const StrategyChanges *c, FILE *out)
{
    char a[32], b[32];
    fprintf(out, "decision: %s (%s)\n", strategy_action_name(d->action), d->reason);
    if (d->action == STRATEGY_SKIP) {
        fprintf(out, "would upload: nothing\n");
        return;
    }
    size_human(d->store_bytes, a);
    fprintf(out,
            "would store: %llu files, %s (%llu added, %llu changed, %llu deleted of %llu "
            "entries)\n",
            (unsigned long long)d->store_files, a,
            (unsigned long long)(d->action == STRATEGY_FULL ? c->total_entries : c->added),
            (unsigned long long)(d->action == STRATEGY_FULL ? 0 : c->changed),
            (unsigned long long)(d->action == STRATEGY_FULL ? 0 : c->deleted),
            (unsigned long long)c->total_entries);
    size_human(d->expected_size, a);
    size_human(d->volume_size, b);
    fprintf(out,
            "would upload: about %s in %llu volume%s (zstd level %d, volume size %s), a "
            "manifest and a .meta.json\n",
            a, (unsigned long long)d->expected_volumes, d->expected_volumes == 1 ? "" : "s",
            d->level, b);
}
