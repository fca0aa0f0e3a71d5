/*
 * Multipart uploads of the S3 driver against the scripted HTTP server (support/s3_fixture.h):
 * parts in parallel with one answered 500 and sent again, CompleteMultipartUpload answered 200
 * with an error body, a part refused for good, and how parts are verified (reference/s3-api.md
 * §2.6 "Checksums"): an upload created with x-amz-checksum-algorithm: SHA256 sends each part's
 * x-amz-checksum-sha256 (the base64 of the digest that signs it) and repeats it in Complete; a
 * service that refuses the algorithm at Create, or accepts it without answering it back, gets
 * Content-MD5 instead, and the storage handle remembers that for its next uploads.
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
#include "hfsync/log.h"
#include "hfsync/storage.h"
#include "hfsync/util.h"
#include "storage/storage.intern.h"
#include "support/s3_fixture.h"
#include "support/scripted_http.h"

/* --- 1. parts in parallel, one answered 500 ------------------------------------------------ */

#define BIG_KEY BASE "vol/big.tar.zst"
/* An upload id with characters that must be encoded in a query, and an XML entity. */
#define UPLOAD_ID_XML "Ab+/c=&amp;d~2"
#define UPLOAD_ID_Q "Ab%2B%2Fc%3D%26d~2"

static const char create_reply[] =
    XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" S3NS "\"><Bucket>" BUCKET
             "</Bucket><Key>" ROOT "/vol/big.tar.zst</Key><UploadId>" UPLOAD_ID_XML "</UploadId>"
             "</InitiateMultipartUploadResult>";

static const char complete_reply[] =
    XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" S3NS "\"><Location>http://x/" BUCKET "/" ROOT
             "/vol/big.tar.zst</Location><Bucket>" BUCKET "</Bucket><Key>" ROOT
             "/vol/big.tar.zst</Key><ETag>\"3858f62230ac3c915f300c664312c11f-3\"</ETag>"
             "</CompleteMultipartUploadResult>";

/* What a service with additional checksums adds to the Create answer (AWS and moto 5.2 do). */
#define ALGO_HEADER                                                                                \
    {                                                                                              \
        "x-amz-checksum-algorithm", "SHA256"                                                       \
    }

typedef struct PartSpec {
    char target[160];
    char md5[32];
    char sha[65];
    char sum[48]; /* base64 SHA-256 */
} PartSpec;

static void part_spec(PartSpec *ps, int number, const uint8_t *data, size_t size)
{
    snprintf(ps->target, sizeof(ps->target), "%s?partNumber=%d&uploadId=%s", BIG_KEY, number,
             UPLOAD_ID_Q);
    s3fx_md5_b64(data, size, ps->md5);
    s3fx_sha256_hex(data, size, ps->sha);
    s3fx_sha256_b64(data, size, ps->sum);
}

/* A part upload; `sha`: it carries x-amz-checksum-sha256 and no Content-MD5, else the reverse. */
static ScriptedExchange part_exchange(const PartSpec *ps, const uint8_t *data, size_t size,
                                      const char *etag, bool sha)
{
    return (ScriptedExchange){
        .method = "PUT",
        .target = ps->target,
        .headers = {{"x-amz-checksum-sha256", sha ? ps->sum : SCRIPTED_ABSENT},
                    {"x-amz-sdk-checksum-algorithm", sha ? "SHA256" : SCRIPTED_ABSENT},
                    {"Content-MD5", sha ? SCRIPTED_ABSENT : ps->md5},
                    {"x-amz-content-sha256", ps->sha}},
        .body = data,
        .body_size = size,
        .body_check = SCRIPTED_BODY_EXACT,
        .unordered = true,
        .reply = {.status = 200, .headers = {{"ETag", etag}}},
    };
}

