/*
 * HTTP over libcurl (http.h). The only file that includes curl.
 */
#include "hfsync/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <time.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "hfsync/version.h"

#define HTTP_DEFAULT_MAX_BODY (1u << 20)
#define HTTP_ERROR_BODY_MAX (64u << 10)

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- headers ---------------------------------------------------------------------------- */

void http_headers_add(HttpHeaders *h, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *value = NULL;
    if (vasprintf(&value, fmt, ap) < 0)
        abort();
    va_end(ap);
    h->lines = x_realloc(h->lines, (h->count + 1) * sizeof(char *));
    h->lines[h->count++] = str_printf("%s: %s", name, value);
    free(value);
}

const char *http_headers_get(const HttpHeaders *h, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; h != NULL && i < h->count; i++) {
        const char *l = h->lines[i];
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            l += n + 1;
            while (*l == ' ' || *l == '\t')
                l++;
            return l;
        }
    }
    return NULL;
}

void http_headers_free(HttpHeaders *h)
{
    for (size_t i = 0; i < h->count; i++)
        free(h->lines[i]);
    free(h->lines);
    h->lines = NULL;
    h->count = 0;
}

/* --- one handle -------------------------------------------------------------------------- */

struct Http {
    CURL *curl;
    HttpSettings settings;
    char *ca_bundle;
    char errbuf[CURL_ERROR_SIZE];
};

static const char *http_ca_bundle(const HttpSettings *s)
{
    if (s != NULL && s->ca_bundle != NULL && *s->ca_bundle)
        return s->ca_bundle;
    const char *names[] = {"HFSYNC_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = getenv(names[i]);
        if (v != NULL && *v)
            return v;
    }
    return NULL;
}

/* Options every handle gets: timeouts, TLS, proxy from the environment (curl's default),
 * user agent. */
static void http_setup(CURL *c, const HttpSettings *s, const char *ca, char *errbuf)
{
    long connect = s != NULL && s->connect_timeout_sec > 0 ? s->connect_timeout_sec : 15;
    long stall = s != NULL && s->stall_timeout_sec > 0 ? s->stall_timeout_sec : 60;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hfsync/" HFSYNC_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (ca != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (s != NULL && s->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

Http *http_new(const HttpSettings *settings, Error *err)
{
    pthread_once(&http_once, http_global_init);
    Http *h = x_calloc(1, sizeof(*h));
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        free(h);
        error_set(err, ERR_NO_MEMORY, "cannot create an HTTP handle");
        return NULL;
    }
    if (settings != NULL)
        h->settings = *settings;
    const char *ca = http_ca_bundle(settings);
    h->ca_bundle = ca != NULL ? x_strdup(ca) : NULL;
    h->settings.ca_bundle = h->ca_bundle;
    return h;
}

void http_free(Http *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    free(h->ca_bundle);
    free(h);
}

/* State of one exchange, shared by the callbacks. */
typedef struct Exchange {
    CURL *curl;
    const HttpRequest *req;
    HttpResponse *resp;
    const uint8_t *body;
    size_t body_size, body_pos;
    int body_fd; /* > 0: the body is read from this file at body_offset + body_pos */
    uint64_t body_offset;
    size_t max_body;
    size_t cap;
    bool status_known, ok_status, too_big;
    Error sink_err;
    bool sink_failed;
} Exchange;

static size_t exchange_read(char *buf, size_t size, size_t nitems, void *ud)
{
    Exchange *x = ud;
    size_t n = size * nitems;
    size_t left = x->body_size - x->body_pos;
    if (n > left)
        n = left;
    if (x->body_fd > 0) {
        ssize_t got;
        do
            got = pread(x->body_fd, buf, n, (off_t)(x->body_offset + x->body_pos));
        while (got < 0 && errno == EINTR);
        if (got <= 0)
            return CURL_READFUNC_ABORT; /* the file shrank or failed: the transfer fails */
        x->body_pos += (size_t)got;
        return (size_t)got;
    }
    memcpy(buf, x->body + x->body_pos, n);
    x->body_pos += n;
    return n;
}

static int exchange_seek(void *ud, curl_off_t offset, int origin)
{
    Exchange *x = ud;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > x->body_size)
        return CURL_SEEKFUNC_FAIL;
    x->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t exchange_header(char *data, size_t size, size_t nitems, void *ud)
{
    Exchange *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100 Continue): forget the previous headers. */
        http_headers_free(&x->resp->headers);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (colon == NULL)
        return n;
    size_t end = n;
    while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    HttpHeaders *h = &x->resp->headers;
    h->lines = x_realloc(h->lines, (h->count + 1) * sizeof(char *));
    h->lines[h->count++] = x_strndup(data, end);
    return n;
}

