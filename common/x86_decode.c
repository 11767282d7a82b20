/* x86_decode.c — Zydis decoding into struct x86_insn and form matching. */
#include "x86_decode.h"

#include <stdio.h>
#include <string.h>
#include <Zydis/Zydis.h>

/* Register of a Zydis operand as (64-bit gpr, width, high-byte); false for
 * anything that is not a general-purpose register. */
static bool gpr_of(ZydisRegister r, uint8_t *gpr, uint8_t *bits, bool *high8)
{
    ZydisRegisterClass cls = ZydisRegisterGetClass(r);
    if (cls != ZYDIS_REGCLASS_GPR8 && cls != ZYDIS_REGCLASS_GPR16 &&
        cls != ZYDIS_REGCLASS_GPR32 && cls != ZYDIS_REGCLASS_GPR64)
        return false;
    ZydisRegister big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
    if (big < ZYDIS_REGISTER_RAX || big > ZYDIS_REGISTER_R15)
        return false;
    *gpr = (uint8_t)(big - ZYDIS_REGISTER_RAX);
    *bits = (uint8_t)ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r);
    *high8 = r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_CH ||
             r == ZYDIS_REGISTER_DH || r == ZYDIS_REGISTER_BH;
    return true;
}

static uint8_t sized_kind(bool mem, unsigned bits)
{
    switch (bits) {
    case 8: return mem ? X86_OK_M8 : X86_OK_R8;
    case 16: return mem ? X86_OK_M16 : X86_OK_R16;
    case 32: return mem ? X86_OK_M32 : X86_OK_R32;
    case 64: return mem ? X86_OK_M64 : X86_OK_R64;
    default: return X86_OK_NONE;
    }
}

static void set_unsupported(struct x86_insn *in, const char *why)
{
    in->form = X86_FORM_UNSUPPORTED;
    snprintf(in->unsupported, sizeof in->unsupported, "%s: %s", in->mnemonic, why);
}

/* Normalizes one visible Zydis operand; false (with in->unsupported) when
 * the model cannot represent it. */
static bool normalize_operand(struct x86_insn *in, const ZydisDecodedInstruction *zi,
                              const ZydisDecodedOperand *zo, struct x86_operand *op)
{
    memset(op, 0, sizeof *op);
    op->base = op->index = -1;
    op->scale = 1;
    switch (zo->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: {
        uint8_t bits;
        if (!gpr_of(zo->reg.value, &op->reg, &bits, &op->high8)) {
            set_unsupported(in, "non-GPR register operand");
            return false;
        }
        op->bits = bits;
        if (zo->visibility == ZYDIS_OPERAND_VISIBILITY_IMPLICIT && zo->reg.value == ZYDIS_REGISTER_CL &&
            (zi->mnemonic == ZYDIS_MNEMONIC_SHL || zi->mnemonic == ZYDIS_MNEMONIC_SHR ||
             zi->mnemonic == ZYDIS_MNEMONIC_SAR || zi->mnemonic == ZYDIS_MNEMONIC_ROL ||
             zi->mnemonic == ZYDIS_MNEMONIC_ROR))
            op->kind = X86_OK_CL;
        else
            op->kind = sized_kind(false, bits);
        return true;
    }
    case ZYDIS_OPERAND_TYPE_MEMORY: {
        if (zo->mem.type != ZYDIS_MEMOP_TYPE_MEM && zo->mem.type != ZYDIS_MEMOP_TYPE_AGEN) {
            set_unsupported(in, "memory operand type");
            return false;
        }
        if (zi->address_width != 64) {
            set_unsupported(in, "non-64-bit addressing");
            return false;
        }
        op->bits = (uint8_t)zo->size;
        if (zo->mem.base == ZYDIS_REGISTER_RIP) {
            op->rip_relative = true;
        } else if (zo->mem.base != ZYDIS_REGISTER_NONE) {
            uint8_t b, g; bool h;
            if (!gpr_of(zo->mem.base, &g, &b, &h) || b != 64) {
                set_unsupported(in, "memory base register");
                return false;
            }
            op->base = (int8_t)g;
        }
        if (zo->mem.index != ZYDIS_REGISTER_NONE) {
            uint8_t b, g; bool h;
            if (!gpr_of(zo->mem.index, &g, &b, &h) || b != 64) {
                set_unsupported(in, "memory index register");
                return false;
            }
            op->index = (int8_t)g;
            op->scale = zo->mem.scale ? zo->mem.scale : 1;
        }
        op->disp = zo->mem.disp.has_displacement ? zo->mem.disp.value : 0;
        op->kind = zi->mnemonic == ZYDIS_MNEMONIC_LEA ? X86_OK_MA : sized_kind(true, zo->size);
        if (op->kind == X86_OK_NONE) {
            set_unsupported(in, "memory operand width");
            return false;
        }
        return true;
    }
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        op->bits = zi->operand_width;
        op->imm = zo->imm.value.u;
        if (zo->imm.is_relative)
            op->kind = X86_OK_REL;
        else if (zo->visibility == ZYDIS_OPERAND_VISIBILITY_IMPLICIT && zo->imm.value.u == 1)
            op->kind = X86_OK_ONE;
        else
            op->kind = X86_OK_I;
        return true;
    default:
        set_unsupported(in, "pointer operand");
        return false;
    }
}