/* Write `data` through the sink in odd-sized pieces. */
static bool write_in_pieces(Sink *w, const uint8_t *data, size_t size, size_t piece, Error *err)
{
    for (size_t at = 0; at < size; at += piece)
        if (!sink_write(w, data + at, size - at < piece ? size - at : piece, err))
            return false;
    return true;
}

static void test_multipart_part_retried(void **state)
{
    (void)state;
    size_t size = 11 * MIB + 12345, sizes[3] = {5 * MIB, 5 * MIB, MIB + 12345};
    uint8_t *data = s3fx_random(size, 3);
    const uint8_t *parts[3] = {data, data + 5 * MIB, data + 10 * MIB};
    PartSpec ps[3];
    for (int i = 0; i < 3; i++)
        part_spec(&ps[i], i + 1, parts[i], sizes[i]);
    const char *etags[3] = {"\"etag-1-a54357aff\"", "\"etag-2-0c78aef83\"", "\"etag-3-ff9e1b22\""};
    /* Each part's checksum is repeated in Complete. */
    char *complete_body =
        str_printf("<CompleteMultipartUpload xmlns=\"" S3NS "\">"
                   "<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1-a54357aff&quot;</ETag>"
                   "<ChecksumSHA256>%s</ChecksumSHA256></Part>"
                   "<Part><PartNumber>2</PartNumber><ETag>&quot;etag-2-0c78aef83&quot;</ETag>"
                   "<ChecksumSHA256>%s</ChecksumSHA256></Part>"
                   "<Part><PartNumber>3</PartNumber><ETag>&quot;etag-3-ff9e1b22&quot;</ETag>"
                   "<ChecksumSHA256>%s</ChecksumSHA256></Part>"
                   "</CompleteMultipartUpload>",
                   ps[0].sum, ps[1].sum, ps[2].sum);

    ScriptedExchange part2_500 = part_exchange(&ps[1], parts[1], sizes[1], NULL, true);
    part2_500.reply = (ScriptedReply){
        .status = 500, .headers = {{"Content-Type", "application/xml"}}, .body = INTERNAL_ERROR};
    ScriptedExchange ex[] = {
        /* No body, and no Content-Type: S3 would keep one as the object's type. SHA-256 part
           checksums are asked for, and the answer says they will be checked. */
        {.method = "POST",
         .target = BIG_KEY "?uploads=",
         .headers = {{"Content-Length", "0"},
                     {"Content-Type", SCRIPTED_ABSENT},
                     {"x-amz-checksum-algorithm", "SHA256"}},
         .body_size = 0,
         .body_check = SCRIPTED_BODY_SIZE,
         .reply = {.status = 200, .headers = {ALGO_HEADER}, .body = create_reply}},
        /* Parts go in parallel, in any order; part 2 is refused once and sent again. */
        part_exchange(&ps[0], parts[0], sizes[0], etags[0], true),
        part2_500,
        part_exchange(&ps[1], parts[1], sizes[1], etags[1], true),
        part_exchange(&ps[2], parts[2], sizes[2], etags[2], true),
        {.method = "POST",
         .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q,
         .headers = {{"Content-Type", "application/xml"}},
         .body = complete_body,
         .body_check = SCRIPTED_BODY_EXACT,
         .reply = {.status = 200, .body = complete_reply}},
    };
    S3Fx fx;
    s3fx_start(&fx, ex, sizeof(ex) / sizeof(ex[0]), 5 * MIB, 3, 5);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, data, size, 65537, &err) && sink_finish(w, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    /* Free before any assertion: a failed test must not leave uploader threads behind. */
    sink_free(w);
    s3fx_finish(&fx);
    assert_true(ok);

    /* Create, part 1, part 2 (500), part 2 again, part 3, Complete; Complete after every part. */
    assert_int_equal(scripted_http_request_count(fx.srv), 6);
    assert_int_equal(s3fx_req(&fx, 0)->exchange, 0);
    assert_int_equal(s3fx_req(&fx, 5)->exchange, 5);
    size_t seen[6] = {0};
    for (size_t i = 0; i < 6; i++)
        seen[s3fx_req(&fx, i)->exchange]++;
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(seen[i], 1);
    for (size_t i = 1; i < 5; i++) {
        const ScriptedRequest *r = s3fx_req(&fx, i);
        size_t part = r->exchange == 1 ? 0 : r->exchange == 4 ? 2 : 1;
        assert_int_equal(r->body_size, sizes[part]);
        char len[32];
        snprintf(len, sizeof(len), "%zu", sizes[part]);
        assert_string_equal(scripted_request_header(r, "content-length"), len);
        /* The checksum is base64(SHA-256(part)), the digest that signs it, and nothing else. */
        assert_string_equal(scripted_request_header(r, "x-amz-checksum-sha256"), ps[part].sum);
        assert_null(scripted_request_header(r, "content-md5"));
    }
    /* The 500 came before the resend of the same part. */
    size_t first_500 = SIZE_MAX, resend = SIZE_MAX;
    for (size_t i = 0; i < 6; i++) {
        if (s3fx_req(&fx, i)->exchange == 2)
            first_500 = i;
        if (s3fx_req(&fx, i)->exchange == 3)
            resend = i;
    }
    assert_true(first_500 < resend);
    /* The parts went over the uploaders' own connections, not the one Create used. */
    for (size_t i = 1; i < 5; i++)
        assert_int_not_equal(s3fx_req(&fx, i)->connection, s3fx_req(&fx, 0)->connection);
    s3fx_free(&fx);
    free(complete_body);
    free(data);
}

