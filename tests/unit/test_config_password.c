/* Config: the encryption passwords (config_secret.c): HFSYNC_PASSWORD, HFSYNC_PASSWORD_FILE, the
 * original script's OPENCLAW_BACKUP_ENCRYPTION_* pair and HFSYNC_OLD_PASSWORDS_FILE, with their
 * precedence, their errors, and no password ever quoted in a message. (Kept apart from
 * test_config.c, which is past the size files are split at.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/config.h"
#include "hfsync/util.h"
#include "support/testutil.h"

static const char *fake_getenv(const char *name, void *ctx)
{
    for (const char *const *kv = ctx; kv[0] != NULL; kv += 2) {
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    }
    return NULL;
}

#define ENV(...) ((const char *const[]){"HFSYNC_SOURCE", "/srv/state", __VA_ARGS__, NULL})

static void load_ok(const char *const *env, Config *cfg)
{
    Error err = {0};
    bool ok = config_load(cfg, fake_getenv, (void *)env, &err);
    if (!ok)
        fail_msg("unexpected failure: %s", err.msg);
}

/* Loading fails with ERR_USAGE and a message starting with `msg` that never contains `secret`. */
static void load_fails(const char *const *env, const char *msg, const char *secret)
{
    Config cfg;
    Error err = {0};
    assert_false(config_load(&cfg, fake_getenv, (void *)env, &err));
    assert_int_equal(err.code, ERR_USAGE);
    if (!str_starts_with(err.msg, msg))
        fail_msg("message '%s' does not start with '%s'", err.msg, msg);
    if (secret != NULL && strstr(err.msg, secret) != NULL)
        fail_msg("message '%s' quotes the secret", err.msg);
    assert_null(cfg.password);
}

typedef struct Dir {
    char *path;
} Dir;

static int dir_setup(void **state)
{
    Dir *d = x_calloc(1, sizeof(*d));
    d->path = test_tmpdir();
    *state = d;
    return 0;
}

static int dir_teardown(void **state)
{
    Dir *d = *state;
    test_rmtree(d->path);
    free(d->path);
    free(d);
    return 0;
}

static void test_no_password_by_default(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_LOG_LEVEL", "info"), &cfg);
    assert_null(cfg.password);
    assert_null(cfg.old_passwords);
    assert_int_equal(cfg.old_password_count, 0);
    config_free(&cfg);
    /* An empty value is no value, as for every variable. */
    load_ok(ENV("HFSYNC_PASSWORD", ""), &cfg);
    assert_null(cfg.password);
    config_free(&cfg);
}

