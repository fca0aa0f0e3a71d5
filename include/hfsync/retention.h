/*
 * Retention: which backup chains to keep (README "Retention"). A pure function of the chains on a
 * target, the rules and the time; no storage, no clock, no allocation the caller sees.
 *
 * The unit is the chain (a full backup and its incrementals): a chain is kept whole or deleted
 * whole, so no kept backup ever loses a backup it depends on. A chain is kept when any rule keeps
 * it; the chain holding the pointer's backup is always kept. Rules, like restic's `forget` and
 * kopia's retention (counted as restic counts them):
 *
 *   full N     the N newest chains (newest = by their newest backup)
 *   last N     the chains of the N newest backups
 *   daily N    the newest backup of each of the last N days that have a backup; its chain is kept
 *   weekly N   the same per ISO week (Monday to Sunday), monthly N per calendar month
 *   within D   chains with a backup less than D older than the newest backup (not older than
 *              now); chains with a backup newer than `now` are kept too ("future": clock skew)
 *
 * Days, weeks and months are UTC. Only periods with a backup count (a month without backups does
 * not use up one of the N), and unlike kopia no time limit applies to the count: daily 7 keeps
 * the last 7 days that have backups however far apart they are, as restic does.
 */
#ifndef HFSYNC_RETENTION_H
#define HFSYNC_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counts at or above this mean "all" (the variables' "unlimited"). */
#define RETENTION_UNLIMITED 1000000000

typedef struct RetentionBackup {
    const char *name; /* borrowed; for ties between backups made in the same second */
    int64_t created;  /* epoch seconds */
    uint64_t size;
} RetentionBackup;

typedef struct RetentionChain {
    const RetentionBackup *backups; /* borrowed; at least one, any order */
    size_t count;
    bool latest; /* holds the backup the pointer names */
} RetentionChain;

typedef struct RetentionRules {
    int keep_full;
    int keep_last;
    int keep_daily;
    int keep_weekly;
    int keep_monthly;
    int64_t keep_within_sec; /* 0: off */
} RetentionRules;

/* In the order reasons are listed. */
typedef enum RetentionRule {
    RETENTION_LATEST = 0,
    RETENTION_FUTURE,
    RETENTION_FULL,
    RETENTION_LAST,
    RETENTION_DAILY,
    RETENTION_WEEKLY,
    RETENTION_MONTHLY,
    RETENTION_WITHIN,
    RETENTION_RULE_COUNT
} RetentionRule;

/* One rule keeping a chain, possibly for several of its backups: ranks first..last (1 is the
 * newest the rule keeps), and for daily/weekly/monthly the periods of the newest and oldest of
 * them ("2026-11-21", "2026-W47", "2026-11"). */
typedef struct RetentionReason {
    RetentionRule rule;
    int first, last;
    char newest[16], oldest[16];
} RetentionReason;

typedef struct RetentionDecision {
    bool keep;
    RetentionReason reasons[RETENTION_RULE_COUNT];
    size_t reason_count;
} RetentionDecision;

/* Decide every chain: out[i] for chains[i]. */
void retention_plan(const RetentionChain *chains, size_t count, const RetentionRules *rules,
                    int64_t now, RetentionDecision *out);

/* The reasons as text, e.g. "latest, full-1, daily-1..2 (2026-11-21..2026-11-20)"; "" when
 * none. */
void retention_reasons_text(const RetentionDecision *d, char *out, size_t cap);

/* The rules as text, e.g. "full 12, daily 7, weekly 4, monthly 3" (rules that are off left out). */
void retention_rules_text(const RetentionRules *rules, char *out, size_t cap);

#endif
