/*
 * Ring: the fixed buffers, lock and worker thread shared by the two thread stages (prefetch.c,
 * async.c). Each stage keeps its own head/count bookkeeping under `mu`; this only owns memory and
 * the thread's life.
 */
#ifndef HFSYNC_STREAM_RING_H
#define HFSYNC_STREAM_RING_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/error.h"

typedef struct Ring {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t **bufs;
    size_t *lens;
    size_t nbufs, bufsize;
} Ring;

/* Allocate `count` (at least 2) buffers of `size` bytes and start `fn(arg)`. */
bool ring_start(Ring *r, size_t size, size_t count, void *(*fn)(void *), void *arg, Error *err);
/* Join the thread (the caller has told it to stop) and free everything. */
void ring_stop(Ring *r);

#endif
