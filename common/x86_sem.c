/* x86_sem.c — the Z3 meaning of every semantic operation of x86_forms.h.
 *
 * One function per concern: operand access (registers with partial writes
 * and the 32-bit zero-extension rule, memory, immediates), flag helpers, and
 * one lifter per semantic operation, selected through a table indexed by
 * enum x86_sem.
 */
#include "x86_sem.h"

#include <stdio.h>
#include <string.h>

static const char *const gpr_names[X86_NGPR] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};
static const char *const flag_names[X86_NFLAG] = { "cf", "pf", "af", "zf", "sf", "of" };

const char *x86_gpr_name(unsigned r) { return r < X86_NGPR ? gpr_names[r] : "?"; }
const char *x86_flag_name(unsigned f) { return f < X86_NFLAG ? flag_names[f] : "?"; }

/* ---- small Z3 helpers ------------------------------------------------------------ */

static Z3_sort bv_sort(Z3_context c, unsigned bits) { return Z3_mk_bv_sort(c, bits); }
static Z3_ast num(Z3_context c, uint64_t v, unsigned bits)
{
    if (bits < 64)
        v &= (1ull << bits) - 1;
    return Z3_mk_unsigned_int64(c, v, bv_sort(c, bits));
}
static Z3_ast named_const(Z3_context c, const char *prefix, const char *name, Z3_sort s)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%s%s", prefix, name);
    return Z3_mk_const(c, Z3_mk_string_symbol(c, buf), s);
}
static unsigned bv_bits(Z3_context c, Z3_ast e) { return Z3_get_bv_sort_size(c, Z3_get_sort(c, e)); }
static Z3_ast lo(Z3_context c, Z3_ast e, unsigned bits)
{
    return bv_bits(c, e) == bits ? e : Z3_mk_extract(c, bits - 1, 0, e);
}
static Z3_ast zext(Z3_context c, Z3_ast e, unsigned bits)
{
    unsigned have = bv_bits(c, e);
    return have == bits ? e : Z3_mk_zero_ext(c, bits - have, e);
}
static Z3_ast sext(Z3_context c, Z3_ast e, unsigned bits)
{
    unsigned have = bv_bits(c, e);
    return have == bits ? e : Z3_mk_sign_ext(c, bits - have, e);
}
static Z3_ast bit(Z3_context c, Z3_ast e, unsigned i)
{
    return Z3_mk_eq(c, Z3_mk_extract(c, i, i, e), num(c, 1, 1));
}
static Z3_ast msb(Z3_context c, Z3_ast e) { return bit(c, e, bv_bits(c, e) - 1); }
static Z3_ast is_zero(Z3_context c, Z3_ast e) { return Z3_mk_eq(c, e, num(c, 0, bv_bits(c, e))); }
static Z3_ast not_(Z3_context c, Z3_ast b) { return Z3_mk_not(c, b); }
static Z3_ast or2(Z3_context c, Z3_ast a, Z3_ast b) { Z3_ast v[2] = { a, b }; return Z3_mk_or(c, 2, v); }
static Z3_ast xor2(Z3_context c, Z3_ast a, Z3_ast b) { return Z3_mk_xor(c, a, b); }
static Z3_ast bool_to_bv(Z3_context c, Z3_ast b, unsigned bits)
{
    return Z3_mk_ite(c, b, num(c, 1, bits), num(c, 0, bits));
}
static Z3_ast add(Z3_context c, Z3_ast a, Z3_ast b) { return Z3_mk_bvadd(c, a, b); }

/* ---- state ------------------------------------------------------------------------ */

void x86_sym_state_init(Z3_context c, struct x86_sym_state *st, const char *prefix)
{
    memset(st, 0, sizeof *st);
    snprintf(st->prefix, sizeof st->prefix, "%s", prefix ? prefix : "");
    Z3_sort s64 = bv_sort(c, 64);
    for (unsigned r = 0; r < X86_NGPR; r++)
        st->in_gpr[r] = st->gpr[r] = named_const(c, st->prefix, gpr_names[r], s64);
    st->in_rip = st->rip = named_const(c, st->prefix, "rip", s64);
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        st->in_flag[f] = st->flag[f] = named_const(c, st->prefix, flag_names[f], Z3_mk_bool_sort(c));
        st->flag_undef[f] = Z3_mk_false(c);
    }
    st->in_mem = st->mem = named_const(c, st->prefix, "mem", Z3_mk_array_sort(c, s64, bv_sort(c, 8)));
}

Z3_ast x86_sym_load(Z3_context c, Z3_ast mem, Z3_ast addr, unsigned size)
{
    Z3_ast v = NULL;
    for (unsigned i = 0; i < size; i++) {
        Z3_ast b = Z3_mk_select(c, mem, i ? add(c, addr, num(c, i, 64)) : addr);
        v = v ? Z3_mk_concat(c, b, v) : b;   /* little-endian: later bytes are higher */
    }
    return v;
}

