/*
 * The original script's encryption, `openssl enc -aes-256-cbc -salt -pbkdf2`
 * (reference/seed-format.md "Encryption and splitting"): "Salted__", an 8-byte salt, then
 * AES-256-CBC with PKCS#7 padding under a key and IV taken from the first 48 bytes of
 * PBKDF2-HMAC-SHA256(password, salt, iterations), as openssl's apps/enc.c derives them. No
 * authentication: the seed format's integrity comes from the sha256 in its .meta.json.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/crypto.h"
#include "hfsync/util.h"
#include "stream/crypto.intern.h"

#define ENC_MAGIC "Salted__"
#define ENC_MAGIC_SIZE 8
#define ENC_HEADER_SIZE (ENC_MAGIC_SIZE + OPENSSL_ENC_SALT_SIZE)
#define ENC_BLOCK 16
#define ENC_CHUNK (64 * 1024)

static bool enc_cipher_init(EVP_CIPHER_CTX **ctx, EVP_CIPHER **cipher, const char *password,
                            const uint8_t salt[OPENSSL_ENC_SALT_SIZE], unsigned iterations,
                            bool encrypt, Error *err)
{
    uint8_t kiv[32 + ENC_BLOCK];
    *cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    *ctx = *cipher ? EVP_CIPHER_CTX_new() : NULL;
    if (*ctx == NULL)
        return crypto_ossl_error(err, ERR_FAIL, "AES-256-CBC is not available");
    if (iterations == 0)
        iterations = OPENSSL_ENC_ITERATIONS_DEFAULT;
    if (iterations > INT32_MAX)
        return error_set(err, ERR_USAGE, "PBKDF2 iteration count %u is too large", iterations);
    bool ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, OPENSSL_ENC_SALT_SIZE,
                                (int)iterations, EVP_sha256(), (int)sizeof(kiv), kiv) == 1;
    if (!ok)
        crypto_ossl_error(err, ERR_FAIL, "PBKDF2 key derivation");
    else if (EVP_CipherInit_ex(*ctx, *cipher, NULL, kiv, kiv + 32, encrypt ? 1 : 0) != 1)
        ok = crypto_ossl_error(err, ERR_FAIL, "AES-256-CBC key setup");
    OPENSSL_cleanse(kiv, sizeof(kiv));
    return ok;
}

static bool enc_password_valid(const char *password, Error *err)
{
    if (password == NULL || password[0] == '\0')
        return error_set(err, ERR_USAGE, "the encryption password is empty");
    return true;
}

/* --- sink ----------------------------------------------------------------------------------- */

typedef struct EncSink {
    Sink base;
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx;
    uint8_t header[ENC_HEADER_SIZE];
    bool header_sent;
    bool finished;
    uint8_t *out; /* ENC_CHUNK + one block */
} EncSink;

static bool enc_sink_emit(EncSink *s, size_t size, Error *err)
{
    if (!s->header_sent) {
        if (!sink_write(s->base.next, s->header, ENC_HEADER_SIZE, err))
            return false;
        s->header_sent = true;
    }
    return sink_write(s->base.next, s->out, size, err);
}

static bool enc_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    EncSink *s = (EncSink *)sink;
    if (s->finished)
        return error_set(err, ERR_FAIL, "write after the end of an encrypted archive");
    while (size > 0) {
        size_t n = size < ENC_CHUNK ? size : ENC_CHUNK;
        int len = 0;
        if (EVP_EncryptUpdate(s->ctx, s->out, &len, data, (int)n) != 1)
            return crypto_ossl_error(err, ERR_FAIL, "AES-256-CBC encryption");
        if (!enc_sink_emit(s, (size_t)len, err))
            return false;
        data += n;
        size -= n;
    }
    return true;
}

static bool enc_sink_finish(Sink *sink, Error *err)
{
    EncSink *s = (EncSink *)sink;
    if (!s->finished) {
        int len = 0;
        if (EVP_EncryptFinal_ex(s->ctx, s->out, &len) != 1)
            return crypto_ossl_error(err, ERR_FAIL, "AES-256-CBC encryption");
        if (!enc_sink_emit(s, (size_t)len, err))
            return false;
        s->finished = true;
    }
    return sink_finish(sink->next, err);
}

static void enc_sink_free(Sink *sink)
{
    EncSink *s = (EncSink *)sink;
    EVP_CIPHER_CTX_free(s->ctx);
    EVP_CIPHER_free(s->cipher);
    free(s->out);
    free(s);
}

static const SinkOps enc_sink_ops = {enc_sink_write, enc_sink_finish, enc_sink_free};

Sink *openssl_enc_sink_new(Sink *next, const char *password, const OpensslEncOpts *opts, Error *err)
{
    if (!enc_password_valid(password, err))
        return NULL;
    EncSink *s = x_calloc(1, sizeof(*s));
    s->base.ops = &enc_sink_ops;
    s->base.next = next;
    memcpy(s->header, ENC_MAGIC, ENC_MAGIC_SIZE);
    uint8_t *salt = s->header + ENC_MAGIC_SIZE;
    bool ok = true;
    if (opts != NULL && opts->salt != NULL)
        memcpy(salt, opts->salt, OPENSSL_ENC_SALT_SIZE);
    else if (RAND_bytes(salt, OPENSSL_ENC_SALT_SIZE) != 1)
        ok = crypto_ossl_error(err, ERR_FAIL, "random salt");
    if (!ok || !enc_cipher_init(&s->ctx, &s->cipher, password, salt, opts ? opts->iterations : 0,
                                true, err)) {
        enc_sink_free(&s->base);
        return NULL;
    }
    s->out = x_malloc(ENC_CHUNK + ENC_BLOCK);
    return &s->base;
}

