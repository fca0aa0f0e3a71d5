/*
 * Restore and verify with memory that does not grow with the manifest: the target manifest is
 * streamed once into an EntrySpool, checked as it comes; then the file entries are partitioned by
 * the (backup, volume) that holds them, a group of volumes per pass over the spool, and each
 * volume is merge-joined with its part (volume.c). Members of a volume are in manifest order
 * (a backup stores its entries in that order), and so is each part.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/spool.h"
#include "hfsync/util.h"

#define RESTORE_MAX_TABLE 65535
/* A part's spool: small, since up to RESTORE_VOLUME_GROUP of them are open at once. */
#define RESTORE_PART_MEMORY (64 * 1024)

size_t restore_spool_memory = 16 * 1024 * 1024;

/* HFSYNC_TEST_SPOOL_MEMORY (tests only) lowers the budget so the spool file is used. */
static size_t restore_spool_size(void)
{
    const char *v = getenv("HFSYNC_TEST_SPOOL_MEMORY");
    if (v != NULL && v[0] != '\0') {
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end == '\0' && n > 0)
            return (size_t)n;
        log_warn("HFSYNC_TEST_SPOOL_MEMORY: '%s' is not a number of bytes; ignored", v);
    }
    return restore_spool_memory;
}

void restore_index_clear(RestoreIndex *ix)
{
    manifest_free(ix->tables);
    spool_free(ix->spool);
    memset(ix, 0, sizeof(*ix));
}

bool restore_index_load(RestoreIndex *ix, const Config *cfg, Storage *st, const BackupMeta *meta,
                        const CryptoKey *key, RestoreIndexVisit visit, void *ctx, Error *err)
{
    memset(ix, 0, sizeof(*ix));
    ix->tables = manifest_new(meta->name);
    ix->spool = spool_new(cfg->work_dir, restore_spool_size());
    ManifestStream *s = manifest_stream_open(cfg, st, meta, key, err);
    if (s == NULL)
        return false;
    ManifestWalk *walk = manifest_walk_new(NULL, NULL);
    ManifestEntry e;
    const char *source, *ref;
    bool prefix = false; /* an error of the manifest, not named yet */
    int r;
    while ((r = manifest_stream_next(s, &e, &source, &ref, err)) > 0) {
        Manifest *t = ix->tables;
        if (t->source_count >= RESTORE_MAX_TABLE || t->ref_count >= RESTORE_MAX_TABLE) {
            error_set(err, ERR_CORRUPT, "too many sources or refs");
            prefix = true;
            r = -1;
            break;
        }
        if (!manifest_walk_next(walk, source, &e, err)) {
            prefix = true;
            r = -1;
            break;
        }
        e.source = manifest_source_index(t, source);
        e.ref = manifest_ref_index(t, ref);
        if (e.type == ENTRY_FILE) {
            ix->files++;
            ix->bytes += e.size;
        }
        if ((visit != NULL && !visit(ctx, ix, &e, err)) || !spool_add(ix->spool, &e, err)) {
            r = -1;
            break;
        }
    }
    if (r == 0 && !manifest_walk_end(walk, err))
        r = -1;
    manifest_walk_free(walk);
    manifest_stream_free(s);
    if (prefix)
        error_prefix(err, "manifest '%s'", meta->manifest_name);
    if (r == 0 && spool_on_disk(ix->spool))
        log_debug("manifest of '%s': %zu entries, past the spool's memory: kept in a file in '%s'",
                  meta->name, spool_count(ix->spool), cfg->work_dir);
    return r == 0;
}

/* The volumes one pass partitions: slot[k][v] is the part of backup k's volume v, or -1. */
typedef struct PartGroup {
    int32_t **slot;
    struct {
        size_t k;
        uint32_t v;
        EntrySpool *sp;
    } part[RESTORE_VOLUME_GROUP];
    size_t count;
} PartGroup;

static bool file_error(const RestoreIndex *ix, const ManifestEntry *e, const char *why, Error *err)
{
    return error_set(err, ERR_CORRUPT, "manifest of '%s': file '%s/%s' %s", ix->tables->backup,
                     ix->tables->sources[e->source], e->path, why);
}

