/*
 * hfsync verify for the original script's backups: the volumes its .meta.json lists exist and
 * add up to its archive_size; with --deep the archive is read through as a restore would read
 * it (checksum, decryption with the configured passwords, gzip, tar, member names), writing
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "seed.intern.h"

static bool seed_verify_deep(const Config *cfg, Storage *st, const BackupMeta *meta, Error *err)
{
    SeedArchive *a = seed_archive_open(cfg, st, meta, err);
    if (a == NULL)
        return false;
    TarReader *tr = seed_archive_tar(a);
    uint64_t members = 0;
    bool ok = true;
    for (;;) {
        TarMember m;
        int rc = tar_reader_next(tr, &m, err);
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        if (!seed_member_check(m.name, err) ||
            (m.type == TAR_HARDLINK && !seed_member_check(m.target, err))) {
            ok = false;
            break;
        }
        members++;
    }
    if (ok)
        ok = seed_archive_finish(a, err);
    else
        seed_archive_diagnose(a, err);
    seed_archive_free(a);
    if (ok)
        log_debug("verify %s: %llu members", meta->name, (unsigned long long)members);
    return ok;
}

bool seed_verify(const Config *cfg, Storage *st, const BackupMeta *meta, bool deep, Error *err)
{
    uint64_t total = 0;
    for (size_t i = 0; i < meta->volume_count; i++) {
        char *path = meta_sibling_path(meta, meta->volumes[i]);
        StorageInfo info;
        bool ok = storage_info(st, path, &info, err);
        if (ok && !info.exists)
            ok = error_set(err, ERR_CORRUPT, "'%s' is missing", path);
        free(path);
        if (!ok)
            return false;
        total += info.size;
    }
    if (meta->archive_size > 0 && total != meta->archive_size)
        return error_set(err, ERR_CORRUPT,
                         "its volumes hold %llu bytes, its .meta.json records %llu",
                         (unsigned long long)total, (unsigned long long)meta->archive_size);
    return !deep || seed_verify_deep(cfg, st, meta, err);
}
