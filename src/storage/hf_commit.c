/*
 * Commits on the Hub (reference/hf-hub-api.md §6, §8): staged operations, one NDJSON commit
 * made over a known parent, and super-squash.
 *
 * Every commit names its parent (`parentCommit`), so a commit is never made over changes it did
 * not plan for. When the branch moved (412), the conditional write's object is read again at the
 * new head: unchanged means the move was unrelated and the commit is rebased onto it; changed
 * means another writer got there first (ERR_CONFLICT). A commit whose outcome is unknown (the
 * reply was lost, a gateway error) is never simply sent again: the head is read, and if it moved,
 * the repo is checked for this commit's changes before anything is repeated, so a lost reply
 * never makes a second commit.
 */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "hf.intern.h"

void hf_ops_clear(Hf *h)
{
    for (size_t i = 0; i < h->op_count; i++) {
        free(h->ops[i].path);
        free(h->ops[i].content);
    }
    h->op_count = 0;
    free(h->parent);
    free(h->cond_path);
    free(h->cond_id);
    h->parent = h->cond_path = h->cond_id = NULL;
}

const HfOp *hf_staged(const Hf *h, const char *rpath)
{
    for (size_t i = 0; i < h->op_count; i++)
        if (strcmp(h->ops[i].path, rpath) == 0)
            return &h->ops[i];
    return NULL;
}

/* The git blob sha1 of `size` bytes: what the Hub reports as the oid of a regular file. */
static void hf_git_oid(const char *data, size_t size, char out[48])
{
    char head[32];
    int n = snprintf(head, sizeof(head), "blob %zu", size);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, head, (size_t)n + 1); /* with the NUL */
    EVP_DigestUpdate(ctx, data, size);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    hex_encode(md, len, out);
}

static bool hf_send(Hf *h, const char *summary, Error *err);

bool hf_stage(Hf *h, HfOpKind kind, const char *rpath, char *content, size_t size,
              const char *sha256, Error *err)
{
    HfOp *op = NULL;
    for (size_t i = 0; i < h->op_count; i++)
        if (strcmp(h->ops[i].path, rpath) == 0) {
            op = &h->ops[i];
            free(op->content);
            free(op->path);
            break;
        }
    if (op == NULL) {
        if (h->op_count == h->op_cap) {
            h->op_cap = h->op_cap ? h->op_cap * 2 : 16;
            h->ops = x_realloc(h->ops, h->op_cap * sizeof(*h->ops));
        }
        op = &h->ops[h->op_count++];
    }
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->path = x_strdup(rpath);
    op->content = content;
    op->size = size;
    if (sha256 != NULL)
        snprintf(op->sha256, sizeof(op->sha256), "%s", sha256);
    if (h->in_tx)
        return true;
    char *summary = str_printf("hfsync: %s %s", kind == HF_OP_DELETE ? "delete" : "write", rpath);
    bool ok = hf_send(h, summary, err);
    free(summary);
    hf_ops_clear(h);
    return ok;
}

bool hf_begin(Storage *st, Error *err)
{
    Hf *h = (Hf *)st;
    hf_ops_clear(h);
    /* A repo that cannot be created or written is found out before any work is done. */
    if (!hf_ensure_repo(h, err))
        return false;
    h->in_tx = true;
    return true;
}

void hf_abort(Storage *st)
{
    Hf *h = (Hf *)st;
    if (h->in_tx && h->op_count > 0)
        log_debug("Hub: %zu staged change%s dropped", h->op_count, h->op_count == 1 ? "" : "s");
    hf_ops_clear(h);
    h->in_tx = false;
}

bool hf_commit(Storage *st, const char *summary, Error *err)
{
    Hf *h = (Hf *)st;
    h->in_tx = false;
    bool ok = hf_send(h, summary, err);
    hf_ops_clear(h);
    return ok;
}

