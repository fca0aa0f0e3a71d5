/* The byte pipeline: zstd, hash observers and tar, pushed through 1-byte, 7-byte and large
 * buffers to hit every edge of every stage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hfsync/stream.h"
#include "hfsync/tar.h"
#include "hfsync/util.h"
#include "support/testutil.h"

#define DATA_SIZE (3 * 1024 * 1024 + 17)

static uint8_t *make_data(size_t size)
{
    uint8_t *d = malloc(size);
    /* Half compressible text, half random: both zstd paths. */
    for (size_t i = 0; i < size / 2; i++)
        d[i] = "the quick brown fox jumps over the lazy dog\n"[i % 44];
    test_fill_random(d + size / 2, size - size / 2, 42);
    return d;
}

/* Compress `data` writing `wchunk` bytes at a time, decompress reading with `rchunk` from a
 * source that hands out `schunk` bytes per read; the result must be identical. */
static void roundtrip(size_t wchunk, size_t rchunk, size_t schunk, int threads)
{
    Error err = {0};
    uint8_t *data = make_data(DATA_SIZE);
    Sink *buf = buffer_sink_new();
    Sink *hash = hash_sink_new(buf, HASH_SHA256);
    Sink *z = zstd_sink_new(hash, 3, threads, &err);
    assert_non_null(z);
    for (size_t off = 0; off < DATA_SIZE; off += wchunk) {
        size_t n = DATA_SIZE - off < wchunk ? DATA_SIZE - off : wchunk;
        assert_true(sink_write(z, data + off, n, &err));
    }
    assert_true(sink_finish(z, &err));
    size_t csize;
    const uint8_t *cdata = buffer_sink_data(buf, &csize);
    assert_true(csize < DATA_SIZE);
    assert_int_equal(zstd_sink_produced(z), csize);

    char hex1[HASH_HEX_SIZE], hex2[HASH_HEX_SIZE];
    uint64_t hsize;
    hash_sink_result(hash, hex1, &hsize);
    assert_int_equal(hsize, csize);
    hash_buffer_hex(HASH_SHA256, cdata, csize, hex2);
    assert_string_equal(hex1, hex2);

    Reader *src = buffer_reader_new(cdata, csize, schunk);
    Reader *hr = hash_reader_new(src, HASH_SHA256);
    Reader *zr = zstd_reader_new(hr, &err);
    uint8_t *out = malloc(DATA_SIZE + 1);
    size_t got = 0;
    for (;;) {
        size_t want = rchunk;
        if (got + want > DATA_SIZE + 1)
            want = DATA_SIZE + 1 - got;
        ssize_t n = reader_read(zr, out + got, want, &err);
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    assert_int_equal(got, DATA_SIZE);
    assert_memory_equal(out, data, DATA_SIZE);
    hash_reader_result(hr, hex2, &hsize);
    assert_string_equal(hex1, hex2);
    reader_free(zr);
    reader_free(hr);
    reader_free(src);
    sink_free(z);
    sink_free(hash);
    sink_free(buf);
    free(out);
    free(data);
}

static void test_zstd_large_buffers(void **state)
{
    (void)state;
    roundtrip(1 << 20, 1 << 20, 0, 1);
}

static void test_zstd_threads(void **state)
{
    (void)state;
    roundtrip(100000, 65536, 4096, 2);
}

static void test_zstd_seven_byte_buffers(void **state)
{
    (void)state;
    roundtrip(7, 7, 7, 1);
}

static void test_zstd_one_byte_reads(void **state)
{
    (void)state;
    roundtrip(65536, 1, 1, 1);
}

static void test_zstd_truncated_is_corrupt(void **state)
{
    (void)state;
    Error err = {0};
    uint8_t *data = make_data(100000);
    Sink *buf = buffer_sink_new();
    Sink *z = zstd_sink_new(buf, 3, 1, &err);
    assert_true(sink_write(z, data, 100000, &err) && sink_finish(z, &err));
    size_t csize;
    const uint8_t *cdata = buffer_sink_data(buf, &csize);
    Reader *src = buffer_reader_new(cdata, csize - 10, 0);
    Reader *zr = zstd_reader_new(src, &err);
    uint8_t tmp[4096];
    ssize_t n;
    while ((n = reader_read(zr, tmp, sizeof(tmp), &err)) > 0)
        ;
    assert_int_equal(n, -1);
    assert_int_equal(err.code, ERR_CORRUPT);
    reader_free(zr);
    reader_free(src);
    sink_free(z);
    sink_free(buf);
    free(data);
}

static void test_zstd_restart_makes_independent_streams(void **state)
{
    (void)state;
    Error err = {0};
    Sink *a = buffer_sink_new(), *b = buffer_sink_new();
    Sink *z = zstd_sink_new(a, 3, 2, &err);
    assert_true(sink_write(z, "first stream", 12, &err) && sink_finish(z, &err));
    zstd_sink_restart(z, b);
    assert_int_equal(zstd_sink_produced(z), 0);
    assert_true(sink_write(z, "second", 6, &err) && sink_finish(z, &err));
    size_t size;
    const uint8_t *d = buffer_sink_data(b, &size);
    Reader *src = buffer_reader_new(d, size, 0);
    Reader *zr = zstd_reader_new(src, &err);
    char out[32] = {0};
    assert_int_equal(reader_read_full(zr, out, sizeof(out), &err), 6);
    assert_string_equal(out, "second");
    reader_free(zr);
    reader_free(src);
    sink_free(z);
    sink_free(a);
    sink_free(b);
}

/* 4 MiB of text, 4 MiB of random bytes, 4 MiB of text at level 9 with worker threads: a 1 MiB
 * window that looks random sends the next one at level 3, so windows 5 to 8 go fast (the choice
 * lags a window); without threads, or at level 3, the level never changes. The output is one
 * frame that decodes to the input either way. */
static uint64_t zstd_adapt_run(int level, int threads)
{
    const size_t mib = 1u << 20, size = 12 * mib;
    Error err = {0};
    static const char line[] = "{\"role\": \"user\", \"text\": \"hello\"}\n";
    uint8_t *data = malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t)line[i % (sizeof(line) - 1)];
    test_fill_random(data + 4 * mib, 4 * mib, 7);
    Sink *buf = buffer_sink_new();
    Sink *z = zstd_sink_new(buf, level, threads, &err);
    for (size_t off = 0; off < size; off += 65536 + 3) {
        size_t n = size - off < 65536 + 3 ? size - off : 65536 + 3;
        assert_true(sink_write(z, data + off, n, &err));
    }
    assert_true(sink_finish(z, &err));
    uint64_t fast = zstd_sink_fast_input(z);
    size_t csize;
    const uint8_t *cdata = buffer_sink_data(buf, &csize);
    assert_true(csize < 5 * mib);
    Reader *src = buffer_reader_new(cdata, csize, 0);
    Reader *zr = zstd_reader_new(src, &err);
    uint8_t *out = malloc(size + 1);
    assert_int_equal(reader_read_full(zr, out, size + 1, &err), size);
    assert_memory_equal(out, data, size);
    reader_free(zr);
    reader_free(src);
    sink_free(z);
    sink_free(buf);
    free(out);
    free(data);
    return fast;
}

