/* test_reliability_util.h — small helpers shared by the reliability tests
 * (on top of test_pipectl_util.h): read a whole file, the "bad N" count of a
 * stage from pipectl's summary.txt, and the rel_corrupt report. */
#ifndef TEST_RELIABILITY_UTIL_H
#define TEST_RELIABILITY_UTIL_H

#include "test_pipectl_util.h"

/* The whole file, NUL-terminated (malloc'd), or NULL. */
static inline char *rel_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
        n += k;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* rel_slurp of a path given printf-style. */
__attribute__((format(printf, 1, 2))) static inline char *rel_slurpf(const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return rel_slurp(path);
}

/* The "(bad N" figure of a stage's line in RUN_DIR/summary.txt: N, 0 when the
 * line has none, -1 when the stage has no line. */
static inline long long rel_summary_bad(struct prun *r, const char *stage)
{
    char *s = rel_slurpf("%s/%s", r->run_dir, "summary.txt");
    if (!s) return -1;
    long long v = -1;
    size_t sl = strlen(stage);
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!strncmp(line, stage, sl) && line[sl] == ' ') {
            char *b = strstr(line, "(bad ");
            v = b ? strtoll(b + 5, NULL, 10) : 0;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return v;
}

/* "injected N" from a rel_corrupt --report file; -1 when absent. */
static inline long long rel_injected(const char *dir, const char *name)
{
    char *s = rel_slurpf("%s/%s", dir, name);
    if (!s) return -1;
    long long v = -1;
    if (!strncmp(s, "injected ", 9)) v = strtoll(s + 9, NULL, 10);
    free(s);
    return v;
}

/* Occurrences of `needle` in `hay`. */
static inline int rel_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

#endif /* TEST_RELIABILITY_UTIL_H */
