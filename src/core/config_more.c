/*
 * Settings of the S3 backend, HTTP and the agent (config.h): one setter per variable, applied in
 * order by config.c's table. Each validates its value and fails with ERR_USAGE naming the
 * variable, the value and the accepted form.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

#include "config.intern.h"

/* ---- S3 and HTTP ---- */

/* The first of `names` set in the environment, else in the env file. */
static Found loader_first(const Loader *ld, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i += 2) {
        Found f = loader_get(ld, names[i], i + 1 < count ? names[i + 1] : NULL);
        if (f.value != NULL)
            return f;
    }
    return (Found){0};
}

static bool config_set_string(char **slot, const char *name, const char *value, Error *err)
{
    if (value != NULL && config_has_control(value, strlen(value)))
        return error_set(err, ERR_USAGE, "%s: the value contains a control character", name);
    free(*slot);
    *slot = value != NULL ? x_strdup(value) : NULL;
    return true;
}

bool config_set_s3_access_key(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    return config_set_string(&cfg->s3.access_key, name, value, err);
}

bool config_set_s3_secret_key(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    return config_set_string(&cfg->s3.secret_key, name, value, err);
}

bool config_set_s3_session_token(Config *cfg, const Loader *ld, const char *name, const char *value,
                                 Error *err)
{
    (void)ld;
    return config_set_string(&cfg->s3.session_token, name, value, err);
}

/* HFSYNC_S3_REGION, then AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1. */
bool config_set_s3_region(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    if (value == NULL) {
        static const char *const more[] = {"AWS_DEFAULT_REGION"};
        Found f = loader_first(ld, more, 1);
        name = f.value != NULL ? f.name : name;
        value = f.value != NULL ? f.value : "us-east-1";
    }
    for (const char *p = value; *p; p++)
        if (!config_is_alnum(*p) && *p != '-' && *p != '_')
            return error_set(err, ERR_USAGE,
                             "%s: '%s' is not a region name (letters, digits and '-', like "
                             "us-east-1, or auto for Cloudflare R2)",
                             name, value);
    return config_set_string(&cfg->s3.region, name, value, err);
}

/* HFSYNC_S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL: scheme://host[:port]. */
bool config_set_s3_endpoint(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    if (value == NULL) {
        static const char *const more[] = {"AWS_ENDPOINT_URL"};
        Found f = loader_first(ld, more, 1);
        name = f.value != NULL ? f.name : name;
        value = f.value;
    }
    if (value == NULL)
        return config_set_string(&cfg->s3.endpoint, name, NULL, err);
    size_t len = strlen(value);
    while (len > 0 && value[len - 1] == '/')
        len--;
    const char *host = str_starts_with(value, "https://")  ? value + 8
                       : str_starts_with(value, "http://") ? value + 7
                                                           : NULL;
    if (host == NULL || host >= value + len || memchr(host, '/', (size_t)(value + len - host)) ||
        memchr(host, '?', (size_t)(value + len - host)) ||
        memchr(host, '@', (size_t)(value + len - host)))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not an endpoint URL; use http(s)://host[:port], for "
                         "example https://<account>.r2.cloudflarestorage.com",
                         name, value);
    char *copy = x_strndup(value, len);
    bool ok = config_set_string(&cfg->s3.endpoint, name, copy, err);
    free(copy);
    return ok;
}

bool config_set_s3_path_style(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    if (strcasecmp(value, "auto") == 0) {
        cfg->s3.path_style = -1;
        return true;
    }
    bool b;
    if (!config_parse_bool(name, value, &b, err))
        return error_set(err, ERR_USAGE, "%s: '%s' is not auto, true or false", name, value);
    cfg->s3.path_style = b ? 1 : 0;
    return true;
}

bool config_set_s3_part_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    uint64_t v;
    if (!config_parse_size(name, value, &v, err))
        return false;
    if (v < (5ull << 20) || v > (5ull << 30))
        return error_set(err, ERR_USAGE, "%s: %s is outside S3's part size limits (5M to 5G)", name,
                         value);
    cfg->s3.part_size = v;
    return true;
}

bool config_set_s3_parallel(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    long v;
    if (!config_parse_int(name, value, 1, 32, &v, err))
        return false;
    cfg->s3.parallel = (int)v;
    return true;
}

