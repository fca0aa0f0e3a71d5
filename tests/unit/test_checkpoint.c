/* Checkpoints (src/agent/checkpoint.h) against an in-memory target: a written checkpoint is found
 * by a backup of the same plan and not by another; volumes are adopted in order while the objects
 * and their members objects are there and every member is unchanged and still to be stored; a
 * hostile or damaged checkpoint or members object adopts nothing; encrypted members objects hide
 * names and are bound to their volume. */
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
#include "hfsync/spool.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define NOW 1790000000
#define NAME "20261121-101500F"
#define LATEST "backups/20261120-101500F.meta.json"

typedef struct Fx {
    Config cfg;
    Storage *st;
    Manifest *cur; /* string tables only */
    uint16_t self;
    VolumeInfo vinfo[3];
    CryptoKey *key; /* NULL: not encrypted */
    CryptoParams cipher;
} Fx;

typedef struct Item {
    const char *path;
    EntryType type;
    uint64_t size;
    uint8_t fill;
} Item;

/* Six entries to store; volumes: {., a.txt} {b.txt, c.lnk} {d.txt, e.txt}. */
static const Item items[] = {
    {".", ENTRY_DIR, 0, 0},          {"a.txt", ENTRY_FILE, 10, 0xa1},
    {"b.txt", ENTRY_FILE, 20, 0xb2}, {"c.lnk", ENTRY_SYMLINK, 0, 0},
    {"d.txt", ENTRY_FILE, 30, 0xd4}, {"e.txt", ENTRY_FILE, 40, 0xe5},
};
#define ITEMS (sizeof(items) / sizeof(items[0]))

static ManifestEntry entry_of(Fx *fx, size_t i)
{
    const Item *it = &items[i];
    ManifestEntry e = {.path = (char *)it->path,
                       .type = (uint8_t)it->type,
                       .size = it->size,
                       .mtime = NOW - 100,
                       .mtime_nsec = 5,
                       .mode = it->type == ENTRY_DIR ? 0755 : 0644,
                       .source = manifest_source_index(fx->cur, "state"),
                       .target = it->type == ENTRY_SYMLINK ? (char *)"a.txt" : NULL};
    return e;
}

/* This backup's scan: every entry to be stored (ENTRY_CHANGED), no hash yet; `change` (may be
 * NULL) edits entry i before it is spooled. */
static EntrySpool *make_spool(Fx *fx, void (*change)(size_t i, ManifestEntry *e))
{
    EntrySpool *sp = spool_new(NULL, 0);
    Error err = {0};
    for (size_t i = 0; i < ITEMS; i++) {
        ManifestEntry e = entry_of(fx, i);
        e.flags = ENTRY_CHANGED;
        if (change != NULL)
            change(i, &e);
        assert_true(spool_add(sp, &e, &err));
    }
    return sp;
}

