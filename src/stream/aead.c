/*
 * Record AEAD stages (docs/FORMAT.md §8.3): an object is a 32-byte header, then records of
 * `record_size` plaintext bytes, each AES-256-GCM sealed with its own nonce and a 16-byte tag,
 * the last one (possibly short, possibly empty) sealed as final.
 *
 * Each stage holds one batch buffer of whole records (about 1 MiB), allocated once, so records
 * pass to and from the next stage a batch per call rather than one system call per record. The
 * sink seals each record in place in its batch, or straight from the caller's bytes into it when
 * a whole record is at hand; the reader opens into the caller's buffer when it is big enough,
 * else into its own, and keeps one byte of lookahead to know whether a record is the last one.
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

#define AEAD_VERSION 1
#define AEAD_ALG_AES_256_GCM 1
#define AEAD_NONCE_SIZE 12
#define AEAD_SUBKEY_SIZE (CRYPTO_KEY_SIZE + AEAD_NONCE_SIZE)
#define AEAD_NAME_MAX 1024
/* Sealed records are passed on, and read, about this many plaintext bytes at a time (whole
 * records; records of less than 4 KiB count as 4 KiB): one write or read per record would cost
 * a system call per 64 KiB. */
#define AEAD_BATCH_SIZE (1024 * 1024)
#define AEAD_BATCH_MIN_RECORD (4 * 1024)

static const uint8_t AEAD_MAGIC[8] = {'H', 'F', 'S', 'Y', 'N', 'C', 'A', 'E'};
/* HKDF info prefix; the NUL that ends it is part of the info (a separator). */
static const char SUBKEY_LABEL[] = "hfsync aead v1";

/* Object subkey and nonce base: HKDF-SHA256(master, salt = the header's salt,
 * info = label NUL header name). Binding the whole header means a changed header byte changes
 * every record's key; binding the name means an object only opens under its own name. */
static bool aead_subkey(const uint8_t master[CRYPTO_KEY_SIZE],
                        const uint8_t header[AEAD_HEADER_SIZE], const char *name,
                        uint8_t out[AEAD_SUBKEY_SIZE], Error *err)
{
    size_t name_size = strlen(name);
    if (name_size > AEAD_NAME_MAX)
        return error_set(err, ERR_USAGE, "object name is longer than %d bytes", AEAD_NAME_MAX);
    uint8_t info[sizeof(SUBKEY_LABEL) + AEAD_HEADER_SIZE + AEAD_NAME_MAX];
    size_t n = 0;
    memcpy(info, SUBKEY_LABEL, sizeof(SUBKEY_LABEL));
    n += sizeof(SUBKEY_LABEL);
    memcpy(info + n, header, AEAD_HEADER_SIZE);
    n += AEAD_HEADER_SIZE;
    memcpy(info + n, name, name_size);
    n += name_size;
    return crypto_hkdf(master, CRYPTO_KEY_SIZE, header + 16, CRYPTO_SALT_SIZE, info, n, out,
                       AEAD_SUBKEY_SIZE, err);
}

/* Record i's nonce: the base with the last 8 bytes XORed with i, big-endian (as TLS 1.3). */
static void aead_nonce(const uint8_t base[AEAD_NONCE_SIZE], uint64_t record,
                       uint8_t out[AEAD_NONCE_SIZE])
{
    memcpy(out, base, AEAD_NONCE_SIZE);
    for (int i = 0; i < 8; i++)
        out[AEAD_NONCE_SIZE - 1 - i] ^= (uint8_t)(record >> (8 * i));
}

/* Records per write or read of a batch: at least one. */
static size_t aead_batch_records(uint32_t record_size)
{
    size_t rs = record_size > AEAD_BATCH_MIN_RECORD ? record_size : AEAD_BATCH_MIN_RECORD;
    return rs < AEAD_BATCH_SIZE ? AEAD_BATCH_SIZE / rs : 1;
}

static EVP_CIPHER *aead_cipher(EVP_CIPHER_CTX **ctx, Error *err)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    *ctx = cipher ? EVP_CIPHER_CTX_new() : NULL;
    if (*ctx == NULL) {
        EVP_CIPHER_free(cipher);
        crypto_ossl_error(err, ERR_FAIL, "AES-256-GCM is not available");
        return NULL;
    }
    return cipher;
}

