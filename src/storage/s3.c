/*
 * s3:// backend: any S3-compatible service over SigV4 (reference/s3-api.md).
 *
 * Objects are keys under the target's prefix. Small objects go up with one PutObject; an object
 * that outgrows one part becomes a multipart upload whose parts are uploaded by a few threads
 * while the next part fills, each part signed with its SHA-256 and sent with Content-MD5 so the
 * service verifies it. CompleteMultipartUpload's body is checked for an error under a 200; a
 * failed or abandoned upload is aborted, so no partial object ever appears under its name.
 * Reads stream through http_get_reader(), which resumes a broken download with Range.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "http/sigv4.h"
#include "storage.intern.h"

#define S3_MAX_PARTS 10000
#define S3_DELETE_BATCH 1000
#define S3_FIRST_BUF (64u << 10)

typedef struct S3 {
    Storage base;
    char *bucket;
    char *root;      /* key prefix of the target: "" or "some/prefix/" */
    char *origin;    /* "https://bucket.s3.us-east-1.amazonaws.com", "http://127.0.0.1:9000" */
    char *host;      /* the Host header: origin without the scheme */
    char *path_base; /* "/bucket" for path-style addressing, "" for virtual-hosted */
    SigV4 *sig;
    HttpSettings hs;
    char *ca_bundle;
    HttpRetry retry;
    Http *http; /* requests made on the opening thread */
    uint64_t part_size;
    int parallel;
    int64_t skew_sec; /* server clock minus ours, learnt from RequestTimeTooSkewed */
    pthread_mutex_t skew_mu;
} S3;

/* --- XML (S3 answers are small and flat: a few known elements are read) -------------------- */

static void xml_decode_into(const char *p, size_t n, char *out)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] == '&') {
            bool done = false;
            for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]) && !done; e++) {
                size_t el = strlen(ents[e].ent);
                if (i + el <= n && memcmp(p + i, ents[e].ent, el) == 0) {
                    out[o++] = ents[e].c;
                    i += el;
                    done = true;
                }
            }
            if (!done && i + 3 < n && p[i + 1] == '#') {
                char *end = NULL;
                bool hex = p[i + 2] == 'x' || p[i + 2] == 'X';
                unsigned long cp = strtoul(p + i + (hex ? 3 : 2), &end, hex ? 16 : 10);
                if (end != NULL && end < p + n && *end == ';' && cp > 0 && cp < 0x110000) {
                    /* UTF-8 encode the code point. */
                    if (cp < 0x80) {
                        out[o++] = (char)cp;
                    } else if (cp < 0x800) {
                        out[o++] = (char)(0xc0 | (cp >> 6));
                        out[o++] = (char)(0x80 | (cp & 0x3f));
                    } else if (cp < 0x10000) {
                        out[o++] = (char)(0xe0 | (cp >> 12));
                        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (cp & 0x3f));
                    } else {
                        out[o++] = (char)(0xf0 | (cp >> 18));
                        out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (cp & 0x3f));
                    }
                    i = (size_t)(end - p) + 1;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        out[o++] = p[i++];
    }
    out[o] = '\0';
}

/* The decoded text of the first <tag>…</tag> in [p, end), or NULL. *next (if given) points
 * after the closing tag. An element with attributes or a self-closing one is found too. */
static char *xml_get(const char *p, const char *end, const char *tag, const char **next)
{
    size_t tl = strlen(tag);
    for (const char *q = p; q != NULL && q < end;) {
        q = memchr(q, '<', (size_t)(end - q));
        if (q == NULL || q + tl + 2 > end)
            return NULL;
        if (memcmp(q + 1, tag, tl) == 0 &&
            (q[tl + 1] == '>' || q[tl + 1] == ' ' || q[tl + 1] == '/')) {
            const char *gt = memchr(q, '>', (size_t)(end - q));
            if (gt == NULL)
                return NULL;
            if (gt[-1] == '/') {
                if (next != NULL)
                    *next = gt + 1;
                return x_strdup("");
            }
            const char *body = gt + 1;
            for (const char *c = body; c < end;) {
                c = memchr(c, '<', (size_t)(end - c));
                if (c == NULL || c + tl + 3 > end)
                    return NULL;
                if (c[1] == '/' && memcmp(c + 2, tag, tl) == 0 && c[tl + 2] == '>') {
                    char *out = x_malloc((size_t)(c - body) + 1);
                    xml_decode_into(body, (size_t)(c - body), out);
                    if (next != NULL)
                        *next = c + tl + 3;
                    return out;
                }
                c++;
            }
            return NULL;
        }
        q++;
    }
    return NULL;
}

/* The bounds of the next <tag>…</tag> block at or after p. */
static bool xml_block(const char *p, const char *end, const char *tag, const char **from,
                      const char **to)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (a == NULL)
        return false;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (b == NULL)
        return false;
    *from = a;
    *to = b;
    return true;
}

