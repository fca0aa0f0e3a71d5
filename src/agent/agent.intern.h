/*
 * Agent internals shared between its files: reading one volume of a native backup (restore,
 * verify); the local lock, state markers and flags, and the lease keeper (guard, entrypoint).
 */
#ifndef HFSYNC_AGENT_INTERN_H
#define HFSYNC_AGENT_INTERN_H

#include <stddef.h>
#include <stdio.h>

#include "hfsync/agent.h"
#include "hfsync/chain.h"
#include "hfsync/crypto.h"
#include "hfsync/lease.h"
#include "hfsync/strategy.h"

typedef struct EntrySpool EntrySpool;

typedef struct VolumeJob {
    const Config *cfg;
    Storage *st;
    const Manifest *tables; /* source and ref names of the entries below (no entries) */
    EntrySpool *expect;     /* the files this volume must supply, in manifest order */
    EntrySpool *all;        /* every entry of the manifest, in order (own: members are looked up) */
    const BackupMeta *meta; /* the backup that owns the volume */
    const CryptoKey *key;   /* meta's key when it is encrypted (keyring_open), else NULL */
    /* Encrypted volumes: authenticating every record (under a key bound to the password, the
     * object's name and a salt) is the integrity check, and the stored bytes' sha256 is not
     * computed as well (restore). false: check both (verify). */
    bool records_only;
    bool own;                /* meta is the manifest's own backup: every member must be listed */
    char *const *dest_roots; /* per manifest source: staging path to extract into; NULL: verify */
    Progress *progress;
    uint64_t files, bytes;
    bool setid_warned;
    int all_state; /* the lookup cursor over `all`: 0 rewind first, 1 at all_cur, -1 at its end */
    ManifestEntry all_cur;
} VolumeJob;

/*
 * Read volume `number` (1-based) of job->meta: verify its size and sha256 (of the stored bytes;
 * see records_only), decrypt it record by record when it is encrypted (no unauthenticated byte
 * reaches zstd or tar; a record that fails is reported with the volume's name), check every member
 * against the safety rules and the manifest, and extract (or, verifying, check) the files of
 * job->expect: members and expected entries are both in manifest order and are merge-joined, so
 * an expected file missing from the volume (or out of order in it) fails naming it. Each file's
 * size and content hash are checked. Members not expected are skipped, unless job->own, where a
 * member must be listed in the manifest with its type (looked up in job->all: a cursor that moves
 * forward, restarted only when members go back, which only a backup resumed from a checkpoint
 * does, between volumes), and members must come in order.
 */
bool volume_process(VolumeJob *job, uint32_t number, Error *err);

/* --- a manifest as restore and verify read it (restore_index.c) -----------------------------
 * The target manifest streamed once (manifest_stream) into an EntrySpool, checked entry by entry
 * and between entries (ManifestWalk) as it comes, so memory does not grow with it. */

typedef struct RestoreIndex {
    Manifest *tables;  /* the source and ref names the spool's entries index (no entries) */
    EntrySpool *spool; /* every entry, in manifest order */
    uint64_t files, bytes;
} RestoreIndex;

/* Bytes of manifest entries restore and verify keep in memory before their spool moves them to
 * a file in HFSYNC_WORK_DIR (16 MiB; HFSYNC_TEST_SPOOL_MEMORY or tests lower it). */
extern size_t restore_spool_memory;

/* Called for each entry once it is checked (its source and ref index ix->tables). */
typedef bool (*RestoreIndexVisit)(void *ctx, const RestoreIndex *ix, const ManifestEntry *e,
                                  Error *err);

/* Read `meta`'s manifest into `ix` (zeroed first; clear it after, also on failure). */
bool restore_index_load(RestoreIndex *ix, const Config *cfg, Storage *st, const BackupMeta *meta,
                        const CryptoKey *key, RestoreIndexVisit visit, void *ctx, Error *err);
void restore_index_clear(RestoreIndex *ix);

/* Which volumes to read, and from which backups. */
typedef struct RestoreVolumes {
    const BackupMeta *const *metas; /* the backups whose files are read (a chain, oldest first) */
    const CryptoKey *const *keys;   /* metas[i]'s key, or NULL */
    size_t count;
    const BackupMeta *own; /* the manifest's own backup (among metas) */
    /* Every file entry must come from one of metas (restore); else files of other backups are
     * left alone (verify). */
    bool every_file;
} RestoreVolumes;

/* Most volumes whose expected files are partitioned in one pass over the spool (each gets a
 * small spool of its own, and a file once it spills). */
#define RESTORE_VOLUME_GROUP 256

/* Read every volume of rv->metas that holds a file entry of `ix`, each once, in order, with
 * job (cfg, st, dest_roots, progress, records_only set by the caller). A file entry naming a
 * backup outside metas (every_file) or a volume its backup lacks is ERR_CORRUPT naming it. */
