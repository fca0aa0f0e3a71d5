/* A backup's master key: scrypt from the password, a key check value, the "cipher" meta object
 * (docs/FORMAT.md §8.2), and the HKDF every subkey comes from. */
#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/crypto.h"
#include "hfsync/util.h"
#include "stream/crypto.intern.h"

static const char KEY_CHECK_INFO[] = "hfsync key check v1";

bool crypto_ossl_error(Error *err, ErrorCode code, const char *what)
{
    unsigned long e = ERR_get_error();
    char text[256] = "unknown error";
    if (e != 0)
        ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    return error_set(err, code, "%s: %s", what, text);
}

bool crypto_hkdf(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt, size_t salt_size,
                 const uint8_t *info, size_t info_size, uint8_t *out, size_t out_size, Error *err)
{
    bool ok = false;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (ctx == NULL) {
        crypto_ossl_error(err, ERR_FAIL, "HKDF is not available");
        goto out;
    }
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_size);
    if (salt_size > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_size);
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, out_size, params) != 1) {
        crypto_ossl_error(err, ERR_FAIL, "HKDF key derivation");
        goto out;
    }
    ok = true;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

/* Within what a reader accepts, so a hostile .meta.json cannot make us allocate gigabytes. */
static bool kdf_params_valid(const CryptoParams *params, Error *err)
{
    uint64_t n = params->kdf_n, r = params->kdf_r, p = params->kdf_p;
    if (n < 2 || (n & (n - 1)) != 0)
        return error_set(err, ERR_CORRUPT, "scrypt N %llu is not a power of two >= 2",
                         (unsigned long long)n);
    if (r < 1 || p < 1 || p > 16)
        return error_set(err, ERR_CORRUPT, "scrypt r %llu or p %llu is out of range",
                         (unsigned long long)r, (unsigned long long)p);
    /* OpenSSL's accounting (crypto/evp/pbe_scrypt.c): B is p*128*r bytes, V is 128*r*(N+2). */
    if (r > CRYPTO_KDF_MAX_MEMORY / 128 || 128 * r * (n + 2 + p) > CRYPTO_KDF_MAX_MEMORY)
        return error_set(err, ERR_CORRUPT,
                         "scrypt parameters N=%llu r=%llu p=%llu need more than %u MiB",
                         (unsigned long long)n, (unsigned long long)r, (unsigned long long)p,
                         CRYPTO_KDF_MAX_MEMORY >> 20);
    return true;
}

static bool kdf_scrypt(const char *password, const CryptoParams *params,
                       uint8_t out[CRYPTO_KEY_SIZE], Error *err)
{
    return crypto_scrypt(password, strlen(password), params->salt, CRYPTO_SALT_SIZE, params->kdf_n,
                         params->kdf_r, params->kdf_p, out, CRYPTO_KEY_SIZE, err);
}

static bool key_check_value(const CryptoKey *key, uint8_t out[CRYPTO_CHECK_SIZE], Error *err)
{
    return crypto_hkdf(key->master, CRYPTO_KEY_SIZE, NULL, 0, (const uint8_t *)KEY_CHECK_INFO,
                       sizeof(KEY_CHECK_INFO) - 1, out, CRYPTO_CHECK_SIZE, err);
}

static CryptoKey *key_derive(const char *password, const CryptoParams *params, Error *err)
{
    if (password == NULL || password[0] == '\0') {
        error_set(err, ERR_USAGE, "the encryption password is empty");
        return NULL;
    }
    if (!kdf_params_valid(params, err))
        return NULL;
    CryptoKey *key = x_calloc(1, sizeof(*key));
    if (!kdf_scrypt(password, params, key->master, err)) {
        crypto_key_free(key);
        return NULL;
    }
    return key;
}

CryptoKey *crypto_key_create(const char *password, CryptoParams *params, Error *err)
{
    if (params->kdf_n == 0)
        params->kdf_n = CRYPTO_KDF_N_DEFAULT;
    if (params->kdf_r == 0)
        params->kdf_r = CRYPTO_KDF_R_DEFAULT;
    if (params->kdf_p == 0)
        params->kdf_p = CRYPTO_KDF_P_DEFAULT;
    if (RAND_bytes(params->salt, CRYPTO_SALT_SIZE) != 1) {
        crypto_ossl_error(err, ERR_FAIL, "random salt");
        return NULL;
    }
    CryptoKey *key = key_derive(password, params, err);
    if (key != NULL && !key_check_value(key, params->check, err)) {
        crypto_key_free(key);
        return NULL;
    }
    return key;
}

