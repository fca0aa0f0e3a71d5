/* HFSYNC_FORMAT=seed through backup_run and restore_run against an in-memory target: the
 * script's .meta.json fields, its incremental rule (mtimes, extra files, symlinks to changed
 * files, no deletions), nanosecond mtimes through the archive, and a backup that fails after
 * uploading parts: its objects are removed and the pointer stays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hfsync/agent.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "support/testutil.h"

#define assert_ok(call, err)                                                                       \
    do {                                                                                           \
        if (!(call))                                                                               \
            fail_msg("%s failed: %s", #call, (err).msg);                                           \
    } while (0)

static char *slurp(const char *dir, const char *rel)
{
    char *p = path_join(dir, rel);
    char *data = NULL;
    size_t size;
    Error err = {0};
    if (!fs_read_file(p, 1 << 20, &data, &size, &err))
        data = NULL;
    free(p);
    return data;
}

static mode_t lmode(const char *dir, const char *rel)
{
    char *p = path_join(dir, rel);
    struct stat sb;
    mode_t m = lstat(p, &sb) == 0 ? sb.st_mode : 0;
    free(p);
    return m;
}

typedef struct BackupFx {
    char *base, *state, *extra;
    Config cfg;
} BackupFx;

static int backup_setup(void **state)
{
    BackupFx *fx = x_calloc(1, sizeof(*fx));
    fx->base = test_tmpdir();
    fx->state = path_join(fx->base, "state");
    fx->extra = path_join(fx->base, "agent.env");
    char *cache = path_join(fx->base, "cache"), *work = path_join(fx->base, "work");
    assert_int_equal(mkdir(fx->state, 0755), 0);
    assert_int_equal(mkdir(cache, 0700), 0);
    test_write_file(fx->base, "agent.env", "TOKEN=1\n");
    test_write_file(fx->state, "old.txt", "old\n");
    test_write_file(fx->state, "changing.txt", "v1\n");
    test_write_file(fx->state, "caf\xc3\xa9 \xff.txt", "names are bytes\n"); /* UTF-8, then not */
    char *sub = path_join(fx->state, "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    test_write_file(sub, "s.txt", "sub\n");
    free(sub);
    char *link = path_join(fx->state, "to-changing");
    assert_int_equal(symlink("changing.txt", link), 0);
    free(link);
    /* files from long ago: an incremental must leave them out */
    char *cmd = str_printf("touch -h -d '2020-01-01 00:00:00' '%s'/*.txt '%s'/sub/s.txt "
                           "'%s'/to-changing",
                           fx->state, fx->state, fx->state);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    static int counter;
    char *name = str_printf("test-seed-backup-%d-%d", (int)getpid(), ++counter);
    Config *c = &fx->cfg;
    c->target = (Target){.kind = TARGET_MEM, .path = name, .url = str_printf("mem://%s", name)};
    c->prefix = x_strdup("backups");
    c->sources = x_calloc(2, sizeof(Source));
    c->sources[0] = (Source){x_strdup("state"), x_strdup(fx->state)};
    c->sources[1] = (Source){x_strdup("agent-env"), x_strdup(fx->extra)};
    c->source_count = 2;
    c->volume_size = 256;
    c->compression_level = 6;
    c->threads = 1;
    c->max_incrementals = 10;
    c->progress_interval_sec = 10;
    c->cache_dir = cache;
    c->work_dir = work;
    c->format = FORMAT_SEED;
    c->seed_iterations = 10000;
    c->password = x_strdup("unit-pass");
    *state = fx;
    return 0;
}

static int backup_teardown(void **state)
{
    BackupFx *fx = *state;
    test_rmtree(fx->base);
    config_free(&fx->cfg);
    free(fx->base);
    free(fx->state);
    free(fx->extra);
    free(fx);
    return 0;
}

static cJSON *load_meta(Storage *st, const char *name)
{
    char *path = str_printf("backups/%s.meta.json", name);
    size_t size;
    char *text = (char *)storage_mem_object(st, path, &size);
    assert_non_null(text);
    char *copy = x_strndup(text, size);
    cJSON *o = cJSON_Parse(copy);
    assert_non_null(o);
    free(copy);
    free(path);
    return o;
}

