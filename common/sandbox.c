/* sandbox.c — see sandbox.h. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* ---- the policy of sandbox_exec: qemu-x86_64 and the offload harness --------------- */

/* Open flags that create, truncate or write: refused even before the
 * ready marker (020000000 is O_TMPFILE's own bit). */
#define OPEN_WRITE_FLAGS ((uint64_t)(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | 020000000))

#define ALLOW(nr, why) { nr, SANDBOX_ALLOW, SANDBOX_ANY, 0, 0, 0, 0, why }
#define ALLOW_IF(nr, cmp, arg, mask, value, why) { nr, SANDBOX_ALLOW, cmp, arg, mask, value, 0, why }
#define ASK(nr, when, cmp, arg, mask, value, why) { nr, SANDBOX_SUPERVISED, cmp, arg, mask, value, when, why }

/* Found with strace on real runs of qemu-x86_64 and of the static-pie
 * harness (docs/security.md lists the table with the reasons). */
const struct sandbox_rule sandbox_exec_rules[] = {
    /* start-up: the execve of the program, then the loader and libc */
    ASK(SYS_execve, SANDBOX_ONCE, SANDBOX_ANY, 0, 0, 0, "starting the program (only the first execve)"),
    ASK(SYS_openat, SANDBOX_UNTIL_READY, SANDBOX_MASKED_EQ, 2, OPEN_WRITE_FLAGS, 0,
        "qemu: the guest ELF, /proc/sys/vm/mmap_min_addr (read-only, before the ready marker)"),
    ASK(SYS_open, SANDBOX_UNTIL_READY, SANDBOX_MASKED_EQ, 1, OPEN_WRITE_FLAGS, 0, "as openat"),
    ASK(SANDBOX_READY_NR, SANDBOX_READY, SANDBOX_ANY, 0, 0, 0, "the ready marker: set-up done, guest bytes run next"),
    ALLOW(SYS_brk, "libc heap"),
    ALLOW(SYS_arch_prctl, "libc TLS"),
    ALLOW(SYS_set_tid_address, "libc threads"),
    ALLOW(SYS_set_robust_list, "libc threads"),
    ALLOW(SYS_rseq, "libc"),
    ALLOW_IF(SYS_prlimit64, SANDBOX_EQ, 2, 0, 0, "reading a limit (stack size, core size)"),
    ASK(SYS_prlimit64, SANDBOX_FAIL_QUIETLY, SANDBOX_ANY, 0, 0, 0,
        "setting a limit fails with EPERM (qemu lowers its core size before dying of a guest signal; as root it "
        "could raise its hard limits)"),
    ALLOW(SYS_getrlimit, "reading a limit"),
    ALLOW(SYS_getrandom, "libc, qemu"),
    ALLOW(SYS_uname, "qemu"),
    ALLOW(SYS_sysinfo, "qemu: sizing its translation buffer"),
    ALLOW(SYS_readlink, "qemu: /proc/self/exe and path translation (reveals nothing it could send anywhere)"),
    ALLOW(SYS_access, "qemu: path translation"),
    ALLOW(SYS_newfstatat, "qemu: fstat of open files"),
    ALLOW(SYS_fstat, "fstat of open files"),
    ALLOW(SYS_getpid, "qemu: dying from a guest signal"),
    ALLOW(SYS_gettid, "qemu"),
    ALLOW(SYS_getuid, "qemu: guest auxv"),
    ALLOW(SYS_geteuid, "qemu: guest auxv"),
    ALLOW(SYS_getgid, "qemu: guest auxv"),
    ALLOW(SYS_getegid, "qemu: guest auxv"),
    /* threads: qemu's RCU thread; no new process */
    ALLOW_IF(SYS_clone, SANDBOX_MASKED_EQ, 0, CLONE_THREAD, CLONE_THREAD, "threads only (qemu's RCU thread)"),
    { SYS_clone3, SANDBOX_ENOSYS, SANDBOX_ANY, 0, 0, 0, 0, "flags unreadable by seccomp: ENOSYS, glibc falls back to clone" },
    ALLOW(SYS_futex, "threads"),
    ALLOW(SYS_sched_yield, "threads"),
    ALLOW(SYS_clock_nanosleep, "qemu's RCU thread"),
    ALLOW(SYS_nanosleep, "sleeping"),
    ALLOW(SYS_clock_gettime, "the harness's timing"),
    /* memory */
    ALLOW(SYS_mmap, "qemu: ELF, translation buffer, guest pages; the harness's state pages"),
    ALLOW(SYS_munmap, "memory"),
    ALLOW(SYS_mprotect, "memory, qemu's translated code"),
    ALLOW(SYS_madvise, "qemu"),
    ALLOW(SYS_mremap, "guest realloc"),
    /* I/O on descriptors it already holds (its state input, outputs, log) */
    ALLOW(SYS_read, "already-open descriptors"),
    ALLOW(SYS_pread64, "qemu: ELF sections"),
    ALLOW(SYS_write, "already-open descriptors"),
    ALLOW(SYS_lseek, "qemu: ELF"),
    ALLOW(SYS_close, "closing"),
    /* signals: qemu handles guest faults with host signals */
    ALLOW(SYS_rt_sigaction, "signal handlers"),
    ALLOW(SYS_rt_sigprocmask, "signal masks"),
    ALLOW(SYS_rt_sigreturn, "signal return"),
    ALLOW(SYS_rt_sigsuspend, "qemu: dying from a guest signal"),
    ALLOW(SYS_sigaltstack, "signal stacks"),
    ASK(SYS_kill, SANDBOX_TO_SELF, SANDBOX_ANY, 0, 0, 0, "qemu: dying from a guest signal (itself only)"),
    ASK(SYS_tgkill, SANDBOX_TO_SELF, SANDBOX_ANY, 0, 0, 0, "signals between its own threads"),
    /* native harness: perf counters of itself, then its own narrower filter */
    ALLOW_IF(SYS_perf_event_open, SANDBOX_MASKED_EQ, 1, 0xffffffffu, 0, "cycle/instruction counters of itself (pid 0)"),
    ALLOW_IF(SYS_ioctl, SANDBOX_MASKED_EQ, 1, 0xffffffffu, PERF_EVENT_IOC_ENABLE, "perf counter on"),
    ALLOW_IF(SYS_ioctl, SANDBOX_MASKED_EQ, 1, 0xffffffffu, PERF_EVENT_IOC_DISABLE, "perf counter off"),
    ALLOW_IF(SYS_prctl, SANDBOX_EQ, 0, 0, PR_SET_NO_NEW_PRIVS, "the harness's own, narrower filter"),
    ALLOW_IF(SYS_prctl, SANDBOX_EQ, 0, 0, PR_SET_SECCOMP, "the harness's own, narrower filter"),
    ALLOW_IF(SYS_prctl, SANDBOX_EQ, 0, 0, PR_GET_DUMPABLE, "qemu: dying from a guest signal"),
    ALLOW(SYS_exit, "thread exit"),
    ALLOW(SYS_exit_group, "exit"),
};
const size_t sandbox_exec_nrules = sizeof sandbox_exec_rules / sizeof sandbox_exec_rules[0];

