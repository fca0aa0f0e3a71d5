/* The walk hands entries over in manifest order (names that sort between a directory and its
 * children, several sources, exclusions), and a backup whose entries do not fit its spool's
 * memory (so they pass through the spool file) backs up, detects changes and restores exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.intern.h"
#include "hfsync/agent.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "support/testutil.h"

typedef struct Fixture {
    char *base;
    Config cfg;
} Fixture;

static int fx_setup(void **state)
{
    static int counter;
    Fixture *fx = x_calloc(1, sizeof(*fx));
    fx->base = test_tmpdir();
    char *name = str_printf("test-scan-%d-%d", (int)getpid(), ++counter);
    Config *c = &fx->cfg;
    memset(c, 0, sizeof(*c));
    c->target = (Target){.kind = TARGET_MEM, .path = name, .url = str_printf("mem://%s", name)};
    c->prefix = x_strdup("backups");
    c->volume_size = 256 * 1024;
    c->compression_level = 3;
    c->threads = 1;
    c->max_incrementals = 10;
    c->progress_interval_sec = 10;
    c->cache_dir = path_join(fx->base, "cache");
    c->work_dir = path_join(fx->base, "work");
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    Fixture *fx = *state;
    backup_spool_memory = 16 * 1024 * 1024;
    test_rmtree(fx->base);
    config_free(&fx->cfg);
    free(fx->base);
    free(fx);
    return 0;
}

static void fx_source(Fixture *fx, const char *name)
{
    Config *c = &fx->cfg;
    c->sources = x_realloc(c->sources, (c->source_count + 1) * sizeof(Source));
    char *path = path_join(fx->base, name);
    c->sources[c->source_count++] = (Source){x_strdup(name), path};
}

static void put(const char *root, const char *rel, const char *kind)
{
    char *p = path_join(root, rel);
    if (strcmp(kind, "dir") == 0)
        assert_int_equal(mkdir(p, 0755), 0);
    else if (str_starts_with(kind, "->"))
        assert_int_equal(symlink(kind + 2, p), 0);
    else
        test_write_file(root, rel, kind);
    free(p);
}

typedef struct Collected {
    const Manifest *m;
    char **keys; /* "<source>\n<path>" */
    size_t count;
} Collected;

static bool collect(void *ctx, const ManifestEntry *e, Error *err)
{
    (void)err;
    Collected *c = ctx;
    c->keys = x_realloc(c->keys, (c->count + 1) * sizeof(char *));
    c->keys[c->count++] = str_printf("%s\n%s", c->m->sources[e->source], e->path);
    return true;
}

static int key_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    const char *nx = strchr(x, '\n'), *ny = strchr(y, '\n');
    size_t lx = (size_t)(nx - x), ly = (size_t)(ny - y);
    int c = memcmp(x, y, lx < ly ? lx : ly);
    if (c == 0 && lx != ly)
        c = lx < ly ? -1 : 1;
    return c != 0 ? c : manifest_path_cmp(nx + 1, ny + 1);
}

static void test_walk_is_in_manifest_order(void **state)
{
    Fixture *fx = *state;
    fx_source(fx, "zz"); /* configured first, sorts last */
    fx_source(fx, "aa");
    fx_source(fx, "aa-file");
    char *zz = path_join(fx->base, "zz"), *aa = path_join(fx->base, "aa");
    assert_int_equal(mkdir(zz, 0755), 0);
    assert_int_equal(mkdir(aa, 0755), 0);
    test_write_file(fx->base, "aa-file", "a source that is one file");
    /* "a.txt", "a-b" and "a b" sort between "a" and "a/…"; "b-c" and "b.c" between "b" and
     * "b/…"; "skip" is excluded with everything below it. */
    static const char *const tree[][2] = {
        {"a", "dir"},        {"a/b", "dir"},   {"a/b/c", "c"},   {"a/b.c", "x"},
        {"a/b-c", "dir"},    {"a/b-c/d", "d"}, {"a/b c", "->b"}, {"a/bb", "dir"},
        {"a.txt", "t"},      {"a-b", "dir"},   {"a-b/e", "e"},   {"a b", "->a.txt"},
        {"\xc3\xa9", "utf"}, {"Z", "z"},       {".hidden", "h"}, {"skip", "dir"},
        {"skip/f", "f"},     {"a0", "dir"},    {"a0/a", "dir"},  {"a0/a/a", "a"},
    };
    for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
        put(aa, tree[i][0], tree[i][1]);
    put(zz, "m", "m");
    put(zz, "m.d", "dir");
    put(zz, "m.d/n", "n");
    char *patterns[] = {"skip"};
    fx->cfg.excludes = patterns;
    fx->cfg.exclude_count = 1;

    Manifest *m = manifest_new("");
    Collected got = {.m = m};
    ScanStats stats;
    Error err = {0};
    assert_true(scan_walk(&fx->cfg, m, collect, &got, &stats, &err));
    fx->cfg.excludes = NULL;
    fx->cfg.exclude_count = 0;

    /* The same keys, sorted by the manifest's own order, are the walk's sequence. */
    size_t want_count = 1 + (sizeof(tree) / sizeof(tree[0]) - 2) + 1 + 1 + 3;
    assert_int_equal(got.count, want_count);
    char **sorted = x_malloc(got.count * sizeof(char *));
    memcpy(sorted, got.keys, got.count * sizeof(char *));
    qsort(sorted, got.count, sizeof(char *), key_cmp);
    for (size_t i = 0; i < got.count; i++) {
        if (strcmp(sorted[i], got.keys[i]) != 0)
            fail_msg("entry %zu of the walk is '%s', manifest order wants '%s'", i, got.keys[i],
                     sorted[i]);
        if (i > 0)
            assert_true(key_cmp(&got.keys[i - 1], &got.keys[i]) < 0);
        assert_null(strstr(got.keys[i], "skip"));
    }
    assert_string_equal(got.keys[0], "aa\n.");
    assert_string_equal(got.keys[got.count - 1], "zz\nm.d/n");
    assert_int_equal(stats.symlinks, 2);
    assert_int_equal(stats.dirs, 8); /* roots are not counted */

    for (size_t i = 0; i < got.count; i++)
        free(got.keys[i]);
    free(got.keys);
    free(sorted);
    manifest_free(m);
    free(zz);
    free(aa);
}

