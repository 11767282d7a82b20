/* vm_launch.h — starting the tracing VM: QEMU 10 in system mode with
 * trace_logger.so, guest RAM in a /dev/shm file (the shared-memory RAM
 * bridge), the serial console in a log file, a guest time limit.
 *
 * The launcher (stages/tracer/main.c) and the integration tests use the same
 * code, so what the tests check is what pipectl runs.
 */
#ifndef TCGL_VM_LAUNCH_H
#define TCGL_VM_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_MAX_PLUGIN_ARGS 64

struct vm_spec {
    const char *qemu;              /* default "qemu-system-x86_64" (PATH) */
    const char *kernel;            /* required */
    const char *initrd;            /* required */
    const char *plugin;            /* trace_logger.so (or another plugin); NULL: no plugin */
    const char *plugin_args[VM_MAX_PLUGIN_ARGS];
    int nplugin_args;
    const char *workloads;         /* comma-separated names (tcgl_run=); NULL: the image's default */
    uint32_t memory_mib;           /* default 512 */
    uint32_t cpus;                 /* default 1 */
    int icount;                    /* -1: off; else -icount shift=N (deterministic) */
    uint32_t timeout_s;            /* guest run-time limit; default 300 */
    const char *vm_id;             /* names the RAM file /dev/shm/qemu_ram_{vm_id}; default "0" */
    const char *ram_path;          /* overrides the RAM file path */
    bool keep_ram;                 /* leave the RAM file after the run (default: removed) */
    const char *serial_log;        /* required: the guest console goes here */
    const char *stderr_log;        /* QEMU's stderr (plugin messages); NULL: inherited */
};

struct vm_result {
    int exit_status;               /* QEMU's exit status, or 128+signal */
    bool timed_out;                /* killed after timeout_s */
    bool guest_done;               /* the console shows TCGL-DONE (init ran every workload) */
    int workloads_run, workloads_failed;
    double wall_s;
    double cpu_user_s, cpu_sys_s;  /* QEMU's CPU time (wait4 rusage) */
    char msg[512];                 /* what went wrong, when something did */
};

void vm_spec_default(struct vm_spec *s);
/* The QEMU command line (NULL-terminated, malloc'd strings); NULL with msg on error. */
char **vm_build_argv(const struct vm_spec *s, char *msg, size_t msglen);
void vm_argv_free(char **argv);
/* Check the spec's files exist and the values are sane; 0 or -1 with msg. */
int vm_check(const struct vm_spec *s, char *msg, size_t msglen);
/* Run the VM to completion (or the time limit).  Returns 0 when QEMU exited
 * 0 and the guest finished its workloads, else -1 with r->msg. */
int vm_run(const struct vm_spec *s, struct vm_result *r);
/* Forward a termination request to a running vm_run (async-signal-safe). */
void vm_request_stop(void);
/* Scan a console log for the init's markers. */
void vm_scan_console(const char *path, struct vm_result *r);

#endif /* TCGL_VM_LAUNCH_H */
