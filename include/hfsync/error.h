/*
 * Error: what went wrong, carried up the call chain.
 *
 * Every fallible function returns bool (or a pointer, NULL on failure) and takes `Error *err` last.
 * An Error is fixed-size and never allocates, so it can be filled anywhere, including inside
 * library callbacks. Callers add context on the way up with error_prefix(), so the final message
 * reads like "backup 20261121-101500F: volume 3: write '/x/y': No space left on device".
 */
#ifndef HFSYNC_ERROR_H
#define HFSYNC_ERROR_H

#include <stdbool.h>

typedef enum ErrorCode {
    ERR_NONE = 0,
    ERR_FAIL,      /* generic failure */
    ERR_USAGE,     /* bad flag, bad configuration value */
    ERR_IO,        /* local I/O, errno set */
    ERR_NOT_FOUND, /* object or file does not exist */
    ERR_CORRUPT,   /* data does not match its recorded size or hash, or cannot be decoded */
    ERR_UNSAFE,    /* hostile archive or manifest entry refused */
    ERR_NET,       /* network or server error */
    ERR_NO_MEMORY,
    ERR_CONFLICT, /* another writer changed an object since it was read */
    ERR_BUSY,     /* refused for safety: another writer holds the target, the local lock is held, or
                     backups are disabled after a failed restore */
} ErrorCode;

#define ERROR_MSG_SIZE 1024

typedef struct Error {
    ErrorCode code;
    int sys_errno;   /* errno when code is ERR_IO, else 0 */
    int http_status; /* HTTP status when the error came from a server, else 0 */
    bool retryable;
    char msg[ERROR_MSG_SIZE];
} Error;

/* Set the error (overwrites). Returns false so callers can `return error_set(...)`. */
bool error_set(Error *err, ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set an ERR_IO error from errno: "<message>: <strerror(errno)>". Returns false. */
bool error_sys(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepend context: "<context>: <old message>". Code and flags are kept. Returns false. */
bool error_prefix(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a hint sentence: "<message>\nhint: <hint>". Returns false. */
bool error_hint(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void error_clear(Error *err);

#endif
