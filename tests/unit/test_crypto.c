/* Encryption of native backups: the backup key (scrypt, key check, the meta object) and the record
 * AEAD stages, pushed through 1-byte, 7-byte and large buffers, checked against docs/FORMAT.md §8
 * with OpenSSL alone, and attacked record by record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/crypto.h"
#include "hfsync/stream.h"
#include "hfsync/util.h"
#include "support/testutil.h"

#define TAG AEAD_TAG_SIZE
#define HDR AEAD_HEADER_SIZE

/* Cheap scrypt cost so the tests stay fast; one test uses the defaults. */
static CryptoKey *test_key(const char *password, CryptoParams *params)
{
    Error err = {0};
    memset(params, 0, sizeof(*params));
    params->kdf_n = 1024;
    CryptoKey *key = crypto_key_create(password, params, &err);
    if (key == NULL)
        fail_msg("crypto_key_create: %s", err.msg);
    return key;
}

typedef struct Blob {
    uint8_t *data;
    size_t size;
} Blob;

/* Encrypt `size` bytes of `data` as object `name`, writing `wchunk` bytes at a time. */
static Blob seal(const CryptoKey *key, const char *name, uint32_t rs, const uint8_t *data,
                 size_t size, size_t wchunk)
{
    Error err = {0};
    Sink *buf = buffer_sink_new();
    Sink *s = aead_sink_new(buf, key, name, &(AeadOpts){.record_size = rs}, &err);
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

/* Decrypt with a source handing out `schunk` bytes per read and reads of `rchunk`; returns the
 * plaintext got before the end or the error (`ok` says which). */
static Blob open_blob(const CryptoKey *key, const char *name, const uint8_t *data, size_t size,
                      size_t schunk, size_t rchunk, bool *ok, Error *err)
{
    Reader *src = buffer_reader_new(data, size, schunk);
    Reader *r = aead_reader_new(src, key, name, err);
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

static size_t sealed_size(size_t size, uint32_t rs)
{
    size_t records = size == 0 ? 1 : (size + rs - 1) / rs;
    return HDR + size + records * TAG;
}

static void roundtrip_one(const CryptoKey *key, uint32_t rs, size_t size, size_t wchunk,
                          size_t schunk, size_t rchunk)
{
    uint8_t *data = malloc(size + 1);
    test_fill_random(data, size, (uint32_t)(size * 31 + rs));
    Blob c = seal(key, "b.vol-0001.tar.zst", rs, data, size, wchunk);
    assert_int_equal(c.size, sealed_size(size, rs ? rs : AEAD_RECORD_SIZE));
    Error err = {0};
    bool ok;
    Blob p = open_blob(key, "b.vol-0001.tar.zst", c.data, c.size, schunk, rchunk, &ok, &err);
    if (!ok)
        fail_msg("size %zu rs %u: %s", size, rs, err.msg);
    assert_int_equal(p.size, size);
    if (size > 0)
        assert_memory_equal(p.data, data, size);
    free(p.data);
    free(c.data);
    free(data);
}

static void test_aead_roundtrip_sizes(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("pass", &params);
    const uint32_t record_sizes[] = {1, 7, 64, 4096};
    const size_t chunks[][3] = {{1, 1, 1}, {7, 7, 7}, {1, 0, 7}, {7, 1, 1 << 16}, {1 << 16, 0, 1}};
    for (size_t i = 0; i < sizeof(record_sizes) / sizeof(*record_sizes); i++) {
        uint32_t rs = record_sizes[i];
        size_t sizes[] = {0, 1, rs - 1, rs, rs + 1, 2 * rs, 37 * (size_t)rs + 5};
        for (size_t j = 0; j < sizeof(sizes) / sizeof(*sizes); j++)
            for (size_t k = 0; k < sizeof(chunks) / sizeof(*chunks); k++)
                roundtrip_one(key, rs, sizes[j], chunks[k][0], chunks[k][1], chunks[k][2]);
    }
    crypto_key_free(key);
}

static void test_aead_roundtrip_default_record_size(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("pass", &params);
    size_t big = 3 * (size_t)AEAD_RECORD_SIZE + 17;
    roundtrip_one(key, 0 /* default */, big, 1 << 20, 0, 1 << 20);
    roundtrip_one(key, 0, big, 100000, 7, 65536);
    roundtrip_one(key, 0, big, 7, 1 << 16, 1);
    roundtrip_one(key, 0, AEAD_RECORD_SIZE, 1 << 20, 0, 2 << 20);
    /* Writes larger than a record take the direct path (no copy into the record buffer). */
    roundtrip_one(key, 0, big, 5 << 20, 0, 5 << 20);
    crypto_key_free(key);
}

static void test_aead_empty_object(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("pass", &params);
    Blob c = seal(key, "m", 64, NULL, 0, 1);
    assert_int_equal(c.size, HDR + TAG);
    assert_memory_equal(c.data, "HFSYNCAE\x01\x01\x00\x00\x00\x00\x00\x40", 16);
    Error err = {0};
    bool ok;
    Blob p = open_blob(key, "m", c.data, c.size, 0, 16, &ok, &err);
    assert_true(ok);
    assert_int_equal(p.size, 0);
    free(p.data);
    /* The header alone is not an empty object. */
    p = open_blob(key, "m", c.data, HDR, 0, 16, &ok, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    free(p.data);
    free(c.data);
    crypto_key_free(key);
}

/* An object of 10 records of 64 bytes (the last one 40), to attack. */
#define ATK_RS 64
#define ATK_SIZE (9 * ATK_RS + 40)
#define REC_OFF(i) (HDR + (size_t)(i) * (ATK_RS + TAG))

typedef struct Attack {
    CryptoParams params;
    CryptoKey *key;
    uint8_t data[ATK_SIZE];
    Blob c;
} Attack;

static void attack_setup(Attack *a)
{
    a->key = test_key("pass", &a->params);
    test_fill_random(a->data, ATK_SIZE, 7);
    a->c = seal(a->key, "x.vol-0001.tar.zst", ATK_RS, a->data, ATK_SIZE, 1000);
    assert_int_equal(a->c.size, REC_OFF(9) + 40 + TAG);
}

static void attack_teardown(Attack *a)
{
    free(a->c.data);
    crypto_key_free(a->key);
}

/* Decrypting `c` must fail with ERR_CORRUPT and `want` in the message, having handed out exactly
 * `good` bytes of correct plaintext first (nothing of a record that failed). */
static void expect_refused(Attack *a, const uint8_t *c, size_t size, const char *name, size_t good,
                           const char *want)
{
    const size_t reads[][2] = {{0, 1 << 16}, {1, 1}, {7, 7}};
    for (size_t k = 0; k < 3; k++) {
        Error err = {0};
        bool ok;
        Blob p = open_blob(a->key, name, c, size, reads[k][0], reads[k][1], &ok, &err);
        assert_false(ok);
        assert_int_equal(err.code, ERR_CORRUPT);
        if (strstr(err.msg, want) == NULL)
            fail_msg("expected '%s' in: %s", want, err.msg);
        assert_int_equal(p.size, good);
        if (good > 0)
            assert_memory_equal(p.data, a->data, good);
        free(p.data);
    }
}

static void test_aead_flipped_byte(void **state)
{
    (void)state;
    Attack a;
    attack_setup(&a);
    struct {
        size_t offset;
        const char *want;
        size_t good;
    } cases[] = {
        {REC_OFF(0), "record 0 failed authentication", 0},
        {REC_OFF(0) + ATK_RS + TAG - 1, "record 0 failed authentication", 0}, /* its tag */
        {REC_OFF(5) + 17, "record 5 failed authentication", 5 * ATK_RS},
        {REC_OFF(9), "record 9 failed authentication", 9 * ATK_RS},
        {a.c.size - 1, "record 9 failed authentication", 9 * ATK_RS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        for (uint8_t bit = 1; bit != 0; bit <<= 1) {
            a.c.data[cases[i].offset] ^= bit;
            expect_refused(&a, a.c.data, a.c.size, "x.vol-0001.tar.zst", cases[i].good,
                           cases[i].want);
            a.c.data[cases[i].offset] ^= bit;
        }
    }
    attack_teardown(&a);
}

static void test_aead_truncated(void **state)
{
    (void)state;
    Attack a;
    attack_setup(&a);
    const char *n = "x.vol-0001.tar.zst";
    /* At a record boundary: the records left all authenticate, but none is the final one. */
    expect_refused(&a, a.c.data, REC_OFF(5), n, 4 * ATK_RS,
                   "truncated after record 4: the final record is missing");
    expect_refused(&a, a.c.data, REC_OFF(9), n, 8 * ATK_RS, "truncated after record 8");
    expect_refused(&a, a.c.data, REC_OFF(1), n, 0, "truncated after record 0");
    /* Inside a record, inside the last one, by one byte, inside a tag. */
    expect_refused(&a, a.c.data, REC_OFF(5) + 20, n, 5 * ATK_RS, "record 5 failed authentication");
    expect_refused(&a, a.c.data, REC_OFF(5) + 10, n, 5 * ATK_RS,
                   "record 5 is shorter than its tag");
    expect_refused(&a, a.c.data, a.c.size - 1, n, 9 * ATK_RS, "record 9 failed authentication");
    expect_refused(&a, a.c.data, REC_OFF(9) + 5, n, 9 * ATK_RS, "record 9 is shorter than its tag");
    /* Nothing but the header, part of the header, nothing at all. */
    expect_refused(&a, a.c.data, HDR, n, 0, "truncated");
    expect_refused(&a, a.c.data, 20, n, 0, "shorter than the 32-byte header");
    expect_refused(&a, a.c.data, 0, n, 0, "truncated");
    attack_teardown(&a);
}

static void test_aead_reordered_dropped_appended(void **state)
{
    (void)state;
    Attack a;
    attack_setup(&a);
    const char *n = "x.vol-0001.tar.zst";
    uint8_t *c = malloc(a.c.size + 100);
    size_t rec = ATK_RS + TAG;

    /* Records 2 and 3 swapped. */
    memcpy(c, a.c.data, a.c.size);
    memcpy(c + REC_OFF(2), a.c.data + REC_OFF(3), rec);
    memcpy(c + REC_OFF(3), a.c.data + REC_OFF(2), rec);
    expect_refused(&a, c, a.c.size, n, 2 * ATK_RS, "record 2 failed authentication");

    /* Record 3 dropped. */
    memcpy(c, a.c.data, REC_OFF(3));
    memcpy(c + REC_OFF(3), a.c.data + REC_OFF(4), a.c.size - REC_OFF(4));
    expect_refused(&a, c, a.c.size - rec, n, 3 * ATK_RS, "record 3 failed authentication");

    /* Record 3 duplicated. */
    memcpy(c, a.c.data, REC_OFF(4));
    memcpy(c + REC_OFF(4), a.c.data + REC_OFF(3), a.c.size - REC_OFF(3));
    expect_refused(&a, c, a.c.size + rec, n, 4 * ATK_RS, "record 4 failed authentication");

    /* The final record moved to the middle, in place of record 4. */
    memcpy(c, a.c.data, a.c.size);
    memcpy(c + REC_OFF(4), a.c.data + REC_OFF(9), 40 + TAG);
    expect_refused(&a, c, REC_OFF(4) + 40 + TAG, n, 4 * ATK_RS, "record 4 failed authentication");
    free(c);
    attack_teardown(&a);

    /* Bytes appended after a full final record. */
    CryptoParams params;
    CryptoKey *key = test_key("pass", &params);
    uint8_t data[4 * ATK_RS];
    test_fill_random(data, sizeof(data), 3);
    Blob b = seal(key, n, ATK_RS, data, sizeof(data), 1);
    b.data = realloc(b.data, b.size + 20);
    memset(b.data + b.size, 0, 20);
    Error err = {0};
    bool ok;
    Blob p = open_blob(key, n, b.data, b.size + 20, 0, 4096, &ok, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "unexpected data after the final record 3"));
    assert_int_equal(p.size, 3 * ATK_RS);
    free(p.data);
    free(b.data);
    crypto_key_free(key);
}

static void test_aead_substituted(void **state)
{
    (void)state;
    Attack a;
    attack_setup(&a);
    /* The same object under another name: a volume renamed, or another backup's volume. */
    expect_refused(&a, a.c.data, a.c.size, "x.vol-0002.tar.zst", 0,
                   "record 0 failed authentication");
    expect_refused(&a, a.c.data, a.c.size, "y.vol-0001.tar.zst", 0,
                   "record 0 failed authentication");

    /* A volume of another backup (same password, its own salt) under the same name. */
    CryptoParams other_params;
    CryptoKey *other = test_key("pass", &other_params);
    assert_memory_not_equal(other_params.salt, a.params.salt, CRYPTO_SALT_SIZE);
    Blob o = seal(other, "x.vol-0001.tar.zst", ATK_RS, a.data, ATK_SIZE, 1000);
    expect_refused(&a, o.data, o.size, "x.vol-0001.tar.zst", 0, "record 0 failed authentication");
    /* Spliced: the first records of one object and the rest of the other, either way round. */
    Blob o2 = seal(other, "x.vol-0001.tar.zst", ATK_RS, a.data, ATK_SIZE, 1000);
    memcpy(o.data + REC_OFF(3), a.c.data + REC_OFF(3), a.c.size - REC_OFF(3));
    expect_refused(&a, o.data, o.size, "x.vol-0001.tar.zst", 0, "record 0 failed authentication");
    memcpy(o.data, a.c.data, REC_OFF(3));
    memcpy(o.data + REC_OFF(3), o2.data + REC_OFF(3), o2.size - REC_OFF(3));
    expect_refused(&a, o.data, o.size, "x.vol-0001.tar.zst", 3 * ATK_RS,
                   "record 3 failed authentication");
    free(o2.data);
    free(o.data);
    crypto_key_free(other);

    /* Two encryptions of the same bytes differ (a fresh salt per object). */
    Blob again = seal(a.key, "x.vol-0001.tar.zst", ATK_RS, a.data, ATK_SIZE, 1000);
    assert_memory_not_equal(again.data + 16, a.c.data + 16, 16);
    assert_memory_not_equal(again.data + HDR, a.c.data + HDR, 32);
    free(again.data);
    attack_teardown(&a);
}

static void test_aead_header_tampering(void **state)
{
    (void)state;
    Attack a;
    attack_setup(&a);
    const char *n = "x.vol-0001.tar.zst";
    struct {
        size_t offset;
        uint8_t value;
        const char *want;
    } cases[] = {
        {0, 'h', "bad magic"},
        {8, 2, "unsupported encrypted object version 2"},
        {9, 7, "unsupported encryption algorithm 7"},
        {11, 1, "reserved header bytes"},
        {15, 32, "record 0 failed authentication"}, /* record size 64 -> 32 */
        {15, 0, "record size 0"},
        {12, 0x02, "out of range"},                /* 32 MiB */
        {16, 0, "record 0 failed authentication"}, /* salt */
        {31, 0, "record 0 failed authentication"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        uint8_t old = a.c.data[cases[i].offset];
        a.c.data[cases[i].offset] = cases[i].value == old ? (uint8_t)~old : cases[i].value;
        expect_refused(&a, a.c.data, a.c.size, n, 0, cases[i].want);
        a.c.data[cases[i].offset] = old;
    }
    /* A plain zstd volume where an encrypted one is expected. */
    uint8_t zst[64] = {0x28, 0xb5, 0x2f, 0xfd};
    expect_refused(&a, zst, sizeof(zst), n, 0, "not encrypted (a zstd stream)");
    attack_teardown(&a);
}

static void test_aead_restart(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("pass", &params);
    Error err = {0};
    Sink *b1 = buffer_sink_new(), *b2 = buffer_sink_new();
    Sink *s = aead_sink_new(b1, key, "n.vol-0001.tar.zst", &(AeadOpts){.record_size = 16}, &err);
    assert_true(sink_write(s, "first volume, first object", 26, &err) && sink_finish(s, &err));
    assert_true(aead_sink_restart(s, b2, "n.vol-0002.tar.zst", &err));
    assert_true(sink_write(s, "second", 6, &err) && sink_finish(s, &err));
    size_t s1, s2;
    const uint8_t *c1 = buffer_sink_data(b1, &s1), *c2 = buffer_sink_data(b2, &s2);
    assert_int_equal(s1, sealed_size(26, 16));
    assert_int_equal(s2, sealed_size(6, 16));
    bool ok;
    Blob p = open_blob(key, "n.vol-0001.tar.zst", c1, s1, 0, 100, &ok, &err);
    assert_true(ok);
    assert_int_equal(p.size, 26);
    assert_memory_equal(p.data, "first volume, first object", 26);
    free(p.data);
    p = open_blob(key, "n.vol-0002.tar.zst", c2, s2, 0, 100, &ok, &err);
    assert_true(ok);
    assert_int_equal(p.size, 6);
    assert_memory_equal(p.data, "second", 6);
    free(p.data);
    /* Swapped names: refused. */
    p = open_blob(key, "n.vol-0001.tar.zst", c2, s2, 0, 100, &ok, &err);
    assert_false(ok);
    assert_non_null(strstr(err.msg, "record 0 failed authentication"));
    free(p.data);
    sink_free(s);
    sink_free(b1);
    sink_free(b2);
    crypto_key_free(key);
}

/* --- the format, as docs/FORMAT.md §8 states it, with OpenSSL alone -------------------------- */

static void spec_kdf(const char *alg, OSSL_PARAM *params, uint8_t *out, size_t size)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, alg, NULL);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    assert_int_equal(EVP_KDF_derive(ctx, out, size, params), 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

static void spec_hkdf(const uint8_t *ikm, const uint8_t *salt, size_t salt_size,
                      const uint8_t *info, size_t info_size, uint8_t *out, size_t size)
{
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_size),
        OSSL_PARAM_construct_end(),
    };
    spec_kdf("HKDF", p, out, size);
}

static void test_aead_matches_spec(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("spec pass", &params);
    const char *name = "20261121-101500F.vol-0001.tar.zst.enc";
    uint8_t data[1000];
    test_fill_random(data, sizeof(data), 11);
    Blob c = seal(key, name, 300, data, sizeof(data), 1000);

    /* master = scrypt(password, kdf_salt, N, r, p, 32) */
    uint8_t master[32], check[32];
    uint64_t n = params.kdf_n;
    uint32_t r = params.kdf_r, p = params.kdf_p;
    OSSL_PARAM sp[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)"spec pass", 9),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, params.salt, 16),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_end(),
    };
    spec_kdf("SCRYPT", sp, master, 32);
    /* key_check = HKDF(master, salt = 32 zero bytes, "hfsync key check v1") */
    const uint8_t zeros[32] = {0};
    spec_hkdf(master, zeros, 32, (const uint8_t *)"hfsync key check v1", 19, check, 32);
    assert_memory_equal(check, params.check, 32);

    /* Header, then subkey = HKDF(master, object salt, "hfsync aead v1" 00 header name). */
    assert_memory_equal(c.data, "HFSYNCAE\x01\x01\x00\x00\x00\x00\x01\x2c", 16);
    uint8_t info[15 + 32 + 64], sub[44];
    memcpy(info, "hfsync aead v1", 15); /* with its NUL */
    memcpy(info + 15, c.data, 32);
    memcpy(info + 47, name, strlen(name));
    spec_hkdf(master, c.data + 16, 16, info, 47 + strlen(name), sub, 44);

    /* Records of 300 bytes + 16-byte tag; nonce = base ^ i; AAD = final flag. */
    size_t off = 32, got = 0;
    uint8_t plain[1000];
    for (uint64_t i = 0; i < 4; i++) {
        size_t size = i < 3 ? 300 : 100;
        uint8_t nonce[12], flag = i == 3;
        memcpy(nonce, sub + 32, 12);
        nonce[11] ^= (uint8_t)i;
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int len;
        assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, sub, nonce), 1);
        assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &len, &flag, 1), 1);
        assert_int_equal(EVP_DecryptUpdate(ctx, plain + got, &len, c.data + off, (int)size), 1);
        assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, c.data + off + size),
                         1);
        assert_int_equal(EVP_DecryptFinal_ex(ctx, plain + got + size, &len), 1);
        EVP_CIPHER_CTX_free(ctx);
        off += size + 16;
        got += size;
    }
    assert_int_equal(off, c.size);
    assert_memory_equal(plain, data, sizeof(data));
    free(c.data);
    crypto_key_free(key);
}

