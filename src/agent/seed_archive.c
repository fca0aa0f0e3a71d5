/*
 * Reading one seed-format backup's archive (reference/seed-format.md "Encryption and
 * splitting"): volumes joined in name order -> sha256 observer -> [openssl enc decryption] ->
 * prefetch thread -> libarchive gunzip + tar. The checksum covers the bytes as uploaded (the
 * ciphertext when encrypted), so it is checked at the very end, and after any failure on the
 * data, to tell damage apart from a wrong password or a hostile archive.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/crypto.h"
#include "hfsync/log.h"
#include "hfsync/manifest.h"
#include "hfsync/util.h"
#include "seed.intern.h"

#define SEED_PREFETCH_SIZE (1024 * 1024)
#define SEED_PREFETCH_COUNT 4
#define SEED_DRAIN_SIZE (64 * 1024)
/* "Salted__", the salt, then four cipher blocks: enough to see the gzip magic decrypted. */
#define SEED_PROBE_SIZE (16 + 64)

/* --- volumes joined in order ------------------------------------------------------------------ */

typedef struct PartsReader {
    Reader base;
    Storage *st;
    char **paths;
    size_t count, next;
    Reader *cur;
    const char *cur_path;
} PartsReader;

static ssize_t parts_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    PartsReader *r = (PartsReader *)reader;
    for (;;) {
        if (r->cur == NULL) {
            if (r->next == r->count)
                return 0;
            r->cur_path = r->paths[r->next++];
            r->cur = storage_read_open(r->st, r->cur_path, 0, err);
            if (r->cur == NULL) {
                if (err->code == ERR_NOT_FOUND)
                    err->code = ERR_CORRUPT; /* the .meta.json names it: the backup is damaged */
                char *where = storage_describe(r->st, r->cur_path);
                error_prefix(err, "volume '%s'", where);
                free(where);
                return -1;
            }
        }
        ssize_t n = reader_read(r->cur, buf, cap, err);
        if (n < 0) {
            char *where = storage_describe(r->st, r->cur_path);
            error_prefix(err, "volume '%s'", where);
            free(where);
            return -1;
        }
        if (n > 0)
            return n;
        reader_free(r->cur);
        r->cur = NULL;
    }
}

static void parts_free(Reader *reader)
{
    PartsReader *r = (PartsReader *)reader;
    reader_free(r->cur);
    for (size_t i = 0; i < r->count; i++)
        free(r->paths[i]);
    free(r->paths);
    free(r);
}

static const ReaderOps parts_ops = {parts_read, parts_free};

static int seed_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The volumes in name order ("only meaningful joined in name order"); all must be pieces of one
 * archive: the same name, or that name plus ".part-xx". */
static Reader *parts_new(Storage *st, const BackupMeta *meta, Error *err)
{
    if (meta->volume_count == 0) {
        error_set(err, ERR_CORRUPT, "the backup lists no volumes");
        return NULL;
    }
    PartsReader *r = x_calloc(1, sizeof(*r));
    r->base.ops = &parts_ops;
    r->st = st;
    r->paths = x_calloc(meta->volume_count, sizeof(char *));
    char **names = x_calloc(meta->volume_count, sizeof(char *));
    memcpy(names, meta->volumes, meta->volume_count * sizeof(char *));
    qsort(names, meta->volume_count, sizeof(char *), seed_strcmp);
    size_t base = strlen(meta->name);
    bool ok = true;
    for (size_t i = 0; ok && i < meta->volume_count; i++) {
        const char *v = names[i];
        bool single = meta->volume_count == 1 && strcmp(v, meta->name) == 0;
        bool part = strncmp(v, meta->name, base) == 0 && strlen(v) == base + 8 &&
                    strncmp(v + base, ".part-", 6) == 0 && islower((unsigned char)v[base + 6]) &&
                    islower((unsigned char)v[base + 7]);
        if (!single && !part)
            ok = error_set(err, ERR_CORRUPT, "volume '%s' is not a piece of archive '%s'", v,
                           meta->name);
        else
            r->paths[r->count++] = meta_sibling_path(meta, v);
    }
    free(names);
    if (!ok) {
        parts_free(&r->base);
        return NULL;
    }
    return &r->base;
}

/* --- bytes already read, then the rest ------------------------------------------------------- */

