/* test_oracle_branch_page.c — a block ending in a jcc whose target lies in
 * the block's own 4 KiB code page, placed at a traced-looking user address
 * (not the generated-state arena), after the same engine ran other code
 * elsewhere: both oracles must report the branch target when taken and the
 * fall-through when not.  (Regression: Unicorn ran on past such a target
 * through the zero-filled rest of the page and reported the page end.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "oracle_native.h"
#include "oracle_unicorn.h"
#include "state_gen.h"

#define BLOCK_RIP 0x55fe72ull
#define STACK_PAGE 0x7ffe1c4d7000ull

/* cmp rax, rbx; jne rel32 (the target is rip + 9 + rel) */
static void make_block(uint8_t code[9], uint64_t target)
{
    int32_t rel = (int32_t)(int64_t)(target - (BLOCK_RIP + 9));
    code[0] = 0x48; code[1] = 0x39; code[2] = 0xd8;
    code[3] = 0x0f; code[4] = 0x85;
    memcpy(code + 5, &rel, 4);
}

/* Some other block at another address, so the engine has translated and
 * run other code (and remaps its code page) before the one under test. */
static void run_other_block(struct oracle_native *on, struct oracle_unicorn *ou)
{
    /* add rax, rbx; cmp rax, rcx; jne +0x20 */
    static const uint8_t other[] = { 0x48, 0x01, 0xd8, 0x48, 0x39, 0xc8, 0x75, 0x20 };
    for (int ne = 0; ne < 2; ne++) {
        struct x86_regs in = { .rip = STATE_GEN_CODE_BASE, .rflags = 2 }, a, b;
        struct oracle_result ra, rb;
        in.gpr[X86_RAX] = 1;
        in.gpr[X86_RCX] = ne ? 7 : 1;
        assert_int_equal(oracle_native_run(on, other, sizeof other, &in, NULL, &a, NULL, &ra), 0);
        assert_int_equal(oracle_unicorn_run(ou, other, sizeof other, &in, NULL, &b, NULL, &rb), 0);
        uint64_t want = STATE_GEN_CODE_BASE + sizeof other + (ne ? 0x20 : 0);
        assert_int_equal(ra.kind, ORACLE_OK);
        assert_int_equal(rb.kind, ORACLE_OK);
        assert_int_equal(a.rip, want);
        assert_int_equal(b.rip, want);
    }
}

/* The sampled state of the failing pipeline run (one stack region). */
static void sampled_state(struct x86_regs *in, bool taken)
{
    static const uint64_t g[X86_NGPR] = {
        0x1c, 0x0, 0x1, 0x132c3e50, 0x7ffe1c4d77d0, 0x6, 0x6, 0x2,
        0x2, 0x132b1a00, 0x1c, 0x6, 0x20000, 0x132abde0, 0x132dd220, 0x132dd22e,
    };
    memset(in, 0, sizeof *in);
    memcpy(in->gpr, g, sizeof g);
    in->rip = BLOCK_RIP;
    in->rflags = 2;
    in->gpr[X86_RBX] = taken ? 0x132c3e50 : 0x1c;   /* rax != rbx: jne taken */
}

static void check_target(uint64_t target)
{
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    assert_non_null(on);
    assert_non_null(ou);
    uint8_t code[9];
    make_block(code, target);
    static uint8_t stack[4096];
    struct x86_mem m = { 1, { { STACK_PAGE, sizeof stack, stack } } };

    /* Alternate other code, taken and not taken, one state at a time and
     * in a batch, so each path follows every other on the same engine. */
    for (int round = 0; round < 3; round++) {
        if (round != 1)
            run_other_block(on, ou);
        for (int t = 0; t < 4; t++) {
            bool taken = (t ^ round) & 1;
            struct x86_regs in, a, b;
            struct oracle_result ra, rb;
            sampled_state(&in, taken);
            assert_int_equal(oracle_native_run(on, code, sizeof code, &in, &m, &a, NULL, &ra), 0);
            assert_int_equal(oracle_unicorn_run(ou, code, sizeof code, &in, &m, &b, NULL, &rb), 0);
            uint64_t want = taken ? target : BLOCK_RIP + sizeof code;
            assert_int_equal(ra.kind, ORACLE_OK);
            assert_int_equal(rb.kind, ORACLE_OK);
            assert_int_equal(a.rip, want);
            assert_int_equal(b.rip, want);
            assert_int_equal(ra.taken, taken);
            assert_int_equal(rb.taken, taken);
            assert_int_equal(a.rflags & X86_RFLAGS_STATUS_MASK, b.rflags & X86_RFLAGS_STATUS_MASK);
        }
        struct x86_regs in[4], a[4], b[4];
        struct oracle_result ra[4], rb[4];
        struct x86_mem mi[4];
        for (int k = 0; k < 4; k++) {
            sampled_state(&in[k], k & 1);
            mi[k] = m;
        }
        assert_int_equal(oracle_native_run_batch(on, code, sizeof code, in, mi, 4, a, NULL, ra), 0);
        assert_int_equal(oracle_unicorn_run_batch(ou, code, sizeof code, in, mi, 4, b, NULL, rb), 0);
        for (int k = 0; k < 4; k++) {
            uint64_t want = (k & 1) ? target : BLOCK_RIP + sizeof code;
            assert_int_equal(ra[k].kind, ORACLE_OK);
            assert_int_equal(rb[k].kind, ORACLE_OK);
            assert_int_equal(a[k].rip, want);
            assert_int_equal(b[k].rip, want);
        }
    }
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
}

static void test_target_after_block_same_page(void **state)
{
    (void)state;
    check_target(0x55ff08);    /* as in the failing run: 0x55fe72 -> 0x55ff08 */
}

static void test_target_before_block_same_page(void **state)
{
    (void)state;
    check_target(0x55f010);
}

static void test_target_just_after_hlt(void **state)
{
    (void)state;
    check_target(BLOCK_RIP + 9 + 1);   /* the byte after the oracle's hlt */
}

/* A register jump (target known only at run time) to near the page end. */
static void test_register_jump_near_page_end(void **state)
{
    (void)state;
    static const uint8_t jmp_rax[] = { 0x48, 0x01, 0xd8, 0xff, 0xe0 };   /* add rax, rbx; jmp rax */
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    assert_non_null(on);
    assert_non_null(ou);
    run_other_block(on, ou);
    for (uint64_t target = 0x55ff08; target < 0x560000; target += 0x7c) {
        struct x86_regs in = { .rip = BLOCK_RIP, .rflags = 2 }, a, b;
        struct oracle_result ra, rb;
        in.gpr[X86_RAX] = target - 0x10;
        in.gpr[X86_RBX] = 0x10;
        assert_int_equal(oracle_native_run(on, jmp_rax, sizeof jmp_rax, &in, NULL, &a, NULL, &ra), 0);
        assert_int_equal(oracle_unicorn_run(ou, jmp_rax, sizeof jmp_rax, &in, NULL, &b, NULL, &rb), 0);
        assert_int_equal(ra.kind, ORACLE_OK);
        assert_int_equal(rb.kind, ORACLE_OK);
        assert_int_equal(a.rip, target);
        assert_int_equal(b.rip, target);
    }
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_after_block_same_page),
        cmocka_unit_test(test_target_before_block_same_page),
        cmocka_unit_test(test_target_just_after_hlt),
        cmocka_unit_test(test_register_jump_near_page_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
