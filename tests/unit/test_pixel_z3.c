/* test_pixel_z3.c — the Z3 encoding agrees with the reference interpreter:
 * every opcode on random and edge-value operands (terms built on constant
 * inputs and simplified), random programs with memory, faults and control
 * flow, and a symbolic proof on the seeds' ADD EAX, EBX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pixel_asm.h"
#include "pixel_interp.h"
#include "pixel_z3.h"
#include "test_pixel_gen.h"

#define BASE0 0x1000u
#define BASE1 0x2000u

static Z3_context new_ctx(void)
{
    Z3_config cfg = Z3_mk_config();
    Z3_context c = Z3_mk_context(cfg);
    Z3_del_config(cfg);
    return c;
}

/* Concrete memory array holding the regions' bytes (0 elsewhere). */
static Z3_ast mem_array(Z3_context c, const struct x86_mem *m)
{
    Z3_sort bv8 = Z3_mk_bv_sort(c, 8), bv64 = Z3_mk_bv_sort(c, 64);
    Z3_ast a = Z3_mk_const_array(c, bv64, Z3_mk_unsigned_int(c, 0, bv8));
    for (uint32_t j = 0; j < m->nregions; j++)
        for (uint32_t k = 0; k < m->region[j].size; k++)
            a = Z3_mk_store(c, a, Z3_mk_unsigned_int64(c, m->region[j].base + k, bv64),
                            Z3_mk_unsigned_int(c, m->region[j].data[k], bv8));
    return a;
}

/* Runs prog in both and compares registers, fault kind and region bytes. */
static void compare(Z3_context c, const struct pixel_insn *p, uint32_t n, const uint64_t r[32],
                    uint64_t base0, uint64_t base1, const uint8_t *b0, const uint8_t *b1,
                    uint32_t step_limit)
{
    uint8_t m0[GEN_R0_SIZE], m1[GEN_R1_SIZE];
    memcpy(m0, b0, sizeof m0);
    memcpy(m1, b1, sizeof m1);
    struct x86_mem mem = { 2, { { base0, GEN_R0_SIZE, m0 }, { base1, GEN_R1_SIZE, m1 } } };
    struct pixel_z3_state in;
    pixel_z3_state_const(c, r, mem_array(c, &mem), &in);

    struct pixel_state s;
    memcpy(s.r, r, sizeof s.r);
    s.mem = &mem;
    struct pixel_result res;
    pixel_run(p, n, &s, step_limit, &res);

    struct pixel_z3_opts o = { step_limit, 4096, pixel_z3_regions_ok, &mem };
    struct pixel_z3_result zr;
    char err[256];
    if (pixel_z3_exec(c, p, n, &in, &o, &zr, err, sizeof err) != 0)
        fail_msg("pixel_z3_exec: %s", err);
    char text[8192];
    uint64_t v;
    if (!pixel_z3_eval_u64(c, zr.fault_kind, &v) || v != (uint64_t)res.fault) {
        pixel_disasm(p, n, text, sizeof text);
        fail_msg("fault: interpreter %s, Z3 %s (%llu)\n%s", pixel_fault_name(res.fault),
                 Z3_ast_to_string(c, Z3_simplify(c, zr.fault_kind)), (unsigned long long)v, text);
    }
    for (unsigned k = 0; k < PIXEL_NREGS; k++) {
        if (!pixel_z3_eval_u64(c, zr.out.r[k], &v) || v != s.r[k]) {
            pixel_disasm(p, n, text, sizeof text);
            fail_msg("R%u: interpreter %#llx, Z3 %s (fault %s)\n%s", k, (unsigned long long)s.r[k],
                     Z3_ast_to_string(c, Z3_simplify(c, zr.out.r[k])), pixel_fault_name(res.fault),
                     text);
        }
    }
    bool stores = false;   /* memory can only differ when something stores */
    for (uint32_t k = 0; k < n; k++)
        stores |= pixel_opinfo(p[k].op)->kind == PXK_STORE;
    for (uint32_t j = 0; stores && j < 2; j++)
        for (uint32_t k = 0; k < mem.region[j].size; k++) {
            Z3_ast sel = Z3_mk_select(c, zr.out.mem,
                                      Z3_mk_unsigned_int64(c, mem.region[j].base + k,
                                                           Z3_mk_bv_sort(c, 64)));
            if (!pixel_z3_eval_u64(c, sel, &v) || v != mem.region[j].data[k]) {
                pixel_disasm(p, n, text, sizeof text);
                fail_msg("mem %#llx: interpreter %#x, Z3 %s\n%s",
                         (unsigned long long)(mem.region[j].base + k), mem.region[j].data[k],
                         Z3_ast_to_string(c, Z3_simplify(c, sel)), text);
            }
        }
}

/* Every opcode, one instruction, on edge and random operands. */
static void test_pixel_z3_every_opcode_matches_interpreter(void **state)
{
    (void)state;
    int tested = 0;
    for (int op = 0; op < 256; op++) {
        if (!pixel_opinfo((uint8_t)op)->name)
            continue;
        Z3_context c = new_ctx();
        for (int rep = 0; rep < 16; rep++) {
            uint64_t r[32], base[2];
            uint8_t b0[GEN_R0_SIZE], b1[GEN_R1_SIZE];
            gen_state(r, base, b0, b1);
            struct pixel_insn p[2];
            p[0] = gen_insn((uint8_t)op, 0, 1);
            /* divisors of 0 and -1 and INT64_MIN dividends come up often */
            if (rep % 6 == 0)
                r[p[0].rs2 & 31] = rep % 12 ? 0 : ~0ull;
            if (rep % 12 == 0)
                r[p[0].rs1 & 31] = 0x8000000000000000ull;
            compare(c, p, 1, r, base[0], base[1], b0, b1, 0);
            tested++;
        }
        Z3_del_context(c);
    }
    assert_true(tested >= 70 * 16);
}

