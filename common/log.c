/* log.c — see log.h. */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_ident[48] = "tcglearn";
static int log_worker = -1;
static int log_min = -1;          /* -1: not decided yet (read TCGL_LOG_LEVEL once) */
static FILE *log_stream;

static const char *const level_name[] = { "debug", "info", "warn", "error" };

void log_set_ident(const char *name, int worker)
{
    snprintf(log_ident, sizeof log_ident, "%s", name ? name : "tcglearn");
    log_worker = worker;
}

void log_set_level(enum log_level level) { log_min = (int)level; }

void log_set_stream(FILE *stream) { log_stream = stream; }

int log_level_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof level_name / sizeof level_name[0]; i++)
        if (strcmp(s, level_name[i]) == 0)
            return (int)i;
    return -1;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (log_min < 0) {
        int env = log_level_parse(getenv("TCGL_LOG_LEVEL"));
        log_min = env >= 0 ? env : LOG_INFO;
    }
    if ((int)level < log_min)
        return;

    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000L);

    /* Format the whole line first so concurrent writers (several workers
     * sharing one log file) never interleave inside a line. */
    char line[4096];
    int off;
    if (log_worker >= 0)
        off = snprintf(line, sizeof line, "%s %s[%d] pid %d %s: ", stamp, log_ident, log_worker,
                       (int)getpid(), level_name[level]);
    else
        off = snprintf(line, sizeof line, "%s %s pid %d %s: ", stamp, log_ident, (int)getpid(),
                       level_name[level]);
    if (off < 0)
        return;
    int body = vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    size_t len = (size_t)off + (body > 0 ? (size_t)body : 0);
    if (len >= sizeof line - 1) {           /* truncated: mark it, keep the newline */
        len = sizeof line - 2;
        memcpy(line + len - 3, "...", 3);
    }
    line[len++] = '\n';
    FILE *out = log_stream ? log_stream : stderr;
    fwrite(line, 1, len, out);
    fflush(out);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