/* --- reader --------------------------------------------------------------------------------- */

typedef struct DecReader {
    Reader base;
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx;
    char *password; /* until the header is read, then wiped */
    unsigned iterations;
    bool expect_gzip;
    uint8_t *in;  /* ENC_CHUNK */
    uint8_t *out; /* ENC_CHUNK + one block */
    size_t out_pos, out_size;
    uint64_t in_total;
    bool started, checked, done, failed;
} DecReader;

static void dec_reader_forget_password(DecReader *r)
{
    if (r->password != NULL) {
        OPENSSL_cleanse(r->password, strlen(r->password));
        free(r->password);
        r->password = NULL;
    }
}

static bool dec_reader_header(DecReader *r, Error *err)
{
    uint8_t h[ENC_HEADER_SIZE];
    ssize_t n = reader_read_full(r->base.next, h, sizeof(h), err);
    if (n < 0)
        return false;
    if (n >= ENC_MAGIC_SIZE && memcmp(h, ENC_MAGIC, ENC_MAGIC_SIZE) != 0)
        return error_set(err, ERR_CORRUPT,
                         "not 'openssl enc' data: it does not start with 'Salted__'");
    if (n < ENC_HEADER_SIZE)
        return error_set(err, ERR_CORRUPT,
                         "truncated: %zd bytes, shorter than the 16-byte 'Salted__' header", n);
    bool ok = enc_cipher_init(&r->ctx, &r->cipher, r->password, h + ENC_MAGIC_SIZE, r->iterations,
                              false, err);
    dec_reader_forget_password(r);
    return ok;
}

/* Decrypt the next chunk (or the final block) into r->out. */
static bool dec_reader_fill(DecReader *r, Error *err)
{
    int len = 0;
    ssize_t n = reader_read(r->base.next, r->in, ENC_CHUNK, err);
    if (n < 0)
        return false;
    if (n > 0) {
        r->in_total += (uint64_t)n;
        if (EVP_DecryptUpdate(r->ctx, r->out, &len, r->in, (int)n) != 1)
            return crypto_ossl_error(err, ERR_CORRUPT, "AES-256-CBC decryption");
    } else {
        r->done = true;
        if (r->in_total == 0)
            return error_set(err, ERR_CORRUPT, "truncated: no encrypted data after the header");
        if (r->in_total % ENC_BLOCK != 0)
            return error_set(err, ERR_CORRUPT,
                             "truncated or corrupt: %llu encrypted bytes are not a whole number "
                             "of 16-byte blocks",
                             (unsigned long long)r->in_total);
        if (EVP_DecryptFinal_ex(r->ctx, r->out, &len) != 1) {
            ERR_clear_error();
            return error_set(err, ERR_CORRUPT,
                             "wrong password or corrupt data: bad padding at the end of the "
                             "decrypted data (AES-256-CBC cannot tell which)");
        }
    }
    r->out_pos = 0;
    r->out_size = (size_t)len;
    if (r->expect_gzip && !r->checked && r->out_size > 0) {
        r->checked = true;
        /* RFC 1952 §2.3.1: ID1 ID2 CM = 1f 8b 08. A wrong key yields random bytes here. */
        if (r->out_size < 3 || r->out[0] != 0x1f || r->out[1] != 0x8b || r->out[2] != 8) {
            error_set(err, ERR_USAGE,
                      "wrong password: the decrypted data is not a gzip stream (if the password "
                      "is right, the archive is corrupt)");
            return false;
        }
    }
    return true;
}

static ssize_t dec_reader_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    DecReader *r = (DecReader *)reader;
    if (r->failed) {
        error_set(err, ERR_CORRUPT, "read after a decryption failure");
        return -1;
    }
    if (!r->started) {
        if (!dec_reader_header(r, err)) {
            r->failed = true;
            return -1;
        }
        r->started = true;
    }
    while (r->out_pos == r->out_size) {
        if (r->done)
            return 0;
        if (!dec_reader_fill(r, err)) {
            r->failed = true;
            return -1;
        }
    }
    size_t n = r->out_size - r->out_pos;
    if (n > cap)
        n = cap;
    memcpy(buf, r->out + r->out_pos, n);
    r->out_pos += n;
    return (ssize_t)n;
}

static void dec_reader_free(Reader *reader)
{
    DecReader *r = (DecReader *)reader;
    EVP_CIPHER_CTX_free(r->ctx);
    EVP_CIPHER_free(r->cipher);
    dec_reader_forget_password(r);
    free(r->in);
    free(r->out);
    free(r);
}

static const ReaderOps dec_reader_ops = {dec_reader_read, dec_reader_free};

Reader *openssl_enc_reader_new(Reader *next, const char *password, const OpensslEncOpts *opts,
                               Error *err)
{
    if (!enc_password_valid(password, err))
        return NULL;
    DecReader *r = x_calloc(1, sizeof(*r));
    r->base.ops = &dec_reader_ops;
    r->base.next = next;
    r->password = x_strdup(password);
    r->iterations = opts ? opts->iterations : 0;
    r->expect_gzip = opts && opts->expect_gzip;
    r->in = x_malloc(ENC_CHUNK);
    r->out = x_malloc(ENC_CHUNK + ENC_BLOCK);
    return &r->base;
}
