/*
 * Config: what the user asked for (DESIGN.md §8). Kept apart from run state and statistics.
 *
 * Sources of values, strongest first: command-line flags (applied by main.c through
 * config_set()), environment variables (HFSYNC_*, then the original script's OPENCLAW_* aliases),
 * then the optional env file (HFSYNC_ENV_FILE; KEY=VALUE lines, parsed, never executed), then
 * defaults. Every value is validated when loaded; a bad one fails with ERR_USAGE and a message
 * naming the variable, the value (unless it is secret) and the accepted form.
 *
 * A Config owns all its strings; config_free() releases them (secrets are wiped first).
 */
#ifndef HFSYNC_CONFIG_H
#define HFSYNC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/error.h"
#include "hfsync/log.h"

typedef enum TargetKind {
    TARGET_NONE = 0, /* nothing configured */
    TARGET_FILE,     /* file:///abs/path */
    TARGET_MEM,      /* mem://name (tests only) */
    TARGET_S3,       /* s3://bucket[/prefix] */
    TARGET_HF,       /* hf://[datasets/|models/|spaces/]ns/name[/path] */
} TargetKind;

typedef struct Target {
    TargetKind kind;
    char *url;       /* as given (normalised), never holds credentials */
    char *path;      /* FILE: absolute directory; MEM: name; S3: key prefix ("" if none);
                        HF: folder inside the repo ("" if none) */
    char *bucket;    /* S3 only */
    char *repo_type; /* HF only: "dataset" (default), "model" or "space" */
    char *repo_id;   /* HF only: "ns/name" */
} Target;

/* One thing to back up: an archive root name (the top-level name in the archives) and a local
 * path. A path that is a regular file (OPENCLAW_BACKUP_EXTRA_FILES) is backed up as that file. */
typedef struct Source {
    char *name;
    char *path;
} Source;

/* S3 settings (README "S3 and compatible services"). The credentials are secrets: never logged. */
typedef struct S3Config {
    char *access_key;    /* HFSYNC_S3_ACCESS_KEY_ID, AWS_ACCESS_KEY_ID */
    char *secret_key;    /* HFSYNC_S3_SECRET_ACCESS_KEY, AWS_SECRET_ACCESS_KEY */
    char *session_token; /* HFSYNC_S3_SESSION_TOKEN, AWS_SESSION_TOKEN; NULL when none */
    char *region;        /* HFSYNC_S3_REGION, AWS_REGION, AWS_DEFAULT_REGION; default us-east-1 */
    char *endpoint;      /* HFSYNC_S3_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; NULL: AWS */
    int path_style;      /* HFSYNC_S3_PATH_STYLE: -1 auto (path-style with a custom endpoint),
                            0 virtual-hosted, 1 path-style */
    uint64_t part_size;  /* HFSYNC_S3_PART_SIZE, default 8M (5M..5G) */
    int parallel;        /* HFSYNC_S3_PARALLEL, parts uploaded at once, default 4 */
} S3Config;

/* Retries of every network operation (README "Network errors and retries"). */
typedef struct RetryConfig {
    int tries;         /* HFSYNC_RETRY_TRIES, attempts in all, default 5 */
    int64_t base_ms;   /* HFSYNC_RETRY_BASE, first backoff cap, default 1 s */
    int64_t cap_ms;    /* HFSYNC_RETRY_CAP, largest backoff, default 30 s */
    int64_t budget_ms; /* HFSYNC_RETRY_BUDGET, total time for one operation, default 300 s */
    int64_t stall_sec; /* HFSYNC_STALL_TIMEOUT: a transfer under 1 KiB/s this long is cut (and
                          retried), default 60 s */
} RetryConfig;

/* Hub settings (README "Hugging Face Hub"). The token is a secret: never logged. */
typedef enum HfSquash { HF_SQUASH_AUTO = 0, HF_SQUASH_ALWAYS, HF_SQUASH_NEVER } HfSquash;

