/*
 * s3:// writes: an object that fits one part goes up with one PutObject; a larger one becomes a
 * multipart upload whose parts are uploaded by HFSYNC_S3_PARALLEL threads while the next part
 * fills. CompleteMultipartUpload's body is checked for an error under a 200; a failed or
 * abandoned upload is aborted, so no partial object ever appears under its name.
 *
 * Integrity (reference/s3-api.md §2.6 "Checksums"): every part is hashed once with SHA-256, whose
 * hex signs the payload (x-amz-content-sha256) and whose base64 is sent as x-amz-checksum-sha256
 * and repeated as <ChecksumSHA256> in Complete, the upload having been created with
 * x-amz-checksum-algorithm: SHA256. A service that refuses that header at Create (400/501) or
 * accepts it without answering it back (so would not check the parts) gets Content-MD5 on every
 * part instead, which costs a second hash of the bytes. The first multipart upload of an S3
 * handle learns which (S3.part_sum); later ones use the answer. PutObject keeps Content-MD5: it
 * is universal and its objects are small.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hfsync/hash.h"
#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "s3.intern.h"

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
    char **etags;   /* per part number - 1 */
    char **sums;    /* base64 SHA-256 per part number - 1, with x-amz-checksum-sha256 */
    bool sha_parts; /* parts carry x-amz-checksum-sha256 (else Content-MD5) */
    bool failed, stop, done;
    Error fail_err;
} S3Write;

static void s3_hex(const uint8_t *md, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * size] = '\0';
}

