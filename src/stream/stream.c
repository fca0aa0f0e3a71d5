/* Generic sink/reader dispatch and the simple stages: hash observers, memory, fd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/stream.h"
#include "hfsync/util.h"

bool sink_write(Sink *sink, const void *data, size_t size, Error *err)
{
    if (size == 0)
        return true;
    return sink->ops->write(sink, data, size, err);
}

bool sink_finish(Sink *sink, Error *err)
{
    return sink->ops->finish(sink, err);
}

void sink_free(Sink *sink)
{
    if (sink != NULL)
        sink->ops->free(sink);
}

ssize_t reader_read(Reader *reader, void *buf, size_t cap, Error *err)
{
    return reader->ops->read(reader, buf, cap, err);
}

ssize_t reader_read_full(Reader *reader, void *buf, size_t cap, Error *err)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = reader_read(reader, (uint8_t *)buf + got, cap - got, err);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

void reader_free(Reader *reader)
{
    if (reader != NULL)
        reader->ops->free(reader);
}

/* --- hash sink ------------------------------------------------------------------------------ */

typedef struct HashSink {
    Sink base;
    Hasher *hasher;
    uint64_t size;
    char hex[HASH_HEX_SIZE];
    bool done;
} HashSink;

static bool hash_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    HashSink *h = (HashSink *)sink;
    hasher_update(h->hasher, data, size);
    h->size += size;
    return sink->next == NULL || sink_write(sink->next, data, size, err);
}

static bool hash_sink_finish(Sink *sink, Error *err)
{
    HashSink *h = (HashSink *)sink;
    if (!h->done) {
        hasher_final_hex(h->hasher, h->hex);
        h->done = true;
    }
    return sink->next == NULL || sink_finish(sink->next, err);
}

static void hash_sink_free(Sink *sink)
{
    HashSink *h = (HashSink *)sink;
    hasher_free(h->hasher);
    free(h);
}

static const SinkOps hash_sink_ops = {hash_sink_write, hash_sink_finish, hash_sink_free};

Sink *hash_sink_new(Sink *next, HashKind kind)
{
    HashSink *h = x_calloc(1, sizeof(*h));
    h->base.ops = &hash_sink_ops;
    h->base.next = next;
    h->hasher = hasher_new(kind);
    return &h->base;
}

void hash_sink_result(Sink *sink, char hex[HASH_HEX_SIZE], uint64_t *size)
{
    HashSink *h = (HashSink *)sink;
    if (!h->done) {
        hasher_final_hex(h->hasher, h->hex);
        h->done = true;
    }
    if (hex != NULL)
        memcpy(hex, h->hex, HASH_HEX_SIZE);
    if (size != NULL)
        *size = h->size;
}

void hash_sink_restart(Sink *sink, Sink *next)
{
    HashSink *h = (HashSink *)sink;
    hasher_reset(h->hasher);
    h->size = 0;
    h->done = false;
    sink->next = next;
}

/* --- timer sink ----------------------------------------------------------------------------- */

typedef struct TimerSink {
    Sink base;
    int64_t elapsed_ns;
} TimerSink;

static bool timer_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    TimerSink *t = (TimerSink *)sink;
    int64_t start = time_monotonic_ns();
    bool ok = sink_write(sink->next, data, size, err);
    t->elapsed_ns += time_monotonic_ns() - start;
    return ok;
}

static bool timer_sink_finish(Sink *sink, Error *err)
{
    TimerSink *t = (TimerSink *)sink;
    int64_t start = time_monotonic_ns();
    bool ok = sink_finish(sink->next, err);
    t->elapsed_ns += time_monotonic_ns() - start;
    return ok;
}

static void timer_sink_free(Sink *sink)
{
    free(sink);
}

static const SinkOps timer_sink_ops = {timer_sink_write, timer_sink_finish, timer_sink_free};

Sink *timer_sink_new(Sink *next)
{
    TimerSink *t = x_calloc(1, sizeof(*t));
    t->base.ops = &timer_sink_ops;
    t->base.next = next;
    return &t->base;
}

void timer_sink_restart(Sink *sink, Sink *next)
{
    sink->next = next;
}

int64_t timer_sink_elapsed_ns(Sink *sink)
{
    return ((TimerSink *)sink)->elapsed_ns;
}

/* --- hash reader ---------------------------------------------------------------------------- */

typedef struct HashReader {
    Reader base;
    Hasher *hasher;
    uint64_t size;
} HashReader;

