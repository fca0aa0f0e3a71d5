/*
 * HTTP (DESIGN.md §6): the only module that includes curl.
 *
 * An Http is one libcurl easy handle, reused so connections stay open between requests; it is
 * not thread-safe (one per thread). http_request() performs one exchange: request bodies come
 * from a memory buffer (replayable) and response bodies either stream into a Sink (for 2xx
 * answers) or are buffered up to a limit. Transport failures (connect, TLS, reset, stalled
 * transfer) return false with ERR_NET and `retryable` set; an HTTP error status is not a
 * transport failure: the caller reads resp->status.
 *
 * Retries are data (HttpRetry) and one loop step (http_attempt_retry, src/http/retry.c) that
 * every backend uses: it says whether to try again and how long to wait, honouring Retry-After
 * and the Hub's RateLimit header; its clock, sleep and jitter can be replaced by tests.
 * HttpSettings.stall_timeout_sec (HFSYNC_STALL_TIMEOUT) cuts a transfer that stopped moving.
 *
 * http_get_reader() streams a GET as a pull Reader and resumes a broken download with a Range
 * request from the last byte received.
 */
#ifndef HFSYNC_HTTP_H
#define HFSYNC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/error.h"
#include "hfsync/stream.h"

/* Header lines "Name: value", owned copies. */
typedef struct HttpHeaders {
    char **lines;
    size_t count;
} HttpHeaders;

