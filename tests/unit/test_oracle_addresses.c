/* test_oracle_addresses.c — guest addresses the native child cannot use:
 * a kernel rip runs relocated (next rip and branch target translated back),
 * a kernel-address region or one that collides with the child's own
 * mappings is reported ORACLE_FAULT_UNMAPPABLE and never mapped over the
 * child; Unicorn runs all of them at their own addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "oracle_native.h"
#include "oracle_unicorn.h"
#include "state_gen.h"

#define KERNEL_RIP 0xffffffff81234560ull

static void test_kernel_rip_runs_relocated(void **state)
{
    (void)state;
    /* add rax, rbx; cmp rax, rcx; jne +0x20 */
    static const uint8_t code[] = { 0x48, 0x01, 0xd8, 0x48, 0x39, 0xc8, 0x75, 0x20 };
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    assert_non_null(on);
    assert_non_null(ou);
    for (int ne = 0; ne < 2; ne++) {
        struct x86_regs in = { .rip = KERNEL_RIP, .rflags = 2 }, a, b;
        struct oracle_result ra, rb;
        in.gpr[X86_RAX] = 10;
        in.gpr[X86_RBX] = 5;
        in.gpr[X86_RCX] = ne ? 99 : 15;
        assert_int_equal(oracle_native_run(on, code, sizeof code, &in, NULL, &a, NULL, &ra), 0);
        assert_int_equal(oracle_unicorn_run(ou, code, sizeof code, &in, NULL, &b, NULL, &rb), 0);
        assert_int_equal(ra.kind, ORACLE_OK);
        assert_int_equal(rb.kind, ORACLE_OK);
        assert_true(ra.relocated);
        uint64_t want = KERNEL_RIP + sizeof code + (ne ? 0x20 : 0);
        assert_int_equal(a.rip, want);
        assert_int_equal(b.rip, want);
        assert_int_equal(a.gpr[X86_RAX], 15);
        assert_int_equal(ra.taken, ne);
        assert_int_equal(rb.taken, ne);
        assert_int_equal(a.rflags & X86_RFLAGS_STATUS_MASK, b.rflags & X86_RFLAGS_STATUS_MASK);
    }
    /* A fault in relocated code reports the guest rip. */
    static const uint8_t ud2[] = { 0x90, 0x0f, 0x0b };
    struct x86_regs in = { .rip = KERNEL_RIP, .rflags = 2 }, out;
    struct oracle_result r;
    assert_int_equal(oracle_native_run(on, ud2, sizeof ud2, &in, NULL, &out, NULL, &r), 0);
    assert_int_equal(r.kind, ORACLE_FAULT_ILL);
    assert_int_equal(r.fault_rip, KERNEL_RIP + 1);
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
}

static void test_unusable_regions_are_reported(void **state)
{
    (void)state;
    static const uint8_t load[] = { 0x48, 0x8b, 0x06 };   /* mov rax, [rsi] */
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    assert_non_null(on);
    assert_non_null(ou);
    static uint8_t bytes[4096];
    memset(bytes, 0x5a, sizeof bytes);

    /* 1. a kernel address: Unicorn runs it, the host cannot map it */
    struct x86_regs in = { .rip = STATE_GEN_CODE_BASE, .rflags = 2 }, a, b;
    struct x86_mem m = { 1, { { 0xffff888000001000ull, sizeof bytes, bytes } } };
    struct oracle_result ra, rb;
    in.gpr[X86_RSI] = 0xffff888000001008ull;
    assert_int_equal(oracle_native_run(on, load, sizeof load, &in, &m, &a, NULL, &ra), 0);
    assert_int_equal(oracle_unicorn_run(ou, load, sizeof load, &in, &m, &b, NULL, &rb), 0);
    assert_int_equal(ra.kind, ORACLE_FAULT_UNMAPPABLE);
    assert_int_equal(rb.kind, ORACLE_OK);
    assert_int_equal(b.gpr[X86_RAX], 0x5a5a5a5a5a5a5a5aull);

    /* 2. a region on the child's own memory (this static buffer exists at the
     * same address in the forked child): refused, never mapped over. */
    uint64_t own = (uint64_t)(uintptr_t)bytes & ~4095ull;
    static uint8_t probe[4096];
    struct x86_mem m2 = { 1, { { own, sizeof probe, probe } } };
    in.gpr[X86_RSI] = own;
    assert_int_equal(oracle_native_run(on, load, sizeof load, &in, &m2, &a, NULL, &ra), 0);
    assert_int_equal(ra.kind, ORACLE_FAULT_UNMAPPABLE);
    struct oracle_native_stats st;
    oracle_native_get_stats(on, &st);
    assert_int_equal(st.unmappable, 2);
    assert_int_equal(st.restarts, 0);

    /* 3. the child still runs ordinary states */
    m.region[0].base = STATE_GEN_ARENA_BASE;
    in.gpr[X86_RSI] = STATE_GEN_ARENA_BASE + 16;
    assert_int_equal(oracle_native_run(on, load, sizeof load, &in, &m, &a, NULL, &ra), 0);
    assert_int_equal(ra.kind, ORACLE_OK);
    assert_int_equal(a.gpr[X86_RAX], 0x5a5a5a5a5a5a5a5aull);
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_rip_runs_relocated),
        cmocka_unit_test(test_unusable_regions_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
