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
};
int agent_exit_code(const Error *err);

/* --- scan ---------------------------------------------------------------------------------- */

typedef struct ScanStats {
    uint64_t files, dirs, symlinks, skipped;
    uint64_t hardlinked; /* files with more than one link: stored as separate copies */
    uint64_t bytes;      /* sum of regular file sizes */
} ScanStats;

/* Walk every configured source into `m` (entries without hash or ref), sorted. Missing sources
 * are skipped with a notice; special files are skipped with a warning; symlinks are recorded,
 * never followed. */
bool scan_sources(const Config *cfg, Manifest *m, ScanStats *stats, Error *err);

/* --- backup -------------------------------------------------------------------------------- */

typedef struct BackupOpts {
    bool full;  /* --full */
    bool quiet; /* no name on stdout */
} BackupOpts;

typedef struct BackupResult {
    bool created;  /* false: nothing changed, nothing written */
    char name[64]; /* the new backup's name */
    bool full;
    uint64_t files, stored_bytes, uploaded_bytes, volumes;
    uint64_t added, changed, deleted;
    int64_t duration_ms;
    uint64_t warnings;
} BackupResult;

bool backup_run(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err);

/* --- restore ------------------------------------------------------------------------------- */

typedef struct RestoreOpts {
    const char *to;     /* --to DIR: each source lands in DIR/<name>/; NULL: in place */
    const char *backup; /* --backup NAME; NULL: the latest */
} RestoreOpts;

typedef struct RestoreResult {
    bool restored; /* false: the target has no backup */
    char name[256];
    uint64_t files, bytes;
    int64_t duration_ms;
} RestoreResult;

bool restore_run(const Config *cfg, const RestoreOpts *opts, RestoreResult *res, Error *err);

/* --- list / verify / status ---------------------------------------------------------------- */

bool list_run(const Config *cfg, bool json, Error *err);

typedef struct VerifyOpts {
    const char *backup; /* NULL: every backup */
    bool deep;
} VerifyOpts;
bool verify_run(const Config *cfg, const VerifyOpts *opts, Error *err);

bool status_run(const Config *cfg, bool json, Error *err);

/* Save a manifest's compressed bytes as the cached copy for change detection. */
void agent_manifest_cache_save(const Config *cfg, const char *name, const void *data, size_t size);

/* --- shared helpers (agent internals, used by several commands) ---------------------------- */

/* Load and verify a native backup's manifest: from the local cache when its sha256 matches,
 * else from the target (and then cached). */
Manifest *agent_manifest_load(const Config *cfg, Storage *st, const BackupMeta *meta, Error *err);
/* Directory of this target's local cache (created). Caller frees. */
char *agent_cache_dir(const Config *cfg, Error *err);
/* Record a command's outcome in the status file (best effort; failures are logged). */
void agent_status_record(const Config *cfg, const char *what, const char *json_object);

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
