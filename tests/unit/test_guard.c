/* This machine's safety rules around backups and restores, against an in-memory target: state
 * markers, the local lock, the backups-disabled and restore flags, the lease check of a backup,
 * and the restore policy at start (HFSYNC_RESTORE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.intern.h"
#include "hfsync/chain.h"
#include "hfsync/lease.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "support/testutil.h"

typedef struct Fixture {
    char *base;
    char *state; /* source "state" */
    char *extra; /* source "extra" */
    Config cfg;
} Fixture;

static int fx_setup(void **state)
{
    static int counter;
    Fixture *fx = x_calloc(1, sizeof(*fx));
    fx->base = test_tmpdir();
    fx->state = path_join(fx->base, "state");
    fx->extra = path_join(fx->base, "extra");
    if (mkdir(fx->state, 0755) != 0 || mkdir(fx->extra, 0755) != 0)
        return -1;
    test_write_file(fx->state, "a.txt", "aaa");
    test_write_file(fx->state, "sub/b.txt", "bbb");
    test_write_file(fx->extra, "e.txt", "eee");
    char *name = str_printf("test-guard-%d-%d", (int)getpid(), ++counter);
    Config *c = &fx->cfg;
    c->target = (Target){.kind = TARGET_MEM, .path = name, .url = str_printf("mem://%s", name)};
    c->prefix = x_strdup("backups");
    c->sources = x_calloc(2, sizeof(Source));
    c->sources[0] = (Source){x_strdup("state"), x_strdup(fx->state)};
    c->sources[1] = (Source){x_strdup("extra"), x_strdup(fx->extra)};
    c->source_count = 2;
    c->volume_size = 64 * 1024;
    c->compression_level = 3;
    c->threads = 1;
    c->max_incrementals = 10;
    c->progress_interval_sec = 10;
    c->cache_dir = path_join(fx->base, "cache");
    c->work_dir = path_join(fx->base, "work");
    c->lock_timeout_sec = 0;
    c->lease_ttl_sec = 120;
    c->lease_wait_sec = 0;
    c->restore_policy = RESTORE_AUTO;
    *state = fx;
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    return 0;
}

static int fx_teardown(void **state)
{
    Fixture *fx = *state;
    test_rmtree(fx->base);
    config_free(&fx->cfg);
    free(fx->base);
    free(fx->state);
    free(fx->extra);
    free(fx);
    return 0;
}

static void do_backup(Fixture *fx, BackupResult *res)
{
    BackupOpts o = {0};
    Error err = {0};
    if (!guard_backup(&fx->cfg, &o, res, &err))
        fail_msg("guard_backup: %s", err.msg);
}

static char *latest(Fixture *fx)
{
    Error err = {0};
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    char *p = NULL;
    assert_true(pointer_read(st, &p, &err));
    storage_free(st);
    return p;
}

/* ---- markers ---- */

static MarkerMatch check(Fixture *fx, const Target *t, const char *meta, const char *why_part)
{
    char why[512];
    MarkerMatch m = marker_check(&fx->cfg, t, meta, why, sizeof(why));
    if (why_part != NULL && strstr(why, why_part) == NULL)
        fail_msg("reason '%s' does not say '%s'", why, why_part);
    return m;
}

static bool behind(Fixture *fx, const char *meta)
{
    char why[512];
    return marker_behind(&fx->cfg, &fx->cfg.target, meta, why, sizeof(why));
}

static void remake_dir(const char *path, const char *file)
{
    test_rmtree(path);
    assert_int_equal(mkdir(path, 0755), 0);
    if (file != NULL)
        test_write_file(path, file, "x");
}

