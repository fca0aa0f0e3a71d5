/*
 * The retry policy (http.h, "retry policy"): which failures are worth another attempt, how long
 * to wait before it, and the one loop step every backend calls after a failed attempt.
 *
 * Waits follow what the server says first (Retry-After, RFC 9110 §10.2.3, in seconds or as an
 * HTTP date; the Hub's RateLimit header, draft-ietf-httpapi-ratelimit-headers, reference/
 * hf-hub-api.md §9.1), else capped exponential backoff with full jitter (reference/s3-api.md §4.3:
 * a wait drawn uniformly from [0, min(cap, base * 2^(n-1))]).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

static atomic_uint_fast64_t http_retries;
static atomic_int_fast64_t http_not_before; /* epoch seconds; 0: no server asked to wait */

/* --- the clock (replaceable by tests) --------------------------------------------------------- */

static const HttpRetryClock *retry_clock;

void http_retry_set_clock(const HttpRetryClock *clock)
{
    retry_clock = clock;
}

static int64_t retry_now_ns(void)
{
    if (retry_clock != NULL && retry_clock->now_ns != NULL)
        return retry_clock->now_ns(retry_clock->ctx);
    return time_monotonic_ns();
}

static void retry_sleep_ms(int64_t ms)
{
    if (retry_clock != NULL && retry_clock->sleep_ms != NULL) {
        retry_clock->sleep_ms(retry_clock->ctx, ms);
        return;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static uint64_t retry_random(void)
{
    if (retry_clock != NULL && retry_clock->random != NULL)
        return retry_clock->random(retry_clock->ctx);
    static _Thread_local uint64_t state;
    if (state == 0)
        state = (uint64_t)time_now_ns() ^ ((uint64_t)(uintptr_t)&state << 17) ^ 0x9e3779b97f4a7c15u;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* --- classification ----------------------------------------------------------------------------
 */

bool http_status_retryable(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

bool http_quota_message(const char *text)
{
    /* "You have exceeded our hourly quotas for action: commit. We invite you to retry later."
     * (reference/hf-hub-api.md §9.3); the same wording exists for other actions. */
    return text != NULL && strstr(text, "exceeded our hourly quota") != NULL;
}

bool http_error_retryable(const Error *err)
{
    if (err->code == ERR_CORRUPT || err->code == ERR_UNSAFE)
        return false; /* the bytes were wrong: sending the same request again proves nothing */
    if (http_quota_message(err->msg))
        return false;
    return err->retryable;
}

int64_t http_retry_not_before(void)
{
    return atomic_load(&http_not_before);
}

uint64_t http_retry_count(void)
{
    return atomic_load(&http_retries);
}

/* --- waits --------------------------------------------------------------------------------------
 */

int64_t http_backoff_cap_ms(const HttpRetry *p, int attempt)
{
    int64_t cap = p->base_ms > 0 ? p->base_ms : 0;
    for (int i = 1; i < attempt && cap < p->cap_ms; i++)
        cap *= 2;
    return cap < p->cap_ms ? cap : (p->cap_ms > 0 ? p->cap_ms : 0);
}

int64_t http_backoff_ms(const HttpRetry *p, int attempt, uint64_t random)
{
    int64_t cap = http_backoff_cap_ms(p, attempt);
    return cap > 0 ? (int64_t)(random % ((uint64_t)cap + 1)) : 0;
}

/* A non-negative decimal integer taking the whole value (surrounding blanks allowed). */
static bool retry_parse_seconds(const char *v, long long *out)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v < '0' || *v > '9')
        return false;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' || n < 0 || n > 366LL * 86400)
        return false;
    *out = n;
    return true;
}

/* The "r" or "t" parameter of a RateLimit value ("api";r=0;t=55), -1 when absent. */
static long long retry_ratelimit_param(const char *v, char name)
{
    for (const char *p = strchr(v, ';'); p != NULL; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ')
            q++;
        if (*q != name)
            continue;
        q++;
        while (*q == ' ')
            q++;
        if (*q != '=')
            continue;
        q++;
        while (*q == ' ')
            q++;
        if (*q < '0' || *q > '9')
            return -1;
        return strtoll(q, NULL, 10);
    }
    return -1;
}

int64_t http_retry_after_ms_at(const HttpHeaders *hd, int64_t now_sec)
{
    const char *v = http_headers_get(hd, "Retry-After");
    if (v != NULL) {
        long long sec;
        if (retry_parse_seconds(v, &sec))
            return sec * 1000;
        int64_t when = http_parse_date(v);
        if (when > 0)
            return when > now_sec ? (when - now_sec) * 1000 : 0;
    }
    /* The Hub: RateLimit: "api";r=0;t=55, t the seconds until the window resets; it is sent on
     * every answer, so it only says "wait" when nothing remains (r=0). */
    v = http_headers_get(hd, "RateLimit");
    if (v != NULL) {
        long long r = retry_ratelimit_param(v, 'r');
        long long t = retry_ratelimit_param(v, 't');
        if (t >= 0 && t <= 366LL * 86400 && r <= 0)
            return t * 1000;
    }
    return -1;
}

int64_t http_retry_after_ms(const HttpHeaders *hd)
{
    return http_retry_after_ms_at(hd, time_now_ns() / 1000000000);
}

/* --- the loop step -----------------------------------------------------------------------------
 */

void http_attempt_begin(HttpAttempt *a, const HttpRetry *policy)
{
    static const HttpRetry defaults = HTTP_RETRY_DEFAULT;
    memset(a, 0, sizeof(*a));
    a->policy = policy != NULL ? policy : &defaults;
    a->attempt = 1;
    a->start_ns = retry_now_ns();
}

/* err's message without a leading "<what>: " and without its hint, for the retry line. */
static void retry_reason(const Error *err, const char *what, char *out, size_t size)
{
    const char *m = err->msg;
    size_t wl = strlen(what);
    if (strncmp(m, what, wl) == 0 && m[wl] == ':' && m[wl + 1] == ' ')
        m += wl + 2;
    const char *hint = strstr(m, "\nhint: ");
    int len = hint != NULL ? (int)(hint - m) : (int)strlen(m);
    snprintf(out, size, "%.*s", len, m);
}

/* Name the operation unless the message already starts with it. */
static void retry_name(Error *err, const char *what)
{
    size_t wl = strlen(what);
    if (strncmp(err->msg, what, wl) != 0)
        error_prefix(err, "%s", what);
}

/* Append `note` to the first line of the message (before any hint). */
static void retry_note(Error *err, const char *note)
{
    char *hint = strstr(err->msg, "\nhint: ");
    char tail[ERROR_MSG_SIZE] = "";
    if (hint != NULL) {
        snprintf(tail, sizeof(tail), "%s", hint);
        *hint = '\0';
    }
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof(err->msg) - len, " (%s)%s", note, tail);
}

/* When a wait of `wait_ms` from now ends, for messages: "2026-11-21T23:59:00+00:00"; also
 * remembered for http_retry_not_before(). */
static void retry_at(int64_t wait_ms, char out[32])
{
    int64_t at = time_now_ns() / 1000000000 + (wait_ms + 999) / 1000;
    time_iso8601(at, out);
    int_fast64_t was = atomic_load(&http_not_before);
    while (was < at && !atomic_compare_exchange_weak(&http_not_before, &was, at)) {
    }
}

bool http_attempt_retry(HttpAttempt *a, const char *what, const HttpHeaders *hd, Error *err)
{
    const HttpRetry *p = a->policy;
    int64_t told_ms = http_retry_after_ms(hd);
    if (http_quota_message(err->msg)) {
        retry_name(err, what);
        char at[32];
        if (told_ms >= 0) {
            retry_at(told_ms, at);
            error_hint(err,
                       "the server's quota for this action is used up and it asks to wait %lld s; "
                       "expect success after %s",
                       (long long)((told_ms + 999) / 1000), at);
        } else {
            retry_at(3600 * 1000, at);
            error_hint(err,
                       "the server's hourly quota for this action is used up; expect success "
                       "within the hour (by %s at the latest)",
                       at);
        }
        return false;
    }
    if (!http_error_retryable(err))
        return false;
    int64_t elapsed_ms = (retry_now_ns() - a->start_ns) / 1000000;
    int64_t left_ms = p->budget_ms - elapsed_ms;
    bool told = told_ms >= 0;
    int64_t wait_ms = told ? told_ms : http_backoff_ms(p, a->attempt, retry_random());
    if (a->attempt >= p->tries) {
        retry_name(err, what);
        char note[48];
        snprintf(note, sizeof(note), "gave up after %d tries", a->attempt);
        retry_note(err, note);
        return false;
    }
    if (wait_ms > left_ms) {
        retry_name(err, what);
        if (told) {
            char at[32];
            retry_at(wait_ms, at);
            error_hint(err,
                       "the server asks to wait %lld s, more than the %lld s left of this "
                       "operation's HFSYNC_RETRY_BUDGET; expect success after %s",
                       (long long)((wait_ms + 999) / 1000),
                       (long long)(left_ms > 0 ? left_ms / 1000 : 0), at);
        } else {
            retry_note(err, "out of HFSYNC_RETRY_BUDGET");
        }
        return false;
    }
    char reason[ERROR_MSG_SIZE];
    retry_reason(err, what, reason, sizeof(reason));
    log_warn("retry: %s: %s; try %d of %d in %.1f s", what, reason, a->attempt + 1, p->tries,
             (double)wait_ms / 1000.0);
    if (wait_ms > 0)
        retry_sleep_ms(wait_ms);
    a->attempt++;
    a->retries++;
    atomic_fetch_add(&http_retries, 1);
    error_clear(err);
    return true;
}
