/*
 * The byte pipeline (DESIGN.md §4): small stages with one contract each.
 *
 * Sink — a push stage. Bytes go in with sink_write(); sink_finish() flushes everything the stage
 * holds into its `next` sink and finishes that one too, so finishing the head of a chain finishes
 * the chain. sink_free() frees only that stage (never `next`); freeing without finishing is an
 * abort (partial output is discarded by the storage sink).
 *
 * Reader — a pull stage. reader_read() fills up to `cap` bytes and returns how many, 0 at the end,
 * -1 on error (err set). A stage pulls from its `next` reader.
 *
 * Stages allocate their buffers when created and never grow them with the data. Observers (hash,
 * count) see the bytes as they pass without copying them. No stage knows about tar, HTTP or storage
 * except the adapters that say so (storage_sink / storage_reader in storage.h, tar.h).
 */
#ifndef HFSYNC_STREAM_H
#define HFSYNC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hfsync/error.h"
#include "hfsync/hash.h"

typedef struct Sink Sink;
typedef struct SinkOps {
    bool (*write)(Sink *sink, const uint8_t *data, size_t size, Error *err);
    bool (*finish)(Sink *sink, Error *err);
    void (*free)(Sink *sink);
} SinkOps;
struct Sink {
    const SinkOps *ops;
    Sink *next;
};

bool sink_write(Sink *sink, const void *data, size_t size, Error *err);
bool sink_finish(Sink *sink, Error *err);
void sink_free(Sink *sink);

typedef struct Reader Reader;
typedef struct ReaderOps {
    ssize_t (*read)(Reader *reader, uint8_t *buf, size_t cap, Error *err);
    void (*free)(Reader *reader);
} ReaderOps;
struct Reader {
    const ReaderOps *ops;
    Reader *next;
};

ssize_t reader_read(Reader *reader, void *buf, size_t cap, Error *err);
/* Read until `cap` bytes or the end; returns the count, -1 on error. */
ssize_t reader_read_full(Reader *reader, void *buf, size_t cap, Error *err);
void reader_free(Reader *reader);

/* --- zstd --------------------------------------------------------------------------------- */

/* Compressing sink. `threads` > 1 uses zstd worker threads. The compression context is created
 * once and reused: zstd_sink_restart() begins a new independent stream into another `next`. */
Sink *zstd_sink_new(Sink *next, int level, int threads, Error *err);
void zstd_sink_restart(Sink *sink, Sink *next);
/* Compressed bytes produced so far in the current stream (lags input with worker threads). */
uint64_t zstd_sink_produced(Sink *sink);
/* Input compressed at level 3 rather than the sink's own because it looked incompressible
 * (with worker threads and a level above 3; zstd.c), since zstd_sink_new. */
uint64_t zstd_sink_fast_input(Sink *sink);

/* Decompressing reader over compressed bytes from `next`. Accepts concatenated frames; a
 * truncated stream is an ERR_CORRUPT error. */
Reader *zstd_reader_new(Reader *next, Error *err);

/* Runs `next` (and everything it pulls from) on a thread of its own, up to `count` buffers of
 * `size` bytes ahead. `next` must not be used by anyone else until this reader is freed; freeing
 * stops and joins the thread (so results of stages below are safe to read afterwards). */
Reader *prefetch_reader_new(Reader *next, size_t size, size_t count, Error *err);

/* Hands bytes to `next` on a thread of its own through `count` buffers of `size` bytes.
 * sink_finish() drains the queue, then finishes `next` on the caller's thread; after a finish
 * (queue empty) the caller may re-point `next`. Freeing abandons anything not yet written. */
Sink *async_sink_new(Sink *next, size_t size, size_t count, Error *err);

/* --- observers ---------------------------------------------------------------------------- */

/* Counts bytes and hashes them as they pass to `next` (next may be NULL: a pure consumer). */
Sink *hash_sink_new(Sink *next, HashKind kind);
/* After sink_finish: the digest and byte count. */
void hash_sink_result(Sink *sink, char hex[HASH_HEX_SIZE], uint64_t *size);
/* Reset counters and digest, and point at a new `next` (for the next volume). */
void hash_sink_restart(Sink *sink, Sink *next);

/* Measures the wall time `next` takes over its writes and finish (with the storage sink as
 * `next`: the time spent uploading), summed over restarts. */
Sink *timer_sink_new(Sink *next);
void timer_sink_restart(Sink *sink, Sink *next);
int64_t timer_sink_elapsed_ns(Sink *sink);

Reader *hash_reader_new(Reader *next, HashKind kind);
/* The digest of everything read so far, and the count. Call once, at the end. */
void hash_reader_result(Reader *reader, char hex[HASH_HEX_SIZE], uint64_t *size);

/* --- memory --------------------------------------------------------------------------------- */

/* Collects everything written into a growing buffer (for small objects and tests only). */
Sink *buffer_sink_new(void);
const uint8_t *buffer_sink_data(Sink *sink, size_t *size);
/* Take the buffer (NUL-terminated, caller frees); the sink is left empty. */
uint8_t *buffer_sink_take(Sink *sink, size_t *size);

/* Reads from memory; `chunk` > 0 limits each read (to test 1-byte and 7-byte edges). */
Reader *buffer_reader_new(const void *data, size_t size, size_t chunk);

/* Writes to a file descriptor (not closed). */
Sink *fd_sink_new(int fd);

/* --- file descriptors (fd.c) -------------------------------------------------------------- */

/* Reads from a file descriptor (not closed) until its end. */
Reader *fd_reader_new(int fd);

/* Passes everything to `next` and writes a copy to `fd` (not closed), best effort: a failed copy
 * stops the copying, never the stream; tee_sink_copy_ok() says whether the copy is whole. */
Sink *tee_sink_new(Sink *next, int fd);
/* False (errno set) when writing the copy failed. */
bool tee_sink_copy_ok(Sink *sink);

#endif