typedef struct PrependReader {
    Reader base;
    const uint8_t *data; /* borrowed */
    size_t size, pos;
} PrependReader;

static ssize_t prepend_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    PrependReader *r = (PrependReader *)reader;
    if (r->pos < r->size) {
        size_t n = r->size - r->pos < cap ? r->size - r->pos : cap;
        memcpy(buf, r->data + r->pos, n);
        r->pos += n;
        return (ssize_t)n;
    }
    return reader_read(r->base.next, buf, cap, err);
}

static void prepend_free(Reader *reader)
{
    free(reader);
}

static const ReaderOps prepend_ops = {prepend_read, prepend_free};

static Reader *prepend_new(Reader *next, const uint8_t *data, size_t size)
{
    PrependReader *r = x_calloc(1, sizeof(*r));
    r->base.ops = &prepend_ops;
    r->base.next = next;
    r->data = data;
    r->size = size;
    return &r->base;
}

/* --- the archive ------------------------------------------------------------------------------ */

struct SeedArchive {
    const BackupMeta *meta;
    Reader *parts, *hash, *head, *dec, *pf;
    TarReader *tr;
    uint8_t probe[SEED_PROBE_SIZE];
    size_t probe_size;
    char want[HASH_HEX_SIZE]; /* "" when the meta records no checksum */
    bool drained;             /* hash has seen every byte */
};

/* 1: `password` decrypts the first blocks into a gzip header; 0: it does not; -1: the data is
 * not openssl enc output at all (err set). */
static int seed_probe(const SeedArchive *a, const char *password, unsigned iterations, Error *err)
{
    Reader *buf = buffer_reader_new(a->probe, a->probe_size, 0);
    OpensslEncOpts o = {.iterations = iterations, .expect_gzip = true};
    Reader *dec = openssl_enc_reader_new(buf, password, &o, err);
    int rc = -1;
    if (dec != NULL) {
        uint8_t b[16];
        Error e = {0};
        ssize_t n = reader_read(dec, b, sizeof(b), &e);
        if (n > 0)
            rc = 1;
        else if (n < 0 && e.code == ERR_USAGE)
            rc = 0;
        else if (n < 0)
            *err = e;
        else
            error_set(err, ERR_CORRUPT, "no data after the 'Salted__' header");
    }
    reader_free(dec);
    reader_free(buf);
    return rc;
}

/* Find the password among cfg->password and cfg->old_passwords, at cfg->seed_iterations and at
 * openssl's default when that differs. */
static bool seed_pick_password(const Config *cfg, SeedArchive *a, const char **password,
                               unsigned *iterations, Error *err)
{
    size_t n = (cfg->password ? 1 : 0) + cfg->old_password_count;
    if (n == 0)
        return error_set(err, ERR_USAGE, "the backup is encrypted and no password is set") ||
               error_hint(err, "set HFSYNC_PASSWORD (or HFSYNC_PASSWORD_FILE), or the script's "
                               "OPENCLAW_BACKUP_ENCRYPTION_PASSWORD with "
                               "OPENCLAW_BACKUP_ENCRYPTION_ENABLED=true");
    unsigned iters[2] = {cfg->seed_iterations ? cfg->seed_iterations
                                              : OPENSSL_ENC_ITERATIONS_DEFAULT,
                         OPENSSL_ENC_ITERATIONS_DEFAULT};
    size_t n_iters = iters[0] == iters[1] ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        const char *pw = cfg->password ? (i == 0 ? cfg->password : cfg->old_passwords[i - 1])
                                       : cfg->old_passwords[i];
        for (size_t k = 0; k < n_iters; k++) {
            int rc = seed_probe(a, pw, iters[k], err);
            if (rc < 0)
                return false;
            if (rc == 1) {
                if (pw != cfg->password)
                    log_info(
                        "backup %s: decrypted with an old password (HFSYNC_OLD_PASSWORDS_FILE)",
                        a->meta->name);
                if (iters[k] != iters[0])
                    log_info("backup %s: encrypted with %u PBKDF2 iterations, not "
                             "HFSYNC_SEED_PBKDF2_ITER=%u",
                             a->meta->name, iters[k], iters[0]);
                *password = pw;
                *iterations = iters[k];
                return true;
            }
        }
    }
    if (n == 1)
        error_set(err, ERR_USAGE,
                  "wrong password: the configured password does not decrypt the "
                  "archive");
    else
        error_set(err, ERR_USAGE,
                  "wrong password: none of the %zu configured passwords decrypts "
                  "the archive",
                  n);
    return error_hint(err, "set HFSYNC_PASSWORD (or OPENCLAW_BACKUP_ENCRYPTION_PASSWORD) to the "
                           "password the backup was made with; earlier passwords can be listed "
                           "in HFSYNC_OLD_PASSWORDS_FILE");
}

