/* cegis.h — counterexample-guided search for a cheaper program.
 *
 * Given a block, its live-out set and its (pre-allocation) baseline IR, the
 * search looks for cheaper expressions of the live outputs:
 *   - candidates are found by bottom-up enumeration of Pixel expressions
 *     (inputs: the registers the baseline reads; operations: the opcodes of
 *     the allowed set; immediates: small constants and the baseline's own),
 *     kept only if they reproduce the expected output on EVERY test input
 *     (observationally distinct values only, cheapest first);
 *   - the expected outputs of a test input come from running the proved
 *     baseline in the reference interpreter;
 *   - the composed candidate (found expressions for some outputs, the
 *     baseline's slice for the rest) is checked by the full equivalence
 *     query (equiv.h); a counterexample becomes a new test input and the
 *     search repeats, until a candidate is proved, nothing cheaper is left,
 *     or the time budget ends.
 * Blocks that access memory are not searched (the baseline stands).
 */
#ifndef TCGL_SYNTH_CEGIS_H
#define TCGL_SYNTH_CEGIS_H

#include <stdbool.h>
#include <stdint.h>

#include "equiv.h"
#include "sir.h"

struct cegis_result {
    bool found;                 /* a proved, strictly cheaper program is in out */
    bool timed_out;
    unsigned iterations;        /* full equivalence queries */
    unsigned tests;             /* test inputs at the end */
    uint32_t cost;
};

/* q must be prepared for the block (equiv_prepare).  base: the baseline IR
 * after the optimization passes, before register allocation; base_cost its
 * encoded cost.  On success writes the encoded program to out/nout. */
int cegis_optimize(struct equiv_ctx *q, const struct sir_prog *base, uint32_t live_mask,
                   uint32_t base_cost, bool core_only, unsigned budget_ms, unsigned proof_timeout_ms,
                   uint64_t seed, struct pixel_insn *out, size_t max, size_t *nout,
                   struct cegis_result *res);

#endif /* TCGL_SYNTH_CEGIS_H */