typedef struct HfConfig {
    char *token;       /* HFSYNC_HF_TOKEN, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then $HF_HOME/token
                          (default ~/.cache/huggingface/token); NULL: anonymous */
    char *token_from;  /* where the token came from, for messages ("HF_TOKEN") */
    char *endpoint;    /* HFSYNC_HF_ENDPOINT, HF_ENDPOINT; default https://huggingface.co */
    bool private_repo; /* HFSYNC_HF_PRIVATE, OPENCLAW_BACKUP_PRIVATE; default true */
    HfSquash squash;   /* HFSYNC_HF_SQUASH auto|always|never, default auto */
} HfConfig;

/* HFSYNC_FORMAT: what new backups are written as. */
typedef enum BackupFormat {
    FORMAT_NATIVE = 0, /* hfsync's (docs/FORMAT.md) */
    FORMAT_SEED,       /* the original script's (reference/seed-format.md) */
} BackupFormat;

/* HFSYNC_RESTORE: whether the agent restores at start (DESIGN.md §7). */
typedef enum RestorePolicy {
    RESTORE_AUTO = 0, /* unless the local state is known to be the target's latest backup */
    RESTORE_ALWAYS,   /* whenever a backup exists */
    RESTORE_NEVER,
    RESTORE_IF_EMPTY, /* only when every source is missing or empty */
} RestorePolicy;

/* Retention and pruning (README "Retention", retention.h). Counts: 0 = the rule is off,
 * RETENTION_UNLIMITED (the value "unlimited") = keep all. */
typedef struct KeepConfig {
    int full;                /* HFSYNC_KEEP_FULL, default 12: the newest chains */
    int last;                /* HFSYNC_KEEP_LAST, OPENCLAW_BACKUP_KEEP_COUNT, default 0 */
    int daily;               /* HFSYNC_KEEP_DAILY, default 7 */
    int weekly;              /* HFSYNC_KEEP_WEEKLY, default 4 */
    int monthly;             /* HFSYNC_KEEP_MONTHLY, default 3 */
    int64_t within_sec;      /* HFSYNC_KEEP_WITHIN, default 0 (off) */
    int64_t stale_after_sec; /* HFSYNC_STALE_AFTER, default 24h: incomplete backups older go */
    bool prune_auto;         /* HFSYNC_PRUNE auto|off, default auto: prune after each backup */
    int prune_max;           /* HFSYNC_PRUNE_MAX, default 100 backups per run; 0: no limit */
    int64_t checkpoint_interval_sec; /* HFSYNC_CHECKPOINT_INTERVAL, default 300: on the Hub, the
                                        least time between two checkpoint commits of a backup */
} KeepConfig;

/* The backup strategy (strategy.h, README "Backup strategy"). */
typedef struct StrategyConfig {
    bool dynamic;   /* HFSYNC_DYNAMIC, OPENCLAW_DYNAMIC_BACKUP; default true: the "auto" level
                       and volume size are chosen per backup (false: 3 and 256M) */
    bool full_only; /* HFSYNC_INCREMENTAL=false, OPENCLAW_INCREMENTAL_BACKUP=false */
    int64_t full_interval_sec;  /* HFSYNC_FULL_INTERVAL, OPENCLAW_FULL_BACKUP_INTERVAL_HOURS;
                                   default 24h; 0: off */
    int full_ratio;             /* HFSYNC_FULL_RATIO, percent, default 50; 0: off */
    uint64_t min_changed_files; /* HFSYNC_MIN_CHANGED_FILES, OPENCLAW_DYNAMIC_MIN_CHANGED_FILES;
                                   default 0 */
    uint64_t min_changed_size;  /* HFSYNC_MIN_CHANGED_SIZE, OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB;
                                   default 0 */
    int max_skips;              /* HFSYNC_MAX_SKIPS; -1 (default "auto"): max(3, incrementals/3) */
    int level_min, level_max;   /* HFSYNC_COMPRESSION_MIN / _MAX, default 1 / 19 */
    uint64_t volume_min, volume_max; /* HFSYNC_VOLUME_SIZE_MIN / _MAX, default 16M / 1G */
    uint64_t small_size; /* HFSYNC_DYNAMIC_SMALL_SIZE, OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB, 500M */
    uint64_t
        large_size;   /* HFSYNC_DYNAMIC_LARGE_SIZE, OPENCLAW_DYNAMIC_MEDIUM_THRESHOLD_MB, 2000M */
    double high_rate; /* HFSYNC_DYNAMIC_HIGH_RATE, OPENCLAW_DYNAMIC_HIGH_CHANGE_RATE, 10/min */
    double low_rate;  /* HFSYNC_DYNAMIC_LOW_RATE, OPENCLAW_DYNAMIC_LOW_CHANGE_RATE, 2/min */
    uint64_t slow_upload; /* HFSYNC_DYNAMIC_SLOW_UPLOAD, bytes per second, default 2M */
    uint64_t fast_upload; /* HFSYNC_DYNAMIC_FAST_UPLOAD, bytes per second, default 64M */
} StrategyConfig;

