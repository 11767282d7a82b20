/* test_oracle_agree.c — the two x86 oracles (host CPU in the sandbox, and
 * QEMU's TCG through Unicorn) agree on hand-written blocks over generated
 * states: arithmetic with flags, loads and stores, push/pop, partial
 * registers, shifts, multiply, and blocks ending in jcc and ret.  Every
 * output is compared bit for bit except the flags the architecture leaves
 * undefined for that block (listed in the table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle_compare.h"
#include "oracle_native.h"
#include "oracle_unicorn.h"
#include "state_gen.h"

#define NSTATES 1000u
#define ALL_FLAGS X86_RFLAGS_STATUS_MASK
#define FL(f) (1u << X86_RFLAGS_##f)

struct block_case {
    const char *name;
    uint8_t code[32];
    size_t len;
    uint64_t defined_flags;   /* RFLAGS bits compared */
    unsigned min_ok;          /* states that must run without a fault */
};

static const struct block_case cases[] = {
    { "add/adc/sub/sbb/neg/inc/xor/cmp",
      { 0x48,0x01,0xd8,0x48,0x11,0xd1,0x48,0x29,0xfe,0x4d,0x19,0xc8,0x49,0xf7,0xda,0x49,0xff,0xc3,0x4d,0x31,0xec,0x48,0x39,0xc8 },
      24, ALL_FLAGS, NSTATES },
    { "load/add-to-mem/movzx/store/sub-word-mem",
      { 0x48,0x8b,0x46,0x08,0x01,0x44,0x8f,0x10,0x0f,0xb6,0x56,0x03,0x48,0x89,0x56,0x20,0x66,0x29,0x53,0xfa },
      20, ALL_FLAGS, NSTATES },
    { "push/push/pop/pop/push mem/pop",
      { 0x50,0x53,0x59,0x5a,0xff,0x36,0x41,0x58 }, 8, ALL_FLAGS, NSTATES },
    { "partial registers (ah, al, bx, movsx, 32-bit zero-extension, sete ch, sub dl,dh)",
      { 0x88,0xdc,0x00,0xc8,0x66,0x89,0xd3,0x4c,0x0f,0xbf,0xc8,0x89,0xc8,0x0f,0x94,0xc5,0x28,0xf2 },
      18, ALL_FLAGS, NSTATES },
    { "shl rax,cl; shr r8d,cl",
      { 0x49,0x89,0xc0,0x48,0xd3,0xe0,0x41,0xd3,0xe8 }, 9, FL(CF) | FL(PF) | FL(ZF) | FL(SF), NSTATES },
    { "sar rbx,cl", { 0x48,0xd3,0xfb }, 3, FL(CF) | FL(PF) | FL(ZF) | FL(SF), NSTATES },
    { "shr rdx,1", { 0x48,0xd1,0xea }, 3, ALL_FLAGS & ~(uint64_t)FL(AF), NSTATES },
    { "imul rax,rbx", { 0x48,0x0f,0xaf,0xc3 }, 4, FL(CF) | FL(OF), NSTATES },
    { "cmp rax,rbx; jl (terminator)", { 0x48,0x39,0xd8,0x7c,0x3e }, 5, ALL_FLAGS, NSTATES },
    { "pop rax; add rax,rcx; ret (terminator)", { 0x58,0x48,0x01,0xc8,0xc3 }, 5, ALL_FLAGS, NSTATES },
};

struct batch {
    struct x86_regs in[NSTATES], out_n[NSTATES], out_u[NSTATES];
    struct x86_mem mem_in[NSTATES], mem_n[NSTATES], mem_u[NSTATES];
    struct oracle_result res_n[NSTATES], res_u[NSTATES];
    struct state_gen_storage st_in[NSTATES], st_n[NSTATES], st_u[NSTATES];
};

static void print_state(const char *what, const struct x86_regs *r)
{
    fprintf(stderr, "  %s:", what);
    for (int g = 0; g < X86_NGPR; g++)
        fprintf(stderr, " r%d=%#" PRIx64, g, r->gpr[g]);
    fprintf(stderr, " rip=%#" PRIx64 " rflags=%#" PRIx64 "\n", r->rip, r->rflags);
}