bool restore_index_volumes(RestoreIndex *ix, const RestoreVolumes *rv, VolumeJob *job, Error *err);

/* --- manifests of native backups (manifest_io.c) --------------------------------------------
 * A manifest read one entry at a time, in the order it is written (memory does not grow with
 * it): from the local cache when its copy has the size and sha256 the meta records, else copied
 * from the target into the cache and checked first (only without a usable cache is it parsed
 * straight from the target). Its header must name `meta`'s backup. `key`: as
 * agent_manifest_load. Errors name the manifest. */

typedef struct ManifestStream ManifestStream;

ManifestStream *manifest_stream_open(const Config *cfg, Storage *st, const BackupMeta *meta,
                                     const CryptoKey *key, Error *err);
/* As manifest_cursor_next(); 0 only once the bytes read, to their end, are the ones the meta
 * records (ERR_CORRUPT otherwise). Entries are checked one by one, not against each other. */
int manifest_stream_next(ManifestStream *s, ManifestEntry *e, const char **source, const char **ref,
                         Error *err);
void manifest_stream_free(ManifestStream *s);

/* The copy of a manifest object a backup writes, kept in the cache as the manifest to compare
 * the next backup with: write the object's bytes to the fd as they are stored, then close,
 * keeping it only when the object was stored whole. Best effort: NULL (a warning logged) when
 * the cache cannot be used. */
typedef struct ManifestCacheCopy ManifestCacheCopy;

ManifestCacheCopy *manifest_cache_copy_open(const Config *cfg, const char *name);
int manifest_cache_copy_fd(const ManifestCacheCopy *c);
void manifest_cache_copy_close(ManifestCacheCopy *c, bool keep);

/* --- a backup's change detection (backup_diff.c) --------------------------------------------- */

typedef struct BackupDiff {
    StrategyChanges changes; /* the counts the strategy decides on */
    char **prev_roots;       /* sources whose root the previous manifest has */
    size_t prev_root_count;
    bool prev_failed; /* backup_diff failed on the previous manifest (not on the spool) */
} BackupDiff;

/* Bytes of scanned entries a backup keeps in memory before its spool moves them to a file in
 * HFSYNC_WORK_DIR (16 MiB; tests lower it to exercise the file). */
extern size_t backup_spool_memory;

/* A ScanEmit appending each entry to the EntrySpool `spool`. */
bool backup_diff_spool_add(void *spool, const ManifestEntry *e, Error *err);
/* Compare the scanned entries in `spool` (their sources index cur's table) with the previous
 * manifest (NULL: none, everything is new), both in manifest order, one pass over each: an
 * unchanged entry takes the previous one's ref (interned in `cur`), hash and volume; the others
 * get ENTRY_CHANGED, for the new backup to store. A previous manifest out of order, or failing
 * its checks, is ERR_CORRUPT. */
bool backup_diff(Manifest *cur, EntrySpool *spool, ManifestStream *prev, BackupDiff *d, Error *err);
void backup_diff_clear(BackupDiff *d);

/* --- keys of encrypted backups (keyring.c) --------------------------------------------------
 * Opens the keys of encrypted native backups with the configured passwords: HFSYNC_PASSWORD, then
 * each of HFSYNC_OLD_PASSWORDS_FILE. A key is derived once per run and parameter set and checked
 * against the backup's key check value before any object of the backup is read. The ring borrows
 * the Config's passwords and owns the keys it hands out. */

typedef struct Keyring Keyring;

Keyring *keyring_new(const Config *cfg);
void keyring_free(Keyring *kr);
/* The key of `meta` in *key: NULL (and true) when it is not encrypted. When no configured
 * password opens it: ERR_USAGE "wrong password for backup '…'"; when no password is configured:
 * ERR_USAGE saying so. Out-of-bounds key parameters are ERR_CORRUPT. */
bool keyring_open(Keyring *kr, const BackupMeta *meta, const CryptoKey **key, Error *err);
/* keys[i] for each chain->metas[i]. A chain that mixes encrypted and unencrypted backups is
 * refused (ERR_CORRUPT): hfsync never writes one, so it was tampered with. */
bool keyring_open_chain(Keyring *kr, const Chain *chain, const CryptoKey **keys, Error *err);

/* scrypt (about 0.1 s) on a thread of its own, so that a backup derives its key while it scans.
 * With `open_params`, open that key (crypto_key_open); without, create a new one
 * (crypto_key_create). `password` is borrowed until the job is finished. */
typedef struct KeyJob KeyJob;
KeyJob *key_job_start(const char *password, const CryptoParams *open_params);
/* Wait for the job and free it: the key (caller frees) and its parameters in *params (may be
 * NULL), or NULL with the error crypto_key_open/create gave. */
CryptoKey *key_job_finish(KeyJob *job, CryptoParams *params, Error *err);

/* --- planning a native backup (backup_plan.c) ------------------------------------------------
 * The strategy's inputs (strategy.h) and what --dry-run prints; backup_run applies the decision. */