static void xml_escape(char **buf, size_t *len, size_t *cap, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            rep = one;
            break;
        }
        size_t n = strlen(rep);
        if (*len + n + 1 > *cap) {
            *cap = (*cap + n + 1) * 2;
            *buf = x_realloc(*buf, *cap);
        }
        memcpy(*buf + *len, rep, n);
        *len += n;
        (*buf)[*len] = '\0';
    }
}

static void str_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*cap + n + 1) * 2;
        *buf = x_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* --- requests ------------------------------------------------------------------------------ */

typedef struct S3Call {
    const char *op; /* "PutObject", for messages */
    const char *method;
    const char *key; /* full key, or NULL for a bucket request */
    const SigV4Param *query;
    size_t query_count;
    const SigV4Header *headers;
    size_t header_count;
    const void *body;
    size_t body_size;
    const char *payload_hash; /* NULL: computed from the body */
    bool check_error_body;    /* CompleteMultipartUpload: a 200 may carry <Error> */
    size_t max_body;
} S3Call;

static char *s3_path(const S3 *s, const char *key)
{
    if (key == NULL)
        return x_strdup(*s->path_base ? s->path_base : "/");
    char *enc = sigv4_uri_encode(key, true);
    char *p = str_printf("%s/%s", s->path_base, enc);
    free(enc);
    return p;
}

static char *s3_where(const S3 *s, const char *key)
{
    return str_printf("s3://%s/%s", s->bucket, key != NULL ? key : "");
}

/* Turn an S3 error answer into err: operation, bucket and key, the server's code and message. */
static void s3_error(const S3 *s, const char *op, const char *key, const HttpResponse *resp,
                     Error *err)
{
    const char *b = resp->body != NULL ? resp->body : "";
    const char *end = b + resp->body_size;
    char *code = xml_get(b, end, "Code", NULL);
    char *message = xml_get(b, end, "Message", NULL);
    char *where = s3_where(s, key);
    long st = resp->status;
    if (code == NULL) /* HEAD answers carry no body */
        code = x_strdup(st == 404 ? "NotFound" : st == 403 ? "Forbidden" : "HTTP error");
    error_set(err, ERR_NET, "S3 %s %s: %s%s%s (HTTP %ld)", op, where, code, message ? ": " : "",
              message ? message : "", st);
    err->http_status = (int)st;
    err->retryable = http_status_retryable(st) || strcmp(code, "SlowDown") == 0 ||
                     strcmp(code, "RequestTimeout") == 0 || strcmp(code, "InternalError") == 0;
    if (strcmp(code, "NoSuchKey") == 0 || (st == 404 && strcmp(code, "NotFound") == 0)) {
        err->code = ERR_NOT_FOUND;
    } else if (strcmp(code, "NoSuchBucket") == 0) {
        err->code = ERR_USAGE;
        error_hint(err,
                   "the bucket '%s' does not exist at this endpoint; create it, or check "
                   "HFSYNC_REPO, the region and HFSYNC_S3_ENDPOINT",
                   s->bucket);
    } else if (strcmp(code, "SignatureDoesNotMatch") == 0 ||
               strcmp(code, "InvalidAccessKeyId") == 0) {
        err->code = ERR_USAGE;
        error_hint(err, "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or HFSYNC_S3_*) and "
                        "the region");
    } else if (strcmp(code, "AccessDenied") == 0 || strcmp(code, "Forbidden") == 0) {
        err->code = ERR_USAGE;
        error_hint(err, "the credentials have no access to %s; check the key's policy", where);
    } else if (strcmp(code, "RequestTimeTooSkewed") == 0) {
        error_hint(err, "this machine's clock is off by more than 15 minutes; fix the clock "
                        "(NTP)");
    } else if (strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
               strcmp(code, "PermanentRedirect") == 0) {
        err->code = ERR_USAGE;
        error_hint(err, "the bucket is in another region; set AWS_REGION to the bucket's region");
    }
    free(where);
    free(code);
    free(message);
}

/* Whether the answer refuses the request for its time (reference/s3-api.md §4.2). */
static bool s3_clock_error(const HttpResponse *resp)
{
    char *code = xml_get(resp->body, resp->body + resp->body_size, "Code", NULL);
    bool skew = code != NULL &&
                (strcmp(code, "RequestTimeTooSkewed") == 0 || strcmp(code, "RequestExpired") == 0 ||
                 strcmp(code, "RequestInTheFuture") == 0);
    free(code);
    return skew;
}

/* Learn the clock offset from the server's Date header; true when it is worth a retry. */
static bool s3_learn_skew(S3 *s, const HttpResponse *resp)
{
    const char *date = http_headers_get(&resp->headers, "Date");
    int64_t server = date != NULL ? http_parse_date(date) : -1;
    if (server <= 0)
        return false;
    pthread_mutex_lock(&s->skew_mu);
    int64_t old = s->skew_sec;
    s->skew_sec = server - time_now_ns() / 1000000000;
    bool changed = old != s->skew_sec;
    pthread_mutex_unlock(&s->skew_mu);
    if (changed)
        log_warn("S3: this machine's clock is %lld s off the server's; signing with the "
                 "server's time (fix the clock with NTP)",
                 (long long)(s->skew_sec));
    return changed;
}

