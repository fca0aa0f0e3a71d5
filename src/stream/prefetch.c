/*
 * Prefetch: runs a reader chain on its own thread, a few buffers ahead of the consumer, so
 * that (for restore) download, sha256 and zstd decompression overlap with tar parsing, content
 * hashing and writing files. Memory is fixed: `count` buffers of `size` bytes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/stream.h"
#include "hfsync/util.h"
#include "ring.h"

typedef struct PrefetchReader {
    Reader base;
    Ring r;
    size_t head, filled; /* ring: `filled` buffers ready from `head` on */
    size_t pos;          /* consumer's position in bufs[head] */
    bool eof, failed, stop;
    Error err; /* the inner chain's error, delivered to the consumer */
} PrefetchReader;

static void *prefetch_main(void *arg)
{
    PrefetchReader *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->r.mu);
        while (p->filled == p->r.nbufs && !p->stop)
            pthread_cond_wait(&p->r.cv, &p->r.mu);
        size_t slot = (p->head + p->filled) % p->r.nbufs;
        bool stop = p->stop;
        pthread_mutex_unlock(&p->r.mu);
        if (stop)
            return NULL;
        /* The slot is invisible to the consumer until `filled` counts it. */
        Error err = {0};
        ssize_t n = reader_read_full(p->base.next, p->r.bufs[slot], p->r.bufsize, &err);
        pthread_mutex_lock(&p->r.mu);
        if (n < 0) {
            p->err = err;
            p->failed = true;
        } else if (n == 0) {
            p->eof = true;
        } else {
            p->r.lens[slot] = (size_t)n;
            p->filled++;
        }
        bool done = n <= 0;
        pthread_cond_broadcast(&p->r.cv);
        pthread_mutex_unlock(&p->r.mu);
        if (done)
            return NULL;
    }
}

static ssize_t prefetch_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    PrefetchReader *p = (PrefetchReader *)reader;
    pthread_mutex_lock(&p->r.mu);
    while (p->filled == 0 && !p->eof && !p->failed)
        pthread_cond_wait(&p->r.cv, &p->r.mu);
    if (p->filled == 0) {
        bool failed = p->failed;
        if (failed)
            *err = p->err;
        pthread_mutex_unlock(&p->r.mu);
        return failed ? -1 : 0;
    }
    size_t head = p->head;
    pthread_mutex_unlock(&p->r.mu);

    size_t n = p->r.lens[head] - p->pos;
    if (n > cap)
        n = cap;
    memcpy(buf, p->r.bufs[head] + p->pos, n);
    p->pos += n;
    if (p->pos == p->r.lens[head]) {
        pthread_mutex_lock(&p->r.mu);
        p->head = (p->head + 1) % p->r.nbufs;
        p->filled--;
        p->pos = 0;
        pthread_cond_broadcast(&p->r.cv);
        pthread_mutex_unlock(&p->r.mu);
    }
    return (ssize_t)n;
}

static void prefetch_free(Reader *reader)
{
    PrefetchReader *p = (PrefetchReader *)reader;
    pthread_mutex_lock(&p->r.mu);
    p->stop = true;
    pthread_cond_broadcast(&p->r.cv);
    pthread_mutex_unlock(&p->r.mu);
    ring_stop(&p->r);
    free(p);
}

static const ReaderOps prefetch_ops = {prefetch_read, prefetch_free};

Reader *prefetch_reader_new(Reader *next, size_t size, size_t count, Error *err)
{
    PrefetchReader *p = x_calloc(1, sizeof(*p));
    p->base.ops = &prefetch_ops;
    p->base.next = next;
    if (!ring_start(&p->r, size, count, prefetch_main, p, err)) {
        free(p);
        return NULL;
    }
    return &p->base;
}
