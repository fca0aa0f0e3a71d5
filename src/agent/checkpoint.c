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

#include "checkpoint.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define CHECKPOINT_VERSION 1
#define CHECKPOINT_MAX_SIZE (256u << 20)

typedef struct CkptVolume {
    VolumeInfo info;
    const cJSON *members; /* in Checkpoint.doc */
} CkptVolume;

struct Checkpoint {
    char *path;
    char *dir; /* of path: "" or ending in '/' */
    char *name;
    int64_t started;
    bool full;
    bool encrypted;
    CryptoParams cipher;
    CkptVolume *volumes;
    size_t volume_count;
    cJSON *doc;
};

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
    for (size_t i = 0; i < c->volume_count; i++)
        free(c->volumes[i].info.name);
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
        cv->members = cJSON_GetObjectItemCaseSensitive(v, "members");
        if (vname == NULL || sha == NULL || strlen(sha) != HASH_HEX_SIZE - 1 ||
            !ckpt_u64(v, "size", &cv->info.size) || !ckpt_u64(v, "files", &cv->info.files) ||
            !ckpt_u64(v, "entries", &cv->info.entries) || !cJSON_IsArray(cv->members))
            break; /* the volumes before it are still usable */
        cv->info.name = x_strdup(vname);
        memcpy(cv->info.sha256, sha, HASH_HEX_SIZE);
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

/* --- adopting ----------------------------------------------------------------------------- */

/* A member: [source, path, type, size, mtime, mtime_nsec, mode, content hash | null,
 * link target | null]; type "f", "d" or "l". */
static ManifestEntry *ckpt_member_match(const cJSON *m, Manifest *cur, uint16_t self,
                                        uint8_t hash[HASH_SIZE])
{
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != 9)
        return NULL;
    const cJSON *f[9];
    for (int i = 0; i < 9; i++)
        f[i] = cJSON_GetArrayItem(m, i);
    if (!cJSON_IsString(f[0]) || !cJSON_IsString(f[1]) || !cJSON_IsString(f[2]))
        return NULL;
    ManifestEntry *e = manifest_find(cur, f[0]->valuestring, f[1]->valuestring);
    if (e == NULL || e->ref != self || (e->flags & (ENTRY_GONE | ENTRY_ADOPTED)))
        return NULL;
    const char *types = "fdl";
    const char *t = strchr(types, f[2]->valuestring[0]);
    if (t == NULL || f[2]->valuestring[0] == '\0' || f[2]->valuestring[1] != '\0')
        return NULL;
    ManifestEntry was = {.type = (uint8_t)(t - types)};
    if (!cJSON_IsNumber(f[3]) || !cJSON_IsNumber(f[4]) || !cJSON_IsNumber(f[5]) ||
        !cJSON_IsNumber(f[6]))
        return NULL;
    was.size = (uint64_t)f[3]->valuedouble;
    was.mtime = (int64_t)f[4]->valuedouble;
    was.mtime_nsec = (int32_t)f[5]->valuedouble;
    was.mode = (uint32_t)f[6]->valuedouble;
    was.target = cJSON_IsString(f[8]) ? f[8]->valuestring : NULL;
    if (!manifest_entry_same(e, &was) || e->mtime_nsec != was.mtime_nsec || was.mtime == 0)
        return NULL;
    if (e->type == ENTRY_FILE) {
        long len = 0;
        unsigned char *bytes =
            cJSON_IsString(f[7]) ? OPENSSL_hexstr2buf(f[7]->valuestring, &len) : NULL;
        bool good = bytes != NULL && len == HASH_SIZE;
        if (good)
            memcpy(hash, bytes, HASH_SIZE);
        OPENSSL_free(bytes);
        if (!good)
            return NULL;
    }
    return e;
}

