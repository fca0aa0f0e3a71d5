/*
 * The S3 driver against the scripted HTTP server (path-style endpoint, fixed credentials,
 * us-east-1). Each test states the exact requests it expects and the replies, then checks what
 * the driver made of them. Every recorded request is also re-signed here, independently of
 * src/http/sigv4.c (OpenSSL HMAC over a canonical request rebuilt from the bytes received), and
 * searched for the secret key (reference/s3-api.md §1, §2, §4).
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
#include "support/scripted_http.h"
#include "support/testutil.h"

#define AKID "AKIDTEST0EXAMPLE0KEY"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLE=KEY"
#define REGION "us-east-1"
#define BUCKET "test-bucket"
#define ROOT "team/host1"
#define BASE "/" BUCKET "/" ROOT "/" /* path of a key under the target root */
#define MIB (1024u * 1024u)
#define S3NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define INTERNAL_ERROR                                                                             \
    XML_HEAD "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please " \
             "try again.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"

/* --- independent digests ------------------------------------------------------------------- */

static void sha256_hex(const void *data, size_t size, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, size, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void md5_b64(const void *data, size_t size, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, size, md, &n, EVP_md5(), NULL), 1);
    assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, (int)n), 24);
}

static void hmac_sha256(const void *key, size_t key_size, const char *msg, unsigned char out[32])
{
    unsigned int n = 0;
    assert_non_null(
        HMAC(EVP_sha256(), key, (int)key_size, (const unsigned char *)msg, strlen(msg), out, &n));
    assert_int_equal(n, 32);
}

/* --- the fixture --------------------------------------------------------------------------- */

typedef struct Fx {
    ScriptedHttp *srv;
    Config cfg;
    Storage *st;
    char host[64]; /* "127.0.0.1:PORT", the Host every request must carry */
} Fx;

static void fx_start(Fx *fx, const ScriptedExchange *ex, size_t count, uint64_t part_size,
                     int parallel, int tries)
{
    memset(fx, 0, sizeof(*fx));
    fx->srv = scripted_http_start(ex, count);
    assert_non_null(fx->srv);
    const char *url = scripted_http_url(fx->srv);
    assert_true(str_starts_with(url, "http://"));
    snprintf(fx->host, sizeof(fx->host), "%s", url + 7);
    Config *c = &fx->cfg;
    c->s3.access_key = x_strdup(AKID);
    c->s3.secret_key = x_strdup(SECRET);
    c->s3.region = x_strdup(REGION);
    c->s3.endpoint = x_strdup(url);
    c->s3.path_style = 1;
    c->s3.part_size = part_size;
    c->s3.parallel = parallel;
    Error err = {0};
    assert_true(target_parse("s3://" BUCKET "/" ROOT, &c->target, &err));
    fx->st = storage_open(c, &c->target, &err);
    if (fx->st == NULL)
        print_error("storage_open: %s\n", err.msg);
    assert_non_null(fx->st);
    /* Fast retries: the same loop as in production, with millisecond waits. */
    HttpRetry fast = {.tries = tries, .base_ms = 1, .cap_ms = 4, .budget_ms = 30000};
    storage_s3_set_retry(fx->st, &fast);
}

/* Every byte of the path and query is either unreserved, '/' (path only) or %XX uppercase. */
static void assert_encoded(const char *s, size_t n, bool slash_ok)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
            (slash_ok && ch == '/'))
            continue;
        if (ch == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2]) && !islower((unsigned char)s[i + 1]) &&
            !islower((unsigned char)s[i + 2])) {
            i += 2;
            continue;
        }
        fail_msg("'%.*s': byte %zu ('%c') is not encoded the SigV4 way", (int)n, s, i, ch);
    }
}

typedef struct Pair {
    char *name, *value;
} Pair;

