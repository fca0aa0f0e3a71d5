/* Retention and prune settings (config_keep.c): defaults, good and bad values, the
 * OPENCLAW_BACKUP_KEEP_COUNT alias, and the test clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hfsync/config.h"
#include "hfsync/retention.h"
#include "hfsync/util.h"

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
    assert_int_equal(cfg.keep.full, 12);
    assert_int_equal(cfg.keep.last, 0);
    assert_int_equal(cfg.keep.daily, 7);
    assert_int_equal(cfg.keep.weekly, 4);
    assert_int_equal(cfg.keep.monthly, 3);
    assert_int_equal(cfg.keep.within_sec, 0);
    assert_int_equal(cfg.keep.stale_after_sec, 86400);
    assert_true(cfg.keep.prune_auto);
    assert_int_equal(cfg.keep.prune_max, 100);
    assert_int_equal(cfg.test_now, 0);
    config_free(&cfg);
}

static void test_values(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_KEEP_FULL", "0", "HFSYNC_KEEP_LAST", "48", "HFSYNC_KEEP_DAILY", "Unlimited",
                "HFSYNC_KEEP_WEEKLY", "1000000", "HFSYNC_KEEP_MONTHLY", "1", "HFSYNC_KEEP_WITHIN",
                "7d", "HFSYNC_STALE_AFTER", "90m", "HFSYNC_PRUNE", "OFF", "HFSYNC_PRUNE_MAX", "0",
                "HFSYNC_TEST_NOW", "1790000000"),
            &cfg);
    assert_int_equal(cfg.keep.full, 0);
    assert_int_equal(cfg.keep.last, 48);
    assert_int_equal(cfg.keep.daily, RETENTION_UNLIMITED);
    assert_int_equal(cfg.keep.weekly, 1000000);
    assert_int_equal(cfg.keep.monthly, 1);
    assert_int_equal(cfg.keep.within_sec, 7 * 86400);
    assert_int_equal(cfg.keep.stale_after_sec, 90 * 60);
    assert_false(cfg.keep.prune_auto);
    assert_int_equal(cfg.keep.prune_max, 0);
    assert_int_equal(cfg.test_now, 1790000000);
    /* flags and overrides go through the same setters */
    Error err = {0};
    assert_true(config_set(&cfg, "HFSYNC_PRUNE", "auto", &err));
    assert_true(cfg.keep.prune_auto);
    assert_false(config_set(&cfg, "HFSYNC_KEEP_FULL", "-1", &err));
    assert_int_equal(err.code, ERR_USAGE);
    config_free(&cfg);
}

/* The original script's intended retention count is the newest N backups with their chains. */
static void test_openclaw_keep_count(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("OPENCLAW_BACKUP_KEEP_COUNT", "48"), &cfg);
    assert_int_equal(cfg.keep.last, 48);
    config_free(&cfg);
    load_ok(ENV("OPENCLAW_BACKUP_KEEP_COUNT", "48", "HFSYNC_KEEP_LAST", "5"), &cfg);
    assert_int_equal(cfg.keep.last, 5);
    config_free(&cfg);
}

static void test_bad_values(void **state)
{
    (void)state;
    load_fails(ENV("HFSYNC_KEEP_DAILY", "often"),
               "HFSYNC_KEEP_DAILY: 'often' is not a count; use a number from 0 (off) to 1000000, "
               "or unlimited");
    load_fails(ENV("HFSYNC_KEEP_FULL", "1000001"),
               "HFSYNC_KEEP_FULL: '1000001' is not a count; use a number from 0 (off) to "
               "1000000, or unlimited");
    load_fails(ENV("OPENCLAW_BACKUP_KEEP_COUNT", "-3"),
               "OPENCLAW_BACKUP_KEEP_COUNT: '-3' is not a count; use a number from 0 (off) to "
               "1000000, or unlimited");
    load_fails(ENV("HFSYNC_KEEP_WITHIN", "1w"),
               "HFSYNC_KEEP_WITHIN: '1w' is not a duration; use a number of seconds with an "
               "optional s, m, h or d suffix, e.g. 90s, 5m or 2h");
    load_fails(ENV("HFSYNC_STALE_AFTER", "30s"),
               "HFSYNC_STALE_AFTER: '30s' is out of range; use a duration from 1m to 366d");
    load_fails(ENV("HFSYNC_PRUNE", "yes"),
               "HFSYNC_PRUNE: 'yes' is not a prune mode; use auto (after each backup) or off "
               "(only 'hfsync prune')");
    load_fails(ENV("HFSYNC_PRUNE_MAX", "lots"),
               "HFSYNC_PRUNE_MAX: 'lots' is not an integer from 0 to 1000000");
    load_fails(ENV("HFSYNC_TEST_NOW", "yesterday"),
               "HFSYNC_TEST_NOW: 'yesterday' is not an integer from 0 to 253402300799");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_openclaw_keep_count),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
