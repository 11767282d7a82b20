/* vflags.c — per-state undefined flags of a block (see vflags.h). */
#include "vflags.h"

#include <stdbool.h>

static bool is_shift(unsigned sem)
{
    return sem == X86_SEM_SHL || sem == X86_SEM_SHR || sem == X86_SEM_SAR;
}

static bool is_rotate(unsigned sem)
{
    return sem == X86_SEM_ROL || sem == X86_SEM_ROR;
}

/* Flags a shift/rotate by (masked) count c leaves undefined; *written gets
 * the flags it writes (0 for a zero count: nothing changes). */
static uint8_t shift_undef(unsigned sem, unsigned width, unsigned c, uint8_t *written)
{
    if (c == 0) {
        *written = 0;
        return 0;
    }
    if (is_shift(sem)) {
        *written = XF_ALL;
        uint8_t u = XF_A;
        if (c != 1) u |= XF_O;
        if (c >= width) u |= XF_C;
        return u;
    }
    *written = XF_C | XF_O;
    return c != 1 ? XF_O : 0;
}

static unsigned count_mask(unsigned width)
{
    return width == 64 ? 63u : 31u;
}

void vflags_analyze(const struct x86_insn *insns, size_t n, struct vflags *vf)
{
    vf->static_undef = 0;
    vf->ndyn = 0;
    bool rcx_written = false;
    for (size_t i = 0; i < n; i++) {
        const struct x86_insn *x = &insns[i];
        if (x->form == X86_FORM_UNSUPPORTED || x->form >= X86_FORM_COUNT) {
            vf->static_undef = XF_ALL;
            for (unsigned k = 0; k < vf->ndyn; k++) vf->dyn[k].alive = 0;
            rcx_written = true;
            continue;
        }
        unsigned sem = x86_forms[x->form].sem;
        uint8_t written = x86_sems[sem].flags_written;
        uint8_t undef = x86_sems[sem].flags_undefined;
        bool dynamic = false;
        if ((is_shift(sem) || is_rotate(sem)) && x->nops >= 2) {
            unsigned width = x->op[0].bits;
            const struct x86_operand *cnt = &x->op[1];
            if (cnt->kind == X86_OK_I || cnt->kind == X86_OK_ONE) {
                unsigned c = (unsigned)((cnt->kind == X86_OK_ONE ? 1u : cnt->imm) & count_mask(width));
                undef = shift_undef(sem, width, c, &written);
            } else if (!rcx_written && vf->ndyn < VFLAGS_MAX_DYN) {
                vf->dyn[vf->ndyn++] = (struct vflags_dyn){
                    .sem = (uint8_t)sem, .width = (uint8_t)width,
                    .alive = (uint8_t)(is_shift(sem) ? XF_ALL : (XF_C | XF_O)) };
                dynamic = true;
            } else {
                /* unknown count: whatever it may write may be undefined */
                vf->static_undef |= is_shift(sem) ? XF_ALL : (XF_C | XF_O);
                dynamic = true;
            }
        }
        if (!dynamic) {
            vf->static_undef = (uint8_t)((vf->static_undef & ~written) | undef);
            for (unsigned k = 0; k < vf->ndyn; k++) vf->dyn[k].alive &= (uint8_t)~written;
        }
        /* Does this instruction write RCX?  Any register operand 0 that is
         * RCX, or implicit writers (mul/div/cwd write rdx/rax only). */
        if (x->nops >= 1 && x86_opkind_is_reg(x->op[0].kind) && x->op[0].reg == X86_RCX)
            rcx_written = true;
        if (sem == X86_SEM_XCHG && x->nops >= 2 && x86_opkind_is_reg(x->op[1].kind) &&
            x->op[1].reg == X86_RCX)
            rcx_written = true;
    }
}

uint8_t vflags_undefined(const struct vflags *vf, const struct x86_regs *in)
{
    uint8_t u = vf->static_undef;
    for (unsigned k = 0; k < vf->ndyn; k++) {
        const struct vflags_dyn *d = &vf->dyn[k];
        if (!d->alive) continue;
        uint8_t written;
        unsigned c = (unsigned)(in->gpr[X86_RCX] & count_mask(d->width));
        u |= shift_undef(d->sem, d->width, c, &written) & d->alive;
    }
    return u;
}