static time_t s3_now(S3 *s)
{
    pthread_mutex_lock(&s->skew_mu);
    int64_t skew = s->skew_sec;
    pthread_mutex_unlock(&s->skew_mu);
    return (time_t)(time_now_ns() / 1000000000 + skew);
}

static bool s3_sign(S3 *s, const char *method, const char *path, const S3Call *c,
                    const char *payload_hash, HttpHeaders *hd, char **query, Error *err)
{
    SigV4Request r = {.method = method,
                      .host = s->host,
                      .path = path,
                      .query = c != NULL ? c->query : NULL,
                      .query_count = c != NULL ? c->query_count : 0,
                      .headers = c != NULL ? c->headers : NULL,
                      .header_count = c != NULL ? c->header_count : 0,
                      .payload_hash = payload_hash,
                      .time = s3_now(s)};
    SigV4Signed sg = {0};
    if (!sigv4_sign(s->sig, &r, &sg, err))
        return false;
    for (size_t i = 0; i < sg.line_count; i++) {
        hd->lines = x_realloc(hd->lines, (hd->count + 1) * sizeof(char *));
        hd->lines[hd->count++] = x_strdup(sg.lines[i]);
    }
    if (query != NULL)
        *query = x_strdup(sg.query != NULL ? sg.query : "");
    sigv4_signed_free(&sg);
    return true;
}

/* One S3 request with the retry policy: re-signed every attempt. On true the answer was 2xx. */
static bool s3_call(S3 *s, Http *http, const S3Call *c, HttpResponse *resp, Error *err)
{
    char hash[HASH_HEX_SIZE];
    const char *payload = c->payload_hash;
    if (payload == NULL && c->body != NULL) {
        hash_buffer_hex(HASH_SHA256, c->body, c->body_size, hash);
        payload = hash;
    }
    char *path = s3_path(s, c->key);
    char *where = s3_where(s, c->key);
    char *what = str_printf("S3 %s %s", c->op, where);
    HttpAttempt at;
    http_attempt_begin(&at, &s->retry);
    bool skew_retried = false;
    bool ok = false;
    memset(resp, 0, sizeof(*resp));
    for (;;) {
        HttpHeaders hd = {0};
        char *query = NULL;
        if (!s3_sign(s, c->method, path, c, payload, &hd, &query, err))
            break;
        char *url = str_printf("%s%s%s%s", s->origin, path, *query ? "?" : "", query);
        HttpRequest req = {.method = c->method,
                           .url = url,
                           .headers = &hd,
                           .body = c->body,
                           .body_size = c->body_size,
                           .max_body = c->max_body};
        http_response_free(resp);
        bool sent = http_request(http, &req, resp, err);
        free(url);
        free(query);
        http_headers_free(&hd);
        if (sent && resp->status >= 200 && resp->status < 300) {
            const char *b = resp->body != NULL ? resp->body : "";
            if (!c->check_error_body || memmem(b, resp->body_size, "<Error>", 7) == NULL) {
                ok = true;
                break;
            }
            s3_error(s, c->op, c->key, resp, err);
            err->retryable = true; /* InternalError and the like while assembling the object */
        } else if (sent) {
            s3_error(s, c->op, c->key, resp, err);
            if (s3_clock_error(resp) && !skew_retried && s3_learn_skew(s, resp)) {
                skew_retried = true;
                continue;
            }
        } else {
            error_prefix(err, "%s", what);
        }
        if (!http_attempt_retry(&at, what, sent ? &resp->headers : NULL, err))
            break;
    }
    free(what);
    free(where);
    free(path);
    return ok;
}

/* --- info, list, delete ------------------------------------------------------------------------
 */

static char *s3_key(const S3 *s, const char *path)
{
    return str_printf("%s%s", s->root, path);
}

static bool s3_info(Storage *st, const char *path, StorageInfo *info, Error *err)
{
    S3 *s = (S3 *)st;
    char *key = s3_key(s, path);
    S3Call c = {.op = "HeadObject", .method = "HEAD", .key = key};
    HttpResponse resp;
    bool ok = s3_call(s, s->http, &c, &resp, err);
    memset(info, 0, sizeof(*info));
    if (ok) {
        const char *len = http_headers_get(&resp.headers, "Content-Length");
        info->exists = true;
        info->size = len != NULL ? strtoull(len, NULL, 10) : 0;
    } else if (err->code == ERR_NOT_FOUND) {
        error_clear(err);
        ok = true;
    }
    http_response_free(&resp);
    free(key);
    return ok;
}