Z3_ast x86_sym_store(Z3_context c, Z3_ast mem, Z3_ast addr, Z3_ast value, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        mem = Z3_mk_store(c, mem, i ? add(c, addr, num(c, i, 64)) : addr,
                          Z3_mk_extract(c, 8 * i + 7, 8 * i, value));
    return mem;
}

/* Lifting context of one instruction. */
struct lift {
    Z3_context c;
    struct x86_sym_state *st;
    const struct x86_insn *in;
    const struct x86_form *form;
    unsigned w;           /* operand width in bits */
    Z3_ast next_rip;      /* address of the following instruction */
    char *err;
    size_t errlen;
    int failed;
};

static void fail(struct lift *l, const char *why)
{
    if (!l->failed)
        snprintf(l->err, l->errlen, "x86 lift at %#llx (%s): %s",
                 (unsigned long long)l->in->pc, l->in->text[0] ? l->in->text : l->in->mnemonic, why);
    l->failed = 1;
}

static void note_read(struct lift *l, x86_locset loc)
{
    l->st->read |= loc & ~l->st->written;
}

static Z3_ast get_gpr(struct lift *l, unsigned r)
{
    note_read(l, X86_LOC_GPR(r));
    return l->st->gpr[r];
}

/* Writes the low `bits` of register r (or bits 8..15 for high8): 64 replaces,
 * 32 zero-extends into the whole register, 16 and 8 keep the other bits. */
static void set_gpr(struct lift *l, unsigned r, bool high8, unsigned bits, Z3_ast v)
{
    Z3_context c = l->c;
    Z3_ast old = l->st->gpr[r], nv;
    if (bits == 64) {
        nv = v;
    } else if (bits == 32) {
        nv = zext(c, v, 64);
    } else if (high8) {
        note_read(l, X86_LOC_GPR(r));
        nv = Z3_mk_concat(c, Z3_mk_extract(c, 63, 16, old), Z3_mk_concat(c, v, Z3_mk_extract(c, 7, 0, old)));
    } else {
        note_read(l, X86_LOC_GPR(r));
        nv = Z3_mk_concat(c, Z3_mk_extract(c, 63, bits, old), v);
    }
    l->st->gpr[r] = nv;
    l->st->written |= X86_LOC_GPR(r);
}

static void record_access(struct lift *l, Z3_ast addr, Z3_ast value, unsigned size, bool store)
{
    struct x86_sym_state *st = l->st;
    if (st->nacc == X86_SYM_MAX_ACCESSES) {
        fail(l, "more than X86_SYM_MAX_ACCESSES memory accesses in one block");
        return;
    }
    st->acc[st->nacc++] = (struct x86_sym_access){ addr, value, (uint8_t)size, store };
}

static Z3_ast load(struct lift *l, Z3_ast addr, unsigned bytes)
{
    note_read(l, X86_LOC_MEM);
    Z3_ast v = x86_sym_load(l->c, l->st->mem, addr, bytes);
    record_access(l, addr, v, bytes, false);
    return v;
}

static void store(struct lift *l, Z3_ast addr, Z3_ast v, unsigned bytes)
{
    l->st->mem = x86_sym_store(l->c, l->st->mem, addr, v, bytes);
    l->st->written |= X86_LOC_MEM;
    record_access(l, addr, v, bytes, true);
}

static Z3_ast effective_address(struct lift *l, const struct x86_operand *op)
{
    Z3_context c = l->c;
    Z3_ast a = num(c, (uint64_t)op->disp, 64);
    if (op->rip_relative)
        a = add(c, l->next_rip, a);
    if (op->base >= 0)
        a = add(c, get_gpr(l, (unsigned)op->base), a);
    if (op->index >= 0)
        a = add(c, Z3_mk_bvmul(c, get_gpr(l, (unsigned)op->index), num(c, op->scale, 64)), a);
    return a;
}

/* Value of operand k at width `bits` (immediates are truncated to it). */
static Z3_ast read_op(struct lift *l, unsigned k, unsigned bits)
{
    const struct x86_operand *op = &l->in->op[k];
    Z3_context c = l->c;
    switch (op->kind) {
    case X86_OK_R8: case X86_OK_R16: case X86_OK_R32: case X86_OK_R64: case X86_OK_CL: {
        Z3_ast r = get_gpr(l, op->reg);
        unsigned b = op->kind == X86_OK_CL ? 8 : op->bits;
        Z3_ast v = op->high8 ? Z3_mk_extract(c, 15, 8, r) : lo(c, r, b);
        return bits <= b ? lo(c, v, bits) : zext(c, v, bits);
    }
    case X86_OK_M8: case X86_OK_M16: case X86_OK_M32: case X86_OK_M64:
        return load(l, effective_address(l, op), op->bits / 8);
    case X86_OK_I: case X86_OK_ONE: case X86_OK_REL:
        return num(c, op->imm, bits);
    default:
        fail(l, "operand kind cannot be read");
        return num(c, 0, bits);
    }
}

