/*
 * Checkpoints of a backup in progress (checkpoint.h, docs/FORMAT.md §10): finding one to resume,
 * adopting its volumes, writing it as volumes finish.
 */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

/* A checkpoint lists volumes, not entries: a few hundred bytes each. */
#define CHECKPOINT_MAX_SIZE (16u << 20)
/* The members of a volume stay in memory up to this much, then go to HFSYNC_WORK_DIR. */
#define CHECKPOINT_SPOOL_MEMORY (256u << 10)

const char *checkpoint_name(const Checkpoint *c)
{
    return c->name;
}

bool checkpoint_full(const Checkpoint *c)
{
    return c->full;
}

int64_t checkpoint_started(const Checkpoint *c)
{
    return c->started;
}

const CryptoParams *checkpoint_cipher(const Checkpoint *c)
{
    return c->encrypted ? &c->cipher : NULL;
}

char *checkpoint_path(const Config *cfg, const char *name)
{
    char *object = str_printf("%s%s", name, CHECKPOINT_SUFFIX);
    char *path = meta_object_path(cfg->prefix, object);
    free(object);
    return path;
}

void checkpoint_free(Checkpoint *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->dir);
    free(c->name);
    for (size_t i = 0; i < c->volume_count; i++) {
        free(c->volumes[i].info.name);
        free(c->volumes[i].members);
    }
    free(c->volumes);
    cJSON_Delete(c->doc);
    free(c);
}

/* --- reading ------------------------------------------------------------------------------ */

static bool ckpt_u64(const cJSON *o, const char *key, uint64_t *v)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 9007199254740992.0)
        return false;
    *v = (uint64_t)n->valuedouble;
    return true;
}

static const char *ckpt_str(const cJSON *o, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* The plan must be the one this backup makes; anything malformed is simply not resumed. */
static Checkpoint *ckpt_parse(const char *text, const char *path, const char *name,
                              const char *latest, CheckpointKind kind, bool encrypted, char *why,
                              size_t why_size)
{
    Checkpoint *c = x_calloc(1, sizeof(*c));
    c->doc = cJSON_Parse(text);
    const cJSON *d = c->doc;
    uint64_t version = 0, started = 0;
    const char *backup = ckpt_str(d, "backup"), *p = ckpt_str(d, "latest");
    const cJSON *vols = cJSON_GetObjectItemCaseSensitive(d, "volumes");
    const cJSON *cipher = cJSON_GetObjectItemCaseSensitive(d, "cipher");
    const cJSON *jfull = cJSON_GetObjectItemCaseSensitive(d, "full");
    if (!cJSON_IsObject(d) || !ckpt_u64(d, "version", &version) ||
        !ckpt_u64(d, "started", &started) || backup == NULL || !cJSON_IsArray(vols) ||
        !cJSON_IsBool(jfull)) {
        snprintf(why, why_size, "it is not a checkpoint hfsync can read");
        goto fail;
    }
    if (version != CHECKPOINT_VERSION || strcmp(backup, name) != 0) {
        snprintf(why, why_size, "version %llu, backup '%s'", (unsigned long long)version, backup);
        goto fail;
    }
    /* Planned when the pointer named what it names now: so it was never published (and
     * nothing refers to it), and an incremental continues the same parent. */
    bool full = cJSON_IsTrue(jfull);
    if ((kind != CHECKPOINT_ANY && full != (kind == CHECKPOINT_FULL)) ||
        (latest == NULL) != (p == NULL) || (latest != NULL && strcmp(latest, p) != 0)) {
        snprintf(why, why_size, "it was planned %s when the latest backup was %.100s, now %.100s",
                 cJSON_IsTrue(jfull) ? "as a full" : "as an incremental", p ? p : "none",
                 latest ? latest : "none");
        goto fail;
    }
    c->encrypted = cipher != NULL && !cJSON_IsNull(cipher);
    Error e = {0};
    if (c->encrypted != encrypted ||
        (c->encrypted && !crypto_params_from_json(cipher, &c->cipher, &e))) {
        snprintf(why, why_size, "%.200s",
                 c->encrypted != encrypted ? "its encryption differs" : e.msg);
        goto fail;
    }
    c->full = full;
    c->path = x_strdup(path);
    const char *slash = strrchr(path, '/');
    c->dir = slash ? x_strndup(path, (size_t)(slash - path + 1)) : x_strdup("");
    c->name = x_strdup(name);
    c->started = (int64_t)started;
    size_t n = (size_t)cJSON_GetArraySize(vols);
    c->volumes = x_calloc(n + 1, sizeof(*c->volumes));
    const cJSON *v;
    cJSON_ArrayForEach(v, vols)
    {
        CkptVolume *cv = &c->volumes[c->volume_count];
        const char *vname = ckpt_str(v, "name"), *sha = ckpt_str(v, "sha256");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "members");
        const char *mname = ckpt_str(m, "name"), *msha = ckpt_str(m, "sha256");
        char *want = vname ? ckpt_members_name(vname) : NULL;
        bool good = want != NULL && mname != NULL && strcmp(want, mname) == 0 && sha != NULL &&
                    strlen(sha) == HASH_HEX_SIZE - 1 && msha != NULL &&
                    strlen(msha) == HASH_HEX_SIZE - 1 && ckpt_u64(m, "size", &cv->members_size) &&
                    ckpt_u64(v, "size", &cv->info.size) && ckpt_u64(v, "files", &cv->info.files) &&
                    ckpt_u64(v, "entries", &cv->info.entries);
        if (!good) {
            free(want);
            break; /* the volumes before it are still usable */
        }
        cv->info.name = x_strdup(vname);
        memcpy(cv->info.sha256, sha, HASH_HEX_SIZE);
        cv->members = want;
        memcpy(cv->members_sha256, msha, HASH_HEX_SIZE);
        cv->json = v;
        c->volume_count++;
    }
    return c;
fail:
    checkpoint_free(c);
    return NULL;
}

