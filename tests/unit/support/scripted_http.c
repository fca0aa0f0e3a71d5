/*
 * The scripted server: an accept thread, one thread per connection, one lock over the script,
 * the records and the failure list. Stopping writes to a pipe every poll() also watches and
 * shuts the live sockets down, so no thread is left blocked (see scripted_http.h).
 */
#include "support/scripted_http.h"
#include "support/scripted_http_wire.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hfsync/util.h"

const char scripted_absent[] = "(must be absent)";

typedef struct Conn {
    ScriptedHttp *srv;
    WireConn wire; /* wire.fd is -1 once closed; changed only under srv->lock */
    bool started;
    pthread_t thread;
} Conn;

struct ScriptedHttp {
    ScriptedExchange *ex;
    size_t ex_count;
    bool *used;
    int listen_fd;
    int wake[2]; /* written once on stop; every poll() watches wake[0] */
    char url[48];
    pthread_t acceptor;
    bool acceptor_started;
    pthread_mutex_t lock;
    pthread_cond_t stop_cond; /* broadcast on stop, ends delays early */
    pthread_mutex_t handler_lock;
    bool stopping, finished, verdict;
    char *verdict_msg;
    Conn **conns;
    size_t conn_count;
    ScriptedRequest **reqs;
    size_t req_count;
    char **failures;
    size_t failure_count;
    void **owned;
    size_t owned_count;
};

/* ---- small helpers ---- */

static void fail_locked(ScriptedHttp *srv, char *msg /* takes ownership */)
{
    PUSH(srv->failures, srv->failure_count, msg);
}

static void *own(ScriptedHttp *srv, void *p)
{
    pthread_mutex_lock(&srv->lock);
    PUSH(srv->owned, srv->owned_count, p);
    pthread_mutex_unlock(&srv->lock);
    return p;
}

const char *scripted_http_printf(ScriptedHttp *srv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return own(srv, s);
}

void *scripted_http_alloc(ScriptedHttp *srv, size_t size)
{
    return own(srv, x_calloc(1, size ? size : 1));
}

/* ---- matching ---- */

static bool target_matches(const ScriptedExchange *e, const ScriptedRequest *r)
{
    if (e->method != NULL && strcmp(e->method, r->method) != 0)
        return false;
    if (e->target == NULL)
        return true;
    if (e->target_match == SCRIPTED_TARGET_PREFIX)
        return str_starts_with(r->target, e->target);
    return strcmp(e->target, r->target) == 0;
}

static char *describe(const ScriptedExchange *e)
{
    return str_printf("%s %s%s", e->method ? e->method : "(any method)",
                      e->target ? e->target : "(any target)",
                      e->target && e->target_match == SCRIPTED_TARGET_PREFIX ? "*" : "");
}