/* --- sink ----------------------------------------------------------------------------------- */

typedef struct AeadSink {
    Sink base;
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx;
    uint8_t master[CRYPTO_KEY_SIZE];
    uint8_t nonce_base[AEAD_NONCE_SIZE];
    uint32_t record_size;
    /* The header and sealed records waiting to be passed on in one write, then the open record:
     * its plaintext gathers at out + out_size and is sealed in place. */
    uint8_t *out;
    size_t out_cap, out_size;
    size_t fill; /* plaintext bytes of the open record */
    uint64_t record;
    bool finished;
} AeadSink;

/* A new object: fresh salt, header and subkey. */
static bool aead_sink_begin(AeadSink *s, const char *name, Error *err)
{
    uint8_t *h = s->out;
    memcpy(h, AEAD_MAGIC, sizeof(AEAD_MAGIC));
    h[8] = AEAD_VERSION;
    h[9] = AEAD_ALG_AES_256_GCM;
    h[10] = h[11] = 0;
    h[12] = (uint8_t)(s->record_size >> 24);
    h[13] = (uint8_t)(s->record_size >> 16);
    h[14] = (uint8_t)(s->record_size >> 8);
    h[15] = (uint8_t)s->record_size;
    s->out_size = 0;
    s->fill = 0;
    s->record = 0;
    s->finished = true; /* until the object is set up */
    if (RAND_bytes(h + 16, CRYPTO_SALT_SIZE) != 1)
        return crypto_ossl_error(err, ERR_FAIL, "random object salt");
    uint8_t sub[AEAD_SUBKEY_SIZE];
    bool ok = aead_subkey(s->master, h, name, sub, err);
    if (ok && EVP_EncryptInit_ex(s->ctx, s->cipher, NULL, sub, NULL) != 1)
        ok = crypto_ossl_error(err, ERR_FAIL, "AES-256-GCM key setup");
    memcpy(s->nonce_base, sub + CRYPTO_KEY_SIZE, AEAD_NONCE_SIZE);
    OPENSSL_cleanse(sub, sizeof(sub));
    if (!ok)
        return false;
    s->out_size = AEAD_HEADER_SIZE; /* the header goes out with the first records */
    s->finished = false;
    return true;
}

/* Pass on everything sealed so far. */
static bool aead_sink_flush(AeadSink *s, Error *err)
{
    bool ok = s->out_size == 0 || sink_write(s->base.next, s->out, s->out_size, err);
    s->out_size = 0;
    return ok;
}

/* Make room for one more record in `out`, passing on what it holds when it is full. */
static bool aead_sink_room(AeadSink *s, Error *err)
{
    if (s->out_size + s->record_size + AEAD_TAG_SIZE <= s->out_cap)
        return true;
    return aead_sink_flush(s, err);
}

/* Seal `size` bytes of `in` (which may be the open record itself) as the next record, at
 * out + out_size. */
static bool aead_sink_seal(AeadSink *s, const uint8_t *in, size_t size, bool final, Error *err)
{
    uint8_t nonce[AEAD_NONCE_SIZE];
    uint8_t flag = final ? 1 : 0;
    uint8_t *dst = s->out + s->out_size;
    int len = 0, tail = 0;
    aead_nonce(s->nonce_base, s->record, nonce);
    if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(s->ctx, NULL, &len, &flag, 1) != 1 ||
        (size > 0 && EVP_EncryptUpdate(s->ctx, dst, &len, in, (int)size) != 1) ||
        EVP_EncryptFinal_ex(s->ctx, dst + size, &tail) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_SIZE, dst + size) != 1)
        return crypto_ossl_error(err, ERR_FAIL, "AES-256-GCM encryption");
    s->record++;
    s->out_size += size + AEAD_TAG_SIZE;
    return true;
}

