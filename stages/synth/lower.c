/* lower.c — x86 → synthesis IR, one lowerer per semantic operation (lower.h).
 *
 * Values are kept in virtual registers zero-extended from their operand
 * width (the "w-bit value" of a helper), which makes the flag formulas
 * uniform.  Every lowerer mirrors its lifter in common/x86_sem.c (the
 * reference semantics); the equivalence proof of every form is the test. */
#include "lower.h"

#include <stdio.h>
#include <string.h>

#include "x86_forms.h"

#define NONE SIR_NONE
#define FLAG(f) ((uint16_t)PIXEL_REG_FLAG(f))
#define RIP ((uint16_t)PIXEL_REG_RIP)

struct lw {
    struct sir_prog *p;
    const struct x86_insn *in;
    const struct x86_form *form;
    uint32_t next_off;          /* bytes from the block start to the next instruction */
    bool terminated;
    char *err;
    size_t errlen;
    int failed;
};

static void lfail(struct lw *l, const char *why)
{
    if (!l->failed)
        snprintf(l->err, l->errlen, "lower at %#llx (%s): %s", (unsigned long long)l->in->pc,
                 l->in->text[0] ? l->in->text : l->in->mnemonic, why);
    l->failed = 1;
}

/* ---- emit helpers ------------------------------------------------------- */

static uint16_t e(struct lw *l, uint8_t op, uint16_t a, uint16_t b, int32_t imm)
{
    uint16_t d = sir_newv(l->p);
    sir_emit(l->p, op, d, a, b, imm);
    return d;
}
static uint16_t e3(struct lw *l, uint8_t op, uint16_t a, uint16_t b) { return e(l, op, a, b, 0); }
static uint16_t e2(struct lw *l, uint8_t op, uint16_t a) { return e(l, op, a, NONE, 0); }
static uint16_t ei(struct lw *l, uint8_t op, uint16_t a, int32_t imm) { return e(l, op, a, NONE, imm); }
static void to(struct lw *l, uint8_t op, uint16_t rd, uint16_t a, uint16_t b, int32_t imm)
{
    sir_emit(l->p, op, rd, a, b, imm);
}

/* A 64-bit constant: LDI of the top chunk, then LDHI per lower 16 bits. */
static uint16_t konst(struct lw *l, uint64_t v)
{
    unsigned k = 1;
    while (k < 4 && (uint64_t)px_sext(v, 16 * k) != v)
        k++;
    uint16_t d = sir_newv(l->p);
    sir_emit(l->p, PX_LDI, d, NONE, NONE, (int32_t)(int16_t)(uint16_t)(v >> (16 * (k - 1))));
    for (unsigned i = k - 1; i-- > 0;)
        sir_emit(l->p, PX_LDHI, d, NONE, NONE, (int32_t)((v >> (16 * i)) & 0xffff));
    return d;
}
static uint16_t addk(struct lw *l, uint16_t a, int64_t k)
{
    if (k == 0)
        return e2(l, PX_MOV, a);
    if (k >= -128 && k <= 127)
        return ei(l, PX_ADDI, a, (int32_t)k);
    return e3(l, PX_ADD, a, konst(l, (uint64_t)k));
}
static uint64_t mask_of(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }
/* Low `bits` of a, zero-extended. */
static uint16_t trunc_(struct lw *l, uint16_t a, unsigned bits)
{
    switch (bits) {
    case 8: return e2(l, PX_ZEXT8, a);
    case 16: return e2(l, PX_ZEXT16, a);
    case 32: return e2(l, PX_ZEXT32, a);
    default: return a;
    }
}
static uint16_t sext_(struct lw *l, uint16_t a, unsigned bits)
{
    switch (bits) {
    case 8: return e2(l, PX_SEXT8, a);
    case 16: return e2(l, PX_SEXT16, a);
    case 32: return e2(l, PX_SEXT32, a);
    default: return a;
    }
}
static uint16_t bit_(struct lw *l, uint16_t a, unsigned i) { return ei(l, PX_BIT, a, (int32_t)i); }
static uint16_t not01(struct lw *l, uint16_t a) { return ei(l, PX_XORI, a, 1); }

