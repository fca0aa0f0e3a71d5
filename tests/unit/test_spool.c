/* EntrySpool (in memory and spilled to its file, updates across passes) and the manifest cursor
 * (entries one at a time, 1-byte reads, the header's count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/manifest.h"
#include "hfsync/spool.h"
#include "hfsync/util.h"
#include "support/testutil.h"

/* Entry i of a sequence in manifest order whose paths share long prefixes with their
 * neighbours, with a few very long paths and symlink targets among them. */
static void make_entry(size_t i, ManifestEntry *e, char *path, char *target)
{
    memset(e, 0, sizeof(*e));
    size_t dir = i / 37;
    if (i % 500 == 250) { /* a 4096-byte path: the longest allowed */
        int n = snprintf(path, 4097, "d%05zu/f%05zu-", dir, i);
        memset(path + n, 'p', 4096 - (size_t)n);
        path[4096] = '\0';
    } else {
        snprintf(path, 4097, "d%05zu/sub-directory/with/a/long/shared/prefix/f%05zu.txt", dir, i);
    }
    e->path = path;
    e->source = (uint16_t)(i % 3);
    e->ref = (uint16_t)(i % 5);
    e->mtime = 1700000000 + (int64_t)i;
    e->mtime_nsec = (int32_t)(i * 7919 % 1000000000);
    e->mode = (uint32_t)(i % 07777);
    if (i % 11 == 3) {
        e->type = ENTRY_SYMLINK;
        size_t len = i % 500 == 3 ? 4096 : 1 + i % 60;
        memset(target, 't', len);
        target[0] = (char)('a' + i % 26);
        target[len] = '\0';
        e->target = target;
    } else if (i % 7 == 0) {
        e->type = ENTRY_DIR;
    } else {
        e->type = ENTRY_FILE;
        e->size = i * 1000003ull;
        e->volume = (uint32_t)(i % 4 + 1);
        for (int k = 0; k < HASH_SIZE; k++)
            e->hash[k] = (uint8_t)(i * 31 + (size_t)k);
    }
}

static void assert_entry(size_t i, const ManifestEntry *got, bool updated)
{
    char path[4097], target[4097];
    ManifestEntry want;
    make_entry(i, &want, path, target);
    if (updated) { /* what pass 2 changed: the fixed fields, never the names */
        want.flags = ENTRY_CHANGED | ENTRY_HASHED;
        want.volume = 9;
        want.ref = 77;
        want.mtime = 42;
        memset(want.hash, 0xee, HASH_SIZE);
    }
    assert_string_equal(got->path, want.path);
    if (want.target == NULL)
        assert_null(got->target);
    else
        assert_string_equal(got->target, want.target);
    assert_int_equal(got->type, want.type);
    assert_int_equal(got->size, want.size);
    assert_int_equal(got->mtime, want.mtime);
    assert_int_equal(got->mtime_nsec, want.mtime_nsec);
    assert_int_equal(got->mode, want.mode);
    assert_int_equal(got->source, want.source);
    assert_int_equal(got->ref, want.ref);
    assert_int_equal(got->flags, want.flags);
    assert_int_equal(got->volume, want.volume);
    assert_memory_equal(got->hash, want.hash, HASH_SIZE);
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Add `count` entries; pass 1 reads them and updates every third; pass 2 sees the updates;
 * pass 3 (after a rewind in the middle of a pass) sees the same. */
static void spool_roundtrip(size_t count, size_t memory, bool expect_disk)
{
    char *dir = test_tmpdir();
    char *work = path_join(dir, "work"); /* created by the spool when it spills */
    EntrySpool *sp = spool_new(work, memory);
    Error err = {0};
    char path[4097], target[4097];
    ManifestEntry e;
    for (size_t i = 0; i < count; i++) {
        make_entry(i, &e, path, target);
        assert_true(spool_add(sp, &e, &err));
    }
    assert_int_equal(spool_count(sp), count);
    assert_int_equal(spool_on_disk(sp), expect_disk);
    if (expect_disk) /* the file is unlinked as soon as it is made */
        assert_int_equal(dir_entries(work), 0);

    assert_true(spool_rewind(sp, &err));
    size_t n = 0;
    int r;
    while ((r = spool_next(sp, &e, &err)) > 0) {
        assert_entry(n, &e, false);
        if (n % 3 == 1) {
            e.flags = ENTRY_CHANGED | ENTRY_HASHED;
            e.volume = 9;
            e.ref = 77;
            e.mtime = 42;
            memset(e.hash, 0xee, HASH_SIZE);
            e.path = "ignored";
            assert_true(spool_update(sp, &e, &err));
        }
        n++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, count);

    for (int pass = 0; pass < 2; pass++) {
        assert_true(spool_rewind(sp, &err));
        for (n = 0; (r = spool_next(sp, &e, &err)) > 0; n++) {
            assert_entry(n, &e, n % 3 == 1);
            if (pass == 0 && n == count / 2)
                break;
        }
        assert_true(r >= 0);
    }
    assert_int_equal(n, count);
    ManifestEntry extra = {.path = "late", .type = ENTRY_DIR};
    assert_false(spool_add(sp, &extra, &err)); /* adding is over once reading began */
    spool_free(sp);
    test_rmtree(dir);
    free(work);
    free(dir);
}

static void test_spool_in_memory(void **state)
{
    (void)state;
    spool_roundtrip(2000, 16 * 1024 * 1024, false);
}

static void test_spool_spills_to_file(void **state)
{
    (void)state;
    /* About 100 bytes per entry against a 64 KiB buffer: many windows, records across their
     * edges, 4 KiB names. */
    spool_roundtrip(20000, 64 * 1024, true);
}

static void test_spool_empty_and_limits(void **state)
{
    (void)state;
    EntrySpool *sp = spool_new(NULL, 0);
    Error err = {0};
    ManifestEntry e;
    assert_int_equal(spool_next(sp, &e, &err), -1); /* not rewound */
    error_clear(&err);
    char *long_path = x_malloc(4098);
    memset(long_path, 'x', 4097);
    long_path[4097] = '\0';
    ManifestEntry big = {.path = long_path, .type = ENTRY_FILE};
    assert_false(spool_add(sp, &big, &err));
    error_clear(&err);
    free(long_path);
    assert_true(spool_rewind(sp, &err));
    assert_int_equal(spool_next(sp, &e, &err), 0);
    assert_false(spool_update(sp, &e, &err)); /* nothing was read */
    spool_free(sp);
}

/* --- the manifest cursor ------------------------------------------------------------------ */

static char *manifest_text(size_t count)
{
    Manifest *m = manifest_new("20261121-101500F");
    manifest_source_index(m, "a");
    manifest_source_index(m, "b");
    for (int r = 0; r < 5; r++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "20261121-10150%dI", r);
        manifest_ref_index(m, ref);
    }
    char path[4097], target[4097];
    ManifestEntry e;
    for (size_t i = 0; i < count; i++) {
        make_entry(i, &e, path, target);
        e.source %= 2;
        manifest_add(m, &e);
    }
    Sink *buf = buffer_sink_new();
    Error err = {0};
    assert_true(manifest_write(m, buf, NULL, &err));
    size_t size;
    char *text = (char *)buffer_sink_take(buf, &size);
    sink_free(buf);
    manifest_free(m);
    return text;
}

