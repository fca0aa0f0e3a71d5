/*
 * hfsync backup: scan, compare with the previous manifest, write the changed entries into
 * tar+zstd volumes, then the manifest, then the .meta.json, then the pointer — in that order, so
 * the pointer only ever names a backup whose every object is in place. On failure, objects this
 * run wrote are removed (best effort) and the pointer is untouched. With a password, volumes and
 * manifest are encrypted (docs/FORMAT.md §8) under one key per chain.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.intern.h"
#include "checkpoint.h"
#include "hfsync/agent.h"
#include "hfsync/chain.h"
#include "hfsync/log.h"
#include "hfsync/spool.h"
#include "hfsync/tar.h"
#include "hfsync/util.h"
#include "seed.intern.h"

#define BACKUP_READ_SIZE (1024 * 1024)
#define BACKUP_WRITE_BUF (1024 * 1024)
#define BACKUP_WRITE_BUFS 4
/* The scanned entries stay in memory up to this much (about 150,000 entries), then go to a file in
 * HFSYNC_WORK_DIR: memory does not grow with the tree. */
size_t backup_spool_memory = 16 * 1024 * 1024;

typedef struct BackupCtx {
    const Config *cfg;
    Storage *st;
    Manifest *cur;     /* the new manifest's string tables (sources, refs); no entries */
    EntrySpool *spool; /* its entries, in manifest order */
    uint64_t gone;     /* entries that vanished before they could be stored */
    BackupDiff diff;
    const char *name;
    uint16_t self_ref;

    /* The volume pipeline: tar -> zstd -> [writer thread] (encrypt) -> volume hash -> storage. */
    const CryptoKey *key; /* the backup's key when it is encrypted, else NULL */
    Sink *zstd;
    Sink *async;
    Sink *aead; /* with a key: the encrypting stage, restarted for every volume */
    Sink *vol_hash;
    Sink *timer; /* measures the time spent in `out`: uploading */
    Hasher *content;
    Sink *out;
    TarWriter *tw;
    uint32_t volume;      /* number of the open volume, 0 when none is open */
    uint64_t volume_size; /* the strategy's */
    uint64_t vol_files, vol_entries;
    CheckpointWriter *ckw; /* this backup's checkpoint */
    bool commits;          /* writes are commits (the Hub) */
    bool full;             /* every entry is stored, not only the changed ones */

    VolumeInfo *vinfo;
    size_t vcount;
    char **written; /* object paths written so far, for cleanup on failure */
    size_t written_count;
    const BackupOpts *opts;
    bool confirmed; /* BackupOpts.before_write said yes: the objects written are this backup's */

    uint8_t *buf;
    Progress progress;
    uint64_t stored_files, stored_bytes, uploaded, warnings;
    int64_t upload_ns; /* of the manifest; the volumes' is b->timer's */
} BackupCtx;

static void backup_note_written(BackupCtx *b, const char *path)
{
    b->written = x_realloc(b->written, (b->written_count + 1) * sizeof(char *));
    b->written[b->written_count++] = x_strdup(path);
}

/* Object names of an encrypted backup end in ".enc" (docs/FORMAT.md §8). */
static char *backup_volume_name(const BackupCtx *b, uint32_t number)
{
    return str_printf("%s.vol-%04u.tar.zst%s", b->name, number, b->key ? ".enc" : "");
}

static bool backup_volume_open(BackupCtx *b, Error *err)
{
    b->volume++;
    char *obj = backup_volume_name(b, b->volume);
    char *path = meta_object_path(b->cfg->prefix, obj);
    bool ok = false;
    b->out = storage_write_open(b->st, path, err);
    if (b->out == NULL)
        goto out;
    backup_note_written(b, path);
    /* The writer thread is idle between volumes: its stages can be pointed at the next one. */
    timer_sink_restart(b->timer, b->out);
    hash_sink_restart(b->vol_hash, b->timer);
    if (b->aead != NULL && !aead_sink_restart(b->aead, b->vol_hash, obj, err))
        goto out;
    zstd_sink_restart(b->zstd, b->async);
    b->tw = tar_writer_new(b->zstd, err);
    b->vol_files = b->vol_entries = 0;
    ok = b->tw != NULL;
out:
    free(obj);
    free(path);
    return ok || error_prefix(err, "volume %u", b->volume);
}

