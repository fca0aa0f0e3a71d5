/*
 * Prune: multipart uploads left unfinished (prune.intern.h prune_uploads). A writer killed in the
 * middle of a volume leaves an S3 multipart upload whose parts stay stored, and billed, until it
 * is aborted. Those under the backups' prefix that started more than HFSYNC_STALE_AFTER ago are
 * aborted: a live writer sends a volume in minutes, so an upload that old has no writer left, and
 * a younger one may belong to a backup running now. Nothing is aborted while another writer's
 * lease is live. A service that does not list uploads is skipped with a log line, and a failure
 * to list or abort is a warning: the prune itself stands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "prune.intern.h"

typedef struct StaleUpload {
    char *path;
    char *id;
    int64_t started;
} StaleUpload;

typedef struct UploadList {
    int64_t cutoff;
    StaleUpload *v;
    size_t count;
    size_t young; /* kept: started after the cutoff, or when is not known */
} UploadList;

static void upload_list_fn(const StorageUpload *up, void *ctx)
{
    UploadList *l = ctx;
    if (up->started < 0 || up->started > l->cutoff) {
        log_debug("prune: unfinished upload of '%s' (%s) is younger than HFSYNC_STALE_AFTER%s; "
                  "kept",
                  up->path, up->id, up->started < 0 ? " or of unknown age" : "");
        l->young++;
        return;
    }
    l->v = x_realloc(l->v, (l->count + 1) * sizeof(*l->v));
    l->v[l->count++] = (StaleUpload){x_strdup(up->path), x_strdup(up->id), up->started};
}

/* A line for people: stdout, or the log with `to_log` (the prune after a backup). */
static void upload_say(bool to_log, const char *line)
{
    if (to_log)
        log_info("prune: %s", line);
    else
        printf("%s\n", line);
}

void prune_uploads(const Prune *p, bool dry_run, bool to_log, PruneResult *res)
{
    if (p->foreign) {
        log_debug("prune: unfinished uploads are left alone while %s", p->foreign_text);
        return;
    }
    const char *prefix = p->cfg->prefix;
    char *pfx = prefix[0] ? str_printf("%s/", prefix) : x_strdup("");
    UploadList l = {.cutoff = p->now - p->cfg->keep.stale_after_sec};
    bool supported = false;
    size_t aborted = 0;
    Error err = {0};
    if (!storage_list_uploads(p->st, pfx, upload_list_fn, &l, &supported, &err)) {
        log_warn("prune: cannot list the unfinished uploads (they are left for the next prune): "
                 "%s",
                 err.msg);
        goto out;
    }
    if (!supported) {
        if (p->cfg->target.kind == TARGET_S3)
            log_info("prune: this S3 service does not list multipart uploads; unfinished ones "
                     "are left to its lifecycle rules");
        goto out;
    }
    for (size_t i = 0; i < l.count; i++) {
        const StaleUpload *u = &l.v[i];
        char when[32], line[1200];
        time_iso8601(u->started, when);
        if (dry_run) {
            snprintf(line, sizeof(line),
                     "unfinished upload of %s (started %s): abort (older than "
                     "HFSYNC_STALE_AFTER)",
                     u->path, when);
            upload_say(to_log, line);
            continue;
        }
        if (!storage_abort_upload(p->st, u->path, u->id, &err)) {
            log_warn("prune: cannot abort the unfinished upload of '%s' (left for the next "
                     "prune): %s",
                     u->path, err.msg);
            error_clear(&err);
            continue;
        }
        log_debug("prune: aborted the unfinished upload of '%s' (%s, started %s)", u->path, u->id,
                  when);
        aborted++;
    }
    res->uploads_aborted = aborted;
    if (aborted > 0) {
        char line[160];
        snprintf(line, sizeof(line),
                 "aborted %zu unfinished upload%s left by interrupted backups (older than "
                 "HFSYNC_STALE_AFTER)",
                 aborted, aborted == 1 ? "" : "s");
        upload_say(to_log, line);
    }
    if (l.young > 0)
        log_debug("prune: %zu younger unfinished upload%s kept", l.young, l.young == 1 ? "" : "s");
out:
    for (size_t i = 0; i < l.count; i++) {
        free(l.v[i].path);
        free(l.v[i].id);
    }
    free(l.v);
    free(pfx);
}