typedef struct CkptList {
    char **names; /* backups with a checkpoint */
    size_t count;
} CkptList;

static void ckpt_list_fn(const char *path, uint64_t size, void *ctx)
{
    (void)size;
    CkptList *l = ctx;
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t len = strlen(base);
    if (str_ends_with(base, CHECKPOINT_SUFFIX)) {
        l->names = x_realloc(l->names, (l->count + 1) * sizeof(char *));
        l->names[l->count++] = x_strndup(base, len - strlen(CHECKPOINT_SUFFIX));
    }
}

/* A native backup name, "YYYYMMDD-HHMMSS" and F or I as `kind` says. */
static bool ckpt_name_ok(const char *name, CheckpointKind kind)
{
    char want = kind == CHECKPOINT_FULL ? 'F' : 'I';
    if (strlen(name) != 16 || name[8] != '-' ||
        (kind == CHECKPOINT_ANY ? name[15] != 'F' && name[15] != 'I' : name[15] != want))
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (name[i] < '0' || name[i] > '9'))
            return false;
    return true;
}

static int ckpt_newest_first(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

Checkpoint *checkpoint_find(const Config *cfg, Storage *st, const char *latest, CheckpointKind kind,
                            bool encrypted, int64_t now)
{
    CkptList l = {0};
    Error err = {0};
    char *pfx = cfg->prefix[0] ? str_printf("%s/", cfg->prefix) : x_strdup("");
    bool ok = storage_list(st, pfx, ckpt_list_fn, &l, &err);
    free(pfx);
    if (!ok)
        log_warn("looking for a backup to resume: %s", err.msg);
    if (l.count > 1)
        qsort(l.names, l.count, sizeof(char *), ckpt_newest_first);
    Checkpoint *found = NULL;
    for (size_t i = 0; ok && found == NULL && i < l.count; i++) {
        if (!ckpt_name_ok(l.names[i], kind)) /* another plan */
            continue;
        char *path = checkpoint_path(cfg, l.names[i]);
        char *text = NULL, why[400] = "";
        if (!storage_get(st, path, CHECKPOINT_MAX_SIZE, &text, NULL, &err)) {
            log_warn("cannot read checkpoint '%s' (not resumed): %s", path, err.msg);
            error_clear(&err);
        } else {
            found = ckpt_parse(text, path, l.names[i], latest, kind, encrypted, why, sizeof(why));
            if (found != NULL && found->started + cfg->keep.stale_after_sec < now) {
                snprintf(why, sizeof(why), "it is older than HFSYNC_STALE_AFTER");
                checkpoint_free(found);
                found = NULL;
            }
            if (found == NULL)
                log_info("checkpoint '%s' is not resumed: %s", path, why);
        }
        free(text);
        free(path);
    }
    for (size_t i = 0; i < l.count; i++)
        free(l.names[i]);
    free(l.names);
    return found;
}

/* --- writing ------------------------------------------------------------------------------ */

typedef struct CkptPending {
    VolumeInfo info;
    EntrySpool *members; /* NULL: none */
} CkptPending;

struct CheckpointWriter {
    const Config *cfg;
    const CryptoKey *key;
    char *name;
    bool resumed;           /* the checkpoint object exists already (the one resumed) */
    size_t resumed_volumes; /* how many volumes it lists */
    char **old_members;     /* the members objects it lists */
    char *path;
    cJSON *doc;           /* the plan, with "volumes" */
    cJSON *vols;          /* in doc */
    EntrySpool *open;     /* members of the open volume */
    CkptPending *pending; /* volumes finished since the last write */
    size_t pending_count;
    int64_t interval_ns, last_ns;
    bool written;
};

CheckpointWriter *checkpoint_writer_new(const Config *cfg, const char *name, const char *latest,
                                        bool full, int64_t started, const CryptoParams *cipher,
                                        const CryptoKey *key, const Checkpoint *resumed,
                                        size_t adopted, int64_t interval_sec)
{
    CheckpointWriter *w = x_calloc(1, sizeof(*w));
    w->cfg = cfg;
    w->key = key;
    w->name = x_strdup(name);
    w->path = checkpoint_path(cfg, name);
    w->doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(w->doc, "version", CHECKPOINT_VERSION);
    cJSON_AddStringToObject(w->doc, "backup", name);
    if (latest != NULL) /* the pointer when it was planned (an incremental's parent) */
        cJSON_AddStringToObject(w->doc, "latest", latest);
    else
        cJSON_AddNullToObject(w->doc, "latest");
    cJSON_AddBoolToObject(w->doc, "full", full);
    cJSON_AddNumberToObject(w->doc, "started", (double)started);
    char iso[32];
    time_iso8601(started, iso);
    cJSON_AddStringToObject(w->doc, "started_utc", iso);
    if (cipher != NULL)
        crypto_params_to_json(cipher, cJSON_AddObjectToObject(w->doc, "cipher"));
    w->vols = cJSON_AddArrayToObject(w->doc, "volumes");
    size_t n = resumed != NULL ? resumed->volume_count : 0;
    w->old_members = x_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        w->old_members[i] = x_strdup(resumed->volumes[i].members);
        if (i < adopted)
            cJSON_AddItemToArray(w->vols, cJSON_Duplicate(resumed->volumes[i].json, true));
    }
    w->resumed = resumed != NULL;
    w->resumed_volumes = n;
    w->interval_ns = interval_sec * 1000000000LL;
    w->last_ns = time_monotonic_ns();
    return w;
}

