#include "hfsync/error.h"

/* Messages are bounded on purpose: a long message is cut, never overflowed. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool error_set(Error *err, ErrorCode code, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    err->code = code;
    err->sys_errno = 0;
    err->http_status = 0;
    err->retryable = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return false;
}

bool error_sys(Error *err, const char *fmt, ...)
{
    int saved = errno;
    if (err == NULL)
        return false;
    char head[ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    err->code = ERR_IO;
    err->sys_errno = saved;
    err->http_status = 0;
    err->retryable = false;
    snprintf(err->msg, sizeof(err->msg), "%s: %s", head, strerror(saved));
    errno = saved;
    return false;
}

bool error_prefix(Error *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    char head[ERROR_MSG_SIZE];
    char old[ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", head, old);
    return false;
}

bool error_hint(Error *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    char hint[ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hint, sizeof(hint), fmt, ap);
    va_end(ap);
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof(err->msg) - len, "\nhint: %s", hint);
    return false;
}

void error_clear(Error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
}
