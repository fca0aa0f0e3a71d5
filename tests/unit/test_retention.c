/* Retention as a pure function (retention.h), table-driven: restic's and kopia's documented
 * examples of keeping daily/weekly/monthly snapshots, each snapshot a chain of one backup; chains
 * of several backups; the latest chain always kept; and properties over random targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hfsync/retention.h"
#include "hfsync/util.h"

#define MAX_CHAINS 16
#define MAX_MEMBERS 4

/* "2019-09-01 11:00:00" (UTC) */
static int64_t t_(const char *s)
{
    struct tm tm = {0};
    int n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    assert_int_equal(n, 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

typedef struct Case {
    const char *name;
    RetentionRules rules;
    const char *now;
    int latest; /* index of the chain holding the pointer's backup */
    /* Each chain: its backups' times, separated by '|'. */
    const char *chains[MAX_CHAINS];
    /* Per chain, the expected reasons text; "" means: deleted. */
    const char *want[MAX_CHAINS];
} Case;

static const Case cases[] = {
    /* restic doc/060_forget.rst: one backup every Sunday for 12 weeks; `forget --keep-daily 4`
     * keeps the last four Sundays and removes the other eight. */
    {"restic: 12 Sundays, keep-daily 4",
     {.keep_daily = 4},
     "2019-11-18 00:00:00",
     11,
     {"2019-09-01 11:00:00", "2019-09-08 11:00:00", "2019-09-15 11:00:00", "2019-09-22 11:00:00",
      "2019-09-29 11:00:00", "2019-10-06 11:00:00", "2019-10-13 11:00:00", "2019-10-20 11:00:00",
      "2019-10-27 11:00:00", "2019-11-03 11:00:00", "2019-11-10 11:00:00", "2019-11-17 11:00:00"},
     {"", "", "", "", "", "", "", "", "daily-4 (2019-10-27)", "daily-3 (2019-11-03)",
      "daily-2 (2019-11-10)", "latest, daily-1 (2019-11-17)"}},
    /* kopia's author on its forum ("Trying to understand retention policies"): the latest
     * snapshot of each day gets daily-N, counting back from the newest day. */
    {"kopia: daily tags, newest per day",
     {.keep_daily = 5},
     "2001-01-05 16:00:00",
     6,
     {"2001-01-01 14:01:00", "2001-01-01 15:55:00", "2001-01-02 14:01:00", "2001-01-03 15:55:00",
      "2001-01-04 14:01:00", "2001-01-04 15:01:00", "2001-01-05 15:55:00"},
     {"", "daily-5 (2001-01-01)", "daily-4 (2001-01-02)", "daily-3 (2001-01-03)", "",
      "daily-2 (2001-01-04)", "latest, daily-1 (2001-01-05)"}},
    /* kopia snapshot/policy/retention_policy_test.go, KeepDaily 3 */
    {"kopia: keep-daily 3",
     {.keep_daily = 3},
     "2020-01-05 00:00:00",
     7,
     {"2020-01-01 12:00:00", "2020-01-01 15:00:00", "2020-01-02 12:00:00", "2020-01-02 15:00:00",
      "2020-01-03 12:00:00", "2020-01-03 15:00:00", "2020-01-04 12:00:00", "2020-01-04 15:00:00"},
     {"", "", "", "daily-3 (2020-01-02)", "", "daily-2 (2020-01-03)", "",
      "latest, daily-1 (2020-01-04)"}},
    /* kopia retention_policy_test.go, KeepMonthly 3 */
    {"kopia: keep-monthly 3",
     {.keep_monthly = 3},
     "2020-04-03 00:00:00",
     7,
     {"2020-01-01 12:00:00", "2020-01-01 15:00:00", "2020-02-01 12:00:00", "2020-02-02 15:00:00",
      "2020-03-01 12:00:00", "2020-03-02 15:00:00", "2020-04-01 12:00:00", "2020-04-02 15:00:00"},
     {"", "", "", "monthly-3 (2020-02)", "", "monthly-2 (2020-03)", "",
      "latest, monthly-1 (2020-04)"}},
    /* kopia retention_policy_test.go, KeepWeekly 3: ISO weeks, Monday to Sunday */
    {"kopia: keep-weekly 3",
     {.keep_weekly = 3},
     "2020-01-16 00:00:00",
     4,
     {"2020-01-01 12:00:00", "2020-01-01 15:00:00", "2020-01-08 12:00:00", "2020-01-09 12:00:00",
      "2020-01-15 12:00:00"},
     {"", "weekly-3 (2020-W01)", "", "weekly-2 (2020-W02)", "latest, weekly-1 (2020-W03)"}},
    /* kopia retention_policy_test.go, KeepLatest 3: our HFSYNC_KEEP_LAST */
    {"kopia: keep-latest 3",
     {.keep_last = 3},
     "2020-01-01 13:00:00",
     3,
     {"2020-01-01 12:00:00", "2020-01-01 12:01:00", "2020-01-01 12:02:00", "2020-01-01 12:03:00"},
     {"", "last-3", "last-2", "latest, last-1"}},
    /* Where kopia and restic differ: a month without backups. kopia also stops at N months
     * before the newest snapshot (and would drop January); restic counts only months that have
     * backups, and so does hfsync. */
    {"a month without backups does not count (restic)",
     {.keep_monthly = 3},
     "2020-04-03 00:00:00",
     4,
     {"2020-01-01 12:00:00", "2020-01-01 15:00:00", "2020-03-02 15:00:00", "2020-04-01 12:00:00",
      "2020-04-02 15:00:00"},
     {"", "monthly-3 (2020-01)", "monthly-2 (2020-03)", "", "latest, monthly-1 (2020-04)"}},
    /* Chains of several backups: the newest backup of each day decides, and a chain holding
     * the newest backups of two days is kept for both. */
    {"chains: the newest backup of a day keeps its chain",
     {.keep_daily = 2},
     "2026-11-21 04:00:00",
     2,
     {"2026-11-19 10:00:00|2026-11-19 11:00:00", "2026-11-20 22:00:00|2026-11-20 23:00:00",
      "2026-11-21 02:00:00|2026-11-21 03:00:00"},
     {"", "daily-2 (2026-11-20)", "latest, daily-1 (2026-11-21)"}},
    {"chains: one chain across midnight holds two days",
     {.keep_daily = 2},
     "2026-11-21 04:00:00",
     1,
     {"2026-11-19 10:00:00", "2026-11-20 22:00:00|2026-11-20 23:00:00|2026-11-21 01:00:00"},
     {"", "latest, daily-1..2 (2026-11-21..2026-11-20)"}},
    /* The chain of the pointer is kept even when no rule keeps it, and even when it is not the
     * newest (another writer's newer chain, a pointer moved back). */
    {"the latest chain is always kept",
     {0},
     "2026-11-21 12:00:00",
     0,
     {"2026-11-01 10:00:00|2026-11-01 11:00:00", "2026-11-20 10:00:00"},
     {"latest", ""}},
    {"full: the newest chains by their newest backup",
     {.keep_full = 2},
     "2026-11-21 12:00:00",
     3,
     {"2026-11-01 10:00:00|2026-11-18 10:00:00", "2026-11-10 10:00:00", "2026-11-15 10:00:00",
      "2026-11-20 10:00:00"},
     {"full-2", "", "", "latest, full-1"}},
    {"last: the chains of the newest backups",
     {.keep_last = 3},
     "2026-11-21 12:00:00",
     1,
     {"2026-11-19 10:00:00|2026-11-20 09:00:00", "2026-11-20 10:00:00|2026-11-20 11:00:00",
      "2026-11-18 10:00:00"},
     {"last-3", "latest, last-1..2", ""}},
    /* within: counted back from the newest backup that is not in the future, not from now;
     * a chain with a backup in the future (clock skew) is kept. */
    {"within: from the newest backup; the future is kept",
     {.keep_within_sec = 2 * 86400},
     "2027-01-01 00:00:00",
     2,
     {"2026-11-17 10:00:00", "2026-11-18 10:00:01", "2026-11-20 10:00:00", "2027-06-01 00:00:00"},
     {"", "within", "latest, within", "future"}},
    {"unlimited monthly keeps one per month",
     {.keep_monthly = RETENTION_UNLIMITED},
     "2026-11-21 12:00:00",
     4,
     {"2026-09-01 10:00:00", "2026-09-30 10:00:00", "2026-10-15 10:00:00", "2026-11-01 10:00:00",
      "2026-11-02 10:00:00"},
     {"", "monthly-3 (2026-09)", "monthly-2 (2026-10)", "", "latest, monthly-1 (2026-11)"}},
};

static void run_case(const Case *c)
{
    RetentionChain chains[MAX_CHAINS];
    RetentionBackup backups[MAX_CHAINS][MAX_MEMBERS];
    char names[MAX_CHAINS][MAX_MEMBERS][32];
    size_t n = 0;
    for (; n < MAX_CHAINS && c->chains[n] != NULL; n++) {
        char *copy = x_strdup(c->chains[n]), *save = NULL;
        size_t m = 0;
        for (char *it = strtok_r(copy, "|", &save); it != NULL; it = strtok_r(NULL, "|", &save)) {
            assert_true(m < MAX_MEMBERS);
            snprintf(names[n][m], sizeof(names[n][m]), "b%zu-%zu", n, m);
            backups[n][m] = (RetentionBackup){names[n][m], t_(it), 100};
            m++;
        }
        free(copy);
        chains[n] = (RetentionChain){backups[n], m, (int)n == c->latest};
    }
    RetentionDecision out[MAX_CHAINS];
    retention_plan(chains, n, &c->rules, t_(c->now), out);
    for (size_t i = 0; i < n; i++) {
        char why[512];
        retention_reasons_text(&out[i], why, sizeof(why));
        if (strcmp(why, c->want[i]) != 0 || out[i].keep != (c->want[i][0] != '\0'))
            fail_msg("%s: chain %zu (%s): got %s '%s', want '%s'", c->name, i, c->chains[i],
                     out[i].keep ? "keep" : "delete", why, c->want[i]);
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
}

/* restic doc/060_forget.rst: "suppose you make one backup every day ... Then forget
 * --keep-daily 7 --keep-weekly 5 --keep-monthly 12 ... would keep the most recent 7 daily
 * snapshots and 4 last-day-of-the-week ones (since the 7 dailies already include 1 weekly).
 * Additionally, 12 or 11 last-day-of-the-month snapshots will be kept". Two years of daily
 * backups ending on a Sunday: 7 + 4 + 11 (December's is a daily) = 22 chains. */
static void test_restic_daily_years(void **state)
{
    (void)state;
    int64_t first = t_("2023-01-01 12:00:00"), last = t_("2024-12-29 12:00:00");
    size_t n = (size_t)((last - first) / 86400) + 1;
    RetentionBackup *b = x_calloc(n, sizeof(*b));
    RetentionChain *c = x_calloc(n, sizeof(*c));
    char(*names)[32] = x_calloc(n, 32);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 32, "day%zu", i);
        b[i] = (RetentionBackup){names[i], first + (int64_t)i * 86400, 1};
        c[i] = (RetentionChain){&b[i], 1, i == n - 1};
    }
    RetentionRules r = {.keep_daily = 7, .keep_weekly = 5, .keep_monthly = 12};
    RetentionDecision *d = x_calloc(n, sizeof(*d));
    retention_plan(c, n, &r, last + 3600, d);
    static const char *const want[] = {
        /* the 7 dailies */
        "2024-12-23", "2024-12-24", "2024-12-25", "2024-12-26", "2024-12-27", "2024-12-28",
        "2024-12-29",
        /* 4 more weeklies: the Sundays before */
        "2024-12-22", "2024-12-15", "2024-12-08", "2024-12-01",
        /* 11 more monthlies: the last day of each month before December */
        "2024-11-30", "2024-10-31", "2024-09-30", "2024-08-31", "2024-07-31", "2024-06-30",
        "2024-05-31", "2024-04-30", "2024-03-31", "2024-02-29", "2024-01-31"};
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        char day[32];
        time_iso8601(b[i].created, day);
        day[10] = '\0';
        bool wanted = false;
        for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++)
            wanted |= strcmp(want[w], day) == 0;
        if (d[i].keep != wanted)
            fail_msg("%s: got %s, want %s", day, d[i].keep ? "keep" : "delete",
                     wanted ? "keep" : "delete");
        kept += d[i].keep;
    }
    assert_int_equal(kept, 22);
    char why[256];
    retention_reasons_text(&d[n - 1], why, sizeof(why));
    assert_string_equal(why, "latest, daily-1 (2024-12-29), weekly-1 (2024-W52), "
                             "monthly-1 (2024-12)");
    free(d);
    free(names);
    free(c);
    free(b);
}

