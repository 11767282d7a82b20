/* canon.h — canonical form of a basic block (a template instance).
 *
 * Two blocks that differ only in which registers they use, or in immediates
 * whose value the semantics do not depend on, get the same canonical bytes:
 *   - registers are renamed in order of first use (operands in order, then
 *     address registers) onto canonical registers 0, 1, 2, ... skipping
 *     registers that must stay where they are ("pinned": rsp, registers an
 *     instruction uses implicitly such as rax/rdx of mul or cl of a shift,
 *     and the owners of ah/ch/dh/bh);
 *   - immediates become parameters with a fixed placeholder value (0x10 + k
 *     for the k-th one), except where the value changes the semantics
 *     beyond a symbolic operand: shift and rotate counts, bit indexes, and
 *     the control immediates of FP/SIMD, I/O, interrupt and stack-frame
 *     instructions (one table in canon.c);
 *   - every instruction touched is re-encoded with Zydis' encoder, so the
 *     canonical instance is itself valid x86 of the same cpu mode; control
 *     transfers keep their relative displacement verbatim.
 * When some instruction cannot be re-encoded under the renaming (e.g. a
 * renamed register would need a REX prefix next to ah), the block falls back
 * to its original bytes with the identity binding (counted; still correct).
 *
 * The binding is a full permutation: canonical register i holds real
 * register binding[i], so a real state maps to a canonical state and back
 * without loss.  Live sets are renamed and restricted to what the block can
 * touch (live_in to what it may read, live_out to what it may write), so
 * that unrelated context does not split templates.
 */
#ifndef TCGL_CLUSTER_CANON_H
#define TCGL_CLUSTER_CANON_H

#include <stdbool.h>
#include <stdint.h>

#include "x86_state.h"

#define CANON_MAX_CODE 4096u
#define CANON_MAX_IMMS 64u

struct canon_options {
    bool abstract_imms;   /* default true */
    bool rename_regs;     /* default true */
};

struct canon_result {
    uint8_t code[CANON_MAX_CODE];
    uint32_t len;
    uint32_t ninsns;
    uint8_t binding[X86_NGPR];    /* canonical i -> real register */
    uint8_t rename[X86_NGPR];     /* real register -> canonical */
    uint64_t imm[CANON_MAX_IMMS]; /* parameter k's real value (sign-extended to 64 bits) */
    uint32_t nimm;
    x86_locset live_in, live_out; /* canonical registers, restricted */
    x86_locset reads, writes;     /* canonical: what the block may read / write */
    bool fallback;                /* re-encoding failed: original bytes, identity binding */
};

void canon_options_default(struct canon_options *o);

/* Canonicalize `len` bytes of code (whole instructions) in `cpu_mode`.
 * live_in / live_out are the block's (real registers).  Returns false when
 * the code does not decode (nothing sensible to canonicalize). */
bool canon_block(uint8_t cpu_mode, const uint8_t *code, uint32_t len, x86_locset live_in,
                 x86_locset live_out, const struct canon_options *opt, struct canon_result *out);

/* A real location set in canonical registers (flags, rip, memory unchanged). */
x86_locset canon_rename_locset(const struct canon_result *c, x86_locset real);
/* A real register state in canonical registers: canon.gpr[i] = real.gpr[binding[i]]. */
void canon_rename_regs(const struct canon_result *c, const struct x86_regs *real, struct x86_regs *canon);

#endif