static void test_markers(void **state)
{
    Fixture *fx = *state;
    const Config *cfg = &fx->cfg;
    const Target *t = &cfg->target;
    const char *X = "backups/X.meta.json", *Y = "backups/Y.meta.json";
    assert_int_equal(check(fx, t, X, "no state marker"), MARKER_NONE);
    assert_false(behind(fx, Y));

    marker_write(cfg, t, X);
    Error err = {0};
    char *dir = agent_cache_dir(cfg, &err);
    char *file = path_join(dir, "state.json");
    char *text = NULL;
    assert_true(fs_read_file(file, 65536, &text, NULL, &err));
    assert_non_null(strstr(text, "\"backups/X.meta.json\""));
    free(text);
    assert_int_equal(check(fx, t, X, NULL), MARKER_SAME);
    assert_false(behind(fx, X));

    /* the target moved on */
    assert_int_equal(check(fx, t, Y, "is at backup 'backups/X.meta.json'"), MARKER_DIFFERENT);
    assert_true(behind(fx, Y));

    /* another target's marker matches nothing */
    Target other = {.kind = TARGET_MEM, .url = "mem://elsewhere"};
    assert_int_equal(check(fx, &other, X, "another target"), MARKER_DIFFERENT);

    /* an emptied source is not the state the marker names */
    char *e = path_join(fx->extra, "e.txt");
    assert_int_equal(unlink(e), 0);
    assert_int_equal(check(fx, t, X, "is empty"), MARKER_DIFFERENT);

    /* nor is one wiped and made again, whatever it holds */
    remake_dir(fx->extra, "e.txt");
    assert_int_equal(check(fx, t, X, "is not the one"), MARKER_DIFFERENT);
    assert_true(behind(fx, Y)); /* 'state' is still the marked one */

    /* a source that is gone */
    test_rmtree(fx->extra);
    assert_int_equal(check(fx, t, X, "is missing"), MARKER_DIFFERENT);

    /* marked again without it: fine as long as it stays away */
    marker_write(cfg, t, X);
    assert_int_equal(check(fx, t, X, NULL), MARKER_SAME);

    /* a source that appears unmarked (fresh or image-provided files) */
    remake_dir(fx->extra, "baked.txt");
    assert_int_equal(check(fx, t, X, "no state marker"), MARKER_DIFFERENT);

    /* once no source is the marked one, the state is not "behind": it is another state */
    remake_dir(fx->state, "a.txt");
    assert_false(behind(fx, Y));
    free(e);
    free(file);
    free(dir);
}

static void test_state_empty(void **state)
{
    Fixture *fx = *state;
    assert_false(marker_state_empty(&fx->cfg));
    test_rmtree(fx->state);
    char *e = path_join(fx->extra, "e.txt");
    assert_int_equal(unlink(e), 0);
    free(e);
    assert_true(marker_state_empty(&fx->cfg)); /* one missing, one empty */
    test_write_file(fx->extra, "x", "");
    assert_false(marker_state_empty(&fx->cfg));
}

/* ---- local lock and flags ---- */

static void test_lock(void **state)
{
    Fixture *fx = *state;
    Error err = {0};
    AgentLock *a = agent_lock_take(&fx->cfg, "backup", 0, &err);
    assert_non_null(a);
    AgentLock *b = agent_lock_take(&fx->cfg, "restore", 0, &err);
    assert_null(b);
    assert_int_equal(err.code, ERR_BUSY);
    char pid[32];
    snprintf(pid, sizeof(pid), "backup (pid %d)", (int)getpid());
    if (strstr(err.msg, pid) == NULL)
        fail_msg("message does not name the holder: %s", err.msg);
    agent_lock_release(a);
    b = agent_lock_take(&fx->cfg, "restore", 0, &err);
    assert_non_null(b);
    agent_lock_release(b);
    agent_lock_release(NULL);
}

static void test_flags(void **state)
{
    Fixture *fx = *state;
    char reason[256];
    assert_false(agent_backups_disabled(&fx->cfg, reason, sizeof(reason)));
    agent_backups_disable(&fx->cfg, "the restore at start failed: boom");
    assert_true(agent_backups_disabled(&fx->cfg, reason, sizeof(reason)));
    assert_string_equal(reason, "the restore at start failed: boom");
    agent_backups_enable(&fx->cfg);
    assert_false(agent_backups_disabled(&fx->cfg, reason, sizeof(reason)));

    agent_restore_flag(&fx->cfg, true); /* not configured: nothing */
    fx->cfg.restore_flag = str_printf("%s/run/restored", fx->base);
    agent_restore_flag(&fx->cfg, true);
    assert_true(fs_exists(fx->cfg.restore_flag));
    agent_restore_flag(&fx->cfg, false);
    assert_false(fs_exists(fx->cfg.restore_flag));
}