/* ---- operands ------------------------------------------------------------ */

static uint16_t read_gpr(struct lw *l, unsigned reg, bool high8, unsigned bits)
{
    if (high8)
        return e2(l, PX_EXT8H, (uint16_t)reg);
    if (bits == 64)
        return e2(l, PX_MOV, (uint16_t)reg);   /* a copy: the register may be written later */
    return trunc_(l, (uint16_t)reg, bits);
}

static void write_gpr(struct lw *l, unsigned reg, bool high8, unsigned bits, uint16_t v)
{
    uint8_t op = bits == 64 ? PX_MOV : bits == 32 ? PX_ZEXT32 : bits == 16 ? PX_INS16
               : high8 ? PX_INS8H : PX_INS8;
    to(l, op, (uint16_t)reg, v, NONE, 0);
}

static uint16_t ea(struct lw *l, const struct x86_operand *op)
{
    uint16_t a = NONE;
    int64_t disp = op->disp;
    if (op->rip_relative) {
        a = RIP;
        disp += l->next_off;
    }
    if (op->base >= 0)
        a = a == NONE ? (uint16_t)op->base : e3(l, PX_ADD, a, (uint16_t)op->base);
    if (op->index >= 0) {
        uint16_t ix = (uint16_t)op->index;
        static const int8_t sh[9] = { -1, 0, 1, -1, 2, -1, -1, -1, 3 };
        if (op->scale > 1)
            ix = ei(l, PX_SHLI, ix, sh[op->scale & 15]);
        a = a == NONE ? ix : e3(l, PX_ADD, a, ix);
    }
    if (a == NONE)
        return konst(l, (uint64_t)disp);
    return addk(l, a, disp);
}

static uint16_t load(struct lw *l, uint16_t addr, unsigned bytes)
{
    uint8_t op = bytes == 1 ? PX_LD8 : bytes == 2 ? PX_LD16 : bytes == 4 ? PX_LD32 : PX_LOAD;
    return e2(l, op, addr);
}
static void store(struct lw *l, uint16_t addr, uint16_t v, unsigned bytes)
{
    uint8_t op = bytes == 1 ? PX_ST8 : bytes == 2 ? PX_ST16 : bytes == 4 ? PX_ST32 : PX_STORE;
    sir_emit(l->p, op, NONE, addr, v, 0);
}

/* Value of operand k, zero-extended from `bits` (immediates truncated). */
static uint16_t rd_op(struct lw *l, unsigned k, unsigned bits)
{
    const struct x86_operand *op = &l->in->op[k];
    switch (op->kind) {
    case X86_OK_R8: case X86_OK_R16: case X86_OK_R32: case X86_OK_R64: case X86_OK_CL: {
        unsigned b = op->kind == X86_OK_CL ? 8 : op->bits;
        uint16_t v = read_gpr(l, op->reg, op->high8, b);
        return bits < b ? trunc_(l, v, bits) : v;
    }
    case X86_OK_M8: case X86_OK_M16: case X86_OK_M32: case X86_OK_M64: {
        uint16_t v = load(l, ea(l, op), op->bits / 8);
        return bits < op->bits ? trunc_(l, v, bits) : v;
    }
    case X86_OK_I: case X86_OK_ONE: case X86_OK_REL:
        return konst(l, op->imm & mask_of(bits));
    default:
        lfail(l, "operand kind cannot be read");
        return konst(l, 0);
    }
}

static void wr_op(struct lw *l, unsigned k, uint16_t v)
{
    const struct x86_operand *op = &l->in->op[k];
    if (x86_opkind_is_reg((enum x86_opkind)op->kind))
        write_gpr(l, op->reg, op->high8, op->bits, v);
    else if (x86_opkind_is_mem((enum x86_opkind)op->kind))
        store(l, ea(l, op), v, op->bits / 8);
    else
        lfail(l, "operand kind cannot be written");
}