/* ---- filters -------------------------------------------------------------------------- */

static struct scmp_arg_cmp rule_cmp(const struct sandbox_rule *r)
{
    if (r->cmp == SANDBOX_EQ)
        return (struct scmp_arg_cmp){ r->arg, SCMP_CMP_EQ, r->value, 0 };
    return (struct scmp_arg_cmp){ r->arg, SCMP_CMP_MASKED_EQ, r->mask, r->value };
}

int sandbox_filter_build(const struct sandbox_rule *rules, size_t n, uint32_t default_action,
                         uint32_t badarch_action, struct sock_fprog *out)
{
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (!ctx)
        return -1;
    /* int 0x80 from 64-bit code enters the i386 table; x32 numbers are
     * refused by libseccomp's x86-64 filter as a bad architecture too. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch_action);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct sandbox_rule *r = &rules[i];
        uint32_t act = r->action == SANDBOX_ALLOW ? SCMP_ACT_ALLOW
                     : r->action == SANDBOX_ENOSYS ? SCMP_ACT_ERRNO(ENOSYS) : SCMP_ACT_NOTIFY;
        if (act == default_action)
            continue;   /* already what happens (libseccomp refuses such a rule) */
        if (r->cmp == SANDBOX_ANY)
            rc = seccomp_rule_add(ctx, act, r->nr, 0);
        else
            rc = seccomp_rule_add(ctx, act, r->nr, 1, rule_cmp(r));
        if (rc != 0)
            log_error("sandbox: seccomp rule %zu (system call %d) refused: %s", i, r->nr, strerror(-rc));
    }
    int fd = rc == 0 ? memfd_create("sandbox-seccomp", MFD_CLOEXEC) : -1;
    if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
        off_t len = lseek(fd, 0, SEEK_END);
        struct sock_filter *f = len > 0 && len % (off_t)sizeof *f == 0 ? malloc((size_t)len) : NULL;
        if (f && pread(fd, f, (size_t)len, 0) == (ssize_t)len) {
            out->filter = f;
            out->len = (unsigned short)((size_t)len / sizeof *f);
            close(fd);
            seccomp_release(ctx);
            return 0;
        }
        free(f);
    }
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return -1;
}