/* A source of the previous backup (its roots in `diff`) whose path is gone is refused, and so is
 * a state with no entry at all (`count`; `cur`: the scan's source table): a missing mount must
 * not be recorded as a deletion. */
bool backup_check_sources(const Config *cfg, const Manifest *cur, size_t count,
                          const BackupDiff *diff, Error *err);
/* Without a password, an encrypted latest backup (`prev`) is neither continued nor replaced. */
bool backup_check_encryption(const Config *cfg, const BackupMeta *prev, Error *err);
/* The chain and history inputs from the latest backup `prev` (NULL: none) at time `now`. */
void backup_strategy_input(const BackupMeta *prev, int64_t now, StrategyInput *in);
/* The upload speed to record in a new backup's meta: measured when it uploaded enough to tell
 * (`uploaded` bytes in `upload_ns`), else the latest backup's. 0: unknown. */
uint64_t backup_upload_rate(const BackupMeta *prev, uint64_t uploaded, int64_t upload_ns);
/* Backups skipped in a row over the latest backup `latest` (its .meta.json path), from
 * "strategy.json" in the cache dir; 0 when unknown or counted against another backup. */
int backup_skips_load(const Config *cfg, const char *latest);
/* Record `skips` in a row over `latest` (best effort: a failure is logged). */
void backup_skips_save(const Config *cfg, const char *latest, int skips);
/* The decision for a backup whose scan compares with the previous manifest as `changes` says
 * (backup_diff; everything added with a `forced_full` reason), with the chain and history of the
 * latest backup `prev` and the skips in a row so far. Logs the one decision line. A skip that
 * counts (plan->skip_counts) is recorded by backup_skips_save once it is known to stand (no
 * other writer holds the target). */
void backup_plan(const Config *cfg, const BackupOpts *opts, const BackupMeta *prev,
                 const StrategyChanges *changes, const char *forced_full, int64_t now,
                 StrategyDecision *plan);
/* A new backup's full_size and chain_size from the latest one (`prev`; NULL for a full). */
void backup_chain_sizes(const BackupMeta *prev, BackupMeta *meta);
/* --dry-run's report: the decision, what the backup would store and upload. */
void backup_plan_print(const StrategyDecision *d, const StrategyChanges *c, FILE *out);

/* --- restore staging (restore.c), shared by both formats' restores -------------------------- */

typedef struct Dest {
    char *final;   /* where the source ends up */
    char *staging; /* built here first */
    bool swapped;
} Dest;

/* "<dir>/.hfsync-staging-<base>-<pid>" beside `final` (an absolute path). Caller frees. */
char *restore_staging_path(const char *final);
/* Swap every staging tree into place (RENAME_EXCHANGE, or two renames where unsupported);
 * afterwards each staging path holds the old tree. Stops at the first failure; `swapped` says
 * which moved. */
bool restore_swap(Dest *dests, size_t count, Error *err);
/* Remove the staging paths (the old trees after a swap, the partial new ones before it). */
void restore_cleanup(Dest *dests, size_t count);

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
/* After keeper_start without `sync`: wait for the first attempt; false with the errors a `sync`
 * start gives (ERR_BUSY naming another live holder, ERR_NET) unless the lease is ours. Without
 * `held`, wait only until it is known that no other writer held it (before the settle pause). */
bool keeper_confirm(LeaseKeeper *k, bool held, Error *err);
/* Stop renewing and release the lease (waiting at most a few seconds for the storage). */
void keeper_stop(LeaseKeeper *k);

/* --- guard and prune (guard.c, prune.c) ----------------------------------------------------- */

/* *holds: the target's live lease is the one of the agent running here, whose owner token is
 * put in `owner` (when an agent is recorded here at all). */
bool guard_agent_holds(const Config *cfg, char owner[LEASE_OWNER_SIZE], bool *holds, Error *err);

/* HFSYNC_PRUNE=auto: prune after a backup, under the lease `owner` the backup ran under. A
 * failure is a warning: the backup stands. */
void prune_after_backup(const Config *cfg, const char *owner);
/* The same prune, made part of the backup's own commit where writes are commits (the Hub):
 * prune_fold_stage() plans and stages the deletions inside the backup's transaction,
 * prune_fold_done() reports them (and reclaims space) once the commit is made. */
typedef struct PruneFold {
    const Config *cfg;
    const char *owner;
    bool called; /* the backup offered its commit (not every kind of backup does) */
    bool staged; /* deletions joined the commit */
    PruneResult res;
} PruneFold;
void prune_fold_stage(void *ctx, Storage *st);
void prune_fold_done(void *ctx, Storage *st);

/* The target restores read: HFSYNC_RESTORE_REPO when set and it holds a backup, else the backup
 * target (guard.c). */
const Target *agent_restore_from(const Config *cfg);

#endif
