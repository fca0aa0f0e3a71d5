/* Tar writer and reader over libarchive, bridged to our Sink/Reader stages by callbacks. */
#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hfsync/tar.h"
#include "hfsync/util.h"

/* libarchive reblocks output into blocks of this size; big enough that zstd sees few calls. */
#define TAR_BLOCK_SIZE (64 * 1024)
#define TAR_READ_BUF (256 * 1024)

struct TarWriter {
    struct archive *a;
    struct archive_entry *entry;
    Sink *out;
    Error cb_err; /* error from inside the write callback */
    bool cb_failed;
    bool closed;
    bool utf8; /* names are stored as UTF-8 pax records (the seed format) */
};

static pthread_once_t tar_locale_once = PTHREAD_ONCE_INIT;
static locale_t tar_locale;

static void tar_locale_init(void)
{
    tar_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* C.UTF-8 for LC_CTYPE, made once and kept for the process; 0 where the C library lacks it. */
static locale_t tar_utf8_locale(void)
{
    pthread_once(&tar_locale_once, tar_locale_init);
    return tar_locale;
}

static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *buf, size_t size)
{
    (void)a;
    TarWriter *tw = ctx;
    if (tw->out == NULL) /* abandoned (tar_writer_free): what libarchive flushes goes nowhere */
        return -1;
    if (!sink_write(tw->out, buf, size, &tw->cb_err)) {
        tw->cb_failed = true;
        return -1;
    }
    return (la_ssize_t)size;
}

static bool tar_writer_fail(TarWriter *tw, const char *what, Error *err)
{
    if (tw->cb_failed) {
        *err = tw->cb_err;
        return false;
    }
    return error_set(err, ERR_FAIL, "tar %s: %s", what, archive_error_string(tw->a));
}

/* `gzip_level` 0: a plain pax_restricted tar (native volumes carry times in the manifest);
 * 1..9: the seed format's tar.gz, full pax so nanosecond mtimes travel in the archive. */
static TarWriter *tar_writer_open(Sink *out, int gzip_level, Error *err)
{
    TarWriter *tw = x_calloc(1, sizeof(*tw));
    tw->out = out;
    tw->a = archive_write_new();
    tw->entry = archive_entry_new();
    if (tw->a == NULL || tw->entry == NULL) {
        error_set(err, ERR_NO_MEMORY, "cannot create a tar writer");
        tar_writer_free(tw);
        return NULL;
    }
    if (gzip_level == 0) {
        archive_write_set_format_pax_restricted(tw->a);
        /* Linux names are bytes: store them as they are, with no locale conversion (which
         * fails for UTF-8 names in the C locale containers usually run in). */
        archive_write_set_format_option(tw->a, "pax", "hdrcharset", "BINARY");
    } else {
        /* As Python's tarfile writes them: names as UTF-8 pax records (no "hdrcharset" record,
         * which GNU tar does not know), mtimes with their fraction. */
        archive_write_set_format_pax(tw->a);
        tw->utf8 = true;
        char level[12];
        snprintf(level, sizeof(level), "%d", gzip_level > 9 ? 9 : gzip_level);
        if (archive_write_add_filter_gzip(tw->a) != ARCHIVE_OK ||
            archive_write_set_filter_option(tw->a, "gzip", "compression-level", level) !=
                ARCHIVE_OK) {
            tar_writer_fail(tw, "gzip", err);
            tar_writer_free(tw);
            return NULL;
        }
    }
    archive_write_set_bytes_per_block(tw->a, TAR_BLOCK_SIZE);
    archive_write_set_bytes_in_last_block(tw->a, 1);
    if (archive_write_open2(tw->a, tw, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK) {
        tar_writer_fail(tw, "open", err);
        tar_writer_free(tw);
        return NULL;
    }
    return tw;
}

TarWriter *tar_writer_new(Sink *out, Error *err)
{
    return tar_writer_open(out, 0, err);
}

TarWriter *tar_writer_new_gzip(Sink *out, int level, Error *err)
{
    if (level < 1 || level > 9) {
        error_set(err, ERR_USAGE, "gzip level %d is not in 1..9", level);
        return NULL;
    }
    return tar_writer_open(out, level, err);
}

bool tar_writer_header(TarWriter *tw, const TarMember *m, Error *err)
{
    struct archive_entry *e = tw->entry;
    archive_entry_clear(e);
    archive_entry_set_pathname(e, m->name);
    archive_entry_set_mtime(e, (time_t)m->mtime, m->mtime_nsec);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    switch (m->type) {
    case TAR_FILE:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t)m->size);
        break;
    case TAR_DIR:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
    case TAR_SYMLINK:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, m->target);
        break;
    default:
        return error_set(err, ERR_FAIL, "tar: cannot write member '%s' of this type", m->name);
    }
    archive_entry_set_perm(e, m->mode & 07777);
    int rc;
    if (tw->utf8) {
        /* Names are bytes that are almost always UTF-8: convert them under a UTF-8 locale of
         * this thread's own, so valid ones become plain pax UTF-8 records. One that is not
         * valid UTF-8 is stored as its bytes with hdrcharset=BINARY for that member, which
         * libarchive reports as ARCHIVE_WARN: that is a success here. */
        locale_t loc = tar_utf8_locale();
        locale_t old = loc ? uselocale(loc) : (locale_t)0;
        rc = archive_write_header(tw->a, e);
        if (loc)
            uselocale(old);
        if (rc == ARCHIVE_WARN && !tw->cb_failed)
            rc = ARCHIVE_OK;
    } else {
        rc = archive_write_header(tw->a, e);
    }
    if (rc != ARCHIVE_OK)
        return tar_writer_fail(tw, "header", err);
    return true;
}