void sandbox_filter_free(struct sock_fprog *prog)
{
    free(prog->filter);
    prog->filter = NULL;
    prog->len = 0;
}

int sandbox_install(const struct sock_fprog *prog, bool want_listener)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (!want_listener)
        return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) == 0 ? 0 : -1;
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
    return fd < 0 ? -1 : (int)fd;
}

int sandbox_child_init(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return -1;
    return getppid() == parent ? 0 : -1;
}

static int set_one(int res, uint64_t v)
{
    struct rlimit rl = { (rlim_t)v, (rlim_t)v };
    return setrlimit(res, &rl);
}

int sandbox_set_limits(const struct sandbox_limits *l)
{
    int rc = set_one(RLIMIT_CORE, 0);
    if (l && l->cpu_s) {
        struct rlimit rl = { l->cpu_s, (rlim_t)l->cpu_s + 1 };   /* SIGXCPU, then SIGKILL */
        rc |= setrlimit(RLIMIT_CPU, &rl);
    }
    if (l && l->as_bytes)
        rc |= set_one(RLIMIT_AS, l->as_bytes);
    if (l && l->fsize_bytes)
        rc |= set_one(RLIMIT_FSIZE, l->fsize_bytes);
    if (l && l->nofile)
        rc |= set_one(RLIMIT_NOFILE, l->nofile);
    return rc ? -1 : 0;
}

/* ---- sandbox_exec: child, supervisor ------------------------------------------------ */

static struct sandbox_stats g_stats;
static struct sock_fprog g_exec_prog;
static int g_exec_prog_rc = -1;
static pthread_once_t g_exec_once = PTHREAD_ONCE_INIT;

static void build_exec_filter(void)
{
    g_exec_prog_rc = sandbox_filter_build(sandbox_exec_rules, sandbox_exec_nrules, SCMP_ACT_NOTIFY,
                                          SCMP_ACT_KILL_PROCESS, &g_exec_prog);
}

