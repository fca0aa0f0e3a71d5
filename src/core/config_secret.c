/*
 * Settings of the Hub backend, encryption and backup formats (config.h), applied from config.c's
 * table like those of config_more.c. Tokens and passwords are secrets: no message quotes them,
 * and config_secret_free() wipes them.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

#include "config.intern.h"

#define SECRET_FILE_MAX (64u << 10)

static void secret_free(char **s)
{
    if (*s != NULL)
        OPENSSL_cleanse(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

/* A secret from a file: the first line, without its line ending. NULL with ERR_USAGE naming
 * `name` when it cannot be read or is empty. */
static char *secret_read_file(const char *name, const char *path, Error *err)
{
    char *data = NULL;
    size_t size = 0;
    if (!fs_read_file(path, SECRET_FILE_MAX, &data, &size, err)) {
        error_prefix(err, "%s", name);
        err->code = ERR_USAGE;
        return NULL;
    }
    size_t len = strcspn(data, "\r\n");
    data[len] = '\0';
    if (len == 0 || strlen(data) != len) {
        secret_free(&data);
        error_set(err, ERR_USAGE, "%s: '%s' holds no secret on its first line", name, path);
        return NULL;
    }
    return data;
}

/* ---- the Hub ---- */

/* HFSYNC_HF_TOKEN, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the token file under HF_HOME, as the
 * official clients look it up. */
bool config_set_hf_token(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err)
{
    secret_free(&cfg->hf.token);
    free(cfg->hf.token_from);
    cfg->hf.token_from = NULL;
    if (value == NULL) {
        Found f = loader_get(ld, "HUGGING_FACE_HUB_TOKEN", NULL);
        name = f.name;
        value = f.value;
    }
    if (value != NULL) {
        if (config_has_control(value, strlen(value)) || strchr(value, ' ') != NULL)
            return error_set(err, ERR_USAGE,
                             "%s: the token contains a space or a control character; copy it "
                             "again from https://huggingface.co/settings/tokens",
                             name);
        cfg->hf.token = x_strdup(value);
        cfg->hf.token_from = x_strdup(name);
        return true;
    }
    Found home = loader_get(ld, "HF_HOME", NULL);
    Found user = loader_get(ld, "HOME", NULL);
    char *path = home.value != NULL   ? path_join(home.value, "token")
                 : user.value != NULL ? path_join(user.value, ".cache/huggingface/token")
                                      : NULL;
    if (path == NULL || !fs_exists(path)) {
        free(path);
        return true; /* anonymous: public repos can still be read */
    }
    Error e = {0};
    cfg->hf.token = secret_read_file("HF_HOME token file", path, &e);
    if (cfg->hf.token != NULL)
        cfg->hf.token_from = path;
    else
        free(path);
    return true; /* an unreadable token file is as good as none */
}

bool config_set_hf_endpoint(Config *cfg, const Loader *ld, const char *name, const char *value,
                            Error *err)
{
    (void)ld;
    size_t len = strlen(value);
    while (len > 0 && value[len - 1] == '/')
        len--;
    const char *host = str_starts_with(value, "https://")  ? value + 8
                       : str_starts_with(value, "http://") ? value + 7
                                                           : NULL;
    if (host == NULL || host >= value + len || config_has_control(value, len) ||
        memchr(host, '?', (size_t)(value + len - host)) ||
        memchr(host, '@', (size_t)(value + len - host)))
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not an endpoint URL; use http(s)://host[:port], for example "
                         "https://huggingface.co",
                         name, value);
    free(cfg->hf.endpoint);
    cfg->hf.endpoint = x_strndup(value, len);
    return true;
}

bool config_set_hf_private(Config *cfg, const Loader *ld, const char *name, const char *value,
                           Error *err)
{
    (void)ld;
    return config_parse_bool(name, value, &cfg->hf.private_repo, err);
}

bool config_set_hf_squash(Config *cfg, const Loader *ld, const char *name, const char *value,
                          Error *err)
{
    (void)ld;
    static const char *const names[] = {"auto", "always", "never"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            cfg->hf.squash = (HfSquash)i;
            return true;
        }
    }
    return error_set(err, ERR_USAGE, "%s: '%s' is not a squash policy; use auto, always or never",
                     name, value);
}

/* ---- encryption and formats ---- */

/* HFSYNC_PASSWORD, else HFSYNC_PASSWORD_FILE; the script's OPENCLAW_BACKUP_ENCRYPTION_PASSWORD
 * (the alias) counts only when OPENCLAW_BACKUP_ENCRYPTION_ENABLED is true, as in the script. */