static int pair_cmp(const void *a, const void *b)
{
    const Pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* The canonical query (§1.3) of a query string as received: pairs sorted by name then value,
   "name" written "name=". */
static char *canonical_query(const char *q)
{
    Pair *pairs = NULL;
    size_t count = 0;
    for (const char *p = q; *p;) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        Pair pr;
        pr.name = x_strndup(p, eq != NULL ? (size_t)(eq - p) : len);
        pr.value = eq != NULL ? x_strndup(eq + 1, len - (size_t)(eq + 1 - p)) : x_strdup("");
        assert_encoded(pr.name, strlen(pr.name), false);
        assert_encoded(pr.value, strlen(pr.value), false);
        pairs = x_realloc(pairs, (count + 1) * sizeof(*pairs));
        pairs[count++] = pr;
        p += len;
        if (*p == '&')
            p++;
    }
    if (count > 1)
        qsort(pairs, count, sizeof(*pairs), pair_cmp);
    char *out = x_strdup("");
    for (size_t i = 0; i < count; i++) {
        char *next = str_printf("%s%s%s=%s", out, i ? "&" : "", pairs[i].name, pairs[i].value);
        free(out);
        out = next;
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return out;
}

/* Every value received for header `name`, trimmed, inner runs of spaces collapsed, joined by
   ','; NULL when the header was not sent (§1.4). */
static char *canonical_header_value(const ScriptedRequest *r, const char *name)
{
    char *out = NULL;
    for (size_t i = 0; i < r->header_count; i++) {
        if (strcasecmp(r->headers[i].name, name) != 0)
            continue;
        const char *v = r->headers[i].value;
        char *norm = x_malloc(strlen(v) + 1);
        size_t o = 0;
        for (const char *p = v; *p; p++)
            if (*p != ' ' || (o > 0 && norm[o - 1] != ' '))
                norm[o++] = *p;
        while (o > 0 && norm[o - 1] == ' ')
            o--;
        norm[o] = '\0';
        char *next = out == NULL ? x_strdup(norm) : str_printf("%s,%s", out, norm);
        free(out);
        free(norm);
        out = next;
    }
    return out;
}

/* Re-derive the signature of a recorded request from its bytes alone and compare it with the
   Authorization header; check the headers every S3 request must carry. */
static void assert_signed(const Fx *fx, const ScriptedRequest *r)
{
    const char *auth = scripted_request_header(r, "authorization");
    const char *date = scripted_request_header(r, "x-amz-date");
    const char *sha = scripted_request_header(r, "x-amz-content-sha256");
    const char *host = scripted_request_header(r, "host");
    assert_non_null(auth);
    assert_non_null(date);
    assert_non_null(sha);
    assert_non_null(host);
    assert_string_equal(host, fx->host);

    /* x-amz-date: YYYYMMDD'T'HHMMSS'Z' (§1.6). */
    assert_int_equal(strlen(date), 16);
    for (int i = 0; i < 16; i++) {
        if (i == 8)
            assert_int_equal(date[i], 'T');
        else if (i == 15)
            assert_int_equal(date[i], 'Z');
        else
            assert_true(isdigit((unsigned char)date[i]));
    }

    /* The payload hash is the SHA-256 of the body received (§1.5); Content-MD5 its MD5. */
    char body_sha[65];
    sha256_hex(r->body, r->body_size, body_sha);
    assert_string_equal(sha, body_sha);
    const char *md5 = scripted_request_header(r, "content-md5");
    if (md5 != NULL) {
        char want[32];
        md5_b64(r->body, r->body_size, want);
        assert_string_equal(md5, want);
    }

    /* Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/s3/aws4_request,
       SignedHeaders=a;b, Signature=hex (§1.1 step 4). */
    const char *pre = "AWS4-HMAC-SHA256 Credential=" AKID "/";
    assert_true(str_starts_with(auth, pre));
    const char *p = auth + strlen(pre);
    assert_memory_equal(p, date, 8);
    p += 8;
    const char *mid = "/" REGION "/s3/aws4_request, SignedHeaders=";
    assert_true(str_starts_with(p, mid));
    p += strlen(mid);
    const char *sig_at = strstr(p, ", Signature=");
    assert_non_null(sig_at);
    char *signed_headers = x_strndup(p, (size_t)(sig_at - p));
    const char *sig = sig_at + strlen(", Signature=");
    assert_int_equal(strlen(sig), 64);

    /* Headers that must be signed when sent. */
    static const char *const must[] = {"host", "x-amz-content-sha256", "x-amz-date"};
    char *list = str_printf(";%s;", signed_headers);
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
        char *item = str_printf(";%s;", must[i]);
        assert_non_null(strstr(list, item));
        free(item);
    }
    for (size_t i = 0; i < r->header_count; i++) {
        const char *n = r->headers[i].name;
        if (strncasecmp(n, "x-amz-", 6) != 0 && strcasecmp(n, "content-md5") != 0 &&
            strcasecmp(n, "range") != 0)
            continue;
        char *lower = x_strdup(n);
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        char *item = str_printf(";%s;", lower);
        if (strstr(list, item) == NULL)
            fail_msg("header '%s' is sent but not signed (SignedHeaders=%s)", n, signed_headers);
        free(item);
        free(lower);
    }
    free(list);

    /* The canonical request, from the wire. */
    const char *q = strchr(r->target, '?');
    size_t path_len = q != NULL ? (size_t)(q - r->target) : strlen(r->target);
    assert_encoded(r->target, path_len, true);
    char *query = canonical_query(q != NULL ? q + 1 : "");
    /* The query on the URL is already the canonical one: what was signed is what was sent. */
    assert_string_equal(query, q != NULL ? q + 1 : "");
    char *headers = x_strdup("");
    for (const char *h = signed_headers; *h;) {
        size_t len = strcspn(h, ";");
        char *name = x_strndup(h, len);
        for (char *c = name; *c; c++)
            assert_false(isupper((unsigned char)*c));
        char *value = canonical_header_value(r, name);
        if (value == NULL)
            fail_msg("signed header '%s' was not sent", name);
        char *next = str_printf("%s%s:%s\n", headers, name, value);
        free(headers);
        headers = next;
        free(name);
        free(value);
        h += len;
        if (*h == ';')
            h++;
    }
    char *creq = str_printf("%s\n%.*s\n%s\n%s\n%s\n%s", r->method, (int)path_len, r->target, query,
                            headers, signed_headers, body_sha);
    char creq_hash[65];
    sha256_hex(creq, strlen(creq), creq_hash);
    char *sts = str_printf("AWS4-HMAC-SHA256\n%s\n%.8s/" REGION "/s3/aws4_request\n%s", date, date,
                           creq_hash);
    char day[9];
    snprintf(day, sizeof(day), "%.8s", date);
    unsigned char k[32], k2[32];
    const char *secret_key = "AWS4" SECRET;
    hmac_sha256(secret_key, strlen(secret_key), day, k);
    hmac_sha256(k, 32, REGION, k2);
    hmac_sha256(k2, 32, "s3", k);
    hmac_sha256(k, 32, "aws4_request", k2);
    unsigned char s[32];
    hmac_sha256(k2, 32, sts, s);
    char want[65];
    for (int i = 0; i < 32; i++)
        sprintf(want + 2 * i, "%02x", s[i]);
    if (strcmp(want, sig) != 0)
        fail_msg("%s %s: signature %s, expected %s from the canonical request:\n%s", r->method,
                 r->target, sig, want, creq);

    /* The secret never travels. */
    assert_null(strstr(r->head, SECRET));
    assert_null(memmem(r->body, r->body_size, SECRET, strlen(SECRET)));

    free(sts);
    free(creq);
    free(headers);
    free(query);
    free(signed_headers);
}

