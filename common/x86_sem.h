/* x86_sem.h — Z3 semantics of the supported x86-64 forms (x86_forms.h).
 *
 * A symbolic state holds the 16 GPRs and rip as 64-bit bitvectors, the six
 * status flags as Z3 Bools (true = set), and memory as one Z3 array
 * BitVec64 -> BitVec8 (byte-addressed, little-endian), so aliasing between
 * accesses is handled by the array theory.  Each flag also carries an
 * "undefined" marker, a Z3 Bool that is true when the architecture leaves
 * the flag's value undefined (it may depend on the input: shift counts);
 * the flag's value is then a fresh unconstrained variable, and equivalence
 * must be checked only where the marker is false.
 *
 * rip is symbolic: the block starts at `in_rip`, so rip-relative operands
 * and branch targets are expressions over it and one template serves every
 * address it is instantiated at.
 *
 * Context: pass a context made by Z3_mk_context (NOT Z3_mk_context_rc): the
 * lifter keeps Z3_ast handles in the state without reference counting.
 */
#ifndef TCGL_X86_SEM_H
#define TCGL_X86_SEM_H

#include <stdbool.h>
#include <stddef.h>
#include <z3.h>

#include "x86_decode.h"
#include "x86_state.h"

#define X86_SYM_MAX_ACCESSES 64

/* One memory access made by the lifted code, in program order. */
struct x86_sym_access {
    Z3_ast addr;        /* BV64 */
    Z3_ast value;       /* BV(8*size): the value loaded or stored */
    uint8_t size;       /* bytes */
    bool is_store;
};

struct x86_sym_state {
    /* Current values. */
    Z3_ast gpr[X86_NGPR];         /* BV64 */
    Z3_ast rip;                   /* BV64: address of the next instruction to run
                                     (after a terminator: ite(cond, target, fallthrough)) */
    Z3_ast flag[X86_NFLAG];       /* Bool */
    Z3_ast flag_undef[X86_NFLAG]; /* Bool: true where flag[f] is architecturally undefined */
    Z3_ast mem;                   /* Array BV64 -> BV8 */
    /* Block terminator (NULL until one is lifted): the branch condition
     * (true for unconditional transfers) and the taken target. */
    Z3_ast branch_cond;
    Z3_ast branch_target;
    bool terminated;
    /* Locations written by some instruction, and read before being written (live-in). */
    x86_locset written;
    x86_locset read;
    struct x86_sym_access acc[X86_SYM_MAX_ACCESSES];
    unsigned nacc;
    /* The inputs (free constants named <prefix>rax ... <prefix>of, <prefix>mem). */
    Z3_ast in_gpr[X86_NGPR];
    Z3_ast in_rip;
    Z3_ast in_flag[X86_NFLAG];
    Z3_ast in_mem;
    char prefix[32];
    unsigned nfresh;              /* fresh variables made so far (undefined flags) */
};

/* A fresh input state whose constants are named with `prefix` (e.g. "" or
 * "x_"): rax, rcx, ..., r15, rip, cf, pf, af, zf, sf, of, mem. */
void x86_sym_state_init(Z3_context ctx, struct x86_sym_state *st, const char *prefix);

/* Applies one decoded instruction to st.  Returns 0, or -1 with err naming
 * the instruction and the reason (unsupported form, instruction after the
 * block's terminator, too many memory accesses). */
int x86_lift_insn(Z3_context ctx, struct x86_sym_state *st, const struct x86_insn *insn,
                  char *err, size_t errlen);

/* Applies a decoded block in order; on a block without terminator, rip ends
 * as in_rip + the block's length.  Returns 0 or -1 (err as above). */
int x86_lift_block(Z3_context ctx, struct x86_sym_state *st, const struct x86_insn *insns,
                   size_t n, char *err, size_t errlen);

/* The defined outputs of the lifted code: written GPRs, written flags whose
 * undefined marker is not constantly true (a marker that depends on the
 * input, as for shifts by CL, must still be honoured by the caller), rip
 * (always: the next rip) and memory when stored to. */
x86_locset x86_sym_defined_outputs(Z3_context ctx, const struct x86_sym_state *st);

/* Condition code cc over the state's current flags (Bool). */
Z3_ast x86_sym_cond(Z3_context ctx, const struct x86_sym_state *st, enum x86_cc cc);

/* Loads `size` bytes little-endian from a memory array (BV(8*size)). */
Z3_ast x86_sym_load(Z3_context ctx, Z3_ast mem, Z3_ast addr, unsigned size);
/* Stores `size` bytes of `value` little-endian; returns the new array. */
Z3_ast x86_sym_store(Z3_context ctx, Z3_ast mem, Z3_ast addr, Z3_ast value, unsigned size);

/* Names of GPRs ("rax") and flags ("cf") as used for the constants. */
const char *x86_gpr_name(unsigned r);
const char *x86_flag_name(unsigned f);

#endif /* TCGL_X86_SEM_H */