bool tar_writer_data(TarWriter *tw, const void *data, size_t size, Error *err)
{
    while (size > 0) {
        la_ssize_t n = archive_write_data(tw->a, data, size);
        if (n <= 0)
            return tar_writer_fail(tw, "write", err);
        data = (const uint8_t *)data + n;
        size -= (size_t)n;
    }
    return true;
}

bool tar_writer_close(TarWriter *tw, Error *err)
{
    tw->closed = true;
    if (archive_write_close(tw->a) != ARCHIVE_OK)
        return tar_writer_fail(tw, "close", err);
    return sink_finish(tw->out, err);
}

void tar_writer_free(TarWriter *tw)
{
    if (tw == NULL)
        return;
    if (tw->a != NULL) {
        if (!tw->closed) {
            /* Abandoned after a failure: do not let archive_write_free flush into the sink. */
            tw->cb_failed = true;
            tw->out = NULL;
        }
        archive_write_free(tw->a);
    }
    archive_entry_free(tw->entry);
    free(tw);
}

/* --- reader --------------------------------------------------------------------------------- */

struct TarReader {
    struct archive *a;
    Reader *in;
    int64_t next_offset; /* where the current member's next data block must start */
    char *name;          /* the current member's name, trailing '/' of directories removed */
    uint8_t *buf;
    Error cb_err;
    bool cb_failed;
};

static la_ssize_t tar_read_cb(struct archive *a, void *ctx, const void **buf)
{
    (void)a;
    TarReader *tr = ctx;
    ssize_t n = reader_read(tr->in, tr->buf, TAR_READ_BUF, &tr->cb_err);
    if (n < 0) {
        tr->cb_failed = true;
        return -1;
    }
    *buf = tr->buf;
    return n;
}

static int tar_reader_fail(TarReader *tr, const char *what, Error *err)
{
    if (tr->cb_failed)
        *err = tr->cb_err;
    else
        error_set(err, ERR_CORRUPT, "tar %s: %s", what, archive_error_string(tr->a));
    return -1;
}

