/*
 * hfsync backup with HFSYNC_FORMAT=seed: a backup the original OpenClaw script can restore
 * (reference/seed-format.md), written as it writes one: a tar.gz of the archive roots, optionally
 * `openssl enc -aes-256-cbc -salt -pbkdf2` encrypted, cut into `split -b` parts when larger than
 * the volume size, its .meta.json with the script's fields and checksum (the sha256 of the archive
 * as uploaded), then latest-backup.json, last. An incremental holds what the script's rule
 * records: files (and symlinks to files) modified since the previous backup's time, plus the
 * extra files every time; never deletions. On failure the objects written are removed and the
 * pointer is untouched.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfsync/crypto.h"
#include "hfsync/log.h"
#include "hfsync/strategy.h"
#include "hfsync/util.h"
#include "seed.intern.h"

#define SEED_READ_SIZE (1024 * 1024)
#define SEED_WRITE_BUF (1024 * 1024)
#define SEED_WRITE_BUFS 4

typedef struct SeedWriter {
    const Config *cfg;
    Manifest *m;
    TarWriter *tw;
    uint8_t *buf;
    Progress progress;
    uint64_t members, files, bytes, warnings;
} SeedWriter;

static const char *seed_source_path(const SeedWriter *w, const ManifestEntry *e)
{
    const char *name = w->m->sources[e->source];
    for (size_t i = 0; i < w->cfg->source_count; i++)
        if (strcmp(w->cfg->sources[i].name, name) == 0)
            return w->cfg->sources[i].path;
    return NULL;
}

static void seed_local_path(const SeedWriter *w, const ManifestEntry *e, char *out, size_t cap)
{
    const char *root = seed_source_path(w, e);
    if (strcmp(e->path, ".") == 0)
        snprintf(out, cap, "%s", root);
    else
        snprintf(out, cap, "%s/%s", root, e->path);
}

/* One regular file (*stored false when it vanished first). The tar header fixes the size before
 * the content is read: a file that shrinks meanwhile is zero-padded, one that grows is cut. */
static bool seed_write_file(SeedWriter *w, const char *local, const char *member, bool *stored,
                            Error *err)
{
    *stored = false;
    int fd = open(local, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        log_warn("'%s' vanished or changed type before it could be read; not in this backup",
                 local);
        if (fd >= 0)
            close(fd);
        w->warnings++;
        return true;
    }
    TarMember m = {.name = member,
                   .type = TAR_FILE,
                   .mode = sb.st_mode & 07777,
                   .mtime = sb.st_mtim.tv_sec,
                   .mtime_nsec = sb.st_mtim.tv_nsec,
                   .size = (uint64_t)sb.st_size};
    if (!tar_writer_header(w->tw, &m, err)) {
        close(fd);
        return error_prefix(err, "'%s'", local);
    }
    uint64_t left = m.size;
    bool short_read = false;
    while (left > 0) {
        size_t want = left < SEED_READ_SIZE ? (size_t)left : SEED_READ_SIZE;
        ssize_t n = short_read ? 0 : read(fd, w->buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            short_read = true;
            memset(w->buf, 0, want);
            n = (ssize_t)want;
        }
        if (!tar_writer_data(w->tw, w->buf, (size_t)n, err)) {
            close(fd);
            return error_prefix(err, "'%s'", local);
        }
        left -= (uint64_t)n;
        w->bytes += (uint64_t)n;
    }
    close(fd);
    if (short_read) {
        log_warn("'%s' shrank while it was being read; stored zero-padded", local);
        w->warnings++;
    }
    w->files++;
    *stored = true;
    return true;
}

