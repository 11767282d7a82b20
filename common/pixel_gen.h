/* pixel_gen.h — deterministic random Pixel programs and states, for
 * differential testing of the executors (interpreter, batched CPU, CUDA,
 * Z3) and for benchmarks.  Values are biased towards edges (0, ±1, sign
 * and width boundaries); address registers point in, near and past the
 * guest regions so that some accesses fault. */
#ifndef TCGL_PIXEL_GEN_H
#define TCGL_PIXEL_GEN_H

#include <stdint.h>

#include "pixel_isa.h"

/* Registers generated code never writes: R27 (the loop counter of
 * pixel_gen_allops) and R28..R31 (they hold addresses). */
#define PIXEL_GEN_COUNTER_REG 27
#define PIXEL_GEN_ADDR_REG0 28

struct pixel_gen {
    uint64_t s;
};

void pixel_gen_seed(struct pixel_gen *g, uint64_t seed);
uint64_t pixel_gen_u64(struct pixel_gen *g);          /* splitmix64 */
uint64_t pixel_gen_edge(struct pixel_gen *g);         /* one of the edge values */
uint64_t pixel_gen_value(struct pixel_gen *g);        /* edge, small or random */

/* A valid instruction of opcode op at index pc of an n-instruction program
 * (jump targets inside 0..n; rd never an address register). */
struct pixel_insn pixel_gen_insn(struct pixel_gen *g, uint8_t op, uint32_t pc, uint32_t n);
/* A random defined opcode; control flow (JUMP/JZ/JNZ/CALL/RET/HALT) only when allowed. */
uint8_t pixel_gen_opcode(struct pixel_gen *g, int control);
/* 1..max random instructions; returns the count. */
uint32_t pixel_gen_prog(struct pixel_gen *g, struct pixel_insn *p, uint32_t max, int control);
/* Every defined opcode at least once: a forward-branching, calling,
 * looping program (max >= 128) whose loads and stores go through R28 and
 * R29 only; returns the count. */
uint32_t pixel_gen_allops(struct pixel_gen *g, struct pixel_insn *p, uint32_t max);

/* Registers of one state and bases of nregions regions (region j at a
 * distinct 64 KiB-aligned area); the address registers R28..R31 point into
 * regions 0 and 1 (or near their ends). */
void pixel_gen_regs(struct pixel_gen *g, uint64_t r[PIXEL_NREGS], uint32_t nregions,
                    const uint32_t *sizes, uint64_t *bases);

#endif /* TCGL_PIXEL_GEN_H */
