/* The backup strategy (strategy.h) as a pure function: a table of inputs and settings, each row
 * with the decision it must give (action, level, volume size, words of the reason). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hfsync/strategy.h"

/* Rows override single fields of the defaults below: a later designated initializer wins. */
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Woverride-init-side-effects"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* The configuration's defaults (env.example). */
#define SETTINGS(...)                                                                              \
    {                                                                                              \
        .max_incrementals = 10, .full_interval_sec = 86400, .full_ratio = 50, .max_skips = 3,      \
        .dynamic = true, .level_min = 1, .level_max = 19, .volume_min = 16 * MIB,                  \
        .volume_max = 1 * GIB, .small_size = 500 * MIB, .large_size = 2 * GIB, .high_rate = 10,    \
        .low_rate = 2, .slow_upload = 2 * MIB, .fast_upload = 64 * MIB, __VA_ARGS__                \
    }

/* 5 files (1 MiB) changed of 1000 (100 MiB) a minute after the previous backup: 5 files/min,
 * between the rate thresholds; a chain of 2 incrementals on a full an hour old; the upload speed
 * not known yet. So the default row is a plain incremental at the small class's level 3. */
#define CHANGES(...)                                                                               \
    {                                                                                              \
        .added = 1, .changed = 4, .files = 5, .store_files = 5, .bytes = 1 * MIB,                  \
        .total_entries = 1100, .total_files = 1000, .total_bytes = 100 * MIB, __VA_ARGS__          \
    }
#define INPUT(...)                                                                                 \
    {                                                                                              \
        .changes = CHANGES(), .chain_incrementals = 2, .full_age_sec = 3600,                       \
        .full_size = 50 * MIB, .chain_size = 52 * MIB, .since_prev_sec = 60, .ratio = 0.5,         \
        __VA_ARGS__                                                                                \
    }
#define NOTHING CHANGES(.added = 0, .changed = 0, .files = 0, .store_files = 0, .bytes = 0)

typedef struct Row {
    const char *name;
    StrategyInput in;
    StrategySettings s;
    StrategyAction action;
    int level;            /* 0: not checked */
    uint64_t volume_size; /* 0: not checked */
    const char *reason;   /* a piece of the reason; NULL: not checked */
    bool skip_counts;
} Row;

