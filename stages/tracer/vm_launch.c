/* vm_launch.c — building QEMU's command line and supervising the VM. */
#include "vm_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

void vm_request_stop(void) { stop_requested = 1; }

void vm_spec_default(struct vm_spec *s)
{
    memset(s, 0, sizeof *s);
    s->qemu = "qemu-system-x86_64";
    s->memory_mib = 512;
    s->cpus = 1;
    s->icount = -1;
    s->timeout_s = 300;
    s->vm_id = "0";
}

static bool is_file(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int vm_check(const struct vm_spec *s, char *msg, size_t msglen)
{
    if (!s->kernel || !is_file(s->kernel)) {
        snprintf(msg, msglen, "kernel image '%s' does not exist (make deps fetches Debian's into build/deps/vmlinuz)",
                 s->kernel ? s->kernel : "(none)");
        return -1;
    }
    if (!s->initrd || !is_file(s->initrd)) {
        snprintf(msg, msglen, "initramfs '%s' does not exist (stages/tracer/image/mkinitramfs.sh builds it)",
                 s->initrd ? s->initrd : "(none)");
        return -1;
    }
    if (s->plugin && !is_file(s->plugin)) {
        snprintf(msg, msglen, "plugin '%s' does not exist (make builds it into BUILD/lib/trace_logger.so)", s->plugin);
        return -1;
    }
    if (!s->serial_log) { snprintf(msg, msglen, "no serial log path given"); return -1; }
    if (s->memory_mib < 64 || s->memory_mib > 65536) {
        snprintf(msg, msglen, "memory %u MiB is out of range (64..65536)", s->memory_mib);
        return -1;
    }
    if (s->cpus < 1 || s->cpus > 64) { snprintf(msg, msglen, "cpus %u is out of range (1..64)", s->cpus); return -1; }
    if (s->icount > 10) { snprintf(msg, msglen, "icount shift %d is out of range (0..10)", s->icount); return -1; }
    if (!s->vm_id || !*s->vm_id || strchr(s->vm_id, '/') || strchr(s->vm_id, ',')) {
        snprintf(msg, msglen, "vm_id '%s' must be non-empty without '/' or ','", s->vm_id ? s->vm_id : "");
        return -1;
    }
    for (int i = 0; i < s->nplugin_args; i++)
        if (!strchr(s->plugin_args[i], '=') || strchr(s->plugin_args[i], ',')) {
            snprintf(msg, msglen, "plugin argument '%s' must be key=value without ','", s->plugin_args[i]);
            return -1;
        }
    if (s->workloads && strpbrk(s->workloads, " \t\"'")) {
        snprintf(msg, msglen, "workload list '%s' must be comma-separated names", s->workloads);
        return -1;
    }
    return 0;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0) p = NULL;
    va_end(ap);
    return p;
}

static char *ram_path_of(const struct vm_spec *s)
{
    return s->ram_path ? strdup(s->ram_path) : xasprintf("/dev/shm/qemu_ram_%s", s->vm_id);
}

char **vm_build_argv(const struct vm_spec *s, char *msg, size_t msglen)
{
    if (vm_check(s, msg, msglen) < 0) return NULL;
    char **v = calloc(64, sizeof *v);
    int n = 0;
    if (!v) { snprintf(msg, msglen, "out of memory"); return NULL; }
    char *ram = ram_path_of(s);
#define ADD(x) (v[n++] = (x))
    ADD(strdup(s->qemu));
    ADD(strdup("-machine"));
    ADD(strdup("q35,memory-backend=tcgl_ram"));
    ADD(strdup("-accel"));
    ADD(strdup("tcg"));
    ADD(strdup("-m"));
    ADD(xasprintf("%uM", s->memory_mib));
    ADD(strdup("-smp"));
    ADD(xasprintf("%u", s->cpus));
    /* The seeds' shared-memory RAM bridge: guest RAM is a file others can map. */
    ADD(strdup("-object"));
    ADD(xasprintf("memory-backend-file,id=tcgl_ram,size=%uM,mem-path=%s,share=on", s->memory_mib, ram));
    ADD(strdup("-kernel"));
    ADD(strdup(s->kernel));
    ADD(strdup("-initrd"));
    ADD(strdup(s->initrd));
    ADD(strdup("-append"));
    /* Deterministic mode also pins what icount does not: the RTC's start
     * (host time of day) and address-space randomisation. */
    ADD(xasprintf("console=ttyS0 quiet loglevel=3 panic=-1%s%s%s", s->icount >= 0 ? " nokaslr norandmaps" : "",
                  s->workloads ? " tcgl_run=" : "", s->workloads ? s->workloads : ""));
    ADD(strdup("-display"));
    ADD(strdup("none"));
    ADD(strdup("-monitor"));
    ADD(strdup("none"));
    ADD(strdup("-serial"));
    ADD(xasprintf("file:%s", s->serial_log));
    ADD(strdup("-no-reboot"));
    if (s->icount >= 0) {
        /* Deterministic: instruction counting, no real-time drift. */
        ADD(strdup("-icount"));
        ADD(xasprintf("shift=%d,align=off,sleep=off", s->icount));
        ADD(strdup("-rtc"));
        ADD(strdup("base=2026-01-01T00:00:00,clock=vm"));
    }
    if (s->plugin) {
        size_t len = strlen(s->plugin) + 1;
        for (int i = 0; i < s->nplugin_args; i++) len += strlen(s->plugin_args[i]) + 1;
        char *p = malloc(len + 1);
        if (p) {
            strcpy(p, s->plugin);
            for (int i = 0; i < s->nplugin_args; i++) { strcat(p, ","); strcat(p, s->plugin_args[i]); }
        }
        ADD(strdup("-plugin"));
        ADD(p);
        ADD(strdup("-d"));       /* qemu_plugin_outs() lines go to QEMU's log (stderr) only with this */
        ADD(strdup("plugin"));
    }
#undef ADD
    free(ram);
    for (int i = 0; i < n; i++)
        if (!v[i]) { vm_argv_free(v); snprintf(msg, msglen, "out of memory"); return NULL; }
    return v;
}