static void test_zstd_random_input_goes_at_level_3(void **state)
{
    (void)state;
    assert_int_equal(zstd_adapt_run(9, 2), 4u << 20);
    assert_int_equal(zstd_adapt_run(3, 2), 0);
    assert_int_equal(zstd_adapt_run(9, 1), 0);
}

static void tar_roundtrip(size_t schunk)
{
    Error err = {0};
    uint8_t *big = make_data(DATA_SIZE);
    Sink *buf = buffer_sink_new();
    Sink *z = zstd_sink_new(buf, 1, 1, &err);
    TarWriter *tw = tar_writer_new(z, &err);
    assert_non_null(tw);
    TarMember d = {.name = "src/dir ü",
                   .type = TAR_DIR,
                   .mode = 0755,
                   .mtime = 1700000000,
                   .mtime_nsec = 123456789};
    TarMember f = {.name = "src/dir ü/file.bin",
                   .type = TAR_FILE,
                   .mode = 0600,
                   .mtime = 1700000001,
                   .mtime_nsec = 1,
                   .size = DATA_SIZE};
    TarMember e = {.name = "src/empty", .type = TAR_FILE, .mode = 0644, .mtime = 5, .size = 0};
    TarMember l = {.name = "src/link",
                   .type = TAR_SYMLINK,
                   .mode = 0777,
                   .mtime = 7,
                   .target = "dir ü/file.bin"};
    assert_true(tar_writer_header(tw, &d, &err));
    assert_true(tar_writer_header(tw, &f, &err));
    assert_true(tar_writer_data(tw, big, DATA_SIZE, &err));
    assert_true(tar_writer_header(tw, &e, &err));
    assert_true(tar_writer_header(tw, &l, &err));
    assert_true(tar_writer_close(tw, &err));
    tar_writer_free(tw);

    size_t csize;
    const uint8_t *cdata = buffer_sink_data(buf, &csize);
    Reader *src = buffer_reader_new(cdata, csize, schunk);
    Reader *zr = zstd_reader_new(src, &err);
    TarReader *tr = tar_reader_new(zr, &err);
    assert_non_null(tr);
    TarMember m;
    assert_int_equal(tar_reader_next(tr, &m, &err), 1);
    assert_string_equal(m.name, "src/dir ü");
    assert_int_equal(m.type, TAR_DIR);
    assert_int_equal(m.mode, 0755);
    assert_int_equal(m.mtime_nsec, 123456789);
    assert_int_equal(tar_reader_next(tr, &m, &err), 1);
    assert_string_equal(m.name, "src/dir ü/file.bin");
    assert_int_equal(m.size, DATA_SIZE);
    assert_int_equal(m.mtime, 1700000001);
    assert_int_equal(m.mtime_nsec, 1);
    size_t got = 0;
    const void *data;
    size_t size;
    int rc;
    while ((rc = tar_reader_data(tr, &data, &size, &err)) == 1) {
        assert_true(got + size <= DATA_SIZE);
        assert_memory_equal(data, big + got, size);
        got += size;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got, DATA_SIZE);
    assert_int_equal(tar_reader_next(tr, &m, &err), 1);
    assert_string_equal(m.name, "src/empty");
    assert_int_equal(m.size, 0);
    assert_int_equal(tar_reader_next(tr, &m, &err), 1);
    assert_int_equal(m.type, TAR_SYMLINK);
    assert_string_equal(m.target, "dir ü/file.bin");
    assert_int_equal(tar_reader_next(tr, &m, &err), 0);
    tar_reader_free(tr);
    reader_free(zr);
    reader_free(src);
    sink_free(z);
    sink_free(buf);
    free(big);
}

