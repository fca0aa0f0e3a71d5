/*
 * The scripted HTTP server, driven by libcurl: keep-alive, chunked and 100-continue bodies,
 * mismatch reports, unordered exchanges with dynamic replies, and each fault as curl sees it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hfsync/util.h"
#include "support/scripted_http.h"
#include "support/testutil.h"

typedef struct Resp {
    CURLcode rc;
    long status;
    char body[8192];
    size_t body_len;
    char head[8192]; /* every response header line curl saw, 1xx included */
    size_t head_len;
} Resp;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    Resp *r = ctx;
    size_t len = size * n, room = sizeof(r->body) - 1 - r->body_len;
    memcpy(r->body + r->body_len, p, len < room ? len : room);
    r->body_len += len < room ? len : room;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    Resp *r = ctx;
    size_t len = size * n, room = sizeof(r->head) - 1 - r->head_len;
    memcpy(r->head + r->head_len, p, len < room ? len : room);
    r->head_len += len < room ? len : room;
    r->head[r->head_len] = '\0';
    return len;
}

static CURL *easy_new(Resp *r)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L); /* a hang fails instead of blocking the suite */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

static void perform(CURL *c, ScriptedHttp *srv, const char *target, Resp *r)
{
    memset(r, 0, sizeof(*r));
    char *url = str_printf("%s%s", scripted_http_url(srv), target);
    curl_easy_setopt(c, CURLOPT_URL, url);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    free(url);
}

/* One request on its own handle (so on its own connection). */
static void request(ScriptedHttp *srv, const char *method, const char *target, const char *body,
                    Resp *r)
{
    CURL *c = easy_new(r);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    perform(c, srv, target, r);
    curl_easy_cleanup(c);
}

static void assert_followed(ScriptedHttp *srv)
{
    char *msg = NULL;
    bool ok = scripted_http_finish(srv, &msg);
    if (!ok)
        print_error("script not followed:\n%s\n", msg);
    assert_true(ok);
    assert_null(msg);
}

static void test_keep_alive_sequence(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = "/bucket/a?x=1",
         .reply = {.status = 200, .headers = {{"ETag", "\"e1\""}}, .body = "first"}},
        {.method = "PUT",
         .target = "/bucket/b",
         .headers = {{"Content-Type", "text/plain"}, {"X-Present", NULL}},
         .body = "payload",
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200}},
        {.method = "DELETE", .target = "/bucket/c", .reply = {.status = 204}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 3);
    assert_non_null(srv);
    Resp r;
    CURL *c = easy_new(&r);

    perform(c, srv, "/bucket/a?x=1", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "first");
    assert_non_null(strstr(r.head, "ETag: \"e1\"\r\n"));

    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/plain");
    h = curl_slist_append(h, "X-Present: anything");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "payload");
    perform(c, srv, "/bucket/b", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);

    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    perform(c, srv, "/bucket/c", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 204);
    long connects = -1;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0); /* the last request reused the connection */
    curl_easy_cleanup(c);
    curl_slist_free_all(h);

    assert_followed(srv);
    assert_int_equal(scripted_http_connection_count(srv), 1);
    assert_int_equal(scripted_http_request_count(srv), 3);
    for (size_t i = 0; i < 3; i++) {
        const ScriptedRequest *q = scripted_http_request(srv, i);
        assert_int_equal(q->connection, 0);
        assert_int_equal(q->exchange, i);
    }
    const ScriptedRequest *q = scripted_http_request(srv, 1);
    assert_string_equal(q->method, "PUT");
    assert_string_equal(q->target, "/bucket/b");
    assert_string_equal(scripted_request_header(q, "content-length"), "7");
    assert_string_equal(scripted_request_header(q, "x-present"), "anything");
    assert_int_equal(q->body_size, 7);
    assert_memory_equal(q->body, "payload", 7);
    assert_false(q->chunked);
    assert_true(str_starts_with(q->head, "PUT /bucket/b HTTP/1.1\r\n"));
    assert_true(str_ends_with(q->head, "\r\n"));
    assert_null(scripted_http_request(srv, 3));
    scripted_http_free(srv);
}

