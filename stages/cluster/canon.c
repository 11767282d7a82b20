/* canon.c — register renaming and immediate abstraction with Zydis' encoder
 * (see canon.h). */
#include "canon.h"

#include <stdlib.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "../cfg/insn_info.h"

/* The one table of instructions whose immediate stays concrete: the value
 * selects behaviour (a count that may be 0 leaves the flags alone, a bit
 * index, a port, a vector, a frame size).  FP/SIMD control immediates
 * (shuffles, rounding modes, compare predicates) are kept concrete as a
 * class, below. */
#define CANON_CONCRETE_IMM_TABLE(X) \
    X(SHL) X(SHR) X(SAR) X(ROL) X(ROR) X(RCL) X(RCR) X(SHLD) X(SHRD) \
    X(BT) X(BTS) X(BTR) X(BTC) X(ENTER) X(INT) X(RET) X(IN) X(OUT) \
    X(AAM) X(AAD) X(RORX) X(SARX) X(SHLX) X(SHRX)

static bool imm_is_concrete(ZydisMnemonic m)
{
    static const ZydisMnemonic concrete[] = {
#define CANON_ROW(mn) ZYDIS_MNEMONIC_##mn,
        CANON_CONCRETE_IMM_TABLE(CANON_ROW)
#undef CANON_ROW
    };
    for (size_t i = 0; i < sizeof concrete / sizeof concrete[0]; i++)
        if (concrete[i] == m) return true;
    return false;
}

void canon_options_default(struct canon_options *o)
{
    o->abstract_imms = true;
    o->rename_regs = true;
}

/* GPR names by width and hardware number (8-bit: the REX forms spl..dil). */
static const ZydisRegister gpr_names[4][16] = {
    { ZYDIS_REGISTER_AL, ZYDIS_REGISTER_CL, ZYDIS_REGISTER_DL, ZYDIS_REGISTER_BL,
      ZYDIS_REGISTER_SPL, ZYDIS_REGISTER_BPL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL,
      ZYDIS_REGISTER_R8B, ZYDIS_REGISTER_R9B, ZYDIS_REGISTER_R10B, ZYDIS_REGISTER_R11B,
      ZYDIS_REGISTER_R12B, ZYDIS_REGISTER_R13B, ZYDIS_REGISTER_R14B, ZYDIS_REGISTER_R15B },
    { ZYDIS_REGISTER_AX, ZYDIS_REGISTER_CX, ZYDIS_REGISTER_DX, ZYDIS_REGISTER_BX,
      ZYDIS_REGISTER_SP, ZYDIS_REGISTER_BP, ZYDIS_REGISTER_SI, ZYDIS_REGISTER_DI,
      ZYDIS_REGISTER_R8W, ZYDIS_REGISTER_R9W, ZYDIS_REGISTER_R10W, ZYDIS_REGISTER_R11W,
      ZYDIS_REGISTER_R12W, ZYDIS_REGISTER_R13W, ZYDIS_REGISTER_R14W, ZYDIS_REGISTER_R15W },
    { ZYDIS_REGISTER_EAX, ZYDIS_REGISTER_ECX, ZYDIS_REGISTER_EDX, ZYDIS_REGISTER_EBX,
      ZYDIS_REGISTER_ESP, ZYDIS_REGISTER_EBP, ZYDIS_REGISTER_ESI, ZYDIS_REGISTER_EDI,
      ZYDIS_REGISTER_R8D, ZYDIS_REGISTER_R9D, ZYDIS_REGISTER_R10D, ZYDIS_REGISTER_R11D,
      ZYDIS_REGISTER_R12D, ZYDIS_REGISTER_R13D, ZYDIS_REGISTER_R14D, ZYDIS_REGISTER_R15D },
    { ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RBX,
      ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
      ZYDIS_REGISTER_R8, ZYDIS_REGISTER_R9, ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11,
      ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R14, ZYDIS_REGISTER_R15 },
};

