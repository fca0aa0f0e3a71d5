/*
 * Exclude patterns (exclude.h). A pattern is matched component by component with fnmatch(3), so
 * '*' never crosses '/'; "**" is handled here by trying every number of skipped components.
 */
#include "hfsync/exclude.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"

#define EXCLUDE_FORM "use globs such as *.tmp, cache/ or logs/**/*.gz"

/* Why one component (s, len) of a pattern is malformed, or NULL when it is fine. */
static const char *exclude_component_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty path component";
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return "'.' and '..' components never match";
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\') {
            if (++i == len)
                return "'\\' at the end of a component";
        } else if (s[i] == '[') {
            /* fnmatch(3) bracket: optional '!' or '^', then a leading ']' is literal */
            size_t j = i + 1;
            if (j < len && (s[j] == '!' || s[j] == '^'))
                j++;
            if (j < len && s[j] == ']')
                j++;
            while (j < len && s[j] != ']')
                j += (s[j] == '\\') ? 2 : 1;
            if (j >= len)
                return "unbalanced '['";
            i = j;
        }
    }
    return NULL;
}

bool exclude_check(const char *pattern, Error *err)
{
    const char *why = NULL;
    const char *p = pattern[0] == '/' ? pattern + 1 : pattern;
    size_t len = strlen(p);
    if (len > 0 && p[len - 1] == '/')
        len--;
    if (pattern[0] == '\0')
        why = "it is empty";
    else if (len == 0)
        why = "it names nothing";
    for (size_t start = 0, i = 0; why == NULL && i <= len; i++) {
        if (i == len || p[i] == '/') {
            why = exclude_component_problem(p + start, i - start);
            start = i + 1;
        }
    }
    if (why != NULL)
        return error_set(err, ERR_USAGE, "'%s' is not a valid exclude pattern (%s); " EXCLUDE_FORM,
                         pattern, why);
    return true;
}

/* fnmatch on one pattern component against one path component (neither NUL-terminated). */
static bool exclude_component_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
    char pbuf[256], nbuf[256];
    char *p = plen < sizeof(pbuf) ? pbuf : x_malloc(plen + 1);
    char *n = nlen < sizeof(nbuf) ? nbuf : x_malloc(nlen + 1);
    memcpy(p, pat, plen);
    p[plen] = '\0';
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    bool match = fnmatch(p, n, 0) == 0;
    if (p != pbuf)
        free(p);
    if (n != nbuf)
        free(n);
    return match;
}

/* Does the anchored pattern [pat, pend) match all of `path`? */
static bool exclude_match_from(const char *pat, const char *pend, const char *path)
{
    if (pat == pend)
        return *path == '\0';
    const char *pe = memchr(pat, '/', (size_t)(pend - pat));
    if (pe == NULL)
        pe = pend;
    const char *pnext = pe < pend ? pe + 1 : pend;

    if (pe - pat == 2 && pat[0] == '*' && pat[1] == '*') {
        /* zero components, then one more each round */
        for (const char *p = path;;) {
            if (exclude_match_from(pnext, pend, p))
                return true;
            if (*p == '\0')
                return false;
            const char *e = strchrnul(p, '/');
            p = *e != '\0' ? e + 1 : e;
        }
    }
    if (*path == '\0')
        return false;
    const char *e = strchrnul(path, '/');
    return exclude_component_match(pat, (size_t)(pe - pat), path, (size_t)(e - path)) &&
           exclude_match_from(pnext, pend, *e != '\0' ? e + 1 : e);
}

static bool exclude_match_one(const char *pat, const char *relpath, bool is_dir)
{
    size_t len = strlen(pat);
    if (len > 0 && pat[len - 1] == '/') {
        if (!is_dir)
            return false;
        len--;
    }
    if (memchr(pat, '/', len) == NULL) {
        /* no '/': the entry's own name, at any depth */
        const char *name = strrchr(relpath, '/');
        name = name != NULL ? name + 1 : relpath;
        return exclude_component_match(pat, len, name, strlen(name));
    }
    if (pat[0] == '/') {
        pat++;
        len--;
    }
    return exclude_match_from(pat, pat + len, relpath);
}

bool exclude_match(char *const *patterns, size_t count, const char *relpath, bool is_dir)
{
    for (size_t i = 0; i < count; i++) {
        if (exclude_match_one(patterns[i], relpath, is_dir))
            return true;
    }
    return false;
}
