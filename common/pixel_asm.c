/* pixel_asm.c — text assembler and disassembler (pixel_asm.h), driven by
 * the operand form of each opcode in PIXEL_OPCODES. */
#include "pixel_asm.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int pixel_disasm_insn(struct pixel_insn i, char *buf, size_t len)
{
    const struct pixel_opinfo *o = pixel_opinfo(i.op);
    if (!pixel_insn_valid(i, NULL, 0))
        return snprintf(buf, len, ".word 0x%08x", pixel_insn_word(i));
    switch ((enum pixel_form)o->form) {
    case PXF_NONE: return snprintf(buf, len, "%s", o->name);
    case PXF_RR: return snprintf(buf, len, "%s R%u, R%u", o->name, i.rd, i.rs1);
    case PXF_RRR: return snprintf(buf, len, "%s R%u, R%u, R%u", o->name, i.rd, i.rs1, i.rs2);
    case PXF_RRU6: case PXF_RRU8:
        return snprintf(buf, len, "%s R%u, R%u, %u", o->name, i.rd, i.rs1, i.rs2);
    case PXF_RRS8:
        return snprintf(buf, len, "%s R%u, R%u, %d", o->name, i.rd, i.rs1, (int)(int8_t)i.rs2);
    case PXF_RS16: return snprintf(buf, len, "%s R%u, %d", o->name, i.rd, (int)pixel_insn_off16(i));
    case PXF_RU16:
        return snprintf(buf, len, "%s R%u, 0x%x", o->name, i.rd, (unsigned)(i.rs1 | i.rs2 << 8));
    case PXF_LOAD: return snprintf(buf, len, "%s R%u, [R%u]", o->name, i.rd, i.rs1);
    case PXF_STORE: return snprintf(buf, len, "%s [R%u], R%u", o->name, i.rs1, i.rs2);
    case PXF_J: return snprintf(buf, len, "%s %+d", o->name, (int)pixel_insn_off16(i));
    case PXF_RJ: return snprintf(buf, len, "%s R%u, %+d", o->name, i.rd, (int)pixel_insn_off16(i));
    default: return snprintf(buf, len, ".word 0x%08x", pixel_insn_word(i));
    }
}

size_t pixel_disasm(const struct pixel_insn *prog, size_t n, char *buf, size_t len)
{
    size_t total = 0;
    char line[96];
    for (size_t k = 0; k < n; k++) {
        int m = pixel_disasm_insn(prog[k], line, sizeof line);
        if (m < 0)
            m = 0;
        if (buf && total + (size_t)m + 1 < len) {
            memcpy(buf + total, line, (size_t)m);
            buf[total + (size_t)m] = '\n';
            buf[total + (size_t)m + 1] = 0;
        }
        total += (size_t)m + 1;
    }
    if (buf && len && total >= len)
        buf[len - 1] = 0;
    if (buf && len && n == 0)
        buf[0] = 0;
    return total;
}

/* ---- assembler ---------------------------------------------------------- */

#define ASM_MAX_LABELS 256
#define ASM_LABEL_LEN 48

struct asm_ctx {
    char labels[ASM_MAX_LABELS][ASM_LABEL_LEN];
    uint32_t label_at[ASM_MAX_LABELS];
    unsigned nlabels;
    unsigned line;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int asm_fail(struct asm_ctx *a, const char *fmt, ...)
{
    if (a->err && a->errlen) {
        int m = snprintf(a->err, a->errlen, "line %u: ", a->line);
        va_list ap;
        va_start(ap, fmt);
        if (m >= 0 && (size_t)m < a->errlen)
            vsnprintf(a->err + m, a->errlen - (size_t)m, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1]))
        s[--l] = 0;
    return s;
}

static int parse_reg(const char *t)
{
    static const char *const alias[][2] = {
        { "RAX", "0" }, { "RCX", "1" }, { "RDX", "2" }, { "RBX", "3" }, { "RSP", "4" },
        { "RBP", "5" }, { "RSI", "6" }, { "RDI", "7" }, { "CF", "16" }, { "PF", "17" },
        { "AF", "18" }, { "ZF", "19" }, { "SF", "20" }, { "OF", "21" }, { "RIP", "22" },
        { "DF", "23" },
    };
    for (size_t k = 0; k < sizeof alias / sizeof alias[0]; k++)
        if (strcasecmp(t, alias[k][0]) == 0)
            return atoi(alias[k][1]);
    if ((t[0] != 'R' && t[0] != 'r') || !isdigit((unsigned char)t[1]))
        return -1;
    char *end;
    long v = strtol(t + 1, &end, 10);
    if (*end || v < 0 || v >= PIXEL_NREGS || (t[1] == '0' && t[2]))
        return -1;
    return (int)v;
}

