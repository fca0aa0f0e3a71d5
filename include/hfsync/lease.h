/*
 * The writer lease (DESIGN.md §7, docs/FORMAT.md §9): one object at the target root,
 * `hfsync-lease.json`, naming the one hfsync that may write backups to the target, and until when.
 *
 *   {"owner": "6f1c…", "host": "r-alice-space-5d8f", "pid": 1, "mode": "entrypoint",
 *    "acquired_at_utc": "…", "renewed_at_utc": "…", "expires_at_utc": "…",
 *    "expires": 1763719000, "tool": "hfsync 0.1.0"}
 *
 * The storage interface has no conditional write, so a lease is taken by write-then-confirm: a
 * writer that finds no live lease of another owner writes its own, waits `settle_ms`, and reads
 * it back; of writers that raced, only the one whose lease is still there goes on. Two could
 * both win only if one of them took longer than `settle_ms` between its read and its write.
 * Expiry is wall-clock time: the clocks of holder and readers must agree to well within the TTL.
 * A lease object that cannot be parsed counts as expired (and is overwritten).
 *
 * Targets where the lease is not used (hf://: the Hub's commit parent check does that job) are
 * reported by lease_supported(); callers then behave as if they held it.
 */
#ifndef HFSYNC_LEASE_H
#define HFSYNC_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/config.h"
#include "hfsync/error.h"
#include "hfsync/storage.h"

#define LEASE_PATH "hfsync-lease.json"
#define LEASE_OWNER_SIZE 33 /* 32 hex digits + NUL */

typedef struct Lease {
    char owner[LEASE_OWNER_SIZE]; /* random token of the holder; "" when unreadable */
    char host[128];
    char mode[16]; /* "entrypoint", "daemon", "backup" or "prune" */
    long pid;
    char pid_ns[96];  /* "<kernel boot id>/<pid namespace>": where `pid` means this process */
    int64_t acquired; /* epoch seconds */
    int64_t expires;  /* epoch seconds */
} Lease;

bool lease_supported(const Target *target);

/* A new lease of this process: a fresh random owner token, this host and pid, `mode`. */
void lease_init(Lease *l, const char *mode);

/* Read the target's lease: *found is false when there is none. */
bool lease_read(Storage *st, Lease *out, bool *found, Error *err);

/* Whether `l` is still in force at `now` (epoch seconds). */
bool lease_live(const Lease *l, int64_t now);
/* Whether the holder of `l` is provably gone: a process of this very kernel and pid namespace
 * (a writer killed here) that no longer exists. Its lease need not be waited out. */
bool lease_holder_gone(const Lease *l);

typedef struct LeaseOpts {
    int64_t now;     /* epoch seconds */
    int64_t ttl_sec; /* the lease is written to expire at now + ttl_sec */
    int settle_ms;   /* wait before confirming a newly taken lease */
    /* The settle wait (NULL: sleep settle_ms). Called when no live lease of another owner was
     * found and ours is written: from then on only a racing writer can take it. Returning false
     * (the caller is stopping) removes the lease just written and fails with ERR_FAIL. */
    bool (*settle)(void *ctx, int ms);
    void *settle_ctx;
    bool held; /* the caller holds it already (a renewal) */
} LeaseOpts;

/*
 * Take or renew `mine`. Returns false on a storage error. Otherwise *won says whether the lease
 * is now ours (mine->expires is updated); when it is not, `holder` is the live lease of another
 * owner that stands in the way.
 */
bool lease_take(Storage *st, Lease *mine, const LeaseOpts *opts, bool *won, Lease *holder,
                Error *err);

/* Delete the lease if it is still `mine`'s. */
bool lease_release(Storage *st, const Lease *mine, Error *err);

/* "hfsync entrypoint on host 'h' (pid 12), lease until 2026-11-21T10:15:00+00:00" */
void lease_describe(const Lease *l, char *out, size_t cap);
/* The same without the expiry: "hfsync entrypoint on host 'h' (pid 12)" */
void lease_holder(const Lease *l, char *out, size_t cap);

/* The JSON object of a lease (for the status file). Caller frees with free(). */
char *lease_to_json(const Lease *l);

#endif
