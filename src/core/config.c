/*
 * Loading the configuration (config.h, DESIGN.md §8).
 *
 * A value is looked up in this order: the HFSYNC_ name in the environment, its OPENCLAW_ alias in
 * the environment, then the same two names in the env file; the first non-empty one wins and
 * anything else takes the default. So an env file only fills gaps, and a Space that still sets the
 * original script's variables keeps working. Every value, defaults included, goes through the same
 * setter that config_set() uses for flags, so a flag is validated exactly like a variable.
 */
#include "hfsync/config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "hfsync/exclude.h"
#include "hfsync/util.h"

#include "config.intern.h"

#define SOURCES_FORM "expected name:/path[,name2:/path2], e.g. state:/data"

/* ---- names ---- */

/* Archive root names: [A-Za-z0-9._-]+ but not "." or "..". */
static bool config_name_ok(const char *s)
{
    if (*s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s != '\0'; s++) {
        if (!config_is_alnum(*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    }
    return true;
}

/* ---- where values come from ---- */

/* The original script also read these, for variables not already set. */
static const char *const config_openclaw_files[] = {"/etc/profile.d/openclaw-env.sh",
                                                    "/root/.env.d/openclaw-backup.env"};

static const char *loader_env(const Loader *ld, const char *name)
{
    const char *v = ld->getenv_fn != NULL ? ld->getenv_fn(name, ld->ctx) : getenv(name);
    return (v != NULL && *v != '\0') ? v : NULL;
}

Found loader_get(const Loader *ld, const char *name, const char *alias)
{
    const char *names[2] = {name, alias};
    for (size_t i = 0; i < 2; i++) {
        const char *v = names[i] != NULL ? loader_env(ld, names[i]) : NULL;
        if (v != NULL)
            return (Found){.name = names[i], .value = v};
    }
    for (size_t i = 0; i < 2; i++) {
        for (size_t e = 0; names[i] != NULL && e < ld->entry_count; e++) {
            const EnvEntry *en = &ld->entries[e];
            if (strcmp(en->key, names[i]) == 0 && en->value[0] != '\0')
                return (Found){.name = names[i], .value = en->value, .file = ld->files[en->file]};
        }
    }
    return (Found){0};
}

/* Add where a bad value came from when it was an env file. Returns false. */
static bool config_fail_at(Error *err, const Found *f)
{
    if (f->file != NULL)
        error_hint(err, "%s is set in '%s'; fix it there or set it in the environment", f->name,
                   f->file);
    return false;
}

/* Within one file a later line wins (as when a shell sources it); across files the first file
 * wins, as the original script only filled variables not already set. */
static void loader_add(const char *key, const char *value, void *ctx)
{
    Loader *ld = ctx;
    size_t file = ld->file_count - 1;
    for (size_t i = 0; i < ld->entry_count; i++) {
        if (strcmp(ld->entries[i].key, key) != 0)
            continue;
        if (ld->entries[i].file == file) {
            free(ld->entries[i].value);
            ld->entries[i].value = x_strdup(value);
        }
        return;
    }
    ld->entries = x_realloc(ld->entries, (ld->entry_count + 1) * sizeof(*ld->entries));
    ld->entries[ld->entry_count++] = (EnvEntry){x_strdup(key), x_strdup(value), file};
}

/* The original script's files are shell snippets it read leniently: a line that is not a plain
 * assignment is skipped with a warning instead of stopping the program. */
static bool loader_read_openclaw_file(Loader *ld, const char *path, Error *err)
{
    char *text = NULL;
    if (!fs_read_file(path, 1u << 20, &text, NULL, err))
        return false;
    ld->files[ld->file_count++] = x_strdup(path);
    size_t lineno = 0;
    for (char *p = text; *p != '\0';) {
        char *eol = strchrnul(p, '\n');
        bool last = *eol == '\0';
        *eol = '\0';
        Error line_err;
        lineno++;
        if (!envfile_parse_text(p, path, loader_add, ld, &line_err))
            log_warn("%s:%zu: ignored, not a KEY=VALUE line", path, lineno);
        p = last ? eol : eol + 1;
    }
    free(text);
    return true;
}

static bool loader_openclaw_in_env(const Loader *ld);

static bool loader_read_files(Loader *ld, Config *cfg, Error *err)
{
    const char *path = loader_env(ld, "HFSYNC_ENV_FILE");
    if (path != NULL) {
        ld->files[ld->file_count++] = x_strdup(path);
        if (!envfile_parse(path, loader_add, ld, err)) {
            if (err->code != ERR_USAGE)
                error_prefix(err, "HFSYNC_ENV_FILE");
            err->code = ERR_USAGE;
            return false;
        }
        cfg->env_file = x_strdup(path);
        return true;
    }
    size_t n_files = loader_openclaw_in_env(ld) ? 2 : 0;
    for (size_t i = 0; i < n_files; i++) {
        const char *f = config_openclaw_files[i];
        if (!fs_exists(f))
            continue;
        if (!loader_read_openclaw_file(ld, f, err)) {
            err->code = ERR_USAGE;
            return false;
        }
        if (cfg->env_file == NULL)
            cfg->env_file = x_strdup(f);
    }
    return true;
}

static void loader_free(Loader *ld)
{
    for (size_t i = 0; i < ld->entry_count; i++) {
        free(ld->entries[i].key);
        free(ld->entries[i].value);
    }
    free(ld->entries);
    for (size_t i = 0; i < ld->file_count; i++)
        free(ld->files[i]);
}

/* ---- targets from variables ---- */

static bool config_target(const char *name, const char *value, Target *out, Error *err)
{
    Target t = {0};
    if (value != NULL && !target_parse(value, &t, err))
        return error_prefix(err, "%s", name);
    target_free(out);
    if (value != NULL)
        *out = t;
    return true;
}

/* HFSYNC_REPO-style URL variable, else the original script's `ns/name` one. */
static bool config_load_target(const Loader *ld, const char *url_var, const char *repo_var,
                               Target *out, Error *err)
{
    Found f = loader_get(ld, url_var, repo_var);
    if (f.value == NULL)
        return true;
    if (strcmp(f.name, url_var) == 0)
        return config_target(url_var, f.value, out, err) || config_fail_at(err, &f);

    Found type = loader_get(ld, "OPENCLAW_BACKUP_REPO_TYPE", NULL);
    const char *t = type.value != NULL ? type.value : "dataset";
    if (strcmp(t, "dataset") != 0 && strcmp(t, "model") != 0 && strcmp(t, "space") != 0) {
        error_set(err, ERR_USAGE,
                  "OPENCLAW_BACKUP_REPO_TYPE: '%s' is not a repo type; use dataset, model or "
                  "space",
                  t);
        return config_fail_at(err, &type);
    }
    if (target_hf_repo(f.value, t, false, out) != NULL) {
        target_free(out);
        error_set(err, ERR_USAGE,
                  "%s: '%s' is not a repo id; expected namespace/name, e.g. alice/agent-state",
                  f.name, f.value);
        return config_fail_at(err, &f);
    }
    return true;
}

/* ---- sources ---- */

static void config_sources_free(Source *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].path);
    }
    free(v);
}

