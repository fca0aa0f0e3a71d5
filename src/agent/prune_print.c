/* Prune: the plan for people (prune.intern.h prune_print): one line per chain, newest first,
 * then the incomplete backups, stale checkpoints, unreadable metadata and a summary. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "prune.intern.h"

static void prune_out(bool to_log, bool important, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void prune_out(bool to_log, bool important, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (to_log)
        log_msg(important ? LOG_INFO : LOG_DEBUG, "prune: %s", line);
    else
        printf("%s\n", line);
}

/* "2026-11-21 10:15:00" */
static void prune_time(int64_t t, char out[32])
{
    time_iso8601(t, out);
    out[10] = ' ';
    out[19] = '\0';
}

void prune_print(const Prune *p, bool dry_run, bool to_log)
{
    char rules[256], now[32], stale[32];
    retention_rules_text(&p->rules, rules, sizeof(rules));
    prune_time(p->now, now);
    snprintf(stale, sizeof(stale), "%lldh", (long long)(p->cfg->keep.stale_after_sec / 3600));
    if (p->cfg->keep.stale_after_sec % 3600 != 0)
        snprintf(stale, sizeof(stale), "%llds", (long long)p->cfg->keep.stale_after_sec);
    prune_out(to_log, false, "%s %s: rules: %s; now %s UTC", dry_run ? "plan for" : "pruning",
              p->cfg->target.url, rules, now);
    if (p->chain_count > 0)
        prune_out(to_log, false, "%-22s %-8s %7s  %-19s  %-19s  %10s  %s", "CHAIN", "ID", "BACKUPS",
                  "FROM (UTC)", "TO (UTC)", "SIZE", "PLAN");
    size_t keep_chains = 0, keep_backups = 0, del_chains = 0, del_backups = 0;
    uint64_t keep_bytes = 0, del_bytes = 0;
    for (size_t c = p->chain_count; c-- > 0;) {
        const PruneChain *ch = &p->chains[c];
        const PruneBackup *first = &p->backups[ch->members[0]];
        char from[32], to[32], size[32], plan[600];
        prune_time(first->meta->created, from);
        prune_time(ch->newest, to);
        size_human(ch->size, size);
        if (ch->decision.keep) {
            char why[512];
            retention_reasons_text(&ch->decision, why, sizeof(why));
            snprintf(plan, sizeof(plan), "keep: %s%s%s%s", why,
                     ch->damaged ? (why[0] ? ", damaged" : "damaged") : "",
                     ch->damaged ? " (a parent's metadata is unreadable)" : "",
                     ch->broken ? " (broken: a parent is missing)" : "");
            keep_chains++;
            keep_backups += ch->count;
            keep_bytes += ch->size;
        } else if (ch->delete_count == ch->count) {
            snprintf(plan, sizeof(plan), "delete%s",
                     ch->broken ? " (broken: a parent is missing)" : "");
        } else if (ch->delete_count == 0) {
            snprintf(plan, sizeof(plan), "delete in a later run (HFSYNC_PRUNE_MAX)");
        } else {
            snprintf(plan, sizeof(plan),
                     "delete: its newest %zu of %zu backups in this run, the rest later "
                     "(HFSYNC_PRUNE_MAX)",
                     ch->delete_count, ch->count);
        }
        for (size_t m = 0; !ch->decision.keep && m < ch->count; m++)
            if (prune_member_deleted(ch, m)) {
                del_backups++;
                del_bytes += p->backups[ch->members[m]].size;
            }
        del_chains += !ch->decision.keep && ch->delete_count > 0;
        prune_out(to_log, !ch->decision.keep, "%-22s %-8s %7zu  %-19s  %-19s  %10s  %s", first->key,
                  first->meta->chain_id, ch->count, from, to, size, plan);
    }
    uint64_t inc_bytes = 0;
    for (size_t i = 0; i < p->incomplete_count; i++) {
        const PruneBackup *b = &p->backups[p->incomplete[i]];
        char t[32], size[32];
        prune_time(b->stamp, t);
        size_human(b->size, size);
        bool now_ = i < p->incomplete_delete;
        if (now_)
            inc_bytes += b->size;
        prune_out(to_log, now_, "incomplete %s: %zu object%s, %s, started %s UTC: %s", b->key,
                  b->obj_count, b->obj_count == 1 ? "" : "s", size, t,
                  now_ ? "delete (no .meta.json, older than HFSYNC_STALE_AFTER)"
                       : "delete later (HFSYNC_PRUNE_MAX)");
    }
    for (size_t i = 0; i < p->young_count; i++) {
        const PruneBackup *b = &p->backups[p->young[i]];
        char t[32];
        prune_time(b->stamp, t);
        prune_out(to_log, false,
                  "incomplete %s: started %s UTC: keep (in progress or younger than "
                  "HFSYNC_STALE_AFTER %s)",
                  b->key, t, stale);
    }
    for (size_t i = 0; i < p->checkpoint_count; i++)
        prune_out(to_log, true, "checkpoint %s: delete (left over, older than HFSYNC_STALE_AFTER)",
                  p->objs[p->checkpoints[i]].path);
    for (size_t i = 0; i < p->backup_count; i++)
        if (p->backups[i].unreadable)
            prune_out(to_log, true, "unreadable %s: keep (its .meta.json is not valid)",
                      p->backups[i].key);
    if (p->foreign)
        prune_out(to_log, true,
                  "%s holds the writer lease: prune deletes nothing while another writer is "
                  "active",
                  p->foreign_text);
    char db[32], kb[32], ib[32];
    size_human(del_bytes, db);
    size_human(keep_bytes, kb);
    size_human(inc_bytes, ib);
    bool any = del_backups + p->incomplete_delete + p->checkpoint_count > 0;
    prune_out(to_log, any,
              "%s %zu chain%s (%zu backup%s, %s) and %zu incomplete backup%s (%s); keep %zu "
              "chain%s (%zu backup%s, %s)%s",
              dry_run ? "would delete" : "to delete", del_chains, del_chains == 1 ? "" : "s",
              del_backups, del_backups == 1 ? "" : "s", db, p->incomplete_delete,
              p->incomplete_delete == 1 ? "" : "s", ib, keep_chains, keep_chains == 1 ? "" : "s",
              keep_backups, keep_backups == 1 ? "" : "s", kb,
              p->limited ? "; more next run (HFSYNC_PRUNE_MAX)" : "");
}
