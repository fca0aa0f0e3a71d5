/* Restore and verify with bounded memory: ManifestWalk (the rules between entries checked as
 * they stream by, directories reported complete after their contents), and the partition of a
 * manifest's files by volume merge-joined with the volumes' members (restore_index_volumes):
 * volumes written here member by member, so a missing, out-of-order or unlisted member can be
 * planted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.intern.h"
#include "hfsync/hash.h"
#include "hfsync/spool.h"
#include "hfsync/storage.h"
#include "hfsync/tar.h"
#include "hfsync/util.h"
#include "support/testutil.h"

/* --- ManifestWalk ------------------------------------------------------------------------ */

typedef struct WalkLog {
    char done[64][64]; /* "source:path" of each directory reported complete, in order */
    size_t count;
} WalkLog;

static bool log_done(void *ctx, const char *source, const ManifestEntry *dir, Error *err)
{
    (void)err;
    WalkLog *l = ctx;
    assert_true(l->count < 64);
    snprintf(l->done[l->count++], 64, "%s:%s", source, dir->path);
    return true;
}

typedef struct WalkItem {
    const char *source, *path;
    EntryType type;
} WalkItem;

/* Walk the items; the index of the one refused (with its error), or -1 when all pass. */
static int walk_items(const WalkItem *items, size_t n, WalkLog *l, Error *err)
{
    ManifestWalk *w = manifest_walk_new(l ? log_done : NULL, l);
    int bad = -1;
    for (size_t i = 0; i < n && bad < 0; i++) {
        ManifestEntry e = {.path = (char *)items[i].path, .type = (uint8_t)items[i].type};
        if (!manifest_walk_next(w, items[i].source, &e, err))
            bad = (int)i;
    }
    if (bad < 0 && !manifest_walk_end(w, err))
        bad = (int)n;
    manifest_walk_free(w);
    return bad;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_walk_order_and_done(void **state)
{
    (void)state;
    /* "a-x" and its subtree sort between "a" and "a/b": "a" stays a parent across them. */
    const WalkItem items[] = {
        {"s", ".", ENTRY_DIR},       {"s", " sp", ENTRY_FILE},  {"s", "a", ENTRY_DIR},
        {"s", "a-x", ENTRY_DIR},     {"s", "a-x/y", ENTRY_DIR}, {"s", "a-x/y/z", ENTRY_FILE},
        {"s", "a.txt", ENTRY_FILE},  {"s", "a/b", ENTRY_DIR},   {"s", "a/b/c", ENTRY_FILE},
        {"s", "a/d", ENTRY_SYMLINK}, {"s", "b", ENTRY_DIR},     {"t", ".", ENTRY_DIR},
        {"t", "a", ENTRY_FILE},      {"u", ".", ENTRY_FILE},
    };
    WalkLog l = {0};
    Error err = {0};
    assert_int_equal(walk_items(items, N(items), &l, &err), -1);
    /* Each directory after everything below it, the root last; a file root is not reported. */
    const char *want[] = {"s:a-x/y", "s:a-x", "s:a/b", "s:a", "s:b", "s:.", "t:."};
    assert_int_equal(l.count, N(want));
    for (size_t i = 0; i < N(want); i++)
        assert_string_equal(l.done[i], want[i]);
}

static void expect_walk_refused(const WalkItem *items, size_t n, int bad, ErrorCode code,
                                const char *needle)
{
    Error err = {0};
    assert_int_equal(walk_items(items, n, NULL, &err), bad);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void test_walk_refusals(void **state)
{
    (void)state;
    const WalkItem twice[] = {{"s", ".", ENTRY_DIR}, {"s", "a", ENTRY_FILE}, {"s", "a", ENTRY_DIR}};
    expect_walk_refused(twice, N(twice), 2, ERR_UNSAFE, "'s/a' appears twice");
    const WalkItem order[] = {
        {"s", ".", ENTRY_DIR}, {"s", "b", ENTRY_FILE}, {"s", "a", ENTRY_FILE}};
    expect_walk_refused(order, N(order), 2, ERR_CORRUPT, "'s/a' is out of order");
    const WalkItem root_late[] = {{"s", "a", ENTRY_DIR}, {"s", ".", ENTRY_DIR}};
    expect_walk_refused(root_late, N(root_late), 0, ERR_UNSAFE, "parent is not a directory");
    const WalkItem sources[] = {{"t", ".", ENTRY_DIR}, {"s", ".", ENTRY_DIR}};
    expect_walk_refused(sources, N(sources), 1, ERR_CORRUPT, "out of order");
    /* below a file, a symlink, a missing directory, a file root */
    const WalkItem under_file[] = {
        {"s", ".", ENTRY_DIR}, {"s", "f", ENTRY_FILE}, {"s", "f/x", ENTRY_FILE}};
    expect_walk_refused(under_file, N(under_file), 2, ERR_UNSAFE, "'s/f/x': its parent");
    const WalkItem under_link[] = {
        {"s", ".", ENTRY_DIR}, {"s", "l", ENTRY_SYMLINK}, {"s", "l/x", ENTRY_FILE}};
    expect_walk_refused(under_link, N(under_link), 2, ERR_UNSAFE, "'s/l/x': its parent");
    const WalkItem missing[] = {
        {"s", ".", ENTRY_DIR}, {"s", "a", ENTRY_DIR}, {"s", "a/b/c", ENTRY_FILE}};
    expect_walk_refused(missing, N(missing), 2, ERR_UNSAFE, "'s/a/b/c': its parent");
    const WalkItem file_root[] = {{"s", ".", ENTRY_FILE}, {"s", "x", ENTRY_FILE}};
    expect_walk_refused(file_root, N(file_root), 1, ERR_UNSAFE, "'s/x': its parent");
    /* "a" closed by "a0" ('0' sorts after '/'): a later "a/..." is out of order anyway, and a
     * directory is never taken for the parent of what follows its subtree. */
    const WalkItem closed[] = {{"s", ".", ENTRY_DIR},
                               {"s", "a", ENTRY_DIR},
                               {"s", "a0", ENTRY_DIR},
                               {"s", "a0b/c", ENTRY_FILE}};
    expect_walk_refused(closed, N(closed), 3, ERR_UNSAFE, "'s/a0b/c': its parent");
}

/* --- volumes merge-joined with their part of the manifest --------------------------------- */

typedef struct VolFx {
    Storage *st;
    Config cfg;
    char *dir; /* work dir */
    BackupMeta meta;
    RestoreIndex ix;
} VolFx;

static int vol_setup(void **state)
{
    static int counter;
    VolFx *fx = x_calloc(1, sizeof(*fx));
    char *name = str_printf("test-restore-index-%d-%d", (int)getpid(), ++counter);
    fx->st = storage_mem_open(name);
    free(name);
    fx->dir = test_tmpdir();
    fx->cfg.work_dir = fx->dir;
    fx->cfg.progress_interval_sec = 10;
    fx->meta.path = x_strdup("backups/B.meta.json");
    fx->meta.name = x_strdup("B");
    fx->meta.native = true;
    fx->ix.tables = manifest_new("B");
    fx->ix.spool = spool_new(fx->dir, 64 * 1024);
    manifest_source_index(fx->ix.tables, "s");
    manifest_ref_index(fx->ix.tables, "B");
    manifest_ref_index(fx->ix.tables, "OTHER");
    *state = fx;
    return 0;
}

static int vol_teardown(void **state)
{
    VolFx *fx = *state;
    restore_index_clear(&fx->ix);
    for (size_t i = 0; i < fx->meta.volume_count; i++)
        free(fx->meta.vinfo[i].name);
    free(fx->meta.vinfo);
    free(fx->meta.path);
    free(fx->meta.name);
    storage_free(fx->st);
    test_rmtree(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

static const char *content_of(const char *path)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "content of %s\n", path);
    return buf;
}

/* A manifest entry: a file `path` of ref `ref` in volume `vol` (0: a directory). */
static void add_entry(VolFx *fx, const char *path, uint16_t ref, uint32_t vol)
{
    ManifestEntry e = {.path = (char *)path, .mode = 0644, .mtime = 1700000000, .ref = ref};
    e.type = vol == 0 ? ENTRY_DIR : ENTRY_FILE;
    if (vol != 0) {
        const char *c = content_of(path);
        e.size = strlen(c);
        e.volume = vol;
        Hasher *h = hasher_new(HASH_CONTENT);
        hasher_update(h, c, strlen(c));
        hasher_final(h, e.hash);
        hasher_free(h);
    }
    Error err = {0};
    if (!spool_add(fx->ix.spool, &e, &err))
        fail_msg("spool_add: %s", err.msg);
    if (e.type == ENTRY_FILE) {
        fx->ix.files++;
        fx->ix.bytes += e.size;
    }
}

/* The next volume of the backup, holding these members in this order ("d:" a directory, "*" a
 * file whose content does not match its name). */
static void add_volume(VolFx *fx, const char *const *members, size_t n)
{
    Error err = {0};
    size_t v = fx->meta.volume_count++;
    fx->meta.vinfo = x_realloc(fx->meta.vinfo, fx->meta.volume_count * sizeof(VolumeInfo));
    VolumeInfo *vi = &fx->meta.vinfo[v];
    memset(vi, 0, sizeof(*vi));
    vi->name = str_printf("B.vol%zu.tar.zst", v + 1);
    char *obj = meta_sibling_path(&fx->meta, vi->name);
    Sink *out = storage_write_open(fx->st, obj, &err);
    Sink *z = out ? zstd_sink_new(out, 3, 1, &err) : NULL;
    TarWriter *tw = z ? tar_writer_new(z, &err) : NULL;
    if (tw == NULL)
        fail_msg("volume: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        const char *name = members[i];
        bool dir = strncmp(name, "d:", 2) == 0, bad = name[0] == '*';
        name += dir ? 2 : bad ? 1 : 0;
        const char *c = dir ? "" : bad ? "not the content\n" : content_of(strchr(name, '/') + 1);
        TarMember m = {.name = name,
                       .type = dir ? TAR_DIR : TAR_FILE,
                       .mode = 0644,
                       .mtime = 1700000000,
                       .size = dir ? 0 : strlen(c)};
        if (!tar_writer_header(tw, &m, &err) || (!dir && !tar_writer_data(tw, c, m.size, &err)))
            fail_msg("member '%s': %s", name, err.msg);
    }
    if (!tar_writer_close(tw, &err))
        fail_msg("close volume: %s", err.msg);
    tar_writer_free(tw);
    sink_free(z);
    sink_free(out);
    size_t size;
    uint8_t *bytes = storage_mem_object(fx->st, obj, &size);
    assert_non_null(bytes);
    Hasher *h = hasher_new(HASH_SHA256);
    hasher_update(h, bytes, size);
    hasher_final_hex(h, vi->sha256);
    hasher_free(h);
    vi->size = size; /* the object's own bytes: not ours to free */
    free(obj);
}

/* Verify-style run over the backup's volumes (nothing written); the job's file count in *files. */
static bool run_volumes(VolFx *fx, bool every_file, uint64_t *files, Error *err)
{
    const BackupMeta *m = &fx->meta;
    const CryptoKey *key = NULL;
    VolumeJob job = {.cfg = &fx->cfg, .st = fx->st};
    RestoreVolumes rv = {.metas = &m, .keys = &key, .count = 1, .own = m, .every_file = every_file};
    bool ok = restore_index_volumes(&fx->ix, &rv, &job, err);
    *files = job.files;
    return ok;
}

static void expect_volumes_fail(VolFx *fx, ErrorCode code, const char *needle)
{
    Error err = {0};
    uint64_t files;
    assert_false(run_volumes(fx, false, &files, &err));
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

/* A manifest of two volumes, entries of another backup's files between. */
static void two_volumes_manifest(VolFx *fx)
{
    add_entry(fx, ".", 0, 0);
    add_entry(fx, "a", 0, 1);
    add_entry(fx, "b", 1, 1); /* OTHER's: not in these volumes */
    add_entry(fx, "c", 0, 2);
    add_entry(fx, "d", 0, 0);
    add_entry(fx, "d/e", 0, 1);
    add_entry(fx, "f", 0, 2);
}

static void test_volumes_join(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    /* Volume 1 holds a and d/e (the directory d too), volume 2 c and f: interleaved in manifest
     * order, as a backup resumed from a checkpoint writes them. */
    add_volume(fx, (const char *[]){"d:s", "s/a", "d:s/d", "s/d/e"}, 4);
    add_volume(fx, (const char *[]){"s/c", "s/f"}, 2);
    Error err = {0};
    uint64_t files = 0;
    if (!run_volumes(fx, false, &files, &err))
        fail_msg("restore_index_volumes: %s", err.msg);
    assert_int_equal(files, 4);
    /* every_file: b's backup is not among the ones read */
    assert_false(run_volumes(fx, true, &files, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "'s/b' is in backup 'OTHER', which is not in the chain"));
}

static void test_volumes_many_groups(void **state)
{
    VolFx *fx = *state;
    /* More volumes than one partition pass takes: several groups, the last one partial. */
    size_t nvol = RESTORE_VOLUME_GROUP + 3;
    add_entry(fx, ".", 0, 0);
    char path[32], member[40];
    for (size_t v = 1; v <= nvol; v++) {
        snprintf(path, sizeof(path), "f%05zu", v);
        add_entry(fx, path, 0, (uint32_t)v);
    }
    for (size_t v = 1; v <= nvol; v++) {
        snprintf(member, sizeof(member), "s/f%05zu", v);
        add_volume(fx, (const char *[]){member}, 1);
    }
    Error err = {0};
    uint64_t files = 0;
    if (!run_volumes(fx, false, &files, &err))
        fail_msg("restore_index_volumes: %s", err.msg);
    assert_int_equal(files, nvol);
}

static void test_volumes_missing_member(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    add_volume(fx, (const char *[]){"d:s", "s/a", "d:s/d"}, 3); /* d/e missing: at the end */
    add_volume(fx, (const char *[]){"s/c", "s/f"}, 2);
    expect_volumes_fail(fx, ERR_CORRUPT, "file 's/d/e' of the manifest is missing from volume 1");
}

static void test_volumes_missing_before(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    add_volume(fx, (const char *[]){"d:s", "s/a", "d:s/d", "s/d/e"}, 4);
    add_volume(fx, (const char *[]){"s/f"}, 1); /* c missing: found when f comes */
    expect_volumes_fail(fx, ERR_CORRUPT, "file 's/c' of the manifest is missing from volume 2");
}

static void test_volumes_out_of_order(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    add_volume(fx, (const char *[]){"d:s", "d:s/d", "s/a", "s/d/e"}, 4);
    add_volume(fx, (const char *[]){"s/c", "s/f"}, 2);
    expect_volumes_fail(fx, ERR_UNSAFE, "member 's/a' is out of order");
}

static void test_volumes_twice(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    add_volume(fx, (const char *[]){"d:s", "s/a", "s/a", "d:s/d", "s/d/e"}, 5);
    add_volume(fx, (const char *[]){"s/c", "s/f"}, 2);
    expect_volumes_fail(fx, ERR_UNSAFE, "member 's/a' appears twice");
}

static void test_volumes_unlisted(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    add_volume(fx, (const char *[]){"d:s", "s/a", "s/a2", "d:s/d", "s/d/e"}, 5);
    add_volume(fx, (const char *[]){"s/c", "s/f"}, 2);
    expect_volumes_fail(fx, ERR_UNSAFE, "member 's/a2' is not in the backup's manifest");
}

static void test_volumes_wrong_type(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    /* "c" listed as a file of volume 2 comes as a directory in volume 1 */
    add_volume(fx, (const char *[]){"d:s", "s/a", "d:s/c", "d:s/d", "s/d/e"}, 5);
    add_volume(fx, (const char *[]){"s/c", "s/f"}, 2);
    expect_volumes_fail(fx, ERR_UNSAFE,
                        "member 's/c' is not in the backup's manifest with this type");
}

static void test_volumes_bad_content(void **state)
{
    VolFx *fx = *state;
    two_volumes_manifest(fx);
    add_volume(fx, (const char *[]){"d:s", "s/a", "d:s/d", "s/d/e"}, 4);
    add_volume(fx, (const char *[]){"*s/c", "s/f"}, 2);
    expect_volumes_fail(fx, ERR_CORRUPT, "file 's/c' has");
}

static void test_volumes_bad_volume_number(void **state)
{
    VolFx *fx = *state;
    add_entry(fx, ".", 0, 0);
    add_entry(fx, "a", 0, 3);
    add_volume(fx, (const char *[]){"d:s"}, 1);
    expect_volumes_fail(fx, ERR_CORRUPT, "'s/a' is in volume 3 of backup 'B', which has 1");
}

/* The same join with the manifest's spool and the parts on disk. */
static void test_volumes_spilled(void **state)
{
    VolFx *fx = *state;
    add_entry(fx, ".", 0, 0);
    const size_t n = 3000; /* ~80 bytes a record: past the 64 KiB of each spool */
    char path[32];
    const char **v1 = x_calloc(n, sizeof(char *)), **v2 = x_calloc(n, sizeof(char *));
    size_t n1 = 0, n2 = 0;
    v1[n1++] = "d:s";
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "file-%06zu", i);
        uint32_t vol = i < n / 3 || i % 5 == 0 ? 1 : 2;
        add_entry(fx, path, 0, vol);
        char *m = str_printf("s/%s", path);
        if (vol == 1)
            v1[n1++] = m;
        else
            v2[n2++] = m;
    }
    assert_true(spool_on_disk(fx->ix.spool));
    add_volume(fx, v1, n1);
    add_volume(fx, v2, n2);
    Error err = {0};
    uint64_t files = 0;
    if (!run_volumes(fx, true, &files, &err))
        fail_msg("restore_index_volumes: %s", err.msg);
    assert_int_equal(files, n);
    for (size_t i = 1; i < n1; i++)
        free((char *)v1[i]);
    for (size_t i = 0; i < n2; i++)
        free((char *)v2[i]);
    free(v1);
    free(v2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_order_and_done),
        cmocka_unit_test(test_walk_refusals),
        cmocka_unit_test_setup_teardown(test_volumes_join, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_many_groups, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_missing_member, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_missing_before, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_out_of_order, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_twice, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_unlisted, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_wrong_type, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_bad_content, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_bad_volume_number, vol_setup, vol_teardown),
        cmocka_unit_test_setup_teardown(test_volumes_spilled, vol_setup, vol_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
