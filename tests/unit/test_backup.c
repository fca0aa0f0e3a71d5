/* The agent through its public API against an in-memory target: full and incremental backups,
 * change detection, chain length, restores compared with snapshots of the tree, a corrupt volume
 * and a lost local cache. */
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

#include "hfsync/agent.h"
#include "hfsync/chain.h"
#include "hfsync/hash.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "support/testutil.h"

#define T0 1700000000 /* base of the fixed mtimes the tests give every entry */

/* Entries of the tree build_tree() makes, and of the incremental after mutate(). */
#define TREE_ENTRIES 15
#define TREE_FILES 8
#define MUTATE_ADDED 2
#define MUTATE_CHANGED 6
#define MUTATE_DELETED 1
#define MUTATE_STORED_FILES 4 /* b.txt, sub/c.txt, sub/new.txt, x/inner.txt */
#define MUTATED_FILES 8       /* files of the state after mutate() */

#define assert_ok(call, err)                                                                       \
    do {                                                                                           \
        if (!(call))                                                                               \
            fail_msg("%s failed: %s", #call, (err).msg);                                           \
    } while (0)

typedef struct Fixture {
    char *base;  /* temp dir holding everything below */
    char *state; /* source "state" */
    char *extra; /* source "extra" */
    char *cache; /* cfg.cache_dir */
    Config cfg;
} Fixture;

static int fx_setup(void **state)
{
    static int counter;
    Fixture *fx = x_calloc(1, sizeof(*fx));
    fx->base = test_tmpdir();
    fx->state = path_join(fx->base, "state");
    fx->extra = path_join(fx->base, "extra");
    fx->cache = path_join(fx->base, "cache");
    char *work = path_join(fx->base, "work");
    if (mkdir(fx->state, 0755) != 0 || mkdir(fx->extra, 0755) != 0 || mkdir(fx->cache, 0700) != 0 ||
        mkdir(work, 0700) != 0)
        return -1;

    /* A fresh in-memory target per test: the registry lives as long as the process. */
    char *name = str_printf("test-backup-%d-%d", (int)getpid(), ++counter);
    Config *c = &fx->cfg;
    memset(c, 0, sizeof(*c));
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
    c->cache_dir = x_strdup(fx->cache);
    c->work_dir = work;
    *state = fx;
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
    free(fx->cache);
    free(fx);
    return 0;
}

/* --- building and changing trees --------------------------------------------------------- */

static void set_time(const char *root, const char *rel, int64_t sec, long nsec)
{
    char *p = strcmp(rel, ".") == 0 ? x_strdup(root) : path_join(root, rel);
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) != 0)
        fail_msg("utimensat '%s': %s", p, strerror(errno));
    free(p);
}

static void put_data(const char *root, const char *rel, const void *data, size_t size, mode_t mode,
                     int64_t sec, long nsec)
{
    char *p = path_join(root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fail_msg("create '%s': %s", p, strerror(errno));
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
    set_time(root, rel, sec, nsec);
}

static void put_text(const char *root, const char *rel, const char *text, mode_t mode, int64_t sec,
                     long nsec)
{
    put_data(root, rel, text, strlen(text), mode, sec, nsec);
}

static void put_random(const char *root, const char *rel, size_t size, uint32_t seed, mode_t mode,
                       int64_t sec, long nsec)
{
    uint8_t *buf = x_malloc(size);
    test_fill_random(buf, size, seed);
    put_data(root, rel, buf, size, mode, sec, nsec);
    free(buf);
}

static void put_dir(const char *root, const char *rel, mode_t mode)
{
    char *p = path_join(root, rel);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chmod(p, mode), 0); /* whatever the umask */
    free(p);
}