/* Writes operand k (register or memory) of width bits. For a memory
 * operand the address is computed now from the current state. */
static void write_op(struct lift *l, unsigned k, Z3_ast v)
{
    const struct x86_operand *op = &l->in->op[k];
    if (x86_opkind_is_reg((enum x86_opkind)op->kind))
        set_gpr(l, op->reg, op->high8, op->bits, v);
    else if (x86_opkind_is_mem((enum x86_opkind)op->kind))
        store(l, effective_address(l, op), v, op->bits / 8);
    else
        fail(l, "operand kind cannot be written");
}

/* Read-modify-write operand: the address is computed once. */
struct rmw { Z3_ast addr; Z3_ast val; };
static struct rmw rmw_read(struct lift *l, unsigned k)
{
    const struct x86_operand *op = &l->in->op[k];
    struct rmw r = { NULL, NULL };
    if (x86_opkind_is_mem((enum x86_opkind)op->kind)) {
        r.addr = effective_address(l, op);
        r.val = load(l, r.addr, op->bits / 8);
    } else {
        r.val = read_op(l, k, op->bits);
    }
    return r;
}
static void rmw_write(struct lift *l, unsigned k, const struct rmw *r, Z3_ast v)
{
    if (r->addr)
        store(l, r->addr, v, l->in->op[k].bits / 8);
    else
        write_op(l, k, v);
}

/* ---- flags ------------------------------------------------------------------------ */

static Z3_ast get_flag(struct lift *l, unsigned f)
{
    note_read(l, X86_LOC_FLAG(f));
    return l->st->flag[f];
}

static void set_flag(struct lift *l, unsigned f, Z3_ast v)
{
    l->st->flag[f] = v;
    l->st->flag_undef[f] = Z3_mk_false(l->c);
    l->st->written |= X86_LOC_FLAG(f);
}

static Z3_ast fresh_bool(struct lift *l)
{
    char name[48];
    snprintf(name, sizeof name, "undef%u", l->st->nfresh++);
    return named_const(l->c, l->st->prefix, name, Z3_mk_bool_sort(l->c));
}

static void set_flag_undefined(struct lift *l, unsigned f)
{
    l->st->flag[f] = fresh_bool(l);
    l->st->flag_undef[f] = Z3_mk_true(l->c);
    l->st->written |= X86_LOC_FLAG(f);
}

/* Flag f becomes: unchanged when `keep`, else undefined when `undef`, else v. */
static void set_flag_cond(struct lift *l, unsigned f, Z3_ast keep, Z3_ast undef, Z3_ast v)
{
    Z3_context c = l->c;
    struct x86_sym_state *st = l->st;
    Z3_ast old = get_flag(l, f);
    Z3_ast val = v;
    if (undef)
        val = Z3_mk_ite(c, undef, fresh_bool(l), v);
    Z3_ast und = undef ? undef : Z3_mk_false(c);
    st->flag[f] = Z3_mk_ite(c, keep, old, val);
    st->flag_undef[f] = Z3_mk_ite(c, keep, st->flag_undef[f], und);
    st->written |= X86_LOC_FLAG(f);
}

/* PF: even number of set bits in the low byte. */
static Z3_ast parity(Z3_context c, Z3_ast r)
{
    Z3_ast x = Z3_mk_extract(c, 0, 0, r);
    for (unsigned i = 1; i < 8; i++)
        x = Z3_mk_bvxor(c, x, Z3_mk_extract(c, i, i, r));
    return Z3_mk_eq(c, x, num(c, 0, 1));
}

static void set_szp(struct lift *l, Z3_ast r)
{
    set_flag(l, X86_ZF, is_zero(l->c, r));
    set_flag(l, X86_SF, msb(l->c, r));
    set_flag(l, X86_PF, parity(l->c, r));
}

