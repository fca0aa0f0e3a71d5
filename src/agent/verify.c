/*
 * hfsync verify: every object a backup needs exists with its recorded size; with --deep, every
 * volume and manifest is read, its sha256 checked, and every file in it checked against the
 * manifest's content hash — without writing anything. An encrypted backup is decrypted (every
 * record authenticated) with the configured passwords; with none configured, --deep checks the
 * sha256 of its stored objects only, which needs no password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.intern.h"
#include "hfsync/chain.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "seed.intern.h"

#define VERIFY_READ_SIZE (256 * 1024)

static bool verify_object(Storage *st, const BackupMeta *m, const char *object, uint64_t size,
                          Error *err)
{
    char *path = meta_sibling_path(m, object);
    StorageInfo info;
    bool ok = storage_info(st, path, &info, err);
    if (ok && !info.exists)
        ok = error_set(err, ERR_CORRUPT, "'%s' is missing", path);
    else if (ok && info.size != size)
        ok = error_set(err, ERR_CORRUPT, "'%s' has %llu bytes, the backup recorded %llu", path,
                       (unsigned long long)info.size, (unsigned long long)size);
    free(path);
    return ok;
}

/* Read an object whole and compare its size and sha256 with the backup's record. */
static bool verify_stored(Storage *st, const BackupMeta *m, const char *object, uint64_t size,
                          const char *sha256, Error *err)
{
    char *path = meta_sibling_path(m, object);
    Reader *raw = storage_read_open(st, path, 0, err);
    Reader *hash = raw ? hash_reader_new(raw, HASH_SHA256) : NULL;
    uint8_t *buf = x_malloc(VERIFY_READ_SIZE);
    ssize_t n = hash ? 0 : -1;
    while (hash && (n = reader_read(hash, buf, VERIFY_READ_SIZE, err)) > 0)
        ;
    bool ok = n == 0;
    if (ok) {
        char hex[HASH_HEX_SIZE];
        uint64_t got;
        hash_reader_result(hash, hex, &got);
        if (got != size || strcmp(hex, sha256) != 0)
            ok = error_set(err, ERR_CORRUPT,
                           "'%s' has %llu bytes with sha256 %.12s…, the backup recorded %llu "
                           "bytes with sha256 %.12s…",
                           path, (unsigned long long)got, hex, (unsigned long long)size, sha256);
    } else {
        if (err->code == ERR_NOT_FOUND)
            err->code = ERR_CORRUPT;
        error_prefix(err, "'%s'", path);
    }
    free(buf);
    reader_free(hash);
    reader_free(raw);
    free(path);
    return ok;
}

static bool verify_one(const Config *cfg, Storage *st, Keyring *kr, const BackupMeta *m, bool deep,
                       Error *err)
{
    Chain chain = {0};
    if (!chain_resolve(st, m->path, &chain, err))
        return false;
    chain_free(&chain);
    if (!m->native) /* the original script's format */
        return seed_verify(cfg, st, m, deep, err);
    if (!verify_object(st, m, m->manifest_name, m->manifest_size, err))
        return false;
    for (size_t i = 0; i < m->volume_count; i++)
        if (!verify_object(st, m, m->vinfo[i].name, m->vinfo[i].size, err))
            return false;
    if (!deep)
        return true;
    if (m->encrypted && cfg->password == NULL && cfg->old_password_count == 0) {
        bool ok = verify_stored(st, m, m->manifest_name, m->manifest_size, m->manifest_sha256, err);
        for (size_t i = 0; ok && i < m->volume_count; i++)
            ok = verify_stored(st, m, m->vinfo[i].name, m->vinfo[i].size, m->vinfo[i].sha256, err);
        if (ok)
            log_warn("verify %s: encrypted and no password is set: checked the size and sha256 of "
                     "every object, not the files inside (set HFSYNC_PASSWORD for that)",
                     m->name);
        return ok;
    }
    const CryptoKey *key = NULL;
    if (!keyring_open(kr, m, &key, err))
        return false;
    /* Every entry checked as the manifest streams by; then each volume merge-joined with the
     * files the manifest says it holds (files of earlier backups are theirs to verify). */
    RestoreIndex ix;
    bool ok = restore_index_load(&ix, cfg, st, m, key, NULL, NULL, err);
    VolumeJob job = {.cfg = cfg, .st = st};
    RestoreVolumes rv = {.metas = &m, .keys = &key, .count = 1, .own = m};
    ok = ok && restore_index_volumes(&ix, &rv, &job, err);
    restore_index_clear(&ix);
    return ok;
}

bool verify_run(const Config *cfg, const VerifyOpts *opts, Error *err)
{
    Storage *st = storage_open(cfg, &cfg->target, err);
    if (st == NULL)
        return false;
    BackupMeta **metas = NULL;
    size_t count = 0, checked = 0, failed = 0;
    bool ok = chain_list_all(st, cfg->prefix, &metas, &count, err);
    Keyring *kr = keyring_new(cfg);
    Error first = {0};
    for (size_t i = 0; ok && i < count; i++) {
        if (opts->backup != NULL && strcmp(metas[i]->name, opts->backup) != 0)
            continue;
        checked++;
        Error e = {0};
        if (verify_one(cfg, st, kr, metas[i], opts->deep, &e)) {
            log_info("verify %s: ok%s", metas[i]->name, opts->deep ? " (deep)" : "");
        } else {
            error_prefix(&e, "verify %s", metas[i]->name);
            log_error("%s", e.msg);
            if (failed++ == 0)
                first = e;
        }
    }
    if (ok && opts->backup != NULL && checked == 0)
        ok = error_set(err, ERR_NOT_FOUND, "backup '%s' does not exist", opts->backup);
    else if (ok && failed > 0) {
        *err = first;
        error_prefix(err, "%zu of %zu backups failed verification; first", failed, checked);
        ok = false;
    } else if (ok) {
        printf("%zu backup%s verified%s\n", checked, checked == 1 ? "" : "s",
               opts->deep ? " (deep)" : "");
    }
    keyring_free(kr);
    for (size_t i = 0; i < count; i++)
        meta_free(metas[i]);
    free(metas);
    storage_free(st);
    return ok;
}