static bool seed_write_entries(SeedWriter *w, Error *err)
{
    char member[PATH_MAX + 256];
    char local[PATH_MAX * 2];
    for (size_t i = 0; i < w->m->count; i++) {
        ManifestEntry *e = &w->m->entries[i];
        if (!(e->flags & ENTRY_CHANGED))
            continue;
        const char *src = w->m->sources[e->source];
        if (strcmp(e->path, ".") == 0)
            snprintf(member, sizeof(member), "%s", src);
        else
            snprintf(member, sizeof(member), "%s/%s", src, e->path);
        seed_local_path(w, e, local, sizeof(local));
        if (e->type == ENTRY_FILE) {
            bool stored;
            if (!seed_write_file(w, local, member, &stored, err))
                return false;
            if (!stored) {
                e->flags &= (uint8_t)~ENTRY_CHANGED; /* not in the archive */
                continue;
            }
        } else {
            TarMember m = {.name = member,
                           .type = e->type == ENTRY_DIR ? TAR_DIR : TAR_SYMLINK,
                           .mode = e->mode,
                           .mtime = e->mtime,
                           .mtime_nsec = e->mtime_nsec,
                           .target = e->target};
            if (!tar_writer_header(w->tw, &m, err))
                return error_prefix(err, "'%s'", local);
        }
        w->members++;
        progress_update(&w->progress, w->files, w->bytes);
    }
    return true;
}

/*
 * Mark what goes into the archive (ENTRY_CHANGED): everything for a full backup; for an
 * incremental the script's rule, files modified at or after `since` (the previous backup's
 * second; "at" too, so a change in that same second is never missed), symlinks whose target is
 * such a file, and the extra files (roots that are files) always. Returns how many entries
 * changed, not counting the extra files.
 */