void sandbox_get_stats(struct sandbox_stats *st)
{
    *st = g_stats;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The child between fork and execve: descriptors, limits, filter, hand the
 * listener to the parent, wait for its go, exec.  No allocation, no log. */
static _Noreturn void exec_child(pid_t parent, char *const argv[], const struct sandbox_spec *spec,
                                 const struct sandbox_limits *lim, int sync_fd, int devnull)
{
    static char *const envp[] = { "LC_ALL=C", NULL };
    if (sandbox_child_init(parent) != 0)
        _exit(120);
    unsigned n = spec->nfds > 3 ? spec->nfds : 3;
    int hi[SANDBOX_MAX_FDS];
    for (unsigned i = 0; i < n; i++) {   /* out of the way first: sources may sit on targets */
        int src = i < spec->nfds && spec->fds[i] >= 0 ? spec->fds[i] : devnull;
        hi[i] = fcntl(src, F_DUPFD, 64);
        if (hi[i] < 0)
            _exit(120);
    }
    int sync_hi = fcntl(sync_fd, F_DUPFD, 64);
    if (sync_hi < 0)
        _exit(120);
    for (unsigned i = 0; i < n; i++)
        if (dup2(hi[i], (int)i) != (int)i)
            _exit(120);
    if (dup2(sync_hi, (int)n) != (int)n)
        _exit(120);
    sync_fd = (int)n;
    if (syscall(SYS_close_range, n + 1, ~0u, 0) != 0)
        _exit(120);
    if (sandbox_set_limits(lim) != 0)
        _exit(121);
    int listener = sandbox_install(&g_exec_prog, true);
    if (listener < 0)
        _exit(122);
    /* From here on: only what the table allows, or what the parent says. */
    char go;
    if (write(sync_fd, &listener, sizeof listener) != (ssize_t)sizeof listener || read(sync_fd, &go, 1) != 1)
        _exit(123);
    close(listener);
    close(sync_fd);
    execve(argv[0], argv, envp);
    _exit(127);
}

struct supervisor {
    pid_t pid;
    bool started, ready;
};

/* Why a call is refused ("" when it is allowed); *quiet: refused with
 * EPERM but not a violation. */
static const char *decide(struct supervisor *s, const struct seccomp_data *d, bool *quiet)
{
    *quiet = false;
    if (d->arch != AUDIT_ARCH_X86_64)
        return "foreign architecture";
    const char *why = "not in the policy";
    for (size_t i = 0; i < sandbox_exec_nrules; i++) {
        const struct sandbox_rule *r = &sandbox_exec_rules[i];
        if (r->nr != d->nr)
            continue;
        if (r->action != SANDBOX_SUPERVISED) {
            why = "arguments outside the policy";   /* the kernel filter did not let it through */
            continue;
        }
        uint64_t a = d->args[r->arg];
        if ((r->cmp == SANDBOX_EQ && a != r->value) || (r->cmp == SANDBOX_MASKED_EQ && (a & r->mask) != r->value)) {
            why = "arguments outside the policy";
            continue;
        }
        switch (r->when) {
        case SANDBOX_ONCE:
            if (!s->started) {
                s->started = true;
                return "";
            }
            why = "only once, to start the program";
            break;
        case SANDBOX_UNTIL_READY:
            if (!s->ready)
                return "";
            why = "only during set-up, before the ready marker";
            break;
        case SANDBOX_TO_SELF:
            if ((pid_t)(int32_t)a == s->pid)
                return "";
            why = "only to itself";
            break;
        case SANDBOX_READY:
            s->ready = true;
            return "";
        case SANDBOX_FAIL_QUIETLY:
            *quiet = true;
            return "fails with EPERM";
        }
    }
    return why;
}

static void describe_call(char *buf, size_t bl, const struct seccomp_data *d)
{
    char *name = d->arch == AUDIT_ARCH_X86_64 ? seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, d->nr) : NULL;
    char num[32];
    snprintf(num, sizeof num, "#%d", d->nr);
    snprintf(buf, bl, "%s(%#llx, %#llx, %#llx, %#llx)", name ? name : num, (unsigned long long)d->args[0],
             (unsigned long long)d->args[1], (unsigned long long)d->args[2], (unsigned long long)d->args[3]);
    free(name);
}

static void end_of(struct sandbox_outcome *out, int st)
{
    if (WIFSIGNALED(st)) {
        out->end = SANDBOX_SIGNALED;
        out->status = WTERMSIG(st);
        g_stats.signaled++;
        if (out->status == SIGSYS)
            snprintf(out->what, sizeof out->what, "killed by SIGSYS: a system call refused by a kernel-side "
                     "filter (foreign architecture, or the program's own filter)");
        else if (out->status == SIGXCPU || out->status == SIGKILL)
            snprintf(out->what, sizeof out->what, "killed by signal %d (%s; CPU time limit?)", out->status,
                     strsignal(out->status));
        else
            snprintf(out->what, sizeof out->what, "killed by signal %d (%s)", out->status, strsignal(out->status));
    } else {
        out->end = SANDBOX_EXITED;
        out->status = WEXITSTATUS(st);
        snprintf(out->what, sizeof out->what, "exited with status %d", out->status);
    }
}

/* Reaps pid, killing it first. */
static int kill_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* Nothing ran: says which step failed and why. */
static int start_failed(struct sandbox_outcome *out, const char *prog, const char *step, int err)
{
    out->end = SANDBOX_START_FAILED;
    snprintf(out->what, sizeof out->what, "%s: the sandbox could not be set up: %s: %s", prog, step, strerror(err));
    g_stats.start_failures++;
    log_error("sandbox: %s", out->what);
    return -1;
}

