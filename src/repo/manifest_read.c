/* Manifest: reading the JSON Lines form of docs/FORMAT.md §4, one entry at a time (the cursor)
 * or whole (manifest_read). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/manifest.h"
#include "hfsync/util.h"

#define MANIFEST_MAX_LINE (64 * 1024)
#define MANIFEST_READ_SIZE (64 * 1024)
#define MANIFEST_PATH_MAX 4096
#define MANIFEST_MAX_TABLE 65535
/* manifest_read() believes the header's count only this far before it sees the entries. */
#define MANIFEST_RESERVE_MAX (1u << 20)

struct ManifestCursor {
    Reader *in;
    char *buf; /* buf[start, len) holds bytes read but not parsed yet */
    size_t cap, start, len;
    bool eof;
    size_t line_no, expected, seen;
    char *backup;
    cJSON *obj; /* the current entry's line: the source and ref strings point into it */
    char path[MANIFEST_PATH_MAX + 1], target[MANIFEST_PATH_MAX + 1];
};

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

/* The fields of one entry line, checked. */
static bool cursor_parse_entry(ManifestCursor *c, const cJSON *o, ManifestEntry *e,
                               const char **source_out, const char **ref_out, Error *err)
{
    size_t line = c->line_no;
    const char *source = json_str(o, "source");
    const char *path = json_name(o, "path", c->path, sizeof(c->path));
    const char *type = json_str(o, "type"), *ref = json_str(o, "ref");
    if (source == NULL || path == NULL || type == NULL || ref == NULL)
        return error_set(err, ERR_CORRUPT, "line %zu: entry lacks source, path, type or ref", line);
    memset(e, 0, sizeof(*e));
    if (!manifest_path_check(path, err))
        return error_prefix(err, "line %zu: entry '%s'", line, source);
    if (strchr(source, '/') != NULL || !manifest_path_check(source, err) ||
        strcmp(source, ".") == 0)
        return error_set(err, ERR_UNSAFE, "line %zu: entry '%s/%s': invalid source name '%s'", line,
                         source, path, source);
    int64_t v;
    if (strcmp(type, "file") == 0)
        e->type = ENTRY_FILE;
    else if (strcmp(type, "dir") == 0)
        e->type = ENTRY_DIR;
    else if (strcmp(type, "symlink") == 0)
        e->type = ENTRY_SYMLINK;
    else
        return error_set(err, ERR_UNSAFE,
                         "entry '%s/%s' has type '%s'; only file, dir and "
                         "symlink are allowed",
                         source, path, type);
    if (!json_int(o, "mode", 0, 07777, &v))
        return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad mode", source, path);
    e->mode = (uint32_t)v;
    if (!json_int(o, "mtime", -1e15, 1e15, &e->mtime))
        return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad mtime", source, path);
    if (!json_int(o, "mtime_nsec", 0, 999999999, &v))
        return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad mtime_nsec", source, path);
    e->mtime_nsec = (int32_t)v;
    if (e->type == ENTRY_FILE) {
        if (!json_int(o, "size", 0, 9007199254740992.0, &v))
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad size", source, path);
        e->size = (uint64_t)v;
        if (!hex_decode32(json_str(o, "hash"), e->hash))
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad hash", source, path);
        if (!json_int(o, "volume", 1, 1e9, &v))
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad volume", source, path);
        e->volume = (uint32_t)v;
    }
    if (e->type == ENTRY_SYMLINK) {
        const char *target = json_name(o, "target", c->target, sizeof(c->target));
        if (target == NULL || target[0] == '\0' || strlen(target) > MANIFEST_PATH_MAX)
            return error_set(err, ERR_CORRUPT, "entry '%s/%s': bad symlink target", source, path);
        e->target = (char *)target;
    }
    e->path = (char *)path;
    *source_out = source;
    *ref_out = ref;
    return true;
}

/* The next line, without its "\n", in *line / *line_len: 1; 0 at the end; -1 on error. */
static int cursor_line(ManifestCursor *c, const char **line, size_t *line_len, Error *err)
{
    for (;;) {
        if (c->eof && c->start == c->len)
            return 0;
        char *begin = c->buf + c->start;
        char *nl = memchr(begin, '\n', c->len - c->start);
        if (nl != NULL) {
            *line = begin;
            *line_len = (size_t)(nl - begin);
            c->start += *line_len + 1;
            c->line_no++;
            return 1;
        }
        if (c->eof) {
            error_set(err, ERR_CORRUPT, "line %zu is not terminated", c->line_no + 1);
            return -1;
        }
        /* Compacted only when more must be read: most reads append to what is there. */
        memmove(c->buf, begin, c->len - c->start);
        c->len -= c->start;
        c->start = 0;
        if (c->len == c->cap) {
            if (c->cap >= MANIFEST_MAX_LINE * 2) {
                error_set(err, ERR_CORRUPT, "line %zu is too long", c->line_no + 1);
                return -1;
            }
            c->cap *= 2;
            c->buf = x_realloc(c->buf, c->cap + 1);
        }
        ssize_t n = reader_read(c->in, c->buf + c->len, c->cap - c->len, err);
        if (n < 0)
            return -1;
        if (n == 0)
            c->eof = true;
        c->len += (size_t)n;
    }
}

