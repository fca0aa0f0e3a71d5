/* The lease keeper thread (agent.intern.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.intern.h"
#include "hfsync/chain.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define KEEPER_STOP_WAIT_SEC 5

struct LeaseKeeper {
    /* Set before the thread starts, then the thread's alone. */
    Storage *st;
    Lease mine;
    int64_t ttl_sec;
    int settle_ms;
    bool held;         /* the last round left the lease ours */
    bool need_pointer; /* newly taken, pointer not read yet */
    char *url;

    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    bool stop;
    bool finished;
    bool settling; /* the first attempt found no other live holder and waits to confirm */
    KeeperView view;
};

static int64_t keeper_now(void)
{
    return time_now_ns() / 1000000000;
}

static void keeper_publish(LeaseKeeper *k, KeeperState state, const Lease *holder,
                           const char *error, const char *pointer)
{
    KeeperState before;
    char text[400];
    pthread_mutex_lock(&k->mu);
    before = k->view.state;
    k->view.state = state;
    if (holder != NULL)
        k->view.holder = *holder;
    snprintf(k->view.error, sizeof(k->view.error), "%s", error != NULL ? error : "");
    if (pointer != NULL) {
        snprintf(k->view.pointer, sizeof(k->view.pointer), "%s", pointer);
        k->view.acquisitions++;
    }
    pthread_cond_broadcast(&k->cv); /* keeper_confirm waits for the first state */
    pthread_mutex_unlock(&k->mu);
    if (state == before && pointer == NULL)
        return;
    if (state == KEEPER_HELD && pointer != NULL) {
        char until[32];
        time_iso8601(k->mine.expires, until);
        log_msg(strcmp(k->mine.mode, "backup") == 0 ? LOG_DEBUG : LOG_INFO,
                "lease: took the writer lease of %s (until %s, renewed every %llds)", k->url, until,
                (long long)(k->ttl_sec / 3 > 0 ? k->ttl_sec / 3 : 1));
    } else if (state == KEEPER_FOREIGN && before == KEEPER_HELD) {
        /* Not merely held elsewhere (the caller says so): taken from us. */
        lease_describe(holder, text, sizeof(text));
        log_warn("lease: lost the writer lease of %s to %s", k->url, text);
    } else if (state == KEEPER_ERROR && before != KEEPER_ERROR) {
        log_warn("lease: %s", error);
    }
}

/* The settle wait of a new lease (LeaseOpts.settle): announced to keeper_confirm, cut short by
 * keeper_stop (a backup that skips does not wait for it). */
static bool keeper_settle(void *ctx, int ms)
{
    LeaseKeeper *k = ctx;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&k->mu);
    k->settling = true;
    pthread_cond_broadcast(&k->cv);
    while (!k->stop && pthread_cond_timedwait(&k->cv, &k->mu, &until) != ETIMEDOUT) {
    }
    bool stopped = k->stop;
    pthread_mutex_unlock(&k->mu);
    return !stopped;
}

static bool keeper_stopping(LeaseKeeper *k)
{
    pthread_mutex_lock(&k->mu);
    bool stop = k->stop;
    pthread_mutex_unlock(&k->mu);
    return stop;
}

/* One attempt to take or renew. */
static void keeper_round(LeaseKeeper *k)
{
    int64_t now = keeper_now();
    LeaseOpts o = {.now = now,
                   .ttl_sec = k->ttl_sec,
                   .settle_ms = k->settle_ms,
                   .held = k->held,
                   .settle = keeper_settle,
                   .settle_ctx = k};
    Lease holder;
    bool won = false;
    Error err = {0};
    if (!lease_take(k->st, &k->mine, &o, &won, &holder, &err)) {
        if (keeper_stopping(k)) /* cut short by keeper_stop: nothing to report */
            return;
        /* Ours for a while yet: keep going on the lease already written. */
        if (k->held && !k->need_pointer && k->mine.expires - now > k->ttl_sec / 3) {
            log_warn("lease: cannot renew it yet (%s); it holds until %llds from now", err.msg,
                     (long long)(k->mine.expires - now));
            return;
        }
        k->held = false;
        error_prefix(&err, "cannot take the writer lease of %s", k->url);
        keeper_publish(k, KEEPER_ERROR, NULL, err.msg, NULL);
        return;
    }
    if (!won) {
        k->held = false;
        keeper_publish(k, KEEPER_FOREIGN, &holder, NULL, NULL);
        return;
    }
    if (!k->held)
        k->need_pointer = true;
    k->held = true;
    if (!k->need_pointer) {
        keeper_publish(k, KEEPER_HELD, NULL, NULL, NULL);
        return;
    }
    /* What the target's latest backup is at the moment this agent became its writer. */
    char *pointer = NULL;
    if (!pointer_read(k->st, &pointer, &err)) {
        keeper_publish(k, KEEPER_ERROR, NULL, err.msg, NULL);
        return;
    }
    k->need_pointer = false;
    keeper_publish(k, KEEPER_HELD, NULL, NULL, pointer != NULL ? pointer : "");
    free(pointer);
}

