/* test_oracle_faults.c — guest faults are results, never crashes, and the
 * sandbox holds: a load from an unmapped address, a division by zero, ud2
 * and int3 are reported with their kind by both oracles; system calls
 * (getpid, open, a write to stdout) are refused by the native child's
 * seccomp filter and not executed; a hanging block is stopped by the
 * timeout; a child killed mid-batch is restarted and the batch completes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oracle_native.h"
#include "oracle_unicorn.h"
#include "state_gen.h"

static struct oracle_native *on;
static struct oracle_unicorn *ou;

static int setup(void **state)
{
    (void)state;
    struct oracle_native_opts opts = { .state_timeout_ms = 50, .batch_timeout_ms = 2000 };
    on = oracle_native_create(&opts);
    ou = oracle_unicorn_create(50);
    return on && ou ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    oracle_native_destroy(on);
    oracle_unicorn_destroy(ou);
    return 0;
}

/* A state with one stack/data region around rsp and rsi. */
static uint8_t region_bytes[8192];
static void base_state(struct x86_regs *r, struct x86_mem *m)
{
    memset(r, 0, sizeof *r);
    memset(m, 0, sizeof *m);
    r->rip = STATE_GEN_CODE_BASE;
    r->rflags = 0x2;
    r->gpr[X86_RSP] = STATE_GEN_ARENA_BASE + 4096;
    r->gpr[X86_RSI] = STATE_GEN_ARENA_BASE + 64;
    r->gpr[X86_RCX] = 0;   /* divisor */
    m->nregions = 1;
    m->region[0].base = STATE_GEN_ARENA_BASE;
    m->region[0].size = sizeof region_bytes;
    m->region[0].data = region_bytes;
}

static void expect_both(const uint8_t *code, size_t len, enum oracle_kind want, uint64_t want_rip_off)
{
    struct x86_regs in, a, b;
    struct x86_mem m;
    struct oracle_result ra, rb;
    base_state(&in, &m);
    assert_int_equal(oracle_native_run(on, code, len, &in, &m, &a, NULL, &ra), 0);
    assert_int_equal(oracle_unicorn_run(ou, code, len, &in, &m, &b, NULL, &rb), 0);
    fprintf(stderr, "expect %s: native %s (rip %#llx), unicorn %s (rip %#llx)\n", oracle_kind_name(want),
            oracle_kind_name(ra.kind), (unsigned long long)ra.fault_rip,
            oracle_kind_name(rb.kind), (unsigned long long)rb.fault_rip);
    assert_int_equal(ra.kind, want);
    assert_int_equal(rb.kind, want);
    assert_int_equal(ra.fault_rip, STATE_GEN_CODE_BASE + want_rip_off);
    assert_int_equal(rb.fault_rip, STATE_GEN_CODE_BASE + want_rip_off);
}

static void test_unmapped_load_faults(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0x48, 0x89, 0xc8,          /* mov rax, rcx */
                                    0x48, 0x8b, 0x07 };        /* mov rax, [rdi]  (rdi = 0) */
    expect_both(code, sizeof code, ORACLE_FAULT_MEM, 3);
    /* Beyond the region's pages: both say memory fault, at that address. */
    static const uint8_t far[] = { 0x48, 0x8b, 0x86, 0x00, 0x40, 0x00, 0x00 };  /* mov rax, [rsi+0x4000] */
    struct x86_regs in, a, b;
    struct x86_mem m;
    struct oracle_result ra, rb;
    base_state(&in, &m);
    oracle_native_run(on, far, sizeof far, &in, &m, &a, NULL, &ra);
    oracle_unicorn_run(ou, far, sizeof far, &in, &m, &b, NULL, &rb);
    assert_int_equal(ra.kind, ORACLE_FAULT_MEM);
    assert_int_equal(rb.kind, ORACLE_FAULT_MEM);
    assert_int_equal(ra.fault_addr, STATE_GEN_ARENA_BASE + 64 + 0x4000);
    assert_int_equal(rb.fault_addr, STATE_GEN_ARENA_BASE + 64 + 0x4000);
}

