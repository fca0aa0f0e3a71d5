/* Manifest form and rules, meta parsing (with the cipher object of encrypted backups), chain
 * resolution (broken parent, cycle), storage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/chain.h"
#include "hfsync/manifest.h"
#include "hfsync/storage.h"
#include "hfsync/util.h"
#include "support/testutil.h"

static Manifest *sample_manifest(void)
{
    Manifest *m = manifest_new("20261121-101500F");
    uint16_t s = manifest_source_index(m, "state");
    uint16_t r = manifest_ref_index(m, "20261121-101500F");
    ManifestEntry e = {
        .source = s, .ref = r, .type = ENTRY_DIR, .mode = 0755, .mtime = 1, .path = "."};
    manifest_add(m, &e);
    e.path = "a b";
    manifest_add(m, &e);
    e = (ManifestEntry){.source = s,
                        .ref = r,
                        .type = ENTRY_FILE,
                        .mode = 0600,
                        .mtime = 1700000000,
                        .mtime_nsec = 999999999,
                        .size = 12,
                        .volume = 1,
                        .path = "a b/ü.txt"};
    memset(e.hash, 0xab, HASH_SIZE);
    manifest_add(m, &e);
    e = (ManifestEntry){.source = s,
                        .ref = r,
                        .type = ENTRY_SYMLINK,
                        .mode = 0777,
                        .mtime = 3,
                        .path = "-link",
                        .target = "/abs/target"};
    manifest_add(m, &e);
    manifest_sort(m);
    return m;
}

static Manifest *reparse(const char *text, Error *err)
{
    Reader *r = buffer_reader_new(text, strlen(text), 5);
    Manifest *m = manifest_read(r, err);
    reader_free(r);
    return m;
}

static void test_manifest_roundtrip(void **state)
{
    (void)state;
    Error err = {0};
    Manifest *m = sample_manifest();
    /* The root sorts first even though '-' < '.'. */
    assert_string_equal(m->entries[0].path, ".");
    Sink *buf = buffer_sink_new();
    size_t n = 0;
    assert_true(manifest_write(m, buf, &n, &err));
    assert_int_equal(n, 4);
    size_t size;
    const char *text = (const char *)buffer_sink_data(buf, &size);
    Manifest *back = reparse(text, &err);
    assert_non_null(back);
    assert_int_equal(back->count, 4);
    ManifestEntry *f = manifest_find(back, "state", "a b/ü.txt");
    assert_non_null(f);
    assert_int_equal(f->mtime, 1700000000);
    assert_int_equal(f->mtime_nsec, 999999999);
    assert_int_equal(f->size, 12);
    assert_int_equal(f->mode, 0600);
    assert_int_equal(f->hash[31], 0xab);
    ManifestEntry *l = manifest_find(back, "state", "-link");
    assert_string_equal(l->target, "/abs/target");
    assert_true(manifest_entry_same(l, manifest_find(m, "state", "-link")));
    assert_null(manifest_find(back, "state", "nope"));
    manifest_free(back);
    manifest_free(m);
    sink_free(buf);
}

#define HEAD                                                                                       \
    "{\"format\":\"hfsync-manifest\",\"version\":1,\"backup\":\"B\",\"content_hash\":\"sha256\","  \
    "\"entries\":%d}\n"
#define ROOT                                                                                       \
    "{\"source\":\"s\",\"path\":\".\",\"type\":\"dir\",\"mode\":493,\"mtime\":1,\"mtime_nsec\":0," \
    "\"ref\":\"B\"}\n"

static void expect_refused(const char *body, int entries, ErrorCode code, const char *needle)
{
    char *text = str_printf(HEAD ROOT "%s", entries + 1, body);
    Error err = {0};
    Manifest *m = reparse(text, &err);
    if (m != NULL)
        fail_msg("accepted: %s", body);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    free(text);
}

static void test_manifest_refuses_unknown_content_hash(void **state)
{
    (void)state;
    Error err = {0};
    const char *text = "{\"format\":\"hfsync-manifest\",\"version\":1,\"backup\":\"B\","
                       "\"content_hash\":\"blake2b-512/256\",\"entries\":1}\n" ROOT;
    assert_null(reparse(text, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "\"blake2b-512/256\""));
}

