/* pixel_isa.c — opcode information, validation, binary encoding and decoding
 * of Pixel CPU instructions, all derived from PIXEL_OPCODES (pixel_isa.h). */
#include "pixel_isa.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct pixel_opinfo opinfo_table[256] = {
#define PIXEL_X_INFO(name, code, form, kind, w, rdin, cres, cfault, zres, zfault, doc) \
    [code] = { #name, code, form, kind, w, rdin, !!(#cfault[0] != '0' || #cfault[1] != 0), doc },
    PIXEL_OPCODES(PIXEL_X_INFO)
#undef PIXEL_X_INFO
};

const struct pixel_opinfo *pixel_opinfo(uint8_t op) { return &opinfo_table[op]; }

int pixel_opcode_by_name(const char *name)
{
    for (int op = 0; op < 256; op++)
        if (opinfo_table[op].name && strcasecmp(opinfo_table[op].name, name) == 0)
            return op;
    return -1;
}

const char *pixel_form_name(enum pixel_form f)
{
    static const char *const names[PXF_COUNT] = {
        "none", "rd,rs1", "rd,rs1,rs2", "rd,rs1,u6", "rd,rs1,s8", "rd,rs1,u8",
        "rd,s16", "rd,u16", "rd,[rs1]", "[rs1],rs2", "off16", "rd,off16",
    };
    return (unsigned)f < PXF_COUNT ? names[f] : "?";
}

const char *pixel_fault_name(enum pixel_fault f)
{
    static const char *const names[PIXEL_FAULT_COUNT] = {
        "none", "decode", "mem", "div", "jump", "stack", "steps",
    };
    return (unsigned)f < PIXEL_FAULT_COUNT ? names[f] : "?";
}

__attribute__((format(printf, 3, 4)))
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool pixel_insn_valid(struct pixel_insn i, char *err, size_t errlen)
{
    if (pixel_insn_ok(i.op, i.rd, i.rs1, i.rs2))
        return true;
    /* invalid: say why */
    const struct pixel_opinfo *info = pixel_opinfo(i.op);
    if (!info->name)
        return fail(err, errlen, "undefined opcode %u (bytes %08x)", i.op, pixel_insn_word(i));
    bool rd_reg = false, rs1_reg = false, rs2_reg = false, rd_zero = false, rs1_zero = false,
         rs2_zero = false;
    switch ((enum pixel_form)info->form) {
    case PXF_NONE: rd_zero = rs1_zero = rs2_zero = true; break;
    case PXF_RR: rd_reg = rs1_reg = true; rs2_zero = true; break;
    case PXF_RRR: rd_reg = rs1_reg = rs2_reg = true; break;
    case PXF_RRU6:
        rd_reg = rs1_reg = true;
        if (i.rs2 > 63)
            return fail(err, errlen, "%u: shift/bit immediate %u out of range 0..63", i.op, i.rs2);
        break;
    case PXF_RRS8: case PXF_RRU8: rd_reg = rs1_reg = true; break;
    case PXF_RS16: case PXF_RU16: rd_reg = true; break;
    case PXF_LOAD: rd_reg = rs1_reg = true; rs2_zero = true; break;
    case PXF_STORE: rd_zero = true; rs1_reg = rs2_reg = true; break;
    case PXF_J: rd_zero = true; break;
    case PXF_RJ: rd_reg = true; break;
    default: return fail(err, errlen, "opcode %u: bad form %u", i.op, info->form);
    }
    if ((rd_reg && i.rd >= PIXEL_NREGS) || (rs1_reg && i.rs1 >= PIXEL_NREGS) ||
        (rs2_reg && i.rs2 >= PIXEL_NREGS))
        return fail(err, errlen, "opcode %u (%s): register number >= 32 in %08x", i.op,
                    info->name, pixel_insn_word(i));
    if ((rd_zero && i.rd) || (rs1_zero && i.rs1) || (rs2_zero && i.rs2))
        return fail(err, errlen, "opcode %u (%s): unused field not 0 in %08x", i.op,
                    info->name, pixel_insn_word(i));
    return fail(err, errlen, "opcode %u (%s): malformed %08x", i.op, info->name, pixel_insn_word(i));
}

