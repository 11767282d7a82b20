/* lower.h — baseline lowering of a decoded x86 block into the synthesis IR.
 *
 * Rule-based and table-driven: ONE table (lower.c, `lowerers[]`) indexed by
 * the x86 semantic operation of x86_forms.h gives every form its lowering;
 * operand access (register widths, partial writes, the 32-bit zero-extension
 * rule, memory operands, immediates) and flag computation are shared
 * helpers.  Each x86 instruction is one sub-pattern: its values live in
 * virtual registers and its results are committed to the convention
 * registers (R0..R21), so the concatenation of the sub-patterns is the
 * block's microcode; R22 (rip) is updated once at the end of the block (or
 * by the terminator).  The optimization passes of sir.h then clean up the
 * composed sequence.
 */
#ifndef TCGL_SYNTH_LOWER_H
#define TCGL_SYNTH_LOWER_H

#include <stddef.h>

#include "sir.h"
#include "x86_decode.h"

/* Lowers insns[0..n) (64-bit, all supported) into p (initialised by the
 * caller).  Returns 0, or -1 with err naming the instruction. */
int lower_block(const struct x86_insn *insns, size_t n, struct sir_prog *p, char *err, size_t errlen);

#endif /* TCGL_SYNTH_LOWER_H */
