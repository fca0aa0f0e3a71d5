/* The state marker and the small local flags of the agent, in the target's cache dir
 * (agent.intern.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define MARKER_MAX_SIZE 8192

/* ---- markers ---- */

#define MARKER_FILE "state.json"

static char *agent_cache_file(const Config *cfg, const char *name);

/*
 * Which directory (or file) this is: device, inode and birth time. A directory wiped and made
 * again, even with the same inode number, has another birth time. Where the filesystem has no
 * birth time the change time stands in: it also moves when entries are added or removed, so an
 * active state then looks new and is restored, which loses no backup.
 */
static bool marker_identity(const char *path, char *out, size_t cap)
{
    struct statx sx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_BTIME | STATX_CTIME, &sx) != 0)
        return false;
    bool born = (sx.stx_mask & STATX_BTIME) != 0;
    const struct statx_timestamp *t = born ? &sx.stx_btime : &sx.stx_ctime;
    snprintf(out, cap, "%u:%u:%llu:%c%lld.%09u", sx.stx_dev_major, sx.stx_dev_minor,
             (unsigned long long)sx.stx_ino, born ? 'b' : 'c', (long long)t->tv_sec, t->tv_nsec);
    return true;
}

/* A directory with nothing in it. */
static bool marker_dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return false;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    return empty;
}

static cJSON *marker_load(const Config *cfg)
{
    char *path = agent_cache_file(cfg, MARKER_FILE);
    char *text = NULL;
    Error err = {0};
    cJSON *o = NULL;
    if (path != NULL && fs_read_file(path, MARKER_MAX_SIZE * 16, &text, NULL, &err))
        o = cJSON_Parse(text);
    free(text);
    free(path);
    if (o != NULL && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

void marker_write(const Config *cfg, const Target *from, const char *meta_path)
{
    char when[32], id[128];
    time_iso8601(time_now_ns() / 1000000000, when);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "target", from->url);
    cJSON_AddStringToObject(o, "backup", meta_path);
    cJSON_AddStringToObject(o, "written_at_utc", when);
    cJSON *srcs = cJSON_AddObjectToObject(o, "sources");
    for (size_t i = 0; i < cfg->source_count; i++) {
        if (!marker_identity(cfg->sources[i].path, id, sizeof(id)))
            continue; /* not there: not part of this state */
        cJSON *s = cJSON_AddObjectToObject(srcs, cfg->sources[i].name);
        cJSON_AddStringToObject(s, "path", cfg->sources[i].path);
        cJSON_AddStringToObject(s, "id", id);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *path = agent_cache_file(cfg, MARKER_FILE);
    Error err = {0};
    if (path != NULL && !fs_write_atomic(path, text, strlen(text), &err))
        log_warn("cannot write the state marker: %s; the next start restores again", err.msg);
    cJSON_free(text);
    free(path);
}

static const char *marker_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The marker's record of source `src`, if it is for the same path. */
static const char *marker_source_id(const cJSON *marker, const Source *src)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(marker, "sources"), src->name);
    const char *path = marker_str(s, "path");
    return path != NULL && strcmp(path, src->path) == 0 ? marker_str(s, "id") : NULL;
}