static TarReader *tar_reader_open(Reader *in, bool gzip, Error *err)
{
    TarReader *tr = x_calloc(1, sizeof(*tr));
    tr->in = in;
    tr->buf = x_malloc(TAR_READ_BUF);
    tr->a = archive_read_new();
    if (tr->a == NULL) {
        error_set(err, ERR_NO_MEMORY, "cannot create a tar reader");
        tar_reader_free(tr);
        return NULL;
    }
    archive_read_support_format_tar(tr->a);
    if (gzip)
        archive_read_support_filter_gzip(tr->a);
    if (archive_read_open2(tr->a, tr, NULL, tar_read_cb, NULL, NULL) != ARCHIVE_OK) {
        tar_reader_fail(tr, "open", err);
        tar_reader_free(tr);
        return NULL;
    }
    /* Only gzip is accepted: bytes that merely look like a plain tar are not the seed format. */
    if (gzip && archive_filter_code(tr->a, 0) != ARCHIVE_FILTER_GZIP) {
        error_set(err, ERR_CORRUPT, "not a gzip stream");
        tar_reader_free(tr);
        return NULL;
    }
    return tr;
}

TarReader *tar_reader_new(Reader *in, Error *err)
{
    return tar_reader_open(in, false, err);
}

TarReader *tar_reader_new_gzip(Reader *in, Error *err)
{
    return tar_reader_open(in, true, err);
}

int tar_reader_next(TarReader *tr, TarMember *m, Error *err)
{
    struct archive_entry *e;
    int rc = archive_read_next_header(tr->a, &e);
    if (rc == ARCHIVE_EOF)
        return 0;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
        return tar_reader_fail(tr, "read", err);
    memset(m, 0, sizeof(*m));
    tr->next_offset = 0;
    /* Names are bytes as stored (hdrcharset=BINARY, or raw ustar names); UTF-8 pax names
     * (Python's tarfile) cannot be converted to the C locale and come as UTF-8 bytes instead. */
    m->name = archive_entry_pathname(e);
    if (m->name == NULL)
        m->name = archive_entry_pathname_utf8(e);
    if (m->name == NULL)
        m->name = "";
    m->mode = archive_entry_perm(e);
    m->mtime = archive_entry_mtime(e);
    m->mtime_nsec = archive_entry_mtime_nsec(e);
    m->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
    if (archive_entry_hardlink(e) != NULL) {
        m->type = TAR_HARDLINK;
        m->target = archive_entry_hardlink(e);
        if (m->target == NULL)
            m->target = archive_entry_hardlink_utf8(e);
        if (m->target == NULL)
            m->target = "";
        return 1;
    }
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        m->type = TAR_FILE;
        break;
    case AE_IFDIR: {
        /* ustar writers end directory names with '/'; the member's name is without it. */
        m->type = TAR_DIR;
        size_t len = strlen(m->name);
        if (len > 1 && m->name[len - 1] == '/') {
            free(tr->name);
            tr->name = x_strndup(m->name, len - 1);
            m->name = tr->name;
        }
        break;
    }
    case AE_IFLNK:
        m->type = TAR_SYMLINK;
        m->target = archive_entry_symlink(e);
        if (m->target == NULL)
            m->target = archive_entry_symlink_utf8(e);
        if (m->target == NULL)
            m->target = "";
        break;
    default:
        m->type = TAR_OTHER;
        break;
    }
    return 1;
}

int tar_reader_data(TarReader *tr, const void **data, size_t *size, Error *err)
{
    la_int64_t offset;
    int rc = archive_read_data_block(tr->a, data, size, &offset);
    if (rc == ARCHIVE_EOF)
        return 0;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
        return tar_reader_fail(tr, "read data", err);
    /* hfsync never writes sparse members; a hole in the data would misplace bytes. */
    if (offset != tr->next_offset) {
        error_set(err, ERR_CORRUPT, "tar member data is not contiguous (sparse member)");
        return -1;
    }
    tr->next_offset += (int64_t)*size;
    return 1;
}

void tar_reader_free(TarReader *tr)
{
    if (tr == NULL)
        return;
    if (tr->a != NULL)
        archive_read_free(tr->a);
    free(tr->name);
    free(tr->buf);
    free(tr);
}
