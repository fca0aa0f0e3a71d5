/*
 * SigV4 signing, step by step as in AWS's "Signature Calculations for the Authorization Header"
 * (canonical request → string to sign → signing key → signature) and "Authenticating Requests:
 * Using Query Parameters" for presigned URLs. S3 specifics from reference/s3-api.md §1.2–1.7.
 */
#include "http/sigv4.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hfsync/util.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_MAX_EXPIRES 604800L /* seven days, the longest S3 accepts */
#define SIGV4_KEY_SIZE 32

struct SigV4 {
    char *access_key;
    char *secret_key;
    char *session_token;         /* NULL: none */
    char *session_token_encoded; /* as it appears in a presigned query */
    char *region;
    char *service;
    pthread_mutex_t lock; /* guards the cache below */
    char key_date[9];     /* "yyyymmdd" of key, "" when none */
    unsigned char key[SIGV4_KEY_SIZE];
    unsigned long derivations;
};

/* A growing string; the canonical request is built with it. */
typedef struct Text {
    char *data;
    size_t len, cap;
} Text;

static void text_add_n(Text *t, const char *s, size_t n)
{
    buf_append(&t->data, &t->len, &t->cap, s, n);
}

static void text_add(Text *t, const char *s)
{
    text_add_n(t, s, strlen(s));
}

/* The string built so far, owned by the caller (never NULL). */
static char *text_take(Text *t)
{
    if (t->data == NULL)
        return x_strdup("");
    char *s = t->data;
    *t = (Text){0};
    return s;
}

