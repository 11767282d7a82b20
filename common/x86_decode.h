/* x86_decode.h — decode guest x86 bytes (Zydis) into a normalized
 * instruction description and its supported form.
 *
 * The machine mode is always the caller's (the block's recorded cpu_mode):
 * 32-bit code is never decoded as 64-bit.  Decoding succeeds for any valid
 * instruction; whether the model supports it is `insn.form`
 * (X86_FORM_UNSUPPORTED otherwise, with `insn.unsupported` saying why and
 * `insn.mnemonic` naming it).
 */
#ifndef TCGL_X86_DECODE_H
#define TCGL_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86_forms.h"

#define X86_INSN_MAX_LEN 15
#define X86_INSN_MAX_OPS 3

/* One visible operand, normalized. */
struct x86_operand {
    uint8_t kind;        /* enum x86_opkind */
    uint8_t bits;        /* operand width: 8/16/32/64 (immediates: the instruction's operand width) */
    /* registers (kinds R8..R64 and CL) */
    uint8_t reg;         /* enum x86_gpr of the enclosing 64-bit register */
    bool high8;          /* AH, CH, DH, BH: bits 8..15 of reg */
    /* memory (kinds M8..M64, MA): address = base + index*scale + disp, or next rip + disp */
    int8_t base;         /* enum x86_gpr, or -1 */
    int8_t index;        /* enum x86_gpr, or -1 */
    uint8_t scale;       /* 1, 2, 4, 8 (1 when no index) */
    bool rip_relative;
    int64_t disp;
    /* immediates (I, ONE) and relative targets (REL: the displacement) */
    uint64_t imm;        /* sign- or zero-extended by the encoding to 64 bits */
};

struct x86_insn {
    uint64_t pc;
    uint8_t len;
    uint8_t bytes[X86_INSN_MAX_LEN];
    uint8_t mode;        /* 16, 32, 64 */
    int zydis_mnemonic;  /* ZydisMnemonic */
    char mnemonic[24];   /* "add", "vpaddd", ... */
    char text[96];       /* Intel syntax, for messages */
    uint8_t opwidth;     /* the instruction's operand width in bits */
    uint8_t nops;
    struct x86_operand op[X86_INSN_MAX_OPS];
    unsigned form;       /* enum x86_form_id, or X86_FORM_UNSUPPORTED */
    char unsupported[160];/* why, when form == X86_FORM_UNSUPPORTED */
};

/* Decodes one instruction at code[0..len) located at guest address pc in
 * mode (16, 32 or 64).  Returns 0, or -1 for bytes that are not a valid
 * instruction in that mode (err says what and where). */
int x86_decode_insn(const uint8_t *code, size_t len, uint64_t pc, unsigned mode,
                    struct x86_insn *out, char *err, size_t errlen);

/* Decodes a whole block: instructions until `len` bytes are used up.  Fails
 * (-1, err) on invalid bytes, on a block that ends inside an instruction, or
 * on more than `max` instructions.  Unsupported instructions are not an
 * error here: check each insn's form (or x86_block_first_unsupported). */
int x86_decode_block(const uint8_t *code, size_t len, uint64_t pc, unsigned mode,
                     struct x86_insn *out, size_t max, size_t *n, char *err, size_t errlen);

/* Index of the first unsupported instruction of a decoded block, or -1. */
int x86_block_first_unsupported(const struct x86_insn *insns, size_t n);

#endif /* TCGL_X86_DECODE_H */
