/* Config: defaults, precedence, every value parser and every variable's good and bad values. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

/* A fake environment: NULL-terminated name, value pairs. */
static const char *fake_getenv(const char *name, void *ctx)
{
    for (const char *const *kv = ctx; kv[0] != NULL; kv += 2) {
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    }
    return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const no_env[] = {NULL};

static void load_ok(const char *const *env, Config *cfg)
{
    Error err = {0};
    bool ok = config_load(cfg, fake_getenv, (void *)env, &err);
    if (!ok)
        print_error("unexpected failure: %s\n", err.msg);
    assert_true(ok);
}

/* Loading fails with ERR_USAGE and exactly `msg` (or a message starting with it when `prefix`). */
static void load_fails(const char *const *env, const char *msg, bool prefix)
{
    Config cfg;
    Error err = {0};
    assert_false(config_load(&cfg, fake_getenv, (void *)env, &err));
    assert_int_equal(err.code, ERR_USAGE);
    if (prefix) {
        if (!str_starts_with(err.msg, msg))
            print_error("message: %s\n", err.msg);
        assert_true(str_starts_with(err.msg, msg));
    } else {
        assert_string_equal(err.msg, msg);
    }
    /* left freed */
    assert_null(cfg.prefix);
    assert_null(cfg.sources);
    assert_null(cfg.target.url);
}

/* ---- value parsers ---- */

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t out;
    } good[] = {
        {"0", 0},
        {"4096", 4096},
        {"256K", 256u << 10},
        {"256k", 256u << 10},
        {"256M", 256u << 20},
        {"1G", 1u << 30},
        {"2KB", 2048},
        {"3mb", 3u << 20},
        {"1GiB", 1u << 30},
        {"5MiB", 5u << 20},
        {"7kib", 7u << 10},
        {"17179869183G", 17179869183ull << 30},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 1;
        Error err = {0};
        assert_true(config_parse_size("X", good[i].in, &v, &err));
        assert_true(v == good[i].out);
    }
    static const char *const bad[] = {"12X", "",   "-1", " 1",   "1 ",  "+1", "1.5G",
                                      "K",   "1T", "1B", "0x10", "1MM", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        Error err = {0};
        assert_false(config_parse_size("HFSYNC_VOLUME_SIZE", bad[i], &v, &err));
        assert_int_equal(err.code, ERR_USAGE);
        char *want = str_printf("HFSYNC_VOLUME_SIZE: '%s' is not a size; use a number of bytes "
                                "with an optional K, M or G suffix, e.g. 256M",
                                bad[i]);
        assert_string_equal(err.msg, want);
        free(want);
        assert_true(v == 7);
    }
    Error err = {0};
    uint64_t v;
    assert_false(config_parse_size("S", "17179869184G", &v, &err));
    assert_string_equal(err.msg, "S: '17179869184G' is too large; use a number of bytes with an "
                                 "optional K, M or G suffix, e.g. 256M");
    assert_false(config_parse_size("S", "18446744073709551616", &v, &err));
    assert_true(strstr(err.msg, "is too large") != NULL);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t out;
    } good[] = {{"300", 300}, {"0", 0},       {"90s", 90},      {"5m", 300},
                {"2h", 7200}, {"7d", 604800}, {"3H", 3 * 3600}, {"9223372036854775807", INT64_MAX}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -1;
        Error err = {0};
        assert_true(config_parse_duration("X", good[i].in, &v, &err));
        assert_true(v == good[i].out);
    }
    static const char *const bad[] = {"", "-5", "5x", "5 m", "1.5h", "m", "5ms", "1w"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 0;
        Error err = {0};
        assert_false(config_parse_duration("HFSYNC_PROGRESS_INTERVAL", bad[i], &v, &err));
        assert_int_equal(err.code, ERR_USAGE);
        char *want = str_printf("HFSYNC_PROGRESS_INTERVAL: '%s' is not a duration; use a number "
                                "of seconds with an optional s, m, h or d suffix, e.g. 90s, 5m "
                                "or 2h",
                                bad[i]);
        assert_string_equal(err.msg, want);
        free(want);
    }
    Error err = {0};
    int64_t v;
    assert_false(config_parse_duration("D", "106751991167301d", &v, &err));
    assert_true(str_starts_with(err.msg, "D: '106751991167301d' is too long; use a number"));
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"1", "true", "TRUE", "Yes", "on", "ON"};
    static const char *const no[] = {"0", "false", "False", "no", "NO", "off"};
    for (size_t i = 0; i < 6; i++) {
        bool v = false;
        Error err = {0};
        assert_true(config_parse_bool("B", yes[i], &v, &err));
        assert_true(v);
        assert_true(config_parse_bool("B", no[i], &v, &err));
        assert_false(v);
    }
    static const char *const bad[] = {"", "2", "y", "n", "truee", " true", "enabled"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool v = true;
        Error err = {0};
        assert_false(config_parse_bool("HFSYNC_RESTORE_SETID", bad[i], &v, &err));
        assert_int_equal(err.code, ERR_USAGE);
        char *want = str_printf("HFSYNC_RESTORE_SETID: '%s' is not a boolean; use true or false "
                                "(also 1/0, yes/no, on/off)",
                                bad[i]);
        assert_string_equal(err.msg, want);
        free(want);
        assert_true(v);
    }
}

static void test_parse_int(void **state)
{
    (void)state;
    long v = 0;
    Error err = {0};
    assert_true(config_parse_int("I", "19", 1, 19, &v, &err));
    assert_int_equal(v, 19);
    assert_true(config_parse_int("I", "-5", -10, 10, &v, &err));
    assert_int_equal(v, -5);
    assert_true(config_parse_int("I", "0", 0, 0, &v, &err));
    assert_int_equal(v, 0);
    static const char *const bad[] = {
        "20", "0", "", "3x", "+3", " 3", "-", "3.0", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 42;
        assert_false(config_parse_int("HFSYNC_COMPRESSION_LEVEL", bad[i], 1, 19, &v, &err));
        assert_int_equal(err.code, ERR_USAGE);
        char *want =
            str_printf("HFSYNC_COMPRESSION_LEVEL: '%s' is not an integer from 1 to 19", bad[i]);
        assert_string_equal(err.msg, want);
        free(want);
        assert_int_equal(v, 42);
    }
}

