/*
 * The retry policy (src/http/retry.c): backoff arithmetic (capped exponential, full jitter, the
 * budget), Retry-After in both forms and the Hub's RateLimit header, the classification of every
 * status and S3 error code, integrity failures and quota messages never retried, and the retry
 * line and final messages, and the HFSYNC_RETRY_* and HFSYNC_STALL_TIMEOUT settings. The loop
 * runs on a fake clock: sleeps advance it instantly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/config.h"
#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "storage/s3.intern.h"
#include "support/testutil.h"

/* --- the fake clock ------------------------------------------------------------------------ */

typedef struct FakeClock {
    int64_t now_ns;
    int64_t slept_ms[16];
    int sleeps;
    uint64_t random; /* what the jitter source returns */
} FakeClock;

static int64_t fake_now(void *ctx)
{
    return ((FakeClock *)ctx)->now_ns;
}

static void fake_sleep(void *ctx, int64_t ms)
{
    FakeClock *c = ctx;
    assert_true(c->sleeps < 16);
    c->slept_ms[c->sleeps++] = ms;
    c->now_ns += ms * 1000000;
}

static uint64_t fake_random(void *ctx)
{
    return ((FakeClock *)ctx)->random;
}

static FakeClock fc;
static const HttpRetryClock fake = {fake_now, fake_sleep, fake_random, &fc};

static int clock_setup(void **state)
{
    (void)state;
    memset(&fc, 0, sizeof(fc));
    fc.now_ns = 1000000000000;
    http_retry_set_clock(&fake);
    return 0;
}

static int clock_teardown(void **state)
{
    (void)state;
    http_retry_set_clock(NULL);
    return 0;
}

/* A retryable failure, as a backend reports it. */
static void fail_with(Error *err, const char *msg, int status)
{
    error_set(err, ERR_NET, "%s", msg);
    err->http_status = status;
    err->retryable = true;
}

/* --- backoff arithmetic ----------------------------------------------------------------------- */

static void test_backoff_cap_doubles_to_cap(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 10, .base_ms = 500, .cap_ms = 20000, .budget_ms = 120000};
    const int64_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 20000, 20000};
    for (int a = 1; a <= 8; a++)
        assert_int_equal(http_backoff_cap_ms(&p, a), want[a - 1]);
    /* Far beyond: no overflow, still the cap. */
    assert_int_equal(http_backoff_cap_ms(&p, 1000), 20000);
    assert_int_equal(http_backoff_cap_ms(&p, 0x7fffffff), 20000);
    /* A base above the cap is the cap; a zero base never waits. */
    HttpRetry big = {.tries = 5, .base_ms = 9000, .cap_ms = 3000, .budget_ms = 1000};
    assert_int_equal(http_backoff_cap_ms(&big, 1), 3000);
    HttpRetry zero = {.tries = 5, .base_ms = 0, .cap_ms = 3000, .budget_ms = 1000};
    for (int a = 1; a < 10; a++)
        assert_int_equal(http_backoff_ms(&zero, a, UINT64_MAX), 0);
}

static void test_full_jitter_bounds(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 10, .base_ms = 1000, .cap_ms = 30000, .budget_ms = 300000};
    /* The edges of the random range map to the edges of [0, cap]. */
    assert_int_equal(http_backoff_ms(&p, 1, 0), 0);
    assert_int_equal(http_backoff_ms(&p, 1, 1000), 1000);
    assert_int_equal(http_backoff_ms(&p, 1, 1001), 0);
    assert_int_equal(http_backoff_ms(&p, 3, 3999), 3999);
    assert_true(http_backoff_ms(&p, 6, UINT64_MAX) <= 30000);
    /* Full jitter: spread over the whole of [0, cap], not bunched near the cap. */
    uint64_t x = 88172645463325252ull;
    int64_t lo = INT64_MAX, hi = 0, sum = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t w = http_backoff_ms(&p, 3, x); /* cap 4000 */
        assert_in_range(w, 0, 4000);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
        sum += w;
    }
    assert_true(lo < 100);
    assert_true(hi > 3900);
    assert_in_range(sum / n, 1800, 2200);
}