static const Row rows[] = {
    /* ---- what to do ---- */
    {"a plain change continues the chain", INPUT(), SETTINGS(), STRATEGY_INCREMENTAL, 3, 0,
     "the chain continues; 5 files / 1.0 MiB changed (entries: 1 added, 4 changed, 0 deleted), "
     "5.0 files/min; chain 2/10, full 1h00m old (full 50.0 MiB, chain 52.0 MiB)"},
    {"nothing changed: skip, not counted", INPUT(.changes = NOTHING), SETTINGS(), STRATEGY_SKIP, 0,
     0, "nothing changed since the latest backup; 1100 entries checked; chain 2/10"},
    {"nothing changed, final backup: still skip (nothing to save)",
     INPUT(.changes = NOTHING, .final = true), SETTINGS(), STRATEGY_SKIP, 0, 0, "nothing changed"},
    {"nothing changed, chain full and old: skip",
     INPUT(.changes = NOTHING, .chain_incrementals = 10, .full_age_sec = 30 * 86400), SETTINGS(),
     STRATEGY_SKIP, 0, 0, "nothing changed"},
    {"a required full is made even when nothing changed",
     INPUT(.changes = NOTHING, .forced_full = "--full was given"), SETTINGS(), STRATEGY_FULL, 4, 0,
     "--full was given; 1000 files / 100.0 MiB in the state"},
    {"a required full beats the thresholds", INPUT(.forced_full = "no backup exists yet"),
     SETTINGS(.min_changed_files = 100, .min_changed_size = 100 * MIB), STRATEGY_FULL, 0, 0,
     "no backup exists yet"},
    {"HFSYNC_MAX_INCREMENTALS reached", INPUT(.chain_incrementals = 10), SETTINGS(), STRATEGY_FULL,
     0, 0, "the chain has 10 incrementals (HFSYNC_MAX_INCREMENTALS 10)"},
    {"one below HFSYNC_MAX_INCREMENTALS", INPUT(.chain_incrementals = 9), SETTINGS(),
     STRATEGY_INCREMENTAL, 0, 0, "chain 9/10"},
    {"HFSYNC_MAX_INCREMENTALS=0: every backup full", INPUT(.chain_incrementals = 0),
     SETTINGS(.max_incrementals = 0), STRATEGY_FULL, 0, 0, "HFSYNC_MAX_INCREMENTALS 0"},
    {"HFSYNC_INCREMENTAL=false", INPUT(), SETTINGS(.full_only = true), STRATEGY_FULL, 0, 0,
     "incrementals are off (HFSYNC_INCREMENTAL=false)"},
    {"the full is HFSYNC_FULL_INTERVAL old", INPUT(.full_age_sec = 86400), SETTINGS(),
     STRATEGY_FULL, 0, 0, "its full backup is 1d0h old (HFSYNC_FULL_INTERVAL 1d0h)"},
    {"the full is a second younger than HFSYNC_FULL_INTERVAL", INPUT(.full_age_sec = 86399),
     SETTINGS(), STRATEGY_INCREMENTAL, 0, 0, "full 23h59m old"},
    {"HFSYNC_FULL_INTERVAL=2h (the script's default)", INPUT(.full_age_sec = 7300),
     SETTINGS(.full_interval_sec = 7200), STRATEGY_FULL, 0, 0,
     "its full backup is 2h01m old (HFSYNC_FULL_INTERVAL 2h00m)"},
    {"HFSYNC_FULL_INTERVAL=0 is off", INPUT(.full_age_sec = 400 * 86400),
     SETTINGS(.full_interval_sec = 0), STRATEGY_INCREMENTAL, 0, 0, "full 400d0h old"},
    {"the incremental would be over HFSYNC_FULL_RATIO of a full",
     INPUT(.changes = CHANGES(.bytes = 51 * MIB)), SETTINGS(), STRATEGY_FULL, 0, 0,
     "the incremental would be 51% of a full (51.0 MiB of 100.0 MiB; HFSYNC_FULL_RATIO 50%)"},
    {"exactly HFSYNC_FULL_RATIO of a full is still an incremental",
     INPUT(.changes = CHANGES(.bytes = 50 * MIB)), SETTINGS(), STRATEGY_INCREMENTAL, 0, 0,
     "the chain continues"},
    {"HFSYNC_FULL_RATIO=0 is off", INPUT(.changes = CHANGES(.bytes = 100 * MIB)),
     SETTINGS(.full_ratio = 0), STRATEGY_INCREMENTAL, 0, 0, "the chain continues"},
    {"a state of empty files has no ratio", INPUT(.changes = CHANGES(.bytes = 0, .total_bytes = 0)),
     SETTINGS(), STRATEGY_INCREMENTAL, 0, 0, NULL},
    {"HFSYNC_FULL_RATIO=10", INPUT(.changes = CHANGES(.bytes = 11 * MIB)),
     SETTINGS(.full_ratio = 10), STRATEGY_FULL, 0, 0, "11% of a full"},

    /* ---- skipping below the thresholds ---- */
    {"fewer files and fewer bytes than the minimums: skip 1",
     INPUT(.changes = CHANGES(.files = 3, .bytes = 10 * KIB)),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_SKIP, 0, 0,
     "below HFSYNC_MIN_CHANGED_FILES 5 and HFSYNC_MIN_CHANGED_SIZE 100.0 KiB; skip 1 of at most "
     "3 in a row",
     true},
    {"the third skip in a row",
     INPUT(.changes = CHANGES(.files = 3, .bytes = 10 * KIB), .skips = 2),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_SKIP, 0, 0,
     "skip 3 of at most 3 in a row", true},
    {"the skip cap reached: back up",
     INPUT(.changes = CHANGES(.files = 3, .bytes = 10 * KIB), .skips = 3),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_INCREMENTAL, 0, 0,
     "3 backups in a row were skipped (HFSYNC_MAX_SKIPS 3)"},
    {"HFSYNC_MAX_SKIPS=0: never skipped", INPUT(.changes = CHANGES(.files = 1, .bytes = 1)),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB, .max_skips = 0),
     STRATEGY_INCREMENTAL, 0, 0, "but HFSYNC_MAX_SKIPS is 0"},
    {"as many files as the minimum: no skip", INPUT(.changes = CHANGES(.files = 5, .bytes = 1)),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_INCREMENTAL, 0, 0,
     "the chain continues"},
    {"as many bytes as the minimum: no skip",
     INPUT(.changes = CHANGES(.files = 1, .bytes = 100 * KIB)),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_INCREMENTAL, 0, 0,
     "the chain continues"},
    {"only HFSYNC_MIN_CHANGED_FILES set", INPUT(.changes = CHANGES(.files = 1, .bytes = GIB)),
     SETTINGS(.min_changed_files = 2, .full_ratio = 0), STRATEGY_SKIP, 0, 0,
     "below HFSYNC_MIN_CHANGED_FILES 2; skip 1", true},
    {"only HFSYNC_MIN_CHANGED_SIZE set", INPUT(.changes = CHANGES(.files = 900, .bytes = 10)),
     SETTINGS(.min_changed_size = 1 * KIB), STRATEGY_SKIP, 0, 0,
     "below HFSYNC_MIN_CHANGED_SIZE 1.0 KiB; skip 1", true},
    {"no thresholds (the defaults): one changed file is backed up",
     INPUT(.changes = CHANGES(.files = 1, .bytes = 1)), SETTINGS(), STRATEGY_INCREMENTAL, 0, 0,
     "1 file / 1 B changed"},
    {"the final backup is never skipped by the thresholds",
     INPUT(.changes = CHANGES(.files = 1, .bytes = 1), .final = true),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_INCREMENTAL, 0, 0,
     "but the final backup is never skipped"},
    {"a due full beats a skip",
     INPUT(.changes = CHANGES(.files = 1, .bytes = 1), .chain_incrementals = 10),
     SETTINGS(.min_changed_files = 5, .min_changed_size = 100 * KIB), STRATEGY_FULL, 0, 0,
     "HFSYNC_MAX_INCREMENTALS"},

    /* ---- compression level ---- */
    {"a fixed level is kept whatever the measurements",
     INPUT(.upload_rate = 100 * KIB, .changes = CHANGES(.files = 500)), SETTINGS(.level = 7),
     STRATEGY_INCREMENTAL, 7, 0, "level 7 (HFSYNC_COMPRESSION_LEVEL)"},
    {"a fixed level outside the dynamic bounds is kept", INPUT(),
     SETTINGS(.level = 19, .level_max = 9), STRATEGY_INCREMENTAL, 19, 0, NULL},
    {"HFSYNC_DYNAMIC=false with auto: level 3", INPUT(.upload_rate = 100 * KIB),
     SETTINGS(.dynamic = false), STRATEGY_INCREMENTAL, 3, 0, "level 3 (HFSYNC_DYNAMIC off)"},
    {"small, no history: 3", INPUT(.since_prev_sec = 0), SETTINGS(), STRATEGY_INCREMENTAL, 3, 0,
     "level 3 (auto: small 1.0 MiB: 3)"},
    {"medium class: 6",
     INPUT(.forced_full = "x", .since_prev_sec = 0, .changes = CHANGES(.total_bytes = 600 * MIB)),
     SETTINGS(), STRATEGY_FULL, 6, 0, "level 6 (auto: medium 600.0 MiB: 6)"},
    {"large class: 9",
     INPUT(.forced_full = "x", .since_prev_sec = 0, .changes = CHANGES(.total_bytes = 3 * GIB)),
     SETTINGS(), STRATEGY_FULL, 9, 0, "level 9 (auto: large 3.0 GiB: 9)"},
    {"the classes follow HFSYNC_DYNAMIC_SMALL_SIZE / _LARGE_SIZE",
     INPUT(.forced_full = "x", .since_prev_sec = 0, .changes = CHANGES(.total_bytes = 20 * MIB)),
     SETTINGS(.small_size = 10 * MIB, .large_size = 15 * MIB), STRATEGY_FULL, 9, 0, "large"},
    {"a high change rate: -2", INPUT(.changes = CHANGES(.files = 50)), SETTINGS(),
     STRATEGY_INCREMENTAL, 1, 0, "50.0 files/min -2"},
    {"a low change rate: +1", INPUT(.since_prev_sec = 600), SETTINGS(), STRATEGY_INCREMENTAL, 4, 0,
     "0.5 files/min +1"},
    {"the rate thresholds are settings", INPUT(.since_prev_sec = 600),
     SETTINGS(.low_rate = 0.25, .high_rate = 0.4), STRATEGY_INCREMENTAL, 1, 0, "-2"},
    {"a slow upload: +3", INPUT(.upload_rate = 1 * MIB), SETTINGS(), STRATEGY_INCREMENTAL, 6, 0,
     "slow upload 1.0 MiB/s +3"},
    {"a fast upload: -1", INPUT(.upload_rate = 100 * MIB), SETTINGS(), STRATEGY_INCREMENTAL, 2, 0,
     "fast upload 100.0 MiB/s -1"},
    {"large with a slow upload: 12",
     INPUT(.forced_full = "x", .upload_rate = 512 * KIB,
           .changes = CHANGES(.total_bytes = 3 * GIB)),
     SETTINGS(), STRATEGY_FULL, 12, 0,
     "level 12 (auto: large 3.0 GiB: 9, slow upload 512.0 KiB/s +3)"},
    {"the lowest bound", INPUT(.changes = CHANGES(.files = 50), .upload_rate = 100 * MIB),
     SETTINGS(), STRATEGY_INCREMENTAL, 1, 0, "within 1-19"},
    {"HFSYNC_COMPRESSION_MIN", INPUT(), SETTINGS(.level_min = 5), STRATEGY_INCREMENTAL, 5, 0,
     "within 5-19"},
    {"HFSYNC_COMPRESSION_MAX", INPUT(.since_prev_sec = 6000, .upload_rate = 100 * KIB),
     SETTINGS(.level_max = 4), STRATEGY_INCREMENTAL, 4, 0, "within 1-4"},

    {"bounds the configuration never gives fall back to 1-19 and 16M-1G",
     INPUT(.changes = CHANGES(.files = 500), .upload_rate = GIB),
     SETTINGS(.level_min = 0, .level_max = 0, .volume_min = 0, .volume_max = 0),
     STRATEGY_INCREMENTAL, 1, GIB, "within 1-19"},
    {"the same with the speed unknown", INPUT(),
     SETTINGS(.level_min = 9, .level_max = 2, .volume_min = 0, .volume_max = 0),
     STRATEGY_INCREMENTAL, 3, 256 * MIB, NULL},

    /* ---- volume size ---- */
    {"a fixed volume size is kept, even below the dynamic bounds", INPUT(.upload_rate = 10 * MIB),
     SETTINGS(.volume_size = 1 * MIB), STRATEGY_INCREMENTAL, 0, 1 * MIB,
     "volume 1.0 MiB (HFSYNC_VOLUME_SIZE)"},
    {"HFSYNC_DYNAMIC=false with auto: 256M", INPUT(.upload_rate = 10 * MIB),
     SETTINGS(.dynamic = false), STRATEGY_INCREMENTAL, 0, 256 * MIB, "(HFSYNC_DYNAMIC off)"},
    {"upload speed unknown: 256M", INPUT(), SETTINGS(), STRATEGY_INCREMENTAL, 0, 256 * MIB,
     "volume 256.0 MiB (auto: upload speed not known yet)"},
    {"a minute of upload at 10 MiB/s", INPUT(.upload_rate = 10 * MIB), SETTINGS(),
     STRATEGY_INCREMENTAL, 0, 600 * MIB, "volume 600.0 MiB (auto: 60s of upload at 10.0 MiB/s)"},
    {"in whole MiB", INPUT(.upload_rate = 10 * MIB + 12345), SETTINGS(), STRATEGY_INCREMENTAL, 0,
     600 * MIB, NULL},
    {"fast: HFSYNC_VOLUME_SIZE_MAX", INPUT(.upload_rate = 100 * MIB), SETTINGS(),
     STRATEGY_INCREMENTAL, 0, 1 * GIB, NULL},
    {"slow: HFSYNC_VOLUME_SIZE_MIN", INPUT(.upload_rate = 100 * KIB), SETTINGS(),
     STRATEGY_INCREMENTAL, 0, 16 * MIB, NULL},
    {"unknown speed within a lower HFSYNC_VOLUME_SIZE_MAX", INPUT(),
     SETTINGS(.volume_max = 128 * MIB), STRATEGY_INCREMENTAL, 0, 128 * MIB, NULL},
};

