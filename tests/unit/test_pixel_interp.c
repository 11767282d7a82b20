/* test_pixel_interp.c — the reference interpreter's control flow, memory
 * and fault semantics (docs/pixel-isa.md): every fault is reported with its
 * kind and pc, never a crash, and the faulting instruction has no effect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pixel_asm.h"
#include "pixel_interp.h"

struct fixture {
    uint8_t lo[64], hi[16];
    struct x86_mem mem;
    struct pixel_state s;
};

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    for (int k = 0; k < 64; k++)
        f->lo[k] = (uint8_t)(0x10 + k);
    f->mem.nregions = 2;
    f->mem.region[0] = (struct x86_mem_region){ 0x1000, 64, f->lo };
    f->mem.region[1] = (struct x86_mem_region){ 0x1040, 16, f->hi };   /* adjacent */
    f->s.mem = &f->mem;
}

static enum pixel_fault run(struct fixture *f, const char *src, struct pixel_result *res)
{
    struct pixel_insn p[64];
    char err[256];
    int n = pixel_asm(src, p, 64, err, sizeof err);
    if (n < 0)
        fail_msg("assembly failed: %s", err);
    return pixel_run(p, (size_t)n, &f->s, 0, res);
}

static void test_pixel_memory_widths_little_endian(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct pixel_result res;
    f.s.r[1] = 0x1000;
    f.s.r[2] = 0x1122334455667788ull;
    assert_int_equal(run(&f, "LD32 R3, [R1]\nLDS8 R4, [R1]\nSTORE [R1], R2\nLD16 R5, [R1]\n"
                             "LDS32 R6, [R1]\nADDI R7, R1, 63\nST8 [R7], R2\nLD8 R8, [R7]\n", &res),
                     PIXEL_FAULT_NONE);
    assert_int_equal(f.s.r[3], 0x13121110);
    assert_int_equal(f.s.r[4], 0x10);
    assert_int_equal(f.lo[0], 0x88);
    assert_int_equal(f.lo[7], 0x11);
    assert_int_equal(f.s.r[5], 0x7788);
    assert_int_equal(f.s.r[6], 0x55667788);
    assert_int_equal(f.s.r[8], 0x88);
    f.lo[0] = 0x80;
    assert_int_equal(run(&f, "LDS8 R4, [R1]\nLDS16 R5, [R1]\n", NULL), PIXEL_FAULT_NONE);
    assert_int_equal(f.s.r[4], 0xffffffffffffff80ull);
    assert_int_equal(f.s.r[5], 0x7780);   /* byte 1 is 0x77: positive */
}