static void test_divide_by_zero_faults(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0x31, 0xd2, 0x48, 0xf7, 0xf1 };   /* xor edx,edx; div rcx */
    expect_both(code, sizeof code, ORACLE_FAULT_DIV, 2);
}

static void test_ud2_and_int3(void **state)
{
    (void)state;
    static const uint8_t ud2[] = { 0x90, 0x0f, 0x0b };
    expect_both(ud2, sizeof ud2, ORACLE_FAULT_ILL, 1);
    static const uint8_t int3[] = { 0xcc };
    /* #BP is a trap: the reported rip is after the int3, for both. */
    expect_both(int3, sizeof int3, ORACLE_FAULT_TRAP, 1);
}

static void test_sandbox_refuses_syscalls(void **state)
{
    (void)state;
    /* mov eax,39; syscall  (getpid) */
    static const uint8_t getpid_[] = { 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05 };
    /* mov eax,2; lea rdi,[rip]; xor esi,esi; syscall  (open) */
    static const uint8_t open_[] = { 0xb8, 0x02, 0, 0, 0, 0x48, 0x8d, 0x3d, 0, 0, 0, 0, 0x31, 0xf6, 0x0f, 0x05 };
    /* mov eax,1; mov edi,1; mov rsi,rsp; mov edx,8; syscall  (write to stdout) */
    static const uint8_t write_[] = { 0xb8, 0x01, 0, 0, 0, 0xbf, 0x01, 0, 0, 0, 0x48, 0x89, 0xe6,
                                      0xba, 0x08, 0, 0, 0, 0x0f, 0x05 };
    /* mov eax,20; int 0x80  (i386 getpid) */
    static const uint8_t int80[] = { 0xb8, 0x14, 0, 0, 0, 0xcd, 0x80 };
    struct { const uint8_t *code; size_t len; } cases[] = {
        { getpid_, sizeof getpid_ }, { open_, sizeof open_ }, { write_, sizeof write_ }, { int80, sizeof int80 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct x86_regs in, out;
        struct x86_mem m;
        struct oracle_result r;
        base_state(&in, &m);
        assert_int_equal(oracle_native_run(on, cases[i].code, cases[i].len, &in, &m, &out, NULL, &r), 0);
        assert_int_equal(r.kind, ORACLE_FAULT_SYSCALL);
        assert_int_equal(r.fault_rip, STATE_GEN_CODE_BASE + cases[i].len - 2);
        /* Not executed: a getpid would have put a pid in rax; the refused
         * call leaves rax as the syscall number (seccomp SIGSYS). */
        assert_int_equal(out.gpr[X86_RAX], cases[i].code[1]);
        assert_int_equal(oracle_unicorn_run(ou, cases[i].code, cases[i].len, &in, &m, &out, NULL, &r), 0);
        assert_int_equal(r.kind, ORACLE_FAULT_SYSCALL);
    }
    /* The child is still the same, healthy process. */
    struct oracle_native_stats st;
    oracle_native_get_stats(on, &st);
    assert_int_equal(st.restarts, 0);
}

static void test_hanging_block_times_out(void **state)
{
    (void)state;
    static const uint8_t hang[] = { 0xeb, 0xfe, 0x90 };   /* jmp $; nop */
    static const uint8_t add[] = { 0x48, 0x01, 0xd8 };    /* add rax, rbx */
    struct x86_regs in[3], out[3];
    struct oracle_result r[3];
    for (int i = 0; i < 3; i++) {
        memset(&in[i], 0, sizeof in[i]);
        in[i].rip = STATE_GEN_CODE_BASE;
        in[i].rflags = 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(oracle_native_run_batch(on, hang, sizeof hang, in, NULL, 3, out, NULL, r), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].kind, ORACLE_FAULT_TIMEOUT);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "3 hanging states stopped in %.2f s\n", s);
    assert_true(s < 10.0);
    assert_int_equal(oracle_unicorn_run(ou, hang, sizeof hang, &in[0], NULL, &out[0], NULL, &r[0]), 0);
    assert_int_equal(r[0].kind, ORACLE_FAULT_TIMEOUT);
    /* The oracle still works afterwards. */
    in[0].gpr[X86_RAX] = 40;
    in[0].gpr[X86_RBX] = 2;
    assert_int_equal(oracle_native_run(on, add, sizeof add, &in[0], NULL, &out[0], NULL, &r[0]), 0);
    assert_int_equal(r[0].kind, ORACLE_OK);
    assert_int_equal(out[0].gpr[X86_RAX], 42);
}

