/*
 * The S3 driver against the scripted HTTP server (support/s3_fixture.h): PutObject, errors,
 * listing, deletes, reads, conditional writes and clock skew; multipart uploads are in
 * test_s3_multipart.c. Each test states the exact requests it expects and the replies, then checks
 * what the driver made of them; every recorded request is also re-signed independently of
 * src/http/sigv4.c and searched for the secret key (reference/s3-api.md §1, §2, §4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hfsync/config.h"
#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/storage.h"
#include "hfsync/util.h"
#include "storage/storage.intern.h"
#include "support/s3_fixture.h"
#include "support/scripted_http.h"

/* --- 1. a signed PutObject ---------------------------------------------------------------- */

static void test_put_object_signed(void **state)
{
    (void)state;
    const char *body = "{\"backup\":\"20261121-101500F\",\"size\":42}\n";
    char sha[65], md5[32], len[16];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    s3fx_sha256_hex(body, strlen(body), sha);
    s3fx_md5_b64(body, strlen(body), md5);
    /* Space, '+' and '$' in the key: encoded once, uppercase hex (§1.2). */
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = BASE "meta/a%20b%2Bc%24.json",
         .headers = {{"Content-MD5", md5},
                     {"x-amz-content-sha256", sha},
                     {"Content-Length", len},
                     {"Transfer-Encoding", SCRIPTED_ABSENT},
                     {"x-amz-security-token", SCRIPTED_ABSENT}},
         .body = body,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200, .headers = {{"ETag", "\"0b5f35ba8e4b9a3c2bd87d2f4d2f6b3c\""}}}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    int64_t before = s3fx_now_sec();
    Error err = {0};
    bool ok = storage_put(fx.st, "meta/a b+c$.json", body, strlen(body), &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    int64_t after = s3fx_now_sec();
    s3fx_finish(&fx);

    assert_int_equal(scripted_http_request_count(fx.srv), 1);
    const ScriptedRequest *r = s3fx_req(&fx, 0);
    assert_true(str_starts_with(r->head, "PUT " BASE "meta/a%20b%2Bc%24.json HTTP/1.1\r\n"));
    /* Signed with the current time. */
    int64_t t = s3fx_amz_date_sec(scripted_request_header(r, "x-amz-date"));
    assert_true(t >= before - 1 && t <= after + 1);
    /* Exactly these headers are signed: host, the payload hash, the date and Content-MD5. */
    const char *auth = scripted_request_header(r, "authorization");
    assert_non_null(
        strstr(auth, ", SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date, "));
    s3fx_free(&fx);
}

/* The same with an empty object: the empty body's hash and MD5. */
static void test_put_empty_object(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = BASE "empty",
         .headers = {{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
                     {"x-amz-content-sha256",
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                     {"Content-Length", "0"}},
         .body = "",
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    Error err = {0};
    assert_true(storage_put(fx.st, "empty", "", 0, &err));
    s3fx_finish(&fx);
    s3fx_free(&fx);
}

/* --- 4. SignatureDoesNotMatch ------------------------------------------------------------- */

static const char sig_mismatch[] =
    XML_HEAD "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
             "calculated does not match the signature you provided. Check your key and signing "
             "method.</Message><AWSAccessKeyId>" AKID "</AWSAccessKeyId><StringToSign>"
             "AWS4-HMAC-SHA256\n20261121T101500Z\n...</StringToSign></Error>";

static void assert_sig_mismatch(const Error *err, const char *op, const char *where)
{
    assert_int_equal(err->code, ERR_USAGE);
    assert_false(err->retryable);
    assert_int_equal(err->http_status, 403);
    assert_non_null(strstr(err->msg, "SignatureDoesNotMatch"));
    assert_non_null(strstr(err->msg, op));
    assert_non_null(strstr(err->msg, where));
    assert_non_null(strstr(err->msg, "hint:"));
    assert_non_null(strstr(err->msg, "AWS_SECRET_ACCESS_KEY"));
    assert_null(strstr(err->msg, SECRET));
}

static void test_signature_mismatch(void **state)
{
    (void)state;
    /* One request each: a retry would be an unexpected request. */
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .body = sig_mismatch}},
        {.method = "GET",
         .target = BASE "meta/y.json",
         .reply = {.status = 403, .body = sig_mismatch}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 2, 5 * MIB, 4, 5);
    Error err = {0};
    assert_false(storage_put(fx.st, "meta/x.json", "{}", 2, &err));
    assert_sig_mismatch(&err, "PutObject", "s3://" BUCKET "/" ROOT "/meta/x.json");
    error_clear(&err);
    assert_null(storage_read_open(fx.st, "meta/y.json", 0, &err));
    assert_sig_mismatch(&err, "GetObject", "s3://" BUCKET "/" ROOT "/meta/y.json");
    s3fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 2);
    s3fx_free(&fx);
}

