/* The record AEAD stages pass records on, and read them, a batch of about 1 MiB at a time
 * (src/stream/aead.c): objects that span several batches round-trip whatever the buffer sizes,
 * damage next to a batch boundary is found like anywhere else, and a large object reaches the
 * next stage in few calls (one per record cost a system call per 64 KiB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/crypto.h"
#include "hfsync/stream.h"
#include "hfsync/util.h"
#include "support/testutil.h"

#define TAG AEAD_TAG_SIZE
#define HDR AEAD_HEADER_SIZE
/* 4 KiB records: 256 to a 1 MiB batch. */
#define RS 4096u
#define PER_BATCH 256u
#define REC_OFF(i) (HDR + (size_t)(i) * (RS + TAG))

static const char NAME[] = "b.vol-0001.tar.zst";

static CryptoKey *batch_key(void)
{
    Error err = {0};
    CryptoParams params;
    memset(&params, 0, sizeof(params));
    params.kdf_n = 1024;
    CryptoKey *key = crypto_key_create("pass", &params, &err);
    if (key == NULL)
        fail_msg("crypto_key_create: %s", err.msg);
    return key;
}

/* A sink that counts the writes it gets, keeping the bytes in `next`. */
typedef struct CountSink {
    Sink base;
    size_t writes;
    size_t largest;
} CountSink;

static bool count_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    CountSink *c = (CountSink *)sink;
    c->writes++;
    if (size > c->largest)
        c->largest = size;
    return sink_write(sink->next, data, size, err);
}

static bool count_finish(Sink *sink, Error *err)
{
    return sink_finish(sink->next, err);
}

static void count_free(Sink *sink)
{
    free(sink);
}

static const SinkOps count_sink_ops = {count_write, count_finish, count_free};

/* A reader that counts the reads made of it. */
typedef struct CountReader {
    Reader base;
    size_t reads;
} CountReader;

static ssize_t count_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    ((CountReader *)reader)->reads++;
    return reader_read(reader->next, buf, cap, err);
}

static void count_reader_free(Reader *reader)
{
    free(reader);
}

static const ReaderOps count_reader_ops = {count_read, count_reader_free};

typedef struct Blob {
    uint8_t *data;
    size_t size;
} Blob;

static Blob seal(const CryptoKey *key, uint32_t rs, const uint8_t *data, size_t size, size_t wchunk,
                 size_t *writes)
{
    Error err = {0};
    Sink *buf = buffer_sink_new();
    CountSink *count = calloc(1, sizeof(*count));
    count->base.ops = &count_sink_ops;
    count->base.next = buf;
    Sink *s = aead_sink_new(&count->base, key, NAME, &(AeadOpts){.record_size = rs}, &err);
    assert_non_null(s);
    for (size_t off = 0; off < size; off += wchunk) {
        size_t n = size - off < wchunk ? size - off : wchunk;
        assert_true(sink_write(s, data + off, n, &err));
    }
    assert_true(sink_finish(s, &err));
    if (writes != NULL)
        *writes = count->writes;
    Blob b;
    b.data = buffer_sink_take(buf, &b.size);
    sink_free(s);
    sink_free(&count->base);
    sink_free(buf);
    return b;
}

/* Plaintext read before the end or the error (`ok` says which); `reads` counts the reads made of
 * the source, which hands out `schunk` bytes per read (0: all it is asked for). */
static Blob open_blob(const CryptoKey *key, const uint8_t *data, size_t size, size_t schunk,
                      size_t rchunk, bool *ok, size_t *reads, Error *err)
{
    Reader *src = buffer_reader_new(data, size, schunk);
    CountReader *count = calloc(1, sizeof(*count));
    count->base.ops = &count_reader_ops;
    count->base.next = src;
    Reader *r = aead_reader_new(&count->base, key, NAME, err);
    assert_non_null(r);
    Sink *out = buffer_sink_new();
    uint8_t *tmp = malloc(rchunk);
    ssize_t n;
    while ((n = reader_read(r, tmp, rchunk, err)) > 0)
        assert_true(sink_write(out, tmp, (size_t)n, err));
    *ok = n == 0;
    if (reads != NULL)
        *reads = count->reads;
    Blob b;
    b.data = buffer_sink_take(out, &b.size);
    free(tmp);
    sink_free(out);
    reader_free(r);
    reader_free(&count->base);
    reader_free(src);
    return b;
}

static size_t sealed_size(size_t size, uint32_t rs)
{
    size_t records = size == 0 ? 1 : (size + rs - 1) / rs;
    return HDR + size + records * TAG;
}