static bool s3_list(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err)
{
    S3 *s = (S3 *)st;
    char *key_prefix = s3_key(s, prefix);
    char *token = NULL;
    size_t root_len = strlen(s->root);
    bool ok = true;
    do {
        SigV4Param q[3] = {
            {"list-type", "2"}, {"prefix", key_prefix}, {"continuation-token", token}};
        S3Call c = {.op = "ListObjectsV2",
                    .method = "GET",
                    .query = q,
                    .query_count = token != NULL ? 3 : 2,
                    .max_body = 16u << 20};
        HttpResponse resp;
        ok = s3_call(s, s->http, &c, &resp, err);
        free(token);
        token = NULL;
        if (!ok) {
            http_response_free(&resp);
            break;
        }
        const char *p = resp.body, *end = resp.body + resp.body_size, *from, *to;
        while (xml_block(p, end, "Contents", &from, &to)) {
            char *k = xml_get(from, to, "Key", NULL);
            char *size = xml_get(from, to, "Size", NULL);
            if (k != NULL && strlen(k) > root_len && strncmp(k, s->root, root_len) == 0)
                fn(k + root_len, size != NULL ? strtoull(size, NULL, 10) : 0, ctx);
            free(k);
            free(size);
            p = to;
        }
        char *trunc = xml_get(resp.body, end, "IsTruncated", NULL);
        if (trunc != NULL && strcmp(trunc, "true") == 0) {
            token = xml_get(resp.body, end, "NextContinuationToken", NULL);
            if (token == NULL || *token == '\0')
                ok = error_set(err, ERR_NET,
                               "S3 ListObjectsV2 s3://%s/%s: a truncated listing "
                               "without a continuation token",
                               s->bucket, key_prefix);
        }
        free(trunc);
        http_response_free(&resp);
    } while (ok && token != NULL);
    free(token);
    free(key_prefix);
    return ok;
}

static bool s3_remove(Storage *st, const char *path, Error *err)
{
    S3 *s = (S3 *)st;
    char *key = s3_key(s, path);
    S3Call c = {.op = "DeleteObject", .method = "DELETE", .key = key};
    HttpResponse resp;
    bool ok = s3_call(s, s->http, &c, &resp, err);
    if (!ok && err->code == ERR_NOT_FOUND) {
        error_clear(err);
        ok = true;
    }
    http_response_free(&resp);
    free(key);
    return ok;
}

static void s3_md5_b64(const void *data, size_t size, char out[32])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, size, md, &n, EVP_md5(), NULL);
    http_base64(md, n, out);
}

/* DeleteObjects in batches of 1000 keys, with Content-MD5; every key the service could not
 * delete is reported. */
