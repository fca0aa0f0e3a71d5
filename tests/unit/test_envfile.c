/* Env files: what each line form yields, and the exact error for each malformed one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

/* Collected assignments as "KEY=VALUE\x1f…" so a test compares one string. */
typedef struct Seen {
    char buf[4096];
    int count;
} Seen;

static void collect(const char *key, const char *value, void *ctx)
{
    Seen *s = ctx;
    size_t len = strlen(s->buf);
    snprintf(s->buf + len, sizeof(s->buf) - len, "%s=%s|", key, value);
    s->count++;
}

static void parses_to(const char *text, const char *want)
{
    Seen s = {0};
    Error err = {0};
    bool ok = envfile_parse_text(text, "t.env", collect, &s, &err);
    if (!ok)
        print_error("unexpected failure: %s\n", err.msg);
    assert_true(ok);
    assert_string_equal(s.buf, want);
}

static void fails_with(const char *text, const char *want)
{
    Seen s = {0};
    Error err = {0};
    assert_false(envfile_parse_text(text, "t.env", collect, &s, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_string_equal(err.msg, want);
}

static void test_plain_and_export(void **state)
{
    (void)state;
    parses_to("A=1\nexport B=two\nexport\tC=3\n", "A=1|B=two|C=3|");
    parses_to("_x9=v", "_x9=v|"); /* no final newline */
    parses_to("EMPTY=\nE2=''\nE3=\"\"", "EMPTY=|E2=|E3=|");
    parses_to("  INDENTED=yes  \n", "INDENTED=yes|");
    parses_to("A= spaced\n", "A=spaced|");
    parses_to("URL=https://x.example/a?b=c&d=e\n", "URL=https://x.example/a?b=c&d=e|");
    parses_to("A=1\nA=2\n", "A=1|A=2|"); /* every assignment is reported, in order */
    parses_to("export=1\n", "export=1|");
}

static void test_quotes(void **state)
{
    (void)state;
    parses_to("A='a b $HOME \\n \"q\"'\n", "A=a b $HOME \\n \"q\"|");
    parses_to("A=\"x \\\"y\\\" \\\\ \\$HOME\\nz\"\n", "A=x \"y\" \\ $HOME\nz|");
    parses_to("A=\"keep \\t and \\a\"\n", "A=keep \\t and \\a|"); /* unknown escapes stay */
    parses_to("A=\"#not comment\" # comment\n", "A=#not comment|");
    parses_to("A='it'\"'\"'s'\n", "A=it's|"); /* concatenated, as in a shell */
    parses_to("A=pre\"mid dle\"post\n", "A=premid dlepost|");
}

static void test_never_executed(void **state)
{
    (void)state;
    parses_to("A=$(id)\nB=`id`\nC=${HOME}\n", "A=$(id)|B=`id`|C=${HOME}|");
    /* a shell would run these; here they are text */
    parses_to("A=\"$(touch /tmp/hfsync-pwned)\"\nB=\"`id`\"\n",
              "A=$(touch /tmp/hfsync-pwned)|B=`id`|");
}

static void test_comments_and_blank_lines(void **state)
{
    (void)state;
    parses_to("# header\n\n   \n\t# indented comment\nA=1 # trailing\nB=x#y\nC=  # only\n",
              "A=1|B=x#y|C=|");
}

static void test_crlf_and_bom(void **state)
{
    (void)state;
    parses_to("A=1\r\nB='two'\r\n\r\n# c\r\n", "A=1|B=two|");
    parses_to("\xEF\xBB\xBF"
              "A=1\n",
              "A=1|");
    parses_to("", "");
}

static void test_errors(void **state)
{
    (void)state;
    fails_with("A=1\nno equals here\n", "t.env:2: expected KEY=VALUE");
    fails_with("export\n", "t.env:1: expected KEY=VALUE");
    fails_with("1A=x\n", "t.env:1: '1A' is not a variable name; use letters, digits and '_', not "
                         "starting with a digit, and no spaces around '='");
    fails_with("A-B=x\n", "t.env:1: 'A-B' is not a variable name; use letters, digits and '_', "
                          "not starting with a digit, and no spaces around '='");
    fails_with("A =x\n", "t.env:1: 'A ' is not a variable name; use letters, digits and '_', not "
                         "starting with a digit, and no spaces around '='");
    fails_with("=x\n", "t.env:1: missing variable name before '='");
    fails_with("\n\nA='open\n", "t.env:3: unterminated single quote");
    fails_with("A=\"open\\\"\n", "t.env:1: unterminated double quote");
    fails_with("A=\"multi\nline\"\n", "t.env:1: unterminated double quote");
    fails_with("A=two words\n",
               "t.env:1: unexpected text after the value; quote a value that contains spaces");
    fails_with("A='x' y\n",
               "t.env:1: unexpected text after the value; quote a value that contains spaces");
    fails_with("A=1\r\nB\r\n", "t.env:2: expected KEY=VALUE");
}

static void test_errors_never_show_values(void **state)
{
    (void)state;
    Seen s = {0};
    Error err = {0};
    assert_false(envfile_parse_text("TOKEN='hf_s3cr3t\n", "t.env", collect, &s, &err));
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_false(envfile_parse_text("hf_s3cr3t\n", "t.env", collect, &s, &err));
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_false(envfile_parse_text("TOKEN=hf_s3cr3t more\n", "t.env", collect, &s, &err));
    assert_null(strstr(err.msg, "s3cr3t"));
}

static void test_stops_at_first_error(void **state)
{
    (void)state;
    Seen s = {0};
    Error err = {0};
    assert_false(envfile_parse_text("A=1\nbad\nB=2\n", "t.env", collect, &s, &err));
    assert_string_equal(s.buf, "A=1|");
}

static void test_parse_file(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hfsync-test-envfile-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    const char text[] = "export HFSYNC_PREFIX='p q'\nX=1\nbroken line\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);

    Seen s = {0};
    Error err = {0};
    assert_false(envfile_parse(tmpl, collect, &s, &err));
    char *want = str_printf("%s:3: expected KEY=VALUE", tmpl);
    assert_string_equal(err.msg, want);
    free(want);
    assert_string_equal(s.buf, "HFSYNC_PREFIX=p q|X=1|");

    fd = open(tmpl, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "A=1\0B=2\n", 8), 8);
    close(fd);
    assert_false(envfile_parse(tmpl, collect, &s, &err));
    assert_int_equal(err.code, ERR_USAGE);
    want = str_printf("%s: contains a NUL byte; expected a text file", tmpl);
    assert_string_equal(err.msg, want);
    free(want);
    unlink(tmpl);

    assert_false(envfile_parse(tmpl, collect, &s, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_export),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_never_executed),
        cmocka_unit_test(test_comments_and_blank_lines),
        cmocka_unit_test(test_crlf_and_bom),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_errors_never_show_values),
        cmocka_unit_test(test_stops_at_first_error),
        cmocka_unit_test(test_parse_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