size_t checkpoint_adopt(const Checkpoint *c, Storage *st, Manifest *cur, uint16_t self,
                        VolumeInfo **vinfo, size_t *vcount, uint64_t *files, uint64_t *bytes)
{
    size_t adopted = 0;
    ManifestEntry **hit = NULL;
    uint8_t(*hashes)[HASH_SIZE] = NULL;
    for (; adopted < c->volume_count; adopted++) {
        const CkptVolume *v = &c->volumes[adopted];
        /* The name this backup gives the volume, and the object as recorded. */
        char *want =
            str_printf("%s.vol-%04zu.tar.zst%s", c->name, *vcount + 1, c->encrypted ? ".enc" : "");
        char *path = str_printf("%s%s", c->dir, want);
        StorageInfo info = {0};
        Error ierr = {0};
        bool there = strcmp(want, v->info.name) == 0 && storage_info(st, path, &info, &ierr) &&
                     info.exists && info.size == v->info.size;
        free(want);
        free(path);
        if (!there) /* gone or different: written again, with everything after it */
            break;
        size_t n = (size_t)cJSON_GetArraySize(v->members), k = 0;
        hit = x_realloc(hit, (n + 1) * sizeof(*hit));
        hashes = x_realloc(hashes, (n + 1) * sizeof(*hashes));
        const cJSON *m;
        cJSON_ArrayForEach(m, v->members)
        {
            hit[k] = ckpt_member_match(m, cur, self, hashes[k]);
            if (hit[k] == NULL)
                break;
            hit[k]->flags |= ENTRY_ADOPTED; /* also catches a member listed twice */
            k++;
        }
        if (k < n) { /* something changed since: this volume and the rest are written again */
            for (size_t i = 0; i < k; i++)
                hit[i]->flags &= (uint8_t)~ENTRY_ADOPTED;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            ManifestEntry *e = hit[i];
            if (e->type != ENTRY_FILE)
                continue;
            memcpy(e->hash, hashes[i], HASH_SIZE);
            e->volume = (uint32_t)(*vcount + 1);
            e->flags |= ENTRY_HASHED;
            (*files)++;
            *bytes += e->size;
        }
        *vinfo = x_realloc(*vinfo, (*vcount + 1) * sizeof(VolumeInfo));
        VolumeInfo *out = &(*vinfo)[(*vcount)++];
        *out = v->info;
        out->name = x_strdup(v->info.name);
    }
    free(hit);
    free(hashes);
    log_info("resuming backup %s from its checkpoint: %zu of its %zu volume%s kept, the rest is "
             "written again",
             c->name, adopted, c->volume_count, c->volume_count == 1 ? "" : "s");
    return adopted;
}

/* --- writing ------------------------------------------------------------------------------ */

struct CheckpointWriter {
    const Config *cfg;
    char *name;
    bool resumed;           /* the checkpoint object exists already (the one resumed) */
    size_t resumed_volumes; /* how many volumes it lists */
    char *path;
    cJSON *doc;  /* the plan, with "volumes" */
    cJSON *vols; /* in doc */
    size_t adopted;
    size_t *ranges; /* [first, end) in the manifest of each volume written by this run */
    size_t range_count;
    int64_t interval_ns, last_ns;
    bool written;
};

CheckpointWriter *checkpoint_writer_new(const Config *cfg, const char *name, const char *latest,
                                        bool full, int64_t started, const CryptoParams *cipher,
                                        const Checkpoint *resumed, size_t adopted,
                                        int64_t interval_sec)
{
    CheckpointWriter *w = x_calloc(1, sizeof(*w));
    w->cfg = cfg;
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
    for (size_t i = 0; resumed != NULL && i < adopted && i < resumed->volume_count; i++) {
        const CkptVolume *v = &resumed->volumes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v->info.name);
        cJSON_AddNumberToObject(o, "size", (double)v->info.size);
        cJSON_AddStringToObject(o, "sha256", v->info.sha256);
        cJSON_AddNumberToObject(o, "files", (double)v->info.files);
        cJSON_AddNumberToObject(o, "entries", (double)v->info.entries);
        cJSON_AddItemToObject(o, "members", cJSON_Duplicate(v->members, true));
        cJSON_AddItemToArray(w->vols, o);
    }
    w->adopted = adopted;
    w->resumed = resumed != NULL;
    w->resumed_volumes = resumed != NULL ? resumed->volume_count : 0;
    w->interval_ns = interval_sec * 1000000000LL;
    w->last_ns = time_monotonic_ns();
    return w;
}

void checkpoint_writer_free(CheckpointWriter *w)
{
    if (w == NULL)
        return;
    free(w->path);
    free(w->name);
    free(w->ranges);
    cJSON_Delete(w->doc);
    free(w);
}

void checkpoint_volume_done(CheckpointWriter *w, size_t first, size_t end)
{
    w->ranges = x_realloc(w->ranges, (w->range_count + 1) * 2 * sizeof(size_t));
    w->ranges[2 * w->range_count] = first;
    w->ranges[2 * w->range_count + 1] = end;
    w->range_count++;
}

bool checkpoint_due(const CheckpointWriter *w)
{
    return time_monotonic_ns() - w->last_ns >= w->interval_ns;
}

