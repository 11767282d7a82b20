/* test_pipectl_util.h — helpers shared by the pipectl integration tests:
 * write a pipeline file into a fresh temporary directory, run the real
 * pipectl (TCGL_BUILD/bin/pipectl) on it as a child process, talk to it with
 * the real CLI, and read the seq_sink report.  Header-only (static) so each
 * test stays one cmocka program. */
#ifndef TEST_PIPECTL_UTIL_H
#define TEST_PIPECTL_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct prun {
    char dir[256];          /* temporary directory */
    char yaml[320];
    char run_dir[320];
    char out_path[320];     /* pipectl's stdout+stderr */
    char build[1024];
    pid_t pid;
    int status;             /* waitpid status once it exited */
    bool exited;
};

static inline const char *prun_build(void)
{
    const char *b = getenv("TCGL_BUILD");
    return b && *b ? b : "build";
}

static inline uint64_t prun_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A pipeline template with %X placeholders filled in: each character of
 * `keys` names a placeholder, vals[i] its text (other %X, such as prun_init's
 * %B, pass through).  dst is always terminated. */
static inline void prun_subst(char *dst, size_t len, const char *tmpl, const char *keys, const char *const *vals)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < len; p++) {
        const char *k = p[0] == '%' && p[1] ? strchr(keys, p[1]) : NULL;
        if (k) {
            o += (size_t)snprintf(dst + o, len - o, "%s", vals[k - keys]);
            if (o >= len) o = len - 1;
            p++;
        } else {
            dst[o++] = *p;
        }
    }
    dst[o] = 0;
}

/* Make the directory and write the pipeline file: `body` is the YAML after
 * the "pipeline:" and "output:" lines; %B in it stands for the build dir. */
static inline void prun_init(struct prun *r, const char *name, const char *body)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/tcgl-pipectl-%s-XXXXXX", name);
    if (!mkdtemp(r->dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(r->build, sizeof r->build, "%s", prun_build());
    snprintf(r->yaml, sizeof r->yaml, "%s/pipeline.yaml", r->dir);
    snprintf(r->run_dir, sizeof r->run_dir, "%s/out/run", r->dir);
    snprintf(r->out_path, sizeof r->out_path, "%s/pipectl.out", r->dir);
    FILE *f = fopen(r->yaml, "w");
    fprintf(f, "pipeline: %s\noutput:\n  dir: %s/out\n", name, r->dir);
    for (const char *p = body; *p; p++) {
        if (p[0] == '%' && p[1] == 'B') {
            fputs(r->build, f);
            p++;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
}

/* Start `pipectl start FILE` in the background; wait until it answers. */
static inline void prun_start(struct prun *r)
{
    char exe[1100];
    snprintf(exe, sizeof exe, "%s/bin/pipectl", r->build);
    r->pid = fork();
    if (r->pid == 0) {
        int fd = open(r->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(exe, "pipectl", "start", r->yaml, "--interval", "1", (char *)NULL);
        _exit(127);
    }
}

/* Run the CLI: `pipectl --run-dir RUN_DIR ARGS...`; its output into buf. */
static inline int prun_ctl(struct prun *r, char *buf, size_t len, const char *fmt, ...)
{
    char args[1200], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s/bin/pipectl --run-dir %s %s 2>&1", r->build, r->run_dir, args);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (buf && len)
        buf[0] = 0;
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, p)) > 0)
        if (buf && n + 1 < len) {
            size_t c = k < len - 1 - n ? k : len - 1 - n;
            memcpy(buf + n, tmp, c);
            n += c;
            buf[n] = 0;
        }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Has pipectl exited?  (reaps it) */
static inline bool prun_poll_exit(struct prun *r)
{
    if (r->exited)
        return true;
    int st;
    if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
        r->exited = true;
        r->status = st;
    }
    return r->exited;
}

/* Wait for pipectl to exit; returns its exit status, or -1 on timeout (then kills it). */
static inline int prun_wait(struct prun *r, int timeout_s)
{
    uint64_t end = prun_now_ms() + (uint64_t)timeout_s * 1000u;
    while (!prun_poll_exit(r)) {
        if (prun_now_ms() > end) {
            kill(r->pid, SIGINT);
            usleep(500000);
            kill(r->pid, SIGINT);
            sleep(1);
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &r->status, 0);
            r->exited = true;
            return -1;
        }
        usleep(50000);
    }
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

/* Sum of "in" (or "out") of a stage's workers, from `pipectl status`; -1 if
 * pipectl does not answer. */
static inline long long prun_stage_count(struct prun *r, const char *stage, const char *which)
{
    static char buf[65536];
    if (prun_ctl(r, buf, sizeof buf, "status") != 0)
        return -1;
    long long total = 0;
    char key[64];
    snprintf(key, sizeof key, "  worker %s ", stage);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (!strncmp(line, key, strlen(key))) {
            char pat[16];
            snprintf(pat, sizeof pat, " %s ", which);
            char *p = strstr(line, pat);
            if (p)
                total += strtoll(p + strlen(pat), NULL, 10);
        }
        line = nl ? nl + 1 : NULL;
    }
    return total;
}

