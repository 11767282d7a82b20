/* pixel_state.c — the x86 <-> Pixel guest-state convention (pixel_state.h). */
#include "pixel_state.h"

#include <string.h>

void pixel_state_from_x86(const struct x86_regs *x, struct x86_mem *mem, struct pixel_state *s)
{
    memset(s, 0, sizeof *s);
    for (unsigned i = 0; i < X86_NGPR; i++)
        s->r[PIXEL_REG_GPR(i)] = x->gpr[i];
    for (unsigned f = 0; f < X86_NFLAG; f++)
        s->r[PIXEL_REG_FLAG(f)] = (x->rflags >> x86_flag_rflags_bit((enum x86_flag)f)) & 1;
    s->r[PIXEL_REG_RIP] = x->rip;
    s->r[PIXEL_REG_DF] = (x->rflags >> X86_RFLAGS_DF) & 1;
    s->mem = mem;
}

void pixel_state_to_x86(const struct pixel_state *s, struct x86_regs *x)
{
    for (unsigned i = 0; i < X86_NGPR; i++)
        x->gpr[i] = s->r[PIXEL_REG_GPR(i)];
    uint64_t fl = x->rflags & ~(uint64_t)X86_RFLAGS_STATUS_MASK;
    for (unsigned f = 0; f < X86_NFLAG; f++)
        if (s->r[PIXEL_REG_FLAG(f)])
            fl |= (uint64_t)1 << x86_flag_rflags_bit((enum x86_flag)f);
    x->rflags = fl;
    x->rip = s->r[PIXEL_REG_RIP];
}

const char *pixel_reg_role(unsigned r)
{
    static const char *const names[PIXEL_NREGS] = {
        "R0/RAX", "R1/RCX", "R2/RDX", "R3/RBX", "R4/RSP", "R5/RBP", "R6/RSI", "R7/RDI",
        "R8/R8", "R9/R9", "R10/R10", "R11/R11", "R12/R12", "R13/R13", "R14/R14", "R15/R15",
        "R16/CF", "R17/PF", "R18/AF", "R19/ZF", "R20/SF", "R21/OF", "R22/RIP", "R23/DF",
        "R24", "R25", "R26", "R27", "R28", "R29", "R30", "R31",
    };
    return r < PIXEL_NREGS ? names[r] : "R?";
}
