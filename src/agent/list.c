/* hfsync list: every backup on the target, newest first, with its chain. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/agent.h"
#include "hfsync/chain.h"
#include "hfsync/util.h"

static const char *list_parent_name(BackupMeta **metas, size_t count, const BackupMeta *m)
{
    if (m->parent == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (strcmp(metas[i]->path, m->parent) == 0)
            return metas[i]->name;
    return m->parent; /* parent missing: show its path */
}

bool list_run(const Config *cfg, bool json, Error *err)
{
    Storage *st = storage_open(cfg, &cfg->target, err);
    if (st == NULL)
        return false;
    char *latest = NULL;
    BackupMeta **metas = NULL;
    size_t count = 0;
    bool ok =
        pointer_read(st, &latest, err) && chain_list_all(st, cfg->prefix, &metas, &count, err);
    if (ok && json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "target", cfg->target.url);
        cJSON_AddStringToObject(root, "latest", latest ? latest : "");
        cJSON *arr = cJSON_AddArrayToObject(root, "backups");
        for (size_t i = 0; i < count; i++) {
            const BackupMeta *m = metas[i];
            char t[32];
            time_iso8601(m->created, t);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", m->name);
            cJSON_AddStringToObject(o, "type", m->full ? "full" : "incremental");
            const char *parent = list_parent_name(metas, count, m);
            if (parent)
                cJSON_AddStringToObject(o, "parent", parent);
            else
                cJSON_AddNullToObject(o, "parent");
            cJSON_AddStringToObject(o, "chain_id", m->chain_id);
            cJSON_AddStringToObject(o, "created_at_utc", t);
            cJSON_AddNumberToObject(o, "file_count", (double)m->file_count);
            cJSON_AddNumberToObject(o, "size", (double)m->archive_size);
            cJSON_AddNumberToObject(o, "volumes", (double)m->volume_count);
            if (m->native) /* what its run sent (less than size when it resumed another) */
                cJSON_AddNumberToObject(o, "uploaded", (double)m->bytes_uploaded);
            cJSON_AddStringToObject(o, "format", m->native ? "hfsync" : "seed");
            cJSON_AddBoolToObject(o, "encrypted", m->encrypted);
            cJSON_AddBoolToObject(o, "latest", latest && strcmp(latest, m->path) == 0);
            cJSON_AddStringToObject(o, "meta", m->path);
            cJSON_AddItemToArray(arr, o);
        }
        char *text = cJSON_Print(root);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    } else if (ok) {
        /* The script's names ("openclaw-backup-….tar.gz.enc") are longer than hfsync's. */
        int width = 22;
        for (size_t i = 0; i < count; i++)
            if ((int)strlen(metas[i]->name) > width)
                width = (int)strlen(metas[i]->name);
        if (count == 0)
            printf("no backups in %s\n", cfg->target.url);
        else
            printf("%-*s %-11s %-8s %-20s %8s %10s %4s  %s\n", width, "NAME", "TYPE", "CHAIN",
                   "CREATED (UTC)", "FILES", "SIZE", "VOLS", "PARENT");
        for (size_t i = 0; i < count; i++) {
            const BackupMeta *m = metas[i];
            char t[32], size[32];
            time_iso8601(m->created, t);
            t[19] = '\0';
            size_human(m->archive_size, size);
            const char *parent = list_parent_name(metas, count, m);
            bool is_latest = latest && strcmp(latest, m->path) == 0;
            printf("%-*s %-11s %-8s %-20s %8llu %10s %4zu  %s%s\n", width, m->name,
                   m->full ? "full" : "incremental", m->chain_id, t,
                   (unsigned long long)m->file_count, size, m->volume_count, parent ? parent : "-",
                   is_latest ? "  (latest)" : "");
        }
    }
    for (size_t i = 0; i < count; i++)
        meta_free(metas[i]);
    free(metas);
    free(latest);
    storage_free(st);
    return ok;
}
