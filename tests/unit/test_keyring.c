/* The keyring (src/agent/keyring.c): which configured password opens an encrypted backup, how a
 * wrong or missing one is reported, that each parameter set is derived once, and that a chain
 * mixing encrypted and unencrypted backups is refused. The keys it hands out decrypt what the
 * backup's key encrypted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.intern.h"
#include "hfsync/crypto.h"
#include "hfsync/util.h"

/* An encrypted native meta whose key comes from `password`, at a cheap scrypt cost. The key is
 * returned in *key when asked for (caller frees). */
static BackupMeta *enc_meta(const char *name, const char *password, CryptoKey **key)
{
    BackupMeta *m = x_calloc(1, sizeof(*m));
    m->name = x_strdup(name);
    m->native = true;
    m->encrypted = true;
    m->cipher.kdf_n = 1024;
    Error err = {0};
    CryptoKey *k = crypto_key_create(password, &m->cipher, &err);
    if (k == NULL)
        fail_msg("crypto_key_create: %s", err.msg);
    if (key != NULL)
        *key = k;
    else
        crypto_key_free(k);
    return m;
}

static BackupMeta *plain_meta(const char *name)
{
    BackupMeta *m = x_calloc(1, sizeof(*m));
    m->name = x_strdup(name);
    m->native = true;
    return m;
}

static void config_with(Config *cfg, const char *password, const char *const *old, size_t count)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->password = password ? x_strdup(password) : NULL;
    cfg->old_passwords = x_calloc(count + 1, sizeof(char *));
    for (size_t i = 0; i < count; i++)
        cfg->old_passwords[i] = x_strdup(old[i]);
    cfg->old_password_count = count;
}

/* Encrypt a message with `enc` and read it back with `dec`: true when `dec` is the same key. */
static bool same_key(const CryptoKey *enc, const CryptoKey *dec)
{
    Error err = {0};
    static const char msg[] = "a record or two";
    Sink *buf = buffer_sink_new();
    Sink *s = aead_sink_new(buf, enc, "x.vol-0001.tar.zst.enc", NULL, &err);
    assert_non_null(s);
    assert_true(sink_write(s, msg, sizeof(msg), &err) && sink_finish(s, &err));
    size_t size;
    const uint8_t *data = buffer_sink_data(buf, &size);
    Reader *raw = buffer_reader_new(data, size, 0);
    Reader *r = aead_reader_new(raw, dec, "x.vol-0001.tar.zst.enc", &err);
    char out[64];
    ssize_t n = reader_read_full(r, out, sizeof(out), &err);
    bool same = n == (ssize_t)sizeof(msg) && memcmp(out, msg, sizeof(msg)) == 0;
    reader_free(r);
    reader_free(raw);
    sink_free(s);
    sink_free(buf);
    return same;
}

static void test_unencrypted_needs_no_key(void **state)
{
    (void)state;
    Config cfg;
    config_with(&cfg, NULL, NULL, 0);
    Keyring *kr = keyring_new(&cfg);
    BackupMeta *m = plain_meta("20261121-101500F");
    const CryptoKey *key = (const CryptoKey *)&cfg; /* must be reset */
    Error err = {0};
    assert_true(keyring_open(kr, m, &key, &err));
    assert_null(key);
    meta_free(m);
    keyring_free(kr);
    config_free(&cfg);
}

static void test_current_password_opens_once(void **state)
{
    (void)state;
    Config cfg;
    config_with(&cfg, "current", NULL, 0);
    Keyring *kr = keyring_new(&cfg);
    CryptoKey *made;
    BackupMeta *full = enc_meta("20261121-101500F", "current", &made);
    BackupMeta *inc = enc_meta("20261121-103000I", "current", NULL);
    inc->cipher = full->cipher; /* an incremental reuses its chain's parameters */
    const CryptoKey *k1 = NULL, *k2 = NULL;
    Error err = {0};
    assert_true(keyring_open(kr, full, &k1, &err));
    assert_non_null(k1);
    assert_true(same_key(made, k1));
    assert_true(keyring_open(kr, inc, &k2, &err));
    assert_ptr_equal(k1, k2); /* derived once for the parameter set */
    meta_free(full);
    meta_free(inc);
    crypto_key_free(made);
    keyring_free(kr);
    config_free(&cfg);
}

