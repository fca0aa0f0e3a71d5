/*
 * Async sink: hands bytes to `next` on a thread of its own, through a fixed ring of buffers, so
 * that (for backup) volume hashing and storage writes overlap with reading, hashing and tarring
 * files on the caller's thread. sink_finish() waits until everything queued has been written,
 * then finishes `next` on the caller's thread; while the queue is empty the caller may re-point
 * `next` (the volume pipeline does, between volumes).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/stream.h"
#include "hfsync/util.h"
#include "ring.h"

typedef struct AsyncSink {
    Sink base;
    Ring r;
    size_t head, queued; /* ring: `queued` full buffers from `head` on, owned by the thread */
    size_t fill;         /* bytes in the caller's buffer, bufs[(head + queued) % nbufs] */
    bool busy;           /* the thread is writing bufs[head] */
    bool failed, stop;
    Error err;
} AsyncSink;

static void *async_main(void *arg)
{
    AsyncSink *a = arg;
    pthread_mutex_lock(&a->r.mu);
    for (;;) {
        while (a->queued == 0 && !a->stop)
            pthread_cond_wait(&a->r.cv, &a->r.mu);
        if (a->queued == 0 && a->stop)
            break;
        size_t slot = a->head;
        a->busy = true;
        bool failed = a->failed;
        pthread_mutex_unlock(&a->r.mu);
        Error err = {0};
        bool ok = failed || sink_write(a->base.next, a->r.bufs[slot], a->r.lens[slot], &err);
        pthread_mutex_lock(&a->r.mu);
        if (!ok && !a->failed) {
            a->err = err;
            a->failed = true;
        }
        a->head = (a->head + 1) % a->r.nbufs;
        a->queued--;
        a->busy = false;
        pthread_cond_broadcast(&a->r.cv);
    }
    pthread_mutex_unlock(&a->r.mu);
    return NULL;
}

/* Queue the caller's buffer; waits for a free one. False (err set) once the thread failed. */
static bool async_push(AsyncSink *a, Error *err)
{
    pthread_mutex_lock(&a->r.mu);
    size_t slot = (a->head + a->queued) % a->r.nbufs;
    a->r.lens[slot] = a->fill;
    a->queued++;
    pthread_cond_broadcast(&a->r.cv);
    while (a->queued == a->r.nbufs && !a->failed) /* the next caller buffer is still queued */
        pthread_cond_wait(&a->r.cv, &a->r.mu);
    bool failed = a->failed;
    if (failed)
        *err = a->err;
    pthread_mutex_unlock(&a->r.mu);
    a->fill = 0;
    return !failed;
}

static bool async_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    AsyncSink *a = (AsyncSink *)sink;
    while (size > 0) {
        pthread_mutex_lock(&a->r.mu);
        size_t slot = (a->head + a->queued) % a->r.nbufs;
        bool failed = a->failed;
        if (failed)
            *err = a->err;
        pthread_mutex_unlock(&a->r.mu);
        if (failed)
            return false;
        size_t n = a->r.bufsize - a->fill;
        if (n > size)
            n = size;
        memcpy(a->r.bufs[slot] + a->fill, data, n);
        a->fill += n;
        data += n;
        size -= n;
        if (a->fill == a->r.bufsize && !async_push(a, err))
            return false;
    }
    return true;
}

static bool async_finish(Sink *sink, Error *err)
{
    AsyncSink *a = (AsyncSink *)sink;
    if (a->fill > 0 && !async_push(a, err))
        return false;
    pthread_mutex_lock(&a->r.mu);
    while ((a->queued > 0 || a->busy) && !a->failed)
        pthread_cond_wait(&a->r.cv, &a->r.mu);
    bool failed = a->failed;
    if (failed)
        *err = a->err;
    pthread_mutex_unlock(&a->r.mu);
    return !failed && sink_finish(sink->next, err);
}

static void async_free(Sink *sink)
{
    AsyncSink *a = (AsyncSink *)sink;
    pthread_mutex_lock(&a->r.mu);
    a->stop = true;
    a->failed = true; /* unfinished data is abandoned, not written */
    pthread_cond_broadcast(&a->r.cv);
    pthread_mutex_unlock(&a->r.mu);
    ring_stop(&a->r);
    free(a);
}

static const SinkOps async_ops = {async_write, async_finish, async_free};

Sink *async_sink_new(Sink *next, size_t size, size_t count, Error *err)
{
    AsyncSink *a = x_calloc(1, sizeof(*a));
    a->base.ops = &async_ops;
    a->base.next = next;
    if (!ring_start(&a->r, size, count, async_main, a, err)) {
        free(a);
        return NULL;
    }
    return &a->base;
}
