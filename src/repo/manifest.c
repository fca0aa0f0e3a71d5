/* Manifest: building, ordering, lookup, and the JSON Lines form of docs/FORMAT.md §4. */
#include "hfsync/manifest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"

#define MANIFEST_MAX_LINE (64 * 1024)
#define MANIFEST_PATH_MAX 4096
#define MANIFEST_MAX_TABLE 65535

Manifest *manifest_new(const char *backup)
{
    Manifest *m = x_calloc(1, sizeof(*m));
    m->backup = x_strdup(backup ? backup : "");
    return m;
}

void manifest_free(Manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->count; i++) {
        free(m->entries[i].path);
        free(m->entries[i].target);
    }
    for (size_t i = 0; i < m->source_count; i++)
        free(m->sources[i]);
    for (size_t i = 0; i < m->ref_count; i++)
        free(m->refs[i]);
    free(m->entries);
    free(m->sources);
    free(m->refs);
    free(m->backup);
    free(m);
}

static uint16_t manifest_intern(char ***table, size_t *count, const char *name)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp((*table)[i], name) == 0)
            return (uint16_t)i;
    *table = x_realloc(*table, (*count + 1) * sizeof(char *));
    (*table)[*count] = x_strdup(name);
    return (uint16_t)(*count)++;
}

uint16_t manifest_source_index(Manifest *m, const char *name)
{
    return manifest_intern(&m->sources, &m->source_count, name);
}

uint16_t manifest_ref_index(Manifest *m, const char *name)
{
    return manifest_intern(&m->refs, &m->ref_count, name);
}

ManifestEntry *manifest_add(Manifest *m, const ManifestEntry *e)
{
    if (m->count == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->entries = x_realloc(m->entries, m->cap * sizeof(ManifestEntry));
    }
    ManifestEntry *n = &m->entries[m->count++];
    *n = *e;
    n->path = x_strdup(e->path);
    n->target = e->target ? x_strdup(e->target) : NULL;
    return n;
}

/* Root "." sorts first within a source; everything else bytewise, which keeps parents first. */
static int manifest_path_cmp(const char *a, const char *b)
{
    bool ra = a[0] == '.' && a[1] == '\0', rb = b[0] == '.' && b[1] == '\0';
    if (ra || rb)
        return rb - ra;
    return strcmp(a, b);
}

int manifest_cmp(const Manifest *ma, const ManifestEntry *a, const Manifest *mb,
                 const ManifestEntry *b)
{
    if (ma != mb || a->source != b->source) {
        int c = strcmp(ma->sources[a->source], mb->sources[b->source]);
        if (c != 0)
            return c;
    }
    return manifest_path_cmp(a->path, b->path);
}

static const Manifest *manifest_sorting;

static int manifest_qsort_cmp(const void *a, const void *b)
{
    return manifest_cmp(manifest_sorting, a, manifest_sorting, b);
}

void manifest_sort(Manifest *m)
{
    /* Manifests are written in order: reading one back needs only this check. */
    size_t i = 1;
    while (i < m->count && manifest_cmp(m, &m->entries[i - 1], m, &m->entries[i]) <= 0)
        i++;
    if (i >= m->count)
        return;
    manifest_sorting = m;
    qsort(m->entries, m->count, sizeof(ManifestEntry), manifest_qsort_cmp);
    manifest_sorting = NULL;
}

ManifestEntry *manifest_find(const Manifest *m, const char *source, const char *path)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ManifestEntry *e = &m->entries[mid];
        int c = strcmp(m->sources[e->source], source);
        if (c == 0)
            c = manifest_path_cmp(e->path, path);
        if (c == 0)
            return (ManifestEntry *)e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool manifest_entry_same(const ManifestEntry *a, const ManifestEntry *b)
{
    if (a->type != b->type || a->mode != b->mode || a->mtime != b->mtime ||
        a->mtime_nsec != b->mtime_nsec)
        return false;
    if (a->type == ENTRY_FILE && a->size != b->size)
        return false;
    if (a->type == ENTRY_SYMLINK && strcmp(a->target ? a->target : "", b->target ? b->target : ""))
        return false;
    return true;
}