typedef struct Source {
    const uint8_t *data;
    size_t size, pos, step;
} Source;

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    Source *s = ctx;
    size_t len = size * n;
    if (len > s->step)
        len = s->step;
    if (len > s->size - s->pos)
        len = s->size - s->pos;
    memcpy(buf, s->data + s->pos, len);
    s->pos += len;
    return len;
}

static int on_trailer(struct curl_slist **list, void *ctx)
{
    (void)ctx;
    *list = curl_slist_append(NULL, "x-amz-checksum-crc32: AAAAAA==");
    return CURL_TRAILERFUNC_OK;
}

static void test_chunked_body(void **state)
{
    (void)state;
    size_t size = 70001;
    uint8_t *data = malloc(size);
    test_fill_random(data, size, 7);
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = "/bucket/stream",
         .headers = {{"Transfer-Encoding", "chunked"}, {"Content-Length", SCRIPTED_ABSENT}},
         .body = data,
         .body_size = size,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 1);
    assert_non_null(srv);
    Resp r;
    CURL *c = easy_new(&r);
    Source src = {data, size, 0, 7777}; /* chunks of 7777 bytes and a short last one */
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue here: that is the next test */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_TRAILERFUNCTION, on_trailer);
    perform(c, srv, "/bucket/stream", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);

    assert_followed(srv);
    const ScriptedRequest *q = scripted_http_request(srv, 0);
    assert_true(q->chunked);
    assert_false(q->continued);
    assert_int_equal(q->body_size, size);
    assert_memory_equal(q->body, data, size);
    /* The trailer is recorded with the headers. */
    assert_string_equal(scripted_request_header(q, "x-amz-checksum-crc32"), "AAAAAA==");
    scripted_http_free(srv);
    free(data);
}

