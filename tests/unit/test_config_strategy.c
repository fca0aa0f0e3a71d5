/* Strategy settings (config_strategy.c): defaults, good and bad values, the original script's
 * OPENCLAW_* variables mapped onto them (with their units), and how the mapped settings decide. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hfsync/config.h"
#include "hfsync/strategy.h"
#include "hfsync/util.h"

#define MIB (1ull << 20)

static const char *fake_getenv(const char *name, void *ctx)
{
    for (const char *const *kv = ctx; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void load_ok(const char *const *env, Config *cfg)
{
    Error err = {0};
    if (!config_load(cfg, fake_getenv, (void *)env, &err))
        fail_msg("unexpected failure: %s", err.msg);
}

static void load_fails(const char *const *env, const char *msg)
{
    Config cfg;
    Error err = {0};
    assert_false(config_load(&cfg, fake_getenv, (void *)env, &err));
    assert_int_equal(err.code, ERR_USAGE);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("message '%s', expected '%s'", err.msg, msg);
}

static void test_defaults(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_REPO", "file:///tmp/x"), &cfg);
    const StrategyConfig *s = &cfg.strategy;
    assert_int_equal(cfg.compression_level, 0); /* auto */
    assert_true(cfg.volume_size == 0);          /* auto */
    assert_int_equal(cfg.interval_sec, 300);
    assert_true(s->dynamic);
    assert_false(s->full_only);
    assert_int_equal(s->full_interval_sec, 86400);
    assert_int_equal(s->full_ratio, 50);
    assert_true(s->min_changed_files == 0);
    assert_true(s->min_changed_size == 0);
    assert_int_equal(s->max_skips, -1);
    assert_int_equal(s->level_min, 1);
    assert_int_equal(s->level_max, 19);
    assert_true(s->volume_min == 16 * MIB);
    assert_true(s->volume_max == 1024 * MIB);
    assert_true(s->small_size == 500 * MIB);
    assert_true(s->large_size == 2000 * MIB);
    assert_true(s->high_rate == 10.0);
    assert_true(s->low_rate == 2.0);
    assert_true(s->slow_upload == 2 * MIB);
    assert_true(s->fast_upload == 64 * MIB);

    StrategySettings ss;
    strategy_settings_from_config(&cfg, &ss);
    assert_int_equal(ss.max_skips, 3); /* auto: max(3, 10 / 3) */
    assert_int_equal(ss.max_incrementals, 10);
    assert_int_equal(ss.level, 0);
    assert_true(ss.volume_size == 0);
    assert_true(ss.dynamic);
    config_free(&cfg);
}

static void test_values(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_COMPRESSION_LEVEL", "Auto", "HFSYNC_VOLUME_SIZE", "AUTO", "HFSYNC_DYNAMIC",
                "off", "HFSYNC_INCREMENTAL", "no", "HFSYNC_FULL_INTERVAL", "90m",
                "HFSYNC_FULL_RATIO", "25%", "HFSYNC_MIN_CHANGED_FILES", "7",
                "HFSYNC_MIN_CHANGED_SIZE", "3M", "HFSYNC_MAX_SKIPS", "0", "HFSYNC_COMPRESSION_MIN",
                "4", "HFSYNC_COMPRESSION_MAX", "4", "HFSYNC_VOLUME_SIZE_MIN", "4K",
                "HFSYNC_VOLUME_SIZE_MAX", "64G", "HFSYNC_DYNAMIC_SMALL_SIZE", "1G",
                "HFSYNC_DYNAMIC_LARGE_SIZE", "1G", "HFSYNC_DYNAMIC_HIGH_RATE", "0.5",
                "HFSYNC_DYNAMIC_LOW_RATE", "0", "HFSYNC_DYNAMIC_SLOW_UPLOAD", "512K/s",
                "HFSYNC_DYNAMIC_FAST_UPLOAD", "1G"),
            &cfg);
    const StrategyConfig *s = &cfg.strategy;
    assert_int_equal(cfg.compression_level, 0);
    assert_true(cfg.volume_size == 0);
    assert_false(s->dynamic);
    assert_true(s->full_only);
    assert_int_equal(s->full_interval_sec, 5400);
    assert_int_equal(s->full_ratio, 25);
    assert_true(s->min_changed_files == 7);
    assert_true(s->min_changed_size == 3 * MIB);
    assert_int_equal(s->max_skips, 0);
    assert_int_equal(s->level_min, 4);
    assert_int_equal(s->level_max, 4);
    assert_true(s->volume_min == 4096);
    assert_true(s->volume_max == 64ull << 30);
    assert_true(s->small_size == 1024 * MIB && s->large_size == 1024 * MIB);
    assert_true(s->high_rate == 0.5 && s->low_rate == 0);
    assert_true(s->slow_upload == 512 * 1024 && s->fast_upload == 1024 * MIB);
    config_free(&cfg);

    load_ok(ENV("HFSYNC_COMPRESSION_LEVEL", "12", "HFSYNC_VOLUME_SIZE", "64M",
                "HFSYNC_FULL_INTERVAL", "0", "HFSYNC_FULL_RATIO", "0", "HFSYNC_MAX_SKIPS",
                "1000000", "HFSYNC_MAX_INCREMENTALS", "30"),
            &cfg);
    assert_int_equal(cfg.compression_level, 12);
    assert_true(cfg.volume_size == 64 * MIB);
    assert_int_equal(cfg.strategy.full_interval_sec, 0);
    assert_int_equal(cfg.strategy.full_ratio, 0);
    StrategySettings ss;
    strategy_settings_from_config(&cfg, &ss);
    assert_int_equal(ss.max_skips, 1000000);
    assert_int_equal(ss.level, 12);
    assert_true(ss.volume_size == 64 * MIB);
    config_free(&cfg);

    /* HFSYNC_MAX_SKIPS=auto follows HFSYNC_MAX_INCREMENTALS as the script did */
    load_ok(ENV("HFSYNC_MAX_INCREMENTALS", "30"), &cfg);
    strategy_settings_from_config(&cfg, &ss);
    assert_int_equal(ss.max_skips, 10);
    config_free(&cfg);
    load_ok(ENV("HFSYNC_MAX_INCREMENTALS", "0"), &cfg);
    strategy_settings_from_config(&cfg, &ss);
    assert_int_equal(ss.max_skips, 3);
    config_free(&cfg);
}

