/*
 * Writing to the Hub: the write sink and LFS uploads (reference/hf-hub-api.md §5).
 *
 * The LFS batch API wants an object's sha256 and size before it hands out upload URLs, so a
 * written object is hashed as its bytes arrive (no second read for the hash) and kept: in memory
 * while small, else in an unlinked spool file in the work directory. When the sink finishes,
 * small JSON documents are staged inline in the next commit; everything else is uploaded (basic
 * PUT, or the Hub's multipart transfer with parts sent in parallel, then the completion call,
 * then verify when offered) and staged as an `lfsFile`. Objects the Hub already stores are not
 * sent again. Upload URLs are presigned: the token is never sent to them.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "hf.intern.h"

#define LFS_TYPE "application/vnd.git-lfs+json"

/* --- multipart ----------------------------------------------------------------------------- */

typedef struct HfPart {
    const char *url;
    char *etag;
} HfPart;

typedef struct HfMulti {
    Hf *h;
    int fd;
    const uint8_t *mem;
    uint64_t size, chunk;
    HfPart *parts;
    size_t count, next;
    pthread_mutex_t mu;
    bool failed;
    Error err; /* the first failure */
} HfMulti;

static void *hf_part_worker(void *arg)
{
    HfMulti *m = arg;
    Error err = {0};
    Http *http = http_new(&m->h->hs, &err);
    for (;;) {
        pthread_mutex_lock(&m->mu);
        size_t i = m->next++;
        bool stop = m->failed || i >= m->count || http == NULL;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            break;
        uint64_t off = (uint64_t)i * m->chunk;
        uint64_t len = m->size - off < m->chunk ? m->size - off : m->chunk;
        char what[64];
        snprintf(what, sizeof(what), "LFS upload part %zu of %zu", i + 1, m->count);
        HfCall c = {.what = what,
                    .method = "PUT",
                    .url = m->parts[i].url,
                    .body = m->fd < 0 ? m->mem + off : NULL,
                    .body_fd = m->fd,
                    .body_offset = off,
                    .body_size = (size_t)len};
        HttpResponse resp;
        bool ok = hf_call(m->h, http, &c, &resp, &err);
        const char *etag = ok ? http_headers_get(&resp.headers, "ETag") : NULL;
        if (ok && etag == NULL)
            ok = error_set(&err, ERR_NET, "%s: the answer has no ETag", what);
        if (ok)
            m->parts[i].etag = x_strdup(etag);
        http_response_free(&resp);
        if (!ok) {
            pthread_mutex_lock(&m->mu);
            if (!m->failed)
                m->err = err;
            m->failed = true;
            pthread_mutex_unlock(&m->mu);
            break;
        }
    }
    if (http == NULL) {
        pthread_mutex_lock(&m->mu);
        if (!m->failed)
            m->err = err;
        m->failed = true;
        pthread_mutex_unlock(&m->mu);
    }
    http_free(http);
    return NULL;
}

static int hf_part_key_cmp(const void *a, const void *b)
{
    long x = atol((*(const cJSON *const *)a)->string), y = atol((*(const cJSON *const *)b)->string);
    return x < y ? -1 : x > y;
}

/* The Hub's multipart transfer: `header` holds chunk_size and one URL per part ("00001"…),
 * `href` is the completion URL. */