/* The loop sleeps the jittered backoff, then stops at the number of tries. */
static void test_tries_exhausted(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 3, .base_ms = 100, .cap_ms = 1000, .budget_ms = 600000};
    fc.random = UINT64_MAX;
    HttpAttempt a;
    http_attempt_begin(&a, &p);
    Error err = {0};
    uint64_t before = http_retry_count();
    fail_with(&err, "S3 PutObject s3://b/k: SlowDown: Please reduce (HTTP 503)", 503);
    assert_true(http_attempt_retry(&a, "S3 PutObject s3://b/k", NULL, &err));
    assert_int_equal(err.code, ERR_NONE); /* cleared for the next attempt */
    fail_with(&err, "S3 PutObject s3://b/k: SlowDown: Please reduce (HTTP 503)", 503);
    assert_true(http_attempt_retry(&a, "S3 PutObject s3://b/k", NULL, &err));
    fail_with(&err, "S3 PutObject s3://b/k: SlowDown: Please reduce (HTTP 503)", 503);
    error_hint(&err, "a hint stays last");
    assert_false(http_attempt_retry(&a, "S3 PutObject s3://b/k", NULL, &err));
    assert_int_equal(fc.sleeps, 2);
    assert_int_equal(fc.slept_ms[0], (int64_t)(UINT64_MAX % 101));
    assert_int_equal(fc.slept_ms[1], (int64_t)(UINT64_MAX % 201));
    assert_int_equal(a.retries, 2);
    assert_int_equal(http_retry_count() - before, 2);
    /* Named once, the tries on the first line, the hint after it. */
    assert_string_equal(err.msg, "S3 PutObject s3://b/k: SlowDown: Please reduce (HTTP 503) "
                                 "(gave up after 3 tries)\nhint: a hint stays last");
    assert_true(err.retryable);
}

/* Waits that would run past the budget end the operation instead of sleeping. */
static void test_budget_ends_backoff(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 10, .base_ms = 1000, .cap_ms = 1000, .budget_ms = 2500};
    fc.random = 1000; /* every wait is the whole cap: 1 s */
    HttpAttempt a;
    http_attempt_begin(&a, &p);
    Error err = {0};
    int retries = 0;
    for (;;) {
        fail_with(&err, "GET http://h/x: Connection reset by peer", 0);
        if (!http_attempt_retry(&a, "S3 GetObject s3://b/x", NULL, &err))
            break;
        retries++;
    }
    /* At 0 s and 1 s a 1 s wait fits; at 2 s only 0.5 s is left. */
    assert_int_equal(retries, 2);
    assert_int_equal(fc.sleeps, 2);
    assert_non_null(strstr(err.msg, "S3 GetObject s3://b/x: GET http://h/x: Connection reset"));
    assert_non_null(strstr(err.msg, "(out of HFSYNC_RETRY_BUDGET)"));
}

/* --- what the server says about waiting ---------------------------------------------------------
 */

static int64_t after_ms(const char *name, const char *value, int64_t now)
{
    HttpHeaders h = {0};
    http_headers_add(&h, name, "%s", value);
    int64_t ms = http_retry_after_ms_at(&h, now);
    http_headers_free(&h);
    return ms;
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    assert_int_equal(after_ms("Retry-After", "7", 0), 7000);
    assert_int_equal(after_ms("Retry-After", "0", 0), 0);
    assert_int_equal(after_ms("retry-after", " 120 ", 0), 120000);
    assert_int_equal(after_ms("Retry-After", "-3", 0), -1);
    assert_int_equal(after_ms("Retry-After", "7s", 0), -1);
    assert_int_equal(after_ms("Retry-After", "soon", 0), -1);
    assert_int_equal(after_ms("Retry-After", "", 0), -1);
    assert_int_equal(after_ms("Retry-After", "99999999999999999999", 0), -1);
    assert_int_equal(http_retry_after_ms_at(NULL, 0), -1);
    HttpHeaders none = {0};
    http_headers_add(&none, "Content-Type", "application/xml");
    assert_int_equal(http_retry_after_ms_at(&none, 0), -1);
    http_headers_free(&none);
}

static void test_retry_after_http_date(void **state)
{
    (void)state;
    const int64_t t = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 §5.6.7) */
    assert_int_equal(after_ms("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT", t - 30), 30000);
    /* The obsolete forms a server may still send. */
    assert_int_equal(after_ms("Retry-After", "Sunday, 06-Nov-94 08:49:37 GMT", t - 5), 5000);
    assert_int_equal(after_ms("Retry-After", "Sun Nov  6 08:49:37 1994", t - 1), 1000);
    /* A date already past: go now. */
    assert_int_equal(after_ms("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT", t + 60), 0);
    assert_int_equal(after_ms("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT", t), 0);
}

