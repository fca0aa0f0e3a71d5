/*
 * Retention and prune settings (config.h KeepConfig, README "Retention"), and the test clock:
 * one setter per variable, applied in order by config.c's table. Each validates its value and
 * fails with ERR_USAGE naming the variable, the value and the accepted form.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hfsync/config.h"
#include "hfsync/retention.h"

#include "config.intern.h"

#define KEEP_COUNT_MAX 1000000

/* A count of chains, backups or periods: 0 (the rule is off) to 1000000, or "unlimited". */
static bool config_set_count(int *out, const char *name, const char *value, Error *err)
{
    if (value != NULL && strcasecmp(value, "unlimited") == 0) {
        *out = RETENTION_UNLIMITED;
        return true;
    }
    long v;
    if (!config_parse_int(name, value, 0, KEEP_COUNT_MAX, &v, NULL))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a count; use a number from 0 (off) to %d, or unlimited",
                         name, value != NULL ? value : "", KEEP_COUNT_MAX);
    *out = (int)v;
    return true;
}

bool config_set_keep_full(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_set_count(&cfg->keep.full, name, value, err);
}

bool config_set_keep_last(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_set_count(&cfg->keep.last, name, value, err);
}

bool config_set_keep_daily(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_set_count(&cfg->keep.daily, name, value, err);
}

bool config_set_keep_weekly(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_set_count(&cfg->keep.weekly, name, value, err);
}

bool config_set_keep_monthly(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_set_count(&cfg->keep.monthly, name, value, err);
}

bool config_set_keep_within(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->keep.within_sec, name, value, 0, 100LL * 366 * 86400,
                               "0 (off) to 36600d", err);
}

bool config_set_stale_after(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->keep.stale_after_sec, name, value, 60, 366LL * 86400,
                               "1m to 366d", err);
}

bool config_set_checkpoint_interval(Config *cfg, const Loader *ld, const char *name,
                                    const char *value, Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->keep.checkpoint_interval_sec, name, value, 0, 86400,
                               "0 (after every volume) to 1d", err);
}

bool config_set_prune(Config *cfg, const Loader *ld, const char *name, const char *value,
                      Error *err)
{
    (void)ld;
    if (value != NULL && (strcasecmp(value, "auto") == 0 || strcasecmp(value, "off") == 0)) {
        cfg->keep.prune_auto = strcasecmp(value, "auto") == 0;
        return true;
    }
    return error_set(err, ERR_USAGE,
                     "%s: '%s' is not a prune mode; use auto (after each backup) or off (only "
                     "'hfsync prune')",
                     name, value != NULL ? value : "");
}

bool config_set_prune_max(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    return config_set_int(&cfg->keep.prune_max, name, value, 0, KEEP_COUNT_MAX, err);
}

/* Tests only: make backups (and prune) happen at a chosen time, in epoch seconds. */
bool config_set_test_now(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err)
{
    (void)ld;
    long v = 0;
    if (value != NULL && !config_parse_int(name, value, 0, 253402300799L, &v, err))
        return false;
    cfg->test_now = v;
    return true;
}