typedef struct Config {
    Target target;
    Target restore_target; /* OPENCLAW_RESTORE_DATASET_REPO; kind TARGET_NONE when unset */
    char *prefix;          /* folder of backups under the target root; default "backups" */

    Source *sources;
    size_t source_count;
    char **excludes; /* glob patterns, see exclude.h */
    size_t exclude_count;

    uint64_t volume_size;          /* HFSYNC_VOLUME_SIZE; 0 (default "auto"): per backup */
    int compression_level;         /* HFSYNC_COMPRESSION_LEVEL, zstd 1..19; 0 (default "auto"):
                                      per backup */
    int threads;                   /* HFSYNC_THREADS, 0 = number of cores */
    int max_incrementals;          /* HFSYNC_MAX_INCREMENTALS, default 10 */
    bool restore_setid;            /* HFSYNC_RESTORE_SETID, default false: strip setuid/setgid */
    int64_t progress_interval_sec; /* HFSYNC_PROGRESS_INTERVAL, default 10 */

    char *work_dir;  /* HFSYNC_WORK_DIR, default $TMPDIR or /tmp, + "/hfsync" */
    char *cache_dir; /* HFSYNC_CACHE_DIR, default $XDG_CACHE_HOME/hfsync or $HOME/.cache/hfsync */
    LogLevel log_level;   /* HFSYNC_LOG_LEVEL debug|info|warn|error, default info */
    LogFormat log_format; /* HFSYNC_LOG_FORMAT text|json, default text */
    char *env_file;       /* HFSYNC_ENV_FILE, the file the values were filled from, or NULL */

    bool openclaw; /* configuration came from the original script's OPENCLAW_* variables */

    S3Config s3;
    HfConfig hf;
    RetryConfig retry;
    char *ca_bundle; /* HFSYNC_CA_BUNDLE: CA certificates for TLS; NULL: curl's defaults */

    /* The agent: `hfsync entrypoint` and `hfsync daemon`. Durations in seconds. */
    RestorePolicy restore_policy;     /* HFSYNC_RESTORE, default auto */
    bool restore_failure_start;       /* HFSYNC_ON_RESTORE_FAILURE=start (default exit: false) */
    int restore_retries;              /* HFSYNC_RESTORE_RETRIES, default 2 */
    int64_t interval_sec;             /* HFSYNC_INTERVAL, default 300 */
    bool backup_on_start;             /* HFSYNC_BACKUP_ON_START, default false */
    bool signal_group;                /* HFSYNC_SIGNAL_GROUP: signal the app's process group */
    int64_t stop_timeout_sec;         /* HFSYNC_STOP_TIMEOUT, default 10 */
    int64_t final_backup_timeout_sec; /* HFSYNC_FINAL_BACKUP_TIMEOUT, default 20; 0: none */
    int64_t lock_timeout_sec;         /* HFSYNC_LOCK_TIMEOUT, default 300 */
    int64_t lease_ttl_sec;            /* HFSYNC_LEASE_TTL, default 120 */
    int64_t lease_wait_sec;           /* HFSYNC_LEASE_WAIT, default 60 */
    char *status_file;  /* HFSYNC_STATUS_FILE; NULL: status.json in the target's cache dir */
    char *restore_flag; /* HFSYNC_RESTORE_FLAG; NULL: none (the original script's path when its
                           configuration is in use) */

    /* Encryption and formats. Passwords are secrets: never logged, wiped when freed. */
    char *password;       /* HFSYNC_PASSWORD, HFSYNC_PASSWORD_FILE, or the script's
                             OPENCLAW_BACKUP_ENCRYPTION_PASSWORD when
                             OPENCLAW_BACKUP_ENCRYPTION_ENABLED is true; NULL: none */
    char **old_passwords; /* HFSYNC_OLD_PASSWORDS_FILE: one per line, tried on restore */
    size_t old_password_count;
    BackupFormat format;      /* HFSYNC_FORMAT native|seed, default native */
    unsigned seed_iterations; /* HFSYNC_SEED_PBKDF2_ITER: openssl enc -iter, default 10000 */
    char *restore_backup;     /* HFSYNC_RESTORE_BACKUP, OPENCLAW_RESTORE_ARCHIVE: the backup
                                 restore picks when none is named; NULL: the latest */

    KeepConfig keep;
    StrategyConfig strategy;
    int64_t test_now; /* HFSYNC_TEST_NOW (tests only): the clock backup names and prune use,
                         epoch seconds; 0: the real clock */
} Config;