static void test_manifest_refuses_hostile_entries(void **state)
{
    (void)state;
    const char *file =
        "\"type\":\"file\",\"mode\":420,\"mtime\":1,\"mtime_nsec\":0,\"size\":1,"
        "\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\","
        "\"ref\":\"B\",\"volume\":1}\n";
    char *b;
    b = str_printf("{\"source\":\"s\",\"path\":\"../evil\",%s", file);
    expect_refused(b, 1, ERR_UNSAFE, "'..'");
    free(b);
    b = str_printf("{\"source\":\"s\",\"path\":\"/etc/passwd\",%s", file);
    expect_refused(b, 1, ERR_UNSAFE, "absolute");
    free(b);
    b = str_printf("{\"source\":\"s\",\"path\":\"a\\nb\",%s", file);
    expect_refused(b, 1, ERR_UNSAFE, "control character");
    free(b);
    b = str_printf("{\"source\":\"s\",\"path\":\"a//b\",%s", file);
    expect_refused(b, 1, ERR_UNSAFE, "empty component");
    free(b);
    b = str_printf("{\"source\":\"..\",\"path\":\"x\",%s", file);
    expect_refused(b, 1, ERR_UNSAFE, "");
    free(b);
    /* A file below a symlink: the symlink could redirect the write. */
    b = str_printf("{\"source\":\"s\",\"path\":\"l\",\"type\":\"symlink\",\"mode\":511,"
                   "\"mtime\":1,\"mtime_nsec\":0,\"target\":\"/tmp\",\"ref\":\"B\"}\n"
                   "{\"source\":\"s\",\"path\":\"l/x\",%s",
                   file);
    expect_refused(b, 2, ERR_UNSAFE, "parent is not a directory");
    free(b);
    expect_refused("{\"source\":\"s\",\"path\":\"dev\",\"type\":\"chardev\",\"mode\":420,"
                   "\"mtime\":1,\"mtime_nsec\":0,\"ref\":\"B\"}\n",
                   1, ERR_UNSAFE, "chardev");
    b = str_printf("{\"source\":\"s\",\"path\":\"x\",%s{\"source\":\"s\",\"path\":\"x\",%s", file,
                   file);
    expect_refused(b, 2, ERR_UNSAFE, "twice");
    free(b);
    /* Wrong count, garbage, missing fields. */
    expect_refused("", 3, ERR_CORRUPT, "header says");
    expect_refused("not json\n", 1, ERR_CORRUPT, "not a JSON object");
    expect_refused("{\"source\":\"s\",\"path\":\"x\",\"type\":\"file\",\"ref\":\"B\"}\n", 1,
                   ERR_CORRUPT, "bad mode");
}

static void test_manifest_non_utf8_names(void **state)
{
    (void)state;
    Error err = {0};
    Manifest *m = sample_manifest();
    ManifestEntry e = {.source = 0,
                       .ref = 0,
                       .type = ENTRY_SYMLINK,
                       .mode = 0777,
                       .mtime = 3,
                       .path = "latin1-\xe9t\xe9",
                       .target = "caf\xe9"};
    manifest_add(m, &e);
    manifest_sort(m);
    Sink *buf = buffer_sink_new();
    assert_true(manifest_write(m, buf, NULL, &err));
    size_t size;
    const char *text = (const char *)buffer_sink_data(buf, &size);
    /* The JSON stays UTF-8: the raw bytes travel as hex. */
    assert_non_null(strstr(text, "\"path_hex\":\"6c6174696e312de974e9\""));
    assert_non_null(strstr(text, "\"target_hex\":\"636166e9\""));
    assert_null(memchr(text, 0xe9, size));
    Manifest *back = reparse(text, &err);
    assert_non_null(back);
    ManifestEntry *l = manifest_find(back, "state", "latin1-\xe9t\xe9");
    assert_non_null(l);
    assert_string_equal(l->target, "caf\xe9");
    manifest_free(back);
    manifest_free(m);
    sink_free(buf);
}