static bool aead_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    AeadSink *s = (AeadSink *)sink;
    if (s->finished)
        return error_set(err, ERR_FAIL, "write after the end of an encrypted object");
    while (size > 0) {
        /* A full record is sealed only once more bytes arrive: the last one must be final. */
        if (s->fill == s->record_size) {
            if (!aead_sink_seal(s, s->out + s->out_size, s->fill, false, err))
                return false;
            s->fill = 0;
        }
        if (s->fill == 0) {
            if (!aead_sink_room(s, err))
                return false;
            if (size > s->record_size) { /* a whole record at hand: sealed without a copy */
                if (!aead_sink_seal(s, data, s->record_size, false, err))
                    return false;
                data += s->record_size;
                size -= s->record_size;
                continue;
            }
        }
        size_t n = s->record_size - s->fill;
        if (n > size)
            n = size;
        memcpy(s->out + s->out_size + s->fill, data, n);
        s->fill += n;
        data += n;
        size -= n;
    }
    return true;
}

static bool aead_sink_finish(Sink *sink, Error *err)
{
    AeadSink *s = (AeadSink *)sink;
    if (!s->finished) {
        if (s->fill == 0 && !aead_sink_room(s, err))
            return false;
        if (!aead_sink_seal(s, s->out + s->out_size, s->fill, true, err) ||
            !aead_sink_flush(s, err))
            return false;
        s->fill = 0;
        s->finished = true;
    }
    return sink_finish(sink->next, err);
}

static void aead_sink_free(Sink *sink)
{
    AeadSink *s = (AeadSink *)sink;
    EVP_CIPHER_CTX_free(s->ctx);
    EVP_CIPHER_free(s->cipher);
    OPENSSL_cleanse(s->master, sizeof(s->master));
    free(s->out);
    free(s);
}

static const SinkOps aead_sink_ops = {aead_sink_write, aead_sink_finish, aead_sink_free};

Sink *aead_sink_new(Sink *next, const CryptoKey *key, const char *name, const AeadOpts *opts,
                    Error *err)
{
    uint32_t record_size = opts && opts->record_size ? opts->record_size : AEAD_RECORD_SIZE;
    if (record_size > AEAD_RECORD_SIZE_MAX) {
        error_set(err, ERR_USAGE, "record size %u is larger than %u", record_size,
                  AEAD_RECORD_SIZE_MAX);
        return NULL;
    }
    AeadSink *s = x_calloc(1, sizeof(*s));
    s->base.ops = &aead_sink_ops;
    s->base.next = next;
    s->record_size = record_size;
    memcpy(s->master, key->master, CRYPTO_KEY_SIZE);
    s->cipher = aead_cipher(&s->ctx, err);
    if (s->cipher == NULL) {
        aead_sink_free(&s->base);
        return NULL;
    }
    s->out_cap =
        AEAD_HEADER_SIZE + aead_batch_records(record_size) * ((size_t)record_size + AEAD_TAG_SIZE);
    s->out = x_malloc(s->out_cap);
    if (!aead_sink_begin(s, name, err)) {
        aead_sink_free(&s->base);
        return NULL;
    }
    return &s->base;
}

bool aead_sink_restart(Sink *sink, Sink *next, const char *name, Error *err)
{
    sink->next = next;
    return aead_sink_begin((AeadSink *)sink, name, err);
}

/* --- reader --------------------------------------------------------------------------------- */

typedef struct AeadReader {
    Reader base;
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx;
    uint8_t master[CRYPTO_KEY_SIZE];
    char *name;
    uint8_t nonce_base[AEAD_NONCE_SIZE];
    uint32_t record_size;
    uint8_t *in; /* sealed records from `next`: [in_pos, in_size) not opened yet */
    size_t in_cap, in_pos, in_size;
    uint8_t *out; /* opened plaintext waiting for a reader with a small buffer */
    size_t out_pos, out_size;
    uint64_t record;
    bool started, src_eof, done, failed;
} AeadReader;

