/* log.h — one logging convention for every stage and tool.
 *
 * Lines look like
 *     2026-11-23T01:02:03.456Z synth[2] pid 1234 error: job 7 (template 3fa2…): z3 timeout after 2000 ms
 * so that `pipectl logs STAGE` interleaves readably.  Errors always name what
 * and where (file, record, field, value): the message is the caller's, the
 * prefix is ours.
 */
#ifndef TCGL_LOG_H
#define TCGL_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Name and worker index shown in every line (worker < 0: none shown). */
void log_set_ident(const char *name, int worker);
/* Lines below `level` are dropped.  Default LOG_INFO; TCGL_LOG_LEVEL=debug|info|warn|error overrides. */
void log_set_level(enum log_level level);
/* Where lines go (default stderr). */
void log_set_stream(FILE *stream);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Parse "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

#endif /* TCGL_LOG_H */