static bool s3_remove_many(Storage *st, const char *const *paths, size_t count, Error *err)
{
    S3 *s = (S3 *)st;
    for (size_t first = 0; first < count; first += S3_DELETE_BATCH) {
        size_t n = count - first < S3_DELETE_BATCH ? count - first : S3_DELETE_BATCH;
        char *body = NULL;
        size_t len = 0, cap = 0;
        str_append(&body, &len, &cap,
                   "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
        for (size_t i = 0; i < n; i++) {
            char *key = s3_key(s, paths[first + i]);
            str_append(&body, &len, &cap, "<Object><Key>");
            xml_escape(&body, &len, &cap, key);
            str_append(&body, &len, &cap, "</Key></Object>");
            free(key);
        }
        str_append(&body, &len, &cap, "</Delete>");
        char md5[32];
        s3_md5_b64(body, len, md5);
        SigV4Param q[1] = {{"delete", NULL}};
        SigV4Header h[2] = {{"Content-MD5", md5}, {"Content-Type", "application/xml"}};
        S3Call c = {.op = "DeleteObjects",
                    .method = "POST",
                    .query = q,
                    .query_count = 1,
                    .headers = h,
                    .header_count = 2,
                    .body = body,
                    .body_size = len,
                    .max_body = 16u << 20};
        HttpResponse resp;
        bool ok = s3_call(s, s->http, &c, &resp, err);
        free(body);
        if (ok) {
            /* Quiet mode: only failures are listed. */
            const char *p = resp.body, *end = resp.body + resp.body_size, *from, *to;
            size_t failed = 0;
            char first_msg[512] = "";
            while (xml_block(p, end, "Error", &from, &to)) {
                char *k = xml_get(from, to, "Key", NULL);
                char *code = xml_get(from, to, "Code", NULL);
                char *msg = xml_get(from, to, "Message", NULL);
                log_error("S3 DeleteObjects s3://%s/%s: %s: %s", s->bucket, k ? k : "?",
                          code ? code : "?", msg ? msg : "");
                if (failed++ == 0)
                    snprintf(first_msg, sizeof(first_msg), "%s: %s", k ? k : "?",
                             code ? code : "?");
                free(k);
                free(code);
                free(msg);
                p = to;
            }
            if (failed > 0)
                ok = error_set(err, ERR_NET,
                               "S3 DeleteObjects s3://%s: %zu of %zu keys were not deleted "
                               "(first: %s)",
                               s->bucket, failed, n, first_msg);
        }
        http_response_free(&resp);
        if (!ok)
            return false;
    }
    return true;
}

/* --- conditional writes (the pointer) ----------------------------------------------------------
 */

static bool s3_get_tagged(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                          char **tag, Error *err)
{
    S3 *s = (S3 *)st;
    char *key = s3_key(s, path);
    S3Call c = {.op = "GetObject", .method = "GET", .key = key, .max_body = max_size};
    HttpResponse resp;
    bool ok = s3_call(s, s->http, &c, &resp, err);
    if (ok) {
        const char *etag = http_headers_get(&resp.headers, "ETag");
        *tag = etag != NULL ? x_strdup(etag) : NULL;
        *data = resp.body;
        if (size != NULL)
            *size = resp.body_size;
        resp.body = NULL;
    }
    http_response_free(&resp);
    free(key);
    return ok;
}

/* PutObject with If-Match (or If-None-Match: * when the object must not exist). */
static bool s3_put_if(Storage *st, const char *path, const void *data, size_t size, const char *tag,
                      bool *unsupported, Error *err)
{
    S3 *s = (S3 *)st;
    char *key = s3_key(s, path);
    char md5[32];
    s3_md5_b64(data, size, md5);
    SigV4Header h[2] = {{"Content-MD5", md5},
                        {tag != NULL ? "If-Match" : "If-None-Match", tag != NULL ? tag : "*"}};
    S3Call c = {.op = "PutObject",
                .method = "PUT",
                .key = key,
                .headers = h,
                .header_count = 2,
                .body = size > 0 ? data : "",
                .body_size = size};
    HttpResponse resp;
    bool ok = s3_call(s, s->http, &c, &resp, err);
    if (!ok) {
        char *code = xml_get(resp.body != NULL ? resp.body : "",
                             (resp.body != NULL ? resp.body : "") + resp.body_size, "Code", NULL);
        if (resp.status == 412 || resp.status == 409 || (tag != NULL && resp.status == 404)) {
            err->code = ERR_CONFLICT;
            error_hint(err, "another writer changed s3://%s/%s since it was read", s->bucket, key);
        } else if (resp.status == 501 || (code != NULL && (strcmp(code, "NotImplemented") == 0 ||
                                                           strcmp(code, "InvalidArgument") == 0))) {
            *unsupported = true;
        }
        free(code);
    }
    http_response_free(&resp);
    free(key);
    return ok;
}

/* --- reads ------------------------------------------------------------------------------------ */

typedef struct S3Read {
    Reader base;
    S3 *s;
    char *key;
    char *path;
} S3Read;

static bool s3_read_prepare(void *ctx, const char *method, const char *url, HttpHeaders *hd,
                            Error *err)
{
    (void)url;
    S3Read *r = ctx;
    const char *range = http_headers_get(hd, "Range");
    char *range_copy = range != NULL ? x_strdup(range) : NULL;
    http_headers_free(hd);
    SigV4Header h[1] = {{"Range", range_copy}};
    S3Call c = {.headers = h, .header_count = range_copy != NULL ? 1 : 0};
    bool ok = s3_sign(r->s, method, r->path, &c, NULL, hd, NULL, err);
    free(range_copy);
    return ok;
}

static void s3_read_fail(void *ctx, const HttpResponse *resp, Error *err)
{
    S3Read *r = ctx;
    s3_error(r->s, "GetObject", r->key, resp, err);
    /* As in s3_call: the next attempt is signed with the server's time. A second refusal with
     * the same offset learns nothing new and is not retried. */
    if (s3_clock_error(resp) && s3_learn_skew(r->s, resp))
        err->retryable = true;
}

static ssize_t s3_read_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    return reader_read(reader->next, buf, cap, err);
}

static void s3_read_free(Reader *reader)
{
    S3Read *r = (S3Read *)reader;
    reader_free(reader->next);
    free(r->key);
    free(r->path);
    free(r);
}

static const ReaderOps s3_read_ops = {s3_read_read, s3_read_free};

static Reader *s3_read_open(Storage *st, const char *path, uint64_t offset, Error *err)
{
    S3 *s = (S3 *)st;
    S3Read *r = x_calloc(1, sizeof(*r));
    r->base.ops = &s3_read_ops;
    r->s = s;
    r->key = s3_key(s, path);
    r->path = s3_path(s, r->key);
    char *url = str_printf("%s%s", s->origin, r->path);
    r->base.next =
        http_get_reader(&s->hs, url, offset, &s->retry, s3_read_prepare, s3_read_fail, r, err);
    free(url);
    if (r->base.next == NULL) {
        free(r->key);
        free(r->path);
        free(r);
        return NULL;
    }
    return &r->base;
}

/* --- writes ----------------------------------------------------------------------------------- */

typedef struct S3Job {
    uint8_t *buf;
    size_t len;
    int number;
} S3Job;

typedef struct S3Write {
    Sink base;
    S3 *s;
    char *key;
    Http *http;
    uint8_t *cur;
    size_t cur_len, cur_cap;
    char *upload_id;
    int parts; /* parts submitted */

    /* The part uploaders. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    int nthreads;
    S3Job *queue; /* parts waiting for an uploader */
    int queued, in_flight;
    uint8_t **spare; /* part buffers not in use */
    int nspare, nbufs;
    char **etags; /* per part number - 1 */
    bool failed, stop, done;
    Error fail_err;
} S3Write;