/* Flags of a + b + carry_in (sub: a - b - borrow_in), result r. */
static void set_arith_flags(struct lift *l, Z3_ast a, Z3_ast b, Z3_ast r, Z3_ast carry_in,
                            bool is_sub, bool set_cf)
{
    Z3_context c = l->c;
    unsigned w = bv_bits(c, a);
    if (set_cf) {
        Z3_ast a1 = zext(c, a, w + 1), b1 = zext(c, b, w + 1);
        Z3_ast ci = carry_in ? bool_to_bv(c, carry_in, w + 1) : num(c, 0, w + 1);
        Z3_ast cf = is_sub ? Z3_mk_bvult(c, a1, add(c, b1, ci))
                           : bit(c, add(c, add(c, a1, b1), ci), w);
        set_flag(l, X86_CF, cf);
    }
    Z3_ast of = is_sub ? msb(c, Z3_mk_bvand(c, Z3_mk_bvxor(c, a, b), Z3_mk_bvxor(c, a, r)))
                       : msb(c, Z3_mk_bvand(c, Z3_mk_bvxor(c, a, r), Z3_mk_bvxor(c, b, r)));
    set_flag(l, X86_OF, of);
    set_flag(l, X86_AF, bit(c, Z3_mk_bvxor(c, Z3_mk_bvxor(c, a, b), r), 4));
    set_szp(l, r);
}

static void set_logic_flags(struct lift *l, Z3_ast r)
{
    set_flag(l, X86_CF, Z3_mk_false(l->c));
    set_flag(l, X86_OF, Z3_mk_false(l->c));
    set_flag_undefined(l, X86_AF);
    set_szp(l, r);
}

Z3_ast x86_sym_cond(Z3_context c, const struct x86_sym_state *st, enum x86_cc cc)
{
    Z3_ast cf = st->flag[X86_CF], zf = st->flag[X86_ZF], sf = st->flag[X86_SF];
    Z3_ast of = st->flag[X86_OF], pf = st->flag[X86_PF];
    Z3_ast base;
    switch ((unsigned)cc >> 1) {
    case 0: base = of; break;                                   /* O */
    case 1: base = cf; break;                                   /* B */
    case 2: base = zf; break;                                   /* E */
    case 3: base = or2(c, cf, zf); break;                       /* BE */
    case 4: base = sf; break;                                   /* S */
    case 5: base = pf; break;                                   /* P */
    case 6: base = xor2(c, sf, of); break;                      /* L */
    default: base = or2(c, zf, xor2(c, sf, of)); break;         /* LE */
    }
    return (cc & 1) ? not_(c, base) : base;
}

static Z3_ast cond(struct lift *l)
{
    static const x86_locset uses[8] = {
        X86_LOC_FLAG(X86_OF), X86_LOC_FLAG(X86_CF), X86_LOC_FLAG(X86_ZF),
        X86_LOC_FLAG(X86_CF) | X86_LOC_FLAG(X86_ZF), X86_LOC_FLAG(X86_SF), X86_LOC_FLAG(X86_PF),
        X86_LOC_FLAG(X86_SF) | X86_LOC_FLAG(X86_OF),
        X86_LOC_FLAG(X86_ZF) | X86_LOC_FLAG(X86_SF) | X86_LOC_FLAG(X86_OF),
    };
    note_read(l, uses[(l->form->cc & 15) >> 1]);
    return x86_sym_cond(l->c, l->st, (enum x86_cc)l->form->cc);
}

/* ---- one lifter per semantic operation ------------------------------------------------ */

static void lift_mov(struct lift *l)
{
    write_op(l, 0, read_op(l, 1, l->in->op[0].bits));
}

static void lift_movzx(struct lift *l)
{
    write_op(l, 0, zext(l->c, read_op(l, 1, l->in->op[1].bits), l->in->op[0].bits));
}

static void lift_movsx(struct lift *l)
{
    write_op(l, 0, sext(l->c, read_op(l, 1, l->in->op[1].bits), l->in->op[0].bits));
}

static void lift_lea(struct lift *l)
{
    write_op(l, 0, lo(l->c, effective_address(l, &l->in->op[1]), l->in->op[0].bits));
}

static void lift_arith(struct lift *l)
{
    Z3_context c = l->c;
    enum x86_sem s = l->form->sem;
    struct rmw d = rmw_read(l, 0);
    unsigned w = l->in->op[0].bits;
    Z3_ast b = read_op(l, 1, w);
    Z3_ast ci = (s == X86_SEM_ADC || s == X86_SEM_SBB) ? get_flag(l, X86_CF) : NULL;
    bool is_sub = s == X86_SEM_SUB || s == X86_SEM_SBB || s == X86_SEM_CMP;
    Z3_ast r = is_sub ? Z3_mk_bvsub(c, d.val, b) : add(c, d.val, b);
    if (ci)
        r = is_sub ? Z3_mk_bvsub(c, r, bool_to_bv(c, ci, w)) : add(c, r, bool_to_bv(c, ci, w));
    set_arith_flags(l, d.val, b, r, ci, is_sub, true);
    if (s != X86_SEM_CMP)
        rmw_write(l, 0, &d, r);
}