bool hf_put_if(Storage *st, const char *path, const void *data, size_t size, const char *tag,
               bool *unsupported, Error *err)
{
    Hf *h = (Hf *)st;
    *unsupported = false;
    free(h->parent);
    free(h->cond_path);
    free(h->cond_id);
    h->parent = h->cond_path = h->cond_id = NULL;
    h->cond_path = hf_repo_path(h, path);
    const char *colon = tag != NULL ? strchr(tag, ':') : NULL;
    if (tag != NULL && colon == NULL)
        return error_set(err, ERR_FAIL, "internal: '%s' is not a Hub version tag", tag);
    if (tag != NULL) {
        h->parent = x_strndup(tag, (size_t)(colon - tag));
        if (h->own_base != NULL && strcmp(h->parent, h->own_base) == 0) {
            free(h->parent); /* only this writer's own commits came since */
            h->parent = x_strdup(h->own_head);
        }
        h->cond_id = x_strdup(colon + 1);
    } else {
        h->cond_id = x_strdup("none"); /* the parent is the head when the commit is made */
    }
    char *copy = x_malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *rpath = hf_repo_path(h, path);
    bool ok = hf_stage(h, HF_OP_FILE, rpath, copy, size, NULL, err);
    free(rpath);
    return ok;
}

bool hf_remove_many(Storage *st, const char *const *paths, size_t count, Error *err)
{
    Hf *h = (Hf *)st;
    bool was = h->in_tx;
    h->in_tx = true; /* one commit for them all */
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        char *rpath = hf_repo_path(h, paths[i]);
        ok = hf_stage(h, HF_OP_DELETE, rpath, NULL, 0, NULL, err);
        free(rpath);
    }
    h->in_tx = was;
    if (!ok || was)
        return ok;
    ok = hf_send(h, count == 1 ? "hfsync: delete 1 file" : "hfsync: delete files", err);
    hf_ops_clear(h);
    return ok;
}

/* Whether the content of the conditional write's object at `head` is still what was read. */
static bool hf_cond_holds(Hf *h, const char *head, bool *holds, Error *err)
{
    *holds = true;
    if (h->cond_path == NULL)
        return true;
    char *data = NULL;
    size_t size = 0;
    char now[HASH_HEX_SIZE] = "none";
    if (hf_fetch(h, head, h->cond_path, 1u << 20, &data, &size, err)) {
        hash_buffer_hex(HASH_SHA256, data, size, now);
        free(data);
    } else if (err->code == ERR_NOT_FOUND) {
        error_clear(err);
    } else {
        return false;
    }
    *holds = strcmp(now, h->cond_id) == 0;
    return true;
}

/* Drop deletions of files that do not exist at `rev` (the Hub refuses them) and note whether
 * the commit deletes data the history keeps. */
static bool hf_check_deletes(Hf *h, const char *rev, Error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < h->op_count; i++)
        n += h->ops[i].kind == HF_OP_DELETE;
    if (n == 0)
        return true;
    const char **paths = x_calloc(n, sizeof(*paths));
    HfOp **which = x_calloc(n, sizeof(*which));
    size_t k = 0;
    for (size_t i = 0; i < h->op_count; i++)
        if (h->ops[i].kind == HF_OP_DELETE) {
            which[k] = &h->ops[i];
            paths[k++] = h->ops[i].path;
        }
    HfEntry *e = x_calloc(n, sizeof(*e));
    bool ok = hf_paths_info(h, rev, paths, n, e, err);
    size_t keep = 0;
    for (size_t i = 0; ok && i < h->op_count; i++) {
        HfOp *op = &h->ops[i];
        bool drop = false;
        for (size_t j = 0; j < n; j++)
            if (which[j] == op && !e[j].exists)
                drop = true;
        if (drop) {
            free(op->path);
            free(op->content);
            continue;
        }
        h->ops[keep++] = *op;
    }
    if (ok)
        h->op_count = keep;
    free(e);
    free(which);
    free(paths);
    return ok;
}

