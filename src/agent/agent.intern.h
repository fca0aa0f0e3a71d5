/*
 * Agent internals shared between its files: reading one volume of a native backup (restore,
 * verify); the local lock, state markers and flags, and the lease keeper (guard, entrypoint).
 */
#ifndef HFSYNC_AGENT_INTERN_H
#define HFSYNC_AGENT_INTERN_H

#include <stddef.h>

#include "hfsync/agent.h"
#include "hfsync/lease.h"

typedef struct VolumeJob {
    const Config *cfg;
    Storage *st;
    Manifest *manifest;      /* the manifest being restored or verified */
    const BackupMeta *meta;  /* the backup that owns the volume */
    bool own;                /* meta is the manifest's own backup: every member must be listed */
    char *const *dest_roots; /* per manifest source: staging path to extract into; NULL: verify */
    Progress *progress;
    uint64_t files, bytes;
    bool setid_warned;
} VolumeJob;

/*
 * Read volume `number` (1-based) of job->meta: verify its size and sha256, check every member
 * against the safety rules and the manifest, and for each file entry that refs this backup and
 * volume, check its size and content hash and (when extracting) write it under its destination
 * root. Members not needed are skipped, unless job->own, where an unlisted member is refused.
 */
bool volume_process(VolumeJob *job, uint32_t number, Error *err);

/* --- the local lock (lock.c) ----------------------------------------------------------------
 * One per target on this machine: a flock() on "lock" in the target's cache dir, held by a backup
 * or an in-place restore for its whole run and released by the kernel if the process dies. */

typedef struct AgentLock AgentLock;

/* Take the lock for `what` ("backup", "restore"), waiting up to `wait_sec` (logging who holds
 * it). Fails with ERR_BUSY naming the holder when the wait runs out. */
AgentLock *agent_lock_take(const Config *cfg, const char *what, int64_t wait_sec, Error *err);
void agent_lock_release(AgentLock *lock);

/* --- state markers and local flags (marker.c) -----------------------------------------------
 *
 * The state marker says which backup the local state corresponds to: "state.json" in the
 * target's cache dir, written after every backup and in-place restore, naming the target, the
 * backup's .meta.json path, and for each source present then its identity (device, inode, birth
 * time). A source counts as at that backup only while it is the very same directory, not
 * emptied: so a fresh container (no marker), a state directory wiped and made again (even when
 * the cache survived, say on a volume), an emptied one, or files baked into an image (never
 * marked) are all restored, while a state that lived on (a persistent volume along with its
 * cache) is not restored over.
 */

typedef enum MarkerMatch {
    MARKER_NONE,      /* no marker */
    MARKER_SAME,      /* every present source is the one marked at `meta_path`, none is gone */
    MARKER_DIFFERENT, /* `why` says what is not */
} MarkerMatch;

/* After a backup or in-place restore: the sources present now correspond to `meta_path` on
 * `from`. Best effort (failures are logged: the next start then restores). */
void marker_write(const Config *cfg, const Target *from, const char *meta_path);
MarkerMatch marker_check(const Config *cfg, const Target *from, const char *meta_path, char *why,
                         size_t why_size);
/* Whether the local state, still the one marked, is at a backup of `target` other than
 * `meta_path`: the target moved on since this state was restored or backed up. */
bool marker_behind(const Config *cfg, const Target *target, const char *meta_path, char *why,
                   size_t why_size);
/* Every configured source is missing or an empty directory. */
bool marker_state_empty(const Config *cfg);

/* Backups disabled after a failed restore at start ("backups-disabled.json" in the cache dir). */
bool agent_backups_disabled(const Config *cfg, char *reason, size_t reason_size);
void agent_backups_disable(const Config *cfg, const char *reason);
void agent_backups_enable(const Config *cfg);

/* HFSYNC_RESTORE_FLAG: create it (`done`) or remove it; nothing when not configured. */
void agent_restore_flag(const Config *cfg, bool done);

/* The agent running on this machine for this target ("agent.json" in the cache dir): its pid and
 * lease owner token, so that a backup it runs (or one run by hand beside it) works under its
 * lease. */
void agent_record_write(const Config *cfg, const Lease *lease);
void agent_record_clear(const Config *cfg, const Lease *lease);
/* The owner token of the live agent recorded here, if any. */
bool agent_record_owner(const Config *cfg, char owner[LEASE_OWNER_SIZE]);

/* --- the lease keeper (keeper.c) ------------------------------------------------------------
 * A thread that takes the writer lease and renews it every third of HFSYNC_LEASE_TTL with its own
 * Storage, so that slow storage never holds up the caller. */

typedef struct LeaseKeeper LeaseKeeper;

typedef enum KeeperState {
    KEEPER_PENDING, /* not taken yet */
    KEEPER_HELD,
    KEEPER_FOREIGN, /* another writer holds it: `holder` */
    KEEPER_ERROR,   /* the target cannot be reached: `error` */
} KeeperState;

typedef struct KeeperView {
    KeeperState state;
    Lease holder;
    char error[256];
    uint64_t acquisitions; /* times the lease was newly taken (renewals not counted) */
    char pointer[512];     /* the target's pointer right after the latest acquisition; "" none */
} KeeperView;

/* Start keeping `lease` (its owner token, mode) on cfg's target. With `sync`, the first attempt
 * happens before returning, and a live lease of another owner fails with ERR_BUSY naming it. On
 * targets without leases the keeper reports HELD and runs no thread. */
LeaseKeeper *keeper_start(const Config *cfg, const Lease *lease, bool sync, Error *err);
void keeper_view(LeaseKeeper *k, KeeperView *out);
/* Stop renewing and release the lease (waiting at most a few seconds for the storage). */
void keeper_stop(LeaseKeeper *k);

/* --- guard and prune (guard.c, prune.c) ----------------------------------------------------- */

/* *holds: the target's live lease is the one of the agent running here, whose owner token is
 * put in `owner` (when an agent is recorded here at all). */
bool guard_agent_holds(const Config *cfg, char owner[LEASE_OWNER_SIZE], bool *holds, Error *err);

/* HFSYNC_PRUNE=auto: prune after a backup, under the lease `owner` the backup ran under. A
 * failure is a warning: the backup stands. */
void prune_after_backup(const Config *cfg, const char *owner);

#endif
