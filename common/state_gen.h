/* state_gen.h — random and edge-biased input states for one x86 block.
 *
 * state_gen_analyze() decodes the block (Zydis) once and records what the
 * states must satisfy: which registers address memory (base and index of
 * every explicit or implicit memory operand: push/pop/call/ret use RSP),
 * with which displacement, scale and width, and the rip-relative targets.
 * state_gen_make() then builds state number `index` of stream `seed`:
 * deterministic — the same (block, seed, index) always gives the same
 * state, so a failing state is reproduced from the two numbers alone.
 *
 * Register values: per register an independent draw among 0, 1, -1 (all
 * ones), the sign boundaries 0x7f/0x80/0xff, 0x7fff/0x8000/0xffff,
 * 0x7fffffff/0x80000000/0xffffffff, 0x7fff…ff/0x80…00, small counts
 * 0..8 / 15,16,17 / 31,32,33 / 63,64,65 / 127,128 (shift and rotate counts
 * 0, 1, width-1, width and over), edge values in the low bits under random
 * upper bits (partial-register writes must keep them), and plain random
 * 64-bit values.  RFLAGS: random CF/PF/AF/ZF/SF/OF, bit 1 set, DF = 0.
 *
 * Memory (the arena convention, docs/oracles.md): the code is placed at
 * STATE_GEN_CODE_BASE (rip).  Each distinct base register (or, without a
 * base, each index register / absolute address) gets its own region of
 * STATE_GEN_REGION_SIZE bytes, page-aligned, at
 * STATE_GEN_ARENA_BASE + k * STATE_GEN_REGION_STRIDE.  The base register
 * is set so that base + index*scale + disp lands at a random, naturally
 * aligned offset in the middle half of the region; index registers of
 * memory operands get small values (-8..8, so the edge cases of a register
 * used only as an index are limited to those).  RSP gets a stack region the
 * same way.  Rip-relative operands get a region around rip+disp (when that
 * overlaps the code pages, no region: the access faults in both oracles).
 * Region contents are random bytes mixed with edge values.  Registers that
 * address memory keep those values; the others get edge-biased values.
 */
#ifndef TCGL_STATE_GEN_H
#define TCGL_STATE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "x86_state.h"

/* The scratch arena: far from what a Linux x86-64 process (including an
 * ASan-instrumented one: shadow, allocator at 0x6000'0000'0000) maps. */
#define STATE_GEN_ARENA_BASE    0x0000200000000000ull
#define STATE_GEN_CODE_BASE     0x00001f0000000000ull
#define STATE_GEN_REGION_SIZE   4096u   /* one page: the oracles copy it twice per state */
#define STATE_GEN_REGION_STRIDE 0x100000ull   /* 1 MiB between regions */

#define STATE_GEN_MAX_MEMOPS 16

/* One memory operand of the block, as decoded. */
struct state_gen_memop {
    int8_t base;        /* enum x86_gpr, or -1 (none), or -2 (rip-relative) */
    int8_t index;       /* enum x86_gpr, or -1 */
    uint8_t scale;      /* 1, 2, 4, 8 */
    uint8_t size;       /* access bytes */
    int64_t disp;
    uint64_t rip_next;  /* rip of the following instruction (rip-relative) */
};

struct state_gen_block {
    uint64_t rip;                       /* where the code is placed */
    size_t len;
    unsigned ninsns;
    unsigned nmemops;
    struct state_gen_memop memop[STATE_GEN_MAX_MEMOPS];
    uint16_t addr_regs;                 /* bit r: GPR r addresses memory */
};

/* Decode `code` placed at STATE_GEN_CODE_BASE.  Returns 0, or -1 when the
 * bytes do not decode (logged with the offset). */
int state_gen_analyze(const uint8_t *code, size_t len, struct state_gen_block *blk);

/* Storage for one state's memory: X86_MEM_MAX_REGIONS regions of
 * STATE_GEN_REGION_SIZE bytes.  mem->region[k].data points into it. */
struct state_gen_storage {
    uint8_t bytes[X86_MEM_MAX_REGIONS][STATE_GEN_REGION_SIZE];
};

/* Build state `index` of stream `seed`: regs (rip = blk->rip) and mem
 * (regions pointing into *storage). */
void state_gen_make(const struct state_gen_block *blk, uint64_t seed, uint64_t index,
                    struct x86_regs *regs, struct x86_mem *mem,
                    struct state_gen_storage *storage);

/* The deterministic generator state_gen uses (splitmix64), exported so tests
 * and benchmarks draw reproducible numbers the same way. */
uint64_t state_gen_mix(uint64_t x);

#endif /* TCGL_STATE_GEN_H */
