/* test_sandbox_exec — the sandbox in which guest bytes run outside the
 * native oracle (common/sandbox.h; docs/security.md).  Real processes, a
 * real static program compiled here with gcc, run natively and under the
 * real static qemu-x86_64:
 *   - honest work passes (descriptors handed over, read-only opens during
 *     set-up, signals to itself, faults reported as faults);
 *   - every forbidden thing is stopped and named: socket, open for writing
 *     (before and after the ready marker), any open after it, a second
 *     execve, a signal to another process, fork, an i386 or x32 system
 *     call, raising a limit; nothing it tried happened (no file, no signal);
 *   - a spinning program is killed at the timeout, address space is limited;
 *   - offload's speedup harness (speedup_measure): a block whose code makes
 *     socket or openat system calls is stopped under qemu-x86_64, the block
 *     is named, the counter moves, and the next block is still measured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "../../stages/offload/speedup.h"
#include "../unit/library_test_util.h"
#include "../unit/offload_test_util.h"

#define QEMU "/usr/bin/qemu-x86_64"

static const char prog_src[] =
    "#define _GNU_SOURCE\n"
    "#include <fcntl.h>\n#include <signal.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "#include <sys/resource.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n"
    "static void ready(void) { syscall(SYS_getppid); }\n"
    "int main(int argc, char **argv) {\n"
    "  if (argc < 2) return 2;\n"
    "  const char *m = argv[1], *path = argc > 2 ? argv[2] : \"/dev/null\";\n"
    "  if (!strcmp(m, \"open-write-early\")) return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) >= 0 ? 10 : 11;\n"
    "  if (!strcmp(m, \"open-read-early\")) { int fd = open(path, O_RDONLY); char c; ready();\n"
    "    return fd >= 0 && read(fd, &c, 1) >= 0 ? 0 : 12; }\n"
    "  ready();\n"
    "  if (!strcmp(m, \"ok\")) { char b[64]; ssize_t n = read(0, b, sizeof b);\n"
    "    if (n <= 0 || write(3, b, (size_t)n) != n || write(1, \"ok\\n\", 3) != 3) return 13;\n"
    "    kill(getpid(), 0); return 0; }\n"
    "  if (!strcmp(m, \"socket\")) { syscall(SYS_socket, 2, 1, 0); return 20; }\n"
    "  if (!strcmp(m, \"open-write-late\")) { syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT, 0600); return 21; }\n"
    "  if (!strcmp(m, \"open-read-late\")) { open(path, O_RDONLY); return 22; }\n"
    "  if (!strcmp(m, \"exec\")) { char *a[] = { \"/bin/true\", 0 }; execv(a[0], a); return 23; }\n"
    "  if (!strcmp(m, \"kill-parent\")) { kill(getppid(), SIGUSR1); return 24; }\n"
    "  if (!strcmp(m, \"fork\")) { if (fork() == 0) _exit(0); return 25; }\n"
    "  if (!strcmp(m, \"spin\")) { for (volatile unsigned long i = 0;; i++) {} }\n"
    "  if (!strcmp(m, \"segv\")) { *(volatile int *)8 = 1; return 26; }\n"
    "  if (!strcmp(m, \"int80\")) { long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(20L)); return 27; }\n"
    "  if (!strcmp(m, \"x32\")) { syscall(0x40000000 | SYS_socket, 2, 1, 0); return 30; }\n"
    "  if (!strcmp(m, \"raise-limit\")) { struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };\n"
    "    return setrlimit(RLIMIT_AS, &r) == 0 ? 31 : 0; }\n"
    "  if (!strcmp(m, \"bigalloc\")) { return malloc(16ull << 30) ? 28 : 0; }\n"
    "  return 3;\n"
    "}\n";

static char *dir;
static char prog[600];
static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig) { (void)sig; got_usr1++; }

static int setup(void **state)
{
    (void)state;
    if (access(QEMU, X_OK) != 0 || access("/usr/bin/gcc", X_OK) != 0) {
        fprintf(stderr, "note: %s or gcc missing\n", QEMU);
        return 0;   /* the tests skip */
    }
    dir = ltu_tempdir();
    if (!dir) return -1;
    char src[600], cmd[1400];
    snprintf(src, sizeof src, "%s/prog.c", dir);
    snprintf(prog, sizeof prog, "%s/prog", dir);
    FILE *f = fopen(src, "w");
    if (!f) return -1;
    fputs(prog_src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "gcc -O1 -static -o %s %s", prog, src);
    if (system(cmd) != 0) return -1;
    signal(SIGUSR1, on_usr1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ltu_rmtree(dir);
    return 0;
}