/* --- 2. CompleteMultipartUpload answered 200 with <Error>, a part refused ------------------ */

#define SMALL_PART (64u * 1024u)

typedef struct SmallUpload {
    uint8_t *data;
    size_t size;
    PartSpec ps[2];
    char *complete_sha; /* Complete with <ChecksumSHA256> */
    char *complete_md5; /* Complete of parts sent with Content-MD5 */
} SmallUpload;

/* An object of two parts (64 KiB and 1000 bytes): the driver takes any part size; the 5 MiB
   minimum is S3's and the configuration's. */
static void small_upload_init(SmallUpload *u, uint32_t seed)
{
    u->size = SMALL_PART + 1000;
    u->data = s3fx_random(u->size, seed);
    part_spec(&u->ps[0], 1, u->data, SMALL_PART);
    part_spec(&u->ps[1], 2, u->data + SMALL_PART, 1000);
    u->complete_sha = str_printf("<CompleteMultipartUpload xmlns=\"" S3NS "\">"
                                 "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
                                 "<ChecksumSHA256>%s</ChecksumSHA256></Part>"
                                 "<Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag>"
                                 "<ChecksumSHA256>%s</ChecksumSHA256></Part>"
                                 "</CompleteMultipartUpload>",
                                 u->ps[0].sum, u->ps[1].sum);
    u->complete_md5 =
        str_printf("<CompleteMultipartUpload xmlns=\"" S3NS "\">"
                   "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>"
                   "<Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
                   "</CompleteMultipartUpload>");
}

static void small_upload_free(SmallUpload *u)
{
    free(u->data);
    free(u->complete_sha);
    free(u->complete_md5);
}

/* Create (asking for SHA-256 checksums, answered yes) and the two parts; `ex` must have room
   for 3. */
static void small_upload_script(const SmallUpload *u, ScriptedExchange *ex)
{
    ex[0] = (ScriptedExchange){
        .method = "POST",
        .target = BIG_KEY "?uploads=",
        .headers = {{"x-amz-checksum-algorithm", "SHA256"}},
        .reply = {.status = 200, .headers = {ALGO_HEADER}, .body = create_reply}};
    ex[1] = part_exchange(&u->ps[0], u->data, SMALL_PART, "\"e1\"", true);
    ex[2] = part_exchange(&u->ps[1], u->data + SMALL_PART, 1000, "\"e2\"", true);
}

