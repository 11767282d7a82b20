/* sandbox.h — where traced guest bytes run: a child process with
 * PR_SET_NO_NEW_PRIVS, a seccomp allow-list, resource limits and a timeout
 * (docs/security.md "Where guest bytes are executed").
 *
 * Two users share this code:
 *   - the native oracle's long-lived child (oracle_native.c, no exec): its
 *     table (oracle_native_child.c) allows a handful of calls, everything
 *     else traps (SIGSYS, reported per state);
 *   - sandbox_exec, which runs a program (the offload timing harness, under
 *     the static qemu-x86_64 or natively) under SANDBOX_EXEC_RULES: a filter
 *     installed *before* execve, so it must let qemu-user start; every call
 *     the table does not allow is sent to a supervisor in the parent
 *     (seccomp user notification), which decides the few calls that depend
 *     on the phase (the first execve, read-only opens until the program says
 *     it is ready, signals to itself) and treats anything else as a
 *     violation: it kills the child and reports the call by name.
 *
 * A table is the whole policy: one row per system call (several rows for
 * one call are alternatives), an optional condition on one argument, and
 * what happens.  Argument conditions look at values only, never at memory
 * the child could change (no path checks).
 */
#ifndef TCGL_SANDBOX_H
#define TCGL_SANDBOX_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

enum sandbox_action {
    SANDBOX_ALLOW,        /* kernel filter lets it through */
    SANDBOX_ENOSYS,       /* kernel filter fails it with ENOSYS (clone3: glibc falls back to clone) */
    SANDBOX_SUPERVISED,   /* the supervisor decides by `when` (sandbox_exec only) */
};

enum sandbox_when {       /* for SANDBOX_SUPERVISED rows */
    SANDBOX_ONCE,         /* the first such call only: the execve that starts the program */
    SANDBOX_UNTIL_READY,  /* until the program's ready marker */
    SANDBOX_TO_SELF,      /* argument `arg` is the child's own pid (kill, tgkill) */
    SANDBOX_READY,        /* the ready marker: set-up is over, guest bytes run next */
    SANDBOX_FAIL_QUIETLY, /* fails with EPERM; not a violation (the program copes) */
};

enum sandbox_cmp { SANDBOX_ANY, SANDBOX_EQ, SANDBOX_MASKED_EQ };

struct sandbox_rule {
    int nr;                   /* system call number (SCMP_SYS(name)) */
    enum sandbox_action action;
    enum sandbox_cmp cmp;     /* condition on argument `arg` */
    unsigned arg;
    uint64_t mask, value;     /* EQ: arg == value; MASKED_EQ: (arg & mask) == value */
    enum sandbox_when when;   /* SUPERVISED only */
    const char *why;          /* who needs it */
};

/* The table of sandbox_exec (qemu-x86_64 and the timing harness); its
 * length in sandbox_exec_nrules. */
extern const struct sandbox_rule sandbox_exec_rules[];
extern const size_t sandbox_exec_nrules;

/* Builds the BPF program of a table with libseccomp (allocates: call it in
 * the parent, before fork).  default_action / badarch_action are
 * SCMP_ACT_* values (SUPERVISED rows get SCMP_ACT_NOTIFY).  0 or -1. */
int sandbox_filter_build(const struct sandbox_rule *rules, size_t n, uint32_t default_action,
                         uint32_t badarch_action, struct sock_fprog *out);
void sandbox_filter_free(struct sock_fprog *prog);

/* In the child: PR_SET_NO_NEW_PRIVS and the filter.  With want_listener,
 * returns the seccomp user-notification fd; else 0.  -1 on failure.
 * Makes no allocation. */
int sandbox_install(const struct sock_fprog *prog, bool want_listener);

/* In the child, first thing after fork: die with the parent
 * (PR_SET_PDEATHSIG) and fail if it is already gone.  0 or -1. */
int sandbox_child_init(pid_t parent);

/* Resource limits; a field of 0 leaves that limit as it is, except core
 * dumps, which are always off. */
struct sandbox_limits {
    unsigned cpu_s;           /* RLIMIT_CPU (SIGXCPU, then SIGKILL a second later) */
    uint64_t as_bytes;        /* RLIMIT_AS */
    uint64_t fsize_bytes;     /* RLIMIT_FSIZE: largest file it may write */
    unsigned nofile;          /* RLIMIT_NOFILE */
};
int sandbox_set_limits(const struct sandbox_limits *l);

/* ---- running a program ------------------------------------------------------------ */

#define SANDBOX_MAX_FDS 8

struct sandbox_spec {
    int fds[SANDBOX_MAX_FDS];   /* child fd i := parent fd fds[i] (-1: /dev/null); every other fd is closed */
    unsigned nfds;              /* fds given (0..SANDBOX_MAX_FDS); 0, 1, 2 are /dev/null when not given */
    struct sandbox_limits limits;   /* 0 fields: defaults (cpu = timeout + 1 s, 4 GiB, 1 GiB, 64) */
    unsigned timeout_ms;        /* wall-clock limit; 0: 60 s */
};

enum sandbox_end {
    SANDBOX_EXITED,           /* status = exit code */
    SANDBOX_SIGNALED,         /* status = signal (a fault, SIGXCPU, or SIGSYS from a kernel-side kill) */
    SANDBOX_VIOLATION,        /* a system call outside the policy: killed by the supervisor */
    SANDBOX_TIMEOUT,          /* killed after timeout_ms */
    SANDBOX_START_FAILED,     /* the sandbox could not be set up: nothing ran */
};

struct sandbox_outcome {
    enum sandbox_end end;
    int status;
    int sys_nr;               /* VIOLATION: the call, its arguments */
    uint64_t sys_args[6];
    char what[256];           /* one line: what happened, e.g. "system call socket(0x2, 0x1, 0) is not allowed" */
};

/* Runs argv[0] (a path, no $PATH search) with argv in a fresh child under
 * sandbox_exec_rules, supervises it until it ends, and fills *out.
 * Returns 0 when the child ran (whatever its end), -1 when it could not be
 * started (out->end = SANDBOX_START_FAILED, out->what says why).  Not
 * thread-safe (one supervisor at a time per process is fine). */
int sandbox_exec(char *const argv[], const struct sandbox_spec *spec, struct sandbox_outcome *out);

/* The program's ready marker in sandbox_exec_rules: a program calls
 * syscall(SANDBOX_READY_NR) once its set-up is done and before untrusted
 * code runs; from then on no file can be opened.  (Under qemu-user the
 * guest's call is passed to the host unchanged.) */
#define SANDBOX_READY_NR SYS_getppid

/* Counters since the process started. */
struct sandbox_stats {
    uint64_t runs, violations, timeouts, signaled, start_failures;
};
void sandbox_get_stats(struct sandbox_stats *st);

#endif /* TCGL_SANDBOX_H */
