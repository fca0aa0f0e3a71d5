/*
 * Private to the scripted server: reading requests off one connection. A WireConn is owned by
 * one connection thread; its buffer keeps bytes received past the current request (keep-alive).
 * Reads wait on the socket and on wake_fd, which becomes readable when the server stops.
 */
#ifndef HFSYNC_TEST_SCRIPTED_HTTP_WIRE_H
#define HFSYNC_TEST_SCRIPTED_HTTP_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "hfsync/util.h"
#include "support/scripted_http.h"

/* Append to a growing array of `n` elements (x_realloc aborts on failure). */
#define PUSH(arr, n, item)                                                                         \
    do {                                                                                           \
        (arr) = x_realloc((arr), ((n) + 1) * sizeof(*(arr)));                                      \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

typedef struct WireConn {
    int fd;
    int wake_fd;
    size_t index; /* connection number, copied into each request */
    char *buf;    /* received, not yet consumed */
    size_t len, cap;
} WireConn;

/* 1: a request in *out (owned; free with wire_request_free); 0: the stream ended or the server
   stops; -1: malformed, *why (owned) says how. */
int wire_read_request(WireConn *c, ScriptedRequest **out, char **why);
void wire_request_free(ScriptedRequest *r);
/* send() until done, never raising SIGPIPE; false when the peer is gone. */
bool wire_send_all(int fd, const void *data, size_t size);

#endif