static ScriptedExchange complete_exchange(const SmallUpload *u, int status, const char *reply)
{
    return (ScriptedExchange){.method = "POST",
                              .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q,
                              .body = u->complete_sha,
                              .body_check = SCRIPTED_BODY_EXACT,
                              .reply = {.status = status, .body = reply}};
}

/* S3 sends 200 at once, pads with whitespace while it assembles, then may write an error
   (s3-api.md §2.6). */
static const char complete_200_error[] = "\n   \n   \n" INTERNAL_ERROR;

static void test_complete_error_in_200_retried(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 5);
    ScriptedExchange ex[5];
    small_upload_script(&u, ex);
    ex[3] = complete_exchange(&u, 200, complete_200_error);
    ex[4] = complete_exchange(&u, 200, complete_reply);
    S3Fx fx;
    s3fx_start(&fx, ex, 5, SMALL_PART, 2, 5);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, u.data, u.size, 7, &err) && sink_finish(w, &err);
    if (!ok)
        print_error("%s\n", err.msg);
    sink_free(w); /* finished: no Abort */
    s3fx_finish(&fx);
    assert_true(ok);
    assert_int_equal(scripted_http_request_count(fx.srv), 5);
    s3fx_free(&fx);
    small_upload_free(&u);
}

static void test_complete_error_persists_then_abort(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 6);
    ScriptedExchange ex[7];
    small_upload_script(&u, ex);
    for (int i = 3; i < 6; i++)
        ex[i] = complete_exchange(&u, 200, complete_200_error);
    ex[6] = (ScriptedExchange){.method = "DELETE",
                               .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q,
                               .body_size = 0,
                               .body_check = SCRIPTED_BODY_SIZE,
                               .reply = {.status = 204}};
    S3Fx fx;
    s3fx_start(&fx, ex, 7, SMALL_PART, 2, 3);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool written = write_in_pieces(w, u.data, u.size, 4096, &err);
    bool finished = written && sink_finish(w, &err);
    size_t before_free = scripted_http_request_count(fx.srv);
    sink_free(w);
    s3fx_finish(&fx);
    assert_true(written);
    assert_false(finished);
    assert_int_equal(err.code, ERR_NET);
    assert_non_null(strstr(err.msg, "CompleteMultipartUpload"));
    assert_non_null(strstr(err.msg, "s3://" BUCKET "/" ROOT "/vol/big.tar.zst"));
    assert_non_null(strstr(err.msg, "InternalError"));
    assert_non_null(strstr(err.msg, "gave up after 3 tries"));
    /* Nothing is aborted until the sink is freed; then Abort is the last request. */
    assert_int_equal(before_free, 6);
    assert_int_equal(scripted_http_request_count(fx.srv), 7);
    assert_string_equal(s3fx_req(&fx, 6)->method, "DELETE");
    s3fx_free(&fx);
    small_upload_free(&u);
}

/* A part refused for good: the write fails naming the part, and the upload is aborted. */
static void test_part_refused_aborts_upload(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 7);
    ScriptedExchange ex[4];
    small_upload_script(&u, ex);
    ex[2].unordered = ex[1].unordered = false; /* one uploader: part 1, then part 2 */
    ex[2].reply = (ScriptedReply){.status = 403,
                                  .body = XML_HEAD "<Error><Code>AccessDenied</Code><Message>"
                                                   "Access Denied</Message></Error>"};
    ex[3] = (ScriptedExchange){
        .method = "DELETE", .target = BIG_KEY "?uploadId=" UPLOAD_ID_Q, .reply = {.status = 204}};
    S3Fx fx;
    s3fx_start(&fx, ex, 4, SMALL_PART, 1, 5);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, u.data, u.size, 65536, &err) && sink_finish(w, &err);
    sink_free(w);
    s3fx_finish(&fx);
    assert_false(ok);
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "part 2"));
    assert_non_null(strstr(err.msg, "UploadPart"));
    assert_non_null(strstr(err.msg, "s3://" BUCKET "/" ROOT "/vol/big.tar.zst"));
    assert_non_null(strstr(err.msg, "AccessDenied"));
    assert_int_equal(scripted_http_request_count(fx.srv), 4);
    s3fx_free(&fx);
    small_upload_free(&u);
}

