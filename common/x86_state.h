/* x86_state.h — the concrete x86-64 guest state every component agrees on.
 *
 * The tracer samples it, the x86 model evaluates it, the oracles (host CPU,
 * Unicorn) execute from it, the Pixel executors map it onto Pixel registers,
 * and verify compares it.  Keeping one definition means a state recorded by
 * the tracer can be replayed anywhere without conversion.
 *
 * GPRs are numbered in hardware encoding order (the ModRM/REX numbering, also
 * QEMU's and Zydis' order): RAX=0, RCX=1, RDX=2, RBX=3, RSP=4, RBP=5, RSI=6,
 * RDI=7, R8..R15 = 8..15.
 */
#ifndef TCGL_X86_STATE_H
#define TCGL_X86_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum x86_gpr {
    X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
    X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
    X86_NGPR
};

/* The six status flags, in this order everywhere (location sets, records). */
enum x86_flag { X86_CF, X86_PF, X86_AF, X86_ZF, X86_SF, X86_OF, X86_NFLAG };

/* Bit positions of the status flags inside RFLAGS. */
#define X86_RFLAGS_CF 0
#define X86_RFLAGS_PF 2
#define X86_RFLAGS_AF 4
#define X86_RFLAGS_ZF 6
#define X86_RFLAGS_SF 7
#define X86_RFLAGS_DF 10
#define X86_RFLAGS_OF 11
#define X86_RFLAGS_STATUS_MASK 0x8d5u   /* CF|PF|AF|ZF|SF|OF */

static inline unsigned x86_flag_rflags_bit(enum x86_flag f)
{
    static const unsigned char bit[X86_NFLAG] = {
        X86_RFLAGS_CF, X86_RFLAGS_PF, X86_RFLAGS_AF,
        X86_RFLAGS_ZF, X86_RFLAGS_SF, X86_RFLAGS_OF,
    };
    return bit[f];
}

/* A set of state locations (live-in / live-out / defined outputs):
 * bits 0..15 the GPRs, bits 16..21 the flags CF..OF, bit 22 the next rip
 * (branch target and condition of a block terminator), bit 23 memory. */
typedef uint32_t x86_locset;
#define X86_LOC_GPR(r)    ((x86_locset)1u << (r))
#define X86_LOC_FLAG(f)   ((x86_locset)1u << (16 + (f)))
#define X86_LOC_RIP       ((x86_locset)1u << 22)
#define X86_LOC_MEM       ((x86_locset)1u << 23)
#define X86_LOC_ALL_GPRS  ((x86_locset)0xffffu)
#define X86_LOC_ALL_FLAGS ((x86_locset)0x3fu << 16)
#define X86_LOC_ALL       (X86_LOC_ALL_GPRS | X86_LOC_ALL_FLAGS | X86_LOC_RIP | X86_LOC_MEM)

/* Registers of one guest state.  rflags holds the architectural RFLAGS
 * value; only the status bits (and DF, which blocks may read) matter to the
 * pipeline. */
struct x86_regs {
    uint64_t gpr[X86_NGPR];
    uint64_t rip;
    uint64_t rflags;
    uint64_t fs_base;
    uint64_t gs_base;
};

/* Guest memory seen by one block execution: a few disjoint regions at guest
 * virtual addresses.  Every access must fall inside one region; anything
 * else is a guest fault for every executor alike (oracles and Pixel). */
#define X86_MEM_MAX_REGIONS 4
#define X86_MEM_MAX_REGION_SIZE (64u * 1024u)

struct x86_mem_region {
    uint64_t base;        /* guest virtual address of data[0] */
    uint32_t size;        /* bytes, <= X86_MEM_MAX_REGION_SIZE */
    uint8_t *data;        /* owned by whoever built the state */
};

struct x86_mem {
    uint32_t nregions;
    struct x86_mem_region region[X86_MEM_MAX_REGIONS];
};

/* One memory access as the tracer records it and replay checks it. */
struct x86_mem_access {
    uint64_t addr;
    uint64_t value;       /* zero-extended; the low `size` bytes are meaningful */
    uint8_t size;         /* 1, 2, 4, 8 (16 for SSE, reported but not modelled) */
    bool is_store;
};

#endif /* TCGL_X86_STATE_H */
