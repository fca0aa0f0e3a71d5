/*
 * The hf:// backend: a Hugging Face Hub repo (reference/hf-hub-api.md). This file: requests and
 * errors, repo creation, reads through `resolve`, paths-info, tree listing, and the driver.
 * Writes are in hf_lfs.c, commits in hf_commit.c.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "hf.intern.h"

#define HF_INVALID_CREDENTIALS "Invalid credentials in Authorization header"

char *hf_escape(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = x_malloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *hf_repo_path(const Hf *h, const char *path)
{
    return str_printf("%s%s", h->root, path);
}

/* The "error" text of a JSON error body, if any. */
static char *hf_body_error(const HttpResponse *resp)
{
    if (resp->body == NULL || resp->body_size == 0)
        return NULL;
    cJSON *doc = cJSON_ParseWithLength(resp->body, resp->body_size);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (cJSON_IsArray(e))
        e = cJSON_GetArrayItem(e, 0);
    char *text = cJSON_IsString(e) ? x_strdup(e->valuestring) : NULL;
    cJSON_Delete(doc);
    return text;
}

void hf_error(const Hf *h, const char *what, const HttpResponse *resp, Error *err)
{
    const char *code = http_headers_get(&resp->headers, "X-Error-Code");
    const char *msg = http_headers_get(&resp->headers, "X-Error-Message");
    char *body = msg == NULL ? hf_body_error(resp) : NULL;
    const char *text = msg != NULL ? msg : body != NULL ? body : "";
    long st = resp->status;
    bool repo_missing = code != NULL && strcmp(code, "RepoNotFound") == 0;
    ErrorCode ec = ERR_NET;
    if (st == 404)
        ec = ERR_NOT_FOUND;
    else if (st == 401 || st == 403)
        ec = ERR_USAGE;
    else if (st == 412 || st == 409)
        ec = ERR_CONFLICT;
    error_set(err, ec, "%s: HTTP %ld%s%s%s%s%s", what, st, code ? " " : "", code ? code : "",
              *text ? " (" : "", text, *text ? ")" : "");
    err->http_status = (int)st;
    err->retryable = http_status_retryable(st);
    const char *from = h->token_from != NULL ? h->token_from : "HF_TOKEN";
    if (st == 401 && strcmp(text, HF_INVALID_CREDENTIALS) == 0)
        error_hint(err,
                   "the Hub refused the token from %s: it is wrong, expired or revoked; create one "
                   "at https://huggingface.co/settings/tokens and set HF_TOKEN",
                   from);
    else if (st == 401 && h->token == NULL)
        error_hint(err,
                   "no token is set and %s is private or does not exist; set HF_TOKEN to a token "
                   "with access to it",
                   h->display);
    else if (st == 403)
        error_hint(err,
                   "the token from %s has no write access to %s; use a token with the write role "
                   "(or a fine-grained token with write access to this repo)",
                   from, h->display);
    else if (repo_missing)
        error_hint(err,
                   "repo %s does not exist or this token cannot see it; check HFSYNC_REPO and "
                   "the token's access",
                   h->display);
    free(body);
}

bool hf_call(Hf *h, Http *http, const HfCall *c, HttpResponse *resp, Error *err)
{
    HttpAttempt at;
    http_attempt_begin(&at, &h->retry);
    memset(resp, 0, sizeof(*resp));
    for (;;) {
        HttpHeaders hd = {0};
        if (c->auth && h->token != NULL)
            http_headers_add(&hd, "Authorization", "Bearer %s", h->token);
        if (c->content_type != NULL) {
            http_headers_add(&hd, "Content-Type", "%s", c->content_type);
            http_headers_add(&hd, "Accept", "%s", c->content_type);
        }
        HttpRequest req = {.method = c->method,
                           .url = c->url,
                           .headers = &hd,
                           .body = c->body,
                           .body_size = c->body_size,
                           .body_fd = c->body_fd,
                           .body_offset = c->body_offset,
                           .max_body = c->max_body,
                           .follow_redirects = c->follow_redirects};
        http_response_free(resp);
        bool sent = http_request(http, &req, resp, err);
        http_headers_free(&hd);
        if (sent && resp->status >= 200 && resp->status < 300)
            return true;
        if (sent)
            hf_error(h, c->what, resp, err);
        else
            error_prefix(err, "%s", c->what);
        if (c->once || !http_attempt_retry(&at, c->what, sent ? &resp->headers : NULL, err))
            return false;
    }
}

