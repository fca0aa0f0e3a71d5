/* hfsync status: the agent's state and the last backup and restore on this machine for this
 * target, from the status file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.intern.h"
#include "hfsync/util.h"

static void status_print_fields(const cJSON *o, const char *indent)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (cJSON_IsString(it))
            printf("%s%s=%s", indent, it->string, it->valuestring);
        else if (cJSON_IsNumber(it))
            printf("%s%s=%.0f", indent, it->string, it->valuedouble);
        else if (cJSON_IsBool(it))
            printf("%s%s=%s", indent, it->string, cJSON_IsTrue(it) ? "true" : "false");
        else if (cJSON_IsObject(it)) {
            printf("%s%s:{", indent, it->string);
            status_print_fields(it, indent[0] ? " " : "");
            printf(" }");
        }
    }
}

static void status_print_one(const cJSON *root, const char *what)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, what);
    if (!cJSON_IsObject(o)) {
        printf("last %-8s never (on this machine)\n", what);
        return;
    }
    printf("last %-8s", what);
    status_print_fields(o, " ");
    printf("\n");
}

static const char *status_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double status_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void status_print_agent(const Config *cfg, const cJSON *root)
{
    char reason[800];
    if (agent_backups_disabled(cfg, reason, sizeof(reason)))
        printf("BACKUPS      DISABLED: %s\n"
               "             ('hfsync restore' or 'hfsync backup --force' enables them)\n",
               reason);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "agent");
    if (!cJSON_IsObject(a)) {
        printf("agent        not run here\n");
        return;
    }
    const char *state = status_str(a, "state");
    printf("agent        %s %s (pid %.0f), since %s, updated %s\n", status_str(a, "mode"),
           state ? state : "?", status_num(a, "pid"), status_str(a, "started_at_utc"),
           status_str(a, "updated_at_utc"));
    printf("backups      every %.0fs", status_num(a, "interval_sec"));
    if (status_str(a, "next_backup_at_utc") != NULL)
        printf(", next at %s", status_str(a, "next_backup_at_utc"));
    printf("; %.0f cycles, %.0f failures in a row, %.0f retries\n", status_num(a, "cycles"),
           status_num(a, "consecutive_failures"), status_num(a, "retries"));
    if (status_str(a, "paused") != NULL)
        printf("paused       %s\n", status_str(a, "paused"));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "last_cycle");
    if (cJSON_IsObject(c))
        printf("last cycle   %s (exit status %.0f) at %s, %.1f s\n", status_str(c, "result"),
               status_num(c, "exit_status"), status_str(c, "at_utc"),
               status_num(c, "duration_ms") / 1000.0);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "lease");
    if (cJSON_IsObject(l)) {
        printf("lease        %s", status_str(l, "state") ? status_str(l, "state") : "?");
        if (status_str(l, "holder") != NULL)
            printf(": %s", status_str(l, "holder"));
        if (status_str(l, "error") != NULL)
            printf(": %s", status_str(l, "error"));
        printf("\n");
    }
    if (cJSON_GetObjectItemCaseSensitive(a, "exit_status") != NULL)
        printf("exit status  %.0f\n", status_num(a, "exit_status"));
}

bool status_run(const Config *cfg, bool json, Error *err)
{
    char *path = agent_status_path(cfg, err);
    if (path == NULL)
        return false;
    char *text = NULL;
    Error e = {0};
    cJSON *root = NULL;
    if (fs_read_file(path, 1024 * 1024, &text, NULL, &e))
        root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = cJSON_CreateObject();
    }
    if (json) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "target");
        cJSON_AddStringToObject(root, "target", cfg->target.url ? cfg->target.url : "");
        char reason[800];
        if (agent_backups_disabled(cfg, reason, sizeof(reason)))
            cJSON_AddStringToObject(root, "backups_disabled", reason);
        char *out = cJSON_Print(root);
        printf("%s\n", out);
        cJSON_free(out);
    } else {
        printf("target       %s\n", cfg->target.url ? cfg->target.url : "(none)");
        status_print_agent(cfg, root);
        status_print_one(root, "backup");
        status_print_one(root, "restore");
    }
    cJSON_Delete(root);
    free(path);
    return true;
}