static bool s3_upload_part(S3Write *w, Http *http, const S3Job *j, char **etag, Error *err)
{
    char md5[32], num[16];
    s3_md5_b64(j->buf, j->len, md5);
    snprintf(num, sizeof(num), "%d", j->number);
    SigV4Param q[2] = {{"partNumber", num}, {"uploadId", w->upload_id}};
    SigV4Header h[1] = {{"Content-MD5", md5}};
    S3Call c = {.op = "UploadPart",
                .method = "PUT",
                .key = w->key,
                .query = q,
                .query_count = 2,
                .headers = h,
                .header_count = 1,
                .body = j->buf,
                .body_size = j->len};
    HttpResponse resp;
    bool ok = s3_call(w->s, http, &c, &resp, err);
    if (ok) {
        const char *e = http_headers_get(&resp.headers, "ETag");
        if (e == NULL)
            ok = error_set(err, ERR_NET, "S3 UploadPart s3://%s/%s part %d: no ETag in the answer",
                           w->s->bucket, w->key, j->number);
        else
            *etag = x_strdup(e);
    } else {
        error_prefix(err, "part %d", j->number);
    }
    http_response_free(&resp);
    return ok;
}

static void *s3_uploader(void *arg)
{
    S3Write *w = arg;
    Error err = {0};
    Http *http = http_new(&w->s->hs, &err);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queued == 0 && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->queued == 0 && w->stop)
            break;
        S3Job j = w->queue[0];
        memmove(w->queue, w->queue + 1, (size_t)(w->queued - 1) * sizeof(S3Job));
        w->queued--;
        w->in_flight++;
        bool skip = w->failed;
        pthread_mutex_unlock(&w->mu);

        char *etag = NULL;
        bool ok = skip || (http != NULL && s3_upload_part(w, http, &j, &etag, &err));
        if (http == NULL && !skip)
            ok = false;

        pthread_mutex_lock(&w->mu);
        if (!ok && !w->failed) {
            w->failed = true;
            w->fail_err = err;
        }
        w->etags[j.number - 1] = etag;
        w->spare[w->nspare++] = j.buf;
        w->in_flight--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    http_free(http);
    return NULL;
}

static bool s3_create_upload(S3Write *w, Error *err)
{
    SigV4Param q[1] = {{"uploads", NULL}};
    S3Call c = {.op = "CreateMultipartUpload",
                .method = "POST",
                .key = w->key,
                .query = q,
                .query_count = 1};
    HttpResponse resp;
    bool ok = s3_call(w->s, w->http, &c, &resp, err);
    if (ok) {
        w->upload_id = xml_get(resp.body, resp.body + resp.body_size, "UploadId", NULL);
        if (w->upload_id == NULL || *w->upload_id == '\0')
            ok = error_set(err, ERR_NET,
                           "S3 CreateMultipartUpload s3://%s/%s: no UploadId in "
                           "the answer",
                           w->s->bucket, w->key);
    }
    http_response_free(&resp);
    if (!ok)
        return false;
    int n = w->s->parallel;
    w->etags = x_calloc(S3_MAX_PARTS, sizeof(char *));
    w->queue = x_calloc((size_t)n + 1, sizeof(S3Job));
    w->nbufs = n + 1;
    w->spare = x_calloc((size_t)w->nbufs, sizeof(uint8_t *));
    w->threads = x_calloc((size_t)n, sizeof(pthread_t));
    for (int i = 0; i < n; i++) {
        if (pthread_create(&w->threads[i], NULL, s3_uploader, w) != 0)
            break;
        w->nthreads++;
    }
    if (w->nthreads == 0)
        return error_set(err, ERR_FAIL, "cannot start upload threads");
    return true;
}

/* Hand the full current buffer to the uploaders and take a spare one to go on filling. */
static bool s3_submit(S3Write *w, bool last, Error *err)
{
    if (w->upload_id == NULL && !s3_create_upload(w, err))
        return false;
    if (w->parts >= S3_MAX_PARTS)
        return error_set(err, ERR_USAGE,
                         "S3 s3://%s/%s: more than %d parts; raise "
                         "HFSYNC_S3_PART_SIZE",
                         w->s->bucket, w->key, S3_MAX_PARTS);
    pthread_mutex_lock(&w->mu);
    w->queue[w->queued++] = (S3Job){w->cur, w->cur_len, ++w->parts};
    pthread_cond_broadcast(&w->cv);
    w->cur = NULL;
    w->cur_cap = w->cur_len = 0;
    /* At most `parallel` parts queued or uploading while the next one fills. */
    while (!last && w->nspare == 0 && w->queued + w->in_flight >= w->nbufs - 1 && !w->failed)
        pthread_cond_wait(&w->cv, &w->mu);
    if (!last && w->nspare > 0)
        w->cur = w->spare[--w->nspare];
    bool failed = w->failed;
    if (failed)
        *err = w->fail_err;
    pthread_mutex_unlock(&w->mu);
    if (failed || last)
        return !failed;
    if (w->cur == NULL)
        w->cur = x_malloc(w->s->part_size);
    w->cur_cap = w->s->part_size;
    w->cur_len = 0;
    return true;
}