static bool aead_reader_header(AeadReader *r, Error *err)
{
    uint8_t h[AEAD_HEADER_SIZE];
    ssize_t n = reader_read_full(r->base.next, h, sizeof(h), err);
    if (n < 0)
        return false;
    if (n < AEAD_HEADER_SIZE) {
        if (n >= 4 && memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0)
            return error_set(err, ERR_CORRUPT, "not encrypted (a zstd stream)");
        return error_set(err, ERR_CORRUPT, "truncated: %zd bytes, shorter than the %d-byte header",
                         n, AEAD_HEADER_SIZE);
    }
    if (memcmp(h, AEAD_MAGIC, sizeof(AEAD_MAGIC)) != 0) {
        if (memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0)
            return error_set(err, ERR_CORRUPT, "not encrypted (a zstd stream)");
        return error_set(err, ERR_CORRUPT, "not an hfsync encrypted object (bad magic)");
    }
    if (h[8] != AEAD_VERSION)
        return error_set(err, ERR_CORRUPT, "unsupported encrypted object version %u", h[8]);
    if (h[9] != AEAD_ALG_AES_256_GCM)
        return error_set(err, ERR_CORRUPT, "unsupported encryption algorithm %u", h[9]);
    if (h[10] != 0 || h[11] != 0)
        return error_set(err, ERR_CORRUPT, "reserved header bytes are not zero");
    uint32_t rs = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
    if (rs == 0 || rs > AEAD_RECORD_SIZE_MAX)
        return error_set(err, ERR_CORRUPT, "record size %u in the header is out of range", rs);

    uint8_t sub[AEAD_SUBKEY_SIZE];
    bool ok = aead_subkey(r->master, h, r->name, sub, err);
    if (ok && EVP_DecryptInit_ex(r->ctx, r->cipher, NULL, sub, NULL) != 1)
        ok = crypto_ossl_error(err, ERR_FAIL, "AES-256-GCM key setup");
    memcpy(r->nonce_base, sub + CRYPTO_KEY_SIZE, AEAD_NONCE_SIZE);
    OPENSSL_cleanse(sub, sizeof(sub));
    if (!ok)
        return false;
    r->record_size = rs;
    /* Whole records and one byte of lookahead, to know whether a record is the last one. */
    r->in_cap = aead_batch_records(rs) * ((size_t)rs + AEAD_TAG_SIZE) + 1;
    r->in = x_malloc(r->in_cap);
    r->out = x_malloc(rs);
    return true;
}

/* Open record r->record (`size` plaintext bytes: ciphertext and tag at `src`) into `dst`;
 * false when it does not authenticate as a `final` (or non-final) record. */
static bool aead_reader_open(AeadReader *r, const uint8_t *src, uint8_t *dst, size_t size,
                             bool final)
{
    uint8_t nonce[AEAD_NONCE_SIZE];
    uint8_t flag = final ? 1 : 0;
    int len = 0, tail = 0;
    aead_nonce(r->nonce_base, r->record, nonce);
    bool ok = EVP_DecryptInit_ex(r->ctx, NULL, NULL, NULL, nonce) == 1 &&
              EVP_DecryptUpdate(r->ctx, NULL, &len, &flag, 1) == 1 &&
              (size == 0 || EVP_DecryptUpdate(r->ctx, dst, &len, src, (int)size) == 1) &&
              EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_SIZE,
                                  (void *)(src + size)) == 1 &&
              EVP_DecryptFinal_ex(r->ctx, dst + size, &tail) == 1;
    if (!ok)
        ERR_clear_error();
    return ok;
}

/* Why record r->record failed: try the other `final` flag to tell truncation and appended data
 * apart from damage (only on this error path; `src` still holds the ciphertext). */
static bool aead_reader_failed(AeadReader *r, const uint8_t *src, size_t size, bool final,
                               Error *err)
{
    r->failed = true;
    unsigned long long i = (unsigned long long)r->record;
    if (final && size == r->record_size && aead_reader_open(r, src, r->out, size, false))
        return error_set(err, ERR_CORRUPT,
                         "truncated after record %llu: the final record is missing", i);
    if (!final && aead_reader_open(r, src, r->out, size, true))
        return error_set(err, ERR_CORRUPT, "unexpected data after the final record %llu", i);
    return error_set(err, ERR_CORRUPT,
                     "record %llu failed authentication: the object was altered, truncated or "
                     "reordered, or belongs to another backup or name",
                     i);
}