/* GET a JSON document from the API; NULL with err set on failure. */
static cJSON *hf_get_json(Hf *h, const char *what, const char *url, Error *err)
{
    HfCall c = {.what = what, .method = "GET", .url = url, .auth = true, .max_body = 64u << 20};
    HttpResponse resp;
    cJSON *doc = NULL;
    if (hf_call(h, h->http, &c, &resp, err)) {
        doc = cJSON_ParseWithLength(resp.body, resp.body_size);
        if (doc == NULL)
            error_set(err, ERR_NET, "%s: the Hub answered something that is not JSON", what);
    }
    http_response_free(&resp);
    return doc;
}

bool hf_head(Hf *h, char **sha, Error *err)
{
    char *rev = hf_escape(h->rev, false);
    char *url = str_printf("%s/revision/%s", h->api, rev);
    char *what = str_printf("read the head of %s", h->display);
    cJSON *doc = hf_get_json(h, what, url, err);
    if (doc == NULL && err->code == ERR_NOT_FOUND && !h->said_missing) {
        log_info("%s does not exist yet; the first backup creates it", h->display);
        h->said_missing = true;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "sha");
    bool ok = false;
    if (cJSON_IsString(s) && strlen(s->valuestring) >= 5) {
        *sha = x_strdup(s->valuestring);
        ok = true;
    } else if (doc != NULL) {
        error_set(err, ERR_NET, "%s: the answer has no commit sha", what);
    }
    cJSON_Delete(doc);
    free(what);
    free(url);
    free(rev);
    return ok;
}

bool hf_fetch(Hf *h, const char *rev, const char *rpath, size_t max_size, char **data, size_t *size,
              Error *err)
{
    char *erev = hf_escape(rev, false), *epath = hf_escape(rpath, true);
    char *url = str_printf("%s/resolve/%s/%s", h->git, erev, epath);
    char *what = str_printf("download hf://%s/%s", h->display, rpath);
    HfCall c = {.what = what,
                .method = "GET",
                .url = url,
                .auth = true,
                .max_body = max_size,
                .follow_redirects = true};
    HttpResponse resp;
    bool ok = hf_call(h, h->http, &c, &resp, err);
    if (ok) {
        *data = resp.body;
        resp.body = NULL;
        if (size != NULL)
            *size = resp.body_size;
    }
    http_response_free(&resp);
    free(what);
    free(url);
    free(epath);
    free(erev);
    return ok;
}

bool hf_ensure_repo(Hf *h, Error *err)
{
    if (h->repo_ready)
        return true;
    char *what = str_printf("look up %s", h->display);
    HfCall c = {.what = what, .method = "GET", .url = h->api, .auth = true};
    HttpResponse resp;
    bool ok = hf_call(h, h->http, &c, &resp, err);
    http_response_free(&resp);
    free(what);
    if (ok || err->code != ERR_NOT_FOUND) {
        h->repo_ready = ok;
        return ok;
    }
    error_clear(err);
    /* Missing: create it, private unless told otherwise; "already exists" is fine (a race). */
    const char *slash = strchr(h->repo_id, '/');
    cJSON *body = cJSON_CreateObject();
    char *ns = x_strndup(h->repo_id, (size_t)(slash - h->repo_id));
    cJSON_AddStringToObject(body, "name", slash + 1);
    cJSON_AddStringToObject(body, "organization", ns);
    cJSON_AddStringToObject(body, "type", h->repo_type);
    cJSON_AddBoolToObject(body, "private", h->private_repo);
    cJSON_AddStringToObject(body, "visibility", h->private_repo ? "private" : "public");
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    free(ns);
    char *url = str_printf("%s/api/repos/create", h->endpoint);
    what = str_printf("create %s", h->display);
    HfCall cc = {.what = what,
                 .method = "POST",
                 .url = url,
                 .content_type = "application/json",
                 .body = json,
                 .body_size = strlen(json),
                 .auth = true};
    ok = hf_call(h, h->http, &cc, &resp, err);
    if (!ok && resp.status == 409) {
        error_clear(err);
        ok = true;
    }
    if (ok)
        log_info("created %s repo %s (%s)", h->repo_type, h->repo_id,
                 h->private_repo ? "private" : "public");
    http_response_free(&resp);
    free(what);
    free(url);
    free(json);
    h->repo_ready = ok;
    return ok;
}

