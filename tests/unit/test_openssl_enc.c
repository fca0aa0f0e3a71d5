/* The seed format's encryption, `openssl enc -aes-256-cbc -salt -pbkdf2`: decrypting the original
 * script's fixtures, wrong passwords and damage, and byte-for-byte interop with the openssl CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/crypto.h"
#include "hfsync/hash.h"
#include "hfsync/stream.h"
#include "hfsync/util.h"
#include "support/testutil.h"

/* The original script's backups (fixtures/seed-format/README.md); HFSYNC_SEED_FIXTURES overrides.
 */
#define FIXTURES_DEFAULT "tests/fixtures/seed-format"

typedef struct Blob {
    uint8_t *data;
    size_t size;
} Blob;

static Blob read_local(const char *path)
{
    Error err = {0};
    char *data;
    size_t size;
    if (!fs_read_file(path, 64 * 1024 * 1024, &data, &size, &err))
        fail_msg("%s", err.msg);
    return (Blob){(uint8_t *)data, size};
}

static Blob read_fixture(const char *rel)
{
    const char *base = getenv("HFSYNC_SEED_FIXTURES");
    char *path = path_join(base && *base ? base : FIXTURES_DEFAULT, rel);
    Blob b = read_local(path);
    free(path);
    return b;
}

static Blob enc_decrypt(const uint8_t *data, size_t size, const char *password,
                        const OpensslEncOpts *opts, size_t schunk, size_t rchunk, bool *ok,
                        Error *err)
{
    Reader *src = buffer_reader_new(data, size, schunk);
    Reader *r = openssl_enc_reader_new(src, password, opts, err);
    assert_non_null(r);
    Sink *out = buffer_sink_new();
    uint8_t *tmp = malloc(rchunk);
    ssize_t n;
    while ((n = reader_read(r, tmp, rchunk, err)) > 0)
        assert_true(sink_write(out, tmp, (size_t)n, err));
    *ok = n == 0;
    Blob b;
    b.data = buffer_sink_take(out, &b.size);
    free(tmp);
    sink_free(out);
    reader_free(r);
    reader_free(src);
    return b;
}

static Blob enc_encrypt(const uint8_t *data, size_t size, const char *password,
                        const OpensslEncOpts *opts, size_t wchunk)
{
    Error err = {0};
    Sink *buf = buffer_sink_new();
    Sink *s = openssl_enc_sink_new(buf, password, opts, &err);
    assert_non_null(s);
    for (size_t off = 0; off < size; off += wchunk) {
        size_t n = size - off < wchunk ? size - off : wchunk;
        assert_true(sink_write(s, data + off, n, &err));
    }
    assert_true(sink_finish(s, &err));
    Blob b;
    b.data = buffer_sink_take(buf, &b.size);
    sink_free(s);
    sink_free(buf);
    return b;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Members of a (gzipped) tar as sorted "name type mode size sha256 target" lines. */
static char *tar_listing(const uint8_t *data, size_t size)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, data, size), ARCHIVE_OK);
    char *lines[256];
    size_t count = 0;
    struct archive_entry *e;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        assert_true(count < 256);
        Hasher *h = hasher_new(HASH_SHA256);
        const void *block;
        size_t bsize;
        la_int64_t off;
        while (archive_read_data_block(a, &block, &bsize, &off) == ARCHIVE_OK)
            hasher_update(h, block, bsize);
        char hex[HASH_HEX_SIZE];
        hasher_final_hex(h, hex);
        hasher_free(h);
        char *name = x_strdup(archive_entry_pathname(e));
        size_t len = strlen(name);
        if (len > 1 && name[len - 1] == '/')
            name[len - 1] = '\0';
        const char *target = archive_entry_symlink(e);
        lines[count++] = str_printf("%s %o %o %lld %s %s", name, archive_entry_filetype(e),
                                    archive_entry_perm(e), (long long)archive_entry_size(e), hex,
                                    target ? target : "-");
        free(name);
    }
    assert_int_equal(rc, ARCHIVE_EOF);
    archive_read_free(a);
    qsort(lines, count, sizeof(*lines), cmp_str_ptr);
    char *all = x_strdup("");
    for (size_t i = 0; i < count; i++) {
        char *next = str_printf("%s%s\n", all, lines[i]);
        free(all);
        free(lines[i]);
        all = next;
    }
    return all;
}