static void test_table(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const Row *r = &rows[i];
        StrategyDecision d;
        memset(&d, 0x5a, sizeof(d));
        strategy_decide(&r->in, &r->s, &d);
        bool ok = d.action == r->action && (r->level == 0 || d.level == r->level) &&
                  (r->volume_size == 0 || d.volume_size == r->volume_size) &&
                  (r->reason == NULL || strstr(d.reason, r->reason) != NULL) &&
                  d.skip_counts == r->skip_counts;
        if (d.action == STRATEGY_SKIP)
            ok = ok && d.level == 0 && d.volume_size == 0 && d.expected_volumes == 0;
        else
            ok = ok && d.level >= 1 && d.level <= 19 && d.volume_size > 0;
        if (!ok) {
            print_error("row %zu '%s': got %s level %d volume %llu skip_counts %d\n  reason: %s\n"
                        "  wanted %s level %d volume %llu skip_counts %d, reason with: %s\n",
                        i, r->name, strategy_action_name(d.action), d.level,
                        (unsigned long long)d.volume_size, d.skip_counts, d.reason,
                        strategy_action_name(r->action), r->level,
                        (unsigned long long)r->volume_size, r->skip_counts,
                        r->reason ? r->reason : "-");
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* The dynamic level rules add up: large 9, +1 low rate, +3 slow upload = 13, within bounds. */
static void test_level_rules_add_up(void **state)
{
    (void)state;
    StrategyInput in = INPUT(.forced_full = "x", .since_prev_sec = 6000, .upload_rate = 512 * KIB,
                             .changes = CHANGES(.total_bytes = 3 * GIB, .files = 1));
    StrategySettings s = SETTINGS();
    StrategyDecision d;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.level, 13);
    s.level_max = 12;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.level, 12);
    /* and down: small 3, -2 high rate, -1 fast upload = 0, held at the minimum */
    in = (StrategyInput)INPUT(.changes = CHANGES(.files = 100), .upload_rate = 1 * GIB);
    s = (StrategySettings)SETTINGS(.level_min = 2);
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.level, 2);
}