static void test_expect_continue_large_put(void **state)
{
    (void)state;
    size_t size = 1536 * 1024;
    uint8_t *data = malloc(size);
    test_fill_random(data, size, 11);
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = "/bucket/big",
         .headers = {{"Expect", "100-continue"}, {"Content-Length", "1572864"}},
         .body = data,
         .body_size = size,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200, .headers = {{"ETag", "\"big\""}}}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 1);
    assert_non_null(srv);
    Resp r;
    CURL *c = easy_new(&r);
    Source src = {data, size, 0, SIZE_MAX};
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    /* Long enough that curl never gives up waiting and sends the body unasked. */
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
    perform(c, srv, "/bucket/big", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_true(str_starts_with(r.head, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    curl_easy_cleanup(c);

    assert_followed(srv);
    const ScriptedRequest *q = scripted_http_request(srv, 0);
    assert_true(q->continued);
    assert_int_equal(q->body_size, size);
    scripted_http_free(srv);
    free(data);
}

static void test_mismatch_detection(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET", .target = "/bucket?list-type=2", .reply = {.status = 200}},
        {.method = "PUT",
         .target = "/bucket/k",
         .headers = {{"Content-MD5", "right"}, {"x-amz-date", NULL}},
         .body = "xyz",
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200}},
        {.method = "POST",
         .target = "/bucket/k?uploads",
         .target_match = SCRIPTED_TARGET_PREFIX,
         .body_size = 4,
         .body_check = SCRIPTED_BODY_SIZE,
         .reply = {.status = 200}},
        {.method = "GET", .target = "/never", .reply = {.status = 200}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 4);
    assert_non_null(srv);
    Resp r;

    /* Wrong target: answered 599 with the reason, nothing consumed. */
    request(srv, "GET", "/bucket?list-type=1", NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 599);
    assert_string_equal(r.body, "request 0 (GET /bucket?list-type=1, connection 0): unexpected; "
                                "expected exchange 0 (GET /bucket?list-type=2)");
    request(srv, "GET", "/bucket?list-type=2", NULL, &r);
    assert_int_equal(r.status, 200);

    /* Right target, wrong header, missing header, wrong body. */
    CURL *c = easy_new(&r);
    struct curl_slist *h = curl_slist_append(NULL, "Content-MD5: wrong");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "xyz");
    perform(c, srv, "/bucket/k", &r);
    assert_int_equal(r.status, 599);
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Content-MD5: right");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    perform(c, srv, "/bucket/k", &r);
    assert_int_equal(r.status, 599);
    h = curl_slist_append(h, "x-amz-date: 20130524T000000Z");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "xyZ");
    perform(c, srv, "/bucket/k", &r);
    assert_int_equal(r.status, 599);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "xyz");
    perform(c, srv, "/bucket/k", &r);
    assert_int_equal(r.status, 200);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);

    /* Prefix target with a body of the wrong size, then the right one. */
    request(srv, "POST", "/bucket/k?uploads=", "abc", &r);
    assert_int_equal(r.status, 599);
    request(srv, "POST", "/bucket/k?uploads=", "abcd", &r);
    assert_int_equal(r.status, 200);

    char *msg = NULL;
    assert_false(scripted_http_finish(srv, &msg));
    assert_string_equal(
        msg, "request 0 (GET /bucket?list-type=1, connection 0): unexpected; expected exchange 0 "
             "(GET /bucket?list-type=2)\n"
             "request 2 (PUT /bucket/k, connection 2): exchange 1 (PUT /bucket/k): header "
             "'Content-MD5' is 'wrong', expected 'right'\n"
             "request 3 (PUT /bucket/k, connection 2): exchange 1 (PUT /bucket/k): header "
             "'x-amz-date' is missing\n"
             "request 4 (PUT /bucket/k, connection 2): exchange 1 (PUT /bucket/k): body 'xyZ' (3 "
             "bytes) differs from the expected 'xyz' (3 bytes) at byte 2\n"
             "request 6 (POST /bucket/k?uploads=, connection 3): exchange 2 (POST "
             "/bucket/k?uploads*): body is 3 bytes, expected 4\n"
             "exchange 3 (GET /never) was never requested");
    free(msg);
    /* The verdict is stable. */
    assert_false(scripted_http_finish(srv, NULL));
    assert_int_equal(scripted_http_request(srv, 2)->exchange, SCRIPTED_NONE);
    assert_int_equal(scripted_http_request(srv, 5)->exchange, 1);
    scripted_http_free(srv);

    /* An empty script: every request is unexpected; an untouched one is followed. */
    srv = scripted_http_start(NULL, 0);
    request(srv, "HEAD", "/x", NULL, &r);
    assert_false(scripted_http_finish(srv, &msg));
    assert_string_equal(msg, "request 0 (HEAD /x, connection 0): unexpected: the script's 0 "
                             "exchanges are all used");
    free(msg);
    scripted_http_free(srv);
    srv = scripted_http_start(NULL, 0);
    assert_followed(srv);
    scripted_http_free(srv);
}

static void test_header_must_be_absent(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "PUT",
         .target = "/k",
         .headers = {{"Transfer-Encoding", SCRIPTED_ABSENT}},
         .reply = {.status = 200}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 1);
    Resp r;
    CURL *c = easy_new(&r);
    Source src = {(const uint8_t *)"abc", 3, 0, 3};
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    perform(c, srv, "/k", &r);
    assert_int_equal(r.status, 599);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    char *msg = NULL;
    assert_false(scripted_http_finish(srv, &msg));
    assert_string_equal(msg, "request 0 (PUT /k, connection 0): exchange 0 (PUT /k): header "
                             "'Transfer-Encoding' must not be sent, got 'chunked'\n"
                             "exchange 0 (PUT /k) was never requested");
    free(msg);
    scripted_http_free(srv);
}

