/*
 * The backup strategy (strategy.h): a pure function of the change set, the chain, the history and
 * the settings. The rules and their order are in the header; the dynamic choices are here.
 *
 * Compression level (HFSYNC_COMPRESSION_LEVEL=auto with HFSYNC_DYNAMIC on), zstd levels:
 *   1. by the content bytes the backup stores: below HFSYNC_DYNAMIC_SMALL_SIZE 3, below
 *      HFSYNC_DYNAMIC_LARGE_SIZE 6, else 9. These are the original script's size classes and
 *      gzip levels 3/6/9, taken over as zstd levels: zstd at each is faster than gzip at the same
 *      number and compresses better, so big backups still pay less upload for a little CPU;
 *   2. by the change rate (changed files per minute since the previous backup): above
 *      HFSYNC_DYNAMIC_HIGH_RATE -2, below HFSYNC_DYNAMIC_LOW_RATE +1 (the script's rule): a tree
 *      that changes fast is backed up often, so each backup must be quick;
 *   3. by the upload speed the previous backup measured: below HFSYNC_DYNAMIC_SLOW_UPLOAD +3
 *      (every byte saved saves more time than the CPU spends), above HFSYNC_DYNAMIC_FAST_UPLOAD -1
 *      (compression, not the link, would be the bottleneck);
 *   4. kept within HFSYNC_COMPRESSION_MIN..HFSYNC_COMPRESSION_MAX.
 * A rule whose measurement is unknown (no previous backup) does not apply.
 *
 * Volume size (HFSYNC_VOLUME_SIZE=auto with HFSYNC_DYNAMIC on): about STRATEGY_VOLUME_UPLOAD_SEC
 * of upload at the measured speed, so a failed or interrupted upload loses about that much work
 * and progress is checkpointed as often; 256M when the speed is unknown; within
 * HFSYNC_VOLUME_SIZE_MIN..HFSYNC_VOLUME_SIZE_MAX, in whole MiB.
 */
#include "hfsync/strategy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hfsync/util.h"

#define MIB (1ull << 20)

const char *strategy_action_name(StrategyAction action)
{
    switch (action) {
    case STRATEGY_SKIP:
        return "skip";
    case STRATEGY_INCREMENTAL:
        return "incremental";
    default:
        return "full";
    }
}

void strategy_settings_from_config(const Config *cfg, StrategySettings *s)
{
    const StrategyConfig *c = &cfg->strategy;
    memset(s, 0, sizeof(*s));
    s->full_only = c->full_only;
    s->max_incrementals = cfg->max_incrementals;
    s->full_interval_sec = c->full_interval_sec;
    s->full_ratio = c->full_ratio;
    s->min_changed_files = c->min_changed_files;
    s->min_changed_size = c->min_changed_size;
    /* auto: the original script's cap, max(3, max_incrementals / 3) */
    s->max_skips = c->max_skips >= 0               ? c->max_skips
                   : cfg->max_incrementals / 3 > 3 ? cfg->max_incrementals / 3
                                                   : 3;
    s->dynamic = c->dynamic;
    s->level = cfg->compression_level;
    s->level_min = c->level_min;
    s->level_max = c->level_max;
    s->volume_size = cfg->volume_size;
    s->volume_min = c->volume_min;
    s->volume_max = c->volume_max;
    s->small_size = c->small_size;
    s->large_size = c->large_size;
    s->high_rate = c->high_rate;
    s->low_rate = c->low_rate;
    s->slow_upload = c->slow_upload;
    s->fast_upload = c->fast_upload;
}

/* ---- text ---- */

typedef struct Text {
    char *buf;
    size_t cap, len;
} Text;

