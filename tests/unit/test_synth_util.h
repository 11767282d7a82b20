/* test_synth_util.h — helpers shared by the synth tests: Zydis-encoded
 * random instances of a supported form (as test_x86_cosim.c draws them),
 * hex parsing, and a check that microcode is proved for a block. */
#ifndef TCGL_TEST_SYNTH_UTIL_H
#define TCGL_TEST_SYNTH_UTIL_H

#include <stdio.h>
#include <string.h>
#include <Zydis/Zydis.h>

#include "x86_decode.h"
#include "x86_forms.h"

static inline uint64_t tsu_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline unsigned tsu_below(uint64_t *s, unsigned n) { return (unsigned)(tsu_next(s) % n); }

static inline ZydisRegister tsu_reg(uint64_t *s, unsigned bits)
{
    static const ZydisRegister r8[] = {
        ZYDIS_REGISTER_AL, ZYDIS_REGISTER_CL, ZYDIS_REGISTER_DL, ZYDIS_REGISTER_BL,
        ZYDIS_REGISTER_AH, ZYDIS_REGISTER_CH, ZYDIS_REGISTER_DH, ZYDIS_REGISTER_BH,
        ZYDIS_REGISTER_SPL, ZYDIS_REGISTER_BPL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL,
        ZYDIS_REGISTER_R8B, ZYDIS_REGISTER_R9B, ZYDIS_REGISTER_R12B, ZYDIS_REGISTER_R15B,
    };
    if (bits == 8)
        return r8[tsu_below(s, sizeof r8 / sizeof r8[0])];
    ZydisRegister first = bits == 16 ? ZYDIS_REGISTER_AX : bits == 32 ? ZYDIS_REGISTER_EAX : ZYDIS_REGISTER_RAX;
    return (ZydisRegister)(first + tsu_below(s, 16));
}

static inline int64_t tsu_imm(uint64_t *s, const struct x86_form *f, unsigned w)
{
    switch (f->sem) {
    case X86_SEM_SHL: case X86_SEM_SHR: case X86_SEM_SAR: case X86_SEM_ROL: case X86_SEM_ROR: {
        static const int64_t counts[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255 };
        return counts[tsu_below(s, sizeof counts / sizeof counts[0])];
    }
    case X86_SEM_BT:
        return (int64_t)tsu_below(s, 256);
    default:
        break;
    }
    uint64_t r = tsu_next(s);
    if (w == 8)
        return (int8_t)r;
    if (w == 16)
        return tsu_below(s, 2) ? (int8_t)r : (int16_t)r;
    if (f->sem == X86_SEM_MOV && w == 64 && f->op[0] == X86_OK_R64 && tsu_below(s, 2))
        return (int64_t)r;
    return tsu_below(s, 2) ? (int8_t)r : (int32_t)r;
}

static inline bool tsu_encode_try(unsigned fi, uint64_t *s, uint8_t *code, size_t *len)
{
    const struct x86_form *f = &x86_forms[fi];
    ZydisEncoderRequest req;
    memset(&req, 0, sizeof req);
    req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req.mnemonic = (ZydisMnemonic)f->zydis_mnemonic;
    req.operand_count = f->nops;
    unsigned w = x86_opkind_bits((enum x86_opkind)f->op[0]);
    if (!w)
        w = 64;
    for (unsigned k = 0; k < f->nops; k++) {
        ZydisEncoderOperand *op = &req.operands[k];
        enum x86_opkind kind = (enum x86_opkind)f->op[k];
        if (x86_opkind_is_reg(kind)) {
            op->type = ZYDIS_OPERAND_TYPE_REGISTER;
            op->reg.value = tsu_reg(s, x86_opkind_bits(kind));
        } else if (x86_opkind_is_mem(kind)) {
            op->type = ZYDIS_OPERAND_TYPE_MEMORY;
            static const ZyanU16 lea_sizes[] = { 0, 2, 4, 8 };
            op->mem.size = kind == X86_OK_MA ? lea_sizes[tsu_below(s, 4)] : (ZyanU16)(x86_opkind_bits(kind) / 8);
            if (tsu_below(s, 6) == 0) {
                op->mem.base = ZYDIS_REGISTER_RIP;
                op->mem.displacement = (int64_t)tsu_below(s, 4096) - 2048;
            } else {
                op->mem.base = tsu_reg(s, 64);
                if (tsu_below(s, 2)) {
                    op->mem.index = tsu_reg(s, 64);
                    op->mem.scale = (ZyanU8)(1u << tsu_below(s, 4));
                }
                unsigned d = tsu_below(s, 3);
                op->mem.displacement = d == 0 ? 0 : d == 1 ? (int8_t)tsu_next(s) : (int32_t)tsu_next(s);
            }
        } else if (kind == X86_OK_I) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.s = tsu_imm(s, f, w);
        } else if (kind == X86_OK_ONE) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.u = 1;
        } else if (kind == X86_OK_CL) {
            op->type = ZYDIS_OPERAND_TYPE_REGISTER;
            op->reg.value = ZYDIS_REGISTER_CL;
        } else if (kind == X86_OK_REL) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.s = tsu_below(s, 2) ? (int8_t)tsu_next(s) : (int32_t)(tsu_next(s) & 0xffffff);
        }
    }
    ZyanUSize n = ZYDIS_MAX_INSTRUCTION_LENGTH;
    if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, code, &n)))
        return false;
    *len = n;
    return true;
}

/* Appends one random instance of form fi to code (at *len); false when none found. */
static inline bool tsu_encode_form(unsigned fi, uint64_t *s, uint8_t *code, size_t *len)
{
    char err[256];
    struct x86_insn insn;
    for (int attempt = 0; attempt < 500; attempt++) {
        size_t n;
        if (!tsu_encode_try(fi, s, code + *len, &n))
            continue;
        if (x86_decode_insn(code + *len, n, 0, 64, &insn, err, sizeof err) != 0)
            continue;
        if (insn.form == fi) {
            *len += n;
            return true;
        }
    }
    return false;
}

static inline size_t tsu_hex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') { p++; continue; }
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

#endif