/* ---- targets ---- */

static void test_target_parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        TargetKind kind;
        const char *url, *path, *bucket, *repo_type, *repo_id;
    } cases[] = {
        {"file:///var/backups", TARGET_FILE, "file:///var/backups", "/var/backups"},
        {"file:///var/backups///", TARGET_FILE, "file:///var/backups", "/var/backups"},
        {"/srv/b/", TARGET_FILE, "file:///srv/b", "/srv/b"},
        {"/srv/a://b@c", TARGET_FILE, "file:///srv/a://b@c", "/srv/a://b@c"},
        {"mem://t1", TARGET_MEM, "mem://t1", "t1"},
        {"s3://my-bucket", TARGET_S3, "s3://my-bucket", "", "my-bucket"},
        {"s3://my.bucket-1/a/b//", TARGET_S3, "s3://my.bucket-1/a/b", "a/b", "my.bucket-1"},
        {"s3://abc/", TARGET_S3, "s3://abc", "", "abc"},
        {"hf://datasets/alice/agent-state", TARGET_HF, "hf://datasets/alice/agent-state", "", NULL,
         "dataset", "alice/agent-state"},
        {"hf://datasets/alice/st.ate_1/sub/dir/", TARGET_HF, "hf://datasets/alice/st.ate_1/sub/dir",
         "sub/dir", NULL, "dataset", "alice/st.ate_1"},
        {"hf://spaces/bob/app", TARGET_HF, "hf://spaces/bob/app", "", NULL, "space", "bob/app"},
        {"hf://models/bob/m/x", TARGET_HF, "hf://bob/m/x", "x", NULL, "model", "bob/m"},
        {"hf://bob/m", TARGET_HF, "hf://bob/m", "", NULL, "model", "bob/m"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Target t;
        Error err = {0};
        assert_true(target_parse(cases[i].in, &t, &err));
        assert_int_equal(t.kind, cases[i].kind);
        assert_string_equal(t.url, cases[i].url);
        assert_string_equal(t.path, cases[i].path);
        if (cases[i].bucket != NULL)
            assert_string_equal(t.bucket, cases[i].bucket);
        else
            assert_null(t.bucket);
        if (cases[i].repo_type != NULL) {
            assert_string_equal(t.repo_type, cases[i].repo_type);
            assert_string_equal(t.repo_id, cases[i].repo_id);
        } else {
            assert_null(t.repo_id);
        }
        target_free(&t);
        assert_null(t.url);
    }
}

static void test_target_parse_bad(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *why; /* NULL: the general message */
    } cases[] = {
        {"ftp://host/x", NULL},
        {"", NULL},
        {"relative/dir", NULL},
        {"mem://", NULL},
        {"file://relative", "file:// needs an absolute path, e.g. file:///var/backups"},
        {"s3://AB", "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'"},
        {"s3://ab", "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'"},
        {"s3://-abc", "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'"},
        {"s3://abc-", "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'"},
        {"s3://a_bc", "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'"},
        {"s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'"},
        {"s3://abc/x/../y", "the key prefix has an empty, '.' or '..' component"},
        {"hf://datasets/alice", "a Hub repo is namespace/name"},
        {"hf://datasets/.alice/x",
         "the namespace must be 1-96 characters of letters, digits, '.', '_' and '-'"},
        {"hf://datasets/alice/-x",
         "the repo name must be 1-96 characters of letters, digits, '.', '_' and '-'"},
        {"hf://datasets/alice/a..b",
         "the repo name must be 1-96 characters of letters, digits, '.', '_' and '-'"},
        {"hf://datasets/alice/x@main",
         "the repo name must be 1-96 characters of letters, digits, '.', '_' and '-'"},
        {"hf://datasets/alice/x/../y",
         "the folder inside the repo has an empty, '.' or '..' component"},
        {"hf://", "a Hub repo is namespace/name"},
        {"hf://datasets/a--b/x",
         "the namespace must be 1-96 characters of letters, digits, '.', '_' and '-'"},
        {"/x\ny", "it contains a control character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Target t;
        Error err = {0};
        assert_false(target_parse(cases[i].in, &t, &err));
        assert_int_equal(err.code, ERR_USAGE);
        char *want = cases[i].why == NULL
                         ? str_printf("'%s' is not a valid target; expected file:///path, "
                                      "s3://bucket/prefix or hf://datasets/namespace/name",
                                      cases[i].in)
                         : str_printf("'%s' is not a valid target (%s); expected file:///path, "
                                      "s3://bucket/prefix or hf://datasets/namespace/name",
                                      cases[i].in, cases[i].why);
        assert_string_equal(err.msg, want);
        free(want);
        assert_int_equal(t.kind, TARGET_NONE);
        assert_null(t.url);
    }
    char name96[97];
    memset(name96, 'a', 96);
    name96[96] = '\0';
    char *url = str_printf("hf://datasets/ns/%s", name96);
    Target t;
    Error err = {0};
    assert_true(target_parse(url, &t, &err));
    target_free(&t);
    free(url);
    url = str_printf("hf://datasets/ns/%sa", name96);
    assert_false(target_parse(url, &t, &err));
    free(url);
}

static void test_target_refuses_credentials(void **state)
{
    (void)state;
    static const char *const urls[] = {"s3://key:s3cr3tpass@bucket/p",
                                       "hf://user:s3cr3tpass@datasets/a/b",
                                       "file://u:s3cr3tpass@/x"};
    for (size_t i = 0; i < 3; i++) {
        Target t;
        Error err = {0};
        assert_false(target_parse(urls[i], &t, &err));
        assert_int_equal(err.code, ERR_USAGE);
        assert_null(strstr(err.msg, "s3cr3tpass"));
        assert_true(str_starts_with(err.msg, "the target URL must not carry credentials"));
    }
    load_fails(ENV("HFSYNC_REPO", "s3://k:s3cr3tpass@bucket"),
               "HFSYNC_REPO: the target URL must not carry credentials", true);
}