/* ---- backups under the rules ---- */

static void test_backup_writes_markers(void **state)
{
    Fixture *fx = *state;
    BackupResult res;
    do_backup(fx, &res);
    assert_true(res.created);
    char *p = latest(fx);
    assert_string_equal(res.meta_path, p);
    char why[512];
    assert_int_equal(marker_check(&fx->cfg, &fx->cfg.target, p, why, sizeof(why)), MARKER_SAME);
    /* nothing changed: the markers still name the latest */
    do_backup(fx, &res);
    assert_false(res.created);
    assert_string_equal(res.meta_path, p);
    /* the backup's own lease is gone afterwards */
    Error err = {0};
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    StorageInfo info;
    assert_true(storage_info(st, LEASE_PATH, &info, &err));
    assert_false(info.exists);
    storage_free(st);
    free(p);
}

static void test_backup_refused_when_disabled(void **state)
{
    Fixture *fx = *state;
    agent_backups_disable(&fx->cfg, "the restore at start failed: boom");
    BackupOpts o = {0};
    BackupResult res;
    Error err = {0};
    assert_false(guard_backup(&fx->cfg, &o, &res, &err));
    assert_int_equal(err.code, ERR_BUSY);
    assert_int_equal(agent_exit_code(&err), EXIT_BUSY);
    assert_true(str_starts_with(err.msg, "backups are disabled on this machine: the restore at "
                                         "start failed: boom"));
    char *p = latest(fx);
    assert_null(p);

    o.force = true;
    assert_true(guard_backup(&fx->cfg, &o, &res, &err));
    assert_true(res.created);
    char reason[256];
    assert_false(agent_backups_disabled(&fx->cfg, reason, sizeof(reason)));
}

static void test_backup_refused_under_foreign_lease(void **state)
{
    Fixture *fx = *state;
    Error err = {0};
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    Lease other, h;
    lease_init(&other, "entrypoint");
    snprintf(other.host, sizeof(other.host), "elsewhere");
    LeaseOpts lo = {.now = time_now_ns() / 1000000000, .ttl_sec = 600};
    bool won;
    assert_true(lease_take(st, &other, &lo, &won, &h, &err));
    assert_true(won);

    BackupOpts o = {.force = true};
    BackupResult res;
    assert_false(guard_backup(&fx->cfg, &o, &res, &err));
    assert_int_equal(err.code, ERR_BUSY);
    if (strstr(err.msg, "another writer holds") == NULL ||
        strstr(err.msg, "on host 'elsewhere'") == NULL)
        fail_msg("message: %s", err.msg);
    assert_null(latest(fx));

    /* ... but a backup beside the agent that holds it runs under its lease */
    other.pid = (long)getpid(); /* "alive" */
    agent_record_write(&fx->cfg, &other);
    assert_true(guard_backup(&fx->cfg, &o, &res, &err));
    assert_true(res.created);
    bool found;
    Lease now;
    assert_true(lease_read(st, &now, &found, &err));
    assert_true(found);
    assert_string_equal(now.owner, other.owner); /* still the agent's */
    agent_record_clear(&fx->cfg, &other);

    /* Nothing changed since: a backup that would skip (and write nothing) is still refused
     * while another writer holds the target, though it no longer waits for the lease. */
    error_clear(&err);
    assert_false(guard_backup(&fx->cfg, &o, &res, &err));
    assert_int_equal(err.code, ERR_BUSY);
    assert_false(res.created);

    /* A skip below the thresholds counts against HFSYNC_MAX_SKIPS only when it stands: not
     * when another writer holds the target, but under the agent's lease. */
    test_write_file(fx->state, "a.txt", "changed");
    fx->cfg.strategy.min_changed_files = 100;
    fx->cfg.strategy.min_changed_size = 1 << 20;
    fx->cfg.strategy.max_skips = 3;
    char *p = latest(fx);
    int skips = backup_skips_load(&fx->cfg, p);
    error_clear(&err);
    assert_false(guard_backup(&fx->cfg, &o, &res, &err));
    assert_int_equal(err.code, ERR_BUSY);
    assert_int_equal(backup_skips_load(&fx->cfg, p), skips);
    agent_record_write(&fx->cfg, &other);
    assert_true(guard_backup(&fx->cfg, &o, &res, &err));
    assert_false(res.created);
    assert_true(res.skipped);
    assert_int_equal(backup_skips_load(&fx->cfg, p), skips + 1);
    agent_record_clear(&fx->cfg, &other);
    free(p);
    storage_free(st);
}

