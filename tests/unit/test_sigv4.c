/*
 * SigV4: AWS's published S3 examples reproduced byte for byte (reference/s3-api.md §1.8), then
 * the rules around them: key cache, session token, encoding, header canonicalisation, refusals,
 * and the header lines going through curl unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hfsync/hash.h"
#include "hfsync/util.h"
#include "http/sigv4.h"
#include "support/scripted_http.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SCOPE "20130524/us-east-1/s3/aws4_request"

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return timegm(&tm);
}

static SigV4 *example_signer(const char *token)
{
    Error err = {0};
    SigV4 *s = sigv4_new(&(SigV4Creds){AKID, SECRET, token}, "us-east-1", "s3", &err);
    if (s == NULL)
        print_error("sigv4_new: %s\n", err.msg);
    assert_non_null(s);
    return s;
}

static void sign_ok(SigV4 *s, const SigV4Request *req, SigV4Signed *out)
{
    Error err = {0};
    bool ok = sigv4_sign(s, req, out, &err);
    if (!ok)
        print_error("sigv4_sign: %s\n", err.msg);
    assert_true(ok);
}

/* SHA-256 of the canonical request as the string to sign carries it (its last line). */
static const char *sts_hash(const SigV4Signed *out)
{
    const char *nl = strrchr(out->string_to_sign, '\n');
    assert_non_null(nl);
    return nl + 1;
}