static void test_repo_variable(void **state)
{
    (void)state;
    load_fails(ENV("HFSYNC_REPO", "ftp://x"),
               "HFSYNC_REPO: 'ftp://x' is not a valid target; expected file:///path, "
               "s3://bucket/prefix or hf://datasets/namespace/name",
               false);
    Config cfg;
    load_ok(ENV("HFSYNC_REPO", "hf://datasets/alice/agent-state", "OPENCLAW_BACKUP_DATASET_REPO",
                "other/repo"),
            &cfg);
    assert_string_equal(cfg.target.repo_id, "alice/agent-state");
    /* the OpenClaw repo variable still selects the original script's sources */
    assert_true(cfg.openclaw);
    assert_int_equal(cfg.source_count, 10);
    config_free(&cfg);
}

static void test_openclaw_repo_alias(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/agent-state"), &cfg);
    assert_int_equal(cfg.target.kind, TARGET_HF);
    assert_string_equal(cfg.target.url, "hf://datasets/alice/agent-state");
    assert_string_equal(cfg.target.repo_type, "dataset");
    assert_string_equal(cfg.target.repo_id, "alice/agent-state");
    assert_string_equal(cfg.target.path, "");
    config_free(&cfg);

    load_ok(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/m", "OPENCLAW_BACKUP_REPO_TYPE", "model"),
            &cfg);
    assert_string_equal(cfg.target.url, "hf://alice/m");
    assert_string_equal(cfg.target.repo_type, "model");
    config_free(&cfg);

    load_ok(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/s", "OPENCLAW_BACKUP_REPO_TYPE", "space"),
            &cfg);
    assert_string_equal(cfg.target.url, "hf://spaces/alice/s");
    config_free(&cfg);

    load_fails(
        ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/s", "OPENCLAW_BACKUP_REPO_TYPE", "datasets"),
        "OPENCLAW_BACKUP_REPO_TYPE: 'datasets' is not a repo type; use dataset, model or "
        "space",
        false);
    load_fails(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice"),
               "OPENCLAW_BACKUP_DATASET_REPO: 'alice' is not a repo id; expected namespace/name, "
               "e.g. alice/agent-state",
               false);
    load_fails(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/x/sub"),
               "OPENCLAW_BACKUP_DATASET_REPO: 'alice/x/sub' is not a repo id", true);
}

static void test_restore_target(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/new", "OPENCLAW_RESTORE_DATASET_REPO",
                "alice/old"),
            &cfg);
    assert_string_equal(cfg.target.repo_id, "alice/new");
    assert_int_equal(cfg.restore_target.kind, TARGET_HF);
    assert_string_equal(cfg.restore_target.url, "hf://datasets/alice/old");
    config_free(&cfg);

    load_ok(ENV("HFSYNC_RESTORE_REPO", "s3://old-bucket/x", "OPENCLAW_RESTORE_DATASET_REPO",
                "alice/old"),
            &cfg);
    assert_int_equal(cfg.restore_target.kind, TARGET_S3);
    assert_int_equal(cfg.target.kind, TARGET_NONE);
    config_free(&cfg);

    load_fails(ENV("HFSYNC_RESTORE_REPO", "nope"),
               "HFSYNC_RESTORE_REPO: 'nope' is not a valid target", true);
    load_fails(ENV("OPENCLAW_RESTORE_DATASET_REPO", "a/b/c"),
               "OPENCLAW_RESTORE_DATASET_REPO: 'a/b/c' is not a repo id", true);
}

/* ---- defaults and plain settings ---- */

static void test_defaults(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HOME", "/home/u"), &cfg);
    assert_int_equal(cfg.target.kind, TARGET_NONE);
    assert_int_equal(cfg.restore_target.kind, TARGET_NONE);
    assert_string_equal(cfg.prefix, "backups");
    assert_int_equal(cfg.source_count, 0);
    assert_int_equal(cfg.exclude_count, 0);
    assert_true(cfg.volume_size == 0);          /* auto: chosen per backup */
    assert_int_equal(cfg.compression_level, 0); /* auto */
    assert_int_equal(cfg.threads, 0);
    assert_int_equal(cfg.max_incrementals, 10);
    assert_false(cfg.restore_setid);
    assert_int_equal(cfg.progress_interval_sec, 10);
    assert_string_equal(cfg.work_dir, "/tmp/hfsync");
    assert_string_equal(cfg.cache_dir, "/home/u/.cache/hfsync");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_null(cfg.env_file);
    assert_false(cfg.openclaw);
    config_free(&cfg);
}

static void test_default_dirs(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("TMPDIR", "/scratch/", "XDG_CACHE_HOME", "/xdg", "HOME", "/home/u"), &cfg);
    assert_string_equal(cfg.work_dir, "/scratch/hfsync");
    assert_string_equal(cfg.cache_dir, "/xdg/hfsync");
    config_free(&cfg);

    load_ok(no_env, &cfg);
    assert_string_equal(cfg.work_dir, "/tmp/hfsync");
    assert_string_equal(cfg.cache_dir, "/var/cache/hfsync");
    config_free(&cfg);

    /* relative values of the standard variables are ignored, as the XDG spec says */
    load_ok(ENV("TMPDIR", "tmp", "XDG_CACHE_HOME", "cache", "HOME", "home"), &cfg);
    assert_string_equal(cfg.work_dir, "/tmp/hfsync");
    assert_string_equal(cfg.cache_dir, "/var/cache/hfsync");
    config_free(&cfg);

    load_ok(ENV("HFSYNC_WORK_DIR", "/w//", "HFSYNC_CACHE_DIR", "/c"), &cfg);
    assert_string_equal(cfg.work_dir, "/w");
    assert_string_equal(cfg.cache_dir, "/c");
    config_free(&cfg);

    load_fails(ENV("HFSYNC_WORK_DIR", "work"),
               "HFSYNC_WORK_DIR: 'work' is not an absolute path; use a directory such as "
               "/tmp/hfsync",
               false);
    load_fails(ENV("HFSYNC_CACHE_DIR", "./c"),
               "HFSYNC_CACHE_DIR: './c' is not an absolute path; use a directory such as "
               "/tmp/hfsync",
               false);
}

