/* Stages over file descriptors: a reader, and a sink that keeps a copy of what passes. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "hfsync/stream.h"
#include "hfsync/util.h"

typedef struct FdReader {
    Reader base;
    int fd;
} FdReader;

static ssize_t fd_reader_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    for (;;) {
        ssize_t n = read(((FdReader *)reader)->fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR) {
            error_sys(err, "read");
            return -1;
        }
    }
}

static void fd_reader_free(Reader *reader)
{
    free(reader);
}

static const ReaderOps fd_reader_ops = {fd_reader_read, fd_reader_free};

Reader *fd_reader_new(int fd)
{
    FdReader *f = x_calloc(1, sizeof(*f));
    f->base.ops = &fd_reader_ops;
    f->fd = fd;
    return &f->base;
}

typedef struct TeeSink {
    Sink base;
    int fd;
    int copy_errno; /* 0 while the copy is whole */
} TeeSink;

static bool tee_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    TeeSink *t = (TeeSink *)sink;
    if (t->copy_errno == 0 && !fs_write_all(t->fd, data, size))
        t->copy_errno = errno ? errno : EIO;
    return sink_write(sink->next, data, size, err);
}

static bool tee_sink_finish(Sink *sink, Error *err)
{
    return sink_finish(sink->next, err);
}

static void tee_sink_free(Sink *sink)
{
    free(sink);
}

static const SinkOps tee_sink_ops = {tee_sink_write, tee_sink_finish, tee_sink_free};

Sink *tee_sink_new(Sink *next, int fd)
{
    TeeSink *t = x_calloc(1, sizeof(*t));
    t->base.ops = &tee_sink_ops;
    t->base.next = next;
    t->fd = fd;
    return &t->base;
}

bool tee_sink_copy_ok(Sink *sink)
{
    TeeSink *t = (TeeSink *)sink;
    errno = t->copy_errno;
    return t->copy_errno == 0;
}