/* Free the storage, judge the script and check the signature of every request received. */
static void fx_finish(Fx *fx)
{
    storage_free(fx->st);
    fx->st = NULL;
    char *msg = NULL;
    bool ok = scripted_http_finish(fx->srv, &msg);
    if (!ok)
        print_error("script not followed:\n%s\n", msg);
    free(msg);
    assert_true(ok);
    size_t n = scripted_http_request_count(fx->srv);
    for (size_t i = 0; i < n; i++)
        assert_signed(fx, scripted_http_request(fx->srv, i));
}

static void fx_free(Fx *fx)
{
    scripted_http_free(fx->srv);
    config_free(&fx->cfg);
}

static const ScriptedRequest *req_at(Fx *fx, size_t i)
{
    const ScriptedRequest *r = scripted_http_request(fx->srv, i);
    assert_non_null(r);
    return r;
}

static int64_t amz_date_sec(const char *d)
{
    struct tm tm = {0};
    assert_non_null(strptime(d, "%Y%m%dT%H%M%SZ", &tm));
    return (int64_t)timegm(&tm);
}

static int64_t now_sec(void)
{
    return time_now_ns() / 1000000000;
}

static uint8_t *random_bytes(size_t size, uint32_t seed)
{
    uint8_t *b = x_malloc(size);
    test_fill_random(b, size, seed);
    return b;
}