static bool s3_write_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    S3Write *w = (S3Write *)sink;
    uint64_t part = w->s->part_size;
    while (size > 0) {
        if (w->cur_len == part && !s3_submit(w, false, err))
            return false;
        if (w->cur_len == w->cur_cap) {
            size_t want = w->cur_cap * 4 < part ? w->cur_cap * 4 : part;
            w->cur = x_realloc(w->cur, want);
            w->cur_cap = want;
        }
        size_t n = w->cur_cap - w->cur_len;
        if (n > size)
            n = size;
        memcpy(w->cur + w->cur_len, data, n);
        w->cur_len += n;
        data += n;
        size -= n;
    }
    return true;
}

static void s3_stop_uploaders(S3Write *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
}

static void s3_abort(S3Write *w)
{
    if (w->upload_id == NULL)
        return;
    SigV4Param q[1] = {{"uploadId", w->upload_id}};
    S3Call c = {.op = "AbortMultipartUpload",
                .method = "DELETE",
                .key = w->key,
                .query = q,
                .query_count = 1};
    HttpResponse resp;
    Error err = {0};
    if (!s3_call(w->s, w->http, &c, &resp, &err) && err.code != ERR_NOT_FOUND)
        log_warn("%s (the parts stay billed until a lifecycle rule removes them)", err.msg);
    http_response_free(&resp);
    free(w->upload_id);
    w->upload_id = NULL;
}

static bool s3_complete(S3Write *w, Error *err)
{
    char *body = NULL;
    size_t len = 0, cap = 0;
    str_append(&body, &len, &cap,
               "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (int i = 0; i < w->parts; i++) {
        char part[64];
        snprintf(part, sizeof(part), "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        str_append(&body, &len, &cap, part);
        xml_escape(&body, &len, &cap, w->etags[i]);
        str_append(&body, &len, &cap, "</ETag></Part>");
    }
    str_append(&body, &len, &cap, "</CompleteMultipartUpload>");
    SigV4Param q[1] = {{"uploadId", w->upload_id}};
    SigV4Header h[1] = {{"Content-Type", "application/xml"}};
    S3Call c = {.op = "CompleteMultipartUpload",
                .method = "POST",
                .key = w->key,
                .query = q,
                .query_count = 1,
                .headers = h,
                .header_count = 1,
                .body = body,
                .body_size = len,
                .check_error_body = true};
    HttpResponse resp;
    bool ok = s3_call(w->s, w->http, &c, &resp, err);
    http_response_free(&resp);
    free(body);
    return ok;
}

static bool s3_put(S3Write *w, Error *err)
{
    char md5[32];
    s3_md5_b64(w->cur, w->cur_len, md5);
    SigV4Header h[1] = {{"Content-MD5", md5}};
    S3Call c = {.op = "PutObject",
                .method = "PUT",
                .key = w->key,
                .headers = h,
                .header_count = 1,
                .body = w->cur != NULL ? w->cur : (const uint8_t *)"",
                .body_size = w->cur_len};
    HttpResponse resp;
    bool ok = s3_call(w->s, w->http, &c, &resp, err);
    http_response_free(&resp);
    return ok;
}

static bool s3_write_finish(Sink *sink, Error *err)
{
    S3Write *w = (S3Write *)sink;
    if (w->upload_id == NULL) {
        if (!s3_put(w, err))
            return false;
        w->done = true;
        return true;
    }
    if (w->cur_len > 0 && !s3_submit(w, true, err))
        return false;
    pthread_mutex_lock(&w->mu);
    while ((w->queued > 0 || w->in_flight > 0) && !w->failed)
        pthread_cond_wait(&w->cv, &w->mu);
    bool failed = w->failed;
    if (failed)
        *err = w->fail_err;
    pthread_mutex_unlock(&w->mu);
    if (failed)
        return false;
    s3_stop_uploaders(w);
    if (!s3_complete(w, err))
        return false;
    w->done = true;
    return true;
}

static void s3_write_free(Sink *sink)
{
    S3Write *w = (S3Write *)sink;
    s3_stop_uploaders(w);
    if (!w->done)
        s3_abort(w);
    for (int i = 0; i < w->nspare; i++)
        free(w->spare[i]);
    for (int i = 0; i < w->queued; i++)
        free(w->queue[i].buf);
    if (w->etags != NULL)
        for (int i = 0; i < w->parts; i++)
            free(w->etags[i]);
    free(w->etags);
    free(w->spare);
    free(w->queue);
    free(w->threads);
    free(w->cur);
    free(w->upload_id);
    http_free(w->http);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->key);
    free(w);
}

static const SinkOps s3_write_ops = {s3_write_write, s3_write_finish, s3_write_free};