/* The live set of a case: every GPR, the next rip, memory, and the flags
 * the block defines. */
static x86_locset case_live(const struct block_case *c)
{
    x86_locset live = X86_LOC_ALL_GPRS | X86_LOC_RIP | X86_LOC_MEM;
    for (int f = 0; f < X86_NFLAG; f++)
        if (c->defined_flags & (1u << x86_flag_rflags_bit((enum x86_flag)f)))
            live |= X86_LOC_FLAG(f);
    return live;
}

/* Compare one state's outputs; returns true when they agree. */
static bool agree(const struct block_case *c, struct batch *b, size_t i, char *why, size_t whylen)
{
    struct oracle_exec n = { &b->out_n[i], &b->mem_n[i], &b->res_n[i] };
    struct oracle_exec u = { &b->out_u[i], &b->mem_u[i], &b->res_u[i] };
    if (!oracle_exec_agree(case_live(c), &n, &u, why, whylen))
        return false;
    if (b->res_n[i].kind == ORACLE_OK && b->res_n[i].taken != b->res_u[i].taken) {
        snprintf(why, whylen, "branch taken: %d vs %d", b->res_n[i].taken, b->res_u[i].taken);
        return false;
    }
    return true;
}

static void run_case(const struct block_case *c, struct oracle_native *on, struct oracle_unicorn *ou,
                     struct batch *b, uint64_t seed)
{
    struct state_gen_block blk;
    assert_int_equal(state_gen_analyze(c->code, c->len, &blk), 0);
    for (size_t i = 0; i < NSTATES; i++) {
        state_gen_make(&blk, seed, i, &b->in[i], &b->mem_in[i], &b->st_in[i]);
        b->mem_n[i] = b->mem_in[i];
        b->mem_u[i] = b->mem_in[i];
        for (unsigned k = 0; k < b->mem_in[i].nregions; k++) {
            b->mem_n[i].region[k].data = b->st_n[i].bytes[k];
            b->mem_u[i].region[k].data = b->st_u[i].bytes[k];
        }
    }
    assert_int_equal(oracle_native_run_batch(on, c->code, c->len, b->in, b->mem_in, NSTATES,
                                             b->out_n, b->mem_n, b->res_n), 0);
    assert_int_equal(oracle_unicorn_run_batch(ou, c->code, c->len, b->in, b->mem_in, NSTATES,
                                              b->out_u, b->mem_u, b->res_u), 0);
    unsigned ok = 0, bad = 0, taken = 0;
    for (size_t i = 0; i < NSTATES; i++) {
        if (b->res_n[i].kind == ORACLE_OK && b->res_u[i].kind == ORACLE_OK)
            ok++;
        taken += b->res_n[i].taken;
        char why[160];
        if (!agree(c, b, i, why, sizeof why)) {
            if (bad++ < 3) {
                fprintf(stderr, "MISMATCH block '%s' seed %" PRIu64 " state %zu (native vs unicorn): %s\n",
                        c->name, seed, i, why);
                print_state("in     ", &b->in[i]);
                print_state("native ", &b->out_n[i]);
                print_state("unicorn", &b->out_u[i]);
            }
        }
    }
    fprintf(stderr, "block '%s': %u states, %u ran without fault, %u branches taken, %u mismatches\n",
            c->name, NSTATES, ok, taken, bad);
    assert_int_equal(bad, 0);
    assert_true(ok >= c->min_ok);
}

static void test_oracles_agree_on_blocks(void **state)
{
    (void)state;
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    struct batch *b = calloc(1, sizeof *b);
    assert_non_null(on);
    assert_non_null(ou);
    assert_non_null(b);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        run_case(&cases[c], on, ou, b, 0x7e57 + c);
    struct oracle_native_stats st;
    oracle_native_get_stats(on, &st);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(st.unmappable, 0);
    free(b);
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
}

/* The jcc block must take its branch on some states and not on others, and
 * both oracles must report the target; a plain block must report rip+len. */