/* Whether the repo at `head` holds every staged change (a commit whose reply was lost). */
static bool hf_landed(Hf *h, const char *head, bool *landed, Error *err)
{
    *landed = false;
    const char **paths = x_calloc(h->op_count + 1, sizeof(*paths));
    for (size_t i = 0; i < h->op_count; i++)
        paths[i] = h->ops[i].path;
    HfEntry *e = x_calloc(h->op_count + 1, sizeof(*e));
    bool ok = hf_paths_info(h, head, paths, h->op_count, e, err);
    bool all = ok;
    for (size_t i = 0; all && i < h->op_count; i++) {
        const HfOp *op = &h->ops[i];
        if (op->kind == HF_OP_DELETE) {
            all = !e[i].exists;
        } else if (op->kind == HF_OP_LFS) {
            all = e[i].exists && strcmp(e[i].lfs, op->sha256) == 0;
        } else {
            char oid[48];
            hf_git_oid(op->content != NULL ? op->content : "", op->size, oid);
            all = e[i].exists && (strcmp(e[i].oid, oid) == 0 || *e[i].lfs != '\0');
            if (all && *e[i].lfs != '\0') { /* stored as LFS after all: compare its sha256 */
                char hex[HASH_HEX_SIZE];
                hash_buffer_hex(HASH_SHA256, op->content != NULL ? op->content : "", op->size, hex);
                all = strcmp(e[i].lfs, hex) == 0;
            }
        }
    }
    *landed = all;
    free(e);
    free(paths);
    return ok;
}

static char *hf_ndjson(const Hf *h, const char *summary, const char *parent)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "key", "header");
    cJSON *v = cJSON_AddObjectToObject(line, "value");
    cJSON_AddStringToObject(v, "summary", summary);
    cJSON_AddStringToObject(v, "description", "");
    cJSON_AddStringToObject(v, "parentCommit", parent);
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    buf_append(&out, &len, &cap, text, strlen(text));
    free(text);
    for (size_t i = 0; i < h->op_count; i++) {
        const HfOp *op = &h->ops[i];
        line = cJSON_CreateObject();
        v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "path", op->path);
        if (op->kind == HF_OP_DELETE) {
            cJSON_AddStringToObject(line, "key", "deletedFile");
        } else if (op->kind == HF_OP_LFS) {
            cJSON_AddStringToObject(line, "key", "lfsFile");
            cJSON_AddStringToObject(v, "algo", "sha256");
            cJSON_AddStringToObject(v, "oid", op->sha256);
            cJSON_AddNumberToObject(v, "size", (double)op->size);
        } else {
            cJSON_AddStringToObject(line, "key", "file");
            char *b64 = x_malloc(4 * ((op->size + 2) / 3) + 1);
            http_base64((const uint8_t *)(op->content != NULL ? op->content : ""), op->size, b64);
            cJSON_AddStringToObject(v, "content", b64);
            cJSON_AddStringToObject(v, "encoding", "base64");
            free(b64);
        }
        cJSON_AddItemToObject(line, "value", v);
        text = cJSON_PrintUnformatted(line);
        cJSON_Delete(line);
        buf_append(&out, &len, &cap, "\n", 1);
        buf_append(&out, &len, &cap, text, strlen(text));
        free(text);
    }
    buf_append(&out, &len, &cap, "\n", 1);
    return out;
}

/* After a 412 or a commit whose effect is unknown: decide what the new head means. Returns
 * false with err set when the commit cannot go on; else *done says whether it already landed
 * (otherwise h->parent is the head to retry over). */