static void test_numeric_settings(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_VOLUME_SIZE", "4K", "HFSYNC_COMPRESSION_LEVEL", "19", "HFSYNC_THREADS",
                "256", "HFSYNC_MAX_INCREMENTALS", "0", "HFSYNC_RESTORE_SETID", "yes",
                "HFSYNC_PROGRESS_INTERVAL", "1d"),
            &cfg);
    assert_true(cfg.volume_size == 4096);
    assert_int_equal(cfg.compression_level, 19);
    assert_int_equal(cfg.threads, 256);
    assert_int_equal(cfg.max_incrementals, 0);
    assert_true(cfg.restore_setid);
    assert_int_equal(cfg.progress_interval_sec, 86400);
    config_free(&cfg);

    load_ok(ENV("HFSYNC_VOLUME_SIZE", "64G", "HFSYNC_MAX_INCREMENTALS", "10000",
                "HFSYNC_PROGRESS_INTERVAL", "90s"),
            &cfg);
    assert_true(cfg.volume_size == 64ull << 30);
    assert_int_equal(cfg.max_incrementals, 10000);
    assert_int_equal(cfg.progress_interval_sec, 90);
    config_free(&cfg);

    load_fails(ENV("HFSYNC_VOLUME_SIZE", "12X"),
               "HFSYNC_VOLUME_SIZE: '12X' is not a size; use auto or a size from 4K to 64G, "
               "e.g. 256M",
               false);
    load_fails(ENV("HFSYNC_VOLUME_SIZE", "4095"),
               "HFSYNC_VOLUME_SIZE: '4095' is out of range; use auto or a size from 4K to 64G",
               false);
    load_fails(ENV("HFSYNC_VOLUME_SIZE", "65G"),
               "HFSYNC_VOLUME_SIZE: '65G' is out of range; use auto or a size from 4K to 64G",
               false);
    load_fails(ENV("HFSYNC_COMPRESSION_LEVEL", "0"),
               "HFSYNC_COMPRESSION_LEVEL: '0' is not a compression level; use auto or a zstd "
               "level from 1 (fastest) to 19 (smallest)",
               false);
    load_fails(ENV("HFSYNC_COMPRESSION_LEVEL", "20"),
               "HFSYNC_COMPRESSION_LEVEL: '20' is not a compression level; use auto or a zstd "
               "level from 1 (fastest) to 19 (smallest)",
               false);
    load_fails(ENV("HFSYNC_THREADS", "257"),
               "HFSYNC_THREADS: '257' is not an integer from 0 to 256", false);
    load_fails(ENV("HFSYNC_THREADS", "-1"), "HFSYNC_THREADS: '-1' is not an integer from 0 to 256",
               false);
    load_fails(ENV("HFSYNC_MAX_INCREMENTALS", "10001"),
               "HFSYNC_MAX_INCREMENTALS: '10001' is not an integer from 0 to 10000", false);
    load_fails(ENV("HFSYNC_RESTORE_SETID", "maybe"),
               "HFSYNC_RESTORE_SETID: 'maybe' is not a boolean; use true or false (also 1/0, "
               "yes/no, on/off)",
               false);
    load_fails(ENV("HFSYNC_PROGRESS_INTERVAL", "0"),
               "HFSYNC_PROGRESS_INTERVAL: '0' is out of range; use a duration from 1s to 1d",
               false);
    load_fails(ENV("HFSYNC_PROGRESS_INTERVAL", "2d"),
               "HFSYNC_PROGRESS_INTERVAL: '2d' is out of range; use a duration from 1s to 1d",
               false);
    load_fails(ENV("HFSYNC_PROGRESS_INTERVAL", "soon"),
               "HFSYNC_PROGRESS_INTERVAL: 'soon' is not a duration", true);
}

static void test_openclaw_value_aliases(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("OPENCLAW_BACKUP_SPLIT_SIZE", "500M", "OPENCLAW_BACKUP_COMPRESSION_LEVEL", "6",
                "OPENCLAW_MAX_INCREMENTAL_BACKUPS", "4", "OPENCLAW_BACKUP_PATH_PREFIX", "/old/",
                "OPENCLAW_BACKUP_WORK_DIR", "/w"),
            &cfg);
    assert_true(cfg.volume_size == 500u << 20);
    assert_int_equal(cfg.compression_level, 6);
    assert_int_equal(cfg.max_incrementals, 4);
    assert_string_equal(cfg.prefix, "old");
    assert_string_equal(cfg.work_dir, "/w");
    config_free(&cfg);

    /* the HFSYNC_ name wins over its alias */
    load_ok(ENV("OPENCLAW_BACKUP_COMPRESSION_LEVEL", "6", "HFSYNC_COMPRESSION_LEVEL", "9"), &cfg);
    assert_int_equal(cfg.compression_level, 9);
    config_free(&cfg);

    /* errors name the alias that carried the bad value */
    load_fails(ENV("OPENCLAW_BACKUP_SPLIT_SIZE", "lots"),
               "OPENCLAW_BACKUP_SPLIT_SIZE: 'lots' is not a size", true);
    load_fails(ENV("OPENCLAW_BACKUP_COMPRESSION_LEVEL", "22"),
               "OPENCLAW_BACKUP_COMPRESSION_LEVEL: '22' is not a compression level; use auto or "
               "a zstd level from 1 (fastest) to 19 (smallest)",
               false);
}