static void free_wiped(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

SigV4 *sigv4_new(const SigV4Creds *creds, const char *region, const char *service, Error *err)
{
    if (creds == NULL || creds->access_key == NULL || creds->access_key[0] == '\0') {
        error_set(err, ERR_USAGE, "sigv4: the access key id is empty");
        return NULL;
    }
    if (creds->secret_key == NULL || creds->secret_key[0] == '\0') {
        error_set(err, ERR_USAGE, "sigv4: the secret access key is empty");
        return NULL;
    }
    if (region == NULL || region[0] == '\0' || service == NULL || service[0] == '\0') {
        error_set(err, ERR_USAGE, "sigv4: the region and the service must not be empty");
        return NULL;
    }
    SigV4 *s = x_calloc(1, sizeof(*s));
    s->access_key = x_strdup(creds->access_key);
    s->secret_key = x_strdup(creds->secret_key);
    if (creds->session_token != NULL && creds->session_token[0] != '\0') {
        s->session_token = x_strdup(creds->session_token);
        s->session_token_encoded = sigv4_uri_encode(creds->session_token, false);
    }
    s->region = x_strdup(region);
    s->service = x_strdup(service);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void sigv4_free(SigV4 *s)
{
    if (s == NULL)
        return;
    free(s->access_key);
    free_wiped(s->secret_key);
    free_wiped(s->session_token);
    free_wiped(s->session_token_encoded);
    free(s->region);
    free(s->service);
    pthread_mutex_destroy(&s->lock);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = x_malloc(3 * n + 1);
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- validation: bad input is refused with a message naming the field, never its value ---- */

static bool check_request(const SigV4Request *req, Error *err)
{
    if (req->method == NULL || req->method[0] == '\0')
        return error_set(err, ERR_USAGE, "sigv4: the request method is empty");
    for (const char *p = req->method; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return error_set(err, ERR_USAGE, "sigv4: method '%s' is not an uppercase token",
                             req->method);
    if (req->host == NULL || req->host[0] == '\0')
        return error_set(err, ERR_USAGE, "sigv4: the host is empty");
    for (const unsigned char *p = (const unsigned char *)req->host; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '/')
            return error_set(err, ERR_USAGE,
                             "sigv4: host '%s' has a character not allowed in a "
                             "host name",
                             req->host);
    const char *path = req->path;
    if (path == NULL || path[0] != '/')
        return error_set(err, ERR_USAGE, "sigv4: path '%s' does not start with '/'",
                         path ? path : "(null)");
    for (size_t i = 0; path[i]; i++) {
        unsigned char c = (unsigned char)path[i];
        if (is_unreserved(c) || c == '/')
            continue;
        if (c == '%' && isxdigit((unsigned char)path[i + 1]) &&
            isxdigit((unsigned char)path[i + 2]) && !islower((unsigned char)path[i + 1]) &&
            !islower((unsigned char)path[i + 2])) {
            i += 2;
            continue;
        }
        return error_set(err, ERR_USAGE,
                         "sigv4: path '%s' is not percent-encoded (byte %zu)\nhint: encode the "
                         "object key with sigv4_uri_encode(key, true) and send that exact path",
                         path, i);
    }
    for (size_t i = 0; i < req->query_count; i++)
        if (req->query[i].name == NULL || req->query[i].name[0] == '\0')
            return error_set(err, ERR_USAGE, "sigv4: query parameter %zu has an empty name", i);
    const char *h = req->payload_hash;
    if (h != NULL) {
        bool ok = false;
        if (strlen(h) == 64) {
            ok = true;
            for (const char *p = h; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                    ok = false;
        } else if (strcmp(h, "UNSIGNED-PAYLOAD") == 0 || str_starts_with(h, "STREAMING-")) {
            ok = true;
            for (const char *p = h; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
                    ok = false;
        }
        if (!ok)
            return error_set(err, ERR_USAGE,
                             "sigv4: payload hash '%s' is neither 64 lowercase hex digits nor "
                             "'UNSIGNED-PAYLOAD' nor a 'STREAMING-' value",
                             h);
    }
    return true;
}

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Headers a proxy or curl may add or change; signing them breaks requests (botocore's list). */
static bool is_unsigned_header(const char *lname)
{
    static const char *const names[] = {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(lname, names[i]) == 0)
            return true;
    return false;
}

static bool check_header(const SigV4Header *h, Error *err)
{
    static const char *const owned[] = {"host", "x-amz-date", "x-amz-content-sha256",
                                        "x-amz-security-token", "authorization"};
    if (h->name == NULL || h->name[0] == '\0')
        return error_set(err, ERR_USAGE, "sigv4: a header has an empty name");
    for (const unsigned char *p = (const unsigned char *)h->name; *p; p++)
        if (!is_tchar(*p))
            return error_set(err, ERR_USAGE, "sigv4: header name '%s' is not an HTTP token",
                             h->name);
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcasecmp(h->name, owned[i]) == 0)
            return error_set(err, ERR_USAGE, "sigv4: header '%s' is set by the signer", h->name);
    if (h->value == NULL)
        return error_set(err, ERR_USAGE, "sigv4: header '%s' has no value", h->name);
    for (const unsigned char *p = (const unsigned char *)h->value; *p; p++)
        if ((*p < ' ' && *p != '\t') || *p == 0x7f)
            return error_set(err, ERR_USAGE,
                             "sigv4: header '%s' value contains a control character or line "
                             "break",
                             h->name);
    return true;
}

/* ---- canonical pieces ---- */

typedef struct Pair {
    char *name; /* encoded query name, or lowercase header name */
    char *value;
    size_t order; /* position in the caller's list, to keep repeated headers in order */
} Pair;

static int pair_cmp(const void *a, const void *b)
{
    const Pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c == 0)
        c = strcmp(x->value, y->value);
    return c;
}

static int header_cmp(const void *a, const void *b)
{
    const Pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void pairs_free(Pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free_wiped(p[i].value);
    }
    free(p);
}

/* Trim and collapse runs of blanks to one space ("Trimall" in the spec). */
static char *trimall(const char *v)
{
    char *out = x_malloc(strlen(v) + 1);
    size_t n = 0;
    bool blank = false;
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            blank = n > 0;
            continue;
        }
        if (blank)
            out[n++] = ' ';
        blank = false;
        out[n++] = *p;
    }
    out[n] = '\0';
    return out;
}

/* A value with only its ends trimmed: what is sent on the wire. */
static char *trim_ends(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return x_strndup(v, n);
}

/* Sorted "name=value&…" with both sides encoded (s3-api.md §1.3). `extra` are X-Amz-* params. */
static char *canonical_query(const SigV4Request *req, const SigV4Param *extra, size_t extra_count)
{
    size_t n = req->query_count + extra_count;
    Pair *p = x_calloc(n ? n : 1, sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        const SigV4Param *q = i < req->query_count ? &req->query[i] : &extra[i - req->query_count];
        p[i].name = sigv4_uri_encode(q->name, false);
        p[i].value = sigv4_uri_encode(q->value ? q->value : "", false);
    }
    qsort(p, n, sizeof(*p), pair_cmp);
    Text t = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            text_add(&t, "&");
        text_add(&t, p[i].name);
        text_add(&t, "=");
        text_add(&t, p[i].value);
    }
    pairs_free(p, n);
    return text_take(&t);
}

static void sha256_hex(const char *data, size_t size, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data, size, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        abort(); /* SHA-256 is always available; failure means a broken OpenSSL */
    hex_encode(md, 32, out);
}

static bool hmac(const unsigned char *key, size_t key_size, const char *msg,
                 unsigned char out[SIGV4_KEY_SIZE], Error *err)
{
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key, (int)key_size, (const unsigned char *)msg, strlen(msg), out,
             &len) == NULL ||
        len != SIGV4_KEY_SIZE)
        return error_set(err, ERR_FAIL, "sigv4: HMAC-SHA256 failed in OpenSSL");
    return true;
}

