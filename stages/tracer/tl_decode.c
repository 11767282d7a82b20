/* tl_decode.c — CPU mode resolution and Zydis disassembly for the tracer. */
#include "tl_decode.h"

#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "x86_zydis_class.h"

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

/* The decoders (and tl_insn_decode's formatter) are set up once per
 * thread: ZydisDisassembleIntel initializes both at every call, which cost
 * a fifth of the tracer's disassembly time (it runs for every new TB).
 * NULL for a mode that is not 16, 32 or 64. */
static const ZydisDecoder *cached_decoder(int mode)
{
    static _Thread_local ZydisDecoder dec[3];
    static _Thread_local bool ready[3];
    ZydisMachineMode mm;
    ZydisStackWidth sw;
    if (!zydis_mode(mode, &mm, &sw)) return NULL;
    int k = mode == 16 ? 0 : mode == 32 ? 1 : 2;
    if (!ready[k]) {
        if (ZYAN_FAILED(ZydisDecoderInit(&dec[k], mm, sw))) return NULL;
        ready[k] = true;
    }
    return &dec[k];
}

static bool lengths_agree(int mode, const uint8_t *code, const uint8_t *lens, size_t ninsns)
{
    const ZydisDecoder *dec = cached_decoder(mode);
    if (!dec) return false;
    size_t off = 0;
    for (size_t i = 0; i < ninsns; i++) {
        ZydisDecodedInstruction insn;
        if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(dec, NULL, code + off, lens[i], &insn)) ||
            insn.length != lens[i])
            return false;
        off += lens[i];
    }
    return true;
}

static unsigned mode_bit(int mode) { return mode == 16 ? 1u : mode == 32 ? 2u : 4u; }

unsigned tl_modes_agreeing(const uint8_t *code, const uint8_t *lens, size_t ninsns)
{
    unsigned m = 0;
    static const int modes[3] = {16, 32, 64};
    for (int i = 0; i < 3; i++)
        if (lengths_agree(modes[i], code, lens, ninsns)) m |= mode_bit(modes[i]);
    return m;
}

void tl_mode_memory_init(struct tl_mode_memory *m)
{
    memset(m, 0, sizeof *m);
    m->by_cs[0x23 >> 3] = 32;     /* Linux __USER32_CS */
}

int tl_mode_resolve(const struct tl_mode_hint *h, uint64_t pc, const uint8_t *code,
                    const uint8_t *lens, size_t ninsns, struct tl_mode_memory *mem, bool *confirmed)
{
    int cand[3];
    unsigned agree;
    tl_mode_candidates(h, pc, cand);
    if (mem && h->has_regs && (h->cr0 & CR0_PE) && (h->efer & EFER_LMA)) {
        /* Long mode: 64-bit or compatibility-mode code.  The 16-bit decode
         * is made only when neither fits (a 16-bit code segment): one decode
         * per instruction less on every TB of a 64-bit guest. */
        uint8_t *seen = &mem->by_cs[(h->cs >> 3) & 8191];
        bool a64 = lengths_agree(64, code, lens, ninsns);
        /* Code that fits 64-bit under a selector known as 64-bit is 64-bit
         * whether or not it also fits 32 (the answer below for both), so
         * the 32-bit decode is skipped: most TBs of a 64-bit guest. */
        if (a64 && *seen == 64) {
            *confirmed = true;
            return 64;
        }
        bool a32 = lengths_agree(32, code, lens, ninsns);
        *confirmed = a64 || a32;
        if (a64 && !a32) return *seen = 64;
        if (a32 && !a64) return *seen = 32;
        if (a64 && a32) return *seen ? *seen : 64;
        agree = lengths_agree(16, code, lens, ninsns) ? mode_bit(16) : 0;
    } else {
        agree = tl_modes_agreeing(code, lens, ninsns);
    }
    for (int i = 0; i < 3; i++) {
        if (agree & mode_bit(cand[i])) {
            *confirmed = true;
            return cand[i];
        }
    }
    *confirmed = false;
    return cand[0];
}



int tl_cpl(const struct tl_mode_hint *h)
{
    if (!h->has_regs) return -1;
    if (!(h->cr0 & CR0_PE)) return 0;
    return (int)(h->cs & 3);
}

