/*
 * Small helpers shared by every module: allocation, strings, paths, local files, time.
 *
 * Allocation failure is not recoverable in a tool this size: x_malloc and friends print and abort,
 * so callers never check them. Everything returned by x_* and str_* is owned by the caller.
 */
#ifndef HFSYNC_UTIL_H
#define HFSYNC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/error.h"

void *x_malloc(size_t size);
void *x_calloc(size_t count, size_t size);
void *x_realloc(void *ptr, size_t size);
char *x_strdup(const char *s);
char *x_strndup(const char *s, size_t n);

/* printf into a new string. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);

/* Lowercase hex of `len` bytes into `out` (2*len+1 bytes). */
void hex_encode(const uint8_t *bytes, size_t len, char *out);

/* Append `n` bytes to a growing buffer kept NUL-terminated (*data may start NULL with *len and
 * *cap 0); the capacity doubles as needed. */
void buf_append(char **data, size_t *len, size_t *cap, const void *bytes, size_t n);

/* "a" + "/" + "b", without doubling slashes. */
char *path_join(const char *a, const char *b);

/* Create a directory and its parents (mode 0700 for new ones unless `mode` says otherwise). */
bool fs_mkdir_p(const char *path, unsigned mode, Error *err);
/* Remove a file or a whole tree; a missing path is not an error. Never follows symlinks. */
bool fs_remove_tree(const char *path, Error *err);
/* Read a whole small local file (at most `max_size` bytes) into a NUL-terminated buffer. */
bool fs_read_file(const char *path, size_t max_size, char **out, size_t *out_size, Error *err);
/* Write a file atomically: temp file beside it, fsync, rename. */
bool fs_write_atomic(const char *path, const void *data, size_t size, Error *err);
bool fs_exists(const char *path);
/* write(2) until everything is written (retrying EINTR and short writes); false with errno set. */
bool fs_write_all(int fd, const void *data, size_t size);

/* Time */
int64_t time_now_ns(void);       /* wall clock, ns since epoch */
int64_t time_monotonic_ns(void); /* for durations and rates */
/* ISO 8601 UTC with "+00:00" (the original script's form): 2026-11-21T19:24:45+00:00 */
void time_iso8601(int64_t epoch_sec, char out[32]);
/* Compact UTC stamp for names: 20261121-192445 */
void time_stamp(int64_t epoch_sec, char out[20]);
/* Parse "2026-11-21T19:24:45+00:00", "…Z" or "…" (UTC) into epoch seconds. */
bool time_parse_iso8601(const char *text, int64_t *epoch_sec);

/* "1.5 MiB" style, for humans. */
void size_human(uint64_t bytes, char out[32]);

#endif