static void test_pixel_memory_fault_outside_regions(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct pixel_result res;
    static const struct { uint64_t addr; const char *op; } bad[] = {
        { 0x0fff, "LD8" }, { 0x103d, "LD32" }, { 0x103f, "LD16" },  /* straddles into region 1 */
        { 0x104d, "LOAD" }, { 0x1050, "LD8" }, { 0xffffffffffffffffull, "LD16" },
        { 0x103c, "STORE" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char src[128];
        f.s.r[1] = bad[k].addr;
        f.s.r[2] = 0xabcdef;
        f.s.r[3] = 77;
        uint8_t before[64];
        memcpy(before, f.lo, 64);
        if (strcmp(bad[k].op, "STORE") == 0)
            snprintf(src, sizeof src, "LDI R3, 5\nSTORE [R1], R2\nLDI R3, 9\n");
        else
            snprintf(src, sizeof src, "LDI R3, 5\n%s R3, [R1]\nLDI R3, 9\n", bad[k].op);
        assert_int_equal(run(&f, src, &res), PIXEL_FAULT_MEM);
        assert_int_equal(res.pc, 1);
        assert_int_equal(res.steps, 1);
        assert_int_equal(res.fault_addr, bad[k].addr);
        assert_int_equal(f.s.r[3], 5);       /* faulting load wrote nothing, later code did not run */
        assert_memory_equal(before, f.lo, 64);
    }
    f.s.r[1] = 0x103c;     /* last 4 bytes of region 0, first 8 of region 1: fine */
    assert_int_equal(run(&f, "LD32 R3, [R1]\nADDI R1, R1, 4\nLOAD R4, [R1]\n", NULL), PIXEL_FAULT_NONE);
    f.s.mem = NULL;        /* no memory at all */
    assert_int_equal(run(&f, "LD8 R3, [R1]\n", &res), PIXEL_FAULT_MEM);
}

static void test_pixel_divide_faults(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct pixel_result res;
    static const struct { const char *op; uint64_t a, b; int faults; uint64_t want; } cases[] = {
        { "DIV", 7, 0, 1, 0 }, { "REMU", 7, 0, 1, 0 }, { "DIVS", 7, 0, 1, 0 },
        { "REMS", 7, 0, 1, 0 },
        { "DIVS", 0x8000000000000000ull, ~0ull, 1, 0 }, { "REMS", 0x8000000000000000ull, ~0ull, 1, 0 },
        { "DIV", 0x8000000000000000ull, ~0ull, 0, 0 },
        { "DIVS", (uint64_t)-7, 2, 0, (uint64_t)-3 }, { "REMS", (uint64_t)-7, 2, 0, (uint64_t)-1 },
        { "REMU", 7, 3, 0, 1 }, { "DIV", ~0ull, 16, 0, 0x0fffffffffffffffull },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char src[64];
        snprintf(src, sizeof src, "%s R3, R1, R2\n", cases[k].op);
        f.s.r[1] = cases[k].a;
        f.s.r[2] = cases[k].b;
        f.s.r[3] = 0x5555;
        enum pixel_fault got = run(&f, src, &res);
        if (cases[k].faults) {
            assert_int_equal(got, PIXEL_FAULT_DIV);
            assert_int_equal(res.pc, 0);
            assert_int_equal(f.s.r[3], 0x5555);
        } else {
            assert_int_equal(got, PIXEL_FAULT_NONE);
            assert_int_equal(f.s.r[3], cases[k].want);
        }
    }
}

static void test_pixel_shift_and_bit_edges(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    f.s.r[1] = 0x8000000000000001ull;
    f.s.r[2] = 64 + 4;       /* counts are masked to 6 bits */
    assert_int_equal(run(&f, "SHL R3, R1, R2\nSHR R4, R1, R2\nSAR R5, R1, R2\nROL R6, R1, R2\n"
                             "ROR R7, R1, R2\nRORI R8, R1, 0\nCLZ R9, R0\nCTZ R10, R0\n"
                             "PARITY R11, R1\nBSWAP32 R12, R1\nMULHS R13, R1, R1\nMULHU R14, R1, R1\n",
                         NULL), PIXEL_FAULT_NONE);
    assert_int_equal(f.s.r[3], 0x10);
    assert_int_equal(f.s.r[4], 0x0800000000000000ull);
    assert_int_equal(f.s.r[5], 0xf800000000000000ull);
    assert_int_equal(f.s.r[6], 0x18);
    assert_int_equal(f.s.r[7], 0x1800000000000000ull);
    assert_int_equal(f.s.r[8], 0x8000000000000001ull);
    assert_int_equal(f.s.r[9], 64);
    assert_int_equal(f.s.r[10], 64);
    assert_int_equal(f.s.r[11], 0);        /* low byte 0x01: odd parity */
    assert_int_equal(f.s.r[12], 0x01000000);
    assert_int_equal(f.s.r[13], 0x3fffffffffffffffull);
    assert_int_equal(f.s.r[14], 0x4000000000000001ull);
}

static void test_pixel_wide_constants(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    assert_int_equal(run(&f, "LDI R1, -2\nLDI R2, 0x1234\nLDHI R2, 0x5678\nLDHI R2, 0x9abc\n"
                             "LDHI R2, 0xdef0\nLDI R3, -32768\n"
                             "LDI R4, 0\nLDHI R4, 0x8000\nLDHI R4, 0\n", NULL), PIXEL_FAULT_NONE);
    assert_int_equal(f.s.r[1], 0xfffffffffffffffeull);
    assert_int_equal(f.s.r[2], 0x123456789abcdef0ull);
    assert_int_equal(f.s.r[3], 0xffffffffffff8000ull);
    assert_int_equal(f.s.r[4], 0x80000000ull);   /* as docs/pixel-isa.md shows */
}

static void test_pixel_call_ret_jumps_and_limits(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct pixel_result res;
    /* CALL a subroutine twice; a top-level RET ends the program */
    assert_int_equal(run(&f, "CALL sub\nCALL sub\nRET\nsub: ADDI R1, R1, 3\nRET\n", &res),
                     PIXEL_FAULT_NONE);
    assert_int_equal(f.s.r[1], 6);
    assert_int_equal(res.pc, 2);
    assert_int_equal(res.steps, 7);
    /* unbounded recursion: the ninth pending call faults */
    assert_int_equal(run(&f, "f: CALL f\n", &res), PIXEL_FAULT_STACK);
    assert_int_equal(res.steps, PIXEL_CALL_DEPTH);
    /* an endless loop stops at the step limit */
    struct pixel_insn p[2];
    char err[128];
    assert_int_equal(pixel_asm("l: ADDI R2, R2, 1\nJUMP l\n", p, 2, err, sizeof err), 2);
    f.s.r[2] = 0;
    assert_int_equal(pixel_run(p, 2, &f.s, 101, &res), PIXEL_FAULT_STEPS);
    assert_int_equal(res.steps, 101);
    assert_int_equal(res.pc, 1);
    assert_int_equal(f.s.r[2], 51);
    /* JNZ not taken falls through; HALT ends where it is */
    f.s.r[4] = 0;
    assert_int_equal(run(&f, "JNZ R4, +1\nLDI R5, 1\nHALT\nLDI R5, 2\n", &res), PIXEL_FAULT_NONE);
    assert_int_equal(f.s.r[5], 1);
    assert_int_equal(res.pc, 2);
    /* a jump out of the program (pixel_run does not pre-check targets) faults when taken */
    struct pixel_insn j = { PX_JUMP, 0, 9, 0 };
    assert_int_equal(pixel_run(&j, 1, &f.s, 0, &res), PIXEL_FAULT_JUMP);
    /* an invalid instruction is a decode fault, not a crash */
    struct pixel_insn bad[2] = { { PX_NOP, 0, 0, 0 }, { 200, 1, 2, 3 } };
    assert_int_equal(pixel_run(bad, 2, &f.s, 0, &res), PIXEL_FAULT_DECODE);
    assert_int_equal(res.pc, 1);
    struct pixel_insn badreg = { PX_ADD, 40, 1, 2 };
    assert_int_equal(pixel_run(&badreg, 1, &f.s, 0, &res), PIXEL_FAULT_DECODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_memory_widths_little_endian),
        cmocka_unit_test(test_pixel_memory_fault_outside_regions),
        cmocka_unit_test(test_pixel_divide_faults),
        cmocka_unit_test(test_pixel_shift_and_bit_edges),
        cmocka_unit_test(test_pixel_wide_constants),
        cmocka_unit_test(test_pixel_call_ret_jumps_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