/* A guest that kills the child (exit_group is allowed: the child must be
 * able to exit) costs that state a CRASH result; the child is restarted and
 * the rest of the batch completes. */
static void test_dead_child_is_restarted(void **state)
{
    (void)state;
    /* mov eax, 231 (exit_group); xor edi, edi; syscall */
    static const uint8_t suicide[] = { 0xb8, 0xe7, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05 };
    static const uint8_t add[] = { 0x48, 0x01, 0xd8 };
    struct x86_regs in[3], out[3];
    struct oracle_result r[3];
    memset(in, 0, sizeof in);
    for (int i = 0; i < 3; i++) {
        in[i].rip = STATE_GEN_CODE_BASE;
        in[i].rflags = 2;
    }
    struct oracle_native_stats before, after;
    oracle_native_get_stats(on, &before);
    assert_int_equal(oracle_native_run_batch(on, suicide, sizeof suicide, in, NULL, 3, out, NULL, r), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].kind, ORACLE_FAULT_CRASH);
    oracle_native_get_stats(on, &after);
    assert_int_equal(after.restarts - before.restarts, 3);
    in[0].gpr[X86_RAX] = 1;
    in[0].gpr[X86_RBX] = 2;
    assert_int_equal(oracle_native_run(on, add, sizeof add, &in[0], NULL, &out[0], NULL, &r[0]), 0);
    assert_int_equal(r[0].kind, ORACLE_OK);
    assert_int_equal(out[0].gpr[X86_RAX], 3);
}

/* A guest that switches the child's watchdog timer off (setitimer is on the
 * allow list: the child arms it per batch) and then spins is caught by the
 * parent's batch timeout: the child is killed and restarted. */
static void test_silent_child_is_killed(void **state)
{
    (void)state;
    /* mov eax, 38 (setitimer); xor edi, edi; xor edx, edx; syscall; jmp $; nop */
    static const uint8_t code[] = { 0xb8, 0x26, 0, 0, 0, 0x31, 0xff, 0x31, 0xd2, 0x0f, 0x05, 0xeb, 0xfe, 0x90 };
    static const uint8_t add[] = { 0x48, 0x01, 0xd8 };
    struct x86_regs in, out;
    struct x86_mem m;
    struct oracle_result r;
    struct oracle_native_stats before, after;
    base_state(&in, &m);   /* rsi -> a zeroed itimerval in the region */
    oracle_native_get_stats(on, &before);
    assert_int_equal(oracle_native_run(on, code, sizeof code, &in, &m, &out, NULL, &r), 0);
    oracle_native_get_stats(on, &after);
    assert_int_equal(r.kind, ORACLE_FAULT_TIMEOUT);
    assert_int_equal(after.restarts - before.restarts, 1);
    in.gpr[X86_RAX] = 5;
    in.gpr[X86_RBX] = 6;
    assert_int_equal(oracle_native_run(on, add, sizeof add, &in, NULL, &out, NULL, &r), 0);
    assert_int_equal(r.kind, ORACLE_OK);
    assert_int_equal(out.gpr[X86_RAX], 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unmapped_load_faults),
        cmocka_unit_test(test_divide_by_zero_faults),
        cmocka_unit_test(test_ud2_and_int3),
        cmocka_unit_test(test_sandbox_refuses_syscalls),
        cmocka_unit_test(test_hanging_block_times_out),
        cmocka_unit_test(test_dead_child_is_restarted),
        cmocka_unit_test(test_silent_child_is_killed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