CryptoKey *crypto_key_open(const char *password, const CryptoParams *params, Error *err)
{
    uint8_t check[CRYPTO_CHECK_SIZE];
    CryptoKey *key = key_derive(password, params, err);
    if (key == NULL)
        return NULL;
    if (!key_check_value(key, check, err)) {
        crypto_key_free(key);
        return NULL;
    }
    if (CRYPTO_memcmp(check, params->check, CRYPTO_CHECK_SIZE) != 0) {
        crypto_key_free(key);
        error_set(err, ERR_USAGE, "wrong password: it does not match the key check of the backup");
        error_hint(err, "set the password the backup was made with");
        return NULL;
    }
    return key;
}

void crypto_key_free(CryptoKey *key)
{
    if (key == NULL)
        return;
    OPENSSL_cleanse(key, sizeof(*key));
    free(key);
}

/* --- the "cipher" object of .meta.json ------------------------------------------------------ */

static void json_add_hex(cJSON *obj, const char *field, const uint8_t *bytes, size_t size)
{
    char hex[2 * CRYPTO_CHECK_SIZE + 1];
    hex_encode(bytes, size, hex);
    cJSON_AddStringToObject(obj, field, hex);
}

void crypto_params_to_json(const CryptoParams *params, cJSON *obj)
{
    cJSON_AddStringToObject(obj, "algorithm", "AES-256-GCM");
    cJSON_AddStringToObject(obj, "kdf", "scrypt");
    cJSON_AddNumberToObject(obj, "kdf_n", params->kdf_n);
    cJSON_AddNumberToObject(obj, "kdf_r", params->kdf_r);
    cJSON_AddNumberToObject(obj, "kdf_p", params->kdf_p);
    json_add_hex(obj, "kdf_salt", params->salt, CRYPTO_SALT_SIZE);
    json_add_hex(obj, "key_check", params->check, CRYPTO_CHECK_SIZE);
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool json_hex(const cJSON *obj, const char *field, uint8_t *out, size_t size, Error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    const char *s = cJSON_IsString(item) ? item->valuestring : NULL;
    if (s == NULL || strlen(s) != 2 * size)
        return error_set(err, ERR_CORRUPT, "cipher: '%s' is not %zu hex digits", field, 2 * size);
    for (size_t i = 0; i < size; i++) {
        int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return error_set(err, ERR_CORRUPT, "cipher: '%s' is not hex", field);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool json_u32(const cJSON *obj, const char *field, uint32_t *out, Error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (v < 1 || v > UINT32_MAX || v != (double)(uint32_t)v)
        return error_set(err, ERR_CORRUPT, "cipher: '%s' is not a positive 32-bit integer", field);
    *out = (uint32_t)v;
    return true;
}

static bool json_expect(const cJSON *obj, const char *field, const char *want, Error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!cJSON_IsString(item))
        return error_set(err, ERR_CORRUPT, "cipher: '%s' is missing", field);
    if (strcmp(item->valuestring, want) != 0)
        return error_set(err, ERR_CORRUPT, "cipher: unsupported %s '%s' (this version knows '%s')",
                         field, item->valuestring, want);
    return true;
}

bool crypto_params_from_json(const cJSON *obj, CryptoParams *params, Error *err)
{
    memset(params, 0, sizeof(*params));
    if (!cJSON_IsObject(obj))
        return error_set(err, ERR_CORRUPT, "cipher: not an object");
    return json_expect(obj, "algorithm", "AES-256-GCM", err) &&
           json_expect(obj, "kdf", "scrypt", err) && json_u32(obj, "kdf_n", &params->kdf_n, err) &&
           json_u32(obj, "kdf_r", &params->kdf_r, err) &&
           json_u32(obj, "kdf_p", &params->kdf_p, err) &&
           json_hex(obj, "kdf_salt", params->salt, CRYPTO_SALT_SIZE, err) &&
           json_hex(obj, "key_check", params->check, CRYPTO_CHECK_SIZE, err) &&
           kdf_params_valid(params, err);
}
