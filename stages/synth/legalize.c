/* legalize.c — core-only mode: every extension opcode rewritten into the
 * seeds' 20-opcode core (sir.h sir_legalize_core).
 *
 * ONE table (`expanders[]`, indexed by opcode) says how each extension is
 * expressed with MOV ADD SUB AND OR XOR NOT SHL SHR (constants are built
 * from nothing: XOR x,x → 0, NOT → -1, 0 - (-1) → 1, then double-and-add).
 * Opcodes without an entry cannot be expressed and make the block
 * inexpressible in core-only mode, with the reason:
 *   - sub-64-bit loads and stores (LD8..LD32, LDS*, ST8..ST32): the core's
 *     LOAD/STORE move 8 bytes, which would read or write bytes the x86
 *     block does not touch (a fault or a clobber x86 would not make);
 *   - MULHU/MULHS (the high half of a 128-bit product), POPCNT, CLZ, CTZ,
 *     BSWAP, BSWAP32: not expanded (possible with long sequences, not done).
 */
#include "sir.h"

#include <stdio.h>
#include <string.h>

#define NONE SIR_NONE

struct lz {
    struct sir_prog *out;
};

static uint16_t op3(struct lz *z, uint8_t op, uint16_t a, uint16_t b)
{
    uint16_t d = sir_newv(z->out);
    sir_emit(z->out, op, d, a, b, 0);
    return d;
}
static uint16_t op2(struct lz *z, uint8_t op, uint16_t a)
{
    uint16_t d = sir_newv(z->out);
    sir_emit(z->out, op, d, a, NONE, 0);
    return d;
}
static void fin(struct lz *z, uint16_t rd, uint16_t v) { sir_emit(z->out, PX_MOV, rd, v, NONE, 0); }

/* XOR of any register with itself is 0 (R0 is always defined). */
static uint16_t zero(struct lz *z) { return op3(z, PX_XOR, 0, 0); }
static uint16_t one(struct lz *z) { uint16_t zz = zero(z); return op3(z, PX_SUB, zz, op2(z, PX_NOT, zz)); }
static uint16_t konst(struct lz *z, uint64_t v)
{
    if (v == 0)
        return zero(z);
    if (v == ~0ull)
        return op2(z, PX_NOT, zero(z));
    uint16_t o = one(z), acc = o;
    int top = 63 - __builtin_clzll(v);
    for (int i = top - 1; i >= 0; i--) {
        acc = op3(z, PX_ADD, acc, acc);
        if ((v >> i) & 1)
            acc = op3(z, PX_ADD, acc, o);
    }
    return acc;
}
static uint16_t nz01(struct lz *z, uint16_t a)   /* a != 0 ? 1 : 0 */
{
    uint16_t t = op3(z, PX_OR, a, op3(z, PX_SUB, zero(z), a));
    return op3(z, PX_SHR, t, konst(z, 63));
}
static uint16_t ltu01(struct lz *z, uint16_t a, uint16_t b)
{
    uint16_t t1 = op3(z, PX_AND, op2(z, PX_NOT, a), b);
    uint16_t t2 = op3(z, PX_AND, op2(z, PX_NOT, op3(z, PX_XOR, a, b)), op3(z, PX_SUB, a, b));
    return op3(z, PX_SHR, op3(z, PX_OR, t1, t2), konst(z, 63));
}
static uint16_t lts01(struct lz *z, uint16_t a, uint16_t b)
{
    uint16_t s = konst(z, 1ull << 63);
    return ltu01(z, op3(z, PX_XOR, a, s), op3(z, PX_XOR, b, s));
}
static uint16_t sar(struct lz *z, uint16_t a, uint16_t n)
{
    uint16_t m = op3(z, PX_SUB, zero(z), op3(z, PX_SHR, a, konst(z, 63)));
    return op3(z, PX_XOR, op3(z, PX_SHR, op3(z, PX_XOR, a, m), n), m);
}
static uint16_t rot(struct lz *z, uint16_t a, uint16_t n, bool left)
{
    uint16_t back = op3(z, PX_SUB, konst(z, 64), n);
    return op3(z, PX_OR, op3(z, left ? PX_SHL : PX_SHR, a, n), op3(z, left ? PX_SHR : PX_SHL, a, back));
}
static uint16_t mask(struct lz *z, uint16_t a, uint64_t m) { return op3(z, PX_AND, a, konst(z, m)); }
static uint16_t sext(struct lz *z, uint16_t a, unsigned bits)
{
    uint16_t s = konst(z, 1ull << (bits - 1));
    return op3(z, PX_SUB, op3(z, PX_XOR, mask(z, a, (1ull << bits) - 1), s), s);
}
static uint16_t cmov(struct lz *z, uint16_t d, uint16_t c, uint16_t b, bool when_nz)
{
    uint16_t t = nz01(z, c);
    if (!when_nz)
        t = op3(z, PX_XOR, t, one(z));
    uint16_t m = op3(z, PX_SUB, zero(z), t);
    return op3(z, PX_OR, op3(z, PX_AND, b, m), op3(z, PX_AND, d, op2(z, PX_NOT, m)));
}
static uint16_t ins(struct lz *z, uint16_t d, uint16_t a, unsigned pos, unsigned width)
{
    uint64_t low = (1ull << width) - 1;
    uint16_t put = mask(z, a, low);
    if (pos)
        put = op3(z, PX_SHL, put, konst(z, pos));
    return op3(z, PX_OR, mask(z, d, ~(low << pos)), put);
}

