/*
 * SigV4: AWS Signature Version 4 for S3 requests, written from the spec
 * (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html and
 * sigv4-query-string-auth.html; our notes and AWS's test vectors: reference/s3-api.md §1).
 *
 * A SigV4 holds a copy of the credentials, the region and the service, and caches the signing key
 * of the last UTC day it signed for: kSigning depends only on secret, date, region and service, so
 * it is derived once a day instead of four HMACs per request. One SigV4 serves a whole storage;
 * sigv4_sign() and sigv4_presign() may be called from several threads at once (the cache has a
 * lock).
 *
 * The caller builds the request and the signer only computes; nothing here talks to the network.
 *   - path: already percent-encoded (sigv4_uri_encode(key, true)); it is signed and must be sent
 *     exactly as given. S3 encodes once and never normalises ("//", "." and ".." stay).
 *   - query: raw name/value pairs. The signer encodes and sorts them; SigV4Signed.query is the
 *     canonical query string, which is also the query to put on the URL (after '?').
 *   - headers: the caller's extra headers (range, content-md5, content-type, x-amz-meta-*, ...).
 *     All are signed except hop-by-hop ones a proxy or curl may change (connection, expect,
 *     keep-alive, proxy-*, te, trailer, transfer-encoding, upgrade, user-agent,
 *     x-amzn-trace-id; botocore's SIGNED_HEADERS_BLACKLIST). The signer adds host, x-amz-date,
 *     x-amz-content-sha256 and x-amz-security-token itself; passing one of those is an error.
 *
 * Failure: bad input (a path that is not percent-encoded, a header value with a line break, a
 * header the signer owns, a malformed payload hash, an expiry out of range) gives ERR_USAGE with
 * a message naming what was wrong, never a header value; an OpenSSL failure gives ERR_FAIL.
 *
 * Secrets: the secret key and the cached signing key are wiped when the SigV4 is freed. The
 * session token is a credential too and appears in the canonical request, the header lines and a
 * presigned query: pass such text through sigv4_redact() before logging it.
 */
#ifndef HFSYNC_HTTP_SIGV4_H
#define HFSYNC_HTTP_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "hfsync/error.h"

/* Borrowed for sigv4_new() only; the SigV4 keeps copies. */
typedef struct SigV4Creds {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "": none */
} SigV4Creds;

typedef struct SigV4 SigV4;

/* A query parameter, unencoded. value NULL signs as "name=" (e.g. "uploads", "delete"). */
typedef struct SigV4Param {
    const char *name;
    const char *value;
} SigV4Param;

/* A request header as the caller wants it sent. */
typedef struct SigV4Header {
    const char *name;
    const char *value;
} SigV4Header;

/* Everything the signature covers. All pointers are borrowed. */
typedef struct SigV4Request {
    const char *method; /* "GET", "PUT", ... */
    const char *host;   /* as sent in Host: "bucket.s3.amazonaws.com", "127.0.0.1:9000" */
    const char *path;   /* percent-encoded, starts with '/' */
    const SigV4Param *query;
    size_t query_count;
    const SigV4Header *headers;
    size_t header_count;
    /* 64 lowercase hex (SHA-256 of the body), "UNSIGNED-PAYLOAD" or a "STREAMING-..." value.
       NULL: the empty body's hash for sigv4_sign(), "UNSIGNED-PAYLOAD" for sigv4_presign(). */
    const char *payload_hash;
    time_t time; /* UTC seconds; re-sign every retry with a fresh time */
} SigV4Request;

/* The result of signing. Every string is owned; release with sigv4_signed_free(). */
typedef struct SigV4Signed {
    /* Lines to hand to curl_slist_append(), in this order: "Host: …", the caller's headers
       (values trimmed; an empty value is written "Name;", curl's form for an empty header),
       then for sigv4_sign() "x-amz-date: …", "x-amz-content-sha256: …",
       "x-amz-security-token: …" (with a session token) and "Authorization: …". */
    char **lines;
    size_t line_count;
    /* sigv4_sign(): the canonical query. sigv4_presign(): the canonical query followed by
       "&X-Amz-Signature=…", i.e. the whole presigned query. Either way: the URL's query. */
    char *query;
    char *authorization; /* the Authorization value (sigv4_sign() only, else NULL) */
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers; /* "host;range;x-amz-content-sha256;x-amz-date" */
    char amz_date[17];    /* "20130524T000000Z" */
    char signature[65];   /* lowercase hex */
} SigV4Signed;

/* region and service are like "us-east-1" and "s3". NULL with ERR_USAGE when a field is empty. */
SigV4 *sigv4_new(const SigV4Creds *creds, const char *region, const char *service, Error *err);
void sigv4_free(SigV4 *s);

/* Percent-encode per SigV4: A-Z a-z 0-9 - . _ ~ are kept, '/' too when keep_slash, every other
   byte becomes %XX with uppercase hex (space is %20, never '+'). Caller frees. */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* Header authentication: fills `out` (zeroed first) with the lines to send. */
bool sigv4_sign(SigV4 *s, const SigV4Request *req, SigV4Signed *out, Error *err);

/* Query-string authentication (presigned URL) valid for expires_sec (1..604800) seconds. Signs
   host plus the caller's headers; the query gets X-Amz-Algorithm, -Credential, -Date, -Expires,
   -SignedHeaders, -Security-Token (with a session token) and finally -Signature. */
bool sigv4_presign(SigV4 *s, const SigV4Request *req, long expires_sec, SigV4Signed *out,
                   Error *err);

/* Wipes and frees what sigv4_sign()/sigv4_presign() filled; safe on a zeroed or freed struct. */
void sigv4_signed_free(SigV4Signed *out);

/* A copy of `text` with the secret key and the session token replaced by "***", for trace logs. */
char *sigv4_redact(const SigV4 *s, const char *text);

/* How many times the signing key was derived (not taken from the cache); for tests and stats. */
unsigned long sigv4_key_derivation_count(SigV4 *s);

#endif