static bool refuse_commit(void *ctx, Storage *st, Error *err)
{
    (void)st;
    (*(int *)ctx)++;
    return error_set(err, ERR_BUSY, "the writer lease passed to someone else");
}

static void count_object(const char *path, uint64_t size, void *ctx)
{
    (void)path;
    (void)size;
    (*(int *)ctx)++;
}

static void test_before_commit_veto_leaves_nothing(void **state)
{
    Fixture *fx = *state;
    int calls = 0;
    BackupOpts o = {.before_commit = refuse_commit, .before_commit_ctx = &calls};
    BackupResult res;
    Error err = {0};
    assert_false(backup_run(&fx->cfg, &o, &res, &err));
    assert_int_equal(calls, 1);
    assert_int_equal(err.code, ERR_BUSY);
    assert_non_null(strstr(err.msg, "the writer lease passed to someone else"));
    assert_null(latest(fx));
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    int objects = 0;
    assert_true(storage_list(st, "", count_object, &objects, &err));
    assert_int_equal(objects, 0); /* everything it wrote was removed again */
    storage_free(st);
}

/* A writer that loses the lease race finds out before anything it wrote is visible and removes
 * nothing: the winner may have picked the same backup name in the same second. */
typedef struct LoseCtx {
    Fixture *fx;
    int calls, writes, visible;
    char *winner; /* the winner's first volume, same name */
} LoseCtx;

static bool lose_lease(void *ctx, bool writes, Error *err)
{
    LoseCtx *l = ctx;
    l->calls++;
    l->writes += writes;
    Storage *st = storage_open(&l->fx->cfg, &l->fx->cfg.target, err);
    assert_non_null(st);
    assert_true(storage_list(st, "", count_object, &l->visible, err));
    assert_true(storage_put(st, l->winner, "winner", 6, err));
    storage_free(st);
    return error_set(err, ERR_BUSY, "the writer lease is held by the other writer");
}

static void test_lost_lease_removes_nothing(void **state)
{
    Fixture *fx = *state;
    fx->cfg.test_now = 1800000000;
    char stamp[20];
    time_stamp(fx->cfg.test_now, stamp);
    LoseCtx l = {.fx = fx, .winner = str_printf("backups/%sF.vol-0001.tar.zst", stamp)};
    BackupOpts o = {.before_write = lose_lease, .before_write_ctx = &l};
    BackupResult res;
    Error err = {0};
    assert_false(backup_run(&fx->cfg, &o, &res, &err));
    assert_int_equal(err.code, ERR_BUSY);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.writes, 1);
    assert_int_equal(l.visible, 0); /* asked before anything of this backup was visible */
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    int objects = 0;
    assert_true(storage_list(st, "", count_object, &objects, &err));
    assert_int_equal(objects, 1);
    size_t size;
    uint8_t *data = storage_mem_object(st, l.winner, &size);
    assert_non_null(data);
    assert_memory_equal(data, "winner",
                        6); /* the winner's volume was neither replaced nor removed */
    storage_free(st);
    free(l.winner);
}

/* ---- the restore at start ---- */

static void restore_if_needed(Fixture *fx, bool expect_ok, RestoreResult *res)
{
    RestoreOpts o = {0};
    Error err = {0};
    bool ok = guard_restore(&fx->cfg, &o, true, res, &err);
    if (ok != expect_ok)
        fail_msg("guard_restore returned %d: %s", ok, err.msg);
}