static void test_agent_settings(void **state)
{
    (void)state;
    Config cfg;
    load_ok(no_env, &cfg);
    assert_int_equal(cfg.restore_policy, RESTORE_AUTO);
    assert_false(cfg.restore_failure_start);
    assert_int_equal(cfg.restore_retries, 2);
    assert_int_equal(cfg.interval_sec, 300);
    assert_false(cfg.backup_on_start);
    assert_false(cfg.signal_group);
    assert_int_equal(cfg.stop_timeout_sec, 10);
    assert_int_equal(cfg.final_backup_timeout_sec, 20);
    assert_int_equal(cfg.lock_timeout_sec, 300);
    assert_int_equal(cfg.lease_ttl_sec, 120);
    assert_int_equal(cfg.lease_wait_sec, 60);
    assert_null(cfg.status_file);
    assert_null(cfg.restore_flag);
    config_free(&cfg);

    load_ok(ENV("HFSYNC_RESTORE", "If-Empty", "HFSYNC_ON_RESTORE_FAILURE", "start",
                "HFSYNC_RESTORE_RETRIES", "0", "HFSYNC_INTERVAL", "5m", "HFSYNC_BACKUP_ON_START",
                "yes", "HFSYNC_SIGNAL_GROUP", "1", "HFSYNC_STOP_TIMEOUT", "0",
                "HFSYNC_FINAL_BACKUP_TIMEOUT", "2m", "HFSYNC_LOCK_TIMEOUT", "0", "HFSYNC_LEASE_TTL",
                "2", "HFSYNC_LEASE_WAIT", "1h", "HFSYNC_STATUS_FILE", "/run/hfsync//status.json",
                "HFSYNC_RESTORE_FLAG", "/tmp/ready"),
            &cfg);
    assert_int_equal(cfg.restore_policy, RESTORE_IF_EMPTY);
    assert_true(cfg.restore_failure_start);
    assert_int_equal(cfg.restore_retries, 0);
    assert_int_equal(cfg.interval_sec, 300);
    assert_true(cfg.backup_on_start);
    assert_true(cfg.signal_group);
    assert_int_equal(cfg.stop_timeout_sec, 0);
    assert_int_equal(cfg.final_backup_timeout_sec, 120);
    assert_int_equal(cfg.lock_timeout_sec, 0);
    assert_int_equal(cfg.lease_ttl_sec, 2);
    assert_int_equal(cfg.lease_wait_sec, 3600);
    assert_string_equal(cfg.status_file, "/run/hfsync//status.json");
    assert_string_equal(cfg.restore_flag, "/tmp/ready");
    config_free(&cfg);

    static const char *const policies[] = {"auto", "always", "never", "if-empty"};
    for (int i = 0; i < 4; i++) {
        load_ok(ENV("HFSYNC_RESTORE", policies[i]), &cfg);
        assert_int_equal(cfg.restore_policy, (RestorePolicy)i);
        config_free(&cfg);
    }

    /* the original script's flag file, when its configuration is in use */
    load_ok(ENV("OPENCLAW_STATE_DIR", "/srv/oc"), &cfg);
    assert_string_equal(cfg.restore_flag, "/tmp/openclaw-restore-completed");
    config_free(&cfg);
    load_ok(ENV("OPENCLAW_STATE_DIR", "/srv/oc", "HFSYNC_RESTORE_FLAG", "/run/ok"), &cfg);
    assert_string_equal(cfg.restore_flag, "/run/ok");
    config_free(&cfg);

    load_fails(ENV("HFSYNC_RESTORE", "sometimes"),
               "HFSYNC_RESTORE: 'sometimes' is not a restore policy; use auto, always, never or "
               "if-empty",
               false);
    load_fails(ENV("HFSYNC_ON_RESTORE_FAILURE", "ignore"),
               "HFSYNC_ON_RESTORE_FAILURE: 'ignore' is not an action; use exit or start", false);
    load_fails(ENV("HFSYNC_RESTORE_RETRIES", "101"),
               "HFSYNC_RESTORE_RETRIES: '101' is not an integer from 0 to 100", false);
    load_fails(ENV("HFSYNC_INTERVAL", "0"),
               "HFSYNC_INTERVAL: '0' is out of range; use a duration from 1s to 7d", false);
    load_fails(ENV("HFSYNC_INTERVAL", "8d"),
               "HFSYNC_INTERVAL: '8d' is out of range; use a duration from 1s to 7d", false);
    load_fails(ENV("HFSYNC_INTERVAL", "often"), "HFSYNC_INTERVAL: 'often' is not a duration", true);
    load_fails(ENV("HFSYNC_BACKUP_ON_START", "sure"),
               "HFSYNC_BACKUP_ON_START: 'sure' is not a boolean", true);
    load_fails(ENV("HFSYNC_SIGNAL_GROUP", "2"), "HFSYNC_SIGNAL_GROUP: '2' is not a boolean", true);
    load_fails(ENV("HFSYNC_STOP_TIMEOUT", "2h"),
               "HFSYNC_STOP_TIMEOUT: '2h' is out of range; use a duration from 0s to 1h", false);
    load_fails(ENV("HFSYNC_FINAL_BACKUP_TIMEOUT", "-1"),
               "HFSYNC_FINAL_BACKUP_TIMEOUT: '-1' is not a duration", true);
    load_fails(ENV("HFSYNC_LOCK_TIMEOUT", "2d"),
               "HFSYNC_LOCK_TIMEOUT: '2d' is out of range; use a duration from 0s to 1d", false);
    load_fails(ENV("HFSYNC_LEASE_TTL", "1"),
               "HFSYNC_LEASE_TTL: '1' is out of range; use a duration from 2s to 1d", false);
    load_fails(ENV("HFSYNC_LEASE_WAIT", "forever"),
               "HFSYNC_LEASE_WAIT: 'forever' is not a duration", true);
    load_fails(ENV("HFSYNC_STATUS_FILE", "status.json"),
               "HFSYNC_STATUS_FILE: 'status.json' is not an absolute file path; use a path such "
               "as /tmp/hfsync-status.json",
               false);
    load_fails(ENV("HFSYNC_RESTORE_FLAG", "/"),
               "HFSYNC_RESTORE_FLAG: '/' is not an absolute file path; use a path such as "
               "/tmp/hfsync-status.json",
               false);
}

static void test_prefix(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } good[] = {{"backups", "backups"}, {"/a/b/", "a/b"}, {"/", ""}, {"x.y/z-1", "x.y/z-1"}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        Config cfg;
        load_ok(ENV("HFSYNC_PREFIX", good[i].in), &cfg);
        assert_string_equal(cfg.prefix, good[i].out);
        config_free(&cfg);
    }
    static const char *const bad[] = {"a/../b", "..", "a//b", "./a", "a/.", "a\tb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *want = str_printf("HFSYNC_PREFIX: '%s' is not a valid prefix; use a folder path "
                                "without empty, '.' or '..' components, e.g. backups",
                                bad[i]);
        load_fails(ENV("HFSYNC_PREFIX", bad[i]), want, false);
        free(want);
    }
}

