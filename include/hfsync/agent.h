/*
 * Commands (DESIGN.md §1): each takes the loaded Config and its options, does its work through
 * storage and repo, and returns false with `err` set on failure. Nothing here exits the process:
 * main.c maps errors to exit codes (agent_exit_code).
 */
#ifndef HFSYNC_AGENT_H
#define HFSYNC_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "hfsync/config.h"
#include "hfsync/crypto.h"
#include "hfsync/error.h"
#include "hfsync/manifest.h"
#include "hfsync/meta.h"
#include "hfsync/storage.h"

/* Exit codes, documented in README.md and stable. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_ = 1,
    EXIT_USAGE = 2,
    EXIT_INTEGRITY = 3,
    EXIT_BUSY = 4, /* refused for safety (ERR_BUSY) */
};
int agent_exit_code(const Error *err);

/* --- scan ---------------------------------------------------------------------------------- */

typedef struct ScanStats {
    uint64_t files, dirs, symlinks, skipped;
    uint64_t hardlinked; /* files with more than one link: stored as separate copies */
    uint64_t bytes;      /* sum of regular file sizes */
} ScanStats;

/* Receives each entry of a walk (borrowed: copy what is kept); false stops the walk with `err`. */
typedef bool (*ScanEmit)(void *ctx, const ManifestEntry *e, Error *err);

/* Walk every configured source, handing each entry (without hash or ref; its source an index
 * into m's table) to `emit` in manifest order. Missing sources are skipped with a notice; special
 * files are skipped with a warning; symlinks are recorded, never followed. Memory grows with the
 * directories on the current path (their names), not with the tree. */
bool scan_walk(const Config *cfg, Manifest *m, ScanEmit emit, void *ctx, ScanStats *stats,
               Error *err);
/* The same, collecting the entries into `m`. */
bool scan_sources(const Config *cfg, Manifest *m, ScanStats *stats, Error *err);

/* --- backup -------------------------------------------------------------------------------- */

typedef struct BackupOpts {
    bool full;     /* --full */
    bool quiet;    /* no name on stdout */
    bool force;    /* --force: back up even though backups are disabled after a failed restore */
    bool no_prune; /* --no-prune: no prune after it even with HFSYNC_PRUNE=auto */
    bool final;    /* --final: the agent's final backup at a stop: never skipped by the
                      strategy's thresholds while anything changed, and no prune after it */
    bool dry_run;  /* --dry-run: scan and decide, print the decision and what would be uploaded
                      on stdout; nothing is written on the target (nor the lease taken) */
    /* Called just before the pointer is written (the commit); returning false abandons the
     * backup with that error. NULL: none. */
    bool (*before_commit)(void *ctx, Storage *st, Error *err);
    void *before_commit_ctx;
    /* Called once the backup is planned (not on a dry run), before the first object it writes
     * is complete, i.e. visible on the target (`writes`: at the end of the first volume, or
     * before resuming a checkpoint or writing a manifest without volumes), or when it skips (no
     * write); false stops it and nothing it wrote is removed (it was never visible). The guard
     * confirms the writer lease here, so the lease's settle pause runs while the sources are
     * scanned and the first volume made; a skip only needs to know no other writer holds it. */
    bool (*before_write)(void *ctx, bool writes, Error *err);
    void *before_write_ctx;
    /* Where writes are commits (the Hub): called once the pointer is staged, inside the
     * backup's transaction, to add changes to its one commit (the prune's deletions); it
     * handles its own failures. after_commit: called once that commit is made. NULL: none. */
    void (*in_commit)(void *ctx, Storage *st);
    void (*after_commit)(void *ctx, Storage *st);
    void *commit_ctx;
} BackupOpts;

typedef struct BackupResult {
    bool created;  /* false: skipped (or a dry run), nothing written */
    bool skipped;  /* the strategy skipped it although something changed (HFSYNC_MIN_CHANGED_*) */
    char name[64]; /* the new backup's name */
    bool full;
    uint64_t files, stored_bytes, uploaded_bytes, volumes;
    uint64_t added, changed, deleted;
    int64_t duration_ms;
    uint64_t warnings;
    /* The backup the sources now correspond to (target-relative .meta.json path): the new one,
     * or the previous one when nothing changed. "" when there is none. */
    char meta_path[512];
} BackupResult;

bool backup_run(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err);

/* --- restore ------------------------------------------------------------------------------- */

typedef struct RestoreOpts {
    const char *to;     /* --to DIR: each source lands in DIR/<name>/; NULL: in place */
    const char *backup; /* --backup NAME; NULL: the latest */
} RestoreOpts;

typedef struct RestoreResult {
    bool restored; /* false: the target has no backup (or, with guard_restore, none was needed) */
    bool skipped;  /* guard_restore with if_needed: the policy said no restore was needed */
    char name[256];
    char meta_path[512]; /* target-relative .meta.json of the backup restored */
    uint64_t files, bytes;
    int64_t duration_ms;
} RestoreResult;

bool restore_run(const Config *cfg, const RestoreOpts *opts, RestoreResult *res, Error *err);

/* --- the same, with this machine's safety rules ----------------------------------------------
 *
 * What `hfsync backup` and `hfsync restore` run, and what the agent runs in its children:
 * - a local lock per target (HFSYNC_LOCK_TIMEOUT), so a backup or in-place restore by hand waits
 *   for the agent's, and the other way round;
 * - the writer lease (lease.h): a backup runs under the local agent's lease or takes its own,
 *   and is refused (ERR_BUSY) while another writer holds it; an in-place restore first waits up
 *   to HFSYNC_LEASE_WAIT for another writer to finish;
 * - after a failed restore at start, backups are refused (ERR_BUSY) until a restore succeeds or
 *   a backup is forced;
 * - state markers (which backup the local state corresponds to) after every backup and in-place
 *   restore, and the restore flag (HFSYNC_RESTORE_FLAG) after a restore at start.
 */

