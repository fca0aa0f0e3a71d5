/*
 * Helpers shared by the configuration's files: config.c (loading and setting values), target.c
 * (target URLs) and config_value.c (single values and paths). Not part of the public interface.
 *
 * Strings returned are owned by the caller (free()); inputs are borrowed.
 */
#ifndef HFSYNC_CONFIG_INTERN_H
#define HFSYNC_CONFIG_INTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "hfsync/config.h"

/* [A-Za-z0-9], whatever the locale. */
bool config_is_alnum(char c);

/* Whether the first `len` bytes of `s` hold a control character (below 0x20, or 0x7f). */
bool config_has_control(const char *s, size_t len);

/* A path inside a repo, bucket or target with leading and trailing '/' removed; NULL when it has
 * an empty, "." or ".." component or a control character. */
char *config_rel_path(const char *s);

/* A local path, absolute, without trailing '/'. A relative one is resolved against the current
 * directory when `resolve` (the original script's settings use relative paths), else NULL. */
char *config_local_path(const char *s, bool resolve);

/* "ns/name[/path]" of a Hub repo of `type` ("dataset", "model" or "space") into `t`; a folder
 * after the name is refused unless `allow_path`. Returns NULL, or why the spec is wrong (`t` may
 * then hold partial results: the caller frees it with target_free()). */
const char *target_hf_repo(const char *spec, const char *type, bool allow_path, Target *t);

/* ---- loading (config.c), shared with the setters in config_more.c ---- */

typedef struct EnvEntry {
    char *key;
    char *value;
    size_t file; /* index into Loader.files */
} EnvEntry;

typedef struct Loader {
    ConfigGetenv getenv_fn; /* NULL: getenv() */
    void *ctx;
    EnvEntry *entries; /* from the env file(s) */
    size_t entry_count;
    char *files[2];
    size_t file_count;
} Loader;

/* One looked-up value: the name it was found under and the env file it came from (NULL: the
 * environment). All NULL when the variable is unset. */
typedef struct Found {
    const char *name;
    const char *value;
    const char *file;
} Found;

/* A value by its name, else its alias: the environment first, then the env file(s). */
Found loader_get(const Loader *ld, const char *name, const char *alias);

/* Sets one setting from its variable's value (NULL: unset, the setter picks the default). */
typedef bool (*ConfigSetFn)(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);

/* Integer and duration setters with a range (config.c), used by config_more.c too. */
bool config_set_int(int *out, const char *name, const char *value, long min, long max, Error *err);
bool config_set_duration(int64_t *out, const char *name, const char *value, int64_t min,
                         int64_t max, const char *range, Error *err);

/* S3, HTTP and agent settings (config_more.c), applied from config.c's table. */
bool config_set_s3_access_key(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_s3_secret_key(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_s3_session_token(Config *cfg, const Loader *ld, const char *name, const char *value,
                                 Error *err);
bool config_set_s3_region(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_s3_endpoint(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_s3_path_style(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_s3_part_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);
bool config_set_s3_parallel(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_ca_bundle(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_retry_tries(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_retry_base(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_retry_cap(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_retry_budget(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);
bool config_set_stall_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_restore_policy(Config *cfg, const Loader *ld, const char *name, const char *value,
                               Error *err);
bool config_set_restore_failure(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err);
bool config_set_restore_retries(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err);
bool config_set_interval(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err);
bool config_set_backup_on_start(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err);
bool config_set_signal_group(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);
bool config_set_stop_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);
bool config_set_final_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_lock_timeout(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);
bool config_set_lease_ttl(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_lease_wait(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_status_file(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_restore_flag(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);

/* Hub, encryption and format settings (config_secret.c). */
bool config_set_hf_token(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err);
bool config_set_hf_endpoint(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_hf_private(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_hf_squash(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_password(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err);
bool config_set_old_passwords(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_format(Config *cfg, const Loader *ld, const char *name, const char *value,
                       Error *err);
bool config_set_seed_iterations(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err);
bool config_set_restore_backup(Config *cfg, const Loader *ld, const char *name, const char *value,
                               Error *err);
void config_secret_free(Config *cfg);

/* The backup strategy (config_strategy.c). */
bool config_set_dynamic(Config *cfg, const Loader *ld, const char *name, const char *value,
                        Error *err);
bool config_set_incremental(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_full_interval(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err);
bool config_set_full_ratio(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_min_changed_files(Config *cfg, const Loader *ld, const char *name,
                                  const char *value, Error *err);
bool config_set_min_changed_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                                 Error *err);
bool config_set_max_skips(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_level_min(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_level_max(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_volume_min(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_volume_max(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_small_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_large_size(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_high_rate(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_low_rate(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err);
bool config_set_slow_upload(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_fast_upload(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
/* The pairs of bounds and thresholds are in order (min <= max, ...). */
bool config_strategy_check(const Config *cfg, Error *err);

/* Retention, prune and the test clock (config_keep.c). */
bool config_set_keep_full(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_keep_last(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_keep_daily(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err);
bool config_set_keep_weekly(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_keep_monthly(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err);
bool config_set_keep_within(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_checkpoint_interval(Config *cfg, const Loader *ld, const char *name,
                                    const char *value, Error *err);
bool config_set_stale_after(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err);
bool config_set_prune(Config *cfg, const Loader *ld, const char *name, const char *value,
                      Error *err);
bool config_set_prune_max(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err);
bool config_set_test_now(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err);

#endif