static void test_log_settings(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_LOG_LEVEL", "DEBUG", "HFSYNC_LOG_FORMAT", "json"), &cfg);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    config_free(&cfg);
    load_ok(ENV("HFSYNC_LOG_LEVEL", "error"), &cfg);
    assert_int_equal(cfg.log_level, LOG_ERROR);
    config_free(&cfg);
    load_fails(ENV("HFSYNC_LOG_LEVEL", "verbose"),
               "HFSYNC_LOG_LEVEL: 'verbose' is not a log level; use debug, info, warn or error",
               false);
    load_fails(ENV("HFSYNC_LOG_FORMAT", "xml"),
               "HFSYNC_LOG_FORMAT: 'xml' is not a log format; use text or json", false);
}

static void test_exclude_setting(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_EXCLUDE", "*.tmp, cache/ ,,logs/**/*.gz"), &cfg);
    assert_int_equal(cfg.exclude_count, 3);
    assert_string_equal(cfg.excludes[0], "*.tmp");
    assert_string_equal(cfg.excludes[1], "cache/");
    assert_string_equal(cfg.excludes[2], "logs/**/*.gz");
    config_free(&cfg);
    load_fails(ENV("HFSYNC_EXCLUDE", "*.tmp,[abc"),
               "HFSYNC_EXCLUDE: '[abc' is not a valid exclude pattern (unbalanced '['); use globs "
               "such as *.tmp, cache/ or logs/**/*.gz",
               false);
}

static void test_empty_is_unset(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_PREFIX", "", "HFSYNC_REPO", "", "HFSYNC_VOLUME_SIZE", "",
                "OPENCLAW_BACKUP_PATH_PREFIX", "legacy"),
            &cfg);
    assert_string_equal(cfg.prefix, "legacy"); /* the empty HFSYNC_PREFIX did not hide it */
    assert_int_equal(cfg.target.kind, TARGET_NONE);
    assert_true(cfg.volume_size == 0); /* the default, auto */
    config_free(&cfg);
}

/* ---- sources ---- */

static void test_sources(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_SOURCES", "state:/data/state/, cfg:/etc/app"), &cfg);
    assert_int_equal(cfg.source_count, 2);
    assert_string_equal(cfg.sources[0].name, "state");
    assert_string_equal(cfg.sources[0].path, "/data/state");
    assert_string_equal(cfg.sources[1].name, "cfg");
    assert_string_equal(cfg.sources[1].path, "/etc/app");
    assert_false(cfg.openclaw);
    config_free(&cfg);

    load_ok(ENV("HFSYNC_SOURCE", "/var/lib/app-data/"), &cfg);
    assert_int_equal(cfg.source_count, 1);
    assert_string_equal(cfg.sources[0].name, "app-data");
    assert_string_equal(cfg.sources[0].path, "/var/lib/app-data");
    config_free(&cfg);

    load_fails(ENV("HFSYNC_SOURCES", "a:/x", "HFSYNC_SOURCE", "/y"),
               "HFSYNC_SOURCES and HFSYNC_SOURCE are both set; use one of them "
               "(HFSYNC_SOURCES=name:/path,name2:/path2 for several)",
               false);
    load_fails(ENV("HFSYNC_SOURCES", "a:rel/dir"),
               "HFSYNC_SOURCES: 'rel/dir' is not an absolute path; use a path such as /data",
               false);
    load_fails(ENV("HFSYNC_SOURCES", "a:/x,a:/y"),
               "HFSYNC_SOURCES: source name 'a' is listed twice; expected "
               "name:/path[,name2:/path2], e.g. state:/data",
               false);
    load_fails(ENV("HFSYNC_SOURCES", "a:/x/,b:/x"),
               "HFSYNC_SOURCES: path '/x' is listed twice; expected name:/path[,name2:/path2], "
               "e.g. state:/data",
               false);
    load_fails(ENV("HFSYNC_SOURCES", "my data:/x"),
               "HFSYNC_SOURCES: 'my data' is not a valid source name; use letters, digits, '.', "
               "'_' and '-'",
               false);
    load_fails(ENV("HFSYNC_SOURCES", "..:/x"), "HFSYNC_SOURCES: '..' is not a valid source name",
               true);
    load_fails(ENV("HFSYNC_SOURCES", "/just/a/path"),
               "HFSYNC_SOURCES: '/just/a/path' is not name:/path; expected "
               "name:/path[,name2:/path2], e.g. state:/data",
               false);
    load_fails(ENV("HFSYNC_SOURCE", "/"),
               "HFSYNC_SOURCE: '/' does not end in a usable archive name (letters, digits, '.', "
               "'_' and '-'); name it with HFSYNC_SOURCES=name:/",
               false);
    load_fails(ENV("HFSYNC_SOURCE", "/srv/My Files"),
               "HFSYNC_SOURCE: '/srv/My Files' does not end in a usable archive name", true);
    load_fails(ENV("HFSYNC_SOURCE", "data"),
               "HFSYNC_SOURCE: 'data' is not an absolute path; use a path such as /data", false);
}

static void test_openclaw_sources_default(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("OPENCLAW_BACKUP_DATASET_REPO", "alice/st"), &cfg);
    static const char *const want[][2] = {
        {"openclaw-state", "/root/.openclaw"},
        {"root-config", "/root/.config"},
        {"root-codex", "/root/.codex"},
        {"root-claude", "/root/.claude"},
        {"root-agents", "/root/.agents"},
        {"root-ssh", "/root/.ssh"},
        {"root-env", "/root/.env.d"},
        {"root-lark-cli", "/root/.lark-cli"},
        {"root-npm", "/root/.npm"},
        {"backup-info", "/root/.backup-info"},
    };
    assert_int_equal(cfg.source_count, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_string_equal(cfg.sources[i].name, want[i][0]);
        assert_string_equal(cfg.sources[i].path, want[i][1]);
    }
    assert_true(cfg.openclaw);
    config_free(&cfg);
}

