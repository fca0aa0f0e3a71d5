/* .meta.json parsing and writing (docs/FORMAT.md §3, reference/seed-format.md). */
#include "hfsync/meta.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/manifest.h"
#include "hfsync/util.h"
#include "hfsync/version.h"

static const char *js(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *o, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0)
        return false;
    *out = (uint64_t)v->valuedouble;
    return true;
}

static bool jbool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Object names come from the target: a plain file name, nothing that could walk elsewhere. */
static bool meta_name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.' || strlen(name) > 255)
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static bool meta_time(const cJSON *o, const char *key, int64_t *out)
{
    const char *t = js(o, key);
    return t != NULL && time_parse_iso8601(t, out);
}

static bool hex64_ok(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* An encrypted native backup names its algorithm and carries the key parameters (FORMAT.md §8):
 * both or neither, so a reader never takes encrypted objects for plain ones or the reverse. */
static bool meta_parse_cipher(BackupMeta *m, const cJSON *h, Error *err)
{
    const cJSON *cipher = cJSON_GetObjectItemCaseSensitive(h, "cipher");
    bool has_cipher = cipher != NULL && !cJSON_IsNull(cipher);
    if (!m->encrypted)
        return !has_cipher ||
               error_set(err, ERR_CORRUPT, "a 'cipher' object, but 'encrypted' is not true");
    if (!has_cipher)
        return error_set(err, ERR_CORRUPT,
                         "'encrypted' is true, but the 'cipher' object is missing");
    if (m->encryption_algorithm == NULL || strcmp(m->encryption_algorithm, "AES-256-GCM") != 0)
        return error_set(err, ERR_CORRUPT,
                         "unsupported encryption_algorithm '%s' (this version knows 'AES-256-GCM')",
                         m->encryption_algorithm ? m->encryption_algorithm : "");
    return crypto_params_from_json(cipher, &m->cipher, err);
}

static bool meta_parse_hfsync(BackupMeta *m, const cJSON *h, Error *err)
{
    uint64_t v;
    m->native = true;
    m->format = jnum(h, "format", &v) ? (int)v : 0;
    if (m->format != 1)
        return error_set(err, ERR_CORRUPT,
                         "unsupported hfsync format %d; this hfsync reads "
                         "format 1",
                         m->format);
    const char *name = js(h, "name");
    if (!meta_name_ok(name))
        return error_set(err, ERR_CORRUPT, "bad backup name");
    free(m->name);
    m->name = x_strdup(name);
    m->tool_version = x_strdup(js(h, "tool_version") ? js(h, "tool_version") : "");
    m->compression_level = jnum(h, "compression_level", &v) ? (int)v : 0;
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(h, "manifest");
    const char *mname = js(man, "name"), *msha = js(man, "sha256");
    if (!meta_name_ok(mname) || !hex64_ok(msha) || !jnum(man, "size", &m->manifest_size))
        return error_set(err, ERR_CORRUPT, "bad manifest record");
    m->manifest_name = x_strdup(mname);
    memcpy(m->manifest_sha256, msha, HASH_HEX_SIZE);
    jnum(man, "entries", &m->manifest_entries);

    const cJSON *vi = cJSON_GetObjectItemCaseSensitive(h, "volume_info");
    if (!cJSON_IsArray(vi) || (size_t)cJSON_GetArraySize(vi) != m->volume_count)
        return error_set(err, ERR_CORRUPT, "volume_info does not match volumes");
    m->vinfo = x_calloc(m->volume_count ? m->volume_count : 1, sizeof(VolumeInfo));
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vi)
    {
        VolumeInfo *x = &m->vinfo[i];
        const char *vname = js(it, "name"), *sha = js(it, "sha256");
        if (!meta_name_ok(vname) || strcmp(vname, m->volumes[i]) != 0 || !hex64_ok(sha) ||
            !jnum(it, "size", &x->size))
            return error_set(err, ERR_CORRUPT, "bad volume_info record %zu", i + 1);
        x->name = x_strdup(vname);
        memcpy(x->sha256, sha, HASH_HEX_SIZE);
        jnum(it, "files", &x->files);
        jnum(it, "entries", &x->entries);
        i++;
    }
    const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(h, "sources");
    if (cJSON_IsArray(srcs)) {
        m->sources = x_calloc((size_t)cJSON_GetArraySize(srcs) + 1, sizeof(char *));
        cJSON_ArrayForEach(it, srcs)
        {
            if (cJSON_IsString(it))
                m->sources[m->source_count++] = x_strdup(it->valuestring);
        }
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(h, "bytes");
    jnum(b, "source", &m->bytes_source);
    jnum(b, "stored", &m->bytes_stored);
    jnum(b, "uploaded", &m->bytes_uploaded);
    jnum(b, "full", &m->full_size);
    jnum(b, "chain", &m->chain_size);
    jnum(h, "upload_rate", &m->upload_rate);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(h, "changes");
    jnum(c, "added", &m->added);
    jnum(c, "changed", &m->changed);
    jnum(c, "deleted", &m->deleted);
    if (jnum(h, "duration_ms", &v))
        m->duration_ms = (int64_t)v;
    return meta_parse_cipher(m, h, err);
}

BackupMeta *meta_parse(const char *json, const char *path, Error *err)
{
    BackupMeta *m = x_calloc(1, sizeof(*m));
    m->path = x_strdup(path);
    cJSON *o = cJSON_Parse(json);
    bool ok = false;
    if (!cJSON_IsObject(o)) {
        error_set(err, ERR_CORRUPT, "not a JSON object");
        goto out;
    }
    const char *version = js(o, "version"), *type = js(o, "backup_type");
    if (version == NULL || type == NULL ||
        (strcmp(type, "full") != 0 && strcmp(type, "incremental") != 0)) {
        error_set(err, ERR_CORRUPT, "missing version or backup_type");
        goto out;
    }
    m->version = x_strdup(version);
    m->full = strcmp(type, "full") == 0;
    const char *chain = js(o, "chain_id");
    m->chain_id = x_strdup(chain ? chain : "");
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive(o, "parent");
    if (cJSON_IsString(parent)) {
        if (!meta_name_ok(strrchr(parent->valuestring, '/') ? strrchr(parent->valuestring, '/') + 1
                                                            : parent->valuestring) ||
            strstr(parent->valuestring, "..") != NULL || parent->valuestring[0] == '/') {
            error_set(err, ERR_CORRUPT, "bad parent path");
            goto out;
        }
        m->parent = x_strdup(parent->valuestring);
    } else if (!cJSON_IsNull(parent) && parent != NULL) {
        error_set(err, ERR_CORRUPT, "bad parent");
        goto out;
    }
    if (!m->full && m->parent == NULL) {
        error_set(err, ERR_CORRUPT, "incremental backup without a parent");
        goto out;
    }
    const cJSON *vols = cJSON_GetObjectItemCaseSensitive(o, "volumes");
    if (!cJSON_IsArray(vols) || cJSON_GetArraySize(vols) > 1000000) {
        error_set(err, ERR_CORRUPT, "missing volumes");
        goto out;
    }
    m->volumes = x_calloc((size_t)cJSON_GetArraySize(vols) + 1, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, vols)
    {
        if (!cJSON_IsString(it) || !meta_name_ok(it->valuestring)) {
            error_set(err, ERR_CORRUPT, "bad volume name");
            goto out;
        }
        m->volumes[m->volume_count++] = x_strdup(it->valuestring);
    }
    const char *checksum = js(o, "checksum");
    m->checksum = x_strdup(checksum ? checksum : "");
    if (!meta_time(o, "created_at_utc", &m->created)) {
        error_set(err, ERR_CORRUPT, "missing or bad created_at_utc");
        goto out;
    }
    if (!meta_time(o, "last_full_backup_time", &m->last_full))
        m->last_full = m->created;
    jnum(o, "file_count", &m->file_count);
    jnum(o, "archive_size", &m->archive_size);
    uint64_t ic = 0;
    jnum(o, "incremental_count", &ic);
    m->incremental_count = (int64_t)ic;
    m->encrypted = jbool(o, "encrypted");
    const char *alg = js(o, "encryption_algorithm");
    m->encryption_algorithm = alg ? x_strdup(alg) : NULL;
    m->is_split = jbool(o, "is_split");

    /* The name: the native one, else the first volume without any .part-xx suffix. */
    if (m->volume_count > 0) {
        const char *v0 = m->volumes[0];
        const char *part = strstr(v0, ".part-");
        m->name = part ? x_strndup(v0, (size_t)(part - v0)) : x_strdup(v0);
    } else {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        m->name = str_ends_with(base, ".meta.json")
                      ? x_strndup(base, strlen(base) - strlen(".meta.json"))
                      : x_strdup(base);
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hfsync");
    if (cJSON_IsObject(h) && !meta_parse_hfsync(m, h, err))
        goto out;
    ok = true;
out:
    cJSON_Delete(o);
    if (!ok) {
        meta_free(m);
        return NULL;
    }
    return m;
}

char *meta_to_json(const BackupMeta *m)
{
    char t[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", m->version ? m->version : "3.0");
    cJSON_AddStringToObject(o, "backup_type", m->full ? "full" : "incremental");
    cJSON_AddStringToObject(o, "chain_id", m->chain_id);
    if (m->parent)
        cJSON_AddStringToObject(o, "parent", m->parent);
    else
        cJSON_AddNullToObject(o, "parent");
    cJSON *vols = cJSON_AddArrayToObject(o, "volumes");
    for (size_t i = 0; i < m->volume_count; i++)
        cJSON_AddItemToArray(vols, cJSON_CreateString(m->volumes[i]));
    cJSON_AddStringToObject(o, "checksum", m->checksum);
    time_iso8601(m->created, t);
    cJSON_AddStringToObject(o, "created_at_utc", t);
    cJSON_AddStringToObject(o, "last_backup_time", t);
    cJSON_AddNumberToObject(o, "file_count", (double)m->file_count);
    cJSON_AddNumberToObject(o, "archive_size", (double)m->archive_size);
    cJSON_AddBoolToObject(o, "is_latest", 1);
    cJSON_AddStringToObject(o, "created_by", "hfsync");
    cJSON_AddNumberToObject(o, "incremental_count", (double)m->incremental_count);
    time_iso8601(m->last_full, t);
    cJSON_AddStringToObject(o, "last_full_backup_time", t);
    cJSON_AddBoolToObject(o, "encrypted", m->encrypted);
    if (m->encryption_algorithm)
        cJSON_AddStringToObject(o, "encryption_algorithm", m->encryption_algorithm);
    cJSON_AddBoolToObject(o, "is_split", m->volume_count > 1);

    cJSON *h = cJSON_AddObjectToObject(o, "hfsync");
    cJSON_AddNumberToObject(h, "format", 1);
    cJSON_AddStringToObject(h, "name", m->name);
    cJSON_AddStringToObject(h, "tool_version", HFSYNC_VERSION);
    cJSON_AddStringToObject(h, "codec", "zstd");
    if (m->encrypted)
        crypto_params_to_json(&m->cipher, cJSON_AddObjectToObject(h, "cipher"));
    cJSON_AddNumberToObject(h, "compression_level", m->compression_level);
    cJSON_AddStringToObject(h, "content_hash", MANIFEST_CONTENT_HASH);
    cJSON *srcs = cJSON_AddArrayToObject(h, "sources");
    for (size_t i = 0; i < m->source_count; i++)
        cJSON_AddItemToArray(srcs, cJSON_CreateString(m->sources[i]));
    cJSON *man = cJSON_AddObjectToObject(h, "manifest");
    cJSON_AddStringToObject(man, "name", m->manifest_name);
    cJSON_AddNumberToObject(man, "size", (double)m->manifest_size);
    cJSON_AddStringToObject(man, "sha256", m->manifest_sha256);
    cJSON_AddNumberToObject(man, "entries", (double)m->manifest_entries);
    cJSON *vi = cJSON_AddArrayToObject(h, "volume_info");
    for (size_t i = 0; i < m->volume_count; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", m->vinfo[i].name);
        cJSON_AddNumberToObject(x, "size", (double)m->vinfo[i].size);
        cJSON_AddStringToObject(x, "sha256", m->vinfo[i].sha256);
        cJSON_AddNumberToObject(x, "files", (double)m->vinfo[i].files);
        cJSON_AddNumberToObject(x, "entries", (double)m->vinfo[i].entries);
        cJSON_AddItemToArray(vi, x);
    }
    cJSON *b = cJSON_AddObjectToObject(h, "bytes");
    cJSON_AddNumberToObject(b, "source", (double)m->bytes_source);
    cJSON_AddNumberToObject(b, "stored", (double)m->bytes_stored);
    cJSON_AddNumberToObject(b, "uploaded", (double)m->bytes_uploaded);
    if (m->full_size > 0)
        cJSON_AddNumberToObject(b, "full", (double)m->full_size);
    if (m->chain_size > 0)
        cJSON_AddNumberToObject(b, "chain", (double)m->chain_size);
    cJSON *c = cJSON_AddObjectToObject(h, "changes");
    cJSON_AddNumberToObject(c, "added", (double)m->added);
    cJSON_AddNumberToObject(c, "changed", (double)m->changed);
    cJSON_AddNumberToObject(c, "deleted", (double)m->deleted);
    cJSON_AddNumberToObject(h, "duration_ms", (double)m->duration_ms);
    if (m->upload_rate > 0)
        cJSON_AddNumberToObject(h, "upload_rate", (double)m->upload_rate);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *out = x_strdup(text);
    cJSON_free(text);
    return out;
}

void meta_free(BackupMeta *m)
{
    if (m == NULL)
        return;
    free(m->path);
    free(m->name);
    free(m->version);
    free(m->chain_id);
    free(m->parent);
    for (size_t i = 0; i < m->volume_count; i++) {
        free(m->volumes[i]);
        if (m->vinfo)
            free(m->vinfo[i].name);
    }
    free(m->volumes);
    free(m->vinfo);
    free(m->checksum);
    free(m->encryption_algorithm);
    free(m->tool_version);
    for (size_t i = 0; i < m->source_count; i++)
        free(m->sources[i]);
    free(m->sources);
    free(m->manifest_name);
    free(m);
}

char *meta_path_for(const char *prefix, const char *name)
{
    return prefix[0] ? str_printf("%s/%s.meta.json", prefix, name)
                     : str_printf("%s.meta.json", name);
}

char *meta_object_path(const char *prefix, const char *object)
{
    return prefix[0] ? str_printf("%s/%s", prefix, object) : x_strdup(object);
}

char *meta_sibling_path(const BackupMeta *meta, const char *object)
{
    const char *slash = strrchr(meta->path, '/');
    if (slash == NULL)
        return x_strdup(object);
    return str_printf("%.*s/%s", (int)(slash - meta->path), meta->path, object);
}
