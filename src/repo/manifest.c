/* Manifest: building, ordering, lookup, and writing the JSON Lines form of docs/FORMAT.md §4
 * (reading: manifest_read.c). */
#include "hfsync/manifest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"

#define MANIFEST_PATH_MAX 4096
/* Paths and targets are packed into blocks of this size: no allocation (and its 16 to 32 bytes
 * of overhead) per string. */
#define MANIFEST_BLOCK_SIZE (256 * 1024)

struct ManifestBlock {
    ManifestBlock *next;
    size_t used, cap;
    char data[];
};

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
    while (m->blocks != NULL) {
        ManifestBlock *next = m->blocks->next;
        free(m->blocks);
        m->blocks = next;
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

static char *manifest_strdup(Manifest *m, const char *s)
{
    size_t n = strlen(s) + 1;
    ManifestBlock *b = m->blocks;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > MANIFEST_BLOCK_SIZE ? n : MANIFEST_BLOCK_SIZE;
        b = x_malloc(sizeof(*b) + cap);
        b->used = 0;
        b->cap = cap;
        b->next = m->blocks;
        m->blocks = b;
    }
    char *copy = b->data + b->used;
    memcpy(copy, s, n);
    b->used += n;
    return copy;
}

void manifest_reserve(Manifest *m, size_t count)
{
    if (count > m->cap) {
        m->cap = count;
        m->entries = x_realloc(m->entries, m->cap * sizeof(ManifestEntry));
    }
}

ManifestEntry *manifest_add(Manifest *m, const ManifestEntry *e)
{
    if (m->count == m->cap) /* by half: a doubling array is up to half empty */
        manifest_reserve(m, m->cap < 256 ? 256 : m->cap + m->cap / 2);
    ManifestEntry *n = &m->entries[m->count++];
    *n = *e;
    n->path = manifest_strdup(m, e->path);
    n->target = e->target ? manifest_strdup(m, e->target) : NULL;
    return n;
}

/* Root "." sorts first within a source; everything else bytewise, which keeps parents first. */
int manifest_path_cmp(const char *a, const char *b)
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

bool manifest_write_header(const char *backup, size_t count, Sink *out, Error *err)
{
    cJSON *head = cJSON_CreateObject();
    cJSON_AddStringToObject(head, "format", "hfsync-manifest");
    cJSON_AddNumberToObject(head, "version", 1);
    cJSON_AddStringToObject(head, "backup", backup);
    cJSON_AddStringToObject(head, "content_hash", MANIFEST_CONTENT_HASH);
    cJSON_AddNumberToObject(head, "entries", (double)count);
    char *line = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);
    bool ok = sink_write(out, line, strlen(line), err) && sink_write(out, "\n", 1, err);
    cJSON_free(line);
    return ok;
}

bool manifest_write_entry(const Manifest *m, const ManifestEntry *e, Sink *out, Error *err)
{
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
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    bool ok = sink_write(out, line, strlen(line), err) && sink_write(out, "\n", 1, err);
    cJSON_free(line);
    return ok;
}

bool manifest_write(const Manifest *m, Sink *out, size_t *entry_count, Error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        if (!(m->entries[i].flags & ENTRY_GONE))
            n++;
    bool ok = manifest_write_header(m->backup, n, out, err);
    for (size_t i = 0; ok && i < m->count; i++)
        if (!(m->entries[i].flags & ENTRY_GONE))
            ok = manifest_write_entry(m, &m->entries[i], out, err);
    if (entry_count != NULL)
        *entry_count = n;
    return ok;
}

/* Structure rules over the whole (sorted) manifest: unique entries, every parent a directory of
 * the same source, nothing below a root that is a file. */
bool manifest_validate(Manifest *m, Error *err)
{
    manifest_sort(m);
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