static void lift_logic(struct lift *l)
{
    Z3_context c = l->c;
    enum x86_sem s = l->form->sem;
    struct rmw d = rmw_read(l, 0);
    Z3_ast b = read_op(l, 1, l->in->op[0].bits);
    Z3_ast r = s == X86_SEM_OR ? Z3_mk_bvor(c, d.val, b)
             : s == X86_SEM_XOR ? Z3_mk_bvxor(c, d.val, b) : Z3_mk_bvand(c, d.val, b);
    set_logic_flags(l, r);
    if (s != X86_SEM_TEST)
        rmw_write(l, 0, &d, r);
}

static void lift_incdec(struct lift *l)
{
    Z3_context c = l->c;
    struct rmw d = rmw_read(l, 0);
    Z3_ast one = num(c, 1, l->in->op[0].bits);
    bool dec = l->form->sem == X86_SEM_DEC;
    Z3_ast r = dec ? Z3_mk_bvsub(c, d.val, one) : add(c, d.val, one);
    set_arith_flags(l, d.val, one, r, NULL, dec, false);
    rmw_write(l, 0, &d, r);
}

static void lift_neg(struct lift *l)
{
    Z3_context c = l->c;
    struct rmw d = rmw_read(l, 0);
    Z3_ast zero = num(c, 0, l->in->op[0].bits);
    Z3_ast r = Z3_mk_bvneg(c, d.val);
    set_arith_flags(l, zero, d.val, r, NULL, true, false);
    set_flag(l, X86_CF, not_(c, is_zero(c, d.val)));
    rmw_write(l, 0, &d, r);
}

static void lift_not(struct lift *l)
{
    struct rmw d = rmw_read(l, 0);
    rmw_write(l, 0, &d, Z3_mk_bvnot(l->c, d.val));
}

/* Shifts: count masked to 5 bits (6 for 64-bit operands).  Computed in 128
 * bits so the last bit shifted out is always at a fixed position. */
static void lift_shift(struct lift *l)
{
    Z3_context c = l->c;
    enum x86_sem s = l->form->sem;
    struct rmw d = rmw_read(l, 0);
    unsigned w = l->in->op[0].bits;
    Z3_ast cnt = Z3_mk_bvand(c, read_op(l, 1, 8), num(c, w == 64 ? 63 : 31, 8));
    Z3_ast cnt128 = zext(c, cnt, 128);
    Z3_ast a = d.val, r, cf;
    if (s == X86_SEM_SHL) {
        Z3_ast t = Z3_mk_bvshl(c, zext(c, a, 128), cnt128);
        r = lo(c, t, w);
        cf = bit(c, t, w);
    } else if (s == X86_SEM_SHR) {
        Z3_ast a128 = zext(c, a, 128);
        r = lo(c, Z3_mk_bvlshr(c, a128, cnt128), w);
        cf = bit(c, Z3_mk_bvlshr(c, Z3_mk_bvshl(c, a128, num(c, 1, 128)), cnt128), 0);
    } else {
        Z3_ast a128 = sext(c, a, 128);
        r = lo(c, Z3_mk_bvashr(c, a128, cnt128), w);
        cf = bit(c, Z3_mk_bvashr(c, Z3_mk_bvshl(c, a128, num(c, 1, 128)), cnt128), 0);
    }
    Z3_ast zero = is_zero(c, cnt), one = Z3_mk_eq(c, cnt, num(c, 1, 8));
    Z3_ast of = s == X86_SEM_SHL ? xor2(c, msb(c, r), cf)
              : s == X86_SEM_SHR ? msb(c, a) : Z3_mk_false(c);
    Z3_ast cf_undef = s == X86_SEM_SAR ? NULL : Z3_mk_bvuge(c, cnt, num(c, w, 8));
    set_flag_cond(l, X86_CF, zero, cf_undef, cf);
    set_flag_cond(l, X86_OF, zero, not_(c, one), of);
    set_flag_cond(l, X86_AF, zero, Z3_mk_true(c), Z3_mk_false(c));
    set_flag_cond(l, X86_ZF, zero, NULL, is_zero(c, r));
    set_flag_cond(l, X86_SF, zero, NULL, msb(c, r));
    set_flag_cond(l, X86_PF, zero, NULL, parity(c, r));
    /* The destination is written even for a zero count (a 32-bit register
     * is then zero-extended), so no ite on the result. */
    rmw_write(l, 0, &d, r);
}