/* --- 1. a signed PutObject ---------------------------------------------------------------- */

static void test_put_object_signed(void **state)
{
    (void)state;
    const char *body = "{\"backup\":\"20261121-101500F\",\"size\":42}\n";
    char sha[65], md5[32], len[16];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    sha256_hex(body, strlen(body), sha);
    md5_b64(body, strlen(body), md5);
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
    Fx fx;
    fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    int64_t before = now_sec();
    Error err = {0};
    bool ok = storage_put(fx.st, "meta/a b+c$.json", body, strlen(body), &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    int64_t after = now_sec();
    fx_finish(&fx);

    assert_int_equal(scripted_http_request_count(fx.srv), 1);
    const ScriptedRequest *r = req_at(&fx, 0);
    assert_true(str_starts_with(r->head, "PUT " BASE "meta/a%20b%2Bc%24.json HTTP/1.1\r\n"));
    /* Signed with the current time. */
    int64_t t = amz_date_sec(scripted_request_header(r, "x-amz-date"));
    assert_true(t >= before - 1 && t <= after + 1);
    /* Exactly these headers are signed: host, the payload hash, the date and Content-MD5. */
    const char *auth = scripted_request_header(r, "authorization");
    assert_non_null(
        strstr(auth, ", SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date, "));
    fx_free(&fx);
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
    Fx fx;
    fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    Error err = {0};
    assert_true(storage_put(fx.st, "empty", "", 0, &err));
    fx_finish(&fx);
    fx_free(&fx);
}

/* --- 2. multipart with a part answered 500 ------------------------------------------------- */

#define BIG_KEY BASE "vol/big.tar.zst"
/* An upload id with characters that must be encoded in a query, and an XML entity. */
#define UPLOAD_ID_XML "Ab+/c=&amp;d~2"
#define UPLOAD_ID_Q "Ab%2B%2Fc%3D%26d~2"

static const char create_reply[] =
    XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" S3NS "\"><Bucket>" BUCKET
             "</Bucket><Key>" ROOT "/vol/big.tar.zst</Key><UploadId>" UPLOAD_ID_XML "</UploadId>"
             "</InitiateMultipartUploadResult>";

static const char complete_reply[] =
    XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" S3NS "\"><Location>http://x/" BUCKET "/" ROOT
             "/vol/big.tar.zst</Location><Bucket>" BUCKET "</Bucket><Key>" ROOT
             "/vol/big.tar.zst</Key><ETag>\"3858f62230ac3c915f300c664312c11f-3\"</ETag>"
             "</CompleteMultipartUploadResult>";

typedef struct PartSpec {
    char target[160];
    char md5[32];
    char sha[65];
} PartSpec;

static void part_spec(PartSpec *ps, int number, const uint8_t *data, size_t size)
{
    snprintf(ps->target, sizeof(ps->target), "%s?partNumber=%d&uploadId=%s", BIG_KEY, number,
             UPLOAD_ID_Q);
    md5_b64(data, size, ps->md5);
    sha256_hex(data, size, ps->sha);
}

static ScriptedExchange part_exchange(const PartSpec *ps, const uint8_t *data, size_t size,
                                      const char *etag)
{
    return (ScriptedExchange){
        .method = "PUT",
        .target = ps->target,
        .headers = {{"Content-MD5", ps->md5}, {"x-amz-content-sha256", ps->sha}},
        .body = data,
        .body_size = size,
        .body_check = SCRIPTED_BODY_EXACT,
        .unordered = true,
        .reply = {.status = 200, .headers = {{"ETag", etag}}},
    };
}

/* Write `data` through the sink in odd-sized pieces. */
static bool write_in_pieces(Sink *w, const uint8_t *data, size_t size, size_t piece, Error *err)
{
    for (size_t at = 0; at < size; at += piece)
        if (!sink_write(w, data + at, size - at < piece ? size - at : piece, err))
            return false;
    return true;
}

static void test_multipart_part_retried(void **state)
{
    (void)state;
    size_t size = 11 * MIB + 12345, sizes[3] = {5 * MIB, 5 * MIB, MIB + 12345};
    uint8_t *data = random_bytes(size, 3);
    const uint8_t *parts[3] = {data, data + 5 * MIB, data + 10 * MIB};
    PartSpec ps[3];
    for (int i = 0; i < 3; i++)
        part_spec(&ps[i], i + 1, parts[i], sizes[i]);
    const char *etags[3] = {"\"etag-1-a54357aff\"", "\"etag-2-0c78aef83\"", "\"etag-3-ff9e1b22\""};
    char *complete_body = str_printf(
        "<CompleteMultipartUpload xmlns=\"" S3NS "\">"
        "<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1-a54357aff&quot;</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>&quot;etag-2-0c78aef83&quot;</ETag></Part>"
        "<Part><PartNumber>3</PartNumber><ETag>&quot;etag-3-ff9e1b22&quot;</ETag></Part>"
        "</CompleteMultipartUpload>");

    ScriptedExchange part2_500 = part_exchange(&ps[1], parts[1], sizes[1], NULL);
    part2_500.reply = (ScriptedReply){
        .status = 500, .headers = {{"Content-Type", "application/xml"}}, .body = INTERNAL_ERROR};
    ScriptedExchange ex[] = {
        /* No body, and no Content-Type: S3 would keep one as the object's type. */
        {.method = "POST",
         .target = BIG_KEY "?uploads=",
         .headers = {{"Content-Length", "0"}, {"Content-Type", SCRIPTED_ABSENT}},
         .body_size = 0,
         .body_check = SCRIPTED_BODY_SIZE,
         .reply = {.status = 200, .body = create_reply}},
        /* Parts go in parallel, in any order; part 2 is refused once and sent again. */
        part_exchange(&ps[0], parts[0], sizes[0], etags[0]),
        part2_500,
        part_exchange(&ps[1], parts[1], sizes[1], etags[1]),
        part_exchange(&ps[2], parts[2], sizes[2], etags[2]),
        {.method = "POST",
         .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q,
         .headers = {{"Content-Type", "application/xml"}},
         .body = complete_body,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200, .body = complete_reply}},
    };
    Fx fx;
    fx_start(&fx, ex, sizeof(ex) / sizeof(ex[0]), 5 * MIB, 3, 5);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, data, size, 65537, &err) && sink_finish(w, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    /* Free before any assertion: a failed test must not leave uploader threads behind. */
    sink_free(w);
    fx_finish(&fx);
    assert_true(ok);

    /* Create, part 1, part 2 (500), part 2 again, part 3, Complete; Complete after every part. */
    assert_int_equal(scripted_http_request_count(fx.srv), 6);
    assert_int_equal(req_at(&fx, 0)->exchange, 0);
    assert_int_equal(req_at(&fx, 5)->exchange, 5);
    size_t seen[6] = {0};
    for (size_t i = 0; i < 6; i++)
        seen[req_at(&fx, i)->exchange]++;
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(seen[i], 1);
    for (size_t i = 1; i < 5; i++) {
        const ScriptedRequest *r = req_at(&fx, i);
        size_t part = r->exchange == 1 ? 0 : r->exchange == 4 ? 2 : 1;
        assert_int_equal(r->body_size, sizes[part]);
        char len[32];
        snprintf(len, sizeof(len), "%zu", sizes[part]);
        assert_string_equal(scripted_request_header(r, "content-length"), len);
        assert_string_equal(scripted_request_header(r, "content-md5"), ps[part].md5);
    }
    /* The 500 came before the resend of the same part. */
    size_t first_500 = SIZE_MAX, resend = SIZE_MAX;
    for (size_t i = 0; i < 6; i++) {
        if (req_at(&fx, i)->exchange == 2)
            first_500 = i;
        if (req_at(&fx, i)->exchange == 3)
            resend = i;
    }
    assert_true(first_500 < resend);
    /* The parts went over the uploaders' own connections, not the one Create used. */
    for (size_t i = 1; i < 5; i++)
        assert_int_not_equal(req_at(&fx, i)->connection, req_at(&fx, 0)->connection);
    fx_free(&fx);
    free(complete_body);
    free(data);
}

