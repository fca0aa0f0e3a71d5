/*
 * The terminal sink of a seed-format backup (seed.intern.h): one object "<name>", or `split -b`
 * parts "<name>.part-aa", "-ab", … of exactly volume_size bytes each but the last, as the
 * original script uploads them (reference/seed-format.md "Encryption and splitting").
 *
 * Whether there will be parts is known only once the archive grows past volume_size, and objects
 * cannot be renamed on every target, so the first volume_size bytes go to an unlinked temporary
 * file; when more arrive they are uploaded as part-aa and the rest streams straight to the
 * target, part by part; when the archive ends first they are uploaded under the plain name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/util.h"
#include "seed.intern.h"

#define SPLIT_COPY_SIZE (1024 * 1024)

typedef struct SplitSink {
    Sink base;
    Storage *st;
    char *prefix, *name;
    uint64_t volume_size;
    int spool;        /* the first volume_size bytes; -1 once uploaded as part-aa */
    uint64_t spooled; /* bytes in the spool */
    unsigned parts;   /* parts opened so far (0 while spooling) */
    Sink *cur;        /* the part being written, NULL between parts */
    uint64_t cur_size;
    char **volumes; /* finished, in order */
    size_t volume_count;
    char **written; /* opened for writing */
    size_t written_count;
    uint8_t *buf;
    bool finished;
} SplitSink;

static void split_part_name(const SplitSink *s, unsigned index, char *out, size_t cap)
{
    snprintf(out, cap, "%s.part-%c%c", s->name, 'a' + index / 26, 'a' + index % 26);
}

/* Open object `object` for writing (recorded for cleanup). */
static Sink *split_open(SplitSink *s, const char *object, Error *err)
{
    char *path = meta_object_path(s->prefix, object);
    Sink *out = storage_write_open(s->st, path, err);
    if (out == NULL)
        error_prefix(err, "volume '%s'", object);
    s->written = x_realloc(s->written, (s->written_count + 1) * sizeof(char *));
    s->written[s->written_count++] = path;
    return out;
}

static void split_done(SplitSink *s, const char *object)
{
    s->volumes = x_realloc(s->volumes, (s->volume_count + 1) * sizeof(char *));
    s->volumes[s->volume_count++] = x_strdup(object);
}

/* Upload the spool as `object`. */
static bool split_upload_spool(SplitSink *s, const char *object, Error *err)
{
    Sink *out = split_open(s, object, err);
    if (out == NULL)
        return false;
    bool ok = true;
    for (uint64_t off = 0; ok && off < s->spooled;) {
        size_t want =
            s->spooled - off < SPLIT_COPY_SIZE ? (size_t)(s->spooled - off) : SPLIT_COPY_SIZE;
        ssize_t n = pread(s->spool, s->buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            ok = n < 0 ? error_sys(err, "read the spooled archive")
                       : error_set(err, ERR_IO, "the spooled archive is shorter than written");
        else
            ok = sink_write(out, s->buf, (size_t)n, err);
        off += n > 0 ? (uint64_t)n : 0;
    }
    ok = ok && sink_finish(out, err);
    sink_free(out);
    if (!ok)
        return error_prefix(err, "volume '%s'", object);
    split_done(s, object);
    close(s->spool);
    s->spool = -1;
    return true;
}

static bool split_close_part(SplitSink *s, Error *err)
{
    char object[512];
    split_part_name(s, s->parts - 1, object, sizeof(object));
    bool ok = sink_finish(s->cur, err);
    sink_free(s->cur);
    s->cur = NULL;
    if (!ok)
        return error_prefix(err, "volume '%s'", object);
    split_done(s, object);
    return true;
}

static bool split_next_part(SplitSink *s, Error *err)
{
    if (s->parts >= SEED_MAX_PARTS)
        return error_set(err, ERR_FAIL,
                         "the archive needs more than %d parts of %llu bytes, the most the "
                         "script's two-letter part names allow",
                         SEED_MAX_PARTS, (unsigned long long)s->volume_size) ||
               error_hint(err, "raise HFSYNC_VOLUME_SIZE");
    char object[512];
    split_part_name(s, s->parts, object, sizeof(object));
    s->cur = split_open(s, object, err);
    if (s->cur == NULL)
        return false;
    s->parts++;
    s->cur_size = 0;
    return true;
}

static bool split_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    SplitSink *s = (SplitSink *)sink;
    while (size > 0) {
        size_t n;
        if (s->spool >= 0) {
            uint64_t room = s->volume_size - s->spooled;
            if (room == 0) { /* more than one volume: the spool becomes part-aa */
                char object[512];
                split_part_name(s, 0, object, sizeof(object));
                if (!split_upload_spool(s, object, err))
                    return false;
                s->parts = 1;
                continue;
            }
            n = size < room ? size : (size_t)room;
            if (!fs_write_all(s->spool, data, n))
                return error_sys(err, "spool the archive in the work directory");
            s->spooled += n;
        } else {
            if (s->cur != NULL && s->cur_size == s->volume_size && !split_close_part(s, err))
                return false;
            if (s->cur == NULL && !split_next_part(s, err))
                return false;
            uint64_t room = s->volume_size - s->cur_size;
            n = size < room ? size : (size_t)room;
            if (!sink_write(s->cur, data, n, err))
                return false;
            s->cur_size += n;
        }
        data += n;
        size -= n;
    }
    return true;
}

static bool split_finish(Sink *sink, Error *err)
{
    SplitSink *s = (SplitSink *)sink;
    if (s->finished)
        return true;
    bool ok = s->spool >= 0    ? split_upload_spool(s, s->name, err)
              : s->cur != NULL ? split_close_part(s, err)
                               : true;
    s->finished = ok;
    return ok;
}

static void split_free(Sink *sink)
{
    SplitSink *s = (SplitSink *)sink;
    sink_free(s->cur); /* unfinished: discarded */
    if (s->spool >= 0)
        close(s->spool);
    for (size_t i = 0; i < s->volume_count; i++)
        free(s->volumes[i]);
    free(s->volumes);
    for (size_t i = 0; i < s->written_count; i++)
        free(s->written[i]);
    free(s->written);
    free(s->prefix);
    free(s->name);
    free(s->buf);
    free(s);
}

static const SinkOps split_ops = {split_write, split_finish, split_free};

Sink *seed_split_new(Storage *st, const char *prefix, const char *name, uint64_t volume_size,
                     const char *work_dir, Error *err)
{
    if (volume_size == 0) {
        error_set(err, ERR_USAGE, "the volume size is 0");
        return NULL;
    }
    if (!fs_mkdir_p(work_dir, 0700, err))
        return NULL;
    char *tmpl = path_join(work_dir, "seed-spool-XXXXXX");
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        error_sys(err, "create a spool file in '%s'", work_dir);
        free(tmpl);
        return NULL;
    }
    unlink(tmpl); /* gone with the process, whatever happens */
    free(tmpl);
    SplitSink *s = x_calloc(1, sizeof(*s));
    s->base.ops = &split_ops;
    s->st = st;
    s->prefix = x_strdup(prefix);
    s->name = x_strdup(name);
    s->volume_size = volume_size;
    s->spool = fd;
    s->buf = x_malloc(SPLIT_COPY_SIZE);
    return &s->base;
}

char *const *seed_split_volumes(Sink *sink, size_t *count)
{
    SplitSink *s = (SplitSink *)sink;
    *count = s->volume_count;
    return s->volumes;
}

char *const *seed_split_written(Sink *sink, size_t *count)
{
    SplitSink *s = (SplitSink *)sink;
    *count = s->written_count;
    return s->written;
}