static void put_link(const char *root, const char *rel, const char *target, int64_t sec, long nsec)
{
    char *p = path_join(root, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
    set_time(root, rel, sec, nsec);
}

static void fx_chmod(const char *root, const char *rel, mode_t mode)
{
    char *p = path_join(root, rel);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

static void fx_unlink(const char *root, const char *rel)
{
    char *p = path_join(root, rel);
    assert_int_equal(unlink(p), 0);
    free(p);
}

/*
 * state/                                  extra/
 *   a.txt        0644 "hello a"             f.txt 0644
 *   b.txt        0600
 *   big1.bin     0644 96 KiB random (with big2.bin, more than one 64 KiB volume)
 *   dangling ->  /nonexistent/target
 *   empty/       0700
 *   link ->      a.txt
 *   sub/         0755
 *     c.txt      0644 "ccc"
 *     deep/      0750
 *       big2.bin 0600 80 KiB random
 *       e.txt    0644
 *   x            0644 (a file)
 * Every entry gets its own fixed mtime with nanoseconds; directories last, deepest first.
 */
static void build_tree(Fixture *fx)
{
    const char *s = fx->state;
    put_text(s, "a.txt", "hello a", 0644, T0 + 1, 100000001);
    put_text(s, "b.txt", "bbbb", 0600, T0 + 2, 100000002);
    put_random(s, "big1.bin", 96 * 1024, 1, 0644, T0 + 3, 100000003);
    put_link(s, "dangling", "/nonexistent/target", T0 + 4, 100000004);
    put_dir(s, "empty", 0700);
    put_link(s, "link", "a.txt", T0 + 5, 100000005);
    put_dir(s, "sub", 0755);
    put_text(s, "sub/c.txt", "ccc", 0644, T0 + 6, 100000006);
    put_dir(s, "sub/deep", 0750);
    put_random(s, "sub/deep/big2.bin", 80 * 1024, 2, 0600, T0 + 7, 100000007);
    put_text(s, "sub/deep/e.txt", "eee", 0644, T0 + 8, 100000008);
    put_text(s, "x", "xx", 0644, T0 + 9, 100000009);
    set_time(s, "sub/deep", T0 + 10, 100000010);
    set_time(s, "sub", T0 + 11, 100000011);
    set_time(s, "empty", T0 + 12, 100000012);
    set_time(s, ".", T0 + 13, 100000013);
    put_text(fx->extra, "f.txt", "extra file", 0644, T0 + 14, 100000014);
    set_time(fx->extra, ".", T0 + 15, 100000015);
}

/* Changed: sub/c.txt (same size, new content and mtime), b.txt (mode), x (file -> dir), and the
 * three directories whose listing changed. Added: sub/new.txt, x/inner.txt. Deleted:
 * sub/deep/e.txt. Directory times are set explicitly so the counts do not depend on the
 * filesystem's timestamp granularity. */
static void mutate(Fixture *fx)
{
    const char *s = fx->state;
    put_text(s, "sub/c.txt", "CCC", 0644, T0 + 100, 5);
    fx_chmod(s, "b.txt", 0640);
    put_text(s, "sub/new.txt", "new", 0644, T0 + 101, 6);
    fx_unlink(s, "sub/deep/e.txt");
    fx_unlink(s, "x");
    put_dir(s, "x", 0755);
    put_text(s, "x/inner.txt", "inner", 0600, T0 + 102, 7);
    set_time(s, "x", T0 + 103, 8);
    set_time(s, "sub/deep", T0 + 104, 9);
    set_time(s, "sub", T0 + 105, 10);
    set_time(s, ".", T0 + 106, 11);
}

/* Copy both sources to <base>/<label>/{state,extra}, preserving everything. */
static char *snapshot(Fixture *fx, const char *label)
{
    char *dir = path_join(fx->base, label);
    assert_int_equal(mkdir(dir, 0700), 0);
    char *cmd = str_printf("cp -a '%s' '%s' '%s/'", fx->state, fx->extra, dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return dir;
}

/* --- comparing trees --------------------------------------------------------------------- */

/* Type, permission bits, mtime in ns and link target of `want` and `got`, recursively. */
static void compare_entry(const char *want, const char *got)
{
    struct stat a, b;
    if (lstat(want, &a) != 0)
        fail_msg("lstat '%s': %s", want, strerror(errno));
    if (lstat(got, &b) != 0)
        fail_msg("'%s' is missing", got);
    if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
        fail_msg("'%s' has type %o, expected %o", got, (unsigned)(b.st_mode & S_IFMT),
                 (unsigned)(a.st_mode & S_IFMT));
    if (!S_ISLNK(a.st_mode) && (a.st_mode & 07777) != (b.st_mode & 07777))
        fail_msg("'%s' has mode %o, expected %o", got, (unsigned)(b.st_mode & 07777),
                 (unsigned)(a.st_mode & 07777));
    if (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec)
        fail_msg("'%s' has mtime %lld.%09ld, expected %lld.%09ld", got, (long long)b.st_mtim.tv_sec,
                 b.st_mtim.tv_nsec, (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec);
    if (S_ISREG(a.st_mode))
        assert_int_equal(a.st_size, b.st_size);
    if (S_ISLNK(a.st_mode)) {
        char ta[4096], tb[4096];
        ssize_t na = readlink(want, ta, sizeof(ta) - 1), nb = readlink(got, tb, sizeof(tb) - 1);
        assert_true(na > 0 && nb > 0);
        ta[na] = tb[nb] = '\0';
        assert_string_equal(tb, ta);
    }
    if (!S_ISDIR(a.st_mode))
        return;
    DIR *d = opendir(want);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *wa = path_join(want, de->d_name), *ga = path_join(got, de->d_name);
        compare_entry(wa, ga);
        free(wa);
        free(ga);
    }
    closedir(d);
}

/* `got` holds exactly what `want` holds: contents, symlink targets and the set of names by
 * diff(1), attributes by compare_entry(). */
static void assert_same_tree(const char *want, const char *got)
{
    char *cmd = str_printf("diff -r --no-dereference '%s' '%s'", want, got);
    int rc = system(cmd);
    free(cmd);
    if (rc != 0)
        fail_msg("'%s' differs from '%s' (diff above)", got, want);
    compare_entry(want, got);
}

/* Both sources of the snapshot `snap` against both of `dir`. */
static void assert_same_sources(const char *snap, const char *dir)
{
    static const char *const names[] = {"state", "extra"};
    for (size_t i = 0; i < 2; i++) {
        char *want = path_join(snap, names[i]), *got = path_join(dir, names[i]);
        assert_same_tree(want, got);
        free(want);
        free(got);
    }
}

static bool exists(const char *root, const char *rel)
{
    struct stat sb;
    char *p = path_join(root, rel);
    bool r = lstat(p, &sb) == 0;
    free(p);
    return r;
}

/* Names in `dir` starting with `prefix`. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += str_starts_with(de->d_name, prefix);
    closedir(d);
    return n;
}

/* --- running and inspecting -------------------------------------------------------------- */

static BackupResult run_backup(Fixture *fx, bool full)
{
    BackupResult res;
    Error err = {0};
    assert_ok(backup_run(&fx->cfg, &(BackupOpts){.full = full, .quiet = true}, &res, &err), err);
    return res;
}

static bool ends_with_char(const char *s, char c)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == c;
}

static Storage *fx_storage(Fixture *fx)
{
    return storage_mem_open(fx->cfg.target.path);
}

/* The path the pointer names (caller frees). */
static char *latest_path(Fixture *fx)
{
    Storage *st = fx_storage(fx);
    Error err = {0};
    char *latest = NULL;
    assert_ok(pointer_read(st, &latest, &err), err);
    assert_non_null(latest);
    storage_free(st);
    return latest;
}

static BackupMeta *load_meta(Fixture *fx, const char *name)
{
    Storage *st = fx_storage(fx);
    Error err = {0};
    char *path = meta_path_for(fx->cfg.prefix, name);
    BackupMeta *meta = meta_load(st, path, &err);
    if (meta == NULL)
        fail_msg("meta_load '%s': %s", path, err.msg);
    free(path);
    storage_free(st);
    return meta;
}

static Manifest *load_manifest(Fixture *fx, const BackupMeta *meta)
{
    Storage *st = fx_storage(fx);
    Error err = {0};
    Manifest *m = agent_manifest_load(&fx->cfg, st, meta, NULL, &err);
    if (m == NULL)
        fail_msg("agent_manifest_load '%s': %s", meta->name, err.msg);
    storage_free(st);
    return m;
}

static const ManifestEntry *entry(const Manifest *m, const char *source, const char *path)
{
    const ManifestEntry *e = manifest_find(m, source, path);
    if (e == NULL)
        fail_msg("'%s/%s' is not in the manifest of '%s'", source, path, m->backup);
    return e;
}

static void count_object(const char *path, uint64_t size, void *ctx)
{
    (void)path;
    (void)size;
    (*(size_t *)ctx)++;
}

static size_t object_count(Fixture *fx)
{
    Storage *st = fx_storage(fx);
    Error err = {0};
    size_t n = 0;
    assert_ok(storage_list(st, "", count_object, &n, &err), err);
    storage_free(st);
    return n;
}

static void assert_incremental_of(Fixture *fx, const BackupResult *res, const char *parent)
{
    assert_true(res->created);
    assert_false(res->full);
    assert_true(ends_with_char(res->name, 'I'));
    assert_int_equal(res->added, MUTATE_ADDED);
    assert_int_equal(res->changed, MUTATE_CHANGED);
    assert_int_equal(res->deleted, MUTATE_DELETED);
    assert_int_equal(res->files, MUTATE_STORED_FILES);
    BackupMeta *meta = load_meta(fx, res->name);
    char *parent_path = meta_path_for(fx->cfg.prefix, parent);
    assert_false(meta->full);
    assert_non_null(meta->parent);
    assert_string_equal(meta->parent, parent_path);
    free(parent_path);
    meta_free(meta);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_full_backup(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    BackupResult res = run_backup(fx, false);
    assert_true(res.created);
    assert_true(res.full);
    assert_true(ends_with_char(res.name, 'F'));
    assert_int_equal(res.files, TREE_FILES);
    assert_int_equal(res.added, TREE_ENTRIES); /* nothing existed before */
    assert_int_equal(res.changed, 0);
    assert_int_equal(res.deleted, 0);
    assert_true(res.volumes >= 2); /* 176 KiB of random data in 64 KiB volumes */

    Storage *st = fx_storage(fx);
    Error err = {0};
    StorageInfo info;
    assert_ok(storage_info(st, POINTER_PATH, &info, &err), err);
    assert_true(info.exists);
    storage_free(st);
    char *latest = latest_path(fx);
    char *want = meta_path_for("backups", res.name);
    assert_string_equal(latest, want);
    free(want);
    free(latest);

    BackupMeta *meta = load_meta(fx, res.name);
    assert_true(meta->native);
    assert_true(meta->full);
    assert_null(meta->parent);
    assert_string_equal(meta->name, res.name);
    assert_int_equal(meta->volume_count, res.volumes);
    assert_int_equal(meta->file_count, TREE_FILES);
    Manifest *m = load_manifest(fx, meta);
    assert_string_equal(m->backup, res.name);
    assert_int_equal(m->count, TREE_ENTRIES);
    size_t files = 0;
    for (size_t i = 0; i < m->count; i++) {
        const ManifestEntry *e = &m->entries[i];
        assert_string_equal(m->refs[e->ref], res.name);
        if (e->type == ENTRY_FILE) {
            files++;
            if (e->volume < 1 || e->volume > meta->volume_count)
                fail_msg("'%s' is in volume %u of %zu", e->path, e->volume, meta->volume_count);
        }
    }
    assert_int_equal(files, TREE_FILES);

    const ManifestEntry *a = entry(m, "state", "a.txt");
    assert_int_equal(a->type, ENTRY_FILE);
    assert_int_equal(a->size, 7);
    assert_int_equal(a->mode, 0644);
    assert_int_equal(a->mtime, T0 + 1);
    assert_int_equal(a->mtime_nsec, 100000001);
    char want_hex[HASH_HEX_SIZE], got_hex[HASH_HEX_SIZE];
    hash_buffer_hex(HASH_CONTENT, "hello a", 7, want_hex);
    hex_encode(a->hash, HASH_SIZE, got_hex);
    assert_string_equal(got_hex, want_hex);
    assert_int_equal(entry(m, "state", "empty")->type, ENTRY_DIR);
    assert_int_equal(entry(m, "state", "empty")->mode, 0700);
    assert_int_equal(entry(m, "state", "sub/deep")->type, ENTRY_DIR);
    assert_int_equal(entry(m, "state", "sub/deep")->mtime_nsec, 100000010);
    const ManifestEntry *l = entry(m, "state", "link");
    assert_int_equal(l->type, ENTRY_SYMLINK);
    assert_string_equal(l->target, "a.txt");
    assert_string_equal(entry(m, "state", "dangling")->target, "/nonexistent/target");
    assert_int_equal(entry(m, "state", ".")->mtime, T0 + 13);
    assert_int_equal(entry(m, "extra", "f.txt")->size, 10);
    manifest_free(m);
    meta_free(meta);
}

static void test_incremental_records_changes(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    BackupResult full = run_backup(fx, false);
    BackupMeta *full_meta = load_meta(fx, full.name);
    Manifest *fm = load_manifest(fx, full_meta);

    mutate(fx);
    BackupResult inc = run_backup(fx, false);
    assert_incremental_of(fx, &inc, full.name);
    char *latest = latest_path(fx);
    char *want = meta_path_for("backups", inc.name);
    assert_string_equal(latest, want);
    free(want);
    free(latest);

    BackupMeta *meta = load_meta(fx, inc.name);
    assert_int_equal(meta->incremental_count, 1);
    assert_string_equal(meta->chain_id, full_meta->chain_id);
    Manifest *m = load_manifest(fx, meta);
    assert_int_equal(m->count, TREE_ENTRIES + MUTATE_ADDED - MUTATE_DELETED);

    static const char *const unchanged[] = {"a.txt", "big1.bin", "dangling",
                                            "empty", "link",     "sub/deep/big2.bin"};
    for (size_t i = 0; i < sizeof(unchanged) / sizeof(unchanged[0]); i++) {
        const ManifestEntry *e = entry(m, "state", unchanged[i]);
        const ManifestEntry *p = entry(fm, "state", unchanged[i]);
        if (strcmp(m->refs[e->ref], full.name) != 0)
            fail_msg("unchanged '%s' refs '%s', expected '%s'", unchanged[i], m->refs[e->ref],
                     full.name);
        assert_memory_equal(e->hash, p->hash, HASH_SIZE);
        assert_int_equal(e->volume, p->volume);
    }
    const ManifestEntry *f = entry(m, "extra", "f.txt");
    assert_string_equal(m->refs[f->ref], full.name);
    assert_memory_equal(f->hash, entry(fm, "extra", "f.txt")->hash, HASH_SIZE);
    assert_string_equal(m->refs[entry(m, "extra", ".")->ref], full.name);

    static const char *const stored[] = {".",        "b.txt", "sub",         "sub/c.txt",
                                         "sub/deep", "x",     "sub/new.txt", "x/inner.txt"};
    for (size_t i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
        const ManifestEntry *e = entry(m, "state", stored[i]);
        if (strcmp(m->refs[e->ref], inc.name) != 0)
            fail_msg("changed '%s' refs '%s', expected '%s'", stored[i], m->refs[e->ref], inc.name);
        if (e->type == ENTRY_FILE && (e->volume < 1 || e->volume > meta->volume_count))
            fail_msg("'%s' is in volume %u of %zu", stored[i], e->volume, meta->volume_count);
    }
    /* Same size, different content: the new hash is the new content's. */
    const ManifestEntry *c = entry(m, "state", "sub/c.txt");
    char want_hex[HASH_HEX_SIZE], got_hex[HASH_HEX_SIZE];
    hash_buffer_hex(HASH_CONTENT, "CCC", 3, want_hex);
    hex_encode(c->hash, HASH_SIZE, got_hex);
    assert_string_equal(got_hex, want_hex);
    assert_memory_not_equal(c->hash, entry(fm, "state", "sub/c.txt")->hash, HASH_SIZE);
    assert_int_equal(entry(m, "state", "b.txt")->mode, 0640);
    assert_int_equal(entry(m, "state", "x")->type, ENTRY_DIR);
    assert_null(manifest_find(m, "state", "sub/deep/e.txt"));

    manifest_free(m);
    meta_free(meta);
    manifest_free(fm);
    meta_free(full_meta);
}

static void test_no_change_makes_no_backup(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    BackupResult full = run_backup(fx, false);
    mutate(fx);
    BackupResult inc = run_backup(fx, false);
    assert_true(inc.created);
    size_t objects = object_count(fx);

    BackupResult res = run_backup(fx, false);
    assert_false(res.created);
    assert_int_equal(res.added + res.changed + res.deleted, 0);
    char *latest = latest_path(fx);
    char *want = meta_path_for("backups", inc.name);
    assert_string_equal(latest, want);
    free(want);
    free(latest);
    assert_int_equal(object_count(fx), objects);
    (void)full;
}

static void test_chain_limit_starts_a_new_full(void **state)
{
    Fixture *fx = *state;
    fx->cfg.max_incrementals = 1;
    build_tree(fx);
    BackupResult full = run_backup(fx, false);
    mutate(fx);
    BackupResult inc = run_backup(fx, false);
    assert_incremental_of(fx, &inc, full.name);

    put_text(fx->state, "a.txt", "hello A", 0644, T0 + 200, 12);
    BackupResult next = run_backup(fx, false);
    assert_true(next.created);
    assert_true(next.full);
    assert_true(ends_with_char(next.name, 'F'));
    assert_string_not_equal(next.name, full.name);
    assert_int_equal(next.files, MUTATED_FILES);

    BackupMeta *first = load_meta(fx, full.name);
    BackupMeta *meta = load_meta(fx, next.name);
    assert_true(meta->full);
    assert_null(meta->parent);
    assert_int_equal(meta->incremental_count, 0);
    assert_string_not_equal(meta->chain_id, first->chain_id);
    Manifest *m = load_manifest(fx, meta);
    for (size_t i = 0; i < m->count; i++)
        assert_string_equal(m->refs[m->entries[i].ref], next.name);
    char *latest = latest_path(fx);
    char *want = meta_path_for("backups", next.name);
    assert_string_equal(latest, want);
    free(want);
    free(latest);
    manifest_free(m);
    meta_free(meta);
    meta_free(first);
}

static void test_restore_latest_and_full(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    char *snap_full = snapshot(fx, "snap-full");
    BackupResult full = run_backup(fx, false);
    mutate(fx);
    char *snap_inc = snapshot(fx, "snap-inc");
    BackupResult inc = run_backup(fx, false);
    assert_false(inc.full);

    Error err = {0};
    RestoreResult rr;
    char *out = path_join(fx->base, "out-latest");
    assert_ok(restore_run(&fx->cfg, &(RestoreOpts){.to = out}, &rr, &err), err);
    assert_true(rr.restored);
    assert_string_equal(rr.name, inc.name);
    assert_int_equal(rr.files, MUTATED_FILES);
    assert_same_sources(snap_inc, out);
    char *state_out = path_join(out, "state");
    assert_false(exists(state_out, "sub/deep/e.txt"));
    assert_true(exists(state_out, "x/inner.txt"));
    assert_int_equal(count_prefixed(out, ".hfsync-staging-"), 0);
    free(state_out);
    free(out);

    out = path_join(fx->base, "out-full");
    assert_ok(restore_run(&fx->cfg, &(RestoreOpts){.to = out, .backup = full.name}, &rr, &err),
              err);
    assert_true(rr.restored);
    assert_string_equal(rr.name, full.name);
    assert_int_equal(rr.files, TREE_FILES);
    assert_same_sources(snap_full, out);
    state_out = path_join(out, "state");
    assert_false(exists(state_out, "sub/new.txt"));
    assert_false(exists(state_out, "x/inner.txt"));
    assert_true(exists(state_out, "sub/deep/e.txt"));
    free(state_out);
    free(out);
    free(snap_full);
    free(snap_inc);
}

/* In place: a missing source is created, an existing one is swapped, nothing else is left. */
static void test_restore_in_place(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    run_backup(fx, false);
    mutate(fx);
    char *snap = snapshot(fx, "snap");
    run_backup(fx, false);

    test_rmtree(fx->state);
    put_text(fx->extra, "junk.txt", "junk", 0644, T0 + 300, 0);
    fx_unlink(fx->extra, "f.txt");
    Error err = {0};
    RestoreResult rr;
    assert_ok(restore_run(&fx->cfg, &(RestoreOpts){0}, &rr, &err), err);
    assert_true(rr.restored);
    assert_same_sources(snap, fx->base);
    assert_int_equal(count_prefixed(fx->base, ".hfsync-"), 0);
    free(snap);
}

static void test_corrupt_volume_fails_cleanly(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    BackupResult full = run_backup(fx, false);
    char vol[128], out[4096];
    snprintf(vol, sizeof(vol), "%s.vol-0001.tar.zst", full.name);
    snprintf(out, sizeof(out), "%s/out", fx->base);
    char *obj = meta_object_path(fx->cfg.prefix, vol);
    Storage *st = fx_storage(fx);
    size_t size = 0;
    uint8_t *data = storage_mem_object(st, obj, &size);
    free(obj);
    storage_free(st);
    assert_non_null(data);
    assert_true(size > 1024);
    data[size / 2] ^= 0x5a; /* inside big1.bin's bytes, which zstd stores as they are */

    Error err = {0};
    RestoreResult rr;
    assert_false(restore_run(&fx->cfg, &(RestoreOpts){.to = out}, &rr, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    if (strstr(err.msg, vol) == NULL)
        fail_msg("message '%s' does not name '%s'", err.msg, vol);
    if (exists(out, "state") || exists(out, "extra"))
        fail_msg("a failed restore left a restored source in '%s'", out);
    assert_int_equal(count_prefixed(out, ".hfsync-staging-"), 0);
    assert_int_equal(count_prefixed(fx->base, ".hfsync-staging-"), 0);
    /* The destination did not exist before: a failed restore must not leave it behind. */
    if (exists(fx->base, "out"))
        fail_msg("a failed restore left the --to directory '%s' behind", out);
}

static void test_wiped_cache_still_allows_incremental(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    BackupResult full = run_backup(fx, false);
    test_rmtree(fx->cache);
    assert_false(fs_exists(fx->cache));

    mutate(fx);
    BackupResult inc = run_backup(fx, false);
    assert_incremental_of(fx, &inc, full.name);
    BackupMeta *meta = load_meta(fx, inc.name);
    Manifest *m = load_manifest(fx, meta);
    assert_string_equal(m->refs[entry(m, "state", "a.txt")->ref], full.name);
    assert_string_equal(m->refs[entry(m, "state", "sub/c.txt")->ref], inc.name);
    manifest_free(m);
    meta_free(meta);

    /* The new manifest is cached again for the next run. */
    Error err = {0};
    char *dir = agent_cache_dir(&fx->cfg, &err);
    assert_non_null(dir);
    char *cached = str_printf("%s/%s.manifest.zst", dir, inc.name);
    assert_true(fs_exists(cached));
    free(cached);
    free(dir);
}

/* A cached manifest whose bytes do not match the meta is ignored, not trusted. */
static void test_stale_cache_is_not_trusted(void **state)
{
    Fixture *fx = *state;
    build_tree(fx);
    BackupResult full = run_backup(fx, false);
    Error err = {0};
    char *dir = agent_cache_dir(&fx->cfg, &err);
    assert_non_null(dir);
    char *cached = str_printf("%s/%s.manifest.zst", dir, full.name);
    assert_true(fs_exists(cached));
    assert_ok(fs_write_atomic(cached, "garbage", 7, &err), err);

    mutate(fx);
    BackupResult inc = run_backup(fx, false);
    assert_incremental_of(fx, &inc, full.name);
    free(cached);
    free(dir);
}

static void test_restore_without_backup(void **state)
{
    Fixture *fx = *state;
    char *out = path_join(fx->base, "out");
    Error err = {0};
    RestoreResult rr;
    assert_ok(restore_run(&fx->cfg, &(RestoreOpts){.to = out}, &rr, &err), err);
    assert_false(rr.restored);
    assert_false(fs_exists(out));

    build_tree(fx);
    run_backup(fx, false);
    assert_false(
        restore_run(&fx->cfg, &(RestoreOpts){.to = out, .backup = "20000101-000000F"}, &rr, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "20000101-000000F"));
    assert_false(fs_exists(out));
    free(out);
}

int main(void)
{
    log_setup(LOG_WARN, LOG_FORMAT_TEXT);
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_full_backup),
        T(test_incremental_records_changes),
        T(test_no_change_makes_no_backup),
        T(test_chain_limit_starts_a_new_full),
        T(test_restore_latest_and_full),
        T(test_restore_in_place),
        T(test_corrupt_volume_fails_cleanly),
        T(test_wiped_cache_still_allows_incremental),
        T(test_stale_cache_is_not_trusted),
        T(test_restore_without_backup),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
