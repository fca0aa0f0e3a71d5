/*
 * Prune, first half (prune.intern.h): read the target and decide. Every object directly under the
 * prefix whose name is a backup's (docs/FORMAT.md §1, reference/seed-format.md) is grouped by
 * backup name; a backup with a .meta.json has completed, one without is in progress or abandoned.
 * Completed backups are grouped into chains by their `parent` links and their `chain_id`, so a
 * chain is never split, even when a link is damaged. Objects with other names are never touched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.intern.h"
#include "hfsync/chain.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "prune.intern.h"

#define SEED_NAME_PREFIX "openclaw-backup-"
#define SEED_PREFIX_LEN 16
#define STAMP_LEN 15 /* YYYYMMDD-HHMMSS */

/* ---- object names ---- */

static bool prune_digits(const char *s, size_t n, int *value)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return true;
}

/* "YYYYMMDD-HHMMSS" (UTC) at the start of `s`. */
static bool prune_stamp(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (!prune_digits(s, 4, &y) || !prune_digits(s + 4, 2, &mo) || !prune_digits(s + 6, 2, &d) ||
        s[8] != '-' || !prune_digits(s + 9, 2, &h) || !prune_digits(s + 11, 2, &mi) ||
        !prune_digits(s + 13, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    *out = (int64_t)timegm(&tm);
    return true;
}

static bool prune_lower2(const char *s)
{
    return s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z' && s[2] == '\0';
}

/* ".vol-0001<kind>" (at least four digits), optionally ".enc" */
static bool prune_volume_suffix(const char *s, const char *kind)
{
    if (!str_starts_with(s, ".vol-"))
        return false;
    size_t n = strspn(s + 5, "0123456789"), k = strlen(kind);
    const char *rest = s + 5 + n;
    return n >= 4 && strncmp(rest, kind, k) == 0 &&
           (rest[k] == '\0' || strcmp(rest + k, ".enc") == 0);
}

/* The backup that object `name` (without the prefix) belongs to: its first *key_len bytes name
 * it, *kind says what the object is, *stamp is the time in the name. False for any other name. */
static bool prune_object_key(const char *name, size_t *key_len, PruneObjKind *kind, int64_t *stamp)
{
    const char *suffix;
    *kind = PRUNE_OBJ_DATA;
    if (str_starts_with(name, SEED_NAME_PREFIX)) {
        /* openclaw-backup-YYYYMMDD-HHMMSS.tar.gz[.enc][.part-xx|.meta.json|.checkpoint.json] */
        const char *t = name + SEED_PREFIX_LEN;
        if (!prune_stamp(t, stamp) || strncmp(t + STAMP_LEN, ".tar.gz", 7) != 0)
            return false;
        size_t len = SEED_PREFIX_LEN + STAMP_LEN + 7;
        if (strncmp(name + len, ".enc", 4) == 0 && (name[len + 4] == '\0' || name[len + 4] == '.'))
            len += 4;
        *key_len = len;
        suffix = name + len;
        if (*suffix == '\0' || (str_starts_with(suffix, ".part-") && prune_lower2(suffix + 6)))
            return true;
    } else {
        /* YYYYMMDD-HHMMSS[FI].(meta.json|manifest.zst[.enc]|vol-NNNN.tar.zst[.enc]|…) */
        if (!prune_stamp(name, stamp) || (name[STAMP_LEN] != 'F' && name[STAMP_LEN] != 'I'))
            return false;
        *key_len = STAMP_LEN + 1;
        suffix = name + STAMP_LEN + 1;
        if (strcmp(suffix, ".manifest.zst") == 0 || strcmp(suffix, ".manifest.zst.enc") == 0 ||
            prune_volume_suffix(suffix, ".tar.zst"))
            return true;
        if (prune_volume_suffix(suffix, ".members.zst")) { /* part of the checkpoint */
            *kind = PRUNE_OBJ_CHECKPOINT;
            return true;
        }
    }
    if (strcmp(suffix, ".meta.json") == 0) {
        *kind = PRUNE_OBJ_META;
        return true;
    }
    if (strcmp(suffix, ".checkpoint.json") == 0) {
        *kind = PRUNE_OBJ_CHECKPOINT;
        return true;
    }
    return false;
}

/* ---- listing ---- */

typedef struct ListCtx {
    Prune *p;
    const char *pfx; /* "<prefix>/" or "" */
    size_t pfx_len;
} ListCtx;

static void prune_list_fn(const char *path, uint64_t size, void *ctx)
{
    ListCtx *l = ctx;
    Prune *p = l->p;
    if (strncmp(path, l->pfx, l->pfx_len) != 0)
        return;
    const char *rest = path + l->pfx_len;
    size_t key_len;
    PruneObjKind kind;
    int64_t stamp;
    if (strchr(rest, '/') != NULL || !prune_object_key(rest, &key_len, &kind, &stamp))
        return;
    if (p->obj_count == p->obj_cap) {
        p->obj_cap = p->obj_cap ? p->obj_cap * 2 : 256;
        p->objs = x_realloc(p->objs, p->obj_cap * sizeof(*p->objs));
    }
    p->objs[p->obj_count++] = (PruneObject){x_strdup(path), x_strndup(rest, key_len), size, kind};
}

static int prune_obj_cmp(const void *a, const void *b)
{
    const PruneObject *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->path, y->path);
}

static bool prune_key_stamp(const char *key, int64_t *stamp)
{
    return str_starts_with(key, SEED_NAME_PREFIX) ? prune_stamp(key + SEED_PREFIX_LEN, stamp)
                                                  : prune_stamp(key, stamp);
}

/* Objects grouped into backups, and each .meta.json loaded. */
static bool prune_read(Prune *p, Error *err)
{
    const char *prefix = p->cfg->prefix;
    char *pfx = prefix[0] ? str_printf("%s/", prefix) : x_strdup("");
    ListCtx l = {p, pfx, strlen(pfx)};
    bool ok = storage_list(p->st, pfx, prune_list_fn, &l, err);
    free(pfx);
    if (!ok)
        return error_prefix(err, "list the backups");
    qsort(p->objs, p->obj_count, sizeof(*p->objs), prune_obj_cmp);
    p->backups = x_calloc(p->obj_count + 1, sizeof(*p->backups));
    for (size_t i = 0; i < p->obj_count; i++) {
        const PruneObject *o = &p->objs[i];
        PruneBackup *b = p->backup_count ? &p->backups[p->backup_count - 1] : NULL;
        if (b == NULL || strcmp(b->key, o->key) != 0) {
            b = &p->backups[p->backup_count];
            b->key = o->key;
            b->obj = i;
            b->uf = p->backup_count++;
            prune_key_stamp(o->key, &b->stamp);
        }
        b->obj_count++;
        b->size += o->size;
        if (o->kind == PRUNE_OBJ_META)
            b->meta_path = o->path;
        else if (o->kind == PRUNE_OBJ_CHECKPOINT)
            b->checkpoint_path = o->path;
    }
    PruneCache cache;
    prune_cache_open(&cache, p->cfg);
    for (size_t i = 0; ok && i < p->backup_count; i++) {
        PruneBackup *b = &p->backups[i];
        if (b->meta_path == NULL)
            continue;
        uint64_t size = 0;
        for (size_t o = b->obj; o < b->obj + b->obj_count; o++)
            if (p->objs[o].kind == PRUNE_OBJ_META)
                size = p->objs[o].size;
        Error e = {0};
        b->meta = prune_cache_meta(&cache, p->st, b->meta_path, size, &e);
        if (b->meta != NULL)
            continue;
        if (e.code != ERR_CORRUPT) {
            /* Deciding without it could split its chain: stop rather than guess. */
            *err = e;
            ok = false;
            break;
        }
        b->unreadable = true;
        log_warn("prune: %s; backup '%s' is left alone", e.msg, b->key);
    }
    log_debug("prune: %zu of the metadata files from the local copy", cache.hits);
    prune_cache_close(&cache, ok);
    return ok;
}

/* ---- chains ---- */

static size_t uf_find(PruneBackup *v, size_t i)
{
    while (v[i].uf != i) {
        v[i].uf = v[v[i].uf].uf;
        i = v[i].uf;
    }
    return i;
}

static void uf_union(PruneBackup *v, size_t a, size_t b)
{
    a = uf_find(v, a);
    b = uf_find(v, b);
    if (a != b)
        v[a > b ? a : b].uf = a < b ? a : b;
}

static int prune_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const PruneBackup *)elem)->key);
}