static void buffer_append(HttpResponse *r, size_t *cap, const char *data, size_t n)
{
    buf_append(&r->body, &r->body_size, cap, data, n);
}

static size_t exchange_write(char *data, size_t size, size_t nitems, void *ud)
{
    Exchange *x = ud;
    size_t n = size * nitems;
    if (!x->status_known) {
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        x->ok_status = status >= 200 && status < 300;
        x->status_known = true;
    }
    if (x->ok_status && x->req->sink != NULL) {
        if (!sink_write(x->req->sink, data, n, &x->sink_err)) {
            x->sink_failed = true;
            return 0;
        }
        x->resp->streamed += n;
        return n;
    }
    size_t limit = x->ok_status ? x->max_body : HTTP_ERROR_BODY_MAX;
    if (x->resp->body_size + n > limit) {
        if (x->ok_status) {
            x->too_big = true;
            return 0;
        }
        n = limit - x->resp->body_size; /* keep the start of an error body */
        if (n > 0)
            buffer_append(x->resp, &x->cap, data, n);
        return size * nitems;
    }
    buffer_append(x->resp, &x->cap, data, n);
    return n;
}

/* Classify a curl failure: transport problems are retryable, the rest are not. */
static bool http_curl_error(CURLcode rc, const char *method, const char *url, const char *detail,
                            Error *err)
{
    bool retryable = false;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        retryable = true;
        break;
    default:
        break;
    }
    error_set(err, ERR_NET, "%s %s: %s", method, url,
              detail != NULL && *detail ? detail : curl_easy_strerror(rc));
    err->retryable = retryable;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        error_hint(err, "TLS verification failed; set HFSYNC_CA_BUNDLE to the CA certificate file "
                        "if the server uses a private CA");
    return false;
}

/* Strip the query string from a URL for messages (it may hold presigned credentials). */
static char *http_url_for_log(const char *url)
{
    const char *q = strchr(url, '?');
    return q == NULL ? x_strdup(url) : str_printf("%.*s?…", (int)(q - url), url);
}