/* A dynamic reply: the ETag names the body, the way S3 derives it from the part. */
static void etag_from_body(ScriptedHttp *srv, const ScriptedRequest *req, ScriptedReply *reply,
                           void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    reply->headers[0] = (ScriptedHeader){"ETag", scripted_http_printf(srv, "\"%s\"", req->body)};
}

static void test_unordered_with_handler(void **state)
{
    (void)state;
    int calls = 0;
    ScriptedExchange part = {.method = "PUT",
                             .target = "/b/k?partNumber=",
                             .target_match = SCRIPTED_TARGET_PREFIX,
                             .unordered = true,
                             .reply = {.status = 200},
                             .handler = etag_from_body,
                             .handler_ctx = &calls};
    ScriptedExchange ex[] = {
        {.method = "POST", .target = "/b/k?uploads=", .reply = {.status = 200, .body = "<id/>"}},
        part,
        part,
        part,
        {.method = "POST", .target = "/b/k?uploadId=1", .reply = {.status = 200}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 5);
    Resp r;
    request(srv, "POST", "/b/k?uploads=", NULL, &r);
    assert_string_equal(r.body, "<id/>");
    /* Parts out of script order are fine; the exchange after them waits for all of them. */
    request(srv, "PUT", "/b/k?partNumber=3&uploadId=1", "p3", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "ETag: \"p3\"\r\n"));
    request(srv, "POST", "/b/k?uploadId=1", NULL, &r);
    assert_int_equal(r.status, 599);
    assert_string_equal(r.body, "request 2 (POST /b/k?uploadId=1, connection 2): unexpected; "
                                "expected exchange 2 (PUT /b/k?partNumber=*) or one of the 1 "
                                "unordered exchanges after it");

    /* The other two concurrently, each on its own connection. */
    CURLM *m = curl_multi_init();
    Resp pr[2];
    CURL *e[2];
    const char *bodies[2] = {"p1", "p2"};
    for (int i = 0; i < 2; i++) {
        e[i] = easy_new(&pr[i]);
        memset(&pr[i], 0, sizeof(pr[i]));
        char *url = str_printf("%s/b/k?partNumber=%d&uploadId=1", scripted_http_url(srv), i + 1);
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        free(url);
        curl_easy_setopt(e[i], CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, bodies[i]);
        curl_multi_add_handle(m, e[i]);
    }
    int running = 1;
    while (running) {
        assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < 2; i++) {
        long status = 0;
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &status);
        assert_int_equal(status, 200);
        char *want = str_printf("ETag: \"%s\"\r\n", bodies[i]);
        assert_non_null(strstr(pr[i].head, want));
        free(want);
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);

    request(srv, "POST", "/b/k?uploadId=1", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(calls, 3);
    char *msg = NULL;
    assert_false(scripted_http_finish(srv, &msg)); /* the early Complete is on record */
    assert_string_equal(msg, "request 2 (POST /b/k?uploadId=1, connection 2): unexpected; "
                             "expected exchange 2 (PUT /b/k?partNumber=*) or one of the 1 "
                             "unordered exchanges after it");
    free(msg);
    assert_int_equal(scripted_http_connection_count(srv), 6);
    scripted_http_free(srv);
}

