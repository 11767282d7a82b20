/* test_reliability_vm — faults of the tracing VM, with the real tracer
 * launcher and the real QEMU (tests/integration/test_tracer_vm.c covers the
 * working VM; this covers what goes wrong):
 *
 *   - a missing kernel: a clear error naming the path, exit status 1 or 2,
 *     QEMU never started;
 *   - a guest that crashes (an empty initramfs: the kernel panics, and QEMU
 *     runs it with panic=-1 -no-reboot): a clear error, exit status 1;
 *   - a guest that never powers off (an initramfs whose /init is busybox's
 *     init, which waits forever): stopped at --timeout with a clear error,
 *     exit status 3;
 *   - QEMU dying under the guest (SIGKILL): a clear error ("QEMU exited with
 *     status 137"), exit status 1.
 * In every case no QEMU process and no guest RAM file are left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "test_reliability_util.h"

static char tracer[1200], dir[256], empty_cpio[400], forever_cpio[400];

static int setup(void **state)
{
    (void)state;
    snprintf(tracer, sizeof tracer, "%s/bin/tracer", prun_build());
    snprintf(dir, sizeof dir, "/tmp/tcgl-relvm-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(empty_cpio, sizeof empty_cpio, "%s/empty.cpio", dir);
    FILE *f = fopen(empty_cpio, "w");
    if (!f) return -1;
    fclose(f);
    /* busybox (static, from busybox-static) as /init: init with no inittab
     * runs no rc script and waits for ever */
    snprintf(forever_cpio, sizeof forever_cpio, "%s/forever.cpio", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p '%s/root/dev'; cp /bin/busybox '%s/root/init'; "
             "cd '%s/root' && find . | cpio -o -H newc --quiet > '%s'",
             dir, dir, dir, forever_cpio);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot build %s (needs /bin/busybox and cpio)\n", forever_cpio);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* pid of a process whose command line mentions `needle` (QEMU's
 * memory-backend path carries the vm id), excluding `self`; 0 when none. */
static pid_t find_proc(const char *needle, pid_t self)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    struct dirent *e;
    pid_t found = 0;
    while (!found && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || pid == self) continue;
        char p[64], buf[8192];
        snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (!buf[i]) buf[i] = ' ';
        buf[n] = 0;
        if (strstr(buf, needle) && strstr(buf, "qemu-system")) found = pid;
    }
    closedir(d);
    return found;
}

/* Start the tracer with args; its stderr+stdout go to dir/NAME.log. */
static pid_t start_tracer(const char *name, const char *const *args)
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        /* the launcher's error exits do not free their option strings */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        const char *argv[32] = { tracer };
        int n = 1;
        for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(tracer, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, int timeout_s)
{
    uint64_t end = prun_now_ms() + (uint64_t)timeout_s * 1000u;
    int st;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (prun_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(50000);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *tracer_log(const char *name)
{
    char *s = rel_slurpf("%s/%s.log", dir, name);
    assert_non_null(s);
    fprintf(stderr, "  tracer says:\n%s", s);
    return s;
}

static void assert_nothing_left(const char *vmid)
{
    char ram[200];
    snprintf(ram, sizeof ram, "/dev/shm/qemu_ram_%s", vmid);
    assert_int_equal(access(ram, F_OK), -1);
    char needle[100];
    snprintf(needle, sizeof needle, "qemu_ram_%s", vmid);
    assert_int_equal(find_proc(needle, getpid()), 0);
}

static void test_missing_kernel(void **state)
{
    (void)state;
    char vmid[64], kernel[400];
    snprintf(vmid, sizeof vmid, "relnok%d", (int)getpid());
    snprintf(kernel, sizeof kernel, "%s/no-such-vmlinuz", dir);
    const char *args[] = { "--kernel", kernel, "--no-plugin", "--vm-id", vmid, "--timeout", "30", NULL };
    int rc = wait_exit(start_tracer("nokernel", args), 60);
    char *log = tracer_log("nokernel");
    assert_true(rc == 1 || rc == 2);
    assert_non_null(strstr(log, kernel));
    assert_non_null(strstr(log, "does not exist"));
    assert_null(strstr(log, "AddressSanitizer"));
    free(log);
    assert_nothing_left(vmid);
}

static void test_guest_crashes(void **state)
{
    (void)state;
    char vmid[64], console[400];
    snprintf(vmid, sizeof vmid, "relpanic%d", (int)getpid());
    snprintf(console, sizeof console, "%s/panic.console", dir);
    const char *args[] = { "--initrd", empty_cpio, "--no-plugin", "--vm-id", vmid, "--timeout", "120",
                           "--console", console, NULL };
    int rc = wait_exit(start_tracer("panic", args), 180);
    char *log = tracer_log("panic");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(log, "powered off before its init finished"));
    assert_non_null(strstr(log, vmid));
    free(log);
    char *con = rel_slurp(console);
    assert_non_null(con);
    assert_non_null(strstr(con, "Kernel panic"));
    free(con);
    assert_nothing_left(vmid);
}

static void test_guest_never_powers_off(void **state)
{
    (void)state;
    char vmid[64], console[400];
    snprintf(vmid, sizeof vmid, "relhang%d", (int)getpid());
    snprintf(console, sizeof console, "%s/hang.console", dir);
    const char *args[] = { "--initrd", forever_cpio, "--no-plugin", "--vm-id", vmid, "--timeout", "4",
                           "--console", console, NULL };
    uint64_t t0 = prun_now_ms();
    int rc = wait_exit(start_tracer("hang", args), 90);
    uint64_t ms = prun_now_ms() - t0;
    char *log = tracer_log("hang");
    assert_int_equal(rc, 3);
    assert_non_null(strstr(log, "did not power off within 4 s"));
    assert_non_null(strstr(log, vmid));
    assert_true(ms >= 4000);
    free(log);
    assert_nothing_left(vmid);
}

static void test_qemu_killed(void **state)
{
    (void)state;
    char vmid[64], console[400];
    snprintf(vmid, sizeof vmid, "relcrash%d", (int)getpid());
    snprintf(console, sizeof console, "%s/crash.console", dir);
    const char *args[] = { "--initrd", forever_cpio, "--no-plugin", "--vm-id", vmid, "--timeout", "120",
                           "--console", console, NULL };
    pid_t tp = start_tracer("crash", args);
    char needle[100];
    snprintf(needle, sizeof needle, "qemu_ram_%s", vmid);
    pid_t q = 0;
    for (int i = 0; i < 600 && !(q = find_proc(needle, getpid())); i++) usleep(50000);
    assert_true(q > 0);
    usleep(500000);
    assert_int_equal(kill(q, SIGKILL), 0);
    int rc = wait_exit(tp, 60);
    char *log = tracer_log("crash");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(log, vmid));
    /* the launcher reports a signal death as the shell does: 128 + 9 */
    assert_true(strstr(log, "status 137") || strstr(log, "signal 9") || strstr(log, "SIGKILL"));
    free(log);
    assert_nothing_left(vmid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_kernel),
        cmocka_unit_test(test_guest_crashes),
        cmocka_unit_test(test_guest_never_powers_off),
        cmocka_unit_test(test_qemu_killed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