static bool config_source_add(Source **v, size_t *n, const char *var, const char *name,
                              const char *path, bool resolve, Error *err)
{
    if (!config_name_ok(name))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a valid source name; use letters, digits, '.', '_' "
                         "and '-'",
                         var, name);
    char *full = config_local_path(path, resolve);
    if (full == NULL)
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not an absolute path; use a path such as /data", var, path);
    for (size_t i = 0; i < *n; i++) {
        const char *dup = strcmp((*v)[i].name, name) == 0   ? "source name"
                          : strcmp((*v)[i].path, full) == 0 ? "path"
                                                            : NULL;
        if (dup != NULL) {
            error_set(err, ERR_USAGE, "%s: %s '%s' is listed twice; " SOURCES_FORM, var, dup,
                      *dup == 'p' ? full : name);
            free(full);
            return false;
        }
    }
    *v = x_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = (Source){x_strdup(name), full};
    return true;
}

static char *config_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    return s;
}

/* "name:/path,name2:/path2" */
static bool config_source_list(Source **v, size_t *n, const char *var, const char *list,
                               bool resolve, Error *err)
{
    char *copy = x_strdup(list), *save = NULL;
    bool ok = true;
    for (char *it = strtok_r(copy, ",", &save); ok && it != NULL; it = strtok_r(NULL, ",", &save)) {
        it = config_trim(it);
        char *colon = strchr(it, ':');
        if (*it == '\0')
            continue;
        if (colon == NULL || colon == it || colon[1] == '\0') {
            ok = error_set(err, ERR_USAGE, "%s: '%s' is not name:/path; " SOURCES_FORM, var, it);
            break;
        }
        *colon = '\0';
        ok = config_source_add(v, n, var, config_trim(it), config_trim(colon + 1), resolve, err);
    }
    free(copy);
    return ok;
}