bool config_set_ca_bundle(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    if (value != NULL && !fs_exists(value))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' does not exist; give the path of a PEM file "
                         "of CA certificates",
                         name, value);
    return config_set_string(&cfg->ca_bundle, name, value, err);
}

/* ---- retries ---- */

bool config_set_retry_tries(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_set_int(&cfg->retry.tries, name, value, 1, 100, err);
}

static bool config_set_ms(int64_t *out, const char *name, const char *value, int64_t min,
                          int64_t max, const char *range, Error *err)
{
    int64_t sec;
    if (!config_set_duration(&sec, name, value, min, max, range, err))
        return false;
    *out = sec * 1000;
    return true;
}

bool config_set_retry_base(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_set_ms(&cfg->retry.base_ms, name, value, 0, 3600, "0s to 1h", err);
}

bool config_set_retry_cap(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_set_ms(&cfg->retry.cap_ms, name, value, 0, 3600, "0s to 1h", err);
}

bool config_set_retry_budget(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_set_ms(&cfg->retry.budget_ms, name, value, 1, 86400, "1s to 1d", err);
}

bool config_set_stall_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->retry.stall_sec, name, value, 1, 3600, "1s to 1h", err);
}

/* ---- the agent ---- */

bool config_set_restore_policy(Config *cfg, const Loader *ld, const char *name, const char *value,
                               Error *err)
{
    (void)ld;
    static const char *const names[] = {"auto", "always", "never", "if-empty"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            cfg->restore_policy = (RestorePolicy)i;
            return true;
        }
    }
    return error_set(err, ERR_USAGE,
                     "%s: '%s' is not a restore policy; use auto, always, never or if-empty", name,
                     value);
}

bool config_set_restore_failure(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err)
{
    (void)ld;
    if (strcasecmp(value, "exit") == 0 || strcasecmp(value, "start") == 0) {
        cfg->restore_failure_start = strcasecmp(value, "start") == 0;
        return true;
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not an action; use exit or start", name, value);
}

bool config_set_restore_retries(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err)
{
    (void)ld;
    return config_set_int(&cfg->restore_retries, name, value, 0, 100, err);
}

bool config_set_interval(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err)
{
    (void)ld;
    if (value != NULL && strcmp(name, "OPENCLAW_INCREMENTAL_INTERVAL_MINUTES") == 0) {
        long minutes; /* the script's unit */
        if (!config_parse_int(name, value, 1, 7 * 24 * 60, &minutes, NULL))
            return error_set(err, ERR_USAGE, "%s: '%s' is not a number of minutes from 1 to 10080",
                             name, value);
        cfg->interval_sec = minutes * 60;
        return true;
    }
    return config_set_duration(&cfg->interval_sec, name, value, 1, 7 * 86400, "1s to 7d", err);
}

bool config_set_backup_on_start(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err)
{
    (void)ld;
    return config_parse_bool(name, value, &cfg->backup_on_start, err);
}

bool config_set_signal_group(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_parse_bool(name, value, &cfg->signal_group, err);
}

bool config_set_stop_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->stop_timeout_sec, name, value, 0, 3600, "0s to 1h", err);
}

bool config_set_final_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->final_backup_timeout_sec, name, value, 0, 86400, "0s to 1d",
                               err);
}

bool config_set_lock_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->lock_timeout_sec, name, value, 0, 86400, "0s to 1d", err);
}

bool config_set_lease_ttl(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->lease_ttl_sec, name, value, 2, 86400, "2s to 1d", err);
}

bool config_set_lease_wait(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->lease_wait_sec, name, value, 0, 86400, "0s to 1d", err);
}

/* An absolute file path, or NULL for `def`. */
static bool config_set_file(char **out, const char *def, const char *name, const char *value,
                            Error *err)
{
    if (value == NULL) {
        free(*out);
        *out = def != NULL ? x_strdup(def) : NULL;
        return true;
    }
    char *p = config_has_control(value, strlen(value)) ? NULL : config_local_path(value, false);
    if (p == NULL || strcmp(p, "/") == 0) {
        free(p);
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not an absolute file path; use a path such as "
                         "/tmp/hfsync-status.json",
                         name, value);
    }
    free(*out);
    *out = p;
    return true;
}

bool config_set_status_file(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_set_file(&cfg->status_file, NULL, name, value, err);
}

bool config_set_restore_flag(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_set_file(&cfg->restore_flag,
                           cfg->openclaw ? "/tmp/openclaw-restore-completed" : NULL, name, value,
                           err);
}
