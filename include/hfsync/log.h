/*
 * Log: one line per event on stderr, as text or JSON (HFSYNC_LOG_FORMAT).
 *
 * Text:  "2026-11-21T10:15:00Z info  backup: 12 files, 3.4 MiB"
 * JSON:  {"ts":"2026-11-21T10:15:00Z","level":"info","msg":"backup: 12 files, 3.4 MiB"}
 * Messages must never contain secrets; log_redact() registers values that are replaced by
 * "***" wherever they appear, as a last line of defence.
 */
#ifndef HFSYNC_LOG_H
#define HFSYNC_LOG_H

#include <stdbool.h>

typedef enum LogLevel { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET } LogLevel;
typedef enum LogFormat { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON } LogFormat;

void log_setup(LogLevel level, LogFormat format);
LogLevel log_level(void);

/* Register a secret to be masked in every later log line (copied; at most a few). */
void log_redact(const char *secret);

void log_msg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