bool config_set_password(Config *cfg, const Loader *ld, const char *name, const char *value,
                         Error *err)
{
    secret_free(&cfg->password);
    Found file = loader_get(ld, "HFSYNC_PASSWORD_FILE", NULL);
    if (value != NULL && str_starts_with(name, "OPENCLAW_")) {
        Found on = loader_get(ld, "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", NULL);
        bool enabled = false;
        if (on.value != NULL && !config_parse_bool(on.name, on.value, &enabled, err))
            return false;
        if (!enabled)
            value = NULL;
    }
    if (value != NULL && file.value != NULL) {
        /* hfsync's own HFSYNC_PASSWORD_FILE comes before the script's variable, as every
         * HFSYNC_* name comes before its OPENCLAW_* alias. */
        if (str_starts_with(name, "OPENCLAW_"))
            value = NULL;
        else
            return error_set(err, ERR_USAGE,
                             "%s and HFSYNC_PASSWORD_FILE are both set; keep one of them", name);
    }
    if (value == NULL && file.value != NULL) {
        cfg->password = secret_read_file(file.name, file.value, err);
        return cfg->password != NULL;
    }
    if (value == NULL) {
        Found on = loader_get(ld, "OPENCLAW_BACKUP_ENCRYPTION_ENABLED", NULL);
        bool enabled = false;
        if (on.value != NULL && !config_parse_bool(on.name, on.value, &enabled, err))
            return false;
        if (enabled)
            return error_set(err, ERR_USAGE,
                             "OPENCLAW_BACKUP_ENCRYPTION_ENABLED is true but no password is set") ||
                   error_hint(err, "set OPENCLAW_BACKUP_ENCRYPTION_PASSWORD or HFSYNC_PASSWORD");
        return true;
    }
    if (config_has_control(value, strlen(value)))
        return error_set(err, ERR_USAGE, "%s: the password contains a control character", name);
    cfg->password = x_strdup(value);
    return true;
}

/* One old password per line; blank lines are skipped. */
bool config_set_old_passwords(Config *cfg, const Loader *ld, const char *name, const char *value,
                              Error *err)
{
    (void)ld;
    for (size_t i = 0; i < cfg->old_password_count; i++)
        secret_free(&cfg->old_passwords[i]);
    free(cfg->old_passwords);
    cfg->old_passwords = NULL;
    cfg->old_password_count = 0;
    if (value == NULL)
        return true;
    char *data = NULL;
    size_t size = 0;
    if (!fs_read_file(value, SECRET_FILE_MAX, &data, &size, err)) {
        error_prefix(err, "%s", name);
        err->code = ERR_USAGE;
        return false;
    }
    if (strlen(data) != size) {
        secret_free(&data);
        return error_set(err, ERR_USAGE, "%s: '%s' holds a NUL byte; write one password per line",
                         name, value);
    }
    for (char *line = data, *next; line != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        size_t len = strcspn(line, "\r");
        if (len == 0)
            continue;
        cfg->old_passwords =
            x_realloc(cfg->old_passwords, (cfg->old_password_count + 1) * sizeof(char *));
        cfg->old_passwords[cfg->old_password_count++] = x_strndup(line, len);
    }
    OPENSSL_cleanse(data, size);
    free(data);
    return true;
}

bool config_set_format(Config *cfg, const Loader *ld, const char *name, const char *value,
                       Error *err)
{
    (void)ld;
    if (strcasecmp(value, "native") == 0 || strcasecmp(value, "seed") == 0) {
        cfg->format = strcasecmp(value, "seed") == 0 ? FORMAT_SEED : FORMAT_NATIVE;
        return true;
    }
    return error_set(err, ERR_USAGE,
                     "%s: '%s' is not a backup format; use native (hfsync's) or seed (the "
                     "original OpenClaw script's)",
                     name, value);
}

bool config_set_seed_iterations(Config *cfg, const Loader *ld, const char *name, const char *value,
                                Error *err)
{
    (void)ld;
    long v;
    if (!config_parse_int(name, value, 1000, 100000000, &v, err))
        return false;
    cfg->seed_iterations = (unsigned)v;
    return true;
}

bool config_set_restore_backup(Config *cfg, const Loader *ld, const char *name, const char *value,
                               Error *err)
{
    (void)ld;
    free(cfg->restore_backup);
    cfg->restore_backup = NULL;
    if (value == NULL || strcasecmp(value, "latest") == 0)
        return true;
    if (config_has_control(value, strlen(value)) || strstr(value, "..") != NULL)
        return error_set(err, ERR_USAGE,
                         "%s: '%s' is not a backup name; 'hfsync list' shows the names", name,
                         value);
    cfg->restore_backup = x_strdup(value);
    return true;
}

void config_secret_free(Config *cfg)
{
    secret_free(&cfg->hf.token);
    free(cfg->hf.token_from);
    free(cfg->hf.endpoint);
    secret_free(&cfg->password);
    for (size_t i = 0; i < cfg->old_password_count; i++)
        secret_free(&cfg->old_passwords[i]);
    free(cfg->old_passwords);
    free(cfg->restore_backup);
}