void vm_argv_free(char **argv)
{
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

void vm_scan_console(const char *path, struct vm_result *r)
{
    FILE *f = fopen(path, "r");
    r->guest_done = false;
    r->workloads_run = r->workloads_failed = 0;
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *end = strstr(line, "TCGL-END ");
        if (end) {
            r->workloads_run++;
            const char *rc = strstr(end, " rc=");
            if (!rc || atoi(rc + 4) != 0) r->workloads_failed++;
        }
        if (strstr(line, "TCGL-DONE")) r->guest_done = true;
    }
    fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int vm_run(const struct vm_spec *s, struct vm_result *r)
{
    memset(r, 0, sizeof *r);
    char **argv = vm_build_argv(s, r->msg, sizeof r->msg);
    if (!argv) return -1;
    char *ram = ram_path_of(s);
    unlink(s->serial_log);
    double t0 = now_s();
    pid_t launcher = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->msg, sizeof r->msg, "fork: %s", strerror(errno));
        vm_argv_free(argv);
        free(ram);
        return -1;
    }
    if (pid == 0) {
        /* QEMU dies with its launcher: an orphaned QEMU would keep producing
         * into the trace queue, and the launcher pipectl restarts could never
         * open it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != launcher) _exit(126);
        /* QEMU creates the guest RAM file (/dev/shm) and the console log
         * with 0666 & ~umask: the guest's memory is nobody else's business. */
        umask(077);
        if (s->stderr_log) {
            int fd = open(s->stderr_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) { dup2(fd, 2); close(fd); }
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) { dup2(null, 0); close(null); }
        execvp(argv[0], argv);
        fprintf(stderr, "tracer: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    bool term_sent = false;
    double term_at = 0;
    for (;;) {
        struct rusage ru;
        pid_t w = wait4(pid, &status, WNOHANG, &ru);
        if (w == pid) {
            r->cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
            r->cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
            break;
        }
        if (w < 0 && errno != EINTR) { status = 0; break; }
        double t = now_s();
        if (!term_sent && (stop_requested || t - t0 > s->timeout_s)) {
            r->timed_out = !stop_requested;
            kill(pid, SIGTERM);        /* QEMU shuts down cleanly: the plugin writes TRACE_END */
            term_sent = true;
            term_at = t;
        } else if (term_sent && t - term_at > 10) {
            kill(pid, SIGKILL);
        }
        struct timespec d = {0, 20 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    r->wall_s = now_s() - t0;
    r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    vm_scan_console(s->serial_log, r);
    if (!s->keep_ram) unlink(ram);
    free(ram);
    vm_argv_free(argv);
    if (r->timed_out) {
        snprintf(r->msg, sizeof r->msg, "the guest did not power off within %u s and was stopped "
                 "(console: %s, %d workload(s) finished)", s->timeout_s, s->serial_log, r->workloads_run);
        return -1;
    }
    if (stop_requested) {
        snprintf(r->msg, sizeof r->msg, "stopped on request after %.1f s", r->wall_s);
        return -1;
    }
    if (r->exit_status != 0) {
        snprintf(r->msg, sizeof r->msg, "QEMU exited with status %d (console: %s%s%s)", r->exit_status,
                 s->serial_log, s->stderr_log ? ", stderr: " : "", s->stderr_log ? s->stderr_log : "");
        return -1;
    }
    if (!r->guest_done) {
        snprintf(r->msg, sizeof r->msg, "the guest powered off before its init finished (no TCGL-DONE in %s)",
                 s->serial_log);
        return -1;
    }
    return 0;
}