static bool printable(const void *data, size_t size)
{
    const unsigned char *p = data;
    if (size > 200)
        return false;
    for (size_t i = 0; i < size; i++)
        if (!isprint(p[i]) && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
            return false;
    return true;
}

/* NULL when the request has the headers and body the exchange wants, else why not. */
static char *content_mismatch(const ScriptedExchange *e, const ScriptedRequest *r)
{
    for (size_t k = 0; k < SCRIPTED_MAX_HEADERS && e->headers[k].name != NULL; k++) {
        const char *name = e->headers[k].name, *want = e->headers[k].value;
        const char *got = NULL;
        bool equal = false;
        for (size_t i = 0; i < r->header_count; i++) {
            if (strcasecmp(r->headers[i].name, name) != 0)
                continue;
            if (got == NULL)
                got = r->headers[i].value;
            if (want != NULL && want != SCRIPTED_ABSENT && strcmp(r->headers[i].value, want) == 0)
                equal = true;
        }
        if (want == SCRIPTED_ABSENT && got != NULL)
            return str_printf("header '%s' must not be sent, got '%s'", name, got);
        if (want != SCRIPTED_ABSENT && got == NULL)
            return want ? str_printf("header '%s' is missing (expected '%s')", name, want)
                        : str_printf("header '%s' is missing", name);
        if (want != NULL && want != SCRIPTED_ABSENT && !equal)
            return str_printf("header '%s' is '%s', expected '%s'", name, got, want);
    }
    if (e->body_check == SCRIPTED_BODY_SIZE && r->body_size != e->body_size)
        return str_printf("body is %zu bytes, expected %zu", r->body_size, e->body_size);
    if (e->body_check == SCRIPTED_BODY_EXACT) {
        const char *want = e->body ? e->body : "";
        size_t want_size = e->body_size ? e->body_size : strlen(want);
        size_t at = 0;
        while (at < want_size && at < r->body_size && want[at] == (char)r->body[at])
            at++;
        if (at == want_size && at == r->body_size)
            return NULL;
        if (printable(r->body, r->body_size) && printable(want, want_size))
            return str_printf("body '%s' (%zu bytes) differs from the expected '%.*s' (%zu bytes) "
                              "at byte %zu",
                              (const char *)r->body, r->body_size, (int)want_size, want, want_size,
                              at);
        return str_printf("body (%zu bytes) differs from the expected one (%zu bytes) at byte %zu",
                          r->body_size, want_size, at);
    }
    return NULL;
}

/* The exchange `r` takes, or SCRIPTED_NONE with *why set. Candidates: the first unused exchange
   and, when it is unordered, every unused unordered one up to the next ordered one. */
static size_t match_locked(ScriptedHttp *srv, const ScriptedRequest *r, char **why)
{
    size_t first = 0;
    while (first < srv->ex_count && srv->used[first])
        first++;
    if (first == srv->ex_count) {
        *why = str_printf("unexpected: the script's %zu exchanges are all used", srv->ex_count);
        return SCRIPTED_NONE;
    }
    size_t candidates = 0, mismatch_at = SCRIPTED_NONE;
    char *mismatch = NULL;
    for (size_t i = first; i < srv->ex_count; i++) {
        const ScriptedExchange *e = &srv->ex[i];
        if (srv->used[i])
            continue;
        if (i != first && !e->unordered)
            break;
        candidates++;
        if (target_matches(e, r)) {
            char *m = content_mismatch(e, r);
            if (m == NULL) {
                free(mismatch);
                return i;
            }
            if (mismatch == NULL) {
                mismatch = m;
                mismatch_at = i;
            } else {
                free(m);
            }
        }
        if (!e->unordered)
            break;
    }
    if (mismatch != NULL) {
        char *d = describe(&srv->ex[mismatch_at]);
        *why = str_printf("exchange %zu (%s): %s", mismatch_at, d, mismatch);
        free(d);
        free(mismatch);
    } else {
        char *d = describe(&srv->ex[first]);
        *why = candidates > 1 ? str_printf("unexpected; expected exchange %zu (%s) or one of the "
                                           "%zu unordered exchanges after it",
                                           first, d, candidates - 1)
                              : str_printf("unexpected; expected exchange %zu (%s)", first, d);
        free(d);
    }
    return SCRIPTED_NONE;
}

/* ---- replying ---- */

static const char *reason_for(int status)
{
    static const struct {
        int status;
        const char *reason;
    } table[] = {
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {204, "No Content"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {416, "Range Not Satisfiable"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {599, "Script Mismatch"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].status == status)
            return table[i].reason;
    return "Status";
}

static bool has_header(const ScriptedReply *rep, const char *name, const char *value)
{
    for (size_t i = 0; i < SCRIPTED_MAX_HEADERS && rep->headers[i].name != NULL; i++)
        if (strcasecmp(rep->headers[i].name, name) == 0 &&
            (value == NULL ||
             (rep->headers[i].value && strcasecmp(rep->headers[i].value, value) == 0)))
            return true;
    return false;
}

/* Sleep, cut short by a stop. */
static void delay(ScriptedHttp *srv, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping)
        if (pthread_cond_timedwait(&srv->stop_cond, &srv->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&srv->lock);
}

/* Send the reply; false when the connection must be closed afterwards. */
static bool send_reply(Conn *c, const ScriptedRequest *req, const ScriptedReply *rep)
{
    if (rep->delay_ms > 0)
        delay(c->srv, rep->delay_ms);
    if (rep->fault == SCRIPTED_FAULT_CLOSE)
        return false;
    if (rep->fault == SCRIPTED_FAULT_RESET) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->wire.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        return false;
    }
    const char *body = rep->body ? rep->body : "";
    size_t body_size = rep->body_size ? rep->body_size : strlen(body);
    bool no_body = rep->status < 200 || rep->status == 204 || rep->status == 304;
    char *head = NULL;
    size_t head_size = 0;
    FILE *f = open_memstream(&head, &head_size);
    if (f == NULL)
        abort();
    fprintf(f, "HTTP/1.1 %d %s\r\n", rep->status,
            rep->reason ? rep->reason : reason_for(rep->status));
    for (size_t i = 0; i < SCRIPTED_MAX_HEADERS && rep->headers[i].name != NULL; i++)
        fprintf(f, "%s: %s\r\n", rep->headers[i].name,
                rep->headers[i].value ? rep->headers[i].value : "");
    if (!no_body && !has_header(rep, "content-length", NULL) &&
        !has_header(rep, "transfer-encoding", NULL))
        fprintf(f, "Content-Length: %zu\r\n", body_size);
    fputs("\r\n", f);
    fclose(f);
    if (no_body || strcmp(req->method, "HEAD") == 0)
        body_size = 0;
    if (rep->fault == SCRIPTED_FAULT_SHORT_BODY)
        body_size /= 2;
    bool ok =
        wire_send_all(c->wire.fd, head, head_size) && wire_send_all(c->wire.fd, body, body_size);
    free(head);
    const char *conn = scripted_request_header(req, "connection");
    bool client_closes = conn != NULL && strcasestr(conn, "close") != NULL;
    return ok && rep->fault == SCRIPTED_FAULT_NONE && !client_closes &&
           !has_header(rep, "connection", "close");
}

/* Match, record, reply. False when the connection must be closed. */
static bool serve(Conn *c, ScriptedRequest *r)
{
    ScriptedHttp *srv = c->srv;
    char *why = NULL;
    pthread_mutex_lock(&srv->lock);
    size_t idx = match_locked(srv, r, &why);
    size_t number = srv->req_count;
    r->exchange = idx;
    PUSH(srv->reqs, srv->req_count, r);
    char *line = NULL;
    if (idx == SCRIPTED_NONE) {
        line = str_printf("request %zu (%s %s, connection %zu): %s", number, r->method, r->target,
                          c->wire.index, why);
        fail_locked(srv, x_strdup(line));
    } else {
        srv->used[idx] = true;
    }
    pthread_mutex_unlock(&srv->lock);
    free(why);

    ScriptedReply rep;
    if (idx == SCRIPTED_NONE) {
        rep = (ScriptedReply){.status = 599, .headers = {{"Content-Type", "text/plain"}}};
        rep.body = own(srv, line);
    } else {
        const ScriptedExchange *e = &srv->ex[idx];
        rep = e->reply;
        if (e->handler != NULL) {
            pthread_mutex_lock(&srv->handler_lock);
            e->handler(srv, r, &rep, e->handler_ctx);
            pthread_mutex_unlock(&srv->handler_lock);
        }
    }
    return send_reply(c, r, &rep);
}

static void *conn_main(void *arg)
{
    Conn *c = arg;
    ScriptedHttp *srv = c->srv;
    int one = 1;
    setsockopt(c->wire.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (;;) {
        ScriptedRequest *r = NULL;
        char *why = NULL;
        int rc = wire_read_request(&c->wire, &r, &why);
        if (rc == 0)
            break;
        if (rc < 0) {
            pthread_mutex_lock(&srv->lock);
            fail_locked(srv,
                        str_printf("connection %zu: malformed request: %s", c->wire.index, why));
            pthread_mutex_unlock(&srv->lock);
            static const char bad[] =
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            wire_send_all(c->wire.fd, bad, sizeof(bad) - 1);
            free(why);
            break;
        }
        if (!serve(c, r))
            break;
    }
    pthread_mutex_lock(&srv->lock);
    close(c->wire.fd);
    c->wire.fd = -1;
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

static void *accept_main(void *arg)
{
    ScriptedHttp *srv = arg;
    for (;;) {
        struct pollfd p[2] = {{srv->listen_fd, POLLIN, 0}, {srv->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            pthread_mutex_lock(&srv->lock);
            fail_locked(srv, str_printf("accept: %s", strerror(errno)));
            pthread_mutex_unlock(&srv->lock);
            break;
        }
        Conn *c = x_calloc(1, sizeof(*c));
        c->srv = srv;
        c->wire.fd = fd;
        c->wire.wake_fd = srv->wake[0];
        pthread_mutex_lock(&srv->lock);
        if (srv->stopping) {
            pthread_mutex_unlock(&srv->lock);
            close(fd);
            free(c);
            break;
        }
        c->wire.index = srv->conn_count;
        PUSH(srv->conns, srv->conn_count, c);
        c->started = pthread_create(&c->thread, NULL, conn_main, c) == 0;
        if (!c->started) {
            fail_locked(srv, str_printf("connection %zu: cannot start a thread", c->wire.index));
            close(fd);
            c->wire.fd = -1;
        }
        pthread_mutex_unlock(&srv->lock);
    }
    return NULL;
}

/* ---- life cycle ---- */

ScriptedHttp *scripted_http_start(const ScriptedExchange *ex, size_t count)
{
    ScriptedHttp *srv = x_calloc(1, sizeof(*srv));
    srv->listen_fd = srv->wake[0] = srv->wake[1] = -1;
    srv->ex_count = count;
    srv->ex = x_calloc(count ? count : 1, sizeof(*srv->ex));
    if (count > 0)
        memcpy(srv->ex, ex, count * sizeof(*ex));
    srv->used = x_calloc(count ? count : 1, sizeof(*srv->used));
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->handler_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->stop_cond, &attr);
    pthread_condattr_destroy(&attr);

    const char *what = "socket";
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    srv->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv->listen_fd < 0)
        goto fail;
    what = "bind 127.0.0.1";
    if (bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto fail;
    what = "listen";
    if (listen(srv->listen_fd, 64) != 0 ||
        getsockname(srv->listen_fd, (struct sockaddr *)&addr, &len) != 0)
        goto fail;
    snprintf(srv->url, sizeof(srv->url), "http://127.0.0.1:%u", ntohs(addr.sin_port));
    what = "pipe";
    if (pipe2(srv->wake, O_CLOEXEC) != 0)
        goto fail;
    what = "pthread_create";
    errno = pthread_create(&srv->acceptor, NULL, accept_main, srv);
    if (errno != 0)
        goto fail;
    srv->acceptor_started = true;
    return srv;
fail:
    fprintf(stderr, "scripted_http: %s: %s\n", what, strerror(errno));
    srv->finished = true;
    scripted_http_free(srv);
    return NULL;
}

const char *scripted_http_url(const ScriptedHttp *srv)
{
    return srv->url;
}

static void stop(ScriptedHttp *srv)
{
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->stop_cond);
    if (srv->wake[1] >= 0 && write(srv->wake[1], "x", 1) < 0)
        abort();
    for (size_t i = 0; i < srv->conn_count; i++)
        if (srv->conns[i]->wire.fd >= 0)
            shutdown(srv->conns[i]->wire.fd, SHUT_RDWR);
    pthread_mutex_unlock(&srv->lock);
    if (srv->acceptor_started)
        pthread_join(srv->acceptor, NULL);
    /* The acceptor is gone: the connection list no longer grows. */
    for (size_t i = 0; i < srv->conn_count; i++)
        if (srv->conns[i]->started)
            pthread_join(srv->conns[i]->thread, NULL);
}

bool scripted_http_finish(ScriptedHttp *srv, char **failure_msg)
{
    if (!srv->finished) {
        stop(srv);
        pthread_mutex_lock(&srv->lock);
        for (size_t i = 0; i < srv->ex_count; i++) {
            if (srv->used[i])
                continue;
            char *d = describe(&srv->ex[i]);
            fail_locked(srv, str_printf("exchange %zu (%s) was never requested", i, d));
            free(d);
        }
        srv->verdict = srv->failure_count == 0;
        size_t size = 1;
        for (size_t i = 0; i < srv->failure_count; i++)
            size += strlen(srv->failures[i]) + 1;
        srv->verdict_msg = x_calloc(1, size);
        for (size_t i = 0; i < srv->failure_count; i++) {
            if (i > 0)
                strcat(srv->verdict_msg, "\n");
            strcat(srv->verdict_msg, srv->failures[i]);
        }
        srv->finished = true;
        pthread_mutex_unlock(&srv->lock);
    }
    if (failure_msg != NULL)
        *failure_msg = srv->verdict ? NULL : x_strdup(srv->verdict_msg);
    return srv->verdict;
}

size_t scripted_http_request_count(ScriptedHttp *srv)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->req_count;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

const ScriptedRequest *scripted_http_request(ScriptedHttp *srv, size_t i)
{
    pthread_mutex_lock(&srv->lock);
    const ScriptedRequest *r = i < srv->req_count ? srv->reqs[i] : NULL;
    pthread_mutex_unlock(&srv->lock);
    return r;
}

size_t scripted_http_connection_count(ScriptedHttp *srv)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->conn_count;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

void scripted_http_free(ScriptedHttp *srv)
{
    if (srv == NULL)
        return;
    if (!srv->finished)
        scripted_http_finish(srv, NULL);
    for (size_t i = 0; i < srv->conn_count; i++) {
        free(srv->conns[i]->wire.buf);
        free(srv->conns[i]);
    }
    free(srv->conns);
    for (size_t i = 0; i < srv->req_count; i++)
        wire_request_free(srv->reqs[i]);
    free(srv->reqs);
    for (size_t i = 0; i < srv->failure_count; i++)
        free(srv->failures[i]);
    free(srv->failures);
    for (size_t i = 0; i < srv->owned_count; i++)
        free(srv->owned[i]);
    free(srv->owned);
    free(srv->verdict_msg);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    for (int i = 0; i < 2; i++)
        if (srv->wake[i] >= 0)
            close(srv->wake[i]);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->handler_lock);
    pthread_cond_destroy(&srv->stop_cond);
    free(srv->ex);
    free(srv->used);
    free(srv);
}