/* HFSYNC_SOURCES or HFSYNC_SOURCE (`var`) replaces the list; NULL empties it. */
static bool config_set_sources(Config *cfg, const char *var, const char *value, Error *err)
{
    Source *v = NULL;
    size_t n = 0;
    bool ok = true;
    if (value != NULL && strcmp(var, "HFSYNC_SOURCES") == 0) {
        ok = config_source_list(&v, &n, var, value, false, err);
    } else if (value != NULL) {
        char *path = config_local_path(value, false);
        const char *base = path != NULL ? strrchr(path, '/') + 1 : NULL;
        if (path == NULL)
            ok =
                error_set(err, ERR_USAGE,
                          "%s: '%s' is not an absolute path; use a path such as /data", var, value);
        else if (*base == '\0' || !config_name_ok(base))
            ok = error_set(err, ERR_USAGE,
                           "%s: '%s' does not end in a usable archive name (letters, digits, "
                           "'.', '_' and '-'); name it with HFSYNC_SOURCES=name:%s",
                           var, value, path);
        else
            ok = config_source_add(&v, &n, var, base, path, false, err);
        free(path);
    }
    if (!ok) {
        config_sources_free(v, n);
        return false;
    }
    config_sources_free(cfg->sources, cfg->source_count);
    cfg->sources = v;
    cfg->source_count = n;
    return true;
}

/* The original script's archive roots, in its order; `var2` is a fallback to `var`. */
static const struct {
    const char *name;
    const char *var;
    const char *var2;
    const char *def;
} config_openclaw_roots[] = {
    {"openclaw-state", "OPENCLAW_BACKUP_SOURCE_DIR", "OPENCLAW_STATE_DIR", "/root/.openclaw"},
    {"root-config", "OPENCLAW_BACKUP_ROOT_CONFIG_DIR", NULL, "/root/.config"},
    {"root-codex", "OPENCLAW_BACKUP_ROOT_CODEX_DIR", NULL, "/root/.codex"},
    {"root-claude", "OPENCLAW_BACKUP_ROOT_CLAUDE_DIR", NULL, "/root/.claude"},
    {"root-agents", "OPENCLAW_BACKUP_ROOT_AGENTS_DIR", NULL, "/root/.agents"},
    {"root-ssh", "OPENCLAW_BACKUP_ROOT_SSH_DIR", NULL, "/root/.ssh"},
    {"root-env", "OPENCLAW_BACKUP_ROOT_ENV_DIR", NULL, "/root/.env.d"},
    {"root-lark-cli", "OPENCLAW_BACKUP_ROOT_LARK_CLI_DIR", NULL, "/root/.lark-cli"},
    {"root-npm", "OPENCLAW_BACKUP_ROOT_NPM_DIR", NULL, "/root/.npm"},
    {"backup-info", "OPENCLAW_BACKUP_METADATA_DIR", NULL, "/root/.backup-info"},
};

static bool config_openclaw_sources(Config *cfg, const Loader *ld, Error *err)
{
    Found npm = loader_get(ld, "OPENCLAW_BACKUP_NPM_ENABLED", NULL);
    bool npm_enabled = true;
    if (npm.value != NULL && !config_parse_bool(npm.name, npm.value, &npm_enabled, err))
        return config_fail_at(err, &npm);

    size_t n_roots = sizeof(config_openclaw_roots) / sizeof(config_openclaw_roots[0]);
    for (size_t i = 0; i < n_roots; i++) {
        const char *name = config_openclaw_roots[i].name;
        if (strcmp(name, "root-npm") == 0 && !npm_enabled)
            continue;
        Found f = loader_get(ld, config_openclaw_roots[i].var, config_openclaw_roots[i].var2);
        if (!config_source_add(&cfg->sources, &cfg->source_count,
                               f.name != NULL ? f.name : config_openclaw_roots[i].var, name,
                               f.value != NULL ? f.value : config_openclaw_roots[i].def, true, err))
            return config_fail_at(err, &f);
    }
    static const char *const extras[] = {"OPENCLAW_BACKUP_EXTRA_DIRS",
                                         "OPENCLAW_BACKUP_EXTRA_FILES"};
    for (size_t i = 0; i < 2; i++) {
        Found f = loader_get(ld, extras[i], NULL);
        if (f.value != NULL &&
            !config_source_list(&cfg->sources, &cfg->source_count, f.name, f.value, true, err))
            return config_fail_at(err, &f);
    }
    cfg->openclaw = true;
    return true;
}