/* --- 3. CompleteMultipartUpload answered 200 with <Error> ---------------------------------- */

#define SMALL_PART (64u * 1024u)

typedef struct SmallUpload {
    uint8_t *data;
    size_t size;
    PartSpec ps[2];
    char *complete_body;
} SmallUpload;

/* An object of two parts (64 KiB and 1000 bytes): the driver takes any part size; the 5 MiB
   minimum is S3's and the configuration's. */
static void small_upload_init(SmallUpload *u, uint32_t seed)
{
    u->size = SMALL_PART + 1000;
    u->data = random_bytes(u->size, seed);
    part_spec(&u->ps[0], 1, u->data, SMALL_PART);
    part_spec(&u->ps[1], 2, u->data + SMALL_PART, 1000);
    u->complete_body =
        str_printf("<CompleteMultipartUpload xmlns=\"" S3NS "\">"
                   "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>"
                   "<Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
                   "</CompleteMultipartUpload>");
}

static void small_upload_free(SmallUpload *u)
{
    free(u->data);
    free(u->complete_body);
}

/* Create and the two parts; `ex` must have room for 3. */
static void small_upload_script(const SmallUpload *u, ScriptedExchange *ex)
{
    ex[0] = (ScriptedExchange){.method = "POST",
                               .target = BIG_KEY "?uploads=",
                               .reply = {.status = 200, .body = create_reply}};
    ex[1] = part_exchange(&u->ps[0], u->data, SMALL_PART, "\"e1\"");
    ex[2] = part_exchange(&u->ps[1], u->data + SMALL_PART, 1000, "\"e2\"");
}