static void test_backup_roundtrip(void **state)
{
    BackupFx *fx = *state;
    Error err = {0};
    BackupResult res;
    BackupOpts opts = {.quiet = true};
    assert_ok(backup_run(&fx->cfg, &opts, &res, &err), err);
    assert_true(res.created && res.full);
    assert_true(res.volumes > 1); /* a 256-byte volume size: split */
    assert_non_null(strstr(res.name, ".tar.gz.enc"));
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    cJSON *m = load_meta(st, res.name);
    assert_string_equal(cJSON_GetObjectItem(m, "version")->valuestring, "2.1");
    assert_string_equal(cJSON_GetObjectItem(m, "backup_type")->valuestring, "full");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "parent")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "is_split")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "encrypted")));
    assert_int_equal(cJSON_GetObjectItem(m, "file_count")->valueint, 6); /* 5 files + 1 link */
    assert_null(cJSON_GetObjectItem(m, "hfsync"));
    cJSON_Delete(m);

    /* an incremental: what changed since (and the extra file, always). The rule compares mtimes
     * with the previous backup's second: changes land a second after it, and the next backup
     * starts a second after them. */
    sleep(1);
    test_write_file(fx->state, "changing.txt", "v2\n");
    char *changing = path_join(fx->state, "changing.txt");
    struct timespec now[2] = {{time(NULL), 987654321}, {time(NULL), 987654321}};
    assert_int_equal(utimensat(AT_FDCWD, changing, now, 0), 0);
    free(changing);
    test_write_file(fx->state, "new.txt", "new\n");
    char *old = path_join(fx->state, "old.txt");
    assert_int_equal(unlink(old), 0);
    free(old);
    sleep(1);
    BackupResult inc;
    assert_ok(backup_run(&fx->cfg, &opts, &inc, &err), err);
    assert_true(inc.created && !inc.full);
    m = load_meta(st, inc.name);
    assert_string_equal(cJSON_GetObjectItem(m, "backup_type")->valuestring, "incremental");
    char *parent = str_printf("backups/%s.meta.json", res.name);
    assert_string_equal(cJSON_GetObjectItem(m, "parent")->valuestring, parent);
    free(parent);
    /* changing.txt, new.txt, the symlink to changing.txt, and agent-env */
    assert_int_equal(cJSON_GetObjectItem(m, "file_count")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(m, "incremental_count")->valueint, 1);
    cJSON_Delete(m);

    /* nothing changed: no backup */
    BackupResult none;
    assert_ok(backup_run(&fx->cfg, &opts, &none, &err), err);
    assert_false(none.created);

    char *to = path_join(fx->base, "restored");
    RestoreOpts ro = {.to = to};
    RestoreResult rr;
    assert_ok(restore_run(&fx->cfg, &ro, &rr, &err), err);
    assert_true(rr.restored);
    char *state_dir = path_join(to, "state");
    char *c = slurp(state_dir, "changing.txt"), *n = slurp(state_dir, "new.txt"),
         *o = slurp(state_dir, "old.txt"), *e = slurp(to, "agent-env");
    assert_string_equal(c, "v2\n");
    assert_string_equal(n, "new\n");
    assert_string_equal(o, "old\n"); /* deletions are not recorded: it comes back */
    assert_string_equal(e, "TOKEN=1\n");
    char *odd = slurp(state_dir, "caf\xc3\xa9 \xff.txt");
    assert_non_null(odd);
    assert_string_equal(odd, "names are bytes\n");
    free(odd);
    assert_int_equal(lmode(state_dir, "sub") & 07777, 0700);
    /* nanosecond mtimes travel in the archive's pax headers */
    struct stat src, dst;
    char *src_path = path_join(fx->state, "changing.txt"),
         *dst_path = path_join(state_dir, "changing.txt");
    assert_int_equal(stat(src_path, &src), 0);
    assert_int_equal(stat(dst_path, &dst), 0);
    assert_int_equal(dst.st_mtim.tv_sec, src.st_mtim.tv_sec);
    assert_int_equal(dst.st_mtim.tv_nsec, src.st_mtim.tv_nsec);
    free(src_path);
    free(dst_path);
    assert_true(S_ISLNK(lmode(state_dir, "to-changing")));
    free(c), free(n), free(o), free(e);
    free(state_dir);
    free(to);
    storage_free(st);
}

static void count_objects(const char *path, uint64_t size, void *ctx)
{
    (void)path;
    (void)size;
    (*(size_t *)ctx)++;
}

static void test_backup_failure_keeps_pointer(void **state)
{
    BackupFx *fx = *state;
    Error err = {0};
    BackupResult res;
    BackupOpts opts = {.quiet = true};
    fx->cfg.volume_size = 1 << 20;
    assert_ok(backup_run(&fx->cfg, &opts, &res, &err), err);
    Storage *st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    size_t size, objects_before = 0;
    char *pointer = (char *)storage_mem_object(st, "latest-backup.json", &size);
    assert_non_null(pointer);
    char *before = x_strndup(pointer, size);
    assert_ok(storage_list(st, "", count_objects, &objects_before, &err), err);
    assert_int_equal(objects_before, 3); /* pointer, meta, one volume */

    /* the next archive needs more than 676 parts of 1 byte: it fails after uploading many */
    char *big = malloc(4096);
    test_fill_random((uint8_t *)big, 4095, 9);
    for (int i = 0; i < 4095; i++)
        big[i] = (char)('a' + (big[i] & 15));
    big[4095] = '\0';
    test_write_file(fx->state, "big.txt", big);
    free(big);
    fx->cfg.volume_size = 1;
    BackupResult fail;
    assert_false(backup_run(&fx->cfg, &opts, &fail, &err));
    assert_non_null(strstr(err.msg, "more than 676 parts"));
    pointer = (char *)storage_mem_object(st, "latest-backup.json", &size);
    assert_non_null(pointer);
    char *after = x_strndup(pointer, size);
    assert_string_equal(before, after);
    /* every object it wrote is gone: only the first backup's remain */
    size_t count = 0;
    assert_ok(storage_list(st, "", count_objects, &count, &err), err);
    assert_int_equal(count, objects_before);
    free(before);
    free(after);
    storage_free(st);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_roundtrip, backup_setup, backup_teardown),
        cmocka_unit_test_setup_teardown(test_backup_failure_keeps_pointer, backup_setup,
                                        backup_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