/* The backup a .meta.json path names (SIZE_MAX: none on the target, or outside the prefix). */
static size_t prune_find(const Prune *p, const char *meta_path)
{
    const char *prefix = p->cfg->prefix;
    size_t plen = strlen(prefix);
    if (plen > 0 && (strncmp(meta_path, prefix, plen) != 0 || meta_path[plen] != '/'))
        return SIZE_MAX;
    const char *rest = meta_path + (plen ? plen + 1 : 0);
    if (strchr(rest, '/') != NULL || !str_ends_with(rest, ".meta.json"))
        return SIZE_MAX;
    char *key = x_strndup(rest, strlen(rest) - strlen(".meta.json"));
    const PruneBackup *b =
        bsearch(key, p->backups, p->backup_count, sizeof(*p->backups), prune_key_cmp);
    free(key);
    return b != NULL ? (size_t)(b - p->backups) : SIZE_MAX;
}

static int prune_by_chain_id(const void *a, const void *b, void *ctx)
{
    const PruneBackup *v = ctx;
    return strcmp(v[*(const size_t *)a].meta->chain_id, v[*(const size_t *)b].meta->chain_id);
}

static int prune_member_cmp(const void *a, const void *b, void *ctx)
{
    const PruneBackup *v = ctx;
    const PruneBackup *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
    if (x->meta->created != y->meta->created)
        return x->meta->created < y->meta->created ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int prune_chain_cmp(const void *a, const void *b, void *ctx)
{
    const PruneChain *x = a, *y = b;
    if (x->newest != y->newest)
        return x->newest < y->newest ? -1 : 1;
    const PruneBackup *v = ctx;
    return strcmp(v[x->members[0]].key, v[y->members[0]].key);
}

static void prune_group(Prune *p)
{
    PruneBackup *v = p->backups;
    size_t *loaded = x_calloc(p->backup_count + 1, sizeof(size_t));
    size_t n = 0;
    bool *broken = x_calloc(p->backup_count + 1, sizeof(bool));
    bool *damaged = x_calloc(p->backup_count + 1, sizeof(bool));
    for (size_t i = 0; i < p->backup_count; i++) {
        if (v[i].meta == NULL)
            continue;
        loaded[n++] = i;
        if (v[i].meta->parent == NULL)
            continue;
        size_t parent = prune_find(p, v[i].meta->parent);
        if (parent != SIZE_MAX && v[parent].meta != NULL)
            uf_union(v, i, parent);
        else if (parent != SIZE_MAX && v[parent].unreadable)
            damaged[i] = true;
        else
            broken[i] = true;
    }
    /* The same chain_id is the same chain, even where a parent link is damaged. */
    qsort_r(loaded, n, sizeof(size_t), prune_by_chain_id, v);
    for (size_t i = 1; i < n; i++)
        if (v[loaded[i]].meta->chain_id[0] != '\0' &&
            strcmp(v[loaded[i]].meta->chain_id, v[loaded[i - 1]].meta->chain_id) == 0)
            uf_union(v, loaded[i], loaded[i - 1]);

    size_t *root_chain = x_calloc(p->backup_count + 1, sizeof(size_t));
    for (size_t i = 0; i < p->backup_count; i++)
        root_chain[i] = SIZE_MAX;
    p->chains = x_calloc(n + 1, sizeof(*p->chains));
    for (size_t k = 0; k < n; k++) {
        size_t i = loaded[k], root = uf_find(v, i);
        if (root_chain[root] == SIZE_MAX)
            root_chain[root] = p->chain_count++;
        PruneChain *c = &p->chains[root_chain[root]];
        c->members = x_realloc(c->members, (c->count + 1) * sizeof(size_t));
        c->members[c->count++] = i;
        c->size += v[i].size;
        c->broken |= broken[i];
        c->damaged |= damaged[i];
        if (p->latest != NULL && strcmp(v[i].meta_path, p->latest) == 0)
            c->latest = true;
        if (c->count == 1 || v[i].meta->created > c->newest)
            c->newest = v[i].meta->created;
    }
    for (size_t c = 0; c < p->chain_count; c++)
        qsort_r(p->chains[c].members, p->chains[c].count, sizeof(size_t), prune_member_cmp, v);
    qsort_r(p->chains, p->chain_count, sizeof(*p->chains), prune_chain_cmp, v);
    for (size_t c = 0; c < p->chain_count; c++) {
        PruneChain *ch = &p->chains[c];
        ch->rb = x_calloc(ch->count, sizeof(RetentionBackup));
        for (size_t m = 0; m < ch->count; m++) {
            PruneBackup *b = &v[ch->members[m]];
            b->chain = c;
            ch->rb[m] = (RetentionBackup){b->key, b->meta->created, b->size};
        }
    }
    free(root_chain);
    free(damaged);
    free(broken);
    free(loaded);
}

/* ---- the plan ---- */

static int prune_by_stamp(const void *a, const void *b, void *ctx)
{
    const PruneBackup *v = ctx;
    const PruneBackup *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
    if (x->stamp != y->stamp)
        return x->stamp < y->stamp ? -1 : 1;
    return strcmp(x->key, y->key);
}

static bool prune_check_pointer(const Prune *p, Error *err)
{
    bool found = false;
    for (size_t c = 0; c < p->chain_count && !found; c++)
        found = p->chains[c].latest;
    if (found || (p->latest == NULL && p->chain_count == 0))
        return true;
    if (p->latest == NULL)
        return error_set(err, ERR_CORRUPT,
                         "the target has %zu backup chain%s but no pointer ('%s'); prune does "
                         "not guess which backup is the latest",
                         p->chain_count, p->chain_count == 1 ? "" : "s", POINTER_PATH) ||
               error_hint(err, "a backup ('hfsync backup') writes the pointer");
    size_t b = prune_find(p, p->latest);
    error_set(err, ERR_CORRUPT,
              "the pointer names '%s', which %s; prune does not run on a target whose latest "
              "backup it cannot identify",
              p->latest,
              b != SIZE_MAX && p->backups[b].unreadable ? "cannot be read"
              : p->cfg->prefix[0] && !str_starts_with(p->latest, p->cfg->prefix)
                  ? "is outside the prefix HFSYNC_PREFIX names"
                  : "does not exist");
    return error_hint(err, "'hfsync backup --full' writes a new pointer; check HFSYNC_PREFIX");
}

static void prune_stale(Prune *p)
{
    int64_t cutoff = p->now - p->cfg->keep.stale_after_sec;
    p->incomplete = x_calloc(p->backup_count + 1, sizeof(size_t));
    p->young = x_calloc(p->backup_count + 1, sizeof(size_t));
    p->checkpoints = x_calloc(p->backup_count + 1, sizeof(size_t));
    for (size_t i = 0; i < p->backup_count; i++) {
        const PruneBackup *b = &p->backups[i];
        if (b->meta_path == NULL) {
            if (b->stamp <= cutoff)
                p->incomplete[p->incomplete_count++] = i;
            else
                p->young[p->young_count++] = i;
        } else if (b->meta != NULL && b->checkpoint_path != NULL && b->stamp <= cutoff &&
                   p->chains[b->chain].decision.keep) {
            for (size_t o = b->obj; o < b->obj + b->obj_count; o++)
                if (p->objs[o].kind == PRUNE_OBJ_CHECKPOINT)
                    p->checkpoints[p->checkpoint_count++] = o;
        }
    }
    qsort_r(p->incomplete, p->incomplete_count, sizeof(size_t), prune_by_stamp, p->backups);
}

/* HFSYNC_PRUNE_MAX backups per run: the incomplete ones first, then chains oldest first, each
 * from its newest backup down, so what is left of a chain is always a whole, shorter chain. */
static void prune_budget(Prune *p)
{
    size_t budget = p->cfg->keep.prune_max > 0 ? (size_t)p->cfg->keep.prune_max : SIZE_MAX;
    p->incomplete_delete = p->incomplete_count < budget ? p->incomplete_count : budget;
    budget -= p->incomplete_delete;
    p->limited = p->incomplete_delete < p->incomplete_count;
    for (size_t c = 0; c < p->chain_count; c++) {
        PruneChain *ch = &p->chains[c];
        if (ch->decision.keep)
            continue;
        ch->delete_count = ch->count < budget ? ch->count : budget;
        budget -= ch->delete_count;
        p->limited |= ch->delete_count < ch->count;
    }
}

bool prune_plan(Prune *p, const char *owner, Error *err)
{
    const KeepConfig *k = &p->cfg->keep;
    p->rules = (RetentionRules){.keep_full = k->full,
                                .keep_last = k->last,
                                .keep_daily = k->daily,
                                .keep_weekly = k->weekly,
                                .keep_monthly = k->monthly,
                                .keep_within_sec = k->within_sec};
    if (!pointer_read(p->st, &p->latest, err) || !prune_read(p, err))
        return false;
    prune_group(p);
    if (!prune_check_pointer(p, err))
        return false;
    RetentionChain *rc = x_calloc(p->chain_count + 1, sizeof(*rc));
    RetentionDecision *d = x_calloc(p->chain_count + 1, sizeof(*d));
    for (size_t c = 0; c < p->chain_count; c++)
        rc[c] = (RetentionChain){p->chains[c].rb, p->chains[c].count, p->chains[c].latest};
    retention_plan(rc, p->chain_count, &p->rules, p->now, d);
    for (size_t c = 0; c < p->chain_count; c++) {
        p->chains[c].decision = d[c];
        p->chains[c].decision.keep |= p->chains[c].damaged;
    }
    free(d);
    free(rc);
    prune_stale(p);
    prune_budget(p);

    if (lease_supported(&p->cfg->target)) {
        Lease cur;
        bool found;
        if (!lease_read(p->st, &cur, &found, err))
            return false;
        if (found && lease_live(&cur, time_now_ns() / 1000000000) &&
            (owner == NULL || strcmp(cur.owner, owner) != 0)) {
            p->foreign = true;
            lease_describe(&cur, p->foreign_text, sizeof(p->foreign_text));
        }
    }
    return true;
}

void prune_free(Prune *p)
{
    for (size_t i = 0; i < p->obj_count; i++) {
        free(p->objs[i].path);
        free(p->objs[i].key);
    }
    free(p->objs);
    for (size_t i = 0; i < p->backup_count; i++)
        meta_free(p->backups[i].meta);
    free(p->backups);
    for (size_t c = 0; c < p->chain_count; c++) {
        free(p->chains[c].members);
        free(p->chains[c].rb);
    }
    free(p->chains);
    free(p->incomplete);
    free(p->young);
    free(p->checkpoints);
    free(p->latest);
}