struct rmw { uint16_t addr, val; };
static struct rmw rmw_read(struct lw *l, unsigned k)
{
    const struct x86_operand *op = &l->in->op[k];
    struct rmw r = { NONE, NONE };
    if (x86_opkind_is_mem((enum x86_opkind)op->kind)) {
        r.addr = ea(l, op);
        r.val = load(l, r.addr, op->bits / 8);
    } else {
        r.val = rd_op(l, k, op->bits);
    }
    return r;
}
static void rmw_write(struct lw *l, unsigned k, const struct rmw *r, uint16_t v)
{
    if (r->addr != NONE)
        store(l, r->addr, v, l->in->op[k].bits / 8);
    else
        wr_op(l, k, v);
}

/* ---- flags --------------------------------------------------------------- */

static void setf(struct lw *l, unsigned f, uint16_t v) { to(l, PX_MOV, FLAG(f), v, NONE, 0); }
static void setf_k(struct lw *l, unsigned f, int v) { to(l, PX_LDI, FLAG(f), NONE, NONE, v); }
/* Flag f = cnt != 0 ? v : unchanged (shifts and rotates by a zero count). */
static void setf_unless0(struct lw *l, unsigned f, uint16_t cnt, uint16_t v)
{
    to(l, PX_CMOVNZ, FLAG(f), cnt, v, 0);
}

static uint16_t f_zf(struct lw *l, uint16_t rt) { return e2(l, PX_CMPEQZ, rt); }
static uint16_t f_sf(struct lw *l, uint16_t rt, unsigned w) { return bit_(l, rt, w - 1); }
static uint16_t f_pf(struct lw *l, uint16_t rt) { return e2(l, PX_PARITY, rt); }

static void set_szp(struct lw *l, uint16_t rt, unsigned w)
{
    setf(l, X86_ZF, f_zf(l, rt));
    setf(l, X86_SF, f_sf(l, rt, w));
    setf(l, X86_PF, f_pf(l, rt));
}

/* Flags of a ± b ± ci (a, b w-bit values, raw the 64-bit result of the
 * operation on them, ci a 0/1 register or NONE). Returns the w-bit result. */
static uint16_t arith_flags(struct lw *l, uint16_t a, uint16_t b, uint16_t raw, uint16_t ci,
                            bool is_sub, bool set_cf, unsigned w)
{
    uint16_t rt = trunc_(l, raw, w);
    if (set_cf) {
        uint16_t cf;
        if (w < 64) {
            cf = is_sub ? bit_(l, raw, 63) : bit_(l, raw, w);
        } else if (!is_sub) {
            cf = e3(l, PX_CMPLTU, rt, a);
            if (ci != NONE)
                cf = e3(l, PX_OR, cf, e3(l, PX_AND, ci, e3(l, PX_CMPEQ, rt, a)));
        } else {
            cf = e3(l, PX_CMPLTU, a, b);
            if (ci != NONE)
                cf = e3(l, PX_OR, cf, e3(l, PX_AND, ci, e3(l, PX_CMPEQ, a, b)));
        }
        setf(l, X86_CF, cf);
    }
    uint16_t of = is_sub ? e3(l, PX_AND, e3(l, PX_XOR, a, b), e3(l, PX_XOR, a, rt))
                         : e3(l, PX_AND, e3(l, PX_XOR, a, rt), e3(l, PX_XOR, b, rt));
    setf(l, X86_OF, bit_(l, of, w - 1));
    setf(l, X86_AF, bit_(l, e3(l, PX_XOR, e3(l, PX_XOR, a, b), rt), 4));
    set_szp(l, rt, w);
    return rt;
}