static void test_password_variable(void **state)
{
    (void)state;
    Config cfg;
    load_ok(ENV("HFSYNC_PASSWORD", " spaces and ünïcode, kept as given "), &cfg);
    assert_string_equal(cfg.password, " spaces and ünïcode, kept as given ");
    config_free(&cfg);
    assert_null(cfg.password); /* config_free wipes and clears */

    load_fails(ENV("HFSYNC_PASSWORD", "tab\there"),
               "HFSYNC_PASSWORD: the password contains a control character", "tab\there");

    /* Flags go through config_set with the same rules. */
    load_ok(ENV("HFSYNC_LOG_LEVEL", "info"), &cfg);
    Error err = {0};
    assert_true(config_set(&cfg, "HFSYNC_PASSWORD", "from-a-flag", &err));
    assert_string_equal(cfg.password, "from-a-flag");
    assert_false(config_set(&cfg, "HFSYNC_PASSWORD", "bad\nline", &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_null(strstr(err.msg, "bad\nline"));
    config_free(&cfg);
}

static void test_password_file(void **state)
{
    Dir *d = *state;
    test_write_file(d->path, "pw", "first line secret\r\nsecond line is ignored\n");
    test_write_file(d->path, "empty-first", "\nsecret on line two\n");
    char *pw = path_join(d->path, "pw");
    char *empty = path_join(d->path, "empty-first");
    char *missing = path_join(d->path, "missing");

    Config cfg;
    load_ok(ENV("HFSYNC_PASSWORD_FILE", pw), &cfg);
    assert_string_equal(cfg.password, "first line secret");
    config_free(&cfg);

    load_fails(ENV("HFSYNC_PASSWORD_FILE", empty), "HFSYNC_PASSWORD_FILE: '", "secret on line");
    load_fails(ENV("HFSYNC_PASSWORD_FILE", missing), "HFSYNC_PASSWORD_FILE: ", NULL);
    load_fails(ENV("HFSYNC_PASSWORD", "direct", "HFSYNC_PASSWORD_FILE", pw),
               "HFSYNC_PASSWORD and HFSYNC_PASSWORD_FILE are both set; keep one of them", "direct");
    free(pw);
    free(empty);
    free(missing);
}

static void test_openclaw_password(void **state)
{
    Dir *d = *state;
    Config cfg;
    /* As in the script: the password counts only when encryption is enabled. */
    load_ok(ENV("OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", "script-pw"), &cfg);
    assert_null(cfg.password);
    config_free(&cfg);
    load_ok(ENV("OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", "script-pw",
                "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", "false"),
            &cfg);
    assert_null(cfg.password);
    config_free(&cfg);
    load_ok(ENV("OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", "script-pw",
                "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", "true"),
            &cfg);
    assert_string_equal(cfg.password, "script-pw");
    config_free(&cfg);

    /* hfsync's names come first. */
    load_ok(ENV("HFSYNC_PASSWORD", "ours", "OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", "script-pw",
                "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", "true"),
            &cfg);
    assert_string_equal(cfg.password, "ours");
    config_free(&cfg);
    test_write_file(d->path, "pw", "from-the-file\n");
    char *pw = path_join(d->path, "pw");
    load_ok(ENV("HFSYNC_PASSWORD_FILE", pw, "OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", "script-pw",
                "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", "true"),
            &cfg);
    assert_string_equal(cfg.password, "from-the-file");
    config_free(&cfg);
    free(pw);

    load_fails(ENV("OPENCLAW_BACKUP_ENCRYPTION_ENABLED", "true"),
               "OPENCLAW_BACKUP_ENCRYPTION_ENABLED is true but no password is set", NULL);
    load_fails(ENV("OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", "script-pw",
                   "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", "sometimes"),
               "OPENCLAW_BACKUP_ENCRYPTION_ENABLED: 'sometimes'", "script-pw");
}

static void test_old_passwords_file(void **state)
{
    Dir *d = *state;
    test_write_file(d->path, "old", "oldest one\r\n\n  spaced  \nlast without newline");
    char *old = path_join(d->path, "old");
    Config cfg;
    load_ok(ENV("HFSYNC_PASSWORD", "current", "HFSYNC_OLD_PASSWORDS_FILE", old), &cfg);
    assert_string_equal(cfg.password, "current");
    assert_int_equal(cfg.old_password_count, 3);
    assert_string_equal(cfg.old_passwords[0], "oldest one");
    assert_string_equal(cfg.old_passwords[1], "  spaced  ");
    assert_string_equal(cfg.old_passwords[2], "last without newline");
    config_free(&cfg);
    assert_null(cfg.old_passwords);
    assert_int_equal(cfg.old_password_count, 0);

    /* Old passwords alone are enough to restore old backups. */
    load_ok(ENV("HFSYNC_OLD_PASSWORDS_FILE", old), &cfg);
    assert_null(cfg.password);
    assert_int_equal(cfg.old_password_count, 3);
    config_free(&cfg);

    test_write_file(d->path, "blank", "\n\r\n\n");
    char *blank = path_join(d->path, "blank");
    load_ok(ENV("HFSYNC_OLD_PASSWORDS_FILE", blank), &cfg);
    assert_int_equal(cfg.old_password_count, 0);
    config_free(&cfg);

    char *missing = path_join(d->path, "missing");
    load_fails(ENV("HFSYNC_OLD_PASSWORDS_FILE", missing), "HFSYNC_OLD_PASSWORDS_FILE: ", NULL);

    char *nul = path_join(d->path, "nul");
    FILE *f = fopen(nul, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("secret-a\0secret-b\n", 1, 18, f), 18);
    assert_int_equal(fclose(f), 0);
    load_fails(ENV("HFSYNC_OLD_PASSWORDS_FILE", nul), "HFSYNC_OLD_PASSWORDS_FILE: '", "secret-a");
    free(old);
    free(blank);
    free(missing);
    free(nul);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_password_by_default),
        cmocka_unit_test(test_password_variable),
        cmocka_unit_test_setup_teardown(test_password_file, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_openclaw_password, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_old_passwords_file, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