bool guard_backup(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err);

/* `if_needed`: apply HFSYNC_RESTORE (the restore at the agent's start; in place only). */
bool guard_restore(const Config *cfg, const RestoreOpts *opts, bool if_needed, RestoreResult *res,
                   Error *err);

/* --- the agent: entrypoint and daemon ------------------------------------------------------ */

typedef struct AgentOpts {
    char *const *command; /* entrypoint: CMD and its arguments, NULL-terminated; NULL: daemon */
    /* Global options to give the hfsync children it runs (backup, restore) so that they load
     * the same configuration: the --repo, --source, … flags this process was given. */
    char *const *child_options;
    size_t child_option_count;
} AgentOpts;

/*
 * Run the entrypoint (opts->command set) or the daemon until it stops: restore by policy, start
 * the command as a child, back up every HFSYNC_INTERVAL, take a final backup on stop. Returns the
 * process exit status (the command's, or 128 + signal). With no target configured, the
 * entrypoint replaces itself with the command (and returns only if that fails).
 */
int agent_run(const Config *cfg, const AgentOpts *opts);

/* --- prune ---------------------------------------------------------------------------------
 *
 * Retention (retention.h) applied to the target: the chains the rules do not keep are deleted,
 * and so are the objects of backups that never completed (no .meta.json) once their name is older
 * than HFSYNC_STALE_AFTER, and leftover checkpoints as old; S3 multipart uploads left unfinished
 * that long ago are aborted. Never while another writer's lease is live. Deletions go newest to
 * oldest within a chain, every .meta.json before any other object, so an interrupted prune leaves
 * whole, shorter chains; at most HFSYNC_PRUNE_MAX backups per run.
 * On the Hub they are one commit, followed by a squash as HFSYNC_HF_SQUASH says.
 */

typedef struct PruneOpts {
    bool dry_run; /* print the plan, delete nothing */
    bool quiet;   /* the plan goes to the log, not stdout (the prune after a backup) */
    /* The lease this prune runs under (its own or the agent's); a live lease of any other owner
     * stops it. "" or NULL: no lease is held, so any live lease stops it. */
    const char *owner;
} PruneOpts;

typedef struct PruneResult {
    size_t chains, chains_kept, chains_deleted; /* chains_deleted: wholly or in part */
    size_t backups_deleted;                     /* backups of deleted chains */
    size_t incomplete_deleted;                  /* backups that never completed */
    size_t objects_deleted;
    uint64_t bytes_deleted;
    bool limited;           /* HFSYNC_PRUNE_MAX left work for the next run */
    size_t uploads_aborted; /* multipart uploads left by a crashed writer, aborted */
} PruneResult;

/* The prune itself, without this machine's lock or the lease (the caller holds them). */
bool prune_run(const Config *cfg, const PruneOpts *opts, PruneResult *res, Error *err);
/* `hfsync prune`: the local lock, and the lease of the agent running here or its own (refused
 * with ERR_BUSY while another writer holds it); a dry run takes neither. */
bool guard_prune(const Config *cfg, const PruneOpts *opts, PruneResult *res, Error *err);

/* The wall clock of backup names and retention: HFSYNC_TEST_NOW when set (tests), else now. */
int64_t agent_now(const Config *cfg);

/* --- list / verify / status ---------------------------------------------------------------- */

bool list_run(const Config *cfg, bool json, Error *err);

typedef struct VerifyOpts {
    const char *backup; /* NULL: every backup */
    bool deep;
} VerifyOpts;
bool verify_run(const Config *cfg, const VerifyOpts *opts, Error *err);

bool status_run(const Config *cfg, bool json, Error *err);

/* --- shared helpers (agent internals, used by several commands) ---------------------------- */

/* Load and verify a native backup's manifest: from the local cache when its sha256 matches,
 * else from the target (and then cached). `key` is the backup's key when it is encrypted (the
 * manifest is decrypted as it is read; the cache keeps the encrypted object), NULL otherwise.
 * The whole manifest is held in memory (about 130 bytes per entry); a backup streams it instead
 * (manifest_stream_open in agent.intern.h). */
Manifest *agent_manifest_load(const Config *cfg, Storage *st, const BackupMeta *meta,
                              const CryptoKey *key, Error *err);
/* Directory of this target's local cache (created). Caller frees. */
char *agent_cache_dir(const Config *cfg, Error *err);
/* The status file: HFSYNC_STATUS_FILE, else status.json in the target's cache dir. Caller
 * frees; NULL (err set) when the cache dir cannot be created. */
char *agent_status_path(const Config *cfg, Error *err);
/* Record a command's outcome in the status file under the key `what` (best effort; failures are
 * logged). Writers take turns through a lock beside the file. */
void agent_status_record(const Config *cfg, const char *what, const char *json_object);
/* The "not_before" of the last backup recorded there (epoch seconds: a server asked to wait
 * until then), 0 when none. */
int64_t agent_status_not_before(const Config *cfg);

/* Progress lines every cfg->progress_interval_sec. */
typedef struct Progress {
    const char *what;
    int64_t start_ns, last_ns, interval_ns;
    uint64_t files, bytes, total_files, total_bytes;
} Progress;
void progress_begin(Progress *p, const Config *cfg, const char *what, uint64_t total_files,
                    uint64_t total_bytes);
void progress_update(Progress *p, uint64_t files, uint64_t bytes);

#endif
