/*
 * Manifest: every entry of the state at one backup (docs/FORMAT.md §4).
 *
 * Entries are kept compact (the manifest of a 100,000-file state must fit comfortably in memory
 * twice): strings for source names and refs are interned in small tables and entries hold
 * indexes. Entries are sorted by (source, path) with each source's root "." first, which puts
 * every directory before its children.
 *
 * manifest_read() validates everything it loads (path rules, types, parents), because a manifest
 * comes from the target and may be hostile; a violation fails with ERR_UNSAFE naming the entry.
 */
#ifndef HFSYNC_MANIFEST_H
#define HFSYNC_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/error.h"
#include "hfsync/hash.h"
#include "hfsync/stream.h"

/* The per-file content hash, named in the manifest header and meta (docs/FORMAT.md §4). */
#define MANIFEST_CONTENT_HASH "sha256"

typedef enum EntryType { ENTRY_FILE = 0, ENTRY_DIR, ENTRY_SYMLINK } EntryType;

/* Scratch flags used while building or restoring; never serialised. */
enum { ENTRY_CHANGED = 1, ENTRY_GONE = 2, ENTRY_DONE = 4, ENTRY_HASHED = 8 };

typedef struct ManifestEntry {
    char *path;   /* source-relative, "." for the root */
    char *target; /* symlinks only */
    uint64_t size;
    int64_t mtime;
    int32_t mtime_nsec;
    uint32_t mode;   /* permission bits */
    uint32_t volume; /* files only, 1-based */
    uint16_t source; /* index into Manifest.sources */
    uint16_t ref;    /* index into Manifest.refs */
    uint8_t type;    /* EntryType */
    uint8_t flags;
    uint8_t hash[HASH_SIZE]; /* files only */
} ManifestEntry;

typedef struct Manifest {
    char *backup; /* name of the backup this manifest belongs to */
    char **sources;
    size_t source_count;
    char **refs;
    size_t ref_count;
    ManifestEntry *entries;
    size_t count, cap;
} Manifest;

Manifest *manifest_new(const char *backup);
void manifest_free(Manifest *m);

uint16_t manifest_source_index(Manifest *m, const char *name);
uint16_t manifest_ref_index(Manifest *m, const char *name);
/* Append an entry (copied; strings duplicated). Sort before lookups. */
ManifestEntry *manifest_add(Manifest *m, const ManifestEntry *e);
void manifest_sort(Manifest *m);
/* Binary search; NULL when absent. The manifest must be sorted. */
ManifestEntry *manifest_find(const Manifest *m, const char *source, const char *path);
/* Compare two entries (possibly of different manifests) in manifest order. */
int manifest_cmp(const Manifest *ma, const ManifestEntry *a, const Manifest *mb,
                 const ManifestEntry *b);

/* Same type, size, mtime, mode and link target (what change detection compares). */
bool manifest_entry_same(const ManifestEntry *a, const ManifestEntry *b);

/* Serialise as JSON Lines (header + entries) into `out` (not finished). Entries with the
 * ENTRY_GONE flag are left out. */
bool manifest_write(const Manifest *m, Sink *out, size_t *entry_count, Error *err);
/* Parse and validate JSON Lines from `in` (already decompressed). */
Manifest *manifest_read(Reader *in, Error *err);

/* Path rules of docs/FORMAT.md §4: relative, no "."/".." components (but the lone root "."),
 * no empty component, no control characters, at most 4096 bytes. */
bool manifest_path_check(const char *path, Error *err);

#endif
