/*
 * Encryption: the key of a backup, and the stages that encrypt and decrypt objects with it
 * (docs/FORMAT.md §8 specifies every byte).
 *
 * Native format. A backup's password goes through scrypt once (CryptoParams: cost and salt,
 * stored in the backup's .meta.json) into a 32-byte master key, held by a CryptoKey. A key check
 * value derived from the master key is stored beside the parameters, so crypto_key_open() tells a
 * wrong password apart before any object is read. Each object (volume, manifest) gets its own
 * AES-256-GCM subkey from HKDF-SHA256 over the master key, a random per-object salt in the
 * object's header, and the object's name, and is cut into fixed-size records, each with its own
 * nonce and tag, the last one marked as final. So a changed byte, a dropped, reordered or
 * duplicated record, a truncation at any point, and an object of another backup or under another
 * name all fail authentication. A reader hands out a record's bytes only after its tag verified.
 *
 * Seed format. openssl_enc_* read and write what `openssl enc -aes-256-cbc -salt -pbkdf2` does
 * (the original script's encryption): "Salted__", an 8-byte salt, AES-256-CBC with PKCS#7 padding,
 * key and IV from PBKDF2-HMAC-SHA256. It has no authentication.
 *
 * Errors of the stages do not name the object: callers prefix it (error_prefix), as for zstd.
 * A wrong password is ERR_USAGE with a message starting "wrong password"; data that fails
 * authentication is ERR_CORRUPT naming the record. Stages copy the key material they need (the
 * CryptoKey and password may be freed after creating them) and wipe it when freed.
 */
#ifndef HFSYNC_CRYPTO_H
#define HFSYNC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/error.h"
#include "hfsync/stream.h"

struct cJSON;

#define CRYPTO_KEY_SIZE 32
#define CRYPTO_SALT_SIZE 16
#define CRYPTO_CHECK_SIZE 32

/* scrypt cost written by new backups: 2^15 * 8 * 128 bytes = 32 MiB, about 0.07 s. */
#define CRYPTO_KDF_N_DEFAULT 32768u
#define CRYPTO_KDF_R_DEFAULT 8u
#define CRYPTO_KDF_P_DEFAULT 1u
/* Readers refuse parameters that need more memory than this (a hostile .meta.json). */
#define CRYPTO_KDF_MAX_MEMORY (256u * 1024 * 1024)

/* What a backup stores about its key (the "cipher" object of its .meta.json). */
typedef struct CryptoParams {
    uint32_t kdf_n; /* scrypt N, a power of two >= 2 */
    uint32_t kdf_r;
    uint32_t kdf_p;
    uint8_t salt[CRYPTO_SALT_SIZE];
    uint8_t check[CRYPTO_CHECK_SIZE]; /* key check value */
} CryptoParams;

/* A backup's master key. Opaque; wiped when freed. */
typedef struct CryptoKey CryptoKey;

/* For a new backup: a fresh random salt, the key derived from `password`, and the check value
 * filled in. The cost is taken from params->kdf_n/r/p when set (non-zero), else the defaults. */
CryptoKey *crypto_key_create(const char *password, CryptoParams *params, Error *err);

/* For reading a backup: validate the stored parameters (ERR_CORRUPT when out of bounds), derive
 * the key and compare it with the check value: ERR_USAGE "wrong password …" when it differs. */
CryptoKey *crypto_key_open(const char *password, const CryptoParams *params, Error *err);

void crypto_key_free(CryptoKey *key);

/* The "cipher" object of .meta.json (FORMAT.md §8.2): add its fields to `obj`, or read them back
 * (ERR_CORRUPT naming the field when one is missing or malformed). */
void crypto_params_to_json(const CryptoParams *params, struct cJSON *obj);
bool crypto_params_from_json(const struct cJSON *obj, CryptoParams *params, Error *err);

/* --- native: record AEAD stages ------------------------------------------------------------ */

/* Plaintext bytes per record written by default, and the largest a reader accepts. */
#define AEAD_RECORD_SIZE (64u * 1024)
#define AEAD_RECORD_SIZE_MAX (16u * 1024 * 1024)
#define AEAD_HEADER_SIZE 32
#define AEAD_TAG_SIZE 16

typedef struct AeadOpts {
    uint32_t record_size; /* plaintext bytes per record, 1..AEAD_RECORD_SIZE_MAX; 0 = default */
} AeadOpts;

/* Encrypting sink for one object named `name` (its name in the backup, without the prefix; it is
 * bound into the subkey). Writes the header and records into `next`; sink_finish() writes the
 * final record (an empty object still has one) and finishes `next`. `opts` may be NULL. */
Sink *aead_sink_new(Sink *next, const CryptoKey *key, const char *name, const AeadOpts *opts,
                    Error *err);
/* Begin a new object (new salt, subkey and name) into `next`, reusing buffers and contexts. */
bool aead_sink_restart(Sink *sink, Sink *next, const char *name, Error *err);

/* Decrypting reader for the object `name`. Reads the header on the first read; returns each
 * record's plaintext only after its tag verified. Errors are ERR_CORRUPT. */
Reader *aead_reader_new(Reader *next, const CryptoKey *key, const char *name, Error *err);

/* --- seed format: openssl enc -aes-256-cbc -salt -pbkdf2 ----------------------------------- */

#define OPENSSL_ENC_ITERATIONS_DEFAULT 10000u
#define OPENSSL_ENC_SALT_SIZE 8

typedef struct OpensslEncOpts {
    unsigned iterations; /* PBKDF2-HMAC-SHA256 iterations; 0 = 10000 (openssl's default) */
    const uint8_t *salt; /* sink: OPENSSL_ENC_SALT_SIZE bytes; NULL = random (set for tests) */
    /* reader: the plaintext is a gzip stream, so a first block that does not start with the gzip
     * magic means the password is wrong (ERR_USAGE), detected before any byte is handed out. */
    bool expect_gzip;
} OpensslEncOpts;

/* Encrypting sink: output that `openssl enc -d -aes-256-cbc -pbkdf2 [-iter N]` decrypts.
 * `opts` may be NULL. */
Sink *openssl_enc_sink_new(Sink *next, const char *password, const OpensslEncOpts *opts,
                           Error *err);
/* Decrypting reader. CBC without authentication cannot tell a wrong password from damaged data:
 * bad padding at the end is ERR_CORRUPT "wrong password or corrupt data". `opts` may be NULL. */
Reader *openssl_enc_reader_new(Reader *next, const char *password, const OpensslEncOpts *opts,
                               Error *err);

#endif