static void test_faults_seen_by_curl(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET", .target = "/close", .reply = {.fault = SCRIPTED_FAULT_CLOSE}},
        {.method = "GET", .target = "/reset", .reply = {.fault = SCRIPTED_FAULT_RESET}},
        {.method = "GET",
         .target = "/short",
         .reply = {.status = 200, .body = "0123456789", .fault = SCRIPTED_FAULT_SHORT_BODY}},
        {.method = "GET", .target = "/slow", .reply = {.status = 200, .delay_ms = 150}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 4);
    Resp r;
    request(srv, "GET", "/close", NULL, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    request(srv, "GET", "/reset", NULL, &r);
    assert_int_equal(r.rc, CURLE_RECV_ERROR);
    request(srv, "GET", "/short", NULL, &r);
    assert_int_equal(r.rc, CURLE_PARTIAL_FILE);
    assert_string_equal(r.body, "01234");
    int64_t t0 = time_monotonic_ns();
    request(srv, "GET", "/slow", NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_true(time_monotonic_ns() - t0 >= 150 * 1000000LL);
    assert_followed(srv);
    scripted_http_free(srv);
}

/* A delay longer than the client's patience: curl times out, and finish() does not wait out the
   rest of the delay. */
static void test_delay_cut_by_finish(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET", .target = "/stuck", .reply = {.status = 200, .delay_ms = 60000}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 1);
    Resp r;
    CURL *c = easy_new(&r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    perform(c, srv, "/stuck", &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    int64_t t0 = time_monotonic_ns();
    assert_followed(srv); /* the request was received and matched; the reply was never sent */
    assert_true(time_monotonic_ns() - t0 < 30 * 1000000000LL);
    curl_easy_cleanup(c);
    scripted_http_free(srv);
}

/* What scripted_http.h warns about: curl resends a request whose reused connection was closed
   before any reply byte. */
static void test_curl_retries_on_reused_connection(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET", .target = "/a", .reply = {.status = 200}},
        {.method = "GET", .target = "/b", .reply = {.fault = SCRIPTED_FAULT_CLOSE}},
        {.method = "GET", .target = "/b", .reply = {.status = 200, .body = "again"}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 3);
    Resp r;
    CURL *c = easy_new(&r);
    perform(c, srv, "/a", &r);
    assert_int_equal(r.status, 200);
    perform(c, srv, "/b", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_string_equal(r.body, "again");
    curl_easy_cleanup(c);
    assert_followed(srv);
    assert_int_equal(scripted_http_request(srv, 1)->connection, 0);
    assert_int_equal(scripted_http_request(srv, 2)->connection, 1);
    scripted_http_free(srv);
}

static void test_head_and_no_content(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "HEAD",
         .target = "/obj",
         .reply = {.status = 200, .headers = {{"Content-Length", "12345"}}}},
        {.method = "HEAD", .target = "/missing", .reply = {.status = 404, .body = "not sent"}},
    };
    ScriptedHttp *srv = scripted_http_start(ex, 2);
    Resp r;
    CURL *c = easy_new(&r);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    perform(c, srv, "/obj", &r);
    assert_int_equal(r.rc, CURLE_OK);
    curl_off_t len = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    assert_int_equal(len, 12345);
    perform(c, srv, "/missing", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.head, "Content-Length: 8\r\n"));
    curl_easy_cleanup(c);
    assert_followed(srv);
    /* Both on one connection: the server sent no body bytes after either HEAD reply. */
    assert_int_equal(scripted_http_connection_count(srv), 1);
    scripted_http_free(srv);
}

static void test_malformed_request(void **state)
{
    (void)state;
    ScriptedHttp *srv = scripted_http_start(NULL, 0);
    const char *url = scripted_http_url(srv);
    int port = atoi(strrchr(url, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    const char *junk = "garbage\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, junk, strlen(junk)), (ssize_t)strlen(junk));
    char buf[256] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n; /* until the server closes */
    close(fd);
    assert_true(str_starts_with(buf, "HTTP/1.1 400 Bad Request\r\n"));
    char *msg = NULL;
    assert_false(scripted_http_finish(srv, &msg));
    assert_string_equal(msg, "connection 0: malformed request: bad request line 'garbage'");
    free(msg);
    scripted_http_free(srv);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_sequence),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_expect_continue_large_put),
        cmocka_unit_test(test_mismatch_detection),
        cmocka_unit_test(test_header_must_be_absent),
        cmocka_unit_test(test_unordered_with_handler),
        cmocka_unit_test(test_faults_seen_by_curl),
        cmocka_unit_test(test_delay_cut_by_finish),
        cmocka_unit_test(test_curl_retries_on_reused_connection),
        cmocka_unit_test(test_head_and_no_content),
        cmocka_unit_test(test_malformed_request),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