static void test_openclaw_sources_settings(void **state)
{
    (void)state;
    char *cwd = getcwd(NULL, 0);
    Config cfg;
    /* the fixtures' env.txt form: relative paths, resolved against the current directory */
    load_ok(ENV("OPENCLAW_STATE_DIR", "state", "OPENCLAW_BACKUP_ROOT_CONFIG_DIR", "./root/.config",
                "OPENCLAW_BACKUP_ROOT_NPM_DIR", "/npm", "OPENCLAW_BACKUP_NPM_ENABLED", "false",
                "OPENCLAW_BACKUP_METADATA_DIR", "/meta/", "OPENCLAW_BACKUP_EXTRA_DIRS",
                "x1:/extra/one,x2:/extra/two", "OPENCLAW_BACKUP_EXTRA_FILES",
                "extra-agent-env:extra/agent.env", "OPENCLAW_BACKUP_WORK_DIR", "work"),
            &cfg);
    assert_true(cfg.openclaw);
    assert_int_equal(cfg.source_count, 12);
    char *p = path_join(cwd, "state");
    assert_string_equal(cfg.sources[0].name, "openclaw-state");
    assert_string_equal(cfg.sources[0].path, p);
    free(p);
    p = path_join(cwd, "root/.config");
    assert_string_equal(cfg.sources[1].path, p);
    free(p);
    for (size_t i = 0; i < cfg.source_count; i++)
        assert_string_not_equal(cfg.sources[i].name, "root-npm");
    assert_string_equal(cfg.sources[8].name, "backup-info");
    assert_string_equal(cfg.sources[8].path, "/meta");
    assert_string_equal(cfg.sources[9].name, "x1");
    assert_string_equal(cfg.sources[10].path, "/extra/two");
    assert_string_equal(cfg.sources[11].name, "extra-agent-env");
    p = path_join(cwd, "extra/agent.env");
    assert_string_equal(cfg.sources[11].path, p);
    free(p);
    p = path_join(cwd, "work");
    assert_string_equal(cfg.work_dir, p);
    free(p);
    config_free(&cfg);

    /* OPENCLAW_BACKUP_SOURCE_DIR wins over OPENCLAW_STATE_DIR */
    load_ok(ENV("OPENCLAW_STATE_DIR", "/s1", "OPENCLAW_BACKUP_SOURCE_DIR", "/s2"), &cfg);
    assert_string_equal(cfg.sources[0].path, "/s2");
    assert_string_equal(cfg.sources[8].name, "root-npm");
    config_free(&cfg);

    /* HFSYNC_SOURCES replaces the whole default set */
    load_ok(ENV("OPENCLAW_STATE_DIR", "/s1", "HFSYNC_SOURCES", "only:/only"), &cfg);
    assert_int_equal(cfg.source_count, 1);
    assert_false(cfg.openclaw);
    config_free(&cfg);

    load_fails(ENV("OPENCLAW_STATE_DIR", "/s", "OPENCLAW_BACKUP_NPM_ENABLED", "sometimes"),
               "OPENCLAW_BACKUP_NPM_ENABLED: 'sometimes' is not a boolean", true);
    load_fails(ENV("OPENCLAW_STATE_DIR", "/s", "OPENCLAW_BACKUP_EXTRA_DIRS", "root-ssh:/other"),
               "OPENCLAW_BACKUP_EXTRA_DIRS: source name 'root-ssh' is listed twice", true);
    load_fails(ENV("OPENCLAW_STATE_DIR", "/s", "OPENCLAW_BACKUP_EXTRA_FILES", "nocolon"),
               "OPENCLAW_BACKUP_EXTRA_FILES: 'nocolon' is not name:/path", true);
    load_fails(ENV("OPENCLAW_STATE_DIR", "/root/.ssh"),
               "OPENCLAW_BACKUP_ROOT_SSH_DIR: path '/root/.ssh' is listed twice", true);
    free(cwd);
}

/* ---- env file ---- */

static char *write_temp(const char *text)
{
    char tmpl[] = "/tmp/hfsync-test-config-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return x_strdup(tmpl);
}

static void test_env_file_precedence(void **state)
{
    (void)state;
    char *path = write_temp("# settings\n"
                            "export HFSYNC_PREFIX=from-file\n"
                            "HFSYNC_THREADS=4\n"
                            "HFSYNC_COMPRESSION_LEVEL=5\n"
                            "OPENCLAW_MAX_INCREMENTAL_BACKUPS=7\n"
                            "HFSYNC_REPO='file:///from/file'\n"
                            "HFSYNC_LOG_LEVEL=debug\n");
    Config cfg;
    load_ok(ENV("HFSYNC_ENV_FILE", path, "HFSYNC_THREADS", "8", "OPENCLAW_BACKUP_COMPRESSION_LEVEL",
                "2", "HFSYNC_LOG_LEVEL", ""),
            &cfg);
    assert_string_equal(cfg.env_file, path);
    assert_string_equal(cfg.prefix, "from-file"); /* file fills a gap */
    assert_int_equal(cfg.threads, 8);             /* environment beats file */
    assert_int_equal(cfg.compression_level, 2);   /* an alias in the environment beats the file */
    assert_int_equal(cfg.max_incrementals, 7);    /* an alias in the file fills a gap */
    assert_string_equal(cfg.target.url, "file:///from/file");
    assert_int_equal(cfg.log_level, LOG_DEBUG); /* empty in the environment = unset */

    /* flags (config_set) beat everything, with the same validation */
    Error err = {0};
    assert_true(config_set(&cfg, "HFSYNC_THREADS", "2", &err));
    assert_int_equal(cfg.threads, 2);
    config_free(&cfg);
    unlink(path);
    free(path);
}

