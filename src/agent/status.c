/* hfsync status: the outcome of the last backup and restore on this machine for this target. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "hfsync/agent.h"
#include "hfsync/util.h"

static void status_print_one(const cJSON *root, const char *what)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, what);
    if (!cJSON_IsObject(o)) {
        printf("last %-8s never (on this machine)\n", what);
        return;
    }
    const cJSON *it;
    printf("last %-8s", what);
    cJSON_ArrayForEach(it, o)
    {
        if (cJSON_IsString(it))
            printf(" %s=%s", it->string, it->valuestring);
        else if (cJSON_IsNumber(it))
            printf(" %s=%.0f", it->string, it->valuedouble);
        else if (cJSON_IsBool(it))
            printf(" %s=%s", it->string, cJSON_IsTrue(it) ? "true" : "false");
    }
    printf("\n");
}

bool status_run(const Config *cfg, bool json, Error *err)
{
    char *dir = agent_cache_dir(cfg, err);
    if (dir == NULL)
        return false;
    char *path = path_join(dir, "status.json");
    char *text = NULL;
    Error e = {0};
    cJSON *root = NULL;
    if (fs_read_file(path, 1024 * 1024, &text, NULL, &e))
        root = cJSON_Parse(text);
    free(text);
    if (root == NULL)
        root = cJSON_CreateObject();
    if (json) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "target");
        cJSON_AddStringToObject(root, "target", cfg->target.url ? cfg->target.url : "");
        char *out = cJSON_Print(root);
        printf("%s\n", out);
        cJSON_free(out);
    } else {
        printf("target       %s\n", cfg->target.url ? cfg->target.url : "(none)");
        status_print_one(root, "backup");
        status_print_one(root, "restore");
    }
    cJSON_Delete(root);
    free(path);
    free(dir);
    return true;
}