static void test_bad_values(void **state)
{
    (void)state;
    load_fails(ENV("HFSYNC_FULL_INTERVAL", "367d"),
               "HFSYNC_FULL_INTERVAL: '367d' is out of range; use a duration from 0 (off) to 366d");
    load_fails(ENV("HFSYNC_FULL_RATIO", "101"),
               "HFSYNC_FULL_RATIO: '101' is not a percentage; use 0 (off) to 100, e.g. 50");
    load_fails(ENV("HFSYNC_FULL_RATIO", "half"),
               "HFSYNC_FULL_RATIO: 'half' is not a percentage; use 0 (off) to 100, e.g. 50");
    load_fails(ENV("HFSYNC_MIN_CHANGED_FILES", "-1"),
               "HFSYNC_MIN_CHANGED_FILES: '-1' is not an integer from 0 to 1000000000");
    load_fails(ENV("HFSYNC_MIN_CHANGED_SIZE", "lots"),
               "HFSYNC_MIN_CHANGED_SIZE: 'lots' is not a size; use a number of bytes with an "
               "optional K, M or G suffix, e.g. 256M");
    load_fails(ENV("HFSYNC_MAX_SKIPS", "many"),
               "HFSYNC_MAX_SKIPS: 'many' is not a count; use auto or a number from 0 (never "
               "skip) to 1000000");
    load_fails(ENV("HFSYNC_DYNAMIC", "maybe"),
               "HFSYNC_DYNAMIC: 'maybe' is not a boolean; use true or false (also 1/0, yes/no, "
               "on/off)");
    load_fails(ENV("HFSYNC_COMPRESSION_MIN", "0"),
               "HFSYNC_COMPRESSION_MIN: '0' is not a compression level; use a zstd level from 1 "
               "(fastest) to 19 (smallest)");
    load_fails(ENV("HFSYNC_COMPRESSION_MAX", "auto"),
               "HFSYNC_COMPRESSION_MAX: 'auto' is not a compression level; use a zstd level from "
               "1 (fastest) to 19 (smallest)");
    load_fails(ENV("HFSYNC_VOLUME_SIZE_MAX", "1K"),
               "HFSYNC_VOLUME_SIZE_MAX: '1K' is out of range; use a size from 4K to 64G");
    load_fails(ENV("HFSYNC_DYNAMIC_HIGH_RATE", "-1"),
               "HFSYNC_DYNAMIC_HIGH_RATE: '-1' is not a rate; use a number of changed files per "
               "minute, e.g. 10 or 0.5");
    load_fails(ENV("HFSYNC_DYNAMIC_LOW_RATE", "nan"),
               "HFSYNC_DYNAMIC_LOW_RATE: 'nan' is not a rate; use a number of changed files per "
               "minute, e.g. 10 or 0.5");
    load_fails(ENV("HFSYNC_DYNAMIC_SLOW_UPLOAD", "0"),
               "HFSYNC_DYNAMIC_SLOW_UPLOAD: '0' is not a speed; use bytes per second with an "
               "optional K, M or G suffix, e.g. 2M or 2M/s");
    /* pairs out of order */
    load_fails(ENV("HFSYNC_COMPRESSION_MIN", "10", "HFSYNC_COMPRESSION_MAX", "9"),
               "HFSYNC_COMPRESSION_MIN (10) is above HFSYNC_COMPRESSION_MAX (9)");
    load_fails(ENV("HFSYNC_VOLUME_SIZE_MIN", "2G"),
               "HFSYNC_VOLUME_SIZE_MIN (2.0 GiB) is above HFSYNC_VOLUME_SIZE_MAX (1.0 GiB)");
    load_fails(ENV("HFSYNC_DYNAMIC_SMALL_SIZE", "3G"),
               "HFSYNC_DYNAMIC_SMALL_SIZE (3.0 GiB) is above HFSYNC_DYNAMIC_LARGE_SIZE (2.0 GiB)");
    load_fails(ENV("HFSYNC_DYNAMIC_LOW_RATE", "20"),
               "HFSYNC_DYNAMIC_LOW_RATE (20) is above HFSYNC_DYNAMIC_HIGH_RATE (10)");
    load_fails(ENV("HFSYNC_DYNAMIC_FAST_UPLOAD", "1M"),
               "HFSYNC_DYNAMIC_SLOW_UPLOAD (2.0 MiB/s) is above HFSYNC_DYNAMIC_FAST_UPLOAD "
               "(1.0 MiB/s)");
}