/* The writer lease (BackupOpts.before_write) is confirmed before anything this backup writes
 * becomes visible: an object appears only when its write finishes (file: renamed into place;
 * S3: PutObject or CompleteMultipartUpload; the Hub: committed), so the lease's settle pause runs
 * under the scan and the first volume's compression instead of before them. Until it is
 * confirmed nothing on the target is this backup's: a writer that lost the race for the lease
 * (and perhaps for the same backup name) removes nothing on failure (backup_cleanup). */
static bool backup_confirm(BackupCtx *b, Error *err)
{
    if (!b->confirmed && b->opts->before_write != NULL &&
        !b->opts->before_write(b->opts->before_write_ctx, true, err))
        return false;
    b->confirmed = true;
    return true;
}

static bool backup_volume_close(BackupCtx *b, Error *err)
{
    if (!backup_confirm(b, err))
        return false; /* b->tw and b->out stay for backup_run's cleanup, which aborts them */
    bool ok = tar_writer_close(b->tw, err);
    tar_writer_free(b->tw);
    b->tw = NULL;
    if (!ok) /* b->out stays until the writer thread is stopped (backup_run's cleanup) */
        return error_prefix(err, "volume %u", b->volume);
    sink_free(b->out);
    b->out = NULL;
    b->vinfo = x_realloc(b->vinfo, (b->vcount + 1) * sizeof(VolumeInfo));
    VolumeInfo *v = &b->vinfo[b->vcount++];
    memset(v, 0, sizeof(*v));
    v->name = backup_volume_name(b, b->volume);
    hash_sink_result(b->vol_hash, v->sha256, &v->size);
    v->files = b->vol_files;
    v->entries = b->vol_entries;
    b->uploaded += v->size;
    checkpoint_volume_done(b->ckw, v);
    log_debug("volume %s: %llu entries, %llu bytes", v->name, (unsigned long long)v->entries,
              (unsigned long long)v->size);
    return true;
}

static void backup_member_name(const BackupCtx *b, const ManifestEntry *e, char *out, size_t cap)
{
    const char *src = b->cur->sources[e->source];
    if (strcmp(e->path, ".") == 0)
        snprintf(out, cap, "%s", src);
    else
        snprintf(out, cap, "%s/%s", src, e->path);
}

static const char *backup_source_path(const BackupCtx *b, const ManifestEntry *e)
{
    const char *name = b->cur->sources[e->source];
    for (size_t i = 0; i < b->cfg->source_count; i++)
        if (strcmp(b->cfg->sources[i].name, name) == 0)
            return b->cfg->sources[i].path;
    return NULL;
}

static int backup_open_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    return fd;
}

/* Store one regular file. Its size is fixed by the tar header before the content is read, so
 * a file that changes while being read is stored as far as it was read (zero-padded if it
 * shrank) and recorded with mtime 0, which makes the next backup store it again. */
