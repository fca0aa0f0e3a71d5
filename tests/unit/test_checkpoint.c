/* Checkpoints (src/agent/checkpoint.h) against an in-memory target: a written checkpoint is found
 * by a backup of the same plan and not by another; volumes are adopted in order while the objects
 * are there and every member is unchanged; a hostile or damaged checkpoint adopts nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/checkpoint.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define NOW 1790000000
#define NAME "20261121-101500F"
#define LATEST "backups/20261120-101500F.meta.json"

typedef struct Fx {
    Config cfg;
    Storage *st;
    Manifest *cur;
    uint16_t self;
    VolumeInfo vinfo[3];
} Fx;

static void add(Manifest *m, uint16_t self, const char *path, EntryType type, uint64_t size,
                uint8_t fill)
{
    ManifestEntry e = {.path = (char *)path,
                       .type = (uint8_t)type,
                       .size = size,
                       .mtime = NOW - 100,
                       .mtime_nsec = 5,
                       .mode = type == ENTRY_DIR ? 0755 : 0644,
                       .ref = self,
                       .source = manifest_source_index(m, "state"),
                       .target = type == ENTRY_SYMLINK ? (char *)"a.txt" : NULL};
    memset(e.hash, fill, sizeof(e.hash));
    manifest_add(m, &e);
}

/* A manifest of 6 entries to store; volumes: [0,2) [2,4) [4,6). */
static Manifest *make_manifest(uint16_t *self)
{
    Manifest *m = manifest_new(NAME);
    *self = manifest_ref_index(m, NAME);
    add(m, *self, ".", ENTRY_DIR, 0, 0);
    add(m, *self, "a.txt", ENTRY_FILE, 10, 0xa1);
    add(m, *self, "b.txt", ENTRY_FILE, 20, 0xb2);
    add(m, *self, "c.lnk", ENTRY_SYMLINK, 0, 0);
    add(m, *self, "d.txt", ENTRY_FILE, 30, 0xd4);
    add(m, *self, "e.txt", ENTRY_FILE, 40, 0xe5);
    manifest_sort(m);
    return m;
}

static int setup(void **state)
{
    static int counter;
    Fx *fx = x_calloc(1, sizeof(*fx));
    char *name = str_printf("test-checkpoint-%d-%d", (int)getpid(), ++counter);
    fx->cfg.target =
        (Target){.kind = TARGET_MEM, .path = name, .url = str_printf("mem://%s", name)};
    fx->cfg.prefix = x_strdup("backups");
    fx->cfg.keep.stale_after_sec = 86400;
    Error err = {0};
    fx->st = storage_open(&fx->cfg, &fx->cfg.target, &err);
    assert_non_null(fx->st);
    fx->cur = make_manifest(&fx->self);
    for (int v = 0; v < 3; v++) {
        fx->vinfo[v].name = str_printf("%s.vol-%04d.tar.zst", NAME, v + 1);
        fx->vinfo[v].size = (uint64_t)(100 + v);
        snprintf(fx->vinfo[v].sha256, sizeof(fx->vinfo[v].sha256), "%064d", v + 1);
        char *path = str_printf("backups/%s", fx->vinfo[v].name);
        char body[128];
        memset(body, 'v', sizeof(body));
        assert_true(storage_put(fx->st, path, body, fx->vinfo[v].size, &err));
        free(path);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    for (int v = 0; v < 3; v++)
        free(fx->vinfo[v].name);
    manifest_free(fx->cur);
    storage_free(fx->st);
    free(fx->cfg.prefix);
    free((char *)fx->cfg.target.path);
    free((char *)fx->cfg.target.url);
    free(fx);
    return 0;
}

/* Write a checkpoint of `volumes` volumes of the plan (LATEST, full). */
static void write_checkpoint(Fx *fx, size_t volumes)
{
    CheckpointWriter *w =
        checkpoint_writer_new(&fx->cfg, NAME, LATEST, true, NOW - 60, NULL, NULL, 0, 0);
    Error err = {0};
    for (size_t v = 0; v < volumes; v++) {
        checkpoint_volume_done(w, 2 * v, 2 * v + 2);
        assert_true(
            checkpoint_save(w, fx->st, false, false, fx->cur, fx->self, fx->vinfo, v + 1, &err));
    }
    checkpoint_writer_free(w);
}

static void test_found_only_for_the_same_plan(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 2);
    Checkpoint *c = checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_FULL, false, NOW);
    assert_non_null(c);
    assert_string_equal(checkpoint_name(c), NAME);
    assert_int_equal(checkpoint_started(c), NOW - 60);
    assert_null(checkpoint_cipher(c));
    checkpoint_free(c);
    /* The pointer moved, no pointer, an incremental, encrypted, too old: not this plan. */
    assert_null(
        checkpoint_find(&fx->cfg, fx->st, "backups/other.meta.json", CHECKPOINT_FULL, false, NOW));
    assert_null(checkpoint_find(&fx->cfg, fx->st, NULL, CHECKPOINT_FULL, false, NOW));
    assert_null(checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_INCREMENTAL, false, NOW));
    assert_null(checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_FULL, true, NOW));
    assert_null(checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_FULL, false, NOW + 2 * 86400));
}

