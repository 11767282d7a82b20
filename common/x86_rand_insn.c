/* x86_rand_insn.c — see x86_rand_insn.h. */
#include "x86_rand_insn.h"

#include <string.h>
#include <Zydis/Zydis.h>

#include "x86_forms.h"

const struct x86_rand_policy x86_rand_symbolic = {
    .no_rsp = false, .index_not_base = false, .riprel_own_region = false,
    .all_byte_regs = false, .width_counts = false, .disp32_span = 0,
};
const struct x86_rand_policy x86_rand_executable = {
    .no_rsp = true, .index_not_base = true, .riprel_own_region = true,
    .all_byte_regs = true, .width_counts = true, .disp32_span = 2048,
};

uint64_t x86_rand_next(uint64_t *s)
{
    uint64_t z = (*s += X86_RAND_STEP);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

unsigned x86_rand_below(uint64_t *s, unsigned n)
{
    return (unsigned)(x86_rand_next(s) % n);
}

static ZydisRegister pick_byte_reg(const struct x86_rand_policy *p, uint64_t *s)
{
    static const ZydisRegister all[] = {
        ZYDIS_REGISTER_AL, ZYDIS_REGISTER_CL, ZYDIS_REGISTER_DL, ZYDIS_REGISTER_BL,
        ZYDIS_REGISTER_AH, ZYDIS_REGISTER_CH, ZYDIS_REGISTER_DH, ZYDIS_REGISTER_BH,
        ZYDIS_REGISTER_BPL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL, ZYDIS_REGISTER_R8B,
        ZYDIS_REGISTER_R9B, ZYDIS_REGISTER_R10B, ZYDIS_REGISTER_R11B, ZYDIS_REGISTER_R12B,
        ZYDIS_REGISTER_R13B, ZYDIS_REGISTER_R14B, ZYDIS_REGISTER_R15B,
        ZYDIS_REGISTER_SPL,   /* last: left out under no_rsp */
    };
    static const ZydisRegister some[] = {
        ZYDIS_REGISTER_AL, ZYDIS_REGISTER_CL, ZYDIS_REGISTER_DL, ZYDIS_REGISTER_BL,
        ZYDIS_REGISTER_AH, ZYDIS_REGISTER_CH, ZYDIS_REGISTER_DH, ZYDIS_REGISTER_BH,
        ZYDIS_REGISTER_SPL, ZYDIS_REGISTER_BPL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL,
        ZYDIS_REGISTER_R8B, ZYDIS_REGISTER_R9B, ZYDIS_REGISTER_R12B, ZYDIS_REGISTER_R15B,
    };
    const unsigned nall = sizeof all / sizeof all[0], nsome = sizeof some / sizeof some[0];
    if (p->all_byte_regs)
        return all[x86_rand_below(s, p->no_rsp ? nall - 1 : nall)];
    ZydisRegister r;
    do r = some[x86_rand_below(s, nsome)]; while (p->no_rsp && r == ZYDIS_REGISTER_SPL);
    return r;
}

static ZydisRegister pick_reg(const struct x86_rand_policy *p, uint64_t *s, unsigned bits)
{
    if (bits == 8)
        return pick_byte_reg(p, s);
    unsigned g;
    do g = x86_rand_below(s, 16); while (p->no_rsp && g == X86_RSP);
    ZydisRegister first = bits == 16 ? ZYDIS_REGISTER_AX : bits == 32 ? ZYDIS_REGISTER_EAX : ZYDIS_REGISTER_RAX;
    return (ZydisRegister)(first + g);
}

/* w: the width of the form's first operand (the operation size). */
static int64_t pick_imm(const struct x86_rand_policy *p, uint64_t *s, const struct x86_form *f, unsigned w)
{
    switch (f->sem) {
    case X86_SEM_SHL: case X86_SEM_SHR: case X86_SEM_SAR: case X86_SEM_ROL: case X86_SEM_ROR: {
        /* the counts where masking and flag rules change */
        if (p->width_counts) {
            const int64_t counts[] = { 0, 2, (int64_t)w - 1, w, (int64_t)w + 1, 7, 8, 9, 15, 16, 17,
                                       31, 32, 33, 63, 64, 255 };
            return x86_rand_below(s, 4) ? counts[x86_rand_below(s, sizeof counts / sizeof counts[0])]
                                        : (int64_t)x86_rand_below(s, 256);
        }
        static const int64_t fixed[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255 };
        return fixed[x86_rand_below(s, sizeof fixed / sizeof fixed[0])];
    }
    case X86_SEM_BT:
        return (int64_t)x86_rand_below(s, 256);
    default:
        break;
    }
    uint64_t r = x86_rand_next(s);
    if (w == 8)
        return (int8_t)r;
    if (w == 16)
        return x86_rand_below(s, 2) ? (int8_t)r : (int16_t)r;
    if (f->sem == X86_SEM_MOV && w == 64 && f->op[0] == X86_OK_R64 && x86_rand_below(s, 2))
        return (int64_t)r;   /* mov r64, imm64 */
    return x86_rand_below(s, 2) ? (int8_t)r : (int32_t)r;
}

static void pick_mem(const struct x86_rand_policy *p, uint64_t *s, enum x86_opkind kind, ZydisEncoderOperand *op)
{
    op->type = ZYDIS_OPERAND_TYPE_MEMORY;
    /* lea: Zydis wants some memory size; which one depends on the encoding. */
    static const ZyanU16 lea_sizes[] = { 0, 2, 4, 8 };
    op->mem.size = kind == X86_OK_MA ? lea_sizes[x86_rand_below(s, 4)] : (ZyanU16)(x86_opkind_bits(kind) / 8);
    if (x86_rand_below(s, 6) == 0) {
        op->mem.base = ZYDIS_REGISTER_RIP;
        op->mem.displacement = p->riprel_own_region ? 0x10000 + 8 * (int64_t)x86_rand_below(s, 4096)
                                                    : (int64_t)x86_rand_below(s, 4096) - 2048;
        return;
    }
    op->mem.base = pick_reg(p, s, 64);
    if (x86_rand_below(s, 2)) {
        do op->mem.index = pick_reg(p, s, 64); while (p->index_not_base && op->mem.index == op->mem.base);
        op->mem.scale = (ZyanU8)(1u << x86_rand_below(s, 4));
    }
    unsigned d = x86_rand_below(s, 3);
    if (d == 0)
        op->mem.displacement = 0;
    else if (d == 1)
        op->mem.displacement = (int8_t)x86_rand_next(s);
    else if (p->disp32_span)
        op->mem.displacement = (int64_t)(x86_rand_next(s) % p->disp32_span) - (int64_t)(p->disp32_span / 2);
    else
        op->mem.displacement = (int32_t)x86_rand_next(s);
}

bool x86_rand_encode_try(unsigned fi, const struct x86_rand_policy *p, uint64_t *s, uint8_t *code, size_t *len)
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
            op->reg.value = pick_reg(p, s, x86_opkind_bits(kind));
        } else if (x86_opkind_is_mem(kind)) {
            pick_mem(p, s, kind, op);
        } else if (kind == X86_OK_I) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.s = pick_imm(p, s, f, w);
        } else if (kind == X86_OK_ONE) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.u = 1;
        } else if (kind == X86_OK_CL) {
            op->type = ZYDIS_OPERAND_TYPE_REGISTER;
            op->reg.value = ZYDIS_REGISTER_CL;
        } else if (kind == X86_OK_REL) {
            op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
            op->imm.s = x86_rand_below(s, 2) ? (int8_t)x86_rand_next(s) : (int32_t)(x86_rand_next(s) & 0xffffff);
        }
    }
    ZyanUSize n = ZYDIS_MAX_INSTRUCTION_LENGTH;
    if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, code, &n)))
        return false;
    *len = n;
    return true;
}

bool x86_rand_instance(unsigned fi, const struct x86_rand_policy *p, uint64_t *s, uint64_t rip, uint8_t *code,
                       size_t *len, struct x86_insn *insn)
{
    char err[256];
    struct x86_insn tmp;
    if (!insn)
        insn = &tmp;
    for (int attempt = 0; attempt < 500; attempt++) {
        size_t n;
        if (!x86_rand_encode_try(fi, p, s, code, &n))
            continue;
        if (x86_decode_insn(code, n, rip, 64, insn, err, sizeof err) != 0)
            continue;
        if (insn->form == fi) {
            *len = n;
            return true;
        }
    }
    return false;
}