static const ZyanU64 unsupported_attributes =
    ZYDIS_ATTRIB_HAS_LOCK | ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE |
    ZYDIS_ATTRIB_HAS_BND | ZYDIS_ATTRIB_HAS_XACQUIRE | ZYDIS_ATTRIB_HAS_XRELEASE |
    ZYDIS_ATTRIB_HAS_SEGMENT | ZYDIS_ATTRIB_HAS_ADDRESSSIZE;

int x86_decode_insn(const uint8_t *code, size_t len, uint64_t pc, unsigned mode,
                    struct x86_insn *out, char *err, size_t errlen)
{
    ZydisMachineMode mm;
    ZydisStackWidth sw;
    switch (mode) {
    case 64: mm = ZYDIS_MACHINE_MODE_LONG_64; sw = ZYDIS_STACK_WIDTH_64; break;
    case 32: mm = ZYDIS_MACHINE_MODE_LEGACY_32; sw = ZYDIS_STACK_WIDTH_32; break;
    case 16: mm = ZYDIS_MACHINE_MODE_LEGACY_16; sw = ZYDIS_STACK_WIDTH_16; break;
    default:
        snprintf(err, errlen, "x86 decode at %#llx: cpu mode %u is not 16, 32 or 64",
                 (unsigned long long)pc, mode);
        return -1;
    }
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, mm, sw);
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    ZyanStatus st = ZydisDecoderDecodeFull(&dec, code, len, &zi, zo);
    if (ZYAN_FAILED(st)) {
        snprintf(err, errlen, "x86 decode at %#llx (mode %u): invalid or truncated instruction "
                 "(first byte %#04x, %zu bytes left, zydis status %#x)",
                 (unsigned long long)pc, mode, len ? code[0] : 0u, len, (unsigned)st);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->pc = pc;
    out->len = zi.length;
    memcpy(out->bytes, code, zi.length);
    out->mode = (uint8_t)mode;
    out->zydis_mnemonic = zi.mnemonic;
    snprintf(out->mnemonic, sizeof out->mnemonic, "%s", ZydisMnemonicGetString(zi.mnemonic));
    out->opwidth = zi.operand_width;
    out->form = X86_FORM_UNSUPPORTED;

    ZydisFormatter fmt;
    if (ZYAN_SUCCESS(ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL)))
        ZydisFormatterFormatInstruction(&fmt, &zi, zo, zi.operand_count_visible, out->text,
                                        sizeof out->text, pc, NULL);

    if (mode != 64) {
        set_unsupported(out, "only 64-bit code is modelled");
        return 0;
    }
    if (zi.attributes & unsupported_attributes) {
        set_unsupported(out, "prefix (lock/rep/segment/address-size) not modelled");
        return 0;
    }
    if (zi.operand_count_visible > X86_INSN_MAX_OPS) {
        set_unsupported(out, "too many operands");
        return 0;
    }
    uint8_t kinds[X86_INSN_MAX_OPS] = { 0 };
    for (unsigned i = 0; i < zi.operand_count_visible; i++) {
        if (!normalize_operand(out, &zi, &zo[i], &out->op[i]))
            return 0;
        kinds[i] = out->op[i].kind;
    }
    out->nops = zi.operand_count_visible;
    out->form = x86_form_lookup(zi.mnemonic, out->nops, kinds);
    if (out->form != X86_FORM_UNSUPPORTED) {
        /* Stack and branch forms have no sized operand in their signature:
         * an operand-size prefix (push imm16, jmp rel16 ...) changes their
         * meaning, so only their 64-bit versions are the table's forms. */
        enum x86_sem s = x86_forms[out->form].sem;
        bool stack_or_branch = s == X86_SEM_PUSH || s == X86_SEM_POP || s == X86_SEM_JCC ||
                               s == X86_SEM_JMP || s == X86_SEM_CALL || s == X86_SEM_RET;
        if (stack_or_branch && zi.operand_width != 64)
            set_unsupported(out, "operand-size override on a stack or branch instruction");
    }
    if (out->form == X86_FORM_UNSUPPORTED && !out->unsupported[0]) {
        char sig[40] = "";
        size_t n = 0;
        for (unsigned i = 0; i < out->nops; i++)
            n += (size_t)snprintf(sig + n, sizeof sig - n, "%s%s", i ? "," : "",
                                  x86_opkind_name((enum x86_opkind)kinds[i]));
        char why[100];
        snprintf(why, sizeof why, "form (%s) not in the supported-forms table", n ? sig : "no operands");
        set_unsupported(out, why);
    }
    return 0;
}

int x86_decode_block(const uint8_t *code, size_t len, uint64_t pc, unsigned mode,
                     struct x86_insn *out, size_t max, size_t *n, char *err, size_t errlen)
{
    size_t off = 0, k = 0;
    while (off < len) {
        if (k == max) {
            snprintf(err, errlen, "x86 block at %#llx: more than %zu instructions",
                     (unsigned long long)pc, max);
            return -1;
        }
        if (x86_decode_insn(code + off, len - off, pc + off, mode, &out[k], err, errlen) != 0)
            return -1;
        off += out[k].len;
        k++;
    }
    *n = k;
    return 0;
}

int x86_block_first_unsupported(const struct x86_insn *insns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (insns[i].form == X86_FORM_UNSUPPORTED)
            return (int)i;
    return -1;
}