bool manifest_path_check(const char *path, Error *err)
{
    size_t len = strlen(path);
    if (len == 0)
        return error_set(err, ERR_UNSAFE, "empty path");
    if (len > MANIFEST_PATH_MAX)
        return error_set(err, ERR_UNSAFE, "path longer than %d bytes", MANIFEST_PATH_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f)
            return error_set(err, ERR_UNSAFE, "path '%.*s…' contains control character 0x%02x",
                             (int)i, path, c);
    }
    if (strcmp(path, ".") == 0)
        return true;
    if (path[0] == '/')
        return error_set(err, ERR_UNSAFE, "path '%s' is absolute", path);
    const char *seg = path;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0)
            return error_set(err, ERR_UNSAFE, "path '%s' has an empty component", path);
        if (n == 1 && seg[0] == '.')
            return error_set(err, ERR_UNSAFE, "path '%s' has a '.' component", path);
        if (n == 2 && seg[0] == '.' && seg[1] == '.')
            return error_set(err, ERR_UNSAFE, "path '%s' has a '..' component", path);
        if (end == NULL)
            return true;
        seg = end + 1;
    }
}

static const char *const entry_type_names[] = {"file", "dir", "symlink"};

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0 || (*p == 0xc0 || *p == 0xc1) || *p > 0xf4)
            return false;
        uint32_t cp = *p & (0x3f >> n);
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* A name that is not UTF-8 cannot be a JSON string: it is written as "<key>_hex" instead. */
static void manifest_add_name(cJSON *o, const char *key, const char *value)
{
    if (utf8_valid(value)) {
        cJSON_AddStringToObject(o, key, value);
        return;
    }
    size_t len = strlen(value);
    char *hex = x_malloc(2 * len + 1);
    hex_encode((const uint8_t *)value, len, hex);
    char field[32];
    snprintf(field, sizeof(field), "%s_hex", key);
    cJSON_AddStringToObject(o, field, hex);
    free(hex);
}

bool manifest_write(const Manifest *m, Sink *out, size_t *entry_count, Error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        if (!(m->entries[i].flags & ENTRY_GONE))
            n++;
    cJSON *head = cJSON_CreateObject();
    cJSON_AddStringToObject(head, "format", "hfsync-manifest");
    cJSON_AddNumberToObject(head, "version", 1);
    cJSON_AddStringToObject(head, "backup", m->backup);
    cJSON_AddStringToObject(head, "content_hash", MANIFEST_CONTENT_HASH);
    cJSON_AddNumberToObject(head, "entries", (double)n);
    char *line = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);
    bool ok = sink_write(out, line, strlen(line), err) && sink_write(out, "\n", 1, err);
    cJSON_free(line);

    for (size_t i = 0; ok && i < m->count; i++) {
        const ManifestEntry *e = &m->entries[i];
        if (e->flags & ENTRY_GONE)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "source", m->sources[e->source]);
        manifest_add_name(o, "path", e->path);
        cJSON_AddStringToObject(o, "type", entry_type_names[e->type]);
        cJSON_AddNumberToObject(o, "mode", e->mode);
        cJSON_AddNumberToObject(o, "mtime", (double)e->mtime);
        cJSON_AddNumberToObject(o, "mtime_nsec", e->mtime_nsec);
        if (e->type == ENTRY_FILE) {
            char hex[HASH_HEX_SIZE];
            hex_encode(e->hash, HASH_SIZE, hex);
            cJSON_AddNumberToObject(o, "size", (double)e->size);
            cJSON_AddStringToObject(o, "hash", hex);
        }
        if (e->type == ENTRY_SYMLINK)
            manifest_add_name(o, "target", e->target ? e->target : "");
        cJSON_AddStringToObject(o, "ref", m->refs[e->ref]);
        if (e->type == ENTRY_FILE)
            cJSON_AddNumberToObject(o, "volume", e->volume);
        line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        ok = sink_write(out, line, strlen(line), err) && sink_write(out, "\n", 1, err);
        cJSON_free(line);
    }
    if (entry_count != NULL)
        *entry_count = n;
    return ok;
}

/* --- reading -------------------------------------------------------------------------------- */

