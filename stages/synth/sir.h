/* sir.h — the synthesis IR: Pixel instructions over virtual registers.
 *
 * An IR instruction is a Pixel instruction whose register fields are 16-bit:
 * 0..31 are the Pixel registers of the guest-state convention (pixel_isa.h),
 * SIR_VREG0 and up are virtual registers that register allocation later maps
 * onto the scratch registers R24..R31.  Immediate operands live in `imm`
 * (the rs2 byte of RRU6/RRS8/RRU8 forms, the 16-bit field of RS16/RU16), so
 * `a`/`b` are always registers or unused.  Straight-line only.
 *
 * Pipeline (docs/synthesis.md): lower (x86 → IR) → [core legalization] →
 * constant folding → copy propagation → dead-code elimination → destination
 * coalescing → register allocation → encode (IR → struct pixel_insn).
 */
#ifndef TCGL_SYNTH_SIR_H
#define TCGL_SYNTH_SIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pixel_isa.h"
#include "x86_state.h"

#define SIR_VREG0 64
#define SIR_NONE  0xffff
#define SIR_MAX   2048

struct sir {
    uint8_t op;                 /* enum pixel_opcode */
    uint16_t rd, a, b;          /* registers (SIR_NONE where the form has none) */
    int32_t imm;                /* immediate (forms with one) */
};

struct sir_prog {
    struct sir v[SIR_MAX];
    size_t n;
    uint16_t nextv;             /* next free virtual register */
    bool overflow;              /* more than SIR_MAX instructions were emitted */
};

void sir_init(struct sir_prog *p);
/* Appends one instruction (sets overflow instead when full). */
void sir_emit(struct sir_prog *p, uint8_t op, uint16_t rd, uint16_t a, uint16_t b, int32_t imm);
uint16_t sir_newv(struct sir_prog *p);

/* Registers an instruction reads (up to 3: a, b, and rd when the opcode
 * reads it) and writes (rd for ALU/load ops, SIR_NONE otherwise). */
unsigned sir_reads(const struct sir *s, uint16_t out[3]);
uint16_t sir_writes(const struct sir *s);
bool sir_has_imm(uint8_t op);

/* Optimization passes (passes.c).  live_out: the Pixel registers live at
 * the end (bit r for register r < 32). */
void sir_fold_constants(struct sir_prog *p);
void sir_copy_propagate(struct sir_prog *p);
void sir_dce(struct sir_prog *p, uint32_t live_out);
void sir_coalesce(struct sir_prog *p, uint32_t live_out);
/* Allocates virtual registers onto R24..R31.  Returns 0, or -1 when more
 * than PIXEL_NSCRATCH are live at once (err says where). */
int sir_regalloc(struct sir_prog *p, char *err, size_t errlen);
/* Encodes an allocated program; returns the count or -1 (a virtual register
 * or an immediate out of range remains; err says which). */
int sir_encode(const struct sir_prog *p, struct pixel_insn *out, size_t max, char *err, size_t errlen);

/* Pixel registers live at the end of a block for an x86 live-out set:
 * the live GPRs and flags, and R22 (the next rip) always. */
uint32_t sir_live_mask(x86_locset live_out);

/* Rewrites every extension opcode into the seeds' 20-opcode core (the core
 * legalization table in legalize.c).  Returns 0, or -1 when some opcode has
 * no core expansion (err names it and why). */
int sir_legalize_core(struct sir_prog *p, char *err, size_t errlen);

#endif /* TCGL_SYNTH_SIR_H */