static void lift_rotate(struct lift *l)
{
    Z3_context c = l->c;
    bool left = l->form->sem == X86_SEM_ROL;
    struct rmw d = rmw_read(l, 0);
    unsigned w = l->in->op[0].bits;
    Z3_ast cnt = Z3_mk_bvand(c, read_op(l, 1, 8), num(c, w == 64 ? 63 : 31, 8));
    Z3_ast rc = zext(c, Z3_mk_bvurem(c, cnt, num(c, w, 8)), w);
    Z3_ast r = left ? Z3_mk_ext_rotate_left(c, d.val, rc) : Z3_mk_ext_rotate_right(c, d.val, rc);
    Z3_ast zero = is_zero(c, cnt), one = Z3_mk_eq(c, cnt, num(c, 1, 8));
    Z3_ast cf = left ? bit(c, r, 0) : msb(c, r);
    Z3_ast of = left ? xor2(c, msb(c, r), cf) : xor2(c, msb(c, r), bit(c, r, w - 2));
    set_flag_cond(l, X86_CF, zero, NULL, cf);
    set_flag_cond(l, X86_OF, zero, not_(c, one), of);
    rmw_write(l, 0, &d, r);
}

static void set_mul_undef(struct lift *l)
{
    set_flag_undefined(l, X86_PF);
    set_flag_undefined(l, X86_AF);
    set_flag_undefined(l, X86_ZF);
    set_flag_undefined(l, X86_SF);
}

/* mul / one-operand imul: rDX:rAX = rAX * src (AX = AL * src for 8 bits). */
static void lift_mul_wide(struct lift *l)
{
    Z3_context c = l->c;
    bool is_signed = l->form->sem == X86_SEM_IMUL1;
    unsigned w = l->in->op[0].bits;
    Z3_ast src = read_op(l, 0, w);
    Z3_ast a = lo(c, get_gpr(l, X86_RAX), w);
    Z3_ast p = is_signed ? Z3_mk_bvmul(c, sext(c, a, 2 * w), sext(c, src, 2 * w))
                         : Z3_mk_bvmul(c, zext(c, a, 2 * w), zext(c, src, 2 * w));
    Z3_ast low = lo(c, p, w), high = Z3_mk_extract(c, 2 * w - 1, w, p);
    Z3_ast ovf = is_signed ? not_(c, Z3_mk_eq(c, p, sext(c, low, 2 * w))) : not_(c, is_zero(c, high));
    if (w == 8) {
        set_gpr(l, X86_RAX, false, 16, p);
    } else {
        set_gpr(l, X86_RAX, false, w, low);
        set_gpr(l, X86_RDX, false, w, high);
    }
    set_flag(l, X86_CF, ovf);
    set_flag(l, X86_OF, ovf);
    set_mul_undef(l);
}

/* Two- and three-operand imul: truncated signed product. */
static void lift_imul_trunc(struct lift *l)
{
    Z3_context c = l->c;
    unsigned w = l->in->op[0].bits;
    Z3_ast a, b;
    if (l->form->sem == X86_SEM_IMUL2) {
        a = read_op(l, 0, w);
        b = read_op(l, 1, w);
    } else {
        a = read_op(l, 1, w);
        b = read_op(l, 2, w);
    }
    Z3_ast p = Z3_mk_bvmul(c, sext(c, a, 2 * w), sext(c, b, 2 * w));
    Z3_ast low = lo(c, p, w);
    Z3_ast ovf = not_(c, Z3_mk_eq(c, p, sext(c, low, 2 * w)));
    write_op(l, 0, low);
    set_flag(l, X86_CF, ovf);
    set_flag(l, X86_OF, ovf);
    set_mul_undef(l);
}

static void lift_setcc(struct lift *l)
{
    write_op(l, 0, bool_to_bv(l->c, cond(l), 8));
}

static void lift_cmovcc(struct lift *l)
{
    unsigned w = l->in->op[0].bits;
    Z3_ast src = read_op(l, 1, w);      /* a memory source is read whatever the condition */
    Z3_ast dst = read_op(l, 0, w);
    write_op(l, 0, Z3_mk_ite(l->c, cond(l), src, dst));
}

static void lift_bswap(struct lift *l)
{
    Z3_context c = l->c;
    unsigned w = l->in->op[0].bits;
    Z3_ast v = read_op(l, 0, w), r = NULL;
    for (unsigned i = 0; i < w / 8; i++) {
        Z3_ast b = Z3_mk_extract(c, 8 * i + 7, 8 * i, v);
        r = r ? Z3_mk_concat(c, r, b) : b;   /* byte 0 ends up most significant */
    }
    write_op(l, 0, r);
}

static void lift_xchg(struct lift *l)
{
    struct rmw a = rmw_read(l, 0);
    Z3_ast b = read_op(l, 1, l->in->op[1].bits);
    rmw_write(l, 0, &a, b);
    write_op(l, 1, a.val);
}

static void lift_push(struct lift *l)
{
    Z3_context c = l->c;
    Z3_ast v = read_op(l, 0, 64);   /* push rsp pushes the old value; immediates sign-extended */
    Z3_ast sp = Z3_mk_bvsub(c, get_gpr(l, X86_RSP), num(c, 8, 64));
    set_gpr(l, X86_RSP, false, 64, sp);
    store(l, sp, v, 8);
}