/* Width row and number of a renameable GPR name; false for ah..bh and non-GPRs. */
static bool gpr_lookup(ZydisRegister r, int *w, int *id)
{
    for (int ww = 0; ww < 4; ww++)
        for (int i = 0; i < 16; i++)
            if (gpr_names[ww][i] == r) { *w = ww; *id = i; return true; }
    return false;
}

static int high_byte_owner(ZydisRegister r)
{
    switch (r) {
    case ZYDIS_REGISTER_AH: return X86_RAX;
    case ZYDIS_REGISTER_CH: return X86_RCX;
    case ZYDIS_REGISTER_DH: return X86_RDX;
    case ZYDIS_REGISTER_BH: return X86_RBX;
    default: return -1;
    }
}

/* Accumulator short forms (04/05 add al/eax,imm ...; a8/a9 test): the
 * register is implicit in the opcode but the general form takes any. */
static bool accumulator_short_form(const ZydisDecodedInstruction *in)
{
    if (in->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;
    uint8_t op = in->opcode;
    if (op < 0x40 && ((op & 7) == 4 || (op & 7) == 5)) return true;
    return op == 0xa8 || op == 0xa9;
}

struct canon_insn {
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    const uint8_t *bytes;
    uint64_t pc;
};

static bool decoder_for(ZydisDecoder *d, uint8_t mode)
{
    switch (mode) {
    case 64: return ZYAN_SUCCESS(ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64));
    case 32: return ZYAN_SUCCESS(ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32));
    case 16: return ZYAN_SUCCESS(ZydisDecoderInit(d, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16));
    default: return false;
    }
}

static void pin_reg(ZydisRegister r, uint16_t *pinned)
{
    int w, id, h = high_byte_owner(r);
    if (h >= 0) *pinned |= (uint16_t)(1u << h);
    else if (gpr_lookup(r, &w, &id)) *pinned |= (uint16_t)(1u << id);
}

static ZydisRegister rename_reg(ZydisRegister r, const uint8_t *rename)
{
    int w, id;
    if (!gpr_lookup(r, &w, &id)) return r;
    return gpr_names[w][rename[id]];
}

static bool imm_abstractable(const struct canon_insn *ci, const ZydisDecodedOperand *op)
{
    if (op->type != ZYDIS_OPERAND_TYPE_IMMEDIATE || op->imm.is_relative) return false;
    if (op->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT) return false;
    if (imm_is_concrete(ci->in.mnemonic)) return false;
    struct insn_info ii;
    /* FP/SIMD immediates are control bytes; system instructions stay as they are. */
    if (insn_info_decode(ci->in.machine_mode == ZYDIS_MACHINE_MODE_LONG_64 ? 64 :
                         ci->in.machine_mode == ZYDIS_MACHINE_MODE_LEGACY_32 ? 32 : 16,
                         ci->pc, ci->bytes, ci->in.length, &ii) &&
        (ii.kind & (INSN_K_FPSIMD | INSN_K_SYSTEM | INSN_K_CONTROL)))
        return false;
    return true;
}

/* Emits the block with the current renaming / imm abstraction.  false when
 * some instruction cannot be encoded that way. */
