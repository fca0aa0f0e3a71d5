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

/* Set `code` with "<what>: <OpenSSL's first queued error>" and clear OpenSSL's queue. */
bool crypto_ossl_error(Error *err, ErrorCode code, const char *what);

#endif