/* The spooled entry `path` after adoption. */
static ManifestEntry spooled(EntrySpool *sp, const char *path)
{
    ManifestEntry e, found = {0};
    Error err = {0};
    assert_true(spool_rewind(sp, &err));
    while (spool_next(sp, &e, &err) > 0)
        if (strcmp(e.path, path) == 0)
            found = e;
    assert_non_null(found.path);
    found.path = NULL;
    found.target = NULL;
    return found;
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
    fx->cur = manifest_new(NAME);
    fx->self = manifest_ref_index(fx->cur, NAME);
    for (int v = 0; v < 3; v++) {
        fx->vinfo[v].name = str_printf("%s.vol-%04d.tar.zst", NAME, v + 1);
        fx->vinfo[v].size = (uint64_t)(100 + v);
        fx->vinfo[v].entries = 2;
        fx->vinfo[v].files = v == 1 ? 1 : 2;
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
    crypto_key_free(fx->key);
    manifest_free(fx->cur);
    storage_free(fx->st);
    free(fx->cfg.prefix);
    free((char *)fx->cfg.target.path);
    free((char *)fx->cfg.target.url);
    free(fx);
    return 0;
}

/* Encrypt: volumes are renamed ".enc" and members objects are written under a key. */
static void encrypt(Fx *fx)
{
    Error err = {0};
    fx->cipher = (CryptoParams){.kdf_n = 1024, .kdf_r = 8, .kdf_p = 1};
    fx->key = crypto_key_create("pw", &fx->cipher, &err);
    assert_non_null(fx->key);
    for (int v = 0; v < 3; v++) {
        char *old = str_printf("backups/%s", fx->vinfo[v].name);
        free(fx->vinfo[v].name);
        fx->vinfo[v].name = str_printf("%s.vol-%04d.tar.zst.enc", NAME, v + 1);
        char *path = str_printf("backups/%s", fx->vinfo[v].name);
        char body[128];
        memset(body, 'v', sizeof(body));
        assert_true(storage_put(fx->st, path, body, fx->vinfo[v].size, &err));
        const char *o = old;
        assert_true(storage_delete(fx->st, &o, 1, &err));
        free(path);
        free(old);
    }
}

/* Write a checkpoint of `volumes` volumes of the plan (LATEST, full), as a backup does. */
static void write_checkpoint(Fx *fx, size_t volumes)
{
    CheckpointWriter *w = checkpoint_writer_new(&fx->cfg, NAME, LATEST, true, NOW - 60,
                                                fx->key ? &fx->cipher : NULL, fx->key, NULL, 0, 0);
    Error err = {0};
    for (size_t v = 0; v < volumes; v++) {
        for (size_t i = 2 * v; i < 2 * v + 2; i++) {
            ManifestEntry e = entry_of(fx, i);
            e.ref = fx->self;
            e.volume = (uint32_t)(v + 1);
            memset(e.hash, items[i].fill, HASH_SIZE);
            assert_true(checkpoint_member(w, &e, &err));
        }
        checkpoint_volume_done(w, &fx->vinfo[v]);
        assert_true(checkpoint_save(w, fx->st, false, false, fx->cur, &err));
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

static size_t adopt(Fx *fx, EntrySpool *sp, bool full, uint64_t *files)
{
    Checkpoint *c =
        checkpoint_find(&fx->cfg, fx->st, LATEST, CHECKPOINT_FULL, fx->key != NULL, NOW);
    assert_non_null(c);
    VolumeInfo *vi = NULL;
    size_t vcount = 0, n = 99;
    uint64_t bytes = 0;
    Error err = {0};
    *files = 0;
    assert_true(checkpoint_adopt(c, fx->st, fx->key, fx->cur, sp, fx->self, full, &vi, &vcount,
                                 files, &bytes, &n, &err));
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

static void check_adopted(EntrySpool *sp, size_t volumes)
{
    for (size_t i = 0; i < ITEMS; i++) {
        ManifestEntry e = spooled(sp, items[i].path);
        bool want = i < 2 * volumes;
        assert_int_equal(!!(e.flags & ENTRY_ADOPTED), want);
        if (want && e.type == ENTRY_FILE) {
            assert_int_equal(e.volume, i / 2 + 1);
            assert_int_equal(e.hash[0], items[i].fill);
        }
    }
}

static void test_adopts_unchanged_volumes(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 2);
    /* The checkpoint itself names no entry: they are in the members objects. */
    Error err = {0};
    char *text = NULL;
    assert_true(
        storage_get(fx->st, "backups/" NAME ".checkpoint.json", 1 << 20, &text, NULL, &err));
    assert_null(strstr(text, "a.txt"));
    assert_non_null(strstr(text, NAME ".vol-0002.members.zst"));
    free(text);
    EntrySpool *sp = make_spool(fx, NULL);
    uint64_t files;
    assert_int_equal(adopt(fx, sp, false, &files), 2);
    assert_int_equal(files, 2); /* a.txt and b.txt; "." and c.lnk are not files */
    check_adopted(sp, 2);
    spool_free(sp);
}

static void test_encrypted_members(void **state)
{
    Fx *fx = *state;
    encrypt(fx);
    write_checkpoint(fx, 3);
    Error err = {0};
    char *text = NULL;
    size_t size = 0;
    assert_true(storage_get(fx->st, "backups/" NAME ".vol-0001.members.zst.enc", 1 << 20, &text,
                            &size, &err));
    assert_null(memmem(text, size, "a.txt", 5)); /* names are not readable */
    free(text);
    EntrySpool *sp = make_spool(fx, NULL);
    uint64_t files;
    assert_int_equal(adopt(fx, sp, false, &files), 3);
    check_adopted(sp, 3);
    spool_free(sp);
    /* A members object of the wrong volume (another object's name bound in): not adopted. */
    assert_true(storage_get(fx->st, "backups/" NAME ".vol-0001.members.zst.enc", 1 << 20, &text,
                            &size, &err));
    assert_true(storage_put(fx->st, "backups/" NAME ".vol-0002.members.zst.enc", text, size, &err));
    free(text);
    sp = make_spool(fx, NULL);
    assert_int_equal(adopt(fx, sp, false, &files), 1);
    check_adopted(sp, 1);
    spool_free(sp);
}

static void change_c(size_t i, ManifestEntry *e)
{
    if (i == 3)
        e->mtime++;
}

static void older_a(size_t i, ManifestEntry *e)
{
    if (i == 1)
        e->flags = 0; /* unchanged since the previous backup: not stored by this one */
}

static void test_a_change_stops_adoption(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 3);
    /* c.lnk (volume 2, after b.txt) changed: b.txt's tentative adoption is undone. */
    EntrySpool *sp = make_spool(fx, change_c);
    uint64_t files;
    assert_int_equal(adopt(fx, sp, false, &files), 1);
    assert_int_equal(files, 1);
    check_adopted(sp, 1);
    spool_free(sp);

    /* A file an earlier backup holds (not stored by this incremental): not adopted... */
    sp = make_spool(fx, older_a);
    assert_int_equal(adopt(fx, sp, false, &files), 0);
    check_adopted(sp, 0);
    spool_free(sp);
    /* ...but a full stores everything. */
    sp = make_spool(fx, older_a);
    assert_int_equal(adopt(fx, sp, true, &files), 3);
    spool_free(sp);
}

static void test_missing_object_stops_adoption(void **state)
{
    Fx *fx = *state;
    write_checkpoint(fx, 3);
    Error err = {0};
    char *path = str_printf("backups/%s", fx->vinfo[1].name);
    assert_true(storage_put(fx->st, path, "short", 5, &err)); /* not the recorded size */
    free(path);
    EntrySpool *sp = make_spool(fx, NULL);
    uint64_t files;
    assert_int_equal(adopt(fx, sp, false, &files), 1);
    spool_free(sp);
    /* A members object gone or damaged: that volume and the rest are written again. */
    const char *m = "backups/" NAME ".vol-0001.members.zst";
    assert_true(storage_put(fx->st, m, "garbage", 7, &err));
    sp = make_spool(fx, NULL);
    assert_int_equal(adopt(fx, sp, false, &files), 0);
    check_adopted(sp, 0);
    spool_free(sp);
    assert_true(storage_delete(fx->st, &m, 1, &err));
    sp = make_spool(fx, NULL);
    assert_int_equal(adopt(fx, sp, false, &files), 0);
    spool_free(sp);
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
    char *at = strstr(text, NAME ".vol-0001.tar");
    assert_non_null(at);
    memcpy(at, "20261121-101501F", 16); /* another backup's volume */
    assert_true(storage_put(fx->st, "backups/" NAME ".checkpoint.json", text, strlen(text), &err));
    free(text);
    EntrySpool *sp = make_spool(fx, NULL);
    uint64_t files;
    assert_int_equal(adopt(fx, sp, false, &files), 0);
    spool_free(sp);

    const char *bad[] = {"not json", "[]", "{\"version\":2}",
                         "{\"version\":3,\"backup\":\"" NAME "\",\"latest\":null,\"full\":true,"
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
    log_setup(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_found_only_for_the_same_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopts_unchanged_volumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_change_stops_adoption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_object_stops_adoption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