static bool config_load_sources(Config *cfg, const Loader *ld, Error *err)
{
    Found many = loader_get(ld, "HFSYNC_SOURCES", NULL);
    Found one = loader_get(ld, "HFSYNC_SOURCE", NULL);
    if (many.value != NULL && one.value != NULL)
        return error_set(err, ERR_USAGE,
                         "HFSYNC_SOURCES and HFSYNC_SOURCE are both set; use one of them "
                         "(HFSYNC_SOURCES=name:/path,name2:/path2 for several)");
    const Found *f = many.value != NULL ? &many : &one;
    if (f->value != NULL)
        return config_set_sources(cfg, f->name, f->value, err) || config_fail_at(err, f);
    if (loader_get(ld, "OPENCLAW_BACKUP_DATASET_REPO", NULL).value != NULL ||
        loader_get(ld, "OPENCLAW_STATE_DIR", NULL).value != NULL ||
        loader_get(ld, "OPENCLAW_BACKUP_SOURCE_DIR", NULL).value != NULL)
        return config_openclaw_sources(cfg, ld, err);
    return true;
}

/* ---- plain settings ---- */

static bool config_set_prefix(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    char *p = config_rel_path(value);
    if (p == NULL)
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a valid prefix; use a folder path without empty, '.' "
                         "or '..' components, e.g. backups",
                         name, value);
    free(cfg->prefix);
    cfg->prefix = p;
    return true;
}

static bool config_set_exclude(Config *cfg, const Loader *ld, const char *name, const char *value,
                               Error *err)
{
    (void)ld;
    char **v = NULL;
    size_t n = 0;
    char *copy = value != NULL ? x_strdup(value) : NULL, *save = NULL;
    bool ok = true;
    for (char *it = copy != NULL ? strtok_r(copy, ",", &save) : NULL; ok && it != NULL;
         it = strtok_r(NULL, ",", &save)) {
        it = config_trim(it);
        if (*it == '\0')
            continue;
        ok = exclude_check(it, err) || error_prefix(err, "%s", name);
        v = x_realloc(v, (n + 1) * sizeof(*v));
        v[n++] = x_strdup(it);
    }
    free(copy);
    char **old = ok ? cfg->excludes : v;
    size_t old_n = ok ? cfg->exclude_count : n;
    if (ok) {
        cfg->excludes = v;
        cfg->exclude_count = n;
    }
    for (size_t i = 0; i < old_n; i++)
        free(old[i]);
    free(old);
    return ok;
}

static bool config_set_volume_size(Config *cfg, const Loader *ld, const char *name,
                                   const char *value, Error *err)
{
    (void)ld;
    uint64_t v;
    if (value != NULL && strcasecmp(value, "auto") == 0) {
        cfg->volume_size = 0; /* chosen per backup (strategy.h) */
        return true;
    }
    if (!config_parse_size(name, value, &v, NULL))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a size; use auto or a size from 4K to 64G, e.g. 256M",
                         name, value != NULL ? value : "");
    if (v < (4u << 10) || v > (64ull << 30))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is out of range; use auto or a size from 4K to 64G", name,
                         value);
    cfg->volume_size = v;
    return true;
}

bool config_set_int(int *out, const char *name, const char *value, long min, long max, Error *err)
{
    long v;
    if (!config_parse_int(name, value, min, max, &v, err))
        return false;
    *out = (int)v;
    return true;
}

static bool config_set_level(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    if (value != NULL && strcasecmp(value, "auto") == 0) {
        cfg->compression_level = 0; /* chosen per backup (strategy.h) */
        return true;
    }
    long v;
    if (!config_parse_int(name, value, 1, 19, &v, NULL))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a compression level; use auto or a zstd level from 1 "
                         "(fastest) to 19 (smallest)",
                         name, value != NULL ? value : "");
    cfg->compression_level = (int)v;
    return true;
}

