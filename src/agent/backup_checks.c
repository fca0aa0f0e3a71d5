/*
 * The checks a native backup makes before it writes anything (agent.intern.h): sources that
 * vanished, and encryption that would be dropped.
 */
#include <string.h>

#include "agent.intern.h"
#include "hfsync/error.h"

/*
 * A source root that disappears is far more often a missing mount or a wrong path than a
 * deliberate deletion; recording it would make the next restore delete the state. So: nothing
 * to back up at all is an error, and a source present in the previous backup but gone now stops
 * the backup until the user confirms with --full.
 */
bool backup_check_sources(const Config *cfg, const Manifest *cur, const Manifest *prev, Error *err)
{
    if (cur->count == 0)
        return error_set(err, ERR_FAIL,
                         "none of the configured sources exists; refusing to "
                         "record an empty state") ||
               error_hint(err, "check HFSYNC_SOURCES and that the directories are mounted");
    for (size_t i = 0; prev != NULL && i < prev->source_count; i++) {
        const char *name = prev->sources[i];
        bool configured = false;
        for (size_t j = 0; j < cfg->source_count && !configured; j++)
            configured = strcmp(cfg->sources[j].name, name) == 0;
        if (configured && manifest_find(prev, name, ".") != NULL &&
            manifest_find(cur, name, ".") == NULL)
            return error_set(err, ERR_FAIL,
                             "source '%s' was in the previous backup but its "
                             "path does not exist now; refusing to record it as deleted",
                             name) ||
                   error_hint(err, "if it was removed on purpose, 'hfsync backup --full' starts "
                                   "a new chain without it");
    }
    return true;
}

/* Encryption is never dropped silently: without a password, a backup does not continue (nor
 * replace by an automatic full) an encrypted chain; --full starts an unencrypted one. */
bool backup_check_encryption(const Config *cfg, const BackupMeta *prev, Error *err)
{
    if (prev == NULL || !prev->encrypted || cfg->password != NULL)
        return true;
    return error_set(err, ERR_USAGE,
                     "the latest backup '%s' is encrypted, but no password is set; refusing to "
                     "back up without encryption",
                     prev->name) ||
           error_hint(err, "set HFSYNC_PASSWORD (or HFSYNC_PASSWORD_FILE) to the password of "
                           "the chain, or run 'hfsync backup --full' to start a new, unencrypted "
                           "chain");
}