bool http_request(Http *h, const HttpRequest *req, HttpResponse *resp, Error *err)
{
    memset(resp, 0, sizeof(*resp));
    CURL *c = h->curl;
    curl_easy_reset(c);
    h->errbuf[0] = '\0';
    http_setup(c, &h->settings, h->ca_bundle, h->errbuf);

    Exchange x = {.curl = c,
                  .req = req,
                  .resp = resp,
                  .body = req->body,
                  .body_size = req->body_size,
                  .body_fd = req->body == NULL ? req->body_fd : 0,
                  .body_offset = req->body_offset,
                  .max_body = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY};
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, exchange_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, exchange_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);

    const char *m = req->method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "PUT") == 0 || req->body != NULL || x.body_fd > 0) {
        /* Upload mode with a known length: curl sends Content-Length, never chunked. */
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_size);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, exchange_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &x);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, exchange_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
        if (strcmp(m, "PUT") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
        if (strcmp(m, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
    }

    struct curl_slist *list = NULL;
    for (size_t i = 0; req->headers != NULL && i < req->headers->count; i++)
        list = curl_slist_append(list, req->headers->lines[i]);
    /* Bodies are small parts sent from memory: 100-continue only costs a round trip. */
    list = curl_slist_append(list, "Expect:");
    /* A POST without a body would get curl's form type, which S3 keeps as the object's type
     * (CreateMultipartUpload). */
    if (req->body == NULL && x.body_fd <= 0 && strcmp(m, "POST") == 0 &&
        http_headers_get(req->headers, "Content-Type") == NULL)
        list = curl_slist_append(list, "Content-Type:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->body == NULL)
        buffer_append(resp, &x.cap, "", 0);

    if (x.sink_failed) {
        *err = x.sink_err;
        return false;
    }
    char *where = http_url_for_log(req->url);
    bool ok = true;
    if (x.too_big)
        ok = error_set(err, ERR_NET, "%s %s: the response is larger than the %zu bytes expected", m,
                       where, x.max_body);
    else if (rc != CURLE_OK)
        ok = http_curl_error(rc, m, where, h->errbuf, err);
    free(where);
    return ok;
}

void http_response_free(HttpResponse *resp)
{
    http_headers_free(&resp->headers);
    free(resp->body);
    resp->body = NULL;
    resp->body_size = 0;
}

int64_t http_parse_date(const char *text)
{
    time_t t = curl_getdate(text, NULL);
    return t > 0 ? (int64_t)t : -1;
}

/* --- base64 ---------------------------------------------------------------------------------- */

void http_base64(const uint8_t *data, size_t size, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, data, (int)size);
}

/* --- streaming GET ---------------------------------------------------------------------------- */

#define GET_HOLD (512u << 10)

typedef struct GetReader {
    Reader base;
    HttpSettings settings;
    char *ca;
    char *url;
    uint64_t offset; /* next byte the caller gets, as an object offset */
    HttpRetry policy;
    HttpAttempt attempt;
    HttpPrepareFn prepare;
    HttpFailFn fail;
    void *ctx;

    CURLM *multi;
    CURL *curl;
    struct curl_slist *list;
    char errbuf[CURL_ERROR_SIZE];
    HttpResponse resp; /* headers and error body of the current attempt */
    size_t resp_cap;
    bool running, paused, finished, status_known, ok_status;
    uint64_t skip; /* bytes to drop: the server answered a Range request with the whole body */
    CURLcode result;

    uint8_t *hold;
    size_t hold_start, hold_end;
} GetReader;

static size_t get_header(char *data, size_t size, size_t nitems, void *ud)
{
    GetReader *g = ud;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        http_headers_free(&g->resp.headers);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (colon != NULL) {
        size_t end = n;
        while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
            end--;
        HttpHeaders *h = &g->resp.headers;
        h->lines = x_realloc(h->lines, (h->count + 1) * sizeof(char *));
        h->lines[h->count++] = x_strndup(data, end);
    }
    return n;
}

static size_t get_write(char *data, size_t size, size_t nitems, void *ud)
{
    GetReader *g = ud;
    size_t n = size * nitems;
    if (!g->status_known) {
        curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &g->resp.status);
        g->ok_status = g->resp.status >= 200 && g->resp.status < 300;
        g->status_known = true;
        if (g->resp.status == 200 && g->offset > 0)
            g->skip = g->offset;
    }
    if (!g->ok_status) {
        size_t keep = n;
        if (g->resp.body_size + keep > HTTP_ERROR_BODY_MAX)
            keep = HTTP_ERROR_BODY_MAX - g->resp.body_size;
        buffer_append(&g->resp, &g->resp_cap, data, keep);
        return n;
    }
    if (g->skip > 0) {
        size_t drop = g->skip < n ? (size_t)g->skip : n;
        g->skip -= drop;
        data += drop;
        if (drop == n)
            return n;
        n -= drop;
        nitems = n;
        size = 1;
    }
    if (g->hold_start == g->hold_end)
        g->hold_start = g->hold_end = 0;
    if (GET_HOLD - g->hold_end < n) {
        if (g->hold_start > 0) {
            memmove(g->hold, g->hold + g->hold_start, g->hold_end - g->hold_start);
            g->hold_end -= g->hold_start;
            g->hold_start = 0;
        }
        if (GET_HOLD - g->hold_end < n) {
            g->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    memcpy(g->hold + g->hold_end, data, n);
    g->hold_end += n;
    return n;
}

static void get_stop(GetReader *g)
{
    if (g->curl != NULL) {
        curl_multi_remove_handle(g->multi, g->curl);
        curl_easy_cleanup(g->curl);
        g->curl = NULL;
    }
    curl_slist_free_all(g->list);
    g->list = NULL;
    g->running = false;
}

static bool get_start(GetReader *g, Error *err)
{
    get_stop(g);
    http_response_free(&g->resp);
    memset(&g->resp, 0, sizeof(g->resp));
    g->resp_cap = 0;
    g->status_known = g->ok_status = g->paused = g->finished = false;
    g->skip = 0;
    g->hold_start = g->hold_end = 0;
    HttpHeaders hd = {0};
    if (g->offset > 0)
        http_headers_add(&hd, "Range", "bytes=%llu-", (unsigned long long)g->offset);
    if (g->prepare != NULL && !g->prepare(g->ctx, "GET", g->url, &hd, err)) {
        http_headers_free(&hd);
        return false;
    }
    g->curl = curl_easy_init();
    if (g->curl == NULL) {
        http_headers_free(&hd);
        return error_set(err, ERR_NO_MEMORY, "cannot create an HTTP handle");
    }
    http_setup(g->curl, &g->settings, g->ca, g->errbuf);
    for (size_t i = 0; i < hd.count; i++)
        g->list = curl_slist_append(g->list, hd.lines[i]);
    http_headers_free(&hd);
    curl_easy_setopt(g->curl, CURLOPT_URL, g->url);
    curl_easy_setopt(g->curl, CURLOPT_HTTPHEADER, g->list);
    curl_easy_setopt(g->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(g->curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(g->curl, CURLOPT_HEADERFUNCTION, get_header);
    curl_easy_setopt(g->curl, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, get_write);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, g);
    curl_multi_add_handle(g->multi, g->curl);
    g->running = true;
    return true;
}

/* Drive the transfer until bytes are held, it ends, or it fails. */
static bool get_pump(GetReader *g, Error *err)
{
    while (g->hold_start == g->hold_end && g->running && !g->finished) {
        if (g->paused) {
            g->paused = false;
            curl_easy_pause(g->curl, CURLPAUSE_CONT);
            if (g->hold_start != g->hold_end)
                break;
        }
        int still = 0;
        CURLMcode mc = curl_multi_perform(g->multi, &still);
        if (mc != CURLM_OK)
            return error_set(err, ERR_NET, "GET: %s", curl_multi_strerror(mc));
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(g->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE) {
                g->finished = true;
                g->result = msg->data.result;
            }
        if (g->finished || g->hold_start != g->hold_end)
            break;
        if (!g->paused)
            curl_multi_poll(g->multi, NULL, 0, 1000, NULL);
    }
    return true;
}

static ssize_t get_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    GetReader *g = (GetReader *)reader;
    for (;;) {
        if (g->hold_start != g->hold_end) {
            size_t n = g->hold_end - g->hold_start;
            if (n > cap)
                n = cap;
            memcpy(buf, g->hold + g->hold_start, n);
            g->hold_start += n;
            g->offset += n;
            return (ssize_t)n;
        }
        if (!g->running)
            return 0;
        if (!get_pump(g, err))
            return -1;
        if (g->hold_start != g->hold_end || !g->finished)
            continue;
        /* The transfer ended and everything held was delivered. */
        char *where = http_url_for_log(g->url);
        if (g->result == CURLE_OK && g->resp.status == 0)
            curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &g->resp.status);
        if (g->result == CURLE_OK && g->resp.status >= 200 && g->resp.status < 300) {
            free(where);
            get_stop(g);
            return 0;
        }
        if (g->result != CURLE_OK) {
            http_curl_error(g->result, "GET", where, g->errbuf, err);
        } else if (g->resp.status == 404) {
            error_set(err, ERR_NOT_FOUND, "GET %s: not found (404)", where);
            if (g->fail != NULL)
                g->fail(g->ctx, &g->resp, err);
            err->code = ERR_NOT_FOUND;
            err->retryable = false;
        } else {
            error_set(err, ERR_NET, "GET %s: HTTP %ld", where, g->resp.status);
            err->http_status = (int)g->resp.status;
            err->retryable = http_status_retryable(g->resp.status);
            if (g->fail != NULL)
                g->fail(g->ctx, &g->resp, err);
        }
        HttpHeaders hd = g->resp.headers;
        g->resp.headers = (HttpHeaders){0};
        char *what = str_printf("GET %s", where);
        bool again = http_attempt_retry(&g->attempt, what, &hd, err);
        http_headers_free(&hd);
        free(what);
        free(where);
        if (!again || !get_start(g, err)) {
            get_stop(g);
            return -1;
        }
    }
}

static void get_free(Reader *reader)
{
    GetReader *g = (GetReader *)reader;
    get_stop(g);
    curl_multi_cleanup(g->multi);
    http_response_free(&g->resp);
    free(g->hold);
    free(g->url);
    free(g->ca);
    free(g);
}

static const ReaderOps get_ops = {get_read, get_free};

Reader *http_get_reader(const HttpSettings *settings, const char *url, uint64_t offset,
                        const HttpRetry *policy, HttpPrepareFn prepare, HttpFailFn fail, void *ctx,
                        Error *err)
{
    pthread_once(&http_once, http_global_init);
    static const HttpRetry defaults = HTTP_RETRY_DEFAULT;
    GetReader *g = x_calloc(1, sizeof(*g));
    g->base.ops = &get_ops;
    if (settings != NULL)
        g->settings = *settings;
    const char *ca = http_ca_bundle(settings);
    g->ca = ca != NULL ? x_strdup(ca) : NULL;
    g->url = x_strdup(url);
    g->offset = offset;
    g->policy = policy != NULL ? *policy : defaults;
    http_attempt_begin(&g->attempt, &g->policy);
    g->prepare = prepare;
    g->fail = fail;
    g->ctx = ctx;
    g->hold = x_malloc(GET_HOLD);
    g->multi = curl_multi_init();
    if (g->multi == NULL || !get_start(g, err)) {
        if (g->multi == NULL)
            error_set(err, ERR_NO_MEMORY, "cannot create an HTTP handle");
        get_free(&g->base);
        return NULL;
    }
    /* Fail here, not at the first read, when the object is missing or access is refused. */
    Error first = {0};
    if (!get_pump(g, &first)) {
        *err = first;
        get_free(&g->base);
        return NULL;
    }
    if (g->finished && g->hold_start == g->hold_end) {
        uint8_t probe;
        ssize_t n = get_read(&g->base, &probe, 0, err);
        if (n < 0) {
            get_free(&g->base);
            return NULL;
        }
    }
    return &g->base;
}