/* Have the next record and one byte more in `in`, or everything up to the end of `next`;
 * returns the bytes at hand from in_pos, -1 on error. */
static ssize_t aead_reader_fill(AeadReader *r, Error *err)
{
    size_t need = (size_t)r->record_size + AEAD_TAG_SIZE + 1;
    if (r->in_size - r->in_pos >= need || r->src_eof)
        return (ssize_t)(r->in_size - r->in_pos);
    /* What is left of the last batch (the lookahead byte, or part of a record) moves to the
     * front, and the rest of the buffer is filled. */
    memmove(r->in, r->in + r->in_pos, r->in_size - r->in_pos);
    r->in_size -= r->in_pos;
    r->in_pos = 0;
    while (r->in_size < need && !r->src_eof) {
        ssize_t n = reader_read(r->base.next, r->in + r->in_size, r->in_cap - r->in_size, err);
        if (n < 0)
            return -1;
        if (n == 0)
            r->src_eof = true;
        r->in_size += (size_t)n;
    }
    return (ssize_t)r->in_size;
}

static ssize_t aead_reader_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    AeadReader *r = (AeadReader *)reader;
    if (r->failed) {
        error_set(err, ERR_CORRUPT, "read after an authentication failure");
        return -1;
    }
    if (!r->started) {
        if (!aead_reader_header(r, err)) {
            r->failed = true;
            return -1;
        }
        r->started = true;
    }
    if (r->out_pos == r->out_size) {
        if (r->done)
            return 0;
        ssize_t avail = aead_reader_fill(r, err);
        if (avail < 0)
            return -1;
        bool final = (size_t)avail <= r->record_size + AEAD_TAG_SIZE;
        size_t sealed = final ? (size_t)avail : r->record_size + AEAD_TAG_SIZE;
        if (sealed < AEAD_TAG_SIZE) {
            r->failed = true;
            if (sealed == 0 && r->record > 0)
                error_set(err, ERR_CORRUPT,
                          "truncated after record %llu: the final record is missing",
                          (unsigned long long)r->record - 1);
            else
                error_set(err, ERR_CORRUPT, "truncated: record %llu is shorter than its tag",
                          (unsigned long long)r->record);
            return -1;
        }
        size_t size = sealed - AEAD_TAG_SIZE;
        const uint8_t *src = r->in + r->in_pos;
        uint8_t *dst = cap >= size ? buf : r->out;
        if (!aead_reader_open(r, src, dst, size, final)) {
            aead_reader_failed(r, src, size, final, err);
            return -1;
        }
        r->record++;
        r->in_pos += sealed;
        r->done = final;
        if (dst == buf)
            return (ssize_t)size;
        r->out_pos = 0;
        r->out_size = size;
    }
    size_t n = r->out_size - r->out_pos;
    if (n > cap)
        n = cap;
    memcpy(buf, r->out + r->out_pos, n);
    r->out_pos += n;
    return (ssize_t)n;
}

static void aead_reader_free(Reader *reader)
{
    AeadReader *r = (AeadReader *)reader;
    EVP_CIPHER_CTX_free(r->ctx);
    EVP_CIPHER_free(r->cipher);
    OPENSSL_cleanse(r->master, sizeof(r->master));
    free(r->name);
    free(r->in);
    free(r->out);
    free(r);
}

static const ReaderOps aead_reader_ops = {aead_reader_read, aead_reader_free};

Reader *aead_reader_new(Reader *next, const CryptoKey *key, const char *name, Error *err)
{
    if (strlen(name) > AEAD_NAME_MAX) {
        error_set(err, ERR_USAGE, "object name is longer than %d bytes", AEAD_NAME_MAX);
        return NULL;
    }
    AeadReader *r = x_calloc(1, sizeof(*r));
    r->base.ops = &aead_reader_ops;
    r->base.next = next;
    r->name = x_strdup(name);
    memcpy(r->master, key->master, CRYPTO_KEY_SIZE);
    r->cipher = aead_cipher(&r->ctx, err);
    if (r->cipher == NULL) {
        aead_reader_free(&r->base);
        return NULL;
    }
    return &r->base;
}