static void test_tar_roundtrip(void **state)
{
    (void)state;
    tar_roundtrip(0);
}

static void test_tar_roundtrip_seven_byte_source(void **state)
{
    (void)state;
    tar_roundtrip(7);
}

/* A reader that fails after `limit` bytes, to check errors cross the prefetch thread. */
typedef struct FailReader {
    Reader base;
    size_t left;
} FailReader;

static ssize_t fail_read(Reader *r, uint8_t *buf, size_t cap, Error *err)
{
    FailReader *f = (FailReader *)r;
    if (f->left == 0) {
        error_set(err, ERR_CORRUPT, "injected failure");
        return -1;
    }
    size_t n = cap < f->left ? cap : f->left;
    memset(buf, 'x', n);
    f->left -= n;
    return (ssize_t)n;
}

static void fail_free(Reader *r)
{
    free(r);
}

static const ReaderOps fail_ops = {fail_read, fail_free};

static void test_prefetch_passes_bytes_and_errors(void **state)
{
    (void)state;
    Error err = {0};
    uint8_t *data = make_data(DATA_SIZE);
    for (size_t chunk = 1; chunk <= 70000; chunk *= 70) {
        Reader *src = buffer_reader_new(data, DATA_SIZE, 0);
        Reader *hr = hash_reader_new(src, HASH_SHA256);
        Reader *pf = prefetch_reader_new(hr, 4096 + 3, 3, &err);
        assert_non_null(pf);
        uint8_t *out = malloc(DATA_SIZE);
        size_t got = 0;
        ssize_t n;
        while ((n = reader_read(pf, out + got, chunk, &err)) > 0)
            got += (size_t)n;
        assert_int_equal(n, 0);
        assert_int_equal(got, DATA_SIZE);
        assert_memory_equal(out, data, DATA_SIZE);
        reader_free(pf);
        char hex1[HASH_HEX_SIZE], hex2[HASH_HEX_SIZE];
        hash_reader_result(hr, hex1, NULL);
        hash_buffer_hex(HASH_SHA256, data, DATA_SIZE, hex2);
        assert_string_equal(hex1, hex2);
        reader_free(hr);
        reader_free(src);
        free(out);
    }
    /* The inner chain's error reaches the consumer after the bytes before it. */
    FailReader *f = calloc(1, sizeof(*f));
    f->base.ops = &fail_ops;
    f->left = 10000;
    Reader *pf = prefetch_reader_new(&f->base, 4096, 2, &err);
    uint8_t buf[777];
    size_t got = 0;
    ssize_t n;
    while ((n = reader_read(pf, buf, sizeof(buf), &err)) > 0)
        got += (size_t)n;
    assert_int_equal(n, -1);
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_string_equal(err.msg, "injected failure");
    assert_true(got >= 8192 && got <= 10000);
    reader_free(pf);
    /* Freed early, while the thread is still ahead: no hang, no leak. */
    Reader *src = buffer_reader_new(data, DATA_SIZE, 0);
    pf = prefetch_reader_new(src, 1024, 2, &err);
    assert_int_equal(reader_read(pf, buf, 10, &err), 10);
    reader_free(pf);
    reader_free(src);
    fail_free(&f->base);
    free(data);
}

