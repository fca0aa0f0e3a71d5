/*
 * Prune's local copy of the target's .meta.json files (prune.intern.h). Prune runs after every
 * backup and needs every backup's metadata; a .meta.json never changes once written, so each is
 * downloaded once and kept in "prune-metas.json" in the target's cache dir, keyed by its path and
 * checked against the size the listing reports. The file is rewritten after each run with only
 * the metas still on the target. Best effort: without a cache dir, or when the file cannot be
 * read or written, everything is downloaded as before.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "prune.intern.h"

#define PRUNE_CACHE_FILE "prune-metas.json"
#define PRUNE_CACHE_MAX_SIZE (256u << 20)

void prune_cache_open(PruneCache *c, const Config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->keep = cJSON_CreateObject();
    if (cfg->cache_dir == NULL || cfg->target.url == NULL)
        return;
    Error err = {0};
    char *dir = agent_cache_dir(cfg, &err);
    if (dir == NULL) {
        log_debug("prune: no local copy of the metadata: %s", err.msg);
        return;
    }
    c->path = path_join(dir, PRUNE_CACHE_FILE);
    free(dir);
    char *text = NULL;
    if (fs_exists(c->path) && fs_read_file(c->path, PRUNE_CACHE_MAX_SIZE, &text, NULL, &err))
        c->old = cJSON_Parse(text);
    free(text);
}

/* Load the .meta.json at `path` of `size` bytes: the local copy when it has that size, else
 * from the target (and then copied). Fails like meta_load(). */
BackupMeta *prune_cache_meta(PruneCache *c, Storage *st, const char *path, uint64_t size,
                             Error *err)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(c->old, path);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "size");
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, "json");
    if (cJSON_IsNumber(s) && (uint64_t)s->valuedouble == size && cJSON_IsString(j) &&
        strlen(j->valuestring) == size) {
        Error perr = {0};
        BackupMeta *m = meta_parse(j->valuestring, path, &perr);
        if (m != NULL) {
            cJSON_AddItemToObject(c->keep, path, cJSON_Duplicate(e, true));
            c->hits++;
            return m;
        }
    }
    char *text = NULL;
    size_t n = 0;
    if (!storage_get(st, path, META_MAX_SIZE, &text, &n, err)) {
        error_prefix(err, "backup metadata '%s'", path);
        return NULL;
    }
    BackupMeta *m = meta_parse(text, path, err);
    if (m == NULL) {
        error_prefix(err, "backup metadata '%s'", path);
    } else if (n == size && strlen(text) == n) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "size", (double)n);
        cJSON_AddStringToObject(o, "json", text);
        cJSON_AddItemToObject(c->keep, path, o);
    }
    free(text);
    return m;
}

void prune_cache_close(PruneCache *c, bool save)
{
    if (save && c->path != NULL) {
        char *text = cJSON_PrintUnformatted(c->keep);
        Error err = {0};
        if (text == NULL || !fs_write_atomic(c->path, text, strlen(text), &err))
            log_debug("prune: the local copy of the metadata was not saved: %s", err.msg);
        cJSON_free(text);
    }
    cJSON_Delete(c->old);
    cJSON_Delete(c->keep);
    free(c->path);
    memset(c, 0, sizeof(*c));
}