/* --- 5. ListObjectsV2 over three pages ----------------------------------------------------- */

#define LIST_Q "list-type=2&prefix=" ROOT_Q "%2Fvol%2F"
#define ROOT_Q "team%2Fhost1"

static const char list_page1[] =
    XML_HEAD "<ListBucketResult xmlns=\"" S3NS "\"><Name>" BUCKET "</Name><Prefix>" ROOT
             "/vol/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true"
             "</IsTruncated><NextContinuationToken>1/a+b==</NextContinuationToken>"
             "<Contents><Key>" ROOT "/vol/a.bin</Key><LastModified>2026-11-21T10:15:00.000Z"
             "</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
             "<Size>10</Size><StorageClass>STANDARD</StorageClass></Contents>"
             "<Contents><Key>" ROOT "/vol/R&amp;D &lt;1&gt;.txt</Key><LastModified>"
             "2026-11-21T10:15:01.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e"
             "&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>"
             "</ListBucketResult>";

static const char list_page2[] =
    XML_HEAD "<ListBucketResult xmlns=\"" S3NS "\"><Name>" BUCKET "</Name><Prefix>" ROOT
             "/vol/</Prefix><ContinuationToken>1/a+b==</ContinuationToken><KeyCount>1</KeyCount>"
             "<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>"
             "2&amp;c d+/=</NextContinuationToken><Contents><Key>" ROOT
             "/vol/caf&#233;.txt</Key><Size>5368709120</Size><Owner><ID>o</ID><DisplayName>d"
             "</DisplayName></Owner></Contents></ListBucketResult>";

static const char list_page3[] =
    XML_HEAD "<ListBucketResult xmlns=\"" S3NS "\"><Name>" BUCKET "</Name><Prefix>" ROOT
             "/vol/</Prefix><ContinuationToken>2&amp;c d+/=</ContinuationToken><KeyCount>1"
             "</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>" ROOT
             "/vol/sub/z</Key><Size>7</Size></Contents></ListBucketResult>";

typedef struct Listed {
    char *paths[8];
    uint64_t sizes[8];
    size_t count;
} Listed;

static void on_listed(const char *path, uint64_t size, void *ctx)
{
    Listed *l = ctx;
    assert_true(l->count < 8);
    l->paths[l->count] = x_strdup(path);
    l->sizes[l->count++] = size;
}

static void test_list_three_pages(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = "/" BUCKET "?" LIST_Q,
         .body_size = 0,
         .body_check = SCRIPTED_BODY_SIZE,
         .reply = {.status = 200, .body = list_page1}},
        /* The token "1/a+b==" percent-encoded, sorted before list-type (§1.3). */
        {.method = "GET",
         .target = "/" BUCKET "?continuation-token=1%2Fa%2Bb%3D%3D&" LIST_Q,
         .reply = {.status = 200, .body = list_page2}},
        /* "2&amp;c d+/=" decoded, then encoded: & space + / = all escaped. */
        {.method = "GET",
         .target = "/" BUCKET "?continuation-token=2%26c%20d%2B%2F%3D&" LIST_Q,
         .reply = {.status = 200, .body = list_page3}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
    Listed l = {0};
    Error err = {0};
    bool ok = storage_list(fx.st, "vol/", on_listed, &l, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    s3fx_finish(&fx);
    assert_int_equal(l.count, 4);
    /* Relative to the target root, entities decoded (&#233; is UTF-8 é). */
    const char *want[] = {"vol/a.bin", "vol/R&D <1>.txt", "vol/caf\xc3\xa9.txt", "vol/sub/z"};
    uint64_t want_size[] = {10, 0, 5368709120ull, 7};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(l.paths[i], want[i]);
        assert_int_equal(l.sizes[i], want_size[i]);
        free(l.paths[i]);
    }
    s3fx_free(&fx);
}

