/* Helpers several commands share: exit codes, the local cache, status, progress (manifests:
 * manifest_io.c). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfsync/agent.h"
#include "hfsync/hash.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define STATUS_MAX_SIZE (1024 * 1024)

int agent_exit_code(const Error *err)
{
    switch (err->code) {
    case ERR_NONE:
        return EXIT_OK;
    case ERR_USAGE:
        return EXIT_USAGE;
    case ERR_CORRUPT:
    case ERR_UNSAFE:
        return EXIT_INTEGRITY;
    case ERR_BUSY:
        return EXIT_BUSY;
    default:
        return EXIT_FAILURE_;
    }
}

/* The one place HFSYNC_TEST_NOW takes effect (config.h: tests only). */
int64_t agent_now(const Config *cfg)
{
    return cfg->test_now > 0 ? cfg->test_now : time_now_ns() / 1000000000;
}

char *agent_cache_dir(const Config *cfg, Error *err)
{
    /* One directory per target and prefix, named by a hash so any URL makes a safe name. */
    char *key_src = str_printf("%s\n%s", cfg->target.url ? cfg->target.url : "", cfg->prefix);
    char hex[HASH_HEX_SIZE];
    hash_buffer_hex(HASH_SHA256, key_src, strlen(key_src), hex);
    free(key_src);
    hex[16] = '\0';
    char *dir = str_printf("%s/%s", cfg->cache_dir, hex);
    if (!fs_mkdir_p(dir, 0700, err)) {
        free(dir);
        return NULL;
    }
    return dir;
}

char *agent_status_path(const Config *cfg, Error *err)
{
    if (cfg->status_file != NULL)
        return x_strdup(cfg->status_file);
    char *dir = agent_cache_dir(cfg, err);
    if (dir == NULL)
        return NULL;
    char *path = path_join(dir, "status.json");
    free(dir);
    return path;
}

void agent_status_record(const Config *cfg, const char *what, const char *json_object)
{
    Error err = {0};
    char *path = agent_status_path(cfg, &err);
    if (path == NULL) {
        log_warn("status: %s", err.msg);
        return;
    }
    /* The agent and the commands it runs update different keys of one file: one at a time. */
    char *lock_path = str_printf("%s.lock", path);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 && errno == ENOENT) {
        char *parent = x_strdup(path);
        *strrchr(parent, '/') = '\0';
        if (parent[0] != '\0' && fs_mkdir_p(parent, 0755, &err))
            lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        free(parent);
    }
    free(lock_path);
    if (lock >= 0)
        while (flock(lock, LOCK_EX) != 0 && errno == EINTR) {
        }
    char *text = NULL;
    cJSON *root = NULL;
    if (fs_read_file(path, STATUS_MAX_SIZE, &text, NULL, &err))
        root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(root, "target");
    cJSON_AddStringToObject(root, "target", cfg->target.url ? cfg->target.url : "");
    cJSON *item = cJSON_Parse(json_object);
    if (item != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, what);
        cJSON_AddItemToObject(root, what, item);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!fs_write_atomic(path, out, strlen(out), &err))
        log_warn("status: %s", err.msg);
    if (lock >= 0)
        close(lock);
    cJSON_free(out);
    free(path);
}

int64_t agent_status_not_before(const Config *cfg)
{
    Error err = {0};
    char *path = agent_status_path(cfg, &err), *text = NULL;
    int64_t at = 0;
    if (path != NULL && fs_read_file(path, STATUS_MAX_SIZE, &text, NULL, &err)) {
        cJSON *root = cJSON_Parse(text);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "backup");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "not_before");
        if (cJSON_IsNumber(n) && n->valuedouble > 0 && n->valuedouble < 1e12)
            at = (int64_t)n->valuedouble;
        cJSON_Delete(root);
    }
    free(text);
    free(path);
    return at;
}

void progress_begin(Progress *p, const Config *cfg, const char *what, uint64_t total_files,
                    uint64_t total_bytes)
{
    memset(p, 0, sizeof(*p));
    p->what = what;
    p->start_ns = p->last_ns = time_monotonic_ns();
    p->interval_ns = cfg->progress_interval_sec * 1000000000LL;
    p->total_files = total_files;
    p->total_bytes = total_bytes;
}

void progress_update(Progress *p, uint64_t files, uint64_t bytes)
{
    p->files = files;
    p->bytes = bytes;
    int64_t now = time_monotonic_ns();
    if (now - p->last_ns < p->interval_ns)
        return;
    p->last_ns = now;
    double secs = (double)(now - p->start_ns) / 1e9;
    char done[32], total[32], rate[32];
    size_human(bytes, done);
    size_human(p->total_bytes, total);
    size_human(secs > 0 ? (uint64_t)((double)bytes / secs) : 0, rate);
    if (p->total_bytes == 0) /* total unknown (the script's archives) */
        log_info("%s: %llu/%llu files, %s, %s/s", p->what, (unsigned long long)files,
                 (unsigned long long)p->total_files, done, rate);
    else
        log_info("%s: %llu/%llu files, %s of %s, %s/s", p->what, (unsigned long long)files,
                 (unsigned long long)p->total_files, done, total, rate);
}