static bool hf_multipart(Hf *h, int fd, const uint8_t *mem, uint64_t size, const char *oid,
                         const cJSON *upload, Error *err)
{
    const cJSON *header = cJSON_GetObjectItemCaseSensitive(upload, "header");
    const cJSON *href = cJSON_GetObjectItemCaseSensitive(upload, "href");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(header, "chunk_size");
    long long chunk = cJSON_IsString(cs)   ? atoll(cs->valuestring)
                      : cJSON_IsNumber(cs) ? (long long)cs->valuedouble
                                           : 0;
    if (chunk <= 0 || !cJSON_IsString(href))
        return error_set(err, ERR_NET, "LFS upload: the multipart answer has no chunk size or URL");
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, header) if (item->string != NULL && item->string[0] >= '0' &&
                                         item->string[0] <= '9' && cJSON_IsString(item)) n++;
    uint64_t want = (size + (uint64_t)chunk - 1) / (uint64_t)chunk;
    if (n != want)
        return error_set(err, ERR_NET,
                         "LFS upload: the Hub offered %zu part URLs for %llu parts of %lld bytes",
                         n, (unsigned long long)want, chunk);
    const cJSON **keys = x_calloc(n, sizeof(*keys));
    size_t k = 0;
    cJSON_ArrayForEach(item, header) if (item->string != NULL && item->string[0] >= '0' &&
                                         item->string[0] <= '9' && cJSON_IsString(item)) keys[k++] =
        item;
    qsort(keys, n, sizeof(*keys), hf_part_key_cmp);
    HfMulti m = {.h = h, .fd = fd, .mem = mem, .size = size, .chunk = (uint64_t)chunk, .count = n};
    m.parts = x_calloc(n, sizeof(*m.parts));
    for (size_t i = 0; i < n; i++)
        m.parts[i].url = keys[i]->valuestring;
    pthread_mutex_init(&m.mu, NULL);
    int threads = n < HF_PARALLEL ? (int)n : HF_PARALLEL;
    pthread_t tid[HF_PARALLEL];
    int started = 0;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tid[started], NULL, hf_part_worker, &m) == 0)
            started++;
    if (started == 0)
        hf_part_worker(&m);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&m.mu);
    bool ok = !m.failed;
    if (!ok)
        *err = m.err;
    if (ok) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "oid", oid);
        cJSON *parts = cJSON_AddArrayToObject(body, "parts");
        for (size_t i = 0; i < n; i++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "partNumber", (double)(i + 1));
            cJSON_AddStringToObject(p, "etag", m.parts[i].etag);
            cJSON_AddItemToArray(parts, p);
        }
        char *json = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        HfCall c = {.what = "LFS upload completion",
                    .method = "POST",
                    .url = href->valuestring,
                    .content_type = LFS_TYPE,
                    .body = json,
                    .body_size = strlen(json)};
        HttpResponse resp;
        ok = hf_call(h, h->http, &c, &resp, err);
        http_response_free(&resp);
        free(json);
    }
    for (size_t i = 0; i < n; i++)
        free(m.parts[i].etag);
    free(m.parts);
    free(keys);
    return ok;
}

static bool hf_lfs_send(Hf *h, int fd, const uint8_t *mem, uint64_t size, const char *oid,
                        const char *rpath, Error *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "operation", "upload");
    cJSON *tr = cJSON_AddArrayToObject(body, "transfers");
    cJSON_AddItemToArray(tr, cJSON_CreateString("basic"));
    cJSON_AddItemToArray(tr, cJSON_CreateString("multipart"));
    cJSON_AddStringToObject(body, "hash_algo", "sha256");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "ref"), "name", h->rev);
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "oid", oid);
    cJSON_AddNumberToObject(obj, "size", (double)size);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "objects"), obj);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *url = str_printf("%s.git/info/lfs/objects/batch", h->git);
    char *what = str_printf("LFS batch for hf://%s/%s", h->display, rpath);
    HfCall c = {.what = what,
                .method = "POST",
                .url = url,
                .content_type = LFS_TYPE,
                .body = json,
                .body_size = strlen(json),
                .auth = true};
    HttpResponse resp;
    bool ok = hf_call(h, h->http, &c, &resp, err);
    free(json);
    free(url);
    cJSON *doc = ok ? cJSON_ParseWithLength(resp.body, resp.body_size) : NULL;
    http_response_free(&resp);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "objects"), 0);
    const cJSON *oerr = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *actions = cJSON_GetObjectItemCaseSensitive(o, "actions");
    const cJSON *upload = cJSON_GetObjectItemCaseSensitive(actions, "upload");
    const cJSON *verify = cJSON_GetObjectItemCaseSensitive(actions, "verify");
    if (ok && o == NULL) {
        ok = error_set(err, ERR_NET, "%s: the answer lists no object", what);
    } else if (ok && oerr != NULL) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(oerr, "message");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(oerr, "code");
        ok = error_set(err, ERR_NET, "%s: the Hub refused the object (%d: %s)", what,
                       cJSON_IsNumber(code) ? code->valueint : 0,
                       cJSON_IsString(m) ? m->valuestring : "no message");
    } else if (ok && upload == NULL) {
        log_debug("%s: the Hub has it already", what);
    } else if (ok) {
        const cJSON *href = cJSON_GetObjectItemCaseSensitive(upload, "href");
        const cJSON *header = cJSON_GetObjectItemCaseSensitive(upload, "header");
        if (cJSON_GetObjectItemCaseSensitive(header, "chunk_size") != NULL) {
            ok = hf_multipart(h, fd, mem, size, oid, upload, err);
        } else if (cJSON_IsString(href)) {
            HfCall put = {.what = "LFS upload",
                          .method = "PUT",
                          .url = href->valuestring,
                          .body = fd < 0 ? mem : NULL,
                          .body_fd = fd,
                          .body_size = (size_t)size};
            ok = hf_call(h, h->http, &put, &resp, err);
            http_response_free(&resp);
        } else {
            ok = error_set(err, ERR_NET, "%s: the upload action has no URL", what);
        }
        const cJSON *vhref = cJSON_GetObjectItemCaseSensitive(verify, "href");
        if (ok && cJSON_IsString(vhref)) {
            char *vbody =
                str_printf("{\"oid\":\"%s\",\"size\":%llu}", oid, (unsigned long long)size);
            HfCall v = {.what = "LFS verify",
                        .method = "POST",
                        .url = vhref->valuestring,
                        .content_type = LFS_TYPE,
                        .body = vbody,
                        .body_size = strlen(vbody),
                        .auth = true};
            ok = hf_call(h, h->http, &v, &resp, err);
            http_response_free(&resp);
            free(vbody);
        }
        if (!ok)
            error_prefix(err, "upload of hf://%s/%s", h->display, rpath);
    }
    cJSON_Delete(doc);
    free(what);
    return ok;
}

