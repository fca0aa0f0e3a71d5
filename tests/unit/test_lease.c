/* The writer lease object on an in-memory target: take, renew, refuse, expire, release, and
 * lease objects a hostile or broken target could hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/lease.h"
#include "hfsync/util.h"

static Storage *fresh_target(void)
{
    static int counter;
    char name[64];
    snprintf(name, sizeof(name), "test-lease-%d-%d", (int)getpid(), ++counter);
    return storage_mem_open(name);
}

/* Take `l` at `now`; returns whether it was won, with the holder in *holder. */
static bool take(Storage *st, Lease *l, int64_t now, bool held, Lease *holder)
{
    LeaseOpts o = {.now = now, .ttl_sec = 60, .settle_ms = 0, .held = held};
    bool won = true;
    Error err = {0};
    if (!lease_take(st, l, &o, &won, holder, &err))
        fail_msg("lease_take: %s", err.msg);
    return won;
}

static Lease read_lease(Storage *st, bool *found)
{
    Lease l;
    Error err = {0};
    if (!lease_read(st, &l, found, &err))
        fail_msg("lease_read: %s", err.msg);
    return l;
}

static void test_take_and_read_back(void **state)
{
    (void)state;
    Storage *st = fresh_target();
    bool found;
    read_lease(st, &found);
    assert_false(found);

    Lease a, h;
    lease_init(&a, "entrypoint");
    assert_int_equal(strlen(a.owner), 32);
    assert_int_equal(a.pid, (long)getpid());
    assert_true(take(st, &a, 1000, false, &h));
    assert_true(a.expires == 1060);
    assert_true(a.acquired == 1000);
    assert_string_equal(h.owner, a.owner);

    Lease r = read_lease(st, &found);
    assert_true(found);
    assert_string_equal(r.owner, a.owner);
    assert_string_equal(r.host, a.host);
    assert_string_equal(r.mode, "entrypoint");
    assert_int_equal(r.pid, a.pid);
    assert_true(r.expires == 1060);
    assert_true(r.acquired == 1000);
    assert_true(lease_live(&r, 1059));
    assert_false(lease_live(&r, 1060));

    /* two inits never share an owner token */
    Lease b;
    lease_init(&b, "daemon");
    assert_string_not_equal(a.owner, b.owner);
    storage_free(st);
}

static void test_foreign_live_lease_refuses(void **state)
{
    (void)state;
    Storage *st = fresh_target();
    Lease a, b, h;
    lease_init(&a, "entrypoint");
    lease_init(&b, "entrypoint");
    assert_true(take(st, &a, 1000, false, &h));
    assert_false(take(st, &b, 1030, false, &h));
    assert_string_equal(h.owner, a.owner);
    assert_true(h.expires == 1060);
    bool found;
    Lease r = read_lease(st, &found);
    assert_string_equal(r.owner, a.owner); /* untouched */

    char text[400];
    lease_describe(&h, text, sizeof(text));
    assert_non_null(strstr(text, "hfsync entrypoint on host '"));
    assert_non_null(strstr(text, "lease until "));
    storage_free(st);
}

static void test_expired_lease_is_taken_over(void **state)
{
    (void)state;
    Storage *st = fresh_target();
    Lease a, b, h;
    lease_init(&a, "entrypoint");
    lease_init(&b, "daemon");
    assert_true(take(st, &a, 1000, false, &h));
    assert_true(take(st, &b, 1060, false, &h)); /* expires at 1060: free from then on */
    bool found;
    Lease r = read_lease(st, &found);
    assert_string_equal(r.owner, b.owner);
    assert_string_equal(r.mode, "daemon");

    /* a, renewing what it thinks it holds, finds it lost */
    assert_false(take(st, &a, 1070, true, &h));
    assert_string_equal(h.owner, b.owner);
    storage_free(st);
}

static void test_renewal_extends(void **state)
{
    (void)state;
    Storage *st = fresh_target();
    Lease a, h;
    lease_init(&a, "entrypoint");
    assert_true(take(st, &a, 1000, false, &h));
    assert_true(take(st, &a, 1030, true, &h));
    assert_true(a.expires == 1090);
    assert_true(a.acquired == 1000); /* still the same tenure */
    bool found;
    Lease r = read_lease(st, &found);
    assert_true(r.expires == 1090);
    storage_free(st);
}

