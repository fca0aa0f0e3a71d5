/*
 * Settings of the backup strategy (config.h StrategyConfig, strategy.h, README "Backup
 * strategy"): one setter per variable, applied in order by config.c's table, then
 * config_strategy_check() for the pairs that must be in order. Each fails with ERR_USAGE naming
 * the variable, the value and the accepted form.
 *
 * The original script's OPENCLAW_* variables carry plain numbers in their own units (hours, KB,
 * MB, files per minute); their setters convert them, so OPENCLAW_FULL_BACKUP_INTERVAL_HOURS=2 is
 * HFSYNC_FULL_INTERVAL=2h and OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB=100 is
 * HFSYNC_MIN_CHANGED_SIZE=100K.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

#include "config.intern.h"

#define LEVEL_FORM "use a zstd level from 1 (fastest) to 19 (smallest)"
#define RATE_MAX 1e9

static bool config_is(const char *name, const char *which)
{
    return name != NULL && strcmp(name, which) == 0;
}

/* A non-negative decimal number ("2", "0.5") up to `max`. */
static bool config_parse_number(const char *value, double max, double *out)
{
    if (value == NULL || *value == '\0' || *value == '-' || *value == '+')
        return false;
    char *end = NULL;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || !isfinite(v) || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* A size, or with the script's alias `alias` a whole number of `unit` bytes (KB, MB). */
static bool config_size_or_units(uint64_t *out, const char *name, const char *value,
                                 const char *alias, uint64_t unit, const char *unit_name,
                                 Error *err)
{
    if (config_is(name, alias)) {
        long n;
        if (!config_parse_int(name, value, 0, 1L << 40, &n, NULL))
            return error_set(err, ERR_USAGE, "%s: '%s' is not a whole number of %s", name,
                             value != NULL ? value : "", unit_name);
        *out = (uint64_t)n * unit;
        return true;
    }
    return config_parse_size(name, value, out, err);
}

bool config_set_dynamic(Config *cfg, const Loader *ld, const char *name, const char *value,
                        Error *err)
{
    (void)ld;
    return config_parse_bool(name, value, &cfg->strategy.dynamic, err);
}

bool config_set_incremental(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    bool on;
    if (!config_parse_bool(name, value, &on, err))
        return false;
    cfg->strategy.full_only = !on;
    return true;
}

bool config_set_full_interval(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    if (config_is(name, "OPENCLAW_FULL_BACKUP_INTERVAL_HOURS")) {
        double h;
        if (!config_parse_number(value, 366 * 24, &h))
            return error_set(err, ERR_USAGE,
                             "%s: '%s' is not a number of hours from 0 (off) to 8784", name,
                             value != NULL ? value : "");
        cfg->strategy.full_interval_sec = (int64_t)(h * 3600 + 0.5);
        return true;
    }
    return config_set_duration(&cfg->strategy.full_interval_sec, name, value, 0, 366LL * 86400,
                               "0 (off) to 366d", err);
}

bool config_set_full_ratio(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    char buf[32];
    snprintf(buf, sizeof(buf), "%s", value != NULL ? value : "");
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '%')
        buf[n - 1] = '\0';
    long v;
    if (!config_parse_int(name, buf, 0, 100, &v, NULL))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a percentage; use 0 (off) to 100, e.g. 50", name,
                         value != NULL ? value : "");
    cfg->strategy.full_ratio = (int)v;
    return true;
}

bool config_set_min_changed_files(Config *cfg, const Loader *ld, const char *name,
                                  const char *value, Error *err)
{
    (void)ld;
    long v;
    if (!config_parse_int(name, value, 0, 1000000000L, &v, err))
        return false;
    cfg->strategy.min_changed_files = (uint64_t)v;
    return true;
}

bool config_set_min_changed_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                                 Error *err)
{
    (void)ld;
    return config_size_or_units(&cfg->strategy.min_changed_size, name, value,
                                "OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB", 1024, "KB", err);
}

bool config_set_max_skips(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    if (value != NULL && strcasecmp(value, "auto") == 0) {
        cfg->strategy.max_skips = -1;
        return true;
    }
    long v;
    if (!config_parse_int(name, value, 0, 1000000, &v, NULL))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a count; use auto or a number from 0 (never skip) to "
                         "1000000",
                         name, value != NULL ? value : "");
    cfg->strategy.max_skips = (int)v;
    return true;
}

