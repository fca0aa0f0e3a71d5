/*
 * scrypt (RFC 7914), the KDF of a backup's master key (docs/FORMAT.md §8.1).
 *
 * Why not OpenSSL's: its scrypt computes Salsa20/8 one 32-bit word at a time, and every encrypted
 * run pays it once before anything else can happen (a restore cannot read an object before the
 * key check, FORMAT.md §8.2): about 0.11 s at the default cost. With SSE2 (every x86-64 CPU) the
 * four columns, then the four rows, of Salsa20/8 go four words to an instruction, as in Colin
 * Percival's reference SSE2 version. Measured in backups on the bench machine: 90 ms of CPU (65
 * of mixing, 25 of the kernel zeroing the 32 MiB table) where OpenSSL's took 130 ms.
 * PBKDF2-HMAC-SHA256, the step before and after the mixing, is OpenSSL's. Without SSE2, OpenSSL's
 * scrypt does everything. Both give the same bytes: tests/unit/test_scrypt.c checks RFC 7914's
 * vectors and compares with OpenSSL over a range of parameters.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/crypto.intern.h"

#if defined(__SSE2__) && defined(__x86_64__)

#include <emmintrin.h>
#include <sys/mman.h>

/* A 64-byte Salsa20 block in four registers. Words are kept in the order 0 5 10 15 | 4 9 14 3 |
 * 8 13 2 7 | 12 1 6 11 (position i holds word 5i mod 16), so that each register is one of the
 * four "diagonals" and a column round is four lanes at once. */
typedef struct SalsaBlock {
    __m128i v[4];
} SalsaBlock;

#define ROTL32X4(x, n) _mm_or_si128(_mm_slli_epi32(x, n), _mm_srli_epi32(x, 32 - (n)))

/* B = B + Salsa20/8(B) on the shuffled layout. */
static inline void salsa20_8(SalsaBlock *b)
{
    __m128i x0 = b->v[0], x1 = b->v[1], x2 = b->v[2], x3 = b->v[3];
    for (int i = 0; i < 8; i += 2) {
        /* Columns. */
        x1 = _mm_xor_si128(x1, ROTL32X4(_mm_add_epi32(x0, x3), 7));
        x2 = _mm_xor_si128(x2, ROTL32X4(_mm_add_epi32(x1, x0), 9));
        x3 = _mm_xor_si128(x3, ROTL32X4(_mm_add_epi32(x2, x1), 13));
        x0 = _mm_xor_si128(x0, ROTL32X4(_mm_add_epi32(x3, x2), 18));
        /* Rotate the lanes so rows line up as columns did. */
        x1 = _mm_shuffle_epi32(x1, 0x93);
        x2 = _mm_shuffle_epi32(x2, 0x4E);
        x3 = _mm_shuffle_epi32(x3, 0x39);
        /* Rows. */
        x3 = _mm_xor_si128(x3, ROTL32X4(_mm_add_epi32(x0, x1), 7));
        x2 = _mm_xor_si128(x2, ROTL32X4(_mm_add_epi32(x3, x0), 9));
        x1 = _mm_xor_si128(x1, ROTL32X4(_mm_add_epi32(x2, x3), 13));
        x0 = _mm_xor_si128(x0, ROTL32X4(_mm_add_epi32(x1, x2), 18));
        x1 = _mm_shuffle_epi32(x1, 0x39);
        x2 = _mm_shuffle_epi32(x2, 0x4E);
        x3 = _mm_shuffle_epi32(x3, 0x93);
    }
    b->v[0] = _mm_add_epi32(b->v[0], x0);
    b->v[1] = _mm_add_epi32(b->v[1], x1);
    b->v[2] = _mm_add_epi32(b->v[2], x2);
    b->v[3] = _mm_add_epi32(b->v[3], x3);
}

static inline void block_xor(SalsaBlock *x, const SalsaBlock *y)
{
    for (int i = 0; i < 4; i++)
        x->v[i] = _mm_xor_si128(x->v[i], y->v[i]);
}

/* out = BlockMix(in) (RFC 7914 §4) over 2r blocks, with `in` XORed with `v` first when `v` is
 * not NULL (ROMix's second loop). Outputs go to the even-then-odd order of step 6. */
static inline void blockmix(const SalsaBlock *in, const SalsaBlock *v, SalsaBlock *out, size_t r)
{
    SalsaBlock x = in[2 * r - 1];
    if (v != NULL)
        block_xor(&x, &v[2 * r - 1]);
    for (size_t i = 0; i < 2 * r; i++) {
        block_xor(&x, &in[i]);
        if (v != NULL)
            block_xor(&x, &v[i]);
        salsa20_8(&x);
        out[(i & 1) ? r + i / 2 : i / 2] = x;
    }
}

static void blockmix_plain(const SalsaBlock *in, SalsaBlock *out, size_t r)
{
    blockmix(in, NULL, out, r);
}

static void blockmix_xor(const SalsaBlock *in, const SalsaBlock *v, SalsaBlock *out, size_t r)
{
    blockmix(in, v, out, r);
}

/* Integerify (RFC 7914 §5) mod n: word 0 of the last block, which is at position 0. n is at most
 * 2^32: the table (128 * r * n bytes) is bounded far below that by the caller. */
static inline size_t integerify(const SalsaBlock *x, size_t r, uint64_t n)
{
    return (uint32_t)_mm_cvtsi128_si32(x[2 * r - 1].v[0]) & (uint32_t)(n - 1);
}