static ssize_t hash_reader_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    HashReader *h = (HashReader *)reader;
    ssize_t n = reader_read(reader->next, buf, cap, err);
    if (n > 0) {
        hasher_update(h->hasher, buf, (size_t)n);
        h->size += (uint64_t)n;
    }
    return n;
}

static void hash_reader_free(Reader *reader)
{
    HashReader *h = (HashReader *)reader;
    hasher_free(h->hasher);
    free(h);
}

static const ReaderOps hash_reader_ops = {hash_reader_read, hash_reader_free};

Reader *hash_reader_new(Reader *next, HashKind kind)
{
    HashReader *h = x_calloc(1, sizeof(*h));
    h->base.ops = &hash_reader_ops;
    h->base.next = next;
    h->hasher = hasher_new(kind);
    return &h->base;
}

void hash_reader_result(Reader *reader, char hex[HASH_HEX_SIZE], uint64_t *size)
{
    HashReader *h = (HashReader *)reader;
    hasher_final_hex(h->hasher, hex);
    if (size != NULL)
        *size = h->size;
}

/* --- buffer sink ---------------------------------------------------------------------------- */

typedef struct BufferSink {
    Sink base;
    char *data;
    size_t size, cap;
} BufferSink;

static bool buffer_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    (void)err;
    BufferSink *b = (BufferSink *)sink;
    buf_append(&b->data, &b->size, &b->cap, data, size);
    return true;
}

static bool buffer_sink_finish(Sink *sink, Error *err)
{
    (void)sink;
    (void)err;
    return true;
}

static void buffer_sink_free(Sink *sink)
{
    BufferSink *b = (BufferSink *)sink;
    free(b->data);
    free(b);
}

static const SinkOps buffer_sink_ops = {buffer_sink_write, buffer_sink_finish, buffer_sink_free};

Sink *buffer_sink_new(void)
{
    BufferSink *b = x_calloc(1, sizeof(*b));
    b->base.ops = &buffer_sink_ops;
    return &b->base;
}

const uint8_t *buffer_sink_data(Sink *sink, size_t *size)
{
    BufferSink *b = (BufferSink *)sink;
    *size = b->size;
    return b->data ? (const uint8_t *)b->data : (const uint8_t *)"";
}

uint8_t *buffer_sink_take(Sink *sink, size_t *size)
{
    BufferSink *b = (BufferSink *)sink;
    uint8_t *data = b->data ? (uint8_t *)b->data : (uint8_t *)x_calloc(1, 1);
    if (size != NULL)
        *size = b->size;
    b->data = NULL;
    b->size = b->cap = 0;
    return data;
}

/* --- buffer reader -------------------------------------------------------------------------- */

typedef struct BufferReader {
    Reader base;
    const uint8_t *data;
    size_t size, pos, chunk;
} BufferReader;

static ssize_t buffer_reader_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    (void)err;
    BufferReader *b = (BufferReader *)reader;
    size_t n = b->size - b->pos;
    if (n > cap)
        n = cap;
    if (b->chunk > 0 && n > b->chunk)
        n = b->chunk;
    memcpy(buf, b->data + b->pos, n);
    b->pos += n;
    return (ssize_t)n;
}

static void buffer_reader_free(Reader *reader)
{
    free(reader);
}

static const ReaderOps buffer_reader_ops = {buffer_reader_read, buffer_reader_free};

Reader *buffer_reader_new(const void *data, size_t size, size_t chunk)
{
    BufferReader *b = x_calloc(1, sizeof(*b));
    b->base.ops = &buffer_reader_ops;
    b->data = data;
    b->size = size;
    b->chunk = chunk;
    return &b->base;
}

/* --- fd sink -------------------------------------------------------------------------------- */

typedef struct FdSink {
    Sink base;
    int fd;
} FdSink;

static bool fd_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    return fs_write_all(((FdSink *)sink)->fd, data, size) || error_sys(err, "write");
}

static bool fd_sink_finish(Sink *sink, Error *err)
{
    (void)sink;
    (void)err;
    return true;
}

static void fd_sink_free(Sink *sink)
{
    free(sink);
}

static const SinkOps fd_sink_ops = {fd_sink_write, fd_sink_finish, fd_sink_free};

Sink *fd_sink_new(int fd)
{
    FdSink *f = x_calloc(1, sizeof(*f));
    f->base.ops = &fd_sink_ops;
    f->fd = fd;
    return &f->base;
}