static void ckpt_pending_clear(CheckpointWriter *w)
{
    for (size_t i = 0; i < w->pending_count; i++) {
        free(w->pending[i].info.name);
        spool_free(w->pending[i].members);
    }
    w->pending_count = 0;
}

void checkpoint_writer_free(CheckpointWriter *w)
{
    if (w == NULL)
        return;
    ckpt_pending_clear(w);
    free(w->pending);
    spool_free(w->open);
    for (size_t i = 0; i < w->resumed_volumes; i++)
        free(w->old_members[i]);
    free(w->old_members);
    free(w->path);
    free(w->name);
    cJSON_Delete(w->doc);
    free(w);
}

bool checkpoint_member(CheckpointWriter *w, const ManifestEntry *e, Error *err)
{
    if (w->open == NULL)
        w->open = spool_new(w->cfg->work_dir, CHECKPOINT_SPOOL_MEMORY);
    return spool_add(w->open, e, err) || error_prefix(err, "checkpoint");
}

void checkpoint_volume_done(CheckpointWriter *w, const VolumeInfo *v)
{
    w->pending = x_realloc(w->pending, (w->pending_count + 1) * sizeof(CkptPending));
    CkptPending *p = &w->pending[w->pending_count++];
    p->info = *v;
    p->info.name = x_strdup(v->name);
    p->members = w->open;
    w->open = NULL;
}

bool checkpoint_due(const CheckpointWriter *w)
{
    return time_monotonic_ns() - w->last_ns >= w->interval_ns;
}

bool checkpoint_write(CheckpointWriter *w, Storage *st, const Manifest *cur, Error *err)
{
    /* Volumes finished since the last write: their members objects first, so the checkpoint
     * never lists one that is not there. */
    bool ok = true;
    for (size_t i = 0; ok && i < w->pending_count; i++) {
        const CkptPending *p = &w->pending[i];
        char *object = ckpt_members_name(p->info.name);
        char sha[HASH_HEX_SIZE];
        uint64_t size = 0;
        ok = ckpt_members_write(w->cfg, st, w->key, cur, w->name, p->members, object, sha, &size,
                                err);
        if (ok) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", p->info.name);
            cJSON_AddNumberToObject(o, "size", (double)p->info.size);
            cJSON_AddStringToObject(o, "sha256", p->info.sha256);
            cJSON_AddNumberToObject(o, "files", (double)p->info.files);
            cJSON_AddNumberToObject(o, "entries", (double)p->info.entries);
            cJSON *m = cJSON_AddObjectToObject(o, "members");
            cJSON_AddStringToObject(m, "name", object);
            cJSON_AddNumberToObject(m, "size", (double)size);
            cJSON_AddStringToObject(m, "sha256", sha);
            cJSON_AddItemToArray(w->vols, o);
        }
        free(object);
    }
    ckpt_pending_clear(w);
    if (!ok)
        return error_prefix(err, "checkpoint '%s'", w->path);
    char *text = cJSON_PrintUnformatted(w->doc);
    ok = storage_put(st, w->path, text, strlen(text), err);
    free(text);
    w->last_ns = time_monotonic_ns();
    if (!ok)
        return error_prefix(err, "checkpoint '%s'", w->path);
    w->written = true;
    int n = cJSON_GetArraySize(w->vols);
    log_debug("checkpoint '%s': %d volume%s", w->path, n, n == 1 ? "" : "s");
    return true;
}

