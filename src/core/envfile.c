/*
 * Env files (config.h): KEY=VALUE lines, read as data and never executed, so `$(cmd)`, backticks
 * and `$VAR` stay literal text. Quotes follow the shell closely enough that a file written for
 * `docker --env-file` or sourced by a shell means the same here: single quotes are literal,
 * double quotes know \" \\ \n and \$, and a value ends at unquoted whitespace.
 *
 * Errors name the origin and line, never the value: env files hold secrets.
 */
#include "hfsync/config.h"

#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"

#define ENVFILE_MAX_SIZE (1u << 20)

typedef struct EnvLine {
    const char *origin;
    size_t lineno;
} EnvLine;

static bool env_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool env_is_key_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static const char *env_skip_blanks(const char *s, const char *end)
{
    while (s < end && env_is_blank(*s))
        s++;
    return s;
}

static bool env_fail(const EnvLine *at, Error *err, const char *why)
{
    return error_set(err, ERR_USAGE, "%s:%zu: %s", at->origin, at->lineno, why);
}

/* The value after '=' into `val`; `s` is just past the '='. */
static bool env_parse_value(const char *s, const char *end, char *val, const EnvLine *at,
                            Error *err)
{
    char *o = val;
    const char *start = s;
    s = env_skip_blanks(s, end);
    if (s > start && s < end && *s == '#') /* "KEY= # comment" */
        s = end;
    while (s < end) {
        if (*s == '\'') {
            const char *close = memchr(s + 1, '\'', (size_t)(end - s - 1));
            if (close == NULL)
                return env_fail(at, err, "unterminated single quote");
            memcpy(o, s + 1, (size_t)(close - s - 1));
            o += close - s - 1;
            s = close + 1;
        } else if (*s == '"') {
            for (s++;; s++) {
                if (s == end)
                    return env_fail(at, err, "unterminated double quote");
                if (*s == '"')
                    break;
                if (*s == '\\' && s + 1 < end &&
                    (s[1] == '"' || s[1] == '\\' || s[1] == 'n' || s[1] == '$')) {
                    s++;
                    *o++ = *s == 'n' ? '\n' : *s;
                } else {
                    *o++ = *s;
                }
            }
            s++;
        } else if (env_is_blank(*s)) {
            s = env_skip_blanks(s, end);
            if (s < end && *s != '#')
                return env_fail(at, err,
                                "unexpected text after the value; quote a value that "
                                "contains spaces");
            break;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return true;
}

/* One line without its end of line. `*assigned` tells whether it held an assignment. */
static bool env_parse_line(const char *s, const char *end, char *key, char *val, bool *assigned,
                           const EnvLine *at, Error *err)
{
    *assigned = false;
    s = env_skip_blanks(s, end);
    if (s == end || *s == '#')
        return true;
    if (end - s > 6 && memcmp(s, "export", 6) == 0 && env_is_blank(s[6]))
        s = env_skip_blanks(s + 6, end);

    const char *k = s;
    while (s < end && env_is_key_char(*s, s == k))
        s++;
    if (s == end || *s != '=') {
        const char *eq = memchr(k, '=', (size_t)(end - k));
        if (eq == NULL)
            return env_fail(at, err, "expected KEY=VALUE");
        return error_set(err, ERR_USAGE,
                         "%s:%zu: '%.*s' is not a variable name; use letters, digits and '_', "
                         "not starting with a digit, and no spaces around '='",
                         at->origin, at->lineno, (int)(eq - k), k);
    }
    if (s == k)
        return env_fail(at, err, "missing variable name before '='");
    memcpy(key, k, (size_t)(s - k));
    key[s - k] = '\0';
    if (!env_parse_value(s + 1, end, val, at, err))
        return false;
    *assigned = true;
    return true;
}

bool envfile_parse_text(const char *text, const char *origin, EnvFileFn fn, void *ctx, Error *err)
{
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 byte order mark from Windows editors */
        text += 3;
    size_t size = strlen(text);
    char *key = x_malloc(size + 1);
    char *val = x_malloc(size + 1);
    EnvLine at = {.origin = origin, .lineno = 0};
    bool ok = true;
    for (const char *p = text; *p != '\0' && ok;) {
        const char *eol = strchrnul(p, '\n');
        const char *end = eol;
        if (end > p && end[-1] == '\r')
            end--;
        at.lineno++;
        bool assigned;
        ok = env_parse_line(p, end, key, val, &assigned, &at, err);
        if (ok && assigned)
            fn(key, val, ctx);
        p = *eol != '\0' ? eol + 1 : eol;
    }
    free(key);
    free(val);
    return ok;
}

bool envfile_parse(const char *path, EnvFileFn fn, void *ctx, Error *err)
{
    char *text = NULL;
    size_t size = 0;
    if (!fs_read_file(path, ENVFILE_MAX_SIZE, &text, &size, err))
        return false;
    bool ok;
    if (strlen(text) != size)
        ok = error_set(err, ERR_USAGE, "%s: contains a NUL byte; expected a text file", path);
    else
        ok = envfile_parse_text(text, path, fn, ctx, err);
    free(text);
    return ok;
}