static void test_old_passwords_open_old_chains(void **state)
{
    (void)state;
    static const char *const old[] = {"first ever", "second"};
    Config cfg;
    config_with(&cfg, "current", old, 2);
    Keyring *kr = keyring_new(&cfg);
    CryptoKey *made;
    BackupMeta *a = enc_meta("20261121-101500F", "second", &made);
    BackupMeta *b = enc_meta("20261121-111500F", "first ever", NULL);
    BackupMeta *c = enc_meta("20261121-121500F", "current", NULL);
    const CryptoKey *ka = NULL, *kb = NULL, *kc = NULL;
    Error err = {0};
    assert_true(keyring_open(kr, a, &ka, &err));
    assert_true(same_key(made, ka));
    assert_true(keyring_open(kr, b, &kb, &err));
    assert_true(keyring_open(kr, c, &kc, &err));
    assert_non_null(kb);
    assert_non_null(kc);
    assert_ptr_not_equal(ka, kb);
    assert_ptr_not_equal(kb, kc);
    meta_free(a);
    meta_free(b);
    meta_free(c);
    crypto_key_free(made);
    keyring_free(kr);
    config_free(&cfg);
}

static void test_wrong_password(void **state)
{
    (void)state;
    BackupMeta *m = enc_meta("20261121-101500F", "the right one", NULL);
    const CryptoKey *key = NULL;
    Error err = {0};

    Config cfg;
    config_with(&cfg, "not it", NULL, 0);
    Keyring *kr = keyring_new(&cfg);
    assert_false(keyring_open(kr, m, &key, &err));
    assert_null(key);
    assert_int_equal(err.code, ERR_USAGE);
    assert_true(str_starts_with(err.msg, "wrong password for backup '20261121-101500F': the "
                                         "configured password does not match its key check"));
    assert_non_null(strstr(err.msg, "hint: "));
    keyring_free(kr);
    config_free(&cfg);

    static const char *const old[] = {"older", "oldest"};
    config_with(&cfg, "not it", old, 2);
    kr = keyring_new(&cfg);
    assert_false(keyring_open(kr, m, &key, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_true(str_starts_with(err.msg, "wrong password for backup '20261121-101500F': no "
                                         "configured password matches its key check (tried "
                                         "HFSYNC_PASSWORD and 2 from HFSYNC_OLD_PASSWORDS_FILE)"));
    /* No password is ever quoted. */
    assert_null(strstr(err.msg, "not it"));
    assert_null(strstr(err.msg, "older"));
    keyring_free(kr);
    config_free(&cfg);

    config_with(&cfg, NULL, old, 1);
    kr = keyring_new(&cfg);
    assert_false(keyring_open(kr, m, &key, &err));
    assert_non_null(strstr(err.msg, "(tried 1 from HFSYNC_OLD_PASSWORDS_FILE)"));
    keyring_free(kr);
    config_free(&cfg);

    config_with(&cfg, NULL, NULL, 0);
    kr = keyring_new(&cfg);
    assert_false(keyring_open(kr, m, &key, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_true(str_starts_with(err.msg, "backup '20261121-101500F' is encrypted and no password "
                                         "is set"));
    keyring_free(kr);
    config_free(&cfg);
    meta_free(m);
}

static void test_hostile_parameters(void **state)
{
    (void)state;
    Config cfg;
    config_with(&cfg, "current", NULL, 0);
    Keyring *kr = keyring_new(&cfg);
    BackupMeta *m = enc_meta("20261121-101500F", "current", NULL);
    m->cipher.kdf_n = 1u << 30; /* 128 GiB of scrypt memory */
    const CryptoKey *key = NULL;
    Error err = {0};
    assert_false(keyring_open(kr, m, &key, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_true(str_starts_with(err.msg, "backup '20261121-101500F': scrypt parameters"));
    meta_free(m);
    keyring_free(kr);
    config_free(&cfg);
}

static void test_mixed_chain_is_refused(void **state)
{
    (void)state;
    Config cfg;
    config_with(&cfg, "current", NULL, 0);
    Keyring *kr = keyring_new(&cfg);
    BackupMeta *metas[3] = {enc_meta("20261121-101500F", "current", NULL),
                            plain_meta("20261121-103000I"),
                            enc_meta("20261121-104500I", "current", NULL)};
    metas[2]->cipher = metas[0]->cipher;
    Chain chain = {.metas = metas, .count = 3};
    const CryptoKey *keys[3] = {0};
    Error err = {0};
    assert_false(keyring_open_chain(kr, &chain, keys, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "mixes encrypted and unencrypted backups ('20261121-103000I' "
                                    "is not encrypted)"));

    metas[1]->encrypted = true;
    metas[1]->cipher = metas[0]->cipher;
    assert_true(keyring_open_chain(kr, &chain, keys, &err));
    assert_non_null(keys[0]);
    assert_ptr_equal(keys[0], keys[1]);
    assert_ptr_equal(keys[1], keys[2]);
    for (int i = 0; i < 3; i++)
        meta_free(metas[i]);
    keyring_free(kr);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unencrypted_needs_no_key),
        cmocka_unit_test(test_current_password_opens_once),
        cmocka_unit_test(test_old_passwords_open_old_chains),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_hostile_parameters),
        cmocka_unit_test(test_mixed_chain_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