/* Wait until pipectl answers (the stages are started). */
static inline bool prun_ready(struct prun *r, int timeout_s)
{
    uint64_t end = prun_now_ms() + (uint64_t)timeout_s * 1000u;
    while (prun_now_ms() < end) {
        if (prun_ctl(r, NULL, 0, "status") == 0)
            return true;
        if (prun_poll_exit(r))
            return false;
        usleep(50000);
    }
    return false;
}

/* Wait until stage's records in >= n. */
static inline bool prun_wait_count(struct prun *r, const char *stage, const char *which, long long n, int timeout_s)
{
    uint64_t end = prun_now_ms() + (uint64_t)timeout_s * 1000u;
    while (prun_now_ms() < end) {
        long long c = prun_stage_count(r, stage, which);
        if (c >= n)
            return true;
        if (c < 0 && prun_poll_exit(r))
            return false;
        usleep(20000);
    }
    return false;
}

/* The pid of worker j of stage (0 if none running). */
static inline int prun_worker_pid(struct prun *r, const char *stage, int j)
{
    static char buf[65536];
    if (prun_ctl(r, buf, sizeof buf, "status") != 0)
        return 0;
    char key[96];
    snprintf(key, sizeof key, "  worker %s %d pid ", stage, j);
    char *p = strstr(buf, key);
    return p ? atoi(p + strlen(key)) : 0;
}

/* A value from the sink report ("unique 1000000"); -1 if absent. */
static inline long long prun_report(struct prun *r, const char *key)
{
    char path[400];
    snprintf(path, sizeof path, "%s/out/report/seq_sink.0.txt", r->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    long long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ' ') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The whole file (malloc'd, NUL-terminated), or NULL. */
static inline char *prun_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t k = fread(b, 1, (size_t)n, f);
    b[k] = 0;
    fclose(f);
    return b;
}

static inline void prun_cleanup(struct prun *r)
{
    if (r->pid > 0 && !prun_poll_exit(r)) {
        kill(r->pid, SIGTERM);
        prun_wait(r, 10);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", r->dir);
}

/* How many processes have TCGL_RUN_DIR=<our run dir> in their environment
 * (the stage workers of this run). */
static inline int prun_live_workers(struct prun *r)
{
    char want[400];
    int wl = snprintf(want, sizeof want, "TCGL_RUN_DIR=%s", r->run_dir);
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        static char env[65536];
        size_t k = fread(env, 1, sizeof env - 1, f);
        fclose(f);
        env[k] = 0;
        for (size_t i = 0; i < k; i += strlen(env + i) + 1)
            if (!strncmp(env + i, want, (size_t)wl) && env[i + (size_t)wl] == 0)
                n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Print pipectl's output (for a failing test's log). */
static inline void prun_dump(struct prun *r)
{
    char *o = prun_slurp(r->out_path);
    fprintf(stderr, "---- pipectl output ----\n%s\n------------------------\n", o ? o : "(none)");
    free(o);
}

#endif /* TEST_PIPECTL_UTIL_H */
