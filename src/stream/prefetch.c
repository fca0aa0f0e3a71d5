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

typedef struct PrefetchReader {
    Reader base;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t **bufs;
    size_t *lens;
    size_t nbufs, bufsize;
    size_t head, filled; /* ring: `filled` buffers ready from `head` on */
    size_t pos;          /* consumer's position in bufs[head] */
    bool eof, failed, stop;
    Error err; /* the inner chain's error, delivered to the consumer */
} PrefetchReader;

static void *prefetch_main(void *arg)
{
    PrefetchReader *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->filled == p->nbufs && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        size_t slot = (p->head + p->filled) % p->nbufs;
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        /* The slot is invisible to the consumer until `filled` counts it. */
        Error err = {0};
        ssize_t n = reader_read_full(p->base.next, p->bufs[slot], p->bufsize, &err);
        pthread_mutex_lock(&p->mu);
        if (n < 0) {
            p->err = err;
            p->failed = true;
        } else if (n == 0) {
            p->eof = true;
        } else {
            p->lens[slot] = (size_t)n;
            p->filled++;
        }
        bool done = n <= 0;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (done)
            return NULL;
    }
}

static ssize_t prefetch_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    PrefetchReader *p = (PrefetchReader *)reader;
    pthread_mutex_lock(&p->mu);
    while (p->filled == 0 && !p->eof && !p->failed)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->filled == 0) {
        bool failed = p->failed;
        if (failed)
            *err = p->err;
        pthread_mutex_unlock(&p->mu);
        return failed ? -1 : 0;
    }
    size_t head = p->head;
    pthread_mutex_unlock(&p->mu);

    size_t n = p->lens[head] - p->pos;
    if (n > cap)
        n = cap;
    memcpy(buf, p->bufs[head] + p->pos, n);
    p->pos += n;
    if (p->pos == p->lens[head]) {
        pthread_mutex_lock(&p->mu);
        p->head = (p->head + 1) % p->nbufs;
        p->filled--;
        p->pos = 0;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return (ssize_t)n;
}

static void prefetch_free(Reader *reader)
{
    PrefetchReader *p = (PrefetchReader *)reader;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->nbufs; i++)
        free(p->bufs[i]);
    free(p->bufs);
    free(p->lens);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static const ReaderOps prefetch_ops = {prefetch_read, prefetch_free};

Reader *prefetch_reader_new(Reader *next, size_t size, size_t count, Error *err)
{
    PrefetchReader *p = x_calloc(1, sizeof(*p));
    p->base.ops = &prefetch_ops;
    p->base.next = next;
    p->nbufs = count < 2 ? 2 : count;
    p->bufsize = size;
    p->bufs = x_calloc(p->nbufs, sizeof(uint8_t *));
    p->lens = x_calloc(p->nbufs, sizeof(size_t));
    for (size_t i = 0; i < p->nbufs; i++)
        p->bufs[i] = x_malloc(size);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, prefetch_main, p) != 0) {
        for (size_t i = 0; i < p->nbufs; i++)
            free(p->bufs[i]);
        free(p->bufs);
        free(p->lens);
        free(p);
        error_set(err, ERR_FAIL, "cannot start a reader thread");
        return NULL;
    }
    return &p->base;
}
