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

typedef struct AsyncSink {
    Sink base;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t **bufs;
    size_t *lens;
    size_t nbufs, bufsize;
    size_t head, queued; /* ring: `queued` full buffers from `head` on, owned by the thread */
    size_t fill;         /* bytes in the caller's buffer, bufs[(head + queued) % nbufs] */
    bool busy;           /* the thread is writing bufs[head] */
    bool failed, stop;
    Error err;
} AsyncSink;

static void *async_main(void *arg)
{
    AsyncSink *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->queued == 0 && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->queued == 0 && a->stop)
            break;
        size_t slot = a->head;
        a->busy = true;
        bool failed = a->failed;
        pthread_mutex_unlock(&a->mu);
        Error err = {0};
        bool ok = failed || sink_write(a->base.next, a->bufs[slot], a->lens[slot], &err);
        pthread_mutex_lock(&a->mu);
        if (!ok && !a->failed) {
            a->err = err;
            a->failed = true;
        }
        a->head = (a->head + 1) % a->nbufs;
        a->queued--;
        a->busy = false;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Queue the caller's buffer; waits for a free one. False (err set) once the thread failed. */
static bool async_push(AsyncSink *a, Error *err)
{
    pthread_mutex_lock(&a->mu);
    size_t slot = (a->head + a->queued) % a->nbufs;
    a->lens[slot] = a->fill;
    a->queued++;
    pthread_cond_broadcast(&a->cv);
    while (a->queued == a->nbufs && !a->failed) /* the next caller buffer is still queued */
        pthread_cond_wait(&a->cv, &a->mu);
    bool failed = a->failed;
    if (failed)
        *err = a->err;
    pthread_mutex_unlock(&a->mu);
    a->fill = 0;
    return !failed;
}

static bool async_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    AsyncSink *a = (AsyncSink *)sink;
    while (size > 0) {
        pthread_mutex_lock(&a->mu);
        size_t slot = (a->head + a->queued) % a->nbufs;
        bool failed = a->failed;
        if (failed)
            *err = a->err;
        pthread_mutex_unlock(&a->mu);
        if (failed)
            return false;
        size_t n = a->bufsize - a->fill;
        if (n > size)
            n = size;
        memcpy(a->bufs[slot] + a->fill, data, n);
        a->fill += n;
        data += n;
        size -= n;
        if (a->fill == a->bufsize && !async_push(a, err))
            return false;
    }
    return true;
}

static bool async_finish(Sink *sink, Error *err)
{
    AsyncSink *a = (AsyncSink *)sink;
    if (a->fill > 0 && !async_push(a, err))
        return false;
    pthread_mutex_lock(&a->mu);
    while ((a->queued > 0 || a->busy) && !a->failed)
        pthread_cond_wait(&a->cv, &a->mu);
    bool failed = a->failed;
    if (failed)
        *err = a->err;
    pthread_mutex_unlock(&a->mu);
    return !failed && sink_finish(sink->next, err);
}

static void async_free(Sink *sink)
{
    AsyncSink *a = (AsyncSink *)sink;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    a->failed = true; /* unfinished data is abandoned, not written */
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    for (size_t i = 0; i < a->nbufs; i++)
        free(a->bufs[i]);
    free(a->bufs);
    free(a->lens);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

static const SinkOps async_ops = {async_write, async_finish, async_free};

Sink *async_sink_new(Sink *next, size_t size, size_t count, Error *err)
{
    AsyncSink *a = x_calloc(1, sizeof(*a));
    a->base.ops = &async_ops;
    a->base.next = next;
    a->nbufs = count < 2 ? 2 : count;
    a->bufsize = size;
    a->bufs = x_calloc(a->nbufs, sizeof(uint8_t *));
    a->lens = x_calloc(a->nbufs, sizeof(size_t));
    for (size_t i = 0; i < a->nbufs; i++)
        a->bufs[i] = x_malloc(size);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, async_main, a) != 0) {
        for (size_t i = 0; i < a->nbufs; i++)
            free(a->bufs[i]);
        free(a->bufs);
        free(a->lens);
        free(a);
        error_set(err, ERR_FAIL, "cannot start a writer thread");
        return NULL;
    }
    return &a->base;
}
