/* Hub settings (config_secret.c): token lookup order, endpoint, privacy, squash policy. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

static const char *fake_getenv(const char *name, void *ctx)
{
    for (const char *const *kv = ctx; kv[0] != NULL; kv += 2) {
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    }
    return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static bool load(const char *const *env, Config *cfg, Error *err)
{
    memset(err, 0, sizeof(*err));
    return config_load(cfg, fake_getenv, (void *)env, err);
}

static void test_hf_defaults(void **state)
{
    (void)state;
    Config cfg;
    Error err;
    assert_true(load(ENV("HOME", "/nonexistent-home"), &cfg, &err));
    assert_null(cfg.hf.token);
    assert_string_equal(cfg.hf.endpoint, "https://huggingface.co");
    assert_true(cfg.hf.private_repo);
    assert_int_equal(cfg.hf.squash, HF_SQUASH_AUTO);
    config_free(&cfg);
}

static void test_hf_token_order(void **state)
{
    (void)state;
    Config cfg;
    Error err;
    /* HF_TOKEN over HUGGING_FACE_HUB_TOKEN; HFSYNC_HF_TOKEN over both */
    assert_true(load(ENV("HF_TOKEN", "hf_a", "HUGGING_FACE_HUB_TOKEN", "hf_b"), &cfg, &err));
    assert_string_equal(cfg.hf.token, "hf_a");
    assert_string_equal(cfg.hf.token_from, "HF_TOKEN");
    config_free(&cfg);
    assert_true(load(ENV("HFSYNC_HF_TOKEN", "hf_c", "HF_TOKEN", "hf_a"), &cfg, &err));
    assert_string_equal(cfg.hf.token, "hf_c");
    config_free(&cfg);
    assert_true(load(ENV("HUGGING_FACE_HUB_TOKEN", "hf_b"), &cfg, &err));
    assert_string_equal(cfg.hf.token, "hf_b");
    assert_string_equal(cfg.hf.token_from, "HUGGING_FACE_HUB_TOKEN");
    config_free(&cfg);
}

static void test_hf_token_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/hfsync-hfcfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *file = path_join(dir, "token");
    Error err = {0};
    assert_true(fs_write_atomic(file, "hf_from_file\n", 13, &err));
    Config cfg;
    assert_true(load(ENV("HF_HOME", dir), &cfg, &err));
    assert_string_equal(cfg.hf.token, "hf_from_file");
    assert_string_equal(cfg.hf.token_from, file);
    config_free(&cfg);
    /* the environment wins over the file */
    assert_true(load(ENV("HF_HOME", dir, "HF_TOKEN", "hf_env"), &cfg, &err));
    assert_string_equal(cfg.hf.token, "hf_env");
    config_free(&cfg);
    unlink(file);
    rmdir(dir);
    free(file);
}

static void test_hf_bad_values(void **state)
{
    (void)state;
    Config cfg;
    Error err;
    assert_false(load(ENV("HF_TOKEN", "hf_a b"), &cfg, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "HF_TOKEN"));
    assert_null(strstr(err.msg, "hf_a b")); /* the token is never quoted */
    assert_false(load(ENV("HF_ENDPOINT", "huggingface.co"), &cfg, &err));
    assert_non_null(strstr(err.msg, "HF_ENDPOINT"));
    assert_false(load(ENV("HFSYNC_HF_SQUASH", "sometimes"), &cfg, &err));
    assert_non_null(strstr(err.msg, "auto, always or never"));
    assert_false(load(ENV("OPENCLAW_BACKUP_PRIVATE", "maybe"), &cfg, &err));
    assert_non_null(strstr(err.msg, "OPENCLAW_BACKUP_PRIVATE"));
}

static void test_hf_values(void **state)
{
    (void)state;
    Config cfg;
    Error err;
    assert_true(load(ENV("HF_ENDPOINT", "http://127.0.0.1:8080/", "OPENCLAW_BACKUP_PRIVATE",
                         "false", "HFSYNC_HF_SQUASH", "never"),
                     &cfg, &err));
    assert_string_equal(cfg.hf.endpoint, "http://127.0.0.1:8080");
    assert_false(cfg.hf.private_repo);
    assert_int_equal(cfg.hf.squash, HF_SQUASH_NEVER);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_defaults),   cmocka_unit_test(test_hf_token_order),
        cmocka_unit_test(test_hf_token_file), cmocka_unit_test(test_hf_bad_values),
        cmocka_unit_test(test_hf_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
