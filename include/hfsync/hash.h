/*
 * Hasher: an incremental digest over OpenSSL EVP.
 *
 * HASH_SHA256 is used for objects (volumes, manifests): the Hub's LFS and S3 checksums need it.
 * HASH_CONTENT is the per-file hash of the manifest. It is SHA-256 too (docs/FORMAT.md §4 says
 * why); the separate name marks which role a hasher plays.
 * Both produce 32 bytes. A Hasher is reusable: hasher_reset() starts a new digest.
 */
#ifndef HFSYNC_HASH_H
#define HFSYNC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SIZE 32
#define HASH_HEX_SIZE (2 * HASH_SIZE + 1)

typedef enum HashKind { HASH_SHA256 = 0, HASH_CONTENT } HashKind;

typedef struct Hasher Hasher;

Hasher *hasher_new(HashKind kind);
void hasher_reset(Hasher *h);
void hasher_update(Hasher *h, const void *data, size_t size);
/* Finish into `out` (HASH_SIZE bytes). The hasher must be reset before reuse. */
void hasher_final(Hasher *h, uint8_t out[HASH_SIZE]);
void hasher_final_hex(Hasher *h, char out[HASH_HEX_SIZE]);
void hasher_free(Hasher *h);

/* One-shot helper. */
void hash_buffer_hex(HashKind kind, const void *data, size_t size, char out[HASH_HEX_SIZE]);

#endif
