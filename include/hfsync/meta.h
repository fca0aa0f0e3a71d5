/*
 * BackupMeta: one backup's `.meta.json` (docs/FORMAT.md §3), for both formats: hfsync's native
 * backups (with the "hfsync" object) and the original script's (version 1.x–2.1, no manifest).
 * meta_parse() validates what a hostile target could use against us (names, counts, the key
 * derivation cost of an encrypted backup); meta_to_json() writes every field of the original
 * format plus ours. A native backup is encrypted exactly when it has a "cipher" object: a meta
 * that says `encrypted` without one (or the other way round) is refused as corrupt.
 */
#ifndef HFSYNC_META_H
#define HFSYNC_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/crypto.h"
#include "hfsync/error.h"
#include "hfsync/hash.h"

#define META_MAX_SIZE (16 * 1024 * 1024)

typedef struct VolumeInfo {
    char *name;
    uint64_t size;
    char sha256[HASH_HEX_SIZE];
    uint64_t files;
    uint64_t entries;
} VolumeInfo;

typedef struct BackupMeta {
    char *path; /* target-relative path of this .meta.json */
    char *name; /* backup name: native name, or the first volume's name without .part-xx */
    bool native;

    /* Fields of the original format. */
    char *version;
    bool full;
    char *chain_id;
    char *parent; /* path of the parent's .meta.json, NULL for a full backup */
    char **volumes;
    size_t volume_count;
    char *checksum;    /* "sha256:<hex>" */
    int64_t created;   /* created_at_utc, epoch seconds */
    int64_t last_full; /* last_full_backup_time, epoch seconds */
    uint64_t file_count;
    uint64_t archive_size;
    int64_t incremental_count;
    bool encrypted; /* native: volumes and manifest are encrypted, `cipher` holds the key check */
    char *encryption_algorithm;
    bool is_split;

    /* The "hfsync" object (native only). */
    int format;
    char *tool_version;
    int compression_level;
    char **sources;
    size_t source_count;
    char *manifest_name;
    uint64_t manifest_size;
    uint64_t manifest_entries;
    char manifest_sha256[HASH_HEX_SIZE];
    VolumeInfo *vinfo; /* volume_count of them */
    uint64_t bytes_source, bytes_stored, bytes_uploaded;
    /* For the strategy's history (0: unknown, e.g. written by an older hfsync): archive_size of
     * the chain's full backup and summed over the chain through this backup, and the upload
     * speed (bytes per second) last measured on the chain's target. */
    uint64_t full_size, chain_size, upload_rate;
    uint64_t added, changed, deleted;
    int64_t duration_ms;
    CryptoParams cipher; /* native and encrypted: the "cipher" object (FORMAT.md §8.2) */
} BackupMeta;

BackupMeta *meta_parse(const char *json, const char *path, Error *err);
/* Serialise; `dataset` is informational. Caller frees. */
char *meta_to_json(const BackupMeta *meta);
void meta_free(BackupMeta *meta);

/* "<prefix>/<name>.meta.json" (just "<name>.meta.json" with an empty prefix). Caller frees. */
char *meta_path_for(const char *prefix, const char *name);
/* "<prefix>/<object>" for an object name of a backup. Caller frees. */
char *meta_object_path(const char *prefix, const char *object);

/* Path of an object stored beside this backup's .meta.json (its volumes, its manifest). */
char *meta_sibling_path(const BackupMeta *meta, const char *object);

#endif