/* Each OPENCLAW_* variable lands on its setting, converted from the script's unit. */
static void test_openclaw_aliases(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("OPENCLAW_INCREMENTAL_INTERVAL_MINUTES", "5", "OPENCLAW_FULL_BACKUP_INTERVAL_HOURS",
                "2", "OPENCLAW_INCREMENTAL_BACKUP", "false", "OPENCLAW_DYNAMIC_BACKUP", "false",
                "OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB", "100",
                "OPENCLAW_DYNAMIC_MEDIUM_THRESHOLD_MB", "1000", "OPENCLAW_DYNAMIC_HIGH_CHANGE_RATE",
                "20", "OPENCLAW_DYNAMIC_LOW_CHANGE_RATE", "1.5",
                "OPENCLAW_DYNAMIC_MIN_CHANGED_FILES", "5", "OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB",
                "100", "OPENCLAW_BACKUP_COMPRESSION_LEVEL", "9", "OPENCLAW_BACKUP_SPLIT_SIZE",
                "500M"),
            &cfg);
    const StrategyConfig *s = &cfg.strategy;
    assert_int_equal(cfg.interval_sec, 300);
    assert_int_equal(s->full_interval_sec, 7200);
    assert_true(s->full_only);
    assert_false(s->dynamic);
    assert_true(s->small_size == 100 * MIB);
    assert_true(s->large_size == 1000 * MIB);
    assert_true(s->high_rate == 20.0);
    assert_true(s->low_rate == 1.5);
    assert_true(s->min_changed_files == 5);
    assert_true(s->min_changed_size == 100 * 1024);
    assert_int_equal(cfg.compression_level, 9); /* gzip 1-9 taken as the same zstd level */
    assert_true(cfg.volume_size == 500 * MIB);
    config_free(&cfg);

    /* fractions of an hour; 0 hours is off */
    load_ok(ENV("OPENCLAW_FULL_BACKUP_INTERVAL_HOURS", "0.5"), &cfg);
    assert_int_equal(cfg.strategy.full_interval_sec, 1800);
    config_free(&cfg);
    load_ok(ENV("OPENCLAW_FULL_BACKUP_INTERVAL_HOURS", "0"), &cfg);
    assert_int_equal(cfg.strategy.full_interval_sec, 0);
    config_free(&cfg);

    /* the HFSYNC_ name wins over its alias */
    load_ok(ENV("OPENCLAW_FULL_BACKUP_INTERVAL_HOURS", "2", "HFSYNC_FULL_INTERVAL", "3h",
                "OPENCLAW_INCREMENTAL_INTERVAL_MINUTES", "5", "HFSYNC_INTERVAL", "90s",
                "OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB", "100", "HFSYNC_MIN_CHANGED_SIZE", "1M",
                "OPENCLAW_DYNAMIC_BACKUP", "false", "HFSYNC_DYNAMIC", "true"),
            &cfg);
    assert_int_equal(cfg.strategy.full_interval_sec, 3 * 3600);
    assert_int_equal(cfg.interval_sec, 90);
    assert_true(cfg.strategy.min_changed_size == MIB);
    assert_true(cfg.strategy.dynamic);
    config_free(&cfg);

    /* the script's units, not hfsync's suffixes */
    load_fails(ENV("OPENCLAW_INCREMENTAL_INTERVAL_MINUTES", "5m"),
               "OPENCLAW_INCREMENTAL_INTERVAL_MINUTES: '5m' is not a number of minutes from 1 to "
               "10080");
    load_fails(ENV("OPENCLAW_INCREMENTAL_INTERVAL_MINUTES", "0"),
               "OPENCLAW_INCREMENTAL_INTERVAL_MINUTES: '0' is not a number of minutes from 1 to "
               "10080");
    load_fails(ENV("OPENCLAW_FULL_BACKUP_INTERVAL_HOURS", "2h"),
               "OPENCLAW_FULL_BACKUP_INTERVAL_HOURS: '2h' is not a number of hours from 0 (off) "
               "to 8784");
    load_fails(ENV("OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB", "100K"),
               "OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB: '100K' is not a whole number of KB");
    load_fails(ENV("OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB", "1.5"),
               "OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB: '1.5' is not a whole number of MB");
    load_fails(ENV("OPENCLAW_INCREMENTAL_BACKUP", "sometimes"),
               "OPENCLAW_INCREMENTAL_BACKUP: 'sometimes' is not a boolean; use true or false "
               "(also 1/0, yes/no, on/off)");
    load_fails(ENV("OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB", "3000"),
               "HFSYNC_DYNAMIC_SMALL_SIZE (2.9 GiB) is above HFSYNC_DYNAMIC_LARGE_SIZE (2.0 GiB)");
}

