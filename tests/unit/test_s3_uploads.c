/*
 * Unfinished multipart uploads on s3:// (src/storage/s3_uploads.c) against the scripted HTTP
 * server: ListMultipartUploads paged with key-marker and upload-id-marker (reference/s3-api.md
 * §2.6), paths relative to the target root, the start time parsed; a service without the call
 * (501 NotImplemented) reports nothing and no error; AbortMultipartUpload, where an upload that is
 * already gone is not an error. Signatures are checked in test_s3.c; here the exact requests are.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/config.h"
#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/storage.h"
#include "hfsync/util.h"
#include "storage/storage.intern.h"
#include "support/scripted_http.h"

#define BUCKET "test-bucket"
#define ROOT "team/host1"
#define PFX_Q "prefix=team%2Fhost1%2Fbackups%2F"

typedef struct Fx {
    ScriptedHttp *srv;
    Config cfg;
    Storage *st;
} Fx;

static void fx_start(Fx *fx, const ScriptedExchange *ex, size_t count, int tries)
{
    memset(fx, 0, sizeof(*fx));
    fx->srv = scripted_http_start(ex, count);
    assert_non_null(fx->srv);
    Config *c = &fx->cfg;
    c->s3.access_key = x_strdup("AKIDTEST0EXAMPLE0KEY");
    c->s3.secret_key = x_strdup("wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLE=KEY");
    c->s3.region = x_strdup("us-east-1");
    c->s3.endpoint = x_strdup(scripted_http_url(fx->srv));
    c->s3.path_style = 1;
    Error err = {0};
    assert_true(target_parse("s3://" BUCKET "/" ROOT, &c->target, &err));
    fx->st = storage_open(c, &c->target, &err);
    assert_non_null(fx->st);
    HttpRetry fast = {.tries = tries, .base_ms = 1, .cap_ms = 4, .budget_ms = 30000};
    storage_s3_set_retry(fx->st, &fast);
}

static void fx_done(Fx *fx)
{
    storage_free(fx->st);
    char *msg = NULL;
    bool ok = scripted_http_finish(fx->srv, &msg);
    if (!ok)
        print_error("script not followed:\n%s\n", msg);
    free(msg);
    assert_true(ok);
    scripted_http_free(fx->srv);
    config_free(&fx->cfg);
}

typedef struct Seen {
    char *path[8];
    char *id[8];
    int64_t started[8];
    size_t count;
} Seen;

static void on_upload(const StorageUpload *up, void *ctx)
{
    Seen *s = ctx;
    assert_true(s->count < 8);
    s->path[s->count] = x_strdup(up->path);
    s->id[s->count] = x_strdup(up->id);
    s->started[s->count++] = up->started;
}

static void seen_free(Seen *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->path[i]);
        free(s->id[i]);
    }
}

static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListMultipartUploadsResult><Bucket>" BUCKET "</Bucket><KeyMarker></KeyMarker>"
    "<UploadIdMarker></UploadIdMarker><NextKeyMarker>" ROOT "/backups/b &amp; c.vol-0001.tar.zst"
    "</NextKeyMarker><NextUploadIdMarker>id/2+</NextUploadIdMarker><MaxUploads>2</MaxUploads>"
    "<IsTruncated>true</IsTruncated>"
    "<Upload><Key>" ROOT "/backups/a.vol-0001.tar.zst</Key><UploadId>id/1</UploadId>"
    "<Initiator><ID>x</ID></Initiator><StorageClass>STANDARD</StorageClass>"
    "<Initiated>2026-11-20T10:00:00.000Z</Initiated></Upload>"
    "<Upload><Key>" ROOT "/backups/b &amp; c.vol-0001.tar.zst</Key><UploadId>id/2+</UploadId>"
    "<Initiated>2026-11-21T09:30:15Z</Initiated></Upload>"
    "</ListMultipartUploadsResult>";

static const char page2[] =
    "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
    "<Upload><Key>" ROOT "/backups/d.manifest.zst</Key><UploadId>id3</UploadId></Upload>"
    "</ListMultipartUploadsResult>";

static void test_list_two_pages(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = "/" BUCKET "?" PFX_Q "&uploads=",
         .reply = {.status = 200, .body = page1}},
        /* The markers of page 1, encoded and sorted with the rest (SigV4 canonical query). */
        {.method = "GET",
         .target =
             "/" BUCKET "?key-marker=team%2Fhost1%2Fbackups%2Fb%20%26%20c.vol-0001.tar.zst&" PFX_Q
             "&upload-id-marker=id%2F2%2B&uploads=",
         .reply = {.status = 200, .body = page2}},
    };
    Fx fx;
    fx_start(&fx, ex, 2, 3);
    Seen s = {0};
    bool supported = false;
    Error err = {0};
    bool ok = storage_list_uploads(fx.st, "backups/", on_upload, &s, &supported, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    assert_true(ok);
    assert_true(supported);
    fx_done(&fx);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.path[0], "backups/a.vol-0001.tar.zst");
    assert_string_equal(s.id[0], "id/1");
    assert_int_equal(s.started[0], 1795168800); /* 2026-11-20T10:00:00Z */
    assert_string_equal(s.path[1], "backups/b & c.vol-0001.tar.zst");
    assert_string_equal(s.id[1], "id/2+");
    assert_int_equal(s.started[1], 1795253415); /* 2026-11-21T09:30:15Z */
    assert_string_equal(s.path[2], "backups/d.manifest.zst");
    assert_int_equal(s.started[2], -1); /* no Initiated: age unknown */
    seen_free(&s);
}

