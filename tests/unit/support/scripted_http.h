/*
 * ScriptedHttp: a loopback HTTP/1.1 server for protocol unit tests (the idea of pgBackRest's
 * test/src/harness/server.c). The test states, in order, every request it expects and the reply
 * to send; the server listens on 127.0.0.1 on an ephemeral port in its own threads, answers by
 * the script, records every request, and scripted_http_finish() says whether the script was
 * followed exactly.
 *
 * Matching. Exchanges are consumed in script order. A run of consecutive exchanges marked
 * `unordered` may be consumed in any order among themselves (parallel part uploads); the
 * exchange after the run waits until the whole run is consumed. A request is taken by the first
 * candidate whose method, target, required headers and body all match. A request that matches
 * no candidate consumes nothing, is recorded as a failure naming the difference, and is answered
 * 599 "Script Mismatch" with that text as its body (the connection stays usable).
 *
 * Wire. One thread per connection, so several clients may talk at once; keep-alive is the
 * HTTP/1.1 default ("Connection: close" from either side ends it). Request bodies come with
 * Content-Length or Transfer-Encoding: chunked (trailers are recorded as headers); a request
 * with "Expect: 100-continue" gets "HTTP/1.1 100 Continue" before its body is read. Replies get
 * a Content-Length unless they set one or Transfer-Encoding themselves (none for 1xx, 204, 304);
 * a reply to HEAD carries no body.
 *
 * Beware curl: when a *reused* keep-alive connection is closed before any byte of a reply
 * (SCRIPTED_FAULT_CLOSE or _RESET), curl silently sends the request again on a new connection.
 * Make a faulted exchange the first request on its connection, or script the retry too.
 *
 * Ownership. scripted_http_start() copies the exchange array; the strings and bodies it points to
 * are borrowed until scripted_http_free(). Recorded requests belong to the server and stay valid
 * until scripted_http_free(). A start that cannot listen returns NULL after printing why.
 */
#ifndef HFSYNC_TEST_SCRIPTED_HTTP_H
#define HFSYNC_TEST_SCRIPTED_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define SCRIPTED_MAX_HEADERS 12
#define SCRIPTED_NONE ((size_t)-1)

/* As a required header's value: the header must not be sent at all. */
extern const char scripted_absent[];
#define SCRIPTED_ABSENT scripted_absent

typedef struct ScriptedHeader {
    const char *name; /* NULL ends a fixed-size list */
    const char *value;
} ScriptedHeader;

typedef enum ScriptedTarget {
    SCRIPTED_TARGET_EXACT = 0, /* path and query byte for byte */
    SCRIPTED_TARGET_PREFIX,    /* the request target starts with `target` */
} ScriptedTarget;

typedef enum ScriptedBody {
    SCRIPTED_BODY_ANY = 0, /* not checked */
    SCRIPTED_BODY_EXACT,   /* the bytes of `body` (body_size, or strlen(body) when 0) */
    SCRIPTED_BODY_SIZE,    /* only its length: body_size */
} ScriptedBody;

typedef enum ScriptedFault {
    SCRIPTED_FAULT_NONE = 0,
    SCRIPTED_FAULT_CLOSE,      /* close the connection without replying (curl: error 52) */
    SCRIPTED_FAULT_RESET,      /* abort the connection with a TCP reset (curl: error 56) */
    SCRIPTED_FAULT_SHORT_BODY, /* full headers, half the (non-empty) body, close (curl: 18) */
} ScriptedFault;

typedef struct ScriptedReply {
    int status;
    const char *reason; /* NULL: the usual phrase for the status */
    ScriptedHeader headers[SCRIPTED_MAX_HEADERS];
    const void *body;
    size_t body_size; /* 0 with a body: strlen(body) */
    ScriptedFault fault;
    unsigned delay_ms; /* wait before replying (or before the fault) */
} ScriptedReply;

typedef struct ScriptedHttp ScriptedHttp;

typedef struct ScriptedRequest {
    char *method;
    char *target;            /* path and query as received */
    ScriptedHeader *headers; /* as received, in order, names as sent, values trimmed */
    size_t header_count;
    char *head;          /* request line and header lines, CRLFs included */
    unsigned char *body; /* NUL-terminated for convenience */
    size_t body_size;
    bool chunked;      /* the body came with Transfer-Encoding: chunked */
    bool continued;    /* the server sent 100 Continue */
    size_t connection; /* 0, 1, ... in accept order */
    size_t exchange;   /* index of the exchange it took, SCRIPTED_NONE if unexpected */
} ScriptedRequest;

/* Builds a reply at request time. `reply` starts as the exchange's static reply. Handlers run one
   at a time (never concurrently), on a server thread. Memory for the reply: see
   scripted_http_printf() and scripted_http_alloc(), or anything that outlives the server. */
typedef void (*ScriptedHandler)(ScriptedHttp *srv, const ScriptedRequest *req, ScriptedReply *reply,
                                void *ctx);

typedef struct ScriptedExchange {
    const char *method; /* NULL: any */
    const char *target; /* NULL: any */
    ScriptedTarget target_match;
    /* Required request headers (name case-insensitive): value NULL means present with any value,
       SCRIPTED_ABSENT means not sent, anything else must equal one received value exactly. */
    ScriptedHeader headers[SCRIPTED_MAX_HEADERS];
    const void *body;
    size_t body_size;
    ScriptedBody body_check;
    bool unordered;
    ScriptedReply reply;
    ScriptedHandler handler; /* non-NULL: called to build the reply */
    void *handler_ctx;
} ScriptedExchange;

ScriptedHttp *scripted_http_start(const ScriptedExchange *ex, size_t count);

/* "http://127.0.0.1:PORT", no final slash; valid until scripted_http_free(). */
const char *scripted_http_url(const ScriptedHttp *srv);

/* Stop serving (closing every connection) and judge: true when every exchange was consumed and
   nothing went wrong. Otherwise *failure_msg (if not NULL; caller frees) gets one line per
   problem: unexpected or mismatched requests, malformed requests, exchanges never requested.
   Calling it again returns the same verdict. */
bool scripted_http_finish(ScriptedHttp *srv, char **failure_msg);

/* Recorded requests, in arrival order; may be read before finish. NULL when out of range. */
size_t scripted_http_request_count(ScriptedHttp *srv);
const ScriptedRequest *scripted_http_request(ScriptedHttp *srv, size_t i);
/* First value of a header (name case-insensitive), NULL when absent. */
const char *scripted_request_header(const ScriptedRequest *req, const char *name);

size_t scripted_http_connection_count(ScriptedHttp *srv);

/* Finishes if needed and frees everything. NULL is fine. */
void scripted_http_free(ScriptedHttp *srv);

/* Memory owned by the server until scripted_http_free(), for handler replies. */
const char *scripted_http_printf(ScriptedHttp *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void *scripted_http_alloc(ScriptedHttp *srv, size_t size);

#endif
