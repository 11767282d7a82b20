/* x86_eval.h — concrete evaluation of the Z3 x86 model.
 *
 * Runs the model's Z3 semantics (x86_sem.h) on a concrete input state and
 * reads back concrete outputs, so that the model itself — not a separate
 * interpreter — can be compared with the oracles (host CPU, Unicorn).
 *
 * How: an evaluator lifts the block once with symbolic inputs into a
 * private Z3 context and packs every output it needs (changed GPRs, rip,
 * flags and their undefined markers, branch condition, access values) into
 * one bitvector.  Per state, it first resolves the memory accesses in
 * program order (address = substitute inputs + simplify; loaded bytes become
 * a concrete array), then substitutes the inputs into the packed outputs and
 * simplifies to one numeral.  The private context is rebuilt every few
 * hundred states to bound Z3's memory.
 *
 * Memory model: every byte accessed must lie inside one region of `mem`;
 * otherwise the state faults (result.fault, fault_addr) and nothing is
 * written.  Stores are applied to `mem` in place, in program order.
 */
#ifndef TCGL_X86_EVAL_H
#define TCGL_X86_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86_decode.h"
#include "x86_sem.h"
#include "x86_state.h"

struct x86_eval_result {
    /* Output registers: GPRs; rip = the next rip; rflags = the input's with
     * the status flags the block defined in this state replaced (an
     * undefined flag keeps its input bit — compare only `defined`). */
    struct x86_regs regs;
    x86_locset defined;         /* written GPRs, defined flags, RIP, MEM if stored to */
    uint8_t flags_undefined;    /* XF_* mask: flags written but undefined in this state */
    bool has_branch;            /* the block ends with a terminator */
    bool branch_taken;          /* its condition held (true for unconditional ones) */
    unsigned nacc;              /* memory accesses in program order */
    struct x86_mem_access acc[X86_SYM_MAX_ACCESSES];
    bool fault;                 /* an access left the regions: nothing written */
    uint64_t fault_addr;
};

struct x86_evaluator;

/* Prepares the evaluation of a decoded block (64-bit; every instruction
 * supported).  NULL with err on failure. */
struct x86_evaluator *x86_evaluator_create(const struct x86_insn *insns, size_t n,
                                           char *err, size_t errlen);
void x86_evaluator_destroy(struct x86_evaluator *ev);

/* Switches an evaluator to another block, reusing its Z3 context (much
 * cheaper than destroy + create when evaluating many small blocks).
 * Returns 0, or -1 with err (the evaluator is then unusable until a
 * successful retarget). */
int x86_evaluator_retarget(struct x86_evaluator *ev, const struct x86_insn *insns, size_t n,
                           char *err, size_t errlen);

/* Evaluates one state.  Returns 0 (a fault is a result), or -1 with err
 * when the model could not be evaluated (a bug). */
int x86_evaluator_run(struct x86_evaluator *ev, const struct x86_regs *in, struct x86_mem *mem,
                      struct x86_eval_result *out, char *err, size_t errlen);

/* One-shot convenience: create, run once, destroy. */
int x86_model_eval(const struct x86_insn *insns, size_t n, const struct x86_regs *in,
                   struct x86_mem *mem, struct x86_eval_result *out, char *err, size_t errlen);

#endif /* TCGL_X86_EVAL_H */