static void *keeper_main(void *arg)
{
    LeaseKeeper *k = arg;
    int64_t period = k->ttl_sec / 3 > 0 ? k->ttl_sec / 3 : 1;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        pthread_mutex_unlock(&k->mu);
        keeper_round(k);
        pthread_mutex_lock(&k->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += k->need_pointer ? 1 : period;
        while (!k->stop && pthread_cond_timedwait(&k->cv, &k->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&k->mu);
    if (k->held) {
        Error err = {0};
        if (!lease_release(k->st, &k->mine, &err))
            log_warn("lease: cannot release it: %s; it expires by itself", err.msg);
        else
            log_debug("lease: released");
    }
    pthread_mutex_lock(&k->mu);
    k->finished = true;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static void keeper_free(LeaseKeeper *k)
{
    storage_free(k->st);
    free(k->url);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
}

/* The first attempt's outcome as a sync start reports it. */
static bool keeper_state_ok(const LeaseKeeper *k, const KeeperView *v, Error *err)
{
    if (v->state == KEEPER_FOREIGN) {
        char text[400];
        lease_describe(&v->holder, text, sizeof(text));
        error_set(err, ERR_BUSY, "another writer holds %s: %s", k->url, text);
        return error_hint(err, "one hfsync writes to a target at a time; wait for it to finish, "
                               "or stop it (its lease expires HFSYNC_LEASE_TTL after its last "
                               "renewal)");
    }
    if (v->state != KEEPER_HELD)
        return error_set(err, ERR_NET, "%s",
                         v->error[0] ? v->error : "the writer lease could not be taken");
    return true;
}

bool keeper_confirm(LeaseKeeper *k, bool held, Error *err)
{
    pthread_mutex_lock(&k->mu);
    while (k->view.state == KEEPER_PENDING && !(k->settling && !held) && k->threaded &&
           !k->finished)
        pthread_cond_wait(&k->cv, &k->mu);
    KeeperView v = k->view;
    pthread_mutex_unlock(&k->mu);
    if (v.state == KEEPER_PENDING && !held)
        return true; /* no other live holder was found: that is all a backup that skips needs */
    return keeper_state_ok(k, &v, err);
}

LeaseKeeper *keeper_start(const Config *cfg, const Lease *lease, bool sync, Error *err)
{
    LeaseKeeper *k = x_calloc(1, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits immune to wall-clock jumps */
    pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    k->mine = *lease;
    k->url = x_strdup(cfg->target.url != NULL ? cfg->target.url : "");
    k->ttl_sec = cfg->lease_ttl_sec;
    /* Long enough for a racing writer's write to land, short next to the TTL. */
    int64_t settle = cfg->lease_ttl_sec * 100;
    k->settle_ms = (int)(settle < 200 ? 200 : settle > 2000 ? 2000 : settle);
    if (!lease_supported(&cfg->target)) {
        k->view.state = KEEPER_HELD;
        return k;
    }
    k->st = storage_open(cfg, &cfg->target, err);
    if (k->st == NULL) {
        keeper_free(k);
        return NULL;
    }
    if (sync) {
        keeper_round(k);
        if (!keeper_state_ok(k, &k->view, err)) {
            keeper_free(k);
            return NULL;
        }
    }
    if (pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
        error_set(err, ERR_FAIL, "cannot start the lease thread");
        if (k->held) {
            Error e = {0};
            lease_release(k->st, &k->mine, &e);
        }
        keeper_free(k);
        return NULL;
    }
    k->threaded = true;
    return k;
}

void keeper_view(LeaseKeeper *k, KeeperView *out)
{
    pthread_mutex_lock(&k->mu);
    *out = k->view;
    pthread_mutex_unlock(&k->mu);
}

void keeper_stop(LeaseKeeper *k)
{
    if (k == NULL)
        return;
    if (!k->threaded) {
        keeper_free(k);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += KEEPER_STOP_WAIT_SEC + k->settle_ms / 1000 + 1;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_broadcast(&k->cv);
    while (!k->finished && pthread_cond_timedwait(&k->cv, &k->mu, &until) != ETIMEDOUT) {
    }
    bool finished = k->finished;
    pthread_mutex_unlock(&k->mu);
    if (!finished) {
        /* The storage is stuck; the process is about to end and the lease expires by itself. */
        log_warn("lease: not released within %ds; it expires by itself", KEEPER_STOP_WAIT_SEC);
        pthread_detach(k->thread);
        return;
    }
    pthread_join(k->thread, NULL);
    keeper_free(k);
}