static bool backup_file(BackupCtx *b, ManifestEntry *e, const char *local, const char *member,
                        Error *err)
{
    int fd = backup_open_file(local);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        if (errno == ENOENT || errno == ELOOP || (fd >= 0))
            log_warn("'%s' vanished or changed type before it could be read; not in this backup",
                     local);
        else
            log_warn("cannot read '%s': %s; not in this backup", local, strerror(errno));
        e->flags |= ENTRY_GONE;
        b->warnings++;
        return true;
    }
    if ((uint64_t)sb.st_size != e->size || sb.st_mtim.tv_sec != e->mtime ||
        sb.st_mtim.tv_nsec != e->mtime_nsec) {
        /* Changed between the walk and now: record what we are about to read. */
        e->size = (uint64_t)sb.st_size;
        e->mtime = sb.st_mtim.tv_sec;
        e->mtime_nsec = (int32_t)sb.st_mtim.tv_nsec;
        e->mode = sb.st_mode & 07777;
    }
    TarMember m = {.name = member,
                   .type = TAR_FILE,
                   .mode = e->mode,
                   .mtime = e->mtime,
                   .mtime_nsec = e->mtime_nsec,
                   .size = e->size};
    if (!tar_writer_header(b->tw, &m, err)) {
        close(fd);
        return error_prefix(err, "'%s'", local);
    }
    hasher_reset(b->content);
    uint64_t left = e->size;
    bool short_read = false;
    while (left > 0) {
        size_t want = left < BACKUP_READ_SIZE ? (size_t)left : BACKUP_READ_SIZE;
        ssize_t n = short_read ? 0 : read(fd, b->buf, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("error reading '%s': %s; storing what was read", local, strerror(errno));
            short_read = true;
            continue;
        }
        if (n == 0) {
            short_read = true;
            memset(b->buf, 0, want);
            n = (ssize_t)want;
        }
        hasher_update(b->content, b->buf, (size_t)n);
        if (!tar_writer_data(b->tw, b->buf, (size_t)n, err)) {
            close(fd);
            return error_prefix(err, "'%s'", local);
        }
        left -= (uint64_t)n;
        b->stored_bytes += (uint64_t)n;
    }
    struct stat after;
    bool changed = fstat(fd, &after) != 0 || after.st_size != sb.st_size ||
                   after.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
                   after.st_mtim.tv_nsec != sb.st_mtim.tv_nsec;
    close(fd);
    if (short_read || changed) {
        log_warn("'%s' changed while it was being read; this backup holds a possibly "
                 "inconsistent copy and the next backup stores it again",
                 local);
        e->mtime = 0;
        e->mtime_nsec = 0;
        b->warnings++;
    }
    hasher_final(b->content, e->hash);
    e->volume = b->volume;
    e->flags |= ENTRY_HASHED;
    b->stored_files++;
    b->vol_files++;
    return true;
}

/* Store the entries the diff marked, in manifest order, recording in the spool where each went. */
static bool backup_entries(BackupCtx *b, Error *err)
{
    char member[PATH_MAX + 256];
    char local[PATH_MAX * 2];
    ManifestEntry entry, *e = &entry;
    int r;
    if (!spool_rewind(b->spool, err))
        return false;
    while ((r = spool_next(b->spool, e, err)) > 0) {
        if ((!b->full && !(e->flags & ENTRY_CHANGED)) || (e->flags & ENTRY_ADOPTED))
            continue;
        e->ref = b->self_ref;
        if (b->tw == NULL && !backup_volume_open(b, err)) /* opened lazily, when needed */
            return false;
        backup_member_name(b, e, member, sizeof(member));
        const char *root = backup_source_path(b, e);
        if (strcmp(e->path, ".") == 0)
            snprintf(local, sizeof(local), "%s", root);
        else
            snprintf(local, sizeof(local), "%s/%s", root, e->path);

        if (e->type == ENTRY_FILE) {
            if (!backup_file(b, e, local, member, err))
                return error_prefix(err, "volume %u", b->volume);
            if (b->vol_files == 1)
                checkpoint_test_crash("inside", b->volume);
        } else {
            TarMember m = {.name = member,
                           .type = e->type == ENTRY_DIR ? TAR_DIR : TAR_SYMLINK,
                           .mode = e->mode,
                           .mtime = e->mtime,
                           .mtime_nsec = e->mtime_nsec,
                           .target = e->target};
            if (!tar_writer_header(b->tw, &m, err))
                return error_prefix(err, "volume %u: '%s'", b->volume, local);
        }
        if (e->flags & ENTRY_GONE) {
            b->gone++;
        } else {
            b->vol_entries++;
            if (!checkpoint_member(b->ckw, e, err))
                return false;
        }
        if (!spool_update(b->spool, e, err))
            return false;
        progress_update(&b->progress, b->stored_files, b->stored_bytes);
        if (zstd_sink_produced(b->zstd) >= b->volume_size) {
            if (!backup_volume_close(b, err) ||
                !checkpoint_save(b->ckw, b->st, b->commits, false, b->cur, err))
                return false;
            checkpoint_test_crash("volume", b->volume);
        }
    }
    if (r < 0)
        return false;
    /* The last volume is checkpointed too, but not on the Hub (its commit follows at once). */
    if (b->tw != NULL &&
        (!backup_volume_close(b, err) ||
         (!b->commits && !checkpoint_save(b->ckw, b->st, false, false, b->cur, err))))
        return false;
    return true;
}

