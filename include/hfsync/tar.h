/*
 * Tar adapters over libarchive: a writer that emits a pax tar stream into a Sink, and a reader
 * that parses one from a Reader. They know tar, nothing about where bytes come from or go.
 *
 * Member metadata travels in a TarMember; names are archive paths ("state/a/b.txt").
 * A TarWriter writes one archive: header, then exactly `size` bytes of data for files, then the
 * next header; tar_writer_close() writes the end-of-archive marker and finishes the sink chain.
 */
#ifndef HFSYNC_TAR_H
#define HFSYNC_TAR_H

#include <stdbool.h>
#include <stdint.h>

#include "hfsync/error.h"
#include "hfsync/stream.h"

typedef enum TarType {
    TAR_FILE = 0,
    TAR_DIR,
    TAR_SYMLINK,
    TAR_HARDLINK,
    TAR_OTHER /* device, fifo, socket: never extracted */
} TarType;

typedef struct TarMember {
    const char *name;
    TarType type;
    unsigned mode; /* permission bits */
    int64_t mtime;
    long mtime_nsec;
    uint64_t size;      /* files only */
    const char *target; /* symlinks and hard links */
} TarMember;

typedef struct TarWriter TarWriter;

TarWriter *tar_writer_new(Sink *out, Error *err);
/* The seed format's archive (reference/seed-format.md): gzip level 1..9 over a full pax tar, so
 * nanosecond mtimes are in the headers (native volumes keep them in the manifest instead). */
TarWriter *tar_writer_new_gzip(Sink *out, int level, Error *err);
bool tar_writer_header(TarWriter *tw, const TarMember *member, Error *err);
bool tar_writer_data(TarWriter *tw, const void *data, size_t size, Error *err);
/* End the archive and finish `out`. */
bool tar_writer_close(TarWriter *tw, Error *err);
/* Free (after close, or to abandon after a failure). */
void tar_writer_free(TarWriter *tw);

typedef struct TarReader TarReader;

TarReader *tar_reader_new(Reader *in, Error *err);
/* A gzip-compressed tar (the seed format); anything else fails with ERR_CORRUPT. The gzip
 * trailer's CRC is not checked by libarchive: the seed format's sha256 covers the archive. */
TarReader *tar_reader_new_gzip(Reader *in, Error *err);
/* Next member: 1 and `member` filled (valid until the next call), 0 at the end, -1 on error. */
int tar_reader_next(TarReader *tr, TarMember *member, Error *err);
/* Next block of the current member's data: 1 with data and size set, 0 at its end, -1 on error. */
int tar_reader_data(TarReader *tr, const void **data, size_t *size, Error *err);
void tar_reader_free(TarReader *tr);

#endif
