#include "ring.h"

#include <stdlib.h>

#include "hfsync/util.h"

static void ring_release(Ring *r)
{
    for (size_t i = 0; i < r->nbufs; i++)
        free(r->bufs[i]);
    free(r->bufs);
    free(r->lens);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

bool ring_start(Ring *r, size_t size, size_t count, void *(*fn)(void *), void *arg, Error *err)
{
    r->nbufs = count < 2 ? 2 : count;
    r->bufsize = size;
    r->bufs = x_calloc(r->nbufs, sizeof(uint8_t *));
    r->lens = x_calloc(r->nbufs, sizeof(size_t));
    for (size_t i = 0; i < r->nbufs; i++)
        r->bufs[i] = x_malloc(size);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, fn, arg) != 0) {
        ring_release(r);
        return error_set(err, ERR_FAIL, "cannot start a pipeline thread");
    }
    return true;
}

void ring_stop(Ring *r)
{
    pthread_join(r->thread, NULL);
    ring_release(r);
}