static void test_restore_policy(void **state)
{
    Fixture *fx = *state;
    fx->cfg.restore_flag = str_printf("%s/restored", fx->base);
    RestoreResult res;

    /* nothing on the target yet: fine, and the flag says so */
    restore_if_needed(fx, true, &res);
    assert_false(res.restored);
    assert_false(res.skipped);
    assert_true(fs_exists(fx->cfg.restore_flag));

    BackupResult b;
    do_backup(fx, &b);
    /* the markers name the latest: no restore */
    restore_if_needed(fx, true, &res);
    assert_true(res.skipped);

    /* the state was wiped (the cache with its marker survived) */
    test_rmtree(fx->state);
    test_rmtree(fx->extra);
    restore_if_needed(fx, true, &res);
    assert_true(res.restored);
    char *a = path_join(fx->state, "a.txt");
    assert_true(fs_exists(a));
    char why[512];
    assert_int_equal(marker_check(&fx->cfg, &fx->cfg.target, b.meta_path, why, sizeof(why)),
                     MARKER_SAME);

    /* never: even a fresh state stays as it is */
    fx->cfg.restore_policy = RESTORE_NEVER;
    test_rmtree(fx->state);
    restore_if_needed(fx, true, &res);
    assert_true(res.skipped);
    assert_false(fs_exists(a));

    /* if-empty: restores only into empty sources */
    fx->cfg.restore_policy = RESTORE_IF_EMPTY;
    restore_if_needed(fx, true, &res);
    assert_true(res.skipped); /* 'extra' is not empty */
    test_rmtree(fx->extra);
    restore_if_needed(fx, true, &res);
    assert_true(res.restored);
    assert_true(fs_exists(a));

    /* always: whatever the markers say */
    fx->cfg.restore_policy = RESTORE_ALWAYS;
    test_write_file(fx->state, "local-only.txt", "x");
    restore_if_needed(fx, true, &res);
    assert_true(res.restored);
    char *lo = path_join(fx->state, "local-only.txt");
    assert_false(fs_exists(lo));
    free(lo);
    free(a);
}

static void test_failed_restore_disables_backups(void **state)
{
    Fixture *fx = *state;
    fx->cfg.restore_flag = str_printf("%s/restored", fx->base);
    BackupResult b;
    do_backup(fx, &b);
    /* damage the only volume */
    Error err = {0};
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    size_t size = 0;
    char *vol = str_printf("backups/%s.vol-0001.tar.zst", b.name);
    uint8_t *data = storage_mem_object(st, vol, &size);
    assert_non_null(data);
    data[size / 2] ^= 0xff;
    free(vol);
    storage_free(st);

    test_rmtree(fx->state); /* so a restore is needed */
    agent_restore_flag(&fx->cfg, true);
    RestoreResult res;
    restore_if_needed(fx, false, &res);
    char reason[512];
    assert_true(agent_backups_disabled(&fx->cfg, reason, sizeof(reason)));
    assert_true(str_starts_with(reason, "the restore at start failed: "));
    assert_false(fs_exists(fx->cfg.restore_flag)); /* removed first, not made again */

    /* a successful restore (by hand) enables backups again */
    data = NULL;
    st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    vol = str_printf("backups/%s.vol-0001.tar.zst", b.name);
    data = storage_mem_object(st, vol, &size);
    data[size / 2] ^= 0xff;
    free(vol);
    storage_free(st);
    RestoreOpts o = {0};
    assert_true(guard_restore(&fx->cfg, &o, false, &res, &err));
    assert_true(res.restored);
    assert_false(agent_backups_disabled(&fx->cfg, reason, sizeof(reason)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_markers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_state_empty, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lock, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_flags, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backup_writes_markers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backup_refused_when_disabled, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backup_refused_under_foreign_lease, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_before_commit_veto_leaves_nothing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_lost_lease_removes_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restore_policy, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failed_restore_disables_backups, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
