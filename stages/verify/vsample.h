/* vsample.h — an input state from a state the tracer sampled.
 *
 * A sample (SYNTH_JOB.samples, canonical registers) is the registers at the
 * block's entry and the memory accesses of that execution, in order.  The
 * input memory is rebuilt from them: every 4 KiB page an access touches
 * becomes part of a region (adjacent pages merge; at most
 * X86_MEM_MAX_REGIONS regions of at most X86_MEM_MAX_REGION_SIZE bytes),
 * page bytes start as zero and every byte whose first access is a load gets
 * the loaded value (a byte first stored to had an unknown value: zero).
 * RFLAGS keeps its status bits and DF only (plus the reserved bit 1), so
 * that trap and interrupt bits of a guest state cannot disturb the oracles.
 * The code goes at the sample's rip.
 */
#ifndef TCGL_VERIFY_VSAMPLE_H
#define TCGL_VERIFY_VSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "x86_state.h"

/* Owns the region bytes of one rebuilt sample. */
struct vsample_state {
    struct x86_regs regs;
    struct x86_mem mem;
    uint8_t *bytes;          /* all regions' data, one allocation */
};

/* Builds the state.  code_len: bytes of the block (their pages must not
 * overlap a data region).  Returns 0, or -1 with `why` (too many regions,
 * region too large, data overlapping the code, out of memory). */
int vsample_build(const struct x86_regs *pre, const struct x86_mem_access *acc, size_t nacc,
                  size_t code_len, struct vsample_state *out, char *why, size_t whylen);
void vsample_free(struct vsample_state *s);

#endif /* TCGL_VERIFY_VSAMPLE_H */
