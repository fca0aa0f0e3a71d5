/*
 * s3:// multipart uploads left unfinished (storage.h, storage_list_uploads): a writer killed in
 * the middle of a volume leaves its parts stored, and billed, until the upload is aborted.
 * ListMultipartUploads pages through them (1000 a page, key-marker and upload-id-marker;
 * reference/s3-api.md §2.6) and AbortMultipartUpload deletes one. Services that do not list
 * uploads (s3rver answers 501 NotImplemented) report nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "s3.intern.h"

/* Whether an error answer says the service has no ListMultipartUploads. */
static bool s3_uploads_unsupported(const HttpResponse *resp)
{
    if (resp->status == 501 || resp->status == 405)
        return true;
    const char *b = resp->body != NULL ? resp->body : "";
    char *code = s3_xml_get(b, b + resp->body_size, "Code", NULL);
    bool no = code != NULL &&
              (strcmp(code, "NotImplemented") == 0 || strcmp(code, "MethodNotAllowed") == 0);
    free(code);
    return no;
}

/* Report the <Upload> entries of one page. */
static void s3_uploads_page(const S3 *s, const char *p, const char *end, StorageUploadFn fn,
                            void *ctx)
{
    size_t root_len = strlen(s->root);
    const char *from, *to;
    while (s3_xml_block(p, end, "Upload", &from, &to)) {
        char *key = s3_xml_get(from, to, "Key", NULL);
        char *id = s3_xml_get(from, to, "UploadId", NULL);
        char *initiated = s3_xml_get(from, to, "Initiated", NULL);
        int64_t started = -1;
        if (initiated != NULL && !time_parse_iso8601(initiated, &started))
            started = -1;
        if (key != NULL && id != NULL && *id && strlen(key) > root_len &&
            strncmp(key, s->root, root_len) == 0) {
            StorageUpload up = {.path = key + root_len, .id = id, .started = started};
            fn(&up, ctx);
        }
        free(key);
        free(id);
        free(initiated);
        p = to;
    }
}

bool s3_list_uploads(Storage *st, const char *prefix, StorageUploadFn fn, void *ctx,
                     bool *supported, Error *err)
{
    S3 *s = (S3 *)st;
    char *key_prefix = s3_key(s, prefix);
    char *key_marker = NULL, *id_marker = NULL;
    bool ok = true;
    *supported = true;
    for (;;) {
        SigV4Param q[4] = {{"uploads", NULL},
                           {"prefix", key_prefix},
                           {"key-marker", key_marker},
                           {"upload-id-marker", id_marker}};
        S3Call c = {.op = "ListMultipartUploads",
                    .method = "GET",
                    .query = q,
                    .query_count = key_marker != NULL ? 4 : 2,
                    .max_body = 16u << 20};
        HttpResponse resp;
        ok = s3_call(s, s->http, &c, &resp, err);
        if (!ok) {
            if (resp.status != 0 && s3_uploads_unsupported(&resp)) {
                log_debug("%s", err->msg);
                error_clear(err);
                *supported = false;
                ok = true;
            }
            http_response_free(&resp);
            break;
        }
        const char *end = resp.body + resp.body_size;
        s3_uploads_page(s, resp.body, end, fn, ctx);
        char *trunc = s3_xml_get(resp.body, end, "IsTruncated", NULL);
        bool more = trunc != NULL && strcmp(trunc, "true") == 0;
        free(trunc);
        char *next_key = more ? s3_xml_get(resp.body, end, "NextKeyMarker", NULL) : NULL;
        char *next_id = more ? s3_xml_get(resp.body, end, "NextUploadIdMarker", NULL) : NULL;
        http_response_free(&resp);
        if (more && (next_key == NULL || *next_key == '\0' ||
                     (key_marker != NULL && strcmp(next_key, key_marker) == 0 &&
                      strcmp(next_id != NULL ? next_id : "", id_marker ? id_marker : "") == 0)))
            ok = error_set(err, ERR_NET,
                           "S3 ListMultipartUploads s3://%s/%s: a truncated listing without a "
                           "new NextKeyMarker",
                           s->bucket, key_prefix);
        free(key_marker);
        free(id_marker);
        key_marker = next_key;
        id_marker = next_id != NULL ? next_id : x_strdup("");
        if (!ok || !more)
            break;
    }
    free(key_marker);
    free(id_marker);
    free(key_prefix);
    return ok;
}

bool s3_abort_upload(Storage *st, const char *path, const char *upload_id, Error *err)
{
    S3 *s = (S3 *)st;
    char *key = s3_key(s, path);
    SigV4Param q[1] = {{"uploadId", upload_id}};
    S3Call c = {
        .op = "AbortMultipartUpload", .method = "DELETE", .key = key, .query = q, .query_count = 1};
    HttpResponse resp;
    bool ok = s3_call(s, s->http, &c, &resp, err);
    if (!ok && resp.status == 404) { /* NoSuchUpload: already aborted or completed */
        error_clear(err);
        ok = true;
    }
    http_response_free(&resp);
    free(key);
    return ok;
}
