/*
 * Internals of the s3:// backend shared by its files: s3.c (requests, reads, listing, deletes,
 * the driver), s3_write.c (PutObject and multipart uploads), s3_uploads.c (listing and aborting
 * multipart uploads left unfinished) and s3_xml.c (the few XML elements S3 answers carry).
 */
#ifndef HFSYNC_S3_INTERN_H
#define HFSYNC_S3_INTERN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/http.h"
#include "http/sigv4.h"
#include "storage.intern.h"

#define S3_MAX_PARTS 10000
#define S3_DELETE_BATCH 1000
#define S3_FIRST_BUF (64u << 10)

/* How the parts of a multipart upload are verified by the service (s3_write.c). */
typedef enum S3PartSum {
    S3_SUM_PROBE = 0, /* not known yet: the next CreateMultipartUpload asks for SHA-256 */
    S3_SUM_SHA256,    /* x-amz-checksum-sha256: the signature's digest, no extra hashing */
    S3_SUM_MD5,       /* Content-MD5: the service refused or ignored the checksum algorithm */
} S3PartSum;

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
    atomic_int part_sum; /* S3PartSum, learnt by the first multipart upload of this handle */
} S3;

/* One S3 request: what s3_call() signs and sends. */
typedef struct S3Call {
    const char *op; /* "PutObject", for messages */
    const char *method;
    const char *key; /* full key, or NULL for a bucket request */
    int part;        /* UploadPart's part number, for messages; 0: none */
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

/* Requests (s3.c). */
char *s3_key(const S3 *s, const char *path);  /* target-relative path -> full key */
char *s3_path(const S3 *s, const char *key);  /* encoded request path of a key (NULL: bucket) */
char *s3_where(const S3 *s, const char *key); /* "s3://bucket/key", for messages */
/* "S3 UploadPart s3://bucket/key part 3": what a request is, for messages and retry lines. */
char *s3_what(const S3 *s, const char *op, const char *key, int part);
/* Whether an S3 error code names a transient failure (SlowDown, RequestTimeout, InternalError and
 * their kin, reference/s3-api.md §4.2-4.3); the HTTP status is judged apart. */
bool s3_code_retryable(const char *code);
/* An S3 error answer as err: "<s3_what>: <Code>: <Message> (HTTP n)", its ErrorCode, whether it
 * is worth a retry, and a hint for the usual configuration mistakes. */
void s3_error(const S3 *s, const char *op, const char *key, int part, const HttpResponse *resp,
              Error *err);
/* Sign and send with the retry policy, re-signed every attempt; true when the answer was 2xx. */
bool s3_call(S3 *s, Http *http, const S3Call *c, HttpResponse *resp, Error *err);
void s3_md5_b64(const void *data, size_t size, char out[32]);

/* Writes (s3_write.c). */
Sink *s3_write_open(Storage *st, const char *path, Error *err);

/* Unfinished multipart uploads (s3_uploads.c): ListMultipartUploads, AbortMultipartUpload. */
bool s3_list_uploads(Storage *st, const char *prefix, StorageUploadFn fn, void *ctx,
                     bool *supported, Error *err);
bool s3_abort_upload(Storage *st, const char *path, const char *upload_id, Error *err);

/* XML (s3_xml.c). */
/* The decoded text of the first <tag>…</tag> in [p, end), or NULL; *next (if given) points after
 * it. An element with attributes or a self-closing one is found too. */
char *s3_xml_get(const char *p, const char *end, const char *tag, const char **next);
/* The bounds of the next <tag>…</tag> block at or after p. */
bool s3_xml_block(const char *p, const char *end, const char *tag, const char **from,
                  const char **to);
/* Append `s` XML-escaped, or as is, to a growing NUL-terminated buffer. */
void s3_xml_escape(char **buf, size_t *len, size_t *cap, const char *s);
void s3_buf_append(char **buf, size_t *len, size_t *cap, const char *s);

#endif