bool hf_lfs_upload(Hf *h, int fd, uint64_t size, const char *oid, const char *rpath, Error *err)
{
    return hf_lfs_send(h, fd, NULL, size, oid, rpath, err);
}

/* --- the write sink ------------------------------------------------------------------------ */

typedef struct HfSink {
    Sink base;
    Hf *h;
    char *rpath;
    uint8_t *mem; /* the bytes while they fit HF_INLINE_MAX */
    size_t len, cap;
    int fd; /* the spool file once they did not, else -1 */
    Hasher *sha;
    uint64_t size;
} HfSink;

static bool hf_sink_spill(HfSink *s, Error *err)
{
    char *tmpl = path_join(s->h->work_dir, ".hfsync-hf-XXXXXX");
    if (!fs_mkdir_p(s->h->work_dir, 0700, err)) {
        free(tmpl);
        return false;
    }
    s->fd = mkostemp(tmpl, O_CLOEXEC);
    if (s->fd < 0) {
        error_sys(err, "cannot create a spool file in '%s' (HFSYNC_WORK_DIR)", s->h->work_dir);
        free(tmpl);
        return false;
    }
    unlink(tmpl); /* gone with the descriptor, whatever happens */
    free(tmpl);
    bool ok = fs_write_all(s->fd, s->mem, s->len) ||
              error_sys(err, "cannot write a spool file in '%s'", s->h->work_dir);
    free(s->mem);
    s->mem = NULL;
    s->len = s->cap = 0;
    return ok;
}

static bool hf_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    HfSink *s = (HfSink *)sink;
    hasher_update(s->sha, data, size);
    s->size += size;
    if (s->fd < 0 && s->len + size > HF_INLINE_MAX && !hf_sink_spill(s, err))
        return false;
    if (s->fd >= 0)
        return fs_write_all(s->fd, data, size) ||
               error_sys(err, "cannot write a spool file in '%s'", s->h->work_dir);
    buf_append((char **)&s->mem, &s->len, &s->cap, data, size);
    return true;
}

static bool hf_sink_finish(Sink *sink, Error *err)
{
    HfSink *s = (HfSink *)sink;
    char hex[HASH_HEX_SIZE];
    hasher_final_hex(s->sha, hex);
    if (!hf_ensure_repo(s->h, err))
        return false;
    if (s->fd < 0 && (s->len == 0 || str_ends_with(s->rpath, ".json"))) {
        char *content = (char *)s->mem;
        s->mem = NULL;
        return hf_stage(s->h, HF_OP_FILE, s->rpath, content, s->len, NULL, err);
    }
    if (!hf_lfs_send(s->h, s->fd, s->mem, s->size, hex, s->rpath, err))
        return false;
    return hf_stage(s->h, HF_OP_LFS, s->rpath, NULL, s->size, hex, err);
}

static void hf_sink_free(Sink *sink)
{
    HfSink *s = (HfSink *)sink;
    if (s->fd >= 0)
        close(s->fd);
    hasher_free(s->sha);
    free(s->mem);
    free(s->rpath);
    free(s);
}

static const SinkOps hf_sink_ops = {hf_sink_write, hf_sink_finish, hf_sink_free};

Sink *hf_write_open(Storage *st, const char *path, Error *err)
{
    (void)err;
    Hf *h = (Hf *)st;
    HfSink *s = x_calloc(1, sizeof(*s));
    s->base.ops = &hf_sink_ops;
    s->h = h;
    s->rpath = hf_repo_path(h, path);
    s->fd = -1;
    s->sha = hasher_new(HASH_SHA256);
    return &s->base;
}