static void logic_flags(struct lw *l, uint16_t rt, unsigned w)
{
    setf_k(l, X86_CF, 0);
    setf_k(l, X86_OF, 0);
    /* AF is undefined: the register keeps its (0/1) value */
    set_szp(l, rt, w);
}

/* Condition code as a 0/1 register, from the flag registers. */
static uint16_t cond(struct lw *l, unsigned cc)
{
    uint16_t b;
    switch (cc >> 1) {
    case 0: b = e2(l, PX_MOV, FLAG(X86_OF)); break;
    case 1: b = e2(l, PX_MOV, FLAG(X86_CF)); break;
    case 2: b = e2(l, PX_MOV, FLAG(X86_ZF)); break;
    case 3: b = e3(l, PX_OR, FLAG(X86_CF), FLAG(X86_ZF)); break;
    case 4: b = e2(l, PX_MOV, FLAG(X86_SF)); break;
    case 5: b = e2(l, PX_MOV, FLAG(X86_PF)); break;
    case 6: b = e3(l, PX_XOR, FLAG(X86_SF), FLAG(X86_OF)); break;
    default: b = e3(l, PX_OR, FLAG(X86_ZF), e3(l, PX_XOR, FLAG(X86_SF), FLAG(X86_OF))); break;
    }
    return (cc & 1) ? not01(l, b) : b;
}

/* ---- lowerers ------------------------------------------------------------ */

static unsigned w0(struct lw *l) { return l->in->op[0].bits; }

static void lo_mov(struct lw *l) { wr_op(l, 0, rd_op(l, 1, w0(l))); }
static void lo_movzx(struct lw *l) { wr_op(l, 0, rd_op(l, 1, l->in->op[1].bits)); }
static void lo_movsx(struct lw *l)
{
    unsigned sb = l->in->op[1].bits;
    wr_op(l, 0, sext_(l, rd_op(l, 1, sb), sb));
}
static void lo_lea(struct lw *l) { wr_op(l, 0, ea(l, &l->in->op[1])); }

static void lo_arith(struct lw *l)
{
    enum x86_sem s = l->form->sem;
    unsigned w = w0(l);
    uint16_t ci = (s == X86_SEM_ADC || s == X86_SEM_SBB) ? e2(l, PX_MOV, FLAG(X86_CF)) : NONE;
    struct rmw d = rmw_read(l, 0);
    uint16_t b = rd_op(l, 1, w);
    bool is_sub = s == X86_SEM_SUB || s == X86_SEM_SBB || s == X86_SEM_CMP;
    uint16_t r = e3(l, is_sub ? PX_SUB : PX_ADD, d.val, b);
    if (ci != NONE)
        r = e3(l, is_sub ? PX_SUB : PX_ADD, r, ci);
    arith_flags(l, d.val, b, r, ci, is_sub, true, w);
    if (s != X86_SEM_CMP)
        rmw_write(l, 0, &d, r);
}

static void lo_logic(struct lw *l)
{
    enum x86_sem s = l->form->sem;
    unsigned w = w0(l);
    struct rmw d = rmw_read(l, 0);
    uint16_t b = rd_op(l, 1, w);
    uint16_t r = e3(l, s == X86_SEM_OR ? PX_OR : s == X86_SEM_XOR ? PX_XOR : PX_AND, d.val, b);
    logic_flags(l, r, w);
    if (s != X86_SEM_TEST)
        rmw_write(l, 0, &d, r);
}

static void lo_incdec(struct lw *l)
{
    unsigned w = w0(l);
    bool dec = l->form->sem == X86_SEM_DEC;
    struct rmw d = rmw_read(l, 0);
    uint16_t one = konst(l, 1);
    uint16_t r = e3(l, dec ? PX_SUB : PX_ADD, d.val, one);
    arith_flags(l, d.val, one, r, NONE, dec, false, w);
    rmw_write(l, 0, &d, r);
}