static cJSON *ckpt_member(const Manifest *cur, const ManifestEntry *e)
{
    char hex[HASH_HEX_SIZE];
    cJSON *m = cJSON_CreateArray();
    cJSON_AddItemToArray(m, cJSON_CreateString(cur->sources[e->source]));
    cJSON_AddItemToArray(m, cJSON_CreateString(e->path));
    cJSON_AddItemToArray(m, cJSON_CreateString(e->type == ENTRY_FILE  ? "f"
                                               : e->type == ENTRY_DIR ? "d"
                                                                      : "l"));
    cJSON_AddItemToArray(m, cJSON_CreateNumber((double)e->size));
    cJSON_AddItemToArray(m, cJSON_CreateNumber((double)e->mtime));
    cJSON_AddItemToArray(m, cJSON_CreateNumber((double)e->mtime_nsec));
    cJSON_AddItemToArray(m, cJSON_CreateNumber((double)e->mode));
    if (e->type == ENTRY_FILE) {
        hex_encode(e->hash, HASH_SIZE, hex);
        cJSON_AddItemToArray(m, cJSON_CreateString(hex));
    } else {
        cJSON_AddItemToArray(m, cJSON_CreateNull());
    }
    cJSON_AddItemToArray(m, e->target ? cJSON_CreateString(e->target) : cJSON_CreateNull());
    return m;
}

bool checkpoint_write(CheckpointWriter *w, Storage *st, const Manifest *cur, uint16_t self,
                      const VolumeInfo *vinfo, size_t vcount, Error *err)
{
    /* Volumes this run finished since the last write (the JSON keeps the earlier ones). */
    for (size_t v = (size_t)cJSON_GetArraySize(w->vols); v < vcount; v++) {
        size_t r = v - w->adopted;
        if (r >= w->range_count)
            break;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", vinfo[v].name);
        cJSON_AddNumberToObject(o, "size", (double)vinfo[v].size);
        cJSON_AddStringToObject(o, "sha256", vinfo[v].sha256);
        cJSON_AddNumberToObject(o, "files", (double)vinfo[v].files);
        cJSON_AddNumberToObject(o, "entries", (double)vinfo[v].entries);
        cJSON *members = cJSON_AddArrayToObject(o, "members");
        for (size_t i = w->ranges[2 * r]; i < w->ranges[2 * r + 1]; i++) {
            const ManifestEntry *e = &cur->entries[i];
            if (e->ref == self && !(e->flags & (ENTRY_GONE | ENTRY_ADOPTED)))
                cJSON_AddItemToArray(members, ckpt_member(cur, e));
        }
        cJSON_AddItemToArray(w->vols, o);
    }
    char *text = cJSON_PrintUnformatted(w->doc);
    bool ok = storage_put(st, w->path, text, strlen(text), err);
    free(text);
    w->last_ns = time_monotonic_ns();
    if (!ok)
        return error_prefix(err, "checkpoint '%s'", w->path);
    w->written = true;
    log_debug("checkpoint '%s': %zu volume%s", w->path, vcount, vcount == 1 ? "" : "s");
    return true;
}

bool checkpoint_save(CheckpointWriter *w, Storage *st, bool commits, bool force,
                     const Manifest *cur, uint16_t self, const VolumeInfo *vinfo, size_t vcount,
                     Error *err)
{
    if (!force && !checkpoint_due(w))
        return true;
    if (!checkpoint_write(w, st, cur, self, vinfo, vcount, err))
        return false;
    if (!commits)
        return true;
    char summary[160];
    snprintf(summary, sizeof(summary), "hfsync checkpoint %s: %zu volume%s", w->path, vcount,
             vcount == 1 ? "" : "s");
    return (storage_commit(st, summary, err) && storage_begin(st, err)) ||
           error_prefix(err, "checkpoint '%s'", w->path);
}

bool checkpoint_begin(CheckpointWriter *w, Storage *st, bool commits, const Manifest *cur,
                      uint16_t self, const VolumeInfo *vinfo, size_t vcount, Error *err)
{
    /* Volumes past the adopted ones get written again under the same names: the checkpoint
     * forgets them first. On the Hub both change in one commit, so nothing is needed. */
    if (commits || w->resumed_volumes <= w->adopted)
        return true;
    return checkpoint_write(w, st, cur, self, vinfo, vcount, err);
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

void checkpoint_remove(CheckpointWriter *w, Storage *st)
{
    if (w == NULL || (!w->written && !w->resumed))
        return;
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
