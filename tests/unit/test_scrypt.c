/* crypto_scrypt (src/stream/scrypt.c, our own Salsa20/8 mixing): RFC 7914's test vectors, and the
 * same bytes as OpenSSL's scrypt over a range of N, r, p, password, salt and output sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/crypto.intern.h"
#include "support/testutil.h"

static void unhex(const char *hex, uint8_t *out, size_t size)
{
    assert_int_equal(strlen(hex), 2 * size);
    for (size_t i = 0; i < size; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* RFC 7914 §12 (the N = 2^20 vector needs 1 GiB and is left out). */
static void test_scrypt_rfc7914(void **state)
{
    (void)state;
    struct {
        const char *password, *salt;
        uint64_t n;
        uint32_t r, p;
        const char *want;
    } v[] = {
        {"", "", 16, 1, 1,
         "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
         "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"},
        {"password", "NaCl", 1024, 8, 16,
         "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
         "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"},
        {"pleaseletmein", "SodiumChloride", 16384, 8, 1,
         "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
         "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
        uint8_t want[64], got[64];
        Error err = {0};
        unhex(v[i].want, want, sizeof(want));
        assert_true(crypto_scrypt(v[i].password, strlen(v[i].password), (const uint8_t *)v[i].salt,
                                  strlen(v[i].salt), v[i].n, v[i].r, v[i].p, got, sizeof(got),
                                  &err));
        assert_memory_equal(got, want, sizeof(want));
    }
}

static void openssl_scrypt(const uint8_t *password, size_t password_size, const uint8_t *salt,
                           size_t salt_size, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
                           size_t out_size)
{
    uint64_t maxmem = 1u << 30;
    OSSL_PARAM ps[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, password_size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    assert_int_equal(EVP_KDF_derive(ctx, out, out_size, ps), 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

static void test_scrypt_matches_openssl(void **state)
{
    (void)state;
    const uint64_t ns[] = {2, 4, 16, 256, 2048};
    const uint32_t rs[] = {1, 2, 3, 8, 9};
    const uint32_t ps[] = {1, 2, 5};
    const size_t outs[] = {1, 32, 33, 100};
    uint8_t password[300], salt[80], got[100], want[100];
    uint32_t seed = 1;
    for (size_t a = 0; a < sizeof(ns) / sizeof(*ns); a++)
        for (size_t b = 0; b < sizeof(rs) / sizeof(*rs); b++)
            for (size_t c = 0; c < sizeof(ps) / sizeof(*ps); c++) {
                size_t pw_size = seed * 37 % sizeof(password), salt_size = seed * 11 % 33;
                size_t out_size = outs[seed % (sizeof(outs) / sizeof(*outs))];
                test_fill_random(password, pw_size, seed);
                test_fill_random(salt, salt_size, seed + 1000);
                Error err = {0};
                assert_true(crypto_scrypt((const char *)password, pw_size, salt, salt_size, ns[a],
                                          rs[b], ps[c], got, out_size, &err));
                openssl_scrypt(password, pw_size, salt, salt_size, ns[a], rs[b], ps[c], want,
                               out_size);
                if (memcmp(got, want, out_size) != 0)
                    fail_msg("N=%llu r=%u p=%u password %zu salt %zu out %zu: differs",
                             (unsigned long long)ns[a], rs[b], ps[c], pw_size, salt_size, out_size);
                seed++;
            }
    /* The cost new backups use. */
    uint8_t salt16[16];
    test_fill_random(salt16, sizeof(salt16), 7);
    Error err = {0};
    const char *pw = "correct horse battery staple";
    assert_true(crypto_scrypt(pw, strlen(pw), salt16, sizeof(salt16), 32768, 8, 1, got, 32, &err));
    openssl_scrypt((const uint8_t *)pw, strlen(pw), salt16, sizeof(salt16), 32768, 8, 1, want, 32);
    assert_memory_equal(got, want, 32);
}

static void test_scrypt_bad_params(void **state)
{
    (void)state;
    uint8_t out[32];
    const struct {
        uint64_t n;
        uint32_t r, p;
    } bad[] = {{0, 8, 1},
               {1, 8, 1},
               {3, 8, 1},
               {1000, 8, 1},
               {1024, 0, 1},
               {1024, 8, 0},
               {1024, 1u << 15, 1u << 15}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        Error err = {0};
        assert_false(crypto_scrypt("pw", 2, (const uint8_t *)"s", 1, bad[i].n, bad[i].r, bad[i].p,
                                   out, sizeof(out), &err));
        assert_non_null(strstr(err.msg, "out of range"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrypt_rfc7914),
        cmocka_unit_test(test_scrypt_matches_openssl),
        cmocka_unit_test(test_scrypt_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