static void lo_neg(struct lw *l)
{
    unsigned w = w0(l);
    struct rmw d = rmw_read(l, 0);
    uint16_t zero = konst(l, 0);
    uint16_t r = e2(l, PX_NEG, d.val);
    arith_flags(l, zero, d.val, r, NONE, true, false, w);
    setf(l, X86_CF, e3(l, PX_CMPLTU, zero, d.val));
    rmw_write(l, 0, &d, r);
}

static void lo_not(struct lw *l)
{
    struct rmw d = rmw_read(l, 0);
    rmw_write(l, 0, &d, e2(l, PX_NOT, d.val));
}

static void lo_shift(struct lw *l)
{
    enum x86_sem s = l->form->sem;
    unsigned w = w0(l);
    struct rmw d = rmw_read(l, 0);
    uint16_t cnt = ei(l, PX_ANDI, rd_op(l, 1, 8), w == 64 ? 63 : 31);
    uint16_t a = d.val, r, cf, of;
    uint16_t cm1 = ei(l, PX_ADDI, cnt, -1);
    if (s == X86_SEM_SHL) {
        r = e3(l, PX_SHL, a, cnt);
        if (w < 64)
            cf = bit_(l, r, w);
        else
            cf = ei(l, PX_ANDI, e3(l, PX_SHR, a, e3(l, PX_SUB, konst(l, 64), cnt)), 1);
    } else if (s == X86_SEM_SHR) {
        r = e3(l, PX_SHR, a, cnt);
        cf = ei(l, PX_ANDI, e3(l, PX_SHR, a, cm1), 1);
    } else {
        uint16_t as = sext_(l, a, w);
        r = e3(l, PX_SAR, as, cnt);
        cf = ei(l, PX_ANDI, e3(l, PX_SAR, as, cm1), 1);
    }
    uint16_t rt = trunc_(l, r, w);
    if (s == X86_SEM_SHL)
        of = e3(l, PX_XOR, f_sf(l, rt, w), cf);
    else if (s == X86_SEM_SHR)
        of = bit_(l, a, w - 1);
    else
        of = konst(l, 0);
    setf_unless0(l, X86_CF, cnt, cf);
    setf_unless0(l, X86_OF, cnt, of);
    setf_unless0(l, X86_ZF, cnt, f_zf(l, rt));
    setf_unless0(l, X86_SF, cnt, f_sf(l, rt, w));
    setf_unless0(l, X86_PF, cnt, f_pf(l, rt));
    rmw_write(l, 0, &d, rt);
}

static void lo_rotate(struct lw *l)
{
    bool left = l->form->sem == X86_SEM_ROL;
    unsigned w = w0(l);
    struct rmw d = rmw_read(l, 0);
    uint16_t cnt = ei(l, PX_ANDI, rd_op(l, 1, 8), w == 64 ? 63 : 31);
    uint16_t a = d.val, r;
    if (w == 64) {
        r = e3(l, left ? PX_ROL : PX_ROR, a, cnt);
    } else {
        uint16_t rc = w == 32 ? cnt : ei(l, PX_ANDI, cnt, (int32_t)w - 1);
        uint16_t back = e3(l, PX_SUB, konst(l, w), rc);
        uint16_t hi = e3(l, left ? PX_SHL : PX_SHR, a, rc);
        uint16_t lo = e3(l, left ? PX_SHR : PX_SHL, a, back);
        r = trunc_(l, e3(l, PX_OR, hi, lo), w);
    }
    uint16_t cf = left ? ei(l, PX_ANDI, r, 1) : bit_(l, r, w - 1);
    uint16_t of = left ? e3(l, PX_XOR, bit_(l, r, w - 1), cf)
                       : e3(l, PX_XOR, bit_(l, r, w - 1), bit_(l, r, w - 2));
    setf_unless0(l, X86_CF, cnt, cf);
    setf_unless0(l, X86_OF, cnt, of);
    rmw_write(l, 0, &d, r);
}

