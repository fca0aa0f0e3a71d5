/* Exclude patterns: syntax checks and matching, one table row per rule of exclude.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hfsync/exclude.h"
#include "hfsync/util.h"

static bool match1(const char *pattern, const char *path, bool is_dir)
{
    char *const patterns[] = {(char *)pattern};
    return exclude_match(patterns, 1, path, is_dir);
}

typedef struct MatchCase {
    const char *pattern;
    const char *path;
    bool is_dir;
    bool want;
} MatchCase;

static void check_cases(const MatchCase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool got = match1(cases[i].pattern, cases[i].path, cases[i].is_dir);
        if (got != cases[i].want)
            print_error("pattern '%s' path '%s' dir %d: got %d\n", cases[i].pattern, cases[i].path,
                        cases[i].is_dir, got);
        assert_int_equal(got, cases[i].want);
    }
}

static void test_check_good(void **state)
{
    (void)state;
    static const char *const good[] = {
        "*.tmp",  "node_modules", "/logs",       "cache/*.bin", "build/", "a/**/x",
        "**",     "**/*.log",     "[abc]*",      "[!a-z]",      "[]x]",   "[^]]",
        "\\[lit", "x\\*",         "[[:alpha:]]", "a b/c",       "/a/b/",  "x[\\]]y",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        Error err = {0};
        if (!exclude_check(good[i], &err))
            print_error("'%s': %s\n", good[i], err.msg);
        assert_true(exclude_check(good[i], &err));
    }
}

static void test_check_bad(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *why;
    } bad[] = {
        {"", "it is empty"},
        {"/", "it names nothing"},
        {"//", "it names nothing"},
        {"a//b", "empty path component"},
        {"//a", "empty path component"},
        {"a/b//", "empty path component"},
        {"[abc", "unbalanced '['"},
        {"x/[a-", "unbalanced '['"},
        {"[a/b]", "unbalanced '['"},
        {"[]", "unbalanced '['"},
        {"[!]", "unbalanced '['"},
        {"a\\", "'\\' at the end of a component"},
        {"a\\/b", "'\\' at the end of a component"},
        {"../x", "'.' and '..' components never match"},
        {"a/./b", "'.' and '..' components never match"},
        {".", "'.' and '..' components never match"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Error err = {0};
        assert_false(exclude_check(bad[i].pattern, &err));
        assert_int_equal(err.code, ERR_USAGE);
        char *want = str_printf("'%s' is not a valid exclude pattern (%s); use globs such as "
                                "*.tmp, cache/ or logs/**/*.gz",
                                bad[i].pattern, bad[i].why);
        assert_string_equal(err.msg, want);
        free(want);
    }
}

static void test_unanchored(void **state)
{
    (void)state;
    static const MatchCase cases[] = {
        {"*.tmp", "x.tmp", false, true},
        {"*.tmp", "a/b/c/x.tmp", false, true},
        {"*.tmp", "a/x.tmp/y", false, false}, /* the entry's own name only */
        {"*.tmp", "x.tmpl", false, false},
        {"*.tmp", ".hidden.tmp", false, true}, /* '*' matches a leading dot */
        {"node_modules", "node_modules", true, true},
        {"node_modules", "app/web/node_modules", true, true},
        {"node_modules", "app/node_modules_old", true, false},
        {"?.c", "src/a.c", false, true},
        {"?.c", "src/ab.c", false, false},
        {"[ab]*", "dir/beta", false, true},
        {"[!ab]*", "dir/beta", false, false},
        {"\\*", "*", false, true},
        {"\\*", "x", false, false},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_anchored(void **state)
{
    (void)state;
    static const MatchCase cases[] = {
        {"cache/*.bin", "cache/a.bin", false, true},
        {"cache/*.bin", "x/cache/a.bin", false, false},
        {"cache/*.bin", "cache/sub/a.bin", false, false}, /* '*' never crosses '/' */
        {"/logs", "logs", true, true},
        {"/logs", "a/logs", true, false},
        {"/logs", "logs/x", false, false},
        {"a/b", "a/b", false, true},
        {"a/b", "a/bc", false, false},
        {"a/b", "a", true, false},
        {"a/*", "a/x", false, true},
        {"*/x", "q/x", false, true},
        {"*/x", "q/r/x", false, false},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_double_star(void **state)
{
    (void)state;
    static const MatchCase cases[] = {
        {"a/**/x", "a/x", false, true}, /* zero components */
        {"a/**/x", "a/b/x", false, true},
        {"a/**/x", "a/b/c/d/x", false, true},
        {"a/**/x", "a/b/c/d/y", false, false},
        {"a/**/x", "b/a/x", false, false},
        {"a/**", "a", true, true},
        {"a/**", "a/b/c", false, true},
        {"a/**", "ab/c", false, false},
        {"**/*.log", "x.log", false, true},
        {"**/*.log", "deep/er/x.log", false, true},
        {"**/cache/**", "p/q/cache/r/s", false, true},
        {"**/cache/**", "p/q/cach/r/s", false, false},
        {"logs/**/*.gz", "logs/2024/01/a.gz", false, true},
        {"logs/**/*.gz", "logs/a.gz", false, true},
        {"logs/**/*.gz", "logs/2024/a.gzip", false, false},
        {"a/**/b/**/c", "a/x/b/y/z/c", false, true},
        {"a/**/b/**/c", "a/x/y/z/c", false, false},
        {"**", "anything/at/all", false, true},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_dir_only(void **state)
{
    (void)state;
    static const MatchCase cases[] = {
        {"build/", "build", true, true},   {"build/", "src/build", true, true},
        {"build/", "build", false, false}, {"build/", "src/build", false, false},
        {"/out/", "out", true, true},      {"/out/", "a/out", true, false},
        {"a/*/", "a/b", true, true},       {"a/*/", "a/b", false, false},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_several_patterns(void **state)
{
    (void)state;
    char *const patterns[] = {"*.tmp", "/cache", "build/"};
    assert_false(exclude_match(patterns, 0, "x.tmp", false));
    assert_true(exclude_match(patterns, 3, "x.tmp", false));
    assert_true(exclude_match(patterns, 3, "cache", true));
    assert_true(exclude_match(patterns, 3, "p/build", true));
    assert_false(exclude_match(patterns, 3, "p/build", false));
    assert_false(exclude_match(patterns, 3, "p/cache", true));
}

static void test_long_components(void **state)
{
    (void)state;
    /* past the matcher's stack buffers */
    char name[600];
    memset(name, 'n', sizeof(name) - 5);
    strcpy(name + sizeof(name) - 5, ".tmp");
    char *path = str_printf("dir/%s", name);
    assert_true(match1("*.tmp", path, false));
    char *pattern = str_printf("dir/%s", name);
    assert_true(match1(pattern, path, false));
    pattern[strlen(pattern) - 1] = 'q';
    assert_false(match1(pattern, path, false));
    free(pattern);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_good),       cmocka_unit_test(test_check_bad),
        cmocka_unit_test(test_unanchored),       cmocka_unit_test(test_anchored),
        cmocka_unit_test(test_double_star),      cmocka_unit_test(test_dir_only),
        cmocka_unit_test(test_several_patterns), cmocka_unit_test(test_long_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