static void test_get_object_with_range(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "GET",
                            .host = HOST,
                            .path = "/test.txt",
                            .headers = (SigV4Header[]){{"Range", "bytes=0-9"}},
                            .header_count = 1,
                            .payload_hash = EMPTY_SHA,
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.canonical_request,
                        "GET\n"
                        "/test.txt\n"
                        "\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "range:bytes=0-9\n"
                        "x-amz-content-sha256:" EMPTY_SHA "\n"
                        "x-amz-date:20130524T000000Z\n"
                        "\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
    assert_string_equal(out.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n" SCOPE
                        "\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    assert_string_equal(out.signature,
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(
        out.authorization,
        "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE
        ", SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(out.query, "");
    assert_string_equal(out.amz_date, "20130524T000000Z");
    /* The lines curl will send, in order. */
    assert_int_equal(out.line_count, 5);
    assert_string_equal(out.lines[0], "Host: " HOST);
    assert_string_equal(out.lines[1], "Range: bytes=0-9");
    assert_string_equal(out.lines[2], "x-amz-date: 20130524T000000Z");
    assert_string_equal(out.lines[3], "x-amz-content-sha256: " EMPTY_SHA);
    assert_string_equal(out.lines[4], "Authorization: AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE
                                      ", SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                                      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd9"
                                      "1039c6036bdb41");
    sigv4_signed_free(&out);
    sigv4_free(s);
}

static void test_put_object(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    char *path = sigv4_uri_encode("/test$file.text", true);
    assert_string_equal(path, "/test%24file.text");
    const char *body = "Welcome to Amazon S3.";
    char payload[HASH_HEX_SIZE];
    hash_buffer_hex(HASH_SHA256, body, strlen(body), payload);
    assert_string_equal(payload,
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    SigV4Header headers[] = {
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
    };
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "PUT",
                            .host = HOST,
                            .path = path,
                            .headers = headers,
                            .header_count = 2,
                            .payload_hash = payload,
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.canonical_request,
                        "PUT\n"
                        "/test%24file.text\n"
                        "\n"
                        "date:Fri, 24 May 2013 00:00:00 GMT\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034"
                        "a8b803f8b072\n"
                        "x-amz-date:20130524T000000Z\n"
                        "x-amz-storage-class:REDUCED_REDUNDANCY\n"
                        "\n"
                        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    assert_string_equal(sts_hash(&out),
                        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    assert_string_equal(out.signature,
                        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    assert_string_equal(out.signed_headers,
                        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    sigv4_signed_free(&out);
    free(path);
    sigv4_free(s);
}

static void test_get_bucket_lifecycle(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "GET",
                            .host = HOST,
                            .path = "/",
                            .query = (SigV4Param[]){{"lifecycle", NULL}},
                            .query_count = 1,
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.canonical_request, "GET\n/\nlifecycle=\n"
                                               "host:examplebucket.s3.amazonaws.com\n"
                                               "x-amz-content-sha256:" EMPTY_SHA "\n"
                                               "x-amz-date:20130524T000000Z\n"
                                               "\n"
                                               "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
    assert_string_equal(sts_hash(&out),
                        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
    assert_string_equal(out.signature,
                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    assert_string_equal(out.query, "lifecycle=");
    sigv4_signed_free(&out);
    sigv4_free(s);
}

static void test_list_objects(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Signed out;
    /* Given out of order: the signer sorts. */
    sign_ok(s,
            &(SigV4Request){.method = "GET",
                            .host = HOST,
                            .path = "/",
                            .query = (SigV4Param[]){{"prefix", "J"}, {"max-keys", "2"}},
                            .query_count = 2,
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.canonical_request, "GET\n/\nmax-keys=2&prefix=J\n"
                                               "host:examplebucket.s3.amazonaws.com\n"
                                               "x-amz-content-sha256:" EMPTY_SHA "\n"
                                               "x-amz-date:20130524T000000Z\n"
                                               "\n"
                                               "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
    assert_string_equal(sts_hash(&out),
                        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
    assert_string_equal(out.signature,
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    assert_string_equal(out.query, "max-keys=2&prefix=J");
    sigv4_signed_free(&out);
    sigv4_free(s);
}

#define PRESIGN_QUERY                                                                              \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-" \
    "1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders="   \
    "host"

static void test_presigned_get(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Signed out;
    Error err = {0};
    assert_true(sigv4_presign(
        s,
        &(SigV4Request){
            .method = "GET", .host = HOST, .path = "/test.txt", .time = utc(2013, 5, 24, 0, 0, 0)},
        86400, &out, &err));
    assert_string_equal(out.canonical_request, "GET\n/test.txt\n" PRESIGN_QUERY "\n"
                                               "host:examplebucket.s3.amazonaws.com\n"
                                               "\n"
                                               "host\n"
                                               "UNSIGNED-PAYLOAD");
    assert_string_equal(out.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n" SCOPE
                        "\n3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    assert_string_equal(out.signature,
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    assert_string_equal(out.query, PRESIGN_QUERY "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835"
                                                 "f995330da4c265957d157751f604d404");
    assert_null(out.authorization);
    assert_int_equal(out.line_count, 1);
    assert_string_equal(out.lines[0], "Host: " HOST);
    sigv4_signed_free(&out);
    sigv4_free(s);
}

/* The seed signature of AWS's aws-chunked example: path-style, content-length and
   x-amz-decoded-content-length signed, a STREAMING- payload marker. */
static void test_streaming_seed(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Header headers[] = {
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"Content-Encoding", "aws-chunked"},
        {"x-amz-decoded-content-length", "66560"},
        {"Content-Length", "66824"},
    };
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "PUT",
                            .host = "s3.amazonaws.com",
                            .path = "/examplebucket/chunkObject.txt",
                            .headers = headers,
                            .header_count = 4,
                            .payload_hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.signed_headers, "content-encoding;content-length;host;x-amz-content-"
                                            "sha256;x-amz-date;x-amz-decoded-content-length;x-amz-"
                                            "storage-class");
    assert_string_equal(out.signature,
                        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    sigv4_signed_free(&out);
    sigv4_free(s);
}

static void sign_at(SigV4 *s, time_t t, char sig[65])
{
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "GET",
                            .host = HOST,
                            .path = "/test.txt",
                            .headers = (SigV4Header[]){{"Range", "bytes=0-9"}},
                            .header_count = 1,
                            .time = t},
            &out);
    memcpy(sig, out.signature, 65);
    sigv4_signed_free(&out);
}

static void test_signing_key_cached_per_day(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    char sig[65], fresh[65];
    assert_int_equal(sigv4_key_derivation_count(s), 0);
    sign_at(s, utc(2013, 5, 24, 0, 0, 0), sig);
    assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_int_equal(sigv4_key_derivation_count(s), 1);
    /* Later the same UTC day: the key is reused. */
    sign_at(s, utc(2013, 5, 24, 23, 59, 59), sig);
    assert_int_equal(sigv4_key_derivation_count(s), 1);

    /* Next day: derived again, and the signature equals a fresh signer's. */
    sign_at(s, utc(2013, 5, 25, 0, 0, 0), sig);
    assert_int_equal(sigv4_key_derivation_count(s), 2);
    SigV4 *other = example_signer(NULL);
    sign_at(other, utc(2013, 5, 25, 0, 0, 0), fresh);
    assert_string_equal(sig, fresh);
    sigv4_free(other);

    /* Back to the first day (a skewed clock corrected): the published signature again. */
    sign_at(s, utc(2013, 5, 24, 0, 0, 0), sig);
    assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_int_equal(sigv4_key_derivation_count(s), 3);
    sigv4_free(s);
}

#define TOKEN "FQoGZXIvYXdzE+/abc=="

static void test_session_token_is_signed(void **state)
{
    (void)state;
    SigV4 *s = example_signer(TOKEN);
    SigV4Request req = {.method = "GET",
                        .host = HOST,
                        .path = "/test.txt",
                        .headers = (SigV4Header[]){{"Range", "bytes=0-9"}},
                        .header_count = 1,
                        .time = utc(2013, 5, 24, 0, 0, 0)};
    SigV4Signed out;
    sign_ok(s, &req, &out);
    assert_string_equal(out.signed_headers,
                        "host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    assert_non_null(strstr(out.canonical_request, "\nx-amz-security-token:" TOKEN "\n\n"));
    assert_int_equal(out.line_count, 6);
    assert_string_equal(out.lines[4], "x-amz-security-token: " TOKEN);
    /* The token changes the signature: it is really covered. */
    assert_string_not_equal(out.signature,
                            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

    /* Trace logs never show it, nor the secret. */
    char *red = sigv4_redact(s, out.canonical_request);
    assert_null(strstr(red, TOKEN));
    assert_non_null(strstr(red, "\nx-amz-security-token:***\n"));
    free(red);
    red = sigv4_redact(s, "secret=" SECRET " token=" TOKEN);
    assert_string_equal(red, "secret=*** token=***");
    free(red);
    sigv4_signed_free(&out);

    /* Presigned: the token is a signed query parameter, encoded like any other. */
    Error err = {0};
    req.headers = NULL;
    req.header_count = 0;
    assert_true(sigv4_presign(s, &req, 60, &out, &err));
    char *want = str_printf("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID
                            "%%2F20130524%%2Fus-east-1%%2Fs3%%2Faws4_request&X-Amz-Date="
                            "20130524T000000Z&X-Amz-Expires=60&X-Amz-Security-Token=FQoGZXIvYXdzE%%"
                            "2B%%2Fabc%%3D%%3D&X-Amz-SignedHeaders=host&X-Amz-Signature=%s",
                            out.signature);
    assert_string_equal(out.query, want);
    free(want);
    assert_non_null(strstr(out.canonical_request, "&X-Amz-Security-Token=FQoGZXIvYXdzE%2B%2Fabc"
                                                  "%3D%3D&"));
    red = sigv4_redact(s, out.query);
    assert_null(strstr(red, "FQoGZXIvYXdzE"));
    free(red);
    sigv4_signed_free(&out);
    sigv4_free(s);
}

static void test_uri_encode(void **state)
{
    (void)state;
    char *e = sigv4_uri_encode("dir/a b+c$d=e&f~g_h-i.j%k\xc3\xa9", true);
    assert_string_equal(e, "dir/a%20b%2Bc%24d%3De%26f~g_h-i.j%25k%C3%A9");
    free(e);
    e = sigv4_uri_encode("a/b", false);
    assert_string_equal(e, "a%2Fb");
    free(e);
    e = sigv4_uri_encode("", true);
    assert_string_equal(e, "");
    free(e);
    /* Encoded once: an already-encoded key is encoded again as data, '%' → %25. */
    e = sigv4_uri_encode("%20", true);
    assert_string_equal(e, "%2520");
    free(e);
}

static void test_query_encoding(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Param q[] = {
        {"prefix", "backups/a b+c"},
        {"list-type", "2"},
        {"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="},
        {"delimiter", "/"},
        {"uploads", NULL},
        {"empty", ""},
        {"a", "2"},
        {"a", "1"},
        {"Z~", "x y"},
    };
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "GET",
                            .host = "127.0.0.1:9000",
                            .path = "/bucket",
                            .query = q,
                            .query_count = sizeof(q) / sizeof(q[0]),
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.query,
                        "Z~=x%20y&a=1&a=2&continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgv"
                        "eDs2J%2Fwm36Hy4vbOwM%3D&delimiter=%2F&empty=&list-type=2&prefix="
                        "backups%2Fa%20b%2Bc&uploads=");
    assert_true(str_starts_with(out.canonical_request, "GET\n/bucket\nZ~=x%20y&a=1&"));
    /* host with its port, as sent */
    assert_non_null(strstr(out.canonical_request, "\nhost:127.0.0.1:9000\n"));
    assert_string_equal(out.lines[0], "Host: 127.0.0.1:9000");
    sigv4_signed_free(&out);
    sigv4_free(s);
}

static void test_header_canonicalisation(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    SigV4Header h[] = {
        {"X-Amz-Meta-Note", "  two   spaces\t\there  "},
        {"x-amz-meta-dup", "b"},
        {"Content-Type", "text/plain"},
        {"Expect", "100-continue"},
        {"User-Agent", "hfsync/0.1"},
        {"X-AMZ-META-DUP", "a"},
        {"x-amz-meta-empty", ""},
        {"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
    };
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "PUT",
                            .host = HOST,
                            .path = "/k",
                            .headers = h,
                            .header_count = sizeof(h) / sizeof(h[0]),
                            .payload_hash = "UNSIGNED-PAYLOAD",
                            .time = utc(2013, 5, 24, 0, 0, 0)},
            &out);
    assert_string_equal(out.canonical_request,
                        "PUT\n/k\n\n"
                        "content-md5:1B2M2Y8AsgTpgAmY7PhCfg==\n"
                        "content-type:text/plain\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                        "x-amz-date:20130524T000000Z\n"
                        "x-amz-meta-dup:b,a\n"
                        "x-amz-meta-empty:\n"
                        "x-amz-meta-note:two spaces here\n"
                        "\n"
                        "content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-"
                        "dup;x-amz-meta-empty;x-amz-meta-note\n"
                        "UNSIGNED-PAYLOAD");
    /* Every caller header is sent (hop-by-hop ones unsigned), ends trimmed, in the given order. */
    assert_int_equal(out.line_count, 1 + 8 + 3);
    assert_string_equal(out.lines[1], "X-Amz-Meta-Note: two   spaces\t\there");
    assert_string_equal(out.lines[4], "Expect: 100-continue");
    assert_string_equal(out.lines[5], "User-Agent: hfsync/0.1");
    assert_string_equal(out.lines[7], "x-amz-meta-empty;");
    assert_string_equal(out.lines[9], "x-amz-date: 20130524T000000Z");
    assert_string_equal(out.lines[10], "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    assert_true(str_starts_with(out.lines[11], "Authorization: AWS4-HMAC-SHA256 Credential="));
    sigv4_signed_free(&out);
    sigv4_free(s);
}

static void refused(SigV4 *s, const SigV4Request *req, long presign_expires, const char *want)
{
    SigV4Signed out;
    Error err = {0};
    bool ok = presign_expires ? sigv4_presign(s, req, presign_expires, &out, &err)
                              : sigv4_sign(s, req, &out, &err);
    assert_false(ok);
    assert_int_equal(err.code, ERR_USAGE);
    assert_string_equal(err.msg, want);
    assert_null(out.lines);
    assert_null(out.canonical_request);
}

static void test_bad_input_refused(void **state)
{
    (void)state;
    SigV4 *s = example_signer(NULL);
    time_t t = utc(2013, 5, 24, 0, 0, 0);
    SigV4Request r = {.method = "GET", .host = HOST, .path = "/a b", .time = t};
    refused(s, &r, 0,
            "sigv4: path '/a b' is not percent-encoded (byte 2)\nhint: encode the object key with "
            "sigv4_uri_encode(key, true) and send that exact path");
    r.path = "/a%2fb";
    refused(s, &r, 0,
            "sigv4: path '/a%2fb' is not percent-encoded (byte 2)\nhint: encode the object key "
            "with sigv4_uri_encode(key, true) and send that exact path");
    r.path = "/a%2";
    refused(s, &r, 0,
            "sigv4: path '/a%2' is not percent-encoded (byte 2)\nhint: encode the object key "
            "with sigv4_uri_encode(key, true) and send that exact path");
    r.path = "key";
    refused(s, &r, 0, "sigv4: path 'key' does not start with '/'");
    r.path = "/k";
    r.method = "get";
    refused(s, &r, 0, "sigv4: method 'get' is not an uppercase token");
    r.method = "GET";
    r.host = "a b";
    refused(s, &r, 0, "sigv4: host 'a b' has a character not allowed in a host name");
    r.host = HOST;

    r.headers = (SigV4Header[]){{"x-amz-meta-x", "secret\r\nInjected: yes"}};
    r.header_count = 1;
    refused(s, &r, 0,
            "sigv4: header 'x-amz-meta-x' value contains a control character or line break");
    r.headers = (SigV4Header[]){{"Host", "evil"}};
    refused(s, &r, 0, "sigv4: header 'Host' is set by the signer");
    r.headers = (SigV4Header[]){{"X-Amz-Date", "20130524T000000Z"}};
    refused(s, &r, 0, "sigv4: header 'X-Amz-Date' is set by the signer");
    r.headers = (SigV4Header[]){{"Bad Name", "v"}};
    refused(s, &r, 0, "sigv4: header name 'Bad Name' is not an HTTP token");
    r.headers = (SigV4Header[]){{"x-amz-meta-x", NULL}};
    refused(s, &r, 0, "sigv4: header 'x-amz-meta-x' has no value");
    r.header_count = 0;

    r.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    refused(s, &r, 0,
            "sigv4: payload hash 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855'"
            " is neither 64 lowercase hex digits nor 'UNSIGNED-PAYLOAD' nor a 'STREAMING-' value");
    r.payload_hash = NULL;
    r.query = (SigV4Param[]){{"", "x"}};
    r.query_count = 1;
    refused(s, &r, 0, "sigv4: query parameter 0 has an empty name");
    r.query = (SigV4Param[]){{"x-amz-signature", "0"}};
    refused(s, &r, 60, "sigv4: query parameter 'x-amz-signature' is set by the signer");
    r.query_count = 0;
    refused(s, &r, 604801, "sigv4: presigned URL expiry 604801 s is out of range (1..604800)");
    refused(s, &r, -5, "sigv4: presigned URL expiry -5 s is out of range (1..604800)");
    r.time = -1;
    refused(s, &r, 0, "sigv4: time -1 is out of range");
    sigv4_free(s);

    Error err = {0};
    assert_null(sigv4_new(&(SigV4Creds){AKID, "", NULL}, "us-east-1", "s3", &err));
    assert_string_equal(err.msg, "sigv4: the secret access key is empty");
    assert_null(sigv4_new(&(SigV4Creds){NULL, SECRET, NULL}, "us-east-1", "s3", &err));
    assert_string_equal(err.msg, "sigv4: the access key id is empty");
    assert_null(sigv4_new(&(SigV4Creds){AKID, SECRET, NULL}, "", "s3", &err));
    assert_string_equal(err.msg, "sigv4: the region and the service must not be empty");
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* The lines go through curl unchanged: the server sees exactly what was signed, including the
   Host with its port, an empty header, and no signed header that curl rewrites. */
static void test_signed_lines_reach_the_wire(void **state)
{
    (void)state;
    SigV4 *s = example_signer(TOKEN);
    ScriptedExchange ex[] = {{.method = "PUT",
                              .target = "/bucket/a%20b%2Bc?partNumber=1&uploadId=u%2F1",
                              .body = "hello",
                              .body_check = SCRIPTED_BODY_EXACT,
                              .reply = {.status = 200}}};
    ScriptedHttp *srv = scripted_http_start(ex, 1);
    assert_non_null(srv);
    const char *url = scripted_http_url(srv);
    const char *host = url + strlen("http://");

    const char *body = "hello";
    char payload[HASH_HEX_SIZE];
    hash_buffer_hex(HASH_SHA256, body, 5, payload);
    char *path = sigv4_uri_encode("/bucket/a b+c", true);
    SigV4Signed out;
    sign_ok(s,
            &(SigV4Request){.method = "PUT",
                            .host = host,
                            .path = path,
                            .query = (SigV4Param[]){{"uploadId", "u/1"}, {"partNumber", "1"}},
                            .query_count = 2,
                            .headers = (SigV4Header[]){{"Content-MD5", "XUFAKrxLKna5cZ2REBfFkg=="},
                                                       {"x-amz-meta-empty", ""}},
                            .header_count = 2,
                            .payload_hash = payload,
                            .time = time(NULL)},
            &out);

    char *full = str_printf("%s%s?%s", url, path, out.query);
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < out.line_count; i++)
        list = curl_slist_append(list, out.lines[i]);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 5L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(list);

    char *msg = NULL;
    bool followed = scripted_http_finish(srv, &msg);
    if (!followed)
        print_error("%s\n", msg);
    assert_true(followed);
    assert_int_equal(status, 200);
    /* The exact path, query and header values that were signed. */
    const ScriptedRequest *r = scripted_http_request(srv, 0);
    char *target = str_printf("%s?%s", path, out.query);
    assert_string_equal(r->target, target);
    assert_true(str_starts_with(out.canonical_request, "PUT\n/bucket/a%20b%2Bc\npartNumber=1&"
                                                       "uploadId=u%2F1\n"));
    assert_string_equal(scripted_request_header(r, "authorization"), out.authorization);
    assert_string_equal(scripted_request_header(r, "host"), host);
    assert_string_equal(scripted_request_header(r, "x-amz-content-sha256"), payload);
    assert_string_equal(scripted_request_header(r, "x-amz-date"), out.amz_date);
    assert_string_equal(scripted_request_header(r, "x-amz-security-token"), TOKEN);
    assert_string_equal(scripted_request_header(r, "x-amz-meta-empty"), "");
    assert_string_equal(scripted_request_header(r, "content-md5"), "XUFAKrxLKna5cZ2REBfFkg==");
    /* Every signed header arrived once: nothing added by curl is in the signature. */
    assert_string_equal(out.signed_headers, "content-md5;host;x-amz-content-sha256;x-amz-date;"
                                            "x-amz-meta-empty;x-amz-security-token");
    free(target);
    free(msg);
    scripted_http_free(srv);
    free(full);
    free(path);
    sigv4_signed_free(&out);
    sigv4_free(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_object_with_range),
        cmocka_unit_test(test_put_object),
        cmocka_unit_test(test_get_bucket_lifecycle),
        cmocka_unit_test(test_list_objects),
        cmocka_unit_test(test_presigned_get),
        cmocka_unit_test(test_streaming_seed),
        cmocka_unit_test(test_signing_key_cached_per_day),
        cmocka_unit_test(test_session_token_is_signed),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_query_encoding),
        cmocka_unit_test(test_header_canonicalisation),
        cmocka_unit_test(test_bad_input_refused),
        cmocka_unit_test(test_signed_lines_reach_the_wire),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