static void lo_mul_wide(struct lw *l)
{
    bool sgn = l->form->sem == X86_SEM_IMUL1;
    unsigned w = w0(l);
    uint16_t src = rd_op(l, 0, w);
    uint16_t a = read_gpr(l, X86_RAX, false, w);
    uint16_t ovf;
    if (w == 64) {
        uint16_t low = e3(l, PX_MUL, a, src);
        uint16_t high = e3(l, sgn ? PX_MULHS : PX_MULHU, a, src);
        ovf = sgn ? e3(l, PX_CMPNE, high, ei(l, PX_SARI, low, 63)) : e3(l, PX_CMPLTU, konst(l, 0), high);
        write_gpr(l, X86_RAX, false, 64, low);
        write_gpr(l, X86_RDX, false, 64, high);
    } else {
        uint16_t p = sgn ? e3(l, PX_MUL, sext_(l, a, w), sext_(l, src, w)) : e3(l, PX_MUL, a, src);
        ovf = sgn ? e3(l, PX_CMPNE, p, sext_(l, p, w))
                  : e3(l, PX_CMPLTU, konst(l, mask_of(w)), trunc_(l, p, 2 * w));
        if (w == 8) {
            write_gpr(l, X86_RAX, false, 16, p);
        } else {
            write_gpr(l, X86_RAX, false, w, p);
            write_gpr(l, X86_RDX, false, w, ei(l, sgn ? PX_SARI : PX_SHRI, p, (int32_t)w));
        }
    }
    setf(l, X86_CF, ovf);
    setf(l, X86_OF, ovf);
}

static void lo_imul_trunc(struct lw *l)
{
    unsigned w = w0(l);
    uint16_t a, b;
    if (l->form->sem == X86_SEM_IMUL2) {
        a = rd_op(l, 0, w);
        b = rd_op(l, 1, w);
    } else {
        a = rd_op(l, 1, w);
        b = rd_op(l, 2, w);
    }
    uint16_t low, ovf;
    if (w == 64) {
        low = e3(l, PX_MUL, a, b);
        ovf = e3(l, PX_CMPNE, e3(l, PX_MULHS, a, b), ei(l, PX_SARI, low, 63));
    } else {
        low = e3(l, PX_MUL, sext_(l, a, w), sext_(l, b, w));
        ovf = e3(l, PX_CMPNE, low, sext_(l, low, w));
    }
    wr_op(l, 0, low);
    setf(l, X86_CF, ovf);
    setf(l, X86_OF, ovf);
}

static void lo_setcc(struct lw *l) { wr_op(l, 0, cond(l, l->form->cc)); }

static void lo_cmovcc(struct lw *l)
{
    unsigned w = w0(l);
    uint16_t src = rd_op(l, 1, w);
    uint16_t t = rd_op(l, 0, w);
    uint16_t dst = e2(l, PX_MOV, t);
    to(l, PX_CMOVNZ, dst, cond(l, l->form->cc), src, 0);
    wr_op(l, 0, dst);
}

static void lo_bswap(struct lw *l)
{
    unsigned w = w0(l);
    wr_op(l, 0, e2(l, w == 64 ? PX_BSWAP : PX_BSWAP32, rd_op(l, 0, w)));
}

static void lo_xchg(struct lw *l)
{
    struct rmw a = rmw_read(l, 0);
    uint16_t b = rd_op(l, 1, l->in->op[1].bits);
    rmw_write(l, 0, &a, b);
    wr_op(l, 1, a.val);
}

static void lo_push(struct lw *l)
{
    uint16_t v = rd_op(l, 0, 64);
    uint16_t sp = ei(l, PX_ADDI, X86_RSP, -8);
    to(l, PX_MOV, X86_RSP, sp, NONE, 0);
    store(l, sp, v, 8);
}

static void lo_pop(struct lw *l)
{
    uint16_t v = load(l, X86_RSP, 8);
    to(l, PX_ADDI, X86_RSP, X86_RSP, NONE, 8);
    wr_op(l, 0, v);   /* a memory destination's address uses the incremented rsp */
}