static ScriptedExchange complete_exchange(const SmallUpload *u, int status, const char *reply)
{
    return (ScriptedExchange){.method = "POST",
                              .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q,
                              .body = u->complete_body,
                              .body_check = SCRIPTED_BODY_EXACT,
                              .reply = {.status = status, .body = reply}};
}

/* S3 sends 200 at once, pads with whitespace while it assembles, then may write an error
   (s3-api.md §2.6). */
static const char complete_200_error[] = "\n   \n   \n" INTERNAL_ERROR;

static void test_complete_error_in_200_retried(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 5);
    ScriptedExchange ex[5];
    small_upload_script(&u, ex);
    ex[3] = complete_exchange(&u, 200, complete_200_error);
    ex[4] = complete_exchange(&u, 200, complete_reply);
    Fx fx;
    fx_start(&fx, ex, 5, SMALL_PART, 2, 5);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, u.data, u.size, 7, &err) && sink_finish(w, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    sink_free(w); /* finished: no Abort */
    fx_finish(&fx);
    assert_true(ok);
    assert_int_equal(scripted_http_request_count(fx.srv), 5);
    fx_free(&fx);
    small_upload_free(&u);
}

static void test_complete_error_persists_then_abort(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 6);
    ScriptedExchange ex[7];
    small_upload_script(&u, ex);
    for (int i = 3; i < 6; i++)
        ex[i] = complete_exchange(&u, 200, complete_200_error);
    ex[6] = (ScriptedExchange){.method = "DELETE",
                               .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q,
                               .body_size = 0,
                               .body_check = SCRIPTED_BODY_SIZE,
                               .reply = {.status = 204}};
    Fx fx;
    fx_start(&fx, ex, 7, SMALL_PART, 2, 3);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool written = write_in_pieces(w, u.data, u.size, 4096, &err);
    bool finished = written && sink_finish(w, &err);
    size_t before_free = scripted_http_request_count(fx.srv);
    sink_free(w);
    fx_finish(&fx);
    assert_true(written);
    assert_false(finished);
    assert_int_equal(err.code, ERR_NET);
    assert_non_null(strstr(err.msg, "CompleteMultipartUpload"));
    assert_non_null(strstr(err.msg, "s3://" BUCKET "/" ROOT "/vol/big.tar.zst"));
    assert_non_null(strstr(err.msg, "InternalError"));
    assert_non_null(strstr(err.msg, "gave up after 3 tries"));
    /* Nothing is aborted until the sink is freed; then Abort is the last request. */
    assert_int_equal(before_free, 6);
    assert_int_equal(scripted_http_request_count(fx.srv), 7);
    assert_string_equal(req_at(&fx, 6)->method, "DELETE");
    fx_free(&fx);
    small_upload_free(&u);
}