static bool config_set_threads(Config *cfg, const Loader *ld, const char *name, const char *value,
                               Error *err)
{
    (void)ld;
    return config_set_int(&cfg->threads, name, value, 0, 256, err);
}

static bool config_set_max_incrementals(Config *cfg, const Loader *ld, const char *name,
                                        const char *value, Error *err)
{
    (void)ld;
    return config_set_int(&cfg->max_incrementals, name, value, 0, 10000, err);
}

static bool config_set_setid(Config *cfg, const Loader *ld, const char *name, const char *value,
                             Error *err)
{
    (void)ld;
    return config_parse_bool(name, value, &cfg->restore_setid, err);
}

/* A duration from `min` to `max` seconds; `range` is how the message states them ("1s to 1d"). */
bool config_set_duration(int64_t *out, const char *name, const char *value, int64_t min,
                         int64_t max, const char *range, Error *err)
{
    int64_t v;
    if (!config_parse_duration(name, value, &v, err))
        return false;
    if (v < min || v > max)
        return error_set(err, ERR_USAGE, "%s: '%s' is out of range; use a duration from %s", name,
                         value, range);
    *out = v;
    return true;
}

static bool config_set_progress(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err)
{
    (void)ld;
    return config_set_duration(&cfg->progress_interval_sec, name, value, 1, 86400, "1s to 1d", err);
}

/* An absolute directory from the environment (TMPDIR, HOME, …) plus `leaf`, or NULL. */
static char *config_env_dir(const Loader *ld, const char *var, const char *leaf)
{
    const char *base = loader_env(ld, var);
    return base != NULL && base[0] == '/' ? path_join(base, leaf) : NULL;
}

static bool config_set_dir(char **out, bool resolve, const char *name, const char *value,
                           Error *err)
{
    char *p = config_has_control(value, strlen(value)) ? NULL : config_local_path(value, resolve);
    if (p == NULL)
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not an absolute path; use a directory such as /tmp/hfsync",
                         name, value);
    free(*out);
    *out = p;
    return true;
}

static bool config_set_work_dir(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err)
{
    char *def = value == NULL ? config_env_dir(ld, "TMPDIR", "hfsync") : NULL;
    if (value == NULL)
        value = def != NULL ? def : "/tmp/hfsync";
    bool ok = config_set_dir(&cfg->work_dir, cfg->openclaw, name, value, err);
    free(def);
    return ok;
}

static bool config_set_cache_dir(Config *cfg, const Loader *ld, const char *name, const char *value,
                                 Error *err)
{
    char *def = NULL;
    if (value == NULL && (def = config_env_dir(ld, "XDG_CACHE_HOME", "hfsync")) == NULL)
        def = config_env_dir(ld, "HOME", ".cache/hfsync");
    if (value == NULL)
        value = def != NULL ? def : "/var/cache/hfsync";
    bool ok = config_set_dir(&cfg->cache_dir, false, name, value, err);
    free(def);
    return ok;
}

static bool config_set_log_level(Config *cfg, const Loader *ld, const char *name, const char *value,
                                 Error *err)
{
    (void)ld;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            cfg->log_level = (LogLevel)(LOG_DEBUG + i);
            return true;
        }
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not a log level; use debug, info, warn or error",
                     name, value);
}

