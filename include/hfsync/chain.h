/*
 * The pointer (`latest-backup.json`) and chains (a full backup and the incrementals on it).
 *
 * chain_resolve() follows `parent` from a backup to its full backup, loading every .meta.json on
 * the way. It fails with ERR_NOT_FOUND naming a missing parent, and with ERR_CORRUPT on a cycle,
 * a mixed chain, or a chain longer than CHAIN_MAX_LENGTH.
 */
#ifndef HFSYNC_CHAIN_H
#define HFSYNC_CHAIN_H

#include "hfsync/meta.h"
#include "hfsync/storage.h"

#define POINTER_PATH "latest-backup.json"
#define CHAIN_MAX_LENGTH 10000

/* Read the pointer. *meta_path is NULL (and true returned) when there is none. */
bool pointer_read(Storage *st, char **meta_path, Error *err);
/* The same, with the tag of the version read (storage_get_tagged); *tag is set (or NULL when
 * there is no pointer) even when the content is unusable. Caller frees. */
bool pointer_read_tagged(Storage *st, char **meta_path, char **tag, Error *err);
/* Write the pointer to `meta_path`; `dataset` names the target in the file. */
bool pointer_write(Storage *st, const char *meta_path, const char *dataset, Error *err);
/* With `check`: only if the pointer is still the version `tag` read at the start (NULL: there
 * was none); ERR_CONFLICT when another writer moved it. */
bool pointer_write_if(Storage *st, const char *meta_path, const char *dataset, bool check,
                      const char *tag, Error *err);

BackupMeta *meta_load(Storage *st, const char *meta_path, Error *err);

typedef struct Chain {
    BackupMeta **metas; /* [0] is the full backup, [count-1] the one asked for */
    size_t count;
} Chain;

bool chain_resolve(Storage *st, const char *meta_path, Chain *chain, Error *err);
void chain_free(Chain *chain);

/* Every backup on the target (every *.meta.json under the prefix), newest first. Metas that
 * cannot be read are reported with a warning and skipped. */
bool chain_list_all(Storage *st, const char *prefix, BackupMeta ***metas, size_t *count,
                    Error *err);

#endif