/* --- the backup key ------------------------------------------------------------------------- */

static void test_key_wrong_password(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("correct horse", &params);
    Error err = {0};
    assert_null(crypto_key_open("correct hors", &params, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_true(str_starts_with(err.msg, "wrong password"));
    assert_null(strstr(err.msg, "corrupt"));

    /* The right password gives the same key: it opens what the first key sealed. */
    CryptoKey *again = crypto_key_open("correct horse", &params, &err);
    assert_non_null(again);
    Blob c = seal(key, "o", 100, (const uint8_t *)"hello", 5, 5);
    bool ok;
    Blob p = open_blob(again, "o", c.data, c.size, 0, 100, &ok, &err);
    assert_true(ok);
    assert_int_equal(p.size, 5);
    free(p.data);
    free(c.data);

    /* A changed salt or cost is a different key: the check refuses it as a wrong password. */
    CryptoParams changed = params;
    changed.salt[0] ^= 1;
    assert_null(crypto_key_open("correct horse", &changed, &err));
    assert_int_equal(err.code, ERR_USAGE);
    changed = params;
    changed.kdf_n = 2048;
    assert_null(crypto_key_open("correct horse", &changed, &err));
    assert_int_equal(err.code, ERR_USAGE);

    assert_null(crypto_key_open("", &params, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "empty"));
    crypto_key_free(again);
    crypto_key_free(key);
}

static void test_key_default_cost(void **state)
{
    (void)state;
    CryptoParams params = {0};
    Error err = {0};
    int64_t t0 = time_monotonic_ns();
    CryptoKey *key = crypto_key_create("pass", &params, &err);
    int64_t ms = (time_monotonic_ns() - t0) / 1000000;
    if (key == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(params.kdf_n, CRYPTO_KDF_N_DEFAULT);
    assert_int_equal(params.kdf_r, CRYPTO_KDF_R_DEFAULT);
    assert_int_equal(params.kdf_p, CRYPTO_KDF_P_DEFAULT);
    print_message("scrypt N=%u r=%u p=%u: %lld ms (sanitized build)\n", params.kdf_n, params.kdf_r,
                  params.kdf_p, (long long)ms);
    CryptoKey *again = crypto_key_open("pass", &params, &err);
    assert_non_null(again);
    crypto_key_free(again);
    crypto_key_free(key);
}

static void test_key_hostile_params(void **state)
{
    (void)state;
    CryptoParams params;
    CryptoKey *key = test_key("pass", &params);
    crypto_key_free(key);
    Error err = {0};
    CryptoParams bad = params;
    bad.kdf_n = 1u << 30; /* 1 TiB of scrypt memory */
    assert_null(crypto_key_open("pass", &bad, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "need more than"));
    bad = params;
    bad.kdf_n = 1000;
    assert_null(crypto_key_open("pass", &bad, &err));
    assert_non_null(strstr(err.msg, "power of two"));
    bad = params;
    bad.kdf_p = 0;
    assert_null(crypto_key_open("pass", &bad, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
}

static void test_params_json(void **state)
{
    (void)state;
    CryptoParams params, back;
    CryptoKey *key = test_key("pass", &params);
    crypto_key_free(key);
    cJSON *o = cJSON_CreateObject();
    crypto_params_to_json(&params, o);
    char *text = cJSON_PrintUnformatted(o);
    cJSON *parsed = cJSON_Parse(text);
    Error err = {0};
    assert_true(crypto_params_from_json(parsed, &back, &err));
    assert_memory_equal(&params, &back, sizeof(params));
    assert_string_equal(cJSON_GetObjectItem(parsed, "algorithm")->valuestring, "AES-256-GCM");
    assert_string_equal(cJSON_GetObjectItem(parsed, "kdf")->valuestring, "scrypt");
    assert_int_equal(strlen(cJSON_GetObjectItem(parsed, "kdf_salt")->valuestring), 32);
    assert_int_equal(strlen(cJSON_GetObjectItem(parsed, "key_check")->valuestring), 64);

    struct {
        const char *field;
        cJSON *value;
        const char *want;
    } cases[] = {
        {"kdf", cJSON_CreateString("argon2id"), "unsupported kdf 'argon2id'"},
        {"algorithm", cJSON_CreateString("AES-128-CBC"), "unsupported algorithm"},
        {"kdf_salt", cJSON_CreateString("abcd"), "'kdf_salt' is not 32 hex digits"},
        {"key_check", cJSON_CreateString("zz"), "'key_check'"},
        {"kdf_n", cJSON_CreateNumber(1.5), "'kdf_n' is not"},
        {"kdf_n", cJSON_CreateNumber(1 << 30), "need more than"},
        {"kdf_r", cJSON_CreateString("8"), "'kdf_r' is not"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        cJSON *copy = cJSON_Duplicate(parsed, 1);
        cJSON_ReplaceItemInObject(copy, cases[i].field, cases[i].value);
        assert_false(crypto_params_from_json(copy, &back, &err));
        assert_int_equal(err.code, ERR_CORRUPT);
        if (strstr(err.msg, cases[i].want) == NULL)
            fail_msg("expected '%s' in: %s", cases[i].want, err.msg);
        cJSON_Delete(copy);
    }
    cJSON *copy = cJSON_Duplicate(parsed, 1);
    cJSON_DeleteItemFromObject(copy, "kdf_p");
    assert_false(crypto_params_from_json(copy, &back, &err));
    assert_non_null(strstr(err.msg, "kdf_p"));
    cJSON_Delete(copy);
    cJSON_Delete(parsed);
    cJSON_Delete(o);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aead_roundtrip_sizes),
        cmocka_unit_test(test_aead_roundtrip_default_record_size),
        cmocka_unit_test(test_aead_empty_object),
        cmocka_unit_test(test_aead_flipped_byte),
        cmocka_unit_test(test_aead_truncated),
        cmocka_unit_test(test_aead_reordered_dropped_appended),
        cmocka_unit_test(test_aead_substituted),
        cmocka_unit_test(test_aead_header_tampering),
        cmocka_unit_test(test_aead_restart),
        cmocka_unit_test(test_aead_matches_spec),
        cmocka_unit_test(test_key_wrong_password),
        cmocka_unit_test(test_key_default_cost),
        cmocka_unit_test(test_key_hostile_params),
        cmocka_unit_test(test_params_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
