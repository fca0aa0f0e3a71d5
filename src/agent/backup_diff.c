/*
 * A backup's change detection: the fresh scan (an EntrySpool, in manifest order) against the
 * previous manifest (streamed, in the same order), in one pass over each, so memory does not grow
 * with either.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent.intern.h"
#include "hfsync/spool.h"
#include "hfsync/util.h"

#define BACKUP_DIFF_MAX_REFS 65535

bool backup_diff_spool_add(void *spool, const ManifestEntry *e, Error *err)
{
    return spool_add(spool, e, err);
}

void backup_diff_clear(BackupDiff *d)
{
    for (size_t i = 0; i < d->prev_root_count; i++)
        free(d->prev_roots[i]);
    free(d->prev_roots);
    memset(d, 0, sizeof(*d));
}

/* The previous manifest's next entry, checked to come after the one before (`last`: its source,
 * NUL, path; "" at the start); a source root is noted in d->prev_roots. */
static int diff_prev_next(BackupDiff *d, ManifestStream *prev, ManifestEntry *p, const char **src,
                          const char **ref, char *last, Error *err)
{
    int r = manifest_stream_next(prev, p, src, ref, err);
    if (r <= 0)
        return r;
    size_t slen = strlen(*src);
    int c = last[0] == '\0' ? 1 : strcmp(*src, last);
    if (c == 0)
        c = manifest_path_cmp(p->path, last + slen + 1);
    if (c <= 0) {
        error_set(err, ERR_CORRUPT, "previous manifest: entry '%s/%s' is out of order", *src,
                  p->path);
        return -1;
    }
    memcpy(last, *src, slen + 1);
    memcpy(last + slen + 1, p->path, strlen(p->path) + 1);
    if (strcmp(p->path, ".") == 0) {
        d->prev_roots = x_realloc(d->prev_roots, (d->prev_root_count + 1) * sizeof(char *));
        d->prev_roots[d->prev_root_count++] = x_strdup(*src);
    }
    return 1;
}

static void diff_deleted(BackupDiff *d, const ManifestEntry *p)
{
    d->changes.deleted++;
    if (p->type != ENTRY_DIR)
        d->changes.files++;
}

bool backup_diff(Manifest *cur, EntrySpool *spool, ManifestStream *prev, BackupDiff *d, Error *err)
{
    ManifestEntry e, p;
    const char *psrc = NULL, *pref = NULL;
    /* Source names and paths are at most PATH_MAX bytes each (manifest_path_check). */
    char *last = x_calloc(1, 2 * (PATH_MAX + 2));
    backup_diff_clear(d);
    int pr = prev ? diff_prev_next(d, prev, &p, &psrc, &pref, last, err) : 0;
    int r = spool_rewind(spool, err) ? 1 : -1;
    while (pr >= 0 && r > 0 && (r = spool_next(spool, &e, err)) > 0) {
        const char *esrc = cur->sources[e.source];
        bool found = false, same = false;
        /* Previous entries before this one are gone; an equal one is this entry before. */
        while (pr > 0) {
            int c = strcmp(psrc, esrc);
            if (c == 0)
                c = manifest_path_cmp(p.path, e.path);
            if (c > 0)
                break;
            if (c < 0) {
                diff_deleted(d, &p);
            } else {
                found = true;
                same = manifest_entry_same(&e, &p);
                if (same && cur->ref_count >= BACKUP_DIFF_MAX_REFS) {
                    error_set(err, ERR_CORRUPT, "previous manifest: too many refs");
                    pr = -1;
                    break;
                }
                if (same) {
                    e.ref = manifest_ref_index(cur, pref);
                    memcpy(e.hash, p.hash, HASH_SIZE);
                    e.volume = p.volume;
                }
            }
            pr = diff_prev_next(d, prev, &p, &psrc, &pref, last, err);
            if (found)
                break;
        }
        StrategyChanges *ch = &d->changes;
        ch->total_entries++;
        if (e.type == ENTRY_FILE) {
            ch->total_files++;
            ch->total_bytes += e.size;
        }
        if (!same) {
            e.flags |= ENTRY_CHANGED;
            if (found)
                ch->changed++;
            else
                ch->added++;
            if (e.type != ENTRY_DIR)
                ch->files++;
            if (e.type == ENTRY_FILE) {
                ch->store_files++;
                ch->bytes += e.size;
            }
        }
        if (pr >= 0 && !spool_update(spool, &e, err))
            r = -1;
    }
    for (; r == 0 && pr > 0; pr = diff_prev_next(d, prev, &p, &psrc, &pref, last, err))
        diff_deleted(d, &p);
    free(last);
    d->prev_failed = pr < 0;
    return r == 0 && pr == 0;
}
