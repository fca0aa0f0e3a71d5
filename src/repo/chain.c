/* The pointer and chain resolution. */
#include "hfsync/chain.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"

#define POINTER_MAX_SIZE (64 * 1024)

bool pointer_read_tagged(Storage *st, char **meta_path, char **tag, Error *err)
{
    char *text = NULL;
    *meta_path = NULL;
    if (tag != NULL)
        *tag = NULL;
    Error e = {0};
    char *t = NULL;
    if (!storage_get_tagged(st, POINTER_PATH, POINTER_MAX_SIZE, &text, NULL, &t, &e)) {
        if (e.code == ERR_NOT_FOUND)
            return true;
        *err = e;
        return error_prefix(err, "read '%s'", POINTER_PATH);
    }
    if (tag != NULL)
        *tag = t; /* also when the content is unusable: --full may replace exactly this */
    else
        free(t);
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *latest = cJSON_GetObjectItemCaseSensitive(o, "latest");
    bool ok = cJSON_IsString(latest) && latest->valuestring[0] != '\0' &&
              latest->valuestring[0] != '/' && strstr(latest->valuestring, "..") == NULL &&
              str_ends_with(latest->valuestring, ".meta.json");
    if (ok)
        *meta_path = x_strdup(latest->valuestring);
    else
        error_set(err, ERR_CORRUPT, "'%s' is not a valid pointer (no usable \"latest\" field)",
                  POINTER_PATH);
    cJSON_Delete(o);
    return ok;
}

bool pointer_read(Storage *st, char **meta_path, Error *err)
{
    return pointer_read_tagged(st, meta_path, NULL, err);
}

bool pointer_write_if(Storage *st, const char *meta_path, const char *dataset, bool check,
                      const char *tag, Error *err)
{
    char t[32];
    time_iso8601(time_now_ns() / 1000000000, t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", dataset);
    cJSON_AddStringToObject(o, "latest", meta_path);
    cJSON_AddStringToObject(o, "created_at_utc", t);
    cJSON_AddStringToObject(o, "format", "hfsync");
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    bool ok = check ? storage_put_if(st, POINTER_PATH, text, strlen(text), tag, err)
                    : storage_put(st, POINTER_PATH, text, strlen(text), err);
    cJSON_free(text);
    if (!ok)
        error_prefix(err, "write '%s'", POINTER_PATH);
    return ok;
}

bool pointer_write(Storage *st, const char *meta_path, const char *dataset, Error *err)
{
    return pointer_write_if(st, meta_path, dataset, false, NULL, err);
}

BackupMeta *meta_load(Storage *st, const char *meta_path, Error *err)
{
    char *text = NULL;
    if (!storage_get(st, meta_path, META_MAX_SIZE, &text, NULL, err)) {
        error_prefix(err, "backup metadata '%s'", meta_path);
        return NULL;
    }
    BackupMeta *m = meta_parse(text, meta_path, err);
    free(text);
    if (m == NULL)
        error_prefix(err, "backup metadata '%s'", meta_path);
    return m;
}

bool chain_resolve(Storage *st, const char *meta_path, Chain *chain, Error *err)
{
    chain->metas = NULL;
    chain->count = 0;
    size_t cap = 0;
    char *path = x_strdup(meta_path);
    bool ok = true;
    while (path != NULL) {
        for (size_t i = 0; i < chain->count; i++) {
            if (strcmp(chain->metas[i]->path, path) == 0) {
                ok = error_set(err, ERR_CORRUPT, "backup chain has a cycle at '%s'", path);
                goto out;
            }
        }
        if (chain->count >= CHAIN_MAX_LENGTH) {
            ok = error_set(err, ERR_CORRUPT, "backup chain is longer than %d backups",
                           CHAIN_MAX_LENGTH);
            goto out;
        }
        Error e = {0};
        BackupMeta *m = meta_load(st, path, &e);
        if (m == NULL) {
            *err = e;
            /* A backup named by the pointer or a parent that is gone: the target is damaged. */
            if (e.code == ERR_NOT_FOUND)
                err->code = ERR_CORRUPT;
            if (chain->count > 0)
                error_prefix(err, "parent of '%s' is missing or unreadable",
                             chain->metas[chain->count - 1]->path);
            ok = false;
            goto out;
        }
        if (chain->count > 0 && m->native != chain->metas[0]->native) {
            ok = error_set(err, ERR_CORRUPT, "backup '%s' has a parent of another format",
                           chain->metas[chain->count - 1]->path);
            meta_free(m);
            goto out;
        }
        if (chain->count == cap) {
            cap = cap ? cap * 2 : 8;
            chain->metas = x_realloc(chain->metas, cap * sizeof(BackupMeta *));
        }
        chain->metas[chain->count++] = m;
        free(path);
        path = m->parent ? x_strdup(m->parent) : NULL;
    }
    /* Stored newest first while walking; the contract is full first. */
    for (size_t i = 0; i < chain->count / 2; i++) {
        BackupMeta *t = chain->metas[i];
        chain->metas[i] = chain->metas[chain->count - 1 - i];
        chain->metas[chain->count - 1 - i] = t;
    }
    if (!chain->metas[0]->full) {
        ok = error_set(err, ERR_CORRUPT, "backup chain of '%s' does not start with a full backup",
                       meta_path);
        goto out;
    }
out:
    free(path);
    if (!ok)
        chain_free(chain);
    return ok;
}

void chain_free(Chain *chain)
{
    for (size_t i = 0; i < chain->count; i++)
        meta_free(chain->metas[i]);
    free(chain->metas);
    chain->metas = NULL;
    chain->count = 0;
}

typedef struct MetaList {
    char **paths;
    size_t count, cap;
} MetaList;

static void chain_list_fn(const char *path, uint64_t size, void *ctx)
{
    (void)size;
    MetaList *l = ctx;
    if (!str_ends_with(path, ".meta.json"))
        return;
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->paths = x_realloc(l->paths, l->cap * sizeof(char *));
    }
    l->paths[l->count++] = x_strdup(path);
}

static int chain_meta_newest_first(const void *a, const void *b)
{
    const BackupMeta *x = *(BackupMeta *const *)a, *y = *(BackupMeta *const *)b;
    if (x->created != y->created)
        return x->created < y->created ? 1 : -1;
    return strcmp(y->name, x->name);
}

bool chain_list_all(Storage *st, const char *prefix, BackupMeta ***metas, size_t *count, Error *err)
{
    MetaList l = {0};
    char *pfx = prefix[0] ? str_printf("%s/", prefix) : x_strdup("");
    bool ok = storage_list(st, pfx, chain_list_fn, &l, err);
    free(pfx);
    *metas = x_calloc(l.count + 1, sizeof(BackupMeta *));
    *count = 0;
    for (size_t i = 0; i < l.count; i++) {
        if (ok) {
            /* Only direct children of the prefix are backups. */
            const char *rest = l.paths[i] + (prefix[0] ? strlen(prefix) + 1 : 0);
            if (strchr(rest, '/') == NULL) {
                Error e = {0};
                BackupMeta *m = meta_load(st, l.paths[i], &e);
                if (m != NULL)
                    (*metas)[(*count)++] = m;
                else
                    log_warn("%s", e.msg);
            }
        }
        free(l.paths[i]);
    }
    free(l.paths);
    qsort(*metas, *count, sizeof(BackupMeta *), chain_meta_newest_first);
    return ok;
}
