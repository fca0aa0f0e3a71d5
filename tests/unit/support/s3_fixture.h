/*
 * The fixture of the S3 driver's unit tests (test_s3.c, test_s3_multipart.c): an s3:// storage on
 * the scripted HTTP server (path-style endpoint, fixed credentials, us-east-1, millisecond
 * retries). s3fx_finish() judges the script, then re-signs every recorded request independently
 * of src/http/sigv4.c (OpenSSL HMAC over a canonical request rebuilt from the bytes received),
 * checks its integrity headers (Content-MD5, x-amz-checksum-sha256) against the body received and
 * searches it for the secret key (reference/s3-api.md §1, §2, §4).
 */
#ifndef HFSYNC_TEST_S3_FIXTURE_H
#define HFSYNC_TEST_S3_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/config.h"
#include "hfsync/storage.h"
#include "support/scripted_http.h"

#define AKID "AKIDTEST0EXAMPLE0KEY"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLE=KEY"
#define REGION "us-east-1"
#define BUCKET "test-bucket"
#define ROOT "team/host1"
#define BASE "/" BUCKET "/" ROOT "/" /* path of a key under the target root */
#define MIB (1024u * 1024u)
#define S3NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define INTERNAL_ERROR                                                                             \
    XML_HEAD "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please " \
             "try again.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"

typedef struct S3Fx {
    ScriptedHttp *srv;
    Config cfg;
    Storage *st;
    char host[64]; /* "127.0.0.1:PORT", the Host every request must carry */
} S3Fx;

/* Independent digests: lowercase hex SHA-256, base64 MD5, base64 SHA-256. */
void s3fx_sha256_hex(const void *data, size_t size, char out[65]);
void s3fx_md5_b64(const void *data, size_t size, char out[32]);
void s3fx_sha256_b64(const void *data, size_t size, char out[48]);

/* Serve `ex` and open the storage on it with the given part size, parallel uploads and tries. */
void s3fx_start(S3Fx *fx, const ScriptedExchange *ex, size_t count, uint64_t part_size,
                int parallel, int tries);
/* Free the storage, judge the script and check every request received (fails the test). */
void s3fx_finish(S3Fx *fx);
void s3fx_free(S3Fx *fx);
const ScriptedRequest *s3fx_req(S3Fx *fx, size_t i);

int64_t s3fx_amz_date_sec(const char *d);
int64_t s3fx_now_sec(void);
uint8_t *s3fx_random(size_t size, uint32_t seed); /* caller frees */

#endif
