/* pixel_state.h — one Pixel CPU state and the guest-state convention that
 * maps an x86-64 guest state onto it (docs/pixel-isa.md "Guest state").
 *
 *   R0..R15   the 16 GPRs, hardware order (RAX, RCX, RDX, RBX, RSP, RBP, RSI,
 *             RDI, R8..R15): Pixel Rn is x86 register n
 *   R16..R21  CF, PF, AF, ZF, SF, OF, one register each, 0 or 1
 *   R22       rip: the block's address at entry, the next rip at exit
 *   R23       DF (0 or 1), read-only by convention
 *   R24..R31  scratch: 0 at entry (from pixel_state_from_x86), ignored at exit
 *   memory    guest virtual memory: the regions of a struct x86_mem; an access
 *             not entirely inside one region faults (PIXEL_FAULT_MEM)
 */
#ifndef TCGL_PIXEL_STATE_H
#define TCGL_PIXEL_STATE_H

#include "pixel_isa.h"
#include "x86_state.h"

struct pixel_state {
    uint64_t r[PIXEL_NREGS];
    struct x86_mem *mem;      /* guest memory (not owned); NULL: no memory, every access faults */
};

/* Loads an x86 state: GPRs, the six status flags and DF from rflags, rip;
 * scratch registers become 0.  `mem` may be NULL. */
void pixel_state_from_x86(const struct x86_regs *x, struct x86_mem *mem, struct pixel_state *s);

/* Stores the convention registers back: GPRs, rip from R22, the status
 * flags into rflags (a flag register that is not 0 sets its bit).  Other
 * rflags bits, fs_base and gs_base keep the values `x` already holds, so
 * pass the pre-state in `x`. */
void pixel_state_to_x86(const struct pixel_state *s, struct x86_regs *x);

/* A short human-readable name of register r by the convention ("R3/RBX",
 * "R16/CF", "R24"); never NULL. */
const char *pixel_reg_role(unsigned r);

#endif /* TCGL_PIXEL_STATE_H */
