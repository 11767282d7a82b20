/* insn_info.c — Zydis-backed facts about one x86 instruction (see insn_info.h). */
#include "insn_info.h"

#include <string.h>

#include <Zydis/Zydis.h>

#include "x86_zydis_class.h"

/* Rules the decoder's generic data does not give us. */
enum insn_rule {
    RULE_NONE,
    RULE_COUNT_FLAGS,   /* shift/rotate: flags untouched when the masked count is 0 */
    RULE_ZERO_IDIOM,    /* op r,r does not depend on r */
};
enum insn_flow_override { FLOW_KEEP = 0xff };

/* The one table of instruction facts of our own.  Flag reads/writes/undefined
 * come from Zydis' per-instruction flag table (ZydisAccessedFlags), register
 * reads/writes from its operand actions; this table adds what they lack:
 * which instructions are "system" (non-deterministic, privileged or leaving
 * the guest's control: synthesis cannot handle them), which stop a block,
 * and the two liveness rules above.
 *   X(zydis mnemonic suffix, extra kind bits, flow override, rule) */
#define INSN_SPECIAL_TABLE(X) \
    X(CPUID,   INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(RDTSC,   INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(RDTSCP,  INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(RDPMC,   INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(RDMSR,   INSN_K_SYSTEM | INSN_K_PRIV, FLOW_KEEP, RULE_NONE) \
    X(WRMSR,   INSN_K_SYSTEM | INSN_K_PRIV, FLOW_KEEP, RULE_NONE) \
    X(RDRAND,  INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(RDSEED,  INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(RDPID,   INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(XGETBV,  INSN_K_SYSTEM, FLOW_KEEP,     RULE_NONE) \
    X(CLI,     INSN_K_SYSTEM | INSN_K_PRIV, FLOW_KEEP, RULE_NONE) \
    X(STI,     INSN_K_SYSTEM | INSN_K_PRIV, FLOW_KEEP, RULE_NONE) \
    X(HLT,     INSN_K_SYSTEM | INSN_K_PRIV, INSN_FLOW_SYS, RULE_NONE) \
    X(IRET,    INSN_K_SYSTEM, INSN_FLOW_SYS, RULE_NONE) \
    X(IRETD,   INSN_K_SYSTEM, INSN_FLOW_SYS, RULE_NONE) \
    X(IRETQ,   INSN_K_SYSTEM, INSN_FLOW_SYS, RULE_NONE) \
    X(UD0,     INSN_K_SYSTEM, INSN_FLOW_SYS, RULE_NONE) \
    X(UD1,     INSN_K_SYSTEM, INSN_FLOW_SYS, RULE_NONE) \
    X(UD2,     INSN_K_SYSTEM, INSN_FLOW_SYS, RULE_NONE) \
    X(SHL,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(SHR,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(SAR,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(ROL,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(ROR,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(RCL,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(RCR,     0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(SHLD,    0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(SHRD,    0,             FLOW_KEEP,     RULE_COUNT_FLAGS) \
    X(XOR,     0,             FLOW_KEEP,     RULE_ZERO_IDIOM) \
    X(SUB,     0,             FLOW_KEEP,     RULE_ZERO_IDIOM) \
    X(SBB,     0,             FLOW_KEEP,     RULE_ZERO_IDIOM)

struct insn_special {
    ZydisMnemonic mnemonic;
    uint8_t kind;
    uint8_t flow;
    uint8_t rule;
};

static const struct insn_special insn_special_table[] = {
#define INSN_SPECIAL_ROW(m, k, f, r) { ZYDIS_MNEMONIC_##m, (uint8_t)(k), (uint8_t)(f), (uint8_t)(r) },
    INSN_SPECIAL_TABLE(INSN_SPECIAL_ROW)
#undef INSN_SPECIAL_ROW
};

static const struct insn_special *insn_special_find(ZydisMnemonic m)
{
    for (size_t i = 0; i < sizeof insn_special_table / sizeof insn_special_table[0]; i++)
        if (insn_special_table[i].mnemonic == m) return &insn_special_table[i];
    return NULL;
}

static bool insn_decoder_init(ZydisDecoder *dec, uint8_t cpu_mode)
{
    ZydisMachineMode mm;
    ZydisStackWidth sw;
    switch (cpu_mode) {
    case 64: mm = ZYDIS_MACHINE_MODE_LONG_64;    sw = ZYDIS_STACK_WIDTH_64; break;
    case 32: mm = ZYDIS_MACHINE_MODE_LEGACY_32;  sw = ZYDIS_STACK_WIDTH_32; break;
    case 16: mm = ZYDIS_MACHINE_MODE_LEGACY_16;  sw = ZYDIS_STACK_WIDTH_16; break;
    default: return false;
    }
    return ZYAN_SUCCESS(ZydisDecoderInit(dec, mm, sw));
}

/* Zydis' flag masks use the RFLAGS bit positions; translate to a locset. */
static x86_locset flags_to_locset(ZydisAccessedFlagsMask m)
{
    x86_locset s = 0;
    for (int f = 0; f < X86_NFLAG; f++)
        if (m & (1u << x86_flag_rflags_bit((enum x86_flag)f))) s |= X86_LOC_FLAG(f);
    return s;
}

static bool reg_is_fpsimd(ZydisRegisterClass c)
{
    return c == ZYDIS_REGCLASS_X87 || c == ZYDIS_REGCLASS_MMX || c == ZYDIS_REGCLASS_XMM ||
           c == ZYDIS_REGCLASS_YMM || c == ZYDIS_REGCLASS_ZMM || c == ZYDIS_REGCLASS_TMM ||
           c == ZYDIS_REGCLASS_MASK;
}

/* GPR index (0..15) of any GPR name (al, ah, ax, eax, rax, r8b, ...), or -1. */
static int gpr_index(ZydisRegister r)
{
    ZydisRegisterClass c = ZydisRegisterGetClass(r);
    if (c != ZYDIS_REGCLASS_GPR8 && c != ZYDIS_REGCLASS_GPR16 &&
        c != ZYDIS_REGCLASS_GPR32 && c != ZYDIS_REGCLASS_GPR64)
        return -1;
    /* Largest enclosing in long mode maps ah->rax, r8b->r8, esi->rsi (also
     * for 16/32-bit code, where only the first 8 exist). */
    ZydisRegister full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
    if (full == ZYDIS_REGISTER_NONE) return -1;
    int id = ZydisRegisterGetId(full);
    return (id >= 0 && id < X86_NGPR) ? id : -1;
}

static void note_reg(ZydisRegister r, ZydisOperandActions act, struct insn_info *ii)
{
    if (r == ZYDIS_REGISTER_NONE) return;
    ZydisRegisterClass c = ZydisRegisterGetClass(r);
    if (reg_is_fpsimd(c)) {
        ii->kind |= INSN_K_FPSIMD;
        return;
    }
    int g = gpr_index(r);
    if (g < 0) return;            /* rip, segment, control registers: not in the locset */
    x86_locset loc = X86_LOC_GPR(g);
    if (act & ZYDIS_OPERAND_ACTION_MASK_READ) ii->use |= loc;
    if (act & ZYDIS_OPERAND_ACTION_MASK_WRITE) {
        ii->def |= loc;
        bool certain = (act & ZYDIS_OPERAND_ACTION_WRITE) && !(act & ZYDIS_OPERAND_ACTION_CONDWRITE);
        bool full = c == ZYDIS_REGCLASS_GPR64 || c == ZYDIS_REGCLASS_GPR32;
        if (certain && full) ii->kill |= loc;
    }
}

static bool category_is_fpsimd(ZydisInstructionCategory cat)
{
    switch (cat) {
    case ZYDIS_CATEGORY_X87_ALU: case ZYDIS_CATEGORY_FCMOV: case ZYDIS_CATEGORY_SSE:
    case ZYDIS_CATEGORY_AVX: case ZYDIS_CATEGORY_AVX2: case ZYDIS_CATEGORY_AVX512:
    case ZYDIS_CATEGORY_MMX: case ZYDIS_CATEGORY_AMD3DNOW: case ZYDIS_CATEGORY_VFMA:
    case ZYDIS_CATEGORY_FMA4: case ZYDIS_CATEGORY_AES: case ZYDIS_CATEGORY_SHA:
        return true;
    default:
        return false;
    }
}

bool insn_info_decode(uint8_t cpu_mode, uint64_t pc, const uint8_t *code, unsigned avail,
                      struct insn_info *out)
{
    ZydisDecoder dec;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    memset(out, 0, sizeof *out);
    if (!insn_decoder_init(&dec, cpu_mode)) return false;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code, avail, &in, ops))) return false;

    const struct insn_special *sp = insn_special_find(in.mnemonic);
    out->pc = pc;
    out->len = in.length;
    out->mnemonic = (uint16_t)in.mnemonic;

    /* Registers and memory, visible and hidden operands alike. */
    for (unsigned i = 0; i < in.operand_count; i++) {
        const ZydisDecodedOperand *op = &ops[i];
        switch (op->type) {
        case ZYDIS_OPERAND_TYPE_REGISTER:
            if (ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_FLAGS) {
                if (!in.cpu_flags && (op->actions & ZYDIS_OPERAND_ACTION_MASK_READ))
                    out->use |= X86_LOC_ALL_FLAGS;   /* no flag table entry: be conservative */
                break;
            }
            note_reg(op->reg.value, op->actions, out);
            break;
        case ZYDIS_OPERAND_TYPE_MEMORY:
            /* Address registers are read whether or not memory is touched (lea). */
            note_reg(op->mem.base, ZYDIS_OPERAND_ACTION_READ, out);
            note_reg(op->mem.index, ZYDIS_OPERAND_ACTION_READ, out);
            if (op->mem.type != ZYDIS_MEMOP_TYPE_AGEN) out->kind |= INSN_K_MEM;
            break;
        case ZYDIS_OPERAND_TYPE_POINTER:
        case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        default:
            break;
        }
    }

    /* Status flags from Zydis' flag table. */
    if (in.cpu_flags) {
        const ZydisAccessedFlags *f = in.cpu_flags;
        x86_locset written = flags_to_locset(f->modified | f->set_0 | f->set_1 | f->undefined);
        out->use |= flags_to_locset(f->tested);
        out->def |= written;
        out->kill |= written;
        out->flags_undef = flags_to_locset(f->undefined);
    }

    if (sp && sp->rule == RULE_COUNT_FLAGS) {
        /* The count is the last visible operand: an immediate, CL, or the implicit 1. */
        const ZydisDecodedOperand *cnt = in.operand_count_visible ? &ops[in.operand_count_visible - 1] : NULL;
        unsigned width = in.operand_width == 64 ? 64 : 32;
        if (cnt && cnt->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && in.operand_count_visible >= 2) {
            if ((cnt->imm.value.u & (width - 1)) == 0) {
                /* Count 0: the flags are untouched entirely. */
                out->def &= ~X86_LOC_ALL_FLAGS;
                out->kill &= ~X86_LOC_ALL_FLAGS;
                out->flags_undef = 0;
            }
        } else if (cnt && cnt->type == ZYDIS_OPERAND_TYPE_REGISTER && in.operand_count_visible >= 2) {
            /* Count in CL may be 0 at run time: flags may keep their old value. */
            out->kill &= ~X86_LOC_ALL_FLAGS;
        }
    }
    if (sp && sp->rule == RULE_ZERO_IDIOM && in.operand_count_visible >= 2 &&
        ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        ops[0].reg.value == ops[1].reg.value) {
        int g = gpr_index(ops[0].reg.value);
        /* The result does not depend on r; upper bits still survive for narrow writes. */
        ZydisRegisterClass c = ZydisRegisterGetClass(ops[0].reg.value);
        if (g >= 0 && (c == ZYDIS_REGCLASS_GPR32 || c == ZYDIS_REGCLASS_GPR64))
            out->use &= ~X86_LOC_GPR(g);
    }

    /* Control flow. */
    out->flow = INSN_FLOW_NONE;
    bool direct = in.operand_count_visible >= 1 && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                  ops[0].imm.is_relative;
    switch (in.meta.category) {
    case ZYDIS_CATEGORY_COND_BR:   out->flow = INSN_FLOW_JCC; break;
    case ZYDIS_CATEGORY_UNCOND_BR: out->flow = direct ? INSN_FLOW_JMP : INSN_FLOW_JMP_IND; break;
    case ZYDIS_CATEGORY_CALL:      out->flow = direct ? INSN_FLOW_CALL : INSN_FLOW_CALL_IND; break;
    case ZYDIS_CATEGORY_RET:       out->flow = INSN_FLOW_RET; break;
    case ZYDIS_CATEGORY_SYSCALL: case ZYDIS_CATEGORY_SYSRET: case ZYDIS_CATEGORY_INTERRUPT:
        out->flow = INSN_FLOW_SYS; break;
    default: break;
    }
    if (sp && sp->flow != FLOW_KEEP) out->flow = sp->flow;
    if ((out->flow == INSN_FLOW_JCC && !direct))
        out->flow = INSN_FLOW_JMP_IND;   /* never seen in practice; stay safe */
    if (direct && (out->flow == INSN_FLOW_JCC || out->flow == INSN_FLOW_JMP || out->flow == INSN_FLOW_CALL)) {
        ZyanU64 t = 0;
        if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[0], pc, &t))) {
            if (cpu_mode != 64) t &= cpu_mode == 32 ? 0xffffffffull : 0xffffull;
            out->target = t;
        } else {
            out->flow = out->flow == INSN_FLOW_CALL ? INSN_FLOW_CALL_IND : INSN_FLOW_JMP_IND;
        }
    }
    if (out->flow != INSN_FLOW_NONE) out->kind |= INSN_K_CONTROL;

    /* Kind. */
    if (x86_zydis_category_is_system(in.meta.category)) out->kind |= INSN_K_SYSTEM;
    if (in.meta.category == ZYDIS_CATEGORY_IO || in.meta.category == ZYDIS_CATEGORY_IOSTRINGOP)
        out->kind |= INSN_K_IO;
    if (in.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) out->kind |= INSN_K_SYSTEM | INSN_K_PRIV;
    if (category_is_fpsimd(in.meta.category)) out->kind |= INSN_K_FPSIMD;
    if (in.meta.category == ZYDIS_CATEGORY_NOP || in.meta.category == ZYDIS_CATEGORY_WIDENOP)
        out->kind |= INSN_K_NOP;
    if (sp) out->kind |= sp->kind;
    return true;
}

const char *insn_info_mnemonic_name(const struct insn_info *ii)
{
    const char *s = ZydisMnemonicGetString((ZydisMnemonic)ii->mnemonic);
    return s ? s : "?";
}

bool insn_info_format(uint8_t cpu_mode, uint64_t pc, const uint8_t *code, unsigned avail,
                      char *buf, unsigned bufsize)
{
    ZydisDecoder dec;
    ZydisFormatter fmt;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!bufsize) return false;
    buf[0] = 0;
    if (!insn_decoder_init(&dec, cpu_mode)) return false;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code, avail, &in, ops))) return false;
    if (!ZYAN_SUCCESS(ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL))) return false;
    return ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt, &in, ops, in.operand_count_visible,
                                                        buf, bufsize, pc, ZYAN_NULL));
}
