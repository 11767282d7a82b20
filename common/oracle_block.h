/* oracle_block.h — what the x86 oracles need to know about a block's shape.
 *
 * Decoded once per job (Zydis): the instruction count (Unicorn stops after
 * it), and the terminator — the last instruction when it transfers control —
 * so the native oracle can run the body natively and resolve the branch
 * (docs/oracles.md, "Terminators").  Internal to the oracles.
 */
#ifndef TCGL_ORACLE_BLOCK_H
#define TCGL_ORACLE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum oracle_term {
    ORACLE_TERM_NONE,       /* falls through to rip + len */
    ORACLE_TERM_JCC,        /* jcc rel8/rel32: condition evaluated natively */
    ORACLE_TERM_JMP_REL,
    ORACLE_TERM_JMP_REG,
    ORACLE_TERM_CALL_REL,
    ORACLE_TERM_CALL_REG,
    ORACLE_TERM_RET,        /* ret / ret imm16 */
    ORACLE_TERM_UNSUPPORTED /* indirect through memory, loop, jrcxz, far, ... */
};

struct oracle_block {
    unsigned ninsns;        /* instructions (an undecodable tail counts as one) */
    uint32_t body_len;      /* bytes before the terminator (len when NONE) */
    uint32_t len;
    enum oracle_term term;
    uint8_t jcc_cond;       /* condition code 0..15 (the low nibble of 0x7x) */
    int8_t reg;             /* JMP_REG / CALL_REG: enum x86_gpr */
    uint16_t ret_imm;       /* RET imm16 */
    int64_t rel;            /* JCC/JMP_REL/CALL_REL: target = rip + len + rel */
    bool uses_fs_gs;        /* fs:/gs: segment override somewhere in the block */
    bool decode_error;      /* bytes Zydis could not decode (executed anyway) */
    bool body_branches;     /* a control transfer before the last instruction */
};

/* Decode `code` (len bytes).  Never fails: undecodable bytes end the block
 * (decode_error) and are left for the CPU / Unicorn to fault on. */
void oracle_block_decode(const uint8_t *code, size_t len, struct oracle_block *b);

/* Argument checks shared by both oracles' run_batch (logged; -1 when bad).
 * Defined in oracle_native.c. */
struct x86_mem;
int oracle_check_batch(const uint8_t *code, size_t len, const struct x86_mem *mem_in, size_t n,
                       const struct x86_mem *mem_out);

/* A half-open range of guest addresses [start, end): the pages an oracle
 * maps for a state's memory regions and code. */
struct oracle_range { uint64_t start, end; };

static inline bool oracle_range_overlaps(struct oracle_range a, struct oracle_range b)
{
    return a.start < b.end && b.start < a.end;
}

/* Sorts r[0..n) by start and merges ranges that overlap or touch, in place;
 * returns the number left.  Allocates nothing: the native oracle's child
 * calls it after fork. */
unsigned oracle_ranges_merge(struct oracle_range *r, unsigned n);

#endif /* TCGL_ORACLE_BLOCK_H */
