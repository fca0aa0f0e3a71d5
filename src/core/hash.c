#include "hfsync/hash.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"

struct Hasher {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
};

Hasher *hasher_new(HashKind kind)
{
    Hasher *h = x_calloc(1, sizeof(*h));
    (void)kind; /* both kinds are SHA-256 (hash.h) */
    h->md = EVP_sha256();
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL)
        abort();
    hasher_reset(h);
    return h;
}

void hasher_reset(Hasher *h)
{
    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1)
        abort();
}

void hasher_update(Hasher *h, const void *data, size_t size)
{
    if (size > 0)
        EVP_DigestUpdate(h->ctx, data, size);
}

void hasher_final(Hasher *h, uint8_t out[HASH_SIZE])
{
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(h->ctx, full, &len);
    memcpy(out, full, HASH_SIZE);
}

void hasher_final_hex(Hasher *h, char out[HASH_HEX_SIZE])
{
    uint8_t digest[HASH_SIZE];
    hasher_final(h, digest);
    hex_encode(digest, HASH_SIZE, out);
}

void hasher_free(Hasher *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void hash_buffer_hex(HashKind kind, const void *data, size_t size, char out[HASH_HEX_SIZE])
{
    Hasher *h = hasher_new(kind);
    hasher_update(h, data, size);
    hasher_final_hex(h, out);
    hasher_free(h);
}
