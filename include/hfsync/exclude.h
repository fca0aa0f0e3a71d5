// Exclude patterns (HFSYNC_EXCLUDE): globs on source-relative paths.
//
// - A pattern without '/' matches one path component at any depth ("*.tmp", "node_modules").
// - A pattern with '/' is anchored at the source root; a leading '/' is allowed and ignored
//   ("cache/*.bin", "/logs").
// - Within a component, '*', '?' and '[...]' work as in fnmatch(3); '*' never crosses '/'.
// - A component that is exactly "**" matches zero or more whole components ("a/**" + "/x").
// - A trailing '/' restricts the pattern to directories ("build/").
// A directory that matches is excluded with everything below it (the walker does not descend).
#ifndef HFSYNC_EXCLUDE_H
#define HFSYNC_EXCLUDE_H

#include <stdbool.h>
#include <stddef.h>

#include "hfsync/error.h"

/* Check a pattern's syntax (empty pattern, empty component such as "a//b", unbalanced '[').
 * Fails with ERR_USAGE naming the pattern. */
bool exclude_check(const char *pattern, Error *err);

/* True when `relpath` ("a/b/c", never "." or with a leading '/') matches any pattern. */
bool exclude_match(char *const *patterns, size_t count, const char *relpath, bool is_dir);

#endif