/* Runs prog MODE [ARG] natively or under qemu; stdin/fd 3 files in dir. */
static void run(bool under_qemu, const char *mode, const char *arg, unsigned timeout_ms, struct sandbox_outcome *out)
{
    char in[700], o3[700], log[700];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(o3, sizeof o3, "%s/out3.txt", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs("hello sandbox", f);
    fclose(f);
    int fi = open(in, O_RDONLY | O_CLOEXEC), fo = open(o3, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int fl = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fi >= 0 && fo >= 0 && fl >= 0);
    struct sandbox_spec spec = { .fds = { fi, fl, fl, fo }, .nfds = 4, .timeout_ms = timeout_ms ? timeout_ms : 20000 };
    char *qv[] = { QEMU, prog, (char *)mode, (char *)arg, NULL };
    char *nv[] = { prog, (char *)mode, (char *)arg, NULL };
    assert_int_equal(sandbox_exec(under_qemu ? qv : nv, &spec, out), 0);
    close(fi);
    close(fo);
    close(fl);
    printf("  %-8s %-16s -> %s\n", under_qemu ? "qemu" : "native", mode, out->what);
}

#define NEED_TOOLS() do { if (!dir) { skip(); return; } } while (0)

static void expect_violation(bool q, const char *mode, const char *arg, long nr, const char *name, const char *reason)
{
    struct sandbox_stats before, after;
    sandbox_get_stats(&before);
    struct sandbox_outcome o;
    run(q, mode, arg, 0, &o);
    sandbox_get_stats(&after);
    if (o.end != SANDBOX_VIOLATION)
        fail_msg("%s %s: expected a violation, got end %d status %d (%s)", q ? "qemu" : "native", mode, o.end,
                 o.status, o.what);
    assert_int_equal(o.sys_nr, nr);
    assert_non_null(strstr(o.what, name));
    assert_non_null(strstr(o.what, reason));
    assert_int_equal(after.violations, before.violations + 1);
}

static void test_honest_work_passes(void **state)
{
    (void)state;
    NEED_TOOLS();
    for (int q = 0; q < 2; q++) {
        struct sandbox_outcome o;
        run(q, "ok", NULL, 0, &o);
        assert_int_equal(o.end, SANDBOX_EXITED);
        assert_int_equal(o.status, 0);
        char p[700], buf[64] = "";
        snprintf(p, sizeof p, "%s/out3.txt", dir);
        FILE *f = fopen(p, "r");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof buf, f));
        fclose(f);
        assert_string_equal(buf, "hello sandbox");   /* fd 0 in, fd 3 out */
        /* a read-only open during set-up is allowed */
        run(q, "open-read-early", "/etc/hostname", 0, &o);
        assert_int_equal(o.end, SANDBOX_EXITED);
        assert_int_equal(o.status, 0);
    }
}