/* The mapped settings decide as the script's did, in hfsync's terms. */
static void test_openclaw_decisions(void **state)
{
    (void)state;
    Config cfg;
    StrategySettings s;
    StrategyDecision d;
    /* 3 files and 10 KB changed, under the script's 5 files / 100 KB: skipped at most
     * max(3, max_incrementals / 3) times in a row */
    load_ok(ENV("OPENCLAW_DYNAMIC_MIN_CHANGED_FILES", "5", "OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB",
                "100", "OPENCLAW_MAX_INCREMENTAL_BACKUPS", "12"),
            &cfg);
    strategy_settings_from_config(&cfg, &s);
    config_free(&cfg);
    StrategyInput in = {.changes = {.changed = 3,
                                    .files = 3,
                                    .store_files = 3,
                                    .bytes = 10 * 1024,
                                    .total_entries = 100,
                                    .total_files = 100,
                                    .total_bytes = 100 * MIB},
                        .chain_incrementals = 1,
                        .full_age_sec = 600,
                        .since_prev_sec = 300};
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_SKIP);
    in.skips = 3;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_SKIP); /* max(3, 12 / 3) = 4 */
    in.skips = 4;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_INCREMENTAL);

    /* OPENCLAW_FULL_BACKUP_INTERVAL_HOURS=2: a full 2 hours after the last one */
    load_ok(ENV("OPENCLAW_FULL_BACKUP_INTERVAL_HOURS", "2"), &cfg);
    strategy_settings_from_config(&cfg, &s);
    config_free(&cfg);
    in.skips = 0;
    in.full_age_sec = 7200;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_FULL);
    assert_non_null(strstr(d.reason, "HFSYNC_FULL_INTERVAL 2h00m"));

    /* OPENCLAW_INCREMENTAL_BACKUP=false: every backup is full */
    load_ok(ENV("OPENCLAW_INCREMENTAL_BACKUP", "false"), &cfg);
    strategy_settings_from_config(&cfg, &s);
    config_free(&cfg);
    in.full_age_sec = 60;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_FULL);

    /* OPENCLAW_DYNAMIC_BACKUP=false: the fixed level (the script's level 6 as zstd 6) */
    load_ok(ENV("OPENCLAW_DYNAMIC_BACKUP", "false", "OPENCLAW_BACKUP_COMPRESSION_LEVEL", "6"),
            &cfg);
    strategy_settings_from_config(&cfg, &s);
    config_free(&cfg);
    in.upload_rate = 100 * 1024; /* slow: would raise a dynamic level */
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_INCREMENTAL);
    assert_int_equal(d.level, 6);
    assert_true(d.volume_size == 256 * MIB);

    /* the script's size classes and change rates on the dynamic level */
    load_ok(ENV("OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB", "1", "OPENCLAW_DYNAMIC_MEDIUM_THRESHOLD_MB",
                "50", "OPENCLAW_DYNAMIC_LOW_CHANGE_RATE", "0.1"),
            &cfg);
    strategy_settings_from_config(&cfg, &s);
    config_free(&cfg);
    in.upload_rate = 0;
    in.changes.bytes = 10 * MIB; /* medium with these thresholds */
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.level, 6); /* 0.6 files/min: not below 0.1 */
    in.since_prev_sec = 3600;     /* 0.05 files/min */
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.level, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_values),
        cmocka_unit_test(test_bad_values),         cmocka_unit_test(test_openclaw_aliases),
        cmocka_unit_test(test_openclaw_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