/* Fill `e` from a tree or paths-info entry. */
static void hf_entry_from_json(const cJSON *item, HfEntry *e)
{
    memset(e, 0, sizeof(*e));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "file") != 0)
        return;
    e->exists = true;
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(item, "oid");
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(item, "lfs");
    e->size = cJSON_IsNumber(size) && size->valuedouble > 0 ? (uint64_t)size->valuedouble : 0;
    if (cJSON_IsString(oid))
        snprintf(e->oid, sizeof(e->oid), "%s", oid->valuestring);
    const cJSON *lfs_oid = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
    const cJSON *lfs_size = cJSON_GetObjectItemCaseSensitive(lfs, "size");
    if (cJSON_IsString(lfs_oid))
        snprintf(e->lfs, sizeof(e->lfs), "%s", lfs_oid->valuestring);
    if (cJSON_IsNumber(lfs_size) && lfs_size->valuedouble > 0)
        e->size = (uint64_t)lfs_size->valuedouble;
}

bool hf_paths_info(Hf *h, const char *rev, const char *const *paths, size_t count, HfEntry *out,
                   Error *err)
{
    memset(out, 0, count * sizeof(*out));
    char *erev = hf_escape(rev, false);
    char *url = str_printf("%s/paths-info/%s", h->api, erev);
    char *what = str_printf("look up files in %s", h->display);
    bool ok = true;
    /* The Hub takes about 1000 paths per request. */
    for (size_t from = 0; ok && from < count; from += 500) {
        size_t n = count - from < 500 ? count - from : 500;
        cJSON *body = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(body, "paths");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(paths[from + i]));
        cJSON_AddFalseToObject(body, "expand");
        char *json = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        HfCall c = {.what = what,
                    .method = "POST",
                    .url = url,
                    .content_type = "application/json",
                    .body = json,
                    .body_size = strlen(json),
                    .auth = true,
                    .max_body = 16u << 20};
        HttpResponse resp;
        ok = hf_call(h, h->http, &c, &resp, err);
        cJSON *doc = ok ? cJSON_ParseWithLength(resp.body, resp.body_size) : NULL;
        if (ok && !cJSON_IsArray(doc))
            ok = error_set(err, ERR_NET, "%s: the answer is not a list", what);
        const cJSON *item;
        const cJSON *list = ok ? doc : NULL;
        cJSON_ArrayForEach(item, list)
        {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(item, "path");
            for (size_t i = 0; cJSON_IsString(p) && i < n; i++)
                if (strcmp(p->valuestring, paths[from + i]) == 0)
                    hf_entry_from_json(item, &out[from + i]);
        }
        cJSON_Delete(doc);
        http_response_free(&resp);
        free(json);
    }
    free(what);
    free(url);
    free(erev);
    return ok;
}

/* --- driver: reads ------------------------------------------------------------------------ */

static bool hf_info(Storage *st, const char *path, StorageInfo *info, Error *err)
{
    Hf *h = (Hf *)st;
    char *rpath = hf_repo_path(h, path);
    const HfOp *op = hf_staged(h, rpath);
    if (op != NULL) {
        info->exists = op->kind != HF_OP_DELETE;
        info->size = info->exists ? op->size : 0;
        free(rpath);
        return true;
    }
    const char *paths[1] = {rpath};
    HfEntry e;
    bool ok = hf_paths_info(h, h->rev, paths, 1, &e, err);
    if (!ok && err->code == ERR_NOT_FOUND) { /* no repo, no object */
        error_clear(err);
        memset(&e, 0, sizeof(e));
        ok = true;
    }
    info->exists = e.exists;
    info->size = e.size;
    free(rpath);
    return ok;
}