/* s3rver and others: no ListMultipartUploads. Nothing to report, no error, no retry. */
static void test_list_not_implemented(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = "/" BUCKET "?" PFX_Q "&uploads=",
         .reply = {.status = 501,
                   .body = "<Error><Code>NotImplemented</Code><Message>A header you provided "
                           "implies functionality that is not implemented</Message></Error>"}},
    };
    Fx fx;
    fx_start(&fx, ex, 1, 3);
    Seen s = {0};
    bool supported = true;
    Error err = {0};
    assert_true(storage_list_uploads(fx.st, "backups/", on_upload, &s, &supported, &err));
    assert_false(supported);
    assert_int_equal(s.count, 0);
    assert_int_equal(err.code, ERR_NONE);
    fx_done(&fx);
}

/* A throttled page is retried; a truncated page without a marker is an error, never a loop. */
static void test_list_retried_then_truncated_without_marker(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "GET",
         .target = "/" BUCKET "?" PFX_Q "&uploads=",
         .reply = {.status = 503, .body = "<Error><Code>SlowDown</Code></Error>"}},
        {.method = "GET",
         .target = "/" BUCKET "?" PFX_Q "&uploads=",
         .reply = {.status = 200,
                   .body = "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
                           "</ListMultipartUploadsResult>"}},
    };
    Fx fx;
    fx_start(&fx, ex, 2, 3);
    Seen s = {0};
    bool supported = false;
    Error err = {0};
    assert_false(storage_list_uploads(fx.st, "backups/", on_upload, &s, &supported, &err));
    assert_non_null(strstr(err.msg, "ListMultipartUploads"));
    assert_non_null(strstr(err.msg, "NextKeyMarker"));
    fx_done(&fx);
}

static void test_abort(void **state)
{
    (void)state;
    ScriptedExchange ex[] = {
        {.method = "DELETE",
         .target = "/" BUCKET "/" ROOT "/backups/a.vol-0001.tar.zst?uploadId=id%2F1",
         .reply = {.status = 204}},
        /* Already aborted (or completed) by someone else: done all the same. */
        {.method = "DELETE",
         .target = "/" BUCKET "/" ROOT "/backups/a.vol-0001.tar.zst?uploadId=id%2F1",
         .reply = {.status = 404, .body = "<Error><Code>NoSuchUpload</Code></Error>"}},
        {.method = "DELETE",
         .target = "/" BUCKET "/" ROOT "/backups/a.vol-0001.tar.zst?uploadId=id%2F1",
         .reply = {.status = 403, .body = "<Error><Code>AccessDenied</Code></Error>"}},
    };
    Fx fx;
    fx_start(&fx, ex, 3, 3);
    Error err = {0};
    assert_true(storage_abort_upload(fx.st, "backups/a.vol-0001.tar.zst", "id/1", &err));
    assert_true(storage_abort_upload(fx.st, "backups/a.vol-0001.tar.zst", "id/1", &err));
    assert_int_equal(err.code, ERR_NONE);
    assert_false(storage_abort_upload(fx.st, "backups/a.vol-0001.tar.zst", "id/1", &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "S3 AbortMultipartUpload s3://" BUCKET "/" ROOT
                                    "/backups/a.vol-0001.tar.zst: AccessDenied"));
    assert_false(storage_abort_upload(fx.st, "../x", "id", &err)); /* paths are checked */
    fx_done(&fx);
}

/* Targets without such uploads report none. */
static void test_mem_has_no_uploads(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("uploads-test");
    Seen s = {0};
    bool supported = true;
    Error err = {0};
    assert_true(storage_list_uploads(st, "", on_upload, &s, &supported, &err));
    assert_false(supported);
    assert_int_equal(s.count, 0);
    assert_false(storage_abort_upload(st, "a", "id", &err));
    storage_free(st);
}

int main(void)
{
    log_setup(LOG_QUIET, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_two_pages),
        cmocka_unit_test(test_list_not_implemented),
        cmocka_unit_test(test_list_retried_then_truncated_without_marker),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_mem_has_no_uploads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