static Sink *s3_write_open(Storage *st, const char *path, Error *err)
{
    S3 *s = (S3 *)st;
    S3Write *w = x_calloc(1, sizeof(*w));
    w->base.ops = &s3_write_ops;
    w->s = s;
    w->key = s3_key(s, path);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->http = http_new(&s->hs, err);
    if (w->http == NULL) {
        s3_write_free(&w->base);
        return NULL;
    }
    w->cur_cap = S3_FIRST_BUF < s->part_size ? S3_FIRST_BUF : s->part_size;
    w->cur = x_malloc(w->cur_cap);
    return &w->base;
}

/* --- open ---------------------------------------------------------------------------------- */

static char *s3_describe(Storage *st, const char *path)
{
    S3 *s = (S3 *)st;
    return str_printf("s3://%s/%s%s", s->bucket, s->root, path);
}

static void s3_free(Storage *st)
{
    S3 *s = (S3 *)st;
    sigv4_free(s->sig);
    http_free(s->http);
    pthread_mutex_destroy(&s->skew_mu);
    free(s->bucket);
    free(s->root);
    free(s->origin);
    free(s->host);
    free(s->path_base);
    free(s->ca_bundle);
    free(s);
}

static const StorageDriver s3_driver = {
    .scheme = "s3",
    .write_open = s3_write_open,
    .read_open = s3_read_open,
    .info = s3_info,
    .list = s3_list,
    .remove = s3_remove,
    .remove_many = s3_remove_many,
    .get_tagged = s3_get_tagged,
    .put_if = s3_put_if,
    .describe = s3_describe,
    .free = s3_free,
};

void storage_s3_set_retry(Storage *st, const HttpRetry *policy)
{
    if (st->driver == &s3_driver)
        ((S3 *)st)->retry = *policy;
}

Storage *storage_s3_open(const Config *cfg, const Target *target, Error *err)
{
    static const S3Config none = {.path_style = -1, .part_size = 8u << 20, .parallel = 4};
    const S3Config *c = cfg != NULL ? &cfg->s3 : &none;
    if (c->access_key == NULL || c->secret_key == NULL) {
        error_set(err, ERR_USAGE, "target '%s': no S3 credentials", target->url);
        error_hint(err, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                        "HFSYNC_S3_ACCESS_KEY_ID and HFSYNC_S3_SECRET_ACCESS_KEY)");
        return NULL;
    }
    S3 *s = x_calloc(1, sizeof(*s));
    s->base.driver = &s3_driver;
    pthread_mutex_init(&s->skew_mu, NULL);
    s->bucket = x_strdup(target->bucket);
    s->root = *target->path ? str_printf("%s/", target->path) : x_strdup("");
    const char *region = c->region != NULL ? c->region : "us-east-1";
    bool path_style = c->path_style == 1 || (c->path_style == -1 && c->endpoint != NULL) ||
                      strchr(s->bucket, '.') != NULL;
    if (c->endpoint != NULL) {
        const char *sep = strstr(c->endpoint, "://");
        const char *host = sep != NULL ? sep + 3 : c->endpoint;
        size_t scheme_len = (size_t)(host - c->endpoint);
        if (path_style) {
            s->origin = x_strdup(c->endpoint);
            s->host = x_strdup(host);
        } else {
            s->origin = str_printf("%.*s%s.%s", (int)scheme_len, c->endpoint, s->bucket, host);
            s->host = str_printf("%s.%s", s->bucket, host);
        }
    } else if (path_style) {
        s->host = str_printf("s3.%s.amazonaws.com", region);
        s->origin = str_printf("https://%s", s->host);
    } else {
        s->host = str_printf("%s.s3.%s.amazonaws.com", s->bucket, region);
        s->origin = str_printf("https://%s", s->host);
    }
    s->path_base = path_style ? str_printf("/%s", s->bucket) : x_strdup("");
    SigV4Creds creds = {c->access_key, c->secret_key, c->session_token};
    s->sig = sigv4_new(&creds, region, "s3", err);
    s->ca_bundle = cfg != NULL && cfg->ca_bundle != NULL ? x_strdup(cfg->ca_bundle) : NULL;
    s->hs.ca_bundle = s->ca_bundle;
    s->retry = (HttpRetry)HTTP_RETRY_DEFAULT;
    s->parallel = c->parallel > 0 ? c->parallel : 4;
    s->part_size = c->part_size > 0 ? c->part_size : (8u << 20);
    /* The largest volume must fit in 10,000 parts. */
    uint64_t volume = cfg != NULL ? cfg->volume_size : 0;
    if (volume / S3_MAX_PARTS + 1 > s->part_size)
        s->part_size = volume / S3_MAX_PARTS + 1;
    if (s->sig == NULL || (s->http = http_new(&s->hs, err)) == NULL) {
        s3_free(&s->base);
        return NULL;
    }
    log_debug("S3: %s, bucket %s, %s-style, region %s, parts of %llu bytes, %d at once", s->origin,
              s->bucket, path_style ? "path" : "virtual-hosted", region,
              (unsigned long long)s->part_size, s->parallel);
    return &s->base;
}