/* Look up a variable. Tests pass their own; production uses getenv. */
typedef const char *(*ConfigGetenv)(const char *name, void *ctx);

/*
 * Fill `cfg` from the environment (through `getenv_fn`, or getenv() when NULL), the env file it
 * names, and defaults. On failure `cfg` is left freed and `err` says which variable was wrong
 * (code ERR_USAGE).
 */
bool config_load(Config *cfg, ConfigGetenv getenv_fn, void *ctx, Error *err);

/* Apply one override as if the variable had value `value` (flags use this). Same validation. */
bool config_set(Config *cfg, const char *name, const char *value, Error *err);

void config_free(Config *cfg);

/* Parse a target URL. */
bool target_parse(const char *url, Target *target, Error *err);
void target_free(Target *target);

/* Value parsers, shared with flags. Each fails with ERR_USAGE naming `name` and the accepted
 * form. Sizes: 4096, 256K, 256M, 1G (also KB/MB/GB/KiB/MiB/GiB, base 1024). Durations: 300
 * (seconds), 90s, 5m, 2h, 7d. Booleans: 1/0/true/false/yes/no/on/off (any case). */
bool config_parse_size(const char *name, const char *value, uint64_t *out, Error *err);
bool config_parse_duration(const char *name, const char *value, int64_t *out_sec, Error *err);
bool config_parse_bool(const char *name, const char *value, bool *out, Error *err);
bool config_parse_int(const char *name, const char *value, long min, long max, long *out,
                      Error *err);

/*
 * Env file: `KEY=VALUE`, `export KEY=VALUE`, single or double quotes (double quotes allow \" \\ \n
 * escapes), `#` comments on their own line or after unquoted whitespace, blank lines. Never
 * executed. Calls `fn` for each assignment in order; a malformed line fails naming the file and
 * line number.
 */
typedef void (*EnvFileFn)(const char *key, const char *value, void *ctx);
bool envfile_parse(const char *path, EnvFileFn fn, void *ctx, Error *err);
bool envfile_parse_text(const char *text, const char *origin, EnvFileFn fn, void *ctx, Error *err);

#endif
