/*
 * The members objects of a checkpoint (checkpoint.h, docs/FORMAT.md §10): what each finished
 * volume of a backup in progress holds, written beside the volume in the manifest's format, and
 * read back by the backup that resumes it to adopt the volume. Both sides stream: the entries of
 * a volume and of the new backup stay in spools, so memory does not grow with them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

/* Members objects are small and written once: a fast level, one thread. */
#define MEMBERS_ZSTD_LEVEL 3

char *ckpt_members_name(const char *volume)
{
    const char *dot = strstr(volume, ".vol-");
    if (dot == NULL)
        return NULL;
    size_t digits = strspn(dot + 5, "0123456789");
    const char *rest = dot + 5 + digits;
    if (digits < 4 || (strcmp(rest, ".tar.zst") != 0 && strcmp(rest, ".tar.zst.enc") != 0))
        return NULL;
    return str_printf("%.*s.members.zst%s", (int)(rest - volume), volume,
                      strcmp(rest, ".tar.zst.enc") == 0 ? ".enc" : "");
}

bool ckpt_members_write(const Config *cfg, Storage *st, const CryptoKey *key, const Manifest *cur,
                        const char *backup, EntrySpool *members, const char *object,
                        char sha256[HASH_HEX_SIZE], uint64_t *size, Error *err)
{
    char *path = meta_object_path(cfg->prefix, object);
    Sink *store = storage_write_open(st, path, err), *hash = NULL, *enc = NULL, *z = NULL;
    bool ok = store != NULL;
    if (ok) {
        hash = hash_sink_new(store, HASH_SHA256);
        enc = key ? aead_sink_new(hash, key, object, NULL, err) : hash;
        z = enc ? zstd_sink_new(enc, MEMBERS_ZSTD_LEVEL, 1, err) : NULL;
        ok = z != NULL;
    }
    size_t count = members ? spool_count(members) : 0;
    ok = ok && manifest_write_header(backup, count, z, err) &&
         (members == NULL || spool_rewind(members, err));
    ManifestEntry e;
    int r = 0;
    while (ok && members != NULL && (r = spool_next(members, &e, err)) > 0)
        ok = manifest_write_entry(cur, &e, z, err);
    ok = ok && r == 0 && sink_finish(z, err);
    if (ok)
        hash_sink_result(hash, sha256, size);
    else
        error_prefix(err, "members '%s'", path);
    sink_free(z);
    if (enc != hash)
        sink_free(enc);
    sink_free(hash);
    sink_free(store);
    free(path);
    return ok;
}

/* --- adopting ----------------------------------------------------------------------------- */

typedef struct MembersReader {
    Reader *raw, *hash, *plain, *z;
    ManifestCursor *cursor;
} MembersReader;

static void members_close(MembersReader *m)
{
    manifest_cursor_free(m->cursor);
    reader_free(m->z);
    if (m->plain != m->hash)
        reader_free(m->plain);
    reader_free(m->hash);
    reader_free(m->raw);
    memset(m, 0, sizeof(*m));
}

static bool members_open(MembersReader *m, const Checkpoint *c, const CkptVolume *v, Storage *st,
                         const CryptoKey *key, Error *err)
{
    char *path = str_printf("%s%s", c->dir, v->members);
    memset(m, 0, sizeof(*m));
    m->raw = storage_read_open(st, path, 0, err);
    if (m->raw != NULL) {
        m->hash = hash_reader_new(m->raw, HASH_SHA256);
        m->plain = c->encrypted ? aead_reader_new(m->hash, key, v->members, err) : m->hash;
        m->z = m->plain ? zstd_reader_new(m->plain, err) : NULL;
        m->cursor = m->z ? manifest_cursor_open(m->z, err) : NULL;
    }
    bool ok = m->cursor != NULL;
    if (ok && strcmp(manifest_cursor_backup(m->cursor), c->name) != 0)
        ok = error_set(err, ERR_CORRUPT, "it belongs to backup '%s'",
                       manifest_cursor_backup(m->cursor));
    if (!ok) {
        error_prefix(err, "members '%s'", path);
        members_close(m);
    }
    free(path);
    return ok;
}

/* After the cursor's end: the object's bytes, to their end, are the ones recorded. */
static bool members_end_ok(MembersReader *m, const CkptVolume *v)
{
    uint8_t tail[256];
    ssize_t n;
    Error e = {0};
    while ((n = reader_read(m->hash, tail, sizeof(tail), &e)) > 0)
        ;
    char hex[HASH_HEX_SIZE];
    uint64_t size = 0;
    hash_reader_result(m->hash, hex, &size);
    return n == 0 && size == v->members_size && strcmp(hex, v->members_sha256) == 0;
}

/* Whether entry `e` of this backup can take member `m`'s place as it was stored. */
static bool members_fit(const ManifestEntry *e, const ManifestEntry *m, const char *mref,
                        const Checkpoint *c, uint32_t number, bool full)
{
    if ((!full && !(e->flags & ENTRY_CHANGED)) || (e->flags & (ENTRY_GONE | ENTRY_ADOPTED)))
        return false;
    if (strcmp(mref, c->name) != 0 || (m->type == ENTRY_FILE && m->volume != number))
        return false;
    return manifest_entry_same(e, m) && e->mtime_nsec == m->mtime_nsec && m->mtime != 0;
}