bool checkpoint_save(CheckpointWriter *w, Storage *st, bool commits, bool force,
                     const Manifest *cur, Error *err)
{
    if (!force && !checkpoint_due(w))
        return true;
    if (!checkpoint_write(w, st, cur, err))
        return false;
    if (!commits)
        return true;
    char summary[160];
    int n = cJSON_GetArraySize(w->vols);
    snprintf(summary, sizeof(summary), "hfsync checkpoint %s: %d volume%s", w->path, n,
             n == 1 ? "" : "s");
    return (storage_commit(st, summary, err) && storage_begin(st, err)) ||
           error_prefix(err, "checkpoint '%s'", w->path);
}

bool checkpoint_begin(CheckpointWriter *w, Storage *st, bool commits, const Manifest *cur,
                      Error *err)
{
    /* Volumes past the adopted ones get written again under the same names: the checkpoint
     * forgets them first. On the Hub both change in one commit, so nothing is needed. */
    if (commits || w->resumed_volumes <= (size_t)cJSON_GetArraySize(w->vols))
        return true;
    return checkpoint_write(w, st, cur, err);
}

void checkpoint_drop_surplus(CheckpointWriter *w, Storage *st, size_t vcount, bool encrypted)
{
    Error e = {0};
    for (size_t v = vcount + 1; w != NULL && v <= w->resumed_volumes; v++) {
        /* Listed by the checkpoint resumed, past the volumes this backup ended with. */
        char *object = str_printf("%s.vol-%04zu.tar.zst%s", w->name, v, encrypted ? ".enc" : "");
        char *path = meta_object_path(w->cfg->prefix, object);
        const char *p = path;
        if (!storage_delete(st, &p, 1, &e))
            log_warn("could not remove '%s' (prune removes it later): %s", path, e.msg);
        error_clear(&e);
        free(path);
        free(object);
    }
}

static void ckpt_delete(CheckpointWriter *w, Storage *st, const char *object)
{
    Error e = {0};
    char *path = meta_object_path(w->cfg->prefix, object);
    const char *p = path;
    if (!storage_delete(st, &p, 1, &e))
        log_warn("could not remove '%s' (prune removes it later): %s", path, e.msg);
    free(path);
}

void checkpoint_remove(CheckpointWriter *w, Storage *st)
{
    if (w == NULL || (!w->written && !w->resumed))
        return;
    /* The members objects first: a checkpoint left behind may list one that is gone (it is
     * then not adopted), but none is left that no checkpoint lists. */
    const cJSON *v;
    cJSON_ArrayForEach(v, w->vols)
    {
        const char *m = ckpt_str(cJSON_GetObjectItemCaseSensitive(v, "members"), "name");
        bool old = false;
        for (size_t i = 0; m != NULL && i < w->resumed_volumes && !old; i++)
            old = strcmp(w->old_members[i], m) == 0;
        if (m != NULL && !old)
            ckpt_delete(w, st, m);
    }
    for (size_t i = 0; i < w->resumed_volumes; i++)
        ckpt_delete(w, st, w->old_members[i]);
    Error e = {0};
    const char *p = w->path;
    if (!storage_delete(st, &p, 1, &e))
        log_warn("could not remove checkpoint '%s' (prune removes it later): %s", p, e.msg);
}

/* --- test hook ---------------------------------------------------------------------------- */

void checkpoint_test_crash(const char *point, uint64_t n)
{
    const char *spec = getenv("HFSYNC_TEST_CRASH");
    if (spec == NULL || *spec == '\0')
        return;
    size_t len = strlen(point);
    if (strncmp(spec, point, len) != 0 || (spec[len] != '\0' && spec[len] != ':'))
        return;
    uint64_t want = spec[len] == ':' ? strtoull(spec + len + 1, NULL, 10) : 1;
    if (n != want)
        return;
    log_warn("HFSYNC_TEST_CRASH=%s: killing this process", spec);
    kill(getpid(), SIGKILL);
}
