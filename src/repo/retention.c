/* Retention rules over chains (retention.h). */
#include "hfsync/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hfsync/util.h"

typedef struct BackupRef {
    const RetentionBackup *b;
    size_t chain;
} BackupRef;

/* Newest first; backups of the same second by name (names sort in creation order). */
static int retention_newest_first(const void *pa, const void *pb)
{
    const BackupRef *a = pa, *b = pb;
    if (a->b->created != b->b->created)
        return a->b->created < b->b->created ? 1 : -1;
    int c = strcmp(b->b->name ? b->b->name : "", a->b->name ? a->b->name : "");
    if (c != 0)
        return c;
    return a->chain < b->chain ? -1 : a->chain > b->chain;
}

/* The calendar period of `t` (UTC) for a rule: day, ISO week or month. */
static void retention_period(RetentionRule rule, int64_t t, char out[16])
{
    time_t tt = (time_t)t;
    struct tm tm;
    out[0] = '\0';
    if (gmtime_r(&tt, &tm) == NULL)
        return;
    const char *fmt = rule == RETENTION_DAILY    ? "%Y-%m-%d"
                      : rule == RETENTION_WEEKLY ? "%G-W%V"
                                                 : "%Y-%m";
    strftime(out, 16, fmt, &tm);
}

static void retention_add(RetentionDecision *d, RetentionRule rule, int rank, const char *period)
{
    RetentionReason *r = NULL;
    for (size_t i = 0; i < d->reason_count; i++)
        if (d->reasons[i].rule == rule)
            r = &d->reasons[i];
    if (r == NULL) {
        r = &d->reasons[d->reason_count++];
        memset(r, 0, sizeof(*r));
        r->rule = rule;
        r->first = rank;
        if (period != NULL)
            snprintf(r->newest, sizeof(r->newest), "%s", period);
    }
    r->last = rank;
    if (period != NULL)
        snprintf(r->oldest, sizeof(r->oldest), "%s", period);
    d->keep = true;
}

/* Reasons in rule order, whatever order the rules were applied in. */
static int retention_reason_cmp(const void *a, const void *b)
{
    const RetentionReason *x = a, *y = b;
    return (int)x->rule - (int)y->rule;
}

/* restic's counting: walk the backups newest first; each time the period changes, the backup
 * starting the new period is kept, until `n` periods are. */
static void retention_periods(const BackupRef *refs, size_t n_refs, RetentionRule rule, int n,
                              RetentionDecision *out)
{
    char last[16] = "";
    int kept = 0;
    for (size_t i = 0; i < n_refs && kept < n; i++) {
        char p[16];
        retention_period(rule, refs[i].b->created, p);
        if (strcmp(p, last) == 0)
            continue;
        memcpy(last, p, sizeof(last));
        retention_add(&out[refs[i].chain], rule, ++kept, p);
    }
}