static void test_release_only_own(void **state)
{
    (void)state;
    Storage *st = fresh_target();
    Lease a, b, h;
    lease_init(&a, "entrypoint");
    lease_init(&b, "entrypoint");
    assert_true(take(st, &a, 1000, false, &h));
    Error err = {0};
    assert_true(lease_release(st, &b, &err)); /* not b's: left alone */
    bool found;
    read_lease(st, &found);
    assert_true(found);
    assert_true(lease_release(st, &a, &err));
    read_lease(st, &found);
    assert_false(found);
    assert_true(lease_release(st, &a, &err)); /* nothing there: fine */
    storage_free(st);
}

static void test_unreadable_lease_counts_as_expired(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "not json", "[1,2]", "{\"owner\":\"x\"}",
                                      "{\"expires\":\"soon\",\"owner\":\"x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Storage *st = fresh_target();
        Error err = {0};
        assert_true(storage_put(st, LEASE_PATH, bad[i], strlen(bad[i]), &err));
        bool found;
        Lease r = read_lease(st, &found);
        assert_true(found);
        assert_false(lease_live(&r, 0));
        Lease a, h;
        lease_init(&a, "backup");
        assert_true(take(st, &a, 1000, false, &h));
        storage_free(st);
    }

    /* far too large: not read, counts as expired */
    Storage *st = fresh_target();
    size_t n = 64 * 1024;
    char *big = x_malloc(n);
    memset(big, ' ', n);
    Error err = {0};
    assert_true(storage_put(st, LEASE_PATH, big, n, &err));
    free(big);
    bool found;
    Lease r = read_lease(st, &found);
    assert_true(found);
    assert_false(lease_live(&r, 0));
    storage_free(st);
}

static void test_hostile_fields_are_made_printable(void **state)
{
    (void)state;
    Storage *st = fresh_target();
    const char *json = "{\"owner\":\"o\\u001b[31m\",\"host\":\"h\\nfake log line\",\"pid\":5,"
                       "\"mode\":\"entrypoint-with-a-very-long-mode-name\",\"expires\":2000}";
    Error err = {0};
    assert_true(storage_put(st, LEASE_PATH, json, strlen(json), &err));
    bool found;
    Lease r = read_lease(st, &found);
    assert_true(found);
    assert_string_equal(r.owner, "o?[31m");
    assert_string_equal(r.host, "h?fake log line");
    assert_int_equal(strlen(r.mode), sizeof(r.mode) - 1); /* cut, not overflowed */
    assert_true(lease_live(&r, 1999));
    storage_free(st);
}

static void test_confirmation_path(void **state)
{
    (void)state;
    /* A fresh take waits and reads back; alone on the target it wins. */
    Storage *st = fresh_target();
    Lease a, h;
    lease_init(&a, "entrypoint");
    LeaseOpts o = {.now = 1000, .ttl_sec = 60, .settle_ms = 1};
    bool won = false;
    Error err = {0};
    assert_true(lease_take(st, &a, &o, &won, &h, &err));
    assert_true(won);
    storage_free(st);
}

static void test_supported_targets(void **state)
{
    (void)state;
    assert_true(lease_supported(&(Target){.kind = TARGET_FILE}));
    assert_true(lease_supported(&(Target){.kind = TARGET_MEM}));
    assert_true(lease_supported(&(Target){.kind = TARGET_S3}));
    assert_false(lease_supported(&(Target){.kind = TARGET_HF}));
    assert_false(lease_supported(&(Target){.kind = TARGET_NONE}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_and_read_back),
        cmocka_unit_test(test_foreign_live_lease_refuses),
        cmocka_unit_test(test_expired_lease_is_taken_over),
        cmocka_unit_test(test_renewal_extends),
        cmocka_unit_test(test_release_only_own),
        cmocka_unit_test(test_unreadable_lease_counts_as_expired),
        cmocka_unit_test(test_hostile_fields_are_made_printable),
        cmocka_unit_test(test_confirmation_path),
        cmocka_unit_test(test_supported_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