static void test_env_file_errors(void **state)
{
    (void)state;
    load_fails(ENV("HFSYNC_ENV_FILE", "/nonexistent/hfsync.env"),
               "HFSYNC_ENV_FILE: '/nonexistent/hfsync.env' does not exist", false);

    char *path = write_temp("HFSYNC_PREFIX=x\nthis line has no equals\n");
    char *want = str_printf("%s:2: expected KEY=VALUE", path);
    load_fails(ENV("HFSYNC_ENV_FILE", path), want, false);
    free(want);
    unlink(path);
    free(path);

    /* a bad value from the file names the variable and says where it was set */
    path = write_temp("HFSYNC_VOLUME_SIZE=12X\n");
    want = str_printf("HFSYNC_VOLUME_SIZE: '12X' is not a size; use auto or a size from 4K to "
                      "64G, e.g. 256M\nhint: HFSYNC_VOLUME_SIZE is set in "
                      "'%s'; fix it there or set it in the environment",
                      path);
    load_fails(ENV("HFSYNC_ENV_FILE", path), want, false);
    free(want);
    /* ... and the environment can override the bad file value */
    Config cfg;
    load_ok(ENV("HFSYNC_ENV_FILE", path, "HFSYNC_VOLUME_SIZE", "1M"), &cfg);
    assert_true(cfg.volume_size == 1u << 20);
    config_free(&cfg);
    unlink(path);
    free(path);
}

static void test_env_file_openclaw_style(void **state)
{
    (void)state;
    /* the fixtures' env.txt, read through HFSYNC_ENV_FILE */
    char *path = write_temp("OPENCLAW_BACKUP_DATASET_REPO=fixture/openclaw-backup\n"
                            "OPENCLAW_BACKUP_EXTRA_FILES=extra-agent-env:extra/agent.env\n"
                            "OPENCLAW_STATE_DIR=state\n"
                            "OPENCLAW_BACKUP_WORK_DIR=work\n");
    Config cfg;
    load_ok(ENV("HFSYNC_ENV_FILE", path), &cfg);
    assert_true(cfg.openclaw);
    assert_string_equal(cfg.target.url, "hf://datasets/fixture/openclaw-backup");
    assert_int_equal(cfg.source_count, 11);
    assert_string_equal(cfg.sources[10].name, "extra-agent-env");
    assert_true(cfg.work_dir[0] == '/');
    config_free(&cfg);
    unlink(path);
    free(path);
}

/* ---- config_set ---- */

static void test_config_set(void **state)
{
    (void)state;
    Config cfg;
    Error err = {0};
    load_ok(ENV("HFSYNC_PREFIX", "p"), &cfg);

    assert_true(config_set(&cfg, "HFSYNC_REPO", "s3://bucket-x/pre", &err));
    assert_int_equal(cfg.target.kind, TARGET_S3);
    assert_string_equal(cfg.target.bucket, "bucket-x");
    assert_false(config_set(&cfg, "HFSYNC_REPO", "gopher://x", &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_true(str_starts_with(err.msg, "HFSYNC_REPO: 'gopher://x' is not a valid target"));
    assert_string_equal(cfg.target.url, "s3://bucket-x/pre"); /* unchanged */

    assert_true(config_set(&cfg, "HFSYNC_VOLUME_SIZE", "1G", &err));
    assert_true(cfg.volume_size == 1u << 30);
    assert_false(config_set(&cfg, "HFSYNC_VOLUME_SIZE", "1K", &err));
    assert_string_equal(err.msg,
                        "HFSYNC_VOLUME_SIZE: '1K' is out of range; use auto or a size from 4K to "
                        "64G");
    assert_true(cfg.volume_size == 1u << 30);

    /* empty = back to the default */
    assert_true(config_set(&cfg, "HFSYNC_PREFIX", "", &err));
    assert_string_equal(cfg.prefix, "backups");
    /* aliases are accepted and named in errors */
    assert_false(config_set(&cfg, "OPENCLAW_BACKUP_PATH_PREFIX", "../x", &err));
    assert_true(str_starts_with(err.msg, "OPENCLAW_BACKUP_PATH_PREFIX: '../x' is not a valid"));
    assert_string_equal(cfg.prefix, "backups");

    assert_true(config_set(&cfg, "HFSYNC_SOURCE", "/srv/data", &err));
    assert_int_equal(cfg.source_count, 1);
    assert_string_equal(cfg.sources[0].name, "data");
    assert_false(config_set(&cfg, "HFSYNC_SOURCES", "a:/x,b:x", &err));
    assert_true(str_starts_with(err.msg, "HFSYNC_SOURCES: 'x' is not an absolute path"));
    assert_int_equal(cfg.source_count, 1);

    assert_true(config_set(&cfg, "HFSYNC_EXCLUDE", "*.o", &err));
    assert_int_equal(cfg.exclude_count, 1);
    assert_false(config_set(&cfg, "HFSYNC_EXCLUDE", "a//b", &err));
    assert_int_equal(cfg.exclude_count, 1);
    assert_true(config_set(&cfg, "HFSYNC_EXCLUDE", NULL, &err));
    assert_int_equal(cfg.exclude_count, 0);

    assert_false(config_set(&cfg, "HFSYNC_BOGUS", "1", &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_string_equal(err.msg, "'HFSYNC_BOGUS' is not a setting hfsync knows");
    assert_false(config_set(&cfg, "HFSYNC_ENV_FILE", "/x", &err));
    assert_true(str_starts_with(err.msg, "HFSYNC_ENV_FILE: "));
    config_free(&cfg);
    config_free(&cfg); /* safe twice */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_target_parse_good),
        cmocka_unit_test(test_target_parse_bad),
        cmocka_unit_test(test_target_refuses_credentials),
        cmocka_unit_test(test_repo_variable),
        cmocka_unit_test(test_openclaw_repo_alias),
        cmocka_unit_test(test_restore_target),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_dirs),
        cmocka_unit_test(test_numeric_settings),
        cmocka_unit_test(test_openclaw_value_aliases),
        cmocka_unit_test(test_agent_settings),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_log_settings),
        cmocka_unit_test(test_exclude_setting),
        cmocka_unit_test(test_empty_is_unset),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_openclaw_sources_default),
        cmocka_unit_test(test_openclaw_sources_settings),
        cmocka_unit_test(test_env_file_precedence),
        cmocka_unit_test(test_env_file_errors),
        cmocka_unit_test(test_env_file_openclaw_style),
        cmocka_unit_test(test_config_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