static bool parse_int(const char *t, long lo, long hi, long *out)
{
    if (!*t)
        return false;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 0);
    if (*end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int find_label(const struct asm_ctx *a, const char *name)
{
    for (unsigned k = 0; k < a->nlabels; k++)
        if (strcmp(a->labels[k], name) == 0)
            return (int)k;
    return -1;
}

/* Splits "OP a, b, c" into mnemonic and up to 3 operands; returns the
 * operand count or -1. */
static int split(char *s, char **mn, char *ops[3])
{
    *mn = s;
    while (*s && !isspace((unsigned char)*s))
        s++;
    if (*s)
        *s++ = 0;
    s = trim(s);
    if (!*s)
        return 0;
    int n = 0;
    for (;;) {
        char *comma = strchr(s, ',');
        if (n == 3)
            return -1;
        if (comma)
            *comma = 0;
        ops[n++] = trim(s);
        if (!comma)
            return n;
        s = comma + 1;
    }
}

static int want_reg(struct asm_ctx *a, const char *t, const char *what, uint8_t *out)
{
    int r = parse_reg(t);
    if (r < 0)
        return asm_fail(a, "%s: '%s' is not a register (R0..R31 or an alias)", what, t);
    *out = (uint8_t)r;
    return 0;
}

static int want_mem(struct asm_ctx *a, char *t, uint8_t *out)
{
    size_t l = strlen(t);
    if (l < 3 || t[0] != '[' || t[l - 1] != ']')
        return asm_fail(a, "memory operand '%s' must be [Rn]", t);
    t[l - 1] = 0;
    return want_reg(a, trim(t + 1), "address", out);
}

static int want_off(struct asm_ctx *a, const char *t, uint32_t at, struct pixel_insn *i)
{
    long v;
    int lab = find_label(a, t);
    if (lab >= 0)
        v = (long)a->label_at[lab] - ((long)at + 1);
    else if (!parse_int(t, -32768, 32767, &v))
        return asm_fail(a, "jump operand '%s' is neither a label nor an offset in -32768..32767", t);
    if (v < -32768 || v > 32767)
        return asm_fail(a, "label '%s' is too far (offset %ld)", t, v);
    uint16_t u = (uint16_t)(int16_t)v;
    i->rs1 = (uint8_t)u;
    i->rs2 = (uint8_t)(u >> 8);
    return 0;
}

static int asm_insn(struct asm_ctx *a, char *s, uint32_t at, struct pixel_insn *out)
{
    char *mn, *ops[3] = { 0 };
    int nops = split(s, &mn, ops);
    int op = pixel_opcode_by_name(mn);
    if (op < 0)
        return asm_fail(a, "unknown mnemonic '%s'", mn);
    const struct pixel_opinfo *o = pixel_opinfo((uint8_t)op);
    static const int nwant[PXF_COUNT] = { 0, 2, 3, 3, 3, 3, 2, 2, 2, 2, 1, 2 };
    if (nops != nwant[o->form])
        return asm_fail(a, "%s takes %d operand(s) (%s), got %d", o->name, nwant[o->form],
                        pixel_form_name((enum pixel_form)o->form), nops < 0 ? 4 : nops);
    struct pixel_insn i = { (uint8_t)op, 0, 0, 0 };
    long v;
    switch ((enum pixel_form)o->form) {
    case PXF_NONE:
        break;
    case PXF_RR:
        if (want_reg(a, ops[0], "rd", &i.rd) || want_reg(a, ops[1], "rs1", &i.rs1))
            return -1;
        break;
    case PXF_RRR:
        if (want_reg(a, ops[0], "rd", &i.rd) || want_reg(a, ops[1], "rs1", &i.rs1) ||
            want_reg(a, ops[2], "rs2", &i.rs2))
            return -1;
        break;
    case PXF_RRU6: case PXF_RRS8: case PXF_RRU8: {
        long lo = o->form == PXF_RRS8 ? -128 : 0;
        long hi = o->form == PXF_RRU6 ? 63 : o->form == PXF_RRS8 ? 127 : 255;
        if (want_reg(a, ops[0], "rd", &i.rd) || want_reg(a, ops[1], "rs1", &i.rs1))
            return -1;
        if (!parse_int(ops[2], lo, hi, &v))
            return asm_fail(a, "%s: immediate '%s' is not an integer in %ld..%ld", o->name, ops[2],
                            lo, hi);
        i.rs2 = (uint8_t)v;
        break;
    }
    case PXF_RS16: case PXF_RU16: {
        long lo = o->form == PXF_RS16 ? -32768 : 0, hi = o->form == PXF_RS16 ? 32767 : 65535;
        if (want_reg(a, ops[0], "rd", &i.rd))
            return -1;
        if (!parse_int(ops[1], lo, hi, &v))
            return asm_fail(a, "%s: immediate '%s' is not an integer in %ld..%ld", o->name, ops[1],
                            lo, hi);
        uint16_t u = (uint16_t)v;
        i.rs1 = (uint8_t)u;
        i.rs2 = (uint8_t)(u >> 8);
        break;
    }
    case PXF_LOAD:
        if (want_reg(a, ops[0], "rd", &i.rd) || want_mem(a, ops[1], &i.rs1))
            return -1;
        break;
    case PXF_STORE:
        if (want_mem(a, ops[0], &i.rs1) || want_reg(a, ops[1], "rs2", &i.rs2))
            return -1;
        break;
    case PXF_J:
        if (want_off(a, ops[0], at, &i))
            return -1;
        break;
    case PXF_RJ:
        if (want_reg(a, ops[0], "condition", &i.rd) || want_off(a, ops[1], at, &i))
            return -1;
        break;
    default:
        return asm_fail(a, "%s: unsupported form", o->name);
    }
    *out = i;
    return 0;
}

/* Strips the comment, the label definition (recorded in pass 1) and
 * surrounding space from one line in place; returns the instruction text
 * (possibly empty). */
static char *strip_line(struct asm_ctx *a, char *s, bool pass1, uint32_t at, int *rc)
{
    *rc = 0;
    for (char *p = s; *p; p++)
        if (*p == ';' || *p == '#' || (p[0] == '/' && p[1] == '/')) {
            *p = 0;
            break;
        }
    s = trim(s);
    char *colon = strchr(s, ':');
    if (colon) {
        *colon = 0;
        char *name = trim(s);
        bool ok = *name && (isalpha((unsigned char)*name) || *name == '_');
        for (char *p = name; *p; p++)
            ok = ok && (isalnum((unsigned char)*p) || *p == '_');
        if (!ok || strlen(name) >= ASM_LABEL_LEN) {
            *rc = asm_fail(a, "bad label '%s'", name);
            return s;
        }
        if (pass1) {
            if (find_label(a, name) >= 0) {
                *rc = asm_fail(a, "label '%s' defined twice", name);
                return s;
            }
            if (a->nlabels == ASM_MAX_LABELS) {
                *rc = asm_fail(a, "more than %d labels", ASM_MAX_LABELS);
                return s;
            }
            snprintf(a->labels[a->nlabels], ASM_LABEL_LEN, "%s", name);
            a->label_at[a->nlabels++] = at;
        }
        s = trim(colon + 1);
    }
    return s;
}

int pixel_asm(const char *text, struct pixel_insn *out, size_t max, char *err, size_t errlen)
{
    struct asm_ctx *a = calloc(1, sizeof *a);
    if (!a) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->err = err;
    a->errlen = errlen;
    int result = -1;
    for (int pass = 1; pass <= 2; pass++) {
        uint32_t at = 0;
        a->line = 0;
        const char *p = text;
        while (*p) {
            const char *eol = strchr(p, '\n');
            size_t l = eol ? (size_t)(eol - p) : strlen(p);
            char buf[256];
            a->line++;
            if (l >= sizeof buf) {
                asm_fail(a, "line longer than %zu characters", sizeof buf - 1);
                goto done;
            }
            memcpy(buf, p, l);
            buf[l] = 0;
            p += l + (eol ? 1 : 0);
            int rc;
            char *s = strip_line(a, buf, pass == 1, at, &rc);
            if (rc)
                goto done;
            if (!*s)
                continue;
            if (at >= max || at >= PIXEL_MAX_INSNS) {
                asm_fail(a, "more than %zu instructions", max < PIXEL_MAX_INSNS ? max : PIXEL_MAX_INSNS);
                goto done;
            }
            if (pass == 2 && asm_insn(a, s, at, &out[at]))
                goto done;
            at++;
        }
        if (pass == 2)
            result = (int)at;
    }
done:
    free(a);
    return result;
}
