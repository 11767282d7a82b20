/* test_oracle_state_gen.c — the test-state generator (common/state_gen.c):
 * states are reproducible from (seed, index); different seeds differ; every
 * memory operand of the block lands inside a region; the edge values
 * (0, -1, sign boundaries, shift counts 0/1/width-1/width) all occur;
 * RFLAGS has DF clear and bit 1 set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "state_gen.h"

/* mov rax,[rsi+8]; add [rdi+rcx*4+16],eax; movzx edx,byte [rsi+3];
 * mov [rsi+0x20],rdx; sub word [rbx-6],dx; push rax; pop rcx */
static const uint8_t code[] = { 0x48,0x8b,0x46,0x08,0x01,0x44,0x8f,0x10,0x0f,0xb6,0x56,0x03,0x48,0x89,0x56,0x20,
                                0x66,0x29,0x53,0xfa,0x50,0x59 };

static void test_analyze_finds_memory_operands(void **state)
{
    (void)state;
    struct state_gen_block blk;
    assert_int_equal(state_gen_analyze(code, sizeof code, &blk), 0);
    assert_int_equal(blk.ninsns, 7);
    assert_int_equal(blk.nmemops, 7);   /* 5 explicit + push + pop (implicit, base rsp) */
    uint16_t want = (1u << X86_RSI) | (1u << X86_RDI) | (1u << X86_RCX) | (1u << X86_RBX) | (1u << X86_RSP);
    assert_int_equal(blk.addr_regs, want);
    static const uint8_t junk[] = { 0x0f, 0xff };   /* ud0 without ModRM: does not decode */
    assert_int_equal(state_gen_analyze(junk, 1, &blk), -1);
}

static void test_states_are_reproducible(void **state)
{
    (void)state;
    struct state_gen_block blk;
    assert_int_equal(state_gen_analyze(code, sizeof code, &blk), 0);
    struct state_gen_storage *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    struct x86_regs ra, rb;
    struct x86_mem ma, mb;
    for (uint64_t i = 0; i < 200; i++) {
        state_gen_make(&blk, 1234, i, &ra, &ma, a);
        state_gen_make(&blk, 1234, i, &rb, &mb, b);
        assert_memory_equal(&ra, &rb, sizeof ra);
        assert_int_equal(ma.nregions, mb.nregions);
        for (unsigned k = 0; k < ma.nregions; k++) {
            assert_int_equal(ma.region[k].base, mb.region[k].base);
            assert_int_equal(ma.region[k].size, mb.region[k].size);
            assert_memory_equal(ma.region[k].data, mb.region[k].data, ma.region[k].size);
        }
        /* another seed, or the next index, gives another state */
        state_gen_make(&blk, 1235, i, &rb, &mb, b);
        assert_memory_not_equal(&ra, &rb, sizeof ra);
        state_gen_make(&blk, 1234, i + 1, &rb, &mb, b);
        assert_memory_not_equal(&ra, &rb, sizeof ra);
    }
    free(a);
    free(b);
}

static bool inside(const struct x86_mem *m, uint64_t addr, unsigned size)
{
    for (unsigned k = 0; k < m->nregions; k++)
        if (addr >= m->region[k].base && addr + size <= m->region[k].base + m->region[k].size)
            return true;
    return false;
}

static void test_memory_operands_land_in_regions(void **state)
{
    (void)state;
    struct state_gen_block blk;
    assert_int_equal(state_gen_analyze(code, sizeof code, &blk), 0);
    struct state_gen_storage *st = malloc(sizeof *st);
    assert_non_null(st);
    for (uint64_t i = 0; i < 1000; i++) {
        struct x86_regs r;
        struct x86_mem m;
        state_gen_make(&blk, 99, i, &r, &m, st);
        assert_int_equal(r.rip, STATE_GEN_CODE_BASE);
        assert_int_equal(r.rflags & (1u << X86_RFLAGS_DF), 0);
        assert_int_equal(r.rflags & 2, 2);
        assert_int_equal(r.rflags & ~(uint64_t)(X86_RFLAGS_STATUS_MASK | 2), 0);
        for (unsigned k = 0; k < m.nregions; k++) {
            assert_int_equal(m.region[k].base % 4096, 0);
            assert_true(m.region[k].base >= STATE_GEN_ARENA_BASE);
        }
        /* explicit operands, evaluated on the generated registers */
        for (unsigned j = 0; j < blk.nmemops; j++) {
            const struct state_gen_memop *op = &blk.memop[j];
            if (op->base < 0)
                continue;
            uint64_t a = r.gpr[op->base] + (op->index >= 0 ? r.gpr[op->index] * op->scale : 0) + (uint64_t)op->disp;
            if (!inside(&m, a, op->size))
                fail_msg("state %llu: operand %u at %#llx (size %u) is outside every region",
                         (unsigned long long)i, j, (unsigned long long)a, op->size);
        }
        /* push writes below rsp */
        assert_true(inside(&m, r.gpr[X86_RSP] - 8, 8));
    }
    free(st);
}

static void test_edge_values_occur(void **state)
{
    (void)state;
    static const uint8_t alu[] = { 0x48, 0x01, 0xd8 };   /* add rax, rbx: no memory */
    static const uint64_t edges[] = {
        0, 1, ~0ull, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
        0x7fffffffffffffffull, 0x8000000000000000ull, 31, 32, 63, 64, 65, 7, 8, 15, 16,
    };
    bool seen[sizeof edges / sizeof edges[0]] = { false };
    struct state_gen_block blk;
    assert_int_equal(state_gen_analyze(alu, sizeof alu, &blk), 0);
    assert_int_equal(blk.nmemops, 0);
    struct state_gen_storage *st = malloc(sizeof *st);
    assert_non_null(st);
    unsigned cf = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        struct x86_regs r;
        struct x86_mem m;
        state_gen_make(&blk, 7, i, &r, &m, st);
        assert_int_equal(m.nregions, 0);
        cf += r.rflags & 1;
        for (int g = 0; g < X86_NGPR; g++)
            for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
                if (r.gpr[g] == edges[e])
                    seen[e] = true;
    }
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        if (!seen[e])
            fail_msg("edge value %#llx never generated", (unsigned long long)edges[e]);
    assert_true(cf > 800 && cf < 1200);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analyze_finds_memory_operands),
        cmocka_unit_test(test_states_are_reproducible),
        cmocka_unit_test(test_memory_operands_land_in_regions),
        cmocka_unit_test(test_edge_values_occur),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