static void test_path_check(void **state)
{
    (void)state;
    Error err = {0};
    assert_true(manifest_path_check(".", &err));
    assert_true(manifest_path_check("a/b c/ü", &err));
    assert_true(manifest_path_check("..a/b..", &err));
    assert_false(manifest_path_check("a/./b", &err));
    assert_false(manifest_path_check("a/", &err));
    assert_false(manifest_path_check("", &err));
    assert_false(manifest_path_check("a\x7f", &err));
}

/* --- chain ------------------------------------------------------------------------------- */

/* An encrypted backup's meta: written with its cipher object, read back the same; a meta whose
 * `encrypted`, `encryption_algorithm` and `cipher` disagree, or whose key parameters are out of
 * bounds, is refused as corrupt. */
static char *encrypted_meta_json(CryptoParams *params)
{
    static char *volumes[] = {"20261121-101500F.vol-0001.tar.zst.enc", NULL};
    VolumeInfo vi = {.name = volumes[0], .size = 100};
    memset(vi.sha256, 'a', HASH_HEX_SIZE - 1);
    memset(params, 0, sizeof(*params));
    params->kdf_n = CRYPTO_KDF_N_DEFAULT;
    params->kdf_r = CRYPTO_KDF_R_DEFAULT;
    params->kdf_p = CRYPTO_KDF_P_DEFAULT;
    for (size_t i = 0; i < CRYPTO_SALT_SIZE; i++)
        params->salt[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < CRYPTO_CHECK_SIZE; i++)
        params->check[i] = (uint8_t)(255 - i);
    BackupMeta m = {.name = "20261121-101500F",
                    .full = true,
                    .chain_id = "0badf00d",
                    .volumes = volumes,
                    .volume_count = 1,
                    .vinfo = &vi,
                    .checksum = "sha256:00",
                    .created = 1763720100,
                    .last_full = 1763720100,
                    .encrypted = true,
                    .encryption_algorithm = "AES-256-GCM",
                    .manifest_name = "20261121-101500F.manifest.zst.enc",
                    .cipher = *params};
    memset(m.manifest_sha256, 'b', HASH_HEX_SIZE - 1);
    return meta_to_json(&m);
}

static void expect_meta_refused(cJSON *doc, const char *needle)
{
    char *text = cJSON_PrintUnformatted(doc);
    Error err = {0};
    BackupMeta *m = meta_parse(text, "backups/20261121-101500F.meta.json", &err);
    if (m != NULL)
        fail_msg("accepted: %s", text);
    assert_int_equal(err.code, ERR_CORRUPT);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    cJSON_free(text);
}

static void test_meta_cipher(void **state)
{
    (void)state;
    CryptoParams want;
    char *json = encrypted_meta_json(&want);
    Error err = {0};
    BackupMeta *m = meta_parse(json, "backups/20261121-101500F.meta.json", &err);
    if (m == NULL)
        fail_msg("meta_parse: %s", err.msg);
    assert_true(m->encrypted);
    assert_string_equal(m->encryption_algorithm, "AES-256-GCM");
    assert_memory_equal(&m->cipher, &want, sizeof(want));
    assert_string_equal(m->manifest_name, "20261121-101500F.manifest.zst.enc");
    meta_free(m);

    cJSON *doc = cJSON_Parse(json);
    cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "hfsync");
    cJSON *cipher = cJSON_DetachItemFromObjectCaseSensitive(h, "cipher");
    assert_non_null(cipher);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cipher, "kdf_n")->valueint, 32768);
    expect_meta_refused(doc, "'cipher' object is missing");
    cJSON_AddItemToObject(h, "cipher", cipher);

    cJSON_ReplaceItemInObjectCaseSensitive(doc, "encrypted", cJSON_CreateFalse());
    expect_meta_refused(doc, "'encrypted' is not true");
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "encrypted", cJSON_CreateTrue());

    cJSON_ReplaceItemInObjectCaseSensitive(doc, "encryption_algorithm",
                                           cJSON_CreateString("AES-256-CBC"));
    expect_meta_refused(doc, "unsupported encryption_algorithm 'AES-256-CBC'");
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "encryption_algorithm",
                                           cJSON_CreateString("AES-256-GCM"));

    cJSON_ReplaceItemInObjectCaseSensitive(cipher, "kdf", cJSON_CreateString("argon2id"));
    expect_meta_refused(doc, "unsupported kdf 'argon2id'");
    cJSON_ReplaceItemInObjectCaseSensitive(cipher, "kdf", cJSON_CreateString("scrypt"));

    cJSON_ReplaceItemInObjectCaseSensitive(cipher, "kdf_n", cJSON_CreateNumber(1 << 30));
    expect_meta_refused(doc, "need more than 256 MiB");
    cJSON_ReplaceItemInObjectCaseSensitive(cipher, "kdf_n", cJSON_CreateNumber(32768));

    cJSON_ReplaceItemInObjectCaseSensitive(cipher, "key_check", cJSON_CreateString("abc"));
    expect_meta_refused(doc, "'key_check' is not 64 hex digits");
    cJSON_Delete(doc);
    free(json);
}