MarkerMatch marker_check(const Config *cfg, const Target *from, const char *meta_path, char *why,
                         size_t why_size)
{
    why[0] = '\0';
    cJSON *m = marker_load(cfg);
    const char *target = marker_str(m, "target"), *backup = marker_str(m, "backup");
    if (m == NULL || target == NULL || backup == NULL) {
        snprintf(why, why_size, "no state marker for the sources on this machine");
        cJSON_Delete(m);
        return MARKER_NONE;
    }
    bool same = false;
    if (strcmp(target, from->url) != 0)
        snprintf(why, why_size, "the local state came from another target ('%.200s')", target);
    else if (strcmp(backup, meta_path) != 0)
        snprintf(why, why_size, "the local state is at backup '%.200s'", backup);
    for (size_t i = 0; i < cfg->source_count && why[0] == '\0'; i++) {
        const Source *src = &cfg->sources[i];
        const char *was = marker_source_id(m, src);
        char now[128];
        bool present = marker_identity(src->path, now, sizeof(now));
        struct stat sb;
        if (present && was == NULL)
            snprintf(why, why_size, "'%s' has no state marker (fresh or image-provided files)",
                     src->path);
        else if (!present && was != NULL)
            snprintf(why, why_size, "'%s' is missing", src->path);
        else if (present && strcmp(was, now) != 0)
            snprintf(why, why_size, "'%s' is not the one the state marker was written for",
                     src->path);
        /* An emptied directory is not the state a backup was taken of, whatever the marker
         * says (emptied by hand, a reset volume): restoring it is the safe mistake. */
        else if (present && lstat(src->path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
                 marker_dir_empty(src->path))
            snprintf(why, why_size, "'%s' is empty", src->path);
        else
            same = same || present;
    }
    if (why[0] == '\0' && !same)
        snprintf(why, why_size, "none of the sources exists");
    cJSON_Delete(m);
    return why[0] == '\0' ? MARKER_SAME : MARKER_DIFFERENT;
}

bool marker_behind(const Config *cfg, const Target *target, const char *meta_path, char *why,
                   size_t why_size)
{
    cJSON *m = marker_load(cfg);
    const char *t = marker_str(m, "target"), *backup = marker_str(m, "backup");
    bool behind = false;
    if (t != NULL && backup != NULL && strcmp(t, target->url) == 0 &&
        strcmp(backup, meta_path) != 0) {
        /* ... and the state here still is the one that backup was of (or restored from) */
        for (size_t i = 0; i < cfg->source_count && !behind; i++) {
            const char *was = marker_source_id(m, &cfg->sources[i]);
            char now[128];
            behind = was != NULL && marker_identity(cfg->sources[i].path, now, sizeof(now)) &&
                     strcmp(was, now) == 0;
        }
        if (behind)
            snprintf(why, why_size, "the local state is at backup '%.200s'", backup);
    }
    cJSON_Delete(m);
    return behind;
}

bool marker_state_empty(const Config *cfg)
{
    for (size_t i = 0; i < cfg->source_count; i++) {
        struct stat sb;
        if (lstat(cfg->sources[i].path, &sb) != 0)
            continue;
        if (!S_ISDIR(sb.st_mode) || !marker_dir_empty(cfg->sources[i].path))
            return false;
    }
    return true;
}

/* ---- flags in the cache dir ---- */

static char *agent_cache_file(const Config *cfg, const char *name)
{
    Error err = {0};
    char *dir = agent_cache_dir(cfg, &err);
    if (dir == NULL) {
        log_warn("%s", err.msg);
        return NULL;
    }
    char *path = path_join(dir, name);
    free(dir);
    return path;
}

static cJSON *agent_cache_json(const Config *cfg, const char *name)
{
    char *path = agent_cache_file(cfg, name);
    char *text = NULL;
    Error err = {0};
    cJSON *o = NULL;
    if (path != NULL && fs_read_file(path, MARKER_MAX_SIZE, &text, NULL, &err))
        o = cJSON_Parse(text);
    free(text);
    free(path);
    if (o != NULL && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

static void agent_cache_json_write(const Config *cfg, const char *name, cJSON *o)
{
    char *path = agent_cache_file(cfg, name);
    char *text = cJSON_Print(o);
    Error err = {0};
    if (path != NULL && !fs_write_atomic(path, text, strlen(text), &err))
        log_warn("%s", err.msg);
    cJSON_free(text);
    free(path);
}

static void agent_cache_remove(const Config *cfg, const char *name)
{
    char *path = agent_cache_file(cfg, name);
    if (path != NULL && unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove '%s': %s", path, strerror(errno));
    free(path);
}

bool agent_backups_disabled(const Config *cfg, char *reason, size_t reason_size)
{
    cJSON *o = agent_cache_json(cfg, "backups-disabled.json");
    if (o == NULL)
        return false;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "reason");
    snprintf(reason, reason_size, "%s", cJSON_IsString(r) ? r->valuestring : "(no reason given)");
    cJSON_Delete(o);
    return true;
}

void agent_backups_disable(const Config *cfg, const char *reason)
{
    char when[32];
    time_iso8601(time_now_ns() / 1000000000, when);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddStringToObject(o, "since_utc", when);
    agent_cache_json_write(cfg, "backups-disabled.json", o);
    cJSON_Delete(o);
}

void agent_backups_enable(const Config *cfg)
{
    agent_cache_remove(cfg, "backups-disabled.json");
}

void agent_restore_flag(const Config *cfg, bool done)
{
    const char *path = cfg->restore_flag;
    if (path == NULL)
        return;
    if (!done) {
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("cannot remove the restore flag '%s': %s", path, strerror(errno));
        return;
    }
    char when[32];
    time_iso8601(time_now_ns() / 1000000000, when);
    char *text = str_printf("%s\n", when);
    char *parent = x_strdup(path);
    *strrchr(parent, '/') = '\0';
    Error err = {0};
    if ((parent[0] != '\0' && !fs_mkdir_p(parent, 0755, &err)) ||
        !fs_write_atomic(path, text, strlen(text), &err))
        log_warn("cannot create the restore flag: %s", err.msg);
    free(parent);
    free(text);
}

void agent_record_write(const Config *cfg, const Lease *lease)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pid", (double)lease->pid);
    cJSON_AddStringToObject(o, "owner", lease->owner);
    cJSON_AddStringToObject(o, "mode", lease->mode);
    agent_cache_json_write(cfg, "agent.json", o);
    cJSON_Delete(o);
}

void agent_record_clear(const Config *cfg, const Lease *lease)
{
    char owner[LEASE_OWNER_SIZE];
    cJSON *o = agent_cache_json(cfg, "agent.json");
    const cJSON *ow = cJSON_GetObjectItemCaseSensitive(o, "owner");
    snprintf(owner, sizeof(owner), "%s", cJSON_IsString(ow) ? ow->valuestring : "");
    cJSON_Delete(o);
    if (strcmp(owner, lease->owner) == 0)
        agent_cache_remove(cfg, "agent.json");
}

bool agent_record_owner(const Config *cfg, char owner[LEASE_OWNER_SIZE])
{
    cJSON *o = agent_cache_json(cfg, "agent.json");
    const cJSON *ow = cJSON_GetObjectItemCaseSensitive(o, "owner");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    bool alive = cJSON_IsString(ow) && cJSON_IsNumber(pid) && pid->valuedouble >= 1 &&
                 (kill((pid_t)pid->valuedouble, 0) == 0 || errno == EPERM);
    snprintf(owner, LEASE_OWNER_SIZE, "%s", alive ? ow->valuestring : "");
    cJSON_Delete(o);
    return alive;
}