static bool hf_after_move(Hf *h, bool maybe_landed, bool *done, Error *err)
{
    *done = false;
    char *head = NULL;
    if (!hf_head(h, &head, err))
        return false;
    if (strcmp(head, h->parent) == 0) { /* nothing landed: the same commit again */
        free(head);
        return true;
    }
    bool landed = false;
    if (maybe_landed && !hf_landed(h, head, &landed, err)) {
        free(head);
        return false;
    }
    if (landed) {
        log_warn("Hub: the reply to a commit was lost, but the commit landed (%.12s)", head);
        free(head);
        *done = true;
        return true;
    }
    bool holds = true;
    if (!hf_cond_holds(h, head, &holds, err)) {
        free(head);
        return false;
    }
    if (!holds) {
        error_set(err, ERR_CONFLICT,
                  "hf://%s/%s changed since it was read: another writer committed to %s",
                  h->display, h->cond_path, h->display);
        free(head);
        return false;
    }
    log_info("Hub: %s moved to %.12s meanwhile (an unrelated commit); committing over it", h->rev,
             head);
    free(h->parent);
    h->parent = head;
    return hf_check_deletes(h, h->parent, err);
}

/* A commit made over h->parent landed as `oid` (NULL: unknown). */
static void hf_own_commit(Hf *h, const char *oid)
{
    if (oid == NULL || h->parent == NULL) {
        free(h->own_base);
        free(h->own_head);
        h->own_base = h->own_head = NULL;
        return;
    }
    if (h->own_head == NULL || strcmp(h->parent, h->own_head) != 0) {
        free(h->own_base); /* another writer's commit came between: a new run of our own */
        h->own_base = x_strdup(h->parent);
    }
    free(h->own_head);
    h->own_head = x_strdup(oid);
}

static bool hf_send(Hf *h, const char *summary, Error *err)
{
    if (h->op_count == 0)
        return true;
    bool only_deletes = true;
    for (size_t i = 0; i < h->op_count; i++)
        only_deletes &= h->ops[i].kind == HF_OP_DELETE;
    if (only_deletes && h->parent == NULL && !hf_head(h, &h->parent, err)) {
        if (err->code != ERR_NOT_FOUND)
            return false;
        error_clear(err); /* no repo: nothing to delete */
        return true;
    }
    if (!hf_ensure_repo(h, err))
        return false;
    if (h->parent == NULL && !hf_head(h, &h->parent, err))
        return false;
    if (h->cond_path != NULL && strcmp(h->cond_id, "none") == 0) {
        /* "only if missing": check at the parent; the parent check covers the rest */
        bool holds = true;
        if (!hf_cond_holds(h, h->parent, &holds, err))
            return false;
        if (!holds)
            return error_set(err, ERR_CONFLICT, "hf://%s/%s exists: another writer committed to %s",
                             h->display, h->cond_path, h->display);
    }
    if (!hf_check_deletes(h, h->parent, err))
        return false;
    bool deletes = false;
    for (size_t i = 0; i < h->op_count; i++)
        deletes |= h->ops[i].kind == HF_OP_DELETE;
    char *erev = hf_escape(h->rev, false);
    char *url = str_printf("%s/commit/%s", h->api, erev);
    char *what = str_printf("commit to %s", h->display);
    HttpAttempt at;
    http_attempt_begin(&at, &h->retry);
    bool ok = false;
    for (int rebases = 0; h->op_count > 0;) {
        char *body = hf_ndjson(h, summary, h->parent);
        HfCall c = {.what = what,
                    .method = "POST",
                    .url = url,
                    .content_type = "application/x-ndjson",
                    .body = body,
                    .body_size = strlen(body),
                    .auth = true,
                    .once = true};
        HttpResponse resp;
        bool sent_ok = hf_call(h, h->http, &c, &resp, err);
        free(body);
        if (sent_ok) {
            cJSON *doc = cJSON_ParseWithLength(resp.body, resp.body_size);
            const cJSON *oid = cJSON_GetObjectItemCaseSensitive(doc, "commitOid");
            log_debug("Hub: commit %.12s to %s: %s (%zu change%s)",
                      cJSON_IsString(oid) ? oid->valuestring : "?", h->display, summary,
                      h->op_count, h->op_count == 1 ? "" : "s");
            hf_own_commit(h, cJSON_IsString(oid) ? oid->valuestring : NULL);
            cJSON_Delete(doc);
            http_response_free(&resp);
            ok = true;
            break;
        }
        bool answered = resp.status != 0;
        bool moved = resp.status == 412;
        bool unknown = !answered || resp.status == 408 || resp.status == 429 || resp.status >= 500;
        HttpHeaders hd = resp.headers;
        resp.headers = (HttpHeaders){0};
        http_response_free(&resp);
        if (!moved && !unknown) {
            http_headers_free(&hd);
            break;
        }
        if (unknown) {
            err->retryable = true;
            bool again = http_attempt_retry(&at, what, answered ? &hd : NULL, err);
            http_headers_free(&hd);
            if (!again)
                break;
        } else {
            http_headers_free(&hd);
            if (++rebases > HF_REBASE_MAX)
                break;
        }
        error_clear(err);
        bool done = false;
        if (!hf_after_move(h, true, &done, err))
            break;
        if (done) {
            ok = true;
            break;
        }
    }
    if (!ok && h->op_count == 0 && err->code == ERR_NONE)
        ok = true; /* a rebase found nothing left to change */
    if (ok && deletes)
        h->reclaimable = true;
    if (!ok && err->code == ERR_NONE)
        error_set(err, ERR_CONFLICT, "%s: the branch kept moving; try again later", what);
    free(what);
    free(url);
    free(erev);
    return ok;
}