static void lift_pop(struct lift *l)
{
    Z3_context c = l->c;
    Z3_ast sp = get_gpr(l, X86_RSP);
    Z3_ast v = load(l, sp, 8);
    set_gpr(l, X86_RSP, false, 64, add(c, sp, num(c, 8, 64)));
    write_op(l, 0, v);    /* a memory destination's address uses the incremented rsp */
}

static void lift_cbw(struct lift *l)
{
    unsigned w = l->in->opwidth;
    set_gpr(l, X86_RAX, false, w, sext(l->c, lo(l->c, get_gpr(l, X86_RAX), w / 2), w));
}

static void lift_cwd(struct lift *l)
{
    Z3_context c = l->c;
    unsigned w = l->in->opwidth;
    Z3_ast a = lo(c, get_gpr(l, X86_RAX), w);
    set_gpr(l, X86_RDX, false, w, Z3_mk_bvashr(c, a, num(c, w - 1, w)));
}

static void lift_bt(struct lift *l)
{
    Z3_context c = l->c;
    unsigned w = l->in->op[0].bits;
    Z3_ast v = read_op(l, 0, w);
    Z3_ast off = Z3_mk_bvurem(c, read_op(l, 1, w), num(c, w, w));
    set_flag(l, X86_CF, bit(c, Z3_mk_bvlshr(c, v, off), 0));
    set_flag_undefined(l, X86_OF);
    set_flag_undefined(l, X86_SF);
    set_flag_undefined(l, X86_AF);
    set_flag_undefined(l, X86_PF);
}

static void lift_popcnt(struct lift *l)
{
    Z3_context c = l->c;
    unsigned w = l->in->op[0].bits;
    Z3_ast v = read_op(l, 1, w), n = num(c, 0, w);
    for (unsigned i = 0; i < w; i++)
        n = add(c, n, zext(c, Z3_mk_extract(c, i, i, v), w));
    write_op(l, 0, n);
    set_flag(l, X86_ZF, is_zero(c, v));
    set_flag(l, X86_CF, Z3_mk_false(c));
    set_flag(l, X86_PF, Z3_mk_false(c));
    set_flag(l, X86_AF, Z3_mk_false(c));
    set_flag(l, X86_SF, Z3_mk_false(c));
    set_flag(l, X86_OF, Z3_mk_false(c));
}

static void lift_bitcount(struct lift *l)
{
    Z3_context c = l->c;
    bool leading = l->form->sem == X86_SEM_LZCNT;
    unsigned w = l->in->op[0].bits;
    Z3_ast v = read_op(l, 1, w), n = num(c, w, w);
    /* The ite chain is built so that the bit examined last wins: the most
     * significant set bit for lzcnt, the least significant for tzcnt. */
    for (unsigned k = 0; k < w; k++) {
        unsigned i = leading ? k : w - 1 - k;
        n = Z3_mk_ite(c, bit(c, v, i), num(c, leading ? w - 1 - i : i, w), n);
    }
    write_op(l, 0, n);
    set_flag(l, X86_CF, is_zero(c, v));
    set_flag(l, X86_ZF, is_zero(c, n));
    set_flag_undefined(l, X86_OF);
    set_flag_undefined(l, X86_SF);
    set_flag_undefined(l, X86_AF);
    set_flag_undefined(l, X86_PF);
}

static void lift_nop(struct lift *l) { (void)l; }

static void terminate(struct lift *l, Z3_ast cnd, Z3_ast target)
{
    struct x86_sym_state *st = l->st;
    st->branch_cond = cnd;
    st->branch_target = target;
    st->terminated = true;
    st->rip = Z3_mk_ite(l->c, cnd, target, l->next_rip);
    st->written |= X86_LOC_RIP;
}

static Z3_ast branch_target(struct lift *l)
{
    const struct x86_operand *op = &l->in->op[0];
    if (op->kind == X86_OK_REL)
        return add(l->c, l->next_rip, num(l->c, op->imm, 64));
    return read_op(l, 0, 64);
}

static void lift_jcc(struct lift *l)
{
    terminate(l, cond(l), branch_target(l));
}

static void lift_jmp(struct lift *l)
{
    terminate(l, Z3_mk_true(l->c), branch_target(l));
}

static void lift_call(struct lift *l)
{
    Z3_context c = l->c;
    Z3_ast target = branch_target(l);    /* before rsp moves */
    Z3_ast sp = Z3_mk_bvsub(c, get_gpr(l, X86_RSP), num(c, 8, 64));
    set_gpr(l, X86_RSP, false, 64, sp);
    store(l, sp, l->next_rip, 8);
    terminate(l, Z3_mk_true(c), target);
}

