/*
 * Target URLs (config.h): file://, s3://, hf:// and the tests' mem://, parsed into a Target with a
 * normalised URL. A URL that carries credentials is refused, so none can reach a log line.
 */
#include <stdlib.h>
#include <string.h>

#include "hfsync/config.h"
#include "hfsync/util.h"

#include "config.intern.h"

#define TARGET_FORMS "expected file:///path, s3://bucket/prefix or hf://datasets/namespace/name"

/* Hub namespace or repo name: [A-Za-z0-9._-]{1,96}, no leading/trailing '.' or '-', no ".." or
 * "--" (huggingface_hub's validate_repo_id refuses those too). */
static bool target_hub_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > 96 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!config_is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
        if ((s[i] == '.' || s[i] == '-') && i + 1 < n && s[i + 1] == s[i])
            return false;
    }
    return true;
}

void target_free(Target *target)
{
    if (target == NULL)
        return;
    free(target->url);
    free(target->path);
    free(target->bucket);
    free(target->repo_type);
    free(target->repo_id);
    memset(target, 0, sizeof(*target));
}

/* "ns/name[/path]" of a Hub repo of `type` into `t`. Returns NULL or why it is wrong. */
const char *target_hf_repo(const char *spec, const char *type, bool allow_path, Target *t)
{
    const char *slash = strchr(spec, '/');
    if (slash == NULL)
        return "a Hub repo is namespace/name";
    if (!target_hub_name_ok(spec, (size_t)(slash - spec)))
        return "the namespace must be 1-96 characters of letters, digits, '.', '_' and '-'";
    const char *name = slash + 1;
    const char *end = strchrnul(name, '/');
    if (!target_hub_name_ok(name, (size_t)(end - name)))
        return "the repo name must be 1-96 characters of letters, digits, '.', '_' and '-'";
    char *path = config_rel_path(end);
    if (path == NULL || (!allow_path && *path != '\0')) {
        free(path);
        return "the folder inside the repo has an empty, '.' or '..' component";
    }
    const char *url_kind = strcmp(type, "dataset") == 0 ? "datasets/"
                           : strcmp(type, "space") == 0 ? "spaces/"
                                                        : "";
    t->kind = TARGET_HF;
    t->repo_type = x_strdup(type);
    t->repo_id = x_strndup(spec, (size_t)(end - spec));
    t->url = str_printf("hf://%s%s%s%s", url_kind, t->repo_id, *path ? "/" : "", path);
    t->path = path;
    return NULL;
}

static const char *target_s3(const char *rest, Target *t)
{
    const char *end = strchrnul(rest, '/');
    size_t n = (size_t)(end - rest);
    bool ok = n >= 3 && n <= 63 && config_is_alnum(rest[0]) && config_is_alnum(rest[n - 1]);
    for (size_t i = 0; ok && i < n; i++)
        ok = (rest[i] >= 'a' && rest[i] <= 'z') || (rest[i] >= '0' && rest[i] <= '9') ||
             rest[i] == '.' || rest[i] == '-';
    if (!ok)
        return "bucket names are 3-63 characters of a-z, 0-9, '.' and '-'";
    char *prefix = config_rel_path(end);
    if (prefix == NULL)
        return "the key prefix has an empty, '.' or '..' component";
    t->kind = TARGET_S3;
    t->bucket = x_strndup(rest, n);
    t->url = str_printf("s3://%s%s%s", t->bucket, *prefix ? "/" : "", prefix);
    t->path = prefix;
    return NULL;
}

bool target_parse(const char *url, Target *target, Error *err)
{
    memset(target, 0, sizeof(*target));
    const char *sep = strstr(url, "://");
    if (sep != NULL && strcspn(url, ":/") == (size_t)(sep - url)) {
        const char *authority = sep + 3;
        if (memchr(authority, '@', strcspn(authority, "/")) != NULL)
            return error_set(err, ERR_USAGE,
                             "the target URL must not carry credentials (user:password@); set "
                             "HF_TOKEN, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, instead");
    }
    const char *why = "";
    if (config_has_control(url, strlen(url))) {
        why = "it contains a control character";
    } else if (url[0] == '/' || str_starts_with(url, "file://")) {
        const char *path = url[0] == '/' ? url : url + 7;
        if (path[0] != '/') {
            why = "file:// needs an absolute path, e.g. file:///var/backups";
        } else {
            target->kind = TARGET_FILE;
            target->path = config_local_path(path, false);
            target->url = str_printf("file://%s", target->path);
            why = NULL;
        }
    } else if (str_starts_with(url, "mem://") && url[6] != '\0') {
        target->kind = TARGET_MEM;
        target->path = x_strdup(url + 6);
        target->url = x_strdup(url);
        why = NULL;
    } else if (str_starts_with(url, "s3://")) {
        why = target_s3(url + 5, target);
    } else if (str_starts_with(url, "hf://")) {
        static const struct {
            const char *lead;
            const char *type;
        } kinds[] = {{"datasets/", "dataset"}, {"spaces/", "space"}, {"models/", "model"}};
        const char *rest = url + 5, *type = "model";
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            if (str_starts_with(rest, kinds[i].lead)) {
                rest += strlen(kinds[i].lead);
                type = kinds[i].type;
                break;
            }
        }
        why = target_hf_repo(rest, type, true, target);
    }
    if (why == NULL)
        return true;
    target_free(target);
    if (*why != '\0')
        return error_set(err, ERR_USAGE, "'%s' is not a valid target (%s); " TARGET_FORMS, url,
                         why);
    return error_set(err, ERR_USAGE, "'%s' is not a valid target; " TARGET_FORMS, url);
}
