/*
 * The scripted server's side of the wire: reading HTTP/1.1 requests (head, Content-Length or
 * chunked body, 100-continue) off one connection. See scripted_http_wire.h.
 */
#include "support/scripted_http_wire.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "hfsync/util.h"

#define HEAD_MAX (64 * 1024)
#define BODY_MAX ((size_t)256 * 1024 * 1024)

const char *scripted_request_header(const ScriptedRequest *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void wire_request_free(ScriptedRequest *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->header_count; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    free(r->method);
    free(r->target);
    free(r->head);
    free(r->body);
    free(r);
}

static void add_header(ScriptedRequest *r, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    while (value_len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
    ScriptedHeader h = {x_strndup(name, name_len), x_strndup(value, value_len)};
    PUSH(r->headers, r->header_count, h);
}

bool wire_send_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

/* Wait for more bytes: false on end of stream, error or stop. */
static bool conn_fill(WireConn *c)
{
    if (c->cap - c->len < 16384) {
        size_t cap = c->cap ? c->cap : 65536;
        while (cap - c->len < 16384)
            cap *= 2;
        c->buf = x_realloc(c->buf, cap);
        c->cap = cap;
    }
    for (;;) {
        struct pollfd p[2] = {{c->fd, POLLIN, 0}, {c->wake_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (p[1].revents)
            return false;
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        c->len += (size_t)n;
        return true;
    }
}

static void conn_consume(WireConn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Make `n` bytes available. */
static bool conn_need(WireConn *c, size_t n)
{
    while (c->len < n)
        if (!conn_fill(c))
            return false;
    return true;
}

/* Length of the next CRLF-terminated line (without the CRLF); false if the stream ends first. */
static bool conn_line(WireConn *c, size_t *line_len, char **why)
{
    for (;;) {
        char *end = c->len ? memmem(c->buf, c->len, "\r\n", 2) : NULL;
        if (end != NULL) {
            *line_len = (size_t)(end - c->buf);
            return true;
        }
        if (c->len > HEAD_MAX) {
            *why = str_printf("a line longer than %d bytes", HEAD_MAX);
            return false;
        }
        if (!conn_fill(c))
            return false;
    }
}

/* Request line and header lines of `head` (ending with CRLF). NULL, or why it is malformed. */
static char *parse_head(const char *head, ScriptedRequest *r)
{
    const char *eol = strstr(head, "\r\n");
    const char *sp1 = memchr(head, ' ', (size_t)(eol - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == head || sp2 == sp1 + 1 ||
        strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return str_printf("bad request line '%.*s'", (int)(eol - head), head);
    r->method = x_strndup(head, (size_t)(sp1 - head));
    r->target = x_strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    for (const char *line = eol + 2; *line; line = strstr(line, "\r\n") + 2) {
        const char *end = strstr(line, "\r\n");
        const char *colon = memchr(line, ':', (size_t)(end - line));
        if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t' ||
            colon[-1] == ' ' || colon[-1] == '\t')
            return str_printf("bad header line '%.*s'", (int)(end - line), line);
        add_header(r, line, (size_t)(colon - line), colon + 1, (size_t)(end - colon - 1));
    }
    return NULL;
}

static void body_append(ScriptedRequest *r, const char *data, size_t n)
{
    r->body = x_realloc(r->body, r->body_size + n + 1);
    memcpy(r->body + r->body_size, data, n);
    r->body_size += n;
    r->body[r->body_size] = '\0';
}

static bool read_chunked(WireConn *c, ScriptedRequest *r, char **why)
{
    for (;;) {
        size_t n;
        if (!conn_line(c, &n, why))
            return false;
        char *end = NULL;
        errno = 0;
        unsigned long long size = strtoull(c->buf, &end, 16);
        if (end == c->buf || errno != 0 || (end != c->buf + n && *end != ';') ||
            size > BODY_MAX - r->body_size) {
            *why = str_printf("bad chunk size line '%.*s'", (int)n, c->buf);
            return false;
        }
        conn_consume(c, n + 2);
        if (size == 0)
            break;
        if (!conn_need(c, (size_t)size + 2))
            return false;
        if (c->buf[size] != '\r' || c->buf[size + 1] != '\n') {
            *why = x_strdup("a chunk is not followed by CRLF");
            return false;
        }
        body_append(r, c->buf, (size_t)size);
        conn_consume(c, (size_t)size + 2);
    }
    for (;;) { /* trailers, then the blank line */
        size_t n;
        if (!conn_line(c, &n, why))
            return false;
        if (n == 0) {
            conn_consume(c, 2);
            return true;
        }
        const char *colon = memchr(c->buf, ':', n);
        if (colon == NULL || colon == c->buf) {
            *why = str_printf("bad trailer line '%.*s'", (int)n, c->buf);
            return false;
        }
        add_header(r, c->buf, (size_t)(colon - c->buf), colon + 1,
                   n - (size_t)(colon - c->buf) - 1);
        conn_consume(c, n + 2);
    }
}

int wire_read_request(WireConn *c, ScriptedRequest **out, char **why)
{
    char *end;
    while ((end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL) == NULL) {
        if (c->len > HEAD_MAX) {
            *why = str_printf("request head longer than %d bytes", HEAD_MAX);
            return -1;
        }
        if (!conn_fill(c))
            return 0;
    }
    ScriptedRequest *r = x_calloc(1, sizeof(*r));
    r->exchange = SCRIPTED_NONE;
    r->connection = c->index;
    size_t head_len = (size_t)(end - c->buf) + 2;
    r->head = x_strndup(c->buf, head_len);
    conn_consume(c, head_len + 2);
    if ((*why = parse_head(r->head, r)) != NULL)
        goto bad;

    const char *te = scripted_request_header(r, "transfer-encoding");
    const char *cl = scripted_request_header(r, "content-length");
    const char *expect = scripted_request_header(r, "expect");
    size_t length = 0;
    r->chunked = te != NULL && strcasestr(te, "chunked") != NULL;
    if (!r->chunked && cl != NULL) {
        char *e = NULL;
        errno = 0;
        unsigned long long v = strtoull(cl, &e, 10);
        if (!isdigit((unsigned char)cl[0]) || *e != '\0' || errno != 0 || v > BODY_MAX) {
            *why = str_printf("bad Content-Length '%s'", cl);
            goto bad;
        }
        length = (size_t)v;
    }
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && (r->chunked || length > 0)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!wire_send_all(c->fd, cont, sizeof(cont) - 1))
            goto gone;
        r->continued = true;
    }
    if (r->chunked) {
        if (!read_chunked(c, r, why))
            goto gone_or_bad;
    } else {
        if (!conn_need(c, length))
            goto gone;
        body_append(r, c->buf, length);
        conn_consume(c, length);
    }
    *out = r;
    return 1;
gone_or_bad:
    if (*why != NULL)
        goto bad;
gone:
    wire_request_free(r);
    return 0;
bad:
    wire_request_free(r);
    return -1;
}