static void test_branch_outcome_both_ways(void **state)
{
    (void)state;
    static const uint8_t jl[] = { 0x48, 0x39, 0xd8, 0x7c, 0x3e };   /* cmp rax,rbx; jl +0x3e */
    struct oracle_native *on = oracle_native_create(NULL);
    struct oracle_unicorn *ou = oracle_unicorn_create(0);
    assert_non_null(on);
    assert_non_null(ou);
    struct x86_regs in = { .rip = STATE_GEN_CODE_BASE, .rflags = 2 }, on_out, ou_out;
    struct oracle_result rn, ru;
    for (int lt = 0; lt < 2; lt++) {
        in.gpr[X86_RAX] = lt ? (uint64_t)-5 : 7;   /* -5 < 3 signed */
        in.gpr[X86_RBX] = 3;
        assert_int_equal(oracle_native_run(on, jl, sizeof jl, &in, NULL, &on_out, NULL, &rn), 0);
        assert_int_equal(oracle_unicorn_run(ou, jl, sizeof jl, &in, NULL, &ou_out, NULL, &ru), 0);
        assert_int_equal(rn.kind, ORACLE_OK);
        assert_int_equal(ru.kind, ORACLE_OK);
        uint64_t want = STATE_GEN_CODE_BASE + sizeof jl + (lt ? 0x3e : 0);
        assert_int_equal(on_out.rip, want);
        assert_int_equal(ou_out.rip, want);
        assert_int_equal(rn.taken, lt);
        assert_int_equal(ru.taken, lt);
    }
    oracle_unicorn_destroy(ou);
    oracle_native_destroy(on);
}

/* The comparator names the first differing live location and ignores dead ones. */
static void test_compare_names_the_difference(void **state)
{
    (void)state;
    uint8_t da[16] = { 0 }, db[16] = { 0 };
    struct x86_regs ra = { .rip = 0x1000, .rflags = 2 }, rb = ra;
    struct x86_mem ma = { 1, { { 0x2000, sizeof da, da } } }, mb = { 1, { { 0x2000, sizeof db, db } } };
    struct oracle_result ok = { .kind = ORACLE_OK }, div = { .kind = ORACLE_FAULT_DIV };
    struct oracle_exec a = { &ra, &ma, &ok }, b = { &rb, &mb, &ok };
    char why[160];
    assert_true(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    rb.gpr[X86_RCX] = 7;
    assert_false(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    assert_string_equal(why, "rcx: 0 vs 0x7");
    assert_true(oracle_exec_agree(X86_LOC_ALL & ~X86_LOC_GPR(X86_RCX), &a, &b, why, sizeof why));
    rb.gpr[X86_RCX] = 0;
    rb.rflags |= 1u << X86_RFLAGS_OF;
    assert_false(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    assert_string_equal(why, "OF: 0 vs 1");
    assert_true(oracle_exec_agree(X86_LOC_ALL & ~X86_LOC_FLAG(X86_OF), &a, &b, why, sizeof why));
    rb.rflags = ra.rflags;
    db[5] = 0x34;
    assert_false(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    assert_string_equal(why, "memory at 0x2005: 0x00 vs 0x34");
    db[5] = 0;
    rb.rip = 0x1010;
    assert_false(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    assert_string_equal(why, "next rip: 0x1000 vs 0x1010");
    b.res = &div;
    assert_false(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    assert_string_equal(why, "kind: ok vs divide error (#DE)");
    a.res = &div;   /* both fault the same way: agree, outputs not compared */
    assert_true(oracle_exec_agree(X86_LOC_ALL, &a, &b, why, sizeof why));
    char line[512];
    rb.gpr[X86_R15] = 0xdead;
    oracle_format_regs(&rb, line, sizeof line);
    assert_non_null(strstr(line, "rax=0 rcx=0 "));
    assert_non_null(strstr(line, "r15=0xdead rip=0x1010 rflags=0x2"));
    oracle_format_regs(&rb, line, 8);   /* truncates, stays terminated */
    assert_int_equal(strlen(line), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracles_agree_on_blocks),
        cmocka_unit_test(test_branch_outcome_both_ways),
        cmocka_unit_test(test_compare_names_the_difference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