/* Between the little-endian bytes of RFC 7914 and the shuffled layout. */
static void blocks_load(SalsaBlock *x, const uint8_t *b, size_t r)
{
    for (size_t k = 0; k < 2 * r; k++) {
        uint32_t w[16], s[16];
        memcpy(w, b + 64 * k, 64); /* x86 is little-endian */
        for (size_t i = 0; i < 16; i++)
            s[i] = w[i * 5 % 16];
        for (size_t i = 0; i < 4; i++)
            x[k].v[i] = _mm_loadu_si128((const __m128i *)(s + 4 * i));
    }
}

static void blocks_store(uint8_t *b, const SalsaBlock *x, size_t r)
{
    for (size_t k = 0; k < 2 * r; k++) {
        uint32_t w[16], s[16];
        for (size_t i = 0; i < 4; i++)
            _mm_storeu_si128((__m128i *)(s + 4 * i), x[k].v[i]);
        for (size_t i = 0; i < 16; i++)
            w[i * 5 % 16] = s[i];
        memcpy(b + 64 * k, w, 64);
    }
}

/* ROMix (RFC 7914 §5) of one 128r-byte lane `b`, in place; `v` is the n-entry table, `x` and `y`
 * 2r blocks each. The first loop writes each BlockMix straight into the next table entry. */
static void romix(uint8_t *b, size_t r, uint64_t n, SalsaBlock *v, SalsaBlock *x, SalsaBlock *y)
{
    size_t step = 2 * r;
    blocks_load(v, b, r);
    for (uint64_t i = 0; i + 1 < n; i++)
        blockmix_plain(v + i * step, v + (i + 1) * step, r);
    blockmix_plain(v + (n - 1) * step, x, r);
    for (uint64_t i = 0; i < n; i += 2) { /* n is a power of two >= 2 */
        blockmix_xor(x, v + integerify(x, r, n) * step, y, r);
        blockmix_xor(y, v + integerify(y, r, n) * step, x, r);
    }
    blocks_store(b, x, r);
}

static bool scrypt_derive(const char *password, size_t password_size, const uint8_t *salt,
                          size_t salt_size, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
                          size_t out_size, Error *err)
{
    size_t lane = 128 * (size_t)r, b_size = lane * p, v_size = lane * n;
    bool ok = false;
    uint8_t *b = malloc(b_size);
    SalsaBlock *x = aligned_alloc(64, 2 * lane);
    /* Not MADV_HUGEPAGE: it saved a tenth of the mixing time, but zeroing fresh 2 MiB pages (and
     * compacting memory to find them) made 7 of 10 backups measured slower overall. */
    void *v = mmap(NULL, v_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == NULL || x == NULL || v == MAP_FAILED) {
        error_set(err, ERR_FAIL, "scrypt: cannot allocate %zu MiB", (v_size + b_size) >> 20);
        goto out;
    }
    if (PKCS5_PBKDF2_HMAC(password, (int)password_size, salt, (int)salt_size, 1, EVP_sha256(),
                          (int)b_size, b) != 1) {
        crypto_ossl_error(err, ERR_FAIL, "scrypt: PBKDF2");
        goto out;
    }
    for (uint32_t i = 0; i < p; i++)
        romix(b + lane * i, r, n, v, x, x + 2 * r);
    if (PKCS5_PBKDF2_HMAC(password, (int)password_size, b, (int)b_size, 1, EVP_sha256(),
                          (int)out_size, out) != 1) {
        crypto_ossl_error(err, ERR_FAIL, "scrypt: PBKDF2");
        goto out;
    }
    ok = true;
out:
    /* The table goes back to the kernel, which clears it before any other use. */
    if (v != MAP_FAILED)
        munmap(v, v_size);
    if (x != NULL)
        OPENSSL_cleanse(x, 2 * lane);
    free(x);
    if (b != NULL)
        OPENSSL_cleanse(b, b_size);
    free(b);
    return ok;
}

#else /* no SSE2: OpenSSL's scrypt */

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

static bool scrypt_derive(const char *password, size_t password_size, const uint8_t *salt,
                          size_t salt_size, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
                          size_t out_size, Error *err)
{
    bool ok = false;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (ctx == NULL) {
        crypto_ossl_error(err, ERR_FAIL, "scrypt is not available");
        goto out;
    }
    uint64_t maxmem = UINT64_MAX;
    OSSL_PARAM ps[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, password_size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(ctx, out, out_size, ps) != 1) {
        crypto_ossl_error(err, ERR_FAIL, "scrypt key derivation");
        goto out;
    }
    ok = true;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

#endif

bool crypto_scrypt(const char *password, size_t password_size, const uint8_t *salt,
                   size_t salt_size, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
                   size_t out_size, Error *err)
{
    /* RFC 7914's bounds (p * r < 2^30), sizes that fit PBKDF2's int arguments, and n <= 2^32
     * (integerify() takes one word). */
    if (n < 2 || (n & (n - 1)) != 0 || n > (1ull << 32) || r == 0 || p == 0 ||
        (uint64_t)r * p >= (1u << 30) || password_size > INT32_MAX || salt_size > INT32_MAX ||
        out_size > INT32_MAX || n > SIZE_MAX / 2 / (128 * (uint64_t)r))
        return error_set(err, ERR_FAIL, "scrypt: parameters out of range");
    return scrypt_derive(password, password_size, salt, salt_size, n, r, p, out, out_size, err);
}