/* --- a backup through the spool file -------------------------------------------------------- */

/* 60 directories of 50 entries (files, with a symlink every 10th), under names that interleave
 * with their directory's subtree ("d12", "d12.log", "d12/…"). */
static void build_many(const char *root)
{
    assert_int_equal(mkdir(root, 0755), 0);
    for (int d = 0; d < 60; d++) {
        char dir[64], rel[128], body[64];
        snprintf(dir, sizeof(dir), "d%02d", d);
        put(root, dir, "dir");
        snprintf(rel, sizeof(rel), "d%02d.log", d);
        put(root, rel, "log");
        for (int f = 0; f < 50; f++) {
            snprintf(rel, sizeof(rel), "%s/file-with-a-longer-name-%03d.txt", dir, f);
            snprintf(body, sizeof(body), "content %d/%d", d, f);
            put(root, rel, f % 10 == 9 ? "->file-with-a-longer-name-000.txt" : body);
        }
    }
}

/* Names in `dir` (0 when it does not exist). */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL && errno == ENOENT)
        return 0;
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void assert_same(const char *want, const char *got)
{
    char *cmd = str_printf("diff -r --no-dereference '%s' '%s' >&2", want, got);
    int rc = system(cmd);
    free(cmd);
    if (rc != 0)
        fail_msg("'%s' differs from '%s'", got, want);
}

static void test_backup_through_spool_file(void **state)
{
    Fixture *fx = *state;
    /* 3,000 entries of at least 72 bytes each against 64 KiB: the spool moves to its file. */
    backup_spool_memory = 64 * 1024;
    fx_source(fx, "state");
    char *src = path_join(fx->base, "state");
    build_many(src);
    char *snap = path_join(fx->base, "snap");
    char *cmd = str_printf("cp -a '%s' '%s'", src, snap);
    assert_int_equal(system(cmd), 0);
    free(cmd);

    Error err = {0};
    BackupResult full, inc;
    assert_true(backup_run(&fx->cfg, &(BackupOpts){.quiet = true}, &full, &err));
    assert_true(full.created && full.full);
    assert_int_equal(full.added, 1 + 60 * 2 + 60 * 50);

    /* Change 3 files (content and size), delete a directory's subtree, add files. */
    test_write_file(src, "d05/file-with-a-longer-name-001.txt", "changed, longer content");
    test_write_file(src, "d33/file-with-a-longer-name-040.txt", "changed, longer content");
    test_write_file(src, "d59.log", "changed log");
    cmd = str_printf("rm -r '%s/d20'", src);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    test_write_file(src, "d07/new.txt", "new");
    test_write_file(src, "new-top.txt", "new");
    /* The two directories whose listing changed get a time of their own, so that they count
     * as changed whatever the filesystem's timestamp granularity. */
    struct timespec later[2] = {{1700000000, 1}, {1700000000, 1}};
    assert_int_equal(utimensat(AT_FDCWD, src, later, 0), 0);
    char *d07 = path_join(src, "d07");
    assert_int_equal(utimensat(AT_FDCWD, d07, later, 0), 0);
    free(d07);
    char *snap2 = path_join(fx->base, "snap2");
    cmd = str_printf("cp -a '%s' '%s'", src, snap2);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_true(backup_run(&fx->cfg, &(BackupOpts){.quiet = true}, &inc, &err));
    assert_true(inc.created && !inc.full);
    assert_int_equal(inc.changed, 3 + 2); /* the files, the root and d07 */
    assert_int_equal(inc.added, 2);
    assert_int_equal(inc.deleted, 1 + 50);
    assert_int_equal(inc.files, 3 + 2);
    assert_int_equal(dir_entries(fx->cfg.work_dir), 0); /* the spool file went with the spool */

    RestoreResult rr;
    char *out = path_join(fx->base, "out");
    assert_true(restore_run(&fx->cfg, &(RestoreOpts){.to = out}, &rr, &err));
    char *got = path_join(out, "state");
    assert_same(snap2, got);
    free(got);
    char *out_full = path_join(fx->base, "out-full");
    assert_true(
        restore_run(&fx->cfg, &(RestoreOpts){.to = out_full, .backup = full.name}, &rr, &err));
    got = path_join(out_full, "state");
    assert_same(snap, got);
    free(got);

    /* Nothing changed: no backup, whatever went through the file. */
    BackupResult none;
    assert_true(backup_run(&fx->cfg, &(BackupOpts){.quiet = true}, &none, &err));
    assert_false(none.created);
    free(out);
    free(out_full);
    free(snap);
    free(snap2);
    free(src);
}

int main(void)
{
    log_setup(LOG_WARN, LOG_FORMAT_TEXT);
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_walk_is_in_manifest_order),
        T(test_backup_through_spool_file),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