static bool json_int(const cJSON *o, const char *key, double min, double max, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool hex_decode32(const char *hex, uint8_t out[HASH_SIZE])
{
    if (hex == NULL || strlen(hex) != 2 * HASH_SIZE)
        return false;
    for (int i = 0; i < HASH_SIZE; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

/* "<key>" as a string, or "<key>_hex" decoded into `buf` (bytes, no NUL allowed). */
static const char *json_name(const cJSON *o, const char *key, char *buf, size_t cap)
{
    const char *v = json_str(o, key);
    if (v != NULL)
        return v;
    char field[32];
    snprintf(field, sizeof(field), "%s_hex", key);
    const char *hex = json_str(o, field);
    size_t len = hex ? strlen(hex) : 0;
    if (hex == NULL || len % 2 != 0 || len / 2 >= cap)
        return NULL;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1 || byte == 0 ||
            !strchr("0123456789abcdef", hex[2 * i]) || !strchr("0123456789abcdef", hex[2 * i + 1]))
            return NULL;
        buf[i] = (char)byte;
    }
    buf[len / 2] = '\0';
    return buf;
}

static bool manifest_parse_entry(Manifest *m, const cJSON *o, size_t line, Error *err)
{
    static char path_buf[MANIFEST_PATH_MAX + 1], target_buf[MANIFEST_PATH_MAX + 1];
    const char *source = json_str(o, "source");
    const char *path = json_name(o, "path", path_buf, sizeof(path_buf));
    const char *type = json_str(o, "type"), *ref = json_str(o, "ref");
    if (source == NULL || path == NULL || type == NULL || ref == NULL)
        return error_set(err, ERR_CORRUPT, "line %zu: entry lacks source, path, type or ref", line);
    ManifestEntry e;
    memset(&e, 0, sizeof(e));
    if (!manifest_path_check(path, err))
        return error_prefix(err, "line %zu: entry '%s'", line, source);
    if (strchr(source, '/') != NULL || !manifest_path_check(source, err) ||
        strcmp(source, ".") == 0)
        return error_set(err, ERR_UNSAFE, "line %zu: entry '%s/%s': invalid source name '%s'", line,
                         source, path, source);
    int64_t v;
    if (strcmp(type, "file") == 0)
        e.type = ENTRY_FILE;
    else if (strcmp(type, "dir") == 0)
        e.type = ENTRY_DIR;
    else if (strcmp(type, "symlink") == 0)
        e.type = ENTRY_SYMLINK;
    else
        return error_set(err, ERR_UNSAFE,
                         "entry '%s/%s' has type '%s'; only file, dir and "
                         "symlink are allowed",
                         source, path, type);
    if (!json_int(o, "mode", 0, 07777, &v))
        return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad mode", source, path);
    e.mode = (uint32_t)v;
    if (!json_int(o, "mtime", -1e15, 1e15, &e.mtime))
        return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad mtime", source, path);
    if (!json_int(o, "mtime_nsec", 0, 999999999, &v))
        return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad mtime_nsec", source, path);
    e.mtime_nsec = (int32_t)v;
    if (e.type == ENTRY_FILE) {
        if (!json_int(o, "size", 0, 9007199254740992.0, &v))
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad size", source, path);
        e.size = (uint64_t)v;
        if (!hex_decode32(json_str(o, "hash"), e.hash))
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad hash", source, path);
        if (!json_int(o, "volume", 1, 1e9, &v))
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad volume", source, path);
        e.volume = (uint32_t)v;
    }
    if (e.type == ENTRY_SYMLINK) {
        const char *target = json_name(o, "target", target_buf, sizeof(target_buf));
        if (target == NULL || target[0] == '\0' || strlen(target) > MANIFEST_PATH_MAX)
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad symlink target", source, path);
        e.target = (char *)target;
    }
    if (m->source_count >= MANIFEST_MAX_TABLE || m->ref_count >= MANIFEST_MAX_TABLE)
        return error_set(err, ERR_CORRUPT, "too many sources or refs");
    e.source = manifest_source_index(m, source);
    e.ref = manifest_ref_index(m, ref);
    e.path = (char *)path;
    manifest_add(m, &e);
    return true;
}

/* Structure rules over the whole (sorted) manifest: unique entries, every parent a directory of
 * the same source, nothing below a root that is a file. */
static bool manifest_check_tree(Manifest *m, Error *err)
{
    /* Siblings are adjacent runs in manifest order: remember the last parent that checked out. */
    const char *ok_parent = NULL;
    size_t ok_parent_len = 0;
    uint16_t ok_source = 0;
    for (size_t i = 0; i < m->count; i++) {
        ManifestEntry *e = &m->entries[i];
        const char *src = m->sources[e->source];
        if (i > 0 && manifest_cmp(m, &m->entries[i - 1], m, e) == 0)
            return error_set(err, ERR_UNSAFE, "entry '%s/%s' appears twice", src, e->path);
        if (strcmp(e->path, ".") == 0)
            continue;
        const char *slash = strrchr(e->path, '/');
        size_t plen = slash ? (size_t)(slash - e->path) : 0;
        if (ok_parent != NULL && ok_source == e->source && plen == ok_parent_len &&
            memcmp(ok_parent, slash ? e->path : ".", slash ? plen : 1) == 0)
            continue;
        char *parent = slash ? x_strndup(e->path, plen) : x_strdup(".");
        ManifestEntry *p = manifest_find(m, src, parent);
        bool ok = p != NULL && p->type == ENTRY_DIR;
        free(parent);
        if (ok) {
            ok_parent = p->path;
            ok_parent_len = slash ? plen : 0;
            ok_source = e->source;
        }
        if (!ok)
            return error_set(err, ERR_UNSAFE,
                             "entry '%s/%s': its parent is not a directory of the backup", src,
                             e->path);
    }
    return true;
}

Manifest *manifest_read(Reader *in, Error *err)
{
    Manifest *m = NULL;
    size_t cap = 64 * 1024, start = 0, len = 0, line_no = 0, expected = 0;
    char *buf = x_malloc(cap + 1);
    bool header = false, eof = false, ok = true;

    /* buf[start, len) holds unparsed bytes; it is compacted only when more must be read. */
    while (ok && !(eof && start == len)) {
        char *line = buf + start;
        char *nl = memchr(line, '\n', len - start);
        if (nl == NULL && !eof) {
            memmove(buf, line, len - start);
            len -= start;
            start = 0;
            if (len == cap) {
                if (cap >= MANIFEST_MAX_LINE * 2) {
                    ok = error_set(err, ERR_CORRUPT, "line %zu is too long", line_no + 1);
                    break;
                }
                cap *= 2;
                buf = x_realloc(buf, cap + 1);
            }
            ssize_t n = reader_read(in, buf + len, cap - len, err);
            if (n < 0) {
                ok = false;
                break;
            }
            if (n == 0)
                eof = true;
            len += (size_t)n;
            continue;
        }
        if (nl == NULL) {
            ok = error_set(err, ERR_CORRUPT, "line %zu is not terminated", line_no + 1);
            break;
        }
        size_t line_len = (size_t)(nl - line);
        line_no++;
        /* A NUL would silently cut a name short once decoded into a C string. */
        const char *nul = memmem(line, line_len, "\\u0000", 6);
        if (nul != NULL) {
            /* Show the name as it is written in the manifest, escapes and all. */
            const char *from = nul, *to = nul + 6;
            while (from > line && from[-1] != '"')
                from--;
            while (to < line + line_len && *to != '"')
                to++;
            ok = error_set(err, ERR_UNSAFE, "line %zu: name \"%.*s\" contains a NUL character",
                           line_no, (int)(to - from), from);
            break;
        }
        cJSON *o = cJSON_ParseWithLength(line, line_len);
        if (o == NULL || !cJSON_IsObject(o)) {
            ok = error_set(err, ERR_CORRUPT, "line %zu is not a JSON object", line_no);
        } else if (!header) {
            const char *fmt = json_str(o, "format");
            int64_t version = 0, entries = 0;
            if (fmt == NULL || strcmp(fmt, "hfsync-manifest") != 0 ||
                !json_int(o, "version", 1, 1, &version) ||
                !json_int(o, "entries", 0, 1e12, &entries) || json_str(o, "backup") == NULL) {
                ok = error_set(err, ERR_CORRUPT, "not an hfsync manifest (bad header)");
            } else if (json_str(o, "content_hash") == NULL ||
                       strcmp(json_str(o, "content_hash"), MANIFEST_CONTENT_HASH) != 0) {
                ok = error_set(err, ERR_CORRUPT,
                               "manifest content hash \"%s\" is not \"%s\", the only one this "
                               "version of hfsync reads",
                               json_str(o, "content_hash") ? json_str(o, "content_hash") : "",
                               MANIFEST_CONTENT_HASH);
            } else {
                m = manifest_new(json_str(o, "backup"));
                expected = (size_t)entries;
                header = true;
            }
        } else {
            ok = manifest_parse_entry(m, o, line_no, err);
        }
        cJSON_Delete(o);
        start += line_len + 1;
    }
    free(buf);
    if (ok && !header)
        ok = error_set(err, ERR_CORRUPT, "manifest is empty");
    if (ok && m->count != expected)
        ok = error_set(err, ERR_CORRUPT, "manifest has %zu entries, its header says %zu", m->count,
                       expected);
    if (ok) {
        manifest_sort(m);
        ok = manifest_check_tree(m, err);
    }
    if (!ok) {
        manifest_free(m);
        return NULL;
    }
    return m;
}