static bool emit_all(const struct canon_insn *ci, uint32_t n, const uint8_t *rename, bool identity,
                     bool abstract_imms, struct canon_result *out)
{
    out->len = 0;
    out->nimm = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct canon_insn *c = &ci[i];
        bool touched = false;
        ZydisEncoderRequest req;
        if (!identity || abstract_imms) {
            if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(
                    &c->in, c->ops, c->in.operand_count_visible, &req)))
                return false;
            for (uint8_t k = 0; k < req.operand_count; k++) {
                ZydisEncoderOperand *eo = &req.operands[k];
                const ZydisDecodedOperand *dop = &c->ops[k];
                if (!identity && eo->type == ZYDIS_OPERAND_TYPE_REGISTER) {
                    ZydisRegister nr = rename_reg(eo->reg.value, rename);
                    touched |= nr != eo->reg.value;
                    eo->reg.value = nr;
                } else if (!identity && eo->type == ZYDIS_OPERAND_TYPE_MEMORY) {
                    ZydisRegister nb = rename_reg(eo->mem.base, rename);
                    ZydisRegister nx = rename_reg(eo->mem.index, rename);
                    touched |= nb != eo->mem.base || nx != eo->mem.index;
                    eo->mem.base = nb;
                    eo->mem.index = nx;
                } else if (abstract_imms && eo->type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                           imm_abstractable(c, dop)) {
                    if (out->nimm >= CANON_MAX_IMMS) return false;
                    out->imm[out->nimm] = dop->imm.is_signed ? (uint64_t)dop->imm.value.s : dop->imm.value.u;
                    eo->imm.u = 0x10u + out->nimm;
                    out->nimm++;
                    touched = true;
                }
            }
        }
        if (!touched) {
            if (out->len + c->in.length > CANON_MAX_CODE) return false;
            memcpy(out->code + out->len, c->bytes, c->in.length);
            out->len += c->in.length;
            continue;
        }
        uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
        ZyanUSize blen = sizeof buf;
        if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, buf, &blen))) return false;
        /* Every instruction must keep its length (renaming rbx to r8 adds a
         * REX prefix, say): rip-relative operands, pushed return addresses
         * and the fall-through rip are offsets from the instruction's end,
         * so a shifted layout would make the template compute other values
         * than its instances.  The caller then keeps the original bytes. */
        if (blen != c->in.length) return false;
        if (out->len + blen > CANON_MAX_CODE) return false;
        memcpy(out->code + out->len, buf, blen);
        out->len += (uint32_t)blen;
    }
    return true;
}