static int64_t sx(int64_t v, unsigned bits) { return (int64_t)px_sext((uint64_t)v, bits); }

/* Returns the value register, or NONE when the opcode has no expansion. */
static uint16_t expand(struct lz *z, const struct sir *s)
{
    uint16_t a = s->a, b = s->b, d = s->rd;
    int64_t imm = s->imm;
    switch (s->op) {
    case PX_LDI: return konst(z, (uint64_t)sx(imm, 16));
    case PX_LDHI: return op3(z, PX_OR, op3(z, PX_SHL, d, konst(z, 16)), konst(z, (uint64_t)imm & 0xffff));
    case PX_ADDI: return op3(z, PX_ADD, a, konst(z, (uint64_t)sx(imm, 8)));
    case PX_ANDI: return op3(z, PX_AND, a, konst(z, (uint64_t)imm & 0xff));
    case PX_ORI: return op3(z, PX_OR, a, konst(z, (uint64_t)imm & 0xff));
    case PX_XORI: return op3(z, PX_XOR, a, konst(z, (uint64_t)imm & 0xff));
    case PX_SHLI: return op3(z, PX_SHL, a, konst(z, (uint64_t)imm & 63));
    case PX_SHRI: return op3(z, PX_SHR, a, konst(z, (uint64_t)imm & 63));
    case PX_SARI: return sar(z, a, konst(z, (uint64_t)imm & 63));
    case PX_SAR: return sar(z, a, b);
    case PX_ROLI: return rot(z, a, konst(z, (uint64_t)imm & 63), true);
    case PX_RORI: return rot(z, a, konst(z, (uint64_t)imm & 63), false);
    case PX_ROL: return rot(z, a, mask(z, b, 63), true);
    case PX_ROR: return rot(z, a, mask(z, b, 63), false);
    case PX_NEG: return op3(z, PX_SUB, zero(z), a);
    case PX_ZEXT8: return mask(z, a, 0xff);
    case PX_ZEXT16: return mask(z, a, 0xffff);
    case PX_ZEXT32: return mask(z, a, 0xffffffffull);
    case PX_SEXT8: return sext(z, a, 8);
    case PX_SEXT16: return sext(z, a, 16);
    case PX_SEXT32: return sext(z, a, 32);
    case PX_CMPEQZ: return op3(z, PX_XOR, nz01(z, a), one(z));
    case PX_CMPEQ: return op3(z, PX_XOR, nz01(z, op3(z, PX_XOR, a, b)), one(z));
    case PX_CMPNE: return nz01(z, op3(z, PX_XOR, a, b));
    case PX_CMPLTU: return ltu01(z, a, b);
    case PX_CMPLEU: return op3(z, PX_XOR, ltu01(z, b, a), one(z));
    case PX_CMPLTS: return lts01(z, a, b);
    case PX_CMPLES: return op3(z, PX_XOR, lts01(z, b, a), one(z));
    case PX_BIT: return op3(z, PX_AND, op3(z, PX_SHR, a, konst(z, (uint64_t)imm & 63)), one(z));
    case PX_CMOVNZ: return cmov(z, d, a, b, true);
    case PX_CMOVZ: return cmov(z, d, a, b, false);
    case PX_INS8: return ins(z, d, a, 0, 8);
    case PX_INS16: return ins(z, d, a, 0, 16);
    case PX_INS8H: return ins(z, d, a, 8, 8);
    case PX_EXT8H: return mask(z, op3(z, PX_SHR, a, konst(z, 8)), 0xff);
    case PX_PARITY: {
        uint16_t t = mask(z, a, 0xff);
        t = op3(z, PX_XOR, t, op3(z, PX_SHR, t, konst(z, 4)));
        t = op3(z, PX_XOR, t, op3(z, PX_SHR, t, konst(z, 2)));
        t = op3(z, PX_XOR, t, op3(z, PX_SHR, t, konst(z, 1)));
        uint16_t o = one(z);
        return op3(z, PX_XOR, op3(z, PX_AND, t, o), o);
    }
    default:
        return NONE;
    }
}

int sir_legalize_core(struct sir_prog *p, char *err, size_t errlen)
{
    static struct sir_prog out;
    sir_init(&out);
    out.nextv = p->nextv;
    struct lz z = { &out };
    for (size_t i = 0; i < p->n; i++) {
        const struct sir *s = &p->v[i];
        if (s->op < PIXEL_CORE_LIMIT || s->op == PX_HALT) {
            sir_emit(&out, s->op, s->rd, s->a, s->b, s->imm);
            continue;
        }
        uint16_t v = expand(&z, s);
        if (v == NONE) {
            const char *why = pixel_op_kind(s->op) == PXK_LOAD || pixel_op_kind(s->op) == PXK_STORE
                ? "the core's LOAD/STORE move 8 bytes, more than the x86 access touches"
                : "no core expansion";
            snprintf(err, errlen, "not expressible in the 20-opcode core: %s (%s)",
                     pixel_opinfo(s->op)->name, why);
            return -1;
        }
        fin(&z, s->rd, v);
    }
    if (out.overflow) {
        snprintf(err, errlen, "core: the expansion needs more than %d instructions", SIR_MAX);
        return -1;
    }
    memcpy(p->v, out.v, out.n * sizeof out.v[0]);
    p->n = out.n;
    p->nextv = out.nextv;
    return 0;
}