static uint64_t seed_select(SeedWriter *w, bool full, int64_t since)
{
    uint64_t changed = 0;
    char local[PATH_MAX * 2];
    for (size_t i = 0; i < w->m->count; i++) {
        ManifestEntry *e = &w->m->entries[i];
        bool pick = full, extra = e->type == ENTRY_FILE && strcmp(e->path, ".") == 0;
        if (!full && extra) {
            pick = true;
        } else if (!full && e->type == ENTRY_FILE) {
            pick = e->mtime >= since;
        } else if (!full && e->type == ENTRY_SYMLINK) {
            struct stat sb;
            seed_local_path(w, e, local, sizeof(local));
            pick = stat(local, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_mtim.tv_sec >= since;
        }
        if (pick) {
            e->flags |= ENTRY_CHANGED;
            if (!extra)
                changed++;
        }
    }
    return changed;
}

static bool seed_unique_name(const Config *cfg, Storage *st, int64_t start, const char *suffix,
                             char *name, size_t cap, int64_t *stamp_time, Error *err)
{
    for (int i = 0; i < 100000; i++) {
        char stamp[20];
        time_stamp(start + i, stamp);
        snprintf(name, cap, SEED_NAME_PREFIX "%s%s", stamp, suffix);
        char *path = meta_path_for(cfg->prefix, name);
        StorageInfo info;
        bool ok = storage_info(st, path, &info, err);
        free(path);
        if (!ok)
            return false;
        if (!info.exists) {
            *stamp_time = start + i;
            return true;
        }
    }
    return error_set(err, ERR_FAIL, "cannot find a free backup name");
}

typedef struct SeedMeta {
    bool full;
    const char *chain_id, *parent, *checksum;
    char *const *volumes;
    size_t volume_count;
    int64_t created, last_full;
    uint64_t file_count, archive_size;
    int64_t incremental_count;
    bool encrypted;
} SeedMeta;

/* The script's .meta.json, field for field (reference/seed-format.md ".meta.json"). */
static char *seed_meta_json(const SeedMeta *s)
{
    char t[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", SEED_META_VERSION);
    cJSON_AddStringToObject(o, "backup_type", s->full ? "full" : "incremental");
    cJSON_AddStringToObject(o, "chain_id", s->chain_id);
    if (s->parent != NULL)
        cJSON_AddStringToObject(o, "parent", s->parent);
    else
        cJSON_AddNullToObject(o, "parent");
    cJSON *vols = cJSON_AddArrayToObject(o, "volumes");
    for (size_t i = 0; i < s->volume_count; i++)
        cJSON_AddItemToArray(vols, cJSON_CreateString(s->volumes[i]));
    cJSON_AddStringToObject(o, "checksum", s->checksum);
    time_iso8601(s->created, t);
    cJSON_AddStringToObject(o, "created_at_utc", t);
    cJSON_AddStringToObject(o, "last_backup_time", t);
    cJSON_AddNumberToObject(o, "file_count", (double)s->file_count);
    cJSON_AddNumberToObject(o, "archive_size", (double)s->archive_size);
    cJSON_AddBoolToObject(o, "is_latest", 1);
    cJSON_AddStringToObject(o, "created_by", "hfsync");
    cJSON_AddNumberToObject(o, "incremental_count", (double)s->incremental_count);
    time_iso8601(s->last_full, t);
    cJSON_AddStringToObject(o, "last_full_backup_time", t);
    if (s->encrypted) {
        cJSON_AddBoolToObject(o, "encrypted", 1);
        cJSON_AddStringToObject(o, "encryption_algorithm", SEED_CIPHER_NAME);
    }
    cJSON_AddBoolToObject(o, "is_split", s->volume_count > 1);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *out = x_strdup(text);
    cJSON_free(text);
    return out;
}

/* The archive: tar.gz -> [openssl enc] -> [writer thread] sha256 -> volumes. */
typedef struct SeedPipe {
    Sink *split, *hash, *async, *enc;
} SeedPipe;

static void seed_pipe_free(SeedPipe *p)
{
    sink_free(p->enc);
    sink_free(p->async); /* joins the writer thread before what it writes into goes */
    sink_free(p->hash);
    sink_free(p->split);
}

static bool seed_archive_write(const Config *cfg, Storage *st, SeedWriter *w, const char *name,
                               SeedPipe *p, char checksum[80], uint64_t *archive_size, Error *err)
{
    /* The strategy's dynamic choices are the native format's; "auto" is its fixed default. */
    uint64_t volume = cfg->volume_size > 0 ? cfg->volume_size : STRATEGY_DEFAULT_VOLUME_SIZE;
    p->split = seed_split_new(st, cfg->prefix, name, volume, cfg->work_dir, err);
    if (p->split == NULL)
        return false;
    p->hash = hash_sink_new(p->split, HASH_SHA256);
    p->async = async_sink_new(p->hash, SEED_WRITE_BUF, SEED_WRITE_BUFS, err);
    if (p->async == NULL)
        return false;
    if (cfg->password != NULL) {
        OpensslEncOpts o = {.iterations = cfg->seed_iterations};
        p->enc = openssl_enc_sink_new(p->async, cfg->password, &o, err);
        if (p->enc == NULL)
            return false;
    }
    int level = cfg->compression_level < 1   ? STRATEGY_DEFAULT_LEVEL
                : cfg->compression_level > 9 ? 9
                                             : cfg->compression_level;
    w->tw = tar_writer_new_gzip(p->enc ? p->enc : p->async, level, err);
    if (w->tw == NULL)
        return false;
    bool ok = seed_write_entries(w, err) && tar_writer_close(w->tw, err);
    tar_writer_free(w->tw);
    w->tw = NULL;
    if (!ok)
        return false;
    char hex[HASH_HEX_SIZE];
    hash_sink_result(p->hash, hex, archive_size);
    snprintf(checksum, 80, "sha256:%s", hex);
    return true;
}

static void seed_cleanup(Storage *st, SeedPipe *p, const char *meta_path)
{
    Error e = {0};
    /* The .meta.json (if written) goes before what it names. */
    if (meta_path != NULL && !storage_delete(st, &meta_path, 1, &e))
        log_warn("could not remove '%s' of the failed backup: %s", meta_path, e.msg);
    size_t n = 0;
    char *const *written = p->split ? seed_split_written(p->split, &n) : NULL;
    for (size_t i = n; i-- > 0;) {
        const char *path = written[i];
        if (!storage_delete(st, &path, 1, &e))
            log_warn("could not remove '%s' of the failed backup: %s", path, e.msg);
    }
}

bool seed_backup_run(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err)
{
    int64_t t0 = time_monotonic_ns();
    int64_t start = time_now_ns() / 1000000000;
    memset(res, 0, sizeof(*res));
    if (cfg->source_count == 0)
        return error_set(err, ERR_USAGE, "nothing to back up: no source is configured") ||
               error_hint(err, "set HFSYNC_SOURCES=name:/path (or HFSYNC_SOURCE=/path)");
    Storage *st = storage_open(cfg, &cfg->target, err);
    if (st == NULL)
        return false;
    char *latest = NULL, *latest_tag = NULL, *meta_path = NULL;
    BackupMeta *prev = NULL;
    SeedWriter w = {.cfg = cfg};
    SeedPipe pipe = {0};
    bool ok = false, meta_written = false;
    const char *why_full = NULL;
    char name[64];

    if (!pointer_read_tagged(st, &latest, &latest_tag, err)) {
        if (!opts->full || err->code != ERR_CORRUPT) {
            if (err->code == ERR_CORRUPT)
                error_hint(err, "'hfsync backup --full' starts a new chain and rewrites it");
            goto out;
        }
        log_warn("%s; --full replaces it", err->msg);
        error_clear(err);
    }
    if (latest != NULL && !opts->full) {
        prev = meta_load(st, latest, err);
        if (prev == NULL) {
            error_hint(err, "the latest backup cannot be read; 'hfsync backup --full' starts a "
                            "new chain without it");
            goto out;
        }
    }
    if (opts->full)
        why_full = "--full was given";
    else if (prev == NULL)
        why_full = "no backup exists yet";
    else if (prev->native)
        why_full = "the latest backup is in hfsync's native format";
    else if (prev->incremental_count >= cfg->max_incrementals)
        why_full = "the chain reached HFSYNC_MAX_INCREMENTALS";
    bool full = why_full != NULL;

    w.m = manifest_new("");
    ScanStats scan;
    if (!scan_sources(cfg, w.m, &scan, err))
        goto out;
    if (w.m->count == 0) {
        error_set(err, ERR_FAIL,
                  "none of the configured sources exists; refusing to record an "
                  "empty state");
        error_hint(err, "check HFSYNC_SOURCES and that the directories are mounted");
        goto out;
    }
    uint64_t changed = seed_select(&w, full, full ? 0 : prev->created);
    if (!full && changed == 0) {
        log_info("backup: no file changed since %s (%llu files checked); no backup made (the "
                 "script's format records changed files only)",
                 prev->name, (unsigned long long)scan.files);
        snprintf(res->meta_path, sizeof(res->meta_path), "%s", prev->path);
        res->duration_ms = (time_monotonic_ns() - t0) / 1000000;
        ok = true;
        goto out;
    }
    int64_t created = start;
    if (!seed_unique_name(cfg, st, start, cfg->password ? ".tar.gz.enc" : ".tar.gz", name,
                          sizeof(name), &created, err))
        goto out;
    log_info("backup %s (seed format, %s%s%s%s): %llu entries", name, full ? "full" : "incremental",
             full ? ": " : "", full ? why_full : "", cfg->password ? ", encrypted" : "",
             (unsigned long long)changed);

    /* Where writes are published by commits (the Hub), the whole backup is one commit. */
    if (!storage_begin(st, err))
        goto out;
    w.buf = x_malloc(SEED_READ_SIZE);
    progress_begin(&w.progress, cfg, "backup", scan.files, scan.bytes);
    char checksum[80];
    uint64_t archive_size = 0;
    if (!seed_archive_write(cfg, st, &w, name, &pipe, checksum, &archive_size, err)) {
        error_prefix(err, "backup %s", name);
        goto out;
    }
    size_t volume_count = 0;
    char *const *volumes = seed_split_volumes(pipe.split, &volume_count);
    char chain_id[9];
    SeedMeta sm = {.full = full,
                   .checksum = checksum,
                   .volumes = volumes,
                   .volume_count = volume_count,
                   .created = created,
                   .archive_size = archive_size,
                   .encrypted = cfg->password != NULL};
    /* file_count: every member but directories (files and symlinks), as the script counts. */
    uint64_t dirs = 0;
    for (size_t i = 0; i < w.m->count; i++)
        if ((w.m->entries[i].flags & ENTRY_CHANGED) && w.m->entries[i].type == ENTRY_DIR)
            dirs++;
    sm.file_count = w.members - dirs;
    if (full) {
        uint8_t rnd[4];
        RAND_bytes(rnd, sizeof(rnd));
        hex_encode(rnd, sizeof(rnd), chain_id);
        sm.chain_id = chain_id;
        sm.last_full = created;
    } else {
        sm.chain_id = prev->chain_id;
        sm.parent = prev->path;
        sm.incremental_count = prev->incremental_count + 1;
        sm.last_full = prev->last_full;
    }
    meta_path = meta_path_for(cfg->prefix, name);
    char *json = seed_meta_json(&sm);
    meta_written = true; /* from here on, cleanup removes it (a failed put leaves nothing) */
    ok = storage_put(st, meta_path, json, strlen(json), err);
    free(json);
    if (!ok) {
        error_prefix(err, "backup %s: metadata '%s'", name, meta_path);
        goto out;
    }
    if (opts->before_commit != NULL && !opts->before_commit(opts->before_commit_ctx, st, err)) {
        ok = false;
        error_prefix(err, "backup %s", name);
        goto out;
    }
    ok =
        pointer_write_if(st, meta_path, cfg->target.repo_id ? cfg->target.repo_id : cfg->target.url,
                         true, latest_tag, err);
    if (ok) {
        char summary[160];
        snprintf(summary, sizeof(summary), "hfsync backup %s (seed format, %s)", name,
                 full ? "full" : "incremental");
        ok = storage_commit(st, summary, err);
    }
    if (!ok && err->code == ERR_CONFLICT)
        error_hint(err, "another writer made a backup on this target while this one ran; this "
                        "backup's objects are removed, run it again");
    if (!ok) {
        /* The pointer's outcome may be unknown: if it names this backup, its objects stay. */
        char *now = NULL;
        Error perr = {0};
        if (pointer_read(st, &now, &perr) && now != NULL && strcmp(now, meta_path) == 0) {
            log_warn("%s; but the pointer names backup %s, so it stands", err->msg, name);
            error_clear(err);
            ok = true;
        }
        free(now);
        if (!ok)
            goto out;
    }
    meta_written = false; /* committed: nothing to clean up */
    res->created = true;
    snprintf(res->name, sizeof(res->name), "%s", name);
    snprintf(res->meta_path, sizeof(res->meta_path), "%s", meta_path);
    res->full = full;
    res->files = w.files;
    res->stored_bytes = w.bytes;
    res->uploaded_bytes = archive_size;
    res->volumes = volume_count;
    res->added = changed;
    res->warnings = w.warnings;
    res->duration_ms = (time_monotonic_ns() - t0) / 1000000;
    char stored_h[32], up_h[32];
    size_human(w.bytes, stored_h);
    size_human(archive_size, up_h);
    log_info("backup %s done: %llu files (%s) in %zu volume%s, %s written, %.1f s%s", name,
             (unsigned long long)w.files, stored_h, volume_count, volume_count == 1 ? "" : "s",
             up_h, (double)res->duration_ms / 1000.0,
             w.warnings ? " (with warnings, see above)" : "");
out:
    tar_writer_free(w.tw);
    if (!ok)
        storage_abort(st);
    if (!ok && (meta_written || pipe.split != NULL)) {
        sink_free(pipe.async); /* stop the writer thread before removing what it wrote */
        pipe.async = NULL;
        seed_cleanup(st, &pipe, meta_written ? meta_path : NULL);
    }
    seed_pipe_free(&pipe);
    free(w.buf);
    manifest_free(w.m);
    meta_free(prev);
    free(meta_path);
    free(latest);
    free(latest_tag);
    storage_free(st);
    return ok;
}