bool canon_block(uint8_t cpu_mode, const uint8_t *code, uint32_t len, x86_locset live_in,
                 x86_locset live_out, const struct canon_options *opt, struct canon_result *out)
{
    struct canon_options dflt;
    if (!opt) { canon_options_default(&dflt); opt = &dflt; }
    memset(out, 0, sizeof *out);
    ZydisDecoder dec;
    if (!decoder_for(&dec, cpu_mode) || len == 0 || len > CANON_MAX_CODE) return false;

    /* Decode; collect what the block reads and writes (real registers). */
    struct canon_insn *ci = malloc((size_t)len * sizeof *ci);   /* at most one insn per byte */
    if (!ci) return false;
    uint32_t n = 0;
    x86_locset reads = 0, writes = 0;
    for (uint32_t off = 0; off < len; n++) {
        struct canon_insn *c = &ci[n];
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code + off, len - off, &c->in, c->ops))) {
            free(ci);
            return false;
        }
        c->bytes = code + off;
        c->pc = off;
        struct insn_info ii;
        if (insn_info_decode(cpu_mode, off, code + off, len - off, &ii)) {
            reads |= ii.use;
            writes |= ii.def;
        }
        off += c->in.length;
    }
    out->ninsns = n;

    /* Pinned registers, then first-use order of the others. */
    const int ngpr = cpu_mode == 64 ? 16 : 8;
    uint16_t pinned = (uint16_t)(1u << X86_RSP);
    for (uint32_t i = 0; i < n; i++) {
        const struct canon_insn *c = &ci[i];
        for (uint8_t k = 0; k < c->in.operand_count; k++) {
            const ZydisDecodedOperand *op = &c->ops[k];
            if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
                if (high_byte_owner(op->reg.value) >= 0 ||
                    op->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT ||
                    (op->encoding == ZYDIS_OPERAND_ENCODING_NONE && !accumulator_short_form(&c->in)))
                    pin_reg(op->reg.value, &pinned);
            } else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
                       op->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT) {
                pin_reg(op->mem.base, &pinned);
                pin_reg(op->mem.index, &pinned);
            }
        }
    }
    uint8_t rename[X86_NGPR];
    uint8_t binding[X86_NGPR];
    bool assigned[X86_NGPR] = { false }, slot_used[X86_NGPR] = { false };
    for (int r = 0; r < X86_NGPR; r++) rename[r] = 0xff;
    for (int r = 0; r < X86_NGPR; r++)
        if (pinned & (1u << r)) { rename[r] = (uint8_t)r; assigned[r] = slot_used[r] = true; }
    int next_slot = 0;
    if (opt->rename_regs) {
        for (uint32_t i = 0; i < n; i++) {
            const struct canon_insn *c = &ci[i];
            for (uint8_t k = 0; k < c->in.operand_count; k++) {
                const ZydisDecodedOperand *op = &c->ops[k];
                ZydisRegister regs[2] = { ZYDIS_REGISTER_NONE, ZYDIS_REGISTER_NONE };
                if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) regs[0] = op->reg.value;
                else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) { regs[0] = op->mem.base; regs[1] = op->mem.index; }
                for (int q = 0; q < 2; q++) {
                    int w, id;
                    if (!gpr_lookup(regs[q], &w, &id) || id >= ngpr || assigned[id]) continue;
                    while (next_slot < ngpr && slot_used[next_slot]) next_slot++;
                    if (next_slot >= ngpr) continue;
                    rename[id] = (uint8_t)next_slot;
                    assigned[id] = slot_used[next_slot] = true;
                }
            }
        }
    }
    /* Complete to a permutation: unused real registers fill unused slots in order. */
    for (int r = 0, s = 0; r < X86_NGPR; r++) {
        if (assigned[r]) continue;
        if (r >= ngpr) { rename[r] = (uint8_t)r; slot_used[r] = true; continue; }
        while (s < ngpr && slot_used[s]) s++;
        rename[r] = (uint8_t)s;
        slot_used[s] = true;
    }
    bool identity = true;
    for (int r = 0; r < X86_NGPR; r++) {
        binding[rename[r]] = (uint8_t)r;
        if (rename[r] != r) identity = false;
    }

    bool ok = emit_all(ci, n, rename, identity, opt->abstract_imms, out);
    free(ci);
    if (ok) {
        /* The canonical instance must itself be valid x86 of this mode with
         * the same number of instructions: decode it back. */
        uint32_t m = 0;
        for (uint32_t off = 0; ok && off < out->len; m++) {
            ZydisDecodedInstruction in;
            ok = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, out->code + off, out->len - off, &in));
            if (ok) off += in.length;
        }
        ok = ok && m == n;
    }
    if (!ok) {
        /* Fall back to the original bytes: correct, just less sharing. */
        for (int r = 0; r < X86_NGPR; r++) rename[r] = binding[r] = (uint8_t)r;
        memcpy(out->code, code, len);
        out->len = len;
        out->nimm = 0;
        out->fallback = true;
    }
    memcpy(out->rename, rename, sizeof rename);
    memcpy(out->binding, binding, sizeof binding);
    out->ninsns = n;
    out->reads = canon_rename_locset(out, reads);
    out->writes = canon_rename_locset(out, writes);
    out->live_in = canon_rename_locset(out, live_in & reads);
    out->live_out = canon_rename_locset(out, live_out & writes);
    return true;
}

x86_locset canon_rename_locset(const struct canon_result *c, x86_locset real)
{
    x86_locset s = real & ~X86_LOC_ALL_GPRS;
    for (int r = 0; r < X86_NGPR; r++)
        if (real & X86_LOC_GPR(r)) s |= X86_LOC_GPR(c->rename[r]);
    return s;
}

void canon_rename_regs(const struct canon_result *c, const struct x86_regs *real, struct x86_regs *canon)
{
    *canon = *real;
    for (int i = 0; i < X86_NGPR; i++) canon->gpr[i] = real->gpr[c->binding[i]];
}
