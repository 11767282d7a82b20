/* vflags.h — which status flags a block leaves architecturally undefined,
 * per concrete input state, for the concrete tests.
 *
 * Derived from the x86 form table (x86_forms.h: flags written / always
 * undefined per semantic operation) by walking the block once.  Shifts and
 * rotates are the only operations whose definedness depends on the operand
 * (the count): with an immediate count the rule is applied exactly; with a
 * CL count it is applied per state from the input RCX when no earlier
 * instruction of the block writes RCX, and conservatively (every flag the
 * operation may write counts as undefined) otherwise.  A CL shift may also
 * leave every flag unchanged (count 0), so it never makes an earlier
 * undefined flag defined: conservative, never unsound.  A flag that is
 * undefined is not compared (the proof still requires 0 or 1 in Pixel).
 */
#ifndef TCGL_VERIFY_VFLAGS_H
#define TCGL_VERIFY_VFLAGS_H

#include <stddef.h>
#include <stdint.h>

#include "x86_decode.h"
#include "x86_state.h"

#define VFLAGS_MAX_DYN 16

struct vflags_dyn {
    uint8_t sem;        /* enum x86_sem: SHL, SHR, SAR, ROL, ROR */
    uint8_t width;      /* operand bits */
    uint8_t alive;      /* XF_* flags this shift may still leave undefined at block end */
};

struct vflags {
    uint8_t static_undef;   /* XF_* undefined whatever the input */
    unsigned ndyn;
    struct vflags_dyn dyn[VFLAGS_MAX_DYN];
};

/* Analyse a decoded block.  Unsupported forms make every flag undefined
 * (nothing about them is known; such a block is never proved anyway). */
void vflags_analyze(const struct x86_insn *insns, size_t n, struct vflags *vf);

/* XF_* mask of flags undefined at block end for input state `in`. */
uint8_t vflags_undefined(const struct vflags *vf, const struct x86_regs *in);

#endif /* TCGL_VERIFY_VFLAGS_H */
