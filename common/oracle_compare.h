/* oracle_compare.h — compare two executions of the same input state.
 *
 * Verify compares the Unicorn oracle, the native oracle and the Pixel
 * interpreter; the x86 co-simulation compares the model with the host.  All
 * of them need the same rule: the kinds must match; when both ran to the
 * end, every location in `live` must be equal bit for bit (GPRs, the status
 * flags — callers remove the flags an instruction leaves undefined — the
 * next rip and, with X86_LOC_MEM, every region byte).  The first difference
 * is described in words, naming the location and both values.
 */
#ifndef TCGL_ORACLE_COMPARE_H
#define TCGL_ORACLE_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "oracle_result.h"
#include "x86_state.h"

/* One execution: registers, memory (may be NULL when there is none) and result. */
struct oracle_exec {
    const struct x86_regs *regs;
    const struct x86_mem *mem;
    const struct oracle_result *res;
};

/* True when a and b agree on `live`.  Otherwise false, and `why` (when not
 * NULL) receives e.g. "rcx: 0x5 vs 0x7" or "CF: 1 vs 0" or "kind: divide
 * error (#DE) vs ok" or "memory at 0x200000000010: 0x12 vs 0x34".  Memory
 * is compared only when both describe the same regions. */
bool oracle_exec_agree(x86_locset live, const struct oracle_exec *a, const struct oracle_exec *b,
                       char *why, size_t whylen);

/* "rax=0x… rcx=0x… … rip=0x… rflags=0x…" for messages. Returns buf. */
const char *oracle_format_regs(const struct x86_regs *r, char *buf, size_t len);

#endif /* TCGL_ORACLE_COMPARE_H */
