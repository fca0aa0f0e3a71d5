/*
 * Single configuration values (config.h): the size, duration, boolean and integer parsers that
 * flags share with variables, and the path checks that config.c and target.c both apply.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

#include "config.intern.h"

#define SIZE_FORM "use a number of bytes with an optional K, M or G suffix, e.g. 256M"
#define DURATION_FORM                                                                              \
    "use a number of seconds with an optional s, m, h or d suffix, e.g. 90s, 5m or 2h"

/* ---- value parsers ---- */

/* Decimal digits at *p (advanced past them): 1 when read, 0 when there are none, -1 on overflow. */
static int config_scan_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t n = 0;
    int rc = (*s >= '0' && *s <= '9') ? 1 : 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10)
            rc = -1;
        else
            n = n * 10 + d;
    }
    *p = s;
    *out = n;
    return rc;
}

bool config_parse_size(const char *name, const char *value, uint64_t *out, Error *err)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},    {"k", 10},   {"kb", 10}, {"kib", 10}, {"m", 20},
                 {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},  {"gib", 30}};
    const char *p = value != NULL ? value : "";
    uint64_t n = 0;
    int rc = config_scan_digits(&p, &n);
    for (size_t i = 0; rc != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].suffix) != 0)
            continue;
        if (rc < 0 || n > (UINT64_MAX >> units[i].shift))
            return error_set(err, ERR_USAGE, "%s: '%s' is too large; " SIZE_FORM, name, value);
        *out = n << units[i].shift;
        return true;
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not a size; " SIZE_FORM, name,
                     value != NULL ? value : "");
}

bool config_parse_duration(const char *name, const char *value, int64_t *out_sec, Error *err)
{
    static const struct {
        const char *suffix;
        int64_t seconds;
    } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    const char *p = value != NULL ? value : "";
    uint64_t n = 0;
    int rc = config_scan_digits(&p, &n);
    for (size_t i = 0; rc != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].suffix) != 0)
            continue;
        if (rc < 0 || n > (uint64_t)(INT64_MAX / units[i].seconds))
            return error_set(err, ERR_USAGE, "%s: '%s' is too long; " DURATION_FORM, name, value);
        *out_sec = (int64_t)n * units[i].seconds;
        return true;
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not a duration; " DURATION_FORM, name,
                     value != NULL ? value : "");
}

bool config_parse_bool(const char *name, const char *value, bool *out, Error *err)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; value != NULL && i < 4; i++) {
        if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
            *out = strcasecmp(value, yes[i]) == 0;
            return true;
        }
    }
    return error_set(err, ERR_USAGE,
                     "%s: '%s' is not a boolean; use true or false (also 1/0, yes/no, on/off)",
                     name, value != NULL ? value : "");
}

bool config_parse_int(const char *name, const char *value, long min, long max, long *out,
                      Error *err)
{
    const char *p = value != NULL ? value : "";
    bool negative = *p == '-';
    if (negative)
        p++;
    uint64_t n = 0;
    int rc = config_scan_digits(&p, &n);
    if (rc > 0 && *p == '\0' && n <= (uint64_t)LONG_MAX) {
        long v = negative ? -(long)n : (long)n;
        if (v >= min && v <= max) {
            *out = v;
            return true;
        }
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not an integer from %ld to %ld", name,
                     value != NULL ? value : "", min, max);
}

/* ---- paths ---- */

bool config_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool config_has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    }
    return false;
}

/* A path inside a repo, bucket or target with leading and trailing '/' removed; NULL when it has
 * an empty, "." or ".." component or a control character. */
char *config_rel_path(const char *s)
{
    while (*s == '/')
        s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '/')
        len--;
    if (config_has_control(s, len))
        return NULL;
    for (size_t start = 0, i = 0; len > 0 && i <= len; i++) {
        if (i < len && s[i] != '/')
            continue;
        size_t n = i - start;
        if (n == 0 || (n == 1 && s[start] == '.') ||
            (n == 2 && s[start] == '.' && s[start + 1] == '.'))
            return NULL;
        start = i + 1;
    }
    return x_strndup(s, len);
}

/* A local path, absolute, without trailing '/'. A relative one is resolved against the current
 * directory when `resolve` (the original script's settings use relative paths), else NULL. */
char *config_local_path(const char *s, bool resolve)
{
    char *path;
    if (s[0] == '/') {
        path = x_strdup(s);
    } else {
        char *cwd = resolve ? getcwd(NULL, 0) : NULL;
        if (cwd == NULL)
            return NULL;
        while (s[0] == '.' && s[1] == '/')
            s += 2;
        path = strcmp(s, ".") == 0 ? x_strdup(cwd) : path_join(cwd, s);
        free(cwd);
    }
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    return path;
}