__attribute__((format(printf, 2, 3))) static void text_add(Text *t, const char *fmt, ...)
{
    if (t->len + 1 >= t->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

/* "45s", "12m", "1h12m", "3d4h". */
static void strategy_duration(int64_t sec, char out[32])
{
    if (sec < 0)
        sec = 0;
    if (sec < 60)
        snprintf(out, 32, "%llds", (long long)sec);
    else if (sec < 3600)
        snprintf(out, 32, "%lldm", (long long)(sec / 60));
    else if (sec < 86400)
        snprintf(out, 32, "%lldh%02lldm", (long long)(sec / 3600), (long long)(sec % 3600 / 60));
    else
        snprintf(out, 32, "%lldd%lldh", (long long)(sec / 86400), (long long)(sec % 86400 / 3600));
}

static double strategy_rate(const StrategyInput *in)
{
    return in->since_prev_sec > 0 ? (double)in->changes.files * 60.0 / (double)in->since_prev_sec
                                  : -1;
}

/* ---- the action ---- */

/* Rules 3 and 4 of the header, for a chain that may be continued. Sets the action and the why. */
static void strategy_action(const StrategyInput *in, const StrategySettings *s,
                            StrategyDecision *out, Text *why)
{
    const StrategyChanges *c = &in->changes;
    char a[32], b[32];
    if (s->full_only) {
        out->action = STRATEGY_FULL;
        text_add(why, "incrementals are off (HFSYNC_INCREMENTAL=false)");
        return;
    }
    if (in->chain_incrementals >= s->max_incrementals) {
        out->action = STRATEGY_FULL;
        text_add(why, "the chain has %lld incrementals (HFSYNC_MAX_INCREMENTALS %d)",
                 (long long)in->chain_incrementals, s->max_incrementals);
        return;
    }
    if (s->full_interval_sec > 0 && in->full_age_sec >= s->full_interval_sec) {
        strategy_duration(in->full_age_sec, a);
        strategy_duration(s->full_interval_sec, b);
        out->action = STRATEGY_FULL;
        text_add(why, "its full backup is %s old (HFSYNC_FULL_INTERVAL %s)", a, b);
        return;
    }
    /* Both sides would compress alike, so the share of content bytes is the share of size. */
    if (s->full_ratio > 0 && c->total_bytes > 0 &&
        (double)c->bytes * 100.0 > (double)s->full_ratio * (double)c->total_bytes) {
        size_human(c->bytes, a);
        size_human(c->total_bytes, b);
        out->action = STRATEGY_FULL;
        text_add(why,
                 "the incremental would be %.0f%% of a full (%s of %s; HFSYNC_FULL_RATIO %d%%)",
                 (double)c->bytes * 100.0 / (double)c->total_bytes, a, b, s->full_ratio);
        return;
    }
    bool thresholds = s->min_changed_files > 0 || s->min_changed_size > 0;
    bool below = thresholds && (s->min_changed_files == 0 || c->files < s->min_changed_files) &&
                 (s->min_changed_size == 0 || c->bytes < s->min_changed_size);
    if (below) {
        char limits[160];
        Text l = {.buf = limits, .cap = sizeof(limits)};
        if (s->min_changed_files > 0)
            text_add(&l, "HFSYNC_MIN_CHANGED_FILES %llu", (unsigned long long)s->min_changed_files);
        if (s->min_changed_size > 0) {
            size_human(s->min_changed_size, b);
            text_add(&l, "%sHFSYNC_MIN_CHANGED_SIZE %s", s->min_changed_files > 0 ? " and " : "",
                     b);
        }
        if (in->final) {
            out->action = STRATEGY_INCREMENTAL;
            text_add(why, "below %s, but the final backup is never skipped", limits);
        } else if (s->max_skips == 0) {
            out->action = STRATEGY_INCREMENTAL;
            text_add(why, "below %s, but HFSYNC_MAX_SKIPS is 0", limits);
        } else if (in->skips >= s->max_skips) {
            out->action = STRATEGY_INCREMENTAL;
            text_add(why, "below %s, but %d backup%s in a row were skipped (HFSYNC_MAX_SKIPS %d)",
                     limits, in->skips, in->skips == 1 ? "" : "s", s->max_skips);
        } else {
            out->action = STRATEGY_SKIP;
            out->skip_counts = true;
            text_add(why, "below %s; skip %d of at most %d in a row", limits, in->skips + 1,
                     s->max_skips);
        }
        return;
    }
    out->action = STRATEGY_INCREMENTAL;
    text_add(why, "the chain continues");
}

/* ---- level and volume size ---- */

static int strategy_clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void strategy_level(const StrategyInput *in, const StrategySettings *s,
                           StrategyDecision *out, Text *how)
{
    if (s->level > 0 || !s->dynamic) {
        out->level = s->level > 0 ? s->level : STRATEGY_DEFAULT_LEVEL;
        text_add(how, "level %d (%s)", out->level,
                 s->level > 0 ? "HFSYNC_COMPRESSION_LEVEL" : "HFSYNC_DYNAMIC off");
        return;
    }
    char sz[32];
    size_human(out->store_bytes, sz);
    int level;
    const char *cls;
    if (out->store_bytes < s->small_size) {
        level = 3;
        cls = "small";
    } else if (out->store_bytes < s->large_size) {
        level = 6;
        cls = "medium";
    } else {
        level = 9;
        cls = "large";
    }
    Text t = {.buf = (char[256]){0}, .cap = 256};
    text_add(&t, "%s %s: %d", cls, sz, level);
    double rate = strategy_rate(in);
    if (rate >= 0 && rate > s->high_rate) {
        level -= 2;
        text_add(&t, ", %.1f files/min -2", rate);
    } else if (rate >= 0 && rate < s->low_rate) {
        level += 1;
        text_add(&t, ", %.1f files/min +1", rate);
    }
    if (in->upload_rate > 0) {
        size_human((uint64_t)in->upload_rate, sz);
        if (in->upload_rate < (double)s->slow_upload) {
            level += 3;
            text_add(&t, ", slow upload %s/s +3", sz);
        } else if (in->upload_rate > (double)s->fast_upload) {
            level -= 1;
            text_add(&t, ", fast upload %s/s -1", sz);
        }
    }
    /* Bounds the configuration never gives (it checks them) fall back to zstd's range. */
    bool sane = s->level_min >= 1 && s->level_max <= 19 && s->level_min <= s->level_max;
    int lo = sane ? s->level_min : 1, hi = sane ? s->level_max : 19;
    int bounded = strategy_clamp(level, lo, hi);
    if (bounded != level)
        text_add(&t, ", within %d-%d", lo, hi);
    out->level = bounded;
    text_add(how, "level %d (auto: %s)", out->level, t.buf);
}

static void strategy_volume(const StrategyInput *in, const StrategySettings *s,
                            StrategyDecision *out, Text *how)
{
    char sz[32], speed[48];
    if (s->volume_size > 0 || !s->dynamic) {
        out->volume_size = s->volume_size > 0 ? s->volume_size : STRATEGY_DEFAULT_VOLUME_SIZE;
        size_human(out->volume_size, sz);
        text_add(how, "volume %s (%s)", sz,
                 s->volume_size > 0 ? "HFSYNC_VOLUME_SIZE" : "HFSYNC_DYNAMIC off");
        return;
    }
    uint64_t v = STRATEGY_DEFAULT_VOLUME_SIZE;
    speed[0] = '\0';
    if (in->upload_rate > 0) {
        double want = in->upload_rate * STRATEGY_VOLUME_UPLOAD_SEC;
        v = want >= (double)(64ull << 30) ? (64ull << 30) : (uint64_t)want / MIB * MIB;
        size_human((uint64_t)in->upload_rate, sz);
        snprintf(speed, sizeof(speed), "%s/s", sz);
    }
    bool sane = s->volume_min > 0 && s->volume_min <= s->volume_max;
    uint64_t lo = sane ? s->volume_min : 16 * MIB, hi = sane ? s->volume_max : 1024 * MIB;
    v = v < lo ? lo : v > hi ? hi : v;
    out->volume_size = v;
    size_human(v, sz);
    if (speed[0] != '\0')
        text_add(how, "volume %s (auto: %ds of upload at %s)", sz, STRATEGY_VOLUME_UPLOAD_SEC,
                 speed);
    else
        text_add(how, "volume %s (auto: upload speed not known yet)", sz);
}

/* ---- the decision ---- */

void strategy_decide(const StrategyInput *in, const StrategySettings *s, StrategyDecision *out)
{
    memset(out, 0, sizeof(*out));
    const StrategyChanges *c = &in->changes;
    Text why = {.buf = (char[320]){0}, .cap = 320};
    bool nothing = c->added + c->changed + c->deleted == 0;

    if (in->forced_full != NULL) {
        out->action = STRATEGY_FULL;
        text_add(&why, "%s", in->forced_full);
    } else if (nothing) {
        out->action = STRATEGY_SKIP;
        text_add(&why, "nothing changed since the latest backup");
    } else {
        strategy_action(in, s, out, &why);
    }

    bool full = out->action == STRATEGY_FULL;
    uint64_t entries = full ? c->total_entries : c->added + c->changed;
    out->store_files = full ? c->total_files : c->store_files;
    out->store_bytes = full ? c->total_bytes : c->bytes;

    Text t = {.buf = out->reason, .cap = sizeof(out->reason)};
    text_add(&t, "%s", why.buf);
    char a[32], b[32];
    size_human(c->bytes, a);
    if (in->forced_full == NULL && nothing) {
        text_add(&t, "; %llu entries checked", (unsigned long long)c->total_entries);
    } else if (in->forced_full == NULL) {
        text_add(&t, "; %llu file%s / %s changed (entries: %llu added, %llu changed, %llu deleted)",
                 (unsigned long long)c->files, c->files == 1 ? "" : "s", a,
                 (unsigned long long)c->added, (unsigned long long)c->changed,
                 (unsigned long long)c->deleted);
        double rate = strategy_rate(in);
        if (rate >= 0)
            text_add(&t, ", %.1f files/min", rate);
    }
    if (in->forced_full == NULL) {
        strategy_duration(in->full_age_sec, b);
        text_add(&t, "; chain %lld/%d, full %s old", (long long)in->chain_incrementals,
                 s->max_incrementals, b);
        if (in->full_size > 0 && in->chain_size > 0) {
            size_human(in->full_size, a);
            size_human(in->chain_size, b);
            text_add(&t, " (full %s, chain %s)", a, b);
        }
    } else {
        size_human(c->total_bytes, a);
        text_add(&t, "; %llu file%s / %s in the state", (unsigned long long)c->total_files,
                 c->total_files == 1 ? "" : "s", a);
    }
    if (out->action == STRATEGY_SKIP)
        return;

    text_add(&t, "; ");
    strategy_level(in, s, out, &t);
    text_add(&t, ", ");
    strategy_volume(in, s, out, &t);
    double ratio = in->ratio > 0 ? in->ratio : 1.0;
    out->expected_size = (uint64_t)((double)out->store_bytes * ratio);
    if (entries > 0)
        out->expected_volumes =
            out->expected_size / out->volume_size + (out->expected_size % out->volume_size != 0);
    if (entries > 0 && out->expected_volumes == 0)
        out->expected_volumes = 1;
}