/* Random straight-line and branching programs, with memory and faults. */
static void test_pixel_z3_random_programs_match_interpreter(void **state)
{
    (void)state;
    Z3_context c = new_ctx();
    for (int rep = 0; rep < 100; rep++) {
        if (rep % 25 == 24) {
            Z3_del_context(c);
            c = new_ctx();
        }
        struct pixel_insn p[24];
        uint32_t n = gen_prog(p, 24, rep % 2);
        uint64_t r[32], base[2];
        uint8_t b0[GEN_R0_SIZE], b1[GEN_R1_SIZE];
        gen_state(r, base, b0, b1);
        compare(c, p, n, r, base[0], base[1], b0, b1, 64);
    }
    Z3_del_context(c);
}

/* Symbolically: the seeds' microcode for ADD EAX, EBX equals the 32-bit
 * add with zero-extension for every input (the solver finds no
 * counterexample), and a wrong variant (no ZEXT32) is refuted. */
static void test_pixel_z3_proves_seed_add(void **state)
{
    (void)state;
    Z3_context c = new_ctx();
    const char *good = "MOV R24, RAX\nMOV R25, RBX\nADD R24, R24, R25\nZEXT32 R24, R24\nMOV RAX, R24\n";
    const char *bad = "MOV R24, RAX\nMOV R25, RBX\nADD R24, R24, R25\nMOV RAX, R24\n";
    const char *srcs[2] = { good, bad };
    for (int k = 0; k < 2; k++) {
        struct pixel_insn p[8];
        char err[256];
        int n = pixel_asm(srcs[k], p, 8, err, sizeof err);
        assert_true(n > 0);
        struct pixel_z3_state in;
        pixel_z3_state_fresh(c, k ? "b_" : "g_", &in);
        struct pixel_z3_result zr;
        assert_int_equal(pixel_z3_exec(c, p, (size_t)n, &in, NULL, &zr, err, sizeof err), 0);
        assert_int_equal(zr.paths, 1);
        Z3_ast want = Z3_mk_zero_ext(c, 32, Z3_mk_bvadd(c, Z3_mk_extract(c, 31, 0, in.r[0]),
                                                         Z3_mk_extract(c, 31, 0, in.r[3])));
        Z3_solver s = Z3_mk_solver(c);
        Z3_solver_inc_ref(c, s);
        Z3_solver_assert(c, s, Z3_mk_not(c, Z3_mk_eq(c, zr.out.r[0], want)));
        Z3_lbool got = Z3_solver_check(c, s);
        assert_int_equal(got, k == 0 ? Z3_L_FALSE : Z3_L_TRUE);
        Z3_solver_dec_ref(c, s);
    }
    Z3_del_context(c);
}

/* A branch on a symbolic register forks into two paths and merges. */
static void test_pixel_z3_symbolic_branch_merges(void **state)
{
    (void)state;
    Z3_context c = new_ctx();
    struct pixel_insn p[8];
    char err[256];
    int n = pixel_asm("JZ R1, zero\nLDI R2, 1\nHALT\nzero: LDI R2, 2\n", p, 8, err, sizeof err);
    assert_int_equal(n, 4);
    struct pixel_z3_state in;
    pixel_z3_state_fresh(c, "", &in);
    struct pixel_z3_result zr;
    assert_int_equal(pixel_z3_exec(c, p, (size_t)n, &in, NULL, &zr, err, sizeof err), 0);
    assert_int_equal(zr.paths, 2);
    Z3_sort bv = Z3_mk_bv_sort(c, 64);
    Z3_ast want = Z3_mk_ite(c, Z3_mk_eq(c, in.r[1], Z3_mk_unsigned_int(c, 0, bv)),
                            Z3_mk_unsigned_int(c, 2, bv), Z3_mk_unsigned_int(c, 1, bv));
    Z3_solver s = Z3_mk_solver(c);
    Z3_solver_inc_ref(c, s);
    Z3_solver_assert(c, s, Z3_mk_not(c, Z3_mk_eq(c, zr.out.r[2], want)));
    assert_int_equal(Z3_solver_check(c, s), Z3_L_FALSE);
    Z3_solver_dec_ref(c, s);
    /* a loop on a symbolic counter exceeds the path budget: an error, not a hang */
    n = pixel_asm("l: ADDI R1, R1, -1\nJNZ R1, l\n", p, 8, err, sizeof err);
    struct pixel_z3_opts o = { 1000, 16, NULL, NULL };
    assert_int_equal(pixel_z3_exec(c, p, (size_t)n, &in, &o, &zr, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 16 paths"));
    Z3_del_context(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_z3_every_opcode_matches_interpreter),
        cmocka_unit_test(test_pixel_z3_random_programs_match_interpreter),
        cmocka_unit_test(test_pixel_z3_proves_seed_add),
        cmocka_unit_test(test_pixel_z3_symbolic_branch_merges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