bool pixel_prog_valid(const struct pixel_insn *p, size_t n, char *err, size_t errlen)
{
    char sub[160];
    if (n > PIXEL_MAX_INSNS)
        return fail(err, errlen, "program of %u instructions exceeds the limit %u", (unsigned)n,
                    PIXEL_MAX_INSNS);
    for (size_t k = 0; k < n; k++) {
        if (!pixel_insn_valid(p[k], sub, sizeof sub)) {
            if (err && errlen)
                snprintf(err, errlen, "instruction %zu: %s", k, sub);
            return false;
        }
        const struct pixel_opinfo *info = pixel_opinfo(p[k].op);
        if (info->form == PXF_J || info->form == PXF_RJ) {
            long target = (long)k + 1 + pixel_insn_off16(p[k]);
            if (target < 0 || target > (long)n) {
                if (err && errlen)
                    snprintf(err, errlen, "instruction %u (%s): jump target %ld outside 0..%u",
                             (unsigned)k, info->name, target, (unsigned)n);
                return false;
            }
        }
    }
    return true;
}

int pixel_decode(const uint8_t *bytes, size_t len, struct pixel_insn *out, size_t max,
                 char *err, size_t errlen)
{
    if (len % PIXEL_INSN_BYTES) {
        if (err && errlen)
            snprintf(err, errlen, "microcode length %zu is not a multiple of 4", len);
        return -1;
    }
    size_t n = len / PIXEL_INSN_BYTES;
    if (n > max || n > PIXEL_MAX_INSNS) {
        if (err && errlen)
            snprintf(err, errlen, "microcode of %zu instructions exceeds capacity %zu (limit %u)", n,
                     max, PIXEL_MAX_INSNS);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        const uint8_t *b = bytes + k * PIXEL_INSN_BYTES;
        out[k] = (struct pixel_insn){ b[0], b[1], b[2], b[3] };
    }
    if (!pixel_prog_valid(out, n, err, errlen))
        return -1;
    return (int)n;
}

void pixel_encode(const struct pixel_insn *in, size_t n, uint8_t *bytes)
{
    for (size_t k = 0; k < n; k++) {
        bytes[4 * k] = in[k].op;
        bytes[4 * k + 1] = in[k].rd;
        bytes[4 * k + 2] = in[k].rs1;
        bytes[4 * k + 3] = in[k].rs2;
    }
}

static const char *form_syntax(enum pixel_form f)
{
    static const char *const s[PXF_COUNT] = {
        "", "Rd, Rs1", "Rd, Rs1, Rs2", "Rd, Rs1, imm6", "Rd, Rs1, simm8", "Rd, Rs1, imm8",
        "Rd, simm16", "Rd, imm16", "Rd, [Rs1]", "[Rs1], Rs2", "off16", "Rd, off16",
    };
    return (unsigned)f < PXF_COUNT ? s[f] : "?";
}

size_t pixel_isa_markdown(char *buf, size_t len)
{
    size_t total = 0;
    char line[320];
#define EMIT(...)                                                              \
    do {                                                                       \
        int m_ = snprintf(line, sizeof line, __VA_ARGS__);                     \
        if (m_ > 0) {                                                          \
            if (buf && total + (size_t)m_ < len)                               \
                memcpy(buf + total, line, (size_t)m_ + 1);                     \
            total += (size_t)m_;                                               \
        }                                                                      \
    } while (0)
    if (buf && len)
        buf[0] = 0;
    EMIT("| code | mnemonic | operands | semantics |\n");
    EMIT("|---:|---|---|---|\n");
    for (int op = 0; op < 256; op++) {
        const struct pixel_opinfo *o = &opinfo_table[op];
        if (!o->name)
            continue;
        char doc[200];
        size_t k = 0;
        for (const char *p = o->doc; *p && k + 3 < sizeof doc; p++) {
            if (*p == '|')
                doc[k++] = '\\';
            doc[k++] = *p;
        }
        doc[k] = 0;
        EMIT("| %d | `%s` | %s | %s |\n", op, o->name, form_syntax((enum pixel_form)o->form), doc);
    }
#undef EMIT
    return total;
}