/* A sink that fails on its first write. */
static bool failing_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    (void)sink;
    (void)data;
    (void)size;
    return error_set(err, ERR_IO, "disk full (injected)");
}

static bool failing_finish(Sink *sink, Error *err)
{
    (void)sink;
    (void)err;
    return true;
}

static void failing_free(Sink *sink)
{
    free(sink);
}

static const SinkOps failing_ops = {failing_write, failing_finish, failing_free};

static void test_async_sink_orders_bytes_and_reports_errors(void **state)
{
    (void)state;
    Error err = {0};
    uint8_t *data = make_data(DATA_SIZE);
    Sink *a_buf = buffer_sink_new(), *b_buf = buffer_sink_new();
    Sink *as = async_sink_new(a_buf, 1000 + 7, 3, &err);
    assert_non_null(as);
    for (size_t off = 0; off < DATA_SIZE; off += 333)
        assert_true(
            sink_write(as, data + off, DATA_SIZE - off < 333 ? DATA_SIZE - off : 333, &err));
    assert_true(sink_finish(as, &err));
    size_t size;
    const uint8_t *got = buffer_sink_data(a_buf, &size);
    assert_int_equal(size, DATA_SIZE);
    assert_memory_equal(got, data, DATA_SIZE);
    /* Re-pointed after a finish, as between volumes. */
    as->next = b_buf;
    assert_true(sink_write(as, "second", 6, &err) && sink_finish(as, &err));
    got = buffer_sink_data(b_buf, &size);
    assert_int_equal(size, 6);
    assert_memory_equal(got, "second", 6);
    sink_free(as);

    /* An error on the writer thread reaches the caller, at the latest when finishing. */
    Sink *bad = calloc(1, sizeof(Sink));
    bad->ops = &failing_ops;
    as = async_sink_new(bad, 4096, 2, &err);
    bool ok = true;
    for (size_t off = 0; ok && off < DATA_SIZE; off += 5000)
        ok = sink_write(as, data + off, 5000 < DATA_SIZE - off ? 5000 : DATA_SIZE - off, &err);
    if (ok)
        ok = sink_finish(as, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_IO);
    assert_string_equal(err.msg, "disk full (injected)");
    sink_free(as);
    /* Freed with data still queued: abandoned, no hang. */
    as = async_sink_new(a_buf, 16, 2, &err);
    assert_true(sink_write(as, data, 100, &err));
    sink_free(as);
    sink_free(bad);
    sink_free(a_buf);
    sink_free(b_buf);
    free(data);
}