static uint32_t reg_write_bits(ZydisRegister r)
{
    if (r == ZYDIS_REGISTER_NONE) return 0;
    switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_GPR8:
    case ZYDIS_REGCLASS_GPR16:
    case ZYDIS_REGCLASS_GPR32:
    case ZYDIS_REGCLASS_GPR64: {
        ZydisRegister big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
        ZyanI8 id = ZydisRegisterGetId(big);
        return id >= 0 && id < 16 ? 1u << id : TL_WRITES_ALL;
    }
    case ZYDIS_REGCLASS_FLAGS: return 1u << 17;
    case ZYDIS_REGCLASS_IP: return 1u << 16;
    /* Vector, x87, mask and bound registers are not part of struct x86_regs. */
    case ZYDIS_REGCLASS_X87:
    case ZYDIS_REGCLASS_MMX:
    case ZYDIS_REGCLASS_XMM:
    case ZYDIS_REGCLASS_YMM:
    case ZYDIS_REGCLASS_ZMM:
    case ZYDIS_REGCLASS_TMM:
    case ZYDIS_REGCLASS_MASK:
    case ZYDIS_REGCLASS_BOUND:
        return 0;
    default:          /* segment, control, debug, table registers, ... */
        return TL_WRITES_ALL;
    }
}


/* *lazy_only: Zydis lists the rflags bits the instruction changes and each
 * is one QEMU keeps outside env->eflags while TCG code runs (CF PF AF ZF SF
 * OF, DF); false when it may change another or Zydis says nothing. */