/* Random targets: the latest chain is always kept, a decision is made for every chain, and
 * raising any rule never deletes a chain that was kept. */
static void test_properties(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + (size_t)(rand() % MAX_CHAINS);
        RetentionBackup b[MAX_CHAINS][MAX_MEMBERS];
        RetentionChain c[MAX_CHAINS];
        int64_t t = t_("2025-01-01 00:00:00");
        for (size_t i = 0; i < n; i++) {
            size_t m = 1 + (size_t)(rand() % MAX_MEMBERS);
            for (size_t j = 0; j < m; j++) {
                t += rand() % (3 * 86400);
                b[i][j] = (RetentionBackup){"x", t, 1};
            }
            c[i] = (RetentionChain){b[i], m, false};
        }
        c[(size_t)rand() % n].latest = true;
        RetentionRules r = {rand() % 4, rand() % 4, rand() % 4,
                            rand() % 3, rand() % 3, (rand() % 3) * 86400};
        RetentionDecision d[MAX_CHAINS], more[MAX_CHAINS];
        int64_t now = t + rand() % 86400;
        retention_plan(c, n, &r, now, d);
        RetentionRules r2 = r;
        switch (rand() % 6) {
        case 0:
            r2.keep_full++;
            break;
        case 1:
            r2.keep_last++;
            break;
        case 2:
            r2.keep_daily++;
            break;
        case 3:
            r2.keep_weekly++;
            break;
        case 4:
            r2.keep_monthly++;
            break;
        default:
            r2.keep_within_sec += 86400;
            break;
        }
        retention_plan(c, n, &r2, now, more);
        for (size_t i = 0; i < n; i++) {
            if (c[i].latest)
                assert_true(d[i].keep);
            assert_int_equal(d[i].keep, d[i].reason_count > 0);
            if (d[i].keep && !more[i].keep)
                fail_msg("round %d: a larger rule deleted chain %zu", round, i);
        }
    }
}

static void test_rules_text(void **state)
{
    (void)state;
    char s[256];
    RetentionRules r = {.keep_full = 12, .keep_daily = 7, .keep_weekly = 4, .keep_monthly = 3};
    retention_rules_text(&r, s, sizeof(s));
    assert_string_equal(s, "full 12, daily 7, weekly 4, monthly 3");
    r = (RetentionRules){.keep_last = RETENTION_UNLIMITED, .keep_within_sec = 36 * 3600};
    retention_rules_text(&r, s, sizeof(s));
    assert_string_equal(s, "last unlimited, within 36h");
    r = (RetentionRules){0};
    retention_rules_text(&r, s, sizeof(s));
    assert_string_equal(s, "none (only the latest chain is kept)");
    /* A tiny buffer is cut, never overrun. */
    char tiny[8];
    r = (RetentionRules){.keep_full = 12, .keep_daily = 7};
    retention_rules_text(&r, tiny, sizeof(tiny));
    assert_true(strlen(tiny) < sizeof(tiny));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_restic_daily_years),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_rules_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