static bool seed_checksum_parse(const BackupMeta *meta, char want[HASH_HEX_SIZE], Error *err)
{
    want[0] = '\0';
    const char *c = meta->checksum;
    if (c == NULL || c[0] == '\0') {
        log_warn("backup %s: its .meta.json records no checksum; the archive cannot be checked "
                 "for damage",
                 meta->name);
        return true;
    }
    if (strncmp(c, "sha256:", 7) != 0 || strlen(c + 7) != HASH_HEX_SIZE - 1)
        return error_set(err, ERR_CORRUPT, "checksum '%.80s' is not \"sha256:<64 hex digits>\"", c);
    for (size_t i = 0; i < HASH_HEX_SIZE - 1; i++) {
        char ch = (char)tolower((unsigned char)c[7 + i]);
        if (!isxdigit((unsigned char)ch))
            return error_set(err, ERR_CORRUPT, "checksum '%.80s' is not hexadecimal", c);
        want[i] = ch;
    }
    want[HASH_HEX_SIZE - 1] = '\0';
    return true;
}

SeedArchive *seed_archive_open(const Config *cfg, Storage *st, const BackupMeta *meta, Error *err)
{
    SeedArchive *a = x_calloc(1, sizeof(*a));
    a->meta = meta;
    const char *password = NULL;
    unsigned iterations = 0;
    if (!seed_checksum_parse(meta, a->want, err))
        goto fail;
    a->parts = parts_new(st, meta, err);
    if (a->parts == NULL)
        goto fail;
    a->hash = hash_reader_new(a->parts, HASH_SHA256);
    ssize_t n = reader_read_full(a->hash, a->probe, sizeof(a->probe), err);
    if (n < 0)
        goto fail;
    a->probe_size = (size_t)n;
    a->head = prepend_new(a->hash, a->probe, a->probe_size);
    bool salted = a->probe_size >= 8 && memcmp(a->probe, "Salted__", 8) == 0;
    bool encrypted = meta->encrypted || str_ends_with(meta->name, ".enc") || salted;
    if (encrypted) {
        if (!seed_pick_password(cfg, a, &password, &iterations, err)) {
            if (err->code == ERR_USAGE && cfg->password == NULL && cfg->old_password_count == 0)
                goto fail; /* no password at all: nothing to tell apart */
            log_info("backup %s: no configured password fits; reading the whole archive to check "
                     "its checksum (damage looks the same)",
                     meta->name);
            seed_archive_diagnose(a, err);
            goto fail;
        }
        OpensslEncOpts o = {.iterations = iterations, .expect_gzip = true};
        a->dec = openssl_enc_reader_new(a->head, password, &o, err);
        if (a->dec == NULL)
            goto fail;
    }
    /* Download, sha256 and decryption run on their own thread, ahead of gunzip and extraction. */
    a->pf = prefetch_reader_new(a->dec ? a->dec : a->head, SEED_PREFETCH_SIZE, SEED_PREFETCH_COUNT,
                                err);
    if (a->pf == NULL)
        goto fail;
    a->tr = tar_reader_new_gzip(a->pf, err);
    if (a->tr == NULL) {
        if (err->code != ERR_NET && err->code != ERR_IO)
            seed_archive_diagnose(a, err);
        goto fail;
    }
    return a;
fail:
    seed_archive_free(a);
    return NULL;
}

TarReader *seed_archive_tar(SeedArchive *a)
{
    return a->tr;
}

static bool seed_archive_compare(SeedArchive *a, Error *err)
{
    char hex[HASH_HEX_SIZE];
    uint64_t size;
    hash_reader_result(a->hash, hex, &size);
    const BackupMeta *m = a->meta;
    if ((m->archive_size > 0 && size != m->archive_size) ||
        (a->want[0] && strcmp(hex, a->want) != 0))
        return error_set(err, ERR_CORRUPT,
                         "checksum mismatch: the archive has %llu bytes with sha256 %.16s…, its "
                         ".meta.json records %llu bytes with sha256 %.16s…",
                         (unsigned long long)size, hex, (unsigned long long)m->archive_size,
                         a->want[0] ? a->want : "(none)");
    return true;
}