/* --- 3. services without SHA-256 part checksums -------------------------------------------- */

static const char invalid_argument[] =
    XML_HEAD "<Error><Code>InvalidArgument</Code><Message>Unsupported header "
             "'x-amz-checksum-algorithm' received for this API call.</Message></Error>";
static const char not_implemented[] =
    XML_HEAD "<Error><Code>NotImplemented</Code><Message>A header you provided implies "
             "functionality that is not implemented</Message></Error>";
static const char access_denied[] =
    XML_HEAD "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";

/* A whole upload of `u` whose parts carry Content-MD5: Create without the algorithm header, the
   two parts, Complete without checksums; `ex` must have room for 4. */
static void small_upload_md5(const SmallUpload *u, ScriptedExchange *ex)
{
    ex[0] = (ScriptedExchange){.method = "POST",
                               .target = BIG_KEY "?uploads=",
                               .headers = {{"x-amz-checksum-algorithm", SCRIPTED_ABSENT}},
                               .reply = {.status = 200, .body = create_reply}};
    ex[1] = part_exchange(&u->ps[0], u->data, SMALL_PART, "\"e1\"", false);
    ex[2] = part_exchange(&u->ps[1], u->data + SMALL_PART, 1000, "\"e2\"", false);
    ex[3] = complete_exchange(u, 200, complete_reply);
    ex[3].body = u->complete_md5;
}

static bool upload(S3Fx *fx, const SmallUpload *u, Error *err)
{
    Sink *w = storage_write_open(fx->st, "vol/big.tar.zst", err);
    if (w == NULL)
        return false;
    bool ok = write_in_pieces(w, u->data, u->size, 4096, err) && sink_finish(w, err);
    if (!ok)
        print_error("%s\n", err->msg);
    sink_free(w);
    return ok;
}

/* Create refused because of the algorithm: asked once more without it, the parts carry
   Content-MD5, and the next upload on the same handle does not ask again. */
static void refused_falls_back(int status, const char *reply)
{
    SmallUpload u;
    small_upload_init(&u, 11);
    ScriptedExchange ex[9];
    ex[0] = (ScriptedExchange){.method = "POST",
                               .target = BIG_KEY "?uploads=",
                               .headers = {{"x-amz-checksum-algorithm", "SHA256"}},
                               .reply = {.status = status, .body = reply}};
    small_upload_md5(&u, ex + 1);
    small_upload_md5(&u, ex + 5);
    S3Fx fx;
    s3fx_start(&fx, ex, 9, SMALL_PART, 2, 3);
    Error err = {0};
    bool first = upload(&fx, &u, &err);
    bool second = first && upload(&fx, &u, &err);
    s3fx_finish(&fx);
    assert_true(first);
    assert_true(second);
    assert_int_equal(scripted_http_request_count(fx.srv), 9);
    s3fx_free(&fx);
    small_upload_free(&u);
}

static void test_checksum_refused_400(void **state)
{
    (void)state;
    refused_falls_back(400, invalid_argument);
}

static void test_checksum_refused_501(void **state)
{
    (void)state;
    refused_falls_back(501, not_implemented);
}

/* Create accepted without the algorithm in the answer: the service would not check SHA-256
   checksums, so this upload's parts carry Content-MD5, and so do the next upload's, without
   asking again. */