/* The next line as a JSON object (the caller deletes it), or NULL at the end (*end) or on error. */
static cJSON *cursor_object(ManifestCursor *c, bool *end, Error *err)
{
    const char *line;
    size_t len;
    *end = false;
    int r = cursor_line(c, &line, &len, err);
    if (r <= 0) {
        *end = r == 0;
        return NULL;
    }
    /* A NUL would silently cut a name short once decoded into a C string. */
    const char *nul = memmem(line, len, "\\u0000", 6);
    if (nul != NULL) {
        /* Show the name as it is written in the manifest, escapes and all. */
        const char *from = nul, *to = nul + 6;
        while (from > line && from[-1] != '"')
            from--;
        while (to < line + len && *to != '"')
            to++;
        error_set(err, ERR_UNSAFE, "line %zu: name \"%.*s\" contains a NUL character", c->line_no,
                  (int)(to - from), from);
        return NULL;
    }
    cJSON *o = cJSON_ParseWithLength(line, len);
    if (o == NULL || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        error_set(err, ERR_CORRUPT, "line %zu is not a JSON object", c->line_no);
        return NULL;
    }
    return o;
}

ManifestCursor *manifest_cursor_open(Reader *in, Error *err)
{
    ManifestCursor *c = x_calloc(1, sizeof(*c));
    c->in = in;
    c->cap = MANIFEST_READ_SIZE;
    c->buf = x_malloc(c->cap + 1);
    bool end;
    cJSON *o = cursor_object(c, &end, err);
    const char *fmt = o ? json_str(o, "format") : NULL;
    const char *hash = o ? json_str(o, "content_hash") : NULL;
    int64_t version = 0, entries = 0;
    bool ok = false;
    if (o == NULL && end)
        error_set(err, ERR_CORRUPT, "manifest is empty");
    else if (o == NULL)
        ;
    else if (fmt == NULL || strcmp(fmt, "hfsync-manifest") != 0 ||
             !json_int(o, "version", 1, 1, &version) ||
             !json_int(o, "entries", 0, 1e12, &entries) || json_str(o, "backup") == NULL)
        error_set(err, ERR_CORRUPT, "not an hfsync manifest (bad header)");
    else if (hash == NULL || strcmp(hash, MANIFEST_CONTENT_HASH) != 0)
        error_set(err, ERR_CORRUPT,
                  "manifest content hash \"%s\" is not \"%s\", the only one this version of "
                  "hfsync reads",
                  hash ? hash : "", MANIFEST_CONTENT_HASH);
    else
        ok = true;
    if (ok) {
        c->backup = x_strdup(json_str(o, "backup"));
        c->expected = (size_t)entries;
    }
    cJSON_Delete(o);
    if (!ok) {
        manifest_cursor_free(c);
        return NULL;
    }
    return c;
}

void manifest_cursor_free(ManifestCursor *c)
{
    if (c == NULL)
        return;
    cJSON_Delete(c->obj);
    free(c->buf);
    free(c->backup);
    free(c);
}

const char *manifest_cursor_backup(const ManifestCursor *c)
{
    return c->backup;
}

size_t manifest_cursor_expected(const ManifestCursor *c)
{
    return c->expected;
}

int manifest_cursor_next(ManifestCursor *c, ManifestEntry *e, const char **source, const char **ref,
                         Error *err)
{
    cJSON_Delete(c->obj);
    bool end;
    c->obj = cursor_object(c, &end, err);
    if (c->obj == NULL) {
        if (!end)
            return -1;
        if (c->seen != c->expected) {
            error_set(err, ERR_CORRUPT, "manifest has %zu entries, its header says %zu", c->seen,
                      c->expected);
            return -1;
        }
        return 0;
    }
    if (!cursor_parse_entry(c, c->obj, e, source, ref, err))
        return -1;
    c->seen++;
    return 1;
}

Manifest *manifest_read(Reader *in, Error *err)
{
    ManifestCursor *c = manifest_cursor_open(in, err);
    if (c == NULL)
        return NULL;
    Manifest *m = manifest_new(manifest_cursor_backup(c));
    size_t expected = manifest_cursor_expected(c);
    manifest_reserve(m, expected < MANIFEST_RESERVE_MAX ? expected : MANIFEST_RESERVE_MAX);
    ManifestEntry e;
    const char *source, *ref;
    int r;
    while ((r = manifest_cursor_next(c, &e, &source, &ref, err)) > 0) {
        if (m->source_count >= MANIFEST_MAX_TABLE || m->ref_count >= MANIFEST_MAX_TABLE) {
            r = -1;
            error_set(err, ERR_CORRUPT, "too many sources or refs");
            break;
        }
        e.source = manifest_source_index(m, source);
        e.ref = manifest_ref_index(m, ref);
        manifest_add(m, &e);
    }
    manifest_cursor_free(c);
    if (r < 0 || !manifest_validate(m, err)) {
        manifest_free(m);
        return NULL;
    }
    return m;
}
