/* Shared by the encryption stages: the master key's layout, HKDF, and OpenSSL error text. */
#ifndef HFSYNC_CRYPTO_INTERN_H
#define HFSYNC_CRYPTO_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/crypto.h"
#include "hfsync/error.h"

struct CryptoKey {
    uint8_t master[CRYPTO_KEY_SIZE];
};

/* HKDF-SHA256 (RFC 5869): `out_size` bytes from `ikm`, an optional `salt` and `info`. */
bool crypto_hkdf(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt, size_t salt_size,
                 const uint8_t *info, size_t info_size, uint8_t *out, size_t out_size, Error *err);

/* scrypt (RFC 7914): `out_size` bytes from the password and salt at cost n (a power of two >= 2),
 * r and p; the same bytes as OpenSSL's "SCRYPT" KDF (stream/scrypt.c says why it is ours). The
 * caller bounds the memory it takes, 128 * r * (n + p) bytes (kdf_params_valid in kdf.c). */
bool crypto_scrypt(const char *password, size_t password_size, const uint8_t *salt,
                   size_t salt_size, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
                   size_t out_size, Error *err);

/* Set `code` with "<what>: <OpenSSL's first queued error>" and clear OpenSSL's queue. */
bool crypto_ossl_error(Error *err, ErrorCode code, const char *what);

#endif