/* --- super-squash ------------------------------------------------------------------------ */

static char *hf_squash_stamp(const Hf *h)
{
    if (h->cache_dir == NULL)
        return NULL;
    char hex[HASH_HEX_SIZE];
    char *id = str_printf("%s %s %s", h->endpoint, h->display, h->root);
    hash_buffer_hex(HASH_SHA256, id, strlen(id), hex);
    free(id);
    char name[64];
    snprintf(name, sizeof(name), "hf-squash-%.16s", hex);
    return path_join(h->cache_dir, name);
}

bool hf_reclaim(Storage *st, const char *reason, Error *err)
{
    Hf *h = (Hf *)st;
    if (h->squash == HF_SQUASH_NEVER || !h->reclaimable)
        return true;
    char *stamp = hf_squash_stamp(h);
    int64_t now = time_now_ns() / 1000000000;
    if (h->squash == HF_SQUASH_AUTO && stamp != NULL) {
        char *data = NULL;
        Error e = {0};
        if (fs_read_file(stamp, 64, &data, NULL, &e)) {
            long long last = atoll(data);
            free(data);
            if (now - last < 86400) {
                log_info("Hub: not squashing %s's history (%s): last squashed %lld min ago, at "
                         "most once a day with HFSYNC_HF_SQUASH=auto",
                         h->display, reason, (now - last) / 60);
                free(stamp);
                return true;
            }
        }
    }
    log_info("Hub: squashing the history of %s (%s): deleted files keep using storage until no "
             "commit references them",
             h->display, reason);
    char *erev = hf_escape(h->rev, false);
    char *url = str_printf("%s/super-squash/%s", h->api, erev);
    char *what = str_printf("super-squash %s", h->display);
    const char *body = "{\"message\":\"hfsync: squash history (old backups pruned)\"}";
    HfCall c = {.what = what,
                .method = "POST",
                .url = url,
                .content_type = "application/json",
                .body = body,
                .body_size = strlen(body),
                .auth = true};
    HttpResponse resp;
    bool ok = hf_call(h, h->http, &c, &resp, err);
    http_response_free(&resp);
    if (ok) {
        h->reclaimable = false;
        if (stamp != NULL) {
            char text[32];
            int n = snprintf(text, sizeof(text), "%lld\n", (long long)now);
            Error e = {0};
            if (!fs_mkdir_p(h->cache_dir, 0700, &e) || !fs_write_atomic(stamp, text, (size_t)n, &e))
                log_warn("%s", e.msg);
        }
    }
    free(what);
    free(url);
    free(erev);
    free(stamp);
    return ok;
}