void http_headers_add(HttpHeaders *h, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of the first header named `name` (case-insensitive), or NULL. */
const char *http_headers_get(const HttpHeaders *h, const char *name);
void http_headers_free(HttpHeaders *h);

typedef struct HttpSettings {
    const char *ca_bundle;    /* NULL: HFSYNC_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE, system */
    long connect_timeout_sec; /* default 15 */
    long stall_timeout_sec;   /* a transfer slower than 1 KiB/s for this long is cut; default 60 */
    bool insecure;            /* tests only: skip TLS verification */
} HttpSettings;

typedef struct Http Http;

Http *http_new(const HttpSettings *settings, Error *err);
void http_free(Http *http);

typedef struct HttpRequest {
    const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *url;    /* sent as given: the caller encodes it */
    const HttpHeaders *headers;
    const void *body; /* NULL: no body */
    size_t body_size;
    /* Or the body is `body_size` bytes of file `body_fd` from `body_offset` (read with pread, so
     * it is replayable and never held in memory); used when body is NULL and body_fd > 0. */
    int body_fd;
    uint64_t body_offset;
    Sink *sink;      /* 2xx response bodies stream here (not finished); NULL: buffered */
    size_t max_body; /* buffered body limit (default 1 MiB); error bodies keep 64 KiB */
    bool follow_redirects;
} HttpRequest;

typedef struct HttpResponse {
    long status;
    HttpHeaders headers;
    char *body; /* buffered body, NUL-terminated (empty when streamed to the sink) */
    size_t body_size;
    uint64_t streamed; /* bytes written to the sink */
} HttpResponse;

/* One exchange. On false, err says why (ERR_NET with retryable for transport failures; a
 * sink error is returned as the sink reported it). Response fields are valid either way. */
bool http_request(Http *http, const HttpRequest *req, HttpResponse *resp, Error *err);
void http_response_free(HttpResponse *resp);

/* --- retry policy -------------------------------------------------------------------------- */

typedef struct HttpRetry {
    int tries;         /* attempts in all, default 5 */
    int64_t base_ms;   /* first backoff cap, default 500 */
    int64_t cap_ms;    /* largest backoff, default 20000 */
    int64_t budget_ms; /* total time for one operation, default 120000 */
} HttpRetry;

#define HTTP_RETRY_DEFAULT                                                                         \
    {                                                                                              \
        5, 500, 20000, 120000                                                                      \
    }

/* Whether an HTTP status is worth retrying (408, 429, 500, 502, 503, 504). */
bool http_status_retryable(long status);
/* Whether a failure may be retried: err->retryable, except that integrity failures (ERR_CORRUPT,
 * ERR_UNSAFE) and quota messages (http_quota_message) never are. */
bool http_error_retryable(const Error *err);
/* Whether a server's message says a quota is used up ("You have exceeded our hourly quotas for
 * action: commit"): waiting seconds will not help, the operation ends. */
bool http_quota_message(const char *text);

/* Capped exponential backoff with full jitter. The cap before retry `attempt` (1: after the
 * first attempt) is base_ms doubled for each earlier retry, at most cap_ms; the wait is `random`
 * mapped uniformly into [0, cap]. */
int64_t http_backoff_cap_ms(const HttpRetry *policy, int attempt);
int64_t http_backoff_ms(const HttpRetry *policy, int attempt, uint64_t random);

/* State of one operation's attempts. */
typedef struct HttpAttempt {
    const HttpRetry *policy;
    int attempt; /* attempts made so far */
    int64_t start_ns;
    uint64_t retries; /* retries made (for run summaries) */
} HttpAttempt;

void http_attempt_begin(HttpAttempt *a, const HttpRetry *policy);
/*
 * After a failed attempt described by `err` (retryable or not) and the response headers (may be
 * NULL): when another attempt is allowed, logs one line ("retry: <what>: <reason>; try n of m in
 * w s"), sleeps and returns true. Otherwise returns false and leaves err saying why no retry
 * happens, named after `what`: "(gave up after n tries)", or, for a wait beyond the budget or a
 * quota message, a hint saying when to expect success.
 */
bool http_attempt_retry(HttpAttempt *a, const char *what, const HttpHeaders *resp_headers,
                        Error *err);

/* Milliseconds to wait from a Retry-After (seconds or HTTP date) or RateLimit ("…;r=0;t=N")
 * header; -1 when neither says. The _at form takes the current time (epoch seconds) for dates. */
int64_t http_retry_after_ms(const HttpHeaders *resp_headers);
int64_t http_retry_after_ms_at(const HttpHeaders *resp_headers, int64_t now_sec);

/* Test hook: the monotonic clock, the sleep and the jitter source of the retry loop (NULL
 * members, or a NULL clock: the real ones). The struct must outlive its use. */
typedef struct HttpRetryClock {
    int64_t (*now_ns)(void *ctx);
    void (*sleep_ms)(void *ctx, int64_t ms);
    uint64_t (*random)(void *ctx);
    void *ctx;
} HttpRetryClock;
void http_retry_set_clock(const HttpRetryClock *clock);

/* Process-wide count of retries (for the run summary). */
uint64_t http_retry_count(void);
/* The latest time (epoch seconds) a server asked this process to wait until before an operation
 * that gave up for it (a quota used up, a Retry-After beyond the budget); 0 when none did. The
 * agent postpones its next backup until then. */
int64_t http_retry_not_before(void);

/* --- streaming GET ---------------------------------------------------------------------- */

/* Called before each GET attempt to add headers (authorization, signed per attempt). The
 * request's Range header is added by the reader itself. */
typedef bool (*HttpPrepareFn)(void *ctx, const char *method, const char *url, HttpHeaders *headers,
                              Error *err);
/* Turns a non-2xx answer into an error (code, message, retryable). */
typedef void (*HttpFailFn)(void *ctx, const HttpResponse *resp, Error *err);

/* A Reader over the body of GET `url` from byte `offset`. A dropped or stalled transfer is
 * resumed from the last byte received (Range), within the retry policy. 404 is ERR_NOT_FOUND. */
Reader *http_get_reader(const HttpSettings *settings, const char *url, uint64_t offset,
                        const HttpRetry *policy, HttpPrepareFn prepare, HttpFailFn fail, void *ctx,
                        Error *err);

/* Seconds since the epoch of an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"), -1 if unparsable. */
int64_t http_parse_date(const char *text);

/* base64 of `size` bytes into `out` (needs 4*ceil(size/3)+1 bytes). */
void http_base64(const uint8_t *data, size_t size, char *out);

#endif