static bool config_level(int *out, const char *name, const char *value, Error *err)
{
    long v;
    if (!config_parse_int(name, value, 1, 19, &v, NULL))
        return error_set(err, ERR_USAGE, "%s: '%s' is not a compression level; " LEVEL_FORM, name,
                         value != NULL ? value : "");
    *out = (int)v;
    return true;
}

bool config_set_level_min(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_level(&cfg->strategy.level_min, name, value, err);
}

bool config_set_level_max(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_level(&cfg->strategy.level_max, name, value, err);
}

/* A volume size bound: 4K to 64G, as HFSYNC_VOLUME_SIZE. */
static bool config_volume_bound(uint64_t *out, const char *name, const char *value, Error *err)
{
    uint64_t v;
    if (!config_parse_size(name, value, &v, err))
        return false;
    if (v < (4u << 10) || v > (64ull << 30))
        return error_set(err, ERR_USAGE, "%s: '%s' is out of range; use a size from 4K to 64G",
                         name, value);
    *out = v;
    return true;
}

bool config_set_volume_min(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_volume_bound(&cfg->strategy.volume_min, name, value, err);
}

bool config_set_volume_max(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_volume_bound(&cfg->strategy.volume_max, name, value, err);
}

bool config_set_small_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_size_or_units(&cfg->strategy.small_size, name, value,
                                "OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB", 1u << 20, "MB", err);
}

bool config_set_large_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_size_or_units(&cfg->strategy.large_size, name, value,
                                "OPENCLAW_DYNAMIC_MEDIUM_THRESHOLD_MB", 1u << 20, "MB", err);
}

static bool config_rate(double *out, const char *name, const char *value, Error *err)
{
    if (!config_parse_number(value, RATE_MAX, out))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a rate; use a number of changed files per minute, e.g. "
                         "10 or 0.5",
                         name, value != NULL ? value : "");
    return true;
}

bool config_set_high_rate(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_rate(&cfg->strategy.high_rate, name, value, err);
}

bool config_set_low_rate(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err)
{
    (void)ld;
    return config_rate(&cfg->strategy.low_rate, name, value, err);
}

/* Bytes per second, written as a size with an optional "/s": 2M, 2M/s. */
static bool config_speed(uint64_t *out, const char *name, const char *value, Error *err)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", value != NULL ? value : "");
    size_t n = strlen(buf);
    if (n > 2 && strcasecmp(buf + n - 2, "/s") == 0)
        buf[n - 2] = '\0';
    uint64_t v;
    if (!config_parse_size(name, buf, &v, NULL) || v == 0)
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a speed; use bytes per second with an optional K, M or "
                         "G suffix, e.g. 2M or 2M/s",
                         name, value != NULL ? value : "");
    *out = v;
    return true;
}

bool config_set_slow_upload(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_speed(&cfg->strategy.slow_upload, name, value, err);
}

bool config_set_fast_upload(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_speed(&cfg->strategy.fast_upload, name, value, err);
}

bool config_strategy_check(const Config *cfg, Error *err)
{
    const StrategyConfig *s = &cfg->strategy;
    char a[32], b[32];
    if (s->level_min > s->level_max)
        return error_set(err, ERR_USAGE,
                         "HFSYNC_COMPRESSION_MIN (%d) is above HFSYNC_COMPRESSION_MAX (%d)",
                         s->level_min, s->level_max);
    if (s->volume_min > s->volume_max) {
        size_human(s->volume_min, a);
        size_human(s->volume_max, b);
        return error_set(err, ERR_USAGE,
                         "HFSYNC_VOLUME_SIZE_MIN (%s) is above HFSYNC_VOLUME_SIZE_MAX (%s)", a, b);
    }
    if (s->small_size > s->large_size) {
        size_human(s->small_size, a);
        size_human(s->large_size, b);
        return error_set(err, ERR_USAGE,
                         "HFSYNC_DYNAMIC_SMALL_SIZE (%s) is above HFSYNC_DYNAMIC_LARGE_SIZE (%s)",
                         a, b);
    }
    if (s->low_rate > s->high_rate)
        return error_set(err, ERR_USAGE,
                         "HFSYNC_DYNAMIC_LOW_RATE (%g) is above HFSYNC_DYNAMIC_HIGH_RATE (%g)",
                         s->low_rate, s->high_rate);
    if (s->slow_upload > s->fast_upload) {
        size_human(s->slow_upload, a);
        size_human(s->fast_upload, b);
        return error_set(err, ERR_USAGE,
                         "HFSYNC_DYNAMIC_SLOW_UPLOAD (%s/s) is above HFSYNC_DYNAMIC_FAST_UPLOAD "
                         "(%s/s)",
                         a, b);
    }
    return true;
}