/* Write the manifest, from the spool, straight to the target (a copy goes to the cache). */
static bool backup_manifest(BackupCtx *b, BackupMeta *meta, Error *err)
{
    if (!backup_confirm(b, err)) /* a backup without volumes: only deletions */
        return false;
    int64_t t0 = time_monotonic_ns();
    char *path = meta_object_path(b->cfg->prefix, meta->manifest_name);
    ManifestCacheCopy *copy = NULL;
    Sink *store = storage_write_open(b->st, path, err), *tee = NULL, *hash = NULL, *enc = NULL;
    size_t entries = spool_count(b->spool) - b->gone;
    ManifestEntry e;
    int r = 1;
    bool ok = store != NULL;
    if (ok) {
        backup_note_written(b, path);
        copy = manifest_cache_copy_open(b->cfg, meta->manifest_name);
        tee = copy ? tee_sink_new(store, manifest_cache_copy_fd(copy)) : NULL;
        hash = hash_sink_new(tee ? tee : store, HASH_SHA256);
        enc = b->key ? aead_sink_new(hash, b->key, meta->manifest_name, NULL, err) : NULL;
        ok = b->key == NULL || enc != NULL;
    }
    if (ok) {
        zstd_sink_restart(b->zstd, enc ? enc : hash);
        ok = manifest_write_header(b->cur->backup, entries, b->zstd, err) &&
             spool_rewind(b->spool, err);
    }
    while (ok && (r = spool_next(b->spool, &e, err)) > 0)
        if (!(e.flags & ENTRY_GONE))
            ok = manifest_write_entry(b->cur, &e, b->zstd, err);
    ok = ok && r == 0 && sink_finish(b->zstd, err);
    if (ok) {
        hash_sink_result(hash, meta->manifest_sha256, &meta->manifest_size);
        meta->manifest_entries = entries;
        b->uploaded += meta->manifest_size;
    } else {
        error_prefix(err, "manifest '%s'", path);
    }
    if (tee != NULL && !tee_sink_copy_ok(tee))
        log_warn("cache: cannot write the copy of '%s': %s", path, strerror(errno));
    manifest_cache_copy_close(copy, ok && tee != NULL && tee_sink_copy_ok(tee));
    sink_free(enc);
    sink_free(hash);
    sink_free(tee);
    sink_free(store);
    free(path);
    b->upload_ns += time_monotonic_ns() - t0;
    return ok;
}

static void backup_cleanup(BackupCtx *b)
{
    if (b->written_count == 0 || !b->confirmed)
        return;
    Error e = {0};
    /* Newest first: the .meta.json (if written) goes before what it names. */
    for (size_t i = b->written_count; i-- > 0;) {
        const char *p = b->written[i];
        if (!storage_delete(b->st, &p, 1, &e))
            log_warn("could not remove '%s' of the failed backup: %s", p, e.msg);
    }
}

static bool backup_unique_name(BackupCtx *b, int64_t start, bool full, char *name, size_t cap,
                               Error *err)
{
    for (int i = 0; i < 100000; i++) {
        char stamp[20];
        time_stamp(start + i, stamp);
        snprintf(name, cap, "%s%c", stamp, full ? 'F' : 'I');
        char *path = meta_path_for(b->cfg->prefix, name);
        StorageInfo info;
        bool ok = storage_info(b->st, path, &info, err);
        free(path);
        if (!ok)
            return false;
        if (!info.exists)
            return true;
    }
    return error_set(err, ERR_FAIL, "cannot find a free backup name");
}

