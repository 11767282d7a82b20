/* pixel_interp.h — the reference interpreter of the Pixel CPU: one state,
 * the semantics oracle every other executor (batched CPU, CUDA) must match
 * bit for bit.  Semantics: docs/pixel-isa.md. */
#ifndef TCGL_PIXEL_INTERP_H
#define TCGL_PIXEL_INTERP_H

#include <stddef.h>

#include "pixel_state.h"

/* How an execution ended. */
struct pixel_result {
    enum pixel_fault fault;   /* PIXEL_FAULT_NONE: ended normally */
    uint32_t pc;              /* fault: the faulting instruction; else where it ended
                                 (n when it ran off the end, else the HALT/RET index) */
    uint32_t steps;           /* instructions executed (a faulting one not counted) */
    uint64_t fault_addr;      /* PIXEL_FAULT_MEM: the address accessed */
};

/* Runs `prog` (n instructions) on `s`.  Every instruction is checked first
 * (pixel_insn_valid): a malformed one, or a program longer than
 * PIXEL_MAX_INSNS, is a PIXEL_FAULT_DECODE at the offending instruction and
 * changes nothing.  Jump targets are not pre-checked: a taken jump outside
 * 0..n is a PIXEL_FAULT_JUMP.  step_limit 0 means PIXEL_DEFAULT_STEP_LIMIT.
 * Returns res->fault (res may be NULL). */
enum pixel_fault pixel_run(const struct pixel_insn *prog, size_t n, struct pixel_state *s,
                           uint32_t step_limit, struct pixel_result *res);

/* As pixel_run, for a program the caller has already validated
 * (pixel_prog_valid or pixel_decode): no per-call check. */
enum pixel_fault pixel_run_valid(const struct pixel_insn *prog, size_t n, struct pixel_state *s,
                                 uint32_t step_limit, struct pixel_result *res);

#endif /* TCGL_PIXEL_INTERP_H */