/* kSigning for `date`, from the cache when it is the same day (s3-api.md §1.1 step 3). */
static bool signing_key(SigV4 *s, const char *date, unsigned char out[SIGV4_KEY_SIZE], Error *err)
{
    bool ok = true;
    pthread_mutex_lock(&s->lock);
    if (strcmp(s->key_date, date) != 0) {
        size_t secret_size = 4 + strlen(s->secret_key);
        unsigned char *secret = x_malloc(secret_size + 1);
        memcpy(secret, "AWS4", 4);
        memcpy(secret + 4, s->secret_key, secret_size - 4);
        unsigned char k[SIGV4_KEY_SIZE];
        ok = hmac(secret, secret_size, date, k, err) && hmac(k, sizeof(k), s->region, k, err) &&
             hmac(k, sizeof(k), s->service, k, err) && hmac(k, sizeof(k), "aws4_request", k, err);
        OPENSSL_cleanse(secret, secret_size);
        free(secret);
        if (ok) {
            memcpy(s->key, k, sizeof(k));
            memcpy(s->key_date, date, sizeof(s->key_date));
            s->derivations++;
        }
        OPENSSL_cleanse(k, sizeof(k));
    }
    if (ok)
        memcpy(out, s->key, SIGV4_KEY_SIZE);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

unsigned long sigv4_key_derivation_count(SigV4 *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned long n = s->derivations;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static char *add_line(SigV4Signed *out, const char *name, const char *value)
{
    char *line = value[0] ? str_printf("%s: %s", name, value) : str_printf("%s;", name);
    out->lines = x_realloc(out->lines, (out->line_count + 1) * sizeof(*out->lines));
    out->lines[out->line_count++] = line;
    return line;
}

/* The shared body of sigv4_sign() and sigv4_presign(). presign_expires 0: header auth. */
static bool sign_request(SigV4 *s, const SigV4Request *req, long presign_expires, SigV4Signed *out,
                         Error *err)
{
    bool presign = presign_expires > 0;
    bool ok = false;
    Pair *hdr = NULL;
    size_t hdr_count = 0;
    char *signed_query = NULL, *scope = NULL, *credential = NULL;
    char expires[24];
    unsigned char key[SIGV4_KEY_SIZE], sig[SIGV4_KEY_SIZE];

    *out = (SigV4Signed){0};
    if (!check_request(req, err))
        goto out;
    for (size_t i = 0; i < req->header_count; i++)
        if (!check_header(&req->headers[i], err))
            goto out;

    struct tm tm;
    if (req->time < 0 || gmtime_r(&req->time, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        error_set(err, ERR_USAGE, "sigv4: time %lld is out of range", (long long)req->time);
        goto out;
    }
    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm);
    char date[9];
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    scope = str_printf("%s/%s/%s/aws4_request", date, s->region, s->service);
    credential = str_printf("%s/%s", s->access_key, scope);
    const char *payload = req->payload_hash;
    if (payload == NULL)
        payload = presign ? "UNSIGNED-PAYLOAD" : SIGV4_EMPTY_SHA256;

    /* Headers: the caller's plus ours, lowercase names, sorted; repeated names keep their order
       and are joined with ',' (s3-api.md §1.4). */
    hdr = x_calloc(req->header_count + 4, sizeof(*hdr));
    hdr[hdr_count++] = (Pair){x_strdup("host"), x_strdup(req->host), 0};
    for (size_t i = 0; i < req->header_count; i++) {
        char *lname = x_strdup(req->headers[i].name);
        for (char *p = lname; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (is_unsigned_header(lname)) {
            free(lname);
            continue;
        }
        hdr[hdr_count++] = (Pair){lname, trimall(req->headers[i].value), i + 1};
    }
    if (!presign) {
        hdr[hdr_count++] = (Pair){x_strdup("x-amz-content-sha256"), x_strdup(payload), 0};
        hdr[hdr_count++] = (Pair){x_strdup("x-amz-date"), x_strdup(out->amz_date), 0};
        if (s->session_token)
            hdr[hdr_count++] =
                (Pair){x_strdup("x-amz-security-token"), x_strdup(s->session_token), 0};
    }
    qsort(hdr, hdr_count, sizeof(*hdr), header_cmp);
    Text canon_headers = {0}, names = {0};
    for (size_t i = 0; i < hdr_count; i++) {
        bool repeat = i > 0 && strcmp(hdr[i].name, hdr[i - 1].name) == 0;
        if (repeat) {
            text_add(&canon_headers, ",");
        } else {
            if (i > 0) {
                text_add(&canon_headers, "\n");
                text_add(&names, ";");
            }
            text_add(&names, hdr[i].name);
            text_add(&canon_headers, hdr[i].name);
            text_add(&canon_headers, ":");
        }
        text_add(&canon_headers, hdr[i].value);
    }
    text_add(&canon_headers, "\n");
    out->signed_headers = text_take(&names);

    /* Query: the caller's, plus the X-Amz-* authentication parameters when presigning. */
    SigV4Param auth[6];
    size_t auth_count = 0;
    if (presign) {
        snprintf(expires, sizeof(expires), "%ld", presign_expires);
        auth[auth_count++] = (SigV4Param){"X-Amz-Algorithm", SIGV4_ALGORITHM};
        auth[auth_count++] = (SigV4Param){"X-Amz-Credential", credential};
        auth[auth_count++] = (SigV4Param){"X-Amz-Date", out->amz_date};
        auth[auth_count++] = (SigV4Param){"X-Amz-Expires", expires};
        auth[auth_count++] = (SigV4Param){"X-Amz-SignedHeaders", out->signed_headers};
        if (s->session_token)
            auth[auth_count++] = (SigV4Param){"X-Amz-Security-Token", s->session_token};
    }
    signed_query = canonical_query(req, auth, auth_count);

    Text cr = {0};
    text_add(&cr, req->method);
    text_add(&cr, "\n");
    text_add(&cr, req->path);
    text_add(&cr, "\n");
    text_add(&cr, signed_query);
    text_add(&cr, "\n");
    text_add_n(&cr, canon_headers.data, canon_headers.len);
    text_add(&cr, "\n");
    text_add(&cr, out->signed_headers);
    text_add(&cr, "\n");
    text_add(&cr, payload);
    free_wiped(text_take(&canon_headers));
    out->canonical_request = text_take(&cr);

    char cr_hash[65];
    sha256_hex(out->canonical_request, strlen(out->canonical_request), cr_hash);
    out->string_to_sign = str_printf(SIGV4_ALGORITHM "\n%s\n%s\n%s", out->amz_date, scope, cr_hash);

    if (!signing_key(s, date, key, err) || !hmac(key, sizeof(key), out->string_to_sign, sig, err))
        goto out;
    hex_encode(sig, sizeof(sig), out->signature);

    add_line(out, "Host", req->host);
    for (size_t i = 0; i < req->header_count; i++) {
        char *v = trim_ends(req->headers[i].value);
        add_line(out, req->headers[i].name, v);
        free_wiped(v);
    }
    if (presign) {
        out->query = str_printf("%s%sX-Amz-Signature=%s", signed_query, signed_query[0] ? "&" : "",
                                out->signature);
    } else {
        out->query = x_strdup(signed_query);
        out->authorization =
            str_printf(SIGV4_ALGORITHM " Credential=%s, SignedHeaders=%s, Signature=%s", credential,
                       out->signed_headers, out->signature);
        add_line(out, "x-amz-date", out->amz_date);
        add_line(out, "x-amz-content-sha256", payload);
        if (s->session_token)
            add_line(out, "x-amz-security-token", s->session_token);
        add_line(out, "Authorization", out->authorization);
    }
    ok = true;

out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(sig, sizeof(sig));
    pairs_free(hdr, hdr_count);
    free_wiped(signed_query);
    free(scope);
    free(credential);
    if (!ok)
        sigv4_signed_free(out);
    return ok;
}

bool sigv4_sign(SigV4 *s, const SigV4Request *req, SigV4Signed *out, Error *err)
{
    return sign_request(s, req, 0, out, err);
}

bool sigv4_presign(SigV4 *s, const SigV4Request *req, long expires_sec, SigV4Signed *out,
                   Error *err)
{
    static const char *const owned[] = {
        "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",      "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
    };
    *out = (SigV4Signed){0};
    if (expires_sec < 1 || expires_sec > SIGV4_MAX_EXPIRES)
        return error_set(err, ERR_USAGE,
                         "sigv4: presigned URL expiry %ld s is out of range (1..%ld)", expires_sec,
                         SIGV4_MAX_EXPIRES);
    for (size_t i = 0; i < req->query_count; i++)
        for (size_t j = 0; req->query[i].name && j < sizeof(owned) / sizeof(owned[0]); j++)
            if (strcasecmp(req->query[i].name, owned[j]) == 0)
                return error_set(err, ERR_USAGE, "sigv4: query parameter '%s' is set by the signer",
                                 req->query[i].name);
    return sign_request(s, req, expires_sec, out, err);
}

void sigv4_signed_free(SigV4Signed *out)
{
    if (out == NULL)
        return;
    for (size_t i = 0; i < out->line_count; i++)
        free_wiped(out->lines[i]);
    free(out->lines);
    free_wiped(out->query);
    free(out->authorization);
    free_wiped(out->canonical_request);
    free(out->string_to_sign);
    free(out->signed_headers);
    *out = (SigV4Signed){0};
}

char *sigv4_redact(const SigV4 *s, const char *text)
{
    const char *secrets[] = {s->secret_key, s->session_token, s->session_token_encoded};
    Text t = {0};
    const char *p = text;
    while (*p) {
        size_t hit = 0;
        for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]) && hit == 0; i++)
            if (secrets[i] && strncmp(p, secrets[i], strlen(secrets[i])) == 0)
                hit = strlen(secrets[i]);
        if (hit) {
            text_add(&t, "***");
            p += hit;
        } else {
            text_add_n(&t, p, 1);
            p++;
        }
    }
    return text_take(&t);
}