static void test_forbidden_calls_are_stopped_and_named(void **state)
{
    (void)state;
    NEED_TOOLS();
    char victim[700];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    for (int q = 0; q < 2; q++) {
        expect_violation(q, "socket", NULL, SYS_socket, "socket(0x2, 0x1, 0", "not in the policy");
        expect_violation(q, "open-write-early", victim, SYS_openat, "openat(", "arguments outside the policy");
        expect_violation(q, "open-write-late", victim, SYS_openat, "openat(", "arguments outside the policy");
        assert_int_equal(access(victim, F_OK), -1);   /* never created */
        expect_violation(q, "open-read-late", "/etc/hostname", SYS_openat, "openat(", "before the ready marker");
        expect_violation(q, "exec", NULL, SYS_execve, "execve(", "only once");
        got_usr1 = 0;
        expect_violation(q, "kill-parent", NULL, SYS_kill, "kill(", "only to itself");
        usleep(20000);
        assert_int_equal(got_usr1, 0);                /* the signal never arrived */
        expect_violation(q, "fork", NULL, SYS_clone, "clone(", "arguments outside the policy");
    }
    /* int 0x80 from 64-bit code enters the i386 table: the kernel-side
     * filter kills it (SIGSYS); a kernel without IA-32 emulation faults it
     * (SIGSEGV).  Either way the call never returns. */
    struct sandbox_outcome o;
    run(false, "int80", NULL, 0, &o);
    assert_int_equal(o.end, SANDBOX_SIGNALED);
    assert_true(o.status == SIGSYS || o.status == SIGSEGV);
    /* the x32 numbering of socket: not the x86-64 table either */
    run(false, "x32", NULL, 0, &o);
    assert_true((o.end == SANDBOX_SIGNALED && o.status == SIGSYS) || o.end == SANDBOX_VIOLATION);
    /* limits cannot be raised (setting one fails with EPERM, quietly; as root too) */
    run(false, "raise-limit", NULL, 0, &o);
    assert_int_equal(o.end, SANDBOX_EXITED);
    assert_int_equal(o.status, 0);
}

static void test_faults_timeouts_limits(void **state)
{
    (void)state;
    NEED_TOOLS();
    for (int q = 0; q < 2; q++) {
        struct sandbox_outcome o;
        /* a fault is a fault, not a violation (qemu dies by the guest's signal through kill-to-self) */
        run(q, "segv", NULL, 0, &o);
        assert_int_equal(o.end, SANDBOX_SIGNALED);
        assert_int_equal(o.status, SIGSEGV);
        run(q, "spin", NULL, 700, &o);
        assert_int_equal(o.end, SANDBOX_TIMEOUT);
        run(q, "bigalloc", NULL, 0, &o);   /* 16 GiB against a 4 GiB address space */
        assert_int_equal(o.end, SANDBOX_EXITED);
        assert_int_equal(o.status, 0);
    }
}

/* ---- through offload's speedup harness ---------------------------------------------- */

/* mov rdx, [rcx+8]; add rax, rbx; imul rdx, rax; xor rsi, rdx; mov [rcx], rsi */
static const uint8_t good[] = { 0x48, 0x8b, 0x51, 0x08, 0x48, 0x01, 0xd8, 0x48, 0x0f, 0xaf, 0xd0,
                                0x48, 0x31, 0xd6, 0x48, 0x89, 0x31 };
/* mov eax, 41 (socket); mov edi, 2; mov esi, 1; xor edx, edx; syscall */
static const uint8_t evil_socket[] = { 0xb8, 0x29, 0x00, 0x00, 0x00, 0xbf, 0x02, 0x00, 0x00, 0x00,
                                       0xbe, 0x01, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x05 };
/* mov eax, 257 (openat); mov edi, -100 (AT_FDCWD); mov rsi, rcx (the path, in the state's memory);
 * mov edx, 0x241 (O_WRONLY|O_CREAT|O_TRUNC); mov r10d, 0x180; syscall */
static const uint8_t evil_openat[] = { 0xb8, 0x01, 0x01, 0x00, 0x00, 0xbf, 0x9c, 0xff, 0xff, 0xff,
                                       0x48, 0x89, 0xce, 0xba, 0x41, 0x02, 0x00, 0x00,
                                       0x41, 0xba, 0x80, 0x01, 0x00, 0x00, 0x0f, 0x05 };

/* Samples with rcx = OTU_DATA + 16 i... and, from OTU_DATA on, the bytes of
 * `path` (NUL-terminated) as recorded loads. */