int sandbox_exec(char *const argv[], const struct sandbox_spec *spec, struct sandbox_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->sys_nr = -1;
    pthread_once(&g_exec_once, build_exec_filter);
    if (g_exec_prog_rc != 0) {
        return start_failed(out, argv[0], "building the seccomp filter", EINVAL);
    }
    if (spec->nfds > SANDBOX_MAX_FDS) {
        return start_failed(out, argv[0], "too many descriptors", EINVAL);
    }
    unsigned timeout_ms = spec->timeout_ms ? spec->timeout_ms : 60000;
    struct sandbox_limits lim = spec->limits;
    if (!lim.cpu_s) lim.cpu_s = (timeout_ms + 999) / 1000 + 1;
    if (!lim.as_bytes) lim.as_bytes = 4ull << 30;
    if (!lim.fsize_bytes) lim.fsize_bytes = 1ull << 30;
    if (!lim.nofile) lim.nofile = 64;

    struct seccomp_notif *req = NULL;
    struct seccomp_notif_resp *resp = NULL;
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0 || seccomp_notify_alloc(&req, &resp) != 0)
        return start_failed(out, argv[0], "seccomp user notification", errno ? errno : ENOSYS);
    int sv[2] = { -1, -1 };
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        int e = errno;
        if (devnull >= 0) close(devnull);
        seccomp_notify_free(req, resp);
        return start_failed(out, argv[0], "socketpair", e);
    }
    g_stats.runs++;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        exec_child(parent, argv, spec, &lim, sv[1], devnull);
    close(sv[1]);
    close(devnull);
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        seccomp_notify_free(req, resp);
        return start_failed(out, argv[0], "fork", e);
    }

    /* Take the child's listener (pidfd_getfd), then let it exec. */
    uint64_t deadline = now_ms() + timeout_ms;
    int child_lfd = -1, listener = -1, pidfd = -1;
    struct pollfd sp = { .fd = sv[0], .events = POLLIN };
    if (poll(&sp, 1, (int)timeout_ms) == 1 && read(sv[0], &child_lfd, sizeof child_lfd) == (ssize_t)sizeof child_lfd) {
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd >= 0)
            listener = (int)syscall(SYS_pidfd_getfd, pidfd, child_lfd, 0);
    }
    if (listener < 0) {
        int e = child_lfd < 0 ? ECHILD : errno;
        int st = kill_reap(pid);
        close(sv[0]);
        if (pidfd >= 0) close(pidfd);
        seccomp_notify_free(req, resp);
        char step[96];
        snprintf(step, sizeof step, "taking the child's seccomp listener (child status %#x)", (unsigned)st);
        return start_failed(out, argv[0], step, e);
    }
    close(pidfd);
    char go = 'g';
    if (write(sv[0], &go, 1) != 1) { /* the child died: reaped below */ }
    close(sv[0]);

    struct supervisor s = { .pid = pid };
    bool violated = false, timed_out = false, reaped = false;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            reaped = true;
            break;
        }
        uint64_t t = now_ms();
        if (t >= deadline) {
            timed_out = true;
            break;
        }
        uint64_t left = deadline - t;
        struct pollfd p = { .fd = listener, .events = POLLIN };
        int r = poll(&p, 1, left < 50 ? (int)left : 50);
        if (r <= 0)
            continue;
        if (!(p.revents & POLLIN)) {
            /* POLLHUP: no task uses the filter any more; the child is gone. */
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            reaped = true;
            break;
        }
        memset(req, 0, sizes.seccomp_notif);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0)
            continue;   /* the caller died meanwhile */
        bool quiet;
        const char *why = decide(&s, &req->data, &quiet);
        memset(resp, 0, sizes.seccomp_notif_resp);
        resp->id = req->id;
        if (!why[0]) {
            resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        } else if (quiet) {
            resp->error = -EPERM;
        } else {
            resp->error = -EPERM;
            if (!violated) {
                violated = true;
                out->sys_nr = req->data.nr;
                memcpy(out->sys_args, req->data.args, sizeof out->sys_args);
                char call[160];
                describe_call(call, sizeof call, &req->data);
                snprintf(out->what, sizeof out->what, "system call %s refused by the sandbox (%s)", call, why);
            }
            kill(pid, SIGKILL);
        }
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);   /* fails harmlessly when it died */
    }
    if (!reaped)
        st = kill_reap(pid);
    close(listener);
    seccomp_notify_free(req, resp);
    if (violated) {
        out->end = SANDBOX_VIOLATION;
        out->status = WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st);
        g_stats.violations++;
    } else if (timed_out) {
        out->end = SANDBOX_TIMEOUT;
        out->status = SIGKILL;
        snprintf(out->what, sizeof out->what, "still running after %u ms: killed", timeout_ms);
        g_stats.timeouts++;
    } else {
        end_of(out, st);
    }
    return 0;
}