static void lo_cbw(struct lw *l)
{
    unsigned w = l->in->opwidth;
    write_gpr(l, X86_RAX, false, w, sext_(l, trunc_(l, X86_RAX, w / 2), w / 2));
}

static void lo_cwd(struct lw *l)
{
    unsigned w = l->in->opwidth;
    write_gpr(l, X86_RDX, false, w, ei(l, PX_SARI, sext_(l, X86_RAX, w), 63));
}

static void lo_bt(struct lw *l)
{
    unsigned w = w0(l);
    uint16_t v = rd_op(l, 0, w);
    uint16_t off = ei(l, PX_ANDI, rd_op(l, 1, w), (int32_t)w - 1);
    setf(l, X86_CF, ei(l, PX_ANDI, e3(l, PX_SHR, v, off), 1));
    /* OF, SF, AF, PF undefined (registers keep their 0/1 values); ZF unchanged */
}

static void lo_popcnt(struct lw *l)
{
    unsigned w = w0(l);
    uint16_t v = rd_op(l, 1, w);
    wr_op(l, 0, e2(l, PX_POPCNT, v));
    setf(l, X86_ZF, e2(l, PX_CMPEQZ, v));
    setf_k(l, X86_CF, 0);
    setf_k(l, X86_PF, 0);
    setf_k(l, X86_AF, 0);
    setf_k(l, X86_SF, 0);
    setf_k(l, X86_OF, 0);
}

static void lo_bitcount(struct lw *l)
{
    unsigned w = w0(l);
    uint16_t v = rd_op(l, 1, w), n;
    if (l->form->sem == X86_SEM_LZCNT)
        n = w == 64 ? e2(l, PX_CLZ, v) : ei(l, PX_ADDI, e2(l, PX_CLZ, v), -(int32_t)(64 - w));
    else
        n = w == 64 ? e2(l, PX_CTZ, v) : e2(l, PX_CTZ, e3(l, PX_OR, v, konst(l, 1ull << w)));
    wr_op(l, 0, n);
    setf(l, X86_CF, e2(l, PX_CMPEQZ, v));
    setf(l, X86_ZF, e2(l, PX_CMPEQZ, n));
}

static void lo_nop(struct lw *l) { (void)l; }

/* Terminators: R22 becomes the next rip. */
static uint16_t next_rip(struct lw *l) { return addk(l, RIP, l->next_off); }
static uint16_t target(struct lw *l)
{
    const struct x86_operand *op = &l->in->op[0];
    if (op->kind == X86_OK_REL)
        return addk(l, RIP, (int64_t)l->next_off + (int64_t)op->imm);
    return rd_op(l, 0, 64);
}

static void lo_jcc(struct lw *l)
{
    uint16_t c = cond(l, l->form->cc);
    uint16_t t = target(l), f = next_rip(l);
    to(l, PX_MOV, RIP, f, NONE, 0);
    to(l, PX_CMOVNZ, RIP, c, t, 0);
    l->terminated = true;
}

static void lo_jmp(struct lw *l)
{
    to(l, PX_MOV, RIP, target(l), NONE, 0);
    l->terminated = true;
}

static void lo_call(struct lw *l)
{
    uint16_t t = target(l);     /* before rsp moves */
    uint16_t ret = next_rip(l);
    uint16_t sp = ei(l, PX_ADDI, X86_RSP, -8);
    to(l, PX_MOV, X86_RSP, sp, NONE, 0);
    store(l, sp, ret, 8);
    to(l, PX_MOV, RIP, t, NONE, 0);
    l->terminated = true;
}

static void lo_ret(struct lw *l)
{
    uint16_t t = load(l, X86_RSP, 8);
    to(l, PX_ADDI, X86_RSP, X86_RSP, NONE, 8);
    to(l, PX_MOV, RIP, t, NONE, 0);
    l->terminated = true;
}