/* The folder of a listing prefix: "backups/x." lists "backups" and filters. */
static bool hf_list(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err)
{
    Hf *h = (Hf *)st;
    char *rprefix = hf_repo_path(h, prefix);
    const char *slash = strrchr(rprefix, '/');
    char *folder = slash != NULL ? x_strndup(rprefix, (size_t)(slash - rprefix)) : x_strdup("");
    char *erev = hf_escape(h->rev, false), *efolder = hf_escape(folder, true);
    char *url = str_printf("%s/tree/%s%s%s?recursive=true&expand=false", h->api, erev,
                           *folder ? "/" : "", efolder);
    char *what = str_printf("list hf://%s/%s", h->display, folder);
    size_t root_len = strlen(h->root), want = strlen(rprefix);
    bool ok = true;
    while (url != NULL) {
        HfCall c = {.what = what, .method = "GET", .url = url, .auth = true, .max_body = 64u << 20};
        HttpResponse resp;
        ok = hf_call(h, h->http, &c, &resp, err);
        if (!ok) {
            http_response_free(&resp);
            if (err->code == ERR_NOT_FOUND) { /* no folder (or no repo): nothing to list */
                error_clear(err);
                ok = true;
            }
            break;
        }
        cJSON *doc = cJSON_ParseWithLength(resp.body, resp.body_size);
        if (!cJSON_IsArray(doc)) {
            cJSON_Delete(doc);
            http_response_free(&resp);
            ok = error_set(err, ERR_NET, "%s: the answer is not a list", what);
            break;
        }
        const cJSON *item;
        cJSON_ArrayForEach(item, doc)
        {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(item, "path");
            HfEntry e;
            hf_entry_from_json(item, &e);
            if (e.exists && cJSON_IsString(p) && strncmp(p->valuestring, rprefix, want) == 0 &&
                hf_staged(h, p->valuestring) == NULL)
                fn(p->valuestring + root_len, e.size, ctx);
        }
        cJSON_Delete(doc);
        /* Link: <https://…&cursor=…>; rel="next" */
        free(url);
        url = NULL;
        const char *link = http_headers_get(&resp.headers, "Link");
        const char *next = link != NULL ? strstr(link, "rel=\"next\"") : NULL;
        if (next != NULL) {
            const char *lt = NULL;
            for (const char *q = link; q < next; q++)
                if (*q == '<')
                    lt = q;
            const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
            if (gt != NULL && gt < next)
                url = x_strndup(lt + 1, (size_t)(gt - lt - 1));
        }
        http_response_free(&resp);
    }
    for (size_t i = 0; ok && i < h->op_count; i++) { /* what the open transaction adds */
        const HfOp *op = &h->ops[i];
        if (op->kind != HF_OP_DELETE && strncmp(op->path, rprefix, want) == 0)
            fn(op->path + root_len, op->size, ctx);
    }
    free(url);
    free(what);
    free(efolder);
    free(erev);
    free(folder);
    free(rprefix);
    return ok;
}

typedef struct HfRead {
    Reader base;
    Hf *h;
    char *what;
} HfRead;

static bool hf_read_prepare(void *ctx, const char *method, const char *url, HttpHeaders *hd,
                            Error *err)
{
    (void)method, (void)url, (void)err;
    HfRead *r = ctx;
    if (r->h->token != NULL)
        http_headers_add(hd, "Authorization", "Bearer %s", r->h->token);
    return true;
}

static void hf_read_fail(void *ctx, const HttpResponse *resp, Error *err)
{
    HfRead *r = ctx;
    bool retryable = err->retryable;
    hf_error(r->h, r->what, resp, err);
    err->retryable = retryable;
}

static ssize_t hf_read_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    return reader_read(reader->next, buf, cap, err);
}

static void hf_read_free(Reader *reader)
{
    HfRead *r = (HfRead *)reader;
    reader_free(reader->next);
    free(r->what);
    free(r);
}

