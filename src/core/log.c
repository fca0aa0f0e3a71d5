#include "hfsync/log.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_REDACT_MAX 8

static LogLevel log_min = LOG_INFO;
static LogFormat log_fmt = LOG_FORMAT_TEXT;
static char *log_secrets[LOG_REDACT_MAX];

static const char *const log_names[] = {"debug", "info", "warn", "error", "quiet"};

void log_setup(LogLevel level, LogFormat format)
{
    log_min = level;
    log_fmt = format;
}

LogLevel log_level(void)
{
    return log_min;
}

void log_redact(const char *secret)
{
    if (secret == NULL || strlen(secret) < 4)
        return;
    for (int i = 0; i < LOG_REDACT_MAX; i++) {
        if (log_secrets[i] != NULL && strcmp(log_secrets[i], secret) == 0)
            return;
        if (log_secrets[i] == NULL) {
            log_secrets[i] = strdup(secret);
            return;
        }
    }
}

/* Replace every registered secret in `line` (in place; "***" is never longer than a secret). */
static void log_mask(char *line)
{
    for (int i = 0; i < LOG_REDACT_MAX && log_secrets[i] != NULL; i++) {
        size_t slen = strlen(log_secrets[i]);
        char *hit;
        while ((hit = strstr(line, log_secrets[i])) != NULL) {
            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + slen, strlen(hit + slen) + 1);
        }
    }
}

void log_msg(LogLevel level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_mask(line);

    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    if (log_fmt == LOG_FORMAT_JSON) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "ts", ts);
        cJSON_AddStringToObject(obj, "level", log_names[level]);
        cJSON_AddStringToObject(obj, "msg", line);
        char *text = cJSON_PrintUnformatted(obj);
        if (text != NULL)
            fprintf(stderr, "%s\n", text);
        cJSON_free(text);
        cJSON_Delete(obj);
    } else {
        fprintf(stderr, "%s %-5s %s\n", ts, log_names[level], line);
    }
    fflush(stderr);
}
