/* oracle_block.c — instruction count and terminator of a block (oracle_block.h). */
#include "oracle_block.h"

#include <string.h>

#include <Zydis/Zydis.h>

static int gpr_index(ZydisRegister r)
{
    ZydisRegister big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
    if (big >= ZYDIS_REGISTER_RAX && big <= ZYDIS_REGISTER_R15)
        return (int)(big - ZYDIS_REGISTER_RAX);
    return -1;
}

/* Classify the last instruction (at offset `off`, decoded as insn/ops). */
static void classify_terminator(struct oracle_block *b, const ZydisDecodedInstruction *insn,
                                const ZydisDecodedOperand *ops, uint32_t off)
{
    const ZydisDecodedOperand *op0 = insn->operand_count_visible > 0 ? &ops[0] : NULL;
    bool is_rel = op0 && op0->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && op0->imm.is_relative;
    bool is_reg = op0 && op0->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr_index(op0->reg.value) >= 0
                  && ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, op0->reg.value) == 64;
    enum oracle_term t = ORACLE_TERM_NONE;

    switch (insn->meta.category) {
    case ZYDIS_CATEGORY_COND_BR:
        /* jcc (0x7x rel8, 0x0f 0x8x rel32); loop/jrcxz have no 0x7x/0x8x form. */
        if (is_rel && insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && (insn->opcode & 0xf0) == 0x70) {
            t = ORACLE_TERM_JCC;
            b->jcc_cond = insn->opcode & 0x0f;
        } else if (is_rel && insn->opcode_map == ZYDIS_OPCODE_MAP_0F && (insn->opcode & 0xf0) == 0x80) {
            t = ORACLE_TERM_JCC;
            b->jcc_cond = insn->opcode & 0x0f;
        } else {
            t = ORACLE_TERM_UNSUPPORTED;
        }
        break;
    case ZYDIS_CATEGORY_UNCOND_BR:
        t = is_rel ? ORACLE_TERM_JMP_REL : is_reg ? ORACLE_TERM_JMP_REG : ORACLE_TERM_UNSUPPORTED;
        break;
    case ZYDIS_CATEGORY_CALL:
        t = is_rel ? ORACLE_TERM_CALL_REL : is_reg ? ORACLE_TERM_CALL_REG : ORACLE_TERM_UNSUPPORTED;
        break;
    case ZYDIS_CATEGORY_RET:
        if (insn->mnemonic == ZYDIS_MNEMONIC_RET && insn->operand_width == 64) {
            t = ORACLE_TERM_RET;
            if (op0 && op0->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
                b->ret_imm = (uint16_t)op0->imm.value.u;
        } else {
            t = ORACLE_TERM_UNSUPPORTED;   /* far ret, iret, sysret */
        }
        break;
    default:
        return;
    }
    b->term = t;
    b->body_len = off;
    if (t == ORACLE_TERM_JCC || t == ORACLE_TERM_JMP_REL || t == ORACLE_TERM_CALL_REL)
        b->rel = op0->imm.value.s;   /* relative to the end of the instruction = end of block */
    if (t == ORACLE_TERM_JMP_REG || t == ORACLE_TERM_CALL_REG)
        b->reg = (int8_t)gpr_index(op0->reg.value);
}

void oracle_block_decode(const uint8_t *code, size_t len, struct oracle_block *b)
{
    ZydisDecoder dec;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    size_t off = 0;

    memset(b, 0, sizeof *b);
    b->len = (uint32_t)len;
    b->body_len = (uint32_t)len;
    b->reg = -1;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    while (off < len) {
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code + off, len - off, &insn, ops))) {
            b->decode_error = true;
            b->ninsns++;
            return;
        }
        b->ninsns++;
        if (insn.attributes & (ZYDIS_ATTRIB_HAS_SEGMENT_FS | ZYDIS_ATTRIB_HAS_SEGMENT_GS))
            b->uses_fs_gs = true;
        if (off + insn.length == len)
            classify_terminator(b, &insn, ops, (uint32_t)off);
        else if (insn.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE
                 || insn.meta.category == ZYDIS_CATEGORY_RET)
            b->body_branches = true;
        off += insn.length;
    }
}

unsigned oracle_ranges_merge(struct oracle_range *r, unsigned n)
{
    for (unsigned i = 1; i < n; i++)          /* insertion sort: at most a few ranges */
        for (unsigned j = i; j > 0 && r[j].start < r[j - 1].start; j--) {
            struct oracle_range t = r[j]; r[j] = r[j - 1]; r[j - 1] = t;
        }
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++) {
        if (m > 0 && r[i].start <= r[m - 1].end) {
            if (r[i].end > r[m - 1].end)
                r[m - 1].end = r[i].end;
        } else {
            r[m++] = r[i];
        }
    }
    return m;
}