bool backup_run(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err)
{
    if (cfg->format == FORMAT_SEED && opts->dry_run)
        return error_set(err, ERR_USAGE, "--dry-run is not available with HFSYNC_FORMAT=seed");
    if (cfg->format == FORMAT_SEED) /* the original script's format (seed_backup.c) */
        return (opts->before_write == NULL ||
                opts->before_write(opts->before_write_ctx, true, err)) &&
               seed_backup_run(cfg, opts, res, err);
    int64_t t0 = time_monotonic_ns();
    int64_t start = agent_now(cfg);
    memset(res, 0, sizeof(*res));
    if (cfg->source_count == 0)
        return error_set(err, ERR_USAGE, "nothing to back up: no source is configured") ||
               error_hint(err, "set HFSYNC_SOURCES=name:/path (or HFSYNC_SOURCE=/path)");

    BackupCtx b;
    memset(&b, 0, sizeof(b));
    b.cfg = cfg;
    char *latest = NULL, *latest_tag = NULL;
    BackupMeta *prev = NULL;
    ManifestStream *prev_manifest = NULL;
    BackupMeta meta;
    memset(&meta, 0, sizeof(meta));
    char name[64];
    bool ok = false, committed = false;
    const char *why_full = NULL;
    CryptoKey *key = NULL;
    KeyJob *key_job = NULL;
    CryptoParams cipher;
    memset(&cipher, 0, sizeof(cipher));
    Checkpoint *ckpt = NULL;

    b.st = storage_open(cfg, &cfg->target, err);
    if (b.st == NULL)
        return false;
    if (!pointer_read_tagged(b.st, &latest, &latest_tag, err)) {
        if (!opts->full || err->code != ERR_CORRUPT) {
            if (err->code == ERR_CORRUPT)
                error_hint(err, "'hfsync backup --full' starts a new chain and rewrites it");
            goto out;
        }
        /* --full needs nothing from the old chain: a new pointer replaces the broken one. */
        log_warn("%s; --full replaces it", err->msg);
        error_clear(err);
    }
    if (latest != NULL && !opts->full) {
        prev = meta_load(b.st, latest, err);
        if (prev == NULL) {
            error_hint(err, "the latest backup cannot be read; 'hfsync backup --full' starts a "
                            "new chain without it");
            goto out;
        }
    }
    if (!backup_check_encryption(cfg, prev, err))
        goto out;
    /* Fulls the strategy cannot overrule; the others are its choice (strategy.h). */
    if (opts->full)
        why_full = "--full was given";
    else if (prev == NULL)
        why_full = "no backup exists yet";
    else if (!prev->native)
        why_full = "the latest backup was written by the original script";
    else if (cfg->password != NULL && !prev->encrypted)
        why_full = "encryption was turned on";
    /* An unfinished backup planned while the pointer named what it names now is resumed when
     * this backup makes the same plan (checkpoint.h); its kind is known after the scan. */
    ckpt = checkpoint_find(cfg, b.st, latest, why_full != NULL ? CHECKPOINT_FULL : CHECKPOINT_ANY,
                           cfg->password != NULL, start);
    /* scrypt runs on its own thread while the sources are scanned. */
    bool reuse_key = why_full == NULL && prev->encrypted;
    if (cfg->password != NULL)
        key_job = key_job_start(cfg->password, reuse_key ? &prev->cipher
                                               : ckpt    ? checkpoint_cipher(ckpt)
                                                         : NULL);

    b.cur = manifest_new("");
    b.spool = spool_new(cfg->work_dir, backup_spool_memory);
    ScanStats scan;
    if (!scan_walk(cfg, b.cur, backup_diff_spool_add, b.spool, &scan, err))
        goto out;
    if (key_job != NULL) {
        key = backup_key_finish(cfg, key_job, prev, reuse_key, &cipher, &why_full, &ckpt, err);
        key_job = NULL;
        if (key == NULL)
            goto out;
        reuse_key = reuse_key && why_full == NULL; /* not after a password change */
    }
    if (why_full == NULL) {
        prev_manifest = manifest_stream_open(cfg, b.st, prev, key, err);
        if (prev_manifest == NULL) {
            error_prefix(err, "previous backup '%s'", prev->name);
            error_hint(err, "'hfsync backup --full' starts a new chain without it");
            goto out;
        }
    }
    if (!backup_diff(b.cur, b.spool, prev_manifest, &b.diff, err)) {
        if (b.diff.prev_failed) {
            error_prefix(err, "previous backup '%s'", prev->name);
            error_hint(err, "'hfsync backup --full' starts a new chain without it");
        }
        goto out;
    }
    if (!backup_check_sources(cfg, b.cur, spool_count(b.spool), &b.diff, err))
        goto out;

    const StrategyChanges *changes = &b.diff.changes;
    StrategyDecision plan;
    backup_plan(cfg, opts, prev, changes, why_full, start, &plan);
    bool full = plan.action == STRATEGY_FULL;
    if (opts->dry_run || plan.action == STRATEGY_SKIP) {
        if (opts->dry_run)
            backup_plan_print(&plan, changes, stdout);
        else if (opts->before_write != NULL &&
                 !opts->before_write(opts->before_write_ctx, false, err))
            goto out; /* another writer holds the target: not a skip of this machine's */
        else if (plan.skip_counts)
            backup_skips_save(cfg, prev->path, backup_skips_load(cfg, prev->path) + 1);
        res->skipped = plan.skip_counts;
        res->duration_ms = (time_monotonic_ns() - t0) / 1000000;
        if (prev != NULL)
            snprintf(res->meta_path, sizeof(res->meta_path), "%s", prev->path);
        ok = true;
        goto out;
    }
    b.opts = opts;
    if (ckpt != NULL && checkpoint_full(ckpt) != full) { /* planned otherwise */
        checkpoint_free(ckpt);
        ckpt = NULL;
    }
    /* Resuming takes over (and on failure removes) another run's objects: not before the
     * lease is confirmed. Otherwise the first volume's end confirms it (backup_confirm). */
    if (ckpt != NULL && !backup_confirm(&b, err))
        goto out;
    if (full && reuse_key) { /* the strategy starts a new chain: under a new key */
        crypto_key_free(key);
        key = backup_key_new(cfg, &ckpt, &cipher, err);
        if (key == NULL)
            goto out;
    }
    b.key = key;
    b.volume_size = plan.volume_size;
    if (ckpt != NULL) {
        snprintf(name, sizeof(name), "%s", checkpoint_name(ckpt));
        start = checkpoint_started(ckpt);
    } else if (!backup_unique_name(&b, start, full, name, sizeof(name), err)) {
        goto out;
    }
    b.name = name;
    free(b.cur->backup);
    b.cur->backup = x_strdup(name);
    b.self_ref = manifest_ref_index(b.cur, name);

    uint64_t added = full ? changes->total_entries : changes->added;
    uint64_t changed = full ? 0 : changes->changed, deleted = full ? 0 : changes->deleted;
    b.full = full;
    size_t adopted = 0;
    if (ckpt != NULL &&
        !checkpoint_adopt(ckpt, b.st, key, b.cur, b.spool, b.self_ref, full, &b.vinfo, &b.vcount,
                          &b.stored_files, &b.stored_bytes, &adopted, err))
        goto out;
    b.volume = (uint32_t)adopted;
    log_debug("backup %s (%s): %llu added, %llu changed, %llu deleted of %llu entries", name,
              full ? "full" : "incremental", (unsigned long long)added, (unsigned long long)changed,
              (unsigned long long)deleted, (unsigned long long)changes->total_entries);

    /* Where writes are published by commits (the Hub), everything below is one commit. */
    if (!storage_begin(b.st, err))
        goto out;
    b.commits = cfg->target.kind == TARGET_HF;
    b.ckw = checkpoint_writer_new(cfg, name, latest, full, start, key ? &cipher : NULL, key, ckpt,
                                  adopted, b.commits ? cfg->keep.checkpoint_interval_sec : 0);
    if (!checkpoint_begin(b.ckw, b.st, b.commits, b.cur, err))
        goto out;
    int threads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    b.timer = timer_sink_new(NULL);
    b.vol_hash = hash_sink_new(b.timer, HASH_SHA256);
    if (key != NULL) {
        char *first = backup_volume_name(&b, 1);
        b.aead = aead_sink_new(b.vol_hash, key, first, NULL, err);
        free(first);
        if (b.aead == NULL)
            goto out;
    }
    b.async =
        async_sink_new(b.aead ? b.aead : b.vol_hash, BACKUP_WRITE_BUF, BACKUP_WRITE_BUFS, err);
    if (b.async == NULL)
        goto out;
    b.zstd = zstd_sink_new(b.async, plan.level, threads, err);
    if (b.zstd == NULL)
        goto out;
    b.content = hasher_new(HASH_CONTENT);
    b.buf = x_malloc(BACKUP_READ_SIZE);
    progress_begin(&b.progress, cfg, "backup", full ? changes->total_files : changes->store_files,
                   full ? changes->total_bytes : changes->bytes);
    if (!backup_entries(&b, err)) {
        error_prefix(err, "backup %s", name);
        goto out;
    }
    if (zstd_sink_fast_input(b.zstd) > 0)
        log_debug("%llu MiB of input looked incompressible: compressed at level 3, not %d",
                  (unsigned long long)(zstd_sink_fast_input(b.zstd) >> 20), plan.level);

    /* The meta: every field of the original format, plus ours. */
    meta.name = name;
    meta.version = "3.0";
    meta.full = full;
    char chain_id[9];
    if (full) {
        uint8_t rnd[4];
        RAND_bytes(rnd, sizeof(rnd));
        hex_encode(rnd, sizeof(rnd), chain_id);
        meta.chain_id = chain_id;
        meta.last_full = start;
    } else {
        meta.chain_id = prev->chain_id;
        meta.parent = prev->path;
        meta.incremental_count = prev->incremental_count + 1;
        meta.last_full = prev->last_full;
    }
    meta.created = start;
    meta.volume_count = b.vcount;
    meta.volumes = x_calloc(b.vcount + 1, sizeof(char *));
    for (size_t i = 0; i < b.vcount; i++)
        meta.volumes[i] = b.vinfo[i].name;
    meta.vinfo = b.vinfo;
    /* The checksum hashes the list of volume hashes, not the volumes again (docs/FORMAT.md). */
    Hasher *list = hasher_new(HASH_SHA256);
    for (size_t i = 0; i < b.vcount; i++) {
        hasher_update(list, b.vinfo[i].sha256, strlen(b.vinfo[i].sha256));
        hasher_update(list, "\n", 1);
    }
    char all_hex[HASH_HEX_SIZE];
    hasher_final_hex(list, all_hex);
    hasher_free(list);
    char checksum[80];
    snprintf(checksum, sizeof(checksum), "sha256:%s", all_hex);
    meta.checksum = checksum;
    meta.file_count = b.stored_files;
    for (size_t i = 0; i < b.vcount; i++)
        meta.archive_size += b.vinfo[i].size;
    backup_chain_sizes(full ? NULL : prev, &meta);
    meta.compression_level = plan.level;
    meta.sources = x_calloc(cfg->source_count + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->source_count; i++)
        meta.sources[meta.source_count++] = cfg->sources[i].name;
    char manifest_name[96];
    snprintf(manifest_name, sizeof(manifest_name), "%s.manifest.zst%s", name, key ? ".enc" : "");
    meta.manifest_name = manifest_name;
    meta.encrypted = key != NULL;
    if (key != NULL) {
        meta.encryption_algorithm = "AES-256-GCM";
        meta.cipher = cipher;
    }
    meta.bytes_source = scan.bytes;
    meta.bytes_stored = b.stored_bytes;
    meta.added = added;
    meta.changed = changed;
    meta.deleted = deleted;

    if (!backup_manifest(&b, &meta, err)) {
        error_prefix(err, "backup %s", name);
        goto out;
    }
    meta.duration_ms = (time_monotonic_ns() - t0) / 1000000;
    meta.upload_rate =
        backup_upload_rate(prev, b.uploaded, timer_sink_elapsed_ns(b.timer) + b.upload_ns);
    char *meta_path = meta_path_for(cfg->prefix, name);
    char *json = meta_to_json(&meta);
    meta.bytes_uploaded = b.uploaded + strlen(json);
    free(json);
    json = meta_to_json(&meta);
    backup_note_written(&b, meta_path);
    ok = storage_put(b.st, meta_path, json, strlen(json), err);
    free(json);
    bool vetoed = false; /* the before_commit hook said no: the pointer was not touched */
    if (ok && opts->before_commit != NULL &&
        !opts->before_commit(opts->before_commit_ctx, b.st, err)) {
        ok = false;
        vetoed = true;
        error_prefix(err, "backup %s", name);
    }
    if (ok) {
        checkpoint_test_crash("pointer", 1);
        if (b.commits) { /* the checkpoint goes in the backup's own commit */
            checkpoint_remove(b.ckw, b.st);
            checkpoint_drop_surplus(b.ckw, b.st, b.vcount, key != NULL);
        }
        /* Only over the pointer this backup was planned against: two writers never move it
         * over each other unnoticed. */
        ok = pointer_write_if(b.st, meta_path,
                              cfg->target.repo_id ? cfg->target.repo_id : cfg->target.url, true,
                              latest_tag, err);
        if (ok) {
            if (opts->in_commit != NULL)
                opts->in_commit(opts->commit_ctx, b.st);
            char summary[128];
            snprintf(summary, sizeof(summary), "hfsync backup %s (%s)", name,
                     full ? "full" : "incremental");
            ok = storage_commit(b.st, summary, err);
            if (ok && opts->after_commit != NULL)
                opts->after_commit(opts->commit_ctx, b.st);
        }
        if (!ok && err->code == ERR_CONFLICT)
            error_hint(err, "another writer made a backup on this target while this one ran; "
                            "this backup's objects are removed, run it again");
    } else if (!vetoed) {
        error_prefix(err, "backup %s: metadata '%s'", name, meta_path);
    }
    if (!ok && !vetoed) {
        /* The pointer's outcome is unknown (e.g. renamed into place, then the directory fsync
         * failed): if it names this backup, its objects must stay. */
        char *now = NULL;
        Error perr = {0};
        if (pointer_read(b.st, &now, &perr) && now != NULL && strcmp(now, meta_path) == 0) {
            log_warn("%s; but the pointer names backup %s, so it stands", err->msg, name);
            error_clear(err);
            ok = true;
        }
        free(now);
    }
    if (ok)
        snprintf(res->meta_path, sizeof(res->meta_path), "%s", meta_path);
    free(meta_path);
    if (!ok)
        goto out;
    committed = true; /* the pointer names it: nothing to clean up */
    if (!b.commits) {
        checkpoint_remove(b.ckw, b.st);
        checkpoint_drop_surplus(b.ckw, b.st, b.vcount, key != NULL);
    }

    res->created = true;
    snprintf(res->name, sizeof(res->name), "%s", name);
    res->full = full;
    res->files = b.stored_files;
    res->stored_bytes = b.stored_bytes;
    res->uploaded_bytes = meta.bytes_uploaded;
    res->volumes = b.vcount;
    res->added = added;
    res->changed = changed;
    res->deleted = deleted;
    res->warnings = b.warnings;
    res->duration_ms = (time_monotonic_ns() - t0) / 1000000;
    char stored_h[32], up_h[32];
    size_human(b.stored_bytes, stored_h);
    size_human(meta.bytes_uploaded, up_h);
    log_info("backup %s done: %llu files (%s) in %zu volume%s, %s written, %.1f s%s", name,
             (unsigned long long)b.stored_files, stored_h, b.vcount, b.vcount == 1 ? "" : "s", up_h,
             (double)res->duration_ms / 1000.0, b.warnings ? " (with warnings, see above)" : "");
out:
    if (!ok && !committed) {
        storage_abort(b.st);
        checkpoint_remove(b.ckw, b.st); /* first: it must never list a volume that is gone */
        backup_cleanup(&b);
    }
    checkpoint_writer_free(b.ckw);
    checkpoint_free(ckpt);
    for (size_t i = 0; i < b.written_count; i++)
        free(b.written[i]);
    free(b.written);
    tar_writer_free(b.tw);
    sink_free(b.async); /* joins the writer thread before what it writes into goes */
    sink_free(b.out);
    sink_free(b.zstd);
    sink_free(b.aead);
    sink_free(b.vol_hash);
    sink_free(b.timer);
    if (key_job != NULL) { /* a failed scan: the thread still runs */
        Error ignored = {0};
        crypto_key_free(key_job_finish(key_job, NULL, &ignored));
    }
    crypto_key_free(key);
    hasher_free(b.content);
    free(b.buf);
    for (size_t i = 0; i < b.vcount; i++)
        free(b.vinfo[i].name);
    free(b.vinfo);
    free(meta.volumes);
    free(meta.sources);
    manifest_free(b.cur);
    spool_free(b.spool);
    backup_diff_clear(&b.diff);
    manifest_stream_free(prev_manifest);
    meta_free(prev);
    free(latest);
    free(latest_tag);
    storage_free(b.st);
    return ok;
}