void retention_plan(const RetentionChain *chains, size_t count, const RetentionRules *rules,
                    int64_t now, RetentionDecision *out)
{
    size_t n_refs = 0;
    for (size_t c = 0; c < count; c++) {
        memset(&out[c], 0, sizeof(out[c]));
        n_refs += chains[c].count;
    }
    BackupRef *refs = x_calloc(n_refs + 1, sizeof(*refs));
    size_t k = 0;
    for (size_t c = 0; c < count; c++)
        for (size_t i = 0; i < chains[c].count; i++)
            refs[k++] = (BackupRef){&chains[c].backups[i], c};
    qsort(refs, n_refs, sizeof(*refs), retention_newest_first);

    for (size_t c = 0; c < count; c++)
        if (chains[c].latest)
            retention_add(&out[c], RETENTION_LATEST, 0, NULL);

    /* full: chains in the order their newest backups come */
    bool *seen = x_calloc(count + 1, sizeof(bool));
    int rank = 0;
    for (size_t i = 0; i < n_refs && rank < rules->keep_full; i++) {
        if (seen[refs[i].chain])
            continue;
        seen[refs[i].chain] = true;
        retention_add(&out[refs[i].chain], RETENTION_FULL, ++rank, NULL);
    }
    free(seen);

    for (size_t i = 0; i < n_refs && (long)i < (long)rules->keep_last; i++)
        retention_add(&out[refs[i].chain], RETENTION_LAST, (int)i + 1, NULL);

    retention_periods(refs, n_refs, RETENTION_DAILY, rules->keep_daily, out);
    retention_periods(refs, n_refs, RETENTION_WEEKLY, rules->keep_weekly, out);
    retention_periods(refs, n_refs, RETENTION_MONTHLY, rules->keep_monthly, out);

    if (rules->keep_within_sec > 0) {
        /* From the newest backup that is not in the future, as restic does: backups that stop
         * (or a clock that jumps) do not make the rule drop everything. */
        int64_t ref = now;
        for (size_t i = 0; i < n_refs; i++)
            if (refs[i].b->created <= now) {
                ref = refs[i].b->created;
                break;
            }
        for (size_t c = 0; c < count; c++) {
            bool future = false, within = false;
            for (size_t i = 0; i < chains[c].count; i++) {
                int64_t t = chains[c].backups[i].created;
                future |= t > now;
                within |= t <= now && t > ref - rules->keep_within_sec;
            }
            if (future)
                retention_add(&out[c], RETENTION_FUTURE, 0, NULL);
            if (within)
                retention_add(&out[c], RETENTION_WITHIN, 0, NULL);
        }
    }
    for (size_t c = 0; c < count; c++)
        qsort(out[c].reasons, out[c].reason_count, sizeof(RetentionReason), retention_reason_cmp);
    free(refs);
}

static const char *const retention_rule_names[RETENTION_RULE_COUNT] = {
    "latest", "future", "full", "last", "daily", "weekly", "monthly", "within",
};

void retention_reasons_text(const RetentionDecision *d, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->reason_count && len < cap; i++) {
        const RetentionReason *r = &d->reasons[i];
        const char *sep = i > 0 ? ", " : "";
        const char *name = retention_rule_names[r->rule];
        int n;
        if (r->first == 0)
            n = snprintf(out + len, cap - len, "%s%s", sep, name);
        else if (r->first == r->last)
            n = snprintf(out + len, cap - len, "%s%s-%d", sep, name, r->first);
        else
            n = snprintf(out + len, cap - len, "%s%s-%d..%d", sep, name, r->first, r->last);
        if (n > 0)
            len += (size_t)n;
        if (len < cap && r->newest[0] != '\0') {
            bool one = strcmp(r->newest, r->oldest) == 0;
            n = snprintf(out + len, cap - len, one ? " (%s)" : " (%s..%s)", r->newest, r->oldest);
            if (n > 0)
                len += (size_t)n;
        }
    }
}

/* "7d", "36h", "90m", "45s": the largest unit that divides it. */
static void retention_duration(int64_t sec, char out[32])
{
    static const struct {
        int64_t size;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (sec % units[i].size == 0) {
            snprintf(out, 32, "%lld%c", (long long)(sec / units[i].size), units[i].unit);
            return;
        }
    snprintf(out, 32, "%llds", (long long)sec);
}

void retention_rules_text(const RetentionRules *rules, char *out, size_t cap)
{
    const int counts[] = {rules->keep_full, rules->keep_last, rules->keep_daily, rules->keep_weekly,
                          rules->keep_monthly};
    const RetentionRule which[] = {RETENTION_FULL, RETENTION_LAST, RETENTION_DAILY,
                                   RETENTION_WEEKLY, RETENTION_MONTHLY};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]) && len < cap; i++) {
        if (counts[i] <= 0)
            continue;
        char n[16];
        if (counts[i] >= RETENTION_UNLIMITED)
            snprintf(n, sizeof(n), "unlimited");
        else
            snprintf(n, sizeof(n), "%d", counts[i]);
        int w = snprintf(out + len, cap - len, "%s%s %s", len ? ", " : "",
                         retention_rule_names[which[i]], n);
        if (w > 0)
            len += (size_t)w;
    }
    if (rules->keep_within_sec > 0 && len < cap) {
        char d[32];
        retention_duration(rules->keep_within_sec, d);
        int w = snprintf(out + len, cap - len, "%swithin %s", len ? ", " : "", d);
        if (w > 0)
            len += (size_t)w;
    }
    if (len == 0)
        snprintf(out, cap, "none (only the latest chain is kept)");
}