/* A truncated page without a token is an error, not an endless or a short listing. */
static void test_list_truncated_without_token(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = "/" BUCKET "?" LIST_Q,
         .reply = {.status = 200,
                   .body = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    Listed l = {0};
    Error err = {0};
    assert_false(storage_list(fx.st, "vol/", on_listed, &l, &err));
    assert_int_equal(l.count, 0);
    assert_non_null(strstr(err.msg, "ListObjectsV2"));
    assert_non_null(strstr(err.msg, "continuation token"));
    s3fx_finish(&fx);
    s3fx_free(&fx);
}

/* --- 6. DeleteObjects ------------------------------------------------------------------------ */

static void xml_escape_into(char **out, const char *s)
{
    for (; *s; s++) {
        const char *rep = *s == '&'    ? "&amp;"
                          : *s == '<'  ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&apos;"
                                       : NULL;
        char *next = rep != NULL ? str_printf("%s%s", *out, rep) : str_printf("%s%c", *out, *s);
        free(*out);
        *out = next;
    }
}

/* The Delete document for paths [first, first + n). */
static char *delete_body(char **paths, size_t first, size_t n)
{
    size_t cap = 128 + n * 64;
    char *body = x_malloc(cap);
    size_t len = (size_t)snprintf(body, cap, "<Delete xmlns=\"" S3NS "\"><Quiet>true</Quiet>");
    for (size_t i = first; i < first + n; i++) {
        char *esc = x_strdup("");
        xml_escape_into(&esc, paths[i]);
        char *item = str_printf("<Object><Key>" ROOT "/%s</Key></Object>", esc);
        size_t il = strlen(item);
        if (len + il + 16 > cap) {
            cap = (len + il + 16) * 2;
            body = x_realloc(body, cap);
        }
        memcpy(body + len, item, il + 1);
        len += il;
        free(item);
        free(esc);
    }
    memcpy(body + len, "</Delete>", 10);
    return body;
}

static void test_delete_objects_batches(void **state)
{
    (void)state;
    size_t count = 1001;
    char **paths = x_calloc(count, sizeof(char *));
    for (size_t i = 0; i < count; i++)
        paths[i] = str_printf("vol/k%04zu", i);
    free(paths[7]);
    paths[7] = x_strdup("vol/a&b<c>\"d'.bin"); /* escaped in the XML body */
    char *body1 = delete_body(paths, 0, 1000), *body2 = delete_body(paths, 1000, 1);
    char md5_1[32], md5_2[32];
    s3fx_md5_b64(body1, strlen(body1), md5_1);
    s3fx_md5_b64(body2, strlen(body2), md5_2);
    ScriptedExchange ex[] = {
        {.method = "POST",
         .target = "/" BUCKET "?delete=",
         .headers = {{"Content-MD5", md5_1}, {"Content-Type", "application/xml"}},
         .body = body1,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200, .body = XML_HEAD "<DeleteResult xmlns=\"" S3NS "\"/>"}},
        {.method = "POST",
         .target = "/" BUCKET "?delete=",
         .headers = {{"Content-MD5", md5_2}, {"Content-Type", "application/xml"}},
         .body = body2,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200, .body = XML_HEAD "<DeleteResult xmlns=\"" S3NS "\"/>"}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 2, 5 * MIB, 4, 5);
    Error err = {0};
    bool ok = storage_delete(fx.st, (const char *const *)paths, count, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    s3fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 2);
    s3fx_free(&fx);
    for (size_t i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
    free(body1);
    free(body2);
}

static void test_delete_objects_key_error(void **state)
{
    (void)state;
    char *paths[] = {"vol/one", "vol/two", "vol/three"};
    char *body = delete_body(paths, 0, 3);
    char md5[32];
    s3fx_md5_b64(body, strlen(body), md5);
    ScriptedExchange ex[] = {
        {.method = "POST",
         .target = "/" BUCKET "?delete=",
         .headers = {{"Content-MD5", md5}},
         .body = body,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200,
                   .body = XML_HEAD "<DeleteResult xmlns=\"" S3NS "\"><Error><Key>" ROOT
                                    "/vol/two</Key><Code>AccessDenied</Code><Message>Access "
                                    "Denied</Message></Error></DeleteResult>"}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    Error err = {0};
    assert_false(storage_delete(fx.st, (const char *const *)paths, 3, &err));
    assert_non_null(strstr(err.msg, "DeleteObjects"));
    assert_non_null(strstr(err.msg, ROOT "/vol/two"));
    assert_non_null(strstr(err.msg, "AccessDenied"));
    assert_null(strstr(err.msg, "vol/one"));
    s3fx_finish(&fx);
    s3fx_free(&fx);
    free(body);
}

/* --- 7. GetObject and HeadObject ----------------------------------------------------------- */

static void read_all(Reader *r, uint8_t *out, size_t cap, size_t *got)
{
    *got = 0;
    Error err = {0};
    for (;;) {
        ssize_t n = reader_read(r, out + *got, cap - *got < 7777 ? cap - *got : 7777, &err);
        if (n < 0)
            fail_msg("read: %s", err.msg);
        if (n == 0)
            break;
        *got += (size_t)n;
        if (*got == cap) {
            uint8_t extra;
            assert_int_equal(reader_read(r, &extra, 1, &err), 0);
            break;
        }
    }
}

static void test_get_resumes_after_drop(void **state)
{
    (void)state;
    size_t size = 300001, half = size / 2;
    uint8_t *data = s3fx_random(size, 9);
    char range[64], content_range[64], tail_range[64], tail_cr[64];
    snprintf(range, sizeof(range), "bytes=%zu-", half);
    snprintf(content_range, sizeof(content_range), "bytes %zu-%zu/%zu", half, size - 1, size);
    snprintf(tail_range, sizeof(tail_range), "bytes=%zu-", size - 11);
    snprintf(tail_cr, sizeof(tail_cr), "bytes %zu-%zu/%zu", size - 11, size - 1, size);
    ScriptedExchange ex[] = {
        /* The whole object, cut after half the body. */
        {.method = "GET",
         .target = BASE "vol/obj.bin",
         .headers = {{"Range", SCRIPTED_ABSENT}},
         .body_size = 0,
         .body_check = SCRIPTED_BODY_SIZE,
         .reply = {.status = 200,
                   .headers = {{"ETag", "\"x\""}},
                   .body = data,
                   .body_size = size,
                   .fault = SCRIPTED_FAULT_SHORT_BODY}},
        /* Resumed from the first byte not received, re-signed with the Range. */
        {.method = "GET",
         .target = BASE "vol/obj.bin",
         .headers = {{"Range", range}},
         .reply = {.status = 206,
                   .headers = {{"Content-Range", content_range}},
                   .body = data + half,
                   .body_size = size - half}},
        /* A read from an offset asks for it from the start. */
        {.method = "GET",
         .target = BASE "vol/obj.bin",
         .headers = {{"Range", tail_range}},
         .reply = {.status = 206,
                   .headers = {{"Content-Range", tail_cr}},
                   .body = data + size - 11,
                   .body_size = 11}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
    Error err = {0};
    Reader *r = storage_read_open(fx.st, "vol/obj.bin", 0, &err);
    if (r == NULL)
        print_error("%s\n", err.msg);
    assert_non_null(r);
    uint8_t *got = x_malloc(size);
    size_t n = 0;
    read_all(r, got, size, &n);
    assert_int_equal(n, size);
    assert_memory_equal(got, data, size);
    reader_free(r);

    r = storage_read_open(fx.st, "vol/obj.bin", size - 11, &err);
    assert_non_null(r);
    read_all(r, got, 11, &n);
    assert_int_equal(n, 11);
    assert_memory_equal(got, data + size - 11, 11);
    reader_free(r);
    s3fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 3);
    /* The Range header is part of the signature (checked by fx_finish for every request). */
    assert_non_null(strstr(scripted_request_header(s3fx_req(&fx, 1), "authorization"),
                           "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"));
    s3fx_free(&fx);
    free(got);
    free(data);
}

static void test_get_and_head_missing(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = BASE "vol/missing",
         .reply = {.status = 404,
                   .body = XML_HEAD "<Error><Code>NoSuchKey</Code><Message>The specified key "
                                    "does not exist.</Message><Key>" ROOT
                                    "/vol/missing</Key></Error>"}},
        /* HEAD errors have no body: classified by status alone. */
        {.method = "HEAD", .target = BASE "vol/missing", .reply = {.status = 404}},
        {.method = "HEAD",
         .target = BASE "vol/here",
         .reply = {.status = 200, .headers = {{"Content-Length", "5368709121"}}}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
    Error err = {0};
    assert_null(storage_read_open(fx.st, "vol/missing", 0, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_false(err.retryable);
    assert_non_null(strstr(err.msg, "GetObject"));
    assert_non_null(strstr(err.msg, "s3://" BUCKET "/" ROOT "/vol/missing"));
    assert_non_null(strstr(err.msg, "NoSuchKey"));

    error_clear(&err);
    StorageInfo info = {.exists = true, .size = 99};
    assert_true(storage_info(fx.st, "vol/missing", &info, &err));
    assert_false(info.exists);
    assert_int_equal(info.size, 0);
    assert_true(storage_info(fx.st, "vol/here", &info, &err));
    assert_true(info.exists);
    assert_int_equal(info.size, 5368709121ull);
    s3fx_finish(&fx);
    s3fx_free(&fx);
}

/* --- conditional writes (the pointer) -------------------------------------------------------- */

/* The tag read is the ETag; a write sends If-Match with it, or If-None-Match: * when the object
 * did not exist; a 412 is ERR_CONFLICT and nothing is retried. */
static void test_conditional_put(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = BASE "latest-backup.json",
         .reply = {.status = 200, .headers = {{"ETag", "\"aaa\""}}, .body = "{\"latest\":1}"}},
        {.method = "PUT",
         .target = BASE "latest-backup.json",
         .headers = {{"If-Match", "\"aaa\""}, {"If-None-Match", SCRIPTED_ABSENT}},
         .reply = {.status = 200, .headers = {{"ETag", "\"bbb\""}}}},
        {.method = "PUT",
         .target = BASE "latest-backup.json",
         .headers = {{"If-Match", "\"aaa\""}},
         .reply = {.status = 412,
                   .body = XML_HEAD "<Error><Code>PreconditionFailed</Code><Message>At least one "
                                    "of the pre-conditions you specified did not hold</Message>"
                                    "</Error>"}},
        {.method = "PUT",
         .target = BASE "new.json",
         .headers = {{"If-None-Match", "*"}, {"If-Match", SCRIPTED_ABSENT}},
         .reply = {.status = 200}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 4, 5 * MIB, 4, 5);
    Error err = {0};
    char *data = NULL, *tag = NULL;
    size_t size = 0;
    assert_true(storage_get_tagged(fx.st, "latest-backup.json", 1024, &data, &size, &tag, &err));
    assert_string_equal(tag, "\"aaa\"");
    assert_string_equal(data, "{\"latest\":1}");
    assert_true(storage_put_if(fx.st, "latest-backup.json", "x", 1, tag, &err));
    assert_false(storage_put_if(fx.st, "latest-backup.json", "y", 1, tag, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "PreconditionFailed"));
    error_clear(&err);
    assert_true(storage_put_if(fx.st, "new.json", "z", 1, NULL, &err));
    s3fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 4);
    free(data);
    free(tag);
    s3fx_free(&fx);
}

/* A service that refuses conditional headers (B2: 501 NotImplemented): the pointer is read and
 * compared, then written without them. */
static void test_conditional_put_unsupported(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = BASE "latest-backup.json",
         .headers = {{"If-Match", "\"aaa\""}},
         .reply = {.status = 501,
                   .body = XML_HEAD "<Error><Code>NotImplemented</Code><Message>A header you "
                                    "provided implies functionality that is not implemented"
                                    "</Message></Error>"}},
        {.method = "GET",
         .target = BASE "latest-backup.json",
         .reply = {.status = 200, .headers = {{"ETag", "\"aaa\""}}, .body = "old"}},
        {.method = "PUT",
         .target = BASE "latest-backup.json",
         .headers = {{"If-Match", SCRIPTED_ABSENT}, {"If-None-Match", SCRIPTED_ABSENT}},
         .body = "new",
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
    Error err = {0};
    bool ok = storage_put_if(fx.st, "latest-backup.json", "new", 3, "\"aaa\"", &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    s3fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 3);
    s3fx_free(&fx);
}

/* --- 8. RequestTimeTooSkewed -------------------------------------------------------------- */

static const char skewed[] =
    XML_HEAD "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the "
             "request time and the current time is too large.</Message><MaxAllowedSkewMilliseconds>"
             "900000</MaxAllowedSkewMilliseconds></Error>";

static void http_date(int64_t t, char out[64])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void test_skew_resigned_once(void **state)
{
    (void)state;
    int64_t server = s3fx_now_sec() + 3600; /* the server is an hour ahead of us */
    char date[64];
    http_date(server, date);
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
        {.method = "PUT", .target = BASE "meta/x.json", .reply = {.status = 200}},
        /* Later requests keep the learnt offset. */
        {.method = "HEAD",
         .target = BASE "meta/x.json",
         .reply = {.status = 200, .headers = {{"Content-Length", "2"}}}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 3, 5 * MIB, 4, 1); /* one try: the skew retry is not a backoff retry */
    Error err = {0};
    bool ok = storage_put(fx.st, "meta/x.json", "{}", 2, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    StorageInfo info;
    assert_true(storage_info(fx.st, "meta/x.json", &info, &err));
    assert_true(info.exists);
    s3fx_finish(&fx);
    int64_t t0 = s3fx_amz_date_sec(scripted_request_header(s3fx_req(&fx, 0), "x-amz-date"));
    int64_t t1 = s3fx_amz_date_sec(scripted_request_header(s3fx_req(&fx, 1), "x-amz-date"));
    int64_t t2 = s3fx_amz_date_sec(scripted_request_header(s3fx_req(&fx, 2), "x-amz-date"));
    assert_true(llabs(t0 - (server - 3600)) <= 5);
    assert_true(llabs(t1 - server) <= 5);
    assert_true(llabs(t2 - server) <= 5);
    s3fx_free(&fx);

    /* A skew that persists after correcting is reported with the hint, not retried forever. */
    ScriptedExchange ex2[] = {
        {.method = "PUT",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
        {.method = "PUT",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
    };
    s3fx_start(&fx, ex2, 2, 5 * MIB, 4, 5);
    assert_false(storage_put(fx.st, "meta/x.json", "{}", 2, &err));
    assert_non_null(strstr(err.msg, "RequestTimeTooSkewed"));
    assert_non_null(strstr(err.msg, "PutObject"));
    assert_non_null(strstr(err.msg, "clock"));
    s3fx_finish(&fx);
    s3fx_free(&fx);
}

/* The first request of a restore is a GET: the reader learns the offset too. */
static void test_skew_on_get(void **state)
{
    (void)state;
    int64_t server = s3fx_now_sec() - 7200;
    char date[64];
    http_date(server, date);
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
        {.method = "GET", .target = BASE "meta/x.json", .reply = {.status = 200, .body = "{}"}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, 2, 5 * MIB, 4, 5);
    Error err = {0};
    char *data = NULL;
    size_t size = 0;
    bool ok = storage_get(fx.st, "meta/x.json", 1024, &data, &size, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    assert_string_equal(data, "{}");
    free(data);
    s3fx_finish(&fx);
    int64_t t1 = s3fx_amz_date_sec(scripted_request_header(s3fx_req(&fx, 1), "x-amz-date"));
    assert_true(llabs(t1 - server) <= 5);
    s3fx_free(&fx);
}

/* --- opening ------------------------------------------------------------------------------- */

static void test_open_without_credentials(void **state)
{
    (void)state;
    Config cfg = {0};
    Error err = {0};
    assert_true(target_parse("s3://" BUCKET "/" ROOT, &cfg.target, &err));
    cfg.s3.access_key = x_strdup(AKID);
    assert_null(storage_open(&cfg, &cfg.target, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "no S3 credentials"));
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    config_free(&cfg);
}

int main(void)
{
    log_setup(LOG_QUIET, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_object_signed),
        cmocka_unit_test(test_put_empty_object),
        cmocka_unit_test(test_signature_mismatch),
        cmocka_unit_test(test_list_three_pages),
        cmocka_unit_test(test_list_truncated_without_token),
        cmocka_unit_test(test_delete_objects_batches),
        cmocka_unit_test(test_delete_objects_key_error),
        cmocka_unit_test(test_get_resumes_after_drop),
        cmocka_unit_test(test_get_and_head_missing),
        cmocka_unit_test(test_conditional_put),
        cmocka_unit_test(test_conditional_put_unsupported),
        cmocka_unit_test(test_skew_resigned_once),
        cmocka_unit_test(test_skew_on_get),
        cmocka_unit_test(test_open_without_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
