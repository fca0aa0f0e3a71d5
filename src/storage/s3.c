/*
 * s3:// backend: any S3-compatible service over SigV4 (reference/s3-api.md). This file signs and
 * sends requests (with the retry policy and clock-skew correction), reads (streamed through
 * http_get_reader(), which resumes a broken download with Range), lists, deletes in batches,
 * writes the pointer conditionally, and opens the driver. Uploads are in s3_write.c.
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
#include "s3.intern.h"

/* --- requests ------------------------------------------------------------------------------ */

char *s3_path(const S3 *s, const char *key)
{
    if (key == NULL)
        return x_strdup(*s->path_base ? s->path_base : "/");
    char *enc = sigv4_uri_encode(key, true);
    char *p = str_printf("%s/%s", s->path_base, enc);
    free(enc);
    return p;
}

char *s3_where(const S3 *s, const char *key)
{
    return str_printf("s3://%s/%s", s->bucket, key != NULL ? key : "");
}

char *s3_what(const S3 *s, const char *op, const char *key, int part)
{
    char *where = s3_where(s, key);
    char *what = part > 0 ? str_printf("S3 %s %s part %d", op, where, part)
                          : str_printf("S3 %s %s", op, where);
    free(where);
    return what;
}

bool s3_code_retryable(const char *code)
{
    /* S3's own (reference/s3-api.md §4.2) and the throttling codes S3-compatible services
     * answer with (botocore's standard retry mode, §4.3). */
    static const char *const codes[] = {
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequestsException",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "BandwidthLimitExceeded",
        "RequestLimitExceeded",
    };
    for (size_t i = 0; code != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

/* Turn an S3 error answer into err: operation, bucket and key, the server's code and message. */
void s3_error(const S3 *s, const char *op, const char *key, int part, const HttpResponse *resp,
              Error *err)
{
    const char *b = resp->body != NULL ? resp->body : "";
    const char *end = b + resp->body_size;
    char *code = s3_xml_get(b, end, "Code", NULL);
    char *message = s3_xml_get(b, end, "Message", NULL);
    char *where = s3_where(s, key);
    char *what = s3_what(s, op, key, part);
    long st = resp->status;
    if (code == NULL) /* HEAD answers carry no body */
        code = x_strdup(st == 404 ? "NotFound" : st == 403 ? "Forbidden" : "HTTP error");
    error_set(err, ERR_NET, "%s: %s%s%s (HTTP %ld)", what, code, message ? ": " : "",
              message ? message : "", st);
    free(what);
    err->http_status = (int)st;
    err->retryable = http_status_retryable(st) || s3_code_retryable(code);
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
    char *code = s3_xml_get(resp->body, resp->body + resp->body_size, "Code", NULL);
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
bool s3_call(S3 *s, Http *http, const S3Call *c, HttpResponse *resp, Error *err)
{
    char hash[HASH_HEX_SIZE];
    const char *payload = c->payload_hash;
    if (payload == NULL && c->body != NULL) {
        hash_buffer_hex(HASH_SHA256, c->body, c->body_size, hash);
        payload = hash;
    }
    char *path = s3_path(s, c->key);
    char *what = s3_what(s, c->op, c->key, c->part);
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
            s3_error(s, c->op, c->key, c->part, resp, err);
            err->retryable = true; /* InternalError and the like while assembling the object */
        } else if (sent) {
            s3_error(s, c->op, c->key, c->part, resp, err);
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
    free(path);
    return ok;
}

/* --- info, list, delete ------------------------------------------------------------------------
 */

char *s3_key(const S3 *s, const char *path)
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
        while (s3_xml_block(p, end, "Contents", &from, &to)) {
            char *k = s3_xml_get(from, to, "Key", NULL);
            char *size = s3_xml_get(from, to, "Size", NULL);
            if (k != NULL && strlen(k) > root_len && strncmp(k, s->root, root_len) == 0)
                fn(k + root_len, size != NULL ? strtoull(size, NULL, 10) : 0, ctx);
            free(k);
            free(size);
            p = to;
        }
        char *trunc = s3_xml_get(resp.body, end, "IsTruncated", NULL);
        if (trunc != NULL && strcmp(trunc, "true") == 0) {
            token = s3_xml_get(resp.body, end, "NextContinuationToken", NULL);
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

void s3_md5_b64(const void *data, size_t size, char out[32])
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
        s3_buf_append(
            &body, &len, &cap,
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
        for (size_t i = 0; i < n; i++) {
            char *key = s3_key(s, paths[first + i]);
            s3_buf_append(&body, &len, &cap, "<Object><Key>");
            s3_xml_escape(&body, &len, &cap, key);
            s3_buf_append(&body, &len, &cap, "</Key></Object>");
            free(key);
        }
        s3_buf_append(&body, &len, &cap, "</Delete>");
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
            while (s3_xml_block(p, end, "Error", &from, &to)) {
                char *k = s3_xml_get(from, to, "Key", NULL);
                char *code = s3_xml_get(from, to, "Code", NULL);
                char *msg = s3_xml_get(from, to, "Message", NULL);
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
        char *code =
            s3_xml_get(resp.body != NULL ? resp.body : "",
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
    s3_error(r->s, "GetObject", r->key, 0, resp, err);
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
    .list_uploads = s3_list_uploads,
    .abort_upload = s3_abort_upload,
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
    atomic_init(&s->part_sum, S3_SUM_PROBE);
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
    s->hs.stall_timeout_sec = cfg != NULL ? (long)cfg->retry.stall_sec : 0;
    s->retry = (HttpRetry)HTTP_RETRY_DEFAULT;
    if (cfg != NULL && cfg->retry.tries > 0)
        s->retry = (HttpRetry){cfg->retry.tries, cfg->retry.base_ms, cfg->retry.cap_ms,
                               cfg->retry.budget_ms};
    s->parallel = c->parallel > 0 ? c->parallel : 4;
    s->part_size = c->part_size > 0 ? c->part_size : (8u << 20);
    /* The largest volume must fit in 10,000 parts. */
    /* HFSYNC_VOLUME_SIZE=auto: the largest the strategy may choose. */
    uint64_t volume = cfg == NULL            ? 0
                      : cfg->volume_size > 0 ? cfg->volume_size
                                             : cfg->strategy.volume_max;
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