/* A part refused for good: the write fails naming the part, and the upload is aborted. */
static void test_part_refused_aborts_upload(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 7);
    ScriptedExchange ex[4];
    small_upload_script(&u, ex);
    ex[2].unordered = ex[1].unordered = false; /* one uploader: part 1, then part 2 */
    ex[2].reply = (ScriptedReply){.status = 403,
                                  .body = XML_HEAD "<Error><Code>AccessDenied</Code><Message>"
                                                   "Access Denied</Message></Error>"};
    ex[3] = (ScriptedExchange){
        .method = "DELETE", .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q, .reply = {.status = 204}};
    Fx fx;
    fx_start(&fx, ex, 4, SMALL_PART, 1, 5);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, u.data, u.size, 65536, &err) && sink_finish(w, &err);
    sink_free(w);
    fx_finish(&fx);
    assert_false(ok);
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "part 2"));
    assert_non_null(strstr(err.msg, "UploadPart"));
    assert_non_null(strstr(err.msg, "s3://" BUCKET "/" ROOT "/vol/big.tar.zst"));
    assert_non_null(strstr(err.msg, "AccessDenied"));
    assert_int_equal(scripted_http_request_count(fx.srv), 4);
    fx_free(&fx);
    small_upload_free(&u);
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
    Fx fx;
    fx_start(&fx, ex, 2, 5 * MIB, 4, 5);
    Error err = {0};
    assert_false(storage_put(fx.st, "meta/x.json", "{}", 2, &err));
    assert_sig_mismatch(&err, "PutObject", "s3://" BUCKET "/" ROOT "/meta/x.json");
    error_clear(&err);
    assert_null(storage_read_open(fx.st, "meta/y.json", 0, &err));
    assert_sig_mismatch(&err, "GetObject", "s3://" BUCKET "/" ROOT "/meta/y.json");
    fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 2);
    fx_free(&fx);
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
    Fx fx;
    fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
    Listed l = {0};
    Error err = {0};
    bool ok = storage_list(fx.st, "vol/", on_listed, &l, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    fx_finish(&fx);
    assert_int_equal(l.count, 4);
    /* Relative to the target root, entities decoded (&#233; is UTF-8 é). */
    const char *want[] = {"vol/a.bin", "vol/R&D <1>.txt", "vol/caf\xc3\xa9.txt", "vol/sub/z"};
    uint64_t want_size[] = {10, 0, 5368709120ull, 7};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(l.paths[i], want[i]);
        assert_int_equal(l.sizes[i], want_size[i]);
        free(l.paths[i]);
    }
    fx_free(&fx);
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
    Fx fx;
    fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    Listed l = {0};
    Error err = {0};
    assert_false(storage_list(fx.st, "vol/", on_listed, &l, &err));
    assert_int_equal(l.count, 0);
    assert_non_null(strstr(err.msg, "ListObjectsV2"));
    assert_non_null(strstr(err.msg, "continuation token"));
    fx_finish(&fx);
    fx_free(&fx);
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
    md5_b64(body1, strlen(body1), md5_1);
    md5_b64(body2, strlen(body2), md5_2);
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
    Fx fx;
    fx_start(&fx, ex, 2, 5 * MIB, 4, 5);
    Error err = {0};
    bool ok = storage_delete(fx.st, (const char *const *)paths, count, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 2);
    fx_free(&fx);
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
    md5_b64(body, strlen(body), md5);
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
    Fx fx;
    fx_start(&fx, ex, 1, 5 * MIB, 4, 5);
    Error err = {0};
    assert_false(storage_delete(fx.st, (const char *const *)paths, 3, &err));
    assert_non_null(strstr(err.msg, "DeleteObjects"));
    assert_non_null(strstr(err.msg, ROOT "/vol/two"));
    assert_non_null(strstr(err.msg, "AccessDenied"));
    assert_null(strstr(err.msg, "vol/one"));
    fx_finish(&fx);
    fx_free(&fx);
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
    uint8_t *data = random_bytes(size, 9);
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
    Fx fx;
    fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
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
    fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 3);
    /* The Range header is part of the signature (checked by fx_finish for every request). */
    assert_non_null(strstr(scripted_request_header(req_at(&fx, 1), "authorization"),
                           "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"));
    fx_free(&fx);
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
    Fx fx;
    fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
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
    fx_finish(&fx);
    fx_free(&fx);
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
    Fx fx;
    fx_start(&fx, ex, 4, 5 * MIB, 4, 5);
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
    fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 4);
    free(data);
    free(tag);
    fx_free(&fx);
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
    Fx fx;
    fx_start(&fx, ex, 3, 5 * MIB, 4, 5);
    Error err = {0};
    bool ok = storage_put_if(fx.st, "latest-backup.json", "new", 3, "\"aaa\"", &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    fx_finish(&fx);
    assert_int_equal(scripted_http_request_count(fx.srv), 3);
    fx_free(&fx);
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
    int64_t server = now_sec() + 3600; /* the server is an hour ahead of us */
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
    Fx fx;
    fx_start(&fx, ex, 3, 5 * MIB, 4, 1); /* one try: the skew retry is not a backoff retry */
    Error err = {0};
    bool ok = storage_put(fx.st, "meta/x.json", "{}", 2, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    StorageInfo info;
    assert_true(storage_info(fx.st, "meta/x.json", &info, &err));
    assert_true(info.exists);
    fx_finish(&fx);
    int64_t t0 = amz_date_sec(scripted_request_header(req_at(&fx, 0), "x-amz-date"));
    int64_t t1 = amz_date_sec(scripted_request_header(req_at(&fx, 1), "x-amz-date"));
    int64_t t2 = amz_date_sec(scripted_request_header(req_at(&fx, 2), "x-amz-date"));
    assert_true(llabs(t0 - (server - 3600)) <= 5);
    assert_true(llabs(t1 - server) <= 5);
    assert_true(llabs(t2 - server) <= 5);
    fx_free(&fx);

    /* A skew that persists after correcting is reported with the hint, not retried forever. */
    ScriptedExchange ex2[] = {
        {.method = "PUT",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
        {.method = "PUT",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
    };
    fx_start(&fx, ex2, 2, 5 * MIB, 4, 5);
    assert_false(storage_put(fx.st, "meta/x.json", "{}", 2, &err));
    assert_non_null(strstr(err.msg, "RequestTimeTooSkewed"));
    assert_non_null(strstr(err.msg, "PutObject"));
    assert_non_null(strstr(err.msg, "clock"));
    fx_finish(&fx);
    fx_free(&fx);
}

/* The first request of a restore is a GET: the reader learns the offset too. */
static void test_skew_on_get(void **state)
{
    (void)state;
    int64_t server = now_sec() - 7200;
    char date[64];
    http_date(server, date);
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = BASE "meta/x.json",
         .reply = {.status = 403, .headers = {{"Date", date}}, .body = skewed}},
        {.method = "GET", .target = BASE "meta/x.json", .reply = {.status = 200, .body = "{}"}},
    };
    Fx fx;
    fx_start(&fx, ex, 2, 5 * MIB, 4, 5);
    Error err = {0};
    char *data = NULL;
    size_t size = 0;
    bool ok = storage_get(fx.st, "meta/x.json", 1024, &data, &size, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    assert_string_equal(data, "{}");
    free(data);
    fx_finish(&fx);
    int64_t t1 = amz_date_sec(scripted_request_header(req_at(&fx, 1), "x-amz-date"));
    assert_true(llabs(t1 - server) <= 5);
    fx_free(&fx);
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
        cmocka_unit_test(test_multipart_part_retried),
        cmocka_unit_test(test_complete_error_in_200_retried),
        cmocka_unit_test(test_complete_error_persists_then_abort),
        cmocka_unit_test(test_part_refused_aborts_upload),
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