static void test_cursor_streams_entries(void **state)
{
    (void)state;
    char *text = manifest_text(600);
    Reader *in = buffer_reader_new(text, strlen(text), 1); /* 1-byte reads */
    Error err = {0};
    ManifestCursor *c = manifest_cursor_open(in, &err);
    assert_non_null(c);
    assert_string_equal(manifest_cursor_backup(c), "20261121-101500F");
    assert_int_equal(manifest_cursor_expected(c), 600);
    ManifestEntry e;
    const char *source, *ref;
    size_t n = 0;
    int r;
    while ((r = manifest_cursor_next(c, &e, &source, &ref, &err)) > 0) {
        char path[4097], target[4097], want_ref[32];
        ManifestEntry want;
        make_entry(n, &want, path, target);
        assert_string_equal(e.path, want.path);
        assert_string_equal(source, want.source % 2 ? "b" : "a");
        snprintf(want_ref, sizeof(want_ref), "20261121-10150%dI", want.ref);
        assert_string_equal(ref, want_ref);
        assert_int_equal(e.type, want.type);
        assert_int_equal(e.mtime_nsec, want.mtime_nsec);
        if (want.type == ENTRY_FILE)
            assert_memory_equal(e.hash, want.hash, HASH_SIZE);
        if (want.type == ENTRY_SYMLINK)
            assert_string_equal(e.target, want.target);
        n++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, 600);
    manifest_cursor_free(c);
    reader_free(in);
    free(text);
}

static void test_cursor_checks_count_and_header(void **state)
{
    (void)state;
    char *text = manifest_text(3);
    /* Drop the last entry line: the header still announces 3. */
    char *last = strrchr(text, '\n');
    *last = '\0';
    *(strrchr(text, '\n') + 1) = '\0';
    Reader *in = buffer_reader_new(text, strlen(text), 7);
    Error err = {0};
    ManifestCursor *c = manifest_cursor_open(in, &err);
    assert_non_null(c);
    ManifestEntry e;
    const char *source, *ref;
    assert_int_equal(manifest_cursor_next(c, &e, &source, &ref, &err), 1);
    assert_int_equal(manifest_cursor_next(c, &e, &source, &ref, &err), 1);
    assert_int_equal(manifest_cursor_next(c, &e, &source, &ref, &err), -1);
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "header says 3"));
    manifest_cursor_free(c);
    reader_free(in);
    free(text);

    error_clear(&err);
    in = buffer_reader_new("", 0, 0);
    assert_null(manifest_cursor_open(in, &err));
    assert_non_null(strstr(err.msg, "empty"));
    reader_free(in);
    error_clear(&err);
    const char *bad = "{\"format\":\"other\",\"version\":1,\"backup\":\"B\",\"entries\":0}\n";
    in = buffer_reader_new(bad, strlen(bad), 0);
    assert_null(manifest_cursor_open(in, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "bad header"));
    reader_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_in_memory),
        cmocka_unit_test(test_spool_spills_to_file),
        cmocka_unit_test(test_spool_empty_and_limits),
        cmocka_unit_test(test_cursor_streams_entries),
        cmocka_unit_test(test_cursor_checks_count_and_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