static void lift_ret(struct lift *l)
{
    Z3_context c = l->c;
    Z3_ast sp = get_gpr(l, X86_RSP);
    Z3_ast target = load(l, sp, 8);
    set_gpr(l, X86_RSP, false, 64, add(c, sp, num(c, 8, 64)));
    terminate(l, Z3_mk_true(c), target);
}

typedef void (*lift_fn)(struct lift *);
static const lift_fn lifters[X86_SEM_COUNT] = {
    [X86_SEM_MOV] = lift_mov,       [X86_SEM_MOVZX] = lift_movzx,   [X86_SEM_MOVSX] = lift_movsx,
    [X86_SEM_LEA] = lift_lea,       [X86_SEM_ADD] = lift_arith,     [X86_SEM_ADC] = lift_arith,
    [X86_SEM_SUB] = lift_arith,     [X86_SEM_SBB] = lift_arith,     [X86_SEM_CMP] = lift_arith,
    [X86_SEM_AND] = lift_logic,     [X86_SEM_OR] = lift_logic,      [X86_SEM_XOR] = lift_logic,
    [X86_SEM_TEST] = lift_logic,    [X86_SEM_INC] = lift_incdec,    [X86_SEM_DEC] = lift_incdec,
    [X86_SEM_NEG] = lift_neg,       [X86_SEM_NOT] = lift_not,       [X86_SEM_SHL] = lift_shift,
    [X86_SEM_SHR] = lift_shift,     [X86_SEM_SAR] = lift_shift,     [X86_SEM_ROL] = lift_rotate,
    [X86_SEM_ROR] = lift_rotate,    [X86_SEM_IMUL1] = lift_mul_wide, [X86_SEM_IMUL2] = lift_imul_trunc,
    [X86_SEM_IMUL3] = lift_imul_trunc, [X86_SEM_MUL] = lift_mul_wide, [X86_SEM_SETCC] = lift_setcc,
    [X86_SEM_CMOVCC] = lift_cmovcc, [X86_SEM_BSWAP] = lift_bswap,   [X86_SEM_XCHG] = lift_xchg,
    [X86_SEM_PUSH] = lift_push,     [X86_SEM_POP] = lift_pop,       [X86_SEM_CBW] = lift_cbw,
    [X86_SEM_CWD] = lift_cwd,       [X86_SEM_BT] = lift_bt,         [X86_SEM_POPCNT] = lift_popcnt,
    [X86_SEM_LZCNT] = lift_bitcount, [X86_SEM_TZCNT] = lift_bitcount, [X86_SEM_NOP] = lift_nop,
    [X86_SEM_JCC] = lift_jcc,       [X86_SEM_JMP] = lift_jmp,       [X86_SEM_CALL] = lift_call,
    [X86_SEM_RET] = lift_ret,
};

int x86_lift_insn(Z3_context c, struct x86_sym_state *st, const struct x86_insn *insn,
                  char *err, size_t errlen)
{
    struct lift l = { .c = c, .st = st, .in = insn, .err = err, .errlen = errlen };
    if (insn->form >= X86_FORM_COUNT) {
        snprintf(err, errlen, "x86 lift at %#llx: unsupported instruction %s (%s)",
                 (unsigned long long)insn->pc, insn->mnemonic,
                 insn->unsupported[0] ? insn->unsupported : "no form");
        return -1;
    }
    if (st->terminated) {
        snprintf(err, errlen, "x86 lift at %#llx (%s): instruction after the block's terminator",
                 (unsigned long long)insn->pc, insn->mnemonic);
        return -1;
    }
    l.form = &x86_forms[insn->form];
    l.w = insn->opwidth;
    l.next_rip = add(c, st->rip, num(c, insn->len, 64));
    lifters[l.form->sem](&l);
    if (l.failed)
        return -1;
    if (!st->terminated)
        st->rip = l.next_rip;
    return 0;
}

int x86_lift_block(Z3_context c, struct x86_sym_state *st, const struct x86_insn *insns,
                   size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (x86_lift_insn(c, st, &insns[i], err, errlen) != 0)
            return -1;
    st->written |= X86_LOC_RIP;
    return 0;
}

x86_locset x86_sym_defined_outputs(Z3_context c, const struct x86_sym_state *st)
{
    x86_locset out = (st->written & (X86_LOC_ALL_GPRS | X86_LOC_MEM)) | X86_LOC_RIP;
    for (unsigned f = 0; f < X86_NFLAG; f++) {
        if (!(st->written & X86_LOC_FLAG(f)))
            continue;
        Z3_ast u = Z3_simplify(c, st->flag_undef[f]);
        if (Z3_get_bool_value(c, u) != Z3_L_TRUE)
            out |= X86_LOC_FLAG(f);
    }
    return out;
}