bool seed_archive_finish(SeedArchive *a, Error *err)
{
    /* Read to the very end: tar stops at its end marker, but the gzip trailer, the cipher's
     * padding and the checksum cover everything. */
    uint8_t *drain = x_malloc(SEED_DRAIN_SIZE);
    ssize_t n;
    while ((n = reader_read(a->pf, drain, SEED_DRAIN_SIZE, err)) > 0)
        ;
    free(drain);
    tar_reader_free(a->tr);
    a->tr = NULL;
    reader_free(a->pf); /* joins the thread: the hash below is final */
    a->pf = NULL;
    if (n < 0) {
        if (err->code != ERR_NET && err->code != ERR_IO)
            seed_archive_diagnose(a, err);
        return false;
    }
    a->drained = true;
    return seed_archive_compare(a, err);
}

void seed_archive_diagnose(SeedArchive *a, Error *err)
{
    if (a->drained || a->hash == NULL)
        return;
    tar_reader_free(a->tr);
    a->tr = NULL;
    reader_free(a->pf); /* joined: nothing else reads the hash reader now */
    a->pf = NULL;
    uint8_t *drain = x_malloc(SEED_DRAIN_SIZE);
    Error e = {0};
    ssize_t n;
    while ((n = reader_read(a->hash, drain, SEED_DRAIN_SIZE, &e)) > 0)
        ;
    free(drain);
    a->drained = true;
    if (n < 0) {
        log_debug("backup %s: could not read the rest to check its checksum: %s", a->meta->name,
                  e.msg);
        return;
    }
    Error c = {0};
    if (!seed_archive_compare(a, &c)) {
        log_debug("backup %s: %s (after: %s)", a->meta->name, c.msg, err->msg);
        *err = c;
    }
}

void seed_archive_free(SeedArchive *a)
{
    if (a == NULL)
        return;
    tar_reader_free(a->tr);
    reader_free(a->pf); /* before the stages it runs */
    reader_free(a->dec);
    reader_free(a->head);
    reader_free(a->hash);
    reader_free(a->parts);
    free(a);
}

bool seed_member_check(const char *name, Error *err)
{
    Error e = {0};
    if (strcmp(name, ".") == 0 || !manifest_path_check(name, &e))
        return error_set(err, ERR_UNSAFE, "member '%.300s' refused: %s", name,
                         e.msg[0] ? e.msg : "not a path inside an archive root");
    return true;
}

/* --- names -------------------------------------------------------------------------------- */

bool agent_backup_find(const Config *cfg, Storage *st, const char *name, char **meta_path,
                       Error *err)
{
    *meta_path = NULL;
    char *base = x_strdup(name);
    if (str_ends_with(base, ".meta.json"))
        base[strlen(base) - strlen(".meta.json")] = '\0';
    size_t len = strlen(base);
    if (len > 8 && strncmp(base + len - 8, ".part-", 6) == 0)
        base[len - 8] = '\0';
    char *cand[4] = {x_strdup(name), x_strdup(base), NULL, NULL};
    if (strstr(base, ".tar.gz") == NULL) {
        cand[2] = str_printf("%s.tar.gz", base);
        cand[3] = str_printf("%s.tar.gz.enc", base);
    }
    bool ok = true;
    for (size_t i = 0; ok && *meta_path == NULL && i < 4; i++) {
        if (cand[i] == NULL || cand[i][0] == '\0' || (i > 0 && strcmp(cand[i], cand[0]) == 0))
            continue;
        char *p = meta_path_for(cfg->prefix, cand[i]);
        StorageInfo info;
        ok = storage_info(st, p, &info, err);
        if (ok && info.exists)
            *meta_path = p;
        else
            free(p);
    }
    for (size_t i = 0; i < 4; i++)
        free(cand[i]);
    free(base);
    if (ok && *meta_path == NULL)
        ok = error_set(err, ERR_NOT_FOUND, "backup '%s' does not exist", name) ||
             error_hint(err, "'hfsync list' shows the backups of this target");
    return ok;
}