static void test_ratelimit_header(void **state)
{
    (void)state;
    assert_int_equal(after_ms("RateLimit", "\"api\";r=0;t=55", 0), 55000);
    assert_int_equal(after_ms("ratelimit", "\"resolvers\"; r=0; t=3", 0), 3000);
    /* Requests remain: it is information, not a request to wait. */
    assert_int_equal(after_ms("RateLimit", "\"api\";r=12;t=55", 0), -1);
    assert_int_equal(after_ms("RateLimit", "\"api\";r=0", 0), -1);
    assert_int_equal(after_ms("RateLimit", "\"api\";r=0;t=x", 0), -1);
    /* Retry-After wins over RateLimit. */
    HttpHeaders h = {0};
    http_headers_add(&h, "RateLimit", "\"api\";r=0;t=55");
    http_headers_add(&h, "Retry-After", "2");
    assert_int_equal(http_retry_after_ms_at(&h, 0), 2000);
    http_headers_free(&h);
}

/* The loop sleeps what the server asks instead of its own backoff. */
static void test_told_wait_is_honoured(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 5, .base_ms = 1, .cap_ms = 2, .budget_ms = 600000};
    HttpAttempt a;
    http_attempt_begin(&a, &p);
    HttpHeaders h = {0};
    http_headers_add(&h, "Retry-After", "7");
    Error err = {0};
    fail_with(&err, "S3 UploadPart s3://b/k part 2: TooManyRequests (HTTP 429)", 429);
    assert_true(http_attempt_retry(&a, "S3 UploadPart s3://b/k part 2", &h, &err));
    assert_int_equal(fc.sleeps, 1);
    assert_int_equal(fc.slept_ms[0], 7000);
    http_headers_free(&h);
}

/* A wait beyond what is left of the budget ends the operation, saying when to expect success. */
static void test_told_wait_beyond_budget(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 5, .base_ms = 1, .cap_ms = 2, .budget_ms = 10000};
    HttpAttempt a;
    http_attempt_begin(&a, &p);
    fc.now_ns += 4000 * 1000000ll; /* 4 s spent on the first attempt */
    HttpHeaders h = {0};
    http_headers_add(&h, "Retry-After", "30");
    Error err = {0};
    fail_with(&err, "S3 UploadPart s3://b/k part 1: TooManyRequests (HTTP 429)", 429);
    assert_false(http_attempt_retry(&a, "S3 UploadPart s3://b/k part 1", &h, &err));
    assert_int_equal(fc.sleeps, 0);
    assert_non_null(strstr(err.msg, "S3 UploadPart s3://b/k part 1: TooManyRequests (HTTP 429)\n"
                                    "hint: the server asks to wait 30 s, more than the 6 s left"));
    assert_non_null(strstr(err.msg, "expect success after 20"));
    http_headers_free(&h);
}

/* --- classification --------------------------------------------------------------------------- */

static void test_status_classification(void **state)
{
    (void)state;
    for (long s = 100; s < 600; s++) {
        bool want = s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
        if (http_status_retryable(s) != want)
            fail_msg("HTTP %ld: retryable should be %d", s, want);
    }
    assert_false(http_status_retryable(0));
}

static void test_s3_code_classification(void **state)
{
    (void)state;
    const char *retry[] = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
                           "Throttling"};
    for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
        if (!s3_code_retryable(retry[i]))
            fail_msg("%s should be retried", retry[i]);
    const char *no[] = {"AccessDenied",
                        "InvalidAccessKeyId",
                        "SignatureDoesNotMatch",
                        "NoSuchKey",
                        "NoSuchBucket",
                        "NoSuchUpload",
                        "InvalidPart",
                        "InvalidPartOrder",
                        "EntityTooSmall",
                        "MalformedXML",
                        "InvalidArgument",
                        "PreconditionFailed",
                        "InvalidRange",
                        "BadDigest",
                        "AuthorizationHeaderMalformed",
                        "slowdown",
                        ""};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (s3_code_retryable(no[i]))
            fail_msg("%s should not be retried", no[i]);
    assert_false(s3_code_retryable(NULL));
}

/* s3_error: the code decides even under a status that would not (400 RequestTimeout), and a
 * status decides when the body says nothing useful. */
static void s3_answer(long status, const char *body, Error *err)
{
    S3 s;
    memset(&s, 0, sizeof(s));
    s.bucket = "bkt";
    HttpResponse r = {.status = status, .body = (char *)body, .body_size = strlen(body)};
    s3_error(&s, "PutObject", "a/k", 0, &r, err);
}

