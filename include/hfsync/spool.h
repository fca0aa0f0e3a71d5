/*
 * EntrySpool: the entries of a state too large to hold in memory, kept in the order they were
 * added and read back in passes.
 *
 * A backup walks its sources once, in manifest order, and then passes over the result several
 * times (compare with the previous manifest, store what changed, write the new manifest). The
 * spool keeps each entry as a compact record (fixed fields, the path coded against the previous
 * one, the link target) in one buffer of at most `memory_size` bytes; past that it moves every
 * record into an unlinked temporary file in `dir` and the buffer becomes the file's I/O window.
 * So memory stays bounded whatever the number of entries; the file costs about 100 bytes of disk
 * per entry and is gone when the spool is freed (or the process dies).
 *
 * Use: spool_add() every entry; then, as many times as needed, spool_rewind() and spool_next()
 * until it returns 0, optionally spool_update() after a spool_next() to rewrite the fixed fields
 * (everything but the path and target) of the entry just read. Adding after the first rewind is
 * not allowed. Errors are I/O errors of the temporary file (ERR_IO naming `dir`).
 */
#ifndef HFSYNC_SPOOL_H
#define HFSYNC_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "hfsync/error.h"
#include "hfsync/manifest.h"

typedef struct EntrySpool EntrySpool;

/* `dir` (created if needed) holds the temporary file when one is needed; NULL: $TMPDIR or
 * /tmp. `memory_size` is raised to a workable minimum (64 KiB). */
EntrySpool *spool_new(const char *dir, size_t memory_size);
void spool_free(EntrySpool *sp);

/* Append a copy of `e` (path and target copied; both at most 4096 bytes). */
bool spool_add(EntrySpool *sp, const ManifestEntry *e, Error *err);
size_t spool_count(const EntrySpool *sp);
/* Whether the records moved to the temporary file (for tests and logs). */
bool spool_on_disk(const EntrySpool *sp);

/* Start a pass from the first entry. */
bool spool_rewind(EntrySpool *sp, Error *err);
/* The next entry in *e: 1; 0 after the last; -1 on error. e->path and e->target point into the
 * spool and stay valid until the next call. */
int spool_next(EntrySpool *sp, ManifestEntry *e, Error *err);
/* Rewrite the entry last returned by spool_next() with e's fixed fields (type, size, times,
 * mode, flags, source, ref, volume, hash); its path and target are kept. */
bool spool_update(EntrySpool *sp, const ManifestEntry *e, Error *err);

#endif
