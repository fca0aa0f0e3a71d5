#include "support/s3_fixture.h"

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

#include "hfsync/http.h"
#include "hfsync/util.h"
#include "storage/storage.intern.h"
#include "support/testutil.h"

/* --- independent digests ------------------------------------------------------------------- */

void s3fx_sha256_hex(const void *data, size_t size, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, size, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

void s3fx_md5_b64(const void *data, size_t size, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, size, md, &n, EVP_md5(), NULL), 1);
    assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, (int)n), 24);
}

void s3fx_sha256_b64(const void *data, size_t size, char out[48])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, size, md, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, (int)n), 44);
}

static void hmac_sha256(const void *key, size_t key_size, const char *msg, unsigned char out[32])
{
    unsigned int n = 0;
    assert_non_null(
        HMAC(EVP_sha256(), key, (int)key_size, (const unsigned char *)msg, strlen(msg), out, &n));
    assert_int_equal(n, 32);
}

/* --- the fixture --------------------------------------------------------------------------- */

void s3fx_start(S3Fx *fx, const ScriptedExchange *ex, size_t count, uint64_t part_size,
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
static void assert_signed(const S3Fx *fx, const ScriptedRequest *r)
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
    s3fx_sha256_hex(r->body, r->body_size, body_sha);
    assert_string_equal(sha, body_sha);
    const char *md5 = scripted_request_header(r, "content-md5");
    if (md5 != NULL) {
        char want[32];
        s3fx_md5_b64(r->body, r->body_size, want);
        assert_string_equal(md5, want);
    }
    /* x-amz-checksum-sha256 is the base64 of the same digest (§2.6 "Checksums"). */
    const char *sum = scripted_request_header(r, "x-amz-checksum-sha256");
    if (sum != NULL) {
        char want[48];
        s3fx_sha256_b64(r->body, r->body_size, want);
        assert_string_equal(sum, want);
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
    s3fx_sha256_hex(creq, strlen(creq), creq_hash);
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
void s3fx_finish(S3Fx *fx)
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

void s3fx_free(S3Fx *fx)
{
    scripted_http_free(fx->srv);
    config_free(&fx->cfg);
}

const ScriptedRequest *s3fx_req(S3Fx *fx, size_t i)
{
    const ScriptedRequest *r = scripted_http_request(fx->srv, i);
    assert_non_null(r);
    return r;
}

int64_t s3fx_amz_date_sec(const char *d)
{
    struct tm tm = {0};
    assert_non_null(strptime(d, "%Y%m%dT%H%M%SZ", &tm));
    return (int64_t)timegm(&tm);
}

int64_t s3fx_now_sec(void)
{
    return time_now_ns() / 1000000000;
}

uint8_t *s3fx_random(size_t size, uint32_t seed)
{
    uint8_t *b = x_malloc(size);
    test_fill_random(b, size, seed);
    return b;
}