static uint32_t writes_of(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops, bool *lazy_only)
{
    /* (SYSRET includes rsm: it restores everything from SMRAM) */
    if (x86_zydis_category_is_system(insn->meta.category)) return TL_WRITES_ALL;
    /* Far transfers and iret load CS (and SS), and in protected mode may
     * clear data segments, whose bases are words 18 and 19. */
    if (insn->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR || insn->mnemonic == ZYDIS_MNEMONIC_IRET ||
        insn->mnemonic == ZYDIS_MNEMONIC_IRETD || insn->mnemonic == ZYDIS_MNEMONIC_IRETQ)
        return TL_WRITES_ALL;
    uint32_t w = 1u << 16;
    ZydisAccessedFlagsMask changed = insn->cpu_flags ? insn->cpu_flags->modified | insn->cpu_flags->set_0 |
                                             insn->cpu_flags->set_1 | insn->cpu_flags->undefined : 0;
    if (changed) w |= 1u << 17;
    *lazy_only = changed && !(changed & ~(ZydisAccessedFlagsMask)(ZYDIS_CPUFLAG_CF | ZYDIS_CPUFLAG_PF | ZYDIS_CPUFLAG_AF | ZYDIS_CPUFLAG_ZF |
                                              ZYDIS_CPUFLAG_SF | ZYDIS_CPUFLAG_OF | ZYDIS_CPUFLAG_DF));
    for (ZyanU8 i = 0; i < insn->operand_count; i++) {
        const ZydisDecodedOperand *op = &ops[i];
        if (op->type == ZYDIS_OPERAND_TYPE_REGISTER && (op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
            w |= reg_write_bits(op->reg.value);
        /* Push/pop-style and string operands update their base/index register. */
        if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
            if (op->mem.base != ZYDIS_REGISTER_NONE && op->mem.base != ZYDIS_REGISTER_RIP)
                w |= reg_write_bits(op->mem.base);
            if (op->mem.index != ZYDIS_REGISTER_NONE) w |= reg_write_bits(op->mem.index);
        }
    }
    return w & TL_WRITES_ALL;
}

static bool may_access_memory(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops)
{
    switch (insn->meta.category) {
    case ZYDIS_CATEGORY_BINARY: case ZYDIS_CATEGORY_LOGICAL: case ZYDIS_CATEGORY_SHIFT:
    case ZYDIS_CATEGORY_ROTATE: case ZYDIS_CATEGORY_BITBYTE: case ZYDIS_CATEGORY_CMOV:
    case ZYDIS_CATEGORY_SETCC: case ZYDIS_CATEGORY_COND_BR: case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_DATAXFER: case ZYDIS_CATEGORY_CONVERT: case ZYDIS_CATEGORY_MISC:
    case ZYDIS_CATEGORY_FLAGOP: case ZYDIS_CATEGORY_NOP: case ZYDIS_CATEGORY_WIDENOP:
    case ZYDIS_CATEGORY_SEMAPHORE: case ZYDIS_CATEGORY_DECIMAL: case ZYDIS_CATEGORY_BMI1:
    case ZYDIS_CATEGORY_BMI2: case ZYDIS_CATEGORY_LZCNT: case ZYDIS_CATEGORY_ADOX_ADCX:
    case ZYDIS_CATEGORY_SSE: case ZYDIS_CATEGORY_AVX: case ZYDIS_CATEGORY_AVX2:
    case ZYDIS_CATEGORY_LOGICAL_FP: case ZYDIS_CATEGORY_MMX: case ZYDIS_CATEGORY_BLEND:
    case ZYDIS_CATEGORY_BROADCAST:
        break;
    default:
        return true;
    }
    if (insn->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) return true;
    for (ZyanU8 i = 0; i < insn->operand_count; i++) {
        const ZydisDecodedOperand *op = &ops[i];
        if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.type != ZYDIS_MEMOP_TYPE_AGEN) return true;
        if (op->type == ZYDIS_OPERAND_TYPE_POINTER) return true;
        if (op->type == ZYDIS_OPERAND_TYPE_REGISTER && (op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
            ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_SEGMENT)
            return true;
    }
    return false;
}

size_t tl_insn_decode(int mode, uint64_t pc, const uint8_t *code, size_t len, char *disasm, size_t disasm_len,
                      struct tl_insn_info *info)
{
    static _Thread_local ZydisFormatter fmt;
    static _Thread_local bool fmt_ready;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    char text[TL_DISASM_MAX];
    bool want_text = disasm && disasm_len;
    if (disasm_len > TL_DISASM_MAX) disasm_len = TL_DISASM_MAX;
    if (want_text && !fmt_ready) fmt_ready = ZYAN_SUCCESS(ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL));
    const ZydisDecoder *dec = cached_decoder(mode);
    bool ok = dec && ZYAN_SUCCESS(ZydisDecoderDecodeFull(dec, code, len, &insn, ops));
    if (ok && want_text)
        ok = fmt_ready && ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt, &insn, ops, insn.operand_count_visible,
                                                                       text, sizeof text, pc, NULL));
    if (!ok) {
        if (want_text) snprintf(disasm, disasm_len, "(bad)");
        if (info)
            *info = (struct tl_insn_info){ .length = 0, .may_mem = true, .writes = TL_WRITES_ALL,
                                           .reread = TL_WRITES_ALL & ~(1u << 16) };
        return 0;
    }
    if (want_text) {
        size_t n = strnlen(text, sizeof text - 1);
        if (n >= disasm_len) n = disasm_len - 1;
        memcpy(disasm, text, n);
        disasm[n] = 0;
    }
    if (info) {
        bool lazy_only = false;
        info->length = insn.length;
        info->may_mem = may_access_memory(&insn, ops);
        info->writes = writes_of(&insn, ops, &lazy_only);
        /* reread: not rip (the next instruction's address), and not rflags
         * when only flags QEMU keeps outside env->eflags change */
        info->reread = info->writes & ~(1u << 16);
        if (info->writes != TL_WRITES_ALL && lazy_only) info->reread &= ~(1u << 17);
    }
    return insn.length;
}

size_t tl_disasm(int mode, uint64_t pc, const uint8_t *code, size_t len, char *out, size_t outlen)
{
    return tl_insn_decode(mode, pc, code, len, out, outlen, NULL);
}

bool tl_insn_may_access_memory(int mode, const uint8_t *code, size_t len)
{
    struct tl_insn_info info;
    tl_insn_decode(mode, 0, code, len, NULL, 0, &info);
    return info.may_mem;
}

uint32_t tl_insn_writes(int mode, const uint8_t *code, size_t len)
{
    struct tl_insn_info info;
    tl_insn_decode(mode, 0, code, len, NULL, 0, &info);
    return info.writes;
}

uint32_t tl_insn_reread(int mode, const uint8_t *code, size_t len)
{
    struct tl_insn_info info;
    tl_insn_decode(mode, 0, code, len, NULL, 0, &info);
    return info.reread;
}