/* One pass: which volumes hold files (need[k][v]), checking every file's ref and volume. */
static bool plan_needs(RestoreIndex *ix, const RestoreVolumes *rv, const int32_t *ref_chain,
                       uint8_t **need, Error *err)
{
    ManifestEntry e;
    int r = spool_rewind(ix->spool, err) ? 1 : -1;
    while (r > 0 && (r = spool_next(ix->spool, &e, err)) > 0) {
        if (e.type != ENTRY_FILE)
            continue;
        int32_t k = ref_chain[e.ref];
        char why[600];
        if (k < 0 && !rv->every_file)
            continue;
        if (k < 0) {
            snprintf(why, sizeof(why), "is in backup '%.256s', which is not in the chain",
                     ix->tables->refs[e.ref]);
            return file_error(ix, &e, why, err);
        }
        const BackupMeta *bm = rv->metas[k];
        if (e.volume == 0 || e.volume > bm->volume_count) {
            snprintf(why, sizeof(why), "is in volume %u of backup '%s', which has %zu", e.volume,
                     bm->name, bm->volume_count);
            return file_error(ix, &e, why, err);
        }
        need[k][e.volume] = 1;
    }
    return r == 0;
}

/* One pass: the files of the group's volumes into their parts. */
static bool plan_partition(RestoreIndex *ix, const int32_t *ref_chain, PartGroup *g, Error *err)
{
    ManifestEntry e;
    int r = spool_rewind(ix->spool, err) ? 1 : -1;
    while (r > 0 && (r = spool_next(ix->spool, &e, err)) > 0) {
        if (e.type != ENTRY_FILE || ref_chain[e.ref] < 0)
            continue;
        int32_t s = g->slot[ref_chain[e.ref]][e.volume];
        if (s >= 0 && !spool_add(g->part[s].sp, &e, err))
            r = -1;
    }
    return r == 0;
}

static bool run_group(RestoreIndex *ix, const RestoreVolumes *rv, const int32_t *ref_chain,
                      PartGroup *g, VolumeJob *job, Error *err)
{
    bool ok = plan_partition(ix, ref_chain, g, err);
    job->all_state = 0; /* the partition pass moved the spool's cursor */
    for (size_t i = 0; ok && i < g->count; i++) {
        size_t k = g->part[i].k;
        job->meta = rv->metas[k];
        job->key = rv->keys[k];
        job->own = rv->metas[k] == rv->own;
        job->expect = g->part[i].sp;
        ok = spool_rewind(job->expect, err) && volume_process(job, g->part[i].v, err);
    }
    for (size_t i = 0; i < g->count; i++) {
        spool_free(g->part[i].sp);
        g->slot[g->part[i].k][g->part[i].v] = -1;
    }
    g->count = 0;
    job->expect = NULL;
    return ok;
}

bool restore_index_volumes(RestoreIndex *ix, const RestoreVolumes *rv, VolumeJob *job, Error *err)
{
    const Manifest *t = ix->tables;
    int32_t *ref_chain = x_malloc((t->ref_count + 1) * sizeof(int32_t));
    for (size_t j = 0; j < t->ref_count; j++) {
        ref_chain[j] = -1;
        for (size_t k = 0; k < rv->count; k++)
            if (strcmp(t->refs[j], rv->metas[k]->name) == 0)
                ref_chain[j] = (int32_t)k;
    }
    uint8_t **need = x_calloc(rv->count, sizeof(uint8_t *));
    PartGroup g = {.slot = x_calloc(rv->count, sizeof(int32_t *))};
    for (size_t k = 0; k < rv->count; k++) {
        need[k] = x_calloc(rv->metas[k]->volume_count + 1, 1);
        g.slot[k] = x_malloc((rv->metas[k]->volume_count + 1) * sizeof(int32_t));
        for (size_t v = 0; v <= rv->metas[k]->volume_count; v++)
            g.slot[k][v] = -1;
    }
    job->tables = t;
    job->all = ix->spool;
    bool ok = plan_needs(ix, rv, ref_chain, need, err);
    for (size_t k = 0; ok && k < rv->count; k++) {
        for (uint32_t v = 1; ok && v <= rv->metas[k]->volume_count; v++) {
            if (!need[k][v])
                continue;
            size_t i = g.count++;
            g.part[i].k = k;
            g.part[i].v = v;
            g.part[i].sp = spool_new(job->cfg->work_dir, RESTORE_PART_MEMORY);
            g.slot[k][v] = (int32_t)i;
            if (g.count == RESTORE_VOLUME_GROUP)
                ok = run_group(ix, rv, ref_chain, &g, job, err);
        }
    }
    if (ok && g.count > 0)
        ok = run_group(ix, rv, ref_chain, &g, job, err);
    for (size_t i = 0; i < g.count; i++) /* left by a failure while filling a group */
        spool_free(g.part[i].sp);
    for (size_t k = 0; k < rv->count; k++) {
        free(need[k]);
        free(g.slot[k]);
    }
    free(need);
    free(g.slot);
    free(ref_chain);
    job->all = NULL;
    return ok;
}
