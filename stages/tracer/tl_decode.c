/* tl_decode.c — CPU mode resolution and Zydis disassembly for the tracer. */
#include "tl_decode.h"

#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

#define CR0_PE   (1ULL << 0)
#define EFER_LMA (1ULL << 10)

int tl_mode_candidates(const struct tl_mode_hint *h, uint64_t pc, int out[3])
{
    int first;
    if (h->has_regs) {
        if (!(h->cr0 & CR0_PE)) first = 16;
        else if (h->efer & EFER_LMA) first = 64;
        else first = 32;
    } else {
        first = pc > 0xffffffffULL ? 64 : 32;
    }
    /* Then the neighbours: long mode may be compat (32); protected may be 16-bit code segments. */
    static const int order[3][3] = { {16, 32, 64}, {32, 16, 64}, {64, 32, 16} };
    const int *o = order[first == 16 ? 0 : first == 32 ? 1 : 2];
    memcpy(out, o, 3 * sizeof *out);
    return 3;
}

static bool zydis_mode(int mode, ZydisMachineMode *mm, ZydisStackWidth *sw)
{
    switch (mode) {
    case 64: *mm = ZYDIS_MACHINE_MODE_LONG_64; *sw = ZYDIS_STACK_WIDTH_64; return true;
    case 32: *mm = ZYDIS_MACHINE_MODE_LEGACY_32; *sw = ZYDIS_STACK_WIDTH_32; return true;
    case 16: *mm = ZYDIS_MACHINE_MODE_LEGACY_16; *sw = ZYDIS_STACK_WIDTH_16; return true;
    default: return false;
    }
}

static bool lengths_agree(int mode, const uint8_t *code, const uint8_t *lens, size_t ninsns)
{
    ZydisMachineMode mm;
    ZydisStackWidth sw;
    ZydisDecoder dec;
    if (!zydis_mode(mode, &mm, &sw) || ZYAN_FAILED(ZydisDecoderInit(&dec, mm, sw))) return false;
    size_t off = 0;
    for (size_t i = 0; i < ninsns; i++) {
        ZydisDecodedInstruction insn;
        if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, code + off, lens[i], &insn)) ||
            insn.length != lens[i])
            return false;
        off += lens[i];
    }
    return true;
}

int tl_mode_resolve(const struct tl_mode_hint *h, uint64_t pc, const uint8_t *code,
                    const uint8_t *lens, size_t ninsns, bool *confirmed)
{
    int cand[3];
    tl_mode_candidates(h, pc, cand);
    for (int i = 0; i < 3; i++) {
        if (lengths_agree(cand[i], code, lens, ninsns)) {
            *confirmed = true;
            return cand[i];
        }
    }
    *confirmed = false;
    return cand[0];
}

size_t tl_disasm(int mode, uint64_t pc, const uint8_t *code, size_t len, char *out, size_t outlen)
{
    ZydisMachineMode mm;
    ZydisStackWidth sw;
    ZydisDisassembledInstruction d;
    if (outlen == 0) return 0;
    if (!zydis_mode(mode, &mm, &sw) || ZYAN_FAILED(ZydisDisassembleIntel(mm, pc, code, len, &d))) {
        snprintf(out, outlen, "(bad)");
        return 0;
    }
    snprintf(out, outlen < TL_DISASM_MAX ? outlen : TL_DISASM_MAX, "%s", d.text);
    return d.info.length;
}

int tl_cpl(const struct tl_mode_hint *h)
{
    if (!h->has_regs) return -1;
    if (!(h->cr0 & CR0_PE)) return 0;
    return (int)(h->cs & 3);
}