static const ReaderOps hf_read_ops = {hf_read_read, hf_read_free};

/* An object the open transaction wrote (small JSON is kept until the commit) or deleted. */
static Reader *hf_read_staged(Hf *h, const HfOp *op, uint64_t offset, Error *err)
{
    if (op->kind == HF_OP_FILE && offset <= op->size)
        return buffer_reader_new(op->content + offset, op->size - offset, 0);
    if (op->kind == HF_OP_DELETE)
        error_set(err, ERR_NOT_FOUND, "hf://%s/%s: deleted by the commit being prepared",
                  h->display, op->path);
    else
        error_set(err, ERR_FAIL, "internal: hf://%s/%s cannot be read before it is committed",
                  h->display, op->path);
    return NULL;
}

/* Downloads go through `resolve`, which redirects LFS files to their storage; a broken transfer
 * resumes with Range (http_get_reader). */
static Reader *hf_read_open(Storage *st, const char *path, uint64_t offset, Error *err)
{
    Hf *h = (Hf *)st;
    char *rpath = hf_repo_path(h, path);
    const HfOp *op = hf_staged(h, rpath);
    if (op != NULL) {
        Reader *staged = hf_read_staged(h, op, offset, err);
        free(rpath);
        return staged;
    }
    HfRead *r = x_calloc(1, sizeof(*r));
    r->base.ops = &hf_read_ops;
    r->h = h;
    r->what = str_printf("download hf://%s/%s", h->display, rpath);
    char *erev = hf_escape(h->rev, false), *epath = hf_escape(rpath, true);
    char *url = str_printf("%s/resolve/%s/%s", h->git, erev, epath);
    r->base.next =
        http_get_reader(&h->hs, url, offset, &h->retry, hf_read_prepare, hf_read_fail, r, err);
    free(url);
    free(epath);
    free(erev);
    free(rpath);
    if (r->base.next == NULL) {
        free(r->what);
        free(r);
        return NULL;
    }
    return &r->base;
}

/* The tag of an object: the head commit it was read at and the sha256 of its content ("none"
 * when it did not exist), so a conditional write can tell an unrelated commit from a change. */
static bool hf_get_tagged(Storage *st, const char *path, size_t max_size, char **data, size_t *size,
                          char **tag, Error *err)
{
    Hf *h = (Hf *)st;
    char *head = NULL;
    if (!hf_head(h, &head, err))
        return false;
    char *rpath = hf_repo_path(h, path);
    size_t n = 0;
    const HfOp *op = hf_staged(h, rpath);
    bool ok;
    if (op == NULL) {
        ok = hf_fetch(h, head, rpath, max_size, data, &n, err);
    } else if (op->kind == HF_OP_FILE && op->size <= max_size) {
        *data = x_malloc(op->size + 1);
        memcpy(*data, op->content, op->size);
        (*data)[op->size] = '\0';
        n = op->size;
        ok = true;
    } else {
        Reader *r = hf_read_staged(h, op, 0, err); /* says why it cannot be read */
        ok = r != NULL &&
             error_set(err, ERR_CORRUPT, "'%s' is larger than %zu bytes", rpath, max_size);
        reader_free(r);
    }
    if (ok) {
        char hex[HASH_HEX_SIZE];
        hash_buffer_hex(HASH_SHA256, *data, n, hex);
        *tag = str_printf("%s:%s", head, hex);
        if (size != NULL)
            *size = n;
    } else if (err->code == ERR_NOT_FOUND) {
        *tag = NULL; /* missing: a later put_if(NULL) checks it is still missing at its head */
    }
    free(rpath);
    free(head);
    return ok;
}

static bool hf_remove(Storage *st, const char *path, Error *err)
{
    const char *paths[1] = {path};
    return hf_remove_many(st, paths, 1, err);
}

static char *hf_describe(Storage *st, const char *path)
{
    Hf *h = (Hf *)st;
    return str_printf("hf://%s/%s%s", h->display, h->root, path);
}