/* THE lowering table: one entry per semantic operation of x86_forms.h. */
typedef void (*lower_fn)(struct lw *);
static const lower_fn lowerers[X86_SEM_COUNT] = {
    [X86_SEM_MOV] = lo_mov,        [X86_SEM_MOVZX] = lo_movzx,    [X86_SEM_MOVSX] = lo_movsx,
    [X86_SEM_LEA] = lo_lea,        [X86_SEM_ADD] = lo_arith,      [X86_SEM_ADC] = lo_arith,
    [X86_SEM_SUB] = lo_arith,      [X86_SEM_SBB] = lo_arith,      [X86_SEM_CMP] = lo_arith,
    [X86_SEM_AND] = lo_logic,      [X86_SEM_OR] = lo_logic,       [X86_SEM_XOR] = lo_logic,
    [X86_SEM_TEST] = lo_logic,     [X86_SEM_INC] = lo_incdec,     [X86_SEM_DEC] = lo_incdec,
    [X86_SEM_NEG] = lo_neg,        [X86_SEM_NOT] = lo_not,        [X86_SEM_SHL] = lo_shift,
    [X86_SEM_SHR] = lo_shift,      [X86_SEM_SAR] = lo_shift,      [X86_SEM_ROL] = lo_rotate,
    [X86_SEM_ROR] = lo_rotate,     [X86_SEM_IMUL1] = lo_mul_wide, [X86_SEM_IMUL2] = lo_imul_trunc,
    [X86_SEM_IMUL3] = lo_imul_trunc, [X86_SEM_MUL] = lo_mul_wide, [X86_SEM_SETCC] = lo_setcc,
    [X86_SEM_CMOVCC] = lo_cmovcc,  [X86_SEM_BSWAP] = lo_bswap,    [X86_SEM_XCHG] = lo_xchg,
    [X86_SEM_PUSH] = lo_push,      [X86_SEM_POP] = lo_pop,        [X86_SEM_CBW] = lo_cbw,
    [X86_SEM_CWD] = lo_cwd,        [X86_SEM_BT] = lo_bt,          [X86_SEM_POPCNT] = lo_popcnt,
    [X86_SEM_LZCNT] = lo_bitcount, [X86_SEM_TZCNT] = lo_bitcount, [X86_SEM_NOP] = lo_nop,
    [X86_SEM_JCC] = lo_jcc,        [X86_SEM_JMP] = lo_jmp,        [X86_SEM_CALL] = lo_call,
    [X86_SEM_RET] = lo_ret,
};

int lower_block(const struct x86_insn *insns, size_t n, struct sir_prog *p, char *err, size_t errlen)
{
    struct lw l = { .p = p, .err = err, .errlen = errlen };
    for (size_t i = 0; i < n; i++) {
        l.in = &insns[i];
        if (insns[i].form >= X86_FORM_COUNT) {
            snprintf(err, errlen, "lower at %#llx: unsupported instruction %s",
                     (unsigned long long)insns[i].pc, insns[i].mnemonic);
            return -1;
        }
        if (l.terminated) {
            snprintf(err, errlen, "lower at %#llx: instruction after the block's terminator",
                     (unsigned long long)insns[i].pc);
            return -1;
        }
        l.form = &x86_forms[insns[i].form];
        l.next_off += insns[i].len;
        lowerers[l.form->sem](&l);
        if (l.failed)
            return -1;
    }
    if (!l.terminated && l.next_off) {
        if (l.next_off <= 127)
            sir_emit(p, PX_ADDI, RIP, RIP, NONE, (int32_t)l.next_off);
        else
            sir_emit(p, PX_ADD, RIP, RIP, konst(&l, l.next_off), 0);
    }
    if (p->overflow) {
        snprintf(err, errlen, "lower: block needs more than %d IR instructions", SIR_MAX);
        return -1;
    }
    return 0;
}