static bool config_set_log_format(Config *cfg, const Loader *ld, const char *name,
                                  const char *value, Error *err)
{
    (void)ld;
    if (strcasecmp(value, "text") == 0 || strcasecmp(value, "json") == 0) {
        cfg->log_format = strcasecmp(value, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
        return true;
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not a log format; use text or json", name, value);
}

/* Applied in this order after the target and the sources (the work dir needs to know whether the
 * original script's settings are in use). A NULL default means the setter computes it. */
static const struct {
    const char *name;
    const char *alias;
    const char *def;
    ConfigSetFn set;
} config_settings[] = {
    {"HFSYNC_PREFIX", "OPENCLAW_BACKUP_PATH_PREFIX", "backups", config_set_prefix},
    {"HFSYNC_EXCLUDE", NULL, NULL, config_set_exclude},
    {"HFSYNC_VOLUME_SIZE", "OPENCLAW_BACKUP_SPLIT_SIZE", "auto", config_set_volume_size},
    {"HFSYNC_COMPRESSION_LEVEL", "OPENCLAW_BACKUP_COMPRESSION_LEVEL", "auto", config_set_level},
    {"HFSYNC_THREADS", NULL, "0", config_set_threads},
    {"HFSYNC_MAX_INCREMENTALS", "OPENCLAW_MAX_INCREMENTAL_BACKUPS", "10",
     config_set_max_incrementals},
    {"HFSYNC_INCREMENTAL", "OPENCLAW_INCREMENTAL_BACKUP", "true", config_set_incremental},
    {"HFSYNC_FULL_INTERVAL", "OPENCLAW_FULL_BACKUP_INTERVAL_HOURS", "24h",
     config_set_full_interval},
    {"HFSYNC_FULL_RATIO", NULL, "50", config_set_full_ratio},
    {"HFSYNC_MIN_CHANGED_FILES", "OPENCLAW_DYNAMIC_MIN_CHANGED_FILES", "0",
     config_set_min_changed_files},
    {"HFSYNC_MIN_CHANGED_SIZE", "OPENCLAW_DYNAMIC_MIN_CHANGED_SIZE_KB", "0",
     config_set_min_changed_size},
    {"HFSYNC_MAX_SKIPS", NULL, "auto", config_set_max_skips},
    {"HFSYNC_DYNAMIC", "OPENCLAW_DYNAMIC_BACKUP", "true", config_set_dynamic},
    {"HFSYNC_COMPRESSION_MIN", NULL, "1", config_set_level_min},
    {"HFSYNC_COMPRESSION_MAX", NULL, "19", config_set_level_max},
    {"HFSYNC_VOLUME_SIZE_MIN", NULL, "16M", config_set_volume_min},
    {"HFSYNC_VOLUME_SIZE_MAX", NULL, "1G", config_set_volume_max},
    {"HFSYNC_DYNAMIC_SMALL_SIZE", "OPENCLAW_DYNAMIC_SMALL_THRESHOLD_MB", "500M",
     config_set_small_size},
    {"HFSYNC_DYNAMIC_LARGE_SIZE", "OPENCLAW_DYNAMIC_MEDIUM_THRESHOLD_MB", "2000M",
     config_set_large_size},
    {"HFSYNC_DYNAMIC_HIGH_RATE", "OPENCLAW_DYNAMIC_HIGH_CHANGE_RATE", "10", config_set_high_rate},
    {"HFSYNC_DYNAMIC_LOW_RATE", "OPENCLAW_DYNAMIC_LOW_CHANGE_RATE", "2", config_set_low_rate},
    {"HFSYNC_DYNAMIC_SLOW_UPLOAD", NULL, "2M", config_set_slow_upload},
    {"HFSYNC_DYNAMIC_FAST_UPLOAD", NULL, "64M", config_set_fast_upload},
    {"HFSYNC_RESTORE_SETID", NULL, "false", config_set_setid},
    {"HFSYNC_PROGRESS_INTERVAL", NULL, "10", config_set_progress},
    {"HFSYNC_WORK_DIR", "OPENCLAW_BACKUP_WORK_DIR", NULL, config_set_work_dir},
    {"HFSYNC_CACHE_DIR", NULL, NULL, config_set_cache_dir},
    {"HFSYNC_LOG_LEVEL", NULL, "info", config_set_log_level},
    {"HFSYNC_LOG_FORMAT", NULL, "text", config_set_log_format},
    {"HFSYNC_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID", NULL, config_set_s3_access_key},
    {"HFSYNC_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", NULL, config_set_s3_secret_key},
    {"HFSYNC_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN", NULL, config_set_s3_session_token},
    {"HFSYNC_S3_REGION", "AWS_REGION", NULL, config_set_s3_region},
    {"HFSYNC_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", NULL, config_set_s3_endpoint},
    {"HFSYNC_S3_PATH_STYLE", NULL, "auto", config_set_s3_path_style},
    {"HFSYNC_S3_PART_SIZE", NULL, "8M", config_set_s3_part_size},
    {"HFSYNC_S3_PARALLEL", NULL, "4", config_set_s3_parallel},
    {"HFSYNC_CA_BUNDLE", NULL, NULL, config_set_ca_bundle},
    {"HFSYNC_RETRY_TRIES", NULL, "5", config_set_retry_tries},
    {"HFSYNC_RETRY_BASE", NULL, "1", config_set_retry_base},
    {"HFSYNC_RETRY_CAP", NULL, "30", config_set_retry_cap},
    {"HFSYNC_RETRY_BUDGET", NULL, "300", config_set_retry_budget},
    {"HFSYNC_STALL_TIMEOUT", NULL, "60", config_set_stall_timeout},
    {"HFSYNC_HF_TOKEN", "HF_TOKEN", NULL, config_set_hf_token},
    {"HFSYNC_HF_ENDPOINT", "HF_ENDPOINT", "https://huggingface.co", config_set_hf_endpoint},
    {"HFSYNC_HF_PRIVATE", "OPENCLAW_BACKUP_PRIVATE", "true", config_set_hf_private},
    {"HFSYNC_HF_SQUASH", NULL, "auto", config_set_hf_squash},
    {"HFSYNC_PASSWORD", "OPENCLAW_BACKUP_ENCRYPTION_PASSWORD", NULL, config_set_password},
    {"HFSYNC_OLD_PASSWORDS_FILE", NULL, NULL, config_set_old_passwords},
    {"HFSYNC_FORMAT", NULL, "native", config_set_format},
    {"HFSYNC_SEED_PBKDF2_ITER", NULL, "10000", config_set_seed_iterations},
    {"HFSYNC_RESTORE_BACKUP", "OPENCLAW_RESTORE_ARCHIVE", NULL, config_set_restore_backup},
    {"HFSYNC_RESTORE", NULL, "auto", config_set_restore_policy},
    {"HFSYNC_ON_RESTORE_FAILURE", NULL, "exit", config_set_restore_failure},
    {"HFSYNC_RESTORE_RETRIES", NULL, "2", config_set_restore_retries},
    {"HFSYNC_INTERVAL", "OPENCLAW_INCREMENTAL_INTERVAL_MINUTES", "300", config_set_interval},
    {"HFSYNC_BACKUP_ON_START", NULL, "false", config_set_backup_on_start},
    {"HFSYNC_SIGNAL_GROUP", NULL, "false", config_set_signal_group},
    {"HFSYNC_STOP_TIMEOUT", NULL, "10", config_set_stop_timeout},
    {"HFSYNC_FINAL_BACKUP_TIMEOUT", NULL, "20", config_set_final_timeout},
    {"HFSYNC_LOCK_TIMEOUT", NULL, "300", config_set_lock_timeout},
    {"HFSYNC_LEASE_TTL", NULL, "120", config_set_lease_ttl},
    {"HFSYNC_LEASE_WAIT", NULL, "60", config_set_lease_wait},
    {"HFSYNC_STATUS_FILE", NULL, NULL, config_set_status_file},
    {"HFSYNC_RESTORE_FLAG", NULL, NULL, config_set_restore_flag},
    {"HFSYNC_KEEP_FULL", NULL, "12", config_set_keep_full},
    {"HFSYNC_KEEP_LAST", "OPENCLAW_BACKUP_KEEP_COUNT", "0", config_set_keep_last},
    {"HFSYNC_KEEP_DAILY", NULL, "7", config_set_keep_daily},
    {"HFSYNC_KEEP_WEEKLY", NULL, "4", config_set_keep_weekly},
    {"HFSYNC_KEEP_MONTHLY", NULL, "3", config_set_keep_monthly},
    {"HFSYNC_KEEP_WITHIN", NULL, "0", config_set_keep_within},
    {"HFSYNC_STALE_AFTER", NULL, "24h", config_set_stale_after},
    {"HFSYNC_CHECKPOINT_INTERVAL", NULL, "300", config_set_checkpoint_interval},
    {"HFSYNC_PRUNE", NULL, "auto", config_set_prune},
    {"HFSYNC_PRUNE_MAX", NULL, "100", config_set_prune_max},
    {"HFSYNC_TEST_NOW", NULL, NULL, config_set_test_now},
};

#define CONFIG_SETTING_COUNT (sizeof(config_settings) / sizeof(config_settings[0]))

/* Whether any OPENCLAW_ variable hfsync reads is set in the environment itself. */
static bool loader_openclaw_in_env(const Loader *ld)
{
    static const char *const names[] = {
        "OPENCLAW_BACKUP_DATASET_REPO", "OPENCLAW_RESTORE_DATASET_REPO",
        "OPENCLAW_BACKUP_REPO_TYPE",    "OPENCLAW_STATE_DIR",
        "OPENCLAW_BACKUP_SOURCE_DIR",   "OPENCLAW_BACKUP_EXTRA_DIRS",
        "OPENCLAW_BACKUP_EXTRA_FILES",  "OPENCLAW_BACKUP_NPM_ENABLED",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (loader_env(ld, names[i]) != NULL)
            return true;
    }
    for (size_t i = 0; i < sizeof(config_openclaw_roots) / sizeof(config_openclaw_roots[0]); i++) {
        if (loader_env(ld, config_openclaw_roots[i].var) != NULL)
            return true;
    }
    for (size_t i = 0; i < CONFIG_SETTING_COUNT; i++) {
        const char *alias = config_settings[i].alias;
        if (alias != NULL && str_starts_with(alias, "OPENCLAW_") && loader_env(ld, alias) != NULL)
            return true;
    }
    return false;
}

bool config_load(Config *cfg, ConfigGetenv getenv_fn, void *ctx, Error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    Loader ld = {.getenv_fn = getenv_fn, .ctx = ctx};
    bool ok =
        loader_read_files(&ld, cfg, err) &&
        config_load_target(&ld, "HFSYNC_REPO", "OPENCLAW_BACKUP_DATASET_REPO", &cfg->target, err) &&
        config_load_target(&ld, "HFSYNC_RESTORE_REPO", "OPENCLAW_RESTORE_DATASET_REPO",
                           &cfg->restore_target, err) &&
        config_load_sources(cfg, &ld, err);
    for (size_t i = 0; ok && i < CONFIG_SETTING_COUNT; i++) {
        Found f = loader_get(&ld, config_settings[i].name, config_settings[i].alias);
        const char *name = f.value != NULL ? f.name : config_settings[i].name;
        const char *value = f.value != NULL ? f.value : config_settings[i].def;
        ok = config_settings[i].set(cfg, &ld, name, value, err) || config_fail_at(err, &f);
    }
    ok = ok && config_strategy_check(cfg, err);
    loader_free(&ld);
    if (!ok)
        config_free(cfg);
    return ok;
}

bool config_set(Config *cfg, const char *name, const char *value, Error *err)
{
    if (value != NULL && *value == '\0')
        value = NULL;
    if (strcmp(name, "HFSYNC_REPO") == 0)
        return config_target(name, value, &cfg->target, err);
    if (strcmp(name, "HFSYNC_RESTORE_REPO") == 0)
        return config_target(name, value, &cfg->restore_target, err);
    if (strcmp(name, "HFSYNC_SOURCES") == 0 || strcmp(name, "HFSYNC_SOURCE") == 0)
        return config_set_sources(cfg, name, value, err);
    for (size_t i = 0; i < CONFIG_SETTING_COUNT; i++) {
        if (strcmp(name, config_settings[i].name) != 0 &&
            (config_settings[i].alias == NULL || strcmp(name, config_settings[i].alias) != 0))
            continue;
        Loader ld = {0};
        return config_settings[i].set(cfg, &ld, name,
                                      value != NULL ? value : config_settings[i].def, err);
    }
    if (strcmp(name, "HFSYNC_ENV_FILE") == 0)
        return error_set(err, ERR_USAGE,
                         "HFSYNC_ENV_FILE: the env file is read when the configuration is "
                         "loaded; set HFSYNC_ENV_FILE in the environment");
    return error_set(err, ERR_USAGE, "'%s' is not a setting hfsync knows", name);
}

void config_free(Config *cfg)
{
    if (cfg == NULL)
        return;
    target_free(&cfg->target);
    target_free(&cfg->restore_target);
    free(cfg->prefix);
    config_sources_free(cfg->sources, cfg->source_count);
    for (size_t i = 0; i < cfg->exclude_count; i++)
        free(cfg->excludes[i]);
    free(cfg->excludes);
    free(cfg->work_dir);
    free(cfg->cache_dir);
    free(cfg->env_file);
    free(cfg->s3.access_key);
    if (cfg->s3.secret_key != NULL)
        OPENSSL_cleanse(cfg->s3.secret_key, strlen(cfg->s3.secret_key));
    free(cfg->s3.secret_key);
    free(cfg->s3.session_token);
    free(cfg->s3.region);
    free(cfg->s3.endpoint);
    free(cfg->ca_bundle);
    free(cfg->status_file);
    free(cfg->restore_flag);
    config_secret_free(cfg);
    memset(cfg, 0, sizeof(*cfg));
}