static void test_checksum_ignored_falls_back(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 12);
    ScriptedExchange ex[8];
    small_upload_md5(&u, ex);
    ex[0].headers[0] = (ScriptedHeader){"x-amz-checksum-algorithm", "SHA256"};
    small_upload_md5(&u, ex + 4);
    S3Fx fx;
    s3fx_start(&fx, ex, 8, SMALL_PART, 2, 3);
    Error err = {0};
    bool first = upload(&fx, &u, &err);
    bool second = first && upload(&fx, &u, &err);
    s3fx_finish(&fx);
    assert_true(first);
    assert_true(second);
    assert_int_equal(scripted_http_request_count(fx.srv), 8);
    s3fx_free(&fx);
    small_upload_free(&u);
}

/* A service that names the algorithm in the Create body instead of a header is taken at its word;
   every upload declares the algorithm again (S3 needs it per upload). */
static void test_checksum_in_body_accepted(void **state)
{
    (void)state;
    static const char create_body_algo[] =
        XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" S3NS "\"><Bucket>" BUCKET
                 "</Bucket><Key>" ROOT "/vol/big.tar.zst</Key><UploadId>" UPLOAD_ID_XML
                 "</UploadId><ChecksumAlgorithm>SHA256</ChecksumAlgorithm>"
                 "</InitiateMultipartUploadResult>";
    SmallUpload u;
    small_upload_init(&u, 13);
    ScriptedExchange ex[8];
    small_upload_script(&u, ex);
    ex[0].reply = (ScriptedReply){.status = 200, .body = create_body_algo};
    ex[3] = complete_exchange(&u, 200, complete_reply);
    small_upload_script(&u, ex + 4);
    ex[7] = complete_exchange(&u, 200, complete_reply);
    S3Fx fx;
    s3fx_start(&fx, ex, 8, SMALL_PART, 2, 3);
    Error err = {0};
    bool first = upload(&fx, &u, &err);
    bool second = first && upload(&fx, &u, &err);
    s3fx_finish(&fx);
    assert_true(first);
    assert_true(second);
    assert_int_equal(scripted_http_request_count(fx.srv), 8);
    s3fx_free(&fx);
    small_upload_free(&u);
}

/* Any other refusal of Create is an error as before, not a reason to ask again. */
static void test_create_denied_not_retried(void **state)
{
    (void)state;
    SmallUpload u;
    small_upload_init(&u, 14);
    ScriptedExchange ex[1] = {{.method = "POST",
                               .target = BIG_KEY "?uploads=",
                               .headers = {{"x-amz-checksum-algorithm", "SHA256"}},
                               .reply = {.status = 403, .body = access_denied}}};
    S3Fx fx;
    s3fx_start(&fx, ex, 1, SMALL_PART, 2, 3);
    Error err = {0};
    Sink *w = storage_write_open(fx.st, "vol/big.tar.zst", &err);
    assert_non_null(w);
    bool ok = write_in_pieces(w, u.data, u.size, 4096, &err) && sink_finish(w, &err);
    sink_free(w); /* no upload id: nothing to abort */
    s3fx_finish(&fx);
    assert_false(ok);
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "CreateMultipartUpload"));
    assert_non_null(strstr(err.msg, "AccessDenied"));
    assert_int_equal(scripted_http_request_count(fx.srv), 1);
    s3fx_free(&fx);
    small_upload_free(&u);
}

int main(void)
{
    log_setup(LOG_QUIET, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_part_retried),
        cmocka_unit_test(test_complete_error_in_200_retried),
        cmocka_unit_test(test_complete_error_persists_then_abort),
        cmocka_unit_test(test_part_refused_aborts_upload),
        cmocka_unit_test(test_checksum_refused_400),
        cmocka_unit_test(test_checksum_refused_501),
        cmocka_unit_test(test_checksum_ignored_falls_back),
        cmocka_unit_test(test_checksum_in_body_accepted),
        cmocka_unit_test(test_create_denied_not_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