/* One part: its SHA-256, computed once, signs the payload and (base64) is the checksum header. */
static bool s3_upload_part(S3Write *w, Http *http, const S3Job *j, char **etag, char **sum,
                           Error *err)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(j->buf, j->len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return error_set(err, ERR_FAIL, "S3 UploadPart s3://%s/%s part %d: SHA-256 failed",
                         w->s->bucket, w->key, j->number);
    char hex[HASH_HEX_SIZE], b64[48], md5[32], num[16];
    s3_hex(md, md_len, hex);
    snprintf(num, sizeof(num), "%d", j->number);
    SigV4Param q[2] = {{"partNumber", num}, {"uploadId", w->upload_id}};
    /* With the checksum, the algorithm header the SDKs send too: S3 takes either it or
     * Content-MD5 as the integrity header some buckets (Object Lock) require. */
    SigV4Header h[2] = {{"x-amz-checksum-sha256", b64}, {"x-amz-sdk-checksum-algorithm", "SHA256"}};
    size_t nh = 2;
    if (w->sha_parts) {
        http_base64(md, md_len, b64);
    } else {
        s3_md5_b64(j->buf, j->len, md5);
        h[0] = (SigV4Header){"Content-MD5", md5};
        nh = 1;
    }
    S3Call c = {.op = "UploadPart",
                .method = "PUT",
                .key = w->key,
                .part = j->number,
                .query = q,
                .query_count = 2,
                .headers = h,
                .header_count = nh,
                .body = j->buf,
                .body_size = j->len,
                .payload_hash = hex};
    HttpResponse resp;
    bool ok = s3_call(w->s, http, &c, &resp, err);
    if (ok) {
        const char *e = http_headers_get(&resp.headers, "ETag");
        if (e == NULL) {
            ok = error_set(err, ERR_NET, "S3 UploadPart s3://%s/%s part %d: no ETag in the answer",
                           w->s->bucket, w->key, j->number);
        } else {
            *etag = x_strdup(e);
            *sum = w->sha_parts ? x_strdup(b64) : NULL;
        }
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

        char *etag = NULL, *sum = NULL;
        bool ok = skip || (http != NULL && s3_upload_part(w, http, &j, &etag, &sum, &err));
        if (http == NULL && !skip)
            ok = false;

        pthread_mutex_lock(&w->mu);
        if (!ok && !w->failed) {
            w->failed = true;
            w->fail_err = err;
        }
        w->etags[j.number - 1] = etag;
        w->sums[j.number - 1] = sum;
        w->spare[w->nspare++] = j.buf;
        w->in_flight--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    http_free(http);
    return NULL;
}

/* Whether a CreateMultipartUpload refusal is about the checksum algorithm we asked for: a service
 * without additional checksums answers 501, or 400 naming the header as invalid. */
static bool s3_algorithm_refused(const HttpResponse *resp)
{
    if (resp->status == 501)
        return true;
    if (resp->status != 400)
        return false;
    char *code = s3_xml_get(resp->body, resp->body + resp->body_size, "Code", NULL);
    bool refused = code != NULL &&
                   (strcmp(code, "InvalidArgument") == 0 || strcmp(code, "InvalidRequest") == 0 ||
                    strcmp(code, "NotImplemented") == 0);
    free(code);
    return refused;
}

/* Whether the Create answer says the upload will check SHA-256 checksums: AWS and moto send the
 * x-amz-checksum-algorithm header back; some services put <ChecksumAlgorithm> in the body. */
static bool s3_algorithm_accepted(const HttpResponse *resp)
{
    const char *h = http_headers_get(&resp->headers, "x-amz-checksum-algorithm");
    if (h != NULL)
        return strcasecmp(h, "SHA256") == 0;
    char *b = s3_xml_get(resp->body, resp->body + resp->body_size, "ChecksumAlgorithm", NULL);
    bool ok = b != NULL && strcasecmp(b, "SHA256") == 0;
    free(b);
    return ok;
}

static bool s3_create_call(S3Write *w, bool sha, HttpResponse *resp, Error *err)
{
    SigV4Param q[1] = {{"uploads", NULL}};
    SigV4Header h[1] = {{"x-amz-checksum-algorithm", "SHA256"}};
    S3Call c = {.op = "CreateMultipartUpload",
                .method = "POST",
                .key = w->key,
                .query = q,
                .query_count = 1,
                .headers = h,
                .header_count = sha ? 1 : 0};
    return s3_call(w->s, w->http, &c, resp, err);
}

/* Create the upload, asking for SHA-256 part checksums unless this handle learnt they are not
 * supported; learn it from the first answer. */
static bool s3_create_begin(S3Write *w, HttpResponse *resp, Error *err)
{
    S3 *s = w->s;
    int known = atomic_load(&s->part_sum);
    if (known == S3_SUM_MD5) {
        w->sha_parts = false;
        return s3_create_call(w, false, resp, err);
    }
    bool ok = s3_create_call(w, true, resp, err);
    if (!ok && s3_algorithm_refused(resp)) {
        log_debug("S3 s3://%s: CreateMultipartUpload refused x-amz-checksum-algorithm (%s); "
                  "parts carry Content-MD5",
                  s->bucket, err->msg);
        atomic_store(&s->part_sum, S3_SUM_MD5);
        error_clear(err);
        http_response_free(resp);
        w->sha_parts = false;
        return s3_create_call(w, false, resp, err);
    }
    if (!ok)
        return false;
    w->sha_parts = s3_algorithm_accepted(resp);
    int learnt = w->sha_parts ? S3_SUM_SHA256 : S3_SUM_MD5;
    if (known == S3_SUM_PROBE && atomic_exchange(&s->part_sum, learnt) == S3_SUM_PROBE)
        log_debug("S3 s3://%s: %s", s->bucket,
                  w->sha_parts ? "parts carry x-amz-checksum-sha256 (the signed payload hash)"
                               : "CreateMultipartUpload did not answer x-amz-checksum-algorithm "
                                 "back; parts carry Content-MD5");
    return true;
}

static bool s3_create_upload(S3Write *w, Error *err)
{
    HttpResponse resp;
    bool ok = s3_create_begin(w, &resp, err);
    if (ok) {
        w->upload_id = s3_xml_get(resp.body, resp.body + resp.body_size, "UploadId", NULL);
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
    w->sums = x_calloc(S3_MAX_PARTS, sizeof(char *));
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
    s3_buf_append(&body, &len, &cap,
                  "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (int i = 0; i < w->parts; i++) {
        char part[64];
        snprintf(part, sizeof(part), "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        s3_buf_append(&body, &len, &cap, part);
        s3_xml_escape(&body, &len, &cap, w->etags[i]);
        s3_buf_append(&body, &len, &cap, "</ETag>");
        if (w->sums[i] != NULL) {
            s3_buf_append(&body, &len, &cap, "<ChecksumSHA256>");
            s3_buf_append(&body, &len, &cap, w->sums[i]);
            s3_buf_append(&body, &len, &cap, "</ChecksumSHA256>");
        }
        s3_buf_append(&body, &len, &cap, "</Part>");
    }
    s3_buf_append(&body, &len, &cap, "</CompleteMultipartUpload>");
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
        for (int i = 0; i < w->parts; i++) {
            free(w->etags[i]);
            free(w->sums[i]);
        }
    free(w->etags);
    free(w->sums);
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

Sink *s3_write_open(Storage *st, const char *path, Error *err)
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