static void hf_free(Storage *st)
{
    Hf *h = (Hf *)st;
    hf_ops_clear(h);
    free(h->ops);
    http_free(h->http);
    free(h->endpoint);
    free(h->repo_type);
    free(h->repo_id);
    free(h->display);
    free(h->root);
    free(h->api);
    free(h->git);
    free(h->rev);
    free(h->token);
    free(h->token_from);
    free(h->work_dir);
    free(h->cache_dir);
    free(h->ca_bundle);
    free(h->parent);
    free(h->own_base);
    free(h->own_head);
    free(h->cond_path);
    free(h->cond_id);
    free(h);
}

static const StorageDriver hf_driver = {
    .scheme = "hf",
    .write_open = hf_write_open,
    .read_open = hf_read_open,
    .info = hf_info,
    .list = hf_list,
    .remove = hf_remove,
    .remove_many = hf_remove_many,
    .get_tagged = hf_get_tagged,
    .put_if = hf_put_if,
    .begin = hf_begin,
    .commit = hf_commit,
    .abort = hf_abort,
    .reclaim = hf_reclaim,
    .describe = hf_describe,
    .free = hf_free,
};

void storage_hf_set_retry(Storage *st, const HttpRetry *policy)
{
    if (st->driver == &hf_driver)
        ((Hf *)st)->retry = *policy;
}

Storage *storage_hf_open(const Config *cfg, const Target *target, Error *err)
{
    Hf *h = x_calloc(1, sizeof(*h));
    h->base.driver = &hf_driver;
    const char *endpoint =
        cfg != NULL && cfg->hf.endpoint != NULL ? cfg->hf.endpoint : "https://huggingface.co";
    h->endpoint = x_strdup(endpoint);
    h->repo_type = x_strdup(target->repo_type != NULL ? target->repo_type : "dataset");
    h->repo_id = x_strdup(target->repo_id);
    const char *url_kind = strcmp(h->repo_type, "dataset") == 0 ? "datasets/"
                           : strcmp(h->repo_type, "space") == 0 ? "spaces/"
                                                                : "";
    h->display = str_printf("%s%s", url_kind, h->repo_id);
    h->root =
        target->path != NULL && *target->path ? str_printf("%s/", target->path) : x_strdup("");
    h->api = str_printf("%s/api/%ss/%s", h->endpoint, h->repo_type, h->repo_id);
    h->git = str_printf("%s/%s", h->endpoint, h->display);
    h->rev = x_strdup("main");
    if (cfg != NULL && cfg->hf.token != NULL) {
        h->token = x_strdup(cfg->hf.token);
        h->token_from = x_strdup(cfg->hf.token_from != NULL ? cfg->hf.token_from : "HF_TOKEN");
    }
    h->private_repo = cfg != NULL ? cfg->hf.private_repo : true;
    h->squash = cfg != NULL ? cfg->hf.squash : HF_SQUASH_AUTO;
    h->work_dir = x_strdup(cfg != NULL && cfg->work_dir != NULL ? cfg->work_dir : "/tmp");
    h->cache_dir = cfg != NULL && cfg->cache_dir != NULL ? x_strdup(cfg->cache_dir) : NULL;
    h->ca_bundle = cfg != NULL && cfg->ca_bundle != NULL ? x_strdup(cfg->ca_bundle) : NULL;
    h->hs.ca_bundle = h->ca_bundle;
    h->hs.stall_timeout_sec = cfg != NULL ? (long)cfg->retry.stall_sec : 0;
    h->retry = (HttpRetry)HTTP_RETRY_DEFAULT;
    if (cfg != NULL && cfg->retry.tries > 0)
        h->retry = (HttpRetry){cfg->retry.tries, cfg->retry.base_ms, cfg->retry.cap_ms,
                               cfg->retry.budget_ms};
    h->http = http_new(&h->hs, err);
    if (h->http == NULL) {
        hf_free(&h->base);
        return NULL;
    }
    log_debug("Hub: %s, %s repo %s, folder '%s', %s", h->endpoint, h->repo_type, h->repo_id,
              h->root, h->token != NULL ? "with a token" : "anonymous");
    return &h->base;
}