static size_t adopt(Fx *fx, Manifest *cur, uint64_t *files)
{
    Checkpoint *c = checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_FULL, false, NOW);
    assert_non_null(c);
    VolumeInfo *vi = NULL;
    size_t vcount = 0;
    uint64_t bytes = 0;
    *files = 0;
    size_t n = checkpoint_adopt(c, fx->st, cur, fx->self, &vi, &vcount, files, &bytes);
    assert_int_equal(vcount, n);
    for (size_t i = 0; i < vcount; i++) {
        assert_string_equal(vi[i].name, fx->vinfo[i].name);
        assert_string_equal(vi[i].sha256, fx->vinfo[i].sha256);
        free(vi[i].name);
    }
    free(vi);
    checkpoint_free(c);
    return n;
}

static void test_adopts_unchanged_volumes(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 2);
    uint16_t self;
    Manifest *cur = make_manifest(&self);
    for (size_t i = 0; i < cur->count; i++) /* as a fresh scan has them: no hash yet */
        memset(cur->entries[i].hash, 0, HASH_SIZE);
    uint64_t files;
    assert_int_equal(adopt(fx, cur, &files), 2);
    assert_int_equal(files, 2); /* a.txt and b.txt; "." and c.lnk are not files */
    for (size_t i = 0; i < 4; i++)
        assert_true(cur->entries[i].flags & ENTRY_ADOPTED);
    assert_false(cur->entries[4].flags & ENTRY_ADOPTED);
    const ManifestEntry *a = manifest_find(cur, "state", "a.txt");
    assert_int_equal(a->volume, 1);
    assert_int_equal(a->hash[0], 0xa1);
    assert_int_equal(manifest_find(cur, "state", "b.txt")->volume, 2);
    manifest_free(cur);
}

static void test_a_change_stops_adoption(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 3);
    uint16_t self;
    Manifest *cur = make_manifest(&self);
    manifest_find(cur, "state", "c.lnk")->mtime++; /* in volume 2 */
    uint64_t files;
    assert_int_equal(adopt(fx, cur, &files), 1);
    assert_false(manifest_find(cur, "state", "b.txt")->flags & ENTRY_ADOPTED);
    assert_false(manifest_find(cur, "state", "d.txt")->flags & ENTRY_ADOPTED);
    manifest_free(cur);

    /* A file stored by an earlier backup now (its ref is not this backup's): not adopted. */
    cur = make_manifest(&self);
    manifest_find(cur, "state", "a.txt")->ref = manifest_ref_index(cur, "older");
    assert_int_equal(adopt(fx, cur, &files), 0);
    manifest_free(cur);
}

static void test_missing_object_stops_adoption(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 3);
    Error err = {0};
    char *path = str_printf("backups/%s", fx->vinfo[1].name);
    assert_true(storage_put(fx->st, path, "short", 5, &err)); /* not the recorded size */
    free(path);
    uint16_t self;
    Manifest *cur = make_manifest(&self);
    uint64_t files;
    assert_int_equal(adopt(fx, cur, &files), 1);
    manifest_free(cur);
}

/* A checkpoint naming a volume of another backup, or garbage, adopts nothing and never fails. */
static void test_hostile_checkpoint(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 1);
    Error err = {0};
    char *text = NULL;
    assert_true(
        storage_get(fx->st, "backups/" NAME ".checkpoint.json", 1 << 20, &text, NULL, &err));
    char *at = strstr(text, NAME ".vol-0001");
    assert_non_null(at);
    memcpy(at, "20261121-101501F", 16); /* another backup's volume */
    assert_true(storage_put(fx->st, "backups/" NAME ".checkpoint.json", text, strlen(text), &err));
    free(text);
    uint16_t self;
    Manifest *cur = make_manifest(&self);
    uint64_t files;
    assert_int_equal(adopt(fx, cur, &files), 0);
    manifest_free(cur);

    const char *bad[] = {"not json", "[]", "{\"version\":1}",
                         "{\"version\":2,\"backup\":\"" NAME "\",\"latest\":null,\"full\":true,"
                         "\"started\":1,\"volumes\":[]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(
            storage_put(fx->st, "backups/" NAME ".checkpoint.json", bad[i], strlen(bad[i]), &err));
        assert_null(checkpoint_find(&fx->cfg, fx->st, NULL, CHECKPOINT_FULL, false, NOW));
        assert_null(checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_FULL, false, NOW));
    }
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_found_only_for_the_same_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopts_unchanged_volumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_change_stops_adoption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_object_stops_adoption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