/* The strategy's history fields: written when known, read back, 0 when absent (older metas). */
static void test_meta_history_fields(void **state)
{
    (void)state;
    CryptoParams params;
    char *json = encrypted_meta_json(&params);
    Error err = {0};
    BackupMeta *m = meta_parse(json, "backups/20261121-101500F.meta.json", &err);
    assert_non_null(m);
    assert_true(m->full_size == 0 && m->chain_size == 0 && m->upload_rate == 0);
    assert_null(strstr(json, "\"upload_rate\""));
    assert_null(strstr(json, "\"chain\""));
    m->full_size = 1000;
    m->chain_size = 1500;
    m->upload_rate = 3 << 20;
    char *again = meta_to_json(m);
    meta_free(m);
    m = meta_parse(again, "backups/20261121-101500F.meta.json", &err);
    assert_non_null(m);
    assert_int_equal(m->full_size, 1000);
    assert_int_equal(m->chain_size, 1500);
    assert_int_equal(m->upload_rate, 3 << 20);
    meta_free(m);
    free(again);
    free(json);
}

static void put_meta(Storage *st, const char *name, const char *parent, bool full)
{
    char *json = str_printf("{\"version\":\"2.1\",\"backup_type\":\"%s\",\"chain_id\":\"abcd1234\","
                            "\"parent\":%s%s%s,\"volumes\":[\"%s.tar.gz\"],\"checksum\":\"\","
                            "\"created_at_utc\":\"2026-11-21T10:00:00+00:00\"}",
                            full ? "full" : "incremental", parent ? "\"" : "",
                            parent ? parent : "null", parent ? "\"" : "", name);
    char *path = str_printf("backups/%s.meta.json", name);
    Error err = {0};
    assert_true(storage_put(st, path, json, strlen(json), &err));
    free(path);
    free(json);
}

static void test_chain_resolves_full_first(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("chain-ok");
    put_meta(st, "f", NULL, true);
    put_meta(st, "i1", "backups/f.meta.json", false);
    put_meta(st, "i2", "backups/i1.meta.json", false);
    Chain c;
    Error err = {0};
    assert_true(chain_resolve(st, "backups/i2.meta.json", &c, &err));
    assert_int_equal(c.count, 3);
    assert_string_equal(c.metas[0]->name, "f.tar.gz");
    assert_true(c.metas[0]->full);
    assert_string_equal(c.metas[2]->path, "backups/i2.meta.json");
    chain_free(&c);
    storage_free(st);
}

static void test_chain_broken_parent(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("chain-broken");
    put_meta(st, "i1", "backups/gone.meta.json", false);
    Chain c;
    Error err = {0};
    assert_false(chain_resolve(st, "backups/i1.meta.json", &c, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "parent of 'backups/i1.meta.json'"));
    assert_non_null(strstr(err.msg, "gone.meta.json"));
    assert_int_equal(c.count, 0);
    storage_free(st);
}