/* What the backup would store and upload: the incremental's changed files, a full's whole state,
 * at the measured compression ratio, in volumes of the chosen size. */
static void test_expected_upload(void **state)
{
    (void)state;
    StrategyDecision d;
    StrategySettings s = SETTINGS(.volume_size = 256 * MIB, .full_ratio = 0);
    StrategyInput in = INPUT(.changes = CHANGES(.store_files = 40, .bytes = 1 * GIB,
                                                .total_bytes = 4 * GIB, .total_files = 4000));
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_INCREMENTAL);
    assert_int_equal(d.store_files, 40);
    assert_true(d.store_bytes == 1 * GIB);
    assert_true(d.expected_size == 512 * MIB); /* ratio 0.5 */
    assert_int_equal(d.expected_volumes, 2);

    in.forced_full = "--full was given";
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.store_files, 4000);
    assert_true(d.store_bytes == 4 * GIB);
    assert_int_equal(d.expected_volumes, 8);

    /* no ratio measured yet: assume no compression (an upper bound) */
    in.ratio = 0;
    strategy_decide(&in, &s, &d);
    assert_true(d.expected_size == 4 * GIB);
    assert_int_equal(d.expected_volumes, 16);

    /* only deletions: no volume to write */
    in = (StrategyInput)INPUT(.changes = CHANGES(.added = 0, .changed = 0, .deleted = 3, .files = 3,
                                                 .store_files = 0, .bytes = 0));
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.action, STRATEGY_INCREMENTAL);
    assert_int_equal(d.expected_volumes, 0);
    /* a changed directory (no content) still makes one volume */
    in.changes.changed = 1;
    strategy_decide(&in, &s, &d);
    assert_int_equal(d.expected_volumes, 1);
}

static void test_action_names(void **state)
{
    (void)state;
    assert_string_equal(strategy_action_name(STRATEGY_SKIP), "skip");
    assert_string_equal(strategy_action_name(STRATEGY_INCREMENTAL), "incremental");
    assert_string_equal(strategy_action_name(STRATEGY_FULL), "full");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_level_rules_add_up),
        cmocka_unit_test(test_expected_upload),
        cmocka_unit_test(test_action_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
