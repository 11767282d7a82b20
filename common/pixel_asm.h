/* pixel_asm.h — Pixel CPU text assembler and disassembler.
 *
 * Syntax (one instruction per line, operands separated by commas):
 *     ADD R3, R1, R2        LDI R5, -3          LDHI R5, 0xbeef
 *     ADDI R1, R2, -4       SHLI R1, R2, 5      LD32 R1, [R2]
 *     ST32 [R2], R1         JNZ R4, loop        JUMP +3        HALT
 * Registers: R0..R31, or the guest-convention aliases RAX RCX RDX RBX RSP
 * RBP RSI RDI (R0..R7), CF PF AF ZF SF OF (R16..R21), RIP (R22), DF (R23).
 * Immediates: decimal or 0x hex, optionally signed.  Jump operands: a
 * signed offset relative to the next instruction (+3, -2, 0) or a label;
 * "name:" at the start of a line defines a label.  Comments start with
 * ';', '#' or "//".  The disassembler prints exactly what the assembler
 * reads (registers as Rn, jump offsets signed), so text round-trips.
 */
#ifndef TCGL_PIXEL_ASM_H
#define TCGL_PIXEL_ASM_H

#include <stddef.h>

#include "pixel_isa.h"

/* Text of one instruction ("ADD R3, R1, R2"); returns what snprintf
 * returns.  An invalid instruction prints as ".word 0xXXXXXXXX". */
int pixel_disasm_insn(struct pixel_insn i, char *buf, size_t len);

/* Whole program, one instruction per line ("\n"-terminated).  Returns the
 * length the text needs (excluding the NUL), like snprintf. */
size_t pixel_disasm(const struct pixel_insn *prog, size_t n, char *buf, size_t len);

/* Assembles `text` into out (capacity max).  Returns the instruction
 * count, or -1 with a message naming the line, the token and why. */
int pixel_asm(const char *text, struct pixel_insn *out, size_t max, char *err, size_t errlen);

#endif /* TCGL_PIXEL_ASM_H */
