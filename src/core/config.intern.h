/*
 * Helpers shared by the configuration's files: config.c (loading and setting values), target.c
 * (target URLs) and config_value.c (single values and paths). Not part of the public interface.
 *
 * Strings returned are owned by the caller (free()); inputs are borrowed.
 */
#ifndef HFSYNC_CONFIG_INTERN_H
#define HFSYNC_CONFIG_INTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "hfsync/config.h"

/* [A-Za-z0-9], whatever the locale. */
bool config_is_alnum(char c);

/* Whether the first `len` bytes of `s` hold a control character (below 0x20, or 0x7f). */
bool config_has_control(const char *s, size_t len);

/* A path inside a repo, bucket or target with leading and trailing '/' removed; NULL when it has
 * an empty, "." or ".." component or a control character. */
char *config_rel_path(const char *s);

/* A local path, absolute, without trailing '/'. A relative one is resolved against the current
 * directory when `resolve` (the original script's settings use relative paths), else NULL. */
char *config_local_path(const char *s, bool resolve);

/* "ns/name[/path]" of a Hub repo of `type` ("dataset", "model" or "space") into `t`; a folder
 * after the name is refused unless `allow_path`. Returns NULL, or why the spec is wrong (`t` may
 * then hold partial results: the caller frees it with target_free()). */
const char *target_hf_repo(const char *spec, const char *type, bool allow_path, Target *t);

#endif