static void test_seed_fixture_decrypts(void **state)
{
    (void)state;
    Blob enc = read_fixture("encrypted/remote/backups/"
                            "openclaw-backup-20261121-192453.tar.gz.enc");
    Blob expected_tar =
        read_fixture("encrypted/expected/openclaw-backup-20261121-192453.expected.tar");
    char *expected = tar_listing(expected_tar.data, expected_tar.size);
    assert_non_null(strstr(expected, "openclaw-state/blob.bin "));
    assert_non_null(strstr(expected, "openclaw-state/link-to-config 120000 777 0 "));

    const size_t reads[][2] = {{0, 1 << 16}, {7, 7}, {1, 1 << 16}, {1 << 16, 1}};
    for (size_t k = 0; k < 4; k++) {
        Error err = {0};
        bool ok;
        Blob plain =
            enc_decrypt(enc.data, enc.size, "fixture-pass", &(OpensslEncOpts){.expect_gzip = true},
                        reads[k][0], reads[k][1], &ok, &err);
        if (!ok)
            fail_msg("%s", err.msg);
        char *got = tar_listing(plain.data, plain.size);
        assert_string_equal(got, expected);
        free(got);
        free(plain.data);
    }
    free(expected);
    free(expected_tar.data);
    free(enc.data);
}

static void test_seed_fixture_split_decrypts(void **state)
{
    (void)state;
    const char *dir = "encrypted-split/remote/backups/";
    const char *parts[] = {"aa", "ab", "ac", "ad"};
    Sink *joined = buffer_sink_new();
    Error err = {0};
    for (size_t i = 0; i < 4; i++) {
        char *p = str_printf("%sopenclaw-backup-20261121-192501.tar.gz.enc.part-%s", dir, parts[i]);
        Blob b = read_fixture(p);
        assert_true(sink_write(joined, b.data, b.size, &err));
        free(b.data);
        free(p);
    }
    size_t size;
    const uint8_t *data = buffer_sink_data(joined, &size);
    bool ok;
    Blob plain = enc_decrypt(data, size, "fixture-pass", &(OpensslEncOpts){.expect_gzip = true}, 0,
                             1 << 16, &ok, &err);
    if (!ok)
        fail_msg("%s", err.msg);
    Blob expected_tar = read_fixture("encrypted-split/expected/"
                                     "openclaw-backup-20261121-192501.expected.tar");
    char *expected = tar_listing(expected_tar.data, expected_tar.size);
    char *got = tar_listing(plain.data, plain.size);
    assert_string_equal(got, expected);
    free(got);
    free(expected);
    free(expected_tar.data);
    free(plain.data);
    sink_free(joined);
}