/* A sink that takes 20 ms per write: what the timer should see. */
static bool slow_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return sink_write(sink->next, data, size, err);
}

static bool slow_finish(Sink *sink, Error *err)
{
    return sink_finish(sink->next, err);
}

static void slow_free(Sink *sink)
{
    free(sink);
}

static const SinkOps slow_ops = {slow_write, slow_finish, slow_free};

static void test_timer_sink_measures_next(void **state)
{
    (void)state;
    Error err = {0};
    Sink *buf = buffer_sink_new();
    Sink *slow = calloc(1, sizeof(Sink));
    slow->ops = &slow_ops;
    slow->next = buf;
    Sink *timer = timer_sink_new(slow);
    assert_int_equal(timer_sink_elapsed_ns(timer), 0);
    assert_true(sink_write(timer, "abc", 3, &err) && sink_write(timer, "de", 2, &err));
    assert_true(sink_finish(timer, &err));
    size_t size;
    const uint8_t *got = buffer_sink_data(buf, &size);
    assert_int_equal(size, 5);
    assert_memory_equal(got, "abcde", 5);
    int64_t first = timer_sink_elapsed_ns(timer);
    assert_true(first >= 40 * 1000 * 1000);
    /* restarted on another sink (the next volume), the time adds up */
    Sink *buf2 = buffer_sink_new();
    slow->next = buf2;
    timer_sink_restart(timer, slow);
    assert_true(sink_write(timer, "x", 1, &err) && sink_finish(timer, &err));
    assert_true(timer_sink_elapsed_ns(timer) >= first + 20 * 1000 * 1000);
    /* errors pass through */
    Sink *bad = calloc(1, sizeof(Sink));
    bad->ops = &failing_ops;
    timer_sink_restart(timer, bad);
    assert_false(sink_write(timer, "x", 1, &err));
    assert_int_equal(err.code, ERR_IO);
    sink_free(timer);
    sink_free(bad);
    sink_free(slow);
    sink_free(buf);
    sink_free(buf2);
}

static void test_content_hash_is_sha256(void **state)
{
    (void)state;
    char hex[HASH_HEX_SIZE];
    /* SHA-256("abc") from FIPS 180-2 appendix B.1, for both roles. */
    hash_buffer_hex(HASH_CONTENT, "abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_buffer_hex(HASH_SHA256, "abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zstd_large_buffers),
        cmocka_unit_test(test_zstd_random_input_goes_at_level_3),
        cmocka_unit_test(test_zstd_threads),
        cmocka_unit_test(test_zstd_seven_byte_buffers),
        cmocka_unit_test(test_zstd_one_byte_reads),
        cmocka_unit_test(test_zstd_truncated_is_corrupt),
        cmocka_unit_test(test_zstd_restart_makes_independent_streams),
        cmocka_unit_test(test_tar_roundtrip),
        cmocka_unit_test(test_tar_roundtrip_seven_byte_source),
        cmocka_unit_test(test_prefetch_passes_bytes_and_errors),
        cmocka_unit_test(test_async_sink_orders_bytes_and_reports_errors),
        cmocka_unit_test(test_timer_sink_measures_next),
        cmocka_unit_test(test_content_hash_is_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