static void test_s3_error_answers(void **state)
{
    (void)state;
    Error err = {0};
    s3_answer(400, "<Error><Code>RequestTimeout</Code><Message>idle</Message></Error>", &err);
    assert_true(err.retryable);
    assert_string_equal(err.msg, "S3 PutObject s3://bkt/a/k: RequestTimeout: idle (HTTP 400)");
    s3_answer(503, "<Error><Code>SlowDown</Code></Error>", &err);
    assert_true(err.retryable);
    assert_int_equal(err.http_status, 503);
    s3_answer(500, "<Error><Code>InternalError</Code></Error>", &err);
    assert_true(err.retryable);
    s3_answer(502, "", &err); /* a proxy's bare 502 */
    assert_true(err.retryable);
    s3_answer(403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>", &err);
    assert_false(err.retryable);
    assert_int_equal(err.code, ERR_USAGE);
    s3_answer(404, "<Error><Code>NoSuchKey</Code></Error>", &err);
    assert_false(err.retryable);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    s3_answer(400, "<Error><Code>BadDigest</Code></Error>", &err);
    assert_false(err.retryable);
    s3_answer(412, "<Error><Code>PreconditionFailed</Code></Error>", &err);
    assert_false(err.retryable);
}

/* Integrity failures are never retried, whatever flag a caller left on them. */
static void test_integrity_never_retried(void **state)
{
    (void)state;
    HttpRetry p = {.tries = 5, .base_ms = 1, .cap_ms = 2, .budget_ms = 60000};
    const ErrorCode codes[] = {ERR_CORRUPT, ERR_UNSAFE};
    for (size_t i = 0; i < 2; i++) {
        HttpAttempt a;
        http_attempt_begin(&a, &p);
        Error err = {0};
        error_set(&err, codes[i], "volume 3: sha256 mismatch");
        err.retryable = true;
        assert_false(http_error_retryable(&err));
        assert_false(http_attempt_retry(&a, "GET x", NULL, &err));
        assert_string_equal(err.msg, "volume 3: sha256 mismatch");
    }
    Error ok = {0};
    fail_with(&ok, "reset", 0);
    assert_true(http_error_retryable(&ok));
    ok.retryable = false;
    assert_false(http_error_retryable(&ok));
    assert_int_equal(fc.sleeps, 0);
}

/* "You have exceeded our hourly quotas": the operation ends at once, saying when to expect
 * success, whether or not the answer says how long to wait. */
static void test_quota_message(void **state)
{
    (void)state;
    const char *msg = "commit to datasets/u/r: HTTP 429 (You have exceeded our hourly quotas for "
                      "action: commit. We invite you to retry later.)";
    assert_true(http_quota_message(msg));
    assert_false(http_quota_message("HTTP 429 (Too Many Requests)"));
    assert_false(http_quota_message(NULL));
    HttpRetry p = {.tries = 5, .base_ms = 1, .cap_ms = 2, .budget_ms = 600000};
    HttpAttempt a;
    http_attempt_begin(&a, &p);
    Error err = {0};
    fail_with(&err, msg, 429);
    assert_false(http_error_retryable(&err));
    assert_false(http_attempt_retry(&a, "commit to datasets/u/r", NULL, &err));
    assert_non_null(strstr(err.msg, "\nhint: the server's hourly quota for this action is used "
                                    "up; expect success within the hour (by "));
    assert_true(strncmp(err.msg, msg, strlen(msg)) == 0); /* named once */
    HttpHeaders h = {0};
    http_headers_add(&h, "Retry-After", "120");
    http_attempt_begin(&a, &p);
    fail_with(&err, msg, 429);
    assert_false(http_attempt_retry(&a, "commit to datasets/u/r", &h, &err));
    assert_non_null(strstr(err.msg, "asks to wait 120 s; expect success after "));
    http_headers_free(&h);
    assert_int_equal(fc.sleeps, 0); /* even 120 s within the budget is not waited for */
}

/* The retry line: operation and object, reason, try n of m, wait; the name is not repeated. */
static void test_retry_line(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *path = path_join(dir, "log");
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    dup2(fileno(f), 2);
    log_setup(LOG_WARN, LOG_FORMAT_TEXT);

    HttpRetry p = {.tries = 4, .base_ms = 1000, .cap_ms = 8000, .budget_ms = 600000};
    fc.random = 300;
    HttpAttempt a;
    http_attempt_begin(&a, &p);
    Error err = {0};
    fail_with(&err, "S3 UploadPart s3://b/k part 3: SlowDown: Please reduce (HTTP 503)", 503);
    error_hint(&err, "not in the retry line");
    assert_true(http_attempt_retry(&a, "S3 UploadPart s3://b/k part 3", NULL, &err));
    fail_with(&err, "PUT http://127.0.0.1:1/b/k?…: Empty reply from server", 0);
    assert_true(http_attempt_retry(&a, "S3 UploadPart s3://b/k part 3", NULL, &err));

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    log_setup(LOG_QUIET, LOG_FORMAT_TEXT);
    char *text = NULL;
    size_t n = 0;
    Error e = {0};
    assert_true(fs_read_file(path, 1 << 16, &text, &n, &e));
    assert_non_null(strstr(text, " warn  retry: S3 UploadPart s3://b/k part 3: SlowDown: Please "
                                 "reduce (HTTP 503); try 2 of 4 in 0.3 s\n"));
    assert_non_null(strstr(text, " warn  retry: S3 UploadPart s3://b/k part 3: PUT "
                                 "http://127.0.0.1:1/b/k?…: Empty reply from server; try 3 of 4 in "
                                 "0.3 s\n"));
    assert_null(strstr(text, "hint"));
    free(text);
    free(path);
    test_rmtree(dir);
    free(dir);
}

/* --- the settings ------------------------------------------------------------------------------
 */

static const char *env_get(const char *name, void *ctx)
{
    for (const char *const *kv = ctx; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void test_retry_settings(void **state)
{
    (void)state;
    Config cfg;
    Error err = {0};
    const char *none[] = {NULL};
    assert_true(config_load(&cfg, env_get, (void *)none, &err));
    assert_int_equal(cfg.retry.tries, 5);
    assert_int_equal(cfg.retry.base_ms, 1000);
    assert_int_equal(cfg.retry.cap_ms, 30000);
    assert_int_equal(cfg.retry.budget_ms, 300000);
    assert_int_equal(cfg.retry.stall_sec, 60);
    config_free(&cfg);
    const char *set[] = {"HFSYNC_RETRY_TRIES",
                         "2",
                         "HFSYNC_RETRY_BASE",
                         "0",
                         "HFSYNC_RETRY_BUDGET",
                         "5s",
                         "HFSYNC_STALL_TIMEOUT",
                         "2s",
                         NULL};
    assert_true(config_load(&cfg, env_get, (void *)set, &err));
    assert_int_equal(cfg.retry.tries, 2);
    assert_int_equal(cfg.retry.base_ms, 0);
    assert_int_equal(cfg.retry.budget_ms, 5000);
    assert_int_equal(cfg.retry.stall_sec, 2);
    config_free(&cfg);
    const char *bad[][3] = {
        {"HFSYNC_STALL_TIMEOUT", "0",
         "HFSYNC_STALL_TIMEOUT: '0' is out of range; use a duration from 1s to 1h"},
        {"HFSYNC_STALL_TIMEOUT", "2h",
         "HFSYNC_STALL_TIMEOUT: '2h' is out of range; use a duration from 1s to 1h"},
        {"HFSYNC_RETRY_TRIES", "0", "HFSYNC_RETRY_TRIES: '0' is not an integer from 1 to 100"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *env[] = {bad[i][0], bad[i][1], NULL};
        assert_false(config_load(&cfg, env_get, (void *)env, &err));
        assert_int_equal(err.code, ERR_USAGE);
        assert_string_equal(err.msg, bad[i][2]);
    }
}

int main(void)
{
    log_setup(LOG_QUIET, LOG_FORMAT_TEXT);
#define T(f) cmocka_unit_test_setup_teardown(f, clock_setup, clock_teardown)
    const struct CMUnitTest tests[] = {
        T(test_backoff_cap_doubles_to_cap),
        T(test_full_jitter_bounds),
        T(test_tries_exhausted),
        T(test_budget_ends_backoff),
        T(test_retry_after_seconds),
        T(test_retry_after_http_date),
        T(test_ratelimit_header),
        T(test_told_wait_is_honoured),
        T(test_told_wait_beyond_budget),
        T(test_status_classification),
        T(test_s3_code_classification),
        T(test_s3_error_answers),
        T(test_integrity_never_retried),
        T(test_quota_message),
        T(test_retry_line),
        T(test_retry_settings),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