static void test_batch_roundtrip(void **state)
{
    (void)state;
    CryptoKey *key = batch_key();
    const size_t b = (size_t)PER_BATCH * RS;
    const size_t sizes[] = {b - 1, b, b + 1, b + RS, 2 * b - 1, 2 * b, 2 * b + RS + 77};
    /* write size, source chunk, read size */
    const size_t chunks[][3] = {
        {1 << 20, 0, 1 << 20}, {7, 7, 3 * RS}, {RS + 1, 1000, 1}, {5 << 20, 1, RS}, {RS, 0, RS - 1},
    };
    size_t max = 2 * b + RS + 77;
    uint8_t *data = malloc(max);
    test_fill_random(data, max, 11);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        for (size_t k = 0; k < sizeof(chunks) / sizeof(*chunks); k++) {
            Blob c = seal(key, RS, data, sizes[i], chunks[k][0], NULL);
            assert_int_equal(c.size, sealed_size(sizes[i], RS));
            Error err = {0};
            bool ok;
            Blob p = open_blob(key, c.data, c.size, chunks[k][1], chunks[k][2], &ok, NULL, &err);
            if (!ok)
                fail_msg("size %zu chunks %zu/%zu/%zu: %s", sizes[i], chunks[k][0], chunks[k][1],
                         chunks[k][2], err.msg);
            assert_int_equal(p.size, sizes[i]);
            assert_memory_equal(p.data, data, sizes[i]);
            free(p.data);
            free(c.data);
        }
    }
    free(data);
    crypto_key_free(key);
}

static void test_batch_calls(void **state)
{
    (void)state;
    CryptoKey *key = batch_key();
    /* 4 MiB in records of the default size (64 KiB): 64 records, 16 to a batch. */
    size_t size = 4u << 20;
    uint8_t *data = malloc(size);
    test_fill_random(data, size, 13);
    size_t writes = 0, reads = 0;
    Blob c = seal(key, 0, data, size, 1 << 20, &writes);
    assert_int_equal(writes, 4);
    Error err = {0};
    bool ok;
    /* The source hands out all it is asked for: the header, a batch per read (4), and the read
     * that finds the end. */
    Blob p = open_blob(key, c.data, c.size, 0, 128 * 1024, &ok, &reads, &err);
    assert_true(ok);
    assert_int_equal(p.size, size);
    assert_memory_equal(p.data, data, size);
    assert_int_equal(reads, 1 + 4 + 1);
    free(p.data);
    /* Written in small pieces, the records still leave in batches. */
    free(c.data);
    c = seal(key, 0, data, size, 1000, &writes);
    assert_int_equal(writes, 4);
    free(c.data);
    free(data);
    crypto_key_free(key);
}

static void expect_refused(const CryptoKey *key, const uint8_t *c, size_t size, size_t good,
                           const uint8_t *plain, const char *want)
{
    const size_t reads[][2] = {{0, 1 << 20}, {1, RS}, {4099, 1}};
    for (size_t k = 0; k < sizeof(reads) / sizeof(*reads); k++) {
        Error err = {0};
        bool ok;
        Blob p = open_blob(key, c, size, reads[k][0], reads[k][1], &ok, NULL, &err);
        assert_false(ok);
        assert_int_equal(err.code, ERR_CORRUPT);
        if (strstr(err.msg, want) == NULL)
            fail_msg("expected '%s' in: %s", want, err.msg);
        assert_int_equal(p.size, good);
        assert_memory_equal(p.data, plain, good);
        free(p.data);
    }
}

static void test_batch_boundary_damage(void **state)
{
    (void)state;
    CryptoKey *key = batch_key();
    /* Records 0..299; the first batch holds 0..255. */
    size_t size = 300 * (size_t)RS - 9;
    uint8_t *data = malloc(size);
    test_fill_random(data, size, 14);
    Blob c = seal(key, RS, data, size, size, NULL);
    uint8_t *x = malloc(c.size + 64);

    /* Cut where the first batch ends: every record left authenticates, none is final. */
    expect_refused(key, c.data, REC_OFF(PER_BATCH), 255 * (size_t)RS, data,
                   "truncated after record 255: the final record is missing");
    /* The first record of the second batch, and the last of the first, altered. */
    memcpy(x, c.data, c.size);
    x[REC_OFF(PER_BATCH) + 3] ^= 0x40;
    expect_refused(key, x, c.size, 256 * (size_t)RS, data, "record 256 failed authentication");
    memcpy(x, c.data, c.size);
    x[REC_OFF(PER_BATCH) - 1] ^= 0x01; /* record 255's tag */
    expect_refused(key, x, c.size, 255 * (size_t)RS, data, "record 255 failed authentication");
    /* Records 255 and 256 swapped across the boundary. */
    memcpy(x, c.data, c.size);
    memcpy(x + REC_OFF(255), c.data + REC_OFF(256), RS + TAG);
    memcpy(x + REC_OFF(256), c.data + REC_OFF(255), RS + TAG);
    expect_refused(key, x, c.size, 255 * (size_t)RS, data, "record 255 failed authentication");
    free(c.data);

    /* A final record that ends the first batch, then bytes appended. */
    c = seal(key, RS, data, (size_t)PER_BATCH * RS, 1 << 20, NULL);
    assert_int_equal(c.size, REC_OFF(PER_BATCH));
    memcpy(x, c.data, c.size);
    memset(x + c.size, 0, 40);
    expect_refused(key, x, c.size + 40, 255 * (size_t)RS, data,
                   "unexpected data after the final record 255");
    free(c.data);
    free(x);
    free(data);
    crypto_key_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_roundtrip),
        cmocka_unit_test(test_batch_calls),
        cmocka_unit_test(test_batch_boundary_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