#define NACC 12
static void samples(struct rec_sample *s, struct x86_mem_access (*acc)[NACC], unsigned n, const char *path)
{
    char buf[8 * (NACC - 2)] = { 0 };
    snprintf(buf, sizeof buf, "%s", path ? path : "");
    for (unsigned i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].pre.gpr[X86_RAX] = 0x1234567 * (i + 1);
        s[i].pre.gpr[X86_RBX] = ~0ull - 77 * i;
        s[i].pre.gpr[X86_RCX] = OTU_DATA;
        s[i].pre.gpr[X86_RSI] = 0xdeadbeef00ull + i;
        s[i].pre.rip = OTU_RIP;
        s[i].pre.rflags = 0x202;
        unsigned k = 0;
        for (; k < NACC - 2; k++) {
            uint64_t v;
            memcpy(&v, buf + 8 * k, 8);
            acc[i][k] = (struct x86_mem_access){ OTU_DATA + 0x100 + 8 * k, v, 8, false };
        }
        acc[i][k++] = (struct x86_mem_access){ OTU_DATA + 8, 0x1111 * (i + 3), 8, false };
        acc[i][k++] = (struct x86_mem_access){ OTU_DATA, 0, 8, true };
        s[i].mem.n = k;
        s[i].mem.v = acc[i];
        if (path) s[i].pre.gpr[X86_RCX] = OTU_DATA + 0x100;   /* the evil blocks' path pointer */
    }
}

static void test_speedup_block_stopped_named_counted_next_measured(void **state)
{
    (void)state;
    NEED_TOOLS();
    x86_locset lo = X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS | X86_LOC_MEM;
    struct pixel_insn ops[256];
    char err[200];
    int n = synth_baseline(good, sizeof good, lo, false, ops, 256, err, sizeof err);
    assert_true(n > 0);
    char work[700], victim[700];
    snprintf(work, sizeof work, "%s/speedup", dir);
    snprintf(victim, sizeof victim, "%s/evil-was-here", dir);
    struct speedup_options o;
    speedup_options_default(&o);
    o.work_dir = work;
    o.nstates = 64;
    o.reps = 2;
    o.skip_form_check = true;   /* syscall is not a supported form: the gate would refuse it first */
    struct rec_sample s[4];
    struct x86_mem_access acc[4][NACC];
    struct speedup_result r;
    struct sandbox_stats st0, st1;
    sandbox_get_stats(&st0);

    samples(s, acc, 4, NULL);
    struct speedup_block sock = { "evil_socket", evil_socket, sizeof evil_socket, lo, lo, ops, (size_t)n, s, 4 };
    assert_int_equal(speedup_measure(&sock, &o, &r), 0);
    printf("  evil_socket: %s\n", r.why);
    assert_false(r.measured);
    assert_int_equal(r.sandbox_stops, 1);
    assert_non_null(strstr(r.why, "qemu-x86_64 stopped by the sandbox"));
    assert_non_null(strstr(r.why, "socket("));

    samples(s, acc, 4, victim);
    struct speedup_block opn = { "evil_openat", evil_openat, sizeof evil_openat, lo, lo, ops, (size_t)n, s, 4 };
    assert_int_equal(speedup_measure(&opn, &o, &r), 0);
    printf("  evil_openat: %s\n", r.why);
    assert_false(r.measured);
    assert_int_equal(r.sandbox_stops, 1);
    assert_non_null(strstr(r.why, "openat("));
    assert_int_equal(access(victim, F_OK), -1);

    sandbox_get_stats(&st1);
    assert_int_equal(st1.violations, st0.violations + 2);

    /* the next block is measured as usual, natively too */
    samples(s, acc, 4, NULL);
    struct speedup_block ok = { "good", good, sizeof good, lo, lo, ops, (size_t)n, s, 4 };
    o.skip_form_check = false;
    assert_int_equal(speedup_measure(&ok, &o, &r), 0);
    if (!r.measured) fprintf(stderr, "not measured: %s\n", r.why);
    assert_true(r.measured);
    assert_int_equal(r.sandbox_stops, 0);
    assert_int_equal(r.outputs_checked, 2 * 64);
    assert_int_equal(r.outputs_mismatched, 0);
    assert_true(r.native_s > 0 && r.qemu_s > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_work_passes),
        cmocka_unit_test(test_forbidden_calls_are_stopped_and_named),
        cmocka_unit_test(test_faults_timeouts_limits),
        cmocka_unit_test(test_speedup_block_stopped_named_counted_next_measured),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