static void test_chain_cycle(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("chain-cycle");
    put_meta(st, "a", "backups/b.meta.json", false);
    put_meta(st, "b", "backups/a.meta.json", false);
    Chain c;
    Error err = {0};
    assert_false(chain_resolve(st, "backups/a.meta.json", &c, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "cycle"));
    storage_free(st);
}

static void test_chain_must_start_with_full(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("chain-nofull");
    char *json = x_strdup("{\"version\":\"2.1\",\"backup_type\":\"incremental\",\"parent\":null,"
                          "\"volumes\":[],\"created_at_utc\":\"2026-11-21T10:00:00+00:00\"}");
    Error err = {0};
    assert_true(storage_put(st, "backups/x.meta.json", json, strlen(json), &err));
    Chain c;
    assert_false(chain_resolve(st, "backups/x.meta.json", &c, &err));
    assert_non_null(strstr(err.msg, "without a parent"));
    free(json);
    storage_free(st);
}

static void test_pointer_roundtrip_and_absent(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("pointer");
    char *p = NULL;
    Error err = {0};
    assert_true(pointer_read(st, &p, &err));
    assert_null(p);
    assert_true(pointer_write(st, "backups/x.meta.json", "alice/state", &err));
    assert_true(pointer_read(st, &p, &err));
    assert_string_equal(p, "backups/x.meta.json");
    free(p);
    const char *bad = "{\"latest\": \"../../etc/passwd.meta.json\"}";
    assert_true(storage_put(st, POINTER_PATH, bad, strlen(bad), &err));
    assert_false(pointer_read(st, &p, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    storage_free(st);
}

/* --- storage ------------------------------------------------------------------------------ */

static void list_count(const char *path, uint64_t size, void *ctx)
{
    (void)path;
    (void)size;
    (*(int *)ctx)++;
}

static void storage_contract(Storage *st)
{
    Error err = {0};
    assert_true(storage_put(st, "backups/a.bin", "hello", 5, &err));
    char *data;
    size_t size;
    assert_true(storage_get(st, "backups/a.bin", 100, &data, &size, &err));
    assert_int_equal(size, 5);
    assert_string_equal(data, "hello");
    free(data);
    /* Ranged read. */
    Reader *r = storage_read_open(st, "backups/a.bin", 3, &err);
    char tail[8] = {0};
    assert_int_equal(reader_read_full(r, tail, sizeof(tail), &err), 2);
    assert_string_equal(tail, "lo");
    reader_free(r);
    /* An abandoned write leaves nothing visible. */
    Sink *w = storage_write_open(st, "backups/partial.bin", &err);
    assert_true(sink_write(w, "xx", 2, &err));
    sink_free(w);
    StorageInfo info;
    assert_true(storage_info(st, "backups/partial.bin", &info, &err));
    assert_false(info.exists);
    int n = 0;
    assert_true(storage_list(st, "backups/", list_count, &n, &err));
    assert_int_equal(n, 1);
    assert_false(storage_get(st, "backups/none", 100, &data, &size, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_false(storage_put(st, "../escape", "x", 1, &err));
    assert_false(storage_put(st, "/abs", "x", 1, &err));
    const char *del = "backups/a.bin";
    assert_true(storage_delete(st, &del, 1, &err));
    assert_true(storage_delete(st, &del, 1, &err)); /* missing: fine */
    assert_true(storage_info(st, del, &info, &err));
    assert_false(info.exists);
}

static void test_storage_mem(void **state)
{
    (void)state;
    Storage *st = storage_mem_open("contract");
    storage_contract(st);
    storage_free(st);
}

static void test_storage_file(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    Target t = {.kind = TARGET_FILE, .path = dir, .url = dir};
    Error err = {0};
    Storage *st = storage_open(NULL, &t, &err);
    assert_non_null(st);
    storage_contract(st);
    storage_free(st);
    test_rmtree(dir);
    free(dir);
}

static int count_tmp(const char *dir, const char *prefix)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        n += str_starts_with(de->d_name, prefix);
    if (d != NULL)
        closedir(d);
    return n;
}

/* A write of an object removes the temporary files of earlier writes of it whose writer is gone,
 * never the one of a write still under way (another writer racing for the same name). */
static void test_storage_file_tmp_sweep(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    Target t = {.kind = TARGET_FILE, .path = dir, .url = dir};
    Error err = {0};
    Storage *st = storage_open(NULL, &t, &err);
    assert_non_null(st);
    char *objdir = path_join(dir, "backups");
    test_write_file(objdir, ".x.bin.tmp-dead01", "left by a killed writer");
    Sink *a = storage_write_open(st, "backups/x.bin", &err);
    assert_non_null(a);
    assert_int_equal(count_tmp(objdir, ".x.bin.tmp-"), 1); /* the dead one is gone, a's is there */
    assert_true(sink_write(a, (const uint8_t *)"aaaa", 4, &err));
    Sink *b = storage_write_open(st, "backups/x.bin", &err);
    assert_non_null(b);
    assert_int_equal(count_tmp(objdir, ".x.bin.tmp-"), 2); /* a's is still being written */
    assert_true(sink_write(b, (const uint8_t *)"bb", 2, &err));
    assert_true(sink_finish(b, &err));
    sink_free(b);
    assert_true(sink_finish(a, &err)); /* still renamed into place */
    sink_free(a);
    assert_int_equal(count_tmp(objdir, ".x.bin.tmp-"), 0);
    size_t size = 0;
    char *data = NULL;
    assert_true(storage_get(st, "backups/x.bin", 1024, &data, &size, &err));
    assert_int_equal(size, 4);
    free(data);
    storage_free(st);
    test_rmtree(dir);
    free(objdir);
    free(dir);
}

/* The pointer moves only over the version a writer read: a second writer with a stale tag gets
 * ERR_CONFLICT and the pointer keeps the first writer's backup. */
static void test_pointer_conditional_write(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    Target t = {.kind = TARGET_FILE, .path = dir, .url = dir};
    Error err = {0};
    Storage *st = storage_open(NULL, &t, &err);
    assert_non_null(st);
    char *latest = NULL, *tag_a = NULL, *tag_b = NULL;
    /* Both writers find no pointer. */
    assert_true(pointer_read_tagged(st, &latest, &tag_a, &err));
    assert_null(latest);
    assert_null(tag_a);
    assert_true(pointer_read_tagged(st, &latest, &tag_b, &err));
    assert_true(pointer_write_if(st, "backups/A.meta.json", "t", true, tag_a, &err));
    assert_false(pointer_write_if(st, "backups/B.meta.json", "t", true, tag_b, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "latest-backup.json"));
    error_clear(&err);
    /* A writer that read A's pointer may move it; one holding a stale tag may not. */
    assert_true(pointer_read_tagged(st, &latest, &tag_a, &err));
    assert_string_equal(latest, "backups/A.meta.json");
    free(latest);
    assert_non_null(tag_a);
    assert_true(pointer_write_if(st, "backups/C.meta.json", "t", true, tag_a, &err));
    assert_false(pointer_write_if(st, "backups/D.meta.json", "t", true, tag_a, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_true(pointer_read(st, &latest, &err));
    assert_string_equal(latest, "backups/C.meta.json");
    free(latest);
    free(tag_a);
    storage_free(st);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_refuses_hostile_entries),
        cmocka_unit_test(test_manifest_refuses_unknown_content_hash),
        cmocka_unit_test(test_manifest_non_utf8_names),
        cmocka_unit_test(test_path_check),
        cmocka_unit_test(test_meta_cipher),
        cmocka_unit_test(test_meta_history_fields),
        cmocka_unit_test(test_chain_resolves_full_first),
        cmocka_unit_test(test_chain_broken_parent),
        cmocka_unit_test(test_chain_cycle),
        cmocka_unit_test(test_chain_must_start_with_full),
        cmocka_unit_test(test_pointer_roundtrip_and_absent),
        cmocka_unit_test(test_storage_mem),
        cmocka_unit_test(test_storage_file),
        cmocka_unit_test(test_storage_file_tmp_sweep),
        cmocka_unit_test(test_pointer_conditional_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