static void test_seed_wrong_password(void **state)
{
    (void)state;
    Blob enc = read_fixture("encrypted/remote/backups/"
                            "openclaw-backup-20261121-192456.tar.gz.enc");
    Error err = {0};
    bool ok;
    /* Knowing the plaintext is gzip, the first block tells, before any byte is handed out. */
    Blob p = enc_decrypt(enc.data, enc.size, "fixture-pas", &(OpensslEncOpts){.expect_gzip = true},
                         0, 4096, &ok, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_USAGE);
    assert_true(str_starts_with(err.msg, "wrong password"));
    assert_int_equal(p.size, 0);
    free(p.data);
    /* Without that knowledge, the padding at the end is all CBC has. */
    p = enc_decrypt(enc.data, enc.size, "fixture-pas", NULL, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_true(str_starts_with(err.msg, "wrong password or corrupt data"));
    free(p.data);
    /* The right password but another iteration count is a wrong key too. */
    p = enc_decrypt(enc.data, enc.size, "fixture-pass",
                    &(OpensslEncOpts){.iterations = 9999, .expect_gzip = true}, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_USAGE);
    free(p.data);
    free(enc.data);
}

static void test_seed_damaged(void **state)
{
    (void)state;
    Error err = {0};
    bool ok;
    uint8_t data[100];
    test_fill_random(data, sizeof(data), 9);
    Blob c = enc_encrypt(data, sizeof(data), "pw", NULL, 100);
    assert_int_equal(c.size, 16 + 112);
    assert_memory_equal(c.data, "Salted__", 8);
    Blob p = enc_decrypt(c.data, c.size - 1, "pw", NULL, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_non_null(strstr(err.msg, "not a whole number of 16-byte blocks"));
    free(p.data);
    p = enc_decrypt(c.data, 16, "pw", NULL, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_non_null(strstr(err.msg, "no encrypted data after the header"));
    free(p.data);
    p = enc_decrypt(c.data, 10, "pw", NULL, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_non_null(strstr(err.msg, "shorter than the 16-byte 'Salted__' header"));
    free(p.data);
    c.data[0] = 'X';
    p = enc_decrypt(c.data, c.size, "pw", NULL, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "does not start with 'Salted__'"));
    free(p.data);
    free(c.data);
    assert_null(openssl_enc_reader_new(NULL, "", NULL, &err));
    assert_int_equal(err.code, ERR_USAGE);
}

/* Run `cmd` with its output captured; returns it and its exit status. */
static Blob run_capture(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    Sink *out = buffer_sink_new();
    uint8_t buf[65536];
    size_t n;
    Error err = {0};
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        assert_true(sink_write(out, buf, n, &err));
    *status = pclose(f);
    Blob b;
    b.data = buffer_sink_take(out, &b.size);
    sink_free(out);
    return b;
}

static void write_local(const char *path, const uint8_t *data, size_t size)
{
    Error err = {0};
    if (!fs_write_atomic(path, data, size, &err))
        fail_msg("%s", err.msg);
}

static void test_seed_openssl_interop(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *enc_path = path_join(dir, "data.enc");
    char *plain_path = path_join(dir, "data");
    const size_t sizes[] = {0, 1, 15, 16, 17, 100000};
    const unsigned iters[] = {0, 1000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        for (size_t j = 0; j < 2; j++) {
            size_t size = sizes[i];
            uint8_t *data = malloc(size + 1);
            test_fill_random(data, size, (uint32_t)size);
            OpensslEncOpts opts = {.iterations = iters[j]};
            char iter_arg[32] = "";
            if (iters[j] != 0)
                snprintf(iter_arg, sizeof(iter_arg), "-iter %u", iters[j]);

            /* Ours, decrypted by openssl. */
            Blob c = enc_encrypt(data, size, "s3cret pass", &opts, 7);
            write_local(enc_path, c.data, c.size);
            char *cmd =
                str_printf("openssl enc -d -aes-256-cbc -pbkdf2 %s -pass 'pass:s3cret pass' "
                           "-in '%s'",
                           iter_arg, enc_path);
            int status;
            Blob p = run_capture(cmd, &status);
            assert_int_equal(status, 0);
            assert_int_equal(p.size, size);
            if (size > 0)
                assert_memory_equal(p.data, data, size);
            free(p.data);
            free(cmd);

            /* Byte for byte what openssl writes, given the same salt. */
            const uint8_t salt[8] = {1, 2, 3, 4, 5, 6, 7, 0xfe};
            opts.salt = salt;
            Blob ours = enc_encrypt(data, size, "s3cret pass", &opts, 1 << 16);
            write_local(plain_path, data, size);
            cmd = str_printf("openssl enc -aes-256-cbc -salt -pbkdf2 %s -S 01020304050607fe "
                             "-pass 'pass:s3cret pass' -in '%s'",
                             iter_arg, plain_path);
            Blob theirs = run_capture(cmd, &status);
            assert_int_equal(status, 0);
            /* With -S, openssl leaves out the "Salted__" header (apps/enc.c). */
            assert_int_equal(theirs.size + 16, ours.size);
            assert_memory_equal(ours.data, "Salted__\x01\x02\x03\x04\x05\x06\x07\xfe", 16);
            assert_memory_equal(theirs.data, ours.data + 16, theirs.size);
            free(cmd);
            free(ours.data);

            /* openssl's, decrypted by ours with 1-byte and 7-byte edges. */
            cmd = str_printf("openssl enc -aes-256-cbc -salt -pbkdf2 %s -pass 'pass:s3cret pass' "
                             "-in '%s'",
                             iter_arg, plain_path);
            Blob o = run_capture(cmd, &status);
            assert_int_equal(status, 0);
            const size_t reads[][2] = {{1, 1}, {7, 7}, {0, 1 << 16}};
            for (size_t k = 0; k < 3; k++) {
                Error err = {0};
                bool ok;
                Blob q = enc_decrypt(o.data, o.size, "s3cret pass", &opts, reads[k][0], reads[k][1],
                                     &ok, &err);
                if (!ok)
                    fail_msg("%s", err.msg);
                assert_int_equal(q.size, size);
                if (size > 0)
                    assert_memory_equal(q.data, data, size);
                free(q.data);
            }
            free(cmd);
            free(o.data);
            free(theirs.data);
            free(c.data);
            free(data);
        }
    }
    free(enc_path);
    free(plain_path);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_fixture_decrypts),
        cmocka_unit_test(test_seed_fixture_split_decrypts),
        cmocka_unit_test(test_seed_wrong_password),
        cmocka_unit_test(test_seed_damaged),
        cmocka_unit_test(test_seed_openssl_interop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