typedef struct AdoptPass {
    uint64_t files, bytes, matched;
    bool fits; /* every member fitted */
} AdoptPass;

/* One pass over the spool against the volume's members, both in manifest order: each member
 * must be an entry this backup stores, unchanged; those entries are marked adopted. False only
 * when the spool fails. */
static bool adopt_pass(const Checkpoint *c, const CkptVolume *v, uint32_t number, Storage *st,
                       const CryptoKey *key, const Manifest *cur, EntrySpool *spool, uint16_t self,
                       bool full, AdoptPass *out, Error *err)
{
    memset(out, 0, sizeof(*out));
    MembersReader mr;
    Error merr = {0};
    if (!members_open(&mr, c, v, st, key, &merr)) {
        log_info("checkpoint: volume %s is written again: %s", v->info.name, merr.msg);
        return true;
    }
    ManifestEntry m, e;
    const char *msrc = NULL, *mref = NULL;
    int mr_next = manifest_cursor_next(mr.cursor, &m, &msrc, &mref, &merr);
    int r = spool_rewind(spool, err) ? 1 : -1;
    bool fits = mr_next >= 0;
    while (fits && mr_next > 0 && (r = spool_next(spool, &e, err)) > 0) {
        int cmp = strcmp(cur->sources[e.source], msrc);
        if (cmp == 0)
            cmp = manifest_path_cmp(e.path, m.path);
        if (cmp < 0)
            continue;
        if (cmp > 0 || !members_fit(&e, &m, mref, c, number, full)) {
            fits = false;
            break;
        }
        e.flags |= ENTRY_ADOPTED;
        e.ref = self;
        e.volume = number; /* directories too: adopt_undo finds them by it */
        if (e.type == ENTRY_FILE) {
            e.flags |= ENTRY_HASHED;
            memcpy(e.hash, m.hash, HASH_SIZE);
            out->files++;
            out->bytes += e.size;
        }
        if (!spool_update(spool, &e, err)) {
            r = -1;
            break;
        }
        out->matched++;
        mr_next = manifest_cursor_next(mr.cursor, &m, &msrc, &mref, &merr);
        fits = mr_next >= 0;
    }
    if (r >= 0 && fits && mr_next > 0) /* the spool ended first: a member is not stored now */
        fits = false;
    out->fits =
        r >= 0 && fits && mr_next == 0 && out->matched == v->info.entries && members_end_ok(&mr, v);
    if (merr.code != ERR_NONE)
        log_info("checkpoint: volume %s is written again: %s", v->info.name, merr.msg);
    else if (!out->fits)
        log_debug("checkpoint: volume %s is written again: its entries changed since",
                  v->info.name);
    members_close(&mr);
    return r >= 0;
}

/* Undo a pass that did not fit: its entries are stored again. */
static bool adopt_undo(EntrySpool *spool, uint32_t number, Error *err)
{
    ManifestEntry e;
    int r;
    if (!spool_rewind(spool, err))
        return false;
    while ((r = spool_next(spool, &e, err)) > 0) {
        if (!(e.flags & ENTRY_ADOPTED) || e.volume != number) /* not, or by an earlier one */
            continue;
        e.flags &= (uint8_t) ~(ENTRY_ADOPTED | ENTRY_HASHED);
        if (!spool_update(spool, &e, err))
            return false;
    }
    return r == 0;
}

bool checkpoint_adopt(const Checkpoint *c, Storage *st, const CryptoKey *key, const Manifest *cur,
                      EntrySpool *spool, uint16_t self, bool full, VolumeInfo **vinfo,
                      size_t *vcount, uint64_t *files, uint64_t *bytes, size_t *adopted, Error *err)
{
    *adopted = 0;
    for (; *adopted < c->volume_count; (*adopted)++) {
        const CkptVolume *v = &c->volumes[*adopted];
        uint32_t number = (uint32_t)(*vcount + 1);
        /* The name this backup gives the volume, and the object as recorded. */
        char *want =
            str_printf("%s.vol-%04u.tar.zst%s", c->name, number, c->encrypted ? ".enc" : "");
        char *path = str_printf("%s%s", c->dir, want);
        StorageInfo info = {0};
        Error ierr = {0};
        bool there = strcmp(want, v->info.name) == 0 && storage_info(st, path, &info, &ierr) &&
                     info.exists && info.size == v->info.size;
        free(want);
        free(path);
        if (!there) /* gone or different: written again, with everything after it */
            break;
        AdoptPass pass;
        if (!adopt_pass(c, v, number, st, key, cur, spool, self, full, &pass, err))
            return false;
        if (!pass.fits) { /* something changed since: this volume and the rest are redone */
            if (pass.matched > 0 && !adopt_undo(spool, number, err))
                return false;
            break;
        }
        *files += pass.files;
        *bytes += pass.bytes;
        *vinfo = x_realloc(*vinfo, (*vcount + 1) * sizeof(VolumeInfo));
        VolumeInfo *out = &(*vinfo)[(*vcount)++];
        *out = v->info;
        out->name = x_strdup(v->info.name);
    }
    log_info("resuming backup %s from its checkpoint: %zu of its %zu volume%s kept, the rest is "
             "written again",
             c->name, *adopted, c->volume_count, c->volume_count == 1 ? "" : "s");
    return true;
}
