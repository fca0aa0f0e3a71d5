/*
 * Manifest: every entry of the state at one backup (docs/FORMAT.md §4).
 *
 * Entries are kept compact: strings for source names and refs are interned in small tables and
 * entries hold indexes; paths and link targets live in a few large blocks owned by the manifest
 * (no allocation per entry). Entries are sorted by (source, path) with each source's root "."
 * first, which puts every directory before its children.
 *
 * A Manifest holds every entry in memory (tests and small tools use it). Backup, restore and
 * verify never do: they stream manifests with a ManifestCursor (checking the rules between
 * entries with a ManifestWalk) and keep entries in an EntrySpool (spool.h), using a Manifest with
 * no entries only for its string tables and the JSON Lines writer (manifest_write_header /
 * manifest_write_entry).
 *
 * manifest_read() validates everything it loads (path rules, types, parents), because a manifest
 * comes from the target and may be hostile; a violation fails with ERR_UNSAFE naming the entry.
 * A cursor validates each entry on its own (path rules, types, fields) and leaves the rules
 * between entries (order, parents) to its caller.
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

typedef struct ManifestBlock ManifestBlock; /* storage of paths and targets (manifest.c) */

typedef struct Manifest {
    char *backup; /* name of the backup this manifest belongs to */
    char **sources;
    size_t source_count;
    char **refs;
    size_t ref_count;
    ManifestEntry *entries;
    size_t count, cap;
    ManifestBlock *blocks;
} Manifest;

Manifest *manifest_new(const char *backup);
void manifest_free(Manifest *m);

uint16_t manifest_source_index(Manifest *m, const char *name);
uint16_t manifest_ref_index(Manifest *m, const char *name);
/* Append an entry (copied; strings copied into the manifest's blocks). Sort before lookups. */
ManifestEntry *manifest_add(Manifest *m, const ManifestEntry *e);
/* Make room for `count` entries in all (a hint: manifest_add grows the array as needed). */
void manifest_reserve(Manifest *m, size_t count);
void manifest_sort(Manifest *m);
/* Sort, then check the rules between entries (FORMAT.md §4): no entry twice, every parent a
 * directory of the same source. ERR_UNSAFE naming the first entry that breaks one. */
bool manifest_validate(Manifest *m, Error *err);
/* Binary search; NULL when absent. The manifest must be sorted. */
ManifestEntry *manifest_find(const Manifest *m, const char *source, const char *path);
/* Compare two entries (possibly of different manifests) in manifest order. */
int manifest_cmp(const Manifest *ma, const ManifestEntry *a, const Manifest *mb,
                 const ManifestEntry *b);
/* Manifest order of two paths of the same source: the root "." first, then bytewise. */
int manifest_path_cmp(const char *a, const char *b);

/* Same type, size, mtime, mode and link target (what change detection compares). */
bool manifest_entry_same(const ManifestEntry *a, const ManifestEntry *b);

/* Serialise as JSON Lines (header + entries) into `out` (not finished). Entries with the
 * ENTRY_GONE flag are left out. */
bool manifest_write(const Manifest *m, Sink *out, size_t *entry_count, Error *err);
/* The same in pieces, for entries that are not held in a Manifest: the header line announcing
 * `count` entries, then each entry line (`e`'s source and ref index m's tables). */
bool manifest_write_header(const char *backup, size_t count, Sink *out, Error *err);
bool manifest_write_entry(const Manifest *m, const ManifestEntry *e, Sink *out, Error *err);
/* Parse and validate JSON Lines from `in` (already decompressed). */
Manifest *manifest_read(Reader *in, Error *err);

/* Reads the entries of JSON Lines one at a time, in the order they are written, with memory that
 * does not grow with their number. Borrows `in` until freed. */
typedef struct ManifestCursor ManifestCursor;

/* Read and check the header line. */
ManifestCursor *manifest_cursor_open(Reader *in, Error *err);
void manifest_cursor_free(ManifestCursor *c);
const char *manifest_cursor_backup(const ManifestCursor *c);
/* The count the header announces. */
size_t manifest_cursor_expected(const ManifestCursor *c);
/* The next entry in *e (source and ref left 0) with its source and ref names: 1; 0 at the end
 * (after checking the count against the header); -1 on error. Strings stay valid until the next
 * call. The entry's fields and path are checked (ERR_CORRUPT / ERR_UNSAFE naming it and its
 * line). */
int manifest_cursor_next(ManifestCursor *c, ManifestEntry *e, const char **source, const char **ref,
                         Error *err);

/* Checks the rules between entries (FORMAT.md §4) one entry at a time, for entries that come in
 * the order a manifest is written (a stream, a spool), with memory bounded by the longest path:
 * each entry after the one before (ERR_CORRUPT "out of order"), none twice (ERR_UNSAFE), every
 * parent a directory of the same source (ERR_UNSAFE), as manifest_validate() does for a whole
 * manifest. It also tells when a directory is complete: `done` (optional) is called for each
 * directory, the source roots included, once every entry below it has been seen, so each
 * directory after everything inside it (a restore sets directory times and modes there). */
typedef struct ManifestWalk ManifestWalk;
/* `dir`: the directory's fields with its path (valid during the call); false stops the walk with
 * the callback's error. */
typedef bool (*ManifestWalkDone)(void *ctx, const char *source, const ManifestEntry *dir,
                                 Error *err);

ManifestWalk *manifest_walk_new(ManifestWalkDone done, void *ctx);
void manifest_walk_free(ManifestWalk *w);
/* The next entry `e` of source `source`: checked against those before it, and the directories it
 * shows complete handed to `done`. */
bool manifest_walk_next(ManifestWalk *w, const char *source, const ManifestEntry *e, Error *err);
/* After the last entry: the directories still open go to `done`. */
bool manifest_walk_end(ManifestWalk *w, Error *err);

/* Path rules of docs/FORMAT.md §4: relative, no "."/".." components (but the lone root "."),
 * no empty component, no control characters, at most 4096 bytes. */
bool manifest_path_check(const char *path, Error *err);

#endif
