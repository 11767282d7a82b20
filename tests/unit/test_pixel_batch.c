/* test_pixel_batch.c — the batched CPU executor is bit-identical to the
 * reference interpreter: registers, memory, fault kind and pc, on random
 * straight-line and branching programs over batches of random states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixel_asm.h"
#include "pixel_batch.h"
#include "test_pixel_gen.h"

static void fill(struct pixel_batch *b)
{
    size_t win = pixel_batch_window(b);
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t r[32], base[2];
        uint8_t *w = b->mem + (size_t)i * win;
        gen_state(r, base, w, w + GEN_R0_SIZE);
        for (unsigned k = 0; k < 32; k++)
            b->regs[(size_t)k * b->n + i] = r[k];
        b->region_base[i] = base[0];
        b->region_base[b->n + i] = base[1];
    }
}

static long check_program(const struct pixel_insn *p, uint32_t n, uint32_t nstates, uint32_t limit)
{
    static const uint32_t sizes[2] = { GEN_R0_SIZE, GEN_R1_SIZE };
    struct pixel_batch b, ref;
    assert_int_equal(pixel_batch_alloc(&b, nstates, 2, sizes), 0);
    assert_int_equal(pixel_batch_alloc(&ref, nstates, 2, sizes), 0);
    fill(&b);
    size_t win = pixel_batch_window(&b);
    memcpy(ref.regs, b.regs, sizeof(uint64_t) * 32 * nstates);
    memcpy(ref.region_base, b.region_base, sizeof(uint64_t) * 2 * nstates);
    memcpy(ref.mem, b.mem, win * nstates);
    char err[256];
    /* odd state counts split over a few threads must not change a bit */
    unsigned threads = 1 + nstates % 4;
    long faulted = pixel_exec_batch_mt(p, n, &b, limit, threads, err, sizeof err);
    if (faulted < 0)
        fail_msg("pixel_exec_batch: %s", err);
    long ref_faulted = 0;
    for (uint32_t i = 0; i < nstates; i++) {
        struct pixel_state s;
        struct x86_mem m;
        struct pixel_result res;
        pixel_batch_get(&ref, i, &s, &m);
        pixel_run(p, n, &s, limit, &res);
        pixel_batch_put(&ref, i, &s);
        ref_faulted += res.fault != PIXEL_FAULT_NONE;
        int bad = b.fault[i] != res.fault || b.fault_pc[i] != res.pc ||
                  memcmp(b.mem + i * win, ref.mem + i * win, win) != 0;
        for (unsigned k = 0; k < 32; k++)
            bad |= b.regs[(size_t)k * nstates + i] != s.r[k];
        if (bad) {
            char text[8192];
            pixel_disasm(p, n, text, sizeof text);
            fail_msg("state %u differs: batch fault %s at %u, interpreter %s at %u\n%s", i,
                     pixel_fault_name((enum pixel_fault)b.fault[i]), b.fault_pc[i],
                     pixel_fault_name(res.fault), res.pc, text);
        }
    }
    assert_int_equal(faulted, ref_faulted);
    pixel_batch_free(&b);
    pixel_batch_free(&ref);
    return faulted;
}

static void test_pixel_batch_straight_line_matches_interpreter(void **state)
{
    (void)state;
    struct pixel_insn p[40];
    long faulted = 0, states = 0;
    for (int rep = 0; rep < 150; rep++) {
        uint32_t n = gen_prog(p, 40, 0);
        /* 1100 states: several chunks and a partial one */
        uint32_t m = rep % 10 == 0 ? 1100 + (uint32_t)rep % 3 : 37;
        faulted += check_program(p, n, m, rep % 7 == 0 ? n / 2 : 0);
        states += m;
    }
    /* the generator must exercise both outcomes */
    assert_true(faulted > states / 20 && faulted < states - states / 20);
}

static void test_pixel_batch_with_control_flow_matches_interpreter(void **state)
{
    (void)state;
    struct pixel_insn p[40];
    for (int rep = 0; rep < 150; rep++) {
        uint32_t n = gen_prog(p, 40, 1);
        check_program(p, n, rep % 10 == 0 ? 1538 : 37, 100);
    }
}

static void test_pixel_batch_halt_and_step_limit_edges(void **state)
{
    (void)state;
    struct pixel_insn p[8];
    char err[256];
    int n = pixel_asm("ADDI R1, R1, 1\nADDI R1, R1, 1\nHALT\nADDI R1, R1, 1\n", p, 8, err, sizeof err);
    assert_int_equal(n, 4);
    for (uint32_t limit = 1; limit <= 4; limit++)
        check_program(p, 4, 3, limit);    /* the HALT needs a step of its own */
    n = pixel_asm("ADDI R1, R1, 1\nRET\n", p, 8, err, sizeof err);
    check_program(p, 2, 3, 0);
    check_program(p, 0, 3, 0);            /* the empty program */
    struct pixel_insn bad = { PX_JUMP, 0, 7, 0 };
    static const uint32_t sizes[1] = { 8 };
    struct pixel_batch b;
    assert_int_equal(pixel_batch_alloc(&b, 2, 1, sizes), 0);
    assert_int_equal(pixel_exec_batch(&bad, 1, &b, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "jump target"));
    pixel_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_batch_straight_line_matches_interpreter),
        cmocka_unit_test(test_pixel_batch_with_control_flow_matches_interpreter),
        cmocka_unit_test(test_pixel_batch_halt_and_step_limit_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
