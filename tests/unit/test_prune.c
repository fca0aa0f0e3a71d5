/* Prune against an in-memory target (agent.h prune_run): chains made of the original script's
 * backups (the recorded fixtures and synthetic ones), grouping by parent and chain_id, damaged and
 * broken chains, a pointer prune cannot trust, objects that are not hfsync's, stale checkpoints,
 * and over random targets: no kept chain ever loses a member, and a run cut short by
 * HFSYNC_PRUNE_MAX leaves every chain whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hfsync/agent.h"
#include "hfsync/chain.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "support/testutil.h"

typedef struct Fixture {
    Config cfg;
    Storage *st;
} Fixture;

static int64_t stamp_time(const char *stamp) /* YYYYMMDD-HHMMSS */
{
    struct tm tm = {0};
    assert_int_equal(sscanf(stamp, "%4d%2d%2d-%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static int fx_setup(void **state)
{
    static int counter;
    Fixture *fx = x_calloc(1, sizeof(*fx));
    char *name = str_printf("test-prune-%d-%d", (int)getpid(), ++counter);
    Config *c = &fx->cfg;
    c->target = (Target){.kind = TARGET_MEM, .path = name, .url = str_printf("mem://%s", name)};
    c->prefix = x_strdup("backups");
    c->keep = (KeepConfig){.full = 1, .stale_after_sec = 86400};
    c->test_now = stamp_time("20261123-120000");
    Error err = {0};
    fx->st = storage_open(c, &c->target, &err);
    assert_non_null(fx->st);
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    Fixture *fx = *state;
    storage_free(fx->st);
    config_free(&fx->cfg);
    free(fx);
    return 0;
}

static void put(Fixture *fx, const char *path, const char *text)
{
    Error err = {0};
    if (!storage_put(fx->st, path, text, strlen(text), &err))
        fail_msg("put %s: %s", path, err.msg);
}

static bool exists(Fixture *fx, const char *path)
{
    StorageInfo info;
    Error err = {0};
    assert_true(storage_info(fx->st, path, &info, &err));
    return info.exists;
}

/* A backup in the original script's format: backups/openclaw-backup-<stamp>.tar.gz and its
 * .meta.json; `parent` is the parent's stamp (NULL: a full backup). */
static void add_backup(Fixture *fx, const char *stamp, const char *chain, const char *parent)
{
    char t[32];
    time_iso8601(stamp_time(stamp), t);
    char *vol = str_printf("backups/openclaw-backup-%s.tar.gz", stamp);
    put(fx, vol, "archive bytes");
    char *par = parent ? str_printf("\"backups/openclaw-backup-%s.tar.gz.meta.json\"", parent)
                       : x_strdup("null");
    char *meta = str_printf("{\"version\": \"2.1\", \"backup_type\": \"%s\", \"chain_id\": \"%s\", "
                            "\"parent\": %s, \"volumes\": [\"openclaw-backup-%s.tar.gz\"], "
                            "\"checksum\": \"sha256:00\", \"created_at_utc\": \"%s\"}",
                            parent ? "incremental" : "full", chain, par, stamp, t);
    char *path = str_printf("%s.meta.json", vol);
    put(fx, path, meta);
    free(path);
    free(meta);
    free(par);
    free(vol);
}

static void set_pointer(Fixture *fx, const char *stamp)
{
    char *p = str_printf("{\"latest\": \"backups/openclaw-backup-%s.tar.gz.meta.json\"}", stamp);
    put(fx, "latest-backup.json", p);
    free(p);
}

static bool has_backup(Fixture *fx, const char *stamp)
{
    char *meta = str_printf("backups/openclaw-backup-%s.tar.gz.meta.json", stamp);
    char *vol = str_printf("backups/openclaw-backup-%s.tar.gz", stamp);
    bool m = exists(fx, meta), v = exists(fx, vol);
    free(meta);
    free(vol);
    if (m != v)
        fail_msg("backup %s is half there: meta %d, volume %d", stamp, m, v);
    return m;
}

static bool run_prune(Fixture *fx, PruneResult *res, Error *err)
{
    PruneOpts o = {.quiet = true};
    return prune_run(&fx->cfg, &o, res, err);
}

static void prune_ok(Fixture *fx, PruneResult *res)
{
    Error err = {0};
    if (!run_prune(fx, res, &err))
        fail_msg("prune: %s", err.msg);
}

/* Copy the recorded remote of a fixture of the original script into the target. */
static void load_fixture(Fixture *fx, const char *which)
{
    char *dir = str_printf("tests/fixtures/seed-format/%s/remote/backups", which);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *full = path_join(dir, de->d_name), *data = NULL;
        size_t size = 0;
        Error err = {0};
        assert_true(fs_read_file(full, 64u << 20, &data, &size, &err));
        char *path = str_printf("backups/%s", de->d_name);
        assert_true(storage_put(fx->st, path, data, size, &err));
        free(path);
        free(data);
        free(full);
    }
    closedir(d);
    free(dir);
}

/* The original script's recorded backups: a plain chain of three and a split encrypted full.
 * HFSYNC_KEEP_FULL=1 keeps the pointer's chain (the split one) and deletes the plain chain
 * whole; the parts of an upload that never completed go, its young sibling stays. */
static void test_seed_fixtures(void **state)
{
    Fixture *fx = *state;
    load_fixture(fx, "plain");
    load_fixture(fx, "encrypted-split");
    put(fx, "latest-backup.json",
        "{\"latest\": \"backups/openclaw-backup-20261121-192501.tar.gz.enc.meta.json\"}");
    put(fx, "backups/openclaw-backup-20261121-100000.tar.gz.enc.part-aa", "abandoned");
    put(fx, "backups/openclaw-backup-20261121-100000.tar.gz.enc.checkpoint.json", "{}");
    put(fx, "backups/openclaw-backup-20261123-110000.tar.gz.part-aa", "uploading");
    PruneResult res;
    prune_ok(fx, &res);
    assert_int_equal(res.chains, 2);
    assert_int_equal(res.chains_deleted, 1);
    assert_int_equal(res.backups_deleted, 3);
    assert_int_equal(res.incomplete_deleted, 1);
    assert_int_equal(res.objects_deleted, 6 + 2);
    static const char *const gone[] = {
        "backups/openclaw-backup-20261121-192445.tar.gz",
        "backups/openclaw-backup-20261121-192447.tar.gz.meta.json",
        "backups/openclaw-backup-20261121-192450.tar.gz",
        "backups/openclaw-backup-20261121-100000.tar.gz.enc.part-aa",
        "backups/openclaw-backup-20261121-100000.tar.gz.enc.checkpoint.json",
    };
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (exists(fx, gone[i]))
            fail_msg("%s is still there", gone[i]);
    static const char *const kept[] = {
        "backups/openclaw-backup-20261121-192501.tar.gz.enc.meta.json",
        "backups/openclaw-backup-20261121-192501.tar.gz.enc.part-aa",
        "backups/openclaw-backup-20261121-192501.tar.gz.enc.part-ad",
        "backups/openclaw-backup-20261123-110000.tar.gz.part-aa",
    };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (!exists(fx, kept[i]))
            fail_msg("%s was deleted", kept[i]);
    Chain chain;
    Error err = {0};
    assert_true(chain_resolve(
        fx->st, "backups/openclaw-backup-20261121-192501.tar.gz.enc.meta.json", &chain, &err));
    chain_free(&chain);
}

/* A .meta.json that cannot be parsed in the middle of a chain: it is left alone, and the chain
 * around it (found through chain_id) is kept whole even though no rule keeps it. */
static void test_damaged_chain_kept(void **state)
{
    Fixture *fx = *state;
    add_backup(fx, "20261101-100000", "0000000a", NULL); /* another chain, deleted */
    add_backup(fx, "20261110-100000", "0000000c", NULL);
    put(fx, "backups/openclaw-backup-20261110-110000.tar.gz", "archive");
    put(fx, "backups/openclaw-backup-20261110-110000.tar.gz.meta.json", "{ not json");
    add_backup(fx, "20261110-120000", "0000000c", "20261110-110000");
    add_backup(fx, "20261120-100000", "0000000f", NULL);
    set_pointer(fx, "20261120-100000");
    PruneResult res;
    prune_ok(fx, &res);
    assert_int_equal(res.chains_deleted, 1);
    assert_false(has_backup(fx, "20261101-100000"));
    assert_true(has_backup(fx, "20261110-100000"));
    assert_true(has_backup(fx, "20261110-110000"));
    assert_true(has_backup(fx, "20261110-120000"));
    assert_true(has_backup(fx, "20261120-100000"));
}

/* An incremental whose parent is gone joins its chain through chain_id: the chain goes (or
 * stays) whole. */
static void test_broken_chain_whole(void **state)
{
    Fixture *fx = *state;
    add_backup(fx, "20261101-100000", "00000001", NULL);
    add_backup(fx, "20261101-120000", "00000001", "20261101-110000"); /* parent missing */
    add_backup(fx, "20261102-100000", "00000002", NULL);
    set_pointer(fx, "20261102-100000");
    PruneResult res;
    prune_ok(fx, &res);
    assert_int_equal(res.chains, 2);
    assert_int_equal(res.backups_deleted, 2);
    assert_false(has_backup(fx, "20261101-100000"));
    assert_false(has_backup(fx, "20261101-120000"));
    assert_true(has_backup(fx, "20261102-100000"));
}

/* No pointer, or one naming a backup that is not there: prune refuses and deletes nothing. */
static void test_untrusted_pointer(void **state)
{
    Fixture *fx = *state;
    add_backup(fx, "20261101-100000", "00000001", NULL);
    add_backup(fx, "20261102-100000", "00000002", NULL);
    PruneResult res;
    Error err = {0};
    assert_false(run_prune(fx, &res, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "no pointer"));
    set_pointer(fx, "20261103-100000");
    err = (Error){0};
    assert_false(run_prune(fx, &res, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_true(has_backup(fx, "20261101-100000"));
    assert_true(has_backup(fx, "20261102-100000"));
}

/* Only backups' objects directly under the prefix are prune's business; a checkpoint left
 * behind by a kept backup goes once it is stale. */
static void test_foreign_objects_and_checkpoints(void **state)
{
    Fixture *fx = *state;
    add_backup(fx, "20261101-100000", "00000001", NULL);
    put(fx, "backups/openclaw-backup-20261101-100000.tar.gz.checkpoint.json", "{}");
    set_pointer(fx, "20261101-100000");
    static const char *const foreign[] = {
        "backups/README.md",
        "backups/20200101-000000F.vol-0001.tar.gz", /* not a volume name hfsync writes */
        "backups/20200101-000000X.meta.json",
        "backups/old/20200101-000000F.vol-0001.tar.zst",
        "other/20200101-000000F.vol-0001.tar.zst",
        "20200101-000000F.vol-0001.tar.zst",
    };
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
        put(fx, foreign[i], "someone else's");
    put(fx, "backups/20200101-000000F.vol-0001.tar.zst", "abandoned");
    put(fx, "backups/20200101-000000F.vol-0002.tar.zst.enc", "abandoned");
    PruneResult res;
    prune_ok(fx, &res);
    assert_int_equal(res.incomplete_deleted, 1);
    assert_int_equal(res.objects_deleted, 3);
    assert_false(exists(fx, "backups/openclaw-backup-20261101-100000.tar.gz.checkpoint.json"));
    assert_false(exists(fx, "backups/20200101-000000F.vol-0001.tar.zst"));
    assert_false(exists(fx, "backups/20200101-000000F.vol-0002.tar.zst.enc"));
    assert_true(has_backup(fx, "20261101-100000"));
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
        if (!exists(fx, foreign[i]))
            fail_msg("%s was deleted", foreign[i]);
}

/* Each .meta.json is downloaded once: the local copy is used while the listed size matches,
 * and read again when it does not. */
static void test_meta_cache(void **state)
{
    Fixture *fx = *state;
    char *dir = test_tmpdir();
    fx->cfg.cache_dir = x_strdup(dir);
    fx->cfg.keep.full = 2;
    add_backup(fx, "20261101-100000", "00000001", NULL);
    add_backup(fx, "20261102-100000", "00000002", NULL);
    set_pointer(fx, "20261102-100000");
    PruneResult res;
    prune_ok(fx, &res);
    assert_int_equal(res.chains, 2);
    /* Same size, other bytes: the local copy is what prune reads. */
    const char *meta = "backups/openclaw-backup-20261101-100000.tar.gz.meta.json";
    size_t size = 0;
    uint8_t *bytes = storage_mem_object(fx->st, meta, &size);
    assert_non_null(bytes);
    char *junk = x_malloc(size + 1);
    memset(junk, 'x', size);
    junk[size] = '\0';
    put(fx, meta, junk);
    prune_ok(fx, &res);
    assert_int_equal(res.chains, 2);
    /* Another size: read again, and now it is not a .meta.json at all. */
    put(fx, meta, "{}");
    prune_ok(fx, &res);
    assert_int_equal(res.chains, 1);
    assert_true(exists(fx, meta));
    free(junk);
    test_rmtree(dir);
    free(dir);
}

/* Random targets and rules, with and without HFSYNC_PRUNE_MAX: every backup left resolves to
 * a complete chain, a chain is only ever cut from its newest end, the pointer's chain stays,
 * and running prune until it is done leaves exactly what one unbounded run leaves. */
static void test_random_targets(void **state)
{
    Fixture *fx = *state;
    srand(11);
    int limited_runs = 0, deleting_rounds = 0;
    for (int round = 0; round < 40; round++) {
        char *name = str_printf("test-prune-random-%d-%d", (int)getpid(), round);
        free(fx->cfg.target.path);
        fx->cfg.target.path = name;
        storage_free(fx->st);
        Error err = {0};
        fx->st = storage_open(&fx->cfg, &fx->cfg.target, &err);
        char stamps[24][16];
        int chain_of[24], n = 0;
        int64_t t = stamp_time("20260901-000000");
        int chains = 1 + rand() % 6;
        for (int c = 0; c < chains; c++) {
            int members = 1 + rand() % 4;
            char id[9];
            snprintf(id, sizeof(id), "%08x", (unsigned)c + 1);
            for (int m = 0; m < members; m++) {
                t += 3600 + rand() % (4 * 86400);
                time_t tt = (time_t)t;
                struct tm tm;
                gmtime_r(&tt, &tm);
                strftime(stamps[n], sizeof(stamps[n]), "%Y%m%d-%H%M%S", &tm);
                add_backup(fx, stamps[n], id, m == 0 ? NULL : stamps[n - 1]);
                chain_of[n++] = c;
            }
        }
        int latest = rand() % n;
        set_pointer(fx, stamps[latest]);
        fx->cfg.keep = (KeepConfig){.full = rand() % 3,
                                    .last = rand() % 3,
                                    .daily = rand() % 4,
                                    .weekly = rand() % 3,
                                    .monthly = rand() % 2,
                                    .stale_after_sec = 86400,
                                    .prune_max = rand() % 3};
        fx->cfg.test_now = t + 86400;
        PruneResult res;
        for (int runs = 0;; runs++) {
            prune_ok(fx, &res);
            /* What is left of each chain is its oldest members, in order, and resolves. */
            for (int i = 0; i < n; i++) {
                if (!has_backup(fx, stamps[i]))
                    continue;
                if (i > 0 && chain_of[i - 1] == chain_of[i] && !has_backup(fx, stamps[i - 1]))
                    fail_msg("round %d: %s is left without its parent %s", round, stamps[i],
                             stamps[i - 1]);
                char *meta = str_printf("backups/openclaw-backup-%s.tar.gz.meta.json", stamps[i]);
                Chain ch;
                if (!chain_resolve(fx->st, meta, &ch, &err))
                    fail_msg("round %d: %s does not resolve: %s", round, stamps[i], err.msg);
                chain_free(&ch);
                free(meta);
            }
            deleting_rounds += runs == 0 && res.backups_deleted > 0;
            if (!res.limited)
                break;
            limited_runs++;
            assert_true(runs < 30);
        }
        /* Done: each chain whole or gone, the pointer's chain whole. */
        for (int i = 0; i < n; i++) {
            bool here = has_backup(fx, stamps[i]);
            for (int j = 0; j < n; j++)
                if (chain_of[j] == chain_of[i] && has_backup(fx, stamps[j]) != here)
                    fail_msg("round %d: chain %d is half deleted", round, chain_of[i]);
            if (chain_of[i] == chain_of[latest])
                assert_true(here);
        }
    }
    /* The rounds did prune, and HFSYNC_PRUNE_MAX did cut runs short. */
    assert_true(deleting_rounds >= 10);
    assert_true(limited_runs >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_fixtures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_chain_kept, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_broken_chain_whole, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_pointer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_objects_and_checkpoints, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_meta_cache, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_random_targets, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
