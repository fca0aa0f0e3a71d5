/*
 * The keys of encrypted native backups, opened with the configured passwords (docs/FORMAT.md
 * §8.1–8.2): HFSYNC_PASSWORD first, then each line of HFSYNC_OLD_PASSWORDS_FILE, so that a chain
 * made before a password change still restores. scrypt is the expensive step (about 0.07 s and
 * 32 MiB), so each parameter set is opened once per run and the password that opened the last
 * one is tried first; a chain's backups normally share one set (backup.c reuses the full
 * backup's), so a restore derives one key. A backup derives its key on a thread of its own while
 * it scans the sources (KeyJob).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

typedef struct KeyringEntry {
    CryptoParams params;
    CryptoKey *key;
} KeyringEntry;

struct Keyring {
    const char **passwords; /* borrowed from the Config: current first, then the old ones */
    size_t password_count;
    bool has_current;
    size_t preferred; /* index of the password that opened the last new parameter set */
    KeyringEntry *entries;
    size_t count;
};

Keyring *keyring_new(const Config *cfg)
{
    Keyring *kr = x_calloc(1, sizeof(*kr));
    kr->passwords = x_calloc(cfg->old_password_count + 1, sizeof(char *));
    if (cfg->password != NULL) {
        kr->passwords[kr->password_count++] = cfg->password;
        kr->has_current = true;
    }
    for (size_t i = 0; i < cfg->old_password_count; i++)
        kr->passwords[kr->password_count++] = cfg->old_passwords[i];
    return kr;
}

void keyring_free(Keyring *kr)
{
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->count; i++)
        crypto_key_free(kr->entries[i].key);
    free(kr->entries);
    free(kr->passwords);
    free(kr);
}

static bool keyring_params_equal(const CryptoParams *a, const CryptoParams *b)
{
    return a->kdf_n == b->kdf_n && a->kdf_r == b->kdf_r && a->kdf_p == b->kdf_p &&
           memcmp(a->salt, b->salt, sizeof(a->salt)) == 0 &&
           memcmp(a->check, b->check, sizeof(a->check)) == 0;
}

static bool keyring_wrong(const Keyring *kr, const BackupMeta *meta, Error *err)
{
    size_t old = kr->password_count - (kr->has_current ? 1 : 0);
    if (old == 0)
        error_set(err, ERR_USAGE,
                  "wrong password for backup '%s': the configured password does not match its "
                  "key check",
                  meta->name);
    else
        error_set(err, ERR_USAGE,
                  "wrong password for backup '%s': no configured password matches its key check "
                  "(tried %s%zu from HFSYNC_OLD_PASSWORDS_FILE)",
                  meta->name, kr->has_current ? "HFSYNC_PASSWORD and " : "", old);
    return error_hint(err, "set HFSYNC_PASSWORD to the password this backup was made with, or add "
                           "that password as a line of HFSYNC_OLD_PASSWORDS_FILE");
}

bool keyring_open(Keyring *kr, const BackupMeta *meta, const CryptoKey **key, Error *err)
{
    *key = NULL;
    if (!meta->encrypted)
        return true;
    if (!meta->native)
        return error_set(err, ERR_FAIL,
                         "backup '%s' uses the original script's encryption, not hfsync's",
                         meta->name);
    for (size_t i = 0; i < kr->count; i++) {
        if (keyring_params_equal(&kr->entries[i].params, &meta->cipher)) {
            *key = kr->entries[i].key;
            return true;
        }
    }
    if (kr->password_count == 0)
        return error_set(err, ERR_USAGE, "backup '%s' is encrypted and no password is set",
                         meta->name) ||
               error_hint(err, "set HFSYNC_PASSWORD (or HFSYNC_PASSWORD_FILE) to the password it "
                               "was made with");
    for (size_t k = 0; k < kr->password_count; k++) {
        /* The password that opened the last set first: after a password change, a whole old
         * chain is opened by the same old password. */
        size_t i = k == 0 ? kr->preferred : (k <= kr->preferred ? k - 1 : k);
        Error e = {0};
        CryptoKey *opened = crypto_key_open(kr->passwords[i], &meta->cipher, &e);
        if (opened == NULL && e.code == ERR_USAGE && str_starts_with(e.msg, "wrong password"))
            continue;
        if (opened == NULL) {
            *err = e;
            return error_prefix(err, "backup '%s'", meta->name);
        }
        if (!kr->has_current || i > 0)
            log_info("backup '%s' opens with password #%zu of HFSYNC_OLD_PASSWORDS_FILE",
                     meta->name, kr->has_current ? i : i + 1);
        kr->preferred = i;
        kr->entries = x_realloc(kr->entries, (kr->count + 1) * sizeof(KeyringEntry));
        kr->entries[kr->count++] = (KeyringEntry){.params = meta->cipher, .key = opened};
        *key = opened;
        return true;
    }
    return keyring_wrong(kr, meta, err);
}

bool keyring_open_chain(Keyring *kr, const Chain *chain, const CryptoKey **keys, Error *err)
{
    const BackupMeta *last = chain->metas[chain->count - 1];
    for (size_t i = 0; i < chain->count; i++) {
        const BackupMeta *m = chain->metas[i];
        if (m->encrypted != last->encrypted)
            return error_set(err, ERR_CORRUPT,
                             "the chain of backup '%s' mixes encrypted and unencrypted backups "
                             "('%s' is %s); hfsync never writes such a chain",
                             last->name, m->name, m->encrypted ? "encrypted" : "not encrypted");
        if (!keyring_open(kr, m, &keys[i], err))
            return false;
    }
    return true;
}

/* --- key derivation on a thread of its own --------------------------------------------------- */

struct KeyJob {
    pthread_t thread;
    bool threaded;
    const char *password; /* borrowed */
    bool open;            /* open `params` (else create a key and fill them in) */
    CryptoParams params;
    CryptoKey *key;
    Error err;
};

static void *key_job_main(void *arg)
{
    KeyJob *job = arg;
    job->key = job->open ? crypto_key_open(job->password, &job->params, &job->err)
                         : crypto_key_create(job->password, &job->params, &job->err);
    return NULL;
}

KeyJob *key_job_start(const char *password, const CryptoParams *open_params)
{
    KeyJob *job = x_calloc(1, sizeof(*job));
    job->password = password;
    job->open = open_params != NULL;
    if (open_params != NULL)
        job->params = *open_params;
    job->threaded = pthread_create(&job->thread, NULL, key_job_main, job) == 0;
    if (!job->threaded) /* no thread to be had: the work is done now, and only takes longer */
        key_job_main(job);
    return job;
}

CryptoKey *key_job_finish(KeyJob *job, CryptoParams *params, Error *err)
{
    if (job->threaded)
        pthread_join(job->thread, NULL);
    CryptoKey *key = job->key;
    if (key != NULL && params != NULL)
        *params = job->params;
    else if (key == NULL)
        *err = job->err;
    free(job);
    return key;
}
